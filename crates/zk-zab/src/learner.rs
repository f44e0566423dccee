//! The follower side of discovery, sync and broadcast as a pure state machine
//! (`Q/Learner.java` `registerWithLeader` / `syncWithLeader`, `Q/Follower.java`
//! `processPacket`), with the durable-write order of ZAB-NOTES §4.9.
//!
//! ```text
//!  Connected ─► Send FOLLOWERINFO ─► LEADERINFO(e) ─► [e > accepted: WriteAcceptedEpoch,
//!     wait EpochDurable] ─► Send ACKEPOCH ─► DIFF | TRUNC (Truncate) | SNAP (LoadSnapshot)
//!     ─► PROPOSAL/COMMIT* ─► NEWLEADER ─► [SNAP/TRUNC: Commit, TakeSnapshot] Persist(all sync
//!     txns) ─► wait LogDurable (+ SnapshotDurable) ─► WriteCurrentEpoch ─► wait EpochDurable
//!     ─► Send ACK(e<<32) ─► PROPOSAL/COMMIT* ─► UPTODATE ─► Send ACK(e<<32), Serve, ACK the
//!     uncommitted sync txns, Persist the rest, Commit in zxid order ─► broadcast
//! ```
//!
//! Commands are executed in order by the shell; the ones whose completion matters
//! (`WriteAcceptedEpoch`, `WriteCurrentEpoch`, `Persist`, `TakeSnapshot`) are answered with
//! an event once durable (fsync'd). Nothing is acknowledged to the leader before what it
//! acknowledges is durable:
//!
//! * acceptedEpoch before ACKEPOCH (ZOOKEEPER-1291/335);
//! * every txn received in sync appended and fsync'd, *then* currentEpoch, *then*
//!   ACK(NEWLEADER) (ZOOKEEPER-3911, -4643, -4646, -4785: the 3.8.5+ order);
//! * nothing but ACK(NEWLEADER) is sent after ACKEPOCH until it (ZOOKEEPER-4685): proposal
//!   ACKs of sync txns wait for UPTODATE;
//! * a COMMIT between NEWLEADER and UPTODATE for a proposal received before NEWLEADER is
//!   simply recorded (ZOOKEEPER-4394, unfixed in 3.8);
//! * in broadcast, each PROPOSAL is ACKed only once it is in the fsync'd log, and a COMMIT
//!   must name the oldest pending proposal (Java exits with code 12 otherwise).
//!
//! An observer ([`Learner::observer`], `Q/Observer.java`) registers with OBSERVERINFO and
//! keeps the same order (its ACK of NEWLEADER is never counted by the leader); in sync an
//! INFORM is a proposal and its commit at once; after UPTODATE it acknowledges no proposal,
//! and in broadcast each INFORM (a committed txn carried whole) is logged and applied at once
//! (`ObserverZooKeeperServer.commitRequest`: the log write is not waited for). PROPOSAL and
//! COMMIT are ignored there, as Java logs and ignores them.
//!
//! REVALIDATE: the leader's reply to a reconnecting client's session check (asked with
//! `Send(REVALIDATE request)` by the peer) comes out as [`Command::Revalidated`].
//!
//! Not built yet: COMMITANDACTIVATE / INFORMANDACTIVATE, the contiguity check of 3.9.4, and
//! timeouts (initLimit/syncLimit belong to the shell's reads for now).

use std::collections::BTreeSet;

use crate::wire::packet::{LearnerInfoData, Packet, Revalidate, TxnPayload};

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The connection to the leader is up.
    Connected,
    /// A packet from the leader.
    Received(Packet),
    /// The epoch file write of `WriteAcceptedEpoch` / `WriteCurrentEpoch` is durable.
    EpochDurable(EpochFile),
    /// Every txn up to and including `zxid` handed out in `Persist` is in the fsync'd log.
    LogDurable {
        /// Highest durable zxid.
        zxid: i64,
    },
    /// The snapshot asked for by `TakeSnapshot` is durable.
    SnapshotDurable,
}

/// Which epoch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochFile {
    /// `acceptedEpoch`.
    Accepted,
    /// `currentEpoch`.
    Current,
}

