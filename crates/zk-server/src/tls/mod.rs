//! TLS for client connections, configured as Apache ZooKeeper's `ClientX509Util` is
//! (`zookeeper.ssl.*` system properties; zoo.cfg's `ssl.*` keys land there too):
//!
//! | property (`zookeeper.` prefix)     | meaning                                     |
//! |------------------------------------|---------------------------------------------|
//! | `ssl.keyStore.location/password/type`   | the server's key and certificate chain |
//! | `ssl.trustStore.location/password/type` | CAs client certificates must chain to  |
//! | `ssl.clientAuth`                   | `need` (default), `want`, `none`            |
//! | `ssl.protocol`, `ssl.enabledProtocols` | `TLSv1.2` (default), `TLSv1.3`          |
//! | `ssl.ciphersuites`                 | IANA names, comma-separated                 |
//! | `ssl.handshakeDetectionTimeoutMillis` | bound on the handshake (default 5000)    |
//!
//! Certificates are reloaded when the key or trust store file changes (checked when a TLS
//! connection arrives: size and modification time), so rewriting `ssl.keyStore.location`
//! in place takes effect for the next connection without a restart. A store that fails to
//! load keeps the previous configuration serving and logs why.
//!
//! A verified client certificate gives the connection the identity `x509:<subject>` (the
//! subject in RFC 2253 form, as `X500Principal.getName()`), plus `super:<subject>` when it
//! equals `zookeeper.X509AuthenticationProvider.superUser`.

pub mod keystore;
pub mod v1;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::config::{Secret, SystemProperties};
use keystore::{StoreError, StoreType};

/// Why TLS cannot be set up. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A required property is missing.
    #[error("{0} is not set")]
    Missing(String),
    /// A property has a value ZooKeeper would refuse.
    #[error("{key}={value}: {why}")]
    Invalid {
        /// The property.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// `ssl.clientAuth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client certificate is required.
    Need,
    /// A client certificate is requested; clients without one are served.
    Want,
    /// No client certificate is requested.
    None,
}

#[derive(Debug, Clone)]
struct StoreRef {
    path: PathBuf,
    kind: StoreType,
    password: Secret,
}

impl StoreRef {
    /// `<prefix><which>.location`, `.password`, `.passwordPath`, `.type`, where `prefix`
    /// is `zookeeper.ssl.` (`ClientX509Util`) or `zookeeper.ssl.quorum.`
    /// (`QuorumX509Util`) and `which` is `keyStore` or `trustStore`.
    fn from_properties(
        sys: &SystemProperties,
        prefix: &str,
        which: &str,
    ) -> Result<Option<Self>, TlsError> {
        let key = |suffix: &str| format!("{prefix}{which}.{suffix}");
        let Some(path) = sys.get(&key("location")).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let path = PathBuf::from(path);
        let (pw, pw_path) = (key("password"), key("passwordPath"));
        let password = match (sys.get(&pw), sys.get(&pw_path).filter(|p| !p.is_empty())) {
            (Some(p), _) => p.to_string(),
            // X509Util.getPasswordFromConfigPropertyOrFile: the file's content.
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|source| StoreError::Io {
                    path: file.to_string(),
                    source,
                })?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            (None, None) => String::new(),
        };
        let kind = StoreType::resolve(sys.get(&key("type")), &path)?;
        Ok(Some(StoreRef {
            path,
            kind,
            password: Secret::new(password),
        }))
    }

    fn load(&self) -> Result<keystore::Store, StoreError> {
        keystore::load(&self.path, self.kind, self.password.expose())
    }
}

/// TLS settings for the client port(s), from the system properties.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    key_store: StoreRef,
    trust_store: Option<StoreRef>,
    /// `ssl.clientAuth`.
    pub client_auth: ClientAuth,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    cipher_suites: Option<Vec<String>>,
    /// `ssl.handshakeDetectionTimeoutMillis`: a handshake (and, with port unification, the
    /// first bytes) must complete within it.
    pub handshake_timeout: Duration,
    /// `X509AuthenticationProvider.superUser`.
    pub x509_super_user: Option<String>,
    /// `ssl.quorum.hostnameVerification` (default true): the peer's address must be named
    /// by its certificate. Only the peer ports check it (`QuorumX509Util` verifies both
    /// sides); client connections never do (`ClientX509Util`).
    pub hostname_verification: bool,
}

