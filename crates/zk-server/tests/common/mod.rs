//! Shared harness for the zk-server integration tests.
//!
//! Each test starts its own server in-process on 127.0.0.1:0 (real or manual clock) and talks
//! to it only over TCP: through the third-party `zookeeper-client` crate, or through the tiny
//! hand-written Jute encoder/decoder below ([`Raw`], [`J`], [`R`]) when the test needs exact
//! bytes. Nothing here uses Ferrokeeper's own codec, so a codec bug cannot hide itself.
//!
//! Set `FERROKEEPER_TEST_EXTERNAL=host:port` to run the tests that need no special settings
//! against an already running server instead (Apache ZooKeeper 3.8 with
//! `extendedTypesEnabled=true`, superDigest `super:test` and the default 4lw whitelist): that
//! is how the expectations here were checked against the real thing. Tests that need a manual
//! clock or other settings return early in that mode. Run them one at a time there
//! (`-- --test-threads=1`): some assert exact zxids, and the server is shared.
//!
//! ```text
//! java -cp /usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar \
//!   -Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU= \
//!   org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg   # extendedTypesEnabled=true
//! FERROKEEPER_TEST_EXTERNAL=127.0.0.1:2181 cargo test -p zk-server --tests -- --test-threads=1
//! ```

#![allow(dead_code)] // every test binary uses a different part of this module

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use zk_server::core::{Clock, ManualTime};
use zk_server::Settings;
use zookeeper_client as zk;

