//! Sessions built from the documented layouts: zstd compression (a real zstd encoder), the
//! caching_sha2_password fast and full paths, a replication stream, budgets.

use super::*;
use wiresift_core::{ConnectionId, Duration, Endpoint, SessionEvent};

fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

fn greeting(caps: u32, plugin: &str) -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"8.0.36\0");
    g.extend_from_slice(&7u32.to_le_bytes());
    g.extend_from_slice(b"abcdefgh\0");
    g.extend_from_slice(&(caps as u16).to_le_bytes());
    g.push(0xff);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(b"ijklmnopqrst\0");
    g.extend_from_slice(plugin.as_bytes());
    g.push(0);
    pkt(0, &g)
}

fn login(caps: u32, plugin: &str, zstd_level: Option<u8>) -> Vec<u8> {
    let mut l = caps.to_le_bytes().to_vec();
    l.extend_from_slice(&(1u32 << 24).to_le_bytes());
    l.push(45);
    l.extend_from_slice(&[0; 23]);
    l.extend_from_slice(b"app\0");
    l.push(20);
    l.extend_from_slice(&[0x5a; 20]); // auth data: never reported
    l.extend_from_slice(b"shop\0");
    l.extend_from_slice(plugin.as_bytes());
    l.push(0);
    if let Some(z) = zstd_level {
        l.push(z);
    }
    pkt(1, &l)
}

const BASE: u32 = (cap::PROTOCOL_41
    | cap::SECURE_CONNECTION
    | cap::PLUGIN_AUTH
    | cap::CONNECT_WITH_DB
    | cap::DEPRECATE_EOF) as u32;

fn conn() -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 3306),
        start: Timestamp(0),
        midstream: false,
    }
}

