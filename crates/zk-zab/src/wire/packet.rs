//! The quorum (learner) port: `QuorumPacket` records back to back, typed.
//!
//! ```text
//! QuorumPacket = int32 type | int64 zxid | buffer data (-1 = null) | vector<Id> authinfo (-1 = null)
//! ```
//!
//! [`Packet`] has one variant per packet type `Leader.java` defines (1–19), with the payload
//! decoded where it has structure. Values are what Java writes (`Leader`, `LearnerHandler`,
//! `Learner`, `Follower`, `Observer`): see the table in ZAB-NOTES §3.2 and
//! `docs/formats.md`. Packets Java writes with a fixed zxid (REQUEST and UPTODATE -1,
//! REVALIDATE -1, SYNC 0) carry no zxid field here; decoding ignores whatever was sent, as
//! Java does. `authinfo` is kept only for REQUEST; Java writes null everywhere else.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zk_proto::data::Id;
use zk_proto::quorum::{LearnerInfo, QuorumPacket};
use zk_proto::txn::{TxnDigest, TxnHeader};
use zk_proto::txn_body::TxnBody;
use zk_proto::{Decoder, JuteError, Limits, Record};

use super::WireError;

/// Packet type numbers (`Leader.java`).
pub mod kind {
    /// Learner forwards a client request.
    pub const REQUEST: i32 = 1;
    /// Leader proposes a txn.
    pub const PROPOSAL: i32 = 2;
    /// Follower acknowledges a logged txn.
    pub const ACK: i32 = 3;
    /// Leader commits a zxid.
    pub const COMMIT: i32 = 4;
    /// Liveness, both ways; the reply carries the session-touch table.
    pub const PING: i32 = 5;
    /// Session revalidation, both ways.
    pub const REVALIDATE: i32 = 6;
    /// Answer to a forwarded sync.
    pub const SYNC: i32 = 7;
    /// Committed txn for an observer.
    pub const INFORM: i32 = 8;
    /// Commit of a reconfig txn.
    pub const COMMITANDACTIVATE: i32 = 9;
    /// End of the sync payload.
    pub const NEWLEADER: i32 = 10;
    /// First packet of a follower.
    pub const FOLLOWERINFO: i32 = 11;
    /// The learner may serve.
    pub const UPTODATE: i32 = 12;
    /// Sync by replay.
    pub const DIFF: i32 = 13;
    /// Sync by truncation.
    pub const TRUNC: i32 = 14;
    /// Sync by snapshot (the stream follows outside the packet).
    pub const SNAP: i32 = 15;
    /// First packet of an observer.
    pub const OBSERVERINFO: i32 = 16;
    /// The new epoch.
    pub const LEADERINFO: i32 = 17;
    /// The learner's current epoch and last zxid.
    pub const ACKEPOCH: i32 = 18;
    /// Reconfig txn for an observer.
    pub const INFORMANDACTIVATE: i32 = 19;
}

/// The protocol version a 3.4+ leader and learner announce (`0x10000`).
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// `BinaryInputArchive`'s bound on a buffer on the quorum port: `jute.maxbuffer` (0xfffff)
/// plus `zookeeper.jute.maxbuffer.extrasize` (defaults to the same).
pub const DEFAULT_QUORUM_MAX_BUFFER: usize = 0xfffff + 0xfffff;

/// The default decoding limits for the quorum port.
pub fn default_limits() -> Limits {
    Limits {
        max_buffer: DEFAULT_QUORUM_MAX_BUFFER,
    }
}

/// A PROPOSAL / INFORM payload: `TxnHeader`, the txn record, an optional `TxnDigest`
/// (`Util.marshallTxnEntry`).
///
/// Consensus treats it as opaque: [`TxnPayload::bytes`] are what was received and what is
/// sent and logged. The header is decoded (zxid, session and cxid matter to the pipeline)
/// and the record is walked only to find where the digest starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnPayload {
    bytes: Bytes,
    header: TxnHeader,
    body_len: usize,
    digest: Option<TxnDigest>,
}

