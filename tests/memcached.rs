//! memcached (issue 12): real memcached 1.6.18 traffic (`testdata/memcached/`, made by
//! `testdata/gen/memcached.sh` with pymemcache and a raw socket).
//!
//! - The default registry does not dissect memcached as RESP: on port 11211 the connections
//!   stay unidentified (RESP's probe waits for a RESP reply, which never comes), and a memcached
//!   on RESP's port 6379 makes the RESP session detach with a reason; no RESP transaction either
//!   way, and the bytes are counted as undissected.
//! - The example plugin (`examples/memcached/plugin.rs`, included here as a module exactly as
//!   the example builds it) gives exactly the expected transactions, agrees with tshark's
//!   memcache dissector (`testdata/golden/memcached-tshark/text.tsv`) wherever tshark decodes,
//!   wins the probe when registered first, and keeps its promises on gaps, one-sided captures,
//!   budgets, timers and byte accounting.

#[path = "../examples/memcached/plugin.rs"]
mod plugin;

use plugin::{McDetail, McSession, MemcachedPlugin};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use wiresift::core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, EventSink, GapInfo,
    Note, OwnedTransaction, ParseAnomaly, ProtocolSession, Registry, SessionEvent, Status,
    StreamChunk, Timestamp, Transaction,
};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output, RunSummary};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

fn capture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/memcached")
        .join(name)
}

#[derive(Default)]
struct Collect {
    txs: Vec<OwnedTransaction>,
    anomalies: Vec<ParseAnomaly>,
    /// Per connection, the in-order stream bytes of each direction.
    streams: BTreeMap<u64, [Vec<u8>; 2]>,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        self.txs.push(tx.to_owned());
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        self.anomalies.push(a.clone());
    }
    fn data(&mut self, conn: ConnectionId, chunk: &StreamChunk<'_>) {
        self.streams.entry(conn.0).or_default()[chunk.dir.index()].extend_from_slice(chunk.data);
    }
}

fn run(name: &str, registry: Registry) -> (Collect, RunSummary) {
    let mut engine = Engine::new(EngineConfig::default(), registry, Collect::default());
    let mut reader = CaptureReader::open(&capture(name)).expect("capture");
    engine.run(&mut reader, |_| {}).expect("read to the end");
    let s = engine.summary();
    (engine.into_output(), s)
}

fn with_plugin(ports: &'static [u16]) -> Registry {
    let mut r = wiresift::default_registry();
    r.register_first(Arc::new(MemcachedPlugin {
        ports,
        ..MemcachedPlugin::default()
    }));
    r
}

#[test]
fn default_registry_does_not_take_memcached_for_resp() {
    let (out, s) = run("text.pcap", wiresift::default_registry());
    assert!(out.txs.is_empty(), "{:?}", out.txs.first());
    assert!(
        s.dissect.dissected_connections.is_empty(),
        "{:?}",
        s.dissect
    );
    assert_eq!(s.dissect.unidentified_connections, 3);
    assert_eq!(s.dissect.undissected_bytes, s.reassembly.delivered_bytes);
    assert_eq!(s.reassembly.delivered_bytes, 3757);
}

#[test]
fn memcached_on_resp_port_detaches_with_a_reason() {
    let (out, s) = run("on-6379.pcap", wiresift::default_registry());
    assert_eq!(s.dissect.dissected_connections.get("resp"), Some(&1));
    assert!(out.txs.is_empty(), "no RESP transaction: {:?}", out.txs);
    assert_eq!(out.anomalies.len(), 1, "{:?}", out.anomalies);
    let why = &out.anomalies[0].reason;
    assert!(why.contains("not RESP") && why.contains("STORED"), "{why}");
    assert_eq!(out.anomalies[0].direction, S2C);
    // Everything from the first reply on is counted as undissected: all but the first request
    // (`set k 0 0 5\r\nhello\r\n`, 20 bytes, read as RESP inline commands). The reply that
    // showed it is not RESP (`STORED\r\n`) is undissected in the session's accounting, which
    // the engine counts for the chunk a session detaches in.
    assert_eq!(
        s.dissect.undissected_bytes,
        s.reassembly.delivered_bytes - 20
    );
}

