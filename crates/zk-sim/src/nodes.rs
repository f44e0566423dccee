//! Node mode: every member is a whole `zk_node::Node` (the request pipeline over zk-core
//! and zk-tree, with Zab as its role), restarted after a crash from what its disk made
//! durable (its log and epoch files; the tree is rebuilt from the log as `loadData` does),
//! and simulated clients drive it.
//!
//! Clients: [`SimConfig::clients`] sessions, each connected to a random live node, issuing
//! create (persistent or, three times in ten, ephemeral) / setData / delete on a few shared
//! paths, now and then a closeSession (then a new session), getData, exists, and sync followed by a
//! getData, with up to four requests in flight. A client whose node crashes, closes its
//! connection, or leaves a request unanswered for [`REQUEST_TIMEOUT_MS`] moves to another
//! node with its session and the last zxid it saw (a node that is behind refuses it).
//! The last [`crate::SimConfig::readers`] clients only read (getData, exists, sync then
//! getData), as services that watch their configuration do: a node whose clients are all
//! readers has nothing in flight, so a sync there is answered on the confirmation alone.
//!
//! Checkers, in addition to the peer-level ones:
//!
//! * **TreeDigest**: every node that applied committed zxid Z has the same `DataTree`
//!   digest after it, and so has every node with the same applied history (an FNV chain
//!   over the txns applied since its tree was built from scratch; `Output::Applied`);
//! * **ProposalDigest**: the `TxnDigest` a leader proposed with a txn (predicted from its
//!   outstanding changes) equals every applier's tree digest after it;
//! * **AckedWrite**: the zxid a write's reply carries is committed, and the committed txn
//!   there is that session's request with that xid (and LeaderCompleteness keeps it in
//!   every later leader's log);
//! * **SessionOrder**: a session's replies come in its request order, and their zxids
//!   never go back (across reconnects too);
//! * **SyncRead**: a sync, and the read after it, answer at a zxid no lower than any write
//!   acknowledged (to any client) before the sync was issued.
//!
//! Liveness: after the faults stop, a write issued from then on is acknowledged within
//! [`SimConfig::liveness_ms`].

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use zk_core::session::{session_password, SessionTable};
use zk_node::{Input, NodeConfig, Now, Outgoing, Output};
use zk_proto::multi::CreateOp;
use zk_proto::proto::{
    ConnectRequest, CreateRequest, DeleteRequest, ExistsRequest, GetDataRequest, SetDataRequest,
    SyncRequest,
};
use zk_proto::request::Request;
use zk_proto::JString;
use zk_tree::DataTree;

use crate::{Ev, Peer, Role, Sim, Verifier, TICK_MS};

/// Wall-clock origin of the simulated nodes.
const WALL0: i64 = 1_700_000_000_000;
/// The shared paths clients write.
const PATHS: u64 = 4;
/// The session timeout clients ask for (ms).
const SESSION_TIMEOUT_MS: i32 = 4000;
/// A request unanswered this long makes its client move to another node.
pub const REQUEST_TIMEOUT_MS: u64 = 3000;
/// Requests a client keeps in flight at most.
const MAX_IN_FLIGHT: usize = 4;
const CLIENT_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The durable snapshots of a node, by zxid.
pub(crate) type Snaps = std::sync::Arc<std::sync::Mutex<BTreeMap<i64, Bytes>>>;

/// A node over an empty tree whose role is `peer` (built from the durable log); with
/// `snaps` (`snapCount` and the node's durable snapshots) it takes background snapshots
/// and reads its base snapshot from them.
pub(crate) fn new_node(
    id: i64,
    peer: Peer<Verifier>,
    now_ms: u64,
    snaps: Option<(u64, Snaps)>,
) -> zk_node::Node {
    let tick = TICK_MS as i32;
    let cfg = NodeConfig {
        min_session_timeout: 2 * tick,
        max_session_timeout: 20 * tick,
        snapshots: snaps
            .as_ref()
            .map(|(snap_count, _)| zk_node::SnapshotPolicy {
                snap_count: *snap_count,
                ..zk_node::SnapshotPolicy::default()
            }),
        ..NodeConfig::default()
    };
    let wall = WALL0 + now_ms as i64;
    let mut node = zk_node::Node::new_zab(
        cfg,
        DataTree::new(),
        SessionTable::new(tick, wall, id),
        peer,
        Box::new(|| [0; 24]),
        Now {
            mono_ms: now_ms as i64,
            wall_ms: wall,
        },
    );
    node.record_applies(true);
    if let Some((_, snaps)) = snaps {
        node.set_snapshot_source(Box::new(move |z| {
            snaps.lock().ok().and_then(|m| m.get(&z).cloned())
        }));
    }
    node
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Read,
    Sync,
}

