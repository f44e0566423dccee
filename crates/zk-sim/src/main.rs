//! `zk-sim --seed N | --seeds A..B [--nodes 3|5] [--observers K] [--mutation NAME]
//! [--nodes-mode] [--compact-on-restart] [--snap-count N] [--pauses] [--clients N] [--readers K]`: runs seeds, prints failures with their replay command and a
//! summary with election-time percentiles. `--nodes-mode` runs whole zk-nodes with
//! simulated clients (see the crate docs) instead of bare peers; `--compact-on-restart`
//! brings restarted peers back from a snapshot base (`SimConfig::compact_on_restart`);
//! `--snap-count N` (node mode) has members snapshot every N txns and bound their
//! in-memory logs (`SimConfig::snap_count`); `--pauses` adds process pauses (SIGSTOP and
//! SIGCONT) to the faults (`SimConfig::pauses`); `--clients N` sets node mode's simulated
//! clients (default 3), `--readers K` how many of them only read (default 0).

use std::process::ExitCode;

use zk_sim::{percentile, replay_command, run, SimConfig};
use zk_zab::Mutation;

fn usage() -> ExitCode {
    eprintln!("usage: zk-sim (--seed N | --seeds A..B) [--nodes 3|5] [--observers K] [--mutation none|count-vote-twice|commit-before-quorum|ack-newleader-before-persist|diff-without-truncate|sync-without-leader|keep-tree-on-truncate|count-observer-ack|sync-without-confirmation] [--nodes-mode] [--compact-on-restart] [--snap-count N] [--pauses] [--clients N] [--readers K]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seeds = (1u64, 1u64);
    let mut nodes = 3i64;
    let mut observers = 0i64;
    let mut mutation = Mutation::None;
    let mut mutation_arg = String::new();
    let mut nodes_mode = false;
    let mut compact = false;
    let mut snap_count = None;
    let mut pauses = false;
    let mut clients = None;
    let mut readers = 0usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--nodes-mode" {
            nodes_mode = true;
            mutation_arg.push_str(" --nodes-mode");
            continue;
        }
        if a == "--pauses" {
            pauses = true;
            mutation_arg.push_str(" --pauses");
            continue;
        }
        if a == "--compact-on-restart" {
            compact = true;
            mutation_arg.push_str(" --compact-on-restart");
            continue;
        }
        let Some(v) = it.next() else { return usage() };
        match a.as_str() {
            "--seed" => match v.parse() {
                Ok(s) => seeds = (s, s),
                Err(_) => return usage(),
            },
            "--seeds" => {
                let Some((a, b)) = v.split_once("..") else {
                    return usage();
                };
                match (a.parse(), b.parse()) {
                    (Ok(a), Ok(b)) if a <= b => seeds = (a, b),
                    _ => return usage(),
                }
            }
            "--snap-count" => match v.parse() {
                Ok(c @ 2..) => {
                    snap_count = Some(c);
                    mutation_arg.push_str(&format!(" --snap-count {c}"));
                }
                _ => return usage(),
            },
            "--clients" => match v.parse() {
                Ok(c @ 1..=64) => {
                    clients = Some(c);
                    mutation_arg.push_str(&format!(" --clients {c}"));
                }
                _ => return usage(),
            },
            "--readers" => match v.parse() {
                Ok(r) => {
                    readers = r;
                    mutation_arg.push_str(&format!(" --readers {r}"));
                }
                _ => return usage(),
            },
            "--nodes" => match v.parse() {
                Ok(n @ 1..=9) => nodes = n,
                _ => return usage(),
            },
            "--observers" => match v.parse() {
                Ok(k @ 0..=9) => {
                    observers = k;
                    mutation_arg.push_str(&format!(" --observers {k}"));
                }
                _ => return usage(),
            },
            "--mutation" => {
                mutation_arg.push_str(&format!(" --mutation {v}"));
                mutation = match v.as_str() {
                    "none" => Mutation::None,
                    "count-vote-twice" => Mutation::CountVoteTwice,
                    "commit-before-quorum" => Mutation::CommitBeforeQuorumAck,
                    "ack-newleader-before-persist" => Mutation::AckNewLeaderBeforePersist,
                    "diff-without-truncate" => Mutation::DiffWithoutTruncate,
                    "sync-without-leader" => Mutation::SyncWithoutLeader,
                    "keep-tree-on-truncate" => Mutation::KeepTreeOnTruncate,
                    "count-observer-ack" => Mutation::CountObserverAck,
                    "sync-without-confirmation" => Mutation::SyncWithoutConfirmation,
                    _ => return usage(),
                }
            }
            _ => return usage(),
        }
    }
    let single = seeds.0 == seeds.1;
    let mut elections = Vec::new();
    let mut recoveries = Vec::new();
    let mut failures = 0u64;
    let mut events = 0u64;
    let mut observer_commits = 0usize;
    let mut revalidations = 0usize;
    let mut snapshots = 0usize;
    let mut max_log = 0usize;
    let mut pauses_done = 0usize;
    let mut snaps_from_base = 0usize;
    for seed in seeds.0..=seeds.1 {
        let mut cfg = SimConfig::new(seed, nodes);
        cfg.nodes_mode = nodes_mode;
        cfg.observers = observers;
        cfg.compact_on_restart = compact;
        cfg.snap_count = snap_count;
        cfg.pauses = pauses;
        if let Some(c) = clients {
            cfg.clients = c;
        }
        cfg.readers = readers;
        cfg.mutation = mutation;
        cfg.verbose = single && std::env::var_os("ZK_SIM_VERBOSE").is_some();
        let o = run(cfg);
        events += o.events;
        observer_commits += o.observer_commits;
        revalidations += o.revalidations;
        snapshots += o.snapshots;
        max_log = max_log.max(o.max_log);
        pauses_done += o.pauses;
        snaps_from_base += o.snaps_from_base;
        if let Some(ms) = o.first_election_ms {
            elections.push(ms);
        }
        if let Some(ms) = o.recovery_ms {
            recoveries.push(ms);
        }
        if single {
            println!(
                "seed {seed}: {} events, {} committed, {} writes acked, {} reads, first election {:?} ms, recovery {:?} ms, trace {:016x}",
                o.events, o.committed, o.acked, o.reads, o.first_election_ms, o.recovery_ms, o.trace_hash
            );
        }
        if let Some(v) = &o.violation {
            failures += 1;
            println!(
                "FAIL seed {seed}: {v}\n  replay: {}{mutation_arg}",
                replay_command(seed, nodes)
            );
        }
    }
    elections.sort_unstable();
    recoveries.sort_unstable();
    let pct = |v: &[u64]| {
        format!(
            "p50 {:?} p90 {:?} p99 {:?} max {:?}",
            percentile(v, 50),
            percentile(v, 90),
            percentile(v, 99),
            v.last()
        )
    };
    println!(
        "{} seeds ({nodes} nodes, {observers} observers), {failures} failed, {events} events, {observer_commits} observer commits, {revalidations} REVALIDATEs, {snapshots} member snapshots, {snaps_from_base} SNAPs from a based leader, longest in-memory log {max_log}, {pauses_done} pauses; first election ms: {}; recovery after faults (leader + a write committed) ms: {}",
        seeds.1 - seeds.0 + 1,
        pct(&elections),
        pct(&recoveries)
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
