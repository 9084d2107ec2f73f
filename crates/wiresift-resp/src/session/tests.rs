use super::*;
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use wiresift_core::{ConnectionId, Detail, Duration, Endpoint, SessionEvent};
use wiresift_core::{OwnedMessage, OwnedTransaction};

fn conn(midstream: bool) -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(7),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 50000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 6379),
        start: Timestamp(1_000_000_000),
        midstream,
    }
}

/// Test harness: feeds a session, one millisecond of capture time per call.
struct H {
    s: RespSession,
    out: Vec<SessionEvent>,
    t: u64,
}

impl H {
    fn new() -> Self {
        Self::with(false, Config::default())
    }
    fn with(midstream: bool, cfg: Config) -> Self {
        H {
            s: RespSession::new(&conn(midstream), cfg),
            out: Vec::new(),
            t: 1_000_000_000,
        }
    }
    fn feed(&mut self, dir: Direction, data: &[u8]) -> &mut Self {
        self.t += 1_000_000;
        let chunk = StreamChunk {
            dir,
            ts: Timestamp(self.t),
            data,
            held: Duration(0),
        };
        self.s.on_data(&chunk, &mut self.out);
        self
    }
    fn c(&mut self, data: &[u8]) -> &mut Self {
        self.feed(C2S, data)
    }
    fn s(&mut self, data: &[u8]) -> &mut Self {
        self.feed(S2C, data)
    }
    fn gap(&mut self, dir: Direction, len: Option<u64>) -> &mut Self {
        self.t += 1_000_000;
        let g = GapInfo {
            dir,
            ts: Timestamp(self.t),
            len,
        };
        self.s.on_gap(&g, &mut self.out);
        self
    }
    fn close(&mut self) -> &mut Self {
        self.t += 1_000_000;
        self.s
            .on_close(Timestamp(self.t), CloseReason::Fin, &mut self.out);
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
    fn msgs(&self) -> Vec<&OwnedMessage> {
        self.out
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Message(m) => Some(&**m),
                _ => None,
            })
            .collect()
    }
    fn anomalies(&self) -> usize {
        self.out
            .iter()
            .filter(|e| matches!(e, SessionEvent::Anomaly(_)))
            .count()
    }
    /// (command, status, response value) of every transaction.
    fn pairs(&self) -> Vec<(String, Status, Json)> {
        self.txs()
            .iter()
            .map(|t| {
                (
                    t.command.clone(),
                    t.status,
                    t.response_value()
                        .get("value")
                        .cloned()
                        .unwrap_or(Json::Null),
                )
            })
            .collect()
    }
}

/// A command in RESP array form.
fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
    }
    v
}

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{}\r\n", s.len(), s).into_bytes()
}

#[test]
fn simple_transaction_fields() {
    let mut h = H::new();
    h.c(&cmd(&["set", "k", "v"])).s(b"+OK\r\n");
    h.c(&cmd(&["GET", "k"])).s(&bulk("v"));
    let t = h.txs();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].command, "SET");
    assert_eq!(t[0].query, "set k v");
    assert_eq!(t[0].request_value(), json!({"args": ["set", "k", "v"]}));
    assert_eq!(
        t[0].response_value(),
        json!({"type": "simple_string", "value": "OK"})
    );
    assert_eq!(t[0].status, Status::Ok);
    assert_eq!(t[0].latency_us, Some(1000));
    assert_eq!(t[0].request_bytes, cmd(&["set", "k", "v"]).len() as u64);
    assert_eq!(t[0].response_bytes, 5);
    assert_eq!(t[1].response_value()["type"], "bulk_string");
    assert_eq!(t[1].response_value()["value"], "v");
    assert_eq!(t[0].protocol, "resp");
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn pipelining_pairs_in_order() {
    let mut h = H::new();
    let mut reqs = Vec::new();
    for i in 0..50 {
        reqs.extend(cmd(&["INCR", &format!("k{i}")]));
    }
    h.c(&reqs);
    let mut reps = Vec::new();
    for i in 0..50 {
        reps.extend(format!(":{i}\r\n").as_bytes());
    }
    h.s(&reps);
    let t = h.txs();
    assert_eq!(t.len(), 50);
    for (i, tx) in t.iter().enumerate() {
        assert_eq!(tx.query, format!("INCR k{i}"));
        assert_eq!(tx.response_value()["value"], json!(i));
    }
}

