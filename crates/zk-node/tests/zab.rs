//! Three nodes with Zab as their role, on an in-test FIFO network whose disks are durable
//! at once: a client of a follower creates a node (forwarded to the leader, answered by the
//! follower when the COMMIT applies), reads it there, syncs, and every node's tree ends
//! equal; a node that is not serving closes connections. With a small `snapCount`
//! (`Net::with_snapshots`, the disks keep snapshots the nodes read back): members snapshot,
//! their peers' logs stay bounded, a restart from snapshot + log keeps the tree digest,
//! and a follower behind the leader's base comes back by SNAP. With read-only mode
//! (`Net::with_read_only`, time set by the test): a member left alone serves read-only
//! clients after the grace period and stops when it rejoins.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use zk_core::read::Response;
use zk_core::session::{session_password, SessionTable};
use zk_node::{
    Input, Node, NodeConfig, Now, Outgoing, Output, ReadOnlyMode, RoleKind, SnapshotPolicy,
    SnapshotSlice, Verifier,
};
use zk_proto::proto::{ConnectRequest, CreateRequest, GetDataRequest, SyncRequest};
use zk_proto::request::Request;
use zk_proto::JString;
use zk_tree::DataTree;
use zk_zab::learner::EpochFile;
use zk_zab::peer::{Command, Event, Message, Peer, PeerConfig};
use zk_zab::quorum::Majority;
use zk_zab::wire::packet::TxnPayload;

const WALL0: i64 = 1_700_000_000_000;
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Net {
    nodes: BTreeMap<i64, Node>,
    q: VecDeque<(i64, Input)>,
    /// Client traffic: (node, conn, what).
    sent: Vec<(i64, u64, Outgoing)>,
    /// Peer messages to these nodes wait in `held` (in order) instead of arriving.
    hold: Vec<i64>,
    held: Vec<(i64, Input)>,
    /// What each node's disk made durable (durable at once, in command order).
    disks: BTreeMap<i64, Disk>,
    /// `snapCount` of the nodes that snapshot (`None`: they never do).
    snap_count: Option<u64>,
    /// The longest log a peer held in memory after any step.
    max_log: usize,
    /// SNAPs sent, by recipient.
    snaps_to: Vec<i64>,
    /// Read-only mode of the nodes (`None`: off).
    read_only: Option<ReadOnlyMode>,
    /// The time every input is handled at (monotonic ms; the wall clock is `WALL0` later).
    now_ms: i64,
    /// Each node's pending peer timer (the last `SetTimer` id): it fires when idle.
    timers: BTreeMap<i64, u64>,
}

/// A node's durable state: its log, epoch files and snapshots (by zxid; the node's
/// snapshot source reads them).
#[derive(Default)]
struct Disk {
    log: Vec<TxnPayload>,
    epochs: (i64, i64),
    snaps: Arc<Mutex<BTreeMap<i64, Bytes>>>,
    /// The background snapshot being written: its zxid and bytes so far.
    writing: Option<(i64, Vec<u8>)>,
    incarnation: u64,
}

impl Net {
    fn new() -> Net {
        Net::with_observers(0)
    }

    /// Voters 1..=3 and observers 4..=3+observers.
    fn with_observers(observers: i64) -> Net {
        let verifier: Verifier = Arc::new(Majority::new(1..=3));
        Net::build(verifier, 3 + observers, None, None)
    }

    /// Voters 1..=3 and observers 4..=3+observers with `readonlymode.enabled` (and local
    /// sessions), tick 200 ms.
    fn with_read_only(observers: i64) -> Net {
        Net::read_only_members(observers, true)
    }

    fn read_only_members(observers: i64, local_sessions: bool) -> Net {
        let verifier: Verifier = Arc::new(Majority::new(1..=3));
        let mode = ReadOnlyMode::new(200, local_sessions);
        Net::build(verifier, 3 + observers, None, Some(mode))
    }

    /// Voters 1..=3 that snapshot every `snap_count` txns (randomized as standalone does)
    /// and read their snapshots back from their disks.
    fn with_snapshots(snap_count: u64) -> Net {
        let verifier: Verifier = Arc::new(Majority::new(1..=3));
        Net::build(verifier, 3, Some(snap_count), None)
    }

    fn build(
        verifier: Verifier,
        members: i64,
        snap_count: Option<u64>,
        read_only: Option<ReadOnlyMode>,
    ) -> Net {
        let mut net = Net {
            nodes: BTreeMap::new(),
            q: VecDeque::new(),
            sent: Vec::new(),
            hold: Vec::new(),
            held: Vec::new(),
            disks: BTreeMap::new(),
            snap_count,
            max_log: 0,
            snaps_to: Vec::new(),
            read_only,
            now_ms: 0,
            timers: BTreeMap::new(),
        };
        for id in 1..=members {
            net.disks.insert(id, Disk::default());
            net.start(id, &verifier);
        }
        net
    }

