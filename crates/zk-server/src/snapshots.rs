//! When and where the core writes snapshots.
//!
//! A snapshot is Apache ZooKeeper's own format (`zk_tree::snapshot`), streamed into
//! whatever [`SnapshotStore`] the binary provides (files in dataDir/version-2). The core starts one
//! after every `snapCount/2 + random(snapCount/2)` applied txns (as `SyncRequestProcessor`
//! spreads them); the binary takes one after a recovery that replayed txns, and the core one
//! at clean shutdown. Purging is upstream's `DatadirCleanupManager`: only when
//! `autopurge.purgeInterval` is above 0, at start and then every that many hours, snapshots
//! beyond the newest `autopurge.snapRetainCount` are removed and the txn log below the
//! oldest one kept. With the default 0 nothing is ever removed, as upstream.
//!
//! Snapshots taken while serving are *fuzzy*, as upstream's: the core task, which owns the
//! tree, serialises it a slice at a time between batches of requests
//! ([`zk_tree::snapshot::FuzzySnapshot`]) and hands the bytes to a writer thread, which
//! compresses, writes and fsyncs them, so a tree of millions of nodes never stalls requests
//! for more than one slice. A bounded channel between them keeps a slow disk from piling
//! snapshot bytes up in memory: the core only serialises another slice when there is room.
//!
//! ```text
//!   node ── SnapshotSlice ──► core task ──► [bounded channel] ──► writer thread
//!       ▲                                                          write, fsync, rename, purge
//!       └──────────────────────────── Done (target back, result) ◄──────┘
//! ```

use std::io::{self, Write};

use zk_storage::{SnapshotStore, StorageError};

use tokio::sync::mpsc;

/// Steps buffered between the core and the writer thread.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 16;

pub use zk_node::SnapshotPolicy;

/// Streams `tree` and `sessions` as a snapshot into `target`, then purges. Returns the
/// oldest snapshot zxid kept (the txn log can be purged below it).
pub fn take(
    target: &mut dyn SnapshotStore,
    tree: &zk_tree::DataTree,
    sessions: &[(i64, i32)],
    retain: usize,
) -> Result<Option<i64>, StorageError> {
    write(target, tree, sessions)?;
    target.purge(retain.max(3))
}

/// Streams `tree` and `sessions` as a complete snapshot into `target`.
pub fn write(
    target: &mut dyn SnapshotStore,
    tree: &zk_tree::DataTree,
    sessions: &[(i64, i32)],
) -> Result<(), StorageError> {
    let started = std::time::Instant::now();
    let zxid = tree.last_processed_zxid;
    let bytes = target.write_snapshot(zxid, &mut |w| {
        let mut out = io::BufWriter::with_capacity(1 << 20, w);
        zk_tree::snapshot::write_snapshot(
            tree,
            sessions.iter().copied(),
            &mut out,
            &zk_tree::snapshot::WriteOptions::default(),
        )?;
        out.flush()
    })?;
    tracing::info!(
        "snapshot 0x{zxid:x}: {} nodes, {} sessions, {bytes} bytes in {:.3}s",
        tree.node_count(),
        sessions.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A piece of a background snapshot on its way to the writer thread (the node's slices).
pub(crate) type Chunk = zk_node::SnapshotSlice;

/// A background snapshot's outcome, with the target handed back to the core.
pub(crate) struct Done {
    /// The snapshot target, for the next snapshot.
    pub target: Box<dyn SnapshotStore>,
    /// Why the snapshot failed, if it did.
    pub result: Result<(), StorageError>,
}

/// Starts the writer thread of a background snapshot of `zxid`: it writes what arrives on
/// the returned channel into `target`, makes it durable when [`Chunk::Last`] arrives (and
/// discards it if the channel closes first), and reports on `done`. `None` when no
/// thread could be started; the target then comes back at once on `done` with the error.
pub(crate) fn spawn_writer(
    target: Box<dyn SnapshotStore>,
    zxid: i64,
    node_count: usize,
    done: mpsc::UnboundedSender<Done>,
) -> Option<mpsc::Sender<Chunk>> {
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    // The target travels through a slot so that a failed spawn can hand it back.
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(target)));
    let thread_slot = slot.clone();
    let thread_done = done.clone();
    let spawned = std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || {
            let taken = thread_slot.lock().ok().and_then(|mut g| g.take());
            let Some(mut target) = taken else {
                return;
            };
            let started = std::time::Instant::now();
            let mut summary = None;
            let written = target.write_snapshot(zxid, &mut |w| {
                while let Some(chunk) = rx.blocking_recv() {
                    match chunk {
                        Chunk::Data(b) => w.write_all(&b)?,
                        Chunk::Last(b, s) => {
                            w.write_all(&b)?;
                            summary = Some(s);
                            return Ok(());
                        }
                    }
                }
                Err(io::Error::other("abandoned before it was complete"))
            });
            let result = written.map(|bytes| {
                let nodes = summary.map_or(0, |s| s.nodes);
                tracing::info!(
                    "snapshot 0x{zxid:x} (fuzzy, started with {node_count} nodes): {nodes} nodes, \
                     {bytes} bytes in {:.3}s",
                    started.elapsed().as_secs_f64()
                );
            });
            let _ = thread_done.send(Done { target, result });
        });
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            let target = slot.lock().ok().and_then(|mut g| g.take());
            if let Some(target) = target {
                let _ = done.send(Done {
                    target,
                    result: Err(StorageError::Io(io::Error::other(format!(
                        "cannot start the snapshot thread: {e}"
                    )))),
                });
            }
            None
        }
    }
}
