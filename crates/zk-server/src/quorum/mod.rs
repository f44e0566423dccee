//! The peer transport: the election port and the quorum (leader ↔ learner) port over tokio.
//!
//! zk-zab's [`Peer`](zk_zab::peer::Peer) decides everything; this module only moves its
//! messages between sockets, as Apache ZooKeeper 3.8's `QuorumCnxManager`, `Leader` /
//! `LearnerHandler` and `Learner` move them (ZAB-NOTES §1, §3, §4.7):
//!
//! ```text
//!   node shell ──PeerNetHandle::send(to, Message)──► hub task ──► election conn task (per sid)
//!       ▲            role_changed / send_snapshot        │     └─► quorum conn task (per conn id)
//!       │                                                │           (dial / accept, framing)
//!       └──────────── mpsc::Receiver<Delivered> ◄────────┴──── readers: decoded messages,
//!                     (feed into Event::Received)              connection up / down
//! ```
//!
//! Election port ([`election`]):
//! * one listener on this server's election address (`quorumListenOnAllIPs` binds the
//!   wildcard address); an accepted connection must send the initial message (V1 or V2, or
//!   a pre-3.5 bare sid) within `cnxTimeout`, from a configured sid other than ours;
//! * only a connection initiated by the larger sid survives: a smaller sid's incoming
//!   connection is closed and dialled back; our dial to a larger sid sends the initial
//!   message and hangs up, so that it calls back (ZAB-NOTES §1.3);
//! * one send slot per peer holding only the newest notification (Java's send queue of
//!   capacity 1); a new connection first sends what the slot holds (`lastMessageSent`);
//! * dials happen when a notification is sent while no connection is up, with `cnxTimeout`
//!   per attempt and a bounded, doubling backoff between at most [`DIAL_ATTEMPTS`];
//! * frames longer than 512 KiB or not positive close the connection before anything is
//!   buffered; a notification that does not decode is dropped (as Java drops it).
//!
//! Quorum port ([`port`]):
//! * the listener is bound at start; connections accepted while this server is not leading
//!   wait (at most [`MAX_PARKED`] of them) until [`PeerNetHandle::role_changed`] says
//!   LEADING, as Java's leader only accepts learners then. Each served connection gets an
//!   id with [`ACCEPTED_CONN`] set; its first packet must be FOLLOWERINFO / OBSERVERINFO
//!   from a configured sid within `initLimit` ticks, and every later packet is delivered
//!   as from that sid;
//! * a learner's connection is made by sending a packet on a connection id the transport
//!   has not seen (zk-zab's follower picks a fresh id per attempt, without
//!   [`ACCEPTED_CONN`]): it dials the leader's quorum address (5 attempts 100 ms apart
//!   within `initLimit` ticks, `Learner.connectToLeader`) and closes any older learner
//!   connection;
//! * packets are `QuorumPacket` records back to back, no outer length (Java's
//!   `BinaryOutputArchive`); buffer lengths are checked against `jute.maxbuffer` +
//!   extrasize before buffering. After a SNAP the leader's snapshot stream follows on the
//!   same socket; it is found with [`snap_stream::SnapScan`] and delivered as
//!   [`Delivered::Snapshot`] (raw bytes), before any packet that follows it;
//! * any role change closes every quorum connection (Java's `Leader.shutdown` /
//!   `Learner.shutdown`), so the other side sees EOF at once.
//!
//! Bounded: at most [`MAX_HANDSHAKES`] election connections read their initial message at
//! once, [`MAX_PARKED`] learner connections wait, and a leader serves at most two learner
//! connections per member plus [`MAX_PARKED`]; beyond that new connections are closed with
//! a log line. Hostile bytes on either port close that connection with a log line naming
//! the peer address and the reason; nothing here panics on them. Quorum SASL (DIGEST-MD5,
//! [`auth`]) runs on both ports when `quorum.auth.enableSasl` is set, inside quorum TLS
//! ([`tls`]: `sslQuorum`, `portUnification`) when that is set. Not done: multi-address (V2 addresses are accepted and ignored: the configured
//! address is dialled), observers' ObserverMaster port.
//!
//! Using it from the node's shell (one zk-zab peer, one transport):
//!
//! ```text
//!  let (net, mut delivered) = PeerNet::start(PeerNetConfig::from_config(&cfg)?, 1024).await?;
//!  Delivered::Message { from, message }      ─► peer.step(Event::Received { from, message })
//!  Delivered::Snapshot { from, conn, zxid, stream }
//!        ─► load snap_stream::stream_to_file(&stream) with zk_tree::snapshot::read_snapshot,
//!           then hand the peer its Message::Snapshot { conn, zxid, .. }
//!  Delivered::QuorumUp { conn, .. }          ─► peer.step(Event::ConnectionUp { conn })
//!  Delivered::QuorumDown { conn, .. }        ─► peer.step(Event::ConnectionLost { conn })
//!  Delivered::{ElectionUp, ElectionDown}     ─► logs / metrics only
//!  Command::Send { to, message: Election | Quorum }  ─► net.send(to, message)
//!  Command::Send { to, message: Snapshot { conn, zxid, .. } }
//!        ─► net.send_snapshot(to, conn, zxid, snap_stream::file_to_stream(&file)?)
//!           where `file` is zk_tree::snapshot::write_snapshot(.., WriteOptions { digest: false })
//!  Command::RoleChanged(role)                 ─► net.role_changed(role)
//!  shutdown                                   ─► net.shutdown().await
//! ```
//!
//! Learner connection ids must increase over the transport's life (zk-zab's
//! `incarnation << 32 | seq` does, as long as a restarted peer gets a larger incarnation)
//! and must not have [`ACCEPTED_CONN`] set: a send on an id at or below the newest one
//! dialled, once that connection is gone, is dropped rather than dialled again.

