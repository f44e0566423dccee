//! ACLs and authentication: world, auth, digest and ip schemes, the super user, NoAuth on
//! every checked opcode, getACL redaction, invalid ACLs and failed authentication.

mod common;

use common::*;
use zookeeper_client as zk;

/// `owner:pw` as DigestAuthenticationProvider stores it (taken from Apache ZooKeeper's answer).
const OWNER_DIGEST: &str = "owner:iMB/SsBMvf3UxIEfwB61nsj4SCM=";

fn acl(perms: zk::Permission, scheme: &str, id: &str) -> zk::Acl {
    zk::Acl::new(perms, zk::AuthId::new(scheme, id))
}

#[tokio::test]
async fn world_read_only_node() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "world_read").await;
    let p = format!("{root}/ro");
    let ro = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_read());
    c.create(&p, b"v", &ro).await.unwrap();
    let (data, _) = c.get_data(&p).await.unwrap();
    assert_eq!(data, b"v");
    assert_eq!(
        c.set_data(&p, b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    assert_eq!(
        c.create(&format!("{p}/k"), b"", &persistent())
            .await
            .unwrap_err(),
        zk::Error::NoAuth
    );
    // Delete needs DELETE on the parent, not on the node.
    c.delete(&p, None).await.unwrap();
}

#[tokio::test]
async fn auth_scheme_becomes_the_creators_digest() {
    let srv = start().await;
    let owner = srv.client().await;
    let root = fresh_root(&owner, "auth_scheme").await;
    let p = format!("{root}/mine");
    let creator_all = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    // No authenticated identity yet: the `auth` scheme has nothing to expand to.
    assert_eq!(
        owner.create(&p, b"", &creator_all).await.unwrap_err(),
        zk::Error::InvalidAcl
    );
    owner.auth("digest", b"owner:pw").await.unwrap();
    owner.create(&p, b"secret", &creator_all).await.unwrap();
    let (acls, _) = owner.get_acl(&p).await.unwrap();
    assert_eq!(acls, [acl(zk::Permission::ALL, "digest", OWNER_DIGEST)]);

    let stranger = srv.client().await;
    assert_eq!(stranger.get_data(&p).await.unwrap_err(), zk::Error::NoAuth);
    let friend = srv.client().await;
    friend.auth("digest", b"owner:pw").await.unwrap();
    assert_eq!(friend.get_data(&p).await.unwrap().0, b"secret");
    let wrong = srv.client().await;
    wrong.auth("digest", b"owner:nope").await.unwrap();
    assert_eq!(wrong.get_data(&p).await.unwrap_err(), zk::Error::NoAuth);
}

#[tokio::test]
async fn digest_acl_set_explicitly() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "digest_acl").await;
    let p = format!("{root}/d");
    let acls = [
        acl(zk::Permission::ALL, "digest", OWNER_DIGEST),
        acl(zk::Permission::READ, "world", "anyone"),
    ];
    c.create(
        &p,
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acls)),
    )
    .await
    .unwrap();
    c.get_data(&p).await.unwrap();
    assert_eq!(
        c.set_data(&p, b"x", None).await.unwrap_err(),
        zk::Error::NoAuth
    );
    c.auth("digest", b"owner:pw").await.unwrap();
    // Permissions are the union over matching entries.
    c.set_data(&p, b"x", None).await.unwrap();
}

#[tokio::test]
async fn ip_acls_match_the_peer_address() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "ip_acl").await;
    let cases = [
        ("exact", "127.0.0.1", true),
        ("net8", "127.0.0.0/8", true),
        ("net32", "127.0.0.1/32", true),
        ("other", "10.0.0.0/8", false),
        ("otherhost", "127.0.0.2", false),
    ];
    for (name, id, ok) in cases {
        let p = format!("{root}/{name}");
        let acls = [acl(zk::Permission::READ, "ip", id)];
        c.create(
            &p,
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acls)),
        )
        .await
        .unwrap();
        let got = c.get_data(&p).await;
        if ok {
            assert!(got.is_ok(), "ip:{id} should match 127.0.0.1: {got:?}");
        } else {
            assert_eq!(got.unwrap_err(), zk::Error::NoAuth, "ip:{id}");
        }
    }
}

