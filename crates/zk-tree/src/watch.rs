//! Watch registry with Apache ZooKeeper 3.8.0's semantics (`WatchManager` +
//! `WatcherModeManager`): one table for data/exist watches and one for child watches; in
//! each, a watcher holds at most one mode per path, and the last registration wins (a
//! one-shot registration on a path with a persistent watch turns it back into a one-shot
//! watch, as 3.8 does).
//!
//! Trigger rules (3.8 `triggerWatch`): a persistent-recursive watch on the event's path or
//! any ancestor fires for every event except NodeChildrenChanged and stays; other watches
//! fire only at the event's own path, one-shot ones being consumed. Ancestors are walked
//! only while some recursive watch exists. The watchers of one path are reported in the
//! order they registered (a mode change keeps the place), then the recursive watchers of
//! the ancestors, nearest first, each watcher at most once per event.
//!
//! # Layout (issue #6: bytes per watch)
//!
//! ```text
//!  index: HashTable<u32> ──► entries[id] = { off: u64, len: u32, head: u32 }  (16 B)
//!   (path hash → id)              │  off/len              │ head
//!                                 ▼                       ▼
//!                     arena: Vec<u8> (every path once,   one watch inline: slot << 2 | mode
//!                      owned, back to back)              or, from the second watcher on,
//!                                                        spills[i] = Vec<watch> in
//!                                                        registration order (+ an index by
//!                                                        slot once it is long)
//!  by_id: HashMap<WatcherId, u32> ──► slots[slot] = { id, paths: Vec<u32 entry id>, live }
//! ```
//!
//! - **Paths** are stored once per table, copied into one arena, never as slices of a
//!   request frame (a `Bytes` slice would pin the whole read buffer it came from). A path
//!   is addressed by a `u32` entry id; the index is a `hashbrown::HashTable<u32>` hashing
//!   the arena bytes (seeded foldhash), so a slot costs 4 bytes plus a control byte.
//!   Freed paths leave garbage in the arena; the arena is rewritten (live paths only, in
//!   entry order) once the garbage reaches half the live bytes, 4 KiB and the number of
//!   entries, so the copy (one pass over the live paths) is paid for by the garbage it
//!   removes: amortised O(1) per byte freed. Entry ids do not move, so nothing else
//!   changes. The entry and arena vectors grow by an eighth at a time, not by doubling.
//! - **Watchers** are interned into dense `u32` slots, so a watch on a path is one `u32`
//!   (slot and mode); a path's first watch sits inline in its entry, and only paths with
//!   two or more watchers get a spill list. Spill lists keep registration order: removal
//!   leaves a tombstone, and the list is compacted when tombstones outnumber live
//!   watches. Past 16 entries a spill list also gets a slot → position index, so adding
//!   or removing one of N watchers of a popular path stays O(1) (no quadratic fan-in).
//! - **Per watcher**, a `Vec<u32>` of entry ids, kept *lazily*: a watch that goes away
//!   through a trigger or `remove` leaves its id behind (stale), and an id may appear
//!   twice if its entry was freed and reused for another path this watcher then watched.
//!   A stale id is harmless: it is checked against the entry's own watch list, the source
//!   of truth. The list is filtered and deduplicated when it holds more than twice its
//!   live count (+8), so it stays O(live) and the work is amortised over the pushes that
//!   made it grow. Closing a watcher walks its list once: O(its watches). A watcher whose
//!   last watch goes loses its slot and list, and a table with no watch left drops its
//!   storage.
//!
//! Measured by `tests/watch_memory.rs` (1,000 watchers × 100 exists-watches on distinct
//! 26-byte paths, as the benchmark's (5) Memory): the table used to hold 210.4 B per watch
//! (256.5 B counting glibc's chunk overhead; process RSS grew 256.8 B per watch); it now
//! holds 57.8 B (57.9 B with chunk overhead; RSS growth 57.1 B), Apache ZooKeeper's
//! 329 B ÷ 5.7. Roughly: the path's 26 bytes and its 16-byte entry, each with up to an
//! eighth of growth slack (~47 B), the index slot at 7/8 load (~6.6 B), the watcher's
//! id list (4 B, ~5 B with slack); the watch itself is inline in the entry's head.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use foldhash::fast::{FixedState, RandomState};
use hashbrown::HashTable;
use zk_proto::EventType;

use crate::path::parent_of;

/// Who a watch notifies: the server's id for a client connection.
pub type WatcherId = u64;

/// The kind of a watch registration (`WatcherMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchMode {
    /// One-shot (getData/exists/getChildren with watch=true).
    Standard,
    /// addWatch PERSISTENT.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE.
    PersistentRecursive,
}

impl WatchMode {
    const fn bits(self) -> u32 {
        match self {
            WatchMode::Standard => 0,
            WatchMode::Persistent => 1,
            WatchMode::PersistentRecursive => 2,
        }
    }
}