pub mod auth;
pub mod election;
pub mod port;
pub mod snap_stream;
pub mod tls;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use zk_proto::Limits;
use zk_zab::peer::{Message, PeerRole};
use zk_zab::wire::election::{encode_frame, Notification, NotificationForm, PeerAddress};
use zk_zab::wire::packet::{default_limits, Packet};

use tls::PeerStream;

/// Bit set in the id of every connection the quorum listener accepted; ids without it are
/// learner connections the node's peer chose.
pub const ACCEPTED_CONN: u64 = 1 << 63;
/// Accepted quorum connections held while not leading.
pub const MAX_PARKED: usize = 16;
/// Accepted election connections reading their initial message at once; more are closed.
pub const MAX_HANDSHAKES: usize = 64;
/// Election dial attempts per burst (the next notification starts a new burst).
pub const DIAL_ATTEMPTS: u32 = 8;
/// First pause between election dial attempts; it doubles up to [`DIAL_BACKOFF_MAX`].
pub const DIAL_BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest pause between election dial attempts.
pub const DIAL_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Default bound on a SNAP stream (the leader's whole database in memory).
pub const DEFAULT_MAX_SNAPSHOT: usize = 1 << 31;
/// Default bound on the packets queued for one quorum connection.
pub const DEFAULT_QUORUM_QUEUE: usize = 100_000;

/// Where one member of the ensemble listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Election address (`server.N=host:quorumPort:electionPort`'s second port).
    pub election: PeerAddress,
    /// Quorum address (the first port), where a leader accepts learners.
    pub quorum: PeerAddress,
}

