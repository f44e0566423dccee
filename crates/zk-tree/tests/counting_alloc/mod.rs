//! A counting global allocator for the memory tests (each test binary that uses it installs
//! it and runs one test, so no other test allocates meanwhile).
//!
//! It tracks the live bytes requested and a model of what glibc's malloc hands out for them
//! (8 bytes of header, 16-byte rounding, 32 bytes at least), so both the bytes asked for
//! and the allocator's per-allocation overhead show.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Forwards to `System`, counting.
pub struct Counting;

/// Live bytes requested.
pub static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Live bytes as glibc's chunks (see [`chunk`]).
pub static LIVE_CHUNKS: AtomicIsize = AtomicIsize::new(0);
/// Allocations (and reallocations) made so far.
pub static CALLS: AtomicIsize = AtomicIsize::new(0);

/// glibc malloc's chunk for a request of `size` bytes (below the mmap threshold).
pub fn chunk(size: usize) -> isize {
    ((size + 8 + 15) & !15).max(32) as isize
}

// SAFETY: every method forwards to `System` with the same arguments; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        LIVE_CHUNKS.fetch_add(chunk(l.size()), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        LIVE_CHUNKS.fetch_sub(chunk(l.size()), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        LIVE_CHUNKS.fetch_add(chunk(l.size()), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        LIVE_CHUNKS.fetch_add(chunk(new) - chunk(l.size()), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

/// (live bytes requested, live bytes as glibc chunks) now.
pub fn live() -> (isize, isize) {
    (
        LIVE.load(Ordering::Relaxed),
        LIVE_CHUNKS.load(Ordering::Relaxed),
    )
}

/// Allocations (and reallocations) made so far.
pub fn calls() -> isize {
    CALLS.load(Ordering::Relaxed)
}

/// The process's resident set in KiB (Linux).
pub fn rss_kib() -> Option<i64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