/// (connection, command, query, status, response.status, error) of every transaction.
type Row = (u64, String, String, Status, String, Option<String>);

fn rows(txs: &[OwnedTransaction]) -> Vec<Row> {
    txs.iter()
        .map(|t| {
            let d = t.detail_as::<McDetail>().expect("memcached detail");
            (
                t.connection.0,
                t.command.clone(),
                t.query.clone(),
                t.status,
                d.response
                    .as_ref()
                    .map(|r| r.status.clone())
                    .unwrap_or_default(),
                t.error.clone(),
            )
        })
        .collect()
}

/// What text.pcap holds (read off `tshark -z follow,tcp,ascii`).
fn expected() -> Vec<Row> {
    use Status::{Error as E, NoResponse as N, Ok as K};
    let r = |c: u64, cmd: &str, q: &str, st: Status, resp: &str, err: Option<&str>| {
        (
            c,
            cmd.to_string(),
            q.to_string(),
            st,
            resp.to_string(),
            err.map(String::from),
        )
    };
    vec![
        r(1, "set", "set user:1 0 0 5", K, "STORED", None),
        r(1, "get", "get user:1", K, "VALUE", None),
        r(1, "get", "get missing", K, "END", None),
        r(1, "set", "set user:2 0 0 3", K, "STORED", None),
        r(1, "get", "get user:1 user:2 nope", K, "VALUE", None),
        r(1, "gets", "gets user:1", K, "VALUE", None),
        r(1, "cas", "cas user:1 0 0 6 1", K, "STORED", None),
        r(1, "cas", "cas user:1 0 0 6 1", K, "EXISTS", None),
        r(1, "cas", "cas never 0 0 1 1", K, "NOT_FOUND", None),
        r(1, "add", "add fresh 0 0 1", K, "STORED", None),
        r(1, "add", "add fresh 0 0 1", K, "NOT_STORED", None),
        r(1, "replace", "replace absent 0 0 1", K, "NOT_STORED", None),
        r(1, "replace", "replace fresh 0 0 1", K, "STORED", None),
        r(1, "append", "append user:2 0 0 9", K, "STORED", None),
        r(1, "prepend", "prepend user:2 0 0 4", K, "STORED", None),
        r(1, "get", "get user:2", K, "VALUE", None),
        r(1, "set", "set n 0 0 2", K, "STORED", None),
        r(1, "incr", "incr n 5", K, "NUMBER", None),
        r(1, "decr", "decr n 3", K, "NUMBER", None),
        r(
            1,
            "incr",
            "incr user:2 1",
            E,
            "CLIENT_ERROR",
            Some("CLIENT_ERROR cannot increment or decrement non-numeric value"),
        ),
        // pymemcache reconnects after the CLIENT_ERROR.
        r(47, "incr", "incr nokey 1", K, "NOT_FOUND", None),
        r(47, "touch", "touch n 100", K, "TOUCHED", None),
        r(47, "touch", "touch gone 100", K, "NOT_FOUND", None),
        r(47, "delete", "delete fresh", K, "DELETED", None),
        r(47, "delete", "delete fresh", K, "NOT_FOUND", None),
        r(47, "set", "set quiet 0 0 1 noreply", N, "", None),
        r(47, "set", "set bin 0 0 7", K, "STORED", None),
        r(47, "get", "get bin", K, "VALUE", None),
        r(47, "stats", "stats", K, "STAT", None),
        r(47, "version", "version", K, "VERSION", None),
        r(47, "quit", "quit", N, "", None),
        r(
            81,
            "bogus_command",
            "bogus_command x",
            E,
            "ERROR",
            Some("ERROR"),
        ),
        r(81, "gat", "gat 100 user:1", K, "VALUE", None),
        r(81, "stats", "stats slabs", K, "STAT", None),
        r(81, "get", "get user:1 n", K, "VALUE", None),
        r(81, "quit", "quit", N, "", None),
    ]
}

