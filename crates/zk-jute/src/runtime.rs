//! The Jute primitive rules, shared by every generated record.

use std::borrow::Borrow;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

/// Apache ZooKeeper's default `jute.maxbuffer`: 0xfffff bytes (1 MiB - 1).
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// Limits applied while decoding.
///
/// `max_buffer` bounds every `buffer` and `ustring` length, as `BinaryInputArchive`'s
/// `checkLength` does with `jute.maxbuffer` plus `zookeeper.jute.maxbuffer.extrasize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted `buffer`/`ustring` length in bytes.
    pub max_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffer: DEFAULT_MAX_BUFFER,
        }
    }
}

/// Why a record could not be decoded. Decoding never panics; it returns one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended inside a value.
    #[error("truncated input: needed {needed} bytes, {available} left")]
    Truncated {
        /// Bytes the next value needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length prefix that is negative (other than -1) or larger than the limit
    /// (Java's "Unreasonable length").
    #[error("unreasonable length {len} (limit {limit})")]
    BadLength {
        /// The length as read.
        len: i64,
        /// The limit in force.
        limit: usize,
    },
    /// A null (-1) inside a vector of strings, buffers or vectors.
    #[error("null element inside a vector")]
    NullElement,
    /// Bytes were left after a record that should have filled its frame exactly.
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
    /// A value that the format can carry but the protocol forbids.
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}

/// A Jute `ustring`, kept as the bytes that were sent.
///
/// Java writes strings char by char (UTF-16 units, each as 1-3 bytes), so a string with
/// characters outside the BMP is not valid UTF-8. Paths are compared and stored as bytes and
/// never re-encoded; [`JString::as_str`] gives a `&str` when the bytes happen to be UTF-8.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JString(Bytes);

impl JString {
    /// Wraps bytes as they came off the wire.
    pub fn from_bytes(b: Bytes) -> Self {
        JString(b)
    }
    /// A string from a static literal, without allocating.
    pub const fn from_static(s: &'static str) -> Self {
        JString(Bytes::from_static(s.as_bytes()))
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The string, when its bytes are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
    /// The string with invalid sequences replaced, for logs and error messages.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
    /// The underlying bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
    /// The underlying bytes, shared, without consuming.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for JString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_string_lossy(), f)
    }
}

