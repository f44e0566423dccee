//! Server-wide counters shared by connections and the core (`ServerStats`, the counters of
//! `ServerMetrics` we keep), and every open connection's own counters (`ServerCnxn`'s
//! statistics, for `cons`, `stat`, `crst`, `dump`).
//!
//! ```text
//!   conn task ──(per frame / per flush: relaxed atomics)──► ConnStats ─┐
//!        └────────────────────────────────────────────────► Stats      ├─► four-letter words
//!   core ──(sessions expired, connect requests)───────────► Stats  ────┘
//! ```
//!
//! Everything is a relaxed atomic written where the data already flows; a connection's
//! counters have a single writer (its task), so they are updated with a load and a store,
//! never a locked read-modify-write, except the two packet counters that `crst` may reset
//! concurrently. Readers (the four-letter words) may see a mix of old and new values, as
//! upstream's unsynchronised getters may.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use zk_proto::OpCode;

use crate::summary::Distribution;

/// The version Ferrokeeper reports where Apache ZooKeeper reports its own (`srvr`, `envi`):
/// the 3.9 protocol it speaks, then our own version.
pub const ZK_VERSION: &str = concat!("3.9.3-ferrokeeper-", env!("CARGO_PKG_VERSION"));

/// `ZooTrace`'s default text trace mask (`gtmk` before any `stmk`): client requests, server
/// packets, sessions and warnings.
pub const DEFAULT_TRACE_MASK: i64 = 0b1_0011_0010;

/// `zookeeper.nio.sessionlessCnxnTimeout`: the timeout of a connection without a session,
/// and the bucket width of the connection expiry queue `dump` prints.
pub const SESSIONLESS_CNXN_TIMEOUT_MS: i32 = 10_000;

/// Counters.
#[derive(Debug)]
pub struct Stats {
    /// Packets received from clients: frames, and four-letter words (`packetReceived`).
    pub packets_received: AtomicU64,
    /// Packets sent to clients: frames, and four-letter answers (`packetSent`).
    pub packets_sent: AtomicU64,
    /// Open client connections.
    pub connections: AtomicI64,
    /// Sessions expired since start (`stale_sessions_expired`).
    pub sessions_expired: AtomicU64,
    /// Bytes of the packets received, length prefixes included (`bytes_received_count`).
    pub bytes_received: AtomicU64,
    /// ConnectRequests processed (`connection_request_count`).
    pub connection_requests: AtomicU64,
    /// Connections refused by `maxClientCnxns` (`connection_rejected`).
    pub connections_rejected: AtomicU64,
    /// The text trace mask (`gtmk`/`stmk`; Ferrokeeper keeps it but traces nothing by it).
    pub trace_mask: AtomicI64,
    /// The server does not serve clients (an ensemble member that is electing): the
    /// four-letter words answered without the core say so, as upstream's do.
    pub not_serving: std::sync::atomic::AtomicBool,
    /// The server serves read-only (an ensemble member in read-only mode): `isro` says
    /// `ro`.
    pub read_only: std::sync::atomic::AtomicBool,
    /// Every open client connection.
    pub conns: ConnRegistry,
    /// The log writer's counters (fsyncs).
    pub log: Arc<crate::log::LogStats>,
    /// Latencies of reads (`readlatency`: requests without a txn, as `ServerStats.updateLatency`
    /// sorts them).
    pub read_latency: Distribution,
    /// Latencies of writes (`updatelatency`: requests with a txn, an error txn included).
    pub update_latency: Distribution,
    /// The AdminServer's snapshot and restore counters (3.9's `snapshot_*`, `restore_*`).
    pub admin: crate::ops::snaprest::AdminStats,
    /// Requests by opcode (index: `opcode + 16`, see [`Stats::count_op`]).
    ops: [AtomicU64; 160],
    latency_min: AtomicU64,
    latency_max: AtomicU64,
    latency_sum: AtomicU64,
    latency_count: AtomicU64,
    response_last: AtomicI64,
    response_min: AtomicI64,
    response_max: AtomicI64,
    start: Instant,
}

