//! MySQL wire formats: code points, length-encoded values, and the parsers of single packet
//! payloads (no framing, no state). Every parser works on a complete (possibly truncated to the
//! kept prefix) payload and returns `None` when it does not fit, never panicking.

use serde::Serialize;

/// Capability flags (low 32 bits: MySQL; high 32 bits: MariaDB's extended capabilities).
pub mod cap {
    /// CLIENT_LONG_PASSWORD; MariaDB clears it as CLIENT_MYSQL to announce extended capabilities.
    pub const MYSQL: u64 = 1;
    /// CLIENT_CONNECT_WITH_DB.
    pub const CONNECT_WITH_DB: u64 = 1 << 3;
    /// CLIENT_COMPRESS (zlib).
    pub const COMPRESS: u64 = 1 << 5;
    /// CLIENT_LOCAL_FILES.
    pub const LOCAL_FILES: u64 = 1 << 7;
    /// CLIENT_PROTOCOL_41.
    pub const PROTOCOL_41: u64 = 1 << 9;
    /// CLIENT_SSL.
    pub const SSL: u64 = 1 << 11;
    /// CLIENT_SECURE_CONNECTION.
    pub const SECURE_CONNECTION: u64 = 1 << 15;
    /// CLIENT_MULTI_STATEMENTS.
    pub const MULTI_STATEMENTS: u64 = 1 << 16;
    /// CLIENT_MULTI_RESULTS.
    pub const MULTI_RESULTS: u64 = 1 << 17;
    /// CLIENT_PLUGIN_AUTH.
    pub const PLUGIN_AUTH: u64 = 1 << 19;
    /// CLIENT_CONNECT_ATTRS.
    pub const CONNECT_ATTRS: u64 = 1 << 20;
    /// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.
    pub const AUTH_LENENC: u64 = 1 << 21;
    /// CLIENT_SESSION_TRACK.
    pub const SESSION_TRACK: u64 = 1 << 23;
    /// CLIENT_DEPRECATE_EOF.
    pub const DEPRECATE_EOF: u64 = 1 << 24;
    /// CLIENT_OPTIONAL_RESULTSET_METADATA (MySQL 8).
    pub const OPTIONAL_METADATA: u64 = 1 << 25;
    /// CLIENT_ZSTD_COMPRESSION_ALGORITHM (MySQL 8.0.18).
    pub const ZSTD: u64 = 1 << 26;
    /// CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23).
    pub const QUERY_ATTRIBUTES: u64 = 1 << 27;
    /// MARIADB_CLIENT_PROGRESS.
    pub const MARIADB_PROGRESS: u64 = 1 << 32;
    /// MARIADB_CLIENT_STMT_BULK_OPERATIONS.
    pub const MARIADB_BULK: u64 = 1 << 34;
    /// MARIADB_CLIENT_EXTENDED_TYPE_INFO (MariaDB 10.5).
    pub const MARIADB_EXTENDED_TYPE_INFO: u64 = 1 << 35;
    /// MARIADB_CLIENT_CACHE_METADATA (MariaDB 10.6).
    pub const MARIADB_CACHE_METADATA: u64 = 1 << 36;
}

/// Server status flags.
pub mod status {
    /// SERVER_MORE_RESULTS_EXISTS.
    pub const MORE_RESULTS: u16 = 0x0008;
    /// SERVER_STATUS_CURSOR_EXISTS.
    pub const CURSOR_EXISTS: u16 = 0x0040;
    /// SERVER_STATUS_LAST_ROW_SENT.
    pub const LAST_ROW_SENT: u16 = 0x0080;
}

/// A command byte (open: unknown values are kept and named `UNKNOWN_0xNN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Command(pub u8);

