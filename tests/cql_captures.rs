//! CQL through the whole pipeline (capture → reassembly → `wiresift-cql`) over the captures in
//! `testdata/cql/` (made by `testdata/gen/cql.sh` against `testdata/gen/cql/responder.py` with
//! the DataStax python driver, scylla-driver and the Node.js driver; see the script's header).
//!
//! The responder encodes ground truth in the traffic itself: a query containing
//! `/* delay=N */` is answered N ms late (so concurrent requests are answered out of order),
//! `err_<family>` selects an error, and the data set has 25 rows (3 pages of 10).

mod collect;

use collect::Collect;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use wiresift::core::{OwnedTransaction, Status};

fn run(name: &str) -> Option<Collect> {
    collect::run_testdata("cql", name, wiresift::default_registry())
}

/// Runs `name`, which must decode without anomaly and with every request answered.
fn clean(name: &str) -> Option<Collect> {
    let c = run(name)?;
    assert!(c.anomalies.is_empty(), "{name}: {:?}", c.anomalies);
    for t in &c.txs {
        assert!(
            matches!(t.status, Status::Ok | Status::Error),
            "{name}: unpaired {}",
            serde_json::to_string(t).unwrap()
        );
    }
    Some(c)
}

fn resp(t: &OwnedTransaction) -> serde_json::Value {
    t.response_value()
}
fn req(t: &OwnedTransaction) -> serde_json::Value {
    t.request_value()
}

const ALL: &[&str] = &[
    "v3.pcap",
    "v3-snappy.pcap",
    "v4.pcap",
    "v4-lz4.pcap",
    "v4-snappy.pcap",
    "v5.pcap",
    "v5-lz4.pcap",
    "auth.pcap",
];

#[test]
fn every_capture_decodes_without_anomaly() {
    for name in ALL {
        let Some(c) = clean(name) else { return };
        let cmds: BTreeSet<&str> = c.txs.iter().map(|t| t.command.as_str()).collect();
        assert!(
            cmds.contains("QUERY") && cmds.contains("STARTUP"),
            "{name}: {cmds:?}"
        );
        assert!(c.txs.len() > 40, "{name}: {}", c.txs.len());
    }
}

/// Replies that the responder delayed by `/* delay=N */` must have a latency of N ms (plus a
/// little); pairing the same requests and replies first-in-first-out gives other latencies.
#[test]
fn stream_id_pairing_is_right_where_fifo_is_wrong() {
    for name in [
        "v4.pcap",
        "v5.pcap",
        "v3-snappy.pcap",
        "v4-lz4.pcap",
        "v3.pcap",
    ] {
        let Some(c) = clean(name) else { return };
        let mut by_conn: HashMap<u64, Vec<&OwnedTransaction>> = HashMap::new();
        let mut checked = 0;
        for t in &c.txs {
            let Some(i) = t.query.find("/* delay=") else {
                continue;
            };
            let ms: u64 = t.query[i + 9..].split(' ').next().unwrap().parse().unwrap();
            let lat = t.latency_us.unwrap();
            assert!(
                lat >= ms * 1000 && lat < ms * 1000 + 60_000,
                "{name}: {} took {lat} µs",
                t.query
            );
            by_conn.entry(t.connection.0).or_default().push(t);
            checked += 1;
        }
        assert!(checked >= 4, "{name}: only {checked} delayed queries");
        // FIFO: the k-th request sent takes the k-th reply received.
        let mut fifo_wrong = 0;
        for txs in by_conn.values() {
            // send order: capture time, then stream id (the drivers number streams upwards, and
            // several requests often share one TCP segment)
            let mut sent: Vec<&&OwnedTransaction> = txs.iter().collect();
            sent.sort_by_key(|t| (t.ts, req(t)["stream"].as_i64()));
            let mut replies: Vec<u64> = txs.iter().map(|t| t.end_ts.0).collect();
            replies.sort();
            for (t, end) in sent.iter().zip(replies) {
                let fifo = (end - t.ts.0) / 1000;
                let ours = t.latency_us.unwrap();
                if fifo.abs_diff(ours) > 20_000 {
                    fifo_wrong += 1;
                }
            }
        }
        assert!(
            fifo_wrong >= 2,
            "{name}: FIFO pairing would agree on all but {fifo_wrong}"
        );
    }
}

