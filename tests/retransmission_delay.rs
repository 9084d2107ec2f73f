//! The classic stall: one lost 21-byte heartbeat holds the next three for ~200 ms until the
//! retransmission timer fires (testdata/tcp/heartbeat-3.pcap, captured at the receiver behind a
//! bridge that dropped exactly one segment; see testdata/README.md). The tool must show it.

use std::path::PathBuf;
use wiresift::core::{ConnectionId, Registry, StreamChunk};
use wiresift::net::CaptureReader;
use wiresift::{ConnectionSummary, Engine, EngineConfig, FlowRecord, Output};

#[derive(Default)]
struct Rec {
    held_chunks: Vec<(usize, u64)>, // (bytes, held µs)
    flows: Vec<FlowRecord>,
}

impl Output for Rec {
    fn data(&mut self, _c: ConnectionId, chunk: &StreamChunk<'_>) {
        if chunk.held.0 > 0 {
            self.held_chunks
                .push((chunk.data.len(), chunk.held.as_micros()));
        }
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        self.flows.push(FlowRecord::from_summary(c));
    }
}

#[test]
fn one_lost_heartbeat_shows_a_200ms_retransmission_delay() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/tcp/heartbeat-3.pcap");
    let mut reader = CaptureReader::open(&p).unwrap();
    let mut engine = Engine::new(EngineConfig::default(), Registry::new(), Rec::default());
    engine.run(&mut reader, |_| {}).unwrap();
    let rec = engine.into_output();
    assert_eq!(rec.flows.len(), 1);
    let f = &rec.flows[0];
    assert_eq!(
        (f.gaps, f.gap_bytes),
        (0, 0),
        "the retransmission filled the hole"
    );
    // The lost message was sent ~211 ms before its retransmission; the first held message
    // arrived 60 ms after it, so it waited ~150 ms (see testdata/README.md for the timings).
    assert!(
        (100_000..=260_000).contains(&f.max_retransmission_delay_us),
        "max_retransmission_delay_us {}",
        f.max_retransmission_delay_us
    );
    // One delivery released the retransmitted message plus the three held behind it.
    assert_eq!(rec.held_chunks.len(), 1, "{:?}", rec.held_chunks);
    assert_eq!(rec.held_chunks[0].0, 4 * 21);
}
