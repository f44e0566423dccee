//! The distributions behind ZooKeeper's summaries that Ferrokeeper measures (`readlatency`,
//! `updatelatency`, `fsynctime`): what `mntr`'s `p50_…`…`p999_…` keys and the Prometheus
//! page's `{quantile="…"}` samples are computed from.
//!
//! ```text
//!   conn task / log thread ──record_all──► this thread's shard (its own Mutex, uncontended)
//!                                                  │ drained by every read
//!   mntr, monitor, /metrics ──snapshot──► Totals ◄─┘
//!                                           ├─ since srst: HDR histogram, sum, min, max (mntr)
//!                                           ├─ since start: count, sum (Prometheus _count/_sum)
//!                                           └─ the last 10 minutes: 5 age buckets (Prometheus quantiles)
//! ```
//!
//! Recording takes the recording thread's own shard lock, which only a reader ever contends
//! for, once per call: the connection task gathers a write batch's latencies in a
//! [`Samples`] buffer and records them together. Values are HDR histograms (`hdrhistogram`)
//! with 3 significant figures: integer milliseconds below 2048 are kept exactly, larger ones
//! within 0.1%.
//!
//! The two renderings follow their upstream counterparts:
//! - `mntr` (`AvgMinMaxPercentileCounter`): percentiles of every sample since the last
//!   `srst`, interpolated as dropwizard's `UniformSnapshot` does and rounded with
//!   `Math.round`. Upstream keeps a uniform random reservoir of 4096 samples; with more
//!   samples than that its figures are a sample's, ours are of every value.
//! - Prometheus (simpleclient's `Summary` as `PrometheusMetricsProvider` builds it): the
//!   quantiles of a sliding 10-minute window in 5 age buckets (rotated every 2 minutes), `NaN`
//!   when the window is empty; `_count` and `_sum` since start (the provider ignores `srst`).
//!   Samples enter the window when a read first sees them, so a sample recorded just before
//!   a rotation that no read saw leaves the window up to 2 minutes late.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// simpleclient's default `maxAgeSeconds`: the width of the quantile window.
pub const WINDOW: Duration = Duration::from_secs(600);

/// simpleclient's default `ageBuckets`.
pub const AGE_BUCKETS: usize = 5;

/// The quantiles `PrometheusMetricsProvider` asks for: `BASIC` summaries print the first,
/// `ADVANCED` ones all three.
pub const PROMETHEUS_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The percentiles `AvgMinMaxPercentileCounter` prints (`p50`, `p95`, `p99`, `p999`).
pub const MNTR_QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 0.999];

const SIGFIG: u8 = 3;

/// An empty auto-resizing histogram.
fn histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures are within hdrhistogram's range")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Samples with their exact sum and extremes (the histogram's own are bucket bounds).
#[derive(Debug, Clone)]
struct Acc {
    hist: Histogram<u64>,
    sum: u64,
    min: u64,
    max: u64,
}

