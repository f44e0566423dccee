//! Znode path rules: validation exactly as `org.apache.zookeeper.common.PathUtils`, and
//! parent/child helpers on raw path bytes.
//!
//! Paths arrive as bytes. Upstream validates the Java `String` that
//! `new String(bytes, UTF_8)` makes of them, scanning UTF-16 units; this module does the same:
//!
//! * an invalid UTF-8 sequence becomes U+FFFD, which lies in the forbidden range
//!   `\ufff0-\uffff`, so any path that is not valid UTF-8 is refused;
//! * a character outside the BMP is a surrogate pair, and surrogates lie in the forbidden
//!   range `\ud800-\uf8ff`, so it is refused too;
//! * the `@index` in a message counts UTF-16 units, as Java's `charAt` does.

use std::borrow::Cow;
use std::fmt;

use crate::JString;

/// Why a path is invalid. The `Display` text is upstream's `IllegalArgumentException` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is null.
    #[error("Path cannot be null")]
    Null,
    /// The path is empty.
    #[error("Path length must be > 0")]
    Empty,
    /// The path does not start with `/`.
    #[error("Path must start with / character")]
    NoLeadingSlash,
    /// The path (other than `/`) ends with `/`.
    #[error("Path must not end with / character")]
    TrailingSlash,
    /// A bad character or component.
    #[error("Invalid path string \"{path}\" caused by {reason} @{index}")]
    Invalid {
        /// The path as Java sees it (invalid UTF-8 replaced by U+FFFD; with the `1` that
        /// sequential validation appends).
        path: String,
        /// What is wrong.
        reason: InvalidReason,
        /// Where, in UTF-16 units from the start.
        index: usize,
    },
}

/// The kinds of [`PathError::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// U+0000.
    NullCharacter,
    /// `//`.
    EmptyNodeName,
    /// A `.` or `..` component.
    RelativePath,
    /// A character in `\u0001-\u001f`, `\u007f-\u009f`, `\ud800-\uf8ff` or `\ufff0-\uffff`.
    InvalidCharacter,
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidReason::NullCharacter => "null character not allowed",
            InvalidReason::EmptyNodeName => "empty node name specified",
            InvalidReason::RelativePath => "relative paths not allowed",
            InvalidReason::InvalidCharacter => "invalid character",
        })
    }
}

/// `PathUtils.validatePath(String)`.
pub fn validate(path: &[u8]) -> Result<(), PathError> {
    validate_with_suffix(path, false)
}

/// `PathUtils.validatePath(path, isSequential)`: with `sequential`, the path is checked with
/// `1` appended (so `/a/` is accepted as the prefix of a sequential node).
pub fn validate_create(path: &[u8], sequential: bool) -> Result<(), PathError> {
    validate_with_suffix(path, sequential)
}

/// [`validate_create`] for a nullable path off the wire.
pub fn validate_opt(path: Option<&JString>, sequential: bool) -> Result<(), PathError> {
    match path {
        None => Err(PathError::Null),
        Some(p) => validate_create(p.as_bytes(), sequential),
    }
}

fn validate_with_suffix(path: &[u8], suffix_one: bool) -> Result<(), PathError> {
    let result = if path.is_ascii() {
        // Every byte is one UTF-16 unit: no copy.
        check(path.len() + usize::from(suffix_one), |i| {
            path.get(i).map_or(u32::from(b'1'), |&b| u32::from(b))
        })
    } else {
        let units = java_utf16(path);
        check(units.len() + usize::from(suffix_one), |i| {
            units.get(i).map_or(u32::from(b'1'), |&u| u32::from(u))
        })
    };
    result.map_err(|e| match e {
        Found::Error(e) => e,
        Found::Invalid(reason, index) => {
            let mut shown = java_string(path);
            if suffix_one {
                shown.push('1');
            }
            PathError::Invalid {
                path: shown,
                reason,
                index,
            }
        }
    })
}

/// The replacement character Java substitutes for malformed input.
const REPL: u16 = 0xfffd;

