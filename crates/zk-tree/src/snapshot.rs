//! Apache ZooKeeper's snapshot stream (`FileSnap`, `SerializeUtils.serializeSnapshot`,
//! `DataTree.serialize`, `ReferenceCountedACLCache.serialize`, `SnapStream.sealStream`), read
//! and written byte for byte. No IO of its own: bytes go to a [`Write`] and come from a
//! [`Read`] the caller passes in (compression and files are `zk-storage`'s business).
//!
//! ```text
//!   FileHeader        i32 magic "ZKSN" | i32 version 2 | i64 dbid -1
//!   sessions          i32 count | count × (i64 session id | i32 timeout ms)
//!   ACL cache         i32 count | count × (i64 key | i32 n | n × ACL{i32 perms, ustring scheme, ustring id})
//!   nodes, pre-order  ustring path | buffer data | i64 acl key | StatPersisted (60 bytes)
//!                     the root first, as path "" (not "/"); every parent before its children
//!   end marker        ustring "/"
//!   seal              i64 Adler32 of every byte above | ustring "/"
//!   digest (3.6+)     i64 zxid | i32 digest version (2) | i64 tree digest
//!   seal              i64 Adler32 of every byte above, the first seal included | ustring "/"
//! ```
//!
//! The checksum runs over the stream as written, so each seal covers everything before it.
//! Snapshots from 3.4 and 3.5 end after the first seal; a reader that meets the end of the
//! stream anywhere inside the digest treats the snapshot as digest-less, as upstream does
//! (`DataTree.deserializeZxidDigest` swallows the EOF). Digest versions below 2 stored the
//! digest as a hex string; they are read too.
//!
//! Writing walks the tree once, depth first, with one reused path buffer and a bounded output
//! buffer: no second copy of the tree is built. Reading streams as well and checks the
//! Adler32 before trusting the result; every error names the offset in the (uncompressed)
//! stream where it was found.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use adler2::Adler32;
use bytes::{BufMut, Bytes, BytesMut};
use zk_proto::data::{Acl, Id, StatPersisted};
use zk_proto::persistence::FileHeader;
use zk_proto::{JString, Record};

use crate::acl::AclKey;
use crate::digest::{self, DIGEST_VERSION};
use crate::tree::{DataTree, Node, NodeId, RestoreConflict};

/// `FileSnap.SNAP_MAGIC`: "ZKSN" read as a big-endian i32.
pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
/// `FileSnap.VERSION`.
pub const SNAP_VERSION: i32 = 2;
/// `FileSnap.dbId`: snapshots carry -1 (txn logs carry 0).
pub const SNAP_DBID: i64 = -1;
/// Default bound on a path or data length while reading: `jute.maxbuffer` (0xfffff) plus
/// `zookeeper.jute.maxbuffer.extrasize` (which defaults to `jute.maxbuffer`), as
/// `BinaryInputArchive.checkLength` applies it.
pub const DEFAULT_MAX_BUFFER: usize = 2 * 0xfffff;

/// The output buffer is handed to the writer whenever it holds this much.
const FLUSH_AT: usize = 256 * 1024;
/// The reader pulls at least this much from its input at a time.
const READ_CHUNK: usize = 256 * 1024;
/// Bytes of a `StatPersisted`: six i64 and three i32.
const STAT_LEN: usize = 60;

/// The digest a snapshot ends with (`DataTree.ZxidDigest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    /// The zxid whose tree the digest describes; 0 means "no digest" to upstream.
    pub zxid: i64,
    /// The digest algorithm's version ([`DIGEST_VERSION`]).
    pub digest_version: i32,
    /// The tree digest (see [`crate::digest`]).
    pub digest: i64,
}

