//! The AdminServer's `snapshot` and `restore` (Apache ZooKeeper 3.9, ZOOKEEPER-4570/4571,
//! `Commands.SnapshotCommand` / `RestoreCommand`): a snapshot streamed out over HTTP in
//! Apache ZooKeeper's snapshot format, and such a stream posted back to replace the database.
//!
//! ```text
//!   GET  <commandURL>/snapshot[?streaming=false]     POST <commandURL>/restore  (body: snapshot)
//!     │ not serving → 200 + error                      │
//!     │ Authorization: digest user:pw | ip | x509 → 401 / 403 (ALL on "/", bit by bit)
//!     │ admin.snapshot.enabled / admin.restore.enabled false → 503
//!     │ rate limit (1 per admin.rateLimiterIntervalInMS) → 429 + *_rate_limited_count
//!     ▼                                                ▼ read_snapshot (streamed, on a blocking thread)
//!   core: write a snapshot of the applied state      core: let writes in flight apply, write the
//!     into the snapshot target, open it                restored state as a snapshot, hand it to
//!     ▼                                                the node (connections closed)
//!   200 octet-stream, headers last_zxid, snapshot_size   200 {"last_zxid": …}; restore_time
//! ```
//!
//! Upstream's order of checks is kept: a disabled command still asks for credentials first.
//! Its quirk is kept too: the snapshot limiter is built with `TimeUnit.MICROSECONDS`, so
//! `admin.rateLimiterIntervalInMS=300000` lets one snapshot through every 300 ms, while
//! restore gets the documented 5 minutes (a backup schedule that works against Apache
//! ZooKeeper works against Ferrokeeper). Both limiters start full, as `RateLimiter` does.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};
use zk_proto::data::Id;
use zk_tree::DataTree;

use super::admin::{json_response, Reply};
use super::query::{Answer, Query};
use super::OpsState;
use crate::core::CoreMsg;

/// The 3.9 counters and the `restore_time` summary (ms).
#[derive(Debug, Default)]
pub struct AdminStats {
    /// `snapshot_error_count`.
    pub snapshot_errors: AtomicU64,
    /// `snapshot_rate_limited_count`.
    pub snapshot_rate_limited: AtomicU64,
    /// `restore_error_count`.
    pub restore_errors: AtomicU64,
    /// `restore_rate_limited_count`.
    pub restore_rate_limited: AtomicU64,
    /// `restore_time`, one sample per restore.
    pub restore_time: crate::summary::Distribution,
}

impl AdminStats {
    /// Records a restore that took `ms`.
    pub fn record_restore(&self, ms: u64) {
        self.restore_time.record(ms);
    }
}

/// `RateLimiter` with a rate of 1: a permit per interval, the interval counted from the
/// last reset (not from the last permit), the first permit available at once.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    /// Last reset, and whether its permit is still there.
    state: Mutex<(Instant, bool)>,
}

impl RateLimiter {
    /// A limiter letting one call through per `interval`.
    pub fn new(interval: Duration) -> Self {
        RateLimiter {
            interval,
            state: Mutex::new((Instant::now(), true)),
        }
    }

    /// Takes the permit if there is one (`RateLimiter.allow`).
    pub fn allow(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now > s.0 + self.interval {
            *s = (now, true);
        }
        std::mem::replace(&mut s.1, false)
    }
}

/// The two commands' switches and limiters.
#[derive(Debug)]
pub struct SnapRestore {
    snapshot_enabled: bool,
    restore_enabled: bool,
    snapshot_limit: RateLimiter,
    restore_limit: RateLimiter,
    x_forwarded_for: bool,
}

