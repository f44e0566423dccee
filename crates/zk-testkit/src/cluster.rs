//! Real ensembles for fault tests: N server processes (Apache ZooKeeper's `QuorumPeerMain`
//! from Debian's jars, or the `ferrokeeper` binary), each with its own `zoo.cfg`, `myid` and
//! data directory, that a test kills (`kill -9`), stops and resumes (SIGSTOP/SIGCONT),
//! restarts on the same data, and partitions.
//!
//! Two networks:
//!
//! * [`Network::Namespaces`] (needs root and `ip`/`iptables`): every node in a network
//!   namespace of its own, with a veth pair to a bridge in the test's namespace; nodes listen
//!   on their own address (`10.211.S.N`, S from the test's pid) with the same ports. A
//!   partition drops packets between nodes in their namespaces' `iptables` (both
//!   directions, nothing reaches the other side: a true partition, TCP connections hang
//!   until their timeouts as on a real network); clients in the test's namespace reach every
//!   node through the bridge, as clients outside a partitioned data centre would.
//! * [`Network::Loopback`]: every node on 127.0.0.1 with ports of its own; no partitions
//!   (kills and pauses only). For machines without root.
//!
//! Everything is undone on drop: processes killed, namespaces and the bridge deleted, the
//! nodes' directories removed (kept, and their path printed, with
//! `FERROKEEPER_KEEP_CLUSTER=1`).
//! Namespaces and bridges left by a test that was itself killed are named after its pid
//! and removed by the next [`Cluster::start`] once that pid is gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server a node runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Apache ZooKeeper 3.8 (`QuorumPeerMain` with Debian's jars, see [`crate::java`]).
    Java,
    /// The `ferrokeeper` binary at this path.
    Ferrokeeper(PathBuf),
}

/// How nodes reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A network namespace per node, partitionable (root only).
    Namespaces,
    /// 127.0.0.1 with a port block per node; no partitions.
    Loopback,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// One entry per node; node `i` has sid `i + 1`.
    pub kinds: Vec<NodeKind>,
    /// The network.
    pub network: Network,
    /// `tickTime` (ms).
    pub tick_ms: u32,
    /// `initLimit` (ticks).
    pub init_limit: u32,
    /// `syncLimit` (ticks).
    pub sync_limit: u32,
    /// More `zoo.cfg` lines for every node.
    pub extra: String,
    /// How many of the last nodes are observers (`:observer`, `peerType=observer`).
    pub observers: usize,
    /// System properties (`key=value`) for every node, the `-D` arguments of the JVM
    /// (before the main class) and of Ferrokeeper (after the config file), such as
    /// `readonlymode.enabled=true`, which Java reads from nowhere else.
    pub properties: Vec<String>,
    /// More `zoo.cfg` lines for node `i` alone (after [`ClusterSpec::extra`]; a later line
    /// overrides an earlier one), such as the paths of its own key stores; missing
    /// entries add nothing. Changed on a running cluster with [`Cluster::set_node_extra`].
    pub node_extra: Vec<String>,
}

impl ClusterSpec {
    /// `n` nodes of `kind` with short timeouts (tickTime 500 ms, initLimit 10, syncLimit 4).
    pub fn uniform(n: usize, kind: NodeKind, network: Network) -> ClusterSpec {
        ClusterSpec {
            kinds: vec![kind; n],
            network,
            tick_ms: 500,
            init_limit: 10,
            sync_limit: 4,
            extra: String::new(),
            observers: 0,
            properties: Vec::new(),
            node_extra: Vec::new(),
        }
    }
}

/// One node.
struct Node {
    kind: NodeKind,
    dir: PathBuf,
    ns: Option<String>,
    host: String,
    client_port: u16,
    child: Option<Child>,
}

/// A running ensemble; dropping it kills the nodes and removes the namespaces.
pub struct Cluster {
    spec: ClusterSpec,
    nodes: Vec<Node>,
    bridge: Option<String>,
    dir: Option<tempfile::TempDir>,
    /// Given back after the nodes are gone (fields drop after `Drop::drop`).
    _slot: Slot,
}

