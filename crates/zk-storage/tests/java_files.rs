//! Apache ZooKeeper's files without a JVM: txn logs (layout, preallocation, torn tails,
//! corruption), snapshot files in every compression, and restore's choices. The same files
//! are checked against the real server in `java_formats.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use zk_proto::txn::{
    CloseSessionTxn, CreateSessionTxn, CreateTxn, SetDataTxn, TxnDigest, TxnHeader,
};
use zk_proto::txn_body::{LogEntry, TxnBody};
use zk_proto::Record;
use zk_storage::java::names::Compression;
use zk_storage::java::restore::restore;
use zk_storage::java::snapfile::{
    is_valid_snapshot, list_snapshots, read_snapshot_file, write_snapshot_file, SnapshotFile,
};
use zk_storage::java::txnlog::{
    list_logs, padded_size, read_log_file, LogEnd, LogReader, LogWriteOptions, LogWriter, LOG_MAGIC,
};
use zk_storage::java::JavaFormatError;
use zk_tree::digest::tree_digest;
use zk_tree::snapshot::{ReadOptions, WriteOptions};
use zk_tree::DataTree;

fn header(zxid: i64, session: i64) -> TxnHeader {
    TxnHeader {
        client_id: session,
        cxid: zxid as i32,
        zxid,
        time: 1_700_000_000_000 + zxid,
        type_: 0,
    }
}

fn create(zxid: i64, path: &str, data: &[u8]) -> LogEntry {
    LogEntry::new(
        header(zxid, 0x42),
        TxnBody::Create {
            create2: false,
            txn: CreateTxn {
                path: Some(path.into()),
                data: Some(Bytes::copy_from_slice(data)),
                acl: Some(zk_tree::acl::open_acl_unsafe()),
                ephemeral: false,
                parent_c_version: -1,
            },
        },
        Some(TxnDigest {
            version: 2,
            tree_digest: zxid * 1000,
        }),
    )
}

fn write_log(dir: &Path, entries: &[LogEntry], prealloc: u64) -> std::path::PathBuf {
    let mut w =
        LogWriter::create(dir, entries[0].header.zxid, &LogWriteOptions { prealloc }).unwrap();
    for e in entries {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    w.path().to_path_buf()
}

#[test]
fn log_layout_is_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<LogEntry> = (1..=3)
        .map(|z| create(z, &format!("/n{z}"), b"data"))
        .collect();
    let path = write_log(dir.path(), &entries, 64 * 1024 * 1024);
    assert_eq!(path.file_name().unwrap(), "log.1");
    let bytes = std::fs::read(&path).unwrap();
    // Preallocated: 16 header bytes + one 64 MiB step, as FilePadding leaves it.
    assert_eq!(bytes.len(), 16 + 64 * 1024 * 1024);
    assert_eq!(&bytes[..16], b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0");
    // First entry: Adler32 as i64, length, payload, 'B'.
    let payload = entries[0].to_bytes();
    let mut adler = adler2::Adler32::new();
    adler.write_slice(&payload);
    assert_eq!(&bytes[16..24], &i64::from(adler.checksum()).to_be_bytes());
    assert_eq!(&bytes[24..28], &(payload.len() as i32).to_be_bytes());
    assert_eq!(&bytes[28..28 + payload.len()], &payload[..]);
    assert_eq!(bytes[28 + payload.len()], b'B');
    let (back, end) = read_log_file(&path).unwrap();
    assert_eq!(
        back.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
        entries
    );
    assert_eq!(back[0].0, 16);
    let used: u64 = 16
        + entries
            .iter()
            .map(|e| 13 + e.encoded_len() as u64)
            .sum::<u64>();
    assert_eq!(end, LogEnd::Zeros { offset: used });
    assert!(bytes[used as usize..].iter().all(|&b| b == 0));
    // Without preallocation the file ends exactly after the last entry.
    let dir = tempfile::tempdir().unwrap();
    let path = write_log(dir.path(), &entries, 0);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), used);
    assert_eq!(
        read_log_file(&path).unwrap().1,
        LogEnd::EndOfFile { offset: used }
    );
}

