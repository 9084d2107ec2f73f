//! The TTC layer carried in DATA packets: message types, function calls and the end-of-call
//! (ERROR) message of replies.
//!
//! # Integer representation
//! TTC integers come in two representations on the wire, fixed per connection by what the
//! two ends negotiated:
//! - **fixed** (the OCI clients of 9i–12c on little-endian hosts: TOAD, sqlplus): `ub2` and
//!   `ub4` are 2 and 4 bytes little-endian;
//! - **compressed** (the thin drivers, python-oracledb and node-oracledb): a length byte then
//!   that many big-endian bytes.
//!
//! The session fixes the representation per connection from the first call whose fields are
//! consistent under one representation only ([`detect_rep`]), and keeps it.
//!
//! # What is decoded, and what is never guessed
//! - The call's message type, function code and sequence number; piggybacked calls before it
//!   (close cursors with their cursor ids; end-to-end attributes with module, action, client
//!   identifier, client info; others by function code), found by their sequence number (the
//!   main call's is the piggyback's plus one).
//! - EXECUTE: options, cursor id and the bind count (layout checked by its `al8i4` length).
//! - SQL text: an OALL/OALL7/OALL8 call carries the statement as a length-prefixed string
//!   (one length byte, or `0xFE` then chunks and a zero terminator). The statement is taken
//!   only when a string whose length prefix matches exactly is valid UTF-8 text without control
//!   characters and starts with a SQL or PL/SQL keyword; otherwise no SQL is reported (the
//!   call is still reported with its function code, its first bytes and a note).
//! - Cursor ids and row counts come from the fields at fixed positions of the call (options,
//!   cursor id; FETCH: cursor id, rows) and of the reply's ERROR message (call status,
//!   sequence, current row number, error number, cursor id), in the connection's
//!   representation, and are only used when they pass consistency checks.
//! - Secrets: the AUTH calls carry `AUTH_PASSWORD`, `AUTH_SESSKEY` and verifier data: only
//!   the user name (the length-prefixed string before the first `AUTH_` key) is read.

use serde::Serialize;

/// TTC message types (first byte of a TTC message).
pub mod msg {
    /// Protocol negotiation.
    pub const PROTOCOL: u8 = 1;
    /// Data types negotiation.
    pub const DATA_TYPES: u8 = 2;
    /// Function call.
    pub const FUNCTION: u8 = 3;
    /// Error / end of call.
    pub const ERROR: u8 = 4;
    /// Row header.
    pub const ROW_HEADER: u8 = 6;
    /// Row data.
    pub const ROW_DATA: u8 = 7;
    /// Return parameters.
    pub const PARAMETER: u8 = 8;
    /// Call status.
    pub const STATUS: u8 = 9;
    /// I/O vector.
    pub const IO_VECTOR: u8 = 11;
    /// LOB data.
    pub const LOB_DATA: u8 = 14;
    /// Warning.
    pub const WARNING: u8 = 15;
    /// Describe information.
    pub const DESCRIBE_INFO: u8 = 16;
    /// Piggybacked function call.
    pub const PIGGYBACK: u8 = 17;
    /// Flush out binds.
    pub const FLUSH_OUT_BINDS: u8 = 19;
    /// Bit vector.
    pub const BIT_VECTOR: u8 = 21;
    /// Server-side piggyback.
    pub const SERVER_SIDE_PIGGYBACK: u8 = 23;
    /// One-way function.
    pub const ONEWAY_FN: u8 = 26;
    /// Implicit result set.
    pub const IMPLICIT_RESULTSET: u8 = 27;
    /// Renegotiate.
    pub const RENEGOTIATE: u8 = 28;
    /// End of response (23ai and later).
    pub const END_OF_RESPONSE: u8 = 29;
    /// Token (23ai).
    pub const TOKEN: u8 = 33;
    /// Fast authentication.
    pub const FAST_AUTH: u8 = 34;
}

/// Name of a TTC message type.
pub fn msg_name(t: u8) -> Option<&'static str> {
    Some(match t {
        msg::PROTOCOL => "PROTOCOL",
        msg::DATA_TYPES => "DATA_TYPES",
        msg::FUNCTION => "FUNCTION",
        msg::ERROR => "ERROR",
        msg::ROW_HEADER => "ROW_HEADER",
        msg::ROW_DATA => "ROW_DATA",
        msg::PARAMETER => "PARAMETER",
        msg::STATUS => "STATUS",
        msg::IO_VECTOR => "IO_VECTOR",
        msg::LOB_DATA => "LOB_DATA",
        msg::WARNING => "WARNING",
        msg::DESCRIBE_INFO => "DESCRIBE_INFO",
        msg::PIGGYBACK => "PIGGYBACK",
        msg::FLUSH_OUT_BINDS => "FLUSH_OUT_BINDS",
        msg::BIT_VECTOR => "BIT_VECTOR",
        msg::SERVER_SIDE_PIGGYBACK => "SERVER_SIDE_PIGGYBACK",
        msg::ONEWAY_FN => "ONEWAY_FN",
        msg::IMPLICIT_RESULTSET => "IMPLICIT_RESULTSET",
        msg::RENEGOTIATE => "RENEGOTIATE",
        msg::END_OF_RESPONSE => "END_OF_RESPONSE",
        msg::TOKEN => "TOKEN",
        msg::FAST_AUTH => "FAST_AUTH",
        _ => return None,
    })
}

