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
