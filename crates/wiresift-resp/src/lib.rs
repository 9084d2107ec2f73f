//! RESP (Redis serialization protocol) plugin for wiresift.
//!
//! - [`parser`]: incremental, bounded RESP2/RESP3 framing (tokens, whole values, requests,
//!   inline commands);
//! - [`session`]: per-connection pairing of requests and replies (pipelining, MULTI/EXEC,
//!   pub/sub, RESP3 pushes, `CLIENT REPLY`, replication, MONITOR, gaps);
//! - [`event`]: the RESP-specific shapes inside transactions and messages;
//! - [`RespPlugin`]: the [`TcpProtocolPlugin`] (name `resp`, port 6379).
//!
//! Output fields are described in [`event`]; budgets (all finite) in [`Config`]; how gaps are
//! handled, and why they cannot start a cascade of mispaired transactions, in [`session`].
//!
//! Escaping: `request.args`, string values and `error` carry bytes with wiresift's one rule
//! ([`wiresift_core::text`]): valid UTF-8 as is, a backslash as `\\`, any other byte as
//! `\xNN` — so the byte 0xbc (`"\\xbc"` in the JSON text) and the four characters `\xbc`
//! (`"\\\\xbc"`) never look the same. `query` is written the way `redis-cli` quotes arguments:
//! an argument that is not plain text is double-quoted, with `\\`, `\"`, `\n`, `\r`, `\t` and
//! `\xNN` escapes inside the quotes (a non-UTF-8 argument is all `\xNN` but printable ASCII);
//! there too a backslash always starts an escape.
//!
//! One-sided captures: with only the client side, every request is reported with its detail
//! and status `no_response` (when the connection ends, or early when [`Config::max_pending`]
//! is reached); with only the server side, every reply is a `no_request` transaction with its
//! detail. Without their request, subscribe-family confirmations are one transaction each
//! (with it, one per SUBSCRIBE), and a `+FULLRESYNC` / `+CONTINUE` reply starts replication as
//! it does after a PSYNC.
//!
//! Known limits:
//! - after a request-side gap inside a *pipelined* burst, which of the following replies belong
//!   to the lost requests cannot be known: up to the rest of that burst may be paired off by
//!   the number of lost requests (the first such pairing carries the gap note); pairing is exact
//!   again once the burst is answered. Non-pipelined traffic is paired exactly.
//! - a client-only capture of another line protocol on port 6379 (memcached's `get k`) is read
//!   as inline commands: without the server's replies nothing says it is not RESP (on other
//!   ports the probe does not take it; two-sided, the first non-RESP reply detaches the session).
//! - an error nested inside an aggregate (e.g. one command failing inside EXEC) does not make
//!   the transaction an error: only an error reply does.
//!
//! Parser throughput (criterion, `benches/parser.rs`, 2-core AMD EPYC VM): about 2.4 GiB/s
//! (76 M commands/s) for whole requests and 1.1 GiB/s token by token on pipelined
//! `SET key:<8 digits> xxx`; values larger than the buffering limit are skipped by length.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod command;
pub mod event;
pub mod parser;
pub mod session;
mod shapes;
mod summary;

pub use event::{RequestDetail, RespDetail, ResponseDetail};
pub use parser::Limits;
pub use session::{RespSession, PROTOCOL};
pub use summary::{Item as RespValue, StrKind};

use wiresift_core::{ConnectionInfo, Direction, ProbeResult, ProtocolSession, TcpProtocolPlugin};

/// Budgets of a RESP session. All finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Parser limits (largest blob buffered whole: 64 KiB; longest line: 64 KiB; nesting: 32).
    pub limits: Limits,
    /// Requests waiting for a reply before the oldest is reported early (default 10,000).
    pub max_pending: usize,
    /// Bytes of each argument / string value kept for output (default 256).
    pub max_arg_bytes: usize,
    /// Arguments of a request kept for output (default 128).
    pub max_args: usize,
    /// Elements of a top-level reply (or of a command in the master's replication stream)
    /// kept for output (default 16; the reply's full element count is always given). A
    /// `LRANGE 0 99` reply is summarised, not reproduced: building and writing 100 JSON strings
    /// per reply was the largest cost of `dissect` on real traffic.
    pub max_reply_items: usize,
    /// Elements kept per nested aggregate (default 16).
    pub max_nested_items: usize,
    /// Values kept per message in total (default 1,024).
    pub max_nodes: usize,
    /// Length of the one-line `query` (default 256).
    pub max_query: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            max_pending: 10_000,
            max_arg_bytes: 256,
            max_args: 128,
            max_reply_items: 16,
            max_nested_items: 16,
            max_nodes: 1024,
            max_query: 256,
        }
    }
}

