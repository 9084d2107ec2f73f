//! Session budgets, request timer and byte accounting of the MySQL, CQL and TNS sessions over
//! every committed capture in `testdata/{mysql,cql,tns}` and over hostile inputs.
//!
//! Each plugin is wrapped in [`Checked`], which runs inside the real engine and, after every
//! callback, asserts the accounting invariant (`delivered == parsed + skipped + undissected +
//! held`, delivered equal to what it was given, held 0 after close) and applies the budget the
//! way the engine does (`state_bytes() > cap` → `shed(cap)`) and the request timer
//! (`timer_deadline` reached by capture time → `on_timer`). It runs each capture twice: with
//! the default 1 MiB cap and with a tiny cap (2 KiB) and a 1 ms timeout, so that shedding and
//! timeouts happen on real traffic, and checks that no transaction is lost or duplicated: every
//! request is still reported exactly once.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use wiresift::core::{
    ByteAccounting, CloseReason, ConnectionInfo, Direction, Duration, EventSink, Flow, GapInfo,
    Note, ProbeResult, ProtocolSession, Registry, Status, StreamChunk, TcpProtocolPlugin,
    Timestamp, Transaction,
};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

/// Totals over a run (all sessions).
#[derive(Default)]
struct Totals {
    calls: AtomicU64,
    shed: AtomicU64,
    timed_out: AtomicU64,
    peak_state: AtomicU64,
    over_after_shed: AtomicU64,
}

struct Checked {
    inner: Arc<dyn TcpProtocolPlugin>,
    cap: usize,
    timeout: Duration,
    totals: Arc<Totals>,
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
    cap: usize,
    timeout: Duration,
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
        if sb > self.cap {
            let n = self.s.shed(self.cap, ts, out);
            self.totals.shed.fetch_add(n, Relaxed);
            let a = self.s.accounting().unwrap();
            assert!(a.balanced(), "after shed: unbalanced {a:?}");
            if self.s.state_bytes() > self.cap {
                self.totals.over_after_shed.fetch_add(1, Relaxed);
            }
        }
    }
    fn timer(&mut self, now: Timestamp, out: &mut dyn EventSink) {
        if let Some(d) = self.s.timer_deadline(self.timeout) {
            if d <= now {
                let n = self.s.on_timer(now, self.timeout, out);
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
}

#[derive(Default)]
struct Collect {
    proto: &'static str,
    txs: u64,
    no_response: u64,
    no_request: u64,
    shed_notes: u64,
    timeout_notes: u64,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        if tx.protocol != self.proto {
            return;
        }
        self.txs += 1;
        match tx.status {
            Status::NoResponse => self.no_response += 1,
            Status::NoRequest => self.no_request += 1,
            _ => {}
        }
        for n in &tx.notes {
            match n {
                Note::Shed { .. } => self.shed_notes += 1,
                Note::RequestTimeout { .. } => self.timeout_notes += 1,
                _ => {}
            }
        }
        assert!(tx.notes.len() <= wiresift::core::MAX_NOTES + 1);
    }
}

fn plugin(proto: &str) -> Arc<dyn TcpProtocolPlugin> {
    match proto {
        "mysql" => Arc::new(wiresift_mysql::MysqlPlugin::default()),
        "cql" => Arc::new(wiresift_cql::CqlPlugin::default()),
        "tns" => Arc::new(wiresift_tns::TnsPlugin::default()),
        _ => unreachable!(),
    }
}

struct Run {
    c: Collect,
    totals: Arc<Totals>,
}

fn run(proto: &'static str, bytes: &[u8], cap: usize, timeout: Duration) -> Run {
    let totals = Arc::new(Totals::default());
    let mut reg = Registry::new();
    reg.register(Arc::new(Checked {
        inner: plugin(proto),
        cap,
        timeout,
        totals: totals.clone(),
    }));
    let mut engine = Engine::new(
        EngineConfig::default(),
        reg,
        Collect {
            proto,
            ..Collect::default()
        },
    );
    let mut reader = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes.to_vec())))
        .expect("capture");
    engine.run(&mut reader, |_| {}).expect("run");
    Run {
        c: engine.into_output(),
        totals,
    }
}

fn captures(proto: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(proto);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p: &std::path::PathBuf| {
        p.extension().is_some_and(|e| e == "pcap" || e == "pcapng")
    });
    v.sort();
    v.into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn all_captures(proto: &'static str) {
    let caps = captures(proto);
    assert!(!caps.is_empty(), "no captures for {proto}");
    for (name, bytes) in caps {
        let normal = run(proto, &bytes, 1 << 20, Duration::from_secs(30));
        assert_eq!(normal.totals.shed.load(Relaxed), 0, "{name}: shed at 1 MiB");
        let tight = run(proto, &bytes, 2048, Duration::from_millis(1));
        eprintln!(
            "{proto}/{name}: {} txs ({} no_response, {} no_request), {} calls, peak state {} B; tight: {} txs ({} no_request), {} shed ({} notes), {} timed out ({} notes), peak {} B, {} over cap after shed",
            normal.c.txs,
            normal.c.no_response,
            normal.c.no_request,
            normal.totals.calls.load(Relaxed),
            normal.totals.peak_state.load(Relaxed),
            tight.c.txs,
            tight.c.no_request,
            tight.totals.shed.load(Relaxed),
            tight.c.shed_notes,
            tight.totals.timed_out.load(Relaxed),
            tight.c.timeout_notes,
            tight.totals.peak_state.load(Relaxed),
            tight.totals.over_after_shed.load(Relaxed),
        );
        // Shedding and timing out report requests early; they never lose or duplicate one.
        // (Late replies are counted, not paired. With a cap this small the markers of reported
        // requests may be shed too, and their late replies then come as `no_request`.)
        assert_eq!(
            tight.c.txs - tight.c.no_request,
            normal.c.txs - normal.c.no_request,
            "{name}: requests reported, tight vs normal"
        );
        assert_eq!(
            tight.c.timeout_notes,
            tight.totals.timed_out.load(Relaxed),
            "{name}: every timed-out request is reported with a note"
        );
    }
}

#[test]
fn mysql_captures_balance_and_shed() {
    all_captures("mysql");
}

#[test]
fn cql_captures_balance_and_shed() {
    all_captures("cql");
}

#[test]
fn tns_captures_balance_and_shed() {
    all_captures("tns");
}
