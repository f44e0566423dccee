//! A deterministic simulator of an ensemble of [`zk_zab::peer::Peer`]s that tries to break
//! Zab, and the checkers named after its properties. In node mode
//! ([`SimConfig::nodes_mode`], `--nodes-mode`) every member is a whole `zk_node::Node`
//! (the request pipeline with Zab as its role) driven by simulated client sessions, with
//! checkers on trees, sessions and syncs besides (see `nodes.rs`: TreeDigest, AckedWrite,
//! SessionOrder, SyncRead).
//!
//! Everything is a function of the seed: one [`Rng`] drives delays, losses, duplicates,
//! partitions, crashes, clock skew, disk latency and client writes; events are ordered by
//! (simulated ms, insertion number), so a seed replays identically ([`Outcome::trace_hash`]).
//!
//! Fault model (until [`SimConfig::fault_ms`], then the network heals, crashed peers
//! restart, and losses stop):
//!
//! * election messages: random delay (so reordering), loss, duplication;
//! * quorum-port messages: TCP semantics. One connection's packets arrive in order; a lost
//!   packet breaks the connection (nothing later on it arrives), which the peers notice
//!   by their timeouts;
//! * partitions: a random group is cut from the rest, both ways, until healed;
//! * crashes: a peer loses everything not yet durable (its pending disk writes, its memory)
//!   and restarts later from its durable log and epoch files;
//! * disks: each peer has one FIFO disk queue; every write becomes durable after a random
//!   latency, and only then is the peer told;
//! * clock skew: each peer's half ticks come at its own period (±30 %);
//! * pauses ([`SimConfig::pauses`], `--pauses`; off by default): a member (the established
//!   leader half of the time) stops as a SIGSTOPped process does, for 1.5 to 8 s: nothing
//!   reaches it (messages, disk completions, client requests wait, in order) and its clock
//!   does not tick; then it resumes and gets all of them at once, its next half tick a
//!   period later. A paused leader's followers elect a new one meanwhile, so a leader that
//!   resumes still believing it leads is tested (the linearizable sync's case).
//!
//! Peer mode: clients submit opaque writes to a peer that says it is an established leader.
//! Node mode: client sessions connect to random nodes and issue create / setData / delete /
//! getData / exists and sync-then-read, moving to another node when theirs dies.
//!
//! Checkers (first violation ends the run):
//!
//! * **Agreement**: no two peers commit different txns at one zxid;
//! * **PrefixConsistency**: a peer that commits z holds every committed txn up to z, and
//!   everything it holds up to z is committed (committed histories are prefixes of each
//!   other);
//! * **TotalOrder / PrimaryOrder**: a peer commits in zxid order without gaps, each commit
//!   the entry of its log right after the previous one;
//! * **PrimaryIntegrity**: at most one peer establishes each epoch;
//! * **LeaderCompleteness**: every committed txn is in the log of every later established
//!   leader (checked at establishment and whenever a txn becomes committed);
//! * **ObserverNeverLeads**: with observers ([`SimConfig::observers`]), no observer
//!   establishes an epoch (observers are checked by every other checker as well: what they
//!   apply from INFORMs is a prefix of the agreed history, and in node mode their trees
//!   agree at equal zxids);
//! * **Liveness**: after the faults stop, a leader is established and a new write commits
//!   within [`SimConfig::liveness_ms`].

#![warn(missing_docs)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use bytes::Bytes;
use std::sync::{Arc, Mutex};
use zk_zab::learner::EpochFile;

use zk_node::Verifier;
use zk_zab::peer::{Command, Event, Message, Peer, PeerConfig, PeerRole};
use zk_zab::quorum::Majority;

mod nodes;
use zk_zab::wire::packet::{Packet, TxnPayload};
use zk_zab::Mutation;

/// SplitMix64: small, seeded, good enough to schedule faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for this seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// True with probability `p_per_mille / 1000`.
    pub fn chance(&mut self, p_per_mille: u64) -> bool {
        self.next_u64() % 1000 < p_per_mille
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed.
    pub seed: u64,
    /// Ensemble size: the voters, sids `1..=nodes`.
    pub nodes: i64,
    /// Observers besides, sids `nodes+1..=nodes+observers` (`--observers K`): they never
    /// vote and are never counted; every checker applies to them too, and one more:
    /// an observer never establishes an epoch (ObserverNeverLeads).
    pub observers: i64,
    /// Faults happen until this simulated time (ms).
    pub fault_ms: u64,
    /// After the faults, a write must commit within this many ms.
    pub liveness_ms: u64,
    /// Injected bug (test-only).
    pub mutation: Mutation,
    /// Print role changes and establishments to stderr (debugging a seed).
    pub verbose: bool,
    /// Node mode: every member is a whole zk-node (the request pipeline with Zab as its
    /// role) and simulated clients drive it; otherwise bare peers with opaque writes.
    pub nodes_mode: bool,
    /// Node mode: how many simulated clients.
    pub clients: usize,
    /// Peer mode: a restarting peer first compacts its durable log into a snapshot base
    /// (the longest prefix equal to the committed history) and comes back with
    /// `Peer::from_snapshot`, so leaders SNAP learners below their base. Off by default
    /// (the recorded seeds' traces stay as they were); ignored in node mode (zk-node
    /// rebuilds its tree from the peer's log alone).
    pub compact_on_restart: bool,
    /// Node mode: members take background snapshots every `snapCount` txns while serving
    /// (written through the simulated disk, slice by slice, so txns apply meanwhile: fuzzy),
    /// move their peer's log base to each durable one, read their base snapshot back from
    /// the disk, and restart from the newest snapshot plus the log after it. `None` (the
    /// default): no snapshots but the SNAPs' (the recorded seeds' traces stay as they were).
    pub snap_count: Option<u64>,
    /// Process pauses (see the fault model). Off by default (the recorded seeds' traces
    /// stay as they were).
    pub pauses: bool,
    /// Node mode: how many of the [`SimConfig::clients`] only read (the last ones).
    pub readers: usize,
}

