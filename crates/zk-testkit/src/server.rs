//! In-process Ferrokeeper servers for tests, and the sessions tests open on them.
//!
//! [`ServerBuilder`] starts a server over an in-memory log on `127.0.0.1:0`: on the test's
//! own runtime ([`ServerBuilder::start`]) or on a thread and runtime of its own
//! ([`ServerBuilder::start_on_thread`], for blocking test code), with one client port or
//! several listeners (plain, TLS, unified), on a real or a manual clock. It stops when the
//! [`TestServer`] is dropped.
//!
//! **External mode.** Set `FERROKEEPER_TEST_EXTERNAL=host:port` to run the tests that need no
//! special settings ([`start`]) against an already running server instead (Apache ZooKeeper
//! 3.8 with `extendedTypesEnabled=true`, superDigest `super:test` and the default 4lw
//! whitelist): that is how the zk-server suites' expectations were checked against the real
//! thing. [`local`] and [`local_manual`] return `None` in that mode, and the test returns
//! early. Run one test at a time there (`-- --test-threads=1`): some assert exact zxids, and
//! the server is shared.
//!
//! ```text
//! java -cp /usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar \
//!   -Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU= \
//!   org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg   # extendedTypesEnabled=true
//! FERROKEEPER_TEST_EXTERNAL=127.0.0.1:2181 cargo test -p zk-server --tests -- --test-threads=1
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use zk_server::config::SystemProperties;
use zk_server::core::{Clock, ManualTime};
use zk_server::tls::{TlsOptions, TlsServer};
use zk_server::{ListenMode, Listener, Settings};
use zookeeper_client as zk;

use crate::wire::{within, ConnectReq, Raw};

