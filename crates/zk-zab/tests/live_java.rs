//! Conversations with a live Apache ZooKeeper 3.8 peer (issue 12, item 5): zk-zab's
//! [`Peer`] over real sockets against Debian's `QuorumPeerMain`, in the style of upstream's
//! `Zab1_0Test`, with the Java process as the judge.
//!
//! The test side is a small blocking shell around the sans-IO peer ([`Shell`], one thread):
//!
//! * election port: it accepts and dials connections as `QuorumCnxManager` does (the V1
//!   initial message in one write; only the connection dialled by the larger sid survives:
//!   a smaller sid's incoming connection is closed and dialled back, and our dial to a larger
//!   sid is closed after the initial message so that it calls back), keeps the last
//!   notification per peer to send when a connection comes up, and frames notifications in
//!   the v2 form;
//! * quorum port: as a follower it dials the leader once per connection id the peer makes,
//!   and reads a leader's SNAP stream; as a leader it takes learners' connections only while
//!   leading (as `Leader` listens only then), writes the SNAP stream (the serialized
//!   `DataTree` built from the peer's committed txns with zk-tree, then `BenWasHere`) where
//!   the peer says `SendSnapshot`, and prepares the requests a Java follower forwards;
//! * disk: an in-memory store acknowledging every write at once (`LogDurable`,
//!   `EpochDurable`, `SnapshotDurable`), except where a scenario holds a proposal's fsync;
//! * clock: half-tick events from a bounded loop.
//!
//! What the scenarios prove (each a separate test; Java processes are killed on drop):
//!
//! * [`follower_to_a_java_leader`]: a Java leader elected across Java and us takes us as
//!   its follower, syncs us (empty DIFF), and a Java client's session and creates reach us
//!   as PROPOSALs we ACK and COMMITs we apply, with Java's zxids and in Java's order; the
//!   leader keeps us across several `syncLimit`s of pings (a 2-server ensemble: every write
//!   needs our ACK, so a write after that proves we are still counted).
//! * [`leader_of_a_java_follower`]: we win the election, the Java follower runs discovery
//!   and sync with us and serves (`srvr`: `Mode: follower`), applies our CreateTxn proposals
//!   (a client on its port reads them back with our zxids), checks our TxnDigests
//!   without a mismatch (`mntr`), and forwards its own client's create to us as REQUEST,
//!   answering that client when our COMMIT of it arrives.
//! * [`java_follower_syncs_by_diff`], [`java_follower_syncs_by_trunc`],
//!   [`java_follower_syncs_by_snap`]: a Java follower that went down and came back with
//!   less (DIFF), with a txn we never committed (TRUNC), or from an older epoch with such a
//!   txn (SNAP: `sync_follower` refuses a TRUNC across epochs) ends up with exactly our
//!   tree.
//! * [`java_follower_joins_our_established_epoch`], [`we_join_an_established_java_ensemble`]:
//!   late joiners both ways, through FLE's answers to a LOOKING peer and the
//!   out-of-election votes; the Java leader syncs us by SNAP, whose stream zk-tree's
//!   snapshot reader loads (this shell keeps no snapshot durable, so only a snapshot
//!   of a new tree can be handed to the peer: the shell fails the test on any other).
//! * [`we_catch_up_from_a_java_leader_by_diff`], [`a_java_leader_truncates_our_extra_txn`]:
//!   our learner behind a Java leader (DIFF with PROPOSAL/COMMIT pairs) and ahead of it
//!   (TRUNC), each followed by broadcast.
//! * [`we_take_over_from_a_dead_java_leader`]: the Java leader dies; we lead its follower
//!   in the next epoch over the history the Java leader made.
//! * [`our_pings_keep_a_session_alive_on_a_java_leader`]: a session created through us
//!   (a forwarded createSession) lives while our ping replies touch it and is expired by
//!   the Java leader once they stop.
//!
//! As a follower the shell applies each commit to a zk-tree `DataTree` and checks its
//! digest against the TxnDigest the Java leader sent; as a leader it sends zk-tree's
//! digests and Java's `mntr` counts no mismatch.
//!
//! The ensembles are on 127.0.0.1 with free ports (tickTime 250 ms); in the 3-server
//! leader scenarios sid 2 never runs, so that we and one Java process are a quorum and we
//! can make history without Java.
//! Without Java or the jars the tests print a loud notice and pass, unless
//! `FERROKEEPER_REQUIRE_JAVA=1` (zk_testkit::java's conventions).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::data::{Acl, Id, Stat};
use zk_proto::persistence::FileHeader;
use zk_proto::proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateRequest, GetDataRequest,
    GetDataResponse, ReplyHeader, RequestHeader,
};
use zk_proto::txn::{CloseSessionTxn, CreateTxn, TxnDigest, TxnHeader};
use zk_proto::txn_body::TxnBody;
use zk_proto::{Decoder, JString, Record};
use zk_tree::snapshot::{
    read_snapshot, write_snapshot, LoadedSnapshot, ReadOptions, WriteOptions, SNAP_DBID,
    SNAP_MAGIC, SNAP_VERSION,
};
use zk_tree::DataTree;
use zk_zab::learner::EpochFile;
use zk_zab::peer::{Command, Event, Message, Peer, PeerConfig, PeerRole};
use zk_zab::quorum::Majority;
use zk_zab::wire::election::{
    decode_frame, encode_frame, InitialMessage, Notification, NotificationForm, PeerAddress,
};
use zk_zab::wire::packet::{
    decode_packet, default_limits, ForwardedRequest, LearnerInfoData, Packet, SessionTouch,
    TxnPayload,
};

/// tickTime of every member, ms. Short, so that a scenario takes seconds.
const TICK_MS: u64 = 250;
const INIT_LIMIT: u64 = 20;
const SYNC_LIMIT: u64 = 8;
/// Bound on every wait of a scenario.
const WAIT: Duration = Duration::from_secs(30);

