//! The AdminServer's `snapshot` and `restore` (Apache ZooKeeper 3.9; Debian's 3.8 has
//! neither, so keys and status codes follow the 3.9 source): a snapshot streamed out of one
//! server and posted into a fresh one gives the same tree, seen through a client; a restore
//! continues the zxid sequence and survives a restart; credentials are checked against the
//! ACL of `/` (401 without or with unusable ones, 403 when the ACL refuses them); the rate
//! limit answers 429 and is counted; a disabled command answers 503.

mod common;

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_server::ops::AdminSettings;
use zk_storage::mem::MemStore;
use zookeeper_client as zk;

/// `super:test`, the super user of the ordinary test settings.
const SUPER: &str = "digest super:test";

/// An HTTP answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request (the answer is read to the end: `Connection: close`).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Answer {
    common::within("an HTTP answer", async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(buf[..split].to_vec()).unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect::<Vec<_>>();
        let body = buf[split + 4..].to_vec();
        assert!(
            !headers
                .iter()
                .any(|(k, v)| k == "transfer-encoding" && v == "chunked"),
            "answers carry a length"
        );
        Answer {
            status: status.parse().unwrap(),
            headers,
            body,
        }
    })
    .await
}

/// An in-process server over `store` (log and snapshots) with the AdminServer as `admin`
/// says, on a free port; optionally from a recovered state.
async fn server(
    admin: AdminSettings,
    store: &MemStore,
    recovered: Option<zk_node::recovery::Recovered>,
) -> (common::TestServer, SocketAddr) {
    let mut settings = common::settings();
    settings.ops.admin = Some(AdminSettings {
        address: "127.0.0.1".into(),
        port: 0,
        ..admin
    });
    let mut bound = settings.ops.bound.subscribe();
    let stores = zk_server::Stores {
        log: Box::new(store.clone()),
        snapshots: Some(Box::new(store.clone())),
    };
    let mut b = common::ServerBuilder::new(settings).stores(stores);
    if let Some(r) = recovered {
        b = b.recovered(r.tree, r.sessions);
    }
    let server = b.start().await;
    let bound = common::within("the AdminServer", bound.wait_for(|b| b.is_some()))
        .await
        .unwrap()
        .unwrap();
    (server, bound.admin.unwrap())
}

/// What a server restarted over `store` recovers.
fn recover(store: &MemStore) -> zk_node::recovery::Recovered {
    zk_node::recovery::recover(
        store,
        store,
        zk_tree::snapshot::DEFAULT_MAX_BUFFER,
        &zk_storage::progress::NoProgress,
    )
    .unwrap()
}

