//! The history checker on real faults: clients record a history against the real binary
//! while it is SIGKILLed and restarted; the checker (`zk_testkit::history`) must accept it.
//! Proves on a standalone server what the ensemble fault tests prove on clusters: every
//! acknowledged write survives `kill -9`, writes and sync+read are linearizable, sessions
//! (which outlive the restarts) never go back in time, and the recorders' unknown outcomes
//! (requests in flight at the kill) are handled.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use zk_testkit::recorder::{assert_history_accepted, record, RecordConfig};

mod common;

fn start(dir: &Path, port: u16) -> Child {
    common::start(&common::write_config(dir, port, "snapCount=50\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_across_kill_9_are_accepted() {
    let seed: u64 = std::env::var("HISTORY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    println!("history test seed {seed} (HISTORY_SEED={seed} to replay)");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = start(dir.path(), port);
    drop(common::connect(&addr).await);

    let mut cfg = RecordConfig::new(vec![addr.clone()]);
    cfg.clients = 6;
    cfg.keys = 6;
    cfg.seed = seed;
    cfg.duration = Duration::from_secs(8);
    cfg.op_timeout = Duration::from_secs(2);
    let recording = tokio::spawn({
        let cfg = cfg.clone();
        async move { record(&cfg).await }
    });
    // Three kills at seeded moments, each followed by a restart on the same port.
    for k in 0..3u64 {
        let ms = 1200 + (seed.wrapping_mul(7919).wrapping_add(k * 104_729)) % 800;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        server.kill().expect("kill -9");
        let _ = server.wait();
        server = start(dir.path(), port);
    }
    let ops = recording.await.expect("recorder");
    drop(common::connect(&addr).await);
    let (_, report, unknown) = assert_history_accepted(&cfg, ops, &format!("seed {seed}")).await;
    assert!(
        report.acked_writes > 50,
        "too few writes to prove anything: {report}"
    );
    assert!(
        report.reads > 50,
        "too few reads to prove anything: {report}"
    );
    assert!(
        unknown > 0,
        "no request was in flight at a kill: the faults proved nothing"
    );
    let _ = server.kill();
    let _ = server.wait();
}