/// Settings of the transport.
#[derive(Debug, Clone)]
pub struct PeerNetConfig {
    /// This server's sid (`myid`).
    pub my_id: i64,
    /// Every member, this server included, by sid.
    pub members: BTreeMap<i64, Member>,
    /// `quorumListenOnAllIPs`: listen on the wildcard address, not the configured host.
    pub listen_on_all_ips: bool,
    /// `cnxTimeout` (`zookeeper.cnxTimeout`, default 5 s): one connect attempt, and the
    /// wait for an accepted election connection's initial message.
    pub cnx_timeout: Duration,
    /// `tickTime`.
    pub tick: Duration,
    /// `initLimit` in ticks: the learner's connect budget and the wait for FOLLOWERINFO.
    pub init_limit: u32,
    /// `syncLimit` in ticks: the bound on one write to a peer that stopped reading.
    pub sync_limit: u32,
    /// Bounds on `QuorumPacket` buffers (`jute.maxbuffer` + extrasize).
    pub limits: Limits,
    /// Bound on a SNAP stream, in bytes.
    pub max_snapshot: usize,
    /// Bound on the packets queued for one quorum connection; a learner that falls this far
    /// behind is disconnected.
    pub quorum_queue: usize,
    /// Quorum SASL (`quorum.auth.enableSasl`), run on both ports; `None`: off.
    pub auth: Option<Arc<auth::QuorumAuth>>,
    /// Quorum TLS (`sslQuorum`, `portUnification`), on both ports; `None`: off.
    pub tls: Option<Arc<tls::QuorumTls>>,
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerNetError {
    /// The configuration does not describe an ensemble this server is in.
    #[error("peer transport configuration: {0}")]
    Config(String),
    /// A listening socket could not be bound.
    #[error("binding the {what} address {addr}: {source}")]
    Bind {
        /// `election` or `quorum`.
        what: &'static str,
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
}

impl PeerNetConfig {
    /// Java's defaults (`tickTime` 2000 ms, `initLimit` 10, `syncLimit` 5, `cnxTimeout`
    /// 5 s) for `my_id` in `members`.
    pub fn new(my_id: i64, members: BTreeMap<i64, Member>) -> Self {
        PeerNetConfig {
            my_id,
            members,
            listen_on_all_ips: false,
            cnx_timeout: Duration::from_millis(zk_config::DEFAULT_CNX_TIMEOUT_MS as u64),
            tick: Duration::from_millis(2000),
            init_limit: 10,
            sync_limit: 5,
            limits: default_limits(),
            max_snapshot: DEFAULT_MAX_SNAPSHOT,
            quorum_queue: DEFAULT_QUORUM_QUEUE,
            auth: None,
            tls: None,
        }
    }

    /// The transport's settings from zoo.cfg: `server.N` lines (the first quorum and
    /// election address of each), `myid`, `tickTime`, `initLimit`, `syncLimit`,
    /// `cnxTimeout`, `quorumListenOnAllIPs` and quorum SASL (`quorum.auth.*` with the JAAS
    /// file's sections: an error when they are missing).
    pub fn from_config(cfg: &zk_config::Config) -> Result<Self, PeerNetError> {
        let my_id = cfg
            .server_id
            .ok_or_else(|| PeerNetError::Config("no myid".into()))?;
        let mut members = BTreeMap::new();
        for (sid, server) in &cfg.quorum.servers {
            let (Some(q), Some(e)) = (server.addrs.first(), server.election_addrs.first()) else {
                return Err(PeerNetError::Config(format!(
                    "server.{sid} has no quorum or election address"
                )));
            };
            if server.addrs.len() > 1 {
                tracing::warn!(
                    "server.{sid} has {} addresses; multi-address is not supported, using {q}",
                    server.addrs.len()
                );
            }
            let addr = |e: &zk_config::Endpoint| PeerAddress::new(e.host.host_string(), e.port);
            members.insert(
                *sid,
                Member {
                    election: addr(e),
                    quorum: addr(q),
                },
            );
        }
        if !members.contains_key(&my_id) {
            return Err(PeerNetError::Config(format!(
                "myid {my_id} has no server.{my_id} line"
            )));
        }
        let mut out = PeerNetConfig::new(my_id, members);
        out.listen_on_all_ips = cfg.quorum_listen_on_all_ips;
        out.cnx_timeout = Duration::from_millis(cfg.cnx_timeout_ms.max(1) as u64);
        out.tick = Duration::from_millis(cfg.tick_time.max(1) as u64);
        out.init_limit = cfg.init_limit.max(1) as u32;
        out.sync_limit = cfg.sync_limit.max(1) as u32;
        out.auth = auth::QuorumAuth::from_config(cfg)
            .map_err(PeerNetError::Config)?
            .map(Arc::new);
        out.tls = tls::QuorumTls::from_config(cfg)
            .map_err(PeerNetError::Config)?
            .map(Arc::new);
        Ok(out)
    }

    fn me(&self) -> Result<&Member, PeerNetError> {
        self.members
            .get(&self.my_id)
            .ok_or_else(|| PeerNetError::Config(format!("myid {} is not a member", self.my_id)))
    }

    /// `tickTime * syncLimit`: how long one write may block.
    fn write_timeout(&self) -> Duration {
        self.tick.saturating_mul(self.sync_limit.max(1))
    }

    /// `tickTime * initLimit`.
    fn init_time(&self) -> Duration {
        self.tick.saturating_mul(self.init_limit.max(1))
    }

    /// The bound on an election connection's SASL exchange: Java bounds each read by the
    /// socket timeout (`tickTime * syncLimit`); never less than `cnxTimeout`.
    fn election_auth_time(&self) -> Duration {
        self.cnx_timeout.max(self.write_timeout())
    }
}

/// What the transport hands the node, in the order it happened per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A message for `Event::Received { from, message }`: a notification
    /// ([`Message::Election`]) or a quorum packet ([`Message::Quorum`], whose `conn` is the
    /// connection it came on).
    Message {
        /// Sender sid.
        from: i64,
        /// The message.
        message: Message,
    },
    /// A SNAP packet from the leader `from` on learner connection `conn`, with the snapshot
    /// stream that followed it (sessions, the DataTree, `"/"`, `BenWasHere`; ZAB-NOTES §4.7).
    Snapshot {
        /// The leader's sid.
        from: i64,
        /// The learner connection.
        conn: u64,
        /// The SNAP packet's zxid (the leader's last processed zxid).
        zxid: i64,
        /// The stream, signature included.
        stream: Bytes,
    },
    /// An election connection with `sid` is up (it was kept by the larger-sid rule).
    ElectionUp {
        /// The peer.
        sid: i64,
    },
    /// The election connection with `sid` closed.
    ElectionDown {
        /// The peer.
        sid: i64,
    },
    /// A quorum connection is up: a learner `sid` sent FOLLOWERINFO / OBSERVERINFO on an
    /// accepted connection, or our dial to leader `sid` connected.
    QuorumUp {
        /// The connection id.
        conn: u64,
        /// The peer.
        sid: i64,
    },
    /// A quorum connection closed (or a learner's dial failed).
    QuorumDown {
        /// The connection id.
        conn: u64,
        /// The peer, when known.
        sid: Option<i64>,
        /// Why.
        reason: String,
    },
}

/// What the handle asks of the hub.
enum Cmd {
    Send { to: i64, message: Message },
    Snapshot(i64, u64, i64, Bytes),
    Role(PeerRole),
    Close(u64),
    Stop,
}

/// What connection tasks tell the hub.
enum Internal {
    /// An accepted election connection sent a valid initial message from `sid`.
    ElectionIn {
        sid: i64,
        stream: PeerStream,
        rest: BytesMut,
    },
    /// An election dial ended: the connection to keep (we are the larger sid) with the
    /// bytes read after its SASL exchange, or none.
    ElectionDialed {
        sid: i64,
        /// The dial's id ([`election::DialCtl::id`]).
        id: u64,
        stream: Option<(PeerStream, BytesMut)>,
    },
    ElectionClosed {
        sid: i64,
        gen: u64,
        reason: String,
    },
    QuorumIn {
        stream: TcpStream,
        addr: SocketAddr,
    },
    /// An accepted connection's FOLLOWERINFO / OBSERVERINFO named its learner.
    QuorumNamed {
        conn: u64,
        sid: i64,
    },
    QuorumClosed {
        conn: u64,
        sid: Option<i64>,
        reason: String,
    },
}

/// Sends the node's messages. Cloneable; the transport stops when every handle is gone or
/// [`PeerNetHandle::shutdown`] is called.
#[derive(Clone)]
pub struct PeerNetHandle {
    cmds: mpsc::UnboundedSender<Cmd>,
    hub: Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
    election_addr: SocketAddr,
    quorum_addr: SocketAddr,
}

impl PeerNetHandle {
    /// Sends the peer's `Command::Send { to, message }`: a notification goes to `to`'s send
    /// slot (replacing one not yet written), a quorum packet onto connection `conn` (a new
    /// learner connection id dials `to`'s quorum address first). A [`Message::Snapshot`]
    /// (zk-zab's txn-list stand-in) cannot travel: use [`PeerNetHandle::send_snapshot`].
    pub fn send(&self, to: i64, message: Message) {
        let _ = self.cmds.send(Cmd::Send { to, message });
    }

