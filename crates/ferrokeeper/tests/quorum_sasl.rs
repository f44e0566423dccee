//! Quorum SASL (issue 14, DIGEST-MD5 between members) on real processes, configured as
//! Java 3.8 is: `quorum.auth.enableSasl`, `quorum.auth.learnerRequireSasl` and
//! `quorum.auth.serverRequireSasl` in zoo.cfg, the `QuorumServer` and `QuorumLearner`
//! sections of the JAAS file named by `-Djava.security.auth.login.config`.
//!
//! * three Ferrokeeper members authenticate each other on both peer ports, elect, serve a
//!   write and survive the leader's death;
//! * a member whose learner password is wrong cannot join: the others keep their quorum,
//!   and both its log and the leader's say why;
//! * mixed with Java 3.8 members, both ways (a Ferrokeeper learner of a Java leader, Java
//!   learners of a Ferrokeeper leader): Java requires SASL of every peer, so a member
//!   joins only if its bytes are Java's.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zk_testkit::cluster::{Cluster, ClusterSpec, Network, NodeKind};

/// The JAAS file every member reads: the learner `peer` with password `right`, and
/// `BadLearner`, the same learner with the wrong password.
const JAAS: &str = r#"
QuorumServer {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_peer="right";
};
QuorumLearner {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       username="peer"
       password="right";
};
BadLearner {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       username="peer"
       password="wrong";
};
"#;

/// The zoo.cfg lines of an ensemble that requires quorum SASL everywhere.
const REQUIRED: &str = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
                        quorum.auth.serverRequireSasl=true\n";

fn ferrokeeper() -> NodeKind {
    NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")))
}

/// A spec for `kinds` with quorum SASL required, reading the JAAS file in `dir`.
fn spec(kinds: Vec<NodeKind>, dir: &Path) -> ClusterSpec {
    let jaas = dir.join("jaas.conf");
    std::fs::write(&jaas, JAAS).expect("write the JAAS file");
    let mut spec = ClusterSpec::uniform(kinds.len(), ferrokeeper(), Network::Loopback);
    spec.kinds = kinds;
    spec.extra = REQUIRED.to_string();
    spec.properties = vec![format!(
        "java.security.auth.login.config={}",
        jaas.display()
    )];
    spec
}

/// Waits (bounded) until a leader serves and every member of `among` serves; the leader.
fn serving(cluster: &Cluster, among: &[usize], what: &str) -> usize {
    common::serving(cluster, among, what, sasl_lines)
}

/// The lines of every member's log about SASL and peer connections.
fn sasl_lines(cluster: &Cluster) -> String {
    common::log_lines(cluster, |l| {
        l.contains("sasl") || l.contains("authent") || l.contains("connection")
    })
}

