//! One comparer task per client connection: it mirrors the session to the candidate and
//! compares every answer with the primary's.
//!
//! Normalisation (what two correct servers may legitimately answer differently):
//! * `ReplyHeader.zxid`, a Stat's czxid/mzxid/pzxid/ctime/mtime, session ids and passwords are
//!   not compared; a Stat's ephemeralOwner is compared through the session map (the
//!   candidate's session of the same client);
//! * a sequential name the candidate gave is mapped to the primary's name for the same
//!   create, in answers (create results, children, events, ephemerals) and in the requests the
//!   proxy sends on (a request naming the primary's node goes to the candidate's);
//! * children and ephemerals lists compare as sets (neither server promises an order);
//! * watch events are paired by order within the session.
//!
//! The causal fence: a client that saw another session's write on the primary (an event, a
//! read) may act on it at once, but the candidate may not have applied that write yet. So each
//! client request gets a proxy-wide number when the relay taps it and stays outstanding until
//! the candidate answers it; a read goes to the candidate only when no other session's earlier
//! write is outstanding, a write only when no other session's earlier request of any kind is
//! (bounded by `Config::mapping_wait`). Whatever the client saw on the primary was caused by
//! frames the proxy had tapped before, so the candidate sees the same history, and a read
//! that raced a write on the primary races it in the same order on the candidate.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use zk_proto::data::Stat;
use zk_proto::handshake;
use zk_proto::multi::{MultiOp, MultiResponse, MultiResult};
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateResponse, ExistsResponse,
    GetACLResponse, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, ReplyHeader, SetACLResponse, SetDataResponse,
    SyncResponse, WatcherEvent,
};
use zk_proto::request::Request;
use zk_proto::{Decoder, JString, Limits, Record};

use crate::{Config, Metrics, Tapped};

/// The candidate's side of one client session.
#[derive(Debug, Clone)]
struct CandidateSession {
    id: i64,
    passwd: Bytes,
    last_zxid: i64,
}

#[derive(Debug, Default)]
struct Names {
    /// Primary path → candidate path, for sequential nodes whose names differ.
    p2c: HashMap<Bytes, Bytes>,
    /// The reverse.
    c2p: HashMap<Bytes, Bytes>,
}

#[derive(Debug, Default)]
struct Sessions {
    /// Primary session id → the candidate's session for the same client.
    by_primary: HashMap<i64, CandidateSession>,
    /// Candidate session id → primary session id.
    to_primary: HashMap<i64, i64>,
}

/// State shared by every connection of one proxy.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) metrics: Arc<Metrics>,
    names: Mutex<Names>,
    names_changed: Notify,
    /// Creates sent to the candidate whose answers are not both in yet: while there are any,
    /// a request naming an unknown sequential node waits (bounded) for its mapping.
    creates_in_flight: AtomicUsize,
    sessions: Mutex<Sessions>,
    /// Client frames tapped so far (the proxy-wide order).
    seq: std::sync::atomic::AtomicU64,
    /// Requests tapped and not yet answered by the candidate: seq → (connection, is a write).
    fence: Mutex<std::collections::BTreeMap<u64, (u64, bool)>>,
}

impl Shared {
    pub(crate) fn new(config: Config, metrics: Arc<Metrics>) -> Shared {
        Shared {
            config,
            metrics,
            names: Mutex::default(),
            names_changed: Notify::new(),
            creates_in_flight: AtomicUsize::new(0),
            sessions: Mutex::default(),
            seq: std::sync::atomic::AtomicU64::new(0),
            fence: Mutex::default(),
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn fence_add(&self, seq: u64, conn: u64, write: bool) {
        self.fence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq, (conn, write));
    }

    pub(crate) fn fence_remove(&self, seq: u64) {
        let removed = self
            .fence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq)
            .is_some();
        if removed {
            self.names_changed.notify_waiters();
        }
    }

    /// The outstanding writes before `seq` (for the log).
    fn fence_snapshot(&self, seq: u64) -> Vec<(u64, u64)> {
        self.fence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .range(..seq)
            .map(|(s, (c, _))| (*s, *c))
            .collect()
    }

