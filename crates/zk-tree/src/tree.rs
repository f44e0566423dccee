//! The data tree: nodes, their children, Stat bookkeeping, ephemerals by session,
//! containers and TTL nodes, quota accounting, and the two watch tables.
//!
//! Mutations follow `DataTree.createNode/deleteNode/setData/setACL/killSession` exactly,
//! including their Stat rules (a parent's stored cversion counts creates; the client sees
//! `2 * cversion - numChildren`), and return the watch notifications they fire.
//!
//! ## Layout
//!
//! No full path is stored: a node knows its parent and its own name, and paths are rebuilt
//! when needed (events, iteration, snapshots).
//!
//! ```text
//!   index: HashTable<u32>, hashing the full path ──► slots[id]   (the root is not in it)
//!   slots: chunks of 1,024 Slot {                                           104 bytes
//!       stat: StatPersisted      as persisted (60 bytes and 4 of padding)      64
//!       acl: AclKey              into the interned ACL cache                     8
//!       blob, blob_len           where name ‖ data are in the Blobs store        8
//!       name_len | null-data bit                                                 4
//!       parent, prev, next       siblings: a circular list                      12
//!       first_child, num_children                                                8
//!   }
//!   blobs: name ‖ data packed by size class (crate::blob): no allocator header or
//!          rounding to 16, no fat pointer
//! ```
//!
//! A lookup hashes the path, probes once, and checks a candidate by comparing its name and
//! its ancestors' names with the path's components (no path is stored to compare with). The
//! table never rehashes by itself (that would rebuild every path from its names): when it
//! is full it is rebuilt from a depth-first walk that hashes each path once. Children are a doubly linked circular list through the slots, so
//! a leaf costs nothing for them, unlinking is O(1), and `getChildren` lists them in the
//! order they were added (creation order; snapshot order after a restore). Freed slots are
//! reused through a free list threaded through `next`.
//!
//! Measured with `tests/memory.rs` (100,000 znodes of the benchmark's shape: 26-byte paths,
//! 100-byte values): the numbers are in that file.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use bytes::{Bytes, BytesMut};
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use zk_proto::data::{Acl, Stat, StatPersisted};
use zk_proto::{ErrorCode, EventType};

use crate::acl::{read_acl_unsafe, AclCache, AclKey, OPEN_UNSAFE_ACL_KEY};
use crate::blob::Blobs;
use crate::ephemeral::{self, Kind};
use crate::path::{name_of, parent_of};
use crate::quota::{self, StatsTrack};
use crate::watch::{WatchMode, WatchTable, WatcherId};

/// `/zookeeper`.
pub const ZOOKEEPER_PATH: &[u8] = b"/zookeeper";
/// `/zookeeper/quota`.
pub const QUOTA_PATH: &[u8] = b"/zookeeper/quota";
/// `/zookeeper/config`.
pub const CONFIG_PATH: &[u8] = b"/zookeeper/config";

/// A node's slot in the tree. Meaningful only to the tree that handed it out, and only until
/// the node is deleted (slots are reused).
pub(crate) type NodeId = u32;

/// No node (an empty child list, the root's parent).
const NONE: NodeId = u32::MAX;
/// The `parent` of a free slot.
const FREE: NodeId = u32::MAX - 1;
/// The largest id handed out (`NONE` and `FREE` are never ids).
const MAX_ID: NodeId = u32::MAX - 2;
/// Set in `Slot::name_len` when the data is null (Java keeps null apart from empty).
const NULL_DATA: u32 = 1 << 31;

/// One node as stored. See the module doc for the layout.
#[derive(Debug, Clone)]
struct Slot {
    /// Where the node's name (its last path component) and data are, in [`Blobs`].
    blob: u32,
    /// Bytes of name and data.
    blob_len: u32,
    stat: StatPersisted,
    acl: AclKey,
    /// Bytes of `blob` that are the name, with [`NULL_DATA`].
    name_len: u32,
    /// [`NONE`] for the root, [`FREE`] for a free slot.
    parent: NodeId,
    /// Previous sibling (the list is circular).
    prev: NodeId,
    /// Next sibling; in a free slot, the next free slot.
    next: NodeId,
    first_child: NodeId,
    num_children: u32,
}

impl Slot {
    fn name_len(&self) -> usize {
        (self.name_len & !NULL_DATA) as usize
    }

    fn name<'b>(&self, blobs: &'b Blobs) -> &'b [u8] {
        let all = blobs.get(self.blob, self.blob_len);
        all.get(..self.name_len()).unwrap_or_default()
    }

    fn data<'b>(&self, blobs: &'b Blobs) -> Option<&'b [u8]> {
        if self.name_len & NULL_DATA != 0 {
            return None;
        }
        let all = blobs.get(self.blob, self.blob_len);
        Some(all.get(self.name_len()..).unwrap_or_default())
    }

    fn data_len(&self) -> usize {
        (self.blob_len as usize).saturating_sub(self.name_len())
    }

    /// The Stat a client sees (`DataNode.copyStat`).
    fn client_stat(&self) -> Stat {
        client_stat(&self.stat, self.num_children, self.data_len())
    }
}

/// Slots per chunk of the [`Slab`] (112 KiB of slots).
const CHUNK: usize = 1024;

/// The slots, in fixed-size chunks: growing never moves or copies a slot, and the room
/// made but not used is at most one chunk (a `Vec` that doubles would leave up to half).
#[derive(Debug, Clone, Default)]
struct Slab {
    chunks: Vec<Vec<Slot>>,
    len: usize,
}

impl Slab {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, id: NodeId) -> Option<&Slot> {
        let id = id as usize;
        self.chunks.get(id / CHUNK)?.get(id % CHUNK)
    }

    fn push(&mut self, slot: Slot) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(last) = self.chunks.last_mut() {
            last.push(slot);
            self.len += 1;
        }
    }

    /// Every slot with its id, free ones included.
    fn iter(&self) -> impl Iterator<Item = (NodeId, &Slot)> {
        self.chunks
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| (i as NodeId, s))
    }
}

impl std::ops::Index<NodeId> for Slab {
    type Output = Slot;

    fn index(&self, id: NodeId) -> &Slot {
        let id = id as usize;
        &self.chunks[id / CHUNK][id % CHUNK]
    }
}

