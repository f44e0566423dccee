//! Watches as Apache ZooKeeper 3.8.0 fires them: one-shot data/exist/child watches,
//! persistent and persistent-recursive watches, setWatches on reconnect, and where each
//! notification falls relative to replies on the same connection.

mod common;

use common::*;
use ev::*;
use zookeeper_client as zk;

/// A raw connection plus a client for writes, under a fresh root.
async fn setup(name: &str) -> (TestServer, Raw, zk::Client, String) {
    let srv = start().await;
    let c = srv.client().await;
    let root = fresh_root(&c, name).await;
    let r = srv.raw().await;
    (srv, r, c, root)
}

fn get(path: &str, watch: bool) -> Vec<u8> {
    J::new().str(path).bool(watch).bytes()
}

#[tokio::test]
async fn data_watch_fires_once_and_before_the_read_that_sees_the_change() {
    let (_srv, mut r, c, root) = setup("data_watch").await;
    let rep = r.call(1, op::GET_DATA, &get(&root, true)).await;
    assert_eq!(rep.err, 0);
    c.set_data(&root, b"one", None).await.unwrap();
    c.set_data(&root, b"two", None).await.unwrap();
    // The notification is on the wire before the reply of a read issued after the write,
    // and a one-shot watch fires once for two changes.
    let (events, rep) = r.call_collecting(2, op::GET_DATA, &get(&root, false)).await;
    assert_eq!(events, [(NODE_DATA_CHANGED, root.clone())]);
    let mut b = rep.r();
    assert_eq!(b.buf().unwrap(), b"two");
    assert_eq!(b.stat().version, 2);
}

#[tokio::test]
async fn exist_watch_on_a_missing_node_fires_on_create() {
    let (_srv, mut r, c, root) = setup("exist_watch").await;
    let p = format!("{root}/later");
    let rep = r.call(1, op::EXISTS, &get(&p, true)).await;
    assert_eq!(rep.err, code::NO_NODE);
    c.create(&p, b"", &persistent()).await.unwrap();
    c.delete(&p, None).await.unwrap();
    // Created fired; the watch was used up, so the delete fired nothing.
    assert_eq!(r.events_so_far(2).await, [(NODE_CREATED, p.clone())]);

    // getData and getChildren on a missing node register nothing.
    assert_eq!(
        r.call(3, op::GET_DATA, &get(&p, true)).await.err,
        code::NO_NODE
    );
    assert_eq!(
        r.call(4, op::GET_CHILDREN, &get(&p, true)).await.err,
        code::NO_NODE
    );
    c.create(&p, b"", &persistent()).await.unwrap();
    assert_eq!(r.events_so_far(5).await, []);

    // An exist watch on an existing node: data change, then delete.
    assert_eq!(r.call(6, op::EXISTS, &get(&p, true)).await.err, 0);
    c.set_data(&p, b"x", None).await.unwrap();
    let (events, rep) = r.call_collecting(7, op::EXISTS, &get(&p, true)).await;
    assert_eq!(rep.err, 0);
    assert_eq!(events, [(NODE_DATA_CHANGED, p.clone())]);
    c.delete(&p, None).await.unwrap();
    assert_eq!(r.events_so_far(8).await, [(NODE_DELETED, p.clone())]);
}

#[tokio::test]
async fn child_watch_fires_on_membership_changes_only() {
    let (_srv, mut r, c, root) = setup("child_watch").await;
    let k = format!("{root}/k");
    assert_eq!(r.call(1, op::GET_CHILDREN, &get(&root, true)).await.err, 0);
    // Data changes of the node or of a child do not fire a child watch.
    c.set_data(&root, b"x", None).await.unwrap();
    c.create(&k, b"", &persistent()).await.unwrap();
    c.set_data(&k, b"y", None).await.unwrap();
    assert_eq!(
        r.events_so_far(2).await,
        [(NODE_CHILDREN_CHANGED, root.clone())]
    );
    // getChildren2 sets the same kind of watch.
    assert_eq!(r.call(3, op::GET_CHILDREN2, &get(&root, true)).await.err, 0);
    c.delete(&k, None).await.unwrap();
    assert_eq!(
        r.events_so_far(4).await,
        [(NODE_CHILDREN_CHANGED, root.clone())]
    );
    // Deleting the watched node itself: NodeDeleted.
    assert_eq!(r.call(5, op::GET_CHILDREN, &get(&root, true)).await.err, 0);
    c.delete(&root, None).await.unwrap();
    assert_eq!(r.events_so_far(6).await, [(NODE_DELETED, root.clone())]);
}

