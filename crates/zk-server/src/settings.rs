//! What the running server needs to know, resolved from the configuration.

use std::sync::Arc;
use std::time::Duration;

use zk_core::auth::AuthConfig;

/// Resolved server settings (defaults are Apache ZooKeeper's).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `tickTime` in ms.
    pub tick_ms: i32,
    /// Smallest session timeout granted (default 2 × tick).
    pub min_session_timeout: i32,
    /// Largest session timeout granted (default 20 × tick).
    pub max_session_timeout: i32,
    /// `maxClientCnxns` per client address; 0 means unlimited.
    pub max_client_cnxns: usize,
    /// `globalOutstandingLimit`: requests queued in the server before reading pauses.
    pub global_outstanding_limit: usize,
    /// `jute.maxbuffer`: the largest client frame accepted (a longer one closes the
    /// connection, as `NIOServerCnxn.readLength`).
    pub max_buffer: usize,
    /// `zookeeper.jute.maxbuffer.extrasize`: slack for lengths inside a record.
    pub max_buffer_extra: usize,
    /// `zookeeper.extendedTypesEnabled`.
    pub extended_types: bool,
    /// ACL settings.
    pub auth: AuthConfig,
    /// Container/TTL reaper period (`znode.container.checkIntervalMs`).
    pub container_check_interval: Duration,
    /// `znode.container.maxPerMinute`.
    pub container_max_per_minute: usize,
    /// Four-letter words allowed (`4lw.commands.whitelist`).
    pub four_letter_whitelist: crate::config::FourLetterWhitelist,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `zookeeper.closeSessionTxn.enabled`: closeSession txns list the ephemerals.
    pub close_session_txn: bool,
    /// `snapCount` and `autopurge.snapRetainCount`.
    pub snapshot: crate::snapshots::SnapshotPolicy,
    /// When the txn log syncs (`zookeeper.flushDelay`, `maxWriteQueuePollTime`,
    /// `maxBatchSize`).
    pub flush: crate::log::FlushPolicy,
    /// What a SASL request (op 102) meets: see [`SaslMode`].
    pub sasl: SaslMode,
    /// `zookeeper.superUser`: SASL authorization ids that are super.
    pub sasl_super_users: Vec<String>,
    /// Enforced authentication (`enforce.auth.*`, `sessionRequireClientSASLAuth`): the
    /// schemes a connection must hold one of before any request other than auth and SASL;
    /// empty when not enforced.
    pub enforce_auth_schemes: Vec<String>,
    /// TLS for the secure client port (and the client port with port unification).
    pub tls: Option<Arc<crate::tls::TlsServer>>,
    /// `client.portUnification`.
    pub client_port_unification: bool,
    /// This server's id: `myid` in an ensemble, 0 standalone (what Java's `getServerId()`
    /// and the AdminServer's `server_id` say).
    pub server_id: i64,
    /// An ensemble member's membership (`/zookeeper/config`); `None` standalone.
    pub membership: Option<zk_node::Membership>,
    /// `readonlymode.enabled` on an ensemble member (a standalone server ignores it, as
    /// Java's `ZooKeeperServerMain` does).
    pub read_only_mode: bool,
    /// `localSessionsEnabled` (only the read-only server makes local sessions).
    pub local_sessions: bool,
    /// Text of the `conf` four-letter word.
    pub conf_text: String,
    /// Text of the `envi` four-letter word's environment lines.
    pub envi_text: String,
    /// dataDir, for `dirs`.
    pub data_dir: std::path::PathBuf,
    /// dataLogDir, for `dirs`.
    pub data_log_dir: std::path::PathBuf,
    /// The AdminServer and the metrics page (both off in [`Settings::default`]).
    pub ops: crate::ops::OpsSettings,
    /// The audit log (`audit.enable`); off in [`Settings::default`].
    pub audit: Option<crate::audit::AuditSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        let tick = 2000;
        Settings {
            tick_ms: tick,
            min_session_timeout: 2 * tick,
            max_session_timeout: 20 * tick,
            max_client_cnxns: 60,
            global_outstanding_limit: 1000,
            max_buffer: zk_proto::Limits::default().max_buffer,
            // zookeeper.jute.maxbuffer.extrasize defaults to jute.maxbuffer itself.
            max_buffer_extra: zk_proto::Limits::default().max_buffer,
            extended_types: false,
            auth: AuthConfig::default(),
            container_check_interval: Duration::from_secs(60),
            container_max_per_minute: 10_000,
            four_letter_whitelist: crate::config::FourLetterWhitelist::default(),
            reconfig_enabled: false,
            close_session_txn: true,
            snapshot: crate::snapshots::SnapshotPolicy::default(),
            flush: crate::log::FlushPolicy::default(),
            sasl: SaslMode::NotConfigured,
            sasl_super_users: Vec::new(),
            enforce_auth_schemes: Vec::new(),
            tls: None,
            client_port_unification: false,
            server_id: 0,
            membership: None,
            read_only_mode: false,
            local_sessions: false,
            conf_text: String::new(),
            envi_text: String::new(),
            data_dir: std::path::PathBuf::from("data"),
            data_log_dir: std::path::PathBuf::from("data"),
            ops: crate::ops::OpsSettings::default(),
            audit: None,
        }
    }
}