    /// (Re)starts node `id` from its disk: the newest snapshot and the log after it.
    fn start(&mut self, id: i64, verifier: &Verifier) {
        let mut pc = PeerConfig::new(id, verifier.clone());
        if !verifier.is_voter(id) {
            pc.learner_type = zk_zab::election::LearnerType::Observer;
        }
        pc.tick_ms = 200;
        pc.max_notification_interval_ms = 1600;
        let disk = self.disks.get_mut(&id).unwrap();
        disk.incarnation += 1;
        disk.writing = None;
        let base = disk
            .snaps
            .lock()
            .unwrap()
            .keys()
            .last()
            .copied()
            .unwrap_or(0);
        let log = disk.log.clone();
        let (accepted, current) = disk.epochs;
        let peer = Peer::from_snapshot(pc, base, log, accepted, current, disk.incarnation);
        let now = Now {
            mono_ms: self.now_ms,
            wall_ms: WALL0 + self.now_ms,
        };
        let cfg = NodeConfig {
            snapshots: self.snap_count.map(|snap_count| SnapshotPolicy {
                snap_count,
                ..SnapshotPolicy::default()
            }),
            read_only: self.read_only,
            ..NodeConfig::default()
        };
        let mut node = Node::new_zab(
            cfg,
            DataTree::new(),
            SessionTable::new(2000, WALL0, id),
            peer,
            Box::new(|| [7; 24]),
            now,
        );
        if self.snap_count.is_some() {
            let snaps = disk.snaps.clone();
            node.set_snapshot_source(Box::new(move |z| snaps.lock().unwrap().get(&z).cloned()));
        }
        self.nodes.insert(id, node);
        self.q.push_back((id, Input::Peer(Event::Start)));
    }

    fn disk(&mut self, id: i64) -> &mut Disk {
        self.disks.get_mut(&id).unwrap()
    }

    fn outputs(&mut self, id: i64) {
        let outs: Vec<Output> = self.nodes.get_mut(&id).unwrap().drain_outputs().collect();
        for o in outs {
            match o {
                Output::Send(conn, out) => self.sent.push((id, conn, out)),
                Output::SnapshotBegin { zxid, .. } => {
                    self.disk(id).writing = Some((zxid.0, Vec::new()));
                    self.q.push_back((id, Input::SnapshotRoom));
                }
                Output::SnapshotSlice(slice) => {
                    let disk = self.disk(id);
                    let Some((zxid, bytes)) = disk.writing.as_mut() else {
                        panic!("a slice without a snapshot")
                    };
                    match slice {
                        SnapshotSlice::Data(b) => {
                            bytes.extend_from_slice(&b);
                            self.q.push_back((id, Input::SnapshotRoom));
                        }
                        SnapshotSlice::Last(b, _) => {
                            bytes.extend_from_slice(&b);
                            let zxid = *zxid;
                            let (_, data) = disk.writing.take().unwrap();
                            disk.snaps.lock().unwrap().insert(zxid, Bytes::from(data));
                            self.q.push_back((id, Input::SnapshotWritten { zxid }));
                            self.q.push_back((id, Input::SnapshotDone));
                        }
                    }
                }
                Output::SnapshotAbandoned => {
                    self.disk(id).writing = None;
                    self.q.push_back((id, Input::SnapshotDone));
                }
                Output::Peer(c) => match c {
                    Command::Send { to, message } => {
                        if matches!(message, Message::Snapshot { .. }) {
                            self.snaps_to.push(to);
                        }
                        let input = Input::Peer(Event::Received { from: id, message });
                        if self.hold.contains(&to) {
                            self.held.push((to, input));
                        } else {
                            self.q.push_back((to, input));
                        }
                    }
                    Command::SetTimer { id: t, .. } => {
                        self.timers.insert(id, t);
                    }
                    Command::Persist(t) => {
                        let zxid = t.last().unwrap().header().zxid;
                        self.disk(id).log.extend(t);
                        self.q
                            .push_back((id, Input::Peer(Event::LogDurable { zxid })))
                    }
                    Command::Truncate { zxid } => {
                        self.disk(id).log.retain(|t| t.header().zxid <= zxid)
                    }
                    Command::WriteAcceptedEpoch(epoch) => {
                        self.disk(id).epochs.0 = epoch;
                        self.q.push_back((
                            id,
                            Input::Peer(Event::EpochDurable {
                                file: EpochFile::Accepted,
                                epoch,
                            }),
                        ))
                    }
                    Command::WriteCurrentEpoch(epoch) => {
                        self.disk(id).epochs.1 = epoch;
                        self.q.push_back((
                            id,
                            Input::Peer(Event::EpochDurable {
                                file: EpochFile::Current,
                                epoch,
                            }),
                        ))
                    }
                    Command::TakeSnapshot(txns) => {
                        let base = self.nodes[&id].base_snapshot().filter(|(b, _)| *b > 0);
                        let disk = self.disk(id);
                        if let Some((zxid, data)) = base {
                            disk.snaps.lock().unwrap().insert(zxid, data);
                        }
                        disk.log = txns;
                        self.q.push_back((id, Input::Peer(Event::SnapshotDurable)))
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }

    fn input(&mut self, id: i64, input: Input) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return; // crashed
        };
        node.set_now(Now {
            mono_ms: self.now_ms,
            wall_ms: WALL0 + self.now_ms,
        });
        node.step(input);
        if let Some(p) = node.peer() {
            self.max_log = self.max_log.max(p.log().len());
        }
        self.outputs(id);
    }

    /// Runs until `done` (true) or the budget is spent (false); fires the pending timers
    /// and ticks when idle (the timers are shorter than a half tick).
    fn run(&mut self, mut done: impl FnMut(&Net) -> bool) -> bool {
        for _ in 0..100_000 {
            if done(self) {
                return true;
            }
            match self.q.pop_front() {
                Some((id, input)) => self.input(id, input),
                None => {
                    let ids: Vec<i64> = self.nodes.keys().copied().collect();
                    if ids.is_empty() {
                        return false;
                    }
                    for (id, t) in std::mem::take(&mut self.timers) {
                        self.q
                            .push_back((id, Input::Peer(Event::TimerFired { id: t })));
                    }
                    for id in ids {
                        self.q.push_back((id, Input::Peer(Event::Tick)));
                    }
                }
            }
        }
        false
    }

    fn kind(&self, id: i64) -> RoleKind {
        self.nodes[&id].role().kind()
    }

    fn replies(&self, node: i64, conn: u64) -> Vec<&Outgoing> {
        self.sent
            .iter()
            .filter(|(n, c, _)| *n == node && *c == conn)
            .map(|(_, _, o)| o)
            .collect()
    }
}

/// A plain client's connect on connection `conn`.
fn connect_input(conn: u64, req: ConnectRequest) -> Input {
    Input::Connect {
        conn,
        peer: PEER,
        req,
        read_only_byte: false,
        auth: Vec::new(),
    }
}

/// `create /path x` with an open ACL.
fn create_request(path: &str) -> Request {
    Request::Create {
        op: zk_proto::multi::CreateOp::Create,
        request: CreateRequest {
            path: Some(JString::from(path)),
            data: Some(Bytes::from_static(b"x")),
            acl: Some(zk_tree::acl::open_acl_unsafe()),
            flags: 0,
        },
    }
}

fn connect(session_id: i64, last_zxid_seen: i64) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen,
        time_out: 10_000,
        session_id,
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: false,
    }
}

