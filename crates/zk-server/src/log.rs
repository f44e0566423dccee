//! The log writer: a dedicated thread that group-commits txns.
//!
//! It blocks on the first batch, takes every batch that arrived meanwhile (and, with a
//! [`FlushPolicy`] delay, what arrives within it), appends them all and syncs once, then
//! tells the core how far the log is durable. A failed append or sync
//! is fatal: it is reported once and the thread stops (the store is poisoned; the node
//! must restart and recover from disk).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;
use zk_storage::{EpochStore, TxnLog};

use crate::summary::Distribution;

/// Work for the log writer. Commands take effect in the order they were sent: a truncation
/// or an epoch write first makes the entries sent before it durable (the durable-write
/// order a Zab peer relies on, ZAB-NOTES §4.9).
#[derive(Debug)]
pub enum LogCmd {
    /// Entries to make durable, in zxid order.
    Append(Vec<(i64, Bytes)>),
    /// Entries below this zxid are in a snapshot that is kept: drop them.
    PurgeBefore(i64),
    /// Zab TRUNC: drop every entry after this zxid, durably; answered with
    /// [`LogEvent::Truncated`].
    Truncate(i64),
    /// Zab: write and fsync `acceptedEpoch` (`accepted`) or `currentEpoch`; answered with
    /// [`LogEvent::EpochDurable`]. Needs the epoch store the writer was started with.
    Epoch {
        /// Which file.
        accepted: bool,
        /// The value.
        value: i64,
    },
    /// Zab SNAP taken to disk: the log becomes exactly these entries (the database the
    /// leader sent); answered with [`LogEvent::Replaced`].
    Replace(Vec<(i64, Bytes)>),
}

/// What the log writer reports.
#[derive(Debug)]
pub enum LogEvent {
    /// Every entry up to this zxid is durable.
    Durable(i64),
    /// The log failed; nothing more will become durable.
    Failed(zk_storage::StorageError),
    /// A [`LogCmd::Truncate`] is durable.
    Truncated(i64),
    /// A [`LogCmd::Epoch`] is durable.
    EpochDurable {
        /// Which file.
        accepted: bool,
        /// The value.
        value: i64,
    },
    /// A [`LogCmd::Replace`] is durable.
    Replaced,
}

/// Counters of the log writer, for `mntr` (as upstream's `fsynctime` summary, which
/// `FileTxnLog.commit` feeds once per fsync) and benchmarks.
#[derive(Debug, Default)]
pub struct LogStats {
    /// syncs done (`zk_cnt_fsynctime`).
    pub syncs: AtomicU64,
    /// entries written.
    pub entries: AtomicU64,
    /// Milliseconds spent in append + sync, one sample per sync (`fsynctime`).
    pub fsync: Distribution,
    /// Syncs that took longer than `fsync.warningthresholdms`
    /// (`fsync_threshold_exceed_count` in the `server_stats` command).
    pub threshold_exceeded: AtomicU64,
}

impl LogStats {
    /// Counters whose `fsynctime` distribution records only when `metrics` is true.
    pub fn new(metrics: bool) -> Self {
        LogStats {
            syncs: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            fsync: Distribution::new(metrics),
            threshold_exceeded: AtomicU64::new(0),
        }
    }

    /// Records one sync that took `ms` milliseconds.
    pub fn record_sync(&self, ms: u64) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.fsync.record(ms);
    }
}

/// When the writer syncs: Apache ZooKeeper's `SyncRequestProcessor` batching knobs, read
/// from the same system properties (`zookeeper.flushDelay`, `zookeeper.maxWriteQueuePollTime`,
/// `zookeeper.maxBatchSize`; in zoo.cfg without the `zookeeper.` prefix).
///
/// With the defaults (no delay) the writer syncs as soon as nothing more is queued, so a
/// batch is whatever arrived during the previous sync. A delay holds a batch open: the
/// writer syncs when `delay` has passed since the previous sync, when no entry has arrived
/// for `max_poll`, or when the batch holds `max_batch` entries, whichever comes first. The
/// first entry after an idle spell (longer than `delay`) is synced at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// `zookeeper.flushDelay`: the longest a batch is held open, counted from the previous
    /// sync. Zero: sync whenever the queue is empty.
    pub delay: Duration,
    /// `zookeeper.maxWriteQueuePollTime` (default a third of the delay): how long the
    /// writer waits for the next entry before it syncs what it has.
    pub max_poll: Duration,
    /// `zookeeper.maxBatchSize` (default 1000): sync once a batch holds this many entries;
    /// 0 means no limit.
    pub max_batch: usize,
    /// `zookeeper.fsync.warningthresholdms` (default 1000): a sync slower than this is
    /// logged as `FileTxnLog` logs it and counted.
    pub warn_after: Duration,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            delay: Duration::ZERO,
            max_poll: Duration::ZERO,
            max_batch: 1000,
            warn_after: Duration::from_millis(1000),
        }
    }
}

