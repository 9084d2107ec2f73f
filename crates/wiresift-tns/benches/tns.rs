//! TNS session throughput (criterion, `Throughput::Bytes` of TNS stream bytes): a version-314
//! conversation of 2 000 OALL8 calls (fixed representation) and replies ending in an ERROR
//! message, both directions through one `TnsSession`, in 16 KiB chunks.
//!
//! `cargo bench -p wiresift-tns --bench tns -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, ProtocolSession,
    SessionEvent, StreamChunk, Timestamp,
};
use wiresift_tns::{TnsConfig, TnsSession};

fn pkt(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = ((8 + body.len()) as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, t, 0, 0, 0]);
    v.extend_from_slice(body);
    v
}

fn streams() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut c, mut s) = (Vec::new(), Vec::new());
    for i in 0..2000u32 {
        let sql = format!("select col_a, col_b from some_table where id = {i}");
        let mut b = vec![0, 0, 3, 0x5e, (i % 250) as u8];
        b.extend_from_slice(&0x8061u32.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.push(1);
        b.extend_from_slice(&(sql.len() as u32).to_le_bytes());
        b.extend_from_slice(&[0; 40]);
        b.push(sql.len() as u8);
        b.extend_from_slice(sql.as_bytes());
        b.extend_from_slice(&[0; 30]);
        c.push(pkt(6, &b));
        let mut r = vec![0, 0, 6];
        r.extend_from_slice(&[0x55; 300]);
        r.push(4);
        r.extend_from_slice(&1u32.to_le_bytes());
        r.extend_from_slice(&7u16.to_le_bytes());
        r.extend_from_slice(&1u32.to_le_bytes());
        r.extend_from_slice(&[0; 6]);
        r.extend_from_slice(&3u16.to_le_bytes());
        r.extend_from_slice(&[0; 50]);
        s.push(pkt(6, &r));
    }
    (c, s)
}

fn bench(cr: &mut Criterion) {
    let (c, s) = streams();
    let bytes: usize = c.iter().chain(s.iter()).map(Vec::len).sum();
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([192, 0, 2, 1].into(), 40000),
        server: Endpoint::new([192, 0, 2, 2].into(), 1521),
        start: Timestamp(0),
        midstream: true,
    };
    let mut g = cr.benchmark_group("session");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("oall8_calls", |b| {
        b.iter(|| {
            let mut sess = TnsSession::new(&conn, TnsConfig::default());
            let mut out: Vec<SessionEvent> = Vec::new();
            for (i, (q, r)) in c.iter().zip(s.iter()).enumerate() {
                for (dir, d) in [
                    (Direction::ClientToServer, q),
                    (Direction::ServerToClient, r),
                ] {
                    sess.on_data(
                        &StreamChunk {
                            dir,
                            ts: Timestamp(i as u64),
                            data: d,
                            held: Default::default(),
                        },
                        &mut out as &mut dyn EventSink,
                    );
                }
            }
            sess.on_close(
                Timestamp(1 << 40),
                CloseReason::Fin,
                &mut out as &mut dyn EventSink,
            );
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
