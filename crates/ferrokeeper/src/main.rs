//! `ferrokeeper [--config zoo.cfg] [-Dkey=value ...]`: an Apache ZooKeeper server.
//!
//! With no configuration it serves standalone on 127.0.0.1:2181 with data in ./data.
//! zoo.cfg and `-D` system properties are read exactly as Apache ZooKeeper 3.8 reads them
//! (`zk_server::config`), so existing deployments and test harnesses need no change.

mod logfmt;
mod migrate;
mod progress;
mod shadow;
mod storage;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use zk_server::config::{self, ConfRuntime, Config, Host, JavaProperties, SystemProperties};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "ferrokeeper",
    version,
    about = "An Apache ZooKeeper server in Rust",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Run a tool instead of the server.
    #[command(subcommand)]
    tool: Option<Tool>,
    /// zoo.cfg to read (as `zkServer.sh` / `QuorumPeerMain` take it).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// The same file, given positionally.
    #[arg(value_name = "ZOO_CFG", conflicts_with = "config")]
    config_positional: Option<PathBuf>,
    /// A Java-style system property (`-Dzookeeper.snapCount=1000`); repeatable.
    #[arg(short = 'D', value_name = "KEY=VALUE", allow_hyphen_values = true)]
    define: Vec<String>,
}

