//! Client requests as one typed enum, decoded from a `RequestHeader` and the body its `type`
//! selects.
//!
//! After the handshake every client frame is `RequestHeader{xid, type}` followed by the
//! body (`NIOServerCnxn.readRequest` / `NettyServerCnxn`). What upstream does when a frame
//! does not decode depends on where it fails, and a server must do the same:
//!
//! | failure | upstream | here |
//! |---|---|---|
//! | frame shorter than the 8-byte header | `IOException` in `readRequest`: the connection is closed | [`RequestError::Header`] |
//! | unknown opcode (also notification 0, and check 13 outside a multi since 3.9.3) | `ZooKeeperServer.submitRequestNow` → `UnimplementedRequestProcessor`: reply `UNIMPLEMENTED` (-6), then close the connection | [`Request::Unknown`], **not** an error |
//! | bad auth (100) or sasl (102) body | `IOException` out of `processPacket`: the connection is closed | [`BodyError`] with [`OnBodyError::CloseConnection`] |
//! | bad body of any other opcode | writes: `PrepRequestProcessor` turns it into an `ErrorTxn(MARSHALLINGERROR)` txn (it takes a zxid); reads: `FinalRequestProcessor` catches the `IOException`; both reply err `MARSHALLINGERROR` (-5) and keep the connection | [`BodyError`] with [`OnBodyError::ReplyMarshallingError`] |
//!
//! Checked against Debian's ZooKeeper 3.8.0 on loopback (raw frames from a script): unknown
//! type 999 and 0 got err -6 and the connection closed; a cut getData body got -5 and a
//! following ping was answered; a cut auth body closed the connection; a multi with op type 3
//! got -5 with a new zxid, connection open; a 4-byte frame after the handshake closed it.
//! (3.8 still answered a lone check with -5 and a zxid; ZOOKEEPER-2623, in 3.9.3, made it
//! UNIMPLEMENTED, which is what this enum follows.)
//!
//! As upstream's `ByteBufferInputStream`, bytes after a body are ignored.

use bytes::{Bytes, BytesMut};

use crate::body::Body;
use crate::consts::OpCode;
use crate::multi::{CreateOp, MultiRequest};
use crate::proto::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTTLRequest, DeleteRequest, ExistsRequest, GetACLRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, GetSASLRequest,
    ReconfigRequest, RemoveWatchesRequest, RequestHeader, SetACLRequest, SetDataRequest,
    SetWatches, SetWatches2, SyncRequest,
};
use crate::{Decoder, JuteError, Limits, Record};

/// A client request body, typed by its opcode.
///
/// Every opcode a 3.9 client sends has a variant. Anything else is [`Request::Unknown`]:
/// the server answers it (UNIMPLEMENTED, then closes, as upstream), so it is not a decode
/// error. That includes three opcodes upstream treats specially at the top level:
///
/// * check (13) is meant for multis, but `Request.isValid` accepts it alone too and
///   PrepRequestProcessor prepares it: it is [`Request::Check`];
/// * createSession (-10) and deleteContainer (20) are server-internal. Upstream's
///   `Request.isValid` lets a client send them (and prepares a txn for them); Ferrokeeper
///   treats them as unknown on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1), create2 (15) or createContainer (19).
    Create {
        /// Which of the three.
        op: CreateOp,
        /// The request record.
        request: CreateRequest,
    },
    /// createTTL (21).
    CreateTtl(CreateTTLRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// exists (3).
    Exists(ExistsRequest),
    /// getData (4).
    GetData(GetDataRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(GetACLRequest),
    /// setACL (7).
    SetAcl(SetACLRequest),
    /// getChildren (8).
    GetChildren(GetChildrenRequest),
    /// sync (9).
    Sync(SyncRequest),
    /// ping (11), xid -2; no body.
    Ping,
    /// getChildren2 (12).
    GetChildren2(GetChildren2Request),
    /// check (13) outside a multi. 3.8.0 makes a txn of it; a failure is answered, a success
    /// never is (FinalRequestProcessor cannot serialise its reply).
    Check(CheckVersionRequest),
    /// multi (14).
    Multi(MultiRequest),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(CheckWatchesRequest),
    /// removeWatches (18).
    RemoveWatches(RemoveWatchesRequest),
    /// multiRead (22).
    MultiRead(MultiRequest),
    /// auth (100), xid -4.
    Auth(AuthPacket),
    /// setWatches (101), xid -8.
    SetWatches(SetWatches),
    /// sasl (102).
    Sasl(GetSASLRequest),
    /// getEphemerals (103).
    GetEphemerals(GetEphemeralsRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// setWatches2 (105), xid -8.
    SetWatches2(SetWatches2),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107); no body.
    WhoAmI,
    /// closeSession (-11); no body.
    CloseSession,
    /// Any other opcode, body not read.
    Unknown(i32),
}

/// What the server does about a body that does not decode (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBodyError {
    /// Close the connection without a reply (auth and sasl).
    CloseConnection,
    /// Reply to the xid with err `MARSHALLINGERROR` (-5) and keep going.
    ReplyMarshallingError,
}

