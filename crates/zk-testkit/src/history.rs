//! A checker for histories recorded by ZooKeeper clients: the proof, for the ensemble fault
//! tests, that nothing acknowledged was lost and that no client saw what ZooKeeper's
//! guarantees forbid.
//!
//! A history is what clients recorded while faults were injected: every operation with its
//! invocation and completion time (one monotonic clock shared by the recorders, e.g.
//! `CLOCK_MONOTONIC` of one machine), its outcome and what the server answered, plus the
//! final state of every node once the faults stopped. The format is JSON lines ([`Line`]).
//!
//! ZooKeeper makes checking cheap: every write has a zxid (the reply header's), zxids are
//! the total order of writes, and a read's `Stat.mzxid` names the write it observed (values
//! are unique per write, so an unacknowledged write that took effect is identified by its
//! value). No search over interleavings is needed; each rule is a scan over sorted ops.
//!
//! What [`check`] proves (each rule a [`Violation`] variant; the unit tests show each one
//! caught on a history that breaks it):
//!
//! * **Writes are linearizable** (ZooKeeper's "linearizable writes"): two acknowledged
//!   writes never share a zxid ([`Violation::DuplicateZxid`]), and a write acknowledged
//!   before another was invoked has the smaller zxid ([`Violation::WriteOrder`]).
//! * **Reads see only what was written** ([`Violation::PhantomRead`]): an observed value was
//!   written to that path by a write that did not definitely fail, was invoked before the
//!   read completed, and has the observed mzxid when it was acknowledged.
//! * **Sessions never go back in time** ([`Violation::SessionBackInTime`], and
//!   [`Violation::StaleRead`] for what a session has seen): within one session the reply
//!   zxids do not decrease, and a read reflects every write at or below the largest zxid the
//!   session was answered with before it (its own writes included: read-your-writes).
//! * **sync + read is linearizable** ([`Violation::StaleRead`]): a `sync` then a read
//!   ([`Kind::SyncGet`]) reflects every write acknowledged before the sync was invoked.
//! * **Every acknowledged write survives** ([`Violation::LostWrite`]): each node's final
//!   state reflects every acknowledged write, and **the nodes converge**
//!   ([`Violation::Diverged`]): same zxid, same data (and digest, when recorded).
//!
//! What it does not claim: plain reads (without `sync`) are not checked for recency across
//! sessions, since ZooKeeper does not promise it (a follower may lag); multi-ops, sequential
//! and ephemeral nodes are outside the recorded model.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// The most violations [`check`] reports (the first ones found, rule by rule).
pub const MAX_VIOLATIONS: usize = 50;

/// An operation's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `create` of a persistent node with `value`.
    Create,
    /// `setData` of `value` (any version).
    Set,
    /// `delete` (any version).
    Delete,
    /// `getData`.
    Get,
    /// `sync(path)` then `getData(path)` in the same session; `invoke_ns` is the sync's.
    SyncGet,
}

impl Kind {
    /// Whether it changes the tree.
    pub fn is_write(self) -> bool {
        matches!(self, Kind::Create | Kind::Set | Kind::Delete)
    }
}

/// How an operation ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server answered OK (for a read: also NONODE, recorded in `observed`).
    Ok,
    /// The server answered an error: the write definitely did not happen.
    Fail,
    /// No answer (connection loss, timeout, session expired in flight): it may or may not
    /// have happened.
    Unknown,
}

/// What a read (or a final state) showed for a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Observed {
    /// The node exists with this value, last modified at `mzxid`.
    Found {
        /// Its data.
        value: String,
        /// `Stat.mzxid`.
        mzxid: i64,
    },
    /// The node does not exist.
    NoNode,
}

/// One recorded operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The ZooKeeper session it ran in (a recorder whose session expired starts a new one).
    pub session: i64,
    /// Issue order across the whole recorder (within a session: the session's order).
    pub seq: u64,
    /// What it was.
    pub kind: Kind,
    /// The znode.
    pub path: String,
    /// The value written (create and set; unique across the history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// When it was sent (ns, the recorders' shared monotonic clock).
    pub invoke_ns: u64,
    /// When its outcome was known.
    pub complete_ns: u64,
    /// Its outcome.
    pub outcome: Outcome,
    /// The reply header's zxid (for a write: its txn's zxid), when there was a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zxid: Option<i64>,
    /// What a read showed (reads with outcome `ok` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
}

