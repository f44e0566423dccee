//! Our configuration reader against Apache ZooKeeper's own.
//!
//! `compat-tests/config-golden/ConfigGolden.java` is compiled against the real ZooKeeper
//! jars (Debian's `/usr/share/java`, or `$FERROKEEPER_ZK_JARS`) and fed the same files
//! this test writes. What this proves:
//!
//! * **Properties syntax**: for a file of corner cases (separators, comments, continuations,
//!   escapes, Latin-1 bytes, CRLF, trailing backslash) our loader yields exactly the keys
//!   and values of `java.util.Properties.load`, and refuses what it refuses.
//! * **zoo.cfg semantics**: for each case below, every `QuorumPeerConfig` field (defaults
//!   included), the ensemble as `QuorumVerifier.toString()` prints it, every system
//!   property the parse created or changed (so the `zookeeper.<key>` mapping and the
//!   zoo.cfg-over-`-D` precedence), and the enabled four-letter words
//!   (`FourLetterCommands.isEnabled`) are equal; and where Java refuses the configuration we
//!   refuse it too.
//!
//! Without Java or the jars the test prints a loud skip notice and passes, unless
//! `FERROKEEPER_REQUIRE_JAVA=1` is set, in which case it fails.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use zk_server::config::{self, Config, JavaProperties, SystemProperties};
use zk_testkit::java::{Compat, Program};

static CONFIG_GOLDEN: Compat = Compat::new(
    "ConfigGolden",
    "config-golden/ConfigGolden.java",
    "config java_golden",
    "zoo.cfg parsing was NOT compared with Apache ZooKeeper.",
);

