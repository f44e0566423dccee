//! FastLeaderElection as a pure state machine (`Q/FastLeaderElection.java`, `Q/Vote.java`).
//!
//! ```text
//!  Event::Start{zxid, epoch} ──► LOOKING: round += 1, vote for self, Send to every voter
//!  Event::Received{from, n}  ──► WorkerReceiver rules (answer non-voters, answer LOOKING
//!                                peers when not LOOKING) then lookForLeader's rules
//!  Event::TimerFired{id}     ──► notification timeout: resend, double the wait (max 60 s)
//!                                or the end of the finalize wait: Decided
//!  Commands: Send{to, n} · SetTimer{id, after_ms} (replaces the previous timer) · Decided
//! ```
//!
//! One timer at a time, as Java has one `recvqueue.poll(timeout)` at a time: `SetTimer`
//! replaces the previous one; a `TimerFired` with an older id is ignored. Java's poll restarts
//! after every message, so every processed notification re-arms the timer.
//!
//! Messages to self: like `QuorumCnxManager.toSend`, the machine emits `Send { to: my_id }`
//! and the shell loops it back as `Received { from: my_id }`.
//!
//! Deliberately not modelled (Java does, noted for later): reconfig via the notification's
//! config (the text is carried, never acted on), the 2-node oracle (`QuorumOracleMaj`), the
//! last-seen verifier of a pending reconfig, `connectAll` on timeout (the shell reconnects;
//! the machine always resends, which the per-peer queue of one makes equivalent).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::quorum::QuorumVerifier;
use crate::wire::election::{Notification, ServerState, NOTIFICATION_VERSION};

/// `finalizeWait` and the first notification timeout (`minNotificationInterval`), in ms.
pub const FINALIZE_WAIT_MS: u64 = 200;
/// `maxNotificationInterval`, in ms.
pub const MAX_NOTIFICATION_INTERVAL_MS: u64 = 60_000;

/// `QuorumPeer.LearnerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerType {
    /// May vote (if a voting member) and follow.
    Participant,
    /// Never votes; observes.
    Observer,
}

/// A vote (`Vote.java`): who, at which zxid and epoch, in which round, from which state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// Proposed leader.
    pub id: i64,
    /// Its last logged zxid.
    pub zxid: i64,
    /// The round it was cast in (-1 before any election).
    pub election_epoch: i64,
    /// The proposed leader's current epoch.
    pub peer_epoch: i64,
    /// The sender's state.
    pub state: ServerState,
    /// Notification version (0 for the legacy forms).
    pub version: i32,
}

impl Vote {
    fn looking(id: i64, zxid: i64, election_epoch: i64, peer_epoch: i64) -> Vote {
        Vote {
            id,
            zxid,
            election_epoch,
            peer_epoch,
            state: ServerState::Looking,
            version: 0,
        }
    }

    /// `Vote.equals`, the equality votes are counted with: all four numbers when either side
    /// is LOOKING; otherwise id and peerEpoch (ZOOKEEPER-1732), or only the id when exactly
    /// one side has version 0 (mixed-version ensembles).
    pub fn same_as(&self, other: &Vote) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.id == other.id
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else if (self.version > 0) ^ (other.version > 0) {
            self.id == other.id
        } else {
            self.id == other.id && self.peer_epoch == other.peer_epoch
        }
    }
}

/// What the election made of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Lead the ensemble.
    Leading,
    /// Follow `Decided::vote.id`.
    Following,
    /// Observe `Decided::vote.id`.
    Observing,
}

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start an election (`lookForLeader`), with what the node has on disk now.
    Start {
        /// Last logged zxid (-1 for an untrusted empty database, ZOOKEEPER-261).
        last_logged_zxid: i64,
        /// The `currentEpoch` file.
        current_epoch: i64,
    },
    /// A notification from `from` (possibly from this node itself, looped back).
    Received {
        /// Sender sid (known from its connection's initial message).
        from: i64,
        /// The decoded payload.
        notification: Notification,
    },
    /// The timer set with this id went off.
    TimerFired {
        /// The id from `SetTimer`.
        id: u64,
    },
    /// After sync the elected vote's peerEpoch becomes the new epoch
    /// (`QuorumPeer.updateElectionVote`), so joiners see a consistent (id, peerEpoch).
    UpdateElectionVote {
        /// The new epoch.
        peer_epoch: i64,
    },
}

