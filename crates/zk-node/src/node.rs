//! The node state machine.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use bytes::Bytes;
use zk_core::auth::{authenticate, ip_identity, AuthOutcome};
use zk_core::prep::{Prep, PrepConfig, Prepared, Requester, WriteOp};
use zk_core::read::{answer, write_reply, ReadOp, Reader, Response};
use zk_core::session::{session_password, SessionTable};
use zk_proto::data::Id;
use zk_proto::proto::{ConnectRequest, ConnectResponse, SetSASLResponse};
use zk_proto::request::Request;
use zk_proto::txn_body::TxnBody;
use zk_proto::{ErrorCode, OpCode, SessionId, Zxid};
use zk_tree::{DataTree, Notification};

use crate::ops::{to_read_op, to_write_op};
use crate::replicate::{Replicator, RoleKind};
use crate::zab::{ZabKind, ZabPeer, ZabRole};
use crate::{
    ConnId, Input, NodeConfig, NonceSource, Now, Outgoing, Output, SaslMode, SnapshotSlice,
};
use zk_zab::peer::{Command as PeerCommand, Event as PeerEvent};
use zk_zab::wire::packet::{ForwardedRequest, TxnPayload};

mod read_only;

/// Nodes serialised per step of a background snapshot: a few hundred microseconds of work.
const SNAPSHOT_STEP_NODES: usize = 1000;

struct Conn {
    session: Option<i64>,
    auth: Vec<Id>,
    peer: IpAddr,
    /// The connection's SASL exchange, once started.
    sasl: Option<zk_core::sasl::DigestMd5Server>,
}

/// Who asked for a txn, so that its reply finds its way back.
#[derive(Debug)]
enum Origin {
    Client {
        conn: ConnId,
        xid: i32,
        op: OpCode,
        /// What the audit log needs of the request (with `audit.enable`).
        audit: Option<Box<crate::audit::Note>>,
    },
    Connect {
        conn: ConnId,
        read_only_byte: bool,
        timeout: i32,
    },
    /// The node itself (session expiry): no reply, but the session's reads wait for it.
    Internal,
}

/// A session's pending work, in arrival order.
enum Queued {
    /// A write waiting for its txn to commit, found again by its cxid.
    Write { cxid: i32, origin: Origin },
    Read {
        conn: ConnId,
        xid: i32,
        op: Box<Request>,
        forced: Option<ErrorCode>,
    },
    /// A learner's `sync`, forwarded to the leader; `done` once the leader's SYNC came.
    Sync {
        conn: ConnId,
        xid: i32,
        op: Box<Request>,
        done: bool,
    },
}

/// What preparation needs of the node's configuration.
fn prep_config(cfg: &NodeConfig) -> PrepConfig {
    PrepConfig {
        auth: cfg.auth.clone(),
        extended_types: cfg.extended_types,
        close_session_txn: cfg.close_session_txn,
        reconfig_enabled: cfg.reconfig_enabled,
    }
}

/// A background (fuzzy) snapshot in progress.
struct SnapJob {
    /// `None` once the last slice is out (the writer is finishing), or abandoned.
    cursor: Option<zk_tree::snapshot::FuzzySnapshot>,
    /// The snapshot's name: the last zxid applied when it started.
    zxid: i64,
    /// Abandoned before its last slice ([`Output::SnapshotAbandoned`]).
    abandoned: bool,
}

/// The pure node: see the crate docs.
pub struct Node {
    cfg: NodeConfig,
    now: Now,
    tree: DataTree,
    prep: Prep,
    sessions: SessionTable,
    role: Box<dyn Replicator>,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    queues: HashMap<i64, VecDeque<Queued>>,
    committed: VecDeque<Prepared>,
    out: Vec<Output>,
    notifications: Vec<Notification>,
    nonce: NonceSource,
    last_reap_ms: i64,
    reaped_this_minute: (i64, usize),
    txns_since_snapshot: u64,
    snapshot_threshold: u64,
    snap_job: Option<SnapJob>,
    /// The Zab role's peer and bookkeeping (a node of an ensemble).
    zab: Option<Box<ZabRole>>,
    /// Read-only mode ([`NodeConfig::read_only`]).
    read_only: read_only::ReadOnly,
}

impl Node {
    /// A node over a tree recovered up to `tree.last_processed_zxid` and its sessions,
    /// replicating through `role`, at time `now`.
    pub fn new(
        cfg: NodeConfig,
        tree: DataTree,
        sessions: SessionTable,
        role: Box<dyn Replicator>,
        nonce: NonceSource,
        now: Now,
    ) -> Self {
        let prep_cfg = prep_config(&cfg);
        let last = tree.last_processed_zxid;
        let snapshot_threshold = cfg
            .snapshots
            .map_or(u64::MAX, |p| p.next_threshold(last as u64));
        Node {
            now,
            tree,
            prep: Prep::new(prep_cfg, last),
            sessions,
            role,
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            queues: HashMap::new(),
            committed: VecDeque::new(),
            out: Vec::new(),
            notifications: Vec::new(),
            nonce,
            last_reap_ms: now.mono_ms,
            reaped_this_minute: (0, 0),
            txns_since_snapshot: 0,
            snapshot_threshold,
            snap_job: None,
            zab: None,
            read_only: read_only::ReadOnly::default(),
            cfg,
        }
    }

    /// A node of an ensemble, over a tree recovered up to `tree.last_processed_zxid` and
    /// its sessions, whose role is `peer` (built from the same durable log): see
    /// [`crate::zab`]. It serves nobody until the peer leads an established epoch or
    /// follows a leader it synced with; send [`Input::Peer`]`(Event::Start)` first.
    pub fn new_zab(
        cfg: NodeConfig,
        tree: DataTree,
        sessions: SessionTable,
        peer: ZabPeer,
        nonce: NonceSource,
        now: Now,
    ) -> Self {
        let mut node = Node::new(
            cfg,
            tree,
            sessions,
            Box::new(ZabKind(RoleKind::Looking)),
            nonce,
            now,
        );
        node.zab = Some(Box::new(ZabRole::new(peer)));
        node.init_config_node();
        node
    }

    /// `/zookeeper/config` takes the membership, version -1, mzxid the config version,
    /// mtime now, as Java's `initConfigInZKDatabase` sets it at start and whenever a
    /// learner's tree is replaced by a leader's (its own view wins over the snapshot's).
    fn init_config_node(&mut self) {
        let Some(m) = self.cfg.membership.clone() else {
            return;
        };
        let mut fired = Vec::new();
        let path = zk_tree::tree::CONFIG_PATH;
        let now = self.now.wall_ms;
        if let Err(e) = self
            .tree
            .set_data(path, Some(m.text), -1, m.version, now, &mut fired)
        {
            tracing::warn!("/zookeeper/config is missing from the tree: {e:?}");
        }
    }

    /// The Zab peer of a node of an ensemble.
    pub fn peer(&self) -> Option<&ZabPeer> {
        self.zab.as_ref().map(|z| &z.peer)
    }

    /// The snapshot the peer's log starts after (its zxid, [`zk_zab::peer::Peer::base`],
    /// and zk-tree's snapshot-file image of it), if the node holds it: what the shell makes
    /// durable when the peer says `TakeSnapshot`.
    pub fn base_snapshot(&self) -> Option<(i64, Bytes)> {
        let z = self.zab.as_ref()?;
        let base = z.peer.base();
        if let Some(kept) = z.bases.iter().rev().find(|(b, _)| *b == base) {
            return Some(kept.clone());
        }
        let source = z.source.as_ref().filter(|_| base > 0)?;
        source(base).map(|data| (base, data))
    }

