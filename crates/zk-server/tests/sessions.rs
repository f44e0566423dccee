//! Sessions: reconnecting, refused reconnects, timeout negotiation, expiry on a manual clock
//! (ephemerals deleted, their watches fired), and zxid checks at connect time.

mod common;

use common::*;
use ev::*;
use zookeeper_client as zk;

fn reconnect(r: &Raw) -> ConnectReq {
    ConnectReq {
        session_id: r.session_id,
        passwd: r.passwd.clone(),
        ..ConnectReq::default()
    }
}

#[tokio::test]
async fn reconnect_with_the_password_keeps_the_session() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "reconnect").await;
    let mut first = srv.raw().await;
    let e = format!("{root}/e");
    assert_eq!(
        first
            .call(1, op::CREATE, &J::new().create(&e, b"", OPEN, 1).bytes())
            .await
            .err,
        0
    );
    let mut second = Raw::connect(&srv.addr).await;
    let resp = second.handshake(&reconnect(&first)).await.unwrap();
    assert_eq!(resp.session_id, first.session_id);
    assert_eq!(resp.passwd, first.passwd);
    assert_eq!(resp.timeout, 30_000);
    assert_eq!(resp.body_len, 37);
    // The session moved: the server closes its old connection.
    first.expect_closed().await;
    // Its ephemerals stayed, still owned by it.
    let st = c.check_stat(&e).await.unwrap().unwrap();
    assert_eq!(st.ephemeral_owner, second.session_id);
    let rep = second
        .call(2, op::GET_EPHEMERALS, &J::new().str(&root).bytes())
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(rep.r().strs(), [e]);
}

#[tokio::test]
async fn wrong_password_or_unknown_session_gets_timeout_zero_and_close() {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, "bad_password").await;
    let mut owner = srv.raw().await;
    let e = format!("{root}/e");
    assert_eq!(
        owner
            .call(1, op::CREATE, &J::new().create(&e, b"", OPEN, 1).bytes())
            .await
            .err,
        0
    );
    for (name, req) in [
        (
            "wrong password",
            ConnectReq {
                passwd: vec![7; 16],
                ..reconnect(&owner)
            },
        ),
        (
            "short password",
            ConnectReq {
                passwd: owner.passwd[..8].to_vec(),
                ..reconnect(&owner)
            },
        ),
        (
            "unknown session",
            ConnectReq {
                session_id: owner.session_id ^ 0x5555,
                read_only: None,
                ..reconnect(&owner)
            },
        ),
    ] {
        let mut r = Raw::connect(&srv.addr).await;
        let resp = r.handshake(&req).await.unwrap();
        assert_eq!(
            (resp.protocol_version, resp.timeout, resp.session_id),
            (0, 0, 0),
            "{name}"
        );
        assert_eq!(resp.passwd, vec![0; 16], "{name}");
        // The answer still mirrors the request's shape.
        let want_len = if req.read_only.is_some() { 37 } else { 36 };
        assert_eq!(resp.body_len, want_len, "{name}");
        r.expect_closed().await;
    }
    // ZooKeeperServer.processConnectRequest closes the session's current connection before
    // it checks the password, so the owner was disconnected; its session lives on.
    owner.expect_closed().await;
    let mut back = Raw::connect(&srv.addr).await;
    let resp = back.handshake(&reconnect(&owner)).await.unwrap();
    assert_eq!(resp.session_id, owner.session_id);
    let rep = back
        .call(2, op::GET_EPHEMERALS, &J::new().str(&root).bytes())
        .await;
    assert_eq!(rep.r().strs(), [e]);
}

#[tokio::test]
async fn session_timeout_is_clamped_to_2_and_20_ticks() {
    let srv = start().await;
    for (asked, granted) in [
        (1, 4_000),
        (-5, 4_000),
        (4_000, 4_000),
        (10_000, 10_000),
        (40_000, 40_000),
        (1_000_000, 40_000),
    ] {
        let mut r = Raw::connect(&srv.addr).await;
        let resp = r
            .handshake(&ConnectReq {
                timeout: asked,
                ..ConnectReq::default()
            })
            .await
            .unwrap();
        assert_eq!(resp.timeout, granted, "asked {asked}");
    }
    // The client sees the negotiated value.
    let c = srv
        .client_with(
            zk::Client::connector().with_session_timeout(std::time::Duration::from_secs(1)),
        )
        .await;
    assert_eq!(c.session_timeout(), std::time::Duration::from_millis(4_000));
}

