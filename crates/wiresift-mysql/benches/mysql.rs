//! Framing and session throughput.
//!
//! `cargo bench -p wiresift-mysql --bench mysql -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::io::Write;
use wiresift_core::{
    ConnectionId, ConnectionInfo, Detail, Direction, Duration, Endpoint, EventSink, Message,
    ParseAnomaly, ProtocolSession, StreamChunk, Timestamp, Transaction,
};
use wiresift_mysql::framing::{Compression, Ev, Framer, Inflater};
use wiresift_mysql::{Config, MysqlSession};

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

/// `n` sysbench-like point selects and their one-row text replies: (client bytes per query,
/// server bytes per reply).
fn exchange(i: usize) -> (Vec<u8>, Vec<u8>) {
    let q = packet(
        0,
        format!("\x03SELECT c FROM sbtest1 WHERE id={}", 1000 + i).as_bytes(),
    );
    let mut r = packet(1, b"\x01");
    let mut col = b"\x03def\x06sbtest\x08sbtest1\x08sbtest1\x01c\x01c\x0c".to_vec();
    col.extend_from_slice(&[8, 0, 0xe0, 1, 0, 0, 0xfe, 0, 0, 0, 0, 0]);
    r.extend(packet(2, &col));
    r.extend(packet(3, b"\xfe\x00\x00\x22\x00"));
    let mut row = vec![120u8];
    row.extend_from_slice(&[b'7'; 120]);
    r.extend(packet(4, &row));
    r.extend(packet(5, b"\xfe\x00\x00\x22\x00"));
    (q, r)
}

fn compress(stream: &[u8], seq: u8) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(stream).unwrap();
    let z = e.finish().unwrap();
    let mut v = (z.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(&(stream.len() as u32).to_le_bytes()[..3]);
    v.extend_from_slice(&z);
    v
}

struct Sink(u64);
impl EventSink for Sink {
    fn transaction(&mut self, tx: &mut Transaction) {
        self.0 += tx.response_bytes;
    }
    fn message(&mut self, _m: &Message) {}
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
    fn detail(&self) -> Detail {
        Detail::Full
    }
}

fn bench(c: &mut Criterion) {
    let n = 5_000;
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..n).map(exchange).collect();
    let server: Vec<u8> = pairs.iter().flat_map(|p| p.1.clone()).collect();
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(server.len() as u64));
    g.bench_function("packets/result_sets", |b| {
        b.iter(|| {
            let mut f = Framer::new(64 * 1024);
            let mut k = 0u64;
            for chunk in server.chunks(1448) {
                f.feed(chunk, Timestamp(0), &mut |e| {
                    if let Ev::Packet(p) = e {
                        k += p.len;
                    }
                    false
                });
            }
            black_box(k)
        })
    });
    let zpackets: Vec<u8> = pairs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| compress(&p.1, i as u8))
        .collect();
    g.throughput(Throughput::Bytes(zpackets.len() as u64));
    g.bench_function("zlib/result_sets", |b| {
        b.iter(|| {
            let mut inf = Inflater::new(Compression::Zlib, 1 << 24, 1 << 22);
            let mut f = Framer::new(64 * 1024);
            let mut k = 0u64;
            for chunk in zpackets.chunks(1448) {
                inf.feed(chunk, Timestamp(0), &mut f, &mut |e| {
                    if let Ev::Packet(p) = e {
                        k += p.len;
                    }
                    false
                });
            }
            black_box(k)
        })
    });
    g.finish();

    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 3306),
        start: Timestamp(0),
        midstream: true,
    };
    let total: u64 = pairs.iter().map(|p| (p.0.len() + p.1.len()) as u64).sum();
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("text/point_selects", |b| {
        b.iter(|| {
            let mut s = MysqlSession::new(&conn, Config::default());
            let mut sink = Sink(0);
            for (i, (q, r)) in pairs.iter().enumerate() {
                let t = Timestamp(i as u64 * 1000);
                for (dir, d) in [
                    (Direction::ClientToServer, q),
                    (Direction::ServerToClient, r),
                ] {
                    s.on_data(
                        &StreamChunk {
                            dir,
                            ts: t,
                            data: d,
                            held: Duration(0),
                        },
                        &mut sink,
                    );
                }
            }
            black_box(sink.0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
