//! The election port: initial message, frames, notifications.
//!
//! ```text
//!  initiator                                     receiver
//!  ── int64 protocolVersion | int64 sid | int32 addrLen | addr ──►   (or a bare int64 sid >= 0)
//!  ── int32 len | notification ──►  ...        ◄── int32 len | notification ──
//! ```
//!
//! Rules are `QuorumCnxManager.startConnection` / `handleConnection` / `InitialMessage.parse`
//! / `RecvWorker.run` and `FastLeaderElection.buildMsg` / `WorkerReceiver.run`; see
//! ZAB-NOTES §1–§2 and `docs/formats.md`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::WireError;

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`: one election address follows the sid.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `QuorumCnxManager.PROTOCOL_VERSION_V2`: every election address, joined with `|`
/// (only sent with `zookeeper.multiAddress.enabled=true`).
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `InitialMessage.parse`'s `maxBuffer`: the address text may be 1..=2048 bytes.
pub const MAX_INITIAL_ADDRESS_LEN: usize = 2048;
/// `QuorumCnxManager.PACKETMAXSIZE`: a notification frame may be 1..=512 KiB.
pub const MAX_ELECTION_FRAME: usize = 512 * 1024;
/// `Notification.CURRENTVERSION`.
pub const NOTIFICATION_VERSION: i32 = 2;

/// The protocol of an initial message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialVersion {
    /// Before 3.5: a bare non-negative sid and nothing else.
    Legacy,
    /// `PROTOCOL_VERSION_V1`: sid and one address.
    V1,
    /// `PROTOCOL_VERSION_V2`: sid and all addresses.
    V2,
}

/// A `host:port` as `InitialMessage.parse` accepts it; an IPv6 literal is kept without the
/// brackets it travels in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    /// Host name or literal address.
    pub host: String,
    /// Port, 0..=65535 (`InetSocketAddress`'s range).
    pub port: u16,
}

impl PeerAddress {
    /// An address.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        PeerAddress {
            host: host.into(),
            port,
        }
    }

    /// Java's `NetUtils.formatInetAddr`: `[h]:p` for an IPv6 literal, `h:p` otherwise.
    pub fn format(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parses one address as `ConfigUtils.getHostAndPort` + `Integer.parseInt` do.
    pub fn parse(s: &str) -> Result<PeerAddress, WireError> {
        let bad = || WireError::BadAddress(s.to_owned());
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            // "[v6]:port"
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = after.strip_prefix(':').ok_or_else(bad)?;
            (host, port)
        } else {
            let mut parts = s.split(':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(h), Some(p), None) => (h, p),
                _ => return Err(bad()),
            }
        };
        // Integer.parseInt takes an optional sign; InetSocketAddress then wants 0..=65535.
        let port: i64 = port.parse().map_err(|_| bad())?;
        let port = u16::try_from(port).map_err(|_| bad())?;
        Ok(PeerAddress::new(host, port))
    }
}

/// The first bytes on an election connection (`QuorumCnxManager.startConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    /// Which form.
    pub version: InitialVersion,
    /// The sender's myid.
    pub sid: i64,
    /// The sender's election addresses (empty for [`InitialVersion::Legacy`]).
    pub addresses: Vec<PeerAddress>,
}

impl InitialMessage {
    /// The form every 3.5+ node sends by default: V1 with one address.
    pub fn v1(sid: i64, address: PeerAddress) -> Self {
        InitialMessage {
            version: InitialVersion::V1,
            sid,
            addresses: vec![address],
        }
    }

    /// Appends the message. Write it in one `write()`: Java reads the address with a single
    /// `read()` (ZAB-NOTES §1.2).
    pub fn encode(&self, buf: &mut BytesMut) {
        match self.version {
            InitialVersion::Legacy => buf.put_i64(self.sid),
            InitialVersion::V1 | InitialVersion::V2 => {
                let version = if self.version == InitialVersion::V1 {
                    PROTOCOL_VERSION_V1
                } else {
                    PROTOCOL_VERSION_V2
                };
                let addr = self
                    .addresses
                    .iter()
                    .map(PeerAddress::format)
                    .collect::<Vec<_>>()
                    .join("|");
                buf.reserve(20 + addr.len());
                buf.put_i64(version);
                buf.put_i64(self.sid);
                buf.put_i32(addr.len() as i32);
                buf.put_slice(addr.as_bytes());
            }
        }
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }

