//! Clients that record a [`History`](crate::history::History) while a test breaks the
//! servers under them.
//!
//! Each client is one ZooKeeper session at a time, speaking the wire directly (so the reply
//! header's zxid, which the checker needs, is at hand), with one request in flight. It runs
//! create / setData / delete / getData / sync+getData on a few keys under a prefix, writes
//! values unique to the history, and records every operation with its outcome: an answer is
//! `ok` or `fail`, a connection that breaks or a reply that does not come within the
//! timeout is `unknown`. It then moves to the next server with its session id, password
//! and the last zxid it saw (as ZooKeeper's clients do), and starts a new session when the
//! old one expired. All clients share one clock (an `Instant` taken at the start).
//!
//! [`final_states`] then reads every key from every server (after a `sync`) for the
//! durability and convergence rules.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_proto::data::Acl;
use zk_proto::handshake::{self, ConnectShape};
use zk_proto::multi::CreateOp;
use zk_proto::proto::{
    ConnectRequest, CreateRequest, DeleteRequest, GetDataRequest, GetDataResponse, ReplyHeader,
    SetDataRequest, SyncRequest,
};
use zk_proto::request::Request;
use zk_proto::{Decoder, JString, Limits, Record};

use crate::history::{FinalState, Kind, Observed, Op, Outcome};

/// ZooKeeper's NONODE.
const NONODE: i32 = -101;
/// Largest reply frame a recorder accepts.
const MAX_FRAME: usize = 4 << 20;

/// What the recorders do.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The servers' client addresses (`host:port`); client `i` starts at server `i % n`.
    pub servers: Vec<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// How long they run.
    pub duration: Duration,
    /// Keys under [`RecordConfig::prefix`] (`k0`, `k1`, ...).
    pub keys: usize,
    /// Parent of the keys (created if missing).
    pub prefix: String,
    /// Seed of the op and key choices.
    pub seed: u64,
    /// Requested session timeout, ms.
    pub session_timeout_ms: i32,
    /// How long a request or a connect may take before it counts as lost.
    pub op_timeout: Duration,
    /// The origin of the recorded times: runs that share it (clones of one config) make one
    /// history.
    pub origin: Instant,
}

impl RecordConfig {
    /// Defaults for a short run against `servers`.
    pub fn new(servers: Vec<String>) -> RecordConfig {
        RecordConfig {
            servers,
            clients: 4,
            duration: Duration::from_secs(5),
            keys: 8,
            prefix: "/history".into(),
            seed: 1,
            session_timeout_ms: 10_000,
            op_timeout: Duration::from_secs(3),
            origin: Instant::now(),
        }
    }

    fn key(&self, i: u64) -> String {
        format!("{}/k{}", self.prefix, i % self.keys.max(1) as u64)
    }
}

/// One connection with its session.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    xid: i32,
}

/// The session a client carries from server to server.
#[derive(Debug, Clone, Default)]
struct Session {
    id: i64,
    passwd: Option<Bytes>,
    last_zxid: i64,
}

/// Why a call gave no answer.
#[derive(Debug)]
struct Lost(String);

fn path(p: &str) -> Option<JString> {
    Some(JString::from(p))
}

fn open_acl() -> Option<Vec<Acl>> {
    Some(zk_tree::acl::open_acl_unsafe())
}