    /// Lets an ensemble node read durable snapshots from the shell's store: the snapshot
    /// its peer's log is based on is read when a rebuild needs it instead of being held in
    /// memory (a SNAP's is held only until it is durable), and each background snapshot
    /// that becomes durable ([`Input::SnapshotWritten`]) moves the peer's log base to it,
    /// which bounds the log held in memory. Without a source the node keeps the snapshots
    /// its log may be based on in memory and its peer's log whole.
    pub fn set_snapshot_source(&mut self, source: crate::SnapshotSource) {
        if let Some(z) = self.zab.as_mut() {
            z.source = Some(source);
        }
    }

    /// Hands an ensemble node the snapshot its peer was recovered from
    /// ([`zk_zab::peer::Peer::from_snapshot`]): the tree is rebuilt from it (and the log
    /// after it) when a TRUNC goes below what was applied.
    pub fn keep_base_snapshot(&mut self, zxid: i64, data: Bytes) {
        if let Some(z) = self.zab.as_mut() {
            z.keep_base(zxid, data);
        }
    }

    /// zk-tree's snapshot-file image (no digest) of the tree and sessions.
    fn serialize_state(&self) -> Bytes {
        let sessions: Vec<(i64, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        let mut out = Vec::new();
        let opts = zk_tree::snapshot::WriteOptions { digest: false };
        if let Err(e) = zk_tree::snapshot::write_snapshot(&self.tree, sessions, &mut out, &opts) {
            tracing::error!("serializing the tree for a SNAP failed: {e}");
        }
        Bytes::from(out)
    }

    /// An ensemble node emits [`Output::Applied`] after every txn it applies (with the tree
    /// digest, a walk of the whole tree: for tests and the simulator).
    pub fn record_applies(&mut self, on: bool) {
        if let Some(z) = self.zab.as_mut() {
            z.record_applies = on;
        }
    }

    /// Sets the time the following inputs are handled at.
    pub fn set_now(&mut self, now: Now) {
        self.now = now;
    }

    /// The time the node is at.
    pub fn now(&self) -> Now {
        self.now
    }

    /// Handles one input; its outputs are queued for [`Node::drain_outputs`].
    pub fn step(&mut self, input: Input) {
        match input {
            Input::Connect {
                conn,
                peer,
                req,
                read_only_byte,
                auth,
            } => self.connect(conn, peer, req, read_only_byte, auth),
            Input::Request { conn, xid, req } => self.request(conn, xid, req),
            Input::Malformed { conn, xid, op } => self.malformed(conn, xid, op),
            Input::Closed { conn } => self.closed(conn),
            Input::Tick => {
                self.maybe_start_read_only();
                self.tick();
            }
            Input::Durable(z) => {
                self.role.durable(z, &mut self.committed);
                self.apply_committed();
            }
            Input::SnapshotRoom => self.snapshot_step(),
            Input::SnapshotDone => self.snap_job = None,
            Input::SnapshotWritten { zxid } => self.snapshot_written(zxid),
            Input::Peer(e) => {
                self.peer_step(e);
                self.maybe_start_read_only();
            }
        }
    }

    /// The outputs queued so far, in order.
    pub fn drain_outputs(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// When the node next needs an [`Input::Tick`] (monotonic ms): the earliest session
    /// deadline or reaper run, on the roles that have them.
    pub fn next_deadline(&self) -> Option<i64> {
        let kind = self.role.kind();
        let sessions = if kind.expires_sessions() {
            self.sessions.next_deadline()
        } else {
            None
        };
        let reap = kind
            .reaps_containers()
            .then_some(self.last_reap_ms + self.cfg.container_check_interval_ms);
        [sessions, reap, self.read_only_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The role established a new epoch (a leader once a quorum acked NEWLEADER): zxids
    /// this node prepares from now on are `epoch << 32 | counter`, the counter from 1.
    pub fn start_epoch(&mut self, epoch: u32) {
        self.prep.start_epoch(epoch);
    }

    /// The tree.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The session table.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The role.
    pub fn role(&self) -> &dyn Replicator {
        self.role.as_ref()
    }

    /// Requests in flight (`zk_outstanding_requests`): standalone, the writes prepared and
    /// not yet applied; on an ensemble member, every request of its clients not answered
    /// yet (writes waiting for their commit, proposed here or forwarded to the leader,
    /// forwarded syncs, and the reads queued behind them in their sessions), as Java counts
    /// requests from submission to reply.
    pub fn outstanding(&self) -> usize {
        if self.zab.is_some() {
            return self.queues.values().map(VecDeque::len).sum();
        }
        self.role.pending() + self.committed.len()
    }

    /// Replaces the whole state with a restored one (the AdminServer's `restore`,
    /// `ZooKeeperServer.restoreFromSnapshot`): `tree` and the `sessions` that come with it.
    ///
    /// Only a quiet node can be restored: with writes in flight it refuses
    /// ([`RestoreRefused`]) and the shell must first let them become durable and apply. Every
    /// connection is closed (its session lives on if the restored state has it, and its
    /// client reconnects into it); their watches go with the old tree. A background snapshot
    /// of the old tree is abandoned (the shell discards what its writer wrote).
    ///
    /// The zxid sequence never goes back: the restored tree's `last_processed_zxid` becomes
    /// the larger of its own and the node's, so the next txn is logged above everything the
    /// log already holds. Returns that zxid; the shell persists the restored state as a
    /// snapshot named after it, which makes recovery start from it.
    pub fn restore(
        &mut self,
        mut tree: DataTree,
        sessions: SessionTable,
    ) -> Result<i64, crate::RestoreRefused> {
        let in_flight = self.outstanding();
        if in_flight > 0 {
            return Err(crate::RestoreRefused { in_flight });
        }
        let zxid = tree.last_processed_zxid.max(self.last_zxid());
        tree.last_processed_zxid = zxid;
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.out.push(Output::Send(conn, Outgoing::Close));
        }
        self.conns.clear();
        self.session_conn.clear();
        self.queues.clear();
        self.tree = tree;
        self.sessions = sessions;
        self.prep = Prep::new(prep_config(&self.cfg), zxid);
        self.snap_job = None;
        self.txns_since_snapshot = 0;
        Ok(zxid)
    }

    /// Whether a background snapshot is being serialised (its writer wants
    /// [`Input::SnapshotRoom`] when it has room).
    pub fn snapshot_wants_room(&self) -> bool {
        self.snap_job.as_ref().is_some_and(|j| j.cursor.is_some())
    }

    fn send(&mut self, conn: ConnId, out: Outgoing) {
        if self.conns.contains_key(&conn) {
            self.out.push(Output::Send(conn, out));
        }
    }

    fn last_zxid(&self) -> i64 {
        self.tree.last_processed_zxid
    }

    fn closed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.tree.remove_watcher(conn);
            if let Some(s) = c.session {
                if self.session_conn.get(&s) == Some(&conn) {
                    self.session_conn.remove(&s);
                }
            }
        }
    }

    // ----- sessions ----------------------------------------------------------------

    fn connect(
        &mut self,
        conn: ConnId,
        peer: IpAddr,
        req: ConnectRequest,
        read_only_byte: bool,
        transport_auth: Vec<Id>,
    ) {
        let kind = self.role.kind();
        if !kind.serves_clients() {
            // Not serving (LOOKING or syncing): the connection is closed at once.
            self.out.push(Output::Send(conn, Outgoing::Close));
            return;
        }
        if kind == RoleKind::ReadOnly && !req.read_only {
            // ZooKeeperServer.processConnectRequest (NOT_READ_ONLY_CLIENT).
            tracing::info!("Refusing session request for not-read-only client /{peer}");
            self.out.push(Output::Send(conn, Outgoing::Close));
            return;
        }
        let mut auth = vec![ip_identity(&peer)];
        auth.extend(transport_auth);
        self.conns.insert(
            conn,
            Conn {
                session: None,
                auth,
                peer,
                sasl: None,
            },
        );
        if req.last_zxid_seen > self.last_zxid() {
            tracing::info!(
                "refusing session request from {peer}: it has seen zxid 0x{:x}, our last zxid is 0x{:x}",
                req.last_zxid_seen,
                self.last_zxid()
            );
            self.send(conn, Outgoing::Close);
            return;
        }
        let timeout = req
            .time_out
            .max(self.cfg.min_session_timeout)
            .min(self.cfg.max_session_timeout);
        if kind == RoleKind::ReadOnly {
            let id = req.session_id;
            let password_ok = req.passwd.as_deref() == Some(&session_password(id)[..]);
            self.read_only_connect(conn, peer, id, password_ok, timeout, read_only_byte);
            return;
        }
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = Some(id);
            }
            self.session_conn.insert(id, conn);
            tracing::debug!(
                "Established session 0x{id:x} with negotiated timeout {timeout} for client /{peer}"
            );
            if self.is_learner() {
                // The leader owns sessions: createSession goes to it (`int timeout`).
                let auth = self.conns.get(&conn).map(|c| c.auth.clone());
                self.forward(
                    id,
                    0,
                    OpCode::CreateSession.code(),
                    Bytes::copy_from_slice(&timeout.to_be_bytes()),
                    auth.unwrap_or_default(),
                    Origin::Connect {
                        conn,
                        read_only_byte,
                        timeout,
                    },
                );
                return;
            }
            self.propose_write(
                id,
                0,
                None,
                &WriteOp::CreateSession(timeout),
                Origin::Connect {
                    conn,
                    read_only_byte,
                    timeout,
                },
            );
            // Preparation added the session at the txn's wall-clock time; its deadline runs
            // on the monotonic clock like every later touch. (Armed on the wall clock, a
            // session whose client vanished before its first request never expired.)
            self.sessions.touch(id, self.now.mono_ms);
            return;
        }
        let id = req.session_id;
        // ZooKeeperServer.processConnectRequest closes the session's current connection
        // (CLIENT_RECONNECT) before reopenSession checks the password.
        if let Some(old) = self.session_conn.remove(&id) {
            if old != conn {
                self.send(old, Outgoing::Close);
            }
        }
        let password_ok = req.passwd.as_deref() == Some(&session_password(id)[..]);
        if self.is_learner() && password_ok {
            // The leader owns sessions: a learner asks it about every reconnect with the
            // right password, whether it holds the session or not
            // (`LearnerZooKeeperServer.revalidateSession` → REVALIDATE); the client is
            // answered when the reply comes (`Learner.revalidate` → `finishSessionInit`).
            // A valid REVALIDATE also makes this learner the session's owner at the leader:
            // a Java leader answers SESSIONMOVED to requests a learner forwards for a
            // session another learner owns (kazoo's test_request_queuing_session_recovered
            // on Ferrokeeper followers of a Java leader, before every reconnect asked).
            if let Some(z) = self.zab.as_mut() {
                z.revalidating.insert(
                    id,
                    crate::zab::Revalidating {
                        conn,
                        read_only_byte,
                        timeout,
                        password_ok,
                    },
                );
                let cmds = z.peer.step(PeerEvent::Revalidate {
                    session_id: id,
                    timeout_ms: timeout,
                });
                self.peer_cmds(cmds);
                return;
            }
        }
        let valid = password_ok
            && self
                .sessions
                .set_timeout_and_touch(id, timeout, self.now.mono_ms);
        self.finish_connect(conn, id, timeout, valid, read_only_byte);
    }

    /// Answers a reconnect to session `id` (`finishSessionInit`): the session and its
    /// password if `valid`, else a zero session (the client's SESSION_EXPIRED).
    fn finish_connect(
        &mut self,
        conn: ConnId,
        id: i64,
        timeout: i32,
        valid: bool,
        read_only_byte: bool,
    ) {
        let Some(peer) = self.conns.get(&conn).map(|c| c.peer) else {
            return;
        };
        // `finishSessionInit`: a read-only server says so in every answer.
        let read_only = self.role.kind() == RoleKind::ReadOnly;
        if valid {
            if let Some(z) = self.zab.as_mut().filter(|_| !read_only) {
                z.peer.touch_session(id, timeout);
            }
            self.session_conn.insert(id, conn);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = Some(id);
            }
        } else {
            tracing::info!("Invalid session 0x{id:x} for client /{peer}, probably expired");
        }
        let zxid = self.last_zxid();
        self.send(
            conn,
            Outgoing::Connected {
                resp: ConnectResponse {
                    protocol_version: 0,
                    time_out: if valid { timeout } else { 0 },
                    session_id: if valid { id } else { 0 },
                    passwd: Some(Bytes::copy_from_slice(&if valid {
                        session_password(id)
                    } else {
                        [0; 16]
                    })),
                    read_only,
                },
                read_only_byte,
                valid,
                zxid,
            },
        );
    }

    fn tick(&mut self) {
        let kind = self.role.kind();
        if kind.expires_sessions() {
            self.expire_sessions();
        }
        if kind == RoleKind::ReadOnly {
            self.expire_read_only_sessions();
        }
        if kind.reaps_containers()
            && self.now.mono_ms - self.last_reap_ms >= self.cfg.container_check_interval_ms
        {
            self.last_reap_ms = self.now.mono_ms;
            self.reap_containers();
        }
    }

    fn expire_sessions(&mut self) {
        for id in self.sessions.expire(self.now.mono_ms) {
            // ZooKeeperServer.expire's words, which operators grep for.
            let timeout = self.sessions.get(id).map_or(0, |s| s.timeout_ms);
            tracing::info!("Expiring session 0x{id:x}, timeout of {timeout}ms exceeded");
            self.out.push(Output::Expired(SessionId(id)));
            self.propose_write(id, 0, None, &WriteOp::CloseSession, Origin::Internal);
        }
    }

    /// The container/TTL reaper (`ContainerManager`).
    fn reap_containers(&mut self) {
        let now = self.now.wall_ms;
        let minute = self.now.mono_ms / 60_000;
        if self.reaped_this_minute.0 != minute {
            self.reaped_this_minute = (minute, 0);
        }
        let mut candidates: Vec<Bytes> = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.node(p) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    candidates.push(p.clone());
                }
            }
        }
        for p in self.tree.ttls() {
            if let Some(n) = self.tree.node(p) {
                if let zk_tree::ephemeral::Kind::Ttl(ttl) =
                    zk_tree::ephemeral::kind(n.stat.ephemeral_owner)
                {
                    if n.children.is_empty() && ttl != 0 && now - n.stat.mtime > ttl {
                        candidates.push(p.clone());
                    }
                }
            }
        }
        candidates.sort();
        for p in candidates {
            if self.reaped_this_minute.1 >= self.cfg.container_max_per_minute {
                break;
            }
            self.reaped_this_minute.1 += 1;
            // Session 0 has no queue: nobody is answered.
            self.propose_write(0, 0, None, &WriteOp::DeleteContainer(p), Origin::Internal);
        }
    }

    // ----- requests ----------------------------------------------------------------

    /// The one place a write is prepared and handed to the role. The session's queue
    /// remembers who asked (by cxid), so the committed txn finds its reply; a write of
    /// session 0 (the reaper's) has no queue.
    fn propose_write(
        &mut self,
        session: i64,
        cxid: i32,
        conn: Option<ConnId>,
        op: &WriteOp,
        origin: Origin,
    ) {
        // The identities the ACL checks see: the asking connection's, borrowed (no copy per
        // write); none for the node's own writes.
        let auth: &[Id] = conn
            .and_then(|c| self.conns.get(&c))
            .map_or(&[], |c| c.auth.as_slice());
        let who = Requester {
            session_id: session,
            auth,
        };
        let p = self.prep.prepare(
            &self.tree,
            &mut self.sessions,
            &who,
            cxid,
            op,
            self.now.wall_ms,
        );
        self.hand_to_role(p);
        if session != 0 {
            self.queues
                .entry(session)
                .or_default()
                .push_back(Queued::Write { cxid, origin });
        }
    }

    /// `AuthenticationHelper.enforceAuthentication`: with enforced authentication, a
    /// connection holding none of the required schemes gets SESSIONCLOSEDREQUIRESASLAUTH for
    /// its request and is closed. True when the request was refused.
    fn refused_unauthenticated(&mut self, conn: ConnId, xid: i32) -> bool {
        let schemes = &self.cfg.enforce_auth_schemes;
        if schemes.is_empty() {
            return false;
        }
        let Some(c) = self.conns.get(&conn) else {
            return true;
        };
        let ok = c.auth.iter().any(|id| {
            id.scheme
                .as_ref()
                .is_some_and(|s| schemes.iter().any(|w| s == w.as_str()))
        });
        if ok {
            return false;
        }
        let held: Vec<String> = c
            .auth
            .iter()
            .map(|id| {
                id.scheme
                    .as_ref()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        tracing::error!(
            "Client authentication scheme(s) {held:?} does not match with any of the expected \
             authentication scheme {schemes:?}, closing session."
        );
        self.send(
            conn,
            Outgoing::Reply {
                xid,
                zxid: 0,
                err: ErrorCode::SessionClosedRequireSaslAuth.code(),
                body: Response::Empty,
            },
        );
        self.send(conn, Outgoing::Close);
        true
    }

    /// `ZooKeeperServer.processSasl`: one SASL token, answered at once (outside the
    /// request pipeline, as upstream).
    fn sasl(&mut self, conn: ConnId, xid: i32, token: &[u8]) {
        let reply = |err: i32, token: Option<Vec<u8>>| Outgoing::Reply {
            xid,
            zxid: 0,
            err,
            body: Response::Sasl(SetSASLResponse {
                token: token.map(Into::into),
            }),
        };
        let creds = match &self.cfg.sasl {
            SaslMode::NotConfigured => {
                // No SASL server on the connection: upstream logs the null saslServer and
                // answers OK with a null token.
                self.send(conn, reply(0, None));
                return;
            }
            SaslMode::Digest(creds) => Some(creds.clone()),
            SaslMode::Unsupported => None,
        };
        let nonce = &mut self.nonce;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let session = c.session.unwrap_or(0);
        let step = match creds {
            Some(creds) => c
                .sasl
                .get_or_insert_with(|| {
                    let b = nonce();
                    zk_core::sasl::DigestMd5Server::new(
                        b.iter().map(|x| format!("{x:02x}")).collect::<String>(),
                    )
                })
                .step(token, &creds),
            None => Err(zk_core::sasl::SaslError::Unacceptable(
                "only DIGEST-MD5 is supported (the JAAS file asks for Kerberos/GSSAPI)",
            )),
        };
        match step {
            Ok(zk_core::sasl::Step::Continue(t)) => self.send(conn, reply(0, Some(t))),
            Ok(zk_core::sasl::Step::Done {
                token,
                authorization_id,
            }) => {
                tracing::info!(
                    "Session 0x{session:x}: adding SASL authorization for authorizationID: {authorization_id}"
                );
                let id = |scheme: &str, v: &str| Id {
                    scheme: Some(zk_proto::JString::from(scheme)),
                    id: Some(zk_proto::JString::from(v)),
                };
                let sasl_id = id("sasl", &authorization_id);
                let is_super = !authorization_id.is_empty()
                    && self.cfg.sasl_super_users.contains(&authorization_id);
                if let Some(c) = self.conns.get_mut(&conn) {
                    if !c.auth.contains(&sasl_id) {
                        c.auth.push(sasl_id);
                    }
                    if is_super {
                        tracing::info!(
                            "Session 0x{session:x}: Authenticated Id '{authorization_id}' as super user"
                        );
                        let su = id("super", "");
                        if !c.auth.contains(&su) {
                            c.auth.push(su);
                        }
                    }
                }
                self.send(conn, reply(0, Some(token)));
            }
            Err(e) => {
                let peer = c.peer;
                tracing::warn!("Client {peer} failed to SASL authenticate: {e}");
                // With SASL required the code says so; otherwise AUTHFAILED. Either way the
                // reply carries an empty SetSASLResponse and the connection closes.
                let err = if self.cfg.enforce_auth_schemes.iter().any(|s| s == "sasl") {
                    ErrorCode::SessionClosedRequireSaslAuth
                } else {
                    ErrorCode::AuthFailed
                };
                self.send(conn, reply(err.code(), None));
                self.send(conn, Outgoing::Close);
            }
        }
    }

    fn malformed(&mut self, conn: ConnId, xid: i32, op: OpCode) {
        let Some(session) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        if self.refused_unauthenticated(conn, xid) {
            return;
        }
        if self.role.kind() == RoleKind::ReadOnly {
            self.read_only_malformed(conn, session, xid, op);
            return;
        }
        if op.is_write() && self.is_learner() {
            // The leader fails to decode the empty body the same way.
            self.forward_client(conn, session, xid, op, Bytes::new());
        } else if op.is_write() {
            self.write(conn, session, xid, op, &WriteOp::Malformed(op));
        } else {
            self.enqueue_read(
                conn,
                session,
                xid,
                Box::new(Request::Unknown(op.code())),
                Some(ErrorCode::MarshallingError),
            );
        }
    }

    fn request(&mut self, conn: ConnId, xid: i32, req: Box<Request>) {
        let Some(session) = self.conns.get(&conn).and_then(|c| c.session) else {
            return;
        };
        match &*req {
            Request::Sasl(s) => {
                let token = s.token.clone().unwrap_or_default();
                self.sasl(conn, xid, &token);
                return;
            }
            Request::Auth(_) => {}
            _ => {
                if self.refused_unauthenticated(conn, xid) {
                    return;
                }
            }
        }
        if self.role.kind() == RoleKind::ReadOnly {
            self.read_only_request(conn, session, xid, req);
            return;
        }
        if !self.sessions.touch(session, self.now.mono_ms) {
            // ZooKeeperServer.submitRequest drops requests of a session being closed.
            tracing::debug!("dropping request of closing session 0x{session:x}");
            return;
        }
        if self.is_learner() {
            let timeout = self.sessions.get(session).map_or(0, |s| s.timeout_ms);
            if let Some(z) = self.zab.as_mut() {
                z.peer.touch_session(session, timeout);
            }
            let code = OpCode::from_code(req.type_code()).unwrap_or(OpCode::Error);
            if to_write_op(&req).is_some() {
                let mut body = bytes::BytesMut::new();
                req.encode_body(&mut body);
                self.forward_client(conn, session, xid, code, body.freeze());
                return;
            }
            let mutated = self
                .peer()
                .is_some_and(|p| p.mutation() == zk_zab::Mutation::SyncWithoutLeader);
            if matches!(*req, Request::Sync(_)) && !mutated {
                self.forward_sync(conn, session, xid, req);
                return;
            }
        }
        if self.zab.is_some()
            && self.role.kind() == RoleKind::Leader
            && matches!(*req, Request::Sync(_))
        {
            // A leader's own client's sync waits, like a forwarded one, for a quorum that
            // confirms this node still leads (zk-zab's broadcast; beyond Java).
            self.forward_sync(conn, session, xid, req);
            return;
        }
        match to_write_op(&req) {
            Some(op) => {
                let code = OpCode::from_code(req.type_code()).unwrap_or(OpCode::Error);
                self.write(conn, session, xid, code, &op);
            }
            None => self.enqueue_read(conn, session, xid, req, None),
        }
    }

    fn write(&mut self, conn: ConnId, session: i64, xid: i32, op: OpCode, wop: &WriteOp) {
        let audit = match (&self.cfg.audit_user, self.conns.get(&conn)) {
            (Some(_), Some(c)) => crate::audit::Note::of(wop, session, &c.auth, &c.peer),
            _ => None,
        };
        self.propose_write(
            session,
            xid,
            Some(conn),
            wop,
            Origin::Client {
                conn,
                xid,
                op,
                audit,
            },
        );
    }

    fn enqueue_read(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        op: Box<Request>,
        forced: Option<ErrorCode>,
    ) {
        // A read waits only behind its own session's pending writes; with none it is answered
        // now (and leaves no empty queue behind).
        match self.queues.get_mut(&session) {
            Some(q) if !q.is_empty() => q.push_back(Queued::Read {
                conn,
                xid,
                op,
                forced,
            }),
            _ => self.read_now(conn, xid, &op, forced),
        }
    }

    fn read_now(&mut self, conn: ConnId, xid: i32, req: &Request, forced: Option<ErrorCode>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let session = c.session.unwrap_or(0);
        // FinalRequestProcessor answers a ping with xid -2 whatever the request said.
        let xid = if matches!(req, Request::Ping) {
            zk_proto::xid::PING
        } else {
            xid
        };
        let reply = |err: i32, body: Response, zxid: i64| Outgoing::Reply {
            xid,
            zxid,
            err,
            body,
        };
        if let Some(code) = forced {
            let z = self.last_zxid();
            self.send(conn, reply(code.code(), Response::Empty, z));
            return;
        }
        match req {
            Request::Unknown(code) => {
                // UnimplementedRequestProcessor: UNIMPLEMENTED, zxid -1 (never prepared), close.
                tracing::warn!("received packet of unknown type {code} from session 0x{session:x}");
                self.send(
                    conn,
                    reply(ErrorCode::Unimplemented.code(), Response::Empty, -1),
                );
                self.send(conn, Outgoing::Close);
            }
            Request::Auth(a) => {
                let scheme = a
                    .scheme
                    .as_ref()
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default();
                let data = a.auth.clone().unwrap_or_default();
                let peer = c.peer;
                match authenticate(&self.cfg.auth, &scheme, &data, Some(&peer)) {
                    AuthOutcome::Added(ids) => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            for id in ids {
                                if !c.auth.contains(&id) {
                                    c.auth.push(id);
                                }
                            }
                        }
                        self.send(conn, reply(0, Response::Empty, 0));
                    }
                    AuthOutcome::Failed => {
                        tracing::warn!(
                            "authentication failed for scheme {} from session 0x{session:x}",
                            String::from_utf8_lossy(&scheme)
                        );
                        self.send(
                            conn,
                            reply(ErrorCode::AuthFailed.code(), Response::Empty, 0),
                        );
                        self.send(conn, Outgoing::Close);
                    }
                }
            }
            Request::Sasl(_) => {
                // Answered in `request`; never queued.
            }
            other => {
                let Some(op) = to_read_op(other) else {
                    let z = self.last_zxid();
                    self.send(
                        conn,
                        reply(ErrorCode::MarshallingError.code(), Response::Empty, z),
                    );
                    return;
                };
                // Only a standalone server or the leader has every committed txn applied by
                // the time a sync reaches the head of the session's queue; the learner
                // roles that arrive with Zab answer it when the leader's SYNC returns.
                debug_assert!(
                    !matches!(op, ReadOp::Sync(_))
                        || self.role.kind().answers_sync_locally()
                        || self.zab.is_some(),
                    "a learner's sync must go to the leader"
                );
                let auth = c.auth.clone();
                let who = Reader {
                    session_id: session,
                    auth: &auth,
                    watcher: conn,
                };
                let mut events = Vec::new();
                let res = answer(&mut self.tree, &self.cfg.auth, &who, &op, &mut events);
                for e in events {
                    self.send(conn, Outgoing::Event(e));
                }
                let z = self.last_zxid();
                match res {
                    Ok(body) => self.send(conn, reply(0, body, z)),
                    // FinalRequestProcessor still serialises the (empty) MultiResponse it
                    // had started when a multiRead fails.
                    Err(e @ ErrorCode::MarshallingError) if matches!(op, ReadOp::MultiRead(_)) => {
                        let body = Response::Multi(zk_proto::multi::MultiResponse::default());
                        self.send(conn, reply(e.code(), body, z));
                    }
                    Err(e) => self.send(conn, reply(e.code(), Response::Empty, z)),
                }
            }
        }
    }

    // ----- apply -------------------------------------------------------------------

    fn apply_committed(&mut self) {
        while let Some(t) = self.committed.pop_front() {
            self.apply_one(t);
        }
    }

    fn apply_one(&mut self, txn: Prepared) {
        // An ensemble node snapshots only what it applies while serving (committed txns);
        // a LOOKING node's tree may hold an uncommitted tail a TRUNC takes back.
        if self.cfg.snapshots.is_some() && self.role.kind().tree_is_committed() {
            self.txns_since_snapshot += 1;
            if self.txns_since_snapshot >= self.snapshot_threshold {
                // The snapshot is named after the last txn applied before this one; the log
                // replays everything after it.
                self.start_snapshot();
            }
        }
        let h = &txn.header;
        let ephemeral_audit = match (&self.cfg.audit_user, &txn.body) {
            (Some(_), TxnBody::CloseSession(close)) => self.ephemeral_deletions(h.client_id, close),
            _ => Vec::new(),
        };
        let mut notes = std::mem::take(&mut self.notifications);
        notes.clear();
        let rc = self.tree.apply(h, &txn.body, &mut notes);
        self.prep.applied(h.zxid);
        for n in notes.drain(..) {
            // CVE-2024-23944: a watcher that may not READ the node is not told.
            let allowed = self.conns.get(&n.watcher).is_some_and(|c| {
                zk_core::auth::check_acl(&self.cfg.auth, &n.acl, zk_proto::perms::READ, &c.auth)
                    .is_ok()
            });
            if allowed {
                self.out
                    .push(Output::Send(n.watcher, Outgoing::Event(n.event)));
            }
        }
        self.notifications = notes;
        let session = h.client_id;
        let zxid = h.zxid;
        let closed_session = matches!(txn.body, TxnBody::CloseSession(_));
        if closed_session {
            self.sessions.remove(session);
        }
        if let TxnBody::CreateSession(c) = &txn.body {
            // A session prepared elsewhere (by the leader, for a learner's client): known
            // here from its txn on. The preparing node has it already.
            if self.sessions.get(session).is_none() {
                self.sessions.add(session, c.time_out, self.now.mono_ms);
            }
        }
        // CommitProcessor: the committed txn meets the request at the head of its
        // session's queue when (session, cxid) match; otherwise it was not asked for here.
        let origin = match self.queues.get_mut(&session) {
            Some(q) => match q.front() {
                Some(Queued::Write { cxid, .. }) if *cxid == h.cxid => match q.pop_front() {
                    Some(Queued::Write { origin, .. }) => Some(origin),
                    _ => None,
                },
                Some(Queued::Write { cxid, .. }) => {
                    tracing::error!(
                        "txn 0x{zxid:x} of session 0x{session:x} has cxid {} but the session \
                         waits for cxid {cxid}",
                        h.cxid
                    );
                    None
                }
                _ => None,
            },
            None => None,
        };
        if let Some(Origin::Client {
            audit: Some(note), ..
        }) = &origin
        {
            for e in note.events(&rc) {
                self.out.push(Output::Audit(e));
            }
        }
        if let Some(user) = &self.cfg.audit_user {
            for (path, deleted) in ephemeral_audit {
                self.out.push(Output::Audit(crate::AuditEvent {
                    session: Some(session),
                    user: Some(user.clone()),
                    ip: None,
                    operation: "ephemeralZNodeDeletionOnSessionCloseOrExpire",
                    znode: Some(path),
                    znode_type: None,
                    acl: None,
                    result: if deleted {
                        crate::AuditResult::Success
                    } else {
                        crate::AuditResult::Failure
                    },
                }));
            }
        }
        match origin {
            Some(Origin::Connect {
                conn,
                read_only_byte,
                timeout,
            }) => {
                let z = self.last_zxid();
                self.send(
                    conn,
                    Outgoing::Connected {
                        resp: ConnectResponse {
                            protocol_version: 0,
                            time_out: timeout,
                            session_id: session,
                            passwd: Some(Bytes::copy_from_slice(&session_password(session))),
                            read_only: false,
                        },
                        read_only_byte,
                        valid: true,
                        zxid: z,
                    },
                );
            }
            Some(Origin::Client { xid, op, .. }) if op == OpCode::Check && rc.err == 0 => {
                // A check outside a multi that succeeds is never answered: 3.8.0's
                // FinalRequestProcessor fails to serialise its SetDataResponse (null Stat).
                tracing::warn!("no reply to check xid {xid} outside a multi, as upstream");
            }
            Some(Origin::Client { conn, xid, op, .. }) => {
                let z = self.last_zxid();
                let out = match write_reply(op, &rc) {
                    Ok(body) => Outgoing::Reply {
                        xid,
                        zxid: z,
                        err: 0,
                        body,
                    },
                    Err(e) => Outgoing::Reply {
                        xid,
                        zxid: z,
                        err: e.code(),
                        body: Response::Empty,
                    },
                };
                self.send(conn, out);
                if closed_session {
                    self.send(conn, Outgoing::Close);
                }
            }
            Some(Origin::Internal) | None => {
                // A session closed by expiry, or by another node: its connection here goes.
                if closed_session {
                    if let Some(conn) = self.session_conn.remove(&session) {
                        self.send(conn, Outgoing::Close);
                    }
                }
            }
        }
        if closed_session {
            self.session_conn.remove(&session);
        }
        self.drain_session(session);
    }

    /// Answers the reads (and the answered syncs) now at the head of the session's queue.
    fn drain_session(&mut self, session: i64) {
        let mut ready = Vec::new();
        if let Some(q) = self.queues.get_mut(&session) {
            while matches!(
                q.front(),
                Some(Queued::Read { .. }) | Some(Queued::Sync { done: true, .. })
            ) {
                match q.pop_front() {
                    Some(Queued::Read {
                        conn,
                        xid,
                        op,
                        forced,
                    }) => ready.push((conn, xid, op, forced)),
                    Some(Queued::Sync { conn, xid, op, .. }) => ready.push((conn, xid, op, None)),
                    _ => break,
                }
            }
            if q.is_empty() {
                self.queues.remove(&session);
            }
        }
        for (conn, xid, op, forced) in ready {
            self.read_now(conn, xid, &op, forced);
        }
    }

    /// The paths a closeSession txn deletes, in the order `DataTree.killSession` deletes
    /// them (the txn's list, then the tree's remaining ephemerals of the session), each
    /// with whether it is there to delete.
    fn ephemeral_deletions(
        &self,
        session: i64,
        close: &Option<zk_proto::txn::CloseSessionTxn>,
    ) -> Vec<(String, bool)> {
        let listed: Vec<Bytes> = close
            .iter()
            .flat_map(|t| t.paths2_delete.iter().flatten())
            .map(|p| p.bytes().clone())
            .collect();
        let mut rest: Vec<Bytes> = self
            .tree
            .ephemerals_of(session)
            .into_iter()
            .filter(|p| !listed.contains(p))
            .collect();
        rest.sort();
        listed
            .iter()
            .chain(&rest)
            .map(|p| {
                let there = self.tree.node(p).is_some();
                (String::from_utf8_lossy(p).into_owned(), there)
            })
            .collect()
    }

    // ----- snapshots ---------------------------------------------------------------

    /// Starts a background snapshot, unless one is still being written (upstream's "Too busy
    /// to snap, skipping"): the next threshold comes round soon enough.
    fn start_snapshot(&mut self) {
        let Some(policy) = self.cfg.snapshots else {
            return;
        };
        self.txns_since_snapshot = 0;
        self.snapshot_threshold = policy.next_threshold(self.now.wall_ms as u64);
        if self.snap_job.is_some() {
            tracing::warn!("too busy to snapshot: the previous one is still being written");
            return;
        }
        let sessions: Vec<(i64, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        let cursor = match zk_tree::snapshot::FuzzySnapshot::start(
            &self.tree,
            sessions,
            &zk_tree::snapshot::WriteOptions::default(),
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("cannot start a snapshot: {e}; the txn log keeps everything");
                return;
            }
        };
        self.out.push(Output::SnapshotBegin {
            zxid: Zxid(cursor.zxid()),
            nodes: self.tree.node_count(),
        });
        self.snap_job = Some(SnapJob {
            zxid: cursor.zxid(),
            cursor: Some(cursor),
            abandoned: false,
        });
    }

    /// An ensemble node's tree is about to change outside the serving applies: the
    /// snapshot in progress (a fuzzy one over the tree being replaced, or about to take an
    /// uncommitted tail) is abandoned.
    fn abandon_snapshot(&mut self) {
        if let Some(job) = self.snap_job.as_mut() {
            if job.cursor.take().is_some() {
                job.abandoned = true;
                self.out.push(Output::SnapshotAbandoned);
            }
        }
    }

    /// The background snapshot `zxid` is durable: an ensemble node with a snapshot source
    /// moves its peer's log base to the snapshot it wrote before this one (each holds the
    /// committed history up to its zxid, and replaying the log after it gives the tree, as
    /// standalone recovery does). The log kept in memory is then the last one to two
    /// snapshot intervals: the DIFF window (Java's `commitLogCount` of 500 proposals plus
    /// the txn log since its snapshot), at most about `2 × snapCount` txns; a learner
    /// further behind gets a SNAP.
    fn snapshot_written(&mut self, zxid: i64) {
        let ours = self
            .snap_job
            .as_ref()
            .is_some_and(|j| j.zxid == zxid && !j.abandoned);
        let Some(z) = self.zab.as_mut().filter(|z| z.source.is_some()) else {
            return;
        };
        if !ours {
            return;
        }
        let Some(prev) = z.written.replace(zxid) else {
            return;
        };
        let before = z.peer.log().len();
        if z.peer.compact(prev) {
            // The base is read from the store from now on.
            z.bases.clear();
            tracing::debug!(
                "log based at snapshot 0x{prev:x}: {} txns left memory, {} kept",
                before - z.peer.log().len(),
                z.peer.log().len()
            );
        }
    }

    /// Serialises the next slice of the background snapshot, if there is one.
    fn snapshot_step(&mut self) {
        let Some(job) = self.snap_job.as_mut() else {
            return;
        };
        let Some(cursor) = job.cursor.as_mut() else {
            return;
        };
        let slice = if cursor.step(&self.tree, SNAPSHOT_STEP_NODES) {
            match job.cursor.take() {
                Some(c) => {
                    let (last, summary) = c.finish(&self.tree);
                    SnapshotSlice::Last(last, summary)
                }
                None => return,
            }
        } else {
            SnapshotSlice::Data(cursor.take())
        };
        self.out.push(Output::SnapshotSlice(slice));
    }
}