    /// Reads the initial message from the front of `src` (`handleConnection` +
    /// `InitialMessage.parse`): `Ok(None)` until it is complete, then it is consumed.
    ///
    /// The address length is checked (1..=2048) before the address is waited for. Every
    /// address must parse; wildcard addresses are kept (the caller drops them and falls back
    /// to its configuration, ZOOKEEPER-2164).
    pub fn decode(src: &mut BytesMut) -> Result<Option<InitialMessage>, WireError> {
        if src.len() < 8 {
            return Ok(None);
        }
        let first = (&src[..8]).get_i64();
        if first >= 0 {
            src.advance(8);
            return Ok(Some(InitialMessage {
                version: InitialVersion::Legacy,
                sid: first,
                addresses: Vec::new(),
            }));
        }
        let version = match first {
            PROTOCOL_VERSION_V1 => InitialVersion::V1,
            PROTOCOL_VERSION_V2 => InitialVersion::V2,
            other => return Err(WireError::UnknownProtocolVersion(other)),
        };
        if src.len() < 20 {
            return Ok(None);
        }
        let mut head = &src[8..20];
        let sid = head.get_i64();
        let len = head.get_i32();
        if len <= 0 || len as usize > MAX_INITIAL_ADDRESS_LEN {
            return Err(WireError::BadLength {
                what: "initial message address",
                len: len.into(),
                max: MAX_INITIAL_ADDRESS_LEN,
            });
        }
        let len = len as usize;
        if src.len() < 20 + len {
            return Ok(None);
        }
        // Java decodes with `new String(b, UTF_8)`: invalid sequences become U+FFFD.
        let text = String::from_utf8_lossy(&src[20..20 + len]).into_owned();
        let addresses = text
            .split('|')
            .map(PeerAddress::parse)
            .collect::<Result<Vec<_>, _>>()?;
        src.advance(20 + len);
        Ok(Some(InitialMessage {
            version,
            sid,
            addresses,
        }))
    }
}

/// Appends one election frame: `int32 length` and the payload (`SendWorker.send`).
pub fn encode_frame(payload: &[u8], buf: &mut BytesMut) {
    buf.reserve(4 + payload.len());
    buf.put_i32(payload.len() as i32);
    buf.put_slice(payload);
}

/// Takes one election frame off the front of `src` (`RecvWorker.run`): `Ok(None)` until it
/// is complete. A length `<= 0` or over [`MAX_ELECTION_FRAME`] is an error, checked on the
/// four length bytes before anything is reserved.
pub fn decode_frame(src: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
    if src.len() < 4 {
        return Ok(None);
    }
    let len = (&src[..4]).get_i32();
    if len <= 0 || len as usize > MAX_ELECTION_FRAME {
        return Err(WireError::BadLength {
            what: "election frame",
            len: len.into(),
            max: MAX_ELECTION_FRAME,
        });
    }
    let len = len as usize;
    if src.len() < 4 + len {
        src.reserve(4 + len - src.len());
        return Ok(None);
    }
    src.advance(4);
    Ok(Some(src.split_to(len).freeze()))
}

/// `QuorumPeer.ServerState`, by ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// 0: electing.
    Looking,
    /// 1: following a leader.
    Following,
    /// 2: leading.
    Leading,
    /// 3: observing a leader.
    Observing,
}

impl ServerState {
    /// The ordinal written on the wire.
    pub fn code(self) -> i32 {
        match self {
            ServerState::Looking => 0,
            ServerState::Following => 1,
            ServerState::Leading => 2,
            ServerState::Observing => 3,
        }
    }

    /// The state for an ordinal; `None` for values Java ignores (`WorkerReceiver`'s
    /// `default: continue`).
    pub fn from_code(code: i32) -> Option<ServerState> {
        match code {
            0 => Some(ServerState::Looking),
            1 => Some(ServerState::Following),
            2 => Some(ServerState::Leading),
            3 => Some(ServerState::Observing),
            _ => None,
        }
    }
}

/// Which of the notification layouts Java sends or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationForm {
    /// 28 bytes: state, leader, zxid, electionEpoch (pre ZOOKEEPER-107). The receiver
    /// derives peerEpoch as `zxid >> 32`.
    Legacy28,
    /// 40 bytes: ... peerEpoch, then `int 1` that the receiver does not read
    /// (`buildMsg` with five arguments; 3.4.6–3.4.x).
    Legacy40,
    /// `44 + configLen` bytes: ... peerEpoch, version 2, configLen, config (3.5+).
    V2,
}

/// A FastLeaderElection notification as it travels (`buildMsg` / `WorkerReceiver`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sender's `ServerState` ordinal (kept raw: a non-voter's message is answered
    /// whatever its state, see [`ServerState::from_code`]).
    pub state: i32,
    /// Proposed (or known) leader sid.
    pub leader: i64,
    /// That leader's last logged zxid.
    pub zxid: i64,
    /// The sender's logical clock (election round).
    pub election_epoch: i64,
    /// The proposed leader's current epoch.
    pub peer_epoch: i64,
    /// The version as Java reads it: 0 for the 28- and 40-byte forms, else the int sent.
    pub version: i32,
    /// The sender's committed config text (`QuorumVerifier.toString()`), present when
    /// `version > 1`.
    pub config: Option<Bytes>,
}