/// Watcher slots are numbered below 2^29, so a [`Watch`] (slot << 2 | mode) stays below
/// 2^31 and an entry's `head` can use the top bit to mean "spilled". A slot stands for a
/// live client connection, so the bound is never near.
const MAX_SLOTS: usize = 1 << 29;

/// A spill list gets a slot → position index once it is longer than this.
const INDEX_FROM: usize = if cfg!(test) { 4 } else { 16 };

/// The arena is never rewritten for less garbage than this.
const COMPACT_MIN: usize = if cfg!(test) { 16 } else { 4096 };

/// A watcher's id list is filtered once longer than twice its live watches plus this.
const STALE_SLACK: usize = if cfg!(test) { 1 } else { 8 };

/// One watch on a path: the watcher's slot and the mode, packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch(u32);

impl Watch {
    /// A removed watch in a spill list (its slot, 2^30 - 1, is never a real one).
    const DEAD: Watch = Watch(u32::MAX);

    fn new(slot: u32, mode: WatchMode) -> Self {
        Watch(slot << 2 | mode.bits())
    }

    fn slot(self) -> u32 {
        self.0 >> 2
    }

    fn mode(self) -> WatchMode {
        match self.0 & 3 {
            0 => WatchMode::Standard,
            1 => WatchMode::Persistent,
            _ => WatchMode::PersistentRecursive,
        }
    }

    fn is_dead(self) -> bool {
        self == Self::DEAD
    }
}

/// `Entry::head` with this bit set holds a spill index.
const SPILLED: u32 = 1 << 31;
/// `Entry::head` of a free entry.
const FREE: u32 = u32::MAX;

/// A watched path: where its bytes are in the arena and who watches it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    off: u64,
    len: u32,
    /// A [`Watch`], `SPILLED | spill index`, or `FREE`.
    head: u32,
}

/// `Entry::head`, decoded.
enum Head {
    One(Watch),
    Spilled(usize),
    Free,
}

/// Where a watcher's watch sits in an entry.
#[derive(Debug, Clone, Copy)]
enum Pos {
    Head,
    At(usize),
}

fn slot_hash(slot: u32) -> u64 {
    FixedState::default().hash_one(slot)
}

/// The watches of a path with two or more watchers, in registration order.
#[derive(Debug, Clone, Default)]
struct Spill {
    /// Live watches and [`Watch::DEAD`] tombstones.
    items: Vec<Watch>,
    live: u32,
    /// Positions in `items` by slot, once `items` is longer than [`INDEX_FROM`].
    index: Option<HashTable<u32>>,
}

impl Spill {
    fn find(&self, slot: u32) -> Option<usize> {
        match &self.index {
            Some(ix) => ix
                .find(slot_hash(slot), |&i| self.items[i as usize].slot() == slot)
                .map(|&i| i as usize),
            None => self.items.iter().position(|w| w.slot() == slot),
        }
    }

    fn push(&mut self, w: Watch) {
        let i = self.items.len() as u32;
        self.items.push(w);
        self.live += 1;
        match &mut self.index {
            Some(ix) => {
                let items = &self.items;
                ix.insert_unique(slot_hash(w.slot()), i, |&j| {
                    slot_hash(items[j as usize].slot())
                });
            }
            None if self.items.len() > INDEX_FROM => self.rebuild_index(),
            None => {}
        }
    }

    /// Replaces the watch at `i` with a tombstone.
    fn kill(&mut self, i: usize) {
        let slot = self.items[i].slot();
        if let Some(ix) = &mut self.index {
            if let Ok(e) = ix.find_entry(slot_hash(slot), |&j| j as usize == i) {
                e.remove();
            }
        }
        self.items[i] = Watch::DEAD;
        self.live -= 1;
    }

    /// Drops the tombstones once they outnumber the live watches.
    fn tidy(&mut self) {
        let live = self.live as usize;
        if self.items.len() - live <= live {
            return;
        }
        self.items.retain(|w| !w.is_dead());
        if self.items.capacity() > 2 * self.items.len() + 8 {
            self.items.shrink_to_fit();
        }
        self.rebuild_index();
    }

    fn rebuild_index(&mut self) {
        if self.items.len() <= INDEX_FROM {
            self.index = None;
            return;
        }
        let mut ix = HashTable::with_capacity(self.live as usize);
        for (i, w) in self.items.iter().enumerate() {
            if !w.is_dead() {
                ix.insert_unique(slot_hash(w.slot()), i as u32, |&j: &u32| {
                    slot_hash(self.items[j as usize].slot())
                });
            }
        }
        self.index = Some(ix);
    }

    fn live(&self) -> impl Iterator<Item = Watch> + '_ {
        self.items.iter().copied().filter(|w| !w.is_dead())
    }
}

/// Grows `v` by an eighth (at least `min_step` elements) when `additional` more do not fit.
fn reserve_gently<T>(v: &mut Vec<T>, additional: usize, min_step: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional.max(v.len() / 8).max(min_step));
    }
}

