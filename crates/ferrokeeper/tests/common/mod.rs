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

/// Whether a test disrupted its members (kills, partitions), which makes Java log the lost
/// connections it saw, or left them running undisturbed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Disruptions {
    /// No member was killed, paused or cut off.
    None,
    /// Members were killed, paused or cut off during the test.
    Some,
    /// Members were killed, stopped, replaced or cut off under load, many times: Java then
    /// logs its own lost-connection reports in more shapes than [`Disruptions::Some`]
    /// leaves out (every CI run found another), so only lines that can only mean a peer
    /// spoke the protocol wrong count ([`JAVA_PROTOCOL_ERRORS`], and a zxid gap).
    Heavy,
}

/// What Java 3.8 logs, at WARN or ERROR, only when a peer's packets or messages break the
/// protocol (from `Learner`, `Follower`, `Observer`, `LearnerHandler`, `Leader`,
/// `FastLeaderElection` and `QuorumCnxManager`): an unexpected or unknown packet, a missing
/// snapshot signature, a refused TRUNC, a commit of nothing, a malformed notification or
/// initial message. [`Disruptions::Heavy`] checks for these alone.
pub const JAVA_PROTOCOL_ERRORS: &[&str] = &[
    "First packet should have been NEWLEADER",
    "Missing signature",
    "Not able to truncate the log",
    "Got unexpected packet from leader",
    "Proposed leader epoch",
    "Received an UPTODATE message after",
    "Unknown packet type",
    "is not FOLLOWERINFO or OBSERVERINFO",
    "is not ACKEPOCH",
    "Next packet was supposed to be an ACK",
    "unexpected quorum packet",
    "Cannot send TRUNC to peer sid",
    "Going to commit null",
    "Trying to commit future proposal",
    "Committed request not found on toBeApplied",
    "Got a short response from server",
    "Something went wrong while processing config received from",
    "Skipping the processing of a partial / malformed response",
    "Notification state unrecognized",
    "Initial message parsing error",
    "Invalid server id",
    "BufferUnderflowException",
    "Digest mismatch",
    "digest mismatch",
];

