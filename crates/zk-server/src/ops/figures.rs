//! The one registry every operator read renders from: `mntr`, the AdminServer's `monitor`
//! and the Prometheus `/metrics` page all print a [`Figures`].
//!
//! ```text
//!   core ──(Query::Figures: tree, sessions, watches)──► TreeFigures ─┐
//!   Stats (relaxed atomics written on the hot path) ─────────────────┤
//!   Distributions (read/update latency, fsync; crate::summary) ──────┼─► Figures ─► mntr
//!   LogStats (fsync) ────────────────────────────────────────────────┘      ├──► monitor
//!                                                                           └──► /metrics
//! ```
//!
//! Every figure is read at render time (ZooKeeper's gauges are pull-style too) from counters
//! the server keeps anyway, except the three measured summaries' distributions, which
//! `metricsProvider.className=…NullMetricsProvider` turns off. The names, kinds and printing
//! order are Apache ZooKeeper's (`ServerMetrics`, `registerMetrics`); figures Ferrokeeper
//! does not keep print what upstream prints before their first event.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use zk_tree::quota::StatsTrack;
use zk_tree::DataTree;

use crate::fourlw::CoreView;
use crate::stats::Stats;

/// The gauges `ZooKeeperServer.registerMetrics` registers, in the order 3.8.0's metrics
/// provider prints them (after `version` and `server_state`).
pub(crate) const GAUGES: &[&str] = &[
    "ephemerals_count",
    "num_alive_connections",
    "avg_latency",
    "outstanding_requests",
    "znode_count",
    "global_sessions",
    "non_mtls_remote_conn_count",
    "last_client_response_size",
    "packets_sent",
    "packets_received",
    "max_client_response_size",
    "connection_drop_probability",
    "watch_count",
    "auth_failed_count",
    "min_latency",
    "max_file_descriptor_count",
    "approximate_data_size",
    "open_file_descriptor_count",
    "local_sessions",
    "uptime",
    "max_latency",
    "outstanding_tls_handshake",
    "min_client_response_size",
    "non_mtls_local_conn_count",
];

/// The quota gauge sets, in printing order; each prints `<namespace>_<name>` per namespace.
pub(crate) const QUOTA_GAUGE_SETS: &[&str] = &[
    "quota_bytes_limit_per_namespace",
    "quota_count_usage_per_namespace",
    "quota_count_limit_per_namespace",
    "quota_bytes_usage_per_namespace",
];

/// `ServerMetrics` counters, in printing order.
pub(crate) const COUNTERS: &[&str] = &[
    "proposal_count",
    "watch_bytes",
    "outstanding_changes_removed",
    "throttled_ops",
    "stale_requests_dropped",
    "large_requests_rejected",
    "insecure_admin_count",
    "connection_rejected",
    "cnxn_closed_without_zk_server_running",
    "sessionless_connections_expired",
    "looking_count",
    "dead_watchers_queued",
    "stale_requests",
    "connection_drop_count",
    "learner_proposal_received_count",
    "digest_mismatches_count",
    "dead_watchers_cleared",
    "response_packet_cache_hits",
    "bytes_received_count",
    "add_dead_watcher_stall_time",
    "request_throttle_wait_count",
    "requests_not_forwarded_to_commit_processor",
    "response_packet_cache_misses",
    "ensemble_auth_success",
    "prep_processor_request_queued",
    "learner_commit_received_count",
    "stale_replies",
    "connection_request_count",
    "response_bytes",
    "ensemble_auth_fail",
    "diff_count",
    "response_packet_get_children_cache_misses",
    "connection_revalidate_count",
    "quit_leading_due_to_disloyal_voter",
    "snap_count",
    "unrecoverable_error_count",
    "unsuccessful_handshake",
    "commit_count",
    "stale_sessions_expired",
    "response_packet_get_children_cache_hits",
    "sync_processor_request_queued",
    "outstanding_changes_queued",
    "request_commit_queued",
    "ensemble_auth_skip",
    "skip_learner_request_to_next_processor_count",
    "tls_handshake_exceeded",
    "revalidate_count",
];

/// Counters Apache ZooKeeper 3.9 added for the AdminServer's `snapshot` and `restore`
/// (ZOOKEEPER-4570/4571). Printed after the 3.8 counters, so that `mntr` is 3.8.0's with
/// these lines added.
pub(crate) const COUNTERS_3_9: &[&str] = &[
    "snapshot_error_count",
    "snapshot_rate_limited_count",
    "restore_error_count",
    "restore_rate_limited_count",
];

