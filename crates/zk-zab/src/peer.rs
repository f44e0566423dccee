//! One quorum peer as a single sans-IO state machine: the glue that runs [`election`] →
//! [`discovery`] + [`sync`] + [`broadcast`] (LEADING) or [`learner`] (FOLLOWING) and back to
//! LOOKING, as `QuorumPeer.run` does.
//!
//! ```text
//!  LOOKING ──Decided(me)──► LEADING: Discovery(Start) … Sync{to} ─► sync_follower ─► DIFF/TRUNC
//!     ▲                         (or Snapshot) + PROPOSAL/COMMIT + NEWLEADER … Established ─►
//!     │                         Broadcast (ProposeTxn ─► PROPOSAL … COMMIT)
//!     │  Decided(other) ──► FOLLOWING: Learner over one connection (FOLLOWERINFO …)
//!     └──── StepDown / Abandon / leader silent for initLimit or syncLimit ticks
//! ```
//!
//! Events in: a [`Message`] from a peer sid, a half tick ([`Event::Tick`]), a fired timer
//! ([`Event::TimerFired`]), "durable now" (log, epoch file, snapshot), a client proposal at
//! the leader. Commands out: send a message, set the one timer ([`Command::SetTimer`], the
//! election's finalize wait and notification timeouts, so they end after their real
//! duration rather than at a half tick), persist txns, truncate, write an epoch, load /
//! take a snapshot, commit, role changes. The peer keeps its log in memory (the shell or
//! simulator keeps what is durable and builds a new peer from it after a crash); all of it
//! is the history the peer offers when it leads, and what it has is what it syncs learners
//! from. Its driver bounds it: once a snapshot at a logged zxid is durable,
//! [`Peer::compact`] drops the entries up to it and bases the log there (learners at or
//! below the base then get a SNAP).
//!
//! Connections: the quorum port is TCP in Java; here every FOLLOWING attempt gets a fresh
//! connection id, carried by every [`Message::Quorum`] both ways. The leader keeps the
//! newest id per learner (a new FOLLOWERINFO replaces the old handler) and both sides drop
//! packets of other connections, so a delayed packet of a dead connection never reaches a
//! newer machine. The carrier must deliver one connection's packets in order (TCP's FIFO).
//! A follower that hears nothing from its leader for `initLimit` ticks (before UPTODATE) or
//! `syncLimit` ticks (after) goes back to LOOKING; before the leader answered at all it
//! reconnects every tick, as `Learner.connectToLeader` retries.
//!
//! A SNAP is carried as [`Message::Snapshot`] with opaque bytes: the leader's peer asks its
//! driver for them ([`Command::SendSnapshot`]) and the learner's driver loads them
//! ([`Command::LoadSnapshot`]); the learner's log is then empty, based at the snapshot's
//! zxid. A peer's log may start after such a base ([`Peer::from_snapshot`]): a learner at or
//! below the base (and not in sync) gets a SNAP, as in Java when the txn log does not reach
//! it, and a TRUNC below the base sends the learner back to LOOKING. A serving follower forwards client requests ([`Event::Forward`]);
//! the leader hands them out ([`Command::Forwarded`]) except `sync`s, which its broadcast
//! answers with SYNC ([`Command::Synced`] at the follower). A follower's PING replies carry
//! the sessions touched since the last one ([`Peer::touch_session`]); the leader hands
//! them out ([`Command::SessionsTouched`]).
//!
//! Observers: a peer configured with [`LearnerType::Observer`] (its sid not among the
//! voters) runs the election as an observer (it never votes and learns the leader from the
//! voters' answers), then observes ([`PeerRole::Observing`]): the same connection and sync as
//! a follower with OBSERVERINFO, then INFORMs (see [`learner`]). The leader registers an
//! OBSERVERINFO learner as [`LearnerKind::Observer`]: it is synced like a follower, then
//! gets INFORM at each commit and is never counted (epoch agreement, NEWLEADER acks,
//! proposal acks, the synced quorum).
//!
//! REVALIDATE: a serving learner asks its leader whether a session it does not hold is
//! valid ([`Event::Revalidate`]); the leader's peer hands the question to its node
//! ([`Command::Revalidate`]), which answers ([`Event::RevalidateReply`]); the learner's peer
//! hands the answer out ([`Command::Revalidated`]). Not modelled: reconfig.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use zk_proto::txn::{TxnDigest, TxnHeader};

use crate::broadcast::{self, Broadcast, LearnerKind};
use crate::discovery::{self, Discovery};
use crate::election::{self, Election, ElectionConfig, LearnerType, Role};
use crate::learner::{self, EpochFile, Learner};
use crate::quorum::QuorumVerifier;
use crate::sync::{sync_follower, SyncInput, SyncPlan};
use crate::wire::election::Notification;
use crate::wire::packet::{ForwardedRequest, Packet, Revalidate, SessionTouch, TxnPayload};
use crate::Mutation;