impl SnapRestore {
    /// From the AdminServer's settings (both off when there is no AdminServer).
    pub fn new(admin: Option<&super::AdminSettings>) -> Self {
        let interval = admin.map_or(300_000, |a| a.rate_limiter_interval_ms.max(0) as u64);
        SnapRestore {
            snapshot_enabled: admin.is_some_and(|a| a.snapshot_enabled),
            restore_enabled: admin.is_some_and(|a| a.restore_enabled),
            // Upstream's quirk: the snapshot limiter counts the interval in microseconds.
            snapshot_limit: RateLimiter::new(Duration::from_micros(interval)),
            restore_limit: RateLimiter::new(Duration::from_millis(interval)),
            x_forwarded_for: admin.is_some_and(|a| a.x_forwarded_for),
        }
    }
}

/// A snapshot written for the `snapshot` command, open for streaming.
pub struct Taken {
    /// Its zxid (the last applied txn).
    pub zxid: i64,
    /// Its length in bytes, as stored.
    pub size: u64,
    /// Its bytes, as stored.
    pub reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taken")
            .field("zxid", &self.zxid)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A state read from a posted snapshot, on its way to the core.
#[derive(Debug)]
pub struct Restoring {
    /// The tree, its `last_processed_zxid` the snapshot's.
    pub tree: DataTree,
    /// `(session id, timeout ms)` of its sessions.
    pub sessions: Vec<(i64, i32)>,
}

/// A snapshot serialised into memory (a server without a snapshot target).
pub fn in_memory(tree: &DataTree, sessions: &[(i64, i32)]) -> Result<Taken, String> {
    let mut buf = Vec::new();
    let opts = zk_tree::snapshot::WriteOptions::default();
    zk_tree::snapshot::write_snapshot(tree, sessions.iter().copied(), &mut buf, &opts)
        .map_err(|e| e.to_string())?;
    Ok(Taken {
        zxid: tree.last_processed_zxid,
        size: buf.len() as u64,
        reader: Box::new(std::io::Cursor::new(buf)),
    })
}

/// What the HTTP handler hands over.
pub struct Call<'a> {
    /// The command's primary name (`snapshot` or `restore`).
    pub primary: &'static str,
    /// The name as asked for (401 and 403 answers echo it, as upstream).
    pub asked: &'a str,
    /// GET or POST.
    pub method: Method,
    /// URL parameters.
    pub params: &'a HashMap<String, String>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The client's address.
    pub peer: SocketAddr,
    /// The subject of the client's verified certificate (HTTPS with
    /// `admin.needClientAuth`).
    pub x509: Option<String>,
}

fn answer(command: &str, status: StatusCode, error: Option<&str>) -> Response {
    json_response(Reply {
        status,
        body: json!({ "command": command, "error": error }),
    })
}

/// Runs `snapshot` or `restore` (`Commands.runCommand` from the server check on).
pub async fn handle(state: &OpsState, call: Call<'_>, body: Body) -> Response {
    let p = call.primary;
    if !state.ready().await {
        return answer(call.asked, StatusCode::OK, Some(super::admin::NOT_SERVING));
    }
    if let Err((status, why)) = authorize(state, &call).await {
        return answer(call.asked, status, Some(why));
    }
    let sr = &state.snap_restore;
    let is_snapshot = p == "snapshot";
    // A GET command asked by POST and the reverse: upstream's servlet meets a null response
    // and Jetty answers 500.
    let expected = if is_snapshot {
        Method::GET
    } else {
        Method::POST
    };
    if call.method != expected {
        return answer(p, StatusCode::INTERNAL_SERVER_ERROR, None);
    }
    let admin = &state.stats.admin;
    let (enabled, limiter, limited) = if is_snapshot {
        (
            sr.snapshot_enabled,
            &sr.snapshot_limit,
            &admin.snapshot_rate_limited,
        )
    } else {
        (
            sr.restore_enabled,
            &sr.restore_limit,
            &admin.restore_rate_limited,
        )
    };
    if !enabled {
        tracing::warn!(
            "{} command is disabled",
            if is_snapshot { "Snapshot" } else { "Restore" }
        );
        return answer(p, StatusCode::SERVICE_UNAVAILABLE, None);
    }
    if !limiter.allow() {
        limited.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "{} request was rate limited",
            if is_snapshot { "Snapshot" } else { "Restore" }
        );
        return answer(p, StatusCode::TOO_MANY_REQUESTS, None);
    }
    if is_snapshot {
        let streaming = call
            .params
            .get("streaming")
            .is_none_or(|v| v.eq_ignore_ascii_case("true"));
        snapshot(state, streaming).await
    } else {
        restore(state, body).await
    }
}