#[test]
fn plugin_gives_exactly_the_expected_transactions() {
    let (out, s) = run("text.pcap", with_plugin(&[11211]));
    assert_eq!(rows(&out.txs), expected());
    assert!(out.anomalies.is_empty(), "{:?}", out.anomalies);
    assert_eq!(s.dissect.dissected_connections.get("memcached"), Some(&3));
    assert_eq!(s.dissect.undissected_bytes, 0);
    // Values, sizes and detail of a few.
    let v = |i: usize| serde_json::to_value(&out.txs[i]).unwrap();
    let multi = v(4);
    assert_eq!(
        multi["request"]["keys"],
        serde_json::json!(["user:1", "user:2", "nope"])
    );
    assert_eq!(multi["response"]["values"][1]["value"]["prefix"], "bob");
    assert_eq!(
        (
            multi["request_bytes"].as_u64(),
            multi["response_bytes"].as_u64()
        ),
        (Some(24), Some(53))
    );
    assert_eq!(v(5)["response"]["values"][0]["cas"], 1);
    // The escaping rule: bytes 00 01 bc ff 0d 0a 5c.
    assert_eq!(
        v(26)["request"]["value"]["prefix"],
        "\u{0}\u{1}\\xbc\\xff\r\n\\\\"
    );
    assert_eq!(
        v(27)["response"]["values"][0]["value"]["prefix"],
        v(26)["request"]["value"]["prefix"]
    );
    let stats = v(28);
    assert_eq!(stats["response"]["entries"], 92);
    assert_eq!(
        stats["response_bytes"], 2216,
        "a reply spanning two segments"
    );
    assert_eq!(v(29)["response"]["text"], "1.6.18");
    assert!(out
        .txs
        .iter()
        .all(|t| t.status != Status::Ok || t.latency_us.is_some()));
}

/// One tshark row: (tcp.stream, from the client, command, keys, response, version).
fn tshark_rows() -> Vec<(u64, bool, String, String, String, String)> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden/memcached-tshark/text.tsv");
    std::fs::read_to_string(p)
        .expect("tshark golden")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let g = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            (
                f[0].parse().unwrap(),
                g(1) != "11211",
                g(2),
                g(3),
                g(4),
                g(5),
            )
        })
        .collect()
}

/// Agreement with tshark 4.0's memcache dissector, per connection in order:
/// - requests: every request tshark names (command + keys) is ours, in the same order; tshark
///   does not decode `touch`, `gat` and unknown commands (blank rows), which are exactly the
///   requests of ours it lacks;
/// - replies: every reply tshark names (a `response` word, `VALUE` rows with keys, `STAT`
///   listings, `VERSION`) is ours in order; tshark leaves incr/decr numbers, `TOUCHED` and
///   `ERROR` replies blank; the second half of a `stats` reply spanning two segments is a
///   blank row of its own in tshark (it does not reassemble it).
#[test]
fn plugin_agrees_with_tshark() {
    let (out, _) = run("text.pcap", with_plugin(&[11211]));
    let ts = tshark_rows();
    let conns: Vec<u64> = {
        let mut c: Vec<u64> = out.txs.iter().map(|t| t.connection.0).collect();
        c.dedup();
        c
    };
    let mut agreed = 0;
    for (stream, conn) in conns.iter().enumerate() {
        let ours: Vec<&OwnedTransaction> =
            out.txs.iter().filter(|t| t.connection.0 == *conn).collect();
        let theirs: Vec<_> = ts.iter().filter(|r| r.0 == stream as u64).collect();
        // Requests.
        let t_req: Vec<(String, String)> = theirs
            .iter()
            .filter(|r| r.1 && !r.2.is_empty())
            .map(|r| (r.2.clone(), r.3.clone()))
            .collect();
        let o_req: Vec<(String, String)> = ours
            .iter()
            .filter(|t| !matches!(t.command.as_str(), "touch" | "gat" | "bogus_command"))
            .map(|t| {
                let d = t.detail_as::<McDetail>().unwrap();
                let keys = d
                    .request
                    .as_ref()
                    .map(|r| r.keys.join(","))
                    .unwrap_or_default();
                (t.command.clone(), keys)
            })
            .collect();
        assert_eq!(o_req, t_req, "requests of stream {stream}");
        let blank_requests = theirs.iter().filter(|r| r.1 && r.2.is_empty()).count();
        let not_decoded = ours
            .iter()
            .filter(|t| matches!(t.command.as_str(), "touch" | "gat" | "bogus_command"))
            .count();
        assert_eq!(blank_requests, not_decoded, "stream {stream}");
        // Replies.
        let t_rep: Vec<String> = theirs
            .iter()
            .filter(|r| !r.1)
            .filter_map(|r| {
                if r.2.starts_with("STAT") || r.4.starts_with("STAT") {
                    Some("STAT".to_string())
                } else if !r.4.is_empty() {
                    Some(r.4.clone())
                } else if !r.3.is_empty() {
                    Some("VALUE".to_string())
                } else if !r.5.is_empty() {
                    Some("VERSION".to_string())
                } else {
                    None
                }
            })
            .collect();
        let o_rep: Vec<String> = ours
            .iter()
            .filter_map(|t| t.detail_as::<McDetail>().unwrap().response.as_ref())
            .map(|r| r.status.clone())
            .filter(|s| !matches!(s.as_str(), "NUMBER" | "TOUCHED" | "ERROR" | "CLIENT_ERROR"))
            .collect();
        assert_eq!(o_rep, t_rep, "replies of stream {stream}");
        agreed += o_req.len() + o_rep.len();
    }
    assert_eq!(agreed, 32 + 28, "requests + replies tshark decodes");
}