#[test]
fn preallocation_grows_in_steps_as_file_padding() {
    // FilePadding.calculateFileSizeWithPadding, case by case.
    assert_eq!(padded_size(16, 16, 8192), 16 + 8192);
    assert_eq!(padded_size(100, 8208, 8192), 8208); // far from the end: unchanged
    assert_eq!(padded_size(4112, 8208, 8192), 8208 + 8192); // within 4 KiB of it
    assert_eq!(padded_size(20_000, 8208, 8192), 24_576); // beyond it: next multiple
    assert_eq!(padded_size(100, 16, 0), 16); // preallocation off
    let dir = tempfile::tempdir().unwrap();
    let mut w = LogWriter::create(dir.path(), 1, &LogWriteOptions { prealloc: 8192 }).unwrap();
    let mut sizes = Vec::new();
    for z in 1..=200 {
        w.append(&create(z, &format!("/node-{z:05}"), &[7; 100]))
            .unwrap();
        w.flush().unwrap();
        sizes.push(std::fs::metadata(w.path()).unwrap().len());
    }
    // A big entry jumps past the preallocated end.
    w.append(&create(201, "/big", &vec![1; 50_000])).unwrap();
    w.sync().unwrap();
    let last = std::fs::metadata(w.path()).unwrap().len();
    assert!(sizes.iter().all(|s| (s - 16) % 8192 == 0), "{sizes:?}");
    assert!(sizes.windows(2).all(|p| p[0] <= p[1]));
    assert!(last >= w.position());
    let (entries, end) = read_log_file(w.path()).unwrap();
    assert_eq!(entries.len(), 201);
    assert_eq!(end.offset(), w.position());
}

#[test]
fn appends_must_go_forward() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = LogWriter::create(dir.path(), 5, &LogWriteOptions::default()).unwrap();
    w.append(&create(5, "/a", b"")).unwrap();
    let err = w.append(&create(5, "/b", b"")).unwrap_err();
    assert!(matches!(err, JavaFormatError::Invalid(_)), "{err}");
    // An existing file is never overwritten.
    assert!(LogWriter::create(dir.path(), 5, &LogWriteOptions::default()).is_err());
}

/// Writes 3 entries without preallocation, then damages the file with `f`.
fn damaged(f: impl FnOnce(&mut Vec<u8>, &[u64])) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<LogEntry> = (1..=3).map(|z| create(z, "/x", b"payload")).collect();
    let path = write_log(dir.path(), &entries, 0);
    let mut offsets = vec![16u64];
    for e in &entries {
        offsets.push(offsets.last().unwrap() + 13 + e.encoded_len() as u64);
    }
    let mut bytes = std::fs::read(&path).unwrap();
    f(&mut bytes, &offsets);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn torn_tails_end_the_file_where_the_entry_starts() {
    // Cut anywhere inside the last entry.
    for cut_into in [1u64, 7, 8, 11, 12, 20, 40] {
        let (_d, path) = damaged(|b, off| b.truncate((off[2] + cut_into) as usize));
        let (entries, end) = read_log_file(&path).unwrap();
        assert_eq!(entries.len(), 2, "cut {cut_into}");
        match end {
            LogEnd::Torn { offset, reason } => {
                assert_eq!(offset, 16 + 2 * (entries[0].1.encoded_len() as u64 + 13));
                assert!(!reason.is_empty());
            }
            other => panic!("cut {cut_into}: expected a torn tail, got {other}"),
        }
    }
    // Complete but without its 'B' (a partial write in a preallocated file).
    let (_d, path) = damaged(|b, _| {
        let last = b.len() - 1;
        b[last] = 0;
    });
    let (entries, end) = read_log_file(&path).unwrap();
    assert_eq!(entries.len(), 2);
    assert!(
        matches!(&end, LogEnd::Torn { reason, .. } if reason.contains("'B'")),
        "{end}"
    );
    // Zeros right after the second entry: the end of the entries, not damage.
    let (_d, path) = damaged(|b, off| {
        for x in &mut b[off[2] as usize..] {
            *x = 0;
        }
    });
    let (entries, end) = read_log_file(&path).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        end,
        LogEnd::Zeros {
            offset: 16 + 2 * (entries[0].1.encoded_len() as u64 + 13)
        }
    );
}