#[allow(missing_docs)]
impl Command {
    pub const SLEEP: Command = Command(0x00);
    pub const QUIT: Command = Command(0x01);
    pub const INIT_DB: Command = Command(0x02);
    pub const QUERY: Command = Command(0x03);
    pub const FIELD_LIST: Command = Command(0x04);
    pub const CREATE_DB: Command = Command(0x05);
    pub const DROP_DB: Command = Command(0x06);
    pub const REFRESH: Command = Command(0x07);
    pub const SHUTDOWN: Command = Command(0x08);
    pub const STATISTICS: Command = Command(0x09);
    pub const PROCESS_INFO: Command = Command(0x0a);
    pub const CONNECT: Command = Command(0x0b);
    pub const PROCESS_KILL: Command = Command(0x0c);
    pub const DEBUG: Command = Command(0x0d);
    pub const PING: Command = Command(0x0e);
    pub const TIME: Command = Command(0x0f);
    pub const DELAYED_INSERT: Command = Command(0x10);
    pub const CHANGE_USER: Command = Command(0x11);
    pub const BINLOG_DUMP: Command = Command(0x12);
    pub const TABLE_DUMP: Command = Command(0x13);
    pub const CONNECT_OUT: Command = Command(0x14);
    pub const REGISTER_SLAVE: Command = Command(0x15);
    pub const STMT_PREPARE: Command = Command(0x16);
    pub const STMT_EXECUTE: Command = Command(0x17);
    pub const STMT_SEND_LONG_DATA: Command = Command(0x18);
    pub const STMT_CLOSE: Command = Command(0x19);
    pub const STMT_RESET: Command = Command(0x1a);
    pub const SET_OPTION: Command = Command(0x1b);
    pub const STMT_FETCH: Command = Command(0x1c);
    pub const DAEMON: Command = Command(0x1d);
    pub const BINLOG_DUMP_GTID: Command = Command(0x1e);
    pub const RESET_CONNECTION: Command = Command(0x1f);
    pub const CLONE: Command = Command(0x20);
    pub const STMT_BULK_EXECUTE: Command = Command(0xfa);

    /// The name without `COM_`, upper case.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 33] = [
            "SLEEP",
            "QUIT",
            "INIT_DB",
            "QUERY",
            "FIELD_LIST",
            "CREATE_DB",
            "DROP_DB",
            "REFRESH",
            "SHUTDOWN",
            "STATISTICS",
            "PROCESS_INFO",
            "CONNECT",
            "PROCESS_KILL",
            "DEBUG",
            "PING",
            "TIME",
            "DELAYED_INSERT",
            "CHANGE_USER",
            "BINLOG_DUMP",
            "TABLE_DUMP",
            "CONNECT_OUT",
            "REGISTER_SLAVE",
            "STMT_PREPARE",
            "STMT_EXECUTE",
            "STMT_SEND_LONG_DATA",
            "STMT_CLOSE",
            "STMT_RESET",
            "SET_OPTION",
            "STMT_FETCH",
            "DAEMON",
            "BINLOG_DUMP_GTID",
            "RESET_CONNECTION",
            "CLONE",
        ];
        match self.0 {
            0xfa => "STMT_BULK_EXECUTE",
            n => NAMES.get(n as usize).copied().unwrap_or("UNKNOWN"),
        }
    }

    /// A command byte a client may send.
    pub fn is_known(self) -> bool {
        self.0 <= 0x20 || self.0 == 0xfa
    }
}

/// Column / parameter type code.
pub fn type_name(t: u8) -> &'static str {
    match t {
        0x00 => "DECIMAL",
        0x01 => "TINY",
        0x02 => "SHORT",
        0x03 => "LONG",
        0x04 => "FLOAT",
        0x05 => "DOUBLE",
        0x06 => "NULL",
        0x07 => "TIMESTAMP",
        0x08 => "LONGLONG",
        0x09 => "INT24",
        0x0a => "DATE",
        0x0b => "TIME",
        0x0c => "DATETIME",
        0x0d => "YEAR",
        0x0e => "NEWDATE",
        0x0f => "VARCHAR",
        0x10 => "BIT",
        0x11 => "TIMESTAMP2",
        0x12 => "DATETIME2",
        0x13 => "TIME2",
        0xf5 => "JSON",
        0xf6 => "NEWDECIMAL",
        0xf7 => "ENUM",
        0xf8 => "SET",
        0xf9 => "TINY_BLOB",
        0xfa => "MEDIUM_BLOB",
        0xfb => "LONG_BLOB",
        0xfc => "BLOB",
        0xfd => "VAR_STRING",
        0xfe => "STRING",
        0xff => "GEOMETRY",
        _ => "UNKNOWN",
    }
}

