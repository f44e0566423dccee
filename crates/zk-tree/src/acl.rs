//! The reference-counted ACL cache (as `ReferenceCountedACLCache`): each distinct ACL list is
//! stored once and nodes hold a `i64` key, so a million nodes with the same ACL share it.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use zk_proto::data::{Acl, Id};
use zk_proto::{perms, JString};

/// The key a node holds; `-1` is the implicit `world:anyone` all-permissions list that
/// Apache ZooKeeper's built-in nodes use.
pub type AclKey = i64;

/// Key of `OPEN_ACL_UNSAFE` when a node was created with no list at all.
pub const OPEN_UNSAFE_ACL_KEY: AclKey = -1;

/// `world:anyone`, all permissions.
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: Some(JString::from_static("world")),
            id: Some(JString::from_static("anyone")),
        },
    }]
}

/// `world:anyone`, read only (the ACL of `/zookeeper/config`).
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::READ,
        id: Id {
            scheme: Some(JString::from_static("world")),
            id: Some(JString::from_static("anyone")),
        },
    }]
}

/// Interned ACL lists with reference counts.
#[derive(Debug, Default, Clone)]
pub struct AclCache {
    by_key: HashMap<AclKey, (Vec<Acl>, u64), RandomState>,
    by_list: HashMap<Vec<Acl>, AclKey, RandomState>,
    next: AclKey,
    open: Vec<Acl>,
}

impl AclCache {
    /// An empty cache.
    pub fn new() -> Self {
        AclCache {
            open: open_acl_unsafe(),
            ..Default::default()
        }
    }

    /// Interns `acl` and counts one more user of it.
    pub fn intern(&mut self, acl: &[Acl]) -> AclKey {
        if let Some(&key) = self.by_list.get(acl) {
            if let Some(entry) = self.by_key.get_mut(&key) {
                entry.1 += 1;
            }
            return key;
        }
        self.next += 1;
        let key = self.next;
        self.by_list.insert(acl.to_vec(), key);
        self.by_key.insert(key, (acl.to_vec(), 1));
        key
    }

    /// One user of `key` is gone; the list is dropped with its last user.
    pub fn release(&mut self, key: AclKey) {
        if key == OPEN_UNSAFE_ACL_KEY {
            return;
        }
        let remove = match self.by_key.get_mut(&key) {
            Some(entry) => {
                entry.1 = entry.1.saturating_sub(1);
                entry.1 == 0
            }
            None => false,
        };
        if remove {
            if let Some((list, _)) = self.by_key.remove(&key) {
                self.by_list.remove(&list);
            }
        }
    }

    /// The list behind `key`. An unknown key (which only a corrupt snapshot could produce)
    /// reads as an empty list, which grants nothing.
    pub fn get(&self, key: AclKey) -> &[Acl] {
        if key == OPEN_UNSAFE_ACL_KEY {
            return &self.open;
        }
        self.by_key.get(&key).map_or(&[], |(l, _)| l.as_slice())
    }

    /// The newest key handed out: keys only grow, so a list interned later has a larger one.
    pub fn last_key(&self) -> AclKey {
        self.next
    }

    /// Number of distinct lists.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when no list is interned.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every interned list with its key and reference count (for snapshots).
    pub fn entries(&self) -> impl Iterator<Item = (AclKey, &[Acl], u64)> {
        self.by_key.iter().map(|(k, (l, c))| (*k, l.as_slice(), *c))
    }

    /// Restores one entry from a snapshot, keeping its key.
    pub fn restore(&mut self, key: AclKey, acl: Vec<Acl>) {
        self.next = self.next.max(key);
        self.by_list.insert(acl.clone(), key);
        self.by_key.insert(key, (acl, 0));
    }

    /// After a restore, counts one user of `key` (a node that refers to it).
    pub fn add_usage(&mut self, key: AclKey) {
        if let Some(entry) = self.by_key.get_mut(&key) {
            entry.1 += 1;
        }
    }

    /// Drops entries no node uses (after a restore).
    pub fn purge_unused(&mut self) {
        let unused: Vec<AclKey> = self
            .by_key
            .iter()
            .filter(|(_, (_, c))| *c == 0)
            .map(|(k, _)| *k)
            .collect();
        for k in unused {
            if let Some((list, _)) = self.by_key.remove(&k) {
                self.by_list.remove(&list);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(user: &str, p: i32) -> Vec<Acl> {
        vec![Acl {
            perms: p,
            id: Id {
                scheme: Some("digest".into()),
                id: Some(user.into()),
            },
        }]
    }

    #[test]
    fn interns_and_counts() {
        let mut c = AclCache::new();
        let a = c.intern(&digest("a", 1));
        let b = c.intern(&digest("a", 1));
        assert_eq!(a, b);
        assert_eq!(c.len(), 1);
        let other = c.intern(&digest("b", 1));
        assert_ne!(a, other);
        c.release(a);
        assert_eq!(c.get(a), digest("a", 1).as_slice());
        c.release(a);
        assert!(c.get(a).is_empty());
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(OPEN_UNSAFE_ACL_KEY), open_acl_unsafe().as_slice());
    }
}