/// Data-directory tools (run them with the server stopped).
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Import an Apache ZooKeeper data directory (snapshot.* and log.* in version-2) into the
    /// empty Ferrokeeper dataDir of --config.
    Import {
        /// Apache ZooKeeper's dataDir.
        #[arg(long, value_name = "DIR")]
        zookeeper_data_dir: PathBuf,
        /// Apache ZooKeeper's dataLogDir, when it is not its dataDir.
        #[arg(long, value_name = "DIR")]
        zookeeper_log_dir: Option<PathBuf>,
        /// Ferrokeeper's zoo.cfg (its dataDir and dataLogDir receive the data).
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Export Ferrokeeper's data as an Apache ZooKeeper data directory Apache ZooKeeper 3.8
    /// starts from.
    Export {
        /// The Apache ZooKeeper dataDir to create (its version-2 must hold no data).
        #[arg(long, value_name = "DIR")]
        to_zookeeper_data_dir: PathBuf,
        /// Ferrokeeper's zoo.cfg.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Serve clients from --primary and mirror every session to --candidate, logging each
    /// difference between their answers (docs/shadow.md).
    Shadow(shadow::Args),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // FERROKEEPER_LOG_LAYOUT=zookeeper: Apache ZooKeeper's logback layout (docs/operations.md).
    if std::env::var("FERROKEEPER_LOG_LAYOUT").as_deref() == Ok("zookeeper") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .event_format(logfmt::ZooKeeperLayout)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

fn default_config(sys: SystemProperties) -> anyhow::Result<config::Loaded> {
    let mut props = JavaProperties::new();
    props.insert("tickTime", "2000");
    props.insert("dataDir", "data");
    props.insert("clientPort", "2181");
    props.insert("clientPortAddress", "127.0.0.1");
    Ok(Config::parse(&props, None, sys, &config::DiskFiles)?)
}

/// Where a client port listens: its IP (`None`: every interface, IPv4 and IPv6, as
/// ZooKeeper binds a missing `clientPortAddress`) and port.
type ListenAddr = (Option<IpAddr>, u16);

fn listen_addr(cfg: &Config) -> anyhow::Result<Option<ListenAddr>> {
    let Some(ep) = cfg.client_port_address.as_ref() else {
        anyhow::ensure!(
            cfg.secure_client_port_address.is_some(),
            "no clientPort or secureClientPort configured: nothing to serve clients on"
        );
        return Ok(None);
    };
    endpoint_addr(ep, "clientPortAddress").map(Some)
}

fn endpoint_addr(ep: &config::Endpoint, what: &str) -> anyhow::Result<ListenAddr> {
    let ip = match &ep.host {
        Host::Wildcard => None,
        Host::Ip(ip) => Some(*ip),
        Host::Name(name) => {
            use std::net::ToSocketAddrs;
            let addrs: Vec<SocketAddr> = (name.as_str(), ep.port)
                .to_socket_addrs()
                .with_context(|| format!("resolving {what} {name}"))?
                .collect();
            // InetAddress.getByName: IPv4 first unless java.net.preferIPv6Addresses.
            let first = addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .with_context(|| format!("{what} {name} resolves to nothing"))?;
            Some(first.ip())
        }
    };
    Ok((ip, ep.port))
}

/// `ip:port` for messages; the wildcard as ZooKeeper prints it.
fn cfg_addr(ip: Option<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port)
}

/// The system property that ensembles needed while they were experimental (until issue
/// 13 closed); accepted and ignored now.
const EXPERIMENTAL_ENSEMBLE: &str = "ferrokeeper.experimentalEnsemble";

/// What this version cannot run of an ensemble configuration, refused with a clear error
/// before anything listens (serving part of it would give the member a view of the data the
/// others do not share): hierarchical quorums, and a member that is not listed.
fn ensemble_limits(cfg: &Config) -> anyhow::Result<()> {
    if !cfg.is_distributed() {
        return Ok(());
    }
    let old_opt_in = [
        EXPERIMENTAL_ENSEMBLE,
        &format!("zookeeper.{EXPERIMENTAL_ENSEMBLE}"),
    ]
    .iter()
    .any(|k| cfg.properties.get(k).is_some());
    if old_opt_in {
        tracing::info!(
            "{EXPERIMENTAL_ENSEMBLE} is no longer needed (ensembles are supported): ignored"
        );
    }
    // Quorum TLS: stores that cannot be used stop the member here, before anything
    // listens, rather than failing each peer connection later.
    zk_server::quorum::tls::QuorumTls::from_config(cfg).map_err(anyhow::Error::msg)?;
    if cfg.quorum.hierarchy.is_some() {
        anyhow::bail!(
            "this ensemble uses hierarchical quorums (group./weight. lines), which Ferrokeeper \
             does not support yet: use a majority quorum"
        );
    }
    let Some(me) = cfg.server_id else {
        anyhow::bail!("an ensemble member needs dataDir/myid");
    };
    if !cfg.quorum.servers.contains_key(&me) {
        anyhow::bail!("myid {me} is not one of the server.N lines");
    }
    Ok(())
}

/// An ensemble member's Zab peer over its newest snapshot (a SNAP it took from a leader, or
/// any snapshot in dataDir/version-2) and the txn log after it, and the transport's
/// settings. The database is rebuilt from both.
fn ensemble_parts(
    cfg: &Config,
    store: zk_storage_rocksdb::Storage,
    max_buffer: usize,
) -> anyhow::Result<(zk_server::EnsembleParts, zk_server::Stores)> {
    use zk_storage::{EpochStore, SnapshotStore, TxnLog};
    let me = cfg
        .server_id
        .context("an ensemble member needs dataDir/myid")?;
    let snapshots = store.snapshots.list().context("listing snapshots")?;
    let base = match snapshots.iter().copied().filter(|&z| z > 0).max() {
        Some(zxid) => {
            let (mut reader, size) = store
                .snapshots
                .reader(zxid)
                .with_context(|| format!("opening snapshot 0x{zxid:x}"))?;
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 30));
            std::io::Read::read_to_end(&mut reader, &mut data)
                .with_context(|| format!("reading snapshot 0x{zxid:x}"))?;
            // Checked now: a snapshot that does not load is refused at start.
            zk_tree::snapshot::read_snapshot(
                &data[..],
                zxid,
                &zk_tree::snapshot::ReadOptions::default(),
            )
            .with_context(|| format!("loading snapshot 0x{zxid:x}"))?;
            Some((zxid, bytes::Bytes::from(data)))
        }
        None => None,
    };
    let base_zxid = base.as_ref().map_or(0, |(z, _)| *z);
    let limits = zk_proto::Limits { max_buffer };
    let mut log = Vec::new();
    for (zxid, bytes) in store
        .log
        .read_from(base_zxid + 1, usize::MAX)
        .context("reading the txn log")?
    {
        if zxid <= base_zxid {
            continue;
        }
        let txn = zk_zab::wire::packet::TxnPayload::parse(bytes, limits)
            .map_err(|e| anyhow::anyhow!("txn 0x{zxid:x} in the log: {e}"))?;
        log.push(txn);
    }
    let (current, accepted) = store.epochs.epochs().context("reading the epoch files")?;
    let voters: Vec<i64> = cfg.quorum.voting_members().map(|s| s.id).collect();
    let verifier: zk_node::Verifier = std::sync::Arc::new(zk_zab::quorum::Majority::new(voters));
    let mut pc = zk_zab::peer::PeerConfig::new(me, verifier);
    // The server line decides (QuorumPeerConfig: "Peer type from servers list (...) doesn't
    // match peerType (...). Defaulting to servers list.").
    let by_line = cfg
        .quorum
        .servers
        .get(&me)
        .map_or(config::LearnerType::Participant, |s| s.learner_type);
    if by_line != cfg.peer_type {
        tracing::warn!(
            "Peer type from servers list ({}) doesn't match peerType ({}). Defaulting to \
             servers list.",
            format!("{by_line:?}").to_uppercase(),
            format!("{:?}", cfg.peer_type).to_uppercase()
        );
    }
    if by_line == config::LearnerType::Observer {
        pc.learner_type = zk_zab::election::LearnerType::Observer;
    }
    pc.tick_ms = cfg.tick_time.max(1) as u64;
    pc.init_limit = cfg.init_limit.max(1) as u64;
    pc.sync_limit = cfg.sync_limit.max(1) as u64;
    pc.config_text = bytes::Bytes::from(cfg.quorum.to_string());
    pc.commit_log_count = usize::try_from(cfg.commit_log_count).unwrap_or(500);
    pc.txn_log_sync = cfg.snapshot_size_factor >= 0.0;
    // Distinct per start (learner connection ids carry it): seconds since 2020.
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs().saturating_sub(1_577_836_800).max(1));
    tracing::info!(
        "ensemble member {me} of {}: snapshot 0x{base_zxid:x}, {} txns in the log after it (last 0x{:x}), acceptedEpoch {accepted}, currentEpoch {current}",
        cfg.quorum.voting_members().count(),
        log.len(),
        log.last().map_or(base_zxid, |t| t.header().zxid)
    );
    let peer =
        zk_zab::peer::Peer::from_snapshot(pc, base_zxid, log, accepted, current, incarnation);
    let net = zk_server::quorum::PeerNetConfig::from_config(cfg)?;
    let source = store.snapshots.clone();
    drop(base);
    Ok((
        zk_server::EnsembleParts {
            peer,
            net,
            epochs: Box::new(store.epochs),
            // Read again when a rebuild needs it: the member holds no snapshot in memory.
            base: None,
            base_snapshots: Box::new(store.snapshots.clone()),
            snapshot_source: Some(Box::new(move |zxid| read_snapshot_file(&source, zxid))),
        },
        zk_server::Stores {
            log: Box::new(store.log),
            // The member's own background snapshots, every snapCount txns while it serves.
            snapshots: Some(Box::new(store.snapshots)),
        },
    ))
}

