//! zk-bench: a ZooKeeper load generator cheap enough never to be the bottleneck.
//!
//! It speaks the client wire directly (length-prefixed Jute frames built with zk-proto's
//! records), so the same binary measures Apache ZooKeeper and Ferrokeeper the same way.
//!
//! ```text
//!   thread 0 (current-thread runtime) ── session task ── TCP ──►  server
//!                                     ── session task ── TCP ──►
//!   thread 1 ...                          │
//!                                         └─ per wakeup: parse every reply in the read
//!                                            buffer, record latencies, append the next
//!                                            requests (pre-encoded frames, xid patched)
//!                                            to one write buffer, one write
//! ```
//!
//! * closed loop: each session keeps `depth` requests in flight;
//! * open loop: requests leave at fixed intended times (total `rate` per second), and a
//!   request's latency counts from its intended send time, so a server stall shows up in
//!   the percentiles instead of silently slowing the generator (coordinated omission);
//! * per-op HDR histograms (µs), merged across sessions and threads: p50, p99, p99.9, max;
//! * plaintext or TLS (rustls, [`wire::TlsClient`]), the connection an enum of the two
//!   ([`wire::Stream`]) so plaintext runs pay nothing for the option.
//!
//! * an ensemble: `--connect` may list several `host:port`s, comma-separated; session `i`
//!   connects to the `i % n`-th; [`availability`] times elections and failovers.
//!
//! What it does not do in a timed run: reconnect, follow redirects or check replies beyond
//! their error code. A connection loss ends the run with an error.

#![warn(missing_docs)]

pub mod availability;
pub mod hist;
pub mod mix;
pub mod wire;
pub mod workload;

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A socket error.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed a session's connection.
    #[error("the server closed the connection")]
    Closed,
    /// A reply that does not parse, or a refused handshake.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A bad option.
    #[error("bad option: {0}")]
    Option(String),
    /// The server did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// TLS: unreadable certificate or key files, or a refused handshake.
    #[error("TLS: {0}")]
    Tls(String),
}
