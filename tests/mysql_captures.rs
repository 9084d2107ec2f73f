//! MySQL through the whole pipeline over the real MariaDB 10.11 captures in `testdata/mysql/`
//! (made by `testdata/gen/mysql.sh`; its header says what each holds), the public captures in
//! `../shared/pcaps/mysql`, and one-direction copies of the real captures.

use serde_json::Value;
use std::path::{Path, PathBuf};
use wiresift::core::{ConnectionId, Note, ParseAnomaly, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{ConnectionSummary, Engine, EngineConfig, Output};

#[derive(Default)]
struct Collect {
    txs: Vec<Value>,
    msgs: Vec<Value>,
    encrypted: usize,
    anomalies: Vec<ParseAnomaly>,
    conns: Vec<(ConnectionId, Option<&'static str>, u64)>,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        if tx.protocol == "mysql" {
            if tx.notes.iter().any(|n| matches!(n, Note::Encrypted)) {
                self.encrypted += 1;
            }
            self.txs.push(serde_json::to_value(tx).unwrap());
        }
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        if a.protocol == "mysql" {
            self.anomalies.push(a.clone());
        }
    }
    fn message(&mut self, m: &wiresift::core::Message) {
        if m.protocol == "mysql" {
            self.msgs.push(serde_json::to_value(m).unwrap());
        }
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        let bytes = c.stats.bytes[0] + c.stats.bytes[1];
        self.conns.push((c.info.id, c.protocol, bytes));
    }
}

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/mysql")
        .join(name)
}

fn run_bytes(bytes: Vec<u8>) -> Collect {
    let reg = wiresift::default_registry();
    let mut engine = Engine::new(EngineConfig::default(), reg, Collect::default());
    let mut reader = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes))).unwrap();
    engine.run(&mut reader, |_| {}).unwrap();
    engine.into_output()
}

fn run(name: &str) -> Option<Collect> {
    let p = path(name);
    let Ok(bytes) = std::fs::read(&p) else {
        eprintln!("skipping: {} not present", p.display());
        return None;
    };
    Some(run_bytes(bytes))
}

/// A clean capture: no anomaly, every transaction paired (or a command with no reply).
fn clean(name: &str) -> Option<Vec<Value>> {
    let c = run(name)?;
    assert!(c.anomalies.is_empty(), "{name}: {:?}", c.anomalies);
    for t in &c.txs {
        let st = t["status"].as_str().unwrap();
        assert!(st == "ok" || st == "error", "{name}: unpaired {t}");
        assert_eq!(t.get("error").is_some(), st == "error", "{name}: {t}");
    }
    Some(c.txs)
}

fn s<'a>(t: &'a Value, k: &str) -> &'a str {
    t[k].as_str().unwrap_or("")
}

/// What must not change when the same workload runs compressed.
fn shape(t: &Value) -> Value {
    let mut req = t.get("request").cloned().unwrap_or(Value::Null);
    if let Some(m) = req.as_object_mut() {
        // Statement ids are server-wide in MariaDB: the second run gets other numbers.
        for k in [
            "connect_attributes",
            "capabilities",
            "compression",
            "statement_id",
        ] {
            m.remove(k);
        }
    }
    let r = &t["response"];
    serde_json::json!({
        "command": t["command"], "query": t["query"], "fingerprint": t["fingerprint"],
        "status": t["status"], "error": t["error"], "request": req,
        "error_code": r["error_code"], "rows": r["rows"], "column_count": r["column_count"],
        "columns": r["columns"], "affected_rows": r["affected_rows"], "result_sets": r["result_sets"],
        "param_count": r["param_count"],
    })
}

