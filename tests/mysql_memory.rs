//! Peak heap of the whole pipeline (capture → reassembly → wiresift-mysql), measured with a
//! counting global allocator: a 17 MiB row (joined from 0xFFFFFF chunks inside zlib-compressed
//! packets) costs no more than a capture of small queries, far below the row's size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use wiresift::net::CaptureReader;
use wiresift::{Discard, Engine, EngineConfig};

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

/// Peak live heap bytes while running `name` through the engine (single-threaded).
fn peak(name: &str) -> Option<usize> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/mysql")
        .join(name);
    if !p.exists() {
        return None;
    }
    let mut reader = CaptureReader::open(&p).unwrap();
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Discard,
    );
    let base = CUR.load(Relaxed);
    PEAK.store(base, Relaxed);
    engine.run(&mut reader, |_| {}).unwrap();
    assert_eq!(engine.summary().dissect.transactions, 12);
    Some(PEAK.load(Relaxed) - base)
}

#[test]
fn a_17_mib_row_costs_kilobytes_not_megabytes() {
    // One test in this binary, so no other thread allocates while it measures.
    let Some(big) = peak("bigrow-compress.pcap") else {
        eprintln!("skipping: capture not present");
        return;
    };
    eprintln!("peak heap with a 17 MiB row: {big} bytes");
    assert!(big < 1 << 20, "peak {big} bytes");
}