impl std::ops::IndexMut<NodeId> for Slab {
    fn index_mut(&mut self, id: NodeId) -> &mut Slot {
        let id = id as usize;
        &mut self.chunks[id / CHUNK][id % CHUNK]
    }
}

fn client_stat(s: &StatPersisted, num_children: u32, data_len: usize) -> Stat {
    let num_children = num_children as i32;
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
        aversion: s.aversion,
        ephemeral_owner: ephemeral::client_owner(s.ephemeral_owner),
        data_length: data_len as i32,
        num_children,
        pzxid: s.pzxid,
    }
}

/// A child was created (or its create replayed): the parent's cversion becomes `cversion`
/// (-1: one more) if that is higher, and its pzxid `zxid` with it.
fn bump_cversion(stat: &mut StatPersisted, cversion: i32, zxid: i64) {
    let cv = if cversion == -1 {
        stat.cversion + 1
    } else {
        cversion
    };
    if cv > stat.cversion {
        stat.cversion = cv;
        stat.pzxid = zxid;
    }
}

fn free_slot(next: NodeId) -> Slot {
    Slot {
        blob: 0,
        blob_len: 0,
        stat: StatPersisted::default(),
        acl: OPEN_UNSAFE_ACL_KEY,
        name_len: 0,
        parent: FREE,
        prev: NONE,
        next,
        first_child: NONE,
        num_children: 0,
    }
}

/// The full path of `id`, rebuilt from the names up to the root.
fn path_in(slots: &Slab, blobs: &Blobs, root: NodeId, id: NodeId) -> Vec<u8> {
    let mut chain = Vec::new();
    let mut cur = id;
    // Bounded by the depth, which is below the number of slots.
    for _ in 0..slots.len() {
        if cur == root || cur == NONE || cur == FREE {
            break;
        }
        chain.push(cur);
        cur = slots[cur].parent;
    }
    if chain.is_empty() {
        return b"/".to_vec();
    }
    let len = chain.iter().map(|&c| slots[c].name_len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for &c in chain.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(slots[c].name(blobs));
    }
    out
}

/// True if `id` is the node at `path`: its name and its ancestors' names, read upwards, are
/// the path's components.
fn is_at(slots: &Slab, blobs: &Blobs, root: NodeId, id: NodeId, path: &[u8]) -> bool {
    let mut rest = path;
    let mut cur = id;
    // Bounded by the depth, which is below the number of slots.
    for _ in 0..=slots.len() {
        if cur == root {
            return rest.is_empty();
        }
        let Some(s) = slots.get(cur) else {
            return false;
        };
        if s.parent == FREE || s.parent == NONE {
            return false;
        }
        // `rest` must end with "/" and the name. Names are short: compared byte by byte
        // rather than through a memcmp call.
        let name = s.name(blobs);
        let Some(slash) = rest.len().checked_sub(name.len() + 1) else {
            return false;
        };
        let tail = &rest[slash + 1..];
        if rest[slash] != b'/' || !tail.iter().zip(name).all(|(a, b)| a == b) {
            return false;
        }
        (rest, cur) = (&rest[..slash], s.parent);
    }
    false
}

/// Visits every node below and including `root` with its full path, each parent before its
/// children (children in their order), building paths in one reused buffer.
fn depth_first(slots: &Slab, blobs: &Blobs, root: NodeId, mut visit: impl FnMut(NodeId, &[u8])) {
    if root == NONE {
        return;
    }
    visit(root, b"/");
    let mut path = Vec::with_capacity(256);
    // (node, length of its parent's path in `path`); each node is pushed once.
    let mut stack: Vec<(NodeId, usize)> = Vec::new();
    let push_children = |stack: &mut Vec<(NodeId, usize)>, id: NodeId, base: usize| {
        let s = &slots[id];
        let at = stack.len();
        let ids = ChildIds {
            slots,
            next: s.first_child,
            left: s.num_children,
        };
        stack.extend(ids.map(|c| (c, base)));
        stack[at..].reverse();
    };
    push_children(&mut stack, root, 0);
    while let Some((id, base)) = stack.pop() {
        path.truncate(base);
        path.push(b'/');
        path.extend_from_slice(slots[id].name(blobs));
        visit(id, &path);
        if slots[id].num_children > 0 {
            push_children(&mut stack, id, path.len());
        }
    }
}

/// One znode, as the tree holds it: a view that borrows the tree.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// The data; `None` when created with null data (Java keeps the distinction).
    pub data: Option<&'a [u8]>,
    /// Key into the ACL cache.
    pub acl: AclKey,
    /// The persisted Stat fields.
    pub stat: &'a StatPersisted,
    /// The child names.
    pub children: Children<'a>,
}

impl Node<'_> {
    /// The Stat a client sees (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        client_stat(self.stat, self.children.len, self.data_len())
    }

    /// Length of the data (0 for null).
    pub fn data_len(&self) -> usize {
        self.data.map_or(0, <[u8]>::len)
    }
}

/// Equal data, ACL key, Stat and child names (in any order, as a set).
impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        fn names<'a>(c: &Children<'a>) -> Vec<&'a [u8]> {
            let mut v: Vec<&[u8]> = c.iter().collect();
            v.sort_unstable();
            v
        }
        self.data == other.data
            && self.acl == other.acl
            && self.stat == other.stat
            && names(&self.children) == names(&other.children)
    }
}

impl Eq for Node<'_> {}

/// A node's child names, in the order they were added.
#[derive(Clone, Copy)]
pub struct Children<'a> {
    slots: &'a Slab,
    blobs: &'a Blobs,
    first: NodeId,
    len: u32,
}

impl<'a> Children<'a> {
    /// True if `name` is a child (a scan: use [`DataTree::node`] to look a path up).
    pub fn contains(&self, name: &[u8]) -> bool {
        self.iter().any(|n| n == name)
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a leaf.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The names, in the order the children were added.
    pub fn iter(&self) -> ChildNames<'a> {
        ChildNames {
            ids: ChildIds {
                slots: self.slots,
                next: self.first,
                left: self.len,
            },
            blobs: self.blobs,
        }
    }
}

impl std::fmt::Debug for Children<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|n| String::from_utf8_lossy(n)))
            .finish()
    }
}

impl<'a> IntoIterator for Children<'a> {
    type Item = &'a [u8];
    type IntoIter = ChildNames<'a>;

