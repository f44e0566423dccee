//! Quorum TLS (issue 14) on real processes, configured as Java 3.8 is: `sslQuorum=true`
//! and the `ssl.quorum.*` key and trust stores in zoo.cfg (JKS, PKCS12 and PEM, one kind
//! per member here), `portUnification=true` for a rolling move to TLS.
//!
//! * three Ferrokeeper members speak TLS on both peer ports: they elect, serve, refuse a
//!   peer speaking in the clear, and elect again after the leader is killed;
//! * a member whose certificate another CA signed cannot join, and the logs say why;
//! * mixed with Java 3.8 members, both ways (a Ferrokeeper learner of a Java leader, Java
//!   learners of a Ferrokeeper leader), with Java's logs clean of peer-protocol complaints;
//! * an ensemble (mixed when Java is here) moves from plaintext to TLS one member at a
//!   time with `portUnification`, serving throughout, and back out of unification.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_testkit::cluster::{Cluster, ClusterSpec, Network, NodeKind};
use zk_testkit::tls::{ca, issue_member, Ca};

const PASSWORD: &str = "quorumpw";

fn ferrokeeper() -> NodeKind {
    NodeKind::Ferrokeeper(PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper")))
}

/// Writes member `i`'s stores, signed by `ca`, into `dir`, in the store type `i` picks
/// (JKS, PKCS12 (made by keytool from the JKS; JKS again without a JDK), PEM); returns its
/// `ssl.quorum.*` zoo.cfg lines.
fn stores(dir: &Path, ca: &Ca, i: usize) -> String {
    let cert = issue_member(ca, &format!("member{}", i + 1));
    let name = format!("member{}", i + 1);
    let (ks, ts) = match i % 3 {
        2 => {
            let ks = cert.write_pem(dir, &name);
            let ts = dir.join(format!("{name}-trust.pem"));
            std::fs::write(&ts, ca.cert.pem()).unwrap();
            // No password: Java reads a PEM key with one as encrypted.
            return format!(
                "ssl.quorum.keyStore.location={}\nssl.quorum.trustStore.location={}\n",
                ks.display(),
                ts.display()
            );
        }
        kind => {
            let chain: [&[u8]; 1] = [cert.der.as_ref()];
            let jks = zk_server::tls::keystore::write_jks(
                PASSWORD,
                Some((cert.key.secret_pkcs8_der(), &chain)),
                &[],
                [i as u8 + 1; 20],
            );
            let ks = dir.join(format!("{name}.jks"));
            std::fs::write(&ks, jks).unwrap();
            let trust = zk_server::tls::keystore::write_jks(
                PASSWORD,
                None,
                &[ca.cert.der()],
                [i as u8 + 9; 20],
            );
            let ts = dir.join(format!("{name}-trust.jks"));
            std::fs::write(&ts, trust).unwrap();
            match (kind, zk_testkit::java::find_tool("keytool")) {
                (1, Some(keytool)) => (to_pkcs12(&keytool, &ks), ts),
                _ => (ks, ts),
            }
        }
    };
    format!(
        "ssl.quorum.keyStore.location={}\nssl.quorum.keyStore.password={PASSWORD}\n\
         ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.password={PASSWORD}\n",
        ks.display(),
        ts.display()
    )
}

/// `keytool -importkeystore`: the JKS store at `jks` as PKCS12, next to it.
fn to_pkcs12(keytool: &Path, jks: &Path) -> PathBuf {
    let p12 = jks.with_extension("p12");
    let out = std::process::Command::new(keytool)
        .args(["-importkeystore", "-noprompt", "-srcstoretype", "JKS"])
        .arg("-srckeystore")
        .arg(jks)
        .args(["-srcstorepass", PASSWORD, "-deststoretype", "PKCS12"])
        .arg("-destkeystore")
        .arg(&p12)
        .args(["-deststorepass", PASSWORD])
        .output()
        .expect("keytool");
    assert!(
        out.status.success(),
        "keytool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    p12
}

/// A spec for `kinds`, every member with its own stores signed by `ca` and `common` in its
/// zoo.cfg.
fn spec(kinds: Vec<NodeKind>, dir: &Path, ca: &Ca, common: &str) -> ClusterSpec {
    let mut spec = ClusterSpec::uniform(kinds.len(), ferrokeeper(), Network::Loopback);
    // A Java member bounds a TLS handshake it starts by tickTime * syncLimit; a JVM that
    // has just started takes seconds over its first handshakes on a busy machine, and the
    // dialling Java member then gives up and the slow one logs the closed socket
    // (`Exception reading or writing challenge`; seen between two Java members). 5 s.
    spec.sync_limit = 10;
    spec.node_extra = (0..kinds.len()).map(|i| stores(dir, ca, i)).collect();
    spec.kinds = kinds;
    spec.extra = common.to_string();
    spec
}

/// Waits (bounded) until a leader serves and every member of `among` serves; the leader.
fn serving(cluster: &Cluster, among: &[usize], what: &str) -> usize {
    common::serving(cluster, among, what, tls_lines)
}

/// The lines of every member's log about TLS, certificates and peer connections.
fn tls_lines(cluster: &Cluster) -> String {
    common::log_lines(cluster, |l| {
        l.contains("tls")
            || l.contains("ssl")
            || l.contains("certif")
            || l.contains("handshake")
            || l.contains("connection")
    })
}

/// A session with member `i`.
async fn connect(cluster: &Cluster, i: usize) -> zookeeper_client::Client {
    common::member_session(cluster, i, tls_lines).await
}

/// Creates `path` through member `from` and reads it back through member `to`.
async fn write_and_read(cluster: &Cluster, from: usize, to: usize, path: &str) {
    common::write_and_read(cluster, from, to, path, b"tls", tls_lines).await;
}

/// Sends `bytes` in the clear to `port` and returns what came back before the member
/// closed the connection (bounded: 15 s; `None` if it kept the connection open).
/// A TLS listener answers at most an alert record (`0x15`), as the JDK's does.
async fn plaintext_answer(port: u16, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut got)).await;
    match read {
        Ok(_) => Some(got),
        Err(_) => None,
    }
}

