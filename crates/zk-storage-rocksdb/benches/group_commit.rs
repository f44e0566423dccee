//! How fast the RocksDB txn log makes things durable on this disk.
//!
//! ```text
//! cargo bench -p zk-storage-rocksdb --bench group_commit -- [--secs 10] [--dir PATH]
//!     [--only micro|group] [--syncs N]
//! ```
//!
//! 1. Baseline: append 100 bytes to a plain file + `fdatasync`.
//! 2. One `RocksTxnLog` sync of 1, 100 and 1000 entries of 100 bytes each (1 and 2 are
//!    interleaved round by round, so that they see the same disk).
//! 3. Group commit: N appender threads in a closed loop (send one 100-byte txn, wait until
//!    it is durable, repeat) feeding one writer thread that runs the server's loop: take
//!    the first batch, drain everything else that arrived, append all, sync once.
//!    "append+sync" is the writer's mean time per group commit, "log busy" the share of
//!    the wall time it spent there (near 100%: the disk is the limit), latency is from
//!    an appender's send to its txn being durable.

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

/// One kind of sync measured by the micro-benchmark.
trait Syncer {
    fn once(&mut self);
}

/// 100 bytes appended to a plain file, then `fdatasync`.
struct Raw(std::fs::File);

impl Syncer for Raw {
    fn once(&mut self) {
        self.0.write_all(&[0x5a; ENTRY]).unwrap();
        self.0.sync_data().unwrap();
    }
}

/// `per_sync` entries appended to a `RocksTxnLog`, then one sync.
struct Rocks {
    log: RocksTxnLog,
    per_sync: usize,
    z: i64,
}

impl Syncer for Rocks {
    fn once(&mut self) {
        let batch: Vec<_> = (0..self.per_sync)
            .map(|_| {
                self.z += 1;
                (self.z, payload())
            })
            .collect();
        self.log.append(&batch).unwrap();
        self.log.sync().unwrap();
    }
}

/// Runs the syncers in turn, `n` rounds, so that all of them see the same disk (on a
/// shared machine its fsync latency moves by an order of magnitude from second to second).
fn micro(dir: &std::path::Path, n: usize) {
    let rocks = |per_sync| Rocks {
        log: RocksTxnLog::open(dir.join(format!("rocks-{per_sync}"))).unwrap(),
        per_sync,
        z: 0,
    };
    let mut syncers: Vec<(&str, Box<dyn Syncer>, Vec<Duration>)> = vec![
        (
            "plain file: write + fdatasync",
            Box::new(Raw(std::fs::File::create(dir.join("raw")).unwrap())),
            vec![],
        ),
        ("RocksTxnLog: append 1 + sync", Box::new(rocks(1)), vec![]),
        (
            "RocksTxnLog: append 100 + sync",
            Box::new(rocks(100)),
            vec![],
        ),
        (
            "RocksTxnLog: append 1000 + sync",
            Box::new(rocks(1000)),
            vec![],
        ),
    ];
    for _ in 0..n {
        for (_, s, lat) in &mut syncers {
            let t = Instant::now();
            s.once();
            lat.push(t.elapsed());
        }
    }
    for (what, _, lat) in syncers {
        Lat::sorted(lat).row(what);
    }
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
    busy_ns: Arc<AtomicU64>,
) {
    while let Ok(mut batch) = rx.recv() {
        while let Ok(more) = rx.try_recv() {
            batch.extend(more);
        }
        let Some(last) = batch.last().map(|e| e.0) else {
            continue;
        };
        let t = Instant::now();
        log.append(&batch).unwrap();
        log.sync().unwrap();
        busy_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
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
    let busy = Arc::new(AtomicU64::new(0));
    let w = {
        let (d, s, e, b) = (
            durable.clone(),
            syncs.clone(),
            entries.clone(),
            busy.clone(),
        );
        std::thread::spawn(move || writer(log, rx, d, s, e, b))
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
    let (s0, e0, b0) = (
        syncs.load(Ordering::Relaxed),
        entries.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
    );
    measuring.store(true, Ordering::Relaxed);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    measuring.store(false, Ordering::Relaxed);
    let el = t.elapsed().as_secs_f64();
    let (s1, e1, b1) = (
        syncs.load(Ordering::Relaxed),
        entries.load(Ordering::Relaxed),
        busy.load(Ordering::Relaxed),
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
        "| {appenders} | {:.0} | {:.0} | {:.1} | {:.0} µs | {:.0}% | {:.0} µs | {:.0} µs | {:.0} µs |",
        s / el,
        e / el,
        e / s,
        (b1 - b0) as f64 / 1e3 / s,
        (b1 - b0) as f64 / 1e9 / el * 100.0,
        lat.mean().as_secs_f64() * 1e6,
        lat.q(0.5).as_secs_f64() * 1e6,
        lat.q(0.99).as_secs_f64() * 1e6,
    );
}

fn main() {
    let mut secs = 10;
    let mut dir: Option<PathBuf> = None;
    let mut only = String::new();
    let mut n = 2000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--secs" => secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(secs),
            "--dir" => dir = args.next().map(PathBuf::from),
            "--only" => only = args.next().unwrap_or_default(),
            "--syncs" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            _ => {} // cargo bench passes --bench
        }
    }
    let tmp = match &dir {
        Some(d) => tempfile::TempDir::new_in(d).unwrap(),
        None => tempfile::TempDir::new().unwrap(),
    };
    let dir = tmp.path();
    println!("directory: {}\n", dir.display());

    if only != "group" {
        println!("| what ({ENTRY}-byte entries) | samples | mean | p50 | p99 |");
        println!("|---|---:|---:|---:|---:|");
        micro(dir, n);
    }
    if only == "micro" {
        return;
    }

    println!("\ngroup commit, {secs} s measured after 1 s warm-up:\n");
    println!(
        "| appenders | syncs/s | entries/s | entries/sync | append+sync | log busy | latency mean | p50 | p99 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in [1, 8, 64] {
        group_commit(dir, n, secs);
    }
}
