//! TNS through the whole pipeline on the public captures of real Oracle servers
//! (`../shared/pcaps/tns`, skipped with a message when absent):
//!
//! - every SQL statement visible in a capture's bytes appears in some transaction's `query`;
//! - the figures each capture shows (row counts, ORA codes, users, connect data, versions);
//! - no secret (AUTH_SESSKEY / AUTH_PASSWORD values) anywhere in the output;
//! - the TNS layer agrees with tshark's (`testdata/tns/tshark.tsv`, from
//!   `testdata/gen/tns-tshark.sh`): packet types per capture and direction, versions and
//!   connect data;
//! - one-sided copies (made with tshark when installed): the client-only run reports the same
//!   calls with `no_response`, the server-only run the same replies with `no_request`.

mod tns_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tns_support::Collect;
use wiresift::core::{OwnedTransaction, Status};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig};

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/tns");
    p.is_dir().then_some(p)
}

fn run(path: &Path) -> Collect {
    let mut reg = wiresift::default_registry();
    // The 9i dispatcher port of the redirect capture.
    wiresift::parse_port_spec(&mut reg, "tns=1047,1048").unwrap();
    let mut engine = Engine::new(EngineConfig::default(), reg, Collect::default());
    let mut reader = CaptureReader::open(path).unwrap();
    let _ = engine.run(&mut reader, |_| {});
    engine.into_output()
}

fn captures() -> Vec<PathBuf> {
    let Some(dir) = shared() else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}

const KEYWORDS: &[&str] = &[
    "select ",
    "insert ",
    "update ",
    "delete ",
    "begin ",
    "declare ",
    "merge ",
    "commit",
    "alter session",
];