/// A read cursor over a payload. Every read checks bounds.
#[derive(Debug, Clone, Copy)]
pub struct Cur<'a> {
    /// The remaining bytes.
    pub rest: &'a [u8],
}

impl<'a> Cur<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Cur { rest: b }
    }
    /// Take `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Some(a)
    }
    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    /// Little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    /// Little-endian 3-byte integer.
    pub fn u24(&mut self) -> Option<u32> {
        self.take(3)
            .map(|b| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    }
    /// Little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    }
    /// A length-encoded integer (`None` for 0xFB NULL, 0xFF, or short input).
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.u16().map(u64::from),
            0xfd => self.u24().map(u64::from),
            0xfe => self.u64(),
            _ => None,
        }
    }
    /// A length-encoded string. A length past the end returns what is there (truncated
    /// payloads keep a prefix) and empties the cursor.
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc()?;
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(self.rest.len());
        self.take(n)
    }
    /// A NUL-terminated string (or the rest when there is no NUL).
    pub fn nul_str(&mut self) -> &'a [u8] {
        match self.rest.iter().position(|&b| b == 0) {
            Some(i) => {
                let s = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                s
            }
            None => std::mem::take(&mut self.rest),
        }
    }
}

/// Render bytes as text for output with wiresift's one escaping rule
/// ([`wiresift_core::text`]: UTF-8 as is, a backslash as `\\`, other bytes as `\xNN`), at most
/// `max` bytes of input (the caller notes truncation).
pub fn text(b: &[u8], max: usize) -> String {
    wiresift_core::text::escaped(&b[..b.len().min(max)]).into_owned()
}

/// The fingerprint of SQL rendered by [`text`]: computed on the SQL itself (a backslash
/// escape inside a string literal, `'it\'s'`, must not read as the end of the literal).
pub fn sql_fingerprint(rendered: &str) -> String {
    if rendered.contains('\\') {
        let raw = wiresift_core::text::unescape(rendered);
        wiresift_core::fingerprint(&String::from_utf8_lossy(&raw))
    } else {
        wiresift_core::fingerprint(rendered)
    }
}

/// Initial handshake (protocol 10).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Greeting {
    /// Server version string.
    pub server_version: String,
    /// Connection (thread) id.
    pub connection_id: u32,
    /// Capabilities, with MariaDB's extended ones in the high 32 bits.
    pub capabilities: u64,
    /// Default character set id.
    pub charset: u8,
    /// Status flags.
    pub status_flags: u16,
    /// Authentication plugin name.
    pub auth_plugin: String,
    /// The server is MariaDB (extended capabilities in use or "MariaDB" in the version).
    pub mariadb: bool,
}

/// Parse a HandshakeV10 payload.
pub fn parse_greeting(p: &[u8]) -> Option<Greeting> {
    let mut c = Cur::new(p);
    if c.u8()? != 10 {
        return None;
    }
    let version = c.nul_str();
    let id = c.u32()?;
    c.take(8)?; // auth data part 1
    c.take(1)?;
    let lo = u64::from(c.u16()?);
    let mut g = Greeting {
        server_version: text(version, 64),
        connection_id: id,
        capabilities: lo,
        ..Greeting::default()
    };
    let Some(charset) = c.u8() else {
        return Some(g);
    };
    g.charset = charset;
    g.status_flags = c.u16()?;
    let hi = u64::from(c.u16()?);
    let auth_len = c.u8()?;
    c.take(6)?;
    let mariadb_ext = u64::from(c.u32()?);
    g.capabilities = lo | hi << 16;
    if g.capabilities & cap::MYSQL == 0 {
        g.capabilities |= mariadb_ext << 32;
        g.mariadb = true;
    }
    g.mariadb |= g.server_version.contains("MariaDB");
    if g.capabilities & cap::SECURE_CONNECTION != 0 {
        let n = usize::from(auth_len).saturating_sub(8).max(13);
        c.take(n.min(c.rest.len()));
    }
    if g.capabilities & cap::PLUGIN_AUTH != 0 {
        g.auth_plugin = text(c.nul_str(), 64);
    }
    Some(g)
}

