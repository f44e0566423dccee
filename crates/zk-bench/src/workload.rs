//! The workloads: a timed run of an op mix ([`run`]), a fixed list of requests per session
//! with the sessions then held open ([`per_session`]: loading keys, setting watches, opening
//! sessions), watch fan-out ([`fanout`]) and the restart probe ([`probe`]; the ensemble
//! probes are in [`crate::availability`]).
//!
//! Every thread runs a current-thread tokio runtime with its share of the sessions; the
//! threads start the measured phase together (a barrier after connecting).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::task::LocalSet;
use zk_proto::request::Request;

pub use crate::availability::ProbeReport;
use crate::availability::{self, ProbeOp};
use crate::hist::{Latencies, Summary};
use crate::mix::{Mix, Op, Rng};
use crate::wire::{self, Endpoint, Stream, NOTIFICATION_XID};
use crate::BenchError;

/// ZooKeeper's error code for an existing node.
pub(crate) const NODE_EXISTS: i32 = -110;
/// How long after the end of a run replies may still take.
const DRAIN: Duration = Duration::from_secs(60);
/// How early the open loop's timer wakes a session before its next send: more than tokio's
/// 1 ms timer grain, so the wake-up is never late; the rest is spent yielding.
const TIMER_GRAIN: Duration = Duration::from_micros(1500);
/// Above this many keys, requests are encoded when sent instead of once per key.
const PREBUILD_MAX_KEYS: u64 = 100_000;

/// Settings of a timed run.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// The server (`addr`, and `tls` when TLS is on).
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The ops and their weights.
    pub mix: Mix,
    /// Sessions (one connection each).
    pub sessions: usize,
    /// Requests in flight per session (closed loop; a cap on nothing in open loop).
    pub depth: usize,
    /// Client threads.
    pub threads: usize,
    /// Measured time.
    pub duration: Duration,
    /// Time run before measuring.
    pub warmup: Duration,
    /// Open loop: requests per second, all sessions together; `None`: closed loop.
    pub rate: Option<f64>,
    /// Bytes of data in set, create and multi.
    pub value_size: usize,
    /// Keys get, set, exists, children and multi pick from (uniformly).
    pub keys: u64,
    /// Seed of the key and op choices.
    pub seed: u64,
    /// Session timeout requested (ms).
    pub session_timeout_ms: i32,
    /// Sessions connecting at once, per thread.
    pub connect_concurrency: usize,
}

impl RunConfig {
    /// Defaults: one session, one request in flight, get, 1,000 keys of 100 bytes, 5 s after
    /// 1 s of warm-up, one thread, plaintext.
    pub fn new(addr: &str) -> RunConfig {
        RunConfig {
            endpoint: Endpoint::plain(addr),
            mix: Mix::parse("get").unwrap_or_else(|_| unreachable!("valid mix")),
            sessions: 1,
            depth: 1,
            threads: 1,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            rate: None,
            value_size: 100,
            keys: 1000,
            seed: 1,
            session_timeout_ms: 30_000,
            connect_concurrency: 64,
        }
    }
}

/// What a timed run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The settings.
    pub config: RunConfig,
    /// Requests answered whose (intended) send time fell in the measured window.
    pub ops: u64,
    /// `ops` per second of the measured window.
    pub ops_per_sec: f64,
    /// Of which writes, per second.
    pub writes_per_sec: f64,
    /// Requests answered with an error code.
    pub errors: u64,
    /// Sessions per second while connecting.
    pub connect_per_sec: f64,
    /// Every op together.
    pub all: Summary,
    /// Per op.
    pub by_op: std::collections::BTreeMap<String, Summary>,
    /// With TLS: the protocol version and cipher suite negotiated (`TLSv1_2
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); `None` for plaintext.
    pub tls: Option<String>,
}

/// Frames built once, per key.
struct Prebuilt {
    get: Vec<Bytes>,
    set: Vec<Bytes>,
    exists: Vec<Bytes>,
    children: Vec<Bytes>,
}

struct Shared {
    cfg: RunConfig,
    value: Bytes,
    pre: Option<Prebuilt>,
    run_id: u64,
}

