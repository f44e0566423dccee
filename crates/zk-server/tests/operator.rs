//! The operator surface: the AdminServer (`/commands/<name>`, every 3.9 name and alias, the
//! JSON keys of Apache ZooKeeper 3.8 checked against a running one when Java is present),
//! `/healthz` and `/readyz`, the Prometheus page (`promtool check metrics`, every name
//! Grafana dashboard 10465 and the documented alert rules query, with its type), and the
//! official Docker image's zoo.cfg (client port on the `server.1` line).
//!
//! The comparison with Apache ZooKeeper starts Debian's 3.8 (with Jetty on the classpath)
//! on free ports; without Java it is skipped with a banner, unless
//! `FERROKEEPER_REQUIRE_JAVA=1`. Without promtool the promtool check is skipped likewise,
//! unless `CI=true`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_server::ops::admin::COMMANDS;
use zk_server::ops::{AdminSettings, Bound};
use zookeeper_client as zk;

// ----- helpers -------------------------------------------------------------------------

/// `GET path` (or POST with an empty body) over HTTP/1.1; (status, body).
async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    common::within("an HTTP answer", async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    })
    .await
}

async fn get_json(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path).await;
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, v)
}

/// An in-process server with the AdminServer and the metrics page on free ports.
async fn ops_server() -> Option<(common::TestServer, Bound)> {
    let mut settings = common::settings();
    settings.four_letter_whitelist =
        zk_server::config::FourLetterWhitelist::from_property(Some("*"), false);
    settings.ops.admin = Some(AdminSettings {
        address: "127.0.0.1".into(),
        port: 0,
        command_url: "/commands".into(),
        ..AdminSettings::default()
    });
    settings.ops.prometheus = Some(("127.0.0.1".into(), 0));
    let mut bound = settings.ops.bound.subscribe();
    let server = common::local(settings).await?;
    let b = common::within("the operator servers", bound.wait_for(|b| b.is_some()))
        .await
        .unwrap()
        .unwrap_or_default();
    Some((server, b))
}

/// Keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The JSON keys Apache ZooKeeper 3.8.0 (Debian) answers standalone, captured with curl
/// (`connections` entries once a session exists). `None`: error answers.
fn expected_keys(primary: &str) -> Vec<&'static str> {
    let tail = ["command", "error"];
    let data: &[&str] = match primary {
        "configuration" => &[
            "client_port",
            "data_dir",
            "data_log_dir",
            "tick_time",
            "max_client_cnxns",
            "min_session_timeout",
            "max_session_timeout",
            "server_id",
            "client_port_listen_backlog",
        ],
        "connections" => &["connections", "secure_connections"],
        "dirs" => &["datadir_size", "logdir_size"],
        "dump" => &[
            "expiry_time_to_session_ids",
            "session_id_to_ephemeral_paths",
        ],
        "get_trace_mask" | "set_trace_mask" => &["tracemask"],
        "hash" => &["digests"],
        "initial_configuration" => &["initial_configuration"],
        "is_read_only" => &["read_only"],
        "last_snapshot" => &["zxid", "timestamp"],
        "observers" => &["synced_observers", "observers"],
        "server_stats" => &[
            "version",
            "read_only",
            "server_stats",
            "client_response",
            "node_count",
        ],
        "stats" => &[
            "version",
            "read_only",
            "server_stats",
            "client_response",
            "node_count",
            "connections",
            "secure_connections",
        ],
        "voting_view" => &["current_config"],
        "watch_summary" => &["num_connections", "num_paths", "num_total_watches"],
        "watches" => &["session_id_to_watched_paths"],
        "watches_by_path" => &["path_to_session_ids"],
        "zabstate" => &["voting", "zabstate"],
        _ => &[],
    };
    data.iter().chain(tail.iter()).copied().collect()
}

/// Commands whose data keys are open-ended (environment, properties, metrics).
const OPEN_KEYS: &[&str] = &["environment", "system_properties", "monitor"];

// ----- the AdminServer -----------------------------------------------------------------