/// One node's state after the faults stopped and the ensemble settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalState {
    /// The node's name (for messages).
    pub node: String,
    /// Its last applied zxid.
    pub zxid: i64,
    /// Its tree digest, when the recorder could read one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<i64>,
    /// Every path the history touches that exists on the node, with its value and mzxid.
    /// A path the history writes and this map lacks does not exist on the node.
    pub data: BTreeMap<String, (String, i64)>,
}

/// A line of a history file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Line {
    /// An operation.
    Op(Op),
    /// A node's final state.
    Final(FinalState),
}

/// A recorded history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The operations, in any order.
    pub ops: Vec<Op>,
    /// The nodes' final states (empty: the durability and convergence rules are skipped).
    pub finals: Vec<FinalState>,
}

impl History {
    /// Parses JSON lines (blank lines are skipped).
    pub fn from_jsonl(text: &str) -> Result<History, String> {
        let mut h = History::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Line>(line) {
                Ok(Line::Op(op)) => h.ops.push(op),
                Ok(Line::Final(f)) => h.finals.push(f),
                Err(e) => return Err(format!("line {}: {e}", i + 1)),
            }
        }
        Ok(h)
    }

    /// The history as JSON lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        let lines = (self.ops.iter().cloned().map(Line::Op))
            .chain(self.finals.iter().cloned().map(Line::Final));
        for l in lines {
            // A history of plain strings and integers always serialises.
            if let Ok(s) = serde_json::to_string(&l) {
                out.push_str(&s);
                out.push('\n');
            }
        }
        out
    }
}

/// A broken guarantee, with the operations that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The history itself is unusable (a value written twice, an acknowledged write
    /// without a zxid): a recorder bug, not a server's.
    BadHistory(String),
    /// Two different writes took effect at one zxid.
    DuplicateZxid {
        /// One.
        a: Op,
        /// The other.
        b: Op,
    },
    /// `earlier` was acknowledged before `later` was invoked, yet has the larger zxid.
    WriteOrder {
        /// The write acknowledged first.
        earlier: Op,
        /// The write invoked after it.
        later: Op,
    },
    /// A read (or a node's final state, `read` then being a stand-in) showed something no
    /// write could have produced.
    PhantomRead {
        /// The read.
        read: Op,
        /// Why.
        why: String,
    },
    /// A read showed a state older than a write it had to reflect.
    StaleRead {
        /// The read.
        read: Op,
        /// The write it missed.
        missed: Op,
        /// Why it had to reflect it.
        why: &'static str,
    },
    /// A session was answered with a smaller zxid after a larger one.
    SessionBackInTime {
        /// The earlier operation (by issue order).
        earlier: Op,
        /// The later one.
        later: Op,
    },
    /// A node's final state lacks an acknowledged write.
    LostWrite {
        /// The node.
        node: String,
        /// The write.
        write: Op,
        /// How it is missing.
        why: String,
    },
    /// Two nodes ended with different states.
    Diverged {
        /// One node.
        a: String,
        /// The other.
        b: String,
        /// The first difference.
        what: String,
    },
}

fn json(op: &Op) -> String {
    serde_json::to_string(op).unwrap_or_else(|_| format!("{op:?}"))
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::BadHistory(why) => write!(f, "unusable history: {why}"),
            Violation::DuplicateZxid { a, b } => write!(
                f,
                "DuplicateZxid: two writes at one zxid:\n  {}\n  {}",
                json(a),
                json(b)
            ),
            Violation::WriteOrder { earlier, later } => write!(
                f,
                "WriteOrder: acknowledged before the second was invoked, yet a larger zxid:\n  {}\n  {}",
                json(earlier),
                json(later)
            ),
            Violation::PhantomRead { read, why } => {
                write!(f, "PhantomRead: {why}:\n  {}", json(read))
            }
            Violation::StaleRead { read, missed, why } => write!(
                f,
                "StaleRead: the read misses a write it must reflect ({why}):\n  read:   {}\n  missed: {}",
                json(read),
                json(missed)
            ),
            Violation::SessionBackInTime { earlier, later } => write!(
                f,
                "SessionBackInTime: a later reply of the session has a smaller zxid:\n  {}\n  {}",
                json(earlier),
                json(later)
            ),
            Violation::LostWrite { node, write, why } => write!(
                f,
                "LostWrite on {node}: {why}:\n  {}",
                json(write)
            ),
            Violation::Diverged { a, b, what } => write!(f, "Diverged: {a} and {b}: {what}"),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Operations in the history.
    pub ops: usize,
    /// Writes acknowledged OK.
    pub acked_writes: usize,
    /// Writes with an unknown outcome, and how many of them were seen to take effect.
    pub unknown_writes: (usize, usize),
    /// Reads checked (outcome OK).
    pub reads: usize,
    /// The violations, at most [`MAX_VIOLATIONS`].
    pub violations: Vec<Violation>,
}

