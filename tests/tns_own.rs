//! TNS on the captures of real thin clients (python-oracledb, node-oracledb) against the
//! listener of our own (`testdata/tns/`, made by `testdata/gen/tns.sh`): every call with its
//! SQL, binds, cursor, rows and ORA code as the client saw them (the client scripts print
//! them), the connect phase (ACCEPT at 315 and 319, REFUSE, REDIRECT, RESEND), login failure,
//! 32-bit lengths above 64 KiB (where tshark's per-packet width guess fails), a lossy run and a
//! capture started mid-connection, and agreement with tshark on the TNS layer elsewhere.

mod tns_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tns_support::Collect;
use wiresift::core::{OwnedTransaction, Status, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tns")
        .join(name)
}

fn run(p: &Path) -> Collect {
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Collect::default(),
    );
    let mut reader = CaptureReader::open(p).unwrap();
    engine.run(&mut reader, |_| {}).unwrap();
    engine.into_output()
}

/// Transactions per connection, connections in id order.
fn conns(c: &Collect) -> Vec<Vec<&OwnedTransaction>> {
    let mut m: BTreeMap<u64, Vec<&OwnedTransaction>> = BTreeMap::new();
    for t in &c.txs {
        m.entry(t.connection.0).or_default().push(t);
    }
    m.into_values().collect()
}

type Row = (String, String, Status, Option<u64>, Option<u64>);

/// (command, first 40 bytes of the query, status, rows, ORA code), without the negotiation.
fn calls(v: &[&OwnedTransaction]) -> Vec<Row> {
    v.iter()
        .filter(|t| !matches!(t.command.as_str(), "PROTOCOL" | "DATA_TYPES"))
        .map(|t| {
            let r = t.response_value();
            let q: String = t.query.chars().take(40).collect();
            (
                t.command.clone(),
                q,
                t.status,
                r["rows"].as_u64(),
                r["ora_code"].as_u64(),
            )
        })
        .collect()
}

fn row(c: &str, q: &str, s: Status, rows: Option<u64>, ora: Option<u64>) -> Row {
    (c.to_string(), q.to_string(), s, rows, ora)
}

const SEL: &str = "select id, name from t_rows where id > :";
const INS: &str = "insert into t_items (id, name) values (:";

/// The `session` scenario of client.py, as the client printed it: 250 rows (2 + 100 + 100 +
/// 48), insert 1, executemany 10, the two errors, the long SQL, the re-execute.
fn python_session() -> Vec<Row> {
    use Status::{Error, Ok};
    vec![
        row("CONNECT", "SERVICE_NAME=svc", Ok, None, None),
        row("AUTH", "user=scott", Ok, Some(0), Some(0)),
        row("AUTH", "user=scott", Ok, Some(0), Some(0)),
        row("EXECUTE", SEL, Ok, Some(2), Some(0)),
        row("FETCH", SEL, Ok, Some(100), Some(0)),
        row("FETCH", SEL, Ok, Some(100), Some(0)),
        row("FETCH", SEL, Ok, Some(48), Some(1403)),
        row("EXECUTE", INS, Ok, Some(1), Some(0)),
        row("EXECUTE", INS, Ok, Some(10), Some(0)),
        row(
            "EXECUTE",
            "update t_items set name = :1 where id = ",
            Ok,
            Some(1),
            Some(0),
        ),
        row("EXECUTE", "begin null; end;", Ok, Some(0), Some(0)),
        row("COMMIT", "", Ok, None, None),
        row(
            "EXECUTE",
            "delete from t_items where id = :1",
            Ok,
            Some(1),
            Some(0),
        ),
        row("ROLLBACK", "", Ok, None, None),
        row(
            "EXECUTE",
            "select * from missing_table",
            Error,
            Some(0),
            Some(942),
        ),
        row(
            "EXECUTE",
            "select nosuchcol from t_rows",
            Error,
            Some(0),
            Some(904),
        ),
        row(
            "EXECUTE",
            "select 'value-00000' as c0, 'value-00001",
            Ok,
            Some(1),
            Some(1403),
        ),
        row("EXECUTE", SEL, Ok, Some(2), Some(0)),
        row("FETCH", SEL, Ok, Some(100), Some(0)),
        row("REEXECUTE_AND_FETCH", SEL, Ok, Some(2), Some(0)),
        row("FETCH", SEL, Ok, Some(100), Some(0)),
        row("PING", "", Ok, None, None),
        row("LOGOFF", "", Ok, None, None),
    ]
}