/// Whether `answer` is a refusal: the connection closed with nothing, or a TLS alert.
fn refused(answer: Option<&[u8]>) -> bool {
    matches!(answer, Some(a) if a.is_empty() || a[0] == 0x15)
}

/// A valid election-port initial message (protocol version -65536, sid, address) from
/// `sid`, in the clear.
fn initial_message(sid: i64, port: u16) -> Vec<u8> {
    let addr = format!("127.0.0.1:{port}");
    let mut m = Vec::new();
    m.extend_from_slice(&(-65536i64).to_be_bytes());
    m.extend_from_slice(&sid.to_be_bytes());
    m.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    m.extend_from_slice(addr.as_bytes());
    m
}

/// Three Ferrokeeper members with `sslQuorum=true` (a JKS, a PKCS12 and a PEM key store)
/// elect and serve; a peer that speaks in the clear is refused on both ports (nothing but
/// a closed connection comes back, and the log says why); the leader's death is survived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_speak_tls_on_both_peer_ports_and_refuse_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("Quorum CA");
    let spec = spec(vec![ferrokeeper(); 3], dir.path(), &ca, "sslQuorum=true\n");
    let mut cluster = common::start_cluster(spec).await;
    let all = [0, 1, 2];
    let leader = serving(&cluster, &all, "three TLS members");
    let follower = (leader + 1) % 3;
    write_and_read(&cluster, follower, leader, "/before").await;

    // In the clear: a member's initial message on the leader's election port, and a
    // FOLLOWERINFO-sized record on its quorum port.
    let (quorum, election) = common::peer_ports(&cluster, leader);
    let sid = follower as i64 + 1;
    let answer = plaintext_answer(election, &initial_message(sid, election)).await;
    assert!(
        refused(answer.as_deref()),
        "the election port answered plaintext: {answer:?}"
    );
    let answer = plaintext_answer(quorum, &[0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0]).await;
    assert!(
        refused(answer.as_deref()),
        "the quorum port answered plaintext: {answer:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = |c: &Cluster| {
        let log = common::node_log(c, leader);
        log.contains("election port: refusing the connection from")
            && log.contains("quorum port: refusing the connection from")
            && log.contains("quorum TLS: TLS handshake failed")
    };
    while !refused(&cluster) {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            tls_lines(&cluster)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The refusals cost the ensemble nothing.
    assert_eq!(serving(&cluster, &all, "after the refusals"), leader);

    cluster.kill(leader);
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let new_leader = serving(&cluster, &rest, "after the leader's death");
    let other = rest.iter().copied().find(|&i| i != new_leader).unwrap();
    write_and_read(&cluster, other, new_leader, "/after").await;
    let reader = connect(&cluster, other).await;
    assert!(reader.get_data("/before").await.is_ok());
    cluster.start_node(leader).expect("restart");
    serving(&cluster, &all, "the old leader back");
}

