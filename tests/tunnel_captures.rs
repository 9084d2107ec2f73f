//! Proxy tunnels on real captures (`testdata/tunnel/`, made by `testdata/gen/tunnel.sh`: real
//! redis-server and aiosmtpd behind real tinyproxy and dante proxies):
//!
//! - the transactions inside every tunnel are identical to the direct run's (`direct.pcap`),
//!   field for field, apart from the time fields, the connection id and client port, and the
//!   `proxy` field, which names the proxy;
//! - each tunnel set-up is one TUNNEL transaction with the target, the auth method and user,
//!   the proxy's reply and a latency; refusals (407, a wrong SOCKS5 password, a SOCKS4a
//!   request dante rejects) are errors, and no password is printed anywhere;
//! - the flow records say the connection was tunnelled, and the latency report groups the
//!   inner transactions by the real server;
//! - with only the client's packets (a one-sided capture), the tunnel is assumed granted once
//!   the client speaks the protocol inside, and the requests inside are those of the direct
//!   run's client side (all `no_response`);
//! - on the public `arkime__socks5-smtp-503.pcap` (when present), the SMTP inside SOCKS5 is
//!   dissected.

use serde_json::Value;
use std::path::Path;
use wiresift::core::{Endpoint, OwnedTransaction, Status, Transaction};
use wiresift::latency::LatencyReport;
use wiresift::net::{CaptureReader, Decoder, DecoderConfig};
use wiresift::{ConnectionSummary, Engine, EngineConfig, FlowRecord, Output};

#[derive(Default)]
struct Collect {
    txs: Vec<OwnedTransaction>,
    json: Vec<String>,
    flows: Vec<FlowRecord>,
    latency: LatencyReport,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        self.txs.push(tx.to_owned());
        self.json.push(serde_json::to_string(tx).unwrap());
        self.latency.add(tx);
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        let rec = FlowRecord::from_summary(c);
        // The `flows` hot path writes the same bytes as serde.
        let mut fast = Vec::new();
        FlowRecord::write_summary_json(c, &mut fast);
        assert_eq!(fast, serde_json::to_vec(&rec).unwrap());
        self.flows.push(rec);
    }
}

fn run(path: &Path) -> Collect {
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Collect::default(),
    );
    let mut reader = CaptureReader::open(path).unwrap();
    engine.run(&mut reader, |_| {}).unwrap();
    engine.into_output()
}

fn cap(name: &str) -> std::path::PathBuf {
    Path::new("testdata/tunnel").join(name)
}

fn ep(s: &str) -> Endpoint {
    let sa: std::net::SocketAddr = s.parse().unwrap();
    Endpoint::new(sa.ip(), sa.port())
}

/// A transaction as JSON without what differs between runs.
fn comparable(t: &OwnedTransaction) -> Value {
    let mut v = serde_json::to_value(t).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["ts", "time", "latency_us", "connection", "client", "proxy"] {
        o.remove(k);
    }
    // Retransmission notes depend on the run's timing.
    if let Some(Value::Array(notes)) = o.get_mut("notes") {
        notes.retain(|n| n["kind"] != "retransmission_delay");
        if notes.is_empty() {
            o.remove("notes");
        }
    }
    v
}

fn inner(c: &Collect) -> Vec<&OwnedTransaction> {
    c.txs.iter().filter(|t| t.protocol != "tunnel").collect()
}

fn tunnels(c: &Collect) -> Vec<&OwnedTransaction> {
    c.txs.iter().filter(|t| t.protocol == "tunnel").collect()
}

