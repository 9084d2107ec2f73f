//! Session-state budget, request timer, byte accounting and the hostile inputs of issue #7:
//! a BDAT of 2^63 bytes cut by FIN, a 32 MiB SASL line, 300 000 recipients, garbage notes.

use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, EventSink, Note,
    OwnedTransaction, ProtocolSession, SessionEvent, Status, StreamChunk, Timestamp, MAX_NOTES,
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
            id: ConnectionId(7),
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
    fn send(&mut self, dir: Direction, data: &[u8]) {
        self.t += 1_000_000;
        let chunk = StreamChunk {
            dir,
            ts: Timestamp(self.t),
            data,
            held: Default::default(),
        };
        self.s.on_data(&chunk, &mut self.out as &mut dyn EventSink);
        let a = self.s.accounting().unwrap();
        assert!(a.balanced(), "{a:?}");
    }
    fn c(&mut self, d: &[u8]) -> &mut Self {
        self.send(C2S, d);
        self
    }
    fn s(&mut self, d: &[u8]) -> &mut Self {
        self.send(S2C, d);
        self
    }
    fn fin(&mut self) {
        self.t += 1_000_000;
        let ts = Timestamp(self.t);
        self.s.on_fin(C2S, ts, &mut self.out as &mut dyn EventSink);
        self.s
            .on_close(ts, CloseReason::Fin, &mut self.out as &mut dyn EventSink);
        let a = self.s.accounting().unwrap();
        assert!(a.balanced(), "{a:?}");
        assert_eq!(a.held, 0);
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
    fn tx(&self, cmd: &str) -> &OwnedTransaction {
        self.txs()
            .into_iter()
            .find(|t| t.command == cmd)
            .unwrap_or_else(|| panic!("no {cmd}"))
    }
    fn greet(&mut self) -> &mut Self {
        self.s(b"220 mx ESMTP\r\n")
            .c(b"EHLO c\r\n")
            .s(b"250-mx\r\n250-CHUNKING\r\n250 PIPELINING\r\n")
    }
}

#[test]
fn huge_bdat_cut_by_fin_is_not_ok() {
    let mut h = H::new();
    h.greet()
        .c(b"MAIL FROM:<a@x>\r\n")
        .s(b"250 ok\r\n")
        .c(b"RCPT TO:<b@x>\r\n")
        .s(b"250 ok\r\n");
    h.c(format!("BDAT {} LAST\r\n", 1u64 << 63).as_bytes());
    h.c(&[b'x'; 10_000]);
    h.fin();
    let b = h.tx("BDAT");
    assert_ne!(b.status, Status::Ok, "{b:?}");
    let m = h.tx("MESSAGE");
    assert_ne!(m.status, Status::Ok, "{m:?}");
    let json = serde_json::to_string(&h.out).unwrap();
    assert!(json.contains("\"incomplete\":true"), "{json}");
}

#[test]
fn auth_login_huge_sasl_line_is_truncated() {
    let mut h = H::new();
    h.greet().c(b"AUTH LOGIN\r\n").s(b"334 VXNlcm5hbWU6\r\n");
    // 32 MiB of base64 without a line end, in 64 KiB segments, then CRLF.
    let seg = vec![b'A'; 64 * 1024];
    for _ in 0..512 {
        h.c(&seg);
    }
    h.c(b"\r\n").s(b"535 no\r\n");
    h.fin();
    let a = h.tx("AUTH");
    assert!(
        a.notes
            .iter()
            .any(|n| matches!(n, Note::Truncated { field: "line", len } if *len > 32 << 20)),
        "{:?}",
        a.notes
    );
    assert!(h.s.state_bytes() < 64 * 1024);
}

