//! Byte compatibility of the peer formats with Apache ZooKeeper's own classes.
//!
//! `compat-tests/zab-golden/ZabGolden.java` is compiled against Debian's
//! `/usr/share/java/zookeeper{,-jute}.jar` (or `$FERROKEEPER_ZK_JARS`) in ZooKeeper's quorum
//! package, so it can call what the server calls: `FastLeaderElection.buildMsg`,
//! `Learner.request` and `Learner.ping` (through a Learner's own output archive; the ping
//! reply's session table comes from a real `FollowerZooKeeperServer`'s
//! `LearnerSessionTracker`), `Util.marshallTxnEntry`,
//! `SerializeUtils.deserializeTxn`, `QuorumCnxManager.startConnection` (through reflection,
//! over a socket whose output is a buffer), `QuorumCnxManager.InitialMessage.parse`, and the
//! `QuorumPacket` / `LearnerInfo` records with `Leader`'s packet constants. What this proves:
//!
//! * **Java → us**: every packet type `Leader.java` defines (1–19), built with realistic
//!   payloads as Leader/LearnerHandler/Learner build them, decodes with our decoder to the
//!   typed value we expect, and our encoder of that value gives Java's bytes exactly. The
//!   same for LearnerInfo, for notifications (the v2 form with config, the 40-byte form),
//!   and for the election connection's initial message (V1 and V2).
//! * **us → Java**: every packet we encode is read by Java's `QuorumPacket` and written
//!   back unchanged; our proposal payloads go through Java's txn deserializer and
//!   marshaller unchanged; our initial messages parse in Java to the same sid and addresses,
//!   and the malformed ones we reject Java rejects too.
//!
//! Without Java or the jars the tests print a loud notice and pass, unless
//! `FERROKEEPER_REQUIRE_JAVA=1` is set, in which case they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::data::{Acl, Id};
use zk_proto::proto::CreateRequest;
use zk_proto::quorum::LearnerInfo;
use zk_proto::txn::{CreateTxn, SetDataTxn, TxnDigest, TxnHeader};
use zk_proto::{JString, Record};
use zk_zab::wire::election::{
    InitialMessage, InitialVersion, Notification, NotificationForm, PeerAddress, ServerState,
    PROTOCOL_VERSION_V1,
};
use zk_zab::wire::packet::{
    decode_packet, default_limits, ForwardedRequest, LearnerInfoData, Packet, Revalidate,
    SessionTouch, TxnPayload, PROTOCOL_VERSION,
};

struct Java {
    java: PathBuf,
    classpath: String,
}

fn find_tool(name: &str) -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let p = Path::new(&home).join("bin").join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn build_java() -> Result<Java, String> {
    let javac = find_tool("javac").ok_or("no javac on PATH or in $JAVA_HOME/bin")?;
    let java = find_tool("java").ok_or("no java on PATH or in $JAVA_HOME/bin")?;
    let jars = std::env::var_os("FERROKEEPER_ZK_JARS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java"));
    let mut cp = Vec::new();
    for jar in ["zookeeper-jute.jar", "zookeeper.jar", "slf4j-api.jar"] {
        let p = jars.join(jar);
        if !p.is_file() {
            return Err(format!("missing {}", p.display()));
        }
        cp.push(p);
    }
    let nop = jars.join("slf4j-nop.jar");
    if nop.is_file() {
        cp.push(nop);
    }
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compat-tests/zab-golden/ZabGolden.java");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zab-golden");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let jars_cp = std::env::join_paths(&cp).map_err(|e| e.to_string())?;
    let status = Command::new(&javac)
        .arg("-d")
        .arg(&out)
        .arg("-cp")
        .arg(&jars_cp)
        .arg(&src)
        .status()
        .map_err(|e| format!("running {}: {e}", javac.display()))?;
    // A compile error is our bug, not a missing prerequisite: never skip it.
    assert!(status.success(), "javac failed on {}", src.display());
    cp.insert(0, out);
    let classpath = std::env::join_paths(&cp)
        .map_err(|e| e.to_string())?
        .to_string_lossy()
        .into_owned();
    Ok(Java { java, classpath })
}

