//! The tokio shell of Ferrokeeper: it accepts client connections, runs the core loop that
//! owns the tree, and the log writer that makes txns durable.
//!
//! ```text
//!   accept loop ──spawn──► conn task (per client) ──CoreMsg──► core task ──► log thread
//!        │ maxClientCnxns per address      ▲  Outgoing (replies, events)      │ fsync
//!        └─ shutdown (watch channel)        └──────────────────────────────────┘ durable
//! ```
//!
//! [`run`] wires it together; everything that decides lives in `zk-core` and `zk-tree`.
//! [`config`] reads zoo.cfg and `-D` system properties exactly as Apache ZooKeeper 3.8 does.

#![warn(missing_docs)]

pub mod audit;
pub mod conn;
pub mod core;
pub mod fourlw;
pub mod jaas;
pub mod listen;
pub mod log;
pub mod ops;
pub mod outbox;
pub mod quorum;
pub mod settings;
pub mod snapshots;
pub mod stats;
pub mod summary;
pub mod tls;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use zk_storage::TxnLog;
use zk_tree::DataTree;

pub use settings::Settings;
/// zoo.cfg and `-D` parsing lives in the `zk-config` crate; re-exported under its old
/// path so `zk_server::config::...` keeps working.
pub use zk_config as config;
/// Recovery at start (snapshot + log replay) is the node's.
pub use zk_node::recovery;

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The txn log failed: the node stopped without acknowledging anything more.
    #[error("txn log failure: {0}")]
    Log(#[from] zk_storage::StorageError),
    /// The log writer thread is gone without saying why.
    #[error("the txn log writer stopped")]
    LogStopped,
    /// The core task ended abnormally (a bug: it panicked, or was started twice).
    #[error("the core task ended: {0}")]
    Core(String),
    /// Accepting connections failed.
    #[error("listener failure: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the server writes: the txn log (required) and snapshots (none: the log alone).
pub struct Stores {
    /// The txn log, continuing after the recovered state.
    pub log: Box<dyn TxnLog>,
    /// Where snapshots go.
    pub snapshots: Option<Box<dyn zk_storage::SnapshotStore>>,
}

impl Stores {
    /// An in-memory log and no snapshots (tests, and a server without durability).
    pub fn in_memory() -> Self {
        Stores {
            log: Box::new(zk_storage::mem::MemStore::new()),
            snapshots: None,
        }
    }
}

/// How a listening socket treats the connections it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// Plaintext (`clientPort`).
    Plain,
    /// TLS only (`secureClientPort`): anything else fails the handshake.
    Tls,
    /// TLS or plaintext, told apart by the first byte (`client.portUnification=true`).
    Unified,
}

/// A listening socket and what it serves.
pub struct Listener {
    /// The bound socket.
    pub socket: TcpListener,
    /// Plaintext, TLS or both.
    pub mode: ListenMode,
}

/// Serves clients on `listener` until `shutdown` becomes true, over a tree recovered from
/// storage (`tree` and the open `sessions` with their timeouts, see [`recovery`]) and a txn
/// log that continues after it.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    tree: DataTree,
    sessions: Vec<(i64, i32)>,
    stores: Stores,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    run_with_clock(
        settings,
        listener,
        tree,
        sessions,
        stores,
        shutdown,
        core::Clock::new(),
    )
    .await
}

/// [`run`] with an explicit clock (tests pass [`core::Clock::manual`]).
pub async fn run_with_clock(
    settings: Settings,
    listener: TcpListener,
    tree: DataTree,
    sessions: Vec<(i64, i32)>,
    stores: Stores,
    shutdown: watch::Receiver<bool>,
    clock: core::Clock,
) -> Result<(), ServerError> {
    // The client port speaks TLS too when port unification is on and TLS is configured.
    let mode = if settings.client_port_unification && settings.tls.is_some() {
        ListenMode::Unified
    } else {
        ListenMode::Plain
    };
    let listeners = vec![Listener {
        socket: listener,
        mode,
    }];
    run_listeners(settings, listeners, tree, sessions, stores, shutdown, clock).await
}

/// [`run_with_clock`] on several listening sockets (the client port and the secure client
/// port). A [`ListenMode::Tls`] or [`ListenMode::Unified`] listener needs
/// [`Settings::tls`].
pub async fn run_listeners(
    settings: Settings,
    listeners: Vec<Listener>,
    tree: DataTree,
    sessions: Vec<(i64, i32)>,
    stores: Stores,
    shutdown: watch::Receiver<bool>,
    clock: core::Clock,
) -> Result<(), ServerError> {
    let start = Start::Standalone { tree, sessions };
    serve(settings, listeners, start, stores, shutdown, clock).await
}

