//! Fault tests on real ensembles (issue 13): clients record a history while nodes are
//! killed, partitioned and paused, and the history checker must accept it.
//!
//! Each node runs in a network namespace of its own (`zk_testkit::cluster`), so a partition
//! is real: packets between the two sides are dropped in both directions while clients
//! still reach every node. The same scenario runs on a 3-node Ferrokeeper ensemble and on a
//! 3-node Apache ZooKeeper 3.8 ensemble (the reference: the proof that the harness, the
//! recorder and the checker accept a correct ensemble under these faults).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use zk_testkit::cluster::{Cluster, ClusterSpec, NodeKind};
use zk_testkit::recorder::{assert_history_accepted, final_states};

fn ferrokeeper() -> NodeKind {
    NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")))
}

/// Kill -9 the leader and restart it; partition the leader from the rest and heal, then a
/// follower; SIGSTOP
/// a follower for 4 s, then the leader for longer than the session timeout; all under
/// continuous reads and writes from 6 clients; then restart the member holding the newest
/// snapshot.
async fn scenario(kind: NodeKind, size: usize, what: &str) {
    // One scenario at a time: each keeps two cores busy, and its timings (pauses against
    // tickTime and the session timeout) assume it has them.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(network) = tokio::task::spawn_blocking(|| {
        common::namespaces("ensemble_faults (namespaces)", "Partition tests")
    })
    .await
    .expect("probe") else {
        return;
    };
    let mut cluster = tokio::task::spawn_blocking(move || {
        Cluster::start(ClusterSpec::uniform(size, kind, network)).expect("cluster")
    })
    .await
    .expect("start");
    let all: Vec<usize> = (0..cluster.len()).collect();
    let wait = |c: &Cluster, why: &str| {
        tokio::task::block_in_place(|| c.wait_serving(&all, Duration::from_secs(60)))
            .unwrap_or_else(|e| panic!("{what}: {why}: {e}"))
    };
    let leader = wait(&cluster, "a leader at start");
    println!("{what}: leader: node {}", leader + 1);

    let (cfg, recording) = common::record_in_background(cluster.client_addrs(), 6, 6, 45);
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));

    // (a) kill -9 the leader, restart it.
    pause(2000).await;
    cluster.kill(leader);
    pause(3000).await;
    cluster.start_node(leader).expect("restart");
    let leader = wait(&cluster, "a leader after the kill");
    println!("{what}: leader after the kill: node {}", leader + 1);
    // (b) partition the leader from the rest, then heal.
    let alone = |i: usize| [vec![i], all.iter().copied().filter(|&j| j != i).collect()];
    cluster.partition(&alone(leader)).expect("partition");
    pause(5000).await;
    let cut_off = cluster.mode(leader);
    println!("{what}: the partitioned leader says: {cut_off:?}");
    assert_ne!(
        cut_off.as_deref(),
        Some("leader"),
        "{what}: a leader cut off from its quorum still leads"
    );
    cluster.heal().expect("heal");
    let leader = wait(&cluster, "a leader after the partition");
    println!("{what}: leader after the partition: node {}", leader + 1);
    // (b') partition a follower from the rest, then heal: it stops serving, the rest go on.
    let cut = (leader + 2) % cluster.len();
    cluster.partition(&alone(cut)).expect("partition");
    pause(4000).await;
    let cut_off = cluster.mode(cut);
    assert!(
        !matches!(cut_off.as_deref(), Some("leader" | "follower")),
        "{what}: a follower cut off from the quorum still serves as {cut_off:?}"
    );
    cluster.heal().expect("heal");
    let leader = wait(&cluster, "a leader after the follower's partition");
    // (c) SIGSTOP a follower for 4 s: its clients' requests time out (2 s) and they move
    // their sessions to the other nodes; it rejoins when resumed.
    let follower = (leader + 1) % cluster.len();
    cluster.pause(follower);
    pause(4000).await;
    cluster.resume(follower);
    let leader = wait(&cluster, "a leader after the follower's pause");
    // (c') SIGSTOP the leader for longer than the session timeout (10 s): the others elect
    // a new leader and keep the sessions that moved to them alive; the old leader, resumed,
    // must not lead on its own and rejoins as a follower.
    cluster.pause(leader);
    pause(u64::try_from(cfg.session_timeout_ms).unwrap_or(10_000) + 1500).await;
    cluster.resume(leader);
    let after = wait(&cluster, "a leader after the leader's long pause");
    println!(
        "{what}: leader after node {}'s long pause: node {}",
        leader + 1,
        after + 1
    );

    let ops = recording.await.expect("recorder");
    wait(&cluster, "a serving ensemble at the end");
    let (history, report, unknown) = assert_history_accepted(&cfg, ops, what).await;
    assert!(
        report.acked_writes > 100,
        "{what}: too few writes: {report}"
    );
    assert!(
        unknown > 0,
        "{what}: no request was cut by a fault: the faults proved nothing"
    );
    assert_eq!(history.finals.len(), size);

    // (d) kill -9 the member holding the newest snapshot (on Ferrokeeper, the one that took
    // a SNAP: members write snapshots only then) and restart it: it starts from that
    // snapshot and the log after it, rejoins, and serves the same data as the others.
    let newest = |i: usize| -> Option<i64> {
        let dir = cluster.dir(i).join("data").join("version-2");
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()
            })
            .max()
    };
    let (holder, zxid) = all
        .iter()
        .filter_map(|&i| newest(i).map(|z| (i, z)))
        .max_by_key(|&(_, z)| z)
        .unwrap_or_else(|| panic!("{what}: no member wrote a snapshot (no SNAP was taken)"));
    println!(
        "{what}: node {} holds snapshot 0x{zxid:x}: restarting it",
        holder + 1
    );
    cluster.kill(holder);
    cluster.start_node(holder).expect("restart");
    wait(
        &cluster,
        "a serving ensemble after the snapshot holder's restart",
    );
    let (again, failed) = final_states(&cfg).await;
    assert!(
        failed.is_empty(),
        "{what}: unreadable after restart: {failed:?}"
    );
    assert_eq!(again.len(), size);
    for state in &again {
        assert_eq!(
            state.data, history.finals[0].data,
            "{what}: {} differs after the restart",
            state.node
        );
    }
}

/// A leader killed or cut off under load keeps proposals the others never logged; when it
/// rejoins, the new leader syncs it by SNAP (a TRUNC cannot cross epochs, as in Java): its
/// node serializes its tree, the rejoining member loads it and makes it durable as a
/// snapshot file before emptying its log. Without SNAP transfer it never rejoined (the
/// final state of every node is read at the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrokeeper_ensemble_history_under_kills_partitions_and_pauses_is_accepted() {
    scenario(ferrokeeper(), 3, "Ferrokeeper ensemble").await;
}

/// The same faults on five members: the partitioned leader is one against four, and the
/// quorum is three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_ferrokeeper_members_history_under_kills_partitions_and_pauses_is_accepted() {
    scenario(ferrokeeper(), 5, "Ferrokeeper ensemble of five").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_ensemble_history_under_kills_partitions_and_pauses_is_accepted() {
    if !common::java_ensemble_available("ensemble_faults", "Fault tests on a Java ensemble") {
        return;
    }
    scenario(NodeKind::Java, 3, "Java ensemble").await;
}
