//! The leader's choice of DIFF, TRUNC or SNAP for one learner, as
//! `LearnerHandler.syncFollower` and `queueCommittedProposals` make it (ZAB-NOTES §4.5).
//!
//! A pure function of what the leader holds when the learner's ACKEPOCH arrives: its
//! `lastProcessedZxid`, the in-memory committed log (the last `zookeeper.commitLogCount`
//! committed proposals), optionally the on-disk txn log from the peer's zxid (already cut to
//! the `snapshotSizeFactor` limit by the caller, as `ZKDatabase.getProposalsFromTxnLog`
//! does), and the peer's last zxid. The answer is the packets to queue before NEWLEADER
//! (op packet, then PROPOSAL + COMMIT pairs) or SNAP, and the zxid forwarding starts after
//! (`startForwarding`).
//!
//! ```text
//!  force ──► SNAP
//!  peer == lastProcessed ──► DIFF(peer)                              (already in sync)
//!  peer > maxCommitted, peer not epoch<<32 ──► TRUNC(maxCommitted)
//!  minCommitted <= peer <= maxCommitted ──► walk the committed log:
//!      peer found ──► DIFF(maxCommitted) + what follows
//!      peer is epoch<<32 ──► DIFF(maxCommitted) + everything from there
//!      a later zxid of the same epoch ──► TRUNC(previous) + what follows
//!      a later zxid of another epoch ──► SNAP ("cannot TRUNC across epochs")
//!  peer < minCommitted, txn log reaches it ──► the same walk over log then committed log
//!                                               (a gap between them ──► SNAP)
//!  otherwise ──► SNAP
//! ```

use crate::wire::packet::{Packet, TxnPayload};

/// What the leader knows when it syncs a learner.
#[derive(Debug, Clone, Copy)]
pub struct SyncInput<'a> {
    /// `zookeeper.forceSnapshotSync` (tests only upstream).
    pub force_snapshot: bool,
    /// The leader database's lastProcessedZxid.
    pub last_processed_zxid: i64,
    /// The committed log, oldest first.
    pub committed_log: &'a [TxnPayload],
    /// Proposals read from the on-disk txn log starting at the peer's zxid, oldest first;
    /// `None` when txn-log sync is disabled (`snapshotSizeFactor < 0`) or the log is too
    /// large or does not reach back far enough.
    pub txn_log: Option<&'a [TxnPayload]>,
    /// The learner's last logged zxid (from ACKEPOCH).
    pub peer_last_zxid: i64,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// Send these packets (a DIFF or TRUNC, then PROPOSAL + COMMIT pairs), then forward
    /// everything after `forward_from`.
    Packets {
        /// The queue, in order.
        packets: Vec<Packet>,
        /// The last zxid queued (`startForwarding`'s argument).
        forward_from: i64,
    },
    /// Send SNAP(lastProcessedZxid) and the snapshot stream, then forward everything after
    /// lastProcessedZxid.
    Snap {
        /// lastProcessedZxid.
        zxid: i64,
    },
}

fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// `queueCommittedProposals` with the handler's `needOpPacket` flag.
struct Queue {
    need_op: bool,
    packets: Vec<Packet>,
}

