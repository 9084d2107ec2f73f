//! Hostile session state for MySQL, CQL and TNS, through the whole engine (capture → reassembly
//! → session, default `EngineConfig`: 1 MiB per connection, 32 MiB global), with a counting
//! global allocator measuring the peak live heap of the run:
//!
//! - MySQL: one connection, 20 000 pipelined COM_QUERY of ~2 KiB SQL, never answered;
//! - CQL: one connection, 8 192 streams × a 4 KiB QUERY, then 20 000 PREPAREs, never answered
//!   (the prepared-statement cache shared by all connections has its own bounds);
//! - TNS: 2 000 OALL8 calls with 8 KiB SQL, each answered with a new cursor (the cursor map),
//!   then a call never answered.
//!
//! Each is run with the default budgets and with the per-connection budget off (1 TiB), to show
//! what the budget saves. The sessions are wrapped (see `sql_support`) so that the byte
//! accounting is asserted after every callback, including the engine's `shed` calls. One
//! `#[test]` only: no other thread allocates while it measures.

mod counting_alloc;
mod sql_support;
mod tcp_pcap;

use counting_alloc::{peak_since, reset_peak};
use sql_support::{Checked, Totals};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tcp_pcap::Pcap;
use wiresift::core::{Note, Registry, Status, TcpProtocolPlugin, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output, SessionBudget};

#[derive(Default)]
struct Count {
    proto: &'static str,
    requests: u64,
    no_response: u64,
    shed_notes: u64,
    max_notes: usize,
}

impl Output for Count {
    fn transaction(&mut self, tx: &Transaction) {
        if tx.protocol != self.proto {
            return;
        }
        if tx.status != Status::NoRequest {
            self.requests += 1;
        }
        if tx.status == Status::NoResponse {
            self.no_response += 1;
        }
        self.shed_notes += tx
            .notes
            .iter()
            .filter(|n| matches!(n, Note::Shed { .. }))
            .count() as u64;
        self.max_notes = self.max_notes.max(tx.notes.len());
    }
}

struct Measured {
    peak: usize,
    count: Count,
    summary: wiresift::RunSummary,
    totals: Arc<Totals>,
}

fn measure(
    proto: &'static str,
    plugin: Arc<dyn TcpProtocolPlugin>,
    pcap: &[u8],
    budget: bool,
) -> Measured {
    let totals = Arc::new(Totals::default());
    let mut reg = Registry::new();
    reg.register(Arc::new(Checked {
        inner: plugin,
        cap: None,
        timeout: None,
        totals: totals.clone(),
    }));
    let mut cfg = EngineConfig::default();
    if !budget {
        cfg.session_budget = SessionBudget {
            per_connection: 1 << 40,
            global: 1 << 40,
        };
    }
    let mut reader =
        CaptureReader::from_read(Box::new(std::io::Cursor::new(pcap.to_vec()))).unwrap();
    let mut engine = Engine::new(
        cfg,
        reg,
        Count {
            proto,
            ..Count::default()
        },
    );
    let base = reset_peak();
    engine.run(&mut reader, |_| {}).unwrap();
    let peak = peak_since(base);
    let summary = engine.summary();
    Measured {
        peak,
        count: engine.into_output(),
        summary,
        totals,
    }
}

fn report(name: &str, m: &Measured) {
    let d = &m.summary.dissect;
    eprintln!(
        "{name}: peak heap {} KiB, peak session state {} KiB (session's own view), {} requests reported ({} no_response, {} shed notes), engine: peak_session_bytes {} KiB, items_shed {}, budget hits {}/{}, sessions dropped {}",
        m.peak / 1024,
        m.totals.peak_state.load(Relaxed) / 1024,
        m.count.requests,
        m.count.no_response,
        m.count.shed_notes,
        d.peak_session_bytes / 1024,
        d.items_shed,
        d.budget_hits_connection,
        d.budget_hits_global,
        d.sessions_dropped_over_budget,
    );
}

