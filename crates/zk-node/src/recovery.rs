//! Rebuilding a node's state at start, and after a Zab SNAP: the newest snapshot that
//! reads back whole (falling back to older ones, as `FileTxnSnapLog.restore` does), then
//! every logged txn after it, applied in order. One routine for every caller: the binary
//! at start, the simulator's restarted nodes, and a learner that loaded a snapshot.
//!
//! ```text
//!   SnapshotStore::list ─► newest ─► reader ─► zk_tree::snapshot::read_snapshot ─┐ (bad: older)
//!   TxnLog::read_from(snapshot zxid + 1) ─► LogEntry::decode ─► DataTree::apply ◄┘
//! ```
//!
//! Sessions come back with their timeouts (createSession adds one, closeSession removes it)
//! and are re-armed from the moment of recovery: a client that does not reconnect within its
//! timeout is expired, as Apache ZooKeeper does after a restart.
//!
//! Errors are typed: storage that cannot be read and a log entry that does not decode are
//! fatal (the node must not serve a state it could not rebuild); a damaged snapshot is not,
//! when an older one or an empty start with the whole log remains.

use std::io::BufReader;
use std::time::Instant;

use zk_core::session::SessionTable;
use zk_proto::txn_body::{LogEntry, TxnBody};
use zk_storage::progress::{Progress, ProgressRead};
use zk_storage::{SnapshotStore, StorageError, TxnLog};
use zk_tree::snapshot::{read_snapshot, ReadOptions};
use zk_tree::DataTree;