#[test]
fn many_recipients_stay_bounded() {
    let mut h = H::new();
    h.greet().c(b"MAIL FROM:<a@x>\r\n").s(b"250 ok\r\n");
    let mut peak = 0;
    for i in 0..30_000 {
        h.c(format!("RCPT TO:<user{i}@example.org>\r\n").as_bytes());
        h.s(b"250 ok\r\n");
        peak = peak.max(h.s.state_bytes());
    }
    assert!(peak < 64 * 1024, "{peak}");
    h.c(b"QUIT\r\n").s(b"221 bye\r\n");
    h.fin();
    let m = h.tx("MESSAGE");
    assert!(m.notes.contains(&Note::Truncated {
        field: "recipients",
        len: 30_000
    }));
}

#[test]
fn garbage_notes_are_capped() {
    let mut h = H::new();
    h.greet();
    for i in 0..20_000 {
        h.c(format!("\x01garbage {i}\r\n").as_bytes());
    }
    h.c(b"NOOP\r\n").s(b"250 ok\r\n");
    h.fin();
    for t in h.txs() {
        assert!(t.notes.len() <= MAX_NOTES + 1, "{:?}", t.notes);
    }
}

#[test]
fn shed_reports_oldest_and_counts_late_replies() {
    let mut h = H::new();
    h.greet();
    for _ in 0..200 {
        h.c(b"NOOP\r\n");
    }
    let full = h.s.state_bytes();
    let n = h.s.shed(full / 4, Timestamp(h.t), &mut h.out);
    assert!(n >= 100, "{n}");
    assert!(h.s.state_bytes() <= full / 4);
    let shed: Vec<_> = h
        .txs()
        .into_iter()
        .filter(|t| t.command == "NOOP")
        .collect();
    assert_eq!(shed.len() as u64, n);
    assert!(shed.iter().all(|t| t.status == Status::NoResponse
        && t.notes.contains(&Note::Shed {
            budget: "connection"
        })));
    for _ in 0..200 {
        h.s(b"250 ok\r\n");
    }
    h.fin();
    let ok = h
        .txs()
        .iter()
        .filter(|t| t.command == "NOOP" && t.status == Status::Ok)
        .count();
    assert_eq!(ok as u64, 200 - n);
    assert!(h.txs().iter().all(|t| t.status != Status::NoRequest));
}

#[test]
fn timer_reports_overdue_commands_not_bodies() {
    let tmo = Duration::from_secs(30);
    let mut h = H::new();
    h.greet().c(b"MAIL FROM:<a@x>\r\n");
    let d = h.s.timer_deadline(tmo).unwrap();
    assert_eq!(d, Timestamp(h.t + tmo.0));
    h.s(b"250 ok\r\n").c(b"RCPT TO:<b@x>\r\n").s(b"250 ok\r\n");
    h.c(b"DATA\r\n").s(b"354 go\r\n");
    // The body is flowing: the client sends, nothing waits for the server.
    h.c(b"Subject: x\r\n\r\nbody\r\n");
    assert_eq!(h.s.timer_deadline(tmo), None);
    h.c(b".\r\n");
    let end = h.t;
    let d = h.s.timer_deadline(tmo).unwrap();
    assert_eq!(d, Timestamp(end + tmo.0));
    assert_eq!(h.s.on_timer(Timestamp(d.0 - 1), tmo, &mut h.out), 0);
    assert_eq!(h.s.on_timer(d, tmo, &mut h.out), 1);
    let data = h.tx("DATA");
    assert_eq!(data.status, Status::NoResponse);
    assert!(data.notes.contains(&Note::RequestTimeout {
        waited_us: 30_000_000
    }));
    // The late reply is counted, the next command pairs with its own.
    h.t = d.0;
    h.s(b"250 queued\r\n").c(b"NOOP\r\n").s(b"250 noop\r\n");
    h.fin();
    let noop = h.tx("NOOP");
    assert_eq!(noop.status, Status::Ok);
    assert_eq!(
        noop.response_value()["lines"][0].as_str(),
        Some("noop"),
        "{:?}",
        noop.response_value()
    );
}
