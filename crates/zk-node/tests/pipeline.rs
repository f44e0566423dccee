//! The node pipeline, tested as openraft tests its engine: feed inputs, assert the exact
//! outputs. No IO, no clock: time is set with `Node::set_now`.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use zk_core::prep::Prepared;
use zk_core::read::Response;
use zk_core::session::{session_password, SessionTable};
use zk_node::{
    Input, LocalReplicator, Node, NodeConfig, Now, Outgoing, Output, Replicator, RoleKind,
    SnapshotPolicy, SnapshotSlice,
};
use zk_proto::data::{Acl, Id};
use zk_proto::multi::{CreateOp, MultiOp, MultiRequest};
use zk_proto::proto::{
    CheckVersionRequest, ConnectRequest, CreateRequest, GetDataRequest, SetDataRequest,
};
use zk_proto::request::Request;
use zk_proto::{ErrorCode, JString, SessionId, Zxid};
use zk_tree::DataTree;

const WALL0: i64 = 1_700_000_000_000;
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn node_with(cfg: NodeConfig, role: Box<dyn Replicator>) -> Node {
    let now = Now {
        mono_ms: 0,
        wall_ms: WALL0,
    };
    let mut n: u8 = 0;
    Node::new(
        cfg,
        DataTree::new(),
        SessionTable::new(2000, WALL0, 1),
        role,
        Box::new(move || {
            n = n.wrapping_add(1);
            [n; 24]
        }),
        now,
    )
}

fn node() -> Node {
    node_with(NodeConfig::default(), Box::new(LocalReplicator::new()))
}

fn step(node: &mut Node, input: Input) -> Vec<Output> {
    node.step(input);
    node.drain_outputs().collect()
}

fn open_acl() -> Option<Vec<Acl>> {
    Some(vec![Acl {
        perms: zk_proto::perms::ALL,
        id: Id {
            scheme: Some(JString::from("world")),
            id: Some(JString::from("anyone")),
        },
    }])
}

fn path(p: &str) -> Option<JString> {
    Some(JString::from(p))
}

fn create(p: &str, data: &[u8]) -> Box<Request> {
    Box::new(Request::Create {
        op: CreateOp::Create,
        request: CreateRequest {
            path: path(p),
            data: Some(Bytes::copy_from_slice(data)),
            acl: open_acl(),
            flags: 0,
        },
    })
}

fn get(p: &str) -> Box<Request> {
    Box::new(Request::GetData(GetDataRequest {
        path: path(p),
        watch: false,
    }))
}

fn persisted(outs: &[Output]) -> Vec<i64> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Persist { zxid, .. } => Some(zxid.0),
            _ => None,
        })
        .collect()
}

/// Connects `conn` with a new session and makes its txn durable; returns the session id.
fn session(node: &mut Node, conn: u64) -> i64 {
    let outs = step(
        node,
        Input::Connect {
            conn,
            peer: PEER,
            req: ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: 10_000,
                session_id: 0,
                passwd: Some(Bytes::from_static(&[0; 16])),
                read_only: false,
            },
            read_only_byte: false,
            auth: Vec::new(),
        },
    );
    let [Output::Persist { zxid, .. }] = outs.as_slice() else {
        panic!("a new session is one txn to persist and nothing else: {outs:?}");
    };
    let outs = step(node, Input::Durable(*zxid));
    // (A snapshot may start on the way; nothing else is sent.)
    let sent: Vec<&Output> = outs
        .iter()
        .filter(|o| !matches!(o, Output::SnapshotBegin { .. }))
        .collect();
    let [Output::Send(c, Outgoing::Connected { resp, valid, .. })] = sent.as_slice() else {
        panic!("expected the ConnectResponse: {outs:?}");
    };
    assert_eq!(*c, conn);
    assert!(*valid);
    resp.session_id
}

