//! The Prometheus page Apache ZooKeeper 3.9's `PrometheusMetricsProvider` serves: `GET
//! /metrics` in the text format 0.0.4, ZooKeeper's bare metric names (no prefix), counters
//! without `_total`, summaries with quantile 0.5 (and 0.9, 0.99 for those with percentiles),
//! every sample printed as a Java double; then the standard `process_*` series and
//! Ferrokeeper's own figures under `ferrokeeper_`.
//!
//! Rendered at scrape time from [`Figures`]. The summaries Ferrokeeper measures
//! (`readlatency`, `updatelatency`, `fsynctime`) print the quantiles of simpleclient's
//! sliding 10-minute window ([`crate::summary`]) and `_count`/`_sum` since start; the others
//! print what simpleclient prints before a first sample (`NaN`, 0). The JVM's `jvm_*` series
//! have no counterpart and are not printed.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::figures::{self, Figures, Kind};
use super::OpsState;
use crate::fourlw::java_double;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` (and nothing else, as upstream's provider).
pub fn router(state: Arc<OpsState>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics_page))
        .with_state(state)
}

async fn metrics_page(State(state): State<Arc<OpsState>>) -> Response {
    metrics::counter!("ferrokeeper_metrics_scrapes_total").increment(1);
    let Some(f) = state.figures().await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "This ZooKeeper instance is not currently serving requests\n",
        )
            .into_response();
    };
    let mut out = String::with_capacity(64 * 1024);
    render(&f, &mut out);
    render_ferrokeeper(&state.stats, &mut out);
    render_process(&mut out);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out).into_response()
}

fn head(out: &mut String, name: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, v: f64) {
    let _ = writeln!(out, "{name}{labels} {}", go_double(v));
}

/// simpleclient's `doubleToGoString`: Java's `Double.toString`, with `+Inf`/`-Inf`/`NaN`.
fn go_double(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        java_double(v)
    }
}

/// The quantiles a summary prints (labels of [`crate::summary::PROMETHEUS_QUANTILES`]).
fn quantiles(percentiles: bool) -> &'static [&'static str] {
    const ALL: [&str; 3] = ["0.5", "0.9", "0.99"];
    if percentiles {
        &ALL
    } else {
        &ALL[..1]
    }
}

/// ZooKeeper's figures in the provider's format.
pub fn render(f: &Figures, out: &mut String) {
    for m in &f.metrics {
        match m.kind {
            Kind::Gauge(v) => {
                head(out, m.name, "gauge");
                sample(out, m.name, "", v.as_f64());
            }
            Kind::Counter(c) => {
                head(out, m.name, "counter");
                sample(out, m.name, "", c as f64);
            }
            Kind::Summary(s) => {
                head(out, m.name, "summary");
                for (q, v) in quantiles(s.percentiles).iter().zip(s.quantiles) {
                    sample(out, m.name, &format!("{{quantile=\"{q}\",}}"), v);
                }
                sample(out, &format!("{}_count", m.name), "", s.total_count as f64);
                sample(out, &format!("{}_sum", m.name), "", s.total_sum as f64);
            }
        }
    }
    for (name, per_ns) in &f.quota_sets {
        head(out, name, "gauge");
        for (ns, v) in per_ns {
            sample(
                out,
                name,
                &format!("{{key=\"{}\",}}", escape(ns)),
                *v as f64,
            );
        }
    }
    for name in figures::ENSEMBLE_GAUGES {
        head(out, name, "gauge");
        let v = figures::ensemble_gauge(f.tree.quorum.as_ref(), name).unwrap_or(0);
        sample(out, name, "", v as f64);
    }
    // Labelled sets with no member yet print their family and no sample, as simpleclient.
    for name in figures::BASIC_SUMMARY_SETS
        .iter()
        .chain(figures::PERCENTILE_SUMMARY_SETS)
    {
        head(out, name, "summary");
    }
    for name in figures::COUNTER_SETS {
        head(out, name, "counter");
    }
}

/// A label value in the text format: backslash, quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Ferrokeeper's own figures: requests by opcode (counted anyway, for the compatibility
/// matrix) and whatever went through the `metrics` facade.
fn render_ferrokeeper(stats: &crate::stats::Stats, out: &mut String) {
    let name = "ferrokeeper_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} Client requests by opcode\n# TYPE {name} counter"
    );
    for (op, n) in stats.op_counts() {
        sample(out, name, &format!("{{opcode=\"{op}\"}}"), n as f64);
    }
    let mut last = String::new();
    for (name, labels, counter, v) in super::facade::install().samples() {
        if name != last {
            let kind = if counter { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {name}\n# TYPE {name} {kind}");
            last = name.clone();
        }
        let labels = if labels.is_empty() {
            String::new()
        } else {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        };
        sample(out, &name, &labels, v);
    }
}

/// The standard process collector's series, from `/proc/self` (absent where it is not
/// readable).
pub fn render_process(out: &mut String) {
    let ticks = 100.0; // USER_HZ on every Linux architecture Ferrokeeper targets.
    let page = 4096.0;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name (which may contain spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok());
    // After ')': state is index 0, so stat(5) field k (1-based) is index k - 3.
    let (utime, stime, start, vsize, rss) = (field(11), field(12), field(19), field(20), field(21));
    if let (Some(u), Some(s)) = (utime, stime) {
        head(out, "process_cpu_seconds_total", "counter");
        sample(out, "process_cpu_seconds_total", "", (u + s) / ticks);
    }
    let (open, max) = figures::file_descriptors();
    if open >= 0 {
        head(out, "process_open_fds", "gauge");
        sample(out, "process_open_fds", "", open as f64);
    }
    if max >= 0 {
        head(out, "process_max_fds", "gauge");
        sample(out, "process_max_fds", "", max as f64);
    }
    if let Some(v) = vsize {
        head(out, "process_virtual_memory_bytes", "gauge");
        sample(out, "process_virtual_memory_bytes", "", v);
    }
    if let Some(r) = rss {
        head(out, "process_resident_memory_bytes", "gauge");
        sample(out, "process_resident_memory_bytes", "", r * page);
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    if let (Some(start), Some(boot)) = (start, boot) {
        head(out, "process_start_time_seconds", "gauge");
        sample(out, "process_start_time_seconds", "", boot + start / ticks);
    }
}
