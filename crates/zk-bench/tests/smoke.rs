//! zk-bench against an in-process Ferrokeeper: every workload runs, and its numbers are
//! consistent with what it was asked to do.

use std::sync::Arc;
use std::time::Duration;

use zk_bench::availability::{self, ProbeOp};
use zk_bench::mix::Mix;
use zk_bench::wire::Endpoint;
use zk_bench::workload::{self, RunConfig};
use zk_testkit::server::{ServerBuilder, TestServer};

/// A Ferrokeeper on 127.0.0.1:0 (in-memory log) on its own thread; stops when the returned
/// server is dropped.
fn server() -> (String, TestServer) {
    let settings = zk_server::Settings {
        max_client_cnxns: 0,
        ..zk_server::Settings::default()
    };
    let server = ServerBuilder::new(settings).start_on_thread();
    (server.addr.clone(), server)
}

#[test]
fn every_workload_runs_against_ferrokeeper() {
    let (addr, _stop) = server();
    let ep = Endpoint::plain(&addr);

    // Load keys, then a closed-loop run of every op.
    workload::ensure_parents(&ep, 2_500).unwrap();
    let load =
        workload::per_session(&ep, 4, 2, 32, 4, workload::load_plan(2_500, 4, 100), None).unwrap();
    assert_eq!(load.requests, 2_500);
    assert_eq!(load.errors, 0);

    let mut cfg = RunConfig::new(&addr);
    cfg.mix =
        Mix::parse("get=40,set=15,create=10,delete=10,exists=10,children=10,multi=5").unwrap();
    cfg.sessions = 4;
    cfg.depth = 4;
    cfg.threads = 2;
    cfg.keys = 2_500;
    cfg.warmup = Duration::from_millis(100);
    cfg.duration = Duration::from_millis(500);
    let r = workload::run(&cfg).unwrap();
    assert!(r.ops > 100, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    for op in [
        "get", "set", "create", "delete", "exists", "children", "multi",
    ] {
        let s = &r.by_op[op];
        assert!(s.count > 0, "{op}: {r:?}");
        assert!(s.p50_us <= s.p99_us && s.p99_us <= s.p999_us && s.p999_us <= s.max_us);
    }
    assert!(r.writes_per_sec > 0.0 && r.writes_per_sec < r.ops_per_sec);

    // Open loop at a fixed rate sends that rate, whatever the server's speed.
    cfg.mix = Mix::parse("get").unwrap();
    cfg.rate = Some(2_000.0);
    cfg.duration = Duration::from_secs(1);
    let r = workload::run(&cfg).unwrap();
    assert!(
        (1_500..=2_500).contains(&r.ops),
        "2,000/s for 1 s sent {} requests",
        r.ops
    );

    // Watches on the keys, held while a command runs.
    let w = workload::per_session(
        &ep,
        10,
        1,
        16,
        10,
        workload::watch_plan(50, 2_500),
        Some("echo held"),
    )
    .unwrap();
    assert_eq!(w.requests, 500);
    assert_eq!(w.errors, 0);
    assert_eq!(w.hold_output.as_deref(), Some("held"));

    // Every watcher is told.
    let f = workload::fanout(&ep, 20, 2, 8).unwrap();
    assert_eq!(f.last_notification_ms.len(), 2);
    assert!(f
        .last_notification_ms
        .iter()
        .zip(&f.first_notification_ms)
        .all(|(l, first)| l >= first && *l > 0.0));

    let p = workload::probe(&ep, "/zkbench/k/p00000/n0000000", Duration::from_secs(5)).unwrap();
    assert_eq!(p.attempts, 1);

    // A list of hosts (the same server twice, as an ensemble's members would be): a run
    // spreads its sessions over them, the write probe tries each.
    let both = format!("{addr},{addr}");
    let mut cfg = RunConfig::new(&both);
    cfg.sessions = 4;
    cfg.depth = 2;
    cfg.keys = 2_500;
    cfg.mix = Mix::parse("set").unwrap();
    cfg.warmup = Duration::ZERO;
    cfg.duration = Duration::from_millis(300);
    let r = workload::run(&cfg).unwrap();
    assert!(r.ops > 0 && r.errors == 0, "{r:?}");
    let p = availability::probe(
        &Endpoint::plain(&both),
        "/",
        ProbeOp::Write,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!((p.op, p.host.as_str()), (ProbeOp::Write, addr.as_str()));
    assert!(p.attempts >= 1 && p.ready_unix_ms > 0.0);

    // Failover's kill and write, with a child process standing in for the leader.
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let f = availability::failover(&ep, "/zkbench-failover", child.id(), Duration::from_secs(5))
        .unwrap();
    assert_eq!(f.killed_pid, child.id());
    assert!(f.kill_to_gone_ms <= f.kill_to_write_ms, "{f:?}");
    assert_eq!(f.host, addr);
    let status = child.wait().unwrap();
    assert!(!status.success(), "sleep was killed: {status:?}");

    // Sessions, held open.
    let none: Arc<workload::Plan> = Arc::new(|_, _| None);
    let s = workload::per_session(&ep, 50, 2, 1, 16, none, Some("true")).unwrap();
    assert_eq!(s.sessions, 50);
    assert!(s.connect_per_sec > 0.0);
}
