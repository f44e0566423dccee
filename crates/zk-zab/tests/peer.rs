//! `peer::Peer` composing election, discovery, sync, broadcast and the learner: three peers
//! on a FIFO in-test network with disks that are durable at once.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use zk_zab::learner::EpochFile;
use zk_zab::peer::{Command, Event, Peer, PeerConfig, PeerRole};
use zk_zab::quorum::Majority;

struct Net {
    peers: BTreeMap<i64, Peer<Majority>>,
    down: Vec<i64>,
    q: VecDeque<(i64, Event)>,
    commits: BTreeMap<i64, Vec<i64>>,
    established: Vec<(i64, i64)>,
}

impl Net {
    fn new(n: i64) -> Net {
        let voters: Vec<i64> = (1..=n).collect();
        let mut net = Net {
            peers: BTreeMap::new(),
            down: Vec::new(),
            q: VecDeque::new(),
            commits: BTreeMap::new(),
            established: Vec::new(),
        };
        for &id in &voters {
            let mut cfg = PeerConfig::new(id, Majority::new(voters.clone()));
            cfg.tick_ms = 200;
            cfg.max_notification_interval_ms = 1600;
            net.peers.insert(id, Peer::new(cfg, Vec::new(), 0, 0, 1));
            net.q.push_back((id, Event::Start));
        }
        net
    }

    fn handle(&mut self, id: i64, cmds: Vec<Command>) {
        for c in cmds {
            match c {
                Command::Send { to, message } => {
                    if !self.down.contains(&to) {
                        self.q
                            .push_back((to, Event::Received { from: id, message }))
                    }
                }
                Command::Persist(t) => self.q.push_back((
                    id,
                    Event::LogDurable {
                        zxid: t.last().unwrap().header().zxid,
                    },
                )),
                Command::WriteAcceptedEpoch(epoch) => self.q.push_back((
                    id,
                    Event::EpochDurable {
                        file: EpochFile::Accepted,
                        epoch,
                    },
                )),
                Command::WriteCurrentEpoch(epoch) => self.q.push_back((
                    id,
                    Event::EpochDurable {
                        file: EpochFile::Current,
                        epoch,
                    },
                )),
                Command::TakeSnapshot(_) => self.q.push_back((id, Event::SnapshotDurable)),
                Command::Commit { zxid } => self.commits.entry(id).or_default().push(zxid),
                Command::Established { epoch } => self.established.push((id, epoch)),
                Command::Truncate { .. } | Command::LoadSnapshot { .. } => {}
                Command::RoleChanged(_) => {}
            }
        }
    }

    /// Runs until `done` or the step budget is spent; ticks every live peer when idle.
    fn run(&mut self, mut done: impl FnMut(&Net) -> bool) -> bool {
        for _ in 0..200_000 {
            if done(self) {
                return true;
            }
            match self.q.pop_front() {
                Some((id, e)) => {
                    if self.down.contains(&id) {
                        continue;
                    }
                    let cmds = self.peers.get_mut(&id).unwrap().step(e);
                    self.handle(id, cmds);
                }
                None => {
                    let ids: Vec<i64> = self.peers.keys().copied().collect();
                    for id in ids {
                        if !self.down.contains(&id) {
                            self.q.push_back((id, Event::Tick));
                        }
                    }
                }
            }
        }
        false
    }

    fn leader(&self) -> Option<i64> {
        self.peers
            .values()
            .find(|p| !self.down.contains(&p.id()) && p.established_epoch().is_some())
            .map(|p| p.id())
    }

    fn propose(&mut self, leader: i64, cxid: i32) {
        let cmds = self
            .peers
            .get_mut(&leader)
            .unwrap()
            .step(Event::ClientPropose {
                client_id: 7,
                cxid,
                body: Bytes::from_static(&[0, 0, 0, 0]),
            });
        assert!(
            cmds.iter().any(|c| matches!(c, Command::Persist(_))),
            "{cmds:?}"
        );
        self.handle(leader, cmds);
    }
}

#[test]
fn three_peers_elect_a_leader_and_commit_a_proposal() {
    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    let leader = net.leader().unwrap();
    // Equal empty logs: the highest sid wins.
    assert_eq!(leader, 3);
    assert_eq!(net.established, [(3, 1)]);
    net.propose(leader, 1);
    let z = 1i64 << 32 | 1;
    assert!(net.run(|n| n.commits.values().filter(|c| c.contains(&z)).count() == 3));
    for p in net.peers.values() {
        assert_eq!(p.last_zxid(), z, "peer {}", p.id());
        assert_eq!(p.epochs(), (1, 1));
    }
    for id in [1, 2] {
        assert_eq!(
            net.peers[&id].role(),
            PeerRole::Following { leader: 3 },
            "peer {id}"
        );
    }
}

#[test]
fn losing_the_leader_reelects_and_keeps_the_committed_txn() {
    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    net.propose(3, 1);
    let z1 = 1i64 << 32 | 1;
    assert!(net.run(|n| n.commits.values().filter(|c| c.contains(&z1)).count() == 3));
    // The leader dies: the followers notice its silence, elect 2, and go on in epoch 2.
    net.down.push(3);
    assert!(net.run(|n| n.leader().is_some_and(|l| l != 3)
        && n.peers.values().filter(|p| p.is_serving()).count() == 1));
    let leader = net.leader().unwrap();
    assert_eq!(leader, 2);
    assert_eq!(net.established.last(), Some(&(2, 2)));
    net.propose(leader, 2);
    let z2 = 2i64 << 32 | 1;
    assert!(net.run(|n| [1, 2].iter().all(|id| n.commits[id].contains(&z2))));
    for id in [1, 2] {
        let zs: Vec<i64> = net.peers[&id]
            .log()
            .iter()
            .map(|t| t.header().zxid)
            .collect();
        assert_eq!(zs, [z1, z2], "peer {id}");
    }
}
