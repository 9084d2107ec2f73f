//! Structure-aware RESP target: a session fed many pipelined requests and replies built from
//! `arbitrary` ops (GET/SET/PING/inline/MULTI/EXEC/BLPOP/SUBSCRIBE/HELLO 3, and status, bulk,
//! nil, error, integer, array, RESP3 push and QUEUED replies), cut into chunks, with gaps (known
//! and unknown length), garbage, FIN, RST and capture time jumping past the request timeout.
//!
//! Besides the shared driver's checks after every call (accounting, state cap with shed, timer,
//! note bound), pairing sanity: every request (each has its own key `k<N>`) is reported in at
//! most one transaction, and there are never more transactions than lines of requests and
//! replies sent (one per request or reply in sync; out of sync each line may stand alone), plus
//! what garbage bytes and gaps can account for.
#![no_main]

use std::collections::HashSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wiresift_core::{CloseReason, Direction, Duration, Timestamp};
use wiresift_fuzz::{conn, Checked, Rules};
use wiresift_resp::parser::Limits;
use wiresift_resp::{Config, RespSession};

#[derive(Debug, Arbitrary)]
struct Input {
    sel: u8,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// `n` pipelined requests, fed in chunks of `chunk` bytes (0: one chunk).
    Requests {
        n: u8,
        kind: Req,
        chunk: u8,
    },
    /// `n` replies.
    Replies {
        n: u8,
        kind: Rep,
        chunk: u8,
    },
    /// Bytes lost in one direction.
    Gap {
        server: bool,
        len: u16,
        known: bool,
    },
    /// Arbitrary bytes in one direction.
    Garbage {
        server: bool,
        bytes: Vec<u8>,
    },
    Fin {
        server: bool,
    },
    Rst {
        server: bool,
    },
    /// Capture time passes (seconds; 31 and more is past the request timeout).
    Wait {
        secs: u8,
    },
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Req {
    Get,
    Set { vlen: u8 },
    Ping,
    Inline,
    Multi,
    Exec,
    Blpop { timeout: u8 },
    Subscribe,
    Hello3,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Rep {
    Ok,
    Bulk { len: u8 },
    Nil,
    Err,
    Int,
    Array { n: u8 },
    Push,
    Queued,
}

fn bulk(v: &mut Vec<u8>, s: &[u8]) {
    v.extend_from_slice(format!("${}\r\n", s.len()).as_bytes());
    v.extend_from_slice(s);
    v.extend_from_slice(b"\r\n");
}

fn cmd(v: &mut Vec<u8>, args: &[&[u8]]) {
    v.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        bulk(v, a);
    }
}

/// Encode one request with key `k<id>` (when it has a key).
fn request(v: &mut Vec<u8>, r: Req, id: u64) -> bool {
    let key = format!("k{id}");
    let k = key.as_bytes();
    match r {
        Req::Get => cmd(v, &[b"GET", k]),
        Req::Set { vlen } => cmd(v, &[b"SET", k, &vec![b'v'; usize::from(vlen)]]),
        Req::Ping => {
            cmd(v, &[b"PING"]);
            return false;
        }
        Req::Inline => v.extend_from_slice(format!("GET {key}\r\n").as_bytes()),
        Req::Multi => {
            cmd(v, &[b"MULTI"]);
            return false;
        }
        Req::Exec => {
            cmd(v, &[b"EXEC"]);
            return false;
        }
        Req::Blpop { timeout } => cmd(v, &[b"BLPOP", k, timeout.to_string().as_bytes()]),
        Req::Subscribe => cmd(v, &[b"SUBSCRIBE", k]),
        Req::Hello3 => {
            cmd(v, &[b"HELLO", b"3"]);
            return false;
        }
    }
    true
}

fn reply(v: &mut Vec<u8>, r: Rep) {
    match r {
        Rep::Ok => v.extend_from_slice(b"+OK\r\n"),
        Rep::Bulk { len } => bulk(v, &vec![b'x'; usize::from(len)]),
        Rep::Nil => v.extend_from_slice(b"$-1\r\n"),
        Rep::Err => v.extend_from_slice(b"-ERR wrong\r\n"),
        Rep::Int => v.extend_from_slice(b":42\r\n"),
        Rep::Array { n } => {
            let n = usize::from(n % 8);
            v.extend_from_slice(format!("*{n}\r\n").as_bytes());
            for _ in 0..n {
                v.extend_from_slice(b":1\r\n");
            }
        }
        Rep::Push => v.extend_from_slice(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"),
        Rep::Queued => v.extend_from_slice(b"+QUEUED\r\n"),
    }
}

/// The key id in a rendered query (`GET k12`, `SET k3 …`), if any.
fn key_id(q: &str) -> Option<u64> {
    let i = q.find(" k")?;
    let digits: String = q[i + 2..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let rest = &q[i + 2 + digits.len()..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    digits.parse().ok()
}

const MAX_OPS: usize = 64;

fuzz_target!(|input: Input| {
    let sel = input.sel;
    let cfg = Config {
        limits: Limits {
            max_bulk: 128,
            max_line: 256,
            max_depth: 8,
        },
        max_pending: 64,
        ..Config::default()
    };
    let s = RespSession::new(&conn(6379, sel & 0x40 != 0), cfg);
    let mut c = Checked::new(s, Rules::pick(sel, sel & 4 != 0), Timestamp(0));
    c.sink.summary = sel & 8 != 0;
    c.sink.keep_queries = true;
    let (mut requests, mut replies, mut slack, mut lines) = (0u64, 0u64, 1u64, 0u64);
    let mut next_id = 0u64;
    let mut buf = Vec::new();
    let side = |server: bool| {
        if server {
            Direction::ServerToClient
        } else {
            Direction::ClientToServer
        }
    };
    for op in input.ops.iter().take(MAX_OPS) {
        if !c.live() {
            break;
        }
        c.advance(Duration::from_micros(50));
        match op {
            Op::Requests { n, kind, chunk } => {
                buf.clear();
                for _ in 0..(n % 16) {
                    request(&mut buf, *kind, next_id);
                    next_id += 1;
                    requests += 1;
                }
                lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                feed(&mut c, Direction::ClientToServer, &buf, *chunk);
            }
            Op::Replies { n, kind, chunk } => {
                buf.clear();
                for _ in 0..(n % 16) {
                    reply(&mut buf, *kind);
                    replies += 1;
                }
                lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                feed(&mut c, Direction::ServerToClient, &buf, *chunk);
            }
            Op::Gap { server, len, known } => {
                slack += 1;
                c.gap(side(*server), known.then_some(u64::from(*len)));
            }
            Op::Garbage { server, bytes } => {
                // No `k`: garbage must not forge a request key.
                buf.clear();
                buf.extend(
                    bytes
                        .iter()
                        .take(64)
                        .map(|&x| if x == b'k' { b'K' } else { x }),
                );
                slack += buf.len() as u64;
                c.data(side(*server), &buf, Duration(0));
            }
            Op::Fin { server } => c.fin(side(*server)),
            Op::Rst { server } => c.rst(side(*server)),
            Op::Wait { secs } => c.advance(Duration::from_secs(u64::from(*secs))),
        }
        assert!(c.s.pending_entries() <= 64);
    }
    c.advance(Duration::from_micros(1));
    c.close(CloseReason::Fin);
    let tx = c.sink.transactions;
    // In sync, one transaction per request or unanswered reply; out of sync (garbage, a gap,
    // mid-stream), each line of a request or reply may be read as a message of its own.
    assert!(
        tx <= lines + slack,
        "{tx} transactions from {requests} requests and {replies} replies \
         ({lines} lines, slack {slack})"
    );
    let mut seen = HashSet::new();
    for (q, _, _, _) in &c.sink.queries {
        if let Some(id) = key_id(q) {
            if id < next_id {
                assert!(seen.insert(id), "request k{id} reported twice: {q:?}");
            }
        }
    }
});

fn feed(c: &mut Checked<RespSession>, dir: Direction, b: &[u8], chunk: u8) {
    if chunk == 0 {
        c.data(dir, b, Duration(0));
        return;
    }
    for piece in b.chunks(usize::from(chunk)) {
        c.advance(Duration::from_micros(5));
        c.data(dir, piece, Duration(0));
    }
}
