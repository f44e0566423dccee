//! The test driver shared by the peer-transport tests: one zk-zab [`Peer`] over one
//! [`PeerNet`], with an in-memory log and epoch files acknowledged at once and the
//! half-tick timer. Not every test file uses every item.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use zk_server::quorum::snap_stream::stream_to_file;
use zk_server::quorum::{Delivered, Member, PeerNet, PeerNetConfig, PeerNetHandle};
use zk_tree::snapshot::{read_snapshot, ReadOptions};
use zk_zab::learner::EpochFile;
use zk_zab::peer::{Command, Event, Message, Peer, PeerConfig, PeerRole};
use zk_zab::quorum::Majority;
use zk_zab::wire::election::PeerAddress;
use zk_zab::wire::packet::TxnPayload;

pub const TICK: Duration = Duration::from_millis(200);
pub const WAIT: Duration = Duration::from_secs(60);

/// `n` distinct free ports on 127.0.0.1 (held together while chosen, so none repeats).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub fn members(sids: &[i64]) -> BTreeMap<i64, Member> {
    let mut ports = free_ports(2 * sids.len()).into_iter();
    sids.iter()
        .map(|&sid| {
            let m = Member {
                election: PeerAddress::new("127.0.0.1", ports.next().unwrap()),
                quorum: PeerAddress::new("127.0.0.1", ports.next().unwrap()),
            };
            (sid, m)
        })
        .collect()
}

pub fn net_config(me: i64, members: &BTreeMap<i64, Member>) -> PeerNetConfig {
    let mut cfg = PeerNetConfig::new(me, members.clone());
    cfg.tick = TICK;
    cfg.cnx_timeout = Duration::from_secs(2);
    cfg
}

// ---------------------------------------------------------------------------------------
// The test driver: one zk-zab Peer over one PeerNet
// ---------------------------------------------------------------------------------------

/// What survives a stop: the log and the epoch files.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    pub log: Vec<TxnPayload>,
    pub accepted: i64,
    pub current: i64,
}

/// What a driver shows the test.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub role: Option<PeerRole>,
    pub established: Option<i64>,
    pub serving: bool,
    /// Committed (zxid, record), in commit order.
    pub committed: Vec<(i64, Bytes)>,
    /// The peer's log zxids.
    pub log: Vec<i64>,
    /// The zxids of the SNAP streams taken (each loaded by zk-tree).
    pub snapshots: Vec<i64>,
}

pub struct Driver {
    pub sid: i64,
    pub status: Arc<Mutex<Status>>,
    pub propose: mpsc::UnboundedSender<Bytes>,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Durable>,
}