const QUORUM_PORT: u16 = 2888;
const ELECTION_PORT: u16 = 3888;
const CLIENT_PORT: u16 = 2181;

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run(Command::new("ip").args(args))
}

/// Whether this process can make network namespaces (root with `ip` and `iptables`).
pub fn namespaces_available() -> bool {
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("fkcprobe{}x{n}", std::process::id());
    let ok = ip(&["netns", "add", &probe]).is_ok()
        && run(Command::new("ip").args(["netns", "exec", &probe, "iptables", "-L", "-n"])).is_ok();
    let _ = ip(&["netns", "del", &probe]);
    ok
}

/// Removes namespaces and bridges of earlier runs whose process is gone.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `fkc<pid>s<slot>n<node>`, its bridge `fkc<pid>s<slot>`.
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix("fkc") else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Some((bridge, _)) = name.rsplit_once('n') else {
            continue;
        };
        if !pid.is_empty()
            && rest[pid.len()..].starts_with('s')
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = ip(&["netns", "del", name]);
            let _ = ip(&["link", "del", bridge]);
        }
    }
}

impl Cluster {
    /// Starts every node (not waiting for a leader: see [`Cluster::wait_serving`]).
    pub fn start(spec: ClusterSpec) -> Result<Cluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("fk-cluster")
            .tempdir()
            .map_err(|e| e.to_string())?;
        if spec.kinds.len() > MAX_NODES {
            return Err(format!("at most {MAX_NODES} nodes per cluster"));
        }
        let slot = Slot::take()?;
        let pid = std::process::id();
        let block = process_block();
        let subnet = 20 + block * SLOTS + slot.0;
        let tag = format!("fkc{pid}s{}", slot.0);
        let mut nodes = Vec::new();
        for (i, kind) in spec.kinds.iter().enumerate() {
            let (ns, host, client_port) = match spec.network {
                Network::Namespaces => {
                    let ns = format!("{tag}n{}", i + 1);
                    (Some(ns), format!("10.211.{subnet}.{}", i + 1), CLIENT_PORT)
                }
                Network::Loopback => (
                    None,
                    "127.0.0.1".to_string(),
                    loopback_base(block, slot.0) + 10 * i as u16,
                ),
            };
            nodes.push(Node {
                kind: kind.clone(),
                dir: dir.path().join(format!("node{}", i + 1)),
                ns,
                host,
                client_port,
                child: None,
            });
        }
        let mut cluster = Cluster {
            spec,
            nodes,
            bridge: None,
            dir: Some(dir),
            _slot: slot,
        };
        if cluster.spec.network == Network::Namespaces {
            sweep_stale();
            // Short: interface names (the bridge's, and the veths named after it) have
            // at most 15 bytes.
            let br = tag.clone();
            ip(&["link", "add", &br, "type", "bridge"])?;
            cluster.bridge = Some(br.clone());
            ip(&["link", "set", &br, "up"])?;
            ip(&[
                "addr",
                "add",
                &format!("10.211.{subnet}.254/24"),
                "dev",
                &br,
            ])?;
        }
        for i in 0..cluster.nodes.len() {
            cluster.make_namespace(i)?;
            cluster.write_config(i)?;
            cluster.start_node(i)?;
        }
        Ok(cluster)
    }

    fn make_namespace(&self, i: usize) -> Result<(), String> {
        let (Some(ns), Some(br)) = (&self.nodes[i].ns, &self.bridge) else {
            return Ok(());
        };
        let host_end = format!("{br}v{}", i + 1);
        let ns_end = format!("{br}p{}", i + 1);
        ip(&["netns", "add", ns])?;
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
        ])?;
        ip(&["link", "set", &ns_end, "netns", ns])?;
        ip(&["link", "set", &host_end, "master", br])?;
        ip(&["link", "set", &host_end, "up"])?;
        let addr = format!("{}/24", self.nodes[i].host);
        ip(&[
            "netns", "exec", ns, "ip", "addr", "add", &addr, "dev", &ns_end,
        ])?;
        ip(&["netns", "exec", ns, "ip", "link", "set", &ns_end, "up"])?;
        ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"])
    }

    fn ports(&self, i: usize) -> (u16, u16) {
        match self.spec.network {
            Network::Namespaces => (QUORUM_PORT, ELECTION_PORT),
            Network::Loopback => {
                let c = self.nodes[i].client_port;
                (c + 1, c + 2)
            }
        }
    }

    fn write_config(&self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        let data = node.dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        std::fs::write(data.join("myid"), format!("{}\n", i + 1)).map_err(|e| e.to_string())?;
        let mut cfg = format!(
            "tickTime={}\ninitLimit={}\nsyncLimit={}\ndataDir={}\nclientPort={}\n\
             clientPortAddress={}\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             maxSessionTimeout=60000\n",
            self.spec.tick_ms,
            self.spec.init_limit,
            self.spec.sync_limit,
            data.display(),
            node.client_port,
            node.host,
        );
        let observer = |j: usize| j + self.spec.observers >= self.nodes.len();
        for (j, peer) in self.nodes.iter().enumerate() {
            let (q, e) = self.ports(j);
            let kind = if observer(j) { ":observer" } else { "" };
            cfg.push_str(&format!("server.{}={}:{q}:{e}{kind}\n", j + 1, peer.host));
        }
        if observer(i) {
            cfg.push_str("peerType=observer\n");
        }
        cfg.push_str(&self.spec.extra);
        if let Some(own) = self.spec.node_extra.get(i) {
            cfg.push_str(own);
        }
        std::fs::write(node.dir.join("zoo.cfg"), cfg).map_err(|e| e.to_string())?;
        std::fs::write(
            node.dir.join("log4j.properties"),
            format!(
                "log4j.rootLogger=INFO, FILE\nlog4j.appender.FILE=org.apache.log4j.FileAppender\n\
                 log4j.appender.FILE.File={}\nlog4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} %-5p [%t:%C{{1}}@%L] %m%n\n",
                node.dir.join("server.log").display()
            ),
        )
        .map_err(|e| e.to_string())
    }

    /// Replaces node `i`'s own `zoo.cfg` lines ([`ClusterSpec::node_extra`]) and rewrites
    /// its file; a running node reads it when next started.
    pub fn set_node_extra(&mut self, i: usize, lines: &str) -> Result<(), String> {
        if self.spec.node_extra.len() <= i {
            self.spec.node_extra.resize(i + 1, String::new());
        }
        self.spec.node_extra[i] = lines.to_string();
        self.write_config(i)
    }

    /// Starts node `i` (again) on its data directory.
    pub fn start_node(&mut self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        let mut cmd = match &node.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                c
            }
            None => Command::new("env"),
        };
        match &node.kind {
            NodeKind::Java => {
                let cp = crate::java::server_jars().and_then(|j| crate::java::classpath(&j))?;
                let java = crate::java::find_tool("java").ok_or("no java")?;
                cmd.arg(java)
                    .args(self.spec.properties.iter().map(|p| format!("-D{p}")))
                    .arg("-Xmx256m")
                    .arg(format!(
                        "-Dlog4j.configuration=file:{}",
                        node.dir.join("log4j.properties").display()
                    ))
                    .arg("-cp")
                    .arg(cp)
                    .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain");
            }
            NodeKind::Ferrokeeper(bin) => {
                cmd.arg(bin).arg("--config");
            }
        }
        cmd.arg(node.dir.join("zoo.cfg"));
        if matches!(node.kind, NodeKind::Ferrokeeper(_)) {
            cmd.args(self.spec.properties.iter().map(|p| format!("-D{p}")));
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("stdout"))
            .map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("start node {}: {e}", i + 1))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    fn signal(&mut self, i: usize, sig: &str) {
        if let Some(c) = &self.nodes[i].child {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .stdin(Stdio::null())
                .status();
        }
    }

    /// `kill -9` node `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        self.signal(i, "-KILL");
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.wait();
        }
    }

    /// Stops node `i` as an operator does: SIGTERM, then SIGKILL if it is still running
    /// after 20 s; reaps it.
    pub fn stop(&mut self, i: usize) {
        self.signal(i, "-TERM");
        if let Some(mut c) = self.nodes[i].child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if !matches!(c.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Node `i` runs `kind` from its next [`Cluster::start_node`] on (its zoo.cfg is
    /// written anew; its data directory is left as it is).
    pub fn set_kind(&mut self, i: usize, kind: NodeKind) -> Result<(), String> {
        self.nodes[i].kind = kind;
        self.write_config(i)
    }

    /// What node `i` runs.
    pub fn kind(&self, i: usize) -> &NodeKind {
        &self.nodes[i].kind
    }

    /// SIGSTOP node `i`.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) {
        self.signal(i, "-CONT");
    }

    /// Whether node `i` has a process.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Cuts every pair of nodes in different `groups` off from each other (both ways);
    /// nodes in no group keep their links. Clients still reach every node.
    pub fn partition(&mut self, groups: &[Vec<usize>]) -> Result<(), String> {
        self.heal()?;
        let group_of = |n: usize| groups.iter().position(|g| g.contains(&n));
        for i in 0..self.nodes.len() {
            for j in 0..self.nodes.len() {
                let (Some(a), Some(b)) = (group_of(i), group_of(j)) else {
                    continue;
                };
                if a == b {
                    continue;
                }
                let ns = self.nodes[i]
                    .ns
                    .clone()
                    .ok_or("partitions need Network::Namespaces")?;
                let other = self.nodes[j].host.clone();
                for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                    run(Command::new("ip").args([
                        "netns", "exec", &ns, "iptables", "-A", chain, dir, &other, "-j", "DROP",
                    ]))?;
                }
            }
        }
        Ok(())
    }

    /// Removes every partition.
    pub fn heal(&mut self) -> Result<(), String> {
        for n in &self.nodes {
            if let Some(ns) = &n.ns {
                for chain in ["INPUT", "OUTPUT"] {
                    run(Command::new("ip").args(["netns", "exec", ns, "iptables", "-F", chain]))?;
                }
            }
        }
        Ok(())
    }

    /// Node `i`'s client address (`host:port`).
    pub fn client_addr(&self, i: usize) -> String {
        format!("{}:{}", self.nodes[i].host, self.nodes[i].client_port)
    }

    /// Every node's client address.
    pub fn client_addrs(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.client_addr(i)).collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s directory (zoo.cfg, data/, server.log, stdout).
    pub fn dir(&self, i: usize) -> &Path {
        &self.nodes[i].dir
    }

    /// What node `i` answers to a four-letter word (empty if nothing within 2 s).
    pub fn four_letter(&self, i: usize, word: &str) -> String {
        let addr = self.client_addr(i);
        let Ok(sock) = addr.parse() else {
            return String::new();
        };
        let Ok(mut s) = TcpStream::connect_timeout(&sock, Duration::from_secs(2)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(word.as_bytes());
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Node `i`'s `Mode:` in `srvr` (`leader`, `follower`, `observer`, `standalone`), or
    /// `None` while it does not serve.
    pub fn mode(&self, i: usize) -> Option<String> {
        self.four_letter(i, "srvr")
            .lines()
            .find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
    }

    /// Waits (bounded) until a leader serves and every running node in `among` serves as a
    /// member of its quorum (leader, follower or observer: a member still serving read-only
    /// clients is not yet back); returns the leader.
    pub fn wait_serving(&self, among: &[usize], timeout: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = among.iter().map(|&i| (i, self.mode(i))).collect::<Vec<_>>();
            let leader = last
                .iter()
                .find(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(i, _)| *i);
            if let Some(l) = leader {
                let member = |m: &Option<String>| {
                    matches!(m.as_deref(), Some("leader" | "follower" | "observer"))
                };
                if last.iter().all(|(_, m)| member(m)) {
                    return Ok(l);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("no serving ensemble within {timeout:?}: {last:?}"))
    }
}

/// How many clusters one test process runs at once; a further one waits for a slot.
const SLOTS: u32 = 5;
/// Nodes per cluster the port and address plan has room for.
const MAX_NODES: usize = 6;

fn loopback_base(block: u32, slot: u32) -> u16 {
    // Ports 20000-31999 in blocks of 300 per test process (60 per slot, 10 per node):
    // below Linux's ephemeral range (32768-60999), so no client socket of another test can
    // hold a node's port.
    20_000 + block as u16 * 300 + slot as u16 * 60
}

/// Blocks of ports (and namespace subnets) test processes share out.
const BLOCKS: u32 = 40;

/// This process's block, claimed for its lifetime on first use: the first of the
/// [`BLOCKS`], starting at pid % 40, whose lock file (`$TMPDIR/fk-testkit-blocks/<n>.lock`)
/// no other process holds locked. The lock goes with the process (the kernel drops it when
/// the file closes, even on a crash), so concurrent test processes (a local loop beside
/// another run) never get the same ports; when every block is held, or the lock files
/// cannot be made, it falls back to pid % 40.
fn process_block() -> u32 {
    static BLOCK: std::sync::OnceLock<(u32, Option<std::fs::File>)> = std::sync::OnceLock::new();
    BLOCK
        .get_or_init(|| {
            let start = std::process::id() % BLOCKS;
            let dir = std::env::temp_dir().join("fk-testkit-blocks");
            if std::fs::create_dir_all(&dir).is_ok() {
                for k in 0..BLOCKS {
                    let block = (start + k) % BLOCKS;
                    let Ok(file) = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(dir.join(format!("{block}.lock")))
                    else {
                        break;
                    };
                    if file.try_lock().is_ok() {
                        return (block, Some(file));
                    }
                }
            }
            (start, None)
        })
        .0
}

/// The slots of this process's running clusters: each has its own ports, addresses and
/// namespace names, so the tests of one binary can run clusters side by side.
static SLOTS_TAKEN: std::sync::Mutex<u32> = std::sync::Mutex::new(0);
static SLOT_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// A slot, given back when dropped.
struct Slot(u32);

impl Slot {
    /// Waits (bounded: 15 minutes) for a free slot.
    fn take() -> Result<Slot, String> {
        let deadline = Instant::now() + Duration::from_secs(900);
        let mut taken = SLOTS_TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(free) = (0..SLOTS).find(|s| *taken & (1 << s) == 0) {
                *taken |= 1 << free;
                return Ok(Slot(free));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("no cluster slot became free within 15 minutes".into());
            }
            taken = SLOT_FREED
                .wait_timeout(taken, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut taken = SLOTS_TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        *taken &= !(1 << self.0);
        SLOT_FREED.notify_all();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.resume(i);
            self.kill(i);
        }
        for n in &self.nodes {
            if let Some(ns) = &n.ns {
                let _ = ip(&["netns", "del", ns]);
            }
        }
        if let Some(br) = &self.bridge {
            let _ = ip(&["link", "del", br]);
        }
        if let Some(dir) = self.dir.take() {
            if std::env::var_os("FERROKEEPER_KEEP_CLUSTER").is_some() {
                eprintln!("cluster files kept in {}", dir.keep().display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block is this process's for its life: asked again it is the same, and its lock
    /// file is held (another open of it cannot lock it, as another process could not).
    #[test]
    fn a_process_holds_its_port_block() {
        let block = process_block();
        assert!(block < BLOCKS);
        assert_eq!(process_block(), block);
        let path = std::env::temp_dir()
            .join("fk-testkit-blocks")
            .join(format!("{block}.lock"));
        let other = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("the lock file");
        assert!(other.try_lock().is_err(), "{} is not held", path.display());
        let base = loopback_base(block, SLOTS - 1);
        assert!(base >= 20_000 && base + 60 <= 32_000, "{base}");
    }
}