/// Outputs, to be executed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this notification to `to` (loop it back when `to` is this node).
    Send {
        /// Recipient sid.
        to: i64,
        /// Payload (encode with `NotificationForm::V2`).
        notification: Notification,
    },
    /// Fire `TimerFired { id }` after `after_ms`, replacing any earlier timer.
    SetTimer {
        /// Identifies this timer.
        id: u64,
        /// Delay in ms.
        after_ms: u64,
    },
    /// The election is over.
    Decided {
        /// The final vote (id = the leader).
        vote: Vote,
        /// This node's role.
        role: Role,
    },
}

/// What the single timer is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    None,
    /// `recvqueue.poll(notTimeout)` of the main loop.
    Notification,
    /// `recvqueue.poll(finalizeWait)` after a quorum agreed.
    Finalize,
}

/// Static settings of one node.
pub struct ElectionConfig<Q> {
    /// This node's sid.
    pub my_id: i64,
    /// Participant or observer.
    pub learner_type: LearnerType,
    /// The committed configuration.
    pub verifier: Q,
    /// Its text (`QuorumVerifier.toString()`), sent in every notification.
    pub config_text: Bytes,
    /// `finalizeWait` / `minNotificationInterval` in ms.
    pub finalize_wait_ms: u64,
    /// `maxNotificationInterval` in ms.
    pub max_notification_interval_ms: u64,
}

impl<Q> ElectionConfig<Q> {
    /// Defaults as Java's: 200 ms, 60 s.
    pub fn new(my_id: i64, learner_type: LearnerType, verifier: Q, config_text: Bytes) -> Self {
        ElectionConfig {
            my_id,
            learner_type,
            verifier,
            config_text,
            finalize_wait_ms: FINALIZE_WAIT_MS,
            max_notification_interval_ms: MAX_NOTIFICATION_INTERVAL_MS,
        }
    }
}

/// One node's election state.
pub struct Election<Q> {
    cfg: ElectionConfig<Q>,
    state: ServerState,
    logical_clock: i64,
    /// (leader, zxid, peerEpoch) currently proposed.
    proposal: (i64, i64, i64),
    /// This node's own initial vote for the current election.
    init: (i64, i64, i64),
    /// `QuorumPeer.currentVote`: what non-LOOKING answers carry.
    current_vote: Vote,
    recvset: BTreeMap<i64, Vote>,
    outofelection: BTreeMap<i64, Vote>,
    not_timeout: u64,
    wait: Wait,
    timer_id: u64,
}

impl<Q: QuorumVerifier> Election<Q> {
    /// A node that has not started electing; `currentVote` is (myid, zxid, epoch) as
    /// `QuorumPeer.startLeaderElection` sets it.
    pub fn new(cfg: ElectionConfig<Q>, last_logged_zxid: i64, current_epoch: i64) -> Self {
        let not_timeout = cfg.finalize_wait_ms;
        let me = cfg.my_id;
        Election {
            cfg,
            state: ServerState::Looking,
            logical_clock: 0,
            proposal: (me, last_logged_zxid, current_epoch),
            init: (me, last_logged_zxid, current_epoch),
            current_vote: Vote::looking(me, last_logged_zxid, -1, current_epoch),
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            not_timeout,
            wait: Wait::None,
            timer_id: 0,
        }
    }

