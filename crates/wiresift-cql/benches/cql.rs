//! Session throughput on synthetic CQL traffic: 2,000 QUERY/RESULT pairs (rows results of 10
//! int rows), as v4 bare frames and as v5 lz4 segments (several frames per segment), fed in
//! 1,460-byte chunks per direction. Reports bytes of both directions.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::{Arc, Mutex};
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Detail, Direction, Duration, Endpoint, EventSink,
    Message, ParseAnomaly, ProtocolSession, StreamChunk, Timestamp, Transaction,
};
use wiresift_cql::segment::{self, Kind};
use wiresift_cql::{Config, CqlSession, PreparedCache};

fn frame(version: u8, resp: bool, stream: i16, op: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![if resp { 0x80 | version } else { version }, 0];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(op);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn query(version: u8, q: &str) -> Vec<u8> {
    let mut b = (q.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(q.as_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    if version >= 5 {
        b.extend_from_slice(&4u32.to_be_bytes());
    } else {
        b.push(4);
    }
    b.extend_from_slice(&5000i32.to_be_bytes());
    b
}

fn rows() -> Vec<u8> {
    let mut b = 2i32.to_be_bytes().to_vec();
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    for s in ["ks", "users", "id"] {
        b.extend_from_slice(&(s.len() as u16).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    b.extend_from_slice(&9u16.to_be_bytes());
    b.extend_from_slice(&10i32.to_be_bytes());
    for i in 0..10i32 {
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&i.to_be_bytes());
    }
    b
}

/// (client bytes, server bytes) of `n` pairs.
fn traffic(version: u8, n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut c = Vec::new();
    let mut s = Vec::new();
    let mut cf = Vec::new();
    let mut sf = Vec::new();
    for i in 0..n {
        let stream = (i % 30_000) as i16;
        cf.extend(frame(
            version,
            false,
            stream,
            0x07,
            &query(version, &format!("SELECT * FROM ks.users WHERE id = {i}")),
        ));
        sf.extend(frame(version, true, stream, 0x08, &rows()));
        if version < 5 || cf.len() > 16_000 || i + 1 == n {
            if version >= 5 {
                for (buf, out) in [(&mut cf, &mut c), (&mut sf, &mut s)] {
                    let z = lz4_flex::block::compress(buf);
                    out.extend(segment::encode_raw(Kind::Lz4, &z, buf.len(), true));
                    buf.clear();
                }
            } else {
                c.append(&mut cf);
                s.append(&mut sf);
            }
        }
    }
    (c, s)
}

struct Count(usize);
impl EventSink for Count {
    fn transaction(&mut self, _tx: &mut Transaction) {
        self.0 += 1;
    }
    fn message(&mut self, _m: &Message) {}
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
    fn detail(&self) -> Detail {
        Detail::Full
    }
}

fn run(version: u8, c: &[u8], s: &[u8]) -> usize {
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.2".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.1".parse().unwrap(), 9042),
        start: Timestamp(0),
        midstream: false,
    };
    let cache = Arc::new(Mutex::new(PreparedCache::new(16, 1 << 16)));
    let mut sess = CqlSession::new(&conn, Config::default(), cache);
    let mut out = Count(0);
    if version >= 5 {
        // v5: a STARTUP asking for lz4 and its READY switch both directions to segments
        let st = [
            0x05, 0, 0, 0, 0x01, 0, 0, 0, 22, 0, 1, 0, 11, b'C', b'O', b'M', b'P', b'R', b'E',
            b'S', b'S', b'I', b'O', b'N', 0, 3, b'l', b'z', b'4',
        ];
        let rd = [0x85, 0, 0, 0, 0x02, 0, 0, 0, 0];
        for (dir, d) in [
            (Direction::ClientToServer, &st[..]),
            (Direction::ServerToClient, &rd[..]),
        ] {
            sess.on_data(
                &StreamChunk {
                    dir,
                    ts: Timestamp(1),
                    data: d,
                    held: Duration(0),
                },
                &mut out,
            );
        }
    }
    // the same number of chunks per direction, so replies keep up with requests
    let n = c.len().div_ceil(1460).max(1);
    let sc = s.len().div_ceil(n).max(1);
    let mut t = 1u64;
    for (a, b) in c
        .chunks(1460)
        .zip(s.chunks(sc).chain(std::iter::repeat(&[][..])))
    {
        t += 1000;
        sess.on_data(
            &StreamChunk {
                dir: Direction::ClientToServer,
                ts: Timestamp(t),
                data: a,
                held: Duration(0),
            },
            &mut out,
        );
        sess.on_data(
            &StreamChunk {
                dir: Direction::ServerToClient,
                ts: Timestamp(t + 500),
                data: b,
                held: Duration(0),
            },
            &mut out,
        );
    }
    for b in s.chunks(sc).skip(n) {
        sess.on_data(
            &StreamChunk {
                dir: Direction::ServerToClient,
                ts: Timestamp(t),
                data: b,
                held: Duration(0),
            },
            &mut out,
        );
    }
    sess.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out);
    out.0
}

fn bench(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("cql_session");
    for version in [4u8, 5] {
        let (c, s) = traffic(version, 2000);
        assert_eq!(run(version, &c, &s), 2000 + usize::from(version >= 5));
        g.throughput(Throughput::Bytes((c.len() + s.len()) as u64));
        let name = if version >= 5 {
            "v5_lz4_segments"
        } else {
            "v4_frames"
        };
        g.bench_with_input(BenchmarkId::new(name, 2000), &(c, s), |b, (c, s)| {
            b.iter(|| run(version, c, s))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
