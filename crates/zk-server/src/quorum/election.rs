//! The election port's tasks: the acceptor (initial message, sid checks), the dialer
//! (`connectOne`: the initial message in one write, the larger-sid rule, bounded backoff)
//! and one task per kept connection (frames in, the newest notification out).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use zk_zab::peer::Message;
use zk_zab::wire::election::{decode_frame, InitialMessage, Notification, PeerAddress};

use super::tls::{accepted, dialled, PeerStream};
use super::{
    Delivered, Internal, PeerNetConfig, DIAL_ATTEMPTS, DIAL_BACKOFF_MAX, DIAL_BACKOFF_START,
    MAX_HANDSHAKES,
};

/// Read buffer growth step.
const READ_CHUNK: usize = 8 * 1024;

/// Accepts election connections; each gets its own task to read the initial message.
pub(super) async fn accept(
    listener: TcpListener,
    cfg: Arc<PeerNetConfig>,
    internal: mpsc::Sender<Internal>,
) {
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    // Bounded by the listener: it ends with the transport (the hub aborts it).
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("election port: accept failed: {e}");
                // A full descriptor table: give the process a moment instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(
                "election port: closing the connection from {addr}: {MAX_HANDSHAKES} \
                 connections are already sending their initial message"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (cfg, internal) = (cfg.clone(), internal.clone());
        tokio::spawn(async move {
            let _permit = permit;
            // sslQuorum: the handshake comes first (Java's SSLServerSocket).
            let stream = match accepted(cfg.tls.as_ref(), stream, addr, "election port").await {
                Ok(s) => s,
                Err(why) => {
                    tracing::warn!(
                        "election port: refusing the connection from {addr}: quorum TLS: {why}"
                    );
                    return;
                }
            };
            let read = tokio::time::timeout(cfg.cnx_timeout, initial_message(stream));
            let (mut stream, msg, mut rest) = match read.await {
                Ok(Ok(got)) => got,
                Ok(Err(why)) => {
                    tracing::warn!("election port: closing the connection from {addr}: {why}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "election port: closing the connection from {addr}: no initial message \
                         within {:?}",
                        cfg.cnx_timeout
                    );
                    return;
                }
            };
            let sid = msg.sid;
            if sid == cfg.my_id {
                tracing::warn!("election port: {addr} claims our own sid {sid}; closing");
                return;
            }
            if !cfg.members.contains_key(&sid) {
                tracing::warn!("election port: {addr} claims sid {sid}, not a member; closing");
                return;
            }
            if let Some(auth) = &cfg.auth {
                // handleConnection: authServer.authenticate after the initial message.
                let peer = format!("{addr} (server {sid}, election port)");
                let run = super::auth::as_server(auth, &mut stream, &mut rest, &peer);
                if let Err(why) = super::auth::within(cfg.election_auth_time(), run).await {
                    tracing::error!(
                        "quorum SASL: refusing the connection from {peer}: {why}; closing it"
                    );
                    return;
                }
            }
            let _ = internal
                .send(Internal::ElectionIn { sid, stream, rest })
                .await;
        });
    }
}

/// Reads the initial message; the bytes after it are returned for the connection's reader.
async fn initial_message(
    mut stream: PeerStream,
) -> Result<(PeerStream, InitialMessage, BytesMut), String> {
    let mut buf = BytesMut::with_capacity(512);
    // Bounded: the message is at most 20 + 2048 bytes and every pass reads at least one.
    loop {
        match InitialMessage::decode(&mut buf) {
            Ok(Some(m)) => return Ok((stream, m, buf)),
            Ok(None) => {}
            Err(e) => return Err(format!("bad initial message: {e}")),
        }
        buf.reserve(512);
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Err("closed before its initial message".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the initial message: {e}")),
        }
    }
}

