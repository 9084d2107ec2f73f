//! Framing of one direction: the compressed-protocol layer (optional) and the packet layer.
//!
//! Packet layer ([`Framer`]): 3-byte length + 1-byte sequence id; a chunk of exactly 0xFFFFFF
//! bytes is continued by the next header, and the chunks make one logical packet. Only the first
//! `keep` bytes of a payload are kept (enough for every header this plugin decodes); the rest is
//! counted and skipped, so a 17 MB row costs `keep` bytes of memory.
//!
//! Compressed layer ([`Inflater`]): a 7-byte header (compressed length, compressed sequence id,
//! uncompressed length, 0 meaning "stored"), then the body. zlib bodies are inflated as they
//! stream in (never buffered whole) through a fixed 32 KiB output window; zstd bodies (one
//! frame each, as MySQL writes them) are buffered up to `max_zstd_body` and decoded in 32 KiB
//! steps. Inflation is bounded: output beyond the declared uncompressed length (or a declared
//! length or zstd window beyond `max_inflate`) is reported, and the rest of that compressed
//! packet is skipped and counted.

use std::io::Read;
use wiresift_core::Timestamp;

/// One logical packet (chunks joined).
#[derive(Debug)]
pub struct Packet<'a> {
    /// Sequence id of its first chunk.
    pub seq: u8,
    /// Sequence id of its last chunk.
    pub last_seq: u8,
    /// Full payload length.
    pub len: u64,
    /// The kept payload prefix (`data.len() < len` when cut).
    pub data: &'a [u8],
    /// Capture time of its first byte.
    pub ts: Timestamp,
    /// Capture time of its last byte.
    pub end: Timestamp,
}

impl Packet<'_> {
    /// The payload was cut to the kept prefix.
    pub fn truncated(&self) -> bool {
        (self.data.len() as u64) < self.len
    }
    /// Header bytes + payload bytes on the (uncompressed) wire.
    pub fn wire_len(&self) -> u64 {
        self.len + 4 * (1 + self.len / 0xFF_FFFF)
    }
}

/// What framing reports besides packets.
#[derive(Debug)]
pub enum Ev<'a> {
    /// A complete packet.
    Packet(Packet<'a>),
    /// A framing problem (the direction must resynchronise when `desync`).
    Anomaly {
        /// What went wrong.
        reason: String,
        /// Compressed bytes skipped because of it.
        skipped: u64,
    },
}

/// The packet layer. See the module documentation.
#[derive(Debug)]
pub struct Framer {
    keep: usize,
    hdr: [u8; 4],
    hdr_n: usize,
    /// Bytes of the current chunk still to come (`None`: reading a header).
    left: Option<u64>,
    /// The current chunk is 0xFFFFFF long: another chunk follows.
    more: bool,
    in_packet: bool,
    seq: u8,
    last_seq: u8,
    len: u64,
    buf: Vec<u8>,
    start: Timestamp,
    /// Bytes (headers included) of the current unfinished packet consumed so far.
    cur: u64,
}

impl Framer {
    /// A framer keeping `keep` bytes of each payload.
    pub fn new(keep: usize) -> Self {
        Framer {
            keep,
            hdr: [0; 4],
            hdr_n: 0,
            left: None,
            more: false,
            in_packet: false,
            seq: 0,
            last_seq: 0,
            len: 0,
            buf: Vec::new(),
            start: Timestamp(0),
            cur: 0,
        }
    }

    /// Bytes (headers included) of the current unfinished packet read so far: held, neither
    /// parsed nor skipped yet (for the session's byte accounting).
    pub fn partial(&self) -> u64 {
        self.cur
    }

    /// Forget any partial packet (after a gap); returns the bytes of it that were read.
    pub fn reset(&mut self) -> u64 {
        let n = self.cur;
        self.cur = 0;
        self.hdr_n = 0;
        self.left = None;
        self.more = false;
        self.in_packet = false;
        self.buf = Vec::new();
        n
    }

    /// In the middle of a packet (or a header).
    pub fn mid_packet(&self) -> bool {
        self.in_packet || self.hdr_n > 0
    }

    /// Bytes kept right now (carry-over).
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Give back the payload buffer between packets.
    pub fn shrink(&mut self) {
        if !self.mid_packet() {
            self.buf = Vec::new();
        }
    }