// ----- the Zab role (crate::zab) -------------------------------------------------------

impl Node {
    /// A serving follower or observer: writes and syncs go to the leader.
    fn is_learner(&self) -> bool {
        self.zab.is_some() && matches!(self.role.kind(), RoleKind::Follower | RoleKind::Observer)
    }

    /// The leader answered a REVALIDATE: the waiting reconnect finishes (`finishSessionInit`).
    /// A valid session is held here from now on (the leader touched it); the password is
    /// checked here as for a local one.
    fn revalidated(&mut self, id: i64, valid: bool) {
        let Some(r) = self.zab.as_mut().and_then(|z| z.revalidating.remove(&id)) else {
            tracing::warn!("Missing session 0x{id:x} for validation");
            return;
        };
        if self.session_conn.contains_key(&id) || !self.conns.contains_key(&r.conn) {
            // Another connection took the session meanwhile, or this one is gone.
            return;
        }
        let valid = valid && r.password_ok;
        if valid && self.sessions.get(id).is_none() {
            self.sessions.add(id, r.timeout, self.now.mono_ms);
        }
        let valid = valid
            && self
                .sessions
                .set_timeout_and_touch(id, r.timeout, self.now.mono_ms);
        self.finish_connect(r.conn, id, r.timeout, valid, r.read_only_byte);
    }

