//! The server side of the client port as a `tokio_util` codec.
//!
//! ```text
//!            ┌──────────── first 4 bytes a known four-letter word? ──► FourLetter(word)
//!   Fresh ───┤                                                     (stmk: then TraceMask(i64))
//!            └── i32 len | ConnectRequest ──► Connect(Handshake) ──► Established
//!   Established: i32 len | RequestHeader | body ──► Request { header, body }
//! ```
//!
//! Rules from `NIOServerCnxn.readLength` / `NettyServerCnxn.receiveMessage`:
//!
//! * every frame is an `i32` length and that many bytes;
//! * a length that is negative or larger than `jute.maxbuffer` is an error and the connection
//!   is closed ("Len error"); a length equal to `jute.maxbuffer` is accepted. The check runs
//!   on the 4 length bytes, before anything is reserved for the payload;
//! * only while the connection is not yet initialised (before the ConnectRequest), the 4 length
//!   bytes are first compared with the four-letter words of `FourLetterCommands` — before the
//!   length check, since every word read as an `i32` is far over the limit or negative;
//! * a frame too short for its ConnectRequest or RequestHeader is an `IOException` upstream:
//!   here an error, after which the server closes the connection.
//!
//! Checked against Debian's ZooKeeper 3.8.0 with `-Djute.maxbuffer=4096`: a 4096-byte frame is
//! answered, a 4097-byte one closes the connection; `ruok` and the telnet sequence as the first
//! 4 bytes get the "... is not executed because it is not in the whitelist." text.
//!
//! Incomplete input is `Ok(None)`, never an error. After a four-letter word (and `stmk`'s
//! 8-byte trace mask) upstream stops reading; the codec then discards whatever arrives.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::handshake::{self, ConnectShape, Handshake};
use crate::proto::{ConnectResponse, ReplyHeader, RequestHeader};
use crate::{JuteError, Limits, Record};

/// A four-letter word (`FourLetterCommands`), recognised by its 4 bytes read as a big-endian
/// `i32` in place of the first frame length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    /// `conf`: the server configuration.
    Conf,
    /// `cons`: connection details.
    Cons,
    /// `crst`: reset connection statistics.
    Crst,
    /// `dirs`: sizes of the snapshot and log directories.
    Dirs,
    /// `dump`: sessions and ephemerals.
    Dump,
    /// `envi`: environment.
    Envi,
    /// `gtmk`: get the trace mask.
    Gtmk,
    /// `ruok`: answers `imok`.
    Ruok,
    /// `stmk`: set the trace mask; an 8-byte mask follows the word.
    Stmk,
    /// `srst`: reset server statistics.
    Srst,
    /// `srvr`: server details (always whitelisted upstream: `zkServer.sh status` uses it).
    Srvr,
    /// `stat`: server details and connections.
    Stat,
    /// `wchc`: watches by session.
    Wchc,
    /// `wchp`: watches by path.
    Wchp,
    /// `wchs`: watch summary.
    Wchs,
    /// `mntr`: monitoring variables.
    Mntr,
    /// `isro`: `ro` or `rw`.
    Isro,
    /// `hash`: tree digests.
    Hash,
    /// The telnet interrupt sequence (`0xfff4fffd`, "telnet close").
    TelnetClose,
}

/// The 4 ASCII bytes as a big-endian `i32`.
const fn word(w: &[u8; 4]) -> i32 {
    i32::from_be_bytes(*w)
}

