//! Apache ZooKeeper's AdminServer (`JettyAdminServer`, `Commands`): `GET
//! <commandURL>/<name>` answers a JSON object whose members are the command's data, then
//! `command` (the primary name, whatever alias was asked) and `error` (null on success).
//! An unknown command, and a command that needs a serving server when the server does not
//! serve, answer **200** with an `error` string, as upstream. `GET <commandURL>` lists the
//! primary names as links. Kubernetes probes are added beside it: `/healthz` (the process
//! is up: 200) and `/readyz` (the node serves clients: 200, else 503).
//!
//! Every answer is a standalone Apache ZooKeeper 3.8/3.9's: ensemble commands (`leader`,
//! `observers`, `voting_view`, `zabstate`) answer as a standalone server does.
//! `snapshot` and `restore` (3.9) are [`super::snaprest`]'s.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query as UrlQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{json, Map, Value};

use super::figures::{self, Figures, Kind};
use super::query::{Answer, Query};
use super::OpsState;
use crate::stats::ConnStats;

/// One AdminServer command: its primary name, aliases, and whether it needs a serving
/// server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The name `command` reports.
    pub primary: &'static str,
    /// Other names it answers to.
    pub aliases: &'static [&'static str],
    /// Needs a running server (otherwise "not currently serving").
    pub needs_server: bool,
}

const fn cmd(primary: &'static str, aliases: &'static [&'static str], srv: bool) -> Command {
    Command {
        primary,
        aliases,
        needs_server: srv,
    }
}

/// Every command Apache ZooKeeper 3.9 has, with its aliases.
pub const COMMANDS: &[Command] = &[
    cmd("configuration", &["conf", "config"], true),
    cmd("connection_stat_reset", &["crst"], true),
    cmd("connections", &["cons"], true),
    cmd("dirs", &[], true),
    cmd("dump", &[], true),
    cmd("environment", &["env", "envi"], false),
    cmd("get_trace_mask", &["gtmk"], false),
    cmd("hash", &[], true),
    cmd("initial_configuration", &["icfg"], true),
    cmd("is_read_only", &["isro"], true),
    cmd("last_snapshot", &["lsnp"], true),
    cmd("leader", &["lead"], true),
    cmd("monitor", &["mntr"], false),
    cmd("observer_connection_stat_reset", &["orst"], true),
    cmd("observers", &["obsr"], true),
    cmd("restore", &["rest"], true),
    cmd("ruok", &[], true),
    cmd("server_stats", &["srvr"], true),
    cmd("set_trace_mask", &["stmk"], false),
    cmd("snapshot", &["snap"], true),
    cmd("stat_reset", &["srst"], true),
    cmd("stats", &["stat"], true),
    cmd("system_properties", &["sysp"], false),
    cmd("voting_view", &[], true),
    cmd("watch_summary", &["wchs"], true),
    cmd("watches", &["wchc"], true),
    cmd("watches_by_path", &["wchp"], true),
    cmd("zabstate", &[], false),
];

/// The command `name` (primary or alias) names.
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.primary == name || c.aliases.contains(&name))
}

/// What `<commandURL>` is mounted on: with a leading slash, without a trailing one.
fn mount(command_url: &str) -> String {
    let t = command_url.trim().trim_end_matches('/');
    if t.starts_with('/') {
        t.to_string()
    } else {
        format!("/{t}")
    }
}

/// The AdminServer's routes.
pub fn router(state: Arc<OpsState>, command_url: &str) -> axum::Router {
    let base = mount(command_url);
    let index_path = if base == "/" {
        "/".to_string()
    } else {
        base.clone()
    };
    let mut r = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(&index_path, get(index));
    if base != "/" {
        r = r.route(&format!("{base}/"), get(index));
    }
    r.route(
        &format!("{}/{{name}}", base.trim_end_matches('/')),
        get(command).post(command),
    )
    .with_state(state)
}

