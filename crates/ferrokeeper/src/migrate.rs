//! `ferrokeeper import` and `ferrokeeper export`: moving a data directory from Apache
//! ZooKeeper to Ferrokeeper and back.
//!
//! Import restores Apache ZooKeeper's newest valid snapshot and replays its `log.*` files
//! (checksums verified, digests checked) into a tree, then writes that tree as Ferrokeeper's
//! first snapshot; the txn log starts empty after it, so zxids continue where Apache
//! ZooKeeper stopped. Export recovers Ferrokeeper's state (snapshot + txn log) and writes it
//! as a plain `snapshot.<zxid>` Apache ZooKeeper 3.8 starts from.

use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context as _};
use zk_storage::java::{epoch, names::Compression, restore, snapfile};
use zk_storage::progress::{NoProgress, Progress, ProgressWrite};
use zk_storage::{EpochStore as _, SnapshotStore, StorageError, TxnLog as _};
use zk_storage_rocksdb::FileSnapshotStore;
use zk_tree::snapshot::{ReadOptions, WriteOptions};
use zk_tree::DataTree;

use crate::progress::Meter;
use crate::storage::open_and_recover;

/// Roughly the bytes of `tree`'s snapshot stream (paths, data, and ~80 bytes of Stat, ACL
/// reference and lengths per node): the total a progress bar for writing it aims at.
fn snapshot_size_estimate(tree: &DataTree) -> u64 {
    tree.iter()
        .map(|(path, node)| (path.len() + node.data_len() + 80) as u64)
        .sum()
}

/// Ferrokeeper's snapshot files, with the bytes written reported to a meter.
struct MeteredTarget<'a> {
    inner: FileSnapshotStore,
    progress: &'a dyn Progress,
}

impl SnapshotStore for MeteredTarget<'_> {
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<u64, StorageError> {
        let progress = self.progress;
        self.inner.write_snapshot(zxid, &mut |w| {
            let mut counted = ProgressWrite::new(w, progress);
            body(&mut counted)
        })
    }

    fn reader(&self, zxid: i64) -> Result<(Box<dyn io::Read + Send>, u64), StorageError> {
        self.inner.reader(zxid)
    }

    fn list(&self) -> Result<Vec<i64>, StorageError> {
        self.inner.list()
    }

    fn purge(&mut self, keep: usize) -> Result<Option<i64>, StorageError> {
        self.inner.purge(keep)
    }
}

fn version2(dir: &Path) -> std::path::PathBuf {
    dir.join("version-2")
}