    /// Feed bytes; complete packets go to `f`.
    pub fn feed(&mut self, data: &[u8], ts: Timestamp, f: &mut dyn FnMut(Ev<'_>) -> bool) -> usize {
        let total = data.len();
        let mut data = data;
        while !data.is_empty() {
            match self.left {
                None => {
                    // Fast path: a whole small packet in `data`, nothing carried.
                    if self.hdr_n == 0 && !self.more && data.len() >= 4 {
                        let len =
                            u32::from(data[0]) | u32::from(data[1]) << 8 | u32::from(data[2]) << 16;
                        let len = len as usize;
                        if len < 0xFF_FFFF && data.len() >= 4 + len && len <= self.keep {
                            let stop = f(Ev::Packet(Packet {
                                seq: data[3],
                                last_seq: data[3],
                                len: len as u64,
                                data: &data[4..4 + len],
                                ts,
                                end: ts,
                            }));
                            data = &data[4 + len..];
                            if stop {
                                return total - data.len();
                            }
                            continue;
                        }
                    }
                    let take = (4 - self.hdr_n).min(data.len());
                    self.hdr[self.hdr_n..self.hdr_n + take].copy_from_slice(&data[..take]);
                    self.hdr_n += take;
                    self.cur += take as u64;
                    data = &data[take..];
                    if self.hdr_n < 4 {
                        return total;
                    }
                    self.hdr_n = 0;
                    let h = self.hdr;
                    let clen = u64::from(h[0]) | u64::from(h[1]) << 8 | u64::from(h[2]) << 16;
                    if self.more {
                        self.len += clen;
                        self.last_seq = h[3];
                    } else {
                        self.in_packet = true;
                        self.seq = h[3];
                        self.last_seq = h[3];
                        self.len = clen;
                        self.start = ts;
                        self.buf.clear();
                    }
                    self.more = clen == 0xFF_FFFF;
                    self.left = Some(clen);
                    if clen == 0 && self.chunk_done(ts, f) {
                        return total - data.len();
                    }
                }
                Some(left) => {
                    let n = (left.min(data.len() as u64)) as usize;
                    let room = self.keep.saturating_sub(self.buf.len()).min(n);
                    self.buf.extend_from_slice(&data[..room]);
                    self.cur += n as u64;
                    data = &data[n..];
                    let left = left - n as u64;
                    self.left = Some(left);
                    if left == 0 && self.chunk_done(ts, f) {
                        return total - data.len();
                    }
                }
            }
        }
        total
    }

    fn chunk_done(&mut self, ts: Timestamp, f: &mut dyn FnMut(Ev<'_>) -> bool) -> bool {
        self.left = None;
        if self.more {
            return false;
        }
        self.in_packet = false;
        self.cur = 0;
        let stop = f(Ev::Packet(Packet {
            seq: self.seq,
            last_seq: self.last_seq,
            len: self.len,
            data: &self.buf,
            ts: self.start,
            end: ts,
        }));
        if self.buf.capacity() > 4096 {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        stop
    }
}

/// Which compression a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain packets.
    None,
    /// zlib (CLIENT_COMPRESS).
    Zlib,
    /// zstd (CLIENT_ZSTD_COMPRESSION_ALGORITHM).
    Zstd,
}

const OUT_STEP: usize = 32 * 1024;

enum CState {
    Header,
    Stored { left: u64 },
    Zlib { left: u64, ulen: u64, out: u64 },
    Zstd { left: u64, ulen: u64 },
    Skip { left: u64 },
}

/// The compressed layer. See the module documentation.
pub struct Inflater {
    /// zlib or zstd (decides how bodies with a non-zero uncompressed length are decoded).
    pub kind: Compression,
    max_inflate: u64,
    max_zstd_body: usize,
    hdr: [u8; 7],
    hdr_n: usize,
    state: CState,
    z: Option<Box<flate2::Decompress>>,
    zbuf: Vec<u8>,
    out: Vec<u8>,
    /// The consumer asked to stop (the rest of the input was dropped).
    pub stopped: bool,
    /// Compressed packets seen.
    pub packets: u64,
    /// Bytes produced by inflation.
    pub inflated: u64,
    /// Wire bytes (header included) of the current unfinished compressed packet.
    cur: u64,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("kind", &self.kind)
            .field("packets", &self.packets)
            .finish()
    }
}

impl Inflater {
    /// A compressed-protocol reader.
    pub fn new(kind: Compression, max_inflate: u64, max_zstd_body: usize) -> Self {
        Inflater {
            kind,
            max_inflate,
            max_zstd_body,
            hdr: [0; 7],
            hdr_n: 0,
            state: CState::Header,
            z: None,
            zbuf: Vec::new(),
            out: Vec::new(),
            stopped: false,
            packets: 0,
            inflated: 0,
            cur: 0,
        }
    }