/// What an ensemble member needs beyond a standalone server: its Zab peer (recovered from
/// the txn log and the epoch files), the transport's settings and the epoch store.
pub struct EnsembleParts {
    /// The peer, over the txn log after `base` (its database is rebuilt from both).
    pub peer: zk_node::ZabPeer,
    /// Where the peers are.
    pub net: quorum::PeerNetConfig,
    /// `acceptedEpoch` and `currentEpoch`.
    pub epochs: Box<dyn zk_storage::EpochStore>,
    /// The snapshot the peer's log starts after ([`zk_zab::peer::Peer::from_snapshot`]'s
    /// base): its zxid and zk-tree's snapshot-file image; `None` when the log is the whole
    /// history.
    pub base: Option<(i64, bytes::Bytes)>,
    /// Where a SNAP received from the leader is written (dataDir/version-2) before the
    /// log is emptied after it.
    pub base_snapshots: Box<dyn zk_storage::SnapshotStore>,
    /// Reads the snapshots of that directory by zxid (see [`core::PeerLink`]): with it the
    /// member holds no snapshot in memory and bounds its peer's in-memory log at each
    /// background snapshot (taken when [`Stores::snapshots`] is set).
    pub snapshot_source: Option<zk_node::SnapshotSource>,
}

/// Serves clients as a member of an ensemble (issue 13): the node's role is Zab, its peers
/// are reached through [`quorum::PeerNet`], and clients are served once it leads or follows
/// a synced leader (until then their connections are closed, as Java's do).
pub async fn run_ensemble(
    settings: Settings,
    listeners: Vec<Listener>,
    ensemble: EnsembleParts,
    stores: Stores,
    shutdown: watch::Receiver<bool>,
    clock: core::Clock,
) -> Result<(), ServerError> {
    serve(
        settings,
        listeners,
        Start::Ensemble(Box::new(ensemble)),
        stores,
        shutdown,
        clock,
    )
    .await
}

/// How the node starts (one value per server start: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Start {
    /// Standalone, from the recovered tree and sessions.
    Standalone {
        tree: DataTree,
        sessions: Vec<(i64, i32)>,
    },
    /// An ensemble member.
    Ensemble(Box<EnsembleParts>),
}

