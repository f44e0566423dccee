//! Loading a data directory the way `FileTxnSnapLog.restore` does: the newest snapshot that
//! reads cleanly, then every log entry after its zxid, applied to the tree, with sessions
//! opened and closed by the createSession and closeSession entries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zk_proto::txn_body::TxnBody;
use zk_tree::digest::tree_digest;
use zk_tree::snapshot::{LoadedSnapshot, ReadOptions, ZxidDigest};
use zk_tree::DataTree;

use super::names::DataFile;
use super::snapfile::{
    is_valid_snapshot, list_snapshots, read_snapshot_file, read_snapshot_file_with_progress,
    SnapshotFile,
};
use super::txnlog::{list_logs, logs_after, LogEnd, LogReader};
use super::JavaFormatError;
use crate::progress::{NoProgress, Progress};

/// Log bytes read between two progress reports.
const LOG_PROGRESS_STEP: u64 = 1 << 20;

/// How many snapshots, newest first, are tried before giving up (`FileSnap.deserialize`).
pub const SNAPSHOTS_TRIED: usize = 100;

/// The snapshot a restore started from.
#[derive(Debug, Clone)]
pub struct SnapshotUsed {
    /// The file.
    pub file: SnapshotFile,
    /// Nodes it held.
    pub nodes: u64,
    /// Its digest section, if any.
    pub digest: Option<ZxidDigest>,
}

/// What was read from one log file.
#[derive(Debug, Clone)]
pub struct LogReport {
    /// The file.
    pub path: PathBuf,
    /// Entries read (checksums verified).
    pub entries: u64,
    /// Of those, entries applied (the others were already in the snapshot).
    pub applied: u64,
    /// Where the entries stop.
    pub end: LogEnd,
}

/// A tree digest compared with the one Apache ZooKeeper recorded for the same zxid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestCheck {
    /// The zxid both describe.
    pub zxid: i64,
    /// The digest in the file (the last applied entry's `TxnDigest`, or the snapshot's).
    pub recorded: i64,
    /// The digest of the restored tree.
    pub computed: i64,
}

impl DigestCheck {
    /// True when the restored tree is the one upstream had.
    pub fn matches(&self) -> bool {
        self.recorded == self.computed
    }
}

/// A restored data directory.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The tree, at `last_zxid`.
    pub tree: DataTree,
    /// Open sessions: id → timeout (ms).
    pub sessions: BTreeMap<i64, i32>,
    /// The zxid of the last txn applied (the snapshot's when no entry followed it; 0 for an
    /// empty directory).
    pub last_zxid: i64,
    /// The snapshot used; `None` for an empty directory.
    pub snapshot: Option<SnapshotUsed>,
    /// Newer snapshots that were passed over, and why.
    pub skipped_snapshots: Vec<(PathBuf, String)>,
    /// The log files read, in order.
    pub logs: Vec<LogReport>,
    /// The restored tree's digest against the last one recorded, when a digest was recorded
    /// for the final zxid (upstream writes them by default since 3.6).
    pub digest_check: Option<DigestCheck>,
}

/// Restores from `snap_dir` (snapshots) and `log_dir` (txn logs), the `version-2`
/// directories of `dataDir` and `dataLogDir` (often the same).
///
/// Snapshots are tried newest first; one that fails the validity check or does not read
/// cleanly is recorded in [`Restored::skipped_snapshots`] and the next is tried, as upstream
/// does. A directory with log files but no usable snapshot is refused (upstream's "No
/// snapshot found, but there are log entries"); one with neither restores to a fresh tree.
/// A torn log tail ends that file, as upstream; a checksum mismatch or an entry that is not
/// a txn is an error.
pub fn restore(
    snap_dir: &Path,
    log_dir: &Path,
    opts: &ReadOptions,
) -> Result<Restored, JavaFormatError> {
    restore_with_progress(snap_dir, log_dir, opts, &NoProgress)
}

