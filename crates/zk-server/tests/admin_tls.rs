//! The AdminServer over HTTPS, as `JettyAdminServer` sets it up: `admin.forceHttps` (TLS
//! only, HSTS header), `admin.portUnification` (TLS and plaintext on one port),
//! `admin.needClientAuth`, with the key and trust stores of `ssl.quorum.*`. Certificates
//! come from zk-testkit's test CA; the client is rustls.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zk_server::config::SystemProperties;
use zk_server::ops::https::AdminTls;
use zk_server::ops::AdminSettings;
use zk_testkit::tls::{ca, issue, Ca};
use zookeeper_client as zk;

/// A GET of `/commands/ruok` over `s`; the whole answer (`Connection: close`).
async fn ruok<S: AsyncRead + AsyncWrite + Unpin>(s: S) -> std::io::Result<String> {
    get(s, "/commands/ruok", None).await
}

/// A GET of `path` over `s`, with an `Authorization` header if given; the whole answer.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    path: &str,
    auth: Option<&str>,
) -> std::io::Result<String> {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The quorum key store (a PEM with the server's key and certificate) and, when given,
/// trust store, as `-Dzookeeper.ssl.quorum.*` properties.
fn quorum_stores(dir: &std::path::Path, ca: &Ca, trust: bool) -> SystemProperties {
    let key_store = issue(ca, "admin", true, false).write_pem(dir, "admin");
    let mut args = vec![format!(
        "-Dzookeeper.ssl.quorum.keyStore.location={}",
        key_store.display()
    )];
    if trust {
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.cert.pem()).unwrap();
        args.push(format!(
            "-Dzookeeper.ssl.quorum.trustStore.location={}",
            ca_pem.display()
        ));
    }
    SystemProperties::from_args(args).unwrap().0
}

async fn admin_server(tls: AdminTls) -> (common::TestServer, SocketAddr) {
    admin_server_with(common::settings(), tls).await
}

async fn admin_server_with(
    mut settings: zk_server::Settings,
    tls: AdminTls,
) -> (common::TestServer, SocketAddr) {
    settings.ops.admin = Some(AdminSettings {
        address: "127.0.0.1".into(),
        port: 0,
        ..AdminSettings::default()
    });
    settings.ops.admin_tls = Some(tls);
    let mut bound = settings.ops.bound.subscribe();
    let srv = common::ServerBuilder::new(settings).start().await;
    let b = common::within("the AdminServer", bound.wait_for(|b| b.is_some()))
        .await
        .unwrap()
        .unwrap();
    (srv, b.admin.unwrap())
}

fn tls(sys: &SystemProperties, need_client_auth: bool, force_https: bool) -> AdminTls {
    let opts = zk_server::tls::TlsOptions::for_admin(sys, need_client_auth).unwrap();
    AdminTls {
        server: Arc::new(zk_server::tls::TlsServer::new(opts).unwrap()),
        force_https,
    }
}

#[tokio::test]
async fn force_https_serves_tls_only_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("admin CA");
    let sys = quorum_stores(dir.path(), &ca, false);
    let (srv, addr) = admin_server(tls(&sys, false, true)).await;
    let s = zk_testkit::tls::connect(&addr.to_string(), ca.cert.der(), None)
        .await
        .unwrap();
    let answer = ruok(s).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=86400; includesubdomains"),
        "{answer}"
    );
    assert!(answer.ends_with("{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}\n"));
    // Plain HTTP meets a TLS server: no answer.
    let plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    let answer = common::within("plaintext refused", ruok(plain)).await;
    assert!(
        !answer.unwrap_or_default().contains("HTTP/1.1 200"),
        "plaintext must not be served"
    );
    srv.stop().await;
}

#[tokio::test]
async fn port_unification_serves_both_on_one_port() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("admin CA");
    let sys = quorum_stores(dir.path(), &ca, false);
    let (srv, addr) = admin_server(tls(&sys, false, false)).await;
    let s = zk_testkit::tls::connect(&addr.to_string(), ca.cert.der(), None)
        .await
        .unwrap();
    let over_tls = ruok(s).await.unwrap();
    assert!(over_tls.starts_with("HTTP/1.1 200"), "{over_tls}");
    let plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    let over_plain = ruok(plain).await.unwrap();
    assert!(over_plain.starts_with("HTTP/1.1 200"), "{over_plain}");
    assert!(!over_plain.to_ascii_lowercase().contains("strict-transport"));
    srv.stop().await;
}

