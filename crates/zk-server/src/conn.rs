//! One client connection: framing, the handshake, four-letter words, and shuttling
//! requests to the core and replies back, batching writes.
//!
//! The connection keeps its own statistics ([`ConnStats`], for `cons`/`stat`) and feeds the
//! server's ([`Stats`]) where the data already flows: frames and bytes are counted once per
//! read batch, replies once per write batch; each reply is matched with its request
//! (`pending`) for its latency and the last-operation fields, as `FinalRequestProcessor`'s
//! `updateStats` records them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Decoder as _;
use tokio_util::either::Either;
use zk_proto::codec::{ClientCodec, ClientFrame, CodecError, FourLetterWord};
use zk_proto::data::Id;
use zk_proto::handshake::{self, ConnectShape};
use zk_proto::proto::{ReplyHeader, WatcherEvent};
use zk_proto::request::{OnBodyError, Request};
use zk_proto::{xid, KeeperState, OpCode, Record};

use crate::core::{ConnId, CoreMsg, Outgoing};
use crate::fourlw;
use crate::outbox;
use crate::settings::Settings;
use crate::stats::{ConnStats, LastOp, Stats};
use crate::summary::Samples;
use crate::ListenMode;

/// A TLS connection.
type Tls = tokio_rustls::server::TlsStream<TcpStream>;
/// The reading side of a connection: plain TCP or TLS, held inline (a box per side would
/// be two more allocations per connection).
type Rd = Either<OwnedReadHalf, ReadHalf<Tls>>;
/// The writing side of a connection.
type Wr = Either<OwnedWriteHalf, WriteHalf<Tls>>;

/// Writes `buf` and flushes it (a TLS stream holds records until flushed).
async fn send_all(wr: &mut Wr, buf: &[u8]) -> std::io::Result<()> {
    wr.write_all(buf).await?;
    wr.flush().await
}

/// The first byte of a TLS handshake record (`DualModeSslHandler` tells TLS from
/// plaintext the same way: a ZooKeeper frame starts with a length's high byte, 0, and a
/// four-letter word with a lowercase letter).
pub(crate) const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Sets up the transport: TLS handshake (bounded by `ssl.handshakeDetectionTimeoutMillis`)
/// or plaintext. Returns the halves and the identities a client certificate gives.
async fn transport(
    stream: TcpStream,
    mode: ListenMode,
    peer: SocketAddr,
    settings: &Settings,
) -> Option<(Rd, Wr, Vec<Id>)> {
    let plain = |stream: TcpStream| {
        let (rd, wr) = stream.into_split();
        Some((Either::Left(rd), Either::Left(wr), Vec::new()))
    };
    let Some(tls) = settings.tls.as_ref().filter(|_| mode != ListenMode::Plain) else {
        return plain(stream);
    };
    let bound = tls.options().handshake_timeout;
    if mode == ListenMode::Unified {
        let mut first = [0u8; 1];
        match tokio::time::timeout(bound, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] != TLS_HANDSHAKE_RECORD => return plain(stream),
            Ok(Ok(1)) => {}
            Ok(_) => return None,
            Err(_) => {
                tracing::info!(
                    "{peer} sent nothing within {} ms; dropping",
                    bound.as_millis()
                );
                return None;
            }
        }
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config());
    let stream = match tokio::time::timeout(bound, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!("TLS handshake with {peer} failed: {e}");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                "TLS handshake with {peer} did not complete within {} ms; dropping the connection",
                bound.as_millis()
            );
            return None;
        }
    };
    let mut ids = Vec::new();
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned());
    if let Some(cert) = leaf {
        // X509AuthenticationProvider.handleAuthentication: the verifier already checked the
        // chain against the trust store; the subject becomes the identity.
        let Some(subject) = crate::tls::subject_rfc2253(&cert) else {
            tracing::warn!("cannot read the subject of {peer}'s certificate; closing");
            return None;
        };
        let id = |scheme: &str, v: &str| Id {
            scheme: Some(zk_proto::JString::from(scheme)),
            id: Some(zk_proto::JString::from(v)),
        };
        if tls.options().x509_super_user.as_deref() == Some(subject.as_str()) {
            tracing::info!("Authenticated Id '{subject}' as super user");
            ids.push(id("super", &subject));
        }
        tracing::info!("Authenticated Id '{subject}' for Scheme 'x509'");
        ids.push(id("x509", &subject));
    }
    let (rd, wr) = tokio::io::split(stream);
    Some((Either::Right(rd), Either::Right(wr), ids))
}

