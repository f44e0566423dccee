//! A full disk stops the node cleanly and loses nothing acknowledged.
//!
//! The data directory is a small tmpfs (mounted by the test; it needs root, which CI has:
//! without the privilege the test says so and passes vacuously). Writers fill it with 16 KiB
//! nodes until the server can no longer write its txn log; the server must then stop on its
//! own with a non-zero exit and a FATAL line naming the failure (no retry of the write, no
//! further acknowledgements). After the filesystem is grown ("space is freed"), the restarted
//! server has every write it acknowledged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use zookeeper_client as zk;

mod common;

use common::{connect, free_port};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(st.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_node_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let Some(fs) = Tmpfs::mount(&data, "24m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = common::write_config(dir.path(), port, "");
    let log_path = dir.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg("--config")
        .arg(&cfg)
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .expect("start ferrokeeper");

    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut acked: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    {
        let c = connect(&addr).await;
        c.create("/fill", b"", &open).await.expect("create /fill");
        // 24 MiB / 16 KiB = 1,536 nodes fill the disk; 6,000 bounds the loop.
        let mut failed = false;
        for batch in 0..300 {
            let mut pending = Vec::new();
            for i in 0..20 {
                let path = format!("/fill/b{batch}n{i}");
                let value = format!("{path}:").into_bytes().repeat(16 * 1024 / 16);
                let c = &c;
                let open = &open;
                pending.push(async move {
                    let r = tokio::time::timeout(
                        Duration::from_secs(10),
                        c.create(&path, &value, open),
                    )
                    .await;
                    (path, value, matches!(r, Ok(Ok(_))))
                });
            }
            for (path, value, ok) in futures::future::join_all(pending).await {
                if ok {
                    acked.insert(path, value);
                } else {
                    failed = true;
                }
            }
            if failed {
                break;
            }
        }
        assert!(failed, "the disk never filled up");
    }
    // The server stops by itself, with a non-zero status.
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = server.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = server.kill();
        panic!("the server kept running on a full disk");
    };
    assert!(!status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("FATAL") && log.to_lowercase().contains("space"),
        "no fatal line about the disk in:\n{log}"
    );
    assert!(
        acked.len() > 100,
        "only {} writes acknowledged",
        acked.len()
    );

    // Space is freed: everything acknowledged is there after a restart.
    fs.resize("256m");
    let mut server = common::start(&cfg);
    {
        let c = connect(&addr).await;
        for (path, value) in &acked {
            let (got, _) = c
                .get_data(path)
                .await
                .unwrap_or_else(|e| panic!("{path} lost: {e}"));
            assert!(&got == value, "{path} has other data");
        }
        // And the node writes again.
        c.create("/after", b"x", &open).await.expect("write after");
    }
    let _ = server.kill();
    let _ = server.wait();
    drop(fs);
}
