//! `zk-bench`: the command line of the load generator (see the library's docs). Every
//! subcommand prints one JSON object on stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use zk_bench::availability::{self, ProbeOp};
use zk_bench::mix::Mix;
use zk_bench::wire::{Endpoint, TlsClient};
use zk_bench::workload::{self, RunConfig};

#[derive(Parser, Debug)]
#[command(
    name = "zk-bench",
    about = "ZooKeeper load generator on raw Jute frames"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// TLS options (every subcommand).
#[derive(Args, Debug, Clone)]
struct TlsArgs {
    /// Connect over TLS (the server's secureClientPort); needs --tls-ca.
    #[arg(long, requires = "tls_ca")]
    tls: bool,
    /// PEM file of the CA certificates the server's certificate must chain to.
    #[arg(long, requires = "tls", value_name = "PEM")]
    tls_ca: Option<PathBuf>,
    /// PEM file of a client certificate chain to present (with --tls-key).
    #[arg(long, requires_all = ["tls", "tls_key"], value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[arg(long, requires_all = ["tls", "tls_cert"], value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Name checked in the server's certificate (default: the host of --connect).
    #[arg(long, requires = "tls")]
    tls_server_name: Option<String>,
}

impl TlsArgs {
    fn endpoint(&self, addr: &str) -> Result<Endpoint> {
        let Some(ca) = self.tls_ca.as_deref().filter(|_| self.tls) else {
            return Ok(Endpoint::plain(addr));
        };
        let client = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
        let tls = TlsClient::new(ca, client, self.tls_server_name.as_deref())?;
        Ok(Endpoint::tls(addr, tls))
    }
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Server `host:port`.
    #[arg(long, default_value = "127.0.0.1:2181")]
    connect: String,
    #[command(flatten)]
    tls: TlsArgs,
    /// Client threads (each a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Sessions connecting at once, per thread.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// A timed run of an op mix, closed loop (`--depth`) or open loop (`--rate`).
    Run {
        #[command(flatten)]
        common: Common,
        /// An op (get, set, create, delete, exists, children, multi) or a mix by
        /// percentage: `get=90,set=10`.
        #[arg(long, default_value = "get")]
        mix: String,
        /// Sessions.
        #[arg(long, default_value_t = 1)]
        sessions: usize,
        /// Requests in flight per session (closed loop).
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Open loop: requests per second in total, latency from the intended send time.
        #[arg(long)]
        rate: Option<f64>,
        /// Measured seconds.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Warm-up seconds (run, not measured).
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Bytes of data written.
        #[arg(long, default_value_t = 100)]
        value_size: usize,
        /// Keys to pick from (created first unless --no-setup).
        #[arg(long, default_value_t = 1000)]
        keys: u64,
        /// Do not create the keys first.
        #[arg(long)]
        no_setup: bool,
        /// Seed of the op and key choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Creates keys 0..count (about 30-byte paths) with many creates in flight.
    Load {
        #[command(flatten)]
        common: Common,
        /// Keys.
        #[arg(long)]
        count: u64,
        /// Bytes of data per key.
        #[arg(long, default_value_t = 100)]
        value_size: usize,
        /// Sessions.
        #[arg(long, default_value_t = 16)]
        sessions: usize,
        /// Creates in flight per session.
        #[arg(long, default_value_t = 128)]
        depth: usize,
    },
    /// Opens sessions (connect rate), runs --hold while they are open, closes them.
    Sessions {
        #[command(flatten)]
        common: Common,
        /// Sessions.
        #[arg(long)]
        count: usize,
        /// Shell command run while every session is open; its output goes in the report.
        #[arg(long)]
        hold: Option<String>,
    },
    /// Sessions each set exists-watches on keys, then --hold runs while they are set.
    Watches {
        #[command(flatten)]
        common: Common,
        /// Sessions.
        #[arg(long)]
        sessions: usize,
        /// Watches per session.
        #[arg(long)]
        per_session: u64,
        /// Keys the watches spread over.
        #[arg(long)]
        keys: u64,
        /// Requests in flight per session.
        #[arg(long, default_value_t = 64)]
        depth: usize,
        /// Shell command run while the watches are set.
        #[arg(long)]
        hold: Option<String>,
    },
    /// Watch fan-out: sessions watch one node, another sets it; time to the last notification.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Watching sessions.
        #[arg(long)]
        sessions: usize,
        /// Rounds.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Polls until a getData (restart time) or, with --write, a setData (election time) of a
    /// path succeeds; every host of --connect at once.
    Probe {
        /// Server `host:port`, or several, comma-separated.
        #[arg(long, default_value = "127.0.0.1:2181")]
        connect: String,
        #[command(flatten)]
        tls: TlsArgs,
        /// The path to read (or write).
        #[arg(long, default_value = "/zkbench/k/p00000/n0000000")]
        path: String,
        /// Send setData instead of getData.
        #[arg(long)]
        write: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300.0)]
        limit: f64,
    },
    /// Writes through every host of --connect, kills --kill-pid (an ensemble's leader, not in
    /// --connect), and times the first write that succeeds after the kill.
    Failover {
        /// The members that stay up, `host:port`, comma-separated.
        #[arg(long)]
        connect: String,
        #[command(flatten)]
        tls: TlsArgs,
        /// The process to `kill -KILL`.
        #[arg(long)]
        kill_pid: u32,
        /// The znode written (created if missing).
        #[arg(long, default_value = "/zkbench-failover")]
        path: String,
        /// Give up this many seconds after the kill.
        #[arg(long, default_value_t = 120.0)]
        limit: f64,
    },
}

