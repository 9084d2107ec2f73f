//! The protocol-independent transaction record and the events sessions emit.

use crate::plugin::ConnectionInfo;
use crate::types::{ConnectionId, Direction, Endpoint, Timestamp};
use serde::ser::SerializeStruct;
use serde::Serialize;
use std::any::Any;

/// Outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The reply says the request succeeded.
    Ok,
    /// The reply is an error (protocol-defined: RESP `-ERR`, SMTP 4xx/5xx, …).
    Error,
    /// A request whose reply never came (connection closed, or lost in a gap).
    NoResponse,
    /// A reply (or greeting, or push) with no request.
    NoRequest,
    /// The request or reply was only partly seen (gap inside); see the notes.
    Partial,
}

impl Status {
    /// Stable snake_case name (as serialised).
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::NoResponse => "no_response",
            Status::NoRequest => "no_request",
            Status::Partial => "partial",
        }
    }
}

/// Annotations on a transaction. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Note {
    /// Bytes missing from the capture inside (or right before) this transaction.
    Gap {
        /// Direction that lost bytes.
        direction: Direction,
        /// How many, when known.
        bytes: Option<u64>,
    },
    /// Part of the latency was spent waiting for a TCP retransmission (capture time).
    RetransmissionDelay {
        /// Direction of the retransmitted data.
        direction: Direction,
        /// Microseconds of delay.
        delay_us: u64,
    },
    /// A value was larger than the configured limit: only a prefix was kept.
    Truncated {
        /// What was truncated (`"arg"`, `"value"`, `"line"`, …).
        field: &'static str,
        /// Its full length in bytes.
        len: u64,
    },
    /// The parser resynchronised after losing the message boundary.
    Resync {
        /// Direction of the resynchronisation.
        direction: Direction,
        /// Bytes skipped to find the next boundary.
        skipped_bytes: u64,
    },
    /// The connection switched to TLS (or another encryption) here.
    Encrypted,
    /// The bytes at this point did not parse as the protocol (a framing error, not capture
    /// loss: nothing was missing at the TCP level). `skipped_bytes` were skipped to resume.
    ParseError {
        /// Direction of the bytes that did not parse.
        direction: Direction,
        /// Bytes skipped before parsing resumed (0: it resumed right there).
        skipped_bytes: u64,
    },
    /// Reported early because a session-state budget was hit (the request may still have been
    /// answered later; its reply is then counted, not paired with another request).
    Shed {
        /// Which budget: `"connection"` (per-connection cap) or `"global"` (whole run).
        budget: &'static str,
    },
    /// Reported as `no_response` because no reply came within the request timeout (capture
    /// time).
    RequestTimeout {
        /// How long it had waited, in microseconds, when it was reported.
        waited_us: u64,
    },
    /// More notes than a transaction keeps (`MAX_NOTES`): this many were dropped.
    NotesDropped {
        /// Number of notes not kept.
        count: u64,
    },
    /// Reported as it stood because the run was interrupted (Ctrl-C, SIGTERM) before the
    /// reply came: a request flushed as `no_response` at the end of an interrupted run.
    Interrupted,
    /// Anything else, as text.
    Text {
        /// The note.
        text: String,
    },
}

/// Protocol-specific detail of a [`Transaction`]: typed, serialisable and downcastable.
///
/// Each plugin crate defines its own request and response types (documented there) and usually
/// wraps them in a [`ReqResp`]. The engine and sinks see the detail as `dyn TxDetail`: they
/// serialise it through [`TxDetail::request`] / [`TxDetail::response`] (no JSON tree is built),
/// and embedders get the typed value back with [`Transaction::detail_as`].
pub trait TxDetail: std::fmt::Debug + Send + Sync + 'static {
    /// The request detail (`"request"` in the JSON), or `None` to omit it.
    fn request(&self) -> Option<&dyn erased_serde::Serialize>;
    /// The response detail (`"response"` in the JSON), or `None` to omit it.
    fn response(&self) -> Option<&dyn erased_serde::Serialize>;
    /// The concrete type, for [`Transaction::detail_as`].
    fn as_any(&self) -> &dyn Any;
    /// An owned copy, for sinks that keep transactions ([`Transaction::to_owned`]).
    fn clone_boxed(&self) -> Box<dyn TxDetail>;
    /// Append the request detail as JSON to `out`; false (nothing written) when absent. The
    /// default goes through [`TxDetail::request`]; [`ReqResp`] writes without type erasure
    /// (this is the NDJSON hot path, [`Transaction::write_json`]).
    fn write_request_json(&self, out: &mut Vec<u8>) -> bool {
        match self.request() {
            Some(r) => serde_json::to_writer(out, r).is_ok(),
            None => false,
        }
    }
    /// Append the response detail as JSON to `out`; see [`TxDetail::write_request_json`].
    fn write_response_json(&self, out: &mut Vec<u8>) -> bool {
        match self.response() {
            Some(r) => serde_json::to_writer(out, r).is_ok(),
            None => false,
        }
    }
}