    /// Writes SNAP(`zxid`) and then `stream` (the snapshot stream, signature included) on
    /// accepted connection `conn` to learner `to`.
    pub fn send_snapshot(&self, to: i64, conn: u64, zxid: i64, stream: Bytes) {
        let _ = self.cmds.send(Cmd::Snapshot(to, conn, zxid, stream));
    }

    /// The peer's `Command::RoleChanged`: closes every quorum connection; when `Leading`,
    /// starts serving the learners waiting on the quorum port.
    pub fn role_changed(&self, role: PeerRole) {
        let _ = self.cmds.send(Cmd::Role(role));
    }

    /// Closes quorum connection `conn` (no [`Delivered::QuorumDown`] follows).
    pub fn close_quorum(&self, conn: u64) {
        let _ = self.cmds.send(Cmd::Close(conn));
    }

    /// The bound election address.
    pub fn election_addr(&self) -> SocketAddr {
        self.election_addr
    }

    /// The bound quorum address.
    pub fn quorum_addr(&self) -> SocketAddr {
        self.quorum_addr
    }

    /// Stops the transport: closes every connection and both listeners, and returns once
    /// the sockets are released.
    pub async fn shutdown(&self) {
        let _ = self.cmds.send(Cmd::Stop);
        let hub = self.hub.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hub) = hub {
            let _ = hub.await;
        }
    }
}