#[test]
fn a_followers_client_writes_through_the_leader_and_reads_and_syncs_locally() {
    let mut net = Net::new();
    assert_eq!(net.kind(1), RoleKind::Looking);
    // A connection before anyone serves is closed at once.
    net.input(1, connect_input(99, connect(0, 0)));
    assert!(matches!(net.replies(1, 99).as_slice(), [Outgoing::Close]));
    assert!(net.run(|n| {
        let kinds: Vec<RoleKind> = (1..=3).map(|id| n.kind(id)).collect();
        kinds.iter().filter(|k| **k == RoleKind::Leader).count() == 1
            && kinds.iter().filter(|k| **k == RoleKind::Follower).count() == 2
    }));
    let leader = (1..=3)
        .find(|&id| net.kind(id) == RoleKind::Leader)
        .unwrap();
    let f = (1..=3).find(|&id| id != leader).unwrap();
    net.input(f, connect_input(1, connect(0, 0)));
    assert!(net.run(|n| !n.replies(f, 1).is_empty()));
    let session = match net.replies(f, 1).as_slice() {
        [Outgoing::Connected { resp, valid, .. }] => {
            assert!(valid);
            resp.session_id
        }
        other => panic!("{other:?}"),
    };
    // The leader knows the session (it prepared it); the follower too (it applied it).
    assert!(net.nodes[&leader].sessions().get(session).is_some());
    assert!(net.nodes[&f].sessions().get(session).is_some());
    let create = create_request("/a");
    net.input(
        f,
        Input::Request {
            conn: 1,
            xid: 1,
            req: Box::new(create),
        },
    );
    // Pipelined behind it: a read and a sync, answered in the session's order.
    net.input(
        f,
        Input::Request {
            conn: 1,
            xid: 2,
            req: Box::new(Request::GetData(GetDataRequest {
                path: Some(JString::from("/a")),
                watch: false,
            })),
        },
    );
    net.input(
        f,
        Input::Request {
            conn: 1,
            xid: 3,
            req: Box::new(Request::Sync(SyncRequest {
                path: Some(JString::from("/a")),
            })),
        },
    );
    // All three wait in the session (zk_outstanding_requests), until answered.
    assert_eq!(net.nodes[&f].outstanding(), 3);
    assert!(net.run(|n| n.replies(f, 1).len() >= 4));
    assert_eq!(net.nodes[&f].outstanding(), 0);
    let r = net.replies(f, 1);
    let (xids, zxids): (Vec<i32>, Vec<i64>) = r[1..]
        .iter()
        .map(|o| match o {
            Outgoing::Reply { xid, zxid, err, .. } => {
                assert_eq!(*err, 0, "{o:?}");
                (*xid, *zxid)
            }
            other => panic!("{other:?}"),
        })
        .unzip();
    assert_eq!(xids, [1, 2, 3]);
    assert!(zxids.windows(2).all(|w| w[0] <= w[1]), "{zxids:?}");
    match r[2] {
        Outgoing::Reply {
            body: Response::GetData(d),
            ..
        } => assert_eq!(d.data.as_deref(), Some(&b"x"[..])),
        other => panic!("{other:?}"),
    }
    // Every node applies the create; the trees' digests agree.
    assert!(net.run(|n| (1..=3).all(|id| n.nodes[&id].tree().node(b"/a").is_some())));
    let digests: Vec<i64> = (1..=3)
        .map(|id| zk_tree::digest::tree_digest(net.nodes[&id].tree()))
        .collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

fn connected(net: &Net, node: i64, conn: u64) -> Option<(bool, i64, Bytes)> {
    net.replies(node, conn).iter().find_map(|o| match o {
        Outgoing::Connected { resp, valid, .. } => Some((
            *valid,
            resp.session_id,
            resp.passwd.clone().unwrap_or_default(),
        )),
        _ => None,
    })
}

/// An observer node serves like a follower (its client's write goes through the leader and
/// is applied from the INFORM); a learner asked to reconnect a session it does not hold
/// asks the leader (REVALIDATE) and answers the client with the leader's verdict: an
/// unknown session is expired, a session the leader created that the learner has not
/// applied yet is valid.
#[test]
fn an_observer_serves_and_learners_revalidate_every_reconnect() {
    use zk_zab::peer::PeerRole;

    let mut net = Net::with_observers(1);
    assert!(net.run(|n| {
        let kinds: Vec<RoleKind> = (1..=4).map(|id| n.kind(id)).collect();
        kinds.iter().filter(|k| **k == RoleKind::Leader).count() == 1
            && kinds.iter().filter(|k| **k == RoleKind::Follower).count() == 2
            && kinds[3] == RoleKind::Observer
    }));
    let leader = (1..=3)
        .find(|&id| net.kind(id) == RoleKind::Leader)
        .unwrap();
    assert_eq!(
        net.nodes[&4].peer().unwrap().role(),
        PeerRole::Observing { leader }
    );
    // A client of the observer: its session and its create go through the leader.
    net.input(4, connect_input(1, connect(0, 0)));
    assert!(net.run(|n| connected(n, 4, 1).is_some()));
    let (valid, _, _) = connected(&net, 4, 1).unwrap();
    assert!(valid);
    let create = create_request("/o");
    net.input(
        4,
        Input::Request {
            conn: 1,
            xid: 1,
            req: Box::new(create),
        },
    );
    assert!(net.run(|n| n.replies(4, 1).len() >= 2));
    assert!(
        matches!(net.replies(4, 1)[1], Outgoing::Reply { err: 0, .. }),
        "{:?}",
        net.replies(4, 1)
    );
    assert!(net.run(|n| (1..=4).all(|id| n.nodes[&id].tree().node(b"/o").is_some())));

    // A wrong password is answered at once (`reopenSession` checks it before asking).
    net.input(4, connect_input(5, connect(0x7777, 0)));
    assert_eq!(
        connected(&net, 4, 5),
        Some((false, 0, Bytes::from(vec![0; 16])))
    );
    // An unknown session at the observer: the leader says no, the client is expired.
    let sent_before = net.sent.len();
    let mut unknown = connect(0x7777, 0);
    unknown.passwd = Some(Bytes::copy_from_slice(&session_password(0x7777)));
    net.input(4, connect_input(2, unknown));
    assert_eq!(net.sent.len(), sent_before, "answered before the leader");
    assert!(net.run(|n| connected(n, 4, 2).is_some()));
    assert_eq!(
        connected(&net, 4, 2),
        Some((false, 0, Bytes::from(vec![0; 16])))
    );

    // A session created at the leader while follower f hears nothing yet: f asks the
    // leader, whose answer arrives after the createSession's COMMIT.
    let f = (1..=3).find(|&id| id != leader).unwrap();
    net.hold.push(f);
    net.input(leader, connect_input(3, connect(0, 0)));
    assert!(net.run(|n| connected(n, leader, 3).is_some()));
    let (valid, session, passwd) = connected(&net, leader, 3).unwrap();
    assert!(valid);
    assert!(net.nodes[&f].sessions().get(session).is_none());
    reconnect_through_the_leader(&mut net, f, 4, session, &passwd);

    // A session f holds now: a reconnect still asks the leader (which makes f the
    // session's owner there, as a Java leader requires), answered after its reply.
    assert!(net.nodes[&f].sessions().get(session).is_some());
    reconnect_through_the_leader(&mut net, f, 6, session, &passwd);
}

/// `session` reconnects at learner `f` on `conn` with its password while `f`'s inputs are
/// held: the client is not answered until the leader's REVALIDATE reply (valid) reaches
/// `f`; once released, the reconnect is answered valid with the session and password.
fn reconnect_through_the_leader(net: &mut Net, f: i64, conn: u64, session: i64, passwd: &Bytes) {
    use zk_zab::wire::packet::{Packet, Revalidate};
    if !net.hold.contains(&f) {
        net.hold.push(f);
    }
    let mut req = connect(session, 0);
    req.passwd = Some(passwd.clone());
    net.input(f, connect_input(conn, req));
    assert!(
        connected(net, f, conn).is_none(),
        "answered before the leader"
    );
    assert!(net.run(|n| n.held.iter().any(|(_, i)| matches!(
        i,
        Input::Peer(Event::Received {
            message: Message::Quorum {
                packet: Packet::Revalidate(Revalidate::Reply { valid: true, .. }),
                ..
            },
            ..
        })
    ))));
    assert!(connected(net, f, conn).is_none());
    net.hold.clear();
    let held = std::mem::take(&mut net.held);
    net.q.extend(held);
    assert!(net.run(|n| connected(n, f, conn).is_some()));
    assert_eq!(
        connected(net, f, conn),
        Some((true, session, passwd.clone()))
    );
}

/// The serving leader.
fn leader(net: &Net) -> i64 {
    *net.nodes
        .keys()
        .find(|&&id| net.kind(id) == RoleKind::Leader)
        .unwrap()
}

/// A client on node `node`, connection `conn`, creates `/n<i>` for each `i` in `range`,
/// ten in flight at a time, each answered without error.
fn write_many(net: &mut Net, node: i64, conn: u64, range: std::ops::Range<u32>) {
    if connected(net, node, conn).is_none() {
        net.input(node, connect_input(conn, connect(0, 0)));
        assert!(net.run(|n| connected(n, node, conn).is_some()));
        assert!(connected(net, node, conn).unwrap().0);
    }
    let answered = |n: &Net| {
        n.replies(node, conn)
            .iter()
            .filter(|o| matches!(o, Outgoing::Reply { .. }))
            .count()
    };
    let start = answered(net);
    let ids: Vec<u32> = range.collect();
    for (k, chunk) in ids.chunks(10).enumerate() {
        for &i in chunk {
            let req = Box::new(create_request(&format!("/n{i}")));
            let xid = i as i32 + 1;
            net.input(node, Input::Request { conn, xid, req });
        }
        let want = start + k * 10 + chunk.len();
        assert!(net.run(|n| answered(n) >= want), "writes unanswered");
    }
    for o in net.replies(node, conn) {
        if let Outgoing::Reply { err, .. } = o {
            assert_eq!(*err, 0, "{o:?}");
        }
    }
}

/// Every node's tree digest, once they all applied the leader's last zxid.
fn converged_digests(net: &mut Net) -> Vec<i64> {
    let l = leader(net);
    assert!(net.run(|n| {
        let last = n.nodes[&l].tree().last_processed_zxid;
        n.nodes
            .values()
            .all(|x| x.tree().last_processed_zxid == last)
    }));
    net.nodes
        .values()
        .map(|x| zk_tree::digest::tree_digest(x.tree()))
        .collect()
}

/// Members with a small snapCount snapshot while serving (leader and followers), each
/// durable snapshot moves the peer's log base there, and the log a peer holds in memory
/// stays bounded by about two snapshot intervals (without compaction it would hold every
/// one of the 400 txns).
#[test]
fn members_snapshot_and_keep_a_bounded_log() {
    const SNAP_COUNT: u64 = 40;
    let mut net = Net::with_snapshots(SNAP_COUNT);
    assert!(net.run(|n| n.nodes.keys().all(|&id| n.kind(id).serves_clients())));
    let l = leader(&net);
    write_many(&mut net, l, 1, 0..400);
    let digests = converged_digests(&mut net);
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    for (id, node) in &net.nodes {
        let snaps: Vec<i64> = net.disks[id]
            .snaps
            .lock()
            .unwrap()
            .keys()
            .copied()
            .collect();
        assert!(snaps.len() >= 5, "node {id} wrote snapshots {snaps:x?}");
        let p = node.peer().unwrap();
        assert!(p.base() > 0 && snaps.contains(&p.base()), "node {id}");
        assert!(
            p.log().len() as u64 <= 2 * SNAP_COUNT,
            "node {id}: {}",
            p.log().len()
        );
    }
    assert!(
        net.max_log as u64 <= 2 * SNAP_COUNT + 20,
        "a peer held {} txns",
        net.max_log
    );
}

/// A member restarted from its newest snapshot plus the log after it has the tree it had
/// (digest equal before and after); a follower that was down while the leader compacted
/// its log past the follower's last zxid is brought back by a SNAP and converges.
#[test]
fn a_restart_from_snapshot_and_log_keeps_the_tree_and_a_learner_behind_the_base_gets_a_snap() {
    const SNAP_COUNT: u64 = 30;
    let mut net = Net::with_snapshots(SNAP_COUNT);
    assert!(net.run(|n| n.nodes.keys().all(|&id| n.kind(id).serves_clients())));
    let l = leader(&net);
    write_many(&mut net, l, 1, 0..150);
    converged_digests(&mut net);
    let f = *net.nodes.keys().find(|&&id| id != l).unwrap();
    let before = zk_tree::digest::tree_digest(net.nodes[&f].tree());
    let f_last = net.nodes[&f].tree().last_processed_zxid;
    assert!(net.nodes[&f].peer().unwrap().base() > 0, "f compacted");
    // Crash f; a restart straight away rebuilds the same tree from its disk.
    net.nodes.remove(&f);
    let verifier: Verifier = Arc::new(Majority::new(1..=3));
    net.start(f, &verifier);
    let (id, start) = net.q.pop_back().unwrap();
    net.input(id, start);
    assert_eq!(zk_tree::digest::tree_digest(net.nodes[&f].tree()), before);
    assert_eq!(net.nodes[&f].tree().last_processed_zxid, f_last);
    // Down again while the others go on past a few snapshots.
    net.nodes.remove(&f);
    write_many(&mut net, l, 1, 150..300);
    assert!(
        net.nodes[&l].peer().unwrap().base() > f_last,
        "the leader compacted"
    );
    net.start(f, &verifier);
    assert!(net.run(|n| n
        .nodes
        .get(&f)
        .is_some_and(|x| x.role().kind().serves_clients())));
    assert!(net.snaps_to.contains(&f), "f got a SNAP");
    let digests = converged_digests(&mut net);
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    assert!(net.nodes[&f].tree().node(b"/n299").is_some());
    // And f restarted again comes back from the SNAP's snapshot plus its log.
    let before = zk_tree::digest::tree_digest(net.nodes[&f].tree());
    net.nodes.remove(&f);
    net.start(f, &verifier);
    let (id, start) = net.q.pop_back().unwrap();
    net.input(id, start);
    assert_eq!(zk_tree::digest::tree_digest(net.nodes[&f].tree()), before);
}

/// A read-only client's connect (`readOnly = true`, with the byte) on connection `conn`.
fn read_only_connect(conn: u64, session_id: i64, passwd: Bytes) -> Input {
    Input::Connect {
        conn,
        peer: PEER,
        req: ConnectRequest {
            session_id,
            passwd: Some(passwd),
            read_only: true,
            ..connect(session_id, 0)
        },
        read_only_byte: true,
        auth: Vec::new(),
    }
}

/// Every write `ReadOnlyRequestProcessor` refuses, and deleteContainer (which decodes as
/// an unknown request here): each must get a bare NOTREADONLY header.
fn refused_in_read_only_mode() -> Vec<Request> {
    use zk_proto::multi::{CreateOp, MultiOp, MultiRequest};
    use zk_proto::proto::{
        CheckVersionRequest, CreateTTLRequest, DeleteRequest, ReconfigRequest, SetACLRequest,
        SetDataRequest,
    };
    let path = || Some(JString::from("/a"));
    let create = |op| match create_request("/b") {
        Request::Create { request, .. } => Request::Create { op, request },
        other => other,
    };
    vec![
        create(CreateOp::Create),
        create(CreateOp::Create2),
        create(CreateOp::Container),
        Request::CreateTtl(CreateTTLRequest {
            path: path(),
            ttl: 1000,
            ..Default::default()
        }),
        Request::Delete(DeleteRequest {
            path: path(),
            version: -1,
        }),
        Request::SetData(SetDataRequest {
            path: path(),
            version: -1,
            ..Default::default()
        }),
        Request::SetAcl(SetACLRequest {
            path: path(),
            version: -1,
            ..Default::default()
        }),
        Request::Check(CheckVersionRequest {
            path: path(),
            version: -1,
        }),
        // A multi holding nothing but a check is refused all the same.
        Request::Multi(MultiRequest {
            ops: vec![MultiOp::Check(CheckVersionRequest {
                path: path(),
                version: -1,
            })],
        }),
        Request::Reconfig(ReconfigRequest::default()),
        Request::Sync(SyncRequest { path: path() }),
        Request::Unknown(zk_proto::OpCode::DeleteContainer.code()),
    ]
}

/// Reads a read-only server serves.
fn served_in_read_only_mode() -> Vec<Request> {
    use zk_proto::multi::{MultiOp, MultiRequest};
    use zk_proto::proto::{
        ExistsRequest, GetACLRequest, GetAllChildrenNumberRequest, GetChildren2Request,
        GetChildrenRequest, GetEphemeralsRequest,
    };
    let path = || Some(JString::from("/a"));
    vec![
        Request::Exists(ExistsRequest {
            path: path(),
            watch: true,
        }),
        Request::GetChildren(GetChildrenRequest {
            path: Some(JString::from("/")),
            watch: false,
        }),
        Request::GetChildren2(GetChildren2Request {
            path: Some(JString::from("/")),
            watch: false,
        }),
        Request::GetAcl(GetACLRequest { path: path() }),
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: path() }),
        Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: path(),
        }),
        Request::MultiRead(MultiRequest {
            ops: vec![MultiOp::GetData { path: path() }],
        }),
        Request::WhoAmI,
    ]
}

