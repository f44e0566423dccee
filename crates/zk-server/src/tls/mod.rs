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

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::config::{Secret, SystemProperties};
use keystore::{StoreError, StoreType};

/// Why TLS cannot be set up. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A required property is missing.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A property has a value ZooKeeper would refuse.
    #[error("{key}={value}: {why}")]
    Invalid {
        /// The property.
        key: &'static str,
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
    /// Reads `zookeeper.ssl.*`. A key store is required.
    pub fn from_properties(sys: &SystemProperties) -> Result<Self, TlsError> {
        const P: &str = "zookeeper.ssl.";
        let key_store = StoreRef::from_properties(sys, P, "keyStore")?
            .ok_or(TlsError::Missing("ssl.keyStore.location"))?;
        let trust_store = StoreRef::from_properties(sys, P, "trustStore")?;
        let client_auth = match sys
            .get("zookeeper.ssl.clientAuth")
            .map(|s| s.trim().to_ascii_uppercase())
            .as_deref()
        {
            None | Some("") | Some("NEED") => ClientAuth::Need,
            Some("WANT") => ClientAuth::Want,
            Some("NONE") => ClientAuth::None,
            Some(_) => {
                return Err(TlsError::Invalid {
                    key: "ssl.clientAuth",
                    value: sys.get("zookeeper.ssl.clientAuth").unwrap_or("").into(),
                    why: "expected need, want or none",
                })
            }
        };
        // SSLContextAndOptions: enabledProtocols, else just ssl.protocol (default TLSv1.2).
        let (key, list) = match sys.get("zookeeper.ssl.enabledProtocols") {
            Some(list) => ("ssl.enabledProtocols", list.to_string()),
            None => (
                "ssl.protocol",
                sys.get("zookeeper.ssl.protocol")
                    .unwrap_or("TLSv1.2")
                    .to_string(),
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
        let cipher_suites = sys.get("zookeeper.ssl.ciphersuites").map(|s| {
            s.split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        });
        let handshake_ms = sys.get_integer("zookeeper.ssl.handshakeDetectionTimeoutMillis", 5000);
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
            .ok_or(TlsError::Missing("ssl.quorum.keyStore.location"))?;
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
                    key: "ssl.ciphersuites",
                    value: wanted.join(","),
                    why: "none of these cipher suites is supported (rustls offers the ECDHE AES-GCM and ChaCha20-Poly1305 suites and the TLS 1.3 suites)",
                });
            }
        }
        Ok(provider)
    }

    /// Builds a rustls configuration from the stores as they are now.
    pub fn build(&self) -> Result<ServerConfig, TlsError> {
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
        let provider = Arc::new(self.provider()?);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Need | ClientAuth::Want => {
                let mut roots = RootCertStore::empty();
                let certs: Vec<CertificateDer<'static>> = match &self.trust_store {
                    Some(ts) => {
                        let s = ts.load()?;
                        // A key store given as trust store: its chain's certificates count.
                        s.trusted.into_iter().chain(s.chain).collect()
                    }
                    // The JDK's default trust store: the system's CA bundle.
                    None => keystore::load(
                        Path::new("/etc/ssl/certs/ca-certificates.crt"),
                        StoreType::Pem,
                        "",
                    )
                    .map(|s| s.trusted)
                    .unwrap_or_default(),
                };
                for c in &certs {
                    if let Err(e) = roots.add(c.clone()) {
                        tracing::warn!("trust store: skipping a certificate rustls refuses: {e}");
                    }
                }
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
        // The chain is served as it is (the JDK serves version 1 certificates too; webpki
        // would refuse to parse them).
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let certified = rustls::sign::CertifiedKey::new(ks.chain, signing);
        Ok(builder.with_cert_resolver(Arc::new(v1::SingleCert(Arc::new(certified)))))
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

/// The TLS side of the server: the current rustls configuration, rebuilt when the stores
/// change on disk.
pub struct TlsServer {
    opts: TlsOptions,
    current: Mutex<(Stamp, Arc<ServerConfig>)>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Loads the stores now; fails when they cannot be used.
    pub fn new(opts: TlsOptions) -> Result<Self, TlsError> {
        let stamp = opts.stamp();
        let cfg = Arc::new(opts.build()?);
        Ok(TlsServer {
            opts,
            current: Mutex::new((stamp, cfg)),
        })
    }

    /// The options.
    pub fn options(&self) -> &TlsOptions {
        &self.opts
    }

    /// The configuration for a new connection, reloading the stores first if they changed.
    pub fn config(&self) -> Arc<ServerConfig> {
        let stamp = self.opts.stamp();
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.0 != stamp {
            match self.opts.build() {
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
