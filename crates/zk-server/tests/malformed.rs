//! Bad input over raw TCP: broken framing, oversize packets, unknown opcodes, malformed
//! bodies, bad paths, clients that vanish mid-pipeline; plus four-letter words and the shape
//! of the ConnectResponse. After each abuse the server must keep serving everyone else.

mod common;

use common::*;
use tokio::io::AsyncWriteExt;

/// Default `jute.maxbuffer`.
const MAX_BUFFER: usize = 0xfffff;

/// A new session still gets answers.
async fn still_serving(srv: &TestServer) {
    let mut r = srv.raw().await;
    let rep = r
        .call(1, op::EXISTS, &J::new().str("/").bool(false).bytes())
        .await;
    assert_eq!(rep.err, 0);
}

#[tokio::test]
async fn truncated_frame_then_eof() {
    let srv = start().await;
    let mut r = srv.raw().await;
    // A length of 100 followed by 10 bytes, then the client half-closes.
    r.send_raw(&100i32.to_be_bytes()).await;
    r.send_raw(&[0u8; 10]).await;
    r.stream.shutdown().await.unwrap();
    r.expect_closed().await;
    still_serving(&srv).await;
}

#[tokio::test]
async fn truncated_connect_request() {
    let srv = start().await;
    let mut r = Raw::connect(&srv.addr).await;
    // A frame too short to hold a ConnectRequest: closed without an answer.
    r.send_frame(&J::new().i32(0).i64(0).bytes()).await;
    r.expect_closed().await;
    still_serving(&srv).await;
}

#[tokio::test]
async fn negative_and_huge_lengths_close_the_connection() {
    let srv = start().await;
    for len in [-1i32, -100, i32::MAX, (MAX_BUFFER + 1) as i32] {
        // Before the handshake ...
        let mut r = Raw::connect(&srv.addr).await;
        r.send_raw(&len.to_be_bytes()).await;
        r.expect_closed().await;
        // ... and after it.
        let mut r = srv.raw().await;
        r.send_raw(&len.to_be_bytes()).await;
        r.expect_closed().await;
    }
    still_serving(&srv).await;
}

#[tokio::test]
async fn oversize_packet_closes_but_max_size_is_served() {
    let srv = start().await;
    // jute.maxbuffer + 1 bytes of a real request: closed (NIOServerCnxn.readLength).
    let mut r = srv.raw().await;
    let mut body = J::new().i32(1).i32(op::EXISTS).str("/").bool(false).bytes();
    body.resize(MAX_BUFFER + 1, 0);
    r.send_frame(&body).await;
    r.expect_closed().await;
    // Exactly jute.maxbuffer is fine (trailing bytes after the record are ignored).
    let mut r = srv.raw().await;
    body.truncate(MAX_BUFFER);
    r.send_frame(&body).await;
    let rep = r.reply().await;
    assert_eq!((rep.xid, rep.err), (1, 0));
    still_serving(&srv).await;
}

#[tokio::test]
async fn short_request_header_closes() {
    let srv = start().await;
    for payload in [vec![], vec![0, 0, 0, 5]] {
        let mut r = srv.raw().await;
        r.send_frame(&payload).await;
        r.expect_closed().await;
    }
    still_serving(&srv).await;
}

#[tokio::test]
async fn unknown_opcode_is_unimplemented_then_closed() {
    let srv = start().await;
    for opcode in [999, 200, 10, -3] {
        let mut r = srv.raw().await;
        let rep = r.call(5, opcode, b"abc").await;
        // UnimplementedRequestProcessor: never prepared, so zxid -1.
        assert_eq!(
            (rep.xid, rep.zxid, rep.err),
            (5, -1, code::UNIMPLEMENTED),
            "op {opcode}"
        );
        assert!(rep.body.is_empty());
        r.expect_closed().await;
    }
    still_serving(&srv).await;
}

