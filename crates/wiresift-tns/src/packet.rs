//! The TNS packet layer: the 8-byte header, the length width, and the connect-phase packets.
//!
//! # Header
//! `length` (16 or 32 bits), `packet checksum` (16 bits, only when the length is 16 bits),
//! `type`, `flags`, `header checksum` (16 bits). Big-endian.
//!
//! # Length width (the rule)
//! - Before ACCEPT, and on connections whose ACCEPT agreed a version below 315, the length is
//!   16 bits.
//! - Once an ACCEPT with version ≥ 315 has been seen, every later packet of **both** directions
//!   has a 32-bit length (the old checksum field is its low half). The server switches right
//!   after its ACCEPT; the client after it received it (its next packet).
//! - When the connect phase was not captured, [`decide_width`] reads the first headers of the
//!   stream both ways and keeps the width under which consecutive headers chain (each header
//!   is plausible and the next one starts where its length says). The width is then fixed for
//!   the rest of the connection; it is never re-guessed packet by packet. If one direction
//!   decides it, the other uses it.
//! - After a gap, or when the width is known but the position is not, a boundary is a
//!   plausible header that ends exactly at the end of the available bytes or is followed by
//!   another plausible header (at the first byte after a gap, which starts a captured segment,
//!   a plausible header is taken at once).
//! - Where this differs from tshark 4.0: tshark picks the width per packet from bytes 2–3
//!   (0x0000 or 0x0004 there means a 16-bit length), so a 32-bit length whose low half is
//!   0x0000 or 0x0004 (packets of 65 536, 65 540, 131 072, … bytes) is read as a 16-bit length
//!   of 1 or 2, and the rest of that direction loses its framing (`testdata/tns/bigsql.pcap`).

use serde::Serialize;

/// Size of the TNS header.
pub const HEADER_LEN: usize = 8;

/// Largest 32-bit packet length accepted as plausible (the largest SDU is 2 MiB).
pub const MAX_LEN32: u32 = 2 * 1024 * 1024 + 64;

/// The width of the header's length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Width {
    /// 16-bit length followed by a 16-bit packet checksum.
    W16,
    /// 32-bit length (version ≥ 315 after ACCEPT).
    W32,
}

/// TNS packet types.
pub mod ptype {
    /// CONNECT.
    pub const CONNECT: u8 = 1;
    /// ACCEPT.
    pub const ACCEPT: u8 = 2;
    /// ACK.
    pub const ACK: u8 = 3;
    /// REFUSE.
    pub const REFUSE: u8 = 4;
    /// REDIRECT.
    pub const REDIRECT: u8 = 5;
    /// DATA.
    pub const DATA: u8 = 6;
    /// NULL.
    pub const NULL: u8 = 7;
    /// ABORT.
    pub const ABORT: u8 = 9;
    /// RESEND.
    pub const RESEND: u8 = 11;
    /// MARKER.
    pub const MARKER: u8 = 12;
    /// ATTENTION.
    pub const ATTENTION: u8 = 13;
    /// CONTROL.
    pub const CONTROL: u8 = 14;
    /// DATA DESCRIPTOR.
    pub const DATA_DESCRIPTOR: u8 = 15;
}

/// Name of a packet type (`"CONNECT"`, …), `None` for an unknown type.
pub fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        ptype::CONNECT => "CONNECT",
        ptype::ACCEPT => "ACCEPT",
        ptype::ACK => "ACK",
        ptype::REFUSE => "REFUSE",
        ptype::REDIRECT => "REDIRECT",
        ptype::DATA => "DATA",
        ptype::NULL => "NULL",
        ptype::ABORT => "ABORT",
        ptype::RESEND => "RESEND",
        ptype::MARKER => "MARKER",
        ptype::ATTENTION => "ATTENTION",
        ptype::CONTROL => "CONTROL",
        ptype::DATA_DESCRIPTOR => "DATA_DESCRIPTOR",
        _ => return None,
    })
}

