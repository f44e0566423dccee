//! Rolling replacement (issue 14): a running three-node Apache ZooKeeper 3.8 ensemble has
//! each node replaced in turn by a Ferrokeeper node on the same dataDir under load, and is
//! then rolled back to Java the same way, followers first and the leader last, as an
//! operator would. Two ways across, each its own test:
//!
//! * files: the stopped Java node's data is moved aside and `ferrokeeper import`ed into
//!   its dataDir; on the way back `ferrokeeper export` writes the Java dataDir;
//! * sync: the node comes back with an empty dataDir (its `myid` only) and the leader
//!   syncs it (a SNAP).
//!
//! Throughout, clients record a history the checker must accept (no acknowledged write
//! lost, linearizable writes and sync-then-reads, sessions in order), and one session with
//! an ephemeral node heartbeats through every step: it must never expire, and its ephemeral
//! must still be there at the end. Curator and kazoo run their recipes all along
//! (`compat-tests/mixed-ensemble/RecipeLoad.java`, `recipe_load.py`: locks guarding a
//! counter, an ephemeral, a watched heartbeat): no increment lost or doubled, no lock
//! held twice, the ephemeral kept, and no state worse than a suspended connection.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zk_testkit::cluster::{Cluster, ClusterSpec, Network, NodeKind};
use zk_testkit::recorder::{assert_history_accepted, record, RecordConfig};
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

/// How a node crosses from one server to the other.
#[derive(Debug, Clone, Copy)]
enum Crossing {
    /// `ferrokeeper import` / `ferrokeeper export` of the stopped node's data.
    Files,
    /// An empty dataDir: the leader syncs the node.
    Sync,
}

fn ferrokeeper_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrokeeper"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// Stops node `i`, moves its data across to `to` the `how` way, and starts it as `to`.
/// `step` names the data directories kept aside (`data-before-<step>`).
fn replace(cluster: &mut Cluster, i: usize, to: NodeKind, how: Crossing, step: usize) {
    cluster.stop(i);
    let dir = cluster.dir(i).to_path_buf();
    let data = dir.join("data");
    let aside = dir.join(format!("data-before-{step}"));
    match (how, &to) {
        (Crossing::Files, NodeKind::Ferrokeeper(_)) => {
            std::fs::rename(&data, &aside).expect("move the Java data aside");
            // The new zoo.cfg (and the myid in the new, empty dataDir) first: import
            // writes into the dataDir the configuration names.
            cluster.set_kind(i, to).expect("configure");
            let cfg = dir.join("zoo.cfg");
            common::run_tool(&[
                "import",
                "--zookeeper-data-dir",
                path_str(&aside),
                "--config",
                path_str(&cfg),
            ]);
        }
        (Crossing::Files, NodeKind::Java) => {
            // Export reads Ferrokeeper's data through its own zoo.cfg, still in place.
            let exported = dir.join("exported");
            let cfg = dir.join("zoo.cfg");
            common::run_tool(&[
                "export",
                "--to-zookeeper-data-dir",
                path_str(&exported),
                "--config",
                path_str(&cfg),
            ]);
            std::fs::rename(&data, &aside).expect("move the Ferrokeeper data aside");
            std::fs::rename(&exported, &data).expect("the export becomes the dataDir");
            cluster.set_kind(i, to).expect("configure");
        }
        (Crossing::Sync, _) => {
            std::fs::rename(&data, &aside).expect("move the data aside");
            cluster.set_kind(i, to).expect("configure");
        }
    }
    cluster.start_node(i).expect("start the replacement");
}

/// A recipe load (Curator's or kazoo's) running beside the test.
struct RecipeLoad {
    name: &'static str,
    child: std::process::Child,
    out: PathBuf,
    err: PathBuf,
}

/// Python that can import kazoo, and the directory to put on its path for that:
/// `$FERROKEEPER_KAZOO_PYTHON` (kazoo installed), else the venv and kazoo's unpacked sdist
/// that `compat-tests/kazoo/run` makes (scripts/test makes them before the tests, with
/// `--setup-only`).
fn kazoo_python() -> Result<(PathBuf, Option<PathBuf>), String> {
    if let Some(p) = std::env::var_os("FERROKEEPER_KAZOO_PYTHON") {
        return Ok((PathBuf::from(p), None));
    }
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compat-tests/.work/kazoo");
    let venv = work.join("venv/bin/python");
    let src = work.join("src/kazoo-2.10.0");
    if venv.is_file() && src.join("kazoo/client.py").is_file() {
        Ok((venv, Some(src)))
    } else {
        Err(format!(
            "no Python with kazoo: {} or {} is missing (compat-tests/kazoo/run --setup-only \
             makes them) and FERROKEEPER_KAZOO_PYTHON is not set",
            venv.display(),
            src.display()
        ))
    }
}

