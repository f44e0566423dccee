//! Hostile bytes never panic the decoders, and whatever decodes re-encodes to bytes that
//! decode to the same value. (The cargo-fuzz targets in `fuzz/` explore further; this runs
//! in every `cargo test`.)

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use zk_proto::data::Id;
use zk_proto::txn::TxnHeader;
use zk_proto::JString;
use zk_proto::Limits;
use zk_zab::wire::election::{decode_frame, InitialMessage, Notification, NotificationForm};
use zk_zab::wire::packet::{
    decode_packet, ForwardedRequest, LearnerInfoData, Packet, Revalidate, SessionTouch, TxnPayload,
};

const LIMITS: Limits = Limits { max_buffer: 1024 };

/// A valid packet of each structured kind, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let header = TxnHeader {
        client_id: 0x0100_0000_0000_0001,
        cxid: 7,
        zxid: 0x2_0000_0005,
        time: 1_700_000_000_000,
        type_: -1,
    };
    let txn = TxnPayload::new(header, &(-101i32).to_be_bytes(), None);
    [
        Packet::Request(ForwardedRequest {
            session_id: 1,
            cxid: 2,
            op_type: 2,
            body: Bytes::from_static(b"\0\0\0\x02/a\xff\xff\xff\xff"),
            authinfo: Some(vec![Id {
                scheme: Some(JString::from("ip")),
                id: Some(JString::from("127.0.0.1")),
            }]),
        }),
        Packet::Ping {
            zxid: 5,
            sessions: Some(vec![SessionTouch {
                session_id: 1,
                timeout_ms: 30_000,
            }]),
        },
        Packet::FollowerInfo {
            zxid: 5 << 32,
            info: LearnerInfoData::full(3, 0),
        },
        Packet::Proposal {
            zxid: 0x2_0000_0005,
            txn,
        },
        Packet::Revalidate(Revalidate::Reply {
            session_id: 1,
            valid: true,
        }),
    ]
    .iter()
    .map(|p| p.to_bytes().to_vec())
    .collect()
}

#[test]
fn seeds_decode() {
    for s in seeds() {
        let mut b = BytesMut::from(&s[..]);
        assert!(matches!(decode_packet(&mut b, LIMITS), Ok(Some(Some(_)))));
    }
}

fn check_packets(bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    for _ in 0..64 {
        match decode_packet(&mut buf, LIMITS) {
            Ok(Some(Some(p))) => {
                let again = Packet::decode(p.to_bytes(), LIMITS).unwrap().unwrap();
                assert_eq!(again, p);
            }
            Ok(Some(None)) => {}
            Ok(None) | Err(_) => break,
        }
    }
}

proptest! {
    #[test]
    fn random_quorum_streams(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_packets(&bytes);
    }

    #[test]
    fn mutated_quorum_packets(
        which in 0usize..5,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut b = seeds()[which].clone();
        for (at, v) in flips {
            let n = b.len();
            b[at % n] = v;
        }
        let n = b.len();
        b.truncate(cut % (n + 1));
        check_packets(&b);
    }

    #[test]
    fn random_election_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(Some(m)) = InitialMessage::decode(&mut buf) {
            let mut again = BytesMut::from(&m.to_bytes()[..]);
            prop_assert_eq!(InitialMessage::decode(&mut again).unwrap(), Some(m));
        }
        while let Ok(Some(frame)) = decode_frame(&mut buf) {
            let _ = Notification::decode(&frame);
        }
        if let Ok(n) = Notification::decode(&bytes) {
            if n.version > 1 {
                let again = n.to_bytes(NotificationForm::V2);
                prop_assert_eq!(Notification::decode(&again).unwrap(), n);
            }
        }
        let _ = Packet::decode(Bytes::from(bytes), LIMITS);
    }
}
