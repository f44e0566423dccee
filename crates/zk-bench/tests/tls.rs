//! zk-bench over TLS against an in-process Ferrokeeper with a secure port: a timed run
//! succeeds (with and without a client certificate), and an untrusted server certificate
//! or a client certificate the server refuses ends the run with an error, not a panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zk_bench::wire::{Endpoint, TlsClient};
use zk_bench::workload::{self, RunConfig};
use zk_bench::BenchError;
use zk_server::config::SystemProperties;
use zk_server::tls::{TlsOptions, TlsServer};
use zk_server::{ListenMode, Listener};

/// A self-signed CA.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// Writes `NAME.pem` (the private key, then the certificate signed by `ca`, for 127.0.0.1 and
/// localhost) and `NAME-cert.pem` / `NAME-key.pem` separately; returns the combined file.
fn leaf(dir: &Path, ca: &Ca, name: &str, server: bool) -> PathBuf {
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.extended_key_usages = vec![if server {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    std::fs::write(dir.join(format!("{name}-cert.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    let both = dir.join(format!("{name}.pem"));
    std::fs::write(&both, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    both
}

/// A Ferrokeeper whose TLS port uses `keystore` (PEM) with `ssl.clientAuth=client_auth`,
/// trusting `truststore`; returns the TLS address. Stops when the sender is dropped.
fn tls_server(
    keystore: &Path,
    truststore: &Path,
    client_auth: &str,
) -> (String, tokio::sync::watch::Sender<bool>) {
    let mut sys = SystemProperties::new();
    sys.set(
        "zookeeper.ssl.keyStore.location",
        keystore.display().to_string(),
    );
    sys.set(
        "zookeeper.ssl.trustStore.location",
        truststore.display().to_string(),
    );
    sys.set("zookeeper.ssl.clientAuth", client_auth);
    let tls = TlsServer::new(TlsOptions::from_properties(&sys).unwrap()).unwrap();
    let settings = zk_server::Settings {
        max_client_cnxns: 0,
        tls: Some(Arc::new(tls)),
        ..zk_server::Settings::default()
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx
                .send(socket.local_addr().unwrap().to_string())
                .unwrap();
            zk_server::run_listeners(
                settings,
                vec![Listener {
                    socket,
                    mode: ListenMode::Tls,
                }],
                zk_tree::DataTree::new(),
                Vec::new(),
                zk_server::Stores::in_memory(),
                rx,
                zk_server::core::Clock::new(),
            )
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    (addr, tx)
}

fn short_run(ep: &Endpoint) -> Result<workload::RunReport, BenchError> {
    let mut cfg = RunConfig::new(&ep.addr);
    cfg.endpoint = ep.clone();
    cfg.sessions = 4;
    cfg.depth = 4;
    cfg.keys = 100;
    cfg.warmup = Duration::from_millis(100);
    cfg.duration = Duration::from_millis(400);
    workload::run(&cfg)
}

#[test]
fn run_over_tls_with_and_without_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("Bench CA");
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.cert.pem()).unwrap();
    let keystore = leaf(dir.path(), &ca, "server", true);
    leaf(dir.path(), &ca, "client", false);

    // clientAuth=none: the CA alone; the server's name is the host of the address.
    let (addr, _stop) = tls_server(&keystore, &ca_pem, "none");
    let ep = Endpoint::tls(&addr, TlsClient::new(&ca_pem, None, None).unwrap());
    workload::ensure_parents(&ep, 100).unwrap();
    let load =
        workload::per_session(&ep, 2, 1, 16, 2, workload::load_plan(100, 2, 100), None).unwrap();
    assert_eq!((load.requests, load.errors), (100, 0));
    let r = short_run(&ep).unwrap();
    assert!(r.ops > 50, "{r:?}");
    assert_eq!(r.errors, 0, "{r:?}");
    let session = r.tls.as_deref().unwrap_or_default();
    // Ferrokeeper's default ssl.protocol is TLSv1.2, as Apache ZooKeeper 3.8's.
    assert!(session.starts_with("TLSv1_2 TLS_"), "{session}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["config"]["addr"], addr.as_str());
    assert!(json["config"]["tls"]["ca"].is_string(), "{json}");

    // clientAuth=need: the client certificate and key, the name given explicitly.
    let (addr, _stop2) = tls_server(&keystore, &ca_pem, "need");
    let cert = dir.path().join("client-cert.pem");
    let key = dir.path().join("client-key.pem");
    let with_cert = TlsClient::new(&ca_pem, Some((&cert, &key)), Some("localhost")).unwrap();
    let ep = Endpoint::tls(&addr, with_cert);
    workload::ensure_parents(&ep, 100).unwrap();
    workload::per_session(&ep, 2, 1, 16, 2, workload::load_plan(100, 2, 100), None).unwrap();
    let r = short_run(&ep).unwrap();
    assert!(r.ops > 50 && r.errors == 0, "{r:?}");

    // Without the certificate the server refuses the connection: an error, no panic.
    let without = Endpoint::tls(&addr, TlsClient::new(&ca_pem, None, None).unwrap());
    let err = short_run(&without).unwrap_err();
    assert!(matches!(err, BenchError::Tls(_)), "{err:?}");
}

#[test]
fn untrusted_server_certificate_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let real = ca("Real CA");
    let other = ca("Other CA");
    let real_pem = dir.path().join("real.pem");
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&real_pem, real.cert.pem()).unwrap();
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let keystore = leaf(dir.path(), &real, "server", true);
    let (addr, _stop) = tls_server(&keystore, &real_pem, "none");

    let wrong = Endpoint::tls(&addr, TlsClient::new(&other_pem, None, None).unwrap());
    let err = short_run(&wrong).unwrap_err();
    let BenchError::Tls(msg) = &err else {
        panic!("expected a TLS error, got {err:?}")
    };
    assert!(msg.contains("certificate"), "{msg}");
    assert!(workload::ensure_parents(&wrong, 10).is_err());
    let p = workload::probe(&wrong, "/", Duration::from_millis(50));
    assert!(p.is_err());

    // A name the certificate does not carry.
    let misnamed = TlsClient::new(&real_pem, None, Some("elsewhere.example")).unwrap();
    let err = short_run(&Endpoint::tls(&addr, misnamed)).unwrap_err();
    assert!(matches!(err, BenchError::Tls(_)), "{err:?}");

    // Files that are not there or hold no certificate.
    assert!(TlsClient::new(&dir.path().join("missing.pem"), None, None).is_err());
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        TlsClient::new(&empty, None, None),
        Err(BenchError::Tls(_))
    ));

    // The right CA works against the same server.
    let ok = Endpoint::tls(&addr, TlsClient::new(&real_pem, None, None).unwrap());
    let r = short_run(&ok).unwrap();
    assert!(r.ops > 0);
}
