//! Structure-aware reassembly target: an `arbitrary` list of TCP segments (tuple, direction,
//! sequence offset, length, truncation, ack offset, flags, time step that may go backwards)
//! through a `Reassembler` with tiny budgets, then `finish`.
//!
//! Besides "no panic", it checks what must always hold: every payload byte is the low byte of
//! its sequence number, so within a direction each delivered byte must follow the previous one
//! and a gap of `n` bytes must skip exactly `n` (in order, exactly once); events only between
//! `Open` and `Close`; `ConnStats.bytes` equals what was delivered; never more bytes delivered
//! than captured; buffers within the global budget; nothing left after `finish`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wiresift_core::{Duration, Endpoint, Timestamp};
use wiresift_net::{TcpFlags, TcpSegment};
use wiresift_reassembly::check::InvariantCheck;
use wiresift_reassembly::{Reassembler, ReassemblyConfig};

#[derive(Debug, Arbitrary)]
struct Input {
    client_isn: u32,
    server_isn: u32,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Segment {
        /// Which of three client endpoints (port reuse, eviction with `max_connections` 2).
        tuple: u8,
        from_client: bool,
        /// Sequence number relative to the sender's ISN.
        seq_off: i16,
        len: u8,
        /// Captured bytes when the capture truncated the segment.
        captured: Option<u8>,
        /// Acknowledgment relative to the peer's ISN.
        ack_off: i16,
        flags: u8,
        /// Milliseconds since the previous segment; negative goes backwards.
        dt_ms: i16,
    },
    /// Let capture time pass without a packet.
    Advance { ms: u16 },
}

const MAX_TOTAL: usize = 250;
const MAX_CONNS: usize = 2;

fuzz_target!(|input: Input| {
    let cfg = ReassemblyConfig {
        max_connections: MAX_CONNS,
        max_conn_buffer_bytes: 200,
        max_total_buffer_bytes: MAX_TOTAL,
        max_segments_per_direction: 4,
        hole_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(3000),
        time_wait: Duration::from_millis(500),
        server_ports: Vec::new(),
    };
    let mut r = Reassembler::new(cfg);
    let mut sink = InvariantCheck::default();
    let server = Endpoint("10.0.0.2:6379".parse().expect("ip"));
    let mut now: i64 = 1_000_000;
    let mut captured_total = 0u64;
    let mut buf = Vec::new();
    for op in &input.ops {
        match *op {
            Op::Advance { ms } => {
                now += i64::from(ms);
                r.advance_time(Timestamp(now as u64 * 1_000_000), &mut sink);
            }
            Op::Segment {
                tuple,
                from_client,
                seq_off,
                len,
                captured,
                ack_off,
                flags,
                dt_ms,
            } => {
                let client = Endpoint(
                    format!("10.0.0.1:{}", 40000 + u16::from(tuple % 3))
                        .parse()
                        .expect("ip"),
                );
                let (src, dst) = if from_client {
                    (client, server)
                } else {
                    (server, client)
                };
                let (mine, theirs) = if from_client {
                    (input.client_isn, input.server_isn)
                } else {
                    (input.server_isn, input.client_isn)
                };
                let seq = mine.wrapping_add(seq_off as i32 as u32);
                let len = u32::from(len);
                let cap = captured.map_or(len, |c| u32::from(c).min(len));
                // Payload byte = low byte of its sequence number (data starts after a SYN).
                let first = seq.wrapping_add(u32::from(flags & TcpFlags::SYN != 0));
                buf.clear();
                buf.extend((0..cap).map(|i| first.wrapping_add(i) as u8));
                captured_total += u64::from(cap);
                now = (now + i64::from(dt_ms)).max(0);
                let seg = TcpSegment {
                    ts: Timestamp(now as u64 * 1_000_000),
                    src,
                    dst,
                    seq,
                    ack: theirs.wrapping_add(ack_off as i32 as u32),
                    flags: TcpFlags(flags),
                    window: 1000,
                    payload: &buf,
                    payload_len: len,
                };
                r.process(&seg, &mut sink);
            }
        }
        assert!(r.buffered_bytes() <= MAX_TOTAL);
        assert!(r.connection_count() <= MAX_CONNS);
    }
    r.finish(&mut sink);
    assert!(sink.open.is_empty());
    assert!(sink.delivered <= captured_total);
    assert_eq!(sink.delivered, r.stats().delivered_bytes);
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(r.connection_count(), 0);
});