fn sel(q: &str) -> String {
    q.chars().take(40).collect()
}

#[test]
fn python_319_every_call_and_the_connect_phase() {
    let c = run(&path("python-319.pcap"));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let cs = conns(&c);
    assert_eq!(cs.len(), 7);
    let want: Vec<Row> = python_session()
        .into_iter()
        .map(|mut r| {
            r.1 = sel(&r.1);
            r
        })
        .collect();
    assert_eq!(calls(&cs[0]), want);
    let s = &cs[0];
    // 23ai shape: field version 24 (tokens), end of response, 32-bit lengths after ACCEPT.
    let summary = &c
        .summaries
        .iter()
        .find(|(id, _)| *id == s[0].connection.0)
        .unwrap()
        .1;
    assert_eq!(summary["version"], 319);
    assert_eq!(summary["field_version"], 24);
    assert_eq!(summary["width"], "w32");
    assert_eq!(summary["width_from"], "accept");
    assert_eq!(summary["int_rep"], "compressed");
    // The OOB check (version >= 318): one urgent byte before the RESET marker, skipped.
    assert_eq!(summary["oob_bytes"], 1);
    let ins = s.iter().find(|t| t.query.starts_with("insert")).unwrap();
    assert_eq!(ins.request_value()["binds"], 2);
    assert_eq!(
        ins.fingerprint.as_deref(),
        Some("insert into t_items (id, name) values (:?, :?)")
    );
    assert!(ins.response_value()["end_of_response"].as_bool().unwrap());
    // The second insert (executemany) and the fetches carry only a cursor id: SQL from the map.
    let many = s
        .iter()
        .filter(|t| t.query.starts_with("insert"))
        .nth(1)
        .unwrap();
    assert_eq!(many.request_value()["sql_from_cursor"], true);
    // module / action / client identifier, piggybacked on the UPDATE.
    let upd = s.iter().find(|t| t.query.starts_with("update")).unwrap();
    let pb = upd.request_value()["piggybacks"].clone();
    let e2e = pb
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["function"] == "SET_END_TO_END_ATTR")
        .unwrap()["end_to_end"]
        .clone();
    assert_eq!(
        e2e,
        serde_json::json!({"client_identifier": "cid-42", "module": "wiresift-mod", "action": "update-items"})
    );
    let err = s.iter().find(|t| t.status == Status::Error).unwrap();
    assert_eq!(
        err.error.as_deref(),
        Some("ORA-00942: table or view does not exist")
    );
    assert_eq!(
        err.response_value()["markers"],
        serde_json::json!(["BREAK", "RESET", "RESET"])
    );
    // The 27 705-byte SQL spans 4 packets: query cut at 16 KiB with a truncated note.
    let long = s
        .iter()
        .find(|t| t.query.starts_with("select 'value"))
        .unwrap();
    assert_eq!(long.request_value()["sql_bytes"], 27705);
    assert_eq!(long.request_value()["packets"], 4);
    assert_eq!(long.query.len(), 16 * 1024);
    assert!(serde_json::to_string(&long.notes)
        .unwrap()
        .contains("truncated"));

    // Wrong password, refused service, redirect, resend.
    assert_eq!(
        calls(&cs[1]).last().unwrap(),
        &row("AUTH", "user=scott", Status::Error, Some(0), Some(1017))
    );
    assert_eq!(
        cs[1].last().unwrap().error.as_deref(),
        Some("ORA-01017: invalid username/password; logon denied")
    );
    let refused = cs[2][0];
    assert_eq!(refused.response_value()["type"], "REFUSE");
    assert_eq!(refused.response_value()["ora_code"], 12514);
    assert_eq!(refused.status, Status::Error);
    let redir = cs[3][0];
    assert_eq!(redir.response_value()["type"], "REDIRECT");
    assert_eq!(redir.response_value()["redirect"]["port"], "1522");
    assert_eq!(cs[4][0].server.port(), 1522);
    assert_eq!(
        calls(&cs[4]).last().unwrap(),
        &row("LOGOFF", "", Status::Ok, None, None)
    );
    let kinds: Vec<serde_json::Value> = cs[5]
        .iter()
        .filter(|t| t.command == "CONNECT")
        .map(|t| t.response_value()["type"].clone())
        .collect();
    assert_eq!(kinds, vec!["RESEND", "ACCEPT"]);
    // A connect descriptor over 230 bytes: sent in the DATA packet after the CONNECT.
    let long = cs[6][0].request_value();
    assert_eq!(long["connect"]["data_follows"], true);
    assert_eq!(long["connect_data"]["instance_name"], "wiresift1");
    assert_eq!(long["connect_data"]["server"], "dedicated");
    assert_eq!(cs[6][0].response_value()["type"], "ACCEPT");
}