    fn into_iter(self) -> ChildNames<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Children<'a> {
    type Item = &'a [u8];
    type IntoIter = ChildNames<'a>;

    fn into_iter(self) -> ChildNames<'a> {
        self.iter()
    }
}

/// The ids of a node's children, following the sibling list `left` more steps.
#[derive(Clone)]
struct ChildIds<'a> {
    slots: &'a Slab,
    next: NodeId,
    left: u32,
}

impl Iterator for ChildIds<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        if self.left == 0 {
            return None;
        }
        let id = self.next;
        self.left -= 1;
        self.next = self.slots.get(id).map_or(NONE, |s| s.next);
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// Iterator over a node's child names ([`Children::iter`]).
#[derive(Clone)]
pub struct ChildNames<'a> {
    ids: ChildIds<'a>,
    blobs: &'a Blobs,
}

impl<'a> Iterator for ChildNames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let slots = self.ids.slots;
        let id = self.ids.next()?;
        Some(slots.get(id).map_or(&[][..], |s| s.name(self.blobs)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ids.size_hint()
    }
}

/// A watch notification produced by a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened.
    pub kind: EventType,
    /// The node it happened to.
    pub path: Bytes,
    /// The zxid of the txn that caused it.
    pub zxid: i64,
}

/// A notification addressed to one watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Who to tell.
    pub watcher: WatcherId,
    /// What to tell.
    pub event: WatchedEvent,
    /// The ACL of the node the event is about (of the parent for NodeChildrenChanged). The
    /// server tells a watcher only if it may READ under this ACL: the fix for CVE-2024-23944
    /// (`ServerCnxn.process(event, znodeAcl)` in 3.8.4 and 3.9.2, also in Debian's 3.8.0).
    pub acl: Vec<Acl>,
}

/// Which table a one-shot watch goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// Data and exist watches.
    Data,
    /// Child watches.
    Child,
}

/// Where the tree's node storage goes, in bytes (`tests/memory.rs` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutFigures {
    /// Nodes, the root included.
    pub nodes: usize,
    /// Bytes of one slot (a node's fixed part: Stat, ACL key, links, where its name and data
    /// are).
    pub slot_size: usize,
    /// Bytes of slots allocated (live, free, and the unused end of the last chunk).
    pub slab_bytes: usize,
    /// Free slots waiting for reuse.
    pub free_slots: usize,
    /// Bytes of the path index's table.
    pub index_bytes: usize,
    /// Bytes of names stored.
    pub name_bytes: usize,
    /// Bytes of data stored.
    pub data_bytes: usize,
    /// Bytes the name and data store holds for them (its pages, free places included, and
    /// the heap blocks of long ones).
    pub blob_store_bytes: usize,
}

/// Why a node read from a snapshot could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestoreConflict {
    /// The path is already in the tree.
    Duplicate,
    /// The name is longer than the tree can hold, or the tree is full.
    TooLarge,
}

/// The data tree.
#[derive(Debug, Clone)]
pub struct DataTree {
    /// Every node by id; free slots are chained through `next` from `free`.
    slots: Slab,
    /// Every node's name and data.
    blobs: Blobs,
    /// Full path hash → id, for every node but the root.
    index: HashTable<NodeId>,
    hasher: RandomState,
    free: NodeId,
    live: usize,
    root: NodeId,
    acls: AclCache,
    data_watches: WatchTable,
    child_watches: WatchTable,
    ephemerals: HashMap<i64, HashSet<Bytes, RandomState>, RandomState>,
    containers: HashSet<Bytes, RandomState>,
    ttls: HashSet<Bytes, RandomState>,
    /// Paths with a quota (those with a `zookeeper_limits` node).
    quota_paths: HashSet<Bytes, RandomState>,
    /// zxid of the last txn applied.
    pub last_processed_zxid: i64,
    fired: Vec<WatcherId>,
    /// Where getData copies small values out (see [`ReadArena`]).
    reads: ReadArena,
}

/// Where getData copies a node's data out of the tree: slices of one shared block of
/// [`ReadArena::BLOCK`] bytes, so a read costs a copy and a reference count instead of an
/// allocation. A block is freed when the last reply holding a slice of it has been encoded
/// for its connection; the block is small so that a reply waiting for a stalled connection
/// pins at most 16 KiB. Values above [`ReadArena::LARGE`] get their own allocation, which
/// their copy dwarfs.
#[derive(Debug, Default)]
struct ReadArena(BytesMut);

impl Clone for ReadArena {
    /// A clone starts its own blocks.
    fn clone(&self) -> Self {
        ReadArena::default()
    }
}

impl ReadArena {
    const BLOCK: usize = 16 * 1024;
    const LARGE: usize = 1024;

    fn copy(&mut self, data: &[u8]) -> Bytes {
        if data.len() > Self::LARGE {
            return Bytes::copy_from_slice(data);
        }
        if self.0.capacity() - self.0.len() < data.len() {
            self.0 = BytesMut::with_capacity(Self::BLOCK);
        }
        self.0.extend_from_slice(data);
        self.0.split().freeze()
    }
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

fn bytes(p: &[u8]) -> Bytes {
    Bytes::copy_from_slice(p)
}

impl DataTree {
    /// A tree with `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`, as
    /// Apache ZooKeeper's `DataTree()` builds it.
    pub fn new() -> Self {
        let mut t = Self::empty();
        let empty = Some(&[][..]);
        let stat = StatPersisted::default();
        let root = t.insert_root(empty, OPEN_UNSAFE_ACL_KEY, stat.clone());
        let open = OPEN_UNSAFE_ACL_KEY;
        let zk = t.restore_node(
            root,
            b"zookeeper",
            empty,
            open,
            stat.clone(),
            ZOOKEEPER_PATH,
        );
        if let Ok(zk) = zk {
            for path in [QUOTA_PATH, CONFIG_PATH] {
                let name = name_of(path);
                let _ = t.restore_node(zk, name, empty, open, stat.clone(), path);
            }
        }
        // addConfigNode: setACL(READ_ACL_UNSAFE, version -1) leaves aversion at -1.
        let key = t.acls.intern(&read_acl_unsafe());
        if let Some(id) = t.find(CONFIG_PATH) {
            let s = &mut t.slots[id];
            s.acl = key;
            s.stat.aversion = -1;
        }
        t
    }

