//! Heap cost of CQL sessions, measured with a counting global allocator (per thread):
//! - allocations per paired QUERY/RESULT (6-column rows) transaction: 27 with full detail (a
//!   third of them the column specs), 11 with summary detail (no column specs kept);
//! - peak live heap bytes of one session under hostile input: 100 000 requests that are never
//!   answered (the pending map is capped), a server frame claiming 200 MB, and 2 MB of garbage
//!   after a gap (the boundary search holds at most a bounded window).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Detail, Direction, Duration, Endpoint, EventSink,
    GapInfo, Message, ParseAnomaly, ProtocolSession, StreamChunk, Timestamp, Transaction,
};
use wiresift_cql::{Config, CqlSession, PreparedCache};

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

struct Counting;

fn grow(n: i64) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + n);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        grow(l.size() as i64);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        grow(-(l.size() as i64));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        grow(new as i64 - l.size() as i64);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

struct Sink {
    detail: Detail,
    txs: u64,
}

impl EventSink for Sink {
    fn transaction(&mut self, tx: &mut Transaction) {
        self.txs += 1;
        assert!(!tx.command.is_empty());
    }
    fn message(&mut self, _m: &Message) {}
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
    fn detail(&self) -> Detail {
        self.detail
    }
}

fn frame(resp: bool, stream: i16, op: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![if resp { 0x84 } else { 0x04 }, 0];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(op);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn query(q: &str) -> Vec<u8> {
    let mut b = (q.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(q.as_bytes());
    b.extend_from_slice(&[0, 1, 0]); // ONE, no flags
    b
}

/// RESULT Rows body: 6 int columns of ks.t (global table spec), 2 rows.
fn rows_result() -> Vec<u8> {
    let mut b = 2i32.to_be_bytes().to_vec();
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&6i32.to_be_bytes());
    for s in ["ks", "t"] {
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    for c in ["a", "b", "c", "d", "e", "f"] {
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(c.as_bytes());
        b.extend_from_slice(&9u16.to_be_bytes());
    }
    b.extend_from_slice(&2i32.to_be_bytes());
    for _ in 0..12 {
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&7i32.to_be_bytes());
    }
    b
}

fn session() -> CqlSession {
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.2".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.1".parse().unwrap(), 9042),
        start: Timestamp(0),
        midstream: false,
    };
    let cache = Arc::new(Mutex::new(PreparedCache::new(16, 1 << 16)));
    CqlSession::new(&conn, Config::default(), cache)
}

fn feed(s: &mut CqlSession, dir: Direction, t: u64, data: &[u8], out: &mut Sink) {
    s.on_data(
        &StreamChunk {
            dir,
            ts: Timestamp(t),
            data,
            held: Duration(0),
        },
        out,
    );
}

#[test]
fn allocations_per_transaction() {
    // full: + table, name and type per kept column (3 x 6)
    for (detail, max) in [(Detail::Full, 28), (Detail::Summary, 12)] {
        let mut s = session();
        let mut out = Sink { detail, txs: 0 };
        let q = frame(false, 1, 0x07, &query("SELECT v FROM ks.t WHERE k = 1"));
        let r = frame(true, 1, 0x08, &rows_result()); // rows: 6 columns, 2 rows
        for i in 0..100 {
            feed(&mut s, Direction::ClientToServer, i * 10, &q, &mut out);
            feed(&mut s, Direction::ServerToClient, i * 10 + 5, &r, &mut out);
        }
        let before = ALLOCS.with(|c| c.get());
        for i in 100..1100 {
            feed(&mut s, Direction::ClientToServer, i * 10, &q, &mut out);
            feed(&mut s, Direction::ServerToClient, i * 10 + 5, &r, &mut out);
        }
        let per = (ALLOCS.with(|c| c.get()) - before) as f64 / 1000.0;
        assert_eq!(out.txs, 1100);
        eprintln!("{detail:?}: {per} allocations per QUERY/RESULT transaction");
        assert!(per <= max as f64, "{detail:?}: {per}");
    }
}

#[test]
fn hostile_input_stays_bounded() {
    let mut s = session();
    let mut out = Sink {
        detail: Detail::Full,
        txs: 0,
    };
    // inputs are made before measuring (the counter is per thread)
    let zeros = vec![0u8; 65536];
    let garbage: Vec<u8> = (0..500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    // 100 000 unanswered requests on distinct streams (wrapping): the pending map is capped
    let mut t = 0;
    for i in 0..100_000u32 {
        let q = frame(
            false,
            (i % 30_000) as i16,
            0x07,
            &query(&format!("SELECT {i}")),
        );
        t += 1;
        feed(&mut s, Direction::ClientToServer, t, &q, &mut out);
    }
    // a reply claiming 200 MB, fed in 64 KiB chunks of zeros
    let mut big = frame(true, 5, 0x08, &[]);
    big[5..9].copy_from_slice(&(200u32 << 20).to_be_bytes());
    feed(&mut s, Direction::ServerToClient, t, &big, &mut out);
    for _ in 0..(200 << 4) {
        feed(&mut s, Direction::ServerToClient, t, &zeros, &mut out);
    }
    // a gap, then 500 KB of garbage
    s.on_gap(
        &GapInfo {
            dir: Direction::ServerToClient,
            ts: Timestamp(t),
            len: Some(1000),
        },
        &mut out,
    );
    for c in garbage.chunks(1460) {
        feed(&mut s, Direction::ServerToClient, t, c, &mut out);
    }
    let peak = PEAK.with(|p| p.get()) - base;
    s.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out);
    assert_eq!(out.txs, 100_000 + 1);
    eprintln!("peak live heap of the session: {peak} bytes");
    // 1 024 pending requests (~0.6 KB each) and a carry-over of at most `max_frame`
    assert!(peak < 1500 << 10, "peak {peak}");
}
