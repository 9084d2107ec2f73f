//! Structure-aware engine target: the whole pipeline (`wiresift::Engine` with the default
//! registry, every plugin wrapped by `wiresift_fuzz::wrap`) fed an `arbitrary` sequence of TCP
//! segments, as raw IPv4 packets, across up to 8 connections on the plugins' ports (RESP, SMTP,
//! MySQL, CQL, TNS, SOCKS, memcached, HTTP). Payloads are canned protocol messages or raw
//! bytes; sequence numbers follow each direction (in order, or off by an arbitrary amount:
//! holes, overlaps, retransmissions); flags and time steps are arbitrary, so connections open,
//! close, time out and are evicted (tiny reassembly budgets).
//!
//! Checked after every packet: the reassembly's peak buffered bytes and open connections stay
//! within their budgets (as `check::InvariantCheck` does for the reassembler alone), every
//! session's state is within the per-connection cap and their sum within the global cap once
//! the engine has applied its budget rules, and inside each session (by the wrapper) the
//! accounting invariant after every call the engine makes and the bound after every `shed`.
//! Every transaction keeps the note bound. Nothing may panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wiresift::{ConnectionSummary, Engine, EngineConfig, Output, SessionBudget};
use wiresift_core::{Duration, Message, ParseAnomaly, Timestamp, Transaction};
use wiresift_fuzz::packet::{ipv4_tcp, Seg};
use wiresift_fuzz::wrap::{checked_registry, reset_state, state_figures};
use wiresift_net::{LinkType, RawPacket};
use wiresift_reassembly::ReassemblyConfig;

#[derive(Debug, Arbitrary)]
struct Input {
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Seg {
        conn: u8,
        from_server: bool,
        /// FIN 1, SYN 2, RST 4, PSH 8, ACK 16 (the rest ignored by the decoder's flags).
        flags: u8,
        /// Sequence number off the next expected one (`None`: in order, advancing).
        off: Option<i16>,
        payload: Payload,
        dt_ms: u16,
    },
    /// Capture time passes (seconds: timeouts, time-wait, request timers).
    Advance { secs: u8 },
}

#[derive(Debug, Arbitrary)]
enum Payload {
    None,
    Canned(u8),
    Raw(Vec<u8>),
}

const PORTS: [u16; 8] = [6379, 25, 3306, 9042, 1521, 1080, 11211, 80];
const MAX_CONNS: usize = 4;
const MAX_TOTAL: usize = 2048;
const PER_CONN: usize = 4096;
const GLOBAL: usize = 8192;
const MAX_OPS: usize = 128;