impl Stats {
    /// Fresh counters.
    pub fn new() -> Self {
        Self::with_metrics(true)
    }

    /// Fresh counters; with `metrics` false the summaries' distributions record nothing
    /// (`NullMetricsProvider`). `ServerStats`' own counters, which the four-letter words
    /// print, are kept either way.
    pub fn with_metrics(metrics: bool) -> Self {
        Stats {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            connections: AtomicI64::new(0),
            sessions_expired: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            connection_requests: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            trace_mask: AtomicI64::new(DEFAULT_TRACE_MASK),
            not_serving: std::sync::atomic::AtomicBool::new(false),
            read_only: std::sync::atomic::AtomicBool::new(false),
            conns: ConnRegistry::default(),
            log: Arc::new(crate::log::LogStats::new(metrics)),
            read_latency: Distribution::new(metrics),
            update_latency: Distribution::new(metrics),
            admin: Default::default(),
            ops: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_min: AtomicU64::new(u64::MAX),
            latency_max: AtomicU64::new(0),
            latency_sum: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            response_last: AtomicI64::new(-1),
            response_min: AtomicI64::new(-1),
            response_max: AtomicI64::new(-1),
            start: Instant::now(),
        }
    }

    /// False under `NullMetricsProvider`: no summary distributions are recorded.
    pub fn metrics_on(&self) -> bool {
        self.read_latency.is_on()
    }

    /// Milliseconds since the server started: the server's elapsed-time clock (`uptime`,
    /// `lresp`, the connection expiry queue).
    pub fn elapsed_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
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

    /// Records the latencies (ms) of `count` requests answered together: their minimum,
    /// maximum and sum.
    pub fn record_latencies(&self, min: u64, max: u64, sum: u64, count: u64) {
        if min < self.latency_min.load(Ordering::Relaxed) {
            self.latency_min.fetch_min(min, Ordering::Relaxed);
        }
        if max > self.latency_max.load(Ordering::Relaxed) {
            self.latency_max.fetch_max(max, Ordering::Relaxed);
        }
        self.latency_sum.fetch_add(sum, Ordering::Relaxed);
        self.latency_count.fetch_add(count, Ordering::Relaxed);
    }

    /// `(min, avg, max)` in ms, zeros before any request. The average is rounded half-up
    /// to 4 decimals, as `AvgMinMaxCounter.getAvg`.
    pub fn latency(&self) -> (u64, f64, u64) {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            return (0, 0.0, 0);
        }
        let sum = self.latency_sum.load(Ordering::Relaxed);
        (
            self.latency_min.load(Ordering::Relaxed),
            round4(sum as f64 / n as f64),
            self.latency_max.load(Ordering::Relaxed),
        )
    }

    /// Records the sizes of the reply frames just sent (header and body, without the length
    /// prefix), as `BufferStats.setLastBufferSize` per response: `last` is the final one.
    pub fn record_response_sizes(&self, last: i64, min: i64, max: i64) {
        self.response_last.store(last, Ordering::Relaxed);
        let cur = self.response_min.load(Ordering::Relaxed);
        if cur == -1 || min < cur {
            self.response_min.store(min, Ordering::Relaxed);
        }
        if max > self.response_max.load(Ordering::Relaxed) {
            self.response_max.store(max, Ordering::Relaxed);
        }
    }

    /// `(last, min, max)` response sizes; -1 before any response.
    pub fn response_sizes(&self) -> (i64, i64, i64) {
        (
            self.response_last.load(Ordering::Relaxed),
            self.response_min.load(Ordering::Relaxed),
            self.response_max.load(Ordering::Relaxed),
        )
    }

    /// `srst`: resets latency, packet counts, response sizes and the metric counters
    /// (`ServerStats.reset`, which also resets every `ServerMetrics` counter).
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency_min.store(u64::MAX, Ordering::Relaxed);
        self.latency_max.store(0, Ordering::Relaxed);
        self.latency_sum.store(0, Ordering::Relaxed);
        self.latency_count.store(0, Ordering::Relaxed);
        self.response_last.store(-1, Ordering::Relaxed);
        self.response_min.store(-1, Ordering::Relaxed);
        self.response_max.store(-1, Ordering::Relaxed);
        self.sessions_expired.store(0, Ordering::Relaxed);
        self.bytes_received.store(0, Ordering::Relaxed);
        self.connection_requests.store(0, Ordering::Relaxed);
        self.connections_rejected.store(0, Ordering::Relaxed);
        self.read_latency.reset();
        self.update_latency.reset();
        self.log.fsync.reset();
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// `x` rounded half-up to 4 decimals (`BigDecimal.setScale(4, HALF_UP)`).
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Every open connection's counters, by connection id (accept order).
#[derive(Debug, Default)]
pub struct ConnRegistry {
    map: Mutex<BTreeMap<u64, Arc<ConnStats>>>,
}

