//! The txn log in RocksDB.
//!
//! One column family, `log`, maps the zxid as 8 big-endian bytes to the txn bytes, so key
//! order is zxid order (zxids are never negative: epoch << 32 | counter). The default
//! column family holds one key, `format`, so that a later layout can refuse an old one.
//!
//! ```text
//!  append ─► WriteBatch (memory) + staged Vec (for reads)
//!  sync   ─► DB::write(batch, sync=true): one WAL record, one fdatasync, then the memtable
//!  read   ─► iterator over the log CF from key(from), then the staged entries
//!  TRUNC  ─► delete_range(key(z+1), END), sync=true
//!  purge  ─► delete_range(key(0), key(z)), sync=true; then delete_files_in_range so whole
//!            SST files below z go at once instead of waiting for compaction
//! ```
//!
//! Purged entries are gone for readers at once. Their space comes back in two ways: SST
//! files of level 1 and below that lie wholly under the purge point are deleted at once
//! (RocksDB never deletes level-0 files this way); the rest when RocksDB compacts the
//! range tombstone away. Sequential keys make that cheap: L0→L1 compactions never overlap
//! older files, so old txns sit in whole L1 files that the next purge can drop.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode, ErrorKind, Options,
    WriteBatch, WriteOptions, DB,
};
use zk_storage::{StorageError, TxnLog};

use crate::fsutil::DirLock;
use crate::OpenError;

/// The column family of the log.
pub const LOG_CF: &str = "log";
/// The key, in the default column family, of the layout version.
const FORMAT_KEY: &[u8] = b"format";
/// The layout version this code writes and reads.
const FORMAT: &[u8] = b"1";
/// Above every key of a non-negative zxid: the exclusive end of "everything".
const END: [u8; 8] = (1u64 << 63).to_be_bytes();

fn key(zxid: i64) -> [u8; 8] {
    zxid.to_be_bytes()
}

/// The RocksDB options of the database (shared by its column families).
fn db_options() -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    // The default in 7.x, spelled out: replay the WAL up to the first torn or corrupt
    // record. With sync writes, only a write that never returned can be torn.
    o.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    o.set_max_background_jobs(2);
    // A WAL file is deleted only once every column family's data in it is flushed. The
    // default family holds one key written at creation (flushed right then, see `open`);
    // should anything else ever sit unflushed in a family, this bound makes RocksDB flush
    // it instead of keeping every WAL file since (found: 220 MB of WAL kept after 1,000,000
    // writes, read back at every open).
    o.set_max_total_wal_size(64 << 20);
    // RocksDB's own info LOG: header only. Debian's librocksdb keeps its asserts, and on a
    // full disk a second info-LOG write after a failed one aborts the process instead of
    // returning the WAL error (docs/storage.md).
    o.set_log_level(rocksdb::LogLevel::Fatal);
    o.set_keep_log_file_num(4);
    o.set_max_log_file_size(16 << 20);
    o
}

/// The options of the log column family: small sequential writes, read back rarely and in
/// order.
fn log_cf_options() -> Options {
    let mut o = Options::default();
    // Txns are small and mostly unique bytes; compression costs CPU for little space, and
    // the system librocksdb's codecs are not needed.
    o.set_compression_type(DBCompressionType::None);
    // Memtables of 4 MiB, at most two: a WAL file is deleted once its memtable is flushed,
    // so at most about 8 MiB of WAL is replayed when the log is opened after a crash (the
    // RocksDB default, 64 MiB x up to 4, made restarts after a write-heavy run take
    // seconds), and the memtables hold at most 8 MiB of RAM (16 MiB ones held up to 32 MiB:
    // a sixth of the tree's own memory at 1,000,000 znodes). Flushing a memtable of
    // sequential keys is a cheap background write.
    o.set_write_buffer_size(4 << 20);
    o.set_max_write_buffer_number(2);
    o
}

impl Drop for RocksTxnLog {
    /// A clean close flushes the memtables, so the next open has no WAL to replay. Nothing
    /// depends on it: every synced entry is in the WAL, which an open after a crash replays.
    fn drop(&mut self) {
        if self.poisoned {
            return;
        }
        if let Err(e) = self.flush_memtables() {
            tracing::warn!(
                "flushing the txn log at close failed: {e}; the next start replays its WAL"
            );
        }
    }
}

/// What the writer and the readers of one log share. `db` is declared first so that it
/// is closed before the directory locks are released.
struct Shared {
    db: DB,
    path: PathBuf,
    _locks: Option<Arc<Vec<DirLock>>>,
}

