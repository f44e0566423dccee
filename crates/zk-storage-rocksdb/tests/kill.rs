//! A writer process is SIGKILLed mid-stream; every entry it reported synced must be there
//! when the storage is opened again, and nothing else may be torn.
//!
//! The child is this test executable, run with `--exact child_writer` and the directory
//! in an environment variable; without it, `child_writer` does nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use bytes::Bytes;
use tempfile::TempDir;
use zk_storage::TxnLog;
use zk_storage_rocksdb::Storage;

const CHILD_DIR: &str = "FERROKEEPER_KILL_TEST_DIR";

fn payload(z: i64) -> Bytes {
    Bytes::from(format!("txn-{z:08}-").repeat(6))
}

/// The child: appends batches of growing size and syncs each, then reports the last
/// synced zxid on stdout, forever.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let mut s = Storage::open(&dir, &dir).unwrap();
    let mut out = std::io::stdout().lock();
    let mut z = s.log.last_zxid();
    for round in 0u64.. {
        let n = 1 + (round % 50) as i64;
        let batch: Vec<(i64, Bytes)> = (z + 1..=z + n).map(|z| (z, payload(z))).collect();
        z += n;
        s.log.append(&batch).unwrap();
        s.log.sync().unwrap();
        writeln!(out, "SYNCED {z}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn every_synced_entry_survives_sigkill() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    let exe = std::env::current_exe().unwrap();
    let mut reported = 0i64;
    for (round, kill_after) in [300usize, 17, 1000, 1].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let Some(z) = line.strip_prefix("SYNCED ") else {
                continue;
            };
            reported = z.parse().unwrap();
            seen += 1;
            if seen == kill_after {
                break;
            }
        }
        assert_eq!(
            seen, kill_after,
            "round {round}: the child ran and reported"
        );
        // std's kill is SIGKILL: no destructor, no RocksDB close, while the child is most
        // likely between an append and the end of a sync.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child was killed");

        let s = Storage::open(dir, dir).expect("reopen after SIGKILL");
        let all = s.log.read_from(0, usize::MAX).unwrap();
        let last = s.log.last_zxid();
        assert!(
            last >= reported,
            "round {round}: synced up to {reported}, found only up to {last}"
        );
        assert_eq!(
            all.len() as i64,
            last,
            "round {round}: no gap, no extra entry"
        );
        for (i, (z, b)) in all.iter().enumerate() {
            assert_eq!(*z, i as i64 + 1, "round {round}: zxids are contiguous");
            assert_eq!(*b, payload(*z), "round {round}: entry {z} is intact");
        }
        eprintln!("round {round}: reported {reported}, recovered {last}");
    }
}
