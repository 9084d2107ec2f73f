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
//! Known limits:
//! - zstd bodies are buffered whole (up to [`Config::max_zstd_body`], 4 MiB): a larger zstd
//!   packet is skipped and the direction resynchronises;
//! - a STMT_EXECUTE whose PREPARE was not captured keeps its statement id and gets a note; its
//!   parameters are not decoded (their count is unknown);
//! - on a client-only capture, statement ids are predicted from the PREPARE order (MySQL and
//!   MariaDB number them 1, 2, … per connection) and the execute says so in a note;
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
    /// Largest zstd compressed packet buffered for decoding (default 4 MiB).
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
            max_zstd_body: 4 * 1024 * 1024,
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

/// Does `data` start like a client command (mid-stream pickup): COM_QUERY with SQL text, or a
/// HandshakeResponse41?
fn probe_client(data: &[u8]) -> ProbeResult {
    if data.len() < 5 {
        return ProbeResult::NeedMore;
    }
    let len = usize::from(data[0]) | usize::from(data[1]) << 8 | usize::from(data[2]) << 16;
    if len + 4 != data.len() || len < 2 {
        return ProbeResult::NoMatch;
    }
    let p = &data[4..];
    match (data[3], p[0]) {
        (0, 0x03) => {
            let q = &p[1..p.len().min(64)];
            if q.first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'/' || *b == b'(')
                && q.iter()
                    .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
            {
                ProbeResult::Match
            } else {
                ProbeResult::NoMatch
            }
        }
        (1, _)
            if len >= 32
                && p[1] & 0x02 != 0
                && p[4..32].iter().skip(5).take(19).all(|&b| b == 0) =>
        {
            ProbeResult::Match
        }
        _ => ProbeResult::NoMatch,
    }
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
