//! Session-level tests: each command family, pipelining, bodies, AUTH, STARTTLS, gaps, memory
//! bounds, and the segmentation property.

use proptest::prelude::*;
use serde_json::Value;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, Flow, GapInfo, Note,
    OwnedTransaction, ProtocolSession, SessionEvent, Status, StreamChunk, Timestamp,
};
use wiresift_smtp::{SmtpConfig, SmtpSession};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

fn conn(midstream: bool) -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(7),
        client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
        server: Endpoint::new("10.0.0.2".parse().unwrap(), 25),
        start: Timestamp(1_000_000_000),
        midstream,
    }
}

struct H {
    s: SmtpSession,
    out: Vec<SessionEvent>,
    t: u64,
    last_flow: Flow,
}

impl H {
    fn new() -> Self {
        Self::with(false, SmtpConfig::default())
    }
    fn with(midstream: bool, cfg: SmtpConfig) -> Self {
        H {
            s: SmtpSession::new(&conn(midstream), cfg),
            out: Vec::new(),
            t: 1_000_000_000,
            last_flow: Flow::Continue,
        }
    }
    fn send(&mut self, dir: Direction, data: &[u8]) -> Flow {
        self.t += 1_000_000; // 1 ms per segment
        let chunk = StreamChunk {
            dir,
            ts: Timestamp(self.t),
            data,
            held: Default::default(),
        };
        self.last_flow = self.s.on_data(&chunk, &mut self.out as &mut dyn EventSink);
        self.check();
        self.last_flow
    }
    fn c(&mut self, data: &[u8]) -> Flow {
        self.send(C2S, data)
    }
    fn s(&mut self, data: &[u8]) -> Flow {
        self.send(S2C, data)
    }
    fn gap(&mut self, dir: Direction, len: Option<u64>) {
        self.t += 1_000_000;
        let g = GapInfo {
            dir,
            ts: Timestamp(self.t),
            len,
        };
        self.s.on_gap(&g, &mut self.out as &mut dyn EventSink);
        self.check();
    }
    /// Every delivered byte is accounted for, after every call.
    fn check(&self) {
        let a = self.s.accounting().unwrap();
        assert!(a.balanced(), "{a:?}");
    }
    fn close(&mut self) {
        self.t += 1_000_000;
        self.s.on_close(
            Timestamp(self.t),
            CloseReason::Fin,
            &mut self.out as &mut dyn EventSink,
        );
        self.check();
        assert_eq!(self.s.accounting().unwrap().held, 0);
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
    fn commands(&self) -> Vec<String> {
        self.txs().iter().map(|t| t.command.clone()).collect()
    }
    fn codes(&self) -> Vec<Option<u64>> {
        self.txs()
            .iter()
            .map(|t| t.response_value().get("code").and_then(Value::as_u64))
            .collect()
    }
    fn tx(&self, command: &str) -> &OwnedTransaction {
        self.txs()
            .into_iter()
            .find(|t| t.command == command)
            .unwrap_or_else(|| panic!("no {command} in {:?}", self.commands()))
    }
    fn anomalies(&self) -> usize {
        self.out
            .iter()
            .filter(|e| matches!(e, SessionEvent::Anomaly(_)))
            .count()
    }
    fn json(&self) -> String {
        serde_json::to_string(&self.out).unwrap()
    }
}

const EHLO_REPLY: &[u8] = b"250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 STARTTLS\r\n";

fn greet(h: &mut H) {
    h.s(b"220 mx.example ESMTP ready\r\n");
    h.c(b"EHLO client.example\r\n");
    h.s(EHLO_REPLY);
}

#[test]
fn plain_mail_with_rejected_recipient() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<alice@example.org> SIZE=200\r\n");
    h.s(b"250 2.1.0 Ok\r\n");
    h.c(b"RCPT TO:<bob@example.net>\r\n");
    h.s(b"250 2.1.5 Ok\r\n");
    h.c(b"rcpt to:<nobody@example.net>\r\n");
    h.s(b"550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n");
    h.c(b"DATA\r\n");
    h.s(b"354 End data with <CR><LF>.<CR><LF>\r\n");
    h.c(b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Hello\r\n there\r\nMessage-ID: <m1@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n");
    h.c(b"..starts with a dot\r\nbye\r\n.\r\n");
    h.s(b"250 2.0.0 Ok: queued as ABC\r\n");
    h.c(b"QUIT\r\n");
    h.s(b"221 2.0.0 Bye\r\n");
    h.close();

    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    assert_eq!(
        h.codes(),
        [220, 250, 250, 250, 550, 250, 250, 221].map(Some).to_vec()
    );
    let g = h.tx("GREETING");
    assert_eq!(g.status, Status::Ok);
    assert_eq!(g.request_value(), Value::Null);

    let ehlo = h.tx("EHLO");
    let ext = &ehlo.response_value()["extensions"];
    assert_eq!(ext["pipelining"], true);
    assert_eq!(ext["chunking"], true);
    assert_eq!(ext["starttls"], true);
    assert_eq!(ext["8bitmime"], true);
    assert_eq!(ext["smtputf8"], true);
    assert_eq!(ext["size"], 10240000);
    assert_eq!(
        ext["auth"],
        serde_json::json!(["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
    );
    assert_eq!(ehlo.request_value()["domain"], "client.example");

    let rcpts: Vec<_> = h
        .txs()
        .into_iter()
        .filter(|t| t.command == "RCPT")
        .collect();
    assert_eq!(rcpts[1].status, Status::Error);
    assert_eq!(rcpts[1].response_value()["enhanced"], "5.1.1");
    assert!(rcpts[1].error.as_deref().unwrap().contains("rejected"));
    assert_eq!(rcpts[1].query, "rcpt to:<nobody@example.net>");
    assert_eq!(h.tx("MAIL").response_value()["enhanced"], "2.1.0");
    assert_eq!(h.tx("MAIL").request_value()["address"], "alice@example.org");
    assert_eq!(h.tx("MAIL").request_value()["params"], "SIZE=200");

    let data = h.tx("DATA");
    assert_eq!(data.status, Status::Ok);
    assert_eq!(data.response_value()["code"], 250);
    assert_eq!(data.response_value()["intermediate"]["code"], 354);
    assert_eq!(data.latency_us, Some(4_000));

    let body = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Hello\r\n there\r\nMessage-ID: <m1@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n.starts with a dot\r\nbye\r\n";
    let m = h.tx("MESSAGE");
    assert_eq!(m.status, Status::Ok);
    assert_eq!(m.request_value()["mail_from"], "alice@example.org");
    assert_eq!(
        m.request_value()["recipients"][0]["address"],
        "bob@example.net"
    );
    assert_eq!(m.request_value()["recipients"][0]["code"], 250);
    assert_eq!(m.request_value()["recipients"][1]["code"], 550);
    assert_eq!(m.request_value()["body"]["kind"], "data");
    assert_eq!(m.request_value()["body"]["bytes"], body.len() as u64);
    let hd = &m.request_value()["body"]["headers"];
    assert_eq!(hd["subject"], "Hello there");
    assert_eq!(hd["from"], "Alice <alice@example.org>");
    assert_eq!(hd["to"], "bob@example.net");
    assert_eq!(hd["message_id"], "<m1@example.org>");
    assert_eq!(hd["date"], "Mon, 1 Jan 2024 00:00:00 +0000");
    assert_eq!(m.response_value()["code"], 250);
    // MAIL sent in segment 4, final reply in segment 14 (1 ms apart each).
    assert_eq!(m.latency_us, Some(10_000));
    assert_eq!(
        m.query,
        "FROM:<alice@example.org> TO:<bob@example.net> TO:<nobody@example.net>"
    );
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn other_commands_and_helo() {
    let mut h = H::new();
    h.s(b"220 mx\r\n");
    h.c(b"helo client\r\n");
    h.s(b"250 mx\r\n");
    for (c, r) in [
        (&b"NOOP\r\n"[..], &b"250 2.0.0 Ok\r\n"[..]),
        (b"VRFY bob\r\n", b"252 2.0.0 bob\r\n"),
        (b"EXPN list\r\n", b"502 5.5.1 EXPN not available\r\n"),
        (b"HELP\r\n", b"214-Commands:\r\n214 HELO EHLO MAIL\r\n"),
        (b"RSET\r\n", b"250 2.0.0 Ok\r\n"),
        (b"XCLIENT ADDR=1.2.3.4\r\n", b"550 5.7.0 no\r\n"),
        (b"QUIT\r\n", b"221 Bye\r\n"),
    ] {
        h.c(c);
        h.s(r);
    }
    assert_eq!(
        h.commands(),
        ["GREETING", "HELO", "NOOP", "VRFY", "EXPN", "HELP", "RSET", "XCLIENT", "QUIT"]
    );
    assert_eq!(
        h.tx("HELP").response_value()["lines"],
        serde_json::json!(["Commands:", "HELO EHLO MAIL"])
    );
    assert_eq!(h.tx("EXPN").status, Status::Error);
    assert!(h.tx("HELO").response_value().get("extensions").is_none());
}

#[test]
fn pipelined_envelope_replies_in_order() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nRCPT TO:<d@y>\r\nDATA\r\n");
    h.s(b"250 ok\r\n250 ok\r\n450 4.2.0 try later\r\n250 ok\r\n354 go\r\n");
    h.c(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nMAIL FROM:<e@x>\r\nRCPT TO:<f@y>\r\nDATA\r\n");
    h.s(b"250 queued\r\n250 ok\r\n554 5.7.1 no\r\n554 5.5.1 no valid recipients\r\n");
    h.c(b"QUIT\r\n");
    h.s(b"221 bye\r\n");
    assert_eq!(
        h.commands(),
        [
            "GREETING", "EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "DATA", "MESSAGE", "MAIL", "RCPT",
            "DATA", "MESSAGE", "QUIT"
        ]
    );
    assert_eq!(
        h.codes(),
        [220, 250, 250, 250, 450, 250, 250, 250, 250, 554, 554, 554, 221]
            .map(Some)
            .to_vec()
    );
    let msgs: Vec<_> = h
        .txs()
        .into_iter()
        .filter(|t| t.command == "MESSAGE")
        .collect();
    assert_eq!(msgs[0].request_value()["recipients"][1]["code"], 450);
    assert_eq!(
        msgs[0].request_value()["body"]["headers"]["subject"],
        "pipelined"
    );
    assert_eq!(msgs[1].status, Status::Error);
    assert!(msgs[1].request_value().get("body").is_none());
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn bdat_chunks_pipelined_and_zero_last() {
    let mut h = H::new();
    greet(&mut h);
    let chunk1 = b"Subject: chunky\r\n\r\nfirst ";
    let chunk2 = b"second\r\n.not stuffed\r\n";
    let mut c = Vec::new();
    c.extend_from_slice(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n");
    c.extend_from_slice(format!("BDAT {}\r\n", chunk1.len()).as_bytes());
    c.extend_from_slice(chunk1);
    c.extend_from_slice(format!("BDAT {}\r\n", chunk2.len()).as_bytes());
    c.extend_from_slice(chunk2);
    c.extend_from_slice(b"BDAT 0 LAST\r\n");
    h.c(&c);
    h.s(b"250 ok\r\n250 ok\r\n250 2.0.0 26 bytes\r\n250 2.0.0 24 bytes\r\n250 2.0.0 queued\r\n");
    h.c(b"QUIT\r\n");
    h.s(b"221 bye\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "BDAT", "BDAT", "BDAT", "MESSAGE", "QUIT"]
    );
    let bdats: Vec<_> = h
        .txs()
        .into_iter()
        .filter(|t| t.command == "BDAT")
        .collect();
    assert_eq!(bdats[0].request_value()["chunk_size"], chunk1.len());
    assert_eq!(bdats[0].request_value()["body_bytes"], chunk1.len());
    assert_eq!(bdats[2].request_value()["last"], true);
    assert_eq!(bdats[2].request_value()["chunk_size"], 0);
    assert_eq!(bdats[0].request_bytes, 9 + chunk1.len() as u64);
    let m = h.tx("MESSAGE");
    assert_eq!(m.status, Status::Ok);
    assert_eq!(m.request_value()["body"]["kind"], "bdat");
    assert_eq!(
        m.request_value()["body"]["bytes"],
        (chunk1.len() + chunk2.len()) as u64
    );
    assert_eq!(m.request_value()["body"]["chunks"], 3);
    assert_eq!(m.request_value()["body"]["headers"]["subject"], "chunky");
    assert_eq!(m.response_value()["enhanced"], "2.0.0");
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn bdat_last_with_data_and_failure() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\n");
    h.s(b"250 ok\r\n");
    h.c(b"RCPT TO:<b@y>\r\n");
    h.s(b"250 ok\r\n");
    h.c(b"BDAT 5 LAST\r\nhello");
    h.s(b"552 5.3.4 too big\r\n");
    h.c(b"RSET\r\n");
    h.s(b"250 ok\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "BDAT", "MESSAGE", "RSET"]
    );
    let m = h.tx("MESSAGE");
    assert_eq!(m.status, Status::Error);
    assert_eq!(m.request_value()["body"]["bytes"], 5);
}

#[test]
fn dot_stuffing_and_terminator_split_everywhere() {
    let body = b"Subject: dots\r\n\r\n..\r\n...\r\n...x\r\nend\r\n.\r\n";
    for cut in 0..body.len() {
        let mut h = H::new();
        greet(&mut h);
        h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
        h.s(b"250 ok\r\n250 ok\r\n354 go\r\n");
        h.c(&body[..cut]);
        h.c(&body[cut..]);
        h.s(b"250 queued\r\n");
        let m = h.tx("MESSAGE");
        // Unstuffed: "Subject: dots\r\n\r\n" ".\r\n" "..\r\n" "..x\r\n" "end\r\n".
        let want = 17 + 3 + 4 + 5 + 5;
        assert_eq!(m.request_value()["body"]["bytes"], want as u64, "cut {cut}");
        assert_eq!(m.status, Status::Ok);
    }
}

#[test]
fn auth_plain_initial_response_and_after_334() {
    // "\0alice\0s3cr3t-plain"
    let blob = "AGFsaWNlAHMzY3IzdC1wbGFpbg==";
    let mut h = H::new();
    greet(&mut h);
    h.c(format!("AUTH PLAIN {blob}\r\n").as_bytes());
    h.s(b"235 2.7.0 Authentication successful\r\n");
    let a = h.tx("AUTH");
    assert_eq!(a.query, "AUTH PLAIN (redacted)");
    assert_eq!(a.status, Status::Ok);
    assert_eq!(a.request_value()["auth"]["mechanism"], "PLAIN");
    assert_eq!(a.request_value()["auth"]["user"], "alice");

    let mut h = H::new();
    greet(&mut h);
    h.c(b"AUTH PLAIN\r\n");
    h.s(b"334 \r\n");
    h.c(format!("{blob}\r\n").as_bytes());
    h.s(b"535 5.7.8 Authentication credentials invalid\r\n");
    h.c(b"QUIT\r\n");
    h.s(b"221 bye\r\n");
    assert_eq!(h.commands(), ["GREETING", "EHLO", "AUTH", "QUIT"]);
    let a = h.tx("AUTH");
    assert_eq!(a.query, "AUTH PLAIN");
    assert_eq!(a.status, Status::Error);
    assert_eq!(a.request_value()["auth"]["user"], "alice");
    assert_eq!(a.request_value()["auth"]["responses"], 1);
    assert_eq!(a.response_value()["challenges"], 1);
    assert!(!h.json().contains(blob));
    assert!(!h.json().contains("s3cr3t"));
}

#[test]
fn auth_login_success_and_failure() {
    // user "carol", password "hunter2-login"
    for (reply, status) in [
        (&b"235 2.7.0 ok\r\n"[..], Status::Ok),
        (b"535 5.7.8 bad\r\n", Status::Error),
    ] {
        let mut h = H::new();
        greet(&mut h);
        h.c(b"auth login\r\n");
        h.s(b"334 VXNlcm5hbWU6\r\n");
        h.c(b"Y2Fyb2w=\r\n");
        h.s(b"334 UGFzc3dvcmQ6\r\n");
        h.c(b"aHVudGVyMi1sb2dpbg==\r\n");
        h.s(reply);
        h.c(b"NOOP\r\n");
        h.s(b"250 ok\r\n");
        assert_eq!(h.commands(), ["GREETING", "EHLO", "AUTH", "NOOP"]);
        let a = h.tx("AUTH");
        assert_eq!(a.status, status);
        assert_eq!(a.request_value()["auth"]["mechanism"], "LOGIN");
        assert_eq!(a.request_value()["auth"]["user"], "carol");
        assert_eq!(a.request_value()["auth"]["responses"], 2);
        assert_eq!(a.latency_us, Some(5_000));
        let j = h.json();
        assert!(!j.contains("aHVudGVyMi1sb2dpbg"));
        assert!(!j.contains("hunter2"));
    }
    // LOGIN with the user name on the AUTH line.
    let mut h = H::new();
    greet(&mut h);
    h.c(b"AUTH LOGIN Y2Fyb2w=\r\n");
    h.s(b"334 UGFzc3dvcmQ6\r\n");
    h.c(b"aHVudGVyMi1sb2dpbg==\r\n");
    h.s(b"235 ok\r\n");
    let a = h.tx("AUTH");
    assert_eq!(a.query, "AUTH LOGIN (redacted)");
    assert_eq!(a.request_value()["auth"]["user"], "carol");
    assert!(!h.json().contains("hunter2"));
}

#[test]
fn auth_cram_xoauth2_unknown_and_cancel() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"AUTH CRAM-MD5\r\n");
    h.s(b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
    // "tim b913a602c7eda7a495b4e6e7334d3890"
    h.c(b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n");
    h.s(b"235 ok\r\n");
    // user=u@x ^A auth=Bearer tok ^A ^A
    h.c(b"AUTH XOAUTH2 dXNlcj11QHgBYXV0aD1CZWFyZXIgdG9rAQE=\r\n");
    h.s(b"334 eyJzdGF0dXMiOiI0MDEifQ==\r\n");
    h.c(b"\r\n");
    h.s(b"535 5.7.8 bad token\r\n");
    h.c(b"AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9cm5vbmNl\r\n");
    h.s(b"334 cj1ybm9uY2VzZXJ2ZXIscz1zYWx0LGk9NDA5Ng==\r\n");
    h.c(b"Yz1iaXdzLHI9cm5vbmNlc2VydmVyLHA9cHJvb2Y=\r\n");
    h.s(b"334 dj1zaWc=\r\n");
    h.c(b"\r\n");
    h.s(b"235 ok\r\n");
    h.c(b"AUTH LOGIN\r\n");
    h.s(b"334 VXNlcm5hbWU6\r\n");
    h.c(b"*\r\n");
    h.s(b"501 5.7.0 cancelled\r\n");
    let auths: Vec<_> = h
        .txs()
        .into_iter()
        .filter(|t| t.command == "AUTH")
        .collect();
    assert_eq!(auths.len(), 4);
    assert_eq!(auths[0].request_value()["auth"]["user"], "tim");
    assert_eq!(auths[0].status, Status::Ok);
    assert_eq!(auths[1].request_value()["auth"]["user"], "u@x");
    assert_eq!(auths[1].status, Status::Error);
    assert_eq!(auths[1].query, "AUTH XOAUTH2 (redacted)");
    assert_eq!(
        auths[2].request_value()["auth"]["mechanism"],
        "SCRAM-SHA-256"
    );
    assert!(auths[2].request_value()["auth"].get("user").is_none());
    assert_eq!(auths[2].request_value()["auth"]["responses"], 2);
    assert_eq!(auths[2].response_value()["challenges"], 2);
    assert_eq!(auths[3].request_value()["auth"]["cancelled"], true);
    let j = h.json();
    for secret in [
        "b913a602c7eda7a495b4e6e7334d3890",
        "dGltIGI5",
        "Bearer tok",
        "cHJvb2Y",
        "biwsbj11",
    ] {
        assert!(!j.contains(secret), "{secret} leaked");
    }
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn passwords_never_in_output() {
    let pw = ["p4ss-PLAIN-9", "p4ss-LOGIN-7"];
    let plain = "AHVzZXIAcDRzcy1QTEFJTi05"; // "\0user\0p4ss-PLAIN-9"
    let login_pw = "cDRzcy1MT0dJTi03"; // "p4ss-LOGIN-7"
    let mut h = H::new();
    greet(&mut h);
    h.c(format!("AUTH PLAIN {plain}\r\nNOOP\r\n").as_bytes());
    h.s(b"535 no\r\n");
    h.s(b"250 ok\r\n");
    h.c(b"AUTH LOGIN dXNlcg==\r\n");
    h.s(b"334 UGFzc3dvcmQ6\r\n");
    h.c(format!("{login_pw}\r\n").as_bytes());
    h.s(b"535 no\r\n");
    h.close();
    let j = h.json();
    for s in pw.iter().chain([&plain, &login_pw]) {
        assert!(!j.contains(s), "{s} leaked: {j}");
    }
}

#[test]
fn starttls_detaches_with_encrypted_note() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"STARTTLS\r\n");
    // Detach once the next bytes show the TLS handshake.
    assert_eq!(h.s(b"220 2.0.0 Ready to start TLS\r\n"), Flow::Continue);
    assert_eq!(
        h.c(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        Flow::Detach
    );
    h.close();
    assert_eq!(h.commands(), ["GREETING", "EHLO", "STARTTLS"]);
    let t = h.tx("STARTTLS");
    assert!(t.notes.contains(&Note::Encrypted));
    assert_eq!(t.status, Status::Ok);
    assert!(h.s.is_encrypted());
    assert_eq!(h.anomalies(), 0);

    // Refused STARTTLS: plaintext continues.
    let mut h = H::new();
    greet(&mut h);
    h.c(b"STARTTLS\r\n");
    assert_eq!(h.s(b"454 4.7.0 TLS not available\r\n"), Flow::Continue);
    h.c(b"QUIT\r\n");
    h.s(b"221 bye\r\n");
    assert_eq!(h.commands(), ["GREETING", "EHLO", "STARTTLS", "QUIT"]);
}

#[test]
fn gap_in_commands_resyncs_at_next_verb() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b");
    h.gap(C2S, Some(40));
    h.c(b"junk tail\r\nmore junk\r\nRCPT TO:<c@y>\r\n");
    h.s(b"250 ok\r\n250 ok\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "MESSAGE"]
    );
    let r = h.tx("RCPT");
    assert_eq!(r.request_value()["address"], "c@y");
    assert!(r.notes.iter().any(|n| matches!(
        n,
        Note::Gap {
            bytes: Some(40),
            ..
        }
    )));
    assert!(r.notes.iter().any(|n| matches!(
        n,
        Note::Resync {
            skipped_bytes: 22,
            ..
        }
    )));
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn gap_in_body_only_shortens_it() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    h.s(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c(b"Subject: gap\r\n\r\nline one\r\n");
    h.gap(C2S, Some(1000));
    h.c(b"ne three\r\n.\r\nQUIT\r\n");
    h.s(b"250 queued\r\n221 bye\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    let m = h.tx("MESSAGE");
    assert_eq!(m.status, Status::Ok);
    assert_eq!(m.request_value()["body"]["gap_bytes"], 1000);
    assert_eq!(m.request_value()["body"]["incomplete"], true);
    assert_eq!(m.request_value()["body"]["bytes"], 26 + 10);
    assert_eq!(m.request_value()["body"]["headers"]["subject"], "gap");
    assert!(m.notes.iter().any(|n| matches!(n, Note::Gap { .. })));
    assert!(h
        .tx("DATA")
        .notes
        .iter()
        .any(|n| matches!(n, Note::Gap { .. })));
}

#[test]
fn gap_swallowing_end_of_data_recovers_on_reply() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    h.s(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c(b"Subject: lost end\r\n\r\nbody");
    h.gap(C2S, None);
    h.s(b"250 queued\r\n");
    h.c(b"QUIT\r\n");
    h.s(b"221 bye\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    assert_eq!(h.tx("MESSAGE").request_value()["body"]["incomplete"], true);
}

#[test]
fn server_gap_reports_pending_without_mispairing() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n");
    h.s(b"250 o");
    h.gap(S2C, Some(20));
    h.s(b"k\r\n250 ok\r\n");
    h.c(b"NOOP\r\n");
    h.s(b"250 noop ok\r\n");
    let st: Vec<_> = h
        .txs()
        .iter()
        .map(|t| (t.command.clone(), t.status))
        .collect();
    assert_eq!(
        st,
        [
            ("GREETING".into(), Status::Ok),
            ("EHLO".into(), Status::Ok),
            ("MAIL".into(), Status::NoResponse),
            ("RCPT".into(), Status::NoResponse),
            (String::new(), Status::NoRequest),
            ("NOOP".into(), Status::Ok),
        ]
    );
    // The partial line was carried over and dropped with the gap (the gap note says so).
    assert_eq!(h.anomalies(), 0);
}

#[test]
fn overlong_lines_are_bounded_and_noted() {
    let cfg = SmtpConfig {
        max_line: 64,
        ..Default::default()
    };
    let mut h = H::with(false, cfg);
    h.s(b"220 mx\r\n");
    let long = format!("VRFY {}\r\n", "x".repeat(1000));
    for piece in long.as_bytes().chunks(100) {
        h.c(piece);
    }
    let reply = format!("252 {}\r\n", "y".repeat(500));
    h.s(reply.as_bytes());
    let v = h.tx("VRFY");
    assert!(v.notes.contains(&Note::Truncated {
        field: "line",
        len: long.len() as u64
    }));
    assert!(v.query.len() <= 64 + 4);
    assert_eq!(v.request_bytes, long.len() as u64);
    assert!(v.notes.iter().any(|n| matches!(
        n,
        Note::Truncated {
            field: "reply_line",
            ..
        }
    )));
    assert_eq!(v.response_value()["code"], 252);
    assert!(h.s.buffered_bytes() < 1024);
}

#[test]
fn unknown_and_garbage_lines() {
    let mut h = H::new();
    h.s(b"220 mx\r\n");
    h.c(b"XYZZY plugh\r\n\x01\x02garbage\r\n");
    h.s(b"500 5.5.2 unknown\r\n");
    assert_eq!(h.commands(), ["GREETING", "XYZZY"]);
    assert_eq!(h.anomalies(), 1);
}

#[test]
fn close_reports_pending_and_open_body() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    h.s(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c(b"Subject: cut\r\n\r\npartial");
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE"]
    );
    let d = h.tx("DATA");
    assert_eq!(d.status, Status::NoResponse);
    assert_eq!(d.response_value()["intermediate"]["code"], 354);
    let m = h.tx("MESSAGE");
    assert_eq!(m.status, Status::NoResponse);
    // The data was sent: the message did not get abandoned, its final reply never came.
    assert!(m.request_value().get("abandoned_by").is_none());
    assert_eq!(m.request_value()["body"]["incomplete"], true);
}

#[test]
fn rset_abandons_message() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRSET\r\n");
    h.s(b"250 ok\r\n250 ok\r\n250 reset\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "RSET", "MESSAGE"]
    );
    let m = h.tx("MESSAGE");
    assert_eq!(m.status, Status::NoResponse);
    assert_eq!(m.request_value()["abandoned_by"], "RSET");
    assert_eq!(m.request_value()["recipients"][0]["code"], 250);
}

#[test]
fn midstream_pickup() {
    let mut h = H::with(true, SmtpConfig::default());
    h.c(b"ody text\r\n.\r\nQUIT\r\n");
    h.s(b"ueued\r\n221 bye\r\n");
    assert_eq!(h.commands(), ["QUIT"]);
    assert_eq!(h.tx("QUIT").status, Status::Ok);
}

#[test]
fn early_body_held_until_354() {
    // A client that does not wait for 354 (or a capture where the reply is late).
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: eager\r\n\r\nhi\r\n.\r\nQUIT\r\n");
    h.s(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.s(b"250 queued\r\n221 bye\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    assert_eq!(
        h.tx("MESSAGE").request_value()["body"]["headers"]["subject"],
        "eager"
    );
}

#[test]
fn hundred_megabyte_body_streams_in_bounded_memory() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    h.s(b"250 ok\r\n250 ok\r\n354 go\r\n");
    h.c(b"Subject: big\r\n\r\n");
    // 100 MiB of 78-byte lines, some dot-stuffed, in 64 KiB chunks.
    let mut line = [b'a'; 78];
    line[76] = b'\r';
    line[77] = b'\n';
    let mut chunk = Vec::with_capacity(64 * 1024);
    let total: usize = 100 * 1024 * 1024;
    let mut sent = 0usize;
    let mut max_buffered = 0;
    let mut n = 0u64;
    while sent < total {
        chunk.clear();
        while chunk.len() + 78 <= 64 * 1024 {
            line[0] = if n % 1000 == 0 { b'.' } else { b'a' };
            n += 1;
            chunk.extend_from_slice(&line);
        }
        // Split lines across chunk boundaries too.
        let cut = chunk.len() - 10;
        h.c(&chunk[..cut]);
        h.c(&chunk[cut..]);
        sent += chunk.len();
        max_buffered = max_buffered.max(h.s.buffered_bytes());
    }
    h.c(b".\r\n");
    h.s(b"250 queued\r\n");
    assert!(max_buffered <= 32 * 1024, "buffered {max_buffered}");
    let m = h.tx("MESSAGE");
    let stuffed = n.div_ceil(1000);
    assert_eq!(
        m.request_value()["body"]["bytes"],
        (sent as u64 + 16) - stuffed
    );
    assert_eq!(m.request_value()["body"]["headers"]["subject"], "big");
    // Only the output of a few events, no per-chunk events.
    assert_eq!(h.out.len(), 6);
}

/// A full transcript: (direction, bytes) in capture order.
fn transcript() -> Vec<(Direction, Vec<u8>)> {
    let v: Vec<(Direction, &[u8])> = vec![
        (S2C, b"220 mx.example ESMTP\r\n"),
        (C2S, b"EHLO c\r\n"),
        (S2C, EHLO_REPLY),
        (C2S, b"AUTH LOGIN\r\n"),
        (S2C, b"334 VXNlcm5hbWU6\r\n"),
        (C2S, b"dXNlcg==\r\n"),
        (S2C, b"334 UGFzc3dvcmQ6\r\n"),
        (C2S, b"cGFzcw==\r\n"),
        (S2C, b"235 2.7.0 ok\r\n"),
        (
            C2S,
            b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n",
        ),
        (S2C, b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n"),
        (C2S, b"Subject: s\r\nFrom: a@x\r\n\r\n..x\r\n.\r\n"),
        (S2C, b"250 2.0.0 queued\r\n"),
        (
            C2S,
            b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 7\r\nSubj: xBDAT 0 LAST\r\n",
        ),
        (S2C, b"250 ok\r\n250 ok\r\n250 ok\r\n250 done\r\n"),
        (C2S, b"VRFY x\r\nNOOP\r\nQUIT\r\n"),
        (S2C, b"252 x\r\n250 ok\r\n221 bye\r\n"),
    ];
    v.into_iter().map(|(d, b)| (d, b.to_vec())).collect()
}

fn run(tr: &[(Direction, Vec<u8>)], cuts: &[usize]) -> String {
    let mut h = H::new();
    for (i, (dir, bytes)) in tr.iter().enumerate() {
        // Same timestamp for every piece of one segment.
        h.t += 1_000_000;
        let ts = Timestamp(h.t);
        let mut pieces = vec![0, bytes.len()];
        if let Some(&c) = cuts.get(i) {
            pieces.insert(1, c % (bytes.len() + 1));
        }
        if let Some(&c) = cuts.get(i + tr.len()) {
            pieces.push(c % (bytes.len() + 1));
        }
        pieces.sort();
        for w in pieces.windows(2) {
            let chunk = StreamChunk {
                dir: *dir,
                ts,
                data: &bytes[w[0]..w[1]],
                held: Default::default(),
            };
            h.s.on_data(&chunk, &mut h.out as &mut dyn EventSink);
        }
    }
    h.close();
    h.json()
}

#[test]
fn transcript_single_feed() {
    let j = run(&transcript(), &[]);
    let v: Value = serde_json::from_str(&j).unwrap();
    let cmds: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["command"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        cmds,
        [
            "GREETING", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "MESSAGE", "MAIL", "RCPT",
            "BDAT", "BDAT", "MESSAGE", "VRFY", "NOOP", "QUIT"
        ]
    );
    assert!(!j.contains("cGFzcw"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn segmentation_gives_identical_events(cuts in proptest::collection::vec(0usize..400, 0..34)) {
        let tr = transcript();
        let whole = run(&tr, &[]);
        prop_assert_eq!(run(&tr, &cuts), whole);
    }

    #[test]
    fn byte_at_a_time_same_as_whole(seed in 0u8..1) {
        let _ = seed;
        let tr = transcript();
        let whole = run(&tr, &[]);
        let mut h = H::new();
        for (dir, bytes) in &tr {
            h.t += 1_000_000;
            let ts = Timestamp(h.t);
            for b in bytes.chunks(1) {
                let chunk = StreamChunk { dir: *dir, ts, data: b, held: Default::default() };
                h.s.on_data(&chunk, &mut h.out as &mut dyn EventSink);
            }
        }
        h.close();
        prop_assert_eq!(h.json(), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        segs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64)), 0..24),
        gaps in proptest::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut h = H::with(false, SmtpConfig { max_line: 32, ..Default::default() });
        for (i, (c2s, bytes)) in segs.iter().enumerate() {
            h.send(if *c2s { C2S } else { S2C }, bytes);
            if gaps.contains(&(i as u8)) {
                h.gap(if *c2s { S2C } else { C2S }, Some(3));
            }
            prop_assert!(h.s.buffered_bytes() <= 4 * 32 + 16 * 1024);
        }
        h.close();
    }
}

#[test]
fn unterminated_multiline_reply_closed_by_new_code() {
    let mut h = H::new();
    h.s(b"220 mx\r\n");
    h.c(b"EHLO c\r\n");
    h.s(b"250-mx\r\n250-PIPELINING\r\n");
    h.c(b"AUTH LOGIN\r\n");
    h.s(b"334 VXNlcm5hbWU6\r\n");
    h.c(b"dXNlcg==\r\n");
    h.s(b"334 UGFzc3dvcmQ6\r\n");
    h.c(b"cGFzcw==\r\n");
    h.s(b"235 ok\r\n");
    assert_eq!(h.commands(), ["GREETING", "EHLO", "AUTH"]);
    assert_eq!(h.codes(), [Some(220), Some(250), Some(235)]);
    assert_eq!(h.tx("AUTH").request_value()["auth"]["user"], "user");
    assert_eq!(h.anomalies(), 1);
}

#[test]
fn client_that_does_not_wait_is_resynchronised() {
    // The server's replies after AUTH were never captured; the client went on.
    let mut h = H::new();
    greet(&mut h);
    h.c(b"AUTH LOGIN\r\n");
    h.c(b"dXNlcg==\r\n");
    h.c(b"cGFzcw==\r\n");
    h.c(b"MAIL FROM:<a@x>\r\n");
    h.c(&b"x".repeat(5000));
    h.c(b"\r\nRCPT TO:<b@y>\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "AUTH", "MAIL", "RCPT", "MESSAGE"]
    );
    assert!(!h.json().contains("cGFzcw"));
}

#[test]
fn starttls_then_close_is_encrypted_and_plaintext_after_starttls_is_parsed() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\n");
    h.s(b"250 ok\r\n");
    h.c(b"STARTTLS\r\n");
    h.s(b"220 go ahead\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "STARTTLS", "MESSAGE"]
    );
    assert!(h.tx("STARTTLS").notes.contains(&Note::Encrypted));
    assert_eq!(h.tx("MESSAGE").request_value()["abandoned_by"], "STARTTLS");

    // A decrypted capture: plaintext SMTP follows the 220.
    let mut h = H::new();
    greet(&mut h);
    h.c(b"STARTTLS\r\n");
    h.s(b"220 go ahead\r\n");
    assert_eq!(h.c(b"EHLO c\r\n"), Flow::Continue);
    h.s(EHLO_REPLY);
    h.c(b"QUIT\r\n");
    h.s(b"221 bye\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "STARTTLS", "EHLO", "QUIT"]
    );
    let t = h.tx("STARTTLS");
    assert!(!t.notes.contains(&Note::Encrypted));
    assert!(matches!(&t.notes[0], Note::Text { text } if text.contains("plaintext")));
}

#[test]
fn commands_before_greeting_pair_after_it() {
    let mut h = H::new();
    h.c(b"HELO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nSubject: early\r\n\r\nx\r\n.\r\nQUIT\r\n");
    h.s(b"220 mx\r\n250 hello\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n");
    assert_eq!(
        h.commands(),
        ["GREETING", "HELO", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    assert_eq!(
        h.tx("MESSAGE").request_value()["body"]["headers"]["subject"],
        "early"
    );
}

#[test]
fn credentials_after_a_lost_challenge_are_withheld() {
    let mut h = H::new();
    greet(&mut h);
    h.c(b"AUTH LOGIN\r\n");
    h.gap(S2C, Some(18)); // the 334 Username: was never captured
    h.c(b"c2VjcmV0LXVzZXI=\r\n");
    h.c(b"aHVudGVyMi1sb3N0\r\n");
    h.c(b"NOOP\r\n");
    h.s(b"250 ok\r\n");
    // Without the resynchronisation (the client line follows immediately after the gap in a
    // new segment) the lines would be read as commands: they must still not leak.
    let mut h2 = H::new();
    greet(&mut h2);
    h2.c(b"Zm9vYmFyYmF6\r\nhunter2pw+/=\r\nc2VjcmV0LXVzZXI=\r\n");
    h2.s(b"500 what\r\n500 what\r\n500 what\r\n");
    for j in [h.json(), h2.json()] {
        for secret in [
            "c2VjcmV0LXVzZXI",
            "aHVudGVyMi1sb3N0",
            "Zm9vYmFyYmF6",
            "hunter2pw",
        ] {
            assert!(!j.contains(secret), "{secret} leaked: {j}");
        }
    }
    assert_eq!(h.tx("NOOP").status, Status::Ok);
}

/// Fragments that reach deep states when shuffled: bodies, BDAT chunks, AUTH rounds, TLS.
const CLIENT_BITS: &[&[u8]] = &[
    b"EHLO c\r\n",
    b"MAIL FROM:<a@x>\r\n",
    b"RCPT TO:<b@y>\r\n",
    b"DATA\r\n",
    b"Subject: s\r\n\r\nbody\r\n",
    b"..stuffed\r\n",
    b".\r\n",
    b"\r\n.\r",
    b"\n",
    b"BDAT 5\r\nhello",
    b"BDAT 0 LAST\r\n",
    b"BDAT 3 LAST\r\nab",
    b"BDAT x\r\n",
    b"AUTH LOGIN\r\n",
    b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    b"dXNlcg==\r\n",
    b"*\r\n",
    b"STARTTLS\r\n",
    b"\x16\x03\x01\x00\x05hello",
    b"RSET\r\nNOOP\r\nQUIT\r\n",
    b"XYZZY\r\n",
    b"MAIL FROM:<very-long",
];
const SERVER_BITS: &[&[u8]] = &[
    b"220 mx\r\n",
    b"220-mx\r\n",
    b"250-PIPELINING\r\n250 CHUNKING\r\n",
    b"250 2.1.0 ok\r\n",
    b"354 go\r\n",
    b"334 VXNlcm5hbWU6\r\n",
    b"334 UGFzc3dvcmQ6\r\n",
    b"235 ok\r\n",
    b"535 5.7.8 no\r\n",
    b"550 5.1.1 no\r\n",
    b"221 bye\r\n",
    b"garbage\r\n",
    b"25",
    b"0 ok\r\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn shuffled_smtp_fragments_never_panic_and_stay_bounded(
        steps in proptest::collection::vec((0u8..4, any::<proptest::sample::Index>(), 0usize..8), 0..60),
        midstream in any::<bool>(),
    ) {
        let cfg = SmtpConfig { max_line: 48, header_area: 64, max_pending: 4, ..Default::default() };
        let mut h = H::with(midstream, cfg);
        for (kind, idx, cut) in steps {
            match kind {
                0 => {
                    let b = idx.get(CLIENT_BITS);
                    let c = cut.min(b.len());
                    h.c(&b[..c]);
                    h.c(&b[c..]);
                }
                1 => {
                    let b = idx.get(SERVER_BITS);
                    h.s(b);
                }
                2 => h.gap(if cut % 2 == 0 { C2S } else { S2C }, (cut % 3 != 0).then_some(cut as u64)),
                _ => {
                    h.c(&b"x".repeat(cut * 20));
                }
            }
            prop_assert!(h.s.buffered_bytes() <= 2 * 96 + 2 * 48 + 64 + 64 * 520, "{}", h.s.buffered_bytes());
        }
        h.close();
        // Fragments glued without a line end can form any line at all, so only the places a
        // credential can legitimately reach are checked: AUTH queries and anomaly text.
        for e in &h.out {
            let text = match e {
                SessionEvent::Transaction(t) if t.command == "AUTH" => t.query.clone(),
                SessionEvent::Anomaly(a) => a.reason.clone(),
                _ => continue,
            };
            prop_assert!(!text.contains("AGFsaWNlAHNlY3JldA") && !text.contains("dXNlcg"), "{}", text);
        }
    }
}

#[test]
fn recipients_of_a_message_are_bounded_and_counted() {
    // A peer sending a thousand RCPT (each answered) must not make the MESSAGE grow: the first
    // `max_recipients` are kept, the rest counted, and the message says so.
    let mut h = H::new();
    greet(&mut h);
    h.c(b"MAIL FROM:<a@x>\r\n");
    h.s(b"250 2.1.0 Ok\r\n");
    for i in 0..1000 {
        h.c(format!("RCPT TO:<r{i}@y>\r\n").as_bytes());
        h.s(b"250 2.1.5 Ok\r\n");
    }
    h.c(b"DATA\r\n");
    h.s(b"354 go\r\n");
    h.c(b"Subject: many\r\n\r\nbody\r\n.\r\n");
    h.s(b"250 2.0.0 queued\r\n");
    h.close();
    let m = h.tx("MESSAGE");
    let req = m.request_value();
    let kept = req["recipients"].as_array().unwrap();
    assert_eq!(kept.len(), SmtpConfig::default().max_recipients);
    assert_eq!(kept[0]["address"], "r0@y");
    assert_eq!(req["recipients_dropped"], 900);
    assert!(
        m.notes.iter().any(|n| matches!(
            n,
            wiresift_core::Note::Truncated {
                field: "recipients",
                len: 1000
            }
        )),
        "{:?}",
        m.notes
    );
    assert!(m.query.len() < 1024, "query is bounded: {}", m.query.len());
}
