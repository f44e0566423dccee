//! The shadow proxy: serve ZooKeeper clients from a *primary* server, mirror every session's
//! requests to a *candidate* server, and report each difference between their answers.
//!
//! ```text
//!  client ══bytes as-is══► proxy ══bytes as-is══► primary          (the client only ever
//!         ◄═════════════════      ◄═══════════════                    talks to the primary)
//!                          │ tap: frames copied into a bounded queue (full: dropped + counted)
//!                          ▼
//!                    comparer task ──own handshake, xids, pings──► candidate
//!                          │ pairs primary and candidate replies, normalises, compares
//!                          ▼
//!                  one `tracing` line per difference + counters ([`Metrics`])
//! ```
//!
//! What it owns: the relay (never delayed by the candidate: the tap only `try_send`s), the
//! candidate sessions (created, resumed on reconnect and kept alive by the proxy itself), and
//! the normalisation that makes two correct servers compare equal: zxids, session ids,
//! passwords and times are ignored; sequential names are mapped like-for-like (the candidate's
//! `lock-0000000007` is the primary's `lock-0000000003` if that is what the same create
//! returned on each); watch events are paired by order; children lists compare as sets.
//! What it does not own: the servers, and anything but the client port (four-letter words
//! are relayed and not compared).
//!
//! Entry point: [`run`] with a bound listener, a [`Config`] and a [`Metrics`].

#![warn(missing_docs)]

mod compare;
mod metrics;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use zk_proto::codec::FourLetterWord;

pub use metrics::{serve_metrics, Metrics};

/// What the proxy connects to and how much it buffers.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server clients are served from (`host:port`).
    pub primary: String,
    /// The server requests are mirrored to (`host:port`).
    pub candidate: String,
    /// Frames buffered per connection between the relay and its comparer, and requests a
    /// session may have without the candidate's answer; beyond either the comparer stops
    /// following that connection (counted and logged, never waited for).
    pub queue_capacity: usize,
    /// The largest frame payload the tap parses (`jute.maxbuffer`); longer frames are relayed
    /// and the session stops being compared.
    pub max_frame: usize,
    /// How long a closed connection's comparer waits for the candidate's last replies.
    pub drain_timeout: Duration,
    /// How long a request may be held back before it goes to the candidate: while it names a
    /// sequential node whose candidate name is not known yet (learnt when both servers have
    /// answered the create), and while the candidate has not answered a write that another
    /// session sent before it (the causal fence, see `compare`).
    pub mapping_wait: Duration,
}

impl Config {
    /// Defaults for everything but the two servers.
    pub fn new(primary: impl Into<String>, candidate: impl Into<String>) -> Config {
        Config {
            primary: primary.into(),
            candidate: candidate.into(),
            queue_capacity: 4096,
            max_frame: zk_jute::DEFAULT_MAX_BUFFER + 1024,
            drain_timeout: Duration::from_secs(5),
            mapping_wait: Duration::from_secs(5),
        }
    }
}

/// Errors that stop the proxy (per-connection trouble is logged and counted instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Accepting connections failed.
    #[error("accept failed: {0}")]
    Accept(#[from] std::io::Error),
}

/// Serves clients on `listener` until `shutdown` turns true.
pub async fn run(
    listener: TcpListener,
    config: Config,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let shared = Arc::new(compare::Shared::new(config, metrics));
    let mut next_conn: u64 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (client, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) if is_transient(&e) => {
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                    Err(e) => return Err(Error::Accept(e)),
                };
                next_conn += 1;
                let shared = shared.clone();
                let conn = next_conn;
                tokio::spawn(async move { connection(conn, client, peer, shared).await });
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return Ok(());
                }
            }
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: wait for descriptors to come back
}

/// What the relay hands the comparer, in the order it saw it.
#[derive(Debug)]
pub(crate) enum Tapped {
    /// A whole frame payload the client sent (the first one is the ConnectRequest), with its
    /// place in the proxy-wide order of client frames.
    Client(u64, Bytes),
    /// A whole frame payload the primary sent (the first one is the ConnectResponse).
    Primary(Bytes),
}