impl FourLetterWord {
    /// Every word, in `FourLetterCommands`' order.
    pub const ALL: &'static [FourLetterWord] = &[
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Dirs,
        FourLetterWord::Dump,
        FourLetterWord::Envi,
        FourLetterWord::Gtmk,
        FourLetterWord::Ruok,
        FourLetterWord::Stmk,
        FourLetterWord::Srst,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Wchs,
        FourLetterWord::Mntr,
        FourLetterWord::Isro,
        FourLetterWord::Hash,
        FourLetterWord::TelnetClose,
    ];

    /// The command's name as the whitelist (`4lw.commands.whitelist`) spells it.
    pub const fn name(self) -> &'static str {
        match self {
            FourLetterWord::Conf => "conf",
            FourLetterWord::Cons => "cons",
            FourLetterWord::Crst => "crst",
            FourLetterWord::Dirs => "dirs",
            FourLetterWord::Dump => "dump",
            FourLetterWord::Envi => "envi",
            FourLetterWord::Gtmk => "gtmk",
            FourLetterWord::Ruok => "ruok",
            FourLetterWord::Stmk => "stmk",
            FourLetterWord::Srst => "srst",
            FourLetterWord::Srvr => "srvr",
            FourLetterWord::Stat => "stat",
            FourLetterWord::Wchc => "wchc",
            FourLetterWord::Wchp => "wchp",
            FourLetterWord::Wchs => "wchs",
            FourLetterWord::Mntr => "mntr",
            FourLetterWord::Isro => "isro",
            FourLetterWord::Hash => "hash",
            FourLetterWord::TelnetClose => "telnet close",
        }
    }

    /// The `i32` the word arrives as.
    pub const fn code(self) -> i32 {
        match self {
            FourLetterWord::TelnetClose => 0xfff4_fffd_u32 as i32,
            other => {
                let n = other.name().as_bytes();
                word(&[n[0], n[1], n[2], n[3]])
            }
        }
    }

    /// The word for the first 4 bytes of a connection, if they are one
    /// (`FourLetterCommands.isKnown`).
    pub fn from_code(code: i32) -> Option<FourLetterWord> {
        FourLetterWord::ALL
            .iter()
            .copied()
            .find(|w| w.code() == code)
    }
}

/// One thing the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// The first frame: the session handshake.
    Connect(Handshake),
    /// A four-letter word in place of the first frame. The server answers with plain text
    /// (see [`Unframed`]) and closes the connection.
    FourLetter(FourLetterWord),
    /// The 8-byte trace mask that follows `stmk` (only read if the server asks for the next
    /// frame; upstream reads it only when `stmk` is whitelisted).
    TraceMask(i64),
    /// A request after the handshake: its header and its undecoded body (decode it with
    /// [`crate::request::Request::decode`], which tells a MARSHALLINGERROR from a close).
    Request {
        /// xid and opcode.
        header: RequestHeader,
        /// The rest of the frame.
        body: Bytes,
    },
}

/// Why the codec gave up on a connection. Each is a reason to close it, as upstream does.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The socket failed, or closed inside a frame.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A negative length or one over `jute.maxbuffer` ("Len error").
    #[error("Len error {len}: negative or over jute.maxbuffer={max}")]
    BadLength {
        /// The length as read.
        len: i32,
        /// The limit.
        max: usize,
    },
    /// The first frame is not a ConnectRequest.
    #[error("bad ConnectRequest: {0}")]
    BadConnect(JuteError),
    /// A frame too short for its RequestHeader.
    #[error("bad RequestHeader: {0}")]
    BadHeader(JuteError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: a four-letter word or a ConnectRequest.
    Fresh,
    /// After the ConnectRequest: requests.
    Established,
    /// After `stmk`: the trace mask.
    TraceMask,
    /// After a four-letter word: input is discarded.
    Done,
}

/// The client-port codec (server side). See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct ClientCodec {
    max_frame: usize,
    limits: Limits,
    state: State,
}

impl Default for ClientCodec {
    fn default() -> Self {
        ClientCodec::new(zk_jute::DEFAULT_MAX_BUFFER)
    }
}

impl ClientCodec {
    /// A codec for a fresh connection with `jute.maxbuffer = max_frame`. Records inside a
    /// frame are decoded with that limit too (a field cannot be longer than its frame).
    pub fn new(max_frame: usize) -> Self {
        ClientCodec {
            max_frame,
            limits: Limits {
                max_buffer: max_frame,
            },
            state: State::Fresh,
        }
    }

