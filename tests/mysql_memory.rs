//! Peak heap of the whole pipeline (capture → reassembly → wiresift-mysql), measured with a
//! counting global allocator: a 17 MiB row (joined from 0xFFFFFF chunks inside zlib-compressed
//! packets) costs no more than a capture of small queries, far below the row's size.

mod counting_alloc;

use counting_alloc::{peak_since, reset_peak};
use std::path::Path;
use wiresift::net::CaptureReader;
use wiresift::{Discard, Engine, EngineConfig};

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
    let base = reset_peak();
    engine.run(&mut reader, |_| {}).unwrap();
    assert_eq!(engine.summary().dissect.transactions, 12);
    Some(peak_since(base))
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