impl Queue {
    /// Queues the proposals in `(peer, max]` with the op packet the first one calls for.
    /// Returns the last zxid queued.
    fn committed(
        &mut self,
        log: &[TxnPayload],
        peer: i64,
        max: Option<i64>,
        last_committed: i64,
    ) -> i64 {
        let peer_new_epoch = peer & 0xffff_ffff == 0;
        let mut queued = peer;
        let mut prev = -1;
        for txn in log {
            let zxid = txn.header().zxid;
            if max.is_some_and(|m| zxid > m) {
                break;
            }
            if zxid < peer {
                prev = zxid;
                continue;
            }
            if self.need_op {
                if zxid == peer {
                    self.packets.push(Packet::Diff {
                        zxid: last_committed,
                    });
                    self.need_op = false;
                    continue;
                }
                if peer_new_epoch {
                    self.packets.push(Packet::Diff {
                        zxid: last_committed,
                    });
                    self.need_op = false;
                } else if zxid > peer {
                    if epoch_of(zxid) != epoch_of(peer) {
                        // The learner would crash on a TRUNC across epochs: SNAP instead.
                        return queued;
                    }
                    self.packets.push(Packet::Trunc { zxid: prev });
                    self.need_op = false;
                }
            }
            if zxid <= queued {
                // Nothing to queue yet, or a duplicate in the iterator.
                continue;
            }
            self.packets.push(Packet::Proposal {
                zxid,
                txn: txn.clone(),
            });
            self.packets.push(Packet::Commit { zxid });
            queued = zxid;
        }
        if self.need_op && peer_new_epoch {
            // Our history ends before the learner's new-epoch zxid: an empty DIFF.
            self.packets.push(Packet::Diff {
                zxid: last_committed,
            });
            self.need_op = false;
        }
        queued
    }
}

