//! The core loop: the one task that owns the data tree, request preparation and the
//! session table.
//!
//! ```text
//!  conn tasks ──CoreMsg──►  core  ──txn batch──► log thread (append + one fsync)
//!       ▲                    │  ◄──durable(zxid)──┘
//!       └──Outgoing (replies, events, close)──┘  apply in zxid order, reply, fire watches
//! ```
//!
//! Ordering (as `CommitProcessor`): writes are prepared the moment they arrive, so
//! pipelined writes see each other; a session's reads wait behind that session's earlier
//! writes and nothing else. Watch events are queued to a connection when the txn is
//! applied, before any later reply, so a client sees the event before a read that shows
//! the change.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use zk_core::auth::{authenticate, ip_identity, AuthOutcome};
use zk_core::prep::{Prep, PrepConfig, Prepared, Requester, WriteOp};
use zk_core::read::{answer, write_reply, ReadOp, Reader, Response};
use zk_core::session::{session_password, SessionTable};
use zk_proto::data::Id;
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::proto::{ConnectResponse, SetSASLResponse, SetWatches2};
use zk_proto::request::Request;
use zk_proto::txn_body::{LogEntry, TxnBody};
use zk_proto::{ErrorCode, OpCode};
use zk_tree::{DataTree, Notification, WatchedEvent};

use crate::fourlw;
use crate::log::{LogCmd, LogEvent};
use crate::settings::Settings;
use crate::snapshots::{Chunk, Done, SnapshotTarget};
use crate::stats::Stats;

/// A connection's id; also its watcher id.
pub type ConnId = u64;

/// What a connection tells the core.
#[derive(Debug)]
pub enum CoreMsg {
    /// A ConnectRequest (the connection reads nothing more until it is answered).
    Connect {
        /// The connection.
        conn: ConnId,
        /// Its peer address.
        peer: IpAddr,
        /// The request.
        req: zk_proto::proto::ConnectRequest,
        /// Whether the request carried the readOnly byte (the answer mirrors it).
        read_only_byte: bool,
        /// Where to send replies.
        tx: mpsc::UnboundedSender<Outgoing>,
        /// Identities the transport established (`x509:` from a client certificate).
        auth: Vec<Id>,
    },
    /// A request after the handshake.
    Request {
        /// The connection.
        conn: ConnId,
        /// Its xid.
        xid: i32,
        /// The decoded request.
        req: Box<Request>,
    },
    /// A request whose body did not decode: MARSHALLINGERROR (writes still take a zxid).
    Malformed {
        /// The connection.
        conn: ConnId,
        /// Its xid.
        xid: i32,
        /// Its opcode.
        op: OpCode,
    },
    /// The connection is gone.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// A four-letter word.
    FourLetter {
        /// The command.
        cmd: String,
        /// Where the text goes.
        reply: oneshot::Sender<String>,
    },
    /// A question from the operator surface (AdminServer, metrics).
    Query {
        /// The question.
        query: crate::ops::query::Query,
        /// Where the answer goes.
        reply: oneshot::Sender<crate::ops::query::Answer>,
    },
}

/// What the core tells a connection.
#[derive(Debug)]
pub enum Outgoing {
    /// The ConnectResponse; `valid == false` closes the connection after sending.
    Connected {
        /// The response.
        resp: ConnectResponse,
        /// Append the readOnly byte.
        read_only_byte: bool,
        /// Session accepted.
        valid: bool,
        /// The last applied zxid (the connection's `lzxid` for a new session).
        zxid: i64,
    },
    /// A reply frame.
    Reply {
        /// xid.
        xid: i32,
        /// zxid for the header.
        zxid: i64,
        /// error code.
        err: i32,
        /// body (`Response::Empty` when err != 0, except for a failed multiRead).
        body: Response,
    },
    /// A watch notification.
    Event(WatchedEvent),
    /// Flush what was queued, then close.
    Close,
}