#[tokio::test]
async fn session_timeout_bounds_follow_tick_time() {
    let mut s = settings();
    s.tick_ms = 100;
    s.min_session_timeout = 200;
    s.max_session_timeout = 2_000;
    let Some(srv) = local(s).await else { return };
    for (asked, granted) in [(1, 200), (500, 500), (30_000, 2_000)] {
        let mut r = Raw::connect(&srv.addr).await;
        let resp = r
            .handshake(&ConnectReq {
                timeout: asked,
                ..ConnectReq::default()
            })
            .await
            .unwrap();
        assert_eq!(resp.timeout, granted, "asked {asked}");
    }
}

#[tokio::test]
async fn last_zxid_seen_ahead_of_the_server_is_refused() {
    let srv = start().await;
    let mut r = Raw::connect(&srv.addr).await;
    let resp = r
        .handshake(&ConnectReq {
            last_zxid_seen: 1 << 40,
            ..ConnectReq::default()
        })
        .await;
    assert!(resp.is_none(), "expected a close, got {resp:?}");
    // Others are served.
    let mut ok = srv.raw().await;
    assert_eq!(
        ok.call(1, op::EXISTS, &J::new().str("/").bool(false).bytes())
            .await
            .err,
        0
    );
    // A client that has seen exactly the server's last zxid is fine.
    let last = ok.call(-2, op::PING, &[]).await.zxid;
    let mut r = Raw::connect(&srv.addr).await;
    let resp = r
        .handshake(&ConnectReq {
            last_zxid_seen: last,
            ..ConnectReq::default()
        })
        .await
        .unwrap();
    assert_ne!(resp.session_id, 0);
}

