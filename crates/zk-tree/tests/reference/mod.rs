//! The data tree as it was before the compact layout (nodes boxed in a map keyed by full
//! path, child names in a hash set per parent): the reference model the layout proptest
//! compares `zk_tree::DataTree` with. Test-only; a copy of our own earlier `tree.rs`.

#![allow(dead_code, missing_docs)]

pub mod apply;

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use foldhash::fast::RandomState;
use zk_proto::data::{Acl, Stat, StatPersisted};
use zk_proto::{ErrorCode, EventType};

use zk_tree::acl::{read_acl_unsafe, AclCache, AclKey, OPEN_UNSAFE_ACL_KEY};
use zk_tree::ephemeral::{self, Kind};
use zk_tree::path::{name_of, parent_of};
use zk_tree::quota::{self, StatsTrack};
use zk_tree::watch::{WatchMode, WatchTable, WatcherId};

/// `/zookeeper`.
pub const ZOOKEEPER_PATH: &[u8] = b"/zookeeper";
/// `/zookeeper/quota`.
pub const QUOTA_PATH: &[u8] = b"/zookeeper/quota";
/// `/zookeeper/config`.
pub const CONFIG_PATH: &[u8] = b"/zookeeper/config";

/// One znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The data; `None` when created with null data (Java keeps the distinction).
    pub data: Option<Bytes>,
    /// Key into the ACL cache.
    pub acl: AclKey,
    /// The persisted Stat fields.
    pub stat: StatPersisted,
    /// Child names (slices of the children's path keys: no name is stored twice).
    pub children: Children,
}

/// A node's child names: nothing allocated for a leaf (most nodes), a hash set otherwise.
///
/// One pointer wide, so a leaf costs 8 bytes here instead of an empty set's 40.
// The box is the point: an unboxed set is 40 bytes in every node, leaves included.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Children(Option<Box<HashSet<Bytes, RandomState>>>);

impl Children {
    /// Adds `name`; true if it was not there.
    pub fn insert(&mut self, name: Bytes) -> bool {
        self.0.get_or_insert_with(Default::default).insert(name)
    }

    /// Removes `name`; true if it was there. The set is freed when it empties.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        let Some(set) = self.0.as_mut() else {
            return false;
        };
        let removed = set.remove(name);
        if set.is_empty() {
            self.0 = None;
        }
        removed
    }

    /// True if `name` is a child.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(name))
    }

    /// Number of children.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    /// True for a leaf.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The names, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.0.iter().flat_map(|s| s.iter())
    }
}

impl<'a> IntoIterator for &'a Children {
    type Item = &'a Bytes;
    type IntoIter = std::iter::Flatten<std::option::IntoIter<&'a HashSet<Bytes, RandomState>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.as_deref().into_iter().flatten()
    }
}

impl Node {
    /// A node with no children.
    pub fn new(data: Option<Bytes>, acl: AclKey, stat: StatPersisted) -> Self {
        Node {
            data,
            acl,
            stat,
            children: Children::default(),
        }
    }

    /// The Stat a client sees (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.children.len() as i32;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: ephemeral::client_owner(s.ephemeral_owner),
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// Length of the data (0 for null).
    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }
}

pub use zk_tree::{Notification, WatchKind, WatchedEvent};

/// Why [`DataTree::insert_restored`] refused a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreConflict {
    /// The parent has not been inserted.
    ParentMissing,
    /// The path is already in the tree.
    Duplicate,
}

/// The data tree.
#[derive(Debug, Clone)]
pub struct RefTree {
    /// Boxed: a map slot is a key and a pointer (40 bytes), so growing the map moves little
    /// and its empty slots cost little (a hash map is 44 to 87 % full).
    nodes: HashMap<Bytes, Box<Node>, RandomState>,
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
}

impl Default for RefTree {
    fn default() -> Self {
        Self::new()
    }
}

fn bytes(p: &[u8]) -> Bytes {
    Bytes::copy_from_slice(p)
}

