//! The client wire, as little of it as a load generator needs: the handshake, request
//! frames (built once per key with zk-proto's records and reused with the xid patched) and
//! reply headers.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_proto::data::{Acl, Id};
use zk_proto::handshake::{self, ConnectShape};
use zk_proto::multi::{MultiOp, MultiRequest};
use zk_proto::proto::{
    ConnectRequest, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest,
    GetDataRequest, ReplyHeader, SetDataRequest,
};
use zk_proto::request::Request;
use zk_proto::{Decoder, JString, Limits, Record};

use crate::BenchError;

/// xid of watch notifications.
pub const NOTIFICATION_XID: i32 = -1;
/// xid of pings.
pub const PING_XID: i32 = -2;

/// Where the benchmark's nodes live.
pub const ROOT: &str = "/zkbench";

/// Keys per parent node (as ZooKeeper's reference load: 1,000 children per parent).
pub const KEYS_PER_PARENT: u64 = 1000;

/// The parent of key `i`: `/zkbench/k/p00000`.
pub fn parent_path(i: u64) -> String {
    format!("{ROOT}/k/p{:05}", i / KEYS_PER_PARENT)
}

/// Key `i`'s path, about 30 bytes: `/zkbench/k/p00012/n0012345`.
pub fn key_path(i: u64) -> String {
    format!("{}/n{i:07}", parent_path(i))
}

/// world:anyone, all permissions.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: Some(JString::from("world")),
            id: Some(JString::from("anyone")),
        },
    }]
}

/// A whole frame for `req` with the length prefix and `xid`.
pub fn frame(req: &Request, xid: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(12 + req.body_len());
    buf.extend_from_slice(&[0; 4]);
    req.encode_frame(xid, &mut buf);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Appends a pre-built frame to `out` with its xid replaced.
pub fn put_with_xid(out: &mut BytesMut, frame: &[u8], xid: i32) {
    let at = out.len();
    out.extend_from_slice(frame);
    out[at + 4..at + 8].copy_from_slice(&xid.to_be_bytes());
}

fn path(p: &str) -> Option<JString> {
    Some(JString::from(p))
}

/// getData(path, watch).
pub fn get_data(p: &str, watch: bool) -> Request {
    Request::GetData(GetDataRequest {
        path: path(p),
        watch,
    })
}

/// exists(path, watch).
pub fn exists(p: &str, watch: bool) -> Request {
    Request::Exists(ExistsRequest {
        path: path(p),
        watch,
    })
}

/// getChildren(path, no watch).
pub fn children(p: &str) -> Request {
    Request::GetChildren(GetChildrenRequest {
        path: path(p),
        watch: false,
    })
}

/// setData(path, data, any version).
pub fn set_data(p: &str, data: &Bytes) -> Request {
    Request::SetData(SetDataRequest {
        path: path(p),
        data: Some(data.clone()),
        version: -1,
    })
}

/// create(path, data, world:anyone, persistent).
pub fn create(p: &str, data: &Bytes) -> Request {
    Request::Create {
        op: zk_proto::multi::CreateOp::Create,
        request: CreateRequest {
            path: path(p),
            data: Some(data.clone()),
            acl: Some(open_acl()),
            flags: 0,
        },
    }
}

/// delete(path, any version).
pub fn delete(p: &str) -> Request {
    Request::Delete(DeleteRequest {
        path: path(p),
        version: -1,
    })
}

/// multi(setData a, setData b).
pub fn multi_set(a: &str, b: &str, data: &Bytes) -> Request {
    let set = |p: &str| {
        MultiOp::SetData(SetDataRequest {
            path: path(p),
            data: Some(data.clone()),
            version: -1,
        })
    };
    Request::Multi(MultiRequest {
        ops: vec![set(a), set(b)],
    })
}

/// Takes one complete frame (without its length prefix) off the front of `buf`, if there is
/// one.
pub fn take_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, BenchError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if !(0..=64 << 20).contains(&len) {
        return Err(BenchError::Protocol(format!("frame length {len}")));
    }
    let len = len as usize;
    if buf.len() < 4 + len {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The header of a reply frame.
pub fn reply_header(frame: Bytes) -> Result<ReplyHeader, BenchError> {
    let mut d = Decoder::with_limits(frame, Limits::default());
    ReplyHeader::decode(&mut d).map_err(|e| BenchError::Protocol(format!("reply header: {e}")))
}

/// Opens a connection and a session (`timeout_ms` requested); returns the stream and the
/// session id.
pub async fn connect(addr: &str, timeout_ms: i32) -> Result<(TcpStream, i64), BenchError> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: false,
    };
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    handshake::encode_request(&req, ConnectShape::WithReadOnly, &mut buf);
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    s.write_all(&buf).await?;
    let mut rbuf = BytesMut::with_capacity(64);
    loop {
        if let Some(f) = take_frame(&mut rbuf)? {
            let (resp, _) = handshake::decode_response(f, Limits::default())
                .map_err(|e| BenchError::Protocol(format!("connect response: {e}")))?;
            if resp.session_id == 0 || resp.time_out <= 0 {
                return Err(BenchError::Protocol("session refused".into()));
            }
            if !rbuf.is_empty() {
                return Err(BenchError::Protocol("bytes after the handshake".into()));
            }
            return Ok((s, resp.session_id));
        }
        if s.read_buf(&mut rbuf).await? == 0 {
            return Err(BenchError::Closed);
        }
    }
}

/// Sends closeSession and waits for its reply (bounded by the caller).
pub async fn close_session(s: &mut TcpStream, xid: i32) -> Result<(), BenchError> {
    s.write_all(&frame(&Request::CloseSession, xid)).await?;
    let mut rbuf = BytesMut::with_capacity(256);
    loop {
        while let Some(f) = take_frame(&mut rbuf)? {
            if reply_header(f)?.xid == xid {
                return Ok(());
            }
        }
        if s.read_buf(&mut rbuf).await? == 0 {
            // Some servers close without answering; the session is closed either way.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_are_about_thirty_bytes_and_grouped_by_thousand() {
        assert_eq!(key_path(12_345), "/zkbench/k/p00012/n0012345");
        assert_eq!(key_path(999), "/zkbench/k/p00000/n0000999");
        assert_eq!(parent_path(1000), "/zkbench/k/p00001");
        assert_eq!(key_path(0).len(), 26);
    }

    #[test]
    fn frames_carry_length_and_patched_xid() {
        let f = frame(&get_data("/a", false), 0);
        // header 8 + path (4 + 2) + watch 1
        assert_eq!(&f[..4], &15i32.to_be_bytes());
        assert_eq!(f.len(), 19);
        let mut out = BytesMut::new();
        put_with_xid(&mut out, &f, 77);
        assert_eq!(&out[4..8], &77i32.to_be_bytes());
        assert_eq!(&out[8..12], &4i32.to_be_bytes()); // getData
        let mut b = out.clone();
        let body = take_frame(&mut b).unwrap().unwrap();
        assert_eq!(body.len(), 15);
        assert!(b.is_empty());
    }

    #[test]
    fn partial_frames_wait_and_bad_lengths_fail() {
        let mut b = BytesMut::from(&[0u8, 0, 0, 5, 1, 2][..]);
        assert!(take_frame(&mut b).unwrap().is_none());
        let mut b = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xf0][..]);
        assert!(take_frame(&mut b).is_err());
    }
}
