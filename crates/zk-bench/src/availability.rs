//! Availability: how long until a server or an ensemble answers, measured from the client's
//! side. [`probe`] polls until a read (a restarted server serving its data) or a write (an
//! ensemble that has elected a leader) succeeds; [`failover`] kills an ensemble's leader
//! while sessions on the other members keep writing, and times the first write that
//! succeeds after the kill.
//!
//! Both try every host of the endpoint at once (one task each, [`Endpoint::each_host`]), as
//! a client given the whole connect string would find whichever member serves first. An
//! attempt is a fresh session (creating one is itself a write through the leader) and one
//! request; a failed attempt is retried after 10 ms.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::task::{JoinSet, LocalSet};
use zk_proto::request::Request;

use crate::wire::{self, Endpoint, Stream};
use crate::workload::{call_many, runtime, NODE_EXISTS};
use crate::BenchError;

/// Session timeout the probes ask for: short, so that sessions left behind by abandoned
/// attempts go away soon.
const PROBE_SESSION_MS: i32 = 10_000;
/// How long one attempt (connect and one request) may take before it is abandoned.
const ATTEMPT: Duration = Duration::from_secs(10);
/// Pause between a host's failed attempts: polling a server that is starting or electing,
/// there is no event to wait for.
const RETRY: Duration = Duration::from_millis(10);
/// How long a killed process may take to be gone.
const DEATH_LIMIT: Duration = Duration::from_secs(10);

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeOp {
    /// getData of the path.
    Read,
    /// setData of the path (any version): a transaction through the leader.
    Write,
}

impl ProbeOp {
    fn request(self, path: &str) -> Request {
        match self {
            ProbeOp::Read => wire::get_data(path, false),
            ProbeOp::Write => wire::set_data(path, &bytes::Bytes::from_static(b"probe")),
        }
    }
}

/// What [`probe`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// What was sent.
    pub op: ProbeOp,
    /// ms from the probe's start until the request succeeded.
    pub ready_ms: f64,
    /// When it succeeded, in ms since the Unix epoch (to subtract a launch time taken by
    /// another process).
    pub ready_unix_ms: f64,
    /// Attempts made, over every host.
    pub attempts: u64,
    /// The host that answered first.
    pub host: String,
}

/// Tries every host at once, each every 10 ms, to open a session and send `op` on `path`,
/// until one succeeds or `limit` passes.
pub fn probe(
    ep: &Endpoint,
    path: &str,
    op: ProbeOp,
    limit: Duration,
) -> Result<ProbeReport, BenchError> {
    let rt = runtime()?;
    let start = Instant::now();
    let hosts = ep.each_host();
    let first = LocalSet::new().block_on(&rt, async {
        let streams = hosts.iter().map(|_| None).collect();
        first_success(hosts, path, op, start + limit, streams).await
    })?;
    Ok(ProbeReport {
        op,
        ready_ms: ms(first.at - start),
        ready_unix_ms: unix_ms_at(first.at),
        attempts: first.attempts,
        host: first.host,
    })
}

/// What [`failover`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    /// The process killed.
    pub killed_pid: u32,
    /// ms from the kill (just before `kill -KILL` was run) until the first write sent after
    /// it succeeded.
    pub kill_to_write_ms: f64,
    /// ms from the kill until the process was gone (a zombie or reaped).
    pub kill_to_gone_ms: f64,
    /// Attempts made after the kill, over every host (the first on each host reuses the
    /// session it had before the kill).
    pub attempts: u64,
    /// The host whose write succeeded first.
    pub host: String,
}

/// Opens a session on every host of `ep` and writes `path` through each (created first if
/// missing), so that the ensemble is known to take writes; then kills `pid` (`kill -KILL`),
/// waits until it is gone, and tries writes through every host at once (first on the
/// sessions opened before, then on new ones) until one succeeds or `limit` passes. `ep`
/// should list the members that stay up.
pub fn failover(
    ep: &Endpoint,
    path: &str,
    pid: u32,
    limit: Duration,
) -> Result<FailoverReport, BenchError> {
    let rt = runtime()?;
    let hosts = ep.each_host();
    LocalSet::new().block_on(&rt, async {
        let mut streams = Vec::with_capacity(hosts.len());
        let write = ProbeOp::Write.request(path);
        for (i, host) in hosts.iter().enumerate() {
            let (mut s, _) = wire::connect(host, PROBE_SESSION_MS).await?;
            if i == 0 {
                let create = wire::create(path, &bytes::Bytes::new());
                call_many(&mut s, std::iter::once(create), &[NODE_EXISTS]).await?;
            }
            call_many(&mut s, std::iter::once(write.clone()), &[]).await?;
            streams.push(Some(s));
        }
        let killed = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdin(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            return Err(BenchError::Option(format!("kill -KILL {pid} failed")));
        }
        wait_gone(pid, DEATH_LIMIT).await?;
        let gone = Instant::now();
        let first = first_success(hosts, path, ProbeOp::Write, killed + limit, streams).await?;
        Ok(FailoverReport {
            killed_pid: pid,
            kill_to_write_ms: ms(first.at - killed),
            kill_to_gone_ms: ms(gone - killed),
            attempts: first.attempts,
            host: first.host,
        })
    })
}

/// The first success of [`first_success`].
struct First {
    at: Instant,
    attempts: u64,
    host: String,
}

