//! The audit log (`audit.enable`): the exact lines Apache ZooKeeper 3.8 writes for create,
//! delete, setData, setAcl, multi, a failed multi, failures, a digest identity and the
//! deletion of a closed session's ephemerals, plus serverStart and serverStop. The expected
//! lines were captured from Debian's 3.8 (`ZooKeeperServerMain` with `audit.enable=true` and
//! slf4j-simple, driven by zkCli and this test's client) and differ only in session ids.

mod common;

use std::path::Path;

use zk_server::audit::AuditSettings;
use zookeeper_client as zk;

/// The audit lines in `file`, without the `%d{ISO8601} %p %c{2}: ` prefix, as
/// (level, message).
fn lines(file: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            // "2026-12-07 07:00:00,123 INFO audit.Slf4jAuditLogger: <message>"
            let (head, msg) = l.split_once(" audit.Slf4jAuditLogger: ").unwrap();
            let level = head.rsplit(' ').next().unwrap().to_string();
            assert!(
                regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|ERROR)$")
                    .unwrap()
                    .is_match(head),
                "{head}"
            );
            (level, msg.to_string())
        })
        .collect()
}

/// The operations whose audit lines are compared: `c` is closed at the end, and its
/// ephemeral's deletion awaited through `watcher`. Returns `c`'s session as upstream
/// prints it.
async fn drive(c: zk::Client, watcher: &zk::Client) -> String {
    let s = format!("0x{:x}", c.session_id().0);
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());

    c.create("/a", b"data", &open).await.unwrap();
    c.create("/a/e", b"x", &common::ephemeral()).await.unwrap();
    c.create("/a/s-", b"y", &seq).await.unwrap();
    c.set_data("/a", b"newdata", None).await.unwrap();
    let acl = [
        zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("world", "anyone")),
        zk::Acl::new(zk::Permission::READ, zk::AuthId::new("ip", "127.0.0.1")),
    ];
    c.set_acl("/a", &acl, None).await.unwrap();
    c.get_data("/a").await.unwrap(); // reads are not audited
    assert!(c.delete("/nonexistent", None).await.is_err());
    assert!(c.create("/a", b"dup", &open).await.is_err());
    assert!(c.set_data("/a", b"v", Some(99)).await.is_err());
    let mut m = c.new_multi_writer();
    m.add_create("/m", b"", &open).unwrap();
    m.add_create("/m/s-", b"", &seq).unwrap();
    m.add_set_data("/a", b"m", None).unwrap();
    m.add_delete("/a/s-0000000001", None).unwrap();
    m.commit().await.unwrap();
    let mut m = c.new_multi_writer();
    m.add_create("/x", b"", &open).unwrap();
    m.add_delete("/nonexistent", None).unwrap();
    assert!(m.commit().await.is_err());
    c.auth("digest", b"u1:p1").await.unwrap();
    c.create("/b", b"b", &open).await.unwrap();
    c.delete("/b", None).await.unwrap();
    // Closing the session deletes its ephemeral, logged with the server's user.
    let (stat, deleted) = watcher.check_and_watch_stat("/a/e").await.unwrap();
    assert!(stat.is_some());
    drop(c);
    let event = common::within("the ephemeral's deletion", deleted.changed()).await;
    assert_eq!(event.event_type, zk::EventType::NodeDeleted);
    s
}

#[tokio::test]
async fn audit_lines_are_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zookeeper_audit.log");
    let mut settings = common::settings();
    settings.audit = Some(AuditSettings {
        user: "zkuser".into(),
        file: Some(file.clone()),
    });
    let srv = common::ServerBuilder::new(settings).start().await;
    let watcher = srv.client().await;
    let s = drive(srv.client().await, &watcher).await;
    drop(watcher);
    srv.stop().await;

    let ok = |m: &str| ("INFO".to_string(), m.to_string());
    let err = |m: &str| ("ERROR".to_string(), m.to_string());
    let u = "user=127.0.0.1\tip=127.0.0.1";
    let d = "user=u1,127.0.0.1\tip=127.0.0.1";
    let expected = vec![
        ok("user=zkuser\toperation=serverStart\tresult=success"),
        ok(&format!("session={s}\t{u}\toperation=create\tznode=/a\tznode_type=persistent\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=create\tznode=/a/e\tznode_type=ephemeral\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=create\tznode=/a/s-0000000001\tznode_type=persistent_sequential\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=setData\tznode=/a\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=setAcl\tznode=/a\tacl=world:anyone:cdrwaip:127.0.0.1:r\tresult=success")),
        err(&format!("session={s}\t{u}\toperation=delete\tznode=/nonexistent\tresult=failure")),
        err(&format!("session={s}\t{u}\toperation=create\tznode=/a\tznode_type=persistent\tresult=failure")),
        err(&format!("session={s}\t{u}\toperation=setData\tznode=/a\tresult=failure")),
        // A multi: one line per op (a sequential create has no znode_type: upstream looks
        // the mode up by the created path); check ops are not logged.
        ok(&format!("session={s}\t{u}\toperation=create\tznode=/m\tznode_type=persistent\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=create\tznode=/m/s-0000000000\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=setData\tznode=/a\tresult=success")),
        ok(&format!("session={s}\t{u}\toperation=delete\tznode=/a/s-0000000001\tresult=success")),
        // A failed multi: one line, no znode.
        err(&format!("session={s}\t{u}\toperation=multiOperation\tresult=failure")),
        ok(&format!("session={s}\t{d}\toperation=create\tznode=/b\tznode_type=persistent\tresult=success")),
        ok(&format!("session={s}\t{d}\toperation=delete\tznode=/b\tresult=success")),
        ok(&format!("session={s}\tuser=zkuser\toperation=ephemeralZNodeDeletionOnSessionCloseOrExpire\tznode=/a/e\tresult=success")),
        ok("user=zkuser\toperation=serverStop\tresult=invoked"),
    ];
    assert_eq!(lines(&file), expected);
}