    /// A tree without a single node, not even the root (the start of a snapshot restore).
    pub(crate) fn empty() -> Self {
        DataTree {
            slots: Slab::default(),
            blobs: Blobs::default(),
            index: HashTable::new(),
            hasher: RandomState::default(),
            free: NONE,
            live: 0,
            root: NONE,
            acls: AclCache::new(),
            data_watches: WatchTable::default(),
            child_watches: WatchTable::default(),
            ephemerals: HashMap::default(),
            containers: HashSet::default(),
            ttls: HashSet::default(),
            quota_paths: HashSet::default(),
            last_processed_zxid: 0,
            fired: Vec::new(),
            reads: ReadArena::default(),
        }
    }

    // ----- the layout ----------------------------------------------------------------

    fn slot(&self, id: NodeId) -> &Slot {
        &self.slots[id]
    }

    fn slot_mut(&mut self, id: NodeId) -> &mut Slot {
        &mut self.slots[id]
    }

    /// The index's hash of a full path.
    fn hash(&self, path: &[u8]) -> u64 {
        self.hasher.hash_one(path)
    }

    /// The child of `parent` called `name`, whose full path hashes to `hash`.
    fn child_at(&self, parent: NodeId, name: &[u8], hash: u64) -> Option<NodeId> {
        let (slots, blobs) = (&self.slots, &self.blobs);
        self.index
            .find(hash, |&id| {
                slots
                    .get(id)
                    .is_some_and(|s| s.parent == parent && s.name(blobs) == name)
            })
            .copied()
    }

    /// The node at `path`: one probe, then the names up to the root are compared.
    pub(crate) fn find(&self, path: &[u8]) -> Option<NodeId> {
        if self.root == NONE {
            return None;
        }
        if path == b"/" {
            return Some(self.root);
        }
        let (slots, blobs, root) = (&self.slots, &self.blobs, self.root);
        self.index
            .find(self.hash(path), |&id| is_at(slots, blobs, root, id, path))
            .copied()
    }

    /// Rebuilds the index with room for `capacity` nodes, hashing every path once in a
    /// depth-first walk (the table never rehashes by itself: that would rebuild each path
    /// from its names).
    fn rebuild_index(&mut self, capacity: usize) {
        let mut index = HashTable::with_capacity(capacity.max(self.live));
        let (slots, blobs, hasher, root) = (&self.slots, &self.blobs, &self.hasher, self.root);
        depth_first(slots, blobs, root, |id, path| {
            if id != root {
                index.insert_unique(hasher.hash_one(path), id, |&x| {
                    hasher.hash_one(path_in(slots, blobs, root, x))
                });
            }
        });
        self.index = index;
    }

    /// The root's id, if there is a root.
    pub(crate) fn root_id(&self) -> Option<NodeId> {
        (self.root != NONE).then_some(self.root)
    }

    /// The full path of a node.
    pub(crate) fn path_of(&self, id: NodeId) -> Vec<u8> {
        path_in(&self.slots, &self.blobs, self.root, id)
    }

    /// The view of a live node.
    pub(crate) fn view(&self, id: NodeId) -> Node<'_> {
        let s = self.slot(id);
        Node {
            data: s.data(&self.blobs),
            acl: s.acl,
            stat: &s.stat,
            children: Children {
                slots: &self.slots,
                blobs: &self.blobs,
                first: s.first_child,
                len: s.num_children,
            },
        }
    }

    /// The ids of `id`'s children, in order.
    pub(crate) fn child_ids(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let s = self.slot(id);
        ChildIds {
            slots: &self.slots,
            next: s.first_child,
            left: s.num_children,
        }
    }

    /// The name and view of `id` if it is still a child of `parent` (a fuzzy snapshot
    /// checks that ids it collected earlier still mean the same node).
    pub(crate) fn child_view(&self, parent: NodeId, id: NodeId) -> Option<(&[u8], Node<'_>)> {
        let s = self.slots.get(id)?;
        (s.parent == parent && parent != FREE).then(|| (s.name(&self.blobs), self.view(id)))
    }