    /// Give back the buffers between compressed packets (the zlib state is reset at every
    /// packet anyway).
    pub fn shrink(&mut self) {
        if !self.mid_packet() {
            self.z = None;
            self.out = Vec::new();
            self.zbuf = Vec::new();
        }
    }

    /// Bytes of buffers kept (zstd body, inflate window, zlib state).
    pub fn buffered(&self) -> usize {
        self.zbuf.capacity() + self.out.capacity() + self.z.as_ref().map_or(0, |_| 48 * 1024)
    }

    /// Wire bytes of the current unfinished compressed packet read so far (held).
    pub fn partial(&self) -> u64 {
        self.cur
    }

    /// Forget the current compressed packet (after a gap).
    pub fn reset(&mut self) -> u64 {
        let n = self.cur;
        self.cur = 0;
        self.hdr_n = 0;
        self.state = CState::Header;
        self.zbuf = Vec::new();
        n
    }

    /// In the middle of a compressed packet.
    pub fn mid_packet(&self) -> bool {
        self.hdr_n > 0 || !matches!(self.state, CState::Header)
    }

    /// Feed compressed-protocol bytes; the inner bytes go through `framer` to `f`.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        ts: Timestamp,
        framer: &mut Framer,
        f: &mut dyn FnMut(Ev<'_>) -> bool,
    ) -> usize {
        let total = data.len();
        self.stopped = false;
        while !data.is_empty() && !self.stopped {
            let before = data.len();
            self.step(&mut data, ts, framer, f);
            self.cur += (before - data.len()) as u64;
            if matches!(self.state, CState::Header) && self.hdr_n == 0 {
                self.cur = 0;
            }
        }
        total - data.len()
    }