#[tokio::test]
async fn every_command_and_alias_answers_with_upstreams_keys() {
    let Some((server, bound)) = ops_server().await else {
        return;
    };
    let admin = bound.admin.expect("admin server bound");
    // A session with an ephemeral and a watch, so the tables have rows.
    let client = server.client().await;
    client
        .create("/op-e", b"x", &common::ephemeral())
        .await
        .unwrap();
    let (_, _, _w) = client.get_and_watch_data("/op-e").await.unwrap();

    for c in COMMANDS {
        for name in std::iter::once(&c.primary).chain(c.aliases) {
            let path = if c.primary == "set_trace_mask" {
                format!("/commands/{name}?traceMask=306")
            } else {
                format!("/commands/{name}")
            };
            let (status, v) = get_json(admin, &path).await;
            if !matches!(c.primary, "snapshot" | "restore") {
                assert_eq!(v["command"], c.primary, "{name}: {v}");
            }
            match c.primary {
                "snapshot" | "restore" => {
                    // Credentials first (tests/snaprest.rs has the rest); the name echoed
                    // is the one asked for, as upstream's CommandResponse(cmdName, ...).
                    assert_eq!(status, 401, "{name}");
                    assert_eq!(keys(&v), ["command", "error"], "{name}");
                    assert_eq!(v["command"], *name);
                    assert_eq!(v["error"], "Auth info is missing for the command");
                    continue;
                }
                "leader" => {
                    assert_eq!(status, 200);
                    assert_eq!(v["error"], "server is not initialized");
                    assert_eq!(keys(&v), ["error", "command"]);
                    continue;
                }
                _ => {}
            }
            assert_eq!(status, 200, "{name}");
            assert!(v["error"].is_null(), "{name}: {v}");
            if OPEN_KEYS.contains(&c.primary) {
                continue;
            }
            assert_eq!(keys(&v), expected_keys(c.primary), "{name}");
        }
    }

    // Figures that say the session is there.
    let (_, v) = get_json(admin, "/commands/stats").await;
    assert!(
        v["server_stats"]["num_alive_client_connections"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(v["server_stats"]["server_state"], "standalone");
    let (_, v) = get_json(admin, "/commands/mntr").await;
    assert_eq!(v["command"], "monitor");
    assert_eq!(v["server_state"], "standalone");
    assert!(v["ephemerals_count"].as_u64().unwrap() >= 1);
    assert!(v["avg_latency"].is_f64());
    assert!(v.get("p999_readlatency").is_some());
    let (_, v) = get_json(admin, "/commands/dump").await;
    let eph = v["session_id_to_ephemeral_paths"].as_object().unwrap();
    assert!(eph
        .values()
        .any(|p| p.as_array().unwrap().iter().any(|p| p == "/op-e")));
    let (_, v) = get_json(admin, "/commands/wchp").await;
    assert!(v["path_to_session_ids"].get("/op-e").is_some(), "{v}");
    let (_, v) = get_json(admin, "/commands/connections").await;
    let conn = &v["connections"][0];
    for k in [
        "remote_socket_address",
        "session_id",
        "last_operation",
        "avg_latency",
    ] {
        assert!(conn.get(k).is_some(), "{k} in {conn}");
    }
    let (status, v) = get_json(admin, "/commands/stmk").await;
    assert_eq!(status, 200);
    assert_eq!(v["error"], "setTraceMask requires long traceMask argument");

    // Unknown commands: 200 with the error, the name echoed.
    let (status, v) = get_json(admin, "/commands/nosuch").await;
    assert_eq!(status, 200);
    assert_eq!(keys(&v), ["command", "error"]);
    assert_eq!(v["error"], "Unknown command: nosuch");

    // The index lists primaries, sorted, as links.
    let (status, html) = http(admin, "GET", "/commands").await;
    assert_eq!(status, 200);
    let mut primaries: Vec<&str> = COMMANDS.iter().map(|c| c.primary).collect();
    primaries.sort_unstable();
    let expected: String = primaries
        .iter()
        .map(|p| format!("<a href=\"/commands/{p}\">{p}</a>\n<br/>\n"))
        .collect();
    assert_eq!(html, expected);

    // Probes.
    assert_eq!(http(admin, "GET", "/healthz").await.0, 200);
    assert_eq!(http(admin, "GET", "/readyz").await.0, 200);
    // The JSON is Jackson-shaped.
    let (_, text) = http(admin, "GET", "/commands/ruok").await;
    assert_eq!(
        text,
        "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}\n"
    );
    drop(client);
}

#[tokio::test]
async fn readyz_is_503_while_the_node_does_not_serve() {
    // Operator servers over a core that is gone: alive, not ready, and commands that need a
    // server say so as upstream does (200 with the error).
    let mut settings = zk_server::Settings::default();
    settings.ops.admin = Some(AdminSettings {
        address: "127.0.0.1".into(),
        port: 0,
        command_url: "/admin/".into(),
        ..AdminSettings::default()
    });
    let settings = Arc::new(settings);
    let (core_tx, core_rx) = tokio::sync::mpsc::channel(1);
    drop(core_rx);
    let state = Arc::new(zk_server::ops::OpsState::new(
        settings,
        Arc::new(zk_server::stats::Stats::new()),
        core_tx,
    ));
    state.set_serving(true);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let bound = zk_server::ops::start(state, stop_rx).await;
    let admin = bound.admin.unwrap();
    assert_eq!(http(admin, "GET", "/healthz").await.0, 200);
    assert_eq!(http(admin, "GET", "/readyz").await.0, 503);
    // admin.commandURL is honoured.
    let (status, v) = get_json(admin, "/admin/stat").await;
    assert_eq!(status, 200);
    assert_eq!(v["command"], "stats");
    assert_eq!(
        v["error"],
        "This ZooKeeper instance is not currently serving requests"
    );
    // Commands that need no server still answer.
    let (_, v) = get_json(admin, "/admin/gtmk").await;
    assert_eq!(v["tracemask"], 306);
    assert_eq!(http(admin, "GET", "/commands/ruok").await.0, 404);
    let _ = stop.send(true);
}

// ----- against Apache ZooKeeper 3.8 ------------------------------------------------------

struct JavaZk {
    child: std::process::Child,
    client: u16,
    admin: u16,
    _dir: tempfile::TempDir,
}

impl Drop for JavaZk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's Apache ZooKeeper 3.8 with its AdminServer (Jetty and Jackson on the classpath).
fn start_java_zk() -> Option<JavaZk> {
    let jars = Path::new("/usr/share/java");
    let names = [
        "zookeeper",
        "zookeeper-jute",
        "slf4j-api",
        "slf4j-nop",
        "jetty9-server",
        "jetty9-servlet",
        "jetty9-util",
        "jetty9-http",
        "jetty9-io",
        "jetty9-security",
        "servlet-api",
        "jackson-core",
        "jackson-databind",
        "jackson-annotations",
    ];
    let cp: Vec<PathBuf> = names
        .iter()
        .map(|n| jars.join(format!("{n}.jar")))
        .collect();
    let why = if Command::new("java").arg("-version").output().is_err() {
        Some("java is not on PATH".to_string())
    } else {
        cp.iter()
            .find(|p| !p.exists())
            .map(|p| format!("{} is missing", p.display()))
    };
    if let Some(why) = why {
        if std::env::var("FERROKEEPER_REQUIRE_JAVA").as_deref() == Ok("1") {
            panic!("FERROKEEPER_REQUIRE_JAVA=1 but Apache ZooKeeper cannot start: {why}");
        }
        eprintln!(
            "\n**********************************************************************\n\
             SKIPPED AdminServer comparison: {why}\n\
             The JSON keys were NOT compared with a running Apache ZooKeeper.\n\
             **********************************************************************\n"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (client, admin) = (free_port(), free_port());
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={client}\nclientPortAddress=127.0.0.1\n\
             admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n4lw.commands.whitelist=*\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let child = Command::new("java")
        .arg("-cp")
        .arg(std::env::join_paths(&cp).unwrap())
        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(JavaZk {
        child,
        client,
        admin,
        _dir: dir,
    })
}

/// Key structure of a JSON value: objects by key (maps keyed by data, like session ids or
/// paths, only by their presence), arrays by their first element.
fn shape(v: &Value, open: bool) -> Value {
    match v {
        Value::Object(m) if open => Value::String(format!("map({})", !m.is_empty())),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let open = matches!(
                        k.as_str(),
                        "expiry_time_to_session_ids"
                            | "session_id_to_ephemeral_paths"
                            | "session_id_to_watched_paths"
                            | "path_to_session_ids"
                            | "current_config"
                    );
                    (k.clone(), shape(v, open))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.first().map(|f| shape(f, false)).into_iter().collect()),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn json_keys_match_a_running_apache_zookeeper() {
    let Some(java) = start_java_zk() else {
        return;
    };
    let Some((server, bound)) = ops_server().await else {
        return;
    };
    let ours = bound.admin.unwrap();
    let theirs: std::net::SocketAddr = format!("127.0.0.1:{}", java.admin).parse().unwrap();
    // Wait for Jetty: a bounded number of attempts, each an awaited connect.
    let mut up = false;
    for _ in 0..120 {
        if tokio::net::TcpStream::connect(theirs).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(up, "Apache ZooKeeper's AdminServer did not come up");
    // The same session, ephemeral and watch on both.
    let mut clients = Vec::new();
    for addr in [server.addr.clone(), format!("127.0.0.1:{}", java.client)] {
        let c = common::within(
            "client",
            zk::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&addr),
        )
        .await
        .unwrap();
        c.create("/k-e", b"x", &common::ephemeral()).await.unwrap();
        let (_, _, w) = c.get_and_watch_data("/k-e").await.unwrap();
        clients.push((c, w));
    }
    let (_, index) = http(theirs, "GET", "/commands").await;
    let mut compared = BTreeSet::new();
    for c in COMMANDS {
        // 3.8 has no snapshot/restore; its index lists what it has.
        if !index.contains(&format!(">{}<", c.primary)) {
            continue;
        }
        let path = if c.primary == "set_trace_mask" {
            format!("/commands/{}?traceMask=306", c.primary)
        } else {
            format!("/commands/{}", c.primary)
        };
        let (s1, a) = get_json(ours, &path).await;
        let (s2, b) = get_json(theirs, &path).await;
        assert_eq!(s1, s2, "{path}: status");
        if OPEN_KEYS.contains(&c.primary) {
            // Open-ended: every key upstream has for the server itself is there too.
            let ka: BTreeSet<String> = keys(&a).into_iter().collect();
            if c.primary == "monitor" {
                let missing: Vec<String> = keys(&b)
                    .into_iter()
                    .filter(|k| !ka.contains(k) && !k.contains("_per_namespace"))
                    .collect();
                assert!(missing.is_empty(), "monitor lacks {missing:?}");
            }
            assert_eq!(a["command"], b["command"]);
            compared.insert(c.primary);
            continue;
        }
        assert_eq!(
            shape(&a, false),
            shape(&b, false),
            "{path}: ours {a}\ntheirs {b}"
        );
        compared.insert(c.primary);
    }
    assert!(compared.len() >= 26, "compared only {compared:?}");
    for alias in ["stat", "srvr", "cons", "wchc", "mntr", "conf"] {
        let (_, a) = get_json(ours, &format!("/commands/{alias}")).await;
        let (_, b) = get_json(theirs, &format!("/commands/{alias}")).await;
        assert_eq!(a["command"], b["command"], "{alias}");
    }
    let (_, a) = get_json(ours, "/commands/nosuch").await;
    let (_, b) = get_json(theirs, "/commands/nosuch").await;
    assert_eq!(a, b);
    drop(clients);
}

// ----- the Prometheus page -------------------------------------------------------------

/// `# TYPE` of every family on the page.
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// Every metric Grafana dashboard 10465 and the alert rules of ZooKeeper's docs, Canonical's
/// charm and Bitnami's chart query (OPERATIONS-NOTES §2.6), by type; `jvm_*` excluded.
const DASHBOARD_GAUGES: &[&str] = &[
    "znode_count",
    "ephemerals_count",
    "global_sessions",
    "local_sessions",
    "approximate_data_size",
    "packets_received",
    "packets_sent",
    "quorum_size",
    "leader_uptime",
    "learners",
    "synced_non_voting_followers",
    "synced_observers",
    "synced_followers",
    "pending_syncs",
    "uptime",
    "last_proposal_size",
    "max_proposal_size",
    "min_proposal_size",
    "watch_count",
    "outstanding_requests",
    "last_client_response_size",
    "min_client_response_size",
    "max_client_response_size",
    "num_alive_connections",
    "connection_drop_probability",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
    "max_latency",
    "min_latency",
    "avg_latency",
    "outstanding_tls_handshake",
];
const DASHBOARD_COUNTERS: &[&str] = &[
    "response_packet_cache_hits",
    "response_packet_cache_misses",
    "response_packet_get_children_cache_hits",
    "response_packet_get_children_cache_misses",
    "unrecoverable_error_count",
    "digest_mismatches_count",
    "learner_commit_received_count",
    "commit_count",
    "snap_count",
    "diff_count",
    "looking_count",
    "proposal_count",
    "quit_leading_due_to_disloyal_voter",
    "revalidate_count",
    "stale_sessions_expired",
    "dead_watchers_cleared",
    "dead_watchers_queued",
    "add_dead_watcher_stall_time",
    "bytes_received_count",
    "connection_request_count",
    "connection_rejected",
    "connection_drop_count",
    "sessionless_connections_expired",
    "prep_processor_request_queued",
    "outstanding_changes_queued",
    "outstanding_changes_removed",
    "sync_processor_request_queued",
    "request_commit_queued",
    "tls_handshake_exceeded",
    "ensemble_auth_fail",
    "ensemble_auth_success",
    "ensemble_auth_skip",
];
const DASHBOARD_SUMMARIES: &[&str] = &[
    "write_per_namespace",
    "read_per_namespace",
    "startup_snap_load_time",
    "startup_txns_loaded",
    "dbinittime",
    "election_time",
    "follower_sync_time",
    "learner_handler_qp_size",
    "om_commit_process_time_ms",
    "om_proposal_process_time_ms",
    "node_changed_watch_count",
    "node_children_watch_count",
    "node_deleted_watch_count",
    "node_created_watch_count",
    "dead_watchers_cleaner_latency",
    "connection_token_deficit",
    "fsynctime",
    "snapshottime",
    "prep_process_time",
    "prep_processor_queue_time_ms",
    "prep_processor_queue_size",
    "close_session_prep_time",
    "sync_process_time",
    "sync_processor_queue_flush_time_ms",
    "sync_processor_queue_size",
    "sync_processor_batch_size",
    "commit_process_time",
    "read_commitproc_time_ms",
    "write_commitproc_time_ms",
    "write_commit_proc_req_queued",
    "read_commit_proc_req_queued",
    "commit_commit_proc_req_queued",
    "requests_in_session_queue",
    "read_commit_proc_issued",
    "write_commit_proc_issued",
    "concurrent_request_processing_in_commit_processor",
    "time_waiting_empty_pool_in_commit_processor_read_ms",
    "pending_session_queue_size",
    "local_write_committed_time_ms",
    "server_write_committed_time_ms",
    "write_batch_time_in_commit_processor",
    "reads_after_write_in_session_queue",
    "session_queues_drained",
    "reads_issued_from_session_queue",
    "write_final_proc_time_ms",
    "read_final_proc_time_ms",
    "readlatency",
    "updatelatency",
    "proposal_latency",
    "quorum_ack_latency",
    "ack_latency",
    "propagation_latency",
    "commit_propagation_latency",
    "proposal_ack_creation_latency",
    "jvm_pause_time_ms",
];
/// Summary families that are labelled sets (no sample until a member exists).
const SETS: &[&str] = &[
    "write_per_namespace",
    "read_per_namespace",
    "learner_handler_qp_size",
    "ack_latency",
];

#[tokio::test]
async fn metrics_page_has_every_dashboard_and_alert_name_with_its_type() {
    let Some((server, bound)) = ops_server().await else {
        return;
    };
    let client = server.client().await;
    client
        .create("/m", b"x", &common::persistent())
        .await
        .unwrap();
    const READS: usize = 20;
    for _ in 0..READS {
        client.get_data("/m").await.unwrap();
    }
    let metrics = bound.metrics.expect("metrics page bound");
    let (status, text) = http(metrics, "GET", "/metrics").await;
    assert_eq!(status, 200);
    let fam = families(&text);
    let sample = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.split_once(' ').is_some_and(|(n, _)| n == name))
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, v)| v.parse().ok())
    };
    for (names, kind) in [
        (DASHBOARD_GAUGES, "gauge"),
        (DASHBOARD_COUNTERS, "counter"),
        (DASHBOARD_SUMMARIES, "summary"),
    ] {
        for n in names {
            assert_eq!(fam.get(*n).map(String::as_str), Some(kind), "{n}");
            if kind == "summary" && !SETS.contains(n) {
                assert!(sample(&format!("{n}_sum")).is_some(), "{n}_sum");
                assert!(sample(&format!("{n}_count")).is_some(), "{n}_count");
            } else if kind != "summary" {
                assert!(sample(n).is_some(), "{n} has a sample");
            }
        }
    }
    // Counters keep ZooKeeper 3.9's names (no _total); quantiles as its provider prints.
    assert!(!fam.contains_key("commit_count_total"));
    // Measured summaries print the window's quantiles; the others NaN, as simpleclient
    // before a first sample.
    let quantile = |name: &str, q: &str| sample(&format!("{name}{{quantile=\"{q}\",}}"));
    for name in ["readlatency", "updatelatency"] {
        let qs: Vec<f64> = ["0.5", "0.9", "0.99"]
            .iter()
            .map(|q| quantile(name, q).unwrap_or_else(|| panic!("{name} {q}")))
            .collect();
        assert!(
            qs.iter().all(|q| q.is_finite() && *q >= 0.0),
            "{name} {qs:?}"
        );
        assert!(qs[0] <= qs[1] && qs[1] <= qs[2], "{name} {qs:?}");
    }
    assert!(sample("readlatency_count").unwrap() >= READS as f64);
    // createSession and the create.
    assert!(sample("updatelatency_count").unwrap() >= 2.0);
    assert!(quantile("fsynctime", "0.5").unwrap().is_finite());
    assert!(!text.contains("fsynctime{quantile=\"0.99\""));
    assert!(quantile("snapshottime", "0.5").unwrap().is_nan());
    assert!(quantile("proposal_latency", "0.99").unwrap().is_nan());
    // Figures that move.
    assert!(sample("znode_count").unwrap() >= 6.0);
    assert!(sample("num_alive_connections").unwrap() >= 1.0);
    assert!(sample("fsynctime_count").unwrap() >= 1.0);
    // Standard process series, and Ferrokeeper's own under its prefix.
    for n in [
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
    ] {
        assert!(fam.contains_key(n), "{n}");
    }
    assert_eq!(fam.get("ferrokeeper_requests_total").unwrap(), "counter");
    // Recorded through the `metrics` facade: this scrape counted itself.
    assert_eq!(
        fam.get("ferrokeeper_metrics_scrapes_total").unwrap(),
        "counter"
    );
    assert!(sample("ferrokeeper_metrics_scrapes_total").unwrap() >= 1.0);
    assert!(!fam
        .keys()
        .any(|k| k.starts_with("jvm_") && k != "jvm_pause_time_ms"));
    // Only /metrics, as upstream's provider.
    assert_eq!(http(metrics, "GET", "/").await.0, 404);
    promtool_check(&text);
    drop(client);
}

/// `promtool check metrics`: the page parses, and the only lint findings are naming rules
/// (`_total` on counters, no `_count` outside summaries, no abbreviated units) that
/// ZooKeeper's own names break, which dashboards depend on; Ferrokeeper's own and the
/// `process_*` families pass every rule.
fn promtool_check(text: &str) {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but promtool cannot run: {e}");
            }
            eprintln!(
                "\n**********************************************************************\n\
                 SKIPPED promtool check metrics: promtool not found ({e}); install\n\
                 Debian's `prometheus` package. The page was NOT linted.\n\
                 **********************************************************************\n"
            );
            return;
        }
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let zk_names: BTreeSet<&str> = families(text)
        .into_keys()
        .filter(|n| !n.starts_with("ferrokeeper_") && !n.starts_with("process_"))
        .map(|n| &text[text.find(&format!("# TYPE {n} ")).unwrap() + 7..][..n.len()])
        .collect();
    const NAMING: &[&str] = &[
        " counter metrics should have \"_total\" suffix",
        " non-histogram and non-summary metrics should not have \"_count\" suffix",
        " metric names should not contain abbreviated units",
    ];
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        let allowed = NAMING.iter().any(|rule| {
            line.strip_suffix(rule)
                .is_some_and(|n| zk_names.contains(n.trim()))
        });
        assert!(allowed, "promtool: {line}\n(full report:\n{report})");
    }
    // Exit 3 is "lint findings"; a parse error is 1.
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "promtool failed: {report}"
    );
}

