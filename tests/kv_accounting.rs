//! The byte accounting of the RESP and SMTP sessions balances after every callback, on every
//! committed RESP and SMTP capture and on the hostile cases (CI scale), fed through the engine
//! (reassembly, gaps, budgets and timers included): each session is wrapped in one that checks
//! `delivered == parsed + skipped + undissected + held` after each call, and `held == 0` after
//! close. The run summary's `skipped_bytes` and `late_replies` are what the sessions' own
//! counters say.

#[path = "hostile/mod.rs"]
mod hostile;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use wiresift::core::{
    ByteAccounting, CloseReason, ConnectionInfo, Direction, Duration, EventSink, Flow, GapInfo,
    Handover, ProbeResult, ProtocolSession, Registry, StreamChunk, TcpProtocolPlugin, Timestamp,
};
use wiresift::net::CaptureReader;
use wiresift::{Discard, Engine, EngineConfig};

static CHECKS: AtomicU64 = AtomicU64::new(0);
static CLOSED: AtomicU64 = AtomicU64::new(0);

/// What the sessions of one run said of themselves when they closed (or, for `skipped`, when
/// they detached: the engine reads a detached session's accounts then).
#[derive(Default)]
struct Totals {
    skipped: AtomicU64,
    late: AtomicU64,
}

struct Checked<P>(P, Arc<Totals>);

struct CheckedSession {
    inner: Box<dyn ProtocolSession>,
    what: String,
    totals: Arc<Totals>,
    /// `skipped` when the session detached.
    detached: Option<u64>,
}

impl CheckedSession {
    fn check(&self, after: &str) -> ByteAccounting {
        let a = self
            .inner
            .accounting()
            .expect("RESP and SMTP keep accounts");
        assert!(a.balanced(), "{}: after {after}: {a:?}", self.what);
        CHECKS.fetch_add(1, Relaxed);
        a
    }
}

impl<P: TcpProtocolPlugin> TcpProtocolPlugin for Checked<P> {
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
            what: format!("{} {}", self.0.name(), conn.id),
            totals: self.1.clone(),
            detached: None,
        })
    }
}

impl ProtocolSession for CheckedSession {
    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        let f = self.inner.on_data(chunk, out);
        let a = self.check("data");
        if f == Flow::Detach {
            self.detached.get_or_insert(a.skipped);
        }
        f
    }
    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        let f = self.inner.on_gap(gap, out);
        let a = self.check("gap");
        if f == Flow::Detach {
            self.detached.get_or_insert(a.skipped);
        }
        f
    }
    fn on_fin(&mut self, dir: Direction, ts: Timestamp, out: &mut dyn EventSink) {
        self.inner.on_fin(dir, ts, out);
        self.check("fin");
    }
    fn on_rst(&mut self, dir: Direction, ts: Timestamp, out: &mut dyn EventSink) {
        self.inner.on_rst(dir, ts, out);
        self.check("rst");
    }
    fn on_close(&mut self, ts: Timestamp, reason: CloseReason, out: &mut dyn EventSink) {
        self.inner.on_close(ts, reason, out);
        let a = self.check("close");
        assert_eq!(a.held, 0, "{}: bytes held after close: {a:?}", self.what);
        CLOSED.fetch_add(1, Relaxed);
        let skipped = self.detached.unwrap_or(a.skipped);
        self.totals.skipped.fetch_add(skipped, Relaxed);
        self.totals
            .late
            .fetch_add(self.inner.late_replies(), Relaxed);
    }
    fn late_replies(&self) -> u64 {
        self.inner.late_replies()
    }
    fn handover(&mut self) -> Option<Handover> {
        self.inner.handover()
    }
    fn accounting(&self) -> Option<ByteAccounting> {
        self.inner.accounting()
    }
    fn state_bytes(&self) -> usize {
        self.inner.state_bytes()
    }
    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let n = self.inner.shed(limit, ts, out);
        self.check("shed");
        n
    }
    fn timer_deadline(&self, t: Duration) -> Option<Timestamp> {
        self.inner.timer_deadline(t)
    }
    fn on_timer(&mut self, now: Timestamp, t: Duration, out: &mut dyn EventSink) -> u64 {
        let n = self.inner.on_timer(now, t, out);
        self.check("timer");
        n
    }
}

fn registry(totals: &Arc<Totals>) -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Checked(
        wiresift::resp::RespPlugin::default(),
        totals.clone(),
    )));
    r.register(Arc::new(Checked(
        wiresift::smtp::SmtpPlugin::default(),
        totals.clone(),
    )));
    r
}

/// Run through the engine; the summary's session counters must be the sessions' own. Returns
/// the skipped bytes.
fn run(mut reader: CaptureReader) -> u64 {
    let totals = Arc::new(Totals::default());
    let mut e = Engine::new(EngineConfig::default(), registry(&totals), Discard);
    let _ = e.run(&mut reader, |_| {});
    let d = &e.summary().dissect;
    assert_eq!(d.skipped_bytes, totals.skipped.load(Relaxed));
    assert_eq!(d.late_replies, totals.late.load(Relaxed));
    d.skipped_bytes
}

#[test]
fn committed_captures_balance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files = 0;
    for dir in ["resp", "smtp"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        paths.sort();
        for p in paths {
            let Ok(reader) = CaptureReader::open(&p) else {
                continue;
            };
            let before = CHECKS.load(Relaxed);
            run(reader);
            assert!(CHECKS.load(Relaxed) > before, "{}: no session", p.display());
            files += 1;
        }
    }
    // memcached on RESP's port: the RESP session finds the server is not RESP and detaches.
    let p = root.join("memcached/on-6379.pcap");
    if let Ok(reader) = CaptureReader::open(&p) {
        let before = CHECKS.load(Relaxed);
        run(reader);
        assert!(CHECKS.load(Relaxed) > before, "{}: no session", p.display());
        files += 1;
    }
    assert!(files >= 20, "{files} captures");
    eprintln!(
        "{files} captures, {} sessions, {} checks",
        CLOSED.load(Relaxed),
        CHECKS.load(Relaxed)
    );
}

#[test]
fn hostile_cases_balance() {
    for case in hostile::Case::ALL {
        let mut pcap = Vec::new();
        hostile::write_pcap(case, hostile::Scale::Ci, &mut pcap).unwrap();
        let reader = CaptureReader::from_read(Box::new(std::io::Cursor::new(pcap))).unwrap();
        let skipped = run(reader);
        eprintln!("{case:?}: skipped_bytes {skipped}");
        if matches!(
            case,
            hostile::Case::RespFraming | hostile::Case::RespHoleFraming
        ) {
            assert!(skipped > 0, "{case:?}: framing errors skip bytes");
        }
    }
}
