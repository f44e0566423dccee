//! Rebuilding the server's state at start: the newest snapshot (when there is one), then
//! every logged txn after it, applied in order (`FileTxnSnapLog.restore`).
//!
//! Sessions come back with their timeouts (createSession adds one, closeSession removes it)
//! and are re-armed from the moment of recovery: a client that does not reconnect within its
//! timeout is expired, as Apache ZooKeeper does after a restart.

use std::time::Instant;

use zk_core::session::SessionTable;
use zk_proto::txn_body::{LogEntry, TxnBody};
use zk_storage::{StorageError, TxnLog};
use zk_tree::DataTree;

/// What recovery rebuilt.
pub struct Recovered {
    /// The tree, up to `tree.last_processed_zxid`.
    pub tree: DataTree,
    /// `(session id, timeout ms)` of every session open at the last txn.
    pub sessions: Vec<(i64, i32)>,
    /// Txns replayed from the log.
    pub replayed: usize,
}

/// Why recovery failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// Reading the log failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A logged entry does not decode: corruption inside the log, not a torn tail (the store
    /// has already cut a torn tail).
    #[error("txn log entry 0x{zxid:x} does not decode: {detail}")]
    BadEntry {
        /// Its key.
        zxid: i64,
        /// The decoding error.
        detail: String,
    },
}

/// Replays `log` after `tree` (restored from a snapshot, or empty) and `sessions`.
pub fn replay(
    log: &dyn TxnLog,
    mut tree: DataTree,
    mut sessions: Vec<(i64, i32)>,
) -> Result<Recovered, RecoveryError> {
    let started = Instant::now();
    let mut from = tree.last_processed_zxid + 1;
    let mut replayed = 0usize;
    let mut scratch = Vec::new();
    loop {
        let batch = log.read_from(from, 4096)?;
        let Some(last) = batch.last().map(|e| e.0) else {
            break;
        };
        for (zxid, bytes) in batch {
            let entry = LogEntry::decode(bytes).map_err(|e| RecoveryError::BadEntry {
                zxid,
                detail: e.to_string(),
            })?;
            match &entry.body {
                TxnBody::CreateSession(t) => {
                    sessions.retain(|(s, _)| *s != entry.header.client_id);
                    sessions.push((entry.header.client_id, t.time_out));
                }
                TxnBody::CloseSession(_) => sessions.retain(|(s, _)| *s != entry.header.client_id),
                _ => {}
            }
            scratch.clear();
            tree.apply(&entry.header, &entry.body, &mut scratch);
            replayed += 1;
        }
        from = last + 1;
    }
    tracing::info!(
        "replayed {replayed} txns in {:.3}s; last zxid 0x{:x}, {} nodes, {} sessions",
        started.elapsed().as_secs_f64(),
        tree.last_processed_zxid,
        tree.node_count(),
        sessions.len()
    );
    Ok(Recovered {
        tree,
        sessions,
        replayed,
    })
}

/// A session table holding the recovered sessions, each re-armed at `now_ms`.
pub fn session_table(
    recovered: &[(i64, i32)],
    tick_ms: i32,
    wall_ms: i64,
    now_ms: i64,
    server_id: i64,
) -> SessionTable {
    let mut t = SessionTable::new(tick_ms, wall_ms, server_id);
    for (id, timeout) in recovered {
        t.add(*id, *timeout, now_ms);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use zk_core::prep::{Prep, PrepConfig, Requester, WriteOp};
    use zk_proto::proto::CreateRequest;
    use zk_proto::{CreateMode, OpCode};
    use zk_storage::mem::MemStore;

    /// Prepares and applies `ops` like the core does, logging each txn.
    fn run_ops(log: &mut MemStore, ops: &[(i64, WriteOp)]) -> DataTree {
        let mut tree = DataTree::new();
        let mut prep = Prep::new(PrepConfig::default(), 0);
        let mut sessions = SessionTable::new(2000, 1_700_000_000_000, 0);
        let mut out = Vec::new();
        for (sid, op) in ops {
            let who = Requester {
                session_id: *sid,
                auth: &[],
            };
            let p = prep.prepare(&tree, &mut sessions, &who, 1, op, 1000);
            let entry = LogEntry::new(p.header.clone(), p.body.clone(), None);
            log.append(&[(p.header.zxid, entry.to_bytes())]).unwrap();
            log.sync().unwrap();
            tree.apply(&p.header, &p.body, &mut out);
            prep.applied(p.header.zxid);
        }
        tree
    }

    fn create(path: &str, mode: CreateMode) -> WriteOp {
        WriteOp::Create {
            op: OpCode::Create,
            req: CreateRequest {
                path: Some(path.into()),
                data: Some(Bytes::from_static(b"v")),
                acl: Some(zk_tree::acl::open_acl_unsafe()),
                flags: mode.code(),
            },
        }
    }

    #[test]
    fn replay_rebuilds_tree_and_open_sessions() {
        let mut log = MemStore::new();
        let before = run_ops(
            &mut log,
            &[
                (7, WriteOp::CreateSession(10_000)),
                (8, WriteOp::CreateSession(20_000)),
                (7, create("/a", CreateMode::Persistent)),
                (7, create("/a/e", CreateMode::Ephemeral)),
                (8, create("/b", CreateMode::Ephemeral)),
                (8, WriteOp::CloseSession),
            ],
        );
        let r = replay(&log, DataTree::new(), Vec::new()).unwrap();
        assert_eq!(r.replayed, 6);
        assert_eq!(r.sessions, vec![(7, 10_000)]);
        assert_eq!(r.tree.last_processed_zxid, before.last_processed_zxid);
        assert!(
            r.tree.node(b"/b").is_none(),
            "the closed session's ephemeral is gone"
        );
        for p in [&b"/a"[..], b"/a/e"] {
            assert_eq!(
                r.tree.node(p),
                before.node(p),
                "{}",
                String::from_utf8_lossy(p)
            );
        }
        assert_eq!(r.tree.ephemerals_of(7), vec![Bytes::from_static(b"/a/e")]);
    }

    #[test]
    fn a_corrupt_entry_is_an_error_naming_its_zxid() {
        let mut log = MemStore::new();
        log.append(&[(1, Bytes::from_static(b"\x00\x01"))]).unwrap();
        log.sync().unwrap();
        match replay(&log, DataTree::new(), Vec::new()) {
            Err(RecoveryError::BadEntry { zxid: 1, .. }) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("replayed garbage"),
        }
    }
}