/// ConfigGolden.java compiled against the real jars, or `None` (after a loud notice) when
/// Java is not available and `FERROKEEPER_REQUIRE_JAVA=1` is not set.
fn java() -> Option<&'static Program> {
    CONFIG_GOLDEN.get(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// One JVM for all requests; returns the answer blocks, one per request.
fn ask(java: &Program, requests: &[String]) -> Vec<String> {
    let text = java.run(&(requests.join("\n") + "\n"));
    let mut blocks = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line == "END" {
            blocks.push(std::mem::take(&mut cur));
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    assert_eq!(blocks.len(), requests.len(), "one answer per request");
    blocks
}

/// ConfigGolden's escaping, over UTF-16 units.
fn esc(s: &str) -> String {
    let mut out = String::new();
    for u in s.encode_utf16() {
        if u > 0x20 && u < 0x7f && u != u16::from(b'\\') {
            out.push(char::from(u as u8));
        } else {
            out.push_str(&format!("\\u{u:04x}"));
        }
    }
    out
}

fn render_load(bytes: &[u8]) -> String {
    match JavaProperties::parse_bytes(bytes) {
        Err(_) => "ERROR\n".to_owned(),
        Ok(props) => {
            // Java's TreeMap orders by UTF-16 units.
            let mut entries: Vec<(&str, &str)> = props.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            entries
                .iter()
                .map(|(k, v)| format!("ENTRY {} {}\n", esc(k), esc(v)))
                .collect()
        }
    }
}

fn render_config(c: &Config, defines: &SystemProperties) -> String {
    let addr = |e: &Option<config::Endpoint>| match e {
        None => "null".to_owned(),
        Some(e) => esc(&format!("{}:{}", e.host.host_string(), e.port)),
    };
    let mut s = String::new();
    let mut line = |k: &str, v: String| {
        s.push_str(k);
        s.push(' ');
        s.push_str(&v);
        s.push('\n');
    };
    line("dataDir", esc(&c.data_dir.to_string_lossy()));
    line("dataLogDir", esc(&c.data_log_dir.to_string_lossy()));
    line("clientPortAddress", addr(&c.client_port_address));
    line(
        "secureClientPortAddress",
        addr(&c.secure_client_port_address),
    );
    line(
        "observerMasterPort",
        c.observer_master_port.unwrap_or(0).to_string(),
    );
    line("tickTime", c.tick_time.to_string());
    line("maxClientCnxns", c.max_client_cnxns.to_string());
    line("minSessionTimeout", c.min_session_timeout.to_string());
    line("maxSessionTimeout", c.max_session_timeout.to_string());
    line(
        "clientPortListenBacklog",
        c.client_port_listen_backlog.to_string(),
    );
    line("initLimit", c.init_limit.to_string());
    line("syncLimit", c.sync_limit.to_string());
    line(
        "connectToLearnerMasterLimit",
        c.connect_to_learner_master_limit.to_string(),
    );
    line("electionAlg", c.election_alg.to_string());
    line("peerType", c.peer_type.ordinal().to_string());
    line("serverId", c.server_id.unwrap_or(-1).to_string());
    line("distributed", c.is_distributed().to_string());
    line("standaloneEnabled", c.standalone_enabled.to_string());
    line("reconfigEnabled", c.reconfig_enabled.to_string());
    line("snapRetainCount", c.snap_retain_count.to_string());
    line("purgeInterval", c.purge_interval.to_string());
    line("syncEnabled", c.sync_enabled.to_string());
    line("localSessionsEnabled", c.local_sessions_enabled.to_string());
    line(
        "localSessionsUpgradingEnabled",
        c.local_sessions_upgrading_enabled.to_string(),
    );
    line(
        "quorumListenOnAllIPs",
        c.quorum_listen_on_all_ips.to_string(),
    );
    line("sslQuorum", c.ssl_quorum.to_string());
    line("portUnification", c.quorum_port_unification.to_string());
    line("multiAddressEnabled", c.multi_address_enabled.to_string());
    line("metricsProvider", esc(&c.metrics_provider_class_name));
    line("qv", esc(&c.quorum.to_string()));
    line(
        "lastSeenQv",
        c.last_seen_quorum
            .as_ref()
            .map_or("null".to_owned(), |q| esc(&q.to_string())),
    );
    for (k, v, _) in c.properties.iter() {
        if defines.get(k) != Some(v) {
            line(&format!("sysprop {}", esc(k)), esc(v));
        }
    }
    line(
        "flw",
        c.four_letter_words.enabled().collect::<Vec<_>>().join(","),
    );
    s
}

/// One zoo.cfg scenario. `@DIR@` in any content is replaced by the case's directory.
struct Case {
    name: &'static str,
    cfg: &'static [u8],
    defines: &'static [&'static str],
    /// Extra files (relative name, content); `data/myid` for a server id.
    files: &'static [(&'static str, &'static [u8])],
    /// Whether Apache ZooKeeper refuses it (checked against Java too; this documents it).
    refused: bool,
}

const KAZOO_DEFINES: &[&str] = &[
    "file.encoding=UTF-8",
    "readonlymode.enabled=true",
    "zookeeper.log.dir=/tmp/kazoo-log",
    "zookeeper.root.logger=INFO,CONSOLE",
    "log4j.configuration=file:/tmp/kazoo-log4j.properties",
    "java.awt.headless=true",
    "zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
];

fn cases() -> Vec<Case> {
    macro_rules! case {
        ($name:expr, $cfg:expr) => {
            case!($name, $cfg, &[], &[], false)
        };
        ($name:expr, $cfg:expr, refused) => {
            case!($name, $cfg, &[], &[], true)
        };
        ($name:expr, $cfg:expr, $defines:expr, $files:expr, $refused:expr) => {
            Case {
                name: $name,
                cfg: $cfg,
                defines: $defines,
                files: $files,
                refused: $refused,
            }
        };
    }
    const KAZOO_STANDALONE: &str = concat!(
        "\ntickTime=2000\ndataDir=@DIR@/data\nclientPort=20000\nsecureClientPort=20004\n",
        "maxClientCnxns=0\nadmin.serverPort=20003\n",
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n",
        "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
        "ssl.keyStore.location=@DIR@/keystore.jks\nssl.keyStore.password=apassword\n",
        "ssl.trustStore.location=@DIR@/truststore.jks\nssl.trustStore.password=apassword\n",
        "4lw.commands.whitelist=*\nreconfigEnabled=true\nlocalSessionsEnabled=false\n",
        "localSessionsUpgradingEnabled=false\n\n"
    );
    const KAZOO_MEMBER: &str = concat!(
        "\ntickTime=2000\ndataDir=@DIR@/data\nclientPort=20000\nsecureClientPort=20004\n",
        "maxClientCnxns=0\nadmin.serverPort=20003\n",
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n",
        "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
        "ssl.keyStore.location=@DIR@/keystore.jks\nssl.keyStore.password=apassword\n",
        "ssl.trustStore.location=@DIR@/truststore.jks\nssl.trustStore.password=apassword\n",
        "4lw.commands.whitelist=*\nreconfigEnabled=true\nlocalSessionsEnabled=true\n",
        "localSessionsUpgradingEnabled=true\n\n",
        "initLimit=4\nsyncLimit=2\n",
        "server.1=localhost:20002:20001:participant\n",
        "server.2=localhost:20012:20011:participant\n",
        "server.3=localhost:20022:20021:participant\n",
        "peerType=participant\n"
    );
    vec![
        case!("minimal", b"dataDir=@DIR@/data\n"),
        case!(
            "kazoo_standalone",
            KAZOO_STANDALONE.as_bytes(),
            KAZOO_DEFINES,
            &[("data/myid", b"1")],
            false
        ),
        case!(
            "kazoo_member",
            KAZOO_MEMBER.as_bytes(),
            KAZOO_DEFINES,
            &[("data/myid", b"1")],
            false
        ),
        case!(
            "ensemble_observer_ipv6",
            b"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=@DIR@/data\nclientPort=22184\n\
              server.1=127.0.0.1:22881:23881\n\
              server.2=127.0.0.1:22882:23882;127.0.0.1:22182\n\
              server.3=127.0.0.1:22883:23883:participant;22183\n\
              server.4=[::1]:22884:23884:observer;[::1]:22184\npeerType=observer\n",
            &[],
            &[("data/myid", b"4\n")],
            false
        ),
        case!(
            "ensemble_member_1",
            b"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=@DIR@/data\nclientPort=22181\n\
              server.1=127.0.0.1:22881:23881\nserver.2=127.0.0.1:22882:23882\n\
              server.3=127.0.0.1:22883:23883\n",
            &[],
            &[("data/myid", b"1\n")],
            false
        ),
        case!(
            "single_server_line_is_standalone",
            b"dataDir=@DIR@/data\nserver.1=127.0.0.1:2888:3888;2191\n",
            &[],
            &[("data/myid", b"1")],
            false
        ),
        case!(
            "standalone_disabled_single_server",
            b"dataDir=@DIR@/data\nstandaloneEnabled=false\ninitLimit=5\nsyncLimit=2\n\
              clientPort=2181\nserver.1=127.0.0.1:2888:3888\n",
            &[],
            &[("data/myid", b"1")],
            false
        ),
        case!(
            "timeouts_and_limits",
            b"dataDir=@DIR@/data\ntickTime=500\nminSessionTimeout=700\nmaxClientCnxns=-5\n\
              clientPortListenBacklog=50\nautopurge.snapRetainCount=1\nautopurge.purgeInterval=24\n\
              clientPort=2181\nclientPortAddress=127.0.0.1\n"
        ),
        case!(
            "syntax_corners",
            b"# comment\n  ! comment too\ndataDir @DIR@/data\nclientPort : 2181  \n\
              tickTime=1\\\n    000\nunknown.key=some \\u0041 value\\t\n\
              4lw.commands.whitelist = ruok ,stat, bogus\nmaxClientCnxns=\\u0035\r\n"
        ),
        case!(
            "precedence_zoo_cfg_over_define",
            b"dataDir=@DIR@/data\n4lw.commands.whitelist=*\nsnapCount=5\n",
            &[
                "zookeeper.4lw.commands.whitelist=srvr",
                "zookeeper.snapCount=10",
                "zookeeper.skipACL=yes"
            ],
            &[],
            false
        ),
        case!(
            "readonly_in_zoo_cfg_has_no_effect",
            b"dataDir=@DIR@/data\nreadonlymode.enabled=true\njute.maxbuffer=10\n\
              zookeeper.snapCount=7\n"
        ),
        case!(
            "readonly_as_define",
            b"dataDir=@DIR@/data\n4lw.commands.whitelist=ruok\n",
            &["readonlymode.enabled=true"],
            &[],
            false
        ),
        case!(
            "secure_port_derives_x509",
            b"dataDir=@DIR@/data\nsecureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n"
        ),
        case!(
            "ssl_auth_provider_missing",
            b"dataDir=@DIR@/data\nsecureClientPort=2281\nssl.authProvider=foo\n",
            refused
        ),
        case!(
            "ssl_auth_provider_present",
            b"dataDir=@DIR@/data\nsecureClientPort=2281\nssl.authProvider=foo\n\
              authProvider.foo=com.example.Foo\n"
        ),
        case!("latin1_data_dir", b"dataDir=@DIR@/d\xe9ta\n"),
        case!(
            "dynamic_config_file",
            b"dataDir=@DIR@/data\ntickTime=2000\ninitLimit=5\nsyncLimit=2\nclientPort=2182\n\
              reconfigEnabled=true\ndynamicConfigFile=@DIR@/zoo.cfg.dynamic.100000000\n",
            &[],
            &[
                ("data/myid", b"2"),
                (
                    "zoo.cfg.dynamic.100000000",
                    b"server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                      server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                      server.3=127.0.0.1:2890:3890:observer;0.0.0.0:2183\n"
                ),
                (
                    "zoo.cfg.dynamic.next",
                    b"server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nversion=200000000\n"
                ),
            ],
            false
        ),
        case!(
            "hierarchical",
            b"dataDir=@DIR@/data\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n\
              server.3=c:1:2\ngroup.1=1:2\ngroup.2=3\nweight.3=2\n",
            &[],
            &[("data/myid", b"3")],
            false
        ),
        case!(
            "peer_type_overridden_by_server_line",
            b"dataDir=@DIR@/data\ninitLimit=5\nsyncLimit=2\npeerType=observer\n\
              server.1=127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
            &[],
            &[("data/myid", b"2")],
            false
        ),
        case!(
            "client_address_matches_server_line",
            b"dataDir=@DIR@/data\ninitLimit=5\nsyncLimit=2\nclientPort=2182\n\
              server.1=127.0.0.1:1:2;2181\nserver.2=127.0.0.1:3:4;127.0.0.1:2182\n\
              server.3=127.0.0.1:5:6\n",
            &[],
            &[("data/myid", b"2")],
            false
        ),
        case!(
            "client_address_conflicts_with_server_line",
            b"dataDir=@DIR@/data\ninitLimit=5\nsyncLimit=2\nclientPort=2183\n\
              server.1=127.0.0.1:1:2;2181\nserver.2=127.0.0.1:3:4;127.0.0.1:2182\n\
              server.3=127.0.0.1:5:6\n",
            &[],
            &[("data/myid", b"2")],
            true
        ),
        case!(
            "multi_address_needs_the_system_property",
            b"dataDir=@DIR@/data\nmultiAddress.enabled=true\ninitLimit=5\nsyncLimit=2\n\
              server.1=127.0.0.1:1:2|127.0.0.2:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
            &[],
            &[("data/myid", b"2")],
            true
        ),
        case!(
            "multi_address_with_define",
            b"dataDir=@DIR@/data\ninitLimit=5\nsyncLimit=2\n\
              server.1=127.0.0.2:1:2|127.0.0.1:1:2\nserver.2=127.0.0.1:3:4\nserver.3=127.0.0.1:5:6\n",
            &["zookeeper.multiAddress.enabled=true"],
            &[("data/myid", b"2")],
            false
        ),
        // Refusals.
        case!("no_data_dir", b"clientPort=2181\n", refused),
        case!("tick_time_not_a_number", b"dataDir=@DIR@/data\ntickTime=2s\n", refused),
        case!("tick_time_zero", b"dataDir=@DIR@/data\ntickTime=0\n", refused),
        case!("client_port_not_a_number", b"dataDir=@DIR@/data\nclientPort=21 81\n", refused),
        case!("client_port_out_of_range", b"dataDir=@DIR@/data\nclientPort=70000\n", refused),
        case!(
            "client_port_address_without_port",
            b"dataDir=@DIR@/data\nclientPortAddress=127.0.0.1\n",
            refused
        ),
        case!("election_alg_1", b"dataDir=@DIR@/data\nelectionAlg=1\n", refused),
        case!("peer_type_bogus", b"dataDir=@DIR@/data\npeerType=voter\n", refused),
        case!(
            "boolean_yes_is_not_a_boolean",
            b"dataDir=@DIR@/data\nlocalSessionsEnabled=yes\n",
            refused
        ),
        case!(
            "min_above_max",
            b"dataDir=@DIR@/data\nminSessionTimeout=70000\n",
            refused
        ),
        case!(
            "ensemble_without_myid",
            b"dataDir=@DIR@/data\ninitLimit=5\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n",
            refused
        ),
        case!(
            "ensemble_without_init_limit",
            b"dataDir=@DIR@/data\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2\n",
            &[],
            &[("data/myid", b"1")],
            true
        ),
        case!(
            "myid_with_trailing_space",
            b"dataDir=@DIR@/data\n",
            &[],
            &[("data/myid", b"1 \n")],
            true
        ),
        case!(
            "server_line_trailing_space",
            b"dataDir=@DIR@/data\nserver.1=a:1:2 \n",
            refused
        ),
        case!(
            "server_line_same_ports",
            b"dataDir=@DIR@/data\nserver.1=a:1:1\n",
            refused
        ),
        case!(
            "observers_only",
            b"dataDir=@DIR@/data\nserver.1=a:1:2:observer\n",
            refused
        ),
        case!(
            "server_line_with_dynamic_file",
            b"dataDir=@DIR@/data\ndynamicConfigFile=@DIR@/dyn\nserver.1=a:1:2\n",
            &[],
            &[("dyn", b"server.1=a:1:2\n")],
            true
        ),
        case!(
            "quorum_sasl_inconsistent",
            b"dataDir=@DIR@/data\nquorum.auth.serverRequireSasl=true\n",
            refused
        ),
        case!("malformed_unicode_escape", b"dataDir=@DIR@/data\nx=\\u12\n", refused),
    ]
}

/// The properties-syntax corner cases, compared entry by entry with `Properties.load`.
const SYNTAX_FILE: &[u8] = b"# comment\n\
  ! bang comment\n\
a=1\n\
b 2\n\
c:3\n\
   d =   4   \n\
e\n\
f=\n\
g:\n\
h = = x\n\
i=one \\\n     two\n\
j=x\\\\\n\
k\\ l\\=m\\:n=o\n\
\\u0041=\\u00e9\\u65e5\n\
n=\\b\\z\\t\\n\\r\\f\\\"\\'\n\
o=a\\\r\n   b\r\n\
p=a\\\rb\r\
q=tab\there\n\
r\x0c=ff\n\
s=\\uD83D\\uDE00\n\
t=latin \xe9 \xff\n\
# comment \\\n\
u=after continued comment\n\
v=\\\n\
\n\
w=x\n\
\\\n\
#looks like a comment after a continuation\n\
a=duplicate wins\n\
  \t \x0c\n\
z=end with backslash\\";

#[test]
fn properties_syntax_matches_java() {
    let Some(java) = java() else { return };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-golden-syntax");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("syntax.properties");
    std::fs::write(&good, SYNTAX_FILE).unwrap();
    let bad = dir.join("bad.properties");
    std::fs::write(&bad, b"a=1\nb=\\u00\n").unwrap();
    let answers = ask(
        java,
        &[
            format!("LOAD {}", good.display()),
            format!("LOAD {}", bad.display()),
        ],
    );
    assert_eq!(render_load(SYNTAX_FILE), answers[0]);
    assert!(answers[0].lines().count() > 20, "{}", answers[0]);
    assert!(answers[1].starts_with("ERROR"), "{}", answers[1]);
    assert_eq!(render_load(b"a=1\nb=\\u00\n"), "ERROR\n");
}

#[test]
fn zoo_cfg_semantics_match_java() {
    let Some(java) = java() else { return };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-golden-cases");
    let _ = std::fs::remove_dir_all(&root);
    let cases = cases();
    let mut requests = Vec::new();
    let mut ours = Vec::new();
    for case in &cases {
        let dir = root.join(case.name);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let subst = |bytes: &[u8]| -> Vec<u8> {
            let mut out = Vec::new();
            let pat = b"@DIR@";
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(pat) {
                    out.extend_from_slice(dir.to_str().unwrap().as_bytes());
                    i += pat.len();
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            out
        };
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, subst(case.cfg)).unwrap();
        for (name, content) in case.files {
            std::fs::write(dir.join(name), subst(content)).unwrap();
        }
        let defines_path = dir.join("defines");
        std::fs::write(&defines_path, case.defines.join("\n")).unwrap();
        requests.push(format!(
            "PARSE {} {}",
            cfg_path.display(),
            defines_path.display()
        ));
        let (sys, _) =
            SystemProperties::from_args(case.defines.iter().map(|d| format!("-D{d}"))).unwrap();
        ours.push(match config::load(&cfg_path, sys.clone()) {
            Ok(loaded) => Ok(render_config(&loaded.config, &sys)),
            Err(e) => Err(e.to_string()),
        });
    }
    let answers = ask(java, &requests);
    let mut failures = Vec::new();
    for ((case, theirs), ours) in cases.iter().zip(&answers).zip(&ours) {
        let java_refused = theirs.starts_with("ERROR");
        if java_refused != case.refused {
            failures.push(format!(
                "== {} is mislabelled (refused: {}): Java said\n{theirs}",
                case.name, case.refused
            ));
        }
        match ours {
            Err(e) if java_refused => {
                eprintln!("{}: both refuse\n  java: {theirs}  ours: {e}", case.name);
            }
            Ok(text) if !java_refused && text == theirs => {}
            Ok(text) => failures.push(format!(
                "== {}\n-- java\n{theirs}-- ours\n{text}",
                case.name
            )),
            Err(e) => failures.push(format!(
                "== {}: we refused ({e}) but Java accepted:\n{theirs}",
                case.name
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A startup scenario for the settings ZooKeeper's classes read from system properties.
struct SettingsCase {
    name: &'static str,
    cfg: &'static str,
    defines: &'static [&'static str],
}

fn render_settings(c: &Config) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k} {v}\n"));
    line("juteMaxBuffer", c.jute_max_buffer.to_string());
    line("juteMaxBufferExtra", c.jute_max_buffer_extra.to_string());
    line("snapCount", c.snap_count.to_string());
    line("snapSizeLimitKb", c.snap_size_limit_kb.to_string());
    line(
        "globalOutstandingLimit",
        c.global_outstanding_limit.to_string(),
    );
    line("extendedTypesEnabled", c.extended_types_enabled.to_string());
    line("skipACL", c.skip_acl.to_string());
    line("enforceQuota", c.enforce_quota.to_string());
    line("digestEnabled", c.digest_enabled.to_string());
    line(
        "closeSessionTxnEnabled",
        c.close_session_txn_enabled.to_string(),
    );
    line("digestAuthEnabled", c.digest_auth_enabled.to_string());
    line(
        "superDigest",
        c.super_digest
            .as_ref()
            .map_or("null".to_owned(), |d| esc(d.expose())),
    );
    line("preAllocSize", c.pre_alloc_size.to_string());
    line(
        "fsyncWarningThresholdMs",
        c.fsync_warning_threshold_ms.to_string(),
    );
    line(
        "txnLogSizeLimit",
        if c.txn_log_size_limit_kb > 0 {
            (c.txn_log_size_limit_kb * 1024).to_string()
        } else {
            "-1".to_owned()
        },
    );
    line("forceSync", c.force_sync.to_string());
    line(
        "enforceAuth",
        format!(
            "{} {}",
            c.enforce_auth.enabled,
            esc(&format!("[{}]", c.enforce_auth.schemes.join(", ")))
        ),
    );
    line("readOnlyMode", c.read_only_mode_enabled.to_string());
    line(
        "flw",
        c.four_letter_words.enabled().collect::<Vec<_>>().join(","),
    );
    s
}

fn settings_cases() -> Vec<SettingsCase> {
    vec![
        SettingsCase {
            name: "defaults",
            cfg: "dataDir=@DIR@/data\n",
            defines: &[],
        },
        SettingsCase {
            name: "all_as_defines",
            cfg: "dataDir=@DIR@/data\n",
            defines: &[
                "jute.maxbuffer=0x200000",
                "zookeeper.jute.maxbuffer.extrasize=10",
                "zookeeper.snapCount=1",
                "zookeeper.snapSizeLimitInKb=-1",
                "zookeeper.globalOutstandingLimit=#20",
                "zookeeper.extendedTypesEnabled=TRUE",
                "zookeeper.skipACL=yes",
                "zookeeper.enforceQuota=true",
                "zookeeper.digest.enabled=false",
                "zookeeper.closeSessionTxn.enabled=false",
                "zookeeper.DigestAuthenticationProvider.enabled=false",
                "zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
                "zookeeper.preAllocSize=1024",
                "fsync.warningthresholdms=50",
                "zookeeper.txnLogSizeLimitInKb=10",
                "zookeeper.forceSync=no",
                "readonlymode.enabled=true",
                "zookeeper.4lw.commands.whitelist=ruok",
            ],
        },
        SettingsCase {
            name: "all_in_zoo_cfg",
            cfg: "dataDir=@DIR@/data\njute.maxbuffer=10\njute.maxbuffer.extrasize=4096\n\
                  snapCount=abc\nglobalOutstandingLimit=0x10\nextendedTypesEnabled=true\n\
                  skipACL=YES\nenforceQuota=TRUE\ndigest.enabled=no\n\
                  DigestAuthenticationProvider.superDigest=super:xyz\npreAllocSize=12k\n\
                  fsync.warningthresholdms=77\ntxnLogSizeLimitInKb=0\nforceSync=No\n\
                  readonlymode.enabled=true\n4lw.commands.whitelist=stat\n",
            defines: &[],
        },
        SettingsCase {
            name: "zoo_cfg_beats_defines",
            cfg: "dataDir=@DIR@/data\nsnapCount=20\nskipACL=no\nforceSync=yes\n\
                  4lw.commands.whitelist=*\n",
            defines: &[
                "zookeeper.snapCount=10",
                "zookeeper.skipACL=yes",
                "zookeeper.forceSync=no",
                "zookeeper.4lw.commands.whitelist=srvr",
            ],
        },
        SettingsCase {
            name: "enforce_auth_without_schemes",
            cfg: "dataDir=@DIR@/data\n",
            defines: &["zookeeper.enforce.auth.enabled=true"],
        },
        SettingsCase {
            name: "enforce_auth_digest_ip",
            cfg: "dataDir=@DIR@/data\nenforce.auth.enabled=true\nenforce.auth.schemes= digest, ip\n",
            defines: &[],
        },
        SettingsCase {
            name: "enforce_auth_sasl_without_provider",
            cfg: "dataDir=@DIR@/data\nenforce.auth.enabled=true\nenforce.auth.schemes=sasl\n",
            defines: &[],
        },
        SettingsCase {
            name: "session_requires_sasl",
            cfg: "dataDir=@DIR@/data\nsessionRequireClientSASLAuth=true\n\
                  authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
            defines: &[],
        },
    ]
}

#[test]
fn system_property_settings_match_java() {
    let Some(java) = java() else { return };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-golden-settings");
    let _ = std::fs::remove_dir_all(&root);
    let mut failures = Vec::new();
    for case in settings_cases() {
        let dir = root.join(case.name);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let cfg_path = dir.join("zoo.cfg");
        std::fs::write(&cfg_path, case.cfg.replace("@DIR@", dir.to_str().unwrap())).unwrap();
        let defines: Vec<String> = case.defines.iter().map(|d| format!("-D{d}")).collect();
        let out = Command::new(&java.java)
            .args(&defines)
            .arg("-cp")
            .arg(&java.classpath)
            .arg("ConfigGolden")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(format!("SETTINGS {}\n", cfg_path.display()).as_bytes())?;
                drop(stdin);
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = String::from_utf8(out.stdout)
            .unwrap()
            .trim_end_matches("END\n")
            .to_owned();
        let (sys, _) = SystemProperties::from_args(&defines).unwrap();
        let ours = config::load(&cfg_path, sys);
        match (theirs.starts_with("ERROR"), ours) {
            (true, Err(e)) => eprintln!("{}: both refuse\n  java: {theirs}  ours: {e}", case.name),
            (false, Ok(loaded)) => {
                let text = render_settings(&loaded.config);
                if text != theirs {
                    failures.push(format!(
                        "== {}\n-- java\n{theirs}-- ours\n{text}",
                        case.name
                    ));
                }
            }
            (_, ours) => failures.push(format!(
                "== {}: java said\n{theirs}\nwe said {:?}",
                case.name,
                ours.map(|l| render_settings(&l.config))
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