/// Runs [`until_success`] on every host at once (`streams[i]`: a session to try first on
/// host `i`); returns at the first success, closing its session and abandoning the rest.
async fn first_success(
    hosts: Vec<Endpoint>,
    path: &str,
    op: ProbeOp,
    deadline: Instant,
    streams: Vec<Option<Stream>>,
) -> Result<First, BenchError> {
    let attempts = Rc::new(Cell::new(0u64));
    let mut set = JoinSet::new();
    for (host, stream) in hosts.into_iter().zip(streams) {
        let req = op.request(path);
        let attempts = attempts.clone();
        set.spawn_local(until_success(host, req, stream, deadline, attempts));
    }
    let mut last_err = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok((at, host, mut s))) => {
                set.abort_all();
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    wire::close_session(&mut s, i32::MAX),
                )
                .await;
                return Ok(First {
                    at,
                    attempts: attempts.get(),
                    host,
                });
            }
            Ok(Err(e)) => last_err = Some(e),
            Err(e) => last_err = Some(BenchError::Protocol(format!("probe task: {e}"))),
        }
    }
    Err(last_err.unwrap_or_else(|| BenchError::Option("no host to probe".into())))
}

/// Sends `req` on `stream` (if given) or on a new session to `ep`, again every 10 ms after
/// a failure, until it succeeds (returns when, the host and the session) or `deadline`
/// passes (the last failure).
async fn until_success(
    ep: Endpoint,
    req: Request,
    mut stream: Option<Stream>,
    deadline: Instant,
    attempts: Rc<Cell<u64>>,
) -> Result<(Instant, String, Stream), BenchError> {
    loop {
        attempts.set(attempts.get() + 1);
        let attempt = async {
            let mut s = match stream.take() {
                Some(s) => s,
                None => wire::connect(&ep, PROBE_SESSION_MS).await?.0,
            };
            call_many(&mut s, std::iter::once(req.clone()), &[]).await?;
            Ok::<_, BenchError>((Instant::now(), s))
        };
        let err = match tokio::time::timeout(ATTEMPT, attempt).await {
            Ok(Ok((at, s))) => return Ok((at, ep.addr.clone(), s)),
            Ok(Err(e)) => e,
            Err(_) => BenchError::Timeout(format!("{}: no answer in {ATTEMPT:?}", ep.addr)),
        };
        if Instant::now() >= deadline {
            return Err(BenchError::Timeout(format!(
                "{}: no success before the limit; last: {err}",
                ep.addr
            )));
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// The state letter of a `/proc/PID/stat` line (the field after the command's closing
/// parenthesis: the command itself may hold spaces and parentheses).
pub fn proc_state(stat: &str) -> Option<char> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Whether a process in this `/proc/PID/stat` state has exited (a zombie: its sockets are
/// closed, its parent has not reaped it yet).
fn exited(state: Option<char>) -> bool {
    matches!(state, Some('Z' | 'X'))
}

/// Waits (polling every ms: there is no event for another process's death) until `pid` has
/// no `/proc` entry or is a zombie.
async fn wait_gone(pid: u32, limit: Duration) -> Result<(), BenchError> {
    let start = Instant::now();
    let stat = format!("/proc/{pid}/stat");
    loop {
        match std::fs::read_to_string(&stat) {
            Err(_) => return Ok(()),
            Ok(s) if exited(proc_state(&s)) => return Ok(()),
            Ok(_) => {}
        }
        if start.elapsed() > limit {
            return Err(BenchError::Timeout(format!(
                "pid {pid} still alive {limit:?} after kill -KILL"
            )));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `at` in ms since the Unix epoch (the wall clock now, less the time since `at`).
fn unix_ms_at(at: Instant) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ms(now.saturating_sub(at.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_state_reads_past_the_command_name() {
        assert_eq!(proc_state("123 (java) S 1 123 123 0"), Some('S'));
        // A command holding ") Z" itself: the last parenthesis counts.
        assert_eq!(proc_state("9 (a) Z (b)) R 1 9"), Some('R'));
        assert_eq!(proc_state("77 (ferrokeeper) Z 1"), Some('Z'));
        assert_eq!(proc_state("garbage"), None);
        assert_eq!(proc_state("1 (x)"), None);
        assert!(exited(Some('Z')) && exited(Some('X')));
        assert!(!exited(Some('S')) && !exited(Some('R')) && !exited(None));
    }

    #[test]
    fn probe_ops_send_reads_and_writes() {
        assert!(matches!(
            ProbeOp::Read.request("/a"),
            Request::GetData(r) if !r.watch
        ));
        assert!(matches!(
            ProbeOp::Write.request("/a"),
            Request::SetData(r) if r.version == -1
        ));
        assert_eq!(serde_json::to_string(&ProbeOp::Write).unwrap(), "\"write\"");
    }

    #[test]
    fn unix_time_of_an_instant_is_now_less_its_age() {
        let t = Instant::now();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1e3;
        let then = unix_ms_at(t);
        assert!(then <= now + 1.0 && then > now - 1_000.0, "{then} vs {now}");
    }

    #[test]
    fn no_host_answering_ends_at_the_limit_with_the_cause() {
        // A port nothing listens on (bound, then closed).
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let ep = Endpoint::plain(&format!("{addr},{addr}"));
        let err = probe(&ep, "/", ProbeOp::Write, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, BenchError::Timeout(_)), "{err:?}");
        assert!(err.to_string().contains(&addr), "{err}");
    }
}