#[test]
fn python_315_and_node_319() {
    let c = run(&path("python-315.pcap"));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let cs = conns(&c);
    let want: Vec<Row> = python_session()
        .into_iter()
        .map(|mut r| {
            r.1 = sel(&r.1);
            r
        })
        .collect();
    assert_eq!(calls(&cs[0]), want);
    let summary = &c.summaries[0].1;
    assert_eq!(summary["version"], 315);
    assert_eq!(summary["field_version"], 8);
    assert_eq!(summary["width"], "w32");
    assert_eq!(cs[1].last().unwrap().response_value()["ora_code"], 1017);

    let c = run(&path("node-319.pcap"));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let cs = conns(&c);
    use Status::{Error, Ok};
    let want = vec![
        row("CONNECT", "SERVICE_NAME=svc", Ok, None, None),
        row("AUTH", "user=scott", Ok, Some(0), Some(0)),
        row("AUTH", "user=scott", Ok, Some(0), Some(0)),
        // node asks for 98 rows after the 2 prefetched (fetchArraySize 100), then 100, 100:
        // 2 + 98 + 100 + 50 = the 250 rows it printed.
        row("EXECUTE", SEL, Ok, Some(2), Some(0)),
        row("FETCH", SEL, Ok, Some(98), Some(0)),
        row("FETCH", SEL, Ok, Some(100), Some(0)),
        row("FETCH", SEL, Ok, Some(50), Some(1403)),
        row("EXECUTE", INS, Ok, Some(1), Some(0)),
        row("EXECUTE", INS, Ok, Some(3), Some(0)),
        row("EXECUTE", "begin null; end;", Ok, Some(0), Some(0)),
        row("COMMIT", "", Ok, None, None),
        row(
            "EXECUTE",
            "delete from t_items where id = :1",
            Ok,
            Some(1),
            Some(0),
        ),
        row("ROLLBACK", "", Ok, None, None),
        row(
            "EXECUTE",
            "select * from missing_table",
            Error,
            Some(0),
            Some(942),
        ),
        row("PING", "", Ok, None, None),
        row("LOGOFF", "", Ok, None, None),
    ];
    assert_eq!(calls(&cs[0]), want);
    assert_eq!(cs[1].last().unwrap().response_value()["ora_code"], 1017);
}

#[test]
fn lengths_above_64k_and_never_a_wrong_sql() {
    let c = run(&path("bigsql.pcap"));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let cs = conns(&c);
    // A 125 KB SELECT in one 32-bit-length packet: more than the request budget, so no SQL is
    // reported (never a wrong one), with the notes saying why.
    let big = cs[0].iter().find(|t| t.command == "EXECUTE").unwrap();
    assert_eq!(big.query, "");
    let notes = serde_json::to_string(&big.notes).unwrap();
    assert!(
        notes.contains("truncated") && notes.contains("no SQL text"),
        "{notes}"
    );
    assert_eq!(big.response_value()["ora_code"], 1403);
    // Replies of exactly 65 536 and 131 072 bytes (32-bit lengths 0x00010000 / 0x00020000).
    let f: Vec<Row> = calls(&cs[1])
        .into_iter()
        .filter(|r| r.0 == "FETCH")
        .collect();
    assert_eq!(
        f,
        vec![
            row(
                "FETCH",
                "select v from t_pad",
                Status::Ok,
                Some(311),
                Some(1403)
            ),
            row(
                "FETCH",
                "select v from t_pad2",
                Status::Ok,
                Some(621),
                Some(1403)
            ),
        ]
    );
    let sizes: Vec<u64> = cs[1]
        .iter()
        .filter(|t| t.command == "FETCH")
        .map(|t| t.response_bytes)
        .collect();
    assert_eq!(sizes, vec![65536, 131072]);
}