impl Shared {
    fn request_frame(&self, op: Op, key: u64, key2: u64, out: &mut BytesMut, xid: i32) {
        if let Some(p) = &self.pre {
            let k = key as usize;
            let f = match op {
                Op::Get => Some(&p.get[k]),
                Op::Set => Some(&p.set[k]),
                Op::Exists => Some(&p.exists[k]),
                Op::Children => Some(&p.children[k]),
                _ => None,
            };
            if let Some(f) = f {
                wire::put_with_xid(out, f, xid);
                return;
            }
        }
        let path = wire::key_path(key);
        let req = match op {
            Op::Get => wire::get_data(&path, false),
            Op::Set => wire::set_data(&path, &self.value),
            Op::Exists => wire::exists(&path, false),
            Op::Children => wire::children(&path),
            _ => wire::multi_set(&path, &wire::key_path(key2), &self.value),
        };
        out.extend_from_slice(&wire::frame(&req, xid));
    }
}

/// Creates `/zkbench`, `/zkbench/k`, `/zkbench/c` and the parents of `keys` keys (existing
/// ones are fine).
pub fn ensure_parents(ep: &Endpoint, keys: u64) -> Result<(), BenchError> {
    let parents = keys.div_ceil(wire::KEYS_PER_PARENT);
    let mut paths = vec![
        wire::ROOT.to_string(),
        format!("{}/k", wire::ROOT),
        format!("{}/c", wire::ROOT),
    ];
    paths.extend((0..parents).map(|p| wire::parent_path(p * wire::KEYS_PER_PARENT)));
    let empty = Bytes::new();
    let rt = runtime()?;
    rt.block_on(async {
        let (mut s, _) = wire::connect(ep, 30_000).await?;
        // The three roots in order, then the parents pipelined.
        let (roots, rest) = paths.split_at(3);
        for p in roots {
            call_many(
                &mut s,
                std::iter::once(wire::create(p, &empty)),
                &[NODE_EXISTS],
            )
            .await?;
        }
        call_many(
            &mut s,
            rest.iter().map(|p| wire::create(p, &empty)),
            &[NODE_EXISTS],
        )
        .await?;
        wire::close_session(&mut s, i32::MAX).await
    })
}

