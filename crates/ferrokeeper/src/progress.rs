//! What `ferrokeeper import` and `export` show while they work: a progress bar on stderr when
//! stderr is a terminal, otherwise (a pipe, a log file, systemd) a log line every few
//! seconds, so a long migration is never silent and a short one prints nothing extra.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zk_storage::progress::Progress;

/// How often the log-line form reports.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A progress meter for one step of a migration, in bytes.
pub struct Meter {
    what: &'static str,
    bar: Option<ProgressBar>,
    total: AtomicU64,
    done: AtomicU64,
    next_log: Mutex<Instant>,
    every: Duration,
}

impl Meter {
    /// A meter for `what` (e.g. "reading Apache ZooKeeper's files"): a bar if stderr is a
    /// terminal, log lines otherwise.
    pub fn new(what: &'static str) -> Meter {
        if std::io::stderr().is_terminal() {
            // Hidden until the total is known (set_total), so no empty bar flashes.
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(what);
            Meter::with_bar(what, Some(bar), LOG_EVERY)
        } else {
            Meter::with_bar(what, None, LOG_EVERY)
        }
    }

    fn with_bar(what: &'static str, bar: Option<ProgressBar>, every: Duration) -> Meter {
        Meter {
            what,
            bar,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            next_log: Mutex::new(Instant::now() + every),
            every,
        }
    }

    /// Bytes processed so far and the total.
    pub fn position(&self) -> (u64, u64) {
        (self.done.load(Relaxed), self.total.load(Relaxed))
    }

    /// Ends the meter: the bar is removed (the caller logs the outcome).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The log line for the current position.
    fn line(&self) -> String {
        let (done, total) = self.position();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let pct = if total == 0 {
            100.0
        } else {
            100.0 * done.min(total) as f64 / total as f64
        };
        format!(
            "{}: {:.1} of {:.1} MiB ({pct:.0}%)",
            self.what,
            mib(done),
            mib(total)
        )
    }

    fn maybe_log(&self, now: Instant) -> Option<String> {
        let mut next = self.next_log.lock().unwrap_or_else(|p| p.into_inner());
        if now < *next {
            return None;
        }
        *next = now + self.every;
        Some(self.line())
    }
}

impl Progress for Meter {
    fn set_total(&self, total: u64) {
        self.total.store(total, Relaxed);
        self.done.store(0, Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(0);
            if bar.is_hidden() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
        }
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Relaxed);
        match &self.bar {
            Some(bar) => bar.inc(bytes),
            None => {
                if let Some(line) = self.maybe_log(Instant::now()) {
                    tracing::info!("{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_come_at_most_once_per_period() {
        let m = Meter::with_bar("reading", None, Duration::from_secs(5));
        m.set_total(4 * 1024 * 1024);
        m.advance(1024 * 1024);
        let t0 = Instant::now();
        assert_eq!(m.maybe_log(t0), None, "nothing before the first period");
        let t1 = t0 + Duration::from_secs(6);
        assert_eq!(
            m.maybe_log(t1).as_deref(),
            Some("reading: 1.0 of 4.0 MiB (25%)")
        );
        assert_eq!(m.maybe_log(t1 + Duration::from_secs(1)), None);
        m.advance(3 * 1024 * 1024);
        assert_eq!(
            m.maybe_log(t1 + Duration::from_secs(5)).as_deref(),
            Some("reading: 4.0 of 4.0 MiB (100%)")
        );
        // A restart (an older snapshot tried) starts from zero again.
        m.set_total(100);
        assert_eq!(m.position(), (0, 100));
    }
}
