//! A counting global allocator for the tests that bound peak live heap
//! (`tests/hostile_memory.rs`, `tests/sql_hostile.rs`, `tests/mysql_memory.rs`).
//!
//! `mod counting_alloc;` installs it as the test binary's `#[global_allocator]` (each test file
//! is its own binary, so each gets its own allocator and counters). The counters are shared by
//! every thread of the binary: a test that measures must be the only one allocating, so a
//! binary with more than one measuring test serialises them (a lock) and a binary with one
//! says so.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = CUR.fetch_add(l.size(), Relaxed) + l.size();
        PEAK.fetch_max(now, Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CUR.fetch_sub(l.size(), Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let now = CUR.fetch_add(new - l.size(), Relaxed) + new - l.size();
            PEAK.fetch_max(now, Relaxed);
        } else {
            CUR.fetch_sub(l.size() - new, Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Start measuring: the peak restarts from what is live now, which is returned (the baseline
/// to give [`peak_since`]).
pub fn reset_peak() -> usize {
    let base = CUR.load(Relaxed);
    PEAK.store(base, Relaxed);
    base
}

/// Peak live heap bytes above `base` since the [`reset_peak`] that returned it.
pub fn peak_since(base: usize) -> usize {
    PEAK.load(Relaxed) - base
}
