//! A test certificate authority (rcgen) and a TLS client for [`crate::wire::Raw`].
//!
//! Certificates are made fresh per test: a self-signed CA ([`ca`]) issues server and client
//! certificates for `localhost` and `127.0.0.1` ([`issue`]), valid now or long expired, with
//! the subject `CN=<cn>,O=Ferrokeeper Tests`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::wire::within;

/// A self-signed certificate authority.
pub struct Ca {
    /// Its certificate.
    pub cert: rcgen::Certificate,
    /// Its key.
    pub key: rcgen::KeyPair,
}

/// A certificate [`issue`]d by a [`Ca`], with its key.
pub struct Issued {
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// Its private key (PKCS#8 DER).
    pub key: PrivatePkcs8KeyDer<'static>,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PEM).
    pub key_pem: String,
}

/// A fresh CA named `CN=<name>`, for signing certificates and CRLs.
pub fn ca(name: &str) -> Ca {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A certificate for `localhost` and `127.0.0.1` with the subject
/// `CN=<cn>,O=Ferrokeeper Tests`, signed by `ca`: for a server (serverAuth) or a client
/// (clientAuth); `expired` makes it valid in 2001 only.
pub fn issue(ca: &Ca, cn: &str, server: bool, expired: bool) -> Issued {
    let eku = if server {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    };
    issue_for(ca, cn, vec![eku], expired)
}

/// A certificate for an ensemble member (`localhost`, `127.0.0.1`, `CN=<cn>,O=Ferrokeeper
/// Tests`), signed by `ca`: it serves its peer ports and presents itself when dialling
/// them, so it is both a server and a client certificate (serverAuth and clientAuth).
pub fn issue_member(ca: &Ca, cn: &str) -> Issued {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    issue_for(ca, cn, vec![ServerAuth, ClientAuth], false)
}

fn issue_for(
    ca: &Ca,
    cn: &str,
    ekus: Vec<rcgen::ExtendedKeyUsagePurpose>,
    expired: bool,
) -> Issued {
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "Ferrokeeper Tests");
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.extended_key_usages = ekus;
    if expired {
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(2002, 1, 1);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Issued {
        der: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Issued {
    /// Writes `dir/NAME-cert.pem`, `dir/NAME-key.pem` and `dir/NAME.pem` (the key, then the
    /// certificate: a PEM key store as ZooKeeper reads one); returns the last.
    pub fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        std::fs::write(dir.join(format!("{name}-cert.pem")), &self.cert_pem).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), &self.key_pem).unwrap();
        let both = dir.join(format!("{name}.pem"));
        std::fs::write(&both, format!("{}{}", self.key_pem, self.cert_pem)).unwrap();
        both
    }
}

/// A rustls client (ring, safe defaults) trusting only `ca`, presenting `client` if given.
pub fn client_config(
    ca: &CertificateDer<'static>,
    client: Option<&Issued>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    match client {
        Some(c) => b
            .with_client_auth_cert(vec![c.der.clone()], PrivateKeyDer::Pkcs8(c.key.clone_key()))
            .unwrap(),
        None => b.with_no_client_auth(),
    }
}

/// A TLS connection to `addr` (server name `localhost`) trusting `ca`, presenting `client`
/// if given; the error when the handshake fails.
pub async fn connect(
    addr: &str,
    ca: &CertificateDer<'static>,
    client: Option<&Issued>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let cfg = client_config(ca, client);
    let tcp = within("connect", TcpStream::connect(addr)).await?;
    let conn = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let mut s = within(
        "TLS handshake",
        conn.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await?;
    // TLS 1.3 reports a refused client certificate only with the server's first record:
    // make the server speak (it answers nothing to a 0-length read).
    s.flush().await?;
    Ok(s)
}
