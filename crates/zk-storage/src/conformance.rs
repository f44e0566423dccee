//! The behaviour every storage backend must show. A backend's tests implement [`Backend`]
//! (how to open a fresh store, how to crash and reopen it, how to make a sync fail) and call
//! [`run_all`]. Each check panics with a message naming the contract clause it broke.
//!
//! "Crash" means: the process holding the stores dies without syncing, and a new process
//! opens the same storage. An in-memory backend simulates it on shared state; a disk
//! backend drops its handles without syncing and opens the files again.

use std::io::Read as _;

use bytes::Bytes;

use crate::{EpochStore, SnapshotStore, StorageError, TxnLog};

/// The three stores of one storage, as a backend opens them.
pub type Stores<B> = (
    <B as Backend>::Log,
    <B as Backend>::Snapshots,
    <B as Backend>::Epochs,
);

/// A storage backend under test.
pub trait Backend {
    /// Its txn log.
    type Log: TxnLog;
    /// Its snapshot store.
    type Snapshots: SnapshotStore;
    /// Its epoch store.
    type Epochs: EpochStore;
    /// A fresh, empty storage (a new directory for a disk backend).
    fn open(&mut self) -> Stores<Self>;
    /// Kills the process holding `stores` without a sync and opens the same storage
    /// again, as a restarted process would.
    fn crash(&mut self, stores: Stores<Self>) -> Stores<Self>;
    /// Makes the next `sync` of `log` fail, as a full or broken disk would.
    fn fail_next_sync(&mut self, log: &mut Self::Log);
}

fn entry(z: i64) -> (i64, Bytes) {
    (z, Bytes::from(format!("txn-{z}")))
}

fn zxids(log: &impl TxnLog) -> Vec<i64> {
    log.read_from(0, usize::MAX)
        .expect("read")
        .iter()
        .map(|e| e.0)
        .collect()
}

/// Runs every check, each on a fresh storage from `b`.
pub fn run_all(b: &mut impl Backend) {
    append_and_read(b.open().0);
    synced_entries_survive_a_crash(b);
    truncate_and_purge(b.open().0);
    truncate_is_durable(b);
    purge_keeps_the_last_entry(b);
    snapshots(b.open().1);
    epochs(b.open().2);
    failed_sync_poisons(b);
}

/// Append, then read ranges back in order; zxids must increase.
pub fn append_and_read(mut log: impl TxnLog) {
    assert_eq!(log.last_zxid(), 0, "an empty log has last zxid 0");
    log.append(&[entry(1), entry(2), entry(3)]).expect("append");
    log.sync().expect("sync");
    log.append(&[entry(5)]).expect("append after a sync");
    assert_eq!(log.last_zxid(), 5, "last_zxid counts staged entries");
    let all = log.read_from(0, usize::MAX).expect("read");
    assert_eq!(
        all.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 5],
        "read returns synced and staged entries in order"
    );
    assert_eq!(
        all[1].1,
        Bytes::from("txn-2"),
        "read returns the appended bytes"
    );
    let tail = log.read_from(3, 1).expect("read");
    assert_eq!(tail, vec![entry(3)], "read_from honours from and limit");
    let tail = log.read_from(4, 10).expect("read");
    assert_eq!(
        tail,
        vec![entry(5)],
        "read_from starts at the first zxid ≥ from"
    );
    assert!(
        log.read_from(6, 10).expect("read").is_empty(),
        "nothing above the last zxid"
    );
    assert!(
        log.append(&[entry(5)]).is_err(),
        "a zxid not above the last is refused"
    );
    assert!(
        log.append(&[entry(7), entry(6)]).is_err(),
        "zxids within a batch must increase"
    );
    assert_eq!(
        log.last_zxid(),
        5,
        "a refused batch stages nothing, not even its valid prefix"
    );
    log.append(&[]).expect("an empty append is fine");
    log.sync().expect("sync");
    log.sync().expect("a sync with nothing staged is fine");
    assert_eq!(zxids(&log), vec![1, 2, 3, 5]);
}