#[test]
fn lossy_and_midstream() {
    let c = run(&path("lossy.pcap"));
    let cs = conns(&c);
    let want: Vec<Row> = python_session()
        .into_iter()
        .map(|mut r| {
            r.1 = sel(&r.1);
            r
        })
        .collect();
    // Every segment was retransmitted and captured: the same calls as without loss.
    assert_eq!(calls(&cs[0]), want);
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Collect::default(),
    );
    let mut reader = CaptureReader::open(&path("lossy.pcap")).unwrap();
    engine.run(&mut reader, |_| {}).unwrap();
    let r = engine.summary().reassembly;
    assert!(r.retransmitted_segments > 0, "{r:?}");

    let c = run(&path("midstream.pcap"));
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let s = &c.summaries[0].1;
    assert_eq!(s["width"], "w32");
    assert_eq!(s["width_from"], "headers");
    assert_eq!(s["int_rep"], "compressed");
    let v = calls(&conns(&c)[0]);
    assert!(v.len() > 60, "{}", v.len());
    // No CONNECT or AUTH captured; the loop is SELECT + FETCH + FETCH + UPDATE. The capture
    // may start inside an exchange: a reply without its call (command "", no_request), and
    // fetches of a cursor whose EXECUTE was not captured (no SQL, the cursor id only).
    assert!(v
        .iter()
        .all(|r| matches!(r.0.as_str(), "EXECUTE" | "FETCH" | "LOGOFF" | "")));
    let first_exec = v.iter().position(|r| r.0 == "EXECUTE").unwrap();
    assert!(first_exec <= 4, "{first_exec}");
    for r in v[first_exec..].iter().filter(|r| r.0 == "FETCH") {
        assert_eq!(r.1, sel(SEL));
        assert_eq!(r.3, Some(20));
    }
    assert!(v
        .iter()
        .filter(|r| r.0 == "EXECUTE")
        .all(|r| !r.1.is_empty()));
}

#[test]
fn no_secret_in_the_output() {
    for name in [
        "python-319.pcap",
        "python-315.pcap",
        "node-319.pcap",
        "lossy.pcap",
    ] {
        let bytes = std::fs::read(path(name)).unwrap();
        let c = run(&path(name));
        let keys = [
            &b"AUTH_SESSKEY"[..],
            b"AUTH_PASSWORD",
            b"AUTH_PBKDF2_SPEEDY_KEY",
        ];
        let values = tns_support::hex_values_after(&bytes, &keys, 16);
        for s in &values {
            assert!(!c.json.contains(s), "{name}: secret {s} in output");
        }
        let found = values.len();
        assert!(found >= 3, "{name}: only {found} secrets looked for");
        assert!(!c.json.contains("AUTH_SESSKEY") && !c.json.contains("AUTH_PASSWORD"));
    }
}

/// Disagreements with tshark 4.0 on our captures, each examined against the bytes.
const EXPLAINED: &[(&str, &str)] = &[
    (
        "lossy.pcap",
        "the client segment carrying one DATA packet (AUTH phase two, 589 bytes) was lost on the \
         wire before the capture point; its only copy in the capture is the retransmission \
         (frame 23), which tshark marks [TCP Retransmission] and does not hand to the TNS \
         dissector, so tshark counts one client DATA packet fewer; wiresift's reassembly \
         delivers it in order",
    ),
    (
        "bigsql.pcap",
        "tshark picks the length width per packet from bytes 2-3 (the 16-bit packet checksum \
     field): 0x0000 or 0x0004 there means a 16-bit length. The replies of exactly 65 536 and \
     131 072 bytes have 32-bit lengths 0x00010000 and 0x00020000, whose low half is 0x0000, so \
     tshark reads a length of 1 (resp. 2), reports a malformed packet and loses the framing of \
     the rest of that direction; wiresift keeps the width the ACCEPT (319) negotiated",
    ),
];