/// Sends every request pipelined (up to 256 in flight) and waits for all replies; an error
/// code outside `allowed` fails.
pub(crate) async fn call_many(
    s: &mut Stream,
    reqs: impl Iterator<Item = Request>,
    allowed: &[i32],
) -> Result<(), BenchError> {
    let mut reqs = reqs.peekable();
    let mut xid = 1;
    let mut inflight = 0usize;
    let mut out = BytesMut::new();
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    loop {
        while inflight < 256 {
            let Some(r) = reqs.next() else { break };
            out.extend_from_slice(&wire::frame(&r, xid));
            xid += 1;
            inflight += 1;
        }
        if !out.is_empty() {
            s.send(&out).await?;
            out.clear();
        }
        if inflight == 0 {
            return Ok(());
        }
        if wire::read_more(s, &mut rbuf).await? == 0 {
            return Err(BenchError::Closed);
        }
        while let Some(f) = wire::take_frame(&mut rbuf)? {
            let h = wire::reply_header(f)?;
            if h.xid == NOTIFICATION_XID {
                continue;
            }
            inflight -= 1;
            if h.err != 0 && !allowed.contains(&h.err) {
                return Err(BenchError::Protocol(format!(
                    "xid {} failed: {}",
                    h.xid, h.err
                )));
            }
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Connects the sessions `indices` (each to its host, [`Endpoint::for_session`]) on this
/// thread, at most `concurrency` at once; returns them in order.
async fn connect_all(
    ep: &Endpoint,
    indices: &[usize],
    concurrency: usize,
    timeout_ms: i32,
) -> Result<Vec<Stream>, BenchError> {
    let sem = Rc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::with_capacity(indices.len());
    for &i in indices {
        let sem = sem.clone();
        let ep = ep.for_session(i);
        handles.push(tokio::task::spawn_local(async move {
            let _permit = sem
                .acquire()
                .await
                .map_err(|_| BenchError::Protocol("semaphore closed".into()))?;
            wire::connect(&ep, timeout_ms).await.map(|(s, _)| s)
        }));
    }
    let mut out = Vec::with_capacity(indices.len());
    for h in handles {
        out.push(
            h.await
                .map_err(|e| BenchError::Protocol(format!("connect task: {e}")))??,
        );
    }
    Ok(out)
}

/// Closes every session (closeSession, then the connection), `concurrency` at a time.
async fn close_all(streams: Vec<Stream>, concurrency: usize) {
    let sem = Rc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::with_capacity(streams.len());
    for mut s in streams {
        let sem = sem.clone();
        handles.push(tokio::task::spawn_local(async move {
            let _permit = sem.acquire().await;
            let _ = tokio::time::timeout(
                Duration::from_secs(30),
                wire::close_session(&mut s, i32::MAX),
            )
            .await;
        }));
    }
    for h in handles {
        let _ = h.await;
    }
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64().max(1e-9)
}

/// Runs a timed workload.
pub fn run(cfg: &RunConfig) -> Result<RunReport, BenchError> {
    if cfg.sessions == 0 || cfg.depth == 0 || cfg.threads == 0 || cfg.keys == 0 {
        return Err(BenchError::Option(
            "sessions, depth, threads and keys must be positive".into(),
        ));
    }
    let value = Bytes::from(vec![b'v'; cfg.value_size]);
    let pre = (cfg.keys <= PREBUILD_MAX_KEYS).then(|| {
        let paths: Vec<String> = (0..cfg.keys).map(wire::key_path).collect();
        Prebuilt {
            get: paths
                .iter()
                .map(|p| wire::frame(&wire::get_data(p, false), 0))
                .collect(),
            set: paths
                .iter()
                .map(|p| wire::frame(&wire::set_data(p, &value), 0))
                .collect(),
            exists: paths
                .iter()
                .map(|p| wire::frame(&wire::exists(p, false), 0))
                .collect(),
            children: paths
                .iter()
                .map(|p| wire::frame(&wire::children(p), 0))
                .collect(),
        }
    });
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
        ^ ((std::process::id() as u64) << 40);
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        value,
        pre,
        run_id,
    });
    let barrier = Arc::new(Barrier::new(cfg.threads));
    let connect_start = Instant::now();
    let connect_end: Arc<Mutex<Option<Instant>>> = Arc::default();
    let results: Vec<Result<(Latencies, Option<String>), BenchError>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..cfg.threads)
                .map(|t| {
                    let shared = shared.clone();
                    let barrier = barrier.clone();
                    let connect_end = connect_end.clone();
                    scope.spawn(move || run_thread(t, shared, barrier, connect_end))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(BenchError::Protocol("thread panicked".into())))
                })
                .collect()
        });
    let mut lat = Latencies::new();
    let mut tls = None;
    for r in results {
        let (l, t) = r?;
        lat.merge(&l);
        tls = tls.or(t);
    }
    let connected = connect_end
        .lock()
        .ok()
        .and_then(|g| *g)
        .unwrap_or(connect_start);
    let ops = lat.count();
    let writes: u64 = Op::ALL
        .into_iter()
        .filter(|op| op.is_write())
        .filter_map(|op| lat.summary(op))
        .map(|s| s.count)
        .sum();
    let secs = seconds(cfg.duration);
    Ok(RunReport {
        config: cfg.clone(),
        ops,
        ops_per_sec: ops as f64 / secs,
        writes_per_sec: writes as f64 / secs,
        errors: lat.errors.values().sum(),
        connect_per_sec: cfg.sessions as f64 / seconds(connected - connect_start),
        all: lat.total(),
        by_op: lat.summaries(),
        tls,
    })
}

