//! Ferrokeeper's configuration, as Apache ZooKeeper 3.8 reads it: zoo.cfg, `-D` system
//! properties, `dataDir/myid`, the dynamic config file, and the ensemble they describe.
//!
//! **Owns**: parsing and validation (refusing what Java refuses, with the key at fault),
//! the typed [`Config`] with Java's defaults, the ensemble (`server.N` lines with roles and
//! client addresses, groups and weights) and its [`QuorumVerifier`] with
//! [`QuorumVerifier::contains_quorum`], the four-letter-word whitelist, redaction of
//! secrets, and the text of the `conf` word.
//! **Does not own**: acting on any of it (binding sockets, TLS, storage, elections: that is
//! zk-server and the crates below it), name resolution (host names are kept as written),
//! or logging (warnings are returned as lines for the caller to print). It depends on no
//! async runtime, TLS or storage crate, so Zab, the node pipeline and the simulator can use
//! it; the only IO is reading files, kept behind [`ConfigFiles`].
//!
//! Two inputs, one result:
//!
//! ```text
//!   -Dkey=value args ──► SystemProperties ─┐
//!                                          ├─► Config::parse ──► Loaded { config, warnings }
//!   zoo.cfg bytes ──► JavaProperties ──────┘        ▲
//!                                                   └── ConfigFiles: dataDir/myid, the
//!                                                       dynamic config file, .dynamic.next
//! ```
//!
//! * zoo.cfg is read with `java.util.Properties` syntax ([`properties`]).
//! * Keys `QuorumPeerConfig` knows fill typed fields; every other key `k` becomes the
//!   system property `zookeeper.k`, overriding a `-Dzookeeper.k` from the command line
//!   (see [`system`] for the precedence and how it was checked).
//! * Settings ZooKeeper reads from system properties (`zookeeper.snapCount`,
//!   `jute.maxbuffer`, `zookeeper.4lw.commands.whitelist`, ...) are then read from the
//!   merged map with Java's own lenient parsing and land in typed fields too. The whole map
//!   stays available in [`Config::properties`] (TLS settings, auth providers, ...).
//! * Where Apache ZooKeeper refuses to start, [`Config::parse`] returns a [`ConfigError`]
//!   naming the key and value. Everything else is accepted; what Ferrokeeper does not act
//!   on yet is reported in [`Loaded::warnings`], one line per key. Secret values (keys
//!   containing `password`, `secret`, `digest`) never appear in errors, warnings, `Debug`
//!   output or the `conf` word ([`secret`]).
//! * Standalone or ensemble is `QuorumPeerConfig.isDistributed`: standalone with no
//!   participant, or exactly one while `standaloneEnabled` is true (the default).
//!
//! Reading files is kept at the edge: [`load`] reads from disk, [`Config::parse`] takes the
//! parsed zoo.cfg plus a [`ConfigFiles`] for the few other files ZooKeeper reads.
//!
//! Where we depart from Apache ZooKeeper on purpose (each documented where it happens): an
//! empty `dataDir` and a negative `tickTime` are refused (Java would use `/version-2` and
//! run with negative timeouts); a `myid` missing from the `server.N` list of an ensemble is
//! refused here instead of when the peer starts; an unknown `metricsProvider.className` is
//! a warning, not a refusal; host names are not resolved while parsing.

#![warn(missing_docs)]

pub mod conf;
pub mod four_letter;
mod keys;
mod parse;
pub mod properties;
pub mod quorum;
pub mod secret;
pub mod system;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

pub use conf::{render_conf, ConfRuntime, NOT_SERVING};
pub use four_letter::FourLetterWhitelist;
pub use parse::parse_myid;
pub use properties::{JavaProperties, PropertiesError};
pub use quorum::{Endpoint, Host, LearnerType, QuorumServer, QuorumVerifier};
pub use secret::Secret;
pub use system::{Origin, SystemProperties};

