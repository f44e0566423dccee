//! The leader's side of discovery and sync set-up as a pure state machine (`Q/Leader.java`
//! `lead`, `getEpochToPropose`, `waitForEpochAck`, `waitForNewLeaderAck`, and the first part
//! of `Q/LearnerHandler.java` `run`).
//!
//! ```text
//!  Start ──► own acceptedEpoch counts ─┐
//!  FOLLOWERINFO(a<<32) ────────────────┴► epoch = max(accepted) + 1 once the leader and a
//!        quorum of voters connected ──► WriteAcceptedEpoch ──► EpochDurable
//!        ──► LEADERINFO(epoch<<32) to every connected learner
//!  ACKEPOCH(lastZxid, currentEpoch) ──► (ahead of the leader? Drop) ──► once the leader and
//!        a quorum of voters acked ──► WriteCurrentEpoch ──► EpochDurable
//!        ──► Sync{to, peer_last_zxid} per learner (the node runs `sync::sync_follower` and
//!            queues DIFF/TRUNC/SNAP, proposals and NEWLEADER)
//!  ACK(epoch<<32) ──► once the leader and a quorum of voters acked NEWLEADER ──►
//!        Established{epoch} (start broadcast) and UPTODATE to every learner that acked
//! ```
//!
//! Learners that arrive after a step completed go through it at once (a restarted follower
//! joining an established leader). Every wait is bounded by `initLimit` ticks in Java; here
//! the shell feeds [`Event::InitLimitExpired`] and the leader steps down if not established.
//!
//! Deviation, on purpose: Java releases the learner handlers when the ACKEPOCH quorum forms
//! and writes `currentEpoch` concurrently; here learners are synced only once the leader's
//! `currentEpoch` is durable.

use std::collections::{BTreeMap, BTreeSet};

use crate::quorum::QuorumVerifier;
use crate::wire::packet::{LearnerInfoData, Packet, PROTOCOL_VERSION};

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The node became leader (after the election).
    Start,
    /// A packet from learner `from` (its connection's first packet names it).
    Received {
        /// Connection id: the learner's sid once known.
        from: i64,
        /// The packet.
        packet: Packet,
    },
    /// An epoch file write is durable.
    EpochDurable,
    /// `initLimit` ticks passed since `Start`.
    InitLimitExpired,
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
    /// Write and fsync `acceptedEpoch`; answer with `EpochDurable`.
    WriteAcceptedEpoch(i64),
    /// Write and fsync `currentEpoch`; answer with `EpochDurable`.
    WriteCurrentEpoch(i64),
    /// Sync this learner: queue DIFF/TRUNC/SNAP and what follows, then NEWLEADER.
    Sync {
        /// The learner.
        to: i64,
        /// Its last logged zxid (from ACKEPOCH).
        peer_last_zxid: i64,
        /// The new epoch (NEWLEADER carries `epoch << 32`).
        epoch: i64,
    },
    /// Close this learner's connection.
    Drop {
        /// The learner.
        sid: i64,
        /// Why.
        reason: &'static str,
    },
    /// A quorum acknowledged NEWLEADER: start serving and broadcasting in `epoch`.
    Established {
        /// The new epoch.
        epoch: i64,
    },
    /// Give up leading; back to LOOKING.
    StepDown(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Sent *INFO; waits for the epoch.
    Connected,
    /// LEADERINFO sent; waits for ACKEPOCH.
    LeaderInfoSent,
    /// ACKEPOCH received; waits for the epoch-ack quorum (and the leader's currentEpoch).
    EpochAcked { peer_last_zxid: i64 },
    /// Sync queued; waits for ACK(NEWLEADER).
    Syncing,
    /// NEWLEADER acked; waits for establishment.
    NewLeaderAcked,
    /// UPTODATE sent.
    UpToDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// Collecting *INFO for the epoch.
    EpochVote,
    /// acceptedEpoch being written.
    AcceptedWrite,
    /// Collecting ACKEPOCH.
    EpochAck,
    /// currentEpoch being written.
    CurrentWrite,
    /// Collecting ACK(NEWLEADER).
    NewLeaderAck,
    Established,
    Gone,
}

