//! Every client opcode over TCP, with the results Apache ZooKeeper 3.8.0 gives (checked by
//! running these tests against it with `FERROKEEPER_TEST_EXTERNAL`).

mod common;

use common::*;
use zookeeper_client as zk;

#[tokio::test]
async fn create_sets_stat_and_bumps_parent_cversion() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "create_stat").await;
    let (_, before) = c.get_data(&root).await.unwrap();
    let path = format!("{root}/a");

    let (stat, seq) = c.create(&path, b"hello", &persistent()).await.unwrap();
    assert_eq!(seq.into_i64(), -1);
    assert!(stat.czxid > before.czxid);
    assert_eq!(stat.mzxid, stat.czxid);
    assert_eq!(stat.pzxid, stat.czxid);
    assert_eq!(stat.mtime, stat.ctime);
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.ephemeral_owner, 0);
    assert_eq!((stat.data_length, stat.num_children), (5, 0));

    let (data, got) = c.get_data(&path).await.unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(got, stat);

    // The parent: cversion and pzxid move, its data stat does not (DataTree.createNode).
    let (_, parent) = c.get_data(&root).await.unwrap();
    assert_eq!(parent.cversion, before.cversion + 1);
    assert_eq!(parent.num_children, 1);
    assert_eq!(parent.pzxid, stat.czxid);
    assert_eq!(parent.mzxid, before.mzxid);
    assert_eq!(parent.version, before.version);

    assert_eq!(
        c.create(&path, b"", &persistent()).await.unwrap_err(),
        zk::Error::NodeExists
    );
    assert_eq!(
        c.create(&format!("{root}/missing/x"), b"", &persistent())
            .await
            .unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test]
async fn create_and_create2_reply_bodies() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("create_bodies");
    let rep = r
        .call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
        .await;
    assert_eq!(rep.err, 0);
    // create (1) answers the path alone.
    let mut b = rep.r();
    assert_eq!(b.str(), root);
    assert!(b.is_empty());

    let child = format!("{root}/c");
    let rep = r
        .call(
            2,
            op::CREATE2,
            &J::new().create(&child, b"xyz", OPEN, 0).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    // create2 (15) answers the path and the new node's Stat.
    let mut b = rep.r();
    assert_eq!(b.str(), child);
    let st = b.stat();
    assert!(b.is_empty());
    assert_eq!(st.czxid, rep.zxid);
    assert_eq!(st.data_length, 3);

    // exists answers the same Stat.
    let rep = r
        .call(3, op::EXISTS, &J::new().str(&child).bool(false).bytes())
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(rep.r().stat(), st);
}

#[tokio::test]
async fn sequential_names_come_from_parent_cversion() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "sequential").await;
    c.create(&format!("{root}/a"), b"", &persistent())
        .await
        .unwrap();
    c.create(&format!("{root}/b"), b"", &persistent())
        .await
        .unwrap();
    c.delete(&format!("{root}/b"), None).await.unwrap();
    // The stored cversion counts creates only; clients see it as 2 * creates - children
    // (DataNode.copyStat), and sequence numbers come from the stored one.
    let (_, st) = c.get_data(&root).await.unwrap();
    assert_eq!(st.cversion, 3);
    let seq_opts = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, seq) = c
        .create(&format!("{root}/s-"), b"", &seq_opts)
        .await
        .unwrap();
    assert_eq!(seq.into_i64(), 2);
    let eseq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let (st, seq) = c.create(&format!("{root}/e-"), b"", &eseq).await.unwrap();
    assert_eq!(seq.into_i64(), 3);
    assert_eq!(st.ephemeral_owner, c.session_id().0);

    let mut kids = c.list_children(&root).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "e-0000000003", "s-0000000002"]);
    let (_, st) = c.get_data(&root).await.unwrap();
    assert_eq!((st.cversion, st.num_children), (5, 3));

    // The raw reply carries the full generated path.
    let mut r = srv.raw().await;
    let rep = r
        .call(
            1,
            op::CREATE,
            &J::new().create(&format!("{root}/r-"), b"", OPEN, 2).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(rep.r().str(), format!("{root}/r-0000000004"));
}

