//! Background (fuzzy) snapshots taken while clients keep writing: every snapshot the server
//! keeps, restored and followed by the txn log after it, is exactly the state the server
//! ended with; and at least one of them really was taken while the tree moved (it carries no
//! digest, see `zk_tree::snapshot::FuzzySnapshot`); and the purge task keeps
//! `autopurge.snapRetainCount` snapshots and the log after the oldest of them.

mod common;

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use zk_server::snapshots::SnapshotPolicy;
use zk_storage::mem::MemStore;
use zk_storage::{SnapshotStore, StorageError};
use zk_tree::snapshot::{read_snapshot, ReadOptions};
use zk_tree::DataTree;
use zookeeper_client as zk;

/// Snapshots kept in memory, by zxid, shared with the test.
#[derive(Clone, Default)]
struct MemTarget(Arc<Mutex<BTreeMap<i64, Bytes>>>, Arc<AtomicUsize>);

impl MemTarget {
    fn list(&self) -> Vec<i64> {
        self.0.lock().unwrap().keys().copied().collect()
    }

    fn get(&self, zxid: i64) -> Bytes {
        self.0.lock().unwrap()[&zxid].clone()
    }

    /// How many snapshots were written, purged ones included.
    fn written(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }
}

impl SnapshotStore for MemTarget {
    fn write_snapshot(
        &mut self,
        zxid: i64,
        body: &mut dyn FnMut(&mut dyn io::Write) -> io::Result<()>,
    ) -> Result<u64, StorageError> {
        let mut buf = Vec::new();
        body(&mut buf)?;
        let n = buf.len() as u64;
        self.0.lock().unwrap().insert(zxid, Bytes::from(buf));
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(n)
    }

    fn reader(&self, zxid: i64) -> Result<(Box<dyn io::Read + Send>, u64), StorageError> {
        let b = self.get(zxid);
        let n = b.len() as u64;
        Ok((Box::new(io::Cursor::new(b)), n))
    }

    fn list(&self) -> Result<Vec<i64>, StorageError> {
        Ok(MemTarget::list(self))
    }

    fn purge(&mut self, keep: usize) -> Result<Option<i64>, StorageError> {
        let mut m = self.0.lock().unwrap();
        while m.len() > keep {
            m.pop_first();
        }
        Ok(m.keys().next().copied())
    }
}

/// Every node's data and Stat, by path.
fn dump(tree: &DataTree) -> Vec<(Vec<u8>, Option<Bytes>, zk_proto::data::Stat)> {
    let mut v: Vec<_> = tree
        .iter()
        .map(|(p, n)| (p, n.data.map(Bytes::copy_from_slice), n.stat()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn restore(snaps: &MemTarget, log: &MemStore, zxid: i64) -> (DataTree, bool) {
    let bytes = snaps.get(zxid);
    let loaded = read_snapshot(&bytes[..], zxid, &ReadOptions::default()).unwrap();
    let fuzzy = loaded.digest.is_none();
    let r = zk_server::recovery::replay(log, loaded.tree, Vec::new()).unwrap();
    (r.tree, fuzzy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_under_load_restore_to_the_final_state() {
    if common::external().is_some() {
        eprintln!("skipped: needs an in-process server");
        return;
    }
    let log = MemStore::new();
    let snaps = MemTarget::default();
    let settings = zk_server::Settings {
        snapshot: SnapshotPolicy {
            snap_count: 3000,
            retain: 3,
            // autopurge.purgeInterval is in hours; a test cannot wait for that.
            purge_interval: Some(Duration::from_millis(50)),
        },
        ..common::settings()
    };
    let stores = zk_server::Stores {
        log: Box::new(log.clone()),
        snapshots: Some(Box::new(snaps.clone())),
    };
    let server = common::ServerBuilder::new(settings)
        .stores(stores)
        .start()
        .await;
    let addr = server.addr.clone();

    let c = common::within(
        "connect",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&addr),
    )
    .await
    .unwrap();
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    c.create("/s", b"", &open).await.unwrap();
    // Rounds of pipelined writes until a snapshot was taken while writes went on and more
    // snapshots were written than are retained, so the purge has something to drop (bounded:
    // 12 rounds are ~26,000 txns, at least 8 snapshots at snapCount 3000).
    let mut saw_fuzzy = false;
    for round in 0..12 {
        let mut pending = Vec::new();
        for i in 0..1500 {
            let path = format!("/s/r{round}n{i}");
            let data = vec![b'a' + (i % 26) as u8; 100];
            let c = &c;
            let open = &open;
            pending.push(async move {
                c.create(&path, &data, open).await.unwrap();
                if i % 3 == 0 {
                    c.set_data(&path, b"changed", None).await.unwrap();
                }
                if i % 7 == 0 {
                    c.delete(&path, None).await.unwrap();
                }
            });
        }
        futures::future::join_all(pending).await;
        saw_fuzzy = snaps.list().iter().any(|z| {
            let b = snaps.get(*z);
            read_snapshot(&b[..], *z, &ReadOptions::default())
                .unwrap()
                .digest
                .is_none()
        });
        if saw_fuzzy && snaps.written() >= 4 {
            break;
        }
        eprintln!("round {round}: {} snapshots written", snaps.written());
    }
    assert!(saw_fuzzy, "no snapshot was taken while writes went on");
    assert!(snaps.written() >= 4, "only {} snapshots", snaps.written());
    // The purge task keeps the newest 3 snapshots and drops the log below the oldest.
    let mut purged = false;
    for _ in 0..1200 {
        let kept = snaps.list();
        let first_logged = zk_storage::TxnLog::read_from(&log, 1, 1).unwrap()[0].0;
        if kept.len() == 3 && first_logged == kept[0] + 1 {
            purged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        purged,
        "snapshots {:?} and the log were not purged",
        snaps.list()
    );
    drop(c);
    server.stop().await;

    // The newest snapshot is the complete one written at shutdown: the final state.
    let kept = snaps.list();
    assert!(kept.len() >= 2, "{kept:?}");
    let newest = *kept.last().unwrap();
    for z in &kept {
        let b = snaps.get(*z);
        let l = read_snapshot(&b[..], *z, &ReadOptions::default()).unwrap();
        eprintln!(
            "kept 0x{z:x}: {} nodes, digest {:?}",
            l.tree.node_count(),
            l.digest
        );
    }
    let (last, fuzzy) = restore(&snaps, &log, newest);
    assert!(!fuzzy, "the shutdown snapshot is complete");
    let want = dump(&last);
    assert!(want.len() > 1500);
    for z in &kept[..kept.len() - 1] {
        let (tree, _) = restore(&snaps, &log, *z);
        assert!(dump(&tree) == want, "snapshot 0x{z:x} + log differs");
    }
}
