//! Checking wrappers around a registry's plugins, for targets that drive the whole engine: each
//! session the engine creates is wrapped so that after every callback the engine makes, the
//! accounting invariant holds (`delivered` = bytes the engine fed it), and every session's state
//! after the engine's budget rules is recorded for the target to check against the
//! per-connection and global caps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wiresift_core::{
    ByteAccounting, CloseReason, ConnectionInfo, Direction, Duration, EventSink, Flow, GapInfo,
    Handover, ProbeResult, ProtocolSession, Registry, StreamChunk, TcpProtocolPlugin, Timestamp,
};

/// `state_bytes` of every live wrapped session, after the last call the engine made on it
/// (keyed by a serial number, not the connection id: a hand-over replaces a session).
pub static STATE: Mutex<Option<HashMap<u64, usize>>> = Mutex::new(None);
static SERIAL: AtomicU64 = AtomicU64::new(0);

/// Forget every recorded session (at the start of an input).
pub fn reset_state() {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashMap::new());
}

/// (largest, sum) of the recorded state bytes of live sessions.
pub fn state_figures() -> (usize, usize) {
    let g = STATE.lock().unwrap_or_else(|e| e.into_inner());
    g.as_ref().map_or((0, 0), |m| {
        (m.values().copied().max().unwrap_or(0), m.values().sum())
    })
}

/// `registry` with every plugin wrapped in [`CheckedPlugin`] (same order, names and ports).
pub fn checked_registry(registry: &Registry) -> Registry {
    let mut r = Registry::new();
    for i in 0..registry.len() {
        r.register(Arc::new(CheckedPlugin(registry.plugin(i).clone())));
    }
    r
}

/// A plugin whose sessions are [`CheckedSession`]s.
pub struct CheckedPlugin(pub Arc<dyn TcpProtocolPlugin>);

impl TcpProtocolPlugin for CheckedPlugin {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn default_ports(&self) -> &'static [u16] {
        self.0.default_ports()
    }
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        self.0.probe(dir, data)
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(CheckedSession {
            inner: self.0.new_session(conn),
            fed: 0,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        })
    }
    fn shares_state_across_connections(&self) -> bool {
        self.0.shares_state_across_connections()
    }
}

/// A session checked after every call (see the module docs).
pub struct CheckedSession {
    inner: Box<dyn ProtocolSession>,
    fed: u64,
    serial: u64,
}

impl CheckedSession {
    fn after(&self, what: &str) {
        if let Some(a) = self.inner.accounting() {
            assert!(a.balanced(), "accounting unbalanced after {what}: {a:?}");
            assert_eq!(
                a.delivered, self.fed,
                "delivered != fed after {what}: {a:?}"
            );
        }
        self.record();
    }
    fn record(&self) {
        let b = self.inner.state_bytes();
        let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = g.as_mut() {
            m.insert(self.serial, b);
        }
    }
}

impl Drop for CheckedSession {
    fn drop(&mut self) {
        let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = g.as_mut() {
            m.remove(&self.serial);
        }
    }
}

impl ProtocolSession for CheckedSession {
    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        self.fed += chunk.data.len() as u64;
        let f = self.inner.on_data(chunk, out);
        self.after("on_data");
        f
    }
    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        let f = self.inner.on_gap(gap, out);
        self.after("on_gap");
        f
    }
    fn on_fin(&mut self, dir: Direction, ts: Timestamp, out: &mut dyn EventSink) {
        self.inner.on_fin(dir, ts, out);
        self.after("on_fin");
    }
    fn on_rst(&mut self, dir: Direction, ts: Timestamp, out: &mut dyn EventSink) {
        self.inner.on_rst(dir, ts, out);
        self.after("on_rst");
    }
    fn on_close(&mut self, ts: Timestamp, reason: CloseReason, out: &mut dyn EventSink) {
        self.inner.on_close(ts, reason, out);
        if let Some(a) = self.inner.accounting() {
            assert!(a.balanced(), "accounting unbalanced after on_close: {a:?}");
            assert_eq!(a.held, 0, "bytes held after close: {a:?}");
        }
        let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = g.as_mut() {
            m.remove(&self.serial);
        }
    }
    fn handover(&mut self) -> Option<Handover> {
        let h = self.inner.handover();
        if let Some(h) = &h {
            let replayed: u64 = h.replay.iter().map(|(_, _, b)| b.len() as u64).sum();
            assert!(
                replayed <= self.fed,
                "hand-over replays {replayed} > fed {}",
                self.fed
            );
        }
        h
    }
    fn accounting(&self) -> Option<ByteAccounting> {
        self.inner.accounting()
    }
    fn state_bytes(&self) -> usize {
        self.inner.state_bytes()
    }
    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        // Not asserted here: the engine asks for `shed(0)` next when this was not enough, and
        // drops a session that still cannot get within its budget (the target checks that no
        // session was dropped, and what the others hold after every packet).
        let n = self.inner.shed(limit, ts, out);
        self.after("shed");
        n
    }
    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        self.inner.timer_deadline(request_timeout)
    }
    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let n = self.inner.on_timer(now, request_timeout, out);
        self.after("on_timer");
        n
    }
}
