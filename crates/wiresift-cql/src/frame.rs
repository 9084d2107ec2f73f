//! The 9-byte frame header of protocol versions 3, 4 and 5, and the rule that decides whether
//! bytes look like one (used to find frame boundaries mid-stream and after a gap).

use wiresift_core::Direction;

/// Length of a frame header (v3 and later).
pub const HEADER_LEN: usize = 9;

/// Frame flags (section 2.2 of the spec).
pub mod flags {
    /// The body is compressed (v3/v4 only; v5 compresses segments instead).
    pub const COMPRESSION: u8 = 0x01;
    /// Tracing: requests ask for it; a response carries a tracing id first.
    pub const TRACING: u8 = 0x02;
    /// A custom payload ([bytes map]) precedes the body.
    pub const CUSTOM_PAYLOAD: u8 = 0x04;
    /// The response carries warnings ([string list]) before the body.
    pub const WARNING: u8 = 0x08;
    /// The client uses a beta protocol version.
    pub const USE_BETA: u8 = 0x10;
}

/// A CQL opcode. Open: an unknown value still parses (and is reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    /// ERROR (response).
    pub const ERROR: Opcode = Opcode(0x00);
    /// STARTUP (request).
    pub const STARTUP: Opcode = Opcode(0x01);
    /// READY (response).
    pub const READY: Opcode = Opcode(0x02);
    /// AUTHENTICATE (response).
    pub const AUTHENTICATE: Opcode = Opcode(0x03);
    /// OPTIONS (request).
    pub const OPTIONS: Opcode = Opcode(0x05);
    /// SUPPORTED (response).
    pub const SUPPORTED: Opcode = Opcode(0x06);
    /// QUERY (request).
    pub const QUERY: Opcode = Opcode(0x07);
    /// RESULT (response).
    pub const RESULT: Opcode = Opcode(0x08);
    /// PREPARE (request).
    pub const PREPARE: Opcode = Opcode(0x09);
    /// EXECUTE (request).
    pub const EXECUTE: Opcode = Opcode(0x0A);
    /// REGISTER (request).
    pub const REGISTER: Opcode = Opcode(0x0B);
    /// EVENT (server push, stream -1).
    pub const EVENT: Opcode = Opcode(0x0C);
    /// BATCH (request).
    pub const BATCH: Opcode = Opcode(0x0D);
    /// AUTH_CHALLENGE (response).
    pub const AUTH_CHALLENGE: Opcode = Opcode(0x0E);
    /// AUTH_RESPONSE (request).
    pub const AUTH_RESPONSE: Opcode = Opcode(0x0F);
    /// AUTH_SUCCESS (response).
    pub const AUTH_SUCCESS: Opcode = Opcode(0x10);

    /// Upper-case name (`QUERY`), or `OPCODE_0xNN` for an unknown value.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 17] = [
            "ERROR",
            "STARTUP",
            "READY",
            "AUTHENTICATE",
            "CREDENTIALS",
            "OPTIONS",
            "SUPPORTED",
            "QUERY",
            "RESULT",
            "PREPARE",
            "EXECUTE",
            "REGISTER",
            "EVENT",
            "BATCH",
            "AUTH_CHALLENGE",
            "AUTH_RESPONSE",
            "AUTH_SUCCESS",
        ];
        NAMES
            .get(self.0 as usize)
            .copied()
            .unwrap_or("UNKNOWN_OPCODE")
    }

    /// Is this opcode sent by clients (in v3 and later)?
    pub fn is_request(self) -> bool {
        matches!(
            self.0,
            0x01 | 0x05 | 0x07 | 0x09 | 0x0A | 0x0B | 0x0D | 0x0F
        )
    }

    /// Is this opcode sent by servers?
    pub fn is_response(self) -> bool {
        matches!(
            self.0,
            0x00 | 0x02 | 0x03 | 0x06 | 0x08 | 0x0C | 0x0E | 0x10
        )
    }
}

/// Versions whose frames travel in v5 segments once STARTUP is answered (5, and 6 beta).
pub fn segmented(version: u8) -> bool {
    matches!(version, 5 | 6)
}

/// Versions whose PREPARE has flags and whose Prepared / EXECUTE carry a result metadata id
/// (5 and later, but not DSE v1 = 0x41).
pub fn has_metadata_id(version: u8) -> bool {
    version >= 5 && version != 0x41
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version (3, 4, 5, 6 beta, 0x41/0x42 DSE v1/v2), without the direction bit.
    pub version: u8,
    /// True for responses (the version byte's 0x80 bit).
    pub response: bool,
    /// Flags byte.
    pub flags: u8,
    /// Stream id (signed; -1 for EVENT pushes).
    pub stream: i16,
    /// Opcode.
    pub opcode: Opcode,
    /// Body length as declared (a claim, not a budget).
    pub length: u32,
}

impl Header {
    /// Decode the first 9 bytes of `b` (`None` when shorter). No plausibility check.
    pub fn parse(b: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            version: h[0] & 0x7F,
            response: h[0] & 0x80 != 0,
            flags: h[1],
            stream: i16::from_be_bytes([h[2], h[3]]),
            opcode: Opcode(h[4]),
            length: u32::from_be_bytes([h[5], h[6], h[7], h[8]]),
        })
    }

    /// Total size on the wire (header + body).
    pub fn frame_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.length)
    }

    /// The boundary rule. A frame header is plausible in direction `dir` when:
    /// - the version is 3, 4, 5, 6 (beta), 0x41 or 0x42 (DSE; drivers try them first when
    ///   negotiating) and its direction bit matches `dir`;
    /// - no flag above 0x10 is set;
    /// - the opcode is one that side sends (EVENT only with stream -1; requests never use a
    ///   negative stream);
    /// - the body length is at most `max_len` (the spec caps frames at 256 MiB).
    pub fn plausible(&self, dir: Direction, max_len: u32) -> bool {
        let dir_ok = match dir {
            Direction::ClientToServer => !self.response && self.opcode.is_request(),
            Direction::ServerToClient => self.response && self.opcode.is_response(),
        };
        let stream_ok = match (dir, self.opcode) {
            (Direction::ServerToClient, Opcode::EVENT) => self.stream == -1,
            (Direction::ClientToServer, _) => self.stream >= 0,
            _ => true,
        };
        matches!(self.version, 3..=6 | 0x41 | 0x42)
            && self.flags & 0xE0 == 0
            && dir_ok
            && stream_ok
            && self.length <= max_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rule() {
        let b = [0x84, 0x08, 0xff, 0xff, 0x0c, 0, 0, 0, 5];
        let h = Header::parse(&b).unwrap();
        assert_eq!(
            (h.version, h.response, h.stream, h.opcode),
            (4, true, -1, Opcode::EVENT)
        );
        assert!(h.plausible(Direction::ServerToClient, 1 << 20));
        assert!(!h.plausible(Direction::ClientToServer, 1 << 20));
        let q = Header::parse(&[0x04, 0, 0, 3, 0x07, 0, 0, 0, 20]).unwrap();
        assert!(q.plausible(Direction::ClientToServer, 1 << 20));
        assert!(!q.plausible(Direction::ClientToServer, 10));
        let bad = Header::parse(&[0x02, 0, 0, 3, 0x07, 0, 0, 0, 20]).unwrap();
        assert!(!bad.plausible(Direction::ClientToServer, 1 << 20));
        assert!(Header::parse(&b[..8]).is_none());
        assert_eq!(Opcode(0x42).name(), "UNKNOWN_OPCODE");
        assert_eq!(Opcode::AUTH_RESPONSE.name(), "AUTH_RESPONSE");
    }
}