/// Why a snapshot could not be read. Every variant that can carry one names the offset in the
/// uncompressed stream.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The input failed.
    #[error("read error at offset {offset}: {source}")]
    Io {
        /// Stream offset of the failed read.
        offset: u64,
        /// The IO error.
        source: io::Error,
    },
    /// The stream ended inside a value.
    #[error("snapshot truncated at offset {offset}: the stream ends inside the {what}")]
    Truncated {
        /// Where the value that could not be read started.
        offset: u64,
        /// The value being read.
        what: &'static str,
    },
    /// The first four bytes are not "ZKSN".
    #[error(
        "not a snapshot: magic {found:#010x} at offset 0, expected {SNAP_MAGIC:#010x} (\"ZKSN\")"
    )]
    BadMagic {
        /// The magic that was found.
        found: i32,
    },
    /// A value that cannot be right.
    #[error("corrupt snapshot at offset {offset}: {detail}")]
    Corrupt {
        /// Where the bad value starts.
        offset: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// A seal's Adler32 does not match the bytes before it.
    #[error(
        "snapshot checksum mismatch at offset {offset}: stored {stored:#x}, computed {computed:#x} \
         (the bytes before this offset are corrupt)"
    )]
    Checksum {
        /// Offset of the stored checksum.
        offset: u64,
        /// The value in the stream.
        stored: i64,
        /// The Adler32 of the bytes before it.
        computed: u32,
    },
}

impl SnapshotError {
    /// The stream offset the error refers to.
    pub fn offset(&self) -> u64 {
        match self {
            SnapshotError::Io { offset, .. }
            | SnapshotError::Truncated { offset, .. }
            | SnapshotError::Corrupt { offset, .. }
            | SnapshotError::Checksum { offset, .. } => *offset,
            SnapshotError::BadMagic { .. } => 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// How to write a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Append the digest section (3.6+ with `zookeeper.digest.enabled`, the default). Without
    /// it the stream is what 3.4 and 3.5 write.
    pub digest: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { digest: true }
    }
}

/// What [`write_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    /// Nodes written, the root included.
    pub nodes: u64,
    /// Sessions written.
    pub sessions: u64,
    /// Bytes handed to the writer.
    pub bytes: u64,
    /// The first seal's Adler32.
    pub checksum: u32,
    /// The digest section, when written.
    pub digest: Option<ZxidDigest>,
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(jute_len(b.len()));
    buf.put_slice(b);
}

/// A length as Jute writes it. Nothing the tree holds comes near `i32::MAX` bytes.
fn jute_len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn count(n: usize, what: &str) -> io::Result<i32> {
    i32::try_from(n).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{n} {what} do not fit a snapshot's i32 count"),
        )
    })
}

/// A snapshot written a few nodes at a time, while the tree goes on changing in between:
/// Apache ZooKeeper's *fuzzy* snapshot, which `SyncRequestProcessor` takes on a background
/// thread while `DataTree.serializeNode` locks one node at a time.
///
/// The snapshot is named after the zxid applied when it started; restoring it and replaying
/// every logged txn after that zxid gives the exact state, because applying a txn is
/// idempotent enough for it (`DataTree.processTxn` ignores the `NodeExists`/`NoNode` a replay
/// meets and still moves the parent's cversion, see `apply`). Each step sees the tree as it
/// is at that moment, so a parent is always written before its children, as the reader needs.
///
/// Two rules keep the result loadable whatever happens between steps:
/// - once txns were applied, a node created after the start (czxid above it) is left out,
///   with its subtree: its create txn is in the log after the snapshot's zxid and the replay
///   makes it again;
/// - the ACL section is written at the start; a node whose ACL list was interned later (a
///   `setACL` after the start: creates after it are left out) is written with the open ACL
///   key, and the replay of that `setACL` puts the right list back before anyone reads it.
///
/// The trailing digest is written only when no txn was applied while the snapshot was taken
/// ([`FuzzySnapshot::finish`]): only then does the tree walked match one zxid.
///
/// The caller moves the bytes: [`FuzzySnapshot::take`] after each [`FuzzySnapshot::step`].
#[derive(Debug)]
pub struct FuzzySnapshot {
    start_zxid: i64,
    /// ACL keys at or below this were in the cache at the start and are in the ACL section.
    max_acl_key: AclKey,
    opts: WriteOptions,
    adler: Adler32,
    buf: BytesMut,
    /// Pending levels: a node's full path, its id, and the ids of the children still to
    /// visit (each checked to still be that node's child when its turn comes).
    stack: Vec<(Bytes, NodeId, std::vec::IntoIter<NodeId>)>,
    path: Vec<u8>,
    tree_digest: i64,
    nodes: u64,
    sessions: u64,
    written: u64,
    done: bool,
}

