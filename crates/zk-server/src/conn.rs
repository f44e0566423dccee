//! One client connection: framing, the handshake, four-letter words, and shuttling
//! requests to the core and replies back, batching writes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Decoder as _;
use zk_proto::codec::{ClientCodec, ClientFrame, CodecError};
use zk_proto::handshake::{self, ConnectShape};
use zk_proto::proto::{ReplyHeader, WatcherEvent};
use zk_proto::request::{OnBodyError, Request};
use zk_proto::{xid, KeeperState, Record};

use crate::core::{ConnId, CoreMsg, Outgoing};
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

/// Reads the next frame with the client codec; `Ok(None)` at a clean end of input.
async fn next_frame(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    codec: &mut ClientCodec,
) -> Result<ClientFrame, End> {
    loop {
        match codec.decode(buf) {
            Ok(Some(f)) => return Ok(f),
            Ok(None) => {}
            Err(e) => return Err(codec_end(e)),
        }
        if rd.read_buf(buf).await.map_err(End::Io)? == 0 {
            return Err(End::Eof);
        }
    }
}

fn codec_end(e: CodecError) -> End {
    match e {
        CodecError::BadLength { len, .. } => End::BadLength(len),
        CodecError::Io(e) => End::Io(e),
        other => End::BadFrame(other.to_string()),
    }
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
    let mut codec = ClientCodec::new(settings.max_buffer);
    let (req, read_only_byte) = match next_frame(rd, &mut buf, &mut codec).await {
        Ok(ClientFrame::Connect(h)) => (h.request, h.shape == ConnectShape::WithReadOnly),
        // A fresh connection may open with a four-letter word instead of a frame length.
        Ok(ClientFrame::FourLetter(word)) => {
            let cmd = word.name();
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
        Ok(other) => return End::BadFrame(format!("unexpected first frame {other:?}")),
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
                let shape = if read_only_byte {
                    ConnectShape::WithReadOnly
                } else {
                    ConnectShape::Legacy
                };
                put_frame(&mut out, |b| handshake::encode_response(&resp, shape, b));
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
            let (header, body) = match codec.decode(&mut buf) {
                Ok(Some(ClientFrame::Request { header, body })) => (header, body),
                Ok(Some(other)) => return End::BadFrame(format!("unexpected frame {other:?}")),
                Ok(None) => break,
                Err(e) => return codec_end(e),
            };
            let msg = match Request::decode(header.type_, body, limits) {
                Ok(req) => {
                    // (A successful top-level check is never answered.)
                    if !matches!(req, Request::Ping | Request::Check(_))
                        && header.xid != xid::AUTH
                        && header.xid != xid::SET_WATCHES
                    {
                        pending.push_back((header.xid, Instant::now()));
                    }
                    CoreMsg::Request {
                        conn: id,
                        xid: header.xid,
                        req: Box::new(req),
                    }
                }
                Err(error) => match error.action() {
                    OnBodyError::CloseConnection => return End::BadFrame(error.to_string()),
                    OnBodyError::ReplyMarshallingError => {
                        tracing::info!("request {} from {peer}: {error}", header.xid);
                        CoreMsg::Malformed {
                            conn: id,
                            xid: header.xid,
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