/// The RESP plugin.
#[derive(Debug, Clone, Default)]
pub struct RespPlugin {
    /// Budgets for new sessions.
    pub config: Config,
}

impl RespPlugin {
    /// A plugin with the given budgets.
    pub fn new(config: Config) -> Self {
        RespPlugin { config }
    }
}

/// Commands recognised at the start of an inline request by [`probe`].
const INLINE_COMMANDS: &[&[u8]] = &[
    b"PING",
    b"AUTH",
    b"HELLO",
    b"GET",
    b"SET",
    b"INFO",
    b"SELECT",
    b"MONITOR",
    b"SUBSCRIBE",
    b"PSUBSCRIBE",
    b"QUIT",
    b"DEL",
    b"KEYS",
    b"CONFIG",
    b"CLIENT",
    b"SYNC",
    b"PSYNC",
    b"REPLCONF",
    b"ECHO",
    b"EXISTS",
    b"INCR",
    b"DBSIZE",
    b"FLUSHALL",
    b"FLUSHDB",
    b"SCAN",
    b"TYPE",
    b"MULTI",
];

fn digits_crlf(d: &[u8]) -> ProbeResult {
    let n = d
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'-')
        .count();
    if n == d.len() {
        return if n > 10 {
            ProbeResult::NoMatch
        } else {
            ProbeResult::NeedMore
        };
    }
    if n == 0 || n > 10 || d[n] != b'\r' {
        return ProbeResult::NoMatch;
    }
    match d.get(n + 1) {
        None => ProbeResult::NeedMore,
        Some(b'\n') => ProbeResult::Match,
        Some(_) => ProbeResult::NoMatch,
    }
}

/// Does `data`, the first bytes sent in `dir`, look like RESP?
///
/// The probe commits ([`ProbeResult::Match`]) only on evidence that no other text protocol
/// gives:
/// - requests: a multibulk `*<n>\r\n$…` (what every client library sends);
/// - replies: a RESP header (`+OK`, `-ERR …`, `:1`, `$3`, `*2`, `%7`, …).
///
/// An inline command (`PING`, `GET k`, `SET k v` typed into `nc`) is not evidence: memcached's
/// `get k` and `set k 0 0 5` have the same shape. For one the probe answers
/// [`ProbeResult::NeedMore`], so the engine keeps the connection's first bytes and decides on
/// the reply (`+PONG` is RESP; memcached's `STORED` or `VALUE k 0 5` is not, and the
/// connection is then not dissected as RESP). A capture with only the client side of an
/// inline-only connection on a port other than 6379 is therefore not dissected (give
/// `--port resp=PORT` for it).
pub fn probe(dir: Direction, data: &[u8]) -> ProbeResult {
    let Some(&t) = data.first() else {
        return ProbeResult::NeedMore;
    };
    match (dir, t) {
        (Direction::ClientToServer, b'*') => match digits_crlf(&data[1..]) {
            ProbeResult::Match => {
                let n = data.iter().position(|&b| b == b'\n').unwrap_or(0) + 1;
                match data.get(n) {
                    None => ProbeResult::NeedMore,
                    Some(b'$') => ProbeResult::Match,
                    Some(_) => ProbeResult::NoMatch,
                }
            }
            other => other,
        },
        (Direction::ClientToServer, _) => {
            let word: &[u8] = match data.iter().position(|b| matches!(b, b' ' | b'\r' | b'\n')) {
                Some(i) => &data[..i],
                None if data.len() < 12 => {
                    return if INLINE_COMMANDS.iter().any(|c| {
                        c.len() >= data.len() && c[..data.len()].eq_ignore_ascii_case(data)
                    }) {
                        ProbeResult::NeedMore
                    } else {
                        ProbeResult::NoMatch
                    }
                }
                None => return ProbeResult::NoMatch,
            };
            let line_end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
            let http = data[..line_end].windows(5).any(|w| w == b"HTTP/");
            if INLINE_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(word)) && !http {
                // Plausible, not evidence: the reply decides (see above).
                ProbeResult::NeedMore
            } else {
                ProbeResult::NoMatch
            }
        }
        (Direction::ServerToClient, b'+') => {
            const OK: &[&[u8]] = &[
                b"+OK\r\n",
                b"+PONG\r\n",
                b"+QUEUED\r\n",
                b"+FULLRESYNC ",
                b"+CONTINUE",
            ];
            if OK.iter().any(|w| data.starts_with(w)) {
                ProbeResult::Match
            } else if OK.iter().any(|w| w.starts_with(data)) {
                ProbeResult::NeedMore
            } else {
                ProbeResult::NoMatch
            }
        }
        (Direction::ServerToClient, b'-') => {
            const ERRS: &[&[u8]] = &[
                b"-ERR ",
                b"-NOAUTH ",
                b"-WRONGPASS ",
                b"-WRONGTYPE ",
                b"-MOVED ",
                b"-ASK ",
                b"-LOADING ",
                b"-NOPERM ",
                b"-READONLY ",
                b"-BUSY ",
                b"-NOSCRIPT ",
            ];
            if ERRS.iter().any(|w| data.starts_with(w)) {
                ProbeResult::Match
            } else if ERRS.iter().any(|w| w.starts_with(data)) {
                ProbeResult::NeedMore
            } else {
                ProbeResult::NoMatch
            }
        }
        (Direction::ServerToClient, b':' | b'$' | b'*' | b'%' | b'~' | b'>') => {
            digits_crlf(&data[1..])
        }
        (Direction::ServerToClient, b'_') => match data.get(1..3) {
            None if data.len() < 3 && b"_\r\n".starts_with(data) => ProbeResult::NeedMore,
            Some(b"\r\n") => ProbeResult::Match,
            _ => ProbeResult::NoMatch,
        },
        _ => ProbeResult::NoMatch,
    }
}