/// The replies sent to `conn`, as (xid, err).
fn replies(outs: &[Output], conn: u64) -> Vec<(i32, i32)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send(c, Outgoing::Reply { xid, err, .. }) if *c == conn => Some((*xid, *err)),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_is_answered_only_when_the_session_txn_is_durable() {
    let mut n = node();
    let outs = step(
        &mut n,
        Input::Connect {
            conn: 7,
            peer: PEER,
            req: ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                time_out: 100_000,
                session_id: 0,
                passwd: None,
                read_only: false,
            },
            read_only_byte: true,
            auth: Vec::new(),
        },
    );
    assert_eq!(persisted(&outs), [1], "createSession is txn 1: {outs:?}");
    assert_eq!(outs.len(), 1);
    // Nothing is answered before the log says the txn is durable.
    let outs = step(&mut n, Input::Durable(Zxid(1)));
    match outs.as_slice() {
        [Output::Send(
            7,
            Outgoing::Connected {
                resp,
                read_only_byte: true,
                valid: true,
                zxid: 1,
            },
        )] => {
            // The timeout is capped at maxSessionTimeout (20 ticks).
            assert_eq!(resp.time_out, 40_000);
            assert_eq!(
                resp.passwd.as_deref(),
                Some(&session_password(resp.session_id)[..])
            );
            assert_eq!(resp.session_id >> 56, 1, "the server id is the top byte");
        }
        other => panic!("unexpected outputs {other:?}"),
    }
    assert_eq!(n.sessions().len(), 1);
    assert_eq!(n.outstanding(), 0);
}

#[test]
fn a_client_ahead_of_the_node_is_refused() {
    let mut n = node();
    let outs = step(
        &mut n,
        Input::Connect {
            conn: 1,
            peer: PEER,
            req: ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 5,
                time_out: 10_000,
                session_id: 0,
                passwd: None,
                read_only: false,
            },
            read_only_byte: false,
            auth: Vec::new(),
        },
    );
    assert!(
        matches!(outs.as_slice(), [Output::Send(1, Outgoing::Close)]),
        "{outs:?}"
    );
}

#[test]
fn a_read_waits_for_its_own_sessions_writes_and_nothing_else() {
    let mut n = node();
    let a = 1;
    let b = 2;
    session(&mut n, a);
    session(&mut n, b);
    let outs = step(
        &mut n,
        Input::Request {
            conn: a,
            xid: 1,
            req: create("/x", b"one"),
        },
    );
    assert_eq!(persisted(&outs), [3]);
    // A's read of /x waits behind A's create.
    let outs = step(
        &mut n,
        Input::Request {
            conn: a,
            xid: 2,
            req: get("/x"),
        },
    );
    assert!(outs.is_empty(), "queued behind the create: {outs:?}");
    // B's read does not wait: /x does not exist yet for it.
    let outs = step(
        &mut n,
        Input::Request {
            conn: b,
            xid: 1,
            req: get("/x"),
        },
    );
    assert_eq!(replies(&outs, b), [(1, ErrorCode::NoNode.code())]);
    // Durable: A gets the create's reply, then the read that sees it, in that order.
    let outs = step(&mut n, Input::Durable(Zxid(3)));
    assert_eq!(replies(&outs, a), [(1, 0), (2, 0)]);
    match &outs[1] {
        Output::Send(
            _,
            Outgoing::Reply {
                body: Response::GetData(d),
                zxid: 3,
                ..
            },
        ) => assert_eq!(d.data.as_deref(), Some(&b"one"[..])),
        other => panic!("expected the data: {other:?}"),
    }
}

#[test]
fn pipelined_writes_see_each_other_before_either_is_durable() {
    let mut n = node();
    session(&mut n, 1);
    let mut outs = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 1,
            req: create("/p", b""),
        },
    );
    outs.extend(step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 2,
            req: create("/p/c", b""),
        },
    ));
    outs.extend(step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 3,
            req: Box::new(Request::SetData(SetDataRequest {
                path: path("/p/c"),
                data: Some(Bytes::from_static(b"v")),
                version: 0,
            })),
        },
    ));
    assert_eq!(persisted(&outs), [2, 3, 4]);
    // Durable in two steps: replies come as their txns commit, in order.
    let outs = step(&mut n, Input::Durable(Zxid(3)));
    assert_eq!(replies(&outs, 1), [(1, 0), (2, 0)]);
    let outs = step(&mut n, Input::Durable(Zxid(4)));
    assert_eq!(replies(&outs, 1), [(3, 0)]);
    assert_eq!(n.tree().last_processed_zxid, 4);
}

