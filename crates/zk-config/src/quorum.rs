//! `server.N` lines and the ensemble they describe (`QuorumPeer.QuorumServer`,
//! `QuorumMaj`, `QuorumHierarchical`).
//!
//! ```text
//!   server.<id>=<host>:<quorumPort>:<electionPort>[:participant|:observer][;[<clientHost>:]<clientPort>]
//!   server.4=[::1]:2888:3888:observer;[::1]:2181        IPv6 literals go in brackets
//!   server.5=a:2888:3888|b:2889:3889                      several addresses: only with
//!                                                         -Dzookeeper.multiAddress.enabled=true
//! ```
//!
//! Parsing follows `QuorumServer.initializeWithAddressString` and
//! `ConfigUtils.getHostAndPort`, including their quirks: the value is *not* trimmed (a
//! trailing space after the election port is an error in Java too), Java's `split` drops
//! trailing empty fields (`host:1:2:` is a participant, `...;` has no client part), and a
//! client part without a host means `0.0.0.0`. Host names are kept as written; nothing here
//! resolves names (the server does that when it binds or dials).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::properties::JavaProperties;
use super::system::{java_parse_int, java_parse_long, java_parse_long_radix};

/// A host as ZooKeeper holds it in an `InetSocketAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// No address given: listen on every interface (`new InetSocketAddress(port)`).
    Wildcard,
    /// An IP literal.
    Ip(IpAddr),
    /// A host name, resolved later.
    Name(String),
}

impl Host {
    /// Reads a host: an IPv4 or IPv6 literal (brackets allowed around IPv6; an IPv4-mapped
    /// IPv6 literal is IPv4, as `InetAddress.getByName` makes it), else a name.
    pub fn parse(s: &str) -> Host {
        let bare = s
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(s);
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Host::Ip(IpAddr::V4(v4)),
                None => Host::Ip(IpAddr::V6(v6)),
            },
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(s.to_owned()),
        }
    }

    /// `InetSocketAddress.getHostString()`: the name as written, or the literal in Java's
    /// format (IPv6 as eight uncompressed lowercase hex groups: `0:0:0:0:0:0:0:1`).
    pub fn host_string(&self) -> String {
        match self {
            Host::Wildcard => "0.0.0.0".to_owned(),
            Host::Ip(IpAddr::V4(v4)) => v4.to_string(),
            Host::Ip(IpAddr::V6(v6)) => v6
                .segments()
                .iter()
                .map(|s| format!("{s:x}"))
                .collect::<Vec<_>>()
                .join(":"),
            Host::Name(n) => n.clone(),
        }
    }

    /// `InetAddress.isAnyLocalAddress()`.
    pub fn is_any_local(&self) -> bool {
        match self {
            Host::Wildcard => true,
            Host::Ip(ip) => ip.is_unspecified(),
            Host::Name(_) => false,
        }
    }
}

/// A host and a port (`InetSocketAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Where.
    pub host: Host,
    /// Port, 0..=65535.
    pub port: u16,
}

impl Endpoint {
    /// Every interface, `port`.
    pub fn wildcard(port: u16) -> Self {
        Endpoint {
            host: Host::Wildcard,
            port,
        }
    }
}

impl fmt::Display for Endpoint {
    /// `host:port`, an IPv6 host in brackets (`QuorumServer.delimitedHostString`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host.host_string();
        if host.contains(':') {
            write!(f, "[{host}]:{}", self.port)
        } else {
            write!(f, "{host}:{}", self.port)
        }
    }
}

/// Whether a server votes (`QuorumPeer.LearnerType`; the `conf` word prints the ordinal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LearnerType {
    /// Votes in elections and acks proposals. Ordinal 0.
    #[default]
    Participant,
    /// Follows the leader without voting. Ordinal 1.
    Observer,
}

impl LearnerType {
    /// Java's `ordinal()`, as printed by `conf` (`peerType=`).
    pub fn ordinal(self) -> u8 {
        match self {
            LearnerType::Participant => 0,
            LearnerType::Observer => 1,
        }
    }