/// The WARN and ERROR lines of one Java member's `server.log` (log4j's
/// `%d %-5p [%t:%C{1}@%L] %m` lines, as zk-testkit's cluster writes them) that are about
/// the peer protocol: everything but what any Java ensemble logs as it starts and as its
/// connections come and go. A Ferrokeeper peer whose bytes Java misread shows up here: an
/// unknown packet, a bad header, a zxid gap, a refused sync, an exception that is not a lost
/// connection.
///
/// Left out: what Java members log among themselves too (the first three were seen on
/// all-Java ensembles of these tests) and Java's own decisions:
/// - `Using DIGEST-MD5 for quorum authorization` (quorum SASL's configuration, at start);
/// - the client port's lines (NIOServerCnxn and friends: `maxCnxns is not configured`, a
///   client that came while the member was not serving, one that vanished), and a
///   learner's connect to its leader refused (`Unexpected exception, tries=`, then a
///   ConnectException: the leader did not listen yet);
/// - the election port's connection churn (`Cannot open channel to`, `Connection broken for
///   id`, `Exception when using channel`, the Send/RecvWorker lines that follow one);
/// - `Got zxid 0x.. expected 0x1` and `Got zxid 0x<e>00000001 expected 0x..`: the first
///   proposal a new Learner (or Follower) object sees, which Java always finds out of
///   sequence with the 0 it starts from, and the first of a new epoch (a gap between two
///   proposals it did see is kept);
/// - with [`Disruptions::Some`]: a learner's `Exception when following/observing the leader`,
///   a LearnerHandler's `Unexpected exception` or failed send, a learner's failed connect to
///   its leader or ACK, and the leader's acceptor shutdown, each when its exception (the next line) is a lost
///   or refused connection (EOF, reset, refused, broken pipe, timeout, closed socket); the
///   `GOODBYE`, shutdown and `PeerState set to LOOKING` lines that follow them, and a
///   learner's `Truncating log to get in sync` (TRUNC, which Java logs at WARN);
/// - a Java leader's `Unhandled scenario for peer sid` and `Unable to find proposals from
///   txnlog for zxid` (its own reasoning as it picks SNAP for a learner that joins empty);
/// - Java 3.8's own bugs ZOOKEEPER-4394 (a follower's NullPointerException on `pif` when a
///   COMMIT of a proposal sent before NEWLEADER comes before UPTODATE) and ZOOKEEPER-4409
///   (a follower's SyncThread `Severe unrecoverable error` on the closed learner socket as
///   it shuts down; with [`Disruptions::Some`] any such error of its SyncThread or
///   FollowerRequestProcessor, which a leader killed under load causes), and their
///   aftermath (JMX re-registration, `Current zxid .. is <= ..`
///   as it logs re-sent txns); Java leaders trigger both too.
pub fn java_peer_protocol_complaints(log: &str, disruptions: Disruptions) -> Vec<String> {
    // The client port's classes: clients, not peers.
    const CLIENT_PORT: &[&str] = &[
        ":NIOServerCnxn@",
        ":NIOServerCnxnFactory@",
        ":NettyServerCnxn@",
        ":NettyServerCnxnFactory@",
        ":ServerCnxnFactory@",
    ];
    const CHURN: &[&str] = &[
        "Cannot open channel to",
        "Connection broken for id",
        "Interrupting SendWorker thread from RecvWorker",
        "Interrupted while waiting for message on queue",
        "Send worker leaving thread",
        "Exception when using channel",
        // Quorum SASL's configuration, at start.
        "Using DIGEST-MD5 for quorum authorization",
        // A Java leader's own reasoning as it picks SNAP for an empty or far-behind
        // learner (any learner that joins late with an empty log).
        "Unhandled scenario for peer sid",
        "Unable to find proposals from txnlog for zxid",
    ];
    const LOST_CONNECTION_REPORTS: &[&str] = &[
        "Exception when following the leader",
        "Exception when observing the leader",
        "Unexpected exception in LearnerHandler",
        "Unexpected exception, tries=",
        "Unexpected exception, retries exceeded",
        "Failed connect to",
        "Exception while shutting down acceptor",
        "Exception while sending packets in LearnerHandler",
        "Closing connection to leader, exception during packet send",
    ];
    // ZOOKEEPER-4394 (fixed in 3.9.3, not in 3.8): a COMMIT for a proposal sent before
    // NEWLEADER that arrives before UPTODATE finds Java 3.8's learner with nothing queued
    // and it throws; the learner then restarts following, and what follows is its
    // aftermath. Java leaders trigger it too (any learner that syncs under writes).
    const BUG_4394: &str = "because \"pif\" is null";
    // ZOOKEEPER-4409 (fixed in 3.9.3): a follower shutting down (its leader gone) has its
    // SyncThread trip over the closed learner socket; Java calls it a severe error.
    const BUG_4409: &str = "because \"this.learner.sock\" is null";
    const AFTER_JAVA_BUG: &[&str] = &[
        "Failed to register MBean",
        "Failed to register with JMX",
        "is <= ",
    ];
    const AFTER_LOST_CONNECTION: &[&str] = &[
        "******* GOODBYE",
        "Unexpected exception causing shutdown",
        "Shutting down",
        "PeerState set to LOOKING",
        // A learner's TRUNC (a sync way Java logs at WARN).
        "Truncating log to get in sync with the leader",
    ];
    const LOST: &[&str] = &[
        "java.io.EOFException",
        "java.net.SocketException",
        "java.net.SocketTimeoutException",
        "java.net.ConnectException",
        "java.net.NoRouteToHostException",
        "Connection reset",
        "Broken pipe",
        "Socket closed",
    ];
    let lines: Vec<&str> = log.lines().collect();
    let level = |l: &str| {
        let mut words = l.split_whitespace().skip(2);
        matches!(words.next(), Some("WARN" | "ERROR"))
    };
    let mut out = Vec::new();
    let mut seen_java_bug = false;
    for (n, line) in lines.iter().enumerate() {
        if disruptions == Disruptions::Heavy {
            // The exception under a WARN line counts too ("Exception when following the
            // leader" / "java.io.IOException: Unknown packet type: 77").
            let next = lines.get(n + 1).copied().unwrap_or("");
            let gap = line.contains("Got zxid 0x") && zxid_gap(line);
            if level(line)
                && (gap
                    || JAVA_PROTOCOL_ERRORS
                        .iter()
                        .any(|e| line.contains(e) || (!level(next) && next.contains(e))))
            {
                out.push((*line).to_string());
            }
            continue;
        }
        if !level(line)
            || CLIENT_PORT.iter().any(|c| line.contains(c))
            || CHURN.iter().any(|c| line.contains(c))
        {
            continue;
        }
        if line.contains("Got zxid 0x") && !zxid_gap(line) {
            continue;
        }
        let next = lines.get(n + 1).copied().unwrap_or("");
        if line.contains("Exception when following the leader") && next.contains(BUG_4394) {
            seen_java_bug = true;
            continue;
        }
        if line.contains("Severe unrecoverable error, from thread : SyncThread")
            && next.contains(BUG_4409)
        {
            seen_java_bug = true;
            continue;
        }
        // A follower whose leader died under load: its request and sync threads find the
        // learner socket gone and Java calls that a critical error (the 4409 family).
        if disruptions == Disruptions::Some
            && (line.contains("Severe unrecoverable error, from thread : FollowerRequestProcessor")
                || line.contains("Severe unrecoverable error, from thread : SyncThread"))
        {
            seen_java_bug = true;
            continue;
        }
        if seen_java_bug && AFTER_JAVA_BUG.iter().any(|c| line.contains(c)) {
            continue;
        }
        // A learner that tried its leader's port before the leader listened: any start.
        if line.contains("Unexpected exception, tries=") && next.contains("ConnectException") {
            continue;
        }
        if disruptions == Disruptions::Some {
            if LOST_CONNECTION_REPORTS.iter().any(|c| line.contains(c))
                && LOST.iter().any(|c| next.contains(c))
            {
                continue;
            }
            if AFTER_LOST_CONNECTION.iter().any(|c| line.contains(c)) {
                continue;
            }
        }
        out.push((*line).to_string());
    }
    out
}

