//! SMTP session fuzz target. The first byte is a selector (bits 0–1 the session-state cap, bit 2
//! no request timer, bit 3 `Detail::Summary`, bit 6 mid-stream pickup); the rest is a
//! [`wiresift_fuzz::Script`] fed to one `SmtpSession` under the shared driver's checks
//! (accounting, state cap with shed, timer, note bound). Buffering stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::Timestamp;
use wiresift_fuzz::{cap, conn, run_script_with, Checked, Rules};
use wiresift_smtp::{SmtpConfig, SmtpSession};

fuzz_target!(|data: &[u8]| {
    let data = cap(data, 4096);
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // Small limits so that the overlong and overflow paths are reached often.
    let cfg = SmtpConfig {
        max_line: 64,
        max_reply_lines: 4,
        max_pending: 8,
        header_area: 128,
        ..Default::default()
    };
    let s = SmtpSession::new(&conn(25, sel & 0x40 != 0), cfg);
    let mut c = Checked::new(s, Rules::pick(sel, sel & 4 != 0), Timestamp(0));
    c.sink.summary = sel & 8 != 0;
    // Carry-over 2 × 128, overlong prefixes 2 × 64, header area 128, reply 4 × 64.
    run_script_with(&mut c, rest, |c| assert!(c.s.buffered_bytes() <= 1024));
});
