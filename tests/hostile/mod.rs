//! Hostile-case generator for the bounded-memory tests of issue #7 (`tests/hostile_memory.rs`).
//!
//! Each [`Case`] is a deterministic sequence of [`Ev`]ents (connection opened, bytes of one
//! direction, bytes never captured, connection closed), produced at a given [`Scale`]. The same
//! events are
//! - written as a classic pcap (Ethernet/IPv4/TCP, 1448-byte MSS, a hole is a segment whose
//!   sequence numbers are skipped) by [`write_pcap`], to run through the engine, or to
//!   `testdata/large/hostile-*.pcap` for the end-to-end RSS measurement
//!   (`WIRESIFT_HOSTILE_FULL=1 cargo test --release --test hostile_memory write_full_size`), and
//! - fed straight to protocol sessions by the memory test.
//!
//! The cases, full size (CI scale in brackets):
//! - `resp-hole-framing`: 10⁵ SETs of 1 KB [10⁴ of 100 B] behind a hole, every client segment
//!   ending in a framing error, each answered;
//! - `resp-framing`: 40 MB [2 MB] of RESP framing errors;
//! - `resp-no-replies`: 64 connections of pipelined SETs, 5 MB each [256 KB], never answered;
//! - `ping-flows`: 10⁶ [2·10⁴] flows, each a SYN and one segment of 14 PINGs, no reply, no FIN;
//! - `smtp-rcpt`: one mail with 300 000 [30 000] RCPT, each answered;
//! - `holes`: 200 connections × 400 KB [40 KB] of GETs behind a hole in the client's first
//!   segment, answered.

#![allow(dead_code)]

use std::io::{self, Write};

/// How big.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// What CI can afford (seconds in a debug build).
    Ci,
    /// The sizes of issue #7.
    Full,
}

/// The hostile cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    RespHoleFraming,
    RespFraming,
    RespNoReplies,
    PingFlows,
    SmtpRcpt,
    Holes,
}

impl Case {
    pub const ALL: [Case; 6] = [
        Case::RespHoleFraming,
        Case::RespFraming,
        Case::RespNoReplies,
        Case::PingFlows,
        Case::SmtpRcpt,
        Case::Holes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::RespHoleFraming => "resp-hole-framing",
            Case::RespFraming => "resp-framing",
            Case::RespNoReplies => "resp-no-replies",
            Case::PingFlows => "ping-flows",
            Case::SmtpRcpt => "smtp-rcpt",
            Case::Holes => "holes",
        }
    }

    /// Server port (decides the plugin).
    pub fn port(self) -> u16 {
        match self {
            Case::SmtpRcpt => 25,
            _ => 6379,
        }
    }
}

/// One step of a case.
#[derive(Debug)]
pub enum Ev<'a> {
    /// A connection starts (handshake).
    Open { flow: u32 },
    /// In-order bytes of one direction.
    Data {
        flow: u32,
        from_server: bool,
        data: &'a [u8],
    },
    /// Bytes of one direction that were never captured.
    Hole {
        flow: u32,
        from_server: bool,
        len: u32,
    },
    /// The connection ends (FIN both ways).
    Close { flow: u32 },
    /// Capture time passes (microseconds).
    Wait { us: u64 },
}

const MSS: usize = 1448;

fn set(buf: &mut Vec<u8>, i: u64, value: usize) {
    let key = format!("key:{:08}", i % 100_000);
    let _ = write!(
        buf,
        "*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n${}\r\n",
        key.len(),
        key,
        value
    );
    buf.extend(std::iter::repeat_n(b'v', value));
    buf.extend_from_slice(b"\r\n");
}

fn get(buf: &mut Vec<u8>, i: u64) {
    let key = format!("key:{:08}", i % 100_000);
    let _ = write!(buf, "*2\r\n$3\r\nGET\r\n${}\r\n{}\r\n", key.len(), key);
}