impl Notification {
    /// The sender's state, when it is one Java knows.
    pub fn server_state(&self) -> Option<ServerState> {
        ServerState::from_code(self.state)
    }

    /// A current-version (2) notification with the config text.
    pub fn v2(
        state: ServerState,
        leader: i64,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
        config: Bytes,
    ) -> Self {
        Notification {
            state: state.code(),
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: NOTIFICATION_VERSION,
            config: Some(config),
        }
    }

    /// The payload in `form`. `V2` writes `self.version` and the config (empty if none);
    /// `Legacy40` writes the `int 1` Java's five-argument `buildMsg` writes.
    pub fn to_bytes(&self, form: NotificationForm) -> Bytes {
        let config: &[u8] = self.config.as_deref().unwrap_or_default();
        let mut b = BytesMut::with_capacity(44 + config.len());
        b.put_i32(self.state);
        b.put_i64(self.leader);
        b.put_i64(self.zxid);
        b.put_i64(self.election_epoch);
        match form {
            NotificationForm::Legacy28 => {}
            NotificationForm::Legacy40 => {
                b.put_i64(self.peer_epoch);
                b.put_i32(1);
            }
            NotificationForm::V2 => {
                b.put_i64(self.peer_epoch);
                b.put_i32(self.version);
                b.put_i32(config.len() as i32);
                b.put_slice(config);
            }
        }
        b.freeze()
    }

