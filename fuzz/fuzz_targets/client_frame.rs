//! Drives the client-port codec and the request decoder over arbitrary bytes, as a hostile
//! client would send them: in chunks of sizes taken from the input, on a fresh or an
//! already established connection.
//!
//! Checks, beyond "no panic": the read buffer never grows past what a frame may need (or
//! what was fed), and every request that decodes (other than multi, whose create-mode
//! normalisation is deliberately lossy, as upstream's) re-encodes to a frame that decodes to
//! the same value.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use zk_proto::codec::{ClientCodec, ClientFrame};
use zk_proto::request::Request;

const MAX: usize = 4096;

/// A ConnectRequest frame (45 bytes + length), to start established.
const CONNECT: [u8; 49] = {
    let mut f = [0u8; 49];
    f[3] = 45;
    // passwd length 16 at offset 4 + 24
    f[4 + 27] = 16;
    f
};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut codec = ClientCodec::new(MAX);
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    if ctl & 0x80 != 0 {
        buf.extend_from_slice(&CONNECT);
        fed += CONNECT.len();
        assert!(matches!(codec.decode(&mut buf), Ok(Some(ClientFrame::Connect(_)))));
    }
    let chunk = usize::from(ctl & 0x7f).max(1);
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(ClientFrame::Request { header, body })) => {
                    if let Ok(req) = Request::decode(header.type_, body, codec.limits()) {
                        if !matches!(req, Request::Multi(_) | Request::MultiRead(_)) {
                            let mut again = BytesMut::new();
                            req.encode_frame(header.xid, &mut again);
                            let (h2, r2) =
                                Request::decode_frame(again.freeze(), codec.limits()).unwrap();
                            assert_eq!(h2.xid, header.xid);
                            assert_eq!(r2, req);
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
            assert!(buf.capacity() <= (MAX + 4).max(2 * fed) + 64);
        }
        assert!(buf.capacity() <= (MAX + 4).max(2 * fed) + 64);
    }
    let _ = codec.decode_eof(&mut buf);
});
