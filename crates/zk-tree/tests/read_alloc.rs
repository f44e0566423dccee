//! getData copies a node's data out of the tree without an allocation per read: small values
//! are slices of one shared block (counted by `counting_alloc`). Before 2026-12-07 every read
//! allocated a fresh `Bytes`.

mod counting_alloc;

use bytes::Bytes;
use counting_alloc::{calls, Counting};
use zk_tree::DataTree;

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn get_data_does_not_allocate_per_read() {
    let mut tree = DataTree::new();
    let open = zk_tree::acl::open_acl_unsafe();
    let mut out = Vec::new();
    let value = Bytes::from(vec![b'v'; 100]);
    tree.create_node(b"/a", Some(value.clone()), &open, 0, -1, 1, 0, &mut out)
        .unwrap();
    const READS: usize = 10_000;
    let mut held = Vec::with_capacity(64);
    let before = calls();
    for i in 0..READS {
        let (data, _) = tree.get_data(b"/a", None).unwrap();
        assert_eq!(data.as_ref(), Some(&value));
        // A few replies still queued while the next reads happen.
        if held.len() == 64 {
            held.clear();
        }
        held.push(data);
        assert!(i < READS);
    }
    let per_read = (calls() - before) as f64 / READS as f64;
    println!("{per_read:.3} allocations per getData of 100 bytes");
    // One 16 KiB block (and its shared header) per ~160 reads.
    assert!(per_read < 0.02, "{per_read} allocations per read");
    // Large values get their own copy, and every copy is the node's data.
    let big = Bytes::from(vec![b'b'; 2_000]);
    tree.create_node(b"/big", Some(big.clone()), &open, 0, -1, 2, 0, &mut out)
        .unwrap();
    assert_eq!(tree.get_data(b"/big", None).unwrap().0, Some(big));
    assert_eq!(tree.get_data(b"/a", None).unwrap().0, Some(value));
}