impl TxnPayload {
    /// Builds the payload from its parts.
    pub fn new(header: TxnHeader, body: &[u8], digest: Option<TxnDigest>) -> Self {
        let mut b = BytesMut::with_capacity(header.encoded_len() + body.len() + 12);
        header.encode(&mut b);
        b.put_slice(body);
        if let Some(d) = &digest {
            d.encode(&mut b);
        }
        TxnPayload {
            bytes: b.freeze(),
            header,
            body_len: body.len(),
            digest,
        }
    }

    /// Parses payload bytes as `SerializeUtils.deserializeTxn` does: fewer than 12 bytes
    /// after the record mean no digest; bytes after the digest are ignored (and kept).
    pub fn parse(bytes: Bytes, limits: Limits) -> Result<TxnPayload, WireError> {
        let mut d = Decoder::with_limits(bytes.clone(), limits);
        let header = TxnHeader::decode(&mut d)?;
        let before = d.remaining();
        TxnBody::decode(header.type_, &mut d).map_err(|e| WireError::BadPayload {
            packet: "txn",
            why: e.to_string(),
        })?;
        let body_len = before - d.remaining();
        let digest = match TxnDigest::decode(&mut d) {
            Ok(digest) => Some(digest),
            Err(JuteError::Truncated { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(TxnPayload {
            bytes,
            header,
            body_len,
            digest,
        })
    }

    /// The payload as sent and logged.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    /// Session, cxid, zxid, time and type.
    pub fn header(&self) -> &TxnHeader {
        &self.header
    }
    /// The txn record's bytes.
    pub fn body(&self) -> Bytes {
        let start = self.header.encoded_len();
        self.bytes.slice(start..start + self.body_len)
    }
    /// The tree digest after this txn, when the proposer sent one.
    pub fn digest(&self) -> Option<&TxnDigest> {
        self.digest.as_ref()
    }
}

/// A client request a learner forwards (`Learner.request`): `long sessionId, int cxid,
/// int type`, then the request body exactly as the client sent it; `authinfo` is the
/// client connection's auth ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRequest {
    /// The client's session.
    pub session_id: i64,
    /// The client's cxid (xid).
    pub cxid: i32,
    /// The opcode.
    pub op_type: i32,
    /// The request record after the client's RequestHeader.
    pub body: Bytes,
    /// The connection's auth ids (Java sends a non-null list).
    pub authinfo: Option<Vec<Id>>,
}

/// One entry of the PING reply's session-touch table (`LearnerSessionTracker.snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTouch {
    /// The session.
    pub session_id: i64,
    /// Its negotiated timeout in ms.
    pub timeout_ms: i32,
}

/// REVALIDATE, which has a request and a reply shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revalidate {
    /// Learner → leader: `long sessionId, int timeout` (12 bytes).
    Request {
        /// The session.
        session_id: i64,
        /// The client's timeout.
        timeout_ms: i32,
    },
    /// Leader → learner: `long sessionId, boolean valid` (9 bytes).
    Reply {
        /// The session.
        session_id: i64,
        /// Whether the leader knows and touched it.
        valid: bool,
    },
}

/// The FOLLOWERINFO / OBSERVERINFO payload as `LearnerHandler.run` reads it: positionally,
/// a field per 8/12/20 bytes present; null data gives the learner a synthetic sid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerInfoData {
    /// Null data (a pre-3.4 learner).
    Null,
    /// At least the sid.
    Info {
        /// The learner's myid.
        sid: i64,
        /// Present when the data has 12 bytes or more.
        protocol_version: Option<i32>,
        /// Present when the data has 20 bytes or more; only with `protocol_version`.
        config_version: Option<i64>,
    },
}

impl LearnerInfoData {
    /// The full 20-byte record every 3.5+ learner sends.
    pub fn full(sid: i64, config_version: i64) -> Self {
        LearnerInfoData::Info {
            sid,
            protocol_version: Some(PROTOCOL_VERSION),
            config_version: Some(config_version),
        }
    }