#[test]
fn plugin_wins_the_probe_and_shared_ports_when_registered_first() {
    // No default port: every connection is found by probing, ahead of RESP's inline probe.
    let (out, s) = run("text.pcap", with_plugin(&[]));
    assert_eq!(rows(&out.txs), expected());
    assert_eq!(s.dissect.dissected_connections.get("memcached"), Some(&3));
    // On 6379, registered first with that port: it takes the port from RESP.
    let (out, s) = run("on-6379.pcap", with_plugin(&[6379]));
    assert_eq!(s.dissect.dissected_connections.get("resp"), None);
    let cmds: Vec<(String, Status)> = out
        .txs
        .iter()
        .map(|t| (t.command.clone(), t.status))
        .collect();
    assert_eq!(
        cmds,
        [
            ("set", Status::Ok),
            ("get", Status::Ok),
            ("delete", Status::Ok),
            ("version", Status::Ok),
            ("quit", Status::NoResponse)
        ]
        .map(|(c, s)| (c.to_string(), s))
    );
    // The probe itself.
    let r = with_plugin(&[]);
    let mc = r.index_of("memcached").unwrap();
    for first in [&b"get k\r\n"[..], b"set k 0 0 5\r\n", b"version\r\n"] {
        assert_eq!(
            r.probe(C2S, first),
            wiresift::core::registry::ProbeOutcome::Match(mc),
            "{first:?}"
        );
    }
    assert_eq!(
        r.probe(S2C, b"STORED\r\n"),
        wiresift::core::registry::ProbeOutcome::Match(mc)
    );
    // RESP stays RESP.
    let resp = r.index_of("resp").unwrap();
    assert_eq!(
        r.probe(C2S, b"*1\r\n$4\r\nPING\r\n"),
        wiresift::core::registry::ProbeOutcome::Match(resp)
    );
    assert_eq!(
        r.probe(S2C, b"+PONG\r\n"),
        wiresift::core::registry::ProbeOutcome::Match(resp)
    );
}

// ---- The session on its own, fed with the real streams of text.pcap. ----

fn conn() -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 77, 0, 2].into(), 58434),
        server: Endpoint::new([10, 77, 0, 1].into(), 11211),
        ..Default::default()
    }
}

/// Feeds a session and checks the accounting balance after every call.
struct Feeder {
    s: McSession,
    out: Vec<SessionEvent>,
    t: u64,
}

