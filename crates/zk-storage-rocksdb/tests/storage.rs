//! The RocksDB/file backend against the zk-storage conformance suite, and its own
//! behaviour: layout, locking, truncate/purge on disk, snapshot and epoch files.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tempfile::TempDir;
use zk_storage::conformance::{self, Backend, Stores};
use zk_storage::{EpochStore, SnapshotStore, StorageError, TxnLog};
use zk_storage_rocksdb::{
    FileEpochStore, FileSnapshotStore, OpenError, RocksTxnLog, Storage, LOG_DIR, VERSION_DIR,
};

/// Each `open` is a new pair of directories; `crash` drops the handles (no sync: staged
/// entries never reached RocksDB) and opens the same directories again.
struct Rocks {
    root: TempDir,
    n: usize,
    current: Option<(PathBuf, PathBuf)>,
}

impl Rocks {
    fn new() -> Self {
        Rocks {
            root: TempDir::new().unwrap(),
            n: 0,
            current: None,
        }
    }
}

impl Backend for Rocks {
    type Log = RocksTxnLog;
    type Snapshots = FileSnapshotStore;
    type Epochs = FileEpochStore;

    fn open(&mut self) -> Stores<Self> {
        self.n += 1;
        // Alternate between one directory and separate dataDir/dataLogDir.
        let data = self.root.path().join(format!("data{}", self.n));
        let log = if self.n.is_multiple_of(2) {
            data.clone()
        } else {
            self.root.path().join(format!("log{}", self.n))
        };
        let s = Storage::open(&data, &log).unwrap();
        self.current = Some((data, log));
        (s.log, s.snapshots, s.epochs)
    }

    fn crash(&mut self, stores: Stores<Self>) -> Stores<Self> {
        drop(stores);
        let (data, log) = self.current.clone().unwrap();
        let s = Storage::open(&data, &log).unwrap();
        (s.log, s.snapshots, s.epochs)
    }

    fn fail_next_sync(&mut self, log: &mut RocksTxnLog) {
        log.fail_next_sync();
    }
}

#[test]
fn rocks_backend_passes_the_conformance_suite() {
    conformance::run_all(&mut Rocks::new());
}

fn entry(z: i64) -> (i64, Bytes) {
    (z, Bytes::from(format!("txn-{z}-").repeat(8)))
}

fn zxids(log: &impl TxnLog) -> Vec<i64> {
    log.read_from(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.0)
        .collect()
}

#[test]
fn layout_is_as_documented() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("data");
    let log = root.path().join("nested/log");
    let mut s = Storage::open(&data, &log).unwrap();
    s.snapshots.save(0x1_0000_002a, Bytes::from("x")).unwrap();
    s.epochs.set_current_epoch(1).unwrap();
    s.epochs.set_accepted_epoch(1).unwrap();
    assert!(data.join("ferrokeeper.lock").is_file());
    assert!(log.join("ferrokeeper.lock").is_file());
    assert!(log.join(LOG_DIR).join("CURRENT").is_file());
    let v2 = data.join(VERSION_DIR);
    let mut names: Vec<String> = fs::read_dir(&v2)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["acceptedEpoch", "currentEpoch", "snapshot.10000002a"],
        "version-2 holds exactly ZooKeeper's file names"
    );
}

