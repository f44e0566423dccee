//! Where the tree keeps each node's name and data (one byte string per node, `name ‖ data`):
//! packed by size class instead of one heap block each.
//!
//! A heap block costs its allocator a header and rounding (glibc: 8 bytes and a multiple of
//! 16, so the benchmark's 108 bytes of name and value take 128), and the pointer to it is a
//! 16-byte fat one. Here a string of up to [`MAX_PACKED`] bytes lives in the pages of its class
//! (lengths rounded up to a multiple of [`GRAIN`]), and a node holds a 4-byte index and its
//! 4-byte length. Freed places go on their class's free list (the next free index is written
//! into the freed place) and are reused first, so a class's pages never hold more than its
//! peak count. Longer strings get a heap block each, in a slab with its own free list.
//!
//! ```text
//!   class k (k × 4 bytes): pages of 2^s places, up to 64 KiB ── place i at page i >> s,
//!                                                              offset (i & (2^s - 1)) × width
//!   large: Vec<Box<[u8]>> + free ids
//! ```
//!
//! A class's first page grows as it fills, so a class with a few strings costs little.

/// Lengths are rounded up to a multiple of this.
const GRAIN: usize = 4;
/// The longest string kept in a class; longer ones get a heap block each.
pub(crate) const MAX_PACKED: usize = 512;
/// Bytes of a full page.
const PAGE_BYTES: usize = 64 * 1024;
/// No free place.
const NONE: u32 = u32::MAX;

/// A string of `width` bytes or less per place.
#[derive(Debug, Clone, Default)]
struct Class {
    width: usize,
    /// A page holds `1 << shift` places (a power of two: no division on the read path).
    shift: u32,
    pages: Vec<Vec<u8>>,
    /// Places handed out so far (free ones included).
    places: u32,
    free: u32,
}

impl Class {
    fn new(width: usize) -> Self {
        let per_page = (PAGE_BYTES / width).max(1);
        Class {
            width,
            shift: per_page.ilog2(),
            pages: Vec::new(),
            places: 0,
            free: NONE,
        }
    }

    fn per_page(&self) -> usize {
        1 << self.shift
    }

    fn range(&self, i: u32) -> (usize, std::ops::Range<usize>) {
        let i = i as usize;
        let (page, at) = (i >> self.shift, (i & (self.per_page() - 1)) * self.width);
        (page, at..at + self.width)
    }

    fn place(&self, i: u32) -> &[u8] {
        let (page, r) = self.range(i);
        self.pages
            .get(page)
            .and_then(|p| p.get(r))
            .unwrap_or_default()
    }

    fn place_mut(&mut self, i: u32) -> Option<&mut [u8]> {
        let (page, r) = self.range(i);
        self.pages.get_mut(page)?.get_mut(r)
    }

    /// A place for `bytes` (at most `width` long); `None` when the class holds 2^32 - 1.
    fn put(&mut self, bytes: &[u8]) -> Option<u32> {
        let i = if self.free != NONE {
            let i = self.free;
            let next = self
                .place(i)
                .get(..4)
                .map_or(NONE, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            self.free = next;
            i
        } else {
            if self.places == NONE - 1 {
                return None;
            }
            let per_page = self.per_page();
            let full = per_page * self.width;
            let need_page = self
                .pages
                .last()
                .is_none_or(|p| p.len() + self.width > full);
            if need_page {
                // The first page grows as it fills; later ones are made whole at once.
                let cap = if self.pages.is_empty() {
                    self.width * 4
                } else {
                    full
                };
                self.pages.push(Vec::with_capacity(cap.min(full)));
            }
            let width = self.width;
            let page = self.pages.last_mut()?;
            if page.len() + width > page.capacity() {
                let want = (page.capacity() * 2).clamp(width, full);
                page.reserve_exact(want - page.len());
            }
            page.resize(page.len() + width, 0);
            self.places += 1;
            self.places - 1
        };
        let place = self.place_mut(i)?;
        place[..bytes.len()].copy_from_slice(bytes);
        Some(i)
    }

    fn free(&mut self, i: u32) {
        let next = self.free;
        if let Some(place) = self.place_mut(i) {
            place[..4].copy_from_slice(&next.to_le_bytes());
            self.free = i;
        }
    }

    fn bytes(&self) -> usize {
        self.pages.iter().map(Vec::capacity).sum()
    }
}

/// Every node's `name ‖ data`, addressed by (index, length).
#[derive(Debug, Clone, Default)]
pub(crate) struct Blobs {
    /// `classes[k]` holds strings of `(k * GRAIN, (k + 1) * GRAIN]` bytes.
    classes: Vec<Class>,
    large: Vec<Box<[u8]>>,
    large_free: Vec<u32>,
}

fn class_of(len: usize) -> usize {
    (len - 1) / GRAIN
}

impl Blobs {
    /// Stores `parts` concatenated; returns its index (0 for an empty string), or `None` if
    /// it is longer than `u32::MAX` or the store is full.
    pub(crate) fn put(&mut self, parts: &[&[u8]]) -> Option<u32> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        u32::try_from(len).ok()?;
        if len == 0 {
            return Some(0);
        }
        if len > MAX_PACKED {
            let mut v = Vec::with_capacity(len);
            for p in parts {
                v.extend_from_slice(p);
            }
            let b = v.into_boxed_slice();
            if let Some(i) = self.large_free.pop() {
                self.large[i as usize] = b;
                return Some(i);
            }
            let i = u32::try_from(self.large.len()).ok()?;
            self.large.push(b);
            return Some(i);
        }
        let k = class_of(len);
        while self.classes.len() <= k {
            let width = (self.classes.len() + 1) * GRAIN;
            self.classes.push(Class::new(width));
        }
        let class = &mut self.classes[k];
        let mut buf = [0u8; MAX_PACKED];
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        class.put(&buf[..len])
    }

