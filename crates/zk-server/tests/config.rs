//! zoo.cfg + `-D` behaviour that needs no JVM: the kazoo harness's configuration,
//! defaults, derived timeouts, the ensemble, errors, precedence, warnings, secrets, and the
//! `conf` word against output captured from Apache ZooKeeper 3.8.0 (Debian).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use zk_server::config::{
    self, render_conf, ConfRuntime, ConfigError, Endpoint, Host, LearnerType, Loaded,
    SystemProperties,
};

const CFG: &str = "/zk/zoo.cfg";

/// Loads `cfg` as /zk/zoo.cfg with the given `-D` definitions and extra files.
fn load(cfg: &str, defines: &[&str], extra: &[(&str, &[u8])]) -> Result<Loaded, ConfigError> {
    let mut files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    files.insert(PathBuf::from(CFG), cfg.as_bytes().to_vec());
    for (path, content) in extra {
        files.insert(PathBuf::from(path), content.to_vec());
    }
    let (sys, rest) = SystemProperties::from_args(defines.iter().map(|d| format!("-D{d}")))
        .expect("valid defines");
    assert!(rest.is_empty());
    config::load_with(Path::new(CFG), sys, &files)
}

fn ok(cfg: &str) -> Loaded {
    load(cfg, &[], &[]).unwrap()
}

fn err(cfg: &str) -> String {
    load(cfg, &[], &[]).unwrap_err().to_string()
}

/// kazoo 2.10's harness: zoo.cfg as `kazoo/testing/common.py` writes it plus the entries
/// of its conftest, and the JVM flags it passes.
const KAZOO_CFG: &str = "
tickTime=2000
dataDir=/zk/data
clientPort=20000
secureClientPort=20004
maxClientCnxns=0
admin.serverPort=20003
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
ssl.keyStore.location=/zk/keystore.jks
ssl.keyStore.password=apassword
ssl.trustStore.location=/zk/truststore.jks
ssl.trustStore.password=apassword
4lw.commands.whitelist=*
reconfigEnabled=true
localSessionsEnabled=true
localSessionsUpgradingEnabled=true
";

const KAZOO_PEERS: &str = "
initLimit=4
syncLimit=2
server.1=localhost:20002:20001:participant
server.2=localhost:20012:20011:participant
server.3=localhost:20022:20021:participant
peerType=participant
";

const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

fn kazoo_defines() -> Vec<String> {
    vec![
        "file.encoding=UTF-8".into(),
        "readonlymode.enabled=true".into(),
        "zookeeper.log.dir=/zk/log".into(),
        "zookeeper.root.logger=INFO,CONSOLE".into(),
        "log4j.configuration=file:/zk/log4j.properties".into(),
        "java.awt.headless=true".into(),
        "java.security.auth.login.config=/zk/jaas.conf".into(),
        format!("zookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"),
    ]
}

fn load_kazoo(cfg: &str) -> Loaded {
    let defines = kazoo_defines();
    let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
    load(cfg, &defines, &[("/zk/data/myid", b"1")]).unwrap()
}