/// Outputs, executed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write this packet to the leader.
    Send(Packet),
    /// Write and fsync `acceptedEpoch`; answer with `EpochDurable(Accepted)`.
    WriteAcceptedEpoch(i64),
    /// Write and fsync `currentEpoch`; answer with `EpochDurable(Current)`.
    WriteCurrentEpoch(i64),
    /// Truncate the log after `zxid` and reload the database from disk (TRUNC).
    Truncate {
        /// Keep txns up to here.
        zxid: i64,
    },
    /// Read the snapshot stream that follows the SNAP packet into a fresh database.
    LoadSnapshot {
        /// The SNAP packet's zxid (the database's lastProcessedZxid after loading).
        zxid: i64,
    },
    /// Take a snapshot of the database and fsync it; answer with `SnapshotDurable`.
    TakeSnapshot,
    /// Append these txns to the log and fsync; answer with `LogDurable`.
    Persist(Vec<TxnPayload>),
    /// Apply the txn with this zxid (handed out in `Persist` earlier) to the database.
    Commit {
        /// The committed zxid.
        zxid: i64,
    },
    /// Answer the leader's PING with this node's session-touch table and this zxid.
    ReplyToPing {
        /// The ping's zxid, echoed.
        zxid: i64,
    },
    /// Synced: start serving clients.
    Serve,
    /// The leader's SYNC: the oldest `sync` this learner forwarded is answered (everything
    /// the leader committed before it has been committed here, in order, already).
    Synced,
    /// The leader answered a REVALIDATE for `session_id` (`Learner.revalidate`): the
    /// client's reconnect finishes (`valid`) or its session is expired.
    Revalidated {
        /// The session.
        session_id: i64,
        /// Whether the leader knows (and touched) it.
        valid: bool,
    },
    /// Leave the leader and go back to LOOKING.
    Abandon(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Connecting,
    AwaitLeaderInfo,
    AwaitAcceptedEpoch {
        new_epoch: i64,
    },
    AwaitSyncMode {
        new_epoch: i64,
    },
    Syncing {
        new_epoch: i64,
        mode: SyncMode,
    },
    /// NEWLEADER seen; waiting for the sync txns (and snapshot) to be durable.
    AwaitSyncDurable {
        new_epoch: i64,
        log_up_to: Option<i64>,
        snapshot: bool,
    },
    AwaitCurrentEpoch {
        new_epoch: i64,
    },
    AwaitUpToDate {
        new_epoch: i64,
    },
    Broadcast,
    Gone,
}

/// One follower's view of its leader.
pub struct Learner {
    my_id: i64,
    config_version: i64,
    accepted_epoch: i64,
    current_epoch: i64,
    last_logged_zxid: i64,
    phase: Phase,
    /// Proposals received before NEWLEADER, in order.
    sync_txns: Vec<TxnPayload>,
    /// Proposals received between NEWLEADER and UPTODATE.
    late_txns: Vec<TxnPayload>,
    /// Zxids the leader committed during sync.
    committed: BTreeSet<i64>,
    /// Broadcast: logged-or-logging proposals not yet committed, in order (`pendingTxns`).
    pending: Vec<i64>,
    /// Broadcast: proposals waiting for their fsync before the ACK, in order.
    unacked: Vec<i64>,
    /// Test-only injected bug (see [`crate::Mutation`]).
    mutation: crate::Mutation,
    /// An observer (OBSERVERINFO, INFORM, no proposal ACKs).
    observer: bool,
}

impl Learner {
    /// A follower with what it has on disk.
    pub fn new(
        my_id: i64,
        config_version: i64,
        accepted_epoch: i64,
        current_epoch: i64,
        last_logged_zxid: i64,
    ) -> Self {
        Learner {
            my_id,
            config_version,
            accepted_epoch,
            current_epoch,
            last_logged_zxid,
            phase: Phase::Connecting,
            sync_txns: Vec::new(),
            late_txns: Vec::new(),
            committed: BTreeSet::new(),
            pending: Vec::new(),
            unacked: Vec::new(),
            mutation: crate::Mutation::None,
            observer: false,
        }
    }

    /// An observer with what it has on disk: it registers with OBSERVERINFO, applies INFORMs
    /// and acknowledges no proposal (`Q/Observer.java`).
    pub fn observer(
        my_id: i64,
        config_version: i64,
        accepted_epoch: i64,
        current_epoch: i64,
        last_logged_zxid: i64,
    ) -> Self {
        Learner {
            observer: true,
            ..Learner::new(
                my_id,
                config_version,
                accepted_epoch,
                current_epoch,
                last_logged_zxid,
            )
        }
    }

    /// Whether this learner is an observer.
    pub fn is_observer(&self) -> bool {
        self.observer
    }

    /// Test-only: injects a known bug (zk-sim's mutation check). Never use in production.
    pub fn with_mutation(mut self, mutation: crate::Mutation) -> Self {
        self.mutation = mutation;
        self
    }