#[derive(Debug)]
struct Pending {
    xid: i32,
    kind: Kind,
    issued: u64,
    /// Sync and the read after it: the highest acknowledged write zxid when issued.
    fence: Option<i64>,
}

#[derive(Debug, Default)]
struct Client {
    /// (node, its incarnation, connection id).
    conn: Option<(i64, u64, u64)>,
    connected: bool,
    connect_sent: u64,
    session: i64,
    last_zxid: i64,
    next_xid: i32,
    pending: VecDeque<Pending>,
    /// A closeSession was sent: the next session is a new one.
    closing: bool,
}

/// Node mode's clients and checker state.
#[derive(Debug, Default)]
pub(crate) struct World {
    clients: Vec<Client>,
    next_conn: u64,
    /// History chain → (zxid, tree digest) after it.
    digests: BTreeMap<u64, (i64, i64)>,
    /// Committed zxid → the tree digest after it.
    committed_digests: BTreeMap<i64, i64>,
    /// Committed zxid → (session, cxid) of its txn.
    meta: BTreeMap<i64, (i64, i32)>,
    /// The highest zxid of an acknowledged write.
    max_acked: i64,
    /// Last delivery time per (connection, towards the node).
    fifo: BTreeMap<(u64, bool), u64>,
    /// Writes acknowledged.
    pub(crate) acked: usize,
    /// Reads answered.
    pub(crate) reads: usize,
}

impl Sim {
    pub(crate) fn start_clients(&mut self) {
        for client in 0..self.cfg.clients {
            self.world.clients.push(Client::default());
            let at = self.rng.range(200, 1500);
            self.schedule(at, Ev::ClientOp { client });
        }
    }