impl Conn {
    /// Connects to `addr` into `session` (a new one when its id is 0); `None` when the
    /// server refused or the session expired (then `session` is reset to a new one).
    async fn open(addr: &str, session: &mut Session, cfg: &RecordConfig) -> Result<Conn, Lost> {
        let lost = |e: &dyn std::fmt::Display| Lost(format!("{addr}: {e}"));
        let stream = tokio::time::timeout(cfg.op_timeout, TcpStream::connect(addr))
            .await
            .map_err(|e| lost(&e))?
            .map_err(|e| lost(&e))?;
        stream.set_nodelay(true).map_err(|e| lost(&e))?;
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            xid: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: session.last_zxid,
            time_out: cfg.session_timeout_ms,
            session_id: session.id,
            passwd: Some(
                session
                    .passwd
                    .clone()
                    .unwrap_or_else(|| Bytes::from(vec![0; 16])),
            ),
            read_only: false,
        };
        let mut frame = BytesMut::new();
        handshake::encode_request(&req, ConnectShape::WithReadOnly, &mut frame);
        let resp = tokio::time::timeout(cfg.op_timeout, async {
            conn.send(&frame).await?;
            conn.frame().await
        })
        .await
        .map_err(|e| lost(&e))??;
        let (resp, _) =
            handshake::decode_response(resp, Limits::default()).map_err(|e| lost(&e))?;
        if resp.time_out <= 0 {
            // Expired (or refused because it is behind us): the next try starts a new
            // session if the old one is gone.
            if session.id != 0 {
                *session = Session {
                    last_zxid: session.last_zxid,
                    ..Session::default()
                };
            }
            return Err(lost(&"session refused or expired"));
        }
        session.id = resp.session_id;
        session.passwd = resp.passwd;
        Ok(conn)
    }

    async fn send(&mut self, payload: &[u8]) -> Result<(), Lost> {
        let mut out = BytesMut::with_capacity(4 + payload.len());
        out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        out.extend_from_slice(payload);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| Lost(e.to_string()))
    }

    /// The next frame, without its length.
    async fn frame(&mut self) -> Result<Bytes, Lost> {
        // Bounded: each pass reads more bytes or fails.
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= MAX_FRAME)
                    .ok_or_else(|| Lost(format!("frame length {len}")))?;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Ok(self.buf.split_to(len).freeze());
                }
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| Lost(e.to_string()))?;
            if n == 0 {
                return Err(Lost("connection closed".into()));
            }
        }
    }

    /// Sends `req` and waits for its reply (skipping notifications and pings): the header
    /// and the body's bytes.
    async fn call(
        &mut self,
        req: &Request,
        timeout: Duration,
    ) -> Result<(ReplyHeader, Bytes), Lost> {
        self.xid += 1;
        let xid = self.xid;
        let mut payload = BytesMut::new();
        req.encode_frame(xid, &mut payload);
        tokio::time::timeout(timeout, async {
            self.send(&payload).await?;
            // Bounded by the timeout around it.
            loop {
                let frame = self.frame().await?;
                let mut d = Decoder::with_limits(frame, Limits::default());
                let h = ReplyHeader::decode(&mut d).map_err(|e| Lost(e.to_string()))?;
                if h.xid == xid {
                    let rest = d.into_remaining();
                    return Ok((h, rest));
                }
            }
        })
        .await
        .map_err(|_| Lost("no reply in time".into()))?
    }
}

/// What one client recorded.
struct Client {
    cfg: std::sync::Arc<RecordConfig>,
    index: usize,
    start: Instant,
    session: Session,
    conn: Option<Conn>,
    server: usize,
    seq: u64,
    writes: u64,
    rng: u64,
    ops: Vec<Op>,
}

impl Client {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A connection, trying each server once in turn.
    async fn connected(&mut self) -> Option<&mut Conn> {
        if self.conn.is_none() {
            let n = self.cfg.servers.len().max(1);
            for _ in 0..n {
                let addr = self.cfg.servers[self.server % n].clone();
                self.server += 1;
                if let Ok(c) = Conn::open(&addr, &mut self.session, &self.cfg).await {
                    self.conn = Some(c);
                    break;
                }
            }
        }
        self.conn.as_mut()
    }

    async fn run(mut self, deadline: Instant) -> Vec<Op> {
        // Bounded by the deadline: every pass takes at most a few op timeouts.
        while Instant::now() < deadline {
            if self.connected().await.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let pick = self.next();
            let k = self.next();
            let key = self.cfg.key(k);
            let kind = match pick % 10 {
                0 | 1 => Kind::Create,
                2..=4 => Kind::Set,
                5 => Kind::Delete,
                6 | 7 => Kind::Get,
                _ => Kind::SyncGet,
            };
            self.op(kind, key).await;
        }
        if let Some(mut c) = self.conn.take() {
            // closeSession, best effort.
            let _ = c.call(&Request::CloseSession, self.cfg.op_timeout).await;
        }
        self.ops
    }