    /// True if the candidate has not answered a request of another connection tapped before
    /// `seq` that conflicts with it: any earlier write, and for a write any earlier request.
    fn fenced(&self, seq: u64, conn: u64, write: bool) -> bool {
        self.fence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .range(..seq)
            .any(|(_, &(c, w))| c != conn && (w || write))
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The candidate's name for a primary path: the longest mapped prefix, replaced.
    fn to_candidate(&self, path: &[u8]) -> Option<Bytes> {
        translate(&self.names().p2c, path)
    }

    /// The primary's name for a candidate path.
    fn to_primary(&self, path: &[u8]) -> Option<Bytes> {
        translate(&self.names().c2p, path)
    }

    fn learn(&self, primary: &[u8], candidate: &[u8]) {
        // Identical sequential names are recorded too: a request naming one need not wait.
        let same = primary == candidate && names_sequential(primary);
        if !same && !sequential_pair(primary, candidate) {
            return;
        }
        let mut n = self.names();
        if n.p2c.len() >= MAX_NAMES {
            tracing::warn!(
                "shadow: {MAX_NAMES} sequential names remembered; forgetting them all (requests naming older ones may be reported as differences)"
            );
            n.p2c.clear();
            n.c2p.clear();
        }
        let (p, c) = (
            Bytes::copy_from_slice(primary),
            Bytes::copy_from_slice(candidate),
        );
        n.p2c.insert(p.clone(), c.clone());
        n.c2p.insert(c, p);
        drop(n);
        self.names_changed.notify_waiters();
    }

    /// A node deleted on both servers: its names are not needed any more.
    fn forget(&self, primary: &[u8], candidate: &[u8]) {
        let mut n = self.names();
        n.p2c.remove(primary);
        n.c2p.remove(candidate);
    }
}

/// Sequential names remembered at most (a bound on memory; see [`Shared::learn`]).
const MAX_NAMES: usize = 1 << 20;

/// `path` with its longest prefix (at a `/` boundary) found in `map` replaced.
fn translate(map: &HashMap<Bytes, Bytes>, path: &[u8]) -> Option<Bytes> {
    if map.is_empty() {
        return None;
    }
    let mut end = path.len();
    loop {
        if let Some(to) = map.get(&path[..end]) {
            let mut out = BytesMut::with_capacity(to.len() + path.len() - end);
            out.extend_from_slice(to);
            out.extend_from_slice(&path[end..]);
            return Some(out.freeze());
        }
        end = path[..end].iter().rposition(|&b| b == b'/')?;
        if end == 0 {
            return None;
        }
    }
}

/// True if `a` and `b` are the same sequential create's names on two servers: equal but for
/// the 10-digit counter at the end.
fn sequential_pair(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.len() >= 10
        && a[..a.len() - 10] == b[..b.len() - 10]
        && a[a.len() - 10..].iter().all(u8::is_ascii_digit)
        && b[b.len() - 10..].iter().all(u8::is_ascii_digit)
}

/// True for the opcodes that change the tree or the session (what the causal fence tracks).
pub(crate) fn is_write(op: i32) -> bool {
    matches!(op, 1 | 2 | 5 | 7 | 13 | 14 | 15 | 16 | 19 | 20 | 21 | -11)
}

/// True if some component of `path` ends with a sequential counter.
fn names_sequential(path: &[u8]) -> bool {
    path.split(|&b| b == b'/')
        .any(|c| c.len() >= 10 && c[c.len() - 10..].iter().all(u8::is_ascii_digit))
}

/// One request: what each server answered so far.
struct Pending {
    /// The frame's proxy-wide number.
    seq: u64,
    client_xid: i32,
    candidate_xid: i32,
    op: i32,
    /// (primary path, candidate path) per path the request names (one per op of a multi).
    paths: Vec<(Bytes, Bytes)>,
    /// A create (or a multi with one).
    create: bool,
    /// Counted in `creates_in_flight` (from the moment it is sent to the candidate).
    counted: bool,
    primary: Option<(ReplyHeader, Bytes)>,
    candidate: Option<(ReplyHeader, Bytes)>,
    sent: bool,
}

/// A request waiting for the candidate's names of the sequential nodes it mentions.
struct Held {
    seq: u64,
    op: i32,
    client_xid: i32,
    request: Option<Request>,
    raw: Bytes,
    deadline: Instant,
}

struct Comparer {
    conn: u64,
    shared: Arc<Shared>,
    limits: Limits,
    primary_session: i64,
    candidate_session: i64,
    primary_handshake: Option<ConnectResponse>,
    candidate_handshake: Option<ConnectResponse>,
    resumed: Option<CandidateSession>,
    next_xid: i32,
    last_zxid: i64,
    pending: VecDeque<Pending>,
    held: VecDeque<Held>,
    primary_events: VecDeque<WatcherEvent>,
    candidate_events: VecDeque<WatcherEvent>,
    close_sent: bool,
    candidate_gone: bool,
    /// Set by the relay when it stopped feeding this comparer (a frame was dropped): what
    /// the comparer still holds is incomplete, so it reports no differences any more.
    lost: Arc<AtomicBool>,
}

/// Why a comparer stopped following its session.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("candidate: {0}")]
    Candidate(String),
    #[error("{0}")]
    Protocol(String),
}