#[tokio::test]
async fn one_notification_per_connection_for_several_watches_on_a_path() {
    let (_srv, mut r, c, root) = setup("dedup").await;
    let x = format!("{root}/x");
    c.create(&x, b"", &persistent()).await.unwrap();
    assert_eq!(r.call(1, op::GET_DATA, &get(&x, true)).await.err, 0);
    assert_eq!(r.call(2, op::GET_CHILDREN, &get(&x, true)).await.err, 0);
    assert_eq!(r.call(3, op::EXISTS, &get(&x, true)).await.err, 0);
    c.delete(&x, None).await.unwrap();
    // Data, exist and child watches on one connection: a single NodeDeleted
    // (DataTree.deleteNode passes the data watchers to the child trigger as suppressed).
    assert_eq!(r.events_so_far(4).await, [(NODE_DELETED, x.clone())]);
}

#[tokio::test]
async fn the_writer_gets_its_own_event_before_its_reply() {
    let (_srv, mut r, _c, root) = setup("self_event").await;
    assert_eq!(r.call(1, op::GET_DATA, &get(&root, true)).await.err, 0);
    let (events, rep) = r
        .call_collecting(
            2,
            op::SET_DATA,
            &J::new().str(&root).buf(b"z").i32(-1).bytes(),
        )
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(events, [(NODE_DATA_CHANGED, root.clone())]);
}

#[tokio::test]
async fn persistent_watch_fires_every_time_and_survives_delete() {
    let (_srv, mut r, c, root) = setup("persistent").await;
    let p = format!("{root}/p");
    // AddWatchMode PERSISTENT = 0; the reply body is an ErrorResponse(0).
    let rep = r
        .call(1, op::ADD_WATCH, &J::new().str(&p).i32(0).bytes())
        .await;
    assert_eq!(rep.err, 0);
    assert_eq!(rep.body, 0i32.to_be_bytes());
    c.create(&p, b"", &persistent()).await.unwrap();
    c.set_data(&p, b"1", None).await.unwrap();
    c.set_data(&p, b"2", None).await.unwrap();
    c.create(&format!("{p}/k"), b"", &persistent())
        .await
        .unwrap();
    c.set_data(&format!("{p}/k"), b"x", None).await.unwrap();
    c.delete(&format!("{p}/k"), None).await.unwrap();
    c.delete(&p, None).await.unwrap();
    c.create(&p, b"", &persistent()).await.unwrap();
    assert_eq!(
        r.events_so_far(2).await,
        [
            (NODE_CREATED, p.clone()),
            (NODE_DATA_CHANGED, p.clone()),
            (NODE_DATA_CHANGED, p.clone()),
            (NODE_CHILDREN_CHANGED, p.clone()),
            (NODE_CHILDREN_CHANGED, p.clone()),
            (NODE_DELETED, p.clone()),
            (NODE_CREATED, p.clone()),
        ]
    );
    // It is still there.
    let check = J::new().str(&p).i32(3).bytes();
    assert_eq!(r.call(3, op::CHECK_WATCHES, &check).await.err, 0);
}

#[tokio::test]
async fn recursive_watch_sees_descendants_but_no_child_events() {
    let (_srv, mut r, c, root) = setup("recursive").await;
    // AddWatchMode PERSISTENT_RECURSIVE = 1.
    let rep = r
        .call(1, op::ADD_WATCH, &J::new().str(&root).i32(1).bytes())
        .await;
    assert_eq!(rep.err, 0);
    let (a, b) = (format!("{root}/a"), format!("{root}/a/b"));
    c.create(&a, b"", &persistent()).await.unwrap();
    c.create(&b, b"", &persistent()).await.unwrap();
    c.set_data(&b, b"x", None).await.unwrap();
    c.set_data(&root, b"y", None).await.unwrap();
    c.delete(&b, None).await.unwrap();
    c.delete(&a, None).await.unwrap();
    assert_eq!(
        r.events_so_far(2).await,
        [
            (NODE_CREATED, a.clone()),
            (NODE_CREATED, b.clone()),
            (NODE_DATA_CHANGED, b.clone()),
            (NODE_DATA_CHANGED, root.clone()),
            (NODE_DELETED, b.clone()),
            (NODE_DELETED, a.clone()),
        ]
    );
}

