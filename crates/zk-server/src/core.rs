//! The core task: the thin tokio driver of the pure node (`zk_node::Node`), which owns
//! the data tree, request preparation and the session table.
//!
//! ```text
//!  conn tasks ──CoreMsg──►  core task ──Input──► zk_node::Node ──Output──┐
//!       ▲                      │   ◄──────────────────────────────────────┘
//!       │                      ├── Persist ──► txn batch ──► log thread (append + one fsync)
//!       │                      │   ◄── Input::Durable(zxid) ◄───┘
//!       └── Outgoing (replies, events, close) ◄── Send      snapshot slices ──► writer thread
//! ```
//!
//! The driver decides nothing: it turns messages, timers and the log's progress into the
//! node's inputs, and carries out its outputs. It moves bytes (to connections, the log and
//! the snapshot writer), keeps the clock, and renders the four-letter words from the
//! node's state. Ordering and every reply are the node's (see `zk_node`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use zk_node::{Input, LocalReplicator, Node, Now, Output};
use zk_zab::learner::EpochFile;
use zk_zab::peer::{Command, Event, Message, PeerRole};

use crate::quorum::{snap_stream, Delivered, PeerNetHandle};
use zk_proto::Zxid;

use crate::fourlw;
use crate::log::{LogCmd, LogEvent};
use crate::settings::Settings;
use crate::snapshots::{Chunk, Done};
use crate::stats::Stats;
use zk_storage::SnapshotStore;

pub use zk_node::{ConnId, Outgoing};