/// The watched paths of a table and their watch lists.
#[derive(Debug, Clone, Default)]
struct Paths {
    entries: Vec<Entry>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: RandomState,
    arena: Vec<u8>,
    /// Bytes of the arena that belong to freed entries.
    garbage: usize,
    spills: Vec<Spill>,
    free_spills: Vec<u32>,
}

fn path_in<'a>(entries: &[Entry], arena: &'a [u8], id: u32) -> &'a [u8] {
    let e = &entries[id as usize];
    &arena[e.off as usize..][..e.len as usize]
}

impl Paths {
    fn path(&self, id: u32) -> &[u8] {
        path_in(&self.entries, &self.arena, id)
    }

    fn lookup(&self, p: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(p);
        self.index.find(h, |&id| self.path(id) == p).copied()
    }

    /// The entry's head; ids past the end (stale ones after a reset) read as free.
    fn head(&self, id: u32) -> Head {
        match self.entries.get(id as usize).map(|e| e.head) {
            None | Some(FREE) => Head::Free,
            Some(h) if h & SPILLED != 0 => Head::Spilled((h & !SPILLED) as usize),
            Some(h) => Head::One(Watch(h)),
        }
    }

    /// A new entry for `p` (not yet in the table) with one watch.
    fn insert(&mut self, p: &[u8], w: Watch) -> u32 {
        // A frame is at most i32::MAX bytes (jute.maxbuffer caps it far lower), so a
        // path's length always fits.
        assert!(p.len() <= i32::MAX as usize, "a path longer than any frame");
        let len = p.len() as u32;
        reserve_gently(&mut self.arena, p.len(), 1024);
        let off = self.arena.len() as u64;
        self.arena.extend_from_slice(p);
        let e = Entry {
            off,
            len,
            head: w.0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = e;
                id
            }
            None => {
                assert!(self.entries.len() < FREE as usize, "2^32 watched paths");
                reserve_gently(&mut self.entries, 1, 64);
                self.entries.push(e);
                (self.entries.len() - 1) as u32
            }
        };
        let (entries, arena, hasher) = (&self.entries, &self.arena, &self.hasher);
        self.index.insert_unique(hasher.hash_one(p), id, |&x| {
            hasher.hash_one(path_in(entries, arena, x))
        });
        id
    }

    fn free_entry(&mut self, id: u32) {
        let h = self.hasher.hash_one(self.path(id));
        if let Ok(e) = self.index.find_entry(h, |&x| x == id) {
            e.remove();
        }
        if self.index.is_empty() {
            self.reset();
            return;
        }
        let e = &mut self.entries[id as usize];
        self.garbage += e.len as usize;
        *e = Entry {
            off: 0,
            len: 0,
            head: FREE,
        };
        self.free.push(id);
        self.maybe_compact_arena();
    }

    /// Nothing is watched any more: drops the storage (keeping small allocations).
    fn reset(&mut self) {
        fn clear<T>(v: &mut Vec<T>) {
            v.clear();
            if v.capacity() > 1024 {
                *v = Vec::new();
            }
        }
        clear(&mut self.entries);
        clear(&mut self.free);
        clear(&mut self.arena);
        clear(&mut self.spills);
        clear(&mut self.free_spills);
        if self.index.capacity() > 1024 {
            self.index = HashTable::new();
        }
        self.garbage = 0;
    }

    fn maybe_compact_arena(&mut self) {
        let live = self.arena.len() - self.garbage;
        if self.garbage < COMPACT_MIN.max(live / 2).max(self.entries.len()) {
            return;
        }
        let mut arena = Vec::with_capacity(live + live / 8);
        for e in &mut self.entries {
            if e.head != FREE {
                let start = arena.len() as u64;
                arena.extend_from_slice(&self.arena[e.off as usize..][..e.len as usize]);
                e.off = start;
            }
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// Where `slot`'s watch is on entry `id`, and the watch.
    fn find(&self, id: u32, slot: u32) -> Option<(Pos, Watch)> {
        match self.head(id) {
            Head::One(w) if w.slot() == slot => Some((Pos::Head, w)),
            Head::One(_) | Head::Free => None,
            Head::Spilled(s) => {
                let sp = &self.spills[s];
                sp.find(slot).map(|i| (Pos::At(i), sp.items[i]))
            }
        }
    }

    /// Replaces the watch at `pos` (same slot, new mode), keeping its place.
    fn set(&mut self, id: u32, pos: Pos, w: Watch) {
        match (pos, self.head(id)) {
            (Pos::Head, _) => self.entries[id as usize].head = w.0,
            (Pos::At(i), Head::Spilled(s)) => self.spills[s].items[i] = w,
            (Pos::At(_), _) => unreachable!("a spill position on an unspilled entry"),
        }
    }

    /// Adds a watch (of a slot not yet there) at the end of live entry `id`.
    fn append(&mut self, id: u32, w: Watch) {
        match self.head(id) {
            Head::One(first) => {
                let mut sp = Spill::default();
                sp.push(first);
                sp.push(w);
                let s = match self.free_spills.pop() {
                    Some(s) => {
                        self.spills[s as usize] = sp;
                        s
                    }
                    None => {
                        assert!(self.spills.len() < (SPILLED - 1) as usize, "2^31 spills");
                        self.spills.push(sp);
                        (self.spills.len() - 1) as u32
                    }
                };
                self.entries[id as usize].head = SPILLED | s;
            }
            Head::Spilled(s) => self.spills[s].push(w),
            Head::Free => unreachable!("appending to a free entry"),
        }
    }

    /// Removes the watch at `pos`, freeing the entry if it was the last one.
    fn detach(&mut self, id: u32, pos: Pos) {
        match (pos, self.head(id)) {
            (Pos::Head, _) => self.free_entry(id),
            (Pos::At(i), Head::Spilled(s)) => {
                self.spills[s].kill(i);
                self.settle(id);
            }
            (Pos::At(_), _) => unreachable!("a spill position on an unspilled entry"),
        }
    }

    /// After watches of spilled entry `id` were killed: frees the entry when none is
    /// left, moves a lone survivor back inline, or tidies the list.
    fn settle(&mut self, id: u32) {
        let Head::Spilled(s) = self.head(id) else {
            return;
        };
        let sp = &mut self.spills[s];
        match sp.live {
            0 => {
                self.free_spill(s);
                self.free_entry(id);
            }
            1 => {
                let w = sp.live().next().unwrap_or(Watch::DEAD);
                self.free_spill(s);
                self.entries[id as usize].head = w.0;
            }
            _ => sp.tidy(),
        }
    }

    fn free_spill(&mut self, s: usize) {
        self.spills[s] = Spill::default();
        self.free_spills.push(s as u32);
    }

    /// The live watches of entry `id`, in registration order.
    fn watches(&self, id: u32) -> impl Iterator<Item = Watch> + '_ {
        let (one, many): (Option<Watch>, &[Watch]) = match self.head(id) {
            Head::One(w) => (Some(w), &[]),
            Head::Spilled(s) => (None, &self.spills[s].items),
            Head::Free => (None, &[]),
        };
        one.into_iter()
            .chain(many.iter().copied().filter(|w| !w.is_dead()))
    }
}

