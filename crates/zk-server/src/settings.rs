//! What the running server needs to know, resolved from the configuration.

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
    /// A JAAS file is configured (`java.security.auth.login.config`): clients may try SASL.
    pub sasl_configured: bool,
    /// This server's id (0 standalone).
    pub server_id: i64,
    /// Text of the `conf` four-letter word.
    pub conf_text: String,
    /// Text of the `envi` four-letter word's environment lines.
    pub envi_text: String,
    /// dataDir, for `dirs`.
    pub data_dir: std::path::PathBuf,
    /// dataLogDir, for `dirs`.
    pub data_log_dir: std::path::PathBuf,
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
            sasl_configured: false,
            server_id: 0,
            conf_text: String::new(),
            envi_text: String::new(),
            data_dir: std::path::PathBuf::from("data"),
            data_log_dir: std::path::PathBuf::from("data"),
        }
    }
}

impl Settings {
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
            sasl_configured: cfg
                .properties
                .get("java.security.auth.login.config")
                .is_some(),
            server_id: 0,
            conf_text,
            envi_text: String::new(),
            data_dir: cfg.data_dir.clone(),
            data_log_dir: cfg.data_log_dir.clone(),
        }
    }
}
