//! Parser and session throughput.
//!
//! `cargo bench -p wiresift-resp --bench parser -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wiresift_core::{
    ConnectionId, ConnectionInfo, Detail, Direction, Duration, Endpoint, EventSink, Message,
    ParseAnomaly, ProtocolSession, StreamChunk, Timestamp, Transaction,
};
use wiresift_resp::parser::{parse_request, parse_token, parse_value, Limits, Parsed};
use wiresift_resp::{Config, RespSession};

/// `n` pipelined `SET key:<i> <value>` commands as redis-benchmark sends them.
fn pipelined_sets(n: usize, value: usize) -> Vec<u8> {
    let v = "x".repeat(value);
    let mut out = Vec::new();
    for i in 0..n {
        let k = format!("key:{i:08}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    out
}

fn bench_parser(c: &mut Criterion) {
    let limits = Limits::default();
    let small = pipelined_sets(10_000, 3);
    let mut g = c.benchmark_group("parser");
    g.throughput(Throughput::Bytes(small.len() as u64));
    g.bench_function("tokens/pipelined_small_set", |b| {
        b.iter(|| {
            let mut pos = 0;
            let mut n = 0u32;
            while let Ok(Parsed::Done(t, used)) = parse_token(&small[pos..], &limits) {
                black_box(t);
                pos += used;
                n += 1;
            }
            n
        })
    });
    g.bench_function("requests/pipelined_small_set", |b| {
        b.iter(|| {
            let mut pos = 0;
            let mut n = 0u64;
            while let Ok(Parsed::Done(r, used)) = parse_request(&small[pos..], &limits) {
                n += r.argc;
                pos += used;
            }
            n
        })
    });
    // Commands per second on the same input.
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("requests/pipelined_small_set_cmds", |b| {
        b.iter(|| {
            let mut pos = 0;
            while let Ok(Parsed::Done(_, used)) = parse_request(&small[pos..], &limits) {
                pos += used;
            }
            pos
        })
    });
    // Large values: 1 MiB bulk replies, skipped by length.
    let mut large = Vec::new();
    for _ in 0..16 {
        large.extend_from_slice(format!("${}\r\n", 1 << 20).as_bytes());
        large.extend(std::iter::repeat_n(b'v', 1 << 20));
        large.extend_from_slice(b"\r\n");
    }
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("values/large_1mib_bulk", |b| {
        b.iter(|| {
            let mut pos = 0;
            while let Ok(Parsed::Done(v, used)) = parse_value(&large[pos..], &limits) {
                black_box(v);
                pos += used;
            }
            pos
        })
    });
    g.finish();
}

struct Count(u64, Detail);
impl EventSink for Count {
    fn transaction(&mut self, tx: &mut Transaction) {
        self.0 += 1;
        black_box(tx);
    }
    fn message(&mut self, m: &Message) {
        self.0 += 1;
        black_box(m);
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        self.0 += 1;
        black_box(a);
    }
    fn detail(&self) -> Detail {
        self.1
    }
}

fn bench_session(c: &mut Criterion) {
    let n = 10_000;
    let reqs = pipelined_sets(n, 3);
    let reps = b"+OK\r\n".repeat(n);
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 50000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 6379),
        start: Timestamp(0),
        midstream: false,
    };
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Bytes((reqs.len() + reps.len()) as u64));
    for (name, detail) in [("full", Detail::Full), ("summary", Detail::Summary)] {
        g.bench_function(format!("pipelined_small_set_1448b_segments/{name}"), |b| {
            b.iter(|| {
                let mut s = RespSession::new(&conn, Config::default());
                let mut sink = Count(0, detail);
                // Interleave request and reply segments the way a capture would.
                let mut ci = reqs.chunks(1448);
                // Reply segments sized so that replies keep pace with requests.
                let mut si = reps.chunks((1448 * reps.len() / reqs.len()).max(1));
                let mut t = 0;
                loop {
                    let a = ci.next();
                    let b2 = si.next();
                    if a.is_none() && b2.is_none() {
                        break;
                    }
                    for (dir, d) in [
                        (Direction::ClientToServer, a),
                        (Direction::ServerToClient, b2),
                    ] {
                        if let Some(d) = d {
                            t += 1000;
                            let ch = StreamChunk {
                                dir,
                                ts: Timestamp(t),
                                data: d,
                                held: Duration(0),
                            };
                            s.on_data(&ch, &mut sink);
                        }
                    }
                }
                sink.0
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_parser, bench_session);
criterion_main!(benches);