    fn decode(data: Option<&Bytes>) -> Result<Self, WireError> {
        let Some(mut b) = data.map(|d| &d[..]) else {
            return Ok(LearnerInfoData::Null);
        };
        let len = b.len();
        if len < 8 {
            // Java keeps its default sid 0 here; no real learner sends this.
            return Err(WireError::BadPayload {
                packet: "FOLLOWERINFO/OBSERVERINFO",
                why: format!("{len} bytes, fewer than a sid"),
            });
        }
        let sid = b.get_i64();
        let protocol_version = (len >= 12).then(|| b.get_i32());
        let config_version = (len >= 20).then(|| b.get_i64());
        Ok(LearnerInfoData::Info {
            sid,
            protocol_version,
            config_version,
        })
    }

    fn encode(&self) -> Option<Bytes> {
        match *self {
            LearnerInfoData::Null => None,
            LearnerInfoData::Info {
                sid,
                protocol_version,
                config_version,
            } => {
                let mut b = BytesMut::with_capacity(20);
                match (protocol_version, config_version) {
                    // What every 3.5+ learner sends: the LearnerInfo record.
                    (Some(v), Some(c)) => LearnerInfo {
                        serverid: sid,
                        protocol_version: v,
                        config_version: c,
                    }
                    .encode(&mut b),
                    (Some(v), None) => {
                        b.put_i64(sid);
                        b.put_i32(v);
                    }
                    (None, _) => b.put_i64(sid),
                }
                Some(b.freeze())
            }
        }
    }
}

/// A quorum-port packet, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// 1: a forwarded client request (zxid -1).
    Request(ForwardedRequest),
    /// 2: a txn proposed at `zxid`.
    Proposal {
        /// The txn's zxid.
        zxid: i64,
        /// Header, record, digest.
        txn: TxnPayload,
    },
    /// 3: `zxid` is logged (or, with low 32 bits 0, the NEWLEADER / UPTODATE ack).
    Ack {
        /// The acknowledged zxid.
        zxid: i64,
    },
    /// 4: commit `zxid`.
    Commit {
        /// The committed zxid.
        zxid: i64,
    },
    /// 5: a ping. The leader's has no table (null data); a learner's reply echoes the zxid
    /// and carries the sessions touched since the last one (an empty, non-null table when
    /// none were).
    Ping {
        /// The leader's last proposed zxid.
        zxid: i64,
        /// `None` for null data (leader → learner).
        sessions: Option<Vec<SessionTouch>>,
    },
    /// 6: session revalidation (zxid -1).
    Revalidate(Revalidate),
    /// 7: answer to the oldest pending forwarded sync (zxid 0).
    Sync,
    /// 8: a committed txn for an observer.
    Inform {
        /// The txn's zxid.
        zxid: i64,
        /// Header, record, digest.
        txn: TxnPayload,
    },
    /// 9: commit a reconfig and activate it.
    CommitAndActivate {
        /// The reconfig txn's zxid.
        zxid: i64,
        /// The leader of the new config.
        designated_leader: i64,
    },
    /// 10: end of the sync payload.
    NewLeader {
        /// `newEpoch << 32`.
        zxid: i64,
        /// The leader's last-seen config text (null for pre-0x10000 learners).
        config: Option<Bytes>,
    },
    /// 11: a follower's first packet.
    FollowerInfo {
        /// `acceptedEpoch << 32`.
        zxid: i64,
        /// Who it is.
        info: LearnerInfoData,
    },
    /// 12: the learner may serve (zxid -1).
    UpToDate,
    /// 13: sync by replay.
    Diff {
        /// The leader's last committed zxid (or the peer's own when in sync).
        zxid: i64,
    },
    /// 14: truncate the log after `zxid`.
    Trunc {
        /// Truncate to here.
        zxid: i64,
    },
    /// 15: a snapshot follows outside the packet.
    Snap {
        /// The leader's last processed zxid.
        zxid: i64,
    },
    /// 16: an observer's first packet.
    ObserverInfo {
        /// `acceptedEpoch << 32`.
        zxid: i64,
        /// Who it is.
        info: LearnerInfoData,
    },
    /// 17: the proposed epoch.
    LeaderInfo {
        /// `newEpoch << 32`.
        zxid: i64,
        /// The leader's protocol version (`0x10000`).
        protocol_version: i32,
    },
    /// 18: the learner's current epoch (-1 when it had already accepted this epoch).
    AckEpoch {
        /// The learner's last logged zxid.
        zxid: i64,
        /// `currentEpoch` or -1.
        current_epoch: i32,
    },
    /// 19: a reconfig txn for an observer.
    InformAndActivate {
        /// The reconfig txn's zxid.
        zxid: i64,
        /// The leader of the new config.
        designated_leader: i64,
        /// Header, record, digest.
        txn: TxnPayload,
    },
}