/// TTC function codes.
pub mod func {
    /// Re-execute a parsed cursor.
    pub const REEXECUTE: u8 = 4;
    /// Fetch rows.
    pub const FETCH: u8 = 5;
    /// Log off.
    pub const LOGOFF: u8 = 9;
    /// Commit.
    pub const COMMIT: u8 = 14;
    /// Rollback.
    pub const ROLLBACK: u8 = 15;
    /// Get the server version string.
    pub const VERSION: u8 = 59;
    /// Bundled execution call (OALL, pre-V8).
    pub const OALL: u8 = 62;
    /// V8 bundled call (OALL7).
    pub const OALL7: u8 = 71;
    /// Re-execute and fetch.
    pub const REEXECUTE_AND_FETCH: u8 = 78;
    /// Execute (OALL8).
    pub const EXECUTE: u8 = 94;
    /// LOB operation.
    pub const LOB_OP: u8 = 96;
    /// Close cursors (usually piggybacked).
    pub const CLOSE_CURSORS: u8 = 105;
    /// Session operation (OSESSKEY-era piggyback).
    pub const SESSION_OP: u8 = 107;
    /// AUTH phase two.
    pub const AUTH_PHASE_TWO: u8 = 115;
    /// AUTH phase one.
    pub const AUTH_PHASE_ONE: u8 = 118;
    /// Set end-to-end attributes (module, action, client id; piggybacked).
    pub const SET_END_TO_END_ATTR: u8 = 135;
    /// Ping.
    pub const PING: u8 = 147;
}

/// Calls whose first two fields are `ub4`s (execute: options and cursor; fetch and
/// re-execute: cursor and rows): the only ones the representation is decided from.
pub fn two_ub4_call(f: u8) -> bool {
    matches!(
        f,
        func::EXECUTE
            | func::OALL7
            | func::OALL
            | func::FETCH
            | func::REEXECUTE
            | func::REEXECUTE_AND_FETCH
    )
}

/// Command name of a function code, as used in the transaction's `command`.
pub fn func_name(f: u8) -> Option<&'static str> {
    Some(match f {
        2 => "OPEN",
        3 => "PARSE",
        func::REEXECUTE => "REEXECUTE",
        8 => "CLOSE",
        func::FETCH => "FETCH",
        func::LOGOFF => "LOGOFF",
        func::COMMIT => "COMMIT",
        func::ROLLBACK => "ROLLBACK",
        func::VERSION => "VERSION",
        func::OALL | func::OALL7 | func::EXECUTE => "EXECUTE",
        func::REEXECUTE_AND_FETCH => "REEXECUTE_AND_FETCH",
        func::LOB_OP => "LOB_OP",
        103 => "TPC_TXN_SWITCH",
        104 => "TPC_TXN_CHANGE_STATE",
        func::CLOSE_CURSORS => "CLOSE_CURSORS",
        func::AUTH_PHASE_TWO | func::AUTH_PHASE_ONE => "AUTH",
        121 => "AQ_ENQ",
        122 => "AQ_DEQ",
        func::SET_END_TO_END_ATTR => "SET_END_TO_END_ATTR",
        145 => "ARRAY_AQ",
        func::PING => "PING",
        152 => "SET_SCHEMA",
        162 => "SESSION_GET",
        163 => "SESSION_RELEASE",
        176 => "SESSION_STATE",
        199 => "PIPELINE_BEGIN",
        200 => "PIPELINE_END",
        _ => return None,
    })
}

/// The wire name of the execute-family functions (`OALL`, `OALL7`, `OALL8`).
pub fn exec_variant(f: u8) -> Option<&'static str> {
    match f {
        func::OALL => Some("OALL"),
        func::OALL7 => Some("OALL7"),
        func::EXECUTE => Some("OALL8"),
        _ => None,
    }
}

/// Integer representation of a connection's TTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntRep {
    /// Fixed-width little-endian.
    Fixed,
    /// Length-prefixed big-endian.
    Compressed,
}

/// A cursor over TTC fields.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    d: &'a [u8],
    /// Position.
    pub pos: usize,
    rep: IntRep,
}