impl Feeder {
    fn new() -> Self {
        Self::with(plugin::Config::default(), false)
    }
    fn with(cfg: plugin::Config, midstream: bool) -> Self {
        let c = ConnectionInfo {
            midstream,
            ..conn()
        };
        Feeder {
            s: McSession::new(&c, cfg),
            out: Vec::new(),
            t: 0,
        }
    }
    fn check(&self) {
        let a = self.s.accounting().unwrap();
        assert!(a.balanced(), "{a:?}");
    }
    fn feed(&mut self, dir: Direction, data: &[u8]) -> &mut Self {
        self.t += 1_000_000;
        let c = StreamChunk {
            dir,
            ts: Timestamp(self.t),
            data,
            held: Duration(0),
        };
        self.s.on_data(&c, &mut self.out);
        self.check();
        self
    }
    fn gap(&mut self, dir: Direction, len: Option<u64>) -> &mut Self {
        self.t += 1_000_000;
        self.s.on_gap(
            &GapInfo {
                dir,
                ts: Timestamp(self.t),
                len,
            },
            &mut self.out,
        );
        self.check();
        self
    }
    fn close(&mut self) -> &mut Self {
        self.t += 1_000_000;
        self.s
            .on_close(Timestamp(self.t), CloseReason::Fin, &mut self.out);
        let a = self.s.accounting().unwrap();
        assert!(a.balanced() && a.held == 0, "{a:?}");
        self
    }
    fn txs(&self) -> Vec<&OwnedTransaction> {
        self.out
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Transaction(t) => Some(&**t),
                _ => None,
            })
            .collect()
    }
    /// Everything but the times.
    fn detail(
        &self,
    ) -> Vec<(
        String,
        Status,
        serde_json::Value,
        serde_json::Value,
        u64,
        u64,
    )> {
        self.txs()
            .iter()
            .map(|t| {
                (
                    t.query.clone(),
                    t.status,
                    t.request_value(),
                    t.response_value(),
                    t.request_bytes,
                    t.response_bytes,
                )
            })
            .collect()
    }
    fn summary(&self) -> Vec<(String, Status)> {
        self.txs()
            .iter()
            .map(|t| (t.query.clone(), t.status))
            .collect()
    }
}

/// The streams of the first connection of text.pcap, as request/reply exchanges in order.
fn first_connection() -> [Vec<u8>; 2] {
    let (out, _) = run("text.pcap", with_plugin(&[11211]));
    out.streams.into_values().next().unwrap()
}

/// Replay the streams as the exchanges they are (request `i`, then its reply: the sizes of
/// the whole-stream run cut them), each message cut into pieces of `step` bytes.
fn replay_in_turns(f: &mut Feeder, streams: &[Vec<u8>; 2], sizes: &[(u64, u64)], step: usize) {
    let (mut i, mut j) = (0usize, 0usize);
    for &(q, r) in sizes {
        for (dir, at, len) in [(C2S, &mut i, q as usize), (S2C, &mut j, r as usize)] {
            let msg = &streams[dir.index()][*at..*at + len];
            for piece in msg.chunks(step) {
                f.feed(dir, piece);
            }
            *at += len;
        }
    }
    assert_eq!((i, j), (streams[0].len(), streams[1].len()));
}

#[test]
fn any_segmentation_gives_the_same_transactions() {
    let streams = first_connection();
    let mut whole = Feeder::new();
    whole.feed(C2S, &streams[0]).feed(S2C, &streams[1]).close();
    let want: Vec<(String, Status)> = whole.summary();
    assert_eq!(want.len(), 20);
    let sizes: Vec<(u64, u64)> = whole
        .txs()
        .iter()
        .map(|t| (t.request_bytes, t.response_bytes))
        .collect();
    for step in [1, 2, 3, 7, 16, 100, 5000] {
        let mut f = Feeder::new();
        replay_in_turns(&mut f, &streams, &sizes, step);
        f.close();
        assert_eq!(f.summary(), want, "pieces of {step} bytes");
        assert_eq!(f.detail(), whole.detail(), "pieces of {step} bytes");
    }
}