fn bad(packet: &'static str, why: impl Into<String>) -> WireError {
    WireError::BadPayload {
        packet,
        why: why.into(),
    }
}

fn need_data<'a>(packet: &'static str, data: &'a Option<Bytes>) -> Result<&'a Bytes, WireError> {
    data.as_ref().ok_or_else(|| bad(packet, "null data"))
}

/// Reads an int/long prefix of `data` as Java's `ByteBuffer.wrap(data).getXxx()` does
/// (extra bytes ignored).
fn prefix_i64(packet: &'static str, data: &[u8]) -> Result<i64, WireError> {
    let mut b = data;
    if b.len() < 8 {
        return Err(bad(packet, format!("{} bytes, need 8", b.len())));
    }
    Ok(b.get_i64())
}

fn prefix_i32(packet: &'static str, data: &[u8]) -> Result<i32, WireError> {
    let mut b = data;
    if b.len() < 4 {
        return Err(bad(packet, format!("{} bytes, need 4", b.len())));
    }
    Ok(b.get_i32())
}

impl Packet {
    /// The packet type number.
    pub fn kind(&self) -> i32 {
        match self {
            Packet::Request(_) => kind::REQUEST,
            Packet::Proposal { .. } => kind::PROPOSAL,
            Packet::Ack { .. } => kind::ACK,
            Packet::Commit { .. } => kind::COMMIT,
            Packet::Ping { .. } => kind::PING,
            Packet::Revalidate(_) => kind::REVALIDATE,
            Packet::Sync => kind::SYNC,
            Packet::Inform { .. } => kind::INFORM,
            Packet::CommitAndActivate { .. } => kind::COMMITANDACTIVATE,
            Packet::NewLeader { .. } => kind::NEWLEADER,
            Packet::FollowerInfo { .. } => kind::FOLLOWERINFO,
            Packet::UpToDate => kind::UPTODATE,
            Packet::Diff { .. } => kind::DIFF,
            Packet::Trunc { .. } => kind::TRUNC,
            Packet::Snap { .. } => kind::SNAP,
            Packet::ObserverInfo { .. } => kind::OBSERVERINFO,
            Packet::LeaderInfo { .. } => kind::LEADERINFO,
            Packet::AckEpoch { .. } => kind::ACKEPOCH,
            Packet::InformAndActivate { .. } => kind::INFORMANDACTIVATE,
        }
    }