/// `new String(bytes, StandardCharsets.UTF_8)` as UTF-16 units, with the JDK's rules for
/// where a malformed sequence ends (which differ from Rust's `from_utf8_lossy` for encoded
/// surrogates `ED A0..BF ..` and for sequences cut by the end of the input).
pub fn java_utf16(src: &[u8]) -> Vec<u16> {
    let cont = |b: u8| b & 0xc0 == 0x80;
    // `isMalformed3_2` / `isMalformed3`: overlong E0 80..9F, or a non-continuation byte.
    let malformed3_2 = |b1: u8, b2: u8| (b1 == 0xe0 && b2 & 0xe0 == 0x80) || !cont(b2);
    // `isMalformed4_2`: F0 below 90, F4 above 8F, or a non-continuation byte.
    let malformed4_2 = |b1: u8, b2: u8| {
        (b1 == 0xf0 && !(0x90..=0xbf).contains(&b2))
            || (b1 == 0xf4 && b2 & 0xf0 != 0x80)
            || !cont(b2)
    };
    let n = src.len();
    let mut out = Vec::with_capacity(n);
    let mut sp = 0;
    while sp < n {
        let b1 = src[sp];
        sp += 1;
        if b1 < 0x80 {
            out.push(u16::from(b1));
        } else if b1 & 0xe0 == 0xc0 && b1 & 0x1e != 0 {
            // C2..DF: two bytes.
            if sp < n {
                let b2 = src[sp];
                if cont(b2) {
                    out.push((u16::from(b1 & 0x1f) << 6) | u16::from(b2 & 0x3f));
                    sp += 1;
                } else {
                    out.push(REPL);
                }
                continue;
            }
            out.push(REPL);
            break;
        } else if b1 & 0xf0 == 0xe0 {
            // E0..EF: three bytes.
            if sp + 1 < n {
                let (b2, b3) = (src[sp], src[sp + 1]);
                if malformed3_2(b1, b2) || !cont(b3) {
                    out.push(REPL);
                    // `malformedN(3)`: one byte if b2 already failed, else two.
                    if !malformed3_2(b1, b2) {
                        sp += 1;
                    }
                } else {
                    let c = (u16::from(b1 & 0x0f) << 12)
                        | (u16::from(b2 & 0x3f) << 6)
                        | u16::from(b3 & 0x3f);
                    // A surrogate is malformed as a whole three-byte unit.
                    out.push(if (0xd800..=0xdfff).contains(&c) {
                        REPL
                    } else {
                        c
                    });
                    sp += 2;
                }
                continue;
            }
            out.push(REPL);
            if sp < n && malformed3_2(b1, src[sp]) {
                continue;
            }
            break;
        } else if b1 & 0xf8 == 0xf0 {
            // F0..F7: four bytes.
            if sp + 2 < n {
                let (b2, b3, b4) = (src[sp], src[sp + 1], src[sp + 2]);
                let uc = (u32::from(b1 & 0x07) << 18)
                    | (u32::from(b2 & 0x3f) << 12)
                    | (u32::from(b3 & 0x3f) << 6)
                    | u32::from(b4 & 0x3f);
                if !cont(b2) || !cont(b3) || !cont(b4) || !(0x10000..=0x10ffff).contains(&uc) {
                    out.push(REPL);
                    // `malformedN(4)`: 1, 2 or 3 bytes.
                    if b1 > 0xf4 || malformed4_2(b1, b2) {
                    } else if !cont(b3) {
                        sp += 1;
                    } else {
                        sp += 2;
                    }
                } else {
                    let v = uc - 0x10000;
                    out.push(0xd800 | (v >> 10) as u16);
                    out.push(0xdc00 | (v & 0x3ff) as u16);
                    sp += 3;
                }
                continue;
            }
            out.push(REPL);
            if b1 > 0xf4 || (sp < n && malformed4_2(b1, src[sp])) {
                continue;
            }
            sp += 1;
            if sp < n && !cont(src[sp]) {
                continue;
            }
            break;
        } else {
            out.push(REPL);
        }
    }
    out
}

/// [`java_utf16`] as a Rust string (it never holds a lone surrogate).
pub fn java_string(src: &[u8]) -> String {
    match std::str::from_utf8(src) {
        // Valid UTF-8 decodes the same in both languages.
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf16_lossy(&java_utf16(src)),
    }
}

enum Found {
    Error(PathError),
    Invalid(InvalidReason, usize),
}

/// The checks of `PathUtils.validatePath` over `len` UTF-16 units read through `at`.
fn check(len: usize, at: impl Fn(usize) -> u32) -> Result<(), Found> {
    const SLASH: u32 = b'/' as u32;
    const DOT: u32 = b'.' as u32;
    if len == 0 {
        return Err(Found::Error(PathError::Empty));
    }
    if at(0) != SLASH {
        return Err(Found::Error(PathError::NoLeadingSlash));
    }
    if len == 1 {
        return Ok(());
    }
    if at(len - 1) == SLASH {
        return Err(Found::Error(PathError::TrailingSlash));
    }
    let ends_component = |i: usize| i + 1 == len || at(i + 1) == SLASH;
    for i in 1..len {
        let c = at(i);
        let last = at(i - 1);
        let reason = if c == 0 {
            Some(InvalidReason::NullCharacter)
        } else if c == SLASH && last == SLASH {
            Some(InvalidReason::EmptyNodeName)
        } else if c == DOT && last == DOT {
            // i >= 2 here: at(0) is '/', so a '.' before c means i - 1 >= 1.
            (at(i - 2) == SLASH && ends_component(i)).then_some(InvalidReason::RelativePath)
        } else if c == DOT {
            (last == SLASH && ends_component(i)).then_some(InvalidReason::RelativePath)
        } else if matches!(c, 0x01..=0x1f | 0x7f..=0x9f | 0xd800..=0xf8ff | 0xfff0..=0xffff) {
            Some(InvalidReason::InvalidCharacter)
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Found::Invalid(reason, i));
        }
    }
    Ok(())
}