fn run(steps: &[(Direction, Vec<u8>)]) -> Vec<serde_json::Value> {
    let mut s = MysqlSession::new(&conn(), Config::default());
    let mut out: Vec<SessionEvent> = Vec::new();
    for (i, (dir, d)) in steps.iter().enumerate() {
        let c = StreamChunk {
            dir: *dir,
            ts: Timestamp(i as u64 * 1000),
            data: d,
            held: Duration(0),
        };
        s.on_data(&c, &mut out);
    }
    s.on_close(Timestamp(1 << 40), CloseReason::Fin, &mut out);
    out.iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn zstd_packet(seq: u8, inner: &[u8]) -> Vec<u8> {
    let z = zstd::bulk::compress(inner, 3).unwrap();
    let mut v = (z.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(&(inner.len() as u32).to_le_bytes()[..3]);
    v.extend_from_slice(&z);
    v
}

fn result_set(rows: usize) -> Vec<u8> {
    let mut r = pkt(1, b"\x01");
    let mut col = b"\x03def\x02db\x01t\x01t\x01c\x01c\x0c".to_vec();
    col.extend_from_slice(&[8, 0, 0xff, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0]);
    r.extend(pkt(2, &col));
    for i in 0..rows {
        let mut row = vec![200u8];
        row.extend(std::iter::repeat_n(b'a' + i as u8, 200));
        r.extend(pkt(3 + i as u8, &row));
    }
    r.extend(pkt(3 + rows as u8, b"\xfe\x00\x00\x02\x00\x00\x00"));
    r
}

#[test]
fn zstd_compressed_connection() {
    let caps = BASE | cap::ZSTD as u32;
    let q = pkt(
        0,
        b"\x03SELECT c FROM t WHERE c LIKE 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%'",
    );
    let ev = run(&[
        (S2C, greeting(caps, "caching_sha2_password")),
        (C2S, login(caps, "caching_sha2_password", Some(3))),
        (S2C, pkt(2, b"\x01\x03")), // fast_auth_success
        (S2C, pkt(3, b"\x00\x00\x00\x02\x00\x00\x00")),
        (C2S, zstd_packet(0, &q)),
        (S2C, zstd_packet(1, &result_set(3))),
        (C2S, zstd_packet(0, &pkt(0, b"\x01"))),
    ]);
    let txs: Vec<&serde_json::Value> = ev.iter().filter(|e| e["type"] == "transaction").collect();
    assert_eq!(txs.len(), 3, "{ev:?}");
    assert_eq!(txs[0]["command"], "LOGIN");
    assert_eq!(txs[0]["request"]["compression"], "zstd");
    assert_eq!(txs[0]["request"]["user"], "app");
    assert!(
        !txs[0].to_string().contains("ZZZZ"),
        "auth data never reported"
    );
    assert_eq!(txs[0]["response"]["auth_steps"][0], "fast_auth_success");
    assert_eq!(txs[1]["command"], "QUERY");
    assert_eq!(txs[1]["response"]["rows"], 3);
    assert_eq!(txs[1]["status"], "ok");
    assert_eq!(txs[2]["command"], "QUIT");
    assert!(ev.iter().all(|e| e["type"] != "anomaly"), "{ev:?}");
}

#[test]
fn caching_sha2_full_authentication_and_auth_switch() {
    let ev = run(&[
        (S2C, greeting(BASE, "mysql_native_password")),
        (C2S, login(BASE, "mysql_native_password", None)),
        (
            S2C,
            pkt(2, b"\xfecaching_sha2_password\0abcdefghijklmnopqrst\0"),
        ),
        (C2S, pkt(3, &[0x11; 32])),
        (S2C, pkt(4, b"\x01\x04")),
        (C2S, pkt(5, b"\x02")), // request the public key
        (S2C, pkt(6, b"\x01-----BEGIN PUBLIC KEY-----\n...")),
        (C2S, pkt(7, &[0x22; 256])),
        (
            S2C,
            pkt(8, b"\xff\x15\x04#28000Access denied for user 'app'"),
        ),
    ]);
    let login = &ev[0];
    assert_eq!(login["command"], "LOGIN");
    assert_eq!(login["status"], "error");
    assert_eq!(login["response"]["error_code"], 1045);
    assert_eq!(login["response"]["auth_plugin"], "caching_sha2_password");
    let steps: Vec<&str> = login["response"]["auth_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(steps, ["auth_switch", "full_authentication", "more_data"]);
    assert!(login["request_bytes"].as_u64().unwrap() > 300);
}

#[test]
fn replication_stream_is_messages() {
    let mut dump = vec![0x12];
    dump.extend_from_slice(&4u32.to_le_bytes());
    dump.extend_from_slice(&0u16.to_le_bytes());
    dump.extend_from_slice(&2u32.to_le_bytes());
    dump.extend_from_slice(b"binlog.000001");
    let event = |t: u8| {
        let mut e = vec![0u8];
        e.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        e.push(t);
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&40u32.to_le_bytes());
        e.extend_from_slice(&120u32.to_le_bytes());
        e.extend_from_slice(&[0; 21]);
        e
    };
    let mut srv = pkt(1, &event(15));
    srv.extend(pkt(2, &event(2)));
    srv.extend(pkt(3, &event(16)));
    let ev = run(&[
        (S2C, greeting(BASE, "mysql_native_password")),
        (C2S, login(BASE, "mysql_native_password", None)),
        (S2C, pkt(2, b"\x00\x00\x00\x02\x00\x00\x00")),
        (C2S, pkt(0, &dump)),
        (S2C, srv),
    ]);
    let kinds: Vec<&str> = ev
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "binlog_dump",
            "binlog_event",
            "binlog_event",
            "binlog_event"
        ]
    );
    assert_eq!(
        ev.iter().filter(|e| e["type"] == "transaction").count(),
        1,
        "only the LOGIN"
    );
    assert!(ev.iter().all(|e| e["type"] != "anomaly"));
}