#[tokio::test]
async fn multi_fires_events_in_op_order() {
    let (_srv, mut r, c, root) = setup("multi_events").await;
    assert_eq!(
        r.call(1, op::ADD_WATCH, &J::new().str(&root).i32(1).bytes())
            .await
            .err,
        0
    );
    let mut w = c.new_multi_writer();
    for k in ["c", "a", "b"] {
        w.add_create(&format!("{root}/{k}"), b"", &persistent())
            .unwrap();
    }
    w.add_set_data(&format!("{root}/a"), b"x", None).unwrap();
    w.add_delete(&format!("{root}/c"), None).unwrap();
    w.commit().await.unwrap();
    assert_eq!(
        r.events_so_far(2).await,
        [
            (NODE_CREATED, format!("{root}/c")),
            (NODE_CREATED, format!("{root}/a")),
            (NODE_CREATED, format!("{root}/b")),
            (NODE_DATA_CHANGED, format!("{root}/a")),
            (NODE_DELETED, format!("{root}/c")),
        ]
    );
}

#[tokio::test]
async fn set_watches_fires_what_changed_since_relative_zxid() {
    let (srv, _r, c, root) = setup("set_watches").await;
    let (old, new) = (format!("{root}/old"), format!("{root}/new"));
    c.create(&old, b"", &persistent()).await.unwrap();
    let (st, _) = c.create(&new, b"", &persistent()).await.unwrap();
    let rel = st.czxid;
    c.set_data(&new, b"x", None).await.unwrap();
    let gone = format!("{root}/gone");
    let absent = format!("{root}/absent");
    let strs = |j: J, v: &[&str]| {
        let mut j = j.i32(v.len() as i32);
        for s in v {
            j = j.str(s);
        }
        j
    };
    // SetWatches{relativeZxid, dataWatches, existWatches, childWatches} (xid -8).
    let body = strs(
        strs(
            strs(J::new().i64(rel), &[&old, &new, &gone]),
            &[&old, &absent],
        ),
        &[&root, &format!("{root}/gone2")],
    )
    .bytes();
    let mut w = srv.raw().await;
    let (events, rep) = w.call_collecting(-8, op::SET_WATCHES, &body).await;
    assert_eq!(rep.err, 0);
    assert!(rep.body.is_empty());
    // Data watches first, then exist, then child (DataTree.setWatches).
    assert_eq!(
        events,
        [
            (NODE_DATA_CHANGED, new.clone()),
            (NODE_DELETED, gone.clone()),
            (NODE_CREATED, old.clone()),
            (NODE_DELETED, format!("{root}/gone2")),
        ]
    );
    // What did not fire was registered: old (data), absent (exist), root (child).
    c.set_data(&old, b"1", None).await.unwrap();
    c.create(&absent, b"", &persistent()).await.unwrap();
    assert_eq!(
        w.events_so_far(1).await,
        [
            (NODE_DATA_CHANGED, old.clone()),
            (NODE_CREATED, absent.clone()),
            (NODE_CHILDREN_CHANGED, root.clone()),
        ]
    );
}

#[tokio::test]
async fn client_watchers_see_the_events() {
    let srv = start().await;
    let c = srv.client().await;
    let writer = srv.client().await;
    let root = fresh_root(&c, "client_watchers").await;
    let p = format!("{root}/p");

    let (stat, w) = c.check_and_watch_stat(&p).await.unwrap();
    assert_eq!(stat, None);
    writer.create(&p, b"", &persistent()).await.unwrap();
    let e = within("NodeCreated", w.changed()).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeCreated, p.as_str())
    );

    let (_, _, w) = c.get_and_watch_data(&p).await.unwrap();
    writer.set_data(&p, b"v", None).await.unwrap();
    let e = within("NodeDataChanged", w.changed()).await;
    assert_eq!(e.event_type, zk::EventType::NodeDataChanged);
    assert_eq!(e.zxid, -1, "3.8 notifications carry no zxid");

    let (_, w) = c.list_and_watch_children(&root).await.unwrap();
    writer
        .create(&format!("{root}/q"), b"", &persistent())
        .await
        .unwrap();
    let e = within("NodeChildrenChanged", w.changed()).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeChildrenChanged, root.as_str())
    );

    let mut pw = c
        .watch(&root, zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    writer.set_data(&p, b"w", None).await.unwrap();
    writer.delete(&p, None).await.unwrap();
    let e = within("recursive 1", pw.changed()).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeDataChanged, p.as_str())
    );
    let e = within("recursive 2", pw.changed()).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (zk::EventType::NodeDeleted, p.as_str())
    );
}
