//! Quorum TLS, configured as Apache ZooKeeper 3.8's `QuorumX509Util` is: `sslQuorum=true`
//! puts both peer ports (election and quorum) under TLS with the `ssl.quorum.*` key and
//! trust stores (JKS, PKCS12 or PEM, as for the client port); `portUnification=true` makes
//! both listeners accept TLS *and* plaintext peers (Java's `UnifiedServerSocket`: the first
//! byte tells a TLS handshake from a peer message), so an ensemble can move to TLS one
//! member at a time:
//!
//! 1. every member gets the stores and `portUnification=true` (still dialling in the clear);
//! 2. every member gets `sslQuorum=true` (dialling with TLS, still accepting both);
//! 3. every member drops `portUnification` (TLS only).
//!
//! Both sides present their certificate and check the other's (`ssl.quorum.clientAuth`,
//! default `need`); with `ssl.quorum.hostnameVerification` (default true) each side also
//! checks that the peer's certificate names the peer's address, on the dialling side and
//! on the accepting side alike (`QuorumX509Util.shouldVerifyClientHostname`). The stores
//! are re-read when their files change (`sslQuorumReloadCertFiles`; checked per new
//! connection). A peer whose certificate does not verify is refused with a log line naming
//! it and the reason, and never gets to send a notification or a packet.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_util::either::Either;
use zk_zab::wire::election::PeerAddress;

use crate::conn::TLS_HANDSHAKE_RECORD;
use crate::tls::{verify_peer_address, TlsClient, TlsOptions, TlsServer};

/// A connection between members: plain TCP (`Left`), or TLS over it (`Right`, either side
/// of the handshake).
pub type PeerStream = Either<TcpStream, Box<tokio_rustls::TlsStream<TcpStream>>>;

/// The peer ports' TLS settings and certificates.
pub struct QuorumTls {
    server: TlsServer,
    client: TlsClient,
    /// `sslQuorum`: dial other members with TLS (and, without port unification, accept
    /// only TLS).
    pub dial_tls: bool,
    /// `portUnification`: accept TLS and plaintext peers on both ports.
    pub unified: bool,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumTls")
            .field("dial_tls", &self.dial_tls)
            .field("unified", &self.unified)
            .field("options", self.server.options())
            .finish_non_exhaustive()
    }
}

impl QuorumTls {
    /// From zoo.cfg (`sslQuorum`, `portUnification`) and the `ssl.quorum.*` properties;
    /// `None` when neither is set. The stores are loaded now: a member that cannot use
    /// them does not start (rather than failing every peer connection later).
    pub fn from_config(cfg: &zk_config::Config) -> Result<Option<Self>, String> {
        if !cfg.ssl_quorum && !cfg.quorum_port_unification {
            return Ok(None);
        }
        let why = |e: crate::tls::TlsError| {
            let what = if cfg.ssl_quorum {
                "sslQuorum=true"
            } else {
                "portUnification=true"
            };
            format!("{what} needs the ssl.quorum.* key and trust stores: {e}")
        };
        let opts = TlsOptions::for_quorum(&cfg.properties).map_err(why)?;
        for (key, feature) in [("crl", "CRL"), ("ocsp", "OCSP")] {
            let prop = format!("zookeeper.ssl.quorum.{key}");
            if cfg.properties.get_boolean(&prop) {
                return Err(format!(
                    "ssl.quorum.{key}=true: {feature} checks on peer certificates are not \
                     supported (a member will not run the quorum protocol with weaker checks \
                     than configured)"
                ));
            }
        }
        let server = TlsServer::new(opts.clone()).map_err(why)?;
        let client = TlsClient::new(opts).map_err(why)?;
        Ok(Some(QuorumTls {
            server,
            client,
            dial_tls: cfg.ssl_quorum,
            unified: cfg.quorum_port_unification,
        }))
    }

    /// `ssl.quorum.handshakeDetectionTimeoutMillis`.
    pub fn handshake_timeout(&self) -> Duration {
        self.server.options().handshake_timeout
    }

    /// Takes an accepted connection from `peer` on the `port` (for log lines) through the
    /// TLS handshake (or, with port unification, lets a plaintext peer through), within
    /// the handshake timeout.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        port: &str,
    ) -> Result<PeerStream, String> {
        let limit = self.handshake_timeout();
        if self.unified {
            let mut first = [0u8; 1];
            match tokio::time::timeout(limit, tcp.peek(&mut first)).await {
                Ok(Ok(0)) => return Err("closed before sending anything".into()),
                // A peer's plaintext never starts with it: the election port's initial
                // message starts with a protocol version (0xff..) or a sid (0x00..), the
                // quorum port's first record with a length or a SASL status below 2^24.
                Ok(Ok(_)) if first[0] != TLS_HANDSHAKE_RECORD => {
                    tracing::debug!("{port}: {peer} speaks plaintext (port unification)");
                    return Ok(Either::Left(tcp));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("read: {e}")),
                Err(_) => return Err(format!("sent nothing within {limit:?}")),
            }
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(self.server.config());
        let tls = match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Err(_) => return Err(format!("no TLS handshake within {limit:?}")),
        };
        let leaf = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
        if let (true, Some(leaf)) = (self.server.options().hostname_verification, leaf) {
            let leaf = leaf.clone();
            verify_peer_address(peer.ip(), &leaf).await?;
        }
        Ok(Either::Right(Box::new(tokio_rustls::TlsStream::Server(
            tls,
        ))))
    }

    /// Takes a connection this member dialled to `addr` through the TLS handshake when
    /// `sslQuorum` is set (as it is: in the clear otherwise), within `limit`.
    pub async fn connect(
        &self,
        tcp: TcpStream,
        addr: &PeerAddress,
        limit: Duration,
    ) -> Result<PeerStream, String> {
        if !self.dial_tls {
            return Ok(Either::Left(tcp));
        }
        let ip = tcp.peer_addr().map(|a| a.ip());
        // The name only feeds SNI; the certificate is checked against the address below.
        let name = match addr.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(addr.host.clone())
                .map_err(|e| format!("{}: not a host name TLS accepts: {e}", addr.host))?,
        };
        let connector = tokio_rustls::TlsConnector::from(self.client.config());
        let tls = match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}")),
            Err(_) => return Err(format!("no TLS handshake within {limit:?}")),
        };
        if self.client.options().hostname_verification {
            let ip = ip.map_err(|e| format!("peer address: {e}"))?;
            let leaf = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or("the peer sent no certificate")?
                .clone();
            verify_peer_address(ip, &leaf).await?;
        }
        Ok(Either::Right(Box::new(tokio_rustls::TlsStream::Client(
            tls,
        ))))
    }
}

/// Wraps an accepted connection: through `tls` when set, else as it is.
pub(super) async fn accepted(
    tls: Option<&Arc<QuorumTls>>,
    tcp: TcpStream,
    peer: SocketAddr,
    port: &str,
) -> Result<PeerStream, String> {
    match tls {
        Some(tls) => tls.accept(tcp, peer, port).await,
        None => Ok(Either::Left(tcp)),
    }
}

/// Wraps a dialled connection: through `tls` when set, else as it is.
pub(super) async fn dialled(
    tls: Option<&Arc<QuorumTls>>,
    tcp: TcpStream,
    addr: &PeerAddress,
    limit: Duration,
) -> Result<PeerStream, String> {
    match tls {
        Some(tls) => tls.connect(tcp, addr, limit).await,
        None => Ok(Either::Left(tcp)),
    }
}
