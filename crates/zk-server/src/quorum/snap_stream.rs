//! Finding the end of the snapshot stream a leader writes after a SNAP packet.
//!
//! After `SNAP` (packet type 15) the leader writes, on the same socket and with no framing,
//! `ZKDatabase.serializeSnapshot`'s output followed by a signature (ZAB-NOTES §4.7):
//!
//! ```text
//!  int sessionCount, { long id; int timeout } × sessionCount
//!  int aclMapSize,   { long ref; vector<ACL{int perms; ustring scheme; ustring id}> } × size
//!  { ustring path; buffer data; long aclRef; StatPersisted (60 bytes) } … until path "/"
//!  ustring "BenWasHere"
//! ```
//!
//! [`SnapScan`] walks those bytes as they arrive and says where the stream ends, so the
//! transport can hand the stream over as one item and go on reading `QuorumPacket`s after
//! it. It only measures: the node loads the stream with zk-tree's snapshot reader (the
//! stream is a snapshot file's body). Every length is checked against the limits before
//! the transport waits for (and so buffers) the bytes it announces.

use bytes::{BufMut, BytesMut};
use zk_proto::persistence::FileHeader;
use zk_proto::Record;
use zk_tree::snapshot::{SNAP_DBID, SNAP_MAGIC, SNAP_VERSION};

/// The signature that ends the stream (`Learner.syncWithLeader` checks it).
pub const SIGNATURE: &[u8] = b"BenWasHere";

/// A snapshot file's header: magic, version, dbid.
const FILE_HEADER: usize = 4 + 4 + 8;
/// A snapshot file's seal: the Adler32 as a long, then the ustring `"/"`.
const SEAL: &[u8] = b"\0\0\0\x01/";
const SEAL_LEN: usize = 8 + SEAL.len();
/// The signature as it ends a stream: ustring length, then the bytes.
const SIGNATURE_LEN: usize = 4 + SIGNATURE.len();

/// Size of a `StatPersisted` record: four longs, three ints, two longs.
const STAT_PERSISTED: usize = 4 * 8 + 3 * 4 + 2 * 8;

/// Why a snapshot stream was rejected (the connection is then closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapStreamError {
    /// The stream would be longer than the configured bound.
    #[error("snapshot stream longer than {max} bytes")]
    TooLong {
        /// The bound.
        max: usize,
    },
    /// A count or length that no Java leader writes (negative, or over `jute.maxbuffer`).
    #[error("snapshot stream: bad {what} {value}")]
    BadLength {
        /// Which field.
        what: &'static str,
        /// The value read.
        value: i64,
    },
    /// A node path that is null.
    #[error("snapshot stream: null node path")]
    NullPath,
    /// The stream did not end with `BenWasHere`.
    #[error("snapshot stream: bad signature {0:?}")]
    BadSignature(String),
    /// A snapshot file that does not end with the first seal (it has a digest section, or
    /// is not a snapshot file).
    #[error("not a snapshot file ending with its seal")]
    NotASealedFile,
}

/// The snapshot-file image of a SNAP stream (as [`Delivered::Snapshot`] carries it), for
/// `zk_tree::snapshot::read_snapshot`: the file header in front, the Adler32 seal in place
/// of the signature. The stream is checked to end with the signature, nothing more (the
/// reader checks the rest).
///
/// [`Delivered::Snapshot`]: super::Delivered::Snapshot
pub fn stream_to_file(stream: &[u8]) -> Result<Vec<u8>, SnapStreamError> {
    let Some(body) = stream.len().checked_sub(SIGNATURE_LEN) else {
        return Err(SnapStreamError::BadSignature("stream too short".into()));
    };
    let mut want = BytesMut::with_capacity(SIGNATURE_LEN);
    want.put_i32(SIGNATURE.len() as i32);
    want.put_slice(SIGNATURE);
    if stream[body..] != want[..] {
        let shown = String::from_utf8_lossy(&stream[body..]).into_owned();
        return Err(SnapStreamError::BadSignature(shown));
    }
    let mut file = BytesMut::with_capacity(FILE_HEADER + body + SEAL_LEN);
    FileHeader {
        magic: SNAP_MAGIC,
        version: SNAP_VERSION,
        dbid: SNAP_DBID,
    }
    .encode(&mut file);
    file.put_slice(&stream[..body]);
    let mut adler = adler2::Adler32::new();
    adler.write_slice(&file);
    file.put_i64(i64::from(adler.checksum()));
    file.put_slice(SEAL);
    Ok(file.to_vec())
}