/// The leader's discovery state.
pub struct Discovery<Q> {
    my_id: i64,
    verifier: Q,
    config_version: i64,
    /// (currentEpoch, lastZxid) of the leader, for "Follower is ahead".
    summary: (i64, i64),
    epoch: i64,
    phase: Phase,
    learners: BTreeMap<i64, Stage>,
    connecting: BTreeSet<i64>,
    electing: BTreeSet<i64>,
    new_leader_acks: BTreeSet<i64>,
}

impl<Q: QuorumVerifier> Discovery<Q> {
    /// A leader with its epoch files, last zxid and committed config version.
    pub fn new(
        my_id: i64,
        verifier: Q,
        config_version: i64,
        accepted_epoch: i64,
        current_epoch: i64,
        last_zxid: i64,
    ) -> Self {
        Discovery {
            my_id,
            verifier,
            config_version,
            summary: (current_epoch, last_zxid),
            epoch: accepted_epoch + 1,
            phase: Phase::Idle,
            learners: BTreeMap::new(),
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            new_leader_acks: BTreeSet::new(),
        }
    }

    /// The epoch being established (final once acceptedEpoch was written).
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// The learner's connection is gone (or it reconnected): forget its stage so a new
    /// FOLLOWERINFO starts over. The epoch and ack sets it joined stay counted, as the sets
    /// of Java's `waitForEpochAck`/`waitForNewLeaderAck` keep a handler that died.
    pub fn remove_learner(&mut self, sid: i64) {
        self.learners.remove(&sid);
    }

    /// Handles one event and returns the commands it produces, in order.
    pub fn step(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match (event, self.phase) {
            (_, Phase::Gone) => {}
            (Event::Start, Phase::Idle) => {
                self.phase = Phase::EpochVote;
                self.connecting.insert(self.my_id);
                self.try_epoch(&mut out);
            }
            (Event::Start, _) => {}
            (Event::Received { from, packet }, _) => self.packet(from, packet, &mut out),
            (Event::EpochDurable, Phase::AcceptedWrite) => {
                self.phase = Phase::EpochAck;
                self.electing.insert(self.my_id);
                let waiting: Vec<i64> = self.learners.keys().copied().collect();
                for sid in waiting {
                    self.send_leader_info(sid, &mut out);
                }
                self.try_epoch_ack(&mut out);
            }
            (Event::EpochDurable, Phase::CurrentWrite) => {
                self.phase = Phase::NewLeaderAck;
                let ready: Vec<(i64, i64)> = self
                    .learners
                    .iter()
                    .filter_map(|(&sid, stage)| match stage {
                        Stage::EpochAcked { peer_last_zxid } => Some((sid, *peer_last_zxid)),
                        _ => None,
                    })
                    .collect();
                for (sid, z) in ready {
                    self.sync(sid, z, &mut out);
                }
                // The leader's own NEWLEADER ack (waitForNewLeaderAck(self.getId(), ...)).
                self.new_leader_acks.insert(self.my_id);
                self.try_established(&mut out);
            }
            (Event::EpochDurable, _) => {}
            (Event::InitLimitExpired, Phase::Established) => {}
            (Event::InitLimitExpired, _) => {
                self.phase = Phase::Gone;
                out.push(Command::StepDown(
                    "timeout while waiting for a quorum of learners",
                ));
            }
        }
        out
    }

    fn drop_learner(&mut self, sid: i64, reason: &'static str, out: &mut Vec<Command>) {
        self.learners.remove(&sid);
        out.push(Command::Drop { sid, reason });
    }