/// The body of a known opcode did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {op:?} request body: {error}")]
pub struct BodyError {
    /// The request's opcode.
    pub op: OpCode,
    /// What was wrong.
    pub error: JuteError,
}

impl BodyError {
    /// What upstream does about it.
    pub fn action(&self) -> OnBodyError {
        match self.op {
            OpCode::Auth | OpCode::Sasl => OnBodyError::CloseConnection,
            _ => OnBodyError::ReplyMarshallingError,
        }
    }
}

/// A request frame did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The frame is too short for a `RequestHeader`: close the connection.
    #[error("bad request header: {0}")]
    Header(JuteError),
    /// The header was read but the body was not.
    #[error("xid {xid}: {error}")]
    Body {
        /// The request's xid, to reply to.
        xid: i32,
        /// The failure.
        error: BodyError,
    },
}

impl Request {
    /// Decodes the body of a request of type `type_`. Unknown opcodes are
    /// `Ok(Request::Unknown)`; trailing bytes are ignored.
    pub fn decode(type_: i32, body: Bytes, limits: Limits) -> Result<Request, BodyError> {
        let Some(op) = OpCode::from_code(type_) else {
            return Ok(Request::Unknown(type_));
        };
        let mut d = Decoder::with_limits(body, limits);
        let d = &mut d;
        let r = (|| -> Result<Request, JuteError> {
            Ok(match op {
                OpCode::Create => Request::Create {
                    op: CreateOp::Create,
                    request: CreateRequest::decode(d)?,
                },
                OpCode::Create2 => Request::Create {
                    op: CreateOp::Create2,
                    request: CreateRequest::decode(d)?,
                },
                OpCode::CreateContainer => Request::Create {
                    op: CreateOp::Container,
                    request: CreateRequest::decode(d)?,
                },
                OpCode::CreateTtl => Request::CreateTtl(CreateTTLRequest::decode(d)?),
                OpCode::Delete => Request::Delete(DeleteRequest::decode(d)?),
                OpCode::Exists => Request::Exists(ExistsRequest::decode(d)?),
                OpCode::GetData => Request::GetData(GetDataRequest::decode(d)?),
                OpCode::SetData => Request::SetData(SetDataRequest::decode(d)?),
                OpCode::GetAcl => Request::GetAcl(GetACLRequest::decode(d)?),
                OpCode::SetAcl => Request::SetAcl(SetACLRequest::decode(d)?),
                OpCode::GetChildren => Request::GetChildren(GetChildrenRequest::decode(d)?),
                OpCode::Sync => Request::Sync(SyncRequest::decode(d)?),
                OpCode::Ping => Request::Ping,
                OpCode::GetChildren2 => Request::GetChildren2(GetChildren2Request::decode(d)?),
                OpCode::Multi => Request::Multi(MultiRequest::decode(d)?),
                OpCode::Reconfig => Request::Reconfig(ReconfigRequest::decode(d)?),
                OpCode::CheckWatches => Request::CheckWatches(CheckWatchesRequest::decode(d)?),
                OpCode::RemoveWatches => Request::RemoveWatches(RemoveWatchesRequest::decode(d)?),
                OpCode::MultiRead => Request::MultiRead(MultiRequest::decode(d)?),
                OpCode::Auth => Request::Auth(AuthPacket::decode(d)?),
                OpCode::SetWatches => Request::SetWatches(SetWatches::decode(d)?),
                OpCode::Sasl => Request::Sasl(GetSASLRequest::decode(d)?),
                OpCode::GetEphemerals => Request::GetEphemerals(GetEphemeralsRequest::decode(d)?),
                OpCode::GetAllChildrenNumber => {
                    Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::decode(d)?)
                }
                OpCode::SetWatches2 => Request::SetWatches2(SetWatches2::decode(d)?),
                OpCode::AddWatch => Request::AddWatch(AddWatchRequest::decode(d)?),
                OpCode::WhoAmI => Request::WhoAmI,
                OpCode::CloseSession => Request::CloseSession,
                OpCode::Check => Request::Check(CheckVersionRequest::decode(d)?),
                OpCode::Notification
                | OpCode::DeleteContainer
                | OpCode::CreateSession
                | OpCode::Error => Request::Unknown(type_),
            })
        })();
        r.map_err(|error| BodyError { op, error })
    }

    /// Decodes a whole frame payload (after the length): header, then body.
    pub fn decode_frame(
        frame: Bytes,
        limits: Limits,
    ) -> Result<(RequestHeader, Request), RequestError> {
        let mut d = Decoder::with_limits(frame, limits);
        let header = RequestHeader::decode(&mut d).map_err(RequestError::Header)?;
        let request =
            Request::decode(header.type_, d.into_remaining(), limits).map_err(|error| {
                RequestError::Body {
                    xid: header.xid,
                    error,
                }
            })?;
        Ok((header, request))
    }

    /// The opcode (the raw number for [`Request::Unknown`]).
    pub fn type_code(&self) -> i32 {
        let op = match self {
            Request::Create { op, .. } => op.op_code(),
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
            Request::Unknown(code) => return *code,
        };
        op.code()
    }

    /// The opcode, `None` for [`Request::Unknown`].
    pub fn op_code(&self) -> Option<OpCode> {
        match self {
            Request::Unknown(_) => None,
            other => OpCode::from_code(other.type_code()),
        }
    }

    /// Whether the request changes the tree or the session table, and so goes through the
    /// log (as `PrepRequestProcessor` makes a txn for it).
    pub fn is_write(&self) -> bool {
        self.op_code().is_some_and(OpCode::is_write)
    }

    fn body(&self) -> Option<&dyn Body> {
        Some(match self {
            Request::Create { request, .. } => request,
            Request::CreateTtl(r) => r,
            Request::Delete(r) => r,
            Request::Exists(r) => r,
            Request::GetData(r) => r,
            Request::SetData(r) => r,
            Request::GetAcl(r) => r,
            Request::SetAcl(r) => r,
            Request::GetChildren(r) => r,
            Request::Sync(r) => r,
            Request::GetChildren2(r) => r,
            Request::Check(r) => r,
            Request::Multi(r) | Request::MultiRead(r) => r,
            Request::Reconfig(r) => r,
            Request::CheckWatches(r) => r,
            Request::RemoveWatches(r) => r,
            Request::Auth(r) => r,
            Request::SetWatches(r) => r,
            Request::Sasl(r) => r,
            Request::GetEphemerals(r) => r,
            Request::GetAllChildrenNumber(r) => r,
            Request::SetWatches2(r) => r,
            Request::AddWatch(r) => r,
            Request::Ping | Request::WhoAmI | Request::CloseSession | Request::Unknown(_) => {
                return None
            }
        })
    }

    /// Appends the body (nothing for ping, whoAmI, closeSession and unknown requests).
    pub fn encode_body(&self, buf: &mut BytesMut) {
        if let Some(b) = self.body() {
            b.encode_body(buf);
        }
    }

    /// The exact number of bytes [`Request::encode_body`] appends.
    pub fn body_len(&self) -> usize {
        self.body().map_or(0, |b| b.body_len())
    }

    /// Appends a whole frame payload: `RequestHeader{xid, type}` then the body, as a client
    /// sends it (without the length prefix).
    pub fn encode_frame(&self, xid: i32, buf: &mut BytesMut) {
        RequestHeader {
            xid,
            type_: self.type_code(),
        }
        .encode(buf);
        self.encode_body(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::MultiOp;
    use proptest::prelude::*;
    use zk_jute::sample::{Sample, SampleRng};

    /// One request of every known kind, with bodies drawn from `rng`.
    fn every_request(rng: &mut SampleRng) -> Vec<Request> {
        vec![
            Request::Create {
                op: CreateOp::Create,
                request: CreateRequest::sample(rng),
            },
            Request::Create {
                op: CreateOp::Create2,
                request: CreateRequest::sample(rng),
            },
            Request::Create {
                op: CreateOp::Container,
                request: CreateRequest::sample(rng),
            },
            Request::CreateTtl(CreateTTLRequest::sample(rng)),
            Request::Delete(DeleteRequest::sample(rng)),
            Request::Exists(ExistsRequest::sample(rng)),
            Request::GetData(GetDataRequest::sample(rng)),
            Request::SetData(SetDataRequest::sample(rng)),
            Request::GetAcl(GetACLRequest::sample(rng)),
            Request::SetAcl(SetACLRequest::sample(rng)),
            Request::GetChildren(GetChildrenRequest::sample(rng)),
            Request::Sync(SyncRequest::sample(rng)),
            Request::Ping,
            Request::GetChildren2(GetChildren2Request::sample(rng)),
            Request::Check(CheckVersionRequest::sample(rng)),
            Request::Multi(MultiRequest {
                ops: vec![MultiOp::Delete(DeleteRequest::sample(rng))],
            }),
            Request::Reconfig(ReconfigRequest::sample(rng)),
            Request::CheckWatches(CheckWatchesRequest::sample(rng)),
            Request::RemoveWatches(RemoveWatchesRequest::sample(rng)),
            Request::MultiRead(MultiRequest {
                ops: vec![MultiOp::GetChildren { path: rng.string() }],
            }),
            Request::Auth(AuthPacket::sample(rng)),
            Request::SetWatches(SetWatches::sample(rng)),
            Request::Sasl(GetSASLRequest::sample(rng)),
            Request::GetEphemerals(GetEphemeralsRequest::sample(rng)),
            Request::GetAllChildrenNumber(GetAllChildrenNumberRequest::sample(rng)),
            Request::SetWatches2(SetWatches2::sample(rng)),
            Request::AddWatch(AddWatchRequest::sample(rng)),
            Request::WhoAmI,
            Request::CloseSession,
        ]
    }

    fn frame(xid: i32, r: &Request) -> Bytes {
        let mut b = BytesMut::new();
        r.encode_frame(xid, &mut b);
        assert_eq!(b.len(), 8 + r.body_len());
        b.freeze()
    }

    #[test]
    fn every_client_opcode_of_3_9_has_a_variant() {
        let all = every_request(&mut SampleRng::new(5, false));
        let mut codes: Vec<i32> = all.iter().map(Request::type_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(
            codes,
            vec![
                -11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 100,
                101, 102, 103, 104, 105, 106, 107
            ]
        );
    }

    #[test]
    fn unknown_opcodes_are_values_not_errors() {
        // notification (0), deleteContainer (20), createSession (-10) and error (-1) are not
        // client requests; neither is anything unassigned.
        for t in [0, 20, -10, -1, 10, 23, 99, 108, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            RequestHeader { xid: 7, type_: t }.encode(&mut b);
            b.extend_from_slice(b"garbage");
            let (h, r) = Request::decode_frame(b.freeze(), Limits::default()).unwrap();
            assert_eq!((h.xid, r.clone()), (7, Request::Unknown(t)));
            assert_eq!(r.op_code(), None);
            assert_eq!(r.type_code(), t);
        }
    }

    #[test]
    fn header_errors_close_and_body_errors_are_classified() {
        for len in 0..8 {
            assert!(matches!(
                Request::decode_frame(Bytes::from(vec![0; len]), Limits::default()),
                Err(RequestError::Header(JuteError::Truncated { .. }))
            ));
        }
        // getData with a body cut short: MARSHALLINGERROR reply to xid 9.
        let bad = |t: i32| {
            let mut b = BytesMut::new();
            RequestHeader { xid: 9, type_: t }.encode(&mut b);
            b.extend_from_slice(&[0, 0, 0, 5, b'/']);
            Request::decode_frame(b.freeze(), Limits::default()).unwrap_err()
        };
        match bad(4) {
            RequestError::Body { xid: 9, error } => {
                assert_eq!(error.op, OpCode::GetData);
                assert_eq!(error.action(), OnBodyError::ReplyMarshallingError);
            }
            other => panic!("{other:?}"),
        }
        for t in [100, 102] {
            match bad(t) {
                RequestError::Body { error, .. } => {
                    assert_eq!(error.action(), OnBodyError::CloseConnection)
                }
                other => panic!("{other:?}"),
            }
        }
        // A multi holding a bad op type is a body error too.
        let mut b = BytesMut::new();
        RequestHeader { xid: 1, type_: 14 }.encode(&mut b);
        crate::proto::MultiHeader {
            type_: 3,
            done: false,
            err: -1,
        }
        .encode(&mut b);
        assert!(matches!(
            Request::decode_frame(b.freeze(), Limits::default()),
            Err(RequestError::Body {
                error: BodyError {
                    op: OpCode::Multi,
                    ..
                },
                ..
            })
        ));
        // A string longer than the limit is refused before it is read.
        let mut b = BytesMut::new();
        RequestHeader { xid: 2, type_: 3 }.encode(&mut b);
        b.extend_from_slice(&1000i32.to_be_bytes());
        b.extend_from_slice(&[b'a'; 1000]);
        b.extend_from_slice(&[0]);
        assert!(matches!(
            Request::decode_frame(b.freeze(), Limits { max_buffer: 999 }),
            Err(RequestError::Body {
                error: BodyError {
                    error: JuteError::BadLength { .. },
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn bodiless_requests_and_trailing_bytes_are_ignored() {
        for t in [11, 107, -11] {
            let mut b = BytesMut::new();
            RequestHeader { xid: -2, type_: t }.encode(&mut b);
            b.extend_from_slice(&[1, 2, 3]);
            let (_, r) = Request::decode_frame(b.freeze(), Limits::default()).unwrap();
            assert_eq!(r.body_len(), 0);
            assert_eq!(r.type_code(), t);
        }
        let req = Request::Exists(ExistsRequest {
            path: Some("/x".into()),
            watch: true,
        });
        let mut b = BytesMut::from(&frame(3, &req)[..]);
        b.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(
            Request::decode_frame(b.freeze(), Limits::default())
                .unwrap()
                .1,
            req
        );
    }

    proptest! {
        #[test]
        fn requests_round_trip(seed in any::<u64>(), nulls in any::<bool>(), xid in any::<i32>()) {
            let mut rng = SampleRng::new(seed, nulls);
            for req in every_request(&mut rng) {
                let bytes = frame(xid, &req);
                let (h, back) = Request::decode_frame(bytes, Limits::default()).unwrap();
                prop_assert_eq!(h.xid, xid);
                prop_assert_eq!(h.type_, req.type_code());
                prop_assert_eq!(back, req);
            }
        }

        #[test]
        fn arbitrary_frames_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), t in prop::sample::select(vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 19, 21, 22, 100, 101, 102, 103, 104, 105, 106, 107, -11])) {
            let _ = Request::decode(t, Bytes::from(bytes.clone()), Limits { max_buffer: 64 });
            let _ = Request::decode_frame(Bytes::from(bytes), Limits::default());
        }
    }
}
