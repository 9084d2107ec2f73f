//! MySQL fuzz target: the payload parsers on the whole input, then a session fed a client and a
//! server stream cut from the input (the first byte picks the split, the segment size, whether
//! the connection is mid-stream, whether a gap is declared, and whether a real handshake that
//! negotiates zlib compression comes first, so the rest is read through the compressed layer).
//! Nothing may panic, and every delivered byte must be counted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, GapInfo,
    ProtocolSession, SessionEvent, StreamChunk, Timestamp,
};
use wiresift_mysql::params::{decode_block, Block};
use wiresift_mysql::wire::{self, Cur};
use wiresift_mysql::{Config, MysqlSession};

/// HandshakeV10 payload (MariaDB-like, CLIENT_COMPRESS offered).
const GREETING: &[u8] = b"\x0a5.5.5-10.11-MariaDB\x00\x05\x00\x00\x00abcdefgh\x00\xfe\xf7\x08\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00";
/// HandshakeResponse41 payload: CLIENT_COMPRESS | PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH.
const LOGIN: &[u8] = b"\x20\x82\x08\x00\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00ws\x00\x00";
/// OK payload.
const OK: &[u8] = b"\x00\x00\x00\x02\x00\x00\x00";

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let _ = wire::parse_greeting(rest);
    let _ = wire::parse_login(rest, 8);
    let _ = wire::parse_column(rest, u64::MAX);
    let _ = wire::parse_ok(rest, 0);
    let _ = wire::parse_err(rest);
    let _ = wire::count_placeholders(rest);
    let b = Block {
        count: usize::from(sel) % 40,
        known_types: None,
        names: sel & 1 != 0,
        long_data: &[],
        max_value: 16,
        max_params: 16,
    };
    let _ = decode_block(&mut Cur::new(rest), &b);

    let split = if rest.is_empty() { 0 } else { (usize::from(sel) * 7919) % (rest.len() + 1) };
    let (c2s, s2c) = rest.split_at(split);
    let seg = 1 + usize::from(sel & 0x1f);
    let compressed = sel & 0x20 != 0;
    let midstream = sel & 0x40 != 0 && !compressed;
    let gaps = sel & 0x80 != 0;
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 3306),
        start: Timestamp(0),
        midstream,
    };
    let cfg = Config {
        max_packet_keep: 256,
        max_pending: 8,
        max_statements: 4,
        max_statement_bytes: 2048,
        max_resync_buffer: 512,
        max_zstd_body: 4096,
        max_inflate: 1 << 20,
        ..Config::default()
    };
    let mut s = MysqlSession::new(&conn, cfg);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0u64;
    let mut delivered = 0u64;
    let mut feed = |s: &mut MysqlSession, dir, d: &[u8], t: u64, out: &mut Vec<SessionEvent>| {
        s.on_data(&StreamChunk { dir, ts: Timestamp(t), data: d, held: Duration(0) }, out);
    };
    if compressed {
        for (dir, d) in [
            (Direction::ServerToClient, packet(0, GREETING)),
            (Direction::ClientToServer, packet(1, LOGIN)),
            (Direction::ServerToClient, packet(2, OK)),
        ] {
            t += 1000;
            delivered += d.len() as u64;
            feed(&mut s, dir, &d, t, &mut out);
        }
    }
    let mut ci = c2s.chunks(seg).enumerate();
    let mut si = s2c.chunks(seg + 3).enumerate();
    loop {
        let a = ci.next();
        let b = si.next();
        if a.is_none() && b.is_none() {
            break;
        }
        for (dir, x) in [(Direction::ClientToServer, a), (Direction::ServerToClient, b)] {
            let Some((i, d)) = x else { continue };
            t += 1_000;
            if gaps && i == 3 {
                let len = (sel & 1 == 1).then_some(d.len() as u64);
                s.on_gap(&GapInfo { dir, ts: Timestamp(t), len }, &mut out);
                continue;
            }
            delivered += d.len() as u64;
            feed(&mut s, dir, d, t, &mut out);
        }
        out.clear();
    }
    s.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out);
    let acc = s.accounting();
    assert_eq!(acc[0].0 + acc[1].0, delivered);
    assert!(acc[0].1 <= acc[0].0 && acc[1].1 <= acc[1].0);
});