fn secs(s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("bad number of seconds: {s}"))
}

fn print(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            common,
            mix,
            sessions,
            depth,
            rate,
            duration,
            warmup,
            value_size,
            keys,
            no_setup,
            seed,
        } => {
            let ep = common.tls.endpoint(&common.connect)?;
            let mut cfg = RunConfig::new(&common.connect);
            cfg.endpoint = ep.clone();
            cfg.mix = Mix::parse(&mix)?;
            cfg.sessions = sessions;
            cfg.depth = depth;
            cfg.threads = common.threads;
            cfg.connect_concurrency = common.connect_concurrency;
            cfg.rate = rate;
            cfg.duration = secs(duration)?;
            cfg.warmup = secs(warmup)?;
            cfg.value_size = value_size;
            cfg.keys = keys;
            cfg.seed = seed;
            if !no_setup {
                workload::ensure_parents(&ep, keys)?;
                workload::per_session(
                    &ep,
                    4,
                    1,
                    128,
                    4,
                    workload::load_plan(keys, 4, value_size),
                    None,
                )?;
            }
            let report = workload::run(&cfg)?;
            eprintln!(
                "{mix}{}: {:.0} ops/s, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs, {} errors",
                report
                    .tls
                    .as_deref()
                    .map(|t| format!(" over {t}"))
                    .unwrap_or_default(),
                report.ops_per_sec,
                report.all.p50_us,
                report.all.p99_us,
                report.all.p999_us,
                report.all.max_us,
                report.errors
            );
            print(&report)
        }
        Cmd::Load {
            common,
            count,
            value_size,
            sessions,
            depth,
        } => {
            let ep = common.tls.endpoint(&common.connect)?;
            workload::ensure_parents(&ep, count)?;
            let r = workload::per_session(
                &ep,
                sessions,
                common.threads,
                depth,
                common.connect_concurrency,
                workload::load_plan(count, sessions, value_size),
                None,
            )?;
            print(&r)
        }
        Cmd::Sessions {
            common,
            count,
            hold,
        } => {
            let none: Arc<workload::Plan> = Arc::new(|_, _| None);
            let r = workload::per_session(
                &common.tls.endpoint(&common.connect)?,
                count,
                common.threads,
                1,
                common.connect_concurrency,
                none,
                hold.as_deref(),
            )?;
            print(&r)
        }
        Cmd::Watches {
            common,
            sessions,
            per_session,
            keys,
            depth,
            hold,
        } => {
            let r = workload::per_session(
                &common.tls.endpoint(&common.connect)?,
                sessions,
                common.threads,
                depth,
                common.connect_concurrency,
                workload::watch_plan(per_session, keys),
                hold.as_deref(),
            )?;
            print(&r)
        }
        Cmd::Fanout {
            common,
            sessions,
            rounds,
        } => {
            let r = workload::fanout(
                &common.tls.endpoint(&common.connect)?,
                sessions,
                rounds,
                common.connect_concurrency,
            )?;
            print(&r)
        }
        Cmd::Probe {
            connect,
            tls,
            path,
            write,
            limit,
        } => {
            let op = if write { ProbeOp::Write } else { ProbeOp::Read };
            print(&availability::probe(
                &tls.endpoint(&connect)?,
                &path,
                op,
                secs(limit)?,
            )?)
        }
        Cmd::Failover {
            connect,
            tls,
            kill_pid,
            path,
            limit,
        } => {
            let r =
                availability::failover(&tls.endpoint(&connect)?, &path, kill_pid, secs(limit)?)?;
            eprintln!(
                "killed {kill_pid}: first write after {:.0} ms (through {}, {} attempts)",
                r.kill_to_write_ms, r.host, r.attempts
            );
            print(&r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_options_parse() {
        let cli = Cli::try_parse_from([
            "zk-bench",
            "run",
            "--connect",
            "127.0.0.1:9",
            "--mix",
            "get=90,set=10",
            "--sessions",
            "64",
            "--depth",
            "16",
            "--rate",
            "5000",
            "--threads",
            "2",
        ])
        .unwrap();
        match cli.cmd {
            Cmd::Run {
                common,
                mix,
                sessions,
                depth,
                rate,
                duration,
                keys,
                ..
            } => {
                assert_eq!(common.connect, "127.0.0.1:9");
                assert_eq!(common.threads, 2);
                assert_eq!(mix, "get=90,set=10");
                assert_eq!((sessions, depth), (64, 16));
                assert_eq!(rate, Some(5000.0));
                assert_eq!(duration, 5.0);
                assert_eq!(keys, 1000);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tls_options_parse_and_need_a_ca() {
        let cli = Cli::try_parse_from([
            "zk-bench",
            "run",
            "--tls",
            "--tls-ca",
            "/x/ca.pem",
            "--tls-cert",
            "/x/c.pem",
            "--tls-key",
            "/x/k.pem",
            "--tls-server-name",
            "localhost",
        ])
        .unwrap();
        let Cmd::Run { common, .. } = cli.cmd else {
            panic!("{:?}", cli.cmd)
        };
        assert!(common.tls.tls);
        assert_eq!(common.tls.tls_ca.as_deref(), Some("/x/ca.pem".as_ref()));
        assert_eq!(common.tls.tls_server_name.as_deref(), Some("localhost"));
        // --tls without a CA, a CA without --tls, a certificate without its key.
        assert!(Cli::try_parse_from(["zk-bench", "run", "--tls"]).is_err());
        assert!(Cli::try_parse_from(["zk-bench", "run", "--tls-ca", "ca.pem"]).is_err());
        assert!(Cli::try_parse_from([
            "zk-bench",
            "run",
            "--tls",
            "--tls-ca",
            "ca.pem",
            "--tls-cert",
            "c.pem"
        ])
        .is_err());
        // A CA file that does not exist is an error, not a panic.
        let cli = Cli::try_parse_from([
            "zk-bench",
            "probe",
            "--tls",
            "--tls-ca",
            "/nonexistent/ca.pem",
        ])
        .unwrap();
        let Cmd::Probe { tls, connect, .. } = cli.cmd else {
            panic!()
        };
        let err = tls.endpoint(&connect).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ensemble_options_parse() {
        let cli = Cli::try_parse_from([
            "zk-bench",
            "probe",
            "--connect",
            "127.0.0.1:1,127.0.0.1:2",
            "--write",
            "--path",
            "/",
        ])
        .unwrap();
        let Cmd::Probe {
            connect,
            write,
            path,
            ..
        } = cli.cmd
        else {
            panic!("{:?}", cli.cmd)
        };
        assert!(write);
        assert_eq!(path, "/");
        assert_eq!(connect, "127.0.0.1:1,127.0.0.1:2");
        let cli = Cli::try_parse_from([
            "zk-bench",
            "failover",
            "--connect",
            "127.0.0.1:1,127.0.0.1:2",
            "--kill-pid",
            "4242",
        ])
        .unwrap();
        let Cmd::Failover {
            kill_pid,
            path,
            limit,
            ..
        } = cli.cmd
        else {
            panic!("{:?}", cli.cmd)
        };
        assert_eq!((kill_pid, limit), (4242, 120.0));
        assert_eq!(path, "/zkbench-failover");
        // Whom to kill and where to write are not optional; a pid is a number.
        assert!(Cli::try_parse_from(["zk-bench", "failover", "--kill-pid", "1"]).is_err());
        assert!(Cli::try_parse_from(["zk-bench", "failover", "--connect", "h:1"]).is_err());
        assert!(Cli::try_parse_from([
            "zk-bench",
            "failover",
            "--connect",
            "h:1",
            "--kill-pid",
            "x"
        ])
        .is_err());
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(Cli::try_parse_from(["zk-bench", "run", "--depth", "x"]).is_err());
        assert!(Cli::try_parse_from(["zk-bench", "load"]).is_err()); // --count missing
        assert!(Cli::try_parse_from(["zk-bench", "frob"]).is_err());
        assert!(secs(-1.0).is_err());
    }
}