impl FuzzySnapshot {
    /// Starts a snapshot of `tree` as it is now: the header, the sessions and the ACL cache
    /// go out now, nodes on the following steps.
    pub fn start<I>(tree: &DataTree, sessions: I, opts: &WriteOptions) -> io::Result<Self>
    where
        I: IntoIterator<Item = (i64, i32)>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut buf = BytesMut::with_capacity(FLUSH_AT + 64 * 1024);
        FileHeader {
            magic: SNAP_MAGIC,
            version: SNAP_VERSION,
            dbid: SNAP_DBID,
        }
        .encode(&mut buf);

        // SerializeUtils.serializeSnapshot: the sessions.
        let sessions = sessions.into_iter();
        let session_count = sessions.len();
        buf.put_i32(count(session_count, "sessions")?);
        for (id, timeout) in sessions {
            buf.put_i64(id);
            buf.put_i32(timeout);
        }

        // ReferenceCountedACLCache.serialize.
        let mut acls: Vec<(AclKey, &[Acl])> =
            tree.acl_cache().entries().map(|(k, l, _)| (k, l)).collect();
        acls.sort_unstable_by_key(|(k, _)| *k);
        buf.put_i32(count(acls.len(), "ACL lists")?);
        for (key, list) in &acls {
            buf.put_i64(*key);
            buf.put_i32(count(list.len(), "ACLs")?);
            for acl in *list {
                acl.encode(&mut buf);
            }
        }

        let mut snap = FuzzySnapshot {
            start_zxid: tree.last_processed_zxid,
            max_acl_key: tree.acl_cache().last_key(),
            opts: *opts,
            adler: Adler32::new(),
            buf,
            stack: Vec::new(),
            path: Vec::with_capacity(256),
            tree_digest: 0,
            nodes: 0,
            sessions: session_count as u64,
            written: 0,
            done: false,
        };
        // DataTree.serializeNode from the root ("" in the stream).
        match tree.root_id() {
            Some(root) => {
                snap.write_node(b"/", &tree.view(root));
                snap.push_children(Bytes::from_static(b""), tree, root);
            }
            None => snap.done = true,
        }
        Ok(snap)
    }

    /// The zxid the snapshot is named after: the last one applied when it started.
    pub fn zxid(&self) -> i64 {
        self.start_zxid
    }

    /// True once every node has been visited ([`FuzzySnapshot::finish`] is next).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes produced and not yet taken.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Visits up to `budget` more nodes of `tree`; returns true when the walk is complete.
    pub fn step(&mut self, tree: &DataTree, budget: usize) -> bool {
        let mut left = budget;
        while left > 0 {
            let Some((base, parent, children)) = self.stack.last_mut() else {
                self.done = true;
                break;
            };
            let Some(id) = children.next() else {
                self.stack.pop();
                continue;
            };
            // Gone since its parent was visited (upstream's getNode() == null), or created
            // after the start (the replay creates it): left out with its subtree. A slot
            // reused since then by another child of the same parent holds a node created
            // after the start, so it is left out by the same rule.
            let Some((name, node)) = tree.child_view(*parent, id) else {
                continue;
            };
            if node.stat.czxid > self.start_zxid && tree.last_processed_zxid != self.start_zxid {
                continue;
            }
            self.path.clear();
            self.path.extend_from_slice(base);
            self.path.push(b'/');
            self.path.extend_from_slice(name);
            let path = std::mem::take(&mut self.path);
            self.write_node(&path, &node);
            if !node.children.is_empty() {
                self.push_children(Bytes::copy_from_slice(&path), tree, id);
            }
            self.path = path;
            left -= 1;
        }
        self.done
    }

    fn push_children(&mut self, path: Bytes, tree: &DataTree, id: NodeId) {
        let ids: Vec<NodeId> = tree.child_ids(id).collect();
        self.stack.push((path, id, ids.into_iter()));
    }

    fn write_node(&mut self, path: &[u8], node: &Node<'_>) {
        let acl = if node.acl > self.max_acl_key {
            crate::acl::OPEN_UNSAFE_ACL_KEY
        } else {
            node.acl
        };
        let stream_path: &[u8] = if path == b"/" { b"" } else { path };
        write_node(&mut self.buf, stream_path, node, acl);
        self.tree_digest = self.tree_digest.wrapping_add(digest::digest_of(path, node));
        self.nodes += 1;
    }

    /// The bytes produced since the last call.
    pub fn take(&mut self) -> Bytes {
        self.adler.write_slice(&self.buf);
        self.written += self.buf.len() as u64;
        self.buf.split().freeze()
    }

    /// `SnapStream.sealStream`: the checksum of everything so far, then the string "/".
    fn seal(&mut self) -> u32 {
        let mut adler = self.adler;
        adler.write_slice(&self.buf);
        let value = adler.checksum();
        self.buf.put_i64(i64::from(value));
        put_bytes(&mut self.buf, b"/");
        value
    }

    /// Ends the stream once the walk is complete (earlier, it visits what is left first):
    /// the end marker, the seal, and, when `tree` is still at the zxid the snapshot started
    /// from, the digest section. Returns the last bytes and what was written.
    pub fn finish(mut self, tree: &DataTree) -> (Bytes, WriteSummary) {
        while !self.step(tree, usize::MAX) {}
        put_bytes(&mut self.buf, b"/");
        let checksum = self.seal();
        let consistent = tree.last_processed_zxid == self.start_zxid;
        let digest = if self.opts.digest && consistent {
            let d = ZxidDigest {
                zxid: self.start_zxid,
                digest_version: DIGEST_VERSION,
                digest: self.tree_digest,
            };
            self.buf.put_i64(d.zxid);
            self.buf.put_i32(d.digest_version);
            self.buf.put_i64(d.digest);
            self.seal();
            Some(d)
        } else {
            None
        };
        let last = self.take();
        let summary = WriteSummary {
            nodes: self.nodes,
            sessions: self.sessions,
            bytes: self.written,
            checksum,
            digest,
        };
        (last, summary)
    }
}