#[tokio::test]
async fn ephemeral_owner_and_no_children_for_ephemerals() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "ephemeral").await;
    let e = format!("{root}/e");
    let (st, _) = c.create(&e, b"", &ephemeral()).await.unwrap();
    assert_eq!(st.ephemeral_owner, c.session_id().0);
    assert_eq!(
        c.create(&format!("{e}/child"), b"", &persistent())
            .await
            .unwrap_err(),
        zk::Error::NoChildrenForEphemerals
    );
}

#[tokio::test]
async fn container_and_ttl_hide_their_owner_from_clients() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "container_ttl").await;
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    let (st, _) = c
        .create(&format!("{root}/c"), b"", &container)
        .await
        .unwrap();
    // DataNode.copyStat: containers and TTL nodes show ephemeralOwner 0.
    assert_eq!(st.ephemeral_owner, 0);
    let ttl = persistent().with_ttl(std::time::Duration::from_secs(100));
    let (st, _) = c.create(&format!("{root}/t"), b"", &ttl).await.unwrap();
    assert_eq!(st.ephemeral_owner, 0);
    assert_eq!(
        c.check_stat(&format!("{root}/t"))
            .await
            .unwrap()
            .unwrap()
            .ephemeral_owner,
        0
    );
}

#[tokio::test]
async fn create_ttl_argument_checks() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("ttl_args");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let ttl_create = |name: &str, flags: i32, ttl: i64| {
        J::new()
            .create(&format!("{root}/{name}"), b"", OPEN, flags)
            .i64(ttl)
            .bytes()
    };
    // (flags, ttl, expected): EphemeralType.validateTTL and CreateMode.fromFlag.
    let cases = [
        ("ok", 5, 10_000, code::OK),
        ("seq", 6, 10_000, code::OK),
        ("max", 5, 0xFF_FFFF_FFFF, code::OK),
        ("zero", 5, 0, code::BAD_ARGUMENTS),
        ("negative", 5, -1, code::BAD_ARGUMENTS),
        ("too_big", 5, 0x100_0000_0000, code::BAD_ARGUMENTS),
        ("ephemeral", 1, 10_000, code::BAD_ARGUMENTS),
        ("container", 4, 10_000, code::BAD_ARGUMENTS),
    ];
    for (i, (name, flags, ttl, want)) in cases.into_iter().enumerate() {
        let rep = r
            .call(10 + i as i32, op::CREATE_TTL, &ttl_create(name, flags, ttl))
            .await;
        assert_eq!(rep.err, want, "createTTL {name}");
    }
    // A TTL mode through the plain create opcode is refused too.
    let rep = r
        .call(
            30,
            op::CREATE,
            &J::new()
                .create(&format!("{root}/plain"), b"", OPEN, 5)
                .bytes(),
        )
        .await;
    assert_eq!(rep.err, code::BAD_ARGUMENTS);
}

#[tokio::test]
async fn create_ttl_is_unimplemented_without_extended_types() {
    let mut s = settings();
    s.extended_types = false;
    let Some(srv) = local(s).await else { return };
    let c = srv.client().await;
    let ttl = persistent().with_ttl(std::time::Duration::from_secs(10));
    assert_eq!(
        c.create("/t", b"", &ttl).await.unwrap_err(),
        zk::Error::Unimplemented
    );
    // PrepRequestProcessor turns it into an error txn: the session goes on.
    c.create("/after", b"", &persistent()).await.unwrap();
}

#[tokio::test]
async fn create_flag_and_acl_errors() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("create_errors");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let p = format!("{root}/x");
    for (xid, flags) in [(2, 7), (3, -1)] {
        let rep = r
            .call(
                xid,
                op::CREATE,
                &J::new().create(&p, b"", OPEN, flags).bytes(),
            )
            .await;
        assert_eq!(rep.err, code::BAD_ARGUMENTS, "flags {flags}");
    }
    // The container flag and the createContainer opcode need not agree (the txn follows
    // the opcode; see the reaper tests for what each makes).
    for (xid, opcode, flags, name) in [
        (6, op::CREATE2, 4, "c1"),
        (7, op::CREATE_CONTAINER, 0, "c2"),
        (8, op::CREATE_CONTAINER, 1, "c3"),
    ] {
        let rep = r
            .call(
                xid,
                opcode,
                &J::new()
                    .create(&format!("{root}/{name}"), b"", OPEN, flags)
                    .bytes(),
            )
            .await;
        assert_eq!(rep.err, 0, "op {opcode} flags {flags}");
    }
    let rep = r
        .call(4, op::CREATE, &J::new().create(&p, b"", &[], 0).bytes())
        .await;
    assert_eq!(rep.err, code::INVALID_ACL, "empty ACL list");
    let null_acl = J::new().str(&p).buf(b"").i32(-1).i32(0).bytes();
    let rep = r.call(5, op::CREATE, &null_acl).await;
    assert_eq!(rep.err, code::INVALID_ACL, "null ACL list");
}

