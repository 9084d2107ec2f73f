//! Protocol v5 segment framing (section 2 of native_protocol_v5.spec).
//!
//! Once STARTUP is answered by READY or AUTHENTICATE, v5 frames travel inside segments:
//! - uncompressed: a 3-byte little-endian header (17-bit payload length, then the
//!   self-contained bit), its CRC24 (3 bytes, little-endian), the payload, and the CRC32 of the
//!   payload (4 bytes, little-endian);
//! - lz4: a 5-byte header (17-bit compressed length, 17-bit uncompressed length, then the
//!   self-contained bit); an uncompressed length of 0 means the payload is stored as is.
//!
//! CRC24 starts from 0x875060 with polynomial 0x1974F0B over the header bytes taken from the
//! least significant end; the CRC32 is the usual one (IEEE) over four fixed bytes
//! `fa 2d 55 ca` followed by the payload.

/// Largest payload of one segment (2^17 - 1).
pub const MAX_PAYLOAD: usize = (1 << 17) - 1;
const CRC24_INIT: u32 = 0x87_5060;
const CRC24_POLY: u32 = 0x197_4F0B;
const CRC32_PREFIX: [u8; 4] = [0xfa, 0x2d, 0x55, 0xca];

/// Byte-at-a-time table for [`crc24`] (the spec's bit loop, eight steps at once).
const CRC24_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 16;
        let mut k = 0;
        while k < 8 {
            crc <<= 1;
            if crc & 0x100_0000 != 0 {
                crc ^= CRC24_POLY;
            }
            k += 1;
        }
        t[i] = crc & 0xFF_FFFF;
        i += 1;
    }
    t
};

/// CRC24 of the first `n` bytes of `value` (little-endian order), as the spec defines it.
pub fn crc24(mut value: u64, n: usize) -> u32 {
    let mut crc = CRC24_INIT;
    for _ in 0..n {
        let idx = ((crc >> 16) ^ (value as u32 & 0xff)) & 0xff;
        crc = ((crc << 8) ^ CRC24_TABLE[idx as usize]) & 0xFF_FFFF;
        value >>= 8;
    }
    crc
}

/// Are the header's padding bits (above the self-contained bit) zero, as every implementation
/// writes them? A cheap filter used before the CRC24 when looking for a boundary.
pub fn padding_clear(b: &[u8], kind: Kind) -> bool {
    match kind {
        Kind::Plain => b.get(2).is_none_or(|&x| x & 0xFC == 0),
        Kind::Lz4 => b.get(4).is_none_or(|&x| x & 0xF8 == 0),
    }
}

/// CRC32 of a segment payload (with the spec's four initial bytes).
pub fn crc32(payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&CRC32_PREFIX);
    h.update(payload);
    h.finalize()
}

/// Which segment format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 3-byte header.
    Plain,
    /// 5-byte header (lz4 negotiated).
    Lz4,
}

impl Kind {
    /// Header length without its CRC24.
    pub fn header_len(self) -> usize {
        match self {
            Kind::Plain => 3,
            Kind::Lz4 => 5,
        }
    }
}

/// A segment header whose CRC24 matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format.
    pub kind: Kind,
    /// Bytes of payload on the wire.
    pub payload_len: usize,
    /// Uncompressed length (lz4; 0 = stored as is).
    pub uncompressed_len: usize,
    /// The segment holds one or more whole frames.
    pub self_contained: bool,
}

impl SegmentHeader {
    /// Header + CRC24 + payload + CRC32.
    pub fn total_len(&self) -> usize {
        self.kind.header_len() + 3 + self.payload_len + 4
    }
}

/// Outcome of [`parse_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderResult {
    /// A header whose CRC24 matches.
    Ok(SegmentHeader),
    /// Not enough bytes.
    NeedMore,
    /// The CRC24 does not match (not a segment boundary, or corrupt).
    BadCrc,
}

