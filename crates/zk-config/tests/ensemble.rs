//! The ensemble keys as typed fields, and the crate's promise to stay free of IO crates.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use zk_config::{Config, ConfigError, Endpoint, Host, LearnerType, Loaded, SystemProperties};

fn load(cfg: &str, myid: Option<&str>, defines: &[&str]) -> Result<Loaded, ConfigError> {
    let mut files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    files.insert(PathBuf::from("/zk/zoo.cfg"), cfg.as_bytes().to_vec());
    if let Some(id) = myid {
        files.insert(PathBuf::from("/zk/data/myid"), id.as_bytes().to_vec());
    }
    let (sys, rest) =
        SystemProperties::from_args(defines.iter().map(|d| format!("-D{d}"))).unwrap();
    assert!(rest.is_empty());
    zk_config::load_with(Path::new("/zk/zoo.cfg"), sys, &files)
}

const ENSEMBLE: &str = "dataDir=/zk/data
tickTime=1500
initLimit=10
syncLimit=5
peerType=observer
standaloneEnabled=false
quorumListenOnAllIPs=true
syncEnabled=false
cnxTimeout=7000
electionPortBindRetry=0
server.1=10.0.0.1:2888:3888;2181
server.2=[fd00::2]:2888:3888:participant;[::1]:2182
server.3=zk3:2888:3888:observer;zk3:2183
group.1=1:2
group.2=3
weight.3=0
";

#[test]
fn ensemble_keys_are_typed() {
    let Loaded { config: c, .. } = load(ENSEMBLE, Some("3\n"), &[]).unwrap();
    assert!(c.is_distributed());
    assert_eq!(c.server_id, Some(3));
    assert_eq!((c.tick_time, c.init_limit, c.sync_limit), (1500, 10, 5));
    assert_eq!(c.peer_type, LearnerType::Observer);
    assert!(!c.standalone_enabled && c.quorum_listen_on_all_ips && !c.sync_enabled);
    assert_eq!((c.cnx_timeout_ms, c.election_port_bind_retry), (7000, 0));

    let v6 = |ip: Ipv6Addr| Host::Ip(IpAddr::V6(ip));
    let two = &c.quorum.servers[&2];
    assert_eq!(two.learner_type, LearnerType::Participant);
    assert_eq!(two.addrs[0].host, v6("fd00::2".parse().unwrap()));
    assert_eq!(
        two.client_addr,
        Some(Endpoint {
            host: v6(Ipv6Addr::LOCALHOST),
            port: 2182
        })
    );
    // This server's client address comes from its own line.
    assert_eq!(
        c.client_port_address,
        Some(Endpoint {
            host: Host::Name("zk3".into()),
            port: 2183
        })
    );
    let h = c.quorum.hierarchy.as_ref().unwrap();
    assert_eq!(h.server_group[&3], 2);
    assert_eq!(c.quorum.weight(3), 0);
    assert!(c.quorum.contains_quorum(&BTreeSet::from([1, 2])));
    assert!(!c.quorum.contains_quorum(&BTreeSet::from([1, 3])));
}

#[test]
fn defaults_for_the_quorum_connection_settings() {
    let c = load("dataDir=/zk/data\n", None, &[]).unwrap().config;
    assert_eq!(c.cnx_timeout_ms, zk_config::DEFAULT_CNX_TIMEOUT_MS);
    assert_eq!(c.election_port_bind_retry, 3);
    // -D works as well as zoo.cfg; a negative retry count is the default, as in Java.
    let Loaded {
        config: c,
        warnings,
    } = load(
        "dataDir=/zk/data\n",
        None,
        &[
            "zookeeper.cnxTimeout=250",
            "zookeeper.electionPortBindRetry=-1",
        ],
    )
    .unwrap();
    assert_eq!((c.cnx_timeout_ms, c.election_port_bind_retry), (250, 3));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("electionPortBindRetry=-1")),
        "{warnings:?}"
    );
}

#[test]
fn a_bad_cnx_timeout_stops_an_ensemble_member_only() {
    // Integer.parseInt in QuorumCnxManager: no hex, no blanks.
    let e = load(
        &ENSEMBLE.replace("cnxTimeout=7000", "cnxTimeout=0x10"),
        Some("1"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("zookeeper.cnxTimeout"), "{e}");
    let Loaded {
        config: c,
        warnings,
    } = load("dataDir=/zk/data\ncnxTimeout=soon\n", None, &[]).unwrap();
    assert_eq!(c.cnx_timeout_ms, 5000);
    assert!(warnings.iter().any(|w| w.contains("cnxTimeout=soon")));
}

#[test]
fn myid_is_parsed_from_its_text() {
    assert_eq!(zk_config::parse_myid("7\n").unwrap(), 7);
    assert!(zk_config::parse_myid(" 7").is_err());
    let e = load(ENSEMBLE, Some("seven"), &[]).unwrap_err();
    assert!(e.to_string().contains("myid"), "{e}");
    // An ensemble member needs its myid.
    let e = load(ENSEMBLE, None, &[]).unwrap_err();
    assert!(e.to_string().contains("myid"), "{e}");
    let _: fn(&Config) -> bool = Config::is_distributed;
}

/// zk-config is used by the consensus core and the simulator: no async runtime, TLS or
/// storage engine may enter its normal dependency tree.
#[test]
fn no_io_crates_in_the_dependency_tree() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "zk-config",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(tree.starts_with("zk-config "), "{tree}");
    for line in tree.lines() {
        let name = line.split(' ').next().unwrap_or("");
        for banned in [
            "tokio",
            "mio",
            "rustls",
            "rocksdb",
            "librocksdb-sys",
            "ring",
        ] {
            assert!(
                name != banned && !name.starts_with(&format!("{banned}-")),
                "{name} is in zk-config's dependency tree:\n{tree}"
            );
        }
    }
}

/// `zookeeper.snapshotSizeFactor` and `zookeeper.commitLogCount`, from zoo.cfg (stored with
/// the `zookeeper.` prefix, as Java does) or -D, with ZKDatabase's fallbacks.
#[test]
fn learner_sync_sources_are_configurable() {
    let c = load("dataDir=/zk/data\n", None, &[]).unwrap();
    assert_eq!(
        (c.config.snapshot_size_factor, c.config.commit_log_count),
        (0.33, 500)
    );
    let c = load(
        "dataDir=/zk/data\nsnapshotSizeFactor=-1\ncommitLogCount=20\n",
        None,
        &[],
    )
    .unwrap();
    assert_eq!(
        (c.config.snapshot_size_factor, c.config.commit_log_count),
        (-1.0, 20)
    );
    for bad in ["1.5", "lots"] {
        let c = load(
            "dataDir=/zk/data\n",
            None,
            &[&format!("zookeeper.snapshotSizeFactor={bad}")],
        )
        .unwrap();
        assert_eq!(c.config.snapshot_size_factor, 0.33, "{bad}");
        assert!(
            c.warnings.iter().any(|w| w.contains("snapshotSizeFactor")),
            "{bad}: {:?}",
            c.warnings
        );
    }
}