/// What was synced survives a crash; what was only appended may not, and the log stays
/// consistent (no gaps before the last entry, last_zxid agrees with the entries). Snapshots
/// and epochs survive too.
pub fn synced_entries_survive_a_crash(b: &mut impl Backend) {
    let (mut log, mut snaps, mut epochs) = b.open();
    log.append(&[entry(1), entry(2)]).expect("append");
    log.sync().expect("sync");
    log.append(&[entry(3)]).expect("append");
    snaps.save(2, Bytes::from("snap-2")).expect("save");
    epochs.set_accepted_epoch(7).expect("set accepted");
    epochs.set_current_epoch(6).expect("set current");

    let (mut log, snaps, epochs) = b.crash((log, snaps, epochs));
    let after = log.read_from(0, usize::MAX).expect("read after crash");
    let z: Vec<i64> = after.iter().map(|e| e.0).collect();
    assert!(
        z.starts_with(&[1, 2]),
        "synced entries survive a crash: {z:?}"
    );
    assert!(
        z.len() <= 3,
        "nothing appears that was never appended: {z:?}"
    );
    assert_eq!(after[..2], [entry(1), entry(2)], "with their bytes");
    assert_eq!(
        log.last_zxid(),
        *z.last().expect("not empty"),
        "last_zxid after a crash is the last entry read"
    );
    assert_eq!(
        snaps.latest().expect("latest"),
        Some((2, Bytes::from("snap-2"))),
        "a saved snapshot survives a crash"
    );
    assert_eq!(
        epochs.epochs().expect("epochs"),
        (6, 7),
        "epochs survive a crash"
    );

    log.append(&[entry(10)]).expect("append after a crash");
    log.sync().expect("sync after a crash");
    let (log, _, _) = b.crash((log, snaps, epochs));
    let z = zxids(&log);
    assert_eq!(
        z.last(),
        Some(&10),
        "a store reopened after a crash is durable again: {z:?}"
    );
    assert_eq!(log.last_zxid(), 10);
}

/// Zab TRUNC and purge.
pub fn truncate_and_purge(mut log: impl TxnLog) {
    log.append(&(1..=10).map(entry).collect::<Vec<_>>())
        .expect("append");
    log.sync().expect("sync");
    log.truncate_after(6).expect("truncate");
    assert_eq!(log.last_zxid(), 6, "truncate drops entries above the zxid");
    log.append(&[entry(7)])
        .expect("a truncated zxid can be appended again");
    log.sync().expect("sync");
    log.purge_before(4).expect("purge");
    assert_eq!(
        zxids(&log),
        vec![4, 5, 6, 7],
        "purge drops entries below the zxid"
    );

    log.append(&[entry(8), entry(9)]).expect("append");
    log.truncate_after(8).expect("truncate staged entries");
    assert_eq!(log.last_zxid(), 8, "truncate drops staged entries too");
    log.sync().expect("sync");
    assert_eq!(
        zxids(&log),
        vec![4, 5, 6, 7, 8],
        "staged entries at or below the zxid are kept"
    );
    log.truncate_after(100).expect("truncate above the end");
    assert_eq!(
        log.last_zxid(),
        8,
        "truncating above the end changes nothing"
    );
    log.truncate_after(0).expect("truncate everything");
    assert_eq!(log.last_zxid(), 0, "truncate_after(0) empties the log");
    assert!(zxids(&log).is_empty());
    log.append(&[entry(1)])
        .expect("an emptied log starts again");
    log.sync().expect("sync");
    assert_eq!(zxids(&log), vec![1]);
}

/// Zab TRUNC is durable on its own: the truncated entries do not come back after a crash.
pub fn truncate_is_durable(b: &mut impl Backend) {
    let (mut log, s, e) = b.open();
    log.append(&(1..=5).map(entry).collect::<Vec<_>>())
        .expect("append");
    log.sync().expect("sync");
    log.truncate_after(3).expect("truncate");
    let (log, _, _) = b.crash((log, s, e));
    assert_eq!(
        zxids(&log),
        vec![1, 2, 3],
        "truncated entries stay gone after a crash"
    );
    assert_eq!(log.last_zxid(), 3);
}

/// Purging keeps the newest entry, so that `last_zxid` survives a restart.
pub fn purge_keeps_the_last_entry(b: &mut impl Backend) {
    let (mut log, s, e) = b.open();
    log.append(&(1..=5).map(entry).collect::<Vec<_>>())
        .expect("append");
    log.sync().expect("sync");
    log.purge_before(100).expect("purge past the end");
    assert_eq!(log.last_zxid(), 5, "purge does not change last_zxid");
    assert_eq!(zxids(&log), vec![5], "purge keeps the newest entry");
    let (log, _, _) = b.crash((log, s, e));
    assert_eq!(log.last_zxid(), 5, "and last_zxid survives a restart");
}

