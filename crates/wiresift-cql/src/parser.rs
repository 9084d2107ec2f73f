//! Frame bodies: pure decoding over exactly one (decompressed) frame body, no flow state.
//!
//! Framing (headers, segments, carry-over) is incremental and lives in [`crate::frame`],
//! [`crate::segment`] and the session; once a frame is complete its body is decoded here with
//! a bounds-checked cursor over that slice only: a length field larger than what is left is an
//! error, never an allocation. Lists kept for output are bounded by [`Limits`]; their full
//! counts are kept.

use crate::event::{Batch, BatchMember, Column, CqlEvent, CqlRequest, CqlResponse, SchemaChange};
use crate::frame::{flags, Header, Opcode};
use std::collections::BTreeMap;

/// Bounds on what a decoded body keeps for output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of CQL text kept (default 4,096).
    pub max_query: usize,
    /// Bytes of any other string kept (default 256).
    pub max_text: usize,
    /// Columns / bind markers listed (default 64).
    pub max_columns: usize,
    /// Value sizes / names listed per request (default 16).
    pub max_values: usize,
    /// BATCH members listed (default 64).
    pub max_members: usize,
    /// Entries of maps and lists kept (STARTUP options, SUPPORTED, warnings; default 32).
    pub max_entries: usize,
    /// Nesting depth of a type (default 16).
    pub max_type_depth: usize,
}

impl Limits {
    /// The limits used when the consumer wants only a summary ([`wiresift_core::Detail::Summary`]):
    /// no column specs, value sizes, option maps or warnings are kept (what pairing, the
    /// prepared cache, the `query` of a BATCH and the `error` text need is kept).
    pub fn summary(self) -> Limits {
        Limits {
            max_columns: 0,
            max_values: 0,
            max_entries: 0,
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query: 4096,
            max_text: 256,
            max_columns: 64,
            max_values: 16,
            max_members: 64,
            max_entries: 32,
            max_type_depth: 16,
        }
    }
}

/// A body that does not match its opcode's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at body offset {offset}: {reason}")]
pub struct BodyError {
    /// What was being read.
    pub what: &'static str,
    /// Offset in the (decompressed) body.
    pub offset: usize,
    /// Expected vs found.
    pub reason: String,
}

/// Bounds-checked cursor over one body.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