/// A raw session with the given timeout.
async fn raw_session(srv: &TestServer, timeout: i32) -> Raw {
    let mut r = Raw::connect(&srv.addr).await;
    let resp = r
        .handshake(&ConnectReq {
            timeout,
            ..ConnectReq::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.timeout, timeout);
    r
}

/// Two round trips on `r`: the core has acted on everything sent before (incl. a clock move).
async fn settle(r: &mut Raw, xid: i32) {
    for x in [xid, xid + 1] {
        let rep = r
            .call(x, op::EXISTS, &J::new().str("/").bool(false).bytes())
            .await;
        assert_eq!(rep.err, 0);
    }
}

#[tokio::test]
async fn expiry_deletes_ephemerals_and_fires_their_watches() {
    let Some(srv) = local_manual(settings()).await else {
        return;
    };
    let mut watcher = raw_session(&srv, 40_000).await;
    assert_eq!(
        watcher
            .call(1, op::CREATE, &J::new().create("/r", b"", OPEN, 0).bytes())
            .await
            .err,
        0
    );
    let mut victim = raw_session(&srv, 4_000).await;
    for (xid, p) in [(1, "/r/e1"), (2, "/r/e2")] {
        assert_eq!(
            victim
                .call(xid, op::CREATE, &J::new().create(p, b"", OPEN, 1).bytes())
                .await
                .err,
            0
        );
    }
    assert_eq!(
        watcher
            .call(2, op::EXISTS, &J::new().str("/r/e1").bool(true).bytes())
            .await
            .err,
        0
    );
    assert_eq!(
        watcher
            .call(3, op::GET_CHILDREN, &J::new().str("/r").bool(true).bytes())
            .await
            .err,
        0
    );
    // Touched at t=0 with 4 s: the deadline rounds up to the next tick, t=6000
    // (ExpiryQueue.roundToNextInterval). A ping at t=3000 moves it to t=8000.
    srv.advance(3_000);
    assert_eq!(victim.call(-2, op::PING, &[]).await.err, 0);
    srv.advance(3_000);
    settle(&mut watcher, 10).await;
    assert_eq!(
        watcher
            .call(12, op::EXISTS, &J::new().str("/r/e1").bool(false).bytes())
            .await
            .err,
        0,
        "alive at t=6000"
    );
    srv.advance(2_000);
    // The closeSession txn deletes both ephemerals: one NodeDeleted for the exist watch,
    // one NodeChildrenChanged for the child watch (one-shot, so not twice).
    let mut events = vec![event(&watcher.reply().await), event(&watcher.reply().await)];
    events.sort();
    assert_eq!(
        events,
        [
            (NODE_DELETED, "/r/e1".to_string()),
            (NODE_CHILDREN_CHANGED, "/r".to_string())
        ]
    );
    victim.expect_closed().await;
    let rep = watcher
        .call(
            13,
            op::GET_CHILDREN,
            &J::new().str("/r").bool(false).bytes(),
        )
        .await;
    assert!(rep.r().strs().is_empty());
    // Reconnecting to the expired session is refused.
    let mut again = Raw::connect(&srv.addr).await;
    let resp = again.handshake(&reconnect(&victim)).await.unwrap();
    assert_eq!((resp.timeout, resp.session_id), (0, 0));
    again.expect_closed().await;
}

/// A session whose client never sends a request after the handshake still expires: its
/// deadline was once armed on the wall clock (where it never came round) instead of the
/// monotonic one every touch uses.
#[tokio::test]
async fn a_session_that_never_sends_a_request_still_expires() {
    let Some(srv) = local_manual(settings()).await else {
        return;
    };
    let mut other = raw_session(&srv, 40_000).await;
    let mut silent = raw_session(&srv, 4_000).await;
    // Created at t=0 with 4 s: due at t=6000 (rounded up to the tick), with no touch since.
    srv.advance(6_000);
    settle(&mut other, 1).await;
    silent.expect_closed().await;
}

#[tokio::test]
async fn client_sees_expired_state() {
    let Some(srv) = local_manual(settings()).await else {
        return;
    };
    let c = srv
        .client_with(
            zk::Client::connector().with_session_timeout(std::time::Duration::from_secs(4)),
        )
        .await;
    assert_eq!(c.session_timeout(), std::time::Duration::from_millis(4_000));
    c.create("/e", b"", &ephemeral()).await.unwrap();
    let mut states = c.state_watcher();
    srv.advance(6_000);
    let mut state = next_state(&mut states).await;
    if state == zk::SessionState::Disconnected {
        state = next_state(&mut states).await;
    }
    assert_eq!(state, zk::SessionState::Expired);
    assert_eq!(
        c.check_stat("/e").await.unwrap_err(),
        zk::Error::SessionExpired
    );
    let other = srv.client().await;
    assert_eq!(other.check_stat("/e").await.unwrap(), None);
}

#[tokio::test]
async fn dropping_the_last_client_handle_closes_the_session() {
    let srv = start().await;
    let watcher = srv.client().await;
    let root = fresh_root(&watcher, "drop_closes").await;
    let c = srv.client().await;
    let e = format!("{root}/e");
    c.create(&e, b"", &ephemeral()).await.unwrap();
    let (_, w) = watcher.check_and_watch_stat(&e).await.unwrap();
    drop(c);
    let ev = within("NodeDeleted after closeSession", w.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDeleted, e.as_str())
    );
}

#[tokio::test]
async fn requests_pipelined_behind_the_connect_request_are_served_in_order() {
    let srv = start().await;
    let mut r = Raw::connect(&srv.addr).await;
    // ConnectRequest, auth (-4) and two requests in one write, before any answer.
    let connect = J::connect_request(30_000, false).bytes();
    let mut bytes = Vec::new();
    let mut push = |payload: Vec<u8>| {
        bytes.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        bytes.extend_from_slice(&payload);
    };
    push(connect);
    push(
        J::new()
            .i32(-4)
            .i32(op::AUTH)
            .i32(0)
            .str("digest")
            .buf(b"u:p")
            .bytes(),
    );
    push(J::new().i32(1).i32(op::WHO_AM_I).bytes());
    push(J::new().i32(2).i32(op::EXISTS).str("/").bool(false).bytes());
    r.send_raw(&bytes).await;
    let f = r.frame().await.expect("ConnectResponse");
    assert_eq!(f.len(), 37);
    let auth = r.reply().await;
    assert_eq!((auth.xid, auth.err), (-4, 0));
    let who = r.reply().await;
    assert_eq!((who.xid, who.err), (1, 0));
    assert_eq!(who.r().i32(), 2, "the auth was applied first");
    let ex = r.reply().await;
    assert_eq!((ex.xid, ex.err), (2, 0));
}