fn mysql(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

/// A canned message for the protocol on `port`, in one direction.
fn canned(port: u16, from_server: bool, i: u8) -> Vec<u8> {
    let pick = |c: &[&[u8]]| c[usize::from(i) % c.len()].to_vec();
    match (port, from_server) {
        (6379, false) => pick(&[b"*1\r\n$4\r\nPING\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", b"PING\r\n"]),
        (6379, true) => pick(&[b"+PONG\r\n", b"$1\r\nv\r\n", b"$-1\r\n", b"-ERR x\r\n"]),
        (25, false) => pick(&[b"EHLO x\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<c@d>\r\n", b"DATA\r\n", b"hi\r\n.\r\n", b"QUIT\r\n"]),
        (25, true) => pick(&[b"220 mx ESMTP\r\n", b"250 ok\r\n", b"354 go\r\n", b"221 bye\r\n", b"250-a\r\n250 b\r\n"]),
        (3306, false) => match i % 3 {
            0 => mysql(0, b"\x03SELECT 1"),
            1 => mysql(1, b"\x85\xa6\x03\x00\x00\x00\x00\x01\x21\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00u\x00\x00"),
            _ => mysql(0, b"\x01"),
        },
        (3306, true) => match i % 3 {
            0 => mysql(0, b"\x0a8.0.0\x00\x01\x00\x00\x00abcdefgh\x00\xff\xf7\x21\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00"),
            1 => mysql(1, b"\x00\x00\x00\x02\x00\x00\x00"),
            _ => mysql(1, b"\xff\x28\x04#HY000oops"),
        },
        (9042, false) => pick(&[
            &[4, 0, 0, 1, 5, 0, 0, 0, 0],
            &[4, 0, 0, 2, 7, 0, 0, 0, 17, 0, 0, 0, 8, b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'1', 0, 1, 0],
            &[4, 0, 0, 3, 1, 0, 0, 0, 22, 0, 1, 0, 11, b'C', b'Q', b'L', b'_', b'V', b'E', b'R', b'S', b'I', b'O', b'N', 0, 5, b'3', b'.', b'0', b'.', b'0'],
        ]),
        (9042, true) => pick(&[
            &[0x84, 0, 0, 1, 6, 0, 0, 0, 2, 0, 0],
            &[0x84, 0, 0, 2, 8, 0, 0, 0, 4, 0, 0, 0, 1],
            &[0x84, 0, 0, 3, 2, 0, 0, 0, 0],
        ]),
        (1080, false) => pick(&[&[5, 1, 0], &[5, 1, 0, 1, 10, 0, 0, 3, 0x18, 0xeb], b"*1\r\n$4\r\nPING\r\n"]),
        (1080, true) => pick(&[&[5, 0], &[5, 0, 0, 1, 10, 0, 0, 3, 0x18, 0xeb], b"+PONG\r\n"]),
        (11211, false) => pick(&[b"get k\r\n", b"set k 0 0 1\r\nv\r\n"]),
        (11211, true) => pick(&[b"END\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n", b"STORED\r\n"]),
        (_, false) => pick(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"CONNECT 10.0.0.3:6379 HTTP/1.1\r\n\r\n"]),
        (_, true) => pick(&[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 200 Connection established\r\n\r\n"]),
    }
}

/// Counts what comes out and checks the note bound on every transaction.
#[derive(Default)]
struct Out {
    transactions: u64,
}

impl Output for Out {
    fn transaction(&mut self, tx: &Transaction) {
        self.transactions += 1;
        wiresift_fuzz::check_notes(&tx.notes);
    }
    fn message(&mut self, _m: &Message) {}
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
    fn connection_closed(&mut self, _c: &ConnectionSummary<'_>) {}
}

fn check(e: &Engine<Out>) {
    let s = e.summary();
    assert!(
        s.reassembly.peak_buffered_bytes <= MAX_TOTAL,
        "{:?}",
        s.reassembly
    );
    assert!(
        s.reassembly.peak_connections <= MAX_CONNS,
        "{:?}",
        s.reassembly
    );
    // The engine drops a session that cannot shed to within its budget even with `shed(0)`:
    // for a session, that is failing the `shed` contract.
    assert_eq!(s.dissect.sessions_dropped_over_budget, 0, "{:?}", s.dissect);
    let (max, sum) = state_figures();
    assert!(
        max <= PER_CONN,
        "a session holds {max} B > per-connection cap {PER_CONN}"
    );
    assert!(sum <= GLOBAL, "sessions hold {sum} B > global cap {GLOBAL}");
}

fuzz_target!(|input: Input| {
    reset_state();
    let cfg = EngineConfig {
        reassembly: ReassemblyConfig {
            max_connections: MAX_CONNS,
            max_conn_buffer_bytes: 1024,
            max_total_buffer_bytes: MAX_TOTAL,
            max_segments_per_direction: 8,
            hole_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(60),
            time_wait: Duration::from_secs(1),
            server_ports: Vec::new(),
        },
        probe_budget: 512,
        session_budget: SessionBudget {
            per_connection: PER_CONN,
            global: GLOBAL,
        },
        ..EngineConfig::default()
    };
    let mut e = Engine::new(
        cfg,
        checked_registry(&wiresift::default_registry()),
        Out::default(),
    );
    // Next sequence number per connection and direction (client, server).
    let mut next = [[0u32; 2]; 8];
    for (i, n) in next.iter_mut().enumerate() {
        *n = [1_000 * i as u32 + 7, 0x8000_0000 + 1_000 * i as u32];
    }
    let mut now: u64 = 1_000_000_000;
    let mut buf = Vec::new();
    for op in input.ops.iter().take(MAX_OPS) {
        match op {
            Op::Advance { secs } => {
                // A packet of no connection moves time (the engine has no "advance" call).
                now += u64::from(*secs) * 1_000_000_000;
                ipv4_tcp(
                    &mut buf,
                    &Seg {
                        src: ([10, 9, 9, 9], 1),
                        dst: ([10, 9, 9, 8], 1),
                        seq: 0,
                        ack: 0,
                        flags: 4,
                        payload: &[],
                    },
                );
            }
            Op::Seg {
                conn,
                from_server,
                flags,
                off,
                payload,
                dt_ms,
            } => {
                let i = usize::from(*conn % 8);
                let port = PORTS[i];
                let client = ([10, 0, 0, 1], 40_000 + i as u16);
                let server = ([10, 0, 0, 2], port);
                let (src, dst) = if *from_server {
                    (server, client)
                } else {
                    (client, server)
                };
                let d = usize::from(*from_server);
                let bytes = match payload {
                    Payload::None => Vec::new(),
                    Payload::Canned(k) => canned(port, *from_server, *k),
                    Payload::Raw(v) => v[..v.len().min(300)].to_vec(),
                };
                let seq = next[i][d].wrapping_add(off.map_or(0, |o| o as i32 as u32));
                let flags = flags & 0x1f;
                if off.is_none() {
                    let syn_fin = u32::from(flags & 3 != 0);
                    next[i][d] = seq.wrapping_add(bytes.len() as u32 + syn_fin);
                }
                now += u64::from(*dt_ms) * 1_000_000;
                let ack = next[i][1 - d];
                ipv4_tcp(
                    &mut buf,
                    &Seg {
                        src,
                        dst,
                        seq,
                        ack,
                        flags,
                        payload: &bytes,
                    },
                );
            }
        }
        let pkt = RawPacket {
            ts: Timestamp(now),
            link_type: LinkType::RAW,
            data: &buf,
            orig_len: buf.len() as u32,
            interface: 0,
        };
        e.process_packet(&pkt);
        check(&e);
    }
    e.finish();
    check(&e);
    assert_eq!(state_figures(), (0, 0), "sessions left after finish");
});