#[tokio::test]
async fn super_user_bypasses_acls() {
    let srv = start().await;
    let owner = srv.client().await;
    owner.auth("digest", b"owner:pw").await.unwrap();
    let root = fresh_root(&owner, "super").await;
    let p = format!("{root}/locked");
    let creator_all = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner.create(&p, b"s", &creator_all).await.unwrap();

    let su = srv.client().await;
    su.auth("digest", b"super:test").await.unwrap();
    assert_eq!(su.get_data(&p).await.unwrap().0, b"s");
    su.set_data(&p, b"t", None).await.unwrap();
    // ADMIN, so getACL is not redacted.
    let (acls, _) = su.get_acl(&p).await.unwrap();
    assert_eq!(acls, [acl(zk::Permission::ALL, "digest", OWNER_DIGEST)]);
    su.create(&format!("{p}/k"), b"", &persistent())
        .await
        .unwrap();
    let mut who: Vec<(String, String)> = su
        .list_auth_users()
        .await
        .unwrap()
        .iter()
        .map(|u| (u.scheme().to_string(), u.user().to_string()))
        .collect();
    who.sort();
    // (Upstream keeps auth ids in a hash set: the order is not part of the contract.)
    assert_eq!(
        who,
        [
            ("digest".to_string(), "super".to_string()),
            ("ip".to_string(), "127.0.0.1".to_string()),
            ("super".to_string(), String::new()),
        ]
    );
    // A wrong super password is just another digest identity.
    let not_su = srv.client().await;
    not_su.auth("digest", b"super:wrong").await.unwrap();
    assert_eq!(not_su.get_data(&p).await.unwrap_err(), zk::Error::NoAuth);
}

#[tokio::test]
async fn no_auth_on_every_checked_op() {
    let srv = start().await;
    let owner = srv.client().await;
    owner.auth("digest", b"owner:pw").await.unwrap();
    let root = fresh_root(&owner, "no_auth").await;
    let p = format!("{root}/locked");
    let creator_all = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner.create(&p, b"secret", &creator_all).await.unwrap();
    owner
        .create(&format!("{p}/kid"), b"", &persistent())
        .await
        .unwrap();

    let mut x = srv.raw().await;
    let kid = format!("{p}/kid");
    let mh = |t: i32| J::new().multi_header(t, false, -1);
    let end = |j: J| j.multi_header(-1, true, -1).bytes();
    let cases: Vec<(&str, i32, Vec<u8>, i32)> = vec![
        // FinalRequestProcessor checks.
        (
            "getData",
            op::GET_DATA,
            J::new().str(&p).bool(true).bytes(),
            code::NO_AUTH,
        ),
        (
            "getChildren",
            op::GET_CHILDREN,
            J::new().str(&p).bool(true).bytes(),
            code::NO_AUTH,
        ),
        (
            "getChildren2",
            op::GET_CHILDREN2,
            J::new().str(&p).bool(false).bytes(),
            code::NO_AUTH,
        ),
        (
            "getAllChildrenNumber",
            op::GET_ALL_CHILDREN_NUMBER,
            J::new().str(&p).bytes(),
            code::NO_AUTH,
        ),
        (
            "getACL",
            op::GET_ACL,
            J::new().str(&p).bytes(),
            code::NO_AUTH,
        ),
        // Unchecked reads.
        (
            "exists",
            op::EXISTS,
            J::new().str(&p).bool(false).bytes(),
            0,
        ),
        ("sync", op::SYNC, J::new().str(&p).bytes(), 0),
        // PrepRequestProcessor checks.
        (
            "setData",
            op::SET_DATA,
            J::new().str(&p).buf(b"x").i32(-1).bytes(),
            code::NO_AUTH,
        ),
        (
            "setACL",
            op::SET_ACL,
            J::new().str(&p).acl(OPEN).i32(-1).bytes(),
            code::NO_AUTH,
        ),
        (
            "create",
            op::CREATE,
            J::new().create(&format!("{p}/new"), b"", OPEN, 0).bytes(),
            code::NO_AUTH,
        ),
        (
            "create2",
            op::CREATE2,
            J::new().create(&format!("{p}/new"), b"", OPEN, 0).bytes(),
            code::NO_AUTH,
        ),
        (
            "createContainer",
            op::CREATE_CONTAINER,
            J::new().create(&format!("{p}/c"), b"", OPEN, 4).bytes(),
            code::NO_AUTH,
        ),
        (
            "createTTL",
            op::CREATE_TTL,
            J::new()
                .create(&format!("{p}/t"), b"", OPEN, 5)
                .i64(1000)
                .bytes(),
            code::NO_AUTH,
        ),
        (
            "delete kid",
            op::DELETE,
            J::new().str(&kid).i32(-1).bytes(),
            code::NO_AUTH,
        ),
        // The parent's DELETE permission is checked before the node is looked up.
        (
            "delete missing kid",
            op::DELETE,
            J::new().str(&format!("{p}/none")).i32(-1).bytes(),
            code::NO_AUTH,
        ),
        // The kid itself is open.
        (
            "getData kid",
            op::GET_DATA,
            J::new().str(&kid).bool(false).bytes(),
            0,
        ),
    ];
    for (i, (name, opcode, body, want)) in cases.into_iter().enumerate() {
        let rep = x.call(10 + i as i32, opcode, &body).await;
        assert_eq!(rep.err, want, "{name}");
    }
    // Inside multi the error is per op; multiRead answers each op.
    let multi_results = |rep: &Reply| {
        let mut b = rep.r();
        let mut out = Vec::new();
        loop {
            let (kind, done, err) = (b.i32(), b.bool(), b.i32());
            if done {
                return out;
            }
            assert_eq!(kind, -1);
            assert_eq!(b.i32(), err);
            out.push(err);
        }
    };
    let rep = x
        .call(40, op::MULTI, &end(mh(op::CHECK).str(&p).i32(-1)))
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(multi_results(&rep), [code::NO_AUTH]);
    let rep = x
        .call(
            41,
            op::MULTI,
            &end(mh(op::SET_DATA).str(&p).buf(b"x").i32(-1)),
        )
        .await;
    assert_eq!(multi_results(&rep), [code::NO_AUTH]);
    let rep = x
        .call(
            42,
            op::MULTI_READ,
            &end(mh(op::GET_DATA)
                .str(&p)
                .bool(false)
                .multi_header(op::GET_CHILDREN, false, -1)
                .str(&p)
                .bool(false)),
        )
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(multi_results(&rep), [code::NO_AUTH, code::NO_AUTH]);
    // The locked node's own ACL does not protect it from deletion (once it is empty).
    let su = srv.client().await;
    su.auth("digest", b"super:test").await.unwrap();
    su.delete(&kid, None).await.unwrap();
    assert_eq!(
        x.call(50, op::DELETE, &J::new().str(&p).i32(-1).bytes())
            .await
            .err,
        0
    );
}

