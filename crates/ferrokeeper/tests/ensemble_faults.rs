//! Fault tests on real ensembles (issue 13): clients record a history while nodes are
//! killed, partitioned and paused, and the history checker must accept it.
//!
//! Each node runs in a network namespace of its own (`zk_testkit::cluster`), so a partition
//! is real: packets between the two sides are dropped in both directions while clients still
//! reach every node. Today the ensemble is Apache ZooKeeper 3.8's (the reference, and the
//! proof that the harness, the recorder and the checker accept a correct ensemble under
//! these faults); Ferrokeeper ensembles join the same scenarios when they can start.

use std::time::Duration;

use zk_testkit::cluster::{namespaces_available, Cluster, ClusterSpec, Network, NodeKind};
use zk_testkit::history::{assert_accepted, History};
use zk_testkit::recorder::{final_states, record, RecordConfig};

/// The cluster, or `None` (after a loud notice; a failure under FERROKEEPER_REQUIRE_JAVA=1)
/// when Java or network namespaces are missing.
fn java_cluster(n: usize) -> Option<Cluster> {
    let jars = zk_testkit::java::server_jars().map(|_| ());
    zk_testkit::java::available(&jars, "ensemble_faults", "Fault tests on a Java ensemble")?;
    zk_testkit::java::require_tool("java", "Fault tests on a Java ensemble")?;
    if !namespaces_available() {
        let why = Err::<(), _>("network namespaces need root, ip and iptables".to_string());
        zk_testkit::java::available(&why, "ensemble_faults (namespaces)", "Partition tests")?;
    }
    Some(
        Cluster::start(ClusterSpec::uniform(n, NodeKind::Java, Network::Namespaces))
            .expect("cluster"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_ensemble_history_under_kills_partitions_and_pauses_is_accepted() {
    let Some(mut cluster) = tokio::task::spawn_blocking(|| java_cluster(3))
        .await
        .expect("start")
    else {
        return;
    };
    let all: Vec<usize> = (0..cluster.len()).collect();
    let leader = cluster
        .wait_serving(&all, Duration::from_secs(60))
        .expect("a leader");
    println!("leader: node {}", leader + 1);

    let mut cfg = RecordConfig::new(cluster.client_addrs());
    cfg.clients = 6;
    cfg.keys = 6;
    cfg.duration = Duration::from_secs(24);
    cfg.op_timeout = Duration::from_secs(2);
    let recording = tokio::spawn({
        let cfg = cfg.clone();
        async move { record(&cfg).await }
    });
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));

    // (a) kill -9 the leader, restart it.
    pause(2000).await;
    cluster.kill(leader);
    pause(3000).await;
    cluster.start_node(leader).expect("restart");
    let leader =
        tokio::task::block_in_place(|| cluster.wait_serving(&all, Duration::from_secs(30)))
            .expect("a leader after the kill");
    println!("leader after the kill: node {}", leader + 1);
    // (b) partition the leader from the rest, then heal.
    cluster
        .partition(&[
            vec![leader],
            all.iter().copied().filter(|&i| i != leader).collect(),
        ])
        .expect("partition");
    pause(5000).await;
    let cut_off = cluster.mode(leader);
    println!("the partitioned leader says: {cut_off:?}");
    assert_ne!(
        cut_off.as_deref(),
        Some("leader"),
        "a leader cut off from its quorum still leads"
    );
    cluster.heal().expect("heal");
    let leader =
        tokio::task::block_in_place(|| cluster.wait_serving(&all, Duration::from_secs(30)))
            .expect("a leader after the partition");
    println!("leader after the partition: node {}", leader + 1);
    // (c) SIGSTOP a follower for 4 s: its clients' requests time out (2 s) and they move
    // their sessions to the other nodes; it rejoins when resumed.
    let follower = (leader + 1) % cluster.len();
    cluster.pause(follower);
    pause(4000).await;
    cluster.resume(follower);

    let ops = recording.await.expect("recorder");
    tokio::task::block_in_place(|| cluster.wait_serving(&all, Duration::from_secs(30)))
        .expect("a serving ensemble at the end");
    let (finals, failed) = final_states(&cfg).await;
    assert!(failed.is_empty(), "final states unreadable: {failed:?}");
    let history = History { ops, finals };
    let (report, unknown) = assert_accepted(&history, "Java ensemble");
    assert!(report.acked_writes > 100, "too few writes: {report}");
    assert!(
        unknown > 0,
        "no request was cut by a fault: the faults proved nothing"
    );
    assert_eq!(history.finals.len(), 3);
}
