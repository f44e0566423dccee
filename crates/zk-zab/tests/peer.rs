//! `peer::Peer` composing election, discovery, sync, broadcast and the learner: three peers
//! on a FIFO in-test network with disks that are durable at once.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use zk_zab::learner::EpochFile;
use zk_zab::peer::{Command, Event, Message, Peer, PeerConfig, PeerRole};
use zk_zab::quorum::Majority;
use zk_zab::wire::packet::{ForwardedRequest, Packet, SessionTouch};

struct Net {
    peers: BTreeMap<i64, Peer<Majority>>,
    /// Every message sent, in order.
    sent: Vec<Message>,
    down: Vec<i64>,
    q: VecDeque<(i64, Event)>,
    commits: BTreeMap<i64, Vec<i64>>,
    established: Vec<(i64, i64)>,
    /// (leader, learner, request) of every `Forwarded`.
    forwarded: Vec<(i64, i64, ForwardedRequest)>,
    /// (leader, sessions) of every `SessionsTouched`.
    touched: Vec<(i64, Vec<SessionTouch>)>,
    /// Followers that got a `Synced`, in order.
    synced: Vec<i64>,
    /// (leader, learner, session, timeout) of every `Revalidate`.
    revalidate: Vec<(i64, i64, i64, i32)>,
    /// (learner, session, valid) of every `Revalidated`.
    revalidated: Vec<(i64, i64, bool)>,
    /// Each peer's pending timer id (the last `SetTimer`): it fires when the net is idle.
    timers: BTreeMap<i64, u64>,
}

impl Net {
    fn new(n: i64) -> Net {
        Net::with_config(n, |_| {})
    }

    fn with_config(n: i64, set: impl Fn(&mut PeerConfig<Majority>)) -> Net {
        Net::with_observers(n, 0, set)
    }

    /// Voters 1..=n and observers n+1..=n+observers.
    fn with_observers(n: i64, observers: i64, set: impl Fn(&mut PeerConfig<Majority>)) -> Net {
        let voters: Vec<i64> = (1..=n).collect();
        let mut net = Net {
            peers: BTreeMap::new(),
            sent: Vec::new(),
            down: Vec::new(),
            q: VecDeque::new(),
            commits: BTreeMap::new(),
            established: Vec::new(),
            forwarded: Vec::new(),
            touched: Vec::new(),
            synced: Vec::new(),
            revalidate: Vec::new(),
            revalidated: Vec::new(),
            timers: BTreeMap::new(),
        };
        for id in 1..=n + observers {
            let mut cfg = PeerConfig::new(id, Majority::new(voters.clone()));
            if id > n {
                cfg.learner_type = zk_zab::election::LearnerType::Observer;
            }
            cfg.tick_ms = 200;
            cfg.max_notification_interval_ms = 1600;
            set(&mut cfg);
            net.peers.insert(id, Peer::new(cfg, Vec::new(), 0, 0, 1));
            net.q.push_back((id, Event::Start));
        }
        net
    }

