//! A pcap written in memory, for tests that build their TCP traffic by hand
//! (`tests/engine_budget.rs`, `tests/sql_budget.rs`, `tests/sql_hostile.rs`): classic
//! little-endian microsecond pcap, raw IPv4 (link type 101), TCP with no options between
//! 10.0.0.2 (clients, one port each) and 10.0.0.1:`port`. Each direction's sequence numbers
//! start at 1000 and advance with what it sends; the IPv4 checksum is right, the TCP one is 0.
//!
//! Two ways to write a segment: [`Pcap::seg`] keeps the clock (10 µs a packet from 1 s), sets
//! ACK and the acknowledgment number like a real peer; [`Pcap::seg_at`] writes exactly the
//! time, flags and acknowledgment number it is given.
#![allow(dead_code)]

use std::collections::HashMap;

pub const SYN: u8 = 0x02;
pub const FIN: u8 = 0x01;
pub const ACK: u8 = 0x10;
pub const PSH: u8 = 0x08;

pub struct Pcap {
    pub out: Vec<u8>,
    port: u16,
    us: u64,
    seq: HashMap<(u16, bool), u32>,
}

impl Pcap {
    pub fn new(port: u16) -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&101u32.to_le_bytes()); // raw IP
        Pcap {
            out,
            port,
            us: 1_000_000,
            seq: HashMap::new(),
        }
    }

    /// One segment of connection `cport`, 10 µs after the last one written by `seg`, with ACK
    /// set (except on the client's SYN) and acknowledging all the other direction sent.
    pub fn seg(&mut self, cport: u16, from_server: bool, flags: u8, payload: &[u8]) {
        let ack = self.seq.get(&(cport, !from_server)).copied().unwrap_or(0);
        let f = if flags & SYN != 0 && !from_server {
            flags
        } else {
            flags | ACK
        };
        self.us += 10;
        self.seg_at(self.us, cport, from_server, f, ack, payload);
    }

    /// One segment of connection `cport` at `us` microseconds, with exactly `flags` and `ack`.
    pub fn seg_at(
        &mut self,
        us: u64,
        cport: u16,
        from_server: bool,
        flags: u8,
        ack: u32,
        payload: &[u8],
    ) {
        let (src, dst, sp, dp) = if from_server {
            ([10, 0, 0, 1], [10, 0, 0, 2], self.port, cport)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], cport, self.port)
        };
        let seq = self.seq.entry((cport, from_server)).or_insert(1000);
        let total = 40 + payload.len();
        let mut p = Vec::with_capacity(total);
        p.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
        ]);
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let mut sum: u32 = 0;
        for i in (0..20).step_by(2) {
            sum += u32::from(u16::from_be_bytes([p[i], p[i + 1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let ck = !(sum as u16);
        p[10..12].copy_from_slice(&ck.to_be_bytes());
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        *seq = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(flags & (SYN | FIN) != 0));
        self.out
            .extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        self.out
            .extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        self.out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&p);
    }

    pub fn open(&mut self, cport: u16) {
        self.seg(cport, false, SYN, &[]);
        self.seg(cport, true, SYN, &[]);
        self.seg(cport, false, 0, &[]);
    }

    /// `data` in segments of at most 1 448 bytes.
    pub fn send(&mut self, cport: u16, from_server: bool, data: &[u8]) {
        for c in data.chunks(1448) {
            self.seg(cport, from_server, PSH, c);
        }
    }

    /// Skip `n` bytes of one direction (never captured).
    pub fn hole(&mut self, cport: u16, from_server: bool, n: u32) {
        let s = self.seq.entry((cport, from_server)).or_insert(1000);
        *s = s.wrapping_add(n);
    }

    pub fn close(&mut self, cport: u16) {
        self.seg(cport, false, FIN, &[]);
        self.seg(cport, true, FIN, &[]);
        self.seg(cport, false, 0, &[]);
    }
}
