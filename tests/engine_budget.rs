//! The engine's side of session-state budgets and request timers, with a toy line protocol
//! whose session implements the hooks exactly as documented: every client line is a request,
//! every server line the reply to the oldest one (FIFO).

mod tcp_pcap;

use std::io::Cursor;
use std::sync::Arc;
use tcp_pcap::{Pcap, ACK, PSH};
use wiresift::output::{NdjsonOptions, NdjsonOutput};
use wiresift::{Engine, EngineConfig, SessionBudget};
use wiresift_core::{
    CloseReason, ConnectionInfo, Direction, Duration, EventSink, Flow, GapInfo, Note, ProbeResult,
    ProtocolSession, Registry, Status, StreamChunk, TcpProtocolPlugin, Timestamp, Transaction,
};
use wiresift_net::CaptureReader;

const PORT: u16 = 7777;

struct Lines;

impl TcpProtocolPlugin for Lines {
    fn name(&self) -> &'static str {
        "lines"
    }
    fn default_ports(&self) -> &'static [u16] {
        &[PORT]
    }
    fn probe(&self, _dir: Direction, _data: &[u8]) -> ProbeResult {
        ProbeResult::NoMatch
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(LineSession {
            info: *conn,
            pending: Default::default(),
            bytes: 0,
            expired: 0,
        })
    }
}

struct Pending {
    ts: Timestamp,
    line: String,
}

struct LineSession {
    info: ConnectionInfo,
    pending: std::collections::VecDeque<Pending>,
    bytes: usize,
    /// Requests already reported (timed out or shed) whose replies may still come.
    expired: usize,
}

impl LineSession {
    fn emit(&mut self, p: Pending, note: Option<Note>, out: &mut dyn EventSink) {
        self.bytes -= 64 + p.line.len();
        let mut tx = Transaction::new("lines", &self.info, p.ts, ());
        tx.command = p.line;
        if let Some(n) = note {
            tx.add_note(n);
        }
        out.transaction(&mut tx);
    }
}

impl ProtocolSession for LineSession {
    fn on_data(&mut self, c: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        for line in c.data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = String::from_utf8_lossy(line).into_owned();
            match c.dir {
                Direction::ClientToServer => {
                    self.bytes += 64 + line.len();
                    self.pending.push_back(Pending { ts: c.ts, line });
                }
                Direction::ServerToClient => {
                    if self.expired > 0 {
                        self.expired -= 1;
                        continue;
                    }
                    if let Some(p) = self.pending.pop_front() {
                        self.bytes -= 64 + p.line.len();
                        let mut tx = Transaction::new("lines", &self.info, p.ts, ());
                        tx.command = p.line;
                        tx.status = Status::Ok;
                        tx.complete_at(c.ts);
                        out.transaction(&mut tx);
                    }
                }
            }
        }
        Flow::Continue
    }
    fn on_gap(&mut self, _gap: &GapInfo, _out: &mut dyn EventSink) -> Flow {
        Flow::Continue
    }
    fn on_close(&mut self, _ts: Timestamp, _r: CloseReason, out: &mut dyn EventSink) {
        while let Some(p) = self.pending.pop_front() {
            self.emit(p, None, out);
        }
    }
    fn state_bytes(&self) -> usize {
        self.bytes
    }
    fn shed(&mut self, limit: usize, _ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        while self.bytes > limit {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.expired += 1;
            self.emit(p, Some(Note::Shed { budget: "?" }), out);
            n += 1;
        }
        n
    }
    fn timer_deadline(&self, t: Duration) -> Option<Timestamp> {
        self.pending.front().map(|p| p.ts.saturating_add(t))
    }
    fn on_timer(&mut self, now: Timestamp, t: Duration, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        while self
            .pending
            .front()
            .is_some_and(|p| p.ts.saturating_add(t) <= now)
        {
            let p = self.pending.pop_front().unwrap();
            let waited = now.saturating_since(p.ts).as_micros();
            self.expired += 1;
            self.emit(p, Some(Note::RequestTimeout { waited_us: waited }), out);
            n += 1;
        }
        n
    }
}

/// One segment of connection `cport` at `ms` milliseconds, with exactly `flags` and an
/// acknowledgment number of 1.
fn seg(p: &mut Pcap, ms: u64, cport: u16, from_server: bool, flags: u8, payload: &[u8]) {
    p.seg_at(ms * 1000, cport, from_server, flags, 1, payload);
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Lines));
    r
}

fn run(
    pcap: &[u8],
    cfg: &EngineConfig,
    threads: usize,
) -> (Vec<serde_json::Value>, String, wiresift::RunSummary) {
    let mut src = CaptureReader::from_read(Box::new(Cursor::new(pcap.to_vec()))).unwrap();
    let mut e = Engine::new(
        cfg.clone(),
        registry(),
        NdjsonOutput::new(Vec::new(), NdjsonOptions::default()),
    );
    e.run_threads(threads, &mut src, |_| {}).unwrap();
    let summary = e.summary();
    let bytes = e.into_output().finish().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let v = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (v, text, summary)
}