impl SimConfig {
    /// Defaults for `seed` and `nodes`.
    pub fn new(seed: u64, nodes: i64) -> SimConfig {
        SimConfig {
            seed,
            nodes,
            observers: 0,
            fault_ms: 20_000,
            liveness_ms: 60_000,
            mutation: Mutation::None,
            verbose: false,
            nodes_mode: false,
            clients: 3,
            compact_on_restart: false,
            snap_count: None,
            pauses: false,
            readers: 0,
        }
    }

    /// Node mode's defaults for `seed` and `nodes`.
    pub fn nodes_mode(seed: u64, nodes: i64) -> SimConfig {
        SimConfig {
            nodes_mode: true,
            ..SimConfig::new(seed, nodes)
        }
    }
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The first violated property and what broke it.
    pub violation: Option<String>,
    /// Hash of every event processed (time, peer, kind, commands): equal runs, equal hash.
    pub trace_hash: u64,
    /// Simulated ms from the start to the first established leader.
    pub first_election_ms: Option<u64>,
    /// Simulated ms from the end of faults to a leader established and a write committed.
    pub recovery_ms: Option<u64>,
    /// Distinct committed txns.
    pub committed: usize,
    /// Events processed.
    pub events: u64,
    /// Node mode: client writes acknowledged.
    pub acked: usize,
    /// Node mode: client reads (and syncs) answered.
    pub reads: usize,
    /// SNAPs sent by a leader whose log starts after a snapshot base.
    pub snaps_from_base: usize,
    /// Commits applied by observers (each checked like a voter's).
    pub observer_commits: usize,
    /// Node mode: REVALIDATE answers learners got (a client reconnecting to a session its
    /// new node did not hold).
    pub revalidations: usize,
    /// Node mode with [`SimConfig::snap_count`]: background snapshots made durable.
    pub snapshots: usize,
    /// Node mode: the longest log a peer held in memory after a step.
    pub max_log: usize,
    /// Pauses that ended with the member resuming ([`SimConfig::pauses`]).
    pub pauses: usize,
}

const TICK_MS: u64 = 200;
/// Chance (per mille) of a crash right after a step that sent while writes were in flight.
const CRASH_POINT_PER_MILLE: u64 = 10;
const HALF_TICK_MS: u64 = TICK_MS / 2;

#[derive(Debug)]
enum Ev {
    Deliver {
        from: i64,
        to: i64,
        msg: Message,
    },
    Tick {
        id: i64,
        inc: u64,
    },
    Disk {
        id: i64,
        inc: u64,
    },
    Crash,
    Restart {
        id: i64,
    },
    Partition,
    Heal,
    Calm,
    Client,
    /// QuorumCnxManager reconnected the election link: its last message goes out again.
    Resend {
        from: i64,
        to: i64,
    },
    /// Node mode: a simulated client's next move.
    ClientOp {
        client: usize,
    },
    /// Node mode: client traffic to a node's incarnation.
    ToNode {
        id: i64,
        inc: u64,
        input: zk_node::Input,
    },
    /// Node mode: a node's answer reaches a client's connection.
    ToClient {
        client: usize,
        conn: u64,
        out: zk_node::Outgoing,
    },
    /// A member stops (SIGSTOP): see the fault model.
    Pause,
    /// The paused member `id` (incarnation `inc`) resumes.
    Resume {
        id: i64,
        inc: u64,
    },
    /// The peer timer `timer` of member `id`'s incarnation `inc` fires (`SetTimer`; a
    /// replaced one is ignored by the peer). Held while the member is paused, as a stopped
    /// process sees its overdue poll time out when it runs again.
    Timer {
        id: i64,
        inc: u64,
        timer: u64,
    },
}

impl Ev {
    fn kind(&self) -> u64 {
        match self {
            Ev::Deliver { .. } => 1,
            Ev::Tick { .. } => 2,
            Ev::Disk { .. } => 3,
            Ev::Crash => 4,
            Ev::Restart { .. } => 5,
            Ev::Partition => 6,
            Ev::Heal => 7,
            Ev::Calm => 8,
            Ev::Client => 9,
            Ev::Resend { .. } => 10,
            Ev::ClientOp { .. } => 11,
            Ev::ToNode { .. } => 12,
            Ev::ToClient { .. } => 13,
            Ev::Pause => 14,
            Ev::Resume { .. } => 15,
            Ev::Timer { .. } => 16,
        }
    }

    /// The member an event happens at, if it is one a paused process would not see.
    fn at_member(&self) -> Option<i64> {
        match self {
            Ev::Deliver { to, .. } => Some(*to),
            Ev::Tick { id, .. }
            | Ev::Disk { id, .. }
            | Ev::ToNode { id, .. }
            | Ev::Timer { id, .. } => Some(*id),
            _ => None,
        }
    }
}

enum DiskOp {
    Append(Vec<TxnPayload>),
    Truncate(i64),
    Epoch(EpochFile, i64),
    /// The peer's log after `base` replaces the durable state (node mode: with the
    /// snapshot's bytes).
    Snapshot(i64, Option<Bytes>, Vec<TxnPayload>),
    /// Node mode: a background snapshot's bytes, named after its zxid.
    SnapWrite(i64, Bytes),
}

