//! Server-wide counters shared by connections and the core (`ServerStats`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The version Ferrokeeper reports where Apache ZooKeeper reports its own (`srvr`, `envi`):
/// the 3.9 protocol it speaks, then our own version.
pub const ZK_VERSION: &str = concat!("3.9.3-ferrokeeper-", env!("CARGO_PKG_VERSION"));

/// Counters.
#[derive(Debug)]
pub struct Stats {
    /// Requests received.
    pub packets_received: AtomicU64,
    /// Replies and notifications sent.
    pub packets_sent: AtomicU64,
    /// Open client connections.
    pub connections: AtomicI64,
    /// Sessions expired since start.
    pub sessions_expired: AtomicU64,
    /// Requests by opcode (index: `opcode + 16`, see [`Stats::count_op`]).
    ops: [AtomicU64; 160],
    latency_min: AtomicU64,
    latency_max: AtomicU64,
    latency_sum: AtomicU64,
    latency_count: AtomicU64,
}

impl Stats {
    /// Fresh counters.
    pub fn new() -> Self {
        Stats {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            connections: AtomicI64::new(0),
            sessions_expired: AtomicU64::new(0),
            ops: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_min: AtomicU64::new(u64::MAX),
            latency_max: AtomicU64::new(0),
            latency_sum: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
        }
    }

    /// Counts one request of opcode `op`.
    pub fn count_op(&self, op: i32) {
        if let Some(c) = usize::try_from(op + 16).ok().and_then(|i| self.ops.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(opcode, count)` for every opcode seen.
    pub fn op_counts(&self) -> Vec<(i32, u64)> {
        self.ops
            .iter()
            .enumerate()
            .map(|(i, c)| (i as i32 - 16, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Records one request's latency in ms.
    pub fn record_latency(&self, ms: u64) {
        self.latency_min.fetch_min(ms, Ordering::Relaxed);
        self.latency_max.fetch_max(ms, Ordering::Relaxed);
        self.latency_sum.fetch_add(ms, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// `(min, avg, max)` in ms, zeros before any request.
    pub fn latency(&self) -> (u64, f64, u64) {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            return (0, 0.0, 0);
        }
        let sum = self.latency_sum.load(Ordering::Relaxed);
        (
            self.latency_min.load(Ordering::Relaxed),
            sum as f64 / n as f64,
            self.latency_max.load(Ordering::Relaxed),
        )
    }

    /// `srst`: resets the counters.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency_min.store(u64::MAX, Ordering::Relaxed);
        self.latency_max.store(0, Ordering::Relaxed);
        self.latency_sum.store(0, Ordering::Relaxed);
        self.latency_count.store(0, Ordering::Relaxed);
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}