/// DATA packet flags (the first two bytes of a DATA packet's body).
pub mod data_flags {
    /// Send token.
    pub const SEND_TOKEN: u16 = 0x0001;
    /// Request confirmation.
    pub const REQUEST_CONFIRMATION: u16 = 0x0002;
    /// Confirmation.
    pub const CONFIRMATION: u16 = 0x0004;
    /// More data to come.
    pub const MORE_DATA: u16 = 0x0020;
    /// End of file: the sender closes the session.
    pub const EOF: u16 = 0x0040;
    /// End of request (client hint, version ≥ 319).
    pub const END_OF_REQUEST: u16 = 0x0800;
    /// End of response (server hint, version ≥ 319).
    pub const END_OF_RESPONSE: u16 = 0x2000;
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Whole packet length, header included.
    pub len: u32,
    /// Packet checksum (16-bit width only).
    pub packet_checksum: u16,
    /// Packet type.
    pub ptype: u8,
    /// Flags.
    pub flags: u8,
    /// Header checksum.
    pub header_checksum: u16,
}

/// Parse a header of the given width; `None` when fewer than 8 bytes are available.
pub fn parse_header(d: &[u8], w: Width) -> Option<Header> {
    if d.len() < HEADER_LEN {
        return None;
    }
    let (len, packet_checksum) = match w {
        Width::W16 => (u32::from(be16(d, 0)), be16(d, 2)),
        Width::W32 => (u32::from_be_bytes([d[0], d[1], d[2], d[3]]), 0),
    };
    Some(Header {
        len,
        packet_checksum,
        ptype: d[4],
        flags: d[5],
        header_checksum: be16(d, 6),
    })
}

/// Is this header plausible (known type, sane length)?
pub fn plausible(h: &Header, w: Width) -> bool {
    let max = match w {
        Width::W16 => u32::from(u16::MAX),
        Width::W32 => MAX_LEN32,
    };
    let min = match h.ptype {
        ptype::DATA => HEADER_LEN as u32 + 2,
        ptype::MARKER => HEADER_LEN as u32 + 3,
        ptype::CONNECT => HEADER_LEN as u32 + 26,
        ptype::ACCEPT => HEADER_LEN as u32 + 16,
        _ => HEADER_LEN as u32,
    };
    type_name(h.ptype).is_some() && h.len >= min && h.len <= max && h.header_checksum == 0
}

/// Outcome of [`decide_width`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidthGuess {
    /// This width chains `n` consecutive headers (the other does not do as well).
    Decided(Width, usize),
    /// Not enough bytes to tell.
    NeedMore,
    /// Neither width gives a plausible header at offset 0.
    Neither,
}

/// How many consecutive headers chain from offset 0 under width `w`, and whether the chain
/// reached the end of `d` exactly (or ran out of bytes inside a plausible packet).
fn chain(d: &[u8], w: Width, max: usize) -> (usize, bool) {
    let mut at = 0usize;
    let mut n = 0usize;
    while n < max {
        let Some(h) = parse_header(&d[at..], w) else {
            return (n, true);
        };
        if !plausible(&h, w) {
            return (n, false);
        }
        n += 1;
        at += h.len as usize;
        if at >= d.len() {
            return (n, true);
        }
    }
    (n, true)
}

/// Decide the length width of a stream whose connect phase was not seen, from its first bytes
/// (which must start at a packet boundary). See the module documentation for the rule.
///
/// A width wins when it chains at least two headers and the other chains fewer, or when it
/// chains one packet that ends exactly at the end of `d` while the other gives no plausible
/// header at all. `final_bytes` says that no more bytes will come before the decision must be
/// made (end of a segment burst is not enough; the session passes true at close).
pub fn decide_width(d: &[u8], final_bytes: bool) -> WidthGuess {
    let (n16, ok16) = chain(d, Width::W16, 4);
    let (n32, ok32) = chain(d, Width::W32, 4);
    let good16 = ok16 && n16 > 0;
    let good32 = ok32 && n32 > 0;
    match (good16, good32) {
        (true, false) if n16 >= 2 || final_bytes || exact(d, Width::W16) => {
            WidthGuess::Decided(Width::W16, n16)
        }
        (false, true) if n32 >= 2 || final_bytes || exact(d, Width::W32) => {
            WidthGuess::Decided(Width::W32, n32)
        }
        (true, true) if n16 != n32 && (n16.max(n32) >= 2) => {
            if n16 > n32 {
                WidthGuess::Decided(Width::W16, n16)
            } else {
                WidthGuess::Decided(Width::W32, n32)
            }
        }
        (false, false) if d.len() >= HEADER_LEN => WidthGuess::Neither,
        _ if final_bytes && (good16 || good32) => {
            // Both chain equally: the 16-bit reading needs a zero packet checksum and the
            // 32-bit reading a zero high half; prefer the one whose length fits the data.
            if good16 {
                WidthGuess::Decided(Width::W16, n16)
            } else {
                WidthGuess::Decided(Width::W32, n32)
            }
        }
        _ => WidthGuess::NeedMore,
    }
}