#[test]
fn inner_transactions_equal_the_direct_run_apart_from_the_proxy_field() {
    let direct = run(&cap("direct.pcap"));
    let want: Vec<Value> = inner(&direct).into_iter().map(comparable).collect();
    assert!(want.len() > 20, "direct run: {} transactions", want.len());
    assert!(direct.txs.iter().all(|t| t.proxy.is_none()));
    assert!(direct.json.iter().all(|j| !j.contains("\"proxy\"")));
    for (name, proxy) in [
        ("http-connect.pcap", "10.77.0.1:8888"),
        ("http-connect-auth.pcap", "10.77.0.1:8889"),
        ("socks5.pcap", "10.77.0.1:1080"),
        ("socks5-auth.pcap", "10.77.0.1:1081"),
        ("socks4.pcap", "10.77.0.1:1080"),
    ] {
        let c = run(&cap(name));
        let txs = inner(&c);
        let got: Vec<Value> = txs.iter().map(|t| comparable(t)).collect();
        assert_eq!(got.len(), want.len(), "{name}: transaction count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: transaction {i} differs from the direct run");
        }
        for t in &txs {
            assert_eq!(
                t.proxy,
                Some(ep(proxy)),
                "{name}: {} {}",
                t.command,
                t.query
            );
            assert!(
                t.server == ep("10.77.0.1:6379") || t.server == ep("10.77.0.1:2525"),
                "{name}: server {}",
                t.server
            );
        }
        // `proxy` comes right after `server`, and only inside the tunnel.
        for j in &c.json {
            let tunnel = j.contains("\"protocol\":\"tunnel\"");
            assert_eq!(j.contains(",\"proxy\":"), !tunnel, "{name}: {j}");
            if !tunnel {
                assert!(
                    j.contains(&format!(":2525\",\"proxy\":\"{proxy}\",\"command\""))
                        || j.contains(&format!(":6379\",\"proxy\":\"{proxy}\",\"command\""))
                );
            }
        }
        // The flow records say the connections were tunnelled, and what runs inside.
        let tunnelled: Vec<&FlowRecord> = c.flows.iter().filter(|f| f.tunnel.is_some()).collect();
        assert_eq!(tunnelled.len(), 2, "{name}: tunnelled connections");
        for f in &tunnelled {
            let t = f.tunnel.as_ref().unwrap();
            assert_eq!(t.proxy, ep(proxy));
            assert_eq!(f.server, proxy);
            match t.target.as_str() {
                "10.77.0.1:6379" => assert_eq!(f.protocol, Some("resp")),
                "10.77.0.1:2525" => assert_eq!(f.protocol, Some("smtp")),
                other => panic!("{name}: target {other}"),
            }
        }
        // Latency rows: the real servers for the inner protocols, the proxy for the set-up.
        for row in c.latency.rows() {
            match row.protocol {
                "tunnel" => assert_eq!(row.server, proxy),
                "resp" => assert_eq!(row.server, "10.77.0.1:6379"),
                "smtp" => assert_eq!(row.server, "10.77.0.1:2525"),
                p => panic!("{name}: protocol {p}"),
            }
        }
    }
}