#[tokio::test]
async fn delete_checks_version_and_children() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "delete").await;
    let a = format!("{root}/a");
    c.create(&a, b"", &persistent()).await.unwrap();
    c.create(&format!("{a}/kid"), b"", &persistent())
        .await
        .unwrap();
    c.set_data(&a, b"v1", None).await.unwrap();

    assert_eq!(
        c.delete(&a, Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    assert_eq!(
        c.delete(&a, Some(1)).await.unwrap_err(),
        zk::Error::NotEmpty
    );
    assert_eq!(
        c.delete(&format!("{root}/nope"), None).await.unwrap_err(),
        zk::Error::NoNode
    );
    let (_, before) = c.get_data(&root).await.unwrap();
    c.delete(&format!("{a}/kid"), Some(0)).await.unwrap();
    c.delete(&a, Some(1)).await.unwrap();
    assert_eq!(c.check_stat(&a).await.unwrap(), None);

    // The parent: cversion up by one, pzxid is the delete's zxid (the next read's zxid).
    let (_, after) = c.get_data(&root).await.unwrap();
    assert_eq!(after.cversion, before.cversion + 1);
    assert_eq!(after.num_children, 0);
    assert!(after.pzxid > before.pzxid);
    assert_eq!(after.mzxid, before.mzxid);

    let mut r = srv.raw().await;
    let rep = r
        .call(1, op::DELETE, &J::new().str(&root).i32(-1).bytes())
        .await;
    assert_eq!(rep.err, 0);
    assert!(rep.body.is_empty());
    assert_eq!(
        r.call(2, op::EXISTS, &J::new().str(&root).bool(false).bytes())
            .await
            .err,
        code::NO_NODE
    );
}

#[tokio::test]
async fn exists_answers_stat_or_no_node() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "exists").await;
    let st = c.check_stat(&root).await.unwrap().unwrap();
    let (_, st2) = c.get_data(&root).await.unwrap();
    assert_eq!(st, st2);
    assert_eq!(c.check_stat(&format!("{root}/none")).await.unwrap(), None);

    let mut r = srv.raw().await;
    let rep = r
        .call(
            1,
            op::EXISTS,
            &J::new().str(&format!("{root}/none")).bool(false).bytes(),
        )
        .await;
    assert_eq!(rep.err, code::NO_NODE);
    assert!(rep.body.is_empty());
}