async fn serve(
    settings: Settings,
    listeners: Vec<Listener>,
    start: Start,
    stores: Stores,
    mut shutdown: watch::Receiver<bool>,
    clock: core::Clock,
) -> Result<(), ServerError> {
    let Stores { log, mut snapshots } = stores;
    let settings = Arc::new(settings);
    let stats = Arc::new(stats::Stats::with_metrics(!settings.ops.metrics_off));
    let (tree, sessions, ensemble) = match start {
        Start::Standalone { tree, sessions } => (tree, sessions, None),
        Start::Ensemble(parts) => (DataTree::new(), Vec::new(), Some(parts)),
    };
    let sessions = recovery::session_table(
        &sessions,
        settings.tick_ms,
        clock.wall_ms(),
        clock.mono_ms(),
        settings.session_id_server(),
    );
    let (ensemble, epochs) = match ensemble {
        Some(parts) => {
            let EnsembleParts {
                peer,
                net,
                epochs,
                base,
                base_snapshots,
                snapshot_source,
            } = *parts;
            let half_tick = Duration::from_millis(u64::from(settings.tick_ms.max(2) as u32 / 2));
            let (handle, delivered) = quorum::PeerNet::start(net, 4096)
                .await
                .map_err(|e| ServerError::Core(e.to_string()))?;
            // The first half tick a whole half tick from now (not at once, as `interval`
            // would): the peer's clock moves only with them, and an immediate one let the
            // election's finalize wait (200 ms) pass in a millisecond at start (seen in
            // kazoo's 3-node runs: a member followed a peer that was not leading, and
            // stayed out for initLimit).
            let mut half_tick =
                tokio::time::interval_at(tokio::time::Instant::now() + half_tick, half_tick);
            half_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let link = core::PeerLink {
                net: handle,
                delivered,
                half_tick,
                base,
                base_snapshots,
                snapshots: snapshots.take(),
                snapshot_source,
            };
            (Some((peer, link)), Some(epochs))
        }
        None => (None, None),
    };

    let (log_tx, log_rx) = std::sync::mpsc::channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let writer = {
        let log_stats = stats.log.clone();
        let policy = settings.flush;
        std::thread::Builder::new()
            .name("txn-log".into())
            .spawn(move || log::run_writer(log, epochs, log_rx, ev_tx, log_stats, policy))?
    };

    let (core_tx, core_rx) = mpsc::channel(settings.global_outstanding_limit.max(16));
    let audit = settings
        .audit
        .as_ref()
        .map(|a| (a.user.clone(), Arc::new(audit::AuditLog::open(a))));
    let core = match ensemble {
        Some((peer, link)) => core::Core::new_ensemble(
            settings.clone(),
            stats.clone(),
            sessions,
            peer,
            link,
            log_tx,
            clock,
        ),
        None => core::Core::new(
            settings.clone(),
            stats.clone(),
            tree,
            sessions,
            log_tx,
            clock,
            snapshots,
        ),
    }
    .with_audit(audit.as_ref().map(|(_, log)| log.clone()));
    let core_task = tokio::spawn(core.run(core_rx, ev_rx, shutdown.clone()));

    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut next_id: u64 = 1;
    // One accept task per socket, all feeding this loop.
    let (acc_tx, mut acc_rx) = mpsc::channel(16);
    let mut acceptors = Vec::new();
    for l in listeners {
        let mode = l.mode;
        if mode != ListenMode::Plain && settings.tls.is_none() {
            tracing::error!(
                "{} is configured for TLS, but TLS is not set up; not serving it",
                l.socket.local_addr()?
            );
            continue;
        }
        tracing::info!("serving clients on {} ({mode:?})", l.socket.local_addr()?);
        let acc_tx = acc_tx.clone();
        acceptors.push(tokio::spawn(async move {
            loop {
                let acc = l.socket.accept().await;
                if acc_tx.send((acc, mode)).await.is_err() {
                    return;
                }
            }
        }));
    }
    drop(acc_tx);
    // The operator surface (AdminServer, metrics page, readiness): off unless configured.
    let ops_state = Arc::new(ops::OpsState::new(
        settings.clone(),
        stats.clone(),
        core_tx.clone(),
    ));
    let ops_bound = ops::start(ops_state.clone(), shutdown.clone()).await;
    ops_state.set_serving(true);
    // ZKAuditProvider.addZKStartStopAuditLog.
    if let Some((user, log)) = &audit {
        log.write(&zk_node::AuditEvent::server(
            user,
            "serverStart",
            zk_node::AuditResult::Success,
        ));
    }
    ops::sd_notify::ready();
    settings.ops.bound.send_replace(Some(ops_bound));
    let mut core_task = core_task;
    let core_result = |res: Result<Result<(), ServerError>, tokio::task::JoinError>| match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ServerError::Core(e.to_string())),
    };
    let mut core_done = false;
    let result = loop {
        tokio::select! {
            res = &mut core_task => {
                core_done = true;
                break core_result(res);
            }
            _ = shutdown.changed() => break Ok(()),
            Some((acc, mode)) = acc_rx.recv() => {
                let (stream, peer) = match acc {
                    Ok((stream, peer)) => (stream, listen::canonical_peer(peer)),
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                };
                if settings.max_client_cnxns > 0 {
                    let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
                    let n = m.entry(peer.ip()).or_insert(0);
                    if *n >= settings.max_client_cnxns {
                        // NIOServerCnxnFactory's words (through its rate-limited logger).
                        tracing::warn!(
                            "Error accepting new connection: Too many connections from /{} - max is {}",
                            peer.ip(),
                            settings.max_client_cnxns
                        );
                        stats.connections_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        drop(stream);
                        continue;
                    }
                    *n += 1;
                }
                let id = next_id;
                next_id += 1;
                stats.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (core_tx, settings, stats, per_ip) =
                    (core_tx.clone(), settings.clone(), stats.clone(), per_ip.clone());
                tokio::spawn(async move {
                    conn::serve(stream, mode, peer, id, core_tx, settings.clone(), stats.clone()).await;
                    stats.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    if settings.max_client_cnxns > 0 {
                        let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(n) = m.get_mut(&peer.ip()) {
                            *n = n.saturating_sub(1);
                            if *n == 0 {
                                m.remove(&peer.ip());
                            }
                        }
                    }
                });
            }
        }
    };
    ops_state.set_serving(false);
    ops::sd_notify::stopping();
    drop(ops_state);
    drop(core_tx);
    for a in &acceptors {
        a.abort();
    }
    drop(acc_rx);
    let result = if core_done {
        result
    } else {
        // The core saw the shutdown too: it writes a last snapshot and returns.
        match tokio::time::timeout(std::time::Duration::from_secs(60), &mut core_task).await {
            Ok(res) => result.and(core_result(res)),
            Err(_) => {
                tracing::warn!("the core did not stop within 60 s; abandoning it");
                core_task.abort();
                result
            }
        }
    };
    let _ = writer.join();
    if let Some((user, log)) = &audit {
        log.write(&zk_node::AuditEvent::server(
            user,
            "serverStop",
            zk_node::AuditResult::Invoked,
        ));
    }
    if let Some(path) = std::env::var_os("FERROKEEPER_OPCODE_STATS") {
        // For the compatibility matrix: which opcodes a client suite exercised.
        let text: String = stats
            .op_counts()
            .iter()
            .map(|(op, n)| format!("{op} {n}\n"))
            .collect();
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!(
                "writing opcode counts to {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
    result
}
