//! The Zab role: a node of an ensemble, owning a [`zk_zab::peer::Peer`].
//!
//! The shell feeds the peer's events as [`crate::Input::Peer`] (a decoded message from a
//! peer, the half tick, "log / epoch file / snapshot durable") and executes the commands
//! the node passes on as [`crate::Output::Peer`]: `Send`, `Persist`, `Truncate`,
//! `WriteAcceptedEpoch`, `WriteCurrentEpoch` and `TakeSnapshot`. Every other command the
//! node has acted on already when the shell sees it (the shell may count or log them):
//!
//! * `Commit{z}`: the txns of the peer's log up to `z` are applied through the same apply
//!   path as standalone; the local request each answers is found by (session, cxid);
//! * `RoleChanged`: the node stops serving (every client connection is closed, as Java's
//!   `ZooKeeperServer.shutdown` of the old role closes them) and loads its database as
//!   `loadData` does: every txn of its log, the uncommitted tail included (a TRUNC or SNAP
//!   during the next sync replaces what the leader does not have);
//! * `Established{epoch}`: the leader applies its whole log, prepares from
//!   `epoch << 32 | 1` on (equal to [`zk_zab::peer::Peer::next_zxid`]), re-arms every
//!   session's deadline (`SessionTrackerImpl` built anew) and serves;
//! * `SendSnapshot{to, conn, zxid}` (leader): the node serializes its tree and sessions
//!   (zk-tree's snapshot-file image, no digest; the tree is at `zxid` then) and hands the
//!   shell a `Send` of `Message::Snapshot` with those bytes in its place;
//! * `LoadSnapshot{zxid, data}`: the bytes are kept as the base snapshot at `zxid` and the
//!   tree and sessions are loaded from them; a `Truncate` below what was applied rebuilds
//!   the tree from the base snapshot the peer's log starts after (or a new tree for base
//!   0) plus the log ([`crate::Node::base_snapshot`] gives the shell the bytes to make
//!   durable at `TakeSnapshot`; [`crate::Node::keep_base_snapshot`] hands a recovered one
//!   back, or a snapshot source reads it from the shell's store, below);
//! * `Forwarded` (leader): the learner's request is prepared as a request of its session,
//!   with the auth ids it carried, and proposed; the learner holding the client answers it;
//! * `SessionsTouched` (leader): the sessions' deadlines move;
//! * `Synced` (follower): the oldest forwarded `sync` is answered, in its session's order;
//! * `Revalidate` (leader): the session is touched if held, and the answer goes back to
//!   the learner; `Revalidated` (learner): the reconnect waiting for it is answered.
//!
//! A follower serves once its peer is synced ([`zk_zab::peer::Peer::is_serving`]); until
//! then, and while LOOKING, the node is [`RoleKind::Looking`] and closes every client
//! connection as it arrives (as a Java server that is not running does), except that with
//! `readonlymode.enabled` ([`crate::NodeConfig::read_only`]) a peer LOOKING for
//! `max(2000 ms, tickTime)` makes the node [`RoleKind::ReadOnly`]: it serves read-only
//! clients with sessions local to it and refuses writes with NOTREADONLY until the peer
//! leaves LOOKING (`node/read_only.rs`). A serving follower
//! forwards writes, createSession, closeSession and `sync` to the leader as REQUEST packets,
//! answers reads locally in session order, answers a reconnect with a wrong password at
//! once and asks the leader about every other (REVALIDATE, as Java's learners do for global
//! sessions: the client is answered when the reply comes; the leader's node touches the
//! session if it holds it and makes the learner its owner, `Revalidate` →
//! `RevalidateReply`), and reports the sessions its clients touched in its
//! PING replies; only the leader expires sessions and reaps containers. An observer
//! (a peer configured with `LearnerType::Observer`) serves exactly as a follower does once
//! synced: its commits come from INFORMs.
//!
//! Snapshots and the bounded log: with [`crate::NodeConfig::snapshots`] a serving node
//! (leader, synced follower or observer: its tree holds committed txns only) takes the
//! standalone background snapshot every `snapCount/2 + random(snapCount/2)` applied txns
//! (`Output::SnapshotBegin`/`SnapshotSlice`, named after the last applied zxid, fuzzy). A
//! role change, a SNAP or a rebuild abandons the one in progress
//! ([`Output::SnapshotAbandoned`]): the tree is about to change outside the serving applies
//! (a LOOKING node loads its uncommitted tail). With a snapshot source
//! ([`crate::Node::set_snapshot_source`], the shell's store read by zxid) the node holds no
//! base snapshot in memory (a SNAP's only until it is durable) and, at each
//! [`crate::Input::SnapshotWritten`], moves its peer's log base to the snapshot it wrote
//! before ([`zk_zab::peer::Peer::compact`]): the peer keeps the last one to two snapshot
//! intervals of log, its DIFF window; a learner at or below a leader's base gets a SNAP.
//! A rebuild from a snapshot without a digest section (possibly fuzzy) reports no
//! [`Output::Applied`] for the replayed txns: the tree is exact only past the window.
//!
//! Proposals carry the `TxnDigest` Java computes: the leader's digest at establishment
//! (one walk of the tree) plus each prepared txn's delta (`Prep::track_digest`, from the
//! outstanding changes, as `PrepRequestProcessor` does). With [`crate::Node::record_applies`]
//! every node compares it with its tree after applying ([`Output::Applied`]).
//!
//! Not built: local sessions (beyond the read-only server's), reconfig.