#[test]
fn corruption_is_an_error_naming_file_and_offset() {
    // A flipped payload byte: checksum mismatch at the entry's offset.
    let (_d, path) = damaged(|b, off| b[(off[1] + 20) as usize] ^= 1);
    let mut r = LogReader::open(&path).unwrap();
    assert!(r.next_raw().unwrap().is_some());
    let err = r.next_raw().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("log.1") && msg.contains("checksum mismatch"),
        "{msg}"
    );
    match err {
        JavaFormatError::Corrupt { offset, .. } => {
            assert_eq!(
                offset,
                16 + 13 + create(1, "/x", b"payload").encoded_len() as u64
            )
        }
        other => panic!("{other}"),
    }
    // An absurd length.
    let (_d, path) = damaged(|b, off| {
        let at = (off[1] + 8) as usize;
        b[at..at + 4].copy_from_slice(&0x7000_0000i32.to_be_bytes());
    });
    let err = read_log_file(&path).unwrap_err().to_string();
    assert!(err.contains("unreasonable entry length"), "{err}");
    // A bad magic.
    let (_d, path) = damaged(|b, _| b[0] = b'X');
    let err = LogReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("magic") && err.contains("offset 0"), "{err}");
    assert_eq!(LOG_MAGIC, i32::from_be_bytes(*b"ZKLG"));
    // A payload that is not a txn (valid checksum, unknown type).
    let dir = tempfile::tempdir().unwrap();
    let mut w = LogWriter::create(dir.path(), 1, &LogWriteOptions { prealloc: 0 }).unwrap();
    let mut bad = header(1, 0).to_bytes().to_vec();
    bad[20..24].copy_from_slice(&999i32.to_be_bytes());
    w.append_payload(1, &bad).unwrap();
    w.sync().unwrap();
    let err = read_log_file(w.path()).unwrap_err().to_string();
    assert!(
        err.contains("not a txn") && err.contains("offset 28"),
        "{err}"
    );
}

fn small_tree(zxid: i64) -> DataTree {
    let mut t = DataTree::new();
    let mut out = Vec::new();
    // Incompressible data: a damaged byte in a gzip or snappy stream then always changes the
    // decompressed bytes (with runs of one byte, a damaged back-reference distance can decode
    // to the very same output, which no checksum can notice).
    let mut x: u32 = 0x2545_f491;
    for i in 0..20 {
        let data: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        t.create_node(
            format!("/n{i}").as_bytes(),
            Some(Bytes::from(data)),
            &zk_tree::acl::open_acl_unsafe(),
            if i == 3 { 0x42 } else { 0 },
            -1,
            i + 1,
            i,
            &mut out,
        )
        .unwrap();
    }
    t.last_processed_zxid = zxid;
    t
}