/// HandshakeResponse41 (or the SSLRequest that precedes it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Login {
    /// Client capabilities (MariaDB extended ones in the high 32 bits).
    pub capabilities: u64,
    /// Max packet size.
    pub max_packet: u32,
    /// Character set.
    pub charset: u8,
    /// Only the 32-byte prefix: an SSLRequest.
    pub ssl_request: bool,
    /// User name.
    pub user: String,
    /// Database.
    pub database: Option<String>,
    /// Auth plugin.
    pub auth_plugin: Option<String>,
    /// Connect attributes (key, value), bounded.
    pub attributes: Vec<(String, String)>,
    /// zstd level (CLIENT_ZSTD_COMPRESSION_ALGORITHM).
    pub zstd_level: Option<u8>,
}

/// Parse HandshakeResponse41 / SSLRequest. The auth data is skipped, never kept.
pub fn parse_login(p: &[u8], max_attrs: usize) -> Option<Login> {
    let mut c = Cur::new(p);
    let caps = u64::from(c.u32()?);
    if caps & cap::PROTOCOL_41 == 0 {
        return None;
    }
    let max_packet = c.u32()?;
    let charset = c.u8()?;
    let filler = c.take(23)?;
    let mut l = Login {
        capabilities: caps,
        max_packet,
        charset,
        ..Login::default()
    };
    if caps & cap::MYSQL == 0 {
        let ext = u32::from_le_bytes([filler[19], filler[20], filler[21], filler[22]]);
        l.capabilities |= u64::from(ext) << 32;
    }
    if c.rest.is_empty() {
        l.ssl_request = caps & cap::SSL != 0;
        return Some(l);
    }
    l.user = text(c.nul_str(), 128);
    if caps & cap::AUTH_LENENC != 0 {
        c.lenenc_bytes()?;
    } else if caps & cap::SECURE_CONNECTION != 0 {
        let n = usize::from(c.u8()?);
        c.take(n.min(c.rest.len()));
    } else {
        c.nul_str();
    }
    if caps & cap::CONNECT_WITH_DB != 0 && !c.rest.is_empty() {
        let db = c.nul_str();
        l.database = (!db.is_empty()).then(|| text(db, 128));
    }
    if caps & cap::PLUGIN_AUTH != 0 && !c.rest.is_empty() {
        l.auth_plugin = Some(text(c.nul_str(), 64));
    }
    if caps & cap::CONNECT_ATTRS != 0 && !c.rest.is_empty() {
        if let Some(n) = c.lenenc() {
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(c.rest.len());
            let mut a = Cur::new(c.take(n)?);
            while !a.rest.is_empty() {
                let (Some(k), Some(v)) = (a.lenenc_bytes(), a.lenenc_bytes()) else {
                    break;
                };
                if l.attributes.len() < max_attrs {
                    l.attributes.push((text(k, 64), text(v, 256)));
                }
            }
        }
    }
    if l.capabilities & cap::ZSTD != 0 {
        l.zstd_level = c.u8();
    }
    Some(l)
}

/// An OK packet (0x00, or 0xFE in CLIENT_DEPRECATE_EOF style).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ok {
    /// Affected rows.
    pub affected_rows: u64,
    /// Last insert id.
    pub last_insert_id: u64,
    /// Status flags.
    pub status: u16,
    /// Warnings.
    pub warnings: u16,
    /// Human-readable info.
    pub info: String,
}