#[test]
fn prepared_text_follows_the_id_across_connections() {
    for name in ["v4.pcap", "v5.pcap"] {
        let Some(c) = clean(name) else { return };
        let prepares: Vec<(String, u64, u64)> = c
            .txs
            .iter()
            .filter(|t| t.command == "PREPARE")
            .map(|t| {
                (
                    resp(t)["prepared_id"].as_str().unwrap().to_string(),
                    t.connection.0,
                    t.ts.0,
                )
            })
            .collect();
        let mut cross = 0;
        for t in c.txs.iter().filter(|t| t.command == "EXECUTE") {
            let id = req(t)["prepared_id"].as_str().unwrap().to_string();
            assert!(
                !t.query.is_empty(),
                "{name}: EXECUTE {id} has no text: {:?}",
                t.notes
            );
            assert!(t.fingerprint.is_some());
            let earlier = |same: bool| {
                prepares.iter().any(|(i, conn, ts)| {
                    *i == id && *ts < t.ts.0 && (*conn == t.connection.0) == same
                })
            };
            if earlier(false) && !earlier(true) {
                cross += 1;
                assert_eq!(t.query, "SELECT * FROM shop.users WHERE id = ?");
            }
        }
        assert!(cross >= 1, "{name}: no EXECUTE on another connection");
        // The responder forgot its cache: Unprepared with the id, then a re-PREPARE.
        let unp: Vec<_> = c
            .txs
            .iter()
            .filter(|t| resp(t)["error_name"] == "unprepared")
            .collect();
        assert_eq!(unp.len(), 1, "{name}");
        assert_eq!(resp(unp[0])["unprepared_id"], req(unp[0])["prepared_id"]);
        if name == "v5.pcap" {
            assert!(req(unp[0])["result_metadata_id"].is_string());
        }
    }
}

#[test]
fn every_error_family_with_its_fields() {
    for name in ["v4.pcap", "v5.pcap", "v3.pcap", "v4-lz4.pcap"] {
        let Some(c) = clean(name) else { return };
        let errs: BTreeMap<String, serde_json::Value> = c
            .txs
            .iter()
            .filter(|t| t.status == Status::Error)
            .map(|t| {
                assert!(t.error.as_deref().unwrap().contains(": "), "{:?}", t.error);
                (resp(t)["error_name"].as_str().unwrap().to_string(), resp(t))
            })
            .collect();
        for want in [
            "unavailable",
            "overloaded",
            "is_bootstrapping",
            "truncate_error",
            "write_timeout",
            "read_timeout",
            "read_failure",
            "function_failure",
            "write_failure",
            "server_error",
            "unauthorized",
            "invalid",
            "config_error",
            "already_exists",
            "syntax_error",
        ] {
            assert!(errs.contains_key(want), "{name}: no {want} in {errs:?}");
        }
        let u = &errs["unavailable"];
        assert_eq!(
            (&u["consistency"], &u["required"], &u["alive"]),
            (&"QUORUM".into(), &2.into(), &1.into())
        );
        assert_eq!(errs["unavailable"]["error_code"], 0x1000);
        assert_eq!(errs["write_timeout"]["write_type"], "SIMPLE");
        assert_eq!(errs["read_timeout"]["data_present"], false);
        assert_eq!(errs["read_failure"]["failures"], 1);
        assert_eq!(errs["write_failure"]["write_type"], "BATCH");
        assert_eq!(errs["function_failure"]["function"], "boom");
        assert_eq!(errs["already_exists"]["table"], "users");
        if name.starts_with("v5") {
            assert_eq!(errs["read_failure"]["reasons"][0][0], "10.77.0.9");
        }
    }
}

