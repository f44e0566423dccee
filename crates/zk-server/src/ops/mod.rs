//! The operator surface: Apache ZooKeeper's AdminServer (`/commands/<name>`), the Prometheus
//! metrics page (`metricsProvider.*`), Kubernetes-style probes and systemd readiness.
//!
//! ```text
//!   admin.serverAddress:serverPort ─► axum ─┬─ /commands/<name> ─► admin::run ─┐
//!                                           ├─ /healthz, /readyz              │ Query
//!   metricsProvider.httpHost:httpPort ─► axum ── /metrics ─► prometheus ──────┼──────► core
//!                                                                             │ Stats (atomics)
//! ```
//!
//! Both servers are cold paths: they read the counters the server keeps anyway and ask the
//! core for tree figures with a [`query::Query`], the way four-letter words do.

pub mod admin;
pub mod facade;
pub mod figures;
pub mod https;
pub mod json;
pub mod prometheus;
pub mod query;
pub mod sd_notify;
pub mod snaprest;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::core::CoreMsg;
use crate::settings::Settings;
use crate::stats::Stats;

/// The prefix of the one metrics-provider class whose page Ferrokeeper serves.
pub const PROMETHEUS_PROVIDER: &str = crate::config::PROMETHEUS_METRICS_PROVIDER;

/// How long an operator request waits for the core before it answers "not serving".
const CORE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the AdminServer listens and how it is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// `admin.serverAddress`.
    pub address: String,
    /// `admin.serverPort` (0: any free port, for tests).
    pub port: u16,
    /// `admin.commandURL`.
    pub command_url: String,
    /// `admin.snapshot.enabled` (default true).
    pub snapshot_enabled: bool,
    /// `admin.restore.enabled` (default true).
    pub restore_enabled: bool,
    /// `admin.rateLimiterIntervalInMS` (default 300000; see [`snaprest`] for the unit the
    /// snapshot limiter reads it in).
    pub rate_limiter_interval_ms: i64,
    /// `zookeeper.IPAuthenticationProvider.usexforwardedfor`: the `ip` scheme takes the
    /// client address from `X-Forwarded-For`.
    pub x_forwarded_for: bool,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            address: "0.0.0.0".into(),
            port: 8080,
            command_url: "/commands".into(),
            snapshot_enabled: true,
            restore_enabled: true,
            rate_limiter_interval_ms: 300_000,
            x_forwarded_for: false,
        }
    }
}

/// The operator surface's settings.
#[derive(Debug, Clone, Default)]
pub struct OpsSettings {
    /// The AdminServer, when `admin.enableServer` is not `false`.
    pub admin: Option<AdminSettings>,
    /// `metricsProvider.httpHost` and `httpPort`, when the Prometheus provider is chosen.
    pub prometheus: Option<(String, u16)>,
    /// `metricsProvider.className=…NullMetricsProvider`: no summary distributions are
    /// recorded and `mntr`/`monitor` print only the version and the state.
    pub metrics_off: bool,
    /// The configuration file's text (`initial_configuration`).
    pub initial_configuration: String,
    /// The client port (`configuration`), 0 when none.
    pub client_port: i32,
    /// `clientPortListenBacklog`.
    pub client_port_listen_backlog: i32,
    /// Told where the servers listen once they are bound (tests bind port 0).
    pub bound: Arc<watch::Sender<Option<Bound>>>,
    /// HTTPS for the AdminServer (`admin.forceHttps`, `admin.portUnification`).
    pub admin_tls: Option<https::AdminTls>,
}

impl OpsSettings {
    /// The settings a parsed configuration asks for.
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        let sys = &cfg.properties;
        let admin = cfg.admin.enabled.then(|| AdminSettings {
            address: cfg.admin.address.clone(),
            port: u16::try_from(cfg.admin.port).unwrap_or(8080),
            command_url: cfg.admin.command_url.clone(),
            snapshot_enabled: sys.get_boolean_or("zookeeper.admin.snapshot.enabled", true),
            restore_enabled: sys.get_boolean_or("zookeeper.admin.restore.enabled", true),
            rate_limiter_interval_ms: i64::from(
                sys.get_integer("zookeeper.admin.rateLimiterIntervalInMS", 300_000),
            ),
            x_forwarded_for: sys.get_boolean("zookeeper.IPAuthenticationProvider.usexforwardedfor"),
        });
        let prometheus = (cfg.metrics_provider_class_name == PROMETHEUS_PROVIDER).then(|| {
            let p = &cfg.metrics_provider_config;
            let host = p.get("httpHost").unwrap_or("0.0.0.0").trim().to_string();
            let port = p
                .get("httpPort")
                .and_then(|v| v.trim().parse::<u16>().ok())
                .unwrap_or(7000);
            (host, port)
        });
        // JettyAdminServer: forceHttps (TLS only) overrides portUnification; TLS material
        // from the quorum stores. Stores that cannot be loaded leave no AdminServer, as
        // upstream's factory falls back to its dummy server.
        let force_https = sys.get_boolean("zookeeper.admin.forceHttps");
        let unified = sys.get_boolean("zookeeper.admin.portUnification");
        let mut admin = admin;
        let mut admin_tls = None;
        if admin.is_some() && (force_https || unified) {
            let need = sys.get_boolean("zookeeper.admin.needClientAuth");
            match crate::tls::TlsOptions::for_admin(sys, need).and_then(crate::tls::TlsServer::new)
            {
                Ok(server) => {
                    admin_tls = Some(https::AdminTls {
                        server: Arc::new(server),
                        force_https,
                    })
                }
                Err(e) => {
                    tracing::error!(
                        "Failed to load authentication certificates for admin server: {e}; \
                         the AdminServer is not started"
                    );
                    admin = None;
                }
            }
        }
        let initial_configuration = cfg
            .config_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        OpsSettings {
            admin,
            prometheus,
            metrics_off: cfg.metrics_provider_class_name == crate::config::NULL_METRICS_PROVIDER,
            initial_configuration,
            client_port: cfg
                .client_port_address
                .as_ref()
                .map_or(0, |e| i32::from(e.port)),
            client_port_listen_backlog: cfg.client_port_listen_backlog,
            bound: Arc::default(),
            admin_tls,
        }
    }
}

