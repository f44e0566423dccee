//! Regressions found by the differential suite (compat-tests/differential, crates/zk-diff):
//! each test is a shrunk reproduction of a difference between Apache ZooKeeper 3.8 (Debian)
//! and Ferrokeeper, with ZooKeeper's answer as the expectation.

mod common;

use common::*;

fn create_body(path: &str, acl: AclList<'_>, flags: i32) -> Vec<u8> {
    J::new().create(path, b"v", acl, flags).bytes()
}

/// `WatcherType.fromInt` throws on an unknown type: MARSHALLINGERROR, not NOWATCHER.
#[tokio::test]
async fn watch_requests_with_unknown_type_are_marshalling_errors() {
    let s = start().await;
    let mut r = s.raw().await;
    let p = unique("diff-wtype");
    for (xid, opc) in [(1, op::CHECK_WATCHES), (2, op::REMOVE_WATCHES)] {
        let rep = r.call(xid, opc, &J::new().str(&p).i32(0).bytes()).await;
        assert_eq!(rep.err, code::MARSHALLING_ERROR, "op {opc}");
    }
}

/// `WatcherMode.fromZooDef` throws on a mode other than 0 and 1.
#[tokio::test]
async fn add_watch_with_unknown_mode_is_a_marshalling_error() {
    let s = start().await;
    let mut r = s.raw().await;
    let p = unique("diff-wmode");
    let rep = r
        .call(1, op::ADD_WATCH, &J::new().str(&p).i32(2).bytes())
        .await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
}

/// checkWatches on a relative path with no watch: the parent walk throws in 3.8.
#[tokio::test]
async fn check_watches_on_a_relative_path_is_a_marshalling_error() {
    let s = start().await;
    let mut r = s.raw().await;
    let rep = r
        .call(
            1,
            op::CHECK_WATCHES,
            &J::new().str("relative").i32(3).bytes(),
        )
        .await;
    assert_eq!(rep.err, code::MARSHALLING_ERROR);
}

/// A persistent-recursive watch lives in both watch tables (DataTree.addWatch), so
/// removeWatches(Children) finds it — and leaves the data half firing.
#[tokio::test]
async fn recursive_watch_is_in_the_child_table_too() {
    let s = start().await;
    let mut r = s.raw().await;
    let p = unique("diff-rec");
    assert_eq!(
        r.call(1, op::CREATE, &create_body(&p, OPEN, 0)).await.err,
        0
    );
    assert_eq!(
        r.call(2, op::ADD_WATCH, &J::new().str(&p).i32(1).bytes())
            .await
            .err,
        0
    );
    // Children = 1.
    let rep = r
        .call(3, op::REMOVE_WATCHES, &J::new().str(&p).i32(1).bytes())
        .await;
    assert_eq!(rep.err, code::OK);
    // The data half still reports a descendant's creation.
    let child = format!("{p}/x");
    let (events, rep) = r
        .call_collecting(4, op::CREATE, &create_body(&child, OPEN, 0))
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(events, vec![(ev::NODE_CREATED, child)]);
}

/// CVE-2024-23944: a watcher that may not READ the node is not notified (Debian's 3.8.0
/// carries the fix, as do 3.8.4 and 3.9.2).
#[tokio::test]
async fn notifications_are_filtered_by_the_nodes_read_acl() {
    let s = start().await;
    let mut watcher = s.raw().await;
    let mut writer = s.raw().await;
    let p = unique("diff-aclwatch");
    assert_eq!(
        writer
            .call(1, op::CREATE, &create_body(&p, OPEN, 0))
            .await
            .err,
        0
    );
    let hidden = format!("{p}/hidden");
    let visible = format!("{p}/visible");
    for (xid, path) in [(1, &hidden), (2, &visible)] {
        let rep = watcher
            .call(xid, op::EXISTS, &J::new().str(path).bool(true).bytes())
            .await;
        assert_eq!(rep.err, code::NO_NODE);
    }
    // u1:p1 only; the watcher has no such identity.
    let u1: AclList<'_> = &[(31, "digest", "u1:fpT/y03U+EjItKZOSLGvjnJlyng=")];
    assert_eq!(
        writer
            .call(2, op::CREATE, &create_body(&hidden, u1, 0))
            .await
            .err,
        0
    );
    assert_eq!(
        writer
            .call(3, op::CREATE, &create_body(&visible, OPEN, 0))
            .await
            .err,
        0
    );
    let events = watcher.events_so_far(3).await;
    assert_eq!(events, vec![(ev::NODE_CREATED, visible)]);
}

/// A standalone Apache ZooKeeper hands out session ids with 1 in the top byte
/// (`ZooKeeperServer.createSessionTrackerServerId`), e.g. `0x100002a1b2c0000`.
#[tokio::test]
async fn standalone_session_ids_carry_server_id_one() {
    let s = start().await;
    let r = s.raw().await;
    assert_eq!(r.session_id >> 56, 1, "0x{:x}", r.session_id);
}