    /// The node's state.
    pub fn state(&self) -> ServerState {
        self.state
    }
    /// The logical clock (election round).
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }
    /// The current vote (the last decision, or the startup vote).
    pub fn current_vote(&self) -> Vote {
        self.current_vote
    }

    /// Handles one event and returns the commands it produces, in order.
    pub fn step(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Start {
                last_logged_zxid,
                current_epoch,
            } => self.start(last_logged_zxid, current_epoch, &mut out),
            Event::Received { from, notification } => self.receive(from, notification, &mut out),
            Event::TimerFired { id } => self.timer(id, &mut out),
            Event::UpdateElectionVote { peer_epoch } => {
                self.current_vote.peer_epoch = peer_epoch;
            }
        }
        out
    }

    fn is_voter(&self, sid: i64) -> bool {
        self.cfg.verifier.is_voter(sid)
    }

    fn start(&mut self, zxid: i64, epoch: i64, out: &mut Vec<Command>) {
        self.state = ServerState::Looking;
        self.recvset.clear();
        self.outofelection.clear();
        self.not_timeout = self.cfg.finalize_wait_ms;
        self.logical_clock += 1;
        // getInitId / getInitLastLoggedZxid / getPeerEpoch: MIN_VALUE for a non-voter.
        self.init = if self.is_voter(self.cfg.my_id) {
            (self.cfg.my_id, zxid, epoch)
        } else {
            (i64::MIN, i64::MIN, i64::MIN)
        };
        self.proposal = self.init;
        self.send_notifications(out);
        self.arm(Wait::Notification, out);
    }

    fn arm(&mut self, wait: Wait, out: &mut Vec<Command>) {
        self.timer_id += 1;
        self.wait = wait;
        let after_ms = match wait {
            Wait::Notification => self.not_timeout,
            Wait::Finalize => self.cfg.finalize_wait_ms,
            Wait::None => return,
        };
        out.push(Command::SetTimer {
            id: self.timer_id,
            after_ms,
        });
    }

    fn notification(&self, state: ServerState, vote: (i64, i64, i64), round: i64) -> Notification {
        Notification {
            state: state.code(),
            leader: vote.0,
            zxid: vote.1,
            election_epoch: round,
            peer_epoch: vote.2,
            version: NOTIFICATION_VERSION,
            config: Some(self.cfg.config_text.clone()),
        }
    }

    /// `sendNotifications`: the proposal to every voter, self included.
    fn send_notifications(&self, out: &mut Vec<Command>) {
        let n = self.notification(ServerState::Looking, self.proposal, self.logical_clock);
        for to in self.cfg.verifier.voting_members() {
            out.push(Command::Send {
                to,
                notification: n.clone(),
            });
        }
    }

    fn timer(&mut self, id: u64, out: &mut Vec<Command>) {
        if id != self.timer_id || self.state != ServerState::Looking {
            return;
        }
        match self.wait {
            Wait::Notification => {
                self.send_notifications(out);
                self.not_timeout = self
                    .not_timeout
                    .saturating_mul(2)
                    .min(self.cfg.max_notification_interval_ms);
                self.arm(Wait::Notification, out);
            }
            Wait::Finalize => {
                let vote = Vote::looking(
                    self.proposal.0,
                    self.proposal.1,
                    self.logical_clock,
                    self.proposal.2,
                );
                self.decide(self.proposal.0, vote, out);
            }
            Wait::None => {}
        }
    }

    /// `WorkerReceiver.run`.
    fn receive(&mut self, from: i64, n: Notification, out: &mut Vec<Command>) {
        if !self.is_voter(from) {
            // Observers and non-voting members learn the current vote right away.
            let v = self.current_vote;
            out.push(Command::Send {
                to: from,
                notification: self.notification(
                    self.state,
                    (v.id, v.zxid, v.peer_epoch),
                    self.logical_clock,
                ),
            });
            return;
        }
        let Some(sender_state) = n.server_state() else {
            return;
        };
        if self.state == ServerState::Looking {
            let stale_looking =
                sender_state == ServerState::Looking && n.election_epoch < self.logical_clock;
            self.look(from, sender_state, &n, out);
            if stale_looking {
                // The reply uses the proposal as it is now (getVote()).
                out.push(Command::Send {
                    to: from,
                    notification: self.notification(self.state, self.proposal, self.logical_clock),
                });
            }
        } else if sender_state == ServerState::Looking {
            let v = self.current_vote;
            out.push(Command::Send {
                to: from,
                notification: self.notification(
                    self.state,
                    (v.id, v.zxid, v.peer_epoch),
                    v.election_epoch,
                ),
            });
        }
    }

    /// `totalOrderPredicate`: does (id, zxid, epoch) beat (cur_id, cur_zxid, cur_epoch)?
    fn beats(&self, new: (i64, i64, i64), cur: (i64, i64, i64)) -> bool {
        if self.cfg.verifier.weight(new.0) == 0 {
            return false;
        }
        (new.2, new.1, new.0) > (cur.2, cur.1, cur.0)
    }

    /// One pass of `lookForLeader`'s loop for a notification taken off the queue.
    fn look(&mut self, from: i64, state: ServerState, n: &Notification, out: &mut Vec<Command>) {
        let nv = (n.leader, n.zxid, n.peer_epoch);
        if self.wait == Wait::Finalize {
            // The finalize poll: a better vote goes back to the main loop, anything else is
            // consumed and the wait starts over.
            if !self.beats(nv, self.proposal) {
                self.arm(Wait::Finalize, out);
                return;
            }
            self.wait = Wait::None;
        }
        if !(self.is_voter(from) && self.is_voter(n.leader)) {
            self.arm(Wait::Notification, out);
            return;
        }
        match state {
            ServerState::Looking => self.look_looking(from, n, nv, out),
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => {
                if self.received_established(from, state, n, out) {
                    return;
                }
            }
        }
        if self.state == ServerState::Looking && self.wait != Wait::Finalize {
            self.arm(Wait::Notification, out);
        }
    }

    fn look_looking(
        &mut self,
        from: i64,
        n: &Notification,
        nv: (i64, i64, i64),
        out: &mut Vec<Command>,
    ) {
        // ZOOKEEPER-261: an empty untrusted database takes no part in LOOKING votes.
        if self.init.1 == -1 || n.zxid == -1 {
            return;
        }
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recvset.clear();
            self.proposal = if self.beats(nv, self.init) {
                nv
            } else {
                self.init
            };
            self.send_notifications(out);
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if self.beats(nv, self.proposal) {
            self.proposal = nv;
            self.send_notifications(out);
        }
        self.recvset.insert(
            from,
            Vote::looking(n.leader, n.zxid, n.election_epoch, n.peer_epoch),
        );
        let mine = Vote::looking(
            self.proposal.0,
            self.proposal.1,
            self.logical_clock,
            self.proposal.2,
        );
        if self.has_quorum(&self.recvset, &mine) {
            self.arm(Wait::Finalize, out);
        }
    }

    fn has_quorum(&self, votes: &BTreeMap<i64, Vote>, vote: &Vote) -> bool {
        let acks: BTreeSet<i64> = votes
            .iter()
            .filter(|(_, v)| vote.same_as(v))
            .map(|(sid, _)| *sid)
            .collect();
        self.cfg.verifier.contains_quorum(&acks)
    }

    /// `checkLeader`: a leader other than me must itself say LEADING; if it is me, the
    /// round must be mine.
    fn check_leader(&self, votes: &BTreeMap<i64, Vote>, leader: i64, round: i64) -> bool {
        if leader != self.cfg.my_id {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        } else {
            self.logical_clock == round
        }
    }

    /// `receivedFollowingNotification` (also the LEADING case, minus the oracle).
    /// Returns true when the election ended.
    fn received_established(
        &mut self,
        from: i64,
        state: ServerState,
        n: &Notification,
        out: &mut Vec<Command>,
    ) -> bool {
        let theirs = Vote {
            id: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state,
            version: n.version,
        };
        if n.election_epoch == self.logical_clock {
            // Stored as Java's five-argument Vote: version 0.
            self.recvset.insert(
                from,
                Vote {
                    version: 0,
                    ..theirs
                },
            );
            if self.has_quorum(&self.recvset, &theirs)
                && self.check_leader(&self.recvset, n.leader, n.election_epoch)
            {
                let end = Vote::looking(n.leader, n.zxid, n.election_epoch, n.peer_epoch);
                self.decide(n.leader, end, out);
                return true;
            }
        }
        self.outofelection.insert(from, theirs);
        if self.has_quorum(&self.outofelection, &theirs)
            && self.check_leader(&self.outofelection, n.leader, n.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            let end = Vote::looking(n.leader, n.zxid, n.election_epoch, n.peer_epoch);
            self.decide(n.leader, end, out);
            return true;
        }
        false
    }

    /// `setPeerState` + `leaveInstance`.
    fn decide(&mut self, leader: i64, vote: Vote, out: &mut Vec<Command>) {
        let role = if leader == self.cfg.my_id {
            Role::Leading
        } else if self.cfg.learner_type == LearnerType::Participant {
            Role::Following
        } else {
            Role::Observing
        };
        self.state = match role {
            Role::Leading => ServerState::Leading,
            Role::Following => ServerState::Following,
            Role::Observing => ServerState::Observing,
        };
        self.current_vote = vote;
        self.recvset.clear();
        self.wait = Wait::None;
        self.timer_id += 1;
        out.push(Command::Decided { vote, role });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::Majority;

    const CFG: &[u8] = b"version=0";

    fn node(my_id: i64, voters: &[i64], learner_type: LearnerType) -> Election<Majority> {
        let cfg = ElectionConfig::new(
            my_id,
            learner_type,
            Majority::new(voters.iter().copied()),
            Bytes::from_static(CFG),
        );
        // currentVote at startup: (myid, zxid ..05, epoch 1), round -1.
        Election::new(cfg, Z5, 1)
    }

    fn n(state: ServerState, leader: i64, zxid: i64, round: i64, epoch: i64) -> Notification {
        Notification::v2(state, leader, zxid, round, epoch, Bytes::from_static(CFG))
    }

    fn looking(leader: i64, zxid: i64, round: i64, epoch: i64) -> Notification {
        n(ServerState::Looking, leader, zxid, round, epoch)
    }

    fn send_all(to: &[i64], notification: &Notification) -> Vec<Command> {
        to.iter()
            .map(|&to| Command::Send {
                to,
                notification: notification.clone(),
            })
            .collect()
    }

    fn timer(id: u64, after_ms: u64) -> Command {
        Command::SetTimer { id, after_ms }
    }

    fn recv(e: &mut Election<Majority>, from: i64, n: Notification) -> Vec<Command> {
        e.step(Event::Received {
            from,
            notification: n,
        })
    }

    fn start(e: &mut Election<Majority>, zxid: i64, epoch: i64) -> Vec<Command> {
        e.step(Event::Start {
            last_logged_zxid: zxid,
            current_epoch: epoch,
        })
    }

    fn with(mut v: Vec<Command>, more: impl IntoIterator<Item = Command>) -> Vec<Command> {
        v.extend(more);
        v
    }

    /// Fires timer `id` (if it is the live one) and returns the role decided, if any.
    fn e_timer_then_decide(e: &mut Election<Majority>, id: u64) -> Option<Role> {
        e.step(Event::TimerFired { id })
            .iter()
            .find_map(|c| match c {
                Command::Decided { role, .. } => Some(*role),
                _ => None,
            })
    }

    const Z5: i64 = 0x1_0000_0005;
    const Z9: i64 = 0x1_0000_0009;

    /// Three nodes; node 1 (zxid ..05) hears node 3 (zxid ..09): 3 wins, 1 follows after
    /// the finalize wait.
    #[test]
    fn three_nodes_highest_zxid_wins() {
        let mut e = node(1, &[1, 2, 3], LearnerType::Participant);
        let mine = looking(1, Z5, 1, 1);
        assert_eq!(
            start(&mut e, Z5, 1),
            with(send_all(&[1, 2, 3], &mine), [timer(1, 200)])
        );
        // Own vote looped back: one vote is no quorum; the poll starts over.
        assert_eq!(recv(&mut e, 1, mine), vec![timer(2, 200)]);
        // Node 3's better vote is adopted and announced.
        let three = looking(3, Z9, 1, 1);
        assert_eq!(
            recv(&mut e, 3, three.clone()),
            with(send_all(&[1, 2, 3], &three), [timer(3, 200)])
        );
        // Our re-announcement comes back: {1, 3} agree on 3, a quorum: finalize wait.
        assert_eq!(recv(&mut e, 1, three), vec![timer(4, 200)]);
        // A stale timer does nothing.
        assert_eq!(e.step(Event::TimerFired { id: 3 }), vec![]);
        // Node 2's lesser vote during the finalize wait is consumed; the wait restarts.
        assert_eq!(recv(&mut e, 2, looking(2, Z5, 1, 1)), vec![timer(5, 200)]);
        let vote = Vote::looking(3, Z9, 1, 1);
        assert_eq!(
            e.step(Event::TimerFired { id: 5 }),
            vec![Command::Decided {
                vote,
                role: Role::Following
            }]
        );
        assert_eq!(e.state(), ServerState::Following);
        assert_eq!(e.current_vote(), vote);
    }

    /// Equal zxids and epochs: the highest sid wins; node 3 leads, node 2 follows.
    #[test]
    fn equal_zxid_highest_sid_wins() {
        let mut two = node(2, &[1, 2, 3], LearnerType::Participant);
        let mut three = node(3, &[1, 2, 3], LearnerType::Participant);
        start(&mut two, Z5, 1);
        start(&mut three, Z5, 1);
        // 2 hears 1: 1 does not beat 2.
        assert_eq!(recv(&mut two, 1, looking(1, Z5, 1, 1)), vec![timer(2, 200)]);
        // 2 hears 3: adopted.
        let v3 = looking(3, Z5, 1, 1);
        assert_eq!(
            recv(&mut two, 3, v3.clone()),
            with(send_all(&[1, 2, 3], &v3), [timer(3, 200)])
        );
        assert_eq!(recv(&mut two, 2, v3.clone()), vec![timer(4, 200)]);
        // 3 hears itself and 2's (adopted) vote for 3: quorum, finalize, lead.
        assert_eq!(recv(&mut three, 3, v3.clone()), vec![timer(2, 200)]);
        assert_eq!(recv(&mut three, 2, v3.clone()), vec![timer(3, 200)]);
        let vote = Vote::looking(3, Z5, 1, 1);
        assert_eq!(
            three.step(Event::TimerFired { id: 3 }),
            vec![Command::Decided {
                vote,
                role: Role::Leading
            }]
        );
        assert_eq!(
            two.step(Event::TimerFired { id: 4 }),
            vec![Command::Decided {
                vote,
                role: Role::Following
            }]
        );
    }

    /// A restarted node at round 1 joins an ensemble that elected 1 in round 5: the
    /// out-of-election votes (id, peerEpoch) of the leader and a follower, whose zxids differ
    /// (ZOOKEEPER-1732), decide it; afterwards it answers LOOKING peers with that vote.
    #[test]
    fn joining_an_established_ensemble() {
        let mut e = node(3, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, Z5, 1);
        let leader = n(ServerState::Leading, 1, 0x2_0000_0003, 5, 2);
        assert_eq!(recv(&mut e, 1, leader), vec![timer(2, 200)]);
        let follower = n(ServerState::Following, 1, 0x2_0000_0001, 5, 2);
        let vote = Vote::looking(1, 0x2_0000_0001, 5, 2);
        assert_eq!(
            recv(&mut e, 2, follower),
            vec![Command::Decided {
                vote,
                role: Role::Following
            }]
        );
        assert_eq!(e.logical_clock(), 5);
        // A LOOKING peer is told the leader, with the round that chose it.
        assert_eq!(
            recv(&mut e, 2, looking(2, Z9, 7, 1)),
            vec![Command::Send {
                to: 2,
                notification: n(ServerState::Following, 1, 0x2_0000_0001, 5, 2)
            }]
        );
        // After sync the vote carries the new epoch.
        e.step(Event::UpdateElectionVote { peer_epoch: 3 });
        assert_eq!(
            recv(&mut e, 2, looking(2, Z9, 7, 1)),
            vec![Command::Send {
                to: 2,
                notification: n(ServerState::Following, 1, 0x2_0000_0001, 5, 3)
            }]
        );
        // Non-LOOKING senders are ignored once decided.
        assert_eq!(recv(&mut e, 1, n(ServerState::Leading, 1, 0, 5, 2)), vec![]);
        // Without the leader's own LEADING vote (checkLeader), followers alone decide nothing.
        let mut e = node(3, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, Z5, 1);
        recv(&mut e, 2, n(ServerState::Following, 1, 0x2_0000_0001, 5, 2));
        assert_eq!(
            recv(&mut e, 3, n(ServerState::Following, 1, 0x2_0000_0001, 5, 2)),
            vec![timer(3, 200)]
        );
    }

    /// An observer (sid 4, not a voting member) votes MIN_VALUE, is answered at once by
    /// voters and never counted, and observes once the leader and a follower tell it.
    #[test]
    fn observer_never_votes_and_observes() {
        let mut obs = node(4, &[1, 2, 3], LearnerType::Observer);
        let min = looking(i64::MIN, i64::MIN, 1, i64::MIN);
        assert_eq!(
            start(&mut obs, Z5, 1),
            with(send_all(&[1, 2, 3], &min), [timer(1, 200)])
        );
        recv(&mut obs, 1, n(ServerState::Leading, 1, Z9, 3, 1));
        let vote = Vote::looking(1, Z9, 3, 1);
        assert_eq!(
            recv(&mut obs, 2, n(ServerState::Following, 1, Z9, 3, 1)),
            vec![Command::Decided {
                vote,
                role: Role::Observing
            }]
        );

        // A LOOKING voter answers the observer with its current vote and its round, and the
        // observer's message is not a vote.
        let mut voter = node(1, &[1, 2, 3], LearnerType::Participant);
        start(&mut voter, Z5, 1);
        assert_eq!(
            recv(&mut voter, 4, min.clone()),
            vec![Command::Send {
                to: 4,
                notification: looking(1, Z5, 1, 1)
            }]
        );
        recv(&mut voter, 1, looking(1, Z5, 1, 1));
        // With the observer counted, {1, 4} would look like a quorum of a 3-voter set; it is
        // not: it is only answered.
        assert_eq!(
            recv(&mut voter, 4, looking(1, Z5, 1, 1)),
            vec![Command::Send {
                to: 4,
                notification: looking(1, Z5, 1, 1)
            }]
        );
        assert_eq!(e_timer_then_decide(&mut voter, 3), None);
        // {1, 2} is: finalize, then lead.
        assert_eq!(
            recv(&mut voter, 2, looking(1, Z5, 1, 1)),
            vec![timer(3, 200)]
        );
        assert_eq!(e_timer_then_decide(&mut voter, 3), Some(Role::Leading));
    }

    /// Notifications from an older round are dropped (even with a better vote) and the
    /// sender is told the current round and proposal.
    #[test]
    fn stale_round_ignored_and_answered() {
        let mut e = node(1, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, Z5, 1);
        start(&mut e, Z5, 1);
        assert_eq!(e.logical_clock(), 2);
        assert_eq!(
            recv(&mut e, 3, looking(3, Z9, 1, 1)),
            vec![
                timer(3, 200),
                Command::Send {
                    to: 3,
                    notification: looking(1, Z5, 2, 1)
                }
            ]
        );
        // A newer round is joined: clock moves, recvset restarts, best of (theirs, my initial).
        let v3 = looking(3, Z9, 4, 1);
        assert_eq!(
            recv(&mut e, 3, v3.clone()),
            with(send_all(&[1, 2, 3], &v3), [timer(4, 200)])
        );
        assert_eq!(e.logical_clock(), 4);
    }

    /// A sender that is not a voting member is answered but never counted; a vote for a
    /// leader that is not a member is ignored.
    #[test]
    fn non_member_votes_ignored() {
        let mut e = node(1, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, Z5, 1);
        recv(&mut e, 1, looking(1, Z5, 1, 1));
        assert_eq!(
            recv(&mut e, 9, looking(1, Z5, 1, 1)),
            vec![Command::Send {
                to: 9,
                notification: looking(1, Z5, 1, 1)
            }]
        );
        assert_eq!(recv(&mut e, 2, looking(9, Z9, 1, 5)), vec![timer(3, 200)]);
        // Still no quorum: 2's vote for 9 was not recorded, and 9's vote never was.
        assert_eq!(recv(&mut e, 3, looking(3, 1, 1, 1)), vec![timer(4, 200)]);
        // An unknown state from a voter is dropped without a trace.
        let mut odd = looking(1, Z5, 1, 1);
        odd.state = 7;
        assert_eq!(recv(&mut e, 2, odd), vec![]);
    }

    /// Silence doubles the notification timeout each time, up to 60 s, resending each time.
    #[test]
    fn notification_timeout_backoff() {
        let mut e = node(1, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, Z5, 1);
        let mine = looking(1, Z5, 1, 1);
        let mut id = 1;
        let mut waits = Vec::new();
        for _ in 0..12 {
            let out = e.step(Event::TimerFired { id });
            assert_eq!(&out[..3], &send_all(&[1, 2, 3], &mine)[..]);
            let Command::SetTimer { id: next, after_ms } = out[3] else {
                panic!("{out:?}")
            };
            id = next;
            waits.push(after_ms);
        }
        assert_eq!(
            waits,
            [400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000, 60000]
        );
        // A message re-arms the poll with the current (backed-off) timeout.
        assert_eq!(recv(&mut e, 1, mine), vec![timer(id + 1, 60000)]);
    }

    /// ZOOKEEPER-261: a node whose database is empty and untrusted (zxid -1) ignores
    /// LOOKING votes, and everyone ignores votes at zxid -1.
    #[test]
    fn empty_untrusted_database_does_not_vote() {
        let mut e = node(1, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, -1, 0);
        recv(&mut e, 1, looking(1, -1, 1, 0));
        recv(&mut e, 2, looking(2, Z9, 1, 1));
        assert_eq!(recv(&mut e, 3, looking(2, Z9, 1, 1)), vec![timer(4, 200)]);
        let mut e = node(1, &[1, 2, 3], LearnerType::Participant);
        start(&mut e, Z5, 1);
        assert_eq!(recv(&mut e, 2, looking(2, -1, 1, 9)), vec![timer(2, 200)]);
    }

    #[test]
    fn vote_equality_rules() {
        let base = Vote::looking(1, 5, 2, 3);
        assert!(base.same_as(&base));
        assert!(!base.same_as(&Vote { zxid: 6, ..base }));
        let f = Vote {
            state: ServerState::Following,
            version: 2,
            ..base
        };
        let g = Vote {
            state: ServerState::Leading,
            zxid: 99,
            election_epoch: 9,
            ..f
        };
        assert!(f.same_as(&g), "established: id and peerEpoch");
        assert!(!f.same_as(&Vote { peer_epoch: 4, ..g }));
        assert!(
            f.same_as(&Vote {
                peer_epoch: 4,
                version: 0,
                ..g
            }),
            "one side version 0: id only"
        );
    }
}