    /// A prepared txn enters replication: the standalone role, or the Zab leader's
    /// broadcast at the peer's next zxid (which preparation's counter equals).
    fn hand_to_role(&mut self, p: Prepared) {
        let Some(z) = self.zab.as_mut() else {
            self.role.propose(p, &mut self.out);
            return;
        };
        if z.peer.next_zxid() != Some(p.header.zxid) {
            tracing::error!(
                "prepared zxid 0x{:x} but the peer proposes at {:?}: not proposed",
                p.header.zxid,
                z.peer.next_zxid()
            );
            return;
        }
        z.predicted = z.predicted.wrapping_add(self.prep.last_digest_delta());
        let digest = zk_proto::txn::TxnDigest {
            version: zk_tree::digest::DIGEST_VERSION,
            tree_digest: z.predicted,
        };
        let cmds = z.peer.step(PeerEvent::ProposeTxn {
            body: p.body.to_bytes(),
            header: p.header,
            digest: Some(digest),
        });
        self.peer_cmds(cmds);
    }

    /// A learner forwards a request for `session` to the leader; `origin` waits in the
    /// session's queue for the COMMIT of its txn.
    fn forward(
        &mut self,
        session: i64,
        cxid: i32,
        op_type: i32,
        body: Bytes,
        auth: Vec<Id>,
        origin: Origin,
    ) {
        let request = ForwardedRequest {
            session_id: session,
            cxid,
            op_type,
            body,
            authinfo: Some(auth),
        };
        self.queues
            .entry(session)
            .or_default()
            .push_back(Queued::Write { cxid, origin });
        if let Some(z) = self.zab.as_mut() {
            let cmds = z.peer.step(PeerEvent::Forward(request));
            self.peer_cmds(cmds);
        }
    }

