//! Writes a snapshot of a large tree with zk-storage's writer and times reading it back.
//!
//! ```text
//! cargo run --release -p zk-storage --example snapshot_bench -- [nodes] [dir]
//! ```
//!
//! The tree has `nodes` znodes (default 1,000,000) as in REFERENCE-NUMBERS.md: 1,000
//! children per parent, ~25-byte paths, 100-byte values, one shared ACL. It is written plain,
//! gzip and snappy into `dir` (default: a temporary directory), and each file is read back
//! (Adler32 verified, tree rebuilt) and timed.

use std::time::{Duration, Instant};

use bytes::Bytes;
use zk_storage::java::names::Compression;
use zk_storage::java::snapfile::{read_snapshot_file, write_snapshot_file};
use zk_tree::snapshot::{ReadOptions, WriteOptions};
use zk_tree::DataTree;

/// CPU time (user + system) of this process so far, from /proc/self/stat (Linux); on a shared
/// machine it is steadier than wall time.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args
        .next()
        .map(|s| s.parse().expect("nodes must be a number"))
        .unwrap_or(1_000_000);
    let tmp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().expect("temporary directory");
            tmp.path().to_path_buf()
        }
    };

    let t = Instant::now();
    let mut tree = DataTree::new();
    let acl = zk_tree::acl::open_acl_unsafe();
    let value = Bytes::from(vec![b'v'; 100]);
    let mut out = Vec::new();
    let mut zxid = 0i64;
    let parents = nodes.div_ceil(1000);
    for p in 0..parents {
        zxid += 1;
        let parent = format!("/bench-{p:05}");
        tree.create_node(
            parent.as_bytes(),
            Some(value.clone()),
            &acl,
            0,
            -1,
            zxid,
            zxid,
            &mut out,
        )
        .expect("create parent");
        for c in 0..(nodes - p * 1000).min(1000) {
            zxid += 1;
            let path = format!("{parent}/node-{c:010}");
            tree.create_node(
                path.as_bytes(),
                Some(value.clone()),
                &acl,
                0,
                -1,
                zxid,
                zxid,
                &mut out,
            )
            .expect("create child");
        }
    }
    tree.last_processed_zxid = zxid;
    println!(
        "built a tree of {} nodes in {:.2?}",
        tree.node_count(),
        t.elapsed()
    );

    for compression in [Compression::Plain, Compression::Snappy, Compression::Gzip] {
        let t = Instant::now();
        let (file, summary) = write_snapshot_file(
            &dir,
            &tree,
            [(0x100, 30_000)],
            compression,
            &WriteOptions::default(),
        )
        .expect("write snapshot");
        let write = t.elapsed();
        let size = std::fs::metadata(&file.path).expect("stat").len();
        let t = Instant::now();
        let cpu = cpu_time();
        let loaded = read_snapshot_file(&file, &ReadOptions::default()).expect("read snapshot");
        let read = t.elapsed();
        let read_cpu = cpu.zip(cpu_time()).map(|(a, b)| b - a);
        assert_eq!(loaded.tree.node_count(), tree.node_count());
        assert_eq!(loaded.digest, summary.digest);
        println!(
            "{:<7} {:>6.1} MB ({} bytes uncompressed): write {:>8.2?}  read {:>8.2?} wall, {} CPU ({:.0} nodes/s)",
            format!("{compression:?}"),
            size as f64 / 1e6,
            summary.bytes,
            write,
            read,
            read_cpu.map_or("?".to_string(), |c| format!("{c:.2?}")),
            loaded.nodes as f64 / read.as_secs_f64()
        );
        drop(loaded);
        std::fs::remove_file(&file.path).expect("remove snapshot");
    }
}
