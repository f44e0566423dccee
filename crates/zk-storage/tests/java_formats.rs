//! Apache ZooKeeper's data directory, end to end against the real server (Debian's 3.8).
//!
//! `compat-tests/zk-formats/FormatsDriver.java` fills a server with a varied tree (persistent,
//! sequential, ephemeral, container, TTL and quota nodes; digest, ip and world ACLs; null,
//! empty, non-ASCII and 500 KB data; a committed and a failed multi; a closed session) and
//! dumps what the server serves: every node's Stat, data and ACL, read by the Java client.
//! What this test then proves:
//!
//! 1. **Reading upstream's files.** Server A runs with `snapCount=10` (dozens of snapshots
//!    and log files) and is killed with SIGKILL while a session with ephemerals is open. Our
//!    `restore` of its directory serves exactly the dumped tree, with that session and its
//!    timeout, and the restored tree's digest equals the last `TxnDigest` ZooKeeper logged.
//!    Restoring from *every* one of its snapshots (fuzzy ones included) gives the same tree;
//!    replaying every log entry from the first snapshot matches every logged digest; every
//!    log file ends in preallocated zeros, reported as such.
//! 2. **Upstream's compressed snapshots.** A restarted with
//!    `zookeeper.snapshot.compression.method=snappy`, then `gz`, writes `snapshot.*.snappy`
//!    and `snapshot.*.gz`; we read both to the same tree.
//! 3. **Writing files upstream reads.** A fresh data directory holding only our snapshot of
//!    the restored tree plus a txn log we wrote (a create, a setData, an ephemeral create and
//!    a delete, each with its digest): ZooKeeper serves exactly our tree, reads our snapshot
//!    digest (its log says so) and counts no digest mismatch (`mntr`), so our snapshot
//!    digest and every entry digest agree with its own computation. The same with our
//!    snappy and gzip snapshots.
//! 4. **Epoch files.** Our snapshot plus our `currentEpoch`/`acceptedEpoch` start a
//!    one-member quorum (`standaloneEnabled=false`), which serves the tree, leads the epoch
//!    after our acceptedEpoch (proof that it read our file) and writes it to both files; we
//!    read them back, and restore its directory to the same tree.
//!
//! Without Java or the jars the test prints a loud skip notice and passes, unless
//! `FERROKEEPER_REQUIRE_JAVA=1` is set (scripts/test sets it), in which case it fails.
//! `FERROKEEPER_KEEP_TMP=1` keeps the servers' directories and logs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use zk_proto::data::Acl;
use zk_proto::txn::{CreateTxn, DeleteTxn, SetDataTxn, TxnDigest, TxnHeader};
use zk_proto::txn_body::{LogEntry, TxnBody};
use zk_storage::java::epoch::{read_epoch_file, write_epoch_file, ACCEPTED_EPOCH, CURRENT_EPOCH};
use zk_storage::java::names::Compression;
use zk_storage::java::restore::{restore, restore_from};
use zk_storage::java::snapfile::{list_snapshots, read_snapshot_file, write_snapshot_file};
use zk_storage::java::txnlog::{
    list_logs, read_log_file, LogEnd, LogReader, LogWriteOptions, LogWriter, DEFAULT_PREALLOC,
};
use zk_testkit::java::Program;
use zk_tree::digest::tree_digest;
use zk_tree::snapshot::{ReadOptions, WriteOptions};
use zk_tree::DataTree;

// ---------------------------------------------------------------------------------------
// Java and the driver
// ---------------------------------------------------------------------------------------

struct Java {
    java: PathBuf,
    client_cp: String,
    server_cp: String,
}

/// Finds the JDK and the jars, and compiles FormatsDriver.java.
fn build_java() -> Result<Java, String> {
    let server_cp = zk_testkit::java::classpath(&zk_testkit::java::server_jars()?)?;
    let src = zk_testkit::java::compat_source("zk-formats/FormatsDriver.java");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zk-formats-driver");
    let driver = Program::compile("FormatsDriver", &src, &out, &["-Xlint:all,-path"])?;
    Ok(Java {
        java: driver.java,
        client_cp: driver.classpath,
        server_cp,
    })
}