impl TcpProtocolPlugin for RespPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }
    fn default_ports(&self) -> &'static [u16] {
        &[6379]
    }
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        probe(dir, data)
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(RespSession::new(conn, self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{ClientToServer as C, ServerToClient as S};

    #[test]
    fn probe_directions() {
        assert_eq!(probe(C, b"*3\r\n$3\r\nSET\r\n"), ProbeResult::Match);
        assert_eq!(probe(C, b"*3\r\n"), ProbeResult::NeedMore);
        assert_eq!(probe(C, b"*"), ProbeResult::NeedMore);
        // Inline commands wait for the reply: memcached's text protocol looks the same.
        assert_eq!(probe(C, b"PING\r\n"), ProbeResult::NeedMore);
        assert_eq!(probe(C, b"set k 0 0 5\r\nhello\r\n"), ProbeResult::NeedMore);
        assert_eq!(probe(C, b"get k\r\n"), ProbeResult::NeedMore);
        assert_eq!(probe(S, b"STORED\r\n"), ProbeResult::NoMatch);
        assert_eq!(
            probe(S, b"VALUE k 0 5\r\nhello\r\nEND\r\n"),
            ProbeResult::NoMatch
        );
        assert_eq!(probe(S, b"END\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(S, b"ERROR\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(S, b"+PONG\r\n"), ProbeResult::Match);
        assert_eq!(probe(C, b"ping"), ProbeResult::NeedMore);
        assert_eq!(probe(C, b"GET / HTTP/1.1\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(C, b"EHLO example.com\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(C, b"\x16\x03\x01\x02\x00"), ProbeResult::NoMatch);
        assert_eq!(probe(C, b""), ProbeResult::NeedMore);
        assert_eq!(probe(S, b"+OK\r\n"), ProbeResult::Match);
        assert_eq!(probe(S, b"+OK POP3 ready\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(S, b"+O"), ProbeResult::NeedMore);
        assert_eq!(probe(S, b"-ERR unknown command\r\n"), ProbeResult::Match);
        assert_eq!(probe(S, b"$5\r\nhello\r\n"), ProbeResult::Match);
        assert_eq!(probe(S, b"%7\r\n"), ProbeResult::Match);
        assert_eq!(
            probe(S, b"220 smtp.example.com ESMTP\r\n"),
            ProbeResult::NoMatch
        );
        assert_eq!(probe(S, b"*2"), ProbeResult::NeedMore);
        assert_eq!(probe(S, b"*x"), ProbeResult::NoMatch);
        let p = RespPlugin::default();
        assert_eq!(p.name(), "resp");
        assert_eq!(p.default_ports(), &[6379]);
    }
}
