//! Quota bookkeeping (`Quotas`, `StatsTrack`): a quota on `/p` lives in
//! `/zookeeper/quota/p/zookeeper_limits`; the server keeps `/zookeeper/quota/p/zookeeper_stats`
//! up to date with the subtree's node count and data bytes as `count=N,bytes=M`.

/// Name of the node holding a quota's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// Name of the node holding a quota's usage.
pub const STAT_NODE: &str = "zookeeper_stats";

/// `/zookeeper/quota<path>/zookeeper_stats`.
pub fn stat_path(path: &[u8]) -> Vec<u8> {
    let mut v = b"/zookeeper/quota".to_vec();
    v.extend_from_slice(path);
    v.push(b'/');
    v.extend_from_slice(STAT_NODE.as_bytes());
    v
}

/// The `key=value` list of a quota node, in the text form `StatsTrack` reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    entries: Vec<(String, i64)>,
}

impl StatsTrack {
    /// Parses `count=1,bytes=2;countHardLimit=3`; unparsable pairs are skipped.
    pub fn parse(data: &[u8]) -> Self {
        let text = String::from_utf8_lossy(data);
        let mut entries: Vec<(String, i64)> = Vec::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                continue;
            };
            let v = if v.is_empty() {
                Ok(-1)
            } else {
                v.trim().parse::<i64>()
            };
            if let Ok(v) = v {
                entries.retain(|(ek, _)| ek != k);
                entries.push((k.to_string(), v));
            }
        }
        StatsTrack { entries }
    }

    /// The value of `key` (`count`, `bytes`, `countHardLimit`, `byteHardLimit`, ...), or -1.
    pub fn get(&self, key: &str) -> i64 {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map_or(-1, |(_, v)| *v)
    }

    fn set(&mut self, key: &str, v: i64) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.entries.push((key.to_string(), v)),
        }
    }

    /// `count`, or -1.
    pub fn count(&self) -> i64 {
        self.get("count")
    }
    /// `bytes`, or -1.
    pub fn bytes(&self) -> i64 {
        self.get("bytes")
    }
    /// Sets `count`.
    pub fn set_count(&mut self, v: i64) {
        self.set("count", v)
    }
    /// Sets `bytes`.
    pub fn set_bytes(&mut self, v: i64) {
        self.set("bytes", v)
    }
}

impl std::fmt::Display for StatsTrack {
    /// `count=N,bytes=M`, then other keys sorted as `=;k=v;k2=v2` (upstream's exact text,
    /// including its stray `=`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "count={},bytes={}", self.count(), self.bytes())?;
        let mut rest: Vec<&(String, i64)> = self
            .entries
            .iter()
            .filter(|(k, _)| k != "count" && k != "bytes")
            .collect();
        if !rest.is_empty() {
            f.write_str("=")?;
            rest.sort();
            for (k, v) in rest {
                write!(f, ";{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_upstream() {
        let mut s = StatsTrack::parse(b"count=3,bytes=10");
        assert_eq!((s.count(), s.bytes()), (3, 10));
        s.set_count(4);
        assert_eq!(s.to_string(), "count=4,bytes=10");
        let s = StatsTrack::parse(b"count=-1,bytes=-1;countHardLimit=5");
        assert_eq!(s.to_string(), "count=-1,bytes=-1=;countHardLimit=5");
        assert_eq!(StatsTrack::parse(b"garbage").count(), -1);
        assert_eq!(stat_path(b"/a"), b"/zookeeper/quota/a/zookeeper_stats");
    }
}
