//! Preparation followed by apply, as the pipeline runs them, against the semantics of
//! PrepRequestProcessor + DataTree.processTxn.

use bytes::Bytes;
use zk_core::auth::{generate_digest, AuthConfig};
use zk_core::prep::{Prep, PrepConfig, Prepared, Requester, WriteOp};
use zk_core::session::SessionTable;
use zk_proto::data::{Acl, Id};
use zk_proto::proto::{
    CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest, SetACLRequest,
    SetDataRequest,
};
use zk_proto::txn_body::TxnBody;
use zk_proto::{perms, CreateMode, ErrorCode, OpCode};
use zk_tree::{DataTree, TxnResult};

struct Core {
    tree: DataTree,
    prep: Prep,
    sessions: SessionTable,
    auth: Vec<Id>,
    sid: i64,
    now: i64,
}

fn open_acl() -> Option<Vec<Acl>> {
    Some(zk_tree::acl::open_acl_unsafe())
}

fn create(path: &str, mode: CreateMode) -> WriteOp {
    WriteOp::Create {
        op: OpCode::Create2,
        req: CreateRequest {
            path: Some(path.into()),
            data: Some(Bytes::from_static(b"d")),
            acl: open_acl(),
            flags: mode.code(),
        },
    }
}

impl Core {
    fn new(cfg: PrepConfig) -> Self {
        let mut sessions = SessionTable::new(2000, 1_700_000_000_000, 0);
        let sid = sessions.next_session_id();
        let mut c = Core {
            tree: DataTree::new(),
            prep: Prep::new(cfg, 0),
            sessions,
            auth: vec![Id {
                scheme: Some("ip".into()),
                id: Some("127.0.0.1".into()),
            }],
            sid,
            now: 1000,
        };
        c.run(&WriteOp::CreateSession(30000));
        c
    }

    fn prepare(&mut self, op: &WriteOp) -> Prepared {
        let who = Requester {
            session_id: self.sid,
            auth: &self.auth,
        };
        self.now += 1;
        self.prep
            .prepare(&self.tree, &mut self.sessions, &who, 1, op, self.now)
    }

    fn apply(&mut self, p: &Prepared) -> TxnResult {
        let mut out = vec![];
        let r = self.tree.apply(&p.header, &p.body, &mut out);
        self.prep.applied(p.header.zxid);
        r
    }

    fn run(&mut self, op: &WriteOp) -> TxnResult {
        let p = self.prepare(op);
        self.apply(&p)
    }
}

fn err(r: &TxnResult) -> Option<ErrorCode> {
    ErrorCode::from_code(r.err)
}

#[test]
fn creates_and_their_errors() {
    let mut c = Core::new(PrepConfig::default());
    let r = c.run(&create("/a", CreateMode::Persistent));
    assert_eq!((r.err, r.path.as_deref()), (0, Some(&b"/a"[..])));
    assert_eq!(
        r.stat.as_ref().map(|s| s.czxid),
        Some(2),
        "createSession took zxid 1"
    );
    assert_eq!(
        err(&c.run(&create("/a", CreateMode::Persistent))),
        Some(ErrorCode::NodeExists)
    );
    assert_eq!(
        err(&c.run(&create("/x/y", CreateMode::Persistent))),
        Some(ErrorCode::NoNode)
    );
    // Upstream looks the parent up before validating the whole path.
    assert_eq!(
        err(&c.run(&create("/bad/", CreateMode::Persistent))),
        Some(ErrorCode::NoNode)
    );
    assert_eq!(
        err(&c.run(&create("/a/", CreateMode::Persistent))),
        Some(ErrorCode::BadArguments)
    );
    assert_eq!(
        err(&c.run(&create("noslash", CreateMode::Persistent))),
        Some(ErrorCode::BadArguments)
    );
    assert_eq!(
        err(&c.run(&create("/a/.", CreateMode::Persistent))),
        Some(ErrorCode::BadArguments)
    );
    c.run(&create("/e", CreateMode::Ephemeral));
    assert_eq!(
        err(&c.run(&create("/e/child", CreateMode::Persistent))),
        Some(ErrorCode::NoChildrenForEphemerals)
    );
    // Every one of those consumed a zxid, failures included (ErrorTxn in the log).
    assert_eq!(c.tree.last_processed_zxid, 10);
    assert_eq!(c.prep.last_zxid(), 10);
    let bad_ttl = WriteOp::CreateTtl(CreateTTLRequest {
        path: Some("/t".into()),
        data: None,
        acl: open_acl(),
        flags: CreateMode::PersistentWithTtl.code(),
        ttl: 100,
    });
    assert_eq!(
        err(&c.run(&bad_ttl)),
        Some(ErrorCode::Unimplemented),
        "TTL needs extended types"
    );
    let no_acl = WriteOp::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: Some("/n".into()),
            data: None,
            acl: Some(vec![]),
            flags: 0,
        },
    };
    assert_eq!(err(&c.run(&no_acl)), Some(ErrorCode::InvalidAcl));
}