type R<T> = Result<T, BodyError>;

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b, at: 0 }
    }
    /// Offset reached.
    pub fn offset(&self) -> usize {
        self.at
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.at
    }
    fn err(&self, what: &'static str, reason: String) -> BodyError {
        BodyError {
            what,
            offset: self.at,
            reason,
        }
    }
    /// Take `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> R<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(what, format!("needs {n} bytes, {} left", self.remaining())));
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> R<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> R<u16> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn i32(&mut self, what: &'static str) -> R<i32> {
        let s = self.take(4, what)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn i64(&mut self, what: &'static str) -> R<i64> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }
    fn count(&mut self, what: &'static str) -> R<usize> {
        let n = self.i32(what)?;
        usize::try_from(n).map_err(|_| self.err(what, format!("negative count {n}")))
    }
    /// [string]: a short length and UTF-8 bytes (kept up to `max`).
    fn string(&mut self, what: &'static str, max: usize) -> R<String> {
        let n = self.u16(what)? as usize;
        Ok(text(self.take(n, what)?, max))
    }
    /// Skip a [string].
    fn skip_string(&mut self, what: &'static str) -> R<()> {
        let n = self.u16(what)? as usize;
        self.take(n, what).map(|_| ())
    }
    /// [long string].
    fn long_string(&mut self, what: &'static str, max: usize) -> R<(String, usize)> {
        let n = self.count(what)?;
        Ok((text(self.take(n, what)?, max), n))
    }
    /// [bytes]: None for a negative length.
    fn bytes(&mut self, what: &'static str) -> R<Option<&'a [u8]>> {
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(None);
        }
        self.take(n as usize, what).map(Some)
    }
    /// [short bytes].
    fn short_bytes(&mut self, what: &'static str) -> R<&'a [u8]> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }
    fn string_list(&mut self, what: &'static str, lim: &Limits) -> R<Vec<String>> {
        let n = self.u16(what)? as usize;
        let mut v = Vec::with_capacity(n.min(lim.max_entries));
        for _ in 0..n {
            let s = self.string(what, lim.max_text)?;
            if v.len() < lim.max_entries {
                v.push(s);
            }
        }
        Ok(v)
    }
    fn bytes_map_keys(&mut self, lim: &Limits) -> R<Vec<String>> {
        let n = self.u16("custom payload")? as usize;
        let mut v = Vec::new();
        for _ in 0..n {
            let k = self.string("custom payload key", lim.max_text)?;
            self.bytes("custom payload value")?;
            if v.len() < lim.max_entries {
                v.push(k);
            }
        }
        Ok(v)
    }
    fn inet(&mut self, with_port: bool) -> R<String> {
        let n = self.u8("inet")? as usize;
        let a = self.take(n, "inet address")?;
        let ip = match n {
            4 => std::net::IpAddr::from([a[0], a[1], a[2], a[3]]).to_string(),
            16 => {
                let mut x = [0u8; 16];
                x.copy_from_slice(a);
                std::net::IpAddr::from(x).to_string()
            }
            _ => return Err(self.err("inet", format!("address of {n} bytes"))),
        };
        if with_port {
            let p = self.i32("inet port")?;
            Ok(format!("{ip}:{p}"))
        } else {
            Ok(ip)
        }
    }
}

/// Bytes as text: UTF-8 (lossy), cut at `max` bytes on a character boundary.
pub fn text(b: &[u8], max: usize) -> String {
    let b = &b[..b.len().min(max)];
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&b[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// Consistency level name.
pub fn consistency(c: u16) -> String {
    const N: [&str; 11] = [
        "ANY",
        "ONE",
        "TWO",
        "THREE",
        "QUORUM",
        "ALL",
        "LOCAL_QUORUM",
        "EACH_QUORUM",
        "SERIAL",
        "LOCAL_SERIAL",
        "LOCAL_ONE",
    ];
    N.get(c as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("0x{c:04x}"))
}

/// Error code name.
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x0000 => "server_error",
        0x000A => "protocol_error",
        0x0100 => "bad_credentials",
        0x1000 => "unavailable",
        0x1001 => "overloaded",
        0x1002 => "is_bootstrapping",
        0x1003 => "truncate_error",
        0x1100 => "write_timeout",
        0x1200 => "read_timeout",
        0x1300 => "read_failure",
        0x1400 => "function_failure",
        0x1500 => "write_failure",
        0x1600 => "cdc_write_failure",
        0x1700 => "cas_write_unknown",
        0x2000 => "syntax_error",
        0x2100 => "unauthorized",
        0x2200 => "invalid",
        0x2300 => "config_error",
        0x2400 => "already_exists",
        0x2500 => "unprepared",
        _ => "unknown_error",
    }
}

/// A decoded request body, with what the session needs besides the output detail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Output detail.
    pub detail: CqlRequest,
    /// CQL text (QUERY, PREPARE), bounded by [`Limits::max_query`].
    pub query: Option<String>,
    /// Full length of the CQL text.
    pub query_len: usize,
    /// STARTUP: the compression asked for.
    pub compression: Option<String>,
}