use std::collections::VecDeque;
use std::sync::Arc;

use zk_core::prep::Prepared;
use zk_zab::peer::Peer;
use zk_zab::quorum::QuorumVerifier;

use crate::replicate::{Replicator, RoleKind};
use crate::Output;

/// The quorum verifier a node's peer uses (majority, or zk-config's hierarchical one).
pub type Verifier = Arc<dyn QuorumVerifier + Send + Sync>;

/// The peer a node owns.
pub type ZabPeer = Peer<Verifier>;

/// The Zab side of a node.
pub(crate) struct ZabRole {
    pub(crate) peer: ZabPeer,
    /// Sessions whose forwarded `sync` waits for the leader's SYNC, oldest first.
    pub(crate) pending_syncs: VecDeque<i64>,
    /// FNV-1a chain over every txn applied since the tree was last built from scratch.
    pub(crate) chain: u64,
    /// Emit [`Output::Applied`] after each txn (the simulator's checkers).
    pub(crate) record_applies: bool,
    /// Leader: the tree digest with every txn prepared so far applied (the `TxnDigest`
    /// of the last proposal).
    pub(crate) predicted: i64,
    /// The snapshots the peer's log may be based on, newest last (at most two: the one a
    /// SNAP loaded and the one before it, which the peer goes back to when the session ends
    /// before `TakeSnapshot`): (zxid, zk-tree snapshot-file image without digest).
    pub(crate) bases: Vec<(i64, bytes::Bytes)>,
    /// Reads durable snapshots by zxid ([`crate::Node::set_snapshot_source`]).
    pub(crate) source: Option<crate::SnapshotSource>,
    /// The newest background snapshot this node wrote (durable), since it started: the
    /// log's base moves there when the next one is durable.
    pub(crate) written: Option<i64>,
    /// Learner: reconnects waiting for the leader's REVALIDATE reply, by session.
    pub(crate) revalidating: std::collections::BTreeMap<i64, Revalidating>,
}

/// A client reconnect waiting for the leader's REVALIDATE reply.
pub(crate) struct Revalidating {
    pub(crate) conn: crate::ConnId,
    pub(crate) read_only_byte: bool,
    pub(crate) timeout: i32,
    pub(crate) password_ok: bool,
}

/// The FNV-1a offset basis: the chain of an empty history.
pub(crate) const CHAIN_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Extends an FNV-1a hash.
pub(crate) fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl ZabRole {
    /// Keeps `data` as the snapshot at `zxid` a log may be based on (the two newest).
    pub(crate) fn keep_base(&mut self, zxid: i64, data: bytes::Bytes) {
        self.bases.retain(|(z, _)| *z != zxid);
        self.bases.push((zxid, data));
        if self.bases.len() > 2 {
            self.bases.remove(0);
        }
    }

    pub(crate) fn new(peer: ZabPeer) -> Self {
        ZabRole {
            peer,
            pending_syncs: VecDeque::new(),
            chain: CHAIN_START,
            record_applies: false,
            predicted: 0,
            bases: Vec::new(),
            source: None,
            written: None,
            revalidating: std::collections::BTreeMap::new(),
        }
    }
}

/// What [`crate::Node::role`] reports in an ensemble: the kind only. Txns never reach it
/// (the node proposes through its peer).
pub(crate) struct ZabKind(pub(crate) RoleKind);

impl Replicator for ZabKind {
    fn kind(&self) -> RoleKind {
        self.0
    }

    fn propose(&mut self, txn: Prepared, _out: &mut Vec<Output>) {
        tracing::error!(
            "txn 0x{:x} handed to an ensemble's role marker: dropped",
            txn.header.zxid
        );
    }

    fn durable(&mut self, _zxid: zk_proto::Zxid, _committed: &mut VecDeque<Prepared>) {}

    fn pending(&self) -> usize {
        0
    }
}