#[test]
fn compressed_twins_give_the_same_transactions() {
    for (plain, comp) in [
        ("text.pcap", "text-compress.pcap"),
        ("prepared.pcap", "prepared-compress.pcap"),
        ("cli.pcap", "cli-compress.pcap"),
    ] {
        let (Some(a), Some(b)) = (clean(plain), clean(comp)) else {
            return;
        };
        assert!(a.len() > 5, "{plain}: {}", a.len());
        let sa: Vec<Value> = a.iter().map(shape).collect();
        let sb: Vec<Value> = b.iter().map(shape).collect();
        assert_eq!(sa, sb, "{plain} vs {comp}");
        assert_eq!(s(&b[0], "command"), "LOGIN");
        assert!(b[0]["request"]["compression"] == "zlib", "{comp}: {}", b[0]);
        // Sizes are counted before compression: equal up to the server's changing data.
        let (ra, rb): (u64, u64) = (
            a.iter().map(|t| t["request_bytes"].as_u64().unwrap()).sum(),
            b.iter().map(|t| t["request_bytes"].as_u64().unwrap()).sum(),
        );
        assert!(ra.abs_diff(rb) < 64, "{plain} {ra} vs {comp} {rb}");
    }
}

#[test]
fn text_protocol_details() {
    let Some(t) = clean("text.pcap") else { return };
    assert_eq!(t.len(), 22);
    let login = &t[0];
    assert_eq!(s(login, "command"), "LOGIN");
    assert_eq!(login["request"]["user"], "ws");
    assert_eq!(login["request"]["database"], "wst");
    assert!(s(&login["response"], "server_version").contains("MariaDB"));
    let q = |sql: &str| {
        t.iter()
            .find(|x| s(x, "query") == sql)
            .unwrap_or_else(|| panic!("{sql}"))
    };
    let sel = q("SELECT id, name, qty FROM items WHERE id < 6");
    assert_eq!(sel["response"]["rows"], 5);
    assert_eq!(sel["response"]["columns"][1]["name"], "name");
    assert_eq!(
        sel["fingerprint"],
        "select id, name, qty from items where id < ?"
    );
    let inl = q("SELECT * FROM items WHERE name IN ('item-01', 'item-02', 'item-03')");
    assert_eq!(inl["fingerprint"], "select * from items where name in(?+)");
    let upd = q("UPDATE items SET qty = qty + 1 WHERE id BETWEEN 2 AND 4");
    assert_eq!(upd["response"]["affected_rows"], 3);
    assert!(s(&upd["response"], "info").starts_with("Rows matched: 3"));
    for (sql, code) in [
        ("SELEC broken syntax", 1064),
        ("SELECT * FROM no_such_table", 1146),
        ("INSERT INTO items (id) VALUES (1)", 1062),
    ] {
        let e = q(sql);
        assert_eq!(e["status"], "error");
        assert_eq!(e["response"]["error_code"], code, "{sql}");
    }
    let stats = t.iter().find(|x| s(x, "command") == "STATISTICS").unwrap();
    assert!(s(&stats["response"], "statistics").starts_with("Uptime:"));
    assert_eq!(t.iter().filter(|x| s(x, "command") == "INIT_DB").count(), 2);
    assert_eq!(s(t.last().unwrap(), "command"), "QUIT");
}

