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
    /// Four-letter words allowed (`4lw.commands.whitelist`); `None` means all.
    pub four_letter_whitelist: Option<Vec<String>>,
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
            max_buffer_extra: 1024,
            extended_types: false,
            auth: AuthConfig::default(),
            container_check_interval: Duration::from_secs(60),
            container_max_per_minute: 10_000,
            four_letter_whitelist: Some(vec!["srvr".to_string()]),
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
        match &self.four_letter_whitelist {
            None => true,
            Some(list) => list.iter().any(|c| c == cmd),
        }
    }
}
