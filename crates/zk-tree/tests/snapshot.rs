//! The snapshot stream: exact bytes of a hand-built snapshot, round trips of varied trees,
//! the 3.4/3.5 variant without digest, and corruption found with its offset.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use zk_proto::data::{Acl, Id, StatPersisted};
use zk_proto::perms;
use zk_tree::digest::{node_digest, tree_digest};
use zk_tree::ephemeral::{ttl_owner, CONTAINER_OWNER};
use zk_tree::snapshot::{
    read_snapshot, write_snapshot, ReadOptions, SnapshotError, WriteOptions, ZxidDigest,
};
use zk_tree::DataTree;

/// Adler32 written out from its definition, independent of the implementation's crate.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn put_str(buf: &mut BytesMut, s: &[u8]) {
    buf.put_i32(s.len() as i32);
    buf.put_slice(s);
}

fn put_stat(buf: &mut BytesMut, s: &StatPersisted) {
    buf.put_i64(s.czxid);
    buf.put_i64(s.mzxid);
    buf.put_i64(s.ctime);
    buf.put_i64(s.mtime);
    buf.put_i32(s.version);
    buf.put_i32(s.cversion);
    buf.put_i32(s.aversion);
    buf.put_i64(s.ephemeral_owner);
    buf.put_i64(s.pzxid);
}

fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
    Acl {
        perms,
        id: Id {
            scheme: Some(scheme.into()),
            id: Some(id.into()),
        },
    }
}

fn stat(zxid: i64, owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid + 1,
        ctime: 1_700_000_000_000 + zxid,
        mtime: 1_700_000_000_500 + zxid,
        version: 1,
        cversion: 2,
        aversion: 3,
        ephemeral_owner: owner,
        pzxid: zxid + 2,
    }
}

/// A snapshot built byte by byte from the layout in the module docs: root "" → /a → /a/b.
fn hand_built(with_digest: bool) -> (Vec<u8>, i64) {
    let root = stat(0, 0);
    let a = stat(5, 0);
    let b = stat(9, 0x100);
    let mut buf = BytesMut::new();
    buf.put_slice(b"ZKSN");
    buf.put_i32(2);
    buf.put_i64(-1);
    // Sessions, ascending (the writer keeps the given order; BTreeMap gives this one).
    buf.put_i32(2);
    buf.put_i64(0x100);
    buf.put_i32(30_000);
    buf.put_i64(0x200);
    buf.put_i32(4_000);
    // ACL cache, by key.
    buf.put_i32(2);
    buf.put_i64(1);
    buf.put_i32(1);
    buf.put_i32(perms::READ);
    put_str(&mut buf, b"world");
    put_str(&mut buf, b"anyone");
    buf.put_i64(2);
    buf.put_i32(2);
    buf.put_i32(perms::ALL);
    put_str(&mut buf, b"digest");
    put_str(&mut buf, b"alice:XXXX");
    buf.put_i32(perms::READ | perms::WRITE);
    put_str(&mut buf, b"ip");
    put_str(&mut buf, b"127.0.0.1");
    // Nodes: the root as "", then /a, then /a/b (null data).
    put_str(&mut buf, b"");
    put_str(&mut buf, b"");
    buf.put_i64(-1);
    put_stat(&mut buf, &root);
    put_str(&mut buf, b"/a");
    put_str(&mut buf, b"hello");
    buf.put_i64(1);
    put_stat(&mut buf, &a);
    put_str(&mut buf, b"/a/b");
    buf.put_i32(-1);
    buf.put_i64(2);
    put_stat(&mut buf, &b);
    put_str(&mut buf, b"/");
    let sum = adler32(&buf);
    buf.put_i64(i64::from(sum));
    put_str(&mut buf, b"/");
    let digest = node_digest(b"/", Some(b""), &root)
        .wrapping_add(node_digest(b"/a", Some(b"hello"), &a))
        .wrapping_add(node_digest(b"/a/b", None, &b));
    if with_digest {
        buf.put_i64(0x1_0000_0009);
        buf.put_i32(2);
        buf.put_i64(digest);
        let sum = adler32(&buf);
        buf.put_i64(i64::from(sum));
        put_str(&mut buf, b"/");
    }
    (buf.to_vec(), digest)
}

