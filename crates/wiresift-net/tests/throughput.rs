//! Quick throughput measurement (not a criterion bench): a synthetic, in-order
//! Ethernet/IPv4/TCP pcap is generated in memory and read back through `CaptureReader` alone,
//! `CaptureReader` + `Decoder`, and `CaptureReader` + etherparse 0.21's `LaxSlicedPacket` (the
//! comparison that decided to hand-write the decoder).
//!
//! `cargo test -p wiresift-net --release --test throughput -- --ignored --nocapture`
//!
//! `WIRESIFT_TP_ONLY=<name substring>` restricts the run to matching variants, e.g. to compare
//! instruction counts with `perf stat -e instructions:u`.

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

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`), so that numbers taken on a
/// busy shared machine reflect our work rather than the wait for a core. Wall-clock elsewhere.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn measure(name: &str, bytes: usize, packets: u64, f: impl Fn() -> u64) {
    // WIRESIFT_TP_ONLY=<substring> runs only the matching variants.
    if let Ok(only) = std::env::var("WIRESIFT_TP_ONLY") {
        if !name.contains(only.as_str()) {
            return;
        }
    }
    // Best of five, after one warm-up.
    let _ = f();
    let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
    let mut check = 0;
    for _ in 0..5 {
        let (t, c) = (Instant::now(), cpu_ns());
        check = f();
        wall = wall.min(t.elapsed().as_secs_f64());
        if let (Some(c0), Some(c1)) = (c, cpu_ns()) {
            cpu = cpu.min((c1 - c0) as f64 / 1e9);
        }
    }
    let cpu = if cpu == f64::MAX { wall } else { cpu };
    println!(
        "{name:<36} cpu {:>6.0} MB/s {:>6.2} Mpkt/s {:>5.0} ns/pkt | wall {:>6.0} MB/s  ({check})",
        bytes as f64 / cpu / 1e6,
        packets as f64 / cpu / 1e6,
        cpu * 1e9 / packets as f64,
        bytes as f64 / wall / 1e6,
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
