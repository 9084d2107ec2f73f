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

mod sql_support;

use sql_support::{Checked, Totals};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use wiresift::core::{Duration, Note, Registry, Status, TcpProtocolPlugin, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

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
        cap: Some(cap),
        timeout: Some(timeout),
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