impl fmt::Display for JString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&str> for JString {
    fn from(s: &str) -> Self {
        JString(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for JString {
    fn from(s: String) -> Self {
        JString(Bytes::from(s.into_bytes()))
    }
}

impl From<Bytes> for JString {
    fn from(b: Bytes) -> Self {
        JString(b)
    }
}

impl From<&[u8]> for JString {
    fn from(b: &[u8]) -> Self {
        JString(Bytes::copy_from_slice(b))
    }
}

impl AsRef<[u8]> for JString {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for JString {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for JString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for JString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// A Jute record: a struct whose fields go on the wire in declaration order, with no tags
/// and no length of its own.
pub trait Record: Sized {
    /// The Java class name, e.g. `org.apache.zookeeper.proto.ConnectRequest`.
    const NAME: &'static str;

    /// Reads one record from the front of `d`.
    fn decode(d: &mut Decoder) -> Result<Self, Error>;

    /// Appends the record's bytes to `buf`.
    fn encode(&self, buf: &mut BytesMut);

    /// The exact number of bytes [`Record::encode`] appends.
    fn encoded_len(&self) -> usize;

    /// Encodes into a fresh buffer of exactly the right size.
    fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes a record that must fill `bytes` exactly, with the default limits.
    fn from_bytes(bytes: Bytes) -> Result<Self, Error> {
        let mut d = Decoder::new(bytes);
        let r = Self::decode(&mut d)?;
        d.finish()?;
        Ok(r)
    }
}

/// Reads Jute values from the front of a shared buffer.
///
/// Strings and buffers are returned as slices of the input (`Bytes::split_to`), so decoding
/// a frame copies no payload.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Bytes,
    limits: Limits,
}

impl Decoder {
    /// A decoder with the default limits.
    pub fn new(buf: Bytes) -> Self {
        Decoder {
            buf,
            limits: Limits::default(),
        }
    }

    /// A decoder with explicit limits.
    pub fn with_limits(buf: Bytes, limits: Limits) -> Self {
        Decoder { buf, limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub fn peek(&self) -> &[u8] {
        &self.buf
    }

    /// Gives back the unread bytes.
    pub fn into_remaining(self) -> Bytes {
        self.buf
    }

    /// Checks that everything was read.
    pub fn finish(self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Trailing(self.buf.len()))
        }
    }

    fn need(&self, n: usize) -> Result<(), Error> {
        if self.buf.len() < n {
            Err(Error::Truncated {
                needed: n,
                available: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    /// Reads a Jute `int`.
    pub fn read_i32(&mut self) -> Result<i32, Error> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    /// Reads a Jute `long`.
    pub fn read_i64(&mut self) -> Result<i64, Error> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// Reads a Jute `boolean`: any non-zero byte is true, as Java's `readBoolean`.
    pub fn read_bool(&mut self) -> Result<bool, Error> {
        self.need(1)?;
        Ok(self.buf.get_u8() != 0)
    }

    /// Reads a Jute `byte`.
    pub fn read_byte(&mut self) -> Result<i8, Error> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    /// Reads a length prefix: `None` for -1, the length after checking it against the limit
    /// and against the bytes present.
    fn read_len(&mut self) -> Result<Option<usize>, Error> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        let limit = self.limits.max_buffer;
        if len < 0 || len as usize > limit {
            return Err(Error::BadLength {
                len: len.into(),
                limit,
            });
        }
        let len = len as usize;
        self.need(len)?;
        Ok(Some(len))
    }

    /// Reads a Jute `buffer`; `None` when the sender wrote null (-1).
    pub fn read_buffer(&mut self) -> Result<Option<Bytes>, Error> {
        Ok(self.read_len()?.map(|len| self.buf.split_to(len)))
    }

    /// Reads a Jute `ustring`; `None` when the sender wrote null (-1).
    pub fn read_string(&mut self) -> Result<Option<JString>, Error> {
        Ok(self.read_buffer()?.map(JString))
    }

    /// Reads a `buffer` that sits inside a vector, where null is not allowed.
    pub fn read_buffer_elem(&mut self) -> Result<Bytes, Error> {
        self.read_buffer()?.ok_or(Error::NullElement)
    }

    /// Reads a `ustring` that sits inside a vector, where null is not allowed.
    pub fn read_string_elem(&mut self) -> Result<JString, Error> {
        self.read_string()?.ok_or(Error::NullElement)
    }

    /// Reads a Jute `vector`; `None` when the sender wrote null (-1).
    ///
    /// The count is checked against the bytes left (every element takes at least one
    /// byte), so a hostile count cannot make this allocate more than the input's size.
    pub fn read_vec<T>(
        &mut self,
        mut elem: impl FnMut(&mut Decoder) -> Result<T, Error>,
    ) -> Result<Option<Vec<T>>, Error> {
        let count = self.read_i32()?;
        if count == -1 {
            return Ok(None);
        }
        if count < 0 || count as usize > self.buf.len() {
            return Err(Error::BadLength {
                len: count.into(),
                limit: self.buf.len(),
            });
        }
        let mut v = Vec::with_capacity(count as usize);
        for _ in 0..count {
            v.push(elem(self)?);
        }
        Ok(Some(v))
    }

    /// Reads a vector nested inside another vector, where null is not allowed.
    pub fn read_vec_elem<T>(
        &mut self,
        elem: impl FnMut(&mut Decoder) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        self.read_vec(elem)?.ok_or(Error::NullElement)
    }

    /// Reads a nested record.
    pub fn read_record<R: Record>(&mut self) -> Result<R, Error> {
        R::decode(self)
    }
}

/// Write helpers used by generated `encode` and `encoded_len` bodies.
///
/// Lengths are written as Java does; a value longer than `i32::MAX` cannot be framed, and
/// the limits on every input keep the server from building one.
pub mod encode {
    use bytes::{BufMut, Bytes, BytesMut};

    use super::JString;

    /// Writes a Jute `int`.
    #[inline]
    pub fn put_i32(buf: &mut BytesMut, v: i32) {
        buf.put_i32(v);
    }

    /// Writes a Jute `long`.
    #[inline]
    pub fn put_i64(buf: &mut BytesMut, v: i64) {
        buf.put_i64(v);
    }

    /// Writes a Jute `boolean` as 0 or 1.
    #[inline]
    pub fn put_bool(buf: &mut BytesMut, v: bool) {
        buf.put_u8(u8::from(v));
    }

    /// Writes a Jute `byte`.
    #[inline]
    pub fn put_byte(buf: &mut BytesMut, v: i8) {
        buf.put_i8(v);
    }

    fn put_len(buf: &mut BytesMut, len: usize) {
        debug_assert!(len <= i32::MAX as usize, "jute length overflow");
        buf.put_i32(len as i32);
    }

    /// Writes a non-null byte string with its length.
    #[inline]
    pub fn put_bytes(buf: &mut BytesMut, v: &[u8]) {
        put_len(buf, v.len());
        buf.put_slice(v);
    }

    /// Writes a Jute `buffer`, -1 for null.
    #[inline]
    pub fn put_buffer(buf: &mut BytesMut, v: &Option<Bytes>) {
        match v {
            Some(b) => put_bytes(buf, b),
            None => buf.put_i32(-1),
        }
    }

    /// Writes a Jute `ustring`, -1 for null.
    #[inline]
    pub fn put_string(buf: &mut BytesMut, v: &Option<JString>) {
        match v {
            Some(s) => put_bytes(buf, s.as_bytes()),
            None => buf.put_i32(-1),
        }
    }

    /// Writes a non-null vector: the count, then each element.
    pub fn put_vec_elem<T>(buf: &mut BytesMut, v: &[T], mut elem: impl FnMut(&mut BytesMut, &T)) {
        put_len(buf, v.len());
        for e in v {
            elem(buf, e);
        }
    }

    /// Writes a Jute `vector`, -1 for null.
    pub fn put_vec<T>(buf: &mut BytesMut, v: &Option<Vec<T>>, elem: impl FnMut(&mut BytesMut, &T)) {
        match v {
            Some(v) => put_vec_elem(buf, v, elem),
            None => buf.put_i32(-1),
        }
    }

    /// Encoded size of a `buffer` or `ustring` (null or not).
    #[inline]
    pub fn bytes_len<B: AsRef<[u8]>>(v: &Option<B>) -> usize {
        4 + v.as_ref().map_or(0, |b| b.as_ref().len())
    }

    /// Encoded size of a non-null vector.
    pub fn vec_elem_len<T>(v: &[T], elem: impl Fn(&T) -> usize) -> usize {
        4 + v.iter().map(elem).sum::<usize>()
    }

    /// Encoded size of a `vector` (null or not).
    pub fn vec_len<T>(v: &Option<Vec<T>>, elem: impl Fn(&T) -> usize) -> usize {
        v.as_ref().map_or(4, |v| vec_elem_len(v, elem))
    }
}