/// One plausible packet that ends exactly at the end of `d`.
fn exact(d: &[u8], w: Width) -> bool {
    parse_header(d, w).is_some_and(|h| plausible(&h, w) && h.len as usize == d.len())
}

/// Big-endian u16 at `at` (0 when out of range).
pub fn be16(d: &[u8], at: usize) -> u16 {
    match d.get(at..at + 2) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// Big-endian u32 at `at` (0 when out of range).
pub fn be32(d: &[u8], at: usize) -> u32 {
    match d.get(at..at + 4) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// A CONNECT packet's fixed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connect {
    /// Version the client wants.
    pub version: u16,
    /// Lowest version it accepts.
    pub version_compatible: u16,
    /// Service options.
    pub service_options: u16,
    /// Session data unit (16-bit field; see `sdu_large`).
    pub sdu: u16,
    /// Transport data unit.
    pub tdu: u16,
    /// Connect data length declared.
    pub connect_data_len: u16,
    /// Connect data offset declared.
    pub connect_data_offset: u16,
    /// Connect flags 0 and 1.
    pub flags: [u8; 2],
    /// The 32-bit SDU (version ≥ 315).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdu_large: Option<u32>,
    /// The 32-bit TDU (version ≥ 315).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdu_large: Option<u32>,
    /// True when the connect data does not fit in this packet and follows in a DATA packet.
    pub data_follows: bool,
}

/// Parse a CONNECT packet (`p` is the whole packet). Returns the fields and the inline connect
/// data (empty when it follows in the next DATA packet).
pub fn parse_connect(p: &[u8]) -> Option<(Connect, &[u8])> {
    if p.len() < HEADER_LEN + 26 {
        return None;
    }
    let version = be16(p, 8);
    let cd_len = be16(p, 24);
    let cd_off = be16(p, 26);
    let large = version >= 315 && p.len() >= 66;
    let start = usize::from(cd_off);
    let end = start + usize::from(cd_len);
    let (data, follows) = if cd_len == 0 {
        (&p[p.len()..], false)
    } else if start >= HEADER_LEN && end <= p.len() {
        (&p[start..end], false)
    } else {
        (&p[p.len()..], true)
    };
    Some((
        Connect {
            version,
            version_compatible: be16(p, 10),
            service_options: be16(p, 12),
            sdu: be16(p, 14),
            tdu: be16(p, 16),
            connect_data_len: cd_len,
            connect_data_offset: cd_off,
            flags: [p[32], p[33]],
            sdu_large: large.then(|| be32(p, 58)),
            tdu_large: large.then(|| be32(p, 62)),
            data_follows: follows,
        },
        data,
    ))
}

/// An ACCEPT packet's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accept {
    /// The negotiated version.
    pub version: u16,
    /// Service options.
    pub service_options: u16,
    /// SDU (16-bit field).
    pub sdu: u16,
    /// TDU (16-bit field).
    pub tdu: u16,
    /// Connect flags 0 and 1.
    pub flags: [u8; 2],
    /// The 32-bit SDU (version ≥ 315).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdu_large: Option<u32>,
    /// The 32-bit TDU (version ≥ 315).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdu_large: Option<u32>,
}

/// Parse an ACCEPT packet (`p` is the whole packet).
pub fn parse_accept(p: &[u8]) -> Option<Accept> {
    if p.len() < HEADER_LEN + 16 {
        return None;
    }
    let version = be16(p, 8);
    let large = version >= 315 && p.len() >= 40;
    Some(Accept {
        version,
        service_options: be16(p, 10),
        sdu: be16(p, 12),
        tdu: be16(p, 14),
        flags: [p[22], p[23]],
        sdu_large: large.then(|| be32(p, 32)),
        tdu_large: large.then(|| be32(p, 36)),
    })
}

/// REFUSE: user and system reasons and the refuse data.
pub fn parse_refuse(p: &[u8]) -> Option<(u8, u8, &[u8])> {
    if p.len() < HEADER_LEN + 4 {
        return None;
    }
    let n = usize::from(be16(p, 10));
    let data = &p[12..(12 + n).min(p.len())];
    Some((p[8], p[9], data))
}