/// Why a connection ended (for the log line).
#[derive(Debug)]
#[allow(dead_code)] // fields are read through Debug in the closing log line
enum End {
    Io(std::io::Error),
    Eof,
    BadLength(i32),
    BadFrame(String),
    ClosedByServer,
    CoreGone,
}

/// A connection's first read buffer: room for a ConnectRequest (49 bytes with its length).
/// An idle connection holds no more than this (it is given back after the handshake and at
/// every ping that finds nothing else to do, and a read into an empty `BytesMut` reserves
/// 64 bytes).
const READ_BUFFER_START: usize = 64;

/// What a read that filled the read buffer reserves for the next one at least: a busy
/// connection reads in pieces of this size or more (the buffer doubles while reads keep
/// filling it, and the codec reserves a longer frame's whole length once its header is in).
const READ_BUFFER_BUSY: usize = 1024;

/// The largest write buffer a connection keeps for good; a larger one (grown by a burst of
/// replies) is given back at the first flush that fills less than a quarter of it.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;

/// Reads the next frame with the client codec, with the number of bytes it took.
async fn next_frame(
    rd: &mut Rd,
    buf: &mut BytesMut,
    codec: &mut ClientCodec,
) -> Result<(ClientFrame, usize), End> {
    loop {
        let before = buf.len();
        match codec.decode(buf) {
            Ok(Some(f)) => return Ok((f, before - buf.len())),
            Ok(None) => {}
            Err(e) => return Err(codec_end(e)),
        }
        if rd.read_buf(buf).await.map_err(End::Io)? == 0 {
            return Err(End::Eof);
        }
    }
}

/// Waiting for room in the core's queue, or for nothing (the core is gone: `Err`).
type CoreWait<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), mpsc::error::SendError<CoreMsg>>> + Send + 'a>,
>;

/// Hands `msg` to the core if its queue has room; otherwise returns the wait for room, boxed:
/// tokio's send future and the message are several hundred bytes, and every connection
/// task would otherwise carry room for them for its whole life (a plain function, so the
/// message is never part of the caller's state either).
fn to_core(core: &mpsc::Sender<CoreMsg>, msg: CoreMsg) -> Option<CoreWait<'_>> {
    match core.try_send(msg) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(msg)) => Some(Box::pin(core.send(msg))),
        Err(mpsc::error::TrySendError::Closed(msg)) => Some(Box::pin(std::future::ready(Err(
            mpsc::error::SendError(msg),
        )))),
    }
}

fn codec_end(e: CodecError) -> End {
    match e {
        CodecError::BadLength { len, .. } => End::BadLength(len),
        CodecError::Io(e) => End::Io(e),
        other => End::BadFrame(other.to_string()),
    }
}

/// Appends one frame; returns its length (without the 4-byte prefix).
fn put_frame(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) -> usize {
    let start = out.len();
    out.put_i32(0);
    body(out);
    let len = out.len() - start - 4;
    out[start..start + 4].copy_from_slice(&(len as i32).to_be_bytes());
    len
}