fn run_thread(
    t: usize,
    shared: Arc<Shared>,
    barrier: Arc<Barrier>,
    connect_end: Arc<Mutex<Option<Instant>>>,
) -> Result<(Latencies, Option<String>), BenchError> {
    let cfg = &shared.cfg;
    let mine: Vec<usize> = (0..cfg.sessions).filter(|s| s % cfg.threads == t).collect();
    let rt = runtime()?;
    let local = LocalSet::new();
    let connected = local.block_on(
        &rt,
        connect_all(
            &cfg.endpoint,
            &mine,
            cfg.connect_concurrency,
            cfg.session_timeout_ms,
        ),
    );
    // Wait for the other threads even on failure, so nobody waits forever.
    barrier.wait();
    let streams = connected?;
    let tls = streams.first().and_then(Stream::tls_session);
    if let Ok(mut g) = connect_end.lock() {
        let now = Instant::now();
        if g.is_none_or(|e| e < now) {
            *g = Some(now);
        }
    }
    let t0 = Instant::now();
    let lat = Rc::new(RefCell::new(Latencies::new()));
    local.block_on(&rt, async {
        let mut handles = Vec::new();
        for (s, stream) in mine.into_iter().zip(streams) {
            let shared = shared.clone();
            let lat = lat.clone();
            handles.push(tokio::task::spawn_local(drive(stream, shared, s, t0, lat)));
        }
        let mut result = Ok(());
        let mut streams = Vec::new();
        for h in handles {
            match h.await {
                Ok(Ok(s)) => streams.push(s),
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(BenchError::Protocol(format!("session task: {e}"))),
            }
        }
        close_all(streams, 256).await;
        result
    })?;
    let out = lat.borrow().clone();
    Ok((out, tls))
}