fn java() -> Option<&'static Java> {
    static JAVA: OnceLock<Result<Java, String>> = OnceLock::new();
    match JAVA.get_or_init(build_java) {
        Ok(j) => Some(j),
        Err(why) => {
            if std::env::var("FERROKEEPER_REQUIRE_JAVA").as_deref() == Ok("1") {
                panic!("FERROKEEPER_REQUIRE_JAVA=1 but the zab golden test cannot run: {why}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n**********************************************************************\n\
                 SKIPPED zk-zab java_golden: {why}\n\
                 Peer-format compatibility with Apache ZooKeeper was NOT checked.\n\
                 **********************************************************************\n"
            );
            None
        }
    }
}

impl Java {
    /// One JVM launch; returns `(tag, name) -> rest of line` for the lines before END.
    fn run(&self, input: String) -> BTreeMap<(String, String), String> {
        let mut child = Command::new(&self.java)
            .arg("-cp")
            .arg(&self.classpath)
            .arg("org.apache.zookeeper.server.quorum.ZabGolden")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "ZabGolden failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut map = BTreeMap::new();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut ended = false;
        for line in text.lines() {
            if line == "END" {
                ended = true;
                break;
            }
            let mut f = line.splitn(3, ' ');
            let (Some(tag), Some(name), Some(rest)) = (f.next(), f.next(), f.next()) else {
                panic!("unexpected line from ZabGolden: {line:?}");
            };
            map.insert((tag.to_owned(), name.to_owned()), rest.to_owned());
        }
        assert!(ended, "ZabGolden output has no END:\n{text}");
        map
    }
}

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

fn s(v: &str) -> Option<JString> {
    Some(JString::from(v))
}

fn open_acl() -> Option<Vec<Acl>> {
    Some(vec![Acl {
        perms: 31,
        id: Id {
            scheme: s("world"),
            id: s("anyone"),
        },
    }])
}

fn create_proposal() -> TxnPayload {
    let header = TxnHeader {
        client_id: 0x0100_0000_0000_0001,
        cxid: 7,
        zxid: 0x2_0000_0005,
        time: 1_700_000_000_000,
        type_: 1,
    };
    let body = CreateTxn {
        path: s("/app"),
        data: Some(Bytes::from_static(b"v1")),
        acl: open_acl(),
        ephemeral: false,
        parent_c_version: 2,
    }
    .to_bytes();
    TxnPayload::new(
        header,
        &body,
        Some(TxnDigest {
            version: 2,
            tree_digest: 0x0FED_CBA9_8765_4321,
        }),
    )
}

fn reconfig_proposal() -> TxnPayload {
    let header = TxnHeader {
        client_id: 0x0100_0000_0000_0002,
        cxid: 3,
        zxid: 0x2_0000_0006,
        time: 1_700_000_000_001,
        type_: 16,
    };
    let body = SetDataTxn {
        path: s("/zookeeper/config"),
        data: Some(Bytes::from_static(
            b"server.1=a:2888:3888:participant\nversion=200000006",
        )),
        version: -1,
    }
    .to_bytes();
    TxnPayload::new(header, &body, None)
}

