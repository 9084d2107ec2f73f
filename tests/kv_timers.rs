//! RESP and SMTP request timeouts through the engine (capture time): a reply overdue by more
//! than `request_timeout` (30 s) makes its request `no_response` with a `request_timeout`
//! note; the late reply is counted, and the next request pairs with its own reply. Blocking
//! commands wait their own timeout longer (or forever for 0).

#[path = "hostile/mod.rs"]
mod hostile;

use hostile::{write_events, Ev, Events};
use wiresift::core::{Note, Status, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

/// (command, status, notes) of each transaction.
type Txs = Vec<(String, Status, Vec<Note>)>;

#[derive(Default)]
struct Keep(Txs);

impl Output for Keep {
    fn transaction(&mut self, tx: &Transaction) {
        self.0
            .push((tx.command.clone(), tx.status, tx.notes.clone()));
    }
}

/// The transactions, and the run summary's `late_replies`.
fn run(port: u16, gen: &mut dyn FnMut(&mut Events<'_>)) -> (Txs, u64) {
    let mut pcap = Vec::new();
    write_events(port, false, gen, &mut pcap).unwrap();
    let mut reader = CaptureReader::from_read(Box::new(std::io::Cursor::new(pcap))).unwrap();
    let mut e = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Keep::default(),
    );
    e.run(&mut reader, |_| {}).unwrap();
    let late = e.summary().dissect.late_replies;
    (e.into_output().0, late)
}

fn c(f: &mut dyn FnMut(Ev<'_>), d: &[u8]) {
    f(Ev::Data {
        flow: 0,
        from_server: false,
        data: d,
    });
}

fn s(f: &mut dyn FnMut(Ev<'_>), d: &[u8]) {
    f(Ev::Data {
        flow: 0,
        from_server: true,
        data: d,
    });
}

const SECOND: u64 = 1_000_000;

#[test]
fn resp_overdue_reply_times_out_and_pairing_holds() {
    let (txs, late) = run(6379, &mut |f| {
        f(Ev::Open { flow: 0 });
        c(f, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
        f(Ev::Wait { us: 40 * SECOND });
        s(f, b"$1\r\nA\r\n");
        c(f, b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n");
        s(f, b"$1\r\nB\r\n");
        // A blocking pop with a 0 timeout legitimately waits 100 s; one with 5 s waits 35 s.
        c(f, b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
        f(Ev::Wait { us: 100 * SECOND });
        s(f, b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
        c(f, b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n5\r\n");
        f(Ev::Wait { us: 33 * SECOND });
        s(f, b"*-1\r\n");
        f(Ev::Close { flow: 0 });
    });
    let cmds: Vec<_> = txs.iter().map(|t| (t.0.as_str(), t.1)).collect();
    assert_eq!(
        cmds,
        [
            ("GET", Status::NoResponse),
            ("GET", Status::Ok),
            ("BLPOP", Status::Ok),
            ("BLPOP", Status::Ok)
        ],
        "{txs:?}"
    );
    assert!(
        matches!(txs[0].2[..], [Note::RequestTimeout { waited_us }] if waited_us >= 30 * SECOND),
        "{txs:?}"
    );
    // The first GET's reply came after it was reported: in the run summary.
    assert_eq!(late, 1);
}

#[test]
fn smtp_overdue_reply_times_out_body_does_not() {
    let (txs, late) = run(25, &mut |f| {
        f(Ev::Open { flow: 0 });
        s(f, b"220 mx ESMTP\r\n");
        c(f, b"EHLO c\r\n");
        s(f, b"250 mx\r\n");
        c(f, b"MAIL FROM:<a@x>\r\n");
        f(Ev::Wait { us: 31 * SECOND });
        s(f, b"250 ok\r\n");
        c(f, b"RCPT TO:<b@x>\r\n");
        s(f, b"250 ok\r\n");
        c(f, b"DATA\r\n");
        s(f, b"354 go\r\n");
        // A slow body: 40 s of client sending is not a server that does not answer.
        c(f, b"Subject: slow\r\n\r\n");
        f(Ev::Wait { us: 40 * SECOND });
        c(f, b"body\r\n.\r\n");
        s(f, b"250 queued\r\n");
        c(f, b"QUIT\r\n");
        s(f, b"221 bye\r\n");
        f(Ev::Close { flow: 0 });
    });
    let get = |cmd: &str| {
        txs.iter()
            .find(|t| t.0 == cmd)
            .unwrap_or_else(|| panic!("no {cmd} in {txs:?}"))
    };
    assert_eq!(get("MAIL").1, Status::NoResponse, "{txs:?}");
    assert!(get("MAIL")
        .2
        .iter()
        .any(|n| matches!(n, Note::RequestTimeout { .. })));
    assert_eq!(get("RCPT").1, Status::Ok, "{txs:?}");
    assert_eq!(get("DATA").1, Status::Ok, "{txs:?}");
    assert_eq!(get("QUIT").1, Status::Ok, "{txs:?}");
    assert!(txs.iter().all(|t| t.1 != Status::NoRequest), "{txs:?}");
    // MAIL's 250 came after MAIL was reported: in the run summary.
    assert_eq!(late, 1);
}