/// Serves one connection to the end.
pub async fn serve(
    stream: TcpStream,
    mode: ListenMode,
    peer: SocketAddr,
    id: ConnId,
    core: mpsc::Sender<CoreMsg>,
    settings: Arc<Settings>,
    stats: Arc<Stats>,
) {
    let _ = stream.set_nodelay(true);
    // Boxed: the handshake's state (a TLS acceptor's above all) lives only while it runs,
    // instead of widening the connection task for its whole life.
    let Some((mut rd, mut wr, transport_auth)) =
        Box::pin(transport(stream, mode, peer, &settings)).await
    else {
        return;
    };
    let conn_stats = Arc::new(ConnStats::new(id, peer, stats.elapsed_ms()));
    stats.conns.register(conn_stats.clone());
    let (tx, rx) = outbox::outbox();
    let ctx = Ctx {
        peer,
        id,
        core: &core,
        settings: &settings,
        stats: &stats,
        conn: &conn_stats,
    };
    let end = session(&ctx, &mut rd, &mut wr, tx, &rx, transport_auth).await;
    match &end {
        End::Eof | End::ClosedByServer => {
            tracing::debug!("connection {id} from {peer} closed: {end:?}")
        }
        End::BadLength(len) => tracing::warn!(
            "closing connection from {peer}: frame length {len} outside 0..={}",
            settings.max_buffer
        ),
        _ => tracing::info!("closing connection from {peer}: {end:?}"),
    }
    let _ = wr.shutdown().await;
    stats.conns.unregister(id);
    let _ = core
        .send(CoreMsg::Node(zk_node::Input::Closed { conn: id }))
        .await;
}

/// What a connection task works with.
struct Ctx<'a> {
    peer: SocketAddr,
    id: ConnId,
    core: &'a mpsc::Sender<CoreMsg>,
    settings: &'a Arc<Settings>,
    stats: &'a Arc<Stats>,
    conn: &'a Arc<ConnStats>,
}

impl Ctx<'_> {
    /// `packetReceived`: `n` packets of `bytes` bytes in all, read at `now_ms`.
    fn received(&self, n: u64, bytes: usize, now_ms: i64) {
        self.stats.packets_received.fetch_add(n, Ordering::Relaxed);
        self.stats
            .bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.conn.received.fetch_add(n, Ordering::Relaxed);
        self.conn.last_activity_ms.store(now_ms, Ordering::Relaxed);
    }

    /// `packetSent`, `n` times.
    fn sent(&self, n: u64) {
        self.stats.packets_sent.fetch_add(n, Ordering::Relaxed);
        self.conn.sent.fetch_add(n, Ordering::Relaxed);
    }
}