/// The usual [`TxDetail`]: a typed request and a typed response, each omitted when `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReqResp<Q, R> {
    /// Request detail.
    pub request: Option<Q>,
    /// Response detail.
    pub response: Option<R>,
}

impl<Q, R> Default for ReqResp<Q, R> {
    fn default() -> Self {
        ReqResp {
            request: None,
            response: None,
        }
    }
}

impl<Q, R> TxDetail for ReqResp<Q, R>
where
    Q: Serialize + Clone + std::fmt::Debug + Send + Sync + 'static,
    R: Serialize + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    fn request(&self) -> Option<&dyn erased_serde::Serialize> {
        self.request
            .as_ref()
            .map(|q| q as &dyn erased_serde::Serialize)
    }
    fn response(&self) -> Option<&dyn erased_serde::Serialize> {
        self.response
            .as_ref()
            .map(|r| r as &dyn erased_serde::Serialize)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_boxed(&self) -> Box<dyn TxDetail> {
        Box::new(self.clone())
    }
    fn write_request_json(&self, out: &mut Vec<u8>) -> bool {
        match &self.request {
            Some(r) => serde_json::to_writer(out, r).is_ok(),
            None => false,
        }
    }
    fn write_response_json(&self, out: &mut Vec<u8>) -> bool {
        match &self.response {
            Some(r) => serde_json::to_writer(out, r).is_ok(),
            None => false,
        }
    }
}

/// No detail at all.
impl TxDetail for () {
    fn request(&self) -> Option<&dyn erased_serde::Serialize> {
        None
    }
    fn response(&self) -> Option<&dyn erased_serde::Serialize> {
        None
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_boxed(&self) -> Box<dyn TxDetail> {
        Box::new(())
    }
}

/// An owned detail delegates to what it holds (so [`OwnedTransaction`] downcasts to the
/// plugin's type, not to the box).
impl TxDetail for Box<dyn TxDetail> {
    fn request(&self) -> Option<&dyn erased_serde::Serialize> {
        (**self).request()
    }
    fn response(&self) -> Option<&dyn erased_serde::Serialize> {
        (**self).response()
    }
    fn as_any(&self) -> &dyn Any {
        (**self).as_any()
    }
    fn clone_boxed(&self) -> Box<dyn TxDetail> {
        (**self).clone_boxed()
    }
    fn write_request_json(&self, out: &mut Vec<u8>) -> bool {
        (**self).write_request_json(out)
    }
    fn write_response_json(&self, out: &mut Vec<u8>) -> bool {
        (**self).write_response_json(out)
    }
}

/// One request paired with its response (or one side alone, see [`Status`]).
///
/// Generic over its protocol detail `D`, which is the last field so that a session's
/// `&mut Transaction<MyDetail>` coerces to `&mut Transaction` (that is, `Transaction<dyn
/// TxDetail>`) when it is handed to an [`EventSink`]: sinks receive borrowed transactions, and a
/// transaction costs no allocation beyond the strings its detail keeps.
///
/// Serialised (NDJSON) as: `ts` (epoch seconds), `time` (the same instant in ISO 8601, UTC, with
/// microseconds: `2026-03-08T19:23:06.258761Z`), `protocol`, `connection`, `client`, `server`, `proxy` (when
/// set), `command`,
/// `query`, `fingerprint` (when set), `status`, `error` (when set), `latency_us` (when set),
/// `request_bytes`, `response_bytes`, `request` and `response` (the detail's, when present),
/// `notes` (when not empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction<D: ?Sized + TxDetail = dyn TxDetail> {
    /// Capture time of the request's first byte (of the response, for `no_request`).
    pub ts: Timestamp,
    /// Plugin name.
    pub protocol: &'static str,
    /// Connection id.
    pub connection: ConnectionId,
    /// Client endpoint.
    pub client: Endpoint,
    /// Server endpoint. For a connection through a proxy (HTTP CONNECT, SOCKS), the tunnel's
    /// target when the client named it by address: the server the requests were really for.
    pub server: Endpoint,
    /// The proxy's endpoint, for transactions carried through a tunnel (set by the engine;
    /// `None` otherwise).
    pub proxy: Option<Endpoint>,
    /// Command name (protocol-specific, e.g. `GET`, `CLIENT SETINFO`, `MAIL`).
    pub command: String,
    /// One-line, bounded rendering of the request, secrets redacted.
    pub query: String,
    /// The query normalised for aggregation (literals replaced, whitespace and comments normalised),
    /// for protocols that carry query text.
    pub fingerprint: Option<String>,
    /// Outcome.
    pub status: Status,
    /// Error text from the reply, when it is an error.
    pub error: Option<String>,
    /// From the request's first byte to the reply's last byte, when both were seen.
    pub latency_us: Option<u64>,
    /// Request size on the wire.
    pub request_bytes: u64,
    /// Response size on the wire.
    pub response_bytes: u64,
    /// Annotations (gaps, retransmission delay, truncation, …).
    pub notes: Vec<Note>,
    /// Capture time of the reply's last byte (or of the last request byte if no reply); the
    /// engine uses it to attribute retransmission delay. Not serialised.
    pub end_ts: Timestamp,
    /// Protocol-specific detail (see the plugin crate's docs for its types).
    pub detail: D,
}