#[tokio::test]
async fn need_client_auth_requires_a_certificate_from_the_trust_store() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("admin CA");
    let sys = quorum_stores(dir.path(), &ca, true);
    let (srv, addr) = admin_server(tls(&sys, true, true)).await;
    let client = issue(&ca, "operator", false, false);
    let s = zk_testkit::tls::connect(&addr.to_string(), ca.cert.der(), Some(&client))
        .await
        .unwrap();
    assert!(ruok(s).await.unwrap().starts_with("HTTP/1.1 200"));
    // Without a certificate the handshake (or, with TLS 1.3, the first read) fails.
    let refused = match zk_testkit::tls::connect(&addr.to_string(), ca.cert.der(), None).await {
        Err(_) => true,
        Ok(s) => ruok(s).await.map_or(true, |a| !a.contains("HTTP/1.1 200")),
    };
    assert!(refused, "a client without a certificate was served");
    srv.stop().await;
}

#[tokio::test]
async fn snapshot_takes_the_x509_identity_from_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("admin CA");
    let sys = quorum_stores(dir.path(), &ca, true);
    let mut settings = common::settings();
    settings.auth.x509_provider = true;
    let (srv, addr) = admin_server_with(settings, tls(&sys, true, true)).await;
    // Only the operator's certificate holds ALL on /.
    let c = srv.client().await;
    c.auth("digest", b"super:test").await.unwrap();
    let operator = "CN=operator,O=Ferrokeeper Tests";
    let acl = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("x509", operator),
    )];
    c.set_acl("/", &acl, None).await.unwrap();
    let path = "/commands/snapshot?streaming=false";
    let status = |answer: &str| answer.split_whitespace().nth(1).map(str::to_string);
    for (cn, auth, expected) in [
        ("operator", "x509", "200"),
        ("intruder", "x509", "403"),
        ("operator", "ip", "403"),
        ("operator", "digest", "401"),
    ] {
        let cert = issue(&ca, cn, false, false);
        let s = zk_testkit::tls::connect(&addr.to_string(), ca.cert.der(), Some(&cert))
            .await
            .unwrap();
        let answer = get(s, path, Some(auth)).await.unwrap();
        assert_eq!(
            status(&answer).as_deref(),
            Some(expected),
            "{cn} {auth}: {answer}"
        );
    }
    drop(c);
    srv.stop().await;
}

#[test]
fn admin_tls_keys_are_read_from_zoo_cfg() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("admin CA");
    let key_store = issue(&ca, "admin", true, false).write_pem(dir.path(), "admin");
    let cfg = dir.path().join("zoo.cfg");
    let base = format!("dataDir={}\nclientPort=2181\n", dir.path().display());
    let load = |extra: &str| {
        std::fs::write(&cfg, format!("{base}{extra}")).unwrap();
        let loaded = zk_server::config::load(&cfg, SystemProperties::default()).unwrap();
        assert!(
            !loaded
                .warnings
                .iter()
                .any(|w| w.to_string().contains("admin.")),
            "{:?}",
            loaded.warnings
        );
        zk_server::ops::OpsSettings::from_config(&loaded.config)
    };
    let ops = load(&format!(
        "admin.forceHttps=true\nssl.quorum.keyStore.location={}\n",
        key_store.display()
    ));
    assert!(ops.admin.is_some());
    assert!(ops.admin_tls.as_ref().is_some_and(|t| t.force_https));
    let ops = load(&format!(
        "admin.portUnification=true\nssl.quorum.keyStore.location={}\n",
        key_store.display()
    ));
    assert!(ops.admin_tls.as_ref().is_some_and(|t| !t.force_https));
    // No usable key store: no AdminServer, as upstream's factory falls back to none.
    let ops = load("admin.forceHttps=true\n");
    assert!(ops.admin.is_none());
    let ops = load("");
    assert!(ops.admin.is_some() && ops.admin_tls.is_none());
}
