//! The multi request and response bodies, which Jute cannot describe: a run of
//! `MultiHeader` + record pairs ended by a header with `done` set, with no count.
//!
//! ```text
//! request:  { MultiHeader{type, done=false, err=-1} op-record }*  MultiHeader{-1, true, -1}
//! response: { MultiHeader{type, done=false, err}    result    }*  MultiHeader{-1, true, -1}
//! ```
//!
//! In a response `err` is 0, except for an error result: type -1, `err` the code, and an
//! `ErrorResponse{err}` body. Requests follow `org.apache.zookeeper.MultiOperationRecord`,
//! responses `org.apache.zookeeper.MultiResponse` and `OpResult`.
//!
//! Decoding is bounded by its input: every step consumes a 9-byte header, so a hostile run of
//! headers without `done` ends with [`JuteError::Truncated`] at the end of the input.

use bytes::{Bytes, BytesMut};

use crate::consts::{CreateMode, ErrorCode, OpCode};
use crate::data::Stat;
use crate::proto::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTTLRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, SetDataRequest, SetDataResponse,
};
use crate::{Decoder, JString, JuteError, Record};

/// Size of an encoded `MultiHeader`.
const HEADER_LEN: usize = 9;

/// The header that ends both a request and a response.
const END: MultiHeader = MultiHeader {
    type_: -1,
    done: true,
    err: -1,
};

/// Which create a [`MultiOp::Create`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreateOp {
    /// create (1): the result carries the path only.
    Create,
    /// create2 (15): the result carries the path and the Stat.
    Create2,
    /// createContainer (19).
    Container,
}

impl CreateOp {
    /// The opcode.
    pub const fn op_code(self) -> OpCode {
        match self {
            CreateOp::Create => OpCode::Create,
            CreateOp::Create2 => OpCode::Create2,
            CreateOp::Container => OpCode::CreateContainer,
        }
    }
}

/// Whether a multi changes the tree or only reads it (`Op.OpKind`). One multi never mixes
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// create, delete, setData, check: sent as multi (14).
    Transaction,
    /// getData, getChildren: sent as multiRead (22).
    Read,
}

/// One operation of a multi, as upstream's `Op` holds it after
/// `MultiOperationRecord.deserialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create, create2 or createContainer with a `CreateRequest`.
    Create {
        /// Which create; see [`MultiRequest`] for how upstream derives it from the flags.
        op: CreateOp,
        /// The request record.
        request: CreateRequest,
    },
    /// createTTL (21) with a TTL create mode.
    CreateTtl(CreateTTLRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getData (4), multiRead only. Upstream's `Op.GetData` drops the request's `watch`
    /// flag: a multiRead never sets watches.
    GetData {
        /// The node.
        path: Option<JString>,
    },
    /// getChildren (8), multiRead only; no watch either (`Op.GetChildren`).
    GetChildren {
        /// The node.
        path: Option<JString>,
    },
}