#[tokio::test]
async fn malformed_body_is_a_marshalling_error_and_the_connection_stays() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let before = r.call(-2, op::PING, &[]).await.zxid;
    let cases: Vec<(&str, i32, Vec<u8>)> = vec![
        (
            "getData, string cut short",
            op::GET_DATA,
            J::new().i32(10).raw(b"/ab").bytes(),
        ),
        (
            "getData, negative length",
            op::GET_DATA,
            J::new().i32(-5).bool(false).bytes(),
        ),
        (
            "getData, huge length",
            op::GET_DATA,
            J::new().i32(i32::MAX).bool(false).bytes(),
        ),
        ("exists, empty body", op::EXISTS, vec![]),
        (
            "getChildren2, no watch byte",
            op::GET_CHILDREN2,
            J::new().str("/").bytes(),
        ),
    ];
    for (i, (name, opcode, body)) in cases.into_iter().enumerate() {
        let rep = r.call(10 + i as i32, opcode, &body).await;
        assert_eq!(rep.err, code::MARSHALLING_ERROR, "{name}");
        assert!(rep.body.is_empty(), "{name}");
        // Reads take no zxid.
        assert_eq!(rep.zxid, before, "{name}");
    }
    // Writes do: the malformed request becomes an error txn.
    let rep = r
        .call(20, op::CREATE, &J::new().str("/x").i32(5).bytes())
        .await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
    assert_eq!(rep.zxid, before + 1);
    // A null path in a create is caught the same way.
    let rep = r
        .call(
            21,
            op::CREATE,
            &J::new().null().buf(b"").acl(OPEN).i32(0).bytes(),
        )
        .await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
    assert_eq!(rep.zxid, before + 2);
    // Trailing bytes after a complete record are ignored.
    let rep = r
        .call(
            22,
            op::GET_DATA,
            &J::new().str("/").bool(false).raw(b"junk").bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    // And the connection is still good.
    let rep = r
        .call(23, op::EXISTS, &J::new().str("/").bool(false).bytes())
        .await;
    assert_eq!(rep.err, 0);
}