/// A member whose certificate another CA signed cannot join: the other two keep serving,
/// it serves nobody, and the logs name the failed handshakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_certificate_from_another_ca_cannot_join() {
    let dir = tempfile::tempdir().unwrap();
    let ca_good = ca("Quorum CA");
    let mut cluster = common::start_cluster(spec(
        vec![ferrokeeper(); 3],
        dir.path(),
        &ca_good,
        "sslQuorum=true\n",
    ))
    .await;
    serving(&cluster, &[0, 1, 2], "three TLS members");
    // Member 1 comes back with a key store another CA signed (its trust store still
    // trusts the ensemble's CA: the others must refuse it, not the other way round).
    let bad = 0;
    cluster.kill(bad);
    let rogue = ca("Rogue CA");
    let other_dir = dir.path().join("rogue");
    std::fs::create_dir_all(&other_dir).unwrap();
    let mut lines = stores(&other_dir, &rogue, 2);
    let good_trust = dir.path().join("member3-trust.pem");
    lines.push_str(&format!(
        "ssl.quorum.trustStore.location={}\n",
        good_trust.display()
    ));
    cluster.set_node_extra(bad, &lines).unwrap();
    cluster.start_node(bad).expect("restart member 1");

    let leader = serving(&cluster, &[1, 2], "the two good members");
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = |c: &Cluster| {
        common::node_log(c, bad).contains("TLS handshake failed")
            && (1..3).any(|i| common::node_log(c, i).contains("quorum TLS: TLS handshake failed"))
    };
    while !refused(&cluster) {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            tls_lines(&cluster)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cluster.is_running(bad), "member 1 exited");
    assert_eq!(cluster.mode(bad), None, "member 1 serves");
    assert_eq!(serving(&cluster, &[1, 2], "after the refusals"), leader);
    let follower = if leader == 1 { 2 } else { 1 };
    write_and_read(&cluster, follower, leader, "/still").await;
    assert_eq!(cluster.mode(bad), None, "member 1 serves");
}

/// Mixed with Java: every member speaks only TLS to its peers, so each joins only through
/// handshakes across kinds. The Ferrokeeper member is `fk`; with `fk_leads` it must end up
/// leading (a Java member that won a race to lead is restarted), otherwise a Java member
/// leads. Writes through every member, no digest mismatch, Java's logs clean.
async fn mixed(kinds: Vec<NodeKind>, fk: usize, fk_leads: bool, what: &str) {
    if !common::java_ensemble_available("quorum_tls", what) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("Quorum CA");
    let mut cluster = common::start_cluster(spec(kinds, dir.path(), &ca, "sslQuorum=true\n")).await;
    let all = [0, 1, 2];
    common::lead_as_arranged(&mut cluster, fk, fk_leads, what, tls_lines);
    for i in all {
        write_and_read(&cluster, i, (i + 1) % 3, &format!("/m{i}")).await;
    }
    let fk_log = common::node_log(&cluster, fk);
    assert!(
        !fk_log.contains("quorum TLS"),
        "{what}: the Ferrokeeper member refused or failed a handshake:\n{}",
        tls_lines(&cluster)
    );
    common::assert_no_digest_mismatches(&cluster, &all, what);
    common::assert_java_logs_clean(&cluster, &all, common::Disruptions::Some, what);
}