impl Driver {
    pub async fn start(
        sid: i64,
        members: &BTreeMap<i64, Member>,
        durable: Durable,
        incarnation: u64,
        changed: watch::Sender<u64>,
        config_text: Bytes,
    ) -> Driver {
        let (net, mut delivered) = PeerNet::start(net_config(sid, members), 1024)
            .await
            .expect("transport starts");
        let mut cfg = PeerConfig::new(sid, Majority::new(members.keys().copied()));
        cfg.tick_ms = TICK.as_millis() as u64;
        cfg.init_limit = 10;
        cfg.sync_limit = 5;
        cfg.config_text = config_text;
        let peer = Peer::new(
            cfg,
            durable.log.clone(),
            durable.accepted,
            durable.current,
            incarnation,
        );
        let status = Arc::new(Mutex::new(Status::default()));
        let (ptx, mut prx) = mpsc::unbounded_channel::<Bytes>();
        let (stop, mut stop_rx) = watch::channel(false);
        let mut run = Run {
            peer,
            net: net.clone(),
            durable,
            status: status.clone(),
            changed,
            timer: None,
        };
        let task = tokio::spawn(async move {
            run.execute(Event::Start);
            let mut tick = tokio::time::interval(TICK / 2);
            let mut cxid = 0;
            // Bounded: the test stops every driver within its own bounded waits.
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    _ = tick.tick() => run.execute(Event::Tick),
                    _ = timer(run.timer) => {
                        if let Some((id, _)) = run.timer.take() {
                            run.execute(Event::TimerFired { id });
                        }
                    }
                    Some(body) = prx.recv() => {
                        cxid += 1;
                        run.execute(Event::ClientPropose { client_id: 1, cxid, body });
                    }
                    d = delivered.recv() => match d {
                        Some(Delivered::Message { from, message }) => {
                            run.execute(Event::Received { from, message })
                        }
                        Some(Delivered::Snapshot { from, conn, zxid, stream }) => {
                            run.snapshot(from, conn, zxid, &stream)
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            net.shutdown().await;
            run.durable
        });
        Driver {
            sid,
            status,
            propose: ptx,
            stop,
            task,
        }
    }

    pub fn status(&self) -> Status {
        self.status.lock().unwrap().clone()
    }

    /// Stops the peer and its transport (all its sockets close); returns its durable state.
    pub async fn stop(self) -> Durable {
        let _ = self.stop.send(true);
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("driver stops")
            .expect("driver did not panic")
    }
}

/// The peer's pending timer firing (never, without one).
async fn timer(timer: Option<(u64, tokio::time::Instant)>) {
    match timer {
        Some((_, at)) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub struct Run {
    peer: Peer<Majority>,
    net: PeerNetHandle,
    durable: Durable,
    status: Arc<Mutex<Status>>,
    changed: watch::Sender<u64>,
    /// The peer's pending timer: its id and when it fires.
    timer: Option<(u64, tokio::time::Instant)>,
}

impl Run {
    /// A leader's SNAP stream: loaded with zk-tree's snapshot reader. This driver holds no
    /// tree, so only a tree without user nodes can be handed to the peer (with empty data);
    /// any other panics (the test then times out naming it).
    fn snapshot(&mut self, from: i64, conn: u64, zxid: i64, stream: &[u8]) {
        let file = stream_to_file(stream).expect("a SNAP stream ending with its signature");
        let loaded = read_snapshot(&file[..], zxid, &ReadOptions::default())
            .expect("zk-tree reads the leader's SNAP stream");
        assert_eq!(
            loaded.tree.node_count(),
            zk_tree::DataTree::new().node_count(),
            "server {}: a SNAP from {from} with user nodes; the driver cannot take it",
            self.peer.id()
        );
        self.status.lock().unwrap().snapshots.push(zxid);
        let message = Message::Snapshot {
            conn,
            zxid,
            // The driver holds no tree; an empty tree's snapshot is all it takes.
            data: Bytes::new(),
        };
        self.execute(Event::Received { from, message });
    }

    /// Steps `event` and executes the commands; the in-memory disk answers each write at
    /// once, in order.
    fn execute(&mut self, event: Event) {
        let mut events = vec![event];
        let mut commits = Vec::new();
        // Bounded: each round answers the writes of the previous one.
        for _ in 0..1000 {
            if events.is_empty() {
                break;
            }
            let mut feedback = Vec::new();
            for e in events {
                for c in self.peer.step(e) {
                    self.command(c, &mut feedback, &mut commits);
                }
            }
            events = feedback;
        }
        let mut s = self.status.lock().unwrap();
        s.role = Some(self.peer.role());
        s.established = self.peer.established_epoch();
        s.serving = self.peer.is_serving();
        s.committed.extend(commits);
        s.log = self.peer.log().iter().map(|t| t.header().zxid).collect();
        drop(s);
        self.changed.send_modify(|n| *n += 1);
    }

    fn command(&mut self, c: Command, feedback: &mut Vec<Event>, commits: &mut Vec<(i64, Bytes)>) {
        match c {
            Command::SetTimer { id, after_ms } => {
                let at = tokio::time::Instant::now() + Duration::from_millis(after_ms);
                self.timer = Some((id, at));
            }
            Command::Send { to, message } => self.net.send(to, message),
            // This driver holds no tree to serialize: the transport refuses (logs) a
            // Snapshot handed to `send`, as it did before SNAPs were asked for.
            Command::SendSnapshot { to, conn, zxid } => self.net.send(
                to,
                Message::Snapshot {
                    conn,
                    zxid,
                    data: Bytes::new(),
                },
            ),
            Command::Persist(txns) => {
                let last = txns.last().map(|t| t.header().zxid);
                self.durable.log.extend(txns);
                if let Some(zxid) = last {
                    feedback.push(Event::LogDurable { zxid });
                }
            }
            Command::Truncate { zxid } => self.durable.log.retain(|t| t.header().zxid <= zxid),
            Command::WriteAcceptedEpoch(epoch) => {
                self.durable.accepted = epoch;
                feedback.push(Event::EpochDurable {
                    file: EpochFile::Accepted,
                    epoch,
                });
            }
            Command::WriteCurrentEpoch(epoch) => {
                self.durable.current = epoch;
                feedback.push(Event::EpochDurable {
                    file: EpochFile::Current,
                    epoch,
                });
            }
            Command::LoadSnapshot { .. } => {}
            Command::TakeSnapshot(txns) => {
                self.durable.log = txns;
                feedback.push(Event::SnapshotDurable);
            }
            Command::Commit { zxid } => {
                let body = self
                    .peer
                    .log()
                    .iter()
                    .find(|t| t.header().zxid == zxid)
                    .map(|t| t.body())
                    .expect("a commit of a logged txn");
                commits.push((zxid, body));
            }
            Command::RoleChanged(role) => self.net.role_changed(role),
            Command::Established { .. } => {}
            // The driver forwards no client requests and tracks no sessions.
            Command::Forwarded { .. }
            | Command::SessionsTouched(_)
            | Command::Synced
            | Command::Revalidate { .. }
            | Command::Revalidated { .. } => {}
        }
    }
}
