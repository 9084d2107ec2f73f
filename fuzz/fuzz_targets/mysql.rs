//! MySQL fuzz target: the payload parsers on the whole input, then a session fed a
//! [`wiresift_fuzz::Script`] under the shared driver's checks. The first byte is a selector:
//! bits 0–1 the session-state cap, bit 2 no request timer, bit 3 `Detail::Summary`, bit 5 a real
//! handshake that negotiates zlib compression comes first (so the rest is read through the
//! compressed layer), bit 6 mid-stream pickup. Nothing may panic, and every delivered byte must
//! be counted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::{Direction, Duration, Timestamp};
use wiresift_fuzz::{cap, conn, run_script, Checked, Rules};
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
    let data = cap(data, 4096);
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

    let compressed = sel & 0x20 != 0;
    let midstream = sel & 0x40 != 0 && !compressed;
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
    let s = MysqlSession::new(&conn(3306, midstream), cfg);
    let mut c = Checked::new(s, Rules::pick(sel, sel & 4 != 0), Timestamp(0));
    c.sink.summary = sel & 8 != 0;
    if compressed {
        for (dir, d) in [
            (Direction::ServerToClient, packet(0, GREETING)),
            (Direction::ClientToServer, packet(1, LOGIN)),
            (Direction::ServerToClient, packet(2, OK)),
        ] {
            c.advance(Duration::from_millis(1));
            c.data(dir, &d, Duration(0));
        }
    }
    run_script(&mut c, rest);
    // The session's own accounts: (delivered, skipped) per direction.
    let acc = c.s.accounting();
    if !c.detached {
        assert_eq!(acc[0].0 + acc[1].0, c.fed[0] + c.fed[1]);
    }
    assert!(acc[0].1 <= acc[0].0 && acc[1].1 <= acc[1].0);
});