/// What peers send each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An election notification (the election port).
    Election(Notification),
    /// A quorum-port packet on connection `conn`.
    Quorum {
        /// The follower's connection id.
        conn: u64,
        /// The packet.
        packet: Packet,
    },
    /// SNAP and the snapshot stream that follows it.
    Snapshot {
        /// The follower's connection id.
        conn: u64,
        /// The leader's last processed zxid: the snapshot's.
        zxid: i64,
        /// The database at `zxid`, in whatever encoding the drivers agree on (the shell: a
        /// serialized `DataTree`, zk-tree's snapshot-file image).
        data: Bytes,
    },
}

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start (or restart) the peer: LOOKING.
    Start,
    /// A message from peer `from`.
    Received {
        /// Sender sid.
        from: i64,
        /// What it sent.
        message: Message,
    },
    /// Half a tickTime passed on this peer's clock.
    Tick,
    /// The timer of the last [`Command::SetTimer`] fired (after its `after_ms`). An `id`
    /// other than the last one set (a replaced timer) is ignored.
    TimerFired {
        /// The id from `SetTimer`.
        id: u64,
    },
    /// The log is durable up to `zxid`.
    LogDurable {
        /// Highest durable zxid.
        zxid: i64,
    },
    /// An epoch file write of `epoch` is durable.
    EpochDurable {
        /// Which file.
        file: EpochFile,
        /// The value written.
        epoch: i64,
    },
    /// The snapshot of [`Command::TakeSnapshot`] is durable.
    SnapshotDurable,
    /// The quorum-port connection `conn` broke (the transport read EOF or an error on it).
    /// A follower whose connection to its leader broke looks for a leader at once, as
    /// Java's `Follower.followLeader` does when `readPacket` throws, instead of waiting
    /// `syncLimit` ticks of silence. A leader forgets the learner on it: the learner stops
    /// counting toward the synced quorum at the next check (every tick), as Java's dead
    /// `LearnerHandler` does, instead of after `syncLimit` ticks of silence.
    ConnectionLost {
        /// The connection id (as in [`Message::Quorum`]).
        conn: u64,
    },
    /// The transport connected the learner's connection `conn` to its leader (the TCP
    /// connect succeeded; nothing was read yet). From then on the learner waits for the
    /// leader's answer for `initLimit` ticks on that connection, as Java's learner does (its
    /// socket timeout), instead of connecting again while the leader is silent: a Java
    /// leader holds LEADERINFO back until a quorum of learners registered, and logs every
    /// connection dropped meanwhile as an error. A transport that never reports this (the
    /// simulator) keeps the reconnect-on-silence.
    ConnectionUp {
        /// The connection id (as in [`Message::Quorum`]).
        conn: u64,
    },
    /// A client write at the leader, proposed as an `error` txn (type -1, time 0, no
    /// digest) whose record is `body` (ignored unless an established leader). The simulator's
    /// opaque writes; a txn a Java peer must apply goes through [`Event::ProposeTxn`].
    ClientPropose {
        /// Session id.
        client_id: i64,
        /// The client's cxid.
        cxid: i32,
        /// The txn record.
        body: Bytes,
    },
    /// A prepared txn at the leader (`PrepRequestProcessor`'s output): proposed at
    /// [`Peer::next_zxid`], which replaces `header.zxid`. `digest` is the tree digest after
    /// the txn at that zxid (`TxnDigest`), or `None` to send none. Ignored unless an
    /// established leader.
    ProposeTxn {
        /// Session, cxid, time and type (the zxid is the peer's).
        header: TxnHeader,
        /// The txn record for `header.type_`.
        body: Bytes,
        /// The digest to send with it.
        digest: Option<TxnDigest>,
    },
    /// A client request this learner forwards to its leader as a REQUEST packet
    /// (`Learner.request`: writes, createSession, closeSession and `sync`). Ignored unless a
    /// serving follower: the node closes its client connections when it stops serving, so
    /// nothing waits for an answer that cannot come.
    Forward(ForwardedRequest),
    /// A serving learner's client reconnects with a session this node does not hold: ask
    /// the leader (`Learner.validateSession`: REVALIDATE `{sessionId, timeout}`). Ignored
    /// unless a serving learner; the answer comes as [`Command::Revalidated`].
    Revalidate {
        /// The session.
        session_id: i64,
        /// The client's timeout in ms.
        timeout_ms: i32,
    },
    /// Leader: the node's answer to [`Command::Revalidate`] (`Leader.revalidateSession`:
    /// `checkIfValidGlobalSession` touched the session), sent to learner `to` as the
    /// REVALIDATE reply `{sessionId, valid}`. Ignored unless leading with `to` connected.
    RevalidateReply {
        /// The learner's sid.
        to: i64,
        /// The session.
        session_id: i64,
        /// Whether the session is valid (and was touched).
        valid: bool,
    },
}

/// Outputs, executed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send a message to peer `to`.
    Send {
        /// Recipient sid.
        to: i64,
        /// The message.
        message: Message,
    },
    /// Answer with [`Event::TimerFired`] `{ id }` after `after_ms` of real time, replacing
    /// any earlier timer (the election's finalize wait and notification timeouts; only one
    /// is pending at a time). The peer keeps no clock: its timers are its driver's.
    SetTimer {
        /// Echoed in `TimerFired`.
        id: u64,
        /// Delay in ms.
        after_ms: u64,
    },
    /// Append these txns to the log and fsync; answer with `LogDurable`.
    Persist(Vec<TxnPayload>),
    /// Drop every logged txn after `zxid` (synchronous).
    Truncate {
        /// Keep up to here.
        zxid: i64,
    },
    /// Write and fsync `acceptedEpoch`; answer with `EpochDurable`.
    WriteAcceptedEpoch(i64),
    /// Write and fsync `currentEpoch`; answer with `EpochDurable`.
    WriteCurrentEpoch(i64),
    /// Send peer `to`, on connection `conn`, a [`Message::Snapshot`] holding this peer's
    /// database at `zxid` (its last committed zxid: the driver's applied state is there
    /// when asked). It must go out before the next `Send` to `to`.
    SendSnapshot {
        /// Recipient sid.
        to: i64,
        /// The learner's connection id.
        conn: u64,
        /// The snapshot's zxid.
        zxid: i64,
    },
    /// Replace the database by the leader's snapshot at `zxid` (in memory only); the log is
    /// now empty, based at `zxid`.
    LoadSnapshot {
        /// The snapshot's zxid.
        zxid: i64,
        /// The snapshot as the leader's driver encoded it.
        data: Bytes,
    },
    /// Make the durable state the snapshot at [`Peer::base`] (the one loaded last, or the
    /// one recovered from) followed by exactly these log entries; answer with
    /// `SnapshotDurable`.
    TakeSnapshot(Vec<TxnPayload>),
    /// Apply the txn with this zxid (in the peer's log).
    Commit {
        /// The committed zxid.
        zxid: i64,
    },
    /// The peer's role changed.
    RoleChanged(PeerRole),
    /// This leader established `epoch` (a quorum acked NEWLEADER).
    Established {
        /// The epoch.
        epoch: i64,
    },
    /// Leader: learner `from` forwarded this client request; prepare it for its session.
    Forwarded {
        /// The learner's sid.
        from: i64,
        /// The request.
        request: ForwardedRequest,
    },
    /// Leader: a learner's PING reply touched these sessions.
    SessionsTouched(Vec<SessionTouch>),
    /// Follower: the leader answered the oldest `sync` this peer forwarded.
    Synced,
    /// Leader: learner `from` asks whether `session_id` is valid (REVALIDATE): the node
    /// touches it if it is (`checkIfValidGlobalSession`) and answers with
    /// [`Event::RevalidateReply`].
    Revalidate {
        /// The learner's sid.
        from: i64,
        /// The session.
        session_id: i64,
        /// The client's timeout in ms.
        timeout_ms: i32,
    },
    /// Learner: the leader's answer to [`Event::Revalidate`].
    Revalidated {
        /// The session.
        session_id: i64,
        /// Whether the leader knows (and touched) it.
        valid: bool,
    },
}

