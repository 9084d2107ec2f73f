//! The request timer of the MySQL, CQL and TNS sessions, driven the way the engine drives it
//! (capture time only): a request with no reply after the timeout is reported `no_response`
//! with a `request_timeout` note; its reply, when it comes later (a `SELECT SLEEP(40)`, a slow
//! query: exactly what the operator wants flagged at 30 s), is counted as late — a
//! `late_reply` message with how long it took — and is never paired with the next request. The
//! byte accounting balances after every call.

use std::sync::{Arc, Mutex};
use wiresift::core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, EventSink, Note,
    ProtocolSession, SessionEvent, Status, StreamChunk, Timestamp,
};

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;
const TIMEOUT: Duration = Duration::from_secs(30);

fn info(port: u16) -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 0, 0, 2].into(), 40000),
        server: Endpoint::new([10, 0, 0, 1].into(), port),
        start: Timestamp(0),
        midstream: false,
    }
}

fn secs(s: f64) -> Timestamp {
    Timestamp((s * 1e9) as u64)
}

struct Driver {
    s: Box<dyn ProtocolSession>,
    out: Vec<SessionEvent>,
    timed_out: u64,
}

impl Driver {
    fn check(&self) {
        let a = self.s.accounting().expect("accounts");
        assert!(a.balanced(), "{a:?}");
    }
    /// The engine's timer: run `on_timer` when capture time passes the deadline.
    fn clock(&mut self, now: Timestamp) {
        if let Some(d) = self.s.timer_deadline(TIMEOUT) {
            if d <= now {
                self.timed_out +=
                    self.s
                        .on_timer(now, TIMEOUT, &mut self.out as &mut dyn EventSink);
                self.check();
            }
        }
    }
    fn data(&mut self, dir: Direction, t: f64, data: &[u8]) {
        self.clock(secs(t));
        self.s.on_data(
            &StreamChunk {
                dir,
                ts: secs(t),
                data,
                held: Duration(0),
            },
            &mut self.out as &mut dyn EventSink,
        );
        self.check();
    }
    fn close(&mut self, t: f64) {
        self.clock(secs(t));
        self.s.on_close(
            secs(t),
            CloseReason::Fin,
            &mut self.out as &mut dyn EventSink,
        );
        self.check();
        assert_eq!(self.s.accounting().unwrap().held, 0);
    }
    fn txs(&self) -> Vec<(String, Status, Vec<Note>, Option<u64>)> {
        self.out
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Transaction(t) => {
                    Some((t.query.clone(), t.status, t.notes.clone(), t.latency_us))
                }
                _ => None,
            })
            .collect()
    }
    fn late(&self) -> Vec<String> {
        let v: Vec<String> = self
            .out
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Message(m) if m.kind == "late_reply" => Some(m.summary.clone()),
                _ => None,
            })
            .collect();
        // What the engine adds to its run summary.
        assert_eq!(self.s.late_replies(), v.len() as u64, "{v:?}");
        v
    }
}

fn assert_flagged_then_paired(d: &Driver, slow: &str, next: &str) {
    let txs = d.txs();
    assert_eq!(d.timed_out, 1);
    let slow_tx = txs
        .iter()
        .find(|t| t.0 == slow)
        .expect("slow request reported");
    assert_eq!(slow_tx.1, Status::NoResponse);
    assert!(
        slow_tx.2.contains(&Note::RequestTimeout {
            waited_us: 30_000_000
        }),
        "{:?}",
        slow_tx.2
    );
    let next_tx = txs
        .iter()
        .find(|t| t.0 == next)
        .expect("next request reported");
    assert_eq!(next_tx.1, Status::Ok, "the next request gets its own reply");
    assert!(
        txs.iter().all(|t| t.1 != Status::NoRequest),
        "the late reply is not a no_request: {txs:?}"
    );
    let late = d.late();
    assert_eq!(late.len(), 1, "{late:?}");
    assert!(late[0].contains("40000000 us"), "{}", late[0]);
}