/// Snapshots: streamed writes and reads, replacement, order, purge.
pub fn snapshots(mut s: impl SnapshotStore) {
    assert!(
        s.latest().expect("latest").is_none(),
        "no snapshot in an empty store"
    );
    assert!(s.list().expect("list").is_empty());
    const BIG: i64 = 0x1_0000_0020; // epoch 1: sorts by value, not by name
    for z in [10, BIG, 30] {
        s.save(z, Bytes::from(format!("snap-{z}"))).expect("save");
    }
    assert_eq!(
        s.latest().expect("latest"),
        Some((BIG, Bytes::from(format!("snap-{BIG}")))),
        "latest is the newest by zxid, not by save order"
    );
    assert_eq!(
        s.list().expect("list"),
        vec![10, 30, BIG],
        "list is ascending"
    );
    s.save(30, Bytes::from("snap-30-again"))
        .expect("saving a zxid again replaces it");
    let (mut r, len) = s.reader(30).expect("reader");
    let mut back = Vec::new();
    r.read_to_end(&mut back).expect("read");
    assert_eq!((back.as_slice(), len), (&b"snap-30-again"[..], 13));
    assert_eq!(s.purge(2).expect("purge"), Some(30), "the oldest kept");
    assert_eq!(
        s.list().expect("list"),
        vec![30, BIG],
        "purge keeps the newest"
    );
    assert_eq!(s.purge(0).expect("purge"), Some(BIG));
    assert_eq!(s.list().expect("list"), vec![BIG], "purge always keeps one");
    snapshot_streams(&mut s);
}

/// A snapshot is streamed in many writes and out again; one whose body fails is not
/// there afterwards.
fn snapshot_streams(s: &mut impl SnapshotStore) {
    let chunk: Vec<u8> = (0..=255u8).collect();
    let written = s
        .write_snapshot(0x2_0000_0005, &mut |w| {
            for _ in 0..1000 {
                w.write_all(&chunk)?;
            }
            Ok(())
        })
        .expect("a streamed snapshot");
    assert_eq!(written, 256_000, "the bytes written are counted");
    let (mut r, len) = s.reader(0x2_0000_0005).expect("reader");
    assert_eq!(len, 256_000);
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    loop {
        let n = r.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        assert!(
            buf[..n]
                .iter()
                .enumerate()
                .all(|(i, b)| *b == ((total + i) % 256) as u8),
            "the bytes come back in order"
        );
        total += n;
    }
    assert_eq!(total, 256_000);
    let before = s.list().expect("list");
    let failed = s.write_snapshot(0x3_0000_0001, &mut |w| {
        w.write_all(b"half a snapshot")?;
        Err(std::io::Error::other("the tree walk failed"))
    });
    assert!(failed.is_err(), "a failing body fails the write");
    assert_eq!(
        s.list().expect("list"),
        before,
        "and leaves no snapshot behind"
    );
    assert!(s.reader(0x3_0000_0001).is_err());
}

/// Epoch files.
pub fn epochs(mut e: impl EpochStore) {
    assert_eq!(e.epochs().expect("epochs"), (0, 0), "epochs start at 0");
    e.set_accepted_epoch(3).expect("set accepted");
    e.set_current_epoch(2).expect("set current");
    assert_eq!(e.epochs().expect("epochs"), (2, 3));
    e.set_current_epoch(3).expect("set current");
    assert_eq!(e.epochs().expect("epochs"), (3, 3));
}

/// After a failed sync, no further write is accepted; a restarted process recovers.
pub fn failed_sync_poisons(b: &mut impl Backend) {
    let (mut log, s, e) = b.open();
    log.append(&[entry(1)]).expect("append");
    log.sync().expect("sync");
    log.append(&[entry(2)]).expect("append");
    b.fail_next_sync(&mut log);
    assert!(log.sync().is_err(), "the injected sync failure is reported");
    assert!(
        matches!(log.append(&[entry(3)]), Err(StorageError::Poisoned)),
        "a store whose sync failed refuses further appends"
    );
    assert!(
        matches!(log.sync(), Err(StorageError::Poisoned)),
        "and further syncs"
    );
    assert!(
        matches!(log.truncate_after(0), Err(StorageError::Poisoned)),
        "and truncation"
    );
    let (mut log, _, _) = b.crash((log, s, e));
    let z = zxids(&log);
    assert!(
        z.starts_with(&[1]) && z.len() <= 2,
        "after a restart the synced entries are there: {z:?}"
    );
    let next = log.last_zxid() + 1;
    log.append(&[entry(next)])
        .expect("a restarted store accepts writes");
    log.sync().expect("sync");
}