/// A live member: a bare peer (peer mode) or a whole node with its peer (node mode).
enum Role {
    Peer(Box<Peer<Verifier>>),
    Node(Box<zk_node::Node>),
}

struct Node {
    role: Option<Role>,
    inc: u64,
    /// Durable state: what a restart recovers. `log` holds the entries after `base`, the
    /// zxid of the snapshot (0: none); the history up to `base` is the committed one (it
    /// was checked when compacted).
    base: i64,
    /// Node mode: the snapshot at `base` (zk-tree's file image).
    snap: Option<Bytes>,
    /// Node mode with snapshots: every durable snapshot by zxid (the node reads them).
    snaps: Arc<Mutex<BTreeMap<i64, Bytes>>>,
    /// Node mode: the background snapshot being written (its zxid and bytes so far).
    writing: Option<(i64, Vec<u8>)>,
    log: Vec<TxnPayload>,
    accepted: i64,
    current: i64,
    disk: VecDeque<DiskOp>,
    half_tick_ms: u64,
    /// Last zxid committed in this role session (TotalOrder).
    last_commit: Option<i64>,
}

impl Node {
    fn up(&self) -> bool {
        self.role.is_some()
    }

    fn peer(&self) -> Option<&Peer<Verifier>> {
        match self.role.as_ref()? {
            Role::Peer(p) => Some(p),
            Role::Node(n) => n.peer(),
        }
    }
}

/// The simulator.
pub struct Sim {
    cfg: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slab: Vec<Option<Ev>>,
    nodes: BTreeMap<i64, Node>,
    /// Links cut by a partition (from, to).
    cut: BTreeSet<(i64, i64)>,
    /// Quorum connections broken by a loss: (from, to, conn).
    dead: BTreeSet<(i64, i64, u64)>,
    /// The last election message per link (QuorumCnxManager's queue of one and
    /// `lastMessageSent`), sent again when the link comes back.
    last_election: BTreeMap<(i64, i64), Message>,
    /// Last delivery time per link, for FIFO quorum traffic.
    fifo: BTreeMap<(i64, i64), u64>,
    faults: bool,
    committed: BTreeMap<i64, u64>,
    leaders: BTreeMap<i64, i64>,
    hash: u64,
    /// SNAPs sent by a leader with a snapshot base.
    snaps_from_base: usize,
    observer_commits: usize,
    revalidations: usize,
    /// Node mode: background snapshots made durable.
    snapshots: usize,
    /// Node mode: the longest log a peer held in memory after a step.
    max_log: usize,
    events: u64,
    first_election: Option<u64>,
    calm_at: Option<u64>,
    /// The last client cxid before the faults stopped.
    probe: Option<i64>,
    recovered: Option<u64>,
    /// Node mode: the simulated clients and the client-side checkers' state.
    world: nodes::World,
    /// Paused members and what reached them meanwhile, in order (their half ticks are
    /// dropped: a stopped process does not tick).
    paused: BTreeMap<i64, Vec<Ev>>,
    /// Pauses ended by a resume.
    pauses: usize,
    violation: Option<String>,
    cxid: i32,
}