#[test]
fn kazoo_harness_standalone() {
    let Loaded {
        config: c,
        warnings,
    } = load_kazoo(KAZOO_CFG);
    assert!(!c.is_distributed());
    assert_eq!(c.tick_time, 2000);
    assert_eq!(
        (c.min_session_timeout, c.max_session_timeout),
        (4000, 40000)
    );
    assert_eq!(c.data_dir, PathBuf::from("/zk/data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.client_port_address, Some(Endpoint::wildcard(20000)));
    assert_eq!(
        c.secure_client_port_address,
        Some(Endpoint::wildcard(20004))
    );
    assert_eq!(c.max_client_cnxns, 0);
    assert_eq!(c.admin.port, 20003);
    assert!(c.admin.enabled);
    assert_eq!(
        c.server_cnxn_factory.as_deref(),
        Some("org.apache.zookeeper.server.NettyServerCnxnFactory")
    );
    assert!(c.reconfig_enabled);
    assert!(c.local_sessions_enabled && c.local_sessions_upgrading_enabled);
    // myid is read even standalone (the harness always writes one).
    assert_eq!(c.server_id, Some(1));
    // Every word, and isro is among them anyway.
    assert_eq!(c.four_letter_words.enabled().count(), 18);
    assert!(c.four_letter_words.is_enabled("conf"));
    // -Dreadonlymode.enabled=true and the superDigest come from the command line.
    assert!(c.read_only_mode_enabled);
    assert_eq!(
        c.super_digest.as_ref().map(|s| s.expose()),
        Some(SUPER_DIGEST)
    );
    // TLS settings are kept, under their system property names, for the TLS listener.
    let p = &c.properties;
    assert_eq!(
        p.get("zookeeper.ssl.keyStore.location"),
        Some("/zk/keystore.jks")
    );
    assert_eq!(p.get("zookeeper.ssl.keyStore.password"), Some("apassword"));
    assert_eq!(
        p.get("zookeeper.ssl.trustStore.password"),
        Some("apassword")
    );
    assert_eq!(
        p.origin("zookeeper.ssl.keyStore.location"),
        Some(config::Origin::ZooCfg)
    );
    // Auth providers: the harness's SASL one, plus x509 derived from secureClientPort.
    assert_eq!(
        c.auth_providers.get("1").map(String::as_str),
        Some("org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
    );
    assert_eq!(
        c.auth_providers.get("x509").map(String::as_str),
        Some("org.apache.zookeeper.server.auth.X509AuthenticationProvider")
    );
    assert_eq!(
        p.origin("zookeeper.authProvider.x509"),
        Some(config::Origin::Derived)
    );
    // TLS, SASL and the JAAS file are implemented: nothing of the harness's configuration
    // is reported as accepted-but-ignored.
    let has = |needle: &str| warnings.iter().filter(|w| w.contains(needle)).count();
    assert_eq!(has("secureClientPort"), 0, "{warnings:#?}");
    assert_eq!(has("authProvider.1: the sasl scheme"), 0, "{warnings:#?}");
    assert_eq!(has("java.security.auth.login.config"), 0, "{warnings:#?}");
    // The JVM's and the logger's own properties are not noise.
    assert_eq!(has("log4j"), 0, "{warnings:#?}");
    assert_eq!(has("file.encoding"), 0, "{warnings:#?}");
    assert_eq!(warnings.len(), 0, "{warnings:#?}");
}

#[test]
fn kazoo_harness_ensemble_member() {
    let Loaded { config: c, .. } = load_kazoo(&format!("{KAZOO_CFG}{KAZOO_PEERS}"));
    assert!(c.is_distributed());
    assert_eq!(c.server_id, Some(1));
    assert_eq!((c.init_limit, c.sync_limit), (4, 2));
    assert_eq!(c.quorum.voting_members().count(), 3);
    assert_eq!(c.peer_type, LearnerType::Participant);
    let me = c.this_server().unwrap();
    assert_eq!(me.addrs[0].to_string(), "localhost:20002");
    assert_eq!(me.election_addrs[0].to_string(), "localhost:20001");
    // No client part in the line: this server's comes from clientPort, marked as such.
    assert_eq!(me.client_addr, Some(Endpoint::wildcard(20000)));
    assert!(me.client_addr_from_static);
    // Reconfig in an ensemble: Java backs zoo.cfg up at start.
    assert_eq!(
        c.static_config_backup,
        Some(PathBuf::from("/zk/zoo.cfg.bak"))
    );
}

#[test]
fn defaults_are_apache_zookeepers() {
    let Loaded {
        config: c,
        warnings,
    } = ok("dataDir=/var/lib/zk\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.tick_time, 3000);
    assert_eq!(c.min_session_timeout, 6000);
    assert_eq!(c.max_session_timeout, 60000);
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.client_port_address, None);
    assert_eq!(c.secure_client_port_address, None);
    assert_eq!(c.data_log_dir, PathBuf::from("/var/lib/zk"));
    assert_eq!(c.snap_dir(), PathBuf::from("/var/lib/zk/version-2"));
    assert_eq!(c.client_port_listen_backlog, -1);
    assert_eq!((c.init_limit, c.sync_limit), (0, 0));
    assert_eq!(c.connect_to_learner_master_limit, 0);
    assert_eq!(c.election_alg, 3);
    assert_eq!(c.peer_type, LearnerType::Participant);
    assert_eq!(c.server_id, None);
    assert!(c.quorum.servers.is_empty());
    assert!(c.standalone_enabled && !c.reconfig_enabled && !c.is_distributed());
    assert_eq!((c.snap_retain_count, c.purge_interval), (3, 0));
    assert!(c.sync_enabled);
    assert!(!c.local_sessions_enabled && !c.local_sessions_upgrading_enabled);
    assert_eq!(
        c.metrics_provider_class_name,
        config::DEFAULT_METRICS_PROVIDER
    );
    assert_eq!(c.four_letter_words.enabled().collect::<Vec<_>>(), ["srvr"]);
    assert_eq!(c.global_outstanding_limit, 1000);
    assert_eq!(c.jute_max_buffer, 0xfffff);
    // Not 1024: BinaryInputArchive defaults the extra size to jute.maxbuffer itself.
    assert_eq!(c.jute_max_buffer_extra, 0xfffff);
    assert_eq!(c.snap_count, 100_000);
    assert_eq!(c.snap_size_limit_kb, 4_194_304);
    assert!(!c.extended_types_enabled && !c.emulate_353_ttl_nodes);
    assert!(c.super_digest.is_none());
    assert!(c.digest_auth_enabled);
    assert_eq!(c.digest_algorithm, "SHA1");
    assert!(!c.skip_acl && !c.enforce_quota);
    assert!(c.digest_enabled && c.close_session_txn_enabled);
    assert_eq!(c.containers.check_interval_ms, 60_000);
    assert_eq!(c.containers.max_per_minute, 10_000);
    assert_eq!(c.containers.max_never_used_interval_ms, 0);
    assert!(c.force_sync);
    assert_eq!(c.pre_alloc_size, 64 * 1024 * 1024);
    assert_eq!(c.fsync_warning_threshold_ms, 1000);
    assert_eq!(c.flush_delay_ms, 0);
    assert_eq!(c.max_write_queue_poll_time_ms, 0);
    assert_eq!(c.max_batch_size, 1000);
    assert_eq!(c.txn_log_size_limit_kb, -1);
    assert!(c.admin.enabled);
    assert_eq!(c.admin.address, "0.0.0.0");
    assert_eq!(c.admin.port, 8080);
    assert_eq!(c.admin.idle_timeout_ms, 30_000);
    assert_eq!(c.admin.command_url, "/commands");
    assert!(!c.read_only_mode_enabled);
    assert_eq!(c.server_cnxn_factory, None);
    assert_eq!(c.max_cnxns, 0);
    assert!(c.auth_providers.is_empty());
    assert!(!c.client_port_unification && !c.session_require_client_sasl_auth);
    assert!(!c.enforce_auth.enabled && c.enforce_auth.schemes.is_empty());
    assert!(c.properties.is_empty());
}

#[test]
fn group_commit_knobs_come_from_zoo_cfg_or_the_command_line() {
    // zoo.cfg keys land on zookeeper.<key>; the poll time defaults to a third of the delay.
    let Loaded {
        config: c,
        warnings,
    } = ok("dataDir=/var/lib/zk\nflushDelay=10\nmaxBatchSize=64\n");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        (
            c.flush_delay_ms,
            c.max_write_queue_poll_time_ms,
            c.max_batch_size
        ),
        (10, 3, 64)
    );
    let Loaded { config: c, .. } = load(
        "dataDir=/var/lib/zk\n",
        &[
            "zookeeper.flushDelay=6",
            "zookeeper.maxWriteQueuePollTime=1",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        (
            c.flush_delay_ms,
            c.max_write_queue_poll_time_ms,
            c.max_batch_size
        ),
        (6, 1, 1000)
    );
}

#[test]
fn session_timeouts_follow_tick_time() {
    let c = ok("dataDir=/d\ntickTime=100\n").config;
    assert_eq!((c.min_session_timeout, c.max_session_timeout), (200, 2000));
    let c = ok("dataDir=/d\ntickTime=100\nminSessionTimeout=1000\n").config;
    assert_eq!((c.min_session_timeout, c.max_session_timeout), (1000, 2000));
    let c = ok("dataDir=/d\ntickTime=100\nmaxSessionTimeout=150\nminSessionTimeout=150\n").config;
    assert_eq!((c.min_session_timeout, c.max_session_timeout), (150, 150));
    // -1 explicitly is "unset".
    let c = ok("dataDir=/d\ntickTime=100\nminSessionTimeout=-1\n").config;
    assert_eq!(c.min_session_timeout, 200);
    let e = err("dataDir=/d\ntickTime=100\nminSessionTimeout=2001\n");
    assert!(e.contains("minSessionTimeout"), "{e}");
}

#[test]
fn errors_name_the_key_and_value() {
    for (cfg, wanted) in [
        ("tickTime=3000\n", "dataDir"),
        ("dataDir=\n", "dataDir"),
        ("dataDir=/d\ntickTime=3s\n", "tickTime=\"3s\""),
        ("dataDir=/d\ntickTime=0\n", "tickTime"),
        ("dataDir=/d\ntickTime=-5\n", "tickTime=\"-5\""),
        ("dataDir=/d\nclientPort=x\n", "clientPort=\"x\""),
        ("dataDir=/d\nclientPort=65536\n", "clientPort=\"65536\""),
        ("dataDir=/d\nclientPortAddress=::1\n", "clientPortAddress"),
        (
            "dataDir=/d\nsecureClientPortAddress=::1\n",
            "secureClientPortAddress",
        ),
        (
            "dataDir=/d\nmaxClientCnxns=lots\n",
            "maxClientCnxns=\"lots\"",
        ),
        ("dataDir=/d\ninitLimit=1.5\n", "initLimit=\"1.5\""),
        ("dataDir=/d\nelectionAlg=0\n", "electionAlg=\"0\""),
        ("dataDir=/d\npeerType=leader\n", "peerType=\"leader\""),
        (
            "dataDir=/d\nstandaloneEnabled=on\n",
            "standaloneEnabled=\"on\"",
        ),
        (
            "dataDir=/d\nautopurge.purgeInterval=1h\n",
            "autopurge.purgeInterval",
        ),
        ("dataDir=/d\nserver.1=h:1:2:chair\n", "server.1"),
        ("dataDir=/d\nserver.one=h:1:2\n", "server.one"),
        (
            "dataDir=/d\ninitLimit=1\nsyncLimit=1\nserver.1=h:1:2\nserver.2=h:3:4\n",
            "myid",
        ),
        ("dataDir=/d\nserver.1=h:1:2\nserver.2=h:3:4\n", "initLimit"),
        ("dataDir=/d\nstandaloneEnabled=false\n", "standaloneEnabled"),
        ("dataDir=/d\nx=\\uXYZW\n", "zoo.cfg"),
    ] {
        let e = err(cfg);
        assert!(e.contains(wanted), "{cfg:?}: {e}");
    }
    // A missing file is its own error.
    let files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    let e =
        config::load_with(Path::new("/nope/zoo.cfg"), SystemProperties::new(), &files).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { .. }), "{e}");
}

#[test]
fn zoo_cfg_overrides_command_line_properties() {
    let l = load(
        "dataDir=/d\n4lw.commands.whitelist=*\nsnapCount=20\n",
        &[
            "zookeeper.4lw.commands.whitelist=srvr",
            "zookeeper.snapCount=10",
        ],
        &[],
    )
    .unwrap();
    assert!(l.config.four_letter_words.is_enabled("conf"));
    assert_eq!(l.config.snap_count, 20);
    assert_eq!(
        l.config.properties.origin("zookeeper.snapCount"),
        Some(config::Origin::ZooCfg)
    );
    assert_eq!(
        l.warnings
            .iter()
            .filter(|w| w.contains("overrides"))
            .count(),
        2,
        "{:?}",
        l.warnings
    );
    // The other way round for settings zoo.cfg cannot reach.
    let l = load(
        "dataDir=/d\nreadonlymode.enabled=true\njute.maxbuffer=5\n",
        &[],
        &[],
    )
    .unwrap();
    assert!(!l.config.read_only_mode_enabled);
    assert_eq!(l.config.jute_max_buffer, 0xfffff);
    assert!(!l.config.four_letter_words.is_enabled("isro"));
    assert_eq!(
        l.warnings
            .iter()
            .filter(|w| w.contains("no effect"))
            .count(),
        2,
        "{:?}",
        l.warnings
    );
    let l = load(
        "dataDir=/d\n",
        &[
            "readonlymode.enabled=true",
            "jute.maxbuffer=5",
            "znode.container.checkIntervalMs=100",
        ],
        &[],
    )
    .unwrap();
    assert!(l.config.read_only_mode_enabled);
    assert!(l.config.four_letter_words.is_enabled("isro"));
    assert_eq!(l.config.jute_max_buffer, 5);
    assert_eq!(l.config.jute_max_buffer_extra, 1024);
    assert_eq!(l.config.containers.check_interval_ms, 100);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn unknown_keys_become_properties_with_one_warning_each() {
    let l = ok("dataDir=/d\nrequestThrottleLimit=5\nfoo.bar = baz\nextendedTypesEnabled=true\n");
    let p = &l.config.properties;
    assert_eq!(p.get("zookeeper.requestThrottleLimit"), Some("5"));
    assert_eq!(p.get("zookeeper.foo.bar"), Some("baz"));
    assert!(l.config.extended_types_enabled);
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    assert!(
        l.warnings[0].contains("requestThrottleLimit") && l.warnings[0].contains("not implemented")
    );
    assert!(l.warnings[1].contains("foo.bar"));
    // Unknown -D properties too, but not the JVM's.
    let l = load(
        "dataDir=/d\n",
        &[
            "zookeeper.requestThrottleLimit=5",
            "java.net.preferIPv4Stack=true",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("-Dzookeeper.requestThrottleLimit"));
}

#[test]
fn server_lines_ipv6_and_observers() {
    let cfg = "dataDir=/d\ninitLimit=10\nsyncLimit=5\nclientPort=2182\n\
               server.1=zk1:2888:3888\n\
               server.2=10.0.0.2:2888:3888;10.0.0.2:2181\n\
               server.3=[2001:db8::3]:2888:3888:participant;[2001:db8::3]:2181\n\
               server.4=[::1]:2888:3888:observer;2182\n";
    let l = load(cfg, &[], &[("/d/myid", b"4\n")]).unwrap();
    let c = &l.config;
    assert!(c.is_distributed());
    assert_eq!(c.quorum.voting_members().count(), 3);
    assert_eq!(c.quorum.observers().map(|s| s.id).collect::<Vec<_>>(), [4]);
    // The server line decides this server's role and client address.
    assert_eq!(c.peer_type, LearnerType::Observer);
    assert_eq!(
        c.client_port_address,
        Some(Endpoint {
            host: Host::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port: 2182
        })
    );
    let s3 = &c.quorum.servers[&3];
    let v6: Ipv6Addr = "2001:db8::3".parse().unwrap();
    assert_eq!(s3.addrs[0].host, Host::Ip(IpAddr::V6(v6)));
    assert_eq!(s3.client_addr.as_ref().unwrap().port, 2181);
    assert_eq!(c.quorum.servers[&1].addrs[0].host, Host::Name("zk1".into()));
    assert_eq!(
        c.quorum.to_string(),
        "server.1=zk1:2888:3888:participant\n\
         server.2=10.0.0.2:2888:3888:participant;10.0.0.2:2181\n\
         server.3=[2001:db8:0:0:0:0:0:3]:2888:3888:participant;[2001:db8:0:0:0:0:0:3]:2181\n\
         server.4=[0:0:0:0:0:0:0:1]:2888:3888:observer;0.0.0.0:2182\n\
         version=0"
    );
}

#[test]
fn standalone_or_ensemble() {
    let servers = "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n";
    let base = "dataDir=/d\ninitLimit=5\nsyncLimit=2\n";
    let myid: &[(&str, &[u8])] = &[("/d/myid", b"1")];
    let distributed = |cfg: String| load(&cfg, &[], myid).unwrap().config.is_distributed();
    assert!(!distributed(base.to_owned()));
    // One participant: standalone (HBase writes such configs), with a warning.
    assert!(!distributed(format!("{base}server.1=a:1:2\n")));
    assert!(distributed(format!(
        "{base}server.1=a:1:2\nstandaloneEnabled=false\n"
    )));
    assert!(distributed(format!("{base}{servers}")));
    // Observers do not count as participants: one participant plus an observer is refused.
    let e = load(
        &format!("{base}server.1=a:1:2\nserver.2=b:1:2:observer\n"),
        &[],
        myid,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("observers without a quorum"), "{e}");
}

#[test]
fn myid_is_read_from_the_data_dir_on_disk() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-myid");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("myid"), "2\n").unwrap();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
            data.display()
        ),
    )
    .unwrap();
    let c = config::load(&cfg, SystemProperties::new()).unwrap().config;
    assert_eq!(c.server_id, Some(2));
    assert_eq!(c.this_server().unwrap().addrs[0].port, 3);
    assert_eq!(c.config_file.as_deref(), Some(cfg.as_path()));
}