#[tokio::test]
async fn get_acl_redacts_digests_without_admin() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "redact").await;
    let p = format!("{root}/r");
    let acls = [
        acl(
            zk::Permission::READ | zk::Permission::CREATE,
            "digest",
            OWNER_DIGEST,
        ),
        acl(zk::Permission::READ, "world", "anyone"),
        acl(zk::Permission::ALL, "ip", "10.0.0.1"),
    ];
    c.create(
        &p,
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acls)),
    )
    .await
    .unwrap();
    // READ is enough to ask; without ADMIN the digest's hash is replaced by "x".
    let (got, _) = c.get_acl(&p).await.unwrap();
    assert_eq!(
        got,
        [
            acl(
                zk::Permission::READ | zk::Permission::CREATE,
                "digest",
                "owner:x"
            ),
            acl(zk::Permission::READ, "world", "anyone"),
            acl(zk::Permission::ALL, "ip", "10.0.0.1"),
        ]
    );
    // Authenticating as owner does not give ADMIN here either.
    c.auth("digest", b"owner:pw").await.unwrap();
    assert_eq!(c.get_acl(&p).await.unwrap().0[0].id(), "owner:x");
    // ADMIN (super) sees everything.
    let su = srv.client().await;
    su.auth("digest", b"super:test").await.unwrap();
    assert_eq!(su.get_acl(&p).await.unwrap().0, acls);

    // Neither READ nor ADMIN: NoAuth.
    let q = format!("{root}/q");
    let wo = [acl(zk::Permission::WRITE, "world", "anyone")];
    c.create(
        &q,
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&wo)),
    )
    .await
    .unwrap();
    assert_eq!(c.get_acl(&q).await.unwrap_err(), zk::Error::NoAuth);
    // ADMIN alone is enough.
    let adm = [acl(zk::Permission::ADMIN, "world", "anyone")];
    c.set_acl(&q, &adm, None).await.unwrap_err();
    su.set_acl(&q, &adm, None).await.unwrap();
    assert_eq!(c.get_acl(&q).await.unwrap().0, adm);
}

