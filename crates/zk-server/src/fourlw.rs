//! Four-letter words (`server/command/*Command.java`): the text each one answers, line for
//! line as Apache ZooKeeper 3.8.0 standalone prints it (with the NIO connection factory,
//! Debian's default).
//!
//! ```text
//!   conn task ── stmk ──────────────────────────────► trace mask (here: Stats)
//!       ├──── ruok isro conf envi dirs gtmk srst crst ► render_local (settings, stats, disk)
//!       └──── srvr stat cons dump wchs wchc wchp mntr hash ──CoreMsg──► core ► render
//! ```
//!
//! Values are Ferrokeeper's own; where upstream prints a fact Ferrokeeper has no
//! equivalent for, the answer prints what upstream prints when it has nothing (0, -1, no
//! line), never an invented number. Maps that upstream iterates in hash order (watches,
//! ephemerals, metrics sets) are printed sorted.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use zk_core::session::SessionTable;
use zk_proto::codec::FourLetterWord;
use zk_tree::DataTree;

use crate::ops::figures::{Figures, Kind, TreeFigures, Value};
use crate::settings::Settings;
use crate::stats::{ConnStats, Stats, SESSIONLESS_CNXN_TIMEOUT_MS, ZK_VERSION};

/// What the core lends a four-letter word.
pub struct CoreView<'a> {
    /// Settings.
    pub settings: &'a Settings,
    /// Counters (and the open connections).
    pub stats: &'a Stats,
    /// The tree.
    pub tree: &'a DataTree,
    /// Sessions.
    pub sessions: &'a SessionTable,
    /// A read-only server's sessions (local to this member), while it runs.
    pub local_sessions: Option<&'a SessionTable>,
    /// Requests in flight.
    pub outstanding: usize,
    /// The core clock's monotonic ms (session deadlines are on it).
    pub now_mono_ms: i64,
    /// The core clock's wall-clock ms.
    pub now_wall_ms: i64,
    /// The node's role (`Mode:`, `zk_server_state`).
    pub role: zk_node::RoleKind,
    /// An ensemble member's quorum figures (`None` standalone).
    pub quorum: Option<zk_zab::peer::PeerFigures>,
}

/// What `srvr`, `stat` and `mntr` answer while the server does not serve (an ensemble
/// member that is electing: `ZooKeeperServer` not running).
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// `Version.getFullVersion()`.
fn full_version() -> String {
    format!("{ZK_VERSION}, built on unknown")
}

/// Words answered without the core: they need only settings, counters or the disk.
pub fn answered_locally(word: FourLetterWord) -> bool {
    use FourLetterWord as W;
    matches!(
        word,
        W::Ruok | W::Isro | W::Conf | W::Envi | W::Dirs | W::Gtmk | W::Srst | W::Crst
    ) || word == W::TelnetClose
}

/// How many packets upstream counts for an answer: its `SendBufferWriter` sends whatever
/// the 8 KiB `BufferedWriter` hands it, so one per 8192 characters, none for no text.
pub fn answer_packets(text: &str) -> u64 {
    text.chars().count().div_ceil(8192) as u64
}