/// Summaries without percentiles Apache ZooKeeper 3.9 added (`restore`'s time, ms), printed
/// after the 3.8 ones.
pub(crate) const BASIC_SUMMARIES_3_9: &[&str] = &["restore_time"];

/// `ServerMetrics` summaries without percentiles (avg, min, max, cnt, sum), in order.
pub(crate) const BASIC_SUMMARIES: &[&str] = &[
    "socket_closing_time",
    "proposal_process_time",
    "leader_unavailable_time",
    "node_created_watch_count",
    "session_queues_drained",
    "write_commit_proc_req_queued",
    "connection_token_deficit",
    "read_commit_proc_req_queued",
    "node_deleted_watch_count",
    "startup_txns_load_time",
    "sync_processor_queue_size",
    "follower_sync_time",
    "prep_processor_queue_size",
    "fsynctime",
    "inflight_snap_count",
    "reads_issued_from_session_queue",
    "learner_request_processor_queue_size",
    "snapshottime",
    "unavailable_time",
    "startup_txns_loaded",
    "reads_after_write_in_session_queue",
    "requests_in_session_queue",
    "write_commit_proc_issued",
    "prep_process_time",
    "pending_session_queue_size",
    "time_waiting_empty_pool_in_commit_processor_read_ms",
    "commit_process_time",
    "dbinittime",
    "inflight_diff_count",
    "netty_queued_buffer_capacity",
    "election_time",
    "commit_commit_proc_req_queued",
    "sync_processor_batch_size",
    "node_children_watch_count",
    "write_batch_time_in_commit_processor",
    "read_commit_proc_issued",
    "concurrent_request_processing_in_commit_processor",
    "observer_sync_time",
    "node_changed_watch_count",
    "sync_process_time",
    "startup_snap_load_time",
];

/// `ServerMetrics` summaries with percentiles (avg, min, max, cnt, sum, p50, p95, p99,
/// p999), in order.
pub(crate) const PERCENTILE_SUMMARIES: &[&str] = &[
    "prep_processor_queue_time_ms",
    "jvm_pause_time_ms",
    "close_session_prep_time",
    "read_commitproc_time_ms",
    "updatelatency",
    "local_write_committed_time_ms",
    "request_throttle_queue_time_ms",
    "readlatency",
    "quorum_ack_latency",
    "om_commit_process_time_ms",
    "read_final_proc_time_ms",
    "commit_propagation_latency",
    "dead_watchers_cleaner_latency",
    "write_final_proc_time_ms",
    "proposal_ack_creation_latency",
    "proposal_latency",
    "om_proposal_process_time_ms",
    "sync_processor_queue_and_flush_time_ms",
    "propagation_latency",
    "server_write_committed_time_ms",
    "sync_processor_queue_time_ms",
    "sync_processor_queue_flush_time_ms",
    "write_commitproc_time_ms",
];

/// Gauges only quorum servers register (`QuorumZooKeeperServer`, `LeaderZooKeeperServer`,
/// `FollowerZooKeeperServer`). Standalone Apache ZooKeeper has none of them; the Prometheus
/// page carries them (0 where this server has no such gauge) so that dashboards and alert
/// rules written for ensembles find them. `mntr` and `monitor` print them only where
/// upstream registers them (see [`ensemble_gauge`]).
pub(crate) const ENSEMBLE_GAUGES: &[&str] = &[
    "quorum_size",
    "learners",
    "synced_followers",
    "synced_non_voting_followers",
    "synced_observers",
    "pending_syncs",
    "leader_uptime",
    "last_proposal_size",
    "max_proposal_size",
    "min_proposal_size",
];

/// Summary sets (label `key`): without percentiles.
pub(crate) const BASIC_SUMMARY_SETS: &[&str] = &[
    "write_per_namespace",
    "read_per_namespace",
    "learner_handler_qp_size",
];

/// Summary sets (label `key`): with percentiles.
pub(crate) const PERCENTILE_SUMMARY_SETS: &[&str] = &["learner_handler_qp_time_ms", "ack_latency"];

/// Counter sets (label `key`).
pub(crate) const COUNTER_SETS: &[&str] = &["quota_exceeded_error_per_namespace"];