#[test]
fn every_parameter_type() {
    let Some(t) = run("raw-types.pcap") else {
        return;
    };
    assert!(t.anomalies.is_empty(), "{:?}", t.anomalies);
    let execs: Vec<&Value> = t
        .txs
        .iter()
        .filter(|x| s(x, "command") == "STMT_EXECUTE")
        .collect();
    // The 21-parameter INSERT (MariaDB answers 1210), then each type alone.
    let big = execs[0]["request"]["params"].as_array().unwrap();
    assert_eq!(big.len(), 21);
    let want = [
        ("TINY", Value::from(-128)),
        ("TINY", Value::from(255)),
        ("SHORT", Value::from(-32768)),
        ("SHORT", Value::from(65535)),
        ("LONG", Value::from(-2147483648i64)),
        ("LONG", Value::from(4294967295u64)),
        ("LONGLONG", Value::from(i64::MIN)),
        ("LONGLONG", Value::from(u64::MAX)),
        ("FLOAT", Value::from(3.5)),
        ("DOUBLE", Value::from(-1.0e-300)),
        ("NEWDECIMAL", Value::from("-98765.432100")),
        ("DATE", Value::from("1999-12-31")),
        ("DATETIME", Value::from("2024-01-02 03:04:05.678901")),
        ("TIMESTAMP", Value::from("2020-06-07 08:09:10")),
        ("TIME", Value::from("-51:04:05.600000")),
        ("YEAR", Value::from(2024)),
        ("VAR_STRING", Value::from("snowman ☃")),
        ("BLOB", Value::Null),
        ("BIT", Value::from("\n\u{b}")),
        ("JSON", Value::from("{\"k\": [1, 2, \"three\"]}")),
        ("NULL", Value::Null),
    ];
    for (i, (ty, v)) in want.iter().enumerate() {
        let one = &execs[1 + i]["request"]["params"][0];
        assert_eq!(one["type"], *ty, "param {i}: {one}");
        if !v.is_null() {
            assert_eq!(one["value"], *v, "param {i}: {one}");
        }
        assert_eq!(execs[1 + i]["query"], "SELECT ?");
    }
    assert_eq!(execs[1 + 1]["request"]["params"][0]["unsigned"], true);
    assert_eq!(execs[0]["response"]["error_code"], 1210);
    assert_eq!(
        execs[1 + 19]["response"]["error_code"],
        1210,
        "JSON parameters are refused by MariaDB"
    );
    // Length forms, then the same statement re-executed without types.
    let forms = &execs[22]["request"]["params"];
    assert_eq!(forms[0]["value"], "0000-00-00");
    assert_eq!(forms[3]["value"], "2001-02-03 00:00:00");
    assert_eq!(forms[5]["value"], "23:59:58");
    assert_eq!(execs[23]["request"]["new_params_bound"], false);
    assert_eq!(execs[23]["request"]["params"][0]["value"], "2002-03-04");
    assert_eq!(execs[23]["request"]["params"][5]["value"], "-25:01:01");
    // SEND_LONG_DATA: the value of parameter 0 comes from the two long-data packets.
    let ld = &execs[24];
    assert_eq!(ld["request"]["params"][0]["long_data"], true);
    assert_eq!(ld["request"]["params"][0]["len"], 5000);
    assert_eq!(
        t.txs
            .iter()
            .filter(|x| s(x, "command") == "STMT_SEND_LONG_DATA")
            .count(),
        2
    );
    // Cursor, FETCH, duplicate key, CLOSE, BULK_EXECUTE.
    let cur = &execs[25];
    assert_eq!(cur["request"]["flags"], 1);
    assert_eq!(cur["response"]["cursor"], true);
    let fetches: Vec<&Value> = t
        .txs
        .iter()
        .filter(|x| s(x, "command") == "STMT_FETCH")
        .collect();
    assert_eq!(fetches[0]["response"]["rows"], 5);
    assert_eq!(fetches[1]["response"]["rows"], 15);
    assert_eq!(execs[26]["response"]["error_code"], 1062);
    let bulk = t
        .txs
        .iter()
        .find(|x| s(x, "command") == "STMT_BULK_EXECUTE")
        .unwrap();
    assert_eq!(bulk["request"]["rows"], 3);
    assert_eq!(bulk["request"]["params"][1]["value"], "bulk-0");
    assert_eq!(
        t.txs
            .iter()
            .filter(|x| s(x, "command") == "STMT_CLOSE")
            .count(),
        6
    );
    assert!(t.txs.iter().any(|x| s(x, "command") == "STMT_RESET"));
}