/// Decode a segment header of `kind` at the start of `b`, checking its CRC24.
pub fn parse_header(b: &[u8], kind: Kind) -> HeaderResult {
    let hl = kind.header_len();
    if b.len() < hl + 3 {
        return HeaderResult::NeedMore;
    }
    let mut v = 0u64;
    for (i, &x) in b[..hl].iter().enumerate() {
        v |= u64::from(x) << (8 * i);
    }
    let want = u32::from(b[hl]) | u32::from(b[hl + 1]) << 8 | u32::from(b[hl + 2]) << 16;
    if crc24(v, hl) != want {
        return HeaderResult::BadCrc;
    }
    let mask = MAX_PAYLOAD as u64;
    let h = match kind {
        Kind::Plain => SegmentHeader {
            kind,
            payload_len: (v & mask) as usize,
            uncompressed_len: 0,
            self_contained: (v >> 17) & 1 == 1,
        },
        Kind::Lz4 => SegmentHeader {
            kind,
            payload_len: (v & mask) as usize,
            uncompressed_len: ((v >> 17) & mask) as usize,
            self_contained: (v >> 34) & 1 == 1,
        },
    };
    HeaderResult::Ok(h)
}

/// Build one segment around `payload` (tests, benches and the fuzz seed corpus use it).
/// `payload` is stored as is (for lz4, with uncompressed length 0), and must be at most
/// [`MAX_PAYLOAD`] bytes long.
pub fn encode(kind: Kind, payload: &[u8], self_contained: bool) -> Vec<u8> {
    encode_raw(kind, payload, 0, self_contained)
}

/// Like [`encode`], with `wire` as the payload and `uncompressed_len` in an lz4 header.
pub fn encode_raw(
    kind: Kind,
    wire: &[u8],
    uncompressed_len: usize,
    self_contained: bool,
) -> Vec<u8> {
    let len = wire.len().min(MAX_PAYLOAD) as u64;
    let sc = u64::from(self_contained);
    let v = match kind {
        Kind::Plain => len | sc << 17,
        Kind::Lz4 => len | ((uncompressed_len.min(MAX_PAYLOAD) as u64) << 17) | sc << 34,
    };
    let hl = kind.header_len();
    let mut out = Vec::with_capacity(hl + 7 + wire.len());
    out.extend_from_slice(&v.to_le_bytes()[..hl]);
    out.extend_from_slice(&crc24(v, hl).to_le_bytes()[..3]);
    out.extend_from_slice(&wire[..len as usize]);
    out.extend_from_slice(&crc32(&wire[..len as usize]).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_match_the_python_driver() {
        // Values computed with cassandra-driver 3.30's segment.compute_crc24 / zlib.crc32.
        assert_eq!(crc24(0x20005, 3), 0x9a9919);
        assert_eq!(crc24(0x12_3456_789a, 5), 0x40d313);
        assert_eq!(crc32(b"hello"), 0xb60e8074);
        for v in [0u64, 1, 0x20005, 0xff_ffff, 0x12_3456_789a, u64::MAX] {
            for n in 0..=8 {
                assert_eq!(crc24(v, n), crc24_reference(v, n), "{v:x} {n}");
            }
        }
        let seg = encode(Kind::Plain, b"hello", true);
        assert_eq!(
            parse_header(&seg, Kind::Plain),
            HeaderResult::Ok(SegmentHeader {
                kind: Kind::Plain,
                payload_len: 5,
                uncompressed_len: 0,
                self_contained: true
            })
        );
        let mut bad = seg.clone();
        bad[0] ^= 1;
        assert_eq!(parse_header(&bad, Kind::Plain), HeaderResult::BadCrc);
        assert_eq!(parse_header(&seg[..5], Kind::Plain), HeaderResult::NeedMore);
        let l = encode_raw(Kind::Lz4, b"abc", 10, false);
        match parse_header(&l, Kind::Lz4) {
            HeaderResult::Ok(h) => {
                assert_eq!(
                    (h.payload_len, h.uncompressed_len, h.self_contained),
                    (3, 10, false)
                )
            }
            other => panic!("{other:?}"),
        }
    }

    /// Bit-by-bit restatement of the spec's loop, independent of the implementation above.
    fn crc24_reference(v: u64, n: usize) -> u32 {
        let mut crc: u64 = 0x875060;
        for i in 0..n {
            crc ^= (v.checked_shr(8 * i as u32).unwrap_or(0) & 0xff) << 16;
            for _ in 0..8 {
                crc <<= 1;
                if crc & (1 << 24) != 0 {
                    crc ^= 0x1974F0B;
                }
            }
        }
        (crc & 0xFFFFFF) as u32
    }
}
