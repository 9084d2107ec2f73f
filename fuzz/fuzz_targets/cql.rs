//! CQL session fuzz target. The first byte is a selector: bits 0–1 the session-state cap, bit 2
//! no request timer, bit 3 `Detail::Summary`, bit 5 a v5 STARTUP asking for lz4 comes first
//! (so the rest is parsed as v5 segments), bit 6 mid-stream pickup, bit 7 the header version for
//! the body decoders (4 or 5). The rest is a [`wiresift_fuzz::Script`] fed to one `CqlSession`
//! under the shared driver's checks; the body decoders also run on the whole script. The
//! pending map stays within its budget, and at close every delivered byte was consumed or
//! discarded (the session's own accounts), none held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::{Direction, Duration, Timestamp};
use wiresift_cql::frame::{Header, Opcode};
use wiresift_cql::{parser, Config, CqlSession, PreparedCache};
use wiresift_fuzz::{cap, conn, run_script_with, Checked, Rules};

const STARTUP_V5_LZ4: &[u8] = &[
    0x05, 0, 0, 0, 0x01, 0, 0, 0, 22, 0, 1, 0, 11, b'C', b'O', b'M', b'P', b'R', b'E', b'S', b'S',
    b'I', b'O', b'N', 0, 3, b'l', b'z', b'4',
];

fuzz_target!(|data: &[u8]| {
    let data = cap(data, 4096);
    let Some((&sel, rest)) = data.split_first() else {
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
            version: 4 + (sel >> 7),
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
    let cfg = Config {
        max_pending: 16,
        max_frame: 4096,
        max_decompressed: 8192,
        ..Config::default()
    };
    let cache = std::sync::Arc::new(std::sync::Mutex::new(PreparedCache::new(8, 4096)));
    let s = CqlSession::new(&conn(9042, sel & 0x40 != 0), cfg, cache);
    let mut c = Checked::new(s, Rules::pick(sel, sel & 4 != 0), Timestamp(0));
    c.sink.summary = sel & 8 != 0;
    if sel & 0x20 != 0 {
        c.advance(Duration::from_micros(10));
        c.data(Direction::ClientToServer, STARTUP_V5_LZ4, Duration(0));
    }
    run_script_with(&mut c, rest, |c| assert!(c.s.pending() <= 16));
    assert_eq!(c.s.pending(), 0);
    // The session's own accounts (per direction): every delivered byte was consumed or
    // discarded (and counted), none is still held.
    for a in c.s.accounting() {
        assert_eq!(a.delivered, a.consumed + a.discarded, "{a:?}");
        assert_eq!(a.held, 0);
        assert!(a.skipped <= a.delivered);
    }
});