    async fn op(&mut self, kind: Kind, key: String) {
        let value = matches!(kind, Kind::Create | Kind::Set).then(|| {
            self.writes += 1;
            format!("s{}c{}-{}", self.cfg.seed, self.index, self.writes)
        });
        let data = value.as_ref().map(|v| Bytes::from(v.clone().into_bytes()));
        let req = match kind {
            Kind::Create => Request::Create {
                op: CreateOp::Create,
                request: CreateRequest {
                    path: path(&key),
                    data,
                    acl: open_acl(),
                    flags: 0,
                },
            },
            Kind::Set => Request::SetData(SetDataRequest {
                path: path(&key),
                data,
                version: -1,
            }),
            Kind::Delete => Request::Delete(DeleteRequest {
                path: path(&key),
                version: -1,
            }),
            Kind::Get | Kind::SyncGet => Request::GetData(GetDataRequest {
                path: path(&key),
                watch: false,
            }),
        };
        self.seq += 1;
        let invoke_ns = self.now();
        let timeout = self.cfg.op_timeout;
        let session = self.session.id;
        let result = match self.conn.as_mut() {
            None => Err(Lost("not connected".into())),
            Some(c) => {
                let synced = if kind == Kind::SyncGet {
                    let sync = Request::Sync(SyncRequest { path: path(&key) });
                    c.call(&sync, timeout).await.map(|_| ())
                } else {
                    Ok(())
                };
                match synced {
                    Ok(()) => c.call(&req, timeout).await,
                    Err(e) => Err(e),
                }
            }
        };
        let complete_ns = self.now();
        let mut op = Op {
            session,
            seq: self.seq,
            kind,
            path: key,
            value,
            invoke_ns,
            complete_ns,
            outcome: Outcome::Unknown,
            zxid: None,
            observed: None,
        };
        match result {
            Err(_) => self.conn = None,
            Ok((h, body)) => {
                op.zxid = Some(h.zxid);
                self.session.last_zxid = self.session.last_zxid.max(h.zxid);
                match (kind, h.err) {
                    (Kind::Get | Kind::SyncGet, 0) => {
                        let mut d = Decoder::with_limits(body, Limits::default());
                        match GetDataResponse::decode(&mut d) {
                            Ok(r) => {
                                op.outcome = Outcome::Ok;
                                op.observed = Some(Observed::Found {
                                    value: String::from_utf8_lossy(
                                        r.data.as_deref().unwrap_or_default(),
                                    )
                                    .into_owned(),
                                    mzxid: r.stat.mzxid,
                                });
                            }
                            Err(_) => self.conn = None,
                        }
                    }
                    (Kind::Get | Kind::SyncGet, NONODE) => {
                        op.outcome = Outcome::Ok;
                        op.observed = Some(Observed::NoNode);
                    }
                    (Kind::Get | Kind::SyncGet, _) => {}
                    (_, 0) => op.outcome = Outcome::Ok,
                    (_, _) => op.outcome = Outcome::Fail,
                }
            }
        }
        self.ops.push(op);
    }
}

