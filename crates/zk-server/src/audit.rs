//! Where the audit log goes (`audit.enable=true` in zoo.cfg, or
//! `-Dzookeeper.audit.enable=true`). The node decides what is audited
//! ([`zk_node::AuditEvent`]); this writes the lines out, as Apache ZooKeeper's
//! `Slf4jAuditLogger` does:
//!
//! * always to the server's log, under the target `org.apache.zookeeper.audit.Slf4jAuditLogger`
//!   (INFO for success and invoked, ERROR for failure), which is where upstream's default
//!   logback configuration sends them (its audit appender is commented out);
//! * and, when [`AuditSettings::file`] is set (`FERROKEEPER_AUDIT_LOG=<path>`), appended to
//!   that file in the layout of upstream's `RFAAUDIT` appender
//!   (`%d{ISO8601} %p %c{2}: %m%n`, time in UTC), e.g. `$ZOO_LOG_DIR/zookeeper_audit.log`.
//!   The file is not rotated (upstream rolls at 10 MB × 10): use logrotate's `copytruncate`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use zk_node::{AuditEvent, AuditResult};

/// The logger name upstream logs audit lines under.
pub const TARGET: &str = "org.apache.zookeeper.audit.Slf4jAuditLogger";

/// The audit log's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The server's user: `user` of serverStart/serverStop and of ephemeral deletions
    /// (`ZKAuditProvider.getZKUser`: the JVM's `user.name`).
    pub user: String,
    /// Also append the lines to this file.
    pub file: Option<PathBuf>,
}

impl AuditSettings {
    /// On when `zookeeper.audit.enable` is `true`; the file from `FERROKEEPER_AUDIT_LOG`.
    pub fn from_properties(sys: &crate::config::SystemProperties) -> Option<Self> {
        sys.get_boolean("zookeeper.audit.enable")
            .then(|| AuditSettings {
                user: system_user(),
                file: std::env::var_os("FERROKEEPER_AUDIT_LOG")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from),
            })
    }
}

/// The name of the user the process runs as (what the JVM reports as `user.name`): `USER`,
/// else the name `/etc/passwd` gives the process's uid, else `<NA>` (`Login.SYSTEM_USER`).
pub fn system_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    uid.and_then(|uid| {
        passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid).then(|| name.to_string())
        })
    })
    .unwrap_or_else(|| "<NA>".to_string())
}

/// Writes audit lines.
#[derive(Debug)]
pub struct AuditLog {
    file: Option<(PathBuf, Mutex<std::fs::File>)>,
}

impl AuditLog {
    /// Opens the file (appending), if one is set. A file that cannot be opened is logged
    /// and left out: the lines still go to the server's log.
    pub fn open(settings: &AuditSettings) -> Self {
        let file = settings.file.as_ref().and_then(|p| {
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p);
            match opened {
                Ok(f) => Some((p.clone(), Mutex::new(f))),
                Err(e) => {
                    tracing::error!("cannot open the audit log {}: {e}", p.display());
                    None
                }
            }
        });
        tracing::info!("ZooKeeper audit is enabled.");
        AuditLog { file }
    }

    /// Writes one line.
    pub fn write(&self, e: &AuditEvent) {
        let failed = e.result == AuditResult::Failure;
        if failed {
            tracing::error!(target: TARGET, "{e}");
        } else {
            tracing::info!(target: TARGET, "{e}");
        }
        if let Some((path, f)) = &self.file {
            let level = if failed { "ERROR" } else { "INFO" };
            let line = format!("{} {level} audit.Slf4jAuditLogger: {e}\n", iso8601_now());
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(err) = f.write_all(line.as_bytes()) {
                tracing::warn!("writing the audit log {}: {err}", path.display());
            }
        }
    }
}

/// Logback's `%d{ISO8601}` (`yyyy-MM-dd HH:mm:ss,SSS`), in UTC.
fn iso8601_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = crate::fourlw::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02},{:03}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}
