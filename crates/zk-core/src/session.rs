//! The session table: ids, passwords, timeouts and expiry in tick buckets
//! (`SessionTrackerImpl` + `ExpiryQueue`). Time is an argument: this module reads no clock.

use std::collections::{BTreeMap, HashMap, HashSet};

use foldhash::fast::RandomState;

/// The secret Apache ZooKeeper mixes into every session password seed.
const SUPER_SECRET: i64 = 0xB341_5C00;

/// Length of a session password.
pub const PASSWORD_LEN: usize = 16;

/// `java.util.Random`, reproduced bit for bit so that passwords match a Java server's.
#[derive(Debug, Clone)]
pub struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5_DEEC_E66D;
    const MASK: i64 = (1 << 48) - 1;

    /// `new Random(seed)`.
    pub fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        ((self.seed as u64) >> (48 - bits)) as i64 as i32
    }

    /// `nextInt()`.
    pub fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    /// `nextBytes(bytes)`.
    pub fn next_bytes(&mut self, bytes: &mut [u8]) {
        let mut i = 0;
        while i < bytes.len() {
            let mut rnd = self.next_int();
            let n = (bytes.len() - i).min(4);
            for _ in 0..n {
                bytes[i] = rnd as u8;
                i += 1;
                rnd >>= 8;
            }
        }
    }
}

/// The password of a session: 16 bytes of `new Random(sessionId ^ 0xB3415C00)`.
pub fn session_password(session_id: i64) -> [u8; PASSWORD_LEN] {
    let mut out = [0u8; PASSWORD_LEN];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut out);
    out
}

/// The first session id a server hands out: `((nowMs << 24) >>> 8) | (serverId << 56)`
/// (`SessionTrackerImpl.initializeNextSessionId`), never the container marker.
pub fn initial_session_id(now_ms: i64, server_id: i64) -> i64 {
    let mut sid = ((now_ms << 24) as u64 >> 8) as i64;
    sid |= server_id << 56;
    if sid == i64::MIN {
        sid += 1;
    }
    sid
}

/// One live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id.
    pub id: i64,
    /// Negotiated timeout in ms.
    pub timeout_ms: i32,
    /// Deadline bucket it currently sits in.
    expires_at: i64,
    /// A closeSession is on its way: no more touches.
    pub closing: bool,
}

/// Sessions by id, bucketed by expiry time rounded up to the tick.
#[derive(Debug, Clone)]
pub struct SessionTable {
    tick_ms: i64,
    next_id: i64,
    sessions: HashMap<i64, Session, RandomState>,
    buckets: BTreeMap<i64, HashSet<i64, RandomState>>,
}

impl SessionTable {
    /// An empty table; ids start at [`initial_session_id`].
    pub fn new(tick_ms: i32, now_ms: i64, server_id: i64) -> Self {
        SessionTable {
            tick_ms: i64::from(tick_ms.max(1)),
            next_id: initial_session_id(now_ms, server_id),
            sessions: HashMap::default(),
            buckets: BTreeMap::new(),
        }
    }

    fn round_up(&self, t: i64) -> i64 {
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// Hands out the next session id.
    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if self.next_id == i64::MIN {
            self.next_id += 1;
        }
        id
    }

