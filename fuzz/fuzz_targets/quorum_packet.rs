//! Drives the quorum-port stream decoder over arbitrary bytes fed in chunks whose size comes
//! from the input, with a small `jute.maxbuffer`, as a hostile peer would send them.
//!
//! Checks, beyond "no panic": a packet that decodes re-encodes to bytes that decode to the
//! same value (the encoder is canonical, so a second round trip is byte-exact), and an
//! incomplete packet consumes nothing.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zk_proto::Limits;
use zk_zab::wire::packet::{decode_packet, Packet};

const LIMITS: Limits = Limits { max_buffer: 4096 };

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl).max(1);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decode_packet(&mut buf, LIMITS) {
                Ok(Some(Some(p))) => {
                    let once = p.to_bytes();
                    let again = Packet::decode(once.clone(), LIMITS)
                        .expect("our own encoding decodes")
                        .expect("a known type");
                    assert_eq!(again, p);
                    assert_eq!(again.to_bytes(), once);
                }
                Ok(Some(None)) => {}
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete packet consumes nothing");
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