impl Acc {
    fn new() -> Self {
        Acc {
            hist: histogram(),
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    fn record(&mut self, v: u64) {
        // `record` grows the histogram; `saturating_record` would clamp to its current top.
        // Only a value beyond the largest an HDR histogram holds (2⁶² ms) is clamped.
        if self.hist.record(v).is_err() {
            self.hist.saturating_record(v);
        }
        self.sum = self.sum.saturating_add(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    fn merge(&mut self, other: &Acc) {
        if other.hist.is_empty() {
            return;
        }
        // Both auto-resize, so adding cannot fail; a failure would lose these samples only.
        let _ = self.hist.add(&other.hist);
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn clear(&mut self) {
        self.hist.reset();
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }
}

/// What a read sees: the samples gathered so far, folded.
#[derive(Debug)]
struct Totals {
    since_reset: Acc,
    count_since_start: u64,
    sum_since_start: u64,
    ring: [Histogram<u64>; AGE_BUCKETS],
    current: usize,
    last_rotate: Instant,
}

impl Totals {
    fn new(now: Instant) -> Self {
        Totals {
            since_reset: Acc::new(),
            count_since_start: 0,
            sum_since_start: 0,
            ring: std::array::from_fn(|_| histogram()),
            current: 0,
            last_rotate: now,
        }
    }

    /// simpleclient's `TimeWindowQuantiles.rotate`: every `WINDOW / AGE_BUCKETS` the current
    /// (oldest) bucket is emptied and the next one becomes current.
    fn rotate(&mut self, now: Instant) {
        let step = WINDOW / AGE_BUCKETS as u32;
        let steps = now.saturating_duration_since(self.last_rotate).as_nanos() / step.as_nanos();
        let steps = u32::try_from(steps).unwrap_or(u32::MAX);
        // After AGE_BUCKETS rotations every bucket is empty: the rest only move the clock.
        for _ in 0..steps.min(AGE_BUCKETS as u32) {
            self.ring[self.current].reset();
            self.current = (self.current + 1) % AGE_BUCKETS;
        }
        self.last_rotate += step.saturating_mul(steps);
    }

    fn absorb(&mut self, fresh: &Acc, now: Instant) {
        self.rotate(now);
        if fresh.hist.is_empty() {
            return;
        }
        self.since_reset.merge(fresh);
        self.count_since_start += fresh.hist.len();
        self.sum_since_start = self.sum_since_start.saturating_add(fresh.sum);
        for h in &mut self.ring {
            let _ = h.add(&fresh.hist);
        }
    }

    fn snapshot(&self) -> Snapshot {
        let r = &self.since_reset;
        let window = &self.ring[self.current];
        Snapshot {
            count: r.hist.len(),
            sum: r.sum,
            min: if r.hist.is_empty() { 0 } else { r.min },
            max: r.max,
            percentiles: MNTR_QUANTILES.map(|q| java_round(uniform_snapshot_value(&r.hist, q))),
            count_since_start: self.count_since_start,
            sum_since_start: self.sum_since_start,
            window_quantiles: PROMETHEUS_QUANTILES.map(|q| {
                if window.is_empty() {
                    f64::NAN
                } else {
                    window.value_at_quantile(q) as f64
                }
            }),
        }
    }
}

/// One summary's figures at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Samples since `srst`.
    pub count: u64,
    /// Their sum.
    pub sum: u64,
    /// The smallest (0 with none).
    pub min: u64,
    /// The largest (0 with none).
    pub max: u64,
    /// `mntr`'s percentiles, in [`MNTR_QUANTILES`]' order (0 with no sample).
    pub percentiles: [u64; 4],
    /// Samples since start (Prometheus `_count`).
    pub count_since_start: u64,
    /// Their sum (Prometheus `_sum`).
    pub sum_since_start: u64,
    /// The window's quantiles in [`PROMETHEUS_QUANTILES`]' order, `NaN` when it is empty.
    pub window_quantiles: [f64; 3],
}

/// `Math.round` of a non-negative double.
fn java_round(x: f64) -> u64 {
    (x + 0.5).floor() as u64
}

/// The value of rank `rank` (0-based) among the samples in ascending order.
fn value_at_rank(h: &Histogram<u64>, rank: u64) -> f64 {
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_at_value();
        if seen > rank {
            return h.highest_equivalent(v.value_iterated_to()) as f64;
        }
    }
    h.max() as f64
}

/// dropwizard's `UniformSnapshot.getValue(q)` over the samples `h` holds: the value at
/// position `q × (n + 1)` (1-based), interpolated linearly between its neighbours and
/// clamped to the first and last sample; 0 with no sample.
fn uniform_snapshot_value(h: &Histogram<u64>, q: f64) -> f64 {
    let n = h.len();
    if n == 0 {
        return 0.0;
    }
    let pos = q * (n as f64 + 1.0);
    let index = pos.floor() as u64;
    if index < 1 {
        return value_at_rank(h, 0);
    }
    if index >= n {
        return value_at_rank(h, n - 1);
    }
    let lower = value_at_rank(h, index - 1);
    let upper = value_at_rank(h, index);
    lower + (pos - pos.floor()) * (upper - lower)
}

struct Inner {
    /// False when metrics are off (`NullMetricsProvider`): recording does nothing.
    on: bool,
    /// Every shard ever handed to a thread, plus the shared one (index 0) for threads
    /// whose thread-local storage is gone.
    shards: Mutex<Vec<Arc<Mutex<Acc>>>>,
    totals: Mutex<Totals>,
}

/// The thread's shard of each live distribution it has recorded into. The `Weak` pins the
/// distribution's allocation, so its address identifies it for as long as the entry lives.
type Local = Vec<(Weak<Inner>, Arc<Mutex<Acc>>)>;

thread_local! {
    static SHARDS: RefCell<Local> = const { RefCell::new(Vec::new()) };
}

/// One summary's distribution (see the module documentation).
#[derive(Clone)]
pub struct Distribution {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distribution")
            .field("on", &self.inner.on)
            .finish_non_exhaustive()
    }
}

impl Default for Distribution {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Distribution {
    /// An empty distribution; `on: false` records nothing.
    pub fn new(on: bool) -> Self {
        Distribution {
            inner: Arc::new(Inner {
                on,
                shards: Mutex::new(vec![Arc::new(Mutex::new(Acc::new()))]),
                totals: Mutex::new(Totals::new(Instant::now())),
            }),
        }
    }

    /// Whether it records.
    pub fn is_on(&self) -> bool {
        self.inner.on
    }

    /// Records `values` (one shard lock for all of them).
    pub fn record_all(&self, values: &[u64]) {
        if !self.inner.on || values.is_empty() {
            return;
        }
        let record = |acc: &Mutex<Acc>| {
            let mut acc = lock(acc);
            for &v in values {
                acc.record(v);
            }
        };
        let me = Arc::as_ptr(&self.inner);
        let local = SHARDS.try_with(|shards| {
            let mut shards = shards.borrow_mut();
            if let Some((_, shard)) = shards.iter().find(|(w, _)| w.as_ptr() == me) {
                record(shard);
                return;
            }
            // First record from this thread: drop the shards of dropped distributions and
            // register a new one.
            shards.retain(|(w, _)| w.strong_count() > 0);
            let shard = Arc::new(Mutex::new(Acc::new()));
            lock(&self.inner.shards).push(shard.clone());
            record(&shard);
            shards.push((Arc::downgrade(&self.inner), shard));
        });
        if local.is_err() {
            // The thread is exiting: its thread-local storage is gone.
            let shared = lock(&self.inner.shards).first().cloned();
            if let Some(shared) = shared {
                record(&shared);
            }
        }
    }

    /// Records one value.
    pub fn record(&self, value: u64) {
        self.record_all(&[value]);
    }

    /// The figures of now (drains every shard).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(Instant::now())
    }

    /// [`Distribution::snapshot`] at `now` (tests move the window's clock).
    pub fn snapshot_at(&self, now: Instant) -> Snapshot {
        let mut totals = lock(&self.inner.totals);
        totals.absorb(&self.drain(), now);
        totals.snapshot()
    }

    /// `srst`: forgets the samples `mntr` reads (not the Prometheus window and totals, which
    /// upstream's Prometheus provider does not reset either).
    pub fn reset(&self) {
        let mut totals = lock(&self.inner.totals);
        totals.absorb(&self.drain(), Instant::now());
        totals.since_reset.clear();
    }

    /// Every shard's samples, taken out of the shards. The shards of threads that have
    /// exited (held by this list alone) are dropped once drained, the shared one never.
    fn drain(&self) -> Acc {
        let mut fresh = Acc::new();
        let mut shards = lock(&self.inner.shards);
        for shard in shards.iter() {
            let mut s = lock(shard);
            fresh.merge(&s);
            s.clear();
        }
        let mut shared = true;
        shards.retain(|s| std::mem::take(&mut shared) || Arc::strong_count(s) > 1);
        fresh
    }
}

/// Samples gathered on a hot path and handed to a [`Distribution`] together.
#[derive(Debug)]
pub struct Samples {
    values: [u64; 64],
    len: usize,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            values: [0; 64],
            len: 0,
        }
    }
}