/// A transaction that owns a boxed detail, for sinks that keep transactions (tests, buffers).
pub type OwnedTransaction = Transaction<Box<dyn TxDetail>>;

impl<D: TxDetail> Transaction<D> {
    /// A transaction on `conn` starting at `ts`.
    ///
    /// It starts as [`Status::NoResponse`] with no latency: that is what it is until the session
    /// sees a reply and sets the status (and calls [`Transaction::complete_at`]), so a request
    /// flushed at close or lost in a gap needs no extra step. When the reply comes, set
    /// `status` to [`Status::Ok`] or [`Status::Error`] (with `error`), or [`Status::Partial`]
    /// when a gap cut either side; a reply seen without its request is a transaction built from
    /// the reply with [`Status::NoRequest`]. Set `command`, `query` and the sizes yourself; the
    /// engine adds retransmission notes and the proxy.
    pub fn new(protocol: &'static str, conn: &ConnectionInfo, ts: Timestamp, detail: D) -> Self {
        Transaction {
            ts,
            protocol,
            connection: conn.id,
            client: conn.client,
            server: conn.server,
            proxy: None,
            command: String::new(),
            query: String::new(),
            fingerprint: None,
            status: Status::NoResponse,
            error: None,
            latency_us: None,
            request_bytes: 0,
            response_bytes: 0,
            notes: Vec::new(),
            end_ts: ts,
            detail,
        }
    }
}

/// Notes one transaction keeps at most (see [`Transaction::add_note`]); the rest are counted in
/// one [`Note::NotesDropped`] at the end.
pub const MAX_NOTES: usize = 16;

/// Add `note` to `notes`, keeping at most [`MAX_NOTES`] notes plus one trailing
/// [`Note::NotesDropped`] counting the rest, so that a stream of garbage cannot make one
/// transaction (or its JSON line) grow without bound. Consecutive equal [`Note::ParseError`] /
/// [`Note::Resync`] notes of one direction are merged (their byte counts summed).
pub fn push_note(notes: &mut Vec<Note>, note: Note) {
    if let Some(last) = notes.last_mut() {
        match (last, &note) {
            (
                Note::ParseError {
                    direction: d,
                    skipped_bytes: b,
                },
                Note::ParseError {
                    direction: d2,
                    skipped_bytes: b2,
                },
            )
            | (
                Note::Resync {
                    direction: d,
                    skipped_bytes: b,
                },
                Note::Resync {
                    direction: d2,
                    skipped_bytes: b2,
                },
            ) if *d == *d2 => {
                *b = b.saturating_add(*b2);
                return;
            }
            (Note::NotesDropped { count }, _) => {
                *count += 1;
                return;
            }
            _ => {}
        }
    }
    if notes.len() >= MAX_NOTES {
        notes.push(Note::NotesDropped { count: 1 });
    } else {
        notes.push(note);
    }
}

impl<D: ?Sized + TxDetail> Transaction<D> {
    /// Add a note, bounded: see [`push_note`] (at most [`MAX_NOTES`] kept, the rest counted).
    pub fn add_note(&mut self, note: Note) {
        push_note(&mut self.notes, note);
    }