/// What `mntr` reports of a peer (see [`Peer::figures`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerFigures {
    /// `zk_peer_state`: `looking`, `leading - broadcast`, `following - broadcast`, ...
    pub peer_state: &'static str,
    /// `zk_quorum_size`: the voting members.
    pub quorum_size: usize,
    /// A leader's figures.
    pub leader: Option<LeaderFigures>,
}

/// A leader's learners (`zk_learners`, `zk_synced_*`, `zk_pending_syncs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderFigures {
    /// Connected learners, syncing or synced (`zk_learners`).
    pub learners: usize,
    /// Once broadcasting: the synced ones and the pending syncs.
    pub broadcast: crate::broadcast::BroadcastFigures,
}

/// The peer's role as the shell sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// Electing.
    Looking,
    /// Leading (discovery until `Established`, then broadcast).
    Leading,
    /// Following `leader`.
    Following {
        /// The leader's sid.
        leader: i64,
    },
    /// Observing `leader` (an observer: never votes, never counted).
    Observing {
        /// The leader's sid.
        leader: i64,
    },
}

/// Static settings of one peer.
#[derive(Debug, Clone)]
pub struct PeerConfig<Q> {
    /// This peer's sid.
    pub my_id: i64,
    /// The voters.
    pub verifier: Q,
    /// `tickTime` in ms (an [`Event::Tick`] is half of it).
    pub tick_ms: u64,
    /// `initLimit` in ticks.
    pub init_limit: u64,
    /// `syncLimit` in ticks.
    pub sync_limit: u64,
    /// `maxNotificationInterval` of the election, in ms.
    pub max_notification_interval_ms: u64,
    /// Test-only injected bug; [`Mutation::None`] in production.
    pub mutation: Mutation,
    /// A participant (the default) or an observer (`peerType=observer`; its sid must not
    /// be among the verifier's voters).
    pub learner_type: LearnerType,
    /// The committed configuration as Java's `QuorumVerifier.toString()` writes it
    /// (`server.N=host:quorumPort:electionPort:participant` lines, then `version=<hex>`;
    /// zk-config's `QuorumVerifier` displays it so), sent in every notification and in
    /// NEWLEADER. Java parses it: a peer in an ensemble with Java members must set it, since
    /// a Java server with `standaloneEnabled=false` that receives a config without members
    /// loses its election thread to the `IllegalArgumentException` (seen live in
    /// tests/live_java.rs). [`PeerConfig::new`] leaves `version=0`, enough among zk-zab
    /// peers only.
    pub config_text: Bytes,
    /// `zookeeper.commitLogCount` (500): a leader walks only the last this-many committed
    /// proposals as its committed log; older ones count as its txn log.
    pub commit_log_count: usize,
    /// Whether a leader syncs a learner from its txn log beyond the committed log
    /// (`zookeeper.snapshotSizeFactor` ≥ 0, the default); off, such a learner gets a SNAP.
    pub txn_log_sync: bool,
}

impl<Q> PeerConfig<Q> {
    /// Java's defaults (2000 ms ticks, initLimit 10, syncLimit 5, 60 s), and the config
    /// text `version=0` (see [`PeerConfig::config_text`]).
    pub fn new(my_id: i64, verifier: Q) -> Self {
        PeerConfig {
            my_id,
            verifier,
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            max_notification_interval_ms: election::MAX_NOTIFICATION_INTERVAL_MS,
            mutation: Mutation::None,
            learner_type: LearnerType::Participant,
            config_text: Bytes::from_static(b"version=0"),
            commit_log_count: 500,
            txn_log_sync: true,
        }
    }
}

/// The verifier every machine of the peer uses, with the quorum mutations injected.
#[derive(Debug, Clone)]
pub struct PeerVerifier<Q> {
    inner: Q,
    my_id: i64,
    mutation: Mutation,
    /// The broadcast's verifier (where `CommitBeforeQuorumAck` applies).
    broadcast: bool,
    /// A leader's verifier, discovery's or broadcast's (where `CountObserverAck` applies).
    leading: bool,
}

impl<Q: QuorumVerifier> QuorumVerifier for PeerVerifier<Q> {
    fn voting_members(&self) -> BTreeSet<i64> {
        self.inner.voting_members()
    }
    fn weight(&self, sid: i64) -> u64 {
        self.inner.weight(sid)
    }
    fn contains_quorum(&self, sids: &BTreeSet<i64>) -> bool {
        match self.mutation {
            Mutation::CountVoteTwice if sids.contains(&self.my_id) => {
                // Injected bug: my own vote counts twice.
                let voters = self.inner.voting_members();
                let n = sids.iter().filter(|s| voters.contains(s)).count() + 1;
                2 * n > voters.len()
            }
            Mutation::CommitBeforeQuorumAck if self.broadcast => {
                // Injected bug: any ack (the leader's own included) commits.
                !sids.is_empty()
            }
            Mutation::CountObserverAck if self.leading => {
                // Injected bug: every learner counts, observers included.
                2 * sids.len() > self.inner.voting_members().len()
            }
            _ => self.inner.contains_quorum(sids),
        }
    }
    fn is_voter(&self, sid: i64) -> bool {
        // Injected bug (CountObserverAck): a leader takes every learner for a voter.
        (self.leading && self.mutation == Mutation::CountObserverAck) || self.inner.is_voter(sid)
    }
}

struct Leading<Q> {
    discovery: Discovery<PeerVerifier<Q>>,
    broadcast: Option<Broadcast<PeerVerifier<Q>>>,
    /// Newest connection per learner.
    conns: BTreeMap<i64, u64>,
    /// Learners synced before establishment: (sid, kind, forward_from).
    synced: Vec<(i64, LearnerKind, i64)>,
    /// The learners that registered with OBSERVERINFO on their current connection.
    observers: BTreeSet<i64>,
    half_ticks: u64,
    epoch: i64,
    next_counter: i64,
}

impl<Q: QuorumVerifier> Leading<Q> {
    /// Forgets learner `sid`'s handler (its connection broke, it was dropped, or a new
    /// connection replaces it): a new registration starts over.
    fn forget_learner(&mut self, sid: i64) {
        self.discovery.remove_learner(sid);
        self.synced.retain(|(s, _, _)| *s != sid);
        if let Some(b) = self.broadcast.as_mut() {
            b.remove_learner(sid);
        }
    }
}