impl<'a> Reader<'a> {
    /// Read `d` from `pos` in representation `rep`.
    pub fn new(d: &'a [u8], pos: usize, rep: IntRep) -> Self {
        Reader { d, pos, rep }
    }
    /// One byte.
    pub fn ub1(&mut self) -> Option<u8> {
        let b = *self.d.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn compressed(&mut self, max: u8) -> Option<u64> {
        let n = self.ub1()?;
        let n = n & 0x7f; // sign bit of sb2/sb4
        if n > max {
            return None;
        }
        let b = self.d.get(self.pos..self.pos + usize::from(n))?;
        self.pos += usize::from(n);
        Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }
    fn fixed(&mut self, n: usize) -> Option<u64> {
        let b = self.d.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }
    /// An unsigned 16-bit field.
    pub fn ub2(&mut self) -> Option<u64> {
        match self.rep {
            IntRep::Fixed => self.fixed(2),
            IntRep::Compressed => self.compressed(2),
        }
    }
    /// An unsigned 64-bit field (compressed representation only; fixed: 8 bytes LE).
    pub fn ub8(&mut self) -> Option<u64> {
        match self.rep {
            IntRep::Fixed => self.fixed(8),
            IntRep::Compressed => self.compressed(8),
        }
    }
    /// Bytes with a length (`ub1` length, or `0xFE` and `ub4`-length chunks), skipped;
    /// `None` when they run past the end.
    pub fn skip_bytes(&mut self) -> Option<()> {
        let (_b, end) = prefixed(self.d, self.pos, true, usize::MAX)
            .or_else(|| (self.d.get(self.pos) == Some(&0)).then(|| (Vec::new(), self.pos + 1)))?;
        self.pos = end;
        Some(())
    }
    /// An unsigned 32-bit field.
    pub fn ub4(&mut self) -> Option<u64> {
        match self.rep {
            IntRep::Fixed => self.fixed(4),
            IntRep::Compressed => self.compressed(4),
        }
    }
}

/// Decide the representation from a function call's first two `ub4` fields (at offset 3 of a
/// `03 <func> <seq>` message). `None` when both readings are consistent (or neither).
pub fn detect_rep(call: &[u8]) -> Option<IntRep> {
    if call.len() < 5 {
        return None;
    }
    let f = &call[3..];
    // Compressed integers are minimal: a non-zero length is followed by a non-zero byte.
    let minimal = |at: usize| {
        f.get(at).is_some_and(|&n| {
            n <= 4
                && (n == 0 || f.get(at + 1).is_some_and(|&b| b != 0))
                && f.len() > at + usize::from(n)
        })
    };
    let comp = minimal(0) && minimal(1 + usize::from(f[0]));
    let fixed = f.len() >= 8 && f[2] == 0 && f[3] == 0 && f[6] == 0 && f[7] == 0;
    match (comp, fixed) {
        (true, false) => Some(IntRep::Compressed),
        (false, true) => Some(IntRep::Fixed),
        _ => None,
    }
}

/// A piggybacked call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Piggyback {
    /// Function code.
    pub function_code: u8,
    /// Its name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<&'static str>,
    /// Cursors closed (close cursors only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cursors: Vec<u32>,
    /// End-to-end attributes set (SET_END_TO_END_ATTR, compressed representation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end: Option<EndToEnd>,
}

/// The end-to-end attributes of a SET_END_TO_END_ATTR piggyback (bounded to 256 bytes each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndToEnd {
    /// `CLIENT_IDENTIFIER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_identifier: Option<String>,
    /// `MODULE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// `ACTION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `CLIENT_INFO`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_info: Option<String>,
    /// `DBOP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbop: Option<String>,
}

/// Decode a SET_END_TO_END_ATTR piggyback body (after its header), laid out as the thin
/// drivers write it: two pointers, flags, then (pointer, length) for client identifier,
/// module, action, two unused fields and a count, client info, two unused, dbop; then the
/// values present, each with a length prefix that must equal the announced length.
pub fn end_to_end(r: &mut Reader<'_>) -> Option<EndToEnd> {
    r.ub1()?;
    r.ub1()?;
    r.ub4()?; // flags
    let pl = |r: &mut Reader<'_>| -> Option<(u8, u64)> { Some((r.ub1()?, r.ub4()?)) };
    let cid = pl(r)?;
    let module = pl(r)?;
    let action = pl(r)?;
    pl(r)?; // cideci
    r.ub1()?; // cidcct
    r.ub4()?; // cidecs
    let info = pl(r)?;
    pl(r)?; // cidkstk
    pl(r)?; // cidktgt
    let dbop = pl(r)?;
    let val = |r: &mut Reader<'_>, (ptr, len): (u8, u64)| -> Option<Option<String>> {
        if ptr > 1 {
            return None;
        }
        if ptr == 0 || len == 0 {
            return Some(None);
        }
        let (b, end) = prefixed(r.d, r.pos, true, 4096)?;
        if b.len() as u64 != len {
            return None;
        }
        r.pos = end;
        Some(Some(
            String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned(),
        ))
    };
    Some(EndToEnd {
        client_identifier: val(r, cid)?,
        module: val(r, module)?,
        action: val(r, action)?,
        client_info: val(r, info)?,
        dbop: val(r, dbop)?,
    })
}

/// What a client call says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// Message type of the main message (3, or another type for non-call messages).
    pub msg_type: u8,
    /// Function code (0 when the message is not a function call).
    pub function_code: u8,
    /// Sequence number.
    pub seq: u8,
    /// Piggybacked calls before the main call.
    pub piggybacks: Vec<Piggyback>,
    /// SQL text, when found (see the module documentation).
    pub sql: Option<String>,
    /// The SQL's byte length on the wire.
    pub sql_len: usize,
    /// Cursor id (EXECUTE with a parsed cursor, FETCH, REEXECUTE).
    pub cursor: Option<u32>,
    /// Rows asked for (FETCH).
    pub rows_requested: Option<u32>,
    /// Options (EXECUTE).
    pub options: Option<u32>,
    /// User name (AUTH).
    pub user: Option<String>,
    /// AUTH phase (1 or 2).
    pub auth_phase: Option<u8>,
    /// The `AUTH_ALTER_SESSION` statement of an AUTH call (session set-up SQL, not a secret).
    pub alter_session: Option<String>,
    /// Number of bind variables (OALL8 with one-byte pointers: the thin drivers and the 11g
    /// OCI shape; checked by the `al8i4` array length being 13).
    pub binds: Option<u32>,
    /// Whether the call carried a token (compressed representation, field version ≥ 18).
    pub token: Option<bool>,
    /// Why some field could not be decoded.
    pub notes: Vec<String>,
}

