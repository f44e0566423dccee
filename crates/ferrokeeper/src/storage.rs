//! Opening the node's storage and recovering its state at start.
//!
//! Layout (docs/storage.md): snapshots in Apache ZooKeeper's format and naming in
//! `dataDir/version-2/snapshot.<zxid>`, the txn log in RocksDB under `dataLogDir`.

use std::io::{self, BufReader, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use zk_server::recovery::{self, Recovered};
use zk_server::snapshots::SnapshotTarget;
use zk_storage::progress::{Progress, ProgressRead};
use zk_storage::SnapshotStore as _;
use zk_storage_rocksdb::{FileSnapshotStore, Storage};
use zk_tree::snapshot::{read_snapshot, ReadOptions};
use zk_tree::DataTree;

/// Snapshots as files, for the core.
pub struct FileTarget(pub FileSnapshotStore);

impl SnapshotTarget for FileTarget {
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<u64, String> {
        let mut w = self.0.writer(zxid).map_err(|e| e.to_string())?;
        body(&mut w).map_err(|e| format!("writing snapshot 0x{zxid:x}: {e}"))?;
        w.commit().map_err(|e| e.to_string())
    }

    fn purge(&mut self, keep: usize) -> Result<Option<i64>, String> {
        self.0.purge(keep).map_err(|e| e.to_string())?;
        Ok(self.0.list().map_err(|e| e.to_string())?.first().copied())
    }
}

/// Loads the newest snapshot that reads back whole (checksums verified), falling back to
/// older ones as Apache ZooKeeper does; an empty tree when there is none.
fn load_snapshot(
    snaps: &FileSnapshotStore,
    max_buffer: usize,
    progress: &dyn Progress,
) -> anyhow::Result<(DataTree, Vec<(i64, i32)>)> {
    let list = snaps.list()?;
    for zxid in list.into_iter().rev() {
        let path = snaps.path_of(zxid);
        let started = Instant::now();
        let file = match snaps.open_snapshot(zxid) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    "cannot open {}: {e}; trying an older snapshot",
                    path.display()
                );
                continue;
            }
        };
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        progress.set_total(size);
        match read_snapshot(
            BufReader::with_capacity(1 << 20, ProgressRead::new(file, progress)),
            zxid,
            &ReadOptions {
                max_buffer,
                size_hint: size,
            },
        ) {
            Ok(loaded) => {
                tracing::info!(
                    "loaded {} ({} nodes, {} sessions) in {:.3}s",
                    path.display(),
                    loaded.nodes,
                    loaded.sessions.len(),
                    started.elapsed().as_secs_f64()
                );
                return Ok((loaded.tree, loaded.sessions.into_iter().collect()));
            }
            Err(e) => tracing::warn!(
                "{} is not a valid snapshot (at offset {}: {e}); trying an older one",
                path.display(),
                e.offset()
            ),
        }
    }
    Ok((DataTree::new(), Vec::new()))
}

/// Opens the storage under `data_dir` / `data_log_dir` and rebuilds the state: the newest
/// valid snapshot, then every logged txn after it. When txns were replayed, a fresh snapshot
/// is written so the next start is fast. Reading the snapshot is reported to `progress`.
pub fn open_and_recover(
    data_dir: &Path,
    data_log_dir: &Path,
    max_buffer: usize,
    progress: &dyn Progress,
) -> anyhow::Result<(Storage, Recovered)> {
    let started = Instant::now();
    let storage = Storage::open(data_dir, data_log_dir).context("opening the data directories")?;
    let (tree, sessions) = load_snapshot(&storage.snapshots, max_buffer, progress)?;
    let recovered =
        recovery::replay(&storage.log, tree, sessions).context("replaying the txn log")?;
    tracing::info!(
        "recovered zxid 0x{:x} in {:.3}s",
        recovered.tree.last_processed_zxid,
        started.elapsed().as_secs_f64()
    );
    Ok((storage, recovered))
}

/// Writes a snapshot of a freshly recovered state (when the log had txns after the last
/// one), so the next start replays nothing. Purging is the server's (autopurge).
pub fn snapshot_after_recovery(target: &mut FileTarget, recovered: &Recovered) {
    if recovered.replayed == 0 {
        return;
    }
    if let Err(e) = zk_server::snapshots::write(target, &recovered.tree, &recovered.sessions) {
        tracing::warn!("snapshot after recovery failed: {e}; the txn log keeps everything")
    }
}