/// Decode the prefix that flags put before a request body, then the body.
pub fn request(h: &Header, body: &[u8], lim: &Limits) -> R<Request> {
    let mut c = Cursor::new(body);
    let mut r = Request {
        detail: CqlRequest {
            stream: h.stream,
            version: h.version,
            tracing: h.flags & flags::TRACING != 0,
            beta: h.flags & flags::USE_BETA != 0,
            ..Default::default()
        },
        ..Default::default()
    };
    if h.flags & flags::CUSTOM_PAYLOAD != 0 {
        r.detail.custom_payload = c.bytes_map_keys(lim)?;
    }
    let d = &mut r.detail;
    match h.opcode {
        Opcode::STARTUP => {
            let n = c.u16("startup options")? as usize;
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let k = c.string("startup option", lim.max_text)?;
                let v = c.string("startup value", lim.max_text)?;
                if k.eq_ignore_ascii_case("COMPRESSION") {
                    r.compression = Some(v.clone());
                }
                if m.len() < lim.max_entries {
                    m.insert(k, v);
                }
            }
            d.options = Some(m);
        }
        Opcode::OPTIONS => {}
        Opcode::QUERY => {
            let (q, n) = c.long_string("query", lim.max_query)?;
            r.query = Some(q);
            r.query_len = n;
            params(&mut c, h.version, d, lim)?;
        }
        Opcode::PREPARE => {
            let (q, n) = c.long_string("query", lim.max_query)?;
            r.query = Some(q);
            r.query_len = n;
            if crate::frame::has_metadata_id(h.version) && c.remaining() >= 4 {
                let f = c.i32("prepare flags")?;
                if f & 1 != 0 {
                    d.keyspace = Some(c.string("keyspace", lim.max_text)?);
                }
            }
        }
        Opcode::EXECUTE => {
            d.prepared_id = Some(hex(c.short_bytes("prepared id")?));
            if crate::frame::has_metadata_id(h.version) {
                d.result_metadata_id = Some(hex(c.short_bytes("result metadata id")?));
            }
            params(&mut c, h.version, d, lim)?;
        }
        Opcode::BATCH => batch(&mut c, h.version, d, lim)?,
        Opcode::REGISTER => d.events = Some(c.string_list("event types", lim)?),
        Opcode::AUTH_RESPONSE => {
            let tok = c.bytes("token")?;
            d.token_bytes = Some(tok.map_or(-1, |t| t.len() as i32));
            d.user = tok.and_then(|t| plain_user(t, lim.max_text));
        }
        _ => {}
    }
    Ok(r)
}

