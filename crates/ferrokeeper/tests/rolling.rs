//! Rolling replacement (issue 14): a running three-node Apache ZooKeeper 3.8 ensemble has
//! each node replaced in turn by a Ferrokeeper node on the same dataDir under load, and is
//! then rolled back to Java the same way, followers first and the leader last, as an
//! operator would. Two ways across, each its own test:
//!
//! * files: the stopped Java node's data is moved aside and `ferrokeeper import`ed into
//!   its dataDir; on the way back `ferrokeeper export` writes the Java dataDir;
//! * sync: the node comes back with an empty dataDir (its `myid` only) and the leader
//!   syncs it (a SNAP).
//!
//! Throughout, clients record a history the checker must accept (no acknowledged write
//! lost, linearizable writes and sync-then-reads, sessions in order), and one session with
//! an ephemeral node heartbeats through every step: it must never expire, and its ephemeral
//! must still be there at the end.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zk_testkit::cluster::{Cluster, ClusterSpec, Network, NodeKind};
use zk_testkit::recorder::{assert_history_accepted, record, RecordConfig};
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

/// How a node crosses from one server to the other.
#[derive(Debug, Clone, Copy)]
enum Crossing {
    /// `ferrokeeper import` / `ferrokeeper export` of the stopped node's data.
    Files,
    /// An empty dataDir: the leader syncs the node.
    Sync,
}

fn ferrokeeper_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// Stops node `i`, moves its data across to `to` the `how` way, and starts it as `to`.
/// `step` names the data directories kept aside (`data-before-<step>`).
fn replace(cluster: &mut Cluster, i: usize, to: NodeKind, how: Crossing, step: usize) {
    cluster.stop(i);
    let dir = cluster.dir(i).to_path_buf();
    let data = dir.join("data");
    let aside = dir.join(format!("data-before-{step}"));
    match (how, &to) {
        (Crossing::Files, NodeKind::Ferrokeeper(_)) => {
            std::fs::rename(&data, &aside).expect("move the Java data aside");
            // The new zoo.cfg (and the myid in the new, empty dataDir) first: import
            // writes into the dataDir the configuration names.
            cluster.set_kind(i, to).expect("configure");
            let cfg = dir.join("zoo.cfg");
            common::run_tool(&[
                "import",
                "--zookeeper-data-dir",
                path_str(&aside),
                "--config",
                path_str(&cfg),
            ]);
        }
        (Crossing::Files, NodeKind::Java) => {
            // Export reads Ferrokeeper's data through its own zoo.cfg, still in place.
            let exported = dir.join("exported");
            let cfg = dir.join("zoo.cfg");
            common::run_tool(&[
                "export",
                "--to-zookeeper-data-dir",
                path_str(&exported),
                "--config",
                path_str(&cfg),
            ]);
            std::fs::rename(&data, &aside).expect("move the Ferrokeeper data aside");
            std::fs::rename(&exported, &data).expect("the export becomes the dataDir");
            cluster.set_kind(i, to).expect("configure");
        }
        (Crossing::Sync, _) => {
            std::fs::rename(&data, &aside).expect("move the data aside");
            cluster.set_kind(i, to).expect("configure");
        }
    }
    cluster.start_node(i).expect("start the replacement");
}

/// What the heartbeating session saw: every state change, in order.
type States = Arc<Mutex<Vec<SessionState>>>;

