//! Byte-level path helpers for paths already validated by request preparation.

/// The parent of `path` (`/a/b` → `/a`, `/a` → `/`); `None` for the root.
pub fn parent_of(path: &[u8]) -> Option<&[u8]> {
    if path.len() <= 1 {
        return None;
    }
    let slash = path.iter().rposition(|&c| c == b'/')?;
    Some(if slash == 0 {
        &path[..1]
    } else {
        &path[..slash]
    })
}

/// The last component of `path` (`/a/b` → `b`; the root's name is empty).
pub fn name_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `parent` + `/` + `name`, handling the root.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parent.len() + 1 + name.len());
    v.extend_from_slice(parent);
    if parent != b"/" {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_names() {
        assert_eq!(parent_of(b"/a/b"), Some(&b"/a"[..]));
        assert_eq!(parent_of(b"/a"), Some(&b"/"[..]));
        assert_eq!(parent_of(b"/"), None);
        assert_eq!(name_of(b"/a/b"), b"b");
        assert_eq!(name_of(b"/"), b"");
        assert_eq!(join(b"/", b"a"), b"/a");
        assert_eq!(join(b"/a", b"b"), b"/a/b");
    }
}