/// [`restore`], reporting progress in bytes: the total is the snapshot's file size plus the
/// allocated sizes of the log files it needs (their preallocated tails are sparse; set
/// again, from 0, if that snapshot turns out damaged and an older one is tried); the
/// snapshot's bytes are reported as they are read, the logs' per MiB of entries and, at the
/// end of each file, the rest of its allocated size.
pub fn restore_with_progress(
    snap_dir: &Path,
    log_dir: &Path,
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<Restored, JavaFormatError> {
    let mut skipped = Vec::new();
    let mut loaded = None;
    let all_logs = list_logs(log_dir)?;
    for file in list_snapshots(snap_dir)?.into_iter().take(SNAPSHOTS_TRIED) {
        match is_valid_snapshot(&file) {
            Ok(true) => {}
            Ok(false) => {
                skipped.push((file.path.clone(), "fails the quick validity check".into()));
                continue;
            }
            Err(e) => {
                skipped.push((file.path.clone(), e.to_string()));
                continue;
            }
        }
        progress.set_total(
            file_len(&file.path)?
                + logs_after(&all_logs, file.zxid)
                    .iter()
                    .map(|l| log_bytes(&l.path))
                    .sum::<Result<u64, _>>()?,
        );
        match read_snapshot_file_with_progress(&file, opts, progress) {
            Ok(l) => {
                loaded = Some((file, l));
                break;
            }
            Err(e) => skipped.push((file.path.clone(), e.to_string())),
        }
    }
    let Some((file, snap)) = loaded else {
        if let Some(first) = all_logs.first() {
            return Err(JavaFormatError::Invalid(format!(
                "no usable snapshot in {} but there are txn logs (e.g. {}): refusing to start \
                 from an empty tree{}",
                snap_dir.display(),
                first.path.display(),
                skipped
                    .first()
                    .map(|(p, why)| format!("; {} was skipped: {why}", p.display()))
                    .unwrap_or_default()
            )));
        }
        return Ok(Restored {
            tree: DataTree::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
            snapshot: None,
            skipped_snapshots: skipped,
            logs: Vec::new(),
            digest_check: None,
        });
    };

    let mut restored = replay(file, snap, &all_logs, progress)?;
    restored.skipped_snapshots = skipped;
    Ok(restored)
}

fn file_len(path: &Path) -> Result<u64, JavaFormatError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| JavaFormatError::io(path, e))
}

/// A log file's size for progress: the bytes actually allocated when that is less than its
/// length. Upstream preallocates 64 MiB by writing one byte at the new end, so the file is
/// sparse and its allocated size is about the size of its entries, which is what is read.
fn log_bytes(path: &Path) -> Result<u64, JavaFormatError> {
    let m = std::fs::metadata(path).map_err(|e| JavaFormatError::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Ok(m.len().min(m.blocks().saturating_mul(512)))
    }
    #[cfg(not(unix))]
    {
        Ok(m.len())
    }
}

/// Restores from one given snapshot file and the logs in `log_dir` after it (a chosen
/// starting point, e.g. to check that every snapshot of a directory leads to the same tree).
pub fn restore_from(
    file: &SnapshotFile,
    log_dir: &Path,
    opts: &ReadOptions,
) -> Result<Restored, JavaFormatError> {
    let snap = read_snapshot_file(file, opts)?;
    replay(file.clone(), snap, &list_logs(log_dir)?, &NoProgress)
}

/// Applies the entries of `all_logs` after the snapshot's zxid to its tree.
fn replay(
    file: SnapshotFile,
    snap: LoadedSnapshot,
    all_logs: &[DataFile],
    progress: &dyn Progress,
) -> Result<Restored, JavaFormatError> {
    let snap_zxid = file.zxid;
    let mut tree = snap.tree;
    let mut sessions = snap.sessions;
    let mut last_zxid = snap_zxid;
    let mut last_digest = snap
        .digest
        .filter(|d| d.zxid == snap_zxid)
        .map(|d| (d.zxid, d.digest));
    let mut logs = Vec::new();
    let mut notifications = Vec::new();
    // Fast-forward: skip entries up to the snapshot's zxid, then apply everything.
    let mut caught_up = false;
    for log in logs_after(all_logs, snap_zxid) {
        let mut reader = LogReader::open(&log.path)?;
        let (mut entries, mut applied) = (0u64, 0u64);
        let mut reported = 0u64;
        while let Some((_, entry)) = reader.next_entry()? {
            entries += 1;
            if reader.offset() - reported >= LOG_PROGRESS_STEP {
                progress.advance(reader.offset() - reported);
                reported = reader.offset();
            }
            if !caught_up {
                if entry.header.zxid <= snap_zxid {
                    continue;
                }
                caught_up = true;
            }
            match &entry.body {
                TxnBody::CreateSession(t) => {
                    sessions.insert(entry.header.client_id, t.time_out);
                }
                TxnBody::CloseSession(_) => {
                    sessions.remove(&entry.header.client_id);
                }
                _ => {}
            }
            // A failed op (NONODE/NODEEXISTS replayed over a fuzzy snapshot) is expected
            // and ignored, as upstream ignores it.
            let _ = tree.apply(&entry.header, &entry.body, &mut notifications);
            notifications.clear();
            applied += 1;
            last_zxid = last_zxid.max(entry.header.zxid);
            last_digest = entry
                .digest
                .as_ref()
                .map(|d| (entry.header.zxid, d.tree_digest));
        }
        let end = reader
            .end()
            .cloned()
            .unwrap_or(LogEnd::EndOfFile { offset: 0 });
        // The rest of the file: preallocated zeros or a torn tail, read or not.
        progress.advance(log_bytes(&log.path)?.saturating_sub(reported));
        logs.push(LogReport {
            path: log.path,
            entries,
            applied,
            end,
        });
    }
    let digest_check = last_digest.map(|(zxid, recorded)| DigestCheck {
        zxid,
        recorded,
        computed: tree_digest(&tree),
    });
    Ok(Restored {
        tree,
        sessions,
        last_zxid,
        snapshot: Some(SnapshotUsed {
            file,
            nodes: snap.nodes,
            digest: snap.digest,
        }),
        skipped_snapshots: Vec::new(),
        logs,
        digest_check,
    })
}
