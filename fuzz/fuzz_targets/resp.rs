//! RESP session fuzz target. The first byte is a selector (bits 0–1 the session-state cap, bit 2
//! no request timer, bit 3 `Detail::Summary`, bit 6 mid-stream pickup); the rest is a
//! [`wiresift_fuzz::Script`] of data, gaps, FIN and RST records fed to one `RespSession` under
//! the shared driver's checks (accounting, state cap with shed, timer, note bound), plus the
//! parsers alone on the whole input. The pending queue stays within `max_pending`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::Timestamp;
use wiresift_fuzz::{cap, conn, run_script_with, Checked, Rules};
use wiresift_resp::parser::{parse_request, parse_value, Limits};
use wiresift_resp::{Config, RespSession};

fuzz_target!(|data: &[u8]| {
    let data = cap(data, 4096);
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let _ = parse_value(rest, &limits);
    let _ = parse_request(rest, &limits);
    let cfg = Config {
        limits: Limits {
            max_bulk: 64,
            max_line: 256,
            max_depth: 8,
        },
        max_pending: 16,
        ..Config::default()
    };
    let s = RespSession::new(&conn(6379, sel & 0x40 != 0), cfg);
    let mut c = Checked::new(s, Rules::pick(sel, sel & 4 != 0), Timestamp(0));
    c.sink.summary = sel & 8 != 0;
    run_script_with(&mut c, rest, |c| assert!(c.s.pending_entries() <= 16));
});