fn txn_hash(t: &TxnPayload) -> u64 {
    fnv(0xcbf2_9ce4_8422_2325, t.bytes())
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Sim {
    /// A fresh ensemble of empty peers.
    pub fn new(cfg: SimConfig) -> Sim {
        let mut rng = Rng::new(cfg.seed);
        let members: Vec<i64> = (1..=cfg.nodes + cfg.observers).collect();
        let mut nodes = BTreeMap::new();
        for &id in &members {
            // Clock skew: each peer's half tick lasts 70..=130 ms of simulated time.
            let half_tick_ms = rng.range(HALF_TICK_MS * 7 / 10, HALF_TICK_MS * 13 / 10);
            nodes.insert(
                id,
                Node {
                    role: None,
                    inc: 0,
                    base: 0,
                    snap: None,
                    snaps: Arc::default(),
                    writing: None,
                    log: Vec::new(),
                    accepted: 0,
                    current: 0,
                    disk: VecDeque::new(),
                    half_tick_ms,
                    last_commit: None,
                },
            );
        }
        let mut sim = Sim {
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            slab: Vec::new(),
            nodes,
            cut: BTreeSet::new(),
            dead: BTreeSet::new(),
            fifo: BTreeMap::new(),
            last_election: BTreeMap::new(),
            faults: true,
            committed: BTreeMap::new(),
            leaders: BTreeMap::new(),
            hash: 0xcbf2_9ce4_8422_2325,
            snaps_from_base: 0,
            observer_commits: 0,
            revalidations: 0,
            snapshots: 0,
            max_log: 0,
            events: 0,
            first_election: None,
            calm_at: None,
            probe: None,
            recovered: None,
            world: nodes::World::default(),
            paused: BTreeMap::new(),
            pauses: 0,
            violation: None,
            cxid: 0,
            cfg,
        };
        for id in members {
            let at = sim.rng.range(0, 50);
            sim.schedule(at, Ev::Restart { id });
        }
        let fault_ms = sim.cfg.fault_ms;
        sim.schedule(fault_ms, Ev::Calm);
        for ev in [Ev::Crash, Ev::Partition, Ev::Client] {
            let at = sim.rng.range(100, 1500);
            sim.schedule(at, ev);
        }
        if sim.cfg.pauses {
            let at = sim.rng.range(1000, 4000);
            sim.schedule(at, Ev::Pause);
        }
        if sim.cfg.nodes_mode {
            sim.start_clients();
        }
        sim
    }

    fn schedule(&mut self, after: u64, ev: Ev) {
        self.seq += 1;
        self.slab.push(Some(ev));
        self.queue
            .push(Reverse((self.now + after, self.seq, self.slab.len() - 1)));
    }

    fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(what);
        }
    }

    /// Runs to the end (a violation, or liveness met or missed); bounded by simulated time
    /// and by an event budget.
    pub fn run(mut self) -> Outcome {
        let end = self.cfg.fault_ms + self.cfg.liveness_ms;
        let budget = 5_000_000u64;
        while self.violation.is_none() && self.recovered.is_none() && self.events < budget {
            let Some(Reverse((at, _, slot))) = self.queue.pop() else {
                break;
            };
            if at > end {
                break;
            }
            self.now = at;
            let Some(ev) = self.slab.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            self.events += 1;
            self.hash = fnv(self.hash, &at.to_le_bytes());
            self.hash = fnv(self.hash, &ev.kind().to_le_bytes());
            self.event(ev);
        }
        if self.violation.is_none() && self.recovered.is_none() {
            let state: Vec<String> = self
                .nodes
                .iter()
                .map(|(id, n)| match n.peer() {
                    Some(p) => format!(
                        "{id}: {:?} epochs {:?} last {:#x} established {:?}",
                        p.role(),
                        p.epochs(),
                        p.last_zxid(),
                        p.established_epoch()
                    ),
                    None => format!("{id}: down"),
                })
                .collect();
            self.fail(format!(
                "Liveness: no write committed within {} ms after the faults stopped ({})",
                self.cfg.liveness_ms,
                state.join("; ")
            ));
        }
        Outcome {
            seed: self.cfg.seed,
            violation: self.violation,
            trace_hash: self.hash,
            first_election_ms: self.first_election,
            recovery_ms: self.recovered,
            committed: self.committed.len(),
            events: self.events,
            acked: self.world.acked,
            reads: self.world.reads,
            snaps_from_base: self.snaps_from_base,
            observer_commits: self.observer_commits,
            revalidations: self.revalidations,
            snapshots: self.snapshots,
            max_log: self.max_log,
            pauses: self.pauses,
        }
    }

    fn up(&self) -> Vec<i64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.up())
            .map(|(id, _)| *id)
            .collect()
    }

    fn event(&mut self, ev: Ev) {
        if let Some(id) = ev.at_member() {
            if let Some(held) = self.paused.get_mut(&id) {
                if !matches!(ev, Ev::Tick { .. }) {
                    held.push(ev);
                }
                return;
            }
        }
        match ev {
            Ev::Deliver { from, to, msg } => {
                if self.cfg.verbose {
                    match &msg {
                        Message::Quorum { conn, packet }
                            if !matches!(
                                packet,
                                Packet::Proposal { .. }
                                    | Packet::Ping { .. }
                                    | Packet::Commit { .. }
                                    | Packet::Ack { .. }
                            ) =>
                        {
                            eprintln!("{:>6} ms {from}=>{to} conn {conn:x}: {packet:?}", self.now);
                        }
                        Message::Snapshot { conn, zxid, .. } => {
                            eprintln!(
                                "{:>6} ms {from}=>{to} conn {conn:x}: SNAPSHOT {zxid:#x}",
                                self.now
                            );
                        }
                        _ => {}
                    }
                    if let Message::Election(n) = &msg {
                        eprintln!(
                            "{:>6} ms {from}->{to}: state {} leader {} zxid {:#x} round {} epoch {}",
                            self.now, n.state, n.leader, n.zxid, n.election_epoch, n.peer_epoch
                        );
                    }
                }
                if self.nodes.get(&to).is_some_and(|n| n.up()) {
                    self.step(to, Event::Received { from, message: msg });
                }
            }
            Ev::Tick { id, inc } => {
                let Some(n) = self.nodes.get(&id) else { return };
                if n.inc != inc || !n.up() {
                    return;
                }
                let period = n.half_tick_ms;
                self.schedule(period, Ev::Tick { id, inc });
                self.step(id, Event::Tick);
                if self.cfg.nodes_mode {
                    self.node_input(id, zk_node::Input::Tick);
                }
            }
            Ev::Disk { id, inc } => self.disk_done(id, inc),
            Ev::Timer { id, inc, timer } => {
                let Some(n) = self.nodes.get(&id) else { return };
                if n.inc == inc && n.up() {
                    self.step(id, Event::TimerFired { id: timer });
                }
            }
            Ev::Crash => {
                if !self.faults {
                    return;
                }
                let up = self.up();
                if !up.is_empty() {
                    let victim = up[self.rng.range(0, up.len() as u64 - 1) as usize];
                    self.crash(victim);
                    let back = self.rng.range(200, 4000);
                    self.schedule(back, Ev::Restart { id: victim });
                }
                let next = self.rng.range(500, 4000);
                self.schedule(next, Ev::Crash);
            }
            Ev::Restart { id } => self.restart(id),
            Ev::Partition => {
                if !self.faults {
                    return;
                }
                let ids: Vec<i64> = self.nodes.keys().copied().collect();
                let side: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(400))
                    .collect();
                for &a in &side {
                    for &b in &ids {
                        if !side.contains(&b) {
                            self.cut.insert((a, b));
                            self.cut.insert((b, a));
                        }
                    }
                }
                let heal = self.rng.range(300, 5000);
                self.schedule(heal, Ev::Heal);
                let next = self.rng.range(1000, 6000);
                self.schedule(next, Ev::Partition);
            }
            Ev::Heal => self.heal(),
            Ev::Pause => self.pause(),
            Ev::Resume { id, inc } => self.resume(id, inc),
            Ev::Calm => {
                self.faults = false;
                self.heal();
                let paused: Vec<(i64, u64)> = self
                    .paused
                    .keys()
                    .filter_map(|id| self.nodes.get(id).map(|n| (*id, n.inc)))
                    .collect();
                for (id, inc) in paused {
                    self.resume(id, inc);
                }
                self.calm_at = Some(self.now);
                // Liveness waits for the commit of a write submitted from now on.
                self.probe = Some(i64::from(self.cxid));
                let down: Vec<i64> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| !n.up())
                    .map(|(id, _)| *id)
                    .collect();
                for id in down {
                    self.restart(id);
                }
            }
            Ev::Client => self.client(),
            Ev::ClientOp { client } => self.client_op(client),
            Ev::ToNode { id, inc, input } => {
                if self.nodes.get(&id).is_some_and(|n| n.inc == inc && n.up()) {
                    self.node_input(id, input);
                }
            }
            Ev::ToClient { client, conn, out } => self.client_recv(client, conn, out),
            Ev::Resend { from, to } => {
                let up = |id: i64| self.nodes.get(&id).is_some_and(|n| n.up());
                if up(from) && up(to) && !self.cut.contains(&(from, to)) {
                    if let Some(msg) = self.last_election.get(&(from, to)).cloned() {
                        let d = self.rng.range(1, 40);
                        self.schedule(d, Ev::Deliver { from, to, msg });
                    }
                }
            }
        }
    }

    /// Partitions end: the election links reconnect and resend their last message.
    fn heal(&mut self) {
        let cut = std::mem::take(&mut self.cut);
        for (from, to) in cut {
            let d = self.rng.range(1, 200);
            self.schedule(d, Ev::Resend { from, to });
        }
    }

    fn client(&mut self) {
        if self.cfg.nodes_mode {
            // Node mode: the simulated sessions write (nodes.rs); nothing is proposed past
            // a node's pipeline.
            return;
        }
        let leaders: Vec<i64> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.peer().is_some_and(|p| p.established_epoch().is_some()))
            .map(|(id, _)| *id)
            .collect();
        if !leaders.is_empty() {
            let to = leaders[self.rng.range(0, leaders.len() as u64 - 1) as usize];
            self.cxid += 1;
            let cxid = self.cxid;
            self.step(
                to,
                Event::ClientPropose {
                    client_id: 1,
                    cxid,
                    body: Bytes::copy_from_slice(&cxid.to_be_bytes()),
                },
            );
        }
        let next = self.rng.range(20, 200);
        self.schedule(next, Ev::Client);
    }

    /// A member stops: the established leader half of the time, else any live member.
    fn pause(&mut self) {
        if !self.faults {
            return;
        }
        let up: Vec<i64> = self
            .up()
            .into_iter()
            .filter(|id| !self.paused.contains_key(id))
            .collect();
        let leader = up.iter().copied().find(|id| {
            self.nodes
                .get(id)
                .and_then(Node::peer)
                .is_some_and(|p| p.established_epoch().is_some())
        });
        let victim = match leader {
            Some(l) if self.rng.chance(500) => Some(l),
            _ if up.is_empty() => None,
            _ => Some(up[self.rng.range(0, up.len() as u64 - 1) as usize]),
        };
        if let Some(id) = victim {
            if self.cfg.verbose {
                eprintln!("{:>6} ms peer {id}: paused", self.now);
            }
            self.paused.insert(id, Vec::new());
            let inc = self.nodes.get(&id).map_or(0, |n| n.inc);
            let back = self.rng.range(1500, 8000);
            self.schedule(back, Ev::Resume { id, inc });
        }
        let next = self.rng.range(3000, 9000);
        self.schedule(next, Ev::Pause);
    }

    /// A paused member resumes: what reached it meanwhile is handled now, in order, and its
    /// half ticks start again a period later.
    fn resume(&mut self, id: i64, inc: u64) {
        let Some(n) = self.nodes.get(&id) else { return };
        if n.inc != inc {
            return;
        }
        let Some(held) = self.paused.remove(&id) else {
            return;
        };
        if self.cfg.verbose {
            eprintln!(
                "{:>6} ms peer {id}: resumed ({} events held)",
                self.now,
                held.len()
            );
        }
        self.pauses += 1;
        let period = n.half_tick_ms;
        self.schedule(period, Ev::Tick { id, inc });
        // Handled here, before anything else queued for this instant reaches the member:
        // scheduled anew they would come after events sent later (a client's next request
        // before the one that waited, say).
        for ev in held {
            self.events += 1;
            self.hash = fnv(self.hash, &ev.kind().to_le_bytes());
            self.event(ev);
        }
    }

    fn crash(&mut self, id: i64) {
        if self.cfg.verbose {
            eprintln!("{:>6} ms peer {id}: crash", self.now);
        }
        // A paused process killed: what waited for it is lost with it.
        self.paused.remove(&id);
        if let Some(n) = self.nodes.get_mut(&id) {
            n.role = None;
            n.disk.clear();
            n.writing = None;
            n.inc += 1;
            n.last_commit = None;
        }
        self.clients_lose(id);
    }

    fn restart(&mut self, id: i64) {
        let nodes = self.cfg.nodes;
        let mutation = self.cfg.mutation;
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        if n.up() {
            return;
        }
        n.inc += 1;
        let verifier: Verifier = Arc::new(Majority::new(1..=nodes));
        let mut pc = PeerConfig::new(id, verifier);
        pc.tick_ms = TICK_MS;
        pc.init_limit = 10;
        pc.sync_limit = 5;
        pc.max_notification_interval_ms = 1600;
        pc.mutation = mutation;
        if id > nodes {
            pc.learner_type = zk_zab::election::LearnerType::Observer;
        }
        if self.cfg.compact_on_restart && !self.cfg.nodes_mode {
            // The longest durable prefix equal to the committed history becomes the base.
            let mut x = n.base;
            for t in &n.log {
                let z = t.header().zxid;
                let same = self.committed.get(&z) == Some(&txn_hash(t));
                if !same || self.committed.range(x + 1..z).next().is_some() {
                    break;
                }
                x = z;
            }
            n.base = x;
            n.log.retain(|t| t.header().zxid > x);
        }
        let snap_count = self.cfg.snap_count.filter(|_| self.cfg.nodes_mode);
        if snap_count.is_some() {
            // The newest snapshot and the log after it, as ensemble_parts starts.
            let newest = n.snaps.lock().ok().and_then(|m| m.keys().last().copied());
            if let Some(z) = newest.filter(|&z| z > n.base) {
                n.base = z;
                n.log.retain(|t| t.header().zxid > z);
            }
        }
        let peer = Peer::from_snapshot(pc, n.base, n.log.clone(), n.accepted, n.current, n.inc);
        n.role = Some(if self.cfg.nodes_mode {
            let snaps = snap_count.map(|c| (c, n.snaps.clone()));
            let mut node = nodes::new_node(id, peer, self.now, snaps);
            if let Some(data) = n
                .snap
                .clone()
                .filter(|_| n.base > 0 && snap_count.is_none())
            {
                node.keep_base_snapshot(n.base, data);
            }
            Role::Node(Box::new(node))
        } else {
            Role::Peer(Box::new(peer))
        });
        n.last_commit = None;
        let (inc, period) = (n.inc, n.half_tick_ms);
        self.schedule(period, Ev::Tick { id, inc });
        // The others' election links to it come up: their last messages arrive.
        let peers: Vec<i64> = self.nodes.keys().copied().filter(|&p| p != id).collect();
        for from in peers {
            let d = self.rng.range(1, 200);
            self.schedule(d, Ev::Resend { from, to: id });
        }
        self.step(id, Event::Start);
    }

    fn disk_done(&mut self, id: i64, inc: u64) {
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        if n.inc != inc {
            return;
        }
        let Some(op) = n.disk.pop_front() else {
            return;
        };
        let event = match op {
            DiskOp::Append(txns) => {
                let last = n.log.last().map_or(n.base, |t| t.header().zxid);
                let zxid = txns.last().map_or(last, |t| t.header().zxid);
                n.log
                    .extend(txns.into_iter().filter(|t| t.header().zxid > last));
                Some(Event::LogDurable { zxid })
            }
            DiskOp::Truncate(z) => {
                n.log.retain(|t| t.header().zxid <= z);
                None
            }
            DiskOp::Epoch(file, epoch) => {
                match file {
                    EpochFile::Accepted => n.accepted = epoch,
                    EpochFile::Current => n.current = epoch,
                }
                Some(Event::EpochDurable { file, epoch })
            }
            DiskOp::Snapshot(base, snap, txns) => {
                if let (Some(data), Ok(mut m)) = (snap.clone(), n.snaps.lock()) {
                    m.insert(base, data);
                }
                n.base = base;
                n.snap = snap;
                n.log = txns;
                Some(Event::SnapshotDurable)
            }
            DiskOp::SnapWrite(zxid, data) => {
                if let Ok(mut m) = n.snaps.lock() {
                    m.insert(zxid, data);
                }
                self.snapshots += 1;
                let after = [
                    zk_node::Input::SnapshotWritten { zxid },
                    zk_node::Input::SnapshotDone,
                ];
                if !n.disk.is_empty() {
                    let lat = self.rng.range(1, 30);
                    self.schedule(lat, Ev::Disk { id, inc });
                }
                for input in after {
                    self.node_input(id, input);
                }
                return;
            }
        };
        if !n.disk.is_empty() {
            let lat = self.rng.range(1, 30);
            self.schedule(lat, Ev::Disk { id, inc });
        }
        if let Some(e) = event {
            self.step(id, e);
        }
    }

    fn disk(&mut self, id: i64, op: DiskOp) {
        let Some(n) = self.nodes.get_mut(&id) else {
            return;
        };
        n.disk.push_back(op);
        if n.disk.len() == 1 {
            let inc = n.inc;
            let lat = self.rng.range(1, 30);
            self.schedule(lat, Ev::Disk { id, inc });
        }
    }

    fn send(&mut self, from: i64, to: i64, msg: Message) {
        if matches!(msg, Message::Snapshot { .. })
            && self.nodes[&from].peer().is_some_and(|p| p.base() > 0)
        {
            self.snaps_from_base += 1;
        }
        let conn = match &msg {
            Message::Election(_) => None,
            Message::Quorum { conn, .. } | Message::Snapshot { conn, .. } => Some(*conn),
        };
        let cut = self.cut.contains(&(from, to));
        match conn {
            None => {
                self.last_election.insert((from, to), msg.clone());
                if cut {
                    return;
                }
                if self.faults && self.rng.chance(50) {
                    // The connection broke; QuorumCnxManager reconnects and resends.
                    let d = self.rng.range(100, 1000);
                    self.schedule(d, Ev::Resend { from, to });
                    return;
                }
                let copies = if self.faults && self.rng.chance(30) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let d = self.rng.range(1, 40);
                    self.schedule(
                        d,
                        Ev::Deliver {
                            from,
                            to,
                            msg: msg.clone(),
                        },
                    );
                }
            }
            Some(conn) => {
                if self.dead.contains(&(from, to, conn)) {
                    return;
                }
                if cut || (self.faults && self.rng.chance(5)) {
                    // A loss breaks the TCP connection: nothing later on it arrives.
                    self.dead.insert((from, to, conn));
                    return;
                }
                let d = self.rng.range(1, 40);
                let at = (self.now + d).max(self.fifo.get(&(from, to)).copied().unwrap_or(0));
                self.fifo.insert((from, to), at);
                let after = at - self.now;
                self.schedule(after, Ev::Deliver { from, to, msg });
            }
        }
    }

    fn step(&mut self, id: i64, event: Event) {
        let cmds = match self.nodes.get_mut(&id).and_then(|n| n.role.as_mut()) {
            None => return,
            Some(Role::Peer(peer)) => peer.step(event),
            Some(Role::Node(_)) => return self.node_input(id, zk_node::Input::Peer(event)),
        };
        self.commands(id, cmds);
    }

    /// Carries out a peer's commands (a bare peer's, or those a node passed on).
    fn commands(&mut self, id: i64, cmds: Vec<Command>) {
        self.hash = fnv(self.hash, &id.to_le_bytes());
        self.hash = fnv(self.hash, &(cmds.len() as u64).to_le_bytes());
        let mut commits = Vec::new();
        let mut established = Vec::new();
        // Crash points: now and then a peer dies right after a step that sent something
        // while its disk writes were still in flight (the window durability bugs live in).
        let sends = cmds.iter().any(|c| matches!(c, Command::Send { .. }));
        for c in cmds {
            match c {
                Command::Send { to, message } => self.send(id, to, message),
                Command::SetTimer {
                    id: timer,
                    after_ms,
                } => {
                    // On the member's clock, which runs at its own rate (its half tick).
                    if let Some(n) = self.nodes.get(&id) {
                        let (inc, after) = (n.inc, after_ms * n.half_tick_ms / HALF_TICK_MS);
                        self.schedule(after, Ev::Timer { id, inc, timer });
                    }
                }
                // Peer mode: the checkers take a peer's history up to its base from the
                // committed txns, so the snapshot's bytes carry nothing.
                Command::SendSnapshot { to, conn, zxid } => self.send(
                    id,
                    to,
                    Message::Snapshot {
                        conn,
                        zxid,
                        data: Bytes::new(),
                    },
                ),
                Command::Persist(txns) => self.disk(id, DiskOp::Append(txns)),
                Command::Truncate { zxid } => self.disk(id, DiskOp::Truncate(zxid)),
                Command::WriteAcceptedEpoch(e) => {
                    self.disk(id, DiskOp::Epoch(EpochFile::Accepted, e))
                }
                Command::WriteCurrentEpoch(e) => {
                    self.disk(id, DiskOp::Epoch(EpochFile::Current, e))
                }
                Command::TakeSnapshot(txns) => {
                    // The peer's base as it is after this step (a SNAP set it), and in node
                    // mode the snapshot's bytes.
                    let (base, snap) = match self.nodes[&id].role.as_ref() {
                        Some(Role::Node(n)) => (
                            n.peer().map_or(0, |p| p.base()),
                            n.base_snapshot().map(|(_, d)| d),
                        ),
                        Some(Role::Peer(p)) => (p.base(), None),
                        None => (0, None),
                    };
                    self.disk(id, DiskOp::Snapshot(base, snap, txns))
                }
                Command::LoadSnapshot { .. } => {}
                Command::Commit { zxid } => commits.push(zxid),
                Command::RoleChanged(role) => {
                    if self.cfg.verbose {
                        eprintln!("{:>6} ms peer {id}: {role:?}", self.now);
                    }
                    self.hash = fnv(self.hash, format!("{role:?}").as_bytes());
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.last_commit = None;
                    }
                }
                Command::Revalidated { .. } => self.revalidations += 1,
                Command::Forwarded { .. }
                | Command::SessionsTouched(_)
                | Command::Synced
                | Command::Revalidate { .. } => {}
                Command::Established { epoch } => {
                    if self.cfg.verbose {
                        eprintln!("{:>6} ms peer {id}: established epoch {epoch}", self.now);
                    }
                    established.push(epoch)
                }
            }
        }
        if id > self.cfg.nodes {
            self.observer_commits += commits.len();
        }
        for z in commits {
            self.hash = fnv(self.hash, &z.to_le_bytes());
            self.check_commit(id, z);
        }
        for e in established {
            self.check_established(id, e);
        }
        let in_flight = self.nodes.get(&id).is_some_and(|n| !n.disk.is_empty());
        if self.faults && sends && in_flight && self.rng.chance(CRASH_POINT_PER_MILLE) {
            self.crash(id);
            let back = self.rng.range(200, 4000);
            self.schedule(back, Ev::Restart { id });
        }
    }

    /// The peer's history: the committed txns up to its base, then its log.
    fn log_of(&self, id: i64) -> Vec<(i64, u64)> {
        self.nodes[&id]
            .peer()
            .map(|p| {
                let base = p.base();
                self.committed
                    .range(..=base)
                    .map(|(x, h)| (*x, *h))
                    .chain(p.log().iter().map(|t| (t.header().zxid, txn_hash(t))))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn check_commit(&mut self, id: i64, z: i64) {
        let log = self.log_of(id);
        let Some(pos) = log.iter().position(|(x, _)| *x == z) else {
            return self.fail(format!(
                "PrefixConsistency: peer {id} committed {z:#x}, which is not in its log"
            ));
        };
        // TotalOrder / PrimaryOrder: the entry right after the previous commit.
        if let Some(prev) = self.nodes[&id].last_commit {
            let ok = pos > 0 && log[pos - 1].0 == prev;
            if !ok {
                return self.fail(format!(
                    "TotalOrder: peer {id} committed {z:#x} after {prev:#x} (not the next txn)"
                ));
            }
        }
        if let Some(n) = self.nodes.get_mut(&id) {
            n.last_commit = Some(z);
        }
        // Agreement and PrefixConsistency: everything up to z is committed, identically.
        let mut newly = Vec::new();
        for &(x, h) in &log[..=pos] {
            match self.committed.get(&x) {
                Some(&g) if g != h => {
                    return self.fail(format!(
                        "Agreement: peer {id} holds a different txn at committed zxid {x:#x}"
                    ))
                }
                Some(_) => {}
                None => newly.push((x, h)),
            }
        }
        let held: BTreeSet<i64> = log[..=pos].iter().map(|(x, _)| *x).collect();
        if let Some(missing) = self
            .committed
            .range(..=z)
            .map(|(x, _)| *x)
            .find(|x| !held.contains(x))
        {
            if self.cfg.verbose {
                let zs: Vec<String> = log.iter().map(|(x, _)| format!("{x:#x}")).collect();
                eprintln!("peer {id} log: {}", zs.join(" "));
            }
            return self.fail(format!(
                "PrefixConsistency: peer {id} committed {z:#x} without committed txn {missing:#x}"
            ));
        }
        for &(x, h) in &newly {
            self.committed.insert(x, h);
        }
        let zs: Vec<i64> = newly.iter().map(|(x, _)| *x).collect();
        self.note_committed(id, &zs);
        let cxid = self.nodes[&id]
            .peer()
            .and_then(|p| p.log().iter().find(|t| t.header().zxid == z))
            .map_or(0, |t| i64::from(t.header().cxid));
        if !self.cfg.nodes_mode && self.probe.is_some_and(|p| cxid > p) && self.recovered.is_none()
        {
            if let Some(calm) = self.calm_at {
                self.recovered = Some(self.now - calm);
            }
        }
        // LeaderCompleteness for the txns that just became committed.
        let leaders: Vec<(i64, i64)> = self
            .nodes
            .iter()
            .filter_map(|(&sid, n)| Some((sid, n.peer()?.established_epoch()?)))
            .collect();
        for (sid, epoch) in leaders {
            let theirs: BTreeMap<i64, u64> = self.log_of(sid).into_iter().collect();
            for &(x, h) in &newly {
                if (x >> 32) < epoch && theirs.get(&x) != Some(&h) {
                    return self.fail(format!(
                        "LeaderCompleteness: committed {x:#x} is not in the log of leader {sid} of epoch {epoch}"
                    ));
                }
            }
        }
    }

    fn check_established(&mut self, id: i64, epoch: i64) {
        if self.first_election.is_none() {
            self.first_election = Some(self.now);
        }
        if id > self.cfg.nodes {
            return self.fail(format!(
                "ObserverNeverLeads: observer {id} established epoch {epoch}"
            ));
        }
        if let Some(&other) = self.leaders.get(&epoch) {
            if other != id {
                return self.fail(format!(
                    "PrimaryIntegrity: peers {other} and {id} both established epoch {epoch}"
                ));
            }
        }
        self.leaders.insert(epoch, id);
        let log = self.log_of(id);
        let theirs: BTreeMap<i64, u64> = log.iter().copied().collect();
        // Txns of earlier epochs only: a leader that resumes from a pause may learn late
        // that a quorum acked its NEWLEADER (the acks waited while it was stopped); its
        // epoch was established when they were sent, before any later epoch began.
        if let Some((x, _)) = self
            .committed
            .iter()
            .find(|(x, h)| (**x >> 32) < epoch && theirs.get(x) != Some(h))
        {
            let x = *x;
            return self.fail(format!(
                "LeaderCompleteness: committed {x:#x} is not in the log of leader {id} of epoch {epoch}"
            ));
        }
        // A quorum acked NEWLEADER: the leader's whole initial history is committed now
        // (the new primary delivers it before broadcasting).
        let zs: Vec<i64> = log.iter().map(|(x, _)| *x).collect();
        for (x, h) in log {
            self.committed.insert(x, h);
        }
        self.note_committed(id, &zs);
    }

    /// Roles now (for reports and tests).
    pub fn roles(&self) -> Vec<(i64, Option<PeerRole>)> {
        self.nodes
            .iter()
            .map(|(&id, n)| (id, n.peer().map(|p| p.role())))
            .collect()
    }
}

/// Runs one seed.
pub fn run(cfg: SimConfig) -> Outcome {
    Sim::new(cfg).run()
}

/// The command that replays a seed.
pub fn replay_command(seed: u64, nodes: i64) -> String {
    format!("cargo run -p zk-sim --release -- --seed {seed} --nodes {nodes}")
}

/// The `p`th percentile (0..=100) of sorted values.
pub fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (sorted.len() - 1) * p.min(100) / 100;
    sorted.get(i).copied()
}