    /// Steps a node with `input` and carries out what it asks.
    pub(crate) fn node_input(&mut self, id: i64, input: Input) {
        let now = Now {
            mono_ms: self.now as i64,
            wall_ms: WALL0 + self.now as i64,
        };
        let outs: Vec<Output> = match self.nodes.get_mut(&id).and_then(|n| n.role.as_mut()) {
            Some(Role::Node(node)) => {
                node.set_now(now);
                node.step(input);
                if let Some(p) = node.peer() {
                    self.max_log = self.max_log.max(p.log().len());
                }
                node.drain_outputs().collect()
            }
            _ => return,
        };
        let mut cmds = Vec::new();
        let mut sends = Vec::new();
        let mut applied = Vec::new();
        for o in outs {
            match o {
                Output::Peer(c) => cmds.push(c),
                Output::Send(conn, out) => sends.push((conn, out)),
                Output::Applied {
                    zxid,
                    chain,
                    digest,
                    proposed,
                } => {
                    if let Some(p) = proposed.filter(|p| *p != digest) {
                        self.fail(format!(
                            "ProposalDigest: node {id} applied {zxid:#x} and has tree digest \
                             {digest:#x}; its proposer sent {p:#x}"
                        ));
                    }
                    // Which txn: from the log now (a TRUNC later in the step may drop it).
                    let txn = self
                        .nodes
                        .get(&id)
                        .and_then(|n| n.peer())
                        .and_then(|p| {
                            let log = p.log();
                            let i = log.partition_point(|t| t.header().zxid < zxid);
                            log.get(i).filter(|t| t.header().zxid == zxid)
                        })
                        .map(crate::txn_hash);
                    applied.push((zxid, chain, digest, txn));
                }
                Output::SnapshotBegin { zxid, .. } => {
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.writing = Some((zxid.0, Vec::new()));
                    }
                    self.snapshot_room(id);
                }
                Output::SnapshotSlice(slice) => self.snapshot_slice(id, slice),
                Output::SnapshotAbandoned => {
                    let inc = self.nodes.get_mut(&id).map_or(0, |n| {
                        n.writing = None;
                        n.inc
                    });
                    let input = Input::SnapshotDone;
                    self.schedule(1, crate::Ev::ToNode { id, inc, input });
                }
                _ => {}
            }
        }
        self.hash = crate::fnv(self.hash, &(sends.len() as u64).to_le_bytes());
        self.commands(id, cmds);
        // After the step's commits are recorded: a txn applied now may have just committed.
        for (zxid, chain, digest, txn) in applied {
            self.check_digest(id, zxid, chain, digest, txn);
        }
        for (conn, out) in sends {
            self.send_to_client(conn, out);
        }
    }

    /// The snapshot writer has room for the next slice a little later (txns apply
    /// meanwhile: the snapshot is fuzzy).
    fn snapshot_room(&mut self, id: i64) {
        let inc = self.nodes.get(&id).map_or(0, |n| n.inc);
        let after = self.rng.range(1, 20);
        let input = Input::SnapshotRoom;
        self.schedule(after, crate::Ev::ToNode { id, inc, input });
    }

    /// A slice of a node's background snapshot; the last one goes to the disk whole.
    fn snapshot_slice(&mut self, id: i64, slice: zk_node::SnapshotSlice) {
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some((zxid, bytes)) = n.writing.as_mut() else {
            return;
        };
        match slice {
            zk_node::SnapshotSlice::Data(b) => {
                bytes.extend_from_slice(&b);
                self.snapshot_room(id);
            }
            zk_node::SnapshotSlice::Last(b, _) => {
                bytes.extend_from_slice(&b);
                let zxid = *zxid;
                let data = n
                    .writing
                    .take()
                    .map(|(_, d)| Bytes::from(d))
                    .unwrap_or_default();
                self.disk(id, crate::DiskOp::SnapWrite(zxid, data));
            }
        }
    }

    fn check_digest(&mut self, id: i64, zxid: i64, chain: u64, digest: i64, txn: Option<u64>) {
        // A committed txn: every node's tree is the committed history's tree after it.
        if txn.is_some() && self.committed.get(&zxid).copied() == txn {
            match self.world.committed_digests.get(&zxid) {
                Some(&d) if d != digest => {
                    return self.fail(format!(
                        "TreeDigest: node {id} applied committed {zxid:#x} and has tree digest \
                         {digest:#x}; another node had {d:#x} there"
                    ))
                }
                Some(_) => {}
                None => {
                    self.world.committed_digests.insert(zxid, digest);
                }
            }
        }
        match self.world.digests.get(&chain) {
            Some(&(z, d)) if z != zxid || d != digest => self.fail(format!(
                "TreeDigest: node {id} applied {zxid:#x} with tree digest {digest:#x}; another \
                 node with the same history had {d:#x} at {z:#x}"
            )),
            Some(_) => {}
            None => {
                self.world.digests.insert(chain, (zxid, digest));
            }
        }
    }

    /// Records who asked for the txns at `zxids` (now committed), from `id`'s log.
    pub(crate) fn note_committed(&mut self, id: i64, zxids: &[i64]) {
        if !self.cfg.nodes_mode {
            return;
        }
        let Some(peer) = self.nodes.get(&id).and_then(|n| n.peer()) else {
            return;
        };
        let log = peer.log();
        for &z in zxids {
            let i = log.partition_point(|t| t.header().zxid < z);
            if let Some(t) = log.get(i).filter(|t| t.header().zxid == z) {
                let h = t.header();
                self.world.meta.insert(z, (h.client_id, h.cxid));
            }
        }
    }

    fn delay(&mut self, conn: u64, to_node: bool) -> u64 {
        let d = self.rng.range(1, 20);
        let at = (self.now + d).max(self.world.fifo.get(&(conn, to_node)).copied().unwrap_or(0));
        self.world.fifo.insert((conn, to_node), at);
        at - self.now
    }

    fn send_to_client(&mut self, conn: u64, out: Outgoing) {
        let Some(client) = self
            .world
            .clients
            .iter()
            .position(|c| c.conn.is_some_and(|(_, _, k)| k == conn))
        else {
            return;
        };
        let d = self.delay(conn, false);
        self.schedule(d, Ev::ToClient { client, conn, out });
    }

    fn send_to_node(&mut self, client: usize, input: Input) {
        let Some((id, inc, conn)) = self.world.clients.get(client).and_then(|c| c.conn) else {
            return;
        };
        let d = self.delay(conn, true);
        self.schedule(d, Ev::ToNode { id, inc, input });
    }

    /// Node `id` crashed: its clients' connections are gone.
    pub(crate) fn clients_lose(&mut self, id: i64) {
        for c in &mut self.world.clients {
            if c.conn.is_some_and(|(n, _, _)| n == id) {
                c.conn = None;
                c.connected = false;
                c.pending.clear();
            }
        }
    }

    fn disconnect(&mut self, client: usize) {
        let Some(c) = self.world.clients.get_mut(client) else {
            return;
        };
        if let Some((_, _, conn)) = c.conn {
            self.send_to_node(client, Input::Closed { conn });
        }
        if let Some(c) = self.world.clients.get_mut(client) {
            c.conn = None;
            c.connected = false;
            c.pending.clear();
        }
    }

    pub(crate) fn client_op(&mut self, client: usize) {
        let next = self.rng.range(20, 200);
        self.schedule(next, Ev::ClientOp { client });
        let Some(c) = self.world.clients.get(client) else {
            return;
        };
        let now = self.now;
        match (c.conn, c.connected) {
            (None, _) => self.connect(client),
            (Some(_), false) => {
                if now.saturating_sub(c.connect_sent) > REQUEST_TIMEOUT_MS {
                    self.disconnect(client);
                }
            }
            (Some(_), true) => {
                if c.pending
                    .front()
                    .is_some_and(|p| now.saturating_sub(p.issued) > REQUEST_TIMEOUT_MS)
                {
                    self.disconnect(client);
                } else if c.pending.len() < MAX_IN_FLIGHT {
                    self.issue(client);
                }
            }
        }
    }

    fn connect(&mut self, client: usize) {
        let up = self.up();
        if up.is_empty() {
            return;
        }
        let id = up[self.rng.range(0, up.len() as u64 - 1) as usize];
        let inc = self.nodes[&id].inc;
        self.world.next_conn += 1;
        let conn = self.world.next_conn;
        let now = self.now;
        let Some(c) = self.world.clients.get_mut(client) else {
            return;
        };
        c.conn = Some((id, inc, conn));
        c.connected = false;
        c.connect_sent = now;
        c.pending.clear();
        let passwd = if c.session == 0 {
            [0; 16]
        } else {
            session_password(c.session)
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: c.last_zxid,
            time_out: SESSION_TIMEOUT_MS,
            session_id: c.session,
            passwd: Some(Bytes::copy_from_slice(&passwd)),
            read_only: false,
        };
        self.send_to_node(
            client,
            Input::Connect {
                conn,
                peer: CLIENT_ADDR,
                req,
                read_only_byte: false,
                auth: Vec::new(),
            },
        );
    }

    fn issue(&mut self, client: usize) {
        let path = Some(JString::from(format!("/p{}", self.rng.range(0, PATHS - 1))));
        let data = Some(Bytes::from(self.rng.next_u64().to_be_bytes().to_vec()));
        let mut choice = self.rng.range(0, 9);
        if client >= self.cfg.clients.saturating_sub(self.cfg.readers) {
            // A reader: getData, exists, or sync then getData.
            choice = 6 + choice % 4;
        }
        // Some creates are ephemeral: an expired session's closeSession deletes them.
        let flags = i32::from(self.rng.chance(300));
        let read = |path| Box::new(Request::GetData(GetDataRequest { path, watch: false }));
        let close = self.rng.chance(15);
        let reqs: Vec<(Kind, Box<Request>)> = match choice {
            _ if close => vec![(Kind::Write, Box::new(Request::CloseSession))],
            0..=2 => vec![(
                Kind::Write,
                Box::new(Request::Create {
                    op: CreateOp::Create,
                    request: CreateRequest {
                        path,
                        data,
                        acl: Some(zk_tree::acl::open_acl_unsafe()),
                        flags,
                    },
                }),
            )],
            3 | 4 => vec![(
                Kind::Write,
                Box::new(Request::SetData(SetDataRequest {
                    path,
                    data,
                    version: -1,
                })),
            )],
            5 => vec![(
                Kind::Write,
                Box::new(Request::Delete(DeleteRequest { path, version: -1 })),
            )],
            6 | 7 => vec![(Kind::Read, read(path))],
            8 => vec![(
                Kind::Read,
                Box::new(Request::Exists(ExistsRequest { path, watch: false })),
            )],
            _ => vec![
                (
                    Kind::Sync,
                    Box::new(Request::Sync(SyncRequest { path: path.clone() })),
                ),
                (Kind::Read, read(path)),
            ],
        };
        let fence = (choice == 9).then_some(self.world.max_acked);
        let now = self.now;
        for (kind, req) in reqs {
            let Some(c) = self.world.clients.get_mut(client) else {
                return;
            };
            let Some((_, _, conn)) = c.conn else {
                return;
            };
            c.next_xid += 1;
            c.closing |= matches!(*req, Request::CloseSession);
            let xid = c.next_xid;
            c.pending.push_back(Pending {
                xid,
                kind,
                issued: now,
                fence,
            });
            self.send_to_node(client, Input::Request { conn, xid, req });
        }
    }

    pub(crate) fn client_recv(&mut self, client: usize, conn: u64, out: Outgoing) {
        let Some(c) = self.world.clients.get_mut(client) else {
            return;
        };
        if c.conn.map(|(_, _, k)| k) != Some(conn) {
            return;
        }
        match out {
            Outgoing::Connected { resp, valid, .. } => {
                if valid {
                    c.connected = true;
                    c.session = resp.session_id;
                } else {
                    // Expired: the next connection asks for a new session.
                    c.session = 0;
                }
            }
            Outgoing::Close => {
                if std::mem::take(&mut c.closing) {
                    c.session = 0;
                }
                let target = c.conn.take();
                c.connected = false;
                c.pending.clear();
                // The shell closes the socket and tells the node.
                if let Some((id, inc, _)) = target {
                    let d = self.delay(conn, true);
                    let input = Input::Closed { conn };
                    self.schedule(d, Ev::ToNode { id, inc, input });
                }
            }
            Outgoing::Event(_) => {}
            Outgoing::Reply { xid, zxid, err, .. } => {
                if xid < 0 {
                    return;
                }
                let session = c.session;
                let Some(p) = c.pending.pop_front() else {
                    return self.fail(format!(
                        "SessionOrder: session {session:#x} got a reply to xid {xid} it did not wait for"
                    ));
                };
                if p.xid != xid {
                    return self.fail(format!(
                        "SessionOrder: session {session:#x} got the reply to xid {xid} before xid {}",
                        p.xid
                    ));
                }
                let last = c.last_zxid;
                if zxid < last {
                    return self.fail(format!(
                        "SessionOrder: session {session:#x} went back in time: xid {xid} answered at \
                         {zxid:#x} after {last:#x}"
                    ));
                }
                c.last_zxid = zxid;
                match p.kind {
                    Kind::Write => {
                        if self.world.meta.get(&zxid) != Some(&(session, xid)) {
                            return self.fail(format!(
                                "AckedWrite: session {session:#x} xid {xid} acknowledged at {zxid:#x}, \
                                 where the committed txn is {:?}",
                                self.world.meta.get(&zxid)
                            ));
                        }
                        self.world.acked += 1;
                        self.world.max_acked = self.world.max_acked.max(zxid);
                        if let Some(calm) = self.calm_at {
                            if p.issued >= calm && self.recovered.is_none() {
                                self.recovered = Some(self.now - calm);
                            }
                        }
                    }
                    Kind::Read | Kind::Sync => {
                        self.world.reads += 1;
                        if let Some(fence) = p.fence {
                            if zxid < fence {
                                self.fail(format!(
                                    "SyncRead: session {session:#x} xid {xid} ({:?}, err {err}) \
                                     answered at {zxid:#x}, below the write acknowledged at \
                                     {fence:#x} before its sync",
                                    p.kind
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
}