    /// The Jute record Java would write for this packet.
    pub fn to_record(&self) -> QuorumPacket {
        let (zxid, data, authinfo): (i64, Option<Bytes>, Option<Vec<Id>>) = match self {
            Packet::Request(r) => {
                let mut b = BytesMut::with_capacity(16 + r.body.len());
                b.put_i64(r.session_id);
                b.put_i32(r.cxid);
                b.put_i32(r.op_type);
                b.put_slice(&r.body);
                (-1, Some(b.freeze()), r.authinfo.clone())
            }
            Packet::Proposal { zxid, txn } | Packet::Inform { zxid, txn } => {
                (*zxid, Some(txn.bytes.clone()), None)
            }
            Packet::Ack { zxid }
            | Packet::Commit { zxid }
            | Packet::Diff { zxid }
            | Packet::Trunc { zxid }
            | Packet::Snap { zxid } => (*zxid, None, None),
            Packet::Ping { zxid, sessions } => {
                let data = sessions.as_ref().map(|s| {
                    let mut b = BytesMut::with_capacity(12 * s.len());
                    for t in s {
                        b.put_i64(t.session_id);
                        b.put_i32(t.timeout_ms);
                    }
                    b.freeze()
                });
                (*zxid, data, None)
            }
            Packet::Revalidate(r) => {
                let mut b = BytesMut::with_capacity(12);
                match *r {
                    Revalidate::Request {
                        session_id,
                        timeout_ms,
                    } => {
                        b.put_i64(session_id);
                        b.put_i32(timeout_ms);
                    }
                    Revalidate::Reply { session_id, valid } => {
                        b.put_i64(session_id);
                        b.put_u8(u8::from(valid));
                    }
                }
                (-1, Some(b.freeze()), None)
            }
            Packet::Sync => (0, None, None),
            Packet::CommitAndActivate {
                zxid,
                designated_leader,
            } => (
                *zxid,
                Some(Bytes::copy_from_slice(&designated_leader.to_be_bytes())),
                None,
            ),
            Packet::NewLeader { zxid, config } => (*zxid, config.clone(), None),
            Packet::FollowerInfo { zxid, info } | Packet::ObserverInfo { zxid, info } => {
                (*zxid, info.encode(), None)
            }
            Packet::UpToDate => (-1, None, None),
            Packet::LeaderInfo {
                zxid,
                protocol_version,
            } => (
                *zxid,
                Some(Bytes::copy_from_slice(&protocol_version.to_be_bytes())),
                None,
            ),
            Packet::AckEpoch {
                zxid,
                current_epoch,
            } => (
                *zxid,
                Some(Bytes::copy_from_slice(&current_epoch.to_be_bytes())),
                None,
            ),
            Packet::InformAndActivate {
                zxid,
                designated_leader,
                txn,
            } => {
                let mut b = BytesMut::with_capacity(8 + txn.bytes.len());
                b.put_i64(*designated_leader);
                b.put_slice(&txn.bytes);
                (*zxid, Some(b.freeze()), None)
            }
        };
        QuorumPacket {
            type_: self.kind(),
            zxid,
            data,
            authinfo,
        }
    }

    /// Appends the packet's bytes.
    pub fn encode(&self, buf: &mut BytesMut) {
        self.to_record().encode(buf);
    }