    fn step(
        &mut self,
        data: &mut &[u8],
        ts: Timestamp,
        framer: &mut Framer,
        f: &mut dyn FnMut(Ev<'_>) -> bool,
    ) {
        {
            match &mut self.state {
                CState::Header => {
                    let take = (7 - self.hdr_n).min(data.len());
                    self.hdr[self.hdr_n..self.hdr_n + take].copy_from_slice(&data[..take]);
                    self.hdr_n += take;
                    *data = &data[take..];
                    if self.hdr_n < 7 {
                        return;
                    }
                    self.hdr_n = 0;
                    self.packets += 1;
                    let h = self.hdr;
                    let clen = u64::from(h[0]) | u64::from(h[1]) << 8 | u64::from(h[2]) << 16;
                    let ulen = u64::from(h[4]) | u64::from(h[5]) << 8 | u64::from(h[6]) << 16;
                    self.state = if ulen == 0 {
                        CState::Stored { left: clen }
                    } else if ulen > self.max_inflate {
                        let _ = f(Ev::Anomaly {
                            reason: format!("compressed packet declares {ulen} bytes inflated, above the {} limit: skipped", self.max_inflate),
                            skipped: clen,
                        });
                        framer.reset();
                        CState::Skip { left: clen }
                    } else if self.kind == Compression::Zstd {
                        if clen as usize > self.max_zstd_body {
                            let _ = f(Ev::Anomaly {
                                reason: format!("zstd packet of {clen} bytes is above the {} buffering limit: skipped", self.max_zstd_body),
                                skipped: clen,
                            });
                            framer.reset();
                            CState::Skip { left: clen }
                        } else {
                            self.zbuf.clear();
                            CState::Zstd { left: clen, ulen }
                        }
                    } else {
                        match &mut self.z {
                            Some(z) => z.reset(true),
                            None => self.z = Some(Box::new(flate2::Decompress::new(true))),
                        }
                        CState::Zlib {
                            left: clen,
                            ulen,
                            out: 0,
                        }
                    };
                    if clen == 0 {
                        self.body_done(ts, framer, f);
                    }
                }
                CState::Stored { left } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    let done = *left == 0;
                    self.stopped |= framer.feed(&data[..n], ts, f) < n;
                    *data = &data[n..];
                    if done {
                        self.state = CState::Header;
                    }
                }
                CState::Skip { left } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    *data = &data[n..];
                    if *left == 0 {
                        self.state = CState::Header;
                    }
                }
                CState::Zstd { left, .. } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    let done = *left == 0;
                    self.zbuf.extend_from_slice(&data[..n]);
                    *data = &data[n..];
                    if done {
                        self.body_done(ts, framer, f);
                    }
                }
                CState::Zlib { left, ulen, out } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    let (ul, mut produced) = (*ulen, *out);
                    *left -= n as u64;
                    let done = *left == 0;
                    let input = &data[..n];
                    *data = &data[n..];
                    let bad = self.inflate_zlib(input, ul, &mut produced, ts, framer, f);
                    if let CState::Zlib { out, .. } = &mut self.state {
                        *out = produced;
                    }
                    if let Some(reason) = bad {
                        let rest = match self.state {
                            CState::Zlib { left, .. } => left,
                            _ => 0,
                        };
                        let _ = f(Ev::Anomaly {
                            reason,
                            skipped: rest,
                        });
                        framer.reset();
                        self.state = if rest > 0 {
                            CState::Skip { left: rest }
                        } else {
                            CState::Header
                        };
                        return;
                    }
                    if done {
                        if produced != ul {
                            let _ = f(Ev::Anomaly {
                                reason: format!(
                                    "zlib packet inflated to {produced} bytes, header said {ul}"
                                ),
                                skipped: 0,
                            });
                        }
                        self.state = CState::Header;
                    }
                }
            }
        }
    }

    /// Inflate `input` into the framer; `Some(reason)` on a zlib error or overrun.
    fn inflate_zlib(
        &mut self,
        mut input: &[u8],
        ulen: u64,
        produced: &mut u64,
        ts: Timestamp,
        framer: &mut Framer,
        f: &mut dyn FnMut(Ev<'_>) -> bool,
    ) -> Option<String> {
        let z = self.z.as_mut()?;
        if self.out.len() < OUT_STEP {
            self.out = vec![0; OUT_STEP];
        }
        loop {
            let (in0, out0) = (z.total_in(), z.total_out());
            let r = z.decompress(input, &mut self.out, flate2::FlushDecompress::None);
            let used = (z.total_in() - in0) as usize;
            let made = (z.total_out() - out0) as usize;
            input = &input[used..];
            if made > 0 {
                if *produced + made as u64 > ulen {
                    return Some(format!(
                        "zlib packet inflates beyond its declared {ulen} bytes: rest skipped"
                    ));
                }
                *produced += made as u64;
                self.inflated += made as u64;
                if framer.feed(&self.out[..made], ts, f) < made {
                    self.stopped = true;
                    return None;
                }
            }
            match r {
                Err(e) => return Some(format!("zlib error: {e}")),
                Ok(flate2::Status::StreamEnd) => return None,
                Ok(_) if made == 0 && used == 0 => return None,
                Ok(_) => {}
            }
            if input.is_empty() && made < self.out.len() {
                return None;
            }
        }
    }

    fn body_done(&mut self, ts: Timestamp, framer: &mut Framer, f: &mut dyn FnMut(Ev<'_>) -> bool) {
        let state = std::mem::replace(&mut self.state, CState::Header);
        if let CState::Zstd { ulen, .. } = state {
            let body = std::mem::take(&mut self.zbuf);
            if let Some(w) = zstd_window(&body) {
                if w > self.max_inflate.max(1 << 20) {
                    let _ = f(Ev::Anomaly {
                        reason: format!("zstd frame window {w} is above the limit: skipped"),
                        skipped: body.len() as u64,
                    });
                    framer.reset();
                    return;
                }
            }
            let mut src = &body[..];
            let mut dec = match ruzstd::decoding::StreamingDecoder::new(&mut src) {
                Ok(d) => d,
                Err(e) => {
                    let _ = f(Ev::Anomaly {
                        reason: format!("zstd error: {e}"),
                        skipped: body.len() as u64,
                    });
                    framer.reset();
                    return;
                }
            };
            if self.out.len() < OUT_STEP {
                self.out = vec![0; OUT_STEP];
            }
            let mut produced = 0u64;
            loop {
                match dec.read(&mut self.out) {
                    Ok(0) => break,
                    Ok(n) => {
                        if produced + n as u64 > ulen {
                            let _ = f(Ev::Anomaly { reason: format!("zstd packet inflates beyond its declared {ulen} bytes: rest skipped"), skipped: 0 });
                            framer.reset();
                            return;
                        }
                        produced += n as u64;
                        self.inflated += n as u64;
                        if framer.feed(&self.out[..n], ts, f) < n {
                            self.stopped = true;
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = f(Ev::Anomaly {
                            reason: format!("zstd error: {e}"),
                            skipped: 0,
                        });
                        framer.reset();
                        return;
                    }
                }
            }
            if produced != ulen {
                let _ = f(Ev::Anomaly {
                    reason: format!("zstd packet inflated to {produced} bytes, header said {ulen}"),
                    skipped: 0,
                });
            }
            if body.len() <= 4096 {
                self.zbuf = body;
            }
        }
    }
}

/// The window size a zstd frame header declares (`None` when it cannot be read).
fn zstd_window(b: &[u8]) -> Option<u64> {
    if b.len() < 6 || b[..4] != [0x28, 0xb5, 0x2f, 0xfd] {
        return None;
    }
    let fhd = b[4];
    let single = fhd & 0x20 != 0;
    if single {
        let fcs_size = match fhd >> 6 {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let did = match fhd & 3 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 4,
        };
        let s = b.get(5 + did..5 + did + fcs_size)?;
        let mut v = 0u64;
        for (i, x) in s.iter().enumerate() {
            v |= u64::from(*x) << (8 * i);
        }
        if fcs_size == 2 {
            v += 256;
        }
        return Some(v);
    }
    let wd = b[5];
    let exp = u64::from(wd >> 3);
    let base = 1u64 << (10 + exp);
    Some(base + (base / 8) * u64::from(wd & 7))
}

/// Is `b` a zlib stream header?
pub fn is_zlib_header(b: &[u8]) -> bool {
    b.len() >= 2
        && b[0] & 0x0f == 8
        && b[0] >> 4 <= 7
        && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}

/// Is `b` a zstd frame?
pub fn is_zstd_magic(b: &[u8]) -> bool {
    b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(chunks: &[&[u8]], keep: usize) -> Vec<(u8, u64, Vec<u8>)> {
        let mut fr = Framer::new(keep);
        let mut out = Vec::new();
        for c in chunks {
            fr.feed(c, Timestamp(0), &mut |e| {
                if let Ev::Packet(p) = e {
                    out.push((p.seq, p.len, p.data.to_vec()));
                }
                false
            });
        }
        out
    }

    fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len() as u32;
        let mut v = n.to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn packets_and_split() {
        let mut s = pkt(0, b"\x03select 1");
        s.extend(pkt(1, b""));
        s.extend(pkt(2, b"abc"));
        let want = vec![
            (0, 9, b"\x03select 1".to_vec()),
            (1, 0, vec![]),
            (2, 3, b"abc".to_vec()),
        ];
        assert_eq!(collect(&[&s], 64), want);
        for cut in 0..s.len() {
            assert_eq!(collect(&[&s[..cut], &s[cut..]], 64), want, "cut {cut}");
        }
    }

    #[test]
    fn joins_ffffff_chunks_keeping_a_prefix() {
        let big = vec![7u8; 0xFF_FFFF + 10];
        let mut s = Vec::new();
        s.extend_from_slice(&[0xff, 0xff, 0xff, 3]);
        s.extend_from_slice(&big[..0xFF_FFFF]);
        s.extend(pkt(4, &big[0xFF_FFFF..]));
        s.extend(pkt(5, b"x"));
        let got = collect(
            &[
                &s[..100],
                &s[100..20_000_000.min(s.len())],
                &s[20_000_000.min(s.len())..],
            ],
            16,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].0, got[0].1, got[0].2.len()),
            (3, 0xFF_FFFF + 10, 16)
        );
        assert_eq!(got[1], (5, 1, b"x".to_vec()));
        // Exactly 0xFFFFFF bytes: an empty chunk follows.
        let mut e = vec![0xff, 0xff, 0xff, 0];
        e.extend_from_slice(&big[..0xFF_FFFF]);
        e.extend(pkt(1, b""));
        let got = collect(&[&e], 16);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, 0xFF_FFFF);
    }

    fn comp_collect(kind: Compression, chunks: &[&[u8]]) -> (Vec<(u8, Vec<u8>)>, Vec<String>) {
        let mut inf = Inflater::new(kind, 1 << 24, 1 << 20);
        let mut fr = Framer::new(1 << 16);
        let mut out = Vec::new();
        let mut anomalies = Vec::new();
        for c in chunks {
            inf.feed(c, Timestamp(0), &mut fr, &mut |e| {
                match e {
                    Ev::Packet(p) => out.push((p.seq, p.data.to_vec())),
                    Ev::Anomaly { reason, .. } => anomalies.push(reason),
                }
                false
            });
        }
        (out, anomalies)
    }

    fn comp_hdr(clen: usize, seq: u8, ulen: usize) -> Vec<u8> {
        let mut v = (clen as u32).to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(&(ulen as u32).to_le_bytes()[..3]);
        v
    }

    #[test]
    fn zlib_and_stored_bodies_spanning_packets() {
        let mut inner = pkt(
            0,
            b"\x03SELECT * FROM t WHERE a = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
        );
        inner.extend(pkt(0, b"\x0e"));
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&inner[..20]).unwrap();
        let z = e.finish().unwrap();
        let mut s = comp_hdr(z.len(), 0, 20);
        s.extend_from_slice(&z);
        s.extend(comp_hdr(inner.len() - 20, 1, 0));
        s.extend_from_slice(&inner[20..]);
        let (got, an) = comp_collect(Compression::Zlib, &[&s]);
        assert!(an.is_empty(), "{an:?}");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, b"\x0e");
        for cut in 0..s.len() {
            assert_eq!(
                comp_collect(Compression::Zlib, &[&s[..cut], &s[cut..]]).0,
                got,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn zstd_frames() {
        let inner = pkt(1, &[b'z'; 3000]);
        let z = zstd::bulk::compress(&inner, 3).unwrap();
        let mut s = comp_hdr(z.len(), 0, inner.len());
        s.extend_from_slice(&z);
        let (got, an) = comp_collect(Compression::Zstd, &[&s[..5], &s[5..]]);
        assert!(an.is_empty(), "{an:?}");
        assert_eq!(got, vec![(1, vec![b'z'; 3000])]);
    }

    #[test]
    fn zip_bomb_is_bounded() {
        // Declares 100 bytes, inflates to 1 MiB.
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; 1 << 20]).unwrap();
        let z = e.finish().unwrap();
        let mut s = comp_hdr(z.len(), 0, 100);
        s.extend_from_slice(&z);
        let (_, an) = comp_collect(Compression::Zlib, &[&s]);
        assert!(an.iter().any(|a| a.contains("beyond")), "{an:?}");
        // Declares more than the limit: reported, body skipped, next packet read.
        let mut inf = Inflater::new(Compression::Zlib, 1000, 1000);
        let mut fr = Framer::new(64);
        let mut s2 = comp_hdr(3, 0, 5000);
        s2.extend_from_slice(b"xyz");
        s2.extend(comp_hdr(5, 1, 0));
        s2.extend(pkt(1, b"\x00"));
        let mut evs = Vec::new();
        inf.feed(&s2, Timestamp(0), &mut fr, &mut |e| {
            evs.push(matches!(e, Ev::Packet(_)));
            false
        });
        assert_eq!(evs, vec![false, true]);
    }

    #[test]
    fn headers_recognised() {
        assert!(is_zlib_header(&[0x78, 0x9c]));
        assert!(is_zlib_header(&[0x78, 0x01]));
        assert!(!is_zlib_header(&[0x03, 0x53]));
        assert_eq!(
            zstd_window(&zstd::bulk::compress(b"abc", 3).unwrap()),
            Some(3)
        );
    }
}