fn protocol(name: &str) -> Option<&'static rustls::SupportedProtocolVersion> {
    match name.trim() {
        "TLSv1.2" => Some(&rustls::version::TLS12),
        "TLSv1.3" => Some(&rustls::version::TLS13),
        // "TLS" means the newest the JDK has; older versions are not offered by rustls.
        "TLS" => Some(&rustls::version::TLS13),
        _ => None,
    }
}

impl TlsOptions {
    /// Reads `zookeeper.ssl.*` (`ClientX509Util`). A key store is required.
    pub fn from_properties(sys: &SystemProperties) -> Result<Self, TlsError> {
        Self::with_prefix(sys, "ssl.")
    }

    /// Reads `zookeeper.ssl.quorum.*` (`QuorumX509Util`: the peer ports with `sslQuorum`
    /// or `portUnification`). A key store is required.
    pub fn for_quorum(sys: &SystemProperties) -> Result<Self, TlsError> {
        Self::with_prefix(sys, "ssl.quorum.")
    }

    /// `X509Util`'s properties under `zookeeper.<short>` (`short` is `ssl.` or
    /// `ssl.quorum.`); errors name them as zoo.cfg does (`<short>keyStore.location`).
    fn with_prefix(sys: &SystemProperties, short: &str) -> Result<Self, TlsError> {
        let prefix = format!("zookeeper.{short}");
        let prop = |k: &str| sys.get(&format!("{prefix}{k}"));
        let key_store = StoreRef::from_properties(sys, &prefix, "keyStore")?
            .ok_or_else(|| TlsError::Missing(format!("{short}keyStore.location")))?;
        let trust_store = StoreRef::from_properties(sys, &prefix, "trustStore")?;
        let client_auth = match prop("clientAuth")
            .map(|s| s.trim().to_ascii_uppercase())
            .as_deref()
        {
            None | Some("") | Some("NEED") => ClientAuth::Need,
            Some("WANT") => ClientAuth::Want,
            Some("NONE") => ClientAuth::None,
            Some(_) => {
                return Err(TlsError::Invalid {
                    key: format!("{short}clientAuth"),
                    value: prop("clientAuth").unwrap_or("").into(),
                    why: "expected need, want or none",
                })
            }
        };
        // SSLContextAndOptions: enabledProtocols, else just ssl.protocol (default TLSv1.2).
        let (key, list) = match prop("enabledProtocols") {
            Some(list) => (format!("{short}enabledProtocols"), list.to_string()),
            None => (
                format!("{short}protocol"),
                prop("protocol").unwrap_or("TLSv1.2").to_string(),
            ),
        };
        let mut versions = Vec::new();
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            match protocol(name) {
                Some(v) if !versions.contains(&v) => versions.push(v),
                Some(_) => {}
                None => {
                    return Err(TlsError::Invalid {
                        key,
                        value: list.clone(),
                        why: "only TLSv1.2 and TLSv1.3 are supported",
                    })
                }
            }
        }
        if versions.is_empty() {
            return Err(TlsError::Invalid {
                key,
                value: list,
                why: "no protocol enabled",
            });
        }
        let cipher_suites = prop("ciphersuites").map(|s| {
            s.split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        });
        let handshake_ms =
            sys.get_integer(&format!("{prefix}handshakeDetectionTimeoutMillis"), 5000);
        let hostname_verification = match prop("hostnameVerification").map(str::trim) {
            None | Some("") => true,
            Some(v) => v.eq_ignore_ascii_case("true"),
        };
        Ok(TlsOptions {
            key_store,
            trust_store,
            client_auth,
            versions,
            cipher_suites,
            handshake_timeout: Duration::from_millis(handshake_ms.max(1) as u64),
            x509_super_user: sys
                .get("zookeeper.X509AuthenticationProvider.superUser")
                .map(str::to_string),
            hostname_verification,
        })
    }

    /// The AdminServer's TLS (`JettyAdminServer` with `admin.forceHttps` or
    /// `admin.portUnification`): the quorum stores (`zookeeper.ssl.quorum.keyStore.*`,
    /// `zookeeper.ssl.quorum.trustStore.*`, read as `QuorumX509Util` names them), a client
    /// certificate required only with `admin.needClientAuth`, TLS 1.2 and 1.3 (Jetty's
    /// defaults; the `ssl.quorum.protocol` family is not applied to it upstream either).
    pub fn for_admin(sys: &SystemProperties, need_client_auth: bool) -> Result<Self, TlsError> {
        const P: &str = "zookeeper.ssl.quorum.";
        let key_store = StoreRef::from_properties(sys, P, "keyStore")?
            .ok_or_else(|| TlsError::Missing("ssl.quorum.keyStore.location".into()))?;
        Ok(TlsOptions {
            key_store,
            trust_store: StoreRef::from_properties(sys, P, "trustStore")?,
            client_auth: if need_client_auth {
                ClientAuth::Need
            } else {
                ClientAuth::None
            },
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            cipher_suites: None,
            handshake_timeout: Duration::from_millis(
                sys.get_integer("zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis", 5000)
                    .max(1) as u64,
            ),
            x509_super_user: sys
                .get("zookeeper.X509AuthenticationProvider.superUser")
                .map(str::to_string),
            hostname_verification: false,
        })
    }

    fn provider(&self) -> Result<rustls::crypto::CryptoProvider, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(wanted) = &self.cipher_suites {
            // Java names TLS 1.3 suites TLS_AES_..., rustls TLS13_AES_...
            let name = |s: &rustls::SupportedCipherSuite| {
                let n = s.suite().as_str().unwrap_or_default().to_string();
                n.strip_prefix("TLS13_")
                    .map(|rest| format!("TLS_{rest}"))
                    .unwrap_or(n)
            };
            provider.cipher_suites.retain(|s| wanted.contains(&name(s)));
            if provider.cipher_suites.is_empty() {
                return Err(TlsError::Invalid {
                    key: "ssl.ciphersuites".into(),
                    value: wanted.join(","),
                    why: "none of these cipher suites is supported (rustls offers the ECDHE AES-GCM and ChaCha20-Poly1305 suites and the TLS 1.3 suites)",
                });
            }
        }
        Ok(provider)
    }

    /// The key store's private key and chain, signing with `provider`.
    fn certified(
        &self,
        provider: &rustls::crypto::CryptoProvider,
    ) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
        let ks = self.key_store.load()?;
        let key = ks.key.ok_or_else(|| StoreError::Bad {
            path: self.key_store.path.display().to_string(),
            what: "no private key in the key store".into(),
        })?;
        if ks.chain.is_empty() {
            return Err(StoreError::Bad {
                path: self.key_store.path.display().to_string(),
                what: "no certificate for the private key".into(),
            }
            .into());
        }
        // The chain is served as it is (the JDK serves version 1 certificates too; webpki
        // would refuse to parse them).
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(Arc::new(rustls::sign::CertifiedKey::new(ks.chain, signing)))
    }

    /// The trust store's certificates (a key store given as trust store: its chain's
    /// certificates count), or the system's CA bundle (the JDK's default trust store).
    fn trusted(&self) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
        let certs: Vec<CertificateDer<'static>> = match &self.trust_store {
            Some(ts) => {
                let s = ts.load()?;
                s.trusted.into_iter().chain(s.chain).collect()
            }
            None => keystore::load(
                Path::new("/etc/ssl/certs/ca-certificates.crt"),
                StoreType::Pem,
                "",
            )
            .map(|s| s.trusted)
            .unwrap_or_default(),
        };
        let mut roots = RootCertStore::empty();
        for c in &certs {
            if let Err(e) = roots.add(c.clone()) {
                tracing::warn!("trust store: skipping a certificate rustls refuses: {e}");
            }
        }
        Ok((roots, certs))
    }

    /// Builds a rustls server configuration from the stores as they are now.
    pub fn build(&self) -> Result<ServerConfig, TlsError> {
        let provider = Arc::new(self.provider()?);
        let certified = self.certified(&provider)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Need | ClientAuth::Want => {
                let (roots, certs) = self.trusted()?;
                let v =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let v = if self.client_auth == ClientAuth::Want {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                let v = v.build().map_err(|e| TlsError::Rustls(e.to_string()))?;
                builder.with_client_cert_verifier(Arc::new(v1::V1Tolerant {
                    inner: v,
                    roots: certs,
                }))
            }
        };
        Ok(builder.with_cert_resolver(Arc::new(v1::SingleCert(certified))))
    }

    /// Builds a rustls client configuration (a member dialling another member's peer
    /// port): the key store's certificate is presented, the peer's chain must lead to the
    /// trust store. The peer's *name* is not checked here: Apache ZooKeeper checks the
    /// peer's address (and its reverse-resolved name) instead, which
    /// [`verify_peer_address`] does once the handshake is done.
    pub fn build_client(&self) -> Result<ClientConfig, TlsError> {
        let provider = Arc::new(self.provider()?);
        let certified = self.certified(&provider)?;
        let (roots, _) = self.trusted()?;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(v1::ChainOnly(inner)))
            .with_client_cert_resolver(Arc::new(v1::SingleCert(certified))))
    }

    fn stamp(&self) -> Stamp {
        let of = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?)))
        };
        let mut v = vec![of(&self.key_store.path)];
        if let Some(t) = &self.trust_store {
            v.push(of(&t.path));
        }
        v
    }
}