#[tokio::test]
async fn invalid_acls_are_refused() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("invalid_acl");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let cases: &[(&str, AclList, i32)] = &[
        ("world:foo", &[(31, "world", "foo")], code::INVALID_ACL),
        (
            "digest without colon",
            &[(31, "digest", "nocolon")],
            code::INVALID_ACL,
        ),
        (
            "digest with two colons",
            &[(31, "digest", "a:b:c")],
            code::INVALID_ACL,
        ),
        ("digest empty", &[(31, "digest", "")], code::INVALID_ACL),
        (
            "ip out of range",
            &[(31, "ip", "999.1.1.1")],
            code::INVALID_ACL,
        ),
        (
            "ip mask 33",
            &[(31, "ip", "10.0.0.0/33")],
            code::INVALID_ACL,
        ),
        ("ip v6", &[(31, "ip", "::1")], code::INVALID_ACL),
        ("ip hostname", &[(31, "ip", "localhost")], code::INVALID_ACL),
        ("unknown scheme", &[(31, "foo", "bar")], code::INVALID_ACL),
        ("super scheme", &[(31, "super", "")], code::INVALID_ACL),
        (
            "auth without identity",
            &[(31, "auth", "")],
            code::INVALID_ACL,
        ),
        (
            "one bad among good",
            &[(31, "world", "anyone"), (31, "foo", "x")],
            code::INVALID_ACL,
        ),
        ("digest ok", &[(31, "digest", "a:b")], 0),
        ("ip net ok", &[(31, "ip", "10.0.0.0/8")], 0),
        ("no permissions", &[(0, "world", "anyone")], 0),
        ("unknown permission bit", &[(64, "world", "anyone")], 0),
    ];
    for (i, (name, acl, want)) in cases.iter().enumerate() {
        let p = format!("{root}/n{i}");
        let rep = r
            .call(
                10 + i as i32,
                op::CREATE,
                &J::new().create(&p, b"", acl, 0).bytes(),
            )
            .await;
        assert_eq!(rep.err, *want, "{name}");
    }
    // setACL validates the same way.
    let rep = r
        .call(
            40,
            op::SET_ACL,
            &J::new()
                .str(&root)
                .acl(&[(31, "world", "foo")])
                .i32(-1)
                .bytes(),
        )
        .await;
    assert_eq!(rep.err, code::INVALID_ACL);
    let rep = r
        .call(
            41,
            op::SET_ACL,
            &J::new().str(&root).acl(&[]).i32(-1).bytes(),
        )
        .await;
    assert_eq!(rep.err, code::INVALID_ACL);

    // After a digest login, `auth` expands to it whatever its id says.
    let auth = J::new().i32(0).str("digest").buf(b"u:p").bytes();
    assert_eq!(r.call(-4, op::AUTH, &auth).await.err, 0);
    let p = format!("{root}/authed");
    let rep = r
        .call(
            50,
            op::CREATE,
            &J::new()
                .create(
                    &p,
                    b"",
                    &[(5, "auth", "ignored"), (1, "world", "anyone")],
                    0,
                )
                .bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    let rep = r.call(51, op::GET_ACL, &J::new().str(&p).bytes()).await;
    assert_eq!(rep.err, 0);
    let mut b = rep.r();
    assert_eq!(
        b.acl(),
        [
            (5, "digest".to_string(), "u:x".to_string()),
            (1, "world".to_string(), "anyone".to_string())
        ]
    );
}

#[tokio::test]
async fn unknown_auth_scheme_fails_and_closes() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let rep = r
        .call(
            -4,
            op::AUTH,
            &J::new().i32(0).str("nosuch").buf(b"abc").bytes(),
        )
        .await;
    assert_eq!((rep.zxid, rep.err), (0, code::AUTH_FAILED));
    r.expect_closed().await;

    // The same through the client: the session ends in AuthFailed.
    let c = srv.client().await;
    let mut states = c.state_watcher();
    assert_eq!(
        within("auth reply", c.auth("nosuch", b"abc"))
            .await
            .unwrap_err(),
        zk::Error::AuthFailed
    );
    assert_eq!(next_state(&mut states).await, zk::SessionState::AuthFailed);
}

#[tokio::test]
async fn malformed_auth_packet_closes_without_reply() {
    let srv = start().await;
    let mut r = srv.raw().await;
    r.send(-4, op::AUTH, b"abc").await;
    r.expect_closed().await;
}
