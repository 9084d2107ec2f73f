//! Proxy tunnel fuzz target: the input is a script of segments for both directions (and a few
//! gaps), driven through one `TunnelSession` (HTTP CONNECT, SOCKS4/4a/5 set-ups). Nothing may
//! panic, and a hand-over never replays more bytes than the session was given.
//!
//! Script format: a sequence of records `[ctl, len, bytes…]`. `ctl & 1` picks the direction
//! (0 = client→server), `ctl & 2` declares a gap of `len` bytes instead of data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift::tunnel::TunnelSession;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, Flow, GapInfo,
    ProtocolSession, SessionEvent, StreamChunk, Timestamp,
};

fuzz_target!(|data: &[u8]| {
    let conn = ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 0, 0, 1].into(), 40000),
        server: Endpoint::new([10, 0, 0, 2].into(), 1080),
        start: Timestamp(0),
        midstream: false,
    };
    let mut s = TunnelSession::new(&conn);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut rest = data;
    let mut t = 0u64;
    let mut fed = 0usize;
    while rest.len() >= 2 {
        let (ctl, len) = (rest[0], usize::from(rest[1]));
        rest = &rest[2..];
        let dir = if ctl & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        t += 1000;
        let flow = if ctl & 2 != 0 {
            let gap = GapInfo {
                dir,
                ts: Timestamp(t),
                len: Some(len as u64),
            };
            s.on_gap(&gap, &mut out as &mut dyn EventSink)
        } else {
            let n = len.min(rest.len());
            let chunk = StreamChunk {
                dir,
                ts: Timestamp(t),
                data: &rest[..n],
                held: Default::default(),
            };
            fed += n;
            rest = &rest[n..];
            s.on_data(&chunk, &mut out as &mut dyn EventSink)
        };
        match flow {
            Flow::Continue => {}
            Flow::Detach => break,
            Flow::Handover => {
                let h = s.handover().expect("a hand-over after Flow::Handover");
                let replayed: usize = h.replay.iter().map(|(_, _, b)| b.len()).sum();
                assert!(replayed <= fed);
                return;
            }
        }
    }
    s.on_close(
        Timestamp(t + 1),
        CloseReason::Fin,
        &mut out as &mut dyn EventSink,
    );
});