pub(crate) async fn comparer(
    conn: u64,
    mut rx: mpsc::Receiver<Tapped>,
    shared: Arc<Shared>,
    lost: Arc<AtomicBool>,
) {
    let mut c = Comparer {
        conn,
        limits: Limits {
            max_buffer: shared.config.max_frame,
        },
        shared,
        primary_session: 0,
        candidate_session: 0,
        primary_handshake: None,
        candidate_handshake: None,
        resumed: None,
        next_xid: 0,
        last_zxid: 0,
        pending: VecDeque::new(),
        held: VecDeque::new(),
        primary_events: VecDeque::new(),
        candidate_events: VecDeque::new(),
        close_sent: false,
        candidate_gone: false,
        lost: lost.clone(),
    };
    if let Err(stop) = c.run(&mut rx).await {
        if !lost.swap(true, Ordering::Relaxed) {
            c.shared
                .metrics
                .desynced_sessions
                .fetch_add(1, Ordering::Relaxed);
            if matches!(stop, Stop::Candidate(_)) {
                c.shared
                    .metrics
                    .candidate_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
            tracing::warn!(conn, "shadow: no longer comparing this connection: {stop}");
        }
    }
    c.release_creates();
    // Frames still queued will never be sent: open the fence they hold.
    rx.close();
    while let Ok(item) = rx.try_recv() {
        if let Tapped::Client(seq, _) = item {
            c.shared.fence_remove(seq);
        }
    }
    c.shared.metrics.comparer_done();
}

fn frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + payload.len());
    out.put_i32(payload.len() as i32);
    out.extend_from_slice(payload);
    out.freeze()
}

