//! A raw ZooKeeper client for tests that need exact bytes: a hand-written Jute writer
//! ([`J`]) and reader ([`R`]), frames, the handshake, replies and watch notifications, over
//! TCP or TLS ([`Raw`]). Nothing here uses Ferrokeeper's own codec, so a codec bug cannot
//! hide itself. Everything panics (fails the test) on what a well-behaved server would not
//! send, and every wait is bounded by [`WAIT`].

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every wait for something the server should do promptly.
pub const WAIT: Duration = Duration::from_secs(30);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`] (a safety net, not a sleep).
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Opcodes (ZooDefs.OpCode), named as there.
#[allow(missing_docs)]
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

/// Error codes (KeeperException.Code), named as there.
#[allow(missing_docs)]
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
    /// An empty record.
    pub fn new() -> Self {
        J(Vec::new())
    }
    /// An int.
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A long.
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A boolean (one byte).
    pub fn bool(mut self, v: bool) -> Self {
        self.0.push(v as u8);
        self
    }
    /// A buffer: its length, then its bytes.
    pub fn buf(self, v: &[u8]) -> Self {
        let mut s = self.i32(v.len() as i32);
        s.0.extend_from_slice(v);
        s
    }
    /// A ustring (as a buffer of UTF-8).
    pub fn str(self, v: &str) -> Self {
        self.buf(v.as_bytes())
    }
    /// A null buffer or string (length -1).
    pub fn null(self) -> Self {
        self.i32(-1)
    }
    /// Bytes as they are.
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
    /// A ConnectRequest for a new session: protocol 0, lastZxidSeen 0, `timeout_ms`,
    /// session 0, a zero 16-byte password, then the `readOnly` byte.
    pub fn connect_request(timeout_ms: i32, read_only: bool) -> Self {
        J::new()
            .i32(0)
            .i64(0)
            .i32(timeout_ms)
            .i64(0)
            .buf(&[0; 16])
            .bool(read_only)
    }
    /// The bytes written.
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
#[allow(missing_docs)] // the fields of Stat, in its order
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
    /// An int.
    pub fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    /// A long.
    pub fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    /// A boolean.
    pub fn bool(&mut self) -> bool {
        self.take(1)[0] != 0
    }
    /// A buffer; `None` for null.
    pub fn buf(&mut self) -> Option<Vec<u8>> {
        let n = self.i32();
        if n < 0 {
            return None;
        }
        Some(self.take(n as usize).to_vec())
    }
    /// A non-null UTF-8 string.
    pub fn str(&mut self) -> String {
        String::from_utf8(self.buf().expect("non-null string")).unwrap()
    }
    /// A vector of strings.
    pub fn strs(&mut self) -> Vec<String> {
        let n = self.i32();
        (0..n).map(|_| self.str()).collect()
    }
    /// A Stat.
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
    /// A vector<ACL> as (perms, scheme, id) triples.
    pub fn acl(&mut self) -> Vec<(i32, String, String)> {
        let n = self.i32();
        (0..n)
            .map(|_| (self.i32(), self.str(), self.str()))
            .collect()
    }
    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A ConnectRequest.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // the fields of ConnectRequest
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
#[allow(missing_docs)] // the fields of ConnectResponse
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
#[allow(missing_docs)] // ReplyHeader, then the body
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

/// What [`Raw`] can run over: a TCP stream, a TLS stream, or a box of either.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A raw client connection over `S` (TCP unless said otherwise); every read is bounded by
/// [`WAIT`].
pub struct Raw<S = TcpStream> {
    /// The connection.
    pub stream: S,
    buf: Vec<u8>,
    /// The session id, once the handshake succeeded.
    pub session_id: i64,
    /// The session password.
    pub passwd: Vec<u8>,
}

impl Raw<TcpStream> {
    /// A bare TCP connection.
    pub async fn connect(addr: &str) -> Raw {
        let stream = within("tcp connect", TcpStream::connect(addr))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw::new(stream)
    }
}

impl<S: Io + 'static> Raw<S> {
    /// The same connection behind a box, to mix TCP and TLS in one type.
    pub fn boxed(self) -> Raw<Box<dyn Io>> {
        Raw {
            stream: Box::new(self.stream),
            buf: self.buf,
            session_id: self.session_id,
            passwd: self.passwd,
        }
    }
}

impl<S: Io> Raw<S> {
    /// A client on an established connection (no handshake yet).
    pub fn new(stream: S) -> Raw<S> {
        Raw {
            stream,
            buf: Vec::new(),
            session_id: 0,
            passwd: Vec::new(),
        }
    }

    /// Writes bytes as they are (and flushes them, for TLS).
    pub async fn send_raw(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.unwrap();
        self.stream.flush().await.unwrap();
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
        self.try_reply()
            .await
            .expect("a reply, not a closed connection")
    }

    /// The next reply; `None` if the server closed the connection.
    pub async fn try_reply(&mut self) -> Option<Reply> {
        let f = self.frame().await?;
        let mut r = R(&f);
        let (xid, zxid, err) = (r.i32(), r.i64(), r.i32());
        Some(Reply {
            xid,
            zxid,
            err,
            body: r.0.to_vec(),
        })
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

/// Event types (Watcher.Event.EventType), named as there.
#[allow(missing_docs)]
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

impl<S: Io> Raw<S> {
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