impl Report {
    /// No violation.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ops: {} acknowledged writes, {} writes of unknown outcome ({} took effect), {} reads; {} violation(s)",
            self.ops,
            self.acked_writes,
            self.unknown_writes.0,
            self.unknown_writes.1,
            self.reads,
            self.violations.len()
        )?;
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}

/// Checks `history` for a test: prints the report, and on any violation writes the history
/// to a file in the temporary directory and panics with its path and `what` (the seed that
/// replays the run). Returns the report and the number of operations of unknown outcome.
pub fn assert_accepted(history: &History, what: &str) -> (Report, usize) {
    let report = check(history);
    print!("{report}");
    if !report.ok() {
        let path = std::env::temp_dir().join(format!(
            "rejected-history-{}-{}.jsonl",
            std::process::id(),
            history.ops.len()
        ));
        let saved = std::fs::write(&path, history.to_jsonl());
        panic!(
            "history rejected ({what}); it is in {} ({saved:?})",
            path.display()
        );
    }
    let unknown = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Unknown)
        .count();
    (report, unknown)
}

/// The checker's working state: indices into the history's ops.
struct Checker<'h> {
    ops: &'h [Op],
    /// Each write's zxid: acknowledged ones from their reply, unknown ones learnt from a read.
    zxid: HashMap<usize, i64>,
    /// Create/set by value.
    by_value: HashMap<&'h str, usize>,
    /// Per path: the writes whose zxid is known, by zxid.
    timeline: HashMap<&'h str, BTreeMap<i64, usize>>,
    /// Every known write zxid.
    known: std::collections::BTreeSet<i64>,
    /// Per path: deletes with an unknown outcome (may have happened at any zxid).
    unknown_deletes: HashMap<&'h str, Vec<usize>>,
    violations: Vec<Violation>,
}

/// Checks a history against ZooKeeper's guarantees (see the module docs).
pub fn check(h: &History) -> Report {
    let mut c = Checker {
        ops: &h.ops,
        zxid: HashMap::new(),
        by_value: HashMap::new(),
        timeline: HashMap::new(),
        known: Default::default(),
        unknown_deletes: HashMap::new(),
        violations: Vec::new(),
    };
    let mut report = Report {
        ops: h.ops.len(),
        ..Report::default()
    };
    if c.index() {
        c.learn_from_reads(&h.finals);
        c.unique_zxids();
        c.write_order();
        c.sessions();
        report.reads = c.reads();
        c.finals(&h.finals);
    }
    for (i, op) in h.ops.iter().enumerate() {
        if op.kind.is_write() {
            match op.outcome {
                Outcome::Ok => report.acked_writes += 1,
                Outcome::Unknown => {
                    report.unknown_writes.0 += 1;
                    if c.zxid.contains_key(&i) {
                        report.unknown_writes.1 += 1;
                    }
                }
                Outcome::Fail => {}
            }
        }
    }
    c.violations.truncate(MAX_VIOLATIONS);
    report.violations = c.violations;
    report
}

