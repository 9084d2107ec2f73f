//! One-sided captures (issue 13 §1): every committed SMTP and RESP capture is run three times,
//! as captured, with only the client's packets and with only the server's packets (the
//! packets are filtered in the test, exactly as `tshark -Y 'ip.src==…'` would; the tshark-made
//! captures of `testdata/tunnel/one-sided/` are checked the same way, and against Zeek's
//! `smtp.log` for traces of that shape).
//!
//! - Client side only: the transactions with a request are the same as in the two-sided run
//!   (same count, command, query, request detail and request size), minus what only replies
//!   tell (the MESSAGE's `mail_code` and recipients' codes), and all are `no_response`.
//! - Server side only: every reply is reported, with the same response detail (RESP) or the
//!   same reply codes in the same order (SMTP, whose two-sided run folds the `354` of DATA and
//!   the `334`s of AUTH into one transaction), as `no_request` (the SMTP greeting is the
//!   greeting either way).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use wiresift::core::{Endpoint, OwnedTransaction, Status, Transaction};
use wiresift::net::{CaptureReader, Decoder, DecoderConfig};
use wiresift::{ConnectionSummary, Engine, EngineConfig, Output};

#[derive(Default)]
struct Collect {
    txs: Vec<OwnedTransaction>,
    servers: BTreeSet<Endpoint>,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        self.txs.push(tx.to_owned());
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        self.servers.insert(c.info.server);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Both,
    Client,
    Server,
    /// Both sides, but each connection's server side only up to its second data packet (the
    /// SMTP greeting and EHLO reply): after that the server direction is lost in a gap.
    ServerCut,
}

fn registry() -> wiresift::core::Registry {
    let mut reg = wiresift::default_registry();
    // Non-default server ports used by the committed captures.
    wiresift::parse_port_spec(&mut reg, "smtp=2526,1224").unwrap();
    wiresift::parse_port_spec(&mut reg, "resp=7101,6390").unwrap();
    reg
}

/// Run `path` through the engine, keeping only the packets of `side` (`servers`: the server
/// endpoints of the two-sided run).
fn run(path: &Path, side: Side, servers: &BTreeSet<Endpoint>) -> Collect {
    let mut engine = Engine::new(EngineConfig::default(), registry(), Collect::default());
    let mut reader = CaptureReader::open(path).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut server_packets: BTreeMap<(Endpoint, Endpoint), u32> = BTreeMap::new();
    while let Ok(Some(pkt)) = reader.next_packet() {
        let keep = match side {
            Side::Both => true,
            _ => match dec.decode(&pkt) {
                Some(seg) if side == Side::Client => servers.contains(&seg.dst),
                Some(seg) if side == Side::Server => servers.contains(&seg.src),
                Some(seg) if servers.contains(&seg.src) && !seg.payload.is_empty() => {
                    let n = server_packets.entry((seg.src, seg.dst)).or_default();
                    *n += 1;
                    *n <= 2
                }
                Some(_) => true,
                None => false,
            },
        };
        if keep {
            engine.process_packet(&pkt);
        }
    }
    engine.finish();
    engine.into_output()
}

/// Client, command, query, request detail, request bytes.
type RequestKey = (Endpoint, String, String, Value, u64);

/// What a request is, without what only the reply tells.
fn request_key(t: &OwnedTransaction) -> RequestKey {
    let mut req = t.request_value();
    if t.protocol == "smtp" && t.command == "MESSAGE" {
        req["mail_code"] = Value::Null;
        if let Some(rs) = req.get_mut("recipients").and_then(Value::as_array_mut) {
            for r in rs {
                r["code"] = Value::Null;
            }
        }
    }
    (
        t.client,
        t.command.clone(),
        t.query.clone(),
        req,
        t.request_bytes,
    )
}

fn has_request(t: &OwnedTransaction) -> bool {
    t.request_bytes > 0 || t.command == "MESSAGE"
}

/// Requests per client endpoint, in time order.
fn requests(c: &Collect) -> BTreeMap<Endpoint, Vec<(u64, RequestKey)>> {
    let mut m: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for t in c.txs.iter().filter(|t| has_request(t)) {
        m.entry(t.client)
            .or_default()
            .push((t.ts.0, request_key(t)));
    }
    for v in m.values_mut() {
        v.sort_by(|a, b| (a.0, &a.1 .1).cmp(&(b.0, &b.1 .1)));
    }
    m
}