async fn session(
    ctx: &Ctx<'_>,
    rd: &mut Rd,
    wr: &mut Wr,
    tx: outbox::Sender,
    rx: &outbox::Receiver,
    transport_auth: Vec<Id>,
) -> End {
    let (settings, stats) = (ctx.settings, ctx.stats);
    let mut buf = BytesMut::with_capacity(READ_BUFFER_START);
    let mut codec = ClientCodec::new(settings.max_buffer);
    let (req, read_only_byte, connect_bytes) = match next_frame(rd, &mut buf, &mut codec).await {
        Ok((ClientFrame::Connect(h), n)) => (h.request, h.shape == ConnectShape::WithReadOnly, n),
        // A fresh connection may open with a four-letter word instead of a frame length.
        Ok((ClientFrame::FourLetter(word), _)) => {
            // Boxed: rare, and its state would otherwise widen every connection's task.
            return Box::pin(four_letter(ctx, word, rd, wr, &mut buf, &mut codec)).await;
        }
        Ok((other, _)) => return End::BadFrame(format!("unexpected first frame {other:?}")),
        Err(e) => return e,
    };
    // Latencies are differences of millisecond timestamps, as upstream's
    // `Time.currentElapsedTime()` readings (so a sub-millisecond request straddling a
    // millisecond boundary counts 1).
    let connect_at = stats.elapsed_ms();
    ctx.received(1, connect_bytes, connect_at);
    stats.connection_requests.fetch_add(1, Ordering::Relaxed);
    let new_session = req.session_id == 0;
    let connect = CoreMsg::Connect {
        input: zk_node::Input::Connect {
            conn: ctx.id,
            peer: ctx.peer.ip(),
            req,
            read_only_byte,
            auth: transport_auth,
        },
        tx,
    };
    if let Some(wait) = to_core(ctx.core, connect) {
        if wait.await.is_err() {
            return End::CoreGone;
        }
    }
    // Nothing more is read until the session is settled (upstream disables receive).
    // The write buffer starts empty and grows with what is queued.
    let mut out = BytesMut::new();
    // What the core queued, taken from the outbox all at once.
    let mut inbox = VecDeque::new();
    loop {
        if inbox.is_empty() && !rx.recv_all(&mut inbox).await {
            return End::ClosedByServer;
        }
        // Encoded and dropped before the write, so the message is not part of the task's
        // state while it waits on the socket.
        let (valid, session_id, time_out, zxid) = match inbox.pop_front() {
            Some(Outgoing::Connected {
                resp,
                read_only_byte,
                valid,
                zxid,
            }) => {
                // Mirror the request's shape: 36 body bytes without readOnly, 37 with.
                let shape = if read_only_byte {
                    ConnectShape::WithReadOnly
                } else {
                    ConnectShape::Legacy
                };
                put_frame(&mut out, |b| handshake::encode_response(&resp, shape, b));
                (valid, resp.session_id, resp.time_out, zxid)
            }
            Some(Outgoing::Close) => return End::ClosedByServer,
            // A read-only server without local sessions answers createSession with a bare
            // NOTREADONLY header in place of the ConnectResponse (ReadOnlyRequestProcessor);
            // the node closes the connection next.
            Some(Outgoing::Reply { xid, zxid, err, .. }) => {
                put_frame(&mut out, |b| ReplyHeader { xid, zxid, err }.encode(b));
                if let Err(e) = send_all(wr, &out).await {
                    return End::Io(e);
                }
                out = BytesMut::new();
                ctx.sent(1);
                continue;
            }
            Some(_) | None => continue,
        };
        if let Err(e) = send_all(wr, &out).await {
            return End::Io(e);
        }
        out = BytesMut::new();
        ctx.sent(1);
        if !valid {
            return End::ClosedByServer;
        }
        let conn = ctx.conn;
        conn.session_id.store(session_id, Ordering::Relaxed);
        conn.session_timeout.store(time_out, Ordering::Relaxed);
        if new_session {
            // A new session goes through the pipeline (createSession: "SESS"); a
            // reopened one is answered directly and records nothing.
            let now = stats.elapsed_ms();
            let lat = (now - connect_at).max(0);
            conn.record_response(LastOp::Sess, 0, zxid, now, lat);
            stats.record_latencies(lat as u64, lat as u64, lat as u64, 1);
            // createSession makes a txn.
            stats.update_latency.record(lat as u64);
        }
        break;
    }
    // An idle session keeps none of the handshake's buffers.
    if buf.is_empty() {
        buf = BytesMut::new();
    }
    rx.release(&mut inbox);
    let limits = settings.limits();
    let mut pending = Pending::default();
    loop {
        // Hand every complete frame to the core, in order.
        let (mut frames, mut bytes, mut pings) = (0u64, 0usize, 0u64);
        let arrived = stats.elapsed_ms();
        loop {
            let before = buf.len();
            let (header, body) = match codec.decode(&mut buf) {
                Ok(Some(ClientFrame::Request { header, body })) => (header, body),
                Ok(Some(other)) => return End::BadFrame(format!("unexpected frame {other:?}")),
                Ok(None) => break,
                Err(e) => return codec_end(e),
            };
            frames += 1;
            bytes += before - buf.len();
            let op = OpCode::from_code(header.type_);
            pings += u64::from(op == Some(OpCode::Ping));
            let msg = match Request::decode(header.type_, body, limits) {
                Ok(req) => {
                    pending.push(header.xid, op, arrived, ctx.conn);
                    CoreMsg::Node(zk_node::Input::Request {
                        conn: ctx.id,
                        xid: header.xid,
                        req: Box::new(req),
                    })
                }
                Err(error) => match error.action() {
                    OnBodyError::CloseConnection => return End::BadFrame(error.to_string()),
                    OnBodyError::ReplyMarshallingError => {
                        tracing::info!("request {} from {}: {error}", header.xid, ctx.peer);
                        pending.push(header.xid, op, arrived, ctx.conn);
                        CoreMsg::Node(zk_node::Input::Malformed {
                            conn: ctx.id,
                            xid: header.xid,
                            op: error.op,
                        })
                    }
                },
            };
            if let Some(wait) = to_core(ctx.core, msg) {
                if wait.await.is_err() {
                    return End::CoreGone;
                }
            }
        }
        if frames > 0 {
            ctx.received(frames, bytes, arrived);
            // A ping alone: the client had nothing to send for a while (it pings only
            // then). Give the read buffer back; the next read takes 64 bytes.
            if frames == pings && buf.is_empty() {
                buf = BytesMut::new();
            }
        }
        let spare = buf.capacity() - buf.len();
        let queued = !inbox.is_empty();
        tokio::select! {
            n = rd.read_buf(&mut buf) => match n {
                Ok(0) => return End::Eof,
                // A read that filled the buffer: more is likely waiting.
                Ok(n) if n >= spare => buf.reserve(READ_BUFFER_BUSY.max(buf.capacity())),
                Ok(_) => {}
                Err(e) => return End::Io(e),
            },
            more = async { queued || rx.recv_all(&mut inbox).await } => {
                if !more {
                    return End::ClosedByServer;
                }
                let (close, idle) = encode_queued(ctx, &mut inbox, rx, &mut out, &mut pending);
                if !out.is_empty() {
                    if let Err(e) = send_all(wr, &out).await {
                        return End::Io(e);
                    }
                    // A buffer grown by a burst (a large getData, a long children list)
                    // is given back at the first flush that uses little of it; one that
                    // keeps being filled (large replies in a row) is kept.
                    let used = out.len();
                    out.clear();
                    if out.capacity() > KEEP_WRITE_BUFFER && used < out.capacity() / 4 {
                        out = BytesMut::new();
                    }
                }
                if idle {
                    // Give back what the last burst grew.
                    out = BytesMut::new();
                    rx.release(&mut inbox);
                    pending.release();
                }
                if close {
                    return End::ClosedByServer;
                }
            }
        }
    }
}

