//! TLS, x509 identities, SASL DIGEST-MD5 and enforced authentication, over the wire.
//!
//! Every test starts an in-process server with its own certificates (made here with rcgen:
//! a CA, a server certificate for 127.0.0.1/localhost, client certificates) and talks to it
//! with rustls and hand-encoded Jute. Negative cases: a client certificate from another CA,
//! an expired one, plaintext on the TLS port, a handshake that never finishes, a wrong SASL
//! password, enforced authentication without credentials. After each failure the test
//! checks that the server still serves a good client.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{code, op, within, ConnectReq, Io, Raw, Reply, ServerBuilder, J, R};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zk_server::config::SystemProperties;
use zk_server::settings::SaslMode;
use zk_server::tls::{TlsOptions, TlsServer};
use zk_server::{ListenMode, Settings};
use zk_testkit::tls::{ca, issue, Ca, Issued};

const OP_SASL: i32 = 102;
const SESSION_CLOSED_REQUIRE_SASL_AUTH: i32 = -124;

// ----- certificates ----------------------------------------------------------------------

/// A directory with the server's stores; removed on drop.
struct Stores {
    dir: PathBuf,
    ca: Ca,
}

impl Drop for Stores {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Stores {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "fk-security-{name}-{}-{}",
            std::process::id(),
            common::unique("d").replace('/', "")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Stores {
            dir,
            ca: ca("Test CA"),
        }
    }

    /// Writes keystore.jks (a fresh server certificate) and truststore.jks (the CA).
    fn write_jks(&self) {
        let server = issue(&self.ca, "server", true, false);
        let chain: [&[u8]; 1] = [server.der.as_ref()];
        let ks = zk_server::tls::keystore::write_jks(
            "apassword",
            Some((server.key.secret_pkcs8_der(), &chain)),
            &[],
            [1; 20],
        );
        write_atomically(&self.dir.join("keystore.jks"), &ks);
        let ts =
            zk_server::tls::keystore::write_jks("apassword", None, &[self.ca.cert.der()], [2; 20]);
        std::fs::write(self.dir.join("truststore.jks"), ts).unwrap();
    }