#[test]
fn secrets_never_shown() {
    let secrets = [
        "apassword",
        "trustpw",
        "hunter2",
        "s3cr3t",
        SUPER_DIGEST,
        "quorumpw",
        "metricspw",
    ];
    let cfg = format!(
        "dataDir=/d\nclientPort=2181\nssl.keyStore.password=apassword\n\
         ssl.trustStore.password=trustpw\nmy.secret=hunter2\n\
         DigestAuthenticationProvider.superDigest={SUPER_DIGEST}\n\
         zookeeper.ssl.quorum.keyStore.password=quorumpw\n\
         metricsProvider.httpPassword=metricspw\n"
    );
    let l = load(
        &cfg,
        &[
            "db.password=s3cr3t",
            "zookeeper.ssl.keyStore.password=other",
        ],
        &[],
    )
    .unwrap();
    let rt = ConfRuntime {
        client_port: Some(2181),
        secure_client_port: None,
        snap_dir_bytes: 0,
        log_dir_bytes: 0,
        working_dir: Path::new("/"),
        membership: None,
    };
    let shown = [
        l.warnings.join("\n"),
        format!("{:?}", l.config),
        render_conf(&l.config, &rt),
        format!("{:?}", config::JavaProperties::parse_str(&cfg).unwrap()),
    ];
    for text in &shown {
        for s in secrets {
            assert!(!text.contains(s), "{s} leaked in:\n{text}");
        }
    }
    // The warnings still say which keys were involved.
    assert!(
        l.warnings.iter().any(|w| w.contains("my.secret")),
        "{:?}",
        l.warnings
    );
    assert!(
        l.warnings.iter().any(|w| w.contains("db.password")),
        "{:?}",
        l.warnings
    );
    // And the values remain usable by the code that needs them.
    assert_eq!(
        l.config.properties.get("zookeeper.ssl.keyStore.password"),
        Some("apassword")
    );
    assert_eq!(l.config.super_digest.unwrap().expose(), SUPER_DIGEST);
}

