//! CQL session fuzz target: the first byte picks a chunk size, mid-stream pickup and gaps; the
//! next two (big-endian) give the length of the client→server stream; the rest is cut into a
//! client→server and a server→client stream fed, interleaved, to a session. When the selector's bit 5 is set, the client stream is prefixed with a v5
//! STARTUP asking for lz4, so the rest is parsed as v5 segments. Body decoders run on the whole
//! input too. Nothing may panic; the session's pending map stays within its budget, and every
//! delivered byte is accounted for (consumed or discarded) at close.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, GapInfo,
    ProtocolSession, SessionEvent, StreamChunk, Timestamp,
};
use wiresift_cql::frame::{Header, Opcode};
use wiresift_cql::{parser, Config, CqlSession, PreparedCache};

const STARTUP_V5_LZ4: &[u8] = &[
    0x05, 0, 0, 0, 0x01, 0, 0, 0, 22, 0, 1, 0, 11, b'C', b'O', b'M', b'P', b'R', b'E', b'S', b'S',
    b'I', b'O', b'N', 0, 3, b'l', b'z', b'4',
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let limits = parser::Limits::default();
    for op in [
        Opcode::QUERY,
        Opcode::EXECUTE,
        Opcode::BATCH,
        Opcode::RESULT,
        Opcode::ERROR,
        Opcode::EVENT,
    ] {
        let h = Header {
            version: 4 + (sel & 1),
            response: op.is_response(),
            flags: sel & 0x0e,
            stream: 1,
            opcode: op,
            length: rest.len() as u32,
        };
        let _ = if op.is_response() {
            parser::response(&h, rest, &limits).map(|_| ())
        } else {
            parser::request(&h, rest, &limits).map(|_| ())
        };
        let _ = parser::event(&h, rest, &limits);
    }
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
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 9042),
        start: Timestamp(0),
        midstream: sel & 0x40 != 0,
    };
    let cfg = Config {
        max_pending: 16,
        max_frame: 4096,
        max_decompressed: 8192,
        ..Config::default()
    };
    let cache = std::sync::Arc::new(std::sync::Mutex::new(PreparedCache::new(8, 4096)));
    let mut s = CqlSession::new(&conn, cfg, cache);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0u64;
    let mut ci = c2s_v.chunks(seg).enumerate();
    let mut si = s2c.chunks(seg + 5).enumerate();
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
                s.on_gap(
                    &GapInfo {
                        dir,
                        ts: Timestamp(t),
                        len: Some(chunk.len() as u64),
                    },
                    &mut out,
                );
                continue;
            }
            s.on_data(
                &StreamChunk {
                    dir,
                    ts: Timestamp(t),
                    data: chunk,
                    held: Duration(0),
                },
                &mut out,
            );
            assert!(s.pending() <= 16);
        }
        if out.len() > 256 {
            out.clear();
        }
    }
    s.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out);
    assert_eq!(s.pending(), 0);
    // every delivered byte was consumed or discarded (and counted), none is still held
    for a in s.accounting() {
        assert_eq!(a.delivered, a.consumed + a.discarded, "{a:?}");
        assert_eq!(a.held, 0);
        assert!(a.skipped <= a.delivered);
    }
});