#[test]
fn client_only_is_no_response_with_detail_and_server_only_is_no_request() {
    let streams = first_connection();
    let mut c = Feeder::new();
    c.feed(C2S, &streams[0]).close();
    let t = c.txs();
    assert_eq!(t.len(), 20);
    assert!(t
        .iter()
        .all(|t| t.status == Status::NoResponse && t.latency_us.is_none()));
    assert_eq!(t[0].query, "set user:1 0 0 5");
    let d = t[0]
        .detail_as::<McDetail>()
        .unwrap()
        .request
        .as_ref()
        .unwrap();
    assert_eq!(d.value.as_ref().unwrap().prefix, "alice");

    let mut s = Feeder::new();
    s.feed(S2C, &streams[1]).close();
    let t = s.txs();
    assert_eq!(t.len(), 20);
    assert!(t.iter().all(|t| t.status == Status::NoRequest));
    let st: Vec<&str> = t
        .iter()
        .map(|t| {
            t.detail_as::<McDetail>()
                .unwrap()
                .response
                .as_ref()
                .unwrap()
                .status
                .as_str()
        })
        .collect();
    assert_eq!(&st[..4], ["STORED", "VALUE", "END", "STORED"]);
    assert_eq!(
        t[19].error.as_deref(),
        Some("CLIENT_ERROR cannot increment or decrement non-numeric value")
    );
}

#[test]
fn gaps_shorten_values_or_resynchronise() {
    // A gap inside a value: the framing survives, the request is partial.
    let mut f = Feeder::new();
    f.feed(C2S, b"set k 0 0 10\r\nabc")
        .gap(C2S, Some(4))
        .feed(C2S, b"xyz\r\nget k\r\n");
    f.feed(S2C, b"STORED\r\nVALUE k 0 10\r\nabc")
        .gap(S2C, Some(4))
        .feed(S2C, b"xyz\r\nEND\r\n");
    f.close();
    assert_eq!(
        f.summary(),
        [
            ("set k 0 0 10", Status::Partial),
            ("get k", Status::Partial)
        ]
        .map(|(q, s)| (q.to_string(), s))
    );
    assert!(f.txs()[0]
        .notes
        .iter()
        .any(|n| matches!(n, Note::Gap { bytes: Some(4), .. })));

    // A reply-side gap of unknown length: what was pending is reported now, pairing restarts.
    let mut f = Feeder::new();
    f.feed(C2S, b"get a\r\nget b\r\n")
        .feed(S2C, b"VALUE a 0 1\r\n1\r\nEND\r\nVAL");
    f.gap(S2C, None).feed(S2C, b"ue junk\r\nEND\r\n");
    f.feed(C2S, b"delete c\r\n")
        .feed(S2C, b"NOT_FOUND\r\n")
        .close();
    assert_eq!(
        f.summary(),
        [
            ("get a", Status::Ok),
            ("get b", Status::Partial),
            ("", Status::NoRequest),
            ("delete c", Status::Ok)
        ]
        .map(|(q, s)| (q.to_string(), s))
    );

    // A request-side gap: the requests lost are a marker; the next request takes its reply.
    let mut f = Feeder::new();
    f.feed(C2S, b"get a\r\n")
        .gap(C2S, Some(30))
        .feed(C2S, b"0 0 1\r\nx\r\nget b\r\n");
    f.feed(S2C, b"END\r\nSTORED\r\nEND\r\n").close();
    // Pipelined: `STORED` cannot answer `get b`, so it is the lost request's (no_request).
    assert_eq!(
        f.summary(),
        [
            ("get a", Status::Ok),
            ("", Status::NoRequest),
            ("get b", Status::Ok)
        ]
        .map(|(q, s)| (q.to_string(), s))
    );
    assert!(f
        .txs()
        .last()
        .unwrap()
        .notes
        .iter()
        .any(|n| matches!(n, Note::Gap { .. } | Note::Resync { .. })));

    // Picked up mid-stream: the first bytes are skipped up to a line that starts a command.
    let mut f = Feeder::with(plugin::Config::default(), true);
    f.feed(C2S, b"lue\r\nget z\r\n")
        .feed(S2C, b"\r\nEND\r\n")
        .close();
    assert_eq!(f.summary(), [("get z".to_string(), Status::Ok)]);
}

#[test]
fn a_server_that_is_not_memcached_detaches() {
    let mut f = Feeder::new();
    f.feed(C2S, b"get k\r\n");
    let c = StreamChunk {
        dir: S2C,
        ts: Timestamp(9),
        data: b"+OK\r\n",
        held: Duration(0),
    };
    assert_eq!(f.s.on_data(&c, &mut f.out), wiresift::core::Flow::Detach);
    f.check();
    f.close();
    assert!(f.txs().is_empty());
    assert!(f
        .out
        .iter()
        .any(|e| matches!(e, SessionEvent::Anomaly(a) if a.reason.contains("not memcached"))));
    let a = f.s.accounting().unwrap();
    assert_eq!(a.undissected, 5);
}

