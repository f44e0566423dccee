//! The peer transport (`zk_server::quorum`) over real sockets on 127.0.0.1.
//!
//! * Ensembles of three and five zk-zab [`Peer`]s, each driven by a small test driver
//!   ([`Driver`]: an in-memory log and epoch files acknowledged at once, the half-tick
//!   timer) over its own [`PeerNet`], elect a leader, establish, commit a few hundred
//!   proposals in the same order everywhere; the leader is stopped, the others elect a new
//!   leader holding every committed txn, and the old leader restarted from its durable state
//!   rejoins and syncs.
//! * Hostile peers: garbage and oversize bytes, unknown sids, connections that vanish inside
//!   a frame, on both ports: the transport closes that connection and keeps serving.
//! * The larger-sid rule, the SNAP stream carried as its own item.
//!
//! Every wait is an awaited event with a bounded timeout.

use std::collections::BTreeMap;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use zk_server::quorum::{Delivered, Member, PeerNet, ACCEPTED_CONN, MAX_HANDSHAKES};
use zk_zab::peer::{Message, PeerRole};
use zk_zab::wire::election::{
    encode_frame, InitialMessage, Notification, NotificationForm, PeerAddress, ServerState,
};
use zk_zab::wire::packet::{LearnerInfoData, Packet};

mod support;
use support::*;

fn version0() -> Bytes {
    Bytes::from_static(b"version=0")
}

/// An ensemble of drivers and the counter they bump on every change.
struct Ensemble {
    members: BTreeMap<i64, Member>,
    drivers: BTreeMap<i64, Driver>,
    changed: watch::Sender<u64>,
}

impl Ensemble {
    async fn start(n: i64) -> Ensemble {
        let sids: Vec<i64> = (1..=n).collect();
        let members = members(&sids);
        let changed = watch::channel(0).0;
        let mut drivers = BTreeMap::new();
        for &sid in &sids {
            let d = Driver::start(
                sid,
                &members,
                Durable::default(),
                1,
                changed.clone(),
                version0(),
            )
            .await;
            drivers.insert(sid, d);
        }
        Ensemble {
            members,
            drivers,
            changed,
        }
    }

