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

/// One participant with the default standaloneEnabled=true: QuorumPeerMain runs it
/// standalone, on the client address of its own line (here an IPv6 literal).
#[tokio::test]
async fn a_single_server_line_runs_standalone_on_its_client_address() {
    let (host, connect_host) = if std::net::TcpListener::bind("[::1]:0").is_ok() {
        ("[::1]", "[::1]")
    } else {
        eprintln!("no ::1 on this host: the server line's client address is 127.0.0.1");
        ("127.0.0.1", "127.0.0.1")
    };
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("myid"), "1\n").unwrap();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nserver.1=127.0.0.1:2888:3888;{host}:{port}\n",
            data.display()
        ),
    )
    .unwrap();
    let child = common::start(&cfg);
    let client = common::connect(&format!("{connect_host}:{port}")).await;
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    client.create("/standalone", b"1", &open).await.unwrap();
    drop(client);
    common::stop(child);
}