#[test]
fn budgets_timers_and_bounded_lines() {
    // shed: the oldest requests go out early, their late replies are swallowed.
    let mut f = Feeder::new();
    for i in 0..10 {
        f.feed(C2S, format!("get key{i}\r\n").as_bytes());
    }
    let before = f.s.state_bytes();
    assert!(before > 10 * 24, "{before}");
    let shed = f.s.shed(before / 2, Timestamp(f.t), &mut f.out);
    assert!(shed >= 5, "{shed}");
    assert!(f.s.state_bytes() <= before / 2);
    for _ in 0..10 {
        f.feed(S2C, b"END\r\n");
    }
    f.close();
    let t = f.txs();
    assert_eq!(t.len(), 10);
    assert!(t[..shed as usize]
        .iter()
        .all(|t| t.status == Status::NoResponse
            && t.notes.iter().any(|n| matches!(n, Note::Shed { .. }))));
    assert!(t[shed as usize..].iter().all(|t| t.status == Status::Ok));
    assert_eq!(
        t[shed as usize].query,
        format!("get key{shed}"),
        "late replies not mispaired"
    );
    assert_eq!(f.s.late_replies(), shed);

    // timer: a request unanswered for the timeout is reported then, not at close.
    let mut f = Feeder::new();
    f.feed(C2S, b"get slow\r\n");
    let timeout = Duration::from_secs(30);
    let deadline = f.s.timer_deadline(timeout).unwrap();
    assert_eq!(deadline, Timestamp(1_000_000).saturating_add(timeout));
    assert_eq!(
        f.s.on_timer(Timestamp(deadline.0 - 1), timeout, &mut f.out),
        0
    );
    assert_eq!(f.s.on_timer(deadline, timeout, &mut f.out), 1);
    assert_eq!(f.s.timer_deadline(timeout), None);
    assert_eq!(f.s.state_bytes(), 0);
    f.feed(S2C, b"END\r\n")
        .feed(C2S, b"get next\r\n")
        .feed(S2C, b"END\r\n")
        .close();
    let t = f.txs();
    assert_eq!(t.len(), 2);
    assert!(t[0].notes.iter().any(|n| matches!(
        n,
        Note::RequestTimeout {
            waited_us: 30_000_000
        }
    )));
    assert_eq!((t[1].query.as_str(), t[1].status), ("get next", Status::Ok));

    // A line longer than the carry-over limit is dropped and counted, never buffered.
    let cfg = plugin::Config {
        max_line: 64,
        ..Default::default()
    };
    let mut f = Feeder::with(cfg, false);
    let long = format!("get {}\r\n", "k".repeat(200));
    f.feed(C2S, &long.as_bytes()[..100])
        .feed(C2S, &long.as_bytes()[100..]);
    f.feed(C2S, b"get ok\r\n").feed(S2C, b"END\r\n").close();
    let a = f.s.accounting().unwrap();
    assert!(a.skipped >= 100, "{a:?}");
    assert!(
        f.summary().contains(&("get ok".to_string(), Status::Ok)),
        "{:?}",
        f.summary()
    );
    assert!(f.out.iter().any(|e| matches!(e, SessionEvent::Anomaly(_))));

    // A multi-get hit with more values than are kept: the kept ones keep their own bytes.
    let cfg = plugin::Config {
        max_entries: 2,
        ..Default::default()
    };
    let mut f = Feeder::with(cfg, false);
    f.feed(C2S, b"get a b c\r\n");
    f.feed(
        S2C,
        b"VALUE a 0 1\r\nA\r\nVALUE b 0 1\r\nB\r\nVALUE c 0 1\r\nC\r\nEND\r\n",
    );
    f.close();
    let r = f.txs()[0].response_value();
    assert_eq!(r["entries"], 3);
    assert_eq!(r["values"][1]["value"]["prefix"], "B");
    assert!(r["values"].get(2).is_none());

    // A large value is skipped by length: nothing near its size is held.
    let mut f = Feeder::new();
    f.feed(C2S, b"set big 0 0 1000000\r\n");
    let chunk = vec![b'v'; 10_000];
    for _ in 0..100 {
        f.feed(C2S, &chunk);
        assert!(f.s.accounting().unwrap().held < 100);
    }
    f.feed(C2S, b"\r\n").feed(S2C, b"STORED\r\n").close();
    let t = f.txs();
    assert_eq!(
        (t[0].status, t[0].request_bytes),
        (Status::Ok, 21 + 1_000_002)
    );
    let v = t[0]
        .detail_as::<McDetail>()
        .unwrap()
        .request
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert_eq!((v.len, v.prefix.len()), (1_000_000, 64));
}