/// The SNAP stream of a snapshot file written by `zk_tree::snapshot::write_snapshot` with
/// `WriteOptions { digest: false }` (Java's stream has no digest): the file's body, without
/// header and seal, then the signature.
pub fn file_to_stream(file: &[u8]) -> Result<Vec<u8>, SnapStreamError> {
    if file.len() < FILE_HEADER + SEAL_LEN || !file.ends_with(SEAL) {
        return Err(SnapStreamError::NotASealedFile);
    }
    let body = &file[FILE_HEADER..file.len() - SEAL_LEN];
    let mut stream = Vec::with_capacity(body.len() + SIGNATURE_LEN);
    stream.extend_from_slice(body);
    stream.put_i32(SIGNATURE.len() as i32);
    stream.extend_from_slice(SIGNATURE);
    Ok(stream)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Sessions,
    AclCount,
    Acls { left: u32 },
    Nodes,
    Signature,
    Done,
}

/// A resumable walk over a snapshot stream: feed it the buffer (which only grows at the
/// back) until it returns the stream's length.
#[derive(Debug, Clone)]
pub struct SnapScan {
    /// Bytes of complete units walked so far.
    pos: usize,
    stage: Stage,
    max_len: usize,
    max_buffer: usize,
}

/// A reader over `buf` from a position; `None` means "not all there yet".
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
    max_buffer: usize,
}

impl Cursor<'_> {
    fn skip(&mut self, n: usize) -> Result<Option<()>, SnapStreamError> {
        let end = self.pos.saturating_add(n);
        if end > self.max_len {
            return Err(SnapStreamError::TooLong { max: self.max_len });
        }
        if end > self.buf.len() {
            return Ok(None);
        }
        self.pos = end;
        Ok(Some(()))
    }

    fn int(&mut self) -> Result<Option<i32>, SnapStreamError> {
        let start = self.pos;
        if self.skip(4)?.is_none() {
            return Ok(None);
        }
        let b = &self.buf[start..start + 4];
        Ok(Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    }

    /// A jute buffer or ustring: `Some(None)` for null (length -1).
    fn bytes(&mut self, what: &'static str) -> Result<Option<Option<&[u8]>>, SnapStreamError> {
        let Some(len) = self.int()? else {
            return Ok(None);
        };
        if len == -1 {
            return Ok(Some(None));
        }
        if len < 0 || len as usize > self.max_buffer {
            return Err(SnapStreamError::BadLength {
                what,
                value: len.into(),
            });
        }
        let start = self.pos;
        if self.skip(len as usize)?.is_none() {
            return Ok(None);
        }
        Ok(Some(Some(&self.buf[start..self.pos])))
    }
}

