//! Ops and mixes of ops by percentage, and the cheap random numbers that pick them.

use serde::Serialize;

use crate::BenchError;

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Op {
    /// getData of a key, no watch.
    Get,
    /// setData of a key, any version.
    Set,
    /// create of a fresh node (persistent, world:anyone).
    Create,
    /// delete of a node this session created earlier (a create when it has none).
    Delete,
    /// exists of a key, no watch.
    Exists,
    /// getChildren of a key (the keys are leaves: an empty list).
    Children,
    /// multi of two setData on two keys.
    Multi,
}

impl Op {
    /// Every op, in a fixed order.
    pub const ALL: [Op; 7] = [
        Op::Get,
        Op::Set,
        Op::Create,
        Op::Delete,
        Op::Exists,
        Op::Children,
        Op::Multi,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Create => "create",
            Op::Delete => "delete",
            Op::Exists => "exists",
            Op::Children => "children",
            Op::Multi => "multi",
        }
    }

    /// The op named `s`.
    pub fn parse(s: &str) -> Result<Op, BenchError> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| BenchError::Option(format!("unknown op {s:?}")))
    }

    /// Whether the op writes (goes through the txn log).
    pub fn is_write(self) -> bool {
        matches!(self, Op::Set | Op::Create | Op::Delete | Op::Multi)
    }
}

/// Ops with weights in percent (summing to 100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// (op, cumulative percent): an op is chosen by the first entry above a draw in 0..100.
    cumulative: Vec<(Op, u32)>,
}

impl Mix {
    /// Parses `get` (100 % get) or `get=90,set=10` (weights must sum to 100).
    pub fn parse(s: &str) -> Result<Mix, BenchError> {
        let mut cumulative = Vec::new();
        let mut sum = 0u32;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, pct) = match part.split_once('=') {
                Some((n, p)) => {
                    let pct: u32 = p
                        .trim()
                        .parse()
                        .map_err(|_| BenchError::Option(format!("bad percentage in {part:?}")))?;
                    (n.trim(), pct)
                }
                None => (part, 100),
            };
            let op = Op::parse(name)?;
            if pct == 0 {
                continue;
            }
            sum += pct;
            cumulative.push((op, sum));
        }
        if sum != 100 {
            return Err(BenchError::Option(format!(
                "mix {s:?}: percentages sum to {sum}, not 100"
            )));
        }
        Ok(Mix { cumulative })
    }

    /// The op for a draw `r` in `0..100`.
    pub fn pick(&self, r: u32) -> Op {
        self.cumulative
            .iter()
            .find(|(_, c)| r < *c)
            .or(self.cumulative.last())
            .map_or(Op::Get, |(op, _)| *op)
    }

    /// The ops the mix can pick.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.cumulative.iter().map(|(op, _)| *op)
    }
}

/// SplitMix64: a tiny, fast, seedable generator (quality is ample for picking keys).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_op_and_weighted_mixes_parse() {
        let m = Mix::parse("get").unwrap();
        assert_eq!(m.pick(0), Op::Get);
        assert_eq!(m.pick(99), Op::Get);
        let m = Mix::parse("get=90, set=10").unwrap();
        assert_eq!(m.pick(89), Op::Get);
        assert_eq!(m.pick(90), Op::Set);
        assert_eq!(m.pick(99), Op::Set);
        assert_eq!(m.ops().collect::<Vec<_>>(), vec![Op::Get, Op::Set]);
    }

    #[test]
    fn bad_mixes_are_refused() {
        assert!(Mix::parse("get=90,set=20").is_err());
        assert!(Mix::parse("get=50").is_err());
        assert!(Mix::parse("frob").is_err());
        assert!(Mix::parse("get=x,set=100").is_err());
        assert!(Mix::parse("").is_err());
    }

    #[test]
    fn picks_follow_the_weights() {
        let m = Mix::parse("get=50,set=30,create=20").unwrap();
        let mut rng = Rng::new(7);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            match m.pick(rng.below(100) as u32) {
                Op::Get => counts[0] += 1,
                Op::Set => counts[1] += 1,
                Op::Create => counts[2] += 1,
                other => panic!("{other:?} is not in the mix"),
            }
        }
        // Within 1.5 points of the weights.
        for (got, want) in counts.iter().zip([50_000, 30_000, 20_000]) {
            assert!(got.abs_diff(want) < 1_500, "{counts:?}");
        }
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(1);
        assert!((0..10_000).all(|_| rng.below(3) < 3));
    }
}
