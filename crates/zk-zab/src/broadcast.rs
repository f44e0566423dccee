//! The leader's side of broadcast as a pure state machine (`Q/Leader.java` `propose`,
//! `processAck`, `tryToCommit`, `commit`, `inform`, and the liveness loop of `lead`).
//!
//! ```text
//!  Propose(txn) ──► Send PROPOSAL to every follower, Persist(txn) locally
//!  LogDurable{z} ──► the leader's own ACK of z (AckRequestProcessor, after its fsync)
//!  Received{sid, ACK z} ──► count z for sid if sid votes ──► commit z once a quorum acked
//!                            it and z-1 is no longer outstanding: Send COMMIT to followers,
//!                            INFORM to observers, Commit{z} locally; then the next ones
//!  HalfTick ──► PING every learner; every second one: tick += 1, step down unless the
//!               leader plus the learners heard from within syncLimit ticks are a quorum
//! ```
//!
//! Only learners added with [`Broadcast::add_learner`] (after their sync, as
//! `startForwarding` adds them) get packets. Not built yet: per-learner proposal-ack timeouts
//! (`SyncLimitCheck`), reconfig (COMMITANDACTIVATE / INFORMANDACTIVATE and the next
//! verifier) and the 2-node oracle. A synced learner's REVALIDATE is handed to the node
//! ([`Command::Revalidate`]). Forwarded REQUESTs are handed to the node
//! ([`Command::Forwarded`]); forwarded syncs are answered here (`Leader.processSync`).

use std::collections::{BTreeMap, BTreeSet};

use crate::quorum::QuorumVerifier;
use crate::wire::packet::{ForwardedRequest, Packet, Revalidate, TxnPayload};

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Broadcast a new txn (its header carries the zxid, which must be the next one).
    Propose(TxnPayload),
    /// The leader's own log is fsync'd up to `zxid`.
    LogDurable {
        /// Highest durable zxid.
        zxid: i64,
    },
    /// A packet from learner `from`. A REQUEST for `sync` (opcode 9) is answered with SYNC
    /// once every proposal made before it is committed (`Leader.processSync`: at once when
    /// none is outstanding, else right after the COMMIT of the last one proposed); any
    /// other REQUEST becomes [`Command::Forwarded`]. Only synced learners are heard.
    Received {
        /// The learner's sid.
        from: i64,
        /// What it sent.
        packet: Packet,
    },
    /// Half a tickTime passed.
    HalfTick,
    /// A client of the leader itself asked for `sync`: answered with
    /// [`Command::LocalSynced`] under the same rule as a forwarded one.
    LocalSync,
}

/// Outputs, executed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send a packet to a learner.
    Send {
        /// The learner's sid.
        to: i64,
        /// The packet.
        packet: Packet,
    },
    /// Append the txn to the leader's log and fsync; answer with `LogDurable`.
    Persist(TxnPayload),
    /// Apply the txn with this zxid.
    Commit {
        /// The committed zxid.
        zxid: i64,
    },
    /// Stop leading and go back to LOOKING.
    StepDown(&'static str),
    /// A sync of the leader's own node ([`Event::LocalSync`]) may be answered now (the
    /// oldest one waiting).
    LocalSynced,
    /// A learner forwarded a client request (REQUEST): prepare it as the request of its
    /// session (`LearnerHandler` → `submitLearnerRequest`). Forwarded `sync`s are not
    /// handed out: the broadcast answers them itself (see [`Event::Received`]).
    Forwarded {
        /// The learner's sid.
        from: i64,
        /// The request.
        request: ForwardedRequest,
    },
    /// A synced learner asks whether a session is valid (REVALIDATE): the node checks and
    /// touches it and answers (`Leader.revalidateSession`).
    Revalidate {
        /// The learner's sid.
        from: i64,
        /// The session.
        session_id: i64,
        /// The client's timeout in ms.
        timeout_ms: i32,
    },
}

/// The opcode of `sync` (`OpCode.sync`).
pub(crate) const SYNC_OP: i32 = 9;

