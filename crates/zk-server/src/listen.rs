//! Client listening sockets, bound where Apache ZooKeeper binds them.
//!
//! With no `clientPortAddress`, ZooKeeper binds `new InetSocketAddress(port)`: the JVM turns
//! that wildcard into one IPv6 socket on `[::]` with `IPV6_V6ONLY` off, so IPv4 and IPv6
//! clients alike reach it (`ss -ltn` shows `*:2181`), while logs and `conf` still print
//! `0.0.0.0`. We do the same, and fall back to `0.0.0.0` (with a log line) on a host
//! without IPv6. An explicit address, IPv4 or IPv6 (`clientPortAddress=::1`), is bound as
//! given. IPv4 clients of a dual-stack socket arrive as IPv4-mapped IPv6 addresses
//! (`::ffff:127.0.0.1`); [`canonical_peer`] turns them back into IPv4, as Java reports
//! them, so `cons`, IP ACLs and `maxClientCnxns` see `127.0.0.1`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// The backlog when `clientPortListenBacklog` is not positive (tokio's own default).
const DEFAULT_BACKLOG: i32 = 1024;

/// Binds a client listener on `ip` (`None`: every interface, IPv4 and IPv6) and `port`
/// (0: any free port), with `backlog` pending connections (`clientPortListenBacklog`;
/// not positive means the default). Must run inside a tokio runtime.
pub fn bind_client_port(ip: Option<IpAddr>, port: u16, backlog: i32) -> io::Result<TcpListener> {
    let backlog = if backlog > 0 {
        backlog
    } else {
        DEFAULT_BACKLOG
    };
    let std_listener = match ip {
        Some(ip) => bind_std(SocketAddr::new(ip, port), backlog)?,
        None => match bind_std(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port), backlog) {
            Ok(l) => l,
            // Taken or forbidden: 0.0.0.0 would fail the same way; say what really failed.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) =>
            {
                return Err(e)
            }
            Err(e) => {
                tracing::info!(
                    "cannot listen on [::]:{port} ({e}): no IPv6 on this host? Listening on \
                     0.0.0.0:{port} (IPv4 only)"
                );
                bind_std(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), backlog)?
            }
        },
    };
    TcpListener::from_std(std_listener)
}

fn bind_std(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let SocketAddr::V6(v6) = addr {
        if v6.ip().is_unspecified() {
            // Dual stack whatever net.ipv6.bindv6only says.
            socket.set_only_v6(false)?;
        }
    }
    // As tokio's TcpListener::bind and ZooKeeper's NIOServerCnxnFactory do.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A peer address as Java reports it: an IPv4-mapped IPv6 address (an IPv4 client of a
/// dual-stack socket) becomes the IPv4 address.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => peer,
        },
        SocketAddr::V4(_) => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_peers_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:10.1.2.3]:4000".parse().unwrap();
        assert_eq!(
            canonical_peer(mapped),
            "10.1.2.3:4000".parse::<SocketAddr>().unwrap()
        );
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(canonical_peer(v6), v6);
        let v4: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(canonical_peer(v4), v4);
    }

    #[tokio::test]
    async fn the_wildcard_takes_ipv4_and_ipv6() {
        let l = bind_client_port(None, 0, -1).unwrap();
        let addr = l.local_addr().unwrap();
        let port = addr.port();
        if addr.is_ipv4() {
            eprintln!("SKIPPED: no IPv6 on this host; bound {addr}");
            return;
        }
        assert_eq!(addr.ip(), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        for target in ["127.0.0.1", "::1"] {
            let ip: IpAddr = target.parse().unwrap();
            let client = tokio::net::TcpStream::connect((ip, port));
            let (accepted, _) = tokio::join!(l.accept(), client);
            let (_, peer) = accepted.unwrap();
            assert_eq!(canonical_peer(peer).ip(), ip);
        }
    }
}
