//! HTTPS for the AdminServer (`JettyAdminServer` with `admin.forceHttps` or
//! `admin.portUnification`): an axum [`Listener`] that hands over connections once their
//! TLS handshake is done, or, with port unification, plaintext ones too, told apart by the
//! first byte (a TLS handshake record starts with 0x16).
//!
//! ```text
//!   TcpListener ─► accept task ─spawn─► peek / handshake (bounded) ─► channel ─► axum::serve
//! ```
//!
//! Handshakes run in their own tasks, so a client that never finishes one delays nobody;
//! each is bounded by the handshake timeout. The TLS material is reloaded when its files
//! change, as for the client port ([`crate::tls::TlsServer::config`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::tls::TlsServer;

/// The AdminServer's TLS settings.
#[derive(Debug, Clone)]
pub struct AdminTls {
    /// The certificates (the quorum key and trust stores).
    pub server: Arc<TlsServer>,
    /// `admin.forceHttps`: TLS only (else `admin.portUnification`: TLS or plaintext).
    pub force_https: bool,
}

/// An accepted AdminServer connection: plaintext (port unification) or TLS.
pub type AdminStream =
    tokio_util::either::Either<TcpStream, Box<tokio_rustls::server::TlsStream<TcpStream>>>;

/// Connections whose handshake is done, for `axum::serve`.
pub struct AdminListener {
    ready: mpsc::Receiver<(AdminStream, SocketAddr)>,
    local: SocketAddr,
}

impl AdminListener {
    /// Accepts on `tcp` until `shutdown` becomes true (or the listener is dropped).
    pub fn spawn(
        tcp: TcpListener,
        tls: AdminTls,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = tcp.accept() => a,
                    _ = shutdown.changed() => return,
                    _ = tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("AdminServer accept failed: {e}");
                        continue;
                    }
                };
                let (tx, tls) = (tx.clone(), tls.clone());
                tokio::spawn(async move {
                    let bound = tls.server.options().handshake_timeout;
                    match tokio::time::timeout(bound, handshake(stream, &tls)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!("AdminServer TLS handshake with {peer} failed: {e}")
                        }
                        Err(_) => {
                            tracing::debug!("AdminServer TLS handshake with {peer} timed out")
                        }
                    }
                });
            }
        });
        Ok(AdminListener { ready, local })
    }
}

/// With port unification, a first byte other than a TLS handshake record's is plaintext.
async fn handshake(stream: TcpStream, tls: &AdminTls) -> io::Result<AdminStream> {
    if !tls.force_https {
        let mut first = [0u8; 1];
        let n = stream.peek(&mut first).await?;
        if n == 0 || first[0] != crate::conn::TLS_HANDSHAKE_RECORD {
            return Ok(AdminStream::Left(stream));
        }
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.config());
    Ok(AdminStream::Right(Box::new(acceptor.accept(stream).await?)))
}

impl Listener for AdminListener {
    type Io = AdminStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Who is asking, as the AdminServer's handlers see it: the peer address, and with a
/// verified client certificate (`admin.needClientAuth`) its subject in RFC 2253 form (what
/// the `x509` scheme of `snapshot`/`restore` authenticates as).
#[derive(Debug, Clone)]
pub struct AdminPeer {
    /// The peer's address.
    pub addr: SocketAddr,
    /// The client certificate's subject, if one was presented and verified.
    pub subject: Option<String>,
}

impl Connected<IncomingStream<'_, TcpListener>> for AdminPeer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        AdminPeer {
            addr: *stream.remote_addr(),
            subject: None,
        }
    }
}

impl Connected<IncomingStream<'_, AdminListener>> for AdminPeer {
    fn connect_info(stream: IncomingStream<'_, AdminListener>) -> Self {
        let subject = match stream.io() {
            AdminStream::Right(tls) => tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| crate::tls::subject_rfc2253(c)),
            AdminStream::Left(_) => None,
        };
        AdminPeer {
            addr: *stream.remote_addr(),
            subject,
        }
    }
}