/// Whether a learner votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerKind {
    /// Gets PROPOSAL + COMMIT and may ACK.
    Follower,
    /// Gets INFORM at commit time; never counted.
    Observer,
}

struct Outstanding {
    txn: TxnPayload,
    acks: BTreeSet<i64>,
}

/// The leader in BROADCAST.
pub struct Broadcast<Q> {
    my_id: i64,
    verifier: Q,
    sync_limit: u64,
    tick: u64,
    tick_skip: bool,
    learners: BTreeMap<i64, (LearnerKind, u64)>,
    outstanding: BTreeMap<i64, Outstanding>,
    last_proposed: i64,
    last_committed: i64,
    stepped_down: bool,
    /// Syncs waiting, in arrival order (answered in that order).
    syncs: std::collections::VecDeque<SyncWaiter>,
    /// Per voting learner: PINGs sent and PING replies received on its current connection.
    pings: BTreeMap<i64, (u64, u64)>,
    /// Whether syncs wait for a quorum's confirmation (off only for the
    /// [`crate::Mutation::SyncWithoutConfirmation`] mutation: Java's rule).
    confirm_syncs: bool,
}

/// A sync waiting to be answered: for the commit of every proposal made before it arrived
/// (`Leader.processSync`), and, beyond Java (ZOOKEEPER-1675), for a quorum that confirms
/// this leader still leads after it arrived: voters that answered a PING sent after it.
struct SyncWaiter {
    /// The learner that forwarded it; `None`: the leader's own node.
    to: Option<i64>,
    /// The last zxid proposed when it arrived (0: nothing was outstanding).
    after: i64,
    /// Per voting learner, the count of PING replies that proves it answered a PING sent
    /// after the sync arrived.
    needs: BTreeMap<i64, u64>,
}

/// A broadcasting leader's learners, as `mntr` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastFigures {
    /// Synced followers (`zk_synced_followers`).
    pub synced_followers: usize,
    /// Synced observers (`zk_synced_observers`).
    pub synced_observers: usize,
    /// Forwarded syncs waiting for a commit (`zk_pending_syncs`).
    pub pending_syncs: usize,
}

impl<Q> Broadcast<Q> {
    /// The figures of now.
    pub fn figures(&self) -> BroadcastFigures {
        let count = |k: LearnerKind| {
            self.learners
                .values()
                .filter(|(kind, _)| *kind == k)
                .count()
        };
        BroadcastFigures {
            synced_followers: count(LearnerKind::Follower),
            synced_observers: count(LearnerKind::Observer),
            pending_syncs: self.syncs.iter().filter(|w| w.to.is_some()).count(),
        }
    }
}

impl<Q: QuorumVerifier> Broadcast<Q> {
    /// A leader that established `epoch` (its last committed zxid is `epoch << 32`), with
    /// `syncLimit` in ticks.
    pub fn new(my_id: i64, verifier: Q, epoch: i64, sync_limit: u64) -> Self {
        Broadcast {
            my_id,
            verifier,
            sync_limit,
            tick: 0,
            tick_skip: true,
            learners: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            last_proposed: epoch << 32,
            last_committed: epoch << 32,
            stepped_down: false,
            syncs: std::collections::VecDeque::new(),
            pings: BTreeMap::new(),
            confirm_syncs: true,
        }
    }

    /// Answers syncs without the quorum's confirmation, as Apache ZooKeeper does (the
    /// simulator's [`crate::Mutation::SyncWithoutConfirmation`]).
    pub fn skip_sync_confirmation(&mut self) {
        self.confirm_syncs = false;
    }

    /// A synced learner starts receiving broadcast traffic; it counts as heard now.
    pub fn add_learner(&mut self, sid: i64, kind: LearnerKind) {
        self.learners
            .insert(sid, (kind, self.tick + self.sync_limit));
        if kind == LearnerKind::Follower && self.verifier.is_voter(sid) {
            // A new connection: every PING on it is sent after the waiting syncs arrived.
            self.pings.insert(sid, (0, 0));
            for w in &mut self.syncs {
                w.needs.insert(sid, 1);
            }
        }
    }

