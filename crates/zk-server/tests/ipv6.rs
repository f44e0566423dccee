//! Client ports listen where Apache ZooKeeper listens: with no `clientPortAddress`, on the
//! dual-stack wildcard, so clients reach them over IPv4 and IPv6 (`::1`) alike; an IPv6
//! `clientPortAddress` is honoured. Checked against ZooKeeper 3.8, whose `cons` prints
//! `/[0:0:0:0:0:0:0:1]:port` for an IPv6 client and `/127.0.0.1:port` (not IPv4-mapped)
//! for an IPv4 one on the same wildcard port. (The TLS case is in security.rs.)

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use common::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use zookeeper_client as zk;

/// Whether this host has `::1`; the tests print SKIPPED and pass when it does not.
fn has_ipv6_loopback() -> bool {
    let ok = std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
    if !ok {
        eprintln!("SKIPPED: this host has no ::1; IPv6 clients were NOT checked");
    }
    ok
}

/// Serves on `listener` with every four-letter word allowed; stops when the sender drops.
fn serve(listener: TcpListener) -> watch::Sender<bool> {
    let mut settings = common::settings();
    settings.four_letter_whitelist =
        zk_server::config::FourLetterWhitelist::from_property(Some("*"), false);
    let (tx, rx) = watch::channel(false);
    tokio::spawn(zk_server::run(
        settings,
        listener,
        zk_tree::DataTree::new(),
        Vec::new(),
        zk_server::Stores::in_memory(),
        rx,
    ));
    tx
}

async fn word(ip: IpAddr, port: u16, w: &str) -> String {
    let mut s = within("tcp connect", TcpStream::connect((ip, port)))
        .await
        .unwrap();
    s.write_all(w.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    within("answer", s.read_to_end(&mut out)).await.unwrap();
    String::from_utf8(out).unwrap()
}

async fn session(addr: &str) -> zk::Client {
    within(
        "session",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(addr),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_wildcard_serves_ipv4_and_ipv6_clients() {
    if !has_ipv6_loopback() {
        return;
    }
    let listener = zk_server::listen::bind_client_port(None, 0, -1).unwrap();
    let local = listener.local_addr().unwrap();
    assert_eq!(local.ip(), IpAddr::V6(Ipv6Addr::UNSPECIFIED), "{local}");
    let port = local.port();
    let _stop = serve(listener);

    let v6 = session(&format!("[::1]:{port}")).await;
    let v4 = session(&format!("127.0.0.1:{port}")).await;
    v6.create(
        "/over-v6",
        b"6",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .unwrap();
    assert_eq!(v4.get_data("/over-v6").await.unwrap().0, b"6");
    // whoami: InetAddress.getHostAddress, as ZooKeeper 3.8 answered these two sessions.
    let ip_of = |users: Vec<zk::AuthUser>| {
        users
            .iter()
            .find(|u| u.scheme() == "ip")
            .map(|u| u.user().to_owned())
    };
    assert_eq!(
        ip_of(v6.list_auth_users().await.unwrap()).as_deref(),
        Some("0:0:0:0:0:0:0:1")
    );
    assert_eq!(
        ip_of(v4.list_auth_users().await.unwrap()).as_deref(),
        Some("127.0.0.1")
    );

    // cons names each client as Java does: IPv6 in full and bracketed, IPv4 unmapped.
    let cons = word(Ipv6Addr::LOCALHOST.into(), port, "cons").await;
    assert!(cons.contains(" /[0:0:0:0:0:0:0:1]:"), "{cons}");
    assert!(cons.contains(" /127.0.0.1:"), "{cons}");
    assert!(!cons.contains("ffff"), "{cons}");
    // conf prints the port, not the socket's address (ZooKeeper 3.8 standalone has no
    // clientPortAddress line).
    let conf = word("127.0.0.1".parse().unwrap(), port, "conf").await;
    assert!(!conf.contains("clientPortAddress"), "{conf}");
}

#[tokio::test]
async fn an_ipv6_client_port_address_is_honoured() {
    if !has_ipv6_loopback() {
        return;
    }
    // clientPortAddress=::1 parses to an IPv6 literal; the server binds exactly that.
    let props = zk_server::config::JavaProperties::parse_str(
        "dataDir=/zk\nclientPort=2181\nclientPortAddress=::1\n",
    )
    .unwrap();
    let files = std::collections::BTreeMap::new();
    let cfg = zk_server::config::Config::parse(
        &props,
        None,
        zk_server::config::SystemProperties::new(),
        &files,
    )
    .unwrap()
    .config;
    let ep = cfg.client_port_address.unwrap();
    assert_eq!(
        ep.host,
        zk_server::config::Host::Ip(Ipv6Addr::LOCALHOST.into())
    );
    let listener =
        zk_server::listen::bind_client_port(Some(Ipv6Addr::LOCALHOST.into()), 0, -1).unwrap();
    let port = listener.local_addr().unwrap().port();
    let _stop = serve(listener);
    let c = session(&format!("[::1]:{port}")).await;
    assert!(c.check_stat("/").await.unwrap().is_some());
    // Bound to ::1 only: IPv4 loopback is not served.
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}