#[test]
fn a_second_open_of_the_same_directories_is_refused() {
    let root = TempDir::new().unwrap();
    let data = root.path().join("data");
    let first = Storage::open(&data, &data).unwrap();
    let err = Storage::open(&data, &data).unwrap_err();
    match &err {
        OpenError::Locked { path, holder } => {
            assert_eq!(path, &data.join("ferrokeeper.lock"));
            assert_eq!(holder, &format!("pid {}", std::process::id()));
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(
        err.to_string().contains(&data.display().to_string()),
        "the message names the path: {err}"
    );
    // A different dataDir sharing the dataLogDir is refused too.
    let err = Storage::open(root.path().join("other"), &data).unwrap_err();
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    drop(first);
    Storage::open(&data, &data).expect("the lock is released with the storage");
}

#[test]
fn an_unusable_directory_is_refused_naming_it() {
    let root = TempDir::new().unwrap();
    let file = root.path().join("not-a-dir");
    fs::write(&file, b"").unwrap();
    let err = Storage::open(&file, &file).unwrap_err();
    assert!(matches!(err, OpenError::Dir { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("not-a-dir"), "{msg}");
    assert!(msg.contains("not a directory"), "{msg}");

    let err = Storage::open(root.path().join("ok"), file.join("below-a-file")).unwrap_err();
    assert!(err.to_string().contains("below-a-file"), "{err}");
}

/// Bytes of RocksDB WAL files (`*.log`) in `dir`.
fn wal_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn the_wal_stays_bounded_while_the_log_grows() {
    // 96 MiB of entries (1 KiB each) in synced batches, as the log writer writes them:
    // the WAL files must be recycled as memtables flush, not kept since the first write
    // (the format key in the default column family once pinned them all).
    let root = TempDir::new().unwrap();
    let dir = root.path();
    let mut s = Storage::open(dir, dir).unwrap();
    let log_dir = dir.join(LOG_DIR);
    let body = Bytes::from(vec![7u8; 1024]);
    let mut most = 0;
    for batch in 0..96i64 {
        let entries: Vec<(i64, Bytes)> = (0..1024)
            .map(|i| (batch * 1024 + i + 1, body.clone()))
            .collect();
        s.log.append(&entries).unwrap();
        s.log.sync().unwrap();
        most = most.max(wal_bytes(&log_dir));
    }
    assert_eq!(s.log.last_zxid(), 96 * 1024);
    // Two 16 MiB memtables' worth, plus a file being rolled: far below the 96 MiB written.
    assert!(most <= 56 << 20, "{} MiB of WAL at the most", most >> 20);
}

#[test]
fn log_survives_reopen_with_bytes_intact_and_append_continues() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    {
        let mut s = Storage::open(dir, dir).unwrap();
        for chunk in (1..=3000).collect::<Vec<i64>>().chunks(100) {
            s.log
                .append(&chunk.iter().map(|z| entry(*z)).collect::<Vec<_>>())
                .unwrap();
            s.log.sync().unwrap();
        }
    }
    let mut s = Storage::open(dir, dir).unwrap();
    assert_eq!(s.log.last_zxid(), 3000);
    let all = s.log.read_from(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 3000);
    assert!(all.iter().zip(1..).all(|(e, z)| *e == entry(z)));
    assert!(
        s.log.append(&[entry(3000)]).is_err(),
        "last_zxid was recovered"
    );
    s.log.append(&[entry(3001)]).unwrap();
    s.log.sync().unwrap();
    assert_eq!(
        s.log.read_from(2999, 10).unwrap(),
        [entry(2999), entry(3000), entry(3001)]
    );
}

#[test]
fn purge_drops_whole_sst_files_and_survives_reopen() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    let sst_count = |dir: &Path| {
        fs::read_dir(dir.join(LOG_DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "sst")
            })
            .count()
    };
    {
        let mut s = Storage::open(dir, dir).unwrap();
        // The default column family's one file (the format key, flushed at creation).
        let base = sst_count(dir);
        s.log
            .append(&(1..=1000).map(entry).collect::<Vec<_>>())
            .unwrap();
        s.log.sync().unwrap();
        s.log.flush_memtables().unwrap();
        s.log.compact().unwrap(); // 1..=1000 in one file of level 1
        s.log
            .append(&(1001..=2000).map(entry).collect::<Vec<_>>())
            .unwrap();
        s.log.sync().unwrap();
        s.log.flush_memtables().unwrap(); // 1001..=2000 in one file of level 0
        assert_eq!(sst_count(dir), base + 2);
        s.log.purge_before(1500).unwrap();
        assert_eq!(
            sst_count(dir),
            base + 1,
            "the file wholly below the purge point is deleted at once"
        );
        assert_eq!(s.log.read_from(0, 1).unwrap(), [entry(1500)]);
        assert_eq!(s.log.last_zxid(), 2000);
    }
    let s = Storage::open(dir, dir).unwrap();
    let z = zxids(&s.log);
    assert_eq!(z, (1500..=2000).collect::<Vec<_>>(), "the purge is durable");
}

#[test]
fn truncate_removes_synced_and_staged_entries_durably() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    {
        let mut s = Storage::open(dir, dir).unwrap();
        s.log
            .append(&(1..=50).map(entry).collect::<Vec<_>>())
            .unwrap();
        s.log.sync().unwrap();
        s.log.flush_memtables().unwrap();
        s.log
            .append(&(51..=80).map(entry).collect::<Vec<_>>())
            .unwrap();
        s.log.sync().unwrap();
        s.log
            .append(&(81..=90).map(entry).collect::<Vec<_>>())
            .unwrap();
        s.log.truncate_after(40).unwrap();
        assert_eq!(s.log.last_zxid(), 40);
        // A new leader's history replaces the truncated one.
        s.log.append(&[(41, Bytes::from("new-41"))]).unwrap();
        s.log.sync().unwrap();
    }
    let s = Storage::open(dir, dir).unwrap();
    let all = s.log.read_from(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 41);
    assert_eq!(all[39], entry(40));
    assert_eq!(all[40], (41, Bytes::from("new-41")));
}

