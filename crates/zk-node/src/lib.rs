//! The pure Ferrokeeper node: the request pipeline (`zk-core`) composed with a replication
//! role, as a state machine with typed inputs and outputs.
//!
//! Owns: connections' session state and identities, the per-session request queues that
//! keep a session's operations in order, preparing writes and handing them to the role,
//! applying committed txns in zxid order, answering reads, replies and watch events,
//! session expiry and the container/TTL reaper (on the roles that run them), and the
//! stepping of background snapshots.
//! Does not own: sockets, files, threads, clocks or randomness. The shell (`zk-server`'s
//! core task, or `zk-sim`) feeds [`Input`]s, sets the time with [`Node::set_now`], and
//! carries out the [`Output`]s: it sends replies to connections, appends txns to the log,
//! writes snapshot slices, and reports back what became durable.
//!
//! ```text
//!   Input::Connect/Request ──► Node ──prep──► Replicator::propose ──► Output::Persist ─┐
//!                               ▲                                                     log
//!   Input::Durable(Z) ─────────┴──► Replicator::durable ──committed txns──► apply     fsync
//!                                         reply / watch events ◄──┘       (zxid order)
//! ```
//!
//! Ordering (as `CommitProcessor`): writes are prepared the moment they arrive, so
//! pipelined writes see each other; a session's reads wait behind that session's earlier
//! writes and nothing else. A committed txn finds the request that asked for it by
//! (session, cxid), so the node that receives a txn prepared elsewhere (a follower) answers
//! its own client all the same. Watch events are emitted when the txn is applied, before
//! any later reply, so a client sees the event before a read that shows the change.
//!
//! In an ensemble the role is Zab ([`Node::new_zab`], the [`zab`] module): the node owns a
//! `zk_zab::peer::Peer`, takes its events as [`Input::Peer`] and hands the shell its
//! commands as [`Output::Peer`]; the leader prepares and proposes, learners forward writes
//! and syncs to it and answer their own clients when the COMMIT (or SYNC) comes back.
//!
//! Tested the way openraft tests its engine: feed inputs, assert the exact outputs
//! (`tests/pipeline.rs`).

#![warn(missing_docs)]

mod audit;
mod node;
mod ops;
pub mod recovery;
pub mod replicate;
pub mod zab;

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use zk_core::auth::AuthConfig;
use zk_core::read::Response;
use zk_proto::data::Id;
use zk_proto::proto::{ConnectRequest, ConnectResponse};
use zk_proto::request::Request;
use zk_proto::{OpCode, SessionId, Zxid};
use zk_tree::snapshot::WriteSummary;
use zk_tree::WatchedEvent;

pub use audit::{AuditEvent, AuditResult};
pub use node::Node;
pub use ops::{to_read_op, to_write_op};
pub use replicate::{LocalReplicator, Replicator, RoleKind};
pub use zab::{Verifier, ZabPeer};

/// A connection's id; also its watcher id.
pub type ConnId = u64;

/// Time as the node sees it: monotonic ms for session deadlines and the reaper, and
/// wall-clock ms for the times written into txns. The shell sets it before each batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds (any origin; only differences matter).
    pub mono_ms: i64,
    /// Wall-clock milliseconds since the epoch.
    pub wall_ms: i64,
}

