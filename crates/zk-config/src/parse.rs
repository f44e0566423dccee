//! `QuorumPeerConfig.parse` / `parseProperties` / `setupQuorumPeerConfig`, step by step,
//! followed by the system properties ZooKeeper's classes read afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::four_letter::{FourLetterWhitelist, WHITELIST_PROPERTY};
use super::keys;
use super::properties::{java_trim, JavaProperties};
use super::quorum::{Endpoint, Host, LearnerType, QuorumVerifier};
use super::secret::{shown, Secret};
use super::system::{java_parse_int, java_parse_long, java_parse_long_radix, Origin};
use super::{
    AdminServer, Config, ConfigError, ConfigFiles, Containers, EnforceAuth, Loaded, QuorumSasl,
    SystemProperties, DEFAULT_CNX_TIMEOUT_MS, DEFAULT_ELECTION_PORT_BIND_RETRY,
    DEFAULT_METRICS_PROVIDER, NULL_METRICS_PROVIDER, PROMETHEUS_METRICS_PROVIDER,
    PROMETHEUS_PROVIDER_KEYS,
};

/// `ZooKeeperServer.DEFAULT_TICK_TIME`.
pub(crate) const DEFAULT_TICK_TIME: i32 = 3000;
/// `QuorumPeerConfig.MIN_SNAP_RETAIN_COUNT`.
const MIN_SNAP_RETAIN_COUNT: i32 = 3;

fn int(key: &str, value: &str) -> Result<i32, ConfigError> {
    java_parse_int(value).ok_or_else(|| ConfigError::value(key, value, "not an integer"))
}

fn long(key: &str, value: &str) -> Result<i64, ConfigError> {
    java_parse_long(value).ok_or_else(|| ConfigError::value(key, value, "not an integer"))
}

/// `QuorumPeerConfig.parseBoolean`: `true` or `false`, any case, nothing else.
fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::value(key, value, "choose 'true' or 'false'"))
    }
}