/// Splits a valid path into its parent and its last component: `/a/b` → (`/a`, `b`),
/// `/a` → (`/`, `a`); `None` for the root or a path without `/`.
///
/// Upstream (`PrepRequestProcessor`) takes `path.substring(0, lastSlash)`, which is the empty
/// string for children of the root, and `DataTree` maps `""` to the root; here the root's
/// children get `/` as their parent.
pub fn split(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let slash = path.iter().rposition(|&b| b == b'/')?;
    let child = &path[slash + 1..];
    if path.len() == 1 {
        return None;
    }
    let parent = if slash == 0 {
        &path[..1]
    } else {
        &path[..slash]
    };
    Some((parent, child))
}

/// The parent of a valid path (`/` for the root's children), `None` for the root.
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    split(path).map(|(p, _)| p)
}

/// The last component of a path (`b` for `/a/b`; empty for the root).
pub fn name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// `parent + "/" + child`, without doubling the root's slash.
pub fn join(parent: &[u8], child: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + 1 + child.len());
    p.extend_from_slice(parent);
    if parent != b"/" {
        p.push(b'/');
    }
    p.extend_from_slice(child);
    p
}

/// The name of a sequential node: the path followed by the counter formatted as Java's
/// `String.format("%010d", n)` (ten digits, zero padded; the sign counts in the width).
pub fn with_sequence(path: &[u8], n: i32) -> Vec<u8> {
    let mut p = Vec::with_capacity(path.len() + 11);
    p.extend_from_slice(path);
    p.extend_from_slice(format!("{n:010}").as_bytes());
    p
}

/// The path as a Java `String` would show it, for messages.
pub fn display(path: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(path) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(java_string(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_are_upstreams() {
        assert_eq!(
            validate(b"").unwrap_err().to_string(),
            "Path length must be > 0"
        );
        assert_eq!(
            validate_opt(None, false).unwrap_err().to_string(),
            "Path cannot be null"
        );
        assert_eq!(
            validate(b"/a/./b").unwrap_err().to_string(),
            "Invalid path string \"/a/./b\" caused by relative paths not allowed @3"
        );
        // The index counts UTF-16 units: the astral character is two of them.
        assert_eq!(
            validate("/😀".as_bytes()).unwrap_err(),
            PathError::Invalid {
                path: "/😀".into(),
                reason: InvalidReason::InvalidCharacter,
                index: 1
            }
        );
        assert_eq!(
            validate("/日本\u{7f}".as_bytes()).unwrap_err(),
            PathError::Invalid {
                path: "/日本\u{7f}".into(),
                reason: InvalidReason::InvalidCharacter,
                index: 3
            }
        );
    }

    #[test]
    fn sequential_validation_appends_one() {
        assert!(validate(b"/a/").is_err());
        assert!(validate_create(b"/a/", true).is_ok());
        assert!(validate_create(b"/a/.", true).is_ok());
        assert_eq!(
            validate_create(b"/a//", true).unwrap_err().to_string(),
            "Invalid path string \"/a//1\" caused by empty node name specified @3"
        );
        assert_eq!(
            validate_create(b"", true).unwrap_err(),
            PathError::NoLeadingSlash
        );
    }

    #[test]
    fn split_parent_name_join() {
        assert_eq!(split(b"/a/b"), Some((&b"/a"[..], &b"b"[..])));
        assert_eq!(split(b"/a"), Some((&b"/"[..], &b"a"[..])));
        assert_eq!(split(b"/"), None);
        assert_eq!(split(b"a"), None);
        assert_eq!(parent(b"/x/y/z"), Some(&b"/x/y"[..]));
        assert_eq!(name(b"/x/y/z"), b"z");
        assert_eq!(name(b"/"), b"");
        assert_eq!(join(b"/", b"a"), b"/a");
        assert_eq!(join(b"/a", b"b"), b"/a/b");
        assert_eq!(with_sequence(b"/q/n-", 7), b"/q/n-0000000007");
        assert_eq!(with_sequence(b"/q/", -1), b"/q/-000000001");
        assert_eq!(with_sequence(b"/", i32::MAX), b"/2147483647");
    }

    proptest! {
        #[test]
        fn valid_paths_split_and_join_back(parts in prop::collection::vec("[a-zA-Z0-9_é日-]{1,6}", 1..5)) {
            let p = format!("/{}", parts.join("/"));
            prop_assert!(validate(p.as_bytes()).is_ok());
            let (parent, child) = split(p.as_bytes()).unwrap();
            prop_assert!(validate(parent).is_ok());
            prop_assert_eq!(join(parent, child), p.as_bytes().to_vec());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), seq in any::<bool>()) {
            let verdict = validate_create(&bytes, seq);
            // Anything that is not valid UTF-8 is refused (U+FFFD is a forbidden character).
            if std::str::from_utf8(&bytes).is_err() {
                prop_assert!(verdict.is_err());
            }
            let _ = split(&bytes);
            let _ = display(&bytes);
        }
    }
}
