//! Quorum SASL (`QuorumAuth`, `SaslQuorumAuth{Learner,Server}`): the `QuorumAuthPacket`
//! records a learner and a member's server side exchange right after the election port's
//! initial message and right after a learner connects to the leader's quorum port.
//!
//! A record is Jute-serialized with no outer length (`BinaryOutputArchive.writeRecord`):
//! `int64 magic` ([`QUORUM_AUTH_MAGIC`]), `int32 status` ([`AuthStatus`]), and the SASL
//! token as a Jute buffer (`int32 length`, `-1` for none, then the bytes). A server tells
//! an authenticating peer from one that is not by peeking at the first eight bytes
//! ([`starts_with_auth`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::WireError;

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`, written in Java as `-0xa0dbcafecafe1234L`: the
/// negation of a negative long, so in fact positive.
pub const QUORUM_AUTH_MAGIC: i64 = 0x5f24_3501_3501_edcc;

/// The largest token accepted. DIGEST-MD5 tokens are a few hundred bytes (the JDK server
/// refuses responses of 4096 bytes or more); Java bounds them only by `jute.maxbuffer`.
pub const MAX_AUTH_TOKEN: usize = 64 * 1024;

/// `QuorumAuth.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStatus {
    /// `0`: the exchange goes on.
    InProgress,
    /// `1`: the server authenticated the learner.
    Success,
    /// `-1`: the server refused the learner.
    Error,
}

impl AuthStatus {
    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            AuthStatus::InProgress => 0,
            AuthStatus::Success => 1,
            AuthStatus::Error => -1,
        }
    }

    /// The status of a wire value; Java maps any other value to `ERROR` (after logging).
    pub fn from_code(code: i32) -> AuthStatus {
        match code {
            0 => AuthStatus::InProgress,
            1 => AuthStatus::Success,
            _ => AuthStatus::Error,
        }
    }
}

/// One `QuorumAuthPacket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumAuthPacket {
    /// The magic number as read (a server rejects a packet without [`QUORUM_AUTH_MAGIC`]).
    pub magic: i64,
    /// The status.
    pub status: AuthStatus,
    /// The SASL token; `None` is Jute's null buffer (length `-1`).
    pub token: Option<Bytes>,
}

impl QuorumAuthPacket {
    /// A packet with the magic number.
    pub fn new(status: AuthStatus, token: Option<Bytes>) -> Self {
        QuorumAuthPacket {
            magic: QUORUM_AUTH_MAGIC,
            status,
            token,
        }
    }

    /// The record's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let len = self.token.as_ref().map_or(0, Bytes::len);
        let mut buf = BytesMut::with_capacity(16 + len);
        buf.put_i64(self.magic);
        buf.put_i32(self.status.code());
        match &self.token {
            Some(t) => {
                buf.put_i32(t.len() as i32);
                buf.put_slice(t);
            }
            None => buf.put_i32(-1),
        }
        buf.freeze()
    }

    /// Takes one record off the front of `src`: `Ok(None)` until it is complete (nothing
    /// consumed). A token length below `-1` or over [`MAX_AUTH_TOKEN`] is an error,
    /// checked before anything is reserved.
    pub fn decode(src: &mut BytesMut) -> Result<Option<QuorumAuthPacket>, WireError> {
        const HEAD: usize = 8 + 4 + 4;
        if src.len() < HEAD {
            return Ok(None);
        }
        let mut head = &src[..HEAD];
        let magic = head.get_i64();
        let status = AuthStatus::from_code(head.get_i32());
        let len = head.get_i32();
        if len < -1 || len as i64 > MAX_AUTH_TOKEN as i64 {
            return Err(WireError::BadLength {
                what: "quorum auth token",
                len: len.into(),
                max: MAX_AUTH_TOKEN,
            });
        }
        let body = usize::try_from(len).unwrap_or(0);
        if src.len() < HEAD + body {
            src.reserve(HEAD + body - src.len());
            return Ok(None);
        }
        src.advance(HEAD);
        let token = (len >= 0).then(|| src.split_to(body).freeze());
        Ok(Some(QuorumAuthPacket {
            magic,
            status,
            token,
        }))
    }
}

/// `QuorumAuth.nextPacketIsAuth`: whether the first eight bytes are the magic number.
/// `None` until eight bytes are there.
pub fn starts_with_auth(src: &[u8]) -> Option<bool> {
    let first: [u8; 8] = src.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(first) == QUORUM_AUTH_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_javas() {
        assert_eq!(
            QUORUM_AUTH_MAGIC,
            (0xa0db_cafe_cafe_1234u64 as i64).wrapping_neg()
        );
        let p = QuorumAuthPacket::new(AuthStatus::InProgress, Some(Bytes::new()));
        // magic, status 0, an empty (not null) token: what the learner sends first.
        assert_eq!(
            hex::encode(p.to_bytes()),
            "5f2435013501edcc0000000000000000"
        );
        let p = QuorumAuthPacket::new(AuthStatus::Error, None);
        assert_eq!(
            hex::encode(p.to_bytes()),
            "5f2435013501edccffffffffffffffff"
        );
        let p = QuorumAuthPacket::new(AuthStatus::Success, Some(Bytes::from_static(b"ab")));
        let bytes = p.to_bytes();
        assert_eq!(hex::encode(&bytes), "5f2435013501edcc00000001000000026162");
        assert_eq!(starts_with_auth(&bytes), Some(true));
        assert_eq!(starts_with_auth(&bytes[..7]), None);
        assert_eq!(starts_with_auth(&[0xff; 8]), Some(false));
    }

    #[test]
    fn decodes_in_pieces_and_keeps_what_follows() {
        let p = QuorumAuthPacket::new(AuthStatus::Success, Some(Bytes::from_static(b"tok")));
        let mut all = BytesMut::from(&p.to_bytes()[..]);
        all.extend_from_slice(b"next");
        for cut in 0..all.len() - 4 {
            let mut part = BytesMut::from(&all[..cut]);
            assert_eq!(QuorumAuthPacket::decode(&mut part), Ok(None));
            assert_eq!(part.len(), cut);
        }
        assert_eq!(QuorumAuthPacket::decode(&mut all), Ok(Some(p)));
        assert_eq!(&all[..], b"next");
        let mut null =
            BytesMut::from(&QuorumAuthPacket::new(AuthStatus::Error, None).to_bytes()[..]);
        let got = QuorumAuthPacket::decode(&mut null).unwrap().unwrap();
        assert_eq!((got.status, got.token), (AuthStatus::Error, None));
        assert!(null.is_empty());
        // Unknown statuses read as ERROR, as Java's getStatus maps them.
        assert_eq!(AuthStatus::from_code(7), AuthStatus::Error);
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        for len in [-2i32, i32::MIN, (MAX_AUTH_TOKEN + 1) as i32, i32::MAX] {
            let mut b = BytesMut::new();
            b.put_i64(QUORUM_AUTH_MAGIC);
            b.put_i32(0);
            b.put_i32(len);
            let cap = b.capacity();
            assert!(
                matches!(
                    QuorumAuthPacket::decode(&mut b),
                    Err(WireError::BadLength { .. })
                ),
                "{len}"
            );
            assert_eq!(b.capacity(), cap);
        }
    }
}
