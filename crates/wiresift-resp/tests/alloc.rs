//! What a transaction costs in heap allocations, measured with a counting global allocator (per
//! thread): with typed detail handed to the sink borrowed, a pipelined `GET k` answered by a
//! bulk string allocates only the strings the transaction keeps (command, query, the argument
//! list and its two arguments, the reply's bytes), and with `Detail::Summary` only its command
//! name and the reply's bytes (pairing reads them: errors, PSYNC, subscription confirmations,
//! pub/sub deliveries). Nothing else per transaction: no JSON tree, no boxed event.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use wiresift_core::{
    ConnectionId, ConnectionInfo, Detail, Direction, Duration, Endpoint, EventSink, Message,
    ParseAnomaly, ProtocolSession, StreamChunk, Timestamp, Transaction,
};
use wiresift_resp::{Config, RespSession};

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

/// Looks at every transaction (so nothing is optimised away) and keeps nothing.
struct Sink {
    detail: Detail,
    txs: u64,
    bytes: usize,
}

impl EventSink for Sink {
    fn transaction(&mut self, tx: &mut Transaction) {
        self.txs += 1;
        self.bytes += tx.command.len() + tx.query.len();
        assert!(tx.latency_us.is_some());
    }
    fn message(&mut self, _m: &Message) {}
    fn anomaly(&mut self, a: &ParseAnomaly) {
        panic!("unexpected anomaly {a:?}");
    }
    fn detail(&self) -> Detail {
        self.detail
    }
}

fn per_transaction(detail: Detail) -> f64 {
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.2".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.1".parse().unwrap(), 6379),
        start: Timestamp(0),
        midstream: false,
    };
    let mut s = RespSession::new(&conn, Config::default());
    let mut out = Sink {
        detail,
        txs: 0,
        bytes: 0,
    };
    let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(16);
    let rep = b"$1\r\nv\r\n".repeat(16);
    let mut t = 1_000_000u64;
    let mut feed = |s: &mut RespSession, out: &mut Sink, dir, data: &[u8]| {
        t += 1_000;
        let c = StreamChunk {
            dir,
            ts: Timestamp(t),
            data,
            held: Duration(0),
        };
        s.on_data(&c, out);
    };
    // Warm up: buffers and queues reach their steady size.
    for _ in 0..100 {
        feed(&mut s, &mut out, Direction::ClientToServer, &req);
        feed(&mut s, &mut out, Direction::ServerToClient, &rep);
    }
    let (a0, t0) = (allocs(), out.txs);
    for _ in 0..1000 {
        feed(&mut s, &mut out, Direction::ClientToServer, &req);
        feed(&mut s, &mut out, Direction::ServerToClient, &rep);
    }
    let n = out.txs - t0;
    assert_eq!(n, 16_000);
    (allocs() - a0) as f64 / n as f64
}

#[test]
fn a_transaction_allocates_only_the_strings_it_keeps() {
    let full = per_transaction(Detail::Full);
    // command, query, args Vec, "GET", "k", the reply's bytes: 6.
    assert!(
        full <= 6.0,
        "{full} allocations per transaction with full detail"
    );
    let summary = per_transaction(Detail::Summary);
    // The command name, and the reply's bytes.
    assert!(
        summary <= 2.0,
        "{summary} allocations per transaction with summary detail"
    );
    eprintln!("allocations per transaction: full {full}, summary {summary}");
}