#[test]
fn snapshot_files_in_every_compression() {
    let dir = tempfile::tempdir().unwrap();
    let tree = small_tree(0x20);
    let sessions = BTreeMap::from([(0x42, 30_000)]);
    for (i, c) in [Compression::Plain, Compression::Gzip, Compression::Snappy]
        .into_iter()
        .enumerate()
    {
        let mut t = tree.clone();
        t.last_processed_zxid += i as i64;
        let (file, summary) = write_snapshot_file(
            dir.path(),
            &t,
            sessions.clone(),
            c,
            &WriteOptions::default(),
        )
        .unwrap();
        assert_eq!(
            file.path.file_name().unwrap().to_str().unwrap(),
            format!("snapshot.{:x}{}", t.last_processed_zxid, c.extension())
        );
        assert!(is_valid_snapshot(&file).unwrap());
        let loaded = read_snapshot_file(&file, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.sessions, sessions);
        assert_eq!(loaded.digest, summary.digest);
        assert_eq!(tree_digest(&loaded.tree), tree_digest(&tree));
        assert_eq!(loaded.tree.ephemerals_of(0x42).len(), 1);
    }
    // Newest first, no temporary files left.
    let listed = list_snapshots(dir.path()).unwrap();
    let kinds: Vec<_> = listed.iter().map(|f| (f.zxid, f.compression)).collect();
    assert_eq!(
        kinds,
        vec![
            (0x22, Compression::Snappy),
            (0x21, Compression::Gzip),
            (0x20, Compression::Plain)
        ]
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[test]
fn damaged_snapshot_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let tree = small_tree(0x20);
    for c in [Compression::Plain, Compression::Gzip, Compression::Snappy] {
        let (file, _) =
            write_snapshot_file(dir.path(), &tree, Vec::new(), c, &WriteOptions::default())
                .unwrap();
        let mut bytes = std::fs::read(&file.path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&file.path, &bytes).unwrap();
        let err = read_snapshot_file(&file, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(file.path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(err.contains("offset"), "{err}");
        std::fs::remove_file(&file.path).unwrap();
    }
    // A plain file cut short fails the quick validity check.
    let (file, _) = write_snapshot_file(
        dir.path(),
        &tree,
        Vec::new(),
        Compression::Plain,
        &WriteOptions::default(),
    )
    .unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&file.path)
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 3).unwrap();
    assert!(!is_valid_snapshot(&file).unwrap());
    let short = SnapshotFile::from_path(&file.path).unwrap();
    assert!(read_snapshot_file(&short, &ReadOptions::default()).is_err());
}

#[test]
fn restore_uses_the_newest_good_snapshot_and_replays_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Empty directory: a fresh tree.
    let r = restore(d, d, &ReadOptions::default()).unwrap();
    assert_eq!((r.last_zxid, r.tree.node_count()), (0, 4));

    let base = small_tree(20);
    write_snapshot_file(
        d,
        &base,
        [(0x42, 30_000)],
        Compression::Plain,
        &WriteOptions::default(),
    )
    .unwrap();
    // The log starts before the snapshot (fuzzy snapshots overlap their log).
    let mut tree = base.clone();
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut push = |tree: &mut DataTree, header: TxnHeader, body: TxnBody| {
        let mut e = LogEntry::new(header, body, None);
        if e.header.zxid > 20 {
            tree.apply(&e.header, &e.body, &mut notes);
        }
        e.digest = Some(TxnDigest {
            version: 2,
            tree_digest: tree_digest(tree),
        });
        entries.push(e);
    };
    push(
        &mut tree,
        header(19, 0x42),
        TxnBody::SetData(SetDataTxn {
            path: Some("/n1".into()),
            data: None,
            version: 1,
        }),
    );
    push(
        &mut tree,
        header(21, 0x77),
        TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }),
    );
    push(
        &mut tree,
        header(22, 0x77),
        TxnBody::Create {
            create2: false,
            txn: CreateTxn {
                path: Some("/n1/eph".into()),
                data: None,
                acl: Some(zk_tree::acl::open_acl_unsafe()),
                ephemeral: true,
                parent_c_version: -1,
            },
        },
    );
    push(
        &mut tree,
        header(23, 0x42),
        TxnBody::CloseSession(Some(CloseSessionTxn {
            paths2_delete: Some(vec!["/n3".into()]),
        })),
    );
    write_log(d, &entries, 4096);
    // A newer snapshot that is damaged: skipped, with the reason.
    let (bad, _) = write_snapshot_file(
        d,
        &small_tree(22),
        Vec::new(),
        Compression::Gzip,
        &WriteOptions::default(),
    )
    .unwrap();
    std::fs::write(&bad.path, b"\x1f\x8bnot really gzip").unwrap();

    let r = restore(d, d, &ReadOptions::default()).unwrap();
    assert_eq!(r.snapshot.as_ref().unwrap().file.zxid, 20);
    assert_eq!(r.skipped_snapshots.len(), 1);
    assert_eq!(r.skipped_snapshots[0].0, bad.path);
    assert_eq!(r.last_zxid, 23);
    assert_eq!(r.sessions, BTreeMap::from([(0x77, 4000)]));
    assert!(r.tree.node(b"/n1/eph").is_some());
    assert!(
        r.tree.node(b"/n3").is_none(),
        "the closed session's ephemeral is gone"
    );
    assert_eq!(
        r.tree.node(b"/n1").unwrap().stat.version,
        0,
        "zxid 19 is in the snapshot"
    );
    let check = r.digest_check.unwrap();
    assert_eq!((check.zxid, check.matches()), (23, true));
    assert_eq!(r.logs.len(), 1);
    assert_eq!((r.logs[0].entries, r.logs[0].applied), (4, 3));
    assert!(matches!(r.logs[0].end, LogEnd::Zeros { .. }));

    // Logs without any usable snapshot: refused, as upstream refuses.
    for s in list_snapshots(d).unwrap() {
        std::fs::remove_file(s.path).unwrap();
    }
    let err = restore(d, d, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no usable snapshot"), "{err}");
    assert_eq!(list_logs(d).unwrap().len(), 1);
}