/// Encodes what the core queued into `out` (1,024 messages or 1 MiB at most; the rest stays
/// in `inbox` for the next write) and records the batch's statistics. Returns whether to
/// close after the write, and whether the connection is idle: the batch was a ping's reply
/// alone and nothing else waits. A plain function, so the batch's samples (a kilobyte) are
/// never part of the connection task's state while it waits on the socket.
fn encode_queued(
    ctx: &Ctx<'_>,
    inbox: &mut VecDeque<Outgoing>,
    rx: &outbox::Receiver,
    out: &mut BytesMut,
    pending: &mut Pending,
) -> (bool, bool) {
    let mut close = false;
    let mut budget = 1024;
    let mut batch = Batch::new(ctx.stats);
    loop {
        let Some(m) = inbox.pop_front() else {
            // Whatever the core queued meanwhile joins this write.
            if rx.try_recv_all(inbox) {
                continue;
            }
            break;
        };
        if batch.encode(m, out, pending, ctx.conn) {
            close = true;
            break;
        }
        budget -= 1;
        if budget == 0 || out.len() > 1 << 20 {
            break;
        }
    }
    let idle = batch.packets == 1 && batch.pings == 1 && inbox.is_empty();
    batch.finish(ctx);
    (close, idle)
}

/// Answers a four-letter word and ends the connection (`NIOServerCnxn.checkFourLetterWord`):
/// the word counts as a received packet, each chunk of the answer as a sent one.
async fn four_letter(
    ctx: &Ctx<'_>,
    word: FourLetterWord,
    rd: &mut Rd,
    wr: &mut Wr,
    buf: &mut BytesMut,
    codec: &mut ClientCodec,
) -> End {
    ctx.conn.four_letter.store(true, Ordering::Relaxed);
    ctx.received(1, 4, ctx.stats.elapsed_ms());
    let cmd = word.name();
    let allowed = ctx.settings.four_letter_allowed(cmd);
    if allowed {
        // NIOServerCnxn's words, which operators grep for.
        tracing::info!("Processing {cmd} command from /{}", ctx.peer);
    } else {
        tracing::debug!("Command {cmd} is not executed because it is not in the whitelist.");
    }
    let text = if !allowed {
        format!("{cmd} is not executed because it is not in the whitelist.\n")
    } else if word == FourLetterWord::Stmk {
        // Upstream reads the 8-byte mask with one non-blocking read: a mask that is not
        // already there ends the connection without an answer.
        let mut mask = codec.decode(buf);
        if matches!(mask, Ok(None))
            && matches!(
                futures::FutureExt::now_or_never(rd.read_buf(buf)),
                Some(Ok(_))
            )
        {
            mask = codec.decode(buf);
        }
        match mask {
            Ok(Some(ClientFrame::TraceMask(m))) => {
                ctx.stats.trace_mask.store(m, Ordering::Relaxed);
                m.to_string()
            }
            _ => return End::ClosedByServer,
        }
    } else if fourlw::answered_locally(word) {
        let (settings, stats) = (ctx.settings.clone(), ctx.stats.clone());
        // `conf` and `dirs` walk the data directories.
        tokio::task::spawn_blocking(move || fourlw::render_local(word, &settings, &stats))
            .await
            .unwrap_or_default()
    } else {
        let (reply, text) = oneshot::channel();
        if ctx
            .core
            .send(CoreMsg::FourLetter {
                cmd: cmd.to_string(),
                reply,
            })
            .await
            .is_err()
        {
            return End::CoreGone;
        }
        text.await.unwrap_or_default()
    };
    if let Err(e) = send_all(wr, text.as_bytes()).await {
        return End::Io(e);
    }
    ctx.sent(fourlw::answer_packets(&text));
    End::ClosedByServer
}