/// Size and modification time of each store file (`None`: unreadable).
type Stamp = Vec<Option<(u64, SystemTime)>>;

/// A rustls configuration rebuilt when the stores change on disk (checked each time one is
/// asked for: size and modification time of each store file).
pub struct Reloading<T> {
    opts: TlsOptions,
    make: fn(&TlsOptions) -> Result<T, TlsError>,
    current: Mutex<(Stamp, Arc<T>)>,
}

/// The TLS side of a server port.
pub type TlsServer = Reloading<ServerConfig>;
/// The TLS side of a member dialling a peer port.
pub type TlsClient = Reloading<ClientConfig>;

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Loads the stores now; fails when they cannot be used.
    pub fn new(opts: TlsOptions) -> Result<Self, TlsError> {
        Reloading::with(opts, TlsOptions::build)
    }
}

impl TlsClient {
    /// Loads the stores now; fails when they cannot be used.
    pub fn new(opts: TlsOptions) -> Result<Self, TlsError> {
        Reloading::with(opts, TlsOptions::build_client)
    }
}

impl<T> Reloading<T> {
    fn with(
        opts: TlsOptions,
        make: fn(&TlsOptions) -> Result<T, TlsError>,
    ) -> Result<Self, TlsError> {
        let stamp = opts.stamp();
        let cfg = Arc::new(make(&opts)?);
        Ok(Reloading {
            opts,
            make,
            current: Mutex::new((stamp, cfg)),
        })
    }