    /// Record the reply's completion time: sets `end_ts` and `latency_us` (never negative).
    pub fn complete_at(&mut self, end: Timestamp) {
        self.end_ts = end.max(self.ts);
        self.latency_us = Some(end.saturating_since(self.ts).as_micros());
    }

    /// The detail as the plugin's concrete type (e.g.
    /// `tx.detail_as::<wiresift_resp::RespDetail>()`), or `None` for another protocol.
    pub fn detail_as<T: 'static>(&self) -> Option<&T> {
        self.detail.as_any().downcast_ref::<T>()
    }

    /// The request detail as a JSON value (`Null` when absent). Builds a tree: for tests and
    /// ad-hoc inspection, not for hot paths.
    pub fn request_value(&self) -> serde_json::Value {
        self.detail
            .request()
            .and_then(|r| serde_json::to_value(r).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// The response detail as a JSON value (`Null` when absent); see
    /// [`Transaction::request_value`].
    pub fn response_value(&self) -> serde_json::Value {
        self.detail
            .response()
            .and_then(|r| serde_json::to_value(r).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Append this transaction as one JSON object (no newline) to `out`: the same bytes as
    /// its `Serialize` implementation through `serde_json`, written without type erasure.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        // The fields before the detail by hand: keys that never need escaping written as they
        // are, numbers, times and endpoints formatted into the buffer (this runs for every
        // transaction; serde's escaping of every key measured ~13% of `dissect`).
        fn num(out: &mut Vec<u8>, key: &[u8], v: u64) {
            out.extend_from_slice(key);
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        fn ep(out: &mut Vec<u8>, key: &[u8], e: &Endpoint) {
            out.extend_from_slice(key);
            e.push_text(out);
            out.push(b'"');
        }
        out.extend_from_slice(b"{\"ts\":\"");
        self.ts.push_decimal(out);
        out.extend_from_slice(b"\",\"time\":\"");
        out.extend_from_slice(&IsoTime(self.ts).bytes());
        out.extend_from_slice(b"\",\"protocol\":");
        json_str(out, self.protocol)?;
        num(out, b",\"connection\":", self.connection.0);
        ep(out, b",\"client\":\"", &self.client);
        ep(out, b",\"server\":\"", &self.server);
        if let Some(p) = &self.proxy {
            ep(out, b",\"proxy\":\"", p);
        }
        out.extend_from_slice(b",\"command\":");
        json_str(out, &self.command)?;
        out.extend_from_slice(b",\"query\":");
        json_str(out, &self.query)?;
        if let Some(f) = &self.fingerprint {
            out.extend_from_slice(b",\"fingerprint\":");
            json_str(out, f)?;
        }
        out.extend_from_slice(b",\"status\":\"");
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b'"');
        if let Some(e) = &self.error {
            out.extend_from_slice(b",\"error\":");
            json_str(out, e)?;
        }
        if let Some(l) = self.latency_us {
            num(out, b",\"latency_us\":", l);
        }
        num(out, b",\"request_bytes\":", self.request_bytes);
        num(out, b",\"response_bytes\":", self.response_bytes);
        let mark = out.len();
        out.extend_from_slice(b",\"request\":");
        if !self.detail.write_request_json(out) {
            out.truncate(mark);
        }
        let mark = out.len();
        out.extend_from_slice(b",\"response\":");
        if !self.detail.write_response_json(out) {
            out.truncate(mark);
        }
        if !self.notes.is_empty() {
            out.extend_from_slice(b",\"notes\":");
            serde_json::to_writer(&mut *out, &self.notes)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// An owned copy (the detail boxed).
    pub fn to_owned(&self) -> OwnedTransaction {
        Transaction {
            ts: self.ts,
            protocol: self.protocol,
            connection: self.connection,
            client: self.client,
            server: self.server,
            proxy: self.proxy,
            command: self.command.clone(),
            query: self.query.clone(),
            fingerprint: self.fingerprint.clone(),
            status: self.status,
            error: self.error.clone(),
            latency_us: self.latency_us,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            notes: self.notes.clone(),
            end_ts: self.end_ts,
            detail: self.detail.clone_boxed(),
        }
    }
}

/// A capture time as ISO 8601 in UTC with microseconds (`2026-03-08T19:23:06.258761Z`), as
/// `Display` and as a JSON string. Formatted by hand (proleptic Gregorian calendar, no time
/// zone involved): it runs for every NDJSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoTime(pub Timestamp);

impl IsoTime {
    /// The 27 bytes `YYYY-MM-DDTHH:MM:SS.ffffffZ` (years past 9999 wrap in the first digit;
    /// a u64 of nanoseconds ends in 2554).
    pub fn bytes(self) -> [u8; 27] {
        let secs = self.0.secs();
        let micros = self.0.subsec_nanos() / 1_000;
        let days = (secs / 86_400) as i64;
        let sod = secs % 86_400;
        // Days since 1970-01-01 to a civil date (H. Hinnant's `civil_from_days`).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y as u64);
        put(5, 2, m as u64);
        put(8, 2, d as u64);
        put(11, 2, sod / 3_600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 6, u64::from(micros));
        b
    }
}

impl std::fmt::Display for IsoTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.bytes();
        // Only ASCII digits and separators.
        f.write_str(std::str::from_utf8(&b).map_err(|_| std::fmt::Error)?)
    }
}

impl Serialize for IsoTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.bytes();
        s.serialize_str(std::str::from_utf8(&b).map_err(serde::ser::Error::custom)?)
    }
}