#[tokio::test]
async fn bad_paths() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let root = unique("bad_paths");
    assert_eq!(
        r.call(1, op::CREATE, &J::new().create(&root, b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let create = |p: &str, flags: i32| J::new().create(p, b"", OPEN, flags).bytes();
    let cases: Vec<(String, i32, Vec<u8>, i32)> = vec![
        // PrepRequestProcessor validates write paths.
        (
            "create relative".into(),
            op::CREATE,
            create("noslash", 0),
            code::BAD_ARGUMENTS,
        ),
        (
            "create empty".into(),
            op::CREATE,
            create("", 0),
            code::BAD_ARGUMENTS,
        ),
        (
            "create trailing slash".into(),
            op::CREATE,
            create(&format!("{root}/"), 0),
            code::BAD_ARGUMENTS,
        ),
        (
            "create NUL".into(),
            op::CREATE,
            create(&format!("{root}/a\0b"), 0),
            code::BAD_ARGUMENTS,
        ),
        (
            "create control char".into(),
            op::CREATE,
            create(&format!("{root}/\u{1}"), 0),
            code::BAD_ARGUMENTS,
        ),
        (
            "create U+FFFE".into(),
            op::CREATE,
            create(&format!("{root}/\u{fffe}"), 0),
            code::BAD_ARGUMENTS,
        ),
        // The parent is looked up first: an empty or relative segment is a missing parent.
        (
            "create empty segment".into(),
            op::CREATE,
            create(&format!("{root}//b"), 0),
            code::NO_NODE,
        ),
        (
            "create dot segment".into(),
            op::CREATE,
            create(&format!("{root}/./b"), 0),
            code::NO_NODE,
        ),
        (
            "create dotdot segment".into(),
            op::CREATE,
            create(&format!("{root}/../b"), 0),
            code::NO_NODE,
        ),
        (
            "create root".into(),
            op::CREATE,
            create("/", 0),
            code::NODE_EXISTS,
        ),
        // A sequential create validates the path with its suffix.
        (
            "create sequential trailing slash".into(),
            op::CREATE,
            create(&format!("{root}/"), 2),
            0,
        ),
        (
            "delete root".into(),
            op::DELETE,
            J::new().str("/").i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "delete relative".into(),
            op::DELETE,
            J::new().str("noslash").i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "delete trailing slash".into(),
            op::DELETE,
            J::new().str(&format!("{root}/")).i32(-1).bytes(),
            code::NO_NODE,
        ),
        (
            "delete /zookeeper".into(),
            op::DELETE,
            J::new().str("/zookeeper").i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "setData relative".into(),
            op::SET_DATA,
            J::new().str("noslash").buf(b"").i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "setData trailing slash".into(),
            op::SET_DATA,
            J::new().str(&format!("{root}/")).buf(b"").i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "setACL relative".into(),
            op::SET_ACL,
            J::new().str("noslash").acl(OPEN).i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        // Reads look the path up as it is; only exists checks for NUL.
        (
            "exists NUL".into(),
            op::EXISTS,
            J::new().str("/a\0b").bool(false).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "exists relative".into(),
            op::EXISTS,
            J::new().str("noslash").bool(false).bytes(),
            code::NO_NODE,
        ),
        (
            "getData relative".into(),
            op::GET_DATA,
            J::new().str("noslash").bool(false).bytes(),
            code::NO_NODE,
        ),
        (
            "getData NUL".into(),
            op::GET_DATA,
            J::new().str("/a\0b").bool(false).bytes(),
            code::NO_NODE,
        ),
        (
            "getChildren relative".into(),
            op::GET_CHILDREN,
            J::new().str("noslash").bool(false).bytes(),
            code::NO_NODE,
        ),
        (
            "sync relative".into(),
            op::SYNC,
            J::new().str("noslash").bytes(),
            0,
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (name, opcode, body, want)) in cases.into_iter().enumerate() {
        let rep = r.call(10 + i as i32, opcode, &body).await;
        if rep.err != want {
            wrong.push((name, rep.err, want));
        }
    }
    assert!(wrong.is_empty(), "(case, got, want): {wrong:?}");
    let rep = r
        .call(
            50,
            op::GET_CHILDREN,
            &J::new().str(&root).bool(false).bytes(),
        )
        .await;
    assert_eq!(rep.r().strs(), ["0000000000"]);
}

#[tokio::test]
async fn null_paths() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let null = || J::new().null();
    // What 3.8.0 answers for a null (-1 length) path, op by op: Java code that dereferences
    // it fails with a NullPointerException, reported as MARSHALLINGERROR; validatePath
    // answers BADARGUMENTS; a few ops never look at the path.
    let cases: Vec<(&str, i32, Vec<u8>, i32)> = vec![
        (
            "create",
            op::CREATE,
            null().buf(b"").acl(OPEN).i32(0).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "create2",
            op::CREATE2,
            null().buf(b"").acl(OPEN).i32(0).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "delete",
            op::DELETE,
            null().i32(-1).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "setData",
            op::SET_DATA,
            null().buf(b"").i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "setACL",
            op::SET_ACL,
            null().acl(OPEN).i32(-1).bytes(),
            code::BAD_ARGUMENTS,
        ),
        (
            "exists",
            op::EXISTS,
            null().bool(false).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "getData",
            op::GET_DATA,
            null().bool(false).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "getChildren",
            op::GET_CHILDREN,
            null().bool(false).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "getChildren2",
            op::GET_CHILDREN2,
            null().bool(false).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "getACL",
            op::GET_ACL,
            null().bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "getAllChildrenNumber",
            op::GET_ALL_CHILDREN_NUMBER,
            null().bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "checkWatches",
            op::CHECK_WATCHES,
            null().i32(3).bytes(),
            code::MARSHALLING_ERROR,
        ),
        (
            "removeWatches",
            op::REMOVE_WATCHES,
            null().i32(3).bytes(),
            code::NO_WATCHER,
        ),
        ("sync", op::SYNC, null().bytes(), 0),
        ("getEphemerals", op::GET_EPHEMERALS, null().bytes(), 0),
    ];
    let mut wrong = Vec::new();
    for (i, (name, opcode, body, want)) in cases.into_iter().enumerate() {
        let rep = r.call(10 + i as i32, opcode, &body).await;
        if rep.err != want {
            wrong.push((name, rep.err, want));
        }
        if name == "sync" {
            assert_eq!(rep.body, (-1i32).to_be_bytes(), "sync echoes the null path");
        }
    }
    assert!(wrong.is_empty(), "(op, got, want): {wrong:?}");
    // Null data is fine; a null ACL id is a MARSHALLINGERROR, a null scheme an INVALIDACL.
    let root = unique("null_fields");
    let rep = r
        .call(
            40,
            op::CREATE,
            &J::new().str(&root).null().acl(OPEN).i32(0).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    let rep = r
        .call(41, op::GET_DATA, &J::new().str(&root).bool(false).bytes())
        .await;
    let mut b = rep.r();
    assert_eq!(b.buf(), None, "null data stays null");
    assert_eq!(b.stat().data_length, 0);
    let acl_with = |scheme: J, id: J| {
        let mut j = J::new().str(&format!("{root}/x")).buf(b"").i32(1).i32(31);
        j.0.extend(scheme.bytes());
        j.0.extend(id.bytes());
        j.i32(0).bytes()
    };
    let rep = r
        .call(
            42,
            op::CREATE,
            &acl_with(J::new().str("world"), J::new().null()),
        )
        .await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
    let rep = r
        .call(
            43,
            op::CREATE,
            &acl_with(J::new().null(), J::new().str("anyone")),
        )
        .await;
    assert_eq!(rep.err, code::INVALID_ACL);
}

#[tokio::test]
async fn request_before_any_session_is_settled_waits_for_it() {
    let srv = start().await;
    // A request frame sent with no ConnectRequest at all is read as a ConnectRequest and is
    // too short for one.
    let mut r = Raw::connect(&srv.addr).await;
    r.send(1, op::EXISTS, &J::new().str("/").bool(false).bytes())
        .await;
    r.expect_closed().await;
}

#[tokio::test]
async fn client_vanishing_mid_pipeline() {
    let Some(srv) = local_manual(settings()).await else {
        return;
    };
    let mut watcher = Raw::connect(&srv.addr).await;
    watcher
        .handshake(&ConnectReq {
            timeout: 40_000,
            ..ConnectReq::default()
        })
        .await
        .unwrap();
    assert_eq!(
        watcher
            .call(1, op::CREATE, &J::new().create("/p", b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let mut r = Raw::connect(&srv.addr).await;
    r.handshake(&ConnectReq {
        timeout: 4_000,
        ..ConnectReq::default()
    })
    .await
    .unwrap();
    let rep = r
        .call(
            1,
            op::CREATE,
            &J::new().create("/p/first", b"", OPEN, 1).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    // 300 pipelined requests (ephemeral creates and reads), half a frame, then gone.
    let mut bytes = Vec::new();
    for i in 0..150 {
        for payload in [
            J::new()
                .i32(2 * i + 10)
                .i32(op::CREATE)
                .create(&format!("/p/e{i}"), &[7; 100], OPEN, 1)
                .bytes(),
            J::new()
                .i32(2 * i + 11)
                .i32(op::GET_DATA)
                .str("/p")
                .bool(true)
                .bytes(),
        ] {
            bytes.extend_from_slice(&(payload.len() as i32).to_be_bytes());
            bytes.extend_from_slice(&payload);
        }
    }
    bytes.extend_from_slice(&50i32.to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3]);
    r.send_raw(&bytes).await;
    let (victim, passwd) = (r.session_id, r.passwd.clone());
    drop(r);

    // Everyone else is served. How many of the pipelined requests ran is up to the race
    // with the reset, and those that run late touch the session; but the disconnect does
    // not close it: it expires once the clock passes its deadline with no more requests,
    // and its ephemerals go with it.
    let children = |rep: &Reply| rep.r().strs();
    let rep = watcher
        .call(2, op::GET_CHILDREN, &J::new().str("/p").bool(false).bytes())
        .await;
    assert!(children(&rep).contains(&"first".to_string()));
    let mut xid = 3;
    loop {
        assert!(xid < 100, "the vanished session never expired");
        srv.advance(6_000);
        // A write prepared after the session's closeSession is applied after it.
        let rep = watcher
            .call(
                xid,
                op::SET_DATA,
                &J::new().str("/p").buf(b"").i32(-1).bytes(),
            )
            .await;
        assert_eq!(rep.err, 0);
        let rep = watcher
            .call(
                xid + 1,
                op::GET_CHILDREN,
                &J::new().str("/p").bool(false).bytes(),
            )
            .await;
        xid += 2;
        if children(&rep).is_empty() {
            break;
        }
    }
    let mut again = Raw::connect(&srv.addr).await;
    let resp = again
        .handshake(&ConnectReq {
            session_id: victim,
            passwd,
            ..ConnectReq::default()
        })
        .await
        .unwrap();
    assert_eq!((resp.timeout, resp.session_id), (0, 0));
    still_serving(&srv).await;
}

#[tokio::test]
async fn connect_response_mirrors_the_request_shape() {
    let srv = start().await;
    for (read_only, want) in [(None, 36), (Some(false), 37), (Some(true), 37)] {
        let mut r = Raw::connect(&srv.addr).await;
        let resp = r
            .handshake(&ConnectReq {
                read_only,
                ..ConnectReq::default()
            })
            .await
            .unwrap();
        assert_eq!(resp.body_len, want, "readOnly {read_only:?}");
        assert_eq!(resp.protocol_version, 0);
        assert_eq!(resp.timeout, 30_000);
        assert_ne!(resp.session_id, 0);
        assert_eq!(resp.passwd.len(), 16);
        assert_eq!(resp.read_only, read_only.map(|_| false));
        let rep = r
            .call(1, op::EXISTS, &J::new().str("/").bool(false).bytes())
            .await;
        assert_eq!(rep.err, 0);
    }
}

#[tokio::test]
async fn four_letter_words_follow_the_whitelist() {
    let srv = start().await;
    let srvr = four_letter(&srv.addr, "srvr").await;
    // (The version string itself is the project's choice, not asserted here.)
    assert!(srvr.starts_with("Zookeeper version: 3."), "{srvr}");
    assert!(
        srvr.lines().next().unwrap().contains(", built on "),
        "{srvr}"
    );
    assert!(srvr.contains("\nMode: standalone\n"), "{srvr}");
    for cmd in ["ruok", "stat", "envi", "conf", "mntr", "isro"] {
        assert_eq!(
            four_letter(&srv.addr, cmd).await,
            format!("{cmd} is not executed because it is not in the whitelist.\n")
        );
    }
    // Not a four-letter word: a frame length far above jute.maxbuffer.
    assert_eq!(four_letter(&srv.addr, "kill").await, "");
    // Only at the start of a connection.
    let mut r = srv.raw().await;
    r.send_raw(b"ruok").await;
    r.expect_closed().await;
}

#[tokio::test]
async fn four_letter_words_when_all_are_allowed() {
    let mut s = settings();
    s.four_letter_whitelist =
        zk_server::config::FourLetterWhitelist::from_property(Some("*"), false);
    let Some(srv) = local(s).await else { return };
    assert_eq!(four_letter(&srv.addr, "ruok").await, "imok");
    assert_eq!(four_letter(&srv.addr, "isro").await, "rw");
    let stat = four_letter(&srv.addr, "stat").await;
    assert!(stat.contains("Clients:"), "{stat}");
    let mntr = four_letter(&srv.addr, "mntr").await;
    assert!(mntr.contains("zk_server_state\tstandalone\n"), "{mntr}");
}

#[tokio::test]
async fn check_outside_multi() {
    let srv = start().await;
    let mut r = srv.raw().await;
    let check = |path: &str, version: i32| J::new().str(path).i32(version).bytes();
    let z0 = r.call(-2, op::PING, &[]).await.zxid;
    // check (13) is meant for multis; 3.8.0 prepares it alone like any write (a txn, a
    // zxid) and answers a failure ...
    let rep = r.call(1, op::CHECK, &check("/nonexistent", -1)).await;
    assert_eq!((rep.err, rep.zxid), (code::NO_NODE, z0 + 1));
    let rep = r.call(2, op::CHECK, &check("/", 5)).await;
    assert_eq!((rep.err, rep.zxid), (code::BAD_VERSION, z0 + 2));
    // ... but never a success (its reply fails to serialise), and the connection goes on.
    r.send(3, op::CHECK, &check("/", -1)).await;
    let rep = r
        .call(4, op::EXISTS, &J::new().str("/").bool(false).bytes())
        .await;
    assert_eq!((rep.err, rep.zxid), (0, z0 + 3));
}
