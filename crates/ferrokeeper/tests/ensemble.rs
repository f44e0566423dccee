//! Ensembles of real `ferrokeeper` processes (issue 13): three members elect a leader,
//! serve clients on every node with the history checker's guarantees, and survive a
//! follower's and a quiet leader's restart (syncing by DIFF) and a member's restart with an
//! emptied data directory. A single participant runs
//! standalone, as Apache ZooKeeper runs it. The fault scenarios under load are in
//! `ensemble_faults.rs`. With `readonlymode.enabled` a member left alone serves read-only
//! clients until the others return.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use zk_testkit::cluster::{Cluster, ClusterSpec, Network, NodeKind};
use zk_testkit::recorder::{assert_history_accepted, record, RecordConfig};

/// An ensemble whose peer connections the file secures with TLS (`sslQuorum`) but whose
/// `ssl.quorum.*` stores are missing is refused at start with a clear error, before
/// anything listens or is written: a member never runs the peer protocol in the clear when
/// its file asks for TLS. (Quorum TLS itself: `quorum_tls.rs`; quorum SASL:
/// `quorum_sasl.rs`. Ensembles themselves need no opt-in any more: every other test here
/// runs them without one.)
#[test]
fn an_ensemble_it_cannot_secure_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = common::write_config(
        dir.path(),
        port,
        "initLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n\
         server.3=127.0.0.3:2888:3888\nsslQuorum=true\n",
    );
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/myid"), "1\n").unwrap();
    // It exits by itself: nothing to wait for but the process.
    let out = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started an ensemble member: {stderr}"
    );
    assert!(
        stderr.contains("sslQuorum=true needs the ssl.quorum.* key and trust stores")
            && stderr.contains("ssl.quorum.keyStore.location is not set"),
        "{stderr}"
    );
    // Nothing was listening, nothing was written.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!dir.path().join("data/version-2").exists());
}

/// One participant with the default standaloneEnabled=true: QuorumPeerMain runs it
/// standalone, on the client address of its own line (here an IPv6 literal).
#[tokio::test]
async fn a_single_server_line_runs_standalone_on_its_client_address() {
    let (host, connect_host) = if std::net::TcpListener::bind("[::1]:0").is_ok() {
        ("[::1]", "[::1]")
    } else {
        eprintln!("no ::1 on this host: the server line's client address is 127.0.0.1");
        ("127.0.0.1", "127.0.0.1")
    };
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("myid"), "1\n").unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nserver.1=127.0.0.1:2888:3888;{host}:{port}\n",
            data.display()
        ),
    )
    .unwrap();
    let child = common::start(&cfg);
    let client = common::connect(&format!("{connect_host}:{port}")).await;
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client.create("/standalone", b"1", &open).await.unwrap();
    drop(client);
    common::stop(child);
}

/// Starts `spec`'s nodes (off the runtime's threads: it blocks).
async fn start(spec: ClusterSpec) -> Cluster {
    tokio::task::spawn_blocking(move || Cluster::start(spec).expect("cluster"))
        .await
        .expect("start")
}

/// Waits (60 s at most) until a leader serves and every node of `among` serves; the leader.
fn serving(cluster: &Cluster, among: &[usize]) -> usize {
    tokio::task::block_in_place(|| cluster.wait_serving(among, Duration::from_secs(60)))
        .expect("a serving ensemble")
}

/// `/zookeeper/config` as a member of `cluster` serves it: what Java's
/// `initConfigInZKDatabase` writes (the `server.N` lines of zoo.cfg as `QuorumServer`
/// prints them, then `version=0`; version -1, mzxid the config version 0, read-only ACL).
async fn check_config_node(cluster: &Cluster, i: usize, what: &str) {
    let cfg = std::fs::read_to_string(cluster.dir(i).join("zoo.cfg")).expect("zoo.cfg");
    let mut want = String::new();
    for line in cfg.lines().filter(|l| l.starts_with("server.")) {
        if line.ends_with(":observer") {
            want.push_str(&format!("{line}\n"));
        } else {
            want.push_str(&format!("{line}:participant\n"));
        }
    }
    want.push_str("version=0");
    let mut raw = zk_testkit::wire::Raw::connect(&cluster.client_addr(i)).await;
    raw.handshake(&zk_testkit::wire::ConnectReq::default())
        .await
        .expect("a session");
    let body = zk_testkit::wire::J::new()
        .str("/zookeeper/config")
        .bool(false)
        .bytes();
    let reply = raw.call(1, zk_testkit::wire::op::GET_DATA, &body).await;
    assert_eq!(reply.err, 0, "{what}: getData /zookeeper/config");
    let mut r = reply.r();
    let data = String::from_utf8(r.buf().unwrap_or_default()).expect("utf-8");
    let stat = r.stat();
    assert_eq!(data, want, "{what}: /zookeeper/config");
    assert_eq!(
        (
            stat.czxid,
            stat.mzxid,
            stat.ctime,
            stat.version,
            stat.aversion
        ),
        (0, 0, 0, -1, -1),
        "{what}: {stat:?}"
    );
    assert_eq!(stat.data_length as usize, want.len(), "{what}");
    assert!(stat.mtime > 0, "{what}: mtime is the start time: {stat:?}");
}

