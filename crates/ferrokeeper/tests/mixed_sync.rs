//! How a learner of one kind is synced by a leader of the other (issue 14): each of
//! Java's three ways, forced deliberately, in both directions (a Ferrokeeper learner of a
//! Java leader, a Java learner of a Ferrokeeper leader):
//!
//! * TRUNC: the leader (sid 3, the learner kind) logs proposals while it is cut off from
//!   both followers (network namespaces), so they never commit; it is killed, the followers elect sid 2 (the
//!   leader kind), and sid 3 restarts with that uncommitted tail, above everything the new
//!   leader committed: the new leader must truncate it;
//! * DIFF: sid 3 is stopped, the others take writes, and it restarts a little behind;
//! * SNAP: sid 3 restarts with an empty dataDir (its `myid` only).
//!
//! Each way is read from the learner's log, in Java's words (`Truncating log to get in
//! sync with the leader`, `Getting a diff from the leader`, `Getting a snapshot from
//! leader`), which Ferrokeeper logs too. After each, every member serves the same data,
//! none of the uncommitted writes is anywhere, and no member counts a digest mismatch.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use zk_testkit::cluster::{Cluster, ClusterSpec, NodeKind};
use zookeeper_client::{Acls, Client, CreateMode};

/// The member whose syncs are watched (sid 3), the new leader (sid 2), the third (sid 1).
const LEARNER: usize = 2;
const LEADER: usize = 1;
const OTHER: usize = 0;

fn ferrokeeper() -> NodeKind {
    NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")))
}

/// Everything node `i` has logged so far (Java's log4j file, Ferrokeeper's output).
fn log_of(cluster: &Cluster, i: usize) -> String {
    let name = match cluster.kind(i) {
        NodeKind::Java => "server.log",
        NodeKind::Ferrokeeper(_) => "stdout",
    };
    std::fs::read_to_string(cluster.dir(i).join(name)).unwrap_or_default()
}