/// `s` as a JSON string, as `serde_json` writes it: as it is between quotes when nothing in it
/// needs escaping (the common case), else through `serde_json`.
fn json_str(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        serde_json::to_writer(&mut *out, s)
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    }
}

impl<D: ?Sized + TxDetail> Transaction<D> {
    fn head_fields<M: SerializeStruct>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_field("ts", &self.ts)?;
        m.serialize_field("time", &IsoTime(self.ts))?;
        m.serialize_field("protocol", self.protocol)?;
        m.serialize_field("connection", &self.connection)?;
        m.serialize_field("client", &self.client)?;
        m.serialize_field("server", &self.server)?;
        if let Some(p) = &self.proxy {
            m.serialize_field("proxy", p)?;
        }
        m.serialize_field("command", &self.command)?;
        m.serialize_field("query", &self.query)?;
        if let Some(f) = &self.fingerprint {
            m.serialize_field("fingerprint", f)?;
        }
        m.serialize_field("status", &self.status)?;
        if let Some(e) = &self.error {
            m.serialize_field("error", e)?;
        }
        if let Some(l) = &self.latency_us {
            m.serialize_field("latency_us", l)?;
        }
        m.serialize_field("request_bytes", &self.request_bytes)?;
        m.serialize_field("response_bytes", &self.response_bytes)
    }
}

impl<D: ?Sized + TxDetail> Serialize for Transaction<D> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let req = self.detail.request();
        let resp = self.detail.response();
        let n = 11
            + usize::from(self.proxy.is_some())
            + usize::from(self.fingerprint.is_some())
            + usize::from(self.error.is_some())
            + usize::from(self.latency_us.is_some())
            + usize::from(req.is_some())
            + usize::from(resp.is_some())
            + usize::from(!self.notes.is_empty());
        let mut m = s.serialize_struct("Transaction", n)?;
        self.head_fields(&mut m)?;
        if let Some(r) = req {
            m.serialize_field("request", r)?;
        }
        if let Some(r) = resp {
            m.serialize_field("response", r)?;
        }
        if !self.notes.is_empty() {
            m.serialize_field("notes", &self.notes)?;
        }
        m.end()
    }
}

/// Protocol-specific detail of a [`Message`], as sinks see it. Implemented for every
/// [`MsgPayload`] type; `()` means none (`"detail"` is then omitted).
pub trait MsgDetail: std::fmt::Debug + Send + Sync + 'static {
    /// The detail to serialise, or `None` for none.
    fn payload(&self) -> Option<&dyn erased_serde::Serialize>;
    /// The concrete type, for [`Message::detail_as`].
    fn as_any(&self) -> &dyn Any;
    /// An owned copy.
    fn clone_boxed(&self) -> Box<dyn MsgDetail>;
}

/// A type usable as message detail: mark it with `impl MsgPayload for MyDetail {}`.
pub trait MsgPayload: Serialize + Clone + std::fmt::Debug + Send + Sync + 'static {}

impl MsgPayload for serde_json::Value {}