/// A Java 3.8 ensemble's `/zookeeper/config`: the reference `check_config_node` holds
/// Ferrokeeper's members to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_ensemble_config_node_is_what_members_serve() {
    if !common::java_ensemble_available("ensemble", "/zookeeper/config of a Java ensemble") {
        return;
    }
    let cluster = start(ClusterSpec::uniform(3, NodeKind::Java, Network::Loopback)).await;
    serving(&cluster, &[0, 1, 2]);
    for i in 0..3 {
        check_config_node(&cluster, i, &format!("Java member {}", i + 1)).await;
    }
}

/// Records `secs` of reads and writes (`base`'s clients, keys and clock, so that the runs
/// make one history; `seed` keeps their values apart).
async fn traffic(
    base: &RecordConfig,
    secs: u64,
    seed: u64,
) -> (RecordConfig, Vec<zk_testkit::history::Op>) {
    let mut cfg = base.clone();
    cfg.seed = seed;
    cfg.duration = Duration::from_secs(secs);
    let ops = record(&cfg).await;
    (cfg, ops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_serve_and_survive_quiet_restarts() {
    let kind = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    let mut cluster = start(ClusterSpec::uniform(3, kind, Network::Loopback)).await;
    let all = [0, 1, 2];
    let wait = |c: &Cluster| serving(c, &all);
    let leader = wait(&cluster);
    let modes: Vec<_> = all.iter().map(|&i| cluster.mode(i)).collect();
    assert_eq!(
        modes
            .iter()
            .filter(|m| m.as_deref() == Some("follower"))
            .count(),
        2,
        "{modes:?}"
    );
    // Every member hands out session ids with its myid in the top byte (Java's
    // SessionTrackerImpl): members started in the same millisecond once handed out the same
    // ids, which two clients then shared.
    for (i, addr) in cluster.client_addrs().iter().enumerate() {
        let mut raw = zk_testkit::wire::Raw::connect(addr).await;
        let resp = raw
            .handshake(&zk_testkit::wire::ConnectReq::default())
            .await
            .expect("a session");
        assert_eq!(
            resp.session_id >> 56,
            i as i64 + 1,
            "member {} handed out 0x{:x}",
            i + 1,
            resp.session_id
        );
    }
    for i in all {
        check_config_node(&cluster, i, &format!("member {}", i + 1)).await;
    }
    let mut base = RecordConfig::new(cluster.client_addrs());
    base.clients = 4;
    base.keys = 5;
    let (_, mut ops) = traffic(&base, 3, 1).await;
    // mntr as a Java ensemble's (crates/zk-server/tests/fixtures/ensemble-3.8.0): the
    // detailed peer state on every member, the learners on the leader only.
    let mntr = |i: usize| -> std::collections::BTreeMap<String, String> {
        cluster
            .four_letter(i, "mntr")
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let lead = mntr(leader);
    let follow = mntr((leader + 1) % 3);
    for (key, want) in [
        ("zk_server_state", "leader"),
        ("zk_peer_state", "leading - broadcast"),
        ("zk_quorum_size", "3"),
        ("zk_learners", "2"),
        ("zk_synced_followers", "2"),
        ("zk_synced_observers", "0"),
    ] {
        assert_eq!(
            lead.get(key).map(String::as_str),
            Some(want),
            "leader {key}: {lead:?}"
        );
    }
    assert_eq!(
        follow.get("zk_peer_state").map(String::as_str),
        Some("following - broadcast")
    );
    assert_eq!(follow.get("zk_quorum_size").map(String::as_str), Some("3"));
    let java_follower =
        include_str!("../../zk-server/tests/fixtures/ensemble-3.8.0/mntr-follower.txt");
    let java_leader = include_str!("../../zk-server/tests/fixtures/ensemble-3.8.0/mntr-leader.txt");
    for key in [
        "zk_learners",
        "zk_synced_followers",
        "zk_pending_syncs",
        "zk_leader_uptime",
    ] {
        assert!(!follow.contains_key(key), "a follower prints {key}");
        assert!(
            !java_follower.contains(key) && java_leader.contains(key),
            "fixture: {key}"
        );
        assert!(lead.contains_key(key), "the leader lacks {key}");
    }

    // A follower restarts and syncs (its log is a prefix of the leader's: DIFF).
    let follower = (leader + 1) % 3;
    cluster.kill(follower);
    let (_, more) = traffic(&base, 2, 2).await;
    ops.extend(more);
    cluster.start_node(follower).expect("restart");
    wait(&cluster);

    // The leader, quiet, is killed: the others elect a new one holding everything.
    cluster.kill(leader);
    let others: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let new_leader = serving(&cluster, &others);
    assert_ne!(new_leader, leader);
    let (_, more) = traffic(&base, 2, 3).await;
    ops.extend(more);
    cluster.start_node(leader).expect("restart");
    wait(&cluster);

    // A member whose data directory was lost (an empty log: only myid is left) restarts
    // and is brought up to date (by a DIFF from zxid 0 here: the leader's log still starts
    // at 0; the final states prove it converged).
    let empty = (new_leader + 1) % 3;
    cluster.kill(empty);
    let data = cluster.dir(empty).join("data");
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        if entry.file_name() != "myid" {
            let p = entry.path();
            let gone = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            gone.expect("wipe");
        }
    }
    let (_, more) = traffic(&base, 1, 5).await;
    ops.extend(more);
    cluster.start_node(empty).expect("restart");
    wait(&cluster);
    let (cfg, more) = traffic(&base, 2, 4).await;
    ops.extend(more);
    // Rebuilt from its own snapshot and log, the restarted member holds the membership.
    check_config_node(&cluster, leader, "the restarted ex-leader").await;

    let (history, report, _) =
        assert_history_accepted(&cfg, ops, "three members, quiet restarts").await;
    assert!(report.acked_writes > 100, "too few writes: {report}");
    assert_eq!(history.finals.len(), 3, "every member answers at the end");
}

/// `snapshot.<zxid>` files under node `i`'s data directory (their zxids, sorted).
fn snapshot_files(cluster: &Cluster, i: usize) -> Vec<i64> {
    let dir = cluster.dir(i).join("data").join("version-2");
    let mut zxids: Vec<i64> = std::fs::read_dir(&dir)
        .map(|it| {
            it.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let hex = name.strip_prefix("snapshot.")?;
                    i64::from_str_radix(hex, 16).ok()
                })
                .collect()
        })
        .unwrap_or_default();
    zxids.sort_unstable();
    zxids
}

