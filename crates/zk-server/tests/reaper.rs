//! The container/TTL reaper (ContainerManager) on a manual clock: containers go once they
//! have had children and are empty again, TTL nodes once unmodified for longer than their TTL
//! and childless.

mod common;

use std::time::Duration;

use common::*;
use ev::*;

/// A manual-clock server checking containers every second.
async fn server() -> Option<TestServer> {
    let mut s = settings();
    s.container_check_interval = Duration::from_millis(1_000);
    local_manual(s).await
}

/// A raw session that outlives the clock moves of these tests.
async fn session(srv: &TestServer) -> Raw {
    let mut r = Raw::connect(&srv.addr).await;
    r.handshake(&ConnectReq {
        timeout: 40_000,
        ..ConnectReq::default()
    })
    .await
    .unwrap();
    r
}

async fn create(r: &mut Raw, xid: i32, opcode: i32, body: Vec<u8>) {
    let rep = r.call(xid, opcode, &body).await;
    assert_eq!(rep.err, 0, "create (xid {xid})");
}

/// Round trips until the core has acted on the last clock move (two suffice: the core
/// handles the clock before it reads a request sent after the first reply).
async fn settle(r: &mut Raw, xid: i32) -> Vec<(i32, String)> {
    let mut events = r.events_so_far(xid).await;
    events.extend(r.events_so_far(xid + 1).await);
    events
}

fn exists(path: &str, watch: bool) -> Vec<u8> {
    J::new().str(path).bool(watch).bytes()
}

#[tokio::test]
async fn container_is_deleted_once_emptied() {
    let Some(srv) = server().await else { return };
    let mut r = session(&srv).await;
    create(
        &mut r,
        1,
        op::CREATE_CONTAINER,
        J::new().create("/c", b"", OPEN, 4).bytes(),
    )
    .await;
    create(
        &mut r,
        2,
        op::CREATE_CONTAINER,
        J::new().create("/never", b"", OPEN, 4).bytes(),
    )
    .await;
    create(
        &mut r,
        3,
        op::CREATE,
        J::new().create("/c/k", b"", OPEN, 0).bytes(),
    )
    .await;
    // The txn follows the opcode (3.8.0 pRequest2TxnCreate): createContainer with plain flags
    // makes a container, create2 with the container flag a persistent node.
    let cf0 = J::new().create("/cf0", b"", OPEN, 0).bytes();
    create(&mut r, 6, op::CREATE_CONTAINER, cf0).await;
    let pf4 = J::new().create("/pf4", b"", OPEN, 4).bytes();
    create(&mut r, 7, op::CREATE2, pf4).await;
    for (xid, p) in [(8, "/cf0/k"), (9, "/pf4/k")] {
        create(
            &mut r,
            xid,
            op::CREATE,
            J::new().create(p, b"", OPEN, 0).bytes(),
        )
        .await;
        let rep = r
            .call(xid, op::DELETE, &J::new().str(p).i32(-1).bytes())
            .await;
        assert_eq!(rep.err, 0);
    }
    assert_eq!(r.call(4, op::EXISTS, &exists("/c", true)).await.err, 0);
    assert_eq!(r.call(5, op::GET_CHILDREN, &exists("/", true)).await.err, 0);

    // With a child it stays; the emptied plain-flag container goes.
    srv.advance(1_000);
    // (The reaper's deleteContainer goes through the log: await its event.)
    assert_eq!(
        event(&r.reply().await),
        (NODE_CHILDREN_CHANGED, "/".to_string())
    );
    assert_eq!(settle(&mut r, 10).await, []);
    let gone = r.call(30, op::EXISTS, &exists("/cf0", false)).await;
    assert_eq!(gone.err, code::NO_NODE);
    assert_eq!(r.call(31, op::EXISTS, &exists("/pf4", false)).await.err, 0);
    assert_eq!(r.call(12, op::EXISTS, &exists("/c", false)).await.err, 0);
    assert_eq!(
        r.call(32, op::GET_CHILDREN, &exists("/", true)).await.err,
        0
    );

    let rep = r
        .call(13, op::DELETE, &J::new().str("/c/k").i32(-1).bytes())
        .await;
    assert_eq!(rep.err, 0);
    // Not before the next check.
    assert_eq!(settle(&mut r, 14).await, []);
    srv.advance(1_000);
    // The deleteContainer txn fires the node's and the parent's watches.
    let mut events = vec![event(&r.reply().await), event(&r.reply().await)];
    events.sort();
    assert_eq!(
        events,
        [
            (NODE_DELETED, "/c".to_string()),
            (NODE_CHILDREN_CHANGED, "/".to_string())
        ]
    );
    // A container that never had a child is left alone.
    srv.advance(1_000);
    assert_eq!(settle(&mut r, 20).await, []);
    assert_eq!(
        r.call(22, op::EXISTS, &exists("/never", false)).await.err,
        0
    );
    assert_eq!(
        r.call(23, op::EXISTS, &exists("/c", false)).await.err,
        code::NO_NODE
    );
}

#[tokio::test]
async fn ttl_node_is_deleted_after_its_ttl() {
    let Some(srv) = server().await else { return };
    let mut r = session(&srv).await;
    let ttl = |path: &str, ms: i64| J::new().create(path, b"", OPEN, 5).i64(ms).bytes();
    create(&mut r, 1, op::CREATE_TTL, ttl("/t", 5_000)).await;
    create(&mut r, 2, op::CREATE_TTL, ttl("/busy", 2_000)).await;
    create(
        &mut r,
        3,
        op::CREATE,
        J::new().create("/busy/k", b"", OPEN, 0).bytes(),
    )
    .await;
    create(&mut r, 4, op::CREATE_TTL, ttl("/touched", 5_000)).await;
    assert_eq!(r.call(5, op::EXISTS, &exists("/t", true)).await.err, 0);

    srv.advance(3_000);
    assert_eq!(settle(&mut r, 10).await, []);
    // A setData restarts the TTL (it counts from mtime).
    let rep = r
        .call(
            12,
            op::SET_DATA,
            &J::new().str("/touched").buf(b"x").i32(-1).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    srv.advance(2_000);
    // 5000 ms since creation is not more than the TTL.
    assert_eq!(settle(&mut r, 13).await, []);
    srv.advance(1_000);
    assert_eq!(event(&r.reply().await), (NODE_DELETED, "/t".to_string()));
    assert_eq!(settle(&mut r, 15).await, []);
    // A TTL node with children stays; /touched was modified 3000 ms ago.
    for p in ["/busy", "/touched"] {
        assert_eq!(
            r.call(20, op::EXISTS, &exists(p, false)).await.err,
            0,
            "{p}"
        );
    }
    assert_eq!(
        r.call(21, op::EXISTS, &exists("/touched", true)).await.err,
        0
    );
    srv.advance(3_000);
    assert_eq!(
        event(&r.reply().await),
        (NODE_DELETED, "/touched".to_string())
    );
    assert_eq!(settle(&mut r, 22).await, []);
    assert_eq!(r.call(24, op::EXISTS, &exists("/busy", false)).await.err, 0);
}
