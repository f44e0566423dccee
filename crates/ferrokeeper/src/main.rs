//! `ferrokeeper [--config zoo.cfg] [-Dkey=value ...]`: a standalone server; with no
//! configuration, on 127.0.0.1:2181 with data in ./data.

use std::path::PathBuf;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let mut config: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    let mut props: Vec<(String, String)> = Vec::new();
    while let Some(a) = args.next() {
        if a == "--config" || a == "-c" {
            config = Some(PathBuf::from(args.next().context("--config needs a file")?));
        } else if let Some(kv) = a.strip_prefix("-D") {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            props.push((k.to_string(), v.to_string()));
        } else if config.is_none() && !a.starts_with('-') {
            config = Some(PathBuf::from(a));
        } else {
            anyhow::bail!(
                "unknown argument {a:?}; usage: ferrokeeper [--config zoo.cfg] [-Dkey=value ...]"
            );
        }
    }
    let mut settings = zk_server::Settings::default();
    let mut addr = "127.0.0.1:2181".to_string();
    if let Some(path) = &config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                props.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    let mut port = 2181;
    let mut host = "0.0.0.0".to_string();
    let mut have_addr = false;
    for (k, v) in &props {
        match k.as_str() {
            "tickTime" => settings.tick_ms = v.parse().context("tickTime")?,
            "clientPort" => port = v.parse().context("clientPort")?,
            "clientPortAddress" => {
                host = v.clone();
                have_addr = true;
            }
            "maxClientCnxns" => settings.max_client_cnxns = v.parse().context("maxClientCnxns")?,
            "4lw.commands.whitelist" | "zookeeper.4lw.commands.whitelist" => {
                settings.four_letter_whitelist = if v.trim() == "*" {
                    None
                } else {
                    Some(v.split(',').map(|s| s.trim().to_string()).collect())
                }
            }
            "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                settings.extended_types = v == "true"
            }
            "znode.container.checkIntervalMs" => {
                settings.container_check_interval =
                    std::time::Duration::from_millis(v.parse().context(k.clone())?)
            }
            "zookeeper.DigestAuthenticationProvider.superDigest" => {
                settings.auth.super_digest = Some(v.clone())
            }
            _ => {}
        }
    }
    settings.min_session_timeout = 2 * settings.tick_ms;
    settings.max_session_timeout = 20 * settings.tick_ms;
    if config.is_some() {
        addr = format!(
            "{}:{port}",
            if have_addr { host.as_str() } else { "0.0.0.0" }
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("shutting down");
            let _ = tx.send(true);
        });
        let store = zk_storage::mem::MemStore::new();
        zk_server::run(
            settings,
            listener,
            zk_tree::DataTree::new(),
            None,
            Box::new(store),
            rx,
        )
        .await
        .context("server stopped")
    })
}
