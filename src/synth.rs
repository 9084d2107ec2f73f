//! A synthetic capture generator for benchmarks, memory tests and fuzz seeds.
//!
//! Writes a classic little-endian microsecond pcap of Ethernet/IPv4/TCP packets: `connections`
//! concurrent client connections to a Redis-like server on port 6379, each with a full
//! handshake, interleaved request/response exchanges (`SET key value` → `+OK`, `GET key` →
//! bulk reply) segmented at a 1448-byte MSS like a real Ethernet link, and a FIN close. Everything
//! is in order with no loss, so it measures the fast path. Deterministic for given parameters.

use std::io::{self, Write};

/// Parameters of [`write_pcap`].
#[derive(Debug, Clone, Copy)]
pub struct SynthConfig {
    /// Concurrent connections (round-robin interleaved).
    pub connections: u16,
    /// Stop after roughly this many bytes of capture.
    pub target_bytes: u64,
    /// SET value size in bytes.
    pub value_size: usize,
    /// Maximum TCP payload per packet.
    pub mss: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            connections: 64,
            target_bytes: 64 << 20,
            value_size: 1024,
            mss: 1448,
        }
    }
}

struct Conn {
    port: u16,
    seq: [u32; 2],
    n: u64,
}

struct W<'a, O: Write> {
    out: &'a mut O,
    written: u64,
    ts_us: u64,
    buf: Vec<u8>,
}

impl<O: Write> W<'_, O> {
    fn packet(
        &mut self,
        c: &mut Conn,
        from_server: bool,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let (sip, dip, sport, dport) = if from_server {
            ([10, 0, 0, 1], [10, 0, 0, 2], 6379, c.port)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], c.port, 6379)
        };
        let d = usize::from(from_server);
        let seq = c.seq[d];
        let ack = c.seq[1 - d];
        let b = &mut self.buf;
        b.clear();
        // Ethernet
        b.extend_from_slice(&[2, 0, 0, 0, 0, if from_server { 1 } else { 2 }]);
        b.extend_from_slice(&[2, 0, 0, 0, 0, if from_server { 2 } else { 1 }]);
        b.extend_from_slice(&[0x08, 0x00]);
        // IPv4
        let ip_len = (20 + 20 + payload.len()) as u16;
        b.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        b.extend_from_slice(&sip);
        b.extend_from_slice(&dip);
        // TCP
        b.extend_from_slice(&sport.to_be_bytes());
        b.extend_from_slice(&dport.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        let len = b.len() as u32;
        self.ts_us += 3;
        let (s, us) = (
            (self.ts_us / 1_000_000) as u32,
            (self.ts_us % 1_000_000) as u32,
        );
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&s.to_le_bytes());
        hdr[4..8].copy_from_slice(&us.to_le_bytes());
        hdr[8..12].copy_from_slice(&len.to_le_bytes());
        hdr[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&hdr)?;
        self.out.write_all(&self.buf)?;
        self.written += 16 + u64::from(len);
        let adv = payload.len() as u32 + u32::from(flags & 0x03 != 0); // SYN/FIN take one
        c.seq[d] = c.seq[d].wrapping_add(adv);
        Ok(())
    }

    fn send(&mut self, c: &mut Conn, from_server: bool, data: &[u8], mss: usize) -> io::Result<()> {
        for chunk in data.chunks(mss.max(1)) {
            self.packet(c, from_server, 0x18, chunk)?; // PSH|ACK
        }
        Ok(())
    }
}

/// Write the synthetic capture to `out`; returns the number of bytes written.
pub fn write_pcap<O: Write>(out: &mut O, cfg: &SynthConfig) -> io::Result<u64> {
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&262_144u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    out.write_all(&hdr)?;
    let mut w = W {
        out,
        written: 24,
        ts_us: 1_700_000_000_000_000,
        buf: Vec::with_capacity(2048),
    };
    let mut conns: Vec<Conn> = (0..cfg.connections.max(1))
        .map(|i| Conn {
            port: 20_000 + i,
            seq: [
                1_000_000u32.wrapping_mul(u32::from(i) + 1),
                4_000_000_000u32.wrapping_add(u32::from(i)),
            ],
            n: 0,
        })
        .collect();
    for c in conns.iter_mut() {
        w.packet(c, false, 0x02, &[])?; // SYN
        w.packet(c, true, 0x12, &[])?; // SYN-ACK
        w.packet(c, false, 0x10, &[])?; // ACK
    }
    let value = vec![b'x'; cfg.value_size];
    let mut req = Vec::new();
    let mut rep = Vec::new();
    'outer: loop {
        for c in conns.iter_mut() {
            if w.written >= cfg.target_bytes {
                break 'outer;
            }
            let key = format!("key:{:08}", c.n % 10_000);
            req.clear();
            rep.clear();
            if c.n % 2 == 0 {
                write!(
                    req,
                    "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n${}\r\n",
                    key.len(),
                    key,
                    value.len()
                )?;
                req.extend_from_slice(&value);
                req.extend_from_slice(b"\r\n");
                rep.extend_from_slice(b"+OK\r\n");
            } else {
                write!(req, "*2\r\n$3\r\nGET\r\n${}\r\n{}\r\n", key.len(), key)?;
                write!(rep, "${}\r\n", value.len())?;
                rep.extend_from_slice(&value);
                rep.extend_from_slice(b"\r\n");
            }
            c.n += 1;
            w.send(c, false, &req, cfg.mss)?;
            w.send(c, true, &rep, cfg.mss)?;
        }
    }
    for c in conns.iter_mut() {
        w.packet(c, false, 0x11, &[])?; // FIN|ACK
        w.packet(c, true, 0x11, &[])?;
        w.packet(c, false, 0x10, &[])?;
    }
    Ok(w.written)
}