#[tokio::test]
async fn nothing_is_audited_unless_enabled() {
    let srv = common::ServerBuilder::new(common::settings()).start().await;
    let c = srv.client().await;
    c.create("/q", b"", &common::persistent()).await.unwrap();
    drop(c);
    srv.stop().await;
    let sys = zk_server::config::SystemProperties::default();
    assert!(AuditSettings::from_properties(&sys).is_none());
    let (sys, _) = zk_server::config::SystemProperties::from_args([
        "-Dzookeeper.audit.enable=true".to_string(),
    ])
    .unwrap();
    let on = AuditSettings::from_properties(&sys).unwrap();
    assert_eq!(on.user, zk_server::audit::system_user());
    assert!(!on.user.is_empty());
}

/// Apache ZooKeeper 3.8 (Debian) with `audit.enable=true`, logging through slf4j-simple
/// into a file: the same operations give the same lines, session ids aside.
#[tokio::test]
async fn audit_lines_match_a_running_apache_zookeeper() {
    use zk_testkit::java;
    let jars = [
        "zookeeper.jar",
        "zookeeper-jute.jar",
        "slf4j-api.jar",
        "slf4j-simple.jar",
    ]
    .iter()
    .map(|j| java::jar(j))
    .collect::<Result<Vec<_>, _>>()
    .and_then(|cp| java::classpath(&cp));
    let Some(cp) = java::available(&jars, "audit", "the audit lines against Apache ZooKeeper")
    else {
        return;
    };
    let Some(java_bin) = java::require_tool("java", "the audit lines against Apache ZooKeeper")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("java.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(java_bin)
        .arg("-cp")
        .arg(cp)
        .arg("-Dzookeeper.audit.enable=true")
        .arg("-Dzookeeper.admin.enableServer=false")
        .arg(format!(
            "-Dorg.slf4j.simpleLogger.logFile={}",
            log.display()
        ))
        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
        .arg(port.to_string())
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    // Wait for the JVM to listen: bounded attempts, each an awaited connect.
    let mut up = false;
    for _ in 0..120 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(up, "Apache ZooKeeper did not come up");
    let connect = || async {
        common::within(
            "client",
            zk::Client::connector()
                .with_session_timeout(std::time::Duration::from_secs(10))
                .connect(&addr),
        )
        .await
        .unwrap()
    };
    let watcher = connect().await;
    let theirs_session = drive(connect().await, &watcher).await;
    drop(watcher);
    // serverStop comes from a JVM shutdown hook: SIGTERM, then wait for the exit.
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let exited = tokio::task::spawn_blocking(move || child.wait()).await;
    assert!(matches!(exited, Ok(Ok(_))));
    let theirs: Vec<(String, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (head, msg) = l.split_once(" org.apache.zookeeper.audit.Slf4jAuditLogger - ")?;
            let level = head.rsplit(' ').next()?.to_string();
            Some((level, msg.replace(&theirs_session, "S")))
        })
        .collect();

    let file = dir.path().join("ours.log");
    let mut settings = common::settings();
    settings.audit = Some(AuditSettings {
        user: zk_server::audit::system_user(),
        file: Some(file.clone()),
    });
    let srv = common::ServerBuilder::new(settings).start().await;
    let watcher = srv.client().await;
    let ours_session = drive(srv.client().await, &watcher).await;
    drop(watcher);
    srv.stop().await;
    let ours: Vec<(String, String)> = lines(&file)
        .into_iter()
        .map(|(level, msg)| (level, msg.replace(&ours_session, "S")))
        .collect();
    assert_eq!(theirs.len(), 18, "{theirs:#?}");
    assert_eq!(ours, theirs);
}