/// The transport.
pub struct PeerNet;

impl PeerNet {
    /// Binds the election and quorum listeners and starts the transport. `queue` bounds the
    /// [`Delivered`] items not yet taken by the node (readers wait when it is full).
    pub async fn start(
        cfg: PeerNetConfig,
        queue: usize,
    ) -> Result<(PeerNetHandle, mpsc::Receiver<Delivered>), PeerNetError> {
        let me = cfg.me()?.clone();
        let el = bind("election", &me.election, cfg.listen_on_all_ips).await?;
        let ql = bind("quorum", &me.quorum, cfg.listen_on_all_ips).await?;
        let bound = |l: &TcpListener, what| {
            l.local_addr().map_err(|source| PeerNetError::Bind {
                what,
                addr: me.election.format(),
                source,
            })
        };
        let (election_addr, quorum_addr) = (bound(&el, "election")?, bound(&ql, "quorum")?);
        let (dtx, drx) = mpsc::channel(queue.max(1));
        let (itx, irx) = mpsc::channel(256);
        let (ctx, crx) = mpsc::unbounded_channel();
        let cfg = Arc::new(cfg);
        let mut tasks = JoinSet::new();
        tasks.spawn(election::accept(el, cfg.clone(), itx.clone()));
        tasks.spawn(port::accept(ql, itx.clone()));
        let slots = cfg
            .members
            .keys()
            .filter(|&&sid| sid != cfg.my_id)
            .map(|&sid| {
                let slot = Slot {
                    latest: watch::channel(None).0,
                    conn: None,
                    dialing: None,
                };
                (sid, slot)
            })
            .collect();
        tracing::info!(
            "peer transport of server {}: election on {election_addr}, quorum on {quorum_addr}",
            cfg.my_id
        );
        let hub = Hub {
            cfg,
            delivered: dtx,
            internal: itx,
            tasks,
            slots,
            gen: 0,
            dials: 0,
            quorum: HashMap::new(),
            parked: VecDeque::new(),
            leading: false,
            last_dialled: 0,
            next_accepted: 0,
        };
        let join = tokio::spawn(hub.run(crx, irx));
        let handle = PeerNetHandle {
            cmds: ctx,
            hub: Arc::new(std::sync::Mutex::new(Some(join))),
            election_addr,
            quorum_addr,
        };
        Ok((handle, drx))
    }
}

async fn bind(
    what: &'static str,
    addr: &PeerAddress,
    all_ips: bool,
) -> Result<TcpListener, PeerNetError> {
    let host = if all_ips {
        "0.0.0.0"
    } else {
        addr.host.as_str()
    };
    let res = if host.contains(':') {
        TcpListener::bind((host.trim_matches(|c| c == '[' || c == ']'), addr.port)).await
    } else {
        TcpListener::bind((host, addr.port)).await
    };
    res.map_err(|source| PeerNetError::Bind {
        what,
        addr: format!("{host}:{}", addr.port),
        source,
    })
}

/// One election peer: the newest notification for it, and its connection.
struct Slot {
    latest: watch::Sender<Option<Bytes>>,
    conn: Option<(u64, AbortHandle)>,
    /// The dial under way, if any. It is never aborted: cutting a TLS handshake short
    /// makes a Java peer log an exception; it is woken from its backoff or told to stop
    /// after its attempt instead.
    dialing: Option<(AbortHandle, Arc<election::DialCtl>)>,
}