struct Conn {
    tx: mpsc::UnboundedSender<Outgoing>,
    session: Option<i64>,
    auth: Vec<Id>,
    peer: IpAddr,
    /// The connection's SASL exchange, once started.
    sasl: Option<zk_core::sasl::DigestMd5Server>,
}

enum Origin {
    Client {
        conn: ConnId,
        xid: i32,
        op: OpCode,
    },
    Connect {
        conn: ConnId,
        read_only_byte: bool,
        timeout: i32,
    },
    Internal,
}

struct InFlight {
    prepared: Prepared,
    origin: Origin,
}

enum Queued {
    Write(i64),
    Read {
        conn: ConnId,
        xid: i32,
        op: Box<Request>,
        forced: Option<ErrorCode>,
    },
}

/// Time as the core sees it: monotonic ms for sessions and wall-clock ms for txn times,
/// moving together. Real time by default; tests use [`Clock::manual`] and move it with
/// [`ManualTime::advance`], so expiry, TTL and container tests never sleep.
#[derive(Debug, Clone)]
pub struct Clock {
    start: Instant,
    wall_at_start: i64,
    manual: Option<Arc<ManualTime>>,
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualTime {
    now_ms: std::sync::atomic::AtomicI64,
    changed: tokio::sync::Notify,
}

impl ManualTime {
    /// Moves time forward by `ms` and wakes the core to act on it (expiry, reaping).
    pub fn advance(&self, ms: i64) {
        self.now_ms
            .fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_one();
    }
}

impl Clock {
    /// Real time, starting now.
    pub fn new() -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Clock {
            start: Instant::now(),
            wall_at_start: wall,
            manual: None,
        }
    }
    /// A manual clock starting at the current wall time, and its handle.
    pub fn manual() -> (Self, Arc<ManualTime>) {
        let m = Arc::new(ManualTime::default());
        let mut c = Clock::new();
        c.manual = Some(m.clone());
        (c, m)
    }
    /// Monotonic ms since start.
    pub fn mono_ms(&self) -> i64 {
        match &self.manual {
            Some(m) => m.now_ms.load(std::sync::atomic::Ordering::SeqCst),
            None => self.start.elapsed().as_millis() as i64,
        }
    }
    /// Wall-clock ms.
    pub fn wall_ms(&self) -> i64 {
        self.wall_at_start + self.mono_ms()
    }
    /// The instant for a monotonic ms value.
    pub fn instant_at(&self, ms: i64) -> Instant {
        self.start + Duration::from_millis(ms.max(0) as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The core's state.
pub struct Core {
    settings: Arc<Settings>,
    stats: Arc<Stats>,
    clock: Clock,
    tree: DataTree,
    prep: Prep,
    sessions: SessionTable,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    queues: HashMap<i64, VecDeque<Queued>>,
    in_flight: VecDeque<InFlight>,
    to_log: Vec<(i64, Bytes)>,
    log_tx: std::sync::mpsc::Sender<LogCmd>,
    notifications: Vec<Notification>,
    reaped_this_minute: (i64, usize),
    /// The snapshot target; `None` while a background snapshot's writer thread holds it.
    snapshots: Option<Box<dyn SnapshotTarget>>,
    txns_since_snapshot: u64,
    snapshot_threshold: u64,
    /// The background snapshot in progress.
    snap_job: Option<SnapJob>,
    snap_done_tx: mpsc::UnboundedSender<Done>,
    snap_done_rx: Option<mpsc::UnboundedReceiver<Done>>,
    /// A purge came due while the snapshot target was busy: run it when it comes back.
    purge_due: bool,
}

/// A background (fuzzy) snapshot: the cursor the core steps, until it is finished, and the
/// channel to its writer thread.
struct SnapJob {
    cursor: Option<zk_tree::snapshot::FuzzySnapshot>,
    tx: mpsc::Sender<Chunk>,
}

impl Core {
    /// A core over a tree recovered up to `tree.last_processed_zxid`.
    pub fn new(
        settings: Arc<Settings>,
        stats: Arc<Stats>,
        tree: DataTree,
        sessions: SessionTable,
        log_tx: std::sync::mpsc::Sender<LogCmd>,
        clock: Clock,
        snapshots: Option<Box<dyn SnapshotTarget>>,
    ) -> Self {
        let cfg = PrepConfig {
            auth: settings.auth.clone(),
            extended_types: settings.extended_types,
            close_session_txn: settings.close_session_txn,
            reconfig_enabled: settings.reconfig_enabled,
        };
        let last = tree.last_processed_zxid;
        let (snap_done_tx, snap_done_rx) = mpsc::unbounded_channel();
        Core {
            stats,
            clock,
            tree,
            prep: Prep::new(cfg, last),
            sessions,
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            queues: HashMap::new(),
            in_flight: VecDeque::new(),
            to_log: Vec::new(),
            log_tx,
            notifications: Vec::new(),
            reaped_this_minute: (0, 0),
            snapshot_threshold: settings.snapshot.next_threshold(last as u64),
            snapshots,
            txns_since_snapshot: 0,
            snap_job: None,
            snap_done_tx,
            snap_done_rx: Some(snap_done_rx),
            purge_due: false,
            settings,
        }
    }

    /// Runs until every connection handle is dropped and shutdown is signalled, or the log
    /// fails. Returns the log failure, if any.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<CoreMsg>,
        mut log_rx: mpsc::UnboundedReceiver<LogEvent>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut reaper = tokio::time::interval(self.settings.container_check_interval);
        reaper.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reaper.tick().await;
        let manual = self.clock.manual.clone();
        let mut last_reap = self.clock.mono_ms();
        let Some(mut snap_done_rx) = self.snap_done_rx.take() else {
            return Err("the core ran twice".into());
        };
        // DatadirCleanupManager: at start, then every purgeInterval hours.
        let purge_every = self.settings.snapshot.purge_interval;
        let mut purge_timer =
            tokio::time::interval(purge_every.unwrap_or(Duration::from_secs(3600)));
        purge_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        match purge_every {
            Some(every) => tracing::info!(
                "purging snapshots beyond the newest {} every {:.1} h",
                self.settings.snapshot.retain,
                every.as_secs_f64() / 3600.0
            ),
            None => tracing::info!("purge task is not scheduled (autopurge.purgeInterval is 0)"),
        }
        loop {
            // Room for the next slice of a background snapshot (waited on only when idle:
            // under load the loop steps it after every batch).
            let snap_room = self
                .snap_job
                .as_ref()
                .filter(|j| j.cursor.is_some())
                .map(|j| j.tx.clone());
            let room = async {
                match snap_room {
                    Some(tx) => match tx.reserve_owned().await {
                        Ok(permit) => drop(permit),
                        // The writer is gone; its Done message says why.
                        Err(_) => std::future::pending().await,
                    },
                    None => std::future::pending().await,
                }
            };
            let far = Instant::now() + Duration::from_secs(3600);
            let deadline = match (&manual, self.sessions.next_deadline()) {
                (None, Some(ms)) => self.clock.instant_at(ms),
                _ => far,
            };
            let manual_tick = async {
                match &manual {
                    Some(m) => m.changed.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                ev = log_rx.recv() => match ev {
                    Some(LogEvent::Durable(z)) => self.apply_durable(z),
                    Some(LogEvent::Failed(e)) => return Err(e),
                    None => return Err("log writer stopped".into()),
                },
                msg = rx.recv() => match msg {
                    Some(m) => {
                        self.handle(m);
                        // Drain what else is ready so it shares one log batch.
                        for _ in 0..1024 {
                            match rx.try_recv() {
                                Ok(m) => self.handle(m),
                                Err(_) => break,
                            }
                        }
                    }
                    // Only the server's shutdown drops every sender.
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => self.expire_sessions(),
                _ = reaper.tick(), if manual.is_none() => self.reap_containers(),
                _ = manual_tick => {
                    self.expire_sessions();
                    let now = self.clock.mono_ms();
                    let every = self.settings.container_check_interval.as_millis() as i64;
                    if now - last_reap >= every {
                        last_reap = now;
                        self.reap_containers();
                    }
                }
                Some(done) = snap_done_rx.recv() => self.snapshot_done(done),
                _ = room => {}
                _ = purge_timer.tick(), if purge_every.is_some() => self.purge(),
                _ = shutdown.changed() => break,
            }
            self.flush_log();
            self.snapshot_step();
        }
        // Shutdown. A background snapshot still being written is abandoned (its writer
        // discards the partial file) in favour of a complete one of the final state.
        if self.snap_job.take().is_some() {
            if let Some(done) = snap_done_rx.recv().await {
                self.snapshot_done(done);
            }
        }
        self.snapshot_now();
        Ok(())
    }

    fn flush_log(&mut self) {
        if self.to_log.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.to_log);
        // A send error means the log thread is gone; it reports why on log_rx.
        let _ = self.log_tx.send(LogCmd::Append(batch));
    }

    fn send(&self, conn: ConnId, out: Outgoing) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(out);
        }
    }

    fn last_zxid(&self) -> i64 {
        self.tree.last_processed_zxid
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                peer,
                req,
                read_only_byte,
                tx,
                auth,
            } => self.connect(conn, peer, req, read_only_byte, tx, auth),
            CoreMsg::Request { conn, xid, req } => self.request(conn, xid, req),
            CoreMsg::Malformed { conn, xid, op } => self.malformed(conn, xid, op),
            CoreMsg::Closed { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    self.tree.remove_watcher(conn);
                    if let Some(s) = c.session {
                        if self.session_conn.get(&s) == Some(&conn) {
                            self.session_conn.remove(&s);
                        }
                    }
                }
            }
            CoreMsg::FourLetter { cmd, reply } => {
                let text = fourlw::render(&cmd, &self.view());
                let _ = reply.send(text);
            }
            CoreMsg::Query { query, reply } => {
                let _ = reply.send(crate::ops::query::answer(query, &self.view()));
            }
        }
    }

    fn view(&self) -> fourlw::CoreView<'_> {
        fourlw::CoreView {
            settings: &self.settings,
            stats: &self.stats,
            tree: &self.tree,
            sessions: &self.sessions,
            outstanding: self.in_flight.len(),
            now_mono_ms: self.clock.mono_ms(),
            now_wall_ms: self.clock.wall_ms(),
        }
    }

    // ----- sessions ----------------------------------------------------------------

    fn connect(
        &mut self,
        conn: ConnId,
        peer: IpAddr,
        req: zk_proto::proto::ConnectRequest,
        read_only_byte: bool,
        tx: mpsc::UnboundedSender<Outgoing>,
        transport_auth: Vec<Id>,
    ) {
        let mut auth = vec![ip_identity(&peer)];
        auth.extend(transport_auth);
        self.conns.insert(
            conn,
            Conn {
                tx,
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
            .max(self.settings.min_session_timeout)
            .min(self.settings.max_session_timeout);
        let now = self.clock.mono_ms();
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = Some(id);
            }
            self.session_conn.insert(id, conn);
            let who = Requester {
                session_id: id,
                auth: &[],
            };
            let p = self.prep.prepare(
                &self.tree,
                &mut self.sessions,
                &who,
                0,
                &WriteOp::CreateSession(timeout),
                self.clock.wall_ms(),
            );
            tracing::debug!("new session 0x{id:x} for {peer}, timeout {timeout}");
            self.submit(
                p,
                Origin::Connect {
                    conn,
                    read_only_byte,
                    timeout,
                },
            );
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
        let valid = password_ok && self.sessions.set_timeout_and_touch(id, timeout, now);
        if valid {
            self.session_conn.insert(id, conn);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = Some(id);
            }
        } else {
            tracing::info!("invalid session 0x{id:x} for client {peer}, probably expired");
        }
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
                    read_only: false,
                },
                read_only_byte,
                valid,
                zxid: self.last_zxid(),
            },
        );
    }

    fn expire_sessions(&mut self) {
        let now = self.clock.mono_ms();
        for id in self.sessions.expire(now) {
            tracing::info!("expiring session 0x{id:x}, timeout exceeded");
            self.stats
                .sessions_expired
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.close_session_internal(id);
        }
    }

    fn close_session_internal(&mut self, id: i64) {
        let who = Requester {
            session_id: id,
            auth: &[],
        };
        let p = self.prep.prepare(
            &self.tree,
            &mut self.sessions,
            &who,
            0,
            &WriteOp::CloseSession,
            self.clock.wall_ms(),
        );
        let z = p.header.zxid;
        self.submit(p, Origin::Internal);
        self.queues
            .entry(id)
            .or_default()
            .push_back(Queued::Write(z));
    }

    /// The container/TTL reaper (`ContainerManager`).
    fn reap_containers(&mut self) {
        let now = self.clock.wall_ms();
        let minute = self.clock.mono_ms() / 60_000;
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
            if self.reaped_this_minute.1 >= self.settings.container_max_per_minute {
                break;
            }
            self.reaped_this_minute.1 += 1;
            let who = Requester {
                session_id: 0,
                auth: &[],
            };
            let prepared = self.prep.prepare(
                &self.tree,
                &mut self.sessions,
                &who,
                0,
                &WriteOp::DeleteContainer(p),
                now,
            );
            self.submit(prepared, Origin::Internal);
        }
    }

    // ----- requests ----------------------------------------------------------------

    fn submit(&mut self, p: Prepared, origin: Origin) {
        let bytes = LogEntry::bytes_of(&p.header, &p.body, None);
        self.to_log.push((p.header.zxid, bytes));
        self.in_flight.push_back(InFlight {
            prepared: p,
            origin,
        });
    }

    /// `AuthenticationHelper.enforceAuthentication`: with enforced authentication, a
    /// connection holding none of the required schemes gets SESSIONCLOSEDREQUIRESASLAUTH for
    /// its request and is closed. True when the request was refused.
    fn refused_unauthenticated(&mut self, conn: ConnId, xid: i32) -> bool {
        let schemes = &self.settings.enforce_auth_schemes;
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
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let session = c.session.unwrap_or(0);
        let reply = |err: i32, token: Option<Vec<u8>>| Outgoing::Reply {
            xid,
            zxid: 0,
            err,
            body: Response::Sasl(SetSASLResponse {
                token: token.map(Into::into),
            }),
        };
        let creds = match &self.settings.sasl {
            crate::settings::SaslMode::NotConfigured => {
                // No SASL server on the connection: upstream logs the null saslServer and
                // answers OK with a null token.
                let _ = c.tx.send(reply(0, None));
                return;
            }
            crate::settings::SaslMode::Digest(creds) => Some(creds.clone()),
            crate::settings::SaslMode::Unsupported => None,
        };
        let step = match creds {
            Some(creds) => c
                .sasl
                .get_or_insert_with(|| zk_core::sasl::DigestMd5Server::new(sasl_nonce()))
                .step(token, &creds),
            None => Err(zk_core::sasl::SaslError::Unacceptable(
                "only DIGEST-MD5 is supported (the JAAS file asks for Kerberos/GSSAPI)",
            )),
        };
        match step {
            Ok(zk_core::sasl::Step::Continue(t)) => {
                let _ = c.tx.send(reply(0, Some(t)));
            }
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
                if !c.auth.contains(&sasl_id) {
                    c.auth.push(sasl_id);
                }
                if !authorization_id.is_empty()
                    && self.settings.sasl_super_users.contains(&authorization_id)
                {
                    tracing::info!(
                        "Session 0x{session:x}: Authenticated Id '{authorization_id}' as super user"
                    );
                    let su = id("super", "");
                    if !c.auth.contains(&su) {
                        c.auth.push(su);
                    }
                }
                let _ = c.tx.send(reply(0, Some(token)));
            }
            Err(e) => {
                tracing::warn!("Client {} failed to SASL authenticate: {e}", c.peer);
                // With SASL required the code says so; otherwise AUTHFAILED. Either way the
                // reply carries an empty SetSASLResponse and the connection closes.
                let err = if self
                    .settings
                    .enforce_auth_schemes
                    .iter()
                    .any(|s| s == "sasl")
                {
                    ErrorCode::SessionClosedRequireSaslAuth
                } else {
                    ErrorCode::AuthFailed
                };
                let _ = c.tx.send(reply(err.code(), None));
                let _ = c.tx.send(Outgoing::Close);
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
        if op.is_write() {
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
        self.stats.count_op(req.type_code());
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
        if !self.sessions.touch(session, self.clock.mono_ms()) {
            // ZooKeeperServer.submitRequest drops requests of a session being closed.
            tracing::debug!("dropping request of closing session 0x{session:x}");
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
        let auth = self
            .conns
            .get(&conn)
            .map(|c| c.auth.clone())
            .unwrap_or_default();
        let who = Requester {
            session_id: session,
            auth: &auth,
        };
        let p = self.prep.prepare(
            &self.tree,
            &mut self.sessions,
            &who,
            xid,
            wop,
            self.clock.wall_ms(),
        );
        let z = p.header.zxid;
        self.submit(p, Origin::Client { conn, xid, op });
        self.queues
            .entry(session)
            .or_default()
            .push_back(Queued::Write(z));
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
                match authenticate(&self.settings.auth, &scheme, &data, Some(&peer)) {
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
                let auth = c.auth.clone();
                let who = Reader {
                    session_id: session,
                    auth: &auth,
                    watcher: conn,
                };
                let mut events = Vec::new();
                let res = answer(&mut self.tree, &self.settings.auth, &who, &op, &mut events);
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

    fn apply_durable(&mut self, durable: i64) {
        while self
            .in_flight
            .front()
            .is_some_and(|f| f.prepared.header.zxid <= durable)
        {
            let Some(f) = self.in_flight.pop_front() else {
                break;
            };
            self.apply_one(f);
        }
    }

    fn apply_one(&mut self, f: InFlight) {
        self.txns_since_snapshot += 1;
        if self.txns_since_snapshot >= self.snapshot_threshold {
            // The snapshot is named after the last txn applied before this one; the log
            // replays everything after it.
            self.start_snapshot();
        }
        let h = &f.prepared.header;
        let mut notes = std::mem::take(&mut self.notifications);
        notes.clear();
        let rc = self.tree.apply(h, &f.prepared.body, &mut notes);
        self.prep.applied(h.zxid);
        for n in notes.drain(..) {
            // CVE-2024-23944: a watcher that may not READ the node is not told.
            let allowed = self.conns.get(&n.watcher).is_some_and(|c| {
                zk_core::auth::check_acl(
                    &self.settings.auth,
                    &n.acl,
                    zk_proto::perms::READ,
                    &c.auth,
                )
                .is_ok()
            });
            if allowed {
                self.send(n.watcher, Outgoing::Event(n.event));
            }
        }
        self.notifications = notes;
        let session = h.client_id;
        let closed_session = matches!(f.prepared.body, TxnBody::CloseSession(_));
        if closed_session {
            self.sessions.remove(session);
        }
        match f.origin {
            Origin::Connect {
                conn,
                read_only_byte,
                timeout,
            } => {
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
                        zxid: self.last_zxid(),
                    },
                );
            }
            Origin::Client { xid, op, .. } if op == OpCode::Check && rc.err == 0 => {
                // A check outside a multi that succeeds is never answered: 3.8.0's
                // FinalRequestProcessor fails to serialise its SetDataResponse (null Stat).
                tracing::warn!("no reply to check xid {xid} outside a multi, as upstream");
            }
            Origin::Client { conn, xid, op } => {
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
            Origin::Internal => {
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
        // The session's queue: this write is done; answer the reads behind it.
        if let Some(q) = self.queues.get_mut(&session) {
            if matches!(q.front(), Some(Queued::Write(z)) if *z == h.zxid) {
                q.pop_front();
            }
            let mut ready = Vec::new();
            while let Some(Queued::Read { .. }) = q.front() {
                if let Some(Queued::Read {
                    conn,
                    xid,
                    op,
                    forced,
                }) = q.pop_front()
                {
                    ready.push((conn, xid, op, forced));
                }
            }
            if q.is_empty() {
                self.queues.remove(&session);
            }
            for (conn, xid, op, forced) in ready {
                self.read_now(conn, xid, &op, forced);
            }
        }
    }

    /// Writes a complete snapshot of the applied state (at shutdown). A failed snapshot is
    /// logged and costs nothing: the txn log still has everything.
    fn snapshot_now(&mut self) {
        let Some(target) = self.snapshots.as_mut() else {
            return;
        };
        let sessions: Vec<(i64, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        let tree = &self.tree;
        let mut run = || crate::snapshots::write(target.as_mut(), tree, &sessions);
        // Writing blocks this task: let the runtime move other tasks off its thread.
        let res = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
            _ => run(),
        };
        if let Err(e) = res {
            tracing::error!("writing a snapshot failed: {e}; the txn log keeps everything")
        }
    }

    /// Starts a background snapshot, unless one is still being written (upstream's "Too busy
    /// to snap, skipping"): the next threshold comes round soon enough.
    fn start_snapshot(&mut self) {
        self.txns_since_snapshot = 0;
        self.snapshot_threshold = self
            .settings
            .snapshot
            .next_threshold(self.clock.wall_ms() as u64);
        if self.snap_job.is_some() {
            tracing::warn!("too busy to snapshot: the previous one is still being written");
            return;
        }
        let Some(target) = self.snapshots.take() else {
            return;
        };
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
                self.snapshots = Some(target);
                return;
            }
        };
        let zxid = cursor.zxid();
        let nodes = self.tree.node_count();
        if let Some(tx) =
            crate::snapshots::spawn_writer(target, zxid, nodes, self.snap_done_tx.clone())
        {
            self.snap_job = Some(SnapJob {
                cursor: Some(cursor),
                tx,
            });
        }
    }

    /// Serialises the next slice of the background snapshot, if there is one and its writer
    /// has room for it.
    fn snapshot_step(&mut self) {
        let Some(job) = self.snap_job.as_mut() else {
            return;
        };
        if job.tx.capacity() == 0 {
            return;
        }
        let Some(cursor) = job.cursor.as_mut() else {
            return;
        };
        let chunk = if cursor.step(&self.tree, crate::snapshots::STEP_NODES) {
            match job.cursor.take() {
                Some(c) => {
                    let (last, summary) = c.finish(&self.tree);
                    Chunk::Last(last, summary)
                }
                None => return,
            }
        } else {
            Chunk::Data(cursor.take())
        };
        // Only the core sends, and there was room. A writer that has gone away reports why
        // on the done channel.
        let _ = job.tx.try_send(chunk);
    }

    /// A background snapshot ended: the target comes back, and the log is purged below the
    /// oldest snapshot kept.
    fn snapshot_done(&mut self, done: Done) {
        self.snap_job = None;
        self.snapshots = Some(done.target);
        if let Err(e) = done.result {
            tracing::error!("writing a snapshot failed: {e}; the txn log keeps everything")
        }
        if std::mem::take(&mut self.purge_due) {
            self.purge();
        }
    }

    /// Removes snapshots beyond `autopurge.snapRetainCount` and the txn log below the oldest
    /// one kept (`PurgeTxnLog.purge`).
    fn purge(&mut self) {
        let Some(target) = self.snapshots.as_mut() else {
            self.purge_due = true;
            return;
        };
        match target.purge(self.settings.snapshot.retain.max(3)) {
            Ok(Some(oldest)) => {
                let _ = self.log_tx.send(LogCmd::PurgeBefore(oldest + 1));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("purging old snapshots failed: {e}"),
        }
    }

    /// Used by tests: the tree.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }
}

/// The prep form of a write request; `None` for reads and everything answered directly.
pub fn to_write_op(req: &Request) -> Option<WriteOp> {
    Some(match req {
        Request::Create { op, request } => WriteOp::Create {
            op: op.op_code(),
            req: request.clone(),
        },
        Request::CreateTtl(r) => WriteOp::CreateTtl(r.clone()),
        Request::Delete(r) => WriteOp::Delete(r.clone()),
        Request::SetData(r) => WriteOp::SetData(r.clone()),
        Request::SetAcl(r) => WriteOp::SetAcl(r.clone()),
        Request::Check(r) => WriteOp::Check(r.clone()),
        Request::Reconfig(_) => WriteOp::Reconfig,
        Request::CloseSession => WriteOp::CloseSession,
        Request::Multi(m) => WriteOp::Multi(m.ops.iter().map(multi_write_op).collect()),
        _ => return None,
    })
}

fn multi_write_op(op: &MultiOp) -> WriteOp {
    match op {
        MultiOp::Create { op, request } => WriteOp::Create {
            op: op.op_code(),
            req: request.clone(),
        },
        MultiOp::CreateTtl(r) => WriteOp::CreateTtl(r.clone()),
        MultiOp::Delete(r) => WriteOp::Delete(r.clone()),
        MultiOp::SetData(r) => WriteOp::SetData(r.clone()),
        MultiOp::Check(r) => WriteOp::Check(r.clone()),
        MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => WriteOp::Malformed(OpCode::Multi),
    }
}

fn to_read_op(req: &Request) -> Option<ReadOp> {
    Some(match req {
        Request::Exists(r) => ReadOp::Exists(r.clone()),
        Request::GetData(r) => ReadOp::GetData(r.clone()),
        Request::GetChildren(r) => ReadOp::GetChildren(r.clone()),
        Request::GetChildren2(r) => ReadOp::GetChildren2(r.clone()),
        Request::GetAcl(r) => ReadOp::GetAcl(r.clone()),
        Request::GetAllChildrenNumber(r) => ReadOp::GetAllChildrenNumber(r.clone()),
        Request::GetEphemerals(r) => ReadOp::GetEphemerals(r.clone()),
        Request::Sync(r) => ReadOp::Sync(r.clone()),
        Request::MultiRead(m) => ReadOp::MultiRead(MultiRequest { ops: m.ops.clone() }),
        Request::SetWatches(s) => ReadOp::SetWatches(SetWatches2 {
            relative_zxid: s.relative_zxid,
            data_watches: s.data_watches.clone(),
            exist_watches: s.exist_watches.clone(),
            child_watches: s.child_watches.clone(),
            persistent_watches: None,
            persistent_recursive_watches: None,
        }),
        Request::SetWatches2(s) => ReadOp::SetWatches(s.clone()),
        Request::AddWatch(r) => ReadOp::AddWatch(r.clone()),
        Request::CheckWatches(r) => ReadOp::CheckWatches(r.clone()),
        Request::RemoveWatches(r) => ReadOp::RemoveWatches(r.clone()),
        Request::WhoAmI => ReadOp::WhoAmI,
        Request::Ping => ReadOp::Ping,
        _ => return None,
    })
}

/// A fresh DIGEST-MD5 nonce: 24 random bytes, hex.
fn sasl_nonce() -> String {
    let mut b = [0u8; 24];
    if rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut b)
        .is_err()
    {
        // Never expected; a nonce from the clock still keeps replays of other sessions out.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&t.to_be_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