/// One watcher (client connection) of a table.
#[derive(Debug, Clone, Default)]
struct Slot {
    id: WatcherId,
    /// Entry ids of its watches, possibly stale or repeated (see the module doc).
    paths: Vec<u32>,
    /// Its watches in this table.
    live: u32,
}

/// The watchers of a table, interned into dense slots.
#[derive(Debug, Clone, Default)]
struct Watchers {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_id: HashMap<WatcherId, u32, RandomState>,
}

impl Watchers {
    fn get(&self, w: WatcherId) -> Option<u32> {
        self.by_id.get(&w).copied()
    }

    fn id_of(&self, slot: u32) -> WatcherId {
        self.slots[slot as usize].id
    }

    fn get_or_insert(&mut self, w: WatcherId) -> u32 {
        if let Some(s) = self.get(w) {
            return s;
        }
        let slot = Slot {
            id: w,
            paths: Vec::new(),
            live: 0,
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                assert!(self.slots.len() < MAX_SLOTS, "2^29 watchers at once");
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(w, s);
        s
    }

    /// Records a new watch of `slot` on entry `id`.
    fn added(&mut self, slot: u32, id: u32, paths: &Paths) {
        let sl = &mut self.slots[slot as usize];
        sl.live += 1;
        sl.paths.push(id);
        if sl.paths.len() > 2 * sl.live as usize + STALE_SLACK {
            sl.paths.retain(|&id| paths.find(id, slot).is_some());
            sl.paths.sort_unstable();
            sl.paths.dedup();
            debug_assert_eq!(sl.paths.len(), sl.live as usize);
        }
    }

    /// One watch of `slot` is gone; forgets the watcher with its last one.
    fn release(&mut self, slot: u32) {
        let sl = &mut self.slots[slot as usize];
        sl.live -= 1;
        if sl.live == 0 {
            self.free_slot(slot);
        }
    }

    fn free_slot(&mut self, slot: u32) {
        let sl = std::mem::take(&mut self.slots[slot as usize]);
        self.by_id.remove(&sl.id);
        self.free.push(slot);
        if self.by_id.is_empty() {
            self.slots.clear();
            self.free.clear();
        }
    }
}

/// One table (data or child).
#[derive(Debug, Default, Clone)]
pub struct WatchTable {
    paths: Paths,
    watchers: Watchers,
    /// Number of (watcher, path) registrations.
    watches: usize,
    /// Number of persistent-recursive registrations.
    recursive: usize,
}

impl WatchTable {
    /// Registers `watcher` on `path` with `mode`, replacing any mode it had there (keeping
    /// its place among the path's watchers). True if the path was new for this watcher.
    /// The table keeps its own copy of `path`.
    pub fn add(&mut self, path: &[u8], watcher: WatcherId, mode: WatchMode) -> bool {
        let slot = self.watchers.get_or_insert(watcher);
        let w = Watch::new(slot, mode);
        let id = match self.paths.lookup(path) {
            Some(id) => {
                if let Some((pos, old)) = self.paths.find(id, slot) {
                    self.paths.set(id, pos, w);
                    let was = old.mode() == WatchMode::PersistentRecursive;
                    let is = mode == WatchMode::PersistentRecursive;
                    if was && !is {
                        self.recursive -= 1;
                    } else if is && !was {
                        self.recursive += 1;
                    }
                    return false;
                }
                self.paths.append(id, w);
                id
            }
            None => self.paths.insert(path, w),
        };
        self.watchers.added(slot, id, &self.paths);
        self.watches += 1;
        if mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
        true
    }