#[test]
fn a_failed_multi_changes_nothing_and_reports_each_op() {
    let mut n = node();
    session(&mut n, 1);
    let multi = Box::new(Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create {
                op: CreateOp::Create,
                request: CreateRequest {
                    path: path("/m"),
                    data: None,
                    acl: open_acl(),
                    flags: 0,
                },
            },
            MultiOp::Check(CheckVersionRequest {
                path: path("/m"),
                version: 7,
            }),
        ],
    }));
    let outs = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 9,
            req: multi,
        },
    );
    assert_eq!(persisted(&outs), [2], "a failed multi still takes a zxid");
    let outs = step(&mut n, Input::Durable(Zxid(2)));
    match outs.as_slice() {
        [Output::Send(
            1,
            Outgoing::Reply {
                xid: 9,
                zxid: 2,
                body: Response::Multi(m),
                ..
            },
        )] => {
            let errs: Vec<i32> = m
                .results
                .iter()
                .map(|r| match r {
                    zk_proto::multi::MultiResult::Error { err } => *err,
                    other => panic!("a failed multi has only error results: {other:?}"),
                })
                .collect();
            // The create would have succeeded (0); the check failed; nothing follows.
            assert_eq!(errs, [0, ErrorCode::BadVersion.code()]);
        }
        other => panic!("unexpected outputs {other:?}"),
    }
    assert!(
        n.tree().node(b"/m").is_none(),
        "nothing of the multi applied"
    );
}

#[test]
fn an_expired_session_is_closed_through_the_log_and_its_connection_closed() {
    let mut n = node();
    let id = session(&mut n, 1);
    let deadline = n.next_deadline().expect("a session has a deadline");
    // Armed on the monotonic clock: its timeout (rounded up to the tick) from now, before
    // the reaper's first run.
    assert!((10_000..=12_000).contains(&deadline), "{deadline}");
    // Before the deadline a tick does nothing.
    n.set_now(Now {
        mono_ms: deadline - 1,
        wall_ms: WALL0 + deadline - 1,
    });
    assert!(step(&mut n, Input::Tick).is_empty());
    n.set_now(Now {
        mono_ms: deadline,
        wall_ms: WALL0 + deadline,
    });
    let outs = step(&mut n, Input::Tick);
    match outs.as_slice() {
        [Output::Expired(SessionId(s)), Output::Persist { zxid: Zxid(2), .. }] => {
            assert_eq!(*s, id)
        }
        other => panic!("unexpected outputs {other:?}"),
    }
    // A request of the closing session is dropped.
    let outs = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 1,
            req: get("/"),
        },
    );
    assert!(outs.is_empty(), "{outs:?}");
    let outs = step(&mut n, Input::Durable(Zxid(2)));
    assert!(
        matches!(outs.as_slice(), [Output::Send(1, Outgoing::Close)]),
        "{outs:?}"
    );
    assert!(n.sessions().is_empty());
}

/// A role that is not the leader: it never commits on its own (the leader's COMMIT would).
struct Learner(VecDeque<Prepared>);

impl Replicator for Learner {
    fn kind(&self) -> RoleKind {
        RoleKind::Follower
    }
    fn propose(&mut self, txn: Prepared, _out: &mut Vec<Output>) {
        self.0.push_back(txn);
    }
    fn durable(&mut self, _zxid: Zxid, _committed: &mut VecDeque<Prepared>) {}
    fn pending(&self) -> usize {
        self.0.len()
    }
}

#[test]
fn only_the_roles_that_track_sessions_expire_them_or_reap_containers() {
    let mut n = node_with(NodeConfig::default(), Box::new(Learner(VecDeque::new())));
    // Sessions arrive on a learner as committed txns from the leader; one recovered from a
    // snapshot will do here.
    let mut n2 = {
        let mut t = SessionTable::new(2000, WALL0, 1);
        t.add(0x100, 4000, 0);
        Node::new(
            NodeConfig::default(),
            DataTree::new(),
            t,
            Box::new(Learner(VecDeque::new())),
            Box::new(|| [0; 24]),
            Now {
                mono_ms: 0,
                wall_ms: WALL0,
            },
        )
    };
    assert_eq!(n2.next_deadline(), None, "a learner sets no timers");
    n2.set_now(Now {
        mono_ms: 1_000_000,
        wall_ms: WALL0 + 1_000_000,
    });
    assert!(step(&mut n2, Input::Tick).is_empty());
    assert_eq!(
        n2.sessions().len(),
        1,
        "the leader expires sessions, not a learner"
    );
    assert_eq!(n.role().kind().name(), "follower");
    n.set_now(Now {
        mono_ms: 1_000_000,
        wall_ms: WALL0 + 1_000_000,
    });
    assert!(step(&mut n, Input::Tick).is_empty());
}