#[test]
fn every_command() {
    let Some(c) = run("raw-commands.pcap") else {
        return;
    };
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let names: Vec<&str> = c.txs.iter().map(|x| s(x, "command")).collect();
    for want in [
        "FIELD_LIST",
        "PROCESS_INFO",
        "STATISTICS",
        "PING",
        "REFRESH",
        "DEBUG",
        "SET_OPTION",
        "RESET_CONNECTION",
        "CREATE_DB",
        "DROP_DB",
        "INIT_DB",
        "PROCESS_KILL",
        "CHANGE_USER",
        "UNKNOWN",
        "QUIT",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let fl = c
        .txs
        .iter()
        .find(|x| s(x, "command") == "FIELD_LIST")
        .unwrap();
    assert_eq!(fl["response"]["column_count"], 5);
    assert_eq!(fl["query"], "items");
    let multi = c
        .txs
        .iter()
        .find(|x| s(x, "query") == "SELECT 1; SELECT 2, 3")
        .unwrap();
    assert_eq!(multi["response"]["result_sets"], 2);
    let cu: Vec<&Value> = c
        .txs
        .iter()
        .filter(|x| s(x, "command") == "CHANGE_USER")
        .collect();
    assert_eq!(cu[0]["status"], "ok");
    assert_eq!(cu[1]["response"]["error_code"], 1045);
    let initdb = c.txs.iter().find(|x| s(x, "query") == "nosuchdb").unwrap();
    assert_eq!(initdb["response"]["error_code"], 1049);
    let kill_self = c
        .txs
        .iter()
        .find(|x| s(x, "query").starts_with("KILL"))
        .unwrap();
    assert_eq!(kill_self["response"]["error_code"], 1927);
}

#[test]
fn logins_multi_results_infile() {
    if let Some(t) = clean("login-fail.pcap") {
        let logins: Vec<&Value> = t.iter().filter(|x| s(x, "command") == "LOGIN").collect();
        let codes: Vec<&Value> = logins
            .iter()
            .map(|l| &l["response"]["error_code"])
            .collect();
        assert_eq!(
            codes,
            [
                &Value::from(1045),
                &Value::from(1049),
                &Value::from(1045),
                &Value::Null
            ]
        );
        assert_eq!(logins[2]["request"]["user"], "nobody");
        assert!(s(logins[0], "error").starts_with("Access denied"));
    }
    if let Some(t) = clean("pymysql.pcap") {
        let call = t
            .iter()
            .find(|x| s(x, "query") == "CALL twosets(3)")
            .unwrap();
        assert_eq!(call["response"]["result_sets"], 3, "{call}");
        assert_eq!(call["response"]["rows"], 3);
        assert_eq!(call["response"]["more_results"][0]["rows"], 1);
        let failing = t
            .iter()
            .find(|x| s(x, "query") == "SELECT 1; SELECT * FROM nope; SELECT 3")
            .unwrap();
        assert_eq!(failing["response"]["error_code"], 1146);
        let many = t
            .iter()
            .find(|x| s(x, "query").starts_with("INSERT INTO loaded"))
            .unwrap();
        assert_eq!(many["response"]["affected_rows"], 10);
        assert_eq!(
            many["fingerprint"],
            "insert into loaded (a, b, c) values(?+)"
        );
    }
    if let Some(t) = clean("multi.pcap") {
        let m = t
            .iter()
            .find(|x| s(x, "query").starts_with("SELECT 1 AS a;"))
            .unwrap();
        assert_eq!(m["response"]["result_sets"], 3);
        let pc = t
            .iter()
            .find(|x| s(x, "command") == "STMT_EXECUTE" && s(x, "query") == "CALL twosets(?)")
            .unwrap();
        assert_eq!(pc["request"]["params"][0]["value"], 2);
        assert!(pc["response"]["result_sets"].as_u64().unwrap() >= 2, "{pc}");
    }
    if let Some(t) = clean("infile.pcap") {
        let l = t
            .iter()
            .find(|x| s(x, "query").starts_with("LOAD DATA"))
            .unwrap();
        assert_eq!(l["request"]["infile"], "/tmp/wiresift-mysql-infile.csv");
        assert!(l["request"]["infile_bytes"].as_u64().unwrap() > 4000, "{l}");
        assert_eq!(l["response"]["affected_rows"], 200);
    }
}

#[test]
fn a_17_mib_row_inside_compressed_packets() {
    let Some(t) = clean("bigrow-compress.pcap") else {
        return;
    };
    let ins = t
        .iter()
        .find(|x| s(x, "query").starts_with("INSERT INTO big"))
        .unwrap();
    assert!(
        ins["request_bytes"].as_u64().unwrap() > 17 * 1024 * 1024,
        "{ins}"
    );
    assert_eq!(ins["response"]["affected_rows"], 1);
    let sel = t
        .iter()
        .find(|x| s(x, "query") == "SELECT id, data FROM big")
        .unwrap();
    assert_eq!(sel["response"]["rows"], 1);
    assert!(sel["response_bytes"].as_u64().unwrap() > 17 * 1024 * 1024);
    // The query text is bounded, with a truncation note.
    assert!(s(ins, "query").len() <= 4096);
    assert!(
        ins["notes"].to_string().contains("truncated"),
        "{}",
        ins["notes"]
    );
}

#[test]
fn lossy_midstream_and_probed_port() {
    if let Some(c) = run("lossy.pcap") {
        assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
        assert!(c.txs.len() > 500, "{}", c.txs.len());
        assert!(c.txs.iter().all(|t| t["status"] == "ok"), "lossy: unpaired");
        assert!(c.txs.iter().any(|t| t["request"]["compression"] == "zlib"));
    }
    if let Some(c) = run("midstream.pcap") {
        // Three connections picked up mid-stream (plain, compressed, prepared): every command
        // after the first complete one is paired; at most one reply per connection precedes
        // its request.
        assert!(c.txs.len() > 300, "{}", c.txs.len());
        let unpaired = c.txs.iter().filter(|t| t["status"] != "ok").count();
        assert!(unpaired <= 3, "{unpaired}");
        let exec = c
            .txs
            .iter()
            .filter(|t| t["command"] == "STMT_EXECUTE")
            .count();
        assert!(exec > 50, "{exec}");
        let conns: std::collections::BTreeSet<u64> = c
            .txs
            .iter()
            .filter(|t| t["command"] == "QUERY")
            .map(|t| t["connection"].as_u64().unwrap())
            .collect();
        assert_eq!(conns.len(), 3);
    }
    if let Some(t) = clean("extraport.pcap") {
        assert_eq!(t.len(), 22);
        assert_eq!(
            t[0]["server"].as_str().unwrap().rsplit(':').next(),
            Some("13306")
        );
    }
}

/// Keep the packets of a pcap (Ethernet, IPv4) whose source address is `src`.
fn one_direction(bytes: &[u8], src: [u8; 4]) -> Vec<u8> {
    let mut out = bytes[..24].to_vec();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        let rec = &bytes[off..off + 16 + incl];
        let frame = &rec[16..];
        if frame.len() >= 34 && frame[12..14] == [8, 0] && frame[26..30] == src {
            out.extend_from_slice(rec);
        }
        off += 16 + incl;
    }
    out
}