impl FlushPolicy {
    /// The policy from the three properties as Apache ZooKeeper reads them (milliseconds;
    /// negative values count as zero).
    pub fn from_millis(flush_delay: i64, max_poll: i64, max_batch: i32) -> Self {
        let ms = |v: i64| Duration::from_millis(v.max(0) as u64);
        FlushPolicy {
            delay: ms(flush_delay),
            max_poll: ms(max_poll),
            max_batch: max_batch.max(0) as usize,
            ..FlushPolicy::default()
        }
    }

    /// The same policy with `zookeeper.fsync.warningthresholdms` set (negative counts as
    /// zero).
    pub fn with_warning_threshold_ms(self, ms: i64) -> Self {
        FlushPolicy {
            warn_after: Duration::from_millis(ms.max(0) as u64),
            ..self
        }
    }

    /// How long to wait for the next entry while `pending` entries are held, the previous
    /// sync having ended at `last_sync`; zero means sync now unless something is ready.
    fn poll_time(&self, last_sync: Instant, now: Instant) -> Duration {
        self.max_poll.min(self.remaining(last_sync, now))
    }

    fn remaining(&self, last_sync: Instant, now: Instant) -> Duration {
        self.delay
            .saturating_sub(now.saturating_duration_since(last_sync))
    }

    /// Whether a batch of `pending` entries must be synced now, before looking for more
    /// (`SyncRequestProcessor.shouldFlush`).
    fn must_sync(&self, pending: usize, last_sync: Instant, now: Instant) -> bool {
        (!self.delay.is_zero() && self.remaining(last_sync, now).is_zero())
            || (self.max_batch > 0 && pending >= self.max_batch)
    }
}