/// Send `data` on `flow` in MSS-sized segments.
fn send(f: &mut dyn FnMut(Ev<'_>), flow: u32, from_server: bool, data: &[u8]) {
    for c in data.chunks(MSS) {
        f(Ev::Data {
            flow,
            from_server,
            data: c,
        });
    }
}

/// Produce the events of `case` at `scale`, in capture order.
pub fn events(case: Case, scale: Scale, f: &mut dyn FnMut(Ev<'_>)) {
    let full = scale == Scale::Full;
    let mut buf = Vec::new();
    match case {
        Case::RespHoleFraming => {
            let (n, value) = if full {
                (100_000u64, 1000)
            } else {
                (10_000, 100)
            };
            f(Ev::Open { flow: 0 });
            // The first request is lost: everything after it waits behind the hole.
            set(&mut buf, 0, value);
            f(Ev::Hole {
                flow: 0,
                from_server: false,
                len: buf.len() as u32,
            });
            let mut i = 1;
            while i < n {
                buf.clear();
                // A segment's worth of SETs, ending in a request that is not RESP (an integer
                // where a bulk string belongs): a framing error at every segment boundary.
                while buf.len() + value + 64 < MSS && i < n {
                    set(&mut buf, i, value);
                    i += 1;
                }
                buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n:7\r\n");
                let reqs = buf.len();
                f(Ev::Data {
                    flow: 0,
                    from_server: false,
                    data: &buf[..reqs.min(MSS)],
                });
                if reqs > MSS {
                    f(Ev::Data {
                        flow: 0,
                        from_server: false,
                        data: &buf[MSS..],
                    });
                }
                let mut rep = Vec::new();
                for _ in 0..buf.windows(5).filter(|w| w == b"\r\nSET").count() {
                    rep.extend_from_slice(b"+OK\r\n");
                }
                rep.extend_from_slice(b"-ERR Protocol error: expected '$', got ':'\r\n");
                send(f, 0, true, &rep);
            }
            f(Ev::Close { flow: 0 });
        }
        Case::RespFraming => {
            let total = if full { 40 << 20 } else { 2 << 20 };
            f(Ev::Open { flow: 0 });
            let pattern: &[&[u8]] = &[
                b"*2\r\n:1\r\n",
                b"*x\r\n",
                b"*1\r\n*1\r\n+nested\r\n",
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-5\r\n",
                b"*1\r\n$3\r\nabcd\r\n",
            ];
            let mut sent = 0;
            let mut k = 0;
            while sent < total {
                buf.clear();
                while buf.len() < MSS - 40 {
                    buf.extend_from_slice(pattern[k % pattern.len()]);
                    k += 1;
                }
                sent += buf.len();
                f(Ev::Data {
                    flow: 0,
                    from_server: false,
                    data: &buf,
                });
            }
            f(Ev::Close { flow: 0 });
        }
        Case::RespNoReplies => {
            let per = if full { 5 << 20 } else { 256 << 10 };
            for c in 0..64 {
                f(Ev::Open { flow: c });
            }
            let mut sent = 0;
            let mut i = 0u64;
            while sent < per {
                for c in 0..64 {
                    buf.clear();
                    while buf.len() + 120 < MSS {
                        set(&mut buf, i, 64);
                        i += 1;
                    }
                    f(Ev::Data {
                        flow: c,
                        from_server: false,
                        data: &buf,
                    });
                }
                sent += buf.len();
            }
            for c in 0..64 {
                f(Ev::Close { flow: c });
            }
        }
        Case::PingFlows => {
            let n = if full { 1_000_000 } else { 20_000 };
            let pings = b"*1\r\n$4\r\nPING\r\n".repeat(14);
            for c in 0..n {
                f(Ev::Open { flow: c });
                f(Ev::Data {
                    flow: c,
                    from_server: false,
                    data: &pings,
                });
            }
        }
        Case::SmtpRcpt => {
            let n = if full { 300_000 } else { 30_000 };
            f(Ev::Open { flow: 0 });
            send(f, 0, true, b"220 mx.example ESMTP\r\n");
            send(f, 0, false, b"EHLO client.example\r\n");
            send(f, 0, true, b"250-mx.example\r\n250 PIPELINING\r\n");
            send(f, 0, false, b"MAIL FROM:<sender@example.org>\r\n");
            send(f, 0, true, b"250 2.1.0 ok\r\n");
            let mut i = 0;
            while i < n {
                buf.clear();
                let mut rep = Vec::new();
                for _ in 0..40 {
                    if i == n {
                        break;
                    }
                    let _ = write!(buf, "RCPT TO:<recipient{i:07}@example.org>\r\n");
                    rep.extend_from_slice(b"250 2.1.5 ok\r\n");
                    i += 1;
                }
                send(f, 0, false, &buf);
                send(f, 0, true, &rep);
            }
            send(f, 0, false, b"DATA\r\n");
            send(f, 0, true, b"354 go ahead\r\n");
            send(f, 0, false, b"Subject: many\r\n\r\nhello\r\n.\r\n");
            send(f, 0, true, b"250 2.0.0 queued\r\n");
            send(f, 0, false, b"QUIT\r\n");
            send(f, 0, true, b"221 bye\r\n");
            f(Ev::Close { flow: 0 });
        }
        Case::Holes => {
            let per = if full { 400 << 10 } else { 40 << 10 };
            for c in 0..200 {
                f(Ev::Open { flow: c });
            }
            let mut sent = 0;
            let mut i = 0u64;
            let mut first = true;
            while sent < per {
                for c in 0..200 {
                    buf.clear();
                    let mut rep = Vec::new();
                    while buf.len() + 40 < MSS {
                        get(&mut buf, i);
                        rep.extend_from_slice(b"$5\r\nvalue\r\n");
                        i += 1;
                    }
                    if first {
                        // The client's first segment is lost: the rest waits behind it.
                        f(Ev::Hole {
                            flow: c,
                            from_server: false,
                            len: buf.len() as u32,
                        });
                    } else {
                        f(Ev::Data {
                            flow: c,
                            from_server: false,
                            data: &buf,
                        });
                    }
                    f(Ev::Data {
                        flow: c,
                        from_server: true,
                        data: &rep,
                    });
                }
                first = false;
                sent += buf.len();
            }
            for c in 0..200 {
                f(Ev::Close { flow: c });
            }
        }
    }
}

/// TCP state of one generated flow.
struct Flow {
    cip: [u8; 4],
    cport: u16,
    seq: [u32; 2],
}

fn flow_of(id: u32) -> Flow {
    Flow {
        cip: [10, 1 + (id >> 16) as u8, (id >> 8) as u8, id as u8],
        cport: 20_000 + (id % 40_000) as u16,
        seq: [
            1_000_000u32.wrapping_mul(id.wrapping_add(1)),
            4_000_000_000u32.wrapping_add(id),
        ],
    }
}

struct Pcap<'a, W: Write> {
    out: &'a mut W,
    port: u16,
    ts_us: u64,
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> Pcap<'_, W> {
    fn packet(
        &mut self,
        fl: &mut Flow,
        from_server: bool,
        flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let sip = [10, 0, 0, 1];
        let (src, dst, sport, dport) = if from_server {
            (sip, fl.cip, self.port, fl.cport)
        } else {
            (fl.cip, sip, fl.cport, self.port)
        };
        let d = usize::from(from_server);
        let (seq, ack) = (fl.seq[d], fl.seq[1 - d]);
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let ip_len = (40 + payload.len()) as u16;
        b.extend_from_slice(&[0x45, 0]);
        b.extend_from_slice(&ip_len.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        b.extend_from_slice(&src);
        b.extend_from_slice(&dst);
        b.extend_from_slice(&sport.to_be_bytes());
        b.extend_from_slice(&dport.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend_from_slice(payload);
        self.ts_us += 10;
        let len = b.len() as u32;
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&((self.ts_us / 1_000_000) as u32).to_le_bytes());
        hdr[4..8].copy_from_slice(&((self.ts_us % 1_000_000) as u32).to_le_bytes());
        hdr[8..12].copy_from_slice(&len.to_le_bytes());
        hdr[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&hdr)?;
        self.out.write_all(&self.buf)?;
        self.written += 16 + u64::from(len);
        let adv = payload.len() as u32 + u32::from(flags & 0x03 != 0);
        fl.seq[d] = fl.seq[d].wrapping_add(adv);
        Ok(())
    }
}

/// Write `case` at `scale` as a classic pcap; returns the bytes written.
pub fn write_pcap<W: Write>(case: Case, scale: Scale, out: &mut W) -> io::Result<u64> {
    write_events(
        case.port(),
        case == Case::PingFlows,
        &mut |f| events(case, scale, f),
        out,
    )
}

/// What receives a case's events.
pub type Events<'s> = dyn FnMut(Ev<'_>) + 's;

/// Write the events `gen` produces as a classic pcap to a server on `port`; `forget`: keep no
/// flow state between opens (for 10⁶ flows that are never closed).
pub fn write_events<W: Write>(
    port: u16,
    forget: bool,
    gen: &mut dyn FnMut(&mut Events<'_>),
    out: &mut W,
) -> io::Result<u64> {
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&262_144u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    out.write_all(&hdr)?;
    let mut p = Pcap {
        out,
        port,
        ts_us: 1_700_000_000_000_000,
        buf: Vec::with_capacity(2048),
        written: 24,
    };
    // Flows are created on open and dropped on close; ping-flows never closes, so its flows
    // are derived from the id each time instead of kept (10⁶ of them).
    let mut flows: std::collections::HashMap<u32, Flow> = Default::default();
    let mut err = Ok(());
    let mut step = |ev: Ev<'_>| {
        if err.is_err() {
            return;
        }
        let r = match ev {
            Ev::Open { flow } => {
                let mut fl = flow_of(flow);
                let r = p
                    .packet(&mut fl, false, 0x02, &[])
                    .and_then(|_| p.packet(&mut fl, true, 0x12, &[]))
                    .and_then(|_| p.packet(&mut fl, false, 0x10, &[]));
                if forget {
                    flows.clear();
                }
                flows.insert(flow, fl);
                r
            }
            Ev::Data {
                flow,
                from_server,
                data,
            } => {
                let fl = flows.entry(flow).or_insert_with(|| flow_of(flow));
                p.packet(fl, from_server, 0x18, data)
            }
            Ev::Hole {
                flow,
                from_server,
                len,
            } => {
                let fl = flows.entry(flow).or_insert_with(|| flow_of(flow));
                let d = usize::from(from_server);
                fl.seq[d] = fl.seq[d].wrapping_add(len);
                Ok(())
            }
            Ev::Close { flow } => match flows.remove(&flow) {
                Some(mut fl) => p
                    .packet(&mut fl, false, 0x11, &[])
                    .and_then(|_| p.packet(&mut fl, true, 0x11, &[]))
                    .and_then(|_| p.packet(&mut fl, false, 0x10, &[])),
                None => Ok(()),
            },
            Ev::Wait { us } => {
                p.ts_us += us;
                Ok(())
            }
        };
        if r.is_err() {
            err = r;
        }
    };
    gen(&mut step);
    err?;
    Ok(p.written)
}