impl Settings {
    /// What the pure node needs of these settings; `snapshots`: whether there is a
    /// snapshot target (without one the node starts no background snapshots).
    pub fn node_config(&self, snapshots: bool) -> zk_node::NodeConfig {
        zk_node::NodeConfig {
            auth: self.auth.clone(),
            extended_types: self.extended_types,
            close_session_txn: self.close_session_txn,
            reconfig_enabled: self.reconfig_enabled,
            min_session_timeout: self.min_session_timeout,
            max_session_timeout: self.max_session_timeout,
            enforce_auth_schemes: self.enforce_auth_schemes.clone(),
            sasl: self.sasl.clone(),
            sasl_super_users: self.sasl_super_users.clone(),
            container_check_interval_ms: self.container_check_interval.as_millis() as i64,
            container_max_per_minute: self.container_max_per_minute,
            snapshots: snapshots.then_some(self.snapshot),
            audit_user: self.audit.as_ref().map(|a| a.user.clone()),
            membership: self.membership.clone(),
            read_only: self
                .read_only_mode
                .then(|| zk_node::ReadOnlyMode::new(self.tick_ms, self.local_sessions)),
        }
    }

    /// Limits for decoding records (`checkLength`: maxbuffer + extrasize).
    pub fn limits(&self) -> zk_proto::Limits {
        zk_proto::Limits {
            max_buffer: self.max_buffer + self.max_buffer_extra,
        }
    }

    /// Whether four-letter word `cmd` may run.
    pub fn four_letter_allowed(&self, cmd: &str) -> bool {
        self.four_letter_whitelist.is_enabled(cmd)
    }

    /// The id in the top byte of the session ids this server hands out: `myid` in an
    /// ensemble (so that members started in the same millisecond never hand out the same
    /// id), 1 standalone (Java's `createSessionTrackerServerId`).
    pub fn session_id_server(&self) -> i64 {
        if self.server_id > 0 {
            self.server_id
        } else {
            1
        }
    }