/// One request waiting for its reply.
struct Waiting {
    /// The xid its reply carries (a ping is always answered with xid -2).
    reply_xid: i32,
    /// Its own xid (`lcxid`).
    cxid: i32,
    /// What it records when answered; `None` for auth and SASL (answered outside the
    /// pipeline) and for unknown opcodes.
    op: Option<LastOp>,
    /// A write other than multi and closeSession: an error reply means prep refused it
    /// (an error txn, recorded as "NA").
    plain_write: bool,
    /// A request that makes a txn (an error txn when refused): its latency is an
    /// `updatelatency` sample, any other's a `readlatency` one.
    txn: bool,
    /// When it was read, on [`Stats::elapsed_ms`]'s clock.
    at_ms: i64,
}

/// Requests in arrival order; replies come back in the same order (per-session FIFO).
#[derive(Default)]
struct Pending {
    q: VecDeque<Waiting>,
    /// Entries with a positive xid (`ServerCnxn.outstandingCount`).
    queued: u64,
}

impl Pending {
    fn push(&mut self, cxid: i32, op: Option<OpCode>, at_ms: i64, conn: &ConnStats) {
        let reply_xid = if op == Some(OpCode::Ping) {
            xid::PING
        } else {
            cxid
        };
        self.q.push_back(Waiting {
            reply_xid,
            cxid,
            op: op.and_then(LastOp::of),
            plain_write: op.is_some_and(|o| {
                o.is_write() && !matches!(o, OpCode::Multi | OpCode::CloseSession)
            }),
            txn: op.is_some_and(OpCode::is_write),
            at_ms,
        });
        if cxid > 0 {
            self.queued += 1;
            conn.queued.store(self.queued, Ordering::Relaxed);
        }
    }

    /// The request a reply with `xid` answers. Requests before it never got a reply (a
    /// successful check outside a multi) and are dropped.
    /// Gives back the queue's memory when nothing waits.
    fn release(&mut self) {
        if self.q.is_empty() {
            self.q = VecDeque::new();
        }
    }

    fn take(&mut self, xid: i32, conn: &ConnStats) -> Option<Waiting> {
        let pos = self.q.iter().position(|w| w.reply_xid == xid)?;
        let mut found = None;
        for w in self.q.drain(..=pos) {
            if w.cxid > 0 {
                self.queued = self.queued.saturating_sub(1);
            }
            found = Some(w);
        }
        conn.queued.store(self.queued, Ordering::Relaxed);
        found
    }
}