/// Snapshot `zxid` of `store` whole (zk-tree's file image), or `None` (logged) when it
/// cannot be read.
fn read_snapshot_file(
    store: &zk_storage_rocksdb::FileSnapshotStore,
    zxid: i64,
) -> Option<bytes::Bytes> {
    use zk_storage::SnapshotStore;
    let read = || -> Result<Vec<u8>, zk_storage::StorageError> {
        let (mut reader, size) = store.reader(zxid)?;
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 30));
        std::io::Read::read_to_end(&mut reader, &mut data)?;
        Ok(data)
    };
    match read() {
        Ok(data) => Some(bytes::Bytes::from(data)),
        Err(e) => {
            tracing::error!("reading snapshot 0x{zxid:x}: {e}");
            None
        }
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Fixes glibc malloc's mmap threshold at its default, 128 KiB. Left alone, glibc raises it
/// (up to 32 MiB) each time a mapped block is freed, after which large blocks (RocksDB's
/// memtable arenas, snapshot buffers) come from the heap and are kept there once freed: by
/// hand on 2026-12-07, 253 bytes of RSS per znode after loading 1,000,000 znodes with the
/// moving threshold, 238 with it fixed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    // SAFETY: mallopt only sets a malloc parameter; it is called before any other thread
    // exists.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    if ok != 1 {
        eprintln!("mallopt(M_MMAP_THRESHOLD) failed; large blocks may stay in the heap");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}