/// Members with `snapCount=100` take snapshots while serving (every member writes
/// `snapshot.<zxid>` files of its own), and restarted from their newest snapshot plus the
/// log after it (a follower, then the leader) they rejoin and the history stays linearizable
/// with every member answering at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_with_a_small_snap_count_snapshot_and_restart_from_them() {
    let kind = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    let mut spec = ClusterSpec::uniform(3, kind, Network::Loopback);
    spec.extra = "snapCount=100\n".into();
    let mut cluster = start(spec).await;
    let all = [0, 1, 2];
    let wait = |c: &Cluster| serving(c, &all);
    let leader = wait(&cluster);
    let mut base = RecordConfig::new(cluster.client_addrs());
    base.clients = 4;
    base.keys = 5;
    let (_, mut ops) = traffic(&base, 3, 1).await;
    let writes = ops.len();
    for i in all {
        let snaps = snapshot_files(&cluster, i);
        assert!(
            !snaps.is_empty(),
            "member {} wrote no snapshot after {writes} ops",
            i + 1
        );
    }
    for (n, who) in [((leader + 1) % 3, "follower"), (leader, "leader")] {
        cluster.kill(n);
        let (_, more) = traffic(&base, 2, 2 + n as u64).await;
        ops.extend(more);
        cluster.start_node(n).expect("restart");
        wait(&cluster);
        assert!(
            !snapshot_files(&cluster, n).is_empty(),
            "the restarted {who} has its snapshots"
        );
        // It started from its newest snapshot (and the log after it), not from zxid 0.
        let log = std::fs::read_to_string(cluster.dir(n).join("stdout")).unwrap_or_default();
        assert!(
            log.lines()
                .any(|l| l.contains("ensemble member") && !l.contains("snapshot 0x0,")),
            "the restarted {who} did not start from a snapshot"
        );
    }
    let (cfg, more) = traffic(&base, 2, 9).await;
    ops.extend(more);
    let (history, report, _) =
        assert_history_accepted(&cfg, ops, "three members, snapCount=100").await;
    assert!(report.acked_writes > 100, "too few writes: {report}");
    assert_eq!(history.finals.len(), 3, "every member answers at the end");
}