/// Copies the frames of one direction into the comparer's queue, never waiting.
struct Tap {
    buf: BytesMut,
    max_frame: usize,
    from_client: bool,
    first: bool,
    tx: mpsc::Sender<Tapped>,
    lost: Arc<AtomicBool>,
    shared: Arc<compare::Shared>,
    conn: u64,
}

impl Tap {
    fn feed(&mut self, data: &[u8]) {
        if self.lost.load(Ordering::Relaxed) {
            return;
        }
        self.buf.extend_from_slice(data);
        loop {
            let Some(prefix) = self.buf.get(..4) else {
                return;
            };
            let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
            if self.first && self.from_client && FourLetterWord::from_code(len).is_some() {
                // A four-letter word, not a session: relayed, not compared.
                self.lose(None);
                return;
            }
            let n = match usize::try_from(len) {
                Ok(n) if n <= self.max_frame => n,
                _ => {
                    self.lose(Some(format!("unparsable frame length {len}")));
                    return;
                }
            };
            if self.buf.len() < 4 + n {
                return;
            }
            self.buf.advance(4);
            let frame = self.buf.split_to(n).freeze();
            let first = std::mem::replace(&mut self.first, false);
            let item = if self.from_client {
                // Numbered and fenced before the primary can see it.
                let seq = self.shared.next_seq();
                if !first && frame.len() >= 8 {
                    let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                    let op = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                    if xid != -2 {
                        self.shared.fence_add(seq, self.conn, compare::is_write(op));
                    }
                }
                Tapped::Client(seq, frame)
            } else {
                Tapped::Primary(frame)
            };
            match self.tx.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    self.forget(item);
                    self.shared.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                    self.lose(Some("comparer queue full: frame dropped".to_string()));
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(item)) => {
                    self.forget(item);
                    // The comparer gave up on this session already (and said why).
                    self.lost.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// A frame that never reaches the comparer must not hold other sessions back.
    fn forget(&self, item: Tapped) {
        if let Tapped::Client(seq, _) = item {
            self.shared.fence_remove(seq);
        }
    }

    fn lose(&mut self, why: Option<String>) {
        if !self.lost.swap(true, Ordering::Relaxed) {
            if let Some(why) = why {
                self.shared
                    .metrics
                    .desynced_sessions
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    conn = self.conn,
                    "shadow: no longer comparing this connection: {why}"
                );
            }
        }
        self.buf.clear();
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut tap: Tap) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Tapped before it is forwarded, so a request always reaches the comparer before
        // the primary's reply to it can.
        tap.feed(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

async fn connection(conn: u64, client: TcpStream, peer: SocketAddr, shared: Arc<compare::Shared>) {
    let primary = match TcpStream::connect(&shared.config.primary).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(conn, %peer, "shadow: cannot reach the primary {}: {e}", shared.config.primary);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = primary.set_nodelay(true);
    shared.metrics.connections.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(shared.config.queue_capacity.max(1));
    let lost = Arc::new(AtomicBool::new(false));
    let tap = |from_client| Tap {
        buf: BytesMut::new(),
        max_frame: shared.config.max_frame,
        from_client,
        first: true,
        tx: tx.clone(),
        lost: lost.clone(),
        shared: shared.clone(),
        conn,
    };
    let (to_primary, from_primary) = (tap(true), tap(false));
    drop(tx);
    tokio::spawn(compare::comparer(conn, rx, shared.clone(), lost.clone()));
    let (cr, cw) = client.into_split();
    let (pr, pw) = primary.into_split();
    let up = tokio::spawn(pump(cr, pw, to_primary));
    let down = tokio::spawn(pump(pr, cw, from_primary));
    // When the client→primary direction ends, the primary closes its side in turn (it sees
    // the client go); the other direction ends then.
    let _ = up.await;
    let _ = down.await;
}