const SQL_KEYWORDS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "WITH",
    "BEGIN",
    "DECLARE",
    "CALL",
    "ALTER",
    "CREATE",
    "DROP",
    "TRUNCATE",
    "GRANT",
    "REVOKE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "LOCK",
    "EXPLAIN",
    "SET",
    "COMMENT",
    "ANALYZE",
    "RENAME",
    "PURGE",
    "FLASHBACK",
    "AUDIT",
    "NOAUDIT",
    "VALUES",
    "TABLE",
];

/// Does `t` read as a SQL or PL/SQL statement (first word after blanks, `(` and comments is a
/// keyword; no control characters)?
pub fn looks_like_sql(t: &str) -> bool {
    if t.len() < 4
        || t.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return false;
    }
    let mut s = t;
    loop {
        let before = s.len();
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(r) = s.strip_prefix("/*") {
            match r.find("*/") {
                Some(i) => s = &r[i + 2..],
                None => return false,
            }
        } else if let Some(r) = s.strip_prefix("--") {
            match r.find('\n') {
                Some(i) => s = &r[i + 1..],
                None => return false,
            }
        }
        if s.len() == before {
            break;
        }
    }
    let word: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    SQL_KEYWORDS.contains(&word.as_str())
}

/// A length-prefixed string at `p`: one length byte (1..=252), or `0xFE` and chunks (chunk
/// lengths as `ub1`, or as compressed `ub4`) up to a zero chunk. Returns the bytes and the end.
/// `None` when the bytes do not form such a string within `d` (or exceed `max`).
pub fn prefixed(d: &[u8], p: usize, chunk_ub4: bool, max: usize) -> Option<(Vec<u8>, usize)> {
    let l = *d.get(p)?;
    if (1..=252).contains(&l) {
        let s = d.get(p + 1..p + 1 + usize::from(l))?;
        return Some((s.to_vec(), p + 1 + usize::from(l)));
    }
    if l != 0xFE {
        return None;
    }
    let mut out = Vec::new();
    let mut at = p + 1;
    loop {
        let n = if chunk_ub4 {
            let mut r = Reader::new(d, at, IntRep::Compressed);
            let n = r.ub4()?;
            at = r.pos;
            usize::try_from(n).ok()?
        } else {
            let n = *d.get(at)?;
            at += 1;
            usize::from(n)
        };
        if n == 0 {
            return (!out.is_empty()).then_some((out, at));
        }
        let c = d.get(at..at.checked_add(n)?)?;
        if out.len() + n > max {
            return None;
        }
        out.extend_from_slice(c);
        at += n;
    }
}

/// Find the SQL text of an execute call in `d` from offset `from`: the first length-prefixed
/// string that reads as SQL (see [`looks_like_sql`]).
pub fn find_sql(d: &[u8], from: usize, rep: Option<IntRep>, max: usize) -> Option<(String, usize)> {
    for p in from..d.len() {
        let orders: &[bool] = match rep {
            Some(IntRep::Compressed) => &[true, false],
            _ => &[false, true],
        };
        for &chunk_ub4 in orders {
            if let Some((b, _end)) = prefixed(d, p, chunk_ub4, max) {
                if let Ok(t) = std::str::from_utf8(&b) {
                    // OCI counts a C string's terminating NUL in some length prefixes.
                    let t = t.strip_suffix('\0').unwrap_or(t);
                    if looks_like_sql(t) {
                        return Some((t.to_string(), b.len()));
                    }
                }
            }
            if d[p] != 0xFE {
                break;
            }
        }
    }
    None
}

/// Is `c` an identifier-ish character of an Oracle user name?
fn user_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'#' | b'.' | b'@' | b'"' | b'-')
}

/// The user name of an AUTH call: the length-prefixed string closest before the first
/// `AUTH_` key (within 16 bytes of it). Never reads anything after that key.
pub fn auth_user(d: &[u8]) -> Option<String> {
    let k = d.windows(5).position(|w| w == b"AUTH_")?;
    let lo = k.saturating_sub(16 + 64).max(3);
    let mut best = None;
    for p in lo..k {
        let l = usize::from(d[p]);
        if l == 0 || p + 1 + l > k || p + 1 + l + 16 < k {
            continue;
        }
        let s = &d[p + 1..p + 1 + l];
        if s.iter().all(|&c| user_char(c)) {
            best = Some(String::from_utf8_lossy(s).into_owned());
        }
    }
    best
}

/// Decode a client call (the concatenated DATA payloads of one request, without the data
/// flags). `rep` is the connection's representation when known.
pub fn parse_call(d: &[u8], rep: Option<IntRep>, max_sql: usize) -> Call {
    parse_call_fv(d, rep, None, max_sql)
}