#[test]
fn errors_and_container_commands() {
    let mut h = H::new();
    h.c(&cmd(&["client", "setinfo", "lib-name", "x"]))
        .s(b"+OK\r\n")
        .c(&cmd(&["GET", "k"]))
        .s(b"-MOVED 3999 127.0.0.1:6381\r\n")
        .c(&cmd(&["LPUSH", "s", "x"]))
        .s(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
        .c(&cmd(&["GET", "x"]))
        .s(b"!21\r\nSYNTAX invalid syntax\r\n")
        .c(&cmd(&["CONFIG", "GET", "maxmemory"]))
        .s(b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    let t = h.txs();
    assert_eq!(t[0].command, "CLIENT SETINFO");
    assert_eq!(t[1].status, Status::Error);
    assert_eq!(t[1].error.as_deref(), Some("MOVED 3999 127.0.0.1:6381"));
    assert_eq!(
        t[1].response_value()["error"],
        json!({"prefix": "MOVED", "slot": 3999, "address": "127.0.0.1:6381"})
    );
    assert_eq!(t[2].response_value()["error"]["prefix"], "WRONGTYPE");
    assert_eq!(t[3].status, Status::Error);
    assert_eq!(t[3].response_value()["type"], "blob_error");
    assert_eq!(t[4].command, "CONFIG GET");
    assert_eq!(t[4].status, Status::Ok);
    assert_eq!(t[4].response_value()["value"], json!(["maxmemory", "0"]));
}

#[test]
fn multi_exec() {
    let mut h = H::new();
    let mut reqs = cmd(&["MULTI"]);
    reqs.extend(cmd(&["SET", "a", "1"]));
    reqs.extend(cmd(&["INCR", "a"]));
    reqs.extend(cmd(&["EXEC"]));
    h.c(&reqs)
        .s(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n");
    let p = h.pairs();
    assert_eq!(
        p,
        vec![
            ("MULTI".into(), Status::Ok, json!("OK")),
            ("SET".into(), Status::Ok, json!("QUEUED")),
            ("INCR".into(), Status::Ok, json!("QUEUED")),
            ("EXEC".into(), Status::Ok, json!(["OK", 2])),
        ]
    );
    // A SUBSCRIBE inside MULTI only gets QUEUED.
    let mut h = H::new();
    let mut reqs = cmd(&["MULTI"]);
    reqs.extend(cmd(&["SUBSCRIBE", "a", "b"]));
    reqs.extend(cmd(&["GET", "x"]));
    h.c(&reqs).s(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n");
    assert_eq!(h.txs().len(), 3);
    assert!(h.txs().iter().all(|t| t.status == Status::Ok));
    // EXECABORT is an error.
    h.c(&cmd(&["EXEC"]))
        .s(b"-EXECABORT Transaction discarded\r\n");
    assert_eq!(h.txs()[3].status, Status::Error);
}

#[test]
fn pubsub_resp2_confirmations_and_deliveries() {
    let mut h = H::new();
    h.c(&cmd(&["SUBSCRIBE", "a", "b"]));
    h.s(b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    assert!(h.txs().is_empty(), "waits for one confirmation per channel");
    h.s(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    assert_eq!(h.txs().len(), 1);
    assert_eq!(h.txs()[0].response_value()["len"], 2);
    h.s(b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n");
    h.c(&cmd(&["PSUBSCRIBE", "n*"]));
    h.s(b"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$3\r\nbye\r\n");
    h.s(b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n");
    h.s(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$1\r\n1\r\n");
    h.c(&cmd(&["PING"]));
    h.s(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    h.c(&cmd(&["UNSUBSCRIBE"]));
    h.s(b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n");
    h.s(b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n");
    h.c(&cmd(&["PUNSUBSCRIBE"]));
    h.s(b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n");
    let p = h.pairs();
    let names: Vec<&str> = p.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "SUBSCRIBE",
            "PSUBSCRIBE",
            "PING",
            "UNSUBSCRIBE",
            "PUNSUBSCRIBE"
        ]
    );
    assert_eq!(p[2].2, json!(["pong", ""]));
    assert_eq!(h.txs()[3].response_value()["len"], 2);
    assert!(h.txs().iter().all(|t| t.status == Status::Ok));
    let m = h.msgs();
    assert_eq!(m.len(), 3);
    assert!(m.iter().all(|m| m.kind == "push"));
    assert_eq!(m[0].summary, "[message a hello]");
    // After the last unsubscribe, ordinary array replies pair again.
    h.c(&cmd(&["LRANGE", "l", "0", "-1"]));
    h.s(b"*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n");
    assert_eq!(h.txs().last().unwrap().command, "LRANGE");
    assert_eq!(h.msgs().len(), 3);
}

#[test]
fn resp3_pushes_are_never_paired() {
    let mut h = H::new();
    h.c(&cmd(&["HELLO", "3"]))
        .s(b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n");
    assert_eq!(
        h.txs()[0].response_value()["value"],
        json!({"server": "redis", "proto": 3})
    );
    h.c(&cmd(&["CLIENT", "TRACKING", "on"])).s(b"+OK\r\n");
    // Two pipelined GETs with an invalidation push between their replies.
    let mut r = cmd(&["GET", "a"]);
    r.extend(cmd(&["GET", "b"]));
    h.c(&r);
    h.s(&bulk("1"))
        .s(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n")
        .s(&bulk("2"));
    let p = h.pairs();
    assert_eq!(p[2], ("GET".into(), Status::Ok, json!("1")));
    assert_eq!(p[3], ("GET".into(), Status::Ok, json!("2")));
    let m = h.msgs();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].kind, "push");
    assert_eq!(m[0].detail_value()["value"], json!(["invalidate", ["a"]]));
    // RESP3 subscribe confirmations are pushes, paired with the SUBSCRIBE.
    h.c(&cmd(&["SUBSCRIBE", "c"]))
        .s(b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")
        .s(b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n");
    assert_eq!(h.txs().last().unwrap().command, "SUBSCRIBE");
    assert_eq!(h.msgs().len(), 2);
    // Attributes and RESP3 scalars.
    h.c(&cmd(&["GET", "z"]))
        .s(b"|1\r\n+ttl\r\n:10\r\n,1.5\r\n")
        .c(&cmd(&["X"]))
        .s(b"$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n");
    let t = h.txs();
    let n = t.len();
    assert_eq!(
        t[n - 2].response_value(),
        json!({"type": "double", "value": 1.5, "attributes": {"ttl": 10}})
    );
    assert_eq!(t[n - 1].response_value()["value"], "abc");
}

#[test]
fn client_reply_off_on_skip() {
    let mut h = H::new();
    let mut r = cmd(&["CLIENT", "REPLY", "OFF"]);
    r.extend(cmd(&["SET", "a", "1"]));
    r.extend(cmd(&["CLIENT", "REPLY", "ON"]));
    r.extend(cmd(&["GET", "a"]));
    r.extend(cmd(&["CLIENT", "REPLY", "SKIP"]));
    r.extend(cmd(&["SET", "b", "2"]));
    r.extend(cmd(&["GET", "b"]));
    h.c(&r).s(b"+OK\r\n$1\r\n1\r\n$1\r\n2\r\n");
    let p = h.pairs();
    let want = [
        ("CLIENT REPLY", Status::NoResponse),
        ("SET", Status::NoResponse),
        ("CLIENT REPLY", Status::Ok),
        ("GET", Status::Ok),
        ("CLIENT REPLY", Status::NoResponse),
        ("SET", Status::NoResponse),
        ("GET", Status::Ok),
    ];
    assert_eq!(p.len(), want.len());
    for (got, w) in p.iter().zip(want) {
        assert_eq!((got.0.as_str(), got.1), w);
    }
    assert_eq!(p[3].2, json!("1"));
    assert_eq!(p[6].2, json!("2"));
}

fn replica_handshake(h: &mut H) {
    h.c(&cmd(&["PING"])).s(b"+PONG\r\n");
    h.c(&cmd(&["REPLCONF", "listening-port", "6380"]))
        .s(b"+OK\r\n");
    h.c(&cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"]))
        .s(b"+OK\r\n");
    h.c(&cmd(&["PSYNC", "?", "-1"]))
        .s(b"+FULLRESYNC 8de1787ba490483314a4d30f1c628bc5025eb761 0\r\n");
}

#[test]
fn replication_full_resync() {
    let mut h = H::new();
    replica_handshake(&mut h);
    let rdb: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut s = b"\n\n".to_vec();
    s.extend(format!("${}\r\n", rdb.len()).as_bytes());
    s.extend(&rdb[..1000]);
    h.s(&s).s(&rdb[1000..]);
    // The master's command stream, its PING, and the replica's ACKs.
    let mut m = cmd(&["SELECT", "0"]);
    m.extend(cmd(&["SET", "k", "v"]));
    h.s(&m);
    h.c(&cmd(&["REPLCONF", "ACK", "14"]));
    h.s(&cmd(&["PING"]));
    h.c(&cmd(&["REPLCONF", "ACK", "28"]));
    h.close();
    let p = h.pairs();
    let names: Vec<&str> = p.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(names, vec!["PING", "REPLCONF", "REPLCONF", "PSYNC"]);
    assert!(h.txs().iter().all(|t| t.status == Status::Ok));
    let m: Vec<(&str, Direction, &str)> = h
        .msgs()
        .iter()
        .map(|m| (m.kind, m.direction, m.summary.as_str()))
        .collect();
    assert_eq!(
        m,
        vec![
            ("replication", S2C, "RDB payload (5000 bytes)"),
            ("replication", S2C, "SELECT 0"),
            ("replication", S2C, "SET k v"),
            ("replication", C2S, "REPLCONF ACK 14"),
            ("replication", S2C, "PING"),
            ("replication", C2S, "REPLCONF ACK 28"),
        ]
    );
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn replication_diskless_eof_mark_and_sync() {
    let mark = "0123456789abcdef0123456789abcdef01234567";
    let mut h = H::new();
    replica_handshake(&mut h);
    let mut s = format!("$EOF:{mark}\r\n").into_bytes();
    s.extend(vec![b'x'; 3000]);
    s.extend(&mark.as_bytes()[..20]);
    h.s(&s);
    let mut s = mark.as_bytes()[20..].to_vec();
    s.extend(cmd(&["PING"]));
    h.s(&s);
    let m = h.msgs();
    assert_eq!(m[0].summary, "RDB payload (3000 bytes)");
    assert_eq!(m[1].summary, "PING");
    // Old-style SYNC: the RDB is the reply.
    let mut h = H::new();
    h.c(&cmd(&["SYNC"]));
    h.s(b"\n$4\r\nREDI").s(&cmd(&["PING"]));
    let t = h.txs();
    assert_eq!(t[0].command, "SYNC");
    // A refused SYNC is an ordinary error reply.
    let mut h2 = H::new();
    h2.c(&cmd(&["SYNC"])).s(b"-NOPERM no\r\n");
    h2.c(&cmd(&["PING"])).s(b"+PONG\r\n");
    assert_eq!(h2.pairs()[0].1, Status::Error);
    assert_eq!(h2.pairs()[1].0, "PING");
    assert!(h2.msgs().is_empty());
    assert_eq!(t[0].response_value()["type"], "rdb");
    assert_eq!(h.msgs()[0].summary, "PING");
}

#[test]
fn replication_picked_up_midstream_never_pairs_ack_with_ping() {
    let mut h = H::with(true, Config::default());
    // Starts in the middle of a master command.
    h.s(b"$1\r\nv\r\n");
    h.c(&cmd(&["REPLCONF", "ACK", "1000"]));
    h.s(&cmd(&["PING"]));
    h.c(&cmd(&["REPLCONF", "ACK", "1014"]));
    h.s(&cmd(&["SET", "a", "b"]));
    h.close();
    assert!(
        h.txs()
            .iter()
            .all(|t| t.command != "PING" && t.command != "REPLCONF"),
        "{:?}",
        h.pairs()
    );
    let kinds: Vec<&str> = h.msgs().iter().map(|m| m.summary.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["REPLCONF ACK 1000", "PING", "REPLCONF ACK 1014", "SET a b"]
    );
}

#[test]
fn monitor_lines_are_messages() {
    let mut h = H::new();
    h.c(&cmd(&["MONITOR"])).s(b"+OK\r\n");
    h.s(b"+1700000000.123456 [0 127.0.0.1:5555] \"SET\" \"k\" \"v\"\r\n");
    h.s(b"+1700000000.223456 [0 127.0.0.1:5555] \"AUTH\" \"(redacted)\"\r\n");
    h.c(&cmd(&["RESET"])).s(b"+RESET\r\n");
    let p = h.pairs();
    assert_eq!(p.len(), 2);
    assert_eq!(p[1], ("RESET".into(), Status::Ok, json!("RESET")));
    let m = h.msgs();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].kind, "monitor");
    assert_eq!(m[0].detail_value()["args"], json!(["SET", "k", "v"]));
    assert_eq!(m[0].detail_value()["client"], "127.0.0.1:5555");
}

#[test]
fn inline_commands() {
    let mut h = H::new();
    h.c(b"PING\r\n").s(b"+PONG\r\n");
    h.c(b"set \"a b\" 'c d'\n").s(b"+OK\r\n");
    h.c(b"\r\n"); // keepalive, ignored
    h.c(b"GET \"a b\"\r\n").s(b"$3\r\nc d\r\n");
    h.c(b"SET bad \"unclosed\r\n")
        .s(b"-ERR Protocol error: unbalanced quotes in request\r\n");
    let t = h.txs();
    assert_eq!(t.len(), 4);
    assert_eq!(t[3].status, Status::Error);
    assert_eq!(t[3].command, "SET");
    assert_eq!(t[0].command, "PING");
    assert_eq!(t[1].request_value(), json!({"args": ["set", "a b", "c d"]}));
    assert_eq!(t[1].query, "set \"a b\" \"c d\"");
    assert_eq!(t[2].response_value()["value"], "c d");
}

#[test]
fn redaction_everywhere() {
    let mut h = H::new();
    h.c(&cmd(&["AUTH", "s3cr3t-one"])).s(b"+OK\r\n");
    h.c(&cmd(&["AUTH", "alice", "s3cr3t-two"]))
        .s(b"-WRONGPASS invalid username-password pair\r\n");
    h.c(&cmd(&[
        "HELLO",
        "3",
        "AUTH",
        "bob",
        "s3cr3t-three",
        "SETNAME",
        "app",
    ]))
    .s(b"%1\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
    h.c(&cmd(&[
        "MIGRATE",
        "h",
        "6379",
        "",
        "0",
        "5000",
        "AUTH2",
        "u",
        "s3cr3t-four",
        "KEYS",
        "a",
    ]))
    .s(b"+NOKEY\r\n");
    h.c(&cmd(&[
        "MIGRATE",
        "h",
        "6379",
        "k",
        "0",
        "5000",
        "AUTH",
        "s3cr3t-five",
    ]))
    .s(b"+OK\r\n");
    h.c(b"auth s3cr3t-six\r\n").s(b"+OK\r\n");
    h.c(&cmd(&["CONFIG", "SET", "requirepass", "s3cr3t-seven"]))
        .s(b"+OK\r\n");
    h.c(&cmd(&["ACL", "SETUSER", "carol", "on", ">s3cr3t-eight"]))
        .s(b"+OK\r\n");
    let json = serde_json::to_string(&h.out).unwrap();
    assert!(!json.contains("s3cr3t"), "{json}");
    let t = h.txs();
    assert_eq!(t[0].query, "AUTH (redacted)");
    assert_eq!(
        t[1].request_value()["args"],
        json!(["AUTH", "alice", "(redacted)"])
    );
    assert_eq!(t[2].query, "HELLO 3 AUTH bob (redacted) SETNAME app");
    assert!(t[3].query.contains("AUTH2 u (redacted) KEYS a"));
    assert_eq!(t[1].status, Status::Error);
}

#[test]
fn large_values_are_skipped_not_buffered() {
    let mut h = H::new();
    let value = vec![b'z'; 1 << 20];
    let mut wire = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n".to_vec();
    wire.extend(format!("${}\r\n", value.len()).as_bytes());
    wire.extend(&value);
    wire.extend(b"\r\n");
    for seg in wire.chunks(1448) {
        h.c(seg);
        assert!(h.s.bufs[0].len() <= 64 * 1024 + 64);
    }
    h.s(b"+OK\r\n");
    let t = h.txs();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].request_bytes, wire.len() as u64);
    assert_eq!(t[0].request_value()["arg_lengths"], json!([3, 3, 1 << 20]));
    assert_eq!(t[0].request_value()["args"][2].as_str().unwrap().len(), 256);
    assert!(t[0].notes.contains(&Note::Truncated {
        field: "arg",
        len: 1 << 20
    }));
    assert!(t[0].query.len() < 300);
    // And a 1 MB reply.
    h.c(&cmd(&["GET", "big"]));
    let mut rep = format!("${}\r\n", value.len()).into_bytes();
    rep.extend(&value);
    rep.extend(b"\r\n");
    for seg in rep.chunks(1448) {
        h.s(seg);
    }
    h.c(&cmd(&["PING"])).s(b"+PONG\r\n");
    let t = h.txs();
    assert_eq!(t[1].response_value()["len"], 1 << 20);
    assert_eq!(t[1].response_bytes, rep.len() as u64);
    assert_eq!(t[1].response_value()["value"]["len"], 1 << 20);
    assert_eq!(t[2].command, "PING");
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn gap_inside_a_large_bulk_keeps_sync() {
    let mut h = H::new();
    let mut wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n".to_vec();
    wire.extend(vec![b'a'; 100_000]);
    wire.extend(b"\r\n");
    h.c(&wire[..5000]);
    h.gap(C2S, Some(3000));
    h.c(&wire[8000..]);
    h.s(b"+OK\r\n");
    h.c(&cmd(&["GET", "k"])).s(b"$1\r\nx\r\n");
    let t = h.txs();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].command, "SET");
    assert_eq!(t[0].status, Status::Partial);
    assert!(t[0].notes.iter().any(|n| matches!(
        n,
        Note::Gap {
            bytes: Some(3000),
            ..
        }
    )));
    assert_eq!(t[1].status, Status::Ok);
    assert_eq!(t[1].response_value()["value"], "x");
    // A gap inside a small (buffered) bulk body also keeps sync.
    let mut h = H::new();
    let w = cmd(&["SET", "k", &"b".repeat(1000)]);
    h.c(&w[..100]).gap(C2S, Some(500)).c(&w[600..]);
    h.s(b"+OK\r\n").c(&cmd(&["GET", "k"])).s(b"$1\r\ny\r\n");
    let p = h.pairs();
    assert_eq!(p[0].0, "SET");
    assert_eq!(p[0].1, Status::Partial);
    assert_eq!(p[1], ("GET".into(), Status::Ok, json!("y")));
}

#[test]
fn request_gap_never_cascades() {
    // Lost whole requests whose replies arrive before the next request: the replies are
    // reported without a request, the next pair is right.
    let mut h = H::new();
    h.c(&cmd(&["GET", "a"])).s(&bulk("A"));
    h.gap(C2S, None);
    h.s(&bulk("lost1")).s(&bulk("lost2"));
    h.c(&cmd(&["GET", "c"])).s(&bulk("C"));
    h.c(&cmd(&["GET", "d"])).s(&bulk("D"));
    let p = h.pairs();
    assert_eq!(p[0], ("GET".into(), Status::Ok, json!("A")));
    assert_eq!(p[1].1, Status::NoRequest);
    assert_eq!(p[2].1, Status::NoRequest);
    assert_eq!(p[3], ("GET".into(), Status::Ok, json!("C")));
    assert_eq!(p[4], ("GET".into(), Status::Ok, json!("D")));
    // A gap in the middle of a request line: that request still gets its reply.
    let mut h = H::new();
    let w = cmd(&["GET", "key1"]);
    h.c(&w[..6]).gap(C2S, None).c(&cmd(&["GET", "key2"]));
    h.s(&bulk("one")).s(&bulk("two"));
    h.c(&cmd(&["GET", "key3"])).s(&bulk("three"));
    let t = h.txs();
    assert_eq!(t[0].status, Status::Partial);
    assert_eq!(t[0].response_value()["value"], "one");
    assert_eq!(t[1].query, "GET key2");
    assert_eq!(t[1].response_value()["value"], "two");
    assert_eq!(t[2].response_value()["value"], "three");
    assert!(t[1].notes.iter().any(|n| matches!(n, Note::Gap { .. })));
}

#[test]
fn pipelined_request_gap_damage_is_bounded_and_marked() {
    // One request lost inside a pipelined burst: which reply is its cannot be known; pairing
    // resumes correctly once the burst is answered (no lasting cascade), and the first pairing
    // after the hole carries the gap note.
    let mut h = H::new();
    let mut burst = cmd(&["GET", "r1"]);
    burst.extend(cmd(&["GET", "r2"]));
    h.c(&burst).gap(C2S, Some(22));
    let mut rest = cmd(&["GET", "r3"]);
    rest.extend(cmd(&["GET", "r4"]));
    h.c(&rest);
    h.s(&[bulk("1"), bulk("2"), bulk("L"), bulk("3"), bulk("4")].concat());
    h.c(&cmd(&["GET", "r5"])).s(&bulk("5"));
    h.c(&cmd(&["GET", "r6"])).s(&bulk("6"));
    let t = h.txs();
    assert_eq!(t[0].response_value()["value"], "1");
    assert_eq!(t[1].response_value()["value"], "2");
    assert!(t[2].notes.iter().any(|n| matches!(n, Note::Gap { .. })));
    let n = t.len();
    assert_eq!(
        (t[n - 2].query.as_str(), &t[n - 2].response_value()["value"]),
        ("GET r5", &json!("5"))
    );
    assert_eq!(
        (t[n - 1].query.as_str(), &t[n - 1].response_value()["value"]),
        ("GET r6", &json!("6"))
    );
}

#[test]
fn reply_gap_marks_pending_and_realigns() {
    let mut h = H::new();
    let mut r = cmd(&["GET", "a"]);
    r.extend(cmd(&["GET", "b"]));
    r.extend(cmd(&["GET", "c"]));
    h.c(&r);
    h.s(b"$5\r\nAAA"); // cut inside the first reply
    h.gap(S2C, None);
    h.s(b"AA\r\n$1\r\nB\r\n$1\r\nC\r\n"); // the rest of A is skipped by resync
    h.c(&cmd(&["GET", "d"])).s(&bulk("D"));
    h.c(&cmd(&["GET", "e"])).s(&bulk("E"));
    let p = h.pairs();
    assert_eq!(p[0].1, Status::Partial);
    assert_eq!(p[1].1, Status::NoResponse);
    assert_eq!(p[2].1, Status::NoResponse);
    // B and C: their requests were already reported; no mispairing with GET d.
    assert_eq!(p[3].1, Status::NoRequest);
    assert_eq!(p[4].1, Status::NoRequest);
    assert_eq!(p[5], ("GET".into(), Status::Ok, json!("D")));
    assert_eq!(p[6], ("GET".into(), Status::Ok, json!("E")));
    for t in &h.txs()[..5] {
        assert!(
            t.notes
                .iter()
                .any(|n| matches!(n, Note::Gap { .. } | Note::Resync { .. })),
            "{t:?}"
        );
    }
}

#[test]
fn midstream_start() {
    let mut h = H::with(true, Config::default());
    h.c(b"y\r\n"); // tail of a request
    h.s(b"K\r\n+OK\r\n"); // tail of a reply, then a whole one
    h.c(&cmd(&["GET", "a"])).s(&bulk("A"));
    let p = h.pairs();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].1, Status::NoRequest);
    assert_eq!(p[1], ("GET".into(), Status::Ok, json!("A")));
}

#[test]
fn close_reports_pending_and_anomalies_are_not_fatal() {
    let mut h = H::new();
    h.c(&cmd(&["GET", "a"])).c(&cmd(&["GET", "b"])[..5]).close();
    let t = h.txs();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].status, Status::NoResponse);
    assert_eq!(t[1].status, Status::Partial);
    // Garbage replies: anomaly, then resync on the next reply.
    let mut h = H::new();
    h.c(&cmd(&["GET", "a"])).s(b":notanumber\r\n");
    h.c(&cmd(&["GET", "b"])).s(&bulk("B"));
    assert!(h.anomalies() >= 1);
    assert_eq!(h.txs().last().unwrap().response_value()["value"], "B");
    // Deep nesting is an anomaly.
    let mut h = H::new();
    h.c(&cmd(&["X"])).s(&b"*1\r\n".repeat(40));
    assert_eq!(h.anomalies(), 1);
}

#[test]
fn summary_detail_skips_rendering_and_held_data_counts_in_latency() {
    struct Summary(Vec<SessionEvent>);
    impl EventSink for Summary {
        fn transaction(&mut self, tx: &mut Transaction) {
            self.0.transaction(tx);
        }
        fn message(&mut self, m: &Message) {
            self.0.message(m);
        }
        fn anomaly(&mut self, a: &ParseAnomaly) {
            self.0.anomaly(a);
        }
        fn detail(&self) -> Detail {
            Detail::Summary
        }
    }
    let mut s = RespSession::new(&conn(false), Config::default());
    let mut out = Summary(Vec::new());
    // The request was held 5 ms behind a lost segment: its start is its arrival.
    let req = cmd(&["AUTH", "pw"]);
    let chunk = |dir, ts, data, held| StreamChunk {
        dir,
        ts: Timestamp(ts),
        data,
        held: Duration(held),
    };
    s.on_data(&chunk(C2S, 10_000_000, &req, 5_000_000), &mut out);
    s.on_data(&chunk(S2C, 11_000_000, b"-WRONGPASS no\r\n", 0), &mut out);
    s.on_data(
        &chunk(S2C, 12_000_000, b">2\r\n$10\r\ninvalidate\r\n_\r\n", 0),
        &mut out,
    );
    assert_eq!(out.0.len(), 1, "no messages in summary mode");
    let SessionEvent::Transaction(t) = &out.0[0] else {
        panic!()
    };
    assert_eq!(t.command, "AUTH");
    assert_eq!(t.status, Status::Error);
    assert_eq!(t.error.as_deref(), Some("WRONGPASS no"));
    assert_eq!(
        (t.query.as_str(), &t.request_value(), &t.response_value()),
        ("", &Json::Null, &Json::Null)
    );
    assert_eq!(t.ts, Timestamp(5_000_000));
    assert_eq!(t.latency_us, Some(6_000));
}

#[test]
fn tls_is_detached() {
    let mut h = H::new();
    let chunk = StreamChunk {
        dir: C2S,
        ts: Timestamp(5),
        data: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        held: Duration(0),
    };
    assert_eq!(h.s.on_data(&chunk, &mut h.out), Flow::Detach);
    assert_eq!(h.anomalies(), 1);
}

#[test]
fn pending_queue_is_bounded() {
    let cfg = Config {
        max_pending: 3,
        ..Config::default()
    };
    let mut h = H::with(false, cfg);
    for i in 0..5 {
        h.c(&cmd(&["INCR", &i.to_string()]));
    }
    assert_eq!(h.txs().len(), 2, "two reported early");
    h.s(b":0\r\n:1\r\n:2\r\n:3\r\n:4\r\n");
    let p = h.pairs();
    assert_eq!(p.len(), 5);
    assert_eq!(p[2].2, json!(2));
    assert_eq!(p[4].2, json!(4));
}

/// Events with timestamps erased (chunk timing legitimately differs between splits).
fn normalised(out: &[SessionEvent]) -> Vec<String> {
    out.iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap();
            if let Some(o) = v.as_object_mut() {
                o.remove("ts");
                o.remove("time");
                o.remove("latency_us");
            }
            v.to_string()
        })
        .collect()
}

fn feed_split(stream_c: &[u8], stream_s: &[u8], cuts_c: &[usize], cuts_s: &[usize]) -> Vec<String> {
    let mut h = H::new();
    let cut = |data: &[u8], cuts: &[usize]| {
        let mut v: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        v.sort_unstable();
        v.push(data.len());
        v
    };
    let (cc, cs) = (cut(stream_c, cuts_c), cut(stream_s, cuts_s));
    let mut prev = 0;
    for c in cc {
        h.c(&stream_c[prev..c]);
        prev = c;
    }
    let mut prev = 0;
    for c in cs {
        h.s(&stream_s[prev..c]);
        prev = c;
    }
    h.close();
    normalised(&h.out)
}

fn sample_streams(n: usize, big: usize) -> (Vec<u8>, Vec<u8>) {
    let mut c = Vec::new();
    let mut s = Vec::new();
    for i in 0..n {
        match i % 6 {
            0 => {
                c.extend(cmd(&["SET", &format!("k{i}"), &"v".repeat(i * 7 % 40)]));
                s.extend(b"+OK\r\n");
            }
            1 => {
                c.extend(format!("GET k{i}\r\n").as_bytes());
                s.extend(bulk(&"w".repeat(i)));
            }
            2 => {
                c.extend(cmd(&["HGETALL", "h"]));
                s.extend(b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,2.5\r\n");
            }
            3 => {
                c.extend(cmd(&["SET", "big", &"x".repeat(big)]));
                s.extend(b"-ERR oops\r\n");
            }
            4 => {
                c.extend(cmd(&["LRANGE", "l", "0", "-1"]));
                s.extend(b"*?\r\n$1\r\na\r\n_\r\n.\r\n");
                s.extend(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nx\r\n");
            }
            _ => {
                c.extend(cmd(&["GET", "big"]));
                s.extend(bulk(&"y".repeat(big)));
            }
        }
    }
    (c, s)
}

#[test]
fn segmentation_examples() {
    let (c, s) = sample_streams(12, 70_000);
    let whole = feed_split(&c, &s, &[], &[]);
    assert_eq!(
        whole
            .iter()
            .filter(|e| e.contains("\"transaction\""))
            .count(),
        12
    );
    assert!(!whole.iter().any(|e| e.contains("anomaly")), "{whole:?}");
    let every: Vec<usize> = (0..c.len()).step_by(7).collect();
    let every_s: Vec<usize> = (0..s.len()).step_by(5).collect();
    assert_eq!(feed_split(&c, &s, &every, &every_s), whole);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn any_segmentation_gives_the_same_events(
        n in 1usize..14,
        big in prop_oneof![Just(10usize), Just(300), Just(70_000)],
        cuts_c in proptest::collection::vec(any::<usize>(), 0..40),
        cuts_s in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (c, s) = sample_streams(n, big);
        let whole = feed_split(&c, &s, &[], &[]);
        prop_assert_eq!(feed_split(&c, &s, &cuts_c, &cuts_s), whole);
    }

    #[test]
    fn mutated_streams_stay_bounded(
        n in 1usize..10,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        gap_at in proptest::option::of(any::<usize>()),
    ) {
        let (mut c, mut s) = sample_streams(n, 70_000);
        for (i, &(pos, b, op)) in edits.iter().enumerate() {
            let v = if i % 2 == 0 { &mut c } else { &mut s };
            let p = pos % v.len();
            match op {
                0 => v[p] = b,
                1 => v.insert(p, b),
                _ => { v.remove(p); }
            }
        }
        let mut h = H::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|x| x % (c.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(c.len());
        let mut prev = 0;
        for (k, &x) in cuts.iter().enumerate() {
            if gap_at.is_some_and(|g| g % cuts.len() == k) {
                h.gap(C2S, Some((x - prev) as u64));
            } else {
                h.c(&c[prev..x]);
            }
            prev = x;
            prop_assert!(h.s.bufs[0].len() <= 64 * 1024 + 64);
        }
        h.s(&s).close();
        for e in &h.out {
            // Every event is bounded whatever the input.
            prop_assert!(serde_json::to_string(e).unwrap().len() < 200_000);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        c in proptest::collection::vec(any::<u8>(), 0..300),
        s in proptest::collection::vec(any::<u8>(), 0..300),
        mid in any::<bool>(),
    ) {
        let mut h = H::with(mid, Config::default());
        h.c(&c).s(&s).gap(C2S, Some(3)).c(&c).gap(S2C, None).s(&s).close();
    }
}

#[test]
fn long_replies_are_summarised_requests_keep_their_arguments() {
    // A 100-element reply keeps `max_reply_items` (16) elements and says how many there were;
    // a 100-argument request keeps all of them (up to `max_args`, 128).
    let mut h = H::new();
    let keys: Vec<String> = (0..99).map(|i| format!("k{i}")).collect();
    let mut args = vec!["DEL"];
    args.extend(keys.iter().map(String::as_str));
    h.c(&cmd(&args));
    h.s(b":99\r\n");
    h.c(&cmd(&["LRANGE", "l", "0", "99"]));
    let mut reply = b"*100\r\n".to_vec();
    for i in 0..100 {
        reply.extend_from_slice(&bulk(&format!("v{i}")));
    }
    h.s(&reply);
    let txs = h.txs();
    assert_eq!(txs.len(), 2);
    assert_eq!(
        txs[0].request_value()["args"].as_array().unwrap().len(),
        100
    );
    let r = &txs[1].response_value();
    assert_eq!(r["len"], 100);
    let shown = r["value"].as_array().unwrap();
    assert!(
        (16..=17).contains(&shown.len()),
        "16 elements (+ an elision marker), got {}",
        shown.len()
    );
    assert_eq!(shown[0], "v0");
    assert_eq!(txs[1].response_bytes, reply.len() as u64);
}

#[test]
fn a_server_line_that_is_not_resp_keeps_its_first_byte_and_is_never_ok() {
    let mut h = H::new();
    h.c(b"*1\r\n$4\r\nPING\r\n").s(b"+PONG\r\n");
    h.c(b"*1\r\n$4\r\nPING\r\n").s(b"not RESP\r\n").close();
    let t = h.txs();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].status, Status::Ok);
    let r = t[1].response_value();
    assert_eq!(r["type"], "unknown");
    assert_eq!(r["value"], "not RESP");
    assert_eq!(
        t[1].status,
        Status::Partial,
        "an unknown reply type is never ok"
    );
    assert!(t[1]
        .notes
        .iter()
        .any(|n| matches!(n, Note::ParseError { .. })));
}

#[test]
fn a_server_that_is_not_resp_detaches_the_session() {
    // memcached on port 6379: the client's storage command reads as two inline commands, the
    // server's first reply is no RESP type.
    let mut h = H::new();
    h.c(b"set k 0 0 5\r\nhello\r\n");
    let chunk = StreamChunk {
        dir: S2C,
        ts: Timestamp(2_000_000_000),
        data: b"STORED\r\n",
        held: Duration(0),
    };
    assert_eq!(h.s.on_data(&chunk, &mut h.out), Flow::Detach);
    h.close();
    assert!(h.txs().is_empty(), "{:?}", h.out);
    let why: Vec<&str> = h
        .out
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Anomaly(a) => Some(a.reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(why.len(), 1);
    assert!(
        why[0].contains("not RESP") && why[0].contains("STORED"),
        "{why:?}"
    );
    assert!(why[0].contains("2 request(s)"), "{why:?}");
}

#[test]
fn server_only_confirmations_and_fullresync_are_replies_then_replication() {
    let mut h = H::new();
    h.s(b">3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n")
        .s(b"*3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n")
        .close();
    let t = h.txs();
    assert_eq!(t.len(), 2, "{:?}", h.out);
    assert!(t.iter().all(|t| t.status == Status::NoRequest));
    assert_eq!(
        t[0].response_value()["value"],
        json!(["subscribe", "ch1", 1])
    );
    assert!(h.msgs().is_empty());

    let mut h = H::new();
    h.s(b"+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 0\r\n")
        .s(b"$5\r\nREDIS")
        .s(b"*1\r\n$4\r\nPING\r\n")
        .close();
    let t = h.txs();
    assert_eq!(t.len(), 1, "{:?}", h.out);
    assert_eq!(t[0].status, Status::NoRequest);
    // The RDB payload and the propagated PING are replication messages, not replies.
    assert_eq!(h.msgs().len(), 2, "{:?}", h.out);
}

#[test]
fn framing_errors_do_not_pile_up_pending_entries() {
    // Requests interleaved with framing errors and never answered: what waits for replies
    // stays bounded by max_pending, markers included.
    let mut s = RespSession::new(&conn(false), Config::default());
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 1_000_000_000u64;
    for _ in 0..30_000 {
        for data in [&b"*1\r\n$4\r\nPING\r\n"[..], &b"*1\r\n$x\r\n"[..]] {
            t += 1_000;
            let c = StreamChunk {
                dir: Direction::ClientToServer,
                ts: Timestamp(t),
                data,
                held: Duration(0),
            };
            s.on_data(&c, &mut out);
        }
        out.clear();
    }
    let max = Config::default().max_pending;
    assert!(
        s.pending_entries() <= max,
        "{} entries pending (max_pending {max})",
        s.pending_entries()
    );
}