/// Why the configuration cannot be used. Values of secret keys are already redacted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The configuration file does not exist.
    #[error("configuration file {} does not exist", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid properties syntax (a malformed `\uXXXX`).
    #[error("{}: {source}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where.
        #[source]
        source: PropertiesError,
    },
    /// A key has a value Apache ZooKeeper refuses.
    #[error("invalid {key}={value:?}: {reason}")]
    InvalidValue {
        /// The key, as written in zoo.cfg (or the system property name).
        key: String,
        /// The value (redacted if the key is secret).
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A combination of settings Apache ZooKeeper refuses; `key` is the one to fix.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key at fault.
        key: String,
        /// Why.
        reason: String,
    },
    /// A command-line argument is malformed.
    #[error("bad argument {argument}: {reason}")]
    BadArgument {
        /// The argument (redacted if secret).
        argument: String,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::InvalidValue`], redacting secret values.
    pub(crate) fn value(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            value: secret::shown(key, value).to_owned(),
            reason: reason.into(),
        }
    }

    /// An [`ConfigError::Invalid`].
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The files Apache ZooKeeper reads besides zoo.cfg, behind a seam so parsing stays pure.
pub trait ConfigFiles {
    /// The contents of the regular file at `path`; `Ok(None)` when there is no such
    /// regular file.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskFiles;

impl ConfigFiles for DiskFiles {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => std::fs::read(path).map(Some),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// In-memory files, for tests and embedders.
impl ConfigFiles for BTreeMap<PathBuf, Vec<u8>> {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        Ok(self.get(path).cloned())
    }
}

/// A parsed configuration and what the operator should be told about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// One line per setting that was accepted but is not acted on (or has no effect
    /// where it was written). No secret values.
    pub warnings: Vec<String>,
}

/// Reads zoo.cfg at `path` (and `dataDir/myid`, the dynamic config file if any) from disk.
pub fn load(path: &Path, sys: SystemProperties) -> Result<Loaded, ConfigError> {
    load_with(path, sys, &DiskFiles)
}

/// [`load`], reading every file (zoo.cfg included) through `files`.
pub fn load_with(
    path: &Path,
    sys: SystemProperties,
    files: &dyn ConfigFiles,
) -> Result<Loaded, ConfigError> {
    let bytes = files
        .read(path)
        .map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| ConfigError::NotFound {
            path: path.to_owned(),
        })?;
    let cfg = JavaProperties::parse_bytes(&bytes).map_err(|source| ConfigError::Syntax {
        path: path.to_owned(),
        source,
    })?;
    Config::parse(&cfg, Some(path), sys, files)
}

/// The admin HTTP server (`zookeeper.admin.*`, `JettyAdminServer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminServer {
    /// `zookeeper.admin.enableServer`: on unless exactly `false`. Default on.
    pub enabled: bool,
    /// `zookeeper.admin.serverAddress`, default `0.0.0.0`.
    pub address: String,
    /// `zookeeper.admin.serverPort`, default 8080.
    pub port: i32,
    /// `zookeeper.admin.idleTimeout` in ms, default 30000.
    pub idle_timeout_ms: i32,
    /// `zookeeper.admin.commandURL`, default `/commands`.
    pub command_url: String,
}

/// Container and TTL node reaping (`ContainerManager`; system properties only, no
/// `zookeeper.` prefix, so zoo.cfg cannot set them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Containers {
    /// `znode.container.checkIntervalMs`, default 60000.
    pub check_interval_ms: i32,
    /// `znode.container.maxPerMinute`, default 10000.
    pub max_per_minute: i32,
    /// `znode.container.maxNeverUsedIntervalMs`, default 0 (never-used containers stay).
    pub max_never_used_interval_ms: i64,
}

/// Authentication every session must have (`AuthenticationHelper`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnforceAuth {
    /// `zookeeper.enforce.auth.enabled`, or `zookeeper.sessionRequireClientSASLAuth`.
    pub enabled: bool,
    /// `zookeeper.enforce.auth.schemes`, comma-separated and trimmed; just `sasl` when
    /// `zookeeper.sessionRequireClientSASLAuth` is true.
    pub schemes: Vec<String>,
}

/// Quorum SASL settings (`quorum.auth.*`): DIGEST-MD5 between members (Kerberos is not
/// implemented; `service_principal` is read and unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumSasl {
    /// `quorum.auth.enableSasl`, default false.
    pub enabled: bool,
    /// `quorum.auth.serverRequireSasl`, default false.
    pub server_required: bool,
    /// `quorum.auth.learnerRequireSasl`, default false.
    pub learner_required: bool,
    /// `quorum.auth.kerberos.servicePrincipal`, default `zkquorum/localhost`.
    pub service_principal: String,
    /// `quorum.auth.learner.saslLoginContext`, default `QuorumLearner`.
    pub learner_login_context: String,
    /// `quorum.auth.server.saslLoginContext`, default `QuorumServer`.
    pub server_login_context: String,
}