#[test]
fn sequential_names_come_from_the_parent_cversion_even_when_pipelined() {
    let mut c = Core::new(PrepConfig::default());
    c.run(&create("/q", CreateMode::Persistent));
    // Prepare three before applying any: outstanding changes make them see each other.
    let p1 = c.prepare(&create("/q/n-", CreateMode::PersistentSequential));
    let p2 = c.prepare(&create("/q/n-", CreateMode::PersistentSequential));
    let p3 = c.prepare(&create("/q/n-", CreateMode::EphemeralSequential));
    let names: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .map(|p| match &p.body {
            TxnBody::Create { txn, .. } => txn.path.as_ref().unwrap().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        vec!["/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000002"]
    );
    for p in [&p1, &p2, &p3] {
        assert_eq!(c.apply(p).err, 0);
    }
    // Deleting a child bumps the stored cversion? No: only creates count; the next name is 3.
    c.run(&WriteOp::Delete(DeleteRequest {
        path: Some("/q/n-0000000000".into()),
        version: -1,
    }));
    let r = c.run(&create("/q/n-", CreateMode::PersistentSequential));
    assert_eq!(r.path.as_deref(), Some(&b"/q/n-0000000003"[..]));
}

#[test]
fn versions_delete_and_not_empty() {
    let mut c = Core::new(PrepConfig::default());
    c.run(&create("/v", CreateMode::Persistent));
    let set = |v| {
        WriteOp::SetData(SetDataRequest {
            path: Some("/v".into()),
            data: Some(Bytes::from_static(b"x")),
            version: v,
        })
    };
    assert_eq!(c.run(&set(0)).stat.unwrap().version, 1);
    assert_eq!(err(&c.run(&set(0))), Some(ErrorCode::BadVersion));
    assert_eq!(c.run(&set(-1)).stat.unwrap().version, 2);
    c.run(&create("/v/c", CreateMode::Persistent));
    let del = |p: &str, v| {
        WriteOp::Delete(DeleteRequest {
            path: Some(p.into()),
            version: v,
        })
    };
    assert_eq!(err(&c.run(&del("/v", -1))), Some(ErrorCode::NotEmpty));
    assert_eq!(err(&c.run(&del("/v/c", 5))), Some(ErrorCode::BadVersion));
    assert_eq!(
        err(&c.run(&del("/zookeeper", -1))),
        Some(ErrorCode::BadArguments)
    );
    assert_eq!(err(&c.run(&del("/", -1))), Some(ErrorCode::BadArguments));
    assert_eq!(c.run(&del("/v/c", 0)).err, 0);
    assert_eq!(c.run(&del("/v", 2)).err, 0);
    assert_eq!(err(&c.run(&del("/v", -1))), Some(ErrorCode::NoNode));
}

#[test]
fn multi_is_atomic_with_upstream_error_results() {
    let mut c = Core::new(PrepConfig::default());
    let ok = WriteOp::Multi(vec![
        create("/m1", CreateMode::Persistent),
        create("/m1/a", CreateMode::Persistent),
        WriteOp::Check(CheckVersionRequest {
            path: Some("/m1".into()),
            version: 0,
        }),
    ]);
    let r = c.run(&ok);
    assert_eq!(r.err, 0);
    assert_eq!(
        r.multi.iter().map(|m| m.op).collect::<Vec<_>>(),
        vec![15, 15, 13]
    );
    let before = c.tree.last_processed_zxid;
    let bad = WriteOp::Multi(vec![
        create("/m2", CreateMode::Persistent),
        WriteOp::Delete(DeleteRequest {
            path: Some("/nope".into()),
            version: -1,
        }),
        create("/m3", CreateMode::Persistent),
    ]);
    let r = c.run(&bad);
    assert_eq!(
        r.multi.iter().map(|m| m.err).collect::<Vec<_>>(),
        vec![0, -101, -2]
    );
    assert!(r.multi.iter().all(|m| m.op == OpCode::Error.code()));
    assert_eq!(r.err, -101);
    assert!(
        c.tree.node(b"/m2").is_none(),
        "nothing of a failed multi is applied"
    );
    assert_eq!(
        c.tree.last_processed_zxid,
        before + 1,
        "one zxid for the whole multi"
    );
    // The rolled-back create does not linger as an outstanding change.
    assert_eq!(c.run(&create("/m2", CreateMode::Persistent)).err, 0);
}

#[test]
fn acls_are_enforced_and_auth_expands() {
    let mut c = Core::new(PrepConfig::default());
    let me = generate_digest("bob:pw");
    c.auth.push(Id {
        scheme: Some("digest".into()),
        id: Some(me.clone().into()),
    });
    let mine = WriteOp::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: Some("/sec".into()),
            data: None,
            acl: Some(vec![Acl {
                perms: perms::ALL,
                id: Id {
                    scheme: Some("auth".into()),
                    id: Some("".into()),
                },
            }]),
            flags: 0,
        },
    };
    assert_eq!(c.run(&mine).err, 0);
    assert_eq!(
        c.tree.get_acl(b"/sec").unwrap().0[0]
            .id
            .id
            .as_ref()
            .unwrap()
            .to_string(),
        me
    );
    c.auth.truncate(1);
    assert_eq!(
        err(&c.run(&create("/sec/x", CreateMode::Persistent))),
        Some(ErrorCode::NoAuth)
    );
    let setacl = WriteOp::SetAcl(SetACLRequest {
        path: Some("/sec".into()),
        acl: open_acl(),
        version: -1,
    });
    assert_eq!(err(&c.run(&setacl)), Some(ErrorCode::NoAuth));
    let mut su = Core::new(PrepConfig {
        auth: AuthConfig {
            super_digest: None,
            skip_acl: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let theirs = WriteOp::Create {
        op: OpCode::Create,
        req: CreateRequest {
            path: Some("/sec".into()),
            data: None,
            acl: Some(vec![Acl {
                perms: perms::READ,
                id: Id {
                    scheme: Some("digest".into()),
                    id: Some(me.into()),
                },
            }]),
            flags: 0,
        },
    };
    assert_eq!(su.run(&theirs).err, 0);
    assert_eq!(
        su.run(&create("/sec/x", CreateMode::Persistent)).err,
        0,
        "skipACL"
    );
}

#[test]
fn close_session_deletes_ephemerals_including_pending_ones() {
    let mut c = Core::new(PrepConfig {
        close_session_txn: true,
        ..Default::default()
    });
    c.run(&create("/e1", CreateMode::Ephemeral));
    let pending = c.prepare(&create("/e2", CreateMode::Ephemeral));
    let close = c.prepare(&WriteOp::CloseSession);
    match &close.body {
        TxnBody::CloseSession(Some(t)) => {
            let paths: Vec<String> = t
                .paths2_delete
                .iter()
                .flatten()
                .map(|p| p.to_string())
                .collect();
            assert_eq!(paths, vec!["/e1", "/e2"]);
        }
        other => panic!("{other:?}"),
    }
    c.apply(&pending);
    c.apply(&close);
    assert!(c.tree.node(b"/e1").is_none() && c.tree.node(b"/e2").is_none());
    // The session is closing: further writes fail with SESSIONEXPIRED.
    assert_eq!(
        err(&c.run(&create("/late", CreateMode::Persistent))),
        Some(ErrorCode::SessionExpired)
    );
}

/// `Prep::track_digest`: with every txn prepared before any is applied (a leader's
/// pipeline), the applied tree's digest plus each txn's delta is the digest of the tree
/// once that txn is applied, for creates, setData, deletes, a multi and a failed multi,
/// errors, and a closeSession deleting ephemerals (one of them still pending).
#[test]
fn digest_deltas_predict_the_tree_digest_of_pipelined_txns() {
    let mut c = Core::new(PrepConfig {
        close_session_txn: true,
        ..Default::default()
    });
    c.prep.track_digest(true);
    let set = |p: &str| {
        WriteOp::SetData(SetDataRequest {
            path: Some(p.into()),
            data: Some(Bytes::from_static(b"changed")),
            version: -1,
        })
    };
    let ops = vec![
        create("/a", CreateMode::Persistent),
        create("/a/b", CreateMode::Persistent),
        set("/a/b"),
        create("/a/e", CreateMode::Ephemeral),
        create("/a", CreateMode::Persistent), // NODEEXISTS: an error txn
        WriteOp::Multi(vec![
            create("/m", CreateMode::Persistent),
            set("/a"),
            WriteOp::Delete(DeleteRequest {
                path: Some("/a/b".into()),
                version: -1,
            }),
        ]),
        WriteOp::Multi(vec![
            create("/n", CreateMode::Persistent),
            WriteOp::Delete(DeleteRequest {
                path: Some("/nope".into()),
                version: -1,
            }),
        ]),
        create("/e2", CreateMode::Ephemeral),
        WriteOp::CloseSession,
    ];
    let mut predicted = zk_tree::digest::tree_digest(&c.tree);
    let mut prepared = Vec::new();
    for op in &ops {
        let p = c.prepare(op);
        predicted = predicted.wrapping_add(c.prep.last_digest_delta());
        prepared.push((p, predicted));
    }
    for (i, (p, want)) in prepared.iter().enumerate() {
        c.apply(p);
        assert_eq!(
            zk_tree::digest::tree_digest(&c.tree),
            *want,
            "after txn {i} ({:?})",
            ops[i]
        );
    }
    assert!(c.tree.node(b"/a/e").is_none() && c.tree.node(b"/m").is_some());
}
