//! The replication seam: where a prepared txn goes (`propose`) and where it comes back
//! (`committed up to zxid Z`).
//!
//! ```text
//!   prep ──Prepared──► Replicator::propose ──Output::Persist──► log (shell)
//!                            │                                       │ fsync
//!   apply ◄──committed txns── Replicator::durable(Z) ◄──Input::Durable(Z)┘
//! ```
//!
//! The node never decides what "committed" means: its role does. Standalone's role is the
//! [`LocalReplicator`]: a txn durable in this node's log is committed (an ensemble of one).
//! An ensemble's role is Zab: on the leader a txn commits when a quorum of fsynced acks is
//! in, on a follower when the leader's COMMIT arrives. Both hand committed txns back in zxid
//! order, and the node applies them through the same code.

use std::collections::VecDeque;

use zk_core::prep::Prepared;
use zk_proto::txn_body::LogEntry;
use zk_proto::Zxid;

use crate::Output;

/// What a node's role is, as the pipeline needs to know it (`QuorumPeer.ServerState` plus
/// standalone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// A standalone server: an ensemble of one.
    Standalone,
    /// The ensemble's leader.
    Leader,
    /// A voting follower.
    Follower,
    /// A non-voting observer.
    Observer,
    /// A member of an ensemble that is not serving: electing, or syncing with its leader
    /// (`srvr`: "This ZooKeeper instance is not currently serving requests"). Client
    /// connections are closed as they arrive.
    Looking,
    /// A member whose peer has been LOOKING for a while, with `readonlymode.enabled`
    /// (Java's `ReadOnlyZooKeeperServer`): it serves read-only clients from the database it
    /// has loaded, with sessions local to it, and refuses writes with NOTREADONLY.
    ReadOnly,
}

impl RoleKind {
    /// Whether this node expires sessions itself. Only the leader (and a standalone server)
    /// runs `SessionTrackerImpl`'s expiry; learners report touches in their PINGs.
    pub fn expires_sessions(self) -> bool {
        matches!(self, RoleKind::Standalone | RoleKind::Leader)
    }

    /// Whether this node runs the container/TTL reaper (`ContainerManager` runs on the
    /// leader only).
    pub fn reaps_containers(self) -> bool {
        matches!(self, RoleKind::Standalone | RoleKind::Leader)
    }

    /// Whether a `sync` is answered here in session order. A learner sends it to the
    /// leader and answers when the leader's SYNC comes back.
    pub fn answers_sync_locally(self) -> bool {
        matches!(self, RoleKind::Standalone | RoleKind::Leader)
    }

    /// Whether this node prepares writes (only the leader, and a standalone server, runs
    /// `PrepRequestProcessor`; learners forward them).
    pub fn prepares_writes(self) -> bool {
        matches!(self, RoleKind::Standalone | RoleKind::Leader)
    }

    /// Whether client connections are served (false only while [`RoleKind::Looking`]).
    pub fn serves_clients(self) -> bool {
        self != RoleKind::Looking
    }

    /// Whether the tree holds committed txns only: false while [`RoleKind::Looking`] or
    /// [`RoleKind::ReadOnly`], when a member's tree holds its whole log, the uncommitted
    /// tail included (what Java's `loadData` loads), which the next sync may take back.
    /// Only such a tree is snapshotted.
    pub fn tree_is_committed(self) -> bool {
        !matches!(self, RoleKind::Looking | RoleKind::ReadOnly)
    }

    /// The name `srvr`, `stat` and `mntr` print (`zk_server_state`).
    pub fn name(self) -> &'static str {
        match self {
            RoleKind::Standalone => "standalone",
            RoleKind::Leader => "leader",
            RoleKind::Follower => "follower",
            RoleKind::Observer => "observer",
            RoleKind::Looking => "looking",
            // ReadOnlyZooKeeperServer.getState.
            RoleKind::ReadOnly => "read-only",
        }
    }
}

/// A replication role. The node calls [`Replicator::propose`] for every txn it prepares and
/// [`Replicator::durable`] when the log reports progress; the role appends what is
/// committed, in zxid order, to the queue it is handed.
pub trait Replicator: Send {
    /// The role, for the parts of the pipeline that differ by role.
    fn kind(&self) -> RoleKind;

    /// A txn prepared on this node enters replication. The role asks the shell to make it
    /// durable locally (`Output::Persist`) and, in an ensemble, to send it to the learners.
    fn propose(&mut self, txn: Prepared, out: &mut Vec<Output>);

    /// This node's log made every txn up to `zxid` durable. Txns that are committed as a
    /// result are appended to `committed`, in zxid order.
    fn durable(&mut self, zxid: Zxid, committed: &mut VecDeque<Prepared>);

    /// Txns proposed and not yet committed.
    fn pending(&self) -> usize;
}

/// Standalone: durable here means committed.
#[derive(Debug, Default)]
pub struct LocalReplicator {
    pending: VecDeque<Prepared>,
}

impl LocalReplicator {
    /// A replicator with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Replicator for LocalReplicator {
    fn kind(&self) -> RoleKind {
        RoleKind::Standalone
    }

    fn propose(&mut self, txn: Prepared, out: &mut Vec<Output>) {
        let bytes = LogEntry::bytes_of(&txn.header, &txn.body, None);
        out.push(Output::Persist {
            zxid: Zxid(txn.header.zxid),
            bytes,
        });
        self.pending.push_back(txn);
    }

    fn durable(&mut self, zxid: Zxid, committed: &mut VecDeque<Prepared>) {
        while self
            .pending
            .front()
            .is_some_and(|t| t.header.zxid <= zxid.0)
        {
            if let Some(t) = self.pending.pop_front() {
                committed.push_back(t);
            }
        }
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::txn::{ErrorTxn, TxnHeader};
    use zk_proto::txn_body::TxnBody;

    fn txn(zxid: i64) -> Prepared {
        Prepared {
            header: TxnHeader {
                client_id: 1,
                cxid: zxid as i32,
                zxid,
                time: 0,
                type_: -1,
            },
            body: TxnBody::Error(ErrorTxn { err: -101 }),
        }
    }

    #[test]
    fn local_commits_what_is_durable_in_order_and_nothing_more() {
        let mut r = LocalReplicator::new();
        let mut out = Vec::new();
        for z in 1..=3 {
            r.propose(txn(z), &mut out);
        }
        let zxids: Vec<i64> = out
            .iter()
            .map(|o| match o {
                Output::Persist { zxid, .. } => zxid.0,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(zxids, [1, 2, 3]);
        assert_eq!(r.pending(), 3);
        let mut committed = VecDeque::new();
        r.durable(Zxid(2), &mut committed);
        let got: Vec<i64> = committed.iter().map(|t| t.header.zxid).collect();
        assert_eq!(got, [1, 2]);
        assert_eq!(r.pending(), 1);
        r.durable(Zxid(2), &mut committed);
        assert_eq!(committed.len(), 2, "a repeated durable commits nothing new");
    }

    #[test]
    fn roles_differ_where_the_pipeline_asks() {
        assert!(RoleKind::Standalone.expires_sessions());
        assert!(!RoleKind::Follower.expires_sessions());
        assert!(!RoleKind::Observer.reaps_containers());
        assert!(!RoleKind::Follower.answers_sync_locally());
        assert!(RoleKind::Leader.prepares_writes());
        assert_eq!(RoleKind::Observer.name(), "observer");
        assert!(!RoleKind::Looking.serves_clients() && !RoleKind::Looking.prepares_writes());
        assert!(!RoleKind::Looking.expires_sessions() && RoleKind::Follower.serves_clients());
    }
}