    /// The largest accepted frame payload.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The limits record decoding should use for bodies of this connection.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// True once the ConnectRequest has been read.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// Reads one length-prefixed payload; `Ok(None)` if it is not all there yet.
    fn frame(&self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let Some(prefix) = src.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let Ok(n) = usize::try_from(len) else {
            return Err(CodecError::BadLength {
                len,
                max: self.max_frame,
            });
        };
        if n > self.max_frame {
            return Err(CodecError::BadLength {
                len,
                max: self.max_frame,
            });
        }
        let total = 4 + n;
        if src.len() < total {
            // Checked above: at most max_frame + 4 bytes are asked for.
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(n).freeze()))
    }
}

impl Decoder for ClientCodec {
    type Item = ClientFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ClientFrame>, CodecError> {
        match self.state {
            State::Done => {
                src.clear();
                Ok(None)
            }
            State::TraceMask => {
                if src.len() < 8 {
                    return Ok(None);
                }
                self.state = State::Done;
                Ok(Some(ClientFrame::TraceMask(src.get_i64())))
            }
            State::Fresh => {
                if let Some(prefix) = src.get(..4) {
                    let code = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                    if let Some(w) = FourLetterWord::from_code(code) {
                        src.advance(4);
                        self.state = if w == FourLetterWord::Stmk {
                            State::TraceMask
                        } else {
                            State::Done
                        };
                        return Ok(Some(ClientFrame::FourLetter(w)));
                    }
                }
                let Some(payload) = self.frame(src)? else {
                    return Ok(None);
                };
                let hs = handshake::decode_request(payload, self.limits)
                    .map_err(CodecError::BadConnect)?;
                self.state = State::Established;
                Ok(Some(ClientFrame::Connect(hs)))
            }
            State::Established => {
                let Some(mut payload) = self.frame(src)? else {
                    return Ok(None);
                };
                if payload.len() < 8 {
                    return Err(CodecError::BadHeader(JuteError::Truncated {
                        needed: 8,
                        available: payload.len(),
                    }));
                }
                let header = RequestHeader {
                    xid: payload.get_i32(),
                    type_: payload.get_i32(),
                };
                Ok(Some(ClientFrame::Request {
                    header,
                    body: payload,
                }))
            }
        }
    }
}

pub use crate::body::{Body, NoBody, RawBody};

/// A reply frame: `ReplyHeader` then the body, behind one length prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<B = NoBody> {
    /// xid, zxid, err.
    pub header: ReplyHeader,
    /// The response record (nothing when `err` is not 0).
    pub body: B,
}

impl Reply<NoBody> {
    /// A reply with only a header.
    pub fn header_only(xid: i32, zxid: i64, err: i32) -> Self {
        Reply {
            header: ReplyHeader { xid, zxid, err },
            body: NoBody,
        }
    }
}

/// The reply to the handshake: a bare `ConnectResponse` in the client's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectReply {
    /// The response.
    pub response: ConnectResponse,
    /// The shape of the client's request.
    pub shape: ConnectShape,
}

/// Bytes written as they are, without a length: a four-letter word's text answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unframed(pub Bytes);

/// `ReplyHeader`: xid, zxid, err.
const REPLY_HEADER_LEN: usize = 16;

fn put_len(dst: &mut BytesMut, len: usize) -> Result<(), CodecError> {
    let len = i32::try_from(len).map_err(|_| {
        CodecError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "reply longer than i32::MAX",
        ))
    })?;
    dst.put_i32(len);
    Ok(())
}

impl<B: Body> Encoder<Reply<B>> for ClientCodec {
    type Error = CodecError;

    /// One reservation, one length prefix, header and body encoded in place.
    fn encode(&mut self, item: Reply<B>, dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = REPLY_HEADER_LEN + item.body.body_len();
        dst.reserve(4 + len);
        put_len(dst, len)?;
        item.header.encode(dst);
        item.body.encode_body(dst);
        Ok(())
    }
}

impl Encoder<ConnectReply> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: ConnectReply, dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = handshake::response_len(&item.response, item.shape);
        dst.reserve(4 + len);
        put_len(dst, len)?;
        handshake::encode_response(&item.response, item.shape, dst);
        Ok(())
    }
}

