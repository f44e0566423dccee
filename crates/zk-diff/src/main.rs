//! `zk-diff`: differential testing of Ferrokeeper against Apache ZooKeeper.
//!
//! ```text
//!   seed ──► Gen ──op──► Exec ──same request──► Apache ZooKeeper ──┐
//!             ▲                  └────────────► Ferrokeeper ─────┤ answers
//!             └── ZooKeeper's answer (model)  ◄── Norm ◄─────────┘ compared as text
//! ```
//!
//! A seed decides a stream of client operations over several sessions ([`gen`]); each is sent
//! to both servers in lock step ([`exec`]) and both answers are normalised ([`norm`]) and
//! compared. The first difference stops the seed: the tool prints the seed, the op, both
//! answers, and a shrunk op list that still ends in the same difference.
//! See `compat-tests/differential/README.md`.

#![warn(missing_docs)]

mod exec;
mod gen;
mod jute;
mod norm;

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;

use exec::Exec;
use gen::{Gen, Op};

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Run seeded workloads against Apache ZooKeeper and Ferrokeeper and compare")]
struct Args {
    /// Apache ZooKeeper (the oracle), host:port.
    #[arg(long)]
    zk: String,
    /// Ferrokeeper, host:port.
    #[arg(long)]
    fk: String,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Number of seeds (first_seed, first_seed+1, ...).
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// Operations per seed.
    #[arg(long, default_value_t = 2000)]
    ops: usize,
    /// Concurrent sessions per seed.
    #[arg(long, default_value_t = 4)]
    sessions: usize,
    /// Session expiries per seed (each costs about a second).
    #[arg(long, default_value_t = 1)]
    expiries: usize,
    /// Time budget for shrinking one difference, seconds (0: do not shrink).
    #[arg(long, default_value_t = 120)]
    shrink_secs: u64,
    /// Keep going after a seed with a difference.
    #[arg(long)]
    keep_going: bool,
    /// Print every op and both answers.
    #[arg(long)]
    verbose: bool,
}

/// The root znode of a seed's attempt (always the same length: shrinking swaps them in place).
fn root_for(seed: u64, attempt: u32) -> String {
    format!("/zk-diff-{seed:016x}-{:04}", attempt % 10_000)
}

/// A difference: the op index and both normalised answers.
struct Diff {
    index: usize,
    texts: [String; 2],
}

/// Replays concrete `ops` under `root`; returns the first difference.
fn replay(args: &Args, ops: &[Op], root: &str) -> Result<Option<Diff>> {
    let mut ex = Exec::start([&args.zk, &args.fk], root, args.sessions)?;
    for (i, op) in ops.iter().enumerate() {
        let st = ex.step(op)?;
        if st.ran && st.texts[0] != st.texts[1] {
            ex.finish();
            return Ok(Some(Diff {
                index: i,
                texts: st.texts,
            }));
        }
    }
    ex.finish();
    Ok(None)
}

/// Runs one seed; returns the op list up to and including the first difference.
fn run_seed(args: &Args, seed: u64) -> Result<Option<(Vec<Op>, Diff)>> {
    let root = root_for(seed, 0);
    let mut g = Gen::new(seed, &root, args.sessions, args.ops, args.expiries);
    let mut ex = Exec::start([&args.zk, &args.fk], &root, args.sessions)?;
    let mut ops = Vec::new();
    while let Some(op) = g.next_op() {
        let st = ex.step(&op)?;
        if args.verbose {
            println!(
                "#{} {}\n  zk: {}\n  fk: {}",
                ops.len(),
                op.describe(&root),
                st.texts[0],
                st.texts[1]
            );
        }
        g.observe(&op, st.oracle.0, &st.oracle.1);
        ops.push(op);
        if st.texts[0] != st.texts[1] {
            ex.finish();
            let index = ops.len() - 1;
            return Ok(Some((
                ops,
                Diff {
                    index,
                    texts: st.texts,
                },
            )));
        }
    }
    ex.finish();
    Ok(None)
}

/// Greedy shrinking: removes chunks of ops (halving the chunk size) while the replay still
/// ends in a difference at its last op.
fn shrink(args: &Args, seed: u64, ops: Vec<Op>) -> Result<(Vec<Op>, Option<Diff>, u32)> {
    let root0 = root_for(seed, 0);
    let deadline = Instant::now() + Duration::from_secs(args.shrink_secs);
    let mut attempt = 0u32;
    let mut cur = ops;
    let mut last: Option<Diff> = None;
    let mut chunk = (cur.len() / 2).max(1);
    loop {
        let mut i = 0;
        while i + 1 < cur.len() {
            if Instant::now() >= deadline {
                return Ok((cur, last, attempt));
            }
            let end = (i + chunk).min(cur.len() - 1);
            let cand: Vec<Op> = cur[..i].iter().chain(&cur[end..]).cloned().collect();
            attempt += 1;
            let root = root_for(seed, attempt);
            let rerooted: Vec<Op> = cand.iter().map(|o| o.reroot(&root0, &root)).collect();
            match replay(args, &rerooted, &root)? {
                Some(d) if d.index == cand.len() - 1 => {
                    cur = cand;
                    last = Some(d);
                }
                _ => i += chunk,
            }
        }
        if chunk == 1 {
            return Ok((cur, last, attempt));
        }
        chunk /= 2;
    }
}

fn report(args: &Args, seed: u64, ops: Vec<Op>, diff: Diff) -> Result<()> {
    let root = root_for(seed, 0);
    println!(
        "DIFFERENCE seed={seed} at op #{} of {}",
        diff.index, args.ops
    );
    println!("  op: {}", ops[diff.index].describe(&root));
    println!("  Apache ZooKeeper: {}", diff.texts[0]);
    println!("  Ferrokeeper:      {}", diff.texts[1]);
    if args.shrink_secs == 0 {
        return Ok(());
    }
    let t0 = Instant::now();
    let n = ops.len();
    let (small, last, attempts) = shrink(args, seed, ops)?;
    println!(
        "  shrunk from {n} to {} ops ({attempts} replays, {:.1}s); reproduction:",
        small.len(),
        t0.elapsed().as_secs_f64()
    );
    for (i, op) in small.iter().enumerate() {
        println!("    {i:4} {}", op.describe(&root));
    }
    if let Some(d) = last {
        println!("  last op, Apache ZooKeeper: {}", d.texts[0]);
        println!("  last op, Ferrokeeper:      {}", d.texts[1]);
    }
    println!(
        "  replay: zk-diff --zk ... --fk ... --first-seed {seed} --seeds 1 --ops {}",
        args.ops
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut failed = Vec::new();
    let t_all = Instant::now();
    for seed in args.first_seed..args.first_seed + args.seeds {
        let t0 = Instant::now();
        match run_seed(&args, seed)? {
            None => println!(
                "seed {seed}: {} ops, no difference ({:.1}s)",
                args.ops,
                t0.elapsed().as_secs_f64()
            ),
            Some((ops, diff)) => {
                report(&args, seed, ops, diff)?;
                failed.push(seed);
                if !args.keep_going {
                    break;
                }
            }
        }
    }
    println!(
        "zk-diff: {} seeds x {} ops, {} with a difference{} ({:.1}s)",
        args.seeds,
        args.ops,
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {failed:?}")
        },
        t_all.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
