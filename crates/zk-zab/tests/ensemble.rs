//! The machines of zk-zab talking to each other, with a deterministic in-test network
//! (FIFO, no loss) and in-memory "disks" that answer every durability command at once.
//! This is not the simulator of the issue (zk-sim); it shows the pieces fit: three
//! elections agree, the leader's discovery and two learners sync by DIFF over the real
//! sync decision, and a broadcast proposal commits everywhere in order.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use zk_proto::txn::TxnHeader;
use zk_zab::broadcast::{self, Broadcast, LearnerKind};
use zk_zab::discovery::{self, Discovery};
use zk_zab::election::{self, Election, ElectionConfig, LearnerType, Role, Vote};
use zk_zab::learner::{self, EpochFile, Learner};
use zk_zab::quorum::Majority;
use zk_zab::sync::{sync_follower, SyncInput, SyncPlan};
use zk_zab::wire::election::NotificationForm;
use zk_zab::wire::packet::{Packet, TxnPayload};

const VOTERS: [i64; 3] = [1, 2, 3];

/// Runs three elections to completion; returns each node's decision.
fn elect(zxids: [i64; 3], epochs: [i64; 3]) -> BTreeMap<i64, (Vote, Role)> {
    let mut nodes: BTreeMap<i64, Election<Majority>> = VOTERS
        .iter()
        .map(|&id| {
            let cfg = ElectionConfig::new(
                id,
                LearnerType::Participant,
                Majority::new(VOTERS),
                Bytes::from_static(b"version=0"),
            );
            let i = (id - 1) as usize;
            (id, Election::new(cfg, zxids[i], epochs[i]))
        })
        .collect();
    let mut net: VecDeque<(i64, i64, Bytes)> = VecDeque::new();
    let mut timers: BTreeMap<i64, u64> = BTreeMap::new();
    let mut decided = BTreeMap::new();
    let mut handle = |from: i64,
                      cmds: Vec<election::Command>,
                      net: &mut VecDeque<(i64, i64, Bytes)>,
                      timers: &mut BTreeMap<i64, u64>| {
        for c in cmds {
            match c {
                // Through the real encoding, as a peer would see it.
                election::Command::Send { to, notification } => {
                    net.push_back((from, to, notification.to_bytes(NotificationForm::V2)))
                }
                election::Command::SetTimer { id, .. } => {
                    timers.insert(from, id);
                }
                election::Command::Decided { vote, role } => {
                    timers.remove(&from);
                    decided.insert(from, (vote, role));
                }
            }
        }
    };
    for id in VOTERS {
        let i = (id - 1) as usize;
        let cmds = nodes.get_mut(&id).unwrap().step(election::Event::Start {
            last_logged_zxid: zxids[i],
            current_epoch: epochs[i],
        });
        handle(id, cmds, &mut net, &mut timers);
    }
    for _ in 0..10_000 {
        if let Some((from, to, bytes)) = net.pop_front() {
            let notification = zk_zab::wire::election::Notification::decode(&bytes).unwrap();
            let cmds = nodes
                .get_mut(&to)
                .unwrap()
                .step(election::Event::Received { from, notification });
            handle(to, cmds, &mut net, &mut timers);
        } else if let Some((&node, &id)) = timers.iter().next() {
            let cmds = nodes
                .get_mut(&node)
                .unwrap()
                .step(election::Event::TimerFired { id });
            handle(node, cmds, &mut net, &mut timers);
        } else {
            break;
        }
    }
    decided
}

#[test]
fn three_elections_agree_on_the_highest_zxid() {
    let d = elect([0x1_0000_0005, 0x1_0000_0009, 0x1_0000_0007], [1, 1, 1]);
    assert_eq!(d.len(), 3, "{d:?}");
    let roles: Vec<Role> = d.values().map(|(_, r)| *r).collect();
    assert_eq!(roles, [Role::Following, Role::Leading, Role::Following]);
    assert!(d
        .values()
        .all(|(v, _)| v.id == 2 && v.zxid == 0x1_0000_0009));
}