// ----- the official Docker image's zoo.cfg ----------------------------------------------

#[test]
fn docker_image_zoo_cfg_takes_the_client_port_from_the_server_line() {
    // What the official image's entrypoint writes with its defaults: no clientPort line.
    let cfg = "dataDir=/data\ndataLogDir=/datalog\ntickTime=2000\ninitLimit=5\nsyncLimit=2\n\
               autopurge.snapRetainCount=3\nautopurge.purgeInterval=0\nmaxClientCnxns=60\n\
               standaloneEnabled=true\nadmin.enableServer=true\n\
               server.1=localhost:2888:3888;2181\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zoo.cfg"), cfg).unwrap();
    std::fs::write(dir.path().join("myid"), "1\n").unwrap();
    let cfg = cfg.replace("/data\n", &format!("{}\n", dir.path().display()));
    std::fs::write(dir.path().join("zoo.cfg"), cfg).unwrap();
    let loaded = zk_server::config::load(
        &dir.path().join("zoo.cfg"),
        zk_server::config::SystemProperties::default(),
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.client_port_address.as_ref().map(|e| e.port), Some(2181));
    assert!(
        !c.is_distributed(),
        "one server with standaloneEnabled is standalone"
    );
    let ops = zk_server::ops::OpsSettings::from_config(c);
    assert_eq!(ops.client_port, 2181);
    assert_eq!(ops.admin.as_ref().map(|a| a.port), Some(8080));
    assert!(ops.prometheus.is_none());
}

