//! The `conf` four-letter word (`ZooKeeperServer.dumpConf`, plus
//! `QuorumZooKeeperServer.dumpConf` in an ensemble).
//!
//! Captured from Debian's ZooKeeper 3.8.0 (standalone, `dataLogDir` apart from `dataDir`):
//!
//! ```text
//! clientPort=22181
//! secureClientPort=-1
//! dataDir=/tmp/x/data/version-2
//! dataDirSize=0
//! dataLogDir=/tmp/x/logs/version-2
//! dataLogSize=457
//! tickTime=2000
//! maxClientCnxns=60
//! minSessionTimeout=4000
//! maxSessionTimeout=40000
//! clientPortListenBacklog=-1
//! serverId=0
//! ```
//!
//! Every line ends in `\n`. The paths are the `version-2` directories, absolute. The two
//! sizes are swapped in Apache ZooKeeper (`dataDirSize` sums the txn log directory,
//! `dataLogSize` the snapshot directory: above, the 457-byte snapshot is in `data`); we
//! print what it prints. A port without a listener is `-1`, and so is `maxClientCnxns` when
//! there is no listener at all. A standalone server's `serverId` is always 0, whatever
//! `myid` says. An ensemble member appends:
//!
//! ```text
//! initLimit=10
//! syncLimit=5
//! electionAlg=3
//! electionPort=23881
//! quorumPort=22881
//! peerType=0
//! membership:
//! server.1=127.0.0.1:22881:23881:participant
//! server.4=[0:0:0:0:0:0:0:1]:22884:23884:observer;[0:0:0:0:0:0:0:1]:22184
//! version=0
//! ```
//!
//! (`membership: ` has a trailing space; the last line has no newline.)

use std::fmt::Write as _;
use std::path::Path;

use super::quorum::QuorumVerifier;
use super::Config;

/// What `conf` (and every other word needing a running server) answers while the server
/// is not serving.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The running server's side of `conf`: what only the server knows.
#[derive(Debug, Clone, Copy)]
pub struct ConfRuntime<'a> {
    /// The bound plaintext client port, if listening.
    pub client_port: Option<u16>,
    /// The bound TLS client port, if listening.
    pub secure_client_port: Option<u16>,
    /// Total bytes of the files under `dataDir/version-2` (snapshots).
    pub snap_dir_bytes: u64,
    /// Total bytes of the files under `dataLogDir/version-2` (txn logs).
    pub log_dir_bytes: u64,
    /// The directory relative `dataDir`/`dataLogDir` paths are relative to (the process's
    /// working directory at start, Java's `user.dir`).
    pub working_dir: &'a Path,
    /// The current ensemble if it changed since start (reconfig); `None` uses the
    /// configured one.
    pub membership: Option<&'a QuorumVerifier>,
}

/// `File.getAbsolutePath()` of `dir/version-2` on Unix: no normalisation beyond joining.
fn absolute_version_dir(dir: &Path, cwd: &Path) -> String {
    let d = dir.to_string_lossy();
    let abs = if d.starts_with('/') {
        d.into_owned()
    } else {
        let c = cwd.to_string_lossy();
        if c.ends_with('/') {
            format!("{c}{d}")
        } else {
            format!("{c}/{d}")
        }
    };
    if abs == "/" {
        "/version-2".to_owned()
    } else {
        format!("{abs}/version-2")
    }
}

fn port_or_minus_one(p: Option<u16>) -> i32 {
    p.map_or(-1, i32::from)
}

/// The text of the `conf` four-letter word, byte for byte as Apache ZooKeeper 3.8 writes
/// it. Contains no secrets: only the fields listed in the module docs.
pub fn render_conf(config: &Config, rt: &ConfRuntime<'_>) -> String {
    let mut out = String::new();
    let listening = rt.client_port.is_some() || rt.secure_client_port.is_some();
    let distributed = config.is_distributed();
    // `writeln!` into a String cannot fail.
    let _ = writeln!(out, "clientPort={}", port_or_minus_one(rt.client_port));
    let _ = writeln!(
        out,
        "secureClientPort={}",
        port_or_minus_one(rt.secure_client_port)
    );
    let _ = writeln!(
        out,
        "dataDir={}",
        absolute_version_dir(&config.data_dir, rt.working_dir)
    );
    // Swapped, as in ZooKeeperServer.getDataDirSize/getLogDirSize.
    let _ = writeln!(out, "dataDirSize={}", rt.log_dir_bytes);
    let _ = writeln!(
        out,
        "dataLogDir={}",
        absolute_version_dir(&config.data_log_dir, rt.working_dir)
    );
    let _ = writeln!(out, "dataLogSize={}", rt.snap_dir_bytes);
    let _ = writeln!(out, "tickTime={}", config.tick_time);
    let _ = writeln!(
        out,
        "maxClientCnxns={}",
        if listening {
            config.max_client_cnxns
        } else {
            -1
        }
    );
    let _ = writeln!(out, "minSessionTimeout={}", config.min_session_timeout);
    let _ = writeln!(out, "maxSessionTimeout={}", config.max_session_timeout);
    let _ = writeln!(
        out,
        "clientPortListenBacklog={}",
        config.client_port_listen_backlog
    );
    let server_id = if distributed {
        config.server_id.unwrap_or(0)
    } else {
        0
    };
    let _ = writeln!(out, "serverId={server_id}");
    if !distributed {
        return out;
    }
    let membership = rt.membership.unwrap_or(&config.quorum);
    let me = config
        .server_id
        .and_then(|id| membership.servers.get(&id))
        .or_else(|| config.this_server());
    let ports = |eps: Option<&Vec<super::Endpoint>>| {
        eps.map(|v| {
            v.iter()
                .map(|e| e.port.to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .unwrap_or_default()
    };
    let _ = writeln!(out, "initLimit={}", config.init_limit);
    let _ = writeln!(out, "syncLimit={}", config.sync_limit);
    let _ = writeln!(out, "electionAlg={}", config.election_alg);
    let _ = writeln!(out, "electionPort={}", ports(me.map(|s| &s.election_addrs)));
    let _ = writeln!(out, "quorumPort={}", ports(me.map(|s| &s.addrs)));
    let _ = writeln!(out, "peerType={}", config.peer_type.ordinal());
    out.push_str("membership: \n");
    let _ = write!(out, "{membership}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths() {
        let cwd = Path::new("/home/zk");
        assert_eq!(
            absolute_version_dir(Path::new("/var/zk"), cwd),
            "/var/zk/version-2"
        );
        assert_eq!(
            absolute_version_dir(Path::new("data"), cwd),
            "/home/zk/data/version-2"
        );
        assert_eq!(
            absolute_version_dir(Path::new("./data"), Path::new("/")),
            "/./data/version-2"
        );
        assert_eq!(absolute_version_dir(Path::new("/"), cwd), "/version-2");
    }
}
