//! zk-bench over TLS against an in-process Ferrokeeper with a secure port: a timed run
//! succeeds (with and without a client certificate), and an untrusted server certificate
//! or a client certificate the server refuses ends the run with an error, not a panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zk_bench::wire::{Endpoint, TlsClient};
use zk_bench::workload::{self, RunConfig};
use zk_bench::BenchError;
use zk_server::config::SystemProperties;
use zk_server::ListenMode;
use zk_testkit::server::{ServerBuilder, TestServer};
use zk_testkit::tls::{ca, issue, Ca};

/// Writes `NAME.pem` (the private key, then the certificate signed by `ca`, for 127.0.0.1 and
/// localhost) and `NAME-cert.pem` / `NAME-key.pem` separately; returns the combined file.
fn leaf(dir: &Path, ca: &Ca, name: &str, server: bool) -> PathBuf {
    issue(ca, name, server, false).write_pem(dir, name)
}

/// A Ferrokeeper whose TLS port uses `keystore` (PEM) with `ssl.clientAuth=client_auth`,
/// trusting `truststore`; returns the TLS address. Stops when the server is dropped.
fn tls_server(keystore: &Path, truststore: &Path, client_auth: &str) -> (String, TestServer) {
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
    let settings = zk_server::Settings {
        max_client_cnxns: 0,
        ..zk_server::Settings::default()
    };
    let server = ServerBuilder::new(settings)
        .tls(&sys)
        .listeners(&[ListenMode::Tls])
        .start_on_thread();
    (server.addr.clone(), server)
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
