//! Four-letter words (`server/command/*Command.java`): the text each one answers.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use zk_core::session::SessionTable;
use zk_tree::DataTree;

use crate::settings::Settings;
use crate::stats::{Stats, ZK_VERSION};

/// What the core lends a four-letter word.
pub struct CoreView<'a> {
    /// Settings.
    pub settings: &'a Settings,
    /// Counters.
    pub stats: &'a Stats,
    /// The tree.
    pub tree: &'a DataTree,
    /// Sessions.
    pub sessions: &'a SessionTable,
    /// Open connections.
    pub connections: usize,
    /// Requests in flight.
    pub outstanding: usize,
    /// Session → connection.
    pub session_conns: &'a HashMap<i64, u64>,
}

fn server_stats(v: &CoreView<'_>, out: &mut String) {
    let (min, avg, max) = v.stats.latency();
    let _ = writeln!(out, "Latency min/avg/max: {min}/{avg:.4}/{max}");
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
    let _ = writeln!(out, "Connections: {}", v.connections);
    let _ = writeln!(out, "Outstanding: {}", v.outstanding);
    let _ = writeln!(out, "Zxid: 0x{:x}", v.tree.last_processed_zxid);
    let _ = writeln!(out, "Mode: standalone");
    // Upstream counts the root twice (it is stored under "" and "/").
    let _ = writeln!(out, "Node count: {}", v.tree.node_count() + 1);
}

/// The answer to `cmd` (already checked against the whitelist).
pub fn render(cmd: &str, v: &CoreView<'_>) -> String {
    let mut out = String::new();
    match cmd {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str("rw"),
        "srvr" | "stat" => {
            let _ = writeln!(out, "Zookeeper version: {ZK_VERSION}, built on unknown");
            if cmd == "stat" {
                let _ = writeln!(out, "Clients:");
                let _ = writeln!(out);
            }
            server_stats(v, &mut out);
        }
        "conf" => out.push_str(&v.settings.conf_text),
        "envi" => {
            let _ = writeln!(out, "Environment:");
            let _ = writeln!(out, "zookeeper.version={ZK_VERSION}, built on unknown");
            out.push_str(&v.settings.envi_text);
        }
        "srst" => {
            v.stats.reset();
            out.push_str("Server stats reset.\n");
        }
        "crst" => out.push_str("Connection stats reset.\n"),
        "mntr" => {
            let (min, avg, max) = v.stats.latency();
            let (data, child) = v.tree.watch_tables();
            let lines: Vec<(&str, String)> = vec![
                ("zk_version", format!("{ZK_VERSION}, built on unknown")),
                ("zk_server_state", "standalone".into()),
                ("zk_avg_latency", format!("{avg:.4}")),
                ("zk_max_latency", max.to_string()),
                ("zk_min_latency", min.to_string()),
                (
                    "zk_packets_received",
                    v.stats.packets_received.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "zk_packets_sent",
                    v.stats.packets_sent.load(Ordering::Relaxed).to_string(),
                ),
                ("zk_num_alive_connections", v.connections.to_string()),
                ("zk_outstanding_requests", v.outstanding.to_string()),
                ("zk_znode_count", (v.tree.node_count() + 1).to_string()),
                ("zk_watch_count", (data.len() + child.len()).to_string()),
                (
                    "zk_ephemerals_count",
                    v.tree
                        .all_ephemerals()
                        .map(|(_, p)| p.len())
                        .sum::<usize>()
                        .to_string(),
                ),
                (
                    "zk_approximate_data_size",
                    v.tree
                        .iter()
                        .map(|(p, n)| p.len() + n.data_len())
                        .sum::<usize>()
                        .to_string(),
                ),
                ("zk_global_sessions", v.sessions.len().to_string()),
                ("zk_local_sessions", "0".into()),
            ];
            for (k, val) in lines {
                let _ = writeln!(out, "{k}\t{val}");
            }
        }
        "wchs" => {
            let (data, child) = v.tree.watch_tables();
            let conns = data.watcher_count().max(child.watcher_count());
            let _ = writeln!(
                out,
                "{} connections watching {} paths",
                conns,
                data.path_count() + child.path_count()
            );
            let _ = writeln!(out, "Total watches:{}", data.len() + child.len());
        }
        "wchc" | "wchp" | "dump" | "cons" | "dirs" | "gtmk" | "stmk" | "hash" => {
            let _ = writeln!(out, "{cmd} output is not available yet");
        }
        _ => {}
    }
    out
}