/// Whether a `Got zxid 0x.. expected 0x..` line is a real gap: not the first proposal a new
/// learner sees (expected 0x1) or the first of a new epoch (Java logs both always).
fn zxid_gap(line: &str) -> bool {
    let Some(rest) = line.split("Got zxid 0x").nth(1) else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let got = words.next().unwrap_or("");
    let expected = words.nth(1).unwrap_or("");
    !(expected == "0x1" || (got.len() > 8 && got.ends_with("00000001")))
}

/// Fails the test when a Java member of `cluster` among `members` logged a WARN or ERROR
/// line about the peer protocol ([`java_peer_protocol_complaints`]); Ferrokeeper members
/// are skipped.
pub fn assert_java_logs_clean(
    cluster: &zk_testkit::cluster::Cluster,
    members: &[usize],
    disruptions: Disruptions,
    what: &str,
) {
    for &i in members {
        if !matches!(cluster.kind(i), zk_testkit::cluster::NodeKind::Java) {
            continue;
        }
        let path = cluster.dir(i).join("server.log");
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(!log.is_empty(), "{what}: no Java log at {}", path.display());
        let complaints = java_peer_protocol_complaints(&log, disruptions);
        assert!(
            complaints.is_empty(),
            "{what}: Java member {} logged about the peer protocol:\n{}",
            i + 1,
            complaints.join("\n")
        );
    }
}

/// `clients` clients on `keys` keys writing and reading through the members at `addrs` for
/// `secs` seconds (2 s per operation at most), recorded in the background while the test
/// kills, pauses and cuts members off; the recorder's config for the history check.
pub fn record_in_background(
    addrs: Vec<String>,
    clients: usize,
    keys: usize,
    secs: u64,
) -> (
    zk_testkit::recorder::RecordConfig,
    tokio::task::JoinHandle<Vec<zk_testkit::history::Op>>,
) {
    let mut cfg = zk_testkit::recorder::RecordConfig::new(addrs);
    cfg.clients = clients;
    cfg.keys = keys;
    cfg.duration = Duration::from_secs(secs);
    cfg.op_timeout = Duration::from_secs(2);
    let recording = tokio::spawn({
        let cfg = cfg.clone();
        async move { zk_testkit::recorder::record(&cfg).await }
    });
    (cfg, recording)
}