#[test]
fn tunnel_set_ups_are_reported_with_target_auth_reply_and_latency() {
    let secrets = ["pr0xy-pw", "s0cks-pw", "wrong-pw", "YWxpY2U6cHIweHktcHc"];
    // (capture, [(query, status, auth, user, reply code)])
    type Want = (
        &'static str,
        Status,
        Option<&'static str>,
        Option<&'static str>,
        u64,
    );
    let cases: [(&str, Vec<Want>); 5] = [
        (
            "http-connect.pcap",
            vec![
                (
                    "CONNECT 10.77.0.1:6379 HTTP/1.1",
                    Status::Ok,
                    None,
                    None,
                    200,
                ),
                (
                    "CONNECT 10.77.0.1:2525 HTTP/1.1",
                    Status::Ok,
                    None,
                    None,
                    200,
                ),
            ],
        ),
        (
            "http-connect-auth.pcap",
            vec![
                (
                    "CONNECT 10.77.0.1:6379 HTTP/1.1",
                    Status::Error,
                    None,
                    None,
                    407,
                ),
                (
                    "CONNECT 10.77.0.1:6379 HTTP/1.1",
                    Status::Ok,
                    Some("basic"),
                    Some("alice"),
                    200,
                ),
                (
                    "CONNECT 10.77.0.1:2525 HTTP/1.1",
                    Status::Ok,
                    Some("basic"),
                    Some("alice"),
                    200,
                ),
            ],
        ),
        (
            "socks5.pcap",
            vec![
                (
                    "SOCKS5 CONNECT 10.77.0.1:6379",
                    Status::Ok,
                    Some("none"),
                    None,
                    0,
                ),
                (
                    "SOCKS5 CONNECT 10.77.0.1:2525",
                    Status::Ok,
                    Some("none"),
                    None,
                    0,
                ),
            ],
        ),
        (
            "socks5-auth.pcap",
            vec![
                (
                    "SOCKS5",
                    Status::Error,
                    Some("user_password"),
                    Some("wstuproxy"),
                    1,
                ),
                (
                    "SOCKS5 CONNECT 10.77.0.1:6379",
                    Status::Ok,
                    Some("user_password"),
                    Some("wstuproxy"),
                    0,
                ),
                (
                    "SOCKS5 CONNECT 10.77.0.1:2525",
                    Status::Ok,
                    Some("user_password"),
                    Some("wstuproxy"),
                    0,
                ),
            ],
        ),
        (
            "socks4.pcap",
            vec![
                (
                    "SOCKS4 CONNECT 10.77.0.1:6379",
                    Status::Ok,
                    None,
                    Some("wstu"),
                    90,
                ),
                (
                    "SOCKS4 CONNECT 10.77.0.1:2525",
                    Status::Ok,
                    None,
                    Some("wstu"),
                    90,
                ),
                (
                    "SOCKS4A CONNECT 10.77.0.1:2525",
                    Status::Error,
                    None,
                    Some("wstu"),
                    91,
                ),
            ],
        ),
    ];
    for (name, want) in cases {
        let c = run(&cap(name));
        let t = tunnels(&c);
        let got: Vec<Want> = t
            .iter()
            .map(|t| {
                let q = t.request_value();
                let auth = q["auth"]
                    .as_str()
                    .map(|s| -> &'static str { s.to_string().leak() });
                let user = q["user"]
                    .as_str()
                    .map(|s| -> &'static str { s.to_string().leak() });
                (
                    &*t.query.clone().leak(),
                    t.status,
                    auth,
                    user,
                    t.response_value()["code"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}");
        for t in &t {
            assert_eq!(t.command, "TUNNEL");
            assert!(t.latency_us.is_some(), "{name}: {}", t.query);
            assert!(t.request_bytes > 0 && t.response_bytes > 0);
            assert!(t.proxy.is_none());
        }
        for j in &c.json {
            for s in secrets {
                assert!(!j.contains(s), "{name}: {s} printed in {j}");
            }
        }
    }
}

#[test]
fn socks5_smtp_503_public_capture_is_dissected_inside_the_tunnel() {
    let p = Path::new("../shared/pcaps/smtp/arkime__socks5-smtp-503.pcap");
    if !p.exists() {
        eprintln!("skipped: {} not present", p.display());
        return;
    }
    let c = run(p);
    let cmds: Vec<&str> = c.txs.iter().map(|t| t.command.as_str()).collect();
    assert_eq!(cmds, ["TUNNEL", "GREETING", "EHLO", "AUTH"]);
    assert_eq!(c.txs[0].status, Status::Ok);
    assert_eq!(c.txs[0].request_value()["port"], 25);
    // The target is a name here (`010.000.00.003`, anonymised): the server stays the proxy,
    // and the transactions inside say they went through it.
    let proxy = ep("10.0.0.1:1080");
    assert!(c.txs.iter().all(|t| t.server == proxy));
    assert!(c.txs[1..].iter().all(|t| t.proxy == Some(proxy)));
    assert_eq!(c.txs[0].proxy, None);
    assert_eq!(c.txs[3].response_value()["code"], 503);
    assert_eq!(
        c.flows[0].tunnel.as_ref().map(|t| t.target.as_str()),
        Some("010.000.00.003:25")
    );
}

/// `path` with only the packets sent by 10.77.0.2 (the client namespace).
fn run_client_side(path: &Path) -> Collect {
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Collect::default(),
    );
    let mut reader = CaptureReader::open(path).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    let client: std::net::IpAddr = "10.77.0.2".parse().unwrap();
    while let Ok(Some(pkt)) = reader.next_packet() {
        if dec.decode(&pkt).is_some_and(|s| s.src.ip() == client) {
            engine.process_packet(&pkt);
        }
    }
    engine.finish();
    engine.into_output()
}

#[test]
fn client_side_only_tunnels_still_give_the_requests_inside() {
    let key = |t: &&OwnedTransaction| {
        (
            t.server,
            t.command.clone(),
            t.query.clone(),
            t.request_value(),
            t.request_bytes,
            t.status,
        )
    };
    let direct = run_client_side(&cap("direct.pcap"));
    let want: Vec<_> = inner(&direct).iter().map(key).collect();
    assert!(want.len() > 20);
    assert!(direct.txs.iter().all(|t| t.status == Status::NoResponse));
    for name in ["http-connect.pcap", "socks5.pcap", "socks5-auth.pcap"] {
        let c = run_client_side(&cap(name));
        let got: Vec<_> = inner(&c).iter().map(key).collect();
        assert_eq!(got, want, "{name}");
        let t = tunnels(&c);
        assert!(t.iter().all(|t| t.status == Status::NoResponse), "{name}");
        let granted: Vec<&str> = t.iter().map(|t| t.query.as_str()).collect();
        assert!(
            granted.iter().any(|q| q.contains("10.77.0.1:6379"))
                && granted.iter().any(|q| q.contains("10.77.0.1:2525")),
            "{name}: {granted:?}"
        );
    }
}