/// [`parse_call`] knowing the negotiated TTC field version: from 23.1 EXT1 (18) on, the thin
/// drivers write a `ub8` token after each call's (and piggyback's) sequence number.
///
/// `token`: whether calls carry the token (from the negotiated field version); `None` when not
/// known (connection picked up mid-stream): an EXECUTE then decides it, as the reading under
/// which the pointer byte is 0 or 1 and the SQL length field equals the SQL found
/// ([`Call::token`] says what was decided).
pub fn parse_call_fv(d: &[u8], rep: Option<IntRep>, token: Option<bool>, max_sql: usize) -> Call {
    let rep0 = rep.or_else(|| {
        let at = d.iter().position(|&b| b == msg::FUNCTION).unwrap_or(0);
        detect_rep(&d[at..])
    });
    let token = match token {
        Some(t) => t,
        None if rep0 == Some(IntRep::Compressed) => {
            let t = execute_token(d, max_sql).or_else(|| fetch_token(d));
            let mut c = parse_call_tok(d, rep, t.unwrap_or(false), t.is_some(), max_sql);
            c.token = t;
            return c;
        }
        None => false,
    };
    let mut c = parse_call_tok(d, rep, token, true, max_sql);
    c.token = Some(token).filter(|_| rep0 == Some(IntRep::Compressed) || token);
    c
}

/// The bind count of an OALL8, read after its options and cursor id: pointer and SQL length,
/// pointer and `al8i4` length (must be 13), two pointers, prefetch buffer size, prefetch rows,
/// maximum long size, pointer and bind count. Pointers must be one byte, 0 or 1.
fn oall8_binds(r: &mut Reader<'_>) -> Option<u32> {
    let ptr = |r: &mut Reader<'_>| r.ub1().filter(|&p| p <= 1);
    ptr(r)?;
    r.ub4()?;
    ptr(r)?;
    if r.ub4()? != 13 {
        return None;
    }
    ptr(r)?;
    ptr(r)?;
    r.ub4()?;
    r.ub4()?;
    r.ub4()?;
    ptr(r)?;
    r.ub4().map(|n| n as u32)
}

/// For a compressed FETCH (`cursor`, `rows`, nothing after): does it carry a token? Decided
/// only when exactly one reading ends exactly at the end of the call.
fn fetch_token(d: &[u8]) -> Option<bool> {
    if d.first() != Some(&msg::FUNCTION) || d.get(1) != Some(&func::FETCH) {
        return None;
    }
    let ends = |tok: bool| {
        let mut r = Reader::new(d, 3, IntRep::Compressed);
        (!tok || r.ub8().is_some()) && r.ub4().is_some() && r.ub4().is_some() && r.pos == d.len()
    };
    match (ends(false), ends(true)) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    }
}

/// For a compressed EXECUTE: does it carry a token? (See [`parse_call_fv`].)
fn execute_token(d: &[u8], max_sql: usize) -> Option<bool> {
    let at = d.iter().position(|&b| b == msg::FUNCTION)?;
    let m = &d[at..];
    if m.get(1) != Some(&func::EXECUTE) {
        return None;
    }
    let (sql, n) = find_sql(m, 3, Some(IntRep::Compressed), max_sql)?;
    let _ = sql;
    let fits = |tok: bool| {
        let mut r = Reader::new(m, 3, IntRep::Compressed);
        if tok && r.ub8().is_none() {
            return false;
        }
        let (Some(_opt), Some(_cur), Some(ptr), Some(len)) = (r.ub4(), r.ub4(), r.ub1(), r.ub4())
        else {
            return false;
        };
        ptr == 1 && len == n as u64
    };
    match (fits(false), fits(true)) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    }
}