/// Apache ZooKeeper 3.8.0's `conf` output, captured with `printf conf | nc`, with the
/// directory of the run replaced by `@DIR@`, against ours for the same zoo.cfg.
fn check_capture(cfg: &str, conf: &str, myid: Option<&[u8]>, rt: ConfRuntime<'_>) {
    let dir = "/capture";
    let cfg = cfg.replace("@DIR@", dir);
    let mut extra: Vec<(String, &[u8])> = Vec::new();
    if let Some(id) = myid {
        extra.push((format!("{dir}/data/myid"), id));
    }
    let extra: Vec<(&str, &[u8])> = extra.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    let loaded = load(&cfg, &[], &extra).unwrap();
    let ours = render_conf(&loaded.config, &rt);
    assert_eq!(ours, conf.replace("@DIR@", dir));
}

fn runtime(client_port: u16, snap: u64, log: u64) -> ConfRuntime<'static> {
    ConfRuntime {
        client_port: Some(client_port),
        secure_client_port: None,
        snap_dir_bytes: snap,
        log_dir_bytes: log,
        working_dir: Path::new("/"),
        membership: None,
    }
}

#[test]
fn conf_matches_captured_standalone() {
    // dataLogDir apart: the 457-byte snapshot is in dataDir, yet Java prints it as
    // dataLogSize.
    check_capture(
        include_str!("fixtures/zoo-standalone.cfg"),
        include_str!("fixtures/conf-standalone.txt"),
        None,
        runtime(22181, 457, 0),
    );
}