fn note_kinds(tx: &serde_json::Value) -> Vec<String> {
    tx["notes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| n["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_request_with_no_reply_is_reported_when_the_timeout_passes_in_capture_time() {
    let mut p = Pcap::new(PORT);
    // Connection A: a request at 0 s that is answered only at 45 s.
    seg(&mut p, 0, 40000, false, PSH | ACK, b"slow\n");
    // Connection B: traffic that moves the capture clock.
    seg(&mut p, 10_000, 40001, false, PSH | ACK, b"b1\n");
    seg(&mut p, 10_001, 40001, true, PSH | ACK, b"B1\n");
    seg(&mut p, 31_000, 40001, false, PSH | ACK, b"b2\n");
    seg(&mut p, 31_001, 40001, true, PSH | ACK, b"B2\n");
    // The late reply to `slow`, then a new request answered at once.
    seg(&mut p, 45_000, 40000, true, PSH | ACK, b"SLOW\n");
    seg(&mut p, 46_000, 40000, false, PSH | ACK, b"next\n");
    seg(&mut p, 46_001, 40000, true, PSH | ACK, b"NEXT\n");
    let cfg = EngineConfig::default();
    let (txs, text, summary) = run(&p.out, &cfg, 1);
    let cmds: Vec<&str> = txs.iter().map(|t| t["command"].as_str().unwrap()).collect();
    // `slow` is reported when the clock passes 30 s (at b2, 31 s), before b2's transaction.
    assert_eq!(cmds, ["b1", "slow", "b2", "next"], "{text}");
    assert_eq!(txs[1]["status"], "no_response");
    assert_eq!(note_kinds(&txs[1]), ["request_timeout"]);
    assert_eq!(txs[1]["notes"][0]["waited_us"], 31_000_000);
    // The late reply is not paired with `next`.
    assert_eq!(txs[3]["status"], "ok");
    assert_eq!(txs[3]["latency_us"], 1_000);
    assert_eq!(summary.dissect.requests_timed_out, 1);
    // Two threads: the same bytes.
    let (_, text2, s2) = run(&p.out, &cfg, 2);
    assert_eq!(text, text2);
    assert_eq!(s2.dissect.requests_timed_out, 1);
    // No timeout: reported at close only.
    let cfg = EngineConfig {
        request_timeout: None,
        ..EngineConfig::default()
    };
    let (txs, _, summary) = run(&p.out, &cfg, 1);
    let cmds: Vec<&str> = txs.iter().map(|t| t["command"].as_str().unwrap()).collect();
    assert_eq!(cmds, ["b1", "b2", "slow", "next"]);
    assert_eq!(summary.dissect.requests_timed_out, 0);
    // Per plugin: off for `lines`, or shorter than the default.
    for (t, timed_out, waited) in [
        (None, 0, None),
        (Some(Duration::from_secs(5)), 1, Some(10_000_000)),
    ] {
        let cfg = EngineConfig {
            plugin_request_timeouts: vec![("lines".to_string(), t)],
            ..EngineConfig::default()
        };
        let (txs, _, summary) = run(&p.out, &cfg, 1);
        assert_eq!(summary.dissect.requests_timed_out, timed_out, "{t:?}");
        let w = txs.iter().find_map(|t| t["notes"][0]["waited_us"].as_u64());
        assert_eq!(w, waited);
    }
}

#[test]
fn sessions_over_their_budget_shed_the_oldest_requests_and_the_total_stays_bounded() {
    let mut p = Pcap::new(PORT);
    // 8 connections, each sending 200 unanswered 36-byte requests (100 bytes of state each).
    for i in 0..200u64 {
        for c in 0..8u16 {
            let line = format!("request-{c}-{i:04}-xxxxxxxxxxxxxxxxxx\n");
            seg(
                &mut p,
                i * 10 + u64::from(c),
                41000 + c,
                false,
                PSH | ACK,
                line.as_bytes(),
            );
        }
    }
    let cfg = EngineConfig {
        session_budget: SessionBudget {
            per_connection: 10_000,
            global: 40_000,
        },
        request_timeout: None,
        ..EngineConfig::default()
    };
    let (txs, text, summary) = run(&p.out, &cfg, 1);
    assert_eq!(txs.len(), 1600, "every request is reported exactly once");
    let shed: Vec<&serde_json::Value> = txs.iter().filter(|t| note_kinds(t) == ["shed"]).collect();
    assert!(!shed.is_empty());
    assert!(
        shed.iter().any(|t| t["notes"][0]["budget"] == "global"),
        "{text}"
    );
    assert!(shed.iter().all(|t| t["notes"][0]["budget"] != "?"));
    assert_eq!(summary.dissect.items_shed, shed.len() as u64);
    assert!(summary.dissect.peak_session_bytes <= 40_000);
    assert!(summary.dissect.peak_session_bytes > 30_000);
    assert!(summary.dissect.budget_hits_global > 0);
    assert_eq!(summary.dissect.sessions_dropped_over_budget, 0);
    // Per connection only: each connection holds at most 10 000 bytes.
    let cfg = EngineConfig {
        session_budget: SessionBudget {
            per_connection: 10_000,
            global: 1 << 30,
        },
        request_timeout: None,
        ..EngineConfig::default()
    };
    let (txs, _, summary) = run(&p.out, &cfg, 1);
    assert_eq!(txs.len(), 1600);
    assert!(txs
        .iter()
        .filter(|t| note_kinds(t) == ["shed"])
        .all(|t| t["notes"][0]["budget"] == "connection"));
    assert!(summary.dissect.peak_session_bytes <= 80_000);
    assert!(summary.dissect.budget_hits_connection > 0);
    assert_eq!(summary.dissect.budget_hits_global, 0);
}