impl MultiOp {
    /// The opcode written in this op's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiOp::Create { op, .. } => op.op_code(),
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData { .. } => OpCode::GetData,
            MultiOp::GetChildren { .. } => OpCode::GetChildren,
        }
    }

    /// Read or transaction.
    pub fn kind(&self) -> OpKind {
        match self {
            MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => OpKind::Read,
            _ => OpKind::Transaction,
        }
    }

    /// The path the op names.
    pub fn path(&self) -> Option<&JString> {
        match self {
            MultiOp::Create { request, .. } => request.path.as_ref(),
            MultiOp::CreateTtl(r) => r.path.as_ref(),
            MultiOp::Delete(r) => r.path.as_ref(),
            MultiOp::SetData(r) => r.path.as_ref(),
            MultiOp::Check(r) => r.path.as_ref(),
            MultiOp::GetData { path } | MultiOp::GetChildren { path } => path.as_ref(),
        }
    }

    fn encode_body(&self, buf: &mut BytesMut) {
        match self {
            MultiOp::Create { request, .. } => request.encode(buf),
            MultiOp::CreateTtl(r) => r.encode(buf),
            MultiOp::Delete(r) => r.encode(buf),
            MultiOp::SetData(r) => r.encode(buf),
            MultiOp::Check(r) => r.encode(buf),
            MultiOp::GetData { path } => GetDataRequest {
                path: path.clone(),
                watch: false,
            }
            .encode(buf),
            MultiOp::GetChildren { path } => GetChildrenRequest {
                path: path.clone(),
                watch: false,
            }
            .encode(buf),
        }
    }

    fn body_len(&self) -> usize {
        match self {
            MultiOp::Create { request, .. } => request.encoded_len(),
            MultiOp::CreateTtl(r) => r.encoded_len(),
            MultiOp::Delete(r) => r.encoded_len(),
            MultiOp::SetData(r) => r.encoded_len(),
            MultiOp::Check(r) => r.encoded_len(),
            // ustring + boolean
            MultiOp::GetData { path } | MultiOp::GetChildren { path } => {
                zk_jute::encode::bytes_len(path) + 1
            }
        }
    }

    /// Reads the op a header of type `type_` announces, with upstream's rules.
    fn decode(type_: i32, d: &mut Decoder) -> Result<MultiOp, JuteError> {
        const CREATE: i32 = OpCode::Create.code();
        const CREATE2: i32 = OpCode::Create2.code();
        const CONTAINER: i32 = OpCode::CreateContainer.code();
        const TTL: i32 = OpCode::CreateTtl.code();
        const DELETE: i32 = OpCode::Delete.code();
        const SET_DATA: i32 = OpCode::SetData.code();
        const CHECK: i32 = OpCode::Check.code();
        const GET_DATA: i32 = OpCode::GetData.code();
        const GET_CHILDREN: i32 = OpCode::GetChildren.code();
        Ok(match type_ {
            CREATE | CREATE2 | CONTAINER => {
                let request = CreateRequest::decode(d)?;
                // 3.8.0 `Op.create(path, data, acl, flags)`: the op comes from the create
                // mode alone (`CreateMode.fromFlag(flags, PERSISTENT)`), whatever the header
                // said. Unknown flags make a plain create that PrepRequestProcessor refuses
                // (BADARGUMENTS for that op) ...
                let mode = CreateMode::from_code(request.flags);
                // ... and a TTL mode makes a createTTL op around a CreateRequest, which
                // fails the whole request with MARSHALLINGERROR.
                if mode.is_some_and(CreateMode::is_ttl) {
                    return Err(JuteError::Invalid("TTL create mode without a ttl"));
                }
                let op = if mode.is_some_and(CreateMode::is_container) {
                    CreateOp::Container
                } else {
                    CreateOp::Create
                };
                MultiOp::Create { op, request }
            }
            TTL => {
                let r = CreateTTLRequest::decode(d)?;
                // `Op.create(path, data, acl, flags, ttl)`: a non-TTL mode (unknown flags
                // count as PERSISTENT) makes a plain Create that keeps the raw flags and drops
                // the ttl; a container mode makes a createContainer.
                match CreateMode::from_code(r.flags) {
                    Some(mode) if mode.is_ttl() => MultiOp::CreateTtl(r),
                    mode => MultiOp::Create {
                        op: if mode.is_some_and(CreateMode::is_container) {
                            CreateOp::Container
                        } else {
                            CreateOp::Create
                        },
                        request: CreateRequest {
                            path: r.path,
                            data: r.data,
                            acl: r.acl,
                            flags: r.flags,
                        },
                    },
                }
            }
            DELETE => MultiOp::Delete(DeleteRequest::decode(d)?),
            SET_DATA => MultiOp::SetData(SetDataRequest::decode(d)?),
            CHECK => MultiOp::Check(CheckVersionRequest::decode(d)?),
            GET_CHILDREN => MultiOp::GetChildren {
                path: GetChildrenRequest::decode(d)?.path,
            },
            GET_DATA => MultiOp::GetData {
                path: GetDataRequest::decode(d)?.path,
            },
            _ => return Err(JuteError::Invalid("Invalid type of op")),
        })
    }
}

