//! Snapshots as files `snapshot.<zxid in lowercase hex>` in one directory, the names
//! Apache ZooKeeper gives them in dataDir/version-2.
//!
//! The bytes are opaque here and stored exactly as given (the snapshot format carries its
//! own Adler32 checksum, which the caller checks: see [`FileSnapshotStore::latest_valid`]).
//! A snapshot is written under a temporary name that no ZooKeeper tool mistakes for a
//! snapshot (`.snapshot.<hex>.<n>.tmp`: ZooKeeper splits names on `.` and wants
//! `snapshot` first), fsynced, renamed into place, and the directory fsynced. A crash
//! leaves either no snapshot or a complete one, plus perhaps a temp file that readers
//! ignore and [`FileSnapshotStore::open`] removes.
//!
//! A failed save is not fatal to the store: nothing became visible, the temp file is
//! removed, and the next save writes a new file (no fsync is retried on the same pages).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use zk_storage::{SnapshotStore, StorageError};

use crate::fsutil::{sync_dir, AtomicFile, DirLock};

const PREFIX: &str = "snapshot.";
const TMP_PREFIX: &str = ".snapshot.";
const TMP_SUFFIX: &str = ".tmp";

/// Distinguishes the temp files of concurrent writers in one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The file name of the snapshot at `zxid`, as Apache ZooKeeper names it.
pub fn snapshot_file_name(zxid: i64) -> String {
    format!("{PREFIX}{:x}", zxid as u64)
}

/// The zxid of a snapshot file name; `None` for anything that is not exactly a name
/// [`snapshot_file_name`] gives (compressed `.snappy`/`.gz` snapshots, temp files, ...).
pub fn parse_snapshot_file_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix(PREFIX)?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let zxid = u64::from_str_radix(hex, 16).ok()? as i64;
    (snapshot_file_name(zxid) == name).then_some(zxid)
}

/// The snapshots of one directory.
#[derive(Debug, Clone)]
pub struct FileSnapshotStore {
    dir: PathBuf,
    locks: Option<Arc<Vec<DirLock>>>,
}

impl FileSnapshotStore {
    /// Opens the snapshot directory `dir`, creating it if needed, and removes temp files
    /// an interrupted save left. Assumes this process is the directory's only writer
    /// ([`crate::Storage::open`] holds the lock that makes it so).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        Self::open_locked(dir.into(), None)
    }

    pub(crate) fn open_locked(
        dir: PathBuf,
        locks: Option<Arc<Vec<DirLock>>>,
    ) -> Result<Self, StorageError> {
        fs::create_dir_all(&dir)?;
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
                tracing::info!(
                    "removing {}, left by an interrupted snapshot",
                    e.path().display()
                );
                fs::remove_file(e.path())?;
            }
        }
        Ok(FileSnapshotStore { dir, locks })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the snapshot at `zxid` (whether or not it exists).
    pub fn path_of(&self, zxid: i64) -> PathBuf {
        self.dir.join(snapshot_file_name(zxid))
    }

    /// Starts writing the snapshot at `zxid`: write the bytes into the handle, then
    /// [`SnapshotWriter::commit`]. Nothing is visible before the commit; dropping the
    /// handle instead abandons the snapshot. The handle does not borrow the store, so a
    /// snapshot thread can stream a large snapshot while the store serves reads.
    pub fn writer(&self, zxid: i64) -> Result<SnapshotWriter, StorageError> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = format!("{TMP_PREFIX}{:x}.{n}{TMP_SUFFIX}", zxid as u64);
        let file = AtomicFile::create(&self.dir, &tmp, &snapshot_file_name(zxid))?;
        Ok(SnapshotWriter {
            file,
            written: 0,
            _locks: self.locks.clone(),
        })
    }

    /// Saves the snapshot at `zxid` from a reader, streaming (never the whole snapshot in
    /// memory). Returns the number of bytes written.
    pub fn save_from_reader(&self, zxid: i64, r: &mut impl Read) -> Result<u64, StorageError> {
        let mut w = self.writer(zxid)?;
        io::copy(r, &mut w)?;
        w.commit()
    }

    /// The whole snapshot at `zxid`.
    pub fn load(&self, zxid: i64) -> Result<Bytes, StorageError> {
        Ok(Bytes::from(fs::read(self.path_of(zxid))?))
    }

    /// The snapshot at `zxid`, opened for streaming reads (wrap it in a `BufReader`).
    pub fn open_snapshot(&self, zxid: i64) -> Result<File, StorageError> {
        Ok(File::open(self.path_of(zxid))?)
    }

    /// The newest snapshot whose bytes `validate` accepts (Apache ZooKeeper's rule: try the
    /// newest, fall back to older ones). A snapshot that cannot be read counts as invalid.
    pub fn latest_valid(
        &self,
        validate: impl Fn(&[u8]) -> bool,
    ) -> Result<Option<(i64, Bytes)>, StorageError> {
        for zxid in self.list()?.into_iter().rev() {
            match self.load(zxid) {
                Ok(data) if validate(&data) => return Ok(Some((zxid, data))),
                Ok(_) => tracing::warn!(
                    "{} is not a valid snapshot; trying an older one",
                    self.path_of(zxid).display()
                ),
                Err(e) => tracing::warn!(
                    "cannot read {}: {e}; trying an older snapshot",
                    self.path_of(zxid).display()
                ),
            }
        }
        Ok(None)
    }
}

impl SnapshotStore for FileSnapshotStore {
    /// Written to a temporary file, fsynced, renamed into place and the directory fsynced
    /// ([`SnapshotWriter::commit`]); a failing body removes the temporary file.
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<u64, StorageError> {
        // FileTxnSnapLog.save's words, which operators grep for.
        tracing::info!(
            "Snapshotting: 0x{zxid:x} to {}",
            self.path_of(zxid).display()
        );
        let mut w = self.writer(zxid)?;
        body(&mut w)?;
        w.commit()
    }

    fn reader(&self, zxid: i64) -> Result<(Box<dyn Read + Send>, u64), StorageError> {
        let f = self.open_snapshot(zxid)?;
        let len = f.metadata()?.len();
        Ok((Box::new(f), len))
    }

    fn list(&self) -> Result<Vec<i64>, StorageError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            let Some(zxid) = e.file_name().to_str().and_then(parse_snapshot_file_name) else {
                continue;
            };
            if e.file_type()?.is_file() {
                out.push(zxid);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn purge(&mut self, keep: usize) -> Result<Option<i64>, StorageError> {
        let all = self.list()?;
        let n = all.len().saturating_sub(keep.max(1));
        let oldest_kept = all.get(n).copied();
        if n == 0 {
            return Ok(oldest_kept);
        }
        for zxid in &all[..n] {
            match fs::remove_file(self.path_of(*zxid)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        sync_dir(&self.dir)?;
        Ok(oldest_kept)
    }
}

/// A snapshot being written. Implements [`Write`]; [`SnapshotWriter::commit`] makes it
/// durable and visible; dropping it without a commit removes the partial file.
pub struct SnapshotWriter {
    file: AtomicFile,
    written: u64,
    _locks: Option<Arc<Vec<DirLock>>>,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("dest", &self.file.dest())
            .field("written", &self.written)
            .finish()
    }
}

impl SnapshotWriter {
    /// Fsyncs the file, renames it into place and fsyncs the directory. Returns the size.
    pub fn commit(self) -> Result<u64, StorageError> {
        self.file.commit()?;
        Ok(self.written)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Write for SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
