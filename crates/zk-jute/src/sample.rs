//! Deterministic sample values for every record, shared with a Java twin.
//!
//! The byte-compatibility test fills each record's fields in declaration order from a
//! splitmix64 stream, once here and once in Java (reflection over Apache ZooKeeper's own
//! classes, `compat-tests/jute-golden/JuteGolden.java`), and compares the encodings. Both sides
//! must draw numbers in exactly the same order, so the rules are spelled out:
//!
//! | type | drawn as |
//! |---|---|
//! | int / long / byte | one draw, truncated (`(int) x`, `(byte) x`) |
//! | boolean | one draw, low bit |
//! | buffer | [null draw], one draw for the length `% 6`, one draw per byte |
//! | ustring | [null draw], one draw for the length `% 4`, one draw per char from [`ALPHABET`] |
//! | vector | [null draw], one draw for the count `% 3`, then each element (never null) |
//! | record | its fields in order |
//!
//! The null draw happens only when nulls are enabled: a value is null when it is `% 4 == 0`.

use bytes::Bytes;

use crate::{JString, Record};

/// Characters strings are drawn from: ASCII, a two-byte and a three-byte UTF-8 character,
/// so the Java encoder's per-char UTF-8 path is exercised.
pub const ALPHABET: [char; 6] = ['a', 'Z', '/', '\u{e9}', '\u{65e5}', '0'];

/// A splitmix64 generator (the same arithmetic as the Java twin).
#[derive(Debug, Clone)]
pub struct SampleRng {
    state: u64,
    nulls: bool,
}

impl SampleRng {
    /// A stream for `seed`; with `nulls`, buffers, strings and vectors are sometimes null.
    pub fn new(seed: u64, nulls: bool) -> Self {
        SampleRng { state: seed, nulls }
    }

    /// The next raw 64-bit draw.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn is_null(&mut self) -> bool {
        self.nulls && self.next_u64().is_multiple_of(4)
    }

    /// An `int`.
    pub fn int(&mut self) -> i32 {
        self.next_u64() as i32
    }
    /// A `long`.
    pub fn long(&mut self) -> i64 {
        self.next_u64() as i64
    }
    /// A `byte`.
    pub fn byte(&mut self) -> i8 {
        self.next_u64() as i8
    }
    /// A `boolean`.
    pub fn boolean(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    /// A non-null `buffer`.
    pub fn buffer_elem(&mut self) -> Bytes {
        let len = self.next_u64() % 6;
        (0..len)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
    /// A `buffer`, null or not.
    pub fn buffer(&mut self) -> Option<Bytes> {
        if self.is_null() {
            None
        } else {
            Some(self.buffer_elem())
        }
    }
    /// A non-null `ustring`.
    pub fn string_elem(&mut self) -> JString {
        let len = self.next_u64() % 4;
        let s: String = (0..len)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize])
            .collect();
        JString::from(s)
    }
    /// A `ustring`, null or not.
    pub fn string(&mut self) -> Option<JString> {
        if self.is_null() {
            None
        } else {
            Some(self.string_elem())
        }
    }
    /// A non-null `vector`.
    pub fn vector_elem<T>(&mut self, mut elem: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let len = self.next_u64() % 3;
        (0..len).map(|_| elem(self)).collect()
    }
    /// A `vector`, null or not.
    pub fn vector<T>(&mut self, elem: impl FnMut(&mut Self) -> T) -> Option<Vec<T>> {
        if self.is_null() {
            None
        } else {
            Some(self.vector_elem(elem))
        }
    }
}

/// A record that can fill itself from a [`SampleRng`]; generated for every record.
pub trait Sample: Record {
    /// Draws every field in declaration order.
    fn sample(rng: &mut SampleRng) -> Self;
}

/// Something that wants to run over every generated record type (see the generated
/// `visit_records`).
pub trait RecordVisitor {
    /// Called once per record type.
    fn visit<R>(&mut self)
    where
        R: Sample + Clone + PartialEq + std::fmt::Debug + 'static;
}