#[test]
fn hand_built_snapshot_reads_and_writes_back_byte_for_byte() {
    for with_digest in [true, false] {
        let (bytes, digest) = hand_built(with_digest);
        let loaded = read_snapshot(&bytes[..], 0x1_0000_0009, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.header.magic, i32::from_be_bytes(*b"ZKSN"));
        assert_eq!(loaded.header.dbid, -1);
        assert_eq!(loaded.nodes, 3);
        assert_eq!(loaded.length, bytes.len() as u64);
        assert_eq!(
            loaded.sessions,
            BTreeMap::from([(0x100, 30_000), (0x200, 4_000)])
        );
        assert_eq!(
            loaded.digest,
            with_digest.then_some(ZxidDigest {
                zxid: 0x1_0000_0009,
                digest_version: 2,
                digest
            })
        );
        let t = &loaded.tree;
        assert_eq!(t.last_processed_zxid, 0x1_0000_0009);
        assert_eq!(tree_digest(t), digest);
        // "" became the single root "/", and the children are linked.
        let root = t.node(b"/").unwrap();
        assert_eq!(root.children.len(), 1);
        assert!(t.node(b"").is_none());
        let a = t.node(b"/a").unwrap();
        assert_eq!(a.data, Some(&b"hello"[..]));
        assert_eq!(t.acl_of(a), &[acl(perms::READ, "world", "anyone")]);
        let b = t.node(b"/a/b").unwrap();
        assert_eq!(b.data, None);
        assert_eq!(*b.stat, stat(9, 0x100));
        assert_eq!(t.acl_of(b).len(), 2);
        assert_eq!(t.ephemerals_of(0x100), vec![Bytes::from_static(b"/a/b")]);
        let counts: BTreeMap<i64, u64> = t.acl_cache().entries().map(|(k, _, c)| (k, c)).collect();
        assert_eq!(counts, BTreeMap::from([(1, 1), (2, 1)]));

        let mut out = Vec::new();
        let summary = write_snapshot(
            t,
            loaded.sessions.clone(),
            &mut out,
            &WriteOptions {
                digest: with_digest,
            },
        )
        .unwrap();
        assert_eq!(out, bytes, "with_digest={with_digest}");
        assert_eq!(summary.nodes, 3);
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(summary.digest, loaded.digest);
    }
}

/// One node: data, ACL list, stored Stat, child names.
type NodePrint = (Option<Bytes>, Vec<Acl>, StatPersisted, BTreeSet<Vec<u8>>);

/// Everything a snapshot must preserve, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    nodes: BTreeMap<Vec<u8>, NodePrint>,
    acl_keys: BTreeMap<i64, (Vec<Acl>, u64)>,
    ephemerals: BTreeMap<i64, BTreeSet<Vec<u8>>>,
    containers: BTreeSet<Vec<u8>>,
    ttls: BTreeSet<Vec<u8>>,
    digest: i64,
}

fn fingerprint(t: &DataTree) -> Fingerprint {
    Fingerprint {
        nodes: t
            .iter()
            .map(|(p, n)| {
                (
                    p.to_vec(),
                    (
                        n.data.map(bytes::Bytes::copy_from_slice),
                        t.acl_of(n).to_vec(),
                        n.stat.clone(),
                        n.children.iter().map(|c| c.to_vec()).collect(),
                    ),
                )
            })
            .collect(),
        acl_keys: t
            .acl_cache()
            .entries()
            .map(|(k, l, c)| (k, (l.to_vec(), c)))
            .collect(),
        ephemerals: t
            .all_ephemerals()
            .map(|(s, p)| (s, p.iter().map(|x| x.to_vec()).collect()))
            .collect(),
        containers: t.containers().map(|p| p.to_vec()).collect(),
        ttls: t.ttls().map(|p| p.to_vec()).collect(),
        digest: tree_digest(t),
    }
}

/// A tree with every kind of node, shared and private ACLs, null and large data, a quota.
fn varied_tree() -> DataTree {
    let mut t = DataTree::new();
    let mut out = vec![];
    let open = zk_tree::acl::open_acl_unsafe();
    let alice = vec![acl(perms::ALL, "digest", "alice:hash")];
    let mut z = 10i64;
    let mut create = |t: &mut DataTree, p: &str, data: Option<&[u8]>, acl: &[Acl], owner: i64| {
        z += 1;
        t.create_node(
            p.as_bytes(),
            data.map(Bytes::copy_from_slice),
            acl,
            owner,
            -1,
            z,
            1_700_000_000_000 + z,
            &mut out,
        )
        .unwrap();
    };
    create(&mut t, "/app", Some(b"v1"), &open, 0);
    create(&mut t, "/app/eph", Some(b"e"), &open, 0x55);
    create(&mut t, "/app/eph2", None, &alice, 0x55);
    create(&mut t, "/app/other", Some(b""), &alice, 0x66);
    create(&mut t, "/cont", None, &open, CONTAINER_OWNER);
    create(&mut t, "/cont/c", Some(b"x"), &open, 0);
    create(
        &mut t,
        "/ttl",
        Some(b"t"),
        &open,
        ttl_owner(60_000).unwrap(),
    );
    create(&mut t, "/big", Some(&vec![7u8; 500 * 1024]), &alice, 0);
    create(&mut t, "/ünï", Some("ça".as_bytes()), &open, 0);
    for i in 0..50 {
        create(&mut t, &format!("/app/n{i:03}"), Some(b"d"), &open, 0);
    }
    // A quota on /app: limits and stats nodes.
    create(&mut t, "/zookeeper/quota/app", None, &open, 0);
    create(
        &mut t,
        "/zookeeper/quota/app/zookeeper_limits",
        Some(b"count=100,bytes=-1"),
        &open,
        0,
    );
    create(
        &mut t,
        "/zookeeper/quota/app/zookeeper_stats",
        Some(b"count=0,bytes=0"),
        &open,
        0,
    );
    t.set_data(
        b"/app",
        Some(Bytes::from_static(b"v2")),
        1,
        200,
        2_000,
        &mut out,
    )
    .unwrap();
    t.set_acl(b"/app/other", &open, 1).unwrap();
    t.delete_node(b"/app/n000", 201, &mut out).unwrap();
    t.last_processed_zxid = 201;
    t
}