/// Every node under `/` (path, data, ACL, stat), read through a client.
async fn walk(c: &zk::Client) -> Vec<(String, Vec<u8>, Vec<zk::Acl>, zk::Stat)> {
    let mut out = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        let (data, stat) = c.get_data(&p).await.unwrap();
        let (acl, _) = c.get_acl(&p).await.unwrap();
        let mut children = c.list_children(&p).await.unwrap();
        children.sort();
        for ch in children {
            todo.push(if p == "/" {
                format!("/{ch}")
            } else {
                format!("{p}/{ch}")
            });
        }
        out.push((p, data, acl, stat));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A tree with data, an ACL, a sequential node and an ephemeral.
async fn populate(c: &zk::Client, top: &str) {
    c.create(top, b"top", &common::persistent()).await.unwrap();
    for i in 0..20 {
        c.create(
            &format!("{top}/n{i}"),
            format!("v{i}").as_bytes(),
            &common::persistent(),
        )
        .await
        .unwrap();
    }
    c.set_data(&format!("{top}/n3"), b"changed", None)
        .await
        .unwrap();
    let read_only = zk::Acls::anyone_read();
    c.create(
        &format!("{top}/ro"),
        b"",
        &zk::CreateMode::Persistent.with_acls(read_only),
    )
    .await
    .unwrap();
    c.create(
        &format!("{top}/seq-"),
        b"s",
        &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .unwrap();
    c.create(&format!("{top}/eph"), b"e", &common::ephemeral())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_snapshot_taken_over_http_restores_into_a_fresh_server_as_the_same_tree() {
    let a_store = MemStore::new();
    let (a, a_admin) = server(AdminSettings::default(), &a_store, None).await;
    let ca = a.client().await;
    populate(&ca, "/app").await;

    let snap = http(
        a_admin,
        "GET",
        "/commands/snapshot?streaming=true",
        Some(SUPER),
        b"",
    )
    .await;
    assert_eq!(snap.status, 200, "{}", String::from_utf8_lossy(&snap.body));
    assert_eq!(
        snap.header("content-type"),
        Some("application/octet-stream")
    );
    let size: usize = snap.header("snapshot_size").unwrap().parse().unwrap();
    assert_eq!(size, snap.body.len());
    let (_, stat) = ca.get_data("/app/eph").await.unwrap();
    let last = snap.header("last_zxid").unwrap().to_string();
    assert!(last.starts_with("0x"), "{last}");
    let zxid = i64::from_str_radix(&last[2..], 16).unwrap();
    assert!(
        zxid >= stat.mzxid,
        "{last} vs the last write 0x{:x}",
        stat.mzxid
    );
    // It is a snapshot like any other: stored under its zxid, in ZooKeeper's format.
    assert!(zk_storage::SnapshotStore::list(&a_store)
        .unwrap()
        .contains(&zxid));
    let loaded = zk_tree::snapshot::read_snapshot(&snap.body[..], zxid, &Default::default())
        .expect("the stream is a snapshot");
    assert!(loaded.tree.node(b"/app/n19").is_some());

    // Posted into a fresh server.
    let b_store = MemStore::new();
    let (b, b_admin) = server(AdminSettings::default(), &b_store, None).await;
    let rest = http(
        b_admin,
        "POST",
        "/commands/restore",
        Some(SUPER),
        &snap.body,
    )
    .await;
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));
    let v = rest.json();
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["last_zxid", "command", "error"]
    );
    assert_eq!(
        v["last_zxid"], zxid,
        "a fresh server takes the snapshot's zxid"
    );
    assert_eq!(v["command"], "restore");
    assert!(v["error"].is_null());

    let cb = b.client().await;
    let theirs = walk(&ca).await;
    assert_eq!(walk(&cb).await, theirs);
    // The ephemeral's session came along: its owner is a session the restored server knows.
    let dump = http(b_admin, "GET", "/commands/dump", None, b"")
        .await
        .json();
    let owner = theirs
        .iter()
        .find(|(p, ..)| p == "/app/eph")
        .unwrap()
        .3
        .ephemeral_owner;
    assert!(
        dump["session_id_to_ephemeral_paths"]
            .as_object()
            .unwrap()
            .contains_key(&owner.to_string()),
        "{dump}"
    );
    let mntr = http(b_admin, "GET", "/commands/monitor", None, b"")
        .await
        .json();
    assert_eq!(mntr["cnt_restore_time"], 1, "{mntr}");
    drop((ca, cb));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_restore_continues_the_zxid_sequence_and_survives_a_restart() {
    // The snapshot comes from a server with few txns...
    let a_store = MemStore::new();
    let (a, a_admin) = server(AdminSettings::default(), &a_store, None).await;
    let ca = a.client().await;
    ca.create("/restored", b"r", &common::persistent())
        .await
        .unwrap();
    let snap = http(a_admin, "GET", "/commands/snap", Some(SUPER), b"").await;
    assert_eq!(snap.status, 200);
    let snap_zxid = i64::from_str_radix(&snap.header("last_zxid").unwrap()[2..], 16).unwrap();

    // ...and goes into one that has logged more.
    let b_store = MemStore::new();
    let (b, b_admin) = server(AdminSettings::default(), &b_store, None).await;
    let cb = b.client().await;
    populate(&cb, "/old").await;
    let (_, old) = cb.get_data("/old/n19").await.unwrap();
    assert!(old.mzxid > snap_zxid);
    let rest = http(b_admin, "POST", "/commands/rest", Some(SUPER), &snap.body).await;
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));
    let continued = rest.json()["last_zxid"].as_i64().unwrap();
    assert!(continued > old.mzxid, "the sequence never goes back");
    // Every connection was closed; clients reconnect into the restored state.
    drop(cb);
    let cb = b.client().await;
    assert_eq!(cb.get_data("/restored").await.unwrap().0, b"r");
    assert!(matches!(cb.get_data("/old").await, Err(zk::Error::NoNode)));
    let (stat, _) = cb
        .create("/after", b"a", &common::persistent())
        .await
        .unwrap();
    // The reconnect's createSession took continued + 1.
    assert_eq!(stat.czxid, continued + 2);
    let before_restart = walk(&cb).await;
    // A crash now (no shutdown snapshot): the restored snapshot, named after the zxid the
    // node continued from, and the log after it (createSession, /after) make the same state.
    let crashed = recover(&b_store);
    assert_eq!(crashed.snapshot, Some(continued));
    assert_eq!(crashed.replayed, 2);
    drop(cb);
    b.stop().await;
    let (b2, _) = server(AdminSettings::default(), &b_store, Some(crashed)).await;
    let cb2 = b2.client().await;
    assert_eq!(walk(&cb2).await, before_restart);
    drop((ca, cb2));
    a.stop().await;
    b2.stop().await;
}