/// `?` for the "not all there yet" case: return `Ok(None)` from `scan`.
macro_rules! need {
    ($e:expr) => {
        match $e? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

impl SnapScan {
    /// A walk that rejects streams over `max_len` bytes and buffers/strings over
    /// `max_buffer` bytes (the quorum port's `jute.maxbuffer` + extrasize).
    pub fn new(max_len: usize, max_buffer: usize) -> Self {
        SnapScan {
            pos: 0,
            stage: Stage::Sessions,
            max_len,
            max_buffer,
        }
    }

    /// Walks `buf` (the stream from its first byte, as much as has arrived): `Ok(Some(len))`
    /// once the whole stream, signature included, is in `buf[..len]`; `Ok(None)` if more
    /// bytes are needed. Work already done is not repeated on the next call.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, SnapStreamError> {
        // Bounded: every pass either consumes at least four bytes of `buf`, moves to a later
        // stage, or returns.
        loop {
            let mut c = Cursor {
                buf,
                pos: self.pos,
                max_len: self.max_len,
                max_buffer: self.max_buffer,
            };
            self.stage = match self.stage {
                Stage::Sessions => {
                    let n = need!(c.int());
                    if n < 0 {
                        return Err(SnapStreamError::BadLength {
                            what: "session count",
                            value: n.into(),
                        });
                    }
                    need!(c.skip(12 * n as usize));
                    Stage::AclCount
                }
                Stage::AclCount => {
                    let n = need!(c.int());
                    if n < 0 {
                        return Err(SnapStreamError::BadLength {
                            what: "ACL cache size",
                            value: n.into(),
                        });
                    }
                    Stage::Acls { left: n as u32 }
                }
                Stage::Acls { left: 0 } => Stage::Nodes,
                Stage::Acls { left } => {
                    need!(c.skip(8));
                    let n = need!(c.int());
                    if n < -1 {
                        return Err(SnapStreamError::BadLength {
                            what: "ACL list length",
                            value: n.into(),
                        });
                    }
                    // Each entry takes at least 12 bytes, so `max_len` bounds the loop.
                    for _ in 0..n.max(0) {
                        need!(c.skip(4));
                        need!(c.bytes("ACL scheme"));
                        need!(c.bytes("ACL id"));
                    }
                    Stage::Acls { left: left - 1 }
                }
                Stage::Nodes => match need!(c.bytes("node path")) {
                    None => return Err(SnapStreamError::NullPath),
                    Some(b"/") => Stage::Signature,
                    Some(_) => {
                        need!(c.bytes("node data"));
                        need!(c.skip(8 + STAT_PERSISTED));
                        Stage::Nodes
                    }
                },
                Stage::Signature => {
                    let sig = need!(c.bytes("signature"));
                    if sig != Some(SIGNATURE) {
                        let shown = sig.map(|s| String::from_utf8_lossy(s).into_owned());
                        return Err(SnapStreamError::BadSignature(
                            shown.unwrap_or_else(|| "null".to_owned()),
                        ));
                    }
                    Stage::Done
                }
                Stage::Done => return Ok(Some(self.pos)),
            };
            self.pos = c.pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_tree::snapshot::{read_snapshot, write_snapshot, ReadOptions, WriteOptions};

    #[test]
    fn zk_tree_files_and_streams_convert_both_ways() {
        let tree = zk_tree::DataTree::new();
        let mut file = Vec::new();
        let opts = WriteOptions { digest: false };
        write_snapshot(&tree, vec![(7i64, 3000i32)], &mut file, &opts).unwrap();
        let stream = file_to_stream(&file).unwrap();
        assert_eq!(
            SnapScan::new(1 << 20, 1 << 20).scan(&stream),
            Ok(Some(stream.len()))
        );
        assert_eq!(stream_to_file(&stream).unwrap(), file);
        let loaded = read_snapshot(
            &stream_to_file(&stream).unwrap()[..],
            5,
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(loaded.sessions.get(&7), Some(&3000));
        assert_eq!(loaded.nodes, tree.node_count() as u64);
        assert!(stream_to_file(&stream[..stream.len() - 1]).is_err());
        assert_eq!(
            file_to_stream(b"short"),
            Err(SnapStreamError::NotASealedFile)
        );
    }

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        out.extend_from_slice(s);
    }

    /// One session, one ACL list, root and `/a`, the end marker and the signature.
    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(&1i32.to_be_bytes());
        s.extend_from_slice(&[7; 12]);
        s.extend_from_slice(&1i32.to_be_bytes());
        s.extend_from_slice(&1i64.to_be_bytes());
        s.extend_from_slice(&1i32.to_be_bytes());
        s.extend_from_slice(&31i32.to_be_bytes());
        string(&mut s, b"world");
        string(&mut s, b"anyone");
        for (path, data) in [(&b""[..], &b""[..]), (b"/a", b"hello")] {
            string(&mut s, path);
            string(&mut s, data);
            s.extend_from_slice(&[0; 8 + STAT_PERSISTED]);
        }
        string(&mut s, b"/");
        string(&mut s, SIGNATURE);
        s
    }

    #[test]
    fn finds_the_end_whole_and_byte_by_byte() {
        let mut s = stream();
        let len = s.len();
        s.extend_from_slice(b"next packet");
        assert_eq!(SnapScan::new(1 << 20, 1 << 20).scan(&s), Ok(Some(len)));
        let mut scan = SnapScan::new(1 << 20, 1 << 20);
        for n in 0..len {
            assert_eq!(scan.scan(&s[..n]), Ok(None), "at {n}");
        }
        assert_eq!(scan.scan(&s[..len]), Ok(Some(len)));
    }

    #[test]
    fn rejects_hostile_lengths_before_the_bytes_arrive() {
        let s = stream();
        let too_short = SnapScan::new(s.len() - 1, 1 << 20).scan(&s);
        assert_eq!(
            too_short,
            Err(SnapStreamError::TooLong { max: s.len() - 1 })
        );
        // A session count announcing 12 GB: rejected on its four bytes.
        let huge = (i32::MAX).to_be_bytes();
        assert!(matches!(
            SnapScan::new(1 << 20, 1 << 20).scan(&huge),
            Err(SnapStreamError::TooLong { .. })
        ));
        let negative = (-2i32).to_be_bytes();
        assert!(matches!(
            SnapScan::new(1 << 20, 1 << 20).scan(&negative),
            Err(SnapStreamError::BadLength { .. })
        ));
        let mut bad = stream();
        let n = bad.len();
        bad[n - 3] = b'X';
        assert!(matches!(
            SnapScan::new(1 << 20, 1 << 20).scan(&bad),
            Err(SnapStreamError::BadSignature(_))
        ));
        // A data length over jute.maxbuffer.
        let mut s = Vec::new();
        s.extend_from_slice(&0i32.to_be_bytes());
        s.extend_from_slice(&0i32.to_be_bytes());
        string(&mut s, b"/x");
        s.extend_from_slice(&(5000i32).to_be_bytes());
        assert!(matches!(
            SnapScan::new(1 << 20, 4096).scan(&s),
            Err(SnapStreamError::BadLength { .. })
        ));
    }
}