/// `handleAuthentication` and `handleAuthorization`: the identities the `Authorization`
/// header names must hold ALL on `/`, checked one permission bit at a time.
async fn authorize(state: &OpsState, call: &Call<'_>) -> Result<(), (StatusCode, &'static str)> {
    let not_authenticated = (StatusCode::UNAUTHORIZED, "Not authenticated");
    let Some(info) = call.headers.get(header::AUTHORIZATION) else {
        tracing::warn!("Auth info is missing for command");
        return Err((
            StatusCode::UNAUTHORIZED,
            "Auth info is missing for the command",
        ));
    };
    let info = info.to_str().map_err(|_| not_authenticated)?;
    // Java's String.split(" "): trailing empty parts are dropped.
    let mut parts: Vec<&str> = info.split(' ').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let ids: Vec<Id> = match parts.as_slice() {
        ["digest", data] => match zk_core::auth::authenticate(
            &state.settings.auth,
            b"digest",
            data.as_bytes(),
            None,
        ) {
            zk_core::auth::AuthOutcome::Added(ids) => ids,
            zk_core::auth::AuthOutcome::Failed => Vec::new(),
        },
        ["ip"] | ["ip", _] => vec![client_ip(state, call)],
        // X509AuthenticationProvider: registered like any provider; the subject of the
        // verified client certificate, and super when it is the configured super user.
        ["x509"] | ["x509", _] if state.settings.auth.has_provider(b"x509") => {
            let id = |scheme: &str, id: &str| Id {
                scheme: Some(scheme.into()),
                id: Some(id.into()),
            };
            match &call.x509 {
                Some(subject) => {
                    let sup = state.settings.auth.x509_super_user.as_deref();
                    let mut ids = Vec::new();
                    if sup == Some(subject.as_str()) {
                        ids.push(id("super", subject));
                    }
                    ids.push(id("x509", subject));
                    ids
                }
                None => Vec::new(),
            }
        }
        // Any other scheme has no provider.
        _ => Vec::new(),
    };
    if ids.is_empty() {
        tracing::warn!("Auth Id list is empty");
        return Err(not_authenticated);
    }
    let Some(Answer::Acl(acl)) = state.ask(Query::RootAcl).await else {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error occurred during auth",
        ));
    };
    let all = zk_proto::perms::ALL;
    for bit in (0..5).map(|b| 1 << b).filter(|b| all & b != 0) {
        if zk_core::auth::check_acl(&state.settings.auth, &acl, bit, &ids).is_err() {
            return Err((StatusCode::FORBIDDEN, "Not authorized"));
        }
    }
    Ok(())
}

