//! The client wire, as little of it as a load generator needs: the connection (plain TCP
//! or TLS, [`Stream`]), the handshake, request frames (built once per key with zk-proto's
//! records and reused with the xid patched) and reply headers.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use zk_proto::data::{Acl, Id};
use zk_proto::handshake::{self, ConnectShape};
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::proto::{
    ConnectRequest, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest,
    GetDataRequest, ReplyHeader, SetDataRequest,
};
use zk_proto::request::Request;
use zk_proto::{Decoder, JString, Limits, Record};

use crate::BenchError;

/// xid of watch notifications.
pub const NOTIFICATION_XID: i32 = -1;
/// xid of pings.
pub const PING_XID: i32 = -2;

/// Where the benchmark's nodes live.
pub const ROOT: &str = "/zkbench";

/// Keys per parent node (as ZooKeeper's reference load: 1,000 children per parent).
pub const KEYS_PER_PARENT: u64 = 1000;

/// The parent of key `i`: `/zkbench/k/p00000`.
pub fn parent_path(i: u64) -> String {
    format!("{ROOT}/k/p{:05}", i / KEYS_PER_PARENT)
}

/// Key `i`'s path, about 30 bytes: `/zkbench/k/p00012/n0012345`.
pub fn key_path(i: u64) -> String {
    format!("{}/n{i:07}", parent_path(i))
}

/// world:anyone, all permissions.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: Some(JString::from("world")),
            id: Some(JString::from("anyone")),
        },
    }]
}