    fn props(&self, client_auth: &str) -> SystemProperties {
        let mut sys = SystemProperties::new();
        let path = |f: &str| self.dir.join(f).display().to_string();
        sys.set("zookeeper.ssl.keyStore.location", path("keystore.jks"));
        sys.set("zookeeper.ssl.keyStore.password", "apassword");
        sys.set("zookeeper.ssl.trustStore.location", path("truststore.jks"));
        sys.set("zookeeper.ssl.trustStore.password", "apassword");
        sys.set("zookeeper.ssl.clientAuth", client_auth);
        sys.set("zookeeper.ssl.handshakeDetectionTimeoutMillis", "500");
        sys
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ----- server ----------------------------------------------------------------------------

struct Server {
    plain: String,
    secure: String,
    _server: common::TestServer,
}

async fn serve(settings: Settings, tls: Option<SystemProperties>, unified: bool) -> Server {
    serve_with(settings, tls, unified, None).await
}

/// [`serve`] on sockets bound by the caller (plaintext or unified first, then TLS).
async fn serve_on(
    settings: Settings,
    tls: Option<SystemProperties>,
    unified: bool,
    plain: TcpListener,
    secure: TcpListener,
) -> Server {
    let sockets = vec![plain.into_std().unwrap(), secure.into_std().unwrap()];
    serve_with(settings, tls, unified, Some(sockets)).await
}

async fn serve_with(
    settings: Settings,
    tls: Option<SystemProperties>,
    unified: bool,
    sockets: Option<Vec<std::net::TcpListener>>,
) -> Server {
    let mut modes = vec![if unified {
        ListenMode::Unified
    } else {
        ListenMode::Plain
    }];
    if tls.is_some() || settings.tls.is_some() {
        modes.push(ListenMode::Tls);
    }
    let mut b = ServerBuilder::new(settings).listeners(&modes);
    if let Some(sockets) = sockets {
        b = b.sockets(sockets);
    }
    if let Some(sys) = &tls {
        b = b.tls(sys);
    }
    let server = b.start().await;
    Server {
        plain: server.addrs[0].clone(),
        secure: server.addrs.get(1).cloned().unwrap_or_default(),
        _server: server,
    }
}

// ----- client ----------------------------------------------------------------------------

/// A framed client over TCP or TLS.
struct Wire(Raw<Box<dyn Io>>);

impl Wire {
    async fn plain(addr: &str) -> Wire {
        Wire(Raw::connect(addr).await.boxed())
    }

    /// A TLS connection trusting `ca`, presenting `client` if given.
    async fn tls(addr: &str, ca: &CertificateDer<'static>, client: Option<&Issued>) -> Wire {
        Self::try_tls(addr, ca, client)
            .await
            .expect("TLS handshake")
    }

    async fn try_tls(
        addr: &str,
        ca: &CertificateDer<'static>,
        client: Option<&Issued>,
    ) -> std::io::Result<Wire> {
        let s = zk_testkit::tls::connect(addr, ca, client).await?;
        Ok(Wire(Raw::new(Box::new(s))))
    }

    /// A new session; `None` if the server closed instead.
    async fn session(&mut self) -> Option<()> {
        let resp = self.0.handshake(&ConnectReq::default()).await?;
        assert_ne!(resp.session_id, 0);
        Some(())
    }

    async fn call(&mut self, xid: i32, op: i32, body: &[u8]) -> Option<Reply> {
        self.0.send(xid, op, body).await;
        self.0.try_reply().await
    }

    /// The server closes without another frame.
    async fn expect_closed(&mut self) {
        self.0.expect_closed().await
    }

    /// whoAmI: (scheme, id) pairs.
    async fn who_am_i(&mut self) -> Vec<(String, String)> {
        let rep = self.call(50, op::WHO_AM_I, &[]).await.unwrap();
        assert_eq!(rep.err, 0);
        let mut r = R(&rep.body);
        let n = r.i32();
        (0..n).map(|_| (r.str(), r.str())).collect()
    }

    async fn create(&mut self, xid: i32, path: &str, acl: &[(i32, &str, &str)]) -> i32 {
        let body = J::new().create(path, b"x", acl, 0).bytes();
        self.call(xid, op::CREATE, &body).await.unwrap().err
    }

    async fn get(&mut self, xid: i32, path: &str) -> i32 {
        let body = J::new().str(path).bool(false).bytes();
        self.call(xid, op::GET_DATA, &body).await.unwrap().err
    }

    /// One SASL round: (err, token).
    async fn sasl(&mut self, xid: i32, token: &[u8]) -> Option<(i32, Option<Vec<u8>>)> {
        let rep = self
            .call(xid, OP_SASL, &J::new().buf(token).bytes())
            .await?;
        assert_eq!(rep.xid, xid);
        let token = if rep.body.is_empty() {
            None
        } else {
            R(&rep.body).buf()
        };
        Some((rep.err, token))
    }

    /// The DIGEST-MD5 exchange kazoo and the Java client run; the final error code.
    async fn digest_md5(&mut self, user: &str, password: &str) -> i32 {
        let (err, challenge) = self.sasl(1, b"").await.unwrap();
        assert_eq!(err, 0);
        let challenge = challenge.unwrap();
        let resp = zk_core::sasl::client_response(&challenge, user, password, "c1nonce");
        let (err, rspauth) = self.sasl(2, &resp).await.unwrap();
        if err == 0 {
            assert!(rspauth.unwrap().starts_with(b"rspauth="));
        }
        err
    }
}

/// A server is still serving: a fresh plaintext session answers.
async fn still_serving(addr: &str) {
    let mut w = Wire::plain(addr).await;
    w.session().await.expect("a session after the failure");
    assert_eq!(w.get(1, "/").await, code::OK);
}

// ----- TLS -------------------------------------------------------------------------------

#[tokio::test]
async fn tls_with_client_certificate_gives_x509_identity() {
    let stores = Stores::new("x509");
    stores.write_jks();
    let mut settings = common::settings();
    settings.auth.x509_provider = true;
    let srv = serve(settings, Some(stores.props("need")), false).await;
    let client = issue(&stores.ca, "client one", false, false);
    let mut w = Wire::tls(&srv.secure, stores.ca.cert.der(), Some(&client)).await;
    w.session().await.unwrap();
    let ids = w.who_am_i().await;
    let subject = "CN=client one,O=Ferrokeeper Tests";
    assert!(
        ids.contains(&("x509".into(), subject.into())),
        "whoAmI: {ids:?}"
    );
    // The identity works in ACLs: only this certificate can read the node.
    assert_eq!(
        w.create(2, "/x509", &[(31, "x509", subject)]).await,
        code::OK
    );
    assert_eq!(w.get(3, "/x509").await, code::OK);
    let mut plain = Wire::plain(&srv.plain).await;
    plain.session().await.unwrap();
    assert_eq!(plain.get(1, "/x509").await, code::NO_AUTH);
    // `auth` expands to the x509 identity.
    assert_eq!(w.create(4, "/auth", &[(31, "auth", "")]).await, code::OK);
}

#[tokio::test]
async fn tls_refuses_bad_certificates_and_plaintext() {
    let stores = Stores::new("bad");
    stores.write_jks();
    let srv = serve(common::settings(), Some(stores.props("need")), false).await;
    let ca_der = stores.ca.cert.der().clone();

    // No client certificate while one is needed.
    let w = Wire::try_tls(&srv.secure, &ca_der, None).await;
    assert_refused(w).await;
    // A certificate from another CA.
    let stranger = issue(&ca("Other CA"), "stranger", false, false);
    assert_refused(Wire::try_tls(&srv.secure, &ca_der, Some(&stranger)).await).await;
    // An expired certificate from the right CA.
    let expired = issue(&stores.ca, "old", false, true);
    assert_refused(Wire::try_tls(&srv.secure, &ca_der, Some(&expired)).await).await;
    // Plaintext on the TLS port: no session, the connection closes.
    let mut p = Wire::plain(&srv.secure).await;
    assert!(p.session().await.is_none());

    let good = issue(&stores.ca, "good", false, false);
    let mut w = Wire::tls(&srv.secure, &ca_der, Some(&good)).await;
    w.session().await.unwrap();
    still_serving(&srv.plain).await;
}

/// A handshake that failed, or one the server drops right after (TLS 1.3 clients learn
/// about a refused certificate only when they read).
async fn assert_refused(w: std::io::Result<Wire>) {
    if let Ok(mut w) = w {
        assert!(
            w.session().await.is_none(),
            "the server accepted the session"
        );
    }
}

#[tokio::test]
async fn stalled_handshake_is_dropped_and_server_keeps_serving() {
    let stores = Stores::new("stall");
    stores.write_jks();
    let srv = serve(common::settings(), Some(stores.props("none")), false).await;
    // Half a ClientHello record header, then nothing.
    let mut s = TcpStream::connect(&srv.secure).await.unwrap();
    s.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let started = std::time::Instant::now();
    let mut b = [0u8; 16];
    // The server closes after its 500 ms bound (an EOF or a reset, well before WAIT).
    let n = within("the server dropping the stalled handshake", s.read(&mut b)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    // A TCP connection that sends nothing at all is dropped the same way.
    let mut idle = TcpStream::connect(&srv.secure).await.unwrap();
    let n = within("the server dropping the idle connection", idle.read(&mut b)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let mut w = Wire::tls(&srv.secure, stores.ca.cert.der(), None).await;
    w.session().await.unwrap();
    assert_eq!(w.get(1, "/").await, code::OK);
}

#[tokio::test]
async fn port_unification_serves_tls_and_plaintext_on_one_port() {
    let stores = Stores::new("unified");
    stores.write_jks();
    let srv = serve(common::settings(), Some(stores.props("want")), true).await;
    let mut t = Wire::tls(&srv.plain, stores.ca.cert.der(), None).await;
    t.session().await.unwrap();
    assert_eq!(t.get(1, "/").await, code::OK);
    still_serving(&srv.plain).await;
    // Four-letter words still work in plaintext.
    let srvr = common::four_letter(&srv.plain, "srvr").await;
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
}

#[tokio::test]
async fn rewritten_key_store_is_reloaded() {
    let stores = Stores::new("reload");
    stores.write_jks();
    let srv = serve(common::settings(), Some(stores.props("none")), false).await;
    let first = server_cert(&srv.secure, &stores).await;
    // Same file name, new content (a renewed certificate): the next connection sees it.
    stores.write_jks();
    let second = server_cert(&srv.secure, &stores).await;
    assert_ne!(first, second);
    let third = server_cert(&srv.secure, &stores).await;
    assert_eq!(second, third);
}

/// The certificate the server presents.
async fn server_cert(addr: &str, stores: &Stores) -> Vec<u8> {
    let s = zk_testkit::tls::connect(addr, stores.ca.cert.der(), None)
        .await
        .unwrap();
    s.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

// ----- keytool's EC keys ------------------------------------------------------------------

/// `keytool` from a JDK, or `None` (after a notice) when there is none and
/// `FERROKEEPER_REQUIRE_JAVA=1` is not set.
fn keytool() -> Option<PathBuf> {
    zk_testkit::java::require_tool("keytool", "keytool's EC keys were NOT checked.")
}

/// Runs `keytool <args> -keystore <store>` with the store password `apassword`; its stdout.
fn run_keytool(keytool: &Path, store: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(keytool)
        .args(args)
        .args(["-keystore", &store.display().to_string()])
        .args(["-storepass", "apassword", "-noprompt"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keytool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// keytool -genkeypair: a self-signed EC certificate for localhost/127.0.0.1 on `curve`, in
/// a `store_type` store; returns the store and the certificate (DER).
fn keytool_ec_store(
    keytool: &Path,
    dir: &Path,
    curve: &str,
    store_type: &str,
) -> (PathBuf, CertificateDer<'static>) {
    let store = dir.join(format!("{curve}.{}", store_type.to_ascii_lowercase()));
    let run = |args: &[&str]| run_keytool(keytool, &store, args);
    run(&[
        "-genkeypair",
        "-alias",
        "server",
        "-keyalg",
        "EC",
        "-groupname",
        curve,
        "-dname",
        "CN=localhost,O=Ferrokeeper Tests",
        "-ext",
        "SAN=ip:127.0.0.1,dns:localhost",
        "-validity",
        "2",
        "-storetype",
        store_type,
    ]);
    let der = run(&["-exportcert", "-alias", "server", "-storetype", store_type]);
    (store, CertificateDer::from(der))
}

#[tokio::test]
async fn keytool_ec_keys_serve_tls() {
    let Some(keytool) = keytool() else { return };
    let stores = Stores::new("keytool-ec");
    // P-256 in PKCS12 (keytool's default store type), P-384 in JKS.
    for (curve, store_type) in [("secp256r1", "PKCS12"), ("secp384r1", "JKS")] {
        let (store, cert) = keytool_ec_store(&keytool, &stores.dir, curve, store_type);
        let mut sys = SystemProperties::new();
        sys.set(
            "zookeeper.ssl.keyStore.location",
            store.display().to_string(),
        );
        sys.set("zookeeper.ssl.keyStore.password", "apassword");
        sys.set("zookeeper.ssl.keyStore.type", store_type);
        sys.set("zookeeper.ssl.clientAuth", "none");
        // Both protocol versions: the handshake signs with the EC key either way.
        for protocol in ["TLSv1.2", "TLSv1.3"] {
            sys.set("zookeeper.ssl.protocol", protocol);
            let srv = serve(common::settings(), Some(sys.clone()), false).await;
            let mut w = Wire::tls(&srv.secure, &cert, None).await;
            w.session().await.unwrap();
            assert_eq!(w.get(1, "/").await, code::OK, "{curve} {protocol}");
        }
    }
}

/// The secure client port on the dual-stack wildcard (no secureClientPortAddress) serves
/// TLS clients over `::1` and 127.0.0.1 alike.
#[tokio::test]
async fn tls_over_ipv6_on_the_wildcard() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: this host has no ::1; TLS over IPv6 was NOT checked");
        return;
    }
    let stores = Stores::new("ipv6");
    stores.write_jks();
    let bind = || zk_server::listen::bind_client_port(None, 0, -1).unwrap();
    let srv = serve_on(
        common::settings(),
        Some(stores.props("none")),
        false,
        bind(),
        bind(),
    )
    .await;
    let port = srv.secure.rsplit(':').next().unwrap().to_owned();
    assert!(srv.secure.starts_with("[::]:"), "{}", srv.secure);
    for addr in [format!("[::1]:{port}"), format!("127.0.0.1:{port}")] {
        let mut w = Wire::tls(&addr, stores.ca.cert.der(), None).await;
        w.session().await.unwrap();
        assert_eq!(w.get(1, "/").await, code::OK, "{addr}");
    }
}

/// As a user makes them on JDK 9+: `keytool -genkeypair -keystore keystore.jks` and
/// `keytool -importcert -keystore truststore.jks` with no -storetype write PKCS12 into files
/// named .jks. ZooKeeper starts with them whether ssl.*Store.type is unset (the name says
/// JKS) or JKS; so do we. The trust store holds the test CA, which signed the client's
/// certificate: mutual TLS proves both stores were read.
#[tokio::test]
async fn keytool_default_stores_named_jks_serve_tls() {
    let Some(keytool) = keytool() else { return };
    let stores = Stores::new("keytool-default");
    let (ks, ts) = (
        stores.dir.join("keystore.jks"),
        stores.dir.join("truststore.jks"),
    );
    let ca_file = stores.dir.join("ca.der");
    std::fs::write(&ca_file, stores.ca.cert.der()).unwrap();
    let run = |store: &Path, args: &[&str]| run_keytool(&keytool, store, args);
    run(
        &ks,
        &[
            "-genkeypair",
            "-alias",
            "server",
            "-keyalg",
            "RSA",
            "-dname",
            "CN=localhost,O=Ferrokeeper Tests",
            "-ext",
            "SAN=ip:127.0.0.1,dns:localhost",
            "-validity",
            "2",
        ],
    );
    let server_cert = CertificateDer::from(run(&ks, &["-exportcert", "-alias", "server"]));
    run(
        &ts,
        &[
            "-importcert",
            "-alias",
            "ca",
            "-file",
            &ca_file.display().to_string(),
        ],
    );
    for store in [&ks, &ts] {
        // A DER SEQUENCE, not the JKS magic: keytool wrote PKCS12 into the .jks file.
        assert_eq!(
            std::fs::read(store).unwrap()[0],
            0x30,
            "{}",
            store.display()
        );
    }
    let client = issue(&stores.ca, "client", false, false);
    for store_type in [None, Some("JKS"), Some("PKCS12")] {
        let mut sys = SystemProperties::new();
        sys.set("zookeeper.ssl.keyStore.location", ks.display().to_string());
        sys.set("zookeeper.ssl.keyStore.password", "apassword");
        sys.set(
            "zookeeper.ssl.trustStore.location",
            ts.display().to_string(),
        );
        sys.set("zookeeper.ssl.trustStore.password", "apassword");
        sys.set("zookeeper.ssl.clientAuth", "need");
        if let Some(t) = store_type {
            sys.set("zookeeper.ssl.keyStore.type", t);
            sys.set("zookeeper.ssl.trustStore.type", t);
        }
        let srv = serve(common::settings(), Some(sys), false).await;
        let mut w = Wire::tls(&srv.secure, &server_cert, Some(&client)).await;
        w.session().await.unwrap();
        assert_eq!(w.get(1, "/").await, code::OK, "{store_type:?}");
    }
}

#[test]
fn bad_store_password_is_an_error_without_the_password() {
    let stores = Stores::new("pw");
    stores.write_jks();
    let mut sys = stores.props("need");
    sys.set("zookeeper.ssl.keyStore.password", "not-the-password");
    let err = TlsServer::new(TlsOptions::from_properties(&sys).unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("password"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

// ----- SASL ------------------------------------------------------------------------------

fn sasl_settings() -> Settings {
    let mut creds = zk_core::sasl::Credentials::default();
    creds.insert("jaasuser", "jaas_password");
    creds.insert("admin", "admin_password");
    let mut s = common::settings();
    s.sasl = SaslMode::Digest(Arc::new(creds));
    s.auth.sasl_provider = true;
    s.sasl_super_users = vec!["admin".into()];
    s
}

#[tokio::test]
async fn sasl_digest_md5_gives_sasl_identity() {
    let srv = serve(sasl_settings(), None, false).await;
    let mut w = Wire::plain(&srv.plain).await;
    w.session().await.unwrap();
    assert_eq!(w.digest_md5("jaasuser", "jaas_password").await, 0);
    let ids = w.who_am_i().await;
    assert!(ids.contains(&("sasl".into(), "jaasuser".into())), "{ids:?}");
    assert_eq!(
        w.create(3, "/s", &[(31, "sasl", "jaasuser")]).await,
        code::OK
    );
    let mut other = Wire::plain(&srv.plain).await;
    other.session().await.unwrap();
    assert_eq!(other.get(1, "/s").await, code::NO_AUTH);
    // zookeeper.superUser: the admin reads everything.
    let mut admin = Wire::plain(&srv.plain).await;
    admin.session().await.unwrap();
    assert_eq!(admin.digest_md5("admin", "admin_password").await, 0);
    assert_eq!(admin.get(1, "/s").await, code::OK);
}

#[tokio::test]
async fn sasl_wrong_password_or_user_fails_and_closes() {
    let srv = serve(sasl_settings(), None, false).await;
    for (user, pw) in [("jaasuser", "wrong"), ("nobody", "x")] {
        let mut w = Wire::plain(&srv.plain).await;
        w.session().await.unwrap();
        assert_eq!(w.digest_md5(user, pw).await, code::AUTH_FAILED);
        w.expect_closed().await;
    }
    still_serving(&srv.plain).await;
}

#[tokio::test]
async fn sasl_without_server_section_answers_empty_token() {
    let srv = serve(common::settings(), None, false).await;
    let mut w = Wire::plain(&srv.plain).await;
    w.session().await.unwrap();
    assert_eq!(w.sasl(1, b"").await, Some((0, None)));
    assert_eq!(w.get(2, "/").await, code::OK);
}

// ----- enforced authentication -----------------------------------------------------------

#[tokio::test]
async fn enforced_sasl_refuses_unauthenticated_requests() {
    let mut settings = sasl_settings();
    settings.enforce_auth_schemes = vec!["sasl".into()];
    let srv = serve(settings, None, false).await;
    // Without credentials: SESSIONCLOSEDREQUIRESASLAUTH, then the connection closes.
    let mut w = Wire::plain(&srv.plain).await;
    w.session().await.unwrap();
    let rep = w
        .call(7, op::GET_DATA, &J::new().str("/").bool(false).bytes())
        .await;
    let rep = rep.expect("an answer before the close");
    assert_eq!((rep.xid, rep.err), (7, SESSION_CLOSED_REQUIRE_SASL_AUTH));
    w.expect_closed().await;
    // A failed SASL exchange under enforcement says the same.
    let mut bad = Wire::plain(&srv.plain).await;
    bad.session().await.unwrap();
    assert_eq!(
        bad.digest_md5("jaasuser", "nope").await,
        SESSION_CLOSED_REQUIRE_SASL_AUTH
    );
    bad.expect_closed().await;
    // With credentials everything works.
    let mut ok = Wire::plain(&srv.plain).await;
    ok.session().await.unwrap();
    assert_eq!(ok.digest_md5("jaasuser", "jaas_password").await, 0);
    assert_eq!(ok.get(3, "/").await, code::OK);
}

#[tokio::test]
async fn enforced_digest_accepts_addauth() {
    let mut settings = common::settings();
    settings.enforce_auth_schemes = vec!["digest".into()];
    let srv = serve(settings, None, false).await;
    let mut w = Wire::plain(&srv.plain).await;
    w.session().await.unwrap();
    let auth = J::new().i32(0).str("digest").buf(b"u:p").bytes();
    let rep = w.call(-4, op::AUTH, &auth).await.unwrap();
    assert_eq!(rep.err, 0);
    assert_eq!(w.get(1, "/").await, code::OK);
}