fn round_trip(t: &DataTree, sessions: &BTreeMap<i64, i32>) -> zk_tree::snapshot::LoadedSnapshot {
    let mut out = Vec::new();
    write_snapshot(t, sessions.clone(), &mut out, &WriteOptions::default()).unwrap();
    read_snapshot(&out[..], t.last_processed_zxid, &ReadOptions::default()).unwrap()
}

#[test]
fn varied_tree_round_trips_with_all_bookkeeping() {
    let t = varied_tree();
    let sessions = BTreeMap::from([(0x55, 30_000), (0x66, 10_000), (0x77, 4_000)]);
    let loaded = round_trip(&t, &sessions);
    assert_eq!(loaded.sessions, sessions);
    assert_eq!(fingerprint(&loaded.tree), fingerprint(&t));
    assert_eq!(loaded.tree.node_count(), t.node_count());
    assert_eq!(
        loaded.digest,
        Some(ZxidDigest {
            zxid: 201,
            digest_version: 2,
            digest: tree_digest(&t)
        })
    );
    // The quota stats were recomputed from the subtree: /app and its 52 descendants.
    let stats = loaded
        .tree
        .node(b"/zookeeper/quota/app/zookeeper_stats")
        .unwrap();
    assert_eq!(stats.data, Some(&b"count=53,bytes=52"[..]));
    // ...and are kept up to date afterwards, which needs the quota path set rebuilt.
    let mut tree = loaded.tree;
    let mut out = vec![];
    tree.create_node(
        b"/app/new",
        Some(Bytes::from_static(b"1234")),
        &[],
        0,
        -1,
        300,
        3,
        &mut out,
    )
    .unwrap();
    let stats = tree.node(b"/zookeeper/quota/app/zookeeper_stats").unwrap();
    assert_eq!(stats.data, Some(&b"count=54,bytes=56"[..]));
    // ACL reference counts were rebuilt: releasing the last user drops the list.
    let alice_key = tree.node(b"/big").unwrap().acl;
    let users = tree
        .acl_cache()
        .entries()
        .find(|(k, _, _)| *k == alice_key)
        .unwrap()
        .2;
    assert_eq!(users, 2); // /big and /app/eph2
}

#[test]
fn unused_acl_entries_are_purged_on_load() {
    let (bytes, _) = hand_built(false);
    // Insert a third, unused ACL entry: patch the count and append an entry after key 2's.
    let mut t = read_snapshot(&bytes[..], 1, &ReadOptions::default())
        .unwrap()
        .tree;
    let key = t
        .acl_cache_mut()
        .intern(&[acl(perms::READ, "ip", "10.0.0.1")]);
    t.acl_cache_mut().release(key);
    let mut out = Vec::new();
    write_snapshot(&t, Vec::new(), &mut out, &WriteOptions::default()).unwrap();
    let back = read_snapshot(&out[..], 1, &ReadOptions::default()).unwrap();
    assert_eq!(back.tree.acl_cache().len(), 2);
}

#[test]
fn sessions_with_a_duplicate_id_keep_the_last_timeout() {
    let t = DataTree::new();
    let mut out = Vec::new();
    write_snapshot(
        &t,
        vec![(1, 100), (2, 200), (1, 300)],
        &mut out,
        &WriteOptions::default(),
    )
    .unwrap();
    let back = read_snapshot(&out[..], 0, &ReadOptions::default()).unwrap();
    assert_eq!(back.sessions, BTreeMap::from([(1, 300), (2, 200)]));
}

#[test]
fn an_empty_tree_has_the_system_nodes() {
    let t = DataTree::new();
    let back = round_trip(&t, &BTreeMap::new());
    assert_eq!(fingerprint(&back.tree), fingerprint(&t));
    assert_eq!(back.nodes, 4);
}