/// Three voters and an observer (`:observer`, `peerType=observer`): the observer syncs,
/// serves reads and forwards writes (history checked across all four), the leader counts it
/// as a synced observer, never as a voter, and it never leads: with the leader killed a
/// voter takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_serves_and_never_votes() {
    let kind = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    let mut spec = ClusterSpec::uniform(4, kind, Network::Loopback);
    spec.observers = 1;
    let mut cluster = start(spec).await;
    let all = [0, 1, 2, 3];
    let wait = serving;
    let leader = wait(&cluster, &all);
    assert_ne!(leader, 3, "the observer leads");
    assert_eq!(cluster.mode(3).as_deref(), Some("observer"));
    let mntr = cluster.four_letter(leader, "mntr");
    for line in [
        "zk_synced_followers\t2",
        "zk_synced_observers\t1",
        "zk_quorum_size\t3",
    ] {
        assert!(mntr.contains(line), "leader mntr lacks {line:?}:\n{mntr}");
    }
    let obs = cluster.four_letter(3, "mntr");
    assert!(
        obs.contains("zk_peer_state\tobserving - broadcast"),
        "observer mntr:\n{obs}"
    );
    check_config_node(&cluster, 3, "the observer").await;

    let mut base = RecordConfig::new(cluster.client_addrs());
    base.clients = 4;
    base.keys = 5;
    let (_, mut ops) = traffic(&base, 2, 1).await;

    cluster.kill(leader);
    let others: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let new_leader = wait(&cluster, &others);
    assert_ne!(new_leader, 3, "the observer leads");
    let (cfg, more) = traffic(&base, 2, 2).await;
    ops.extend(more);
    cluster.start_node(leader).expect("restart");
    wait(&cluster, &all);
    let (history, report, _) =
        assert_history_accepted(&cfg, ops, "three voters and an observer").await;
    assert!(report.acked_writes > 50, "too few writes: {report}");
    assert_eq!(history.finals.len(), 4);
}

/// Mixed ensembles (issue 14), first steps: a Ferrokeeper member beside Java 3.8 members,
/// as an observer of a Java ensemble and as a voter, serving clients with the history
/// checker's guarantees across all members.
async fn mixed(kinds: Vec<NodeKind>, observers: usize, what: &str) {
    let n = kinds.len();
    let mut spec = ClusterSpec::uniform(n, NodeKind::Java, Network::Loopback);
    spec.kinds = kinds;
    spec.observers = observers;
    let cluster = start(spec).await;
    let all: Vec<usize> = (0..n).collect();
    serving(&cluster, &all);
    let modes: Vec<_> = all.iter().map(|&i| cluster.mode(i)).collect();
    println!("{what}: {modes:?}");
    let mut cfg = RecordConfig::new(cluster.client_addrs());
    cfg.clients = 4;
    cfg.keys = 5;
    let (cfg, ops) = traffic(&cfg, 3, 1).await;
    let (history, report, _) = assert_history_accepted(&cfg, ops, what).await;
    assert!(report.acked_writes > 50, "{what}: too few writes: {report}");
    assert_eq!(history.finals.len(), n);
    // Java compares the digest every txn carries with its own tree's after applying it:
    // a txn a Ferrokeeper leader proposed (or a tree a Ferrokeeper member built) that
    // disagreed would be counted here.
    common::assert_no_digest_mismatches(&cluster, &all, what);
    common::assert_java_logs_clean(&cluster, &all, common::Disruptions::None, what);
}