    fn alloc(&mut self, slot: Slot) -> Option<NodeId> {
        if self.free != NONE {
            let id = self.free;
            self.free = self.slot(id).next;
            *self.slot_mut(id) = slot;
            return Some(id);
        }
        let id = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i <= MAX_ID)?;
        self.slots.push(slot);
        Some(id)
    }

    /// A slot for a new node, its name and data stored; `None` if they are too long.
    fn new_slot(
        &mut self,
        name: &[u8],
        data: Option<&[u8]>,
        acl: AclKey,
        stat: StatPersisted,
    ) -> Option<Slot> {
        let len = u32::try_from(name.len())
            .ok()
            .filter(|l| l & NULL_DATA == 0)?;
        let data_len = data.map_or(0, <[u8]>::len);
        let blob_len = u32::try_from(name.len() + data_len).ok()?;
        let blob = self.blobs.put(&[name, data.unwrap_or_default()])?;
        Some(Slot {
            blob,
            blob_len,
            stat,
            acl,
            name_len: len | if data.is_none() { NULL_DATA } else { 0 },
            parent: NONE,
            prev: NONE,
            next: NONE,
            first_child: NONE,
            num_children: 0,
        })
    }

    /// Puts the root in place (the tree must not have one).
    fn insert_root(&mut self, data: Option<&[u8]>, acl: AclKey, stat: StatPersisted) -> NodeId {
        let id = self
            .new_slot(b"", data, acl, stat)
            .and_then(|s| self.alloc(s));
        self.root = id.unwrap_or(NONE);
        self.live += usize::from(id.is_some());
        self.root
    }

    /// Adds a node under `parent`, last among its children; `hash` is its full path's. The
    /// caller has checked that `parent` has no child called `name`.
    #[allow(clippy::too_many_arguments)]
    fn insert_child(
        &mut self,
        parent: NodeId,
        name: &[u8],
        hash: u64,
        data: Option<&[u8]>,
        acl: AclKey,
        stat: StatPersisted,
    ) -> Option<NodeId> {
        let mut slot = self.new_slot(name, data, acl, stat)?;
        slot.parent = parent;
        let (blob, blob_len) = (slot.blob, slot.blob_len);
        let Some(id) = self.alloc(slot) else {
            self.blobs.free(blob, blob_len);
            return None;
        };
        if self.index.len() >= self.index.capacity() {
            self.rebuild_index(self.index.len() * 2 + 16);
        }
        let (slots, blobs, hasher, root) = (&self.slots, &self.blobs, &self.hasher, self.root);
        self.index.insert_unique(hash, id, |&x| {
            hasher.hash_one(path_in(slots, blobs, root, x))
        });
        // Link it last in the parent's circular sibling list.
        let first = self.slot(parent).first_child;
        if first == NONE {
            let s = self.slot_mut(id);
            (s.prev, s.next) = (id, id);
            self.slot_mut(parent).first_child = id;
        } else {
            let last = self.slot(first).prev;
            self.slot_mut(last).next = id;
            self.slot_mut(first).prev = id;
            let s = self.slot_mut(id);
            (s.prev, s.next) = (last, first);
        }
        self.slot_mut(parent).num_children += 1;
        self.live += 1;
        Some(id)
    }

    /// Replaces a node's data (its name moves with it to a place of the new size).
    fn replace_data(&mut self, id: NodeId, data: Option<&[u8]>) -> Result<(), ErrorCode> {
        let s = self.slot(id);
        let (old, old_len, name_len) = (s.blob, s.blob_len, s.name_len & !NULL_DATA);
        // The name is copied out first (on the stack when short, as names are).
        let mut short = [0u8; 64];
        let long: Vec<u8>;
        let stored = s.name(&self.blobs);
        let name: &[u8] = match short.get_mut(..stored.len()) {
            Some(buf) => {
                buf.copy_from_slice(stored);
                buf
            }
            None => {
                long = stored.to_vec();
                &long
            }
        };
        let d = data.unwrap_or_default();
        let blob_len = u32::try_from(name.len() + d.len()).map_err(|_| ErrorCode::BadArguments)?;
        let blob = self.blobs.put(&[name, d]).ok_or(ErrorCode::BadArguments)?;
        self.blobs.free(old, old_len);
        let s = self.slot_mut(id);
        (s.blob, s.blob_len) = (blob, blob_len);
        s.name_len = name_len | if data.is_none() { NULL_DATA } else { 0 };
        Ok(())
    }

    /// Takes a node (never the root) out of the index and its parent's list and frees its
    /// slot; returns what it held. Its children, if any, must be gone already.
    fn remove_node(&mut self, id: NodeId, hash: u64) -> Slot {
        let (parent, prev, next) = {
            let s = self.slot(id);
            (s.parent, s.prev, s.next)
        };
        if let Ok(e) = self.index.find_entry(hash, |&x| x == id) {
            e.remove();
        }
        let p = self.slot_mut(parent);
        p.num_children = p.num_children.saturating_sub(1);
        if p.num_children == 0 {
            p.first_child = NONE;
        } else {
            if p.first_child == id {
                p.first_child = next;
            }
            self.slot_mut(prev).next = next;
            self.slot_mut(next).prev = prev;
        }
        self.live -= 1;
        let next_free = self.free;
        let free = std::mem::replace(self.slot_mut(id), free_slot(next_free));
        self.free = id;
        self.blobs.free(free.blob, free.blob_len);
        free
    }

    /// Drops every descendant of `id`, bottom up, without events. Only a txn stream that
    /// deletes a node before its children gets here (`prep` refuses it with `NotEmpty`).
    /// Upstream keeps such orphans reachable by path in its map; here they go with their
    /// parent, their ACL references and ephemeral/container/TTL tracking with them.
    fn drop_descendants(&mut self, id: NodeId) {
        let mut order = Vec::new();
        let mut stack = vec![id];
        // Each node is pushed once: bounded by the number of slots.
        while let Some(n) = stack.pop() {
            order.extend(self.child_ids(n));
            stack.extend(self.child_ids(n));
        }
        for &n in order.iter().rev() {
            let path = self.path_of(n);
            let s = self.remove_node(n, self.hash(&path));
            self.untrack_owner(&path, s.stat.ephemeral_owner);
            self.acls.release(s.acl);
        }
    }

    /// Snapshot restore and tree construction: adds `name` under `parent` (`path` is the
    /// full path) and tracks its owner.
    pub(crate) fn restore_node(
        &mut self,
        parent: NodeId,
        name: &[u8],
        data: Option<&[u8]>,
        acl: AclKey,
        stat: StatPersisted,
        path: &[u8],
    ) -> Result<NodeId, RestoreConflict> {
        let hash = self.hash(path);
        if self.child_at(parent, name, hash).is_some() {
            return Err(RestoreConflict::Duplicate);
        }
        let owner = stat.ephemeral_owner;
        let id = self
            .insert_child(parent, name, hash, data, acl, stat)
            .ok_or(RestoreConflict::TooLarge)?;
        self.track_owner(path, owner);
        Ok(id)
    }

    /// Snapshot restore: the root (`None` if there is one already).
    pub(crate) fn restore_root(
        &mut self,
        data: Option<&[u8]>,
        acl: AclKey,
        stat: StatPersisted,
    ) -> Option<NodeId> {
        if self.root != NONE {
            return None;
        }
        let id = self.insert_root(data, acl, stat);
        (id != NONE).then_some(id)
    }

    fn track_owner(&mut self, path: &[u8], owner: i64) {
        match ephemeral::kind(owner) {
            Kind::Container => {
                self.containers.insert(bytes(path));
            }
            Kind::Ttl(_) => {
                self.ttls.insert(bytes(path));
            }
            Kind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(bytes(path));
            }
            Kind::Persistent | Kind::Unknown => {}
        }
    }

    fn untrack_owner(&mut self, path: &[u8], owner: i64) {
        match ephemeral::kind(owner) {
            Kind::Container => {
                self.containers.remove(path);
            }
            Kind::Ttl(_) => {
                self.ttls.remove(path);
            }
            Kind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            Kind::Persistent | Kind::Unknown => {}
        }
    }

    // ----- reads -------------------------------------------------------------------

    /// Where the node storage goes.
    pub fn layout_figures(&self) -> LayoutFigures {
        let (mut names, mut data, mut free) = (0, 0, 0);
        for (_, s) in self.slots.iter() {
            if s.parent == FREE {
                free += 1;
            } else {
                names += s.name_len();
                data += s.data_len();
            }
        }
        LayoutFigures {
            nodes: self.live,
            slot_size: std::mem::size_of::<Slot>(),
            slab_bytes: self.slots.chunks.len() * CHUNK * std::mem::size_of::<Slot>(),
            free_slots: free,
            index_bytes: self.index.allocation_size(),
            name_bytes: names,
            data_bytes: data,
            blob_store_bytes: self.blobs.bytes(),
        }
    }

    /// Makes room for `additional` more nodes at once (a snapshot being loaded).
    pub fn reserve_nodes(&mut self, additional: usize) {
        self.slots.chunks.reserve(additional / CHUNK + 1);
        let want = self.index.len() + additional;
        if want > self.index.capacity() {
            self.rebuild_index(want);
        }
    }

    /// Gives back the room [`DataTree::reserve_nodes`] made and nodes did not fill.
    pub fn shrink_nodes(&mut self) {
        self.slots.chunks.shrink_to_fit();
        // Rebuilt only when at least half of it is unused (a rebuild hashes every path).
        if self.index.capacity() / 2 > self.index.len() + 1024 {
            self.rebuild_index(self.index.len() + self.index.len() / 8);
        }
    }

    /// The node at `path`.
    pub fn node(&self, path: &[u8]) -> Option<Node<'_>> {
        self.find(path).map(|id| self.view(id))
    }

    /// The ACL list of a node (a [`Node`] or a reference to one).
    pub fn acl_of<'n>(&self, node: impl Borrow<Node<'n>>) -> &[Acl] {
        self.acls.get(node.borrow().acl)
    }

    /// The ACL cache.
    pub fn acl_cache(&self) -> &AclCache {
        &self.acls
    }

    /// Mutable ACL cache (snapshot restore).
    pub fn acl_cache_mut(&mut self) -> &mut AclCache {
        &mut self.acls
    }

    /// Number of nodes, the root included.
    pub fn node_count(&self) -> usize {
        self.live
    }

    /// Every (path, node), in no particular order. Each path is rebuilt and allocated:
    /// [`DataTree::walk`] is cheaper for a pass over the whole tree.
    pub fn iter(&self) -> impl Iterator<Item = (Vec<u8>, Node<'_>)> {
        self.slots
            .iter()
            .filter(|(_, s)| s.parent != FREE)
            .map(|(id, _)| (self.path_of(id), self.view(id)))
    }

    /// Visits every node with its full path, each parent before its children (children in
    /// their order), building paths in one reused buffer: the cheap way to see every path.
    pub fn walk(&self, mut visit: impl FnMut(&[u8], Node<'_>)) {
        depth_first(&self.slots, &self.blobs, self.root, |id, path| {
            visit(path, self.view(id))
        });
    }

    /// Bytes of every path and every node's data (`DataTree.approximateDataSize`).
    pub fn approximate_data_size(&self) -> usize {
        let mut total = 0;
        self.walk(|p, n| total += p.len() + n.data_len());
        total
    }

    /// getData: data and Stat, registering a data watch when `watcher` is given.
    pub fn get_data(
        &mut self,
        path: &[u8],
        watcher: Option<WatcherId>,
    ) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        let id = self.find(path).ok_or(ErrorCode::NoNode)?;
        let s = &self.slots[id];
        let out = (
            s.data(&self.blobs).map(|d| self.reads.copy(d)),
            s.client_stat(),
        );
        if let Some(w) = watcher {
            self.data_watches.add(path, w, WatchMode::Standard);
        }
        Ok(out)
    }

    /// exists: the Stat; the watch is registered even when the node is missing.
    pub fn stat_node(
        &mut self,
        path: &[u8],
        watcher: Option<WatcherId>,
    ) -> Result<Stat, ErrorCode> {
        if let Some(w) = watcher {
            self.data_watches.add(path, w, WatchMode::Standard);
        }
        self.find(path)
            .map(|id| self.slot(id).client_stat())
            .ok_or(ErrorCode::NoNode)
    }

    /// getChildren(2): names, in the order the children were added, and the node's Stat,
    /// registering a child watch.
    pub fn get_children(
        &mut self,
        path: &[u8],
        watcher: Option<WatcherId>,
    ) -> Result<(Vec<Bytes>, Stat), ErrorCode> {
        let id = self.find(path).ok_or(ErrorCode::NoNode)?;
        let node = self.view(id);
        // One buffer for every name, handed out as slices of it.
        let total = node.children.iter().map(<[u8]>::len).sum();
        let mut buf = BytesMut::with_capacity(total);
        let mut ends = Vec::with_capacity(node.children.len());
        for name in node.children {
            buf.extend_from_slice(name);
            ends.push(buf.len());
        }
        let all = buf.freeze();
        let mut start = 0;
        let names = ends
            .into_iter()
            .map(|end| {
                let name = all.slice(start..end);
                start = end;
                name
            })
            .collect();
        let out = (names, node.stat());
        if let Some(w) = watcher {
            self.child_watches.add(path, w, WatchMode::Standard);
        }
        Ok(out)
    }

    /// getACL: the list and the Stat.
    pub fn get_acl(&self, path: &[u8]) -> Result<(Vec<Acl>, Stat), ErrorCode> {
        let id = self.find(path).ok_or(ErrorCode::NoNode)?;
        let s = self.slot(id);
        Ok((self.acls.get(s.acl).to_vec(), s.client_stat()))
    }

    /// The number of nodes below `id`.
    fn descendants(&self, id: NodeId) -> usize {
        let mut count = 0;
        let mut stack = vec![id];
        // Each node is pushed once: bounded by the number of slots.
        while let Some(n) = stack.pop() {
            count += self.slot(n).num_children as usize;
            stack.extend(self.child_ids(n));
        }
        count
    }

    /// getAllChildrenNumber: every descendant of `path` (for `/`: all nodes but the root
    /// and, as upstream counts it, one more for the root's alias).
    pub fn all_children_number(&self, path: &[u8]) -> i32 {
        if path == b"/" {
            // Upstream: nodes.size() - 2, with the root stored twice ("" and "/").
            return self.live.saturating_sub(1) as i32;
        }
        self.find(path).map_or(0, |id| {
            i32::try_from(self.descendants(id)).unwrap_or(i32::MAX)
        })
    }

    /// Paths of the ephemerals `session` owns.
    pub fn ephemerals_of(&self, session: i64) -> Vec<Bytes> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every session that owns ephemerals, with its paths.
    pub fn all_ephemerals(&self) -> impl Iterator<Item = (i64, &HashSet<Bytes, RandomState>)> {
        self.ephemerals.iter().map(|(s, p)| (*s, p))
    }

    /// Container nodes (candidates for the container reaper).
    pub fn containers(&self) -> impl Iterator<Item = &Bytes> {
        self.containers.iter()
    }

    /// TTL nodes (candidates for TTL expiry).
    pub fn ttls(&self) -> impl Iterator<Item = &Bytes> {
        self.ttls.iter()
    }

    // ----- watches -----------------------------------------------------------------

    /// addWatch: a persistent or persistent-recursive watch (`DataTree.addWatch`).
    pub fn add_persistent_watch(&mut self, path: &[u8], watcher: WatcherId, recursive: bool) {
        // DataTree.addWatch (3.8): both modes go into both tables, so removeWatches of one
        // type leaves the other half in place. A recursive watch in the child table fires
        // only for NodeDeleted (NodeChildrenChanged is skipped for recursive watches), and
        // deleteNode suppresses the watchers the data table already notified.
        let mode = if recursive {
            WatchMode::PersistentRecursive
        } else {
            WatchMode::Persistent
        };
        self.data_watches.add(path, watcher, mode);
        self.child_watches.add(path, watcher, mode);
    }

    /// Registers a one-shot watch directly (setWatches).
    pub fn add_watch(&mut self, path: &[u8], watcher: WatcherId, kind: WatchKind) {
        match kind {
            WatchKind::Data => self.data_watches.add(path, watcher, WatchMode::Standard),
            WatchKind::Child => self.child_watches.add(path, watcher, WatchMode::Standard),
        };
    }

    /// The data and child watch tables.
    pub fn watch_tables(&self) -> (&WatchTable, &WatchTable) {
        (&self.data_watches, &self.child_watches)
    }

    /// The data and child watch tables, mutable (checkWatches/removeWatches).
    pub fn watch_tables_mut(&mut self) -> (&mut WatchTable, &mut WatchTable) {
        (&mut self.data_watches, &mut self.child_watches)
    }

    /// Forgets every watch of a closed connection.
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        self.data_watches.remove_watcher(watcher);
        self.child_watches.remove_watcher(watcher);
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        child_table: bool,
        path: &[u8],
        kind: EventType,
        zxid: i64,
        suppress: &[WatcherId],
        acl: AclKey,
        out: &mut Vec<Notification>,
    ) {
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        if child_table {
            self.child_watches.trigger(path, kind, &mut fired);
        } else {
            self.data_watches.trigger(path, kind, &mut fired);
        }
        // The event's path is copied once, and only when someone is told.
        let mut event_path: Option<Bytes> = None;
        for &w in &fired {
            if suppress.contains(&w) {
                continue;
            }
            let path = event_path.get_or_insert_with(|| bytes(path)).clone();
            out.push(Notification {
                watcher: w,
                event: WatchedEvent { kind, path, zxid },
                acl: self.acls.get(acl).to_vec(),
            });
        }
        self.fired = fired;
    }

    // ----- mutations ---------------------------------------------------------------

    /// createNode. `parent_cversion == -1` means "parent's + 1". Returns the new Stat.
    #[allow(clippy::too_many_arguments)]
    pub fn create_node(
        &mut self,
        path: &[u8],
        data: Option<Bytes>,
        acl: &[Acl],
        owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        out: &mut Vec<Notification>,
    ) -> Result<Stat, ErrorCode> {
        let parent_path = parent_of(path).ok_or(ErrorCode::NodeExists)?;
        let parent = self.find(parent_path).ok_or(ErrorCode::NoNode)?;
        let name = name_of(path);
        let key = self.acls.intern(acl);
        let hash = self.hash(path);
        if let Some(existing) = self.child_at(parent, name, hash) {
            // Upstream replaces the existing node's ACL key before failing (fuzzy replay).
            let old = std::mem::replace(&mut self.slot_mut(existing).acl, key);
            self.acls.release(old);
            return Err(ErrorCode::NodeExists);
        }
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: zxid,
        };
        let Some(id) = self.insert_child(parent, name, hash, data.as_deref(), key, stat) else {
            self.acls.release(key);
            return Err(ErrorCode::BadArguments);
        };
        bump_cversion(&mut self.slot_mut(parent).stat, parent_cversion, zxid);
        let client_stat = self.slot(id).client_stat();
        let data_len = client_stat.data_length as i64;
        self.track_owner(path, owner);

        if parent_path.starts_with(QUOTA_PATH) {
            if name == quota::LIMIT_NODE.as_bytes() {
                self.quota_paths
                    .insert(bytes(&parent_path[QUOTA_PATH.len()..]));
            }
            if name == quota::STAT_NODE.as_bytes() {
                self.refresh_quota_stats(&parent_path[QUOTA_PATH.len()..]);
            }
        }
        if let Some(prefix) = self.quota_prefix(path) {
            self.update_quota_stat(&prefix, data_len, 1);
        }
        let parent_key = self.slot(parent).acl;
        self.fire(false, path, EventType::NodeCreated, zxid, &[], key, out);
        self.fire(
            true,
            parent_path,
            EventType::NodeChildrenChanged,
            zxid,
            &[],
            parent_key,
            out,
        );
        Ok(client_stat)
    }

    /// deleteNode.
    pub fn delete_node(
        &mut self,
        path: &[u8],
        zxid: i64,
        out: &mut Vec<Notification>,
    ) -> Result<(), ErrorCode> {
        let parent_path = parent_of(path).ok_or(ErrorCode::BadArguments)?;
        let name = name_of(path);
        let parent = self.find(parent_path).ok_or(ErrorCode::NoNode)?;
        // The parent's pzxid moves even when the child is missing, as upstream.
        {
            let p = self.slot_mut(parent);
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
        }
        let hash = self.hash(path);
        let id = self.child_at(parent, name, hash).ok_or(ErrorCode::NoNode)?;
        if self.slot(id).num_children > 0 {
            self.drop_descendants(id);
        }
        let node = self.remove_node(id, hash);
        let data_len = node.data_len() as i64;
        self.untrack_owner(path, node.stat.ephemeral_owner);
        if parent_path.starts_with(ZOOKEEPER_PATH)
            && name == quota::LIMIT_NODE.as_bytes()
            && parent_path.len() >= QUOTA_PATH.len()
        {
            self.quota_paths.remove(&parent_path[QUOTA_PATH.len()..]);
        }
        if let Some(prefix) = self.quota_prefix(path) {
            self.update_quota_stat(&prefix, -data_len, -1);
        }
        let before = out.len();
        self.fire(
            false,
            path,
            EventType::NodeDeleted,
            zxid,
            &[],
            node.acl,
            out,
        );
        let processed: Vec<WatcherId> = out[before..].iter().map(|n| n.watcher).collect();
        self.fire(
            true,
            path,
            EventType::NodeDeleted,
            zxid,
            &processed,
            node.acl,
            out,
        );
        self.acls.release(node.acl);
        let parent_key = self.slot(parent).acl;
        self.fire(
            true,
            parent_path,
            EventType::NodeChildrenChanged,
            zxid,
            &[],
            parent_key,
            out,
        );
        Ok(())
    }

    /// setData: the node's version becomes `version` (computed by prep). Returns the Stat.
    pub fn set_data(
        &mut self,
        path: &[u8],
        data: Option<Bytes>,
        version: i32,
        zxid: i64,
        time: i64,
        out: &mut Vec<Notification>,
    ) -> Result<Stat, ErrorCode> {
        let id = self.find(path).ok_or(ErrorCode::NoNode)?;
        let diff = data.as_ref().map_or(0, |d| d.len()) as i64 - self.slot(id).data_len() as i64;
        self.replace_data(id, data.as_deref())?;
        let (stat, acl_key) = {
            let n = self.slot_mut(id);
            n.stat.mtime = time;
            n.stat.mzxid = zxid;
            n.stat.version = version;
            (n.client_stat(), n.acl)
        };
        if let Some(prefix) = self.quota_prefix(path) {
            self.update_quota_stat(&prefix, diff, 0);
        }
        self.fire(
            false,
            path,
            EventType::NodeDataChanged,
            zxid,
            &[],
            acl_key,
            out,
        );
        Ok(stat)
    }

    /// setACL: the node's aversion becomes `version`. Returns the Stat.
    pub fn set_acl(&mut self, path: &[u8], acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let key = self.acls.intern(acl);
        let Some(id) = self.find(path) else {
            self.acls.release(key);
            return Err(ErrorCode::NoNode);
        };
        let n = self.slot_mut(id);
        let old = std::mem::replace(&mut n.acl, key);
        n.stat.aversion = version;
        let stat = n.client_stat();
        self.acls.release(old);
        Ok(stat)
    }

    /// Restores a parent's cversion and pzxid (replay of a create that found the node).
    pub fn set_cversion_pzxid(
        &mut self,
        path: &[u8],
        cversion: i32,
        zxid: i64,
    ) -> Result<(), ErrorCode> {
        let id = self.find(path).ok_or(ErrorCode::NoNode)?;
        bump_cversion(&mut self.slot_mut(id).stat, cversion, zxid);
        Ok(())
    }

    /// killSession: deletes the session's ephemerals (the txn's list first, then any the
    /// tree still knows of), firing their watches.
    pub fn kill_session(
        &mut self,
        session: i64,
        zxid: i64,
        paths_in_txn: Option<&[Bytes]>,
        out: &mut Vec<Notification>,
    ) {
        let mut local = self.ephemerals.remove(&session).unwrap_or_default();
        if let Some(paths) = paths_in_txn {
            for p in paths {
                // A missing node is ignored, as upstream (it may be gone after a fuzzy snapshot).
                let _ = self.delete_node(p, zxid, out);
                local.remove(p.as_ref());
            }
        }
        let mut rest: Vec<Bytes> = local.into_iter().collect();
        rest.sort();
        for p in rest {
            let _ = self.delete_node(&p, zxid, out);
        }
    }

    // ----- quotas ------------------------------------------------------------------

    /// The deepest ancestor-or-self of `path` that has a quota, never `/`
    /// (`getMaxPrefixWithQuota`).
    fn quota_prefix(&self, path: &[u8]) -> Option<Bytes> {
        if self.quota_paths.is_empty() {
            return None;
        }
        let mut p = path;
        loop {
            if p != b"/" {
                if let Some(k) = self.quota_paths.get(p) {
                    return Some(k.clone());
                }
            }
            p = parent_of(p)?;
        }
    }

    fn update_quota_stat(&mut self, prefix: &[u8], bytes_diff: i64, count_diff: i64) {
        let stat_path = quota::stat_path(prefix);
        if let Some(id) = self.find(&stat_path) {
            let data = self.slot(id).data(&self.blobs).unwrap_or_default();
            let mut st = StatsTrack::parse(data);
            st.set_count(st.count() + count_diff);
            st.set_bytes(st.bytes() + bytes_diff);
            let _ = self.replace_data(id, Some(st.to_string().as_bytes()));
        }
    }

    /// Recomputes a quota's stat node from the subtree (`updateQuotaForPath`).
    fn refresh_quota_stats(&mut self, path: &[u8]) {
        let (mut count, mut size) = (0i64, 0i64);
        if let Some(id) = self.find(path) {
            let mut stack = vec![id];
            // Each node is pushed once: bounded by the number of slots.
            while let Some(n) = stack.pop() {
                count += 1;
                size += self.slot(n).data_len() as i64;
                stack.extend(self.child_ids(n));
            }
        }
        let mut st = StatsTrack::default();
        st.set_bytes(size);
        st.set_count(count);
        let stat_path = quota::stat_path(path);
        if let Some(id) = self.find(&stat_path) {
            let _ = self.replace_data(id, Some(st.to_string().as_bytes()));
        }
    }

    /// Rebuilds the quota path set from `/zookeeper/quota` (after a snapshot restore).
    pub fn rebuild_quotas(&mut self) {
        let limits: Vec<Bytes> = self
            .slots
            .iter()
            .filter(|(_, s)| {
                s.parent != FREE && s.name(&self.blobs) == quota::LIMIT_NODE.as_bytes()
            })
            .map(|(id, _)| self.path_of(id))
            .filter(|p| p.starts_with(QUOTA_PATH))
            .filter_map(|p| {
                parent_of(&p)
                    .and_then(|q| q.get(QUOTA_PATH.len()..))
                    .map(bytes)
            })
            .filter(|p| !p.is_empty())
            .collect();
        for p in limits {
            self.refresh_quota_stats(&p);
            self.quota_paths.insert(p);
        }
    }
}