#[test]
fn paging_batches_types_events_tracing() {
    let Some(c) = clean("v4.pcap") else { return };
    // paging: 25 rows in pages of 10, each page its own transaction
    // (python driver and Node.js driver, one connection each)
    let mut pages: BTreeMap<u64, Vec<(u64, bool)>> = BTreeMap::new();
    for t in c
        .txs
        .iter()
        .filter(|t| t.query == "SELECT * FROM shop.users" && req(t)["page_size"] == 10)
    {
        pages.entry(t.connection.0).or_default().push((
            resp(t)["rows"].as_u64().unwrap(),
            resp(t)["has_more_pages"] == true,
        ));
    }
    assert_eq!(pages.len(), 2);
    for p in pages.values() {
        assert_eq!(p, &[(10, true), (10, true), (5, false)]);
    }
    // batches: logged (prepared + simple members), unlogged with a warning, counter
    let batches: Vec<_> = c.txs.iter().filter(|t| t.command == "BATCH").collect();
    let kinds: Vec<_> = batches
        .iter()
        .map(|t| req(t)["batch"]["type"].as_str().unwrap().to_string())
        .collect();
    // python: logged, unlogged, counter, a failing logged one; Node.js: unlogged
    assert_eq!(
        kinds,
        ["logged", "unlogged", "counter", "logged", "unlogged"]
    );
    let m = &req(batches[0])["batch"]["members"];
    assert_eq!(
        m[0]["query"],
        "INSERT INTO shop.users (id, name) VALUES (?, ?)"
    );
    assert!(m[0]["prepared_id"].is_string());
    assert_eq!(
        m[1]["query"],
        "INSERT INTO shop.users (id, name) VALUES (21, 'twenty-one')"
    );
    assert_eq!(req(batches[0])["consistency"], "LOCAL_QUORUM");
    assert_eq!(
        resp(batches[1])["warnings"][0],
        "Unlogged batch covering 2 partitions detected"
    );
    assert_eq!(batches[3].status, Status::Error);
    // column types: collections, UDT, tuple
    let sel = c
        .txs
        .iter()
        .find(|t| t.query == "SELECT * FROM shop.users WHERE id = 2")
        .unwrap();
    assert_eq!(
        req(sel)["keyspace"],
        "shop",
        "the connection's keyspace after USE"
    );
    let types: Vec<_> = resp(sel)["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "int",
            "text",
            "set<text>",
            "list<int>",
            "map<text, int>",
            "shop.address{street text, zip int}",
            "tuple<int, text>",
            "timestamp",
            "uuid"
        ]
    );
    // events after REGISTER, stream -1, never paired
    let ev: Vec<_> = c.msgs.iter().map(|m| m.summary.as_str()).collect();
    assert_eq!(
        ev,
        [
            "SCHEMA_CHANGE CREATED TABLE shop.events_demo",
            "STATUS_CHANGE UP 10.77.0.1:9042",
            "TOPOLOGY_CHANGE NEW_NODE 10.77.0.9:9042"
        ]
    );
    assert!(c.msgs.iter().all(|m| m.kind == "event"));
    // tracing id in the reply, a warning on count(*)
    let traced = c
        .txs
        .iter()
        .find(|t| t.query == "SELECT * FROM shop.users WHERE id = 7")
        .unwrap();
    assert_eq!(req(traced)["tracing"], true);
    assert!(resp(traced)["tracing_id"].as_str().unwrap().len() == 36);
    // STARTUP shows driver name and version; compressed captures say which compression
    let st = c.txs.iter().find(|t| t.command == "STARTUP").unwrap();
    assert_eq!(
        req(st)["options"]["DRIVER_NAME"],
        "Apache Cassandra Python Driver"
    );
    let Some(l) = clean("v4-lz4.pcap") else {
        return;
    };
    assert!(l
        .txs
        .iter()
        .any(|t| req(t)["options"]["COMPRESSION"] == "lz4"));
    // the Node.js driver's connections are there too
    assert!(c
        .txs
        .iter()
        .any(|t| req(t)["options"]["DRIVER_NAME"] == "Apache Cassandra Node.js Driver"));
}

#[test]
fn v5_frames_spanning_segments() {
    for name in ["v5.pcap", "v5-lz4.pcap"] {
        let Some(c) = clean(name) else { return };
        let big = c
            .txs
            .iter()
            .find(|t| t.query.contains("/* big_result */"))
            .expect("big result");
        assert_eq!(resp(big)["rows"], 3000, "{name}");
        assert!(big.response_bytes > 128 * 1024, "{}", big.response_bytes);
        let ins = c
            .txs
            .iter()
            .find(|t| t.command == "QUERY" && t.request_bytes > 200_000)
            .expect("big insert");
        assert_eq!(ins.status, Status::Ok);
        assert!(ins
            .notes
            .iter()
            .any(|n| matches!(n, wiresift::core::Note::Truncated { field: "query", .. })));
        assert_eq!(req(ins)["version"], 5);
    }
}