    /// `participant` or `observer`, in any case and surrounded by blanks.
    pub fn parse(s: &str) -> Option<Self> {
        match super::properties::java_trim(s).to_lowercase().as_str() {
            "participant" => Some(LearnerType::Participant),
            "observer" => Some(LearnerType::Observer),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            LearnerType::Participant => "participant",
            LearnerType::Observer => "observer",
        }
    }
}

/// One `server.N` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    /// N.
    pub id: i64,
    /// Quorum (leader ↔ learner) addresses; more than one only with multi-address enabled.
    pub addrs: Vec<Endpoint>,
    /// Election addresses, one per quorum address.
    pub election_addrs: Vec<Endpoint>,
    /// The client address from the `;...` part, or, for this server, from `clientPort`
    /// (then [`QuorumServer::client_addr_from_static`] is set).
    pub client_addr: Option<Endpoint>,
    /// The client address was filled in from zoo.cfg's `clientPort`/`clientPortAddress`
    /// rather than written in the server line; such an address is not printed back.
    pub client_addr_from_static: bool,
    /// Participant or observer.
    pub learner_type: LearnerType,
    /// The host of the last address, as written.
    pub hostname: String,
}

/// Why a `server.N` value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ServerSpecError(pub String);

const WRONG_FORMAT: &str = "does not have the form server_config or server_config;client_config \
     where server_config is the pipe separated list of host:port:port or host:port:port:type \
     and client_config is port or host:port";

/// Java's `String.split` for a one-character separator: trailing empty strings are
/// dropped, but an input without the separator (even `""`) stays one field.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    if parts.len() > 1 {
        while parts.last() == Some(&"") {
            parts.pop();
        }
    }
    parts
}

/// `ConfigUtils.getHostAndPort`: `host:port[:...]`, with `[v6]` hosts.
fn host_and_port(s: &str) -> Result<Vec<String>, ServerSpecError> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(ServerSpecError(format!(
                "{s} starts with '[' but has no matching ']:'"
            )));
        };
        let i = close + 1; // index of ']' in s
        if i + 2 == s.len() {
            return Err(ServerSpecError(format!(
                "{s} doesn't have a port after colon"
            )));
        }
        let host = s[1..i].to_owned();
        if i + 2 < s.len() {
            // Java skips the one character after ']' whatever it is.
            let tail = s.get(i + 2..).unwrap_or("");
            let mut out = vec![host];
            out.extend(java_split(tail, ':').into_iter().map(str::to_owned));
            return Ok(out);
        }
        return Ok(vec![host]);
    }
    Ok(java_split(s, ':').into_iter().map(str::to_owned).collect())
}

fn port(host: &str, s: &str) -> Result<u16, ServerSpecError> {
    let n = java_parse_int(s)
        .ok_or_else(|| ServerSpecError(format!("Address unresolved: {host}:{s}")))?;
    u16::try_from(n).map_err(|_| ServerSpecError(format!("port out of range: {n}")))
}