impl<T: MsgPayload> MsgDetail for T {
    fn payload(&self) -> Option<&dyn erased_serde::Serialize> {
        Some(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_boxed(&self) -> Box<dyn MsgDetail> {
        Box::new(self.clone())
    }
}

impl MsgDetail for () {
    fn payload(&self) -> Option<&dyn erased_serde::Serialize> {
        None
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_boxed(&self) -> Box<dyn MsgDetail> {
        Box::new(())
    }
}

impl MsgDetail for Box<dyn MsgDetail> {
    fn payload(&self) -> Option<&dyn erased_serde::Serialize> {
        (**self).payload()
    }
    fn as_any(&self) -> &dyn Any {
        (**self).as_any()
    }
    fn clone_boxed(&self) -> Box<dyn MsgDetail> {
        (**self).clone_boxed()
    }
}

/// A protocol message that is not part of a request/response pair: pub/sub and RESP3 pushes,
/// replication stream commands, MONITOR lines, CQL EVENTs, …
///
/// Like [`Transaction`], generic over its detail (last field), and handed to sinks borrowed as
/// `&Message` (that is, `Message<dyn MsgDetail>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message<D: ?Sized + MsgDetail = dyn MsgDetail> {
    /// Capture time.
    pub ts: Timestamp,
    /// Plugin name.
    pub protocol: &'static str,
    /// Connection id.
    pub connection: ConnectionId,
    /// Direction it travelled.
    pub direction: Direction,
    /// Protocol-specific kind (`"push"`, `"replication"`, `"monitor"`, …).
    pub kind: &'static str,
    /// One-line, bounded summary.
    pub summary: String,
    /// Protocol-specific detail.
    pub detail: D,
}

/// A message that owns a boxed detail.
pub type OwnedMessage = Message<Box<dyn MsgDetail>>;

impl<D: ?Sized + MsgDetail> Message<D> {
    /// The detail as the plugin's concrete type.
    pub fn detail_as<T: 'static>(&self) -> Option<&T> {
        self.detail.as_any().downcast_ref::<T>()
    }
    /// The detail as a JSON value (`Null` when empty); for tests and ad-hoc inspection.
    pub fn detail_value(&self) -> serde_json::Value {
        self.detail
            .payload()
            .and_then(|d| serde_json::to_value(d).ok())
            .unwrap_or(serde_json::Value::Null)
    }
    /// An owned copy (the detail boxed).
    pub fn to_owned(&self) -> OwnedMessage {
        Message {
            ts: self.ts,
            protocol: self.protocol,
            connection: self.connection,
            direction: self.direction,
            kind: self.kind,
            summary: self.summary.clone(),
            detail: self.detail.clone_boxed(),
        }
    }
}

impl<D: ?Sized + MsgDetail> Serialize for Message<D> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let detail = self.detail.payload();
        let mut m = s.serialize_struct("Message", 6 + usize::from(detail.is_some()))?;
        m.serialize_field("ts", &self.ts)?;
        m.serialize_field("protocol", self.protocol)?;
        m.serialize_field("connection", &self.connection)?;
        m.serialize_field("direction", &self.direction)?;
        m.serialize_field("kind", self.kind)?;
        m.serialize_field("summary", &self.summary)?;
        if let Some(d) = detail {
            m.serialize_field("detail", d)?;
        }
        m.end()
    }
}

/// Bytes a session could not parse. Counted and reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseAnomaly {
    /// Capture time.
    pub ts: Timestamp,
    /// Plugin name.
    pub protocol: &'static str,
    /// Connection id.
    pub connection: ConnectionId,
    /// Direction.
    pub direction: Direction,
    /// Offset in that direction's stream, when known.
    pub offset: Option<u64>,
    /// What was expected and what was found.
    pub reason: String,
}

/// Owned copies of what sessions emitted, as kept by the `Vec<SessionEvent>` sink (tests,
/// fuzzing, simple embedders).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A request/response pair (or one side alone).
    Transaction(Box<OwnedTransaction>),
    /// An unpaired message.
    Message(Box<OwnedMessage>),
    /// A parse failure.
    Anomaly(Box<ParseAnomaly>),
}

/// How much of a transaction the consumer will look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// Everything, including `query`, `request` and `response` detail and messages.
    #[default]
    Full,
    /// Only what a latency/error report needs: `command`, `status`, `error`, `latency_us`,
    /// sizes, timestamps and notes. Sessions may leave `query`, `request` and `response` empty
    /// and skip building them (this is the per-transaction cost that dominates on small
    /// pipelined commands).
    Summary,
}

/// Where sessions send events. Implemented by the engine and by `Vec<SessionEvent>` for tests.
///
/// Events are borrowed: a sink that keeps them copies what it needs ([`Transaction::to_owned`]).
pub trait EventSink {
    /// A request/response pair (or one side alone). Mutable so the engine can add notes (such
    /// as the retransmission delay) before passing it on.
    fn transaction(&mut self, tx: &mut Transaction);
    /// An unpaired message.
    fn message(&mut self, m: &Message);
    /// A parse failure.
    fn anomaly(&mut self, a: &ParseAnomaly);
    /// How much detail the consumer wants (default: [`Detail::Full`]).
    fn detail(&self) -> Detail {
        Detail::Full
    }
}