/// Runs the writer until the command channel closes (syncing what it still holds).
/// `epochs` is the epoch store of an ensemble member (`None` for a standalone server:
/// an epoch command then fails the writer).
pub fn run_writer(
    log: Box<dyn TxnLog>,
    epochs: Option<Box<dyn EpochStore>>,
    rx: Receiver<LogCmd>,
    tx: UnboundedSender<LogEvent>,
    stats: Arc<LogStats>,
    policy: FlushPolicy,
) {
    let mut w = Writer {
        log,
        epochs,
        tx,
        stats,
        batch: Vec::new(),
        pending_purge: None,
        last_sync: Instant::now(),
        warn_after: policy.warn_after,
    };
    loop {
        let cmd = if w.batch.is_empty() {
            match rx.recv() {
                Ok(cmd) => cmd,
                Err(_) => break,
            }
        } else {
            let wait = policy.poll_time(w.last_sync, Instant::now());
            let next = if wait.is_zero() {
                rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(wait)
            };
            match next {
                Ok(cmd) => cmd,
                // Nothing more within the poll time: sync what is held.
                Err(RecvTimeoutError::Timeout) => {
                    if !w.sync() {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        };
        match cmd {
            // The first batch is taken as it is; later ones are appended to it.
            LogCmd::Append(entries) if w.batch.is_empty() => w.batch = entries,
            LogCmd::Append(entries) => w.batch.extend(entries),
            LogCmd::PurgeBefore(z) => w.pending_purge = Some(z),
            LogCmd::Truncate(z) => {
                if !w.sync() || !w.truncate(z) {
                    return;
                }
                continue;
            }
            LogCmd::Epoch { accepted, value } => {
                if !w.sync() || !w.epoch(accepted, value) {
                    return;
                }
                continue;
            }
            LogCmd::Replace(entries) => {
                if !w.sync() || !w.replace(&entries) {
                    return;
                }
                continue;
            }
        }
        if w.batch.is_empty() {
            w.purge();
        } else if policy.must_sync(w.batch.len(), w.last_sync, Instant::now()) && !w.sync() {
            return;
        }
    }
    // The core is gone (shutdown): what it handed over is still made durable.
    w.sync();
}

/// The writer's state between syncs.
struct Writer {
    log: Box<dyn TxnLog>,
    epochs: Option<Box<dyn EpochStore>>,
    tx: UnboundedSender<LogEvent>,
    stats: Arc<LogStats>,
    /// Entries received and not yet synced, in zxid order.
    batch: Vec<(i64, Bytes)>,
    /// The newest purge asked for and not yet done.
    pending_purge: Option<i64>,
    /// When the previous sync ended (the writer's start before the first).
    last_sync: Instant,
    /// A sync slower than this is logged and counted.
    warn_after: Duration,
}

impl Writer {
    /// Reports a fatal failure; false (the writer stops).
    fn fail(&mut self, what: &str, e: zk_storage::StorageError) -> bool {
        tracing::error!("FATAL: {what} failed: {e}; no further writes will be acknowledged");
        let _ = self.tx.send(LogEvent::Failed(e));
        false
    }

    fn truncate(&mut self, z: i64) -> bool {
        match self.log.truncate_after(z) {
            Ok(()) => {
                tracing::info!("txn log truncated after 0x{z:x} (durable)");
                self.tx.send(LogEvent::Truncated(z)).is_ok()
            }
            Err(e) => self.fail("truncating the txn log", e),
        }
    }

    fn epoch(&mut self, accepted: bool, value: i64) -> bool {
        let res = match self.epochs.as_mut() {
            Some(e) if accepted => e.set_accepted_epoch(value),
            Some(e) => e.set_current_epoch(value),
            None => Err(zk_storage::StorageError::Invalid(
                "an epoch write on a server without an epoch store".into(),
            )),
        };
        match res {
            Ok(()) => self
                .tx
                .send(LogEvent::EpochDurable { accepted, value })
                .is_ok(),
            Err(e) => self.fail("writing an epoch file", e),
        }
    }

    fn replace(&mut self, entries: &[(i64, Bytes)]) -> bool {
        let res = self
            .log
            .truncate_after(0)
            .and_then(|()| self.log.append(entries))
            .and_then(|()| self.log.sync());
        match res {
            Ok(()) => self.tx.send(LogEvent::Replaced).is_ok(),
            Err(e) => self.fail("replacing the txn log with the leader's snapshot", e),
        }
    }

    fn purge(&mut self) {
        if let Some(z) = self.pending_purge.take() {
            // A failed purge loses nothing: the entries stay and are replayed over the
            // snapshot (txns are idempotent).
            if let Err(e) = self.log.purge_before(z) {
                tracing::warn!("purging the txn log below 0x{z:x} failed: {e}");
            }
        }
    }

    /// Appends and syncs the batch and reports it durable. False when the writer must stop
    /// (the log failed, or nobody listens any more).
    fn sync(&mut self) -> bool {
        self.purge();
        let Some(last) = self.batch.last().map(|e| e.0) else {
            return true;
        };
        let started = Instant::now();
        let res = self.log.append(&self.batch).and_then(|()| self.log.sync());
        self.last_sync = Instant::now();
        match res {
            Ok(()) => {
                let took = self.last_sync.duration_since(started);
                let ms = took.as_millis() as u64;
                self.stats.record_sync(ms);
                if took > self.warn_after {
                    self.stats
                        .threshold_exceeded
                        .fetch_add(1, Ordering::Relaxed);
                    // FileTxnLog's words, which operators grep for.
                    tracing::warn!(
                        "fsync-ing the write ahead log in {} took {ms}ms which will adversely effect operation latency. See the ZooKeeper troubleshooting guide",
                        std::thread::current().name().unwrap_or("SyncThread")
                    );
                }
                self.stats
                    .entries
                    .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
                self.batch.clear();
                self.tx.send(LogEvent::Durable(last)).is_ok()
            }
            Err(e) => {
                tracing::error!("FATAL: writing the txn log failed: {e}; no further writes will be acknowledged");
                let _ = self.tx.send(LogEvent::Failed(e));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
    use zk_storage::mem::MemStore;

    fn entry(zxid: i64) -> LogCmd {
        LogCmd::Append(vec![(zxid, Bytes::from_static(b"txn"))])
    }

    struct Running {
        cmds: std::sync::mpsc::Sender<LogCmd>,
        events: UnboundedReceiver<LogEvent>,
        stats: Arc<LogStats>,
        thread: std::thread::JoinHandle<()>,
    }

    /// A writer over an in-memory log with `queued` already waiting in its channel.
    fn start(policy: FlushPolicy, queued: Vec<LogCmd>) -> Running {
        let (cmds, rx) = std::sync::mpsc::channel();
        for c in queued {
            cmds.send(c).unwrap();
        }
        let (tx, events) = unbounded_channel();
        let stats = Arc::new(LogStats::default());
        let s = stats.clone();
        let thread = std::thread::spawn(move || {
            run_writer(Box::new(MemStore::new()), None, rx, tx, s, policy)
        });
        Running {
            cmds,
            events,
            stats,
            thread,
        }
    }

    async fn next_durable(events: &mut UnboundedReceiver<LogEvent>) -> i64 {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(LogEvent::Durable(z))) => z,
            other => panic!("expected a durable zxid, got {other:?}"),
        }
    }

    #[test]
    fn the_policy_decides_as_sync_request_processor() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let none = FlushPolicy::default();
        // No delay: never hold a batch (only the size limit syncs while more is queued).
        assert_eq!(none.poll_time(t0, t0), Duration::ZERO);
        assert!(!none.must_sync(999, t0, t0));
        assert!(none.must_sync(1000, t0, t0));
        let p = FlushPolicy::from_millis(9, 3, 64);
        assert_eq!(p.max_poll, ms(3));
        // Right after a sync: wait up to the poll time; later, no longer than the delay's rest.
        assert_eq!(p.poll_time(t0, t0), ms(3));
        assert_eq!(p.poll_time(t0, t0 + ms(7)), ms(2));
        assert!(!p.must_sync(1, t0, t0 + ms(8)));
        assert!(p.must_sync(1, t0, t0 + ms(9)));
        assert!(p.must_sync(64, t0, t0));
        // Negative values count as zero; a zero batch size means no limit.
        let odd = FlushPolicy::from_millis(-5, -1, 0);
        assert_eq!(
            odd,
            FlushPolicy {
                delay: Duration::ZERO,
                max_poll: Duration::ZERO,
                max_batch: 0,
                warn_after: ms(1000),
            }
        );
        assert!(!odd.must_sync(1_000_000, t0, t0));
    }

    #[tokio::test]
    async fn a_sync_slower_than_the_warning_threshold_is_counted() {
        // Threshold zero: every sync that takes any time at all is over it; an hour: never.
        for (threshold_ms, counted) in [(0, 1), (3_600_000, 0)] {
            let policy = FlushPolicy::default().with_warning_threshold_ms(threshold_ms);
            let mut w = start(policy, vec![entry(1)]);
            assert_eq!(next_durable(&mut w.events).await, 1);
            assert_eq!(
                w.stats.threshold_exceeded.load(Ordering::Relaxed),
                counted,
                "threshold {threshold_ms} ms"
            );
            drop(w.cmds);
            w.thread.join().unwrap();
        }
    }

    #[tokio::test]
    async fn a_batch_is_synced_when_it_reaches_the_size_limit() {
        let policy = FlushPolicy {
            max_batch: 10,
            ..FlushPolicy::default()
        };
        let mut w = start(policy, (1..=25).map(entry).collect());
        assert_eq!(next_durable(&mut w.events).await, 10);
        assert_eq!(next_durable(&mut w.events).await, 20);
        assert_eq!(next_durable(&mut w.events).await, 25);
        assert_eq!(w.stats.syncs.load(Ordering::Relaxed), 3);
        drop(w.cmds);
        w.thread.join().unwrap();
    }

    #[tokio::test]
    async fn a_flush_delay_holds_the_batch_open_until_it_is_full() {
        let policy = FlushPolicy {
            delay: Duration::from_secs(600),
            max_poll: Duration::from_secs(600),
            max_batch: 3,
            ..FlushPolicy::default()
        };
        let mut w = start(policy, vec![entry(1)]);
        // Without a delay the first entry would be synced on its own right away.
        let early = tokio::time::timeout(Duration::from_millis(300), w.events.recv()).await;
        assert!(
            early.is_err(),
            "synced before the batch was full: {early:?}"
        );
        w.cmds.send(entry(2)).unwrap();
        w.cmds.send(entry(3)).unwrap();
        assert_eq!(next_durable(&mut w.events).await, 3);
        assert_eq!(w.stats.syncs.load(Ordering::Relaxed), 1);
        assert_eq!(w.stats.entries.load(Ordering::Relaxed), 3);
        drop(w.cmds);
        w.thread.join().unwrap();
    }

    #[tokio::test]
    async fn a_held_batch_is_synced_when_nothing_more_arrives_within_the_poll_time() {
        let poll = Duration::from_millis(50);
        let policy = FlushPolicy {
            delay: Duration::from_secs(600),
            max_poll: poll,
            ..FlushPolicy::default()
        };
        let started = Instant::now();
        let mut w = start(policy, vec![entry(1), entry(2)]);
        assert_eq!(next_durable(&mut w.events).await, 2);
        assert!(started.elapsed() >= poll);
        assert_eq!(w.stats.syncs.load(Ordering::Relaxed), 1);
        // Shutdown syncs what is still held, however long the delay.
        w.cmds.send(entry(3)).unwrap();
        drop(w.cmds);
        assert_eq!(next_durable(&mut w.events).await, 3);
        w.thread.join().unwrap();
    }
}