/// `new java.io.File(s).getPath()` on Unix: repeated `/` collapse, a trailing `/` goes.
pub(crate) fn java_file_path(s: &str) -> PathBuf {
    let mut out = String::with_capacity(s.len());
    let mut prev_slash = false;
    for c in s.chars() {
        if c == '/' && prev_slash {
            continue;
        }
        prev_slash = c == '/';
        out.push(c);
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    PathBuf::from(out)
}

fn not_implemented(w: &mut Vec<String>, key: &str, what: &str) {
    w.push(format!("zoo.cfg: {key} accepted, not implemented ({what})"));
}

/// The fields `QuorumPeerConfig` fills, with its defaults.
struct Draft {
    data_dir: Option<PathBuf>,
    data_log_dir: Option<PathBuf>,
    client_port: i32,
    client_port_address: Option<String>,
    secure_client_port: i32,
    secure_client_port_address: Option<String>,
    observer_master_port: i32,
    client_port_listen_backlog: i32,
    tick_time: i32,
    max_client_cnxns: i32,
    min_session_timeout: i32,
    max_session_timeout: i32,
    init_limit: i32,
    sync_limit: i32,
    connect_to_learner_master_limit: i32,
    election_alg: i32,
    quorum_listen_on_all_ips: bool,
    peer_type: LearnerType,
    sync_enabled: bool,
    dynamic_config_file: Option<String>,
    snap_retain_count: i32,
    purge_interval: i32,
    standalone_enabled: bool,
    reconfig_enabled: bool,
    ssl_quorum: bool,
    quorum_port_unification: bool,
    ssl_quorum_reload_cert_files: bool,
    quorum_sasl: QuorumSasl,
    quorum_cnxn_threads_size: i32,
    local_sessions_enabled: bool,
    local_sessions_upgrading_enabled: bool,
    metrics_provider_class_name: String,
    metrics_provider_config: JavaProperties,
    multi_address_enabled: bool,
    oracle_path: Option<String>,
    // Resolved after the key loop.
    client_addr: Option<Endpoint>,
    secure_client_addr: Option<Endpoint>,
    server_id: Option<i64>,
    quorum: QuorumVerifier,
}

impl Draft {
    fn new(sys: &SystemProperties) -> Self {
        Draft {
            data_dir: None,
            data_log_dir: None,
            client_port: 0,
            client_port_address: None,
            secure_client_port: 0,
            secure_client_port_address: None,
            observer_master_port: 0,
            client_port_listen_backlog: -1,
            tick_time: DEFAULT_TICK_TIME,
            max_client_cnxns: 60,
            min_session_timeout: -1,
            max_session_timeout: -1,
            init_limit: 0,
            sync_limit: 0,
            connect_to_learner_master_limit: 0,
            election_alg: 3,
            quorum_listen_on_all_ips: false,
            peer_type: LearnerType::Participant,
            sync_enabled: true,
            dynamic_config_file: None,
            snap_retain_count: 3,
            purge_interval: 0,
            standalone_enabled: true,
            reconfig_enabled: false,
            ssl_quorum: false,
            quorum_port_unification: false,
            ssl_quorum_reload_cert_files: false,
            quorum_sasl: QuorumSasl {
                enabled: false,
                server_required: false,
                learner_required: false,
                service_principal: "zkquorum/localhost".into(),
                learner_login_context: "QuorumLearner".into(),
                server_login_context: "QuorumServer".into(),
            },
            quorum_cnxn_threads_size: 0,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            metrics_provider_class_name: DEFAULT_METRICS_PROVIDER.into(),
            metrics_provider_config: JavaProperties::new(),
            // The field starts from the system property, as in Java.
            multi_address_enabled: sys.get_boolean_or("zookeeper.multiAddress.enabled", false),
            oracle_path: None,
            client_addr: None,
            secure_client_addr: None,
            server_id: None,
            quorum: QuorumVerifier::default(),
        }
    }

    fn is_distributed(&self) -> bool {
        !self.standalone_enabled || self.quorum.voting_members().count() > 1
    }
}

pub(super) fn parse(
    cfg: &JavaProperties,
    config_file: Option<&Path>,
    mut sys: SystemProperties,
    files: &dyn ConfigFiles,
) -> Result<Loaded, ConfigError> {
    let mut w = Vec::new();
    let mut d = Draft::new(&sys);
    parse_properties(cfg, &mut d, &mut sys, &mut w)?;

    let mut static_config_backup = None;
    let mut last_seen_quorum = None;
    match d.dynamic_config_file.clone() {
        None => {
            setup_quorum_peer_config(cfg, true, &mut d, &sys, files, &mut w)?;
            if d.is_distributed() && d.reconfig_enabled {
                static_config_backup =
                    config_file.map(|p| PathBuf::from(format!("{}.bak", p.display())));
            }
        }
        Some(dynamic) => {
            let dyn_props = read_dynamic_file(&dynamic, files)?;
            setup_quorum_peer_config(&dyn_props, false, &mut d, &sys, files, &mut w)?;
            if let Some(cfg_path) = config_file {
                let next = PathBuf::from(format!("{}.dynamic.next", cfg_path.display()));
                match files.read(&next) {
                    Ok(Some(bytes)) => {
                        let props = JavaProperties::parse_bytes(&bytes).map_err(|source| {
                            ConfigError::Syntax {
                                path: next.clone(),
                                source,
                            }
                        })?;
                        last_seen_quorum = Some(quorum_from(&props, &sys)?);
                    }
                    Ok(None) => {}
                    Err(e) => w.push(format!(
                        "{}: cannot be read ({e}); no pending reconfiguration",
                        next.display()
                    )),
                }
            }
        }
    }

    let config = finish(
        d,
        config_file,
        sys,
        static_config_backup,
        last_seen_quorum,
        &mut w,
    )?;
    Ok(Loaded {
        config,
        warnings: w,
    })
}

/// The key loop of `parseProperties` and the checks that follow it.
fn parse_properties(
    cfg: &JavaProperties,
    d: &mut Draft,
    sys: &mut SystemProperties,
    w: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let has_dynamic_file = cfg.contains_key("dynamicConfigFile");
    for (raw_key, raw_value) in cfg.iter() {
        let key = java_trim(raw_key);
        let value = java_trim(raw_value);
        match key {
            "dataDir" => d.data_dir = Some(java_file_path(value)),
            "dataLogDir" => d.data_log_dir = Some(java_file_path(value)),
            "clientPort" => d.client_port = int(key, value)?,
            "localSessionsEnabled" => d.local_sessions_enabled = boolean(key, value)?,
            "localSessionsUpgradingEnabled" => {
                d.local_sessions_upgrading_enabled = boolean(key, value)?
            }
            "clientPortAddress" => d.client_port_address = Some(value.to_owned()),
            "secureClientPort" => d.secure_client_port = int(key, value)?,
            "secureClientPortAddress" => d.secure_client_port_address = Some(value.to_owned()),
            "observerMasterPort" => d.observer_master_port = int(key, value)?,
            "clientPortListenBacklog" => d.client_port_listen_backlog = int(key, value)?,
            "tickTime" => d.tick_time = int(key, value)?,
            "maxClientCnxns" => d.max_client_cnxns = int(key, value)?,
            "minSessionTimeout" => d.min_session_timeout = int(key, value)?,
            "maxSessionTimeout" => d.max_session_timeout = int(key, value)?,
            "initLimit" => d.init_limit = int(key, value)?,
            "syncLimit" => d.sync_limit = int(key, value)?,
            "connectToLearnerMasterLimit" => d.connect_to_learner_master_limit = int(key, value)?,
            "electionAlg" => {
                d.election_alg = int(key, value)?;
                if d.election_alg != 3 {
                    return Err(ConfigError::value(key, value, "only 3 is supported"));
                }
            }
            "quorumListenOnAllIPs" => d.quorum_listen_on_all_ips = boolean(key, value)?,
            "peerType" => {
                d.peer_type = match value.to_lowercase().as_str() {
                    "observer" => LearnerType::Observer,
                    "participant" => LearnerType::Participant,
                    _ => {
                        return Err(ConfigError::value(
                            key,
                            value,
                            "must be participant or observer",
                        ))
                    }
                }
            }
            "syncEnabled" => d.sync_enabled = boolean(key, value)?,
            "dynamicConfigFile" => d.dynamic_config_file = Some(value.to_owned()),
            "autopurge.snapRetainCount" => d.snap_retain_count = int(key, value)?,
            "autopurge.purgeInterval" => d.purge_interval = int(key, value)?,
            "standaloneEnabled" => d.standalone_enabled = boolean(key, value)?,
            "reconfigEnabled" => d.reconfig_enabled = boolean(key, value)?,
            "sslQuorum" => d.ssl_quorum = boolean(key, value)?,
            "portUnification" => d.quorum_port_unification = boolean(key, value)?,
            "sslQuorumReloadCertFiles" => d.ssl_quorum_reload_cert_files = boolean(key, value)?,
            k if (k.starts_with("server.")
                || k.starts_with("group")
                || k.starts_with("weight"))
                && has_dynamic_file =>
            {
                return Err(ConfigError::invalid(
                    k,
                    "must be in the separate dynamic config file, since dynamicConfigFile is set",
                ));
            }
            "quorum.auth.enableSasl" => d.quorum_sasl.enabled = boolean(key, value)?,
            "quorum.auth.serverRequireSasl" => d.quorum_sasl.server_required = boolean(key, value)?,
            "quorum.auth.learnerRequireSasl" => {
                d.quorum_sasl.learner_required = boolean(key, value)?
            }
            "quorum.auth.learner.saslLoginContext" => {
                d.quorum_sasl.learner_login_context = value.to_owned()
            }
            "quorum.auth.server.saslLoginContext" => {
                d.quorum_sasl.server_login_context = value.to_owned()
            }
            "quorum.auth.kerberos.servicePrincipal" => {
                d.quorum_sasl.service_principal = value.to_owned()
            }
            "quorum.cnxn.threads.size" => {
                d.quorum_cnxn_threads_size = int(key, value)?;
                not_implemented(w, key, "no connection thread pool to size");
            }
            "jvm.pause.info-threshold.ms"
            | "jvm.pause.warn-threshold.ms"
            | "jvm.pause.sleep.time.ms" => {
                long(key, value)?;
                not_implemented(w, key, "there is no JVM");
            }
            "jvm.pause.monitor" => {
                if boolean(key, value)? {
                    not_implemented(w, key, "there is no JVM");
                }
            }
            "metricsProvider.className" => {
                d.metrics_provider_class_name = value.to_owned();
                // The Prometheus provider's page is served natively (zk_server::ops); the
                // null provider turns recording off.
                let native = [
                    DEFAULT_METRICS_PROVIDER,
                    PROMETHEUS_METRICS_PROVIDER,
                    NULL_METRICS_PROVIDER,
                ];
                if !native.contains(&value) {
                    not_implemented(w, key, "Java metrics providers cannot be loaded");
                }
            }
            k if k.starts_with("metricsProvider.") => {
                d.metrics_provider_config
                    .insert(k["metricsProvider.".len()..].to_owned(), value.to_owned());
                if !PROMETHEUS_PROVIDER_KEYS.contains(&k) {
                    not_implemented(w, k, "metrics provider settings");
                }
            }
            "multiAddress.enabled" => {
                d.multi_address_enabled = boolean(key, value)?;
                if d.multi_address_enabled {
                    not_implemented(w, key, "several addresses per server");
                }
            }
            "multiAddress.reachabilityCheckTimeoutMs" => {
                int(key, value)?;
            }
            "multiAddress.reachabilityCheckEnabled" => {
                boolean(key, value)?;
            }
            "oraclePath" => {
                d.oracle_path = Some(value.to_owned());
                not_implemented(w, key, "oracle quorums");
            }
            _ => {
                // Everything else becomes a system property, overriding -D.
                let property = format!("zookeeper.{key}");
                if sys.origin(&property) == Some(Origin::CommandLine)
                    && sys.get(&property) != Some(value)
                {
                    w.push(format!(
                        "zoo.cfg: {key} overrides -D{property} (zoo.cfg wins, as in Apache ZooKeeper)"
                    ));
                }
                sys.set_with_origin(property, value, Origin::ZooCfg);
                if let Some(msg) = keys::zoo_cfg_property_warning(key) {
                    w.push(msg);
                }
            }
        }
    }

    let sasl = &d.quorum_sasl;
    if !sasl.enabled && sasl.server_required {
        return Err(ConfigError::invalid(
            "quorum.auth.serverRequireSasl",
            "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl",
        ));
    }
    if !sasl.enabled && sasl.learner_required {
        return Err(ConfigError::invalid(
            "quorum.auth.learnerRequireSasl",
            "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl",
        ));
    }
    if !sasl.learner_required && sasl.server_required {
        return Err(ConfigError::invalid(
            "quorum.auth.learnerRequireSasl",
            "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl",
        ));
    }

    if d.snap_retain_count < MIN_SNAP_RETAIN_COUNT {
        w.push(format!(
            "zoo.cfg: autopurge.snapRetainCount={} is below the minimum; using {MIN_SNAP_RETAIN_COUNT}",
            d.snap_retain_count
        ));
        d.snap_retain_count = MIN_SNAP_RETAIN_COUNT;
    }

    let Some(data_dir) = d.data_dir.clone() else {
        return Err(ConfigError::invalid("dataDir", "dataDir is not set"));
    };
    if data_dir.as_os_str().is_empty() {
        // Departure: Java accepts it and then writes to /version-2.
        return Err(ConfigError::invalid("dataDir", "dataDir is empty"));
    }
    if d.data_log_dir.is_none() {
        d.data_log_dir = Some(data_dir);
    }

    d.client_addr = endpoint(
        "clientPort",
        d.client_port,
        "clientPortAddress",
        d.client_port_address.as_deref(),
    )?;
    d.secure_client_addr = endpoint(
        "secureClientPort",
        d.secure_client_port,
        "secureClientPortAddress",
        d.secure_client_port_address.as_deref(),
    )?;
    if d.secure_client_addr.is_some() {
        configure_ssl_auth(sys)?;
    }

    if d.tick_time == 0 {
        return Err(ConfigError::invalid("tickTime", "tickTime is not set"));
    }
    if d.tick_time < 0 {
        // Departure: Java accepts it and computes negative session timeouts.
        return Err(ConfigError::value(
            "tickTime",
            &d.tick_time.to_string(),
            "must be positive",
        ));
    }
    if d.min_session_timeout == -1 {
        d.min_session_timeout = d.tick_time.wrapping_mul(2);
    }
    if d.max_session_timeout == -1 {
        d.max_session_timeout = d.tick_time.wrapping_mul(20);
    }
    if d.min_session_timeout > d.max_session_timeout {
        return Err(ConfigError::invalid(
            "minSessionTimeout",
            format!(
                "minSessionTimeout ({}) must not be larger than maxSessionTimeout ({})",
                d.min_session_timeout, d.max_session_timeout
            ),
        ));
    }
    Ok(())
}

/// The listening address for a port key and its optional address key.
fn endpoint(
    port_key: &str,
    port: i32,
    addr_key: &str,
    addr: Option<&str>,
) -> Result<Option<Endpoint>, ConfigError> {
    if port == 0 {
        if addr.is_some() {
            return Err(ConfigError::invalid(
                addr_key,
                format!("{addr_key} is set but {port_key} is not set"),
            ));
        }
        return Ok(None);
    }
    let port = u16::try_from(port)
        .map_err(|_| ConfigError::value(port_key, &port.to_string(), "port out of range"))?;
    let host = addr.map_or(Host::Wildcard, |a| Host::parse(java_trim(a)));
    Ok(Some(Endpoint { host, port }))
}

/// `QuorumPeerConfig.configureSSLAuth`: TLS clients authenticate with the provider of
/// `zookeeper.ssl.authProvider` (default `x509`), which must be registered; `x509` is
/// registered automatically.
fn configure_ssl_auth(sys: &mut SystemProperties) -> Result<(), ConfigError> {
    let scheme = sys
        .get("zookeeper.ssl.authProvider")
        .unwrap_or("x509")
        .to_owned();
    let property = format!("zookeeper.authProvider.{scheme}");
    if sys.get(&property).is_none() {
        if scheme != "x509" {
            return Err(ConfigError::value(
                "ssl.authProvider",
                &scheme,
                format!(
                    "no auth provider configured for this SSL authentication scheme \
                     (set authProvider.{scheme})"
                ),
            ));
        }
        sys.set_with_origin(property, keys::X509_PROVIDER, Origin::Derived);
    }
    Ok(())
}

fn read_dynamic_file(path: &str, files: &dyn ConfigFiles) -> Result<JavaProperties, ConfigError> {
    let p = PathBuf::from(path);
    let bytes = files
        .read(&p)
        .map_err(|source| ConfigError::Io {
            path: p.clone(),
            source,
        })?
        .ok_or_else(|| ConfigError::value("dynamicConfigFile", path, "the file does not exist"))?;
    let mut props = JavaProperties::parse_bytes(&bytes).map_err(|source| ConfigError::Syntax {
        path: p.clone(),
        source,
    })?;
    if props.contains_key("version") {
        return Err(ConfigError::value(
            "dynamicConfigFile",
            path,
            "a dynamic config file must not contain version (it comes from the file name)",
        ));
    }
    if let Some(version) = version_from_filename(path) {
        props.insert("version", version);
    }
    Ok(props)
}

/// `QuorumPeerConfig.getVersionFromFilename`: the hex number after the last dot.
fn version_from_filename(name: &str) -> Option<String> {
    let (_, suffix) = name.rsplit_once('.')?;
    java_parse_long_radix(suffix, 16).map(|v| format!("{:x}", v as u64))
}

fn quorum_from(
    props: &JavaProperties,
    sys: &SystemProperties,
) -> Result<QuorumVerifier, ConfigError> {
    // QuorumServer reads the *system property*, not the zoo.cfg key.
    let multi = sys.get_boolean_or("zookeeper.multiAddress.enabled", false);
    QuorumVerifier::from_properties(props, multi).map_err(|e| ConfigError::InvalidValue {
        value: shown(&e.key, props.get(&e.key).unwrap_or("")).to_owned(),
        key: e.key,
        reason: e.message,
    })
}

/// `setupQuorumPeerConfig`: the ensemble, `myid`, this server's client address and role,
/// and the ensemble-only checks.
fn setup_quorum_peer_config(
    props: &JavaProperties,
    backward_compatible: bool,
    d: &mut Draft,
    sys: &SystemProperties,
    files: &dyn ConfigFiles,
    w: &mut Vec<String>,
) -> Result<(), ConfigError> {
    // parseDynamicConfig
    if !backward_compatible {
        for (key, _) in props.iter() {
            let k = java_trim(key);
            if !keys::is_quorum_entry(k) {
                return Err(ConfigError::invalid(
                    k,
                    "unrecognised parameter in the dynamic config file",
                ));
            }
        }
    }
    let qv = quorum_from(props, sys)?;
    let participants: Vec<i64> = qv.voting_members().map(|s| s.id).collect();
    let observers = qv.observers().count();
    if qv.hierarchy.is_some() {
        w.push("zoo.cfg: group/weight accepted, not implemented (hierarchical quorums)".into());
    }
    if participants.is_empty() {
        if !d.standalone_enabled {
            return Err(ConfigError::invalid(
                "standaloneEnabled",
                "standaloneEnabled=false needs at least one participant server.N line",
            ));
        }
        if observers > 0 {
            return Err(ConfigError::invalid(
                "server.N",
                "observers without participants is an invalid configuration",
            ));
        }
    } else if participants.len() == 1 && d.standalone_enabled {
        w.push(format!(
            "zoo.cfg: only one server specified (server.{}) and standaloneEnabled=true: \
             running standalone",
            participants[0]
        ));
        if observers > 0 {
            return Err(ConfigError::invalid(
                "server.N",
                "observers without a quorum is an invalid configuration",
            ));
        }
    } else if participants.len() <= 2 {
        w.push("zoo.cfg: no server failure will be tolerated; you need at least 3 servers".into());
    } else if participants.len().is_multiple_of(2) {
        w.push("zoo.cfg: non-optimal configuration, consider an odd number of servers".into());
    }
    d.quorum = qv;

    // setupMyId
    let data_dir = d.data_dir.clone().unwrap_or_default();
    let myid_path = data_dir.join("myid");
    match files.read(&myid_path) {
        Err(source) => {
            return Err(ConfigError::Io {
                path: myid_path,
                source,
            })
        }
        Ok(None) => {}
        Ok(Some(bytes)) => d.server_id = Some(parse_myid(&String::from_utf8_lossy(&bytes))?),
    }

    // setupClientPort
    if let Some(id) = d.server_id {
        if let Some(qs) = d.quorum.servers.get_mut(&id) {
            if let (Some(static_addr), Some(line_addr)) = (&d.client_addr, &qs.client_addr) {
                let conflict = if static_addr.host.is_any_local() {
                    static_addr.port != line_addr.port
                } else {
                    match (&static_addr.host, &line_addr.host) {
                        (Host::Name(_), _) | (_, Host::Name(_))
                            if static_addr.host != line_addr.host =>
                        {
                            w.push(format!(
                                "zoo.cfg: cannot compare clientPortAddress {static_addr} with \
                                 server.{id}'s client address {line_addr} without resolving \
                                 names; using the server line"
                            ));
                            false
                        }
                        _ => static_addr != line_addr,
                    }
                };
                if conflict {
                    return Err(ConfigError::invalid(
                        "clientPort",
                        format!(
                            "client address for this server (id = {id}) in the static config \
                             is {static_addr}, different from the one in its server.{id} \
                             line: {line_addr}"
                        ),
                    ));
                }
            }
            if qs.client_addr.is_some() {
                d.client_addr = qs.client_addr.clone();
            } else {
                qs.client_addr = d.client_addr.clone();
                qs.client_addr_from_static = true;
            }
        }
    }

    // setupPeerType
    let by_server_list = match d.server_id.and_then(|id| d.quorum.servers.get(&id)) {
        Some(s) if s.learner_type == LearnerType::Observer => LearnerType::Observer,
        _ => LearnerType::Participant,
    };
    if by_server_list != d.peer_type {
        w.push(format!(
            "zoo.cfg: peerType ({:?}) does not match this server's role in the server list \
             ({by_server_list:?}); using the server list",
            d.peer_type
        ));
        d.peer_type = by_server_list;
    }

    // checkValidity
    if d.is_distributed() {
        if d.init_limit == 0 {
            return Err(ConfigError::invalid("initLimit", "initLimit is not set"));
        }
        if d.sync_limit == 0 {
            return Err(ConfigError::invalid("syncLimit", "syncLimit is not set"));
        }
        let Some(id) = d.server_id else {
            return Err(ConfigError::invalid(
                "myid",
                format!("the myid file is missing ({})", myid_path.display()),
            ));
        };
        if !d.quorum.servers.contains_key(&id) {
            // Departure: Java fails later, when the peer starts ("My id N not in the peer
            // list").
            return Err(ConfigError::invalid(
                "myid",
                format!("my id {id} is not in the server.N list"),
            ));
        }
    }
    Ok(())
}

/// `setupMyId` on the text of `dataDir/myid`: the first line, a decimal long, nothing else
/// (not trimmed: `3 ` is refused, as `Long.parseLong` refuses it). Pure; reading the file
/// is the caller's business.
pub fn parse_myid(text: &str) -> Result<i64, ConfigError> {
    if text.is_empty() {
        return Err(ConfigError::invalid("myid", "the myid file is empty"));
    }
    let line = text.split(['\n', '\r']).next().unwrap_or("");
    java_parse_long(line)
        .ok_or_else(|| ConfigError::value("myid", line, "the server id is not a number"))
}

/// Reads the system-property settings and assembles the [`Config`].
fn finish(
    d: Draft,
    config_file: Option<&Path>,
    sys: SystemProperties,
    static_config_backup: Option<PathBuf>,
    last_seen_quorum: Option<QuorumVerifier>,
    w: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    let distributed = d.is_distributed();
    let mut bad_int = |key: &str, default: &str| {
        if let Some(v) = sys.bad_integer(key) {
            w.push(format!(
                "{key}={} is not an integer; using the default {default}",
                shown(key, v)
            ));
        }
    };
    bad_int("zookeeper.globalOutstandingLimit", "1000");
    bad_int("jute.maxbuffer", "1048575");
    bad_int("zookeeper.jute.maxbuffer.extrasize", "jute.maxbuffer");
    bad_int("zookeeper.snapCount", "100000");
    bad_int("znode.container.checkIntervalMs", "60000");
    bad_int("znode.container.maxPerMinute", "10000");
    bad_int("zookeeper.admin.serverPort", "8080");
    bad_int("zookeeper.admin.idleTimeout", "30000");
    bad_int("zookeeper.maxCnxns", "0");
    bad_int("zookeeper.electionPortBindRetry", "3");
    for key in [
        "zookeeper.snapSizeLimitInKb",
        "znode.container.maxNeverUsedIntervalMs",
        "zookeeper.txnLogSizeLimitInKb",
    ] {
        if let Some(v) = sys.bad_long(key) {
            w.push(format!("{key}={v} is not an integer; using the default"));
        }
    }

    let whitelist = FourLetterWhitelist::from_property(
        sys.get(WHITELIST_PROPERTY),
        sys.get("readonlymode.enabled") == Some("true"),
    );
    for unknown in whitelist.unknown() {
        w.push(format!(
            "4lw.commands.whitelist: {unknown} is not a four-letter word (ignored)"
        ));
    }

    let jute_max_buffer = sys.get_integer("jute.maxbuffer", 0xfffff);
    let jute_max_buffer_extra = sys
        .get_integer("zookeeper.jute.maxbuffer.extrasize", jute_max_buffer)
        .max(1024);

    // ZKDatabase: above 1 or unparsable falls back to 0.33, with a warning.
    let snapshot_size_factor = match sys.get("zookeeper.snapshotSizeFactor") {
        None => 0.33,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(f) if f <= 1.0 => f,
            Ok(_) => {
                w.push(format!(
                    "The configured zookeeper.snapshotSizeFactor ({v}) is invalid, going to use the default 0.33"
                ));
                0.33
            }
            Err(_) => {
                w.push(format!(
                    "Error parsing zookeeper.snapshotSizeFactor ({v}), using default value 0.33"
                ));
                0.33
            }
        },
    };
    let commit_log_count = sys.get_integer("zookeeper.commitLogCount", 500).max(1);
    let mut snap_count = sys.get_integer("zookeeper.snapCount", 100_000);
    if snap_count < 2 {
        w.push(format!(
            "zookeeper.snapCount={snap_count} is below 2; using 2"
        ));
        snap_count = 2;
    }

    let digest_algorithm = sys
        .get("zookeeper.DigestAuthenticationProvider.digestAlg")
        .unwrap_or("SHA1")
        .to_owned();
    if !digest_algorithm.eq_ignore_ascii_case("SHA1")
        && !digest_algorithm.eq_ignore_ascii_case("SHA-1")
    {
        w.push(format!(
            "zookeeper.DigestAuthenticationProvider.digestAlg={digest_algorithm} accepted, \
             not implemented (digest ids use SHA1)"
        ));
    }

    let mut pre_alloc_size: i64 = 65536 * 1024;
    if let Some(v) = sys.get("zookeeper.preAllocSize") {
        match java_parse_long(v) {
            Some(kb) => pre_alloc_size = kb.wrapping_mul(1024),
            None => w.push(format!(
                "zookeeper.preAllocSize={v} is not a valid size; using 64 MB"
            )),
        }
    }

    let flush_delay_ms = sys.get_long("zookeeper.flushDelay", 0);

    let fsync_warning_threshold_ms = sys
        .get("zookeeper.fsync.warningthresholdms")
        .and_then(super::system::java_decode)
        .unwrap_or_else(|| sys.get_long("fsync.warningthresholdms", 1000));

    // QuorumCnxManager: `Integer.parseInt` of the property, so a bad value stops an
    // ensemble member at start; a standalone server never reads it.
    let mut cnx_timeout_ms = DEFAULT_CNX_TIMEOUT_MS;
    if let Some(v) = sys.get("zookeeper.cnxTimeout") {
        match java_parse_int(v) {
            Some(ms) => cnx_timeout_ms = ms,
            None if distributed => {
                return Err(ConfigError::value(
                    "zookeeper.cnxTimeout",
                    v,
                    "not an integer (Integer.parseInt)",
                ))
            }
            None => w.push(format!(
                "zookeeper.cnxTimeout={v} is not an integer (an ensemble member would refuse \
                 to start); unused by a standalone server"
            )),
        }
    }
    // QuorumCnxManager.Listener: `Integer.getInteger`, negative means the default.
    let mut election_port_bind_retry = DEFAULT_ELECTION_PORT_BIND_RETRY;
    match sys.get_integer(
        "zookeeper.electionPortBindRetry",
        DEFAULT_ELECTION_PORT_BIND_RETRY as i32,
    ) {
        n if n >= 0 => election_port_bind_retry = n as u32,
        n => w.push(format!(
            "zookeeper.electionPortBindRetry={n} must be >= 0; using the default \
             {DEFAULT_ELECTION_PORT_BIND_RETRY}"
        )),
    }

    let mut max_cnxns = sys.get_integer("zookeeper.maxCnxns", 0);
    if max_cnxns < 0 {
        w.push(format!(
            "zookeeper.maxCnxns={max_cnxns} is negative; using 0 (unlimited)"
        ));
        max_cnxns = 0;
    }

    let mut auth_providers = BTreeMap::new();
    for (name, class, origin) in sys.iter() {
        let Some(suffix) = name.strip_prefix("zookeeper.authProvider.") else {
            continue;
        };
        auth_providers.insert(suffix.to_owned(), class.to_owned());
        if origin == Origin::Derived {
            continue;
        }
        match keys::KNOWN_AUTH_PROVIDERS.iter().find(|(c, _)| *c == class) {
            Some((_, "ip" | "digest" | "sasl" | "x509")) => {}
            Some((_, scheme)) => w.push(format!(
                "authProvider.{suffix}: the {scheme} scheme is accepted, not implemented"
            )),
            None => w.push(format!(
                "authProvider.{suffix}: {class} is not an authentication provider Ferrokeeper \
                 knows (ignored)"
            )),
        }
    }

    let digest_auth_enabled =
        sys.get_boolean_or("zookeeper.DigestAuthenticationProvider.enabled", true);
    let session_require_client_sasl_auth =
        sys.get_boolean_or("zookeeper.sessionRequireClientSASLAuth", false);
    let enforce_auth = if session_require_client_sasl_auth {
        EnforceAuth {
            enabled: true,
            schemes: vec!["sasl".into()],
        }
    } else {
        EnforceAuth {
            enabled: sys.get_boolean_or("zookeeper.enforce.auth.enabled", false),
            schemes: sys
                .get("zookeeper.enforce.auth.schemes")
                .map(|s| s.split(',').map(|x| java_trim(x).to_owned()).collect())
                .unwrap_or_default(),
        }
    };
    if enforce_auth.enabled {
        // AuthenticationHelper refuses to start the server in these cases.
        if enforce_auth.schemes.is_empty() {
            return Err(ConfigError::invalid(
                "enforce.auth.schemes",
                "zookeeper.enforce.auth.enabled is true, so zookeeper.enforce.auth.schemes must be configured",
            ));
        }
        let mut available = vec!["ip"];
        if digest_auth_enabled {
            available.push("digest");
        }
        for class in auth_providers.values() {
            if let Some((_, scheme)) = keys::KNOWN_AUTH_PROVIDERS.iter().find(|(c, _)| c == class) {
                available.push(scheme);
            }
        }
        for scheme in &enforce_auth.schemes {
            if !available.contains(&scheme.as_str()) {
                return Err(ConfigError::value(
                    "enforce.auth.schemes",
                    scheme,
                    "authentication scheme is not available (no provider registered for it)",
                ));
            }
        }
    }

    for (name, _, origin) in sys.iter() {
        if origin == Origin::CommandLine {
            if let Some(msg) = keys::command_line_warning(name) {
                w.push(msg);
            }
        }
    }

    let data_dir = d.data_dir.unwrap_or_default();
    Ok(Config {
        cnx_timeout_ms,
        election_port_bind_retry,
        config_file: config_file.map(Path::to_owned),
        data_log_dir: d.data_log_dir.unwrap_or_else(|| data_dir.clone()),
        data_dir,
        client_port_address: d.client_addr,
        secure_client_port_address: d.secure_client_addr,
        observer_master_port: u16::try_from(d.observer_master_port)
            .ok()
            .filter(|&p| p > 0),
        tick_time: d.tick_time,
        max_client_cnxns: d.max_client_cnxns,
        min_session_timeout: d.min_session_timeout,
        max_session_timeout: d.max_session_timeout,
        client_port_listen_backlog: d.client_port_listen_backlog,
        init_limit: d.init_limit,
        sync_limit: d.sync_limit,
        connect_to_learner_master_limit: d.connect_to_learner_master_limit,
        election_alg: d.election_alg,
        quorum_listen_on_all_ips: d.quorum_listen_on_all_ips,
        peer_type: d.peer_type,
        server_id: d.server_id,
        quorum: d.quorum,
        last_seen_quorum,
        dynamic_config_file: d.dynamic_config_file.map(PathBuf::from),
        standalone_enabled: d.standalone_enabled,
        reconfig_enabled: d.reconfig_enabled,
        snap_retain_count: d.snap_retain_count,
        purge_interval: d.purge_interval,
        sync_enabled: d.sync_enabled,
        local_sessions_enabled: d.local_sessions_enabled,
        local_sessions_upgrading_enabled: d.local_sessions_upgrading_enabled,
        metrics_provider_class_name: d.metrics_provider_class_name,
        metrics_provider_config: d.metrics_provider_config,
        ssl_quorum: d.ssl_quorum,
        quorum_port_unification: d.quorum_port_unification,
        ssl_quorum_reload_cert_files: d.ssl_quorum_reload_cert_files,
        quorum_sasl: d.quorum_sasl,
        quorum_cnxn_threads_size: d.quorum_cnxn_threads_size,
        multi_address_enabled: d.multi_address_enabled,
        oracle_path: d.oracle_path,
        static_config_backup,
        four_letter_words: whitelist,
        global_outstanding_limit: sys.get_integer("zookeeper.globalOutstandingLimit", 1000),
        jute_max_buffer,
        jute_max_buffer_extra,
        snap_count,
        snapshot_size_factor,
        commit_log_count,
        snap_size_limit_kb: sys.get_long("zookeeper.snapSizeLimitInKb", 4_194_304),
        extended_types_enabled: sys.get_boolean("zookeeper.extendedTypesEnabled"),
        emulate_353_ttl_nodes: sys.get_boolean("zookeeper.emulate353TTLNodes"),
        super_digest: sys
            .get("zookeeper.DigestAuthenticationProvider.superDigest")
            .map(Secret::new),
        digest_auth_enabled,
        digest_algorithm,
        skip_acl: sys.get("zookeeper.skipACL") == Some("yes"),
        enforce_quota: sys.get_boolean_or("zookeeper.enforceQuota", false),
        digest_enabled: sys.get_boolean_or("zookeeper.digest.enabled", true),
        close_session_txn_enabled: sys.get_boolean_or("zookeeper.closeSessionTxn.enabled", true),
        containers: Containers {
            check_interval_ms: sys.get_integer("znode.container.checkIntervalMs", 60_000),
            max_per_minute: sys.get_integer("znode.container.maxPerMinute", 10_000),
            max_never_used_interval_ms: sys.get_long("znode.container.maxNeverUsedIntervalMs", 0),
        },
        force_sync: sys.get("zookeeper.forceSync") != Some("no"),
        flush_delay_ms,
        max_write_queue_poll_time_ms: sys
            .get_long("zookeeper.maxWriteQueuePollTime", flush_delay_ms / 3),
        max_batch_size: sys.get_integer("zookeeper.maxBatchSize", 1000),
        pre_alloc_size,
        fsync_warning_threshold_ms,
        txn_log_size_limit_kb: sys.get_long("zookeeper.txnLogSizeLimitInKb", -1),
        admin: AdminServer {
            enabled: sys.get("zookeeper.admin.enableServer") != Some("false"),
            address: sys
                .get("zookeeper.admin.serverAddress")
                .unwrap_or("0.0.0.0")
                .to_owned(),
            port: sys.get_integer("zookeeper.admin.serverPort", 8080),
            idle_timeout_ms: sys.get_integer("zookeeper.admin.idleTimeout", 30_000),
            command_url: sys
                .get("zookeeper.admin.commandURL")
                .unwrap_or("/commands")
                .to_owned(),
        },
        read_only_mode_enabled: sys.get_boolean("readonlymode.enabled"),
        server_cnxn_factory: sys.get("zookeeper.serverCnxnFactory").map(str::to_owned),
        max_cnxns,
        auth_providers,
        client_port_unification: sys.get_boolean("zookeeper.client.portUnification"),
        session_require_client_sasl_auth,
        enforce_auth,
        properties: sys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_like_java_io_file() {
        assert_eq!(java_file_path("/tmp//x///y/"), PathBuf::from("/tmp/x/y"));
        assert_eq!(java_file_path("/"), PathBuf::from("/"));
        assert_eq!(java_file_path("//"), PathBuf::from("/"));
        assert_eq!(java_file_path("rel/dir/"), PathBuf::from("rel/dir"));
        assert_eq!(java_file_path("a/../b"), PathBuf::from("a/../b"));
    }

    #[test]
    fn versions_from_file_names() {
        assert_eq!(
            version_from_filename("zoo.cfg.dynamic.100000000").as_deref(),
            Some("100000000")
        );
        assert_eq!(
            version_from_filename("zoo.cfg.dynamic.0").as_deref(),
            Some("0")
        );
        assert_eq!(version_from_filename("zoo.cfg.dynamic"), None);
        assert_eq!(version_from_filename("nodot"), None);
    }

    #[test]
    fn myid_contents() {
        assert_eq!(parse_myid("3").unwrap(), 3);
        assert_eq!(parse_myid("3\n").unwrap(), 3);
        assert_eq!(parse_myid("12\r\nignored").unwrap(), 12);
        assert_eq!(parse_myid("-4").unwrap(), -4);
        assert!(parse_myid("3 \n").is_err());
        assert!(parse_myid("").is_err());
        assert!(parse_myid("\n3").is_err());
        assert!(parse_myid("x")
            .unwrap_err()
            .to_string()
            .contains("myid=\"x\""));
    }
}