/// The last lines of node `i`'s log, for failure messages.
fn tail(cluster: &Cluster, i: usize) -> String {
    let log = common::node_log(cluster, i);
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A session with member `i`.
async fn connect(cluster: &Cluster, i: usize) -> zookeeper_client::Client {
    common::member_session(cluster, i, sasl_lines).await
}

/// Creates `path` through member `from` and reads it back through member `to`.
async fn write_and_read(cluster: &Cluster, from: usize, to: usize, path: &str) {
    common::write_and_read(cluster, from, to, path, b"sasl", sasl_lines).await;
}

/// With `quorum.auth.enableSasl=true` a member without its JAAS file, or whose file lacks a
/// quorum section, stops at start with an error naming what is missing (Java's
/// `QuorumPeer.initialize` throws too), before anything listens.
#[test]
fn quorum_sasl_without_its_jaas_sections_stops_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let lines = format!(
        "initLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n\
         server.3=127.0.0.3:2888:3888\n{REQUIRED}"
    );
    let cfg = common::write_config(dir.path(), port, &lines);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/myid"), "1\n").unwrap();
    let jaas = dir.path().join("jaas.conf");
    let server_only = JAAS.split("QuorumLearner").next().unwrap();
    std::fs::write(&jaas, server_only).unwrap();
    let property = format!("-Djava.security.auth.login.config={}", jaas.display());
    for (extra, want) in [
        (None, "needs a JAAS file"),
        (
            Some(property.as_str()),
            "section 'QuorumLearner' could not be found",
        ),
    ] {
        // It exits by itself: nothing to wait for but the process.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
            .arg("--config")
            .arg(&cfg)
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "started: {stdout}{stderr}");
        assert!(
            stderr.contains(want) || stdout.contains(want),
            "{want}: {stdout}{stderr}"
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}

/// Three Ferrokeeper members requiring quorum SASL elect, serve a write on every member,
/// and elect again after the leader is killed; each authenticated its peers (its log says
/// so, as Java's does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_requiring_sasl_elect_serve_and_survive_the_leaders_death() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = common::start_cluster(spec(vec![ferrokeeper(); 3], dir.path())).await;
    let all = [0, 1, 2];
    let leader = serving(&cluster, &all, "three members");
    let follower = (leader + 1) % 3;
    write_and_read(&cluster, follower, leader, "/before").await;
    for i in all {
        let log = common::node_log(&cluster, i);
        assert!(
            log.contains("Successfully completed the authentication using SASL. learner addr"),
            "member {} authenticated nobody:\n{}",
            i + 1,
            tail(&cluster, i)
        );
    }
    // Followers authenticated to the leader's quorum port too.
    let leader_log = common::node_log(&cluster, leader);
    assert!(
        leader_log.contains("(quorum port), user: peer"),
        "the leader authenticated no learner on its quorum port:\n{}",
        tail(&cluster, leader)
    );

    cluster.kill(leader);
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let new_leader = serving(&cluster, &rest, "after the leader's death");
    let other = rest.iter().copied().find(|&i| i != new_leader).unwrap();
    write_and_read(&cluster, other, new_leader, "/after").await;
    let reader = connect(&cluster, other).await;
    assert!(reader.get_data("/before").await.is_ok());
}

/// A member that authenticates with the wrong password (its `quorum.auth.learner.
/// saslLoginContext` names `BadLearner`) cannot join: the other two keep serving, it
/// serves nobody, its log says the leader refused it, and the leader's log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_the_wrong_learner_password_cannot_join() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = common::start_cluster(spec(vec![ferrokeeper(); 3], dir.path())).await;
    // Member 1 comes back with the wrong password (a later line overrides the earlier).
    let bad = 0;
    cluster.kill(bad);
    let cfg = cluster.dir(bad).join("zoo.cfg");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("quorum.auth.learner.saslLoginContext=BadLearner\n");
    std::fs::write(&cfg, text).unwrap();
    cluster.start_node(bad).expect("restart member 1");

    let leader = serving(&cluster, &[1, 2], "the two good members");
    // Member 1 hears the others' votes on connections they made (authenticated by its own
    // server side), follows the leader, and is refused on the leader's quorum port.
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = |c: &Cluster| {
        common::node_log(c, bad).contains("Authentication failed against server addr")
            && common::node_log(c, leader).contains("digest response mismatch for user 'peer'")
            && common::node_log(c, bad).contains("the leader's quorum port")
            && common::node_log(c, leader).contains("Server failed to authenticate quorum learner")
    };
    while !refused(&cluster) {
        assert!(
            Instant::now() < deadline,
            "no refusal logged.\nmember 1:\n{}\nleader (member {}):\n{}",
            tail(&cluster, bad),
            leader + 1,
            tail(&cluster, leader)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cluster.is_running(bad), "member 1 exited");
    assert_eq!(cluster.mode(bad), None, "member 1 serves");
    // The good members still serve.
    assert_eq!(serving(&cluster, &[1, 2], "after the refusals"), leader);
    let follower = if leader == 1 { 2 } else { 1 };
    write_and_read(&cluster, follower, leader, "/still").await;
    assert_eq!(cluster.mode(bad), None, "member 1 serves");
}

