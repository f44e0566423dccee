//! Quorum verifiers: which sets of servers form a quorum (`Q/flexible/QuorumVerifier`).
//!
//! The trait is what election and broadcast need, nothing more, so that zk-config can
//! implement it for hierarchical quorums (`group.N` / `weight.N`) from a parsed config.

use std::collections::BTreeSet;

/// Answers "is this a quorum?" for one configuration.
pub trait QuorumVerifier {
    /// The voting members' sids (`getVotingMembers().keySet()`), observers excluded.
    fn voting_members(&self) -> BTreeSet<i64>;

    /// A member's weight; 0 means it may vote but never lead (`totalOrderPredicate`).
    fn weight(&self, sid: i64) -> u64;

    /// Whether the voting members among `sids` form a quorum (`containsQuorum`, after
    /// `SyncedLearnerTracker.addAck` has dropped non-members).
    fn contains_quorum(&self, sids: &BTreeSet<i64>) -> bool;

    /// Whether `sid` is a voting member (`FastLeaderElection.validVoter`).
    fn is_voter(&self, sid: i64) -> bool {
        self.voting_members().contains(&sid)
    }
}

/// `QuorumMaj`: more than half of the voting members, every weight 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Majority {
    voters: BTreeSet<i64>,
}

impl Majority {
    /// A majority verifier over these voting members.
    pub fn new(voters: impl IntoIterator<Item = i64>) -> Self {
        Majority {
            voters: voters.into_iter().collect(),
        }
    }
}

impl QuorumVerifier for Majority {
    fn voting_members(&self) -> BTreeSet<i64> {
        self.voters.clone()
    }

    fn weight(&self, _sid: i64) -> u64 {
        1
    }

    fn contains_quorum(&self, sids: &BTreeSet<i64>) -> bool {
        let members = sids.iter().filter(|s| self.voters.contains(s)).count();
        members > self.voters.len() / 2
    }

    fn is_voter(&self, sid: i64) -> bool {
        self.voters.contains(&sid)
    }
}

/// A shared verifier of any kind (majority, zk-config's hierarchical quorums), so that a
/// peer's owner need not be generic over it.
impl QuorumVerifier for std::sync::Arc<dyn QuorumVerifier + Send + Sync> {
    fn voting_members(&self) -> BTreeSet<i64> {
        (**self).voting_members()
    }
    fn weight(&self, sid: i64) -> u64 {
        (**self).weight(sid)
    }
    fn contains_quorum(&self, sids: &BTreeSet<i64>) -> bool {
        (**self).contains_quorum(sids)
    }
    fn is_voter(&self, sid: i64) -> bool {
        (**self).is_voter(sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_counts_members_only() {
        let q = Majority::new([1, 2, 3, 4]);
        let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<_>>();
        assert!(!q.contains_quorum(&set(&[1, 2])));
        assert!(q.contains_quorum(&set(&[1, 2, 3])));
        assert!(
            !q.contains_quorum(&set(&[1, 2, 9, 10])),
            "non-members do not count"
        );
        assert!(Majority::new([1]).contains_quorum(&set(&[1])));
        assert!(q.is_voter(4) && !q.is_voter(5));
    }
}
