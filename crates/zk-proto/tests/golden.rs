//! Byte-for-byte comparisons with Apache ZooKeeper 3.8's own classes.
//!
//! The hex strings are the output of `tests/golden/ProtoGolden.java` run against Debian's
//! `zookeeper.jar`; each test builds the same values in Rust, encodes them, compares the bytes
//! and decodes the Java bytes back.

use bytes::Bytes;
use zk_proto::data::{Acl, Id};
use zk_proto::txn::{
    CheckVersionTxn, CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, SetDataTxn,
    TxnDigest, TxnHeader,
};
use zk_proto::txn_body::{LogEntry, TxnBody};

fn unhex(s: &str) -> Bytes {
    Bytes::from(hex::decode(s).unwrap())
}

fn acl() -> Option<Vec<Acl>> {
    Some(vec![Acl {
        perms: 31,
        id: Id {
            scheme: Some("world".into()),
            id: Some("anyone".into()),
        },
    }])
}

fn header(client_id: i64, cxid: i32, zxid: i64, time: i64) -> TxnHeader {
    TxnHeader {
        client_id,
        cxid,
        zxid,
        time,
        type_: 0,
    }
}

fn check_entry(java_hex: &str, entry: LogEntry) {
    let java = unhex(java_hex);
    assert_eq!(hex::encode(entry.to_bytes()), java_hex);
    assert_eq!(LogEntry::decode(java).unwrap(), entry);
}

#[test]
fn txn_create_with_digest() {
    check_entry(
        "00000000000012340000000700000001000000020000018bcfe5680000000001000000022f61000000027879000000010000001f00000005776f726c6400000006616e796f6e650100000003000000020102030405060708",
        LogEntry::new(
            header(0x1234, 7, 0x1_0000_0002, 1_700_000_000_000),
            TxnBody::Create {
                create2: false,
                txn: CreateTxn {
                    path: Some("/a".into()),
                    data: Some(Bytes::from_static(b"xy")),
                    acl: acl(),
                    ephemeral: true,
                    parent_c_version: 3,
                },
            },
            Some(TxnDigest {
                version: 2,
                tree_digest: 0x0102_0304_0506_0708,
            }),
        ),
    );
}

#[test]
fn txn_multi() {
    check_entry(
        "00000000000000550000000900000001000000030000018bcfe568010000000e000000050000000f0000002a000000022f6dffffffff000000010000001f00000005776f726c6400000006616e796f6e650000000001000000050000000f000000022f620000000164000000040000000d0000000a000000022f63000000010000000200000006000000022f64ffffffff00000004ffffff9b",
        LogEntry::new(
            header(0x55, 9, 0x1_0000_0003, 1_700_000_000_001),
            TxnBody::Multi(vec![
                TxnBody::Create {
                    create2: true,
                    txn: CreateTxn {
                        path: Some("/m".into()),
                        data: None,
                        acl: acl(),
                        ephemeral: false,
                        parent_c_version: 1,
                    },
                },
                TxnBody::SetData(SetDataTxn {
                    path: Some("/b".into()),
                    data: Some(Bytes::from_static(b"d")),
                    version: 4,
                }),
                TxnBody::Check(CheckVersionTxn {
                    path: Some("/c".into()),
                    version: 1,
                }),
                TxnBody::Delete {
                    container: false,
                    txn: DeleteTxn {
                        path: Some("/d".into()),
                    },
                },
                TxnBody::Error(ErrorTxn { err: -101 }),
            ]),
            None,
        ),
    );
}

#[test]
fn txn_close_session_with_digest() {
    check_entry(
        "00000000000000660000000a00000001000000040000018bcfe56802fffffff500000002000000032f6531000000032f653200000002fffffffffffffffb",
        LogEntry::new(
            header(0x66, 10, 0x1_0000_0004, 1_700_000_000_002),
            TxnBody::CloseSession(Some(CloseSessionTxn {
                paths2_delete: Some(vec!["/e1".into(), "/e2".into()]),
            })),
            Some(TxnDigest {
                version: 2,
                tree_digest: -5,
            }),
        ),
    );
}

#[test]
fn txn_create_session() {
    check_entry(
        "00000000000000770000000000000001000000050000018bcfe56803fffffff600007530",
        LogEntry::new(
            header(0x77, 0, 0x1_0000_0005, 1_700_000_000_003),
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
            None,
        ),
    );
}

mod multi {
    use super::*;
    use zk_proto::data::Stat;
    use zk_proto::multi::{CreateOp, MultiOp, MultiRequest, MultiResponse, MultiResult};
    use zk_proto::proto::{
        CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest, SetDataRequest,
    };
    use zk_proto::Record;