#[test]
fn auth_success_and_failure_never_print_the_password() {
    let Some(c) = clean("auth.pcap") else { return };
    let auth: Vec<_> = c
        .txs
        .iter()
        .filter(|t| t.command == "AUTH_RESPONSE")
        .collect();
    // v4: control + session connection; wrong password; v5: control + session connection
    assert_eq!(auth.len(), 5);
    for t in &auth {
        assert_eq!(req(t)["user"], "cassandra");
        let j = serde_json::to_string(t).unwrap();
        assert!(!j.contains("wrong-password"));
        assert!(!j.contains("\\u0000cassandra\\u0000"));
    }
    let failed: Vec<_> = auth.iter().filter(|t| t.status == Status::Error).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(resp(failed[0])["error_name"], "bad_credentials");
    let a = c
        .txs
        .iter()
        .find(|t| resp(t)["opcode"] == "AUTHENTICATE")
        .unwrap();
    assert_eq!(
        resp(a)["authenticator"],
        "org.apache.cassandra.auth.PasswordAuthenticator"
    );
}

/// Issue 13: one direction only. The same transactions, with full request detail and
/// `no_response` (client only), or full response detail and `no_request` (server only).
#[test]
fn one_sided_captures() {
    for base in ["v4", "v5-lz4"] {
        let Some(both) = clean(&format!("{base}.pcap")) else {
            return;
        };
        let Some(cli) = run(&format!("{base}-client-only.pcap")) else {
            return;
        };
        let Some(srv) = run(&format!("{base}-server-only.pcap")) else {
            return;
        };
        assert!(cli.anomalies.is_empty(), "{base}: {:?}", cli.anomalies);
        assert!(srv.anomalies.is_empty(), "{base}: {:?}", srv.anomalies);
        // connection ids are frame numbers, which differ in a filtered copy: key by client port
        let key = |t: &OwnedTransaction| (t.client.port(), t.ts);
        let mut want: Vec<_> = both
            .txs
            .iter()
            .map(|t| (key(t), t.command.clone(), t.query.clone(), req(t)))
            .collect();
        let mut got: Vec<_> = cli
            .txs
            .iter()
            .map(|t| {
                assert_eq!(t.status, Status::NoResponse);
                (key(t), t.command.clone(), t.query.clone(), req(t))
            })
            .collect();
        let k = |a: &(_, String, String, serde_json::Value)| (a.0, a.3["stream"].as_i64());
        want.sort_by_key(k);
        got.sort_by_key(k);
        assert_eq!(got.len(), want.len(), "{base} client-only");
        assert_eq!(got, want, "{base} client-only");
        let mut want: Vec<_> = both.txs.iter().map(resp).collect();
        let mut got: Vec<_> = srv
            .txs
            .iter()
            .map(|t| {
                assert_eq!(t.status, Status::NoRequest);
                resp(t)
            })
            .collect();
        let s = |v: &serde_json::Value| v.to_string();
        want.sort_by_key(s);
        got.sort_by_key(s);
        assert_eq!(got, want, "{base} server-only");
        assert_eq!(srv.msgs.len(), both.msgs.len());
    }
}

#[test]
fn lossy_and_midstream() {
    let Some(c) = run("lossy.pcap") else { return };
    // 1,500 load queries plus handshakes; losses were repaired by retransmission, so every
    // request is paired (and the retransmission delay is in the notes).
    let load = c
        .txs
        .iter()
        .filter(|t| t.query.starts_with("INSERT") || t.command == "EXECUTE")
        .count();
    assert_eq!(load, 1500);
    assert!(
        c.txs.iter().all(|t| t.status == Status::Ok),
        "unpaired in lossy"
    );
    for name in ["midstream.pcap", "midstream-v5.pcap"] {
        let Some(c) = run(name) else { return };
        let ok = c.txs.iter().filter(|t| t.status == Status::Ok).count();
        assert!(ok > 50, "{name}: {ok}");
        assert!(
            c.txs.iter().filter(|t| t.status != Status::Ok).count() <= 2,
            "{name}"
        );
        // The capture started after PREPARE: EXECUTE ids were never seen, and say so.
        let ex: Vec<_> = c.txs.iter().filter(|t| t.command == "EXECUTE").collect();
        assert!(!ex.is_empty());
        for t in ex {
            assert!(req(t)["prepared_id"].is_string());
            assert!(
                t.notes.iter().any(|n| matches!(n, wiresift::core::Note::Text { text } if text.contains("not PREPAREd"))),
                "{name}"
            );
        }
        assert!(c.txs.iter().any(|t| resp(t)["kind"] == "rows"));
    }
}

