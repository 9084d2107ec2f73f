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
mod tcp_pcap;

use sql_support::{Checked, Totals};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tcp_pcap::Pcap;
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
    let mut reader =
        CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes.to_vec()))).expect("capture");
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
    v.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"));
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

/// xorshift64*: deterministic pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Hostile byte streams on the protocol's port: random bytes both ways, valid messages cut by
/// holes and interleaved with garbage, headers declaring huge lengths, and a capture's payload
/// with bytes flipped; the accounting must balance after every callback (with the default
/// budget and with a tiny one).
fn hostile(proto: &'static str, port: u16, good_c: &[u8], good_s: &[u8]) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(port));
    let mut p = Pcap::new(port);
    // 1. Garbage both ways.
    p.open(41000);
    for _ in 0..40 {
        let n = 1 + (rng.next() % 3000) as usize;
        let g = rng.bytes(n);
        p.send(41000, rng.next() % 2 == 0, &g);
    }
    p.close(41000);
    // 2. Valid messages, holes and garbage interleaved.
    p.open(41001);
    for i in 0..200 {
        p.send(41001, false, good_c);
        match i % 7 {
            0 => {
                let n = 1 + (rng.next() % 500) as u32;
                p.hole(41001, true, n)
            }
            1 => {
                let n = 1 + (rng.next() % 64) as usize;
                let g = rng.bytes(n);
                p.send(41001, false, &g)
            }
            2 => {
                let n = 1 + (rng.next() % 100) as u32;
                p.hole(41001, false, n)
            }
            _ => {}
        }
        p.send(41001, true, good_s);
    }
    p.close(41001);
    // 3. Headers declaring huge lengths, then a little of the body.
    p.open(41002);
    for _ in 0..50 {
        let mut h = vec![0xff, 0xff, 0xff, 0x00, 0x03, 0x7f, 0xff, 0xff, 0xff];
        h.extend(rng.bytes(100));
        p.send(41002, false, &h);
        let mut r = good_s.to_vec();
        r.extend(rng.bytes(20));
        p.send(41002, true, &r);
    }
    p.close(41002);
    // 4. Good traffic with one byte in 50 flipped.
    p.open(41003);
    for _ in 0..200 {
        for (from_server, good) in [(false, good_c), (true, good_s)] {
            let mut m = good.to_vec();
            for b in m.iter_mut() {
                if rng.next() % 50 == 0 {
                    *b ^= rng.next() as u8;
                }
            }
            p.send(41003, from_server, &m);
        }
    }
    p.close(41003);
    for (cap, timeout) in [
        (1 << 20, Duration::from_secs(30)),
        (2048, Duration::from_millis(1)),
    ] {
        let r = run(proto, &p.out, cap, timeout);
        eprintln!(
            "{proto} hostile (cap {cap}): {} txs, {} calls, {} shed, {} timed out, peak state {} B",
            r.c.txs,
            r.totals.calls.load(Relaxed),
            r.totals.shed.load(Relaxed),
            r.totals.timed_out.load(Relaxed),
            r.totals.peak_state.load(Relaxed)
        );
        assert!(r.totals.calls.load(Relaxed) > 100);
    }
}