struct Following {
    leader: i64,
    conn: u64,
    learner: Learner,
    /// Half ticks since the last packet from the leader on this connection.
    silent: u64,
    heard: bool,
    /// The transport reported the connection up ([`Event::ConnectionUp`]).
    connected: bool,
    serving: bool,
    /// A SNAP's data until the learner loads it.
    snapshot: Option<Bytes>,
    /// The log (and its base) before a SNAP replaced it, until `TakeSnapshot` hands the new
    /// one to disk: a session that ends before that goes back to it (the disk never saw the
    /// snapshot).
    pre_snapshot: Option<(i64, Vec<TxnPayload>)>,
}

enum State<Q> {
    Looking,
    Leading(Box<Leading<Q>>),
    Following(Box<Following>),
}

/// One quorum peer.
pub struct Peer<Q> {
    cfg: PeerConfig<Q>,
    verifier: PeerVerifier<Q>,
    election: Election<PeerVerifier<Q>>,
    state: State<Q>,
    /// The zxid of the snapshot the log starts after (0: the log is the whole history).
    base: i64,
    log: Vec<TxnPayload>,
    accepted_epoch: i64,
    current_epoch: i64,
    /// Last values handed out in WriteAcceptedEpoch / WriteCurrentEpoch.
    written: (i64, i64),
    /// The last `SetTimer` id this peer emitted: its own sequence under its incarnation (as
    /// connection ids are), so a timer of an earlier life never matches.
    timer_seq: u64,
    /// The pending timer: (the peer's id, the election's id).
    election_timer: Option<(u64, u64)>,
    conn_seq: u64,
    incarnation: u64,
    /// Sessions touched since the last PING reply (`LearnerSessionTracker.touchTable`).
    touches: BTreeMap<i64, i32>,
}

impl<Q: QuorumVerifier + Clone> Peer<Q> {
    /// A peer recovered from its durable state: its log (oldest first, its whole history)
    /// and epoch files. `incarnation` must differ between restarts of the same sid
    /// (connection ids use it).
    pub fn new(
        cfg: PeerConfig<Q>,
        log: Vec<TxnPayload>,
        accepted_epoch: i64,
        current_epoch: i64,
        incarnation: u64,
    ) -> Self {
        Self::from_snapshot(cfg, 0, log, accepted_epoch, current_epoch, incarnation)
    }

    /// A peer recovered from a snapshot at zxid `base` (0: none) and the log after it
    /// (oldest first; every entry above `base`, entries at or below it are dropped), as
    /// Java's `ZKDatabase.loadDataBase` restores the newest snapshot and replays the txn
    /// log after it. The peer cannot sync a learner below `base` from its log (it sends a
    /// SNAP), nor truncate its own log below it.
    pub fn from_snapshot(
        cfg: PeerConfig<Q>,
        base: i64,
        mut log: Vec<TxnPayload>,
        accepted_epoch: i64,
        current_epoch: i64,
        incarnation: u64,
    ) -> Self {
        log.retain(|t| t.header().zxid > base);
        let verifier = PeerVerifier {
            inner: cfg.verifier.clone(),
            my_id: cfg.my_id,
            mutation: cfg.mutation,
            broadcast: false,
            leading: false,
        };
        let mut ecfg = ElectionConfig::new(
            cfg.my_id,
            cfg.learner_type,
            verifier.clone(),
            cfg.config_text.clone(),
        );
        ecfg.max_notification_interval_ms = cfg.max_notification_interval_ms;
        let last = log.last().map_or(base, |t| t.header().zxid);
        Peer {
            election: Election::new(ecfg, last, current_epoch),
            verifier,
            cfg,
            state: State::Looking,
            base,
            log,
            accepted_epoch,
            current_epoch,
            written: (accepted_epoch, current_epoch),
            timer_seq: incarnation << 32,
            election_timer: None,
            conn_seq: 0,
            incarnation,
            touches: BTreeMap::new(),
        }
    }

    /// The sid.
    pub fn id(&self) -> i64 {
        self.cfg.my_id
    }
    /// The log as this peer has it in memory (durable or not), oldest first.
    pub fn log(&self) -> &[TxnPayload] {
        &self.log
    }
    /// The zxid of the snapshot the log starts after (0: the log is the whole history).
    pub fn base(&self) -> i64 {
        self.base
    }
    /// The snapshot at `zxid` is durable: the log entries up to it leave memory and the
    /// log is based at `zxid` from now on (its DIFF window is what was logged after the
    /// snapshot; a learner at or below `zxid` gets a SNAP). The driver guarantees the
    /// snapshot holds exactly the history up to `zxid` (a committed zxid: what a serving
    /// node applied). Refused (returns `false`, nothing changes) unless `zxid` is a logged
    /// entry above the base, and while a learner's SNAP is not durable yet (the log it
    /// would go back to is the old one). A leader syncs each learner from its log at once
    /// (the DIFF's packets go out in the same step), so no sync in progress needs the
    /// entries dropped here.
    pub fn compact(&mut self, zxid: i64) -> bool {
        if zxid <= self.base {
            return false;
        }
        if matches!(&self.state, State::Following(f) if f.pre_snapshot.is_some()) {
            return false;
        }
        let n = self.log.partition_point(|t| t.header().zxid <= zxid);
        if n == 0 || self.log[n - 1].header().zxid != zxid {
            return false;
        }
        self.log.drain(..n);
        // A log that was long once (a whole history recovered) gives its memory back.
        self.log.shrink_to(self.log.len().saturating_mul(2).max(64));
        self.base = zxid;
        true
    }
    /// The last logged zxid (the base for an empty log).
    pub fn last_zxid(&self) -> i64 {
        self.log.last().map_or(self.base, |t| t.header().zxid)
    }
    /// The role now.
    pub fn role(&self) -> PeerRole {
        match &self.state {
            State::Looking => PeerRole::Looking,
            State::Leading(_) => PeerRole::Leading,
            State::Following(f) if f.learner.is_observer() => {
                PeerRole::Observing { leader: f.leader }
            }
            State::Following(f) => PeerRole::Following { leader: f.leader },
        }
    }
    /// The epoch this peer leads in broadcast, if it is an established leader.
    pub fn established_epoch(&self) -> Option<i64> {
        match &self.state {
            State::Leading(l) if l.broadcast.is_some() => Some(l.epoch),
            _ => None,
        }
    }
    /// The zxid the next proposal gets, if this is an established leader (what a
    /// [`Event::ProposeTxn`]'s digest must be computed for).
    pub fn next_zxid(&self) -> Option<i64> {
        match &self.state {
            State::Leading(l) if l.broadcast.is_some() => Some((l.epoch << 32) | l.next_counter),
            _ => None,
        }
    }
    /// What `mntr` reports of this peer: `zk_peer_state` (`QuorumPeer.getDetailedPeerState`),
    /// `zk_quorum_size`, and a leader's learners.
    pub fn figures(&self) -> PeerFigures {
        let quorum_size = self.cfg.verifier.voting_members().len();
        match &self.state {
            State::Looking => PeerFigures {
                peer_state: "looking",
                quorum_size,
                leader: None,
            },
            State::Leading(l) => PeerFigures {
                peer_state: if l.broadcast.is_some() {
                    "leading - broadcast"
                } else {
                    "leading - synchronization"
                },
                quorum_size,
                leader: Some(LeaderFigures {
                    learners: l.conns.len(),
                    broadcast: l
                        .broadcast
                        .as_ref()
                        .map(|b| b.figures())
                        .unwrap_or_default(),
                }),
            },
            State::Following(f) => PeerFigures {
                peer_state: match (f.learner.is_observer(), f.serving) {
                    (false, true) => "following - broadcast",
                    (false, false) => "following - synchronization",
                    (true, true) => "observing - broadcast",
                    (true, false) => "observing - synchronization",
                },
                quorum_size,
                leader: None,
            },
        }
    }

