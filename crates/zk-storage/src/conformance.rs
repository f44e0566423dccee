//! The behaviour every storage backend must show, as functions a backend's tests call with
//! a factory. Each check panics with a message naming the contract clause it broke.

use bytes::Bytes;

use crate::{EpochStore, SnapshotStore, StorageError, TxnLog};

fn entry(z: i64) -> (i64, Bytes) {
    (z, Bytes::from(format!("txn-{z}")))
}

/// Runs every check. `open` gives a fresh, empty store (log, snapshots, epochs sharing
/// state where the backend does); `crash` simulates a process crash, after which the
/// same handles act as a reopened store; `fail_sync` makes the next sync fail.
pub fn run_all<L, S, E>(open: impl Fn() -> (L, S, E), crash: impl Fn(&E), fail_sync: impl Fn(&E))
where
    L: TxnLog,
    S: SnapshotStore,
    E: EpochStore,
{
    append_and_read(open().0);
    let (l, _, e) = open();
    synced_entries_survive_a_crash(l, &e, &crash);
    truncate_and_purge(open().0);
    snapshots(open().1);
    epochs(open().2);
    let (l, _, e) = open();
    failed_sync_poisons(l, &e, &fail_sync);
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
        "read returns entries in order"
    );
    assert_eq!(
        all[1].1,
        Bytes::from("txn-2"),
        "read returns the appended bytes"
    );
    let tail = log.read_from(3, 1).expect("read");
    assert_eq!(tail, vec![entry(3)], "read_from honours from and limit");
    assert!(
        log.append(&[entry(5)]).is_err(),
        "a zxid not above the last is refused"
    );
    assert!(
        log.append(&[entry(7), entry(6)]).is_err(),
        "zxids within a batch must increase"
    );
}

/// What was synced survives a crash; what was only appended may not, and the log stays
/// consistent (no gaps before the last entry).
pub fn synced_entries_survive_a_crash<E>(mut log: impl TxnLog, handle: &E, crash: &impl Fn(&E)) {
    log.append(&[entry(1), entry(2)]).expect("append");
    log.sync().expect("sync");
    log.append(&[entry(3)]).expect("append");
    crash(handle);
    let after = log.read_from(0, usize::MAX).expect("read after crash");
    let zxids: Vec<i64> = after.iter().map(|e| e.0).collect();
    assert!(
        zxids.starts_with(&[1, 2]),
        "synced entries survive a crash: {zxids:?}"
    );
    assert!(zxids.len() <= 3, "nothing appears that was never appended");
    log.append(&[entry(10)]).expect("append after a crash");
    log.sync().expect("sync after a crash");
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
    let z: Vec<i64> = log
        .read_from(0, usize::MAX)
        .expect("read")
        .iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(z, vec![4, 5, 6, 7], "purge drops entries below the zxid");
}

/// Snapshot save/latest/list/purge.
pub fn snapshots(mut s: impl SnapshotStore) {
    assert!(
        s.latest().expect("latest").is_none(),
        "no snapshot in an empty store"
    );
    for z in [10, 20, 30] {
        s.save(z, Bytes::from(format!("snap-{z}"))).expect("save");
    }
    assert_eq!(
        s.latest().expect("latest"),
        Some((30, Bytes::from("snap-30"))),
        "latest is the newest"
    );
    assert_eq!(
        s.list().expect("list"),
        vec![10, 20, 30],
        "list is ascending"
    );
    s.purge(2).expect("purge");
    assert_eq!(
        s.list().expect("list"),
        vec![20, 30],
        "purge keeps the newest"
    );
    s.purge(0).expect("purge");
    assert_eq!(s.list().expect("list"), vec![30], "purge always keeps one");
}

/// Epoch files.
pub fn epochs(mut e: impl EpochStore) {
    assert_eq!(e.epochs().expect("epochs"), (0, 0), "epochs start at 0");
    e.set_accepted_epoch(3).expect("set accepted");
    e.set_current_epoch(2).expect("set current");
    assert_eq!(e.epochs().expect("epochs"), (2, 3));
}

/// After a failed sync, no further write is accepted.
pub fn failed_sync_poisons<E>(mut log: impl TxnLog, handle: &E, fail_sync: &impl Fn(&E)) {
    log.append(&[entry(1)]).expect("append");
    fail_sync(handle);
    assert!(log.sync().is_err(), "the injected sync failure is reported");
    assert!(
        matches!(log.append(&[entry(2)]), Err(StorageError::Poisoned)),
        "a store whose sync failed refuses further appends"
    );
    assert!(
        matches!(log.sync(), Err(StorageError::Poisoned)),
        "and further syncs"
    );
}