impl RefTree {
    /// A tree with `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`, as
    /// Apache ZooKeeper's `DataTree()` builds it.
    pub fn new() -> Self {
        let mut t = Self::empty();
        let empty = || Some(Bytes::new());
        t.insert_raw(
            Bytes::from_static(b"/"),
            Node::new(empty(), OPEN_UNSAFE_ACL_KEY, StatPersisted::default()),
        );
        t.insert_raw(
            Bytes::from_static(ZOOKEEPER_PATH),
            Node::new(empty(), OPEN_UNSAFE_ACL_KEY, StatPersisted::default()),
        );
        t.insert_raw(
            Bytes::from_static(QUOTA_PATH),
            Node::new(empty(), OPEN_UNSAFE_ACL_KEY, StatPersisted::default()),
        );
        t.insert_raw(
            Bytes::from_static(CONFIG_PATH),
            Node::new(empty(), OPEN_UNSAFE_ACL_KEY, StatPersisted::default()),
        );
        // addConfigNode: setACL(READ_ACL_UNSAFE, version -1) leaves aversion at -1.
        let key = t.acls.intern(&read_acl_unsafe());
        if let Some(n) = t.nodes.get_mut(CONFIG_PATH) {
            n.acl = key;
            n.stat.aversion = -1;
        }
        t
    }

    /// A tree without a single node, not even the root (the start of a snapshot restore).
    pub fn empty() -> Self {
        RefTree {
            nodes: HashMap::default(),
            acls: AclCache::new(),
            data_watches: WatchTable::default(),
            child_watches: WatchTable::default(),
            ephemerals: HashMap::default(),
            containers: HashSet::default(),
            ttls: HashSet::default(),
            quota_paths: HashSet::default(),
            last_processed_zxid: 0,
            fired: Vec::new(),
        }
    }

    /// Inserts a node and links it under its parent without any bookkeeping (tree
    /// construction and snapshot restore).
    pub fn insert_raw(&mut self, path: Bytes, node: Node) {
        if let Some(parent) = parent_of(&path) {
            let name = path.slice(path.len() - name_of(&path).len()..);
            if let Some(p) = self.nodes.get_mut(parent) {
                p.children.insert(name);
            }
        }
        self.track_owner(&path, node.stat.ephemeral_owner);
        self.nodes.insert(path, Box::new(node));
    }

    /// Snapshot restore: links `path` (never the root) under `parent`, which must exist, and
    /// inserts the node with its owner tracked. Two lookups per node; a missing parent or a
    /// path already present is refused (the tree is then half-built and must be dropped).
    pub fn insert_restored(
        &mut self,
        path: Bytes,
        parent: &[u8],
        node: Node,
    ) -> Result<(), RestoreConflict> {
        let name = path.slice(path.len() - name_of(&path).len()..);
        let p = self
            .nodes
            .get_mut(parent)
            .ok_or(RestoreConflict::ParentMissing)?;
        p.children.insert(name);
        let owner = node.stat.ephemeral_owner;
        match self.nodes.entry(path) {
            std::collections::hash_map::Entry::Occupied(_) => Err(RestoreConflict::Duplicate),
            std::collections::hash_map::Entry::Vacant(v) => {
                let path = v.key().clone();
                v.insert(Box::new(node));
                self.track_owner(&path, owner);
                Ok(())
            }
        }
    }

    fn track_owner(&mut self, path: &Bytes, owner: i64) {
        match ephemeral::kind(owner) {
            Kind::Container => {
                self.containers.insert(path.clone());
            }
            Kind::Ttl(_) => {
                self.ttls.insert(path.clone());
            }
            Kind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(path.clone());
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

    /// Makes room for `additional` more nodes at once (a snapshot being loaded).
    pub fn reserve_nodes(&mut self, additional: usize) {
        self.nodes.reserve(additional);
    }

    /// Gives back the room [`DataTree::reserve_nodes`] made and nodes did not fill.
    pub fn shrink_nodes(&mut self) {
        self.nodes.shrink_to_fit();
    }

    /// The node at `path`.
    pub fn node(&self, path: &[u8]) -> Option<&Node> {
        self.nodes.get(path).map(|n| &**n)
    }

    /// The ACL list of a node.
    pub fn acl_of(&self, node: &Node) -> &[Acl] {
        self.acls.get(node.acl)
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
        self.nodes.len()
    }

    /// Every (path, node), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Node)> {
        self.nodes.iter().map(|(p, n)| (p, &**n))
    }

    /// getData: data and Stat, registering a data watch when `watcher` is given.
    pub fn get_data(
        &mut self,
        path: &[u8],
        watcher: Option<WatcherId>,
    ) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        let out = (n.data.clone(), n.stat());
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
        self.nodes
            .get(path)
            .map(|n| n.stat())
            .ok_or(ErrorCode::NoNode)
    }