impl Comparer {
    async fn run(&mut self, rx: &mut mpsc::Receiver<Tapped>) -> Result<(), Stop> {
        // The handshake: the client's first frame.
        let connect = match rx.recv().await {
            Some(Tapped::Client(_, f)) => f,
            Some(Tapped::Primary(f)) => {
                return Err(Stop::Protocol(format!(
                    "primary spoke first ({} bytes)",
                    f.len()
                )))
            }
            None => return Ok(()),
        };
        let hs = handshake::decode_request(connect, self.limits)
            .map_err(|e| Stop::Protocol(format!("bad ConnectRequest: {e}")))?;
        let resumed = if hs.request.session_id != 0 {
            self.shared
                .sessions()
                .by_primary
                .get(&hs.request.session_id)
                .cloned()
        } else {
            None
        };
        let request = ConnectRequest {
            protocol_version: hs.request.protocol_version,
            last_zxid_seen: resumed.as_ref().map_or(0, |s| s.last_zxid),
            time_out: hs.request.time_out,
            session_id: resumed.as_ref().map_or(0, |s| s.id),
            passwd: Some(
                resumed
                    .as_ref()
                    .map_or_else(|| Bytes::from_static(&[0; 16]), |s| s.passwd.clone()),
            ),
            read_only: hs.request.read_only,
        };
        self.resumed = resumed;
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            TcpStream::connect(&self.shared.config.candidate),
        )
        .await
        .map_err(|_| Stop::Candidate("connect timed out".into()))?
        .map_err(|e| Stop::Candidate(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (r, mut w) = stream.into_split();
        let mut reader = FramedRead::new(
            r,
            LengthDelimitedCodec::builder()
                .length_field_length(4)
                .max_frame_length(self.shared.config.max_frame)
                .new_codec(),
        );
        let mut payload = BytesMut::new();
        handshake::encode_request(&request, hs.shape, &mut payload);
        write(&mut w, &frame(&payload)).await?;
        self.shared.metrics.sessions.fetch_add(1, Ordering::Relaxed);

        let far = || Instant::now() + Duration::from_secs(86_400);
        let mut next_ping = far();
        let mut ping_every = Duration::from_secs(3600);
        let mut client_open = true;
        // Set once the client is gone: the candidate's last answers are awaited until then.
        let mut drain_until = far();
        loop {
            if !client_open && self.settled() {
                break;
            }
            let hold_until = self.held.front().map_or_else(far, |h| h.deadline);

            let names_changed = self.shared.names_changed.notified();
            tokio::select! {
                item = rx.recv(), if client_open => match item {
                    Some(Tapped::Client(seq, f)) => self.on_client(seq, f, &mut w).await?,
                    Some(Tapped::Primary(f)) => self.on_primary(f)?,
                    None => {
                        client_open = false;
                        drain_until = Instant::now() + self.shared.config.drain_timeout;
                    }
                },
                f = reader.next(), if !self.candidate_gone => match f {
                    Some(Ok(f)) => {
                        let was_connected = self.candidate_handshake.is_some();
                        self.on_candidate(f.freeze())?;
                        if !was_connected {
                            if let Some(hs) = &self.candidate_handshake {
                                let t = u64::try_from(hs.time_out).unwrap_or(0).max(300);
                                ping_every = Duration::from_millis(t / 3);
                                next_ping = Instant::now() + ping_every;
                            }
                        }
                    }
                    Some(Err(e)) => return Err(Stop::Candidate(format!("read: {e}"))),
                    None if self.close_sent || !client_open => self.candidate_gone = true,
                    None => return Err(Stop::Candidate("closed the connection".into())),
                },
                _ = tokio::time::sleep_until(next_ping), if !self.candidate_gone => {
                    // RequestHeader{xid -2, ping 11}: the proxy keeps its candidate session
                    // alive itself (client pings are not forwarded).
                    let mut p = BytesMut::new();
                    p.put_i32(-2);
                    p.put_i32(11);
                    write(&mut w, &frame(&p)).await?;
                    next_ping = Instant::now() + ping_every;
                }
                _ = tokio::time::sleep_until(hold_until), if !self.held.is_empty() => {}
                _ = names_changed, if !self.held.is_empty() => {}
                _ = tokio::time::sleep_until(drain_until), if !client_open => break,
            }
            self.flush_held(&mut w).await?;
        }
        self.finish();
        Ok(())
    }

    /// True once nothing more is to be learnt from the candidate.
    fn settled(&self) -> bool {
        self.candidate_gone
            || (self.primary_handshake.is_none() || self.candidate_handshake.is_some())
                && self.held.is_empty()
                && self
                    .pending
                    .iter()
                    .all(|p| p.primary.is_none() || p.candidate.is_some())
    }

    async fn on_client(&mut self, seq: u64, f: Bytes, w: &mut OwnedWriteHalf) -> Result<(), Stop> {
        if f.len() < 8 {
            return Err(Stop::Protocol("request shorter than its header".into()));
        }
        let xid = i32::from_be_bytes([f[0], f[1], f[2], f[3]]);
        let op = i32::from_be_bytes([f[4], f[5], f[6], f[7]]);
        if xid == -2 {
            return Ok(());
        }
        let request = Request::decode_frame(f.clone(), self.limits)
            .ok()
            .map(|(_, r)| r);
        let candidate_xid = if xid < 0 {
            xid
        } else {
            self.next_xid = self.next_xid.wrapping_add(1).max(1);
            self.next_xid
        };
        let create = request.as_ref().is_some_and(|r| match r {
            Request::Create { .. } | Request::CreateTtl(_) => true,
            Request::Multi(m) => m
                .ops
                .iter()
                .any(|o| matches!(o, MultiOp::Create { .. } | MultiOp::CreateTtl(_))),
            _ => false,
        });
        if self.pending.len() >= self.shared.config.queue_capacity {
            // The candidate is that far behind (or silent): stop following rather than grow.
            return Err(Stop::Candidate(format!(
                "{} requests without an answer",
                self.pending.len()
            )));
        }
        if op == -11 {
            self.close_sent = true;
        }
        self.pending.push_back(Pending {
            seq,
            client_xid: xid,
            candidate_xid,
            op,
            paths: Vec::new(),
            create,
            counted: false,
            primary: None,
            candidate: None,
            sent: false,
        });
        self.held.push_back(Held {
            seq,
            op,
            client_xid: xid,
            request,
            raw: f,
            deadline: Instant::now() + self.shared.config.mapping_wait,
        });
        self.flush_held(w).await
    }

    /// Sends the held requests, in order, as soon as every sequential name they use has its
    /// candidate counterpart (or there is no create left that could supply it, or their wait
    /// is over).
    async fn flush_held(&mut self, w: &mut OwnedWriteHalf) -> Result<(), Stop> {
        while let Some(h) = self.held.front() {
            let mut paths = Vec::new();
            let mut unresolved = false;
            // The names are translated in a copy: a request that must wait keeps its primary
            // names, so the next attempt translates from them again (translating in place
            // once sent a candidate name back through the map, which knows it not, and the
            // raw frame, with the primary's name, went to the candidate).
            let mut translated = h.request.clone();
            if let Some(req) = translated.as_mut() {
                let shared = &self.shared;
                for_each_path(req, &mut |p: &mut Option<JString>| {
                    let Some(js) = p else { return };
                    let orig = js.bytes().clone();
                    match shared.to_candidate(&orig) {
                        Some(c) => {
                            *p = Some(JString::from_bytes(c.clone()));
                            paths.push((orig, c));
                        }
                        None => {
                            unresolved |= names_sequential(&orig);
                            paths.push((orig.clone(), orig));
                        }
                    }
                });
            }
            let waiting = (unresolved && self.shared.creates_in_flight.load(Ordering::Relaxed) > 0)
                || self.shared.fenced(h.seq, self.conn, is_write(h.op));
            if waiting && Instant::now() < h.deadline {
                return Ok(());
            }
            if waiting {
                self.shared
                    .metrics
                    .hold_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                let fence = self.shared.fence_snapshot(h.seq);
                tracing::info!(
                    conn = self.conn,
                    seq = h.seq,
                    unresolved,
                    ?fence,
                    creates = self.shared.creates_in_flight.load(Ordering::Relaxed),
                    paths = ?paths.iter().map(|(p, _)| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>(),
                    "shadow: request sent to the candidate after its hold timed out"
                );
            }
            let Some(h) = self.held.pop_front() else {
                break;
            };
            let Some(idx) = self
                .pending
                .iter()
                .position(|p| !p.sent && p.client_xid == h.client_xid)
            else {
                continue;
            };
            let cx = self.pending[idx].candidate_xid;
            let mut payload = BytesMut::new();
            match translated {
                Some(Request::SetWatches(mut sw)) => {
                    sw.relative_zxid = self.last_zxid;
                    Request::SetWatches(sw).encode_frame(cx, &mut payload);
                }
                Some(Request::SetWatches2(mut sw)) => {
                    sw.relative_zxid = self.last_zxid;
                    Request::SetWatches2(sw).encode_frame(cx, &mut payload);
                }
                Some(req) if paths.iter().any(|(p, c)| p != c) => {
                    req.encode_frame(cx, &mut payload)
                }
                _ => {
                    payload.put_i32(cx);
                    payload.extend_from_slice(&h.raw[4..]);
                }
            }
            self.pending[idx].paths = paths;
            self.pending[idx].sent = true;
            if self.pending[idx].create {
                self.pending[idx].counted = true;
                self.shared
                    .creates_in_flight
                    .fetch_add(1, Ordering::Relaxed);
            }
            write(w, &frame(&payload)).await?;
        }
        Ok(())
    }

    fn on_primary(&mut self, f: Bytes) -> Result<(), Stop> {
        if self.primary_handshake.is_none() {
            let (resp, _) = handshake::decode_response(f, self.limits)
                .map_err(|e| Stop::Protocol(format!("bad ConnectResponse from primary: {e}")))?;
            self.primary_session = resp.session_id;
            self.primary_handshake = Some(resp);
            self.compare_handshakes();
            return Ok(());
        }
        let mut d = Decoder::with_limits(f, self.limits);
        let h = ReplyHeader::decode(&mut d)
            .map_err(|e| Stop::Protocol(format!("bad reply from primary: {e}")))?;
        let body = d.into_remaining();
        match h.xid {
            -1 => {
                let e = WatcherEvent::from_bytes(body)
                    .map_err(|e| Stop::Protocol(format!("bad event from primary: {e}")))?;
                self.primary_events.push_back(e);
                self.compare_events();
            }
            -2 => {}
            xid => {
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| p.client_xid == xid && p.primary.is_none())
                {
                    p.primary = Some((h, body));
                }
                self.compare_ready();
            }
        }
        Ok(())
    }

    fn on_candidate(&mut self, f: Bytes) -> Result<(), Stop> {
        if self.candidate_handshake.is_none() {
            let (resp, _) = handshake::decode_response(f, self.limits)
                .map_err(|e| Stop::Candidate(format!("bad ConnectResponse: {e}")))?;
            self.candidate_session = resp.session_id;
            self.candidate_handshake = Some(resp);
            self.last_zxid = self.resumed.as_ref().map_or(0, |s| s.last_zxid);
            self.compare_handshakes();
            return Ok(());
        }
        let mut d = Decoder::with_limits(f, self.limits);
        let h =
            ReplyHeader::decode(&mut d).map_err(|e| Stop::Candidate(format!("bad reply: {e}")))?;
        let body = d.into_remaining();
        if h.zxid > self.last_zxid {
            self.last_zxid = h.zxid;
            if self.primary_session != 0 {
                if let Some(s) = self
                    .shared
                    .sessions()
                    .by_primary
                    .get_mut(&self.primary_session)
                {
                    s.last_zxid = h.zxid;
                }
            }
        }
        match h.xid {
            -1 => {
                let e = WatcherEvent::from_bytes(body)
                    .map_err(|e| Stop::Candidate(format!("bad event: {e}")))?;
                self.candidate_events.push_back(e);
                self.compare_events();
            }
            -2 => {}
            xid => {
                let mut answered = None;
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| p.sent && p.candidate_xid == xid && p.candidate.is_none())
                {
                    p.candidate = Some((h, body));
                    answered = Some((p.seq, p.create));
                }
                self.compare_ready();
                // A create's fence opens only once both answers are in and its sequential
                // names are learnt (compare_ready): the client may act on the primary's
                // answer at once, and another session's read must not reach the candidate,
                // and be compared, before the candidate's name is known.
                if let Some((seq, false)) = answered {
                    self.shared.fence_remove(seq);
                }
            }
        }
        Ok(())
    }