#[test]
fn a_reader_sees_only_synced_entries() {
    let root = TempDir::new().unwrap();
    let mut s = Storage::open(root.path(), root.path()).unwrap();
    let reader = s.log.reader();
    s.log.append(&[entry(1), entry(2)]).unwrap();
    assert!(reader.read_from(0, 10).unwrap().is_empty());
    assert_eq!(reader.last_synced().unwrap(), 0);
    s.log.sync().unwrap();
    let r = reader.clone();
    let seen = std::thread::spawn(move || r.read_from(0, 10).unwrap())
        .join()
        .unwrap();
    assert_eq!(seen, [entry(1), entry(2)]);
    assert_eq!(reader.last_synced().unwrap(), 2);
}

#[test]
fn snapshot_files_hold_exactly_the_bytes_under_zookeeper_names() {
    let root = TempDir::new().unwrap();
    let mut s = Storage::open(root.path(), root.path()).unwrap();
    let data = Bytes::from_static(b"ZKSN\0\0\0\x02 opaque");
    s.snapshots.save(0x2_0000_0001, data.clone()).unwrap();
    let path = root.path().join("version-2/snapshot.200000001");
    assert_eq!(fs::read(&path).unwrap(), data, "no header, no footer");
    assert_eq!(s.snapshots.path_of(0x2_0000_0001), path);
    assert_eq!(s.snapshots.load(0x2_0000_0001).unwrap(), data);
}

#[test]
fn leftover_temp_files_are_ignored_and_removed_at_open() {
    let root = TempDir::new().unwrap();
    let v2 = root.path().join(VERSION_DIR);
    {
        let mut s = Storage::open(root.path(), root.path()).unwrap();
        s.snapshots.save(0x10, Bytes::from("complete")).unwrap();
        // A snapshot interrupted mid-write: the writer's temp file, never committed.
        let mut w = s.snapshots.writer(0x20).unwrap();
        w.write_all(b"partial").unwrap();
        w.flush().unwrap();
        let tmp: Vec<_> = fs::read_dir(&v2)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert_eq!(tmp.len(), 1, "the writer works under a temp name: {tmp:?}");
        assert!(!tmp[0].starts_with("snapshot."), "ZooKeeper would parse it");
        assert_eq!(
            s.snapshots.list().unwrap(),
            [0x10],
            "a temp file is not a snapshot"
        );
        assert_eq!(
            s.snapshots.latest().unwrap(),
            Some((0x10, Bytes::from("complete")))
        );
        // The crash: the writer's process dies; its temp file stays behind.
        drop(w);
        fs::write(v2.join(&tmp[0]), b"partial").unwrap();
        // Files that are not exactly ZooKeeper's uncompressed names are ignored too.
        fs::write(v2.join("snapshot.30.snappy"), b"x").unwrap();
        fs::write(v2.join("snapshot.040"), b"x").unwrap();
        fs::write(v2.join("snapshot.zz"), b"x").unwrap();
        assert_eq!(s.snapshots.list().unwrap(), [0x10]);
    }
    let s = Storage::open(root.path(), root.path()).unwrap();
    assert_eq!(s.snapshots.list().unwrap(), [0x10]);
    assert!(
        !fs::read_dir(&v2).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")),
        "open removed the temp file"
    );
}

