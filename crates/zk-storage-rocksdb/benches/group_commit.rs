//! How fast the RocksDB txn log makes things durable on this disk.
//!
//! ```text
//! cargo bench -p zk-storage-rocksdb --bench group_commit -- [--secs 10] [--dir PATH]
//! ```
//!
//! 1. Baseline: append 100 bytes to a plain file + `fdatasync`.
//! 2. One `RocksTxnLog` sync of 1 entry, and of 100 entries, of 100 bytes each.
//! 3. Group commit: N appender threads in a closed loop (send one 100-byte txn, wait until
//!    it is durable, repeat) feeding one writer thread that runs the server's loop: take
//!    the first batch, drain everything else that arrived, append all, sync once.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zk_storage::TxnLog;
use zk_storage_rocksdb::RocksTxnLog;

const ENTRY: usize = 100;

fn payload() -> Bytes {
    Bytes::from(vec![0x5a; ENTRY])
}

struct Lat(Vec<Duration>);

impl Lat {
    fn q(&self, q: f64) -> Duration {
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        self.0[i]
    }
    fn mean(&self) -> Duration {
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }
    fn sorted(mut v: Vec<Duration>) -> Self {
        v.sort_unstable();
        Lat(v)
    }
    fn row(&self, what: &str) {
        println!(
            "| {what} | {} | {:.0} µs | {:.0} µs | {:.0} µs |",
            self.0.len(),
            self.mean().as_secs_f64() * 1e6,
            self.q(0.5).as_secs_f64() * 1e6,
            self.q(0.99).as_secs_f64() * 1e6
        );
    }
}

fn raw_fdatasync(dir: &std::path::Path, n: usize) -> Lat {
    let mut f = std::fs::File::create(dir.join("raw")).unwrap();
    let buf = vec![0x5a; ENTRY];
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        v.push(t.elapsed());
    }
    Lat::sorted(v)
}

fn rocks_sync(dir: &std::path::Path, per_sync: usize, n: usize) -> Lat {
    let mut log = RocksTxnLog::open(dir.join(format!("rocks-{per_sync}"))).unwrap();
    let mut z = 0;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let batch: Vec<_> = (0..per_sync)
            .map(|_| {
                z += 1;
                (z, payload())
            })
            .collect();
        let t = Instant::now();
        log.append(&batch).unwrap();
        log.sync().unwrap();
        v.push(t.elapsed());
    }
    Lat::sorted(v)
}

/// The next zxid and the writer's channel, behind one lock.
type Sequencer = Mutex<(i64, Sender<Vec<(i64, Bytes)>>)>;

struct Durable {
    upto: Mutex<i64>,
    cv: Condvar,
}

/// The server's writer loop (zk-server's `log::run_writer`), minus the channel types.
fn writer(
    mut log: RocksTxnLog,
    rx: Receiver<Vec<(i64, Bytes)>>,
    durable: Arc<Durable>,
    syncs: Arc<AtomicU64>,
    entries: Arc<AtomicU64>,
) {
    while let Ok(mut batch) = rx.recv() {
        while let Ok(more) = rx.try_recv() {
            batch.extend(more);
        }
        let Some(last) = batch.last().map(|e| e.0) else {
            continue;
        };
        log.append(&batch).unwrap();
        log.sync().unwrap();
        syncs.fetch_add(1, Ordering::Relaxed);
        entries.fetch_add(batch.len() as u64, Ordering::Relaxed);
        *durable.upto.lock().unwrap() = last;
        durable.cv.notify_all();
    }
}

fn group_commit(dir: &std::path::Path, appenders: usize, secs: u64) {
    let log = RocksTxnLog::open(dir.join(format!("group-{appenders}"))).unwrap();
    let (tx, rx) = channel();
    let durable = Arc::new(Durable {
        upto: Mutex::new(0),
        cv: Condvar::new(),
    });
    let syncs = Arc::new(AtomicU64::new(0));
    let entries = Arc::new(AtomicU64::new(0));
    let w = {
        let (d, s, e) = (durable.clone(), syncs.clone(), entries.clone());
        std::thread::spawn(move || writer(log, rx, d, s, e))
    };
    // zxids are handed out and sent under one lock, so the channel is in zxid order (the
    // server's core does the same on its single thread).
    let seq: Arc<Sequencer> = Arc::new(Mutex::new((0, tx)));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..appenders)
        .map(|_| {
            let (seq, durable, stop, measuring) = (
                seq.clone(),
                durable.clone(),
                stop.clone(),
                measuring.clone(),
            );
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let z = {
                        let mut g = seq.lock().unwrap();
                        g.0 += 1;
                        let z = g.0;
                        g.1.send(vec![(z, payload())]).unwrap();
                        z
                    };
                    let mut d = durable.upto.lock().unwrap();
                    while *d < z {
                        d = durable.cv.wait(d).unwrap();
                    }
                    drop(d);
                    if measuring.load(Ordering::Relaxed) {
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1)); // warm-up
    let (s0, e0) = (
        syncs.load(Ordering::Relaxed),
        entries.load(Ordering::Relaxed),
    );
    measuring.store(true, Ordering::Relaxed);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    measuring.store(false, Ordering::Relaxed);
    let el = t.elapsed().as_secs_f64();
    let (s1, e1) = (
        syncs.load(Ordering::Relaxed),
        entries.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    let lat = Lat::sorted(
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect(),
    );
    drop(seq);
    w.join().unwrap();
    let (s, e) = ((s1 - s0) as f64, (e1 - e0) as f64);
    println!(
        "| {appenders} | {:.0} | {:.0} | {:.1} | {:.0} µs | {:.0} µs | {:.0} µs |",
        s / el,
        e / el,
        e / s,
        lat.mean().as_secs_f64() * 1e6,
        lat.q(0.5).as_secs_f64() * 1e6,
        lat.q(0.99).as_secs_f64() * 1e6,
    );
}

fn main() {
    let mut secs = 10;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--dir" => dir = args.next().map(PathBuf::from),
            _ => {} // cargo bench passes --bench
        }
    }
    let tmp = match &dir {
        Some(d) => tempfile::TempDir::new_in(d).unwrap(),
        None => tempfile::TempDir::new().unwrap(),
    };
    let dir = tmp.path();
    println!("directory: {}\n", dir.display());

    println!("| what ({ENTRY}-byte entries) | samples | mean | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|");
    raw_fdatasync(dir, 2000).row("plain file: write + fdatasync");
    rocks_sync(dir, 1, 2000).row("RocksTxnLog: append 1 + sync");
    rocks_sync(dir, 100, 2000).row("RocksTxnLog: append 100 + sync");
    rocks_sync(dir, 1000, 500).row("RocksTxnLog: append 1000 + sync");

    println!("\ngroup commit, {secs} s measured after 1 s warm-up:\n");
    println!("| appenders | syncs/s | entries/s | entries/sync | mean | p50 | p99 |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in [1, 8, 64] {
        group_commit(dir, n, secs);
    }
}
