//! Zab and FastLeaderElection as pure state machines, and the peer wire formats.
//!
//! What this crate owns:
//!
//! * [`wire`]: the bytes peers exchange, as Apache ZooKeeper 3.8/3.9 writes them: the
//!   election connection's initial message, notification frames in every version Java sends
//!   and accepts, and the quorum port's `QuorumPacket` stream typed per packet type.
//! * [`quorum`]: the [`quorum::QuorumVerifier`] trait (is this set of sids a quorum?) and
//!   its majority implementation.
//! * [`election`]: FastLeaderElection as a sans-IO state machine: events in, commands out.
//! * [`sync`]: the leader's DIFF / TRUNC / SNAP choice for one learner
//!   (`LearnerHandler.syncFollower`), as a pure function.
//! * [`discovery`]: the leader's discovery: epoch agreement over FOLLOWERINFO/OBSERVERINFO,
//!   acceptedEpoch, the ACKEPOCH quorum and currentEpoch, one sync per learner, the
//!   NEWLEADER-ack quorum and UPTODATE.
//! * [`broadcast`]: the leader in BROADCAST: proposals to followers, quorum counting with
//!   its own ack after its fsync, commits in zxid order, INFORM for observers, pings and
//!   stepping down without a synced quorum.
//! * [`peer`]: one quorum peer composing all of the above (LOOKING → LEADING/FOLLOWING →
//!   LOOKING), with [`Mutation`]s a test can inject.
//! * [`learner`]: the follower's and the observer's side of discovery, sync and broadcast,
//!   with the durable-write order a learner must keep before it acknowledges (ZAB-NOTES §4.9).
//!
//! What it does not own: sockets, files, clocks and randomness (the shell in zk-server and
//! the simulator in zk-sim provide them as events), the data tree and request preparation
//! (zk-tree, zk-core: consensus sees opaque `(zxid, txn bytes)`), and config parsing
//! (zk-config implements [`quorum::QuorumVerifier`] for hierarchical quorums). The crate
//! graph enforces it: no tokio, mio, rocksdb or rustls (`tests/no_io_deps.rs`).
//!
//! ```text
//!             bytes from a peer             events: a decoded message, a timer, "durable now"
//!   socket ─────────────────────► wire::*::decode ──────────────────────┐
//!  (shell)                                                              ▼
//!          LOOKING                 LEADING                     FOLLOWING
//!   ┌──────────────────┐  ┌─────────────────────────────┐  ┌──────────────────────┐
//!   │ election         │─►│ discovery ─► sync (pure fn) │  │ learner              │
//!   │ (FLE)            │  │      └──────► broadcast     │  │ (discovery, sync,    │
//!   └──────────────────┘  └─────────────────────────────┘  │  broadcast)          │
//!                         pure: no IO, no clock            └──────────────────────┘
//!   socket ◄───────────────────── wire::*::encode ◄────────────────────┘
//!  (shell)     bytes to a peer      commands: send, set timer, write epoch, persist txns,
//!                                   truncate, load/take snapshot, commit, serve, step down
//! ```
//!
//! Built so far (see the issue "Zab as pure state machines"): the codec, golden bytes
//! against Java's own classes (`tests/java_golden.rs`), conversations with a running
//! Apache ZooKeeper 3.8 peer as its follower and as its leader, with syncs by DIFF, TRUNC
//! and SNAP (`tests/live_java.rs`), the election, and the follower side
//! of discovery/sync/broadcast ([`learner`], with named tests for ZOOKEEPER-3911, -4394,
//! -4643, -4646, -4685), the leader's sync decision ([`sync`]) and the leader's broadcast
//! ([`broadcast`]) and discovery ([`discovery`]), and [`peer`]: the glue that runs
//! election → discovery → sync → broadcast / learner as one peer (zk-sim drives it), with
//! REQUEST forwarding, forwarded SYNCs and the PING session-touch table (zk-node's Zab
//! role uses them), observers (OBSERVERINFO, INFORM, an observer's election and learner)
//! and REVALIDATE. Not yet built: reconfig; its packets are typed in [`wire::packet`]
//! already.

#![warn(missing_docs)]

pub mod broadcast;
pub mod discovery;
pub mod election;
pub mod learner;
pub mod peer;
pub mod quorum;
pub mod sync;
pub mod wire;

/// Known bugs a test can inject to show the simulator's checkers catch them (zk-sim's
/// mutation check). Test-only: production code always uses [`Mutation::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mutation {
    /// The correct protocol.
    #[default]
    None,
    /// The quorum verifier counts the node's own vote twice (elections, epoch agreement,
    /// NEWLEADER acks and proposal acks all see it).
    CountVoteTwice,
    /// The leader commits a proposal as soon as anyone (itself included) acked it.
    CommitBeforeQuorumAck,
    /// A follower sends ACK(NEWLEADER) before the txns of the sync are durable.
    AckNewLeaderBeforePersist,
    /// A follower takes a TRUNC for a DIFF: it keeps the tail it should have dropped.
    DiffWithoutTruncate,
    /// Not Zab's but its user's: a follower's node (zk-node) answers a client's `sync`
    /// locally instead of forwarding it to the leader (zk-sim's node mode).
    SyncWithoutLeader,
    /// Not Zab's but its user's: a node (zk-node) keeps its tree when a TRUNC drops txns it
    /// had applied, instead of reloading the database (zk-sim's node mode).
    KeepTreeOnTruncate,
    /// The leader counts its observers as voters: their NEWLEADER acks (and any ack) count
    /// toward its quorums, so it establishes (and commits its history) without a quorum of
    /// voters.
    CountObserverAck,
    /// Apache ZooKeeper's own `sync` (ZOOKEEPER-1675): the leader answers a sync once what
    /// was proposed before it is committed, without a quorum confirming it still leads.
    SyncWithoutConfirmation,
}