/// The body of a multi (14) or multiRead (22) request
/// (`org.apache.zookeeper.MultiOperationRecord`).
///
/// Decoding reproduces what upstream's server sees, not just the bytes:
///
/// * a header of create, create2 or createContainer carries a `CreateRequest`; as in 3.8.0
///   the op is createContainer for the container mode and a plain create otherwise (so a
///   create2 result carries no Stat), unknown flags are left for prep to refuse, and a TTL
///   mode refuses the record;
/// * a createTTL header carries a `CreateTTLRequest`; unless its flags are a TTL mode the op
///   becomes a plain create (createContainer for the container mode) and the ttl is dropped;
/// * getData and getChildren lose their `watch` flag;
/// * read and write ops in one record are refused ("Mixing different kind of ops");
/// * the loop ends at the first header with `done` set, whatever its type and err.
///
/// A record Java clients send re-encodes to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// The operations, in order.
    pub ops: Vec<MultiOp>,
}

impl MultiRequest {
    /// Whether the ops read or write; `None` for an empty multi.
    pub fn kind(&self) -> Option<OpKind> {
        self.ops.first().map(MultiOp::kind)
    }
}

impl Record for MultiRequest {
    const NAME: &'static str = "org.apache.zookeeper.MultiOperationRecord";

    fn decode(d: &mut Decoder) -> Result<Self, JuteError> {
        let mut ops: Vec<MultiOp> = Vec::new();
        let mut h = MultiHeader::decode(d)?;
        while !h.done {
            let op = MultiOp::decode(h.type_, d)?;
            if ops.first().is_some_and(|first| first.kind() != op.kind()) {
                return Err(JuteError::Invalid("Mixing different kind of ops"));
            }
            ops.push(op);
            h = MultiHeader::decode(d)?;
        }
        Ok(MultiRequest { ops })
    }

    fn encode(&self, buf: &mut BytesMut) {
        for op in &self.ops {
            MultiHeader {
                type_: op.op_code().code(),
                done: false,
                err: -1,
            }
            .encode(buf);
            op.encode_body(buf);
        }
        END.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        self.ops
            .iter()
            .map(|op| HEADER_LEN + op.body_len())
            .sum::<usize>()
            + HEADER_LEN
    }
}

/// One result of a multi (`OpResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// create (1): the created path (with any sequence suffix).
    Create {
        /// The created node.
        path: Option<JString>,
    },
    /// create2 (15), also sent for createTTL and createContainer ops: path and Stat.
    Create2 {
        /// The created node.
        path: Option<JString>,
        /// Its Stat.
        stat: Stat,
    },
    /// delete (2), also for deleteContainer: no body.
    Delete,
    /// setData (5): the new Stat.
    SetData {
        /// The node's Stat after the change.
        stat: Stat,
    },
    /// check (13): no body.
    Check,
    /// getData (4), multiRead only.
    GetData {
        /// The data.
        data: Option<Bytes>,
        /// The node's Stat.
        stat: Stat,
    },
    /// getChildren (8), multiRead only.
    GetChildren {
        /// The child names.
        children: Option<Vec<JString>>,
    },
    /// error (-1): the op's error code (0 for an op that would have succeeded in a failed
    /// multi).
    Error {
        /// The `KeeperException.Code`.
        err: i32,
    },
}

impl MultiResult {
    /// The header type of this result.
    pub fn op_code(&self) -> OpCode {
        match self {
            MultiResult::Create { .. } => OpCode::Create,
            MultiResult::Create2 { .. } => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::SetData { .. } => OpCode::SetData,
            MultiResult::Check => OpCode::Check,
            MultiResult::GetData { .. } => OpCode::GetData,
            MultiResult::GetChildren { .. } => OpCode::GetChildren,
            MultiResult::Error { .. } => OpCode::Error,
        }
    }

