//! DataTree mutations against the Stat and watch rules of Apache ZooKeeper's DataTree.

use bytes::Bytes;
use zk_proto::data::{Acl, Id};
use zk_proto::{perms, ErrorCode, EventType};
use zk_tree::ephemeral::{ttl_owner, CONTAINER_OWNER};
use zk_tree::{DataTree, Notification, WatchKind};

fn open() -> Vec<Acl> {
    zk_tree::acl::open_acl_unsafe()
}

fn digest_acl(user: &str) -> Vec<Acl> {
    vec![Acl {
        perms: perms::READ,
        id: Id {
            scheme: Some("digest".into()),
            id: Some(user.into()),
        },
    }]
}

fn data(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

fn events(out: &[Notification]) -> Vec<(u64, EventType, String)> {
    out.iter()
        .map(|n| {
            (
                n.watcher,
                n.event.kind,
                String::from_utf8_lossy(&n.event.path).into_owned(),
            )
        })
        .collect()
}

#[test]
fn initial_tree_has_the_system_nodes() {
    let mut t = DataTree::new();
    let (children, root) = t.get_children(b"/", None).unwrap();
    assert_eq!(children, vec![Bytes::from_static(b"zookeeper")]);
    assert_eq!(root.num_children, 1);
    let (mut zk, _) = t.get_children(b"/zookeeper", None).unwrap();
    zk.sort();
    assert_eq!(
        zk,
        vec![Bytes::from_static(b"config"), Bytes::from_static(b"quota")]
    );
    let (acl, stat) = t.get_acl(b"/zookeeper/config").unwrap();
    assert_eq!(acl, zk_tree::acl::read_acl_unsafe());
    assert_eq!(stat.aversion, -1);
    assert_eq!(t.all_children_number(b"/"), 3);
}

#[test]
fn create_sets_stats_of_node_and_parent() {
    let mut t = DataTree::new();
    let mut out = vec![];
    let s = t
        .create_node(b"/a", data("x"), &open(), 0, 1, 0x10, 1000, &mut out)
        .unwrap();
    assert_eq!(
        (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
        (0x10, 0x10, 0x10, 1000, 1000)
    );
    assert_eq!(
        (
            s.version,
            s.cversion,
            s.aversion,
            s.data_length,
            s.num_children
        ),
        (0, 0, 0, 1, 0)
    );
    t.create_node(b"/a/b", None, &open(), 0, 1, 0x11, 1001, &mut out)
        .unwrap();
    t.create_node(b"/a/c", None, &open(), 0, 2, 0x12, 1002, &mut out)
        .unwrap();
    let a = t.stat_node(b"/a", None).unwrap();
    assert_eq!((a.cversion, a.num_children, a.pzxid), (2, 2, 0x12));
    // A child's setData never touches the parent's pzxid or cversion.
    t.set_data(b"/a/b", data("y"), 1, 0x13, 1003, &mut out)
        .unwrap();
    let a2 = t.stat_node(b"/a", None).unwrap();
    assert_eq!(a, a2);
    // Delete: pzxid moves, the visible cversion counts the delete too (2*creates - children).
    t.delete_node(b"/a/b", 0x14, &mut out).unwrap();
    let a3 = t.stat_node(b"/a", None).unwrap();
    assert_eq!((a3.cversion, a3.num_children, a3.pzxid), (3, 1, 0x14));
    // Null data stays null, with dataLength 0.
    let (d, st) = t.get_data(b"/a/c", None).unwrap();
    assert_eq!((d, st.data_length), (None, 0));
}

#[test]
fn create_errors() {
    let mut t = DataTree::new();
    let mut out = vec![];
    assert_eq!(
        t.create_node(b"/x/y", None, &open(), 0, -1, 1, 1, &mut out),
        Err(ErrorCode::NoNode)
    );
    t.create_node(b"/x", None, &open(), 0, -1, 2, 1, &mut out)
        .unwrap();
    assert_eq!(
        t.create_node(b"/x", None, &open(), 0, -1, 3, 1, &mut out),
        Err(ErrorCode::NodeExists)
    );
    assert_eq!(t.delete_node(b"/nope", 4, &mut out), Err(ErrorCode::NoNode));
    assert_eq!(
        t.set_data(b"/nope", None, 1, 5, 1, &mut out),
        Err(ErrorCode::NoNode)
    );
    assert_eq!(t.set_acl(b"/nope", &open(), 1), Err(ErrorCode::NoNode));
}

#[test]
fn one_shot_watches_fire_in_upstream_order_and_once() {
    let mut t = DataTree::new();
    let mut out = vec![];
    // exist watch on a missing node (1), child watch on root (2), data watch later (3).
    assert_eq!(t.stat_node(b"/w", Some(1)), Err(ErrorCode::NoNode));
    t.get_children(b"/", Some(2)).unwrap();
    t.create_node(b"/w", data("a"), &open(), 0, -1, 5, 1, &mut out)
        .unwrap();
    assert_eq!(
        events(&out),
        vec![
            (1, EventType::NodeCreated, "/w".into()),
            (2, EventType::NodeChildrenChanged, "/".into())
        ]
    );
    out.clear();
    t.get_data(b"/w", Some(3)).unwrap();
    t.get_children(b"/w", Some(3)).unwrap();
    t.set_data(b"/w", data("b"), 1, 6, 2, &mut out).unwrap();
    t.set_data(b"/w", data("c"), 2, 7, 3, &mut out).unwrap();
    assert_eq!(
        events(&out),
        vec![(3, EventType::NodeDataChanged, "/w".into())]
    );
    out.clear();
    // Data and child watch of the same watcher on a deleted node: one NodeDeleted.
    t.get_data(b"/w", Some(3)).unwrap();
    t.delete_node(b"/w", 8, &mut out).unwrap();
    assert_eq!(events(&out), vec![(3, EventType::NodeDeleted, "/w".into())]);
}

#[test]
fn persistent_and_recursive_watches() {
    let mut t = DataTree::new();
    let mut out = vec![];
    t.create_node(b"/p", None, &open(), 0, -1, 1, 1, &mut out)
        .unwrap();
    t.add_persistent_watch(b"/p", 7, false);
    t.add_persistent_watch(b"/p", 8, true);
    t.create_node(b"/p/c", None, &open(), 0, -1, 2, 1, &mut out)
        .unwrap();
    t.set_data(b"/p/c", data("z"), 1, 3, 1, &mut out).unwrap();
    t.set_data(b"/p", data("z"), 1, 4, 1, &mut out).unwrap();
    t.delete_node(b"/p/c", 5, &mut out).unwrap();
    assert_eq!(
        events(&out),
        vec![
            (8, EventType::NodeCreated, "/p/c".into()),
            (7, EventType::NodeChildrenChanged, "/p".into()),
            (8, EventType::NodeDataChanged, "/p/c".into()),
            (7, EventType::NodeDataChanged, "/p".into()),
            (8, EventType::NodeDataChanged, "/p".into()),
            (8, EventType::NodeDeleted, "/p/c".into()),
            (7, EventType::NodeChildrenChanged, "/p".into()),
        ]
    );
    t.remove_watcher(7);
    t.remove_watcher(8);
    out.clear();
    t.set_data(b"/p", data("q"), 2, 6, 1, &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn sessions_own_their_ephemerals() {
    let mut t = DataTree::new();
    let mut out = vec![];
    t.create_node(b"/e1", None, &open(), 42, -1, 1, 1, &mut out)
        .unwrap();
    t.create_node(b"/e2", None, &open(), 42, -1, 2, 1, &mut out)
        .unwrap();
    t.create_node(b"/other", None, &open(), 43, -1, 3, 1, &mut out)
        .unwrap();
    assert_eq!(t.stat_node(b"/e1", None).unwrap().ephemeral_owner, 42);
    let mut mine = t.ephemerals_of(42);
    mine.sort();
    assert_eq!(
        mine,
        vec![Bytes::from_static(b"/e1"), Bytes::from_static(b"/e2")]
    );
    t.add_watch(b"/e2", 9, WatchKind::Data);
    t.kill_session(42, 4, Some(&[Bytes::from_static(b"/e1")]), &mut out);
    assert!(t.node(b"/e1").is_none() && t.node(b"/e2").is_none());
    assert!(t.node(b"/other").is_some());
    assert!(t.ephemerals_of(42).is_empty());
    assert_eq!(
        events(&out),
        vec![(9, EventType::NodeDeleted, "/e2".into())]
    );
}

#[test]
fn containers_and_ttls_are_tracked_and_hide_their_owner() {
    let mut t = DataTree::new();
    let mut out = vec![];
    t.create_node(b"/c", None, &open(), CONTAINER_OWNER, -1, 1, 1, &mut out)
        .unwrap();
    let ttl = ttl_owner(500).unwrap();
    t.create_node(b"/t", None, &open(), ttl, -1, 2, 1, &mut out)
        .unwrap();
    assert_eq!(t.stat_node(b"/c", None).unwrap().ephemeral_owner, 0);
    assert_eq!(t.stat_node(b"/t", None).unwrap().ephemeral_owner, 0);
    assert_eq!(t.containers().count(), 1);
    assert_eq!(t.ttls().count(), 1);
    t.delete_node(b"/c", 3, &mut out).unwrap();
    t.delete_node(b"/t", 4, &mut out).unwrap();
    assert_eq!(t.containers().count() + t.ttls().count(), 0);
}

#[test]
fn acl_cache_is_shared_and_released() {
    let mut t = DataTree::new();
    let mut out = vec![];
    let base = t.acl_cache().len();
    for i in 0..10 {
        let p = format!("/n{i}");
        t.create_node(
            p.as_bytes(),
            None,
            &digest_acl("u:x"),
            0,
            -1,
            i + 1,
            1,
            &mut out,
        )
        .unwrap();
    }
    assert_eq!(t.acl_cache().len(), base + 1);
    let s = t.set_acl(b"/n0", &open(), 1).unwrap();
    assert_eq!(s.aversion, 1);
    assert_eq!(t.get_acl(b"/n0").unwrap().0, open());
    for i in 0..10 {
        t.delete_node(format!("/n{i}").as_bytes(), 100 + i, &mut out)
            .unwrap();
    }
    assert_eq!(
        t.acl_cache().len(),
        base,
        "every list released with its last node"
    );
}

#[test]
fn quotas_track_count_and_bytes() {
    let mut t = DataTree::new();
    let mut out = vec![];
    t.create_node(b"/q", data("12345"), &open(), 0, -1, 1, 1, &mut out)
        .unwrap();
    t.create_node(b"/zookeeper/quota/q", None, &open(), 0, -1, 2, 1, &mut out)
        .unwrap();
    t.create_node(
        b"/zookeeper/quota/q/zookeeper_limits",
        data("count=10,bytes=-1"),
        &open(),
        0,
        -1,
        3,
        1,
        &mut out,
    )
    .unwrap();
    t.create_node(
        b"/zookeeper/quota/q/zookeeper_stats",
        data("count=0,bytes=0"),
        &open(),
        0,
        -1,
        4,
        1,
        &mut out,
    )
    .unwrap();
    let stats = |t: &mut DataTree| {
        t.get_data(b"/zookeeper/quota/q/zookeeper_stats", None)
            .unwrap()
            .0
            .unwrap()
    };
    assert_eq!(stats(&mut t), Bytes::from_static(b"count=1,bytes=5"));
    t.create_node(b"/q/a", data("xy"), &open(), 0, -1, 5, 1, &mut out)
        .unwrap();
    assert_eq!(stats(&mut t), Bytes::from_static(b"count=2,bytes=7"));
    t.set_data(b"/q/a", data("xyz"), 1, 6, 1, &mut out).unwrap();
    assert_eq!(stats(&mut t), Bytes::from_static(b"count=2,bytes=8"));
    t.delete_node(b"/q/a", 7, &mut out).unwrap();
    assert_eq!(stats(&mut t), Bytes::from_static(b"count=1,bytes=5"));
    // Removing the limit node stops the accounting.
    t.delete_node(b"/zookeeper/quota/q/zookeeper_limits", 8, &mut out)
        .unwrap();
    t.create_node(b"/q/b", data("xy"), &open(), 0, -1, 9, 1, &mut out)
        .unwrap();
    assert_eq!(stats(&mut t), Bytes::from_static(b"count=1,bytes=5"));
}

/// Children are listed in the order they were added, a deleted one's place closes up, and a
/// re-created one goes last (the old layout listed them in hash order).
#[test]
fn children_come_in_creation_order() {
    let mut t = DataTree::new();
    let mut out = vec![];
    t.create_node(b"/p", None, &open(), 0, -1, 1, 1, &mut out)
        .unwrap();
    for (i, n) in ["c", "a", "d", "b"].iter().enumerate() {
        let p = format!("/p/{n}");
        t.create_node(
            p.as_bytes(),
            None,
            &open(),
            0,
            -1,
            2 + i as i64,
            1,
            &mut out,
        )
        .unwrap();
    }
    t.delete_node(b"/p/a", 10, &mut out).unwrap();
    t.create_node(b"/p/a", None, &open(), 0, -1, 11, 1, &mut out)
        .unwrap();
    t.delete_node(b"/p/c", 12, &mut out).unwrap();
    let (names, stat) = t.get_children(b"/p", None).unwrap();
    assert_eq!(
        names,
        ["d", "b", "a"].map(|n| Bytes::from_static(n.as_bytes()))
    );
    assert_eq!(stat.num_children, 3);
    let listed: Vec<&[u8]> = t.node(b"/p").unwrap().children.iter().collect();
    assert_eq!(listed, [&b"d"[..], b"b", b"a"]);
}

/// A txn stream that deletes a node before its children (preparation never lets one through:
/// `NotEmpty`) takes the subtree with it: no orphan keeps a path, an ACL reference or an
/// ephemeral entry, and the paths can be created again.
#[test]
fn deleting_a_parent_first_drops_its_subtree() {
    let mut t = DataTree::new();
    let mut out = vec![];
    let count = t.node_count();
    t.create_node(b"/a", None, &open(), 0, -1, 1, 1, &mut out)
        .unwrap();
    t.create_node(b"/a/b", None, &digest_acl("x"), 0, -1, 2, 1, &mut out)
        .unwrap();
    t.create_node(b"/a/b/c", data("x"), &open(), 7, -1, 3, 1, &mut out)
        .unwrap();
    t.create_node(b"/a/d", None, &open(), CONTAINER_OWNER, -1, 4, 1, &mut out)
        .unwrap();
    // READ_ACL_UNSAFE (/zookeeper/config), the open list and the digest one.
    assert_eq!(t.acl_cache().len(), 3);
    t.delete_node(b"/a", 5, &mut out).unwrap();
    assert_eq!(t.node_count(), count);
    for p in [&b"/a"[..], b"/a/b", b"/a/b/c", b"/a/d"] {
        assert!(t.node(p).is_none(), "{p:?}");
    }
    assert!(t.ephemerals_of(7).is_empty());
    assert_eq!(t.containers().count(), 0);
    assert_eq!(
        t.acl_cache().len(),
        1,
        "the lists' last users went with the subtree"
    );
    t.create_node(b"/a", None, &open(), 0, -1, 6, 1, &mut out)
        .unwrap();
    t.create_node(b"/a/b", None, &open(), 0, -1, 7, 1, &mut out)
        .unwrap();
    assert_eq!(t.get_children(b"/a", None).unwrap().1.num_children, 1);
}