struct QuorumConn {
    sid: Option<i64>,
    tx: mpsc::Sender<Bytes>,
    task: AbortHandle,
}

struct Hub {
    cfg: Arc<PeerNetConfig>,
    delivered: mpsc::Sender<Delivered>,
    internal: mpsc::Sender<Internal>,
    tasks: JoinSet<()>,
    slots: BTreeMap<i64, Slot>,
    gen: u64,
    /// Election dials started (their ids).
    dials: u64,
    quorum: HashMap<u64, QuorumConn>,
    parked: VecDeque<(TcpStream, SocketAddr)>,
    leading: bool,
    last_dialled: u64,
    next_accepted: u64,
}

impl Hub {
    async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        mut internal: mpsc::Receiver<Internal>,
    ) {
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    None | Some(Cmd::Stop) => break,
                    Some(cmd) => self.command(cmd).await,
                },
                Some(ev) = internal.recv() => self.internal(ev).await,
                Some(res) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    if let Err(e) = res {
                        if e.is_panic() {
                            tracing::error!("a peer transport task panicked: {e}");
                        }
                    }
                }
            }
        }
        // Every connection and both listeners are released before shutdown() returns.
        self.tasks.shutdown().await;
        tracing::info!("peer transport of server {} stopped", self.cfg.my_id);
    }

    async fn deliver(&self, d: Delivered) {
        let _ = self.delivered.send(d).await;
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Send { to, message } => match message {
                Message::Election(n) => self.send_notification(to, n).await,
                Message::Quorum { conn, packet } => {
                    self.send_quorum(to, conn, vec![packet.to_bytes()]).await
                }
                Message::Snapshot { conn, .. } => tracing::error!(
                    "a txn-list snapshot for server {to} on connection {conn:#x} cannot be sent: \
                     the node must serialize its tree and use send_snapshot"
                ),
            },
            Cmd::Snapshot(to, conn, zxid, stream) => {
                let snap = Packet::Snap { zxid }.to_bytes();
                self.send_quorum(to, conn, vec![snap, stream]).await
            }
            Cmd::Role(role) => {
                for conn in self.quorum.keys().copied().collect::<Vec<_>>() {
                    self.drop_quorum(conn, "role change").await;
                }
                self.leading = role == PeerRole::Leading;
                if self.leading {
                    for (stream, addr) in std::mem::take(&mut self.parked) {
                        self.serve_learner(stream, addr);
                    }
                }
            }
            Cmd::Close(conn) => {
                if let Some(c) = self.quorum.remove(&conn) {
                    c.task.abort();
                }
            }
            Cmd::Stop => {}
        }
    }

    async fn send_notification(&mut self, to: i64, n: Notification) {
        if to == self.cfg.my_id {
            // QuorumCnxManager.toSend loops a message to self back without a socket.
            let message = Message::Election(n);
            self.deliver(Delivered::Message { from: to, message }).await;
            return;
        }
        let Some(slot) = self.slots.get_mut(&to) else {
            tracing::warn!("not sending a notification to server {to}: not a member");
            return;
        };
        let mut frame = BytesMut::new();
        encode_frame(&n.to_bytes(NotificationForm::V2), &mut frame);
        // Capacity one: a notification not yet written is replaced by the newer one.
        slot.latest.send_replace(Some(frame.freeze()));
        if slot.conn.is_none() && slot.dialing.is_none() {
            self.dial_election(to);
        }
    }

    fn dial_election(&mut self, sid: i64) {
        let (Some(member), Some(slot)) = (self.cfg.members.get(&sid), self.slots.get_mut(&sid))
        else {
            return;
        };
        self.dials += 1;
        let ctl = Arc::new(election::DialCtl::new(self.dials));
        let task = self.tasks.spawn(election::dial(
            self.cfg.clone(),
            sid,
            member.election.clone(),
            self.internal.clone(),
            ctl.clone(),
        ));
        slot.dialing = Some((task, ctl));
    }

    /// Keeps `stream` as the election connection with `sid`, replacing an older one.
    async fn register_election(&mut self, sid: i64, stream: PeerStream, rest: BytesMut) {
        if !self.slots.contains_key(&sid) {
            return;
        }
        // Up goes out before the connection's task can deliver anything from it.
        tracing::info!("election connection with server {sid} is up");
        self.deliver(Delivered::ElectionUp { sid }).await;
        self.gen += 1;
        let gen = self.gen;
        let Some(slot) = self.slots.get_mut(&sid) else {
            return;
        };
        let latest = slot.latest.subscribe();
        let task = self.tasks.spawn(election::run(
            election::Conn {
                sid,
                gen,
                write_timeout: self.cfg.write_timeout(),
                delivered: self.delivered.clone(),
                internal: self.internal.clone(),
            },
            stream,
            rest,
            latest,
        ));
        if let Some((_, old)) = slot.conn.replace((gen, task)) {
            old.abort();
        }
        // connectOne does nothing for a sid with a connection: a dial still backing off
        // would only make the other side drop this one and call back. One in the middle
        // of an attempt finishes it (a larger sid's is only hung up on).
        if let Some((_, ctl)) = &slot.dialing {
            ctl.stop();
        }
    }

    async fn send_quorum(&mut self, to: i64, conn: u64, items: Vec<Bytes>) {
        if !self.quorum.contains_key(&conn) {
            if conn & ACCEPTED_CONN != 0 || conn <= self.last_dialled {
                tracing::debug!("quorum connection {conn:#x} to server {to} is gone; dropped");
                return;
            }
            let Some(member) = self.cfg.members.get(&to).cloned() else {
                tracing::warn!("not connecting to leader {to}: not a member");
                return;
            };
            // A learner has one leader connection: a newer attempt ends the older ones.
            let old: Vec<u64> = self
                .quorum
                .keys()
                .copied()
                .filter(|c| c & ACCEPTED_CONN == 0)
                .collect();
            for c in old {
                self.drop_quorum(c, "superseded by a newer connection to the leader")
                    .await;
            }
            self.last_dialled = conn;
            let (tx, rx) = mpsc::channel(self.cfg.quorum_queue.max(2));
            let task = self.tasks.spawn(port::dial(
                self.port_conn(conn, Some(to)),
                member.quorum,
                rx,
            ));
            self.quorum.insert(
                conn,
                QuorumConn {
                    sid: Some(to),
                    tx,
                    task,
                },
            );
        }
        let Some(c) = self.quorum.get(&conn) else {
            return;
        };
        for item in items {
            if let Err(e) = c.tx.try_send(item) {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "send queue full",
                    mpsc::error::TrySendError::Closed(_) => "connection closed",
                };
                self.drop_quorum(conn, why).await;
                return;
            }
        }
    }

    fn port_conn(&self, conn: u64, sid: Option<i64>) -> port::Conn {
        port::Conn {
            conn,
            sid,
            cfg: self.cfg.clone(),
            delivered: self.delivered.clone(),
            internal: self.internal.clone(),
        }
    }

    /// Learner connections a leader serves at once: two per member (an old connection may
    /// linger while its replacement arrives) and the parked ones.
    fn max_learner_conns(&self) -> usize {
        2 * self.cfg.members.len() + MAX_PARKED
    }

    fn serve_learner(&mut self, stream: TcpStream, addr: SocketAddr) {
        self.next_accepted += 1;
        let conn = ACCEPTED_CONN | self.next_accepted;
        tracing::info!("learner connection {conn:#x} from {addr}");
        let (tx, rx) = mpsc::channel(self.cfg.quorum_queue.max(2));
        let task = self
            .tasks
            .spawn(port::serve(self.port_conn(conn, None), stream, addr, rx));
        self.quorum.insert(
            conn,
            QuorumConn {
                sid: None,
                tx,
                task,
            },
        );
    }

    async fn drop_quorum(&mut self, conn: u64, reason: &str) {
        if let Some(c) = self.quorum.remove(&conn) {
            c.task.abort();
            tracing::info!("quorum connection {conn:#x} closed: {reason}");
            self.deliver(Delivered::QuorumDown {
                conn,
                sid: c.sid,
                reason: reason.to_owned(),
            })
            .await;
        }
    }

    async fn internal(&mut self, ev: Internal) {
        match ev {
            Internal::ElectionIn { sid, stream, rest } => {
                if sid < self.cfg.my_id {
                    // handleConnection: a smaller sid's connection is closed, its old one
                    // too, and we call it back (connectOne, at once).
                    drop(stream);
                    let Some(slot) = self.slots.get_mut(&sid) else {
                        return;
                    };
                    let old = slot.conn.take();
                    // It is up now: a dial waiting out its backoff tries again at once (one
                    // in the middle of an attempt goes on with it).
                    match &slot.dialing {
                        Some((_, ctl)) => ctl.hurry(),
                        None => self.dial_election(sid),
                    }
                    if let Some((_, old)) = old {
                        old.abort();
                        self.deliver(Delivered::ElectionDown { sid }).await;
                    }
                } else {
                    self.register_election(sid, stream, rest).await;
                }
            }
            Internal::ElectionDialed { sid, id, stream } => {
                if let Some(slot) = self.slots.get_mut(&sid) {
                    if slot.dialing.as_ref().is_some_and(|(_, c)| c.id == id) {
                        slot.dialing = None;
                    }
                }
                if let Some((stream, rest)) = stream {
                    self.register_election(sid, stream, rest).await;
                }
            }
            Internal::ElectionClosed { sid, gen, reason } => {
                let Some(slot) = self.slots.get_mut(&sid) else {
                    return;
                };
                if slot.conn.as_ref().is_some_and(|(g, _)| *g == gen) {
                    slot.conn = None;
                    tracing::info!("election connection with server {sid} closed: {reason}");
                    self.deliver(Delivered::ElectionDown { sid }).await;
                }
            }
            Internal::QuorumIn { stream, addr } => {
                let accepted = self
                    .quorum
                    .keys()
                    .filter(|c| *c & ACCEPTED_CONN != 0)
                    .count();
                if self.leading && accepted >= self.max_learner_conns() {
                    tracing::warn!(
                        "quorum port: closing the connection from {addr}: {accepted} learner \
                         connections already"
                    );
                } else if self.leading {
                    self.serve_learner(stream, addr);
                } else {
                    if self.parked.len() >= MAX_PARKED {
                        if let Some((_, old)) = self.parked.pop_front() {
                            tracing::info!(
                                "dropping the learner connection from {old}: too many waiting"
                            );
                        }
                    }
                    self.parked.push_back((stream, addr));
                }
            }
            Internal::QuorumNamed { conn, sid } => {
                if let Some(c) = self.quorum.get_mut(&conn) {
                    c.sid = Some(sid);
                }
            }
            Internal::QuorumClosed { conn, sid, reason } => {
                if let Some(c) = self.quorum.remove(&conn) {
                    tracing::info!("quorum connection {conn:#x} closed: {reason}");
                    let sid = sid.or(c.sid);
                    self.deliver(Delivered::QuorumDown { conn, sid, reason })
                        .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_zoo_cfg() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("myid"), "2").unwrap();
        let cfg = format!(
            "tickTime=300\ninitLimit=7\nsyncLimit=3\ndataDir={}\nclientPort=2181\n\
             quorumListenOnAllIPs=true\nserver.1=10.0.0.1:2888:3888\n\
             server.2=10.0.0.2:2889:3889\nserver.3=zk3.example:2890:3890:observer\n",
            data.display()
        );
        let path = dir.path().join("zoo.cfg");
        std::fs::write(&path, cfg).unwrap();
        let loaded = zk_config::load(&path, zk_config::SystemProperties::new()).unwrap();
        let net = PeerNetConfig::from_config(&loaded.config).unwrap();
        assert_eq!(net.my_id, 2);
        assert_eq!(net.tick, Duration::from_millis(300));
        assert_eq!((net.init_limit, net.sync_limit), (7, 3));
        assert!(net.listen_on_all_ips);
        assert_eq!(net.cnx_timeout, Duration::from_millis(5000));
        assert_eq!(net.members.len(), 3);
        assert_eq!(net.members[&2].quorum, PeerAddress::new("10.0.0.2", 2889));
        assert_eq!(net.members[&2].election, PeerAddress::new("10.0.0.2", 3889));
        assert_eq!(
            net.members[&3].election,
            PeerAddress::new("zk3.example", 3890)
        );
        assert_eq!(net.write_timeout(), Duration::from_millis(900));
        assert_eq!(net.init_time(), Duration::from_millis(2100));
    }
}