/// Whether node `i` logged a learner-side SASL success against the port `port` (Java:
/// `server addr: /127.0.0.1:<port>, status: SUCCESS`; Ferrokeeper: `server addr:
/// 127.0.0.1:<port> (...)`).
fn authenticated_to(cluster: &Cluster, i: usize, port: u16) -> bool {
    common::node_log(cluster, i).lines().any(|l| {
        l.contains("Successfully completed the authentication using SASL. server addr")
            && (l.contains(&format!(":{port},")) || l.contains(&format!(":{port} ")))
    })
}

/// Mixed with Java: every member requires SASL of every peer, so each joins only by
/// authenticating (and being authenticated) across kinds. The Ferrokeeper member is `fk`;
/// with `fk_leads` it must end up leading (a Java member that won a race to lead is
/// restarted), otherwise a Java member leads. Then each learner's log must show its SASL
/// success against the leader's quorum port, and for each pair of kinds the larger sid's
/// against the smaller's election port (the larger sid makes every election connection
/// that is kept).
async fn mixed(kinds: Vec<NodeKind>, fk: usize, fk_leads: bool, what: &str) {
    if !common::java_ensemble_available("quorum_sasl", what) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = common::start_cluster(spec(kinds, dir.path())).await;
    let all = [0, 1, 2];
    let leader = common::lead_as_arranged(&mut cluster, fk, fk_leads, what, sasl_lines);
    for i in all {
        write_and_read(&cluster, i, (i + 1) % 3, &format!("/m{i}")).await;
    }
    // No member refused another's credentials, or was refused.
    for i in all {
        let log = common::node_log(&cluster, i);
        assert!(
            !log.contains("Authentication failed against server")
                && !log.contains("mismatch")
                && !log.contains("not authorized"),
            "{what}: member {} logs a refusal:\n{}",
            i + 1,
            sasl_lines(&cluster)
        );
    }
    let mut crossings = Vec::new();
    for i in all.into_iter().filter(|&i| i != leader) {
        crossings.push((i, leader, "quorum"));
    }
    for j in all.into_iter().filter(|&j| j != fk) {
        crossings.push((fk.max(j), fk.min(j), "election"));
    }
    for (learner, server, port) in crossings {
        let (quorum, election) = common::peer_ports(&cluster, server);
        let p = if port == "quorum" { quorum } else { election };
        assert!(
            authenticated_to(&cluster, learner, p),
            "{what}: member {} logs no SASL success against member {}'s {port} port ({p}):\n{}",
            learner + 1,
            server + 1,
            sasl_lines(&cluster)
        );
    }
    common::assert_no_digest_mismatches(&cluster, &all, what);
    // Nothing about the peer protocol either: a learner that gave up an exchange the Java
    // leader was still in (it dialled again while the leader was slow) made the leader log
    // "Failed to authenticate using SASL" once.
    common::assert_java_logs_clean(&cluster, &all, common::Disruptions::Some, what);
}

/// A Ferrokeeper follower (sid 1) of a Java leader: it authenticates to Java's server side
/// on the quorum port, and the Java members authenticate to its server side on the
/// election port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrokeeper_learner_of_a_java_leader_authenticates() {
    let kinds = vec![ferrokeeper(), NodeKind::Java, NodeKind::Java];
    let what = "a Ferrokeeper follower of a Java leader, SASL required";
    mixed(kinds, 0, false, what).await;
}

/// Java followers of a Ferrokeeper leader (sid 3): they authenticate to its server side on
/// the quorum port, and it authenticates to theirs on the election port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_learners_of_a_ferrokeeper_leader_authenticate() {
    let kinds = vec![NodeKind::Java, NodeKind::Java, ferrokeeper()];
    let what = "Java followers of a Ferrokeeper leader, SASL required";
    mixed(kinds, 2, true, what).await;
}