impl Shared {
    fn cf(&self) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(LOG_CF)
            .ok_or_else(|| StorageError::Backend("the log column family is missing".into()))
    }

    fn err(&self, e: rocksdb::Error) -> StorageError {
        match e.kind() {
            ErrorKind::Corruption => StorageError::Corrupt {
                location: self.path.display().to_string(),
                detail: e.into_string(),
            },
            _ => StorageError::Backend(format!("rocksdb at {}: {e}", self.path.display())),
        }
    }

    fn decode_key(&self, k: &[u8]) -> Result<i64, StorageError> {
        <[u8; 8]>::try_from(k)
            .map(i64::from_be_bytes)
            .map_err(|_| StorageError::Corrupt {
                location: self.path.display().to_string(),
                detail: format!("a log key of {} bytes, not 8", k.len()),
            })
    }

    /// Up to `limit` stored entries with zxid ≥ `from`.
    fn read_from(&self, from: i64, limit: usize) -> Result<Vec<(i64, Bytes)>, StorageError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut it = self.db.raw_iterator_cf(self.cf()?);
        it.seek(key(from.max(0)));
        while it.valid() && out.len() < limit {
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                out.push((self.decode_key(k)?, Bytes::copy_from_slice(v)));
            }
            it.next();
        }
        it.status().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// The highest stored zxid, 0 when the log is empty.
    fn last_stored(&self) -> Result<i64, StorageError> {
        let mut it = self.db.raw_iterator_cf(self.cf()?);
        it.seek_to_last();
        let last = match it.key() {
            Some(k) if it.valid() => self.decode_key(k)?,
            _ => 0,
        };
        it.status().map_err(|e| self.err(e))?;
        Ok(last)
    }
}

/// The txn log, in a RocksDB database of its own directory.
///
/// Owned by one writer (the log thread); [`RocksTxnLog::reader`] gives handles that read
/// the synced entries from other threads.
pub struct RocksTxnLog {
    shared: Arc<Shared>,
    /// Puts of the staged entries, written by the next sync.
    batch: WriteBatch,
    /// The staged entries themselves, so reads see them (clones of the caller's `Bytes`).
    staged: Vec<(i64, Bytes)>,
    /// The highest zxid in RocksDB.
    stored_last: i64,
    sync_opts: WriteOptions,
    poisoned: bool,
    fail_next_sync: bool,
}

impl fmt::Debug for RocksTxnLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksTxnLog")
            .field("path", &self.shared.path)
            .field("stored_last", &self.stored_last)
            .field("staged", &self.staged.len())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl RocksTxnLog {
    /// Opens (creating if needed) the log in `dir`. RocksDB's own `LOCK` file refuses a
    /// second opener of the same directory; [`crate::Storage::open`] also locks the data
    /// directories.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_locked(dir.as_ref(), None)
    }

    pub(crate) fn open_locked(
        dir: &Path,
        locks: Option<Arc<Vec<DirLock>>>,
    ) -> Result<Self, OpenError> {
        let open_err = |detail: String| OpenError::Log {
            path: dir.to_path_buf(),
            detail,
        };
        let db = DB::open_cf_descriptors(
            &db_options(),
            dir,
            [ColumnFamilyDescriptor::new(LOG_CF, log_cf_options())],
        )
        .map_err(|e| open_err(e.into_string()))?;
        match db.get(FORMAT_KEY).map_err(|e| open_err(e.into_string()))? {
            Some(v) if v == FORMAT => {}
            Some(v) => {
                return Err(open_err(format!(
                    "log format {:?} is not the supported {:?}",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(FORMAT)
                )))
            }
            None => {
                let mut sync = WriteOptions::default();
                sync.set_sync(true);
                db.put_opt(FORMAT_KEY, FORMAT, &sync)
                    .map_err(|e| open_err(e.into_string()))?;
                // Flushed at once: unflushed, this key would pin every WAL file from now on.
                db.flush().map_err(|e| open_err(e.into_string()))?;
            }
        }
        let shared = Arc::new(Shared {
            db,
            path: dir.to_path_buf(),
            _locks: locks,
        });
        let stored_last = shared.last_stored().map_err(|e| open_err(e.to_string()))?;
        let mut sync_opts = WriteOptions::default();
        sync_opts.set_sync(true);
        Ok(RocksTxnLog {
            shared,
            batch: WriteBatch::default(),
            staged: Vec::new(),
            stored_last,
            sync_opts,
            poisoned: false,
            fail_next_sync: false,
        })
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// A handle that reads synced entries, usable from other threads.
    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    /// Writes the log's memtables to SST files now (RocksDB does it by itself when a
    /// memtable fills; this is for tests and tools).
    pub fn flush_memtables(&self) -> Result<(), StorageError> {
        let db = &self.shared.db;
        db.flush().map_err(|e| self.shared.err(e))?;
        db.flush_cf(self.shared.cf()?)
            .map_err(|e| self.shared.err(e))
    }

    /// Compacts the whole log now, blocking (for tools and tests: RocksDB compacts by
    /// itself in the background).
    pub fn compact(&self) -> Result<(), StorageError> {
        let cf = self.shared.cf()?;
        self.shared
            .db
            .compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }

    /// Makes the next `sync` fail without writing, as a failed fsync would (for tests of
    /// the poisoning path).
    pub fn fail_next_sync(&mut self) {
        self.fail_next_sync = true;
    }

    /// Whether an earlier write failed, so that every write is refused.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.poisoned {
            Err(StorageError::Poisoned)
        } else {
            Ok(())
        }
    }

    /// Marks the store poisoned and converts the error.
    fn poison(&mut self, e: rocksdb::Error) -> StorageError {
        self.poisoned = true;
        self.shared.err(e)
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        match self.shared.db.write_opt(batch, &self.sync_opts) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.poison(e)),
        }
    }
}