    /// getChildren(2): names and the node's Stat, registering a child watch.
    pub fn get_children(
        &mut self,
        path: &[u8],
        watcher: Option<WatcherId>,
    ) -> Result<(Vec<Bytes>, Stat), ErrorCode> {
        let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        let out = (n.children.iter().cloned().collect(), n.stat());
        if let Some(w) = watcher {
            self.child_watches.add(path, w, WatchMode::Standard);
        }
        Ok(out)
    }

    /// getACL: the list and the Stat.
    pub fn get_acl(&self, path: &[u8]) -> Result<(Vec<Acl>, Stat), ErrorCode> {
        let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
        Ok((self.acls.get(n.acl).to_vec(), n.stat()))
    }

    /// getAllChildrenNumber: every descendant of `path` (for `/`: all nodes but the root
    /// and, as upstream counts it, one more for the root's alias).
    pub fn all_children_number(&self, path: &[u8]) -> i32 {
        if path == b"/" {
            // Upstream: nodes.size() - 2, with the root stored twice ("" and "/").
            return self.nodes.len().saturating_sub(1) as i32;
        }
        let mut count = 0i32;
        let mut stack: Vec<Bytes> = vec![bytes(path)];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(&p) {
                for c in &n.children {
                    count += 1;
                    stack.push(Bytes::from(zk_tree::path::join(&p, c)));
                }
            }
        }
        count
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
        path: &Bytes,
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
        for &w in &fired {
            if suppress.contains(&w) {
                continue;
            }
            out.push(Notification {
                watcher: w,
                event: WatchedEvent {
                    kind,
                    path: path.clone(),
                    zxid,
                },
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
        if !self.nodes.contains_key(parent_path) {
            return Err(ErrorCode::NoNode);
        }
        let key = self.acls.intern(acl);
        if let Some(existing) = self.nodes.get_mut(path) {
            // Upstream replaces the existing node's ACL key before failing (fuzzy replay).
            let old = std::mem::replace(&mut existing.acl, key);
            self.acls.release(old);
            return Err(ErrorCode::NodeExists);
        }
        let path = bytes(path);
        let name = path.slice(path.len() - name_of(&path).len()..);
        let parent_path = bytes(parent_path);
        if let Some(parent) = self.nodes.get_mut(&parent_path) {
            let cv = if parent_cversion == -1 {
                parent.stat.cversion + 1
            } else {
                parent_cversion
            };
            if cv > parent.stat.cversion {
                parent.stat.cversion = cv;
                parent.stat.pzxid = zxid;
            }
            parent.children.insert(name.clone());
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
        let data_len = data.as_ref().map_or(0, |d| d.len()) as i64;
        let node = Node::new(data, key, stat);
        let client_stat = node.stat();
        self.track_owner(&path, owner);
        self.nodes.insert(path.clone(), Box::new(node));

        if parent_path.starts_with(QUOTA_PATH) {
            if name.as_ref() == quota::LIMIT_NODE.as_bytes() {
                self.quota_paths
                    .insert(bytes(&parent_path[QUOTA_PATH.len()..]));
            }
            if name.as_ref() == quota::STAT_NODE.as_bytes() {
                self.refresh_quota_stats(&parent_path[QUOTA_PATH.len()..]);
            }
        }
        if let Some(prefix) = self.quota_prefix(&path) {
            self.update_quota_stat(&prefix, data_len, 1);
        }
        let parent_key = self.nodes.get(&parent_path).map(|n| n.acl);
        self.fire(false, &path, EventType::NodeCreated, zxid, &[], key, out);
        self.fire(
            true,
            &parent_path,
            EventType::NodeChildrenChanged,
            zxid,
            &[],
            parent_key.unwrap_or(OPEN_UNSAFE_ACL_KEY),
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
        let parent_path = bytes(parent_of(path).ok_or(ErrorCode::BadArguments)?);
        let name = name_of(path);
        {
            let parent = self.nodes.get_mut(&parent_path).ok_or(ErrorCode::NoNode)?;
            parent.children.remove(name);
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
        }
        let (path, node) = self.nodes.remove_entry(path).ok_or(ErrorCode::NoNode)?;
        self.untrack_owner(&path, node.stat.ephemeral_owner);
        if parent_path.starts_with(ZOOKEEPER_PATH)
            && name == quota::LIMIT_NODE.as_bytes()
            && parent_path.len() >= QUOTA_PATH.len()
        {
            self.quota_paths.remove(&parent_path[QUOTA_PATH.len()..]);
        }
        if let Some(prefix) = self.quota_prefix(&path) {
            self.update_quota_stat(&prefix, -(node.data_len() as i64), -1);
        }
        let before = out.len();
        self.fire(
            false,
            &path,
            EventType::NodeDeleted,
            zxid,
            &[],
            node.acl,
            out,
        );
        let processed: Vec<WatcherId> = out[before..].iter().map(|n| n.watcher).collect();
        self.fire(
            true,
            &path,
            EventType::NodeDeleted,
            zxid,
            &processed,
            node.acl,
            out,
        );
        self.acls.release(node.acl);
        let parent_key = self.nodes.get(&parent_path).map(|n| n.acl);
        self.fire(
            true,
            &parent_path,
            EventType::NodeChildrenChanged,
            zxid,
            &[],
            parent_key.unwrap_or(OPEN_UNSAFE_ACL_KEY),
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
        let (key, stat, diff) = {
            let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
            let diff = data.as_ref().map_or(0, |d| d.len()) as i64 - n.data_len() as i64;
            n.data = data;
            n.stat.mtime = time;
            n.stat.mzxid = zxid;
            n.stat.version = version;
            let key = self.nodes.get_key_value(path).map(|(k, _)| k.clone());
            (key, self.nodes.get(path).map(|n| n.stat()), diff)
        };
        let (Some(key), Some(stat)) = (key, stat) else {
            return Err(ErrorCode::NoNode);
        };
        if let Some(prefix) = self.quota_prefix(&key) {
            self.update_quota_stat(&prefix, diff, 0);
        }
        let acl_key = self.nodes.get(path).map_or(OPEN_UNSAFE_ACL_KEY, |n| n.acl);
        self.fire(
            false,
            &key,
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
        let Some(n) = self.nodes.get_mut(path) else {
            self.acls.release(key);
            return Err(ErrorCode::NoNode);
        };
        let old = std::mem::replace(&mut n.acl, key);
        n.stat.aversion = version;
        let stat = n.stat();
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
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        let cv = if cversion == -1 {
            n.stat.cversion + 1
        } else {
            cversion
        };
        if cv > n.stat.cversion {
            n.stat.cversion = cv;
            n.stat.pzxid = zxid;
        }
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
        if let Some(n) = self.nodes.get_mut(stat_path.as_slice()) {
            let mut st = StatsTrack::parse(n.data.as_deref().unwrap_or_default());
            st.set_count(st.count() + count_diff);
            st.set_bytes(st.bytes() + bytes_diff);
            n.data = Some(Bytes::from(st.to_string()));
        }
    }

    /// Recomputes a quota's stat node from the subtree (`updateQuotaForPath`).
    fn refresh_quota_stats(&mut self, path: &[u8]) {
        let (mut count, mut size) = (0i64, 0i64);
        let mut stack = vec![bytes(path)];
        while let Some(p) = stack.pop() {
            if let Some(n) = self.nodes.get(&p) {
                count += 1;
                size += n.data_len() as i64;
                for c in &n.children {
                    stack.push(Bytes::from(zk_tree::path::join(&p, c)));
                }
            }
        }
        let mut st = StatsTrack::default();
        st.set_bytes(size);
        st.set_count(count);
        let stat_path = quota::stat_path(path);
        if let Some(n) = self.nodes.get_mut(stat_path.as_slice()) {
            n.data = Some(Bytes::from(st.to_string()));
        }
    }

    /// Rebuilds the quota path set from `/zookeeper/quota` (after a snapshot restore).
    pub fn rebuild_quotas(&mut self) {
        let limits: Vec<Bytes> = self
            .nodes
            .keys()
            .filter(|p| p.starts_with(QUOTA_PATH) && name_of(p) == quota::LIMIT_NODE.as_bytes())
            .filter_map(|p| parent_of(p).map(|q| bytes(&q[QUOTA_PATH.len()..])))
            .filter(|p| !p.is_empty())
            .collect();
        for p in limits {
            self.refresh_quota_stats(&p);
            self.quota_paths.insert(p);
        }
    }
}