#[test]
fn partial_digest_reads_as_none_but_a_missing_second_seal_fails() {
    let (full, _) = hand_built(true);
    let (plain, _) = hand_built(false);
    // Anywhere inside the 20-byte digest record: no digest, like upstream's swallowed EOF.
    for cut in plain.len()..plain.len() + 20 {
        let loaded = read_snapshot(&full[..cut], 9, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.digest, None, "cut at {cut}");
    }
    // A complete digest without its seal is an error.
    for cut in plain.len() + 20..full.len() {
        let err = read_snapshot(&full[..cut], 9, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, SnapshotError::Truncated { .. }), "{err}");
        assert!(err.offset() >= (plain.len() + 20) as u64);
    }
}

#[test]
fn old_digest_as_hex_string_is_read() {
    let (plain, _) = hand_built(false);
    let mut buf = BytesMut::from(&plain[..]);
    buf.put_i64(77);
    buf.put_i32(1);
    put_str(&mut buf, b"1f");
    let sum = adler32(&buf);
    buf.put_i64(i64::from(sum));
    put_str(&mut buf, b"/");
    let loaded = read_snapshot(&buf[..], 77, &ReadOptions::default()).unwrap();
    assert_eq!(
        loaded.digest,
        Some(ZxidDigest {
            zxid: 77,
            digest_version: 1,
            digest: 0x1f
        })
    );
}

#[test]
fn corruption_is_reported_with_its_offset() {
    let (bytes, _) = hand_built(true);
    // Wrong magic.
    let mut bad = bytes.clone();
    bad[0] = b'X';
    let err = read_snapshot(&bad[..], 1, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, SnapshotError::BadMagic { .. }), "{err}");
    // A flipped data byte: the checksum catches it, at the first seal's offset.
    let (plain, _) = hand_built(false);
    let seal_at = plain.len() - 8 - 5;
    let data_at = bytes.windows(5).position(|w| w == b"hello").unwrap();
    let mut bad = bytes.clone();
    bad[data_at] ^= 0x20;
    let err = read_snapshot(&bad[..], 1, &ReadOptions::default()).unwrap_err();
    match &err {
        SnapshotError::Checksum { offset, .. } => assert_eq!(*offset, seal_at as u64),
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(
        err.to_string().contains(&format!("offset {seal_at}")),
        "{err}"
    );
    // A parent that comes after its child.
    let a_at = bytes.windows(2).position(|w| w == b"/a").unwrap();
    let mut bad = bytes.clone();
    bad[a_at + 1] = b'z';
    let err = read_snapshot(&bad[..], 1, &ReadOptions::default()).unwrap_err();
    match &err {
        SnapshotError::Corrupt { offset, detail } => {
            assert!(detail.contains("parent"), "{detail}");
            assert_eq!(*offset, (a_at + 2 + 4 + 5 + 8 + 60) as u64); // the /a/b record
        }
        other => panic!("expected a corrupt-tree error, got {other}"),
    }
    // An absurd length.
    let mut bad = bytes.clone();
    bad[a_at - 4..a_at].copy_from_slice(&0x7fff_0000i32.to_be_bytes());
    let err = read_snapshot(&bad[..], 1, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(err, SnapshotError::Corrupt { offset, .. } if offset == (a_at - 4) as u64),
        "{err}"
    );
    // A repeated ACL key (the second entry's key is at 48 + 8 + 4 + 4 + 9 + 10).
    let mut bad = bytes.clone();
    bad[83..91].copy_from_slice(&1i64.to_be_bytes());
    let err = read_snapshot(&bad[..], 1, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::Corrupt { offset: 83, detail } if detail.contains("twice")),
        "{err}"
    );
    // Truncation inside the nodes.
    let err = read_snapshot(&bytes[..a_at + 1], 1, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, SnapshotError::Truncated { .. }), "{err}");
}

proptest! {
    /// Any change to any byte before the final "/" string (which upstream reads and ignores
    /// too, so its content is not protected) is detected; nothing panics.
    #[test]
    fn every_single_byte_change_is_detected(pos in any::<prop::sample::Index>(), xor in 1u8..) {
        let (bytes, _) = hand_built(true);
        let i = pos.index(bytes.len() - 5);
        let mut bad = bytes.clone();
        bad[i] ^= xor;
        prop_assert!(read_snapshot(&bad[..], 1, &ReadOptions::default()).is_err(), "byte {} ^ {:#x}", i, xor);
    }

    #[test]
    fn any_prefix_fails_or_lacks_only_the_digest(cut in 0usize..400) {
        let (bytes, _) = hand_built(true);
        let (plain, _) = hand_built(false);
        let cut = cut.min(bytes.len());
        match read_snapshot(&bytes[..cut], 1, &ReadOptions::default()) {
            Ok(l) => prop_assert!(cut >= plain.len() && (l.digest.is_none() || cut == bytes.len())),
            Err(e) => prop_assert!(e.offset() <= cut as u64),
        }
    }
}