fn mysql_cmd(sql: &str) -> Vec<u8> {
    let len = sql.len() + 1;
    let mut v = vec![len as u8, (len >> 8) as u8, 0, 0, 3];
    v.extend_from_slice(sql.as_bytes());
    v
}

const MYSQL_OK: [u8; 11] = [7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];

#[test]
fn mysql_slow_query_is_flagged_at_the_timeout_and_its_late_reply_counted() {
    let mut d = Driver {
        s: Box::new(wiresift_mysql::MysqlSession::new(
            &info(3306),
            wiresift_mysql::Config::default(),
        )),
        out: Vec::new(),
        timed_out: 0,
    };
    d.data(S2C, 0.0, &[1, 0, 0, 0, 0]);
    d.data(C2S, 1.0, &mysql_cmd("SELECT SLEEP(40)"));
    assert_eq!(d.s.timer_deadline(TIMEOUT), Some(secs(31.0)));
    d.clock(secs(31.0));
    d.data(C2S, 35.0, &mysql_cmd("SELECT 1"));
    d.data(S2C, 41.0, &MYSQL_OK);
    d.data(S2C, 41.5, &MYSQL_OK);
    d.close(42.0);
    assert_flagged_then_paired(&d, "SELECT SLEEP(40)", "SELECT 1");
    let txs = d.txs();
    let next = txs.iter().find(|t| t.0 == "SELECT 1").unwrap();
    assert_eq!(next.3, Some(6_500_000), "latency of SELECT 1 (µs)");
}