async fn connect(addr: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// The children of `/sync` as member `i` serves them after a `sync`.
async fn children(cluster: &Cluster, i: usize) -> Vec<String> {
    let c = connect(&cluster.client_addr(i)).await;
    c.sync("/sync").await.expect("sync");
    let mut names = c.list_children("/sync").await.expect("list /sync");
    names.sort();
    names
}

/// Waits (bounded) until a leader serves and every member of `among` serves.
fn serving(cluster: &Cluster, among: &[usize], what: &str) -> usize {
    tokio::task::block_in_place(|| cluster.wait_serving(among, Duration::from_secs(90)))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Restarts the learner and checks that its log gained `line` (the sync way) and that
/// every member then serves the same children of `/sync`.
async fn rejoin_by(cluster: &mut Cluster, line: &str, what: &str) -> Vec<String> {
    let before = log_of(cluster, LEARNER).matches(line).count();
    cluster.start_node(LEARNER).expect("restart the learner");
    let leader = serving(cluster, &[OTHER, LEADER, LEARNER], what);
    assert_eq!(leader, LEADER, "{what}: the leader changed");
    let log = log_of(cluster, LEARNER);
    assert!(
        log.matches(line).count() > before,
        "{what}: the learner's log does not say {line:?}; its tail:\n{}",
        log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    let mut seen = Vec::new();
    for i in [OTHER, LEADER, LEARNER] {
        seen.push(children(cluster, i).await);
    }
    assert!(
        seen.iter().all(|s| s == &seen[0]),
        "{what}: the members disagree: {seen:?}"
    );
    seen.swap_remove(0)
}

async fn create_all(client: &Client, names: impl IntoIterator<Item = String>) {
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for name in names {
        client
            .create(&format!("/sync/{name}"), b"v", &open)
            .await
            .unwrap_or_else(|e| panic!("create /sync/{name}: {e}"));
    }
}

async fn sync_ways(learner: NodeKind, leader: NodeKind, what: &str) {
    if !common::java_ensemble_available("mixed_sync", what) {
        return;
    }
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(network) = tokio::task::spawn_blocking(|| {
        common::namespaces(
            "mixed_sync (namespaces)",
            "Sync ways across kinds (the TRUNC needs a partition)",
        )
    })
    .await
    .expect("probe") else {
        return;
    };
    let mut spec = ClusterSpec::uniform(3, NodeKind::Java, network);
    spec.kinds = vec![NodeKind::Java, leader, learner];
    // No DIFF from the txn log (Java reads zoo.cfg's unknown keys as `zookeeper.*`
    // properties): a Java leader would otherwise DIFF an empty learner its whole log, which
    // holds this short history from the first zxid on. DIFFs from the last 500 committed
    // proposals in memory stay.
    spec.extra.push_str("snapshotSizeFactor=-1\n");
    let mut cluster = tokio::task::spawn_blocking(move || Cluster::start(spec).expect("cluster"))
        .await
        .expect("start");
    // Sid 3, the learner-to-be, must lead first: with equal histories the highest sid
    // wins, unless two members formed a quorum before it started (a JVM starts slower);
    // then the leader steps aside once, and sid 3 wins among the other two.
    let mut first = serving(&cluster, &[OTHER, LEADER, LEARNER], what);
    if first != LEARNER {
        cluster.stop(first);
        let rest: Vec<usize> = [OTHER, LEADER, LEARNER]
            .into_iter()
            .filter(|&i| i != first)
            .collect();
        serving(&cluster, &rest, what);
        cluster.start_node(first).expect("restart");
        first = serving(&cluster, &[OTHER, LEADER, LEARNER], what);
    }
    assert_eq!(first, LEARNER, "{what}: sid 3 should lead first");
    let all = cluster.client_addrs().join(",");
    let client = connect(&all).await;
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.create("/sync", b"", &open).await.expect("/sync");
    create_all(&client, (0..10).map(|k| format!("committed-{k}"))).await;
    client.sync("/sync").await.expect("sync");

    // TRUNC. The leader is cut off from the followers (a partition: a stopped process
    // would still receive the proposals into its socket buffers and log them when
    // resumed) and takes writes it can only log. (Its client's session first:
    // createSession is a txn too.)
    let alone = connect(&cluster.client_addr(LEARNER)).await;
    cluster
        .partition(&[vec![LEARNER], vec![OTHER, LEADER]])
        .expect("partition");
    let mut pending = Vec::new();
    for k in 0..5 {
        let c = alone.clone();
        pending.push(tokio::spawn(async move {
            let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
            c.create(&format!("/sync/uncommitted-{k}"), b"x", &open)
                .await
                .map(|_| ())
        }));
    }
    // The writes are in the leader's pipeline once counted as outstanding; it logs them at
    // once, and stops serving when syncLimit passes without its followers.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut arrived = false;
    loop {
        let mntr = cluster.four_letter(LEARNER, "mntr");
        let outstanding = mntr
            .lines()
            .find_map(|l| l.strip_prefix("zk_outstanding_requests\t"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        arrived |= outstanding.is_some_and(|n| n >= 5);
        if arrived && cluster.mode(LEARNER).is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: the cut-off leader never had the writes or never stepped down:\n{mntr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.kill(LEARNER);
    for p in pending {
        p.abort();
    }
    drop(alone);
    cluster.heal().expect("heal");
    let leader = serving(&cluster, &[OTHER, LEADER], what);
    assert_eq!(leader, LEADER, "{what}: sid 2 should lead the two");
    // No write before it rejoins: the learner's tail is then above everything the new
    // leader committed, in the old epoch, which both servers answer with a TRUNC (with
    // committed txns of the new epoch above it, both would send a SNAP instead: a TRUNC
    // cannot cross epochs).
    let names = rejoin_by(
        &mut cluster,
        "Truncating log to get in sync with the leader",
        &format!("{what}: TRUNC"),
    )
    .await;
    assert!(
        !names.iter().any(|n| n.starts_with("uncommitted")),
        "{what}: an uncommitted write survived: {names:?}"
    );
    assert_eq!(names.len(), 10, "{what}: {names:?}");
    create_all(&client, (0..5).map(|k| format!("epoch2-{k}"))).await;

    // DIFF: a little behind.
    cluster.stop(LEARNER);
    create_all(&client, (0..5).map(|k| format!("behind-{k}"))).await;
    let names = rejoin_by(
        &mut cluster,
        "Getting a diff from the leader",
        &format!("{what}: DIFF"),
    )
    .await;
    assert_eq!(names.len(), 20, "{what}: {names:?}");

    // SNAP: an empty dataDir.
    cluster.stop(LEARNER);
    let dir = cluster.dir(LEARNER).to_path_buf();
    std::fs::rename(dir.join("data"), dir.join("data-before-snap")).expect("move data aside");
    let kind = cluster.kind(LEARNER).clone();
    cluster
        .set_kind(LEARNER, kind)
        .expect("an empty dataDir with myid");
    create_all(&client, (0..5).map(|k| format!("empty-{k}"))).await;
    let names = rejoin_by(
        &mut cluster,
        "Getting a snapshot from leader",
        &format!("{what}: SNAP"),
    )
    .await;
    assert_eq!(names.len(), 25, "{what}: {names:?}");
    common::assert_no_digest_mismatches(&cluster, &[OTHER, LEADER, LEARNER], what);
    // Cut off and restarted under load: only lines that can only mean a broken protocol.
    common::assert_java_logs_clean(
        &cluster,
        &[OTHER, LEADER, LEARNER],
        common::Disruptions::Heavy,
        what,
    );
}

/// A Ferrokeeper learner of a Java leader: TRUNC, DIFF and SNAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrokeeper_learner_is_synced_by_a_java_leader_by_trunc_diff_and_snap() {
    sync_ways(
        ferrokeeper(),
        NodeKind::Java,
        "Ferrokeeper learner, Java leader",
    )
    .await;
}

/// A Java learner of a Ferrokeeper leader: TRUNC, DIFF and SNAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_learner_is_synced_by_a_ferrokeeper_leader_by_trunc_diff_and_snap() {
    sync_ways(
        NodeKind::Java,
        ferrokeeper(),
        "Java learner, Ferrokeeper leader",
    )
    .await;
}