impl Samples {
    /// Adds `v`, recording the full buffer into `d` first when there is no room.
    pub fn push(&mut self, v: u64, d: &Distribution) {
        if self.len == self.values.len() {
            self.flush(d);
        }
        self.values[self.len] = v;
        self.len += 1;
    }

    /// Records what is gathered into `d`.
    pub fn flush(&mut self, d: &Distribution) {
        d.record_all(&self.values[..self.len]);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[u64]) -> Snapshot {
        let d = Distribution::new(true);
        d.record_all(values);
        d.snapshot()
    }

    /// Golden figures from Apache ZooKeeper 3.8's `AvgMinMaxPercentileCounter.values()`
    /// (zookeeper.jar and Debian's dropwizard metrics-core, fed the same values).
    #[test]
    fn mntr_figures_match_avg_min_max_percentile_counter() {
        let s = with(&[]);
        assert_eq!((s.count, s.sum, s.min, s.max), (0, 0, 0, 0));
        assert_eq!(s.percentiles, [0, 0, 0, 0]);
        assert!(s.window_quantiles.iter().all(|q| q.is_nan()));

        let s = with(&[7]);
        assert_eq!((s.count, s.sum, s.min, s.max), (1, 7, 7, 7));
        assert_eq!(s.percentiles, [7, 7, 7, 7]);

        // UniformSnapshot interpolates: the median of {1, 2} is 1.5, which Math.round makes 2.
        assert_eq!(with(&[1, 2]).percentiles, [2, 2, 2, 2]);

        let s = with(&[0, 0, 0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144]);
        assert_eq!((s.count, s.sum, s.min, s.max), (15, 376, 0, 144));
        assert_eq!(s.percentiles, [5, 144, 144, 144]);

        let values: Vec<u64> = (0..3000u64)
            .map(|i| (i * 37) % 101 + if i % 50 == 0 { 900 } else { 0 })
            .collect();
        let s = with(&values);
        assert_eq!((s.count, s.sum, s.min, s.max), (3000, 204_020, 0, 1000));
        assert_eq!(s.percentiles, [51, 97, 951, 996]);
    }