    fn check<R: Record + PartialEq + std::fmt::Debug>(java_hex: &str, value: R) {
        assert_eq!(hex::encode(value.to_bytes()), java_hex, "{}", R::NAME);
        assert_eq!(R::from_bytes(unhex(java_hex)).unwrap(), value);
    }

    fn create(path: &str, data: Option<&'static [u8]>, flags: i32) -> CreateRequest {
        CreateRequest {
            path: Some(path.into()),
            data: data.map(Bytes::from_static),
            acl: acl(),
            flags,
        }
    }

    /// Java's `new Stat(base, base+1, base+2, base+3, 4, 5, 6, base+7, 8, 9, base+10)`.
    fn stat(base: i64) -> Stat {
        Stat {
            czxid: base,
            mzxid: base + 1,
            ctime: base + 2,
            mtime: base + 3,
            version: 4,
            cversion: 5,
            aversion: 6,
            ephemeral_owner: base + 7,
            data_length: 8,
            num_children: 9,
            pzxid: base + 10,
        }
    }

    #[test]
    fn write_request() {
        check(
            "0000000100ffffffff000000022f610000000176000000010000001f00000005776f726c6400000006616e796f6e65000000000000000100ffffffff000000022f62ffffffff000000010000001f00000005776f726c6400000006616e796f6e65000000030000001300ffffffff000000022f6300000000000000010000001f00000005776f726c6400000006616e796f6e65000000040000001500ffffffff000000022f740000000174000000010000001f00000005776f726c6400000006616e796f6e650000000500000000000003e80000000200ffffffff000000022f64ffffffff0000000500ffffffff000000022f65000000017a000000030000000d00ffffffff000000022f6600000005ffffffff01ffffffff",
            MultiRequest {
                ops: vec![
                    MultiOp::Create {
                        op: CreateOp::Create,
                        request: create("/a", Some(b"v"), 0),
                    },
                    MultiOp::Create {
                        op: CreateOp::Create,
                        request: create("/b", None, 3),
                    },
                    MultiOp::Create {
                        op: CreateOp::Container,
                        request: create("/c", Some(b""), 4),
                    },
                    MultiOp::CreateTtl(CreateTTLRequest {
                        path: Some("/t".into()),
                        data: Some(Bytes::from_static(b"t")),
                        acl: acl(),
                        flags: 5,
                        ttl: 1000,
                    }),
                    MultiOp::Delete(DeleteRequest {
                        path: Some("/d".into()),
                        version: -1,
                    }),
                    MultiOp::SetData(SetDataRequest {
                        path: Some("/e".into()),
                        data: Some(Bytes::from_static(b"z")),
                        version: 3,
                    }),
                    MultiOp::Check(CheckVersionRequest {
                        path: Some("/f".into()),
                        version: 5,
                    }),
                ],
            },
        );
    }

    #[test]
    fn read_request() {
        check(
            "0000000400ffffffff000000022f78000000000800ffffffff000000022f7900ffffffff01ffffffff",
            MultiRequest {
                ops: vec![
                    MultiOp::GetData {
                        path: Some("/x".into()),
                    },
                    MultiOp::GetChildren {
                        path: Some("/y".into()),
                    },
                ],
            },
        );
        check("ffffffff01ffffffff", MultiRequest::default());
    }

    #[test]
    fn response() {
        check(
            "000000010000000000000000022f610000000f00000000000000000c2f62303030303030303030310000000000000064000000000000006500000000000000660000000000000067000000040000000500000006000000000000006b0000000800000009000000000000006e00000002000000000000000005000000000000000000000000c800000000000000c900000000000000ca00000000000000cb00000004000000050000000600000000000000cf000000080000000900000000000000d20000000d00000000000000000400000000000000000171000000000000012c000000000000012d000000000000012e000000000000012f00000004000000050000000600000000000001330000000800000009000000000000013600000008000000000000000002000000026b31000000026b32ffffffff00ffffff9bffffff9bffffffff01ffffffff",
            MultiResponse {
                results: vec![
                    MultiResult::Create {
                        path: Some("/a".into()),
                    },
                    MultiResult::Create2 {
                        path: Some("/b0000000001".into()),
                        stat: stat(100),
                    },
                    MultiResult::Delete,
                    MultiResult::SetData { stat: stat(200) },
                    MultiResult::Check,
                    MultiResult::GetData {
                        data: Some(Bytes::from_static(b"q")),
                        stat: stat(300),
                    },
                    MultiResult::GetChildren {
                        children: Some(vec!["k1".into(), "k2".into()]),
                    },
                    MultiResult::Error { err: -101 },
                ],
            },
        );
    }

    #[test]
    fn failed_response() {
        check(
            "ffffffff000000000000000000ffffffff00ffffff92ffffff92ffffffff00fffffffefffffffeffffffff01ffffffff",
            MultiResponse::failed(3, 1, -110),
        );
    }
}