/// readonlymode.enabled (Java's `ReadOnlyZooKeeperServer`): a member left alone is LOOKING
/// and closes connections until max(2000 ms, tickTime) have passed, then serves
/// `readOnly` clients from its database with local sessions: writes get NOTREADONLY, reads
/// are answered, other clients and global sessions are refused, its sessions expire
/// locally. When the others come back it rejoins, closes the read-only connections and
/// serves read-write sessions again.
#[test]
fn a_looking_member_serves_read_only_clients_after_the_delay_until_it_rejoins() {
    let mut net = Net::with_read_only(0);
    assert!(net.run(|n| (1..=3).all(|id| n.kind(id).tree_is_committed())));
    let l = leader(&net);
    net.input(l, connect_input(1, connect(0, 0)));
    assert!(net.run(|n| connected(n, l, 1).is_some()));
    let (_, global, global_pw) = connected(&net, l, 1).unwrap();
    net.input(
        l,
        Input::Request {
            conn: 1,
            xid: 1,
            req: Box::new(create_request("/a")),
        },
    );
    assert!(net.run(|n| (1..=3).all(|id| n.nodes[&id].tree().node(b"/a").is_some())));

    // The two others crash at 10 s: x loses its leader and looks.
    let x = (1..=3).find(|&id| id != l).unwrap();
    net.now_ms = 10_000;
    for id in [1, 2, 3].into_iter().filter(|&id| id != x) {
        net.nodes.remove(&id);
    }
    assert!(net.run(|n| n.kind(x) == RoleKind::Looking));
    assert_eq!(
        net.nodes[&x].next_deadline(),
        Some(12_000),
        "the shell's timer"
    );
    let last = net.nodes[&x].tree().last_processed_zxid;

    // Not before the grace period.
    net.now_ms = 11_999;
    net.input(x, Input::Tick);
    assert_eq!(net.kind(x), RoleKind::Looking);
    net.input(x, read_only_connect(10, 0, Bytes::from_static(&[0; 16])));
    assert!(matches!(net.replies(x, 10).as_slice(), [Outgoing::Close]));
    net.now_ms = 12_000;
    net.input(x, Input::Tick);
    assert_eq!(net.kind(x), RoleKind::ReadOnly);
    assert_eq!(net.kind(x).name(), "read-only");

    // A client that did not ask for read-only is refused, and so is a global session.
    net.input(x, connect_input(11, connect(0, 0)));
    assert!(matches!(net.replies(x, 11).as_slice(), [Outgoing::Close]));
    net.input(x, read_only_connect(12, global, global_pw));
    assert!(matches!(net.replies(x, 12).as_slice(), [Outgoing::Close]));

    // A read-only client gets a local session: readOnly in the answer, no txn.
    net.input(x, read_only_connect(13, 0, Bytes::from_static(&[0; 16])));
    let ro = match net.replies(x, 13).as_slice() {
        [Outgoing::Connected {
            resp,
            valid: true,
            read_only_byte: true,
            zxid,
        }] => {
            assert!(resp.read_only);
            assert_eq!(resp.time_out, 10_000);
            assert_eq!(*zxid, last);
            resp.session_id
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(ro, 0);
    assert!(net.nodes[&x].sessions().get(ro).is_none(), "local only");

    let mut xid = 0;
    let mut ask = |net: &mut Net, req: Request| {
        xid += 1;
        let before = net.replies(x, 13).len();
        net.input(
            x,
            Input::Request {
                conn: 13,
                xid,
                req: Box::new(req),
            },
        );
        match net.replies(x, 13)[before..] {
            [Outgoing::Reply {
                xid: r, zxid, err, ..
            }] => {
                assert_eq!(*r, xid);
                (*zxid, *err)
            }
            ref other => panic!("{other:?}"),
        }
    };
    for req in refused_in_read_only_mode() {
        let what = format!("{req:?}");
        assert_eq!(ask(&mut net, req), (last, -119), "{what}");
    }
    for req in served_in_read_only_mode() {
        let what = format!("{req:?}");
        assert_eq!(ask(&mut net, req), (last, 0), "{what}");
    }
    net.input(
        x,
        Input::Request {
            conn: 13,
            xid: 100,
            req: Box::new(Request::GetData(GetDataRequest {
                path: Some(JString::from("/a")),
                watch: false,
            })),
        },
    );
    match net.replies(x, 13).last() {
        Some(Outgoing::Reply {
            xid: 100,
            err: 0,
            body: Response::GetData(d),
            ..
        }) => assert_eq!(d.data.as_deref(), Some(&b"x"[..])),
        other => panic!("{other:?}"),
    }
    // A body that does not decode: the refusal goes by opcode; a read is MARSHALLINGERROR.
    for (xid, op, want) in [
        (200, zk_proto::OpCode::SetData, -119),
        (201, zk_proto::OpCode::GetData, -5),
    ] {
        net.input(x, Input::Malformed { conn: 13, xid, op });
        match net.replies(x, 13).last() {
            Some(Outgoing::Reply { xid: r, err, .. }) => assert_eq!((*r, *err), (xid, want)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(net.nodes[&x].tree().last_processed_zxid, last);
    assert!(net.nodes[&x].tree().node(b"/b").is_none());
    assert!(net.nodes[&x]
        .peer()
        .unwrap()
        .log()
        .iter()
        .all(|t| t.header().zxid <= last));

    // The session expires here when its client goes quiet (deadlines on the tick).
    assert_eq!(net.nodes[&x].next_deadline(), Some(22_200));
    net.now_ms = 22_200;
    net.input(x, Input::Tick);
    assert!(matches!(net.replies(x, 13).last(), Some(Outgoing::Close)));
    net.input(x, read_only_connect(14, ro, zk_core_password(ro)));
    match net.replies(x, 14).as_slice() {
        [Outgoing::Connected { resp, valid, .. }] => {
            assert!(!valid);
            assert!(resp.read_only);
            assert_eq!(resp.session_id, 0);
        }
        other => panic!("{other:?}"),
    }

    // A client that stays, then the others come back: x rejoins and closes it.
    net.input(x, read_only_connect(15, 0, Bytes::from_static(&[0; 16])));
    assert!(matches!(
        net.replies(x, 15).as_slice(),
        [Outgoing::Connected { valid: true, .. }]
    ));
    // closeSession of a local session: answered, closed, no txn.
    net.input(x, read_only_connect(17, 0, Bytes::from_static(&[0; 16])));
    net.input(
        x,
        Input::Request {
            conn: 17,
            xid: 1,
            req: Box::new(Request::CloseSession),
        },
    );
    match net.replies(x, 17).as_slice() {
        [Outgoing::Connected { valid: true, .. }, Outgoing::Reply {
            xid: 1,
            err: 0,
            zxid,
            ..
        }, Outgoing::Close] => assert_eq!(*zxid, last),
        other => panic!("{other:?}"),
    }
    assert_eq!(net.nodes[&x].tree().last_processed_zxid, last);
    let verifier: Verifier = Arc::new(Majority::new(1..=3));
    for id in [1, 2, 3].into_iter().filter(|&id| id != x) {
        net.start(id, &verifier);
    }
    assert!(net.run(|n| (1..=3).all(|id| n.kind(id).tree_is_committed())));
    assert!(matches!(net.replies(x, 15).last(), Some(Outgoing::Close)));
    net.input(x, connect_input(16, connect(0, 0)));
    assert!(net.run(|n| connected(n, x, 16).is_some()));
    match net.replies(x, 16).as_slice() {
        [Outgoing::Connected { resp, valid, .. }] => {
            assert!(valid);
            assert!(!resp.read_only);
        }
        other => panic!("{other:?}"),
    }
}

fn zk_core_password(session: i64) -> Bytes {
    Bytes::copy_from_slice(&zk_core::session::session_password(session))
}

/// Without readonlymode.enabled a looking member never serves, however long it looks.
#[test]
fn without_read_only_mode_a_looking_member_keeps_closing_connections() {
    let mut net = Net::new();
    assert!(net.run(|n| (1..=3).all(|id| n.kind(id).tree_is_committed())));
    let l = leader(&net);
    let x = (1..=3).find(|&id| id != l).unwrap();
    for id in [1, 2, 3].into_iter().filter(|&id| id != x) {
        net.nodes.remove(&id);
    }
    assert!(net.run(|n| n.kind(x) == RoleKind::Looking));
    assert_eq!(net.nodes[&x].next_deadline(), None);
    net.now_ms = 60_000;
    net.input(x, Input::Tick);
    assert_eq!(net.kind(x), RoleKind::Looking);
    net.input(x, read_only_connect(10, 0, Bytes::from_static(&[0; 16])));
    assert!(matches!(net.replies(x, 10).as_slice(), [Outgoing::Close]));
}

/// An observer that loses its leader looks too, and serves read-only after the grace period
/// (Java starts the read-only server for any LOOKING peer).
#[test]
fn a_looking_observer_serves_read_only_clients_too() {
    let mut net = Net::with_read_only(1);
    assert!(net.run(|n| (1..=4).all(|id| n.kind(id).tree_is_committed())));
    assert_eq!(net.kind(4), RoleKind::Observer);
    net.now_ms = 5_000;
    for id in 1..=3 {
        net.nodes.remove(&id);
    }
    assert!(net.run(|n| n.kind(4) == RoleKind::Looking));
    net.now_ms = 7_000;
    net.input(4, Input::Tick);
    assert_eq!(net.kind(4), RoleKind::ReadOnly);
    net.input(4, read_only_connect(1, 0, Bytes::from_static(&[0; 16])));
    assert!(matches!(
        net.replies(4, 1).as_slice(),
        [Outgoing::Connected { valid: true, resp, .. }] if resp.read_only
    ));
}

/// Without localSessionsEnabled Java's read-only server refuses createSession: the client
/// gets a bare NOTREADONLY header (xid 0, the last zxid) where its ConnectResponse belongs;
/// Ferrokeeper then closes the connection.
#[test]
fn without_local_sessions_a_read_only_member_refuses_new_sessions() {
    let mut net = Net::read_only_members(0, false);
    assert!(net.run(|n| (1..=3).all(|id| n.kind(id).tree_is_committed())));
    let x = (1..=3).find(|&id| id != leader(&net)).unwrap();
    for id in [1, 2, 3].into_iter().filter(|&id| id != x) {
        net.nodes.remove(&id);
    }
    assert!(net.run(|n| n.kind(x) == RoleKind::Looking));
    net.now_ms = 2_000;
    net.input(x, Input::Tick);
    assert_eq!(net.kind(x), RoleKind::ReadOnly);
    let last = net.nodes[&x].tree().last_processed_zxid;
    net.input(x, read_only_connect(1, 0, Bytes::from_static(&[0; 16])));
    match net.replies(x, 1).as_slice() {
        [Outgoing::Reply {
            xid: 0,
            zxid,
            err: -119,
            body: Response::Empty,
        }, Outgoing::Close] => assert_eq!(*zxid, last),
        other => panic!("{other:?}"),
    }
}
