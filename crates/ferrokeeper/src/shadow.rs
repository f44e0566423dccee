//! `ferrokeeper shadow`: the shadow proxy of `zk-shadow` as a command (see docs/shadow.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

/// `ferrokeeper shadow` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where clients connect (`host:port`).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The server that answers clients, e.g. the production Apache ZooKeeper (`host:port`).
    #[arg(long, value_name = "HOST:PORT")]
    primary: String,
    /// The server every session is mirrored to and compared with (`host:port`).
    #[arg(long, value_name = "HOST:PORT")]
    candidate: String,
    /// Serve the counters over HTTP (Prometheus text format) on this address.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Frames buffered per connection for the comparer; beyond it the session stops being
    /// compared (counted as dropped), the client is never slowed down.
    #[arg(long, value_name = "FRAMES", default_value_t = 4096)]
    queue: usize,
    /// Milliseconds a closed session waits for the candidate's last answers.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    drain_ms: u64,
    /// Longest time, in milliseconds, a request is held back from the candidate for causal
    /// order or a sequential name's mapping (docs/shadow.md).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    hold_ms: u64,
}

/// Runs the proxy until SIGTERM or Ctrl-C, then logs the counters.
pub fn main(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let metrics = Arc::new(zk_shadow::Metrics::default());
        let (tx, rx) = tokio::sync::watch::channel(false);
        if let Some(addr) = args.metrics_listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --metrics-listen {addr}"))?;
            tracing::info!("shadow metrics on http://{}/metrics", l.local_addr()?);
            tokio::spawn(zk_shadow::serve_metrics(l, metrics.clone(), rx.clone()));
        }
        let mut config = zk_shadow::Config::new(args.primary, args.candidate);
        config.queue_capacity = args.queue.max(1);
        config.drain_timeout = Duration::from_millis(args.drain_ms);
        config.mapping_wait = Duration::from_millis(args.hold_ms);
        tracing::info!(
            "shadow proxy on {}: primary {}, candidate {}",
            listener.local_addr()?,
            config.primary,
            config.candidate
        );
        let proxy = tokio::spawn(zk_shadow::run(listener, config, metrics.clone(), rx));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            res = proxy => {
                res.context("proxy task")?.context("proxy stopped")?;
            }
        }
        let _ = tx.send(true);
        tracing::info!("shadow summary: {}", metrics.summary());
        Ok(())
    })
}