/// The value of ensemble gauge `name` ([`ENSEMBLE_GAUGES`]) on this server: `None` where a
/// Java server of this role registers no such gauge (the quorum gauges on a standalone
/// server, the leader's on a follower). Proposal sizes and the leader's uptime are not
/// kept: they print -1 and 0, what upstream prints before its first proposal.
pub fn ensemble_gauge(q: Option<&zk_zab::peer::PeerFigures>, name: &str) -> Option<i64> {
    let q = q?;
    if name == "quorum_size" {
        return Some(q.quorum_size as i64);
    }
    let l = q.leader?;
    Some(match name {
        "learners" => l.learners as i64,
        "synced_followers" => l.broadcast.synced_followers as i64,
        "synced_observers" => l.broadcast.synced_observers as i64,
        "pending_syncs" => l.broadcast.pending_syncs as i64,
        "last_proposal_size" | "max_proposal_size" | "min_proposal_size" => -1,
        _ => 0,
    })
}

/// A gauge's value: ZooKeeper's gauges are longs or doubles, and print accordingly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A `long`/`int` gauge.
    Int(i64),
    /// A `double` gauge.
    Float(f64),
}

impl Value {
    /// The value as a double (Prometheus prints every sample as one).
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
        }
    }
}

/// What `ServerMetrics` summaries hold (`AvgMinMaxCounter`; with percentiles,
/// `AvgMinMaxPercentileCounter`), and what the Prometheus provider's summary of the same
/// name prints. Summaries Ferrokeeper does not measure print what upstream prints before
/// their first sample (0 in `mntr`, `NaN` quantiles in Prometheus).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// With percentiles (`ADVANCED` summary level).
    pub percentiles: bool,
    /// Samples since `srst`.
    pub count: u64,
    /// Their sum.
    pub sum: u64,
    /// The smallest (0 before the first).
    pub min: u64,
    /// The largest (0 before the first).
    pub max: u64,
    /// `mntr`'s `p50`, `p95`, `p99`, `p999` (0 before the first sample).
    pub mntr_percentiles: [u64; 4],
    /// Prometheus `_count`: samples since start.
    pub total_count: u64,
    /// Prometheus `_sum`.
    pub total_sum: u64,
    /// Prometheus quantiles 0.5, 0.9, 0.99 over the sliding window (`NaN` when empty).
    pub quantiles: [f64; 3],
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            percentiles: false,
            count: 0,
            sum: 0,
            min: 0,
            max: 0,
            mntr_percentiles: [0; 4],
            total_count: 0,
            total_sum: 0,
            quantiles: [f64::NAN; 3],
        }
    }
}

impl Summary {
    /// The summary of a measured distribution.
    pub fn of(percentiles: bool, s: &crate::summary::Snapshot) -> Self {
        Summary {
            percentiles,
            count: s.count,
            sum: s.sum,
            min: s.min,
            max: s.max,
            mntr_percentiles: s.percentiles,
            total_count: s.count_since_start,
            total_sum: s.sum_since_start,
            quantiles: s.window_quantiles,
        }
    }

    /// The mean rounded half-up to 4 decimals (`AvgMinMaxCounter.getAvg`), 0.0 with no
    /// samples.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            crate::stats::round4(self.sum as f64 / self.count as f64)
        }
    }
}

/// One figure's kind and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A gauge.
    Gauge(Value),
    /// A monotonic counter.
    Counter(u64),
    /// A summary.
    Summary(Summary),
}

/// One named figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// ZooKeeper's name for it.
    pub name: &'static str,
    /// Kind and value.
    pub kind: Kind,
}

/// What only the core can tell: figures of the tree, the sessions and the watches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeFigures {
    /// `ZKDatabase.getNodeCount` (the root counts twice, as upstream's node map holds it so).
    pub node_count: usize,
    /// The last applied zxid.
    pub last_zxid: i64,
    /// Requests in flight.
    pub outstanding: usize,
    /// Ephemeral nodes.
    pub ephemerals: usize,
    /// Open sessions.
    pub sessions: usize,
    /// Data and child watches.
    pub watches: usize,
    /// Connections holding a data watch (`wchs`).
    pub data_watch_connections: usize,
    /// Paths with a data watch (`wchs`).
    pub data_watch_paths: usize,
    /// Data watches (`wchs`).
    pub data_watches: usize,
    /// Local sessions (a read-only server's).
    pub local_sessions: usize,
    /// `DataTree.approximateDataSize`: path plus data length of every node.
    pub approximate_data_size: usize,
    /// The quota gauge sets, in [`QUOTA_GAUGE_SETS`]' order: namespace → value.
    pub quotas: [BTreeMap<String, i64>; 4],
    /// `zk_server_state`: `standalone`, `leader`, `follower`, `observer` (or `looking`).
    pub server_state: &'static str,
    /// An ensemble member's quorum figures (`None` standalone).
    pub quorum: Option<zk_zab::peer::PeerFigures>,
}

