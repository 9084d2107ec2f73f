//! wiresift vs tshark 4.0 on the v3/v4 captures: every CQL frame tshark decodes (client port,
//! opcode, stream, result kind, error code, query text) must be one wiresift reports, and the
//! other way round.
//!
//! One tshark 4.0 defect shows up: on a RESULT with the warning flag (0x08) or the tracing flag
//! (0x02) it does not skip the warnings ([string list]) or the tracing id (16 bytes) before the
//! body, so it reads the result kind from those bytes (e.g. kind 65580 for a rows result with one
//! warning, -98558818 for a traced one). For such frames the kind is not compared, and wiresift
//! must have reported warnings or a tracing id on exactly those frames. The reference is committed (`testdata/cql/tshark.golden.tsv`, written by
//! `testdata/gen/cql/tshark_golden.py` with TShark 4.0), so the test needs no tshark.
//!
//! tshark 4.0 has no v5 support: on `v5.pcap` and `v5-lz4.pcap` it decodes no CQL frame at all
//! (not even the v5 OPTIONS/STARTUP before segment framing starts; the golden script prints
//! this), which is why v5 is checked against the drivers instead (`tests/cql_captures.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use wiresift::core::{Message, ParseAnomaly, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

/// One CQL frame: client port, opcode, stream, result kind, error code, query text.
type Pdu = (u16, u8, i64, String, String, String);

#[derive(Default)]
struct Frames {
    pdus: Vec<Pdu>,
    events: Vec<u64>,
    ports: BTreeMap<u64, u16>,
    /// Connections speaking v5 (tshark 4.0 decodes none of their frames).
    v5: std::collections::BTreeSet<u16>,
}

/// Result kind placeholder for a RESULT that carries warnings or a tracing id (module docs).
const WARNED: &str = "prefixed";

fn opcode(name: &str) -> u8 {
    match name {
        "ERROR" => 0,
        "STARTUP" => 1,
        "READY" => 2,
        "AUTHENTICATE" => 3,
        "OPTIONS" => 5,
        "SUPPORTED" => 6,
        "QUERY" => 7,
        "RESULT" => 8,
        "PREPARE" => 9,
        "EXECUTE" => 10,
        "REGISTER" => 11,
        "EVENT" => 12,
        "BATCH" => 13,
        "AUTH_CHALLENGE" => 14,
        "AUTH_RESPONSE" => 15,
        "AUTH_SUCCESS" => 16,
        other => panic!("opcode {other}"),
    }
}

impl Output for Frames {
    fn transaction(&mut self, t: &Transaction) {
        if t.protocol != "cql" {
            return;
        }
        let port = t.client.port();
        self.ports.insert(t.connection.0, port);
        let q = t.request_value();
        let r = t.response_value();
        if q["version"] == 5 {
            self.v5.insert(port);
        }
        if !q.is_null() {
            let op = opcode(&t.command);
            let text = if matches!(op, 7 | 9) {
                t.query.clone()
            } else {
                String::new()
            };
            self.pdus.push((
                port,
                op,
                q["stream"].as_i64().unwrap(),
                "".into(),
                "".into(),
                text,
            ));
        }
        if !r.is_null() {
            let stream = r["stream"].as_i64().unwrap();
            let (op, kind, err) = if let Some(code) = r["error_code"].as_u64() {
                (0, String::new(), code.to_string())
            } else if r["warnings"].is_array() || r["tracing_id"].is_string() {
                (8, WARNED.to_string(), String::new())
            } else if let Some(k) = r["kind"].as_str() {
                let n = ["void", "rows", "set_keyspace", "prepared", "schema_change"]
                    .iter()
                    .position(|x| *x == k)
                    .unwrap()
                    + 1;
                (8, n.to_string(), String::new())
            } else {
                (
                    opcode(r["opcode"].as_str().unwrap()),
                    String::new(),
                    String::new(),
                )
            };
            self.pdus.push((port, op, stream, kind, err, String::new()));
        }
    }
    fn message(&mut self, m: &Message) {
        if m.protocol == "cql" {
            self.events.push(m.connection.0);
        }
    }
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
}

fn ours(name: &str) -> Option<Vec<Pdu>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/cql")
        .join(name);
    if !path.exists() {
        return None;
    }
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Frames::default(),
    );
    engine
        .run(&mut CaptureReader::open(&path).unwrap(), |_| {})
        .unwrap();
    let f = engine.into_output();
    let mut pdus = f.pdus;
    for c in f.events {
        pdus.push((f.ports[&c], 12, -1, "".into(), "".into(), "".into()));
    }
    pdus.retain(|p| !f.v5.contains(&p.0));
    Some(pdus)
}

#[test]
fn frames_agree_with_tshark() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cql/tshark.golden.tsv");
    let Ok(text) = std::fs::read_to_string(&golden) else {
        eprintln!("skipping: {} not present", golden.display());
        return;
    };
    let mut want: BTreeMap<String, Vec<Pdu>> = BTreeMap::new();
    let mut warned = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(8, '\t').collect();
        let op: u8 = f[2].parse().unwrap();
        let flags: u8 = f[6].parse().unwrap();
        let kind = if op == 8 && flags & 0x0A != 0 {
            warned += 1;
            WARNED.to_string()
        } else {
            f[4].to_string()
        };
        want.entry(f[0].to_string()).or_default().push((
            f[1].parse().unwrap(),
            op,
            f[3].parse().unwrap(),
            kind,
            f[5].to_string(),
            f.get(7).unwrap_or(&"").to_string(),
        ));
    }
    let mut total = (0, 0);
    for (name, mut theirs) in want {
        let Some(mut mine) = ours(&name) else {
            eprintln!("skipping {name}: not present");
            continue;
        };
        theirs.sort();
        mine.sort();
        let only_tshark: Vec<_> = theirs.iter().filter(|p| !mine.contains(p)).collect();
        let only_ours: Vec<_> = mine.iter().filter(|p| !theirs.contains(p)).collect();
        eprintln!(
            "{name}: tshark {} frames, wiresift {}, only tshark {}, only wiresift {}",
            theirs.len(),
            mine.len(),
            only_tshark.len(),
            only_ours.len()
        );
        assert!(
            only_tshark.is_empty() && only_ours.is_empty() && theirs.len() == mine.len(),
            "{name}: only tshark {:?}\nonly wiresift {:?}",
            &only_tshark[..only_tshark.len().min(5)],
            &only_ours[..only_ours.len().min(5)]
        );
        total.0 += theirs.len();
        total.1 += mine.len();
    }
    eprintln!(
        "total: tshark {} frames, wiresift {} (all equal); {warned} RESULTs with warnings or tracing whose kind tshark misreads",
        total.0, total.1
    );
    assert!(total.0 > 4000 && warned > 0);
}