    /// A client's write at a learner.
    fn forward_client(&mut self, conn: ConnId, session: i64, xid: i32, op: OpCode, body: Bytes) {
        let (auth, audit) = match self.conns.get(&conn) {
            Some(c) => (c.auth.clone(), None),
            None => return,
        };
        let origin = Origin::Client {
            conn,
            xid,
            op,
            audit,
        };
        self.forward(session, xid, op.code(), body, auth, origin);
    }

    /// A client's `sync` at a learner: forwarded; answered in the session's order once the
    /// leader's SYNC is back (every txn committed before it is applied here by then).
    fn forward_sync(&mut self, conn: ConnId, session: i64, xid: i32, req: Box<Request>) {
        let mut body = bytes::BytesMut::new();
        req.encode_body(&mut body);
        let auth = self
            .conns
            .get(&conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        self.queues
            .entry(session)
            .or_default()
            .push_back(Queued::Sync {
                conn,
                xid,
                op: req,
                done: false,
            });
        if let Some(z) = self.zab.as_mut() {
            z.pending_syncs.push_back(session);
            let cmds = z.peer.step(PeerEvent::Forward(ForwardedRequest {
                session_id: session,
                cxid: xid,
                op_type: OpCode::Sync.code(),
                body: body.freeze(),
                authinfo: Some(auth),
            }));
            self.peer_cmds(cmds);
        }
    }

    fn peer_step(&mut self, event: PeerEvent) {
        let Some(z) = self.zab.as_mut() else {
            return;
        };
        let snap_durable = event == PeerEvent::SnapshotDurable;
        let cmds = z.peer.step(event);
        if snap_durable && z.source.is_some() && !z.peer.is_serving() {
            // A SNAP's base is on disk now (the shell wrote it before the log after it):
            // read from the store from now on.
            let base = z.peer.base();
            z.bases.retain(|(b, _)| *b != base);
        }
        self.peer_cmds(cmds);
    }

    /// Acts on the peer's commands the node owns, and hands every command to the shell.
    fn peer_cmds(&mut self, cmds: Vec<PeerCommand>) {
        for c in cmds {
            if let PeerCommand::SendSnapshot { to, conn, zxid } = c {
                if self.tree.last_processed_zxid != zxid {
                    tracing::error!(
                        "SNAP to server {to} at 0x{zxid:x}, but the tree is at 0x{:x}",
                        self.tree.last_processed_zxid
                    );
                }
                let data = self.serialize_state();
                let message = zk_zab::peer::Message::Snapshot { conn, zxid, data };
                self.out
                    .push(Output::Peer(PeerCommand::Send { to, message }));
                continue;
            }
            match &c {
                PeerCommand::Commit { zxid } => self.catch_up(*zxid),
                PeerCommand::RoleChanged(role) => {
                    self.abandon_snapshot();
                    self.stop_serving();
                    self.read_only_role_changed(*role);
                    let last = self.peer().map_or(0, |p| p.last_zxid());
                    let base = self.peer().map_or(0, |p| p.base());
                    let applied = self.tree.last_processed_zxid;
                    let kept = self
                        .peer()
                        .is_some_and(|p| p.mutation() == zk_zab::Mutation::KeepTreeOnTruncate);
                    if applied < base || (applied > last && !kept) {
                        // A peer recovered from a snapshot (the tree is that plus the log),
                        // or a SNAP loaded and dropped with its session (the tree is ahead
                        // of the log the peer went back to).
                        self.rebuild(last);
                    } else {
                        self.catch_up(last);
                    }
                }
                PeerCommand::Established { epoch } => self.establish(*epoch),
                PeerCommand::LoadSnapshot { zxid, data } => {
                    self.abandon_snapshot();
                    if let Some(z) = self.zab.as_mut() {
                        z.keep_base(*zxid, data.clone());
                    }
                    self.rebuild(*zxid);
                }
                PeerCommand::Truncate { zxid } => {
                    let mutated = self
                        .peer()
                        .is_some_and(|p| p.mutation() == zk_zab::Mutation::KeepTreeOnTruncate);
                    if self.tree.last_processed_zxid > *zxid && !mutated {
                        self.rebuild(*zxid);
                    }
                }
                PeerCommand::Forwarded { request, .. } => self.forwarded(request),
                PeerCommand::SessionsTouched(touched) => {
                    for t in touched {
                        self.sessions.touch(t.session_id, self.now.mono_ms);
                    }
                }
                PeerCommand::Synced => self.synced(),
                PeerCommand::Revalidate {
                    from,
                    session_id,
                    timeout_ms,
                } => {
                    // Leader.revalidateSession: checkIfValidGlobalSession touches it.
                    let valid = self.sessions.set_timeout_and_touch(
                        *session_id,
                        *timeout_ms,
                        self.now.mono_ms,
                    );
                    self.peer_step(PeerEvent::RevalidateReply {
                        to: *from,
                        session_id: *session_id,
                        valid,
                    });
                }
                PeerCommand::Revalidated { session_id, valid } => {
                    self.revalidated(*session_id, *valid)
                }
                PeerCommand::Send { .. }
                | PeerCommand::SetTimer { .. }
                | PeerCommand::Persist(_)
                | PeerCommand::WriteAcceptedEpoch(_)
                | PeerCommand::WriteCurrentEpoch(_)
                | PeerCommand::SendSnapshot { .. }
                | PeerCommand::TakeSnapshot(_) => {}
            }
            self.out.push(Output::Peer(c));
        }
        let serving_follower = self.peer().is_some_and(|p| p.is_serving());
        if serving_follower && self.role.kind() == RoleKind::Looking {
            let observing = self
                .peer()
                .is_some_and(|p| matches!(p.role(), zk_zab::peer::PeerRole::Observing { .. }));
            let (what, kind) = if observing {
                ("an observer", RoleKind::Observer)
            } else {
                ("a follower", RoleKind::Follower)
            };
            tracing::info!("synced with the leader: serving as {what}");
            self.role = Box::new(ZabKind(kind));
        }
    }

    /// Applies the peer's logged txns after the last applied one, up to `upto`, in order.
    fn catch_up(&mut self, upto: i64) {
        let last = self.tree.last_processed_zxid;
        let txns: Vec<TxnPayload> = match &self.zab {
            Some(z) => {
                let log = z.peer.log();
                let from = log.partition_point(|t| t.header().zxid <= last);
                log[from..]
                    .iter()
                    .take_while(|t| t.header().zxid <= upto)
                    .cloned()
                    .collect()
            }
            None => return,
        };
        for t in txns {
            let header = t.header().clone();
            let body = match TxnBody::from_bytes(header.type_, t.body()) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("txn 0x{:x} in the log does not decode: {e}", header.zxid);
                    return;
                }
            };
            let zxid = header.zxid;
            self.committed.push_back(Prepared { header, body });
            self.apply_committed();
            if let Some(z) = self.zab.as_mut() {
                z.chain = crate::zab::fnv(z.chain, t.bytes());
                if z.record_applies {
                    let chain = z.chain;
                    self.out.push(Output::Applied {
                        zxid,
                        chain,
                        digest: zk_tree::digest::tree_digest(&self.tree),
                        proposed: t.digest().map(|d| d.tree_digest),
                    });
                }
            }
        }
    }

    /// The tree built anew from the snapshot the peer's log starts after (a new tree for
    /// base 0) and the log up to `upto` (a SNAP, or a TRUNC below what was applied).
    /// Sessions go with it; the clients were disconnected already.
    fn rebuild(&mut self, upto: i64) {
        self.abandon_snapshot();
        self.tree = DataTree::new();
        let ids: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
        for id in ids {
            self.sessions.remove(id);
        }
        let base = self.peer().map_or(0, |p| p.base());
        let mut chain = crate::zab::CHAIN_START;
        // A snapshot without a digest section may be fuzzy (txns applied while it was
        // written are in it): replaying them gives the exact tree only at the end of the
        // window, so the digests after each replayed txn are not reported.
        let mut fuzzy = false;
        if base > 0 {
            match self.base_snapshot() {
                Some((_, data)) => {
                    let opts = zk_tree::snapshot::ReadOptions::default();
                    match zk_tree::snapshot::read_snapshot(&data[..], base, &opts) {
                        Ok(loaded) => {
                            // A SNAP's (held in memory) is exact: the leader serialised
                            // its tree at once.
                            let held = self
                                .zab
                                .as_ref()
                                .is_some_and(|z| z.bases.iter().any(|(b, _)| *b == base));
                            fuzzy = loaded.digest.is_none() && !held;
                            self.tree = loaded.tree;
                            for (id, timeout) in loaded.sessions {
                                self.sessions.add(id, timeout, self.now.mono_ms);
                            }
                            // Nodes that loaded the same snapshot share a history.
                            chain = crate::zab::fnv(chain, &data);
                        }
                        Err(e) => tracing::error!("the snapshot at 0x{base:x} does not load: {e}"),
                    }
                }
                None => tracing::error!("no snapshot at 0x{base:x} to rebuild the tree from"),
            }
        }
        if let Some(z) = self.zab.as_mut() {
            z.chain = chain;
        }
        self.prep = Prep::new(prep_config(&self.cfg), 0);
        let record = self.zab.as_ref().is_some_and(|z| z.record_applies);
        if let Some(z) = self.zab.as_mut() {
            z.record_applies = record && !fuzzy;
        }
        self.catch_up(upto);
        if let Some(z) = self.zab.as_mut() {
            z.record_applies = record;
        }
        self.prep = Prep::new(prep_config(&self.cfg), self.last_zxid());
        self.init_config_node();
    }

    /// Leaves the serving roles: every client connection closes, pending work is dropped,
    /// preparation restarts from what is applied.
    fn stop_serving(&mut self) {
        let mut conns: Vec<ConnId> = self.conns.keys().copied().collect();
        conns.sort_unstable();
        for conn in conns {
            self.tree.remove_watcher(conn);
            self.out.push(Output::Send(conn, Outgoing::Close));
        }
        self.conns.clear();
        self.session_conn.clear();
        self.queues.clear();
        self.committed.clear();
        if let Some(z) = self.zab.as_mut() {
            z.pending_syncs.clear();
            z.revalidating.clear();
        }
        self.prep = Prep::new(prep_config(&self.cfg), self.last_zxid());
        self.role = Box::new(ZabKind(RoleKind::Looking));
    }

    /// The leader established `epoch`: its whole log is committed and applied, preparation
    /// goes on at `epoch << 32 | 1`, and every session gets a full timeout from now.
    fn establish(&mut self, epoch: i64) {
        let last = self.peer().map_or(0, |p| p.last_zxid());
        self.catch_up(last);
        self.prep = Prep::new(prep_config(&self.cfg), self.last_zxid());
        self.prep.start_epoch(epoch as u32);
        self.prep.track_digest(true);
        let digest = zk_tree::digest::tree_digest(&self.tree);
        if let Some(z) = self.zab.as_mut() {
            z.predicted = digest;
        }
        let sessions: Vec<(i64, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        for (id, timeout) in sessions {
            // Re-added: a closeSession an earlier leader prepared may never have committed.
            self.sessions.remove(id);
            self.sessions.add(id, timeout, self.now.mono_ms);
        }
        self.last_reap_ms = self.now.mono_ms;
        self.role = Box::new(ZabKind(RoleKind::Leader));
        tracing::info!("leading epoch {epoch}: serving");
    }

    /// The leader prepares a learner's request as its session's (`submitLearnerRequest`).
    fn forwarded(&mut self, r: &ForwardedRequest) {
        if self.role.kind() != RoleKind::Leader {
            return;
        }
        let Some(code) = OpCode::from_code(r.op_type) else {
            tracing::warn!("forwarded request of unknown type {}", r.op_type);
            return;
        };
        let op = match code {
            OpCode::CreateSession => match <[u8; 4]>::try_from(&r.body[..]) {
                Ok(b) => WriteOp::CreateSession(i32::from_be_bytes(b)),
                Err(_) => WriteOp::Malformed(code),
            },
            OpCode::CloseSession => WriteOp::CloseSession,
            _ => match Request::decode(r.op_type, r.body.clone(), zk_proto::Limits::default()) {
                Ok(req) => to_write_op(&req).unwrap_or(WriteOp::Malformed(code)),
                Err(_) => WriteOp::Malformed(code),
            },
        };
        if code != OpCode::CreateSession {
            self.sessions.touch(r.session_id, self.now.mono_ms);
        }
        let auth = r.authinfo.clone().unwrap_or_default();
        let who = Requester {
            session_id: r.session_id,
            auth: &auth,
        };
        let p = self.prep.prepare(
            &self.tree,
            &mut self.sessions,
            &who,
            r.cxid,
            &op,
            self.now.wall_ms,
        );
        if code == OpCode::CreateSession {
            self.sessions.touch(r.session_id, self.now.mono_ms);
        }
        self.hand_to_role(p);
    }

    /// The leader's SYNC: the oldest forwarded sync is answered, in its session's order.
    fn synced(&mut self) {
        let Some(session) = self.zab.as_mut().and_then(|z| z.pending_syncs.pop_front()) else {
            tracing::warn!("a SYNC from the leader, but no sync is pending");
            return;
        };
        if let Some(q) = self.queues.get_mut(&session) {
            for e in q.iter_mut() {
                if let Queued::Sync { done, .. } = e {
                    if !*done {
                        *done = true;
                        break;
                    }
                }
            }
        }
        self.drain_session(session);
    }
}