#[test]
fn tns_layer_agrees_with_tshark() {
    let text = std::fs::read_to_string(path("tshark-own.tsv")).unwrap();
    let mut agree = 0;
    for name in [
        "python-319.pcap",
        "python-315.pcap",
        "node-319.pcap",
        "bigsql.pcap",
        "lossy.pcap",
        "midstream.pcap",
    ] {
        let mut theirs: BTreeMap<(u16, String), u64> = BTreeMap::new();
        for l in text.lines().filter(|l| l.starts_with(name)) {
            let f: Vec<&str> = l.split('\t').collect();
            if f[3].is_empty() {
                continue;
            }
            *theirs
                .entry((f[2].parse().unwrap(), f[3].to_string()))
                .or_default() += 1;
        }
        let c = run(&path(name));
        let mut ports: BTreeMap<u64, (u16, u16)> = BTreeMap::new();
        for t in &c.txs {
            ports.insert(t.connection.0, (t.client.port(), t.server.port()));
        }
        let mut ours: BTreeMap<(u16, String), u64> = BTreeMap::new();
        for (id, s) in &c.summaries {
            let Some(&(cp, sp)) = ports.get(id) else {
                continue;
            };
            for (ty, v) in s["packets"].as_object().unwrap() {
                let code = match ty.as_str() {
                    "CONNECT" => "1",
                    "ACCEPT" => "2",
                    "REFUSE" => "4",
                    "REDIRECT" => "5",
                    "DATA" => "6",
                    "RESEND" => "11",
                    "MARKER" => "12",
                    _ => "?",
                };
                for (i, port) in [cp, sp].into_iter().enumerate() {
                    let n = v[i].as_u64().unwrap();
                    if n > 0 {
                        *ours.entry((port, code.to_string())).or_default() += n;
                    }
                }
            }
        }
        if tns_support::agrees_or_is_explained(name, &ours, &theirs, EXPLAINED) {
            agree += 1;
        }
    }
    assert!(agree >= 4, "{agree}");
}

/// A copy of our capture with only one direction (tshark), or None without tshark.
fn one_side(name: &str, from_server: bool) -> Option<PathBuf> {
    let out = std::env::temp_dir().join(format!(
        "wiresift-tns-own-{}-{}-{name}",
        std::process::id(),
        if from_server { "s" } else { "c" }
    ));
    let filter = if from_server {
        "tcp.srcport==1521 || tcp.srcport==1522"
    } else {
        "tcp.dstport==1521 || tcp.dstport==1522"
    };
    tns_support::tshark_filtered(&path(name), filter, out)
}

#[test]
fn one_sided_copies_of_our_captures() {
    for name in ["python-319.pcap", "node-319.pcap"] {
        let (Some(cli), Some(srv)) = (one_side(name, false), one_side(name, true)) else {
            eprintln!("tshark not installed: skipped");
            return;
        };
        let both = run(&path(name));
        let c = run(&cli);
        let s = run(&srv);
        let _ = (std::fs::remove_file(&cli), std::fs::remove_file(&srv));
        // Client only: the same calls (command, SQL carried by the call itself, binds), all
        // no_response. Calls whose SQL comes from the cursor map need the reply's cursor id.
        let key = |t: &OwnedTransaction| {
            let rq = t.request_value();
            let own_sql = rq["sql_bytes"].is_u64() || t.command == "AUTH";
            (
                t.command.clone(),
                if own_sql {
                    t.query.clone()
                } else {
                    String::new()
                },
                rq["binds"].clone(),
                rq["cursor"].clone(),
            )
        };
        // Per connection (keyed by client port): emission order across connections depends
        // on when each one's last call is flushed.
        let by_port = |v: &[OwnedTransaction], f: &dyn Fn(&OwnedTransaction) -> bool| {
            let mut m: BTreeMap<u16, Vec<_>> = BTreeMap::new();
            for t in v.iter().filter(|t| f(t)) {
                m.entry(t.client.port()).or_default().push(key(t));
            }
            m
        };
        let want = by_port(&both.txs, &|t| t.status != Status::NoRequest);
        let got = by_port(&c.txs, &|_| true);
        assert_eq!(got, want, "{name}: client-only calls");
        let bad: Vec<_> = c
            .txs
            .iter()
            .filter(|t| t.status != Status::NoResponse)
            .map(|t| (t.command.clone(), t.status))
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:?}");
        // Server only: the same replies (ORA codes, row numbers, cursors), all no_request.
        let reply = |t: &OwnedTransaction| {
            let r = t.response_value();
            (
                r["ora_code"].clone(),
                r["cursor"].clone(),
                r["type"].clone(),
            )
        };
        let replies = |v: &[OwnedTransaction]| {
            let mut m: BTreeMap<u16, Vec<_>> = BTreeMap::new();
            for t in v.iter().filter(|t| t.response_value().is_object()) {
                m.entry(t.client.port()).or_default().push(reply(t));
            }
            m
        };
        let want = replies(&both.txs);
        let got = replies(&s.txs);
        assert_eq!(got, want, "{name}: server-only replies");
        let bad: Vec<_> = s
            .txs
            .iter()
            .filter(|t| t.status != Status::NoRequest)
            .map(|t| (t.command.clone(), t.status))
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:?}");
    }
}

