//! `ferrokeeper export` then `ferrokeeper import`: a tree written through the server comes
//! back identical (data, Stat, ACLs, open sessions) after a round trip through an Apache
//! ZooKeeper data directory. (That Apache ZooKeeper itself reads the exported snapshot and
//! that its own directories import is checked in crates/zk-storage/tests/java_formats.rs.)

mod common;

use std::collections::BTreeMap;

use common::{connect, free_port, run_tool, start, stop, write_config};
use zookeeper_client as zk;

async fn dump(
    c: &zk::Client,
    path: &str,
    out: &mut BTreeMap<String, (Vec<u8>, zk::Stat, Vec<zk::Acl>)>,
) {
    let (data, stat) = c.get_data(path).await.expect("get_data");
    let (acl, _) = c.get_acl(path).await.expect("get_acl");
    out.insert(path.to_string(), (data, stat, acl));
    let (children, _) = c.get_children(path).await.expect("get_children");
    for name in children {
        let child = if path == "/" {
            format!("/{name}")
        } else {
            format!("{path}/{name}")
        };
        Box::pin(dump(c, &child, out)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_round_trips_the_tree() {
    let a = tempfile::tempdir().expect("dir");
    let (pa, pb) = (free_port(), free_port());
    let cfg_a = write_config(a.path(), pa, "");
    let server = start(&cfg_a);
    let addr_a = format!("127.0.0.1:{pa}");
    let c = connect(&addr_a).await;
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    c.create("/app", b"root data", &open).await.expect("create");
    for i in 0..50 {
        c.create(&format!("/app/n{i}"), format!("v{i}").as_bytes(), &open)
            .await
            .expect("create");
    }
    c.set_data("/app/n7", b"changed", None).await.expect("set");
    c.create("/app/big", &vec![7u8; 300_000], &open)
        .await
        .expect("big");
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    c.create("/app/seq-", b"", &seq).await.expect("seq");
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create("/app/live", b"eph", &eph)
        .await
        .expect("ephemeral");
    let creator = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    c.auth("digest", b"u:p").await.expect("auth");
    c.create("/app/mine", b"secret", &creator)
        .await
        .expect("acl node");
    let mut before = BTreeMap::new();
    dump(&c, "/app", &mut before).await;
    // The session stays open while the server stops: its ephemeral must travel too.
    stop(server);
    drop(c);

    let zkdir = tempfile::tempdir().expect("dir");
    let zkpath = zkdir.path().join("zk");
    run_tool(&[
        "export",
        "--to-zookeeper-data-dir",
        zkpath.to_str().unwrap(),
        "--config",
        cfg_a.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_dir(zkpath.join("version-2"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snapshot.")),
        "export wrote a snapshot"
    );

    let b = tempfile::tempdir().expect("dir");
    let cfg_b = write_config(b.path(), pb, "");
    run_tool(&[
        "import",
        "--zookeeper-data-dir",
        zkpath.to_str().unwrap(),
        "--config",
        cfg_b.to_str().unwrap(),
    ]);
    // Importing twice into the same dataDir is refused.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .args([
            "import",
            "--zookeeper-data-dir",
            zkpath.to_str().unwrap(),
            "--config",
            cfg_b.to_str().unwrap(),
        ])
        .output()
        .expect("run");
    assert!(
        !again.status.success(),
        "a second import into a non-empty dataDir must fail"
    );

    let server = start(&cfg_b);
    let c = connect(&format!("127.0.0.1:{pb}")).await;
    c.auth("digest", b"u:p").await.expect("auth");
    let mut after = BTreeMap::new();
    dump(&c, "/app", &mut after).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, b) in &before {
        assert_eq!(Some(b), after.get(path), "{path}");
    }
    // New writes continue after the imported zxids.
    let (stat, _) = c
        .create("/app/after", b"", &open)
        .await
        .expect("create after import");
    assert!(stat.czxid > before["/app"].1.pzxid);
    stop(server);
}