impl SessionEvent {
    /// Hand this (kept) event on to `out`, as if it were emitted now.
    pub fn replay(&mut self, out: &mut dyn EventSink) {
        match self {
            SessionEvent::Transaction(tx) => out.transaction(&mut **tx),
            SessionEvent::Message(m) => out.message(&**m),
            SessionEvent::Anomaly(a) => out.anomaly(a),
        }
    }
}

impl EventSink for Vec<SessionEvent> {
    fn transaction(&mut self, tx: &mut Transaction) {
        self.push(SessionEvent::Transaction(Box::new(tx.to_owned())));
    }
    fn message(&mut self, m: &Message) {
        self.push(SessionEvent::Message(Box::new(m.to_owned())));
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        self.push(SessionEvent::Anomaly(Box::new(a.clone())));
    }
}

impl Clone for Box<dyn TxDetail> {
    fn clone(&self) -> Self {
        self.clone_boxed()
    }
}

impl Clone for Box<dyn MsgDetail> {
    fn clone(&self) -> Self {
        self.clone_boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ConnectionId, Endpoint};

    #[test]
    fn notes_are_bounded_and_parse_errors_merge() {
        let mut notes = Vec::new();
        for _ in 0..1000 {
            push_note(
                &mut notes,
                Note::ParseError {
                    direction: Direction::ClientToServer,
                    skipped_bytes: 3,
                },
            );
        }
        assert_eq!(
            notes,
            vec![Note::ParseError {
                direction: Direction::ClientToServer,
                skipped_bytes: 3000
            }]
        );
        for i in 0..100_000u64 {
            push_note(
                &mut notes,
                Note::Truncated {
                    field: "arg",
                    len: i,
                },
            );
        }
        assert_eq!(notes.len(), MAX_NOTES + 1);
        assert_eq!(
            notes[MAX_NOTES],
            Note::NotesDropped {
                count: 100_000 - (MAX_NOTES as u64 - 1)
            }
        );
    }

    #[derive(Debug, Clone, Serialize, PartialEq)]
    struct Req {
        args: Vec<String>,
    }

    fn conn() -> ConnectionInfo {
        ConnectionInfo {
            id: ConnectionId(7),
            client: Endpoint::new([10, 0, 0, 2].into(), 5000),
            server: Endpoint::new([10, 0, 0, 1].into(), 6379),
            start: Timestamp(0),
            midstream: false,
        }
    }

