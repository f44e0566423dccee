//! Running the real `ferrokeeper` binary for end-to-end tests.

#![allow(dead_code)] // each test file uses its own subset

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zookeeper_client as zk;

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Writes `dir/zoo.cfg` for a server on `port` with data in `dir/data` (plus `extra` lines).
pub fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n{extra}",
            dir.join("data").display()
        ),
    )
    .expect("zoo.cfg");
    cfg
}

/// Runs the binary with `args`; panics with its output if it fails.
pub fn run_tool(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .args(args)
        .output()
        .expect("run ferrokeeper");
    assert!(
        out.status.success(),
        "ferrokeeper {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the server on `cfg`.
pub fn start(cfg: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg("--config")
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ferrokeeper")
}

/// Stops the server with SIGTERM and waits for it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// Connects, retrying (bounded) while the server starts.
pub async fn connect(addr: &str) -> zk::Client {
    for _ in 0..200 {
        let c = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(addr);
        if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(2), c).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server at {addr} did not come up");
}

/// Whether Java 3.8's server jars and `java` are here to run a Java ensemble (`what` names
/// the test in the skip message; with FERROKEEPER_REQUIRE_JAVA=1 a missing one fails).
#[allow(dead_code)] // not every test binary runs Java
pub fn java_ensemble_available(test: &str, what: &str) -> bool {
    let jars = zk_testkit::java::server_jars().map(|_| ());
    zk_testkit::java::available(&jars, test, what).is_some()
        && zk_testkit::java::require_tool("java", what).is_some()
}

/// Every member of `cluster` in `members` reports `zk_digest_mismatches_count 0` in `mntr`:
/// each compared the digest every txn carried with its own tree's after applying it (Java
/// does; so does Ferrokeeper), so a txn or a synced tree that disagreed would be counted.
pub fn assert_no_digest_mismatches(
    cluster: &zk_testkit::cluster::Cluster,
    members: &[usize],
    what: &str,
) {
    for &i in members {
        let mntr = cluster.four_letter(i, "mntr");
        let mismatches = mntr
            .lines()
            .find_map(|l| l.strip_prefix("zk_digest_mismatches_count\t"));
        assert_eq!(mismatches, Some("0"), "{what}: member {}:\n{mntr}", i + 1);
    }
}

/// Network namespaces for `test` (partitions need them), or `None` after a loud notice
/// naming `what` (a failure under FERROKEEPER_REQUIRE_JAVA=1, which CI sets: CI runs as
/// root).
pub fn namespaces(test: &str, what: &str) -> Option<zk_testkit::cluster::Network> {
    if zk_testkit::cluster::namespaces_available() {
        return Some(zk_testkit::cluster::Network::Namespaces);
    }
    let why = Err::<(), _>("network namespaces need root, ip and iptables".to_string());
    zk_testkit::java::available(&why, test, what)?;
    None
}
