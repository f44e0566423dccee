//! Latency histograms (µs, HDR, 3 significant digits) per op, mergeable, and their summary.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::mix::Op;

/// Highest latency tracked: 120 s in µs (larger values are clamped).
const MAX_US: u64 = 120_000_000;

/// One histogram per op kind.
#[derive(Clone)]
pub struct Latencies {
    by_op: BTreeMap<Op, Histogram<u64>>,
    /// Requests answered with a non-zero error code, per op.
    pub errors: BTreeMap<Op, u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

fn new_hist() -> Histogram<u64> {
    // 1 µs .. 120 s at 3 significant digits: fixed bounds, so creation cannot fail.
    Histogram::new_with_bounds(1, MAX_US, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

impl Latencies {
    /// Empty.
    pub fn new() -> Self {
        Latencies {
            by_op: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    /// Records one request of `op` that took `us` microseconds.
    pub fn record(&mut self, op: Op, us: u64) {
        let h = self.by_op.entry(op).or_insert_with(new_hist);
        h.saturating_record(us.clamp(1, MAX_US));
    }

    /// Counts one failed request.
    pub fn error(&mut self, op: Op) {
        *self.errors.entry(op).or_default() += 1;
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Latencies) {
        for (op, h) in &other.by_op {
            let mine = self.by_op.entry(*op).or_insert_with(new_hist);
            // Same bounds on both sides: add cannot fail.
            let _ = mine.add(h);
        }
        for (op, n) in &other.errors {
            *self.errors.entry(*op).or_default() += n;
        }
    }

    /// Requests recorded, all ops.
    pub fn count(&self) -> u64 {
        self.by_op.values().map(|h| h.len()).sum()
    }

    /// The summary of one op.
    pub fn summary(&self, op: Op) -> Option<Summary> {
        self.by_op.get(&op).map(Summary::of)
    }

    /// The summary of every op together.
    pub fn total(&self) -> Summary {
        let mut all = new_hist();
        for h in self.by_op.values() {
            let _ = all.add(h);
        }
        Summary::of(&all)
    }

    /// Summaries per op name.
    pub fn summaries(&self) -> BTreeMap<String, Summary> {
        self.by_op
            .iter()
            .map(|(op, h)| (op.name().to_string(), Summary::of(h)))
            .collect()
    }
}

/// Percentiles of one histogram, in µs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Requests.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Maximum.
    pub max_us: u64,
}

impl Summary {
    fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary {
                count: 0,
                mean_us: 0.0,
                p50_us: 0,
                p99_us: 0,
                p999_us: 0,
                max_us: 0,
            };
        }
        Summary {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_keeps_the_tail() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        for _ in 0..999 {
            a.record(Op::Get, 100);
        }
        b.record(Op::Get, 50_000);
        b.record(Op::Set, 2_000);
        b.error(Op::Set);
        a.merge(&b);
        let get = a.summary(Op::Get).unwrap();
        assert_eq!(get.count, 1000);
        assert_eq!(get.p50_us, 100);
        // The one slow request is the max, and above p99.
        assert!((49_950..=50_050).contains(&get.max_us), "{get:?}");
        assert_eq!(get.p99_us, 100);
        assert_eq!(a.summary(Op::Set).unwrap().count, 1);
        assert_eq!(a.errors[&Op::Set], 1);
        assert_eq!(a.count(), 1001);
        assert_eq!(a.total().count, 1001);
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut a = Latencies::new();
        a.record(Op::Get, 0);
        a.record(Op::Get, u64::MAX);
        let s = a.summary(Op::Get).unwrap();
        assert_eq!(s.count, 2);
        assert!(s.max_us >= MAX_US - MAX_US / 1000);
    }
}