/// What the operator servers share: settings, counters, the way to the core, and whether
/// the node serves clients.
pub struct OpsState {
    /// Server settings.
    pub settings: Arc<Settings>,
    /// Counters.
    pub stats: Arc<Stats>,
    pub(crate) core: mpsc::Sender<CoreMsg>,
    serving: AtomicBool,
    pub(crate) snap_restore: snaprest::SnapRestore,
}

impl OpsState {
    /// State over a running core.
    pub fn new(settings: Arc<Settings>, stats: Arc<Stats>, core: mpsc::Sender<CoreMsg>) -> Self {
        OpsState {
            snap_restore: snaprest::SnapRestore::new(settings.ops.admin.as_ref()),
            settings,
            stats,
            core,
            serving: AtomicBool::new(false),
        }
    }

    /// Marks the node as serving clients (or not).
    pub fn set_serving(&self, on: bool) {
        self.serving.store(on, Ordering::Relaxed);
    }

    /// Whether the node serves clients: its listeners are up and the core answers.
    pub async fn ready(&self) -> bool {
        self.serving.load(Ordering::Relaxed) && self.ask(query::Query::Figures).await.is_some()
    }

    /// Asks the core; `None` when it is gone or does not answer in time.
    pub async fn ask(&self, q: query::Query) -> Option<query::Answer> {
        let (reply, rx) = oneshot::channel();
        let msg = CoreMsg::Query { query: q, reply };
        let sent = tokio::time::timeout(CORE_TIMEOUT, self.core.send(msg)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return None;
        }
        tokio::time::timeout(CORE_TIMEOUT, rx).await.ok()?.ok()
    }

    /// The figures of now; `None` when the core does not answer.
    pub async fn figures(&self) -> Option<figures::Figures> {
        match self.ask(query::Query::Figures).await? {
            query::Answer::Figures(t) => Some(figures::Figures::collect(*t, &self.stats)),
            _ => None,
        }
    }
}

/// The bound operator listeners (their ports, for tests that bind port 0).
#[derive(Debug, Default, Clone, Copy)]
pub struct Bound {
    /// The AdminServer's address.
    pub admin: Option<std::net::SocketAddr>,
    /// The metrics page's address.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Starts the AdminServer and the metrics page as `state.settings.ops` asks. A port that
/// cannot be bound is logged as upstream logs it and that server is skipped; the node keeps
/// serving clients. Both stop when `shutdown` becomes true.
pub async fn start(state: Arc<OpsState>, shutdown: watch::Receiver<bool>) -> Bound {
    // Before anything records through the `metrics` facade.
    facade::install();
    let mut bound = Bound::default();
    let ops = &state.settings.ops;
    if let Some(a) = &ops.admin {
        let mut router = admin::router(state.clone(), &a.command_url);
        if ops.admin_tls.as_ref().is_some_and(|t| t.force_https) {
            // Jetty's SecureRequestCustomizer: HSTS, one day, subdomains included.
            router = router.layer(axum::middleware::map_response(hsts));
        }
        let tls = ops.admin_tls.clone();
        match serve(&a.address, a.port, router, shutdown.clone(), tls).await {
            Ok(addr) => {
                tracing::info!(
                    "Started AdminServer on address {}, port {} and command URL {}",
                    a.address,
                    addr.port(),
                    a.command_url
                );
                bound.admin = Some(addr);
            }
            Err(e) => tracing::error!(
                "Problem starting AdminServer on address {}, port {} and command URL {}: {e}",
                a.address,
                a.port,
                a.command_url
            ),
        }
    }
    if let Some((host, port)) = &ops.prometheus {
        let router = prometheus::router(state.clone());
        match serve(host, *port, router, shutdown, None).await {
            Ok(addr) => {
                tracing::info!("Prometheus metrics available on http://{addr}/metrics");
                bound.metrics = Some(addr);
            }
            Err(e) => {
                tracing::error!("Cannot start the Prometheus metrics page on {host}:{port}: {e}")
            }
        }
    }
    bound
}

async fn hsts(mut r: axum::response::Response) -> axum::response::Response {
    r.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static("max-age=86400; includeSubDomains"),
    );
    r
}

async fn serve(
    host: &str,
    port: u16,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<https::AdminTls>,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind((host, port)).await?;
    let addr = listener.local_addr()?;
    let (https, plain) = match tls {
        Some(t) => (
            Some(https::AdminListener::spawn(listener, t, shutdown.clone())?),
            None,
        ),
        None => (None, Some(listener)),
    };
    tokio::spawn(async move {
        let stop = async move {
            // A dropped sender counts as shutdown too.
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        let service = router.into_make_service_with_connect_info::<https::AdminPeer>();
        let served = match (https, plain) {
            (Some(l), _) => axum::serve(l, service).with_graceful_shutdown(stop).await,
            (None, Some(l)) => axum::serve(l, service).with_graceful_shutdown(stop).await,
            (None, None) => Ok(()),
        };
        if let Err(e) = served {
            tracing::warn!("HTTP server on {addr} stopped: {e}");
        }
    });
    Ok(addr)
}