/// `LearnerHandler.syncFollower`.
pub fn sync_follower(input: SyncInput<'_>) -> SyncPlan {
    let peer = input.peer_last_zxid;
    let last = input.last_processed_zxid;
    let (min, max) = match (input.committed_log.first(), input.committed_log.last()) {
        (Some(a), Some(b)) => (a.header().zxid, b.header().zxid),
        _ => (last, last),
    };
    let peer_new_epoch = peer & 0xffff_ffff == 0;
    let mut q = Queue {
        need_op: true,
        packets: Vec::new(),
    };
    let mut need_snap = true;
    let mut current = peer;
    if input.force_snapshot {
    } else if last == peer {
        q.packets.push(Packet::Diff { zxid: peer });
        q.need_op = false;
        need_snap = false;
    } else if peer > max && !peer_new_epoch {
        q.packets.push(Packet::Trunc { zxid: max });
        current = max;
        q.need_op = false;
        need_snap = false;
    } else if min <= peer && peer <= max {
        current = q.committed(input.committed_log, peer, None, max);
        need_snap = false;
    } else if peer < min {
        if let Some(log) = input.txn_log.filter(|l| !l.is_empty()) {
            current = q.committed(log, peer, Some(min), max);
            if current < min {
                // A gap between the txn log and the committed log.
                q.packets.clear();
                q.need_op = true;
            } else {
                current = q.committed(input.committed_log, current, None, max);
                need_snap = false;
            }
        }
    }
    if q.need_op && !need_snap {
        // "Unhandled scenario ... fall back to use snapshot" (e.g. TRUNC across epochs).
        need_snap = true;
    }
    if need_snap {
        SyncPlan::Snap { zxid: last }
    } else {
        SyncPlan::Packets {
            packets: q.packets,
            forward_from: current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::txn::TxnHeader;

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

    fn log(zxids: &[i64]) -> Vec<TxnPayload> {
        zxids.iter().map(|&z| txn(z)).collect()
    }

    fn plan(last: i64, committed: &[i64], txn_log: Option<&[i64]>, peer: i64) -> SyncPlan {
        let committed = log(committed);
        let txn_log = txn_log.map(log);
        sync_follower(SyncInput {
            force_snapshot: false,
            last_processed_zxid: last,
            committed_log: &committed,
            txn_log: txn_log.as_deref(),
            peer_last_zxid: peer,
        })
    }

    /// `Diff(z)` / `Trunc(z)` then PROPOSAL+COMMIT for each of `sent`.
    fn packets(op: Packet, sent: &[i64], forward_from: i64) -> SyncPlan {
        let mut packets = vec![op];
        for &z in sent {
            packets.push(Packet::Proposal {
                zxid: z,
                txn: txn(z),
            });
            packets.push(Packet::Commit { zxid: z });
        }
        SyncPlan::Packets {
            packets,
            forward_from,
        }
    }

    const A1: i64 = 0x1_0000_0001;
    const A2: i64 = 0x1_0000_0002;
    const A3: i64 = 0x1_0000_0003;
    const A4: i64 = 0x1_0000_0004;
    const A5: i64 = 0x1_0000_0005;
    const A6: i64 = 0x1_0000_0006;
    const B0: i64 = 0x2_0000_0000;
    const B1: i64 = 0x2_0000_0001;
    const B2: i64 = 0x2_0000_0002;

    #[test]
    fn empty_committed_log() {
        // In sync: empty DIFF.
        assert_eq!(
            plan(A3, &[], None, A3),
            packets(Packet::Diff { zxid: A3 }, &[], A3)
        );
        // Peer ahead: TRUNC to what we have.
        assert_eq!(
            plan(A3, &[], None, A5),
            packets(Packet::Trunc { zxid: A3 }, &[], A3)
        );
        // Peer behind and no usable txn log: SNAP.
        assert_eq!(plan(A3, &[], None, A1), SyncPlan::Snap { zxid: A3 });
    }

    #[test]
    fn within_committed_log() {
        let c = [A1, A2, A3, A4];
        assert_eq!(
            plan(A4, &c, None, A2),
            packets(Packet::Diff { zxid: A4 }, &[A3, A4], A4)
        );
        // peer == maxCommitted but != lastProcessed: a DIFF with nothing after it.
        assert_eq!(
            plan(A5, &c, None, A4),
            packets(Packet::Diff { zxid: A4 }, &[], A4)
        );
        // In sync shortcut wins over the log walk.
        assert_eq!(
            plan(A4, &c, None, A4),
            packets(Packet::Diff { zxid: A4 }, &[], A4)
        );
    }

    #[test]
    fn peer_has_txns_we_lack_same_epoch_truncs() {
        // The peer logged A3 (an old leader's proposal) that we never committed.
        assert_eq!(
            plan(A4, &[A1, A2, A4], None, A3),
            packets(Packet::Trunc { zxid: A2 }, &[A4], A4)
        );
    }

    #[test]
    fn never_trunc_across_epochs() {
        assert_eq!(plan(B1, &[A1, B1], None, A2), SyncPlan::Snap { zxid: B1 });
    }

    #[test]
    fn new_epoch_zxid_peer_gets_diff() {
        assert_eq!(
            plan(B2, &[A5, B1, B2], None, B0),
            packets(Packet::Diff { zxid: B2 }, &[B1, B2], B2)
        );
        // A new-epoch zxid newer than our history is not truncated: SNAP.
        assert_eq!(
            plan(B2, &[A5, B1, B2], None, 0x3_0000_0000),
            SyncPlan::Snap { zxid: B2 }
        );
    }

    #[test]
    fn txn_log_then_committed_log() {
        // committedLog holds A4..A6; the disk log reaches back to the peer's A1.
        assert_eq!(
            plan(A6, &[A4, A5, A6], Some(&[A1, A2, A3, A4, A5]), A1),
            packets(Packet::Diff { zxid: A6 }, &[A2, A3, A4, A5, A6], A6)
        );
        // Duplicates in the iterator are queued once.
        assert_eq!(
            plan(A6, &[A4, A5, A6], Some(&[A1, A2, A2, A3, A4]), A1),
            packets(Packet::Diff { zxid: A6 }, &[A2, A3, A4, A5, A6], A6)
        );
        // A gap between the end of the txn log and the committed log: SNAP.
        assert_eq!(
            plan(A6, &[A4, A5, A6], Some(&[A1, A2]), A1),
            SyncPlan::Snap { zxid: A6 }
        );
        // Txn-log sync disabled or unusable: SNAP.
        assert_eq!(
            plan(A6, &[A4, A5, A6], None, A1),
            SyncPlan::Snap { zxid: A6 }
        );
    }

    #[test]
    fn forced_snapshot() {
        let c = log(&[A1, A2]);
        assert_eq!(
            sync_follower(SyncInput {
                force_snapshot: true,
                last_processed_zxid: A2,
                committed_log: &c,
                txn_log: None,
                peer_last_zxid: A2,
            }),
            SyncPlan::Snap { zxid: A2 }
        );
    }
}