    #[test]
    fn quantiles_are_within_the_histograms_error() {
        // 10 000 latencies: 90% between 1 and 9 ms, 9% between 100 and 190, 1% of 5 s.
        let mut values = Vec::new();
        for i in 0..10_000u64 {
            values.push(match i % 100 {
                0 => 5000,
                1..=9 => 100 + (i % 10) * 10,
                _ => 1 + i % 9,
            });
        }
        let d = Distribution::new(true);
        // From two threads, as connection tasks on different workers record.
        let (a, b) = values.split_at(values.len() / 2);
        std::thread::scope(|s| {
            s.spawn(|| a.chunks(7).for_each(|c| d.record_all(c)));
            s.spawn(|| b.chunks(64).for_each(|c| d.record_all(c)));
        });
        let s = d.snapshot();
        values.sort_unstable();
        let exact = |q: f64| values[((q * values.len() as f64).ceil() as usize).max(1) - 1] as f64;
        assert_eq!(s.count, 10_000);
        assert_eq!(s.sum, values.iter().sum::<u64>());
        assert_eq!((s.min, s.max), (1, 5000));
        for (i, q) in PROMETHEUS_QUANTILES.iter().enumerate() {
            let (got, want) = (s.window_quantiles[i], exact(*q));
            assert!(
                (got - want).abs() <= want * 0.001,
                "q{q}: {got} vs exact {want}"
            );
        }
        // mntr's interpolated percentiles, computed over the sorted values.
        let interpolated = |q: f64| {
            let pos = q * (values.len() + 1) as f64;
            let i = pos.floor() as usize;
            let (lo, hi) = (values[i - 1] as f64, values[i] as f64);
            (lo + (pos - pos.floor()) * (hi - lo) + 0.5).floor()
        };
        for (i, q) in MNTR_QUANTILES.iter().enumerate() {
            let (got, want) = (s.percentiles[i] as f64, interpolated(*q));
            assert!(
                (got - want).abs() <= (want * 0.001).max(1.0),
                "p{q}: {got} vs exact {want}"
            );
        }
        assert!(s.percentiles[3] >= 4995, "p999 lands in the 5 s tail");
    }

