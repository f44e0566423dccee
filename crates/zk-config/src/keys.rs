//! Which keys and system properties Ferrokeeper understands, and what to tell the operator
//! about the others.

/// zoo.cfg keys `QuorumPeerConfig.parseProperties` consumes itself (they never become
/// system properties).
pub(crate) const ZOO_CFG_KEYS: &[&str] = &[
    "dataDir",
    "dataLogDir",
    "clientPort",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "clientPortAddress",
    "secureClientPort",
    "secureClientPortAddress",
    "observerMasterPort",
    "clientPortListenBacklog",
    "tickTime",
    "maxClientCnxns",
    "minSessionTimeout",
    "maxSessionTimeout",
    "initLimit",
    "syncLimit",
    "connectToLearnerMasterLimit",
    "electionAlg",
    "quorumListenOnAllIPs",
    "peerType",
    "syncEnabled",
    "dynamicConfigFile",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
    "standaloneEnabled",
    "reconfigEnabled",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "quorum.auth.enableSasl",
    "quorum.auth.serverRequireSasl",
    "quorum.auth.learnerRequireSasl",
    "quorum.auth.learner.saslLoginContext",
    "quorum.auth.server.saslLoginContext",
    "quorum.auth.kerberos.servicePrincipal",
    "quorum.cnxn.threads.size",
    "jvm.pause.info-threshold.ms",
    "jvm.pause.warn-threshold.ms",
    "jvm.pause.sleep.time.ms",
    "jvm.pause.monitor",
    "metricsProvider.className",
    "multiAddress.enabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    "multiAddress.reachabilityCheckEnabled",
    "oraclePath",
];

/// System properties [`super::Config`] turns into typed settings.
const MODELLED: &[&str] = &[
    // Ferrokeeper's own: the opt-in ensembles needed while experimental (as -D, and from
    // zoo.cfg, where the key is stored with the zookeeper. prefix); accepted and ignored.
    "ferrokeeper.experimentalEnsemble",
    "zookeeper.ferrokeeper.experimentalEnsemble",
    "zookeeper.4lw.commands.whitelist",
    "zookeeper.globalOutstandingLimit",
    "zookeeper.snapCount",
    "zookeeper.snapshotSizeFactor",
    "zookeeper.commitLogCount",
    "zookeeper.snapSizeLimitInKb",
    "zookeeper.extendedTypesEnabled",
    "zookeeper.emulate353TTLNodes",
    "zookeeper.DigestAuthenticationProvider.superDigest",
    "zookeeper.DigestAuthenticationProvider.enabled",
    "zookeeper.DigestAuthenticationProvider.digestAlg",
    "zookeeper.skipACL",
    "zookeeper.enforceQuota",
    "zookeeper.digest.enabled",
    "zookeeper.closeSessionTxn.enabled",
    "zookeeper.forceSync",
    "zookeeper.flushDelay",
    "zookeeper.maxWriteQueuePollTime",
    "zookeeper.maxBatchSize",
    "zookeeper.preAllocSize",
    "zookeeper.fsync.warningthresholdms",
    "fsync.warningthresholdms",
    "zookeeper.txnLogSizeLimitInKb",
    "zookeeper.admin.enableServer",
    "zookeeper.admin.serverAddress",
    "zookeeper.admin.serverPort",
    "zookeeper.admin.idleTimeout",
    "zookeeper.admin.commandURL",
    "zookeeper.admin.snapshot.enabled",
    "zookeeper.admin.restore.enabled",
    "zookeeper.admin.rateLimiterIntervalInMS",
    "zookeeper.IPAuthenticationProvider.usexforwardedfor",
    "zookeeper.audit.enable",
    "zookeeper.admin.forceHttps",
    "zookeeper.admin.portUnification",
    "zookeeper.admin.needClientAuth",
    "zookeeper.serverCnxnFactory",
    "zookeeper.maxCnxns",
    "zookeeper.client.portUnification",
    "zookeeper.sessionRequireClientSASLAuth",
    "zookeeper.enforce.auth.enabled",
    "zookeeper.enforce.auth.schemes",
    "zookeeper.superUser",
    "zookeeper.letAnySaslUserDoX",
    "zookeeper.sasl.serverconfig",
    "zookeeper.X509AuthenticationProvider.superUser",
    "zookeeper.multiAddress.enabled",
    "zookeeper.cnxTimeout",
    "zookeeper.electionPortBindRetry",
    "zookeeper.jute.maxbuffer.extrasize",
    "readonlymode.enabled",
    "jute.maxbuffer",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
    "znode.container.maxNeverUsedIntervalMs",
];

/// Prefixes of system properties kept for later work without a warning:
/// auth providers (reported on their own) and client TLS settings.
const MODELLED_PREFIXES: &[&str] = &["zookeeper.authProvider.", "zookeeper.ssl."];

/// Properties of the JVM and its logging: meaningless to Ferrokeeper and silently kept.
const JVM_PREFIXES: &[&str] = &[
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "file.",
    "user.",
    "line.",
    "path.",
    "os.",
    "com.sun.management.",
    "log4j",
    "logback",
    "slf4j",
    "zookeeper.log.",
    "zookeeper.root.logger",
    "zookeeper.console.threshold",
    "zookeeper.tracelog.",
    "zookeeper.jmx.log4j.disable",
];