impl TreeFigures {
    /// Reads them from the core's state.
    pub fn of(v: &CoreView<'_>) -> Self {
        let (data, child) = v.tree.watch_tables();
        TreeFigures {
            node_count: v.tree.node_count() + 1,
            last_zxid: v.tree.last_processed_zxid,
            outstanding: v.outstanding,
            ephemerals: v.tree.all_ephemerals().map(|(_, p)| p.len()).sum(),
            sessions: v.sessions.len(),
            watches: data.len() + child.len(),
            data_watch_connections: data.watcher_count(),
            data_watch_paths: data.path_count(),
            data_watches: data.len(),
            local_sessions: v.local_sessions.map_or(0, |t| t.len()),
            approximate_data_size: v.tree.approximate_data_size(),
            quotas: quota_gauges(v.tree),
            server_state: v.role.name(),
            quorum: v.quorum,
        }
    }
}

/// Everything an operator reads, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// `zk_version`.
    pub version: String,
    /// `zk_server_state`.
    pub server_state: &'static str,
    /// Gauges, counters and summaries in `mntr`'s order (gauges first).
    pub metrics: Vec<Metric>,
    /// The quota gauge sets: (name, namespace → value).
    pub quota_sets: Vec<(&'static str, BTreeMap<String, i64>)>,
    /// What the core reported.
    pub tree: TreeFigures,
}

impl Figures {
    /// The figures of now, from the core's report and the counters. Under
    /// `NullMetricsProvider` there are none besides the version and the state
    /// (`NullMetricsProvider.dump` prints nothing).
    pub fn collect(tree: TreeFigures, s: &Stats) -> Self {
        let mut f = Self::collect_all(tree, s);
        if !s.metrics_on() {
            f.metrics.clear();
            f.quota_sets.clear();
        }
        f
    }

    fn collect_all(tree: TreeFigures, s: &Stats) -> Self {
        const R: Ordering = Ordering::Relaxed;
        let (min, avg, max) = s.latency();
        let (resp_last, resp_min, resp_max) = s.response_sizes();
        let (fd_open, fd_max) = file_descriptors();
        let int = |v: usize| Value::Int(v as i64);
        let mut metrics = Vec::with_capacity(
            GAUGES.len()
                + COUNTERS.len()
                + COUNTERS_3_9.len()
                + BASIC_SUMMARIES.len()
                + BASIC_SUMMARIES_3_9.len()
                + PERCENTILE_SUMMARIES.len(),
        );
        for &name in GAUGES {
            let value = match name {
                "ephemerals_count" => int(tree.ephemerals),
                "num_alive_connections" => int(s.conns.len()),
                "avg_latency" => Value::Float(avg),
                "outstanding_requests" => int(tree.outstanding),
                "znode_count" => int(tree.node_count),
                "global_sessions" => int(tree.sessions),
                "local_sessions" => int(tree.local_sessions),
                "last_client_response_size" => Value::Int(resp_last),
                "packets_sent" => Value::Int(s.packets_sent.load(R) as i64),
                "packets_received" => Value::Int(s.packets_received.load(R) as i64),
                "max_client_response_size" => Value::Int(resp_max),
                "connection_drop_probability" => Value::Float(0.0),
                "watch_count" => int(tree.watches),
                "min_latency" => Value::Int(min as i64),
                "max_file_descriptor_count" => Value::Int(fd_max),
                "approximate_data_size" => int(tree.approximate_data_size),
                "open_file_descriptor_count" => Value::Int(fd_open),
                "uptime" => Value::Int(s.elapsed_ms()),
                "max_latency" => Value::Int(max as i64),
                "min_client_response_size" => Value::Int(resp_min),
                // No local sessions, no TLS handshakes counted, no connection dropping, no
                // auth-failure counting (upstream counts only failed TLS handshakes).
                _ => Value::Int(0),
            };
            metrics.push(Metric {
                name,
                kind: Kind::Gauge(value),
            });
        }
        let admin = &s.admin;
        for &name in COUNTERS.iter().chain(COUNTERS_3_9) {
            let value = match name {
                "connection_rejected" => s.connections_rejected.load(R),
                "bytes_received_count" => s.bytes_received.load(R),
                "connection_request_count" => s.connection_requests.load(R),
                "stale_sessions_expired" => s.sessions_expired.load(R),
                "snapshot_error_count" => admin.snapshot_errors.load(R),
                "snapshot_rate_limited_count" => admin.snapshot_rate_limited.load(R),
                "restore_error_count" => admin.restore_errors.load(R),
                "restore_rate_limited_count" => admin.restore_rate_limited.load(R),
                _ => 0,
            };
            metrics.push(Metric {
                name,
                kind: Kind::Counter(value),
            });
        }
        let summaries = BASIC_SUMMARIES
            .iter()
            .chain(BASIC_SUMMARIES_3_9)
            .map(|n| (n, false))
            .chain(PERCENTILE_SUMMARIES.iter().map(|n| (n, true)));
        for (&name, percentiles) in summaries {
            let measured = match name {
                // One sample per group commit (append + fsync), as FileTxnLog.commit.
                "fsynctime" => Some(&s.log.fsync),
                "readlatency" => Some(&s.read_latency),
                "updatelatency" => Some(&s.update_latency),
                "restore_time" => Some(&s.admin.restore_time),
                _ => None,
            };
            let summary = match measured {
                Some(d) => Summary::of(percentiles, &d.snapshot()),
                None => Summary {
                    percentiles,
                    ..Summary::default()
                },
            };
            metrics.push(Metric {
                name,
                kind: Kind::Summary(summary),
            });
        }
        let quota_sets = QUOTA_GAUGE_SETS
            .iter()
            .copied()
            .zip(tree.quotas.iter().cloned())
            .collect();
        Figures {
            version: format!("{}, built on unknown", crate::stats::ZK_VERSION),
            server_state: if tree.server_state.is_empty() {
                "standalone"
            } else {
                tree.server_state
            },
            metrics,
            quota_sets,
            tree,
        }
    }

