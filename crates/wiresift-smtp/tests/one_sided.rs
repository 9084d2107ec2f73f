//! One-sided SMTP (issue 13 §1): with no server bytes at all, or with the server direction
//! lost in a gap, the client side is read as the client behaves (DATA is followed by its body,
//! AUTH by its SASL lines, STARTTLS by TLS).

use serde_json::Value;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, Flow, GapInfo, Note,
    OwnedTransaction, ProtocolSession, SessionEvent, Status, StreamChunk, Timestamp,
};
use wiresift_smtp::{SmtpConfig, SmtpSession};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

struct H {
    s: SmtpSession,
    out: Vec<SessionEvent>,
    t: u64,
}

impl H {
    fn new() -> Self {
        let conn = ConnectionInfo {
            id: ConnectionId(1),
            client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
            server: Endpoint::new("10.0.0.2".parse().unwrap(), 25),
            start: Timestamp(1_000_000_000),
            midstream: false,
        };
        H {
            s: SmtpSession::new(&conn, SmtpConfig::default()),
            out: Vec::new(),
            t: 1_000_000_000,
        }
    }
    fn send(&mut self, dir: Direction, data: &[u8]) -> Flow {
        self.t += 1_000_000;
        let chunk = StreamChunk {
            dir,
            ts: Timestamp(self.t),
            data,
            held: Default::default(),
        };
        self.s.on_data(&chunk, &mut self.out as &mut dyn EventSink)
    }
    fn close(&mut self) {
        self.t += 1_000_000;
        self.s.on_close(
            Timestamp(self.t),
            CloseReason::Fin,
            &mut self.out as &mut dyn EventSink,
        );
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
    fn messages(&self) -> Vec<Value> {
        self.txs()
            .into_iter()
            .filter(|t| t.command == "MESSAGE")
            .map(|t| t.request_value())
            .collect()
    }
}

fn mail(n: u32) -> Vec<u8> {
    format!(
        "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: Hello{n}!\r\n\
         Message-ID: <m{n}@example.test>\r\n\r\nHi Bob,\r\nRSET\r\nMAIL FROM:<mallory@example.test>\r\n\
         ..a stuffed dot\r\n.\r\n"
    )
    .into_bytes()
}

#[test]
fn client_only_two_mails_give_bodies_headers_and_no_body_line_as_command() {
    let mut h = H::new();
    h.send(C2S, b"EHLO c.example.test\r\n");
    for n in 1..=2 {
        h.send(C2S, b"MAIL FROM:<alice@example.test>\r\n");
        h.send(C2S, b"RCPT TO:<bob@example.test>\r\n");
        h.send(C2S, b"DATA\r\n");
        let m = mail(n);
        // Split the body across segments, the final dot in its own segment.
        let (a, b) = m.split_at(40);
        h.send(C2S, a);
        h.send(C2S, &b[..b.len() - 3]);
        h.send(C2S, &b[b.len() - 3..]);
    }
    h.send(C2S, b"QUIT\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["EHLO", "MAIL", "RCPT", "DATA", "MESSAGE", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    assert!(h.txs().iter().all(|t| t.status == Status::NoResponse));
    let msgs = h.messages();
    assert_eq!(msgs.len(), 2);
    for (i, m) in msgs.iter().enumerate() {
        let hd = &m["body"]["headers"];
        assert_eq!(hd["subject"], format!("Hello{}!", i + 1));
        assert_eq!(hd["from"], "alice@example.test");
        assert_eq!(hd["to"], "bob@example.test");
        assert_eq!(hd["message_id"], format!("<m{}@example.test>", i + 1));
        // Unstuffed, without the final dot line.
        assert_eq!(m["body"]["bytes"], mail(1).len() as u64 - 3 - 1);
        assert_eq!(m["body"].get("incomplete"), None);
    }
    let data = h.txs().into_iter().find(|t| t.command == "DATA").unwrap();
    assert_eq!(data.request_bytes, 6 + mail(1).len() as u64);
}

#[test]
fn client_only_auth_login_reads_its_sasl_lines_and_starttls_detaches_on_tls() {
    let mut h = H::new();
    h.send(C2S, b"EHLO c\r\n");
    h.send(C2S, b"AUTH LOGIN\r\n");
    h.send(C2S, b"YWxpY2U=\r\n"); // alice
    h.send(C2S, b"c2VjcmV0\r\n"); // secret
    h.send(C2S, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    h.send(C2S, b"NOOP\r\n");
    h.send(C2S, b"STARTTLS\r\n");
    let f = h.send(C2S, &[0x16, 0x03, 0x01, 0x00, 0x40, 0x01]);
    assert_eq!(f, Flow::Detach);
    assert_eq!(h.commands(), ["EHLO", "AUTH", "AUTH", "NOOP", "STARTTLS"]);
    let auth = h.txs()[1].request_value();
    assert_eq!(auth["auth"]["user"], "alice");
    assert_eq!(auth["auth"]["responses"], 2);
    assert_eq!(h.txs()[2].request_value()["auth"]["user"], "alice");
    assert!(h.txs()[4].notes.contains(&Note::Encrypted));
    let json = serde_json::to_string(&h.out).unwrap();
    assert!(!json.contains("c2VjcmV0") && !json.contains("secret"));
}

#[test]
fn server_lost_in_a_gap_then_the_body_is_still_read() {
    let mut h = H::new();
    h.send(S2C, b"220 mx ESMTP\r\n");
    h.send(C2S, b"EHLO c\r\n");
    h.send(S2C, b"250 mx\r\n");
    h.send(C2S, b"MAIL FROM:<alice@example.test>\r\n");
    h.t += 1;
    h.s.on_gap(
        &GapInfo {
            dir: S2C,
            ts: Timestamp(h.t),
            len: Some(200),
        },
        &mut h.out as &mut dyn EventSink,
    );
    h.send(C2S, b"RCPT TO:<bob@example.test>\r\n");
    h.send(C2S, b"DATA\r\n");
    h.send(C2S, &mail(1));
    h.send(C2S, b"QUIT\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    let m = &h.messages()[0];
    assert_eq!(m["body"]["headers"]["subject"], "Hello1!");
}

#[test]
fn a_server_that_answers_after_all_still_pairs_in_order() {
    // A client that did not wait (pregreeting): its body is read as a body, and the replies
    // that come later pair with the commands in order.
    let mut h = H::new();
    h.send(
        C2S,
        b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
    );
    h.send(C2S, &mail(1));
    h.send(C2S, b"QUIT\r\n");
    h.send(
        S2C,
        b"220 mx\r\n250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n",
    );
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE", "QUIT"]
    );
    let data = h.txs()[4].response_value();
    assert_eq!(data["code"], 250);
    assert_eq!(data["intermediate"]["code"], 354);
    assert_eq!(h.messages()[0]["body"]["headers"]["subject"], "Hello1!");
}

#[test]
fn lines_after_a_refused_data_are_commands_paired_with_their_500s() {
    let mut h = H::new();
    h.send(S2C, b"220 mx\r\n");
    h.send(C2S, b"HELO c\r\n");
    h.send(S2C, b"250 mx\r\n");
    h.send(C2S, b"DATA\r\n");
    h.send(S2C, b"503 5.5.1 Error: need RCPT command\r\n");
    h.send(C2S, b"Hello, Alice (2)\r\n");
    h.send(S2C, b"500 5.5.2 Error: command not recognized\r\n");
    h.send(C2S, b".\r\n");
    h.send(S2C, b"500 5.5.2 Error: command not recognized\r\n");
    h.send(C2S, b"QUIT\r\n");
    h.send(S2C, b"221 bye\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["GREETING", "HELO", "DATA", "HELLO,", ".", "QUIT"]
    );
    let t = h.txs();
    assert!(t.iter().all(|t| t.status != Status::NoRequest));
    assert_eq!(t[3].query, "Hello, Alice (2)");
    assert_eq!(t[3].response_value()["code"], 500);
    assert_eq!(t[4].response_value()["code"], 500);
    assert_eq!(t[5].response_value()["code"], 221);
}

#[test]
fn client_only_refused_data_followed_by_commands_is_not_a_body() {
    let mut h = H::new();
    h.send(C2S, b"EHLO c\r\n");
    h.send(C2S, b"MAIL FROM:<a@x>\r\n");
    h.send(C2S, b"DATA\r\n");
    h.send(C2S, b"RS");
    h.send(C2S, b"ET\r\n");
    h.send(C2S, b"QUIT\r\n");
    h.close();
    assert_eq!(
        h.commands(),
        ["EHLO", "MAIL", "DATA", "MESSAGE", "RSET", "QUIT"]
    );
    assert!(h.txs()[2].request_value().is_null());
}
