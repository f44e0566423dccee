//! Watch registry, as Apache ZooKeeper's `WatchManager`: one table for data/exist watches
//! and one for child watches, each mapping a path to its watchers and a watcher to its
//! paths with the modes it holds there.
//!
//! Trigger rules (`WatchManager.triggerWatch`): at the event's own path every mode fires and
//! a standard (one-shot) watch is consumed; at each ancestor only persistent-recursive
//! watches fire. Ancestors are only walked while some recursive watch exists.

use std::collections::HashMap;

use bytes::Bytes;
use foldhash::fast::RandomState;

use crate::path::parent_of;

/// Who a watch notifies: the server's id for a client connection.
pub type WatcherId = u64;

/// The kind of a watch registration.
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
    const fn bit(self) -> u8 {
        match self {
            WatchMode::Standard => 1,
            WatchMode::Persistent => 2,
            WatchMode::PersistentRecursive => 4,
        }
    }
}

/// One table (data or child).
#[derive(Debug, Default, Clone)]
pub struct WatchTable {
    by_path: HashMap<Bytes, Vec<WatcherId>, RandomState>,
    by_watcher: HashMap<WatcherId, HashMap<Bytes, u8, RandomState>, RandomState>,
    recursive: usize,
}

impl WatchTable {
    /// Registers `watcher` on `path` with `mode`; false if it already had that mode there.
    pub fn add(&mut self, path: &Bytes, watcher: WatcherId, mode: WatchMode) -> bool {
        let paths = self.by_watcher.entry(watcher).or_default();
        let bits = paths.entry(path.clone()).or_insert(0);
        if *bits & mode.bit() != 0 {
            return false;
        }
        let was_new = *bits == 0;
        *bits |= mode.bit();
        if mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
        if was_new {
            self.by_path.entry(path.clone()).or_default().push(watcher);
        }
        true
    }

    /// True if `watcher` holds any watch on `path` (`containsWatcher`).
    pub fn contains(&self, path: &[u8], watcher: WatcherId) -> bool {
        self.by_watcher
            .get(&watcher)
            .is_some_and(|p| p.contains_key(path))
    }

    /// True if `watcher` holds a watch of `mode` on `path`.
    pub fn contains_mode(&self, path: &[u8], watcher: WatcherId, mode: WatchMode) -> bool {
        self.by_watcher
            .get(&watcher)
            .and_then(|p| p.get(path))
            .is_some_and(|b| b & mode.bit() != 0)
    }

    /// Removes every watch `watcher` holds on `path`; true if there was one.
    pub fn remove(&mut self, path: &[u8], watcher: WatcherId) -> bool {
        let Some(paths) = self.by_watcher.get_mut(&watcher) else {
            return false;
        };
        let Some(bits) = paths.remove(path) else {
            return false;
        };
        if paths.is_empty() {
            self.by_watcher.remove(&watcher);
        }
        if bits & WatchMode::PersistentRecursive.bit() != 0 {
            self.recursive -= 1;
        }
        self.unlink(path, watcher);
        true
    }

    /// Removes only the `mode` registration of `watcher` on `path`; true if it had it.
    pub fn remove_mode(&mut self, path: &[u8], watcher: WatcherId, mode: WatchMode) -> bool {
        let Some(paths) = self.by_watcher.get_mut(&watcher) else {
            return false;
        };
        let Some(bits) = paths.get_mut(path) else {
            return false;
        };
        if *bits & mode.bit() == 0 {
            return false;
        }
        *bits &= !mode.bit();
        if mode == WatchMode::PersistentRecursive {
            self.recursive -= 1;
        }
        if *bits == 0 {
            paths.remove(path);
            if paths.is_empty() {
                self.by_watcher.remove(&watcher);
            }
            self.unlink(path, watcher);
        }
        true
    }

    fn unlink(&mut self, path: &[u8], watcher: WatcherId) {
        if let Some(list) = self.by_path.get_mut(path) {
            list.retain(|w| *w != watcher);
            if list.is_empty() {
                self.by_path.remove(path);
            }
        }
    }

    /// Forgets a watcher entirely (its connection closed).
    pub fn remove_watcher(&mut self, watcher: WatcherId) {
        let Some(paths) = self.by_watcher.remove(&watcher) else {
            return;
        };
        for (p, bits) in paths {
            if bits & WatchMode::PersistentRecursive.bit() != 0 {
                self.recursive -= 1;
            }
            self.unlink(&p, watcher);
        }
    }