/// A whole frame for `req` with the length prefix and `xid`.
pub fn frame(req: &Request, xid: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(12 + req.body_len());
    buf.extend_from_slice(&[0; 4]);
    req.encode_frame(xid, &mut buf);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Appends a pre-built frame to `out` with its xid replaced.
pub fn put_with_xid(out: &mut BytesMut, frame: &[u8], xid: i32) {
    let at = out.len();
    out.extend_from_slice(frame);
    out[at + 4..at + 8].copy_from_slice(&xid.to_be_bytes());
}

fn path(p: &str) -> Option<JString> {
    Some(JString::from(p))
}

/// getData(path, watch).
pub fn get_data(p: &str, watch: bool) -> Request {
    Request::GetData(GetDataRequest {
        path: path(p),
        watch,
    })
}

/// exists(path, watch).
pub fn exists(p: &str, watch: bool) -> Request {
    Request::Exists(ExistsRequest {
        path: path(p),
        watch,
    })
}

/// getChildren(path, no watch).
pub fn children(p: &str) -> Request {
    Request::GetChildren(GetChildrenRequest {
        path: path(p),
        watch: false,
    })
}

/// setData(path, data, any version).
pub fn set_data(p: &str, data: &Bytes) -> Request {
    Request::SetData(SetDataRequest {
        path: path(p),
        data: Some(data.clone()),
        version: -1,
    })
}

/// create(path, data, world:anyone, persistent).
pub fn create(p: &str, data: &Bytes) -> Request {
    Request::Create {
        op: zk_proto::multi::CreateOp::Create,
        request: CreateRequest {
            path: path(p),
            data: Some(data.clone()),
            acl: Some(open_acl()),
            flags: 0,
        },
    }
}

/// delete(path, any version).
pub fn delete(p: &str) -> Request {
    Request::Delete(DeleteRequest {
        path: path(p),
        version: -1,
    })
}

/// multi(setData a, setData b).
pub fn multi_set(a: &str, b: &str, data: &Bytes) -> Request {
    let set = |p: &str| {
        MultiOp::SetData(SetDataRequest {
            path: path(p),
            data: Some(data.clone()),
            version: -1,
        })
    };
    Request::Multi(MultiRequest {
        ops: vec![set(a), set(b)],
    })
}

/// Takes one complete frame (without its length prefix) off the front of `buf`, if there is
/// one.
pub fn take_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, BenchError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if !(0..=64 << 20).contains(&len) {
        return Err(BenchError::Protocol(format!("frame length {len}")));
    }
    let len = len as usize;
    if buf.len() < 4 + len {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The header of a reply frame.
pub fn reply_header(frame: Bytes) -> Result<ReplyHeader, BenchError> {
    let mut d = Decoder::with_limits(frame, Limits::default());
    ReplyHeader::decode(&mut d).map_err(|e| BenchError::Protocol(format!("reply header: {e}")))
}

/// A connection to the server: plain TCP, or TLS over TCP.
///
/// An enum rather than a trait object so the plaintext path stays a direct call on the
/// `TcpStream` (one predictable branch per read or write, no allocation, no vtable).
pub enum Stream {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS (boxed: the rustls state is large and would make every plain stream as large).
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// Writes all of `buf` and pushes it to the socket. A TLS stream may keep encrypted
    /// records buffered when the socket is full; the flush sends them, so a request never
    /// waits in the client while it waits for a reply.
    pub async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_all(buf).await?;
        if let Stream::Tls(_) = self {
            self.flush().await?;
        }
        Ok(())
    }

    /// The negotiated protocol version and cipher suite (`TLSv1_3 TLS13_AES_256_GCM_SHA384`),
    /// or `None` for plaintext.
    pub fn tls_session(&self) -> Option<String> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => {
                let c = s.get_ref().1;
                let version = c
                    .protocol_version()
                    .map_or_else(|| "?".to_string(), |v| format!("{v:?}"));
                let suite = c
                    .negotiated_cipher_suite()
                    .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
                Some(format!("{version} {suite}"))
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The client side of TLS: the CA certificates the server's certificate must chain to, a
/// client certificate if the server asks for one, and the name the server's certificate
/// must carry. Cloning is cheap (the rustls configuration is shared).
#[derive(Clone, Serialize)]
pub struct TlsClient {
    #[serde(skip)]
    connector: tokio_rustls::TlsConnector,
    /// The CA file (PEM).
    pub ca: PathBuf,
    /// The client certificate file (PEM), if one is presented.
    pub client_cert: Option<PathBuf>,
    /// The name checked in the server's certificate; `None`: the host of the address.
    pub server_name: Option<String>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("ca", &self.ca)
            .field("client_cert", &self.client_cert)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>, BenchError> {
    std::fs::read(path).map_err(|e| BenchError::Tls(format!("{what} {}: {e}", path.display())))
}

impl TlsClient {
    /// Trusts the certificates in `ca` (PEM); presents `client` (certificate chain PEM,
    /// private key PEM) when given; checks `server_name` in the server's certificate, or
    /// the host of the address connected to. TLS 1.2 and 1.3 are offered (rustls' ring
    /// provider and its default cipher suites); the server picks.
    pub fn new(
        ca: &Path,
        client: Option<(&Path, &Path)>,
        server_name: Option<&str>,
    ) -> Result<TlsClient, BenchError> {
        let bad = |what: &str, path: &Path, e: &dyn fmt::Display| {
            BenchError::Tls(format!("{what} {}: {e}", path.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&read_file("CA file", ca)?) {
            let cert = cert.map_err(|e| bad("CA file", ca, &e))?;
            roots.add(cert).map_err(|e| bad("CA file", ca, &e))?;
        }
        if roots.is_empty() {
            return Err(bad("CA file", ca, &"no certificate"));
        }
        if let Some(name) = server_name {
            ServerName::try_from(name.to_string())
                .map_err(|e| BenchError::Tls(format!("server name {name}: {e}")))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| BenchError::Tls(e.to_string()))?
        .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert_path, key_path)) => {
                let chain = CertificateDer::pem_slice_iter(&read_file("certificate", cert_path)?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("certificate", cert_path, &e))?;
                if chain.is_empty() {
                    return Err(bad("certificate", cert_path, &"no certificate"));
                }
                let key = PrivateKeyDer::from_pem_slice(&read_file("key", key_path)?)
                    .map_err(|e| bad("key", key_path, &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad("key", key_path, &e))?
            }
        };
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            ca: ca.to_path_buf(),
            client_cert: client.map(|(c, _)| c.to_path_buf()),
            server_name: server_name.map(str::to_string),
        })
    }

    /// The name to check for a connection to `addr` (`host:port`, `[v6]:port`).
    fn name_for(&self, addr: &str) -> Result<ServerName<'static>, BenchError> {
        let host = match &self.server_name {
            Some(n) => n.as_str(),
            None => addr
                .rsplit_once(':')
                .map_or(addr, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']'),
        };
        ServerName::try_from(host.to_string())
            .map_err(|e| BenchError::Tls(format!("server name {host}: {e}")))
    }
}

/// Where the server is and how to talk to it.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// `host:port`, or several separated by commas (an ensemble's members): session `i` of a
    /// run connects to the `i % n`-th ([`Endpoint::for_session`]), single connections to the
    /// first.
    pub addr: String,
    /// TLS settings; `None`: plaintext.
    pub tls: Option<TlsClient>,
}

impl Endpoint {
    /// A plaintext endpoint.
    pub fn plain(addr: &str) -> Endpoint {
        Endpoint {
            addr: addr.to_string(),
            tls: None,
        }
    }

    /// A TLS endpoint.
    pub fn tls(addr: &str, tls: TlsClient) -> Endpoint {
        Endpoint {
            addr: addr.to_string(),
            tls: Some(tls),
        }
    }

    /// The hosts of `addr` (`host:port` each), in order; empty entries are skipped.
    pub fn hosts(&self) -> Vec<&str> {
        self.addr
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect()
    }

    /// The endpoint session `index` uses: the `index % n`-th of the `n` hosts, with the same
    /// TLS settings. Spreads a run's sessions evenly over an ensemble's members.
    pub fn for_session(&self, index: usize) -> Endpoint {
        let hosts = self.hosts();
        let addr = match hosts.len() {
            0 => self.addr.clone(),
            n => hosts[index % n].to_string(),
        };
        Endpoint {
            addr,
            tls: self.tls.clone(),
        }
    }

    /// One endpoint per host (see [`Endpoint::hosts`]).
    pub fn each_host(&self) -> Vec<Endpoint> {
        (0..self.hosts().len().max(1))
            .map(|i| self.for_session(i))
            .collect()
    }