fn cql_frame(version: u8, stream: i16, opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![version, 0];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(opcode);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn cql_query(stream: i16, q: &str) -> Vec<u8> {
    let mut body = (q.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(q.as_bytes());
    body.extend_from_slice(&[0, 1, 0]);
    cql_frame(4, stream, 0x07, &body)
}

#[test]
fn cql_a_late_reply_on_a_timed_out_stream_is_counted_not_paired() {
    let cache = Arc::new(Mutex::new(wiresift_cql::PreparedCache::new(100, 1 << 20)));
    let mut d = Driver {
        s: Box::new(wiresift_cql::CqlSession::new(
            &info(9042),
            wiresift_cql::Config::default(),
            cache,
        )),
        out: Vec::new(),
        timed_out: 0,
    };
    let void = cql_frame(0x84, 1, 0x08, &[0, 0, 0, 1]);
    d.data(C2S, 1.0, &cql_query(1, "SELECT * FROM slow"));
    d.clock(secs(31.0));
    d.data(C2S, 35.0, &cql_query(2, "SELECT * FROM fast"));
    d.data(S2C, 36.0, &cql_frame(0x84, 2, 0x08, &[0, 0, 0, 1]));
    d.data(S2C, 41.0, &void);
    d.close(42.0);
    assert_flagged_then_paired(&d, "SELECT * FROM slow", "SELECT * FROM fast");
}

fn tns_pkt(t: u8, body: &[u8]) -> Vec<u8> {
    let n = 8 + body.len();
    let mut v = (n as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0, t, 0, 0, 0]);
    v.extend_from_slice(body);
    v
}

fn tns_connect() -> Vec<u8> {
    let cd = b"(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=svc))(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521)))";
    let mut b = vec![0u8; 50];
    b[0..2].copy_from_slice(&313u16.to_be_bytes());
    b[2..4].copy_from_slice(&300u16.to_be_bytes());
    b[6..8].copy_from_slice(&8192u16.to_be_bytes());
    b[16..18].copy_from_slice(&(cd.len() as u16).to_be_bytes());
    b[18..20].copy_from_slice(&58u16.to_be_bytes());
    b.extend_from_slice(cd);
    tns_pkt(1, &b)
}

fn tns_accept() -> Vec<u8> {
    let mut a = vec![0u8; 32];
    a[0..2].copy_from_slice(&313u16.to_be_bytes());
    a[4..6].copy_from_slice(&8192u16.to_be_bytes());
    a[24..28].copy_from_slice(&8192u32.to_be_bytes());
    tns_pkt(2, &a)
}

fn tns_oall8(seq: u8, sql: &str) -> Vec<u8> {
    let mut b = vec![0, 0, 3, 0x5e, seq];
    b.extend_from_slice(&0x8061u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.push(1);
    b.extend_from_slice(&(sql.len() as u32 * 3).to_le_bytes());
    b.extend_from_slice(&[1, 13, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&[0; 40]);
    b.push(sql.len() as u8);
    b.extend_from_slice(sql.as_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&[0; 30]);
    tns_pkt(6, &b)
}

fn tns_reply(cursor: u16) -> Vec<u8> {
    let mut b = vec![0, 0, 6, 1, 0, 0, 0, 0, 0, 0];
    b.push(4);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&7u16.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&cursor.to_le_bytes());
    b.extend_from_slice(&[0; 50]);
    tns_pkt(6, &b)
}

fn tns_driver() -> Driver {
    Driver {
        s: Box::new(wiresift_tns::TnsSession::new(
            &info(1521),
            wiresift_tns::TnsConfig::default(),
        )),
        out: Vec::new(),
        timed_out: 0,
    }
}

#[test]
fn tns_a_call_answered_after_the_timeout_is_flagged_and_its_reply_counted() {
    let mut d = tns_driver();
    d.data(C2S, 0.0, &tns_connect());
    d.data(S2C, 0.1, &tns_accept());
    d.data(C2S, 1.0, &tns_oall8(2, "select slow from dual"));
    d.clock(secs(31.0));
    d.data(S2C, 41.0, &tns_reply(3));
    d.data(C2S, 42.0, &tns_oall8(3, "select fast from dual"));
    d.data(S2C, 42.5, &tns_reply(4));
    d.close(43.0);
    assert_flagged_then_paired(&d, "select slow from dual", "select fast from dual");
}

/// A listener that answers the CONNECT only after the timeout: the connect is reported
/// `no_response` at 30 s, the ACCEPT is a late reply (not a `no_request` connect), and the
/// session goes on with what the ACCEPT said: the next call pairs with its reply.
#[test]
fn tns_a_connect_answered_after_the_timeout_is_flagged_and_the_session_goes_on() {
    let mut d = tns_driver();
    d.data(C2S, 0.0, &tns_connect());
    d.clock(secs(30.5));
    d.data(S2C, 40.0, &tns_accept());
    d.data(C2S, 41.0, &tns_oall8(2, "select fast from dual"));
    d.data(S2C, 41.5, &tns_reply(3));
    d.close(43.0);
    let txs = d.txs();
    assert_eq!(d.timed_out, 1, "{txs:?}");
    let connect = txs.first().expect("the connect is reported");
    assert_eq!(connect.1, Status::NoResponse, "{txs:?}");
    assert!(
        connect.2.contains(&Note::RequestTimeout {
            waited_us: 30_500_000
        }),
        "{txs:?}"
    );
    let call = txs
        .iter()
        .find(|t| t.0 == "select fast from dual")
        .expect("the call is reported");
    assert_eq!(call.1, Status::Ok, "{txs:?}");
    assert!(txs.iter().all(|t| t.1 != Status::NoRequest), "{txs:?}");
    assert_eq!(txs.len(), 2, "{txs:?}");
    assert_eq!(d.late().len(), 1);
}

/// A listener that never answers: the connect is reported at the timeout, not at close.
#[test]
fn tns_an_unanswered_connect_times_out() {
    let mut d = tns_driver();
    d.data(C2S, 0.0, &tns_connect());
    d.clock(secs(29.0));
    assert!(d.txs().is_empty());
    d.clock(secs(31.0));
    let txs = d.txs();
    assert_eq!(txs.len(), 1, "{txs:?}");
    assert_eq!(txs[0].1, Status::NoResponse);
    d.close(60.0);
    assert_eq!(d.txs().len(), 1);
    assert!(d.late().is_empty());
}
