//! `java.util.Properties.load`, reproduced exactly: the syntax zoo.cfg is written in.
//!
//! Apache ZooKeeper reads zoo.cfg with `Properties.load(InputStream)`, so these are the
//! rules (checked against Java 17's own loader by `tests/java_golden.rs`):
//!
//! * The file is ISO-8859-1: every byte is one character. A UTF-8 `é` (two bytes) becomes
//!   two characters, exactly as in Java, so paths with non-ASCII bytes name the same
//!   directory Java would use. Anything else needs a `\uXXXX` escape.
//! * Lines end at `\n`, `\r` or `\r\n`. Leading spaces, tabs and form feeds are skipped. A
//!   line whose first such non-blank character is `#` or `!` is a comment (never continued).
//! * An odd number of backslashes before the line end continues the logical line on the
//!   next natural line; the leading blanks of that next line are dropped.
//! * The key runs up to the first unescaped `=`, `:`, space, tab or form feed. Blanks after
//!   the key are skipped, then one `=` or `:` if present, then blanks again; the rest of the
//!   line is the value (trailing blanks included). `key`, `key=` and `key:` give `""`.
//! * Escapes: `\t \n \r \f`, `\uXXXX` (exactly four hex digits, one `u`; a malformed one is
//!   an error, [`PropertiesError`]); any other escaped character stands for itself (`\b` is
//!   `b`, `\=` is `=`, `\\` is `\`).
//! * A repeated key keeps its last value.
//!
//! Keys and values are handled as UTF-16 code units while unescaping, as Java does; a lone
//! surrogate (`\uD800` on its own) becomes U+FFFD, the one place where a Rust `String`
//! cannot hold what Java holds.

/// Where a `\uXXXX` escape was malformed (Java throws `IllegalArgumentException:
/// Malformed \uxxxx encoding.`, which makes ZooKeeper refuse the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed \\uxxxx escape in the logical line starting at line {line}")]
pub struct PropertiesError {
    /// 1-based natural line on which the offending logical line starts.
    pub line: usize,
}

/// The key/value pairs of a properties file, in the order their keys first appeared
/// (Java's `Properties` is a hash table; the order only matters for our warnings).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct JavaProperties {
    entries: Vec<(String, String)>,
}

impl std::fmt::Debug for JavaProperties {
    /// Values of keys that look secret are redacted (see [`super::secret`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(k, v)| (k, super::secret::shown(k, v))),
            )
            .finish()
    }
}