    /// The acceptedEpoch as last made durable.
    pub fn accepted_epoch(&self) -> i64 {
        self.accepted_epoch
    }
    /// The currentEpoch as last made durable.
    pub fn current_epoch(&self) -> i64 {
        self.current_epoch
    }
    /// Whether sync is over and the node serves.
    pub fn is_broadcasting(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// Handles one event and returns the commands it produces, in order.
    pub fn step(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        if self.phase == Phase::Gone {
            return out;
        }
        match event {
            Event::Connected => self.connected(&mut out),
            Event::Received(p) => self.packet(p, &mut out),
            Event::EpochDurable(which) => self.epoch_durable(which, &mut out),
            Event::LogDurable { zxid } => self.log_durable(zxid, &mut out),
            Event::SnapshotDurable => {
                if let Phase::AwaitSyncDurable {
                    new_epoch,
                    log_up_to,
                    snapshot: true,
                } = self.phase
                {
                    self.phase = Phase::AwaitSyncDurable {
                        new_epoch,
                        log_up_to,
                        snapshot: false,
                    };
                    self.maybe_write_current_epoch(&mut out);
                }
            }
        }
        out
    }

    fn abandon(&mut self, why: &'static str, out: &mut Vec<Command>) {
        self.phase = Phase::Gone;
        out.push(Command::Abandon(why));
    }

    fn connected(&mut self, out: &mut Vec<Command>) {
        if self.phase != Phase::Connecting {
            return;
        }
        let zxid = self.accepted_epoch << 32;
        let info = LearnerInfoData::full(self.my_id, self.config_version);
        out.push(Command::Send(if self.observer {
            Packet::ObserverInfo { zxid, info }
        } else {
            Packet::FollowerInfo { zxid, info }
        }));
        self.phase = Phase::AwaitLeaderInfo;
    }

    fn ack_epoch(&self, current_epoch: i32) -> Command {
        Command::Send(Packet::AckEpoch {
            zxid: self.last_logged_zxid,
            current_epoch,
        })
    }

    fn packet(&mut self, p: Packet, out: &mut Vec<Command>) {
        match (&self.phase, p) {
            (Phase::AwaitLeaderInfo, Packet::LeaderInfo { zxid, .. }) => {
                let new_epoch = zxid >> 32;
                if new_epoch > self.accepted_epoch {
                    // Persist before you promise: the ACKEPOCH waits for the file.
                    out.push(Command::WriteAcceptedEpoch(new_epoch));
                    self.phase = Phase::AwaitAcceptedEpoch { new_epoch };
                } else if new_epoch == self.accepted_epoch {
                    out.push(self.ack_epoch(-1));
                    self.phase = Phase::AwaitSyncMode { new_epoch };
                } else {
                    self.abandon("leader's epoch is older than our acceptedEpoch", out);
                }
            }
            (Phase::AwaitSyncMode { new_epoch }, p) => {
                let new_epoch = *new_epoch;
                let mode = match p {
                    Packet::Diff { .. } => SyncMode::Diff,
                    Packet::Trunc { zxid } => {
                        if self.mutation == crate::Mutation::DiffWithoutTruncate {
                            // Injected bug: treat the TRUNC as a DIFF, keep the stale tail.
                            SyncMode::Diff
                        } else {
                            out.push(Command::Truncate { zxid });
                            SyncMode::Trunc
                        }
                    }
                    Packet::Snap { zxid } => {
                        out.push(Command::LoadSnapshot { zxid });
                        SyncMode::Snap
                    }
                    _ => return self.abandon("expected DIFF, TRUNC or SNAP", out),
                };
                self.phase = Phase::Syncing { new_epoch, mode };
            }
            (Phase::Syncing { new_epoch, mode }, p) => {
                let (new_epoch, mode) = (*new_epoch, *mode);
                match p {
                    Packet::Proposal { txn, .. } => self.sync_txns.push(txn),
                    Packet::Commit { zxid } => {
                        self.committed.insert(zxid);
                    }
                    // A committed txn whole: a proposal and its commit.
                    Packet::Inform { zxid, txn } => {
                        self.sync_txns.push(txn);
                        self.committed.insert(zxid);
                    }
                    // Java does not answer pings before UPTODATE.
                    Packet::Ping { .. } => {}
                    Packet::NewLeader { .. } => self.new_leader(new_epoch, mode, out),
                    _ => self.abandon("unexpected packet during sync", out),
                }
            }
            (
                Phase::AwaitSyncDurable { .. }
                | Phase::AwaitCurrentEpoch { .. }
                | Phase::AwaitUpToDate { .. },
                p,
            ) => match p {
                Packet::Proposal { txn, .. } => self.late_txns.push(txn),
                Packet::Commit { zxid } => {
                    self.committed.insert(zxid);
                }
                Packet::Inform { zxid, txn } => {
                    self.late_txns.push(txn);
                    self.committed.insert(zxid);
                }
                Packet::Ping { .. } => {}
                Packet::UpToDate => {
                    if let Phase::AwaitUpToDate { new_epoch } = self.phase {
                        self.up_to_date(new_epoch, out);
                    } else {
                        self.abandon("UPTODATE before our ACK of NEWLEADER", out);
                    }
                }
                _ => self.abandon("unexpected packet before UPTODATE", out),
            },
            (Phase::Broadcast, p) => self.broadcast(p, out),
            _ => self.abandon("unexpected packet", out),
        }
    }

    fn new_leader(&mut self, new_epoch: i64, mode: SyncMode, out: &mut Vec<Command>) {
        let snapshot = mode != SyncMode::Diff;
        let mut applied = BTreeSet::new();
        if snapshot {
            // SNAP/TRUNC: what was committed before NEWLEADER goes into the snapshot.
            for txn in &self.sync_txns {
                let zxid = txn.header().zxid;
                if self.committed.remove(&zxid) {
                    applied.insert(zxid);
                    out.push(Command::Commit { zxid });
                }
            }
            out.push(Command::TakeSnapshot);
        }
        let log_up_to = self.sync_txns.last().map(|t| t.header().zxid);
        if log_up_to.is_some() {
            out.push(Command::Persist(self.sync_txns.clone()));
        }
        self.sync_txns
            .retain(|t| !applied.contains(&t.header().zxid));
        self.phase = Phase::AwaitSyncDurable {
            new_epoch,
            log_up_to,
            snapshot,
        };
        self.maybe_write_current_epoch(out);
    }

    fn maybe_write_current_epoch(&mut self, out: &mut Vec<Command>) {
        if let (
            crate::Mutation::AckNewLeaderBeforePersist,
            Phase::AwaitSyncDurable { new_epoch, .. },
        ) = (self.mutation, &self.phase)
        {
            // Injected bug: acknowledge NEWLEADER before the sync txns are durable.
            let new_epoch = *new_epoch;
            out.push(Command::WriteCurrentEpoch(new_epoch));
            self.current_epoch = new_epoch;
            out.push(Command::Send(Packet::Ack {
                zxid: new_epoch << 32,
            }));
            self.phase = Phase::AwaitUpToDate { new_epoch };
            return;
        }
        if let Phase::AwaitSyncDurable {
            new_epoch,
            log_up_to: None,
            snapshot: false,
        } = self.phase
        {
            out.push(Command::WriteCurrentEpoch(new_epoch));
            self.phase = Phase::AwaitCurrentEpoch { new_epoch };
        }
    }

    fn epoch_durable(&mut self, which: EpochFile, out: &mut Vec<Command>) {
        match (which, &self.phase) {
            (EpochFile::Accepted, Phase::AwaitAcceptedEpoch { new_epoch }) => {
                let new_epoch = *new_epoch;
                self.accepted_epoch = new_epoch;
                out.push(self.ack_epoch(self.current_epoch as i32));
                self.phase = Phase::AwaitSyncMode { new_epoch };
            }
            (EpochFile::Current, Phase::AwaitCurrentEpoch { new_epoch }) => {
                let new_epoch = *new_epoch;
                self.current_epoch = new_epoch;
                out.push(Command::Send(Packet::Ack {
                    zxid: new_epoch << 32,
                }));
                self.phase = Phase::AwaitUpToDate { new_epoch };
            }
            _ => {}
        }
    }

    fn log_durable(&mut self, zxid: i64, out: &mut Vec<Command>) {
        match self.phase {
            Phase::AwaitSyncDurable {
                new_epoch,
                log_up_to: Some(want),
                snapshot,
            } if zxid >= want => {
                self.phase = Phase::AwaitSyncDurable {
                    new_epoch,
                    log_up_to: None,
                    snapshot,
                };
                self.maybe_write_current_epoch(out);
            }
            Phase::Broadcast => {
                let n = self.unacked.iter().take_while(|&&z| z <= zxid).count();
                for z in self.unacked.drain(..n) {
                    out.push(Command::Send(Packet::Ack { zxid: z }));
                }
            }
            _ => {}
        }
    }

    fn up_to_date(&mut self, new_epoch: i64, out: &mut Vec<Command>) {
        out.push(Command::Send(Packet::Ack {
            zxid: new_epoch << 32,
        }));
        out.push(Command::Serve);
        self.phase = Phase::Broadcast;
        // Sync txns are durable already: ACK the ones the leader may still be counting.
        // An observer acknowledges none (the leader counts no observer).
        for txn in std::mem::take(&mut self.sync_txns) {
            let zxid = txn.header().zxid;
            if !self.committed.contains(&zxid) && !self.observer {
                out.push(Command::Send(Packet::Ack { zxid }));
            }
            self.pending.push(zxid);
        }
        let late = std::mem::take(&mut self.late_txns);
        if !late.is_empty() {
            for txn in &late {
                let zxid = txn.header().zxid;
                self.pending.push(zxid);
                if !self.committed.contains(&zxid) && !self.observer {
                    self.unacked.push(zxid);
                }
            }
            out.push(Command::Persist(late));
        }
        // Commit what the leader committed, in zxid order, as pendingTxns are popped.
        // A COMMIT for a txn this node never received as a proposal is dropped (Java warns).
        let committed = std::mem::take(&mut self.committed);
        for zxid in committed {
            if self.observer {
                // Observer.syncWithLeader: a proposal without its commit is skipped (an old
                // leader's outstanding one), the committed ones are applied in order.
                while self.pending.first().is_some_and(|&head| head < zxid) {
                    self.pending.remove(0);
                }
            }
            if self.pending.contains(&zxid) {
                self.commit(zxid, out);
            }
        }
        if self.observer {
            self.pending.clear();
        }
    }

    fn commit(&mut self, zxid: i64, out: &mut Vec<Command>) {
        match self.pending.first() {
            Some(&head) if head == zxid => {
                self.pending.remove(0);
                out.push(Command::Commit { zxid });
            }
            // Java: "Committing zxid ... but next pending txn ..." and exit(12).
            Some(_) => self.abandon("COMMIT does not match the oldest pending proposal", out),
            // Java: warning only.
            None => {}
        }
    }

    fn broadcast(&mut self, p: Packet, out: &mut Vec<Command>) {
        if let Packet::Revalidate(Revalidate::Reply { session_id, valid }) = p {
            out.push(Command::Revalidated { session_id, valid });
            return;
        }
        if self.observer {
            // Observer.processPacket.
            match p {
                Packet::Inform { zxid, txn } => {
                    out.push(Command::Persist(vec![txn]));
                    out.push(Command::Commit { zxid });
                }
                Packet::Ping { zxid, .. } => out.push(Command::ReplyToPing { zxid }),
                Packet::Sync => out.push(Command::Synced),
                // PROPOSAL, COMMIT, a second UPTODATE: Java logs and ignores them.
                _ => {}
            }
            return;
        }
        match p {
            Packet::Proposal { zxid, txn } => {
                self.pending.push(zxid);
                self.unacked.push(zxid);
                out.push(Command::Persist(vec![txn]));
            }
            Packet::Commit { zxid } => self.commit(zxid, out),
            Packet::Ping { zxid, .. } => out.push(Command::ReplyToPing { zxid }),
            Packet::Sync => out.push(Command::Synced),
            // Java logs an error for a second UPTODATE and carries on.
            Packet::UpToDate => {}
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::packet::PROTOCOL_VERSION;
    use zk_proto::txn::TxnHeader;

    const E: i64 = 6;
    const NL: i64 = E << 32;

    fn txn(zxid: i64) -> TxnPayload {
        // An ErrorTxn{err}: the smallest real txn.
        let header = TxnHeader {
            client_id: 1,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000,
            type_: -1,
        };
        TxnPayload::new(header, &(-101i32).to_be_bytes(), None)
    }

    fn proposal(zxid: i64) -> Event {
        Event::Received(Packet::Proposal {
            zxid,
            txn: txn(zxid),
        })
    }

    fn commit(zxid: i64) -> Event {
        Event::Received(Packet::Commit { zxid })
    }

    fn recv(p: Packet) -> Event {
        Event::Received(p)
    }

    fn send(p: Packet) -> Command {
        Command::Send(p)
    }

    fn ack(zxid: i64) -> Command {
        send(Packet::Ack { zxid })
    }

    /// A follower at acceptedEpoch = currentEpoch = 5, last zxid 0x500000007, taken to the
    /// point where it has sent ACKEPOCH for epoch 6.
    fn discovered() -> Learner {
        let hello = Packet::FollowerInfo {
            zxid: 5 << 32,
            info: LearnerInfoData::full(2, 0),
        };
        discover(Learner::new(2, 0, 5, 5, 0x5_0000_0007), hello)
    }

    /// `l` (at epochs 5/5, last zxid 0x500000007) registers with `hello` and is taken to
    /// the point where it has sent ACKEPOCH for epoch 6.
    fn discover(mut l: Learner, hello: Packet) -> Learner {
        assert_eq!(l.step(Event::Connected), vec![send(hello)]);
        // acceptedEpoch is written, and only once durable is ACKEPOCH sent.
        assert_eq!(
            l.step(recv(Packet::LeaderInfo {
                zxid: NL,
                protocol_version: PROTOCOL_VERSION,
            })),
            vec![Command::WriteAcceptedEpoch(E)]
        );
        assert_eq!(l.accepted_epoch(), 5);
        assert_eq!(
            l.step(Event::EpochDurable(EpochFile::Accepted)),
            vec![send(Packet::AckEpoch {
                zxid: 0x5_0000_0007,
                current_epoch: 5,
            })]
        );
        assert_eq!(l.accepted_epoch(), E);
        l
    }

    /// [`discovered`], synced by an empty DIFF and serving.
    fn broadcasting() -> Learner {
        let mut l = discovered();
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0007,
        }));
        l.step(recv(Packet::NewLeader {
            zxid: NL,
            config: None,
        }));
        l.step(Event::EpochDurable(EpochFile::Current));
        assert_eq!(
            l.step(recv(Packet::UpToDate)),
            vec![ack(NL), Command::Serve]
        );
        l
    }