/// zoo.cfg keys that Java reads only as a *system property without* the `zookeeper.`
/// prefix: in zoo.cfg they land on `zookeeper.<key>`, which nothing reads.
const SYSTEM_PROPERTY_ONLY: &[&str] = &[
    "readonlymode.enabled",
    "jute.maxbuffer",
    "znode.container.checkIntervalMs",
    "znode.container.maxPerMinute",
    "znode.container.maxNeverUsedIntervalMs",
];

/// Whether a system property is modelled by a typed setting (no warning).
pub(crate) fn is_modelled_property(name: &str) -> bool {
    MODELLED.contains(&name)
        || MODELLED_PREFIXES.iter().any(|p| name.starts_with(p))
        || is_quorum_entry_property(name)
}

/// `zookeeper.server.N`, `zookeeper.group*`, `zookeeper.weight*`, `zookeeper.version`: the
/// ensemble entries of zoo.cfg, which Java also stores as system properties.
fn is_quorum_entry_property(name: &str) -> bool {
    name.strip_prefix("zookeeper.").is_some_and(is_quorum_entry)
}

/// A zoo.cfg key describing the ensemble.
pub(crate) fn is_quorum_entry(key: &str) -> bool {
    key.starts_with("server.")
        || key.starts_with("group")
        || key.starts_with("weight")
        || key == "version"
}

/// What to say about the zoo.cfg key `key` that became the property `zookeeper.<key>`;
/// `None` when it is understood.
pub(crate) fn zoo_cfg_property_warning(key: &str) -> Option<String> {
    let property = format!("zookeeper.{key}");
    if SYSTEM_PROPERTY_ONLY.contains(&key) {
        return Some(format!(
            "zoo.cfg: {key} has no effect in zoo.cfg (Apache ZooKeeper stores it as {property}, \
             which nothing reads); pass -D{key}=... instead"
        ));
    }
    if let Some(bare) = key.strip_prefix("zookeeper.") {
        return Some(format!(
            "zoo.cfg: {key} has no effect (Apache ZooKeeper stores it as {property}); \
             write {bare} in zoo.cfg or pass -D{key}=... instead"
        ));
    }
    if is_modelled_property(&property) {
        return None;
    }
    Some(format!(
        "zoo.cfg: {key} accepted (as system property {property}), not implemented"
    ))
}

/// What to say about a property that came from the command line; `None` when it is
/// understood or belongs to the JVM.
pub(crate) fn command_line_warning(name: &str) -> Option<String> {
    if is_modelled_property(name) || JVM_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return None;
    }
    let bare = name.strip_prefix("zookeeper.").unwrap_or(name);
    if ZOO_CFG_KEYS.contains(&bare) && bare != "multiAddress.enabled" {
        return Some(format!(
            "-D{name} has no effect: {bare} is read from zoo.cfg only"
        ));
    }
    Some(format!("-D{name}: accepted, not implemented"))
}

/// Class name → scheme of the authentication providers Apache ZooKeeper ships.
pub(crate) const KNOWN_AUTH_PROVIDERS: &[(&str, &str)] = &[
    (
        "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
        "ip",
    ),
    (
        "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
        "digest",
    ),
    (
        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
        "sasl",
    ),
    (
        "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
        "x509",
    ),
    (
        "org.apache.zookeeper.server.auth.KeyAuthenticationProvider",
        "key",
    ),
    (
        "org.apache.zookeeper.server.auth.EnsembleAuthenticationProvider",
        "ensemble",
    ),
];

/// The class `QuorumPeerConfig.configureSSLAuth` registers for TLS clients.
pub(crate) const X509_PROVIDER: &str =
    "org.apache.zookeeper.server.auth.X509AuthenticationProvider";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(zoo_cfg_property_warning("4lw.commands.whitelist"), None);
        assert_eq!(zoo_cfg_property_warning("ssl.keyStore.password"), None);
        assert_eq!(zoo_cfg_property_warning("authProvider.1"), None);
        assert_eq!(zoo_cfg_property_warning("server.1"), None);
        assert!(zoo_cfg_property_warning("readonlymode.enabled")
            .unwrap()
            .contains("no effect"));
        assert!(zoo_cfg_property_warning("zookeeper.snapCount")
            .unwrap()
            .contains("write snapCount"));
        assert!(zoo_cfg_property_warning("requestThrottleLimit")
            .unwrap()
            .contains("not implemented"));
        assert_eq!(zoo_cfg_property_warning("flushDelay"), None);
        assert_eq!(command_line_warning("zookeeper.snapCount"), None);
        assert_eq!(command_line_warning("java.awt.headless"), None);
        assert_eq!(command_line_warning("zookeeper.log.dir"), None);
        assert_eq!(
            command_line_warning("java.security.auth.login.config"),
            None
        );
        assert_eq!(command_line_warning("zookeeper.superUser"), None);
        assert!(command_line_warning("zookeeper.tickTime")
            .unwrap()
            .contains("zoo.cfg only"));
        assert!(command_line_warning("zookeeper.requestThrottleLimit")
            .unwrap()
            .contains("not implemented"));
        assert_eq!(command_line_warning("zookeeper.maxBatchSize"), None);
    }
}