fn mysql_pcap(queries: usize) -> Vec<u8> {
    let mut p = Pcap::new(3306);
    p.open(40000);
    // Not a greeting: the session goes straight to the command phase, knowing the server is
    // captured (so the queries are expected to be answered).
    p.send(40000, true, &[1, 0, 0, 0, 0]);
    let mut buf = Vec::new();
    for i in 0..queries {
        let sql = format!("SELECT {i}, '{}' FROM t WHERE id = {i}", "x".repeat(2000));
        let len = sql.len() + 1;
        buf.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, 0, 3]);
        buf.extend_from_slice(sql.as_bytes());
        if buf.len() > 64 * 1024 {
            p.send(40000, false, &buf);
            buf.clear();
        }
    }
    p.send(40000, false, &buf);
    p.close(40000);
    p.out
}

fn cql_frame(stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![4, 0];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(opcode);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn cql_pcap(streams: usize, prepares: usize) -> Vec<u8> {
    let mut p = Pcap::new(9042);
    p.open(40001);
    let mut buf = Vec::new();
    let flush = |p: &mut Pcap, buf: &mut Vec<u8>, force: bool| {
        if force || buf.len() > 64 * 1024 {
            p.send(40001, false, buf);
            buf.clear();
        }
    };
    for i in 0..streams {
        let q = format!(
            "SELECT * FROM ks.t WHERE k = {i} AND v = '{}'",
            "y".repeat(4000)
        );
        let mut body = (q.len() as u32).to_be_bytes().to_vec();
        body.extend_from_slice(q.as_bytes());
        body.extend_from_slice(&[0, 1, 0]);
        buf.extend_from_slice(&cql_frame(i as i16, 0x07, &body));
        flush(&mut p, &mut buf, false);
    }
    for i in 0..prepares {
        let q = format!("INSERT INTO ks.t{i} (k, v) VALUES (?, ?)");
        let mut body = (q.len() as u32).to_be_bytes().to_vec();
        body.extend_from_slice(q.as_bytes());
        buf.extend_from_slice(&cql_frame((i % 32768) as i16, 0x09, &body));
        flush(&mut p, &mut buf, false);
    }
    flush(&mut p, &mut buf, true);
    p.close(40001);
    p.out
}

fn tns_pkt(t: u8, body: &[u8]) -> Vec<u8> {
    let n = 8 + body.len();
    let mut v = (n as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, t, 0, 0, 0]);
    v.extend_from_slice(body);
    v
}

/// The layouts of `tests/tns_segmentation.rs` (version 313, 16-bit lengths).
fn tns_pcap(calls: usize) -> Vec<u8> {
    let mut p = Pcap::new(1521);
    p.open(40002);
    let cd = b"(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=svc)(CID=(PROGRAM=p)(HOST=h)(USER=u)))(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521)))";
    let mut b = vec![0u8; 50];
    b[0..2].copy_from_slice(&313u16.to_be_bytes());
    b[2..4].copy_from_slice(&300u16.to_be_bytes());
    b[6..8].copy_from_slice(&8192u16.to_be_bytes());
    b[16..18].copy_from_slice(&(cd.len() as u16).to_be_bytes());
    b[18..20].copy_from_slice(&58u16.to_be_bytes());
    b.extend_from_slice(cd);
    p.send(40002, false, &tns_pkt(1, &b));
    let mut a = vec![0u8; 32];
    a[0..2].copy_from_slice(&313u16.to_be_bytes());
    a[4..6].copy_from_slice(&8192u16.to_be_bytes());
    a[24..28].copy_from_slice(&8192u32.to_be_bytes());
    p.send(40002, true, &tns_pkt(2, &a));
    let oall8 = |seq: u8, sql: &str| {
        let mut b = vec![0, 0, 3, 0x5e, seq];
        b.extend_from_slice(&0x8061u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.push(1);
        b.extend_from_slice(&(sql.len() as u32 * 3).to_le_bytes());
        b.extend_from_slice(&[1, 13, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0; 40]);
        b.push(0xFE);
        for c in sql.as_bytes().chunks(64) {
            b.push(c.len() as u8);
            b.extend_from_slice(c);
        }
        b.push(0);
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&[0; 30]);
        b
    };
    let reply = |cursor: u16| {
        let mut b = vec![0, 0, 6, 1, 0, 0, 0, 0, 0, 0];
        b.push(4);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&7u16.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&cursor.to_le_bytes());
        b.extend_from_slice(&[0; 50]);
        b
    };
    for i in 0..calls {
        let sql = format!("select {i}, '{}' from dual", "z".repeat(8000));
        p.send(40002, false, &tns_pkt(6, &oall8((i % 250 + 2) as u8, &sql)));
        p.send(40002, true, &tns_pkt(6, &reply((i + 1) as u16)));
    }
    let sql = format!("select '{}' from dual", "w".repeat(8000));
    p.send(40002, false, &tns_pkt(6, &oall8(1, &sql)));
    p.close(40002);
    p.out
}

