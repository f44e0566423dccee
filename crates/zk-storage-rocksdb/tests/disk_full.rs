//! A full disk: a small tmpfs (needs root, or CAP_SYS_ADMIN, to mount; the test says
//! SKIPPED and passes where it cannot mount) is filled until the log's sync fails. The log
//! must report it, poison itself, and after space is freed a reopened storage must hold
//! every entry that was synced.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use tempfile::TempDir;
use zk_storage::{EpochStore, SnapshotStore, StorageError, TxnLog};
use zk_storage_rocksdb::Storage;

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn payload(z: i64) -> Bytes {
    Bytes::from(format!("{z:08}").repeat(512)) // 4 KiB
}

/// Writes to `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut f = fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        match f.write_all(&chunk).and_then(|()| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

#[test]
fn a_full_disk_poisons_the_log_and_loses_no_synced_entry() {
    let root = TempDir::new().unwrap();
    let mnt = root.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let Some(_mount) = Mount::tmpfs(&mnt, "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    };
    let data = mnt.join("data");
    let filler = mnt.join("filler");

    let mut s = Storage::open(&data, &data).unwrap();
    s.epochs.set_current_epoch(4).unwrap();
    s.snapshots
        .save(0x10, Bytes::from("snapshot-0x10"))
        .unwrap();
    let mut synced = 0i64;
    for _ in 0..100 {
        s.log.append(&[(synced + 1, payload(synced + 1))]).unwrap();
        s.log.sync().unwrap();
        synced += 1;
    }

    fill(&filler);

    // The log keeps going until its WAL needs a block the disk no longer has.
    let mut failure = None;
    for _ in 0..100_000 {
        let z = synced + 1;
        let res = s.log.append(&[(z, payload(z))]).and_then(|()| s.log.sync());
        match res {
            Ok(()) => synced = z,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("the log never noticed the full disk");
    eprintln!("after {synced} synced entries: {failure}");
    assert!(
        matches!(failure, StorageError::Backend(ref m) if m.contains("No space left")),
        "the failure is the disk's: {failure:?}"
    );
    assert!(s.log.is_poisoned());
    let next = s.log.last_zxid() + 1;
    assert!(
        matches!(
            s.log.append(&[(next, payload(next))]),
            Err(StorageError::Poisoned)
        ),
        "a poisoned log refuses appends"
    );
    assert!(matches!(s.log.sync(), Err(StorageError::Poisoned)));

    // Snapshots and epochs fail cleanly: nothing half-written becomes visible.
    let big = Bytes::from(vec![7u8; 1 << 20]);
    let err = s.snapshots.save(0x20, big).unwrap_err();
    assert!(
        matches!(&err, StorageError::Io(e) if e.raw_os_error() == Some(28)),
        "{err:?}"
    );
    assert_eq!(s.snapshots.list().unwrap(), [0x10]);
    let leftovers: Vec<_> = fs::read_dir(data.join("version-2"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "a failed save leaves no temp file: {leftovers:?}"
    );

    drop(s);
    fs::remove_file(&filler).unwrap();

    let mut s = Storage::open(&data, &data).expect("reopen after freeing space");
    let all = s.log.read_from(0, usize::MAX).unwrap();
    assert!(
        all.len() as i64 >= synced,
        "every synced entry survives: {} of {synced}",
        all.len()
    );
    for (i, (z, b)) in all.iter().enumerate() {
        assert_eq!(*z, i as i64 + 1);
        assert_eq!(*b, payload(*z), "entry {z} is intact");
    }
    assert_eq!(s.epochs.epochs().unwrap(), (4, 0));
    assert_eq!(
        s.snapshots.latest().unwrap(),
        Some((0x10, Bytes::from("snapshot-0x10")))
    );
    let z = s.log.last_zxid() + 1;
    s.log.append(&[(z, payload(z))]).unwrap();
    s.log.sync().expect("the reopened log writes again");
    let _ = io::stderr().flush();
}