    fn packet(&mut self, from: i64, packet: Packet, out: &mut Vec<Command>) {
        let stage = self.learners.get(&from).copied();
        match (stage, packet) {
            (None, Packet::FollowerInfo { zxid, info } | Packet::ObserverInfo { zxid, info }) => {
                if let LearnerInfoData::Info {
                    config_version: Some(v),
                    ..
                } = info
                {
                    if v > self.config_version {
                        return self.drop_learner(from, "follower is ahead of the leader", out);
                    }
                }
                self.learners.insert(from, Stage::Connected);
                let accepted = zxid >> 32;
                if matches!(self.phase, Phase::Idle | Phase::EpochVote) {
                    // getEpochToPropose: observers raise the epoch too, only voters count.
                    if accepted >= self.epoch {
                        self.epoch = accepted + 1;
                    }
                    if self.verifier.is_voter(from) {
                        self.connecting.insert(from);
                    }
                    if self.phase == Phase::EpochVote {
                        self.try_epoch(out);
                    }
                } else if self.phase != Phase::AcceptedWrite {
                    self.send_leader_info(from, out);
                }
            }
            (
                Some(Stage::LeaderInfoSent),
                Packet::AckEpoch {
                    zxid,
                    current_epoch,
                },
            ) => {
                let current_epoch = i64::from(current_epoch);
                if current_epoch != -1 {
                    if (current_epoch, zxid) > self.summary {
                        return self.drop_learner(from, "follower is ahead of the leader", out);
                    }
                    if zxid != -1 && self.verifier.is_voter(from) {
                        self.electing.insert(from);
                    }
                }
                self.learners.insert(
                    from,
                    Stage::EpochAcked {
                        peer_last_zxid: zxid,
                    },
                );
                match self.phase {
                    Phase::EpochAck => self.try_epoch_ack(out),
                    Phase::NewLeaderAck | Phase::Established => self.sync(from, zxid, out),
                    _ => {}
                }
            }
            (Some(Stage::Syncing), Packet::Ack { zxid }) => {
                if zxid != self.epoch << 32 {
                    // waitForNewLeaderAck logs and does not count it (an old follower's early
                    // proposal ACK, ZOOKEEPER-4685); the learner stays waiting.
                    return;
                }
                self.learners.insert(from, Stage::NewLeaderAcked);
                if self.verifier.is_voter(from) {
                    self.new_leader_acks.insert(from);
                }
                if self.phase == Phase::Established {
                    self.up_to_date(from, out);
                } else {
                    self.try_established(out);
                }
            }
            // Pings and other traffic before broadcast are not discovery's business.
            (Some(_), _) => {}
            (None, _) => {
                self.drop_learner(from, "first packet is not FOLLOWERINFO/OBSERVERINFO", out)
            }
        }
    }

    fn try_epoch(&mut self, out: &mut Vec<Command>) {
        if self.connecting.contains(&self.my_id) && self.verifier.contains_quorum(&self.connecting)
        {
            self.phase = Phase::AcceptedWrite;
            out.push(Command::WriteAcceptedEpoch(self.epoch));
        }
    }

    fn send_leader_info(&mut self, sid: i64, out: &mut Vec<Command>) {
        self.learners.insert(sid, Stage::LeaderInfoSent);
        out.push(Command::Send {
            to: sid,
            packet: Packet::LeaderInfo {
                zxid: self.epoch << 32,
                protocol_version: PROTOCOL_VERSION,
            },
        });
    }

    fn try_epoch_ack(&mut self, out: &mut Vec<Command>) {
        if self.electing.contains(&self.my_id) && self.verifier.contains_quorum(&self.electing) {
            self.phase = Phase::CurrentWrite;
            out.push(Command::WriteCurrentEpoch(self.epoch));
        }
    }

    fn sync(&mut self, sid: i64, peer_last_zxid: i64, out: &mut Vec<Command>) {
        self.learners.insert(sid, Stage::Syncing);
        out.push(Command::Sync {
            to: sid,
            peer_last_zxid,
            epoch: self.epoch,
        });
    }

    fn try_established(&mut self, out: &mut Vec<Command>) {
        if self.phase == Phase::NewLeaderAck && self.verifier.contains_quorum(&self.new_leader_acks)
        {
            self.phase = Phase::Established;
            out.push(Command::Established { epoch: self.epoch });
            let acked: Vec<i64> = self
                .learners
                .iter()
                .filter(|(_, s)| **s == Stage::NewLeaderAcked)
                .map(|(sid, _)| *sid)
                .collect();
            for sid in acked {
                self.up_to_date(sid, out);
            }
        }
    }