/// What a connection tells the core.
#[derive(Debug)]
pub enum CoreMsg {
    /// An input for the node. An [`Input::Connect`] comes with [`CoreMsg::Connect`]
    /// instead, which also says where the connection's replies go.
    Node(Input),
    /// A ConnectRequest (the connection reads nothing more until it is answered).
    Connect {
        /// The [`Input::Connect`].
        input: Input,
        /// Where to send replies.
        tx: crate::outbox::Sender,
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
    /// The AdminServer's `snapshot`: write a snapshot of the applied state now and open it
    /// for streaming.
    Snapshot {
        /// Where the snapshot (or why there is none) goes.
        reply: SnapshotReply,
    },
    /// The AdminServer's `restore`: replace the state with this one (see
    /// [`zk_node::Node::restore`]).
    Restore {
        /// The restored state.
        state: Box<Restoring>,
        /// Where the zxid the node continues from (or why it failed) goes.
        reply: RestoreReply,
    },
}

pub use crate::ops::snaprest::{Restoring, Taken};

/// Where a `restore`'s outcome goes: the zxid the node continues from, or why it failed.
pub type RestoreReply = oneshot::Sender<Result<i64, String>>;
/// Where a `snapshot`'s outcome goes.
pub type SnapshotReply = oneshot::Sender<Result<Taken, String>>;

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

/// The core task's state: the node and what carries out its outputs.
pub struct Core {
    settings: Arc<Settings>,
    stats: Arc<Stats>,
    clock: Clock,
    node: Node,
    /// Where each connection's replies go.
    conns: HashMap<ConnId, crate::outbox::Sender>,
    /// Txns the node asked to persist since the last log batch.
    to_log: Vec<(i64, Bytes)>,
    log_tx: std::sync::mpsc::Sender<LogCmd>,
    /// The snapshot target; `None` while a background snapshot's writer thread holds it.
    snapshots: Option<Box<dyn SnapshotStore>>,
    /// The writer thread of the background snapshot in progress.
    snap_tx: Option<mpsc::Sender<Chunk>>,
    snap_done_tx: mpsc::UnboundedSender<Done>,
    snap_done_rx: Option<mpsc::UnboundedReceiver<Done>>,
    /// A purge came due while the snapshot target was busy: run it when it comes back.
    purge_due: bool,
    /// Whether the server has a snapshot target at all (it may be lent to a writer).
    has_store: bool,
    /// `snapshot` commands waiting for the target to come back from a background writer.
    snapshot_waiting: Vec<SnapshotReply>,
    /// A `restore` to carry out once the current batch is handled.
    restore_pending: Option<(Box<Restoring>, RestoreReply)>,
    /// The audit log, with `audit.enable`.
    audit: Option<Arc<crate::audit::AuditLog>>,
    /// An ensemble member's transport (what it delivers is taken by [`Core::run`]).
    peer: Option<PeerNetHandle>,
    /// What the transport delivers and the peer's clock, until [`Core::run`] takes them.
    peer_rx: Option<(mpsc::Receiver<Delivered>, tokio::time::Interval)>,
    /// An ensemble member's store for the snapshots its log is based on.
    base_snapshots: Option<Box<dyn SnapshotStore>>,
    /// The name of the background snapshot being written.
    snap_zxid: Option<i64>,
    /// The peer's pending timer (`Command::SetTimer`, a later one replaces it): its id and
    /// when it fires, as `Event::TimerFired`.
    peer_timer: Option<(u64, Instant)>,
}

/// An ensemble member's peer transport and the clock of its peer (half ticks).
pub struct PeerLink {
    /// The transport.
    pub net: PeerNetHandle,
    /// What it delivers.
    pub delivered: mpsc::Receiver<Delivered>,
    /// Half of `tickTime`: the peer's clock.
    pub half_tick: tokio::time::Interval,
    /// The snapshot the peer's log starts after (its zxid and zk-tree's file image).
    pub base: Option<(i64, Bytes)>,
    /// Where a SNAP from the leader is made durable before the log is emptied after it.
    pub base_snapshots: Box<dyn SnapshotStore>,
    /// The target of the member's own background snapshots (every `snapCount` txns while
    /// serving, as standalone), in the same directory; `None`: none are taken.
    pub snapshots: Option<Box<dyn SnapshotStore>>,
    /// Reads the snapshots of that directory by zxid: the node reads its log's base
    /// snapshot when it rebuilds, holds none in memory, and moves its log's base to each
    /// snapshot it wrote ([`zk_node::Node::set_snapshot_source`]). `None`: the node holds
    /// its base snapshots in memory and its peer's log whole.
    pub snapshot_source: Option<zk_node::SnapshotSource>,
}

/// The next delivery of the peer transport (never, without one).
async fn delivered(rx: &mut Option<mpsc::Receiver<Delivered>>) -> Option<Delivered> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The peer's next half tick (never, without a peer).
async fn half_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The peer's pending timer firing (never, without one).
async fn peer_timer(timer: Option<(u64, Instant)>) {
    match timer {
        Some((_, at)) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Core {
    /// A core over a tree recovered up to `tree.last_processed_zxid`.
    pub fn new(
        settings: Arc<Settings>,
        stats: Arc<Stats>,
        tree: zk_tree::DataTree,
        sessions: zk_core::session::SessionTable,
        log_tx: std::sync::mpsc::Sender<LogCmd>,
        clock: Clock,
        snapshots: Option<Box<dyn SnapshotStore>>,
    ) -> Self {
        let (snap_done_tx, snap_done_rx) = mpsc::unbounded_channel();
        let has_store = snapshots.is_some();
        let node = Node::new(
            settings.node_config(snapshots.is_some()),
            tree,
            sessions,
            Box::new(LocalReplicator::new()),
            Box::new(sasl_nonce),
            now(&clock),
        );
        Core {
            stats,
            clock,
            node,
            conns: HashMap::new(),
            to_log: Vec::new(),
            log_tx,
            snapshots,
            snap_tx: None,
            snap_done_tx,
            snap_done_rx: Some(snap_done_rx),
            purge_due: false,
            has_store,
            snapshot_waiting: Vec::new(),
            restore_pending: None,
            audit: None,
            peer: None,
            peer_rx: None,
            peer_timer: None,
            base_snapshots: None,
            snap_zxid: None,
            settings,
        }
    }

    /// A core for an ensemble member: the node owns `peer`, and `link` carries its
    /// messages. The node starts LOOKING (its database is loaded from the peer's log).
    #[allow(clippy::too_many_arguments)]
    pub fn new_ensemble(
        settings: Arc<Settings>,
        stats: Arc<Stats>,
        sessions: zk_core::session::SessionTable,
        peer: zk_node::ZabPeer,
        link: PeerLink,
        log_tx: std::sync::mpsc::Sender<LogCmd>,
        clock: Clock,
    ) -> Self {
        let mut core = Core::new(
            settings,
            stats,
            zk_tree::DataTree::new(),
            sessions.clone(),
            log_tx,
            clock,
            link.snapshots,
        );
        core.node = Node::new_zab(
            core.settings.node_config(core.has_store),
            zk_tree::DataTree::new(),
            sessions,
            peer,
            Box::new(sasl_nonce),
            now(&core.clock),
        );
        match link.snapshot_source {
            Some(source) => core.node.set_snapshot_source(source),
            None => {
                if let Some((zxid, data)) = link.base {
                    core.node.keep_base_snapshot(zxid, data);
                }
            }
        }
        core.peer = Some(link.net);
        core.peer_rx = Some((link.delivered, link.half_tick));
        core.base_snapshots = Some(link.base_snapshots);
        core.step(Input::Peer(Event::Start));
        core
    }

    /// Writes the node's audit events to `audit` (`audit.enable`).
    pub fn with_audit(mut self, audit: Option<Arc<crate::audit::AuditLog>>) -> Self {
        self.audit = audit;
        self
    }

    /// Runs until every connection handle is dropped and shutdown is signalled, or the log
    /// fails. Returns the log failure, if any.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<CoreMsg>,
        mut log_rx: mpsc::UnboundedReceiver<LogEvent>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), crate::ServerError> {
        let manual = self.clock.manual.clone();
        let Some(mut snap_done_rx) = self.snap_done_rx.take() else {
            return Err(crate::ServerError::Core("started twice".into()));
        };
        let (mut peer_delivered, mut peer_tick) = match self.peer_rx.take() {
            Some((rx, tick)) => (Some(rx), Some(tick)),
            None => (None, None),
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
                .snap_tx
                .as_ref()
                .filter(|_| self.node.snapshot_wants_room())
                .cloned();
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
            let deadline = match (&manual, self.node.next_deadline()) {
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
                    Some(LogEvent::Durable(z)) if self.peer.is_some() => {
                        self.step(Input::Peer(Event::LogDurable { zxid: z }))
                    }
                    Some(LogEvent::Durable(z)) => self.step(Input::Durable(Zxid(z))),
                    Some(LogEvent::Failed(e)) => return Err(crate::ServerError::Log(e)),
                    // TRUNC is synchronous for the peer: it is done once later writes are.
                    Some(LogEvent::Truncated(_)) => {}
                    Some(LogEvent::EpochDurable { accepted, value }) => {
                        let file = if accepted { EpochFile::Accepted } else { EpochFile::Current };
                        self.step(Input::Peer(Event::EpochDurable { file, epoch: value }))
                    }
                    Some(LogEvent::Replaced) => self.step(Input::Peer(Event::SnapshotDurable)),
                    None => return Err(crate::ServerError::LogStopped),
                },
                d = delivered(&mut peer_delivered) => match d {
                    Some(Delivered::Message { from, message }) => {
                        log_sync_packet(&message, SyncDirection::FromLeader);
                        self.step(Input::Peer(Event::Received { from, message }))
                    }
                    // A follower whose leader connection broke looks at once (Java's
                    // Follower at the read's EOF); a leader stops counting that learner.
                    Some(Delivered::QuorumDown { conn, .. }) => {
                        self.step(Input::Peer(Event::ConnectionLost { conn }))
                    }
                    // A learner's dial to its leader connected: it waits for the leader's
                    // answer on it (initLimit), as Java's learner does.
                    Some(Delivered::QuorumUp { conn, .. }) => {
                        self.step(Input::Peer(Event::ConnectionUp { conn }))
                    }
                    Some(Delivered::Snapshot { from, conn, zxid, stream }) => {
                        tracing::info!("Getting a snapshot from leader 0x{zxid:x}");
                        match snap_stream::stream_to_file(&stream) {
                            Ok(file) => {
                                let data = Bytes::from(file);
                                let message = Message::Snapshot { conn, zxid, data };
                                self.step(Input::Peer(Event::Received { from, message }))
                            }
                            Err(e) => tracing::error!("server {from} sent a bad SNAP stream: {e}"),
                        }
                    }
                    Some(other) => tracing::debug!("peer transport: {other:?}"),
                    None => return Err(crate::ServerError::Core("the peer transport stopped".into())),
                },
                _ = half_tick(&mut peer_tick) => self.step(Input::Peer(Event::Tick)),
                _ = peer_timer(self.peer_timer) => {
                    if let Some((id, _)) = self.peer_timer.take() {
                        self.step(Input::Peer(Event::TimerFired { id }))
                    }
                }
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
                _ = tokio::time::sleep_until(deadline) => self.step(Input::Tick),
                _ = manual_tick => self.step(Input::Tick),
                Some(done) = snap_done_rx.recv() => self.snapshot_done(done),
                _ = room => {}
                _ = purge_timer.tick(), if purge_every.is_some() => self.purge(),
                _ = shutdown.changed() => break,
            }
            self.flush_log();
            self.snapshot_step();
            if let Some((state, reply)) = self.restore_pending.take() {
                self.restore(*state, reply, &mut log_rx, &mut snap_done_rx)
                    .await?;
            }
        }
        // Shutdown. A background snapshot still being written is abandoned (its writer
        // discards the partial file) in favour of a complete one of the final state.
        if self.snap_tx.take().is_some() {
            if let Some(done) = snap_done_rx.recv().await {
                self.snapshot_done(done);
            }
        }
        self.snapshot_now();
        Ok(())
    }

    /// Feeds one input to the node at the current time and carries out its outputs.
    fn step(&mut self, input: Input) {
        self.node.set_now(now(&self.clock));
        self.node.step(input);
        self.dispatch();
        if self.peer.is_some() {
            let kind = self.node.role().kind();
            let relaxed = std::sync::atomic::Ordering::Relaxed;
            self.stats
                .not_serving
                .store(!kind.serves_clients(), relaxed);
            let read_only = kind == zk_node::RoleKind::ReadOnly;
            self.stats.read_only.store(read_only, relaxed);
        }
    }

    fn dispatch(&mut self) {
        let mut begin = None;
        // An ensemble member's peer commands, carried out after the rest (allocates only
        // when there are some).
        let mut peer_cmds = Vec::new();
        for o in self.node.drain_outputs() {
            match o {
                Output::Send(conn, out) => {
                    if let Some(tx) = self.conns.get(&conn) {
                        tx.send(out);
                    }
                }
                Output::Persist { zxid, bytes } => self.to_log.push((zxid.0, bytes)),
                Output::Expired(_) => {
                    self.stats
                        .sessions_expired
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Output::SnapshotBegin { zxid, nodes } => begin = Some((zxid, nodes)),
                Output::Audit(e) => {
                    if let Some(a) = &self.audit {
                        a.write(&e);
                    }
                }
                Output::SnapshotAbandoned => {
                    // The writer sees its channel close: it discards the partial file and
                    // reports on the done channel.
                    self.snap_tx = None;
                }
                Output::SnapshotSlice(slice) => {
                    // Only the core sends, and the node slices only when there was room. A
                    // writer that has gone away reports why on the done channel.
                    if let Some(tx) = &self.snap_tx {
                        let _ = tx.try_send(slice);
                    }
                }
                Output::Peer(cmd) => peer_cmds.push(cmd),
                // Only with `record_applies` (the simulator's checkers).
                Output::Applied { .. } => {}
            }
        }
        for cmd in peer_cmds {
            self.peer_command(cmd);
        }
        if let Some((zxid, nodes)) = begin {
            self.begin_snapshot(zxid, nodes);
        }
    }

    /// Carries out a command of the node's Zab peer (an ensemble member only).
    fn peer_command(&mut self, cmd: Command) {
        let Some(net) = &self.peer else {
            return;
        };
        match cmd {
            // FLE's finalize wait and notification timeouts, after their real duration.
            Command::SetTimer { id, after_ms } => {
                let at = Instant::now() + Duration::from_millis(after_ms);
                self.peer_timer = Some((id, at));
            }
            Command::Send { to, message } => match message {
                // The node serialized its tree (zk-tree's snapshot-file image, no digest).
                Message::Snapshot { conn, zxid, data } => {
                    match snap_stream::file_to_stream(&data) {
                        Ok(stream) => net.send_snapshot(to, conn, zxid, stream.into()),
                        Err(e) => tracing::error!("cannot send a SNAP to server {to}: {e}"),
                    }
                }
                message => {
                    log_sync_packet(&message, SyncDirection::To(to));
                    net.send(to, message)
                }
            },
            Command::Persist(txns) => self
                .to_log
                .extend(txns.iter().map(|t| (t.header().zxid, t.bytes().clone()))),
            Command::Truncate { zxid } => self.log_after_batch(LogCmd::Truncate(zxid)),
            Command::WriteAcceptedEpoch(value) => self.log_after_batch(LogCmd::Epoch {
                accepted: true,
                value,
            }),
            Command::WriteCurrentEpoch(value) => self.log_after_batch(LogCmd::Epoch {
                accepted: false,
                value,
            }),
            Command::TakeSnapshot(txns) => {
                // The base snapshot is written (and synced) first, then the log is replaced
                // by the entries after it: recovery starts from the newest snapshot and
                // replays only the log after it.
                if let Some((base, data)) = self.node.base_snapshot().filter(|(b, _)| *b > 0) {
                    let Some(store) = self.base_snapshots.as_mut() else {
                        return tracing::error!("no snapshot store for the SNAP at 0x{base:x}");
                    };
                    let mut body = |w: &mut dyn std::io::Write| w.write_all(&data);
                    if let Err(e) = blocking(|| store.write_snapshot(base, &mut body)) {
                        // The learner is not told: it times out and goes back to its log.
                        return tracing::error!("writing the leader's snapshot 0x{base:x}: {e}");
                    }
                    tracing::info!("Snapshotting: 0x{base:x} (the leader's SNAP)");
                    if let Err(e) = store.purge(3) {
                        tracing::warn!("purging old snapshots: {e}");
                    }
                }
                self.log_after_batch(LogCmd::Replace(
                    txns.iter()
                        .map(|t| (t.header().zxid, t.bytes().clone()))
                        .collect(),
                ))
            }
            Command::RoleChanged(role) => {
                net.role_changed(role);
                match role {
                    PeerRole::Looking => tracing::info!("LOOKING"),
                    PeerRole::Leading => tracing::info!("LEADING"),
                    PeerRole::Following { leader } => {
                        tracing::info!("FOLLOWING - LEADER ELECTION TOOK - server {leader}")
                    }
                    PeerRole::Observing { leader } => {
                        tracing::info!("OBSERVING - LEADER ELECTION TOOK - server {leader}")
                    }
                }
            }
            Command::Established { epoch } => {
                tracing::info!("leading epoch 0x{epoch:x}: a quorum acknowledged NEWLEADER")
            }
            // The node acted on the others already (see zk_node::zab).
            _ => {}
        }
    }

    /// Sends `cmd` to the log writer after the entries queued before it.
    fn log_after_batch(&mut self, cmd: LogCmd) {
        self.flush_log();
        let _ = self.log_tx.send(cmd);
    }

    fn flush_log(&mut self) {
        if self.to_log.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.to_log);
        // A send error means the log thread is gone; it reports why on log_rx.
        let _ = self.log_tx.send(LogCmd::Append(batch));
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect { input, tx } => {
                if let Input::Connect { conn, .. } = &input {
                    self.conns.insert(*conn, tx);
                }
                self.step(input);
            }
            CoreMsg::Node(input) => {
                let closed = match &input {
                    Input::Request { req, .. } => {
                        self.stats.count_op(req.type_code());
                        None
                    }
                    Input::Closed { conn } => Some(*conn),
                    _ => None,
                };
                self.step(input);
                if let Some(conn) = closed {
                    self.conns.remove(&conn);
                }
            }
            CoreMsg::FourLetter { cmd, reply } => {
                let text = fourlw::render(&cmd, &self.view());
                let _ = reply.send(text);
            }
            CoreMsg::Query { query, reply } => {
                let _ = reply.send(crate::ops::query::answer(query, &self.view()));
            }
            CoreMsg::Snapshot { reply } => self.admin_snapshot(reply),
            CoreMsg::Restore { reply, .. } if self.peer.is_some() => {
                let _ = reply.send(Err(
                    "restore is not supported on a member of an ensemble".into()
                ));
            }
            CoreMsg::Restore { state, reply } => {
                if let Some((_, earlier)) = self.restore_pending.replace((state, reply)) {
                    let _ = earlier.send(Err("superseded by a later restore".into()));
                }
            }
        }
    }