/// Records what a restore reports.
#[derive(Default)]
struct Recorder {
    totals: std::sync::Mutex<Vec<u64>>,
    done: AtomicU64,
    calls: AtomicU64,
}

impl zk_storage::progress::Progress for Recorder {
    fn set_total(&self, total: u64) {
        self.totals.lock().unwrap().push(total);
        self.done.store(0, Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Relaxed);
        self.calls.fetch_add(1, Relaxed);
    }
}

#[test]
fn restore_reports_progress_over_the_snapshot_and_log_bytes() {
    use zk_storage::java::restore::restore_with_progress;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for compression in [Compression::Gzip, Compression::Plain] {
        let _ = std::fs::remove_dir_all(d.join("v"));
        let v = d.join("v");
        std::fs::create_dir_all(&v).unwrap();
        let (snap, _) = write_snapshot_file(
            &v,
            &small_tree(20),
            [(0x42, 30_000)],
            compression,
            &WriteOptions::default(),
        )
        .unwrap();
        // Two logs after the snapshot, ~3 MiB of entries in the second, preallocated.
        let first = write_log(&v, &[create(21, "/a", b"a")], 64 * 1024);
        let big: Vec<LogEntry> = (0..30)
            .map(|i| create(22 + i, &format!("/big{i}"), &vec![i as u8; 100_000]))
            .collect();
        let second = write_log(&v, &big, 4 * 1024 * 1024);
        let len = |p: &Path| std::fs::metadata(p).unwrap().len();
        let used = |p: &Path| read_log_file(p).unwrap().1.offset();
        assert!(len(&second) >= 4 * 1024 * 1024, "preallocated");
        // The preallocated (sparse) tails are not counted: about the entries' bytes are.
        let least = len(&snap.path) + used(&first) + used(&second);
        let most = least + 2 * 8192;

        let rec = Recorder::default();
        let r = restore_with_progress(&v, &v, &ReadOptions::default(), &rec).unwrap();
        assert_eq!(r.last_zxid, 51, "{compression:?}");
        let totals = rec.totals.lock().unwrap().clone();
        assert_eq!(totals.len(), 1, "{totals:?}");
        // (A filesystem without sparse files allocates the zeros: then they count.)
        let dense = len(&snap.path) + len(&first) + len(&second);
        assert!(
            (least..=most).contains(&totals[0]) || totals[0] == dense,
            "{compression:?}: total {} not in {least}..={most}",
            totals[0]
        );
        assert_eq!(
            rec.done.load(Relaxed),
            totals[0],
            "every byte reported once"
        );
        // Per buffer and per MiB of log, not per entry: the 31 entries give fewer reports.
        let calls = rec.calls.load(Relaxed);
        assert!((4..20).contains(&calls), "{calls} reports");
    }
}