fn parse_call_tok(
    d: &[u8],
    rep: Option<IntRep>,
    token: bool,
    token_known: bool,
    max_sql: usize,
) -> Call {
    // Offset of the first field after `<type> <func> <seq>` (and the token).
    let first = |m: &[u8]| -> usize {
        if token {
            let mut r = Reader::new(m, 3, IntRep::Compressed);
            r.ub8().map_or(3, |_| r.pos)
        } else {
            3
        }
    };
    let mut c = Call::default();
    let Some(&t) = d.first() else {
        return c;
    };
    c.msg_type = t;
    let mut at = 0usize;
    // Piggybacks: `11 <func> <seq> …` up to the main `03 <func> <seq+1>`.
    let mut guard = 0;
    while d.get(at) == Some(&msg::PIGGYBACK) && d.len() >= at + 3 && guard < 16 {
        guard += 1;
        let (f, seq) = (d[at + 1], d[at + 2]);
        let mut pb = Piggyback {
            function_code: f,
            function: func_name(f),
            cursors: Vec::new(),
            end_to_end: None,
        };
        if f == func::SET_END_TO_END_ATTR && rep == Some(IntRep::Compressed) {
            let mut rd = Reader::new(d, at + first(&d[at..]), IntRep::Compressed);
            pb.end_to_end = end_to_end(&mut rd);
        }
        if f == func::CLOSE_CURSORS {
            if let Some(r) = rep {
                let mut rd = Reader::new(d, at + first(&d[at..]), r);
                let _ptr = rd.ub1();
                if let Some(n) = rd.ub4() {
                    for _ in 0..n.min(64) {
                        match rd.ub4() {
                            Some(id) => pb.cursors.push(id as u32),
                            None => break,
                        }
                    }
                }
            }
        }
        c.piggybacks.push(pb);
        // The next message: a function or another piggyback with the next sequence number.
        let next = (at + 3..d.len().saturating_sub(2)).find(|&i| {
            matches!(d[i], msg::FUNCTION | msg::PIGGYBACK)
                && d[i + 2] == seq.wrapping_add(1)
                && (func_name(d[i + 1]).is_some() || d[i + 1] == func::SESSION_OP)
        });
        match next {
            Some(i) => at = i,
            None => {
                c.notes.push(format!(
                    "piggyback function {f} not followed by a call with sequence {}",
                    seq.wrapping_add(1)
                ));
                c.msg_type = msg::PIGGYBACK;
                c.function_code = f;
                c.seq = seq;
                return c;
            }
        }
    }
    let m = &d[at..];
    c.msg_type = m[0];
    if m[0] != msg::FUNCTION || m.len() < 3 {
        return c;
    }
    c.function_code = m[1];
    c.seq = m[2];
    let rep = rep.or_else(|| detect_rep(m));
    let f0 = first(m);
    match c.function_code {
        func::EXECUTE | func::OALL7 | func::OALL => {
            if let Some(r) = rep {
                let mut rd = Reader::new(m, f0, r);
                c.options = rd.ub4().map(|v| v as u32);
                c.cursor = rd.ub4().map(|v| v as u32).filter(|&v| v != 0);
                if c.function_code == func::EXECUTE {
                    c.binds = oall8_binds(&mut rd);
                }
            }
            match find_sql(m, f0, rep, max_sql) {
                Some((s, n)) => {
                    c.sql = Some(s);
                    c.sql_len = n;
                }
                None if c.cursor.is_none() => c.notes.push(
                    "no SQL text found in the call (layout not understood, or a re-execute of a parsed cursor)"
                        .into(),
                ),
                None => {}
            }
        }
        func::FETCH | func::REEXECUTE | func::REEXECUTE_AND_FETCH if !token_known => {
            c.notes
                .push("token presence not known yet (mid-stream): cursor id not read".into());
        }
        func::FETCH | func::REEXECUTE | func::REEXECUTE_AND_FETCH => {
            if let Some(r) = rep {
                let mut rd = Reader::new(m, f0, r);
                c.cursor = rd.ub4().map(|v| v as u32);
                if c.function_code == func::FETCH {
                    c.rows_requested = rd.ub4().map(|v| v as u32);
                }
            } else {
                c.notes
                    .push("integer representation not known: cursor id not read".into());
            }
        }
        3 => {
            // PARSE (pre-OALL clients): the statement, when its string is found.
            if let Some((s, n)) = find_sql(m, f0, rep, max_sql) {
                c.sql = Some(s);
                c.sql_len = n;
            }
        }
        func::AUTH_PHASE_ONE | func::AUTH_PHASE_TWO => {
            c.auth_phase = Some(if c.function_code == func::AUTH_PHASE_ONE {
                1
            } else {
                2
            });
            c.user = auth_user(m);
            let key = b"AUTH_ALTER_SESSION";
            if let Some(k) = m.windows(key.len()).position(|w| w == key) {
                c.alter_session = find_sql(m, k + key.len(), rep, max_sql).map(|(s, _)| s);
            }
        }
        _ => {}
    }
    c
}

/// The end-of-call information of a reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The ERROR message was located (the call is complete).
    pub complete: bool,
    /// Error number (0: success).
    pub ora_code: Option<u32>,
    /// `ORA-nnnnn: text` from the reply.
    pub message: Option<String>,
    /// Current row number of the cursor (cumulative rows).
    pub row_number: Option<u64>,
    /// Cursor id.
    pub cursor: Option<u32>,
    /// The reply is a lone STATUS message.
    pub status_only: bool,
    /// Server version banner (VERSION reply).
    pub banner: Option<String>,
}

/// First `ORA-nnnnn: …` text in `d` (bounded to one line of at most 400 bytes).
pub fn find_ora_text(d: &[u8]) -> Option<(u32, String)> {
    let mut from = 0;
    while let Some(i) = d[from..].windows(4).position(|w| w == b"ORA-") {
        let p = from + i;
        let digits = d.get(p + 4..p + 9)?;
        if digits.iter().all(u8::is_ascii_digit) {
            let code = std::str::from_utf8(digits).ok()?.parse().ok()?;
            let end = d[p..]
                .iter()
                .take(400)
                .position(|&c| c == b'\n' || c == 0 || (c < 0x20 && c != b'\t'))
                .map_or((p + 400).min(d.len()), |e| p + e);
            return Some((code, String::from_utf8_lossy(&d[p..end]).into_owned()));
        }
        from = p + 4;
    }
    None
}

/// Parse the fixed head of an ERROR message at `p`: (call status, row number, error number,
/// cursor id), with consistency checks.
fn error_head(d: &[u8], p: usize, rep: IntRep) -> Option<(u64, u64, u64, u64, usize)> {
    error_head_inner(d, p, rep).filter(|&(_, _, _, _, end)| {
        // The ERROR message is the last message of the reply: its fixed tail (rowid, OS
        // error, statement and call numbers, iterations, …) runs to the end of the payload,
        // apart from the error text.
        let text = d[end..]
            .windows(4)
            .position(|w| w == b"ORA-")
            .map_or(0, |t| d.len() - (end + t) + 1);
        let rest = (d.len() - end).saturating_sub(text);
        match rep {
            IntRep::Fixed => (20..=90).contains(&rest),
            IntRep::Compressed => (8..=160).contains(&rest),
        }
    })
}