#[test]
fn hostile_session_state_is_bounded_by_the_budget() {
    // MySQL: 20 000 pipelined queries, no reply.
    let pcap = mysql_pcap(20_000);
    let on = measure(
        "mysql",
        Arc::new(wiresift_mysql::MysqlPlugin::default()),
        &pcap,
        true,
    );
    let off = measure(
        "mysql",
        Arc::new(wiresift_mysql::MysqlPlugin::default()),
        &pcap,
        false,
    );
    report("mysql 20k pipelined COM_QUERY, budget on", &on);
    report("mysql 20k pipelined COM_QUERY, budget off", &off);
    assert_eq!(on.count.requests, 20_000, "every query reported once");
    assert_eq!(off.count.requests, 20_000);
    assert!(on.count.shed_notes > 0);
    assert_eq!(on.summary.dissect.sessions_dropped_over_budget, 0);
    assert!(on.summary.dissect.peak_session_bytes <= 1 << 20);
    assert!(on.peak < 3 << 20, "peak heap {} B", on.peak);
    assert!(on.count.max_notes <= wiresift::core::MAX_NOTES + 1);

    // CQL: 8 192 streams × 4 KiB QUERY, then 20 000 PREPAREs, no reply.
    let pcap = cql_pcap(8192, 20_000);
    let on = measure(
        "cql",
        Arc::new(wiresift_cql::CqlPlugin::default()),
        &pcap,
        true,
    );
    let off = measure(
        "cql",
        Arc::new(wiresift_cql::CqlPlugin::default()),
        &pcap,
        false,
    );
    report("cql 8k streams x 4 KiB QUERY + 20k PREPARE, budget on", &on);
    report(
        "cql 8k streams x 4 KiB QUERY + 20k PREPARE, budget off",
        &off,
    );
    assert_eq!(on.count.requests, 28_192, "every request reported once");
    assert_eq!(off.count.requests, 28_192);
    assert!(on.count.shed_notes > 0);
    assert_eq!(on.summary.dissect.sessions_dropped_over_budget, 0);
    assert!(on.summary.dissect.peak_session_bytes <= 1 << 20);
    // The prepared-statement cache (shared by all connections, 4 MiB of text at most) comes
    // on top of the session budget.
    assert!(on.peak < 10 << 20, "peak heap {} B", on.peak);

    // TNS: 2 000 calls with 8 KiB SQL, each opening a cursor, then one call never answered.
    let pcap = tns_pcap(2000);
    let on = measure(
        "tns",
        Arc::new(wiresift_tns::TnsPlugin::default()),
        &pcap,
        true,
    );
    let off = measure(
        "tns",
        Arc::new(wiresift_tns::TnsPlugin::default()),
        &pcap,
        false,
    );
    report("tns 2k calls x 8 KiB SQL, a cursor each, budget on", &on);
    report("tns 2k calls x 8 KiB SQL, a cursor each, budget off", &off);
    assert_eq!(on.count.requests, off.count.requests);
    assert!(on.count.requests >= 2001, "{} requests", on.count.requests);
    assert_eq!(on.summary.dissect.sessions_dropped_over_budget, 0);
    assert!(on.summary.dissect.peak_session_bytes <= 1 << 20);
    assert!(on.peak < 3 << 20, "peak heap {} B", on.peak);
}