/// What each reply is, in order per client endpoint: SMTP reply codes (interim ones first),
/// RESP response detail.
fn replies(c: &Collect, two_sided: bool) -> BTreeMap<Endpoint, Vec<Value>> {
    let mut m: BTreeMap<Endpoint, Vec<(u64, Value)>> = BTreeMap::new();
    for t in &c.txs {
        if t.protocol == "smtp" && t.command == "MESSAGE" {
            continue;
        }
        let r = t.response_value();
        if r.is_null() {
            continue;
        }
        let v = m.entry(t.client).or_default();
        // Order by the reply's time: a two-sided transaction starts at its request.
        let at = t.end_ts.0;
        if t.protocol == "smtp" {
            if two_sided {
                if let Some(i) = r.get("intermediate").filter(|i| !i.is_null()) {
                    v.push((at, i["code"].clone()));
                }
                for _ in 0..r["challenges"].as_u64().unwrap_or(0) {
                    v.push((at, Value::from(334)));
                }
            }
            v.push((at, r["code"].clone()));
        } else if r["type"] == "confirmations" {
            // Grouped per SUBSCRIBE two-sided, one per reply without the request.
            for c in r["value"].as_array().cloned().unwrap_or_default() {
                v.push((at, c));
            }
        } else if is_confirmation(&r) {
            v.push((at, r["value"].clone()));
        } else {
            v.push((at, r));
        }
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|x| x.0);
            (k, v.into_iter().map(|x| x.1).collect())
        })
        .collect()
}

/// A subscribe-family confirmation reply (`["subscribe", "ch", 1]`).
fn is_confirmation(r: &Value) -> bool {
    let Some(v) = r["value"].as_array() else {
        return false;
    };
    v.len() == 3 && v[0].as_str().is_some_and(|k| k.ends_with("subscribe")) && v[2].is_number()
}