#[tokio::test]
async fn credentials_are_checked_against_the_acl_of_the_root() {
    // No rate limit in the way (an interval of 0 lets every call through).
    let unlimited = AdminSettings {
        rate_limiter_interval_ms: 0,
        ..AdminSettings::default()
    };
    let store = MemStore::new();
    let (srv, admin) = server(unlimited, &store, None).await;
    let path = "/commands/snapshot?streaming=false";
    let refused = |a: &Answer, status: u16, command: &str, error: &str| {
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(
            a.json(),
            serde_json::json!({"command": command, "error": error})
        );
    };
    let a = http(admin, "GET", path, None, b"").await;
    refused(&a, 401, "snapshot", "Auth info is missing for the command");
    // 401 and 403 echo the name asked for, as upstream's CommandResponse(cmdName, ...).
    let a = http(admin, "GET", "/commands/snap", None, b"").await;
    refused(&a, 401, "snap", "Auth info is missing for the command");
    for bad in ["foo bar", "digest", "digest  a:b", "", "x509"] {
        let a = http(admin, "GET", path, Some(bad), b"").await;
        refused(&a, 401, "snapshot", "Not authenticated");
    }
    // world:anyone:cdrwa on / (the default): any identity will do.
    let a = http(admin, "GET", path, Some("digest anyone:at-all"), b"").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        serde_json::json!({"command": "snapshot", "error": null})
    );
    assert!(a.header("last_zxid").is_some() && a.header("snapshot_size").is_some());

    // Only admin:secret on / now (and admin:secret with READ alone on a second entry
    // changes nothing: every bit of ALL must be granted).
    let c = srv.client().await;
    c.auth("digest", b"super:test").await.unwrap();
    let admin_id = zk_core::auth::generate_digest("admin:secret");
    let acl = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("digest", &admin_id),
    )];
    c.set_acl("/", &acl, None).await.unwrap();
    for (who, status) in [
        ("digest admin:wrong", 403),
        ("ip", 403),
        ("digest admin:secret", 200),
        (SUPER, 200),
    ] {
        let a = http(admin, "GET", path, Some(who), b"").await;
        assert_eq!(
            a.status,
            status,
            "{who}: {}",
            String::from_utf8_lossy(&a.body)
        );
        if status == 403 {
            refused(&a, 403, "snapshot", "Not authorized");
        }
    }
    let acl = [
        zk::Acl::new(zk::Permission::READ, zk::AuthId::new("ip", "127.0.0.1")),
        zk::Acl::new(zk::Permission::ALL, zk::AuthId::new("digest", &admin_id)),
    ];
    c.set_acl("/", &acl, None).await.unwrap();
    let a = http(admin, "GET", path, Some("ip"), b"").await;
    refused(&a, 403, "snapshot", "Not authorized");
    let acl = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("ip", "127.0.0.1"),
    )];
    c.set_acl("/", &acl, None).await.unwrap();
    let a = http(admin, "GET", path, Some("ip"), b"").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // Restore asks the same.
    let a = http(
        admin,
        "POST",
        "/commands/restore",
        Some("digest admin:secret"),
        b"x",
    )
    .await;
    refused(&a, 403, "restore", "Not authorized");
    drop(c);
    srv.stop().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_and_is_counted() {
    // 2e9: 2000 s for the snapshot limiter (upstream counts it in microseconds), 23 days
    // for restore's.
    let admin = AdminSettings {
        rate_limiter_interval_ms: 2_000_000_000,
        ..AdminSettings::default()
    };
    let store = MemStore::new();
    let (srv, addr) = server(admin, &store, None).await;
    let path = "/commands/snapshot?streaming=false";
    assert_eq!(http(addr, "GET", path, Some(SUPER), b"").await.status, 200);
    let a = http(addr, "GET", path, Some(SUPER), b"").await;
    assert_eq!(a.status, 429);
    assert_eq!(
        a.json(),
        serde_json::json!({"command": "snapshot", "error": null})
    );
    // A restore of bytes that are no snapshot fails (500, counted) and uses the permit.
    for status in [500, 429] {
        let a = http(
            addr,
            "POST",
            "/commands/restore",
            Some(SUPER),
            b"no snapshot",
        )
        .await;
        assert_eq!(a.status, status);
        assert_eq!(
            a.json(),
            serde_json::json!({"command": "restore", "error": null})
        );
    }
    let m = http(addr, "GET", "/commands/monitor", None, b"")
        .await
        .json();
    assert_eq!(m["snapshot_rate_limited_count"], 1, "{m}");
    assert_eq!(m["restore_rate_limited_count"], 1);
    assert_eq!(m["restore_error_count"], 1);
    assert_eq!(m["snapshot_error_count"], 0);
    assert_eq!(m["cnt_restore_time"], 0);
    // The tree is untouched by the failed restore.
    let c = srv.client().await;
    assert!(c.get_data("/zookeeper").await.is_ok());
    drop(c);
    srv.stop().await;
}