    /// The figure called `name`.
    pub fn get(&self, name: &str) -> Option<Kind> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.kind)
    }
}

/// `QuotaMetricsUtils`: per top-level namespace, the quota limits (the hard limit when set)
/// and usages found in the leaves of `/zookeeper/quota`, in [`QUOTA_GAUGE_SETS`]' order.
fn quota_gauges(tree: &DataTree) -> [BTreeMap<String, i64>; 4] {
    let mut sets: [BTreeMap<String, i64>; 4] = Default::default();
    let root = zk_tree::tree::QUOTA_PATH;
    let mut stack: Vec<Vec<u8>> = vec![root.to_vec()];
    while let Some(path) = stack.pop() {
        let Some(node) = tree.node(&path) else {
            continue;
        };
        if !node.children.is_empty() {
            for c in &node.children {
                let mut p = path.clone();
                p.push(b'/');
                p.extend_from_slice(c);
                stack.push(p);
            }
            continue;
        }
        let is_limit = path.ends_with(zk_tree::quota::LIMIT_NODE.as_bytes());
        let is_stat = path.ends_with(zk_tree::quota::STAT_NODE.as_bytes());
        let (Some(data), true) = (&node.data, is_limit || is_stat) else {
            continue;
        };
        // PathUtils.getTopNamespace of the path below /zookeeper/quota.
        let rest = String::from_utf8_lossy(&path[root.len()..]);
        let Some(ns) = rest.split('/').nth(1).filter(|n| !n.is_empty()) else {
            continue;
        };
        let t = StatsTrack::parse(data);
        let hard_or = |hard: i64, soft: i64| if hard > -1 { hard } else { soft };
        let values: [Option<i64>; 4] = if is_limit {
            [
                Some(hard_or(t.get("byteHardLimit"), t.bytes())),
                None,
                Some(hard_or(t.get("countHardLimit"), t.count())),
                None,
            ]
        } else {
            [None, Some(t.count()), None, Some(t.bytes())]
        };
        for (set, val) in sets.iter_mut().zip(values) {
            if let Some(val) = val {
                *set.entry(ns.to_string()).or_insert(0) += val;
            }
        }
    }
    sets
}

/// `OSMXBean`'s open and maximum file descriptor counts (-1 where unknown).
pub(crate) fn file_descriptors() -> (i64, i64) {
    let open = std::fs::read_dir("/proc/self/fd").map_or(-1, |d| d.count() as i64);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<i64>().ok())
        })
        .unwrap_or(-1);
    (open, max)
}