    /// The packet's bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.to_record().to_bytes()
    }

    /// Types a decoded record. An unknown type is `Ok(None)`: Java logs and skips it
    /// (`LearnerHandler`'s and `Follower.processPacket`'s default branches).
    pub fn from_record(qp: QuorumPacket, limits: Limits) -> Result<Option<Packet>, WireError> {
        let QuorumPacket {
            type_,
            zxid,
            data,
            authinfo,
        } = qp;
        let txn = |name: &'static str, data: &Option<Bytes>| -> Result<TxnPayload, WireError> {
            TxnPayload::parse(need_data(name, data)?.clone(), limits)
        };
        let p = match type_ {
            kind::REQUEST => {
                let d = need_data("REQUEST", &data)?;
                if d.len() < 16 {
                    return Err(bad("REQUEST", format!("{} bytes, need 16", d.len())));
                }
                let mut h = &d[..16];
                Packet::Request(ForwardedRequest {
                    session_id: h.get_i64(),
                    cxid: h.get_i32(),
                    op_type: h.get_i32(),
                    body: d.slice(16..),
                    authinfo,
                })
            }
            kind::PROPOSAL => Packet::Proposal {
                zxid,
                txn: txn("PROPOSAL", &data)?,
            },
            kind::ACK => Packet::Ack { zxid },
            kind::COMMIT => Packet::Commit { zxid },
            kind::PING => {
                let sessions = match &data {
                    None => None,
                    Some(d) => {
                        if d.len() % 12 != 0 {
                            // LearnerHandler reads pairs until none are left: a partial
                            // one is an EOFException and the learner is dropped.
                            return Err(bad("PING", format!("{} bytes, not pairs", d.len())));
                        }
                        let mut b = &d[..];
                        let mut v = Vec::with_capacity(d.len() / 12);
                        while b.has_remaining() {
                            v.push(SessionTouch {
                                session_id: b.get_i64(),
                                timeout_ms: b.get_i32(),
                            });
                        }
                        Some(v)
                    }
                };
                Packet::Ping { zxid, sessions }
            }
            kind::REVALIDATE => {
                let d = need_data("REVALIDATE", &data)?;
                let mut b = &d[..];
                match d.len() {
                    12 => Packet::Revalidate(Revalidate::Request {
                        session_id: b.get_i64(),
                        timeout_ms: b.get_i32(),
                    }),
                    9 => Packet::Revalidate(Revalidate::Reply {
                        session_id: b.get_i64(),
                        valid: b.get_u8() != 0,
                    }),
                    n => return Err(bad("REVALIDATE", format!("{n} bytes, want 12 or 9"))),
                }
            }
            kind::SYNC => Packet::Sync,
            kind::INFORM => Packet::Inform {
                zxid,
                txn: txn("INFORM", &data)?,
            },
            kind::COMMITANDACTIVATE => Packet::CommitAndActivate {
                zxid,
                designated_leader: prefix_i64(
                    "COMMITANDACTIVATE",
                    need_data("COMMITANDACTIVATE", &data)?,
                )?,
            },
            kind::NEWLEADER => Packet::NewLeader { zxid, config: data },
            kind::FOLLOWERINFO => Packet::FollowerInfo {
                zxid,
                info: LearnerInfoData::decode(data.as_ref())?,
            },
            kind::UPTODATE => Packet::UpToDate,
            kind::DIFF => Packet::Diff { zxid },
            kind::TRUNC => Packet::Trunc { zxid },
            kind::SNAP => Packet::Snap { zxid },
            kind::OBSERVERINFO => Packet::ObserverInfo {
                zxid,
                info: LearnerInfoData::decode(data.as_ref())?,
            },
            kind::LEADERINFO => Packet::LeaderInfo {
                zxid,
                protocol_version: prefix_i32("LEADERINFO", need_data("LEADERINFO", &data)?)?,
            },
            kind::ACKEPOCH => Packet::AckEpoch {
                zxid,
                current_epoch: prefix_i32("ACKEPOCH", need_data("ACKEPOCH", &data)?)?,
            },
            kind::INFORMANDACTIVATE => {
                let d = need_data("INFORMANDACTIVATE", &data)?;
                let designated_leader = prefix_i64("INFORMANDACTIVATE", d)?;
                Packet::InformAndActivate {
                    zxid,
                    designated_leader,
                    txn: TxnPayload::parse(d.slice(8..), limits)?,
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(p))
    }

    /// Decodes one complete packet from `bytes` (which must hold exactly one).
    pub fn decode(bytes: Bytes, limits: Limits) -> Result<Option<Packet>, WireError> {
        let mut d = Decoder::with_limits(bytes, limits);
        let qp = QuorumPacket::decode(&mut d)?;
        d.finish()?;
        Packet::from_record(qp, limits)
    }
}