/// `EventSink` for a Vec is what the example's users get; this keeps the import used.
#[allow(dead_code)]
fn _sink_is_object_safe(s: &mut Vec<SessionEvent>) -> &mut dyn EventSink {
    s
}

/// The first connection's streams and the whole-feed result, computed once.
/// Streams, (request, reply) sizes of each exchange, and the transactions.
type Reference = ([Vec<u8>; 2], Vec<(u64, u64)>, Vec<Row2>);

fn reference() -> &'static Reference {
    static R: std::sync::OnceLock<Reference> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        let streams = first_connection();
        let mut whole = Feeder::new();
        whole.feed(C2S, &streams[0]).feed(S2C, &streams[1]).close();
        let sizes = whole
            .txs()
            .iter()
            .map(|t| (t.request_bytes, t.response_bytes))
            .collect();
        let d = whole.detail();
        (streams, sizes, d)
    })
}

type Row2 = (
    String,
    Status,
    serde_json::Value,
    serde_json::Value,
    u64,
    u64,
);

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Random cut points inside every request and reply give the same transactions.
    #[test]
    fn random_segmentation_gives_the_same_transactions(
        cuts in proptest::collection::vec(0usize..4096, 0..40),
    ) {
        let (streams, sizes, want) = reference();
        let mut f = Feeder::new();
        let (mut at, mut k) = ([0usize; 2], 0usize);
        for &(q, r) in sizes {
            for (dir, len) in [(C2S, q as usize), (S2C, r as usize)] {
                let i = dir.index();
                let msg = &streams[i][at[i]..at[i] + len];
                let mut pos = 0;
                while pos < msg.len() {
                    let step = 1 + cuts.get(k % cuts.len().max(1)).copied().unwrap_or(4096) % msg.len();
                    k += 1;
                    let end = (pos + step).min(msg.len());
                    f.feed(dir, &msg[pos..end]);
                    pos = end;
                }
                at[i] += len;
            }
        }
        f.close();
        proptest::prop_assert_eq!(&f.detail(), want);
    }
}

/// Through the engine: a client-only copy of text.pcap with a 1 ms request timeout reports the
/// requests as capture time passes their deadline, with the note, instead of at close (those
/// sent less than 1 ms before their connection's last packet are still reported at close).
#[test]
fn engine_drives_the_request_timer() {
    use wiresift::net::{Decoder, DecoderConfig};
    let cfg = EngineConfig {
        request_timeout: Some(Duration::from_millis(1)),
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(cfg, with_plugin(&[11211]), Collect::default());
    let mut reader = CaptureReader::open(&capture("text.pcap")).unwrap();
    let mut dec = Decoder::new(DecoderConfig::default());
    while let Ok(Some(pkt)) = reader.next_packet() {
        if dec.decode(&pkt).is_some_and(|s| s.dst.port() == 11211) {
            engine.process_packet(&pkt);
        }
    }
    engine.finish();
    let s = engine.summary();
    let out = engine.into_output();
    assert_eq!(out.txs.len(), 36);
    assert!(out.txs.iter().all(|t| t.status == Status::NoResponse));
    let timed_out = out
        .txs
        .iter()
        .filter(|t| {
            t.notes
                .iter()
                .any(|n| matches!(n, Note::RequestTimeout { .. }))
        })
        .count() as u64;
    assert!(timed_out >= 20, "{timed_out}");
    assert_eq!(s.dissect.requests_timed_out, timed_out);
}
