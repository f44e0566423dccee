//! When and where the core writes snapshots.
//!
//! A snapshot is Apache ZooKeeper's own format (`zk_tree::snapshot`), written to whatever
//! [`SnapshotTarget`] the binary provides (files in dataDir/version-2). The core takes one
//! after every `snapCount/2 + random(snapCount/2)` applied txns (as `SyncRequestProcessor`
//! spreads them), at clean shutdown, and the binary takes one after a recovery that replayed
//! txns. After each, old snapshots beyond `autopurge.snapRetainCount` are removed and the
//! txn log is purged up to the oldest snapshot kept.

use std::io::{self, Write};

/// Where snapshots go.
pub trait SnapshotTarget: Send {
    /// Writes the snapshot of `zxid`: `body` streams it into the writer; the target makes it
    /// durable and visible only when `body` succeeds. Returns the bytes written.
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<u64, String>;

    /// Keeps the newest `keep` snapshots; returns the zxid of the oldest one kept.
    fn purge(&mut self, keep: usize) -> Result<Option<i64>, String>;
}

/// Snapshot settings.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// `snapCount`.
    pub snap_count: u64,
    /// `autopurge.snapRetainCount` (at least 3, as upstream).
    pub retain: usize,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            snap_count: 100_000,
            retain: 3,
        }
    }
}

impl SnapshotPolicy {
    /// The next threshold: half the count plus a random share of the other half, so that
    /// the members of an ensemble do not all snapshot at once.
    pub fn next_threshold(&self, seed: u64) -> u64 {
        let half = (self.snap_count / 2).max(1);
        // splitmix64 of the seed: randomness without a dependency.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        half + z % half
    }
}

/// Streams `tree` and `sessions` as a snapshot into `target`, then purges. Returns the
/// oldest snapshot zxid kept (the txn log can be purged below it).
pub fn take(
    target: &mut dyn SnapshotTarget,
    tree: &zk_tree::DataTree,
    sessions: &[(i64, i32)],
    retain: usize,
) -> Result<Option<i64>, String> {
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
    target.purge(retain.max(3))
}
