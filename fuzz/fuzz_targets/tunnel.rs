//! Proxy tunnel fuzz target: the input is a [`wiresift_fuzz::Script`] fed to one
//! `TunnelSession` (HTTP CONNECT, SOCKS4/4a/5 set-ups) under the shared driver's checks. Nothing
//! may panic, and a hand-over never replays more bytes than the session was given (checked by
//! the driver).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiresift::tunnel::TunnelSession;
use wiresift_core::Timestamp;
use wiresift_fuzz::{cap, conn, run_script, Checked, Rules};

fuzz_target!(|data: &[u8]| {
    let data = cap(data, 4096);
    let s = TunnelSession::new(&conn(1080, false));
    let mut c = Checked::new(s, Rules::pick(0, false), Timestamp(0));
    run_script(&mut c, data);
});