    /// Waits (bounded) until `cond` holds over the running drivers' statuses.
    async fn await_cond(&self, what: &str, cond: impl Fn(&BTreeMap<i64, Status>) -> bool) {
        let mut rx = self.changed.subscribe();
        let wait = async {
            loop {
                rx.borrow_and_update();
                let statuses: BTreeMap<i64, Status> = self
                    .drivers
                    .iter()
                    .map(|(&sid, d)| (sid, d.status()))
                    .collect();
                if cond(&statuses) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(WAIT, wait).await.is_err() {
            let statuses: Vec<String> = self
                .drivers
                .values()
                .map(|d| {
                    let s = d.status();
                    format!(
                        "{}: {:?} established {:?} serving {} committed {}",
                        d.sid,
                        s.role,
                        s.established,
                        s.serving,
                        s.committed.len()
                    )
                })
                .collect();
            panic!("timed out waiting for {what}: {statuses:#?}");
        }
    }

    /// Waits for an established leader that every other running driver follows and is
    /// served by; returns its sid.
    async fn await_leader(&self) -> i64 {
        self.await_cond("a leader and serving followers", |s| {
            let Some((&leader, _)) = s.iter().find(|(_, st)| st.established.is_some()) else {
                return false;
            };
            s.iter().all(|(&sid, st)| {
                sid == leader || (st.serving && st.role == Some(PeerRole::Following { leader }))
            })
        })
        .await;
        let leader = self
            .drivers
            .values()
            .find(|d| d.status().established.is_some())
            .map(|d| d.sid);
        leader.expect("a leader")
    }

    /// Proposes `n` records numbered from `tag * 100_000` at `leader` (each an `ErrorTxn`
    /// record: one int, so that a follower parses it back the same) and waits until every
    /// running driver committed them.
    async fn propose(&self, leader: i64, tag: i32, n: usize) -> Vec<Bytes> {
        let bodies: Vec<Bytes> = (0..n as i32)
            .map(|i| Bytes::copy_from_slice(&(tag * 100_000 + i).to_be_bytes()))
            .collect();
        for b in &bodies {
            self.drivers[&leader].propose.send(b.clone()).unwrap();
        }
        let last = bodies.last().cloned().expect("n > 0");
        self.await_cond(&format!("every peer committing {tag}"), |s| {
            s.values()
                .all(|st| st.committed.iter().any(|(_, b)| *b == last))
        })
        .await;
        bodies
    }
}

/// Every running driver committed the same (zxid, record) sequence, ending with `tail`.
fn assert_same_commits(e: &Ensemble, tail: &[Bytes]) -> Vec<(i64, Bytes)> {
    let all: Vec<(i64, Vec<(i64, Bytes)>)> = e
        .drivers
        .values()
        .map(|d| (d.sid, d.status().committed))
        .collect();
    let (first_sid, first) = &all[0];
    for (sid, c) in &all[1..] {
        // A restarted peer's list starts at its restart: compare the common suffix.
        let n = c.len().min(first.len());
        assert_eq!(
            c[c.len() - n..],
            first[first.len() - n..],
            "servers {first_sid} and {sid} committed different sequences"
        );
    }
    let bodies: Vec<Bytes> = first.iter().map(|(_, b)| b.clone()).collect();
    assert!(bodies.ends_with(tail), "the proposals committed in order");
    let zxids: Vec<i64> = first.iter().map(|(z, _)| *z).collect();
    assert!(zxids.windows(2).all(|w| w[0] < w[1]), "zxids increase");
    first.clone()
}

async fn ensemble_survives_its_leader(n: i64, txns: usize) {
    let started = std::time::Instant::now();
    let mut e = Ensemble::start(n).await;
    let leader = e.await_leader().await;
    let elected = started.elapsed();
    let first = e.propose(leader, 1, txns).await;
    // For the record (run with --nocapture): election and commit times on this machine.
    eprintln!(
        "{n} peers: leader {leader} established and followers serving after {elected:?}; \
         {txns} proposals committed everywhere {:?} later",
        started.elapsed() - elected
    );
    let committed = assert_same_commits(&e, &first);
    assert_eq!(committed.len(), txns);

    // The leader dies (its sockets close); the others elect a leader holding every commit.
    let old = e.drivers.remove(&leader).unwrap();
    let durable = old.stop().await;
    assert_eq!(durable.log.len(), txns, "the old leader's log");
    let failed = std::time::Instant::now();
    let leader2 = e.await_leader().await;
    assert_ne!(leader2, leader);
    eprintln!(
        "{n} peers: leader {leader2} took over after {:?}",
        failed.elapsed()
    );
    let log = e.drivers[&leader2].status().log;
    for (zxid, _) in &committed {
        assert!(log.contains(zxid), "new leader {leader2} lacks {zxid:#x}");
    }
    let second = e.propose(leader2, 2, 50).await;
    assert_same_commits(&e, &second);

    // The old leader comes back from its durable state and syncs with the new one.
    let d = Driver::start(
        leader,
        &e.members,
        durable,
        2,
        e.changed.clone(),
        version0(),
    )
    .await;
    e.drivers.insert(leader, d);
    assert_eq!(e.await_leader().await, leader2);
    let third = e.propose(leader2, 3, 20).await;
    assert_same_commits(&e, &third);
    let want = e.drivers[&leader2].status().log;
    assert_eq!(e.drivers[&leader].status().log, want, "the rejoined log");
    assert_eq!(want.len(), txns + 50 + 20);
    for (_, d) in std::mem::take(&mut e.drivers) {
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_restarts_and_catches_up_again_and_again() {
    let mut e = Ensemble::start(3).await;
    let leader = e.await_leader().await;
    let follower = *e.drivers.keys().find(|&&s| s != leader).unwrap();
    e.propose(leader, 1, 30).await;
    // Bounded: three rounds of stop, write without it, restart, catch up.
    for round in 0..3u64 {
        let durable = e.drivers.remove(&follower).unwrap().stop().await;
        let missed = e.propose(leader, 10 + round as i32, 40).await;
        let d = Driver::start(
            follower,
            &e.members,
            durable,
            2 + round,
            e.changed.clone(),
            version0(),
        )
        .await;
        e.drivers.insert(follower, d);
        assert_eq!(e.await_leader().await, leader, "round {round}: same leader");
        let want = e.drivers[&leader].status().log;
        e.await_cond("the follower's log caught up", |s| s[&follower].log == want)
            .await;
        assert!(e.drivers[&follower].status().log.len() >= missed.len());
    }
    let tail = e.propose(leader, 99, 10).await;
    assert_same_commits(&e, &tail);
    for (_, d) in std::mem::take(&mut e.drivers) {
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_elect_commit_fail_over_and_rejoin() {
    ensemble_survives_its_leader(3, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_elect_commit_fail_over_and_rejoin() {
    ensemble_survives_its_leader(5, 200).await;
}

// ---------------------------------------------------------------------------------------
// Hostile peers and the connection rules, against one transport
// ---------------------------------------------------------------------------------------

async fn recv(rx: &mut mpsc::Receiver<Delivered>) -> Delivered {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an item within the wait")
        .expect("the transport is running")
}

/// Waits until the other side closes `s` (EOF or reset), ignoring what it sends first.
async fn await_closed(s: &mut TcpStream) {
    let mut b = [0u8; 1024];
    let closed = async {
        loop {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(WAIT, closed)
        .await
        .expect("the transport closed the connection");
}

async fn dial_as(sid: i64, to: &PeerAddress, from_port: u16) -> TcpStream {
    let mut s = TcpStream::connect((to.host.as_str(), to.port))
        .await
        .unwrap();
    let hello = InitialMessage::v1(sid, PeerAddress::new("127.0.0.1", from_port));
    s.write_all(&hello.to_bytes()).await.unwrap();
    s
}

fn notification(leader: i64) -> Notification {
    Notification::v2(
        ServerState::Looking,
        leader,
        0,
        1,
        0,
        Bytes::from_static(b"version=0"),
    )
}

fn frame(n: &Notification) -> Bytes {
    let mut b = BytesMut::new();
    encode_frame(&n.to_bytes(NotificationForm::V2), &mut b);
    b.freeze()
}

/// Sends a notification on `s` (server 3's connection) and expects it delivered.
async fn notify_as_3(s: &mut TcpStream, rx: &mut mpsc::Receiver<Delivered>) {
    s.write_all(&frame(&notification(3))).await.unwrap();
    let want = Delivered::Message {
        from: 3,
        message: Message::Election(notification(3)),
    };
    assert_eq!(recv(rx).await, want);
}

#[tokio::test]
async fn hostile_election_peers_are_closed_and_the_port_keeps_serving() {
    let m = members(&[1, 2, 3]);
    let (net, mut rx) = PeerNet::start(net_config(1, &m), 64).await.unwrap();
    let el = m[&1].election.clone();
    let p3 = m[&3].election.port;

    // An unknown protocol version.
    let mut s = TcpStream::connect((el.host.as_str(), el.port))
        .await
        .unwrap();
    s.write_all(&(-5i64).to_be_bytes()).await.unwrap();
    s.write_all(b"garbage garbage garbage").await.unwrap();
    await_closed(&mut s).await;

    // An address length over 2048.
    let mut s = TcpStream::connect((el.host.as_str(), el.port))
        .await
        .unwrap();
    let mut b = BytesMut::new();
    b.put_i64(-65536);
    b.put_i64(3);
    b.put_i32(1 << 30);
    s.write_all(&b).await.unwrap();
    await_closed(&mut s).await;

    // A sid that is not a member, and our own sid.
    let mut s = dial_as(99, &el, 1).await;
    await_closed(&mut s).await;
    let mut s = dial_as(1, &el, 1).await;
    await_closed(&mut s).await;

    // A member whose frame length is oversize: up, then closed.
    let mut s = dial_as(3, &el, p3).await;
    assert_eq!(recv(&mut rx).await, Delivered::ElectionUp { sid: 3 });
    s.write_all(&(0x7fff_ffffi32).to_be_bytes()).await.unwrap();
    await_closed(&mut s).await;
    assert_eq!(recv(&mut rx).await, Delivered::ElectionDown { sid: 3 });

    // A connection that vanishes inside a frame.
    let mut s = dial_as(3, &el, p3).await;
    assert_eq!(recv(&mut rx).await, Delivered::ElectionUp { sid: 3 });
    let f = frame(&notification(3));
    s.write_all(&f[..f.len() / 2]).await.unwrap();
    drop(s);
    assert_eq!(recv(&mut rx).await, Delivered::ElectionDown { sid: 3 });

    // A malformed notification is dropped, the connection stays; a good one arrives.
    let mut s = dial_as(3, &el, p3).await;
    assert_eq!(recv(&mut rx).await, Delivered::ElectionUp { sid: 3 });
    let mut short = BytesMut::new();
    encode_frame(b"tiny", &mut short);
    s.write_all(&short).await.unwrap();
    notify_as_3(&mut s, &mut rx).await;

    // A pre-3.5 initial message (a bare sid) is accepted too, and replaces the connection.
    let mut legacy = TcpStream::connect((el.host.as_str(), el.port))
        .await
        .unwrap();
    legacy.write_all(&3i64.to_be_bytes()).await.unwrap();
    assert_eq!(recv(&mut rx).await, Delivered::ElectionUp { sid: 3 });
    await_closed(&mut s).await;
    notify_as_3(&mut legacy, &mut rx).await;
    let mut s = legacy;

    // Our notification to 3 goes out on that connection (we keep 3's: 3 > 1).
    net.send(3, Message::Election(notification(1)));
    let mut got = vec![0u8; frame(&notification(1)).len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, frame(&notification(1))[..]);
    net.shutdown().await;
}

/// Reads the initial message a dialling transport sends; returns it and what followed.
async fn read_hello(s: &mut TcpStream) -> (InitialMessage, BytesMut) {
    let mut buf = BytesMut::new();
    // Bounded: each pass reads at least a byte and the message is at most 2068 bytes.
    loop {
        if let Some(m) = InitialMessage::decode(&mut buf).unwrap() {
            return (m, buf);
        }
        let n = tokio::time::timeout(WAIT, s.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the initial message");
    }
}

#[tokio::test]
async fn a_smaller_sid_is_called_back_and_the_newest_notification_is_sent() {
    let m = members(&[1, 2]);
    // Server 1 is played by the test: its election address is ours.
    let l1 = TcpListener::bind(("127.0.0.1", m[&1].election.port))
        .await
        .unwrap();
    let (net, mut rx) = PeerNet::start(net_config(2, &m), 64).await.unwrap();
    // Two notifications before any connection: only the newest survives.
    net.send(1, Message::Election(notification(7)));
    net.send(1, Message::Election(notification(2)));
    // Server 2 dials us (2 > 1): it keeps that connection, sends its hello and the newest.
    let (mut a, _) = tokio::time::timeout(WAIT, l1.accept())
        .await
        .unwrap()
        .unwrap();
    let (hello, mut buf) = read_hello(&mut a).await;
    assert_eq!(hello.sid, 2);
    assert_eq!(hello.addresses, vec![m[&2].election.clone()]);
    let want = frame(&notification(2));
    while buf.len() < want.len() {
        tokio::time::timeout(WAIT, a.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        &buf[..want.len()],
        &want[..],
        "only the newest notification"
    );
    assert_eq!(recv(&mut rx).await, Delivered::ElectionUp { sid: 1 });

    // Server 1 dials server 2: 2 closes it (1 < 2) and calls back.
    let mut s = dial_as(1, &m[&2].election, m[&1].election.port).await;
    await_closed(&mut s).await;
    let (mut b, _) = tokio::time::timeout(WAIT, l1.accept())
        .await
        .unwrap()
        .unwrap();
    let (hello, _) = read_hello(&mut b).await;
    assert_eq!(hello.sid, 2);
    // The call-back replaces the first connection.
    await_closed(&mut a).await;
    net.shutdown().await;
}

fn follower_info(sid: i64) -> Bytes {
    Packet::FollowerInfo {
        zxid: 1 << 32,
        info: LearnerInfoData::full(sid, 0),
    }
    .to_bytes()
}

/// The next item, skipping the ends of connections closed before they named a learner
/// (the hostile ones: when their end is seen depends on scheduling).
async fn recv_named(rx: &mut mpsc::Receiver<Delivered>) -> Delivered {
    // Bounded by the connections a test opens.
    loop {
        match recv(rx).await {
            Delivered::QuorumDown { sid: None, .. } => {}
            other => return other,
        }
    }
}

#[tokio::test]
async fn hostile_learners_are_closed_and_the_leader_keeps_serving() {
    let m = members(&[1, 2, 3]);
    let (net, mut rx) = PeerNet::start(net_config(1, &m), 64).await.unwrap();
    net.role_changed(PeerRole::Leading);
    let q = net.quorum_addr();

    // A data length over jute.maxbuffer + extrasize.
    let mut s = TcpStream::connect(q).await.unwrap();
    let mut b = BytesMut::new();
    b.put_i32(11);
    b.put_i64(0);
    b.put_i32(i32::MAX);
    s.write_all(&b).await.unwrap();
    await_closed(&mut s).await;

    // A first packet that is not FOLLOWERINFO; an unknown sid.
    let mut s = TcpStream::connect(q).await.unwrap();
    s.write_all(&Packet::Ack { zxid: 5 }.to_bytes())
        .await
        .unwrap();
    await_closed(&mut s).await;
    let mut s = TcpStream::connect(q).await.unwrap();
    s.write_all(&follower_info(42)).await.unwrap();
    await_closed(&mut s).await;

    // Half a packet, then gone.
    let mut s = TcpStream::connect(q).await.unwrap();
    let fi = follower_info(2);
    s.write_all(&fi[..fi.len() - 3]).await.unwrap();
    drop(s);

    // A real learner: up, its packet delivered, our answer written on its connection.
    let mut s = TcpStream::connect(q).await.unwrap();
    s.write_all(&follower_info(3)).await.unwrap();
    let (conn, sid) = match recv_named(&mut rx).await {
        Delivered::QuorumUp { conn, sid } => (conn, sid),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(sid, 3);
    assert_ne!(conn & ACCEPTED_CONN, 0);
    match recv_named(&mut rx).await {
        Delivered::Message {
            from: 3,
            message: Message::Quorum { conn: c, packet },
        } => {
            assert_eq!(c, conn);
            assert!(matches!(packet, Packet::FollowerInfo { .. }));
        }
        other => panic!("unexpected {other:?}"),
    }
    let reply = Packet::LeaderInfo {
        zxid: 2 << 32,
        protocol_version: 0x10000,
    };
    net.send(
        3,
        Message::Quorum {
            conn,
            packet: reply.clone(),
        },
    );
    let want = reply.to_bytes();
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want[..]);
    // Stepping down closes it, and says so, naming the learner.
    net.role_changed(PeerRole::Looking);
    await_closed(&mut s).await;
    match recv_named(&mut rx).await {
        Delivered::QuorumDown { conn: c, sid, .. } => assert_eq!((c, sid), (conn, Some(3))),
        other => panic!("unexpected {other:?}"),
    }

    // A learner that connects while we are not leading waits, and is served once we lead.
    let mut early = TcpStream::connect(q).await.unwrap();
    early.write_all(&follower_info(2)).await.unwrap();
    net.role_changed(PeerRole::Leading);
    match recv_named(&mut rx).await {
        Delivered::QuorumUp { sid, .. } => assert_eq!(sid, 2),
        other => panic!("unexpected {other:?}"),
    }
    net.shutdown().await;
    await_closed(&mut early).await;
}

#[tokio::test]
async fn a_learner_gives_up_on_a_silent_leader_address_within_init_limit() {
    let m = members(&[1, 2]);
    // Nobody listens on server 2's quorum port.
    let mut cfg = net_config(1, &m);
    cfg.init_limit = 3;
    let (net, mut rx) = PeerNet::start(cfg, 64).await.unwrap();
    let conn = (1 << 32) | 7;
    let started = std::time::Instant::now();
    net.send(
        2,
        Message::Quorum {
            conn,
            packet: Packet::Ack { zxid: 0 },
        },
    );
    match recv(&mut rx).await {
        Delivered::QuorumDown {
            conn: c,
            sid,
            reason,
        } => {
            assert_eq!((c, sid), (conn, Some(2)));
            assert!(reason.contains("could not connect"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // 5 attempts 100 ms apart, within initLimit ticks (600 ms).
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection id is spent: a later send on it dials nothing.
    net.send(
        2,
        Message::Quorum {
            conn,
            packet: Packet::Ack { zxid: 0 },
        },
    );
    net.shutdown().await;
    assert!(rx.recv().await.is_none(), "nothing more after shutdown");
}

/// The stream a leader writes after SNAP, from zk-tree's snapshot writer (a snapshot
/// file's body: no file header, no seal) and the signature.
fn snap_stream() -> Vec<u8> {
    let tree = zk_tree::DataTree::new();
    let mut file = Vec::new();
    let opts = zk_tree::snapshot::WriteOptions { digest: false };
    zk_tree::snapshot::write_snapshot(&tree, vec![(0x1234i64, 30000i32)], &mut file, &opts)
        .unwrap();
    zk_server::quorum::snap_stream::file_to_stream(&file).unwrap()
}

#[tokio::test]
async fn a_learner_dials_the_leader_and_gets_the_snap_stream_as_one_item() {
    let m = members(&[1, 2]);
    // Server 2 (the leader) is played by the test.
    let leader = TcpListener::bind(("127.0.0.1", m[&2].quorum.port))
        .await
        .unwrap();
    let (net, mut rx) = PeerNet::start(net_config(1, &m), 64).await.unwrap();
    net.role_changed(PeerRole::Following { leader: 2 });
    let conn = (1 << 32) | 1;
    net.send(
        2,
        Message::Quorum {
            conn,
            packet: Packet::FollowerInfo {
                zxid: 0,
                info: LearnerInfoData::full(1, 0),
            },
        },
    );
    let (mut s, _) = tokio::time::timeout(WAIT, leader.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recv(&mut rx).await, Delivered::QuorumUp { conn, sid: 2 });
    let fi = follower_info(1);
    let mut got = vec![0u8; fi.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(
        Packet::decode(Bytes::from(got), zk_zab::wire::packet::default_limits()).unwrap(),
        Some(Packet::FollowerInfo {
            zxid: 0,
            info: LearnerInfoData::full(1, 0)
        })
    );
    // SNAP, the stream, NEWLEADER: written in small pieces to cross every boundary.
    let stream = snap_stream();
    let newleader = Packet::NewLeader {
        zxid: 1 << 32,
        config: None,
    };
    let mut all = Packet::Snap { zxid: 0x99 }.to_bytes().to_vec();
    all.extend_from_slice(&stream);
    all.extend_from_slice(&newleader.to_bytes());
    for chunk in all.chunks(7) {
        s.write_all(chunk).await.unwrap();
    }
    assert_eq!(
        recv(&mut rx).await,
        Delivered::Snapshot {
            from: 2,
            conn,
            zxid: 0x99,
            stream: Bytes::from(stream),
        }
    );
    assert_eq!(
        recv(&mut rx).await,
        Delivered::Message {
            from: 2,
            message: Message::Quorum {
                conn,
                packet: newleader
            },
        }
    );
    // A newer connection id supersedes this one.
    net.send(
        2,
        Message::Quorum {
            conn: conn + 1,
            packet: Packet::Ack { zxid: 1 },
        },
    );
    await_closed(&mut s).await;
    net.shutdown().await;
}

#[tokio::test]
async fn silent_election_connections_are_bounded_and_timed_out() {
    let m = members(&[1, 2, 3]);
    let mut cfg = net_config(1, &m);
    cfg.cnx_timeout = Duration::from_millis(500);
    let (net, mut rx) = PeerNet::start(cfg, 64).await.unwrap();
    let el = net.election_addr();
    let mut silent = Vec::new();
    for _ in 0..MAX_HANDSHAKES {
        silent.push(TcpStream::connect(el).await.unwrap());
    }
    // One more is closed at once: every handshake slot is taken.
    let mut extra = TcpStream::connect(el).await.unwrap();
    await_closed(&mut extra).await;
    // The silent ones are closed after cnxTimeout, freeing the slots.
    for s in &mut silent {
        await_closed(s).await;
    }
    let mut s = dial_as(3, &m[&1].election, m[&3].election.port).await;
    assert_eq!(recv(&mut rx).await, Delivered::ElectionUp { sid: 3 });
    notify_as_3(&mut s, &mut rx).await;
    net.shutdown().await;
}
