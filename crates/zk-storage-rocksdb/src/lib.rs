//! The durable storage of a Ferrokeeper node: the txn log in RocksDB, snapshots and the
//! Zab epoch files as plain files where Apache ZooKeeper keeps them. The only crate that
//! links RocksDB; everything above it sees the [`zk_storage`] traits.
//!
//! ```text
//!  dataLogDir/                       dataDir/
//!    ferrokeeper.lock  (flock)         ferrokeeper.lock  (flock; one file if the dirs are one)
//!    ferrokeeper-log/  RocksTxnLog     version-2/
//!      LOCK, CURRENT, MANIFEST-*,        snapshot.<hex zxid>    FileSnapshotStore
//!      *.log (WAL), *.sst, OPTIONS-*     currentEpoch           FileEpochStore
//!                                        acceptedEpoch
//! ```
//!
//! Open everything with [`Storage::open`]. Byte formats, tuning and measurements are in
//! `docs/storage.md`.
//!
//! # Durability
//!
//! * Log: `append` stages into a RocksDB `WriteBatch`; `sync` writes the batch with
//!   `WriteOptions::set_sync(true)`: one WAL record and one `fdatasync` per group commit.
//!   The RocksDB WAL stays on: it *is* the durability (memtable flushes to SST files are
//!   RocksDB's business and change nothing a reader sees). Any RocksDB error poisons the
//!   log; a failed sync is never retried.
//! * Snapshots and epochs: temp file, fsync, rename, fsync the directory.
//!
//! # Build
//!
//! By default `librocksdb-sys` links the system library: Debian's `librocksdb-dev` (7.8.3),
//! found through `ROCKSDB_LIB_DIR`, which the workspace's `.cargo/config.toml` sets. It
//! costs ~2.5 CPU-minutes from clean (mostly `bindgen`) instead of compiling RocksDB's C++
//! (23 CPU-minutes measured);
//! `bindgen` still runs, so `libclang-dev` is needed too; the binary then needs the
//! `librocksdb7.8` runtime package. The `bundled` feature compiles RocksDB from source
//! instead; it must be combined with `ROCKSDB_COMPILE=1` in the environment (a feature
//! cannot unset the config's `ROCKSDB_LIB_DIR`), and this crate refuses to build with one
//! and not the other.

#![warn(missing_docs)]

mod epoch;
mod fsutil;
mod log;
mod snapshot;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use epoch::{FileEpochStore, ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE};
pub use fsutil::LOCK_FILE;
pub use log::{LogReader, RocksTxnLog, LOG_CF};
pub use snapshot::{
    parse_snapshot_file_name, snapshot_file_name, FileSnapshotStore, SnapshotWriter,
};
use zk_storage::StorageError;

#[cfg(feature = "bundled")]
const _: () = assert!(
    option_env!("ROCKSDB_COMPILE").is_some(),
    "feature `bundled` needs ROCKSDB_COMPILE=1 in the environment (see docs/storage.md)"
);

/// The directory, under dataLogDir, of the RocksDB txn log.
pub const LOG_DIR: &str = "ferrokeeper-log";
/// The directory, under dataDir, of snapshots and epoch files (Apache ZooKeeper's name).
pub const VERSION_DIR: &str = "version-2";

/// Why storage could not be opened. Every variant names the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A directory or file could not be created or used.
    #[error("cannot use {what} {}: {source}", path.display())]
    Dir {
        /// What the path is for ("data directory", ...).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// Another process (or another `Storage` in this one) holds the directory.
    #[error(
        "{} is locked by another Ferrokeeper ({holder}); two servers cannot share a data directory",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as far as the file says.
        holder: String,
    },
    /// RocksDB refused to open the txn log.
    #[error("cannot open the txn log at {}: {detail}", path.display())]
    Log {
        /// The RocksDB directory.
        path: PathBuf,
        /// RocksDB's message.
        detail: String,
    },
    /// The snapshot or epoch directory could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Store {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: StorageError,
    },
}

impl From<OpenError> for StorageError {
    fn from(e: OpenError) -> Self {
        StorageError::Backend(e.to_string())
    }
}

/// The stores of one node. Move each to the thread that uses it; the directory locks are
/// held until all of them (and any [`LogReader`] or [`SnapshotWriter`]) are dropped.
#[derive(Debug)]
pub struct Storage {
    /// The txn log.
    pub log: RocksTxnLog,
    /// Snapshots, in dataDir/version-2.
    pub snapshots: FileSnapshotStore,
    /// `currentEpoch` and `acceptedEpoch`, in dataDir/version-2.
    pub epochs: FileEpochStore,
}

/// Creates `path` as a directory if needed, with an error that names it.
fn make_dir(what: &'static str, path: &Path) -> Result<(), OpenError> {
    let err = |source| OpenError::Dir {
        what,
        path: path.to_path_buf(),
        source,
    };
    match fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err(err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(path).map_err(err),
        Err(e) => Err(err(e)),
    }
}

/// Checks that files can be created in `dir`.
fn probe_writable(what: &'static str, dir: &Path) -> Result<(), OpenError> {
    let probe = dir.join(".ferrokeeper-probe");
    fs::write(&probe, b"")
        .and_then(|()| fs::remove_file(&probe))
        .map_err(|source| OpenError::Dir {
            what,
            path: dir.to_path_buf(),
            source,
        })
}

impl Storage {
    /// Opens (creating what is missing) the storage of a node whose zoo.cfg says
    /// `dataDir` and `dataLogDir` (the same path when `dataLogDir` is not set). Locks both
    /// directories; refuses, naming the path, when one is unusable or already in use.
    pub fn open(
        data_dir: impl AsRef<Path>,
        data_log_dir: impl AsRef<Path>,
    ) -> Result<Self, OpenError> {
        let data_dir = data_dir.as_ref();
        let data_log_dir = data_log_dir.as_ref();
        make_dir("data directory", data_dir)?;
        make_dir("data log directory", data_log_dir)?;

        let mut locks = vec![fsutil::DirLock::acquire(data_dir)?];
        let canon = |p: &Path, what| {
            fs::canonicalize(p).map_err(|source| OpenError::Dir {
                what,
                path: p.to_path_buf(),
                source,
            })
        };
        if canon(data_dir, "data directory")? != canon(data_log_dir, "data log directory")? {
            locks.push(fsutil::DirLock::acquire(data_log_dir)?);
        }
        let locks = Some(Arc::new(locks));

        let version_dir = data_dir.join(VERSION_DIR);
        make_dir("snapshot directory", &version_dir)?;
        probe_writable("snapshot directory", &version_dir)?;
        let log_dir = data_log_dir.join(LOG_DIR);
        make_dir("txn log directory", &log_dir)?;

        let store_err = |source| OpenError::Store {
            path: version_dir.clone(),
            source,
        };
        let snapshots = FileSnapshotStore::open_locked(version_dir.clone(), locks.clone())
            .map_err(store_err)?;
        let epochs =
            FileEpochStore::open_locked(version_dir.clone(), locks.clone()).map_err(store_err)?;
        let log = RocksTxnLog::open_locked(&log_dir, locks)?;
        Ok(Storage {
            log,
            snapshots,
            epochs,
        })
    }
}