/// Parse an OK payload (header byte included).
pub fn parse_ok(p: &[u8], caps: u64) -> Option<Ok> {
    let mut c = Cur::new(p);
    c.u8()?;
    let affected_rows = c.lenenc()?;
    let last_insert_id = c.lenenc()?;
    let status = c.u16().unwrap_or(0);
    let warnings = c.u16().unwrap_or(0);
    // With CLIENT_SESSION_TRACK the info is length-encoded; MariaDB writes it length-encoded
    // either way, so a first byte equal to the rest's length is taken as a length.
    let info = if caps & cap::SESSION_TRACK != 0
        || c.rest
            .first()
            .is_some_and(|&n| usize::from(n) + 1 == c.rest.len())
    {
        c.lenenc_bytes().unwrap_or_default()
    } else {
        c.rest
    };
    Some(Ok {
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info: text(info, 256),
    })
}

/// An ERR packet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Err {
    /// Error code.
    pub code: u16,
    /// SQL state (empty before protocol 4.1).
    pub sql_state: String,
    /// Message.
    pub message: String,
}

/// Parse an ERR payload (header 0xFF included).
pub fn parse_err(p: &[u8]) -> Option<Err> {
    let mut c = Cur::new(p);
    if c.u8()? != 0xff {
        return None;
    }
    let code = c.u16()?;
    let mut sql_state = String::new();
    if c.rest.first() == Some(&b'#') && c.rest.len() >= 6 {
        sql_state = text(&c.rest[1..6], 5);
        c.take(6);
    }
    Some(Err {
        code,
        sql_state,
        message: text(c.rest, 512),
    })
}

/// An EOF packet (0xFE, payload shorter than 9): (warnings, status).
pub fn parse_eof(p: &[u8]) -> Option<(u16, u16)> {
    let mut c = Cur::new(p);
    if c.u8()? != 0xfe {
        return None;
    }
    Some((c.u16().unwrap_or(0), c.u16().unwrap_or(0)))
}

/// A column (or parameter) definition: name and type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDef {
    /// Column name (alias).
    pub name: String,
    /// Type name.
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Type code.
    #[serde(skip)]
    pub code: u8,
    /// Column flags (bit 5 = UNSIGNED).
    #[serde(skip)]
    pub flags: u16,
}

/// Parse a ColumnDefinition41 payload.
pub fn parse_column(p: &[u8], caps: u64) -> Option<ColumnDef> {
    let mut c = Cur::new(p);
    for _ in 0..4 {
        c.lenenc_bytes()?; // catalog, schema, table, org_table
    }
    let name = c.lenenc_bytes()?;
    c.lenenc_bytes()?; // org_name
    if caps & cap::MARIADB_EXTENDED_TYPE_INFO != 0 {
        c.lenenc_bytes()?;
    }
    c.lenenc()?; // 0x0c
    c.u16()?;
    c.u32()?;
    let code = c.u8()?;
    let flags = c.u16().unwrap_or(0);
    Some(ColumnDef {
        name: text(name, 64),
        ty: type_name(code),
        code,
        flags,
    })
}

/// Does this payload look like a ColumnDefinition41 (catalog "def")?
pub fn looks_like_column(p: &[u8]) -> bool {
    p.starts_with(b"\x03def")
}

/// COM_STMT_PREPARE_OK: (statement id, columns, params, warnings).
pub fn parse_prepare_ok(p: &[u8]) -> Option<(u32, u16, u16, u16)> {
    let mut c = Cur::new(p);
    if c.u8()? != 0 {
        return None;
    }
    let id = c.u32()?;
    let cols = c.u16()?;
    let params = c.u16()?;
    c.u8()?;
    let warnings = c.u16().unwrap_or(0);
    Some((id, cols, params, warnings))
}

/// Binlog event header fields reported in messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BinlogEvent {
    /// Event timestamp (seconds).
    pub timestamp: u32,
    /// Event type code.
    pub event_type: u8,
    /// Originating server id.
    pub server_id: u32,
    /// Event size.
    pub event_size: u32,
    /// Position of the next event.
    pub log_pos: u32,
}