    fn view(&self) -> fourlw::CoreView<'_> {
        fourlw::CoreView {
            settings: &self.settings,
            stats: &self.stats,
            tree: self.node.tree(),
            sessions: self.node.sessions(),
            local_sessions: self.node.read_only_sessions(),
            outstanding: self.node.outstanding(),
            now_mono_ms: self.clock.mono_ms(),
            now_wall_ms: self.clock.wall_ms(),
            role: self.node.role().kind(),
            // A read-only server is no QuorumZooKeeperServer: no peer state, no quorum
            // gauges.
            quorum: self
                .node
                .peer()
                .filter(|_| self.node.role().kind() != zk_node::RoleKind::ReadOnly)
                .map(|p| p.figures()),
        }
    }

    // ----- snapshots ---------------------------------------------------------------

    /// Writes a complete snapshot of the applied state (at shutdown). A failed snapshot is
    /// logged and costs nothing: the txn log still has everything.
    fn snapshot_now(&mut self) {
        if self.peer.is_some() && !self.node.role().kind().tree_is_committed() {
            // An ensemble member that is not serving (or serves read-only) may have applied
            // an uncommitted tail (its log is loaded whole when it looks for a leader): no
            // snapshot of that.
            return;
        }
        if let Some(Err(e)) = self.write_snapshot_now() {
            tracing::error!("writing a snapshot failed: {e}; the txn log keeps everything")
        }
    }

    /// Writes a complete snapshot of the applied state into the target, blocking this task
    /// for as long as that takes; `None` when the target is absent (or lent to a writer).
    /// Returns the snapshot's zxid.
    fn write_snapshot_now(&mut self) -> Option<Result<i64, zk_storage::StorageError>> {
        let sessions = self.session_list();
        let target = self.snapshots.as_mut()?;
        let tree = self.node.tree();
        let zxid = tree.last_processed_zxid;
        let run = || crate::snapshots::write(target.as_mut(), tree, &sessions);
        Some(blocking(run).map(|()| zxid))
    }

    /// `(id, timeout)` of every open session, as snapshots hold them.
    fn session_list(&self) -> Vec<(i64, i32)> {
        self.node
            .sessions()
            .iter()
            .map(|s| (s.id, s.timeout_ms))
            .collect()
    }

    /// The AdminServer's `snapshot` (`ZooKeeperServer.takeSnapshot`): a snapshot of the
    /// applied state, written into the target like any other and opened for streaming.
    /// Without a target (a server that keeps only its log) it is serialised into memory.
    fn admin_snapshot(&mut self, reply: SnapshotReply) {
        if !self.has_store {
            let sessions = self.session_list();
            let _ = reply.send(crate::ops::snaprest::in_memory(self.node.tree(), &sessions));
            return;
        }
        let taken = match self.write_snapshot_now() {
            // The target is lent to a background snapshot's writer: answered when it is back.
            None => return self.snapshot_waiting.push(reply),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok(zxid)) => match self.snapshots.as_ref().map(|t| t.reader(zxid)) {
                Some(Ok((reader, size))) => Ok(Taken { zxid, size, reader }),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("the snapshot target is gone".into()),
            },
        };
        let _ = reply.send(taken);
    }

    /// The AdminServer's `restore`: lets the writes in flight become durable and apply,
    /// abandons a background snapshot of the old state, writes the restored state as a
    /// snapshot (named after the zxid the node continues from, so that recovery starts from
    /// it and replays only what is logged after it), and only then hands it to the node.
    /// A failure before the hand-over leaves the old state serving. An error is returned
    /// only for a failed log (fatal, as everywhere).
    async fn restore(
        &mut self,
        state: Restoring,
        reply: RestoreReply,
        log_rx: &mut mpsc::UnboundedReceiver<LogEvent>,
        snap_done_rx: &mut mpsc::UnboundedReceiver<Done>,
    ) -> Result<(), crate::ServerError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.node.outstanding() > 0 {
            self.flush_log();
            match tokio::time::timeout_at(deadline, log_rx.recv()).await {
                Ok(Some(LogEvent::Durable(z))) => self.step(Input::Durable(Zxid(z))),
                // Only an ensemble member's log writer sends these; it refuses restores.
                Ok(Some(
                    LogEvent::Truncated(_) | LogEvent::EpochDurable { .. } | LogEvent::Replaced,
                )) => {}
                Ok(Some(LogEvent::Failed(e))) => {
                    let _ = reply.send(Err(format!("the txn log failed: {e}")));
                    return Err(crate::ServerError::Log(e));
                }
                Ok(None) => return Err(crate::ServerError::LogStopped),
                Err(_) => {
                    let _ = reply.send(Err("writes in flight did not complete in 60 s".into()));
                    return Ok(());
                }
            }
        }
        if self.snap_tx.take().is_some() {
            if let Some(done) = snap_done_rx.recv().await {
                self.snapshot_done(done);
            }
        }
        let Restoring { mut tree, sessions } = state;
        tree.last_processed_zxid = tree
            .last_processed_zxid
            .max(self.node.tree().last_processed_zxid);
        match self.snapshots.as_mut() {
            Some(target) => {
                let run = || crate::snapshots::write(target.as_mut(), &tree, &sessions);
                if let Err(e) = blocking(run) {
                    let _ = reply.send(Err(format!("writing the restored snapshot: {e}")));
                    return Ok(());
                }
            }
            None if self.has_store => {
                let _ = reply.send(Err("the snapshot target is busy".into()));
                return Ok(());
            }
            None => tracing::warn!(
                "restoring without a snapshot target: the restored state is not durable"
            ),
        }
        let table = crate::recovery::session_table(
            &sessions,
            self.settings.tick_ms,
            self.clock.wall_ms(),
            self.clock.mono_ms(),
            self.settings.session_id_server(),
        );
        let result = self.node.restore(tree, table).map_err(|e| e.to_string());
        self.dispatch();
        let _ = reply.send(result);
        Ok(())
    }

    /// The node started a background snapshot: hand the target to a writer thread.
    fn begin_snapshot(&mut self, zxid: Zxid, nodes: usize) {
        let Some(target) = self.snapshots.take() else {
            // Not expected (the node starts one only after the last one's Done): let it
            // start again later.
            tracing::warn!("too busy to snapshot: the previous one is still being written");
            self.step(Input::SnapshotDone);
            return;
        };
        // When no thread can start, the target comes back on the done channel with the
        // error, and `snapshot_done` tells the node.
        self.snap_zxid = Some(zxid.0);
        self.snap_tx =
            crate::snapshots::spawn_writer(target, zxid.0, nodes, self.snap_done_tx.clone());
    }

    /// Lets the node serialise the next slice of the background snapshot when its writer
    /// has room for it.
    fn snapshot_step(&mut self) {
        let room = self.snap_tx.as_ref().is_some_and(|tx| tx.capacity() > 0);
        if room && self.node.snapshot_wants_room() {
            self.step(Input::SnapshotRoom);
        }
    }

    /// A background snapshot ended: the target comes back, and the log is purged below the
    /// oldest snapshot kept.
    fn snapshot_done(&mut self, done: Done) {
        self.snap_tx = None;
        self.snapshots = Some(done.target);
        let zxid = self.snap_zxid.take();
        match done.result {
            Ok(()) => {
                if let Some(zxid) = zxid {
                    self.step(Input::SnapshotWritten { zxid });
                }
            }
            Err(e) => {
                tracing::error!("writing a snapshot failed: {e}; the txn log keeps everything")
            }
        }
        self.step(Input::SnapshotDone);
        for reply in std::mem::take(&mut self.snapshot_waiting) {
            self.admin_snapshot(reply);
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
    pub fn tree(&self) -> &zk_tree::DataTree {
        self.node.tree()
    }
}

/// Runs blocking work (snapshot IO) on this task, letting a multi-threaded runtime move
/// other tasks off its thread meanwhile.
fn blocking<T>(run: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
        _ => run(),
    }
}