    /// `containsWatcher` as 3.8 implements it: true when *any* watcher watches `path`, or
    /// `watcher` holds a recursive watch there.
    pub fn contains(&self, path: &[u8], watcher: WatcherId) -> bool {
        self.paths.lookup(path).is_some()
            || self.mode_of(path, watcher) == Some(WatchMode::PersistentRecursive)
    }

    /// The mode `watcher` holds on `path`.
    pub fn mode_of(&self, path: &[u8], watcher: WatcherId) -> Option<WatchMode> {
        let slot = self.watchers.get(watcher)?;
        let id = self.paths.lookup(path)?;
        self.paths.find(id, slot).map(|(_, w)| w.mode())
    }

    /// Removes the watch `watcher` holds on `path`; true if there was one.
    pub fn remove(&mut self, path: &[u8], watcher: WatcherId) -> bool {
        let Some(slot) = self.watchers.get(watcher) else {
            return false;
        };
        let Some(id) = self.paths.lookup(path) else {
            return false;
        };
        let Some((pos, w)) = self.paths.find(id, slot) else {
            return false;
        };
        self.paths.detach(id, pos);
        self.watches -= 1;
        if w.mode() == WatchMode::PersistentRecursive {
            self.recursive -= 1;
        }
        self.watchers.release(slot);
        true
    }

    /// Forgets a watcher entirely (its connection closed). Linear in its watches.
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(slot) = self.watchers.get(watcher) else {
            return;
        };
        let ids = std::mem::take(&mut self.watchers.slots[slot as usize].paths);
        for id in ids {
            if let Some((pos, w)) = self.paths.find(id, slot) {
                self.paths.detach(id, pos);
                self.watches -= 1;
                if w.mode() == WatchMode::PersistentRecursive {
                    self.recursive -= 1;
                }
            }
        }
        self.watchers.free_slot(slot);
    }

    /// The watchers an event of `kind` at `path` reaches, consuming one-shot watches.
    /// Appends to `out`, each watcher at most once; linear in the number of watchers.
    pub fn trigger(&mut self, path: &[u8], kind: EventType, out: &mut Vec<WatcherId>) {
        let start = out.len();
        self.fire_exact(path, kind, out);
        if self.recursive == 0 || kind == EventType::NodeChildrenChanged {
            return;
        }
        let mut seen: HashSet<WatcherId, RandomState> = out[start..].iter().copied().collect();
        let mut p: &[u8] = path;
        while let Some(parent) = parent_of(p) {
            if let Some(id) = self.paths.lookup(parent) {
                for w in self.paths.watches(id) {
                    let wid = self.watchers.id_of(w.slot());
                    if w.mode() == WatchMode::PersistentRecursive && seen.insert(wid) {
                        out.push(wid);
                    }
                }
            }
            p = parent;
        }
    }

    fn fire_exact(&mut self, path: &[u8], kind: EventType, out: &mut Vec<WatcherId>) {
        let Some(id) = self.paths.lookup(path) else {
            return;
        };
        // A recursive watch is told everything but NodeChildrenChanged; every watch
        // stays but a one-shot one.
        let told = |w: Watch| {
            w.mode() != WatchMode::PersistentRecursive || kind != EventType::NodeChildrenChanged
        };
        match self.paths.head(id) {
            Head::Free => {}
            Head::One(w) => {
                if told(w) {
                    out.push(self.watchers.id_of(w.slot()));
                }
                if w.mode() == WatchMode::Standard {
                    self.paths.free_entry(id);
                    self.watches -= 1;
                    self.watchers.release(w.slot());
                }
            }
            Head::Spilled(s) => {
                let sp = &mut self.paths.spills[s];
                let mut consumed = false;
                for i in 0..sp.items.len() {
                    let w = sp.items[i];
                    if w.is_dead() {
                        continue;
                    }
                    if told(w) {
                        out.push(self.watchers.id_of(w.slot()));
                    }
                    if w.mode() == WatchMode::Standard {
                        sp.kill(i);
                        self.watches -= 1;
                        self.watchers.release(w.slot());
                        consumed = true;
                    }
                }
                if consumed {
                    self.paths.settle(id);
                }
            }
        }
    }