/// The length of the `QuorumPacket` at the front of `buf`, or `None` if it is not all
/// there yet. Every length is checked against `limits` as soon as its 4 bytes are present,
/// so a hostile length is rejected before the caller buffers for it; nothing is allocated.
pub fn packet_len(buf: &[u8], limits: Limits) -> Result<Option<usize>, WireError> {
    let mut pos = 12; // type, zxid
                      // A length-prefixed buffer/string at `pos`; returns the position after it.
    let skip = |pos: usize, what: &'static str| -> Result<Option<usize>, WireError> {
        let Some(head) = buf.get(pos..pos + 4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len == -1 {
            return Ok(Some(pos + 4));
        }
        if len < 0 || len as usize > limits.max_buffer {
            return Err(WireError::BadLength {
                what,
                len: len.into(),
                max: limits.max_buffer,
            });
        }
        Ok(Some(pos + 4 + len as usize))
    };
    let Some(p) = skip(pos, "QuorumPacket data")? else {
        return Ok(None);
    };
    pos = p;
    let Some(head) = buf.get(pos..pos + 4) else {
        return Ok(None);
    };
    let count = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    pos += 4;
    if count == -1 {
        return Ok((buf.len() >= pos).then_some(pos));
    }
    // Each Id is two length prefixes at least; BinaryInputArchive bounds nothing here, the
    // loop below is bounded by the bytes present.
    if count < 0 {
        return Err(WireError::BadLength {
            what: "QuorumPacket authinfo count",
            len: count.into(),
            max: i32::MAX as usize,
        });
    }
    for _ in 0..count {
        for what in ["Id scheme", "Id id"] {
            if pos > buf.len() {
                return Ok(None);
            }
            // Null strings inside an Id are allowed by Java's readString.
            let Some(p) = skip(pos, what)? else {
                return Ok(None);
            };
            pos = p;
        }
    }
    Ok((buf.len() >= pos).then_some(pos))
}