/// Imports Apache ZooKeeper's `zk_data_dir` (and `zk_log_dir`, default the same) into the
/// Ferrokeeper storage at `data_dir` / `data_log_dir`, which must hold no data yet.
pub fn import(
    zk_data_dir: &Path,
    zk_log_dir: Option<&Path>,
    data_dir: &Path,
    data_log_dir: &Path,
    max_buffer: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let snap_dir = version2(zk_data_dir);
    let log_dir = version2(zk_log_dir.unwrap_or(zk_data_dir));
    anyhow::ensure!(
        snap_dir.is_dir(),
        "{} is not an Apache ZooKeeper data directory (no version-2)",
        zk_data_dir.display()
    );
    tracing::info!(
        "importing {} (logs in {})",
        snap_dir.display(),
        log_dir.display()
    );
    let meter = Meter::new("reading Apache ZooKeeper's snapshot and logs");
    let restored = restore::restore_with_progress(
        &snap_dir,
        &log_dir,
        &ReadOptions {
            max_buffer,
            ..ReadOptions::default()
        },
        &meter,
    );
    meter.finish();
    let restored = restored
        .with_context(|| format!("reading Apache ZooKeeper's data in {}", snap_dir.display()))?;
    for (path, why) in &restored.skipped_snapshots {
        tracing::warn!("skipped {}: {why}", path.display());
    }
    if let Some(s) = &restored.snapshot {
        tracing::info!("snapshot {} read", s.file.path.display());
    }
    for l in &restored.logs {
        tracing::info!("{}: {} txns applied", l.path.display(), l.applied);
    }
    if let Some(d) = &restored.digest_check {
        if d.matches() {
            tracing::info!(
                "tree digest matches the one Apache ZooKeeper recorded at 0x{:x}",
                d.zxid
            );
        } else {
            // Upstream only logs a digest mismatch; so do we, loudly.
            tracing::warn!(
                "the restored tree's digest 0x{:x} differs from the 0x{:x} Apache ZooKeeper recorded at 0x{:x}",
                d.computed,
                d.recorded,
                d.zxid
            );
        }
    }

    let (mut store, recovered) = open_and_recover(data_dir, data_log_dir, max_buffer, &NoProgress)?;
    if recovered.tree.last_processed_zxid != 0
        || store.log.last_zxid() != 0
        || !store.snapshots.list()?.is_empty()
    {
        bail!(
            "{} already holds Ferrokeeper data (zxid 0x{:x}); import into an empty dataDir",
            data_dir.display(),
            recovered.tree.last_processed_zxid
        );
    }
    let sessions: Vec<(i64, i32)> = restored.sessions.iter().map(|(s, t)| (*s, *t)).collect();
    let meter = Meter::new("writing Ferrokeeper's snapshot");
    meter.set_total(snapshot_size_estimate(&restored.tree));
    let mut target = MeteredTarget {
        inner: store.snapshots,
        progress: &meter,
    };
    let written = zk_server::snapshots::take(&mut target, &restored.tree, &sessions, 3);
    meter.finish();
    written?;
    let (cur, acc) = (
        epoch::read_epoch_file(&snap_dir.join("currentEpoch"))?,
        epoch::read_epoch_file(&snap_dir.join("acceptedEpoch"))?,
    );
    if let Some(e) = acc {
        store.epochs.set_accepted_epoch(e)?;
    }
    if let Some(e) = cur {
        store.epochs.set_current_epoch(e)?;
    }
    let _ = target.inner.purge(3);
    tracing::info!(
        "imported {} nodes and {} sessions up to zxid 0x{:x} in {:.3}s",
        restored.tree.node_count(),
        sessions.len(),
        restored.last_zxid,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Exports Ferrokeeper's state (stopped server) as an Apache ZooKeeper data directory at
/// `to`, which must not hold snapshots or txn logs yet.
pub fn export(
    to: &Path,
    data_dir: &Path,
    data_log_dir: &Path,
    max_buffer: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let out = version2(to);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let existing = std::fs::read_dir(&out)?.filter_map(|e| e.ok()).any(|e| {
        e.file_name().to_string_lossy().starts_with("snapshot.")
            || e.file_name().to_string_lossy().starts_with("log.")
    });
    anyhow::ensure!(
        !existing,
        "{} already holds snapshots or txn logs",
        out.display()
    );
    let meter = Meter::new("reading Ferrokeeper's snapshot");
    let opened = open_and_recover(data_dir, data_log_dir, max_buffer, &meter);
    meter.finish();
    let (store, recovered) = opened?;
    let meter = Meter::new("writing Apache ZooKeeper's snapshot");
    meter.set_total(snapshot_size_estimate(&recovered.tree));
    let written = snapfile::write_snapshot_file_with_progress(
        &out,
        &recovered.tree,
        recovered.sessions.iter().copied(),
        Compression::Plain,
        &WriteOptions::default(),
        &meter,
    );
    meter.finish();
    let (file, summary) = written?;
    let (cur, acc) = store.epochs.epochs()?;
    if cur != 0 || acc != 0 {
        epoch::write_epoch_file(&out, "acceptedEpoch", acc)?;
        epoch::write_epoch_file(&out, "currentEpoch", cur)?;
    }
    tracing::info!(
        "exported {} nodes and {} sessions to {} ({} bytes) in {:.3}s",
        summary.nodes,
        summary.sessions,
        file.path.display(),
        summary.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