/// One session's part of a timed run; returns the stream for closing.
async fn drive(
    mut s: Stream,
    shared: Arc<Shared>,
    index: usize,
    t0: Instant,
    lat: Rc<RefCell<Latencies>>,
) -> Result<Stream, BenchError> {
    let cfg = &shared.cfg;
    let warm = t0 + cfg.warmup;
    let end = warm + cfg.duration;
    let deadline = end + DRAIN;
    let mut rng = Rng::new(cfg.seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let mut inflight: VecDeque<(Instant, Op, i32)> = VecDeque::new();
    let mut created: VecDeque<u64> = VecDeque::new();
    let mut next_node = 0u64;
    let mut xid = 1i32;
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    // Open loop: this session's share of the rate, starting at a random phase.
    let interval = cfg
        .rate
        .map(|r| Duration::from_secs_f64(cfg.sessions as f64 / r.max(1e-6)));
    let mut next_send = match interval {
        Some(i) => t0 + i.mul_f64(rng.below(1_000_000) as f64 / 1e6),
        None => t0,
    };
    let mut issue = |at: Instant,
                     out: &mut BytesMut,
                     inflight: &mut VecDeque<(Instant, Op, i32)>,
                     rng: &mut Rng| {
        let mut op = cfg.mix.pick(rng.below(100) as u32);
        if op == Op::Delete && created.is_empty() {
            op = Op::Create;
        }
        match op {
            Op::Create => {
                let path = format!("{}/c/{:x}-{index}-{next_node}", wire::ROOT, shared.run_id);
                created.push_back(next_node);
                next_node += 1;
                out.extend_from_slice(&wire::frame(&wire::create(&path, &shared.value), xid));
            }
            Op::Delete => {
                let n = created.pop_front().unwrap_or_default();
                let path = format!("{}/c/{:x}-{index}-{n}", wire::ROOT, shared.run_id);
                out.extend_from_slice(&wire::frame(&wire::delete(&path), xid));
            }
            _ => {
                let k = rng.below(cfg.keys);
                let k2 = rng.below(cfg.keys);
                shared.request_frame(op, k, k2, out, xid);
            }
        }
        inflight.push_back((at, op, xid));
        xid = if xid == i32::MAX - 1 { 1 } else { xid + 1 };
    };
    loop {
        let now = Instant::now();
        match interval {
            None => {
                while now < end && inflight.len() < cfg.depth {
                    issue(now, &mut out, &mut inflight, &mut rng);
                }
            }
            Some(i) => {
                while next_send <= now && next_send < end {
                    issue(next_send, &mut out, &mut inflight, &mut rng);
                    next_send += i;
                }
            }
        }
        if !out.is_empty() {
            s.send(&out).await?;
            out.clear();
        }
        let sending = interval.is_some() && next_send < end;
        if inflight.is_empty() && !sending {
            return Ok(s);
        }
        if now > deadline {
            return Err(BenchError::Timeout(format!(
                "{} replies still missing {} s after the run",
                inflight.len(),
                DRAIN.as_secs()
            )));
        }
        let n = if sending {
            // tokio's timer has a 1 ms grain and rounds a deadline up to the next tick, which
            // would add up to a millisecond to every request's latency (it counts from the
            // intended time). So the timer only brings the session close; the last stretch
            // is spent yielding to the other tasks until the send is due.
            let early = Instant::now() + TIMER_GRAIN;
            if next_send > early {
                tokio::select! {
                    r = s.read_buf(&mut rbuf) => Some(r?),
                    _ = tokio::time::sleep_until((next_send - TIMER_GRAIN).into()) => None,
                }
            } else {
                tokio::select! {
                    biased;
                    r = s.read_buf(&mut rbuf) => Some(r?),
                    _ = tokio::task::yield_now() => None,
                }
            }
        } else {
            match tokio::time::timeout_at(deadline.into(), s.read_buf(&mut rbuf)).await {
                Ok(r) => Some(r?),
                Err(_) => None,
            }
        };
        if n == Some(0) {
            return Err(BenchError::Closed);
        }
        let now = Instant::now();
        let mut lat = lat.borrow_mut();
        while let Some(f) = wire::take_frame(&mut rbuf)? {
            let h = wire::reply_header(f)?;
            if h.xid == NOTIFICATION_XID {
                continue;
            }
            let Some((at, op, sent_xid)) = inflight.pop_front() else {
                return Err(BenchError::Protocol(format!(
                    "unexpected reply xid {}",
                    h.xid
                )));
            };
            if sent_xid != h.xid {
                return Err(BenchError::Protocol(format!(
                    "reply xid {} where {sent_xid} was next",
                    h.xid
                )));
            }
            if at >= warm && at < end {
                if h.err != 0 {
                    lat.error(op);
                }
                lat.record(op, now.duration_since(at).as_micros() as u64);
            }
        }
    }
}

/// What a [`per_session`] run measured.
#[derive(Debug, Clone, Serialize)]
pub struct PerSessionReport {
    /// Sessions.
    pub sessions: usize,
    /// Time to connect them all (ms).
    pub connect_ms: f64,
    /// Sessions per second while connecting.
    pub connect_per_sec: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with an error code other than NODEEXISTS.
    pub errors: u64,
    /// Time from the first request to the last reply (ms).
    pub work_ms: f64,
    /// `requests` per second of `work_ms`.
    pub requests_per_sec: f64,
    /// What the hold command printed (trimmed), run while every session was still open.
    pub hold_output: Option<String>,
}

/// What each session of a [`per_session`] run sends.
pub type Plan = dyn Fn(usize, u64) -> Option<Request> + Send + Sync;

/// Phases of a [`per_session`] run, as its coordinator announces them.
const GO_WORK: u8 = 1;
const GO_CLOSE: u8 = 2;
const GO_ABORT: u8 = 3;

/// What a session of a [`per_session`] run tells the coordinator.
enum Event {
    Connected,
    Worked { sent: u64, errors: u64 },
    Failed(BenchError),
}

/// Opens `sessions` sessions over `threads` threads; then each session `s` sends
/// `plan(s, 0)`, `plan(s, 1)`, ... until `None`, `depth` in flight; then, with every session
/// still open, runs `hold_cmd` (through `sh -c`) and keeps its output; then closes them all.
/// Sessions waiting for the others ping every 10 s, so none expires however long the
/// others take.
pub fn per_session(
    ep: &Endpoint,
    sessions: usize,
    threads: usize,
    depth: usize,
    connect_concurrency: usize,
    plan: Arc<Plan>,
    hold_cmd: Option<&str>,
) -> Result<PerSessionReport, BenchError> {
    let threads = threads.max(1);
    let (ev_tx, ev_rx) = std::sync::mpsc::channel::<Event>();
    let (go_tx, go_rx) = tokio::sync::watch::channel(0u8);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let plan = plan.clone();
                let ep = ep.clone();
                let ev_tx = ev_tx.clone();
                let go_rx = go_rx.clone();
                scope.spawn(move || -> Result<(), BenchError> {
                    let rt = runtime()?;
                    let local = LocalSet::new();
                    local.block_on(&rt, async {
                        let sem = Rc::new(tokio::sync::Semaphore::new(connect_concurrency.max(1)));
                        let mut handles = Vec::new();
                        for s in (0..sessions).filter(|s| s % threads == t) {
                            handles.push(tokio::task::spawn_local(session_life(
                                ep.clone(),
                                s,
                                depth,
                                plan.clone(),
                                sem.clone(),
                                ev_tx.clone(),
                                go_rx.clone(),
                            )));
                        }
                        for h in handles {
                            let _ = h.await;
                        }
                    });
                    Ok(())
                })
            })
            .collect();
        drop(ev_tx);
        let res = coordinate(sessions, &ev_rx, &go_tx, hold_cmd, start);
        if res.is_err() {
            let _ = go_tx.send(GO_ABORT);
        }
        for h in handles {
            let _ = h.join();
        }
        res
    })
}