    fn compare_handshakes(&mut self) {
        let (Some(p), Some(c)) = (&self.primary_handshake, &self.candidate_handshake) else {
            return;
        };
        let norm = |r: &ConnectResponse| {
            format!(
                "timeOut={} session={} readOnly={}",
                r.time_out,
                if r.session_id == 0 {
                    "refused"
                } else {
                    "granted"
                },
                r.read_only
            )
        };
        let (pn, cn) = (norm(p), norm(c));
        if p.session_id != 0 && c.session_id != 0 {
            let mut s = self.shared.sessions();
            s.by_primary.insert(
                p.session_id,
                CandidateSession {
                    id: c.session_id,
                    passwd: c.passwd.clone().unwrap_or_default(),
                    last_zxid: self.last_zxid,
                },
            );
            s.to_primary.insert(c.session_id, p.session_id);
        }
        if pn != cn {
            self.difference("connect", 0, 0, "", &pn, &cn);
        }
    }

    fn compare_events(&mut self) {
        while !self.primary_events.is_empty() && !self.candidate_events.is_empty() {
            let (Some(p), Some(c)) = (
                self.primary_events.pop_front(),
                self.candidate_events.pop_front(),
            ) else {
                break;
            };
            self.shared
                .metrics
                .events_compared
                .fetch_add(1, Ordering::Relaxed);
            let show = |e: &WatcherEvent, path: Option<Bytes>| {
                format!(
                    "type={} state={} path={}",
                    e.type_,
                    e.state,
                    path.map_or_else(
                        || "null".into(),
                        |b| String::from_utf8_lossy(&b).into_owned()
                    )
                )
            };
            let pp = p.path.as_ref().map(|j| j.bytes().clone());
            let cp = c.path.as_ref().map(|j| {
                self.shared
                    .to_primary(j.as_bytes())
                    .unwrap_or_else(|| j.bytes().clone())
            });
            let (pn, cn) = (show(&p, pp), show(&c, cp));
            if pn != cn {
                let path = p.path.as_ref().map(|j| j.to_string_lossy().into_owned());
                self.difference("event", -1, 0, path.as_deref().unwrap_or(""), &pn, &cn);
            }
        }
    }