#[test]
fn container_reaper_runs_on_its_interval() {
    let cfg = NodeConfig {
        container_check_interval_ms: 1000,
        ..NodeConfig::default()
    };
    let mut n = node_with(cfg, Box::new(LocalReplicator::new()));
    session(&mut n, 1);
    let container = Box::new(Request::Create {
        op: CreateOp::Container,
        request: CreateRequest {
            path: path("/c"),
            data: None,
            acl: open_acl(),
            flags: zk_proto::CreateMode::Container.code(),
        },
    });
    let mut outs = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 1,
            req: container,
        },
    );
    outs.extend(step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 2,
            req: create("/c/k", b""),
        },
    ));
    outs.extend(step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 3,
            req: Box::new(Request::Delete(zk_proto::proto::DeleteRequest {
                path: path("/c/k"),
                version: -1,
            })),
        },
    ));
    assert_eq!(persisted(&outs), [2, 3, 4]);
    step(&mut n, Input::Durable(Zxid(4)));
    assert!(n.tree().node(b"/c").is_some());
    // Not yet due.
    n.set_now(Now {
        mono_ms: 999,
        wall_ms: WALL0 + 999,
    });
    assert!(persisted(&step(&mut n, Input::Tick)).is_empty());
    n.set_now(Now {
        mono_ms: 1000,
        wall_ms: WALL0 + 1000,
    });
    let outs = step(&mut n, Input::Tick);
    assert_eq!(
        persisted(&outs),
        [5],
        "the empty container is deleted: {outs:?}"
    );
    let outs = step(&mut n, Input::Durable(Zxid(5)));
    assert!(
        outs.is_empty(),
        "nobody is answered for the reaper: {outs:?}"
    );
    assert!(n.tree().node(b"/c").is_none());
    // The reaper ran at 1000: its next run (2000) comes before the session's deadline.
    assert_eq!(n.next_deadline(), Some(2000));
}

#[test]
fn a_background_snapshot_is_sliced_and_reads_back_as_the_tree() {
    let cfg = NodeConfig {
        snapshots: Some(SnapshotPolicy {
            snap_count: 3000,
            ..SnapshotPolicy::default()
        }),
        ..NodeConfig::default()
    };
    let mut n = node_with(cfg, Box::new(LocalReplicator::new()));
    session(&mut n, 1);
    let mut begun = None;
    let mut after = 0;
    for i in 0..3200 {
        let outs = step(
            &mut n,
            Input::Request {
                conn: 1,
                xid: i + 1,
                req: create(&format!("/n{i}"), b"x"),
            },
        );
        let [Output::Persist { zxid, .. }] = outs.as_slice() else {
            panic!("{outs:?}");
        };
        let z = *zxid;
        for o in step(&mut n, Input::Durable(z)) {
            if let Output::SnapshotBegin { zxid, nodes } = o {
                assert!(begun.is_none(), "one snapshot at a time");
                begun = Some((zxid, nodes));
            }
        }
        // A few writes while the snapshot is open: it is fuzzy, and stays readable.
        if begun.is_some() {
            after += 1;
            if after > 100 {
                break;
            }
        }
    }
    let (zxid, nodes) = begun.expect("the threshold starts a snapshot");
    assert!(n.snapshot_wants_room());
    // Slice it while writes go on; the writer gets Data slices then one Last.
    let mut bytes = Vec::new();
    let mut slices = 0;
    let mut summary = None;
    for _ in 0..10_000 {
        if !n.snapshot_wants_room() {
            break;
        }
        for o in step(&mut n, Input::SnapshotRoom) {
            match o {
                Output::SnapshotSlice(SnapshotSlice::Data(b)) => bytes.extend_from_slice(&b),
                Output::SnapshotSlice(SnapshotSlice::Last(b, s)) => {
                    bytes.extend_from_slice(&b);
                    summary = Some(s);
                }
                other => panic!("unexpected {other:?}"),
            }
            slices += 1;
        }
    }
    assert!(summary.is_some(), "the last slice came");
    assert!(
        slices >= 2,
        "{nodes} nodes take more than one slice: {slices}"
    );
    let loaded = zk_tree::snapshot::read_snapshot(
        &bytes[..],
        zxid.0,
        &zk_tree::snapshot::ReadOptions::default(),
    )
    .expect("the slices form a snapshot");
    assert!(loaded.tree.node_count() >= nodes);
    assert_eq!(loaded.sessions.len(), 1);
    // Until the writer reports, no second snapshot starts.
    n.step(Input::SnapshotDone);
    assert!(!n.snapshot_wants_room());
}