    /// The watchers an event at `path` reaches, consuming one-shot watches at `path`.
    /// Appends to `out`, each watcher at most once; linear in the number of watchers.
    pub fn trigger(&mut self, path: &Bytes, out: &mut Vec<WatcherId>) {
        let start = out.len();
        self.fire_exact(path, out);
        if self.recursive == 0 {
            return;
        }
        let mut seen: std::collections::HashSet<WatcherId, RandomState> =
            out[start..].iter().copied().collect();
        let mut p: &[u8] = path;
        while let Some(parent) = parent_of(p) {
            if let Some(list) = self.by_path.get(parent) {
                for &w in list {
                    let recursive = self
                        .by_watcher
                        .get(&w)
                        .and_then(|m| m.get(parent))
                        .is_some_and(|b| b & WatchMode::PersistentRecursive.bit() != 0);
                    if recursive && seen.insert(w) {
                        out.push(w);
                    }
                }
            }
            p = parent;
        }
    }

    /// Every watcher at `path` fires; standard registrations are consumed in one pass.
    fn fire_exact(&mut self, path: &Bytes, out: &mut Vec<WatcherId>) {
        let Some(list) = self.by_path.get_mut(path.as_ref()) else {
            return;
        };
        let by_watcher = &mut self.by_watcher;
        list.retain(|&w| {
            out.push(w);
            let Some(paths) = by_watcher.get_mut(&w) else {
                return false;
            };
            let Some(bits) = paths.get_mut(path.as_ref()) else {
                return false;
            };
            *bits &= !WatchMode::Standard.bit();
            if *bits != 0 {
                return true;
            }
            paths.remove(path.as_ref());
            if paths.is_empty() {
                by_watcher.remove(&w);
            }
            false
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

    /// Paths watched by each watcher (for `wchc`).
    pub fn by_watcher(&self) -> impl Iterator<Item = (WatcherId, impl Iterator<Item = &Bytes>)> {
        self.by_watcher.iter().map(|(w, p)| (*w, p.keys()))
    }

    /// Watchers of each path (for `wchp`).
    pub fn by_path(&self) -> impl Iterator<Item = (&Bytes, &[WatcherId])> {
        self.by_path.iter().map(|(p, w)| (p, w.as_slice()))
    }

    /// Number of distinct watchers.
    pub fn watcher_count(&self) -> usize {
        self.by_watcher.len()
    }

    /// The paths `watcher` watches with a standard (one-shot) watch.
    pub fn standard_paths_of(&self, watcher: WatcherId) -> Vec<Bytes> {
        match self.by_watcher.get(&watcher) {
            Some(p) => p
                .iter()
                .filter(|(_, b)| **b & WatchMode::Standard.bit() != 0)
                .map(|(p, _)| p.clone())
                .collect(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn standard_watches_fire_once() {
        let mut t = WatchTable::default();
        assert!(t.add(&b("/a"), 1, WatchMode::Standard));
        assert!(!t.add(&b("/a"), 1, WatchMode::Standard));
        let mut out = vec![];
        t.trigger(&b("/a"), &mut out);
        assert_eq!(out, vec![1]);
        out.clear();
        t.trigger(&b("/a"), &mut out);
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
        t.trigger(&b("/a/b/c"), &mut out);
        assert_eq!(out, vec![2]);
        out.clear();
        t.trigger(&b("/a"), &mut out);
        out.sort();
        assert_eq!(out, vec![1, 2, 3]);
        out.clear();
        t.trigger(&b("/a"), &mut out);
        out.sort();
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn a_watcher_is_notified_once_per_event() {
        let mut t = WatchTable::default();
        t.add(&b("/a"), 1, WatchMode::PersistentRecursive);
        t.add(&b("/a/b"), 1, WatchMode::PersistentRecursive);
        t.add(&b("/"), 1, WatchMode::PersistentRecursive);
        let mut out = vec![];
        t.trigger(&b("/a/b"), &mut out);
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
        t.trigger(&b("/a/x"), &mut out);
        t.trigger(&b("/b"), &mut out);
        assert_eq!(out, vec![2]);
    }
}
