//! RESP through the whole pipeline (capture → reassembly → `wiresift-resp`) over the real
//! redis-server captures in `testdata/resp/` (made by `testdata/gen/resp.sh`, see its header for
//! what each holds).
//!
//! The reference comparison (tshark-reassembled streams decoded by redis-py's RESP2/RESP3
//! parsers: command names and error replies per connection) needs tshark and redis-py, so it is
//! a tool, not a test: `crates/wiresift-resp/tools/crosscheck.py testdata/resp/*.pcap`
//! (12,893/12,893 requests and 36/36 error replies agree when this test was written). This test
//! pins what the captures prove without external tools: no parse anomaly, nothing unpaired,
//! replication and pub/sub never mispaired, secrets never printed, large values bounded.

mod collect;

use collect::Collect;
use wiresift::core::{Direction, OwnedMessage, OwnedTransaction, Status};

fn run(name: &str) -> Option<Collect> {
    let mut reg = wiresift::default_registry();
    wiresift::parse_port_spec(&mut reg, "resp=7101").unwrap();
    let c = collect::run_testdata("resp", name, reg)?;
    assert!(c.anomalies.is_empty(), "{name}: {:?}", c.anomalies);
    for t in &c.txs {
        assert!(
            matches!(t.status, Status::Ok | Status::Error),
            "{name}: unpaired {t:?}"
        );
        assert!(t.latency_us.is_some(), "{name}: {t:?}");
        assert_eq!(
            t.error.is_some(),
            t.status == Status::Error,
            "{name}: {t:?}"
        );
    }
    Some(c)
}

fn commands(c: &Collect) -> Vec<&str> {
    c.txs.iter().map(|t| t.command.as_str()).collect()
}

#[test]
fn plain_pipeline_multi_nonstd() {
    let Some(c) = run("plain.pcap") else { return };
    assert_eq!(c.txs.len(), 32);
    assert!(
        c.txs
            .iter()
            .any(|t| t.status == Status::Error
                && t.error.as_deref().unwrap().starts_with("WRONGTYPE"))
    );
    let Some(c) = run("pipeline.pcap") else {
        return;
    };
    assert_eq!(c.txs.len(), 204);
    let Some(c) = run("multi.pcap") else { return };
    let exec: Vec<&OwnedTransaction> = c.txs.iter().filter(|t| t.command == "EXEC").collect();
    assert_eq!(exec.len(), 4);
    assert_eq!(exec[0].response_value()["type"], "array");
    assert!(exec[1].error.as_deref().unwrap().starts_with("EXECABORT"));
    assert_eq!(
        c.txs
            .iter()
            .filter(|t| t.response_value()["value"] == "QUEUED")
            .count(),
        7
    );
    let Some(c) = run("nonstd-port.pcap") else {
        return;
    };
    assert_eq!(c.txs.len(), 8);
}

#[test]
fn lossy_runs_pair_everything() {
    for f in ["lossy.pcap", "lossy-client.pcap"] {
        let Some(c) = run(f) else { return };
        assert_eq!(c.txs.len(), 6018, "{f}");
        assert!(c.txs.iter().all(|t| t.status == Status::Ok), "{f}");
        for cmd in ["SET", "GET", "INCR", "LPUSH"] {
            // redis-benchmark -n 1500 per test (plus its own set-up commands).
            let n = commands(&c).iter().filter(|&&x| x == cmd).count();
            assert!((1500..1510).contains(&n), "{f} {cmd} {n}");
        }
    }
}

#[test]
fn replication_is_never_paired() {
    for f in ["replication.pcap", "replication-diskless.pcap"] {
        let Some(c) = run(f) else { return };
        // The replica's connection: handshake transactions only, PSYNC last.
        let psync = c.txs.iter().find(|t| t.command == "PSYNC").expect("PSYNC");
        let repl: Vec<&str> = c
            .txs
            .iter()
            .filter(|t| t.connection == psync.connection)
            .map(|t| t.command.as_str())
            .collect();
        assert_eq!(repl, vec!["PING", "REPLCONF", "REPLCONF", "PSYNC"], "{f}");
        assert!(psync.response_value()["value"]
            .as_str()
            .unwrap()
            .starts_with("FULLRESYNC"));
        let m: Vec<&OwnedMessage> = c.msgs.iter().filter(|m| m.kind == "replication").collect();
        assert!(m[0].summary.starts_with("RDB payload ("), "{f}: {:?}", m[0]);
        let acks = m
            .iter()
            .filter(|m| {
                m.direction == Direction::ClientToServer && m.summary.starts_with("REPLCONF ACK")
            })
            .count();
        let pings = m
            .iter()
            .filter(|m| {
                m.direction == Direction::ServerToClient && m.summary.eq_ignore_ascii_case("PING")
            })
            .count();
        assert!(acks >= 2 && pings >= 2, "{f}: {acks} acks, {pings} pings");
        assert!(m
            .iter()
            .any(|m| m.direction == Direction::ServerToClient && m.summary.starts_with("SET ")));
    }
}

#[test]
fn pubsub_and_resp3_pushes() {
    let Some(c) = run("pubsub.pcap") else { return };
    let pushes: Vec<&OwnedMessage> = c.msgs.iter().filter(|m| m.kind == "push").collect();
    assert_eq!(pushes.len(), 5, "{pushes:?}");
    let sub = c
        .txs
        .iter()
        .find(|t| t.query == "SUBSCRIBE ch1 ch2")
        .unwrap();
    assert_eq!(sub.response_value()["len"], 2);
    let Some(c) = run("resp3.pcap") else { return };
    assert!(c
        .msgs
        .iter()
        .any(|m| m.kind == "push" && m.summary.starts_with("[invalidate")));
    let attrib = c
        .txs
        .iter()
        .find(|t| t.query == "DEBUG PROTOCOL attrib")
        .unwrap();
    assert!(attrib.response_value().get("attributes").is_some());
}

#[test]
fn monitor_lines_are_messages() {
    let Some(c) = run("monitor.pcap") else { return };
    let mon = c.msgs.iter().filter(|m| m.kind == "monitor").count();
    assert_eq!(mon, 21);
    assert_eq!(commands(&c).iter().filter(|&&x| x == "MONITOR").count(), 1);
}

#[test]
fn secrets_never_printed() {
    let Some(c) = run("auth.pcap") else { return };
    let all = serde_json::to_string(&c.txs).unwrap() + &serde_json::to_string(&c.msgs).unwrap();
    assert!(!all.contains("s3cr3t"), "password in output");
    assert!(all.contains("(redacted)"));
    assert!(c.txs.iter().any(|t| t
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("WRONGPASS"))));
}

#[test]
fn large_values_bounded_and_midstream() {
    let Some(c) = run("bigvalue.pcap") else {
        return;
    };
    let gets: Vec<&OwnedTransaction> = c.txs.iter().filter(|t| t.command == "GET").collect();
    assert_eq!(gets[0].response_value()["len"], 1_000_000);
    assert_eq!(gets[1].response_value()["len"], 1_500_000);
    let set = c.txs.iter().find(|t| t.command == "SET").unwrap();
    assert!(set.request_bytes > 1_000_000);
    assert!(serde_json::to_string(set).unwrap().len() < 4096);
    let Some(c) = run("midstream.pcap") else {
        return;
    };
    assert_eq!(c.txs.len(), 228);
}
