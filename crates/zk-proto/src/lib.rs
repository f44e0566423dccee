//! ZooKeeper's protocol, as types.
//!
//! * [`records`]: every Jute record of the client, txn, quorum and persistence protocols,
//!   generated at build time from `jute-schemas/*.jute` by `zk-jute` (re-exported at the top
//!   level as [`data`], [`proto`], [`txn`], [`quorum`], [`persistence`]).
//! * [`consts`]: opcodes, error codes, event types, create modes, permissions, special xids,
//!   and the [`Zxid`] / [`SessionId`] newtypes.
//! * [`txn_body`]: the typed union of txn bodies ([`txn_body::TxnBody`]) chosen by
//!   `TxnHeader.type_`, and the log/proposal entry around it ([`txn_body::LogEntry`]).
//! * [`multi`]: the header-framed multi request and response bodies
//!   ([`multi::MultiRequest`], [`multi::MultiResponse`]).
//! * [`request`]: client requests typed by opcode ([`request::Request`]), with upstream's
//!   answer to each kind of bad frame.
//! * [`path`]: `PathUtils.validatePath` on raw path bytes, parent/child helpers.
//! * [`handshake`]: `ConnectRequest` in its 44- and 45-byte shapes, `ConnectResponse` answered
//!   in the same shape.
//! * [`body`]: the [`body::Body`] trait frames are built from.
//! * `codec` (feature `codec`, off by default): the client port's `tokio_util` codec
//!   (length-prefixed frames checked against `jute.maxbuffer` before allocating, handshake
//!   first, four-letter words on a fresh connection) and the reply encoders. Only the
//!   shells (zk-server, zk-shadow) enable it: the No-IO crates stay free of tokio.
//!
//! This crate does no IO; it turns bytes into values and back.

#![warn(missing_docs)]

pub use zk_jute::{Decoder, Error as JuteError, JString, Limits, Record};

/// The generated Jute records (see `zk_jute::codegen` for the type mapping).
#[allow(clippy::all)]
pub mod records {
    include!(concat!(env!("OUT_DIR"), "/records.rs"));
}

pub use records::{data, persistence, proto, quorum, txn};

pub mod body;
#[cfg(feature = "codec")]
pub mod codec;
pub mod consts;
pub mod handshake;
pub mod multi;
pub mod path;
pub mod request;
pub mod txn_body;

pub use consts::{
    perms, xid, AddWatchMode, CreateMode, ErrorCode, EventType, KeeperState, OpCode, SessionId,
    WatcherType, Zxid,
};