/// The Prometheus provider's `metricsProvider.className`, whose page Ferrokeeper serves.
pub const PROMETHEUS_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// The Prometheus provider's keys Ferrokeeper honours (`exportJvmInfo` has nothing to
/// export: there is no JVM).
pub const PROMETHEUS_PROVIDER_KEYS: &[&str] = &[
    "metricsProvider.httpHost",
    "metricsProvider.httpPort",
    "metricsProvider.exportJvmInfo",
];

/// The default `zookeeper.cnxTimeout` (`QuorumCnxManager`), in ms.
pub const DEFAULT_CNX_TIMEOUT_MS: i32 = 5000;

/// The default `zookeeper.electionPortBindRetry` (`QuorumCnxManager.Listener`).
pub const DEFAULT_ELECTION_PORT_BIND_RETRY: u32 = 3;

/// `metricsProvider.className` of upstream's provider that records nothing: Ferrokeeper
/// then keeps no summary distributions and `mntr`/`monitor` print only the version and
/// the server state, as upstream.
pub const NULL_METRICS_PROVIDER: &str = "org.apache.zookeeper.metrics.impl.NullMetricsProvider";

/// The default `metricsProvider.className`.
pub const DEFAULT_METRICS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";

/// Everything a Ferrokeeper server needs to know at start, with Apache ZooKeeper 3.8's
/// defaults. Fields name the zoo.cfg key or system property they come from.
#[derive(Debug, Clone)]
pub struct Config {
    // ---- zoo.cfg, as QuorumPeerConfig reads it ------------------------------------
    /// The zoo.cfg path, when read from a file.
    pub config_file: Option<PathBuf>,
    /// `dataDir` (required), path normalised as `java.io.File` does (no repeated or
    /// trailing `/`). Snapshots go to `dataDir/version-2`.
    pub data_dir: PathBuf,
    /// `dataLogDir`, default `dataDir`. Txn logs go to `dataLogDir/version-2`.
    pub data_log_dir: PathBuf,
    /// `clientPortAddress`:`clientPort` (wildcard host when no address), or the client
    /// address of this server's `server.N` line; `None` when `clientPort` is unset or 0.
    pub client_port_address: Option<Endpoint>,
    /// `secureClientPortAddress`:`secureClientPort`; `None` when unset or 0.
    pub secure_client_port_address: Option<Endpoint>,
    /// `observerMasterPort`, `None` when unset or not positive.
    pub observer_master_port: Option<u16>,
    /// `tickTime` in ms, default 3000 (`ZooKeeperServer.DEFAULT_TICK_TIME`).
    pub tick_time: i32,
    /// `maxClientCnxns` per client IP, default 60; 0 or less means unlimited.
    pub max_client_cnxns: i32,
    /// `minSessionTimeout` in ms, default 2 × tickTime.
    pub min_session_timeout: i32,
    /// `maxSessionTimeout` in ms, default 20 × tickTime.
    pub max_session_timeout: i32,
    /// `clientPortListenBacklog`, default -1 (the platform's default).
    pub client_port_listen_backlog: i32,
    /// `initLimit` in ticks, default 0 (required for an ensemble).
    pub init_limit: i32,
    /// `syncLimit` in ticks, default 0 (required for an ensemble).
    pub sync_limit: i32,
    /// `connectToLearnerMasterLimit` in ticks, default 0.
    pub connect_to_learner_master_limit: i32,
    /// `electionAlg`: only 3 is accepted, the default.
    pub election_alg: i32,
    /// `quorumListenOnAllIPs`, default false.
    pub quorum_listen_on_all_ips: bool,
    /// This server's role: from its `server.N` line when present (a differing `peerType`
    /// is overridden, with a warning), else `peerType`, default participant.
    pub peer_type: LearnerType,
    /// The id in `dataDir/myid`, if that file exists (standalone servers need none).
    pub server_id: Option<i64>,
    /// The ensemble from the `server.N` lines (or the dynamic config file); empty for a
    /// plain standalone server.
    pub quorum: QuorumVerifier,
    /// The ensemble of `<zoo.cfg>.dynamic.next`, when a reconfiguration was in flight.
    pub last_seen_quorum: Option<QuorumVerifier>,
    /// `dynamicConfigFile`.
    pub dynamic_config_file: Option<PathBuf>,
    /// `standaloneEnabled`, default true.
    pub standalone_enabled: bool,
    /// `reconfigEnabled`, default false.
    pub reconfig_enabled: bool,
    /// `autopurge.snapRetainCount`, default 3; below 3 becomes 3 (with a warning).
    pub snap_retain_count: i32,
    /// `autopurge.purgeInterval` in hours, default 0 (no purging; so is any value ≤ 0).
    pub purge_interval: i32,
    /// `syncEnabled` (observers log and snapshot like followers), default true.
    pub sync_enabled: bool,
    /// `localSessionsEnabled`, default false.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled`, default false.
    pub local_sessions_upgrading_enabled: bool,
    /// `metricsProvider.className`, default [`DEFAULT_METRICS_PROVIDER`].
    pub metrics_provider_class_name: String,
    /// The other `metricsProvider.*` keys, prefix removed (a [`JavaProperties`] so that
    /// `Debug` redacts secret-looking ones).
    pub metrics_provider_config: JavaProperties,
    /// `sslQuorum`, default false: TLS on both peer ports (`ssl.quorum.*` stores).
    pub ssl_quorum: bool,
    /// `portUnification` (quorum TLS and plaintext on one port), default false.
    pub quorum_port_unification: bool,
    /// `sslQuorumReloadCertFiles`, default false (the stores are re-read when their files
    /// change either way: checked per new peer connection).
    pub ssl_quorum_reload_cert_files: bool,
    /// `quorum.auth.*`.
    pub quorum_sasl: QuorumSasl,
    /// `cnxTimeout` (`zookeeper.cnxTimeout`) in ms, default 5000: how long a server waits
    /// to connect to a peer's election port.
    pub cnx_timeout_ms: i32,
    /// `electionPortBindRetry` (`zookeeper.electionPortBindRetry`), default 3: how many
    /// times the election port bind is retried; 0 retries forever. Negative values fall
    /// back to the default, as in Java.
    pub election_port_bind_retry: u32,
    /// `quorum.cnxn.threads.size`, default 0 (ZooKeeper then uses 20).
    pub quorum_cnxn_threads_size: i32,
    /// `multiAddress.enabled` (zoo.cfg) or `-Dzookeeper.multiAddress.enabled`, default
    /// false. Note that `server.N` lines with several addresses need the *system
    /// property*: QuorumPeerConfig parses them before consulting the zoo.cfg key.
    pub multi_address_enabled: bool,
    /// `oraclePath`. Not implemented.
    pub oracle_path: Option<String>,
    /// Where Apache ZooKeeper would back up zoo.cfg at start (`<zoo.cfg>.bak`): set for
    /// an ensemble with reconfig enabled and no dynamic config file. Not written here.
    pub static_config_backup: Option<PathBuf>,

