//! `currentEpoch` and `acceptedEpoch` (`QuorumPeer.readLongFromFile` / `writeLongToFile`):
//! the number in decimal ASCII, no newline, in the snapshot directory (`dataDir/version-2`).
//! Only quorum members write them; a standalone server has none.
//!
//! Upstream reads the first line and parses it as a `long` (anything else is "garbage" and
//! stops the server), and writes through a `.tmp` file that is fsynced and renamed.

use std::path::{Path, PathBuf};

use super::{write_atomically, JavaFormatError};
use crate::{EpochStore, StorageError};

/// `QuorumPeer.CURRENT_EPOCH_FILENAME`.
pub const CURRENT_EPOCH: &str = "currentEpoch";
/// `QuorumPeer.ACCEPTED_EPOCH_FILENAME`.
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";

/// Reads an epoch file; `None` when it does not exist.
pub fn read_epoch_file(path: &Path) -> Result<Option<i64>, JavaFormatError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(JavaFormatError::io(path, e)),
    };
    // BufferedReader.readLine: up to the first \n, \r or \r\n.
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(bytes.len());
    let line = &bytes[..line_end];
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            JavaFormatError::corrupt(
                path,
                0,
                format!(
                    "found {:?} instead of a decimal epoch",
                    String::from_utf8_lossy(line)
                ),
            )
        })
}

/// Writes an epoch file atomically, as upstream writes it (no newline).
pub fn write_epoch_file(dir: &Path, name: &str, epoch: i64) -> Result<(), JavaFormatError> {
    write_atomically(dir, name, epoch.to_string().as_bytes())
}

/// The two epoch files of a snapshot directory, as an [`EpochStore`].
#[derive(Debug, Clone)]
pub struct JavaEpochFiles {
    dir: PathBuf,
}

impl JavaEpochFiles {
    /// The epoch files in `dir` (`dataDir/version-2`).
    pub fn new(dir: &Path) -> Self {
        JavaEpochFiles {
            dir: dir.to_path_buf(),
        }
    }

    /// `currentEpoch`, if the file exists.
    pub fn current(&self) -> Result<Option<i64>, JavaFormatError> {
        read_epoch_file(&self.dir.join(CURRENT_EPOCH))
    }

    /// `acceptedEpoch`, if the file exists.
    pub fn accepted(&self) -> Result<Option<i64>, JavaFormatError> {
        read_epoch_file(&self.dir.join(ACCEPTED_EPOCH))
    }
}

impl EpochStore for JavaEpochFiles {
    fn epochs(&self) -> Result<(i64, i64), StorageError> {
        Ok((self.current()?.unwrap_or(0), self.accepted()?.unwrap_or(0)))
    }

    fn set_current_epoch(&mut self, e: i64) -> Result<(), StorageError> {
        Ok(write_epoch_file(&self.dir, CURRENT_EPOCH, e)?)
    }

    fn set_accepted_epoch(&mut self, e: i64) -> Result<(), StorageError> {
        Ok(write_epoch_file(&self.dir, ACCEPTED_EPOCH, e)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_like_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CURRENT_EPOCH);
        assert_eq!(read_epoch_file(&p).unwrap(), None);
        write_epoch_file(dir.path(), CURRENT_EPOCH, 7).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"7");
        assert_eq!(read_epoch_file(&p).unwrap(), Some(7));
        assert!(!dir.path().join("currentEpoch.tmp").exists());
        std::fs::write(&p, b"12\n").unwrap();
        assert_eq!(read_epoch_file(&p).unwrap(), Some(12));
        std::fs::write(&p, b"12\r\nrest").unwrap();
        assert_eq!(read_epoch_file(&p).unwrap(), Some(12));
        std::fs::write(&p, b" 12").unwrap();
        let err = read_epoch_file(&p).unwrap_err().to_string();
        assert!(
            err.contains("currentEpoch") && err.contains("\" 12\""),
            "{err}"
        );
        std::fs::write(&p, b"").unwrap();
        assert!(read_epoch_file(&p).is_err());

        let mut store = JavaEpochFiles::new(dir.path());
        store.set_accepted_epoch(3).unwrap();
        store.set_current_epoch(2).unwrap();
        assert_eq!(store.epochs().unwrap(), (2, 3));
    }
}
