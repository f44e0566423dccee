//! Heap bytes per znode, counted by an instrumented allocator (`stats_alloc`): 100,000 znodes shaped as
//! the benchmark's (`/zkbench/k/p00000/n0000123`: 26-byte paths, 1,000 children per parent,
//! 100 bytes of data each). Guards the compact node layout (`Children`, boxed nodes):
//! measured 384 bytes requested per znode with it, 450 with the layout before (nodes by
//! value in the map, an empty child set in every leaf), so the bound fails if a node grows
//! back. (Apache ZooKeeper 3.8: 429 bytes of heap per znode after a full GC, measured by
//! `scripts/bench-servers` with 1,000,000 znodes of this shape.)

use std::alloc::System;

use bytes::Bytes;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use zk_tree::DataTree;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn a_znode_costs_at_most_400_heap_bytes() {
    let open = zk_tree::acl::open_acl_unsafe();
    let mut tree = DataTree::new();
    let mut out = Vec::new();
    let mut zxid = 1;
    for p in ["/zkbench", "/zkbench/k"] {
        tree.create_node(p.as_bytes(), None, &open, 0, 0, zxid, 0, &mut out)
            .unwrap();
        zxid += 1;
    }
    let data = vec![b'x'; 100];
    let nodes_before = tree.node_count();
    let region = Region::new(GLOBAL);
    let count = 100_000;
    for i in 0..count {
        let (parent, child) = (i / 1000, i % 1000);
        if child == 0 {
            let p = format!("/zkbench/k/p{parent:05}");
            tree.create_node(p.as_bytes(), None, &open, 0, 0, zxid, 0, &mut out)
                .unwrap();
            zxid += 1;
        }
        let path = format!("/zkbench/k/p{parent:05}/n{i:07}");
        assert_eq!(path.len(), 26);
        tree.create_node(
            path.as_bytes(),
            Some(Bytes::copy_from_slice(&data)),
            &open,
            0,
            0,
            zxid,
            0,
            &mut out,
        )
        .unwrap();
        zxid += 1;
        out.clear();
    }
    let c = region.change();
    let live = c.bytes_allocated as f64 - c.bytes_deallocated as f64 + c.bytes_reallocated as f64;
    let per_node = live / count as f64;
    eprintln!("heap bytes per znode (26-byte path, 100-byte data): {per_node:.0}");
    assert!(per_node < 400.0, "{per_node:.0} heap bytes per znode");
    assert_eq!(tree.node_count() - nodes_before, count + 100);
}