#[tokio::test]
async fn disabled_commands_answer_503_once_authenticated() {
    let admin = AdminSettings {
        snapshot_enabled: false,
        restore_enabled: false,
        ..AdminSettings::default()
    };
    let store = MemStore::new();
    let (srv, addr) = server(admin, &store, None).await;
    for (method, path, primary) in [
        ("GET", "/commands/snapshot", "snapshot"),
        ("POST", "/commands/restore", "restore"),
    ] {
        // Credentials are asked for first, as upstream checks them before the switch.
        assert_eq!(http(addr, method, path, None, b"").await.status, 401);
        let a = http(addr, method, path, Some(SUPER), b"").await;
        assert_eq!(a.status, 503);
        assert_eq!(
            a.json(),
            serde_json::json!({"command": primary, "error": null})
        );
    }
    // The wrong method meets upstream's null response: 500.
    let admin = AdminSettings::default();
    let store = MemStore::new();
    let (srv2, addr2) = server(admin, &store, None).await;
    assert_eq!(
        http(addr2, "POST", "/commands/snapshot", Some(SUPER), b"")
            .await
            .status,
        500
    );
    assert_eq!(
        http(addr2, "GET", "/commands/restore", Some(SUPER), b"")
            .await
            .status,
        500
    );
    srv.stop().await;
    srv2.stop().await;
}

#[tokio::test]
async fn a_3_9_trailer_names_the_zxid_and_trailing_garbage_is_refused() {
    let unlimited = AdminSettings {
        rate_limiter_interval_ms: 0,
        ..AdminSettings::default()
    };
    let store = MemStore::new();
    let (a, addr) = server(unlimited.clone(), &store, None).await;
    let c = a.client().await;
    c.create("/t", b"t", &common::persistent()).await.unwrap();
    let snap = http(addr, "GET", "/commands/snapshot", Some(SUPER), b"").await;
    assert_eq!(snap.status, 200);
    // Apache ZooKeeper 3.9 ends a snapshot with lastZxid and a seal (i64 checksum, "/").
    let mut v39 = snap.body.clone();
    v39.extend_from_slice(&0x7_0000_0005i64.to_be_bytes());
    v39.extend_from_slice(&[0; 8]);
    v39.extend_from_slice(&[0, 0, 0, 1, b'/']);
    let b_store = MemStore::new();
    let (b, b_addr) = server(unlimited, &b_store, None).await;
    let r = http(b_addr, "POST", "/commands/restore", Some(SUPER), &v39).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["last_zxid"], 0x7_0000_0005i64);
    let cb = b.client().await;
    assert_eq!(cb.get_data("/t").await.unwrap().0, b"t");
    // Anything longer after the snapshot is not a snapshot: refused, nothing changed.
    let mut junk = snap.body.clone();
    junk.extend(std::iter::repeat_n(7u8, 5000));
    let r = http(b_addr, "POST", "/commands/restore", Some(SUPER), &junk).await;
    assert_eq!(r.status, 500);
    let m = http(b_addr, "GET", "/commands/monitor", None, b"")
        .await
        .json();
    assert_eq!(m["restore_error_count"], 1);
    assert_eq!(m["cnt_restore_time"], 1);
    drop((c, cb));
    a.stop().await;
    b.stop().await;
}