/// [`request`] over the first bytes of a body too large to buffer: when the whole layout
/// cannot be read, a QUERY or PREPARE still yields its text (cut where the bytes end).
pub fn request_prefix(h: &Header, body: &[u8], lim: &Limits) -> R<Request> {
    let err = match request(h, body, lim) {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    if !matches!(h.opcode, Opcode::QUERY | Opcode::PREPARE) {
        return Err(err);
    }
    let mut c = Cursor::new(body);
    if h.flags & flags::CUSTOM_PAYLOAD != 0 {
        c.bytes_map_keys(lim)?;
    }
    let n = c.count("query")?;
    let have = c.take(n.min(c.remaining()), "query")?;
    Ok(Request {
        detail: CqlRequest {
            stream: h.stream,
            version: h.version,
            tracing: h.flags & flags::TRACING != 0,
            beta: h.flags & flags::USE_BETA != 0,
            ..Default::default()
        },
        query: Some(text(have, lim.max_query)),
        query_len: n,
        compression: None,
    })
}

/// The user name of a SASL PLAIN token (`authzid \0 user \0 password`); the password is
/// never looked at beyond finding it.
fn plain_user(t: &[u8], max: usize) -> Option<String> {
    let mut parts = t.splitn(3, |&b| b == 0);
    let _authz = parts.next()?;
    let user = parts.next()?;
    parts.next()?;
    Some(text(user, max))
}

const QUERY_FLAGS: [&str; 9] = [
    "values",
    "skip_metadata",
    "page_size",
    "with_paging_state",
    "serial_consistency",
    "default_timestamp",
    "names_for_values",
    "keyspace",
    "now_in_seconds",
];

fn flag_names(f: u32) -> Vec<&'static str> {
    QUERY_FLAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| f & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn params(c: &mut Cursor<'_>, version: u8, d: &mut CqlRequest, lim: &Limits) -> R<()> {
    d.consistency = Some(consistency(c.u16("consistency")?));
    let f = if version >= 5 {
        c.i32("query flags")? as u32
    } else {
        u32::from(c.u8("query flags")?)
    };
    d.flags = flag_names(f);
    if f & 0x01 != 0 {
        let n = c.u16("values count")?;
        d.values = Some(u32::from(n));
        for _ in 0..n {
            if f & 0x40 != 0 {
                let name = c.string("value name", lim.max_text)?;
                if d.value_names.len() < lim.max_values {
                    d.value_names.push(name);
                }
            }
            let sz = c.i32("value")?;
            if sz > 0 {
                c.take(sz as usize, "value")?;
            }
            if d.value_sizes.len() < lim.max_values {
                d.value_sizes.push(sz);
            }
        }
    }
    if f & 0x04 != 0 {
        d.page_size = Some(c.i32("page size")?);
    }
    if f & 0x08 != 0 {
        d.paging_state_bytes = Some(c.bytes("paging state")?.map_or(0, |b| b.len() as u32));
    }
    if f & 0x10 != 0 {
        d.serial_consistency = Some(consistency(c.u16("serial consistency")?));
    }
    if f & 0x20 != 0 {
        d.timestamp = Some(c.i64("timestamp")?);
    }
    if version >= 5 && f & 0x80 != 0 {
        d.keyspace = Some(c.string("keyspace", lim.max_text)?);
    }
    if version >= 5 && f & 0x100 != 0 {
        d.now_in_seconds = Some(c.i32("now_in_seconds")?);
    }
    Ok(())
}

fn batch(c: &mut Cursor<'_>, version: u8, d: &mut CqlRequest, lim: &Limits) -> R<()> {
    let t = c.u8("batch type")?;
    let n = c.u16("batch count")?;
    let mut b = Batch {
        kind: match t {
            0 => "logged".into(),
            1 => "unlogged".into(),
            2 => "counter".into(),
            x => format!("type_{x}"),
        },
        count: u32::from(n),
        members: Vec::new(),
    };
    for _ in 0..n {
        let kind = c.u8("batch member kind")?;
        let mut m = BatchMember::default();
        match kind {
            0 => m.query = Some(c.long_string("batch query", lim.max_query)?.0),
            1 => m.prepared_id = Some(hex(c.short_bytes("batch prepared id")?)),
            x => {
                return Err(c.err("batch member kind", format!("expected 0 or 1, found {x}")));
            }
        }
        let nv = c.u16("batch values")?;
        m.values = u32::from(nv);
        for _ in 0..nv {
            c.bytes("batch value")?;
        }
        if b.members.len() < lim.max_members {
            b.members.push(m);
        }
    }
    d.consistency = Some(consistency(c.u16("batch consistency")?));
    let f = if version >= 5 {
        c.i32("batch flags")? as u32
    } else {
        u32::from(c.u8("batch flags")?)
    };
    d.flags = flag_names(f);
    if f & 0x10 != 0 {
        d.serial_consistency = Some(consistency(c.u16("serial consistency")?));
    }
    if f & 0x20 != 0 {
        d.timestamp = Some(c.i64("timestamp")?);
    }
    if version >= 5 && f & 0x80 != 0 {
        d.keyspace = Some(c.string("keyspace", lim.max_text)?);
    }
    if version >= 5 && f & 0x100 != 0 {
        d.now_in_seconds = Some(c.i32("now_in_seconds")?);
    }
    d.batch = Some(b);
    Ok(())
}

/// A decoded response body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// Output detail.
    pub detail: CqlResponse,
    /// ERROR: the message (bounded).
    pub error_message: Option<String>,
}

