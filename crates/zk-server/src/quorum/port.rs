//! The quorum port's tasks: the leader's acceptor, the learner's dialer
//! (`Learner.connectToLeader`) and one task per connection moving `QuorumPacket`s (and, on
//! a learner's connection, the snapshot stream after a SNAP).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use zk_zab::peer::Message;
use zk_zab::wire::election::PeerAddress;
use zk_zab::wire::packet::{decode_packet, LearnerInfoData, Packet};

use super::election::{connect, write};
use super::snap_stream::SnapScan;
use super::tls::{accepted, dialled, PeerStream};
use super::{Delivered, Internal, PeerNetConfig};

/// `Learner.connectToLeader`: attempts per leader address.
const LEADER_CONNECT_ATTEMPTS: u32 = 5;
/// `zookeeper.leaderConnectDelayDuringRetryMs`.
const LEADER_CONNECT_DELAY: Duration = Duration::from_millis(100);
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// Accepts connections on the quorum port and hands them to the hub.
pub(super) async fn accept(listener: TcpListener, internal: mpsc::Sender<Internal>) {
    // Bounded by the listener: it ends with the transport (the hub aborts it).
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                if internal
                    .send(Internal::QuorumIn { stream, addr })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("quorum port: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a quorum connection task needs.
pub(super) struct Conn {
    pub conn: u64,
    /// The peer's sid: the leader we dialled, or (accepted) unknown until its *INFO packet.
    pub sid: Option<i64>,
    pub cfg: Arc<PeerNetConfig>,
    pub delivered: mpsc::Sender<Delivered>,
    pub internal: mpsc::Sender<Internal>,
}

impl Conn {
    async fn closed(self, reason: String) {
        let _ = self
            .internal
            .send(Internal::QuorumClosed {
                conn: self.conn,
                sid: self.sid,
                reason,
            })
            .await;
    }
}

/// A learner's connection: dials the leader (`connectToLeader`: up to 5 attempts 100 ms
/// apart, all within `initLimit` ticks), then moves packets.
pub(super) async fn dial(mut c: Conn, addr: PeerAddress, rx: mpsc::Receiver<Bytes>) {
    let deadline = Instant::now() + c.cfg.init_time();
    let mut last = String::new();
    let mut stream = None;
    for attempt in 1..=LEADER_CONNECT_ATTEMPTS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match connect(&addr, c.cfg.cnx_timeout.min(left)).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => {
                tracing::debug!(
                    "learner: connecting to the leader at {} (attempt {attempt}): {e}",
                    addr.format()
                );
                last = e;
            }
        }
        if attempt < LEADER_CONNECT_ATTEMPTS {
            tokio::time::sleep(LEADER_CONNECT_DELAY.min(left)).await;
        }
    }
    let Some(stream) = stream else {
        let reason = format!(
            "could not connect to the leader at {}: {last}",
            addr.format()
        );
        tracing::warn!("learner connection {:#x}: {reason}", c.conn);
        return c.closed(reason).await;
    };
    // Up as soon as the TCP connect succeeded: the learner then waits for its leader (the
    // SASL exchange included, which a Java leader can take a second or more to start)
    // instead of dialling again.
    if let Some(sid) = c.sid {
        let up = Delivered::QuorumUp { conn: c.conn, sid };
        if c.delivered.send(up).await.is_err() {
            return;
        }
    }
    // sslQuorum: the handshake right after the connect (`Learner.connectToLeader`).
    let left = deadline.saturating_duration_since(Instant::now());
    let mut stream = match dialled(c.cfg.tls.as_ref(), stream, &addr, left).await {
        Ok(s) => s,
        Err(why) => {
            tracing::error!(
                "quorum TLS: learner connection {:#x} to the leader at {} failed: {why}",
                c.conn,
                addr.format()
            );
            return c.closed(format!("quorum TLS: {why}")).await;
        }
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    if let Some(auth) = c.cfg.auth.clone() {
        // connectToLeader: authenticate before anything else is sent.
        let peer = format!("{} (the leader's quorum port)", addr.format());
        let left = deadline.saturating_duration_since(Instant::now());
        let run = super::auth::as_learner(&auth, &mut stream, &mut buf, &peer);
        if let Err(why) = super::auth::within(left, run).await {
            tracing::error!(
                "quorum SASL: learner connection {:#x} to the leader failed: {why}",
                c.conn
            );
            return c.closed(format!("quorum SASL: {why}")).await;
        }
    }
    let reason = moving(&mut c, &mut stream, buf, rx, true).await;
    c.closed(reason).await;
}

/// A learner's connection accepted by the leader.
pub(super) async fn serve(
    mut c: Conn,
    stream: TcpStream,
    addr: SocketAddr,
    rx: mpsc::Receiver<Bytes>,
) {
    // sslQuorum: the handshake before anything else (the leader's SSLServerSocket).
    let mut stream = match accepted(c.cfg.tls.as_ref(), stream, addr, "quorum port").await {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!("quorum port: refusing the connection from {addr}: quorum TLS: {why}");
            return c.closed(format!("quorum TLS: {why}")).await;
        }
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    if let Some(auth) = c.cfg.auth.clone() {
        // The LearnerHandler constructor: the server side before anything is read.
        let peer = format!("{addr} (quorum port)");
        let limit = c.cfg.init_time();
        let run = super::auth::as_server(&auth, &mut stream, &mut buf, &peer);
        if let Err(why) = super::auth::within(limit, run).await {
            tracing::error!(
                "quorum SASL: Server failed to authenticate quorum learner, addr: {peer}, \
                 closing connection: {why}"
            );
            return c.closed(format!("quorum SASL: {why}")).await;
        }
    }
    let reason = moving(&mut c, &mut stream, buf, rx, false).await;
    if c.sid.is_none() {
        tracing::warn!("quorum port: closing the connection from {addr}: {reason}");
    }
    c.closed(reason).await;
}

/// Moves packets both ways until the connection ends; returns why it ended. `learner`:
/// this side dialled (a SNAP is followed by a snapshot stream); otherwise the first packet
/// must name a member learner within `initLimit` ticks.
async fn moving(
    c: &mut Conn,
    stream: &mut PeerStream,
    mut buf: BytesMut,
    mut rx: mpsc::Receiver<Bytes>,
    learner: bool,
) -> String {
    let cfg = c.cfg.clone();
    let mut snap: Option<(i64, SnapScan)> = None;
    let first_deadline = Instant::now() + cfg.init_time();
    // Bounded by the connection: it ends on EOF, an error, or the hub aborting it.
    loop {
        // Everything complete in the buffer first.
        loop {
            if let Some((zxid, scan)) = &mut snap {
                match scan.scan(&buf) {
                    Ok(Some(len)) => {
                        let stream = buf.split_to(len).freeze();
                        let d = Delivered::Snapshot {
                            from: c.sid.unwrap_or(0),
                            conn: c.conn,
                            zxid: *zxid,
                            stream,
                        };
                        snap = None;
                        if c.delivered.send(d).await.is_err() {
                            return "the node is gone".into();
                        }
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => return format!("bad snapshot stream: {e}"),
                }
            }
            let packet = match decode_packet(&mut buf, cfg.limits) {
                Ok(Some(Some(p))) => p,
                // An unknown packet type: Java logs and skips it too.
                Ok(Some(None)) => continue,
                Ok(None) => break,
                Err(e) => return format!("bad packet: {e}"),
            };
            if c.sid.is_none() {
                match first_packet(&cfg, &packet) {
                    Ok(sid) => {
                        c.sid = Some(sid);
                        tracing::info!("learner connection {:#x} is server {sid}", c.conn);
                        let named = Internal::QuorumNamed { conn: c.conn, sid };
                        let _ = c.internal.send(named).await;
                        let up = Delivered::QuorumUp { conn: c.conn, sid };
                        if c.delivered.send(up).await.is_err() {
                            return "the node is gone".into();
                        }
                    }
                    Err(why) => return why,
                }
            }
            if let (true, Packet::Snap { zxid }) = (learner, &packet) {
                // The stream follows outside any framing; it is delivered as one item.
                snap = Some((
                    *zxid,
                    SnapScan::new(cfg.max_snapshot, cfg.limits.max_buffer),
                ));
                continue;
            }
            let d = Delivered::Message {
                from: c.sid.unwrap_or(0),
                message: Message::Quorum {
                    conn: c.conn,
                    packet,
                },
            };
            if c.delivered.send(d).await.is_err() {
                return "the node is gone".into();
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 8 {
            buf.reserve(READ_CHUNK);
        }
        let named = c.sid.is_some();
        tokio::select! {
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) if buf.is_empty() => return "closed by the peer".into(),
                Ok(0) => return format!("closed inside a packet ({} bytes pending)", buf.len()),
                Ok(_) => {}
                Err(e) => return format!("read: {e}"),
            },
            item = rx.recv() => match item {
                Some(first) => {
                    // Everything else already queued goes out in the same write (one
                    // syscall per wakeup, not per packet: Java's LearnerHandler and
                    // Learner flush their buffered stream only when the queue is empty).
                    let bytes = coalesce(first, &mut rx);
                    if let Err(why) = write(stream, &bytes, cfg.write_timeout()).await {
                        return why;
                    }
                }
                None => return "transport stopped".into(),
            },
            _ = tokio::time::sleep_until(first_deadline), if !named => {
                return format!("no FOLLOWERINFO within {:?}", cfg.init_time());
            }
        }
    }
}

/// Bytes queued behind `first` are appended to it up to this size per write.
const WRITE_BATCH: usize = 256 * 1024;

/// `first` followed by whatever else is queued right now (not waiting), up to
/// [`WRITE_BATCH`] bytes; a large item (a snapshot stream) goes alone, uncopied.
fn coalesce(first: Bytes, rx: &mut mpsc::Receiver<Bytes>) -> Bytes {
    if first.len() >= WRITE_BATCH {
        return first;
    }
    let mut batch: Option<BytesMut> = None;
    let mut size = first.len();
    while size < WRITE_BATCH {
        let Ok(next) = rx.try_recv() else {
            break;
        };
        size += next.len();
        batch
            .get_or_insert_with(|| {
                let mut b = BytesMut::with_capacity(WRITE_BATCH.min(size * 4));
                b.extend_from_slice(&first);
                b
            })
            .extend_from_slice(&next);
    }
    batch.map_or(first, BytesMut::freeze)
}

/// `LearnerHandler.run`: the first packet is FOLLOWERINFO or OBSERVERINFO, from a member.
fn first_packet(cfg: &PeerNetConfig, packet: &Packet) -> Result<i64, String> {
    let info = match packet {
        Packet::FollowerInfo { info, .. } | Packet::ObserverInfo { info, .. } => info,
        other => {
            return Err(format!(
                "first packet is type {}, not FOLLOWERINFO or OBSERVERINFO",
                other.kind()
            ))
        }
    };
    match info {
        LearnerInfoData::Info { sid, .. } if *sid == cfg.my_id => {
            Err(format!("learner claims our own sid {sid}"))
        }
        LearnerInfoData::Info { sid, .. } if cfg.members.contains_key(sid) => Ok(*sid),
        LearnerInfoData::Info { sid, .. } => Err(format!("learner sid {sid} is not a member")),
        LearnerInfoData::Null => Err("learner without a sid (pre-3.4)".into()),
    }
}

#[cfg(test)]
mod coalesce_tests {
    use super::*;

    #[tokio::test]
    async fn queued_packets_leave_in_one_write_and_order() {
        let (tx, mut rx) = mpsc::channel(16);
        for b in [&b"bb"[..], b"ccc"] {
            tx.send(Bytes::from_static(b)).await.unwrap();
        }
        assert_eq!(coalesce(Bytes::from_static(b"a"), &mut rx), &b"abbccc"[..]);
        // Nothing queued: the item itself.
        assert_eq!(coalesce(Bytes::from_static(b"d"), &mut rx), &b"d"[..]);
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_size_and_a_large_item_goes_alone() {
        let (tx, mut rx) = mpsc::channel(16);
        let big = Bytes::from(vec![7u8; WRITE_BATCH]);
        tx.send(Bytes::from_static(b"x")).await.unwrap();
        assert_eq!(coalesce(big.clone(), &mut rx), big);
        let most = Bytes::from(vec![1u8; WRITE_BATCH - 1]);
        tx.send(most.clone()).await.unwrap();
        tx.send(Bytes::from_static(b"next")).await.unwrap();
        // "y", "x" and `most` reach the limit; "next" waits for the following write.
        assert_eq!(
            coalesce(Bytes::from_static(b"y"), &mut rx).len(),
            2 + most.len()
        );
        assert_eq!(coalesce(Bytes::from_static(b"z"), &mut rx), &b"znext"[..]);
    }
}