#[test]
fn conf_matches_captured_single_server_line() {
    // One server line: standalone, client port from the line, serverId 0 despite myid 5.
    check_capture(
        include_str!("fixtures/zoo-single-server-line.cfg"),
        include_str!("fixtures/conf-single-server-line.txt"),
        Some(b"5\n"),
        runtime(22191, 457, 457),
    );
}

#[test]
fn conf_matches_captured_ensemble_observer() {
    check_capture(
        include_str!("fixtures/zoo-ensemble-observer.cfg"),
        include_str!("fixtures/conf-ensemble-observer.txt"),
        Some(b"4\n"),
        runtime(22184, 699, 699),
    );
}

#[test]
fn conf_relative_dirs_and_no_listener() {
    let c = ok("dataDir=zk/data/\n").config;
    let rt = ConfRuntime {
        client_port: None,
        secure_client_port: None,
        snap_dir_bytes: 1,
        log_dir_bytes: 2,
        working_dir: Path::new("/srv"),
        membership: None,
    };
    let text = render_conf(&c, &rt);
    assert!(
        text.starts_with(
            "clientPort=-1\nsecureClientPort=-1\ndataDir=/srv/zk/data/version-2\ndataDirSize=2\n"
        ),
        "{text}"
    );
    assert!(text.contains("\nmaxClientCnxns=-1\n"), "{text}");
    assert!(text.ends_with("serverId=0\n"), "{text}");
}
