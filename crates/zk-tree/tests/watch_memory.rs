//! Heap per watch, measured as the benchmark's (5) Memory does it: 1,000 watchers × 100
//! exists-watches, each on its own 26-byte path (`/zkbench/k/p00000/n0000123`), 100,000
//! watches in one table.
//!
//! Counted by `counting_alloc` (bytes requested, and glibc's chunks for them). One test in
//! this binary, so no other test allocates meanwhile.
//!
//! Run with `--nocapture` to see the figures (also the process RSS growth on Linux).

mod counting_alloc;

use std::sync::atomic::Ordering;

use bytes::Bytes;
use counting_alloc::{rss_kib, Counting, LIVE, LIVE_CHUNKS};
use zk_tree::{WatchMode, WatchTable};

#[global_allocator]
static ALLOC: Counting = Counting;

/// zk-bench's `key_path`: `/zkbench/k/p{i/1000:05}/n{i:07}`, 26 bytes.
fn key_path(i: u64) -> String {
    format!("/zkbench/k/p{:05}/n{i:07}", i / 1000)
}

const WATCHERS: u64 = 1_000;
const PER_WATCHER: u64 = 100;

#[test]
fn a_watch_costs_well_under_a_quarter_of_zookeepers_329_bytes() {
    let watches = (WATCHERS * PER_WATCHER) as isize;
    let (live0, chunks0, rss0) = (
        LIVE.load(Ordering::Relaxed),
        LIVE_CHUNKS.load(Ordering::Relaxed),
        rss_kib(),
    );
    let mut table = WatchTable::default();
    for w in 0..WATCHERS {
        for n in 0..PER_WATCHER {
            let p = key_path(w * PER_WATCHER + n);
            assert_eq!(p.len(), 26);
            // As DataTree::stat_node hands it over: a path copied out of the request.
            let path = Bytes::copy_from_slice(p.as_bytes());
            assert!(table.add(&path, w, WatchMode::Standard));
        }
    }
    let live = LIVE.load(Ordering::Relaxed) - live0;
    let chunks = LIVE_CHUNKS.load(Ordering::Relaxed) - chunks0;
    let rss = rss_kib().zip(rss0).map(|(a, b)| (a - b) * 1024);
    assert_eq!(table.len(), watches as usize);
    assert_eq!(table.path_count(), watches as usize);
    assert_eq!(table.watcher_count(), WATCHERS as usize);
    let per = live as f64 / watches as f64;
    let per_chunk = chunks as f64 / watches as f64;
    println!(
        "watch table: {per:.1} B requested per watch, {per_chunk:.1} B with glibc's chunk \
         overhead, RSS growth {} per watch",
        rss.map_or("n/a".to_string(), |r| format!(
            "{:.1} B",
            r as f64 / watches as f64
        ))
    );
    // Issue #6: at most a quarter of Apache ZooKeeper's 329 B of heap per watch.
    assert!(per <= 64.0, "{per:.1} B requested per watch");
    assert!(
        per_chunk <= 80.0,
        "{per_chunk:.1} B per watch with malloc overhead"
    );
    drop(table);
    let left = LIVE.load(Ordering::Relaxed) - live0;
    assert!(left < 4096, "{left} B still live after dropping the table");
}