/// `mixed` with the Ferrokeeper member placed by `place`, when Java is here.
async fn mixed_with(place: fn(NodeKind) -> Vec<NodeKind>, observers: usize, what: &str) {
    if !common::java_ensemble_available("ensemble", what) {
        return;
    }
    let fk = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    mixed(place(fk), observers, what).await;
}

/// A Ferrokeeper voter leads two Java followers (equal logs: the highest sid leads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrokeeper_leader_of_two_java_followers() {
    let place = |fk| vec![NodeKind::Java, NodeKind::Java, fk];
    mixed_with(place, 0, "two Java followers, a Ferrokeeper leader").await;
}

/// A Ferrokeeper observer of three Java voters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrokeeper_observer_of_a_java_ensemble() {
    let place = |fk| vec![NodeKind::Java, NodeKind::Java, NodeKind::Java, fk];
    mixed_with(place, 1, "Java voters, a Ferrokeeper observer").await;
}

/// A Java observer of three Ferrokeeper voters: it syncs from the Ferrokeeper leader and
/// serves its clients the same history (Java's digests agree, its log is clean).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_observer_of_a_ferrokeeper_ensemble() {
    let place = |fk: NodeKind| vec![fk.clone(), fk.clone(), fk, NodeKind::Java];
    mixed_with(place, 1, "Ferrokeeper voters, a Java observer").await;
}

/// A Ferrokeeper voter follows a Java leader (sid 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrokeeper_follower_of_a_java_leader() {
    let place = |fk| vec![fk, NodeKind::Java, NodeKind::Java];
    mixed_with(place, 0, "a Ferrokeeper follower, Java leader").await;
}

/// Read-only mode on real processes (`-Dreadonlymode.enabled=true`, local sessions, as
/// kazoo's TestReadOnlyMode runs Java): a member whose two peers are gone serves `readOnly`
/// clients after the grace period (`isro` says `ro`, `srvr` and `mntr` say read-only) from
/// the data it holds, answers create, sync and setData with NOTREADONLY, serves reads and
/// pings, closes a read-only session on closeSession, and refuses a client that did not ask
/// for read-only and the renewal of a global session; once the others are back it rejoins,
/// closes the read-only connections, serves read-write sessions again and answers a
/// reconnect to the read-only session as expired (the session was local to the read-only
/// server). The same scenario passes on Java 3.8 members (the next test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_left_alone_serves_read_only_clients_until_the_others_return() {
    let kind = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    read_only_scenario(kind).await;
}

/// The same scenario on Java 3.8 members: the reference the Ferrokeeper run is held to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_members_left_alone_serve_read_only_clients_the_same_way() {
    if !common::java_ensemble_available("ensemble", "read-only mode of a Java ensemble") {
        return;
    }
    read_only_scenario(NodeKind::Java).await;
}