const CLIENT: [u8; 4] = [10, 77, 0, 2];
const SERVER: [u8; 4] = [10, 77, 0, 1];

#[test]
fn client_only_captures_keep_every_request() {
    for name in [
        "text.pcap",
        "prepared.pcap",
        "raw-types.pcap",
        "text-compress.pcap",
        "pymysql.pcap",
    ] {
        let Ok(bytes) = std::fs::read(path(name)) else {
            return;
        };
        let both = run_bytes(bytes.clone()).txs;
        let one = run_bytes(one_direction(&bytes, CLIENT)).txs;
        assert_eq!(one.len(), both.len(), "{name}");
        for (a, b) in both.iter().zip(&one) {
            assert_eq!(a["command"], b["command"], "{name}");
            assert_eq!(a["query"], b["query"], "{name}");
            let mut ra = a["request"].clone();
            if let Some(m) = ra.as_object_mut() {
                m.remove("infile");
            }
            assert_eq!(ra, b["request"], "{name}: {a}\n{b}");
            let want = if a.get("response").is_some() {
                "no_response"
            } else {
                "ok"
            };
            assert_eq!(b["status"], want, "{name}: {b}");
        }
    }
}

#[test]
fn server_only_captures_keep_every_reply() {
    for name in [
        "text.pcap",
        "prepared.pcap",
        "text-compress.pcap",
        "pymysql.pcap",
    ] {
        let Ok(bytes) = std::fs::read(path(name)) else {
            return;
        };
        let both = run_bytes(bytes.clone()).txs;
        let one = run_bytes(one_direction(&bytes, SERVER)).txs;
        let answered: Vec<&Value> = both
            .iter()
            .filter(|t| t.get("response").is_some())
            .collect();
        assert_eq!(one.len(), answered.len(), "{name}");
        for (a, b) in answered.iter().zip(&one) {
            assert_eq!(b["status"], "no_request", "{name}: {b}");
            if a["command"] == "STATISTICS" {
                continue; // a bare string: not recognisable without the request
            }
            for k in [
                "error_code",
                "rows",
                "column_count",
                "affected_rows",
                "columns",
                "result_sets",
            ] {
                assert_eq!(a["response"][k], b["response"][k], "{name} {k}: {a}\n{b}");
            }
        }
    }
}