    fn up_to_date(&mut self, sid: i64, out: &mut Vec<Command>) {
        self.learners.insert(sid, Stage::UpToDate);
        out.push(Command::Send {
            to: sid,
            packet: Packet::UpToDate,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::Majority;

    /// Leader 1 of voters {1, 2, 3}: acceptedEpoch 4, currentEpoch 4, last zxid 0x400000009.
    fn leader() -> Discovery<Majority> {
        Discovery::new(1, Majority::new([1, 2, 3]), 0, 4, 4, 0x4_0000_0009)
    }

    fn info(from: i64, accepted: i64) -> Event {
        Event::Received {
            from,
            packet: Packet::FollowerInfo {
                zxid: accepted << 32,
                info: LearnerInfoData::full(from, 0),
            },
        }
    }

    fn ackepoch(from: i64, zxid: i64, current_epoch: i32) -> Event {
        Event::Received {
            from,
            packet: Packet::AckEpoch {
                zxid,
                current_epoch,
            },
        }
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

    fn leader_info(to: i64, epoch: i64) -> Command {
        send(
            to,
            Packet::LeaderInfo {
                zxid: epoch << 32,
                protocol_version: PROTOCOL_VERSION,
            },
        )
    }

    /// The whole handshake with one follower of three voters, then a late joiner.
    #[test]
    fn epoch_agreement_sync_and_establishment() {
        let mut d = leader();
        assert_eq!(d.step(Event::Start), vec![]);
        // Follower 2 had accepted epoch 6: the new epoch is 7, written before LEADERINFO.
        assert_eq!(d.step(info(2, 6)), vec![Command::WriteAcceptedEpoch(7)]);
        assert_eq!(d.step(Event::EpochDurable), vec![leader_info(2, 7)]);
        // Its ACKEPOCH completes the quorum {1, 2}: currentEpoch, then sync.
        assert_eq!(
            d.step(ackepoch(2, 0x4_0000_0007, 4)),
            vec![Command::WriteCurrentEpoch(7)]
        );
        assert_eq!(
            d.step(Event::EpochDurable),
            vec![Command::Sync {
                to: 2,
                peer_last_zxid: 0x4_0000_0007,
                epoch: 7
            }]
        );
        // An early proposal ACK is not a NEWLEADER ack.
        assert_eq!(d.step(ack(2, 0x7_0000_0001)), vec![]);
        assert_eq!(
            d.step(ack(2, 7 << 32)),
            vec![Command::Established { epoch: 7 }, send(2, Packet::UpToDate)]
        );
        // Node 3 joins later: everything at once.
        assert_eq!(d.step(info(3, 4)), vec![leader_info(3, 7)]);
        assert_eq!(
            d.step(ackepoch(3, 0x4_0000_0009, 4)),
            vec![Command::Sync {
                to: 3,
                peer_last_zxid: 0x4_0000_0009,
                epoch: 7
            }]
        );
        assert_eq!(d.step(ack(3, 7 << 32)), vec![send(3, Packet::UpToDate)]);
        assert_eq!(d.step(Event::InitLimitExpired), vec![]);
    }

    /// A follower whose (currentEpoch, lastZxid) is ahead of the leader's is dropped and not
    /// counted; without a quorum the leader steps down at initLimit.
    #[test]
    fn follower_ahead_of_leader_is_dropped() {
        let mut d = leader();
        d.step(Event::Start);
        d.step(info(2, 4));
        assert_eq!(d.step(Event::EpochDurable), vec![leader_info(2, 5)]);
        assert_eq!(
            d.step(ackepoch(2, 0x4_0000_000a, 4)),
            vec![Command::Drop {
                sid: 2,
                reason: "follower is ahead of the leader"
            }]
        );
        assert_eq!(
            d.step(Event::InitLimitExpired),
            vec![Command::StepDown(
                "timeout while waiting for a quorum of learners"
            )]
        );
    }

    /// Observers raise the epoch but are never counted; -1 epoch acks are not counted.
    #[test]
    fn observers_and_minus_one_acks_do_not_count() {
        let mut d = Discovery::new(1, Majority::new([1, 2, 3]), 0, 4, 4, 0x4_0000_0009);
        d.step(Event::Start);
        let obs = Event::Received {
            from: 4,
            packet: Packet::ObserverInfo {
                zxid: 9 << 32,
                info: LearnerInfoData::full(4, 0),
            },
        };
        assert_eq!(d.step(obs), vec![]);
        assert_eq!(d.step(info(3, 4)), vec![Command::WriteAcceptedEpoch(10)]);
        assert_eq!(
            d.step(Event::EpochDurable),
            vec![leader_info(3, 10), leader_info(4, 10)]
        );
        assert_eq!(d.step(ackepoch(4, 0x4_0000_0001, 4)), vec![]);
        assert_eq!(d.step(ackepoch(3, 10 << 32, -1)), vec![], "-1: not counted");
    }

    /// An observer is synced like a follower, but its NEWLEADER ack does not establish the
    /// epoch (`waitForNewLeaderAck` adds participants only); a voter's does, and then the
    /// observer gets its UPTODATE with the followers.
    #[test]
    fn an_observers_newleader_ack_is_not_counted() {
        let mut d = leader();
        d.step(Event::Start);
        d.step(Event::Received {
            from: 4,
            packet: Packet::ObserverInfo {
                zxid: 4 << 32,
                info: LearnerInfoData::full(4, 0),
            },
        });
        assert_eq!(d.step(info(3, 4)), vec![Command::WriteAcceptedEpoch(5)]);
        assert_eq!(
            d.step(Event::EpochDurable),
            vec![leader_info(3, 5), leader_info(4, 5)]
        );
        assert_eq!(d.step(ackepoch(4, 0x4_0000_0009, 4)), vec![]);
        assert_eq!(
            d.step(ackepoch(3, 0x4_0000_0009, 4)),
            vec![Command::WriteCurrentEpoch(5)]
        );
        let syncs: Vec<i64> = d
            .step(Event::EpochDurable)
            .into_iter()
            .filter_map(|c| match c {
                Command::Sync { to, .. } => Some(to),
                _ => None,
            })
            .collect();
        assert_eq!(syncs, [3, 4]);
        assert_eq!(d.step(ack(4, 5 << 32)), vec![], "the observer's ack");
        assert_eq!(
            d.step(ack(3, 5 << 32)),
            vec![
                Command::Established { epoch: 5 },
                send(3, Packet::UpToDate),
                send(4, Packet::UpToDate),
            ]
        );
    }

    /// A learner whose config is newer than the leader's is refused; a first packet that is
    /// not *INFO closes the connection.
    #[test]
    fn refused_learners() {
        let mut d = leader();
        d.step(Event::Start);
        let ahead = Event::Received {
            from: 2,
            packet: Packet::FollowerInfo {
                zxid: 4 << 32,
                info: LearnerInfoData::full(2, 5),
            },
        };
        assert!(matches!(d.step(ahead)[..], [Command::Drop { sid: 2, .. }]));
        assert!(matches!(
            d.step(ack(3, 1))[..],
            [Command::Drop { sid: 3, .. }]
        ));
    }

    /// A learner that reconnects (a new FOLLOWERINFO after `remove_learner`) is taken
    /// through discovery again; before, its second FOLLOWERINFO was ignored for good.
    #[test]
    fn reconnecting_learner_starts_over() {
        let mut d = leader();
        d.step(Event::Start);
        d.step(info(2, 4));
        assert_eq!(d.step(Event::EpochDurable), vec![leader_info(2, 5)]);
        assert_eq!(d.step(info(2, 4)), vec![]);
        d.remove_learner(2);
        assert_eq!(d.step(info(2, 4)), vec![leader_info(2, 5)]);
    }
}
