//! An in-memory store: the reference implementation of the traits, and the store of tests
//! and of a server run without durability. "Durable" here means "survives the process
//! value": [`MemStore::crash`] drops what was appended but not synced, which lets the
//! conformance suite check the contract.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::{EpochStore, SnapshotStore, StorageError, TxnLog};

#[derive(Debug, Default)]
struct Inner {
    durable: BTreeMap<i64, Bytes>,
    staged: BTreeMap<i64, Bytes>,
    snapshots: BTreeMap<i64, Bytes>,
    epochs: (i64, i64),
    fail_next_sync: bool,
    poisoned: bool,
}

/// An in-memory txn log, snapshot store and epoch store. Clones share state, so a test can
/// "reopen" the store after a simulated crash.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulates a crash: staged (unsynced) entries are lost, poisoning is cleared (a new
    /// process starts).
    pub fn crash(&self) {
        let mut g = self.lock();
        g.staged.clear();
        g.poisoned = false;
        g.fail_next_sync = false;
    }

    /// Makes the next `sync` fail, as a full or broken disk would.
    pub fn fail_next_sync(&self) {
        self.lock().fail_next_sync = true;
    }
}

impl TxnLog for MemStore {
    fn append(&mut self, entries: &[(i64, Bytes)]) -> Result<(), StorageError> {
        let mut g = self.lock();
        if g.poisoned {
            return Err(StorageError::Poisoned);
        }
        let mut last = g
            .staged
            .keys()
            .next_back()
            .or(g.durable.keys().next_back())
            .copied()
            .unwrap_or(0);
        for (z, _) in entries {
            if *z <= last {
                return Err(StorageError::Invalid(format!(
                    "zxid 0x{z:x} not above 0x{last:x}"
                )));
            }
            last = *z;
        }
        for (z, b) in entries {
            g.staged.insert(*z, b.clone());
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let mut g = self.lock();
        if g.poisoned {
            return Err(StorageError::Poisoned);
        }
        if g.fail_next_sync {
            g.poisoned = true;
            return Err(StorageError::Io(std::io::Error::other(
                "injected fsync failure",
            )));
        }
        let staged = std::mem::take(&mut g.staged);
        g.durable.extend(staged);
        Ok(())
    }

    fn last_zxid(&self) -> i64 {
        let g = self.lock();
        g.staged
            .keys()
            .next_back()
            .or(g.durable.keys().next_back())
            .copied()
            .unwrap_or(0)
    }

    fn read_from(&self, from: i64, limit: usize) -> Result<Vec<(i64, Bytes)>, StorageError> {
        let g = self.lock();
        Ok(g.durable
            .range(from..)
            .chain(g.staged.range(from..))
            .take(limit)
            .map(|(z, b)| (*z, b.clone()))
            .collect())
    }

    fn truncate_after(&mut self, zxid: i64) -> Result<(), StorageError> {
        let mut g = self.lock();
        if g.poisoned {
            return Err(StorageError::Poisoned);
        }
        g.durable.retain(|z, _| *z <= zxid);
        g.staged.retain(|z, _| *z <= zxid);
        Ok(())
    }

    fn purge_before(&mut self, zxid: i64) -> Result<(), StorageError> {
        let mut g = self.lock();
        if g.poisoned {
            return Err(StorageError::Poisoned);
        }
        let keep_from = g
            .durable
            .keys()
            .next_back()
            .map_or(zxid, |last| zxid.min(*last));
        g.durable.retain(|z, _| *z >= keep_from);
        Ok(())
    }
}

impl SnapshotStore for MemStore {
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<u64, StorageError> {
        if self.lock().poisoned {
            return Err(StorageError::Poisoned);
        }
        // Written aside and inserted only once whole: a failed body leaves nothing.
        let mut buf = Vec::new();
        body(&mut buf)?;
        let n = buf.len() as u64;
        self.lock().snapshots.insert(zxid, Bytes::from(buf));
        Ok(n)
    }

    fn reader(&self, zxid: i64) -> Result<(Box<dyn std::io::Read + Send>, u64), StorageError> {
        let data = self.lock().snapshots.get(&zxid).cloned().ok_or_else(|| {
            StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no snapshot 0x{zxid:x}"),
            ))
        })?;
        let len = data.len() as u64;
        Ok((Box::new(std::io::Cursor::new(data)), len))
    }

    fn list(&self) -> Result<Vec<i64>, StorageError> {
        Ok(self.lock().snapshots.keys().copied().collect())
    }

    fn purge(&mut self, keep: usize) -> Result<Option<i64>, StorageError> {
        let mut g = self.lock();
        let keep = keep.max(1);
        while g.snapshots.len() > keep {
            g.snapshots.pop_first();
        }
        Ok(g.snapshots.keys().next().copied())
    }
}

impl EpochStore for MemStore {
    fn epochs(&self) -> Result<(i64, i64), StorageError> {
        Ok(self.lock().epochs)
    }

    fn set_current_epoch(&mut self, e: i64) -> Result<(), StorageError> {
        self.lock().epochs.0 = e;
        Ok(())
    }

    fn set_accepted_epoch(&mut self, e: i64) -> Result<(), StorageError> {
        self.lock().epochs.1 = e;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    struct Mem;

    impl conformance::Backend for Mem {
        type Log = MemStore;
        type Snapshots = MemStore;
        type Epochs = MemStore;

        fn open(&mut self) -> conformance::Stores<Self> {
            let s = MemStore::new();
            (s.clone(), s.clone(), s)
        }

        fn crash(&mut self, stores: conformance::Stores<Self>) -> conformance::Stores<Self> {
            stores.0.crash();
            stores
        }

        fn fail_next_sync(&mut self, log: &mut MemStore) {
            log.fail_next_sync();
        }
    }

    #[test]
    fn mem_store_passes_the_conformance_suite() {
        conformance::run_all(&mut Mem);
    }
}
