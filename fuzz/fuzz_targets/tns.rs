//! TNS session fuzz target: the input is a script of segments for both directions (and a few
//! gaps), driven through one `TnsSession`. Nothing may panic and buffering must stay bounded.
//!
//! Script format: a sequence of records `[ctl, len, bytes…]`. `ctl & 1` picks the direction
//! (0 = client→server), `ctl & 2` declares a gap of `len` bytes instead of data, `ctl & 4`
//! marks the connection as picked up mid-stream (first record only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, GapInfo,
    ProtocolSession, SessionEvent, StreamChunk, Timestamp,
};
use wiresift_tns::{TnsConfig, TnsSession};

fuzz_target!(|data: &[u8]| {
    let midstream = data.first().is_some_and(|c| c & 4 != 0);
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 0, 0, 1].into(), 40000),
        server: Endpoint::new([10, 0, 0, 2].into(), 1521),
        start: Timestamp(0),
        midstream,
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
    let mut s = TnsSession::new(&conn, cfg);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut rest = data;
    let mut t = 0u64;
    let (mut fed, mut in_tx) = (0u64, 0u64);
    let tx_bytes = |out: &Vec<SessionEvent>| -> u64 {
        out.iter()
            .map(|e| match e {
                SessionEvent::Transaction(t) => t.request_bytes + t.response_bytes,
                _ => 0,
            })
            .sum()
    };
    while rest.len() >= 2 {
        let (ctl, len) = (rest[0], usize::from(rest[1]));
        rest = &rest[2..];
        let dir = if ctl & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        t += 1000;
        if ctl & 2 != 0 {
            let gap = GapInfo {
                dir,
                ts: Timestamp(t),
                len: (ctl & 8 == 0).then_some(len as u64),
            };
            s.on_gap(&gap, &mut out as &mut dyn EventSink);
            continue;
        }
        let n = len.min(rest.len());
        let chunk = StreamChunk {
            dir,
            ts: Timestamp(t),
            data: &rest[..n],
            held: Default::default(),
        };
        s.on_data(&chunk, &mut out as &mut dyn EventSink);
        fed += n as u64;
        rest = &rest[n..];
        // Carry-over 2 × 512, kept packet bytes 2 × (256 + 128), request 256 + tail 128,
        // cursor map 4 × (64 + 8), last SQL + fingerprint (64 + 256).
        assert!(s.buffered_bytes() <= 2 * 512 + 2 * 384 + 384 + 4 * 72 + 320);
        in_tx += tx_bytes(&out);
        out.clear();
    }
    s.on_close(
        Timestamp(t + 1),
        CloseReason::Fin,
        &mut out as &mut dyn EventSink,
    );
    in_tx += tx_bytes(&out);
    // Accounting: every byte fed is in a transaction or counted by the session.
    let c = s.counters();
    let counted = c.skipped_bytes[0]
        + c.skipped_bytes[1]
        + c.oob_bytes
        + c.unattributed_bytes
        + c.encrypted_bytes;
    assert_eq!(
        in_tx + counted,
        fed,
        "tx {in_tx} + counted {counted} != fed {fed}"
    );
});