    /// A learner's (follower's or observer's) connection id to its leader (`None` unless
    /// following or observing).
    pub fn leader_conn(&self) -> Option<u64> {
        match &self.state {
            State::Following(f) => Some(f.conn),
            _ => None,
        }
    }

    /// A leader's connection to learner `sid`, if it has one.
    pub fn learner_conn(&self, sid: i64) -> Option<u64> {
        match &self.state {
            State::Leading(l) => l.conns.get(&sid).copied(),
            _ => None,
        }
    }

    /// Whether this learner (follower or observer) is synced and serving.
    pub fn is_serving(&self) -> bool {
        matches!(&self.state, State::Following(f) if f.serving)
    }
    /// A follower's client touched `session_id` (timeout `timeout_ms`): the next PING reply
    /// carries it, and the table is emptied then (`LearnerSessionTracker.touchSession`).
    pub fn touch_session(&mut self, session_id: i64, timeout_ms: i32) {
        self.touches.insert(session_id, timeout_ms);
    }

    /// The injected bug this peer was configured with ([`Mutation::None`] in production).
    pub fn mutation(&self) -> Mutation {
        self.cfg.mutation
    }

    /// (acceptedEpoch, currentEpoch) as last made durable.
    pub fn epochs(&self) -> (i64, i64) {
        (self.accepted_epoch, self.current_epoch)
    }

