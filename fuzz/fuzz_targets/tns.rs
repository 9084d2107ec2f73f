//! TNS session fuzz target. The first byte is a selector (bits 0–1 the session-state cap, bit 2
//! no request timer, bit 3 `Detail::Summary`, bit 6 mid-stream pickup); the rest is a
//! [`wiresift_fuzz::Script`] fed to one `TnsSession` under the shared driver's checks. Buffering
//! stays bounded, and every byte fed is in a transaction or counted by the session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::Timestamp;
use wiresift_fuzz::{cap, conn, run_script_with, Checked, Rules};
use wiresift_tns::{TnsConfig, TnsSession};

fuzz_target!(|data: &[u8]| {
    let data = cap(data, 4096);
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // Small limits so that the overflow and truncation paths are reached often.
    let cfg = TnsConfig {
        max_request: 256,
        max_response_tail: 128,
        max_packet_keep: 256,
        max_carry: 512,
        max_sql: 64,
        max_cursors: 4,
    };
    let s = TnsSession::new(&conn(1521, sel & 0x40 != 0), cfg);
    let mut c = Checked::new(s, Rules::pick(sel, sel & 4 != 0), Timestamp(0));
    c.sink.summary = sel & 8 != 0;
    // Carry-over 2 × 512, kept packet bytes 2 × (256 + 128), request 256 + tail 128, cursor
    // map 4 × (64 + 8), last SQL + fingerprint (64 + 256).
    run_script_with(&mut c, rest, |c| {
        assert!(c.s.buffered_bytes() <= 2 * 512 + 2 * 384 + 384 + 4 * 72 + 320)
    });
    if c.detached {
        return;
    }
    // Accounting: every byte fed is in a transaction or counted by the session.
    let k = c.s.counters();
    let counted = k.skipped_bytes[0]
        + k.skipped_bytes[1]
        + k.oob_bytes
        + k.unattributed_bytes
        + k.encrypted_bytes;
    let fed = c.fed[0] + c.fed[1];
    assert_eq!(
        c.sink.tx_bytes + counted,
        fed,
        "tx {} + counted {counted} != fed {fed}",
        c.sink.tx_bytes
    );
});
