//! The tree digest of Apache ZooKeeper 3.6+ (`DigestCalculator`, `NodeHashMapImpl`,
//! `AdHash`): a 64-bit sum, wrapping, of one CRC32 per node.
//!
//! A node's CRC32 runs over its path (the root's path is the empty string), its data (nothing
//! for null data), then 60 bytes of Stat, big-endian: czxid, mzxid, pzxid, ctime, mtime (i64
//! each), version, cversion, aversion (i32 each), ephemeralOwner (i64). Nodes under
//! `/zookeeper/` count 0 (quota stats change locally on each server); `/zookeeper` itself
//! counts. Txn log entries and snapshots carry this value (`TxnDigest`, `ZxidDigest`) so a
//! replica can tell that its tree went the same way as the leader's.
//!
//! Paths are hashed as the bytes the tree stores. Java hashes `path.getBytes()`, its UTF-8
//! encoding of the decoded string: identical for every path whose bytes are valid UTF-8 without
//! encoded surrogates, i.e. every path a client can create without characters outside the BMP
//! (upstream itself mangles those, see PROTOCOL-NOTES).

use zk_proto::data::StatPersisted;

use crate::tree::{DataTree, Node};

/// `DigestCalculator.DIGEST_VERSION`: the version written next to every digest.
pub const DIGEST_VERSION: i32 = 2;

/// The subtree whose nodes do not count (`ZooDefs.ZOOKEEPER_NODE_SUBTREE`).
const EXCLUDED_SUBTREE: &[u8] = b"/zookeeper/";

/// The digest of one node at `path` (Ferrokeeper's form: the root is `/`).
pub fn node_digest(path: &[u8], data: Option<&[u8]>, stat: &StatPersisted) -> i64 {
    if path.starts_with(EXCLUDED_SUBTREE) {
        return 0;
    }
    let path = if path == b"/" { &[][..] } else { path };
    let mut fields = [0u8; 60];
    let longs = [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime];
    for (i, v) in longs.iter().enumerate() {
        fields[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    for (i, v) in [stat.version, stat.cversion, stat.aversion]
        .iter()
        .enumerate()
    {
        fields[40 + i * 4..44 + i * 4].copy_from_slice(&v.to_be_bytes());
    }
    fields[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(path);
    if let Some(d) = data {
        crc.update(d);
    }
    crc.update(&fields);
    i64::from(crc.finalize())
}

/// The digest of a node as the tree holds it.
pub fn digest_of(path: &[u8], node: &Node<'_>) -> i64 {
    node_digest(path, node.data, node.stat)
}

/// The digest of the whole tree (`DataTree.getTreeDigest`), computed from scratch: one pass
/// over every node.
pub fn tree_digest(tree: &DataTree) -> i64 {
    let mut sum = 0i64;
    tree.walk(|p, n| sum = sum.wrapping_add(digest_of(p, &n)));
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_subtree_and_root_alias() {
        let stat = StatPersisted {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            pzxid: 9,
        };
        assert_eq!(node_digest(b"/zookeeper/quota", Some(b"x"), &stat), 0);
        assert_ne!(node_digest(b"/zookeeper", Some(b""), &stat), 0);
        // The root hashes as the empty path.
        let mut fields = Vec::new();
        for v in [1i64, 2, 9, 3, 4] {
            fields.extend_from_slice(&v.to_be_bytes());
        }
        for v in [5i32, 6, 7] {
            fields.extend_from_slice(&v.to_be_bytes());
        }
        fields.extend_from_slice(&8i64.to_be_bytes());
        let mut data = b"ab".to_vec();
        data.extend_from_slice(&fields);
        assert_eq!(
            node_digest(b"/", Some(b"ab"), &stat),
            i64::from(crc32fast::hash(&data))
        );
        // Null data and empty data hash alike, as in Java.
        assert_eq!(
            node_digest(b"/a", None, &stat),
            node_digest(b"/a", Some(b""), &stat)
        );
    }
}
