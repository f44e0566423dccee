//! Apache ZooKeeper's log line layout (logback pattern
//! `%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n`), chosen with
//! `FERROKEEPER_LOG_LAYOUT=zookeeper`, so that tools and habits that grep ZooKeeper's logs
//! (`[myid:1] - WARN  [...]`) read Ferrokeeper's too:
//!
//! ```text
//! 2026-12-07 04:20:01,123 [myid:1] - INFO  [main:ferrokeeper@214] - Ferrokeeper 0.1.0 starting
//! ```
//!
//! The thread is the OS thread's name, the "class" the last segment of the event's module
//! path, the line its source line; the time is UTC. `myid` is empty until the
//! configuration names one (standalone upstream prints it empty too).

use std::fmt;
use std::sync::OnceLock;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

static MYID: OnceLock<i64> = OnceLock::new();

/// Records the server id printed in `[myid:N]` (first call wins).
pub fn set_myid(id: i64) {
    let _ = MYID.set(id);
}

/// The ZooKeeper layout.
pub struct ZooKeeperLayout;

impl<S, N> FormatEvent<S, N> for ZooKeeperLayout
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let myid = MYID.get().map(|i| i.to_string()).unwrap_or_default();
        let thread = std::thread::current();
        let class = meta
            .module_path()
            .and_then(|m| m.rsplit("::").next())
            .unwrap_or("?");
        write!(
            w,
            "{} [myid:{myid}] - {:<5} [{}:{class}@{}] - ",
            iso8601(now.as_millis() as i64),
            meta.level().as_str(),
            thread.name().unwrap_or("?"),
            meta.line().unwrap_or(0),
        )?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// logback's ISO8601 (`yyyy-MM-dd HH:mm:ss,SSS`) of epoch milliseconds, in UTC.
fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = zk_server::fourlw::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{:03}",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_logbacks_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01 00:00:00,000");
        assert_eq!(iso8601(1_481_052_856_236), "2016-12-06 19:34:16,236");
        assert_eq!(iso8601(951_782_400_007), "2000-02-29 00:00:00,007");
    }
}