/// What each packet case of ZabGolden.java must decode to.
fn expected_packets() -> Vec<(&'static str, Packet)> {
    let create_request = CreateRequest {
        path: s("/app/child"),
        data: Some(Bytes::from_static(b"data")),
        acl: open_acl(),
        flags: 1,
    }
    .to_bytes();
    let table = vec![
        SessionTouch {
            session_id: 0x0100_0000_0000_0001,
            timeout_ms: 30_000,
        },
        SessionTouch {
            session_id: 0x0300_0000_0000_0002,
            timeout_ms: 4000,
        },
    ];
    vec![
        (
            "followerinfo",
            Packet::FollowerInfo {
                zxid: 5 << 32,
                info: LearnerInfoData::full(3, 0x1_0000_0000),
            },
        ),
        (
            "observerinfo",
            Packet::ObserverInfo {
                zxid: 5 << 32,
                info: LearnerInfoData::full(4, 0),
            },
        ),
        (
            "leaderinfo",
            Packet::LeaderInfo {
                zxid: 6 << 32,
                protocol_version: PROTOCOL_VERSION,
            },
        ),
        (
            "ackepoch",
            Packet::AckEpoch {
                zxid: 0x5_0000_0007,
                current_epoch: 5,
            },
        ),
        (
            "ackepoch_same_epoch",
            Packet::AckEpoch {
                zxid: 6 << 32,
                current_epoch: -1,
            },
        ),
        (
            "diff",
            Packet::Diff {
                zxid: 0x5_0000_0009,
            },
        ),
        (
            "trunc",
            Packet::Trunc {
                zxid: 0x5_0000_0003,
            },
        ),
        (
            "snap",
            Packet::Snap {
                zxid: 0x5_0000_000a,
            },
        ),
        (
            "newleader",
            Packet::NewLeader {
                zxid: 6 << 32,
                config: Some(Bytes::from_static(
                    b"server.1=a:2888:3888:participant\nversion=600000000",
                )),
            },
        ),
        (
            "newleader_null",
            Packet::NewLeader {
                zxid: 6 << 32,
                config: None,
            },
        ),
        ("uptodate", Packet::UpToDate),
        (
            "ack",
            Packet::Ack {
                zxid: 0x6_0000_0001,
            },
        ),
        ("ack_newleader", Packet::Ack { zxid: 6 << 32 }),
        (
            "proposal",
            Packet::Proposal {
                zxid: 0x2_0000_0005,
                txn: create_proposal(),
            },
        ),
        (
            "commit",
            Packet::Commit {
                zxid: 0x2_0000_0005,
            },
        ),
        (
            "inform",
            Packet::Inform {
                zxid: 0x2_0000_0005,
                txn: create_proposal(),
            },
        ),
        (
            "commitandactivate",
            Packet::CommitAndActivate {
                zxid: 0x2_0000_0006,
                designated_leader: 2,
            },
        ),
        (
            "informandactivate",
            Packet::InformAndActivate {
                zxid: 0x2_0000_0006,
                designated_leader: 2,
                txn: reconfig_proposal(),
            },
        ),
        ("sync", Packet::Sync),
        (
            "ping",
            Packet::Ping {
                zxid: 0x2_0000_0005,
                sessions: None,
            },
        ),
        (
            "ping_reply",
            Packet::Ping {
                zxid: 0x2_0000_0005,
                sessions: Some(table),
            },
        ),
        (
            "ping_reply_empty",
            Packet::Ping {
                zxid: 0x2_0000_0005,
                sessions: Some(vec![]),
            },
        ),
        (
            "revalidate",
            Packet::Revalidate(Revalidate::Request {
                session_id: 0x0100_0000_0000_0001,
                timeout_ms: 30_000,
            }),
        ),
        (
            "revalidate_reply",
            Packet::Revalidate(Revalidate::Reply {
                session_id: 0x0100_0000_0000_0001,
                valid: true,
            }),
        ),
        (
            "request",
            Packet::Request(ForwardedRequest {
                session_id: 0x0100_0000_0000_0001,
                cxid: 42,
                op_type: 1,
                body: create_request,
                authinfo: Some(vec![
                    Id {
                        scheme: s("ip"),
                        id: s("127.0.0.1"),
                    },
                    Id {
                        scheme: s("digest"),
                        id: s("user:hash="),
                    },
                ]),
            }),
        ),
    ]
}

const CONFIG: &[u8] =
    b"server.1=a:2888:3888:participant\nserver.2=b:2888:3888:participant\nversion=0";