fn shared_mysql() -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/mysql");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    v.retain(|p| {
        matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        )
    });
    v.sort();
    Some(v)
}

#[test]
fn every_public_capture_is_dissected_or_counted() {
    let Some(files) = shared_mysql() else {
        eprintln!("../shared/pcaps/mysql not present: skipped");
        return;
    };
    assert_eq!(files.len(), 46);
    let mut total = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let c = run_bytes(std::fs::read(f).unwrap());
        total += c.txs.len();
        for (id, proto, bytes) in &c.conns {
            assert!(
                proto.is_some() || *bytes == 0 || c.encrypted > 0,
                "{name}: connection {id:?} ({bytes} bytes) not dissected"
            );
        }
        assert!(!c.txs.is_empty(), "{name}: no transaction");
        let tls = [
            "arkime__mysql-tls.pcap",
            "ndpi__mysql-8.pcap",
            "ndpi__mysql.pcapng",
            "zeek__encrypted.pcap",
            "zeek__tls-12-amazon-rds.pcap",
            "zeek__tls-13-amazon-rds.pcap",
        ];
        assert_eq!(c.encrypted > 0, tls.contains(&name.as_str()), "{name}: TLS");
    }
    eprintln!("{} public captures, {total} transactions", files.len());
}

#[test]
fn public_capture_specifics() {
    let Some(files) = shared_mysql() else { return };
    let get =
        |n: &str| run_bytes(std::fs::read(files.iter().find(|f| f.ends_with(n)).unwrap()).unwrap());
    let c = get("zeek__caching_sha2_password.pcap");
    assert!(c.txs.iter().any(|t| t["response"]["auth_steps"]
        .to_string()
        .contains("fast_auth_success")
        || t["response"]["auth_steps"]
            .to_string()
            .contains("full_authentication")));
    let c = get("zeek__mysql8-navicat-login-failed.pcap");
    assert_eq!(c.txs[0]["response"]["error_code"], 1045);
    let c = get("zeek__query-attr.pcap");
    assert!(
        c.txs.iter().any(|t| t["request"]["attributes"].is_array()),
        "query attributes"
    );
    let c = get("deepflow__mysql-compressed-response.pcap");
    assert_eq!(c.txs[0]["status"], "ok");
    assert!(c.txs[0]["response"]["rows"].as_u64().unwrap() > 0);
    let c = get("zeek__mysql-on-port-5432.pcap");
    assert!(c.txs.len() >= 5);
}