/// Starts Curator's and kazoo's recipe loads against `connect`; they run until `stop`
/// exists. Either is left out, with the testkit's notice (a failure under
/// FERROKEEPER_REQUIRE_JAVA=1), when its runtime is missing.
fn start_recipe_loads(connect: &str, dir: &Path, stop: &Path) -> Vec<RecipeLoad> {
    let mut loads = Vec::new();
    let spawn = |name: &'static str, mut cmd: std::process::Command| {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).expect("load stdout"))
            .stderr(std::fs::File::create(&err).expect("load stderr"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {name} load: {e}"));
        RecipeLoad {
            name,
            child,
            out,
            err,
        }
    };
    let curator = zk_testkit::java::Program::compile_with(
        "RecipeLoad",
        &zk_testkit::java::compat_source("mixed-ensemble/RecipeLoad.java"),
        &dir.join("classes"),
        &["-Xlint:-path"],
        &[
            "curator-recipes.jar",
            "curator-framework.jar",
            "curator-client.jar",
            "guava.jar",
        ],
    );
    if let Some(program) = zk_testkit::java::available(
        &curator,
        "rolling",
        "Curator's recipes through a rolling replacement",
    ) {
        let mut cmd = program.command();
        cmd.arg(connect).arg("/recipes-curator").arg(stop);
        loads.push(spawn("curator", cmd));
    }
    let python = kazoo_python();
    if let Some((python, path)) = zk_testkit::java::available(
        &python,
        "rolling",
        "kazoo's recipes through a rolling replacement",
    ) {
        let mut cmd = std::process::Command::new(python);
        if let Some(path) = path {
            cmd.env("PYTHONPATH", path);
        }
        cmd.arg(zk_testkit::java::compat_source(
            "mixed-ensemble/recipe_load.py",
        ))
        .arg(connect)
        .arg("/recipes-kazoo")
        .arg(stop);
        loads.push(spawn("kazoo", cmd));
    }
    loads
}

/// Stops the loads (the stop file), waits for them (bounded: 150 s each) and checks what
/// each reports.
fn finish_recipe_loads(loads: Vec<RecipeLoad>, stop: &Path, what: &str) {
    std::fs::write(stop, b"stop").expect("the stop file");
    for mut load in loads {
        let deadline = std::time::Instant::now() + Duration::from_secs(150);
        // Bounded: the deadline; a load that overstays is killed and fails the test.
        let status = loop {
            match load.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                _ => {
                    let _ = load.child.kill();
                    let _ = load.child.wait();
                    break None;
                }
            }
        };
        let out = std::fs::read_to_string(&load.out).unwrap_or_default();
        let err = std::fs::read_to_string(&load.err).unwrap_or_default();
        let tail: Vec<&str> = err.lines().rev().take(20).collect();
        let name = load.name;
        assert!(
            status.is_some_and(|s| s.success()),
            "{what}: the {name} load did not end well ({status:?}):\n{out}\n{}",
            tail.join("\n")
        );
        let report = out.lines().last().unwrap_or("");
        println!("{what}: {name} load: {report}");
        let field = |key: &str| -> String {
            report
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{what}: the {name} load reported no {key}: {report}"))
                .to_string()
        };
        let number = |key: &str| -> u64 {
            field(key)
                .parse()
                .unwrap_or_else(|_| panic!("{what}: {name} {key}: {report}"))
        };
        let (acquisitions, counter) = (number("acquisitions"), number("counter"));
        let failures = number("failures");
        assert!(
            acquisitions >= 10,
            "{what}: the {name} load made too little progress: {report}"
        );
        // Every increment made under the lock is there once; one whose reply never came
        // (given up after the client's retries: a failure) may be there too.
        assert!(
            counter >= acquisitions && counter <= acquisitions + failures,
            "{what}: the {name} counter lost or doubled increments: {report}"
        );
        assert_eq!(number("violations"), 0, "{what}: {name}: {report}");
        assert_eq!(field("ephemeral"), "ok", "{what}: {name}: {report}");
        assert!(
            number("events") > 0,
            "{what}: {name} saw no watch events: {report}"
        );
        let states = field("states");
        assert!(
            !states.contains("LOST") && !states.contains("READ_ONLY"),
            "{what}: the {name} session was lost: {report}"
        );
    }
}

/// What the heartbeating session saw: every state change, in order.
type States = Arc<Mutex<Vec<SessionState>>>;