/// The coordinator's side of [`per_session`]: waits for every session to connect, starts
/// the work, waits for all of it, runs the hold command, lets the sessions close.
fn coordinate(
    sessions: usize,
    ev_rx: &std::sync::mpsc::Receiver<Event>,
    go_tx: &tokio::sync::watch::Sender<u8>,
    hold_cmd: Option<&str>,
    start: Instant,
) -> Result<PerSessionReport, BenchError> {
    let next = || -> Result<Event, BenchError> {
        ev_rx
            .recv_timeout(Duration::from_secs(600))
            .map_err(|_| BenchError::Timeout("no progress from the sessions for 10 min".into()))
    };
    for _ in 0..sessions {
        match next()? {
            Event::Connected => {}
            Event::Failed(e) => return Err(e),
            Event::Worked { .. } => {
                return Err(BenchError::Protocol("worked before the start".into()))
            }
        }
    }
    let connected = Instant::now();
    let _ = go_tx.send(GO_WORK);
    let (mut requests, mut errors) = (0, 0);
    for _ in 0..sessions {
        match next()? {
            Event::Worked { sent, errors: e } => {
                requests += sent;
                errors += e;
            }
            Event::Failed(e) => return Err(e),
            Event::Connected => return Err(BenchError::Protocol("connected twice".into())),
        }
    }
    let worked = Instant::now();
    let hold_output = hold_cmd.and_then(|cmd| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    });
    let _ = go_tx.send(GO_CLOSE);
    let connect = connected - start;
    let work = worked - connected;
    Ok(PerSessionReport {
        sessions,
        connect_ms: connect.as_secs_f64() * 1e3,
        connect_per_sec: sessions as f64 / seconds(connect),
        requests,
        errors,
        work_ms: work.as_secs_f64() * 1e3,
        requests_per_sec: requests as f64 / seconds(work),
        hold_output,
    })
}

/// One session of a [`per_session`] run, from connecting to closing.
async fn session_life(
    ep: Endpoint,
    index: usize,
    depth: usize,
    plan: Arc<Plan>,
    sem: Rc<tokio::sync::Semaphore>,
    events: std::sync::mpsc::Sender<Event>,
    mut go: tokio::sync::watch::Receiver<u8>,
) {
    let res: Result<(), BenchError> = async {
        let mut s = {
            let _permit = sem
                .acquire()
                .await
                .map_err(|_| BenchError::Protocol("semaphore closed".into()))?;
            wire::connect(&ep.for_session(index), 40_000).await?.0
        };
        let _ = events.send(Event::Connected);
        if keepalive_until(&mut s, &mut go, GO_WORK).await? == GO_ABORT {
            return Ok(());
        }
        let (mut s, sent, errors) = send_plan(s, index, depth, plan).await?;
        let _ = events.send(Event::Worked { sent, errors });
        keepalive_until(&mut s, &mut go, GO_CLOSE).await?;
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            wire::close_session(&mut s, i32::MAX),
        )
        .await;
        Ok(())
    }
    .await;
    if let Err(e) = res {
        let _ = events.send(Event::Failed(e));
    }
}