fn error_head_inner(d: &[u8], p: usize, rep: IntRep) -> Option<(u64, u64, u64, u64, usize)> {
    if d.get(p) != Some(&msg::ERROR) {
        return None;
    }
    let mut r = Reader::new(d, p + 1, rep);
    let status = r.ub4()?;
    let seq = r.ub2()?;
    let row = r.ub4()?;
    let err = r.ub2()?;
    let a1 = r.ub2()?;
    let a2 = r.ub2()?;
    let cursor = r.ub2()?;
    let _pos = r.ub2()?;
    if status > 0xFFFF || row >= 1 << 31 || a1 != 0 || a2 != 0 || (status == 0 && seq == 0) {
        return None;
    }
    Some((status, row, err, cursor, r.pos))
}

/// A whole ERROR message in the compressed representation, laid out as python-oracledb's
/// `_process_error_info` reads it, at `p`; it must end exactly at the end of `d` (or before a
/// final END_OF_RESPONSE byte). `fv20`: the two `ub4` fields of field version 20.1 and later.
/// Returns (extended error number, extended row count, cursor id).
pub fn error_compressed(d: &[u8], p: usize, fv20: bool) -> Option<(u64, u64, u64)> {
    if d.get(p) != Some(&msg::ERROR) {
        return None;
    }
    let mut r = Reader::new(d, p + 1, IntRep::Compressed);
    r.ub4()?; // call status
    r.ub2()?; // end-to-end seq
    r.ub4()?; // current row
    r.ub2()?; // error number
    r.ub2()?;
    r.ub2()?;
    let cursor = r.ub2()?;
    r.ub2()?; // error position (sb2)
    for _ in 0..6 {
        r.ub1()?;
    }
    r.ub4()?; // rowid: rba, partition, -, block, slot
    r.ub2()?;
    r.ub1()?;
    r.ub4()?;
    r.ub2()?;
    r.ub4()?; // OS error
    r.ub1()?;
    r.ub1()?;
    r.ub2()?; // padding
    r.ub4()?; // success iterations
    if r.ub4()? > 0 {
        r.skip_bytes()?; // oerrdd
    }
    if r.ub2()? != 0 || r.ub4()? != 0 || r.ub2()? != 0 {
        return None; // batch errors: not decoded
    }
    let num = r.ub4()?;
    let rows = r.ub8()?;
    if fv20 {
        r.ub4()?;
        r.ub4()?;
    }
    if num != 0 {
        r.skip_bytes()?;
    }
    let end = r.pos;
    let ok = end == d.len() || (end + 1 == d.len() && d[end] == msg::END_OF_RESPONSE);
    ok.then_some((num, rows, cursor))
}

/// Decode what a reply says about the end of its call: the ERROR message (searched in the
/// last 600 bytes, checked against the `ORA-` text when there is one), or a lone STATUS.
pub fn parse_reply(d: &[u8], rep: Option<IntRep>) -> Reply {
    parse_reply_fv(d, rep, None)
}

/// [`parse_reply`] knowing the negotiated TTC field version.
pub fn parse_reply_fv(d: &[u8], rep: Option<IntRep>, fv: Option<u8>) -> Reply {
    let mut out = Reply::default();
    let ora = find_ora_text(d);
    if let Some((code, text)) = &ora {
        out.ora_code = Some(*code);
        out.message = Some(text.clone());
    }
    if d.first() == Some(&msg::STATUS) && d.len() <= 24 {
        out.complete = true;
        out.status_only = true;
        return out;
    }
    if d.first() == Some(&msg::PARAMETER) && d.len() > 4 {
        // VERSION reply: `08 <len ub2> <banner>`.
        if let Some(b) = banner(d) {
            out.banner = Some(b);
        }
    }
    // The compressed layout is checked to end exactly at the end of the reply, so it is also
    // tried while the connection's representation is not known yet.
    if rep != Some(IntRep::Fixed) {
        let lo = d.len().saturating_sub(1200);
        for p in lo..d.len() {
            let cands: &[bool] = match fv {
                Some(v) => &[v >= 14][..],
                None => &[true, false][..],
            };
            for &fv20 in cands {
                if let Some((num, rows, cursor)) = error_compressed(d, p, fv20) {
                    out.complete = true;
                    out.ora_code = Some(num as u32);
                    out.row_number = Some(rows);
                    out.cursor = Some(cursor as u32).filter(|&c| c != 0);
                    if num == 0 {
                        out.message = None;
                    }
                    return out;
                }
            }
        }
    }
    let reps: Vec<IntRep> = match rep {
        Some(IntRep::Fixed) => vec![IntRep::Fixed, IntRep::Compressed],
        Some(IntRep::Compressed) => vec![IntRep::Compressed, IntRep::Fixed],
        None => vec![IntRep::Fixed, IntRep::Compressed],
    };
    let lo = d.len().saturating_sub(600);
    for r in reps {
        for p in lo..d.len() {
            if let Some((_st, row, err, cursor, _end)) = error_head(d, p, r) {
                let want = ora.as_ref().map_or(0, |o| u64::from(o.0));
                if err != want {
                    continue;
                }
                out.complete = true;
                out.ora_code = Some(err as u32);
                out.row_number = Some(row);
                out.cursor = Some(cursor as u32).filter(|&c| c != 0);
                return out;
            }
        }
    }
    if out.ora_code.is_some() {
        // An error text without a decodable head still ends the call.
        out.complete = true;
    }
    out
}

