//! What a node's stored `ephemeralOwner` means (`EphemeralType`): 0 persistent, a session
//! id for ephemerals, `i64::MIN` for containers, and for TTL nodes the extended form
//! `0xff00_0000_0000_0000 | ttl` (feature bits 0x0000 in bits 40..56).

/// Stored owner of a container node.
pub const CONTAINER_OWNER: i64 = i64::MIN;

const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
const RESERVED_BITS_MASK: u64 = 0x00ff_ff00_0000_0000;
const TTL_FEATURE: u64 = 0;
const VALUE_MASK: u64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);

/// Largest TTL in ms a node may carry (`EphemeralType.TTL.maxValue()`).
pub const MAX_TTL: i64 = VALUE_MASK as i64;

/// The kind of node an owner value denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Owner 0: a plain persistent node.
    Persistent,
    /// Owned by a session.
    Ephemeral(i64),
    /// A container.
    Container,
    /// A TTL node with its TTL in ms.
    Ttl(i64),
    /// An extended value with an unknown feature (only a foreign snapshot could hold one).
    Unknown,
}

/// Classifies a stored owner.
pub fn kind(owner: i64) -> Kind {
    let u = owner as u64;
    if u & EXTENDED_MASK == EXTENDED_MASK {
        if (u & RESERVED_BITS_MASK) >> 40 == TTL_FEATURE {
            return Kind::Ttl((u & VALUE_MASK) as i64);
        }
        return Kind::Unknown;
    }
    match owner {
        0 => Kind::Persistent,
        CONTAINER_OWNER => Kind::Container,
        s => Kind::Ephemeral(s),
    }
}

/// The stored owner of a TTL node; `None` if `ttl` is not in `1..=MAX_TTL`.
pub fn ttl_owner(ttl: i64) -> Option<i64> {
    if ttl <= 0 || ttl > MAX_TTL {
        return None;
    }
    Some((EXTENDED_MASK | (TTL_FEATURE << 40) | ttl as u64) as i64)
}

/// What a client sees in `Stat.ephemeralOwner`: the session for ephemerals, 0 otherwise
/// (`DataTree.getClientEphemeralOwner`).
pub fn client_owner(owner: i64) -> i64 {
    match kind(owner) {
        Kind::Ephemeral(s) => s,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind(0), Kind::Persistent);
        assert_eq!(kind(0x1234), Kind::Ephemeral(0x1234));
        assert_eq!(kind(CONTAINER_OWNER), Kind::Container);
        let o = ttl_owner(5000).unwrap();
        assert_eq!(o as u64, 0xff00_0000_0000_1388);
        assert_eq!(kind(o), Kind::Ttl(5000));
        assert_eq!(client_owner(o), 0);
        assert_eq!(client_owner(CONTAINER_OWNER), 0);
        assert_eq!(client_owner(7), 7);
        assert_eq!(ttl_owner(0), None);
        assert_eq!(ttl_owner(MAX_TTL + 1), None);
        assert!(ttl_owner(MAX_TTL).is_some());
    }
}