fn captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    v.push(PathBuf::from("testdata/tunnel/direct.pcap"));
    for dir in ["testdata/smtp", "testdata/resp"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn client_side_only_gives_every_request_with_its_detail() {
    let mut failures = Vec::new();
    for path in captures() {
        let both = run(&path, Side::Both, &BTreeSet::new());
        let client = run(&path, Side::Client, &both.servers);
        for t in &client.txs {
            if has_request(t) {
                assert_eq!(
                    t.status,
                    Status::NoResponse,
                    "{}: {} {}",
                    path.display(),
                    t.command,
                    t.query
                );
            }
        }
        let (a, b) = (requests(&both), requests(&client));
        for (ep, want) in &a {
            let got = b.get(ep).cloned().unwrap_or_default();
            let want: Vec<_> = want.iter().map(|x| &x.1).collect();
            let got: Vec<_> = got.iter().map(|x| &x.1).collect();
            if want != got {
                failures.push(format!(
                    "{} {ep}: {} requests two-sided, {} client-only; first difference:\n  two-sided   {:?}\n  client-only {:?}",
                    path.display(),
                    want.len(),
                    got.len(),
                    want.iter().zip(&got).find(|(x, y)| x != y).map(|x| x.0).or(want.get(got.len())),
                    want.iter().zip(&got).find(|(x, y)| x != y).map(|x| x.1).or(got.get(want.len())),
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn server_side_only_gives_every_reply_with_its_detail() {
    let mut failures = Vec::new();
    for path in captures() {
        let both = run(&path, Side::Both, &BTreeSet::new());
        let server = run(&path, Side::Server, &both.servers);
        for t in &server.txs {
            assert!(
                t.status == Status::NoRequest || t.command == "GREETING",
                "{}: {:?} {}",
                path.display(),
                t.status,
                t.command
            );
        }
        let (a, b) = (replies(&both, true), replies(&server, false));
        for (ep, want) in &a {
            let got = b.get(ep).cloned().unwrap_or_default();
            if *want != got {
                let i = want.iter().zip(&got).take_while(|(x, y)| x == y).count();
                failures.push(format!(
                    "{} {ep}: {} replies two-sided, {} server-only; first difference at {i}:\n  two-sided   {:?}\n  server-only {:?}",
                    path.display(),
                    want.len(),
                    got.len(),
                    want.get(i),
                    got.get(i),
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The tshark-filtered captures of `testdata/tunnel/` (`direct-client.pcap`,
/// `direct-server.pcap`, see `testdata/gen/tunnel.sh`) give what the in-test filter gives, and
/// what Zeek's `smtp.log` gives for its one-sided traces of that shape (two mails, the second
/// with a ~9 KB attachment): subjects, senders, recipients, message ids.
#[test]
fn tshark_filtered_captures_match_and_give_the_mails() {
    let direct = Path::new("testdata/tunnel/direct.pcap");
    let both = run(direct, Side::Both, &BTreeSet::new());
    for (file, side) in [
        ("testdata/tunnel/direct-client.pcap", Side::Client),
        ("testdata/tunnel/direct-server.pcap", Side::Server),
    ] {
        let filtered = run(direct, side, &both.servers);
        let file = run(Path::new(file), Side::Both, &BTreeSet::new());
        let js = |c: &Collect| -> Vec<String> {
            c.txs
                .iter()
                .map(|t| serde_json::to_string(t).unwrap())
                .collect()
        };
        assert_eq!(js(&file), js(&filtered), "{side:?}");
    }
    let client = run(
        Path::new("testdata/tunnel/direct-client.pcap"),
        Side::Both,
        &BTreeSet::new(),
    );
    let msgs: Vec<Value> = client
        .txs
        .iter()
        .filter(|t| t.command == "MESSAGE")
        .map(|t| t.request_value())
        .collect();
    assert_eq!(msgs.len(), 2);
    for (i, m) in msgs.iter().enumerate() {
        let h = &m["body"]["headers"];
        assert_eq!(h["subject"], format!("Hello{}!", i + 1));
        assert_eq!(h["from"], "alice@example.test");
        assert_eq!(h["message_id"], format!("<tunnel{}@wiresift.test>", i + 1));
        assert_eq!(m["mail_from"], "alice@example.test");
        assert!(m["body"].get("incomplete").is_none());
    }
    let rcpts: Vec<&str> = msgs[1]["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(rcpts, ["bob@example.test", "carol@example.test"]);
    // Body sizes: what the server said it queued (`250 2.0.0 Ok: N bytes queued as …`).
    let queued = both
        .txs
        .iter()
        .filter(|t| t.command == "DATA")
        .map(|t| {
            let line = t.response_value()["lines"][0].as_str().unwrap().to_string();
            let n: u64 = line
                .split_whitespace()
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            Value::from(n)
        })
        .collect::<Vec<_>>();
    assert_eq!(
        msgs.iter()
            .map(|m| m["body"]["bytes"].clone())
            .collect::<Vec<_>>(),
        queued
    );
    assert!(queued[1].as_u64().unwrap() > 9000, "{queued:?}");
    assert!(client.txs.iter().all(|t| t.status == Status::NoResponse));
}

/// The server direction lost in a gap after the EHLO reply (a real capture with the rest of
/// the server's packets dropped): the client side is still read as the client behaves, so
/// every mail keeps its body size and headers.
#[test]
fn server_direction_lost_in_a_gap_keeps_the_mails() {
    let mut checked = 0;
    for path in captures()
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("smtp") || p.ends_with("direct.pcap"))
    {
        let both = run(&path, Side::Both, &BTreeSet::new());
        let cut = run(&path, Side::ServerCut, &both.servers);
        let bodies = |c: &Collect| -> Vec<(Endpoint, Value)> {
            let mut v: Vec<_> = c
                .txs
                .iter()
                .filter(|t| t.protocol == "smtp" && t.command == "MESSAGE")
                .map(|t| (t.client, t.request_value()["body"].clone()))
                .filter(|(_, b)| !b.is_null())
                .collect();
            v.sort_by_key(|x| x.0);
            v
        };
        let (a, b) = (bodies(&both), bodies(&cut));
        // Lossy client sides keep their own gaps; compare only mails complete two-sided.
        let complete: Vec<_> = a
            .iter()
            .filter(|(_, b)| b.get("incomplete").is_none() && b.get("gap_bytes").is_none())
            .collect();
        for m in &complete {
            assert!(
                b.contains(m),
                "{}: {m:?} missing; got {b:?}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} mails checked");
}