/// Decode the response prefix (tracing id, warnings, custom payload), then the body.
pub fn response(h: &Header, body: &[u8], lim: &Limits) -> R<Response> {
    let mut c = Cursor::new(body);
    let mut r = Response::default();
    let d = &mut r.detail;
    d.stream = h.stream;
    if h.flags & flags::TRACING != 0 {
        d.tracing_id = Some(uuid(c.take(16, "tracing id")?));
    }
    if h.flags & flags::WARNING != 0 {
        d.warnings = c.string_list("warnings", lim)?;
    }
    if h.flags & flags::CUSTOM_PAYLOAD != 0 {
        d.custom_payload = c.bytes_map_keys(lim)?;
    }
    match h.opcode {
        Opcode::ERROR => r.error_message = Some(error(&mut c, h.version, d, lim)?),
        Opcode::READY => d.opcode = Some("READY"),
        Opcode::AUTHENTICATE => {
            d.opcode = Some("AUTHENTICATE");
            d.authenticator = Some(c.string("authenticator", lim.max_text)?);
        }
        Opcode::SUPPORTED => {
            d.opcode = Some("SUPPORTED");
            let n = c.u16("supported")? as usize;
            let mut m = BTreeMap::new();
            for _ in 0..n {
                let k = c.string("supported key", lim.max_text)?;
                let v = c.string_list("supported values", lim)?;
                if m.len() < lim.max_entries {
                    m.insert(k, v);
                }
            }
            d.supported = Some(m);
        }
        Opcode::AUTH_CHALLENGE | Opcode::AUTH_SUCCESS => {
            d.opcode = Some(h.opcode.name());
            d.token_bytes = Some(c.bytes("token")?.map_or(-1, |t| t.len() as i32));
        }
        Opcode::RESULT => result(&mut c, h.version, d, lim)?,
        _ => d.opcode = Some(h.opcode.name()),
    }
    Ok(r)
}