/// What one write batch adds to the statistics, applied once at its end.
struct Batch<'a> {
    stats: &'a Stats,
    now_ms: i64,
    packets: u64,
    /// Ping replies among the packets.
    pings: u64,
    size_last: i64,
    size_min: i64,
    size_max: i64,
    lat_min: u64,
    lat_max: u64,
    lat_sum: u64,
    lat_count: u64,
    reads: Samples,
    writes: Samples,
}

impl<'a> Batch<'a> {
    fn new(stats: &'a Stats) -> Self {
        Batch {
            stats,
            now_ms: stats.elapsed_ms(),
            packets: 0,
            pings: 0,
            size_last: -1,
            size_min: i64::MAX,
            size_max: -1,
            lat_min: u64::MAX,
            lat_max: 0,
            lat_sum: 0,
            lat_count: 0,
            reads: Samples::default(),
            writes: Samples::default(),
        }
    }

    fn frame_sent(&mut self, len: usize) {
        let len = len as i64;
        self.packets += 1;
        self.size_last = len;
        self.size_min = self.size_min.min(len);
        self.size_max = self.size_max.max(len);
    }

    fn answered(&mut self, w: &Waiting, zxid: i64, err: i32, conn: &ConnStats) {
        let Some(op) = w.op else { return };
        let op = if w.plain_write && err != 0 {
            LastOp::Na
        } else {
            op
        };
        let lat = (self.now_ms - w.at_ms).max(0) as u64;
        conn.record_response(op, i64::from(w.cxid), zxid, self.now_ms, lat as i64);
        self.lat_min = self.lat_min.min(lat);
        self.lat_max = self.lat_max.max(lat);
        self.lat_sum += lat;
        self.lat_count += 1;
        if w.txn {
            self.writes.push(lat, &self.stats.update_latency);
        } else {
            self.reads.push(lat, &self.stats.read_latency);
        }
    }

    /// Appends one outgoing message; true means close after flushing.
    fn encode(
        &mut self,
        m: Outgoing,
        out: &mut BytesMut,
        pending: &mut Pending,
        conn: &ConnStats,
    ) -> bool {
        match m {
            Outgoing::Reply {
                xid,
                zxid,
                err,
                body,
            } => {
                if let Some(w) = pending.take(xid, conn) {
                    self.answered(&w, zxid, err, conn);
                }
                self.pings += u64::from(xid == xid::PING);
                let len = put_frame(out, |b| {
                    ReplyHeader { xid, zxid, err }.encode(b);
                    // Error replies carry Response::Empty, except where upstream serialises
                    // a body anyway (a failed multiRead).
                    body.encode(b);
                });
                self.frame_sent(len);
                false
            }
            Outgoing::Event(e) => {
                let len = put_frame(out, |b| {
                    ReplyHeader {
                        xid: xid::NOTIFICATION,
                        zxid: -1,
                        err: 0,
                    }
                    .encode(b);
                    WatcherEvent {
                        type_: e.kind.code(),
                        state: KeeperState::SyncConnected.code(),
                        path: Some(e.path.into()),
                    }
                    .encode(b);
                });
                self.frame_sent(len);
                false
            }
            Outgoing::Connected { .. } => false,
            Outgoing::Close => true,
        }
    }

    fn finish(mut self, ctx: &Ctx<'_>) {
        self.reads.flush(&ctx.stats.read_latency);
        self.writes.flush(&ctx.stats.update_latency);
        if self.packets > 0 {
            ctx.sent(self.packets);
            ctx.stats
                .record_response_sizes(self.size_last, self.size_min, self.size_max);
            ctx.conn
                .last_activity_ms
                .store(self.now_ms, Ordering::Relaxed);
        }
        if self.lat_count > 0 {
            ctx.stats
                .record_latencies(self.lat_min, self.lat_max, self.lat_sum, self.lat_count);
        }
    }
}