/// One scenario at a time: JVMs and timing-sensitive peers on a shared 2-core machine.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The java launcher and the server class path, or `None` after the skip notice.
fn java() -> Option<&'static (PathBuf, String)> {
    static JAVA: std::sync::OnceLock<Result<(PathBuf, String), String>> =
        std::sync::OnceLock::new();
    let built = JAVA.get_or_init(|| {
        let java = zk_testkit::java::find_tool("java").ok_or("no java on PATH")?;
        let cp = zk_testkit::java::classpath(&zk_testkit::java::server_jars()?)?;
        Ok((java, cp))
    });
    zk_testkit::java::available(
        built,
        "zk-zab live_java",
        "zk-zab was NOT checked against a running Apache ZooKeeper peer.",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A member's ports.
#[derive(Debug, Clone, Copy)]
struct Ports {
    quorum: u16,
    election: u16,
    client: u16,
    /// An observer (`server.N=...:observer`).
    observer: bool,
}

impl Ports {
    fn free() -> Ports {
        Ports {
            quorum: free_port(),
            election: free_port(),
            client: free_port(),
            observer: false,
        }
    }
}

/// The `server.N` lines of `members` on 127.0.0.1.
fn server_lines(members: &BTreeMap<i64, Ports>) -> String {
    members
        .iter()
        .map(|(id, p)| {
            let kind = if p.observer { ":observer" } else { "" };
            format!("server.{id}=127.0.0.1:{}:{}{kind}\n", p.quorum, p.election)
        })
        .collect()
}

/// The committed config text Java sends for these members (`QuorumMaj.toString()`), as
/// zk-config renders it from the same lines.
fn config_text(members: &BTreeMap<i64, Ports>) -> Bytes {
    let props = zk_config::JavaProperties::parse_str(&server_lines(members)).unwrap();
    let qv = zk_config::QuorumVerifier::from_properties(&props, false).unwrap();
    Bytes::from(qv.to_string())
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------------------
// The Java side
// ---------------------------------------------------------------------------------------

/// A running `QuorumPeerMain` (zk-testkit's process, killed on drop).
struct JavaServer {
    process: zk_testkit::java::QuorumPeerProcess,
    client: u16,
}

impl JavaServer {
    /// Starts server `sid` of `members` with its data under `dir` (kept across restarts).
    fn start(dir: &Path, sid: i64, members: &BTreeMap<i64, Ports>) -> JavaServer {
        let launcher = java().expect("checked by the caller");
        let me = members[&sid];
        let mut cfg = format!(
            "tickTime={TICK_MS}\ninitLimit={INIT_LIMIT}\nsyncLimit={SYNC_LIMIT}\n\
             clientPort={}\nclientPortAddress=127.0.0.1\n\
             maxSessionTimeout=60000\n4lw.commands.whitelist=*\n\
             admin.enableServer=false\n\
             # A config without members in a notification kills the election thread of\n\
             # a server with this (zk-zab used to send one): keep it, as a guard.\n\
             standaloneEnabled=false\n",
            me.client
        );
        cfg += &server_lines(members);
        // zk-testkit writes dataDir, myid and the log4j file beside the zoo.cfg.
        let process =
            zk_testkit::java::QuorumPeerProcess::start(launcher, dir, sid, &cfg, me.client)
                .expect("starting QuorumPeerMain");
        JavaServer {
            process,
            client: me.client,
        }
    }

    /// The server's log, for failure messages.
    fn log_tail(&self) -> String {
        self.process.log_tail(60)
    }

    /// A four-letter word's answer ("" while the port is not open).
    fn four_letter(&self, cmd: &str) -> String {
        self.process.four_letter(cmd)
    }

    /// Waits until `srvr` says `Mode: <mode>`; returns the answer.
    fn await_mode(&self, mode: &str, shell: &ShellHandle) -> String {
        let deadline = Instant::now() + WAIT;
        let want = format!("Mode: {mode}");
        loop {
            let srvr = self.four_letter("srvr");
            if srvr.contains(&want) {
                return srvr;
            }
            shell.check();
            assert!(
                Instant::now() < deadline,
                "Java server never reached {want:?}; last srvr: {srvr:?}\nour side: {:?}\n\
                 Java log:\n{}",
                shell.observed(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `Zxid: 0x...` from `srvr`.
    fn zxid(&self) -> i64 {
        let srvr = self.four_letter("srvr");
        let line = srvr
            .lines()
            .find_map(|l| l.strip_prefix("Zxid: 0x"))
            .unwrap_or_else(|| panic!("no Zxid in srvr: {srvr:?}"));
        i64::from_str_radix(line.trim(), 16).unwrap()
    }

    /// A `mntr` value.
    fn metric(&self, name: &str) -> Option<String> {
        let mntr = self.four_letter("mntr");
        mntr.lines().find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k == name).then(|| v.trim().to_owned())
        })
    }

    fn kill(&mut self) {
        self.process.kill();
    }
}

/// A minimal blocking ZooKeeper client (what the scenarios need: create2, getData).
struct Client {
    s: TcpStream,
    xid: i32,
    session_id: i64,
}

fn open_acl() -> Option<Vec<Acl>> {
    Some(vec![Acl {
        perms: 31,
        id: Id {
            scheme: Some(JString::from("world")),
            id: Some(JString::from("anyone")),
        },
    }])
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        let mut c = Client {
            s,
            xid: 0,
            session_id: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: false,
        };
        c.send(&req.to_bytes());
        let resp = ConnectResponse::decode(&mut Decoder::new(c.frame())).unwrap();
        assert_ne!(resp.session_id, 0, "session refused");
        c.session_id = resp.session_id;
        c
    }

    fn send(&mut self, payload: &[u8]) {
        let mut b = Vec::with_capacity(4 + payload.len());
        b.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        b.extend_from_slice(payload);
        self.s.write_all(&b).unwrap();
    }

    fn frame(&mut self) -> Bytes {
        let mut len = [0; 4];
        self.s.read_exact(&mut len).unwrap();
        let mut b = vec![0; i32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut b).unwrap();
        Bytes::from(b)
    }

    /// One request; the reply header and body (watch events and pings skipped).
    fn call(&mut self, op: i32, body: &impl Record) -> (ReplyHeader, Decoder) {
        self.xid += 1;
        let mut b = BytesMut::new();
        RequestHeader {
            xid: self.xid,
            type_: op,
        }
        .encode(&mut b);
        body.encode(&mut b);
        self.send(&b);
        loop {
            let mut d = Decoder::new(self.frame());
            let h = ReplyHeader::decode(&mut d).unwrap();
            if h.xid == self.xid {
                return (h, d);
            }
        }
    }

    /// create2 of a persistent node: (reply zxid, stat).
    fn create(&mut self, path: &str, data: &[u8]) -> (i64, Stat) {
        let req = CreateRequest {
            path: Some(JString::from(path)),
            data: Some(Bytes::copy_from_slice(data)),
            acl: open_acl(),
            flags: 0,
        };
        let (h, mut d) = self.call(15, &req);
        assert_eq!(h.err, 0, "create {path} failed");
        let r = Create2Response::decode(&mut d).unwrap();
        (h.zxid, r.stat)
    }

    /// getData: `None` for NONODE.
    fn get(&mut self, path: &str) -> Option<(Bytes, Stat)> {
        let req = GetDataRequest {
            path: Some(JString::from(path)),
            watch: false,
        };
        let (h, mut d) = self.call(4, &req);
        if h.err == -101 {
            return None;
        }
        assert_eq!(h.err, 0, "getData {path} failed");
        let r = GetDataResponse::decode(&mut d).unwrap();
        Some((r.data.unwrap_or_default(), r.stat))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.s.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------
// Txns as our leader prepares them
// ---------------------------------------------------------------------------------------

/// Applies a logged txn to `tree` (as every replica does on commit).
fn apply(tree: &mut DataTree, txn: &TxnPayload) {
    let body = TxnBody::decode(txn.header().type_, &mut Decoder::new(txn.body())).unwrap();
    tree.apply(txn.header(), &body, &mut Vec::new());
}

fn tree_of(txns: &[TxnPayload]) -> DataTree {
    let mut tree = DataTree::new();
    for t in txns {
        apply(&mut tree, t);
    }
    tree
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A txn as `PrepRequestProcessor` prepares it on top of `tree` (which it is then applied
/// to): the leader's wall clock, and the tree digest after it.
fn prepare(
    tree: &mut DataTree,
    zxid: i64,
    client_id: i64,
    cxid: i32,
    type_: i32,
    body: Bytes,
) -> TxnPayload {
    let header = TxnHeader {
        client_id,
        cxid,
        zxid,
        time: now_ms(),
        type_,
    };
    let txn = TxnPayload::new(header.clone(), &body, None);
    apply(tree, &txn);
    let digest = TxnDigest {
        version: 2,
        tree_digest: zk_tree::digest::tree_digest(tree),
    };
    TxnPayload::new(header, &body, Some(digest))
}

/// The record of a create of a persistent top-level node on top of `tree` (the parent's
/// next cversion).
fn create_body(tree: &DataTree, path: &str, data: &[u8]) -> Bytes {
    CreateTxn {
        path: Some(JString::from(path)),
        data: Some(Bytes::copy_from_slice(data)),
        acl: open_acl(),
        ephemeral: false,
        parent_c_version: tree.node(b"/").unwrap().stat.cversion + 1,
    }
    .to_bytes()
}

/// A create of a persistent top-level node at `zxid` (type 1), prepared on `tree`.
fn prepare_create(tree: &mut DataTree, zxid: i64, path: &str, data: &[u8]) -> TxnPayload {
    let body = create_body(tree, path, data);
    prepare(tree, zxid, 0, 0, 1, body)
}

/// The SNAP stream after the SNAP packet (`LearnerHandler`): sessions, the DataTree, `"/"`,
/// then the `BenWasHere` signature. zk-tree writes the snapshot *file*; the stream is that
/// without the file header (16 bytes) and the first seal (Adler32 + `"/"`, 13 bytes).
fn snap_stream(txns: &[TxnPayload]) -> Vec<u8> {
    let tree = tree_of(txns);
    let mut file = Vec::new();
    write_snapshot(
        &tree,
        Vec::<(i64, i32)>::new(),
        &mut file,
        &WriteOptions { digest: false },
    )
    .unwrap();
    let seal = 8 + 4 + 1;
    assert_eq!(&file[file.len() - 5..], b"\0\0\0\x01/", "seal's '/'");
    assert_eq!(
        &file[file.len() - seal - 5..file.len() - seal],
        b"\0\0\0\x01/",
        "end-of-tree marker"
    );
    let mut stream = file[16..file.len() - seal].to_vec();
    stream.put_i32(10);
    stream.put_slice(b"BenWasHere");
    stream
}

/// Walks a snapshot stream in `buf`, reading more from the socket as it needs.
struct SnapWalker<'a> {
    buf: &'a mut BytesMut,
    s: &'a mut TcpStream,
    pos: usize,
}

impl SnapWalker<'_> {
    /// Bound on the stream (the scenarios' trees are tiny).
    const MAX: usize = 64 << 20;

    fn skip(&mut self, n: usize) -> Result<&[u8], String> {
        if self.pos + n > Self::MAX {
            return Err(format!("snapshot stream over {} bytes", Self::MAX));
        }
        while self.buf.len() < self.pos + n {
            let mut chunk = [0u8; 16384];
            match self.s.read(&mut chunk) {
                Ok(0) => return Err("the leader closed inside the snapshot".into()),
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) => return Err(format!("reading the snapshot: {e}")),
            }
        }
        self.pos += n;
        Ok(&self.buf[self.pos - n..self.pos])
    }

    fn int(&mut self) -> Result<i32, String> {
        let b = self.skip(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-prefixed buffer or string (`None` for null).
    fn bytes(&mut self) -> Result<Option<Vec<u8>>, String> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(self.skip(len as usize)?.to_vec()))
    }
}

/// Reads the snapshot stream a leader writes after SNAP (`LearnerHandler`: sessions, the
/// DataTree, `"/"`, then `BenWasHere`) from `buf` and then `s`, and loads it with zk-tree's
/// snapshot-file reader: the stream is a file's body, so it gets the file header in front
/// and the Adler32 seal behind.
fn read_snap_stream(
    buf: &mut BytesMut,
    s: &mut TcpStream,
    zxid: i64,
) -> Result<Box<LoadedSnapshot>, String> {
    let mut w = SnapWalker { buf, s, pos: 0 };
    let sessions = w.int()?;
    w.skip(12 * sessions.max(0) as usize)?;
    let acls = w.int()?;
    for _ in 0..acls.max(0) {
        w.skip(8)?;
        let n = w.int()?;
        for _ in 0..n.max(0) {
            w.skip(4)?;
            w.bytes()?;
            w.bytes()?;
        }
    }
    // Nodes until the "/" marker; every one takes bytes, so MAX bounds the loop.
    while w.bytes()?.as_deref() != Some(b"/") {
        w.bytes()?;
        w.skip(8 + 60)?;
    }
    let body = w.pos;
    let signature = w.bytes()?;
    if signature.as_deref() != Some(b"BenWasHere") {
        return Err(format!("snapshot signature {signature:?}"));
    }
    let end = w.pos;
    let mut file = BytesMut::new();
    FileHeader {
        magic: SNAP_MAGIC,
        version: SNAP_VERSION,
        dbid: SNAP_DBID,
    }
    .encode(&mut file);
    file.extend_from_slice(&buf[..body]);
    let _ = buf.split_to(end);
    let mut adler = adler2::Adler32::new();
    adler.write_slice(&file);
    file.put_i64(i64::from(adler.checksum()));
    file.put_i32(1);
    file.put_u8(b'/');
    read_snapshot(&file[..], zxid, &ReadOptions::default())
        .map(Box::new)
        .map_err(|e| format!("zk-tree cannot read the leader's snapshot: {e}"))
}

// ---------------------------------------------------------------------------------------
// Our side: the socket shell around zk_zab::peer::Peer
// ---------------------------------------------------------------------------------------

enum Input {
    /// An election connection was accepted and sent its initial message (and maybe the
    /// first bytes after it).
    ElectionIn(TcpStream, InitialMessage, BytesMut),
    /// A notification arrived on election connection `gen` from `sid`.
    Notification {
        sid: i64,
        n: Notification,
    },
    ElectionClosed {
        sid: i64,
        gen: u64,
    },
    /// A learner connected to our quorum port.
    QuorumIn(TcpStream),
    /// A packet on quorum connection `conn` from `from` (0 until FOLLOWERINFO named it).
    Packet {
        conn: u64,
        from: i64,
        packet: Packet,
    },
    QuorumClosed {
        conn: u64,
        why: String,
    },
    /// A SNAP from a (Java) leader, with the snapshot stream that followed it, read.
    JavaSnapshot {
        conn: u64,
        from: i64,
        zxid: i64,
        snap: Box<LoadedSnapshot>,
    },
    /// Propose a create at the established leader; the zxid is sent back. With
    /// `hold_fsync` our own log write of it is never acknowledged (so only the followers'
    /// acks count, and it does not commit without a quorum of them).
    Propose {
        path: String,
        data: Vec<u8>,
        hold_fsync: bool,
        reply: Sender<i64>,
    },
    /// Sessions our ping replies report as touched (a follower's clients).
    SetTouches(Vec<SessionTouch>),
    /// Forward a client request to the leader on the current quorum connection
    /// (`Learner.request`; the peer does not model REQUEST).
    Forward(ForwardedRequest),
    /// Step the peer with this event (REVALIDATE).
    Step(Event),
    Stop,
}

/// What the test thread can see of the shell.
#[derive(Debug, Default, Clone)]
struct Observed {
    role: Option<PeerRole>,
    established: Option<i64>,
    serving: bool,
    /// Committed txns, in commit order.
    committed: Vec<TxnPayload>,
    /// ACKs received per zxid (leader).
    acks: BTreeMap<i64, Vec<i64>>,
    /// PINGs we answered (follower).
    pings_answered: usize,
    /// The sync the Java leader chose for us, or that we chose for a Java learner
    /// (`DIFF`, `TRUNC`, `SNAP`).
    syncs: Vec<String>,
    /// PROPOSALs we received (follower).
    proposals: Vec<i64>,
    /// Connections the peer lost (why).
    closed: Vec<String>,
    /// The config text each peer's last notification carried.
    configs_received: BTreeMap<i64, Bytes>,
    /// Commits whose TxnDigest our tree matched after applying them, and those it did not.
    digests_matched: usize,
    digest_mismatches: Vec<String>,
    /// The leader's REVALIDATE answers: (session, valid).
    revalidated: Vec<(i64, bool)>,
    failure: Option<String>,
}

/// The durable state a peer is rebuilt from.
#[derive(Debug, Clone, Default)]
struct Durable {
    /// The zxid of the snapshot the log starts after (a SNAP's; these scenarios only take
    /// a new tree's, so nothing else is kept of it).
    base: i64,
    log: Vec<TxnPayload>,
    accepted_epoch: i64,
    current_epoch: i64,
}

struct Shell {
    me: i64,
    members: BTreeMap<i64, Ports>,
    peer: Peer<Majority>,
    incarnation: u64,
    rx: Receiver<Input>,
    tx: Sender<Input>,
    observed: Arc<Mutex<Observed>>,
    election: HashMap<i64, (u64, TcpStream)>,
    gen: u64,
    /// The newest notification to each peer (`lastMessageSent`), sent when a connection
    /// to it comes up.
    last_sent: HashMap<i64, Bytes>,
    quorum: HashMap<u64, TcpStream>,
    /// Learner connections accepted while not leading: served once we lead.
    waiting: Vec<TcpStream>,
    next_conn: u64,
    durable: Durable,
    /// Leader: txns proposed so far, applied (PrepRequestProcessor's view).
    prepared: DataTree,
    /// Committed txns applied (or the leader's snapshot, or the log left by a TRUNC).
    applied: DataTree,
    /// Proposals whose fsync on our side never completes.
    held: Vec<i64>,
    /// The disk's acknowledgements of the batch being executed.
    feedback: Vec<Event>,
    /// What our ping replies report as touched.
    touches: Vec<SessionTouch>,
    /// The peer's pending timer: (id, when it fires).
    timer: Option<(u64, Instant)>,
}

/// The shell's thread and the test's handle on it.
struct ShellHandle {
    tx: Sender<Input>,
    observed: Arc<Mutex<Observed>>,
    join: Option<JoinHandle<Durable>>,
    stop: Arc<AtomicBool>,
    listeners: Vec<SocketAddr>,
    acceptors: Vec<JoinHandle<()>>,
}

impl ShellHandle {
    fn observed(&self) -> Observed {
        self.observed.lock().unwrap().clone()
    }

    /// Fails the test if the shell hit an error.
    fn check(&self) {
        if let Some(f) = &self.observed.lock().unwrap().failure {
            panic!("our side failed: {f}");
        }
    }

    /// Waits (bounded) until `cond` holds for what the shell shows.
    fn wait_for(&self, what: &str, java: &[&JavaServer], cond: impl Fn(&Observed) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let o = self.observed();
            if cond(&o) {
                return;
            }
            self.check();
            if Instant::now() >= deadline {
                let logs: Vec<String> = java.iter().map(|j| j.log_tail()).collect();
                panic!(
                    "timed out waiting for {what}; our side: {o:#?}\nJava logs:\n{}",
                    logs.join("\n-----\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Our tree's digest matched the proposer's after every commit that carried one, and
    /// at least `min` did.
    fn assert_digests(&self, min: usize) {
        let o = self.observed();
        assert!(
            o.digest_mismatches.is_empty(),
            "zk-tree's digest differs from the leader's: {:?}",
            o.digest_mismatches
        );
        assert!(
            o.digests_matched >= min,
            "{} digests checked, want {min}",
            o.digests_matched
        );
    }

    fn propose(&self, path: &str, data: &[u8], hold_fsync: bool) -> i64 {
        let (reply, rx) = channel();
        self.tx
            .send(Input::Propose {
                path: path.to_owned(),
                data: data.to_vec(),
                hold_fsync,
                reply,
            })
            .unwrap();
        rx.recv_timeout(WAIT)
            .expect("the shell did not propose (not an established leader?)")
    }

    /// Stops the shell and returns what it had made durable.
    fn stop(mut self) -> Durable {
        self.shutdown().expect("shell thread")
    }

    fn shutdown(&mut self) -> Option<Durable> {
        let join = self.join.take()?;
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Input::Stop);
        // Wake the acceptors so they see the flag; once they are gone the ports are free
        // for a restarted shell.
        for l in &self.listeners {
            let _ = TcpStream::connect_timeout(l, Duration::from_secs(1));
        }
        for a in self.acceptors.drain(..) {
            let _ = a.join();
        }
        join.join().ok()
    }
}

impl Drop for ShellHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Accepts on `listener` until `stop` (then a connection wakes it); `handle` gets each
/// connection.
fn acceptor(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for s in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(s) = s {
                let _ = s.set_nodelay(true);
                handle(s);
            }
        }
    })
}

/// Reads notifications from an election connection until it closes.
fn election_reader(mut s: TcpStream, sid: i64, gen: u64, mut buf: BytesMut, tx: Sender<Input>) {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        loop {
            loop {
                match decode_frame(&mut buf) {
                    Ok(Some(frame)) => match Notification::decode(&frame) {
                        Ok(n) => {
                            if tx.send(Input::Notification { sid, n }).is_err() {
                                return;
                            }
                        }
                        // Java drops a malformed notification and goes on.
                        Err(_) => continue,
                    },
                    Ok(None) => break,
                    Err(_) => {
                        let _ = tx.send(Input::ElectionClosed { sid, gen });
                        return;
                    }
                }
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Input::ElectionClosed { sid, gen });
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
}

/// Reads QuorumPackets from a quorum connection until it closes. `from` is the peer's sid
/// when known (we dialled a leader), else 0 until its FOLLOWERINFO names it.
fn quorum_reader(mut s: TcpStream, conn: u64, mut from: i64, tx: Sender<Input>) {
    std::thread::spawn(move || {
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 16384];
        loop {
            loop {
                match decode_packet(&mut buf, default_limits()) {
                    Ok(Some(Some(packet))) => {
                        if let Packet::FollowerInfo {
                            info: LearnerInfoData::Info { sid, .. },
                            ..
                        } = &packet
                        {
                            from = *sid;
                        }
                        if let Packet::Snap { zxid } = packet {
                            // The snapshot stream follows the packet, outside any framing.
                            match read_snap_stream(&mut buf, &mut s, zxid) {
                                Ok(snap) => {
                                    let _ = tx.send(Input::JavaSnapshot {
                                        conn,
                                        from,
                                        zxid,
                                        snap,
                                    });
                                    continue;
                                }
                                Err(why) => {
                                    let _ = tx.send(Input::QuorumClosed { conn, why });
                                    return;
                                }
                            }
                        }
                        if tx.send(Input::Packet { conn, from, packet }).is_err() {
                            return;
                        }
                    }
                    Ok(Some(None)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Input::QuorumClosed {
                            conn,
                            why: format!("bad packet: {e}"),
                        });
                        return;
                    }
                }
            }
            match s.read(&mut chunk) {
                Ok(0) => {
                    let _ = tx.send(Input::QuorumClosed {
                        conn,
                        why: "closed by peer".into(),
                    });
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Input::QuorumClosed {
                        conn,
                        why: e.to_string(),
                    });
                    return;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
}

impl Shell {
    /// Starts our peer `me` of `members` from `durable`, listening on its election and
    /// quorum ports, on its own thread.
    fn spawn(
        me: i64,
        members: &BTreeMap<i64, Ports>,
        durable: Durable,
        incarnation: u64,
    ) -> ShellHandle {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let ports = members[&me];
        let el = TcpListener::bind(addr(ports.election)).unwrap();
        let ql = TcpListener::bind(addr(ports.quorum)).unwrap();
        let listeners = vec![el.local_addr().unwrap(), ql.local_addr().unwrap()];
        let mut acceptors = Vec::new();
        {
            let tx = tx.clone();
            acceptors.push(acceptor(el, stop.clone(), move |s| {
                // Read the initial message off the accept thread (handleConnection).
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = BytesMut::new();
                    let mut chunk = [0u8; 512];
                    let mut r = &s;
                    loop {
                        match InitialMessage::decode(&mut buf) {
                            Ok(Some(m)) => {
                                let _ = s.set_read_timeout(None);
                                // A larger sid's notifications may follow at once: the
                                // bytes after the message go to the reader.
                                if let Ok(s) = s.try_clone() {
                                    let _ = tx.send(Input::ElectionIn(s, m, buf));
                                }
                                return;
                            }
                            Ok(None) => {}
                            Err(_) => return,
                        }
                        match r.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }));
        }
        {
            let tx = tx.clone();
            acceptors.push(acceptor(ql, stop.clone(), move |s| {
                let _ = tx.send(Input::QuorumIn(s));
            }));
        }
        let observed = Arc::new(Mutex::new(Observed::default()));
        let voters: Vec<i64> = members
            .iter()
            .filter(|(_, p)| !p.observer)
            .map(|(id, _)| *id)
            .collect();
        let mut cfg = PeerConfig::new(me, Majority::new(voters));
        if ports.observer {
            cfg.learner_type = zk_zab::election::LearnerType::Observer;
        }
        cfg.tick_ms = TICK_MS;
        cfg.init_limit = INIT_LIMIT;
        cfg.sync_limit = SYNC_LIMIT;
        cfg.config_text = config_text(members);
        let peer = Peer::from_snapshot(
            cfg,
            durable.base,
            durable.log.clone(),
            durable.accepted_epoch,
            durable.current_epoch,
            incarnation,
        );
        let shell = Shell {
            me,
            members: members.clone(),
            peer,
            incarnation,
            rx,
            tx: tx.clone(),
            observed: observed.clone(),
            election: HashMap::new(),
            gen: 0,
            last_sent: HashMap::new(),
            quorum: HashMap::new(),
            waiting: Vec::new(),
            next_conn: 1,
            prepared: tree_of(&durable.log),
            applied: tree_of(&durable.log),
            durable,
            held: Vec::new(),
            feedback: Vec::new(),
            touches: Vec::new(),
            timer: None,
        };
        let join = std::thread::spawn(move || shell.run());
        ShellHandle {
            tx,
            observed,
            join: Some(join),
            stop,
            listeners,
            acceptors,
        }
    }

    fn run(mut self) -> Durable {
        let half_tick = Duration::from_millis(TICK_MS / 2);
        let mut next_tick = Instant::now() + half_tick;
        let cmds = self.peer.step(Event::Start);
        self.execute(cmds);
        // Bounded: a scenario never runs longer than a few WAITs.
        let end = Instant::now() + 6 * WAIT;
        while Instant::now() < end {
            let due = self.timer.map_or(next_tick, |(_, at)| at.min(next_tick));
            let wait = due.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(Input::Stop) => break,
                Ok(input) => self.input(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Some((id, at)) = self.timer {
                if Instant::now() >= at {
                    self.timer = None;
                    let cmds = self.peer.step(Event::TimerFired { id });
                    self.execute(cmds);
                }
            }
            if Instant::now() >= next_tick {
                next_tick += half_tick;
                let cmds = self.peer.step(Event::Tick);
                self.execute(cmds);
            }
        }
        for (_, (_, s)) in self.election.drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        for (_, s) in self.quorum.drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.durable
    }

    fn fail(&self, why: String) {
        let mut o = self.observed.lock().unwrap();
        o.failure.get_or_insert(why);
    }

    fn input(&mut self, input: Input) {
        match input {
            Input::ElectionIn(s, m, buf) => {
                if m.sid < self.me {
                    // handleConnection: the smaller sid asked; we call back.
                    let _ = s.shutdown(Shutdown::Both);
                    if let Some((_, old)) = self.election.remove(&m.sid) {
                        let _ = old.shutdown(Shutdown::Both);
                    }
                    self.dial_election(m.sid);
                } else if m.sid > self.me {
                    self.register_election(m.sid, s, buf);
                }
            }
            Input::Notification { sid, n } => {
                if let Some(c) = &n.config {
                    let mut o = self.observed.lock().unwrap();
                    o.configs_received.insert(sid, c.clone());
                }
                let cmds = self.peer.step(Event::Received {
                    from: sid,
                    message: Message::Election(n),
                });
                self.execute(cmds);
            }
            Input::ElectionClosed { sid, gen } => {
                if self.election.get(&sid).is_some_and(|(g, _)| *g == gen) {
                    self.election.remove(&sid);
                }
            }
            Input::QuorumIn(s) => {
                if self.peer.role() == PeerRole::Leading {
                    self.serve_learner(s);
                } else {
                    self.waiting.push(s);
                }
            }
            Input::Packet {
                from,
                packet: Packet::Request(r),
                ..
            } if self.peer.next_zxid().is_some() => self.request(from, r),
            Input::Packet { conn, from, packet } => {
                self.observe_packet(&packet, from);
                let cmds = self.peer.step(Event::Received {
                    from,
                    message: Message::Quorum { conn, packet },
                });
                self.execute(cmds);
            }
            Input::JavaSnapshot {
                conn,
                from,
                zxid,
                snap,
            } => self.java_snapshot(conn, from, zxid, *snap),
            Input::QuorumClosed { conn, why } => {
                if self.quorum.remove(&conn).is_some() {
                    self.observed.lock().unwrap().closed.push(why);
                }
            }
            Input::Propose {
                path,
                data,
                hold_fsync,
                reply,
            } => {
                let Some(zxid) = self.peer.next_zxid() else {
                    return;
                };
                let txn = prepare_create(&mut self.prepared, zxid, &path, &data);
                if hold_fsync {
                    self.held.push(zxid);
                }
                let cmds = self.peer.step(Event::ProposeTxn {
                    header: txn.header().clone(),
                    body: txn.body(),
                    digest: txn.digest().cloned(),
                });
                self.execute(cmds);
                let _ = reply.send(zxid);
            }
            Input::SetTouches(t) => self.touches = t,
            Input::Step(e) => {
                let cmds = self.peer.step(e);
                self.execute(cmds);
            }
            Input::Forward(r) => {
                let bytes = Packet::Request(r).to_bytes();
                match self.quorum.iter_mut().next() {
                    Some((_, s)) if matches!(self.peer.role(), PeerRole::Following { .. }) => {
                        if let Err(e) = s.write_all(&bytes) {
                            self.fail(format!("forwarding a request: {e}"));
                        }
                    }
                    _ => self.fail("a request to forward, but no leader connection".into()),
                }
            }
            Input::Stop => {}
        }
    }

    /// A learner forwarded a client's request: prepare it as zk-core would, for what the
    /// scenarios' clients of a Java follower do (open and close sessions, create persistent
    /// nodes under `/`); anything else fails the test.
    fn request(&mut self, from: i64, r: ForwardedRequest) {
        let Some(zxid) = self.peer.next_zxid() else {
            return;
        };
        let body = match r.op_type {
            // createSession: the body is the client's timeout, as CreateSessionTxn.
            -10 => r.body.clone(),
            // closeSession: no ephemerals in these scenarios.
            -11 => CloseSessionTxn {
                paths2_delete: Some(Vec::new()),
            }
            .to_bytes(),
            // create / create2 of a persistent node under `/` (what the scenarios' clients
            // write): the CreateTxn PrepRequestProcessor makes of the CreateRequest.
            1 | 15 => {
                let Ok(req) = CreateRequest::decode(&mut Decoder::new(r.body.clone())) else {
                    self.fail(format!("sid {from} forwarded a bad CreateRequest"));
                    return;
                };
                let path = req.path.map(|p| p.to_string_lossy().into_owned());
                match path {
                    Some(path) if req.flags == 0 && path.rfind('/') == Some(0) => create_body(
                        &self.prepared,
                        &path,
                        req.data.as_deref().unwrap_or_default(),
                    ),
                    _ => {
                        self.fail(format!("sid {from} forwarded a create this shell skips"));
                        return;
                    }
                }
            }
            op => {
                self.fail(format!(
                    "sid {from} forwarded op {op}: not handled by this shell"
                ));
                return;
            }
        };
        let txn = prepare(
            &mut self.prepared,
            zxid,
            r.session_id,
            r.cxid,
            r.op_type,
            body,
        );
        let cmds = self.peer.step(Event::ProposeTxn {
            header: txn.header().clone(),
            body: txn.body(),
            digest: txn.digest().cloned(),
        });
        self.execute(cmds);
    }

    /// A Java leader's SNAP. This shell rebuilds its tree from the peer's log after a
    /// restart or TRUNC (`tree_of`) and keeps no snapshot durable, so it takes only a
    /// snapshot holding no more than a new tree (`/`, `/zookeeper`, its quota and config
    /// nodes).
    fn java_snapshot(&mut self, conn: u64, from: i64, zxid: i64, snap: LoadedSnapshot) {
        self.observed
            .lock()
            .unwrap()
            .syncs
            .push(format!("SNAP {zxid:#x}"));
        let user: Vec<String> = snap
            .tree
            .iter()
            .map(|(p, _)| String::from_utf8_lossy(&p).into_owned())
            .filter(|p| {
                !matches!(
                    p.as_str(),
                    "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
                )
            })
            .collect();
        if !user.is_empty() || !snap.sessions.is_empty() {
            self.fail(format!(
                "the Java leader's snapshot holds {user:?} and sessions {:?}: this shell \
                 keeps no snapshot",
                snap.sessions
            ));
            return;
        }
        self.applied = snap.tree;
        let cmds = self.peer.step(Event::Received {
            from,
            message: Message::Snapshot {
                conn,
                zxid,
                // The shell holds the loaded tree itself (`applied`).
                data: Bytes::new(),
            },
        });
        self.execute(cmds);
    }

    /// A commit: applied to our tree with zk-tree, whose digest must then be the one the
    /// proposer sent (Java's `DataTree.compareDigest`, which only counts a mismatch).
    fn applied_commit(&mut self, t: TxnPayload) {
        apply(&mut self.applied, &t);
        let mut o = self.observed.lock().unwrap();
        if let Some(d) = t.digest().filter(|d| d.version == 2) {
            let ours = zk_tree::digest::tree_digest(&self.applied);
            if ours == d.tree_digest {
                o.digests_matched += 1;
            } else {
                o.digest_mismatches.push(format!(
                    "{:#x}: ours {ours}, sent {}",
                    t.header().zxid,
                    d.tree_digest
                ));
            }
        }
        o.committed.push(t);
    }

    fn observe_packet(&self, packet: &Packet, from: i64) {
        let mut o = self.observed.lock().unwrap();
        match packet {
            Packet::Ack { zxid } => o.acks.entry(*zxid).or_default().push(from),
            Packet::Proposal { zxid, .. } => o.proposals.push(*zxid),
            Packet::Diff { zxid } => o.syncs.push(format!("DIFF {zxid:#x}")),
            Packet::Trunc { zxid } => o.syncs.push(format!("TRUNC {zxid:#x}")),
            _ => {}
        }
    }

    fn serve_learner(&mut self, s: TcpStream) {
        let conn = (self.incarnation << 32) | self.next_conn;
        self.next_conn += 1;
        match s.try_clone() {
            Ok(r) => {
                quorum_reader(r, conn, 0, self.tx.clone());
                self.quorum.insert(conn, s);
            }
            Err(e) => self.fail(format!("clone learner socket: {e}")),
        }
    }

    fn register_election(&mut self, sid: i64, s: TcpStream, buf: BytesMut) {
        self.gen += 1;
        let gen = self.gen;
        let Ok(r) = s.try_clone() else {
            return;
        };
        election_reader(r, sid, gen, buf, self.tx.clone());
        if let Some((_, old)) = self.election.insert(sid, (gen, s)) {
            let _ = old.shutdown(Shutdown::Both);
        }
        // SendWorker: the last message for this peer goes out on the new connection.
        if let Some(last) = self.last_sent.get(&sid).cloned() {
            self.write_election(sid, &last);
        }
    }

    /// `connectOne`: dial `sid`'s election port and send the initial message; keep the
    /// connection only if we are the larger sid.
    fn dial_election(&mut self, sid: i64) {
        let Some(p) = self.members.get(&sid).copied() else {
            return;
        };
        let Ok(mut s) = TcpStream::connect_timeout(&addr(p.election), Duration::from_secs(1))
        else {
            return; // Not running (the absent member): the message waits in last_sent.
        };
        let _ = s.set_nodelay(true);
        let me = self.members[&self.me];
        let hello = InitialMessage::v1(self.me, PeerAddress::new("127.0.0.1", me.election));
        if s.write_all(&hello.to_bytes()).is_err() {
            return;
        }
        if sid > self.me {
            // Lost the challenge: the larger sid calls back.
            let _ = s.shutdown(Shutdown::Both);
            return;
        }
        self.register_election(sid, s, BytesMut::new());
    }

    fn write_election(&mut self, sid: i64, frame: &Bytes) {
        let ok = match self.election.get_mut(&sid) {
            Some((_, s)) => s.write_all(frame).is_ok(),
            None => return,
        };
        if !ok {
            self.election.remove(&sid);
        }
    }

    fn send_quorum(&mut self, to: i64, conn: u64, bytes: &[u8]) {
        if !self.quorum.contains_key(&conn) {
            // A follower's new connection to its leader (`connectToLeader`).
            if !matches!(
                self.peer.role(),
                PeerRole::Following { leader } | PeerRole::Observing { leader } if leader == to
            ) {
                return;
            }
            let Some(p) = self.members.get(&to).copied() else {
                return;
            };
            let Ok(s) = TcpStream::connect_timeout(&addr(p.quorum), Duration::from_secs(1)) else {
                return; // The leader is not listening yet: the peer reconnects.
            };
            let _ = s.set_nodelay(true);
            let Ok(r) = s.try_clone() else {
                return;
            };
            // Older connections to the leader are over.
            for (_, old) in self.quorum.drain() {
                let _ = old.shutdown(Shutdown::Both);
            }
            quorum_reader(r, conn, to, self.tx.clone());
            self.quorum.insert(conn, s);
        }
        let ok = self
            .quorum
            .get_mut(&conn)
            .is_some_and(|s| s.write_all(bytes).is_ok());
        if !ok {
            if let Some(s) = self.quorum.remove(&conn) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Executes commands in order; the in-memory disk's acknowledgements are stepped after
    /// each batch, in the order the writes were made.
    fn execute(&mut self, cmds: Vec<Command>) {
        let mut batch = cmds;
        // Bounded: each round answers the writes of the previous one.
        for _ in 0..1000 {
            for c in batch {
                self.command(c);
            }
            if self.feedback.is_empty() {
                break;
            }
            let events = std::mem::take(&mut self.feedback);
            batch = Vec::new();
            for e in events {
                batch.extend(self.peer.step(e));
            }
        }
        let mut o = self.observed.lock().unwrap();
        o.role = Some(self.peer.role());
        o.established = self.peer.established_epoch();
        o.serving = self.peer.is_serving();
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::SetTimer { id, after_ms } => {
                self.timer = Some((id, Instant::now() + Duration::from_millis(after_ms)));
            }
            Command::Send { to, message } => match message {
                Message::Election(n) => {
                    let mut frame = BytesMut::new();
                    encode_frame(&n.to_bytes(NotificationForm::V2), &mut frame);
                    let frame = frame.freeze();
                    self.last_sent.insert(to, frame.clone());
                    if !self.election.contains_key(&to) {
                        self.dial_election(to);
                    } else {
                        self.write_election(to, &frame);
                    }
                }
                Message::Quorum { conn, mut packet } => {
                    if let Packet::Ping {
                        sessions: Some(sessions),
                        ..
                    } = &mut packet
                    {
                        // The peer keeps no sessions: its ping reply's touch table is the
                        // one the test set (Learner.ping's LearnerSessionTracker snapshot).
                        sessions.clone_from(&self.touches);
                        self.observed.lock().unwrap().pings_answered += 1;
                    }
                    match &packet {
                        Packet::Diff { zxid } | Packet::Trunc { zxid }
                            if self.peer.role() == PeerRole::Leading =>
                        {
                            let kind = if matches!(packet, Packet::Diff { .. }) {
                                "DIFF"
                            } else {
                                "TRUNC"
                            };
                            self.observed
                                .lock()
                                .unwrap()
                                .syncs
                                .push(format!("{kind} {zxid:#x}"));
                        }
                        _ => {}
                    }
                    self.send_quorum(to, conn, &packet.to_bytes());
                }
                Message::Snapshot { .. } => {
                    self.fail("the peer sent a Snapshot itself instead of SendSnapshot".into())
                }
            },
            Command::SendSnapshot { to, conn, zxid } => {
                // Our database at `zxid`: the peer's log up to there (these scenarios' peers
                // never lead from a snapshot base).
                if self.peer.base() != 0 {
                    self.fail(format!(
                        "a SNAP from a peer based at {:#x}",
                        self.peer.base()
                    ));
                    return;
                }
                let txns: Vec<TxnPayload> = self
                    .peer
                    .log()
                    .iter()
                    .take_while(|t| t.header().zxid <= zxid)
                    .cloned()
                    .collect();
                self.observed
                    .lock()
                    .unwrap()
                    .syncs
                    .push(format!("SNAP {zxid:#x}"));
                let mut bytes = Packet::Snap { zxid }.to_bytes().to_vec();
                bytes.extend_from_slice(&snap_stream(&txns));
                self.send_quorum(to, conn, &bytes);
            }
            Command::Persist(txns) => {
                let last = txns.last().map(|t| t.header().zxid);
                let held = txns.iter().any(|t| self.held.contains(&t.header().zxid));
                if held {
                    // Never made durable here: it is not in what a restart recovers.
                    return;
                }
                self.durable.log.extend(txns);
                if let Some(zxid) = last {
                    self.feedback.push(Event::LogDurable { zxid });
                }
            }
            Command::Truncate { zxid } => {
                // As Java's learner: truncate the log, reload the tree from what is left.
                self.durable.log.retain(|t| t.header().zxid <= zxid);
                self.applied = tree_of(&self.durable.log);
            }
            Command::WriteAcceptedEpoch(epoch) => {
                self.durable.accepted_epoch = epoch;
                self.feedback.push(Event::EpochDurable {
                    file: EpochFile::Accepted,
                    epoch,
                });
            }
            Command::WriteCurrentEpoch(epoch) => {
                self.durable.current_epoch = epoch;
                self.feedback.push(Event::EpochDurable {
                    file: EpochFile::Current,
                    epoch,
                });
            }
            Command::LoadSnapshot { .. } => {}
            Command::TakeSnapshot(txns) => {
                self.durable.base = self.peer.base();
                self.durable.log = txns;
                self.feedback.push(Event::SnapshotDurable);
            }
            Command::Commit { zxid } => {
                let txn = self
                    .peer
                    .log()
                    .iter()
                    .find(|t| t.header().zxid == zxid)
                    .cloned();
                match txn {
                    Some(t) => self.applied_commit(t),
                    None => self.fail(format!("commit of {zxid:#x}, not in our log")),
                }
            }
            Command::RoleChanged(role) => {
                // A role change ends every quorum connection of the old role, as Java's
                // Leader.shutdown / Learner.shutdown close them: the other side sees EOF
                // at once instead of waiting for its read timeout.
                for (_, s) in self.quorum.drain() {
                    let _ = s.shutdown(Shutdown::Both);
                }
                if role == PeerRole::Leading {
                    for s in std::mem::take(&mut self.waiting) {
                        self.serve_learner(s);
                    }
                } else {
                    self.waiting.clear();
                }
            }
            // Forwarding, session touches and SYNC are exercised by zk-sim's node mode;
            // these conversations do not forward through the peer.
            Command::Revalidated { session_id, valid } => self
                .observed
                .lock()
                .unwrap()
                .revalidated
                .push((session_id, valid)),
            Command::Forwarded { .. }
            | Command::SessionsTouched(_)
            | Command::Synced
            | Command::Revalidate { .. } => {}
            Command::Established { .. } => {
                // Request preparation starts from the history this leader established:
                // what it applied, and its logged txns after that.
                let mut t = self.applied.clone();
                for txn in self.peer.log() {
                    if txn.header().zxid > t.last_processed_zxid {
                        apply(&mut t, txn);
                    }
                }
                self.prepared = t;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// A scenario's start: `None` (after the skip notice) without Java; else the lock that
/// runs scenarios one at a time and a fresh directory for its servers.
fn scenario(name: &str) -> Option<(MutexGuard<'static, ()>, PathBuf)> {
    java()?;
    let serial = serial();
    Some((serial, tmp(name)))
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("live_java")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn hexs(zxids: &[i64]) -> Vec<String> {
    zxids.iter().map(|z| format!("{z:#x}")).collect()
}

/// The 2-server layout: Java is sid 2 and leads, we (sid 1) follow it and serve.
fn follow_java_in_two(dir: &Path) -> (BTreeMap<i64, Ports>, ShellHandle, JavaServer) {
    let members: BTreeMap<i64, Ports> = [(1, Ports::free()), (2, Ports::free())].into();
    let shell = Shell::spawn(1, &members, Durable::default(), 1);
    let java = JavaServer::start(&dir.join("java2"), 2, &members);
    java.await_mode("leader", &shell);
    shell.wait_for("us to follow 2 and serve", &[&java], |o| {
        o.role == Some(PeerRole::Following { leader: 2 }) && o.serving
    });
    (members, shell, java)
}

/// A Java leader (sid 2) and us (sid 1): election, empty DIFF, a client's session and
/// writes reach us as PROPOSAL/COMMIT, pings keep us in the ensemble.
#[test]
fn follower_to_a_java_leader() {
    let Some((_serial, dir)) = scenario("follower") else {
        return;
    };
    let (members, shell, java) = follow_java_in_two(&dir);
    let o = shell.observed();
    assert_eq!(
        o.syncs,
        vec!["DIFF 0x0".to_owned()],
        "fresh ensemble: empty DIFF"
    );
    // Java's config text is the one we send (zk-config renders it as Java does).
    assert_eq!(
        o.configs_received.get(&2),
        Some(&config_text(&members)),
        "Java's notification config"
    );

    let mut client = Client::connect(java.client);
    let mut written = Vec::new();
    for (i, path) in ["/a", "/b", "/c"].iter().enumerate() {
        let (zxid, stat) = client.create(path, format!("v{i}").as_bytes());
        assert_eq!(stat.czxid, zxid, "create2's reply zxid is the node's czxid");
        written.push((zxid, path.to_string()));
    }
    let last = written.last().unwrap().0;
    shell.wait_for("our commit of the last create", &[&java], |o| {
        o.committed.last().map(|t| t.header().zxid) == Some(last)
    });

    // The session first (createSession, -10), then the creates (create2, 15) with Java's
    // zxids, in order.
    let o = shell.observed();
    let committed: Vec<(i64, i32)> = o
        .committed
        .iter()
        .map(|t| (t.header().zxid, t.header().type_))
        .collect();
    let session_zxid = written[0].0 - 1;
    let mut want = vec![(session_zxid, -10)];
    want.extend(written.iter().map(|(z, _)| (*z, 15)));
    assert_eq!(committed, want, "committed {:?}", hexs(&o.proposals));
    assert_eq!(o.committed[0].header().client_id, client.session_id);
    for (t, (_, path)) in o.committed[1..].iter().zip(&written) {
        assert_eq!(t.header().client_id, client.session_id);
        let body = TxnBody::decode(15, &mut Decoder::new(t.body())).unwrap();
        match body {
            TxnBody::Create { txn, .. } => {
                assert_eq!(
                    txn.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
                    Some(path.clone())
                )
            }
            other => panic!("not a create: {other:?}"),
        }
        assert!(t.digest().is_some(), "Java sends its TxnDigest");
    }
    // Every zxid was proposed once, before its commit.
    assert_eq!(
        o.proposals,
        want.iter().map(|(z, _)| *z).collect::<Vec<_>>()
    );

    // Pings: the leader keeps us while several syncLimits pass; in a 2-server ensemble a
    // write needs our ACK, so one more create proves we are still counted.
    let pings = o.pings_answered;
    let min_pings = pings + 4 * SYNC_LIMIT as usize;
    shell.wait_for("pings across several syncLimits", &[&java], |o| {
        o.pings_answered >= min_pings
    });
    let (zxid, _) = client.create("/d", b"after pings");
    shell.wait_for("our commit of /d", &[&java], |o| {
        o.committed.last().map(|t| t.header().zxid) == Some(zxid)
    });
    let o = shell.observed();
    assert_eq!(o.role, Some(PeerRole::Following { leader: 2 }));
    assert!(o.closed.is_empty(), "the leader dropped us: {:?}", o.closed);
    assert_eq!(java.zxid(), zxid);
    // createSession and four creates, each with Java's digest, which our tree matched.
    shell.assert_digests(5);
}

/// Three members' free ports. In the leader scenarios Java is sid 1, sid 2 never runs and
/// we are sid 3 (so we win an election of equals, and we and Java are a quorum).
fn three_members() -> BTreeMap<i64, Ports> {
    [(1, Ports::free()), (2, Ports::free()), (3, Ports::free())].into()
}

/// A fresh start of the leader layout: we (sid 3) and Java 1 elect us, and we establish
/// epoch 1 with Java following.
fn lead_java1(dir: &Path, members: &BTreeMap<i64, Ports>) -> (ShellHandle, JavaServer) {
    let shell = Shell::spawn(3, members, Durable::default(), 1);
    let java = JavaServer::start(&dir.join("java1"), 1, members);
    java.await_mode("follower", &shell);
    shell.wait_for("us to be established", &[&java], |o| {
        o.established == Some(1)
    });
    (shell, java)
}

/// Proposes creates of `paths` at our established leader and waits for their commits.
fn propose_all(shell: &ShellHandle, java: &JavaServer, paths: &[&str]) -> Vec<i64> {
    let zxids: Vec<i64> = paths
        .iter()
        .map(|p| shell.propose(p, format!("data of {p}").as_bytes(), false))
        .collect();
    let last = *zxids.last().unwrap();
    shell.wait_for("the commit of our proposals", &[java], |o| {
        o.committed.iter().any(|t| t.header().zxid == last)
    });
    zxids
}

/// Checks the Java server has applied exactly up to `last` (the COMMIT reaches Java's tree
/// a moment after our quorum saw its ACK), then reads `expected` back.
fn assert_java_has(java: &JavaServer, expected: &[(&str, i64)], last: i64) {
    await_java_zxid(java, last);
    assert_java_reads(java, expected);
}

/// Waits until the Java server's last processed zxid is `last` (not beyond it).
fn await_java_zxid(java: &JavaServer, last: i64) {
    let deadline = Instant::now() + WAIT;
    while java.zxid() < last {
        assert!(Instant::now() < deadline, "Java stopped before {last:#x}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(java.zxid(), last, "Java's last processed zxid");
}

/// Reads `expected` (path, czxid) back from the Java server's client port (a session of
/// its own: a createSession txn), and checks there was no digest mismatch against ours.
fn assert_java_reads(java: &JavaServer, expected: &[(&str, i64)]) {
    let mut client = Client::connect(java.client);
    for (path, czxid) in expected {
        let (data, stat) = client
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing on the Java server"));
        assert_eq!(data, format!("data of {path}").as_bytes(), "{path}");
        assert_eq!(stat.czxid, *czxid, "{path}'s czxid");
        assert_eq!(stat.mzxid, *czxid, "{path}'s mzxid");
    }
    assert_eq!(
        java.metric("zk_digest_mismatches_count").as_deref(),
        Some("0"),
        "Java computed another tree digest than ours; log:\n{}",
        java.log_tail()
    );
}

/// We win the election (sid 3 of equals); the Java follower syncs with us, serves, applies
/// our proposals, and agrees with our digests.
#[test]
fn leader_of_a_java_follower() {
    let Some((_serial, dir)) = scenario("leader") else {
        return;
    };
    let members = three_members();
    let (shell, java) = lead_java1(&dir, &members);
    // An empty DIFF, or a SNAP of the empty tree at the new epoch when Java's leader had
    // established it before we connected (both seen).
    let syncs = shell.observed().syncs;
    assert!(
        syncs == ["DIFF 0x0"] || syncs == ["SNAP 0x100000000"],
        "{syncs:?}"
    );

    let zxids = propose_all(&shell, &java, &["/x", "/y", "/z"]);
    assert_eq!(zxids, vec![0x1_0000_0001, 0x1_0000_0002, 0x1_0000_0003]);
    let o = shell.observed();
    for z in &zxids {
        assert_eq!(o.acks.get(z), Some(&vec![1]), "Java ACKed {z:#x} once");
    }
    assert_java_has(
        &java,
        &[("/x", zxids[0]), ("/y", zxids[1]), ("/z", zxids[2])],
        zxids[2],
    );

    // A write by a client of the Java follower: forwarded to us as REQUEST, proposed with
    // the client's session and cxid, and answered by Java when our COMMIT comes back (it
    // matches the txn to the pending request by session and cxid).
    let mut client = Client::connect(java.client);
    let (zxid, stat) = client.create("/w", b"data of /w");
    assert_eq!(stat.czxid, zxid);
    let o = shell.observed();
    let txn = o
        .committed
        .iter()
        .find(|t| t.header().zxid == zxid)
        .expect("the forwarded create is one of our commits");
    assert_eq!(txn.header().client_id, client.session_id);
    assert_eq!((txn.header().cxid, txn.header().type_), (client.xid, 15));
    assert_java_reads(&java, &[("/w", zxid)]);
}

/// Phase one of the restart scenarios: we lead Java (sid 1) in epoch 1 and commit creates
/// of `committed`; with `uncommitted`, we then propose it without ever making it durable
/// on our side, so only Java logs it (it ACKs, no quorum commits it). Java is killed and
/// our shell stopped; returns what we made durable, and the zxids.
fn phase_one(
    dir: &Path,
    members: &BTreeMap<i64, Ports>,
    committed: &[&str],
    uncommitted: Option<&str>,
) -> (Durable, Vec<i64>, Option<i64>) {
    let (shell, mut java) = lead_java1(dir, members);
    let zxids = propose_all(&shell, &java, committed);
    let held = uncommitted.map(|path| {
        let zxid = shell.propose(path, format!("data of {path}").as_bytes(), true);
        shell.wait_for("Java's ACK of the uncommitted proposal", &[&java], |o| {
            o.acks.get(&zxid).is_some_and(|a| a.contains(&1))
        });
        assert!(
            !shell
                .observed()
                .committed
                .iter()
                .any(|t| t.header().zxid == zxid),
            "{zxid:#x} must not commit without our own ack"
        );
        zxid
    });
    java.kill();
    let durable = shell.stop();
    assert_eq!(
        durable
            .log
            .iter()
            .map(|t| t.header().zxid)
            .collect::<Vec<_>>(),
        zxids
    );
    assert_eq!((durable.accepted_epoch, durable.current_epoch), (1, 1));
    (durable, zxids, held)
}

/// Phase two: our shell restarted from `durable` and Java from its data; Java follows us,
/// synced as `sync`; then it has `expected` (and not `absent`), and a proposal in the new
/// epoch `epoch` reaches it too.
fn phase_two(
    dir: &Path,
    members: &BTreeMap<i64, Ports>,
    durable: Durable,
    epoch: i64,
    sync: &str,
    expected: &[(&str, i64)],
    absent: Option<&str>,
) {
    let last = durable.log.last().map_or(0, |t| t.header().zxid);
    let shell = Shell::spawn(3, members, durable, 2);
    let java = JavaServer::start(&dir.join("java1"), 1, members);
    java.await_mode("follower", &shell);
    shell.wait_for("us to be established", &[&java], |o| {
        o.established == Some(epoch)
    });
    assert_eq!(
        shell.observed().syncs,
        vec![sync.to_owned()],
        "how Java was synced"
    );
    assert_java_has(&java, expected, last);
    let mut client = Client::connect(java.client);
    if let Some(path) = absent {
        assert!(
            client.get(path).is_none(),
            "{path} survived the sync on Java"
        );
    }
    let zxids = propose_all(&shell, &java, &["/after"]);
    // In the new epoch (after the clients' createSessions).
    assert_eq!(zxids[0] >> 32, epoch);
    let mut all = expected.to_vec();
    all.push(("/after", zxids[0]));
    assert_java_has(&java, &all, zxids[0]);
}

/// A Java follower that was down while we (with sid 2) committed more in its epoch
/// catches up by DIFF: PROPOSAL+COMMIT of what it missed.
#[test]
fn java_follower_syncs_by_diff() {
    let Some((_serial, dir)) = scenario("diff") else {
        return;
    };
    let members = three_members();
    let (mut durable, a, _) = phase_one(&dir, &members, &["/a1", "/a2"], None);
    // Committed by us and sid 2 while Java was down.
    let mut tree = tree_of(&durable.log);
    let missed = [(a[1] + 1, "/m1"), (a[1] + 2, "/m2")];
    for (zxid, path) in missed {
        let txn = prepare_create(&mut tree, zxid, path, format!("data of {path}").as_bytes());
        durable.log.push(txn);
    }
    phase_two(
        &dir,
        &members,
        durable,
        2,
        &format!("DIFF {:#x}", missed[1].0),
        &[
            ("/a1", a[0]),
            ("/a2", a[1]),
            ("/m1", missed[0].0),
            ("/m2", missed[1].0),
        ],
        None,
    );
}

/// A Java follower that logged a proposal we never committed (and never made durable) is
/// truncated: we come back with a newer currentEpoch (we and sid 2 established epoch 2
/// without proposing), win, and send TRUNC to our last committed zxid.
#[test]
fn java_follower_syncs_by_trunc() {
    let Some((_serial, dir)) = scenario("trunc") else {
        return;
    };
    let members = three_members();
    let (mut durable, a, b) = phase_one(&dir, &members, &["/a1"], Some("/b"));
    assert_eq!(b, Some(a[0] + 1));
    durable.accepted_epoch = 2;
    durable.current_epoch = 2;
    phase_two(
        &dir,
        &members,
        durable,
        3,
        &format!("TRUNC {:#x}", a[0]),
        &[("/a1", a[0])],
        Some("/b"),
    );
}

/// As for TRUNC, but we and sid 2 also committed a txn in epoch 2: the Java follower's
/// extra txn is in another epoch, which cannot be truncated (`LearnerHandler`), so it gets
/// a SNAP: our tree, serialized in Java's snapshot format.
#[test]
fn java_follower_syncs_by_snap() {
    let Some((_serial, dir)) = scenario("snap") else {
        return;
    };
    let members = three_members();
    let (mut durable, a, _) = phase_one(&dir, &members, &["/a1", "/a2"], Some("/b"));
    let mut tree = tree_of(&durable.log);
    let c = (2 << 32) | 1;
    let txn = prepare_create(&mut tree, c, "/c", b"data of /c");
    durable.log.push(txn);
    durable.accepted_epoch = 2;
    durable.current_epoch = 2;
    phase_two(
        &dir,
        &members,
        durable,
        3,
        &format!("SNAP {c:#x}"),
        &[("/a1", a[0]), ("/a2", a[1]), ("/c", c)],
        Some("/b"),
    );
}

/// A Java peer that starts after we established (sid 1 with us): it hears LEADING and
/// FOLLOWING votes while LOOKING (Java's out-of-election path over our answers), joins our
/// running epoch, syncs, and applies what we propose with both Java followers acking.
#[test]
fn java_follower_joins_our_established_epoch() {
    let Some((_serial, dir)) = scenario("late-java") else {
        return;
    };
    let members = three_members();
    let (shell, java1) = lead_java1(&dir, &members);
    let p1 = propose_all(&shell, &java1, &["/p1"])[0];

    let java2 = JavaServer::start(&dir.join("java2"), 2, &members);
    java2.await_mode("follower", &shell);
    assert_eq!(
        shell.observed().established,
        Some(1),
        "still our first epoch"
    );
    // The joiner (0) is before our committed log: DIFF from the txn log (sync_follower's
    // case 5), /p1 as PROPOSAL + COMMIT.
    assert_eq!(
        shell.observed().syncs,
        vec!["DIFF 0x0".to_owned(), format!("DIFF {p1:#x}")]
    );
    let p2 = propose_all(&shell, &java2, &["/p2"])[0];
    shell.wait_for("both Java followers' ACKs", &[&java1, &java2], |o| {
        o.acks
            .get(&p2)
            .is_some_and(|a| a.contains(&1) && a.contains(&2))
    });
    for java in [&java1, &java2] {
        await_java_zxid(java, p2);
    }
    for java in [&java1, &java2] {
        assert_java_reads(java, &[("/p1", p1), ("/p2", p2)]);
    }
}

/// We start after two Java peers established an epoch (Java 2 leading): our LOOKING votes
/// are answered with theirs, we follow Java 2, sync by SNAP (read with zk-tree's snapshot
/// reader), and a client's write on the leader reaches us as PROPOSAL and COMMIT.
#[test]
fn we_join_an_established_java_ensemble() {
    let Some((_serial, dir)) = scenario("late-us") else {
        return;
    };
    let members = three_members();
    let (java2, java1, shell) = join_java_pair(&dir, &members, 3);
    // An established Java leader's lastProcessedZxid is its epoch's zxid 0, which a
    // fresh joiner (0) is not: SNAP, whatever the tree holds.
    assert_eq!(shell.observed().syncs, vec!["SNAP 0x100000000".to_owned()]);

    let mut client = Client::connect(java2.client);
    let (zxid, _) = client.create("/j", b"from Java's client");
    assert_eq!(zxid >> 32, 1, "Java's first epoch");
    shell.wait_for("our commit of /j", &[&java1, &java2], |o| {
        o.committed.iter().any(|t| t.header().zxid == zxid)
    });
    let o = shell.observed();
    assert_eq!(
        o.committed
            .iter()
            .map(|t| t.header().zxid)
            .collect::<Vec<_>>(),
        vec![zxid - 1, zxid],
        "the client's createSession and create"
    );
    // On top of the tree zk-tree read from Java's snapshot.
    shell.assert_digests(2);
}

/// Waits (without a shell: the pair is a quorum) until `leader` leads and `follower`
/// follows.
fn await_java_pair(leader: &JavaServer, follower: &JavaServer) {
    let deadline = Instant::now() + WAIT;
    while !(leader.four_letter("srvr").contains("Mode: leader")
        && follower.four_letter("srvr").contains("Mode: follower"))
    {
        assert!(
            Instant::now() < deadline,
            "the Java pair did not elect; logs:\n{}\n-----\n{}",
            leader.log_tail(),
            follower.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The two Java members of `members` (we are `us`) elect each other first (the larger sid
/// leads: with us up, the smaller could win before the other is), then we join them as a
/// follower. Returns (Java leader, Java follower, our shell).
fn join_java_pair(
    dir: &Path,
    members: &BTreeMap<i64, Ports>,
    us: i64,
) -> (JavaServer, JavaServer, ShellHandle) {
    let mut sids = members.keys().copied().filter(|&s| s != us);
    let (f, l) = (sids.next().unwrap(), sids.next().unwrap());
    let follower = JavaServer::start(&dir.join(format!("java{f}")), f, members);
    let leader = JavaServer::start(&dir.join(format!("java{l}")), l, members);
    await_java_pair(&leader, &follower);
    let shell = Shell::spawn(us, members, Durable::default(), 1);
    shell.wait_for(
        "us to follow the Java leader and serve",
        &[&leader, &follower],
        |o| o.role == Some(PeerRole::Following { leader: l }) && o.serving,
    );
    (leader, follower, shell)
}

/// The follower layout with history: we are sid 1 and join Java 2 and 3 (Java 3 leads;
/// a fresh joiner gets a SNAP of the empty tree). Returns the Java pair, our shell following 3, and a client of the leader that
/// has written `/a` (its zxid).
fn follow_java3(
    dir: &Path,
    members: &BTreeMap<i64, Ports>,
) -> (JavaServer, JavaServer, ShellHandle, Client, i64) {
    let (java3, java2, shell) = join_java_pair(dir, members, 1);
    let mut client = Client::connect(java3.client);
    let (a, _) = client.create("/a", b"a");
    shell.wait_for("our commit of /a", &[&java2, &java3], |o| {
        o.committed.iter().any(|t| t.header().zxid == a)
    });
    shell.assert_digests(2);
    (java2, java3, shell, client, a)
}

/// The path a logged create names.
fn created_path(t: &TxnPayload) -> Option<String> {
    match TxnBody::decode(t.header().type_, &mut Decoder::new(t.body())).ok()? {
        TxnBody::Create { txn, .. } => Some(txn.path?.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// We go down while the Java pair commits more, and come back behind: the Java leader
/// sends DIFF with PROPOSAL/COMMIT pairs, which our learner logs and commits in order
/// before broadcast goes on.
#[test]
fn we_catch_up_from_a_java_leader_by_diff() {
    let Some((_serial, dir)) = scenario("follower-diff") else {
        return;
    };
    let members = three_members();
    let (java2, java3, shell, mut client, a) = follow_java3(&dir, &members);
    let durable = shell.stop();
    assert_eq!(durable.log.last().map(|t| t.header().zxid), Some(a));
    let (b, _) = client.create("/b", b"b");
    let (c, _) = client.create("/c", b"c");

    let shell = Shell::spawn(1, &members, durable, 2);
    shell.wait_for("us to follow 3 again and serve", &[&java2, &java3], |o| {
        o.role == Some(PeerRole::Following { leader: 3 }) && o.serving
    });
    let o = shell.observed();
    assert_eq!(o.syncs, vec![format!("DIFF {c:#x}")], "how Java synced us");
    let committed: Vec<i64> = o.committed.iter().map(|t| t.header().zxid).collect();
    assert_eq!(committed, vec![b, c], "what we missed, in order");
    let (d, _) = client.create("/d", b"d");
    shell.wait_for("our commit of /d", &[&java2, &java3], |o| {
        o.committed.last().map(|t| t.header().zxid) == Some(d)
    });
    shell.assert_digests(3);
    let durable = shell.stop();
    let paths: Vec<Option<String>> = durable.log.iter().map(created_path).collect();
    assert_eq!(
        paths[paths.len() - 4..],
        [
            Some("/a".into()),
            Some("/b".into()),
            Some("/c".into()),
            Some("/d".into())
        ]
    );
}

/// We come back with a txn the Java ensemble never had (logged in its epoch, never
/// committed): the established Java leader sends TRUNC to its last committed zxid, our
/// learner drops the txn, and the next write takes its zxid.
#[test]
fn a_java_leader_truncates_our_extra_txn() {
    let Some((_serial, dir)) = scenario("follower-trunc") else {
        return;
    };
    let members = three_members();
    let (java2, java3, shell, mut client, a) = follow_java3(&dir, &members);
    let mut durable = shell.stop();
    let mut tree = tree_of(&durable.log);
    durable.log.push(prepare_create(
        &mut tree,
        a + 1,
        "/ghost",
        b"never committed",
    ));

    let shell = Shell::spawn(1, &members, durable, 2);
    shell.wait_for("us to follow 3 again and serve", &[&java2, &java3], |o| {
        o.role == Some(PeerRole::Following { leader: 3 }) && o.serving
    });
    assert_eq!(shell.observed().syncs, vec![format!("TRUNC {a:#x}")]);
    let (b, _) = client.create("/b", b"b");
    assert_eq!(b, a + 1, "the truncated zxid is reused");
    shell.wait_for("our commit of /b", &[&java2, &java3], |o| {
        o.committed.last().map(|t| t.header().zxid) == Some(b)
    });
    // On the tree reloaded from the truncated log.
    shell.assert_digests(1);
    let durable = shell.stop();
    let last = durable.log.last().unwrap();
    assert_eq!(last.header().zxid, b);
    assert_eq!(created_path(last).as_deref(), Some("/b"));
    assert!(!durable
        .log
        .iter()
        .any(|t| created_path(t).as_deref() == Some("/ghost")));
}

/// The Java leader dies under us: we (sid 3, as up to date as Java 1) win the next
/// election and lead Java 1 in a new epoch over the history Java 2 made; Java 1 applies
/// our proposal on top of it, with our digest computed on that history.
#[test]
fn we_take_over_from_a_dead_java_leader() {
    let Some((_serial, dir)) = scenario("takeover") else {
        return;
    };
    let members = three_members();
    let (mut java2, java1, shell) = join_java_pair(&dir, &members, 3);
    let mut client = Client::connect(java2.client);
    let (a, _) = client.create("/a", b"data of /a");
    let (b, _) = client.create("/b", b"data of /b");
    shell.wait_for("our commit of /b", &[&java1, &java2], |o| {
        o.committed.iter().any(|t| t.header().zxid == b)
    });
    await_java_zxid(&java1, b);
    drop(client);
    java2.kill();

    shell.wait_for("us to lead epoch 2", &[&java1], |o| {
        o.established == Some(2)
    });
    java1.await_mode("follower", &shell);
    // Joined by a SNAP of the empty tree; Java 1 then as up to date as we are.
    assert_eq!(
        shell.observed().syncs,
        vec!["SNAP 0x100000000".to_owned(), format!("DIFF {b:#x}")]
    );
    let c = propose_all(&shell, &java1, &["/c"])[0];
    assert_eq!(c, (2 << 32) | 1);
    assert_java_has(&java1, &[("/a", a), ("/b", b), ("/c", c)], c);
}

/// A session of "our" client, created through us (REQUEST forwarded to the Java leader),
/// lives as long as our ping replies touch it, and the Java leader expires it once they
/// stop: the session-touch table of our pings is what keeps it.
#[test]
fn our_pings_keep_a_session_alive_on_a_java_leader() {
    let Some((_serial, dir)) = scenario("ping-sessions") else {
        return;
    };
    let (_, shell, java) = follow_java_in_two(&dir);
    // A session id as a learner with sid 1 makes them (sid in the top byte).
    let session = (1i64 << 56) | 0x00ab_cdef_0000;
    let timeout_ms: i32 = 1000;
    shell
        .tx
        .send(Input::Forward(ForwardedRequest {
            session_id: session,
            cxid: 0,
            op_type: -10,
            body: Bytes::copy_from_slice(&timeout_ms.to_be_bytes()),
            authinfo: Some(Vec::new()),
        }))
        .unwrap();
    shell.wait_for("the createSession we forwarded to commit", &[&java], |o| {
        o.committed
            .iter()
            .any(|t| t.header().type_ == -10 && t.header().client_id == session)
    });
    let closed = |o: &Observed| {
        o.committed
            .iter()
            .any(|t| t.header().type_ == -11 && t.header().client_id == session)
    };
    shell
        .tx
        .send(Input::SetTouches(vec![SessionTouch {
            session_id: session,
            timeout_ms,
        }]))
        .unwrap();
    // Four timeouts' worth of pings (one every half tick) that touch it: still alive.
    let from = shell.observed().pings_answered;
    let pings = from + 4 * (timeout_ms as usize) / (TICK_MS as usize / 2);
    shell.wait_for("pings over four session timeouts", &[&java], |o| {
        o.pings_answered >= pings
    });
    assert!(
        !closed(&shell.observed()),
        "the Java leader expired a touched session"
    );
    // No more touches: the leader expires it and proposes its closeSession.
    shell.tx.send(Input::SetTouches(Vec::new())).unwrap();
    shell.wait_for("the Java leader to expire the session", &[&java], closed);
}

/// We observe a Java leader (sid 2, the only voter; we are `server.1=...:observer` in its
/// config): FLE as an observer, OBSERVERINFO, an empty sync, then each client write reaches
/// us as INFORM (with Java's digest, which our tree matches) and never as a PROPOSAL; Java
/// counts us in `zk_synced_observers`; REVALIDATE: Java's leader says its client's
/// session is valid and an unknown one is not.
#[test]
fn observer_of_a_java_leader() {
    let Some((_serial, dir)) = scenario("observer") else {
        return;
    };
    let mut us = Ports::free();
    us.observer = true;
    let members: BTreeMap<i64, Ports> = [(1, us), (2, Ports::free())].into();
    let shell = Shell::spawn(1, &members, Durable::default(), 1);
    let java = JavaServer::start(&dir.join("java2"), 2, &members);
    java.await_mode("leader", &shell);
    shell.wait_for("us to observe 2 and serve", &[&java], |o| {
        o.role == Some(PeerRole::Observing { leader: 2 }) && o.serving
    });
    // An empty DIFF, or a SNAP of the empty tree at the new epoch when Java's leader had
    // established it before we connected (both seen).
    let syncs = shell.observed().syncs;
    assert!(
        syncs == ["DIFF 0x0"] || syncs == ["SNAP 0x100000000"],
        "{syncs:?}"
    );
    let mut client = Client::connect(java.client);
    let mut last = 0;
    for path in ["/a", "/b", "/c"] {
        last = client.create(path, b"v").0;
    }
    shell.wait_for("our commit of the last create", &[&java], |o| {
        o.committed.last().map(|t| t.header().zxid) == Some(last)
    });
    let o = shell.observed();
    assert!(
        o.proposals.is_empty(),
        "an observer got PROPOSALs: {:?}",
        o.proposals
    );
    let committed: Vec<i32> = o.committed.iter().map(|t| t.header().type_).collect();
    assert_eq!(
        committed,
        [-10, 15, 15, 15],
        "createSession and the creates"
    );
    shell.assert_digests(4);
    assert_eq!(java.metric("zk_synced_observers").as_deref(), Some("1"));
    assert_eq!(java.metric("zk_synced_followers").as_deref(), Some("0"));
    // Pings keep us: after several syncLimits another write still reaches us.
    let min_pings = shell.observed().pings_answered + 4 * SYNC_LIMIT as usize;
    shell.wait_for("pings across several syncLimits", &[&java], |o| {
        o.pings_answered >= min_pings
    });
    let (zxid, _) = client.create("/d", b"after pings");
    shell.wait_for("our commit of /d", &[&java], |o| {
        o.committed.last().map(|t| t.header().zxid) == Some(zxid)
    });
    assert_eq!(
        shell.observed().role,
        Some(PeerRole::Observing { leader: 2 })
    );
    // REVALIDATE against Java's leader, last: a valid answer makes our observer the
    // session's owner (`setOwner`), and Java's leader then refuses the client's requests
    // on its old connection (SessionMovedException), as a reconnect through us means.
    for (session_id, valid) in [(client.session_id, true), (0x7777, false)] {
        shell
            .tx
            .send(Input::Step(Event::Revalidate {
                session_id,
                timeout_ms: 30_000,
            }))
            .unwrap();
        shell.wait_for("the leader's REVALIDATE answer", &[&java], |o| {
            o.revalidated.contains(&(session_id, valid))
        });
    }
}

/// A Java observer (sid 1, `server.1=...:observer`) of our leader (sid 3, the only voter):
/// it registers with OBSERVERINFO, gets our INFORMs (header, txn and digest whole) and
/// applies them with no digest mismatch; its ACKs are never needed (we are the quorum); a
/// write by a client of the observer is forwarded to us as REQUEST and answered by Java
/// when our INFORM comes back.
#[test]
fn leader_of_a_java_observer() {
    let Some((_serial, dir)) = scenario("leader_of_observer") else {
        return;
    };
    let mut java_ports = Ports::free();
    java_ports.observer = true;
    let members: BTreeMap<i64, Ports> = [(1, java_ports), (3, Ports::free())].into();
    let shell = Shell::spawn(3, &members, Durable::default(), 1);
    let java = JavaServer::start(&dir.join("java1"), 1, &members);
    java.await_mode("observer", &shell);
    shell.wait_for("us to be established", &[&java], |o| {
        o.established == Some(1)
    });
    let zxids = propose_all(&shell, &java, &["/x", "/y", "/z"]);
    assert_eq!(zxids, vec![0x1_0000_0001, 0x1_0000_0002, 0x1_0000_0003]);
    assert!(shell.observed().acks.values().all(|a| !a.contains(&1)));
    assert_java_has(
        &java,
        &[("/x", zxids[0]), ("/y", zxids[1]), ("/z", zxids[2])],
        zxids[2],
    );
    let mut client = Client::connect(java.client);
    let (zxid, stat) = client.create("/w", b"data of /w");
    assert_eq!(stat.czxid, zxid);
    assert_java_reads(&java, &[("/w", zxid)]);
}