    /// Reads a notification payload (one frame) as `WorkerReceiver.run` does:
    ///
    /// * under 28 bytes: rejected;
    /// * exactly 28: no peerEpoch (`zxid >> 32`), version 0;
    /// * exactly 40: peerEpoch read, the trailing int ignored, version 0;
    /// * otherwise peerEpoch and version are read (so 29–39 bytes are rejected); if
    ///   `version > 1`, `configLen` (0..=remaining) and the config follow. Bytes after
    ///   what was read are ignored, as Java ignores them.
    pub fn decode(payload: &[u8]) -> Result<Notification, WireError> {
        let len = payload.len();
        if len < 28 {
            return Err(WireError::BadNotification("shorter than 28 bytes"));
        }
        let mut b = payload;
        let state = b.get_i32();
        let leader = b.get_i64();
        let zxid = b.get_i64();
        let election_epoch = b.get_i64();
        let mut n = Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch: zxid >> 32,
            version: 0,
            config: None,
        };
        if len == 28 {
            return Ok(n);
        }
        if b.remaining() < 8 {
            return Err(WireError::BadNotification("truncated peerEpoch"));
        }
        n.peer_epoch = b.get_i64();
        if len == 40 {
            return Ok(n);
        }
        if b.remaining() < 4 {
            return Err(WireError::BadNotification("truncated version"));
        }
        n.version = b.get_i32();
        if n.version > 1 {
            if b.remaining() < 4 {
                return Err(WireError::BadNotification("truncated config length"));
            }
            let clen = b.get_i32();
            if clen < 0 || clen as usize > b.remaining() {
                return Err(WireError::BadNotification("config length out of range"));
            }
            n.config = Some(Bytes::copy_from_slice(&b[..clen as usize]));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hexs(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// ZAB-NOTES §14, made with Java's `buildMsg`.
    const NOTES_NOTIFICATION: &str = "00000000000000000000000300000005000000070000000000000002\
                                      000000000000000500000002000000097665727369\
                                      6f6e3d30";

    #[test]
    fn notes_vector_notification_both_ways() {
        let n = Notification::v2(
            ServerState::Looking,
            3,
            0x5_0000_0007,
            2,
            5,
            Bytes::from_static(b"version=0"),
        );
        let bytes = n.to_bytes(NotificationForm::V2);
        assert_eq!(hexs(&bytes), NOTES_NOTIFICATION);
        assert_eq!(Notification::decode(&bytes).unwrap(), n);
    }

    #[test]
    fn legacy_forms() {
        let n = Notification::v2(ServerState::Following, 2, 0x7_0000_0001, 9, 6, Bytes::new());
        let b28 = n.to_bytes(NotificationForm::Legacy28);
        assert_eq!(b28.len(), 28);
        let d = Notification::decode(&b28).unwrap();
        assert_eq!((d.peer_epoch, d.version, d.config), (7, 0, None));
        let b40 = n.to_bytes(NotificationForm::Legacy40);
        assert_eq!(b40.len(), 40);
        assert_eq!(&b40[36..], &[0, 0, 0, 1]);
        let d = Notification::decode(&b40).unwrap();
        assert_eq!((d.peer_epoch, d.version, d.config), (6, 0, None));
    }

    #[test]
    fn malformed_notifications_are_rejected() {
        let n = Notification::v2(ServerState::Looking, 1, 1, 1, 1, Bytes::from_static(b"abc"));
        let full = n.to_bytes(NotificationForm::V2);
        for len in (0..28).chain(29..40).chain(44..47) {
            assert!(Notification::decode(&full[..len]).is_err(), "len {len}");
        }
        // 41..=43 bytes with version 2 cannot hold configLen.
        for len in 41..44 {
            assert!(Notification::decode(&full[..len]).is_err(), "len {len}");
        }
        // 41..=43 bytes with version <= 1 are accepted without config.
        let mut v1 = BytesMut::from(&n.to_bytes(NotificationForm::Legacy40)[..]);
        v1.put_u8(0);
        assert_eq!(Notification::decode(&v1).unwrap().version, 1);
        // Negative config length.
        let mut neg = BytesMut::from(&full[..40]);
        neg.put_i32(-1);
        assert!(Notification::decode(&neg).is_err());
        // Trailing bytes after the config are ignored.
        let mut extra = BytesMut::from(&full[..]);
        extra.put_slice(b"zz");
        assert_eq!(Notification::decode(&extra).unwrap(), n);
    }

    #[test]
    fn initial_message_v1_round_trip_and_partial() {
        let m = InitialMessage::v1(3, PeerAddress::new("10.0.0.3", 3888));
        let bytes = m.to_bytes();
        assert_eq!(
            hexs(&bytes),
            format!(
                "ffffffffffff00000000000000000003{:08x}{}",
                13,
                hexs(b"10.0.0.3:3888")
            )
        );
        for cut in 0..bytes.len() {
            let mut b = BytesMut::from(&bytes[..cut]);
            assert_eq!(InitialMessage::decode(&mut b).unwrap(), None, "cut {cut}");
            assert_eq!(b.len(), cut, "nothing consumed");
        }
        let mut b = BytesMut::from(&bytes[..]);
        b.put_u8(0xaa);
        assert_eq!(InitialMessage::decode(&mut b).unwrap(), Some(m));
        assert_eq!(&b[..], &[0xaa]);
    }

    #[test]
    fn initial_message_forms_and_rejections() {
        let mut b = BytesMut::from(&7i64.to_be_bytes()[..]);
        let m = InitialMessage::decode(&mut b).unwrap().unwrap();
        assert_eq!((m.version, m.sid), (InitialVersion::Legacy, 7));

        let v2 = InitialMessage {
            version: InitialVersion::V2,
            sid: 5,
            addresses: vec![PeerAddress::new("a", 1), PeerAddress::new("::1", 2)],
        };
        let bytes = v2.to_bytes();
        assert!(bytes.ends_with(b"a:1|[::1]:2"));
        let mut b = BytesMut::from(&bytes[..]);
        assert_eq!(InitialMessage::decode(&mut b).unwrap(), Some(v2));

        let mut b = BytesMut::from(&(-3i64).to_be_bytes()[..]);
        assert_eq!(
            InitialMessage::decode(&mut b),
            Err(WireError::UnknownProtocolVersion(-3))
        );
        for len in [0i32, -1, 2049] {
            let mut b = BytesMut::new();
            b.put_i64(PROTOCOL_VERSION_V1);
            b.put_i64(1);
            b.put_i32(len);
            assert!(
                matches!(
                    InitialMessage::decode(&mut b),
                    Err(WireError::BadLength { .. })
                ),
                "len {len}"
            );
        }
        for addr in ["nohost", "a:b", "a:1:2", "[::1]", "h:70000", "[::1]x"] {
            let mut b = BytesMut::new();
            b.put_i64(PROTOCOL_VERSION_V1);
            b.put_i64(1);
            b.put_i32(addr.len() as i32);
            b.put_slice(addr.as_bytes());
            assert!(
                matches!(
                    InitialMessage::decode(&mut b),
                    Err(WireError::BadAddress(_))
                ),
                "{addr}"
            );
        }
    }

    #[test]
    fn frames_check_length_before_waiting() {
        let mut b = BytesMut::new();
        encode_frame(b"hello", &mut b);
        let mut part = BytesMut::from(&b[..6]);
        assert_eq!(decode_frame(&mut part).unwrap(), None);
        assert_eq!(
            decode_frame(&mut b).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert!(b.is_empty());
        for len in [0i32, -5, (MAX_ELECTION_FRAME + 1) as i32] {
            let mut b = BytesMut::from(&len.to_be_bytes()[..]);
            assert!(decode_frame(&mut b).is_err(), "len {len}");
        }
        let mut b = BytesMut::from(&(MAX_ELECTION_FRAME as i32).to_be_bytes()[..]);
        assert_eq!(decode_frame(&mut b).unwrap(), None);
    }
}
