//! The shadow proxy between two in-process Ferrokeeper servers: identical traffic compares
//! equal (sequential names mapped, events paired), a diverged candidate is reported, a dead
//! candidate never touches the client.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use zk_shadow::{Config, Metrics};
use zk_testkit::server::{persistent, ServerBuilder, TestServer};
use zk_testkit::within;
use zookeeper_client as zk;

struct Running {
    addr: String,
    _stop: watch::Sender<bool>,
}

/// A Ferrokeeper with extended types on; stops when dropped.
async fn server() -> TestServer {
    let settings = zk_server::Settings {
        extended_types: true,
        ..zk_server::Settings::default()
    };
    ServerBuilder::new(settings).start().await
}

async fn proxy(primary: &str, candidate: &str) -> (Running, Arc<Metrics>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    let config = Config::new(primary, candidate);
    let m = metrics.clone();
    tokio::spawn(async move { zk_shadow::run(listener, config, m, rx).await.unwrap() });
    (Running { addr, _stop: tx }, metrics)
}

async fn client(addr: &str) -> zk::Client {
    within(
        "connect",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(addr),
    )
    .await
    .unwrap()
}

fn count(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_servers_compare_equal_through_renumbered_sequential_nodes() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let primary = server().await;
    let candidate = server().await;
    // The candidate's sequence counter under /seq runs 3 ahead of the primary's: every
    // sequential name the candidate gives differs, and must be mapped.
    let seed = client(&candidate.addr).await;
    seed.create("/seq", b"", &persistent()).await.unwrap();
    for _ in 0..3 {
        let (_, seq) = seed
            .create(
                "/seq/x-",
                b"",
                &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all()),
            )
            .await
            .unwrap();
        seed.delete(&format!("/seq/x-{seq}"), None).await.unwrap();
    }
    drop(seed);
    let seed = client(&primary.addr).await;
    seed.create("/seq", b"", &persistent()).await.unwrap();
    drop(seed);

    let (p, metrics) = proxy(&primary.addr, &candidate.addr).await;
    let a = client(&p.addr).await;
    let b = client(&p.addr).await;
    let eph_seq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let (_, s1) = a.create("/seq/n-", b"one", &eph_seq).await.unwrap();
    let (_, s2) = b.create("/seq/n-", b"two", &eph_seq).await.unwrap();
    let first = format!("/seq/n-{s1}");
    let second = format!("/seq/n-{s2}");
    // The client only ever sees the primary: its counter started at 0.
    assert_eq!(first, "/seq/n-0000000000");
    let mut children = a.list_children("/seq").await.unwrap();
    children.sort();
    assert_eq!(children, ["n-0000000000", "n-0000000001"]);
    // B watches A's node by the primary's name; the proxy asks the candidate for its own.
    let (data, _, watcher) = b.get_and_watch_data(&first).await.unwrap();
    assert_eq!(data, b"one");
    a.set_data(&first, b"uno", None).await.unwrap();
    let event = within("data watch", watcher.changed()).await;
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
    assert!(a.check_stat(&second).await.unwrap().is_some());
    a.create(&format!("{first}/child"), b"", &persistent())
        .await
        .unwrap_err(); // ephemerals have no children: same error on both
    drop(a);
    drop(b);
    within("comparers done", metrics.wait_comparers_done(2)).await;
    assert_eq!(count(&metrics.differences), 0, "{}", metrics.summary());
    assert_eq!(count(&metrics.dropped), 0);
    assert!(
        count(&metrics.replies_compared) >= 8,
        "{}",
        metrics.summary()
    );
    assert!(
        count(&metrics.events_compared) >= 1,
        "{}",
        metrics.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_candidate_is_reported_and_the_client_sees_the_primary() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let primary = server().await;
    let candidate = server().await;
    let seed = client(&primary.addr).await;
    seed.create("/diverged", b"primary", &persistent())
        .await
        .unwrap();
    drop(seed);
    let seed = client(&candidate.addr).await;
    seed.create("/diverged", b"candidate", &persistent())
        .await
        .unwrap();
    seed.create("/only-on-candidate", b"", &persistent())
        .await
        .unwrap();
    drop(seed);

    let (p, metrics) = proxy(&primary.addr, &candidate.addr).await;
    let c = client(&p.addr).await;
    let (data, _) = c.get_data("/diverged").await.unwrap();
    assert_eq!(data, b"primary");
    assert!(c.check_stat("/only-on-candidate").await.unwrap().is_none());
    assert!(c.check_stat("/diverged").await.unwrap().is_some());
    drop(c);
    within("comparer done", metrics.wait_comparers_done(1)).await;
    // getData: data (and dataLength) differ; exists /only-on-candidate: NONODE vs OK;
    // exists /diverged: dataLength differs.
    assert_eq!(count(&metrics.differences), 3, "{}", metrics.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_candidate_never_affects_the_client() {
    let primary = server().await;
    // A port nothing listens on.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (p, metrics) = proxy(&primary.addr, &dead).await;
    let c = client(&p.addr).await;
    c.create("/alive", b"yes", &persistent()).await.unwrap();
    assert_eq!(c.get_data("/alive").await.unwrap().0, b"yes");
    drop(c);
    within("comparer done", metrics.wait_comparers_done(1)).await;
    assert_eq!(count(&metrics.candidate_errors), 1);
    assert_eq!(count(&metrics.differences), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_candidate_is_abandoned_and_the_client_goes_on() {
    let primary = server().await;
    // A candidate that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let held = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = silent.accept().await {
            keep.lock().await.push(sock);
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (_stop, rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    let mut config = Config::new(&primary.addr, &silent_addr);
    config.queue_capacity = 8;
    let m = metrics.clone();
    tokio::spawn(async move { zk_shadow::run(listener, config, m, rx).await.unwrap() });

    let c = client(&addr).await;
    c.create("/busy", b"", &persistent()).await.unwrap();
    for i in 0..20 {
        c.set_data("/busy", format!("{i}").as_bytes(), None)
            .await
            .unwrap();
    }
    assert_eq!(c.get_data("/busy").await.unwrap().0, b"19");
    drop(c);
    within("comparer done", metrics.wait_comparers_done(1)).await;
    assert_eq!(
        count(&metrics.desynced_sessions),
        1,
        "{}",
        metrics.summary()
    );
    // Either the comparer gave up on the candidate (8 requests without an answer) or, when
    // it fell behind the relay first, the relay dropped a frame (its queue holds 8 too):
    // which comes first depends on scheduling; both stop the comparison without a false
    // difference.
    assert!(
        count(&metrics.candidate_errors) == 1 || count(&metrics.dropped) > 0,
        "{}",
        metrics.summary()
    );
    assert_eq!(count(&metrics.differences), 0, "{}", metrics.summary());
}