    /// The header this result is written with: `err` is 0, or the code for an error.
    fn header(&self) -> MultiHeader {
        MultiHeader {
            type_: self.op_code().code(),
            done: false,
            err: match self {
                MultiResult::Error { err } => *err,
                _ => 0,
            },
        }
    }

    fn encode_body(&self, buf: &mut BytesMut) {
        match self {
            MultiResult::Create { path } => CreateResponse { path: path.clone() }.encode(buf),
            MultiResult::Create2 { path, stat } => {
                zk_jute::encode::put_string(buf, path);
                stat.encode(buf);
            }
            MultiResult::Delete | MultiResult::Check => {}
            MultiResult::SetData { stat } => stat.encode(buf),
            MultiResult::GetData { data, stat } => {
                zk_jute::encode::put_buffer(buf, data);
                stat.encode(buf);
            }
            MultiResult::GetChildren { children } => {
                zk_jute::encode::put_vec(buf, children, |buf, c| {
                    zk_jute::encode::put_bytes(buf, c.as_bytes())
                });
            }
            MultiResult::Error { err } => ErrorResponse { err: *err }.encode(buf),
        }
    }

    fn body_len(&self) -> usize {
        const STAT_LEN: usize = 68;
        match self {
            MultiResult::Create { path } => zk_jute::encode::bytes_len(path),
            MultiResult::Create2 { path, .. } => zk_jute::encode::bytes_len(path) + STAT_LEN,
            MultiResult::Delete | MultiResult::Check => 0,
            MultiResult::SetData { .. } => STAT_LEN,
            MultiResult::GetData { data, .. } => zk_jute::encode::bytes_len(data) + STAT_LEN,
            MultiResult::GetChildren { children } => {
                zk_jute::encode::vec_len(children, |c| 4 + c.len())
            }
            MultiResult::Error { .. } => 4,
        }
    }

    fn decode(type_: i32, d: &mut Decoder) -> Result<MultiResult, JuteError> {
        Ok(match OpCode::from_code(type_) {
            Some(OpCode::Create) => MultiResult::Create {
                path: CreateResponse::decode(d)?.path,
            },
            Some(OpCode::Create2) => {
                let r = Create2Response::decode(d)?;
                MultiResult::Create2 {
                    path: r.path,
                    stat: r.stat,
                }
            }
            Some(OpCode::Delete) => MultiResult::Delete,
            Some(OpCode::SetData) => MultiResult::SetData {
                stat: SetDataResponse::decode(d)?.stat,
            },
            Some(OpCode::Check) => MultiResult::Check,
            Some(OpCode::GetChildren) => MultiResult::GetChildren {
                children: GetChildrenResponse::decode(d)?.children,
            },
            Some(OpCode::GetData) => {
                let r = GetDataResponse::decode(d)?;
                MultiResult::GetData {
                    data: r.data,
                    stat: r.stat,
                }
            }
            Some(OpCode::Error) => MultiResult::Error {
                err: ErrorResponse::decode(d)?.err,
            },
            _ => return Err(JuteError::Invalid("Invalid type in MultiResponse")),
        })
    }
}

/// The body of a multi or multiRead reply (`org.apache.zookeeper.MultiResponse`).
///
/// The `ReplyHeader.err` of a failed multi is still 0: `FinalRequestProcessor` does not
/// rethrow a multi's exception, the failure is told by the per-op results (see
/// [`MultiResponse::failed`]). A multiRead never aborts: each op gets its own result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// One result per op, in order.
    pub results: Vec<MultiResult>,
}

impl MultiResponse {
    /// The results of a multi of `op_count` ops whose op `failed_index` failed with `err`,
    /// as `DataTree.processTxn` builds them from the logged error txns: every op before the
    /// failing one gets `ErrorResult(0)`, the failing one `ErrorResult(err)`, every later
    /// one `ErrorResult(RUNTIMEINCONSISTENCY)` (-2).
    pub fn failed(op_count: usize, failed_index: usize, err: i32) -> MultiResponse {
        let results = (0..op_count)
            .map(|i| MultiResult::Error {
                err: match i.cmp(&failed_index) {
                    std::cmp::Ordering::Less => ErrorCode::Ok.code(),
                    std::cmp::Ordering::Equal => err,
                    std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                },
            })
            .collect();
        MultiResponse { results }
    }
}