/// The answer to a word for which [`answered_locally`] is true (already whitelisted).
pub fn render_local(word: FourLetterWord, settings: &Settings, stats: &Stats) -> String {
    use FourLetterWord as W;
    if stats.not_serving.load(Ordering::Relaxed) {
        match word {
            // IsroCommand: "null" while no server runs.
            W::Isro => return "null".into(),
            W::Conf | W::Dirs | W::Srst | W::Crst => return NOT_SERVING.into(),
            _ => {}
        }
    }
    match word {
        W::Ruok => "imok".into(),
        // IsroCommand: "ro" from a ReadOnlyZooKeeperServer.
        W::Isro if stats.read_only.load(Ordering::Relaxed) => "ro".into(),
        W::Isro => "rw".into(),
        W::Conf => conf(settings, stats.read_only.load(Ordering::Relaxed)),
        W::Envi => envi(),
        W::Dirs => {
            let (log, snap) = dir_sizes(settings);
            // Named after ZooKeeperServer.getDataDirSize/getLogDirSize, which measure the
            // txn-log directory and the snapshot directory respectively.
            format!("datadir_size: {log}\nlogdir_size: {snap}\n")
        }
        W::Gtmk => stats.trace_mask.load(Ordering::Relaxed).to_string(),
        W::Srst => {
            stats.reset();
            "Server stats reset.\n".into()
        }
        W::Crst => {
            for c in stats.conns.snapshot() {
                c.reset();
            }
            "Connection stats reset.\n".into()
        }
        // "telnet close" is known (and whitelisted by `*`) but runs nothing upstream.
        _ => String::new(),
    }
}

/// The answer to `cmd` (already checked against the whitelist) from the core's state.
pub fn render(cmd: &str, v: &CoreView<'_>) -> String {
    let mut out = String::new();
    match cmd {
        "srvr" | "stat" | "mntr" | "cons" | "dump" | "wchs" | "wchc" | "wchp"
            if !v.role.serves_clients() =>
        {
            out.push_str(NOT_SERVING)
        }
        // DigestCommand prints it without the newline.
        "hash" if !v.role.serves_clients() => out.push_str(NOT_SERVING.trim_end()),
        "srvr" | "stat" => stat(cmd == "stat", v, &mut out),
        "cons" => {
            for c in v.stats.conns.snapshot() {
                connection_info(&c, false, &mut out);
                out.push('\n');
            }
            out.push('\n');
        }
        "dump" => dump(v, &mut out),
        "wchs" => {
            let (data, _) = v.tree.watch_tables();
            // DataTree.dumpWatchesSummary: the data-watch table only.
            let _ = writeln!(
                out,
                "{} connections watching {} paths\nTotal watches:{}",
                data.watcher_count(),
                data.path_count(),
                data.len()
            );
        }
        "wchc" | "wchp" => watches(cmd == "wchp", v, &mut out),
        "mntr" => mntr(v, &mut out),
        // `hash` prints the digest log; Ferrokeeper computes no tree digests, which upstream
        // prints (with digests disabled) as nothing at all.
        "hash" => {}
        other => return render_local_by_name(other, v),
    }
    out
}

fn render_local_by_name(cmd: &str, v: &CoreView<'_>) -> String {
    FourLetterWord::ALL
        .iter()
        .find(|w| w.name() == cmd)
        .map(|w| render_local(*w, v.settings, v.stats))
        .unwrap_or_default()
}

// ----- srvr, stat, cons --------------------------------------------------------------

fn stat(with_clients: bool, v: &CoreView<'_>, out: &mut String) {
    let conns = v.stats.conns.snapshot();
    let _ = writeln!(out, "Zookeeper version: {}", full_version());
    if v.role == zk_node::RoleKind::ReadOnly {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        out.push_str("Clients:\n");
        for c in &conns {
            connection_info(c, true, out);
            out.push('\n');
        }
        out.push('\n');
    }
    // ServerStats.toString.
    let (min, avg, max) = v.stats.latency();
    let _ = writeln!(out, "Latency min/avg/max: {min}/{}/{max}", java_double(avg));
    let _ = writeln!(
        out,
        "Received: {}",
        v.stats.packets_received.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "Sent: {}",
        v.stats.packets_sent.load(Ordering::Relaxed)
    );
    // Every open connection, this one included (NIOServerCnxnFactory.cnxns).
    let _ = writeln!(out, "Connections: {}", conns.len());
    let _ = writeln!(out, "Outstanding: {}", v.outstanding);
    let _ = writeln!(out, "Zxid: 0x{:x}", v.tree.last_processed_zxid);
    let _ = writeln!(out, "Mode: {}", v.role.name());
    let _ = writeln!(out, "Node count: {}", node_count(v.tree));
}

