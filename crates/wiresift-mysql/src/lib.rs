//! MySQL / MariaDB plugin for wiresift.
//!
//! - [`wire`]: code points and the parsers of single packet payloads (handshake, login, OK,
//!   ERR, EOF, column definitions, PREPARE_OK, binlog event headers);
//! - [`params`]: binary-protocol values (STMT_EXECUTE parameters of every type, query
//!   attributes, BULK_EXECUTE rows);
//! - [`framing`]: the packet layer (0xFFFFFF chunks joined, large payloads skipped by length)
//!   and the compressed protocol (zlib streamed, zstd per frame; bounded inflation);
//! - [`session`]: the connection phase, command/response pairing, prepared statements,
//!   resynchronisation (the rule is in its documentation);
//! - [`event`]: the request / response detail (the field contract);
//! - [`MysqlPlugin`]: the [`TcpProtocolPlugin`] (name `mysql`, port 3306, probe for others).
//!
//! Sizes: `request_bytes` / `response_bytes` count the MySQL packets (headers included) before
//! compression, so a compressed connection reports the same sizes as an uncompressed one.
//!
//! Session state, request timer and accounting (the engine's side is in `wiresift`'s
//! `EngineConfig::session_budget` / `request_timeout`):
//! - `state_bytes` is kept incrementally: each pending request is charged when queued (its SQL,
//!   parameters, attributes, notes), plus prepared statements, markers and the framing buffers
//!   (the kept payload prefix, the resync scan, the inflater's window and zstd body);
//! - `shed(limit)` reports the oldest waiting requests early (`no_response`, `shed` note) and
//!   keeps a small marker (72 bytes) for each (the request whose reply is being received is
//!   never shed: FIFO pairing), then drops prepared statements oldest first (counted: later
//!   EXECUTEs get the usual `prepared before the capture (or evicted)` note), then the SQL
//!   kept by markers, then turns the markers into a count (their replies are still absorbed in
//!   order, parsed without knowing the command), and gives back idle buffers; `shed(0)` (the
//!   engine's last resort before it stops dissecting a connection) also reports the request
//!   whose reply is being received and the login (`partial`, `shed` note) and drops the
//!   partial packets (counted as skipped, both directions resynchronise): it leaves exactly 0;
//! - the timer reports the oldest request still waiting after `request_timeout` (capture time)
//!   as `no_response` with a `request_timeout` note, and keeps a marker: FIFO, so only the
//!   front request times out (the ones behind a reply being received wait for it). A reply
//!   that comes later (a `SELECT SLEEP(40)`, a slow report query: exactly what should be
//!   flagged at 30 s) goes to its marker: it is counted and reported as a `late_reply` message
//!   with how long it took, never paired with the next request; the connection's close
//!   anomaly gives the count and the longest wait. A timed-out PREPARE's marker keeps its SQL
//!   so that a late PREPARE_OK still registers the statement. No marker on a connection whose
//!   server never spoke (nothing will answer);
//! - `accounting()`: per direction, the bytes the framing layer consumed are `parsed` once
//!   their packet is complete, `held` while it is not (plus the resync scan), `skipped` when a
//!   gap / resync drops them (and the bytes skipped while out of sync), `undissected` after a
//!   TLS detach or still partial at close. Tests: `tests/sql_budget.rs`, `tests/sql_timer.rs`,
//!   `tests/sql_hostile.rs`.
//!
//! Known limits:
//! - zstd bodies are buffered whole (up to [`Config::max_zstd_body`], 512 KiB, within the 1 MiB per-connection session budget): a larger zstd
//!   packet is skipped and the direction resynchronises;
//! - a STMT_EXECUTE whose PREPARE was not captured keeps its statement id and gets a note; its
//!   parameters are not decoded (their count is unknown);
//! - on a client-only capture, the statement id first used after an unanswered PREPARE is taken
//!   to be that statement's (clients use the id the reply gave them next), with a note; MariaDB
//!   numbers statements server-wide, so the ids cannot be predicted;
//! - replies of a server-only capture are parsed without knowing the command: OK, ERR, result
//!   sets and PREPARE_OK are recognised; a STATISTICS string is not.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod event;
pub mod framing;
pub mod params;
pub mod session;
pub mod wire;

pub use session::{MysqlSession, PROTOCOL};

use wiresift_core::{ConnectionInfo, Direction, ProbeResult, ProtocolSession, TcpProtocolPlugin};

/// Budgets of a MySQL session. All finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes of each packet payload kept for decoding (default 64 KiB); the rest of a larger
    /// packet is counted and skipped.
    pub max_packet_keep: usize,
    /// Largest declared uncompressed length of a compressed packet that is inflated (default
    /// 16 MiB, the protocol's own maximum).
    pub max_inflate: u64,
    /// Largest zstd compressed packet buffered for decoding (default 512 KiB: it is session
    /// state, charged against the per-connection budget).
    pub max_zstd_body: usize,
    /// Bytes scanned for a message start before the oldest are dropped (default 64 KiB).
    pub max_resync_buffer: usize,
    /// Requests waiting for a reply before the oldest is reported early (default 1,024).
    pub max_pending: usize,
    /// Prepared statements kept per connection (default 1,024; the oldest is evicted).
    pub max_statements: usize,
    /// Bytes of prepared-statement state per connection (SQL, types, long data; default 1 MiB).
    pub max_statement_bytes: usize,
    /// Parameters decoded per execute (default 256; above, the count is given).
    pub max_params: usize,
    /// Bytes kept per string parameter value (default 256).
    pub max_value: usize,
    /// SQL bytes kept for `query` (default 4 KiB).
    pub max_query: usize,
    /// Column definitions kept per reply (default 64; `column_count` is always given).
    pub max_columns: usize,
    /// Connect attributes kept (default 32).
    pub max_attributes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_packet_keep: 64 * 1024,
            max_inflate: 16 * 1024 * 1024,
            max_zstd_body: 512 * 1024,
            max_resync_buffer: 64 * 1024,
            max_pending: 1024,
            max_statements: 1024,
            max_statement_bytes: 1024 * 1024,
            max_params: 256,
            max_value: 256,
            max_query: 4096,
            max_columns: 64,
            max_attributes: 32,
        }
    }
}

