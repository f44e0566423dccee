//! File names in a data directory (`Util.getZxidFromName`, `makeLogName`,
//! `makeSnapshotName`, `SnapStream.getStreamMode`).

use std::path::{Path, PathBuf};

use super::JavaFormatError;

/// Prefix of snapshot files.
pub const SNAPSHOT_PREFIX: &str = "snapshot";
/// Prefix of txn log files.
pub const LOG_PREFIX: &str = "log";
/// The subdirectory of `dataDir` (and `dataLogDir`) that holds the files
/// (`FileTxnSnapLog.version + VERSION`).
pub const VERSION_DIR: &str = "version-2";

/// The zxid in `<prefix>.<hex>[.anything]`, as `Util.getZxidFromName`: the first two
/// dot-separated parts must be the prefix and a hex number that fits an i64 (an optional
/// sign is accepted, as `Long.parseLong(s, 16)` accepts it).
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    let mut parts = name.split('.');
    if parts.next()? != prefix {
        return None;
    }
    i64::from_str_radix(parts.next()?, 16).ok()
}

/// `log.<hex zxid>`.
pub fn log_name(zxid: i64) -> String {
    format!("{LOG_PREFIX}.{:x}", zxid as u64)
}

/// `snapshot.<hex zxid>` plus the compression's extension.
pub fn snapshot_name(zxid: i64, compression: Compression) -> String {
    format!(
        "{SNAPSHOT_PREFIX}.{:x}{}",
        zxid as u64,
        compression.extension()
    )
}

/// How a snapshot file is compressed (`SnapStream.StreamMode`). Chosen by the file name's
/// last extension, case-insensitively, as upstream does: `.gz`, `.snappy`, anything else plain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// `CHECKED`: the stream as is.
    Plain,
    /// `GZIP`: a gzip stream (`java.util.zip.GZIPOutputStream`).
    Gzip,
    /// `SNAPPY`: snappy-java's `SnappyOutputStream` framing (see [`super::snappy`]).
    Snappy,
}

impl Compression {
    /// The mode upstream would use to read `file_name`.
    pub fn from_file_name(file_name: &str) -> Self {
        // Java's String.split drops trailing empty parts, and needs more than one part.
        let parts: Vec<&str> = file_name.trim_end_matches('.').split('.').collect();
        if parts.len() < 2 {
            return Compression::Plain;
        }
        let ext = parts[parts.len() - 1];
        if ext.eq_ignore_ascii_case("gz") {
            Compression::Gzip
        } else if ext.eq_ignore_ascii_case("snappy") {
            Compression::Snappy
        } else {
            Compression::Plain
        }
    }

    /// The file name extension, dot included (empty for plain).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Plain => "",
            Compression::Gzip => ".gz",
            Compression::Snappy => ".snappy",
        }
    }
}

/// A file of a data directory with the zxid its name carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Full path.
    pub path: PathBuf,
    /// The zxid in the name.
    pub zxid: i64,
}

/// The files in `dir` whose names are `<prefix>.<hex zxid>...`, sorted by zxid ascending
/// (ties by name, so the order is stable).
pub fn list(dir: &Path, prefix: &str) -> Result<Vec<DataFile>, JavaFormatError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| JavaFormatError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JavaFormatError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(zxid) = zxid_from_name(name, prefix) {
            out.push(DataFile {
                path: entry.path(),
                zxid,
            });
        }
    }
    out.sort_by(|a, b| a.zxid.cmp(&b.zxid).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_upstream() {
        assert_eq!(zxid_from_name("snapshot.1a", "snapshot"), Some(0x1a));
        assert_eq!(zxid_from_name("snapshot.1a.snappy", "snapshot"), Some(0x1a));
        assert_eq!(zxid_from_name("log.100000001", "log"), Some(0x1_0000_0001));
        assert_eq!(zxid_from_name("log.xyz", "log"), None);
        assert_eq!(zxid_from_name("logs.1", "log"), None);
        assert_eq!(zxid_from_name("snapshot", "snapshot"), None);
        assert_eq!(
            zxid_from_name("snapshot.ffffffffffffffff", "snapshot"),
            None
        );
        assert_eq!(log_name(0x1_0000_0001), "log.100000001");
        assert_eq!(snapshot_name(0, Compression::Plain), "snapshot.0");
        assert_eq!(
            snapshot_name(0xab, Compression::Snappy),
            "snapshot.ab.snappy"
        );
        assert_eq!(
            Compression::from_file_name("snapshot.ab.GZ"),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_file_name("snapshot.ab.snappy"),
            Compression::Snappy
        );
        assert_eq!(
            Compression::from_file_name("snapshot.ab"),
            Compression::Plain
        );
        assert_eq!(
            Compression::from_file_name("snapshot.ab.tmp"),
            Compression::Plain
        );
        assert_eq!(Compression::from_file_name("gz"), Compression::Plain);
    }
}