impl<'h> Checker<'h> {
    fn push(&mut self, v: Violation) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(v);
        }
    }

    /// Indexes writes by value and acknowledged zxid; false if the history is unusable.
    fn index(&mut self) -> bool {
        for (i, op) in self.ops.iter().enumerate() {
            if !op.kind.is_write() {
                continue;
            }
            if op.kind != Kind::Delete {
                let Some(v) = op.value.as_deref() else {
                    self.push(Violation::BadHistory(format!(
                        "a create/set without a value: {}",
                        json(op)
                    )));
                    return false;
                };
                if let Some(prev) = self.by_value.insert(v, i) {
                    self.push(Violation::BadHistory(format!(
                        "value {v:?} written twice: {} and {}",
                        json(&self.ops[prev]),
                        json(op)
                    )));
                    return false;
                }
            }
            match (op.outcome, op.zxid) {
                (Outcome::Ok, Some(z)) => {
                    self.zxid.insert(i, z);
                }
                (Outcome::Ok, None) => {
                    self.push(Violation::BadHistory(format!(
                        "an acknowledged write without its zxid: {}",
                        json(op)
                    )));
                    return false;
                }
                (Outcome::Unknown, _) if op.kind == Kind::Delete => {
                    self.unknown_deletes.entry(&op.path).or_default().push(i)
                }
                _ => {}
            }
        }
        true
    }

    /// Checks that an observed value could have been written, and learns the zxid of an
    /// unknown-outcome write that took effect.
    fn observed_write(&mut self, read: &Op, path: &str, value: &str, mzxid: i64) -> Option<usize> {
        let why = match self.by_value.get(value).copied() {
            _ if read.zxid.is_some_and(|h| mzxid > h) => format!(
                "mzxid 0x{mzxid:x} is above the reply's zxid 0x{:x}",
                read.zxid.unwrap_or_default()
            ),
            None => format!("value {value:?} was never written"),
            Some(w) => {
                let write = &self.ops[w];
                if write.path != path {
                    format!("value {value:?} was written to {}, not {path}", write.path)
                } else if write.outcome == Outcome::Fail {
                    format!("value {value:?} comes from a write that failed")
                } else if write.invoke_ns > read.complete_ns {
                    format!("value {value:?} was written only after the read completed")
                } else {
                    match self.zxid.get(&w).copied() {
                        Some(z) if z != mzxid => format!(
                            "value {value:?} shown with mzxid 0x{mzxid:x}, written at 0x{z:x}"
                        ),
                        Some(_) => return Some(w),
                        None => {
                            self.zxid.insert(w, mzxid);
                            return Some(w);
                        }
                    }
                }
            }
        };
        self.push(Violation::PhantomRead {
            read: read.clone(),
            why,
        });
        None
    }

    /// A stand-in read for a node's final state (completes after everything).
    fn final_read(f: &FinalState, path: &str) -> Op {
        Op {
            session: 0,
            seq: u64::MAX,
            kind: Kind::Get,
            path: path.to_string(),
            value: None,
            invoke_ns: u64::MAX,
            complete_ns: u64::MAX,
            outcome: Outcome::Ok,
            zxid: Some(f.zxid),
            observed: Some(match f.data.get(path) {
                Some((v, z)) => Observed::Found {
                    value: v.clone(),
                    mzxid: *z,
                },
                None => Observed::NoNode,
            }),
        }
    }

    fn learn_from_reads(&mut self, finals: &[FinalState]) {
        for i in 0..self.ops.len() {
            let op = &self.ops[i];
            if let (Outcome::Ok, Some(Observed::Found { value, mzxid })) =
                (op.outcome, &op.observed)
            {
                let (value, mzxid) = (value.clone(), *mzxid);
                self.observed_write(op, &op.path, &value, mzxid);
            }
        }
        for f in finals {
            for (path, (value, mzxid)) in &f.data {
                let read = Self::final_read(f, path);
                self.observed_write(&read, path, value, *mzxid);
            }
        }
        for (&w, &z) in &self.zxid {
            let op = &self.ops[w];
            self.timeline.entry(&op.path).or_default().insert(z, w);
            self.known.insert(z);
        }
    }

    fn unique_zxids(&mut self) {
        let mut seen: HashMap<i64, usize> = HashMap::new();
        let mut known: Vec<(usize, i64)> = self.zxid.iter().map(|(&w, &z)| (w, z)).collect();
        known.sort_unstable();
        for (w, z) in known {
            if let Some(prev) = seen.insert(z, w) {
                self.push(Violation::DuplicateZxid {
                    a: self.ops[prev].clone(),
                    b: self.ops[w].clone(),
                });
            }
        }
    }

    /// Acknowledged writes: real-time order implies zxid order.
    fn write_order(&mut self) {
        let acked: Vec<(usize, i64)> = self
            .ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind.is_write() && o.outcome == Outcome::Ok)
            .filter_map(|(i, o)| o.zxid.map(|z| (i, z)))
            .collect();
        let mut by_invoke = acked.clone();
        by_invoke.sort_by_key(|&(i, _)| self.ops[i].invoke_ns);
        let mut by_complete = acked;
        by_complete.sort_by_key(|&(i, _)| self.ops[i].complete_ns);
        let mut j = 0;
        let mut max: Option<(usize, i64)> = None;
        for &(b, zb) in &by_invoke {
            while j < by_complete.len()
                && self.ops[by_complete[j].0].complete_ns < self.ops[b].invoke_ns
            {
                let cand = by_complete[j];
                if max.is_none_or(|(_, z)| cand.1 > z) {
                    max = Some(cand);
                }
                j += 1;
            }
            if let Some((a, za)) = max {
                if za > zb {
                    self.push(Violation::WriteOrder {
                        earlier: self.ops[a].clone(),
                        later: self.ops[b].clone(),
                    });
                }
            }
        }
    }

    /// Within a session, reply zxids never decrease.
    fn sessions(&mut self) {
        for idx in self.session_orders().into_values() {
            // The op answered with the largest zxid so far.
            let mut best: Option<(usize, i64)> = None;
            for i in idx {
                let op = &self.ops[i];
                let Some(z) = op.zxid.filter(|_| op.outcome != Outcome::Unknown) else {
                    continue;
                };
                match best {
                    Some((b, bz)) if bz > z => self.push(Violation::SessionBackInTime {
                        earlier: self.ops[b].clone(),
                        later: self.ops[i].clone(),
                    }),
                    _ => best = Some((i, z)),
                }
            }
        }
    }

    /// Each session's ops in issue order.
    fn session_orders(&self) -> BTreeMap<i64, Vec<usize>> {
        let mut by_session: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            by_session.entry(op.session).or_default().push(i);
        }
        for idx in by_session.values_mut() {
            idx.sort_by_key(|&i| self.ops[i].seq);
        }
        by_session
    }

    /// Every read against the bound it must reflect; returns how many were checked.
    fn reads(&mut self) -> usize {
        // The largest acknowledged write zxid completed before each instant: acked writes by
        // completion time with a running maximum.
        let mut completed: Vec<(u64, i64, usize)> = self
            .ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.kind.is_write() && o.outcome == Outcome::Ok)
            .filter_map(|(i, o)| o.zxid.map(|z| (o.complete_ns, z, i)))
            .collect();
        completed.sort_unstable();
        let mut running: Vec<(u64, i64)> = Vec::with_capacity(completed.len());
        let mut m = i64::MIN;
        for &(t, z, _) in &completed {
            m = m.max(z);
            running.push((t, m));
        }
        let acked_before = |t: u64| -> Option<i64> {
            let n = running.partition_point(|&(c, _)| c < t);
            n.checked_sub(1).map(|k| running[k].1)
        };
        let mut checked = 0;
        for idx in self.session_orders().into_values() {
            let mut session_max: Option<i64> = None;
            for i in idx {
                let op = &self.ops[i];
                if matches!(op.kind, Kind::Get | Kind::SyncGet) && op.outcome == Outcome::Ok {
                    checked += 1;
                    let sync = if op.kind == Kind::SyncGet {
                        acked_before(op.invoke_ns)
                    } else {
                        None
                    };
                    if let Some(bound) = session_max {
                        self.reflects(
                            i,
                            bound,
                            "the session was answered at a larger zxid before it",
                        );
                    }
                    if let Some(bound) = sync {
                        self.reflects(i, bound, "acknowledged before its sync was invoked");
                    }
                }
                if op.outcome != Outcome::Unknown {
                    if let Some(z) = op.zxid {
                        session_max = Some(session_max.map_or(z, |m| m.max(z)));
                    }
                }
            }
        }
        checked
    }

    /// Read `r` must reflect every write to its path at or below zxid `bound`.
    fn reflects(&mut self, r: usize, bound: i64, why: &'static str) {
        let read = &self.ops[r];
        let Some(observed) = &read.observed else {
            return;
        };
        if let Some(missed) = self.missed(read, observed, bound) {
            self.push(Violation::StaleRead {
                read: read.clone(),
                missed: self.ops[missed].clone(),
                why,
            });
        }
    }

    /// The write a read showing `observed` misses if it reflects the state at some zxid at
    /// or above `bound`; `None` if some such state can look like that.
    fn missed(&self, read: &Op, observed: &Observed, bound: i64) -> Option<usize> {
        let timeline = self.timeline.get(read.path.as_str())?;
        match observed {
            Observed::Found { mzxid, .. } => {
                // Any known write to the path in (mzxid, bound] hides the observed value.
                if *mzxid >= bound {
                    return None;
                }
                timeline
                    .range(mzxid.saturating_add(1)..=bound)
                    .next_back()
                    .map(|(_, &w)| w)
            }
            Observed::NoNode => {
                let (&last_z, &last) = timeline.range(..=bound).next_back()?;
                if self.ops[last].kind == Kind::Delete {
                    return None;
                }
                // A later delete invoked before the read completed may explain it: a known
                // one above the bound, or one of unknown outcome if some zxid between the
                // creation and the read's reply zxid is not accounted for by a known write.
                let upper = read.zxid.unwrap_or(i64::MAX);
                let later_known = timeline.range(bound.saturating_add(1)..).any(|(&z, &w)| {
                    self.ops[w].kind == Kind::Delete
                        && z <= upper
                        && self.ops[w].invoke_ns <= read.complete_ns
                });
                let unknown = self
                    .unknown_deletes
                    .get(read.path.as_str())
                    .is_some_and(|d| d.iter().any(|&w| self.ops[w].invoke_ns <= read.complete_ns))
                    && self.gap(last_z, upper);
                (!later_known && !unknown).then_some(last)
            }
        }
    }

    /// Whether some zxid in (from, to] belongs to no known write.
    fn gap(&self, from: i64, to: i64) -> bool {
        if to <= from {
            return false;
        }
        let known = self.known.range(from.saturating_add(1)..=to).count() as u128;
        known < (to as i128 - from as i128) as u128
    }

    fn finals(&mut self, finals: &[FinalState]) {
        if let Some((first, rest)) = finals.split_first() {
            for f in rest {
                if let Some(what) = difference(first, f) {
                    self.push(Violation::Diverged {
                        a: first.node.clone(),
                        b: f.node.clone(),
                        what,
                    });
                }
            }
        }
        for f in finals {
            let mut acked: Vec<usize> = (0..self.ops.len())
                .filter(|&i| self.ops[i].kind.is_write() && self.ops[i].outcome == Outcome::Ok)
                .collect();
            acked.sort_by_key(|&i| self.zxid.get(&i).copied());
            if let Some(&w) = acked.last() {
                if self.zxid.get(&w).is_some_and(|&z| z > f.zxid) {
                    self.push(Violation::LostWrite {
                        node: f.node.clone(),
                        write: self.ops[w].clone(),
                        why: format!("the node's last zxid 0x{:x} is below it", f.zxid),
                    });
                }
            }
            let paths: Vec<&str> = self.timeline.keys().copied().collect();
            for path in paths {
                let read = Self::final_read(f, path);
                let Some(observed) = read.observed.clone() else {
                    continue;
                };
                if let Some(w) = self.missed(&read, &observed, f.zxid) {
                    let why = match observed {
                        Observed::Found { mzxid, .. } => {
                            format!("{path} shows the write at 0x{mzxid:x}, an older one")
                        }
                        Observed::NoNode => format!("{path} does not exist"),
                    };
                    self.push(Violation::LostWrite {
                        node: f.node.clone(),
                        write: self.ops[w].clone(),
                        why,
                    });
                }
            }
        }
    }
}

/// The first difference between two final states.
fn difference(a: &FinalState, b: &FinalState) -> Option<String> {
    if a.zxid != b.zxid {
        return Some(format!("last zxid 0x{:x} against 0x{:x}", a.zxid, b.zxid));
    }
    if let (Some(x), Some(y)) = (a.digest, b.digest) {
        if x != y {
            return Some(format!("digest {x} against {y} at zxid 0x{:x}", a.zxid));
        }
    }
    let paths = a.data.keys().chain(b.data.keys());
    for p in paths {
        let (x, y) = (a.data.get(p), b.data.get(p));
        if x != y {
            return Some(format!("{p}: {x:?} against {y:?}"));
        }
    }
    None
}

#[cfg(test)]
mod tests;
