//! The proxy's counters and a minimal HTTP endpoint that serves them in the Prometheus text
//! format (`GET` anything: the same page).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Counters, shared by every connection of one proxy.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Client connections relayed to the primary.
    pub connections: AtomicU64,
    /// Sessions whose handshake was mirrored to the candidate.
    pub sessions: AtomicU64,
    /// Replies compared (one per request both servers answered).
    pub replies_compared: AtomicU64,
    /// Watch events compared (paired by order within a session).
    pub events_compared: AtomicU64,
    /// Differences found (each also logged as one line).
    pub differences: AtomicU64,
    /// Frames the relay could not queue for the comparer (queue full).
    pub dropped: AtomicU64,
    /// Connections the comparer stopped following (queue overflow, unparsable frames,
    /// candidate failure mid-session).
    pub desynced_sessions: AtomicU64,
    /// Candidate connections that failed (connect, handshake, IO).
    pub candidate_errors: AtomicU64,
    /// Requests the primary answered but the candidate did not before the session ended.
    pub unanswered: AtomicU64,
    /// Watch events one server delivered and the other had not when the session ended.
    pub unpaired_events: AtomicU64,
    /// Requests sent to the candidate when their hold (causal fence, sequential-name
    /// mapping) timed out: their comparison may show ordering differences.
    pub hold_timeouts: AtomicU64,
    /// Comparers that have finished (their connection closed and drained, or abandoned).
    pub comparers_done: AtomicU64,
    done: tokio::sync::Notify,
}

impl Metrics {
    /// Counts a finished comparer and wakes [`Metrics::wait_comparers_done`].
    pub(crate) fn comparer_done(&self) {
        self.comparers_done.fetch_add(1, Ordering::SeqCst);
        self.done.notify_waiters();
    }

    /// Waits until at least `n` comparers have finished: everything their sessions did has
    /// been compared and counted.
    pub async fn wait_comparers_done(&self, n: u64) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.comparers_done.load(Ordering::SeqCst) >= n {
                return;
            }
            notified.await;
        }
    }

    /// Every counter with its name and help text, in a fixed order.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (
                "connections",
                "client connections relayed",
                g(&self.connections),
            ),
            (
                "sessions",
                "sessions mirrored to the candidate",
                g(&self.sessions),
            ),
            (
                "replies_compared",
                "replies compared",
                g(&self.replies_compared),
            ),
            (
                "events_compared",
                "watch events compared",
                g(&self.events_compared),
            ),
            ("differences", "differences found", g(&self.differences)),
            (
                "dropped_frames",
                "frames dropped: comparer queue full",
                g(&self.dropped),
            ),
            (
                "desynced_sessions",
                "connections no longer compared",
                g(&self.desynced_sessions),
            ),
            (
                "candidate_errors",
                "candidate connection failures",
                g(&self.candidate_errors),
            ),
            (
                "unanswered",
                "requests the candidate did not answer",
                g(&self.unanswered),
            ),
            (
                "unpaired_events",
                "watch events without a counterpart",
                g(&self.unpaired_events),
            ),
            (
                "hold_timeouts",
                "requests sent after their hold timed out",
                g(&self.hold_timeouts),
            ),
            (
                "comparers_done",
                "connections fully compared or abandoned",
                g(&self.comparers_done),
            ),
        ]
    }

    /// The Prometheus text exposition of [`Metrics::snapshot`], names prefixed
    /// `ferrokeeper_shadow_` and suffixed `_total`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, v) in self.snapshot() {
            out.push_str(&format!(
                "# HELP ferrokeeper_shadow_{name}_total {help}\n# TYPE ferrokeeper_shadow_{name}_total counter\nferrokeeper_shadow_{name}_total {v}\n"
            ));
        }
        out
    }

    /// One line: `name=value` for every counter.
    pub fn summary(&self) -> String {
        self.snapshot()
            .into_iter()
            .map(|(n, _, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Answers every HTTP request on `listener` with [`Metrics::render`] until `shutdown`.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut sock, _)) = accepted else { continue };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    // Read the request head (bounded), then answer whatever it asked.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => break,
                        }
                    }
                    let body = metrics.render();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
