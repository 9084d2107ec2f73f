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

/// On a real lossy Redis capture (taken at the server, behind a bridge that dropped ~5% of
/// frames: testdata/resp/lossy.pcap), every transaction slower than 150 ms waited for a TCP
/// retransmission (the Linux minimum RTO is 200 ms; without loss these requests take < 20 ms),
/// and the tool must say so on each of them.
#[test]
fn every_slow_transaction_in_a_lossy_capture_is_explained() {
    #[derive(Default)]
    struct Slow(Vec<(u64, u64)>); // (latency, attributed delay)
    impl Output for Slow {
        fn transaction(&mut self, tx: &wiresift::core::Transaction) {
            let lat = tx.latency_us.unwrap_or(0);
            if lat > 150_000 {
                let d = tx
                    .notes
                    .iter()
                    .filter_map(|n| match n {
                        wiresift::core::Note::RetransmissionDelay { delay_us, .. } => {
                            Some(*delay_us)
                        }
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                self.0.push((lat, d));
            }
        }
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/resp/lossy.pcap");
    let mut reader = CaptureReader::open(&p).unwrap();
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Slow::default(),
    );
    engine.run(&mut reader, |_| {}).unwrap();
    let slow = engine.into_output().0;
    assert!(
        slow.len() >= 3,
        "expected slow transactions in the lossy capture: {slow:?}"
    );
    for (lat, d) in &slow {
        assert!(
            *d >= 150_000 && d <= lat,
            "latency {lat} µs with retransmission delay {d} µs: {slow:?}"
        );
    }
}
