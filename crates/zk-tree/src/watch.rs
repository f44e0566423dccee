//! Watch registry with Apache ZooKeeper 3.8.0's semantics (`WatchManager` +
//! `WatcherModeManager`): one table for data/exist watches and one for child watches; in
//! each, a watcher holds at most one mode per path, and the last registration wins (a
//! one-shot registration on a path with a persistent watch turns it back into a one-shot
//! watch, as 3.8 does).
//!
//! Trigger rules (3.8 `triggerWatch`): a persistent-recursive watch on the event's path or
//! any ancestor fires for every event except NodeChildrenChanged and stays; other watches
//! fire only at the event's own path, one-shot ones being consumed. Ancestors are walked
//! only while some recursive watch exists.

use std::collections::HashMap;

use bytes::Bytes;
use foldhash::fast::RandomState;
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

/// One table (data or child).
#[derive(Debug, Default, Clone)]
pub struct WatchTable {
    by_path: HashMap<Bytes, Vec<WatcherId>, RandomState>,
    by_watcher: HashMap<WatcherId, HashMap<Bytes, WatchMode, RandomState>, RandomState>,
    recursive: usize,
}

impl WatchTable {
    /// Registers `watcher` on `path` with `mode`, replacing any mode it had there. True if
    /// the path was new for this watcher.
    pub fn add(&mut self, path: &Bytes, watcher: WatcherId, mode: WatchMode) -> bool {
        let paths = self.by_watcher.entry(watcher).or_default();
        let old = paths.insert(path.clone(), mode);
        match old {
            Some(WatchMode::PersistentRecursive) if mode != WatchMode::PersistentRecursive => {
                self.recursive -= 1
            }
            Some(WatchMode::PersistentRecursive) => {}
            _ if mode == WatchMode::PersistentRecursive => self.recursive += 1,
            _ => {}
        }
        if old.is_none() {
            self.by_path.entry(path.clone()).or_default().push(watcher);
        }
        old.is_none()
    }

    /// `containsWatcher` as 3.8 implements it: true when *any* watcher watches `path`, or
    /// `watcher` holds a recursive watch there.
    pub fn contains(&self, path: &[u8], watcher: WatcherId) -> bool {
        self.by_path.contains_key(path)
            || self.mode_of(path, watcher) == Some(WatchMode::PersistentRecursive)
    }

    /// The mode `watcher` holds on `path`.
    pub fn mode_of(&self, path: &[u8], watcher: WatcherId) -> Option<WatchMode> {
        self.by_watcher
            .get(&watcher)
            .and_then(|p| p.get(path))
            .copied()
    }

    /// Removes the watch `watcher` holds on `path`; true if there was one.
    pub fn remove(&mut self, path: &[u8], watcher: WatcherId) -> bool {
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
        if let Some(list) = self.by_path.get_mut(path) {
            list.retain(|w| *w != watcher);
            if list.is_empty() {
                self.by_path.remove(path);
            }
        }
        true
    }

