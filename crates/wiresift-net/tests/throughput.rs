//! Quick throughput measurement (not a criterion bench): a synthetic, in-order
//! Ethernet/IPv4/TCP pcap is generated in memory and read back through `CaptureReader` alone,
//! `CaptureReader` + `Decoder`, and `CaptureReader` + etherparse 0.21's `LaxSlicedPacket` (the
//! comparison that decided to hand-write the decoder).
//!
//! `cargo test -p wiresift-net --release --test throughput -- --ignored --nocapture`

use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

use wiresift_net::{CaptureReader, Decoder};

/// A little-endian microsecond pcap of `n` Ethernet/IPv4/TCP packets with `payload` bytes each,
/// one connection, sequence numbers in order.
fn synthetic_pcap(n: usize, payload: usize) -> Vec<u8> {
    let frame_len = 14 + 20 + 32 + payload;
    let mut v = Vec::with_capacity(24 + n * (16 + frame_len));
    for x in [0xA1B2_C3D4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut seq = 1u32;
    for i in 0..n {
        let t = i as u32;
        for x in [1_700_000_000 + t / 10_000, (t % 10_000) * 100] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&(frame_len as u32).to_le_bytes());
        v.extend_from_slice(&(frame_len as u32).to_le_bytes());
        v.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let total = (20 + 32 + payload) as u16;
        v.extend_from_slice(&[0x45, 0]);
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        v.extend_from_slice(&[0xc3, 0x50, 0x18, 0xeb]);
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 1, 0x80, 0x18, 0x01, 0xf5, 0, 0, 0, 0]);
        v.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps
        v.extend((0..payload).map(|k| (k % 251) as u8));
        seq = seq.wrapping_add(payload as u32);
    }
    v
}

fn measure(name: &str, bytes: usize, packets: u64, f: impl Fn() -> u64) {
    // Best of three, after one warm-up.
    let _ = f();
    let mut best = f64::MAX;
    let mut check = 0;
    for _ in 0..3 {
        let t = Instant::now();
        check = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{name:<38} {:>8.0} MB/s {:>7.2} Mpkt/s  ({check} results, {packets} packets, {bytes} bytes)",
        bytes as f64 / best / 1e6,
        packets as f64 / best / 1e6,
    );
}

#[test]
#[ignore = "measurement; run with --release -- --ignored --nocapture"]
fn throughput() {
    for (n, payload) in [(60_000usize, 1448usize), (400_000, 64)] {
        let file: Arc<[u8]> = synthetic_pcap(n, payload).into();
        let len = file.len();
        println!("-- {n} packets, {payload}-byte payloads, {len} bytes");
        let reader = || CaptureReader::from_read(Box::new(Cursor::new(Arc::clone(&file)))).unwrap();
        measure("read only", len, n as u64, || {
            let mut r = reader();
            let mut k = 0;
            while let Some(p) = r.next_packet().unwrap() {
                k += p.data.len() as u64 & 1;
            }
            k
        });
        measure("read + wiresift Decoder", len, n as u64, || {
            let mut r = reader();
            let mut d = Decoder::default();
            let mut k = 0;
            while let Some(p) = r.next_packet().unwrap() {
                if let Some(s) = d.decode(&p) {
                    k += u64::from(s.payload_len);
                }
            }
            assert!(d.stats().accounted());
            assert_eq!(d.stats().tcp_segments, n as u64);
            k
        });
        measure("read + etherparse LaxSlicedPacket", len, n as u64, || {
            let mut r = reader();
            let mut k = 0;
            while let Some(p) = r.next_packet().unwrap() {
                if let Ok(s) = etherparse::LaxSlicedPacket::from_ethernet(p.data) {
                    if let Some(etherparse::TransportSlice::Tcp(t)) = s.transport {
                        k += t.payload().len() as u64;
                    }
                }
            }
            k
        });
    }
}
