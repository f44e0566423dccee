//! One client connection: framing, the handshake, four-letter words, and shuttling
//! requests to the core and replies back, batching writes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use zk_proto::proto::{ConnectRequest, ReplyHeader, WatcherEvent};
use zk_proto::request::{OnBodyError, Request, RequestError};
use zk_proto::{xid, Decoder, KeeperState, Record};

use crate::core::{ConnId, CoreMsg, Outgoing};
use crate::fourlw;
use crate::settings::Settings;
use crate::stats::Stats;

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

/// Reads until `buf` holds at least `n` bytes.
async fn fill(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    n: usize,
) -> Result<(), End> {
    while buf.len() < n {
        if rd.read_buf(buf).await.map_err(End::Io)? == 0 {
            return Err(End::Eof);
        }
    }
    Ok(())
}

/// Takes one frame from `buf` if complete; the length is checked before anything is
/// reserved for the body.
fn take_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, End> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 0 || len as usize > max {
        return Err(End::BadLength(len));
    }
    let len = len as usize;
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The ConnectRequest, with or without the trailing readOnly byte.
fn decode_connect(frame: Bytes, settings: &Settings) -> Result<(ConnectRequest, bool), End> {
    let mut d = Decoder::with_limits(frame, settings.limits());
    let bad = |e: zk_proto::JuteError| End::BadFrame(format!("bad ConnectRequest: {e}"));
    let protocol_version = d.read_i32().map_err(bad)?;
    let last_zxid_seen = d.read_i64().map_err(bad)?;
    let time_out = d.read_i32().map_err(bad)?;
    let session_id = d.read_i64().map_err(bad)?;
    let passwd = d.read_buffer().map_err(bad)?;
    let (read_only, has_ro) = if d.is_empty() {
        (false, false)
    } else {
        (d.read_bool().map_err(bad)?, true)
    };
    Ok((
        ConnectRequest {
            protocol_version,
            last_zxid_seen,
            time_out,
            session_id,
            passwd,
            read_only,
        },
        has_ro,
    ))
}

fn put_frame(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0);
    body(out);
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Serves one connection to the end.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    id: ConnId,
    core: mpsc::Sender<CoreMsg>,
    settings: Arc<Settings>,
    stats: Arc<Stats>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let end = session(
        &mut rd, &mut wr, peer, id, &core, &settings, &stats, tx, &mut rx,
    )
    .await;
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
    let _ = core.send(CoreMsg::Closed { conn: id }).await;
}

