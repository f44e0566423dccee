//! The session handshake: the client's first frame is a bare `ConnectRequest`, the server's
//! first frame a bare `ConnectResponse` (no headers).
//!
//! Clients before 3.4 do not know the trailing `readOnly` boolean: their request is 44 bytes
//! (with a 16-byte password) instead of 45, and they expect a 36-byte response instead of 37.
//! Upstream (`compat.ProtocolManager`, used by `NIOServerCnxn.readConnectRequest` and
//! `ZooKeeperServer.finishSessionInit`) reads the five fields, then tries to read the boolean;
//! whether that worked decides the shape of the response. [`ConnectShape`] carries that
//! decision from [`decode_request`] to [`encode_response`].
//!
//! ```text
//! ConnectRequest   int protocolVersion | long lastZxidSeen | int timeOut | long sessionId
//!                  | buffer passwd (i32 len + bytes) [| boolean readOnly]
//! ConnectResponse  int protocolVersion | int timeOut | long sessionId
//!                  | buffer passwd [| boolean readOnly]
//! ```

use bytes::{Bytes, BytesMut};
use zk_jute::encode;

use crate::proto::{ConnectRequest, ConnectResponse};
use crate::{Decoder, JuteError, Limits, Record};

/// Bytes of a `ConnectRequest` without `readOnly`, with the usual 16-byte password.
pub const LEGACY_REQUEST_LEN: usize = 44;
/// Bytes of a `ConnectRequest` with `readOnly`, with the usual 16-byte password.
pub const REQUEST_LEN: usize = 45;
/// Bytes of a `ConnectResponse` without `readOnly`, with a 16-byte password.
pub const LEGACY_RESPONSE_LEN: usize = 36;
/// Bytes of a `ConnectResponse` with `readOnly`, with a 16-byte password.
pub const RESPONSE_LEN: usize = 37;

/// Whether the peer's handshake carries the trailing `readOnly` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectShape {
    /// No `readOnly` byte: a client from before 3.4 (upstream logs it as an "old client" and
    /// drops it if the server is read-only).
    Legacy,
    /// With the `readOnly` byte.
    WithReadOnly,
}

/// A decoded `ConnectRequest` and the shape it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The request; `read_only` is false for a legacy request.
    pub request: ConnectRequest,
    /// Whether `readOnly` was present; answer in the same shape.
    pub shape: ConnectShape,
}

/// Decodes the first client frame (without its length prefix) as upstream does: the five
/// fixed fields must be there; a sixth byte, if any, is `readOnly` (any non-zero value is
/// true, as Java's `readBoolean`); bytes after it are ignored. The password may have any
/// length up to the limit, or be null. `protocolVersion` is not checked (upstream ignores it).
pub fn decode_request(frame: Bytes, limits: Limits) -> Result<Handshake, JuteError> {
    let mut d = Decoder::with_limits(frame, limits);
    let mut request = ConnectRequest {
        protocol_version: d.read_i32()?,
        last_zxid_seen: d.read_i64()?,
        time_out: d.read_i32()?,
        session_id: d.read_i64()?,
        passwd: d.read_buffer()?,
        read_only: false,
    };
    let shape = if d.is_empty() {
        ConnectShape::Legacy
    } else {
        request.read_only = d.read_bool()?;
        ConnectShape::WithReadOnly
    };
    Ok(Handshake { request, shape })
}

/// Appends a `ConnectResponse` in the given shape (without a length prefix).
pub fn encode_response(response: &ConnectResponse, shape: ConnectShape, buf: &mut BytesMut) {
    match shape {
        ConnectShape::WithReadOnly => response.encode(buf),
        ConnectShape::Legacy => {
            encode::put_i32(buf, response.protocol_version);
            encode::put_i32(buf, response.time_out);
            encode::put_i64(buf, response.session_id);
            encode::put_buffer(buf, &response.passwd);
        }
    }
}

/// The exact number of bytes [`encode_response`] appends.
pub fn response_len(response: &ConnectResponse, shape: ConnectShape) -> usize {
    match shape {
        ConnectShape::WithReadOnly => response.encoded_len(),
        ConnectShape::Legacy => response.encoded_len() - 1,
    }
}

/// Encodes a `ConnectRequest` in the given shape, as a client sends it (for tests and the
/// load generator).
pub fn encode_request(request: &ConnectRequest, shape: ConnectShape, buf: &mut BytesMut) {
    match shape {
        ConnectShape::WithReadOnly => request.encode(buf),
        ConnectShape::Legacy => {
            encode::put_i32(buf, request.protocol_version);
            encode::put_i64(buf, request.last_zxid_seen);
            encode::put_i32(buf, request.time_out);
            encode::put_i64(buf, request.session_id);
            encode::put_buffer(buf, &request.passwd);
        }
    }
}