    /// Handles one event and returns the commands it produces, in order.
    pub fn step(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.look(&mut out),
            Event::Received { from, message } => self.received(from, message, &mut out),
            Event::Tick => self.tick(&mut out),
            Event::TimerFired { id } => {
                if let Some((mine, election_id)) = self.election_timer {
                    if mine == id {
                        self.election_timer = None;
                        let cmds = self
                            .election
                            .step(election::Event::TimerFired { id: election_id });
                        self.election_cmds(cmds, &mut out);
                    }
                }
            }
            Event::LogDurable { zxid } => match &mut self.state {
                State::Leading(l) => {
                    if let Some(b) = l.broadcast.as_mut() {
                        let cmds = b.step(broadcast::Event::LogDurable { zxid });
                        self.broadcast_cmds(cmds, &mut out);
                    }
                }
                State::Following(f) => {
                    let cmds = f.learner.step(learner::Event::LogDurable { zxid });
                    self.learner_cmds(cmds, &mut out);
                }
                State::Looking => {}
            },
            Event::EpochDurable { file, epoch } => self.epoch_durable(file, epoch, &mut out),
            Event::ConnectionUp { conn } => {
                if let State::Following(f) = &mut self.state {
                    if f.conn == conn {
                        f.connected = true;
                    }
                }
            }
            Event::ConnectionLost { conn } => {
                if matches!(&self.state, State::Following(f) if f.conn == conn && f.heard) {
                    self.look(&mut out);
                } else if let State::Following(f) = &mut self.state {
                    // A dial that failed: the reconnect-on-silence takes over again.
                    if f.conn == conn {
                        f.connected = false;
                    }
                } else if let State::Leading(l) = &mut self.state {
                    // The learner's handler is gone: it no longer counts toward the synced
                    // quorum the next check looks for (Java's `LearnerHandler.synced()` is
                    // false once the handler's thread ended on the broken socket).
                    let sid = l.conns.iter().find(|&(_, &c)| c == conn).map(|(&s, _)| s);
                    if let Some(sid) = sid {
                        l.conns.remove(&sid);
                        l.observers.remove(&sid);
                        l.forget_learner(sid);
                    }
                }
            }
            Event::SnapshotDurable => {
                if let State::Following(f) = &mut self.state {
                    let cmds = f.learner.step(learner::Event::SnapshotDurable);
                    self.learner_cmds(cmds, &mut out);
                }
            }
            Event::ClientPropose {
                client_id,
                cxid,
                body,
            } => {
                let header = TxnHeader {
                    client_id,
                    cxid,
                    zxid: 0,
                    time: 0,
                    type_: -1,
                };
                self.propose(header, body, None, &mut out)
            }
            Event::ProposeTxn {
                header,
                body,
                digest,
            } => self.propose(header, body, digest, &mut out),
            Event::Forward(request) => match &mut self.state {
                // The leader's own client's sync: answered under the rule forwarded ones are.
                State::Leading(l) if request.op_type == broadcast::SYNC_OP => {
                    if let Some(b) = l.broadcast.as_mut() {
                        let cmds = b.step(broadcast::Event::LocalSync);
                        self.broadcast_cmds(cmds, &mut out);
                    }
                }
                _ => self.to_leader(Packet::Request(request), &mut out),
            },
            Event::Revalidate {
                session_id,
                timeout_ms,
            } => self.to_leader(
                Packet::Revalidate(Revalidate::Request {
                    session_id,
                    timeout_ms,
                }),
                &mut out,
            ),
            Event::RevalidateReply {
                to,
                session_id,
                valid,
            } => {
                if let State::Leading(l) = &self.state {
                    if let (Some(&conn), Some(_)) = (l.conns.get(&to), l.broadcast.as_ref()) {
                        out.push(Command::Send {
                            to,
                            message: Message::Quorum {
                                conn,
                                packet: Packet::Revalidate(Revalidate::Reply { session_id, valid }),
                            },
                        });
                    }
                }
            }
        }
        out
    }

    /// Sends `packet` to the leader if this is a serving learner.
    fn to_leader(&self, packet: Packet, out: &mut Vec<Command>) {
        if let State::Following(f) = &self.state {
            if f.serving {
                out.push(Command::Send {
                    to: f.leader,
                    message: Message::Quorum {
                        conn: f.conn,
                        packet,
                    },
                });
            }
        }
    }

    /// Leaves a FOLLOWING session: a snapshot loaded but never handed to disk is dropped
    /// (found by zk-sim: the log went on from the snapshot with a gap on disk).
    fn leave_following(&mut self) {
        if let State::Following(f) = &mut self.state {
            if let Some((base, old)) = f.pre_snapshot.take() {
                self.base = base;
                self.log = old;
            }
        }
    }

    fn look(&mut self, out: &mut Vec<Command>) {
        self.leave_following();
        self.state = State::Looking;
        out.push(Command::RoleChanged(PeerRole::Looking));
        let cmds = self.election.step(election::Event::Start {
            last_logged_zxid: self.last_zxid(),
            current_epoch: self.current_epoch,
        });
        self.election_cmds(cmds, out);
    }

    fn election_cmds(&mut self, cmds: Vec<election::Command>, out: &mut Vec<Command>) {
        // Notifications to self loop back at once (QuorumCnxManager.toSend); bounded by the
        // machine answering a self-notification with at most one more round.
        let mut queue: std::collections::VecDeque<election::Command> = cmds.into();
        let mut budget = 10_000usize;
        while let Some(c) = queue.pop_front() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break;
            }
            match c {
                election::Command::Send { to, notification } if to == self.cfg.my_id => {
                    queue.extend(self.election.step(election::Event::Received {
                        from: to,
                        notification,
                    }));
                }
                election::Command::Send { to, notification } => out.push(Command::Send {
                    to,
                    message: Message::Election(notification),
                }),
                election::Command::SetTimer { id, after_ms } => {
                    self.timer_seq = self.timer_seq.wrapping_add(1);
                    self.election_timer = Some((self.timer_seq, id));
                    out.push(Command::SetTimer {
                        id: self.timer_seq,
                        after_ms,
                    });
                }
                election::Command::Decided { vote, role } => {
                    self.election_timer = None;
                    match role {
                        Role::Leading => self.lead(out),
                        Role::Following => self.follow(vote.id, out),
                        Role::Observing => self.observe(vote.id, out),
                    }
                }
            }
        }
    }

    fn lead(&mut self, out: &mut Vec<Command>) {
        let last = self.last_zxid();
        let verifier = PeerVerifier {
            leading: true,
            ..self.verifier.clone()
        };
        let mut discovery = Discovery::new(
            self.cfg.my_id,
            verifier,
            0,
            self.accepted_epoch,
            self.current_epoch,
            last,
        );
        let cmds = discovery.step(discovery::Event::Start);
        self.state = State::Leading(Box::new(Leading {
            discovery,
            broadcast: None,
            conns: BTreeMap::new(),
            synced: Vec::new(),
            observers: BTreeSet::new(),
            half_ticks: 0,
            epoch: 0,
            next_counter: 1,
        }));
        out.push(Command::RoleChanged(PeerRole::Leading));
        self.discovery_cmds(cmds, out);
    }

    fn follow(&mut self, leader: i64, out: &mut Vec<Command>) {
        out.push(Command::RoleChanged(PeerRole::Following { leader }));
        self.connect(leader, out);
    }

    /// `Observer.observeLeader`: the same connection as a follower's, as an observer.
    fn observe(&mut self, leader: i64, out: &mut Vec<Command>) {
        out.push(Command::RoleChanged(PeerRole::Observing { leader }));
        self.connect(leader, out);
    }

    /// A new connection to `leader` with a fresh learner (`Learner.connectToLeader`).
    fn connect(&mut self, leader: i64, out: &mut Vec<Command>) {
        self.leave_following();
        self.conn_seq += 1;
        let conn = (self.incarnation << 32) | self.conn_seq;
        let new = if self.cfg.learner_type == LearnerType::Observer {
            Learner::observer
        } else {
            Learner::new
        };
        let mut learner = new(
            self.cfg.my_id,
            0,
            self.accepted_epoch,
            self.current_epoch,
            self.last_zxid(),
        )
        .with_mutation(self.cfg.mutation);
        let cmds = learner.step(learner::Event::Connected);
        self.state = State::Following(Box::new(Following {
            leader,
            conn,
            learner,
            silent: 0,
            heard: false,
            connected: false,
            serving: false,
            snapshot: None,
            pre_snapshot: None,
        }));
        self.learner_cmds(cmds, out);
    }

    fn tick(&mut self, out: &mut Vec<Command>) {
        let init_half = self.cfg.init_limit * 2;
        let sync_half = self.cfg.sync_limit * 2;
        match &mut self.state {
            State::Looking => {}
            State::Leading(l) => {
                l.half_ticks += 1;
                if let Some(b) = l.broadcast.as_mut() {
                    let cmds = b.step(broadcast::Event::HalfTick);
                    self.broadcast_cmds(cmds, out);
                } else if l.half_ticks >= init_half {
                    let cmds = l.discovery.step(discovery::Event::InitLimitExpired);
                    self.discovery_cmds(cmds, out);
                }
            }
            State::Following(f) => {
                f.silent += 1;
                let (leader, silent, heard, serving) = (f.leader, f.silent, f.heard, f.serving);
                if (serving && silent > sync_half) || silent >= init_half {
                    self.look(out);
                } else if !heard && !f.connected && silent % 2 == 0 {
                    // The leader did not answer yet on a connection not known to be up:
                    // connect again; initLimit still bounds the whole attempt.
                    self.connect(leader, out);
                    if let State::Following(g) = &mut self.state {
                        g.silent = silent;
                    }
                }
            }
        }
    }

    fn epoch_durable(&mut self, file: EpochFile, epoch: i64, out: &mut Vec<Command>) {
        let want = match file {
            EpochFile::Accepted => self.written.0,
            EpochFile::Current => self.written.1,
        };
        if epoch != want {
            return;
        }
        match file {
            EpochFile::Accepted => self.accepted_epoch = epoch,
            EpochFile::Current => self.current_epoch = epoch,
        }
        match &mut self.state {
            State::Leading(l) => {
                let cmds = l.discovery.step(discovery::Event::EpochDurable);
                self.discovery_cmds(cmds, out);
            }
            State::Following(f) => {
                let cmds = f.learner.step(learner::Event::EpochDurable(file));
                self.learner_cmds(cmds, out);
            }
            State::Looking => {}
        }
    }

    fn received(&mut self, from: i64, message: Message, out: &mut Vec<Command>) {
        match message {
            Message::Election(notification) => {
                let cmds = self
                    .election
                    .step(election::Event::Received { from, notification });
                self.election_cmds(cmds, out);
            }
            Message::Quorum { conn, packet } => match &mut self.state {
                State::Leading(l) => {
                    if matches!(
                        packet,
                        Packet::FollowerInfo { .. } | Packet::ObserverInfo { .. }
                    ) {
                        if l.conns.get(&from) == Some(&conn) {
                            return;
                        }
                        // A new connection replaces the learner's old handler.
                        l.conns.insert(from, conn);
                        if matches!(packet, Packet::ObserverInfo { .. }) {
                            l.observers.insert(from);
                        } else {
                            l.observers.remove(&from);
                        }
                        l.forget_learner(from);
                    } else if l.conns.get(&from) != Some(&conn) {
                        return;
                    }
                    if let (
                        Some(_),
                        Packet::Ping {
                            sessions: Some(touched),
                            ..
                        },
                    ) = (&l.broadcast, &packet)
                    {
                        if !touched.is_empty() {
                            out.push(Command::SessionsTouched(touched.clone()));
                        }
                    }
                    if let Some(b) = l.broadcast.as_mut() {
                        let cmds = b.step(broadcast::Event::Received {
                            from,
                            packet: packet.clone(),
                        });
                        self.broadcast_cmds(cmds, out);
                    }
                    if let State::Leading(l) = &mut self.state {
                        let cmds = l
                            .discovery
                            .step(discovery::Event::Received { from, packet });
                        self.discovery_cmds(cmds, out);
                    }
                }
                State::Following(f) if f.leader == from && f.conn == conn => {
                    f.silent = 0;
                    f.heard = true;
                    let cmds = f.learner.step(learner::Event::Received(packet));
                    self.learner_cmds(cmds, out);
                }
                _ => {}
            },
            Message::Snapshot { conn, zxid, data } => {
                if let State::Following(f) = &mut self.state {
                    if f.leader == from && f.conn == conn {
                        f.silent = 0;
                        f.heard = true;
                        f.snapshot = Some(data);
                        let cmds = f
                            .learner
                            .step(learner::Event::Received(Packet::Snap { zxid }));
                        self.learner_cmds(cmds, out);
                    }
                }
            }
        }
    }

    fn propose(
        &mut self,
        mut header: TxnHeader,
        body: Bytes,
        digest: Option<TxnDigest>,
        out: &mut Vec<Command>,
    ) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let Some(b) = l.broadcast.as_mut() else {
            return;
        };
        header.zxid = (l.epoch << 32) | l.next_counter;
        l.next_counter += 1;
        let cmds = b.step(broadcast::Event::Propose(TxnPayload::new(
            header, &body, digest,
        )));
        self.broadcast_cmds(cmds, out);
    }

    /// Appends the txns this peer does not have yet (a SNAP's base may cover some).
    fn append(&mut self, txns: Vec<TxnPayload>, out: &mut Vec<Command>) {
        let last = self.last_zxid();
        let new: Vec<TxnPayload> = txns
            .into_iter()
            .filter(|t| t.header().zxid > last)
            .collect();
        if !new.is_empty() {
            self.log.extend(new.iter().cloned());
            out.push(Command::Persist(new));
        }
    }

    fn write_epoch(&mut self, file: EpochFile, epoch: i64, out: &mut Vec<Command>) {
        match file {
            EpochFile::Accepted => {
                self.written.0 = epoch;
                out.push(Command::WriteAcceptedEpoch(epoch));
            }
            EpochFile::Current => {
                self.written.1 = epoch;
                out.push(Command::WriteCurrentEpoch(epoch));
            }
        }
    }

    fn learner_cmds(&mut self, cmds: Vec<learner::Command>, out: &mut Vec<Command>) {
        for c in cmds {
            let State::Following(f) = &mut self.state else {
                return;
            };
            let (leader, conn) = (f.leader, f.conn);
            match c {
                learner::Command::Send(packet) => out.push(Command::Send {
                    to: leader,
                    message: Message::Quorum { conn, packet },
                }),
                learner::Command::ReplyToPing { zxid } => {
                    let sessions = std::mem::take(&mut self.touches)
                        .into_iter()
                        .map(|(session_id, timeout_ms)| SessionTouch {
                            session_id,
                            timeout_ms,
                        })
                        .collect();
                    out.push(Command::Send {
                        to: leader,
                        message: Message::Quorum {
                            conn,
                            packet: Packet::Ping {
                                zxid,
                                sessions: Some(sessions),
                            },
                        },
                    })
                }
                learner::Command::Synced => out.push(Command::Synced),
                learner::Command::Revalidated { session_id, valid } => {
                    out.push(Command::Revalidated { session_id, valid })
                }
                learner::Command::WriteAcceptedEpoch(e) => {
                    self.write_epoch(EpochFile::Accepted, e, out)
                }
                learner::Command::WriteCurrentEpoch(e) => {
                    self.write_epoch(EpochFile::Current, e, out)
                }
                learner::Command::Truncate { zxid } if zxid < self.base => {
                    // What the snapshot holds cannot be truncated (Java's learner exits
                    // with "Not able to truncate the log"): look for a leader again.
                    self.look(out);
                    return;
                }
                learner::Command::Truncate { zxid } => {
                    self.log.retain(|t| t.header().zxid <= zxid);
                    out.push(Command::Truncate { zxid });
                }
                learner::Command::LoadSnapshot { zxid } => {
                    let data = f.snapshot.take().unwrap_or_default();
                    let old_base = std::mem::replace(&mut self.base, zxid);
                    f.pre_snapshot = Some((old_base, std::mem::take(&mut self.log)));
                    out.push(Command::LoadSnapshot { zxid, data });
                }
                learner::Command::TakeSnapshot => {
                    f.pre_snapshot = None;
                    out.push(Command::TakeSnapshot(self.log.clone()));
                }
                learner::Command::Persist(txns) => self.append(txns, out),
                learner::Command::Commit { zxid } => out.push(Command::Commit { zxid }),
                learner::Command::Serve => {
                    f.serving = true;
                    let epoch = self.current_epoch;
                    self.election
                        .step(election::Event::UpdateElectionVote { peer_epoch: epoch });
                }
                learner::Command::Abandon(_) => {
                    self.look(out);
                    return;
                }
            }
        }
    }

    fn discovery_cmds(&mut self, cmds: Vec<discovery::Command>, out: &mut Vec<Command>) {
        for c in cmds {
            let State::Leading(l) = &mut self.state else {
                return;
            };
            match c {
                discovery::Command::Send { to, packet } => {
                    if packet == Packet::UpToDate {
                        if let Some(b) = l.broadcast.as_mut() {
                            b.up_to_date_sent(to);
                        }
                    }
                    if let Some(&conn) = l.conns.get(&to) {
                        out.push(Command::Send {
                            to,
                            message: Message::Quorum { conn, packet },
                        });
                    }
                }
                discovery::Command::WriteAcceptedEpoch(e) => {
                    self.write_epoch(EpochFile::Accepted, e, out)
                }
                discovery::Command::WriteCurrentEpoch(e) => {
                    self.write_epoch(EpochFile::Current, e, out)
                }
                discovery::Command::Sync {
                    to,
                    peer_last_zxid,
                    epoch,
                } => self.sync(to, peer_last_zxid, epoch, out),
                discovery::Command::Drop { sid, .. } => {
                    l.conns.remove(&sid);
                    l.observers.remove(&sid);
                    l.forget_learner(sid);
                }
                discovery::Command::Established { epoch } => {
                    l.epoch = epoch;
                    let verifier = PeerVerifier {
                        broadcast: true,
                        leading: true,
                        ..self.verifier.clone()
                    };
                    let mut b =
                        Broadcast::new(self.cfg.my_id, verifier, epoch, self.cfg.sync_limit);
                    if self.cfg.mutation == Mutation::SyncWithoutConfirmation {
                        b.skip_sync_confirmation();
                    }
                    for (sid, kind, from) in std::mem::take(&mut l.synced) {
                        let sends = b.add_learner_forwarding(sid, kind, from);
                        debug_assert!(sends.is_empty(), "nothing proposed before establishment");
                    }
                    l.broadcast = Some(b);
                    self.election
                        .step(election::Event::UpdateElectionVote { peer_epoch: epoch });
                    out.push(Command::Established { epoch });
                }
                discovery::Command::StepDown(_) => {
                    self.look(out);
                    return;
                }
            }
        }
    }

    /// `LearnerHandler.syncFollower` + `startForwarding` for one learner.
    fn sync(&mut self, to: i64, peer_last_zxid: i64, epoch: i64, out: &mut Vec<Command>) {
        let State::Leading(l) = &mut self.state else {
            return;
        };
        let Some(&conn) = l.conns.get(&to) else {
            return;
        };
        // Everything the leader logged before it was established is its history (committed
        // once established); after that, what broadcast committed.
        let committed_upto = l
            .broadcast
            .as_ref()
            .map_or(i64::MAX, |b| b.last_committed());
        let n = self
            .log
            .iter()
            .take_while(|t| t.header().zxid <= committed_upto)
            .count();
        let committed = &self.log[..n];
        let last_processed = committed.last().map_or(self.base, |t| t.header().zxid);
        // The log does not reach a learner at or below the base (it holds no entry at the
        // learner's zxid to walk from): SNAP, as Java does when its txn log does not reach.
        let below_base =
            self.base > 0 && peer_last_zxid <= self.base && peer_last_zxid != last_processed;
        // Java's two sources: the last commitLogCount committed proposals in memory, and
        // the txn log (here: the rest of the in-memory log, bounded by the snapshot
        // intervals it spans), unless snapshotSizeFactor < 0 turned txn-log sync off.
        let recent = &committed[committed
            .len()
            .saturating_sub(self.cfg.commit_log_count.max(1))..];
        let plan = sync_follower(SyncInput {
            force_snapshot: below_base,
            last_processed_zxid: last_processed,
            committed_log: recent,
            txn_log: self.cfg.txn_log_sync.then_some(committed),
            peer_last_zxid,
        });
        let forward_from = match plan {
            SyncPlan::Packets {
                packets,
                forward_from,
            } => {
                for packet in packets {
                    out.push(Command::Send {
                        to,
                        message: Message::Quorum { conn, packet },
                    });
                }
                forward_from
            }
            SyncPlan::Snap { zxid } => {
                out.push(Command::SendSnapshot { to, conn, zxid });
                zxid
            }
        };
        out.push(Command::Send {
            to,
            message: Message::Quorum {
                conn,
                packet: Packet::NewLeader {
                    zxid: epoch << 32,
                    config: Some(self.cfg.config_text.clone()),
                },
            },
        });
        let kind = if l.observers.contains(&to) {
            LearnerKind::Observer
        } else {
            LearnerKind::Follower
        };
        match l.broadcast.as_mut() {
            Some(b) => {
                let sends = b.add_learner_forwarding(to, kind, forward_from);
                self.broadcast_cmds(sends, out);
            }
            None => l.synced.push((to, kind, forward_from)),
        }
    }

    fn broadcast_cmds(&mut self, cmds: Vec<broadcast::Command>, out: &mut Vec<Command>) {
        for c in cmds {
            let State::Leading(l) = &mut self.state else {
                return;
            };
            match c {
                broadcast::Command::Send { to, packet } => {
                    if let Some(&conn) = l.conns.get(&to) {
                        out.push(Command::Send {
                            to,
                            message: Message::Quorum { conn, packet },
                        });
                    }
                }
                broadcast::Command::Persist(txn) => self.append(vec![txn], out),
                broadcast::Command::Commit { zxid } => out.push(Command::Commit { zxid }),
                broadcast::Command::StepDown(_) => {
                    self.look(out);
                    return;
                }
                broadcast::Command::LocalSynced => out.push(Command::Synced),
                broadcast::Command::Forwarded { from, request } => {
                    out.push(Command::Forwarded { from, request })
                }
                broadcast::Command::Revalidate {
                    from,
                    session_id,
                    timeout_ms,
                } => out.push(Command::Revalidate {
                    from,
                    session_id,
                    timeout_ms,
                }),
            }
        }
    }
}