    /// The options.
    pub fn options(&self) -> &TlsOptions {
        &self.opts
    }

    /// The configuration for a new connection, reloading the stores first if they changed.
    pub fn config(&self) -> Arc<T> {
        let stamp = self.opts.stamp();
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.0 != stamp {
            match (self.make)(&self.opts) {
                Ok(cfg) => {
                    tracing::info!("TLS key/trust store changed on disk: certificates reloaded");
                    *cur = (stamp, Arc::new(cfg));
                }
                Err(e) => {
                    // A half-written file: keep serving with what we had, retry next time.
                    tracing::warn!("TLS stores changed but cannot be loaded ({e}); keeping the previous certificates");
                }
            }
        }
        cur.1.clone()
    }
}

/// `ZKTrustManager.performHostVerification`: the certificate `leaf` (DER) must name `ip`,
/// the peer's address: as an IP address in its subject alternative names, or else by a
/// host name (its DNS names, or its common name when it has none) that resolves to `ip`
/// (Java reverse-resolves the address and compares names; resolving forward accepts the
/// same certificates on a consistent /etc/hosts or DNS).
pub async fn verify_peer_address(ip: std::net::IpAddr, leaf: &[u8]) -> Result<(), String> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(leaf).map_err(|e| format!("unreadable certificate: {e}"))?;
    let mut names = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        ips.push(std::net::IpAddr::from(v4));
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        ips.push(std::net::IpAddr::from(v6));
                    }
                }
                _ => {}
            }
        }
    }
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    };
    if ips.contains(&ip) {
        return Ok(());
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.push(cn.to_string());
            }
        }
    }
    for name in &names {
        if name.starts_with('*') {
            continue;
        }
        if let Ok(addrs) = tokio::net::lookup_host((name.as_str(), 0)).await {
            if addrs.map(|a| a.ip()).any(|a| a == ip) {
                return Ok(());
            }
        }
    }
    Err(format!(
        "the certificate of {ip} names neither that address nor a host name that resolves to it \
         (IP addresses {ips:?}, names {names:?})"
    ))
}