impl QuorumServer {
    /// Parses the value of `server.<id>` (`QuorumServer(long, String)`).
    pub fn parse(
        id: i64,
        value: &str,
        multi_address_enabled: bool,
    ) -> Result<QuorumServer, ServerSpecError> {
        let server_client = java_split(value, ';');
        let Some(server_part) = server_client.first() else {
            return Err(ServerSpecError(format!("{value} {WRONG_FORMAT}")));
        };
        let mut client_addr = None;
        if server_client.len() == 2 {
            let parts = host_and_port(server_client[1])?;
            if parts.len() > 2 {
                return Err(ServerSpecError(format!("{value} {WRONG_FORMAT}")));
            }
            let host = if parts.len() == 2 {
                Host::parse(&parts[0])
            } else {
                Host::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            };
            let last = &parts[parts.len() - 1];
            client_addr = Some(Endpoint {
                port: port(&host.host_string(), last)?,
                host,
            });
        }
        let addresses = java_split(server_part, '|');
        if !multi_address_enabled && addresses.len() > 1 {
            return Err(ServerSpecError(format!(
                "Multiple address feature is disabled, but multiple addresses were specified for sid {id}"
            )));
        }
        let mut server = QuorumServer {
            id,
            addrs: Vec::new(),
            election_addrs: Vec::new(),
            client_addr,
            client_addr_from_static: false,
            learner_type: LearnerType::Participant,
            hostname: String::new(),
        };
        let mut learner_type: Option<LearnerType> = None;
        for address in addresses {
            let parts = host_and_port(address)?;
            if server_client.len() > 2 || parts.len() < 3 || parts.len() > 4 {
                return Err(ServerSpecError(format!("{value} {WRONG_FORMAT}")));
            }
            let host = Host::parse(&parts[0]);
            let quorum_port = port(&parts[0], &parts[1])?;
            let election_port = port(&parts[0], &parts[2])?;
            if quorum_port == election_port {
                return Err(ServerSpecError(format!(
                    "Client and election port must be different! Please update the \
                     configuration file on server.{id}"
                )));
            }
            if let Some(role) = parts.get(3) {
                let t = LearnerType::parse(role)
                    .ok_or_else(|| ServerSpecError(format!("Unrecognised peertype: {role}")))?;
                match learner_type {
                    None => learner_type = Some(t),
                    Some(prev) if prev != t => {
                        return Err(ServerSpecError(format!(
                            "Multiple addresses should have similar roles: {} vs {}",
                            prev.name(),
                            t.name()
                        )))
                    }
                    Some(_) => {}
                }
            }
            server.addrs.push(Endpoint {
                host: host.clone(),
                port: quorum_port,
            });
            server.election_addrs.push(Endpoint {
                host,
                port: election_port,
            });
            server.hostname = parts[0].clone();
        }
        if let Some(t) = learner_type {
            server.learner_type = t;
        }
        Ok(server)
    }
}

impl fmt::Display for QuorumServer {
    /// `QuorumServer.toString()`: the form written back to dynamic config files and printed
    /// by `conf` (`127.0.0.1:2888:3888:participant;0.0.0.0:2181`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut addrs = self.addrs.clone();
        let mut elections = self.election_addrs.clone();
        addrs.sort_by_key(|a| a.host.host_string());
        elections.sort_by_key(|a| a.host.host_string());
        let joined = addrs
            .iter()
            .zip(&elections)
            .map(|(a, e)| format!("{a}:{}", e.port))
            .collect::<Vec<_>>()
            .join("|");
        write!(f, "{joined}:{}", self.learner_type.name())?;
        if let Some(c) = &self.client_addr {
            if !self.client_addr_from_static {
                write!(f, ";{c}")?;
            }
        }
        Ok(())
    }
}

/// Hierarchical quorums (`group.N` / `weight.N`), parsed and validated as
/// `QuorumHierarchical` does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hierarchy {
    /// Server id → group id.
    pub server_group: BTreeMap<i64, i64>,
    /// Server id → weight (participants without a `weight.N` weigh 1).
    pub server_weight: BTreeMap<i64, i64>,
    /// How many `group*` entries there were (`numGroups` before zero-weight groups are
    /// discounted; `group.1` and `group.01` count twice, as in Java).
    pub group_entries: usize,
}

impl Hierarchy {
    /// Group id → the summed weight of its members (`computeGroupWeight`). Java adds
    /// `long`s, so sums wrap as there.
    pub fn group_weights(&self) -> BTreeMap<i64, i64> {
        self.weight_by_group(self.server_group.keys())
    }

