//! Zab's `currentEpoch` and `acceptedEpoch` files, as Apache ZooKeeper keeps them in
//! dataDir/version-2: the number in ASCII decimal, no newline, replaced atomically through
//! `<name>.tmp` (write, fsync, rename, fsync the directory). Readers accept surrounding
//! whitespace, as ZooKeeper's `readLine` + `parseLong` does with a trailing newline.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zk_storage::{EpochStore, StorageError};

use crate::fsutil::{write_atomically, DirLock};

/// The file of the current epoch.
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";
/// The file of the accepted epoch.
pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";

/// The epoch files of one directory, read once at open and cached.
#[derive(Debug)]
pub struct FileEpochStore {
    dir: PathBuf,
    current: i64,
    accepted: i64,
    _locks: Option<Arc<Vec<DirLock>>>,
}

fn read_epoch(dir: &Path, name: &str) -> Result<i64, StorageError> {
    let path = dir.join(name);
    let raw = match fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| StorageError::Corrupt {
            location: path.display().to_string(),
            detail: format!(
                "expected a decimal epoch, found {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(40)])
            ),
        })
}

impl FileEpochStore {
    /// Reads the epoch files of `dir` (0 for a missing one) and removes temp files an
    /// interrupted write left. Assumes this process is the directory's only writer.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        Self::open_locked(dir.into(), None)
    }

    pub(crate) fn open_locked(
        dir: PathBuf,
        locks: Option<Arc<Vec<DirLock>>>,
    ) -> Result<Self, StorageError> {
        fs::create_dir_all(&dir)?;
        for name in [CURRENT_EPOCH_FILE, ACCEPTED_EPOCH_FILE] {
            match fs::remove_file(dir.join(format!("{name}.tmp"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(FileEpochStore {
            current: read_epoch(&dir, CURRENT_EPOCH_FILE)?,
            accepted: read_epoch(&dir, ACCEPTED_EPOCH_FILE)?,
            dir,
            _locks: locks,
        })
    }

    fn write(&self, name: &str, e: i64) -> Result<(), StorageError> {
        write_atomically(
            &self.dir,
            &format!("{name}.tmp"),
            name,
            e.to_string().as_bytes(),
        )?;
        Ok(())
    }
}

impl EpochStore for FileEpochStore {
    fn epochs(&self) -> Result<(i64, i64), StorageError> {
        Ok((self.current, self.accepted))
    }

    fn set_current_epoch(&mut self, e: i64) -> Result<(), StorageError> {
        self.write(CURRENT_EPOCH_FILE, e)?;
        self.current = e;
        Ok(())
    }

    fn set_accepted_epoch(&mut self, e: i64) -> Result<(), StorageError> {
        self.write(ACCEPTED_EPOCH_FILE, e)?;
        self.accepted = e;
        Ok(())
    }
}