/// Takes the next packet off the front of the quorum stream in `src`: `Ok(None)` until a
/// whole record is there. Unknown packet types are skipped (consumed, `Ok(Some(None))`).
pub fn decode_packet(
    src: &mut BytesMut,
    limits: Limits,
) -> Result<Option<Option<Packet>>, WireError> {
    let Some(len) = packet_len(src, limits)? else {
        return Ok(None);
    };
    let frame = src.split_to(len).freeze();
    Packet::decode(frame, limits).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::txn::CreateTxn;
    use zk_proto::JString;

    fn h(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn check(p: Packet, hex: &str) {
        let want = h(hex);
        assert_eq!(p.to_bytes()[..], want[..], "encode {p:?}");
        let mut src = BytesMut::from(&want[..]);
        assert_eq!(
            decode_packet(&mut src, default_limits()).unwrap(),
            Some(Some(p))
        );
        assert!(src.is_empty());
    }

    /// The vectors of ZAB-NOTES §14 (made with Debian's zookeeper-3.8.0.jar).
    #[test]
    fn notes_vectors() {
        check(
            Packet::FollowerInfo {
                zxid: 5 << 32,
                info: LearnerInfoData::full(3, 0),
            },
            "0000000b 0000000500000000 00000014 0000000000000003 00010000 0000000000000000 ffffffff",
        );
        check(
            Packet::LeaderInfo {
                zxid: 6 << 32,
                protocol_version: PROTOCOL_VERSION,
            },
            "00000011 0000000600000000 00000004 00010000 ffffffff",
        );
        check(
            Packet::AckEpoch {
                zxid: 0x5_0000_0007,
                current_epoch: 5,
            },
            "00000012 0000000500000007 00000004 00000005 ffffffff",
        );
        check(
            Packet::UpToDate,
            "0000000c ffffffffffffffff ffffffff ffffffff",
        );
        check(
            Packet::Commit {
                zxid: 0x6_0000_0001,
            },
            "00000004 0000000600000001 ffffffff ffffffff",
        );
        let delete = {
            let mut b = BytesMut::new();
            zk_proto::proto::DeleteRequest {
                path: Some(JString::from("/a")),
                version: -1,
            }
            .encode(&mut b);
            b.freeze()
        };
        check(
            Packet::Request(ForwardedRequest {
                session_id: 0x0100_0000_0000_0000,
                cxid: 7,
                op_type: 2,
                body: delete,
                authinfo: Some(vec![Id {
                    scheme: Some(JString::from("ip")),
                    id: Some(JString::from("127.0.0.1")),
                }]),
            }),
            "00000001 ffffffffffffffff 0000001a 0100000000000000 00000007 00000002 00000002 2f61 \
             ffffffff 00000001 00000002 6970 00000009 3132372e302e302e31",
        );
        // The PROPOSAL data of §14 (CreateTxn "/a" "x" with digest 0x1c16a8c28).
        let data = h(
            "0100000000000000 00000001 0000000100000001 0000018bcfe56800 00000001 \
                      00000002 2f61 00000001 78 00000001 0000001f 00000005 776f726c64 \
                      00000006 616e796f6e65 00 00000001 00000002 00000001c16a8c28",
        );
        assert_eq!(data.len(), 87);
        let txn = TxnPayload::parse(Bytes::from(data.clone()), default_limits()).unwrap();
        assert_eq!(txn.header().zxid, 0x1_0000_0001);
        assert_eq!(txn.header().time, 1_700_000_000_000);
        assert_eq!(
            txn.digest(),
            Some(&TxnDigest {
                version: 2,
                tree_digest: 7_539_952_680
            })
        );
        let body = CreateTxn::from_bytes(txn.body()).unwrap();
        assert_eq!(body.path, Some(JString::from("/a")));
        let rebuilt = TxnPayload::new(txn.header().clone(), &txn.body(), txn.digest().cloned());
        assert_eq!(rebuilt, txn);
        assert_eq!(rebuilt.bytes()[..], data[..]);
    }

    #[test]
    fn ping_tables_and_revalidate() {
        check(
            Packet::Ping {
                zxid: 0x3_0000_0000,
                sessions: None,
            },
            "00000005 0000000300000000 ffffffff ffffffff",
        );
        check(
            Packet::Ping {
                zxid: 0x3_0000_0000,
                sessions: Some(vec![]),
            },
            "00000005 0000000300000000 00000000 ffffffff",
        );
        check(
            Packet::Ping {
                zxid: 1,
                sessions: Some(vec![SessionTouch {
                    session_id: 0x0100_0000_0000_0001,
                    timeout_ms: 30_000,
                }]),
            },
            "00000005 0000000000000001 0000000c 0100000000000001 00007530 ffffffff",
        );
        check(
            Packet::Revalidate(Revalidate::Reply {
                session_id: 9,
                valid: true,
            }),
            "00000006 ffffffffffffffff 00000009 0000000000000009 01 ffffffff",
        );
        let bad_ping = h("00000005 0000000000000001 00000005 0102030405 ffffffff");
        assert!(decode_packet(&mut BytesMut::from(&bad_ping[..]), default_limits()).is_err());
    }

    #[test]
    fn stream_needs_whole_packets_and_rejects_long_lengths() {
        let p = Packet::Request(ForwardedRequest {
            session_id: 1,
            cxid: 2,
            op_type: 3,
            body: Bytes::from_static(b"abc"),
            authinfo: Some(vec![Id {
                scheme: Some(JString::from("digest")),
                id: None,
            }]),
        });
        let bytes = p.to_bytes();
        for cut in 0..bytes.len() {
            let mut b = BytesMut::from(&bytes[..cut]);
            assert_eq!(
                decode_packet(&mut b, default_limits()).unwrap(),
                None,
                "{cut}"
            );
            assert_eq!(b.len(), cut);
        }
        let limits = Limits { max_buffer: 16 };
        let big = Packet::NewLeader {
            zxid: 1 << 32,
            config: Some(Bytes::from(vec![b'x'; 17])),
        }
        .to_bytes();
        // Rejected on the length alone, with only 16 bytes of the packet present.
        let mut b = BytesMut::from(&big[..16]);
        assert!(matches!(
            decode_packet(&mut b, limits),
            Err(WireError::BadLength { .. })
        ));
        // Unknown types are skipped.
        let unknown = QuorumPacket {
            type_: 42,
            zxid: 0,
            data: None,
            authinfo: None,
        }
        .to_bytes();
        let mut b = BytesMut::from(&unknown[..]);
        assert_eq!(decode_packet(&mut b, default_limits()).unwrap(), Some(None));
    }
}
