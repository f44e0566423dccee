//! systemd readiness (`Type=notify`): one datagram to `$NOTIFY_SOCKET`, as `sd_notify(3)`
//! sends it. A path socket or an abstract one (`@name`); nothing happens without the
//! variable, so the server behaves the same outside systemd.

use std::io;

/// Sends `state` (e.g. `READY=1\nSTATUS=serving`) to the service manager. `Ok(false)` when
/// no service manager listens (`NOTIFY_SOCKET` unset).
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    match bytes.split_first() {
        Some((b'@', name)) => {
            #[cfg(target_os = "linux")]
            {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &addr)?;
            }
            #[cfg(not(target_os = "linux"))]
            {
                let _ = name;
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "abstract NOTIFY_SOCKET outside Linux",
                ));
            }
        }
        Some(_) => {
            sock.send_to(state.as_bytes(), &path)?;
        }
        None => return Ok(false),
    }
    Ok(true)
}

/// Tells systemd the node serves clients (logged, never fatal).
pub fn ready() {
    match notify("READY=1\nSTATUS=serving clients") {
        Ok(true) => tracing::info!("told systemd the server is ready"),
        Ok(false) => {}
        Err(e) => tracing::warn!("sd_notify READY=1 failed: {e}"),
    }
}

/// Tells systemd the node is stopping.
pub fn stopping() {
    if let Err(e) = notify("STOPPING=1") {
        tracing::warn!("sd_notify STOPPING=1 failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        // The environment is process-wide: this is the only test that sets NOTIFY_SOCKET.
        std::env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1").unwrap());
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        assert!(!notify("READY=1").unwrap());
    }
}