/// Runs the clients for the configured duration; returns every operation they recorded.
/// Values written are unique per seed: runs that make one history use different seeds.
/// The prefix is created first (on the first server that answers).
pub async fn record(cfg: &RecordConfig) -> Vec<Op> {
    let start = cfg.origin;
    let mut setup = Session::default();
    for addr in &cfg.servers {
        if let Ok(mut c) = Conn::open(addr, &mut setup, cfg).await {
            let create = Request::Create {
                op: CreateOp::Create,
                request: CreateRequest {
                    path: path(&cfg.prefix),
                    data: None,
                    acl: open_acl(),
                    flags: 0,
                },
            };
            if c.call(&create, cfg.op_timeout).await.is_ok() {
                let _ = c.call(&Request::CloseSession, cfg.op_timeout).await;
                break;
            }
        }
    }
    let deadline = Instant::now() + cfg.duration;
    let shared = std::sync::Arc::new(cfg.clone());
    let mut set = tokio::task::JoinSet::new();
    for index in 0..cfg.clients {
        let client = Client {
            cfg: shared.clone(),
            index,
            start,
            session: Session::default(),
            conn: None,
            server: index,
            seq: 0,
            writes: 0,
            rng: cfg.seed.wrapping_mul(1_000_003).wrapping_add(index as u64),
            ops: Vec::new(),
        };
        set.spawn(client.run(deadline));
    }
    let mut ops = Vec::new();
    while let Some(r) = set.join_next().await {
        // A client task never panics on what servers send; a panic is a recorder bug.
        match r {
            Ok(client_ops) => ops.extend(client_ops),
            Err(e) => panic!("a recorder client failed: {e}"),
        }
    }
    ops
}

/// Each server's final state of the keys; a server that does not answer is left out (its
/// address and why are in the second list). Sessions are opened on every server first, so
/// that their createSession txns are behind every server's `sync`: the servers then read at
/// the same zxid when they agree.
pub async fn final_states(cfg: &RecordConfig) -> (Vec<FinalState>, Vec<String>) {
    let mut conns = Vec::new();
    let mut failed = Vec::new();
    for addr in &cfg.servers {
        let mut session = Session::default();
        match Conn::open(addr, &mut session, cfg).await {
            Ok(c) => conns.push((addr.clone(), c)),
            Err(Lost(why)) => failed.push(format!("{addr}: {why}")),
        }
    }
    let mut states = Vec::new();
    for (addr, c) in &mut conns {
        match final_state(addr, c, cfg).await {
            Ok(s) => states.push(s),
            Err(Lost(why)) => failed.push(format!("{addr}: {why}")),
        }
    }
    for (_, c) in &mut conns {
        let _ = c.call(&Request::CloseSession, cfg.op_timeout).await;
    }
    (states, failed)
}

/// Reads every server's final state ([`final_states`]) and checks `ops` with them: fails
/// the test unless every server answered and the checker accepts the history
/// ([`crate::history::assert_accepted`]). Returns the history, the report and how many
/// writes of unknown outcome took effect.
pub async fn assert_history_accepted(
    cfg: &RecordConfig,
    ops: Vec<Op>,
    what: &str,
) -> (crate::history::History, crate::history::Report, usize) {
    let (finals, failed) = final_states(cfg).await;
    assert!(
        failed.is_empty(),
        "{what}: final states unreadable: {failed:?}"
    );
    let history = crate::history::History { ops, finals };
    let (report, unknown) = crate::history::assert_accepted(&history, what);
    (history, report, unknown)
}

async fn final_state(addr: &str, c: &mut Conn, cfg: &RecordConfig) -> Result<FinalState, Lost> {
    let sync = Request::Sync(SyncRequest {
        path: path(&cfg.prefix),
    });
    c.call(&sync, cfg.op_timeout).await?;
    let mut state = FinalState {
        node: addr.to_string(),
        zxid: 0,
        digest: None,
        data: Default::default(),
    };
    for i in 0..cfg.keys as u64 {
        let key = cfg.key(i);
        let get = Request::GetData(GetDataRequest {
            path: path(&key),
            watch: false,
        });
        let (h, body) = c.call(&get, cfg.op_timeout).await?;
        state.zxid = state.zxid.max(h.zxid);
        if h.err == 0 {
            let mut d = Decoder::with_limits(body, Limits::default());
            let r = GetDataResponse::decode(&mut d).map_err(|e| Lost(e.to_string()))?;
            let value = String::from_utf8_lossy(r.data.as_deref().unwrap_or_default()).into_owned();
            state.data.insert(key, (value, r.stat.mzxid));
        } else if h.err != NONODE {
            return Err(Lost(format!("getData {key}: error {}", h.err)));
        }
    }
    Ok(state)
}