/// `IPAuthenticationProvider.getClientIPAddress`: the peer, or with
/// `zookeeper.IPAuthenticationProvider.usexforwardedfor=true` the first `X-Forwarded-For`
/// entry.
fn client_ip(state: &OpsState, call: &Call<'_>) -> Id {
    let forwarded = state
        .snap_restore
        .x_forwarded_for
        .then(|| call.headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match forwarded {
        Some(ip) => match ip.parse::<std::net::IpAddr>() {
            Ok(a) => zk_core::auth::ip_identity(&a),
            Err(_) => Id {
                scheme: Some("ip".into()),
                id: Some(ip.into()),
            },
        },
        None => zk_core::auth::ip_identity(&crate::listen::canonical_peer(call.peer).ip()),
    }
}

/// Asks the core for a snapshot and streams it (`SnapshotCommand.runGet`).
async fn snapshot(state: &OpsState, streaming: bool) -> Response {
    let admin = &state.stats.admin;
    let failed = |why: String| {
        admin.snapshot_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "Exception occurred when taking the snapshot via the snapshot admin command: {why}"
        );
        answer("snapshot", StatusCode::INTERNAL_SERVER_ERROR, None)
    };
    let (reply, rx) = oneshot::channel();
    if state.core.send(CoreMsg::Snapshot { reply }).await.is_err() {
        return failed("the core is gone".into());
    }
    let taken = match rx.await {
        Ok(Ok(t)) => t,
        Ok(Err(why)) => return failed(why),
        Err(_) => return failed("the core is gone".into()),
    };
    let headers = [
        ("last_zxid", format!("0x{:x}", taken.zxid)),
        ("snapshot_size", taken.size.to_string()),
    ];
    if taken.size == 0 {
        let mut r = failed(format!("snapshot 0x{:x} is empty", taken.zxid));
        add_headers(&mut r, &headers);
        return r;
    }
    let mut r = if streaming {
        let body = Body::from_stream(stream_reader(taken.reader));
        let length = taken.size.to_string();
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::CONTENT_LENGTH, length),
            ],
            body,
        )
            .into_response()
    } else {
        answer("snapshot", StatusCode::OK, None)
    };
    add_headers(&mut r, &headers);
    r
}

fn add_headers(r: &mut Response, headers: &[(&'static str, String)]) {
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            r.headers_mut().insert(*k, v);
        }
    }
}