impl Record for MultiResponse {
    const NAME: &'static str = "org.apache.zookeeper.MultiResponse";

    fn decode(d: &mut Decoder) -> Result<Self, JuteError> {
        let mut results = Vec::new();
        let mut h = MultiHeader::decode(d)?;
        while !h.done {
            results.push(MultiResult::decode(h.type_, d)?);
            h = MultiHeader::decode(d)?;
        }
        Ok(MultiResponse { results })
    }

    fn encode(&self, buf: &mut BytesMut) {
        for r in &self.results {
            r.header().encode(buf);
            r.encode_body(buf);
        }
        END.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        self.results
            .iter()
            .map(|r| HEADER_LEN + r.body_len())
            .sum::<usize>()
            + HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use zk_jute::sample::{Sample, SampleRng};

    fn header(type_: i32, done: bool, err: i32) -> Vec<u8> {
        MultiHeader { type_, done, err }.to_bytes().to_vec()
    }

    fn create(flags: i32) -> CreateRequest {
        CreateRequest {
            path: Some("/n".into()),
            data: Some(Bytes::from_static(b"v")),
            acl: Some(vec![]),
            flags,
        }
    }

    fn decode_request(bytes: Vec<u8>) -> Result<MultiRequest, JuteError> {
        MultiRequest::from_bytes(Bytes::from(bytes))
    }

    fn sample_write_op(rng: &mut SampleRng) -> MultiOp {
        match rng.next_u64() % 7 {
            // What decoding can produce (3.8.0 `Op.create`): the op follows the mode.
            0..=2 => {
                let flags = [0, 1, 2, 3, 4][(rng.next_u64() % 5) as usize];
                MultiOp::Create {
                    op: if flags == 4 {
                        CreateOp::Container
                    } else {
                        CreateOp::Create
                    },
                    request: CreateRequest {
                        flags,
                        ..CreateRequest::sample(rng)
                    },
                }
            }
            3 => MultiOp::CreateTtl(CreateTTLRequest {
                flags: 5 + (rng.next_u64() % 2) as i32,
                ..CreateTTLRequest::sample(rng)
            }),
            4 => MultiOp::Delete(DeleteRequest::sample(rng)),
            5 => MultiOp::SetData(SetDataRequest::sample(rng)),
            _ => MultiOp::Check(CheckVersionRequest::sample(rng)),
        }
    }

    fn sample_result(rng: &mut SampleRng) -> MultiResult {
        match rng.next_u64() % 8 {
            0 => MultiResult::Create { path: rng.string() },
            1 => MultiResult::Create2 {
                path: rng.string(),
                stat: Stat::sample(rng),
            },
            2 => MultiResult::Delete,
            3 => MultiResult::SetData {
                stat: Stat::sample(rng),
            },
            4 => MultiResult::Check,
            5 => MultiResult::GetData {
                data: rng.buffer(),
                stat: Stat::sample(rng),
            },
            6 => MultiResult::GetChildren {
                children: rng.vector(|r| r.string_elem()),
            },
            _ => MultiResult::Error { err: rng.int() },
        }
    }

    #[test]
    fn request_headers_carry_err_minus_one_and_end_with_done() {
        let req = MultiRequest {
            ops: vec![MultiOp::Delete(DeleteRequest {
                path: Some("/d".into()),
                version: -1,
            })],
        };
        let mut expected = header(2, false, -1);
        expected.extend_from_slice(&req.ops[0].clone().body_bytes());
        expected.extend(header(-1, true, -1));
        assert_eq!(req.to_bytes().to_vec(), expected);
        assert_eq!(
            MultiRequest::default().to_bytes().to_vec(),
            header(-1, true, -1)
        );
    }

    impl MultiOp {
        fn body_bytes(self) -> Vec<u8> {
            let mut b = BytesMut::new();
            self.encode_body(&mut b);
            b.to_vec()
        }
    }

    #[test]
    fn create_opcode_follows_the_flags_as_upstream() {
        // create header + container flag -> createContainer.
        let mut b = header(1, false, -1);
        b.extend_from_slice(&create(4).to_bytes());
        b.extend(header(-1, true, -1));
        let r = decode_request(b).unwrap();
        assert_eq!(r.ops[0].op_code(), OpCode::CreateContainer);
        // 3.8.0: create2 and createContainer headers with plain flags make a plain create.
        for (h, flags) in [(15, 3), (19, 0)] {
            let mut b = header(h, false, -1);
            b.extend_from_slice(&create(flags).to_bytes());
            b.extend(header(-1, true, -1));
            assert_eq!(decode_request(b).unwrap().ops[0].op_code(), OpCode::Create);
        }
        // Unknown flags reach prep as a plain create.
        for flags in [7, -1] {
            let mut b = header(1, false, -1);
            b.extend_from_slice(&create(flags).to_bytes());
            b.extend(header(-1, true, -1));
            assert_eq!(decode_request(b).unwrap().ops[0].op_code(), OpCode::Create);
        }
        // TTL flags on a create header are refused.
        for flags in [5, 6] {
            let mut b = header(1, false, -1);
            b.extend_from_slice(&create(flags).to_bytes());
            b.extend(header(-1, true, -1));
            assert!(
                matches!(decode_request(b), Err(JuteError::Invalid(_))),
                "{flags}"
            );
        }
        // createTTL with a non-TTL mode becomes a plain create that keeps the raw flags.
        for (flags, op) in [
            (0, CreateOp::Create),
            (99, CreateOp::Create),
            (4, CreateOp::Container),
        ] {
            let ttl = CreateTTLRequest {
                path: Some("/t".into()),
                data: None,
                acl: None,
                flags,
                ttl: 10,
            };
            let mut b = header(21, false, -1);
            b.extend_from_slice(&ttl.to_bytes());
            b.extend(header(-1, true, -1));
            assert_eq!(
                decode_request(b).unwrap().ops,
                vec![MultiOp::Create {
                    op,
                    request: CreateRequest {
                        path: Some("/t".into()),
                        data: None,
                        acl: None,
                        flags,
                    }
                }]
            );
        }
    }

    #[test]
    fn read_ops_lose_the_watch_flag_and_kinds_do_not_mix() {
        let mut b = header(4, false, -1);
        b.extend_from_slice(
            &GetDataRequest {
                path: Some("/x".into()),
                watch: true,
            }
            .to_bytes(),
        );
        b.extend(header(-1, true, -1));
        let r = decode_request(b.clone()).unwrap();
        assert_eq!(r.kind(), Some(OpKind::Read));
        assert_eq!(
            r.ops,
            vec![MultiOp::GetData {
                path: Some("/x".into())
            }]
        );
        // Insert a check after the getData: mixing is refused.
        let end = b.len() - HEADER_LEN;
        let mut mixed = b[..end].to_vec();
        mixed.extend(header(13, false, -1));
        mixed.extend_from_slice(
            &CheckVersionRequest {
                path: Some("/c".into()),
                version: 1,
            }
            .to_bytes(),
        );
        mixed.extend(header(-1, true, -1));
        assert_eq!(
            decode_request(mixed),
            Err(JuteError::Invalid("Mixing different kind of ops"))
        );
    }

    #[test]
    fn decoding_stops_at_the_first_done_header() {
        // The end header's type and err are not checked.
        let b = header(2, true, 12345);
        assert_eq!(decode_request(b).unwrap(), MultiRequest::default());
        assert_eq!(
            MultiResponse::from_bytes(Bytes::from(header(77, true, 0))).unwrap(),
            MultiResponse::default()
        );
    }

    #[test]
    fn unknown_op_types_are_refused() {
        for t in [0, 3, 7, 14, 16, 22, 100, -1, -11] {
            let mut b = header(t, false, -1);
            b.extend_from_slice(&[0; 64]);
            assert!(
                matches!(decode_request(b), Err(JuteError::Invalid(_))),
                "{t}"
            );
        }
        let mut b = header(3, false, 0);
        b.extend_from_slice(&[0; 64]);
        assert!(matches!(
            MultiResponse::from_bytes(Bytes::from(b)),
            Err(JuteError::Invalid(_))
        ));
    }

    #[test]
    fn endless_headers_end_at_the_end_of_input() {
        // 100k bodiless results (delete) without done: must stop with Truncated, and the
        // results built on the way are bounded by the input.
        let mut b = Vec::new();
        for _ in 0..100_000 {
            b.extend(header(2, false, 0));
        }
        assert!(matches!(
            MultiResponse::from_bytes(Bytes::from(b)),
            Err(JuteError::Truncated { .. })
        ));
        let mut b = Vec::new();
        for _ in 0..10_000 {
            b.extend(header(2, false, -1));
            b.extend_from_slice(
                &DeleteRequest {
                    path: None,
                    version: 0,
                }
                .to_bytes(),
            );
        }
        assert!(matches!(
            decode_request(b),
            Err(JuteError::Truncated { .. })
        ));
    }

    #[test]
    fn result_headers_carry_zero_or_the_error() {
        let r = MultiResponse {
            results: vec![
                MultiResult::Check,
                MultiResult::Error { err: -101 },
                MultiResult::Delete,
            ],
        };
        let mut expected = header(13, false, 0);
        expected.extend(header(-1, false, -101));
        expected.extend_from_slice(&(-101i32).to_be_bytes());
        expected.extend(header(2, false, 0));
        expected.extend(header(-1, true, -1));
        assert_eq!(r.to_bytes().to_vec(), expected);
    }

    #[test]
    fn failed_multi_results() {
        let r = MultiResponse::failed(4, 1, ErrorCode::NodeExists.code());
        assert_eq!(
            r.results,
            vec![
                MultiResult::Error { err: 0 },
                MultiResult::Error { err: -110 },
                MultiResult::Error { err: -2 },
                MultiResult::Error { err: -2 },
            ]
        );
        assert_eq!(MultiResponse::failed(1, 0, -101).results.len(), 1);
    }

    proptest! {
        #[test]
        fn requests_round_trip(seed in any::<u64>(), nulls in any::<bool>(), n in 0usize..8, read in any::<bool>()) {
            let mut rng = SampleRng::new(seed, nulls);
            let ops = (0..n).map(|_| if read {
                if rng.boolean() { MultiOp::GetData { path: rng.string() } } else { MultiOp::GetChildren { path: rng.string() } }
            } else {
                sample_write_op(&mut rng)
            }).collect();
            let req = MultiRequest { ops };
            let bytes = req.to_bytes();
            prop_assert_eq!(bytes.len(), req.encoded_len());
            prop_assert_eq!(MultiRequest::from_bytes(bytes.clone()).unwrap(), req);
            for cut in 0..bytes.len() {
                prop_assert!(MultiRequest::from_bytes(bytes.slice(..cut)).is_err());
            }
        }

        #[test]
        fn responses_round_trip(seed in any::<u64>(), nulls in any::<bool>(), n in 0usize..8) {
            let mut rng = SampleRng::new(seed, nulls);
            let rsp = MultiResponse { results: (0..n).map(|_| sample_result(&mut rng)).collect() };
            let bytes = rsp.to_bytes();
            prop_assert_eq!(bytes.len(), rsp.encoded_len());
            prop_assert_eq!(MultiResponse::from_bytes(bytes.clone()).unwrap(), rsp);
            for cut in 0..bytes.len() {
                prop_assert!(MultiResponse::from_bytes(bytes.slice(..cut)).is_err());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = MultiRequest::from_bytes(Bytes::from(bytes.clone()));
            let _ = MultiResponse::from_bytes(Bytes::from(bytes));
        }
    }
}
