//! Inputs the `cql` fuzz target once crashed on (kept in `fuzz/regressions/cql/`), replayed the
//! way that target fed them, asserting no panic and the byte accounting.

use std::sync::{Arc, Mutex};

use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, GapInfo,
    ProtocolSession, SessionEvent, StreamChunk, Timestamp,
};
use wiresift_cql::{Config, CqlSession, PreparedCache};

const STARTUP_V5_LZ4: &[u8] = &[
    0x05, 0, 0, 0, 0x01, 0, 0, 0, 22, 0, 1, 0, 11, b'C', b'O', b'M', b'P', b'R', b'E', b'S', b'S',
    b'I', b'O', b'N', 0, 3, b'l', b'z', b'4',
];

/// The first version of the target's input format (`.v0` files): a selector byte (bits 0–4 the
/// chunk size, bit 5 a v5 lz4 STARTUP first, bit 6 mid-stream, bit 7 a gap for the 4th chunk of
/// each direction), the client stream's length (2 bytes, big-endian), then both streams.
fn replay_v0(data: &[u8]) {
    let (&sel, rest) = data.split_first().expect("selector");
    let (len, rest) = rest.split_first_chunk::<2>().expect("length");
    let split = usize::from(u16::from_be_bytes(*len)) % (rest.len() + 1);
    let (c2s, s2c) = rest.split_at(split);
    let mut c2s_v = Vec::new();
    if sel & 0x20 != 0 {
        c2s_v.extend_from_slice(STARTUP_V5_LZ4);
    }
    c2s_v.extend_from_slice(c2s);
    let seg = 1 + usize::from(sel & 0x1f) * 3;
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 0, 0, 1].into(), 40000),
        server: Endpoint::new([10, 0, 0, 2].into(), 9042),
        start: Timestamp(0),
        midstream: sel & 0x40 != 0,
    };
    let cfg = Config {
        max_pending: 16,
        max_frame: 4096,
        max_decompressed: 8192,
        ..Config::default()
    };
    let cache = Arc::new(Mutex::new(PreparedCache::new(8, 4096)));
    let mut s = CqlSession::new(&conn, cfg, cache);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0u64;
    let mut fed = 0u64;
    let mut ci = c2s_v.chunks(seg).enumerate();
    let mut si = s2c.chunks(seg + 5).enumerate();
    let check = |s: &CqlSession, fed: u64| {
        if let Some(a) = ProtocolSession::accounting(s) {
            assert!(a.balanced(), "{a:?}");
            assert_eq!(a.delivered, fed, "{a:?}");
        }
    };
    loop {
        let a = ci.next();
        let b = si.next();
        if a.is_none() && b.is_none() {
            break;
        }
        for (dir, x) in [
            (Direction::ClientToServer, a),
            (Direction::ServerToClient, b),
        ] {
            let Some((i, chunk)) = x else { continue };
            t += 1_000;
            if sel & 0x80 != 0 && i == 3 {
                let gap = GapInfo {
                    dir,
                    ts: Timestamp(t),
                    len: Some(chunk.len() as u64),
                };
                s.on_gap(&gap, &mut out);
            } else {
                let c = StreamChunk {
                    dir,
                    ts: Timestamp(t),
                    data: chunk,
                    held: Duration(0),
                };
                s.on_data(&c, &mut out);
                fed += chunk.len() as u64;
            }
            check(&s, fed);
            assert!(s.pending() <= 16);
        }
        out.clear();
    }
    s.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out);
    check(&s, fed);
    assert_eq!(s.pending(), 0);
    for a in s.accounting() {
        assert_eq!(a.delivered, a.consumed + a.discarded, "{a:?}");
        assert_eq!(a.held, 0);
        assert!(a.skipped <= a.delivered, "{a:?}");
    }
}

/// A QUERY whose text has a multi-byte character within its first 4 bytes: `USE` detection
/// sliced the string at byte 4, not a char boundary, and panicked (fixed in 4d80a04; checked:
/// this test fails with that slicing put back).
#[test]
fn use_keyspace_on_a_non_char_boundary() {
    replay_v0(include_bytes!(
        "../../../fuzz/regressions/cql/use-keyspace-char-boundary.v0"
    ));
}