async fn rolling(how: Crossing, what: &str) {
    if !common::java_ensemble_available("rolling", what) {
        return;
    }
    // One at a time: each keeps the machine busy, and its step timings assume it.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _serial = ONE_AT_A_TIME.lock().await;
    let spec = ClusterSpec::uniform(3, NodeKind::Java, Network::Loopback);
    let mut cluster = tokio::task::spawn_blocking(move || Cluster::start(spec).expect("cluster"))
        .await
        .expect("start");
    let all = [0, 1, 2];
    let wait = |c: &Cluster, why: &str| {
        tokio::task::block_in_place(|| c.wait_serving(&all, Duration::from_secs(90)))
            .unwrap_or_else(|e| panic!("{what}: {why}: {e}"))
    };
    let leader = wait(&cluster, "a Java leader at start");

    // The session that heartbeats through everything, with its ephemeral.
    let connect = cluster.client_addrs().join(",");
    let holder = Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&connect)
        .await
        .expect("holder session");
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    holder
        .create("/rolling-holder", b"alive", &ephemeral)
        .await
        .expect("create the holder's ephemeral");
    let states: States = Arc::default();
    let mut watcher = holder.state_watcher();
    let watching = tokio::spawn({
        let states = states.clone();
        async move {
            loop {
                let s = watcher.changed().await;
                let terminal = s.is_terminated();
                states.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                if terminal {
                    break;
                }
            }
        }
    });

    let loads_dir = tempfile::tempdir().expect("a directory for the recipe loads");
    let stop = loads_dir.path().join("stop");
    let loads =
        tokio::task::block_in_place(|| start_recipe_loads(&connect, loads_dir.path(), &stop));

    let mut base = RecordConfig::new(cluster.client_addrs());
    base.clients = 4;
    base.keys = 6;
    base.op_timeout = Duration::from_secs(3);
    let mut ops = Vec::new();

    // Followers first, the leader last; forward to Ferrokeeper, then back to Java.
    let mut order: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    order.push(leader);
    let fk = NodeKind::Ferrokeeper(ferrokeeper_bin());
    let steps: Vec<(usize, NodeKind)> = order
        .iter()
        .map(|&i| (i, fk.clone()))
        .chain(order.iter().map(|&i| (i, NodeKind::Java)))
        .collect();
    for (step, (i, to)) in steps.into_iter().enumerate() {
        let mut cfg = base.clone();
        cfg.seed = step as u64 + 1;
        cfg.duration = Duration::from_secs(8);
        let recording = tokio::spawn(async move { record(&cfg).await });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let label = format!("{what}: step {}: node {} to {to:?}", step + 1, i + 1);
        println!("{label}");
        tokio::task::block_in_place(|| replace(&mut cluster, i, to, how, step));
        let leader = wait(&cluster, &label);
        let modes: Vec<_> = all.iter().map(|&j| cluster.mode(j)).collect();
        println!(
            "{label}: serving again, leader node {}: {modes:?}",
            leader + 1
        );
        ops.extend(recording.await.expect("recorder"));
    }
    wait(&cluster, "a serving Java ensemble at the end");
    tokio::task::block_in_place(|| finish_recipe_loads(loads, &stop, what));
    for i in all {
        assert_eq!(cluster.kind(i), &NodeKind::Java, "{what}: node {}", i + 1);
    }

    let (history, report, _) = assert_history_accepted(&base, ops, what).await;
    println!("{what}: {report}");
    assert!(
        report.acked_writes > 100,
        "{what}: too few writes: {report}"
    );
    assert_eq!(history.finals.len(), 3);

    // The heartbeating session lived through every step, its ephemeral with it.
    let stat = holder
        .check_stat("/rolling-holder")
        .await
        .expect("the holder still has its session");
    let stat = stat.unwrap_or_else(|| panic!("{what}: the holder's ephemeral is gone"));
    assert_eq!(stat.ephemeral_owner, holder.session_id().0, "{what}");
    let seen = states.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("{what}: the holder's session states: {seen:?}");
    assert!(
        seen.iter()
            .all(|s| matches!(s, SessionState::Disconnected | SessionState::SyncConnected)),
        "{what}: the heartbeating session saw more than disconnections: {seen:?}"
    );
    watching.abort();
    // Java's digests: every node compared each txn's digest with its tree after applying.
    common::assert_no_digest_mismatches(&cluster, &all, what);
    // Six stops and starts under load: only lines that can only mean a broken protocol.
    common::assert_java_logs_clean(&cluster, &all, common::Disruptions::Heavy, what);
}

/// Java to Ferrokeeper node by node with `ferrokeeper import`, and back with `ferrokeeper
/// export`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_ensemble_is_replaced_node_by_node_through_import_and_rolled_back_through_export() {
    rolling(Crossing::Files, "rolling replacement, import/export").await;
}

/// Java to Ferrokeeper node by node with empty dataDirs synced from the leader, and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_ensemble_is_replaced_node_by_node_through_leader_syncs_and_rolled_back() {
    rolling(Crossing::Sync, "rolling replacement, leader syncs").await;
}