    /// Group id → the summed weight of the grouped servers among `sids`.
    fn weight_by_group<'a>(&self, sids: impl Iterator<Item = &'a i64>) -> BTreeMap<i64, i64> {
        let mut weights: BTreeMap<i64, i64> = BTreeMap::new();
        for sid in sids {
            if let Some(gid) = self.server_group.get(sid) {
                let w = self.server_weight.get(sid).copied().unwrap_or(0);
                let total = weights.entry(*gid).or_insert(0);
                *total = total.wrapping_add(w);
            }
        }
        weights
    }

    /// `numGroups` once computed: the group entries less the groups weighing zero.
    pub fn counted_groups(&self) -> i64 {
        let zero = self.group_weights().values().filter(|&&w| w == 0).count();
        self.group_entries as i64 - zero as i64
    }
}

/// The ensemble: every `server.N`, the config version, and the hierarchy if any
/// (`QuorumVerifier`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumVerifier {
    /// All servers by id, participants and observers.
    pub servers: BTreeMap<i64, QuorumServer>,
    /// Config version (`version=` in hex in the files; 0 when absent).
    pub version: i64,
    /// `Some` when any key starts with `group` or `weight`.
    pub hierarchy: Option<Hierarchy>,
}

/// Why the ensemble description is not valid; `key` is the offending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumError {
    /// The entry at fault (`server.3`, `group.1`, ...), or `""` for the whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn id_after_dot(key: &str) -> Option<i64> {
    // Java: key.substring(key.indexOf('.') + 1); without a dot that is the whole key.
    let tail = key.split_once('.').map_or(key, |(_, t)| t);
    java_parse_long(tail)
}

impl QuorumVerifier {
    /// Builds the ensemble from `server.*`, `group*`, `weight*` and `version` entries
    /// (other keys are ignored here). Values are used untrimmed, as in Java.
    pub fn from_properties(
        props: &JavaProperties,
        multi_address_enabled: bool,
    ) -> Result<QuorumVerifier, QuorumError> {
        let hierarchical = props
            .iter()
            .any(|(k, _)| k.starts_with("group") || k.starts_with("weight"));
        let mut qv = QuorumVerifier::default();
        let mut hierarchy = Hierarchy::default();
        let bad = |key: &str, message: String| QuorumError {
            key: key.to_owned(),
            message,
        };
        for (key, value) in props.iter() {
            if key.starts_with("server.") {
                let sid = id_after_dot(key)
                    .ok_or_else(|| bad(key, "the server id is not a number".into()))?;
                let qs = QuorumServer::parse(sid, value, multi_address_enabled)
                    .map_err(|e| bad(key, e.0))?;
                qv.servers.insert(sid, qs);
            } else if hierarchical && key.starts_with("group") {
                let gid = id_after_dot(key)
                    .ok_or_else(|| bad(key, "the group id is not a number".into()))?;
                for s in java_split(value, ':') {
                    let sid = java_parse_long(s)
                        .ok_or_else(|| bad(key, format!("{s:?} is not a server id")))?;
                    if hierarchy.server_group.insert(sid, gid).is_some() {
                        return Err(bad(key, format!("Server {sid} is in multiple groups")));
                    }
                }
                hierarchy.group_entries += 1;
            } else if hierarchical && key.starts_with("weight") {
                let sid = id_after_dot(key)
                    .ok_or_else(|| bad(key, "the server id is not a number".into()))?;
                let w = java_parse_long(value)
                    .ok_or_else(|| bad(key, format!("{value:?} is not a weight")))?;
                hierarchy.server_weight.insert(sid, w);
            } else if key == "version" {
                qv.version = java_parse_long_radix(value, 16)
                    .ok_or_else(|| bad(key, format!("{value:?} is not a hex version")))?;
            }
        }
        if hierarchical {
            for qs in qv.servers.values() {
                if qs.learner_type == LearnerType::Participant {
                    if !hierarchy.server_group.contains_key(&qs.id) {
                        return Err(bad(
                            &format!("server.{}", qs.id),
                            format!("Server {} is not in a group", qs.id),
                        ));
                    }
                    hierarchy.server_weight.entry(qs.id).or_insert(1);
                }
            }
            // A grouped id with no weight (an observer or an id with no server line, and
            // no weight.N): Java's computeGroupWeight unboxes null and fails to start.
            if let Some(sid) = hierarchy
                .server_group
                .keys()
                .find(|sid| !hierarchy.server_weight.contains_key(sid))
            {
                return Err(bad(
                    &format!("weight.{sid}"),
                    format!("Server {sid} is in a group but has no weight"),
                ));
            }
            qv.hierarchy = Some(hierarchy);
        }
        Ok(qv)
    }