    /// Adds (or re-adds, on restore) a session and schedules its expiry.
    pub fn add(&mut self, id: i64, timeout_ms: i32, now_ms: i64) {
        self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                expires_at: 0,
                closing: false,
            },
        );
        self.touch(id, now_ms);
    }

    /// Pushes a session's expiry out by its timeout; false if unknown or closing.
    pub fn touch(&mut self, id: i64, now_ms: i64) -> bool {
        let Some(s) = self.sessions.get(&id) else {
            return false;
        };
        if s.closing {
            return false;
        }
        let new = self.round_up(now_ms.saturating_add(i64::from(s.timeout_ms)));
        let old = s.expires_at;
        if new == old {
            return true;
        }
        if let Some(b) = self.buckets.get_mut(&old) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&old);
            }
        }
        self.buckets.entry(new).or_default().insert(id);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.expires_at = new;
        }
        true
    }

    /// A reconnect: the session takes the newly negotiated timeout and is touched; false if
    /// it is unknown or closing (`revalidateSession`).
    pub fn set_timeout_and_touch(&mut self, id: i64, timeout_ms: i32, now_ms: i64) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => s.timeout_ms = timeout_ms,
            _ => return false,
        }
        self.touch(id, now_ms)
    }

    /// Marks a session closing (a closeSession was prepared).
    pub fn set_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    /// Forgets a session (its closeSession was applied).
    pub fn remove(&mut self, id: i64) -> Option<Session> {
        let s = self.sessions.remove(&id)?;
        if let Some(b) = self.buckets.get_mut(&s.expires_at) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&s.expires_at);
            }
        }
        Some(s)
    }

    /// The session, if live.
    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// True if live and not closing.
    pub fn is_active(&self, id: i64) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.closing)
    }

    /// Sessions whose deadline is at or before `now_ms`, marked closing; the caller
    /// turns each into a closeSession txn.
    pub fn expire(&mut self, now_ms: i64) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some((&t, _)) = self.buckets.first_key_value() {
            if t > now_ms {
                break;
            }
            if let Some((_, ids)) = self.buckets.pop_first() {
                let mut ids: Vec<i64> = ids.into_iter().collect();
                ids.sort_unstable();
                for id in ids {
                    if let Some(s) = self.sessions.get_mut(&id) {
                        s.closing = true;
                        s.expires_at = 0;
                        out.push(id);
                    }
                }
            }
        }
        out
    }

    /// When the next expiry check is due, if any session is tracked.
    pub fn next_deadline(&self) -> Option<i64> {
        self.buckets.first_key_value().map(|(t, _)| *t)
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every live session.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// The expiry buckets in deadline order, each with the sessions due then (the
    /// `SessionTracker dump` of the `dump` four-letter word). Expired and closing sessions
    /// are no longer in any bucket.
    pub fn expiry_buckets(&self) -> impl Iterator<Item = (i64, impl Iterator<Item = i64> + '_)> {
        self.buckets
            .iter()
            .map(|(t, ids)| (*t, ids.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_the_jdk() {
        // new java.util.Random(42).nextInt() == -1170105035 (a well-known JDK value).
        assert_eq!(JavaRandom::new(42).next_int(), -1_170_105_035);
        let mut r = JavaRandom::new(0);
        assert_eq!(r.next_int(), -1_155_484_576);
        assert_eq!(r.next_int(), -723_955_400);
    }

    #[test]
    fn passwords_and_ids_match_a_java_server() {
        // Values printed by the JDK for the same inputs.
        let pw = session_password(0x1000_001f_0a2b_3c4d);
        let hex: String = pw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "4756347b9817e19f5b62ddd3f92c3cae");
        assert_eq!(
            initial_session_id(1_700_000_000_123, 5),
            399_641_576_159_772_672
        );
        assert_eq!((initial_session_id(1_700_000_000_123, 5) as u64) >> 56, 5);
    }

    #[test]
    fn expiry_is_bucketed_by_tick() {
        let mut t = SessionTable::new(2000, 0, 0);
        let a = t.next_session_id();
        let b = t.next_session_id();
        assert_eq!(b, a + 1);
        t.add(a, 4000, 1000); // deadline round_up(5000) = 6000
        t.add(b, 10000, 1000); // 12000
        assert_eq!(t.next_deadline(), Some(6000));
        assert!(t.expire(5999).is_empty());
        t.touch(a, 3000); // round_up(7000) = 8000
        assert!(t.expire(6000).is_empty());
        assert_eq!(t.expire(8000), vec![a]);
        assert!(!t.touch(a, 8000), "an expiring session cannot be revived");
        assert_eq!(t.expire(20000), vec![b]);
        t.remove(a);
        assert_eq!(t.len(), 1);
    }
}