    /// A learner synced up to `forward_from` starts receiving broadcast traffic, and gets
    /// the outstanding proposals after it first (`Leader.startForwarding`): without them a
    /// learner that syncs while proposals are in flight would see COMMITs for zxids it never
    /// received. Returns the PROPOSAL sends, in zxid order.
    pub fn add_learner_forwarding(
        &mut self,
        sid: i64,
        kind: LearnerKind,
        forward_from: i64,
    ) -> Vec<Command> {
        self.add_learner(sid, kind);
        if kind == LearnerKind::Observer {
            return Vec::new();
        }
        self.outstanding
            .range(forward_from.saturating_add(1)..)
            .map(|(&zxid, p)| Command::Send {
                to: sid,
                packet: Packet::Proposal {
                    zxid,
                    txn: p.txn.clone(),
                },
            })
            .collect()
    }

    /// The last zxid proposed.
    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }

    /// UPTODATE went to learner `sid`: PINGs sent before it are never answered (a learner
    /// answers PINGs from UPTODATE on, as Java's `syncWithLeader` ignores them), every one
    /// sent from now on is, in order: the counts start over, and the syncs waiting count
    /// its first answer.
    pub fn up_to_date_sent(&mut self, sid: i64) {
        if let Some(counts) = self.pings.get_mut(&sid) {
            *counts = (0, 0);
            for w in &mut self.syncs {
                w.needs.insert(sid, 1);
            }
        }
    }

    /// The learner's connection is gone.
    pub fn remove_learner(&mut self, sid: i64) {
        self.learners.remove(&sid);
        self.pings.remove(&sid);
    }

    /// The last zxid committed.
    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    /// Handles one event and returns the commands it produces, in order.
    pub fn step(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        if self.stepped_down {
            return out;
        }
        match event {
            Event::Propose(txn) => self.propose(txn, &mut out),
            Event::LogDurable { zxid } => {
                let mine: Vec<i64> = self.outstanding.range(..=zxid).map(|(z, _)| *z).collect();
                for z in mine {
                    self.ack(self.my_id, z, &mut out);
                }
            }
            Event::Received { from, packet } => {
                if let Some((_, deadline)) = self.learners.get_mut(&from) {
                    // Any packet keeps a learner synced (LearnerHandler.run).
                    *deadline = self.tick + self.sync_limit;
                }
                match packet {
                    Packet::Ack { zxid } => self.ack(from, zxid, &mut out),
                    Packet::Ping { .. } => {
                        if let Some((sent, answered)) = self.pings.get_mut(&from) {
                            // A learner answers every PING, in order, and sends no other.
                            *answered = (*answered + 1).min(*sent);
                        }
                        self.release_syncs(&mut out);
                    }
                    Packet::Revalidate(Revalidate::Request {
                        session_id,
                        timeout_ms,
                    }) if self.learners.contains_key(&from) => out.push(Command::Revalidate {
                        from,
                        session_id,
                        timeout_ms,
                    }),
                    Packet::Request(request) if self.learners.contains_key(&from) => {
                        if request.op_type == SYNC_OP {
                            self.sync(Some(from), &mut out);
                        } else {
                            out.push(Command::Forwarded { from, request });
                        }
                    }
                    _ => {}
                }
            }
            Event::HalfTick => self.half_tick(&mut out),
            Event::LocalSync => self.sync(None, &mut out),
        }
        out
    }

    fn propose(&mut self, txn: TxnPayload, out: &mut Vec<Command>) {
        let zxid = txn.header().zxid;
        if zxid & 0xffff_ffff == 0xffff_ffff {
            // ZOOKEEPER-1277: the counter would roll over; force a new epoch.
            self.stepped_down = true;
            out.push(Command::StepDown(
                "zxid counter exhausted: a new epoch is needed",
            ));
            return;
        }
        for (&sid, (kind, _)) in &self.learners {
            if *kind == LearnerKind::Follower {
                out.push(Command::Send {
                    to: sid,
                    packet: Packet::Proposal {
                        zxid,
                        txn: txn.clone(),
                    },
                });
            }
        }
        out.push(Command::Persist(txn.clone()));
        self.last_proposed = zxid;
        self.outstanding.insert(
            zxid,
            Outstanding {
                txn,
                acks: BTreeSet::new(),
            },
        );
    }

    /// `Leader.processSync`, made linearizable: the sync waits for the commit of what was
    /// proposed before it (as Java's) and for a quorum of voters answering a PING sent now,
    /// after it arrived. A deposed leader that has not noticed yet (Jepsen's stale
    /// sync+read) cannot gather that quorum: its followers left it for the new epoch.
    fn sync(&mut self, to: Option<i64>, out: &mut Vec<Command>) {
        let after = if self.outstanding.is_empty() {
            0
        } else {
            self.last_proposed
        };
        let mut needs = BTreeMap::new();
        for (&sid, (sent, _)) in &mut self.pings {
            *sent += 1;
            needs.insert(sid, *sent);
            out.push(Command::Send {
                to: sid,
                packet: Packet::Ping {
                    zxid: self.last_proposed,
                    sessions: None,
                },
            });
        }
        self.syncs.push_back(SyncWaiter { to, after, needs });
        self.release_syncs(out);
    }

    /// Answers the waiting syncs that are committed and confirmed, oldest first.
    fn release_syncs(&mut self, out: &mut Vec<Command>) {
        while let Some(w) = self.syncs.front() {
            if w.after > self.last_committed {
                break;
            }
            let mut confirmed = BTreeSet::from([self.my_id]);
            confirmed.extend(
                w.needs
                    .iter()
                    .filter(|(sid, need)| {
                        self.pings
                            .get(sid)
                            .is_some_and(|(_, answered)| answered >= need)
                    })
                    .map(|(sid, _)| *sid),
            );
            if self.confirm_syncs && !self.verifier.contains_quorum(&confirmed) {
                break;
            }
            let Some(w) = self.syncs.pop_front() else {
                break;
            };
            match w.to {
                Some(to) if self.learners.contains_key(&to) => out.push(Command::Send {
                    to,
                    packet: Packet::Sync,
                }),
                Some(_) => {}
                None => out.push(Command::LocalSynced),
            }
        }
    }

    /// `processAck` + `tryToCommit`.
    fn ack(&mut self, sid: i64, zxid: i64, out: &mut Vec<Command>) {
        if zxid & 0xffff_ffff == 0 || zxid <= self.last_committed {
            // NEWLEADER/UPTODATE acks, or already committed.
            return;
        }
        let voter = self.verifier.is_voter(sid);
        let Some(p) = self.outstanding.get_mut(&zxid) else {
            return;
        };
        if voter {
            p.acks.insert(sid);
        }
        // Commit in zxid order: this one and any later ones that were waiting on it.
        while let Some((&z, p)) = self.outstanding.first_key_value() {
            if !self.verifier.contains_quorum(&p.acks) {
                break;
            }
            let Some(p) = self.outstanding.remove(&z) else {
                break;
            };
            self.commit(z, p.txn, out);
        }
    }

    fn commit(&mut self, zxid: i64, txn: TxnPayload, out: &mut Vec<Command>) {
        self.last_committed = zxid;
        for (&sid, (kind, _)) in &self.learners {
            let packet = match kind {
                LearnerKind::Follower => Packet::Commit { zxid },
                LearnerKind::Observer => Packet::Inform {
                    zxid,
                    txn: txn.clone(),
                },
            };
            out.push(Command::Send { to: sid, packet });
        }
        out.push(Command::Commit { zxid });
        self.release_syncs(out);
    }

    fn half_tick(&mut self, out: &mut Vec<Command>) {
        if !self.tick_skip {
            self.tick += 1;
            let mut synced = BTreeSet::from([self.my_id]);
            synced.extend(
                self.learners
                    .iter()
                    .filter(|(_, (_, deadline))| self.tick <= *deadline)
                    .map(|(sid, _)| *sid),
            );
            if !self.verifier.contains_quorum(&synced) {
                self.stepped_down = true;
                out.push(Command::StepDown("not sufficient followers synced"));
                return;
            }
        }
        self.tick_skip = !self.tick_skip;
        for (sent, _) in self.pings.values_mut() {
            *sent += 1;
        }
        for &sid in self.learners.keys() {
            out.push(Command::Send {
                to: sid,
                packet: Packet::Ping {
                    zxid: self.last_proposed,
                    sessions: None,
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::Majority;
    use zk_proto::txn::TxnHeader;

    const E: i64 = 3;

    fn txn(zxid: i64) -> TxnPayload {
        let header = TxnHeader {
            client_id: 1,
            cxid: 1,
            zxid,
            time: 0,
            type_: -1,
        };
        TxnPayload::new(header, &0i32.to_be_bytes(), None)
    }

    /// Leader 1 of voters {1, 2, 3}, followers 2 and 3 synced, observer 4.
    fn leader() -> Broadcast<Majority> {
        let mut b = Broadcast::new(1, Majority::new([1, 2, 3]), E, 2);
        b.add_learner(2, LearnerKind::Follower);
        b.add_learner(3, LearnerKind::Follower);
        b.add_learner(4, LearnerKind::Observer);
        b
    }

    fn ack(from: i64, zxid: i64) -> Event {
        Event::Received {
            from,
            packet: Packet::Ack { zxid },
        }
    }

    fn send(to: i64, packet: Packet) -> Command {
        Command::Send { to, packet }
    }

    fn committed(zxid: i64) -> Vec<Command> {
        vec![
            send(2, Packet::Commit { zxid }),
            send(3, Packet::Commit { zxid }),
            send(
                4,
                Packet::Inform {
                    zxid,
                    txn: txn(zxid),
                },
            ),
            Command::Commit { zxid },
        ]
    }

    const Z1: i64 = (E << 32) | 1;
    const Z2: i64 = (E << 32) | 2;

    #[test]
    fn propose_to_followers_and_persist() {
        let mut b = leader();
        let p = |to| {
            send(
                to,
                Packet::Proposal {
                    zxid: Z1,
                    txn: txn(Z1),
                },
            )
        };
        assert_eq!(
            b.step(Event::Propose(txn(Z1))),
            vec![p(2), p(3), Command::Persist(txn(Z1))]
        );
    }

    fn request(op_type: i32) -> ForwardedRequest {
        ForwardedRequest {
            session_id: 0x77,
            cxid: 5,
            op_type,
            body: bytes::Bytes::from_static(b"\0\0\0\x01/"),
            authinfo: Some(Vec::new()),
        }
    }

    fn forwarded(from: i64, op_type: i32) -> Event {
        Event::Received {
            from,
            packet: Packet::Request(request(op_type)),
        }
    }

    /// A synced learner's REQUEST is handed to the node as it came; one from a learner that
    /// is not synced (not added) is dropped.
    #[test]
    fn a_forwarded_write_is_handed_out() {
        let mut b = leader();
        assert_eq!(
            b.step(forwarded(2, 1)),
            vec![Command::Forwarded {
                from: 2,
                request: request(1)
            }]
        );
        assert_eq!(b.step(forwarded(9, 1)), vec![]);
    }

    fn ping(zxid: i64) -> Packet {
        Packet::Ping {
            zxid,
            sessions: None,
        }
    }

    fn pong(from: i64) -> Event {
        Event::Received {
            from,
            packet: ping(0),
        }
    }

    /// A sync with nothing outstanding: Java answers at once; ours first pings the voters
    /// and answers when one of them (with the leader, a quorum of three) answers a PING
    /// sent after the sync arrived (ZOOKEEPER-1675).
    #[test]
    fn a_sync_is_answered_once_a_quorum_confirms_the_leader_after_it() {
        let mut b = leader();
        let z = E << 32;
        assert_eq!(
            b.step(forwarded(3, SYNC_OP)),
            vec![send(2, ping(z)), send(3, ping(z))]
        );
        // An observer's answer does not count; a voter's does.
        assert_eq!(b.step(pong(4)), vec![]);
        assert_eq!(b.step(pong(2)), vec![send(3, Packet::Sync)]);
    }

    /// A PING answered that was sent before the sync arrived proves nothing about the time
    /// after it: a deposed leader whose followers answered its last ping before they left
    /// must not answer a sync with its stale state.
    #[test]
    fn answers_to_pings_sent_before_the_sync_do_not_confirm_it() {
        let mut b = leader();
        b.step(Event::HalfTick); // pings 1 to 2 and 3
        let sends = b.step(forwarded(3, SYNC_OP)); // pings 2
        assert_eq!(sends.len(), 2, "{sends:?}");
        // The answers to the first pings arrive: not enough.
        assert_eq!(b.step(pong(2)), vec![]);
        assert_eq!(b.step(pong(3)), vec![]);
        // The answer to the second: confirmed.
        assert_eq!(b.step(pong(3)), vec![send(3, Packet::Sync)]);
        // A learner that went away cannot answer; a new connection's PINGs (counted from
        // its UPTODATE) all come after the waiting syncs.
        b.step(forwarded(2, SYNC_OP));
        b.remove_learner(3);
        b.add_learner(3, LearnerKind::Follower);
        b.up_to_date_sent(3);
        assert_eq!(
            b.step(Event::HalfTick),
            vec![
                send(2, ping(E << 32)),
                send(3, ping(E << 32)),
                send(4, ping(E << 32))
            ]
        );
        assert_eq!(b.step(pong(3)), vec![send(2, Packet::Sync)]);
    }

    /// A sync that arrives while proposals are outstanding is answered right after the
    /// COMMIT of the last one proposed before it (and not before), so the learner has every
    /// txn committed before its sync when the SYNC arrives; confirmed or not.
    #[test]
    fn a_sync_waits_for_the_commit_of_the_last_proposal_before_it() {
        let mut b = leader();
        b.step(Event::Propose(txn(Z1)));
        b.step(Event::Propose(txn(Z2)));
        assert_eq!(
            b.step(forwarded(2, SYNC_OP)),
            vec![send(2, ping(Z2)), send(3, ping(Z2))]
        );
        assert_eq!(b.step(pong(3)), vec![]);
        b.step(Event::LogDurable { zxid: Z2 });
        assert_eq!(b.step(ack(3, Z1)), committed(Z1));
        let mut want = committed(Z2);
        want.push(send(2, Packet::Sync));
        assert_eq!(b.step(ack(3, Z2)), want);
    }

    /// The leader's own client's sync, and syncs answered in arrival order.
    #[test]
    fn local_syncs_are_confirmed_the_same_way_in_order() {
        let mut b = leader();
        b.step(Event::LocalSync);
        b.step(forwarded(2, SYNC_OP));
        b.step(Event::LocalSync);
        assert_eq!(b.figures().pending_syncs, 1);
        // Each sync pinged again: the first answers confirm the first sync only.
        assert_eq!(b.step(pong(2)), vec![Command::LocalSynced]);
        assert_eq!(b.step(pong(3)), vec![]);
        assert_eq!(b.step(pong(2)), vec![send(2, Packet::Sync)]);
        assert_eq!(b.step(pong(3)), vec![]);
        assert_eq!(b.step(pong(2)), vec![Command::LocalSynced]);
        assert_eq!(b.figures().pending_syncs, 0);
    }

    /// The leader's own ACK only counts after its fsync: one follower's ack is not a quorum
    /// of three until the leader's log is durable.
    #[test]
    fn leader_counts_its_own_ack_after_fsync() {
        let mut b = leader();
        b.step(Event::Propose(txn(Z1)));
        assert_eq!(b.step(ack(2, Z1)), vec![]);
        assert_eq!(b.step(Event::LogDurable { zxid: Z1 }), committed(Z1));
        assert_eq!(b.last_committed(), Z1);
        // A late ack of a committed zxid changes nothing.
        assert_eq!(b.step(ack(3, Z1)), vec![]);
    }

    /// Commits go out in zxid order even when a later proposal reaches its quorum first.
    #[test]
    fn commit_in_zxid_order() {
        let mut b = leader();
        b.step(Event::Propose(txn(Z1)));
        b.step(Event::Propose(txn(Z2)));
        assert_eq!(b.step(ack(2, Z2)), vec![]);
        assert_eq!(
            b.step(ack(3, Z2)),
            vec![],
            "Z2 has a quorum but Z1 is outstanding"
        );
        assert_eq!(b.step(ack(2, Z1)), vec![]);
        let mut both = committed(Z1);
        both.extend(committed(Z2));
        assert_eq!(b.step(ack(3, Z1)), both);
    }

    /// Observers, non-members and NEWLEADER acks are never counted.
    #[test]
    fn only_voters_count() {
        let mut b = leader();
        b.step(Event::Propose(txn(Z1)));
        b.step(Event::LogDurable { zxid: Z1 });
        assert_eq!(b.step(ack(4, Z1)), vec![], "observer");
        assert_eq!(b.step(ack(9, Z1)), vec![], "non-member");
        assert_eq!(b.step(ack(2, E << 32)), vec![], "NEWLEADER ack");
        assert_eq!(b.step(ack(2, Z1)), committed(Z1));
    }

    /// Pings every half tick; without a synced quorum for more than syncLimit ticks the
    /// leader steps down.
    #[test]
    fn pings_and_step_down_without_synced_quorum() {
        let mut b = leader();
        let pings = |zxid| {
            [2, 3, 4]
                .map(|to| {
                    send(
                        to,
                        Packet::Ping {
                            zxid,
                            sessions: None,
                        },
                    )
                })
                .to_vec()
        };
        // syncLimit 2: learners added at tick 0 stay synced through tick 2.
        let mut steps = Vec::new();
        for _ in 0..5 {
            steps.push(b.step(Event::HalfTick));
        }
        assert_eq!(steps[0], pings(E << 32));
        assert_eq!(steps[4], pings(E << 32), "tick 2: still synced");
        // Follower 2 talks at tick 2; 3 stays silent. {1, 2} is still a quorum.
        b.step(Event::Received {
            from: 2,
            packet: Packet::Ping {
                zxid: E << 32,
                sessions: Some(vec![]),
            },
        });
        assert_eq!(b.step(Event::HalfTick), pings(E << 32), "tick 3: {{1, 2}}");
        b.step(Event::HalfTick);
        assert_eq!(
            b.step(Event::HalfTick),
            pings(E << 32),
            "tick 4: 2 heard at tick 2, syncLimit 2"
        );
        b.step(Event::HalfTick);
        assert_eq!(
            b.step(Event::HalfTick),
            vec![Command::StepDown("not sufficient followers synced")]
        );
        assert_eq!(b.step(Event::HalfTick), vec![], "stepped down");
    }

    /// ZOOKEEPER-1277: a proposal at counter 0xffffffff forces a new epoch instead.
    #[test]
    fn zxid_rollover_forces_new_epoch() {
        let mut b = leader();
        assert!(matches!(
            b.step(Event::Propose(txn((E << 32) | 0xffff_ffff)))[..],
            [Command::StepDown(_)]
        ));
    }

    /// Fix found by zk-sim: a follower synced while proposals are in flight gets them after
    /// its sync (`startForwarding`); before, it saw only their COMMITs and abandoned.
    #[test]
    fn late_learner_gets_outstanding_proposals() {
        let mut b = leader();
        b.step(Event::Propose(txn(Z1)));
        b.step(Event::Propose(txn(Z2)));
        let sends = b.add_learner_forwarding(5, LearnerKind::Follower, Z1);
        assert_eq!(
            sends,
            vec![send(
                5,
                Packet::Proposal {
                    zxid: Z2,
                    txn: txn(Z2)
                }
            )]
        );
        assert!(b
            .add_learner_forwarding(6, LearnerKind::Observer, 0)
            .is_empty());
    }
}
