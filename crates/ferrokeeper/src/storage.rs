//! Opening the node's storage and recovering its state at start.
//!
//! Layout (docs/storage.md): snapshots in Apache ZooKeeper's format and naming in
//! `dataDir/version-2/snapshot.<zxid>`, the txn log in RocksDB under `dataLogDir`. What
//! recovery does is the node's (`zk_node::recovery`); this opens the files for it.

use std::path::Path;

use anyhow::Context as _;
use zk_server::recovery::{self, Recovered};
use zk_storage::progress::Progress;
use zk_storage_rocksdb::{FileSnapshotStore, Storage};

/// Opens the storage under `data_dir` / `data_log_dir` and rebuilds the state: the newest
/// valid snapshot, then every logged txn after it. When txns were replayed, a fresh snapshot
/// is written so the next start is fast. Reading the snapshot is reported to `progress`.
pub fn open_and_recover(
    data_dir: &Path,
    data_log_dir: &Path,
    max_buffer: usize,
    progress: &dyn Progress,
) -> anyhow::Result<(Storage, Recovered)> {
    let storage = Storage::open(data_dir, data_log_dir).context("opening the data directories")?;
    let recovered = recovery::recover(&storage.snapshots, &storage.log, max_buffer, progress)
        .context("recovering the state from the snapshot and the txn log")?;
    Ok((storage, recovered))
}

/// Writes a snapshot of a freshly recovered state (when the log had txns after the last
/// one), so the next start replays nothing. Purging is the server's (autopurge).
pub fn snapshot_after_recovery(target: &mut FileSnapshotStore, recovered: &Recovered) {
    if recovered.replayed == 0 {
        return;
    }
    if let Err(e) = zk_server::snapshots::write(target, &recovered.tree, &recovered.sessions) {
        tracing::warn!("snapshot after recovery failed: {e}; the txn log keeps everything")
    }
}