/// What recovery rebuilt.
#[derive(Debug)]
pub struct Recovered {
    /// The tree, up to `tree.last_processed_zxid`.
    pub tree: DataTree,
    /// `(session id, timeout ms)` of every session open at the last txn.
    pub sessions: Vec<(i64, i32)>,
    /// Txns replayed from the log.
    pub replayed: usize,
    /// The zxid of the snapshot it started from, if any.
    pub snapshot: Option<i64>,
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

/// A snapshot loaded into a tree.
#[derive(Debug)]
pub struct LoadedState {
    /// The snapshot's zxid (the tree's `last_processed_zxid`).
    pub zxid: i64,
    /// The tree.
    pub tree: DataTree,
    /// `(session id, timeout ms)` of the sessions in the snapshot.
    pub sessions: Vec<(i64, i32)>,
}

/// Loads the newest snapshot in `snapshots` that reads back whole (checksums verified),
/// falling back to older ones as Apache ZooKeeper does; an empty tree when there is none.
/// Reading is reported to `progress`. Only a failure to list the snapshots is an error: an
/// unreadable or damaged one is logged and passed over.
pub fn load_snapshot(
    snapshots: &dyn SnapshotStore,
    max_buffer: usize,
    progress: &dyn Progress,
) -> Result<Option<LoadedState>, RecoveryError> {
    for zxid in snapshots.list()?.into_iter().rev() {
        let started = Instant::now();
        let (reader, size) = match snapshots.reader(zxid) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot open snapshot 0x{zxid:x}: {e}; trying an older one");
                continue;
            }
        };
        progress.set_total(size);
        match read_snapshot(
            BufReader::with_capacity(1 << 20, ProgressRead::new(reader, progress)),
            zxid,
            &ReadOptions {
                max_buffer,
                size_hint: size,
            },
        ) {
            Ok(loaded) => {
                tracing::info!(
                    "loaded snapshot 0x{zxid:x} ({} nodes, {} sessions) in {:.3}s",
                    loaded.nodes,
                    loaded.sessions.len(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(Some(LoadedState {
                    zxid,
                    tree: loaded.tree,
                    sessions: loaded.sessions.into_iter().collect(),
                }));
            }
            Err(e) => tracing::warn!(
                "snapshot 0x{zxid:x} is not valid (at offset {}: {e}); trying an older one",
                e.offset()
            ),
        }
    }
    Ok(None)
}

/// The whole recovery: [`load_snapshot`], then [`replay`] of the log after it.
pub fn recover(
    snapshots: &dyn SnapshotStore,
    log: &dyn TxnLog,
    max_buffer: usize,
    progress: &dyn Progress,
) -> Result<Recovered, RecoveryError> {
    let started = Instant::now();
    let (snapshot, tree, sessions) = match load_snapshot(snapshots, max_buffer, progress)? {
        Some(s) => (Some(s.zxid), s.tree, s.sessions),
        None => (None, DataTree::new(), Vec::new()),
    };
    let mut recovered = replay(log, tree, sessions)?;
    recovered.snapshot = snapshot;
    tracing::info!(
        "recovered zxid 0x{:x} in {:.3}s",
        recovered.tree.last_processed_zxid,
        started.elapsed().as_secs_f64()
    );
    Ok(recovered)
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
        snapshot: None,
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
    fn recover_passes_over_a_damaged_snapshot_and_replays_the_log_after_a_good_one() {
        let mut store = MemStore::new();
        let at_two = run_ops(
            &mut store,
            &[
                (7, WriteOp::CreateSession(10_000)),
                (7, create("/a", CreateMode::Persistent)),
            ],
        );
        store
            .write_snapshot(2, &mut |w| {
                zk_tree::snapshot::write_snapshot(
                    &at_two,
                    [(7, 10_000)],
                    w,
                    &zk_tree::snapshot::WriteOptions::default(),
                )
                .map(drop)
            })
            .unwrap();
        // Txn 3 is only in the log; the newest snapshot is damaged.
        let mut scratch = MemStore::new();
        run_ops(
            &mut scratch,
            &[
                (7, WriteOp::CreateSession(10_000)),
                (7, create("/a", CreateMode::Persistent)),
                (7, create("/b", CreateMode::Persistent)),
            ],
        );
        store.append(&scratch.read_from(3, 1).unwrap()).unwrap();
        store.sync().unwrap();
        store
            .save(3, Bytes::from_static(b"not a snapshot"))
            .unwrap();
        let r = recover(
            &store,
            &store,
            zk_tree::snapshot::DEFAULT_MAX_BUFFER,
            &zk_storage::progress::NoProgress,
        )
        .unwrap();
        assert_eq!(r.snapshot, Some(2), "the damaged 0x3 is passed over");
        assert_eq!(r.replayed, 1, "only the txn after the snapshot is replayed");
        assert_eq!(r.tree.last_processed_zxid, 3);
        assert!(r.tree.node(b"/a").is_some() && r.tree.node(b"/b").is_some());
        assert_eq!(r.sessions, vec![(7, 10_000)]);
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

    /// xorshift64: a reproducible stream of choices for the fuzzy-snapshot test.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    use zk_proto::data::{Acl, Stat};

    /// Every node's data, Stat, ACL list and children, by path.
    type Dump = std::collections::BTreeMap<Vec<u8>, (Option<Bytes>, Stat, Vec<Acl>, Vec<Bytes>)>;

    fn dump(tree: &DataTree) -> Dump {
        tree.iter()
            .map(|(p, n)| {
                let mut kids: Vec<Bytes> = n.children.iter().map(Bytes::copy_from_slice).collect();
                kids.sort();
                let acl = tree.acl_of(n).to_vec();
                let data = n.data.map(Bytes::copy_from_slice);
                (p, (data, n.stat(), acl, kids))
            })
            .collect()
    }

    /// A fuzzy snapshot taken a few nodes at a time while creates, deletes, setData and
    /// setACL (with ACL lists new since the start) and session closes go on, restored and
    /// replayed from its zxid, is the tree the writes produced: node for node, Stat for Stat,
    /// ACL for ACL. Upstream's contract for `SyncRequestProcessor`'s background snapshots.
    #[test]
    fn a_fuzzy_snapshot_plus_the_log_after_it_is_the_exact_tree() {
        use zk_proto::data::Id;
        use zk_proto::proto::{DeleteRequest, SetACLRequest, SetDataRequest};
        use zk_tree::snapshot::{read_snapshot, FuzzySnapshot, ReadOptions, WriteOptions};

        const MAIN: i64 = 50;
        for seed in 1..=12u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut log = MemStore::new();
            let mut tree = DataTree::new();
            let mut prep = Prep::new(PrepConfig::default(), 0);
            let mut sessions = SessionTable::new(2000, 1_700_000_000_000, 0);
            let mut out = Vec::new();
            let mut paths: Vec<String> = vec!["/".into()];
            let mut live: Vec<i64> = Vec::new();
            let mut next_session = 100i64;
            let who = Requester {
                session_id: MAIN,
                auth: &[],
            };
            let p = prep.prepare(
                &tree,
                &mut sessions,
                &who,
                1,
                &WriteOp::CreateSession(30_000),
                0,
            );
            tree.apply(&p.header, &p.body, &mut out);
            prep.applied(p.header.zxid);
            let entry = LogEntry::new(p.header.clone(), p.body.clone(), None);
            log.append(&[(p.header.zxid, entry.to_bytes())]).unwrap();
            // Distinct lists that all let anyone do anything, so no op fails for want of a
            // permission.
            let acl_for = |i: usize| {
                vec![
                    Acl {
                        perms: zk_proto::perms::ALL,
                        id: Id {
                            scheme: Some("world".into()),
                            id: Some("anyone".into()),
                        },
                    },
                    Acl {
                        perms: 1 + (i as i32 % 31),
                        id: Id {
                            scheme: Some("ip".into()),
                            id: Some(format!("10.0.{}.{}", i / 200, i % 200).into()),
                        },
                    },
                ]
            };
            let mut step_op = |tree: &mut DataTree, rng: &mut Rng, log: &mut MemStore| {
                let pick = |rng: &mut Rng, paths: &[String]| paths[rng.below(paths.len())].clone();
                let (sid, op) = match rng.below(10) {
                    0 if live.len() < 3 => {
                        next_session += 1;
                        live.push(next_session);
                        (next_session, WriteOp::CreateSession(10_000))
                    }
                    1 if !live.is_empty() => {
                        let s = live.swap_remove(rng.below(live.len()));
                        (s, WriteOp::CloseSession)
                    }
                    0..=5 => {
                        let parent = pick(rng, &paths);
                        let name = format!("n{}", rng.below(40));
                        let path = if parent == "/" {
                            format!("/{name}")
                        } else {
                            format!("{parent}/{name}")
                        };
                        let (owner, mode) = match (rng.below(4), live.first()) {
                            (0, Some(&s)) => (s, CreateMode::Ephemeral),
                            (1, _) => (MAIN, CreateMode::PersistentSequential),
                            _ => (MAIN, CreateMode::Persistent),
                        };
                        let req = CreateRequest {
                            path: Some(path.as_str().into()),
                            data: Some(Bytes::from(vec![b'x'; rng.below(64)])),
                            acl: Some(acl_for(rng.below(400))),
                            flags: mode.code(),
                        };
                        (
                            owner,
                            WriteOp::Create {
                                op: OpCode::Create,
                                req,
                            },
                        )
                    }
                    6 => (
                        MAIN,
                        WriteOp::Delete(DeleteRequest {
                            path: Some(pick(rng, &paths).as_str().into()),
                            version: -1,
                        }),
                    ),
                    7 | 8 => (
                        MAIN,
                        WriteOp::SetData(SetDataRequest {
                            path: Some(pick(rng, &paths).as_str().into()),
                            data: Some(Bytes::from(vec![b'y'; rng.below(64)])),
                            version: -1,
                        }),
                    ),
                    _ => (
                        MAIN,
                        WriteOp::SetAcl(SetACLRequest {
                            path: Some(pick(rng, &paths).as_str().into()),
                            acl: Some(acl_for(rng.below(40))),
                            version: -1,
                        }),
                    ),
                };
                let who = Requester {
                    session_id: sid,
                    auth: &[],
                };
                let p = prep.prepare(tree, &mut sessions, &who, 1, &op, 1000);
                let entry = LogEntry::new(p.header.clone(), p.body.clone(), None);
                log.append(&[(p.header.zxid, entry.to_bytes())]).unwrap();
                out.clear();
                tree.apply(&p.header, &p.body, &mut out);
                prep.applied(p.header.zxid);
                paths = tree
                    .iter()
                    .map(|(p, _)| String::from_utf8_lossy(&p).into_owned())
                    .filter(|p| !p.starts_with("/zookeeper"))
                    .collect();
                paths.sort();
            };
            for _ in 0..600 {
                step_op(&mut tree, &mut rng, &mut log);
            }
            let mut snap =
                FuzzySnapshot::start(&tree, vec![(7i64, 30_000i32)], &WriteOptions::default())
                    .unwrap();
            let mut bytes = Vec::new();
            loop {
                let done = snap.step(&tree, 1 + rng.below(3));
                bytes.extend_from_slice(&snap.take());
                if done {
                    break;
                }
                step_op(&mut tree, &mut rng, &mut log);
            }
            let zxid = snap.zxid();
            let (last, summary) = snap.finish(&tree);
            bytes.extend_from_slice(&last);
            assert!(summary.digest.is_none(), "the tree moved: no digest");
            for _ in 0..50 {
                step_op(&mut tree, &mut rng, &mut log);
            }
            log.sync().unwrap();

            let loaded = read_snapshot(&bytes[..], zxid, &ReadOptions::default()).unwrap();
            let r = replay(&log, loaded.tree, Vec::new()).unwrap();
            assert!(r.replayed > 50, "seed {seed}");
            let (got, want) = (dump(&r.tree), dump(&tree));
            let keys: std::collections::BTreeSet<_> = got.keys().chain(want.keys()).collect();
            let differ: Vec<_> = keys
                .into_iter()
                .filter(|k| got.get(*k) != want.get(*k))
                .map(|k| (String::from_utf8_lossy(k), got.get(k), want.get(k)))
                .collect();
            assert!(
                differ.is_empty(),
                "seed {seed}: restored vs live: {differ:#?}"
            );
        }
    }
}