/// Served natively: no "not implemented" warning for the provider or its keys.
#[track_caller]
fn assert_no_metrics_provider_warning(loaded: &zk_server::config::Loaded) {
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.to_string().contains("metricsProvider")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn admin_and_metrics_keys_come_from_zoo_cfg_and_system_properties() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoo.cfg");
    std::fs::write(
        &path,
        format!(
            "dataDir={}\nclientPort=2181\nadmin.serverPort=9090\nadmin.commandURL=/cmd\n\
             metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpPort=7070\nmetricsProvider.httpHost=127.0.0.1\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (sys, _) = zk_server::config::SystemProperties::from_args([
        "-Dzookeeper.admin.serverAddress=127.0.0.2".to_string(),
    ])
    .unwrap();
    let loaded = zk_server::config::load(&path, sys).unwrap();
    assert_no_metrics_provider_warning(&loaded);
    let ops = zk_server::ops::OpsSettings::from_config(&loaded.config);
    let admin = ops.admin.unwrap();
    assert_eq!((admin.address.as_str(), admin.port), ("127.0.0.2", 9090));
    assert_eq!(admin.command_url, "/cmd");
    assert_eq!(ops.prometheus, Some(("127.0.0.1".to_string(), 7070)));
    assert!(ops.initial_configuration.contains("admin.serverPort=9090"));

    let (sys, _) = zk_server::config::SystemProperties::from_args([
        "-Dzookeeper.admin.enableServer=false".to_string(),
    ])
    .unwrap();
    let loaded = zk_server::config::load(&path, sys).unwrap();
    assert!(zk_server::ops::OpsSettings::from_config(&loaded.config)
        .admin
        .is_none());
}

/// `metricsProvider.className=…NullMetricsProvider` is upstream's way to record nothing:
/// accepted without a warning, it turns the summaries' recording off and serves no page.
/// Any other provider keeps recording.
#[test]
fn the_null_metrics_provider_turns_recording_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zoo.cfg");
    let ops_for = |class: Option<&str>| {
        let provider = class.map_or(String::new(), |c| {
            format!("metricsProvider.className={c}\n")
        });
        let cfg = format!(
            "dataDir={}\nclientPort=2181\n{provider}",
            dir.path().display()
        );
        std::fs::write(&path, cfg).unwrap();
        let loaded = zk_server::config::load(&path, Default::default()).unwrap();
        assert_no_metrics_provider_warning(&loaded);
        zk_server::ops::OpsSettings::from_config(&loaded.config)
    };
    let off = ops_for(Some(zk_server::config::NULL_METRICS_PROVIDER));
    assert!(off.metrics_off && off.prometheus.is_none());
    assert!(!ops_for(None).metrics_off);
    assert!(!ops_for(Some(zk_server::config::PROMETHEUS_METRICS_PROVIDER)).metrics_off);
}