/// Keeps the session alive (a ping every 10 s, replies and notifications read and dropped)
/// until the coordinator's phase reaches `want`; returns the phase.
async fn keepalive_until(
    s: &mut Stream,
    go: &mut tokio::sync::watch::Receiver<u8>,
    want: u8,
) -> Result<u8, BenchError> {
    let ping = wire::frame(&Request::Ping, wire::PING_XID);
    let mut rbuf = BytesMut::with_capacity(1024);
    let mut next_ping = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let phase = *go.borrow_and_update();
        if phase >= want {
            return Ok(phase);
        }
        tokio::select! {
            r = go.changed() => {
                if r.is_err() {
                    return Ok(GO_ABORT);
                }
            }
            _ = tokio::time::sleep_until(next_ping) => {
                s.send(&ping).await?;
                next_ping += Duration::from_secs(10);
            }
            r = s.read_buf(&mut rbuf) => {
                if r? == 0 {
                    return Err(BenchError::Closed);
                }
                while wire::take_frame(&mut rbuf)?.is_some() {}
            }
        }
    }
}

/// Sends one session's plan; returns the stream, the requests sent and the errors.
async fn send_plan(
    mut s: Stream,
    index: usize,
    depth: usize,
    plan: Arc<Plan>,
) -> Result<(Stream, u64, u64), BenchError> {
    let mut n = 0u64;
    let mut done = false;
    let mut inflight = 0usize;
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut out = BytesMut::new();
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    loop {
        while !done && inflight < depth.max(1) {
            match plan(index, n) {
                Some(r) => {
                    out.extend_from_slice(&wire::frame(&r, (n % (i32::MAX as u64)) as i32 + 1));
                    n += 1;
                    inflight += 1;
                    sent += 1;
                }
                None => done = true,
            }
        }
        if !out.is_empty() {
            s.send(&out).await?;
            out.clear();
        }
        if inflight == 0 {
            return Ok((s, sent, errors));
        }
        match tokio::time::timeout(DRAIN, s.read_buf(&mut rbuf)).await {
            Ok(Ok(0)) => return Err(BenchError::Closed),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(BenchError::Timeout("no reply for 60 s".into())),
        }
        while let Some(f) = wire::take_frame(&mut rbuf)? {
            let h = wire::reply_header(f)?;
            if h.xid == NOTIFICATION_XID {
                continue;
            }
            inflight = inflight.saturating_sub(1);
            if h.err != 0 && h.err != NODE_EXISTS {
                errors += 1;
            }
        }
    }
}

/// The plan that creates keys `0..count` (100-byte data by default), spread over the
/// sessions.
pub fn load_plan(count: u64, sessions: usize, value_size: usize) -> Arc<Plan> {
    let value = Bytes::from(vec![b'v'; value_size]);
    let sessions = sessions.max(1) as u64;
    Arc::new(move |s, n| {
        let k = s as u64 + n * sessions;
        (k < count).then(|| wire::create(&wire::key_path(k), &value))
    })
}

/// The plan where session `s` sets `per_session` exists-watches on keys
/// `s * per_session + j` (mod `keys`).
pub fn watch_plan(per_session: u64, keys: u64) -> Arc<Plan> {
    let keys = keys.max(1);
    Arc::new(move |s, n| {
        (n < per_session)
            .then(|| wire::exists(&wire::key_path((s as u64 * per_session + n) % keys), true))
    })
}

/// What [`fanout`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    /// Watching sessions.
    pub sessions: usize,
    /// Rounds.
    pub rounds: usize,
    /// Per round: ms from sending setData until the last watcher had its notification.
    pub last_notification_ms: Vec<f64>,
    /// Per round: ms until the first notification.
    pub first_notification_ms: Vec<f64>,
    /// The median of `last_notification_ms`.
    pub median_last_ms: f64,
}