/// REDIRECT: the redirect data (the new address), when inline.
pub fn parse_redirect(p: &[u8]) -> Option<(u16, &[u8])> {
    if p.len() < HEADER_LEN + 2 {
        return None;
    }
    let n = be16(p, 8);
    let data = &p[10..(10 + usize::from(n)).min(p.len())];
    Some((n, data))
}

/// MARKER: `(marker type, marker data)`; data 1 is BREAK, 2 is RESET.
pub fn parse_marker(p: &[u8]) -> Option<(u8, u8)> {
    if p.len() < HEADER_LEN + 3 {
        return None;
    }
    Some((p[8], p[10]))
}

/// Name of a marker's data byte.
pub fn marker_name(data: u8) -> &'static str {
    match data {
        1 => "BREAK",
        2 => "RESET",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit-width packet of type `t` with `body`.
    pub(crate) fn pkt16(t: u8, body: &[u8]) -> Vec<u8> {
        let n = (HEADER_LEN + body.len()) as u16;
        let mut v = n.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0, t, 0, 0, 0]);
        v.extend_from_slice(body);
        v
    }

    pub(crate) fn pkt32(t: u8, body: &[u8]) -> Vec<u8> {
        let n = (HEADER_LEN + body.len()) as u32;
        let mut v = n.to_be_bytes().to_vec();
        v.extend_from_slice(&[t, 0, 0, 0]);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn width_from_chained_headers() {
        let mut s16 = pkt16(ptype::DATA, &[0, 0, 3, 5, 1]);
        s16.extend(pkt16(ptype::DATA, &[0, 0, 9, 5, 0, 0, 0, 0]));
        assert_eq!(
            decide_width(&s16, false),
            WidthGuess::Decided(Width::W16, 2)
        );
        let mut s32 = pkt32(ptype::DATA, &[0, 0, 3, 5, 1]);
        s32.extend(pkt32(ptype::DATA, &[0, 0, 9, 5, 0, 0, 0, 0]));
        assert_eq!(
            decide_width(&s32, false),
            WidthGuess::Decided(Width::W32, 2)
        );
        // One 32-bit packet of 70 000 bytes: its first two bytes are not zero, so a
        // packet-by-packet 16-bit reading sees a 1-byte length (invalid) and the 32-bit reading
        // is the only one that chains.
        let big = pkt32(ptype::DATA, &vec![0u8; 70_000 - 8]);
        assert_eq!(
            decide_width(&big, false),
            WidthGuess::Decided(Width::W32, 1)
        );
        assert_eq!(decide_width(&big[..100], false), WidthGuess::NeedMore);
        assert_eq!(
            decide_width(b"garbage!garbage!", false),
            WidthGuess::Neither
        );
    }

    #[test]
    fn connect_fields_315() {
        // Layout from the 12c sqlplus capture (version 315, large SDU/TDU at 58/62).
        let mut p = vec![0u8; 70];
        p[4] = ptype::CONNECT;
        p[8..10].copy_from_slice(&315u16.to_be_bytes());
        p[10..12].copy_from_slice(&300u16.to_be_bytes());
        p[14..16].copy_from_slice(&8192u16.to_be_bytes());
        p[58..62].copy_from_slice(&8192u32.to_be_bytes());
        p[62..66].copy_from_slice(&2_097_152u32.to_be_bytes());
        let cd = b"(DESCRIPTION=(CONNECT_DATA=(SID=x)))";
        p[24..26].copy_from_slice(&(cd.len() as u16).to_be_bytes());
        p[26..28].copy_from_slice(&70u16.to_be_bytes());
        p.extend_from_slice(cd);
        let l = p.len() as u16;
        p[0..2].copy_from_slice(&l.to_be_bytes());
        let (c, data) = parse_connect(&p).unwrap();
        assert_eq!(c.version, 315);
        assert_eq!(c.sdu_large, Some(8192));
        assert_eq!(c.tdu_large, Some(2_097_152));
        assert_eq!(data, cd);
        assert!(!c.data_follows);
        // Declared longer than the packet: follows in DATA.
        p[24..26].copy_from_slice(&400u16.to_be_bytes());
        assert!(parse_connect(&p).unwrap().0.data_follows);
    }
}