/// What the node is told.
#[derive(Debug)]
pub enum Input {
    /// A ConnectRequest (the connection reads nothing more until it is answered).
    Connect {
        /// The connection.
        conn: ConnId,
        /// Its peer address.
        peer: IpAddr,
        /// The request.
        req: ConnectRequest,
        /// Whether the request carried the readOnly byte (the answer mirrors it).
        read_only_byte: bool,
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
    /// Time moved (see [`Node::next_deadline`]): expire sessions and reap containers when
    /// due, on the roles that do.
    Tick,
    /// The local log made every txn up to this zxid durable.
    Durable(Zxid),
    /// The snapshot writer has room for another slice of the snapshot in progress.
    SnapshotRoom,
    /// The snapshot writer finished (or failed, or could not start): the node may start
    /// the next one.
    SnapshotDone,
    /// The background snapshot named `zxid` is durable (sent before its
    /// [`Input::SnapshotDone`], only when it was written whole). An ensemble node with a
    /// [`SnapshotSource`] then moves its peer's log base there
    /// ([`zk_zab::peer::Peer::compact`]): the txns up to it leave memory.
    SnapshotWritten {
        /// The snapshot's name ([`Output::SnapshotBegin`]'s zxid).
        zxid: i64,
    },
    /// An event for the node's Zab peer (a node built with [`Node::new_zab`]; ignored by a
    /// standalone node): a message from a peer, the half tick, a fired timer, a durable log,
    /// epoch file or snapshot. See [`zab`].
    Peer(zk_zab::peer::Event),
}

/// What the node asks the shell to do.
#[derive(Debug)]
pub enum Output {
    /// Send to a connection.
    Send(ConnId, Outgoing),
    /// Append this txn to the local log (consecutive ones form one batch, one fsync).
    Persist {
        /// Its zxid.
        zxid: Zxid,
        /// The log entry (`LogEntry` bytes).
        bytes: Bytes,
    },
    /// A session expired (for counters; the closeSession txn is already proposed).
    Expired(SessionId),
    /// A background snapshot of the state after `zxid` started: open a writer for it and
    /// send [`Input::SnapshotRoom`] whenever it can take a slice.
    SnapshotBegin {
        /// The last zxid applied when the snapshot started (its name).
        zxid: Zxid,
        /// Nodes in the tree then (for the log line).
        nodes: usize,
    },
    /// The next slice of the snapshot in progress.
    SnapshotSlice(SnapshotSlice),
    /// The snapshot in progress is abandoned before its last slice (an ensemble node whose
    /// tree is about to change outside the serving applies: a role change, a SNAP, a TRUNC
    /// below what it applied): the writer discards what it wrote and reports
    /// [`Input::SnapshotDone`] as usual.
    SnapshotAbandoned,
    /// A line for the audit log (only with [`NodeConfig::audit_user`]).
    Audit(AuditEvent),
    /// A command of the node's Zab peer. The shell executes `Send`, `SetTimer` (one
    /// resettable timer: a later one replaces it), `Persist`, `Truncate`,
    /// `WriteAcceptedEpoch`, `WriteCurrentEpoch` and `TakeSnapshot`, and reports back with
    /// [`Input::Peer`]; the node has acted on the others already (see [`zab`]).
    Peer(zk_zab::peer::Command),
    /// A txn was applied (an ensemble node with [`Node::record_applies`] on: the
    /// simulator's checkers).
    Applied {
        /// Its zxid.
        zxid: i64,
        /// FNV-1a over every txn applied since the tree was built from scratch (equal
        /// chains: equal histories).
        chain: u64,
        /// The tree's digest after it (`zk_tree::digest::tree_digest`).
        digest: i64,
        /// The digest its proposer sent with it (`TxnDigest`), if any.
        proposed: Option<i64>,
    },
}

/// Why [`Node::restore`] refused: writes were still in flight (the shell lets them become
/// durable and apply first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{in_flight} writes are still in flight")]
pub struct RestoreRefused {
    /// Writes prepared and not yet applied.
    pub in_flight: usize,
}

/// A slice of a background snapshot.
#[derive(Debug)]
pub enum SnapshotSlice {
    /// More bytes.
    Data(Bytes),
    /// The last bytes: the snapshot is complete once they are durable.
    Last(Bytes, WriteSummary),
}

/// What a connection is sent.
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

/// What a SASL request (op 102) meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslMode {
    /// No JAAS file, or no server section in it: answered OK with no token (upstream has no
    /// SASL server for the connection).
    NotConfigured,
    /// DIGEST-MD5 against the JAAS file's users.
    Digest(Arc<zk_core::sasl::Credentials>),
    /// The JAAS file asks for something Ferrokeeper does not implement (Kerberos/GSSAPI) or
    /// cannot be read: every exchange fails with AUTHFAILED; the reason was logged at start.
    Unsupported,
}

/// Snapshot settings.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// `snapCount`.
    pub snap_count: u64,
    /// `autopurge.snapRetainCount` (at least 3, as upstream).
    pub retain: usize,
    /// `autopurge.purgeInterval`; `None` (the default, 0 hours) never purges.
    pub purge_interval: Option<std::time::Duration>,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            snap_count: 100_000,
            retain: 3,
            purge_interval: None,
        }
    }
}

