//! Raw IPv4 + TCP packets (link type RAW) for targets that drive the whole engine. Checksums are
//! left zero: the decoder does not verify them.

/// A TCP segment to encode.
#[derive(Debug, Clone, Copy)]
pub struct Seg<'a> {
    /// Source address and port.
    pub src: ([u8; 4], u16),
    /// Destination address and port.
    pub dst: ([u8; 4], u16),
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16).
    pub flags: u8,
    /// Payload.
    pub payload: &'a [u8],
}

/// Encode `s` into `buf` (cleared first) as an IPv4 packet without options.
pub fn ipv4_tcp(buf: &mut Vec<u8>, s: &Seg<'_>) {
    buf.clear();
    let total = (40 + s.payload.len()).min(usize::from(u16::MAX)) as u16;
    buf.extend_from_slice(&[0x45, 0]);
    buf.extend_from_slice(&total.to_be_bytes());
    buf.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    buf.extend_from_slice(&s.src.0);
    buf.extend_from_slice(&s.dst.0);
    buf.extend_from_slice(&s.src.1.to_be_bytes());
    buf.extend_from_slice(&s.dst.1.to_be_bytes());
    buf.extend_from_slice(&s.seq.to_be_bytes());
    buf.extend_from_slice(&s.ack.to_be_bytes());
    buf.extend_from_slice(&[5 << 4, s.flags, 0xff, 0xff, 0, 0, 0, 0]);
    buf.extend_from_slice(&s.payload[..usize::from(total) - 40]);
}