impl Encoder<Unframed> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Unframed, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.put_slice(&item.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{encode_request, LEGACY_REQUEST_LEN, REQUEST_LEN};
    use crate::proto::{ConnectRequest, GetDataResponse};
    use proptest::prelude::*;

    const MAX: usize = 1024;

    fn connect_frame(shape: ConnectShape) -> Vec<u8> {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: false,
        };
        let mut b = BytesMut::new();
        encode_request(&req, shape, &mut b);
        let mut f = (b.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&b);
        f
    }

    fn request_frame(xid: i32, type_: i32, body: &[u8]) -> Vec<u8> {
        let mut f = ((8 + body.len()) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&xid.to_be_bytes());
        f.extend_from_slice(&type_.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn established() -> ClientCodec {
        let mut c = ClientCodec::new(MAX);
        let mut b = BytesMut::from(&connect_frame(ConnectShape::WithReadOnly)[..]);
        assert!(matches!(
            c.decode(&mut b),
            Ok(Some(ClientFrame::Connect(_)))
        ));
        assert!(c.is_established());
        c
    }

    /// Decodes everything in `input`, returning the frames and the error that stopped it.
    fn drain(c: &mut ClientCodec, buf: &mut BytesMut) -> (Vec<ClientFrame>, Option<CodecError>) {
        let mut frames = Vec::new();
        loop {
            match c.decode(buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    }

    #[test]
    fn four_letter_words_are_those_of_four_letter_commands() {
        assert_eq!(FourLetterWord::ALL.len(), 19);
        assert_eq!(FourLetterWord::Ruok.code(), 0x7275_6f6b);
        assert_eq!(FourLetterWord::Srvr.code(), i32::from_be_bytes(*b"srvr"));
        assert_eq!(FourLetterWord::TelnetClose.code(), 0xfff4_fffd_u32 as i32);
        for w in FourLetterWord::ALL {
            assert_eq!(FourLetterWord::from_code(w.code()), Some(*w));
        }
        let mut codes: Vec<i32> = FourLetterWord::ALL.iter().map(|w| w.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 19);
        assert_eq!(
            FourLetterWord::from_code(i32::from_be_bytes(*b"kill")),
            None
        );
    }

    #[test]
    fn a_four_letter_word_opens_a_fresh_connection_only() {
        for w in FourLetterWord::ALL {
            let mut c = ClientCodec::new(MAX);
            let mut b = BytesMut::from(&w.code().to_be_bytes()[..]);
            b.extend_from_slice(b"\r\n and more");
            assert_eq!(c.decode(&mut b).unwrap(), Some(ClientFrame::FourLetter(*w)));
            if *w == FourLetterWord::Stmk {
                continue;
            }
            // Whatever follows is discarded, also at EOF.
            assert_eq!(c.decode(&mut b).unwrap(), None);
            assert!(b.is_empty());
            b.extend_from_slice(&[1, 2, 3]);
            assert_eq!(c.decode_eof(&mut b).unwrap(), None);
        }
        // After the handshake the same 4 bytes are just an oversize length.
        let mut c = established();
        let mut b = BytesMut::from(&b"ruok"[..]);
        assert!(matches!(
            c.decode(&mut b),
            Err(CodecError::BadLength {
                len: 0x7275_6f6b,
                ..
            })
        ));
    }

    #[test]
    fn stmk_is_followed_by_an_eight_byte_mask() {
        let mut c = ClientCodec::new(MAX);
        let mut b = BytesMut::from(&b"stmk"[..]);
        b.extend_from_slice(&0x0102_0304_0506_0708_i64.to_be_bytes()[..5]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(ClientFrame::FourLetter(FourLetterWord::Stmk))
        );
        assert_eq!(c.decode(&mut b).unwrap(), None);
        b.extend_from_slice(&0x0102_0304_0506_0708_i64.to_be_bytes()[5..]);
        assert_eq!(
            c.decode(&mut b).unwrap(),
            Some(ClientFrame::TraceMask(0x0102_0304_0506_0708))
        );
    }

    #[test]
    fn handshake_then_pipelined_requests() {
        for (shape, len) in [
            (ConnectShape::Legacy, LEGACY_REQUEST_LEN),
            (ConnectShape::WithReadOnly, REQUEST_LEN),
        ] {
            let mut input = connect_frame(shape);
            assert_eq!(input.len(), 4 + len);
            // The Java client may send auth and setWatches before the ConnectResponse.
            input.extend(request_frame(-4, 100, b"auth body"));
            input.extend(request_frame(-8, 101, b""));
            let mut c = ClientCodec::new(MAX);
            let mut b = BytesMut::from(&input[..]);
            let (frames, err) = drain(&mut c, &mut b);
            assert!(err.is_none());
            assert!(matches!(&frames[0], ClientFrame::Connect(h) if h.shape == shape));
            assert_eq!(
                frames[1],
                ClientFrame::Request {
                    header: RequestHeader {
                        xid: -4,
                        type_: 100
                    },
                    body: Bytes::from_static(b"auth body")
                }
            );
            assert_eq!(
                frames[2],
                ClientFrame::Request {
                    header: RequestHeader {
                        xid: -8,
                        type_: 101
                    },
                    body: Bytes::new()
                }
            );
        }
    }

    #[test]
    fn incomplete_input_is_not_an_error() {
        let mut input = connect_frame(ConnectShape::WithReadOnly);
        input.extend(request_frame(1, 4, b"\0\0\0\x02/a\0"));
        let mut c = ClientCodec::new(MAX);
        let mut b = BytesMut::new();
        let mut frames = Vec::new();
        for byte in input {
            b.put_u8(byte);
            if let Some(f) = c.decode(&mut b).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 2);
        assert!(b.is_empty());
        // EOF inside a frame is an error; at a frame boundary it is not.
        assert!(c.decode_eof(&mut b).unwrap().is_none());
        b.extend_from_slice(&[0, 0, 0, 9, 1]);
        assert!(matches!(c.decode_eof(&mut b), Err(CodecError::Io(_))));
    }

    #[test]
    fn length_rules_are_upstreams() {
        // Negative and over-limit lengths are errors, in either state.
        for len in [-1, -2, i32::MIN, MAX as i32 + 1, i32::MAX] {
            for mut c in [ClientCodec::new(MAX), established()] {
                let mut b = BytesMut::from(&len.to_be_bytes()[..]);
                assert!(
                    matches!(c.decode(&mut b), Err(CodecError::BadLength { len: l, max: MAX }) if l == len),
                    "{len}"
                );
            }
        }
        // Exactly the limit is accepted.
        let mut c = established();
        let mut b = BytesMut::from(&request_frame(5, 4, &vec![0; MAX - 8])[..]);
        assert!(matches!(
            c.decode(&mut b),
            Ok(Some(ClientFrame::Request { body, .. })) if body.len() == MAX - 8
        ));
        // Frames too short for what they must hold.
        let mut c = ClientCodec::new(MAX);
        let mut b = BytesMut::from(&[0, 0, 0, 0][..]);
        assert!(matches!(c.decode(&mut b), Err(CodecError::BadConnect(_))));
        let mut c = established();
        let mut b = BytesMut::from(&[0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0][..]);
        assert!(matches!(c.decode(&mut b), Err(CodecError::BadHeader(_))));
    }

    #[test]
    fn the_limit_is_checked_before_reserving() {
        let max = zk_jute::DEFAULT_MAX_BUFFER;
        // A huge declared length reserves nothing.
        let mut c = ClientCodec::new(max);
        let mut b = BytesMut::with_capacity(64);
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(c.decode(&mut b).is_err());
        assert!(b.capacity() <= 64, "{}", b.capacity());
        let mut c = established();
        let mut b = BytesMut::with_capacity(64);
        b.extend_from_slice(&((MAX + 1) as i32).to_be_bytes());
        assert!(c.decode(&mut b).is_err());
        assert!(b.capacity() <= 64);
        // The largest allowed length reserves the frame once, and no more.
        let mut c = ClientCodec::new(max);
        let mut b = BytesMut::with_capacity(8 * 1024);
        b.extend_from_slice(&(max as i32).to_be_bytes());
        assert_eq!(c.decode(&mut b).unwrap(), None);
        assert!(b.capacity() >= max + 4);
        assert!(b.capacity() <= max + 4 + 64, "{}", b.capacity());
    }

    #[test]
    fn replies_are_one_length_prefix_and_the_record() {
        let mut c = established();
        let mut dst = BytesMut::new();
        c.encode(Reply::header_only(-2, 0x1_0000_0001, 0), &mut dst)
            .unwrap();
        assert_eq!(
            dst.to_vec(),
            [
                &16i32.to_be_bytes()[..],
                &(-2i32).to_be_bytes(),
                &0x1_0000_0001i64.to_be_bytes(),
                &0i32.to_be_bytes()
            ]
            .concat()
        );
        let body = GetDataResponse {
            data: Some(Bytes::from_static(b"hello")),
            stat: Default::default(),
        };
        let mut dst = BytesMut::new();
        c.encode(
            Reply {
                header: ReplyHeader {
                    xid: 7,
                    zxid: 9,
                    err: 0,
                },
                body: body.clone(),
            },
            &mut dst,
        )
        .unwrap();
        let expected_len = 16 + body.encoded_len();
        assert_eq!(dst.len(), 4 + expected_len);
        assert_eq!(&dst[..4], &(expected_len as i32).to_be_bytes());
        assert_eq!(&dst[20..], &body.to_bytes()[..]);
        // A pre-encoded body gives the same bytes.
        let mut raw = BytesMut::new();
        c.encode(
            Reply {
                header: ReplyHeader {
                    xid: 7,
                    zxid: 9,
                    err: 0,
                },
                body: RawBody(body.to_bytes()),
            },
            &mut raw,
        )
        .unwrap();
        assert_eq!(raw, dst);
        // The handshake reply mirrors the request's shape.
        for (shape, len) in [(ConnectShape::Legacy, 36), (ConnectShape::WithReadOnly, 37)] {
            let mut dst = BytesMut::new();
            c.encode(
                ConnectReply {
                    response: ConnectResponse {
                        protocol_version: 0,
                        time_out: 4000,
                        session_id: 1,
                        passwd: Some(Bytes::from_static(&[1; 16])),
                        read_only: false,
                    },
                    shape,
                },
                &mut dst,
            )
            .unwrap();
            assert_eq!(dst.len(), 4 + len);
            assert_eq!(&dst[..4], &(len as i32).to_be_bytes());
        }
        let mut dst = BytesMut::new();
        c.encode(Unframed(Bytes::from_static(b"imok")), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"imok");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random bytes, cut into random chunks, fed to a fresh or an established codec:
        /// frames or an error, never a panic, never more reserved than a frame allows, and
        /// never more frame bytes out than went in.
        #[test]
        fn hostile_input(
            prefix_handshake in any::<bool>(),
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..32),
            lengths in prop::collection::vec(prop_oneof![any::<i32>(), 0..(MAX as i32 + 16), Just(i32::MAX), Just(-1)], 0..4),
        ) {
            let mut c = if prefix_handshake { established() } else { ClientCodec::new(MAX) };
            let mut b = BytesMut::new();
            let mut fed = 0usize;
            let mut out = 0usize;
            // Interleave hostile length prefixes with the random chunks.
            let mut pieces: Vec<Vec<u8>> = chunks;
            for (i, len) in lengths.iter().enumerate() {
                let at = i.min(pieces.len());
                pieces.insert(at, len.to_be_bytes().to_vec());
            }
            'feed: for piece in pieces {
                fed += piece.len();
                b.extend_from_slice(&piece);
                loop {
                    match c.decode(&mut b) {
                        Ok(Some(f)) => {
                            out += match &f {
                                ClientFrame::Connect(_) => 4,
                                ClientFrame::FourLetter(_) => 4,
                                ClientFrame::TraceMask(_) => 8,
                                ClientFrame::Request { body, .. } => 12 + body.len(),
                            };
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                    prop_assert!(b.capacity() <= (MAX + 4).max(2 * fed) + 64);
                }
                prop_assert!(b.capacity() <= (MAX + 4).max(2 * fed) + 64, "cap {} fed {}", b.capacity(), fed);
            }
            prop_assert!(out <= fed);
        }
    }
}