/// Writes `tree` and `sessions` (session id, timeout in ms) as `FileSnap.serialize` does, in
/// one go ([`FuzzySnapshot`] with nothing changing in between).
///
/// The trailing digest (when [`WriteOptions::digest`] is set) describes
/// `tree.last_processed_zxid`, which is also the zxid the file must be named after
/// (`snapshot.<hex zxid>`); it is computed during the same walk. ACL entries go out in key
/// order and sessions in the order given (upstream's order is a `HashMap`'s); nodes in
/// pre-order, children in the tree's iteration order. Returns what was written; the writer is
/// not flushed or synced beyond `write_all`.
pub fn write_snapshot<W, I>(
    tree: &DataTree,
    sessions: I,
    mut out: W,
    opts: &WriteOptions,
) -> io::Result<WriteSummary>
where
    W: Write,
    I: IntoIterator<Item = (i64, i32)>,
    I::IntoIter: ExactSizeIterator,
{
    let mut snap = FuzzySnapshot::start(tree, sessions, opts)?;
    loop {
        let done = snap.step(tree, 1024);
        if done || snap.pending() >= FLUSH_AT {
            out.write_all(&snap.take())?;
        }
        if done {
            break;
        }
    }
    let (last, summary) = snap.finish(tree);
    out.write_all(&last)?;
    Ok(summary)
}

/// `serializeNodeData`: path, then the `DataNode` record (data, ACL key, StatPersisted).
fn write_node(buf: &mut BytesMut, path: &[u8], node: &Node<'_>, acl: AclKey) {
    put_bytes(buf, path);
    match node.data {
        Some(d) => put_bytes(buf, d),
        None => buf.put_i32(-1),
    }
    buf.put_i64(acl);
    node.stat.encode(buf);
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// How to read a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Largest path, data or ACL string accepted, in bytes ([`DEFAULT_MAX_BUFFER`]).
    pub max_buffer: usize,
    /// The snapshot's size in bytes when known (0 otherwise): room for the nodes it can
    /// hold is made up front, so that loading never regrows the node map (measured: with
    /// 1,000,000 znodes a third of the load time went to regrowing it).
    pub size_hint: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_buffer: DEFAULT_MAX_BUFFER,
            size_hint: 0,
        }
    }
}