#[allow(clippy::too_many_arguments)]
async fn session(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    peer: SocketAddr,
    id: ConnId,
    core: &mpsc::Sender<CoreMsg>,
    settings: &Settings,
    stats: &Stats,
    tx: mpsc::UnboundedSender<Outgoing>,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
) -> End {
    let mut buf = BytesMut::with_capacity(4096);
    if let Err(e) = fill(rd, &mut buf, 4).await {
        return e;
    }
    // A fresh connection may open with a four-letter word instead of a frame length.
    if let Some(cmd) = fourlw::command_of([buf[0], buf[1], buf[2], buf[3]]) {
        let text = if settings.four_letter_allowed(cmd) {
            let (reply, text) = oneshot::channel();
            if core
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
        } else {
            format!("{cmd} is not executed because it is not in the whitelist.\n")
        };
        let _ = wr.write_all(text.as_bytes()).await;
        return End::ClosedByServer;
    }
    let frame = loop {
        match take_frame(&mut buf, settings.max_buffer) {
            Ok(Some(f)) => break f,
            Ok(None) => {
                let need = buf.len() + 1;
                if let Err(e) = fill(rd, &mut buf, need).await {
                    return e;
                }
            }
            Err(e) => return e,
        }
    };
    let (req, read_only_byte) = match decode_connect(frame, settings) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if core
        .send(CoreMsg::Connect {
            conn: id,
            peer: peer.ip(),
            req,
            read_only_byte,
            tx,
        })
        .await
        .is_err()
    {
        return End::CoreGone;
    }
    // Nothing more is read until the session is settled (upstream disables receive).
    let mut out = BytesMut::with_capacity(4096);
    loop {
        match rx.recv().await {
            Some(Outgoing::Connected {
                resp,
                read_only_byte,
                valid,
            }) => {
                // Mirror the request's shape: 36 body bytes without readOnly, 37 with.
                put_frame(&mut out, |b| {
                    resp.encode(b);
                    if !read_only_byte {
                        b.truncate(b.len() - 1);
                    }
                });
                if let Err(e) = wr.write_all(&out).await {
                    return End::Io(e);
                }
                out.clear();
                if !valid {
                    return End::ClosedByServer;
                }
                break;
            }
            Some(Outgoing::Close) | None => return End::ClosedByServer,
            Some(_) => {}
        }
    }
    let limits = settings.limits();
    let mut pending: VecDeque<(i32, Instant)> = VecDeque::new();
    loop {
        // Hand every complete frame to the core, in order.
        loop {
            let frame = match take_frame(&mut buf, settings.max_buffer) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return e,
            };
            let msg = match Request::decode_frame(frame, limits) {
                Ok((h, req)) => {
                    // (A successful top-level check is never answered.)
                    if !matches!(req, Request::Ping | Request::Check(_))
                        && h.xid != xid::AUTH
                        && h.xid != xid::SET_WATCHES
                    {
                        pending.push_back((h.xid, Instant::now()));
                    }
                    CoreMsg::Request {
                        conn: id,
                        xid: h.xid,
                        req: Box::new(req),
                    }
                }
                Err(RequestError::Header(e)) => {
                    return End::BadFrame(format!("bad request header: {e}"))
                }
                Err(RequestError::Body { xid, error }) => match error.action() {
                    OnBodyError::CloseConnection => return End::BadFrame(error.to_string()),
                    OnBodyError::ReplyMarshallingError => {
                        tracing::info!("request {xid} from {peer}: {error}");
                        CoreMsg::Malformed {
                            conn: id,
                            xid,
                            op: error.op,
                        }
                    }
                },
            };
            if core.send(msg).await.is_err() {
                return End::CoreGone;
            }
        }
        tokio::select! {
            n = rd.read_buf(&mut buf) => match n {
                Ok(0) => return End::Eof,
                Ok(_) => {}
                Err(e) => return End::Io(e),
            },
            msg = rx.recv() => {
                let mut close = false;
                let mut next = msg;
                let mut budget = 1024;
                while let Some(m) = next {
                    if encode_outgoing(m, &mut out, &mut pending, stats) {
                        close = true;
                        break;
                    }
                    budget -= 1;
                    if budget == 0 || out.len() > 1 << 20 {
                        break;
                    }
                    next = rx.try_recv().ok();
                }
                if !out.is_empty() {
                    if let Err(e) = wr.write_all(&out).await {
                        return End::Io(e);
                    }
                    out.clear();
                }
                if close {
                    return End::ClosedByServer;
                }
            }
        }
    }
}

/// Appends one outgoing message; true means close after flushing.
fn encode_outgoing(
    m: Outgoing,
    out: &mut BytesMut,
    pending: &mut VecDeque<(i32, Instant)>,
    stats: &Stats,
) -> bool {
    match m {
        Outgoing::Reply {
            xid,
            zxid,
            err,
            body,
        } => {
            if pending.front().is_some_and(|(x, _)| *x == xid) {
                if let Some((_, t)) = pending.pop_front() {
                    stats.record_latency(t.elapsed().as_millis() as u64);
                }
            }
            stats.packets_sent.fetch_add(1, Ordering::Relaxed);
            put_frame(out, |b| {
                ReplyHeader { xid, zxid, err }.encode(b);
                // Error replies carry Response::Empty, except where upstream serialises a
                // body anyway (a failed multiRead).
                body.encode(b);
            });
            false
        }
        Outgoing::Event(e) => {
            stats.packets_sent.fetch_add(1, Ordering::Relaxed);
            put_frame(out, |b| {
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
            false
        }
        Outgoing::Connected { .. } => false,
        Outgoing::Close => true,
    }
}