/// `super:test`, the super user kazoo's harness configures.
pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// Bound on every wait for something the server should do promptly.
pub const WAIT: Duration = Duration::from_secs(30);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`] (a safety net, not a sleep).
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The address of an external server to test instead, if any.
pub fn external() -> Option<String> {
    std::env::var("FERROKEEPER_TEST_EXTERNAL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The settings every "ordinary" test runs with: upstream defaults plus extended types and
/// the `super:test` super user (the external profile).
pub fn settings() -> Settings {
    let mut s = Settings {
        extended_types: true,
        ..Settings::default()
    };
    s.auth.super_digest = Some(SUPER_DIGEST.to_string());
    s
}

/// A server under test.
pub struct TestServer {
    /// `host:port` to connect to.
    pub addr: String,
    /// The manual clock, when the server runs on one.
    pub time: Option<Arc<ManualTime>>,
    shutdown: Option<watch::Sender<bool>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

async fn spawn(settings: Settings, clock: Clock, time: Option<Arc<ManualTime>>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let res = zk_server::run_with_clock(
            settings,
            listener,
            zk_tree::DataTree::new(),
            Vec::new(),
            zk_server::Stores::in_memory(),
            rx,
            clock,
        )
        .await;
        if let Err(e) = res {
            panic!("server stopped: {e}");
        }
    });
    TestServer {
        addr,
        time,
        shutdown: Some(tx),
    }
}

/// A server with the ordinary [`settings`]: the external one if configured, else in-process.
pub async fn start() -> TestServer {
    match external() {
        Some(addr) => TestServer {
            addr,
            time: None,
            shutdown: None,
        },
        None => spawn(settings(), Clock::new(), None).await,
    }
}

/// An in-process server with `settings` and a real clock; `None` in external mode.
pub async fn local(settings: Settings) -> Option<TestServer> {
    if external().is_some() {
        eprintln!("skipped: needs an in-process server");
        return None;
    }
    Some(spawn(settings, Clock::new(), None).await)
}

/// A server that answers every four-letter word (`4lw.commands.whitelist=*`): the one at
/// `FERROKEEPER_TEST_EXTERNAL_4LW=host:port` if set (an Apache ZooKeeper started with that
/// whitelist), else an in-process one with [`settings`]; `None` when only
/// `FERROKEEPER_TEST_EXTERNAL` (default whitelist) is set.
pub async fn all_words_server(mut settings: Settings) -> Option<TestServer> {
    if let Some(addr) = std::env::var("FERROKEEPER_TEST_EXTERNAL_4LW")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Some(TestServer {
            addr,
            time: None,
            shutdown: None,
        });
    }
    settings.four_letter_whitelist =
        zk_server::config::FourLetterWhitelist::from_property(Some("*"), false);
    local(settings).await
}

/// True when the tests run against `FERROKEEPER_TEST_EXTERNAL_4LW`.
pub fn external_4lw() -> bool {
    std::env::var("FERROKEEPER_TEST_EXTERNAL_4LW").is_ok_and(|s| !s.is_empty())
}

/// An in-process server on a manual clock; `None` in external mode.
pub async fn local_manual(settings: Settings) -> Option<TestServer> {
    if external().is_some() {
        eprintln!("skipped: needs an in-process server with a manual clock");
        return None;
    }
    let (clock, time) = Clock::manual();
    Some(spawn(settings, clock, Some(time)).await)
}

impl TestServer {
    /// A `zookeeper-client` session (10 s timeout).
    pub async fn client(&self) -> zk::Client {
        self.client_with(zk::Client::connector().with_session_timeout(Duration::from_secs(10)))
            .await
    }

    /// A session from a configured connector.
    pub async fn client_with(&self, c: zk::Connector) -> zk::Client {
        within("client connect", c.connect(&self.addr))
            .await
            .unwrap()
    }

    /// A raw connection with a session (30 s requested, readOnly byte sent).
    pub async fn raw(&self) -> Raw {
        let mut r = Raw::connect(&self.addr).await;
        let resp = r.handshake(&ConnectReq::default()).await.expect("session");
        assert_ne!(resp.session_id, 0);
        r
    }

    /// Moves the manual clock.
    pub fn advance(&self, ms: i64) {
        self.time
            .as_ref()
            .expect("server runs on a manual clock")
            .advance(ms);
    }
}

/// A path no other test uses (tests share one server in external mode).
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    if external().is_some() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!(
            "/{name}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    } else {
        format!("/{name}")
    }
}

/// Creates a fresh persistent open node for the test to work under; returns its path.
pub async fn fresh_root(c: &zk::Client, name: &str) -> String {
    let p = unique(name);
    c.create(&p, b"", &persistent()).await.unwrap();
    p
}

/// Persistent, world:anyone ALL.
pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Ephemeral, world:anyone ALL.
pub fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// The next state a client reports, bounded by [`WAIT`].
pub async fn next_state(w: &mut zk::StateWatcher) -> zk::SessionState {
    within("session state change", w.changed()).await
}

// ----- raw wire -------------------------------------------------------------------------

/// Opcodes (ZooDefs.OpCode).
pub mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
}

/// Error codes (KeeperException.Code).
pub mod code {
    pub const OK: i32 = 0;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const MARSHALLING_ERROR: i32 = -5;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const INVALID_ACL: i32 = -114;
    pub const AUTH_FAILED: i32 = -115;
    pub const NO_WATCHER: i32 = -121;
}

/// A Jute writer.
#[derive(Default, Clone)]
pub struct J(pub Vec<u8>);

impl J {
    pub fn new() -> Self {
        J(Vec::new())
    }
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bool(mut self, v: bool) -> Self {
        self.0.push(v as u8);
        self
    }
    pub fn buf(self, v: &[u8]) -> Self {
        let mut s = self.i32(v.len() as i32);
        s.0.extend_from_slice(v);
        s
    }
    pub fn str(self, v: &str) -> Self {
        self.buf(v.as_bytes())
    }
    pub fn null(self) -> Self {
        self.i32(-1)
    }
    pub fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A vector<ACL>: (perms, scheme, id) each.
    pub fn acl(self, acl: &[(i32, &str, &str)]) -> Self {
        let mut s = self.i32(acl.len() as i32);
        for (perms, scheme, id) in acl {
            s = s.i32(*perms).str(scheme).str(id);
        }
        s
    }
    /// A CreateRequest.
    pub fn create(self, path: &str, data: &[u8], acl: &[(i32, &str, &str)], flags: i32) -> Self {
        self.str(path).buf(data).acl(acl).i32(flags)
    }
    /// A MultiHeader.
    pub fn multi_header(self, kind: i32, done: bool, err: i32) -> Self {
        self.i32(kind).bool(done).i32(err)
    }
    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
}

/// An ACL list as (perms, scheme, id) triples.
pub type AclList<'a> = &'a [(i32, &'a str, &'a str)];

/// world:anyone ALL.
pub const OPEN: &[(i32, &str, &str)] = &[(31, "world", "anyone")];

/// A Stat as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WireStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

/// A Jute reader; panics (fails the test) on short input.
pub struct R<'a>(pub &'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.0.len() >= n,
            "short record: need {n}, have {}",
            self.0.len()
        );
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    pub fn bool(&mut self) -> bool {
        self.take(1)[0] != 0
    }
    pub fn buf(&mut self) -> Option<Vec<u8>> {
        let n = self.i32();
        if n < 0 {
            return None;
        }
        Some(self.take(n as usize).to_vec())
    }
    pub fn str(&mut self) -> String {
        String::from_utf8(self.buf().expect("non-null string")).unwrap()
    }
    pub fn strs(&mut self) -> Vec<String> {
        let n = self.i32();
        (0..n).map(|_| self.str()).collect()
    }
    pub fn stat(&mut self) -> WireStat {
        WireStat {
            czxid: self.i64(),
            mzxid: self.i64(),
            ctime: self.i64(),
            mtime: self.i64(),
            version: self.i32(),
            cversion: self.i32(),
            aversion: self.i32(),
            ephemeral_owner: self.i64(),
            data_length: self.i32(),
            num_children: self.i32(),
            pzxid: self.i64(),
        }
    }
    pub fn acl(&mut self) -> Vec<(i32, String, String)> {
        let n = self.i32();
        (0..n)
            .map(|_| (self.i32(), self.str(), self.str()))
            .collect()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A ConnectRequest.
#[derive(Debug, Clone)]
pub struct ConnectReq {
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `Some` sends the trailing readOnly byte.
    pub read_only: Option<bool>,
}

impl Default for ConnectReq {
    fn default() -> Self {
        ConnectReq {
            last_zxid_seen: 0,
            timeout: 30_000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    }
}

/// A ConnectResponse, with its body length.
#[derive(Debug, Clone)]
pub struct ConnectResp {
    pub body_len: usize,
    pub protocol_version: i32,
    pub timeout: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

/// A reply frame.
#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    /// A reader over the body.
    pub fn r(&self) -> R<'_> {
        R(&self.body)
    }
}

/// A raw client connection; every read is bounded by [`WAIT`].
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// The session id, once the handshake succeeded.
    pub session_id: i64,
    /// The session password.
    pub passwd: Vec<u8>,
}

impl Raw {
    /// A bare TCP connection.
    pub async fn connect(addr: &str) -> Raw {
        let stream = within("tcp connect", TcpStream::connect(addr))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
            session_id: 0,
            passwd: Vec::new(),
        }
    }

    /// Writes bytes as they are.
    pub async fn send_raw(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.unwrap();
    }

    /// Writes one length-prefixed frame.
    pub async fn send_frame(&mut self, payload: &[u8]) {
        let mut f = (payload.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        self.send_raw(&f).await;
    }

    /// Writes a request: RequestHeader{xid, op} + body.
    pub async fn send(&mut self, xid: i32, op: i32, body: &[u8]) {
        self.send_frame(&J::new().i32(xid).i32(op).raw(body).bytes())
            .await;
    }

    /// Reads up to `n` buffered bytes; `None` at EOF (or reset) before that.
    async fn read_n(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            self.buf.reserve(n - self.buf.len());
            match within("server bytes", self.stream.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// The next frame; `None` if the server closed the connection.
    pub async fn frame(&mut self) -> Option<Vec<u8>> {
        let len = self.read_n(4).await?;
        let len = i32::from_be_bytes(len.try_into().unwrap());
        assert!(len >= 0, "server sent a negative frame length");
        self.read_n(len as usize).await
    }

    /// The next reply (fails the test if the connection closed).
    pub async fn reply(&mut self) -> Reply {
        let f = self
            .frame()
            .await
            .expect("a reply, not a closed connection");
        let mut r = R(&f);
        let (xid, zxid, err) = (r.i32(), r.i64(), r.i32());
        Reply {
            xid,
            zxid,
            err,
            body: r.0.to_vec(),
        }
    }

    /// The next reply that is not a watch notification or ping reply.
    pub async fn reply_skipping_events(&mut self) -> Reply {
        loop {
            let r = self.reply().await;
            if r.xid != -1 && r.xid != -2 {
                return r;
            }
        }
    }

    /// Sends a request and returns its reply.
    pub async fn call(&mut self, xid: i32, op: i32, body: &[u8]) -> Reply {
        self.send(xid, op, body).await;
        let r = self.reply().await;
        assert_eq!(r.xid, xid, "reply out of order: {r:?}");
        r
    }

    /// Asserts that the server closes the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        if let Some(f) = self.frame().await {
            panic!("expected the server to close the connection, got a frame {f:?}");
        }
    }

    /// Sends a ConnectRequest and reads the ConnectResponse (`None`: closed without one).
    pub async fn handshake(&mut self, req: &ConnectReq) -> Option<ConnectResp> {
        let mut j = J::new()
            .i32(0)
            .i64(req.last_zxid_seen)
            .i32(req.timeout)
            .i64(req.session_id)
            .buf(&req.passwd);
        if let Some(ro) = req.read_only {
            j = j.bool(ro);
        }
        self.send_frame(&j.bytes()).await;
        let f = self.frame().await?;
        let mut r = R(&f);
        let resp = ConnectResp {
            body_len: f.len(),
            protocol_version: r.i32(),
            timeout: r.i32(),
            session_id: r.i64(),
            passwd: r.buf().unwrap_or_default(),
            read_only: if r.is_empty() { None } else { Some(r.bool()) },
        };
        assert!(r.is_empty(), "trailing bytes in ConnectResponse");
        self.session_id = resp.session_id;
        self.passwd = resp.passwd.clone();
        Some(resp)
    }
}

/// Sends a four-letter word on a fresh connection and returns everything the server answers.
pub async fn four_letter(addr: &str, cmd: &str) -> String {
    let mut s = within("tcp connect", TcpStream::connect(addr))
        .await
        .unwrap();
    s.write_all(cmd.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    within("4lw answer", s.read_to_end(&mut out)).await.unwrap();
    String::from_utf8(out).unwrap()
}

/// Event types (Watcher.Event.EventType).
pub mod ev {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// A watch notification: (type, path). Fails the test if `rep` is anything else.
pub fn event(rep: &Reply) -> (i32, String) {
    assert_eq!(
        (rep.xid, rep.zxid, rep.err),
        (-1, -1, 0),
        "expected a notification, got {rep:?}"
    );
    let mut b = rep.r();
    let kind = b.i32();
    assert_eq!(b.i32(), 3, "state SyncConnected");
    let path = b.str();
    assert!(b.is_empty());
    (kind, path)
}

impl Raw {
    /// Sends `req` and collects every notification that arrives before its reply.
    pub async fn call_collecting(
        &mut self,
        xid: i32,
        op: i32,
        body: &[u8],
    ) -> (Vec<(i32, String)>, Reply) {
        self.send(xid, op, body).await;
        let mut events = Vec::new();
        loop {
            let r = self.reply().await;
            if r.xid == -1 {
                events.push(event(&r));
                continue;
            }
            assert_eq!(r.xid, xid, "reply out of order: {r:?}");
            return (events, r);
        }
    }

    /// A no-op read (exists on "/") that flushes out every notification queued before it.
    pub async fn events_so_far(&mut self, xid: i32) -> Vec<(i32, String)> {
        let (events, rep) = self
            .call_collecting(xid, op::EXISTS, &J::new().str("/").bool(false).bytes())
            .await;
        assert_eq!(rep.err, 0);
        events
    }
}