#[test]
fn epoch_beats_zxid_and_sid_breaks_ties() {
    let d = elect([0x1_0000_0009, 0x2_0000_0001, 0x1_0000_0009], [1, 2, 1]);
    assert!(d.values().all(|(v, _)| v.id == 2), "{d:?}");
    let d = elect([0x1_0000_0009; 3], [1; 3]);
    assert!(d.values().all(|(v, _)| v.id == 3), "{d:?}");
    assert_eq!(d[&3].1, Role::Leading);
}

fn txn(zxid: i64) -> TxnPayload {
    let header = TxnHeader {
        client_id: 1,
        cxid: (zxid & 0xffff) as i32,
        zxid,
        time: 1_700_000_000_000,
        type_: -1,
    };
    TxnPayload::new(header, &0i32.to_be_bytes(), None)
}

/// A learner with its disk.
struct Node {
    learner: Learner,
    log: Vec<i64>,
    applied: Vec<i64>,
}

enum Msg {
    ToLeader(i64, Packet),
    ToLearner(i64, Packet),
    Learner(i64, learner::Event),
    Leader(discovery::Event),
    Broadcast(broadcast::Event),
}

#[test]
fn discovery_diff_sync_and_broadcast_with_two_learners() {
    // Leader 2 holds 0x100000001..9 committed; follower 1 has up to ..5, follower 3 ..7.
    let leader_log: Vec<TxnPayload> = (1..=9).map(|c| txn((1 << 32) | c)).collect();
    let mut disc = Discovery::new(2, Majority::new(VOTERS), 0, 1, 1, 0x1_0000_0009);
    let mut bc: Option<Broadcast<Majority>> = None;
    let mut nodes: BTreeMap<i64, Node> = [(1, 5), (3, 7)]
        .into_iter()
        .map(|(sid, last)| {
            (
                sid,
                Node {
                    learner: Learner::new(sid, 0, 1, 1, (1 << 32) | last),
                    log: (1..=last).map(|c| (1 << 32) | c).collect(),
                    applied: (1..=last).map(|c| (1 << 32) | c).collect(),
                },
            )
        })
        .collect();
    let mut leader_applied: Vec<i64> = Vec::new();
    let mut q: VecDeque<Msg> = VecDeque::new();
    q.push_back(Msg::Leader(discovery::Event::Start));
    for sid in [1, 3] {
        q.push_back(Msg::Learner(sid, learner::Event::Connected));
    }
    let epoch = 2;
    let mut established = false;
    for _ in 0..10_000 {
        let Some(m) = q.pop_front() else { break };
        match m {
            Msg::Leader(e) => {
                for c in disc.step(e) {
                    match c {
                        discovery::Command::Send { to, packet } => {
                            q.push_back(Msg::ToLearner(to, packet))
                        }
                        discovery::Command::WriteAcceptedEpoch(_)
                        | discovery::Command::WriteCurrentEpoch(_) => {
                            q.push_back(Msg::Leader(discovery::Event::EpochDurable))
                        }
                        discovery::Command::Sync {
                            to,
                            peer_last_zxid,
                            epoch,
                        } => {
                            let plan = sync_follower(SyncInput {
                                force_snapshot: false,
                                last_processed_zxid: 0x1_0000_0009,
                                committed_log: &leader_log,
                                txn_log: None,
                                peer_last_zxid,
                            });
                            let SyncPlan::Packets { packets, .. } = plan else {
                                panic!("expected a DIFF for {to}: {plan:?}")
                            };
                            assert_eq!(
                                packets[0],
                                Packet::Diff {
                                    zxid: 0x1_0000_0009
                                }
                            );
                            for p in packets {
                                q.push_back(Msg::ToLearner(to, p));
                            }
                            q.push_back(Msg::ToLearner(
                                to,
                                Packet::NewLeader {
                                    zxid: epoch << 32,
                                    config: Some(Bytes::from_static(b"version=0")),
                                },
                            ));
                        }
                        discovery::Command::Established { epoch: e } => {
                            assert_eq!(e, epoch);
                            established = true;
                            let mut b = Broadcast::new(2, Majority::new(VOTERS), e, 5);
                            b.add_learner(1, LearnerKind::Follower);
                            b.add_learner(3, LearnerKind::Follower);
                            bc = Some(b);
                        }
                        other => panic!("leader: {other:?}"),
                    }
                }
            }
            Msg::ToLeader(from, packet) => {
                if bc.is_some() {
                    q.push_back(Msg::Broadcast(broadcast::Event::Received {
                        from,
                        packet: packet.clone(),
                    }));
                }
                q.push_back(Msg::Leader(discovery::Event::Received { from, packet }));
            }
            Msg::Broadcast(e) => {
                for c in bc.as_mut().unwrap().step(e) {
                    match c {
                        broadcast::Command::Send { to, packet } => {
                            q.push_back(Msg::ToLearner(to, packet))
                        }
                        broadcast::Command::Persist(t) => {
                            q.push_back(Msg::Broadcast(broadcast::Event::LogDurable {
                                zxid: t.header().zxid,
                            }))
                        }
                        broadcast::Command::Commit { zxid } => leader_applied.push(zxid),
                        broadcast::Command::StepDown(why) => panic!("step down: {why}"),
                        broadcast::Command::Forwarded { from, .. } => {
                            panic!("nothing is forwarded here (from {from})")
                        }
                        broadcast::Command::Revalidate { from, .. } => {
                            panic!("nothing is revalidated here (from {from})")
                        }
                        broadcast::Command::LocalSynced => panic!("no local sync here"),
                    }
                }
            }
            Msg::ToLearner(to, packet) => {
                q.push_back(Msg::Learner(to, learner::Event::Received(packet)))
            }
            Msg::Learner(sid, e) => {
                let node = nodes.get_mut(&sid).unwrap();
                for c in node.learner.step(e) {
                    match c {
                        learner::Command::Send(p) => q.push_back(Msg::ToLeader(sid, p)),
                        learner::Command::WriteAcceptedEpoch(_) => q.push_back(Msg::Learner(
                            sid,
                            learner::Event::EpochDurable(EpochFile::Accepted),
                        )),
                        learner::Command::WriteCurrentEpoch(_) => q.push_back(Msg::Learner(
                            sid,
                            learner::Event::EpochDurable(EpochFile::Current),
                        )),
                        learner::Command::Persist(txns) => {
                            let last = txns.last().map(|t| t.header().zxid).unwrap();
                            node.log.extend(txns.iter().map(|t| t.header().zxid));
                            q.push_back(Msg::Learner(
                                sid,
                                learner::Event::LogDurable { zxid: last },
                            ));
                        }
                        learner::Command::Commit { zxid } => node.applied.push(zxid),
                        learner::Command::Serve => {}
                        other => panic!("learner {sid}: {other:?}"),
                    }
                }
            }
        }
        if established && leader_applied.is_empty() && q.is_empty() {
            // Both learners are serving: broadcast one write.
            assert!(nodes.values().all(|n| n.learner.is_broadcasting()));
            q.push_back(Msg::Broadcast(broadcast::Event::Propose(txn((epoch
                << 32)
                | 1))));
        }
    }
    assert!(q.is_empty(), "bounded loop ran out");
    assert_eq!(leader_applied, [(epoch << 32) | 1]);
    let want: Vec<i64> = (1..=9)
        .map(|c| (1 << 32) | c)
        .chain([(epoch << 32) | 1])
        .collect();
    for (sid, n) in &nodes {
        assert_eq!(n.log, want, "learner {sid} log");
        assert_eq!(n.applied, want, "learner {sid} applied");
        assert_eq!(n.learner.current_epoch(), epoch);
    }
}