    #[test]
    fn the_window_slides_and_srst_resets_only_mntr() {
        let d = Distribution::new(true);
        let t0 = Instant::now();
        d.record_all(&[10, 10, 10]);
        assert_eq!(d.snapshot_at(t0).window_quantiles[0], 10.0);
        // Samples stay in the window for at least 8 and at most 10 minutes.
        let step = WINDOW / AGE_BUCKETS as u32;
        let s = d.snapshot_at(t0 + step * 4 + Duration::from_secs(1));
        assert_eq!(s.window_quantiles[0], 10.0);
        d.record_all(&[20]);
        let s = d.snapshot_at(t0 + step * 5 + Duration::from_secs(1));
        assert_eq!(s.window_quantiles, [20.0; 3], "the first samples left");
        assert_eq!(s.count_since_start, 4);
        // Long silence empties the window, however long it lasts.
        let s = d.snapshot_at(t0 + Duration::from_secs(86_400 * 365));
        assert!(s.window_quantiles[0].is_nan());
        assert_eq!(s.count, 4);

        d.reset();
        let s = d.snapshot();
        assert_eq!((s.count, s.sum, s.percentiles), (0, 0, [0; 4]));
        assert_eq!((s.count_since_start, s.sum_since_start), (4, 50));
    }

    #[test]
    fn the_shards_of_exited_threads_are_dropped_once_drained() {
        let d = Distribution::new(true);
        for _ in 0..10 {
            // join() returns once the thread is gone, its thread-locals dropped.
            let d = d.clone();
            std::thread::spawn(move || d.record_all(&[1, 2]))
                .join()
                .unwrap();
        }
        assert_eq!(
            lock(&d.inner.shards).len(),
            11,
            "the shared shard and one per thread"
        );
        assert_eq!(d.snapshot().count, 20);
        assert_eq!(lock(&d.inner.shards).len(), 1);
        d.record(3);
        assert_eq!(lock(&d.inner.shards).len(), 2, "this thread's shard stays");
        assert_eq!(d.snapshot().count, 21);
        assert_eq!(lock(&d.inner.shards).len(), 2);
    }

    /// What recording costs per sample on the request path, the figure the benchmark's
    /// on/off comparison cannot resolve on a busy machine. A measurement, run by hand:
    /// `cargo test --release -p zk-server --lib recording_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn recording_cost() {
        const N: u64 = 2_000_000;
        for (label, batch) in [("one sample per flush (1 x 1)", 1u64), ("16 per flush", 16)] {
            let d = Distribution::new(true);
            let mut s = Samples::default();
            let t = Instant::now();
            for i in 0..N / batch {
                for j in 0..batch {
                    s.push(std::hint::black_box((i + j) % 50), &d);
                }
                s.flush(&d);
            }
            let ns = t.elapsed().as_nanos() as f64 / N as f64;
            assert_eq!(d.snapshot().count, N / batch * batch);
            eprintln!("recording, {label}: {ns:.1} ns per sample");
        }
    }

    #[test]
    fn off_records_nothing() {
        let d = Distribution::new(false);
        d.record_all(&[1, 2, 3]);
        let mut s = Samples::default();
        for v in 0..100 {
            s.push(v, &d);
        }
        s.flush(&d);
        assert_eq!(d.snapshot().count_since_start, 0);
    }

    #[test]
    fn samples_flush_when_full_and_on_demand() {
        let d = Distribution::new(true);
        let mut s = Samples::default();
        for v in 0..100 {
            s.push(v, &d);
        }
        assert_eq!(d.snapshot().count, 64, "a full buffer is recorded");
        s.flush(&d);
        let snap = d.snapshot();
        assert_eq!((snap.count, snap.sum), (100, 4950));
    }
}