#[test]
fn zxids_are_epoch_and_counter() {
    let mut n = node();
    session(&mut n, 1);
    // Standalone goes on from the last zxid; a new epoch restarts the counter.
    n.start_epoch(3);
    let outs = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 1,
            req: create("/e", b""),
        },
    );
    let z = Zxid::new(3, 1);
    assert_eq!(persisted(&outs), [z.0]);
    let outs = step(&mut n, Input::Durable(z));
    match outs.as_slice() {
        [Output::Send(
            1,
            Outgoing::Reply {
                xid: 1,
                zxid,
                err: 0,
                ..
            },
        )] => {
            assert_eq!(Zxid(*zxid).epoch(), 3);
            assert_eq!(Zxid(*zxid).counter(), 1);
        }
        other => panic!("unexpected outputs {other:?}"),
    }
    assert_eq!(n.tree().node(b"/e").map(|x| x.stat.czxid), Some(z.0));
}

/// `restore` (the AdminServer's): refused while a write is in flight; then the state is
/// replaced, every connection closed, and the zxid sequence continues above both the old
/// state's and the restored one's.
#[test]
fn a_restore_replaces_a_quiet_state_and_never_moves_the_zxid_back() {
    let mut n = node();
    let s = session(&mut n, 1);
    let outs = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 1,
            req: create("/old", b"o"),
        },
    );
    let pending = persisted(&outs);
    // The state to restore: another node's, with /new at zxid 2.
    let mut other = node();
    session(&mut other, 9);
    let outs = step(
        &mut other,
        Input::Request {
            conn: 9,
            xid: 1,
            req: create("/new", b"n"),
        },
    );
    step(&mut other, Input::Durable(Zxid(persisted(&outs)[0])));
    let restored = other.tree().clone();
    assert_eq!(restored.last_processed_zxid, 2);
    let sessions = || SessionTable::new(2000, WALL0, 1);

    let refused = n.restore(restored.clone(), sessions()).unwrap_err();
    assert_eq!(refused.in_flight, 1);
    assert!(n.tree().node(b"/new").is_none(), "nothing changed");

    let outs = step(&mut n, Input::Durable(Zxid(pending[0])));
    assert_eq!(replies(&outs, 1), vec![(1, 0)]);
    let before = n.tree().last_processed_zxid;
    assert!(before >= 2);
    assert_eq!(n.restore(restored, sessions()), Ok(before));
    let outs: Vec<Output> = n.drain_outputs().collect();
    assert!(
        matches!(outs.as_slice(), [Output::Send(1, Outgoing::Close)]),
        "{outs:?}"
    );
    assert!(n.tree().node(b"/old").is_none());
    assert!(n.tree().node(b"/new").is_some());
    assert_eq!(n.tree().last_processed_zxid, before);
    assert!(n.sessions().get(s).is_none(), "the old session is gone");
    // The closed connection's requests are ignored; a new one's next write follows on.
    let later = step(
        &mut n,
        Input::Request {
            conn: 1,
            xid: 2,
            req: create("/ignored", b""),
        },
    );
    assert!(later.is_empty(), "{later:?}");
    session(&mut n, 2);
    assert_eq!(n.tree().last_processed_zxid, before + 1);
}