#[test]
fn a_dropped_writer_leaves_nothing_and_a_committed_one_streams() {
    let root = TempDir::new().unwrap();
    let s = Storage::open(root.path(), root.path()).unwrap();
    let mut w = s.snapshots.writer(5).unwrap();
    w.write_all(b"abandoned").unwrap();
    drop(w);
    assert!(s.snapshots.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(s.snapshots.dir()).unwrap().count(),
        0,
        "no temp file left"
    );

    // 20 MiB through a reader, never held whole by the store.
    let chunk: Vec<u8> = (0..=255u8).collect();
    let big = std::iter::repeat_n(chunk.as_slice(), 20 * 4096)
        .flatten()
        .copied()
        .collect::<Vec<u8>>();
    let n = s
        .snapshots
        .save_from_reader(7, &mut std::io::Cursor::new(&big))
        .unwrap();
    assert_eq!(n, big.len() as u64);
    let mut f = s.snapshots.open_snapshot(7).unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert!(back == big, "streamed snapshot reads back identical");
}

#[test]
fn latest_valid_falls_back_to_an_older_snapshot() {
    let root = TempDir::new().unwrap();
    let mut s = Storage::open(root.path(), root.path()).unwrap();
    s.snapshots.save(1, Bytes::from("good-1")).unwrap();
    s.snapshots.save(2, Bytes::from("good-2")).unwrap();
    s.snapshots.save(3, Bytes::from("torn")).unwrap();
    let valid = |b: &[u8]| b.starts_with(b"good");
    assert_eq!(
        s.snapshots.latest_valid(valid).unwrap(),
        Some((2, Bytes::from("good-2")))
    );
    assert_eq!(s.snapshots.latest_valid(|_| false).unwrap(), None);
}

#[test]
fn epoch_files_are_ascii_decimal_like_zookeepers() {
    let root = TempDir::new().unwrap();
    let v2 = root.path().join(VERSION_DIR);
    {
        let mut s = Storage::open(root.path(), root.path()).unwrap();
        s.epochs.set_accepted_epoch(12).unwrap();
        s.epochs.set_current_epoch(11).unwrap();
    }
    assert_eq!(fs::read(v2.join("currentEpoch")).unwrap(), b"11");
    assert_eq!(fs::read(v2.join("acceptedEpoch")).unwrap(), b"12");
    // As ZooKeeper might leave them, with a newline, plus a leftover temp file.
    fs::write(v2.join("currentEpoch"), b"13\n").unwrap();
    fs::write(v2.join("acceptedEpoch.tmp"), b"99").unwrap();
    {
        let s = Storage::open(root.path(), root.path()).unwrap();
        assert_eq!(s.epochs.epochs().unwrap(), (13, 12));
        assert!(!v2.join("acceptedEpoch.tmp").exists());
    }
    fs::write(v2.join("acceptedEpoch"), b"twelve").unwrap();
    let err = Storage::open(root.path(), root.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("acceptedEpoch") && msg.contains("twelve"),
        "{msg}"
    );
    match err {
        OpenError::Store {
            source: StorageError::Corrupt { .. },
            ..
        } => {}
        other => panic!("expected a corrupt epoch file, got {other:?}"),
    }
}