/// Parse a binlog network packet (0x00 + event header).
pub fn parse_binlog_event(p: &[u8]) -> Option<BinlogEvent> {
    let mut c = Cur::new(p);
    if c.u8()? != 0 {
        return None;
    }
    Some(BinlogEvent {
        timestamp: c.u32()?,
        event_type: c.u8()?,
        server_id: c.u32()?,
        event_size: c.u32()?,
        log_pos: c.u32()?,
    })
}

/// Count `?` placeholders outside quotes and comments (the parameter count of a statement whose
/// PREPARE reply was not captured).
pub fn count_placeholders(sql: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < sql.len() {
        match sql[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < sql.len() && sql[i] != q {
                    if sql[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < sql.len() && !(sql[i] == b'*' && sql[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < sql.len() && sql[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if sql.get(i + 1) == Some(&b'-') => {
                while i < sql.len() && sql[i] != b'\n' {
                    i += 1;
                }
            }
            b'?' => n += 1,
            _ => {}
        }
        i += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_forms() {
        assert_eq!(Cur::new(&[0xfa]).lenenc(), Some(250));
        assert_eq!(Cur::new(&[0xfc, 1, 2]).lenenc(), Some(0x201));
        assert_eq!(Cur::new(&[0xfd, 1, 2, 3]).lenenc(), Some(0x30201));
        assert_eq!(
            Cur::new(&[0xfe, 1, 0, 0, 0, 0, 0, 0, 1]).lenenc(),
            Some(1 << 56 | 1)
        );
        assert_eq!(Cur::new(&[0xfb]).lenenc(), None);
        assert_eq!(Cur::new(&[0xfc, 1]).lenenc(), None);
        let mut c = Cur::new(&[5, b'a', b'b']);
        assert_eq!(c.lenenc_bytes(), Some(&b"ab"[..]));
    }

    #[test]
    fn err_and_ok() {
        let e = parse_err(b"\xff\x15\x04#28000Access denied").unwrap();
        assert_eq!((e.code, e.sql_state.as_str()), (1045, "28000"));
        assert_eq!(e.message, "Access denied");
        let o = parse_ok(b"\x00\x03\x81\x02\x00\x01\x00", 0).unwrap();
        assert_eq!((o.affected_rows, o.last_insert_id, o.status), (3, 0x81, 2));
        assert!(parse_ok(b"\x00\xfc", 0).is_none());
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            count_placeholders(b"select ?, '?', \"?\" /* ? */ from t where a=?"),
            2
        );
        assert_eq!(count_placeholders(b"select `?` -- ?\n, ?"), 1);
        assert_eq!(count_placeholders(b"'unterminated ?"), 0);
    }

    #[test]
    fn text_escapes() {
        assert_eq!(text(b"a\xffb", 10), "a\\xffb");
        assert_eq!(text(b"abcdef", 3), "abc");
        // The byte 0xff and the text `\xff` differ.
        assert_eq!(text(br"a\xffb", 10), r"a\\xffb");
        assert_eq!(text(br"'it\'s'", 10), r"'it\\'s'");
    }

    #[test]
    fn fingerprint_of_escaped_sql_is_the_sql_s() {
        let sql: &[u8] = br"SELECT * FROM t WHERE a = 'it\'s' AND b = 'x\\' AND c = 5";
        assert_eq!(
            sql_fingerprint(&text(sql, 1000)),
            wiresift_core::fingerprint(std::str::from_utf8(sql).unwrap())
        );
        assert_eq!(
            sql_fingerprint(&text(sql, 1000)),
            "select * from t where a = ? and b = ? and c = ?"
        );
    }

    #[test]
    fn commands_named() {
        assert_eq!(Command::QUERY.name(), "QUERY");
        assert_eq!(Command::STMT_BULK_EXECUTE.name(), "STMT_BULK_EXECUTE");
        assert_eq!(Command(0x1f).name(), "RESET_CONNECTION");
        assert_eq!(Command(0x77).name(), "UNKNOWN");
    }
}