    /// Forgets a watcher entirely (its connection closed).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&watcher) else {
            return;
        };
        for (p, mode) in paths {
            if mode == WatchMode::PersistentRecursive {
                self.recursive -= 1;
            }
            if let Some(list) = self.by_path.get_mut(&p) {
                list.retain(|w| *w != watcher);
                if list.is_empty() {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    /// The watchers an event of `kind` at `path` reaches, consuming one-shot watches.
    /// Appends to `out`, each watcher at most once; linear in the number of watchers.
    pub fn trigger(&mut self, path: &Bytes, kind: EventType, out: &mut Vec<WatcherId>) {
        let start = out.len();
        self.fire_exact(path, kind, out);
        if self.recursive == 0 || kind == EventType::NodeChildrenChanged {
            return;
        }
        let mut seen: std::collections::HashSet<WatcherId, RandomState> =
            out[start..].iter().copied().collect();
        let mut p: &[u8] = path;
        while let Some(parent) = parent_of(p) {
            if let Some(list) = self.by_path.get(parent) {
                for &w in list {
                    if self.mode_of(parent, w) == Some(WatchMode::PersistentRecursive)
                        && seen.insert(w)
                    {
                        out.push(w);
                    }
                }
            }
            p = parent;
        }
    }

    fn fire_exact(&mut self, path: &Bytes, kind: EventType, out: &mut Vec<WatcherId>) {
        let Some(list) = self.by_path.get_mut(path.as_ref()) else {
            return;
        };
        let by_watcher = &mut self.by_watcher;
        list.retain(|&w| {
            let Some(paths) = by_watcher.get_mut(&w) else {
                return false;
            };
            match paths
                .get(path.as_ref())
                .copied()
                .unwrap_or(WatchMode::Standard)
            {
                WatchMode::PersistentRecursive => {
                    if kind != EventType::NodeChildrenChanged {
                        out.push(w);
                    }
                    true
                }
                WatchMode::Persistent => {
                    out.push(w);
                    true
                }
                WatchMode::Standard => {
                    out.push(w);
                    paths.remove(path.as_ref());
                    if paths.is_empty() {
                        by_watcher.remove(&w);
                    }
                    false
                }
            }
        });
        if list.is_empty() {
            self.by_path.remove(path.as_ref());
        }
    }

    /// Number of (watcher, path) registrations.
    pub fn len(&self) -> usize {
        self.by_watcher.values().map(|p| p.len()).sum()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.by_watcher.is_empty()
    }

    /// Number of distinct watched paths.
    pub fn path_count(&self) -> usize {
        self.by_path.len()
    }

    /// Number of distinct watchers.
    pub fn watcher_count(&self) -> usize {
        self.by_watcher.len()
    }

    /// Paths watched by each watcher (for `wchc`).
    pub fn by_watcher(&self) -> impl Iterator<Item = (WatcherId, impl Iterator<Item = &Bytes>)> {
        self.by_watcher.iter().map(|(w, p)| (*w, p.keys()))
    }

    /// Watchers of each path (for `wchp`).
    pub fn by_path(&self) -> impl Iterator<Item = (&Bytes, &[WatcherId])> {
        self.by_path.iter().map(|(p, w)| (p, w.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    const DATA: EventType = EventType::NodeDataChanged;

    #[test]
    fn standard_watches_fire_once() {
        let mut t = WatchTable::default();
        assert!(t.add(&b("/a"), 1, WatchMode::Standard));
        assert!(!t.add(&b("/a"), 1, WatchMode::Standard));
        let mut out = vec![];
        t.trigger(&b("/a"), DATA, &mut out);
        assert_eq!(out, vec![1]);
        out.clear();
        t.trigger(&b("/a"), DATA, &mut out);
        assert!(out.is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn persistent_watches_stay_and_recursive_ones_see_descendants() {
        let mut t = WatchTable::default();
        t.add(&b("/a"), 1, WatchMode::Persistent);
        t.add(&b("/a"), 2, WatchMode::PersistentRecursive);
        t.add(&b("/a"), 3, WatchMode::Standard);
        let mut out = vec![];
        t.trigger(&b("/a/b/c"), DATA, &mut out);
        assert_eq!(out, vec![2]);
        out.clear();
        t.trigger(&b("/a"), DATA, &mut out);
        out.sort();
        assert_eq!(out, vec![1, 2, 3]);
        out.clear();
        t.trigger(&b("/a"), DATA, &mut out);
        out.sort();
        assert_eq!(out, vec![1, 2]);
        out.clear();
        t.trigger(&b("/a"), EventType::NodeChildrenChanged, &mut out);
        assert_eq!(
            out,
            vec![1],
            "recursive watches never get NodeChildrenChanged"
        );
    }

    #[test]
    fn last_registration_wins_as_in_3_8() {
        let mut t = WatchTable::default();
        t.add(&b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(&b("/a"), 1, WatchMode::Standard);
        assert_eq!(t.recursive, 0);
        let mut out = vec![];
        t.trigger(&b("/a/x"), DATA, &mut out);
        assert!(out.is_empty());
        t.trigger(&b("/a"), DATA, &mut out);
        t.trigger(&b("/a"), DATA, &mut out);
        assert_eq!(out, vec![1], "the persistent watch became a one-shot one");
    }

    #[test]
    fn a_watcher_is_notified_once_per_event() {
        let mut t = WatchTable::default();
        t.add(&b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(&b("/a/b"), 1, WatchMode::PersistentRecursive);
        t.add(&b("/"), 1, WatchMode::PersistentRecursive);
        let mut out = vec![];
        t.trigger(&b("/a/b"), DATA, &mut out);
        assert_eq!(out, vec![1]);
    }

    #[test]
    fn remove_watcher_forgets_everything() {
        let mut t = WatchTable::default();
        t.add(&b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(&b("/b"), 1, WatchMode::Standard);
        t.add(&b("/b"), 2, WatchMode::Standard);
        t.remove_watcher(1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.recursive, 0);
        let mut out = vec![];
        t.trigger(&b("/a/x"), DATA, &mut out);
        t.trigger(&b("/b"), DATA, &mut out);
        assert_eq!(out, vec![2]);
        assert!(!t.remove(b"/b", 2));
    }
}