    fn handle(&mut self, id: i64, cmds: Vec<Command>) {
        for c in cmds {
            match c {
                Command::Send { to, message } => {
                    self.sent.push(message.clone());
                    if !self.down.contains(&to) {
                        self.q
                            .push_back((to, Event::Received { from: id, message }))
                    }
                }
                Command::SendSnapshot { to, conn, zxid } => {
                    // This net applies nothing: the snapshot's bytes name its zxid only.
                    let message = Message::Snapshot {
                        conn,
                        zxid,
                        data: Bytes::copy_from_slice(&zxid.to_be_bytes()),
                    };
                    self.sent.push(message.clone());
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
                Command::SetTimer { id: t, .. } => {
                    self.timers.insert(id, t);
                }
                Command::Truncate { .. } | Command::LoadSnapshot { .. } => {}
                Command::RoleChanged(_) => {}
                Command::Forwarded { from, request } => self.forwarded.push((id, from, request)),
                Command::SessionsTouched(t) => self.touched.push((id, t)),
                Command::Synced => self.synced.push(id),
                Command::Revalidate {
                    from,
                    session_id,
                    timeout_ms,
                } => self.revalidate.push((id, from, session_id, timeout_ms)),
                Command::Revalidated { session_id, valid } => {
                    self.revalidated.push((id, session_id, valid))
                }
            }
        }
    }

    /// Runs until `done` or the step budget is spent; fires the pending timers and ticks
    /// every live peer when idle (timers are shorter than a half tick), and every 2000 steps of a queue that never empties: an observer whose election round is
    /// ahead of the voters' trades notifications with each of them as long as they are
    /// LOOKING (Java's `WorkerReceiver` answers both ways), and the voters' finalize wait
    /// must still end.
    fn run(&mut self, mut done: impl FnMut(&Net) -> bool) -> bool {
        for step in 0..200_000 {
            if done(self) {
                return true;
            }
            let next = if step % 2000 == 1999 {
                None
            } else {
                self.q.pop_front()
            };
            match next {
                Some((id, e)) => {
                    if self.down.contains(&id) {
                        continue;
                    }
                    let cmds = self.peers.get_mut(&id).unwrap().step(e);
                    self.handle(id, cmds);
                }
                None => {
                    for (id, t) in std::mem::take(&mut self.timers) {
                        if !self.down.contains(&id) {
                            self.q.push_back((id, Event::TimerFired { id: t }));
                        }
                    }
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

/// FLE's finalize wait ends when the driver's timer fires, after its real 200 ms, not at
/// the next half tick: the peer asks for the timer (`SetTimer`), decides at its
/// `TimerFired` with no `Tick` in between, and ignores a replaced timer's id and ticks.
#[test]
fn the_finalize_wait_ends_when_its_timer_fires_without_a_tick() {
    use zk_zab::election::FINALIZE_WAIT_MS;
    use zk_zab::wire::election::{Notification, ServerState};

    let mut cfg = PeerConfig::new(1, Majority::new([1, 2, 3]));
    cfg.tick_ms = 2000;
    let mut p = Peer::new(cfg, Vec::new(), 0, 0, 1);
    let timers = |cmds: &[Command]| -> Vec<(u64, u64)> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::SetTimer { id, after_ms } => Some((*id, *after_ms)),
                _ => None,
            })
            .collect()
    };
    let started = timers(&p.step(Event::Start));
    let &[.., (first, _)] = &started[..] else {
        panic!("no notification timeout at the start: {started:?}");
    };
    // 2 votes for itself in round 1 with the same zxid: 1 adopts it; {1, 2} is a quorum,
    // so 1 waits finalizeWait for a better notification before deciding.
    let cmds = p.step(Event::Received {
        from: 2,
        message: Message::Election(Notification::v2(
            ServerState::Looking,
            2,
            0,
            1,
            0,
            Bytes::from_static(b"version=0"),
        )),
    });
    let &[.., (finalize, after_ms)] = &timers(&cmds)[..] else {
        panic!("no finalize timer: {cmds:?}");
    };
    assert_eq!(after_ms, FINALIZE_WAIT_MS);
    assert_ne!(finalize, first);
    assert_eq!(p.role(), PeerRole::Looking);
    // The replaced timer and a half tick (1 s, five finalize waits) decide nothing.
    assert!(p.step(Event::TimerFired { id: first }).is_empty());
    p.step(Event::Tick);
    assert_eq!(
        p.role(),
        PeerRole::Looking,
        "a half tick ended the finalize wait"
    );
    let cmds = p.step(Event::TimerFired { id: finalize });
    assert!(
        cmds.contains(&Command::RoleChanged(PeerRole::Following { leader: 2 })),
        "{cmds:?}"
    );
    // Fired twice: nothing.
    assert!(p.step(Event::TimerFired { id: finalize }).is_empty());
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

#[test]
fn a_follower_whose_leader_connection_breaks_looks_at_once() {
    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    let leader = net.leader().unwrap();
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let peer = net.peers.get_mut(&follower).unwrap();
    let conn = peer.leader_conn().expect("a follower's connection");
    // Another connection breaking changes nothing.
    let cmds = peer.step(Event::ConnectionLost { conn: conn ^ 1 });
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(peer.is_serving());
    // Its own: LOOKING, without a single tick.
    let cmds = peer.step(Event::ConnectionLost { conn });
    let looked = cmds
        .iter()
        .any(|c| matches!(c, Command::RoleChanged(PeerRole::Looking)));
    assert!(looked, "the follower kept following a broken connection");
    assert!(!peer.is_serving());
}

/// go-zookeeper's TestNoQuorum: with both followers killed, the leader must stop serving
/// within a tick or so, as Java's does (its learner handlers die with their sockets), not
/// after syncLimit ticks of silence.
#[test]
fn a_leader_whose_learner_connections_break_steps_down_at_the_next_check() {
    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    let leader = net.leader().unwrap();
    let peer = net.peers.get_mut(&leader).unwrap();
    let conns: Vec<u64> = (1..=3)
        .filter(|&id| id != leader)
        .map(|id| peer.learner_conn(id).expect("a learner's connection"))
        .collect();
    // An unknown connection changes nothing.
    let cmds = peer.step(Event::ConnectionLost {
        conn: conns[0] ^ conns[1] ^ 0xff,
    });
    assert!(cmds.is_empty(), "{cmds:?}");
    // One follower gone: the leader and the other are still a quorum.
    peer.step(Event::ConnectionLost { conn: conns[0] });
    for _ in 0..4 {
        let cmds = peer.step(Event::Tick);
        assert!(
            !cmds
                .iter()
                .any(|c| matches!(c, Command::RoleChanged(PeerRole::Looking))),
            "stepped down with a quorum: {cmds:?}"
        );
    }
    // Both gone: LOOKING at the next check, two half ticks at most (syncLimit is 5 ticks).
    peer.step(Event::ConnectionLost { conn: conns[1] });
    let looked = (0..2).any(|_| {
        peer.step(Event::Tick)
            .iter()
            .any(|c| matches!(c, Command::RoleChanged(PeerRole::Looking)))
    });
    assert!(looked, "the leader kept leading without a synced quorum");
}

fn txn(zxid: i64) -> zk_zab::wire::packet::TxnPayload {
    let header = zk_proto::txn::TxnHeader {
        client_id: 7,
        cxid: 1,
        zxid,
        time: 0,
        type_: -1,
    };
    zk_zab::wire::packet::TxnPayload::new(header, &[0, 0, 0, 0], None)
}

/// Found by zk-sim (seed 553 of 5 nodes, with its first fault rates): a follower that loaded a SNAP and lost its leader
/// before NEWLEADER kept the snapshot as its log although its disk never got it, and went
/// on appending after it: a gap on disk. The snapshot must be dropped with the session.
#[test]
fn snapshot_not_handed_to_disk_is_dropped_with_the_session() {
    use zk_zab::wire::election::{Notification, ServerState};
    use zk_zab::wire::packet::Packet;

    let mut cfg = PeerConfig::new(1, Majority::new([1, 2, 3]));
    cfg.tick_ms = 200;
    let own = vec![txn(1 << 32 | 1), txn(1 << 32 | 2)];
    let mut p = Peer::new(cfg, own.clone(), 1, 1, 1);
    p.step(Event::Start);
    // 3 leads epoch 1 with 2 following: 1 follows 3.
    let cfgtext = Bytes::from_static(b"version=0");
    for (from, state) in [(3, ServerState::Leading), (2, ServerState::Following)] {
        p.step(Event::Received {
            from,
            message: Message::Election(Notification::v2(
                state,
                3,
                2 << 32 | 5,
                1,
                2,
                cfgtext.clone(),
            )),
        });
    }
    assert_eq!(p.role(), PeerRole::Following { leader: 3 });
    let conn = 1 << 32 | 1;
    let cmds = p.step(Event::Received {
        from: 3,
        message: Message::Quorum {
            conn,
            packet: Packet::LeaderInfo {
                zxid: 3 << 32,
                protocol_version: 0x10000,
            },
        },
    });
    assert_eq!(cmds, vec![Command::WriteAcceptedEpoch(3)]);
    p.step(Event::EpochDurable {
        file: EpochFile::Accepted,
        epoch: 3,
    });
    let cmds = p.step(Event::Received {
        from: 3,
        message: Message::Snapshot {
            conn,
            zxid: 2 << 32 | 5,
            data: Bytes::from_static(b"db"),
        },
    });
    assert_eq!(
        cmds,
        vec![Command::LoadSnapshot {
            zxid: 2 << 32 | 5,
            data: Bytes::from_static(b"db")
        }]
    );
    assert_eq!((p.base(), p.log()), (2 << 32 | 5, &[][..]));
    // The leader goes silent before NEWLEADER: after initLimit the peer is LOOKING with
    // the log its disk has.
    for _ in 0..20 {
        p.step(Event::Tick);
    }
    assert_eq!(p.role(), PeerRole::Looking);
    assert_eq!(p.log(), &own[..]);
}

/// Found by tests/live_java.rs: `ClientPropose` makes every txn an `error` txn (type -1,
/// time 0), so a Java follower reads a create's record as `ErrorTxn` and applies nothing.
/// `ProposeTxn` proposes what the shell prepared (type, time, session, cxid, digest) at
/// `next_zxid`, byte for byte.
#[test]
fn a_prepared_txn_is_proposed_as_prepared_at_the_next_zxid() {
    use zk_proto::txn::{TxnDigest, TxnHeader};
    use zk_zab::wire::packet::{Packet, TxnPayload};

    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    assert_eq!(
        net.peers[&1].next_zxid(),
        None,
        "a follower proposes nothing"
    );
    let leader = net.peers.get_mut(&3).unwrap();
    let z = leader.next_zxid().unwrap();
    assert_eq!(z, 1 << 32 | 1);
    // A CreateTxn record ("/a", "x", no ACL, persistent, parentCVersion 1).
    let body = Bytes::from_static(&[
        0, 0, 0, 2, b'/', b'a', 0, 0, 0, 1, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
    let header = TxnHeader {
        client_id: 0x0100_0000_0000_0001,
        cxid: 9,
        zxid: 12345, // replaced by the peer's
        time: 1_700_000_000_000,
        type_: 1,
    };
    let digest = TxnDigest {
        version: 2,
        tree_digest: 7_539_952_680,
    };
    let cmds = leader.step(Event::ProposeTxn {
        header: header.clone(),
        body: body.clone(),
        digest: Some(digest.clone()),
    });
    let want = TxnPayload::new(TxnHeader { zxid: z, ..header }, &body, Some(digest));
    assert_eq!(leader.next_zxid(), Some(z + 1));
    assert!(
        cmds.contains(&Command::Persist(vec![want.clone()])),
        "{cmds:?}"
    );
    let proposals: Vec<(i64, &TxnPayload)> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Send {
                to,
                message:
                    Message::Quorum {
                        packet: Packet::Proposal { zxid, txn },
                        ..
                    },
            } => {
                assert_eq!(*zxid, z);
                Some((*to, txn))
            }
            _ => None,
        })
        .collect();
    assert_eq!(proposals, vec![(1, &want), (2, &want)]);
    net.handle(3, cmds);
    assert!(net.run(|n| n.commits.values().filter(|c| c.contains(&z)).count() == 3));
    for p in net.peers.values() {
        assert_eq!(p.log().last(), Some(&want), "peer {}", p.id());
    }
}

/// Found by tests/live_java.rs: the peer sent `version=0` as its config, which a Java
/// server with `standaloneEnabled=false` parses as a config without participants; the
/// `IllegalArgumentException` kills its WorkerReceiver and it never elects again. The
/// configured text is what every notification and NEWLEADER carry.
#[test]
fn the_configured_config_text_is_sent_in_notifications_and_newleader() {
    use zk_zab::wire::packet::Packet;

    let text = Bytes::from_static(
        b"server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\n\
          server.3=127.0.0.1:2890:3890:participant\nversion=0",
    );
    let mut net = Net::with_config(3, |cfg| cfg.config_text = text.clone());
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    let (mut notifications, mut newleaders) = (0, 0);
    for m in &net.sent {
        match m {
            Message::Election(n) => {
                notifications += 1;
                assert_eq!(n.config.as_ref(), Some(&text));
            }
            Message::Quorum {
                packet: Packet::NewLeader { config, .. },
                ..
            } => {
                newleaders += 1;
                assert_eq!(config.as_ref(), Some(&text));
            }
            _ => {}
        }
    }
    assert!(notifications >= 3, "{notifications} notifications");
    assert_eq!(newleaders, 2, "one NEWLEADER per follower");
}

fn request(op_type: i32, cxid: i32) -> ForwardedRequest {
    ForwardedRequest {
        session_id: 0x55,
        cxid,
        op_type,
        body: Bytes::from_static(b"\0\0\0\x02/a"),
        authinfo: Some(Vec::new()),
    }
}

/// A serving follower forwards a write (the leader hands it out as it came) and a sync (the
/// leader answers it with SYNC, which the follower hands out); the sessions it touched ride
/// on its next PING reply and come out at the leader. A peer that is not a serving follower
/// forwards nothing.
#[test]
fn a_follower_forwards_requests_syncs_and_session_touches() {
    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    let leader = net.leader().unwrap();
    let follower = *net.peers.keys().find(|&&id| id != leader).unwrap();
    let at_leader = net
        .peers
        .get_mut(&leader)
        .unwrap()
        .step(Event::Forward(request(1, 1)));
    assert!(
        at_leader.is_empty(),
        "a leader forwards nothing: {at_leader:?}"
    );
    let cmds = net
        .peers
        .get_mut(&follower)
        .unwrap()
        .step(Event::Forward(request(1, 1)));
    net.handle(follower, cmds);
    assert!(net.run(|n| !n.forwarded.is_empty()));
    assert_eq!(net.forwarded, vec![(leader, follower, request(1, 1))]);
    let cmds = net
        .peers
        .get_mut(&follower)
        .unwrap()
        .step(Event::Forward(request(9, 2)));
    net.handle(follower, cmds);
    assert!(net.run(|n| !n.synced.is_empty()));
    assert_eq!(net.synced, vec![follower]);
    assert_eq!(net.forwarded.len(), 1, "a sync is not handed out");
    net.peers
        .get_mut(&follower)
        .unwrap()
        .touch_session(0x55, 4000);
    assert!(net.run(|n| !n.touched.is_empty()));
    assert_eq!(
        net.touched,
        vec![(
            leader,
            vec![SessionTouch {
                session_id: 0x55,
                timeout_ms: 4000
            }]
        )]
    );
}

/// A leader recovered from a snapshot (`Peer::from_snapshot`) cannot walk its log from a
/// learner below the snapshot's zxid: it asks its driver to send a SNAP (at its last zxid), and the learner's log is then empty, based there; a learner in sync
/// gets a DIFF.
#[test]
fn a_leader_from_a_snapshot_snaps_a_learner_below_its_base() {
    const BASE: i64 = 1 << 32 | 5;
    let mut net = Net::new(3);
    let after = [txn(BASE + 1)];
    for id in [2, 3] {
        let mut cfg = PeerConfig::new(id, Majority::new(vec![1, 2, 3]));
        cfg.tick_ms = 200;
        cfg.max_notification_interval_ms = 1600;
        let p = Peer::from_snapshot(cfg, BASE, vec![txn(BASE), txn(BASE + 1)], 1, 1, 1);
        assert_eq!(
            p.log(),
            &after[..],
            "entries at or below the base are dropped"
        );
        assert_eq!((p.base(), p.last_zxid()), (BASE, BASE + 1));
        net.peers.insert(id, p);
    }
    assert!(net.run(|n| n.leader() == Some(3) && n.peers[&1].is_serving()));
    let snaps: Vec<i64> = net
        .sent
        .iter()
        .filter_map(|m| match m {
            Message::Snapshot { zxid, .. } => Some(*zxid),
            _ => None,
        })
        .collect();
    assert_eq!(
        snaps,
        vec![BASE + 1],
        "one SNAP, to 1, at the leader's last zxid"
    );
    let p1 = &net.peers[&1];
    assert_eq!((p1.base(), p1.log()), (BASE + 1, &[][..]));
    assert!(net.peers[&2].is_serving());
    assert_eq!(net.peers[&2].base(), BASE);
}

/// How an empty learner is synced by a leader whose whole history is three committed txns:
/// a DIFF of all three by default (the txn log reaches back to the first zxid), a SNAP once
/// `snapshotSizeFactor < 0` turns txn-log sync off and the committed log (the last
/// `commitLogCount` proposals, 2 here) does not reach it.
fn sync_of_an_empty_learner(set: impl Fn(&mut PeerConfig<Majority>)) -> Vec<&'static str> {
    let mut net = Net::new(3);
    for id in [2, 3] {
        let mut cfg = PeerConfig::new(id, Majority::new(vec![1, 2, 3]));
        cfg.tick_ms = 200;
        cfg.max_notification_interval_ms = 1600;
        set(&mut cfg);
        let log = vec![txn(1 << 32 | 1), txn(1 << 32 | 2), txn(1 << 32 | 3)];
        net.peers.insert(id, Peer::new(cfg, log, 1, 1, 1));
    }
    assert!(net.run(|n| n.leader() == Some(3) && n.peers[&1].is_serving()));
    net.sent
        .iter()
        .filter_map(|m| match m {
            Message::Snapshot { .. } => Some("SNAP"),
            Message::Quorum {
                packet: Packet::Diff { .. },
                ..
            } => Some("DIFF"),
            Message::Quorum {
                packet: Packet::Trunc { .. },
                ..
            } => Some("TRUNC"),
            _ => None,
        })
        .collect()
}

#[test]
fn without_txn_log_sync_a_learner_beyond_the_committed_log_gets_a_snap() {
    // Learner 2 is in sync (an empty DIFF); learner 1 is empty.
    assert_eq!(sync_of_an_empty_learner(|_| {}), ["DIFF", "DIFF"]);
    let off = |c: &mut PeerConfig<Majority>| {
        c.commit_log_count = 2;
        c.txn_log_sync = false;
    };
    let mut ways = sync_of_an_empty_learner(off);
    ways.sort_unstable();
    assert_eq!(ways, ["DIFF", "SNAP"]);
}

/// 3 voters and observer 4: the election never picks the observer (although its sid is the
/// highest), it observes the leader, applies every commit (by INFORM, never a PROPOSAL), is
/// counted in no quorum: with 2 of the 3 voters down nothing commits and the leader steps
/// down although the observer is up, and no leader is elected.
#[test]
fn three_voters_and_an_observer() {
    use zk_zab::wire::packet::Packet;
    let mut net = Net::with_observers(3, 1, |_| {});
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 3));
    let leader = net.leader().unwrap();
    assert_eq!(leader, 3, "the highest voter, not observer 4");
    assert_eq!(net.peers[&4].role(), PeerRole::Observing { leader: 3 });
    assert_eq!(net.peers[&4].figures().peer_state, "observing - broadcast");
    let figures = net.peers[&3].figures().leader.unwrap();
    assert_eq!(
        (
            figures.learners,
            figures.broadcast.synced_followers,
            figures.broadcast.synced_observers
        ),
        (3, 2, 1)
    );
    let zs: Vec<i64> = (1..=3).map(|c| 1i64 << 32 | c).collect();
    for (i, z) in zs.iter().enumerate() {
        net.propose(leader, i as i32 + 1);
        assert!(net.run(|n| n.commits.values().filter(|c| c.contains(z)).count() == 4));
    }
    assert_eq!(
        net.commits[&4], zs,
        "the observer applied every commit in order"
    );
    assert_eq!(net.peers[&4].log().len(), 3);
    let informs = net
        .sent
        .iter()
        .filter(|m| {
            matches!(
                m,
                Message::Quorum {
                    packet: Packet::Inform { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(informs, 3);
    // The observer sent no ACK of a proposal: every ACK it sent is an epoch's (NEWLEADER,
    // UPTODATE). Voters 1 and 2 go down: the observer is not a quorum.
    net.down.extend([1, 2]);
    net.propose(leader, 4);
    let z4 = 1i64 << 32 | 4;
    assert!(net.run(|n| n.leader().is_none()), "the leader kept leading");
    assert!(
        net.commits.values().all(|c| !c.contains(&z4)),
        "committed without a voter quorum"
    );
    // Nobody leads as long as 1 and 2 are down (the run spends its whole budget).
    assert!(!net.run(|n| n.leader().is_some()));
    assert_ne!(net.peers[&4].role(), PeerRole::Leading);
    // 2 comes back: 3 or 2 leads, the observer observes it and catches up.
    net.down.retain(|&id| id != 2);
    net.q.push_back((2, Event::Start));
    assert!(net.run(|n| n.leader().is_some()
        && matches!(n.peers[&4].role(), PeerRole::Observing { .. })
        && n.peers[&4].is_serving()));
    let leader = net.leader().unwrap();
    assert_ne!(leader, 4);
    let z5 = net.peers[&leader].next_zxid().unwrap();
    net.propose(leader, 5);
    assert!(net.run(|n| n.commits[&4].contains(&z5)));
    // The new leader (3, with the longest log) committed its logged z4 as its history.
    assert_eq!(leader, 3);
    assert_eq!(net.commits[&4], [zs[0], zs[1], zs[2], z4, z5]);
}

/// REVALIDATE end to end: a serving follower and an observer ask, the leader's node is
/// asked (with the learner's sid), its answer reaches the learner that asked.
#[test]
fn revalidate_asks_the_leader_and_hands_out_its_answer() {
    let mut net = Net::with_observers(3, 1, |_| {});
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 3));
    // Not serving: nothing is sent.
    let mut looking = Peer::new(
        PeerConfig::new(9, Majority::new([1, 2, 3])),
        Vec::new(),
        0,
        0,
        1,
    );
    assert_eq!(
        looking.step(Event::Revalidate {
            session_id: 5,
            timeout_ms: 4000
        }),
        vec![]
    );
    for (learner, session, valid) in [(1, 0x1_0000_0001i64, true), (4, 0x4_0000_0001, false)] {
        let cmds = net
            .peers
            .get_mut(&learner)
            .unwrap()
            .step(Event::Revalidate {
                session_id: session,
                timeout_ms: 4000,
            });
        net.handle(learner, cmds);
        assert!(net.run(|n| n.revalidate.len() == 1));
        assert_eq!(net.revalidate.pop(), Some((3, learner, session, 4000)));
        let cmds = net.peers.get_mut(&3).unwrap().step(Event::RevalidateReply {
            to: learner,
            session_id: session,
            valid,
        });
        net.handle(3, cmds);
        assert!(net.run(|n| !n.revalidated.is_empty()));
        assert_eq!(net.revalidated.pop(), Some((learner, session, valid)));
    }
}

/// An observer peer learns the leader from the voters' notifications (it never votes) and
/// connects with OBSERVERINFO: the exact commands.
#[test]
fn an_observer_learns_the_leader_and_registers_with_observerinfo() {
    use zk_zab::election::LearnerType;
    use zk_zab::wire::election::{Notification, ServerState};
    use zk_zab::wire::packet::{LearnerInfoData, Packet};

    let mut cfg = PeerConfig::new(4, Majority::new([1, 2, 3]));
    cfg.learner_type = LearnerType::Observer;
    let mut p = Peer::new(cfg, Vec::new(), 1, 1, 1);
    let cmds = p.step(Event::Start);
    assert_eq!(cmds[0], Command::RoleChanged(PeerRole::Looking));
    let cfgtext = Bytes::from_static(b"version=0");
    let leading = |state| {
        Message::Election(Notification::v2(
            state,
            3,
            1 << 32 | 5,
            1,
            1,
            cfgtext.clone(),
        ))
    };
    let cmds = p.step(Event::Received {
        from: 3,
        message: leading(ServerState::Leading),
    });
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::RoleChanged(_))),
        "one voter is no quorum: {cmds:?}"
    );
    let cmds = p.step(Event::Received {
        from: 2,
        message: leading(ServerState::Following),
    });
    assert_eq!(
        cmds,
        vec![
            Command::RoleChanged(PeerRole::Observing { leader: 3 }),
            Command::Send {
                to: 3,
                message: Message::Quorum {
                    conn: 1 << 32 | 1,
                    packet: Packet::ObserverInfo {
                        zxid: 1 << 32,
                        info: LearnerInfoData::full(4, 0),
                    },
                },
            },
        ]
    );
    assert_eq!(p.role(), PeerRole::Observing { leader: 3 });
    assert_eq!(p.figures().peer_state, "observing - synchronization");
    // Not serving yet: no REVALIDATE goes out.
    assert_eq!(
        p.step(Event::Revalidate {
            session_id: 1,
            timeout_ms: 4000
        }),
        vec![]
    );
}

/// The leader's side of REVALIDATE, exactly: a synced learner's request is handed to the
/// node, the node's answer goes back on the learner's connection.
#[test]
fn the_leader_hands_revalidate_to_its_node_and_sends_its_answer() {
    use zk_zab::wire::packet::{Packet, Revalidate};

    let mut net = Net::new(3);
    assert!(net
        .run(|n| n.leader().is_some() && n.peers.values().filter(|p| p.is_serving()).count() == 2));
    let conn = net.peers[&1].leader_conn().unwrap();
    let leader = net.peers.get_mut(&3).unwrap();
    assert_eq!(
        leader.step(Event::Received {
            from: 1,
            message: Message::Quorum {
                conn,
                packet: Packet::Revalidate(Revalidate::Request {
                    session_id: 0x42,
                    timeout_ms: 6000
                }),
            },
        }),
        vec![Command::Revalidate {
            from: 1,
            session_id: 0x42,
            timeout_ms: 6000
        }]
    );
    assert_eq!(
        leader.step(Event::RevalidateReply {
            to: 1,
            session_id: 0x42,
            valid: false
        }),
        vec![Command::Send {
            to: 1,
            message: Message::Quorum {
                conn,
                packet: Packet::Revalidate(Revalidate::Reply {
                    session_id: 0x42,
                    valid: false
                }),
            },
        }]
    );
    // Not a connected learner: nothing.
    assert_eq!(
        leader.step(Event::RevalidateReply {
            to: 9,
            session_id: 0x42,
            valid: true
        }),
        vec![]
    );
}

/// `compact`: the log up to a logged zxid leaves memory and the base moves there; a zxid at
/// or below the base, or one not in the log, is refused and changes nothing.
#[test]
fn compact_moves_the_base_to_a_logged_zxid_only() {
    const E: i64 = 1 << 32;
    let cfg = PeerConfig::new(1, Majority::new(vec![1, 2, 3]));
    let log: Vec<_> = (1..=5).map(|c| txn(E | c)).collect();
    let mut p = Peer::new(cfg, log, 1, 1, 1);
    assert!(!p.compact(E | 9), "not in the log");
    assert!(!p.compact(0), "at the base");
    assert_eq!((p.base(), p.log().len()), (0, 5));
    assert!(p.compact(E | 3));
    assert_eq!((p.base(), p.last_zxid()), (E | 3, E | 5));
    assert_eq!(p.log(), &[txn(E | 4), txn(E | 5)][..]);
    assert!(!p.compact(E | 3), "already the base");
    assert!(p.compact(E | 5));
    assert_eq!((p.base(), p.log().len(), p.last_zxid()), (E | 5, 0, E | 5));
}

/// A learner whose dial to its leader connected waits for the leader's answer until
/// initLimit, as Java's does; only a connection the transport never reported up is dialled
/// again while the leader is silent. (A Java leader holds LEADERINFO back until a quorum of
/// learners registered, and logged an ERROR for every connection a Ferrokeeper learner
/// dropped meanwhile: `ensemble.rs`'s Java-log check found it.)
#[test]
fn a_connected_learner_waits_for_its_silent_leader_until_init_limit() {
    use zk_zab::wire::election::{Notification, ServerState};
    use zk_zab::wire::packet::Packet;

    let follower = |up: bool| -> (usize, bool) {
        let cfg = PeerConfig::new(1, Majority::new([1, 2, 3]));
        let init_limit = cfg.init_limit;
        let mut p = Peer::new(cfg, Vec::new(), 1, 1, 1);
        p.step(Event::Start);
        let leading = |state| {
            Message::Election(Notification::v2(
                state,
                3,
                1 << 32 | 5,
                1,
                1,
                Bytes::from_static(b"version=0"),
            ))
        };
        p.step(Event::Received {
            from: 3,
            message: leading(ServerState::Leading),
        });
        p.step(Event::Received {
            from: 2,
            message: leading(ServerState::Following),
        });
        assert_eq!(p.role(), PeerRole::Following { leader: 3 });
        let conn = p.leader_conn().expect("a connection to the leader");
        if up {
            p.step(Event::ConnectionUp { conn });
            // Another connection's news changes nothing.
            p.step(Event::ConnectionUp { conn: conn ^ 1 });
        }
        let mut dials = 0;
        let mut looked = false;
        // Half ticks up to (not including) the initLimit bound.
        for _ in 0..(2 * init_limit - 1) {
            for c in p.step(Event::Tick) {
                match c {
                    Command::Send {
                        message:
                            Message::Quorum {
                                packet: Packet::FollowerInfo { .. },
                                ..
                            },
                        ..
                    } => dials += 1,
                    Command::RoleChanged(PeerRole::Looking) => looked = true,
                    _ => {}
                }
            }
        }
        assert!(!looked, "looked before initLimit");
        let looked = p
            .step(Event::Tick)
            .iter()
            .any(|c| matches!(c, Command::RoleChanged(PeerRole::Looking)));
        (dials, looked)
    };
    assert_eq!(
        follower(true),
        (0, true),
        "a connected learner dialled again"
    );
    let (dials, looked) = follower(false);
    assert!(
        dials > 0 && looked,
        "no reconnect-on-silence: {dials} {looked}"
    );
}