impl SnapshotPolicy {
    /// The next threshold: half the count plus a random share of the other half, so that
    /// the members of an ensemble do not all snapshot at once (`SyncRequestProcessor`).
    pub fn next_threshold(&self, seed: u64) -> u64 {
        let half = (self.snap_count / 2).max(1);
        // splitmix64 of the seed: randomness without a dependency.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        half + z % half
    }
}

/// What the node needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// ACL settings.
    pub auth: AuthConfig,
    /// `zookeeper.extendedTypesEnabled`.
    pub extended_types: bool,
    /// `zookeeper.closeSessionTxn.enabled`.
    pub close_session_txn: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// Smallest session timeout granted.
    pub min_session_timeout: i32,
    /// Largest session timeout granted.
    pub max_session_timeout: i32,
    /// Enforced authentication: the schemes a connection must hold one of; empty when not
    /// enforced.
    pub enforce_auth_schemes: Vec<String>,
    /// SASL.
    pub sasl: SaslMode,
    /// `zookeeper.superUser`.
    pub sasl_super_users: Vec<String>,
    /// Container/TTL reaper period in ms (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: i64,
    /// `znode.container.maxPerMinute`.
    pub container_max_per_minute: usize,
    /// Snapshot policy; `None`: this node takes no background snapshots.
    pub snapshots: Option<SnapshotPolicy>,
    /// `audit.enable`: the audit log is on, and this is the server's user (the `user` of
    /// ephemeral deletions, `ZKAuditProvider.getZKUser`). `None`: off (the default).
    pub audit_user: Option<String>,
    /// An ensemble member's membership, which `/zookeeper/config` holds
    /// (`ZKDatabase.initConfigInZKDatabase`); `None` standalone, where the node stays empty.
    pub membership: Option<Membership>,
    /// `readonlymode.enabled` on an ensemble member: see [`ReadOnlyMode`]; `None` (the
    /// default) never serves read-only.
    pub read_only: Option<ReadOnlyMode>,
}

/// Read-only mode (`readonlymode.enabled`, ZOOKEEPER-784): a member whose peer has been
/// LOOKING for [`ReadOnlyMode::after_ms`] serves read-only clients (see [`zab`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOnlyMode {
    /// How long the peer must have been LOOKING: Java's `max(2000, tickTime)` ms.
    pub after_ms: i64,
    /// `tickTime`: the granularity of the read-only sessions' deadlines.
    pub tick_ms: i32,
    /// `localSessionsEnabled`. Java's read-only server creates new sessions only as local
    /// sessions; without them its createSession is refused: a bare NOTREADONLY header (xid
    /// 0) in place of the ConnectResponse, which no client reads; Ferrokeeper sends the
    /// same and then closes the connection (Java leaves it to the client).
    pub local_sessions: bool,
}

impl ReadOnlyMode {
    /// Java's settings for `tickTime` and `localSessionsEnabled`.
    pub fn new(tick_ms: i32, local_sessions: bool) -> Self {
        ReadOnlyMode {
            after_ms: i64::from(tick_ms).max(2000),
            tick_ms,
            local_sessions,
        }
    }
}

/// The ensemble's membership as `/zookeeper/config` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// `QuorumVerifier.toString()`: `server.N=...` lines and `version=<hex>`.
    pub text: bytes::Bytes,
    /// The config version, the node's mzxid.
    pub version: i64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        let tick = 2000;
        NodeConfig {
            auth: AuthConfig::default(),
            extended_types: false,
            close_session_txn: true,
            reconfig_enabled: false,
            min_session_timeout: 2 * tick,
            max_session_timeout: 20 * tick,
            enforce_auth_schemes: Vec::new(),
            sasl: SaslMode::NotConfigured,
            sasl_super_users: Vec::new(),
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            snapshots: None,
            audit_user: None,
            membership: None,
            read_only: None,
        }
    }
}

/// Where the node's randomness comes from (SASL nonces): the shell passes a real source,
/// the simulator a seeded one.
pub type NonceSource = Box<dyn FnMut() -> [u8; 24] + Send>;

/// Where an ensemble node reads a durable snapshot by zxid (zk-tree's snapshot-file image,
/// as the shell's snapshot store holds it), when it rebuilds its tree from the snapshot its
/// peer's log is based on ([`Node::set_snapshot_source`]). `None`: no such snapshot.
pub type SnapshotSource = Box<dyn Fn(i64) -> Option<Bytes> + Send>;