#[test]
fn mysql_hostile_bytes_balance() {
    let mut q = vec![18, 0, 0, 0, 3];
    q.extend_from_slice(b"SELECT 1 FROM dual");
    q[0] = (q.len() - 4) as u8;
    hostile("mysql", 3306, &q, &[7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
}

#[test]
fn cql_hostile_bytes_balance() {
    let text = b"SELECT * FROM ks.t";
    let mut body = (text.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(text);
    body.extend_from_slice(&[0, 1, 0]);
    let mut q = vec![4, 0, 0, 1, 7];
    q.extend_from_slice(&(body.len() as u32).to_be_bytes());
    q.extend_from_slice(&body);
    let r = [0x84, 0, 0, 1, 8, 0, 0, 0, 4, 0, 0, 0, 1];
    hostile("cql", 9042, &q, &r);
}

#[test]
fn tns_hostile_bytes_balance() {
    // A DATA packet each way (16-bit lengths): a short TTC function call, a short reply.
    let mut c = vec![0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 3, 0x5e, 2];
    c.extend_from_slice(&[0; 40]);
    let n = c.len() as u16;
    c[0..2].copy_from_slice(&n.to_be_bytes());
    let mut s = vec![0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
    s.extend_from_slice(&[0; 30]);
    let n = s.len() as u16;
    s[0..2].copy_from_slice(&n.to_be_bytes());
    hostile("tns", 1521, &c, &s);
}

/// Many connections over the global budget: each session asked to shed down to what the
/// others leave (possibly 0) must get there — pending requests reported early, markers kept
/// as a count (MySQL) — so that the engine never has to stop dissecting a connection, and every
/// request is still reported exactly once.
#[test]
fn many_connections_share_the_global_budget_without_dropping_one() {
    // MySQL: 24 connections × 300 pipelined 2 KiB queries, interleaved, then the replies.
    let conns = 24u16;
    let mut p = Pcap::new(3306);
    for c in 0..conns {
        p.open(42000 + c);
        p.send(42000 + c, true, &[1, 0, 0, 0, 0]);
    }
    for i in 0..300 {
        for c in 0..conns {
            let sql = format!("SELECT {i}, '{}'", "q".repeat(2000));
            let len = sql.len() + 1;
            let mut m = vec![len as u8, (len >> 8) as u8, 0, 0, 3];
            m.extend_from_slice(sql.as_bytes());
            p.send(42000 + c, false, &m);
        }
    }
    for _ in 0..300 {
        for c in 0..conns {
            p.send(42000 + c, true, &[7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
        }
    }
    for c in 0..conns {
        p.close(42000 + c);
    }
    let mysql_pcap = p.out;
    // CQL: 24 connections × 600 streams × 2 KiB QUERY, interleaved, then the replies.
    let mut p = Pcap::new(9042);
    for c in 0..conns {
        p.open(43000 + c);
    }
    for i in 0..600i16 {
        for c in 0..conns {
            let q = format!("SELECT * FROM t WHERE v = '{}'", "c".repeat(2000));
            let mut body = (q.len() as u32).to_be_bytes().to_vec();
            body.extend_from_slice(q.as_bytes());
            body.extend_from_slice(&[0, 1, 0]);
            let mut f = vec![4, 0];
            f.extend_from_slice(&i.to_be_bytes());
            f.push(7);
            f.extend_from_slice(&(body.len() as u32).to_be_bytes());
            f.extend_from_slice(&body);
            p.send(43000 + c, false, &f);
        }
    }
    for i in 0..600i16 {
        for c in 0..conns {
            let mut f = vec![0x84, 0];
            f.extend_from_slice(&i.to_be_bytes());
            f.extend_from_slice(&[8, 0, 0, 0, 4, 0, 0, 0, 1]);
            p.send(43000 + c, true, &f);
        }
    }
    for c in 0..conns {
        p.close(43000 + c);
    }
    let cql_pcap = p.out;
    for (proto, pcap, requests) in [
        ("mysql", &mysql_pcap, 300 * conns as u64),
        ("cql", &cql_pcap, 600 * conns as u64),
    ] {
        let totals = Arc::new(Totals::default());
        let mut reg = Registry::new();
        reg.register(Arc::new(Checked {
            inner: plugin(proto),
            cap: None,
            timeout: None,
            totals: totals.clone(),
        }));
        let mut cfg = EngineConfig::default();
        cfg.session_budget.global = 4 << 20;
        let mut engine = Engine::new(
            cfg,
            reg,
            Collect {
                proto,
                ..Collect::default()
            },
        );
        let mut reader =
            CaptureReader::from_read(Box::new(std::io::Cursor::new(pcap.clone()))).unwrap();
        engine.run(&mut reader, |_| {}).unwrap();
        let d = engine.summary().dissect;
        let c = engine.into_output();
        eprintln!(
            "{proto}: {} conns, {} txs ({} no_request, {} shed notes), peak_session_bytes {} KiB, hits {}/{}, items_shed {}, dropped {}",
            conns,
            c.txs,
            c.no_request,
            c.shed_notes,
            d.peak_session_bytes / 1024,
            d.budget_hits_connection,
            d.budget_hits_global,
            d.items_shed,
            d.sessions_dropped_over_budget
        );
        assert!(d.budget_hits_global > 0);
        assert_eq!(d.sessions_dropped_over_budget, 0, "{proto}");
        assert!(d.peak_session_bytes <= 4 << 20, "{proto}");
        assert_eq!(
            c.txs - c.no_request,
            requests,
            "{proto}: every request once"
        );
        assert_eq!(c.no_request, 0, "{proto}: late replies absorbed by markers");
    }
}

/// `shed(0)` is the engine's last resort (a session that cannot get within what the global
/// budget leaves is no longer dissected): on every capture, asked after every callback, each
/// session gets to exactly 0 bytes of state, balances its accounts, and no request is reported
/// twice.
#[test]
fn shed_to_zero_reaches_zero_on_every_capture() {
    for proto in ["mysql", "cql", "tns"] {
        for (name, bytes) in captures(proto) {
            let zero = run(proto, &bytes, 0, Duration::from_secs(30));
            let normal = run(proto, &bytes, 1 << 20, Duration::from_secs(30));
            eprintln!(
                "{proto}/{name}: shed(0) after every callback: {} txs ({} no_request), {} shed, {} times above 0 after shed; normal {} txs",
                zero.c.txs,
                zero.c.no_request,
                zero.totals.shed.load(Relaxed),
                zero.totals.over_after_shed.load(Relaxed),
                normal.c.txs
            );
            assert_eq!(
                zero.totals.over_after_shed.load(Relaxed),
                0,
                "{proto}/{name}: state left after shed(0)"
            );
            assert!(
                zero.c.txs - zero.c.no_request <= normal.c.txs,
                "{proto}/{name}: a request reported twice?"
            );
        }
    }
}