    #[test]
    fn iso_time_is_utc_with_microseconds() {
        let t = |s: u64, us: u32| IsoTime(Timestamp::from_secs_nanos(s, us * 1_000)).to_string();
        assert_eq!(t(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(t(1_772_997_786, 258_761), "2026-03-08T19:23:06.258761Z");
        assert_eq!(t(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(t(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
        assert_eq!(t(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
        let tx = Transaction::new(
            "x",
            &conn(),
            Timestamp::from_secs_nanos(1_700_000_000, 5_000),
            (),
        );
        let j = serde_json::to_string(&tx).unwrap();
        assert!(
            j.contains(r#"000005","time":"2023-11-14T22:13:20.000005Z","protocol""#)
                || j.contains(r#"000005,"time":"2023-11-14T22:13:20.000005Z","protocol""#),
            "{j}"
        );
    }

    #[test]
    fn proxy_is_written_after_server_only_when_set() {
        let mut tx = Transaction::new("x", &conn(), Timestamp(0), ());
        let plain = serde_json::to_string(&tx).unwrap();
        assert!(!plain.contains("proxy"));
        tx.proxy = Some(Endpoint::new([10, 0, 0, 9].into(), 1080));
        let want = r#""server":"10.0.0.1:6379","proxy":"10.0.0.9:1080","command":"#;
        let a = serde_json::to_string(&tx).unwrap();
        let mut b = Vec::new();
        tx.write_json(&mut b).unwrap();
        assert!(a.contains(want), "{a}");
        assert_eq!(a.as_bytes(), &b[..]);
        assert_eq!(tx.to_owned().proxy, tx.proxy);
    }

    #[test]
    fn typed_detail_serialises_in_place_and_downcasts() {
        let mut tx = Transaction::new(
            "x",
            &conn(),
            Timestamp(1_000_000),
            ReqResp::<Req, u32> {
                request: Some(Req {
                    args: vec!["GET".into(), "k".into()],
                }),
                response: None,
            },
        );
        tx.command = "GET".into();
        tx.complete_at(Timestamp(1_250_000));
        let dynamic: &Transaction = &tx;
        let v = serde_json::to_value(dynamic).unwrap();
        assert_eq!(v["request"]["args"][1], "k");
        assert!(v.get("response").is_none());
        assert!(v.get("fingerprint").is_none());
        assert_eq!(v["latency_us"], 250);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert!(keys.contains(&"request_bytes"));
        let typed = dynamic.detail_as::<ReqResp<Req, u32>>().unwrap();
        assert_eq!(typed.request.as_ref().unwrap().args[0], "GET");
        assert!(dynamic.detail_as::<()>().is_none());
        // An owned copy downcasts to the plugin's type, not to the box.
        let owned = dynamic.to_owned();
        assert!(owned.detail_as::<ReqResp<Req, u32>>().is_some());
        assert_eq!(serde_json::to_value(&owned).unwrap(), v);
        assert_eq!(owned.request_value()["args"][0], "GET");
        assert_eq!(owned.response_value(), serde_json::Value::Null);
    }

    #[test]
    fn write_json_writes_what_serialize_writes() {
        let full = ReqResp::<Req, Vec<u32>> {
            request: Some(Req {
                args: vec!["a\"b".into()],
            }),
            response: Some(vec![1, 2]),
        };
        let variants: Vec<Box<dyn TxDetail>> = vec![
            Box::new(()),
            Box::new(full.clone()),
            Box::new(ReqResp::<Req, u8> {
                request: None,
                response: Some(3),
            }),
        ];
        let statuses = [
            Status::Ok,
            Status::Error,
            Status::NoResponse,
            Status::NoRequest,
            Status::Partial,
        ];
        let texts = [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "ctl\u{1}\t\r\n",
            "é ünïcode ✓ \u{7f}",
        ];
        for (i, d) in variants.into_iter().enumerate() {
            let mut tx = Transaction::new("x", &conn(), Timestamp(5), d);
            if i > 0 {
                tx.fingerprint = Some("SELECT ?".into());
                tx.error = Some("bad\nthing".into());
                tx.complete_at(Timestamp(9_000));
                tx.notes.push(Note::Encrypted);
            }
            if i == 2 {
                tx.proxy = Some(Endpoint("[fe80::1%3]:1080".parse().unwrap()));
                tx.server = Endpoint("[2001:db8::7]:9042".parse().unwrap());
            }
            for (k, status) in statuses.iter().enumerate() {
                tx.status = *status;
                tx.command = texts[k % texts.len()].into();
                tx.query = texts[(k + i + 1) % texts.len()].into();
                tx.ts = Timestamp(u64::MAX / (k as u64 + 1));
                let mut fast = Vec::new();
                tx.write_json(&mut fast).unwrap();
                let dynamic: &Transaction = &tx;
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    serde_json::to_string(dynamic).unwrap()
                );
            }
            tx.ts = Timestamp(5);
            let mut fast = Vec::new();
            tx.write_json(&mut fast).unwrap();
            let dynamic: &Transaction = &tx;
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                serde_json::to_string(dynamic).unwrap()
            );
        }
    }

    #[test]
    fn vec_sink_keeps_owned_copies_and_message_detail_is_optional() {
        let mut sink: Vec<SessionEvent> = Vec::new();
        let mut tx = Transaction::new("x", &conn(), Timestamp(0), ());
        EventSink::transaction(&mut sink, &mut tx);
        let m = Message {
            ts: Timestamp(0),
            protocol: "x",
            connection: ConnectionId(7),
            direction: Direction::ServerToClient,
            kind: "push",
            summary: "hi".into(),
            detail: (),
        };
        sink.message(&m);
        let j = serde_json::to_value(&sink).unwrap();
        assert_eq!(j[0]["type"], "transaction");
        assert!(j[0].get("request").is_none());
        assert_eq!(j[1]["type"], "message");
        assert!(j[1].get("detail").is_none());
        let m2 = Message {
            ts: m.ts,
            protocol: m.protocol,
            connection: m.connection,
            direction: m.direction,
            kind: m.kind,
            summary: m.summary.clone(),
            detail: serde_json::json!({"a": 1}),
        };
        assert_eq!(m2.detail_value()["a"], 1);
        assert_eq!(serde_json::to_value(&m2).unwrap()["detail"]["a"], 1);
    }
}