/// `ZKDatabase.getNodeCount`: upstream's node map holds the root twice ("" and "/").
fn node_count(tree: &DataTree) -> usize {
    tree.node_count() + 1
}

/// `ServerCnxn.dumpConnectionInfo`.
fn connection_info(c: &ConnStats, brief: bool, out: &mut String) {
    const R: Ordering = Ordering::Relaxed;
    // A connection that answered a four-letter word no longer selects anything.
    let interest = if c.four_letter.load(R) { 0 } else { 1 };
    let _ = write!(
        out,
        " {}[{interest}](queued={},recved={},sent={}",
        java_socket_addr(&c.peer),
        c.queued.load(R),
        c.received.load(R),
        c.sent.load(R)
    );
    let session = c.session_id.load(R);
    if !brief && session != 0 {
        let r = c.response_stats();
        let _ = write!(
            out,
            ",sid=0x{session:x},lop={},est={},to={}",
            r.last_op.name(),
            c.established_ms,
            c.session_timeout.load(R)
        );
        if r.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", r.last_cxid);
        }
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            r.last_zxid,
            r.last_response_ms,
            r.last_latency,
            r.min_latency,
            r.avg_latency,
            r.max_latency
        );
    }
    out.push(')');
}

/// `InetSocketAddress.toString()` of an accepted socket: no host name, a slash, the
/// address (IPv6 in full, bracketed, as Java 14+ prints it) and the port.
pub fn java_socket_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(a) => format!("/{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            let groups: Vec<String> = a.ip().segments().iter().map(|g| format!("{g:x}")).collect();
            let scope = if a.scope_id() != 0 {
                format!("%{}", a.scope_id())
            } else {
                String::new()
            };
            format!("/[{}{scope}]:{}", groups.join(":"), a.port())
        }
    }
}

// ----- dump --------------------------------------------------------------------------

/// Session expiry buckets (wall-clock ms of the deadline, sorted session ids) and each
/// session's ephemeral paths (sorted), as `dump` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionsDump {
    /// `SessionTrackerImpl.dumpSessions`: deadline (wall-clock ms) → session ids.
    pub expiry: Vec<(i64, Vec<i64>)>,
    /// `DataTree.dumpEphemerals`: session → paths.
    pub ephemerals: Vec<(i64, Vec<String>)>,
}

/// `table`'s expiry queue: (wall-clock deadline, sorted ids), deadlines on the core's clock.
fn expiry_queue(v: &CoreView<'_>, table: &SessionTable) -> Vec<(i64, Vec<i64>)> {
    table
        .expiry_buckets()
        .map(|(t, ids)| {
            let mut ids: Vec<i64> = ids.collect();
            ids.sort_unstable();
            (v.now_wall_ms + (t - v.now_mono_ms), ids)
        })
        .collect()
}

/// `SessionTrackerImpl.toString`'s expiry queue.
fn session_sets(buckets: &[(i64, Vec<i64>)], out: &mut String) {
    let total: usize = buckets.iter().map(|(_, ids)| ids.len()).sum();
    let _ = writeln!(out, "Session Sets ({})/({total}):", buckets.len());
    for (wall, ids) in buckets {
        let _ = writeln!(out, "{} expire at {}:", ids.len(), java_date(*wall));
        for id in ids {
            let _ = writeln!(out, "\t0x{id:x}");
        }
    }
}

/// The sessions part of `dump`, typed.
pub fn sessions_dump(v: &CoreView<'_>) -> SessionsDump {
    let expiry = expiry_queue(v, v.sessions);
    let mut ephemerals: Vec<(i64, Vec<String>)> = v
        .tree
        .all_ephemerals()
        .map(|(s, paths)| {
            let mut p: Vec<String> = paths.iter().map(|p| lossy(p)).collect();
            p.sort();
            (s, p)
        })
        .collect();
    ephemerals.sort_by_key(|(s, _)| *s);
    SessionsDump { expiry, ephemerals }
}