impl ConnRegistry {
    /// Adds a connection.
    pub fn register(&self, stats: Arc<ConnStats>) {
        self.lock().insert(stats.id, stats);
    }

    /// Removes a connection.
    pub fn unregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// The open connections, in accept order.
    pub fn snapshot(&self) -> Vec<Arc<ConnStats>> {
        self.lock().values().cloned().collect()
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnStats>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The name `FinalRequestProcessor` records as a connection's last operation (`lop`).
/// `Null` is the state of a connection that has not had a request through the pipeline
/// (a reconnected session: Java prints its null string); `Na` is `crst`'s value and that of
/// a write refused by prep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)] // the variants are the names they print
pub enum LastOp {
    Null,
    Na,
    Ping,
    Sess,
    Mult,
    Mltr,
    Crea,
    Dele,
    Setd,
    Reco,
    Seta,
    Clos,
    Sync,
    Chec,
    Exis,
    Getd,
    Setw,
    Stw2,
    Addw,
    Geta,
    Getc,
    Getacn,
    Chkw,
    Remw,
    Homi,
    Gete,
}

impl LastOp {
    const ALL: [LastOp; 26] = [
        LastOp::Null,
        LastOp::Na,
        LastOp::Ping,
        LastOp::Sess,
        LastOp::Mult,
        LastOp::Mltr,
        LastOp::Crea,
        LastOp::Dele,
        LastOp::Setd,
        LastOp::Reco,
        LastOp::Seta,
        LastOp::Clos,
        LastOp::Sync,
        LastOp::Chec,
        LastOp::Exis,
        LastOp::Getd,
        LastOp::Setw,
        LastOp::Stw2,
        LastOp::Addw,
        LastOp::Geta,
        LastOp::Getc,
        LastOp::Getacn,
        LastOp::Chkw,
        LastOp::Remw,
        LastOp::Homi,
        LastOp::Gete,
    ];

    /// The text `cons` prints.
    pub fn name(self) -> &'static str {
        match self {
            LastOp::Null => "null",
            LastOp::Na => "NA",
            LastOp::Ping => "PING",
            LastOp::Sess => "SESS",
            LastOp::Mult => "MULT",
            LastOp::Mltr => "MLTR",
            LastOp::Crea => "CREA",
            LastOp::Dele => "DELE",
            LastOp::Setd => "SETD",
            LastOp::Reco => "RECO",
            LastOp::Seta => "SETA",
            LastOp::Clos => "CLOS",
            LastOp::Sync => "SYNC",
            LastOp::Chec => "CHEC",
            LastOp::Exis => "EXIS",
            LastOp::Getd => "GETD",
            LastOp::Setw => "SETW",
            LastOp::Stw2 => "STW2",
            LastOp::Addw => "ADDW",
            LastOp::Geta => "GETA",
            LastOp::Getc => "GETC",
            LastOp::Getacn => "GETACN",
            LastOp::Chkw => "CHKW",
            LastOp::Remw => "REMW",
            LastOp::Homi => "HOMI",
            LastOp::Gete => "GETE",
        }
    }

    /// What a request of opcode `op` records, if it goes through `FinalRequestProcessor`
    /// at all (auth and SASL are answered before it and record nothing).
    pub fn of(op: OpCode) -> Option<LastOp> {
        Some(match op {
            OpCode::Auth | OpCode::Sasl => return None,
            OpCode::Ping => LastOp::Ping,
            OpCode::CreateSession => LastOp::Sess,
            OpCode::Multi => LastOp::Mult,
            OpCode::MultiRead => LastOp::Mltr,
            OpCode::Create | OpCode::Create2 | OpCode::CreateTtl | OpCode::CreateContainer => {
                LastOp::Crea
            }
            OpCode::Delete | OpCode::DeleteContainer => LastOp::Dele,
            OpCode::SetData => LastOp::Setd,
            OpCode::Reconfig => LastOp::Reco,
            OpCode::SetAcl => LastOp::Seta,
            OpCode::CloseSession => LastOp::Clos,
            OpCode::Sync => LastOp::Sync,
            OpCode::Check => LastOp::Chec,
            OpCode::Exists => LastOp::Exis,
            OpCode::GetData => LastOp::Getd,
            OpCode::SetWatches => LastOp::Setw,
            OpCode::SetWatches2 => LastOp::Stw2,
            OpCode::AddWatch => LastOp::Addw,
            OpCode::GetAcl => LastOp::Geta,
            OpCode::GetChildren | OpCode::GetChildren2 => LastOp::Getc,
            OpCode::GetAllChildrenNumber => LastOp::Getacn,
            OpCode::CheckWatches => LastOp::Chkw,
            OpCode::RemoveWatches => LastOp::Remw,
            OpCode::WhoAmI => LastOp::Homi,
            OpCode::GetEphemerals => LastOp::Gete,
            _ => LastOp::Na,
        })
    }
}

/// One connection's counters (`ServerCnxn`'s statistics fields).
#[derive(Debug)]
pub struct ConnStats {
    /// The connection id.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// Wall-clock ms when the connection was accepted (`est`).
    pub established_ms: i64,
    /// The connection carried a four-letter word (it reads nothing more: interest ops 0).
    pub four_letter: AtomicBool,
    /// Requests read and not yet answered, counting positive xids only (`queued`).
    pub queued: AtomicU64,
    /// Packets received (`recved`).
    pub received: AtomicU64,
    /// Packets sent (`sent`).
    pub sent: AtomicU64,
    /// Its session, 0 before the handshake.
    pub session_id: AtomicI64,
    /// Its session timeout, [`SESSIONLESS_CNXN_TIMEOUT_MS`] before the handshake.
    pub session_timeout: AtomicI32,
    /// Last read or write, on [`Stats::elapsed_ms`]'s clock.
    pub last_activity_ms: AtomicI64,
    last_op: AtomicU8,
    last_cxid: AtomicI64,
    last_zxid: AtomicI64,
    last_response_ms: AtomicI64,
    last_latency: AtomicI64,
    min_latency: AtomicI64,
    max_latency: AtomicI64,
    latency_count: AtomicI64,
    latency_total: AtomicI64,
}

/// A consistent-enough copy of a connection's response statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseStats {
    /// `lop`.
    pub last_op: LastOp,
    /// `lcxid` (negative: not printed).
    pub last_cxid: i64,
    /// `lzxid`.
    pub last_zxid: i64,
    /// `lresp`.
    pub last_response_ms: i64,
    /// `llat`.
    pub last_latency: i64,
    /// `minlat`.
    pub min_latency: i64,
    /// `avglat` (integer division, as `ServerCnxn.getAvgLatency`).
    pub avg_latency: i64,
    /// `maxlat`.
    pub max_latency: i64,
}