/// `sessions` sessions watch one node (getData watch); another session sets it; the time
/// until the last watcher is told, over `rounds` rounds (watches set again each round).
/// Runs on one thread.
pub fn fanout(
    ep: &Endpoint,
    sessions: usize,
    rounds: usize,
    connect_concurrency: usize,
) -> Result<FanoutReport, BenchError> {
    let rt = runtime()?;
    let local = LocalSet::new();
    let node = format!("{}/fan", wire::ROOT);
    local.block_on(&rt, async {
        let (mut writer, _) = wire::connect(ep, 40_000).await?;
        call_many(
            &mut writer,
            [wire::ROOT.to_string(), node.clone()]
                .iter()
                .map(|p| wire::create(p, &Bytes::new())),
            &[NODE_EXISTS],
        )
        .await?;
        let indices: Vec<usize> = (0..sessions).collect();
        let streams = connect_all(ep, &indices, connect_concurrency, 40_000).await?;
        let watch = wire::frame(&wire::get_data(&node, true), 1);
        let mut streams: Vec<Rc<RefCell<Option<Stream>>>> = streams
            .into_iter()
            .map(|s| Rc::new(RefCell::new(Some(s))))
            .collect();
        let mut lasts = Vec::new();
        let mut firsts = Vec::new();
        let value = Bytes::from_static(b"fan");
        for round in 0..rounds {
            // Every watcher sets its watch and has the reply.
            let mut armed = Vec::new();
            for cell in &streams {
                let Some(mut s) = cell.borrow_mut().take() else {
                    return Err(BenchError::Protocol("lost a stream".into()));
                };
                let watch = watch.clone();
                armed.push(tokio::task::spawn_local(async move {
                    s.send(&watch).await?;
                    let mut rbuf = BytesMut::with_capacity(256);
                    loop {
                        while let Some(f) = wire::take_frame(&mut rbuf)? {
                            if wire::reply_header(f)?.xid == 1 {
                                return Ok::<_, BenchError>((s, rbuf));
                            }
                        }
                        if wire::read_more(&mut s, &mut rbuf).await? == 0 {
                            return Err(BenchError::Closed);
                        }
                    }
                }));
            }
            let mut waiting = Vec::new();
            for h in armed {
                let (s, rbuf) = h
                    .await
                    .map_err(|e| BenchError::Protocol(format!("watch task: {e}")))??;
                waiting.push((s, rbuf));
            }
            // Everyone waits for the notification; then the write.
            let mut handles = Vec::new();
            for (mut s, mut rbuf) in waiting {
                handles.push(tokio::task::spawn_local(async move {
                    loop {
                        while let Some(f) = wire::take_frame(&mut rbuf)? {
                            if wire::reply_header(f)?.xid == NOTIFICATION_XID {
                                return Ok::<_, BenchError>((s, Instant::now()));
                            }
                        }
                        if wire::read_more(&mut s, &mut rbuf).await? == 0 {
                            return Err(BenchError::Closed);
                        }
                    }
                }));
            }
            let sent = Instant::now();
            call_many(
                &mut writer,
                std::iter::once(wire::set_data(&node, &value)),
                &[],
            )
            .await?;
            let mut first: Option<Instant> = None;
            let mut last = sent;
            let mut next = Vec::new();
            for h in handles {
                let (s, at) = tokio::time::timeout(DRAIN, h)
                    .await
                    .map_err(|_| BenchError::Timeout(format!("round {round}: notification")))?
                    .map_err(|e| BenchError::Protocol(format!("notify task: {e}")))??;
                last = last.max(at);
                first = Some(first.map_or(at, |f| f.min(at)));
                next.push(Rc::new(RefCell::new(Some(s))));
            }
            streams = next;
            lasts.push((last - sent).as_secs_f64() * 1e3);
            firsts.push((first.unwrap_or(sent) - sent).as_secs_f64() * 1e3);
        }
        let all: Vec<Stream> = streams
            .into_iter()
            .filter_map(|c| c.borrow_mut().take())
            .collect();
        close_all(all, 256).await;
        wire::close_session(&mut writer, i32::MAX).await?;
        let mut sorted = lasts.clone();
        sorted.sort_by(f64::total_cmp);
        let median_last_ms = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        Ok(FanoutReport {
            sessions,
            rounds,
            last_notification_ms: lasts,
            first_notification_ms: firsts,
            median_last_ms,
        })
    })
}

/// Tries, every 10 ms, to open a session and read `path` (on every host of `ep` at once),
/// until it works or `limit` passes: how long a restarted server takes to serve its data.
/// [`availability::probe`] with a read.
pub fn probe(ep: &Endpoint, path: &str, limit: Duration) -> Result<ProbeReport, BenchError> {
    availability::probe(ep, path, ProbeOp::Read, limit)
}