/// A snapshot, loaded.
#[derive(Debug, Clone)]
pub struct LoadedSnapshot {
    /// The file header as found (only the magic is checked, as upstream).
    pub header: FileHeader,
    /// The tree, with ephemeral/container/TTL tracking, ACL reference counts and quota
    /// bookkeeping rebuilt, and `last_processed_zxid` set to the zxid passed in.
    pub tree: DataTree,
    /// Session id → timeout (ms). Upstream reads them into a map: a later duplicate wins.
    pub sessions: BTreeMap<i64, i32>,
    /// The digest section, if the snapshot has one (3.6+).
    pub digest: Option<ZxidDigest>,
    /// The first seal's Adler32 (verified).
    pub checksum: u32,
    /// Nodes read, the root included.
    pub nodes: u64,
    /// Bytes of the stream consumed.
    pub length: u64,
}

/// A reader that keeps the running Adler32 of what has been consumed (not merely buffered)
/// and knows the stream offset.
struct Source<R> {
    inner: R,
    buf: Vec<u8>,
    /// Next unconsumed byte in `buf`.
    pos: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    /// Bytes of `buf` before this are in `adler`.
    hashed: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    adler: Adler32,
}

impl<R: Read> Source<R> {
    fn new(inner: R) -> Self {
        Source {
            inner,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            hashed: 0,
            base: 0,
            adler: Adler32::new(),
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes `n` unconsumed bytes available; `false` when the stream ends first.
    fn fill(&mut self, n: usize) -> Result<bool, SnapshotError> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        self.adler.write_slice(&self.buf[self.hashed..self.pos]);
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        self.hashed = 0;
        let want = n.max(READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < n {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SnapshotError::Io {
                        offset: self.base + self.end as u64,
                        source,
                    })
                }
            }
        }
        Ok(true)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], SnapshotError> {
        if !self.fill(n)? {
            return Err(SnapshotError::Truncated {
                offset: self.offset(),
                what,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    fn read_i32(&mut self, what: &'static str) -> Result<i32, SnapshotError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn read_i64(&mut self, what: &'static str) -> Result<i64, SnapshotError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A Jute buffer or ustring: `None` for -1; lengths are checked against `limit`.
    fn read_buffer(
        &mut self,
        limit: usize,
        what: &'static str,
    ) -> Result<Option<&[u8]>, SnapshotError> {
        let at = self.offset();
        let len = self.read_i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > limit {
            return Err(SnapshotError::Corrupt {
                offset: at,
                detail: format!("unreasonable length {len} of the {what} (limit {limit})"),
            });
        }
        self.take(len as usize, what).map(Some)
    }

    /// The Adler32 of everything consumed so far.
    fn checksum(&mut self) -> u32 {
        self.adler.write_slice(&self.buf[self.hashed..self.pos]);
        self.hashed = self.pos;
        self.adler.checksum()
    }

    /// `SnapStream.checkSealIntegrity`: the stored checksum must be the running one; the
    /// string after it is read and ignored.
    fn check_seal(&mut self, limit: usize) -> Result<u32, SnapshotError> {
        let computed = self.checksum();
        let at = self.offset();
        let stored = self.read_i64("checksum")?;
        let marker_at = self.offset();
        // Upstream reads this string and ignores it; every writer puts "/" there. Insisting
        // on it means a damaged length here cannot swallow the digest section unnoticed.
        let marker = self.read_buffer(limit, "string after the checksum")?;
        if marker != Some(&b"/"[..]) {
            return Err(corrupt(marker_at, "the checksum is not followed by \"/\""));
        }
        if stored != i64::from(computed) {
            return Err(SnapshotError::Checksum {
                offset: at,
                stored,
                computed,
            });
        }
        Ok(computed)
    }
}

fn corrupt(offset: u64, detail: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt {
        offset,
        detail: detail.into(),
    }
}

fn jstring(b: Option<&[u8]>) -> Option<JString> {
    b.map(JString::from)
}

fn stat_from(b: &[u8]) -> StatPersisted {
    let l = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        i64::from_be_bytes(a)
    };
    let w = |i: usize| i32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    StatPersisted {
        czxid: l(0),
        mzxid: l(8),
        ctime: l(16),
        mtime: l(24),
        version: w(32),
        cversion: w(36),
        aversion: w(40),
        ephemeral_owner: l(44),
        pzxid: l(52),
    }
}

/// Reads a snapshot stream as `FileSnap.deserialize` does, for the snapshot of `zxid` (the
/// zxid in its file name, which becomes the tree's `last_processed_zxid`).
///
/// Stricter than upstream where only a damaged file could differ: a node whose path repeats
/// an earlier one, has an empty component or lacks its leading `/` is refused, and so are a
/// repeated ACL key and a snapshot without a root (upstream would build an inconsistent
/// tree). A node whose parent has not been read yet is refused, as upstream refuses it.
/// Bytes after the last seal are ignored, as upstream ignores them.
pub fn read_snapshot<R: Read>(
    input: R,
    zxid: i64,
    opts: &ReadOptions,
) -> Result<LoadedSnapshot, SnapshotError> {
    let limit = opts.max_buffer;
    let mut src = Source::new(input);

    let header = FileHeader {
        magic: src.read_i32("file header")?,
        version: src.read_i32("file header")?,
        dbid: src.read_i64("file header")?,
    };
    if header.magic != SNAP_MAGIC {
        return Err(SnapshotError::BadMagic {
            found: header.magic,
        });
    }

    // Sessions; a negative count reads as none (upstream's `while (count > 0)`).
    let mut sessions = BTreeMap::new();
    let n = src.read_i32("session count")?;
    for _ in 0..n.max(0) {
        let id = src.read_i64("session id")?;
        let timeout = src.read_i32("session timeout")?;
        sessions.insert(id, timeout);
    }

    // ReferenceCountedACLCache.deserialize.
    let mut tree = DataTree::empty();
    // A node record is at least ~80 bytes (path and data lengths, ACL key, the 60-byte
    // StatPersisted, a short path); 128 per node over-estimates the count of a tree of
    // small nodes only a little, and what a tree of large ones leaves unused is given back
    // after the load.
    tree.reserve_nodes(usize::try_from(opts.size_hint / 128).unwrap_or(0));
    let n = src.read_i32("ACL cache size")?;
    let mut keys = std::collections::HashSet::new();
    for _ in 0..n.max(0) {
        let key_at = src.offset();
        let key = src.read_i64("ACL key")?;
        // Upstream would keep both lists and map the first one to the second's key.
        if !keys.insert(key) {
            return Err(corrupt(key_at, format!("ACL key {key} appears twice")));
        }
        let at = src.offset();
        let len = src.read_i32("ACL list length")?;
        if len == -1 {
            return Err(corrupt(at, format!("null ACL list for key {key}")));
        }
        let mut list = Vec::with_capacity(len.clamp(0, 16) as usize);
        for _ in 0..len.max(0) {
            let perms = src.read_i32("ACL perms")?;
            let scheme = jstring(src.read_buffer(limit, "ACL scheme")?);
            let id = jstring(src.read_buffer(limit, "ACL id")?);
            list.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        tree.acl_cache_mut().restore(key, list);
    }

    // The nodes, up to the "/" end marker. Path and data are copied out of the input
    // buffer into reused ones; the last parent found is kept, as siblings come together.
    let mut nodes = 0u64;
    let mut path = Vec::new();
    let mut data_buf = Vec::new();
    let mut last_parent: Option<(Vec<u8>, NodeId)> = None;
    loop {
        let at = src.offset();
        match src.read_buffer(limit, "node path")? {
            None => return Err(corrupt(at, "null node path")),
            Some(b"/") => break,
            Some(p) => {
                path.clear();
                path.extend_from_slice(p);
            }
        }
        let null_data = match src.read_buffer(limit, "node data")? {
            None => true,
            Some(d) => {
                data_buf.clear();
                data_buf.extend_from_slice(d);
                false
            }
        };
        let data = (!null_data).then_some(data_buf.as_slice());
        let acl = src.read_i64("node ACL key")?;
        let stat = stat_from(src.take(STAT_LEN, "node stat")?);

        tree.acl_cache_mut().add_usage(acl);
        if path.is_empty() {
            if tree.restore_root(data, acl, stat).is_none() {
                return Err(corrupt(at, "the root appears twice"));
            }
        } else {
            if path[0] != b'/' {
                return Err(corrupt(
                    at,
                    format!("node path {:?} does not start with '/'", lossy(&path)),
                ));
            }
            let slash = path.iter().rposition(|&c| c == b'/').unwrap_or(0);
            if slash + 1 == path.len() || path.windows(2).any(|w| w == b"//") {
                return Err(corrupt(
                    at,
                    format!("node path {:?} has an empty component", lossy(&path)),
                ));
            }
            let parent_path: &[u8] = if slash == 0 { b"/" } else { &path[..slash] };
            let parent = match &last_parent {
                Some((p, id)) if p.as_slice() == parent_path => Some(*id),
                _ => tree.find(parent_path),
            };
            let Some(parent) = parent else {
                return Err(corrupt(
                    at,
                    format!(
                        "invalid data tree: parent {:?} of {:?} not found before it",
                        lossy(&path[..slash]),
                        lossy(&path)
                    ),
                ));
            };
            if !matches!(&last_parent, Some((p, _)) if p.as_slice() == parent_path) {
                last_parent = Some((parent_path.to_vec(), parent));
            }
            let name = &path[slash + 1..];
            match tree.restore_node(parent, name, data, acl, stat, &path) {
                Ok(_) => {}
                Err(RestoreConflict::Duplicate) => {
                    return Err(corrupt(
                        at,
                        format!("node {:?} appears twice", lossy(&path)),
                    ))
                }
                Err(RestoreConflict::TooLarge) => {
                    return Err(corrupt(
                        at,
                        format!("node {:?} does not fit the tree", lossy(&path)),
                    ))
                }
            }
        }
        nodes += 1;
    }
    if tree.root_id().is_none() {
        return Err(corrupt(src.offset(), "the snapshot has no root node"));
    }
    let checksum = src.check_seal(limit)?;
    let digest = read_digest(&mut src, limit)?;
    if digest.is_some() {
        src.check_seal(limit)?;
    }

    tree.acl_cache_mut().purge_unused();
    tree.shrink_nodes();
    tree.rebuild_quotas();
    tree.last_processed_zxid = zxid;
    Ok(LoadedSnapshot {
        header,
        tree,
        sessions,
        digest,
        checksum,
        nodes,
        length: src.offset(),
    })
}

/// `ZxidDigest.deserialize`, where the stream ending anywhere means "no digest".
fn read_digest<R: Read>(
    src: &mut Source<R>,
    limit: usize,
) -> Result<Option<ZxidDigest>, SnapshotError> {
    if !src.fill(12)? {
        return Ok(None);
    }
    let zxid = src.read_i64("digest zxid")?;
    let digest_version = src.read_i32("digest version")?;
    let digest = if digest_version < 2 {
        // Old digests were hex strings.
        if !src.fill(4)? {
            return Ok(None);
        }
        let at = src.offset();
        let len = src.read_i32("digest")?;
        if len == -1 {
            0
        } else {
            if len < 0 || len as usize > limit {
                return Err(corrupt(at, format!("unreasonable digest length {len}")));
            }
            if !src.fill(len as usize)? {
                return Ok(None);
            }
            let text = src.take(len as usize, "digest")?;
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| i64::from_str_radix(t, 16).ok())
                .ok_or_else(|| {
                    corrupt(at, format!("digest {:?} is not a hex number", lossy(text)))
                })?
        }
    } else {
        if !src.fill(8)? {
            return Ok(None);
        }
        src.read_i64("digest")?
    };
    Ok(Some(ZxidDigest {
        zxid,
        digest_version,
        digest,
    }))
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}