fn main() -> anyhow::Result<()> {
    fix_mmap_threshold();
    init_logging();
    let cli = Cli::parse();
    if let Some(Tool::Shadow(args)) = cli.tool {
        return shadow::main(args);
    }
    let (sys, rest) = SystemProperties::from_args(cli.define.iter().map(|d| format!("-D{d}")))?;
    anyhow::ensure!(rest.is_empty(), "unexpected arguments {rest:?}");
    let tool_config = match &cli.tool {
        Some(Tool::Import { config, .. } | Tool::Export { config, .. }) => config.clone(),
        Some(Tool::Shadow(_)) | None => None,
    };
    let loaded = match cli.config.or(cli.config_positional).or(tool_config) {
        Some(path) => config::load(&path, sys)
            .with_context(|| format!("reading configuration {}", path.display()))?,
        None => default_config(sys)?,
    };
    if let Some(id) = loaded.config.server_id {
        logfmt::set_myid(id);
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let cfg = loaded.config;
    let max_buffer =
        (cfg.jute_max_buffer.max(0) as usize) + (cfg.jute_max_buffer_extra.max(0) as usize);
    match cli.tool {
        Some(Tool::Import {
            zookeeper_data_dir,
            zookeeper_log_dir,
            ..
        }) => {
            return migrate::import(
                &zookeeper_data_dir,
                zookeeper_log_dir.as_deref(),
                &cfg.data_dir,
                &cfg.data_log_dir,
                max_buffer,
            )
        }
        Some(Tool::Export {
            to_zookeeper_data_dir,
            ..
        }) => {
            return migrate::export(
                &to_zookeeper_data_dir,
                &cfg.data_dir,
                &cfg.data_log_dir,
                max_buffer,
            )
        }
        Some(Tool::Shadow(_)) | None => {}
    }
    ensemble_limits(&cfg)?;
    let addr = listen_addr(&cfg)?;
    let secure_addr = cfg
        .secure_client_port_address
        .as_ref()
        .map(|ep| endpoint_addr(ep, "secureClientPortAddress"))
        .transpose()?;
    // TLS material is loaded before anything listens: a bad store stops the start.
    let tls = match secure_addr.is_some() || cfg.client_port_unification {
        true => Some(std::sync::Arc::new(
            zk_server::tls::TlsOptions::from_properties(&cfg.properties)
                .and_then(zk_server::tls::TlsServer::new)
                .context("setting up TLS for the secure client port")?,
        )),
        false => None,
    };
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating dataDir {}", cfg.data_dir.display()))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut listeners = Vec::new();
        let mut bound = None;
        let backlog = cfg.client_port_listen_backlog;
        if let Some((ip, port)) = addr {
            let socket = zk_server::listen::bind_client_port(ip, port, backlog)
                .with_context(|| format!("binding client port {}", cfg_addr(ip, port)))?;
            bound = Some(socket.local_addr()?.port());
            let mode = if cfg.client_port_unification && tls.is_some() {
                zk_server::ListenMode::Unified
            } else {
                zk_server::ListenMode::Plain
            };
            listeners.push(zk_server::Listener { socket, mode });
        }
        let mut secure_bound = None;
        if let Some((ip, port)) = secure_addr {
            let socket = zk_server::listen::bind_client_port(ip, port, backlog)
                .with_context(|| format!("binding secure client port {}", cfg_addr(ip, port)))?;
            secure_bound = Some(socket.local_addr()?.port());
            listeners.push(zk_server::Listener {
                socket,
                mode: zk_server::ListenMode::Tls,
            });
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        let conf_text = config::render_conf(
            &cfg,
            &ConfRuntime {
                client_port: bound,
                secure_client_port: secure_bound,
                snap_dir_bytes: dir_bytes(&cfg.snap_dir()),
                log_dir_bytes: dir_bytes(&cfg.log_dir()),
                working_dir: &cwd,
                membership: None,
            },
        );
        let mut settings = zk_server::Settings::from_config(&cfg, conf_text);
        settings.tls = tls;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("shutting down");
            let _ = tx.send(true);
        });
        tracing::info!(
            "Ferrokeeper {} starting, dataDir {}",
            env!("CARGO_PKG_VERSION"),
            cfg.data_dir.display()
        );
        let max_buffer = settings.max_buffer + settings.max_buffer_extra;
        if cfg.is_distributed() {
            let store = zk_storage_rocksdb::Storage::open(&cfg.data_dir, &cfg.data_log_dir)
                .context("opening the data directories")?;
            let (parts, stores) = ensemble_parts(&cfg, store, max_buffer)?;
            return zk_server::run_ensemble(
                settings,
                listeners,
                parts,
                stores,
                rx,
                zk_server::core::Clock::new(),
            )
            .await
            .context("server stopped");
        }
        let (store, recovered) = storage::open_and_recover(
            &cfg.data_dir,
            &cfg.data_log_dir,
            max_buffer,
            &zk_storage::progress::NoProgress,
        )?;
        let mut snapshots = store.snapshots;
        storage::snapshot_after_recovery(&mut snapshots, &recovered);
        zk_server::run_listeners(
            settings,
            listeners,
            recovered.tree,
            recovered.sessions,
            zk_server::Stores {
                log: Box::new(store.log),
                snapshots: Some(Box::new(snapshots)),
            },
            rx,
            zk_server::core::Clock::new(),
        )
        .await
        .context("server stopped")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(zoo_cfg: &str) -> Config {
        let props = JavaProperties::parse_str(zoo_cfg).unwrap();
        let files: BTreeMap<PathBuf, Vec<u8>> =
            BTreeMap::from([(PathBuf::from("/zk/data/myid"), b"1".to_vec())]);
        Config::parse(&props, None, SystemProperties::new(), &files)
            .unwrap()
            .config
    }

    const BASE: &str = "dataDir=/zk/data\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n";

    #[test]
    fn what_an_ensemble_member_cannot_run_yet_is_refused() {
        let three = "server.1=a:2888:3888\nserver.2=b:2888:3888\nserver.3=c:2888:3888\n";
        assert!(ensemble_limits(&parse(&format!("{BASE}{three}"))).is_ok());
        // The opt-in of the experimental days is accepted and changes nothing.
        let old = format!("{BASE}{EXPERIMENTAL_ENSEMBLE}=true\n{three}");
        assert!(ensemble_limits(&parse(&old)).is_ok());
        // Observers run.
        let cfg = parse(&format!("{BASE}{three}server.4=d:2888:3888:observer\n"));
        assert!(ensemble_limits(&cfg).is_ok());
        // Quorum TLS without its stores: refused rather than run in the clear. Quorum
        // SASL runs.
        let cfg = parse(&format!("{BASE}{three}sslQuorum=true\n"));
        let e = ensemble_limits(&cfg).unwrap_err().to_string();
        assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
        let cfg = parse(&format!("{BASE}{three}portUnification=true\n"));
        let e = ensemble_limits(&cfg).unwrap_err().to_string();
        assert!(e.contains("portUnification=true needs"), "{e}");
        let sasl = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n\
                    quorum.auth.serverRequireSasl=true\n";
        assert!(ensemble_limits(&parse(&format!("{BASE}{three}{sasl}"))).is_ok());
        // Hierarchical quorums.
        let cfg = parse(&format!(
            "{BASE}{three}group.1=1:2:3\nweight.1=1\nweight.2=1\nweight.3=1\n"
        ));
        let e = ensemble_limits(&cfg).unwrap_err().to_string();
        assert!(e.contains("hierarchical"), "{e}");
    }

    #[test]
    fn one_participant_is_standalone_or_a_quorum_of_one() {
        // QuorumPeerMain runs this standalone ("only one server specified (ignoring)").
        let cfg = parse(&format!("{BASE}server.1=a:2888:3888\n"));
        assert!(!cfg.is_distributed());
        assert!(ensemble_limits(&cfg).is_ok());
        assert!(ensemble_limits(&parse(BASE)).is_ok());
        // ...and as a quorum peer of one when standaloneEnabled=false.
        let cfg = parse(&format!(
            "{BASE}standaloneEnabled=false\nserver.1=a:2888:3888\n"
        ));
        assert!(cfg.is_distributed());
        assert!(ensemble_limits(&cfg).is_ok());
    }
}
