//! The log writer: a dedicated thread that group-commits txns.
//!
//! It blocks on the first batch, takes every batch that arrived meanwhile, appends them all
//! and syncs once, then tells the core how far the log is durable. A failed append or sync
//! is fatal: it is reported once and the thread stops (the store is poisoned; the node
//! must restart and recover from disk).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;
use zk_storage::TxnLog;

/// Work for the log writer.
#[derive(Debug)]
pub enum LogCmd {
    /// Entries to make durable, in zxid order.
    Append(Vec<(i64, Bytes)>),
    /// Entries below this zxid are in a snapshot that is kept: drop them.
    PurgeBefore(i64),
}

/// What the log writer reports.
#[derive(Debug)]
pub enum LogEvent {
    /// Every entry up to this zxid is durable.
    Durable(i64),
    /// The log failed; nothing more will become durable.
    Failed(String),
}

/// Counters of the log writer, for `mntr` (as upstream's `fsynctime` summary, which
/// `FileTxnLog.commit` feeds once per fsync) and benchmarks.
#[derive(Debug, Default)]
pub struct LogStats {
    /// syncs done (`zk_cnt_fsynctime`).
    pub syncs: AtomicU64,
    /// entries written.
    pub entries: AtomicU64,
    /// Milliseconds spent in append + sync, summed (`zk_sum_fsynctime`).
    pub sync_ms_sum: AtomicU64,
    /// The longest append + sync in ms (`zk_max_fsynctime`).
    pub sync_ms_max: AtomicU64,
    /// The shortest append + sync in ms, plus one; 0 before the first sync.
    sync_ms_min_plus_one: AtomicU64,
}

impl LogStats {
    /// Records one sync that took `ms` milliseconds.
    pub fn record_sync(&self, ms: u64) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.sync_ms_sum.fetch_add(ms, Ordering::Relaxed);
        self.sync_ms_max.fetch_max(ms, Ordering::Relaxed);
        let prev = self.sync_ms_min_plus_one.load(Ordering::Relaxed);
        if prev == 0 || ms + 1 < prev {
            // Single writer (the log thread): a plain store is enough.
            self.sync_ms_min_plus_one.store(ms + 1, Ordering::Relaxed);
        }
    }

    /// The shortest sync in ms (0 before the first).
    pub fn sync_ms_min(&self) -> u64 {
        self.sync_ms_min_plus_one
            .load(Ordering::Relaxed)
            .saturating_sub(1)
    }
}

/// Runs the writer until the command channel closes.
pub fn run_writer(
    mut log: Box<dyn TxnLog>,
    rx: Receiver<LogCmd>,
    tx: UnboundedSender<LogEvent>,
    stats: Arc<LogStats>,
) {
    let mut pending_purge: Option<i64> = None;
    while let Ok(cmd) = rx.recv() {
        let mut batch = match cmd {
            LogCmd::Append(b) => b,
            LogCmd::PurgeBefore(z) => {
                pending_purge = Some(z);
                Vec::new()
            }
        };
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                LogCmd::Append(more) => batch.extend(more),
                LogCmd::PurgeBefore(z) => pending_purge = Some(z),
            }
        }
        if let Some(z) = pending_purge.take() {
            // A failed purge loses nothing: the entries stay and are replayed over the
            // snapshot (txns are idempotent).
            if let Err(e) = log.purge_before(z) {
                tracing::warn!("purging the txn log below 0x{z:x} failed: {e}");
            }
        }
        let Some(last) = batch.last().map(|e| e.0) else {
            continue;
        };
        let started = std::time::Instant::now();
        let res = log.append(&batch).and_then(|()| log.sync());
        match res {
            Ok(()) => {
                stats.record_sync(started.elapsed().as_millis() as u64);
                stats
                    .entries
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                if tx.send(LogEvent::Durable(last)).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!("FATAL: writing the txn log failed: {e}; no further writes will be acknowledged");
                let _ = tx.send(LogEvent::Failed(e.to_string()));
                return;
            }
        }
    }
}