fn banner(d: &[u8]) -> Option<String> {
    let t = d.windows(6).position(|w| w == b"Oracle")?;
    let end = d[t..]
        .iter()
        .take(400)
        .position(|&c| c < 0x20 && c != b'\n' && c != b'\t')?
        + t;
    Some(
        String::from_utf8_lossy(&d[t..end])
            .replace('\n', " ")
            .trim()
            .to_string(),
    )
}

/// The TTC field version in a DATA_TYPES request (`02`, charset and ncharset `u16` LE, flags,
/// then the compile-time capabilities with a one-byte length; index 7 is the field version).
pub fn data_types_field_version(d: &[u8]) -> Option<u8> {
    if d.first() != Some(&msg::DATA_TYPES) {
        return None;
    }
    let n = usize::from(*d.get(6)?);
    (n > 7).then(|| d.get(7 + 7).copied()).flatten()
}

/// The server's field version in a PROTOCOL reply (`01`, version, 0, banner NUL-terminated,
/// charset `u16` LE, flags, element count `u16` LE and 5 bytes each, FDO with a `u16` BE length,
/// then the compile-time capabilities with a one-byte length).
pub fn protocol_field_version(d: &[u8]) -> Option<u8> {
    if d.first() != Some(&msg::PROTOCOL) || d.len() < 4 {
        return None;
    }
    let nul = d[3..].iter().position(|&b| b == 0)? + 3;
    let mut at = nul + 1 + 3;
    let nelem = usize::from(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]));
    at += 2 + nelem * 5;
    let fdo = usize::from(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]));
    at += 2 + fdo;
    let n = usize::from(*d.get(at)?);
    (n > 7).then(|| d.get(at + 1 + 7).copied()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_detection() {
        assert!(looks_like_sql("select 1 from dual"));
        assert!(looks_like_sql("  /* hint */ (SELECT x FROM t)"));
        assert!(looks_like_sql("BEGIN dbms_output.put_line('x'); END;"));
        assert!(!looks_like_sql("AUTH_TERMINAL"));
        assert!(!looks_like_sql("select\u{1}x"));
        assert!(!looks_like_sql("/* unterminated select"));
    }

    #[test]
    fn chunked_strings() {
        // ub1 chunks (OCI) and compressed ub4 chunks (thin drivers).
        let mut d = vec![0xFE, 4];
        d.extend_from_slice(b"sele");
        d.push(3);
        d.extend_from_slice(b"ct ");
        d.push(1);
        d.push(b'1');
        d.push(0);
        assert_eq!(prefixed(&d, 0, false, 100).unwrap().0, b"select 1");
        let mut d = vec![0xFE, 1, 8];
        d.extend_from_slice(b"select 1");
        d.push(0);
        assert_eq!(prefixed(&d, 0, true, 100).unwrap().0, b"select 1");
        assert!(prefixed(&d, 0, true, 4).is_none());
        assert!(prefixed(&[0xFE, 5, b'a'], 0, false, 100).is_none());
    }

    #[test]
    fn reps() {
        // FETCH cursor 3, 15 rows: fixed and compressed.
        assert_eq!(
            detect_rep(&[3, 5, 0x90, 3, 0, 0, 0, 15, 0, 0, 0]),
            Some(IntRep::Fixed)
        );
        assert_eq!(
            detect_rep(&[3, 5, 0x90, 1, 3, 1, 15]),
            Some(IntRep::Compressed)
        );
        let c = parse_call(&[3, 5, 0x90, 1, 3, 1, 15], None, 1000);
        assert_eq!((c.cursor, c.rows_requested), (Some(3), Some(15)));
    }

    #[test]
    fn error_message_fixed() {
        // From the 11g capture: end of fetch, row 29, cursor 3.
        let mut d = vec![
            0x04, 1, 0, 0, 0, 0x8f, 1, 0x1d, 0, 0, 0, 0x7b, 5, 0, 0, 0, 0, 3, 0, 0, 0,
        ];
        d.extend_from_slice(&[0; 40]);
        d.extend_from_slice(b"\x19ORA-01403: no data found\n");
        let r = parse_reply(&d, Some(IntRep::Fixed));
        assert!(r.complete);
        assert_eq!(r.ora_code, Some(1403));
        assert_eq!(r.row_number, Some(29));
        assert_eq!(r.cursor, Some(3));
        assert_eq!(r.message.as_deref(), Some("ORA-01403: no data found"));
    }

    #[test]
    fn auth_user_name_only() {
        let d = b"\x03\x76\x02\x01\x03\x00\x00\x00\x01\x05\x00\x00\x00\x01\x01\x03sys\x0d\x00\x00\x00\x0dAUTH_TERMINAL\x05pts/0";
        assert_eq!(auth_user(d).as_deref(), Some("sys"));
    }
}
