//! Shared by `tests/sql_budget.rs` and `tests/sql_hostile.rs`: a plugin wrapper whose sessions
//! check the byte accounting after every callback.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use wiresift::core::{
    ByteAccounting, CloseReason, ConnectionInfo, Direction, Duration, EventSink, Flow, GapInfo,
    ProbeResult, ProtocolSession, StreamChunk, TcpProtocolPlugin, Timestamp,
};

/// Totals over a run (all sessions).
#[derive(Default)]
pub struct Totals {
    pub calls: AtomicU64,
    pub shed: AtomicU64,
    pub timed_out: AtomicU64,
    pub peak_state: AtomicU64,
    pub over_after_shed: AtomicU64,
}

/// A plugin whose sessions assert the accounting invariant after every callback and, when
/// `cap` / `timeout` are set, apply the budget and the timer themselves (before the engine).
pub struct Checked {
    pub inner: Arc<dyn TcpProtocolPlugin>,
    pub cap: Option<usize>,
    pub timeout: Option<Duration>,
    pub totals: Arc<Totals>,
}

impl TcpProtocolPlugin for Checked {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn default_ports(&self) -> &'static [u16] {
        self.inner.default_ports()
    }
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        self.inner.probe(dir, data)
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(CheckedSession {
            s: self.inner.new_session(conn),
            delivered: 0,
            cap: self.cap,
            timeout: self.timeout,
            totals: self.totals.clone(),
            closed: false,
        })
    }
    fn shares_state_across_connections(&self) -> bool {
        self.inner.shares_state_across_connections()
    }
}

struct CheckedSession {
    s: Box<dyn ProtocolSession>,
    delivered: u64,
    cap: Option<usize>,
    timeout: Option<Duration>,
    totals: Arc<Totals>,
    closed: bool,
}

impl CheckedSession {
    fn check(&mut self, what: &str, ts: Timestamp, out: &mut dyn EventSink) {
        self.totals.calls.fetch_add(1, Relaxed);
        let a: ByteAccounting = self.s.accounting().expect("the session keeps accounts");
        assert!(a.balanced(), "after {what}: unbalanced {a:?}");
        assert_eq!(a.delivered, self.delivered, "after {what}: delivered {a:?}");
        if self.closed {
            assert_eq!(a.held, 0, "after close: held {a:?}");
            return;
        }
        let sb = self.s.state_bytes();
        self.totals.peak_state.fetch_max(sb as u64, Relaxed);
        let Some(cap) = self.cap else {
            return;
        };
        if sb > cap {
            let n = self.s.shed(cap, ts, out);
            self.totals.shed.fetch_add(n, Relaxed);
            let a = self.s.accounting().unwrap();
            assert!(a.balanced(), "after shed: unbalanced {a:?}");
            if self.s.state_bytes() > cap {
                self.totals.over_after_shed.fetch_add(1, Relaxed);
            }
        }
    }
    fn timer(&mut self, now: Timestamp, out: &mut dyn EventSink) {
        let Some(timeout) = self.timeout else {
            return;
        };
        if let Some(d) = self.s.timer_deadline(timeout) {
            if d <= now {
                let n = self.s.on_timer(now, timeout, out);
                self.totals.timed_out.fetch_add(n, Relaxed);
                let a = self.s.accounting().unwrap();
                assert!(a.balanced(), "after on_timer: unbalanced {a:?}");
            }
        }
    }
}

impl ProtocolSession for CheckedSession {
    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        self.timer(chunk.ts, out);
        self.delivered += chunk.data.len() as u64;
        let f = self.s.on_data(chunk, out);
        self.check("on_data", chunk.ts, out);
        f
    }
    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        self.timer(gap.ts, out);
        let f = self.s.on_gap(gap, out);
        self.check("on_gap", gap.ts, out);
        f
    }
    fn on_fin(&mut self, dir: Direction, ts: Timestamp, out: &mut dyn EventSink) {
        self.s.on_fin(dir, ts, out);
        self.check("on_fin", ts, out);
    }
    fn on_rst(&mut self, dir: Direction, ts: Timestamp, out: &mut dyn EventSink) {
        self.s.on_rst(dir, ts, out);
        self.check("on_rst", ts, out);
    }
    fn on_close(&mut self, ts: Timestamp, reason: CloseReason, out: &mut dyn EventSink) {
        self.timer(ts, out);
        self.s.on_close(ts, reason, out);
        self.closed = true;
        self.check("on_close", ts, out);
    }
    fn accounting(&self) -> Option<ByteAccounting> {
        self.s.accounting()
    }
    fn state_bytes(&self) -> usize {
        self.s.state_bytes()
    }
    // The engine's own budget and timer go through to the session (and are checked too).
    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let n = self.s.shed(limit, ts, out);
        self.totals.shed.fetch_add(n, Relaxed);
        let a = self.s.accounting().unwrap();
        assert!(a.balanced(), "after engine shed: unbalanced {a:?}");
        n
    }
    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        self.s.timer_deadline(request_timeout)
    }
    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let n = self.s.on_timer(now, request_timeout, out);
        self.totals.timed_out.fetch_add(n, Relaxed);
        let a = self.s.accounting().unwrap();
        assert!(a.balanced(), "after engine on_timer: unbalanced {a:?}");
        n
    }
}