/// Starts `spec`'s nodes (off the runtime's threads: it blocks).
pub async fn start_cluster(spec: zk_testkit::cluster::ClusterSpec) -> zk_testkit::cluster::Cluster {
    tokio::task::spawn_blocking(move || zk_testkit::cluster::Cluster::start(spec).expect("cluster"))
        .await
        .expect("start")
}

/// Everything node `i` has logged so far (Java's log4j file, Ferrokeeper's output).
pub fn node_log(cluster: &zk_testkit::cluster::Cluster, i: usize) -> String {
    let name = match cluster.kind(i) {
        zk_testkit::cluster::NodeKind::Java => "server.log",
        zk_testkit::cluster::NodeKind::Ferrokeeper(_) => "stdout",
    };
    let bytes = std::fs::read(cluster.dir(i).join(name)).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The lines of every member's log that `keep` selects, member by member (for failure
/// messages).
pub fn log_lines(cluster: &zk_testkit::cluster::Cluster, keep: fn(&str) -> bool) -> String {
    let mut out = String::new();
    for i in 0..cluster.len() {
        let log = node_log(cluster, i);
        out.push_str(&format!(
            "--- member {} ({} bytes of log)\n",
            i + 1,
            log.len()
        ));
        for line in log.lines().filter(|l| keep(&l.to_ascii_lowercase())) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A session with member `i` (bounded: 30 s; `diag` is printed on failure).
pub async fn member_session(
    cluster: &zk_testkit::cluster::Cluster,
    i: usize,
    diag: fn(&zk_testkit::cluster::Cluster) -> String,
) -> zk::Client {
    let addr = cluster.client_addr(i);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let c = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(&addr);
        if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(2), c).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "member {} at {addr} serves no session:\n{}",
        i + 1,
        diag(cluster)
    );
}

/// Creates `path` holding `data` through member `from` and reads it back through member
/// `to` after a sync: the write went through the leader and a quorum.
pub async fn write_and_read(
    cluster: &zk_testkit::cluster::Cluster,
    from: usize,
    to: usize,
    path: &str,
    data: &[u8],
    diag: fn(&zk_testkit::cluster::Cluster) -> String,
) {
    let writer = member_session(cluster, from, diag).await;
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    writer.create(path, data, &open).await.expect("create");
    let reader = member_session(cluster, to, diag).await;
    reader.sync(path).await.expect("sync");
    let (got, _) = reader.get_data(path).await.expect("read back");
    assert_eq!(got, data);
}

/// Node `i`'s quorum and election ports on a loopback cluster (they follow its client
/// port).
pub fn peer_ports(cluster: &zk_testkit::cluster::Cluster, i: usize) -> (u16, u16) {
    let addr = cluster.client_addr(i);
    let client: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a client port");
    (client + 1, client + 2)
}

/// Waits (bounded: 45 s) until a leader serves and every member of `among` serves; the
/// leader. `diag` is printed on failure.
pub fn serving(
    cluster: &zk_testkit::cluster::Cluster,
    among: &[usize],
    what: &str,
    diag: fn(&zk_testkit::cluster::Cluster) -> String,
) -> usize {
    tokio::task::block_in_place(|| cluster.wait_serving(among, Duration::from_secs(45)))
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", diag(cluster)))
}

/// For a mixed ensemble of three whose Ferrokeeper member is `fk`: waits until all three
/// serve and makes sure the Ferrokeeper member leads when `fk_leads` (a Java member that
/// won the race to lead, the two Java members having elected each other before the
/// Ferrokeeper one was up, is restarted) and a Java member leads otherwise; the leader.
pub fn lead_as_arranged(
    cluster: &mut zk_testkit::cluster::Cluster,
    fk: usize,
    fk_leads: bool,
    what: &str,
    diag: fn(&zk_testkit::cluster::Cluster) -> String,
) -> usize {
    let all = [0, 1, 2];
    let mut leader = serving(cluster, &all, what, diag);
    if fk_leads && leader != fk {
        cluster.kill(leader);
        cluster.start_node(leader).expect("restart the Java leader");
        leader = serving(cluster, &all, what, diag);
    }
    assert_eq!(
        leader == fk,
        fk_leads,
        "{what}: the leader is member {}",
        leader + 1
    );
    leader
}
