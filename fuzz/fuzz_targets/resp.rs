//! RESP session fuzz target: the first byte picks a split point and a segment size, the rest is
//! cut into a client→server and a server→client stream that are fed, interleaved, to a session
//! (with a gap in the middle of each when the selector says so). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, GapInfo,
    ProtocolSession, SessionEvent, StreamChunk, Timestamp,
};
use wiresift_resp::parser::{parse_request, parse_value, Limits};
use wiresift_resp::{Config, RespSession};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // Parsers alone on the whole input.
    let limits = Limits::default();
    let _ = parse_value(rest, &limits);
    let _ = parse_request(rest, &limits);

    let split = if rest.is_empty() {
        0
    } else {
        (usize::from(sel) * 7919) % (rest.len() + 1)
    };
    let (c2s, s2c) = rest.split_at(split);
    let seg = 1 + usize::from(sel & 0x1f);
    let midstream = sel & 0x40 != 0;
    let gaps = sel & 0x80 != 0;
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 6379),
        start: Timestamp(0),
        midstream,
    };
    let cfg = Config {
        limits: Limits {
            max_bulk: 64,
            max_line: 256,
            max_depth: 8,
        },
        max_pending: 16,
        ..Config::default()
    };
    let mut s = RespSession::new(&conn, cfg);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0u64;
    let mut ci = c2s.chunks(seg).enumerate();
    let mut si = s2c.chunks(seg + 3).enumerate();
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
            let Some((i, d)) = x else { continue };
            t += 1_000;
            if gaps && i == 3 {
                let len = if sel & 1 == 0 {
                    None
                } else {
                    Some(d.len() as u64)
                };
                s.on_gap(
                    &GapInfo {
                        dir,
                        ts: Timestamp(t),
                        len,
                    },
                    &mut out,
                );
                continue;
            }
            let chunk = StreamChunk {
                dir,
                ts: Timestamp(t),
                data: d,
                held: Duration(0),
            };
            s.on_data(&chunk, &mut out);
        }
        out.clear();
    }
    s.on_fin(Direction::ClientToServer, Timestamp(t), &mut out);
    s.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out);
});