/// The bytes of `reader` as a stream, read on a blocking thread a chunk at a time.
fn stream_reader(
    mut reader: Box<dyn Read + Send>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let item = match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let stop = item.is_err();
            // The client went away: stop reading.
            if tx.blocking_send(item).is_err() || stop {
                return;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

/// Reads the posted snapshot and has the core install it (`RestoreCommand.runPost`,
/// `ZooKeeperServer.restoreFromSnapshot`).
async fn restore(state: &OpsState, body: Body) -> Response {
    let started = Instant::now();
    let admin = &state.stats.admin;
    let max_buffer = state
        .settings
        .max_buffer
        .saturating_add(state.settings.max_buffer_extra);
    let result = async {
        let restoring = read_posted(body, max_buffer).await?;
        tracing::info!(
            "Restored to a new database. lastProcessedZxid=0x{:x}, nodeCount={}, sessionCount={}",
            restoring.tree.last_processed_zxid,
            restoring.tree.node_count(),
            restoring.sessions.len()
        );
        let (reply, rx) = oneshot::channel();
        let msg = CoreMsg::Restore {
            state: Box::new(restoring),
            reply,
        };
        state
            .core
            .send(msg)
            .await
            .map_err(|_| "the core is gone".to_string())?;
        rx.await.map_err(|_| "the core is gone".to_string())?
    }
    .await;
    match result {
        Ok(zxid) => {
            let ms = started.elapsed().as_millis() as u64;
            admin.record_restore(ms);
            tracing::info!("Restore taken in {ms} ms; continuing from zxid 0x{zxid:x}");
            let mut d = Map::new();
            d.insert("last_zxid".into(), zxid.into());
            d.insert("command".into(), "restore".into());
            d.insert("error".into(), Value::Null);
            json_response(Reply {
                status: StatusCode::OK,
                body: Value::Object(d),
            })
        }
        Err(why) => {
            admin.restore_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "Exception occurred when restore snapshot via the restore command: {why}"
            );
            answer("restore", StatusCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}

/// Bytes after the digest section of a 3.9 snapshot: `i64 lastZxid`, then a seal (`i64`
/// Adler32 and the ustring `/`).
const LAST_ZXID_TRAILER: usize = 8 + 8 + 4 + 1;

/// Bytes accepted after the snapshot's last section (what a newer format may add).
const MAX_TRAILING: u64 = 4096;

/// Reads a posted snapshot stream as it arrives (never whole in memory). Its zxid is the
/// 3.9 `lastZxid` trailer when there is one, else the digest section's zxid (3.6+), else
/// the largest zxid any node's stat carries (a 3.5 snapshot names its zxid only in its
/// file name, which a stream does not have).
async fn read_posted(body: Body, max_buffer: usize) -> Result<Restoring, String> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let pump = tokio::spawn(async move {
        let mut data = body.into_data_stream();
        while let Some(chunk) = data.next().await {
            let item = chunk.map_err(std::io::Error::other);
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    let parsed = tokio::task::spawn_blocking(move || {
        let mut input = PostedReader::new(rx);
        let opts = zk_tree::snapshot::ReadOptions {
            max_buffer,
            size_hint: 0,
        };
        let loaded = zk_tree::snapshot::read_snapshot(&mut input, 0, &opts).map_err(|e| {
            format!(
                "the posted snapshot is not valid (at offset {}): {e}",
                e.offset()
            )
        })?;
        // What follows the snapshot (3.9's trailer at most; the reader may have buffered
        // some of it already): a bounded read.
        std::io::copy(
            &mut (&mut input).take(MAX_TRAILING + 1),
            &mut std::io::sink(),
        )
        .map_err(|e| e.to_string())?;
        if input.total.saturating_sub(loaded.length) > MAX_TRAILING {
            return Err(format!(
                "more than {MAX_TRAILING} bytes follow the snapshot"
            ));
        }
        Ok::<_, String>((loaded, input.tail_after(), input.total))
    })
    .await;
    pump.abort();
    let (loaded, tail, total) = parsed.map_err(|e| e.to_string())??;
    let trailing = total.saturating_sub(loaded.length) as usize;
    let mut tree = loaded.tree;
    let last_zxid = (trailing == LAST_ZXID_TRAILER && tail.len() >= trailing)
        .then(|| &tail[tail.len() - trailing..])
        .filter(|t| t.ends_with(&[0, 0, 0, 1, b'/']))
        .and_then(|t| t[..8].try_into().ok())
        .map(i64::from_be_bytes);
    let zxid = last_zxid
        .or(loaded.digest.map(|d| d.zxid).filter(|z| *z != 0))
        .unwrap_or_else(|| {
            tree.iter()
                .map(|(_, n)| n.stat.czxid.max(n.stat.mzxid).max(n.stat.pzxid))
                .max()
                .unwrap_or(0)
        });
    tree.last_processed_zxid = zxid;
    Ok(Restoring {
        tree,
        sessions: loaded.sessions.into_iter().collect(),
    })
}

/// A blocking [`Read`] over the chunks the HTTP body delivers, keeping the last few bytes
/// and the count of all of them (to find a trailer the snapshot reader left unread).
struct PostedReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
    tail: Vec<u8>,
    total: u64,
}

impl PostedReader {
    const TAIL: usize = 64;

    fn new(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Self {
        PostedReader {
            rx,
            current: Bytes::new(),
            tail: Vec::with_capacity(2 * Self::TAIL),
            total: 0,
        }
    }

    /// The last bytes of the stream (at most [`Self::TAIL`]).
    fn tail_after(&self) -> Vec<u8> {
        self.tail.clone()
    }
}

impl Read for PostedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Bounded: every empty chunk is skipped and the body ends.
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        buf[..n].copy_from_slice(&chunk);
        self.total += n as u64;
        self.tail
            .extend_from_slice(&chunk[n.saturating_sub(Self::TAIL)..]);
        if self.tail.len() > Self::TAIL {
            let cut = self.tail.len() - Self::TAIL;
            self.tail.drain(..cut);
        }
        Ok(n)
    }
}
