//! Anything goes: random flags (SYN, FIN, RST), sequence numbers around and before the stream,
//! truncation, time going backwards, tiny budgets, several tuples. Nothing may panic and the
//! output must stay consistent:
//! - every payload byte is its sequence number's low byte, so within a direction each `Data`
//!   byte must follow the previous one, and after a gap of `n` bytes, skip exactly `n` (bytes in
//!   order, exactly once);
//! - events only between `Open` and `Close`, `Close` once, `ConnStats.bytes` equal to the data
//!   delivered;
//! - never more bytes delivered than captured; buffers within the global budget after every
//!   segment; nothing left after `finish`.
//!
//! `fuzz/fuzz_targets/reassembly.rs` runs the same checks under libFuzzer.

use proptest::prelude::*;

use super::*;
use crate::check::InvariantCheck;

#[derive(Debug, Clone)]
struct Op {
    tuple: u8,
    from_client: bool,
    seq_off: i16,
    len: u8,
    captured: Option<u8>,
    ack_off: i16,
    flags: u8,
    dt_ms: i16,
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop_oneof![
        6 => Just(ACK),
        1 => Just(SYN),
        1 => Just(SYN | ACK),
        1 => Just(FIN | ACK),
        1 => Just(RST),
        1 => any::<u8>(),
    ];
    (
        0u8..3,
        any::<bool>(),
        -100i16..600,
        0u8..120,
        prop::option::weighted(0.1, any::<u8>()),
        prop_oneof![3 => -100i16..20, 1 => -100i16..600],
        flags,
        prop_oneof![20 => -20i16..200, 1 => 2000i16..5000],
    )
        .prop_map(
            |(tuple, from_client, seq_off, len, captured, ack_off, flags, dt_ms)| Op {
                tuple,
                from_client,
                seq_off,
                len,
                captured,
                ack_off,
                flags,
                dt_ms,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn chaos_never_panics_and_stays_consistent(
        isn in (any::<u32>(), any::<u32>()),
        ops in prop::collection::vec(op(), 0..150),
    ) {
        let cfg = ReassemblyConfig {
            max_connections: 2,
            max_conn_buffer_bytes: 200,
            max_total_buffer_bytes: 250,
            max_segments_per_direction: 4,
            hole_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(3000),
            time_wait: Duration::from_millis(500),
            server_ports: Vec::new(),
        };
        let mut r = Reassembler::new(cfg);
        let mut sink = InvariantCheck::default();
        let server = ep("10.0.0.2:6379");
        let mut now: i64 = 1_000_000;
        let mut captured_total = 0u64;
        let mut buf = Vec::new();
        for o in &ops {
            let client = Endpoint::new("10.0.0.1".parse().expect("ip"), 40000 + u16::from(o.tuple));
            let (src, dst) = if o.from_client { (client, server) } else { (server, client) };
            let (mine, theirs) = if o.from_client { (isn.0, isn.1) } else { (isn.1, isn.0) };
            let seq = mine.wrapping_add(o.seq_off as i32 as u32);
            let len = u32::from(o.len);
            let cap = o.captured.map_or(len, |c| u32::from(c).min(len));
            buf.clear();
            // Payload byte = low byte of its sequence number (data starts after a SYN).
            let first = seq.wrapping_add(u32::from(o.flags & SYN != 0));
            buf.extend((0..cap).map(|i| first.wrapping_add(i) as u8));
            captured_total += u64::from(cap);
            now = (now + i64::from(o.dt_ms)).max(0);
            let seg = TcpSegment {
                ts: Timestamp(now as u64 * 1_000_000),
                src,
                dst,
                seq,
                ack: theirs.wrapping_add(o.ack_off as i32 as u32),
                flags: TcpFlags(o.flags),
                window: 1000,
                payload: &buf,
                payload_len: len,
            };
            r.process(&seg, &mut sink);
            prop_assert!(r.buffered_bytes() <= 250);
            prop_assert!(r.connection_count() <= 2);
        }
        r.finish(&mut sink);
        prop_assert!(sink.open.is_empty());
        prop_assert!(sink.delivered <= captured_total);
        prop_assert_eq!(sink.delivered, r.stats().delivered_bytes);
        prop_assert_eq!(r.buffered_bytes(), 0);
        prop_assert_eq!(r.connection_count(), 0);
    }
}