    /// Participants, by id.
    pub fn voting_members(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers
            .values()
            .filter(|s| s.learner_type == LearnerType::Participant)
    }

    /// Observers, by id.
    pub fn observers(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers
            .values()
            .filter(|s| s.learner_type == LearnerType::Observer)
    }

    /// Whether `sid` is a participant.
    pub fn is_voting_member(&self, sid: i64) -> bool {
        self.servers
            .get(&sid)
            .is_some_and(|s| s.learner_type == LearnerType::Participant)
    }

    /// `QuorumVerifier.getWeight`: 1 for every id under a majority quorum; the `weight.N`
    /// (1 by default for participants, 0 for ids with none) under a hierarchical one.
    /// Elections ignore the votes of zero-weight servers.
    pub fn weight(&self, sid: i64) -> i64 {
        match &self.hierarchy {
            None => 1,
            Some(h) => h.server_weight.get(&sid).copied().unwrap_or(0),
        }
    }

    /// `QuorumVerifier.containsQuorum`: whether the servers in `sids` (acks, votes, synced
    /// followers) make a quorum.
    ///
    /// * Majority (`QuorumMaj`): more than half of the participants.
    /// * Hierarchical (`QuorumHierarchical`): more than half of the groups that weigh more
    ///   than zero each have more than half of their weight in `sids`.
    ///
    /// Only participants count: ids of observers and of unknown servers are ignored, as
    /// Java's callers (`SyncedLearnerTracker.addAck`, the election's vote tally) never put
    /// them in the set. Duplicates count once. An empty set is never a quorum.
    pub fn contains_quorum<'a>(&self, sids: impl IntoIterator<Item = &'a i64>) -> bool {
        let voters: std::collections::BTreeSet<i64> = sids
            .into_iter()
            .copied()
            .filter(|&sid| self.is_voting_member(sid))
            .collect();
        if voters.is_empty() {
            return false;
        }
        let Some(h) = &self.hierarchy else {
            let half = self.voting_members().count() / 2;
            return voters.len() > half;
        };
        let group_weights = h.group_weights();
        let groups_with_majority = h
            .weight_by_group(voters.iter())
            .iter()
            .filter(|(gid, &w)| w > group_weights.get(gid).copied().unwrap_or(0) / 2)
            .count() as i64;
        groups_with_majority > h.counted_groups() / 2
    }
}

/// The order in which a `java.util.HashMap<Long, _>` holding `keys` iterates: by bucket
/// of the spread `Long.hashCode` in a table sized for the count. Keys sharing a bucket
/// (ids ≥ the table size) come out in insertion order in Java, ascending here.
pub fn java_hashmap_order(keys: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut keys: Vec<i64> = keys.into_iter().collect();
    keys.sort_unstable();
    let mut capacity: u64 = 16;
    while keys.len() as u64 > capacity * 3 / 4 {
        capacity *= 2;
    }
    let bucket = |k: i64| {
        let h = (k ^ ((k as u64) >> 32) as i64) as i32;
        let spread = h ^ ((h as u32) >> 16) as i32;
        u64::from(spread as u32) & (capacity - 1)
    };
    keys.sort_by_key(|&k| bucket(k));
    keys
}