impl ConnStats {
    /// Counters of a connection accepted now. Java initialises the fields to zero and null
    /// (so `minlat` stays 0 until the first `crst`), not to `resetStats`' values.
    pub fn new(id: u64, peer: SocketAddr, now_ms: i64) -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        ConnStats {
            id,
            peer,
            established_ms: wall,
            four_letter: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            session_id: AtomicI64::new(0),
            session_timeout: AtomicI32::new(SESSIONLESS_CNXN_TIMEOUT_MS),
            last_activity_ms: AtomicI64::new(now_ms),
            last_op: AtomicU8::new(LastOp::Null as u8),
            last_cxid: AtomicI64::new(0),
            last_zxid: AtomicI64::new(0),
            last_response_ms: AtomicI64::new(0),
            last_latency: AtomicI64::new(0),
            min_latency: AtomicI64::new(0),
            max_latency: AtomicI64::new(0),
            latency_count: AtomicI64::new(0),
            latency_total: AtomicI64::new(0),
        }
    }

    /// `updateStatsForResponse`: one request answered through the pipeline. Called only by
    /// the connection's own task.
    pub fn record_response(&self, op: LastOp, cxid: i64, zxid: i64, now_ms: i64, latency: i64) {
        const R: Ordering = Ordering::Relaxed;
        if cxid >= 0 {
            self.last_cxid.store(cxid, R);
        }
        self.last_zxid.store(zxid, R);
        self.last_op.store(op as u8, R);
        self.last_response_ms.store(now_ms, R);
        self.last_latency.store(latency, R);
        if latency < self.min_latency.load(R) {
            self.min_latency.store(latency, R);
        }
        if latency > self.max_latency.load(R) {
            self.max_latency.store(latency, R);
        }
        self.latency_count.store(self.latency_count.load(R) + 1, R);
        self.latency_total
            .store(self.latency_total.load(R) + latency, R);
    }

    /// The response statistics as `cons` prints them.
    pub fn response_stats(&self) -> ResponseStats {
        const R: Ordering = Ordering::Relaxed;
        let count = self.latency_count.load(R);
        let min = self.min_latency.load(R);
        ResponseStats {
            last_op: LastOp::ALL
                .get(usize::from(self.last_op.load(R)))
                .copied()
                .unwrap_or(LastOp::Na),
            last_cxid: self.last_cxid.load(R),
            last_zxid: self.last_zxid.load(R),
            last_response_ms: self.last_response_ms.load(R),
            last_latency: self.last_latency.load(R),
            min_latency: if min == i64::MAX { 0 } else { min },
            avg_latency: if count == 0 {
                0
            } else {
                self.latency_total.load(R) / count
            },
            max_latency: self.max_latency.load(R),
        }
    }

    /// `crst` (`ServerCnxn.resetStats`).
    pub fn reset(&self) {
        const R: Ordering = Ordering::Relaxed;
        self.received.store(0, R);
        self.sent.store(0, R);
        self.min_latency.store(i64::MAX, R);
        self.max_latency.store(0, R);
        self.last_op.store(LastOp::Na as u8, R);
        self.last_cxid.store(-1, R);
        self.last_zxid.store(-1, R);
        self.last_response_ms.store(0, R);
        self.last_latency.store(0, R);
        self.latency_count.store(0, R);
        self.latency_total.store(0, R);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up_to_four_decimals() {
        assert_eq!(round4(37.0 / 36.0), 1.0278);
        assert_eq!(round4(0.8), 0.8);
        assert_eq!(round4(1.0 / 3.0), 0.3333);
        assert_eq!(round4(2.0 / 3.0), 0.6667);
    }

    #[test]
    fn connection_latency_follows_java_initial_values() {
        let c = ConnStats::new(1, "127.0.0.1:1".parse().unwrap(), 0);
        c.record_response(LastOp::Getd, 5, 9, 100, 3);
        let r = c.response_stats();
        // minLatency starts at 0 in Java, so it stays 0 until crst.
        assert_eq!((r.min_latency, r.avg_latency, r.max_latency), (0, 3, 3));
        assert_eq!((r.last_op, r.last_cxid, r.last_zxid), (LastOp::Getd, 5, 9));
        c.reset();
        let r = c.response_stats();
        assert_eq!((r.last_op.name(), r.last_cxid, r.last_zxid), ("NA", -1, -1));
        c.record_response(LastOp::Ping, -2, 9, 200, 2);
        let r = c.response_stats();
        assert_eq!((r.min_latency, r.last_cxid), (2, -1));
    }

    #[test]
    fn default_trace_mask_is_zootraces() {
        assert_eq!(DEFAULT_TRACE_MASK, 306);
    }
}