/// A Ferrokeeper follower (sid 1, JKS store) of a Java leader: TLS handshakes both ways
/// on the election port, and to Java's quorum port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ferrokeeper_learner_of_a_java_leader_speaks_tls() {
    let kinds = vec![ferrokeeper(), NodeKind::Java, NodeKind::Java];
    mixed(
        kinds,
        0,
        false,
        "a Ferrokeeper follower of a Java leader, sslQuorum",
    )
    .await;
}

/// Java followers (JKS and PKCS12 stores) of a Ferrokeeper leader (sid 3, PEM store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_learners_of_a_ferrokeeper_leader_speak_tls() {
    let kinds = vec![NodeKind::Java, NodeKind::Java, ferrokeeper()];
    mixed(
        kinds,
        2,
        true,
        "Java followers of a Ferrokeeper leader, sslQuorum",
    )
    .await;
}

/// The rolling move to TLS Java documents, under a client's writes: every member starts
/// in the clear with `portUnification=true`; one at a time, each restarts with
/// `sslQuorum=true` (dialling with TLS, still accepting both); then one at a time each
/// drops `portUnification` (TLS only). The ensemble serves after every restart, and at the
/// end a peer speaking in the clear is refused. Mixed (Ferrokeeper 1 and 3, Java 2) when
/// a JDK is here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_moves_to_tls_one_member_at_a_time() {
    let java = common::java_ensemble_available("quorum_tls", "rolling move to TLS, mixed");
    let middle = if java { NodeKind::Java } else { ferrokeeper() };
    let kinds = vec![ferrokeeper(), middle, ferrokeeper()];
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("Quorum CA");
    let spec = spec(kinds, dir.path(), &ca, "");
    let own: Vec<String> = spec.node_extra.clone();
    let mut cluster = common::start_cluster(spec).await;
    let all = [0, 1, 2];
    let restart_with = |cluster: &mut Cluster, i: usize, lines: &str| {
        cluster.stop(i);
        cluster
            .set_node_extra(i, &format!("{}{lines}", own[i]))
            .unwrap();
        cluster.start_node(i).expect("restart");
    };
    // Step 0: unification on, in the clear.
    for i in all {
        restart_with(&mut cluster, i, "portUnification=true\n");
        serving(&cluster, &all, &format!("member {} unified", i + 1));
    }
    let mut n = 0;
    write_and_read(&cluster, 0, 2, "/rolled0").await;
    // Step 1: TLS on, one member at a time.
    for i in all {
        restart_with(&mut cluster, i, "portUnification=true\nsslQuorum=true\n");
        let leader = serving(&cluster, &all, &format!("member {} on TLS", i + 1));
        n += 1;
        write_and_read(&cluster, (leader + 1) % 3, leader, &format!("/rolled{n}")).await;
    }
    // Step 2: unification off.
    for i in all {
        restart_with(&mut cluster, i, "sslQuorum=true\n");
        let leader = serving(&cluster, &all, &format!("member {} TLS only", i + 1));
        n += 1;
        write_and_read(&cluster, (leader + 1) % 3, leader, &format!("/rolled{n}")).await;
    }
    // Every write is there, and the clear is refused now.
    let reader = connect(&cluster, 1).await;
    for k in 0..=n {
        reader.sync("/").await.expect("sync");
        assert!(reader.get_data(&format!("/rolled{k}")).await.is_ok());
    }
    let (_, election) = common::peer_ports(&cluster, 0);
    let answer = plaintext_answer(election, &initial_message(2, election)).await;
    assert!(refused(answer.as_deref()), "plaintext accepted: {answer:?}");
    if java {
        // The Java member took both kinds of peers on its unified ports along the way.
        let log = common::node_log(&cluster, 1);
        assert!(
            log.contains("Accepted plaintext connection from")
                && log.contains("Accepted TLS connection from"),
            "the Java member saw no plaintext-then-TLS peers:\n{}",
            tls_lines(&cluster)
        );
    }
    common::assert_no_digest_mismatches(&cluster, &all, "rolling move to TLS");
}