    /// In broadcast, the leader's SYNC answers the oldest forwarded sync, in stream order
    /// with the COMMITs around it.
    #[test]
    fn sync_in_broadcast_is_handed_out_in_stream_order() {
        let mut l = broadcasting();
        l.step(proposal(NL + 1));
        assert_eq!(
            l.step(commit(NL + 1)),
            vec![Command::Commit { zxid: NL + 1 }]
        );
        assert_eq!(l.step(recv(Packet::Sync)), vec![Command::Synced]);
    }

    #[test]
    fn accepted_epoch_durable_before_ackepoch() {
        discovered();
    }

    #[test]
    fn same_epoch_acks_with_minus_one_and_older_epoch_abandons() {
        let mut l = Learner::new(2, 0, 6, 5, 0x5_0000_0007);
        l.step(Event::Connected);
        assert_eq!(
            l.step(recv(Packet::LeaderInfo {
                zxid: NL,
                protocol_version: PROTOCOL_VERSION
            })),
            vec![send(Packet::AckEpoch {
                zxid: 0x5_0000_0007,
                current_epoch: -1
            })]
        );
        let mut l = Learner::new(2, 0, 7, 5, 0x5_0000_0007);
        l.step(Event::Connected);
        assert!(matches!(
            l.step(recv(Packet::LeaderInfo {
                zxid: NL,
                protocol_version: PROTOCOL_VERSION
            }))[..],
            [Command::Abandon(_)]
        ));
    }

