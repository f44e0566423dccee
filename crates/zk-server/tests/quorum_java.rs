//! The peer transport in a 3-server ensemble with two Debian Apache ZooKeeper 3.8
//! `QuorumPeerMain` processes: one zk-zab [`Peer`](zk_zab::peer::Peer) (the driver of
//! `tests/support`) over `zk_server::quorum` on 127.0.0.1, the Java processes as judges.
//!
//! * [`java_leads_and_we_follow_over_the_transport`]: we are sid 1, Java 2 and 3. A Java
//!   server leads, the other and we follow; a client's writes reach us as proposals and
//!   commits with Java's zxids; the Java leader dies, the other leads the next epoch and we
//!   follow it.
//! * [`we_lead_java_followers_over_the_transport`]: we are sid 3, Java 1 and 2. We win the
//!   election, both Java servers follow us (`srvr`: `Mode: follower`) and log our
//!   proposals up to our last zxid.
//! * [`a_java_leader_syncs_us_by_snap`]: we join an established Java pair late; the Java
//!   leader's SNAP stream arrives as one `Delivered::Snapshot` that zk-tree's snapshot
//!   reader loads, and broadcast follows.
//!
//! Without Java or the jars the tests print a loud notice and pass, unless
//! `FERROKEEPER_REQUIRE_JAVA=1`. Java's state is only visible through its four-letter words,
//! so those waits poll (bounded); our side's waits are awaited events.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;
use zk_server::quorum::Member;
use zk_testkit::java::QuorumPeerProcess;
use zk_zab::peer::PeerRole;
use zk_zab::wire::election::PeerAddress;
use zookeeper_client as zk;

use support::{free_ports, Driver, Durable, Status, TICK, WAIT};

/// One scenario at a time: JVMs on a shared 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn java() -> Option<&'static (PathBuf, String)> {
    zk_testkit::java::server_launcher(
        "zk-server quorum_java",
        "the peer transport was NOT checked against running Apache ZooKeeper peers.",
    )
}

/// Members on 127.0.0.1 with free ports, and a client port each.
fn ensemble() -> (BTreeMap<i64, Member>, BTreeMap<i64, u16>) {
    let mut members = BTreeMap::new();
    let mut clients = BTreeMap::new();
    let mut ports = free_ports(9).into_iter();
    for sid in 1..=3 {
        let m = Member {
            election: PeerAddress::new("127.0.0.1", ports.next().unwrap()),
            quorum: PeerAddress::new("127.0.0.1", ports.next().unwrap()),
        };
        members.insert(sid, m);
        clients.insert(sid, ports.next().unwrap());
    }
    (members, clients)
}

fn server_lines(members: &BTreeMap<i64, Member>) -> String {
    members
        .iter()
        .map(|(sid, m)| {
            format!(
                "server.{sid}=127.0.0.1:{}:{}\n",
                m.quorum.port, m.election.port
            )
        })
        .collect()
}

/// Java's `QuorumVerifier.toString()` for these members, which every notification and
/// NEWLEADER carries (a Java server with `standaloneEnabled=false` needs the members in it).
fn config_text(members: &BTreeMap<i64, Member>) -> Bytes {
    let props = zk_config::JavaProperties::parse_str(&server_lines(members)).unwrap();
    let qv = zk_config::QuorumVerifier::from_properties(&props, false).unwrap();
    Bytes::from(qv.to_string())
}

/// A Java member.
struct JavaServer(QuorumPeerProcess);

impl JavaServer {
    fn start(dir: &Path, sid: i64, members: &BTreeMap<i64, Member>, client: u16) -> JavaServer {
        let launcher = java().expect("checked by the caller");
        let cfg = format!(
            "tickTime={}\ninitLimit=10\nsyncLimit=5\nclientPort={client}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             standaloneEnabled=false\n{}",
            TICK.as_millis(),
            server_lines(members)
        );
        JavaServer(QuorumPeerProcess::start(launcher, dir, sid, &cfg, client).unwrap())
    }

    fn srvr(&self) -> String {
        self.0.four_letter("srvr")
    }

    fn zxid(&self) -> Option<i64> {
        zxid_of(&tokio::task::block_in_place(|| self.srvr()))
    }

    fn log_tail(&self) -> String {
        self.0.log_tail(40)
    }