async fn healthz() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(state): State<Arc<OpsState>>) -> Response {
    if state.ready().await {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not serving\n").into_response()
    }
}

async fn index(State(state): State<Arc<OpsState>>) -> Response {
    let base = state
        .settings
        .ops
        .admin
        .as_ref()
        .map_or_else(|| "/commands".to_string(), |a| mount(&a.command_url));
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.primary).collect();
    names.sort_unstable();
    let mut html = String::new();
    for n in names {
        let _ = write!(
            html,
            "<a href=\"{}/{n}\">{n}</a>\n<br/>\n",
            base.trim_end_matches('/')
        );
    }
    ([(header::CONTENT_TYPE, "text/html;charset=utf-8")], html).into_response()
}

/// An answer: HTTP status and the JSON object.
pub struct Reply {
    /// The status (200 but for disabled commands).
    pub status: StatusCode,
    /// The JSON object.
    pub body: Value,
}

/// The answer as Jackson would print it.
pub(crate) fn json_response(r: Reply) -> Response {
    let mut text = super::json::to_string(&r.body);
    text.push('\n');
    (r.status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

async fn command(
    State(state): State<Arc<OpsState>>,
    Path(name): Path<String>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<super::https::AdminPeer>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match lookup(&name).map(|c| c.primary) {
        Some(primary @ ("snapshot" | "restore")) => {
            metrics::counter!("ferrokeeper_admin_commands_total", "command" => primary)
                .increment(1);
            let call = super::snaprest::Call {
                primary,
                asked: &name,
                method,
                params: &params,
                headers: &headers,
                peer: peer.addr,
                x509: peer.subject,
            };
            super::snaprest::handle(&state, call, body).await
        }
        _ => json_response(run(&state, &name, &params).await),
    }
}

pub(crate) const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

fn ok(primary: &str, mut data: Map<String, Value>) -> Reply {
    data.insert("command".into(), Value::from(primary));
    data.insert("error".into(), Value::Null);
    Reply {
        status: StatusCode::OK,
        body: Value::Object(data),
    }
}

/// A command's own error (upstream puts `error` first in that case).
fn failed(primary: &str, error: &str) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: json!({ "error": error, "command": primary }),
    }
}