#[test]
fn pending_and_statement_limits_report_not_grow() {
    let cfg = Config {
        max_pending: 4,
        max_statements: 2,
        ..Config::default()
    };
    let mut s = MysqlSession::new(&conn(), cfg);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0;
    let mut feed = |s: &mut MysqlSession, dir, d: &[u8], out: &mut Vec<SessionEvent>| {
        t += 1000;
        s.on_data(
            &StreamChunk {
                dir,
                ts: Timestamp(t),
                data: d,
                held: Duration(0),
            },
            out,
        );
    };
    feed(&mut s, S2C, &greeting(BASE, "x"), &mut out);
    feed(&mut s, C2S, &login(BASE, "x", None), &mut out);
    feed(
        &mut s,
        S2C,
        &pkt(2, b"\x00\x00\x00\x02\x00\x00\x00"),
        &mut out,
    );
    // Three statements prepared; only two are kept, the oldest is evicted.
    for (i, sql) in ["SELECT ?", "SELECT ?, ?", "SELECT ?, ?, ?"]
        .iter()
        .enumerate()
    {
        let mut p = vec![0x16];
        p.extend_from_slice(sql.as_bytes());
        feed(&mut s, C2S, &pkt(0, &p), &mut out);
        let mut ok = vec![0u8];
        ok.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        ok.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]);
        feed(&mut s, S2C, &pkt(1, &ok), &mut out);
    }
    assert_eq!(s.logic.stmts.len(), 2);
    assert!(!s.logic.stmts.contains_key(&1));
    // Ten pipelined pings with no reply: at most 4 pending, the rest reported early.
    for _ in 0..10 {
        feed(&mut s, C2S, &pkt(0, b"\x0e"), &mut out);
    }
    assert!(s.logic.pending.len() <= 4);
    let early = out
        .iter()
        .filter(|e| {
            serde_json::to_string(e)
                .unwrap()
                .contains("pending-request limit")
        })
        .count();
    assert_eq!(early, 6);
}

#[test]
fn statement_state_is_bounded_in_bytes_and_unknown_statements_get_a_note() {
    let cfg = Config {
        max_statement_bytes: 64 * 1024,
        ..Config::default()
    };
    let mut s = MysqlSession::new(&conn(), cfg);
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0;
    let mut feed = |s: &mut MysqlSession, dir, d: &[u8], out: &mut Vec<SessionEvent>| {
        t += 1000;
        s.on_data(
            &StreamChunk {
                dir,
                ts: Timestamp(t),
                data: d,
                held: Duration(0),
            },
            out,
        );
    };
    feed(&mut s, S2C, &greeting(BASE, "x"), &mut out);
    feed(&mut s, C2S, &login(BASE, "x", None), &mut out);
    feed(
        &mut s,
        S2C,
        &pkt(2, b"\x00\x00\x00\x02\x00\x00\x00"),
        &mut out,
    );
    // 500 statements of 4 KiB SQL each, never closed: 2 MB declared, 64 KiB kept.
    let sql = format!("SELECT '{}', ?", "x".repeat(4000));
    for i in 0..500u32 {
        let mut p = vec![0x16];
        p.extend_from_slice(sql.as_bytes());
        feed(&mut s, C2S, &pkt(0, &p), &mut out);
        let mut ok = vec![0u8];
        ok.extend_from_slice(&(i + 1).to_le_bytes());
        ok.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0]);
        feed(&mut s, S2C, &pkt(1, &ok), &mut out);
        // One parameter definition, then (no DEPRECATE_EOF here? it is set) nothing more.
        let mut col = b"\x03def\x00\x00\x00\x01?\x00\x0c".to_vec();
        col.extend_from_slice(&[63, 0, 0, 0, 0, 0, 6, 0x80, 0, 0, 0, 0]);
        feed(&mut s, S2C, &pkt(2, &col), &mut out);
        out.clear();
    }
    assert!(s.logic.stmt_bytes <= 64 * 1024, "{}", s.logic.stmt_bytes);
    assert!(s.logic.stmts.len() < 20);
    assert!(s.logic.evicted > 480);
    // An execute of an evicted statement keeps its id and says why nothing is decoded.
    let mut e = vec![0x17];
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 3, 0, 7, 0, 0, 0]);
    feed(&mut s, C2S, &pkt(0, &e), &mut out);
    feed(
        &mut s,
        S2C,
        &pkt(1, b"\x00\x01\x00\x02\x00\x00\x00"),
        &mut out,
    );
    let tx = serde_json::to_value(&out[0]).unwrap();
    assert_eq!(tx["command"], "STMT_EXECUTE");
    assert_eq!(tx["request"]["statement_id"], 1);
    assert!(
        tx["notes"]
            .to_string()
            .contains("prepared before the capture (or evicted)"),
        "{tx}"
    );
    assert_eq!(tx["response"]["affected_rows"], 1);
}