    /// Settings for a parsed configuration. `conf_text` is the `conf` word's answer.
    pub fn from_config(cfg: &crate::config::Config, conf_text: String) -> Self {
        let positive = |v: i32, default: usize| if v > 0 { v as usize } else { default };
        Settings {
            tick_ms: cfg.tick_time,
            min_session_timeout: cfg.min_session_timeout,
            max_session_timeout: cfg.max_session_timeout,
            max_client_cnxns: cfg.max_client_cnxns.max(0) as usize,
            global_outstanding_limit: positive(cfg.global_outstanding_limit, 1000),
            max_buffer: positive(cfg.jute_max_buffer, zk_proto::Limits::default().max_buffer),
            max_buffer_extra: cfg.jute_max_buffer_extra.max(0) as usize,
            extended_types: cfg.extended_types_enabled,
            auth: AuthConfig {
                super_digest: cfg.super_digest.as_ref().map(|s| s.expose().to_string()),
                skip_acl: cfg.skip_acl,
                sasl_provider: cfg
                    .auth_providers
                    .values()
                    .any(|c| c.ends_with(".SASLAuthenticationProvider")),
                sasl_let_any_user: cfg
                    .properties
                    .get("zookeeper.letAnySaslUserDoX")
                    .map(str::to_string),
                x509_provider: cfg.secure_client_port_address.is_some()
                    || cfg
                        .auth_providers
                        .values()
                        .any(|c| c.ends_with(".X509AuthenticationProvider")),
                x509_super_user: cfg
                    .properties
                    .get("zookeeper.X509AuthenticationProvider.superUser")
                    .map(str::to_string),
            },
            container_check_interval: Duration::from_millis(
                cfg.containers.check_interval_ms.max(1) as u64,
            ),
            container_max_per_minute: positive(cfg.containers.max_per_minute, 10_000),
            four_letter_whitelist: cfg.four_letter_words.clone(),
            reconfig_enabled: cfg.reconfig_enabled,
            close_session_txn: cfg.close_session_txn_enabled,
            snapshot: crate::snapshots::SnapshotPolicy {
                snap_count: cfg.snap_count.max(2) as u64,
                retain: cfg.snap_retain_count.max(3) as usize,
                purge_interval: (cfg.purge_interval > 0)
                    .then(|| std::time::Duration::from_secs(cfg.purge_interval as u64 * 3600)),
            },
            flush: crate::log::FlushPolicy::from_millis(
                cfg.flush_delay_ms,
                cfg.max_write_queue_poll_time_ms,
                cfg.max_batch_size,
            )
            .with_warning_threshold_ms(cfg.fsync_warning_threshold_ms),
            sasl: sasl_mode_from_config(cfg),
            sasl_super_users: cfg
                .properties
                .iter()
                .filter(|(k, _, _)| {
                    *k == "zookeeper.superUser" || k.starts_with("zookeeper.superUser.")
                })
                .map(|(_, v, _)| v.to_string())
                .collect(),
            enforce_auth_schemes: if cfg.enforce_auth.enabled {
                cfg.enforce_auth.schemes.clone()
            } else {
                Vec::new()
            },
            tls: None,
            client_port_unification: cfg.client_port_unification,
            server_id: if cfg.is_distributed() {
                cfg.server_id.unwrap_or(0)
            } else {
                0
            },
            membership: cfg.is_distributed().then(|| zk_node::Membership {
                text: bytes::Bytes::from(cfg.quorum.to_string()),
                version: cfg.quorum.version,
            }),
            read_only_mode: cfg.read_only_mode_enabled && cfg.is_distributed(),
            local_sessions: cfg.local_sessions_enabled,
            conf_text,
            envi_text: String::new(),
            data_dir: cfg.data_dir.clone(),
            data_log_dir: cfg.data_log_dir.clone(),
            ops: crate::ops::OpsSettings::from_config(cfg),
            audit: crate::audit::AuditSettings::from_properties(&cfg.properties),
        }
    }
}

pub use zk_node::SaslMode;

/// Reads the JAAS file named by `java.security.auth.login.config`, section
/// `zookeeper.sasl.serverconfig` (default `Server`). Problems are logged, never fatal
/// (upstream logs them too and serves without SASL).
pub fn sasl_mode_from_config(cfg: &crate::config::Config) -> SaslMode {
    let Some(path) = cfg.properties.get("java.security.auth.login.config") else {
        return SaslMode::NotConfigured;
    };
    let section = cfg
        .properties
        .get("zookeeper.sasl.serverconfig")
        .unwrap_or("Server");
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("cannot read JAAS file {path}: {e}; SASL authentication will fail");
            return SaslMode::Unsupported;
        }
    };
    let jaas = match crate::jaas::JaasConfig::parse(&text) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!("JAAS file {path}: {e}; SASL authentication will fail");
            return SaslMode::Unsupported;
        }
    };
    let Some(modules) = jaas.section(section) else {
        return SaslMode::NotConfigured;
    };
    match crate::jaas::server_login(modules) {
        crate::jaas::ServerLogin::Digest(creds) => {
            tracing::info!(
                "SASL DIGEST-MD5 enabled for {} user(s) from section {section} of {path}",
                creds.len()
            );
            SaslMode::Digest(Arc::new(creds))
        }
        crate::jaas::ServerLogin::Kerberos => {
            tracing::error!(
                "JAAS section {section} of {path} configures Kerberos (GSSAPI), which \
                     Ferrokeeper does not support; only DIGEST-MD5 (DigestLoginModule) is \
                     implemented. SASL authentication attempts will fail."
            );
            SaslMode::Unsupported
        }
    }
}