    fn compare_ready(&mut self) {
        while let Some(i) = self
            .pending
            .iter()
            .position(|p| p.primary.is_some() && p.candidate.is_some())
        {
            let Some(p) = self.pending.remove(i) else {
                break;
            };
            if p.counted {
                self.shared
                    .creates_in_flight
                    .fetch_sub(1, Ordering::Relaxed);
            }
            let (seq, create) = (p.seq, p.create);
            self.compare_reply(p);
            if create {
                // The names are learnt: the create's fence may open (see on_candidate).
                self.shared.fence_remove(seq);
            }
        }
    }

    fn compare_reply(&mut self, p: Pending) {
        let (Some((ph, pb)), Some((ch, cb))) = (p.primary.clone(), p.candidate.clone()) else {
            return;
        };
        self.shared
            .metrics
            .replies_compared
            .fetch_add(1, Ordering::Relaxed);
        let path = p
            .paths
            .first()
            .map(|(p, _)| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        if ph.err != ch.err {
            self.difference(
                "reply",
                p.client_xid,
                p.op,
                &path,
                &format!("err={}", ph.err),
                &format!("err={}", ch.err),
            );
            return;
        }
        if ph.err != 0 {
            return;
        }
        if p.op == 2 {
            if let Some((pp, cp)) = p.paths.first() {
                self.shared.forget(pp, cp);
            }
        }
        self.learn_creates(&p, &pb, &cb);
        let pn = self.describe(&p, pb, false);
        let cn = self.describe(&p, cb, true);
        if pn != cn {
            self.difference("reply", p.client_xid, p.op, &path, &pn, &cn);
        }
    }

    /// Learns the candidate's names of the sequential nodes a create (or a multi) made.
    fn learn_creates(&self, p: &Pending, pb: &Bytes, cb: &Bytes) {
        match p.op {
            1 => {
                if let (Ok(a), Ok(b)) = (
                    CreateResponse::from_bytes(pb.clone()),
                    CreateResponse::from_bytes(cb.clone()),
                ) {
                    self.learn_pair(a.path.as_ref(), b.path.as_ref());
                }
            }
            15 | 19 | 21 => {
                if let (Ok(a), Ok(b)) = (
                    Create2Response::from_bytes(pb.clone()),
                    Create2Response::from_bytes(cb.clone()),
                ) {
                    self.learn_pair(a.path.as_ref(), b.path.as_ref());
                }
            }
            14 => {
                if let (Ok(a), Ok(b)) = (
                    MultiResponse::from_bytes(pb.clone()),
                    MultiResponse::from_bytes(cb.clone()),
                ) {
                    for (x, y) in a.results.iter().zip(&b.results) {
                        match (x, y) {
                            (MultiResult::Create { path: a }, MultiResult::Create { path: b })
                            | (
                                MultiResult::Create2 { path: a, .. },
                                MultiResult::Create2 { path: b, .. },
                            ) => self.learn_pair(a.as_ref(), b.as_ref()),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn learn_pair(&self, p: Option<&JString>, c: Option<&JString>) {
        if let (Some(p), Some(c)) = (p, c) {
            self.shared.learn(p.as_bytes(), c.as_bytes());
        }
    }

    /// The answer with everything that may legitimately differ taken out, candidate names
    /// and sessions mapped to the primary's.
    fn describe(&self, p: &Pending, body: Bytes, candidate: bool) -> String {
        let name = |j: &Option<JString>| -> String {
            let Some(j) = j else { return "null".into() };
            let b = if candidate {
                self.shared
                    .to_primary(j.as_bytes())
                    .unwrap_or_else(|| j.bytes().clone())
            } else {
                j.bytes().clone()
            };
            String::from_utf8_lossy(&b).into_owned()
        };
        // Children are names under the request's path on that server.
        let parent = p
            .paths
            .first()
            .map(|(pp, cp)| if candidate { cp.clone() } else { pp.clone() });
        let children = |list: &Option<Vec<JString>>| -> String {
            let Some(list) = list else {
                return "null".into();
            };
            let mut names: Vec<String> = list
                .iter()
                .map(|c| {
                    let Some(parent) = &parent else {
                        return c.to_string_lossy().into_owned();
                    };
                    if !candidate {
                        return c.to_string_lossy().into_owned();
                    }
                    let mut full = BytesMut::from(&parent[..]);
                    if !full.ends_with(b"/") {
                        full.put_u8(b'/');
                    }
                    full.extend_from_slice(c.as_bytes());
                    match self.shared.to_primary(&full) {
                        Some(m) => {
                            let last = m.rsplit(|&b| b == b'/').next().unwrap_or(&m[..]);
                            String::from_utf8_lossy(last).into_owned()
                        }
                        None => c.to_string_lossy().into_owned(),
                    }
                })
                .collect();
            names.sort();
            format!("{names:?}")
        };
        let stat = |s: &Stat| self.stat(s, candidate);
        let raw = |b: &Bytes| format!("raw={b:?}");
        macro_rules! dec {
            ($t:ty) => {
                match <$t>::from_bytes(body.clone()) {
                    Ok(v) => v,
                    Err(e) => return format!("undecodable {}: {e}", stringify!($t)),
                }
            };
        }
        match p.op {
            1 => name(&dec!(CreateResponse).path),
            15 | 19 | 21 => {
                let r = dec!(Create2Response);
                format!("{} {}", name(&r.path), stat(&r.stat))
            }
            3 => stat(&dec!(ExistsResponse).stat),
            4 => {
                let r = dec!(GetDataResponse);
                format!("data={:?} {}", r.data, stat(&r.stat))
            }
            5 => stat(&dec!(SetDataResponse).stat),
            6 => {
                let r = dec!(GetACLResponse);
                format!("acl={:?} {}", r.acl, stat(&r.stat))
            }
            7 => stat(&dec!(SetACLResponse).stat),
            8 => children(&dec!(GetChildrenResponse).children),
            12 => {
                let r = dec!(GetChildren2Response);
                format!("{} {}", children(&r.children), stat(&r.stat))
            }
            9 => name(&dec!(SyncResponse).path),
            14 | 22 => {
                let r = dec!(MultiResponse);
                let parts: Vec<String> = r
                    .results
                    .iter()
                    .map(|x| match x {
                        MultiResult::Create { path } => format!("create {}", name(path)),
                        MultiResult::Create2 { path, stat: s } => {
                            format!("create {} {}", name(path), stat(s))
                        }
                        MultiResult::Delete => "delete".into(),
                        MultiResult::SetData { stat: s } => format!("setData {}", stat(s)),
                        MultiResult::Check => "check".into(),
                        MultiResult::GetData { data, stat: s } => {
                            format!("getData {data:?} {}", stat(s))
                        }
                        MultiResult::GetChildren { children: c } => {
                            let mut c: Vec<String> = c
                                .iter()
                                .flatten()
                                .map(|j| j.to_string_lossy().into_owned())
                                .collect();
                            c.sort();
                            format!("getChildren {c:?}")
                        }
                        MultiResult::Error { err } => format!("error {err}"),
                    })
                    .collect();
                parts.join("; ")
            }
            103 => {
                let r = dec!(GetEphemeralsResponse);
                let mut v: Vec<String> = r
                    .ephemerals
                    .iter()
                    .flatten()
                    .map(|j| name(&Some(j.clone())))
                    .collect();
                v.sort();
                format!("{v:?}")
            }
            104 => format!("{}", dec!(GetAllChildrenNumberResponse).total_number),
            // delete, checkWatches, removeWatches, addWatch, auth, setWatches, closeSession:
            // nothing but the header; anything else is compared byte for byte.
            _ => raw(&body),
        }
    }

    fn stat(&self, s: &Stat, candidate: bool) -> String {
        let owner = if s.ephemeral_owner == 0 {
            "0".to_string()
        } else if candidate {
            match self.shared.sessions().to_primary.get(&s.ephemeral_owner) {
                Some(p) => format!("{p:#x}"),
                None => format!("unknown candidate session {:#x}", s.ephemeral_owner),
            }
        } else {
            format!("{:#x}", s.ephemeral_owner)
        };
        format!(
            "stat(version={} cversion={} aversion={} ephemeralOwner={} dataLength={} numChildren={})",
            s.version, s.cversion, s.aversion, owner, s.data_length, s.num_children
        )
    }

    fn difference(
        &self,
        kind: &str,
        xid: i32,
        op: i32,
        path: &str,
        primary: &str,
        candidate: &str,
    ) {
        if self.lost.load(Ordering::Relaxed) {
            return;
        }
        self.shared
            .metrics
            .differences
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "shadow",
            conn = self.conn,
            session = %format!("{:#x}", self.primary_session),
            kind,
            xid,
            op,
            path,
            primary,
            candidate,
            "difference"
        );
    }

    /// End of the connection: what the candidate never answered.
    fn finish(&mut self) {
        for p in &self.pending {
            tracing::debug!(
                conn = self.conn,
                xid = p.client_xid,
                cxid = p.candidate_xid,
                op = p.op,
                sent = p.sent,
                primary = p.primary.is_some(),
                candidate = p.candidate.is_some(),
                "shadow: left pending"
            );
        }
        if self.lost.load(Ordering::Relaxed) {
            // The session was given up on (and counted) already.
            return;
        }
        let unanswered = self
            .pending
            .iter()
            .filter(|p| p.primary.is_some() && p.candidate.is_none())
            .count();
        if unanswered > 0 {
            self.shared
                .metrics
                .unanswered
                .fetch_add(unanswered as u64, Ordering::Relaxed);
            for p in self
                .pending
                .iter()
                .filter(|p| p.primary.is_some() && p.candidate.is_none())
            {
                let path = p
                    .paths
                    .first()
                    .map(|(p, _)| String::from_utf8_lossy(p).into_owned())
                    .unwrap_or_default();
                self.difference(
                    "unanswered",
                    p.client_xid,
                    p.op,
                    &path,
                    "answered",
                    "no answer",
                );
            }
        }
        let unpaired = self.primary_events.len() + self.candidate_events.len();
        if unpaired > 0 {
            self.shared
                .metrics
                .unpaired_events
                .fetch_add(unpaired as u64, Ordering::Relaxed);
            tracing::info!(
                conn = self.conn,
                primary = self.primary_events.len(),
                candidate = self.candidate_events.len(),
                "shadow: watch events without a counterpart when the connection closed"
            );
        }
    }

    fn release_creates(&mut self) {
        for p in self.pending.drain(..) {
            if p.counted {
                self.shared
                    .creates_in_flight
                    .fetch_sub(1, Ordering::Relaxed);
            }
            self.shared.fence_remove(p.seq);
        }
    }
}

async fn write(w: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), Stop> {
    w.write_all(bytes)
        .await
        .map_err(|e| Stop::Candidate(format!("write: {e}")))
}

/// Calls `f` on every path a request names (the ones the candidate may know by another name).
fn for_each_path(req: &mut Request, f: &mut impl FnMut(&mut Option<JString>)) {
    match req {
        Request::Create { request, .. } => f(&mut request.path),
        Request::CreateTtl(r) => f(&mut r.path),
        Request::Delete(r) => f(&mut r.path),
        Request::Exists(r) => f(&mut r.path),
        Request::GetData(r) => f(&mut r.path),
        Request::SetData(r) => f(&mut r.path),
        Request::GetAcl(r) => f(&mut r.path),
        Request::SetAcl(r) => f(&mut r.path),
        Request::GetChildren(r) => f(&mut r.path),
        Request::GetChildren2(r) => f(&mut r.path),
        Request::Sync(r) => f(&mut r.path),
        Request::Check(r) => f(&mut r.path),
        Request::CheckWatches(r) => f(&mut r.path),
        Request::RemoveWatches(r) => f(&mut r.path),
        Request::GetAllChildrenNumber(r) => f(&mut r.path),
        Request::AddWatch(r) => f(&mut r.path),
        Request::Multi(m) | Request::MultiRead(m) => {
            for op in &mut m.ops {
                match op {
                    MultiOp::Create { request, .. } => f(&mut request.path),
                    MultiOp::CreateTtl(r) => f(&mut r.path),
                    MultiOp::Delete(r) => f(&mut r.path),
                    MultiOp::SetData(r) => f(&mut r.path),
                    MultiOp::Check(r) => f(&mut r.path),
                    MultiOp::GetData { path } | MultiOp::GetChildren { path } => f(path),
                }
            }
        }
        Request::SetWatches(sw) => {
            for list in [
                &mut sw.data_watches,
                &mut sw.exist_watches,
                &mut sw.child_watches,
            ] {
                for p in list.iter_mut().flatten() {
                    let mut o = Some(p.clone());
                    f(&mut o);
                    if let Some(n) = o {
                        *p = n;
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_names_pair_only_on_the_counter() {
        assert!(sequential_pair(b"/l/x-0000000003", b"/l/x-0000000007"));
        assert!(!sequential_pair(b"/l/x-0000000003", b"/l/y-0000000007"));
        assert!(!sequential_pair(b"/l/abcdefghijkl", b"/l/abcdefghijkm"));
        assert!(names_sequential(b"/q/entry-0000000001/child"));
        assert!(!names_sequential(b"/q/entry"));
    }

    #[test]
    fn translate_replaces_the_longest_mapped_prefix() {
        let mut m = HashMap::new();
        m.insert(
            Bytes::from_static(b"/q/e-0000000001"),
            Bytes::from_static(b"/q/e-0000000002"),
        );
        assert_eq!(
            translate(&m, b"/q/e-0000000001/c").as_deref(),
            Some(&b"/q/e-0000000002/c"[..])
        );
        assert_eq!(
            translate(&m, b"/q/e-0000000001").as_deref(),
            Some(&b"/q/e-0000000002"[..])
        );
        assert_eq!(translate(&m, b"/q/e-0000000003"), None);
        assert_eq!(translate(&m, b"/q"), None);
    }
}