    // ---- system properties (-D, or zoo.cfg keys stored as zookeeper.<key>) ---------
    /// `zookeeper.4lw.commands.whitelist` (+ `srvr`, + `isro` in read-only mode).
    pub four_letter_words: FourLetterWhitelist,
    /// `zookeeper.globalOutstandingLimit`, default 1000.
    pub global_outstanding_limit: i32,
    /// `jute.maxbuffer` (system property only), default 0xfffff. Client frames longer
    /// than this close the connection.
    pub jute_max_buffer: i32,
    /// `zookeeper.jute.maxbuffer.extrasize`: slack allowed on top of `jute_max_buffer`
    /// when reading records; defaults to `jute_max_buffer` itself, never below 1024.
    pub jute_max_buffer_extra: i32,
    /// `zookeeper.snapCount`, default 100000; below 2 becomes 2.
    pub snap_count: i32,
    /// `zookeeper.snapshotSizeFactor`, default 0.33 (above 1, or not a number: the default,
    /// with a warning). Negative: a leader never syncs a learner from its txn log beyond
    /// the committed log (it sends a SNAP instead), as `ZKDatabase.isTxnLogSyncEnabled`.
    pub snapshot_size_factor: f64,
    /// `zookeeper.commitLogCount`, default 500: the committed proposals a leader keeps to
    /// DIFF learners from (`ZKDatabase.commitLogCount`).
    pub commit_log_count: i32,
    /// `zookeeper.snapSizeLimitInKb`, default 4194304 (4 GB); ≤ 0 disables.
    pub snap_size_limit_kb: i64,
    /// `zookeeper.extendedTypesEnabled` (TTL nodes), default false.
    pub extended_types_enabled: bool,
    /// `zookeeper.emulate353TTLNodes`, default false.
    pub emulate_353_ttl_nodes: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<Secret>,
    /// `zookeeper.DigestAuthenticationProvider.enabled`, default true.
    pub digest_auth_enabled: bool,
    /// `zookeeper.DigestAuthenticationProvider.digestAlg`, default `SHA1`.
    pub digest_algorithm: String,
    /// `zookeeper.skipACL`: true only for exactly `yes`.
    pub skip_acl: bool,
    /// `zookeeper.enforceQuota`, default false.
    pub enforce_quota: bool,
    /// `zookeeper.digest.enabled` (tree digests in txns), default true.
    pub digest_enabled: bool,
    /// `zookeeper.closeSessionTxn.enabled`, default true.
    pub close_session_txn_enabled: bool,
    /// `znode.container.*`.
    pub containers: Containers,
    /// `zookeeper.forceSync`: fsync unless exactly `no`. Default yes.
    pub force_sync: bool,
    /// `zookeeper.flushDelay` in ms, default 0: how long the txn log may hold a batch open
    /// before it syncs.
    pub flush_delay_ms: i64,
    /// `zookeeper.maxWriteQueuePollTime` in ms, default a third of `flush_delay_ms`.
    pub max_write_queue_poll_time_ms: i64,
    /// `zookeeper.maxBatchSize`, default 1000: the most txns one sync waits for.
    pub max_batch_size: i32,
    /// `zookeeper.preAllocSize` (given in KB), in bytes; default 64 MB.
    pub pre_alloc_size: i64,
    /// `zookeeper.fsync.warningthresholdms`, else `fsync.warningthresholdms`, default 1000.
    pub fsync_warning_threshold_ms: i64,
    /// `zookeeper.txnLogSizeLimitInKb`, default -1 (no limit).
    pub txn_log_size_limit_kb: i64,
    /// `zookeeper.admin.*`.
    pub admin: AdminServer,
    /// `readonlymode.enabled` (system property only), default false.
    pub read_only_mode_enabled: bool,
    /// `zookeeper.serverCnxnFactory`: accepted and ignored (there is one network layer).
    pub server_cnxn_factory: Option<String>,
    /// `zookeeper.maxCnxns` (all clients together), default 0 = unlimited.
    pub max_cnxns: i32,
    /// `zookeeper.authProvider.<name>` → class name.
    pub auth_providers: BTreeMap<String, String>,
    /// `zookeeper.client.portUnification` (TLS and plaintext on the client port).
    pub client_port_unification: bool,
    /// `zookeeper.sessionRequireClientSASLAuth`, default false.
    pub session_require_client_sasl_auth: bool,
    /// `zookeeper.enforce.auth.*`.
    pub enforce_auth: EnforceAuth,
    /// The merged system properties: `-D` values, zoo.cfg's `zookeeper.<key>` entries and
    /// the ones ZooKeeper derives. TLS settings (`zookeeper.ssl.*`) are read from here.
    pub properties: SystemProperties,
}