/// Kills every member but `x` and waits (30 s at most) until `x` serves read-only.
fn leave_alone(cluster: &mut Cluster, x: usize) {
    for i in (0..cluster.len()).filter(|&i| i != x) {
        cluster.kill(i);
    }
    let last = tokio::task::block_in_place(|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while std::time::Instant::now() < deadline {
            last = cluster.four_letter(x, "isro");
            if last == "ro" {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        last
    });
    if last != "ro" {
        let log = std::fs::read_to_string(cluster.dir(x).join("stdout")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        panic!(
            "member {} never served read-only (isro: {last:?}); its log ends:\n{}",
            x + 1,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// Without `localSessionsEnabled` a read-only member refuses new sessions as Java 3.8's
/// does: a bare NOTREADONLY header (xid 0, the last zxid) where the ConnectResponse
/// belongs, which no client reads (checked by hand against Java, which then leaves the
/// connection to the client; Ferrokeeper closes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_local_sessions_a_read_only_member_refuses_new_sessions() {
    use zk_testkit::wire::{Raw, J};
    let kind = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    let mut spec = ClusterSpec::uniform(3, kind, Network::Loopback);
    spec.properties.push("readonlymode.enabled=true".into());
    let mut cluster = start(spec).await;
    let leader = serving(&cluster, &[0, 1, 2]);
    let x = (leader + 1) % 3;
    leave_alone(&mut cluster, x);
    let mut ro = Raw::connect(&cluster.client_addr(x)).await;
    let connect = J::connect_request(30_000, true);
    ro.send_frame(&connect.bytes()).await;
    let frame = ro.frame().await.expect("an answer");
    assert_eq!(frame.len(), 16, "{frame:?}");
    assert_eq!(&frame[..4], &[0; 4], "xid 0");
    assert_eq!(&frame[12..], &(-119i32).to_be_bytes(), "NOTREADONLY");
    ro.expect_closed().await;
}

async fn read_only_scenario(kind: NodeKind) {
    use zk_testkit::wire::{ConnectReq, Raw, J};
    let open: &[(i32, &str, &str)] = &[(31, "world", "anyone")];
    let mut spec = ClusterSpec::uniform(3, kind, Network::Loopback);
    spec.extra
        .push_str("localSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true\n");
    spec.properties.push("readonlymode.enabled=true".into());
    let mut cluster = start(spec).await;
    let all = [0, 1, 2];
    let leader = serving(&cluster, &all);
    let x = (leader + 1) % 3;
    assert_eq!(cluster.four_letter(x, "isro"), "rw");
    // Written through x: answered once x applied it.
    let mut c = Raw::connect(&cluster.client_addr(x)).await;
    c.handshake(&ConnectReq::default())
        .await
        .expect("a session");
    let create = |path: &str| J::new().create(path, b"before", open, 0).bytes();
    assert_eq!(c.call(1, 1, &create("/ro")).await.err, 0);
    // An ephemeral makes the session global (Java upgrades its local session; Ferrokeeper's
    // sessions are global from the start).
    let eph = J::new().create("/eph", b"", open, 1).bytes();
    assert_eq!(c.call(2, 1, &eph).await.err, 0);
    let (global, global_passwd) = (c.session_id, c.passwd.clone());
    drop(c);

    leave_alone(&mut cluster, x);
    let srvr = cluster.four_letter(x, "srvr");
    assert!(
        srvr.contains("\nREAD-ONLY mode; serving only read-only clients\n")
            && srvr.contains("\nMode: read-only\n"),
        "{srvr}"
    );
    // A read-only server is no quorum server: no peer state or quorum size in mntr, no
    // membership in conf.
    let mntr = cluster.four_letter(x, "mntr");
    assert!(mntr.contains("zk_server_state\tread-only\n"), "{mntr}");
    assert!(
        !mntr.contains("zk_peer_state") && !mntr.contains("zk_quorum_size"),
        "{mntr}"
    );
    let conf = cluster.four_letter(x, "conf");
    assert!(
        conf.ends_with("\npeerType=0\n") && !conf.contains("membership"),
        "{conf}"
    );

    let addr = cluster.client_addr(x);
    let mut plain = Raw::connect(&addr).await;
    assert!(
        plain.handshake(&ConnectReq::default()).await.is_none(),
        "a client that did not ask for read-only is refused"
    );
    let mut ro = Raw::connect(&addr).await;
    let resp = ro
        .handshake(&ConnectReq {
            read_only: Some(true),
            ..ConnectReq::default()
        })
        .await
        .expect("a read-only session");
    assert_eq!(resp.read_only, Some(true));
    assert_ne!(resp.session_id, 0);
    let (ro_session, ro_passwd) = (resp.session_id, resp.passwd.clone());
    // The read-only server's session tracker: its local session, then the global ones.
    let dump = cluster.four_letter(x, "dump");
    assert!(
        dump.contains("\nLocal Session Sets (1)/(1):\n")
            && dump.contains(&format!("\t0x{ro_session:x}\n"))
            && dump.contains(&format!("\nGlobal Sessions(1):\n0x{global:x}\t30000ms\n")),
        "{dump}"
    );
    let mntr = cluster.four_letter(x, "mntr");
    assert!(
        mntr.contains("\nzk_local_sessions\t1\n") && mntr.contains("\nzk_global_sessions\t1\n"),
        "{mntr}"
    );
    let got = ro
        .call(1, 4, &J::new().str("/ro").bool(false).bytes())
        .await;
    assert_eq!(got.err, 0);
    assert_eq!(got.r().buf().as_deref(), Some(&b"before"[..]));
    assert_eq!(ro.call(2, 1, &create("/new")).await.err, -119);
    assert_eq!(
        ro.call(3, 4, &J::new().str("/new").bool(false).bytes())
            .await
            .err,
        -101
    );
    // sync and setData are refused too; exists and ping are served.
    assert_eq!(ro.call(4, 9, &J::new().str("/ro").bytes()).await.err, -119);
    let set = J::new().str("/ro").buf(b"after").i32(-1).bytes();
    assert_eq!(ro.call(5, 5, &set).await.err, -119);
    assert_eq!(
        ro.call(6, 3, &J::new().str("/ro").bool(true).bytes())
            .await
            .err,
        0
    );
    assert_eq!(ro.call(-2, 11, &[]).await.err, 0);
    // A global session (the database holds it) is not renewed in read-only mode.
    let mut renew = Raw::connect(&addr).await;
    let answer = renew
        .handshake(&ConnectReq {
            session_id: global,
            passwd: global_passwd,
            read_only: Some(true),
            ..ConnectReq::default()
        })
        .await;
    assert!(answer.is_none(), "a global session renewed: {answer:?}");
    // closeSession of a read-only session: answered, then the connection closes.
    let mut closing = Raw::connect(&addr).await;
    closing
        .handshake(&ConnectReq {
            read_only: Some(true),
            ..ConnectReq::default()
        })
        .await
        .expect("a read-only session");
    assert_eq!(closing.call(1, -11, &[]).await.err, 0);
    closing.expect_closed().await;

    for i in all.into_iter().filter(|&i| i != x) {
        cluster.start_node(i).expect("restart");
    }
    serving(&cluster, &all);
    ro.expect_closed().await;
    assert_eq!(cluster.four_letter(x, "isro"), "rw");
    let mut rw = Raw::connect(&addr).await;
    let resp = rw
        .handshake(&ConnectReq {
            read_only: Some(true),
            ..ConnectReq::default()
        })
        .await
        .expect("a read-write session");
    assert_eq!(resp.read_only, Some(false));
    assert_ne!(resp.session_id, 0);
    assert_eq!(rw.call(1, 1, &create("/new")).await.err, 0);
    // The read-only session was x's alone, gone with its read-only server.
    let mut again = Raw::connect(&addr).await;
    let resp = again
        .handshake(&ConnectReq {
            session_id: ro_session,
            passwd: ro_passwd,
            ..ConnectReq::default()
        })
        .await
        .expect("an answer");
    assert_eq!((resp.session_id, resp.timeout), (0, 0), "expired");
}

/// What the Java-log check keeps and leaves out, on lines of the shape Java 3.8 writes
/// (the benign ones copied from all-Java runs of these tests, the others made up in the
/// same format).
#[test]
fn the_java_log_check_keeps_what_is_about_the_peer_protocol() {
    let log = "\
2026-12-07 19:42:20,357 WARN  [main:ServerCnxnFactory@309] maxCnxns is not configured, using default value 0.
2026-12-07 19:42:35,652 WARN  [QuorumConnectionThread-[myid=2]-2:QuorumCnxManager@401] Cannot open channel to 3 at election address /127.0.0.1:20322
2026-12-07 19:42:36,919 WARN  [QuorumPeer[myid=3]:Follower@169] Got zxid 0x100000001 expected 0x1
2026-12-07 19:42:36,920 WARN  [QuorumPeer[myid=3]:Follower@169] Got zxid 0x100000009 expected 0x100000008
2026-12-07 19:45:39,492 WARN  [QuorumPeer[myid=3]:Learner@637] Got zxid 0x30000000c expected 0x1
2026-12-07 19:42:40,364 ERROR [LearnerHandler-/127.0.0.1:54118:LearnerHandler@719] Unexpected exception in LearnerHandler: 
java.io.EOFException
2026-12-07 19:42:40,366 WARN  [LearnerHandler-/127.0.0.1:54118:LearnerHandler@735] ******* GOODBYE /127.0.0.1:54118 ********
2026-12-07 19:42:40,405 WARN  [QuorumPeer[myid=3]:Follower@128] Exception when following the leader
java.io.IOException: Unknown packet type: 77
2026-12-07 19:42:40,406 INFO  [QuorumPeer[myid=3]:Follower@128] shutdown Follower
2026-12-07 20:12:52,790 WARN  [QuorumPeer[myid=3]:Follower@128] Exception when following the leader
java.lang.NullPointerException: Cannot read field \"hdr\" because \"pif\" is null
2026-12-07 20:12:52,850 ERROR [SyncThread:3:ZooKeeperCriticalThread@49] Severe unrecoverable error, from thread : SyncThread:3
java.lang.NullPointerException: Cannot invoke \"java.net.Socket.isClosed()\" because \"this.learner.sock\" is null
2026-12-07 20:12:53,105 WARN  [SyncThread:3:FileTxnLog@276] Current zxid 17179869185 is <= 17179869662 for error
";
    use common::{java_peer_protocol_complaints as complaints, Disruptions};
    let kept = complaints(log, Disruptions::Some);
    assert_eq!(kept.len(), 2, "{kept:#?}");
    assert!(kept[0].contains("Got zxid 0x100000009 expected 0x100000008"));
    assert!(kept[1].contains("Exception when following the leader"));
    // Undisturbed, a lost connection is itself a complaint.
    let kept = complaints(log, Disruptions::None);
    assert_eq!(kept.len(), 4, "{kept:#?}");
    // Heavily disturbed: only what breaks the protocol (the gap, the unknown packet).
    let kept = complaints(log, Disruptions::Heavy);
    assert_eq!(kept.len(), 2, "{kept:#?}");
    assert!(kept[0].contains("Got zxid 0x100000009 expected 0x100000008"));
    assert!(kept[1].contains("Exception when following the leader"));
}

/// Elections across both kinds (issue 14), each outcome arranged: members vote by epoch,
/// then zxid, then sid, whatever they run. A Ferrokeeper member 1 beside Java members 2 and
/// 3, clients writing throughout:
/// 1. equal (empty) logs: a Java member leads (a higher sid; which one depends on whether
///    the third JVM was up for the first round), never the Ferrokeeper member 1;
/// 2. that Java leader is killed under load: member 1 or the other Java member takes over;
/// 3. the other Java member is killed too and the first comes back with the log it had:
///    the Ferrokeeper member, lowest sid but newest epoch and log, must lead it;
/// 4. the second Java member comes back, then the Ferrokeeper leader is killed under load:
///    a Java member takes over, and member 1 rejoins as its follower.
///
/// The clients' history is accepted and no member counted a digest mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elections_across_kinds_go_by_epoch_zxid_and_sid_and_survive_leader_kills() {
    let what = "elections across kinds";
    if !common::java_ensemble_available("ensemble", what) {
        return;
    }
    let fk = NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")));
    let mut spec = ClusterSpec::uniform(3, NodeKind::Java, Network::Loopback);
    spec.kinds = vec![fk, NodeKind::Java, NodeKind::Java];
    let mut cluster = start(spec).await;
    let all = [0, 1, 2];
    let first = serving(&cluster, &all);
    assert_ne!(first, 0, "{what}: equal logs, and the lowest sid leads");
    // The other Java member.
    let other = 3 - first;

    let (cfg, recording) = common::record_in_background(cluster.client_addrs(), 4, 5, 30);
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));

    pause(2000).await;
    cluster.kill(first);
    let leader = serving(&cluster, &[0, other]);
    println!(
        "{what}: member {} led first; after its kill: member {}",
        first + 1,
        leader + 1
    );
    pause(2000).await;

    cluster.kill(other);
    cluster.start_node(first).expect("restart the first leader");
    assert_eq!(
        serving(&cluster, &[0, first]),
        0,
        "{what}: the member with the newest epoch leads, whatever its sid"
    );
    assert_eq!(cluster.mode(first).as_deref(), Some("follower"));
    pause(2000).await;

    cluster
        .start_node(other)
        .expect("restart the other Java member");
    serving(&cluster, &all);
    pause(1500).await;
    cluster.kill(0);
    let leader = serving(&cluster, &[1, 2]);
    println!(
        "{what}: after the Ferrokeeper leader's kill: member {}",
        leader + 1
    );
    cluster.start_node(0).expect("restart member 1");
    assert_ne!(serving(&cluster, &all), 0, "{what}: a Java member leads");
    assert_eq!(cluster.mode(0).as_deref(), Some("follower"));

    let ops = recording.await.expect("recording");
    let (history, report, _) = assert_history_accepted(&cfg, ops, what).await;
    assert!(report.acked_writes > 50, "{what}: too few writes: {report}");
    assert_eq!(history.finals.len(), 3);
    common::assert_no_digest_mismatches(&cluster, &all, what);
    // Leaders killed under load: only lines that can only mean a broken protocol.
    common::assert_java_logs_clean(&cluster, &all, common::Disruptions::Heavy, what);
}