fn dump(v: &CoreView<'_>, out: &mut String) {
    out.push_str("SessionTracker dump:\n");
    let SessionsDump {
        expiry: buckets,
        ephemerals: eph,
    } = sessions_dump(v);
    match v.local_sessions {
        // A read-only server's LearnerSessionTracker: its local tracker's expiry queue,
        // then the global sessions with their timeouts.
        Some(local) => {
            out.push_str("Local ");
            session_sets(&expiry_queue(v, local), out);
            let mut global: Vec<(i64, i32)> =
                v.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
            global.sort_unstable();
            let _ = writeln!(out, "Global Sessions({}):", global.len());
            for (id, timeout) in global {
                let _ = writeln!(out, "0x{id:x}\t{timeout}ms");
            }
        }
        None => session_sets(&buckets, out),
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", eph.len());
    for (s, paths) in &eph {
        let _ = writeln!(out, "0x{s:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    // NIOServerCnxnFactory.dumpConnections: each connection expires its timeout after its
    // last IO, in buckets of the sessionless-connection timeout (on the server's clock).
    let now_elapsed = v.stats.elapsed_ms();
    let now_wall = wall_ms();
    let width = i64::from(SESSIONLESS_CNXN_TIMEOUT_MS);
    let mut conn_buckets: BTreeMap<i64, Vec<(SocketAddr, i64)>> = BTreeMap::new();
    let conns = v.stats.conns.snapshot();
    for c in &conns {
        let last = c.last_activity_ms.load(Ordering::Relaxed);
        let timeout = i64::from(c.session_timeout.load(Ordering::Relaxed));
        let t = ((last + timeout) / width + 1) * width;
        conn_buckets
            .entry(t)
            .or_default()
            .push((c.peer, c.session_id.load(Ordering::Relaxed)));
    }
    let _ = writeln!(
        out,
        "Connections Sets ({})/({}):",
        conn_buckets.len(),
        conns.len()
    );
    for (t, cs) in &conn_buckets {
        let wall = now_wall + (t - now_elapsed);
        let _ = writeln!(out, "{} expire at {}:", cs.len(), java_date(wall));
        for (peer, session) in cs {
            let _ = writeln!(
                out,
                "\tip: {} sessionId: 0x{session:x}",
                java_socket_addr(peer)
            );
        }
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `java.util.Date.toString()` in UTC: `Sun Nov 22 00:52:15 UTC 2026`. (Java prints the
/// JVM's default time zone; Ferrokeeper always prints UTC.)
pub fn java_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {d:02} {:02}:{:02}:{:02} UTC {y}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant's
/// civil-from-days algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ----- wchc, wchp ----------------------------------------------------------------------

/// The data-watch table by session (sorted paths) and by path (session ids), as `wchc`
/// and `wchp` list them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchesDump {
    /// Session → watched paths, sorted by session.
    pub by_session: Vec<(i64, Vec<String>)>,
    /// Path → watching sessions, sorted by path.
    pub by_path: Vec<(String, Vec<i64>)>,
}

/// `WatchManager.dumpWatches` of the data-watch table, typed.
pub fn watches_dump(v: &CoreView<'_>) -> WatchesDump {
    let sessions: HashMap<u64, i64> = v
        .stats
        .conns
        .snapshot()
        .iter()
        .map(|c| (c.id, c.session_id.load(Ordering::Relaxed)))
        .collect();
    let session_of = |w: u64| sessions.get(&w).copied().unwrap_or(0);
    let (data, _) = v.tree.watch_tables();
    let mut by_path: Vec<(String, Vec<i64>)> = data
        .by_path()
        .map(|(p, ws)| (lossy(p), ws.map(session_of).collect()))
        .collect();
    by_path.sort();
    let mut by_session: Vec<(i64, Vec<String>)> = data
        .by_watcher()
        .map(|(w, ps)| {
            let mut ps: Vec<String> = ps.map(lossy).collect();
            ps.sort();
            (session_of(w), ps)
        })
        .collect();
    by_session.sort();
    WatchesDump {
        by_session,
        by_path,
    }
}

/// `wchc`/`wchp`, then the blank line `WatchCommand` adds.
fn watches(by_path: bool, v: &CoreView<'_>, out: &mut String) {
    let d = watches_dump(v);
    if by_path {
        for (p, ss) in d.by_path {
            let _ = writeln!(out, "{p}");
            for s in ss {
                let _ = writeln!(out, "\t0x{s:x}");
            }
        }
    } else {
        for (s, ps) in d.by_session {
            let _ = writeln!(out, "0x{s:x}");
            for p in ps {
                let _ = writeln!(out, "\t{p}");
            }
        }
    }
    out.push('\n');
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

// ----- mntr --------------------------------------------------------------------------

/// `mntr` (`MonitorCommand`): `zk_<key>\t<value>` lines. Counters and summaries
/// Ferrokeeper does not keep print what upstream prints before their first event (0, and
/// 0.0 for averages); the per-namespace read/write summary sets, which upstream prints only
/// once a namespace has been touched, are not printed.
fn mntr(v: &CoreView<'_>, out: &mut String) {
    let figures = Figures::collect(TreeFigures::of(v), v.stats);
    mntr_lines(&figures, out);
}

/// Prints `figures` as `mntr` lines (the default metrics provider's format).
pub fn mntr_lines(f: &Figures, out: &mut String) {
    let mut line = |k: &str, val: &dyn std::fmt::Display| {
        let _ = writeln!(out, "zk_{k}\t{val}");
    };
    line("version", &f.version);
    line("server_state", &f.server_state);
    if let Some(q) = &f.tree.quorum {
        line("peer_state", &q.peer_state);
    }
    let gauges = f
        .metrics
        .iter()
        .filter(|m| matches!(m.kind, Kind::Gauge(_)));
    for m in gauges {
        if let Kind::Gauge(v) = m.kind {
            line(m.name, &mntr_value(v));
        }
    }
    for &name in crate::ops::figures::ENSEMBLE_GAUGES {
        if let Some(v) = crate::ops::figures::ensemble_gauge(f.tree.quorum.as_ref(), name) {
            line(name, &v);
        }
    }
    for (name, per_ns) in &f.quota_sets {
        for (ns, val) in per_ns {
            line(&format!("{ns}_{name}"), val);
        }
    }
    for m in &f.metrics {
        match m.kind {
            Kind::Gauge(_) => {}
            Kind::Counter(c) => line(m.name, &c),
            Kind::Summary(s) => {
                let name = m.name;
                line(&format!("avg_{name}"), &java_double(s.avg()));
                line(&format!("min_{name}"), &s.min);
                line(&format!("max_{name}"), &s.max);
                line(&format!("cnt_{name}"), &s.count);
                line(&format!("sum_{name}"), &s.sum);
                if s.percentiles {
                    for (p, v) in MNTR_PERCENTILES.iter().zip(s.mntr_percentiles) {
                        line(&format!("{p}_{name}"), &v);
                    }
                }
            }
        }
    }
}

/// The names of `AvgMinMaxPercentileCounter`'s percentiles, in printing order.
pub const MNTR_PERCENTILES: [&str; 4] = ["p50", "p95", "p99", "p999"];

/// A gauge as `mntr` prints it: longs as integers, doubles as Java prints them.
pub fn mntr_value(v: Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => java_double(f),
    }
}

/// `Double.toString` for the values the words print (averages rounded to 4 decimals):
/// the shortest decimal that reads back, always with a fraction, in `1.0E7` form outside
/// [10⁻³, 10⁷).
pub fn java_double(x: f64) -> String {
    if x == 0.0 {
        return "0.0".into();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        let s = format!("{x:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.to_string()
        } else {
            format!("{m}.0")
        };
        format!("{m}E{e}")
    }
}

// ----- conf, dirs, envi ---------------------------------------------------------------

/// `ZooKeeperServer.getDirSize`: the bytes of every file below `dir`, 0 if it is missing.
fn dir_size(dir: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(dir) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(dir).map_or(0, |it| {
        it.filter_map(|e| e.ok()).map(|e| dir_size(&e.path())).sum()
    })
}

/// (txn-log directory size, snapshot directory size): `dataLogDir/version-2` and
/// `dataDir/version-2`.
pub fn dir_sizes(settings: &Settings) -> (u64, u64) {
    (
        dir_size(&settings.data_log_dir.join("version-2")),
        dir_size(&settings.data_dir.join("version-2")),
    )
}

/// `conf`: the text rendered at start-up with the directory sizes of now.
/// `dumpConf`; a read-only server's (`ReadOnlyZooKeeperServer.dumpConf`) ends before the
/// membership that a quorum server's prints.
fn conf(settings: &Settings, read_only: bool) -> String {
    let (log, snap) = dir_sizes(settings);
    let mut out = String::with_capacity(settings.conf_text.len());
    for line in settings.conf_text.lines() {
        if read_only && line.starts_with("membership:") {
            break;
        }
        // Swapped, as ZooKeeperServer.dumpConf prints getDataDirSize/getLogDirSize.
        if line.starts_with("dataDirSize=") {
            let _ = writeln!(out, "dataDirSize={log}");
        } else if line.starts_with("dataLogSize=") {
            let _ = writeln!(out, "dataLogSize={snap}");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// What `envi` prints where the JVM has no Ferrokeeper counterpart: Java's own text for an
/// unset property.
const NA: &str = "<NA>";

/// `envi` (`Environment.list()`): the same keys, with Ferrokeeper's facts.
///
/// * `zookeeper.version`: [`ZK_VERSION`], as `srvr` prints it.
/// * `host.name`: the host name, canonicalised through `/etc/hosts` (the first name of
///   the address it maps to), as `getCanonicalHostName` does for a host listed there; no
///   DNS query is made.
/// * `java.version`: the Rust compiler that built the binary, when the build recorded it;
///   `java.vendor`, `java.library.path`, `java.compiler`: `<NA>`.
/// * `java.home`: the directory of the running executable; `java.class.path`: the
///   executable itself; `java.io.tmpdir`: the temporary directory.
/// * `os.*`, `user.*`: the kernel's and the process owner's facts, as Java reports them
///   (`Linux`, `amd64`, kernel release, passwd name and home, working directory).
/// * `os.memory.total`: the process's resident memory; `os.memory.max`: the machine's
///   memory; `os.memory.free`: the memory still available on the machine (the JVM reports
///   its heap: committed, maximum, unused). Each in whole MiB with `MB`, as Java prints.
///
/// Nothing from the configuration or the environment variables is printed, so no secret
/// can leak through it.
fn envi() -> String {
    let exe = std::env::current_exe().ok();
    let (user, home) = passwd_entry();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |text: &str, key: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let mb = |k: Option<u64>| k.map_or_else(|| NA.to_string(), |k| format!("{}MB", k / 1024));
    let entries: Vec<(&str, String)> = vec![
        ("zookeeper.version", full_version()),
        ("host.name", host_name()),
        (
            "java.version",
            option_env!("FERROKEEPER_RUSTC_VERSION")
                .unwrap_or(NA)
                .to_string(),
        ),
        ("java.vendor", NA.into()),
        (
            "java.home",
            exe.as_ref()
                .and_then(|e| e.parent())
                .map_or_else(|| NA.to_string(), |p| p.display().to_string()),
        ),
        (
            "java.class.path",
            exe.as_ref()
                .map_or_else(|| NA.to_string(), |p| p.display().to_string()),
        ),
        ("java.library.path", NA.into()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", NA.into()),
        ("os.name", os_name().into()),
        ("os.arch", os_arch().into()),
        (
            "os.version",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| NA.to_string(), |s| s.trim().to_string()),
        ),
        ("user.name", user.unwrap_or_else(|| NA.into())),
        ("user.home", home.unwrap_or_else(|| NA.into())),
        (
            "user.dir",
            std::env::current_dir().map_or_else(|_| NA.to_string(), |p| p.display().to_string()),
        ),
        ("os.memory.free", mb(kib(&meminfo, "MemAvailable:"))),
        ("os.memory.max", mb(kib(&meminfo, "MemTotal:"))),
        ("os.memory.total", mb(kib(&status, "VmRSS:"))),
    ];
    let mut out = String::from("Environment:\n");
    for (k, v) in entries {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// Java's `os.name` spelling.
fn os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Mac OS X",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// Java's `os.arch` spelling.
fn os_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

/// The host name, canonicalised through `/etc/hosts`.
fn host_name() -> String {
    let Some(name) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    else {
        return NA.into();
    };
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let entries: Vec<Vec<&str>> = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 2)
        .collect();
    let Some(addr) = entries
        .iter()
        .find(|f| f[1..].contains(&name.as_str()))
        .map(|f| f[0])
    else {
        return name;
    };
    entries
        .iter()
        .find(|f| f[0] == addr)
        .map_or(name, |f| f[1].to_string())
}

/// The process owner's name and home directory from `/etc/passwd` (`getpwuid`), falling
/// back to `$USER`/`$HOME`.
fn passwd_entry() -> (Option<String>, Option<String>) {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_string)
        });
    let from_passwd = uid.and_then(|uid| {
        std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2] == uid).then(|| (f[0].to_string(), f[5].to_string()))
            })
        })
    });
    match from_passwd {
        Some((u, h)) => (Some(u), Some(h)),
        None => (std::env::var("USER").ok(), std::env::var("HOME").ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1.0278), "1.0278");
        assert_eq!(java_double(0.8), "0.8");
        assert_eq!(java_double(3.25), "3.25");
        assert_eq!(java_double(1e-4), "1.0E-4");
        assert_eq!(java_double(12_345_678.5), "1.23456785E7");
    }

    #[test]
    fn dates_print_as_java_does_in_utc() {
        // Sun Nov 22 00:52:15 UTC 2026, as Debian's JVM printed it.
        assert_eq!(java_date(1_795_308_735_000), "Sun Nov 22 00:52:15 UTC 2026");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }

    #[test]
    fn socket_addresses_print_as_java_does() {
        assert_eq!(
            java_socket_addr(&"127.0.0.1:2181".parse().unwrap()),
            "/127.0.0.1:2181"
        );
        assert_eq!(
            java_socket_addr(&"[::1]:2181".parse().unwrap()),
            "/[0:0:0:0:0:0:0:1]:2181"
        );
    }

    #[test]
    fn answers_count_one_packet_per_8k_chunk() {
        assert_eq!(answer_packets(""), 0);
        assert_eq!(answer_packets("imok"), 1);
        assert_eq!(answer_packets(&"x".repeat(8192)), 1);
        assert_eq!(answer_packets(&"x".repeat(8193)), 2);
    }

    #[test]
    fn mntr_key_counts_match_3_8_0() {
        // 2 + gauges + counters + 5 per basic summary + 9 per percentile summary = 485
        // lines on a fresh 3.8.0 standalone server.
        use crate::ops::figures::*;
        let n = 2
            + GAUGES.len()
            + COUNTERS.len()
            + 5 * BASIC_SUMMARIES.len()
            + 9 * PERCENTILE_SUMMARIES.len();
        assert_eq!(n, 485);
    }
}
