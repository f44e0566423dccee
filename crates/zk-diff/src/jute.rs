//! A minimal, independent Jute encoder and decoder.
//!
//! Deliberately not zk-proto's codec: the tool must not share code with the server it judges,
//! or a codec bug could hide itself on both sides of the comparison.

/// Builds a Jute record: big-endian ints, i32-length-prefixed buffers (-1 = null).
#[derive(Default, Clone, Debug)]
pub struct W(pub Vec<u8>);

impl W {
    /// An empty record.
    pub fn new() -> Self {
        W(Vec::new())
    }
    /// An int.
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A long.
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A boolean (one byte, 0 or 1).
    pub fn bool(mut self, v: bool) -> Self {
        self.0.push(u8::from(v));
        self
    }
    /// A buffer, or null.
    pub fn buf(self, v: Option<&[u8]>) -> Self {
        match v {
            None => self.i32(-1),
            Some(b) => {
                let mut s = self.i32(len_i32(b.len()));
                s.0.extend_from_slice(b);
                s
            }
        }
    }
    /// A string (as its UTF-8 bytes).
    pub fn str(self, v: &str) -> Self {
        self.buf(Some(v.as_bytes()))
    }
    /// Bytes as they are.
    pub fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    /// The encoded bytes.
    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A length as Jute's i32 (the tool never builds anything near 2 GiB).
pub fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Reads a Jute record; every read fails (None) on short input instead of panicking.
pub struct R<'a>(pub &'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    /// An int.
    pub fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A long.
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    /// A buffer; `Some(None)` for null.
    pub fn buf(&mut self) -> Option<Option<&'a [u8]>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(None);
        }
        Some(Some(self.take(usize::try_from(n).ok()?)?))
    }
    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