/// The subject of a DER certificate as `X500Principal.getName()` prints it (RFC 2253: the
/// RDNs last-to-first, `,`-separated, known attribute types by name, others as dotted OIDs
/// with `#`-hex values).
pub fn subject_rfc2253(cert_der: &[u8]) -> Option<String> {
    use x509_parser::asn1_rs::ToDer as _;
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let mut parts = Vec::new();
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let key = match oid.as_str() {
                "2.5.4.3" => Some("CN"),
                "2.5.4.7" => Some("L"),
                "2.5.4.8" => Some("ST"),
                "2.5.4.10" => Some("O"),
                "2.5.4.11" => Some("OU"),
                "2.5.4.6" => Some("C"),
                "2.5.4.9" => Some("STREET"),
                "0.9.2342.19200300.100.1.25" => Some("DC"),
                "0.9.2342.19200300.100.1.1" => Some("UID"),
                _ => None,
            };
            let text = atv.as_str().ok();
            match (key, text) {
                (Some(k), Some(v)) => parts.push(format!("{k}={}", escape_rfc2253(v))),
                _ => {
                    let raw = atv.attr_value().to_der_vec().ok()?;
                    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                    parts.push(format!("{oid}=#{hex}"));
                }
            }
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn escape_rfc2253(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_rfc2253() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc");
        dn.push(rcgen::DnType::CommonName, "client one");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_rfc2253(cert.der()).as_deref(),
            Some("CN=client one,O=Acme\\, Inc,C=US")
        );
    }

    fn cert_for(sans: Vec<rcgen::SanType>, cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[tokio::test]
    async fn a_peer_certificate_must_name_the_peer_address() {
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let ip = rcgen::SanType::IpAddress(local);
        let dns = |n: &str| rcgen::SanType::DnsName(n.try_into().unwrap());
        // By address.
        let c = cert_for(vec![ip.clone()], "x");
        assert!(verify_peer_address(local, &c).await.is_ok());
        assert!(verify_peer_address(other, &c).await.is_err());
        // An IPv4 peer seen through an IPv6 socket.
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(verify_peer_address(mapped, &c).await.is_ok());
        // By a name that resolves to it (Java: the reverse-resolved name).
        let c = cert_for(vec![dns("localhost")], "x");
        assert!(verify_peer_address(local, &c).await.is_ok());
        assert!(verify_peer_address(other, &c).await.is_err());
        // The common name counts only without DNS names.
        let c = cert_for(vec![], "localhost");
        assert!(verify_peer_address(local, &c).await.is_ok());
        let c = cert_for(vec![dns("nothing.invalid")], "localhost");
        let e = verify_peer_address(local, &c).await.unwrap_err();
        assert!(e.contains("nothing.invalid"), "{e}");
        assert!(verify_peer_address(local, b"not a certificate")
            .await
            .is_err());
    }

    #[test]
    fn quorum_options_read_their_own_prefix() {
        let mut sys = SystemProperties::new();
        sys.set("zookeeper.ssl.keyStore.location", "/k/client.p12");
        let e = TlsOptions::for_quorum(&sys).unwrap_err().to_string();
        assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
        sys.set("zookeeper.ssl.quorum.keyStore.location", "/k/quorum.p12");
        let o = TlsOptions::for_quorum(&sys).unwrap();
        assert!(o.hostname_verification);
        assert_eq!(o.client_auth, ClientAuth::Need);
        sys.set("zookeeper.ssl.quorum.hostnameVerification", "false");
        sys.set("zookeeper.ssl.quorum.clientAuth", "bogus");
        let e = TlsOptions::for_quorum(&sys).unwrap_err().to_string();
        assert!(e.contains("ssl.quorum.clientAuth=bogus"), "{e}");
        sys.set("zookeeper.ssl.quorum.clientAuth", "none");
        assert!(!TlsOptions::for_quorum(&sys).unwrap().hostname_verification);
        // The client port's options are not the quorum's.
        assert_eq!(
            TlsOptions::from_properties(&sys).unwrap().key_store.path,
            PathBuf::from("/k/client.p12")
        );
    }

    #[test]
    fn options_from_properties() {
        let mut sys = SystemProperties::new();
        assert!(matches!(
            TlsOptions::from_properties(&sys),
            Err(TlsError::Missing(_))
        ));
        sys.set("zookeeper.ssl.keyStore.location", "/k/keystore.p12");
        sys.set("zookeeper.ssl.keyStore.password", "hunter2");
        sys.set("zookeeper.ssl.clientAuth", "want");
        let o = TlsOptions::from_properties(&sys).unwrap();
        assert_eq!(o.client_auth, ClientAuth::Want);
        assert_eq!(o.versions, vec![&rustls::version::TLS12]);
        assert!(!format!("{o:?}").contains("hunter2"));
        sys.set("zookeeper.ssl.enabledProtocols", "TLSv1.3,TLSv1.2");
        assert_eq!(TlsOptions::from_properties(&sys).unwrap().versions.len(), 2);
        sys.set("zookeeper.ssl.enabledProtocols", "SSLv3");
        assert!(TlsOptions::from_properties(&sys).is_err());
    }
}