impl JavaProperties {
    /// An empty set of properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Properties.load(InputStream)`: the bytes are ISO-8859-1. This is how ZooKeeper
    /// reads zoo.cfg, its dynamic config file and `.dynamic.next`.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, PropertiesError> {
        let units: Vec<u16> = bytes.iter().map(|&b| u16::from(b)).collect();
        Self::parse_units(&units)
    }

    /// `Properties.load(Reader)`: already-decoded text.
    pub fn parse_str(text: &str) -> Result<Self, PropertiesError> {
        let units: Vec<u16> = text.encode_utf16().collect();
        Self::parse_units(&units)
    }

    fn parse_units(units: &[u16]) -> Result<Self, PropertiesError> {
        let mut props = JavaProperties::new();
        for (line, logical) in logical_lines(units) {
            let (key, value) = split_key_value(&logical);
            let key = unescape(key).ok_or(PropertiesError { line })?;
            let value = unescape(value).ok_or(PropertiesError { line })?;
            props.insert(key, value);
        }
        Ok(props)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; an existing key keeps its position and takes the new value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The pairs, in first-appearance order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

const SPACE: u16 = b' ' as u16;
const TAB: u16 = b'\t' as u16;
const FF: u16 = 0x0c;
const CR: u16 = b'\r' as u16;
const LF: u16 = b'\n' as u16;
const BACKSLASH: u16 = b'\\' as u16;

fn is_blank(c: u16) -> bool {
    c == SPACE || c == TAB || c == FF
}

/// Splits the input into logical lines (continuations joined, comments and blank lines
/// dropped), each with the natural line number it starts on. Same state machine as
/// `Properties.LineReader.readLine` in Java 9 and later.
fn logical_lines(input: &[u16]) -> Vec<(usize, Vec<u16>)> {
    // Natural (1-based) line number of every unit; `\r\n` counts as one line break.
    let mut line_of = Vec::with_capacity(input.len());
    let mut line = 1;
    for (j, &c) in input.iter().enumerate() {
        line_of.push(line);
        if c == CR || (c == LF && (j == 0 || input[j - 1] != CR)) {
            line += 1;
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    'logical: loop {
        let mut buf: Vec<u16> = Vec::new();
        let mut start = 0;
        let mut skip_blanks = true;
        let mut appended_line_begin = false;
        let mut preceding_backslash = false;
        loop {
            let Some(&c) = input.get(i) else {
                if !buf.is_empty() {
                    if preceding_backslash {
                        buf.pop();
                    }
                    out.push((start, buf));
                }
                return out;
            };
            i += 1;
            if skip_blanks {
                if is_blank(c) {
                    continue;
                }
                if !appended_line_begin && (c == CR || c == LF) {
                    continue;
                }
                skip_blanks = false;
                appended_line_begin = false;
            }
            if buf.is_empty() && (c == u16::from(b'#') || c == u16::from(b'!')) {
                // A comment: drop the rest of this natural line.
                while let Some(&d) = input.get(i) {
                    i += 1;
                    if d == LF || d == CR {
                        break;
                    }
                }
                skip_blanks = true;
                continue;
            }
            if c != LF && c != CR {
                if buf.is_empty() {
                    start = line_of[i - 1];
                }
                buf.push(c);
                preceding_backslash = c == BACKSLASH && !preceding_backslash;
                continue;
            }
            // End of a natural line.
            if buf.is_empty() {
                skip_blanks = true;
                continue;
            }
            if i >= input.len() {
                if preceding_backslash {
                    buf.pop();
                }
                out.push((start, buf));
                return out;
            }
            if preceding_backslash {
                // Continued: the backslash and the line break vanish.
                buf.pop();
                skip_blanks = true;
                appended_line_begin = true;
                preceding_backslash = false;
                if c == CR && input.get(i) == Some(&LF) {
                    i += 1;
                }
            } else {
                out.push((start, buf));
                continue 'logical;
            }
        }
    }
}

/// Splits a logical line into its raw (still escaped) key and value.
fn split_key_value(line: &[u16]) -> (&[u16], &[u16]) {
    let limit = line.len();
    let mut key_len = 0;
    let mut value_start = limit;
    let mut has_sep = false;
    let mut preceding_backslash = false;
    while key_len < limit {
        let c = line[key_len];
        if (c == u16::from(b'=') || c == u16::from(b':')) && !preceding_backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if is_blank(c) && !preceding_backslash {
            value_start = key_len + 1;
            break;
        }
        preceding_backslash = c == BACKSLASH && !preceding_backslash;
        key_len += 1;
    }
    while value_start < limit {
        let c = line[value_start];
        if !is_blank(c) {
            if !has_sep && (c == u16::from(b'=') || c == u16::from(b':')) {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (&line[..key_len], &line[value_start..])
}

/// `Properties.loadConvert`: resolves escapes. `None` for a malformed `\uXXXX`.
fn unescape(raw: &[u16]) -> Option<String> {
    let mut out: Vec<u16> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        i += 1;
        if c != BACKSLASH {
            out.push(c);
            continue;
        }
        // The loader never leaves a lone trailing backslash; be safe anyway.
        let Some(&e) = raw.get(i) else { break };
        i += 1;
        let unit = match u8::try_from(e).map(char::from) {
            Ok('u') => {
                let hex = raw.get(i..i + 4)?;
                i += 4;
                let mut v: u16 = 0;
                for &h in hex {
                    let d = char::from_u32(u32::from(h))?.to_digit(16)?;
                    v = (v << 4) | d as u16;
                }
                v
            }
            Ok('t') => TAB,
            Ok('r') => CR,
            Ok('n') => LF,
            Ok('f') => FF,
            _ => e,
        };
        out.push(unit);
    }
    Some(String::from_utf16_lossy(&out))
}

/// Java's `String.trim()`: strips every character up to U+0020 from both ends (not just
/// whitespace: control characters too).
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        JavaProperties::parse_str(text)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn separators() {
        assert_eq!(
            pairs("a=1\nb 2\nc:3\nd\t =  4\ne  :5\nf\ng=\nh:\n"),
            vec![
                p("a", "1"),
                p("b", "2"),
                p("c", "3"),
                p("d", "4"),
                p("e", "5"),
                p("f", ""),
                p("g", ""),
                p("h", "")
            ]
        );
        // Only the first separator counts; later ones belong to the value.
        assert_eq!(pairs("a==b\nc = :d\n"), vec![p("a", "=b"), p("c", ":d")]);
        // A blank ends the key, then one '=' or ':' may still follow.
        assert_eq!(pairs("a b=c\n"), vec![p("a", "b=c")]);
    }

    #[test]
    fn comments_blanks_and_trailing_spaces() {
        assert_eq!(
            pairs("# c\n  ! also\n\n\t\x0c\n  key = value  \n#x=y\n"),
            vec![p("key", "value  ")]
        );
        // A '#' after the key is data, not a comment.
        assert_eq!(
            pairs("a=b # not a comment\n"),
            vec![p("a", "b # not a comment")]
        );
        // A comment line ending in a backslash is not continued.
        assert_eq!(pairs("# c \\\nx=1\n"), vec![p("x", "1")]);
    }

    #[test]
    fn continuations() {
        assert_eq!(pairs("a=one \\\n    two\n"), vec![p("a", "one two")]);
        assert_eq!(pairs("a=x\\\r\n  y\\\r  z\n"), vec![p("a", "xyz")]);
        // An even number of backslashes is an escaped backslash, not a continuation.
        assert_eq!(pairs("a=x\\\\\nb=y\n"), vec![p("a", "x\\"), p("b", "y")]);
        // A key can be continued too.
        assert_eq!(pairs("ke\\\n  y=v\n"), vec![p("key", "v")]);
        // A trailing backslash at end of input is dropped.
        assert_eq!(pairs("a=b\\"), vec![p("a", "b")]);
        // A continuation into an empty line ends the logical line there.
        assert_eq!(pairs("a=b\\\n\nc=d\n"), vec![p("a", "b"), p("c", "d")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            pairs("a\\=b\\:c\\ d=\\t\\n\\r\\f\\b\\\\\\u00e9\\u65E5\n"),
            vec![p("a=b:c d", "\t\n\r\x0cb\\é日")]
        );
        assert_eq!(pairs("s=\\uD83D\\uDE00\n"), vec![p("s", "😀")]);
        assert_eq!(
            JavaProperties::parse_str("a=1\nb=\\u12G4\n"),
            Err(PropertiesError { line: 2 })
        );
        assert_eq!(
            JavaProperties::parse_str("b=\\u12"),
            Err(PropertiesError { line: 1 })
        );
    }

    #[test]
    fn latin1_bytes_and_last_value_wins() {
        let props =
            JavaProperties::parse_bytes(b"dir=/tmp/\xc3\xa9\ndir2=\xe9\nx=1\nx=2\n").unwrap();
        assert_eq!(props.get("dir"), Some("/tmp/\u{c3}\u{a9}"));
        assert_eq!(props.get("dir2"), Some("é"));
        assert_eq!(props.get("x"), Some("2"));
        assert_eq!(props.len(), 3);
    }

    #[test]
    fn error_line_numbers_count_crlf_once() {
        let err = JavaProperties::parse_str("a=1\r\n# c\r\n\r\nb=\\uZZZZ\r\n").unwrap_err();
        assert_eq!(err.line, 4);
    }

    #[test]
    fn trim_is_java_trim() {
        assert_eq!(java_trim("\u{1}\t x \n\u{0}"), "x");
        assert_eq!(java_trim("\u{a0}x"), "\u{a0}x");
    }
}
