//! The ZooKeeper data tree and everything that lives with it.
//!
//! Owns: nodes and their Stat bookkeeping, the interned ACL cache, ephemerals by session,
//! container and TTL bookkeeping, quota usage, and the watch registry. Does not own:
//! sessions and their timeouts, permission checks and request validation (`zk-core`
//! prepares txns), or IO of any kind.
//!
//! ```text
//!   prep (zk-core) ──Txn──► DataTree::apply ──► result per op + notifications per watcher
//!   reads (server) ───────► DataTree::get_* (registering watches)
//! ```
//!
//! [`snapshot`] reads and writes Apache ZooKeeper's snapshot stream (no files: any
//! `Read`/`Write`), and [`digest`] computes upstream's tree digest.
//!
//! Every replica applies the same txns in the same order and gets the same tree: nothing
//! here reads a clock or draws a random number (times and ids come inside the txn).

#![warn(missing_docs)]

pub mod acl;
pub mod apply;
mod blob;
pub mod digest;
pub mod ephemeral;
pub mod path;
pub mod quota;
pub mod snapshot;
pub mod tree;
pub mod watch;

pub use acl::{AclCache, AclKey};
pub use apply::TxnResult;
pub use tree::{
    ChildNames, Children, DataTree, LayoutFigures, Node, Notification, WatchKind, WatchedEvent,
};
pub use watch::{WatchMode, WatchTable, WatcherId};