fn now(clock: &Clock) -> Now {
    Now {
        mono_ms: clock.mono_ms(),
        wall_ms: clock.wall_ms(),
    }
}

/// 24 fresh random bytes for a DIGEST-MD5 nonce.
pub(crate) fn sasl_nonce() -> [u8; 24] {
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
    b
}

/// Which way a quorum packet went, and with which peer.
enum SyncDirection {
    /// Received from the leader.
    FromLeader,
    /// Sent to the learner `sid`.
    To(i64),
}

/// Logs how a learner is synced (DIFF, TRUNC or SNAP, and the zxid), on the learner with
/// the words Java's `Learner.syncWithLeader` logs (operators grep for them) and on the
/// leader as Java's `LearnerHandler` does. A received SNAP comes as its own delivery (the
/// header with the streamed tree) and is logged there.
fn log_sync_packet(message: &Message, direction: SyncDirection) {
    use zk_zab::wire::packet::Packet;
    let Message::Quorum { packet, .. } = message else {
        return;
    };
    match (packet, direction) {
        (Packet::Diff { zxid }, SyncDirection::FromLeader) => {
            tracing::info!("Getting a diff from the leader 0x{zxid:x}")
        }
        (Packet::Trunc { zxid }, SyncDirection::FromLeader) => {
            tracing::warn!("Truncating log to get in sync with the leader 0x{zxid:x}")
        }
        (Packet::Diff { zxid }, SyncDirection::To(sid)) => {
            tracing::info!("Sending DIFF zxid=0x{zxid:x} for peer sid: {sid}")
        }
        (Packet::Trunc { zxid }, SyncDirection::To(sid)) => {
            tracing::info!("Sending TRUNC zxid=0x{zxid:x} for peer sid: {sid}")
        }
        (Packet::Snap { zxid }, SyncDirection::To(sid)) => {
            tracing::info!("Sending SNAP zxid=0x{zxid:x} for peer sid: {sid}")
        }
        _ => {}
    }
}