impl Config {
    /// Builds the configuration from a parsed zoo.cfg (`config_file` is its path, used
    /// for `.dynamic.next` and the backup name), the command-line system properties and
    /// access to the other files (`QuorumPeerConfig.parse` + `parseProperties`).
    pub fn parse(
        cfg: &JavaProperties,
        config_file: Option<&Path>,
        sys: SystemProperties,
        files: &dyn ConfigFiles,
    ) -> Result<Loaded, ConfigError> {
        parse::parse(cfg, config_file, sys, files)
    }

    /// `QuorumPeerConfig.isDistributed`: an ensemble rather than a standalone server.
    pub fn is_distributed(&self) -> bool {
        !self.standalone_enabled || self.quorum.voting_members().count() > 1
    }

    /// Where snapshots live: `dataDir/version-2`.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("version-2")
    }

    /// Where txn logs live: `dataLogDir/version-2`.
    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir.join("version-2")
    }

    /// This server's `server.N` entry, in an ensemble.
    pub fn this_server(&self) -> Option<&QuorumServer> {
        self.server_id.and_then(|id| self.quorum.servers.get(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_redact_secret_values() {
        let e = ConfigError::value("ssl.keyStore.password", "apassword", "bad");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("apassword"), "{text}");
        assert!(text.contains("ssl.keyStore.password"), "{text}");
        let e = ConfigError::value("tickTime", "2s", "not an integer");
        assert_eq!(e.to_string(), "invalid tickTime=\"2s\": not an integer");
        let e = SystemProperties::from_args(["-D=hunter2"]).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"));
    }
}
