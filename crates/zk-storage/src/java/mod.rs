//! Apache ZooKeeper's own data directory, read and written: the basis of migrating from and to
//! a Java ensemble.
//!
//! ```text
//!   dataDir/version-2/
//!     snapshot.<hex zxid>[.gz|.snappy]   the tree + sessions at <zxid> (zk_tree::snapshot stream,
//!                                        plain, gzip or snappy-java framed)      → snapfile
//!     log.<hex first zxid>               txn entries from <first zxid> on, preallocated in
//!                                        64 MiB steps, a zero length ends them    → txnlog
//!     currentEpoch, acceptedEpoch        decimal text (quorum members only)       → epoch
//!   restore: newest valid snapshot + the log entries after it, replayed           → restore
//! ```
//!
//! The byte layouts are in `docs/formats.md`. What each part mirrors upstream: `FileSnap`,
//! `SnapStream` and `Util` ([`snapfile`], [`names`]), `FileTxnLog`, `FilePadding` and `Util`
//! ([`txnlog`]), `QuorumPeer.{read,write}LongToFile` ([`epoch`]), `FileTxnSnapLog.restore`
//! ([`restore`]). Every error names the file and, where there is one, the byte offset.

pub mod epoch;
pub mod names;
pub mod restore;
pub mod snapfile;
pub mod snappy;
pub mod txnlog;

use std::io;
use std::path::{Path, PathBuf};

use zk_tree::snapshot::SnapshotError;

use crate::StorageError;

/// An error reading or writing Apache ZooKeeper's files.
#[derive(Debug, thiserror::Error)]
pub enum JavaFormatError {
    /// IO on a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A snapshot stream is damaged (the error carries the offset in the uncompressed stream).
    #[error("{}: {source}", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong, and where.
        source: SnapshotError,
    },
    /// Damaged content at a byte offset of a file.
    #[error("{} at offset {offset}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Offset of the bad value in the file.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The directory cannot be used as asked (e.g. logs without any snapshot, an append that
    /// goes backwards).
    #[error("{0}")]
    Invalid(String),
}

impl JavaFormatError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        JavaFormatError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, detail: impl Into<String>) -> Self {
        JavaFormatError::Corrupt {
            path: path.to_path_buf(),
            offset,
            detail: detail.into(),
        }
    }
}

impl From<JavaFormatError> for StorageError {
    fn from(e: JavaFormatError) -> Self {
        match e {
            JavaFormatError::Io { source, .. } => StorageError::Io(source),
            JavaFormatError::Snapshot { path, source } => StorageError::Corrupt {
                location: format!("{} at offset {}", path.display(), source.offset()),
                detail: source.to_string(),
            },
            JavaFormatError::Corrupt {
                path,
                offset,
                detail,
            } => StorageError::Corrupt {
                location: format!("{} at offset {offset}", path.display()),
                detail,
            },
            JavaFormatError::Invalid(s) => StorageError::Invalid(s),
        }
    }
}

/// Writes `contents` to `dir/name` atomically: a temporary file in the same directory,
/// fsynced, renamed over the target, then the directory fsynced.
pub(crate) fn write_atomically(
    dir: &Path,
    name: &str,
    contents: &[u8],
) -> Result<(), JavaFormatError> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    let mut f = std::fs::File::create(&tmp).map_err(|e| JavaFormatError::io(&tmp, e))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(|e| JavaFormatError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &target).map_err(|e| JavaFormatError::io(&target, e))?;
    sync_dir(dir)
}

/// fsyncs a directory, so that a rename or a new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JavaFormatError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JavaFormatError::io(dir, e))
}