#[tokio::test]
async fn set_data_versions_and_stat() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "set_data").await;
    let a = format!("{root}/a");
    let (created, _) = c.create(&a, b"one", &persistent()).await.unwrap();
    let (_, parent_before) = c.get_data(&root).await.unwrap();

    let st = c.set_data(&a, b"second", Some(0)).await.unwrap();
    assert_eq!(st.version, 1);
    assert_eq!(st.data_length, 6);
    assert_eq!(st.czxid, created.czxid);
    assert!(st.mzxid > created.mzxid);
    assert_eq!(st.pzxid, created.pzxid);
    assert_eq!(st.ctime, created.ctime);
    assert!(st.mtime >= created.mtime);
    assert_eq!(
        c.set_data(&a, b"x", Some(0)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    let st = c.set_data(&a, b"", None).await.unwrap();
    assert_eq!((st.version, st.data_length), (2, 0));
    assert_eq!(
        c.set_data(&format!("{root}/none"), b"", None)
            .await
            .unwrap_err(),
        zk::Error::NoNode
    );
    let (data, got) = c.get_data(&a).await.unwrap();
    assert!(data.is_empty());
    assert_eq!(got, st);

    // A child's setData leaves the parent's cversion and pzxid alone.
    let (_, parent) = c.get_data(&root).await.unwrap();
    assert_eq!(parent, parent_before);
}

#[tokio::test]
async fn get_and_set_acl_with_aversion() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "acl_ops").await;
    let (acl, st) = c.get_acl(&root).await.unwrap();
    assert_eq!(
        acl,
        vec![zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())]
    );
    assert_eq!(st.aversion, 0);

    let read_only = [zk::Acl::new(
        zk::Permission::READ | zk::Permission::ADMIN,
        zk::AuthId::anyone(),
    )];
    assert_eq!(
        c.set_acl(&root, &read_only, Some(3)).await.unwrap_err(),
        zk::Error::BadVersion
    );
    let st = c.set_acl(&root, &read_only, Some(0)).await.unwrap();
    assert_eq!(st.aversion, 1);
    assert_eq!(st.version, 0);
    let (acl, st2) = c.get_acl(&root).await.unwrap();
    assert_eq!(acl, read_only);
    assert_eq!(st2, st);
    // setACL moves neither mzxid nor version.
    let (_, st3) = c.get_data(&root).await.unwrap();
    assert_eq!(st3.aversion, 1);
    assert_eq!(st3.mzxid, st3.czxid);
    assert_eq!(
        c.set_data(&root, b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    let st = c
        .set_acl(
            &root,
            &[zk::Acl::new(zk::Permission::ALL, zk::AuthId::anyone())],
            None,
        )
        .await
        .unwrap();
    assert_eq!(st.aversion, 2);
    assert_eq!(
        c.get_acl(&format!("{root}/none")).await.unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test]
async fn get_children_and_children2() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "children").await;
    for k in ["x", "y", "z"] {
        c.create(&format!("{root}/{k}"), b"", &persistent())
            .await
            .unwrap();
    }
    let mut kids = c.list_children(&root).await.unwrap();
    kids.sort();
    assert_eq!(kids, ["x", "y", "z"]);
    let (mut kids2, st) = c.get_children(&root).await.unwrap();
    kids2.sort();
    assert_eq!(kids2, kids);
    assert_eq!(st, c.check_stat(&root).await.unwrap().unwrap());
    assert_eq!(st.num_children, 3);
    assert_eq!(st.cversion, 3);
    assert!(c
        .list_children(&format!("{root}/x"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        c.list_children(&format!("{root}/none")).await.unwrap_err(),
        zk::Error::NoNode
    );
    assert_eq!(
        c.get_children(&format!("{root}/none")).await.unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test]
async fn get_all_children_number_counts_descendants() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "all_children").await;
    for p in ["a", "a/b", "a/b/c", "d"] {
        c.create(&format!("{root}/{p}"), b"", &persistent())
            .await
            .unwrap();
    }
    assert_eq!(c.count_descendants_number(&root).await.unwrap(), 4);
    assert_eq!(
        c.count_descendants_number(&format!("{root}/a"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        c.count_descendants_number(&format!("{root}/d"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        c.count_descendants_number(&format!("{root}/none"))
            .await
            .unwrap_err(),
        zk::Error::NoNode
    );
}

#[tokio::test]
async fn get_ephemerals_lists_own_session_by_prefix() {
    let srv = start().await;
    let c = srv.client().await;
    let other = srv.client().await;
    let root = fresh_root(&c, "ephemerals").await;
    for p in ["e1", "e2", "f1"] {
        c.create(&format!("{root}/{p}"), b"", &ephemeral())
            .await
            .unwrap();
    }
    other
        .create(&format!("{root}/o1"), b"", &ephemeral())
        .await
        .unwrap();
    c.create(&format!("{root}/p1"), b"", &persistent())
        .await
        .unwrap();

    let mut mine = c.list_ephemerals(&root).await.unwrap();
    mine.sort();
    let want: Vec<String> = ["e1", "e2", "f1"]
        .iter()
        .map(|k| format!("{root}/{k}"))
        .collect();
    assert_eq!(mine, want);
    // A plain string prefix, not a path prefix.
    let mut e = c.list_ephemerals(&format!("{root}/e")).await.unwrap();
    e.sort();
    assert_eq!(e, want[..2]);
    assert_eq!(
        other.list_ephemerals(&root).await.unwrap(),
        [format!("{root}/o1")]
    );
    assert!(c
        .list_ephemerals(&format!("{root}/zzz"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn sync_echoes_the_path() {
    let srv = start().await;
    let c = srv.client().await;
    c.sync("/").await.unwrap();
    let mut r = srv.raw().await;
    let rep = r
        .call(1, op::SYNC, &J::new().str("/zookeeper").bytes())
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(rep.r().str(), "/zookeeper");
}

#[tokio::test]
async fn multi_success_applies_every_op_in_order() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "multi_ok").await;
    let (a, b) = (format!("{root}/a"), format!("{root}/b"));
    let mut w = c.new_multi_writer();
    w.add_create(&a, b"d", &persistent()).unwrap();
    w.add_create(&b, b"", &persistent()).unwrap();
    w.add_check_version(&a, 0).unwrap();
    w.add_set_data(&a, b"xy", Some(0)).unwrap();
    w.add_delete(&b, None).unwrap();
    let res = w.commit().await.unwrap();
    assert_eq!(res.len(), 5);
    // 3.8.0 turns a create2 op inside a multi into a plain create (Op.create), so the
    // result carries the path only and the client reports an invalid Stat.
    let zk::MultiWriteResult::Create {
        path,
        stat: created,
    } = &res[0]
    else {
        panic!("{res:?}")
    };
    assert_eq!(path, &a);
    assert!(created.is_invalid());
    assert!(matches!(&res[1], zk::MultiWriteResult::Create { path, .. } if path == &b));
    assert_eq!(res[2], zk::MultiWriteResult::Check);
    let zk::MultiWriteResult::SetData { stat } = &res[3] else {
        panic!("{res:?}")
    };
    assert_eq!(res[4], zk::MultiWriteResult::Delete);
    // One txn: every op carries the same zxid.
    assert_eq!(stat.mzxid, stat.czxid);
    assert_eq!(stat.version, 1);
    let (data, st) = c.get_data(&a).await.unwrap();
    assert_eq!(data, b"xy");
    assert_eq!(&st, stat);
    assert_eq!(c.check_stat(&b).await.unwrap(), None);
}

#[tokio::test]
async fn multi_create_results_follow_the_create_mode() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("multi_create_kinds");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    // (header type, flags, trailing ttl) -> result type: in 3.8.0 the op kind comes from the
    // create mode alone (Op.create), and only container/TTL results carry a Stat.
    let cases: &[(&str, i32, i32, Option<i64>, i32)] = &[
        ("create", op::CREATE, 0, None, op::CREATE),
        ("create2", op::CREATE2, 0, None, op::CREATE),
        ("create2 sequential", op::CREATE2, 2, None, op::CREATE),
        (
            "container header, persistent flags",
            op::CREATE_CONTAINER,
            0,
            None,
            op::CREATE,
        ),
        (
            "create header, container flags",
            op::CREATE,
            4,
            None,
            op::CREATE2,
        ),
        (
            "ttl header, persistent flags",
            op::CREATE_TTL,
            0,
            Some(1000),
            op::CREATE,
        ),
        (
            "ttl header, ttl flags",
            op::CREATE_TTL,
            5,
            Some(1000),
            op::CREATE2,
        ),
        (
            "ttl header, container flags",
            op::CREATE_TTL,
            4,
            Some(1000),
            op::CREATE2,
        ),
    ];
    for (i, (name, header, flags, ttl, want)) in cases.iter().enumerate() {
        let p = format!("{root}/n{i}");
        let mut body = J::new()
            .multi_header(*header, false, -1)
            .create(&p, b"", OPEN, *flags);
        if let Some(t) = ttl {
            body = body.i64(*t);
        }
        let rep = r
            .call(
                10 + i as i32,
                op::MULTI,
                &body.multi_header(-1, true, -1).bytes(),
            )
            .await;
        assert_eq!(rep.err, 0, "{name}");
        let mut b = rep.r();
        assert_eq!((b.i32(), b.bool(), b.i32()), (*want, false, 0), "{name}");
        let got = b.str();
        assert!(got.starts_with(&p), "{name}: {got}");
        if *want == op::CREATE2 {
            assert_eq!(b.stat().czxid, rep.zxid, "{name}");
        }
        assert_eq!((b.i32(), b.bool(), b.i32()), (-1, true, -1), "{name}");
        assert!(b.is_empty(), "{name}");
    }
    // Unknown flags reach PrepRequestProcessor, which fails that op.
    let body = J::new()
        .multi_header(op::CREATE, false, -1)
        .create(&format!("{root}/bad"), b"", OPEN, 7)
        .multi_header(-1, true, -1)
        .bytes();
    let rep = r.call(30, op::MULTI, &body).await;
    assert_eq!(rep.err, 0);
    let mut b = rep.r();
    assert_eq!(
        (b.i32(), b.bool(), b.i32()),
        (-1, false, code::BAD_ARGUMENTS)
    );
    // TTL flags under a create header: a MARSHALLINGERROR for the whole request.
    let body = J::new()
        .multi_header(op::CREATE, false, -1)
        .create(&format!("{root}/bad"), b"", OPEN, 5)
        .multi_header(-1, true, -1)
        .bytes();
    assert_eq!(
        r.call(31, op::MULTI, &body).await.err,
        code::MARSHALLING_ERROR
    );
}

#[tokio::test]
async fn multi_failure_results_and_atomicity() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("multi_fail");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let a = format!("{root}/a");
    let body = J::new()
        .multi_header(op::CREATE, false, -1)
        .create(&a, b"", OPEN, 0)
        .multi_header(op::SET_DATA, false, -1)
        .str(&format!("{root}/missing"))
        .buf(b"x")
        .i32(-1)
        .multi_header(op::CREATE, false, -1)
        .create(&format!("{root}/b"), b"", OPEN, 0)
        .multi_header(op::CHECK, false, -1)
        .str(&root)
        .i32(0)
        .multi_header(-1, true, -1)
        .bytes();
    let before = r
        .call(2, op::EXISTS, &J::new().str(&root).bool(false).bytes())
        .await;
    let rep = r.call(3, op::MULTI, &body).await;
    // A failed multi is still one txn (it takes a zxid) and the header says OK.
    assert_eq!(rep.err, 0);
    assert_eq!(rep.zxid, before.zxid + 1);
    let mut b = rep.r();
    let mut results = Vec::new();
    loop {
        let (kind, done, err) = (b.i32(), b.bool(), b.i32());
        if done {
            assert_eq!((kind, err), (-1, -1));
            break;
        }
        assert_eq!(kind, -1, "every result is an ErrorResult");
        assert_eq!(b.i32(), err);
        results.push(err);
    }
    assert!(b.is_empty());
    assert_eq!(
        results,
        [
            0,
            code::NO_NODE,
            code::RUNTIME_INCONSISTENCY,
            code::RUNTIME_INCONSISTENCY
        ]
    );
    // Nothing happened: the first create was rolled back.
    let rep = r
        .call(4, op::EXISTS, &J::new().str(&a).bool(false).bytes())
        .await;
    assert_eq!(rep.err, code::NO_NODE);

    // A failed version check.
    let body = J::new()
        .multi_header(op::CHECK, false, -1)
        .str(&root)
        .i32(7)
        .multi_header(-1, true, -1)
        .bytes();
    let rep = r.call(5, op::MULTI, &body).await;
    assert_eq!(rep.err, 0);
    let mut b = rep.r();
    assert_eq!((b.i32(), b.bool(), b.i32()), (-1, false, code::BAD_VERSION));
    assert_eq!(b.i32(), code::BAD_VERSION);
    assert_eq!((b.i32(), b.bool(), b.i32()), (-1, true, -1));

    // Through the client: the error names the failing op.
    let c = srv.client().await;
    let mut w = c.new_multi_writer();
    w.add_create(&a, b"", &persistent()).unwrap();
    w.add_delete(&format!("{root}/none"), None).unwrap();
    assert_eq!(
        w.commit().await.unwrap_err(),
        zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::NoNode
        }
    );
    assert_eq!(c.check_stat(&a).await.unwrap(), None);
}

#[tokio::test]
async fn multi_edge_cases() {
    let srv = start().await;
    let mut r = srv.raw().await;
    // An empty multi is fine and answers an empty result list.
    let rep = r
        .call(1, op::MULTI, &J::new().multi_header(-1, true, -1).bytes())
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(rep.body, J::new().multi_header(-1, true, -1).bytes());
    // A read inside a write multi is a MARSHALLINGERROR, and the connection goes on.
    let body = J::new()
        .multi_header(op::CREATE, false, -1)
        .create(&unique("multi_mixed"), b"", OPEN, 0)
        .multi_header(op::GET_DATA, false, -1)
        .str("/")
        .bool(false)
        .multi_header(-1, true, -1)
        .bytes();
    let rep = r.call(2, op::MULTI, &body).await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
    assert_eq!(
        r.call(3, op::EXISTS, &J::new().str("/").bool(false).bytes())
            .await
            .err,
        0
    );
}

#[tokio::test]
async fn multi_read_answers_each_op() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "multi_read").await;
    let a = format!("{root}/a");
    c.create(&a, b"data", &persistent()).await.unwrap();
    let mut rd = c.new_multi_reader();
    rd.add_get_data(&a).unwrap();
    rd.add_get_children(&root).unwrap();
    rd.add_get_data(&format!("{root}/none")).unwrap();
    let res = rd.commit().await.unwrap();
    assert_eq!(res.len(), 3);
    let zk::MultiReadResult::Data { data, stat } = &res[0] else {
        panic!("{res:?}")
    };
    assert_eq!(data, b"data");
    assert_eq!(stat, &c.check_stat(&a).await.unwrap().unwrap());
    let zk::MultiReadResult::Children { children } = &res[1] else {
        panic!("{res:?}")
    };
    assert_eq!(children, &["a"]);
    assert!(matches!(
        &res[2],
        zk::MultiReadResult::Error {
            err: zk::Error::NoNode
        }
    ));

    // A write inside multiRead: MARSHALLINGERROR, and (as upstream) the empty result list
    // is still serialised after the header.
    let mut r = srv.raw().await;
    let body = J::new()
        .multi_header(op::CREATE, false, -1)
        .create(&format!("{root}/w"), b"", OPEN, 0)
        .multi_header(-1, true, -1)
        .bytes();
    let rep = r.call(1, op::MULTI_READ, &body).await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
    assert_eq!(rep.body, J::new().multi_header(-1, true, -1).bytes());
    assert_eq!(c.check_stat(&format!("{root}/w")).await.unwrap(), None);
}

#[tokio::test]
async fn check_and_remove_watches() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("check_watches");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    // WatcherType: Children 1, Data 2, Any 3.
    let check = |t: i32| J::new().str(&root).i32(t).bytes();
    assert_eq!(
        r.call(2, op::CHECK_WATCHES, &check(2)).await.err,
        code::NO_WATCHER
    );
    assert_eq!(
        r.call(3, op::REMOVE_WATCHES, &check(3)).await.err,
        code::NO_WATCHER
    );
    // A data watch (getData) and a child watch (getChildren).
    assert_eq!(
        r.call(4, op::GET_DATA, &J::new().str(&root).bool(true).bytes())
            .await
            .err,
        0
    );
    assert_eq!(r.call(5, op::CHECK_WATCHES, &check(2)).await.err, 0);
    assert_eq!(r.call(6, op::CHECK_WATCHES, &check(3)).await.err, 0);
    assert_eq!(
        r.call(7, op::CHECK_WATCHES, &check(1)).await.err,
        code::NO_WATCHER
    );
    assert_eq!(
        r.call(8, op::GET_CHILDREN, &J::new().str(&root).bool(true).bytes())
            .await
            .err,
        0
    );
    assert_eq!(r.call(9, op::CHECK_WATCHES, &check(1)).await.err, 0);
    // Remove the data watch only; the child watch stays.
    let rep = r.call(10, op::REMOVE_WATCHES, &check(2)).await;
    assert_eq!(rep.err, 0);
    assert!(rep.body.is_empty());
    assert_eq!(
        r.call(11, op::CHECK_WATCHES, &check(2)).await.err,
        code::NO_WATCHER
    );
    assert_eq!(r.call(12, op::CHECK_WATCHES, &check(1)).await.err, 0);
    // Remove any: the child watch goes.
    assert_eq!(r.call(13, op::REMOVE_WATCHES, &check(3)).await.err, 0);
    assert_eq!(
        r.call(14, op::CHECK_WATCHES, &check(3)).await.err,
        code::NO_WATCHER
    );
    // Removed watches do not fire.
    let c = srv.client().await;
    c.create(&format!("{root}/kid"), b"", &persistent())
        .await
        .unwrap();
    c.set_data(&root, b"x", None).await.unwrap();
    let rep = r
        .call(15, op::EXISTS, &J::new().str(&root).bool(false).bytes())
        .await;
    assert_eq!(rep.err, 0, "no notification arrived before this reply");
}

#[tokio::test]
async fn who_am_i_lists_ip_and_digest() {
    let srv = start().await;
    let c = srv.client().await;
    assert_eq!(
        c.list_auth_users().await.unwrap(),
        [zk::AuthUser::new("ip", "127.0.0.1")]
    );
    c.auth("digest", b"alice:secret").await.unwrap();
    // Upstream keeps identities in a hash set: compare without order.
    let mut who = c.list_auth_users().await.unwrap();
    who.sort_by(|a, b| a.scheme().cmp(b.scheme()));
    assert_eq!(
        who,
        [
            zk::AuthUser::new("digest", "alice"),
            zk::AuthUser::new("ip", "127.0.0.1"),
        ]
    );
    // Adding the same identity twice keeps one copy (ServerCnxn.addAuthInfo).
    c.auth("digest", b"alice:secret").await.unwrap();
    assert_eq!(c.list_auth_users().await.unwrap().len(), 2);
}

#[tokio::test]
async fn add_auth_reply_mirrors_the_xid() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let auth = J::new().i32(0).str("digest").buf(b"u:p").bytes();
    let rep = r.call(-4, op::AUTH, &auth).await;
    assert_eq!((rep.zxid, rep.err), (0, 0));
    assert!(rep.body.is_empty());
    let rep = r.call(7, op::AUTH, &auth).await;
    assert_eq!((rep.zxid, rep.err), (0, 0));
    let rep = r.call(8, op::WHO_AM_I, &[]).await;
    let mut b = rep.r();
    assert_eq!(b.i32(), 2);
    let mut who = vec![(b.str(), b.str()), (b.str(), b.str())];
    who.sort();
    assert_eq!(
        who,
        [
            ("digest".to_string(), "u".to_string()),
            ("ip".to_string(), "127.0.0.1".to_string())
        ]
    );
}

