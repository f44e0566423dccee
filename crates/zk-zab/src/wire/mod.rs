//! The peer wire formats, byte for byte as Apache ZooKeeper 3.8/3.9 writes and reads them.
//!
//! * [`election`]: the election port (`QuorumCnxManager`, `FastLeaderElection`): the
//!   initial message a connecting peer sends, the `int32`-length frames, and the
//!   notification payload in its 28-, 40- and `44 + config` byte forms.
//! * [`auth`]: quorum SASL's `QuorumAuthPacket`, exchanged on both ports when
//!   `quorum.auth.enableSasl` is set.
//! * [`packet`]: the quorum (learner) port: a stream of `QuorumPacket` Jute records with no
//!   outer length, typed by packet type ([`packet::Packet`]), with the structured payloads
//!   (LearnerInfo, the PING session-touch table, REQUEST, PROPOSAL, REVALIDATE, ...)
//!   decoded.
//!
//! Every decoder here takes bytes as they arrive: an incomplete message is `Ok(None)` (the
//! buffer is left as it was), a complete one is consumed, and a malformed or oversized one
//! is a [`WireError`] after which the connection should be closed, as Java closes it.
//! Lengths are checked against their limits before anything is reserved or copied; hostile
//! bytes never panic (see the fuzz targets in `fuzz/`). `docs/formats.md` ("Peer formats")
//! has the layouts.

pub mod auth;
pub mod election;
pub mod packet;

use zk_proto::JuteError;

/// Why bytes from a peer were rejected. After any of these Java closes the connection (or,
/// for a notification, drops the message); the caller should do the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A length prefix outside what the receiver accepts (`QuorumCnxManager`'s
    /// `PACKETMAXSIZE`, the initial message's 2048-byte address limit, or
    /// `jute.maxbuffer` + extrasize for a `QuorumPacket` buffer).
    #[error("{what}: length {len} outside 1..={max}")]
    BadLength {
        /// Which length.
        what: &'static str,
        /// The length as read.
        len: i64,
        /// The largest accepted.
        max: usize,
    },
    /// The initial message started with a negative protocol version Java does not know.
    #[error("unrecognized protocol version {0:#x}")]
    UnknownProtocolVersion(i64),
    /// An address in the initial message that `InitialMessage.parse` rejects.
    #[error("badly formed address {0:?}")]
    BadAddress(String),
    /// A notification too short for its form, or with a bad config length.
    #[error("malformed notification: {0}")]
    BadNotification(&'static str),
    /// A QuorumPacket payload that does not hold what its type calls for.
    #[error("malformed {packet} payload: {why}")]
    BadPayload {
        /// Packet type name.
        packet: &'static str,
        /// What was wrong.
        why: String,
    },
    /// A Jute decoding error in a record.
    #[error(transparent)]
    Jute(#[from] JuteError),
}