#[test]
fn versions_and_connect_data_agree_with_tshark() {
    let text = std::fs::read_to_string(path("tshark-own.tsv")).unwrap();
    let mut checked = 0;
    for name in [
        "python-319.pcap",
        "python-315.pcap",
        "node-319.pcap",
        "bigsql.pcap",
    ] {
        let (mut want, mut want_accept) = tns_support::tshark_connects(&text, name);
        let c = run(&path(name));
        let mut got = Vec::new();
        let mut got_accept = Vec::new();
        for t in c.txs.iter().filter(|t| t.command == "CONNECT") {
            let rq = t.request_value();
            got.push((
                rq["connect"]["version"].as_u64().unwrap(),
                rq["connect"]["version_compatible"].as_u64().unwrap(),
                rq["connect_descriptor"].as_str().unwrap_or("").to_string(),
            ));
            if let Some(v) = t.response_value()["accept"]["version"].as_u64() {
                got_accept.push(v);
            }
        }
        // tshark shows the connect data of the CONNECT packet only; when it follows in the next
        // DATA packet (over 230 bytes) tshark's is empty and ours comes from that packet.
        let follows: Vec<String> = c
            .txs
            .iter()
            .filter(|t| t.request_value()["connect"]["data_follows"] == true)
            .map(|t| {
                t.request_value()["connect_descriptor"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        for f in &follows {
            let i = want
                .iter()
                .position(|w| w.2.is_empty())
                .expect("tshark shows it empty");
            want[i].2 = f.clone();
        }
        got.sort();
        want.sort();
        got_accept.sort();
        want_accept.sort();
        assert_eq!(got, want, "{name}");
        assert_eq!(got_accept, want_accept, "{name}");
        checked += got.len();
    }
    assert!(checked >= 10, "{checked}");
}

/// Every byte delivered to the TNS sessions ends up in a transaction's `request_bytes` /
/// `response_bytes`, or counted in the connection summary as skipped, out-of-band or
/// unattributed (whole packets between exchanges).
#[test]
fn every_delivered_byte_is_accounted_for() {
    for name in [
        "python-319.pcap",
        "python-315.pcap",
        "node-319.pcap",
        "bigsql.pcap",
        "lossy.pcap",
        "midstream.pcap",
    ] {
        let mut engine = Engine::new(
            EngineConfig::default(),
            wiresift::default_registry(),
            Collect::default(),
        );
        let mut reader = CaptureReader::open(&path(name)).unwrap();
        engine.run(&mut reader, |_| {}).unwrap();
        let delivered = engine.summary().reassembly.delivered_bytes;
        let c = engine.into_output();
        let tx: u64 = c
            .txs
            .iter()
            .map(|t| t.request_bytes + t.response_bytes)
            .sum();
        let counted: u64 = c
            .summaries
            .iter()
            .map(|(_, s)| {
                s["skipped_bytes"][0].as_u64().unwrap()
                    + s["skipped_bytes"][1].as_u64().unwrap()
                    + s["oob_bytes"].as_u64().unwrap()
                    + s["unattributed_bytes"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(tx + counted, delivered, "{name}: {tx} + {counted}");
    }
}

/// With summary detail (what `latency` asks for) the fingerprint is still there.
#[test]
fn fingerprints_in_summary_mode() {
    #[derive(Default)]
    struct Fp(Vec<(String, Option<String>)>);
    impl Output for Fp {
        fn detail(&self) -> wiresift::core::Detail {
            wiresift::core::Detail::Summary
        }
        fn transaction(&mut self, tx: &Transaction) {
            self.0.push((tx.command.clone(), tx.fingerprint.clone()));
        }
    }
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Fp::default(),
    );
    let mut reader = CaptureReader::open(&path("python-319.pcap")).unwrap();
    engine.run(&mut reader, |_| {}).unwrap();
    let v = engine.into_output().0;
    let fetch_fp: Vec<_> = v
        .iter()
        .filter(|(c, _)| c == "FETCH")
        .map(|(_, f)| f.clone())
        .collect();
    assert!(!fetch_fp.is_empty());
    assert!(fetch_fp
        .iter()
        .all(|f| f.as_deref() == Some("select id, name from t_rows where id > :?")));
    assert!(v
        .iter()
        .filter(|(c, _)| c == "AUTH" || c == "CONNECT")
        .all(|(_, f)| f.is_none()));
}