    /// ZOOKEEPER-3911: txns received with a DIFF are made durable before ACK(NEWLEADER),
    /// not after UPTODATE.
    #[test]
    fn zookeeper_3911_diff_txns_logged_before_newleader_ack() {
        let mut l = discovered();
        assert_eq!(
            l.step(recv(Packet::Diff {
                zxid: 0x5_0000_0009
            })),
            vec![]
        );
        assert_eq!(l.step(proposal(0x5_0000_0008)), vec![]);
        assert_eq!(l.step(commit(0x5_0000_0008)), vec![]);
        assert_eq!(l.step(proposal(0x5_0000_0009)), vec![]);
        assert_eq!(l.step(commit(0x5_0000_0009)), vec![]);
        assert_eq!(
            l.step(recv(Packet::NewLeader {
                zxid: NL,
                config: None
            })),
            vec![Command::Persist(vec![
                txn(0x5_0000_0008),
                txn(0x5_0000_0009)
            ])]
        );
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x5_0000_0009
            }),
            vec![Command::WriteCurrentEpoch(E)]
        );
        assert_eq!(
            l.step(Event::EpochDurable(EpochFile::Current)),
            vec![ack(NL)]
        );
        assert_eq!(l.current_epoch(), E);
        // UPTODATE: ack, serve, commit in order (nothing left to ack: all committed).
        assert_eq!(
            l.step(recv(Packet::UpToDate)),
            vec![
                ack(NL),
                Command::Serve,
                Command::Commit {
                    zxid: 0x5_0000_0008
                },
                Command::Commit {
                    zxid: 0x5_0000_0009
                },
            ]
        );
        assert!(l.is_broadcasting());
    }

    /// ZOOKEEPER-4643: currentEpoch is written only after the sync txns are fsync'd (a
    /// crash in between must not leave a higher currentEpoch over a shorter log).
    #[test]
    fn zookeeper_4643_current_epoch_after_sync_txns_durable() {
        let mut l = discovered();
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0008,
        }));
        l.step(proposal(0x5_0000_0008));
        let out = l.step(recv(Packet::NewLeader {
            zxid: NL,
            config: None,
        }));
        assert!(!out.contains(&Command::WriteCurrentEpoch(E)), "{out:?}");
        // A partial fsync is not enough.
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x5_0000_0007
            }),
            vec![]
        );
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x5_0000_0008
            }),
            vec![Command::WriteCurrentEpoch(E)]
        );
        assert_eq!(
            l.current_epoch(),
            5,
            "memory follows the file (ZOOKEEPER-2307)"
        );
    }

    /// ZOOKEEPER-4646: ACK(NEWLEADER) is not sent before the sync txns are fsync'd and
    /// currentEpoch is durable.
    #[test]
    fn zookeeper_4646_newleader_ack_waits_for_fsync() {
        let mut l = discovered();
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0008,
        }));
        l.step(proposal(0x5_0000_0008));
        l.step(commit(0x5_0000_0008));
        let mut sent = Vec::new();
        for e in [
            recv(Packet::NewLeader {
                zxid: NL,
                config: None,
            }),
            Event::LogDurable {
                zxid: 0x5_0000_0008,
            },
        ] {
            sent.extend(l.step(e));
        }
        assert!(
            !sent.iter().any(|c| matches!(c, Command::Send(_))),
            "{sent:?}"
        );
        assert_eq!(
            l.step(Event::EpochDurable(EpochFile::Current)),
            vec![ack(NL)]
        );
    }

    /// ZOOKEEPER-4685: the first packet after ACKEPOCH is ACK(NEWLEADER); the ACKs of
    /// proposals received in sync come after UPTODATE.
    #[test]
    fn zookeeper_4685_no_proposal_ack_before_newleader_ack() {
        let mut l = discovered();
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0007,
        }));
        // Outstanding (uncommitted) proposals forwarded by startForwarding.
        l.step(proposal(0x6_0000_0001));
        l.step(proposal(0x6_0000_0002));
        let mut sent = Vec::new();
        for e in [
            recv(Packet::NewLeader {
                zxid: NL,
                config: None,
            }),
            Event::LogDurable {
                zxid: 0x6_0000_0002,
            },
            Event::EpochDurable(EpochFile::Current),
        ] {
            sent.extend(
                l.step(e)
                    .into_iter()
                    .filter(|c| matches!(c, Command::Send(_))),
            );
        }
        assert_eq!(sent, vec![ack(NL)]);
        assert_eq!(
            l.step(recv(Packet::UpToDate)),
            vec![
                ack(NL),
                Command::Serve,
                ack(0x6_0000_0001),
                ack(0x6_0000_0002)
            ]
        );
        // Then broadcast commits them in order.
        assert_eq!(
            l.step(commit(0x6_0000_0001)),
            vec![Command::Commit {
                zxid: 0x6_0000_0001
            }]
        );
    }

    /// ZOOKEEPER-4394: a COMMIT arriving between NEWLEADER and UPTODATE for a proposal
    /// received before NEWLEADER is recorded and applied at UPTODATE (3.8 NPEs here).
    #[test]
    fn zookeeper_4394_commit_between_newleader_and_uptodate() {
        let mut l = discovered();
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0007,
        }));
        l.step(proposal(0x6_0000_0001));
        l.step(recv(Packet::NewLeader {
            zxid: NL,
            config: None,
        }));
        assert_eq!(l.step(commit(0x6_0000_0001)), vec![]);
        // A proposal arriving in the same window is logged after UPTODATE.
        assert_eq!(l.step(proposal(0x6_0000_0002)), vec![]);
        l.step(Event::LogDurable {
            zxid: 0x6_0000_0001,
        });
        assert_eq!(
            l.step(Event::EpochDurable(EpochFile::Current)),
            vec![ack(NL)]
        );
        assert_eq!(
            l.step(recv(Packet::UpToDate)),
            vec![
                ack(NL),
                Command::Serve,
                Command::Persist(vec![txn(0x6_0000_0002)]),
                Command::Commit {
                    zxid: 0x6_0000_0001
                },
            ]
        );
        // 0x600000002 is ACKed once durable.
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x6_0000_0002
            }),
            vec![ack(0x6_0000_0002)]
        );
    }

    /// SNAP: load, apply what was committed during sync, snapshot (fsync'd) and log, and only
    /// then currentEpoch and the ACK. TRUNC truncates first and also snapshots.
    #[test]
    fn snap_and_trunc_snapshot_before_current_epoch() {
        for (packet, first) in [
            (
                Packet::Snap {
                    zxid: 0x6_0000_0000,
                },
                Command::LoadSnapshot {
                    zxid: 0x6_0000_0000,
                },
            ),
            (
                Packet::Trunc {
                    zxid: 0x5_0000_0005,
                },
                Command::Truncate {
                    zxid: 0x5_0000_0005,
                },
            ),
        ] {
            let mut l = discovered();
            assert_eq!(l.step(recv(packet)), vec![first]);
            l.step(proposal(0x6_0000_0001));
            l.step(commit(0x6_0000_0001));
            assert_eq!(
                l.step(recv(Packet::NewLeader {
                    zxid: NL,
                    config: None
                })),
                vec![
                    Command::Commit {
                        zxid: 0x6_0000_0001
                    },
                    Command::TakeSnapshot,
                    Command::Persist(vec![txn(0x6_0000_0001)]),
                ]
            );
            assert_eq!(
                l.step(Event::LogDurable {
                    zxid: 0x6_0000_0001
                }),
                vec![]
            );
            assert_eq!(
                l.step(Event::SnapshotDurable),
                vec![Command::WriteCurrentEpoch(E)]
            );
            assert_eq!(
                l.step(Event::EpochDurable(EpochFile::Current)),
                vec![ack(NL)]
            );
            assert_eq!(
                l.step(recv(Packet::UpToDate)),
                vec![ack(NL), Command::Serve]
            );
        }
    }

    /// Broadcast: ACK only after fsync, in order; pings answered; pings ignored during sync;
    /// a COMMIT that skips the oldest pending proposal ends the connection (Java exit 12).
    #[test]
    fn broadcast_acks_after_fsync_and_commits_in_order() {
        let mut l = discovered();
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0007,
        }));
        assert_eq!(
            l.step(recv(Packet::Ping {
                zxid: 1,
                sessions: None
            })),
            vec![]
        );
        l.step(recv(Packet::NewLeader {
            zxid: NL,
            config: None,
        }));
        assert_eq!(
            l.step(Event::EpochDurable(EpochFile::Current)),
            vec![ack(NL)]
        );
        l.step(recv(Packet::UpToDate));
        assert_eq!(
            l.step(proposal(0x6_0000_0001)),
            vec![Command::Persist(vec![txn(0x6_0000_0001)])]
        );
        assert_eq!(
            l.step(proposal(0x6_0000_0002)),
            vec![Command::Persist(vec![txn(0x6_0000_0002)])]
        );
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x6_0000_0002
            }),
            vec![ack(0x6_0000_0001), ack(0x6_0000_0002)]
        );
        assert_eq!(
            l.step(recv(Packet::Ping {
                zxid: 0x6_0000_0002,
                sessions: None
            })),
            vec![Command::ReplyToPing {
                zxid: 0x6_0000_0002
            }]
        );
        assert!(matches!(
            l.step(commit(0x6_0000_0002))[..],
            [Command::Abandon(_)]
        ));
        assert_eq!(l.step(commit(0x6_0000_0001)), vec![], "gone: nothing more");
    }

    fn inform(zxid: i64) -> Event {
        Event::Received(Packet::Inform {
            zxid,
            txn: txn(zxid),
        })
    }

    /// An observer registers with OBSERVERINFO, keeps the follower's durable order, ACKs
    /// NEWLEADER and UPTODATE but no proposal, applies INFORMs of sync and of broadcast,
    /// and ignores PROPOSAL/COMMIT in broadcast.
    #[test]
    fn observer_registers_syncs_and_applies_informs() {
        let l = Learner::observer(4, 0, 5, 5, 0x5_0000_0007);
        assert!(l.is_observer());
        let hello = Packet::ObserverInfo {
            zxid: 5 << 32,
            info: LearnerInfoData::full(4, 0),
        };
        let mut l = discover(l, hello);
        l.step(recv(Packet::Diff {
            zxid: 0x5_0000_0008,
        }));
        // A DIFF's PROPOSAL/COMMIT pair, and an uncommitted proposal of an old leader.
        l.step(proposal(0x5_0000_0008));
        l.step(commit(0x5_0000_0008));
        l.step(proposal(0x6_0000_0001));
        assert_eq!(
            l.step(recv(Packet::NewLeader {
                zxid: NL,
                config: None,
            })),
            vec![Command::Persist(vec![
                txn(0x5_0000_0008),
                txn(0x6_0000_0001)
            ])]
        );
        // An INFORM between NEWLEADER and UPTODATE is logged and applied at UPTODATE.
        assert_eq!(l.step(inform(0x6_0000_0002)), vec![]);
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x6_0000_0001
            }),
            vec![Command::WriteCurrentEpoch(E)]
        );
        assert_eq!(
            l.step(Event::EpochDurable(EpochFile::Current)),
            vec![ack(NL)]
        );
        assert_eq!(
            l.step(recv(Packet::UpToDate)),
            vec![
                ack(NL),
                Command::Serve,
                Command::Persist(vec![txn(0x6_0000_0002)]),
                Command::Commit {
                    zxid: 0x5_0000_0008
                },
                Command::Commit {
                    zxid: 0x6_0000_0002
                },
            ],
            "no ACK of the uncommitted proposal, which is skipped"
        );
        // Broadcast: INFORM is logged and applied at once, never ACKed.
        assert_eq!(
            l.step(inform(0x6_0000_0003)),
            vec![
                Command::Persist(vec![txn(0x6_0000_0003)]),
                Command::Commit {
                    zxid: 0x6_0000_0003
                },
            ]
        );
        assert_eq!(
            l.step(Event::LogDurable {
                zxid: 0x6_0000_0003
            }),
            vec![]
        );
        assert_eq!(l.step(proposal(0x6_0000_0004)), vec![]);
        assert_eq!(l.step(commit(0x6_0000_0004)), vec![]);
        assert_eq!(
            l.step(recv(Packet::Ping {
                zxid: 0x6_0000_0003,
                sessions: None
            })),
            vec![Command::ReplyToPing {
                zxid: 0x6_0000_0003
            }]
        );
        assert_eq!(l.step(recv(Packet::Sync)), vec![Command::Synced]);
        assert!(l.is_broadcasting());
    }

    /// The leader's REVALIDATE reply is handed out, to a follower and to an observer.
    #[test]
    fn revalidate_reply_is_handed_out() {
        let mut l = broadcasting();
        for valid in [true, false] {
            assert_eq!(
                l.step(recv(Packet::Revalidate(Revalidate::Reply {
                    session_id: 0x1_0000_0042,
                    valid
                }))),
                vec![Command::Revalidated {
                    session_id: 0x1_0000_0042,
                    valid
                }]
            );
        }
    }
}