async fn rolling(how: Crossing, what: &str) {
    if !common::java_ensemble_available("rolling", what) {
        return;
    }
    // One at a time: each keeps the machine busy, and its step timings assume it.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _serial = ONE_AT_A_TIME.lock().await;
    let spec = ClusterSpec::uniform(3, NodeKind::Java, Network::Loopback);
    let mut cluster = tokio::task::spawn_blocking(move || Cluster::start(spec).expect("cluster"))
        .await
        .expect("start");
    let all = [0, 1, 2];
    let wait = |c: &Cluster, why: &str| {
        tokio::task::block_in_place(|| c.wait_serving(&all, Duration::from_secs(90)))
            .unwrap_or_else(|e| panic!("{what}: {why}: {e}"))
    };
    let leader = wait(&cluster, "a Java leader at start");

    // The session that heartbeats through everything, with its ephemeral.
    let connect = cluster.client_addrs().join(",");
    let holder = Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&connect)
        .await
        .expect("holder session");
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    holder
        .create("/rolling-holder", b"alive", &ephemeral)
        .await
        .expect("create the holder's ephemeral");
    let states: States = Arc::default();
    let mut watcher = holder.state_watcher();
    let watching = tokio::spawn({
        let states = states.clone();
        async move {
            loop {
                let s = watcher.changed().await;
                let terminal = s.is_terminated();
                states.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                if terminal {
                    break;
                }
            }
        }
    });

    let mut base = RecordConfig::new(cluster.client_addrs());
    base.clients = 4;
    base.keys = 6;
    base.op_timeout = Duration::from_secs(3);
    let mut ops = Vec::new();

    // Followers first, the leader last; forward to Ferrokeeper, then back to Java.
    let mut order: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    order.push(leader);
    let fk = NodeKind::Ferrokeeper(ferrokeeper_bin());
    let steps: Vec<(usize, NodeKind)> = order
        .iter()
        .map(|&i| (i, fk.clone()))
        .chain(order.iter().map(|&i| (i, NodeKind::Java)))
        .collect();
    for (step, (i, to)) in steps.into_iter().enumerate() {
        let mut cfg = base.clone();
        cfg.seed = step as u64 + 1;
        cfg.duration = Duration::from_secs(8);
        let recording = tokio::spawn(async move { record(&cfg).await });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let label = format!("{what}: step {}: node {} to {to:?}", step + 1, i + 1);
        println!("{label}");
        tokio::task::block_in_place(|| replace(&mut cluster, i, to, how, step));
        let leader = wait(&cluster, &label);
        let modes: Vec<_> = all.iter().map(|&j| cluster.mode(j)).collect();
        println!(
            "{label}: serving again, leader node {}: {modes:?}",
            leader + 1
        );
        ops.extend(recording.await.expect("recorder"));
    }
    wait(&cluster, "a serving Java ensemble at the end");
    for i in all {
        assert_eq!(cluster.kind(i), &NodeKind::Java, "{what}: node {}", i + 1);
    }

    let (history, report, _) = assert_history_accepted(&base, ops, what).await;
    println!("{what}: {report}");
    assert!(
        report.acked_writes > 100,
        "{what}: too few writes: {report}"
    );
    assert_eq!(history.finals.len(), 3);

    // The heartbeating session lived through every step, its ephemeral with it.
    let stat = holder
        .check_stat("/rolling-holder")
        .await
        .expect("the holder still has its session");
    let stat = stat.unwrap_or_else(|| panic!("{what}: the holder's ephemeral is gone"));
    assert_eq!(stat.ephemeral_owner, holder.session_id().0, "{what}");
    let seen = states.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("{what}: the holder's session states: {seen:?}");
    assert!(
        seen.iter()
            .all(|s| matches!(s, SessionState::Disconnected | SessionState::SyncConnected)),
        "{what}: the heartbeating session saw more than disconnections: {seen:?}"
    );
    watching.abort();
    // Java's digests: every node compared each txn's digest with its tree after applying.
    common::assert_no_digest_mismatches(&cluster, &all, what);
}

/// Java to Ferrokeeper node by node with `ferrokeeper import`, and back with `ferrokeeper
/// export`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_ensemble_is_replaced_node_by_node_through_import_and_rolled_back_through_export() {
    rolling(Crossing::Files, "rolling replacement, import/export").await;
}

/// Java to Ferrokeeper node by node with empty dataDirs synced from the leader, and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_ensemble_is_replaced_node_by_node_through_leader_syncs_and_rolled_back() {
    rolling(Crossing::Sync, "rolling replacement, leader syncs").await;
}