#[tokio::test]
async fn close_session_replies_then_closes_and_drops_ephemerals() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "close_session").await;
    let mut r = srv.raw().await;
    let e = format!("{root}/e");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&e, b"", OPEN, 1).bytes())
            .await
            .err,
        0
    );
    assert!(c.check_stat(&e).await.unwrap().is_some());
    let rep = r.call(2, op::CLOSE_SESSION, &[]).await;
    assert_eq!(rep.err, 0);
    assert!(rep.body.is_empty());
    r.expect_closed().await;
    // The reply came after the txn was applied.
    assert_eq!(c.check_stat(&e).await.unwrap(), None);
    // The session is gone for good.
    let mut again = Raw::connect(&srv.addr).await;
    let resp = again
        .handshake(&ConnectReq {
            session_id: r.session_id,
            passwd: r.passwd.clone(),
            ..ConnectReq::default()
        })
        .await
        .unwrap();
    assert_eq!((resp.timeout, resp.session_id), (0, 0));
    again.expect_closed().await;
}

#[tokio::test]
async fn ping_reply_carries_the_last_zxid() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "ping").await;
    let mut r = srv.raw().await;
    let st = c.check_stat(&root).await.unwrap().unwrap();
    let rep = r.call(-2, op::PING, &[]).await;
    assert_eq!(rep.err, 0);
    assert!(rep.zxid >= st.czxid);
    assert!(rep.body.is_empty());
    // The reply's xid is always -2, whatever the request said (FinalRequestProcessor).
    r.send(5, op::PING, &[]).await;
    let rep = r.reply().await;
    assert_eq!((rep.xid, rep.err), (-2, 0));
}