    /// The string stored at `index` with length `len`.
    pub(crate) fn get(&self, index: u32, len: u32) -> &[u8] {
        let len = len as usize;
        if len == 0 {
            return &[];
        }
        if len > MAX_PACKED {
            return self.large.get(index as usize).map_or(&[], |b| &b[..]);
        }
        self.classes
            .get(class_of(len))
            .map_or(&[][..], |c| c.place(index))
            .get(..len)
            .unwrap_or_default()
    }

    /// Frees the string at `index` with length `len`.
    pub(crate) fn free(&mut self, index: u32, len: u32) {
        let len = len as usize;
        if len == 0 {
            return;
        }
        if len > MAX_PACKED {
            if let Some(b) = self.large.get_mut(index as usize) {
                *b = Box::default();
                self.large_free.push(index);
            }
            return;
        }
        if let Some(c) = self.classes.get_mut(class_of(len)) {
            c.free(index);
        }
    }

    /// Bytes of pages and heap blocks held (what the strings cost, free places included).
    pub(crate) fn bytes(&self) -> usize {
        self.classes.iter().map(Class::bytes).sum::<usize>()
            + self.large.iter().map(|b| b.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_and_places_are_reused() {
        let mut b = Blobs::default();
        let mut kept = Vec::new();
        for n in [0usize, 1, 3, 4, 5, 100, 108, 512, 513, 5000] {
            let s: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            let (x, y) = s.split_at(n / 3);
            let i = b.put(&[x, y]).unwrap();
            kept.push((i, s));
        }
        for (i, s) in &kept {
            assert_eq!(b.get(*i, s.len() as u32), &s[..]);
        }
        // Freed places are handed out again, most recently freed first.
        let (i100, _) = kept[5].clone();
        let (i108, _) = kept[6].clone();
        b.free(i100, 100);
        let again = b.put(&[&[9u8; 99]]).unwrap();
        assert_eq!(again, i100, "100 and 99 bytes share a class");
        assert_eq!(b.get(again, 99), &[9u8; 99][..]);
        assert_eq!(b.get(i108, 108), &kept[6].1[..], "a neighbour is untouched");
        let (i_large, _) = kept[9].clone();
        b.free(i_large, 5000);
        assert_eq!(b.put(&[&[1u8; 600]]).unwrap(), i_large);
    }

    #[test]
    fn many_strings_fill_pages_and_stay_apart() {
        let mut b = Blobs::default();
        let ids: Vec<u32> = (0..5000u32)
            .map(|i| b.put(&[&i.to_le_bytes(), &[7u8; 100]]).unwrap())
            .collect();
        for (n, &i) in ids.iter().enumerate() {
            let s = b.get(i, 104);
            assert_eq!(&s[..4], &(n as u32).to_le_bytes());
            assert_eq!(&s[4..], &[7u8; 100][..]);
        }
        // 5000 places of 104 bytes, pages included: little beyond the strings themselves.
        assert!(b.bytes() < 5000 * 104 + 2 * PAGE_BYTES, "{}", b.bytes());
        for &i in &ids {
            b.free(i, 104);
        }
        let before = b.bytes();
        for i in 0..5000u32 {
            b.put(&[&i.to_le_bytes(), &[1u8; 100]]).unwrap();
        }
        assert_eq!(b.bytes(), before, "freed places were reused, no page added");
    }
}