impl TxnLog for RocksTxnLog {
    fn append(&mut self, entries: &[(i64, Bytes)]) -> Result<(), StorageError> {
        self.check()?;
        let mut last = self.last_zxid();
        for (z, _) in entries {
            if *z <= last {
                return Err(StorageError::Invalid(format!(
                    "zxid 0x{z:x} not above 0x{last:x}"
                )));
            }
            last = *z;
        }
        let cf = self.shared.cf()?;
        for (z, b) in entries {
            self.batch.put_cf(cf, key(*z), b);
            self.staged.push((*z, b.clone()));
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.check()?;
        if self.fail_next_sync {
            self.fail_next_sync = false;
            self.poisoned = true;
            return Err(StorageError::Io(std::io::Error::other(
                "injected fsync failure",
            )));
        }
        let Some(&(last, _)) = self.staged.last() else {
            return Ok(());
        };
        let batch = std::mem::take(&mut self.batch);
        self.write(batch)?;
        self.staged.clear();
        self.stored_last = last;
        Ok(())
    }

    fn last_zxid(&self) -> i64 {
        self.staged.last().map_or(self.stored_last, |e| e.0)
    }

    fn read_from(&self, from: i64, limit: usize) -> Result<Vec<(i64, Bytes)>, StorageError> {
        // Every staged zxid is above every stored one.
        let mut out = self.shared.read_from(from, limit)?;
        let room = limit - out.len();
        out.extend(
            self.staged
                .iter()
                .filter(|e| e.0 >= from)
                .take(room)
                .cloned(),
        );
        Ok(out)
    }

    fn truncate_after(&mut self, zxid: i64) -> Result<(), StorageError> {
        self.check()?;
        if self.staged.last().is_some_and(|e| e.0 > zxid) {
            self.staged.retain(|e| e.0 <= zxid);
            let cf = self.shared.cf()?;
            let mut batch = WriteBatch::default();
            for (z, b) in &self.staged {
                batch.put_cf(cf, key(*z), b);
            }
            self.batch = batch;
        }
        if zxid < self.stored_last {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(self.shared.cf()?, key(zxid.saturating_add(1).max(0)), END);
            self.write(batch)?;
            self.stored_last = match self.shared.last_stored() {
                Ok(z) => z,
                Err(e) => {
                    self.poisoned = true;
                    return Err(e);
                }
            };
        }
        Ok(())
    }

    fn purge_before(&mut self, zxid: i64) -> Result<(), StorageError> {
        self.check()?;
        // Keep the newest stored entry, so that last_zxid survives a restart.
        let upto = zxid.min(self.stored_last);
        if upto <= 0 {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.shared.cf()?, key(0), key(upto));
        // Synced so that dropping whole files below can never leave a hole after a crash.
        self.write(batch)?;
        // Inclusive end: files whose keys all lie below `upto`.
        let res = self
            .shared
            .db
            .delete_file_in_range_cf(self.shared.cf()?, key(0), key(upto - 1));
        res.map_err(|e| self.poison(e))
    }
}

/// Reads the synced entries of a [`RocksTxnLog`] from any thread (for example to send a
/// DIFF to a learner while the writer goes on). Entries appear once their sync returned.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

impl fmt::Debug for LogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("path", &self.shared.path)
            .finish()
    }
}

impl LogReader {
    /// Synced entries with zxid ≥ `from`, in order, at most `limit` of them.
    pub fn read_from(&self, from: i64, limit: usize) -> Result<Vec<(i64, Bytes)>, StorageError> {
        self.shared.read_from(from, limit)
    }

    /// The highest synced zxid (0 when empty).
    pub fn last_synced(&self) -> Result<i64, StorageError> {
        self.shared.last_stored()
    }
}