/// Printable runs in the raw capture bytes that start with a SQL keyword (case-insensitive,
/// not preceded by a letter), cut at the first non-printable byte and at 24 characters.
fn visible_sql(bytes: &[u8]) -> Vec<String> {
    let lower: Vec<u8> = bytes.iter().map(u8::to_ascii_lowercase).collect();
    let mut out = Vec::new();
    for k in KEYWORDS {
        let k = k.as_bytes();
        let mut i = 0;
        while let Some(p) = lower[i..].windows(k.len()).position(|w| w == k) {
            let at = i + p;
            i = at + 1;
            if at > 0 && lower[at - 1].is_ascii_alphabetic() {
                continue;
            }
            let run: Vec<u8> = bytes[at..]
                .iter()
                .take_while(|&&c| (0x20..0x7f).contains(&c))
                .take(24)
                .copied()
                .collect();
            if run.len() >= 10 {
                out.push(String::from_utf8(run).unwrap());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `run` appears in `text`, allowing one extra character in `run` (a printable chunk-length
/// byte of a chunked SQL string, such as `2` = 50 bytes).
fn appears(run: &str, text: &str) -> bool {
    if text.contains(run) {
        return true;
    }
    (0..run.len()).any(|i| {
        let mut r = run.to_string();
        r.remove(i);
        r.len() >= 9 && text.contains(&r)
    })
}

#[test]
fn every_visible_sql_statement_is_reported() {
    let files = captures();
    if files.is_empty() {
        eprintln!("../shared/pcaps/tns not present: skipped");
        return;
    }
    let mut checked = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let c = run(f);
        let mut all = String::new();
        for t in &c.txs {
            all.push_str(&t.query);
            all.push('\n');
            if let Some(a) = t
                .request_value()
                .get("alter_session")
                .and_then(|v| v.as_str())
            {
                all.push_str(a);
                all.push('\n');
            }
        }
        for s in visible_sql(&bytes) {
            assert!(
                appears(&s, &all),
                "{}: SQL {s:?} visible in the capture is not in any query",
                f.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} SQL strings checked");
}

fn by_name(name: &str) -> Option<Collect> {
    let f = shared()?.join(name);
    f.exists().then(|| run(&f))
}

#[test]
fn figures_of_the_11g_captures() {
    let Some(c) = by_name("visblank__oracl-11g-sqlplus-select4.pcapng") else {
        eprintln!("skipped");
        return;
    };
    let sql = "SELECT DISTINCT OWNER FROM ALL_OBJECTS";
    type Fig<'a> = (&'a str, &'a str, Option<u64>, Option<u64>, Status);
    let v: Vec<Fig> = c
        .txs
        .iter()
        .map(|t| {
            let r = t.response_value();
            (
                t.command.as_str(),
                t.query.as_str(),
                r["rows"].as_u64(),
                r["ora_code"].as_u64(),
                t.status,
            )
        })
        .collect();
    assert_eq!(
        v,
        vec![
            ("EXECUTE", sql, Some(1), Some(0), Status::Ok),
            ("FETCH", sql, Some(15), Some(0), Status::Ok),
            ("FETCH", sql, Some(13), Some(1403), Status::Ok),
        ]
    );
    assert!(c.txs[1].fingerprint.is_some());
    assert_eq!(c.summaries[0].1["int_rep"], "fixed");
    assert_eq!(c.summaries[0].1["width_from"], "headers");

    // Error through the BREAK/RESET marker exchange.
    let c = by_name("visblank__oracl-11g-sqlplus-select3.pcapng").unwrap();
    assert_eq!(c.txs.len(), 1);
    let t = &c.txs[0];
    assert_eq!(t.status, Status::Error);
    assert_eq!(
        t.error.as_deref(),
        Some("ORA-00942: table or view does not exist")
    );
    assert_eq!(t.response_value()["ora_code"], 942);
    assert_eq!(
        t.response_value()["markers"],
        serde_json::json!(["BREAK", "RESET", "RESET"])
    );

    // A long result: the row counts of the fetches add up to the cursor's final row number.
    for name in [
        "visblank__oracl-11g-sqlplus-select.pcapng",
        "visblank__oracl-11g-sqlplus-select2.pcapng",
    ] {
        let c = by_name(name).unwrap();
        let fetches: Vec<_> = c.txs.iter().filter(|t| t.command == "FETCH").collect();
        assert!(fetches.len() > 100, "{name}: {} fetches", fetches.len());
        assert!(
            fetches.iter().all(|t| !t.query.is_empty()),
            "{name}: fetch without SQL"
        );
        let exec_rows: u64 = c
            .txs
            .iter()
            .filter(|t| t.command == "EXECUTE")
            .filter_map(|t| t.response_value()["rows"].as_u64())
            .sum();
        let fetched: u64 = fetches
            .iter()
            .filter_map(|t| t.response_value()["rows"].as_u64())
            .sum();
        let last = fetches.last().unwrap();
        assert_eq!(last.response_value()["ora_code"], 1403, "{name}");
        assert!(
            fetched + exec_rows > 1000,
            "{name}: {fetched} + {exec_rows}"
        );
        assert!(c.anomalies.is_empty(), "{name}: {:?}", c.anomalies);
    }

    // Login: CONNECT → RESEND, CONNECT → ACCEPT 314, AUTH as system.
    let c = by_name("visblank__oracl-11g-sqlplus-login.pcapng").unwrap();
    let connects: Vec<_> = c.txs.iter().filter(|t| t.command == "CONNECT").collect();
    assert_eq!(connects.len(), 2);
    assert_eq!(connects[0].response_value()["type"], "RESEND");
    assert_eq!(connects[1].response_value()["type"], "ACCEPT");
    assert_eq!(connects[1].response_value()["accept"]["version"], 314);
    assert_eq!(
        connects[1].request_value()["connect_data"]["service_name"],
        "orcl11g"
    );
    let auth: Vec<_> = c.txs.iter().filter(|t| t.command == "AUTH").collect();
    assert_eq!(auth.len(), 2);
    assert!(auth
        .iter()
        .all(|t| t.request_value()["user"] == "system" && t.status == Status::Ok));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
}

#[test]
fn figures_of_the_12c_toad_and_9i_captures() {
    let Some(c) = by_name("ndpi__oracle12.pcapng") else {
        eprintln!("skipped");
        return;
    };
    // Version 315: 32-bit lengths after ACCEPT, decided from the ACCEPT.
    assert_eq!(c.summaries[0].1["version"], 315);
    assert_eq!(c.summaries[0].1["width"], "w32");
    assert_eq!(c.summaries[0].1["width_from"], "accept");
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let conn = &c.txs[1];
    assert_eq!(conn.command, "CONNECT");
    let rq = conn.request_value();
    assert_eq!(rq["connect"]["version"], 315);
    assert_eq!(rq["connect"]["sdu_large"], 8192);
    assert_eq!(rq["connect"]["tdu_large"], 2_097_152);
    assert_eq!(rq["connect_data"]["sid"], "igor");
    assert_eq!(rq["connect_data"]["program"], "sqlplus@kali");
    assert_eq!(rq["connect_data"]["address"]["port"], "1521");
    assert_eq!(conn.response_value()["accept"]["sdu_large"], 8192);
    let auth = c.txs.iter().find(|t| t.command == "AUTH").unwrap();
    assert_eq!(auth.request_value()["user"], "sys");

    // TOAD on 312: OALL calls with SQL, ORA-00942 inline.
    let c = by_name("trex__Oracle.pcap").unwrap();
    let execs = c
        .txs
        .iter()
        .filter(|t| t.command == "EXECUTE" && !t.query.is_empty())
        .count();
    assert!(execs >= 20, "{execs}");
    let e = c
        .txs
        .iter()
        .find(|t| t.status == Status::Error)
        .expect("an error");
    assert!(e
        .query
        .starts_with("Select feature from toad.toad_restrictions"));
    assert_eq!(
        e.error.as_deref(),
        Some("ORA-00942: table or view does not exist")
    );

    // 9i: REDIRECT to the dispatcher port, then the session there.
    let c = by_name("visblank__oracle9i-login-ok.pcapng").unwrap();
    let redirect = c
        .txs
        .iter()
        .find(|t| t.response_value()["type"] == "REDIRECT")
        .expect("redirect");
    assert_eq!(redirect.response_value()["redirect"]["port"], "1048");
    assert!(c
        .txs
        .iter()
        .any(|t| t.command == "AUTH" && t.request_value()["user"] == "coanor"));
}

#[test]
fn no_secret_in_the_output() {
    let files = captures();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let c = run(f);
        let keys = [&b"AUTH_SESSKEY"[..], b"AUTH_PASSWORD", b"AUTH_VFR_DATA"];
        // The values: the next run of 16+ hex digits within 40 bytes of each key.
        for s in tns_support::hex_values_after(&bytes, &keys, 40) {
            assert!(
                !c.json.contains(&s),
                "{}: secret {s} in output",
                f.display()
            );
        }
        assert!(!c.json.contains("AUTH_SESSKEY") && !c.json.contains("AUTH_PASSWORD"));
    }
}

/// tshark's TNS packet types per (capture, source port), from the committed golden.
fn tshark_golden() -> BTreeMap<(String, String), BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/tns/tshark.tsv"),
    )
    .unwrap();
    let mut m: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        let name = match f[3] {
            "1" => "CONNECT",
            "2" => "ACCEPT",
            "4" => "REFUSE",
            "5" => "REDIRECT",
            "6" => "DATA",
            "11" => "RESEND",
            "12" => "MARKER",
            other => other,
        };
        *m.entry((f[0].to_string(), f[2].to_string()))
            .or_default()
            .entry(name.to_string())
            .or_default() += 1;
    }
    m
}

/// Disagreements with tshark, each examined against the bytes.
const EXPLAINED: &[(&str, &str)] = &[(
    "trex__Oracle.pcap",
    "TRex rewrote USER=thomas to USER=shekhar in the first CONNECT without fixing its length \
         field: the segment is one byte longer than the packet's header says. The flow has no \
         handshake (mid-stream), so wiresift needs two chained headers, which this CONNECT does \
         not give: its 247 bytes are skipped (resync note) and tshark, decoding per segment, \
         counts it; tshark in turn does not decode the client's 8-byte RESEND (frame 6)",
)];

#[test]
fn tns_layer_agrees_with_tshark() {
    let files = captures();
    if files.is_empty() {
        eprintln!("skipped");
        return;
    }
    let golden = tshark_golden();
    let mut agree = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let c = run(f);
        // Ours: per connection, client and server counts; keyed like tshark by source port.
        let mut ours: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
        for (t, s) in c.txs.iter().zip(std::iter::repeat(())) {
            let _ = (t, s);
        }
        let mut ports: Vec<(u16, u16)> = Vec::new();
        for t in &c.txs {
            let p = (t.client.port(), t.server.port());
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        for (k, (_, s)) in c.summaries.iter().enumerate() {
            let Some(&(cp, sp)) = ports.get(k) else {
                continue;
            };
            for (ty, v) in s["packets"].as_object().unwrap() {
                for (i, port) in [cp, sp].iter().enumerate() {
                    let n = v[i].as_u64().unwrap();
                    if n > 0 {
                        *ours
                            .entry((name.clone(), port.to_string()))
                            .or_default()
                            .entry(ty.clone())
                            .or_default() += n;
                    }
                }
            }
        }
        let theirs: BTreeMap<_, _> = golden
            .iter()
            .filter(|((n, _), _)| *n == name)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if tns_support::agrees_or_is_explained(&name, &ours, &theirs, EXPLAINED) {
            agree += 1;
        }
    }
    assert!(agree >= 8, "{agree} captures agree");
}

#[test]
fn versions_and_connect_data_agree_with_tshark() {
    let files = captures();
    if files.is_empty() {
        eprintln!("skipped");
        return;
    }
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/tns/tshark.tsv"),
    )
    .unwrap();
    let mut checked = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let c = run(f);
        let (want, want_accept) = tns_support::tshark_connects(&text, name);
        let mut got = Vec::new();
        let mut got_accept = Vec::new();
        for t in c.txs.iter().filter(|t| t.command == "CONNECT") {
            let rq = t.request_value();
            if let Some(v) = rq["connect"]["version"].as_u64() {
                got.push((
                    v,
                    rq["connect"]["version_compatible"].as_u64().unwrap(),
                    rq["connect_descriptor"].as_str().unwrap_or("").to_string(),
                ));
            }
            if let Some(v) = t.response_value()["accept"]["version"].as_u64() {
                got_accept.push(v);
            }
        }
        if name == "trex__Oracle.pcap" {
            // See EXPLAINED: the first CONNECT's length was not rewritten with its text.
            assert_eq!(got[..], want[1..], "{name}");
        } else {
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(got_accept, want_accept, "{name}");
        checked += got.len() + got_accept.len();
    }
    assert!(checked >= 12, "{checked}");
}

/// A copy of `src` with only the packets whose TCP source port is (or is not) `port`.
fn one_side(src: &Path, port: u16, from_server: bool, dir: &Path) -> Option<PathBuf> {
    let out = dir.join(format!(
        "{}-{}.pcap",
        src.file_stem()?.to_str()?,
        if from_server { "server" } else { "client" }
    ));
    let filter = if from_server {
        format!("tcp.srcport=={port}")
    } else {
        format!("tcp.dstport=={port}")
    };
    tns_support::tshark_filtered(src, &filter, out)
}

#[test]
fn one_sided_copies_keep_every_call_and_reply() {
    let Some(dir) = shared() else {
        eprintln!("skipped");
        return;
    };
    if std::process::Command::new("tshark")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("tshark not installed: skipped");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("wiresift-tns-oneside-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (name, port) in [
        ("visblank__oracl-11g-sqlplus-select4.pcapng", 1522),
        ("visblank__oracl-11g-sqlplus-select.pcapng", 1522),
        ("visblank__oracl-11g-sqlplus-select3.pcapng", 1522),
        ("visblank__oracl-11g-sqlplus-login.pcapng", 1522),
    ] {
        let src = dir.join(name);
        let both = run(&src);
        // Client only: same calls, same request detail, no_response.
        let c = run(&one_side(&src, port, false, &tmp).unwrap());
        let calls = |v: &[OwnedTransaction]| -> Vec<(String, String, serde_json::Value)> {
            v.iter()
                .filter(|t| t.status != Status::NoRequest)
                .map(|t| (t.command.clone(), t.query.clone(), t.request_value()))
                .collect()
        };
        let mut want = calls(&both.txs);
        if name.contains("login") {
            // Without the replies nothing says the first CONNECT was answered by RESEND; its
            // request detail is the same.
            want.retain(|w| w.0 != "CONNECT");
        }
        let mut got = calls(&c.txs);
        got.retain(|g| !(name.contains("login") && g.0 == "CONNECT"));
        // A FETCH without the EXECUTE's reply has no cursor → SQL entry unless the EXECUTE
        // carried it: compare the commands, SQL texts of calls that carry SQL, and the detail.
        let strip = |v: Vec<(String, String, serde_json::Value)>| -> Vec<(String, String)> {
            v.into_iter()
                .map(|(c, q, r)| {
                    let own = r["sql_bytes"].is_u64() || c == "AUTH";
                    (c, if own { q } else { String::new() })
                })
                .collect()
        };
        assert_eq!(strip(got), strip(want), "{name}: client-only calls");
        assert!(
            c.txs.iter().all(|t| t.status == Status::NoResponse),
            "{name}: client-only statuses"
        );
        // Server only: same replies (ORA codes, row numbers), no_request.
        let s = run(&one_side(&src, port, true, &tmp).unwrap());
        let replies = |v: &[OwnedTransaction]| -> Vec<serde_json::Value> {
            v.iter()
                .filter(|t| t.command != "CONNECT" && t.response_value().is_object())
                .map(|t| t.response_value()["ora_code"].clone())
                .collect()
        };
        assert_eq!(
            replies(&s.txs),
            replies(&both.txs),
            "{name}: server-only replies"
        );
        assert!(
            s.txs.iter().all(|t| t.status == Status::NoRequest),
            "{name}: server-only statuses"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