    /// Number of (watcher, path) registrations.
    pub fn len(&self) -> usize {
        self.watches
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.watches == 0
    }

    /// Number of distinct watched paths.
    pub fn path_count(&self) -> usize {
        self.paths.index.len()
    }

    /// Number of distinct watchers.
    pub fn watcher_count(&self) -> usize {
        self.watchers.by_id.len()
    }

    /// Paths watched by each watcher (for `wchc`), each once, in no particular order.
    pub fn by_watcher(
        &self,
    ) -> impl Iterator<Item = (WatcherId, impl Iterator<Item = &[u8]> + '_)> + '_ {
        self.watchers.by_id.iter().map(move |(&w, &slot)| {
            let mut ids: Vec<u32> = self.watchers.slots[slot as usize]
                .paths
                .iter()
                .copied()
                .filter(|&id| self.paths.find(id, slot).is_some())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            (w, ids.into_iter().map(move |id| self.paths.path(id)))
        })
    }

    /// Watchers of each path (for `wchp`), a path's watchers in registration order.
    pub fn by_path(
        &self,
    ) -> impl Iterator<Item = (&[u8], impl Iterator<Item = WatcherId> + '_)> + '_ {
        self.paths.index.iter().map(move |&id| {
            (
                self.paths.path(id),
                self.paths
                    .watches(id)
                    .map(move |w| self.watchers.id_of(w.slot())),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> &[u8] {
        s.as_bytes()
    }

    const DATA: EventType = EventType::NodeDataChanged;

    #[test]
    fn standard_watches_fire_once() {
        let mut t = WatchTable::default();
        assert!(t.add(b("/a"), 1, WatchMode::Standard));
        assert!(!t.add(b("/a"), 1, WatchMode::Standard));
        let mut out = vec![];
        t.trigger(b("/a"), DATA, &mut out);
        assert_eq!(out, vec![1]);
        out.clear();
        t.trigger(b("/a"), DATA, &mut out);
        assert!(out.is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn persistent_watches_stay_and_recursive_ones_see_descendants() {
        let mut t = WatchTable::default();
        t.add(b("/a"), 1, WatchMode::Persistent);
        t.add(b("/a"), 2, WatchMode::PersistentRecursive);
        t.add(b("/a"), 3, WatchMode::Standard);
        let mut out = vec![];
        t.trigger(b("/a/b/c"), DATA, &mut out);
        assert_eq!(out, vec![2]);
        out.clear();
        t.trigger(b("/a"), DATA, &mut out);
        out.sort();
        assert_eq!(out, vec![1, 2, 3]);
        out.clear();
        t.trigger(b("/a"), DATA, &mut out);
        out.sort();
        assert_eq!(out, vec![1, 2]);
        out.clear();
        t.trigger(b("/a"), EventType::NodeChildrenChanged, &mut out);
        assert_eq!(
            out,
            vec![1],
            "recursive watches never get NodeChildrenChanged"
        );
    }

    #[test]
    fn last_registration_wins_as_in_3_8() {
        let mut t = WatchTable::default();
        t.add(b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(b("/a"), 1, WatchMode::Standard);
        assert_eq!(t.recursive, 0);
        let mut out = vec![];
        t.trigger(b("/a/x"), DATA, &mut out);
        assert!(out.is_empty());
        t.trigger(b("/a"), DATA, &mut out);
        t.trigger(b("/a"), DATA, &mut out);
        assert_eq!(out, vec![1], "the persistent watch became a one-shot one");
    }

    #[test]
    fn a_watcher_is_notified_once_per_event() {
        let mut t = WatchTable::default();
        t.add(b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(b("/a/b"), 1, WatchMode::PersistentRecursive);
        t.add(b("/"), 1, WatchMode::PersistentRecursive);
        let mut out = vec![];
        t.trigger(b("/a/b"), DATA, &mut out);
        assert_eq!(out, vec![1]);
    }

    #[test]
    fn remove_watcher_forgets_everything() {
        let mut t = WatchTable::default();
        t.add(b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(b("/b"), 1, WatchMode::Standard);
        t.add(b("/b"), 2, WatchMode::Standard);
        t.remove_watcher(1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.recursive, 0);
        let mut out = vec![];
        t.trigger(b("/a/x"), DATA, &mut out);
        t.trigger(b("/b"), DATA, &mut out);
        assert_eq!(out, vec![2]);
        assert!(!t.remove(b"/b", 2));
    }

    #[test]
    fn a_popular_path_reports_its_watchers_in_registration_order() {
        let mut t = WatchTable::default();
        for w in 0..1000 {
            t.add(b("/fan"), w, WatchMode::Standard);
        }
        // Removals and a mode change (which keeps the place) in the middle.
        for w in (0..1000).step_by(3) {
            assert!(t.remove(b("/fan"), w));
        }
        assert!(!t.add(b("/fan"), 500, WatchMode::Persistent));
        assert!(t.add(b("/fan"), 0, WatchMode::Standard));
        let mut out = vec![];
        t.trigger(b("/fan"), DATA, &mut out);
        let mut want: Vec<u64> = (0..1000).filter(|w| w % 3 != 0).collect();
        want.push(0);
        assert_eq!(out, want);
        assert_eq!(t.len(), 1, "only the persistent watch of 500 is left");
        assert_eq!(t.mode_of(b("/fan"), 500), Some(WatchMode::Persistent));
        assert_eq!(t.watcher_count(), 1);
    }

    #[test]
    fn stale_ids_of_consumed_watches_do_not_pile_up() {
        let mut t = WatchTable::default();
        t.add(b("/keep"), 7, WatchMode::Persistent);
        let mut out = vec![];
        for i in 0..10_000 {
            let p = format!("/n{}", i % 37);
            t.add(p.as_bytes(), 7, WatchMode::Standard);
            t.trigger(p.as_bytes(), DATA, &mut out);
        }
        assert_eq!(out.len(), 10_000);
        let slot = t.watchers.get(7).unwrap();
        let kept = t.watchers.slots[slot as usize].paths.len();
        assert!(
            kept <= 2 * 2 + STALE_SLACK,
            "{kept} ids kept for 1 live watch"
        );
        assert_eq!(t.len(), 1);
        assert!(
            t.paths.arena.len() < 1024,
            "arena of {} bytes for one 5-byte path",
            t.paths.arena.len()
        );
    }

    #[test]
    fn paths_are_owned_copies() {
        let mut t = WatchTable::default();
        let frame = bytes::Bytes::from(vec![b'x'; 4096]);
        let mut buf = frame.to_vec();
        buf[..3].copy_from_slice(b"/ab");
        let path = bytes::Bytes::from(buf).slice(0..3);
        t.add(&path, 1, WatchMode::Standard);
        assert!(
            path.is_unique(),
            "the table holds no reference to the frame"
        );
        assert!(t.contains(b"/ab", 1));
    }

    /// The table as it was before the compact layout (HashMap of paths, HashMap per
    /// watcher): the reference the compact one must agree with, order included.
    #[derive(Debug, Default)]
    struct Model {
        by_path: HashMap<Vec<u8>, Vec<WatcherId>>,
        by_watcher: HashMap<WatcherId, HashMap<Vec<u8>, WatchMode>>,
        recursive: usize,
    }

    impl Model {
        fn add(&mut self, path: &[u8], watcher: WatcherId, mode: WatchMode) -> bool {
            let old = self
                .by_watcher
                .entry(watcher)
                .or_default()
                .insert(path.to_vec(), mode);
            let was = old == Some(WatchMode::PersistentRecursive);
            let is = mode == WatchMode::PersistentRecursive;
            if was && !is {
                self.recursive -= 1;
            } else if is && !was {
                self.recursive += 1;
            }
            if old.is_none() {
                self.by_path.entry(path.to_vec()).or_default().push(watcher);
            }
            old.is_none()
        }

        fn mode_of(&self, path: &[u8], watcher: WatcherId) -> Option<WatchMode> {
            self.by_watcher.get(&watcher)?.get(path).copied()
        }

        fn contains(&self, path: &[u8], watcher: WatcherId) -> bool {
            self.by_path.contains_key(path)
                || self.mode_of(path, watcher) == Some(WatchMode::PersistentRecursive)
        }

        fn unlink(&mut self, path: &[u8], watcher: WatcherId) {
            if let Some(list) = self.by_path.get_mut(path) {
                list.retain(|w| *w != watcher);
                if list.is_empty() {
                    self.by_path.remove(path);
                }
            }
        }

        fn remove(&mut self, path: &[u8], watcher: WatcherId) -> bool {
            let Some(paths) = self.by_watcher.get_mut(&watcher) else {
                return false;
            };
            let Some(mode) = paths.remove(path) else {
                return false;
            };
            if paths.is_empty() {
                self.by_watcher.remove(&watcher);
            }
            if mode == WatchMode::PersistentRecursive {
                self.recursive -= 1;
            }
            self.unlink(path, watcher);
            true
        }

        fn remove_watcher(&mut self, watcher: WatcherId) {
            for (p, mode) in self.by_watcher.remove(&watcher).unwrap_or_default() {
                if mode == WatchMode::PersistentRecursive {
                    self.recursive -= 1;
                }
                self.unlink(&p, watcher);
            }
        }

        fn trigger(&mut self, path: &[u8], kind: EventType, out: &mut Vec<WatcherId>) {
            let start = out.len();
            for w in self.by_path.get(path).cloned().unwrap_or_default() {
                match self.mode_of(path, w) {
                    Some(WatchMode::PersistentRecursive) => {
                        if kind != EventType::NodeChildrenChanged {
                            out.push(w);
                        }
                    }
                    Some(WatchMode::Persistent) => out.push(w),
                    _ => {
                        out.push(w);
                        self.remove(path, w);
                    }
                }
            }
            if self.recursive == 0 || kind == EventType::NodeChildrenChanged {
                return;
            }
            let mut seen: HashSet<WatcherId> = out[start..].iter().copied().collect();
            let mut p = path;
            while let Some(parent) = parent_of(p) {
                for &w in self.by_path.get(parent).into_iter().flatten() {
                    if self.mode_of(parent, w) == Some(WatchMode::PersistentRecursive)
                        && seen.insert(w)
                    {
                        out.push(w);
                    }
                }
                p = parent;
            }
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        const PATHS: &[&str] = &[
            "/",
            "/a",
            "/a/b",
            "/a/b/c",
            "/a/bc",
            "/b",
            "/zkbench/k/p00000/n0000123",
        ];
        const WATCHERS: u64 = 12;
        const KINDS: &[EventType] = &[
            EventType::NodeCreated,
            EventType::NodeDeleted,
            EventType::NodeDataChanged,
            EventType::NodeChildrenChanged,
        ];
        const MODES: &[WatchMode] = &[
            WatchMode::Standard,
            WatchMode::Persistent,
            WatchMode::PersistentRecursive,
        ];

        #[derive(Debug, Clone)]
        enum Op {
            Add(usize, u64, usize),
            Remove(usize, u64),
            RemoveWatcher(u64),
            Trigger(usize, usize),
        }

        fn op(watchers: u64) -> impl Strategy<Value = Op> {
            let p = 0..PATHS.len();
            let w = 0..watchers;
            prop_oneof![
                6 => (p.clone(), w.clone(), 0..MODES.len()).prop_map(|(p, w, m)| Op::Add(p, w, m)),
                2 => (p.clone(), w.clone()).prop_map(|(p, w)| Op::Remove(p, w)),
                1 => w.prop_map(Op::RemoveWatcher),
                3 => (p, 0..KINDS.len()).prop_map(|(p, k)| Op::Trigger(p, k)),
            ]
        }

        fn same(t: &WatchTable, m: &Model) -> Result<(), TestCaseError> {
            prop_assert_eq!(
                t.len(),
                m.by_watcher.values().map(|p| p.len()).sum::<usize>()
            );
            prop_assert_eq!(t.is_empty(), m.by_watcher.is_empty());
            prop_assert_eq!(t.path_count(), m.by_path.len());
            prop_assert_eq!(t.watcher_count(), m.by_watcher.len());
            prop_assert_eq!(t.recursive, m.recursive);
            for p in PATHS {
                for w in 0..WATCHERS {
                    prop_assert_eq!(t.mode_of(b(p), w), m.mode_of(b(p), w));
                    prop_assert_eq!(t.contains(b(p), w), m.contains(b(p), w));
                }
            }
            let by_path: HashMap<Vec<u8>, Vec<WatcherId>> = t
                .by_path()
                .map(|(p, ws)| (p.to_vec(), ws.collect()))
                .collect();
            prop_assert_eq!(&by_path, &m.by_path);
            let by_watcher: HashMap<WatcherId, Vec<Vec<u8>>> = t
                .by_watcher()
                .map(|(w, ps)| {
                    let mut ps: Vec<Vec<u8>> = ps.map(|p| p.to_vec()).collect();
                    ps.sort();
                    (w, ps)
                })
                .collect();
            let want: HashMap<WatcherId, Vec<Vec<u8>>> = m
                .by_watcher
                .iter()
                .map(|(w, ps)| {
                    let mut ps: Vec<Vec<u8>> = ps.keys().cloned().collect();
                    ps.sort();
                    (*w, ps)
                })
                .collect();
            prop_assert_eq!(by_watcher, want);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(192))]

            #[test]
            fn agrees_with_the_hashmap_model(ops in proptest::collection::vec(op(WATCHERS), 1..400)) {
                run(ops)?;
            }

            #[test]
            fn agrees_with_the_hashmap_model_with_few_watchers(
                ops in proptest::collection::vec(op(3), 1..200)
            ) {
                run(ops)?;
            }
        }

        fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
            let mut t = WatchTable::default();
            let mut m = Model::default();
            for op in ops {
                match op {
                    Op::Add(p, w, mode) => {
                        let (p, mode) = (b(PATHS[p]), MODES[mode]);
                        prop_assert_eq!(t.add(p, w, mode), m.add(p, w, mode));
                    }
                    Op::Remove(p, w) => {
                        prop_assert_eq!(t.remove(b(PATHS[p]), w), m.remove(b(PATHS[p]), w));
                    }
                    Op::RemoveWatcher(w) => {
                        t.remove_watcher(w);
                        m.remove_watcher(w);
                    }
                    Op::Trigger(p, k) => {
                        let (mut got, mut want) = (vec![], vec![]);
                        t.trigger(b(PATHS[p]), KINDS[k], &mut got);
                        m.trigger(b(PATHS[p]), KINDS[k], &mut want);
                        prop_assert_eq!(got, want);
                    }
                }
                same(&t, &m)?;
            }
            Ok(())
        }
    }
}