#[test]
fn redacted_output_has_no_literals() {
    use wiresift::redact::Redact;
    #[derive(Default)]
    struct Lines(Vec<String>);
    impl Output for Lines {
        fn transaction(&mut self, tx: &Transaction) {
            self.0.push(serde_json::to_string(tx).unwrap());
        }
    }
    for name in ["text.pcap", "raw-types.pcap", "prepared.pcap"] {
        let Ok(bytes) = std::fs::read(path(name)) else {
            return;
        };
        let mut e = Engine::new(
            EngineConfig::default(),
            wiresift::default_registry(),
            Redact(Lines::default()),
        );
        e.run(
            &mut CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes))).unwrap(),
            |_| {},
        )
        .unwrap();
        let lines = e.into_output().0 .0;
        assert!(lines.len() > 10);
        for l in &lines {
            for secret in [
                "item-01",
                "snowman",
                "héllo",
                "12345.678",
                "98765",
                "2024-02-29",
            ] {
                assert!(!l.contains(secret), "{name}: {secret} in {l}");
            }
            let v: Value = serde_json::from_str(l).unwrap();
            for p in v["request"]["params"].as_array().into_iter().flatten() {
                assert!(p["value"].is_null(), "{name}: {l}");
            }
            if let Some(f) = v.get("fingerprint") {
                assert_eq!(&v["query"], f);
            }
        }
    }
}

/// The uncompressed 17 MiB row (`bash testdata/gen/mysql-large.sh`, not committed): packets of
/// 16 MiB and more joined from 0xFFFFFF chunks, counted, never buffered whole.
#[test]
fn a_17_mib_row_uncompressed_when_generated() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/large/mysql-bigrow.pcap");
    let Ok(bytes) = std::fs::read(&p) else {
        eprintln!(
            "skipping: {} not present (bash testdata/gen/mysql-large.sh)",
            p.display()
        );
        return;
    };
    let c = run_bytes(bytes);
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let ins = c
        .txs
        .iter()
        .find(|x| s(x, "query").starts_with("INSERT INTO big"))
        .unwrap();
    assert!(ins["request_bytes"].as_u64().unwrap() > 17 * 1024 * 1024);
    assert_eq!(ins["response"]["affected_rows"], 1);
    let sel = c
        .txs
        .iter()
        .find(|x| s(x, "query") == "SELECT id, data FROM big")
        .unwrap();
    assert_eq!(sel["response"]["rows"], 1);
    assert!(sel["response_bytes"].as_u64().unwrap() > 17 * 1024 * 1024);
    let len = c
        .txs
        .iter()
        .find(|x| s(x, "query") == "SELECT LENGTH(data) FROM big")
        .unwrap();
    assert_eq!(len["status"], "ok");
}

#[test]
fn replication_stream_from_a_real_primary() {
    // Port 3310 is not MySQL's: the greeting is found by the probe.
    let Some(c) = run("replication.pcap") else {
        return;
    };
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let kinds = |k: &str| c.msgs.iter().filter(|m| m["kind"] == k).count();
    assert_eq!(kinds("binlog_dump"), 1);
    // 20 INSERTs (GTID + QUERY + XID events each), the DDL, format description, heartbeats.
    assert!(kinds("binlog_event") >= 60, "{}", kinds("binlog_event"));
    let repl: Vec<&Value> = c
        .txs
        .iter()
        .filter(|t| t["connection"] == c.txs[0]["connection"])
        .collect();
    assert_eq!(repl[0]["command"], "LOGIN");
    assert_eq!(repl.last().unwrap()["command"], "REGISTER_SLAVE");
    assert!(repl.iter().all(|t| t["status"] == "ok"));
    // The other connection on the same port is an ordinary client.
    assert!(c
        .txs
        .iter()
        .any(|t| t["query"] == "SELECT 1" && t["status"] == "ok"));
}