fn uuid(b: &[u8]) -> String {
    let h = hex(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn result(c: &mut Cursor<'_>, version: u8, d: &mut CqlResponse, lim: &Limits) -> R<()> {
    match c.i32("result kind")? {
        1 => d.kind = Some("void"),
        2 => {
            d.kind = Some("rows");
            metadata(c, version, d, lim, false)?;
            d.rows = Some(c.count("rows count")? as u32);
        }
        3 => {
            d.kind = Some("set_keyspace");
            d.keyspace = Some(c.string("keyspace", lim.max_text)?);
        }
        4 => {
            d.kind = Some("prepared");
            d.prepared_id = Some(hex(c.short_bytes("prepared id")?));
            if crate::frame::has_metadata_id(version) {
                d.result_metadata_id = Some(hex(c.short_bytes("result metadata id")?));
            }
            metadata(c, version, d, lim, true)?;
            let mut res = CqlResponse::default();
            metadata(c, version, &mut res, lim, false)?;
            d.column_count = res.column_count;
            d.columns = res.columns;
        }
        5 => {
            d.kind = Some("schema_change");
            let sc = schema_change(c, lim)?;
            d.keyspace = Some(sc.keyspace.clone());
            d.schema_change = Some(sc);
        }
        k => {
            return Err(c.err("result kind", format!("expected 1..5, found {k}")));
        }
    }
    Ok(())
}

fn schema_change(c: &mut Cursor<'_>, lim: &Limits) -> R<SchemaChange> {
    let change = c.string("schema change type", lim.max_text)?;
    let target = c.string("schema change target", lim.max_text)?;
    let keyspace = c.string("schema change keyspace", lim.max_text)?;
    let mut sc = SchemaChange {
        change,
        target,
        keyspace,
        ..Default::default()
    };
    match sc.target.as_str() {
        "KEYSPACE" => {}
        "FUNCTION" | "AGGREGATE" => {
            sc.name = Some(c.string("schema change name", lim.max_text)?);
            sc.args = Some(c.string_list("schema change args", lim)?);
        }
        _ => sc.name = Some(c.string("schema change name", lim.max_text)?),
    }
    Ok(sc)
}

/// Rows metadata (`prepared == false`) or prepared metadata (bind markers).
fn metadata(
    c: &mut Cursor<'_>,
    version: u8,
    d: &mut CqlResponse,
    lim: &Limits,
    prepared: bool,
) -> R<()> {
    let f = c.i32("metadata flags")? as u32;
    let n = c.count("columns count")?;
    if prepared {
        if version >= 4 {
            let pk = c.count("pk count")?;
            for _ in 0..pk {
                let i = c.u16("pk index")?;
                if d.pk_indices.len() < lim.max_columns {
                    d.pk_indices.push(i);
                }
            }
        }
    } else {
        const NAMES: [&str; 4] = [
            "global_tables_spec",
            "has_more_pages",
            "no_metadata",
            "metadata_changed",
        ];
        d.metadata_flags = NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| f & (1 << i) != 0)
            .map(|(_, s)| *s)
            .collect();
        d.column_count = Some(n as u32);
        d.has_more_pages = Some(f & 0x02 != 0);
        if f & 0x02 != 0 {
            c.bytes("paging state")?;
        }
        if f & 0x08 != 0 {
            d.result_metadata_id = Some(hex(c.short_bytes("new metadata id")?));
        }
        if f & 0x04 != 0 {
            return Ok(());
        }
    }
    let global = if f & 0x01 == 0 {
        None
    } else if lim.max_columns == 0 {
        c.skip_string("keyspace")?;
        c.skip_string("table")?;
        Some(String::new())
    } else {
        let ks = c.string("keyspace", lim.max_text)?;
        let t = c.string("table", lim.max_text)?;
        Some(format!("{ks}.{t}"))
    };
    let out = if prepared {
        &mut d.bind_markers
    } else {
        &mut d.columns
    };
    // Columns beyond the kept ones are parsed (to reach what follows) without allocating.
    let mut scratch = String::new();
    for _ in 0..n {
        let keep = out.len() < lim.max_columns;
        if !keep {
            if global.is_none() {
                c.skip_string("keyspace")?;
                c.skip_string("table")?;
            }
            c.skip_string("column name")?;
            scratch.clear();
            type_option(c, &mut scratch, lim, 0)?;
            continue;
        }
        let table = if global.is_none() {
            let ks = c.string("keyspace", lim.max_text)?;
            let t = c.string("table", lim.max_text)?;
            Some(format!("{ks}.{t}"))
        } else {
            None
        };
        let name = c.string("column name", lim.max_text)?;
        let mut ty = String::new();
        type_option(c, &mut ty, lim, 0)?;
        out.push(Column {
            table,
            name,
            cql_type: ty,
        });
    }
    Ok(())
}

/// Render an [option] type into `out` (bounded to `max_text` bytes; parsing goes on).
fn type_option(c: &mut Cursor<'_>, out: &mut String, lim: &Limits, depth: usize) -> R<()> {
    if depth > lim.max_type_depth {
        return Err(c.err("type", format!("nested deeper than {}", lim.max_type_depth)));
    }
    let push = |out: &mut String, s: &str| {
        if out.len() + s.len() <= lim.max_text {
            out.push_str(s);
        }
    };
    let id = c.u16("type id")?;
    let simple = match id {
        0x0001 => "ascii",
        0x0002 => "bigint",
        0x0003 => "blob",
        0x0004 => "boolean",
        0x0005 => "counter",
        0x0006 => "decimal",
        0x0007 => "double",
        0x0008 => "float",
        0x0009 => "int",
        0x000B => "timestamp",
        0x000C => "uuid",
        0x000D => "text",
        0x000E => "varint",
        0x000F => "timeuuid",
        0x0010 => "inet",
        0x0011 => "date",
        0x0012 => "time",
        0x0013 => "smallint",
        0x0014 => "tinyint",
        0x0015 => "duration",
        _ => "",
    };
    if !simple.is_empty() {
        push(out, simple);
        return Ok(());
    }
    match id {
        0x0000 => {
            let class = c.string("custom type", lim.max_text)?;
            push(out, &format!("'{class}'"));
        }
        0x0020 | 0x0022 => {
            push(out, if id == 0x0020 { "list<" } else { "set<" });
            type_option(c, out, lim, depth + 1)?;
            push(out, ">");
        }
        0x0021 => {
            push(out, "map<");
            type_option(c, out, lim, depth + 1)?;
            push(out, ", ");
            type_option(c, out, lim, depth + 1)?;
            push(out, ">");
        }
        0x0030 => {
            let ks = c.string("udt keyspace", lim.max_text)?;
            let name = c.string("udt name", lim.max_text)?;
            push(out, &format!("{ks}.{name}{{"));
            let n = c.u16("udt fields")?;
            for i in 0..n {
                if i > 0 {
                    push(out, ", ");
                }
                let f = c.string("udt field", lim.max_text)?;
                push(out, &f);
                push(out, " ");
                type_option(c, out, lim, depth + 1)?;
            }
            push(out, "}");
        }
        0x0031 => {
            push(out, "tuple<");
            let n = c.u16("tuple arity")?;
            for i in 0..n {
                if i > 0 {
                    push(out, ", ");
                }
                type_option(c, out, lim, depth + 1)?;
            }
            push(out, ">");
        }
        x => return Err(c.err("type id", format!("unknown type 0x{x:04x}"))),
    }
    Ok(())
}

fn reasons(c: &mut Cursor<'_>, d: &mut CqlResponse, lim: &Limits) -> R<()> {
    let n = c.count("failure reasons")?;
    d.failures = Some(n as i32);
    for _ in 0..n {
        let ep = c.inet(false)?;
        let code = c.u16("failure code")?;
        if d.reasons.len() < lim.max_entries {
            d.reasons.push((ep, code));
        }
    }
    Ok(())
}

fn error(c: &mut Cursor<'_>, version: u8, d: &mut CqlResponse, lim: &Limits) -> R<String> {
    let code = c.i32("error code")? as u32;
    d.error_code = Some(code);
    d.error_name = Some(error_name(code));
    let msg = c.string("error message", lim.max_query)?;
    match code {
        0x1000 => {
            d.consistency = Some(consistency(c.u16("consistency")?));
            d.required = Some(c.i32("required")?);
            d.alive = Some(c.i32("alive")?);
        }
        0x1100 | 0x1200 | 0x1300 | 0x1500 | 0x1700 => {
            d.consistency = Some(consistency(c.u16("consistency")?));
            d.received = Some(c.i32("received")?);
            d.blockfor = Some(c.i32("blockfor")?);
            match code {
                0x1100 => {
                    let wt = c.string("write type", lim.max_text)?;
                    if version >= 5 && wt == "CAS" && c.remaining() >= 2 {
                        d.contentions = Some(c.u16("contentions")?);
                    }
                    d.write_type = Some(wt);
                }
                0x1200 => d.data_present = Some(c.u8("data present")? != 0),
                0x1300 | 0x1500 => {
                    if version >= 5 {
                        reasons(c, d, lim)?;
                    } else {
                        d.failures = Some(c.i32("failures")?);
                    }
                    if code == 0x1300 {
                        d.data_present = Some(c.u8("data present")? != 0);
                    } else {
                        d.write_type = Some(c.string("write type", lim.max_text)?);
                    }
                }
                _ => {}
            }
        }
        0x1400 => {
            d.keyspace = Some(c.string("keyspace", lim.max_text)?);
            d.function = Some(c.string("function", lim.max_text)?);
            d.arg_types = Some(c.string_list("arg types", lim)?);
        }
        0x2400 => {
            d.keyspace = Some(c.string("keyspace", lim.max_text)?);
            d.table = Some(c.string("table", lim.max_text)?);
        }
        0x2500 => d.unprepared_id = Some(hex(c.short_bytes("unprepared id")?)),
        _ => {}
    }
    Ok(msg)
}

/// Decode an EVENT body.
pub fn event(h: &Header, body: &[u8], lim: &Limits) -> R<CqlEvent> {
    let mut c = Cursor::new(body);
    if h.flags & flags::TRACING != 0 {
        c.take(16, "tracing id")?;
    }
    if h.flags & flags::WARNING != 0 {
        c.string_list("warnings", lim)?;
    }
    if h.flags & flags::CUSTOM_PAYLOAD != 0 {
        c.bytes_map_keys(lim)?;
    }
    let event = c.string("event type", lim.max_text)?;
    let mut e = CqlEvent {
        event,
        ..Default::default()
    };
    match e.event.as_str() {
        "TOPOLOGY_CHANGE" | "STATUS_CHANGE" => {
            e.change = Some(c.string("change", lim.max_text)?);
            e.address = Some(c.inet(true)?);
        }
        "SCHEMA_CHANGE" => e.schema_change = Some(schema_change(&mut c, lim)?),
        _ => {}
    }
    Ok(e)
}