#[test]
fn shared_public_captures_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/cql");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} not present", dir.display());
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let c = collect::run_path("cql", &p, wiresift::default_registry());
        if p.to_string_lossy().contains("ndpi__cassandra") {
            // v4 OPTIONS/SUPPORTED/STARTUP and v5 OPTIONS/SUPPORTED/STARTUP handshakes
            let cmds: Vec<_> = c.txs.iter().map(|t| t.command.as_str()).collect();
            assert!(
                cmds.contains(&"OPTIONS") && cmds.contains(&"STARTUP"),
                "{cmds:?}"
            );
        } else {
            assert!(c.txs.is_empty(), "{}: Thrift is not CQL", p.display());
        }
    }
}

/// Real holes (every 40th data packet removed from the file): each request left without a
/// reply says which loss explains it, each reply left without a request too, and the rest is
/// paired as before (for v5, after finding segment boundaries again by CRC24 and CRC32).
#[test]
fn holes_are_explained() {
    use wiresift::core::Note;
    for (name, base) in [
        ("v4-holes.pcap", "v4.pcap"),
        ("v5-lz4-holes.pcap", "v5-lz4.pcap"),
    ] {
        let Some(c) = run(name) else { return };
        let Some(full) = clean(base) else { return };
        assert!(c.anomalies.len() <= 3, "{name}: {:?}", c.anomalies);
        let paired = c
            .txs
            .iter()
            .filter(|t| matches!(t.status, Status::Ok | Status::Error))
            .count();
        assert!(
            paired * 100 >= full.txs.len() * 90,
            "{name}: {paired} of {} paired",
            full.txs.len()
        );
        for t in &c.txs {
            let s2c = t.notes.iter().any(|n| {
                matches!(
                    n,
                    Note::Gap {
                        direction: wiresift::core::Direction::ServerToClient,
                        ..
                    } | Note::Resync {
                        direction: wiresift::core::Direction::ServerToClient,
                        ..
                    }
                )
            });
            let c2s = t.notes.iter().any(|n| {
                matches!(
                    n,
                    Note::Gap {
                        direction: wiresift::core::Direction::ClientToServer,
                        ..
                    }
                )
            });
            match t.status {
                Status::NoResponse => assert!(s2c, "{name}: unexplained {:?}", t.notes),
                Status::NoRequest => assert!(c2s, "{name}: unexplained {:?}", t.notes),
                _ => {}
            }
        }
    }
}

/// Drivers left to negotiate try DSE v2 (0x42) and DSE v1 (0x41) first: those frames are
/// decoded (no anomaly), answered by protocol errors, and the drivers settle on v5 (python) and
/// v4 (Node.js).
#[test]
fn version_negotiation() {
    let Some(c) = run("negotiate.pcap") else {
        return;
    };
    assert!(c.anomalies.is_empty(), "{:?}", c.anomalies);
    let tried: BTreeSet<(String, i64, bool)> = c
        .txs
        .iter()
        .filter(|t| matches!(t.command.as_str(), "OPTIONS" | "STARTUP"))
        .map(|t| {
            (
                t.command.clone(),
                req(t)["version"].as_i64().unwrap(),
                t.status == Status::Ok,
            )
        })
        .collect();
    for want in [
        ("OPTIONS", 0x42, false),
        ("OPTIONS", 0x41, false),
        ("STARTUP", 5, true),
        ("STARTUP", 0x42, false),
        ("STARTUP", 4, true),
    ] {
        assert!(
            tried.contains(&(want.0.to_string(), want.1, want.2)),
            "{want:?} not in {tried:?}"
        );
    }
    for t in c
        .txs
        .iter()
        .filter(|t| req(t)["version"].as_i64() > Some(5))
    {
        assert_eq!(t.status, Status::Error);
        assert_eq!(resp(t)["error_name"], "protocol_error");
    }
}