/// The driver and the jars, or `None` (after a loud notice) when Java is not available and
/// `FERROKEEPER_REQUIRE_JAVA=1` is not set.
fn java() -> Option<&'static Java> {
    static JAVA: OnceLock<Result<Java, String>> = OnceLock::new();
    zk_testkit::java::available(
        JAVA.get_or_init(build_java),
        "java_formats",
        "Apache ZooKeeper's on-disk formats were NOT checked against the real server.",
    )
}

/// Prints what was checked even when libtest captures output.
fn report(line: String) {
    let _ = writeln!(std::io::stderr(), "java_formats: {line}");
}

// ---------------------------------------------------------------------------------------
// Apache ZooKeeper servers
// ---------------------------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `super:` + base64(sha1("super:secret")): the driver's dump identity.
fn super_digest() -> String {
    let hash = Sha1::digest(b"super:secret");
    format!(
        "super:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

#[derive(Default)]
struct ServerOpts {
    /// `zookeeper.snapshot.compression.method`.
    compression: Option<&'static str>,
    /// Run as a one-member quorum with these quorum and election ports.
    quorum: Option<(u16, u16)>,
}

/// A running Apache ZooKeeper whose directory is `root` (data in `root/data`). Dropping it
/// kills the JVM.
struct Server {
    child: Option<Child>,
    root: PathBuf,
    port: u16,
}

impl Server {
    fn start(java: &Java, root: &Path, port: u16, opts: ServerOpts) -> Server {
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let mut cfg = format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nextendedTypesEnabled=true\n\
             admin.enableServer=false\nsnapCount=10\nmaxSessionTimeout=600000\n",
            data.display()
        );
        if let Some((p1, p2)) = opts.quorum {
            cfg.push_str(&format!(
                "standaloneEnabled=false\nserver.1=127.0.0.1:{p1}:{p2};127.0.0.1:{port}\n"
            ));
            std::fs::write(data.join("myid"), "1\n").unwrap();
        }
        std::fs::write(root.join("zoo.cfg"), cfg).unwrap();
        std::fs::write(
            root.join("log4j.properties"),
            format!(
                "log4j.rootLogger=INFO, FILE\n\
                 log4j.appender.FILE=org.apache.log4j.FileAppender\n\
                 log4j.appender.FILE.File={}\n\
                 log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} %-5p [%t:%C{{1}}@%L] %m%n\n",
                root.join("server.log").display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(&java.java);
        cmd.arg("-Xmx256m")
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                root.join("log4j.properties").display()
            ))
            .arg(format!(
                "-Dzookeeper.DigestAuthenticationProvider.superDigest={}",
                super_digest()
            ));
        if let Some(mode) = opts.compression {
            cmd.arg(format!("-Dzookeeper.snapshot.compression.method={mode}"));
        }
        let out = std::fs::File::create(root.join("stdout.log")).unwrap();
        let child = cmd
            .arg("-cp")
            .arg(&java.server_cp)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(root.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Server {
            child: Some(child),
            root: root.to_path_buf(),
            port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// A four-letter word's answer.
    fn four_letter(&self, word: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(word.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// `zk_digest_mismatches_count` from `mntr`.
    fn digest_mismatches(&self) -> i64 {
        let mntr = self.four_letter("mntr");
        mntr.lines()
            .find_map(|l| l.strip_prefix("zk_digest_mismatches_count"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or_else(|| panic!("no zk_digest_mismatches_count in mntr:\n{mntr}"))
    }

    /// SIGKILL, as a crash.
    fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, and wait (at most 30 s) for the JVM to exit.
    fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid} failed");
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let r = child.wait();
            let _ = tx.send(());
            r
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let _ = waiter.join();
            panic!("ZooKeeper (pid {pid}) ignored SIGTERM for 30 s");
        }
        waiter.join().unwrap().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dumps: what a client reads, from the driver and from our tree
// ---------------------------------------------------------------------------------------

/// One node as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeDump {
    /// czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength
    /// numChildren pzxid.
    stat: [i64; 11],
    data: Option<Vec<u8>>,
    acls: Vec<(i32, Vec<u8>, Vec<u8>)>,
}

type Dump = BTreeMap<Vec<u8>, NodeDump>;

fn parse_dump(text: &str) -> Dump {
    let mut out = Dump::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 14, "bad dump line {line:?}");
        let mut stat = [0i64; 11];
        for (i, s) in stat.iter_mut().enumerate() {
            *s = f[1 + i].parse().unwrap();
        }
        let data = match f[12] {
            "-" => None,
            "=" => Some(Vec::new()),
            h => Some(hex::decode(h).unwrap()),
        };
        let acls = if f[13] == "-" {
            Vec::new()
        } else {
            f[13]
                .split(',')
                .map(|a| {
                    let p: Vec<&str> = a.split(':').collect();
                    (
                        p[0].parse().unwrap(),
                        hex::decode(p[1]).unwrap(),
                        hex::decode(p[2]).unwrap(),
                    )
                })
                .collect()
        };
        out.insert(hex::decode(f[0]).unwrap(), NodeDump { stat, data, acls });
    }
    out
}

fn dump_of_tree(t: &DataTree) -> Dump {
    t.iter()
        .map(|(p, n)| {
            let s = n.stat();
            let acls = t
                .acl_of(n)
                .iter()
                .map(|a: &Acl| {
                    let b = |x: &Option<zk_proto::JString>| {
                        x.as_ref()
                            .map(|j| j.as_bytes().to_vec())
                            .unwrap_or_default()
                    };
                    (a.perms, b(&a.id.scheme), b(&a.id.id))
                })
                .collect();
            (
                p.to_vec(),
                NodeDump {
                    stat: [
                        s.czxid,
                        s.mzxid,
                        s.ctime,
                        s.mtime,
                        s.version.into(),
                        s.cversion.into(),
                        s.aversion.into(),
                        s.ephemeral_owner,
                        s.data_length.into(),
                        s.num_children.into(),
                        s.pzxid,
                    ],
                    data: n.data.as_ref().map(|d| d.to_vec()),
                    acls,
                },
            )
        })
        .collect()
}

/// Panics with the first differences when two dumps differ.
fn assert_same(what: &str, ours: &Dump, theirs: &Dump) {
    if ours == theirs {
        report(format!("{what}: {} nodes identical", ours.len()));
        return;
    }
    let mut diffs = Vec::new();
    for (p, n) in ours {
        match theirs.get(p) {
            None => diffs.push(format!("only in ours: {}", String::from_utf8_lossy(p))),
            Some(m) if m != n => diffs.push(format!(
                "{}: ours {:?} / theirs {:?}",
                String::from_utf8_lossy(p),
                (n.stat, n.data.as_ref().map(|d| d.len()), &n.acls),
                (m.stat, m.data.as_ref().map(|d| d.len()), &m.acls)
            )),
            _ => {}
        }
    }
    for p in theirs.keys().filter(|p| !ours.contains_key(*p)) {
        diffs.push(format!("only in theirs: {}", String::from_utf8_lossy(p)));
    }
    diffs.truncate(12);
    panic!("{what}: the trees differ:\n  {}", diffs.join("\n  "));
}

fn run_dump(java: &Java, port: u16, out: &Path) -> Dump {
    let o = Command::new(&java.java)
        .arg("-cp")
        .arg(&java.client_cp)
        .arg("FormatsDriver")
        .arg("dump")
        .arg(format!("127.0.0.1:{port}"))
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "FormatsDriver dump failed ({}):\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    parse_dump(&std::fs::read_to_string(out).unwrap())
}

/// What `FormatsDriver populate` left behind.
struct Populated {
    dump: Dump,
    session: i64,
    timeout: i32,
    /// The driver, still holding its session: close its stdin to let it go.
    driver: Child,
}

fn populate(java: &Java, port: u16, out: &Path) -> Populated {
    let mut driver = Command::new(&java.java)
        .arg("-cp")
        .arg(&java.client_cp)
        .arg("FormatsDriver")
        .arg("populate")
        .arg(format!("127.0.0.1:{port}"))
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(out.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    let stdout = driver.stdout.take().unwrap();
    let (mut session, mut timeout) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("SESSION ") {
            let mut f = rest.split(' ');
            session = f.next().map(|s| s.parse::<i64>().unwrap());
            timeout = f.next().map(|s| s.parse::<i32>().unwrap());
        } else if line == "READY" {
            break;
        }
    }
    let (Some(session), Some(timeout)) = (session, timeout) else {
        let status = driver.wait().unwrap();
        let err = std::fs::read_to_string(out.with_extension("err")).unwrap_or_default();
        panic!("FormatsDriver populate ended ({status}) without SESSION and READY:\n{err}");
    };
    Populated {
        dump: parse_dump(&std::fs::read_to_string(out).unwrap()),
        session,
        timeout,
        driver,
    }
}

// ---------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------

/// Txns we log ourselves after our snapshot: applied to `tree`, each with the digest of the
/// tree after it.
fn extension_entries(tree: &mut DataTree, session: i64) -> Vec<LogEntry> {
    let open = zk_tree::acl::open_acl_unsafe();
    let root_cversion = tree.node(b"/").unwrap().stat.cversion;
    let app_version = tree.node(b"/app").unwrap().stat.version;
    let bodies = vec![
        TxnBody::Create {
            create2: false,
            txn: CreateTxn {
                path: Some("/from-ferrokeeper".into()),
                data: Some(Bytes::from_static(b"written by zk-storage")),
                acl: Some(open.clone()),
                ephemeral: false,
                parent_c_version: root_cversion + 1,
            },
        },
        TxnBody::SetData(SetDataTxn {
            path: Some("/app".into()),
            data: Some(Bytes::from_static(b"set by ferrokeeper")),
            version: app_version + 1,
        }),
        TxnBody::Create {
            create2: true,
            txn: CreateTxn {
                path: Some("/from-ferrokeeper/eph".into()),
                data: None,
                acl: Some(open),
                ephemeral: true,
                parent_c_version: 1,
            },
        },
        TxnBody::Delete {
            container: false,
            txn: DeleteTxn {
                path: Some("/many/n-000".into()),
            },
        },
    ];
    let first = tree.last_processed_zxid + 1;
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let header = TxnHeader {
            client_id: session,
            cxid: 100 + i as i32,
            zxid: first + i as i64,
            time: 1_800_000_000_000 + i as i64,
            type_: 0,
        };
        let mut entry = LogEntry::new(header, body, None);
        let rc = tree.apply(&entry.header, &entry.body, &mut notes);
        assert_eq!(rc.err, 0, "extension txn {i} failed: {rc:?}");
        entry.digest = Some(TxnDigest {
            version: 2,
            tree_digest: tree_digest(tree),
        });
        out.push(entry);
    }
    out
}

fn snapshot_dir(root: &Path) -> PathBuf {
    let d = root.join("data").join("version-2");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn apache_zookeeper_data_directories_round_trip() {
    let Some(java) = java() else { return };
    let work = tempfile::Builder::new()
        .prefix("java-formats-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let keep = std::env::var("FERROKEEPER_KEEP_TMP").as_deref() == Ok("1");
    report(format!("work dir {}", work.path().display()));
    let port = free_port();
    let read_opts = ReadOptions::default();

    // 1. ZooKeeper fills a data directory and is killed under an open session.
    let root_a = work.path().join("a");
    let a = Server::start(java, &root_a, port, ServerOpts::default());
    let Populated {
        dump: dump_a,
        session,
        timeout,
        mut driver,
    } = populate(java, port, &root_a.join("dump.txt"));
    a.kill9();
    drop(driver.stdin.take());
    driver.wait().unwrap();
    report(format!(
        "A: {} nodes served, session {session:#x} ({timeout} ms) open at SIGKILL",
        dump_a.len()
    ));
    assert!(
        dump_a.values().any(|n| n.stat[7] == session),
        "no ephemeral in the dump"
    );

    let v2a = snapshot_dir(&root_a);
    let restored = restore(&v2a, &v2a, &read_opts).unwrap();
    assert_same(
        "A restored by zk-storage",
        &dump_of_tree(&restored.tree),
        &dump_a,
    );
    assert_eq!(restored.sessions, BTreeMap::from([(session, timeout)]));
    assert!(restored.skipped_snapshots.is_empty());
    let check = restored.digest_check.expect("ZooKeeper logs digests");
    assert!(check.matches(), "digest after replay: {check:?}");
    report(format!(
        "A: restored from {} + {} log file(s) up to zxid {:#x}; digest {:#x} = ZooKeeper's",
        restored.snapshot.as_ref().unwrap().file.path.display(),
        restored.logs.len(),
        restored.last_zxid,
        check.computed
    ));

    // Every log file ends in its preallocated zeros and is 16 + k × 64 MiB long.
    let logs = list_logs(&v2a).unwrap();
    let snaps = list_snapshots(&v2a).unwrap();
    assert!(
        logs.len() >= 5 && snaps.len() >= 5,
        "{} logs, {} snapshots",
        logs.len(),
        snaps.len()
    );
    let mut total_entries = 0;
    for log in &logs {
        let (entries, end) = read_log_file(&log.path).unwrap();
        let len = std::fs::metadata(&log.path).unwrap().len();
        assert!(
            matches!(end, LogEnd::Zeros { .. }),
            "{}: {end}",
            log.path.display()
        );
        assert!(end.offset() < len);
        assert_eq!(len % DEFAULT_PREALLOC, 16, "{}", log.path.display());
        assert_eq!(entries.first().map(|(_, e)| e.header.zxid), Some(log.zxid));
        total_entries += entries.len();
    }
    report(format!(
        "A: {} log files ({total_entries} entries, all checksums verified, each ended by zeros), {} snapshots",
        logs.len(),
        snaps.len()
    ));

    // Every snapshot, fuzzy or not, plus the logs after it, gives the same tree.
    for s in &snaps {
        let r = restore_from(s, &v2a, &read_opts).unwrap();
        assert_eq!(dump_of_tree(&r.tree), dump_a, "from {}", s.path.display());
        assert!(
            r.digest_check.is_some_and(|c| c.matches()),
            "from {}",
            s.path.display()
        );
    }
    report(format!(
        "A: each of the {} snapshots + the logs after it restores the same tree",
        snaps.len()
    ));

    // From the oldest snapshot (an empty tree, not fuzzy), every logged digest matches.
    let oldest = snaps.last().unwrap();
    let mut tree = read_snapshot_file(oldest, &read_opts).unwrap().tree;
    let (mut compared, mut notes) = (0, Vec::new());
    for log in &logs {
        let mut r = LogReader::open(&log.path).unwrap();
        while let Some((off, e)) = r.next_entry().unwrap() {
            if e.header.zxid <= oldest.zxid {
                continue;
            }
            tree.apply(&e.header, &e.body, &mut notes);
            let logged = e.digest.as_ref().expect("digest").tree_digest;
            assert_eq!(
                tree_digest(&tree),
                logged,
                "{} offset {off}: zxid {:#x} type {}",
                log.path.display(),
                e.header.zxid,
                e.header.type_
            );
            compared += 1;
        }
    }
    report(format!(
        "A: all {compared} logged digests match our tree after each txn"
    ));

    // 2. ZooKeeper's own snappy and gzip snapshots.
    for (mode, compression) in [("snappy", Compression::Snappy), ("gz", Compression::Gzip)] {
        let s = Server::start(
            java,
            &root_a,
            port,
            ServerOpts {
                compression: Some(mode),
                ..Default::default()
            },
        );
        let d = run_dump(java, port, &root_a.join(format!("dump-{mode}.txt")));
        assert_same(&format!("A restarted ({mode})"), &d, &dump_a);
        s.stop();
        let file = list_snapshots(&v2a)
            .unwrap()
            .into_iter()
            .find(|f| f.compression == compression)
            .unwrap_or_else(|| panic!("ZooKeeper wrote no {mode} snapshot"));
        let loaded = read_snapshot_file(&file, &read_opts).unwrap();
        assert_same(
            &format!("{} read by zk-storage", file.path.display()),
            &dump_of_tree(&loaded.tree),
            &dump_a,
        );
        assert_eq!(loaded.sessions.get(&session), Some(&timeout));
    }

    // 3. Our snapshot and our txn log, read by ZooKeeper.
    let root_b = work.path().join("b");
    let v2b = snapshot_dir(&root_b);
    let mut tree = restored.tree.clone();
    let (snap, summary) = write_snapshot_file(
        &v2b,
        &tree,
        restored.sessions.clone(),
        Compression::Plain,
        &WriteOptions::default(),
    )
    .unwrap();
    let snap_digest = summary.digest.unwrap();
    let entries = extension_entries(&mut tree, session);
    let mut w =
        LogWriter::create(&v2b, entries[0].header.zxid, &LogWriteOptions::default()).unwrap();
    for e in &entries {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    drop(w);
    let (back, end) =
        read_log_file(&v2b.join(format!("log.{:x}", entries[0].header.zxid))).unwrap();
    assert_eq!(
        back.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        entries
    );
    assert!(matches!(end, LogEnd::Zeros { .. }), "{end}");
    let b = Server::start(java, &root_b, port, ServerOpts::default());
    let d = run_dump(java, port, &root_b.join("dump.txt"));
    assert_same("ZooKeeper on our snapshot + log", &d, &dump_of_tree(&tree));
    assert_eq!(
        b.digest_mismatches(),
        0,
        "ZooKeeper disagrees with a digest we wrote"
    );
    let expect = format!(
        "The digest in the snapshot has digest version of 2, with zxid as 0x{:x}, and digest value as {}",
        snap.zxid, snap_digest.digest
    );
    assert!(
        b.log().contains(&expect),
        "ZooKeeper did not log {expect:?}"
    );
    b.stop();
    report(format!(
        "B: ZooKeeper loaded {} ({} nodes, digest read and matched) and replayed our {} entries, 0 digest mismatches",
        snap.path.display(),
        summary.nodes,
        entries.len()
    ));

    // Our compressed snapshots.
    for compression in [Compression::Snappy, Compression::Gzip] {
        let root = work.path().join(format!("c{}", compression.extension()));
        let v2 = snapshot_dir(&root);
        let (file, _) = write_snapshot_file(
            &v2,
            &restored.tree,
            restored.sessions.clone(),
            compression,
            &WriteOptions::default(),
        )
        .unwrap();
        let s = Server::start(java, &root, port, ServerOpts::default());
        let d = run_dump(java, port, &root.join("dump.txt"));
        assert_same(
            &format!("ZooKeeper on our {}", file.path.display()),
            &d,
            &dump_a,
        );
        assert_eq!(s.digest_mismatches(), 0);
        s.stop();
    }

    // 4. Epoch files: a one-member quorum on our snapshot and epochs.
    let root_e = work.path().join("e");
    let v2e = snapshot_dir(&root_e);
    write_snapshot_file(
        &v2e,
        &restored.tree,
        restored.sessions.clone(),
        Compression::Plain,
        &WriteOptions::default(),
    )
    .unwrap();
    // Distinctive values: a missing file would make ZooKeeper invent `zxid >> 32` for both,
    // and the new leader's epoch is acceptedEpoch + 1, so only reading ours gives epoch + 6.
    let epoch = restored.last_zxid >> 32;
    write_epoch_file(&v2e, CURRENT_EPOCH, epoch + 2).unwrap();
    write_epoch_file(&v2e, ACCEPTED_EPOCH, epoch + 5).unwrap();
    let e = Server::start(
        java,
        &root_e,
        port,
        ServerOpts {
            quorum: Some((free_port(), free_port())),
            ..Default::default()
        },
    );
    let d = run_dump(java, port, &root_e.join("dump.txt"));
    // (With reconfig off, as here, a quorum member leaves /zookeeper/config as it found it.)
    assert_same("quorum member on our snapshot + epochs", &d, &dump_a);
    assert!(
        e.log().contains("LEADING"),
        "the quorum member did not lead"
    );
    e.stop();
    let current = read_epoch_file(&v2e.join(CURRENT_EPOCH)).unwrap();
    let accepted = read_epoch_file(&v2e.join(ACCEPTED_EPOCH)).unwrap();
    assert_eq!((current, accepted), (Some(epoch + 6), Some(epoch + 6)));
    report(format!(
        "E: quorum member read our epochs (current {}, accepted {}), led epoch {}, wrote it to \
         both files, read back by zk-storage",
        epoch + 2,
        epoch + 5,
        epoch + 6
    ));
    let r = restore(&v2e, &v2e, &read_opts).unwrap();
    assert_eq!(r.last_zxid >> 32, epoch + 6);
    assert_same("E restored by zk-storage", &dump_of_tree(&r.tree), &d);

    if keep {
        report(format!("kept {}", work.keep().display()));
    }
}