    /// Opens the connection (TCP, then the TLS handshake if TLS is on) to the first host. A
    /// refused handshake (an untrusted certificate, a name mismatch) is a
    /// [`BenchError::Tls`].
    pub async fn open(&self) -> Result<Stream, BenchError> {
        let one = self.for_session(0);
        let addr = one.addr.as_str();
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => {
                let name = tls.name_for(addr)?;
                let s = tls
                    .connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| BenchError::Tls(format!("TLS handshake with {addr}: {e}")))?;
                Ok(Stream::Tls(Box::new(s)))
            }
        }
    }
}

/// Opens a connection and a session (`timeout_ms` requested); returns the stream and the
/// session id.
pub async fn connect(ep: &Endpoint, timeout_ms: i32) -> Result<(Stream, i64), BenchError> {
    let mut s = ep.open().await?;
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: false,
    };
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    handshake::encode_request(&req, ConnectShape::WithReadOnly, &mut buf);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    s.send(&buf).await?;
    let mut rbuf = BytesMut::with_capacity(64);
    loop {
        if let Some(f) = take_frame(&mut rbuf)? {
            let (resp, _) = handshake::decode_response(f, Limits::default())
                .map_err(|e| BenchError::Protocol(format!("connect response: {e}")))?;
            if resp.session_id == 0 || resp.time_out <= 0 {
                return Err(BenchError::Protocol("session refused".into()));
            }
            if !rbuf.is_empty() {
                return Err(BenchError::Protocol("bytes after the handshake".into()));
            }
            return Ok((s, resp.session_id));
        }
        if read_more(&mut s, &mut rbuf).await? == 0 {
            return Err(BenchError::Closed);
        }
    }
}

/// Reads what is available into `buf`. A TLS alert from the server (a refused client
/// certificate shows up at the first read under TLS 1.3) is a [`BenchError::Tls`].
pub async fn read_more(s: &mut Stream, buf: &mut BytesMut) -> Result<usize, BenchError> {
    match s.read_buf(buf).await {
        Ok(n) => Ok(n),
        Err(e) if matches!(s, Stream::Tls(_)) && e.kind() == io::ErrorKind::InvalidData => {
            Err(BenchError::Tls(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends closeSession and waits for its reply (bounded by the caller).
pub async fn close_session(s: &mut Stream, xid: i32) -> Result<(), BenchError> {
    s.send(&frame(&Request::CloseSession, xid)).await?;
    let mut rbuf = BytesMut::with_capacity(256);
    loop {
        while let Some(f) = take_frame(&mut rbuf)? {
            if reply_header(f)?.xid == xid {
                return Ok(());
            }
        }
        match s.read_buf(&mut rbuf).await {
            // Some servers close without answering (or reset); the session is closed either
            // way.
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_are_about_thirty_bytes_and_grouped_by_thousand() {
        assert_eq!(key_path(12_345), "/zkbench/k/p00012/n0012345");
        assert_eq!(key_path(999), "/zkbench/k/p00000/n0000999");
        assert_eq!(parent_path(1000), "/zkbench/k/p00001");
        assert_eq!(key_path(0).len(), 26);
    }

    #[test]
    fn frames_carry_length_and_patched_xid() {
        let f = frame(&get_data("/a", false), 0);
        // header 8 + path (4 + 2) + watch 1
        assert_eq!(&f[..4], &15i32.to_be_bytes());
        assert_eq!(f.len(), 19);
        let mut out = BytesMut::new();
        put_with_xid(&mut out, &f, 77);
        assert_eq!(&out[4..8], &77i32.to_be_bytes());
        assert_eq!(&out[8..12], &4i32.to_be_bytes()); // getData
        let mut b = out.clone();
        let body = take_frame(&mut b).unwrap().unwrap();
        assert_eq!(body.len(), 15);
        assert!(b.is_empty());
    }

    #[test]
    fn sessions_spread_over_the_hosts_of_a_list() {
        let ep = Endpoint::plain("127.0.0.1:1, 127.0.0.1:2,,127.0.0.1:3");
        assert_eq!(ep.hosts(), ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);
        let picked: Vec<String> = (0..5).map(|i| ep.for_session(i).addr).collect();
        assert_eq!(
            picked,
            [
                "127.0.0.1:1",
                "127.0.0.1:2",
                "127.0.0.1:3",
                "127.0.0.1:1",
                "127.0.0.1:2"
            ]
        );
        let each: Vec<String> = ep.each_host().into_iter().map(|e| e.addr).collect();
        assert_eq!(each, ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);
        // One host: every session on it.
        let one = Endpoint::plain("h:9");
        assert_eq!(one.for_session(7).addr, "h:9");
        assert_eq!(one.each_host().len(), 1);
    }

    #[test]
    fn partial_frames_wait_and_bad_lengths_fail() {
        let mut b = BytesMut::from(&[0u8, 0, 0, 5, 1, 2][..]);
        assert!(take_frame(&mut b).unwrap().is_none());
        let mut b = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xf0][..]);
        assert!(take_frame(&mut b).is_err());
    }
}