    /// Polls `srvr` (bounded) until `cond` holds of it and of our driver's status (a
    /// default one without a driver).
    async fn await_srvr(
        &self,
        what: &str,
        ours: Option<&Driver>,
        cond: impl Fn(&str, &Status) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        loop {
            let srvr = tokio::task::block_in_place(|| self.srvr());
            let status = ours.map(Driver::status).unwrap_or_default();
            if cond(&srvr, &status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never {what}: srvr {srvr:?}\nours: {:?} established {:?} serving {} committed {}\n\
                 Java log:\n{}",
                status.role,
                status.established,
                status.serving,
                status.committed.len(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `Zxid: 0x...` of a `srvr` answer.
fn zxid_of(srvr: &str) -> Option<i64> {
    let hex = srvr.lines().find_map(|l| l.strip_prefix("Zxid: 0x"))?;
    i64::from_str_radix(hex.trim(), 16).ok()
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("quorum_java")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn client(port: u16) -> zk::Client {
    let addr = format!("127.0.0.1:{port}");
    let connector = zk::Client::connector().with_session_timeout(Duration::from_secs(20));
    let connect = connector.connect(&addr);
    tokio::time::timeout(WAIT, connect)
        .await
        .expect("connects within the wait")
        .expect("connects")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Our server `sid`: a zk-zab peer over the transport, from an empty disk.
async fn start_ours(sid: i64, members: &BTreeMap<i64, Member>) -> Driver {
    let changed = watch::channel(0).0;
    let text = config_text(members);
    Driver::start(sid, members, Durable::default(), 1, changed, text).await
}

/// A scenario's start: `None` (after the skip notice) without Java; else the lock that
/// runs scenarios one at a time, a fresh directory and the ensemble's ports.
struct Scenario {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    dir: PathBuf,
    members: BTreeMap<i64, Member>,
    clients: BTreeMap<i64, u16>,
}

impl Scenario {
    async fn start(name: &str) -> Option<Scenario> {
        java()?;
        let _serial = SERIAL.lock().await;
        let (members, clients) = ensemble();
        Some(Scenario {
            _serial,
            dir: tmp(name),
            members,
            clients,
        })
    }
}

/// Java servers `sids`, each under `dir/<sid>`.
fn start_java(
    dir: &Path,
    sids: &[i64],
    members: &BTreeMap<i64, Member>,
    clients: &BTreeMap<i64, u16>,
) -> BTreeMap<i64, JavaServer> {
    sids.iter()
        .map(|&sid| {
            let j = JavaServer::start(&dir.join(sid.to_string()), sid, members, clients[&sid]);
            (sid, j)
        })
        .collect()
}

/// The last zxid our driver committed.
fn last_committed(s: &Status) -> Option<i64> {
    s.committed.last().map(|(z, _)| *z)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_leads_and_we_follow_over_the_transport() {
    let Some(Scenario {
        _serial,
        dir,
        members,
        clients,
    }) = Scenario::start("java_leads").await
    else {
        return;
    };
    // We start first, to be in the first election (a_java_leader_syncs_us_by_snap joins
    // late).
    let ours = start_ours(1, &members).await;
    let mut java = start_java(&dir, &[2, 3], &members, &clients);

    // Whichever Java server won (the JVMs start in any order), we follow it.
    let leading = |srvr: &str, st: &Status, sid: i64| {
        srvr.contains("Mode: leader")
            && st.serving
            && st.role == Some(PeerRole::Following { leader: sid })
    };
    java[&2]
        .await_srvr("a Java leader and us following it", Some(&ours), |_, st| {
            st.serving && matches!(st.role, Some(PeerRole::Following { leader: 2 | 3 }))
        })
        .await;
    let Some(PeerRole::Following { leader }) = ours.status().role else {
        unreachable!("waited for it");
    };
    let other = 5 - leader;
    java[&leader]
        .await_srvr("the Java leader we follow", Some(&ours), |srvr, st| {
            leading(srvr, st, leader)
        })
        .await;
    java[&other]
        .await_srvr("the other Java server following", Some(&ours), |srvr, _| {
            srvr.contains("Mode: follower")
        })
        .await;

    // A client's writes through the Java follower reach us with Java's zxids.
    let c = client(clients[&other]).await;
    for path in ["/peernet-a", "/peernet-b"] {
        c.create(path, b"x", &persistent()).await.unwrap();
    }
    let first_zxid = java[&leader].zxid().expect("the Java leader's zxid");
    java[&leader]
        .await_srvr("us committing Java's writes", Some(&ours), |_, st| {
            last_committed(st) == Some(first_zxid)
        })
        .await;
    drop(c);

    // The Java leader dies: the other (same history, larger sid than ours) leads the next
    // epoch, and we follow it.
    drop(java.remove(&leader));
    let survivor = &java[&other];
    survivor
        .await_srvr(
            "the other Java server leading, us following it",
            Some(&ours),
            |srvr, st| leading(srvr, st, other),
        )
        .await;
    let c = client(clients[&other]).await;
    c.create("/peernet-c", b"y", &persistent()).await.unwrap();
    let java_zxid = survivor.zxid().expect("the new leader's zxid");
    assert!(java_zxid >> 32 > first_zxid >> 32, "a new epoch");
    survivor
        .await_srvr(
            "us committing the new leader's write",
            Some(&ours),
            |_, st| last_committed(st) == Some(java_zxid),
        )
        .await;
    drop(c);
    let durable = ours.stop().await;
    assert_eq!(
        durable.log.last().map(|t| t.header().zxid),
        Some(java_zxid),
        "our log ends with Java's last write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_lead_java_followers_over_the_transport() {
    let Some(Scenario {
        _serial,
        dir,
        members,
        clients,
    }) = Scenario::start("we_lead").await
    else {
        return;
    };
    // We start first, so that we are in the first election (and win it).
    let ours = start_ours(3, &members).await;
    let j1 = JavaServer::start(&dir.join("1"), 1, &members, clients[&1]);
    let j2 = JavaServer::start(&dir.join("2"), 2, &members, clients[&2]);
    for j in [&j1, &j2] {
        j.await_srvr(
            "Java following us, us established",
            Some(&ours),
            |srvr, st| srvr.contains("Mode: follower") && st.established.is_some(),
        )
        .await;
    }
    // Our proposals (ErrorTxn records) are logged and committed by both Java followers.
    for i in 0..20i32 {
        ours.propose
            .send(Bytes::copy_from_slice(&i.to_be_bytes()))
            .unwrap();
    }
    let ours_ref = &ours;
    j1.await_srvr("our 20 commits", Some(ours_ref), |_, st| {
        st.committed.len() == 20
    })
    .await;
    let last = last_committed(&ours.status()).expect("committed");
    for j in [&j1, &j2] {
        j.await_srvr("Java at our last zxid", Some(ours_ref), |srvr, _| {
            zxid_of(srvr) == Some(last)
        })
        .await;
    }
    ours.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_leader_syncs_us_by_snap() {
    let Some(Scenario {
        _serial,
        dir,
        members,
        clients,
    }) = Scenario::start("snap").await
    else {
        return;
    };
    let java = start_java(&dir, &[2, 3], &members, &clients);
    // The two Java servers form the ensemble without us.
    java[&2]
        .await_srvr("a Java leader and follower", None, |srvr, _| {
            srvr.contains("Mode: leader")
                || (srvr.contains("Mode: follower") && java[&3].srvr().contains("Mode: leader"))
        })
        .await;
    let leader = if java[&2].srvr().contains("Mode: leader") {
        2
    } else {
        3
    };
    // We join late: the established leader (at zxid epoch<<32, with no committed log to
    // replay) syncs us by SNAP; the stream crosses the transport whole and zk-tree loads it.
    let ours = start_ours(1, &members).await;
    java[&leader]
        .await_srvr("us following the Java leader", Some(&ours), |_, st| {
            st.serving && st.role == Some(PeerRole::Following { leader })
        })
        .await;
    let snaps = ours.status().snapshots;
    assert_eq!(snaps.len(), 1, "one SNAP: {snaps:x?}");
    // Broadcast after the SNAP: a write through the other Java server reaches us.
    let c = client(clients[&(5 - leader)]).await;
    c.create("/peernet-after-snap", b"z", &persistent())
        .await
        .unwrap();
    let java_zxid = java[&leader].zxid().expect("the leader's zxid");
    java[&leader]
        .await_srvr(
            "us committing the write after the SNAP",
            Some(&ours),
            |_, st| last_committed(st) == Some(java_zxid),
        )
        .await;
    drop(c);
    ours.stop().await;
}