/// Runs command `name` with URL parameters `params`.
pub async fn run(state: &OpsState, name: &str, params: &HashMap<String, String>) -> Reply {
    let Some(c) = lookup(name) else {
        return Reply {
            status: StatusCode::OK,
            body: json!({ "command": name, "error": format!("Unknown command: {name}") }),
        };
    };
    metrics::counter!("ferrokeeper_admin_commands_total", "command" => c.primary).increment(1);
    let p = c.primary;
    if c.needs_server && !state.ready().await {
        return ok_err_not_serving(p);
    }
    let settings = &state.settings;
    let stats = &state.stats;
    let mut d = Map::new();
    match p {
        "configuration" => {
            let ops = &settings.ops;
            d.insert("client_port".into(), ops.client_port.into());
            d.insert(
                "data_dir".into(),
                path_text(&settings.data_dir.join("version-2")).into(),
            );
            d.insert(
                "data_log_dir".into(),
                path_text(&settings.data_log_dir.join("version-2")).into(),
            );
            d.insert("tick_time".into(), settings.tick_ms.into());
            d.insert("max_client_cnxns".into(), settings.max_client_cnxns.into());
            d.insert(
                "min_session_timeout".into(),
                settings.min_session_timeout.into(),
            );
            d.insert(
                "max_session_timeout".into(),
                settings.max_session_timeout.into(),
            );
            d.insert("server_id".into(), settings.server_id.into());
            d.insert(
                "client_port_listen_backlog".into(),
                ops.client_port_listen_backlog.into(),
            );
        }
        "connection_stat_reset" => {
            for c in stats.conns.snapshot() {
                c.reset();
            }
        }
        "connections" => {
            let conns: Vec<Value> = stats
                .conns
                .snapshot()
                .iter()
                .map(|c| connection_info(c, false))
                .collect();
            d.insert("connections".into(), conns.into());
            d.insert("secure_connections".into(), Value::Array(Vec::new()));
        }
        "dirs" => {
            let (log, snap) = crate::fourlw::dir_sizes(settings);
            d.insert("datadir_size".into(), log.into());
            d.insert("logdir_size".into(), snap.into());
        }
        "dump" => {
            let Some(Answer::Sessions(s)) = state.ask(Query::Sessions).await else {
                return ok_err_not_serving(p);
            };
            let expiry: Map<String, Value> = s
                .expiry
                .into_iter()
                .map(|(t, ids)| (t.to_string(), ids.into()))
                .collect();
            let eph: Map<String, Value> = s
                .ephemerals
                .into_iter()
                .map(|(sid, paths)| (sid.to_string(), paths.into()))
                .collect();
            d.insert("expiry_time_to_session_ids".into(), expiry.into());
            d.insert("session_id_to_ephemeral_paths".into(), eph.into());
        }
        "environment" | "system_properties" => {
            let text =
                crate::fourlw::render_local(zk_proto::codec::FourLetterWord::Envi, settings, stats);
            let mut pairs: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if p == "system_properties" {
                pairs.sort();
            }
            for (k, v) in pairs {
                d.insert(k, v.into());
            }
        }
        "get_trace_mask" => {
            d.insert(
                "tracemask".into(),
                stats.trace_mask.load(Ordering::Relaxed).into(),
            );
        }
        "set_trace_mask" => {
            let Some(mask) = params
                .get("traceMask")
                .and_then(|v| v.trim().parse::<i64>().ok())
            else {
                return failed(p, "setTraceMask requires long traceMask argument");
            };
            stats.trace_mask.store(mask, Ordering::Relaxed);
            d.insert("tracemask".into(), mask.into());
        }
        // Ferrokeeper computes no tree digests: upstream with digests off lists none.
        "hash" => {
            d.insert("digests".into(), Value::Array(Vec::new()));
        }
        "initial_configuration" => {
            d.insert(
                "initial_configuration".into(),
                settings.ops.initial_configuration.clone().into(),
            );
        }
        // IsReadOnlyCommand: whether the server is a ReadOnlyZooKeeperServer.
        "is_read_only" => {
            d.insert(
                "read_only".into(),
                stats.read_only.load(Ordering::Relaxed).into(),
            );
        }
        "last_snapshot" => {
            let (zxid, secs) = last_snapshot(settings, stats);
            d.insert("zxid".into(), format!("{zxid:x}").into());
            d.insert("timestamp".into(), secs.into());
        }
        "leader" => return failed(p, "server is not initialized"),
        "monitor" => {
            let Some(f) = state.figures().await else {
                return ok_err_not_serving(p);
            };
            monitor(&f, &mut d);
        }
        "observer_connection_stat_reset" | "ruok" => {}
        "observers" => {
            d.insert("synced_observers".into(), 0.into());
            d.insert("observers".into(), Value::Array(Vec::new()));
        }
        "restore" | "snapshot" => {
            // They need the HTTP request (credentials, body): `snaprest::handle` answers
            // them. Without it, what upstream's servlet answers a null response with.
            let mut r = ok(p, d);
            r.status = StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
        "server_stats" | "stats" => {
            let Some(f) = state.figures().await else {
                return ok_err_not_serving(p);
            };
            server_stats(state, &f, &mut d);
            if p == "stats" {
                let conns: Vec<Value> = stats
                    .conns
                    .snapshot()
                    .iter()
                    .map(|c| connection_info(c, true))
                    .collect();
                d.insert("connections".into(), conns.into());
                d.insert("secure_connections".into(), Value::Array(Vec::new()));
            }
        }
        "stat_reset" => stats.reset(),
        "voting_view" => {
            d.insert("current_config".into(), Value::Object(Map::new()));
        }
        "watch_summary" => {
            let Some(f) = state.figures().await else {
                return ok_err_not_serving(p);
            };
            d.insert(
                "num_connections".into(),
                f.tree.data_watch_connections.into(),
            );
            d.insert("num_paths".into(), f.tree.data_watch_paths.into());
            d.insert("num_total_watches".into(), f.tree.data_watches.into());
        }
        "watches" | "watches_by_path" => {
            let Some(Answer::Watches(w)) = state.ask(Query::Watches).await else {
                return ok_err_not_serving(p);
            };
            if p == "watches" {
                let m: Map<String, Value> = w
                    .by_session
                    .into_iter()
                    .map(|(s, paths)| (s.to_string(), paths.into()))
                    .collect();
                d.insert("session_id_to_watched_paths".into(), m.into());
            } else {
                let m: Map<String, Value> = w
                    .by_path
                    .into_iter()
                    .map(|(path, ss)| (path, ss.into()))
                    .collect();
                d.insert("path_to_session_ids".into(), m.into());
            }
        }
        "zabstate" => {
            d.insert("voting".into(), false.into());
            d.insert("zabstate".into(), "".into());
        }
        _ => {}
    }
    ok(p, d)
}

fn ok_err_not_serving(primary: &str) -> Reply {
    let mut body = Map::new();
    body.insert("command".into(), primary.into());
    body.insert("error".into(), NOT_SERVING.into());
    Reply {
        status: StatusCode::OK,
        body: Value::Object(body),
    }
}

fn path_text(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// `ServerCnxn.getConnectionInfo(brief)`.
fn connection_info(c: &ConnStats, brief: bool) -> Value {
    const R: Ordering = Ordering::Relaxed;
    let mut m = Map::new();
    m.insert(
        "remote_socket_address".into(),
        format!("{}:{}", c.peer.ip(), c.peer.port()).into(),
    );
    let interest = if c.four_letter.load(R) { 0 } else { 1 };
    m.insert("interest_ops".into(), interest.into());
    m.insert("outstanding_requests".into(), c.queued.load(R).into());
    m.insert("packets_received".into(), c.received.load(R).into());
    m.insert("packets_sent".into(), c.sent.load(R).into());
    if !brief {
        let session = c.session_id.load(R);
        if session != 0 {
            let r = c.response_stats();
            m.insert("session_id".into(), format!("{session:x}").into());
            m.insert("last_operation".into(), r.last_op.name().into());
            m.insert(
                "established".into(),
                crate::fourlw::java_date(c.established_ms).into(),
            );
            m.insert("session_timeout".into(), c.session_timeout.load(R).into());
            m.insert("last_cxid".into(), format!("0x{:x}", r.last_cxid).into());
            m.insert("last_zxid".into(), format!("0x{:x}", r.last_zxid).into());
            m.insert(
                "last_response_time".into(),
                crate::fourlw::java_date(r.last_response_ms).into(),
            );
            m.insert("last_latency".into(), r.last_latency.into());
            m.insert("min_latency".into(), r.min_latency.into());
            m.insert("avg_latency".into(), r.avg_latency.into());
            m.insert("max_latency".into(), r.max_latency.into());
        }
    }
    Value::Object(m)
}

/// `monitor`: the `mntr` figures as JSON members (no `zk_` prefix).
pub fn monitor(f: &Figures, d: &mut Map<String, Value>) {
    d.insert("version".into(), f.version.clone().into());
    d.insert("server_state".into(), f.server_state.into());
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    for m in &f.metrics {
        if let Kind::Gauge(v) = m.kind {
            let v = match v {
                figures::Value::Int(i) => Value::from(i),
                figures::Value::Float(x) => float(x),
            };
            d.insert(m.name.into(), v);
        }
    }
    for (name, per_ns) in &f.quota_sets {
        for (ns, v) in per_ns {
            d.insert(format!("{ns}_{name}"), (*v).into());
        }
    }
    for m in &f.metrics {
        match m.kind {
            Kind::Gauge(_) => {}
            Kind::Counter(c) => {
                d.insert(m.name.into(), c.into());
            }
            Kind::Summary(s) => {
                let n = m.name;
                d.insert(format!("avg_{n}"), float(s.avg()));
                d.insert(format!("min_{n}"), s.min.into());
                d.insert(format!("max_{n}"), s.max.into());
                d.insert(format!("cnt_{n}"), s.count.into());
                d.insert(format!("sum_{n}"), s.sum.into());
                if s.percentiles {
                    let names = crate::fourlw::MNTR_PERCENTILES;
                    for (q, v) in names.iter().zip(s.mntr_percentiles) {
                        d.insert(format!("{q}_{n}"), v.into());
                    }
                }
            }
        }
    }
}

/// `server_stats` / the first members of `stats`.
fn server_stats(state: &OpsState, f: &Figures, d: &mut Map<String, Value>) {
    let stats = &state.stats;
    let (min, avg, max) = stats.latency();
    let (last, rmin, rmax) = stats.response_sizes();
    let (log, snap) = crate::fourlw::dir_sizes(&state.settings);
    let response = json!({
        "last_buffer_size": last,
        "min_buffer_size": rmin,
        "max_buffer_size": rmax,
    });
    let fsync_exceeded = stats.log.threshold_exceeded.load(Ordering::Relaxed);
    let mut s = Map::new();
    s.insert(
        "packets_sent".into(),
        stats.packets_sent.load(Ordering::Relaxed).into(),
    );
    s.insert(
        "packets_received".into(),
        stats.packets_received.load(Ordering::Relaxed).into(),
    );
    s.insert("fsync_threshold_exceed_count".into(), fsync_exceeded.into());
    s.insert("client_response_stats".into(), response.clone());
    s.insert("data_dir_size".into(), log.into());
    s.insert("log_dir_size".into(), snap.into());
    s.insert("provider_null".into(), false.into());
    s.insert("server_state".into(), f.server_state.into());
    s.insert("last_processed_zxid".into(), f.tree.last_zxid.into());
    s.insert("outstanding_requests".into(), f.tree.outstanding.into());
    s.insert(
        "avg_latency".into(),
        serde_json::Number::from_f64(avg).map_or(Value::Null, Value::Number),
    );
    s.insert("max_latency".into(), max.into());
    s.insert("min_latency".into(), min.into());
    s.insert(
        "num_alive_client_connections".into(),
        stats.conns.len().into(),
    );
    s.insert("uptime".into(), stats.elapsed_ms().into());
    s.insert("auth_failed_count".into(), 0.into());
    s.insert("non_mtlsremote_conn_count".into(), 0.into());
    s.insert("non_mtlslocal_conn_count".into(), 0.into());
    d.insert("version".into(), f.version.clone().into());
    let read_only = stats.read_only.load(Ordering::Relaxed);
    d.insert("read_only".into(), read_only.into());
    d.insert("server_stats".into(), Value::Object(s));
    d.insert("client_response".into(), response);
    d.insert("node_count".into(), f.tree.node_count.into());
}

/// The newest `snapshot.<zxid>` in `dataDir/version-2` and its modification time (s); with
/// none on disk (the RocksDB store), the last applied zxid is not known here: zxid 0 and
/// the server's start time, as a fresh upstream server reports its start-up snapshot.
fn last_snapshot(settings: &crate::settings::Settings, stats: &crate::stats::Stats) -> (i64, i64) {
    let dir = settings.data_dir.join("version-2");
    let newest = std::fs::read_dir(&dir).ok().and_then(|it| {
        it.filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let zxid = i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
                let mtime = e
                    .metadata()
                    .ok()?
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs() as i64;
                Some((zxid, mtime))
            })
            .max()
    });
    newest.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        (0, now - stats.elapsed_ms() / 1000)
    })
}
