//! A zoo.cfg describing an ensemble is refused at start (ensembles are not built yet);
//! a single participant runs standalone, as Apache ZooKeeper runs it.

mod common;

use std::process::Command;

#[test]
fn an_ensemble_config_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = common::write_config(
        dir.path(),
        port,
        "initLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n\
         server.3=127.0.0.3:2888:3888\n",
    );
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/myid"), "1\n").unwrap();
    // It exits by itself: nothing to wait for but the process.
    let out = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started an ensemble member: {stderr}"
    );
    assert!(
        stderr.contains("ensembles are not supported yet"),
        "{stderr}"
    );
    // Nothing was listening, nothing was written.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!dir.path().join("data/version-2").exists());
}

#[tokio::test]
async fn a_single_server_line_runs_standalone() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = common::write_config(dir.path(), port, "server.1=127.0.0.1:2888:3888\n");
    let child = common::start(&cfg);
    let client = common::connect(&format!("127.0.0.1:{port}")).await;
    client
        .create(
            "/standalone",
            b"1",
            &zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .unwrap();
    drop(client);
    common::stop(child);
}