/// Decodes a `ConnectResponse` of either shape (the client side of the handshake, as
/// `ProtocolManager.deserializeConnectResponse`).
pub fn decode_response(
    frame: Bytes,
    limits: Limits,
) -> Result<(ConnectResponse, ConnectShape), JuteError> {
    let mut d = Decoder::with_limits(frame, limits);
    let mut response = ConnectResponse {
        protocol_version: d.read_i32()?,
        time_out: d.read_i32()?,
        session_id: d.read_i64()?,
        passwd: d.read_buffer()?,
        read_only: false,
    };
    let shape = if d.is_empty() {
        ConnectShape::Legacy
    } else {
        response.read_only = d.read_bool()?;
        ConnectShape::WithReadOnly
    };
    Ok((response, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(read_only: bool) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x1_0000_0005,
            time_out: 30_000,
            session_id: 0x0100_0000_0000_0001,
            passwd: Some(Bytes::from_static(&[7; 16])),
            read_only,
        }
    }

    fn response() -> ConnectResponse {
        ConnectResponse {
            protocol_version: 0,
            time_out: 20_000,
            session_id: 0x0100_0000_0000_0001,
            passwd: Some(Bytes::from_static(&[9; 16])),
            read_only: false,
        }
    }

    #[test]
    fn both_request_shapes_are_accepted_and_reported() {
        for (shape, len, ro) in [
            (ConnectShape::Legacy, LEGACY_REQUEST_LEN, false),
            (ConnectShape::WithReadOnly, REQUEST_LEN, true),
        ] {
            let mut b = BytesMut::new();
            encode_request(&request(ro), shape, &mut b);
            assert_eq!(b.len(), len);
            let h = decode_request(b.freeze(), Limits::default()).unwrap();
            assert_eq!(h.shape, shape);
            assert_eq!(h.request, request(ro));
        }
    }

    #[test]
    fn upstream_tolerances() {
        // Trailing bytes after readOnly are ignored; readOnly is any non-zero byte.
        let mut b = BytesMut::new();
        encode_request(&request(false), ConnectShape::Legacy, &mut b);
        b.extend_from_slice(&[2, 0xde, 0xad]);
        let h = decode_request(b.freeze(), Limits::default()).unwrap();
        assert_eq!(h.shape, ConnectShape::WithReadOnly);
        assert!(h.request.read_only);
        // A password of another length, or null.
        for passwd in [None, Some(Bytes::new()), Some(Bytes::from_static(b"abc"))] {
            let r = ConnectRequest {
                passwd,
                ..request(false)
            };
            let mut b = BytesMut::new();
            encode_request(&r, ConnectShape::Legacy, &mut b);
            assert_eq!(
                decode_request(b.freeze(), Limits::default())
                    .unwrap()
                    .request,
                r
            );
        }
        // Anything short of the five fields is an error (upstream: EOF, connection closed).
        let mut b = BytesMut::new();
        encode_request(&request(false), ConnectShape::Legacy, &mut b);
        for cut in 0..LEGACY_REQUEST_LEN {
            assert!(decode_request(b.clone().freeze().slice(..cut), Limits::default()).is_err());
        }
        // A password longer than the limit is refused.
        assert!(matches!(
            decode_request(b.freeze(), Limits { max_buffer: 15 }),
            Err(JuteError::BadLength { len: 16, .. })
        ));
    }

    #[test]
    fn response_shapes_are_36_and_37_bytes() {
        let r = response();
        let mut legacy = BytesMut::new();
        encode_response(&r, ConnectShape::Legacy, &mut legacy);
        let mut full = BytesMut::new();
        encode_response(&r, ConnectShape::WithReadOnly, &mut full);
        assert_eq!(legacy.len(), LEGACY_RESPONSE_LEN);
        assert_eq!(full.len(), RESPONSE_LEN);
        assert_eq!(response_len(&r, ConnectShape::Legacy), LEGACY_RESPONSE_LEN);
        assert_eq!(response_len(&r, ConnectShape::WithReadOnly), RESPONSE_LEN);
        assert_eq!(&full[..36], &legacy[..]);
        assert_eq!(full[36], 0);
        assert_eq!(
            hex_of(&legacy),
            "00000000\
             00004e20\
             0100000000000001\
             00000010 09090909090909090909090909090909"
                .replace(' ', "")
        );
        assert_eq!(
            decode_response(legacy.freeze(), Limits::default()).unwrap(),
            (r.clone(), ConnectShape::Legacy)
        );
        assert_eq!(
            decode_response(full.freeze(), Limits::default()).unwrap(),
            (r, ConnectShape::WithReadOnly)
        );
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let r = decode_request(Bytes::from(bytes.clone()), Limits { max_buffer: 32 });
            if bytes.len() < 28 {
                prop_assert!(r.is_err());
            }
            let _ = decode_response(Bytes::from(bytes), Limits { max_buffer: 32 });
        }
    }
}