fn expected_notifications() -> Vec<(&'static str, NotificationForm, Notification)> {
    let cfg = Bytes::from_static(CONFIG);
    vec![
        (
            "notification_v2",
            NotificationForm::V2,
            Notification::v2(ServerState::Looking, 3, 0x5_0000_0007, 2, 5, cfg.clone()),
        ),
        (
            "notification_v2_following",
            NotificationForm::V2,
            Notification::v2(ServerState::Following, 1, 0x6_0000_0002, 7, 6, cfg),
        ),
        (
            "notification_40",
            NotificationForm::Legacy40,
            Notification {
                state: 2,
                leader: 2,
                zxid: 0x4_0000_0001,
                election_epoch: 3,
                peer_epoch: 4,
                // Java reads a 40-byte message as version 0 (the trailing 1 is not read).
                version: 0,
                config: None,
            },
        ),
        (
            "notification_v2_observer",
            NotificationForm::V2,
            Notification::v2(
                ServerState::Observing,
                i64::MIN,
                i64::MIN,
                1,
                i64::MIN,
                Bytes::new(),
            ),
        ),
    ]
}

#[test]
fn java_packets_and_notifications_decode_and_reencode() {
    let Some(java) = java() else { return };
    let out = java.run("CASES\n".to_owned());
    let case = |name: &str| -> Bytes {
        let hex = out
            .get(&("CASE".to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("Java printed no case {name}"));
        Bytes::from(hex::decode(hex).unwrap())
    };
    let mut checked = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for (name, expected) in expected_packets() {
        let bytes = case(name);
        let mut src = BytesMut::from(&bytes[..]);
        let decoded = decode_packet(&mut src, default_limits())
            .unwrap_or_else(|e| panic!("{name}: cannot decode Java's {}: {e}", hexs(&bytes)));
        assert!(src.is_empty(), "{name}: bytes left");
        assert_eq!(
            decoded,
            Some(Some(expected.clone())),
            "{name}: decoded Java bytes"
        );
        assert_eq!(
            hexs(&expected.to_bytes()),
            hexs(&bytes),
            "{name}: our encoding (left) vs Java's (right)"
        );
        kinds.insert(expected.kind());
        checked.insert(name.to_owned());
    }
    assert_eq!(
        kinds,
        (1..=19).collect::<BTreeSet<i32>>(),
        "every packet type Leader.java defines"
    );

    let info = LearnerInfo {
        serverid: 3,
        protocol_version: 0x10000,
        config_version: 0x1_0000_0000,
    };
    let bytes = case("learner_info");
    assert_eq!(LearnerInfo::from_bytes(bytes.clone()).unwrap(), info);
    assert_eq!(hexs(&info.to_bytes()), hexs(&bytes));
    checked.insert("learner_info".to_owned());

    for (name, form, expected) in expected_notifications() {
        let bytes = case(name);
        assert_eq!(
            Notification::decode(&bytes).unwrap(),
            expected,
            "{name}: decoded Java bytes"
        );
        assert_eq!(
            hexs(&expected.to_bytes(form)),
            hexs(&bytes),
            "{name}: our encoding (left) vs Java's buildMsg (right)"
        );
        checked.insert(name.to_owned());
    }
    // QuorumCnxManager.startConnection itself: V1 as a server started from zoo.cfg sends it
    // (zookeeper.multiAddress.enabled=false), V2 with multi-address enabled.
    for (name, version) in [
        ("initial_message_v1", InitialVersion::V1),
        ("initial_message_v2", InitialVersion::V2),
    ] {
        let bytes = case(name);
        let expected = InitialMessage {
            version,
            sid: 3,
            addresses: vec![PeerAddress::new("10.0.0.3", 3888)],
        };
        let mut src = BytesMut::from(&bytes[..]);
        assert_eq!(
            InitialMessage::decode(&mut src).unwrap(),
            Some(expected.clone()),
            "{name}: decoded Java bytes"
        );
        assert!(src.is_empty(), "{name}: bytes left");
        assert_eq!(
            hexs(&expected.to_bytes()),
            hexs(&bytes),
            "{name}: our encoding (left) vs Java's startConnection (right)"
        );
        checked.insert(name.to_owned());
    }
    let printed: BTreeSet<String> = out.keys().map(|(_, n)| n.clone()).collect();
    assert_eq!(printed, checked, "cases Java printed vs cases checked");
    let _ = writeln!(
        std::io::stderr(),
        "zk-zab java_golden: {} cases identical, packet types {:?}",
        checked.len(),
        kinds
    );
}

fn initial(version: i64, sid: i64, addr: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i64(version);
    b.put_i64(sid);
    b.put_i32(addr.len() as i32);
    b.put_slice(addr);
    b.freeze()
}

#[test]
fn java_reads_what_we_write() {
    let Some(java) = java() else { return };
    let mut input = String::new();
    let packets = expected_packets();
    for (name, p) in &packets {
        input.push_str(&format!("ECHO {name} {}\n", hexs(&p.to_bytes())));
    }
    let txns = [
        ("create", create_proposal()),
        ("reconfig", reconfig_proposal()),
    ];
    for (name, t) in &txns {
        input.push_str(&format!("TXN {name} {}\n", hexs(t.bytes())));
    }
    let ours = [
        (
            "v1",
            InitialMessage::v1(3, PeerAddress::new("10.0.0.3", 3888)).to_bytes(),
        ),
        (
            "v1_ipv6",
            // Java resolves the literal and prints it in full form; send it that way.
            InitialMessage::v1(3, PeerAddress::new("0:0:0:0:0:0:0:1", 3888)).to_bytes(),
        ),
        (
            "v2",
            InitialMessage {
                version: InitialVersion::V2,
                sid: 5,
                addresses: vec![
                    PeerAddress::new("host-a", 3888),
                    PeerAddress::new("10.0.0.5", 3889),
                ],
            }
            .to_bytes(),
        ),
        (
            "legacy",
            InitialMessage {
                version: InitialVersion::Legacy,
                sid: 7,
                addresses: vec![],
            }
            .to_bytes(),
        ),
        ("bad_no_port", initial(PROTOCOL_VERSION_V1, 1, b"nohost")),
        ("bad_port", initial(PROTOCOL_VERSION_V1, 1, b"a:b")),
        ("bad_three_parts", initial(PROTOCOL_VERSION_V1, 1, b"a:1:2")),
        ("bad_empty", initial(PROTOCOL_VERSION_V1, 1, b"")),
        ("bad_long", initial(PROTOCOL_VERSION_V1, 1, &[b'a'; 2049])),
        ("bad_version", initial(-7, 1, b"a:1")),
    ];
    for (name, b) in &ours {
        input.push_str(&format!("INITIAL {name} {}\n", hexs(b)));
    }
    let out = java.run(input);
    let get = |tag: &str, name: &str| -> &String {
        out.get(&(tag.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no {tag} {name} from Java"))
    };
    for (name, p) in &packets {
        assert_eq!(
            get("ECHO", name),
            &hexs(&p.to_bytes()),
            "{name}: Java's QuorumPacket read and rewrote our bytes differently"
        );
    }
    for (name, t) in &txns {
        assert_eq!(
            get("TXN", name),
            &hexs(t.bytes()),
            "{name}: Java's txn deserializer + marshaller changed our bytes"
        );
    }
    for (name, b) in &ours {
        let java_says = get("INITIAL", name);
        let mut src = BytesMut::from(&b[..]);
        let we_say = match InitialMessage::decode(&mut src) {
            Ok(Some(m)) if m.version == InitialVersion::Legacy => format!("{} legacy", m.sid),
            Ok(Some(m)) => format!(
                "{} {}",
                m.sid,
                m.addresses
                    .iter()
                    .map(|a| format!("{}:{}", a.host, a.port))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            Ok(None) => panic!("{name}: incomplete"),
            Err(_) => "REJECT".to_owned(),
        };
        assert_eq!(&we_say, java_says, "{name}: ours (left) vs Java's parse");
    }
}