/// `super:test`, the super user kazoo's harness configures.
pub const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// The address of an external server to test instead, if any (`FERROKEEPER_TEST_EXTERNAL`).
pub fn external() -> Option<String> {
    std::env::var("FERROKEEPER_TEST_EXTERNAL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// True when the tests run against `FERROKEEPER_TEST_EXTERNAL_4LW`.
pub fn external_4lw() -> bool {
    std::env::var("FERROKEEPER_TEST_EXTERNAL_4LW").is_ok_and(|s| !s.is_empty())
}

/// The settings every "ordinary" test runs with: upstream defaults plus extended types and
/// the `super:test` super user (the external profile).
pub fn settings() -> Settings {
    let mut s = Settings {
        extended_types: true,
        ..Settings::default()
    };
    s.auth.super_digest = Some(SUPER_DIGEST.to_string());
    s
}

/// A server under test; dropping it stops an in-process one.
pub struct TestServer {
    /// `host:port` of the first listener.
    pub addr: String,
    /// `host:port` of every listener, in the order they were asked for.
    pub addrs: Vec<String>,
    /// The manual clock, when the server runs on one.
    pub time: Option<Arc<ManualTime>>,
    shutdown: Option<watch::Sender<bool>>,
    /// Told when the server has stopped cleanly (dropped unsent if it failed).
    stopped: Option<oneshot::Receiver<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

/// How to start an in-process server.
pub struct ServerBuilder {
    settings: Settings,
    listeners: Option<Vec<ListenMode>>,
    sockets: Option<Vec<std::net::TcpListener>>,
    manual_clock: bool,
    stores: Option<zk_server::Stores>,
    recovered: Option<(zk_tree::DataTree, Vec<(i64, i32)>)>,
}

impl ServerBuilder {
    /// A server with `settings` on one client port (plaintext, or unified when the settings
    /// say so, as `zk_server::run` decides) and a real clock.
    pub fn new(settings: Settings) -> Self {
        ServerBuilder {
            settings,
            listeners: None,
            sockets: None,
            manual_clock: false,
            stores: None,
            recovered: None,
        }
    }

    /// Logs to (and snapshots into) `stores` instead of an in-memory log.
    pub fn stores(mut self, stores: zk_server::Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// Starts from a recovered `tree` with its open `sessions` (id, timeout) instead of an
    /// empty tree.
    pub fn recovered(mut self, tree: zk_tree::DataTree, sessions: Vec<(i64, i32)>) -> Self {
        self.recovered = Some((tree, sessions));
        self
    }

    /// Listens on one socket per mode instead (each on its own `127.0.0.1:0`); a TLS or
    /// unified one needs [`ServerBuilder::tls`] or `Settings::tls`.
    pub fn listeners(mut self, modes: &[ListenMode]) -> Self {
        self.listeners = Some(modes.to_vec());
        self
    }

    /// Serves on these sockets, bound by the caller (one per mode of
    /// [`ServerBuilder::listeners`]), instead of binding `127.0.0.1:0`.
    pub fn sockets(mut self, sockets: Vec<std::net::TcpListener>) -> Self {
        self.sockets = Some(sockets);
        self
    }

    /// TLS configured from `zookeeper.ssl.*` properties, as the server reads them.
    pub fn tls(mut self, sys: &SystemProperties) -> Self {
        let opts = TlsOptions::from_properties(sys).unwrap();
        self.settings.tls = Some(Arc::new(TlsServer::new(opts).unwrap()));
        self
    }

    /// Runs on a manual clock (moved with [`TestServer::advance`]).
    pub fn manual_clock(mut self) -> Self {
        self.manual_clock = true;
        self
    }

    /// Starts the server as a task of the current tokio runtime.
    pub async fn start(self) -> TestServer {
        let (server, run) = self.prepare();
        tokio::spawn(run);
        server
    }

    /// Starts the server on a thread with its own (one-worker) runtime, for tests that
    /// block; the thread ends when the server stops.
    pub fn start_on_thread(self) -> TestServer {
        let (server, run) = self.prepare();
        std::thread::Builder::new()
            .name("test-server".into())
            .spawn(move || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(run)
            })
            .unwrap();
        server
    }

    /// Binds the sockets now (so the addresses are known) and returns the server and the
    /// future that runs it, to be polled inside a runtime.
    fn prepare(
        self,
    ) -> (
        TestServer,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let modes = self.listeners.clone().unwrap_or(vec![ListenMode::Plain]);
        let sockets: Vec<std::net::TcpListener> = match self.sockets {
            Some(given) => given,
            None => modes
                .iter()
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
                .collect(),
        };
        for s in &sockets {
            s.set_nonblocking(true).unwrap();
        }
        let addrs: Vec<String> = sockets
            .iter()
            .map(|s| s.local_addr().unwrap().to_string())
            .collect();
        let (clock, time) = if self.manual_clock {
            let (clock, time) = Clock::manual();
            (clock, Some(time))
        } else {
            (Clock::new(), None)
        };
        let (tx, rx) = watch::channel(false);
        let (stopped_tx, stopped_rx) = oneshot::channel();
        let (settings, explicit) = (self.settings, self.listeners.is_some());
        let stores = self.stores.unwrap_or_else(zk_server::Stores::in_memory);
        let (tree, sessions) = self.recovered.unwrap_or_default();
        let run = async move {
            let mut sockets = sockets
                .into_iter()
                .map(|s| tokio::net::TcpListener::from_std(s).unwrap());
            let res = if explicit {
                let listeners = sockets
                    .zip(modes)
                    .map(|(socket, mode)| Listener { socket, mode })
                    .collect();
                zk_server::run_listeners(settings, listeners, tree, sessions, stores, rx, clock)
                    .await
            } else {
                let socket = sockets.next().unwrap();
                zk_server::run_with_clock(settings, socket, tree, sessions, stores, rx, clock).await
            };
            if let Err(e) = res {
                panic!("server stopped: {e}");
            }
            let _ = stopped_tx.send(());
        };
        let server = TestServer {
            addr: addrs[0].clone(),
            addrs,
            time,
            shutdown: Some(tx),
            stopped: Some(stopped_rx),
        };
        (server, run)
    }
}

impl TestServer {
    /// A server someone else runs at `addr` (nothing to stop).
    pub fn external_at(addr: String) -> TestServer {
        TestServer {
            addrs: vec![addr.clone()],
            addr,
            time: None,
            shutdown: None,
            stopped: None,
        }
    }

    /// Stops an in-process server and waits (bounded by [`crate::WAIT`]) until it has shut
    /// down cleanly (its final snapshot written, its log closed); fails the test if it
    /// stopped with an error.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(stopped) = self.stopped.take() {
            within("server stop", stopped)
                .await
                .expect("the server stopped with an error");
        }
    }

    /// A `zookeeper-client` session (10 s timeout).
    pub async fn client(&self) -> zk::Client {
        self.client_with(zk::Client::connector().with_session_timeout(Duration::from_secs(10)))
            .await
    }

    /// A session from a configured connector.
    pub async fn client_with(&self, c: zk::Connector) -> zk::Client {
        within("client connect", c.connect(&self.addr))
            .await
            .unwrap()
    }

    /// A raw connection with a session (30 s requested, readOnly byte sent).
    pub async fn raw(&self) -> Raw {
        let mut r = Raw::connect(&self.addr).await;
        let resp = r.handshake(&ConnectReq::default()).await.expect("session");
        assert_ne!(resp.session_id, 0);
        r
    }

    /// Moves the manual clock.
    pub fn advance(&self, ms: i64) {
        self.time
            .as_ref()
            .expect("server runs on a manual clock")
            .advance(ms);
    }
}

/// A server with the ordinary [`settings`]: the external one if configured, else in-process.
pub async fn start() -> TestServer {
    match external() {
        Some(addr) => TestServer::external_at(addr),
        None => ServerBuilder::new(settings()).start().await,
    }
}

/// An in-process server with `settings` and a real clock; `None` in external mode.
pub async fn local(settings: Settings) -> Option<TestServer> {
    if external().is_some() {
        eprintln!("skipped: needs an in-process server");
        return None;
    }
    Some(ServerBuilder::new(settings).start().await)
}

/// An in-process server on a manual clock; `None` in external mode.
pub async fn local_manual(settings: Settings) -> Option<TestServer> {
    if external().is_some() {
        eprintln!("skipped: needs an in-process server with a manual clock");
        return None;
    }
    Some(ServerBuilder::new(settings).manual_clock().start().await)
}

/// A server that answers every four-letter word (`4lw.commands.whitelist=*`): the one at
/// `FERROKEEPER_TEST_EXTERNAL_4LW=host:port` if set (an Apache ZooKeeper started with that
/// whitelist), else an in-process one with `settings`; `None` when only
/// `FERROKEEPER_TEST_EXTERNAL` (default whitelist) is set.
pub async fn all_words_server(mut settings: Settings) -> Option<TestServer> {
    if let Some(addr) = std::env::var("FERROKEEPER_TEST_EXTERNAL_4LW")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return Some(TestServer::external_at(addr));
    }
    settings.four_letter_whitelist =
        zk_server::config::FourLetterWhitelist::from_property(Some("*"), false);
    local(settings).await
}

/// A path no other test uses (tests share one server in external mode).
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    if external().is_some() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!(
            "/{name}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    } else {
        format!("/{name}")
    }
}

/// Creates a fresh persistent open node for the test to work under; returns its path.
pub async fn fresh_root(c: &zk::Client, name: &str) -> String {
    let p = unique(name);
    c.create(&p, b"", &persistent()).await.unwrap();
    p
}

/// Persistent, world:anyone ALL.
pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Ephemeral, world:anyone ALL.
pub fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// The next state a client reports, bounded by [`crate::WAIT`].
pub async fn next_state(w: &mut zk::StateWatcher) -> zk::SessionState {
    within("session state change", w.changed()).await
}
