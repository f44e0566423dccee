//! Where txns and snapshots live, behind traits.
//!
//! Owns the [`TxnLog`] and [`SnapshotStore`] traits and their durability contract, the
//! Zab epoch files ([`EpochStore`]), an in-memory implementation ([`mem`]), the
//! [`conformance`] suite every backend runs, and Apache ZooKeeper's own files ([`java`]:
//! snapshots, txn logs, epoch files, restore) for migrating to and from a Java ensemble. The
//! RocksDB backend lives in its own crate so that this one (and everything above it) never
//! links RocksDB.
//!
//! ```text
//!   server ──append(batch)──► TxnLog ──sync()──► durable: only now may replies go out
//!          ──write_snapshot(zxid, stream)──► SnapshotStore   (fuzzy: taken while writes go on)
//!   restart: latest snapshot + TxnLog::read_from(snapshot zxid + 1) replayed
//! ```
//!
//! # Durability contract
//!
//! * [`TxnLog::append`] stages entries; they may be lost on a crash until
//!   [`TxnLog::sync`] returns `Ok`. After that they survive `kill -9` and power loss.
//!   Callers group-commit: append everything that arrived while the previous sync ran,
//!   then sync once.
//! * After any IO or backend error from a write (`append`, `sync`, `truncate_after`,
//!   `purge_before`) the store is poisoned: every later write returns
//!   [`StorageError::Poisoned`]. An fsync that failed is never retried (the page cache may
//!   have dropped the dirty pages); the node stops and recovers from disk. A batch refused
//!   as [`StorageError::Invalid`] (a caller bug caught before any IO) stages nothing and
//!   does not poison.
//! * Entries are opaque bytes keyed by zxid; zxids are strictly increasing.

#![warn(missing_docs)]

pub mod conformance;
pub mod java;
pub mod mem;
pub mod progress;

use std::io::Read as _;

use bytes::Bytes;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The underlying IO failed.
    #[error("storage IO error: {0}")]
    Io(#[from] std::io::Error),
    /// A backend error that is not plain IO.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A previous write failed; this store accepts no more writes.
    #[error("storage is poisoned by an earlier write failure")]
    Poisoned,
    /// The caller broke the contract (e.g. a zxid not above the last one).
    #[error("invalid use of storage: {0}")]
    Invalid(String),
    /// Stored data failed validation.
    #[error("corrupt storage at {location}: {detail}")]
    Corrupt {
        /// File and offset, or key.
        location: String,
        /// What was wrong.
        detail: String,
    },
}

/// The txn log.
pub trait TxnLog: Send {
    /// Stages entries, in zxid order, each above [`TxnLog::last_zxid`].
    fn append(&mut self, entries: &[(i64, Bytes)]) -> Result<(), StorageError>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> Result<(), StorageError>;
    /// The highest zxid appended (0 when empty).
    fn last_zxid(&self) -> i64;
    /// Entries with zxid ≥ `from`, in order, at most `limit` of them.
    fn read_from(&self, from: i64, limit: usize) -> Result<Vec<(i64, Bytes)>, StorageError>;
    /// Drops every entry above `zxid` (Zab TRUNC), durably.
    fn truncate_after(&mut self, zxid: i64) -> Result<(), StorageError>;
    /// Drops entries below `zxid` (after a snapshot made them unnecessary). The newest
    /// synced entry is always kept, so [`TxnLog::last_zxid`] is unchanged and survives a
    /// restart. Need not be durable: a purge lost in a crash only leaves old entries.
    fn purge_before(&mut self, zxid: i64) -> Result<(), StorageError>;
}

/// Snapshots of the data tree and sessions, streamed in and out: a snapshot of millions
/// of nodes is never held in memory whole. The bytes are opaque here (their format, and
/// its checksums, are `zk_tree::snapshot`'s).
///
/// Contract (checked by [`conformance::snapshots`]): a snapshot written with
/// [`SnapshotStore::write_snapshot`] is durable and listed only once its body returned
/// `Ok`; a body that fails leaves nothing behind; writing a zxid again replaces it;
/// [`SnapshotStore::list`] is ascending by zxid (by value, not by name); purging always
/// keeps at least one.
pub trait SnapshotStore: Send {
    /// Streams the snapshot whose state includes every txn up to `zxid` into the store:
    /// `body` writes its bytes. Returns the number of bytes written.
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<u64, StorageError>;
    /// Opens the snapshot of `zxid` for streaming reads, with its length in bytes.
    fn reader(&self, zxid: i64) -> Result<(Box<dyn std::io::Read + Send>, u64), StorageError>;
    /// zxids of every stored snapshot, ascending.
    fn list(&self) -> Result<Vec<i64>, StorageError>;
    /// Keeps the newest `keep` snapshots (at least one), deleting the rest. Returns the
    /// zxid of the oldest one kept (the txn log is needed only after it).
    fn purge(&mut self, keep: usize) -> Result<Option<i64>, StorageError>;

    /// Stores a snapshot held in memory (small ones: tests, migration of tiny trees).
    fn save(&mut self, zxid: i64, data: Bytes) -> Result<(), StorageError> {
        self.write_snapshot(zxid, &mut |w| w.write_all(&data))
            .map(drop)
    }

    /// The newest snapshot that can be read, whole. The bytes are not checked: recovery
    /// (`zk_node::recovery`) reads them as a snapshot and falls back to older ones.
    fn latest(&self) -> Result<Option<(i64, Bytes)>, StorageError> {
        for zxid in self.list()?.into_iter().rev() {
            let read = self.reader(zxid).and_then(|(mut r, len)| {
                let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                r.read_to_end(&mut buf)?;
                Ok(buf)
            });
            match read {
                Ok(buf) => return Ok(Some((zxid, Bytes::from(buf)))),
                // Unreadable: an older one may do.
                Err(_) => continue,
            }
        }
        Ok(None)
    }
}

/// Zab's `currentEpoch` and `acceptedEpoch`.
pub trait EpochStore: Send {
    /// `(current, accepted)`, 0 when never written.
    fn epochs(&self) -> Result<(i64, i64), StorageError>;
    /// Durably records the current epoch.
    fn set_current_epoch(&mut self, e: i64) -> Result<(), StorageError>;
    /// Durably records the accepted epoch.
    fn set_accepted_epoch(&mut self, e: i64) -> Result<(), StorageError>;
}