/// The MySQL plugin.
#[derive(Debug, Clone, Default)]
pub struct MysqlPlugin {
    /// Budgets for new sessions.
    pub config: Config,
}

impl MysqlPlugin {
    /// A plugin with the given budgets.
    pub fn new(config: Config) -> Self {
        MysqlPlugin { config }
    }
}

/// Does `data` start like a server greeting (HandshakeV10, or an ERR before it)?
fn probe_server(data: &[u8]) -> ProbeResult {
    if data.len() < 5 {
        return ProbeResult::NeedMore;
    }
    let len = usize::from(data[0]) | usize::from(data[1]) << 8 | usize::from(data[2]) << 16;
    if data[3] != 0 || !(1..=4096).contains(&len) {
        return ProbeResult::NoMatch;
    }
    match data[4] {
        10 => {
            let v = &data[5..data.len().min(4 + len)];
            let end = v.iter().position(|&b| b == 0);
            match end {
                Some(0) => ProbeResult::NoMatch,
                Some(e) if v[..e].iter().all(|b| b.is_ascii_graphic()) && v[0].is_ascii_digit() => {
                    ProbeResult::Match
                }
                Some(_) => ProbeResult::NoMatch,
                None if v.len() < 40 && v.iter().all(|b| b.is_ascii_graphic()) => {
                    ProbeResult::NeedMore
                }
                None => ProbeResult::NoMatch,
            }
        }
        0xff if len >= 3 && len == data.len() - 4 => ProbeResult::Match,
        _ => ProbeResult::NoMatch,
    }
}

/// Does `data` start like a client command (mid-stream pickup: a known command in a packet that
/// ends exactly where the data ends or is followed by another plausible header; plain or
/// compressed), or a HandshakeResponse41?
fn probe_client(data: &[u8]) -> ProbeResult {
    use session::resync::{comp_start, plain_start};
    if data.len() < 5 {
        return ProbeResult::NeedMore;
    }
    let len = usize::from(data[0]) | usize::from(data[1]) << 8 | usize::from(data[2]) << 16;
    let sane = |p: &[u8]| match p.first() {
        Some(0x03) | Some(0x16) => {
            let q = &p[1..p.len().min(64)];
            q.first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'/' || *b == b'(')
                && q.iter()
                    .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        }
        Some(0x01) | Some(0x0e) | Some(0x09) | Some(0x1f) => p.len() == 1,
        Some(0x17) => p.len() >= 10,
        Some(0x19) | Some(0x1a) => p.len() == 5,
        Some(0x02) => p.len() > 1 && p[1..].iter().all(|b| b.is_ascii_graphic()),
        _ => false,
    };
    if data[3] == 0
        && len + 4 <= data.len()
        && plain_start(data, Direction::ClientToServer, true)
        && sane(&data[4..4 + len])
    {
        return ProbeResult::Match;
    }
    if data.len() >= 12 && comp_start(data, Direction::ClientToServer) {
        let ulen = usize::from(data[4]) | usize::from(data[5]) << 8 | usize::from(data[6]) << 16;
        let inner = &data[7..];
        let ilen = usize::from(inner[0]) | usize::from(inner[1]) << 8 | usize::from(inner[2]) << 16;
        if ulen != 0 || (ilen + 4 <= inner.len() && sane(&inner[4..4 + ilen])) {
            return ProbeResult::Match;
        }
    }
    if data[3] == 1
        && len >= 32
        && len + 4 == data.len()
        && data[5] & 0x02 != 0
        && data[13..36].iter().take(19).all(|&b| b == 0)
    {
        return ProbeResult::Match;
    }
    ProbeResult::NoMatch
}

impl TcpProtocolPlugin for MysqlPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }
    fn default_ports(&self) -> &'static [u16] {
        &[3306]
    }
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        match dir {
            Direction::ServerToClient => probe_server(data),
            Direction::ClientToServer => probe_client(data),
        }
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(MysqlSession::new(conn, self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes() {
        let mut g = vec![0x5b, 0, 0, 0, 10];
        g.extend_from_slice(b"10.11.14-MariaDB-0+deb12u2\0");
        g.extend_from_slice(&[0; 60]);
        assert_eq!(probe_server(&g), ProbeResult::Match);
        assert_eq!(probe_server(b"+OK\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe_server(b"220 x"), ProbeResult::NoMatch);
        let q = b"\x09\x00\x00\x00\x03select 1";
        assert_eq!(probe_client(q), ProbeResult::Match);
        assert_eq!(probe_client(b"*1\r\n$4\r\nPING\r\n"), ProbeResult::NoMatch);
    }
}