impl fmt::Display for QuorumVerifier {
    /// `QuorumMaj.toString()` / `QuorumHierarchical.toString()`: `server.N=...` lines,
    /// then `group.`/`weight.` lines when hierarchical, then `version=<hex>` with no final
    /// newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for id in java_hashmap_order(self.servers.keys().copied()) {
            if let Some(s) = self.servers.get(&id) {
                writeln!(f, "server.{id}={s}")?;
            }
        }
        if let Some(h) = &self.hierarchy {
            let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for sid in java_hashmap_order(h.server_group.keys().copied()) {
                if let Some(&gid) = h.server_group.get(&sid) {
                    groups.entry(gid).or_default().push(sid);
                }
            }
            for gid in java_hashmap_order(groups.keys().copied()) {
                let members = groups[&gid]
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(":");
                writeln!(f, "group.{gid}={members}")?;
            }
            for sid in java_hashmap_order(h.server_weight.keys().copied()) {
                writeln!(f, "weight.{sid}={}", h.server_weight[&sid])?;
            }
        }
        write!(f, "version={:x}", self.version as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn qs(value: &str) -> QuorumServer {
        QuorumServer::parse(1, value, false).unwrap()
    }

    fn err(value: &str) -> String {
        QuorumServer::parse(1, value, false).unwrap_err().0
    }

    #[test]
    fn plain_participant() {
        let s = qs("zk1.example.com:2888:3888");
        assert_eq!(s.learner_type, LearnerType::Participant);
        assert_eq!(
            s.addrs,
            [Endpoint {
                host: Host::Name("zk1.example.com".into()),
                port: 2888
            }]
        );
        assert_eq!(s.election_addrs[0].port, 3888);
        assert_eq!(s.client_addr, None);
        assert_eq!(s.hostname, "zk1.example.com");
        assert_eq!(s.to_string(), "zk1.example.com:2888:3888:participant");
    }

    #[test]
    fn observer_with_client_port_only() {
        let s = qs("127.0.0.1:2888:3888:OBSERVER ;2181");
        assert_eq!(s.learner_type, LearnerType::Observer);
        assert_eq!(
            s.client_addr,
            Some(Endpoint {
                host: Host::Ip(Ipv4Addr::UNSPECIFIED.into()),
                port: 2181
            })
        );
        assert_eq!(s.to_string(), "127.0.0.1:2888:3888:observer;0.0.0.0:2181");
    }

    #[test]
    fn ipv6_in_brackets() {
        let s = qs("[::1]:2888:3888:observer;[::1]:2181");
        let v6 = Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(s.addrs[0].host, v6);
        assert_eq!(s.client_addr.as_ref().unwrap().host, v6);
        assert_eq!(s.learner_type, LearnerType::Observer);
        // Exactly what Apache ZooKeeper 3.8 printed in `conf` for this line.
        assert_eq!(
            s.to_string(),
            "[0:0:0:0:0:0:0:1]:2888:3888:observer;[0:0:0:0:0:0:0:1]:2181"
        );
        let s = qs("[fd00::2]:2888:3888;[fd00::2]:2181");
        assert_eq!(
            s.to_string(),
            "[fd00:0:0:0:0:0:0:2]:2888:3888:participant;[fd00:0:0:0:0:0:0:2]:2181"
        );
        // IPv4-mapped literals are IPv4 to Java.
        assert_eq!(
            qs("[::ffff:10.0.0.1]:1:2").to_string(),
            "10.0.0.1:1:2:participant"
        );
    }

    #[test]
    fn client_host_and_port() {
        let s = qs("h:1:2:participant;localhost:2181");
        assert_eq!(
            s.client_addr,
            Some(Endpoint {
                host: Host::Name("localhost".into()),
                port: 2181
            })
        );
    }

    #[test]
    fn java_split_quirks() {
        // Trailing empty fields vanish: a participant, no client part.
        let s = qs("h:1:2:");
        assert_eq!(s.learner_type, LearnerType::Participant);
        assert_eq!(qs("h:1:2;").client_addr, None);
    }

    #[test]
    fn errors() {
        assert!(err("h:1").contains("does not have the form"));
        assert!(err("h:1:2:observer:x").contains("does not have the form"));
        assert!(err("h:1:2;a:b:3").contains("does not have the form"));
        assert!(err("h:1:2;3;4").contains("does not have the form"));
        assert!(err("h:1:x").contains("Address unresolved: h:x"));
        // Not trimmed, as in Java.
        assert!(err("h:1:2 ").contains("Address unresolved"));
        assert!(err("h:1:2; 2181").contains("Address unresolved"));
        assert!(err("h:1:70000").contains("port out of range"));
        assert!(err("h:5:5").contains("must be different"));
        assert!(err("h:1:2:voter").contains("Unrecognised peertype: voter"));
        assert!(err("[::1:1:2").contains("no matching"));
        assert!(err("[::1]:").contains("doesn't have a port"));
        assert!(err("a:1:2|b:3:4").contains("Multiple address feature is disabled"));
    }

    #[test]
    fn multi_address() {
        let s = QuorumServer::parse(3, "b:3:4|a:1:2", true).unwrap();
        assert_eq!(s.addrs.len(), 2);
        assert_eq!(s.hostname, "a");
        assert_eq!(s.to_string(), "a:1:2|b:3:4:participant");
        assert!(
            QuorumServer::parse(3, "a:1:2:observer|b:3:4:participant", true)
                .unwrap_err()
                .0
                .contains("similar roles")
        );
    }

    #[test]
    fn verifier_and_hierarchy() {
        let props = JavaProperties::parse_str(
            "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:observer\nversion=1a\n",
        )
        .unwrap();
        let qv = QuorumVerifier::from_properties(&props, false).unwrap();
        assert_eq!(qv.voting_members().count(), 2);
        assert_eq!(qv.observers().count(), 1);
        assert_eq!(qv.version, 0x1a);
        assert_eq!(
            qv.to_string(),
            "server.1=a:1:2:participant\nserver.2=b:1:2:participant\n\
             server.3=c:1:2:observer\nversion=1a"
        );
        let props = JavaProperties::parse_str(
            "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\ngroup.1=1:2\ngroup.2=3\nweight.3=2\n",
        )
        .unwrap();
        let qv = QuorumVerifier::from_properties(&props, false).unwrap();
        let h = qv.hierarchy.as_ref().unwrap();
        assert_eq!(h.server_group[&3], 2);
        assert_eq!(h.server_weight[&1], 1);
        assert_eq!(h.server_weight[&3], 2);
        assert!(qv
            .to_string()
            .contains("group.1=1:2\ngroup.2=3\nweight.1=1\n"));
        let props =
            JavaProperties::parse_str("server.1=a:1:2\nserver.2=b:1:2\ngroup.1=1\n").unwrap();
        let e = QuorumVerifier::from_properties(&props, false).unwrap_err();
        assert_eq!(e.key, "server.2");
        let props = JavaProperties::parse_str("server.x=a:1:2\n").unwrap();
        assert_eq!(
            QuorumVerifier::from_properties(&props, false)
                .unwrap_err()
                .key,
            "server.x"
        );
    }

    fn verifier(text: &str) -> QuorumVerifier {
        QuorumVerifier::from_properties(&JavaProperties::parse_str(text).unwrap(), false).unwrap()
    }

    // Every expectation in the two tests below was checked against Apache ZooKeeper 3.8's
    // QuorumMaj / QuorumHierarchical (containsQuorum, built from the same properties).

    #[test]
    fn majority_quorums_count_participants_only() {
        let qv =
            verifier("server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2:observer\n");
        assert!(qv.contains_quorum(&[1, 2]));
        assert!(qv.contains_quorum(&[1, 2, 3, 4]));
        assert!(!qv.contains_quorum(&[1]));
        // The observer and an unknown id add nothing; duplicates count once.
        assert!(!qv.contains_quorum(&[1, 4]));
        assert!(!qv.contains_quorum(&[1, 9]));
        assert!(!qv.contains_quorum(&[1, 1]));
        assert!(!qv.contains_quorum(&[]));
        assert_eq!(qv.weight(4), 1);
        // Four participants need three.
        let qv = verifier("server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2\n");
        assert!(!qv.contains_quorum(&[1, 2]));
        assert!(qv.contains_quorum(&std::collections::BTreeSet::from([1, 2, 4])));
        // An ensemble of one is its own quorum.
        let qv = verifier("server.1=a:1:2\n");
        assert!(qv.contains_quorum(&[1]));
    }

    #[test]
    fn hierarchical_quorums_need_a_majority_of_groups_by_weight() {
        let servers: String = (1..=9).map(|i| format!("server.{i}=h{i}:1:2\n")).collect();
        // Three groups of three: a majority in two groups is enough, five servers of one
        // group and one of another are not.
        let qv = verifier(&format!(
            "{servers}group.1=1:2:3\ngroup.2=4:5:6\ngroup.3=7:8:9\n"
        ));
        assert!(qv.contains_quorum(&[1, 2, 4, 5]));
        assert!(!qv.contains_quorum(&[1, 2, 3, 4]));
        assert!(!qv.contains_quorum(&[1, 4, 7]));
        assert!(qv.contains_quorum(&[1, 2, 4, 5, 7, 8]));
        // Weights: server 1 alone outweighs 2 and 3 together; server 3 weighs nothing.
        let qv = verifier(&format!(
            "{servers}group.1=1:2:3\ngroup.2=4:5:6:7:8:9\nweight.1=2\nweight.3=0\n"
        ));
        assert_eq!(qv.weight(1), 2);
        assert_eq!(qv.weight(3), 0);
        assert_eq!(qv.weight(4), 1);
        assert!(!qv.contains_quorum(&[1]));
        assert!(qv.contains_quorum(&[1, 4, 5, 6, 7]));
        assert!(!qv.contains_quorum(&[2, 3, 4, 5, 6, 7]));
        // A group weighing zero is not counted among the groups: two groups remain and
        // both are needed.
        let qv = verifier(&format!(
            "{servers}group.1=1:2:3\ngroup.2=4:5:6:7\ngroup.3=8:9\nweight.8=0\nweight.9=0\n"
        ));
        assert_eq!(qv.hierarchy.as_ref().unwrap().counted_groups(), 2);
        assert!(!qv.contains_quorum(&[1, 2, 8, 9]));
        assert!(qv.contains_quorum(&[1, 2, 4, 5, 6]));
        // An observer placed in a group with a weight does not count. (Java's raw
        // containsQuorum says yes to {1, 3}; its callers only ever pass participants, and
        // its weight still sits in the group's total: {1, 2} is 2 of 3.)
        let qv = verifier(
            "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:observer\n\
             group.1=1:2:3\nweight.3=1\n",
        );
        assert!(!qv.contains_quorum(&[1, 3]));
        assert!(qv.contains_quorum(&[1, 2]));
    }

    #[test]
    fn grouped_server_without_weight_is_refused() {
        // Java fails with a NullPointerException in computeGroupWeight.
        let props = JavaProperties::parse_str(
            "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2:observer\ngroup.1=1:2:3\n",
        )
        .unwrap();
        let e = QuorumVerifier::from_properties(&props, false).unwrap_err();
        assert_eq!(e.key, "weight.3");
    }

    #[test]
    fn hashmap_order() {
        assert_eq!(java_hashmap_order([3, 1, 2]), [1, 2, 3]);
        // 17 shares bucket 1 with 1 in a 16-slot table.
        assert_eq!(java_hashmap_order([17, 2, 1]), [1, 17, 2]);
        // 13 keys resize the table to 32: 17 gets its own bucket.
        let keys: Vec<i64> = (1..=12).chain([17]).collect();
        assert_eq!(java_hashmap_order(keys.clone()), keys);
    }
}