/// Connects to `addr` within `timeout`.
pub(super) async fn connect(addr: &PeerAddress, timeout: Duration) -> Result<TcpStream, String> {
    let host = addr.host.as_str();
    match tokio::time::timeout(timeout, TcpStream::connect((host, addr.port))).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

/// How the hub steers a dial under way without cutting an attempt short.
#[derive(Debug)]
pub(super) struct DialCtl {
    /// Which dial (the hub forgets only the dial it is told ended).
    pub id: u64,
    wake: tokio::sync::Notify,
    again: AtomicBool,
    stop: AtomicBool,
}

impl DialCtl {
    pub fn new(id: u64) -> Self {
        DialCtl {
            id,
            wake: tokio::sync::Notify::new(),
            again: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// The peer is up: skip the backoff, and after a last failed attempt start a new
    /// round rather than give up.
    pub fn hurry(&self) {
        self.again.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// A connection is up: end after the attempt under way (none more).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// `connectOne`: dials `sid`'s election address (rounds of up to [`DIAL_ATTEMPTS`],
/// backing off), sends the initial message in one write, and keeps the connection only if
/// our sid is the larger: a larger sid is told we want to talk, and calls back.
pub(super) async fn dial(
    cfg: Arc<PeerNetConfig>,
    sid: i64,
    addr: PeerAddress,
    internal: mpsc::Sender<Internal>,
    ctl: Arc<DialCtl>,
) {
    let hello = match cfg.members.get(&cfg.my_id) {
        Some(me) => InitialMessage::v1(cfg.my_id, me.election.clone()).to_bytes(),
        None => return,
    };
    let mut backoff = DIAL_BACKOFF_START;
    let mut kept = None;
    let mut attempt = 0;
    // Bounded: a round has DIAL_ATTEMPTS attempts; another round only after `hurry`, which
    // only a connection from the peer itself brings.
    loop {
        attempt += 1;
        let tcp = connect(&addr, cfg.cnx_timeout).await;
        // sslQuorum: the handshake before the initial message (`initiateConnection`).
        let stream = match tcp {
            Ok(s) => dialled(cfg.tls.as_ref(), s, &addr, cfg.cnx_timeout)
                .await
                .map_err(|why| {
                    tracing::warn!(
                        "election: quorum TLS with server {sid} at {} failed: {why}",
                        addr.format()
                    );
                    why
                }),
            Err(e) => Err(e),
        };
        match stream {
            // Flushed: under TLS, bytes written can wait in the session's buffer.
            Ok(mut s) => match write_flushed(&mut s, &hello).await {
                Ok(()) => {
                    let mut rest = BytesMut::new();
                    // startConnection: the learner side of quorum SASL after the initial
                    // message, whoever keeps the connection. A refusal is not retried
                    // here (Java gives up on this attempt too).
                    if let Err(why) = authenticate(&cfg, sid, &addr, &mut s, &mut rest).await {
                        tracing::error!("quorum SASL: {why}; closing the connection");
                        break;
                    }
                    if sid > cfg.my_id {
                        // Lost the challenge: the larger sid calls back.
                        let _ = s.shutdown().await;
                    } else {
                        kept = Some((s, rest));
                    }
                    break;
                }
                Err(e) => tracing::debug!("election: writing to server {sid} at {addr:?}: {e}"),
            },
            Err(e) => tracing::debug!(
                "election: connecting to server {sid} at {} (attempt {attempt}): {e}",
                addr.format()
            ),
        }
        if ctl.stopped() {
            break;
        }
        if attempt >= DIAL_ATTEMPTS {
            if !ctl.again.swap(false, Ordering::SeqCst) {
                break;
            }
            attempt = 0;
            backoff = DIAL_BACKOFF_START;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {
                backoff = (backoff * 2).min(DIAL_BACKOFF_MAX);
            }
            _ = ctl.wake.notified() => {
                ctl.again.store(false, Ordering::SeqCst);
                backoff = DIAL_BACKOFF_START;
            }
        }
        if ctl.stopped() {
            break;
        }
    }
    let _ = internal
        .send(Internal::ElectionDialed {
            sid,
            id: ctl.id,
            stream: kept,
        })
        .await;
}

/// The learner side of quorum SASL on a dialled election connection, when enabled.
async fn authenticate(
    cfg: &PeerNetConfig,
    sid: i64,
    addr: &PeerAddress,
    stream: &mut PeerStream,
    rest: &mut BytesMut,
) -> Result<(), String> {
    let Some(auth) = &cfg.auth else {
        return Ok(());
    };
    let peer = format!("{} (server {sid}, election port)", addr.format());
    let run = super::auth::as_learner(auth, stream, rest, &peer);
    super::auth::within(cfg.election_auth_time(), run).await
}

/// What an election connection task needs.
pub(super) struct Conn {
    pub sid: i64,
    pub gen: u64,
    pub write_timeout: Duration,
    pub delivered: mpsc::Sender<Delivered>,
    pub internal: mpsc::Sender<Internal>,
}

/// Runs one kept election connection: notifications in, the slot's newest notification out
/// (first whatever it holds now: Java re-sends `lastMessageSent` on a new connection).
pub(super) async fn run(
    c: Conn,
    mut stream: PeerStream,
    mut buf: BytesMut,
    mut latest: watch::Receiver<Option<Bytes>>,
) {
    let reason = serve(&c, &mut stream, &mut buf, &mut latest).await;
    let _ = c
        .internal
        .send(Internal::ElectionClosed {
            sid: c.sid,
            gen: c.gen,
            reason,
        })
        .await;
}

async fn serve(
    c: &Conn,
    stream: &mut PeerStream,
    buf: &mut BytesMut,
    latest: &mut watch::Receiver<Option<Bytes>>,
) -> String {
    let first = latest.borrow_and_update().clone();
    if let Some(frame) = first {
        if let Err(why) = write(stream, &frame, c.write_timeout).await {
            return why;
        }
    }
    // Bounded by the connection: it ends on EOF, an error, or the hub aborting it.
    loop {
        // Frames already buffered (the initial message's leftovers included).
        loop {
            match decode_frame(buf) {
                Ok(Some(frame)) => match Notification::decode(&frame) {
                    Ok(n) => {
                        let d = Delivered::Message {
                            from: c.sid,
                            message: Message::Election(n),
                        };
                        if c.delivered.send(d).await.is_err() {
                            return "the node is gone".into();
                        }
                    }
                    // WorkerReceiver drops a notification it cannot read and goes on.
                    Err(e) => tracing::warn!(
                        "election: dropping a malformed notification from server {}: {e}",
                        c.sid
                    ),
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(
                        "election: closing the connection with server {}: {e}",
                        c.sid
                    );
                    return format!("bad frame: {e}");
                }
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 8 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            r = stream.read_buf(buf) => match r {
                Ok(0) if buf.is_empty() => return "closed by the peer".into(),
                Ok(0) => {
                    tracing::warn!(
                        "election: server {} closed the connection inside a frame ({} bytes \
                         pending)",
                        c.sid,
                        buf.len()
                    );
                    return "closed inside a frame".into();
                }
                Ok(_) => {}
                Err(e) => return format!("read: {e}"),
            },
            changed = latest.changed() => {
                if changed.is_err() {
                    return "transport stopped".into();
                }
                let frame = latest.borrow_and_update().clone();
                if let Some(frame) = frame {
                    if let Err(why) = write(stream, &frame, c.write_timeout).await {
                        return why;
                    }
                }
            }
        }
    }
}

pub(super) async fn write(
    stream: &mut PeerStream,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, write_flushed(stream, bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write: {e}")),
        Err(_) => Err(format!("write blocked for {timeout:?}")),
    }
}

/// Writes `bytes` and flushes: under TLS, `write_all` can return with the last record still
/// in the session's buffer (when the socket would block), and it would leave only with the
/// next write; on plain TCP the flush does nothing.
pub(super) async fn write_flushed<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}
