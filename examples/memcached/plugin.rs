//! A memcached text-protocol plugin, written as an outside crate would write it: it uses only
//! the public API of `wiresift-core` (re-exported as `wiresift::core`). It is the template for
//! the next protocol author: copy this file, keep its shape, change the grammar.
//!
//! # The protocol
//!
//! memcached's text protocol (`protocol.txt` in the memcached sources) is line based. The client
//! sends a command line, and for the storage commands a data block of a declared length:
//!
//! ```text
//! set <key> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n      (also add, replace, append, prepend)
//! cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]\r\n<data>\r\n
//! get <key>…\r\n   gets <key>…\r\n   gat <exptime> <key>…\r\n   gats <exptime> <key>…\r\n
//! delete <key> [noreply]\r\n   incr|decr <key> <value> [noreply]\r\n   touch <key> <exptime> [noreply]\r\n
//! stats [<args>]\r\n   version\r\n   quit\r\n   flush_all [delay] [noreply]\r\n   verbosity <n> [noreply]\r\n
//! ```
//!
//! The server answers each command in order (no reply for `noreply` and `quit`). A reply frames
//! itself without its request: `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n` blocks and
//! `STAT <name> <value>\r\n` lines end with `END\r\n`; every other reply is one line (`STORED`,
//! `NOT_STORED`, `EXISTS`, `NOT_FOUND`, `DELETED`, `TOUCHED`, `OK`, `VERSION <v>`, a number for
//! incr/decr, `ERROR`, `CLIENT_ERROR <msg>`, `SERVER_ERROR <msg>`).
//!
//! # The shape of a plugin (walk through this file in this order)
//!
//! 1. [`MemcachedPlugin`] implements [`TcpProtocolPlugin`]: a name (a `&'static str`; a name
//!    known only at run time goes through [`wiresift::core::plugin::static_name`]), default
//!    ports, a cheap [`TcpProtocolPlugin::probe`] that must not panic on any input and commits
//!    ([`ProbeResult::Match`]) only on bytes no other protocol sends, and `new_session`.
//!    The embedder registers it with [`wiresift::core::Registry::register_first`] so that it is
//!    probed before the built-in plugins (see `main.rs`).
//! 2. [`McRequest`] / [`McResponse`]: the typed detail of a transaction, `Serialize` for the
//!    NDJSON output and downcastable by embedders (`tx.detail_as::<McDetail>()`).
//! 3. [`McSession`] implements [`ProtocolSession`]. Per direction a `Half` holds a bounded
//!    [`StreamBuf`] (complete lines are parsed in place; only an incomplete line is carried
//!    over, at most [`Config::max_line`] bytes) and a `Mode` enum saying how bytes are framed
//!    now: reading lines, skipping a data block by length (values are never buffered, only a
//!    prefix is kept), or resynchronising after lost bytes. All mode changes go through
//!    `Half::set_mode`.
//! 4. Pairing: requests wait in a FIFO queue (at most [`Config::max_pending`]; beyond that the
//!    oldest is reported early with a note). A reply completes the oldest request. A
//!    [`Transaction`] starts as `no_response`, so a request still queued at close is reported
//!    as it is: that is also the whole client-only behaviour (every request is reported as
//!    `no_response` with its detail). A reply with nothing queued is a `no_request` transaction
//!    with the reply's detail: that is the server-only behaviour.
//! 5. Gaps ([`ProtocolSession::on_gap`]): a gap inside a data block only shortens it. Otherwise
//!    the direction resynchronises through [`wiresift::core::resync::find_line_boundary`] on the
//!    next line that starts like a command (client) or a reply (server); the skipped bytes are
//!    noted. Client side: the request cut by the gap is queued as `partial`, followed by a marker
//!    for requests lost entirely; a reply that meets the marker goes to the next request queued
//!    (with a gap note) when it fits that request's command (`VALUE`/`END` for a `get`,
//!    `STORED`… for a `set`, …), otherwise it is `no_request` (a reply to a lost request). Server
//!    side: which replies were lost cannot be known, so every pending request is reported now
//!    (`no_response` with a gap note) and pairing starts again with the next requests.
//! 6. Not memcached after all: a first server reply that is no memcached reply line detaches
//!    the session ([`Flow::Detach`]) with an anomaly saying why; the engine counts the rest of
//!    the connection as undissected.
//! 7. Budgets and timers ([`ProtocolSession::state_bytes`], [`ProtocolSession::shed`],
//!    [`ProtocolSession::timer_deadline`], [`ProtocolSession::on_timer`]): the session keeps a
//!    running estimate of what its queue holds; shedding and timeouts report the oldest
//!    requests early (`no_response` with a [`Note::Shed`] / [`Note::RequestTimeout`] note) and
//!    leave a few-byte marker in the queue so the late reply is swallowed, not paired with the
//!    next request.
//! 8. Accounting ([`ProtocolSession::accounting`]): every delivered byte is parsed, skipped,
//!    undissected or held, and the tests check the balance after every call.
//!
//! # Output
//!
//! `command` is the command word as sent (`get`, `set`, …), `query` the command line (keys
//! included, no data block) with the escaping rule of the README (valid UTF-8 as is, a literal
//! backslash as `\\`, any other byte as `\xNN`), `error` the text of `ERROR` /
//! `CLIENT_ERROR` / `SERVER_ERROR` replies (status `error`). Other replies are status `ok`,
//! including a miss (`END` alone) and `NOT_FOUND` / `NOT_STORED` / `EXISTS`: the outcome is in
//! `response.status`.
//!
//! # Known limits
//!
//! - The binary protocol and the meta commands (`mg`, `ms`, …; their `VA` replies carry data)
//!   are not dissected: a meta command is an unknown command whose reply line is kept as is.
//! - After a request-side gap in a pipelined burst, replies are paired off by the marker rule
//!   above (as in RESP, with the reply type as an extra check): exact again once the burst is
//!   answered.
//! - Registered first, the probe's `NeedMore` on an unfinished first line that could still be
//!   a memcached command (`get …` without its newline) holds back the built-in plugins' matches
//!   until the line ends or the engine's probe budget (2 KiB) runs out.
#![allow(dead_code)] // Included by tests as a module too; not every item is used by each.

use serde::Serialize;
use std::collections::VecDeque;
use wiresift::core::resync::{find_line_boundary, Start};
use wiresift::core::text;
use wiresift::core::{
    ByteAccounting, CloseReason, ConnectionInfo, Detail, Direction, Duration, EventSink, Flow,
    GapInfo, Note, ParseAnomaly, ProbeResult, ProtocolSession, ReqResp, Status, StreamBuf,
    StreamChunk, TcpProtocolPlugin, Timestamp, Transaction,
};

/// Plugin name in the output and in `--port memcached=PORT`.
pub const PROTOCOL: &str = "memcached";

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Budgets of a session. All finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Longest command or reply line carried over between chunks (default 8 KiB; memcached's
    /// own limit for a key is 250 bytes, a multi-get line can be long).
    pub max_line: usize,
    /// Requests waiting for a reply before the oldest is reported early (default 1,000).
    pub max_pending: usize,
    /// Bytes of a value kept for output (default 64).
    pub max_value: usize,
    /// Keys of a multi-get kept for output (default 16; the count is always given).
    pub max_keys: usize,
    /// `VALUE` / `STAT` entries of one reply kept for output (default 16).
    pub max_entries: usize,
    /// Length of the one-line `query` (default 256).
    pub max_query: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: 8192,
            max_pending: 1000,
            max_value: 64,
            max_keys: 16,
            max_entries: 16,
            max_query: 256,
        }
    }
}

/// The memcached text-protocol plugin.
#[derive(Debug, Clone)]
pub struct MemcachedPlugin {
    /// Budgets for new sessions.
    pub config: Config,
    /// Default ports (11211).
    pub ports: &'static [u16],
}

impl Default for MemcachedPlugin {
    fn default() -> Self {
        MemcachedPlugin {
            config: Config::default(),
            ports: &[11211],
        }
    }
}

/// Command words of the text protocol (lowercase: memcached's commands are case-sensitive).
const COMMANDS: &[&[u8]] = &[
    b"get",
    b"gets",
    b"gat",
    b"gats",
    b"set",
    b"add",
    b"replace",
    b"append",
    b"prepend",
    b"cas",
    b"delete",
    b"incr",
    b"decr",
    b"touch",
    b"stats",
    b"version",
    b"quit",
    b"flush_all",
    b"verbosity",
];

/// Commands followed by a data block.
fn is_storage(cmd: &[u8]) -> bool {
    matches!(
        cmd,
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas"
    )
}

/// Reply words that are a whole reply line by themselves.
const ONE_WORD_REPLIES: &[&[u8]] = &[
    b"STORED",
    b"NOT_STORED",
    b"EXISTS",
    b"NOT_FOUND",
    b"DELETED",
    b"TOUCHED",
    b"OK",
    b"END",
    b"ERROR",
];

/// Reply words followed by text.
const PREFIX_REPLIES: &[&[u8]] = &[
    b"VALUE ",
    b"STAT ",
    b"VERSION ",
    b"CLIENT_ERROR ",
    b"SERVER_ERROR ",
];

/// The line of `d` without its terminator, and the bytes it takes with it; `None` when no `\n`
/// is in `d`.
fn line(d: &[u8]) -> Option<(&[u8], usize)> {
    let nl = d.iter().position(|&b| b == b'\n')?;
    let l = &d[..nl];
    Some((l.strip_suffix(b"\r").unwrap_or(l), nl + 1))
}

/// Is `l` (a whole line) a memcached reply line?
fn is_reply_line(l: &[u8]) -> bool {
    ONE_WORD_REPLIES.contains(&l)
        || PREFIX_REPLIES.iter().any(|p| l.starts_with(p))
        || (!l.is_empty() && l.len() <= 20 && l.iter().all(u8::is_ascii_digit))
}

/// Is `l` (a whole line) a command line of a known command with a plausible shape?
fn is_command_line(l: &[u8]) -> bool {
    let mut w = l.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let Some(cmd) = w.next() else { return false };
    if !COMMANDS.contains(&cmd) {
        return false;
    }
    let rest: Vec<&[u8]> = w.collect();
    let num = |b: &[u8]| !b.is_empty() && b.iter().all(|c| c.is_ascii_digit() || *c == b'-');
    match cmd {
        b"cas" => rest.len() >= 5 && rest[1..5].iter().all(|x| num(x)),
        c if is_storage(c) => rest.len() >= 4 && rest[1..4].iter().all(|x| num(x)),
        b"get" | b"gets" | b"delete" | b"incr" | b"decr" | b"touch" => !rest.is_empty(),
        b"gat" | b"gats" => rest.len() >= 2 && num(rest[0]),
        _ => true,
    }
}

/// Does the data from here on start like a line of this direction? `None`: cannot tell yet
/// (no whole line; the caller keeps the bytes).
fn plausible(dir: Direction, d: &[u8]) -> Option<bool> {
    let (l, _) = line(d)?;
    Some(if dir == C2S {
        is_command_line(l)
    } else {
        is_reply_line(l)
    })
}

impl TcpProtocolPlugin for MemcachedPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }
    fn default_ports(&self) -> &'static [u16] {
        self.ports
    }
    /// A whole first line that is a memcached command line (client) or reply line (server).
    /// A prefix of one is `NeedMore`; anything else `NoMatch`. Lowercase commands only, so a
    /// RESP inline `GET k` is not taken.
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        match plausible(dir, data) {
            Some(true) => ProbeResult::Match,
            Some(false) => ProbeResult::NoMatch,
            None if data.len() > self.config.max_line => ProbeResult::NoMatch,
            None => {
                // No whole line yet: could it still become one?
                let word_end = data.iter().position(|&b| b == b' ').unwrap_or(data.len());
                let word = &data[..word_end];
                let could = if dir == C2S {
                    COMMANDS.iter().any(|c| c.starts_with(word))
                        && (word_end == data.len() || COMMANDS.contains(&word))
                } else {
                    ONE_WORD_REPLIES
                        .iter()
                        .chain(PREFIX_REPLIES)
                        .any(|c| c.starts_with(data) || data.starts_with(c))
                        || data.iter().all(|c| c.is_ascii_digit() || *c == b'\r')
                };
                if could {
                    ProbeResult::NeedMore
                } else {
                    ProbeResult::NoMatch
                }
            }
        }
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(McSession::new(conn, self.config))
    }
}

/// A value as reported: its length, and at most [`Config::max_value`] bytes of it as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct McValue {
    /// Full length in bytes (as declared).
    pub len: u64,
    /// The first bytes, escaped (see the module docs).
    pub prefix: String,
    /// Part of the value was lost in a capture gap.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gap: bool,
    /// The kept bytes while the value is read (rendered into `prefix` at its end, so that a
    /// character cut between two chunks is not rendered as two bytes).
    #[serde(skip)]
    raw: Vec<u8>,
}

impl McValue {
    fn new(len: u64) -> Self {
        McValue {
            len,
            prefix: String::new(),
            gap: false,
            raw: Vec::new(),
        }
    }
    /// Render the kept bytes into `prefix` (idempotent).
    fn render(&mut self) {
        if !self.raw.is_empty() {
            self.prefix = escaped(&self.raw);
            self.raw = Vec::new();
        }
    }
}

/// The request detail (`"request"` in the JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct McRequest {
    /// Keys (at most [`Config::max_keys`]; escaped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Number of keys when more were sent than kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_count: Option<u64>,
    /// Client flags of a storage command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u32>,
    /// Expiration time (storage commands, `touch`, `gat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exptime: Option<i64>,
    /// The cas unique of a `cas` command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas: Option<u64>,
    /// The delta of `incr` / `decr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<u64>,
    /// The value of a storage command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<McValue>,
    /// `noreply` was given: the server sends nothing back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub noreply: bool,
}

/// One `VALUE` of a retrieval reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct McItem {
    /// The key (escaped).
    pub key: String,
    /// Client flags.
    pub flags: u32,
    /// The cas unique (`gets`, `gats`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas: Option<u64>,
    /// The value.
    pub value: McValue,
}

/// The response detail (`"response"` in the JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct McResponse {
    /// The reply's first word: `STORED`, `NOT_FOUND`, `VALUE` (a hit: `VALUE` lines then
    /// `END`), `END` (a miss), `STAT` (a stats listing), `VERSION`, `NUMBER` (incr/decr),
    /// `ERROR`, `CLIENT_ERROR`, …; `UNKNOWN` for a line that is no memcached reply.
    pub status: String,
    /// The values of a retrieval hit (at most [`Config::max_entries`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<McItem>,
    /// `STAT name value` pairs (at most [`Config::max_entries`]; escaped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<(String, String)>,
    /// Entries (`VALUE` or `STAT`) in the reply, when more than were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// The number of an incr/decr reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// The text after the first word (`VERSION 1.6.18`, `CLIENT_ERROR bad data chunk`, an
    /// unknown line), escaped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The detail of a memcached transaction.
pub type McDetail = ReqResp<McRequest, McResponse>;

/// Bytes as text with wiresift's one escaping rule ([`wiresift::core::text`]: valid UTF-8 as
/// is, a backslash as `\\`, any other byte as `\xNN`), owned.
fn escaped(b: &[u8]) -> String {
    text::escaped(b).into_owned()
}

fn num<T: std::str::FromStr>(b: Option<&&[u8]>) -> Option<T> {
    std::str::from_utf8(b?).ok()?.parse().ok()
}

/// How a direction's bytes are framed right now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Reading command or reply lines.
    Line,
    /// Inside a data block (a storage command's value, or a `VALUE`'s): `left` bytes to go,
    /// its trailing `\r\n` included.
    Data { left: u64 },
    /// Lost the message boundary: looking for the next line that starts like a message.
    /// `at_line`: the next byte is known to start a line (after a gap, which ends where a
    /// captured segment begins).
    Desync { at_line: bool },
}

/// A request being read, or waiting for its reply.
#[derive(Debug)]
struct Pending {
    tx: Transaction<McDetail>,
    /// Cut by a gap or the close: reported as `partial`.
    partial: bool,
    /// No reply will come (`noreply`, `quit`).
    no_reply: bool,
    /// Bytes of state this entry accounts for (see [`McSession::state_bytes`]).
    cost: usize,
}

/// An entry of the request queue.
#[derive(Debug)]
// Requests are stored inline: one queue slot and no allocation per request (boxing would cost a
// malloc/free per transaction); the small markers are rare.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Req(Pending),
    /// Requests lost in a client-side gap (how many is unknown).
    Lost(Option<u64>),
    /// Requests already reported (shed or timed out) whose replies are still to come: that
    /// many replies are swallowed, not paired with later requests.
    Reported(u64),
}

/// A reply being read.
#[derive(Debug, Default)]
struct Reply {
    resp: McResponse,
    start: Timestamp,
    bytes: u64,
    /// Entries seen (VALUE or STAT), kept or not.
    entries: u64,
    /// A gap touched it.
    gap: bool,
    notes: Vec<Note>,
    /// The `VALUE` whose data block is being read is the last one in `resp.values` (false when
    /// it is beyond `max_entries`: its bytes are counted, not kept).
    value_kept: bool,
}

/// One direction.
#[derive(Debug)]
struct Half {
    dir: Direction,
    buf: StreamBuf,
    mode: Mode,
    /// Stream offset of the next unconsumed byte (for anomalies).
    offset: u64,
    /// Bytes skipped in the current desync (for the resync note).
    skipped: u64,
    /// When the first bytes of a line still carried over arrived.
    arrival: Option<Timestamp>,
}

impl Half {
    fn new(dir: Direction, limit: usize, midstream: bool) -> Self {
        Half {
            dir,
            buf: StreamBuf::new(limit),
            mode: if midstream {
                Mode::Desync { at_line: false }
            } else {
                Mode::Line
            },
            offset: 0,
            skipped: 0,
            arrival: None,
        }
    }

    /// The one place modes change.
    fn set_mode(&mut self, m: Mode, why: &'static str) {
        tracing::trace!(dir = self.dir.short(), old = ?self.mode, new = ?m, why, "memcached mode");
        self.mode = m;
    }
}

/// Everything but the two halves' buffers, so the parse closure can borrow it.
#[derive(Debug)]
struct Core {
    conn: ConnectionInfo,
    cfg: Config,
    full: bool,
    ts: Timestamp,
    arrival: Timestamp,
    /// Arrival of the first byte of the line being handled.
    line_start: Timestamp,
    queue: VecDeque<Slot>,
    /// The request whose data block is being read.
    reading: Option<Pending>,
    /// The reply being read (a VALUE/STAT block until END).
    reply: Option<Reply>,
    /// Server bytes since a server-side gap: a gap note for replies left without request.
    reply_gap_note: Option<Note>,
    /// Gap note for the request that takes a reply after a lost-request marker.
    marker_note: Option<Note>,
    /// Replies seen (to recognise a server that is not memcached at all).
    replies: u64,
    /// The server is not memcached (why): detach after this call.
    not_memcached: Option<String>,
    /// Running estimate of the queue's state (see `state_bytes`).
    state: usize,
    /// Replies swallowed because their request had been reported early.
    late_replies: u64,
    acct: ByteAccounting,
}

/// A memcached session. See the module documentation.
#[derive(Debug)]
pub struct McSession {
    halves: [Half; 2],
    core: Core,
    detached: bool,
}

impl McSession {
    /// A session for `conn`.
    pub fn new(conn: &ConnectionInfo, cfg: Config) -> Self {
        let mut core = Core {
            conn: *conn,
            cfg,
            full: true,
            ts: conn.start,
            arrival: conn.start,
            line_start: conn.start,
            queue: VecDeque::new(),
            reading: None,
            reply: None,
            reply_gap_note: None,
            marker_note: None,
            replies: 0,
            not_memcached: None,
            state: 0,
            late_replies: 0,
            acct: ByteAccounting::default(),
        };
        if conn.midstream {
            // Requests sent before the capture started may still be answered.
            core.queue.push_back(Slot::Lost(None));
        }
        McSession {
            halves: [
                Half::new(C2S, cfg.max_line, conn.midstream),
                Half::new(S2C, cfg.max_line, conn.midstream),
            ],
            core,
            detached: false,
        }
    }

    /// Replies swallowed because their request had already been reported (shed, timed out).
    pub fn late_replies(&self) -> u64 {
        self.core.late_replies
    }

    fn held(&self) -> u64 {
        (self.halves[0].buf.len() + self.halves[1].buf.len()) as u64
    }
}

impl ProtocolSession for McSession {
    fn late_replies(&self) -> u64 {
        self.core.late_replies
    }

    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        let core = &mut self.core;
        core.acct.delivered += chunk.data.len() as u64;
        if self.detached {
            core.acct.undissected += chunk.data.len() as u64;
            return Flow::Detach;
        }
        core.ts = chunk.ts;
        core.arrival = chunk.arrival();
        core.full = out.detail() == Detail::Full;
        // Split borrows: the buffer feeds, the rest of the half and the core parse.
        let Half {
            dir,
            buf,
            mode,
            offset,
            skipped,
            arrival,
        } = &mut self.halves[chunk.dir.index()];
        let mut h = HalfState {
            dir: *dir,
            mode,
            offset,
            skipped,
            arrival,
        };
        let r = buf.feed(chunk.data, |b| core.step(&mut h, b, out));
        if let Err(e) = r {
            // A line longer than the carry-over limit: drop it, resume at the next line.
            core.acct.skipped += e.have as u64;
            *h.offset += e.have as u64;
            let off = *h.offset;
            core.anomaly(
                chunk.dir,
                off,
                format!("line longer than {} bytes ({} dropped)", e.limit, e.have),
                out,
            );
            core.lose_sync(chunk.dir, None, false, out);
            *h.skipped = 0;
            h.set_mode(Mode::Desync { at_line: false }, "line too long");
        }
        if let Some(why) = core.not_memcached.take() {
            // Not memcached: report why, drop what was read as requests, stop.
            let n = core.queue.len();
            core.queue.clear();
            core.state = 0;
            core.reading = None;
            core.anomaly(
                S2C,
                self.halves[1].offset,
                format!("{why}; {n} queued request(s) dropped"),
                out,
            );
            let held = self.halves[0].buf.clear() + self.halves[1].buf.clear();
            self.core.acct.undissected += held as u64;
            self.detached = true;
            return Flow::Detach;
        }
        Flow::Continue
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        let core = &mut self.core;
        core.ts = gap.ts;
        core.arrival = gap.ts;
        let half = &mut self.halves[gap.dir.index()];
        half.offset += gap.len.unwrap_or(0);
        // Inside a data block the framing survives: the block is only shorter.
        if let (Mode::Data { left }, Some(g)) = (&mut half.mode, gap.len) {
            if g < *left && half.buf.is_empty() {
                *left -= g;
                core.mark_gap(gap.dir, g);
                return Flow::Continue;
            }
        }
        let dropped = half.buf.clear() as u64;
        core.acct.skipped += dropped;
        half.set_mode(Mode::Desync { at_line: true }, "gap");
        half.skipped = 0;
        half.arrival = None;
        if dropped > 0 && gap.dir == S2C && core.reply.is_none() {
            // The reply whose first line was cut belongs to the oldest request.
            if let Some(Slot::Req(p)) = core
                .queue
                .iter_mut()
                .find(|s| !matches!(s, Slot::Req(p) if p.no_reply))
            {
                p.partial = true;
            }
        }
        core.lose_sync(gap.dir, gap.len, true, out);
        Flow::Continue
    }

    fn on_close(&mut self, ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        let core = &mut self.core;
        core.ts = ts;
        // What is still carried over was never parsed.
        let held = self.halves[0].buf.clear() + self.halves[1].buf.clear();
        core.acct.undissected += held as u64;
        if let Some(mut p) = core.reading.take() {
            p.partial = true;
            p.tx.add_note(Note::Text {
                text: "connection closed inside the message".into(),
            });
            core.enqueue(p, out);
        }
        if let Some(mut r) = core.reply.take() {
            r.gap = true;
            r.notes.push(Note::Text {
                text: "connection closed inside the message".into(),
            });
            core.on_reply(r, out);
        }
        core.flush(None, out);
    }

    fn accounting(&self) -> Option<ByteAccounting> {
        let mut a = self.core.acct;
        a.held = self.held();
        Some(a)
    }

    fn state_bytes(&self) -> usize {
        self.core.state
    }

    fn shed(&mut self, limit: usize, _ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let core = &mut self.core;
        let mut n = 0;
        while core.state > limit {
            let Some(mut p) = core.pop_oldest_request() else {
                break;
            };
            p.tx.add_note(Note::Shed {
                budget: "connection",
            });
            out.transaction(&mut p.tx);
            n += 1;
        }
        n
    }

    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        self.core.queue.iter().find_map(|s| match s {
            Slot::Req(p) => Some(p.tx.ts.saturating_add(request_timeout)),
            _ => None,
        })
    }

    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let core = &mut self.core;
        let mut n = 0;
        while let Some(ts) = core.queue.iter().find_map(|s| match s {
            Slot::Req(p) => Some(p.tx.ts),
            _ => None,
        }) {
            let waited = now.saturating_since(ts);
            if waited < request_timeout {
                break;
            }
            let Some(mut p) = core.pop_oldest_request() else {
                break;
            };
            p.tx.add_note(Note::RequestTimeout {
                waited_us: waited.as_micros(),
            });
            out.transaction(&mut p.tx);
            n += 1;
        }
        n
    }
}

/// The parts of a [`Half`] the parser changes while its buffer is feeding.
struct HalfState<'a> {
    dir: Direction,
    mode: &'a mut Mode,
    offset: &'a mut u64,
    skipped: &'a mut u64,
    arrival: &'a mut Option<Timestamp>,
}

impl HalfState<'_> {
    fn set_mode(&mut self, m: Mode, why: &'static str) {
        tracing::trace!(dir = self.dir.short(), old = ?self.mode, new = ?m, why, "memcached mode");
        *self.mode = m;
    }
}

impl Core {
    fn anomaly(&self, dir: Direction, offset: u64, reason: String, out: &mut dyn EventSink) {
        out.anomaly(&ParseAnomaly {
            ts: self.ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            offset: Some(offset),
            reason,
        });
    }

    /// Parse what `data` allows in `h`'s direction; returns the bytes consumed (0: need more).
    fn step(&mut self, h: &mut HalfState<'_>, data: &[u8], out: &mut dyn EventSink) -> usize {
        if self.not_memcached.is_some() {
            // Detaching after this call: the rest is not dissected.
            self.acct.undissected += data.len() as u64;
            return data.len();
        }
        match *h.mode {
            Mode::Data { left } => {
                let n = (left.min(data.len() as u64)) as usize;
                let left = left - n as u64;
                self.data_block(h.dir, &data[..n], left);
                *h.offset += n as u64;
                self.acct.parsed += n as u64;
                if left == 0 {
                    h.set_mode(Mode::Line, "data block read");
                    self.data_done(h.dir, out);
                } else {
                    h.set_mode(Mode::Data { left }, "inside a data block");
                }
                n
            }
            Mode::Desync { at_line } => {
                let start = if at_line {
                    Start::IncludeStart
                } else {
                    Start::AfterNewline
                };
                let mut undecided = None;
                let found = find_line_boundary(data, start, |c| match plausible(h.dir, c) {
                    Some(p) => p,
                    None => {
                        undecided.get_or_insert(data.len() - c.len());
                        false
                    }
                });
                let skip = match found {
                    Some(k) => k,
                    // Keep what may still start a line; skip the rest.
                    None => match undecided {
                        Some(u) if data.len() - u <= self.cfg.max_line => u,
                        _ => data.len(),
                    },
                };
                *h.skipped += skip as u64;
                *h.offset += skip as u64;
                self.acct.skipped += skip as u64;
                if found.is_some() {
                    let skipped = std::mem::take(h.skipped);
                    if skipped > 0 {
                        self.resync_note(h.dir, skipped);
                    }
                    h.set_mode(Mode::Line, "resynchronised");
                    if skip == 0 {
                        // A message starts right here: parse it now (0 would mean "need more").
                        return self.step(h, data, out);
                    }
                } else if skip == data.len() {
                    // Skipped to the end: a line starts next if these bytes ended one.
                    let at_line = data.last() == Some(&b'\n');
                    h.set_mode(Mode::Desync { at_line }, "still looking");
                } else {
                    h.set_mode(Mode::Desync { at_line: true }, "a line may start here");
                }
                skip
            }
            Mode::Line => {
                let Some((l, n)) = line(data) else {
                    // Carried over: the message started in this chunk (or an earlier one).
                    h.arrival.get_or_insert(self.arrival);
                    return 0;
                };
                self.line_start = h.arrival.take().unwrap_or(self.arrival);
                *h.offset += n as u64;
                self.acct.parsed += n as u64;
                let data_len = if h.dir == C2S {
                    self.request_line(l, n as u64, out)
                } else {
                    self.reply_line(l, n as u64, out)
                };
                if let Some(len) = data_len {
                    h.set_mode(Mode::Data { left: len + 2 }, "data block follows");
                }
                n
            }
        }
    }

    /// A command line (without its terminator; `n` wire bytes). Returns the length of the data
    /// block that follows, for storage commands.
    fn request_line(&mut self, l: &[u8], n: u64, out: &mut dyn EventSink) -> Option<u64> {
        let words: Vec<&[u8]> = l.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
        let cmd = words.first().copied().unwrap_or_default();
        let mut tx = Transaction::new(PROTOCOL, &self.conn, self.line_start, McDetail::default());
        tx.command = escaped(cmd);
        tx.request_bytes = n;
        tx.end_ts = self.ts;
        let mut req = McRequest::default();
        let noreply = words.last() == Some(&&b"noreply"[..]) && words.len() > 1;
        req.noreply = noreply;
        let args = &words[1.min(words.len())..];
        let mut data_len = None;
        match cmd {
            c if is_storage(c) => {
                req.keys = args.first().map(|k| vec![escaped(k)]).unwrap_or_default();
                req.flags = num(args.get(1));
                req.exptime = num(args.get(2));
                data_len = num(args.get(3));
                if c == b"cas" {
                    req.cas = num(args.get(4));
                }
                if data_len.is_none() {
                    // memcached answers CLIENT_ERROR bad command line format; no data follows.
                    tx.add_note(Note::Text {
                        text: "storage command without a valid length".into(),
                    });
                }
            }
            b"get" | b"gets" | b"gat" | b"gats" => {
                let keys = if cmd.starts_with(b"gat") {
                    req.exptime = num(args.first());
                    &args[1.min(args.len())..]
                } else {
                    args
                };
                req.keys = keys
                    .iter()
                    .take(self.cfg.max_keys)
                    .map(|k| escaped(k))
                    .collect();
                if keys.len() > self.cfg.max_keys {
                    req.key_count = Some(keys.len() as u64);
                }
            }
            b"delete" => req.keys = args.first().map(|k| vec![escaped(k)]).unwrap_or_default(),
            b"incr" | b"decr" => {
                req.keys = args.first().map(|k| vec![escaped(k)]).unwrap_or_default();
                req.delta = num(args.get(1));
            }
            b"touch" => {
                req.keys = args.first().map(|k| vec![escaped(k)]).unwrap_or_default();
                req.exptime = num(args.get(1));
            }
            _ => {}
        }
        if self.full {
            let mut q = String::new();
            text::push_escaped(&mut q, &l[..l.len().min(self.cfg.max_query)]);
            if l.len() > self.cfg.max_query {
                q.push('…');
            }
            tx.query = q;
            tx.detail.request = Some(req);
        }
        let p = Pending {
            tx,
            partial: false,
            no_reply: noreply || cmd == b"quit",
            cost: 0,
        };
        match data_len {
            Some(len) => {
                self.reading = Some(p);
                if let Some(r) = self
                    .reading
                    .as_mut()
                    .and_then(|p| p.tx.detail.request.as_mut())
                {
                    r.value = Some(McValue::new(len));
                }
                Some(len)
            }
            None => {
                self.enqueue(p, out);
                None
            }
        }
    }

    /// Bytes of a data block (`left` still to come after them, CRLF included).
    fn data_block(&mut self, dir: Direction, b: &[u8], left: u64) {
        let max = self.cfg.max_value;
        match dir {
            C2S => {
                if let Some(p) = self.reading.as_mut() {
                    p.tx.request_bytes += b.len() as u64;
                }
            }
            _ => {
                if let Some(r) = self.reply.as_mut() {
                    r.bytes += b.len() as u64;
                }
            }
        }
        let value = if dir == C2S {
            self.reading
                .as_mut()
                .and_then(|p| p.tx.detail.request.as_mut())
                .and_then(|r| r.value.as_mut())
        } else {
            self.reply
                .as_mut()
                .filter(|r| r.value_kept)
                .and_then(|r| r.resp.values.last_mut())
                .map(|v| &mut v.value)
        };
        let Some(v) = value else { return };
        // The value's own bytes (not its CRLF), up to `max` of them, escaped.
        let seen_before = v.len + 2 - left - b.len() as u64;
        let body_end = v.len.saturating_sub(seen_before).min(b.len() as u64) as usize;
        let kept_raw = seen_before.min(v.len) as usize;
        if kept_raw < max && self.full {
            let take = (max - kept_raw).min(body_end);
            v.raw.extend_from_slice(&b[..take]);
        }
        if left == 0 {
            v.render();
        }
    }

    /// A data block ended.
    fn data_done(&mut self, dir: Direction, out: &mut dyn EventSink) {
        if dir == C2S {
            if let Some(mut p) = self.reading.take() {
                p.tx.end_ts = self.ts;
                self.enqueue(p, out);
            }
        }
    }

    /// A gap of `len` bytes inside the current data block of `dir`.
    fn mark_gap(&mut self, dir: Direction, len: u64) {
        let note = Note::Gap {
            direction: dir,
            bytes: Some(len),
        };
        if dir == C2S {
            if let Some(p) = self.reading.as_mut() {
                p.partial = true;
                p.tx.request_bytes += len;
                p.tx.add_note(note);
                if let Some(v) = p.tx.detail.request.as_mut().and_then(|r| r.value.as_mut()) {
                    v.gap = true;
                }
            }
        } else if let Some(r) = self.reply.as_mut() {
            r.gap = true;
            r.bytes += len;
            r.notes.push(note);
            if let Some(v) = r.resp.values.last_mut().filter(|_| r.value_kept) {
                v.value.gap = true;
            }
        }
    }

    fn resync_note(&mut self, dir: Direction, skipped: u64) {
        let note = Note::Resync {
            direction: dir,
            skipped_bytes: skipped,
        };
        if dir == S2C {
            if let Some(r) = self.reply.as_mut() {
                r.notes.push(note);
                return;
            }
        }
        // The next message of that direction carries it.
        if dir == C2S {
            self.marker_note.get_or_insert(note);
        } else {
            self.reply_gap_note.get_or_insert(note);
        }
    }

    /// A reply line (without its terminator; `n` wire bytes). Returns the length of the data
    /// block that follows a `VALUE` line.
    fn reply_line(&mut self, l: &[u8], n: u64, out: &mut dyn EventSink) -> Option<u64> {
        let in_block = self.reply.is_some();
        let mut r = self.reply.take().unwrap_or_else(|| Reply {
            start: self.line_start,
            ..Reply::default()
        });
        r.bytes += n;
        let word_end = l.iter().position(|&b| b == b' ').unwrap_or(l.len());
        let (word, rest) = (&l[..word_end], l.get(word_end + 1..).unwrap_or_default());
        match word {
            b"VALUE" => {
                let w: Vec<&[u8]> = rest
                    .split(|&b| b == b' ')
                    .filter(|w| !w.is_empty())
                    .collect();
                let len: Option<u64> = num(w.get(2));
                r.resp.status = "VALUE".into();
                r.entries += 1;
                let Some(len) = len else {
                    self.anomaly(S2C, 0, "VALUE line without a valid length".into(), out);
                    r.gap = true;
                    self.finish_reply(r, out);
                    return None;
                };
                r.value_kept = r.resp.values.len() < self.cfg.max_entries;
                if r.value_kept {
                    r.resp.values.push(McItem {
                        key: w.first().map(|k| escaped(k)).unwrap_or_default(),
                        flags: num(w.get(1)).unwrap_or(0),
                        cas: num(w.get(3)),
                        value: McValue::new(len),
                    });
                }
                self.reply = Some(r);
                return Some(len);
            }
            b"STAT" => {
                r.resp.status = "STAT".into();
                r.entries += 1;
                if r.resp.stats.len() < self.cfg.max_entries && self.full {
                    let (k, v) = match rest.iter().position(|&b| b == b' ') {
                        Some(i) => (&rest[..i], &rest[i + 1..]),
                        None => (rest, &b""[..]),
                    };
                    r.resp.stats.push((escaped(k), escaped(v)));
                }
                self.reply = Some(r);
                return None;
            }
            b"END" => {
                if !in_block {
                    r.resp.status = "END".into();
                }
                self.finish_reply(r, out);
                return None;
            }
            _ => {}
        }
        if in_block {
            // A block must end with END: this line starts a new reply.
            r.gap = true;
            r.notes.push(Note::ParseError {
                direction: S2C,
                skipped_bytes: 0,
            });
            r.bytes -= n;
            self.finish_reply(r, out);
            return self.reply_line(l, n, out);
        }
        if ONE_WORD_REPLIES.contains(&l) {
            r.resp.status = escaped(l);
        } else if !l.is_empty() && l.len() <= 20 && l.iter().all(u8::is_ascii_digit) {
            r.resp.status = "NUMBER".into();
            r.resp.number = num(Some(&l));
        } else if PREFIX_REPLIES.iter().any(|p| l.starts_with(p)) {
            r.resp.status = escaped(word);
            r.resp.text = Some(escaped(rest));
        } else {
            if self.replies == 0 && self.not_memcached.is_none() {
                let shown = escaped(&l[..l.len().min(40)]);
                self.not_memcached = Some(format!(
                    "the server's first reply is not memcached (found \"{shown}\"): not dissected"
                ));
                self.acct.parsed -= n;
                self.acct.undissected += n;
                return None;
            }
            r.resp.status = "UNKNOWN".into();
            r.resp.text = Some(escaped(&l[..l.len().min(self.cfg.max_query)]));
            r.notes.push(Note::ParseError {
                direction: S2C,
                skipped_bytes: 0,
            });
        }
        self.finish_reply(r, out);
        None
    }

    fn finish_reply(&mut self, mut r: Reply, out: &mut dyn EventSink) {
        if r.entries > r.resp.values.len().max(r.resp.stats.len()) as u64 {
            r.resp.entries = Some(r.entries);
        }
        self.on_reply(r, out);
    }

    /// A complete reply: pair it with the oldest request expecting one.
    fn on_reply(&mut self, mut r: Reply, out: &mut dyn EventSink) {
        self.replies += 1;
        for v in &mut r.resp.values {
            v.value.render();
        }
        self.drain_no_reply(out);
        loop {
            // The request a reply meeting a lost-request marker would go to, if the reply fits
            // it (memcached replies are typed: `STORED` never answers a `get`).
            let after_marker = self.queue.iter().skip(1).find_map(|s| match s {
                Slot::Req(p) if !p.no_reply => Some(fits(&p.tx.command, &r.resp.status)),
                _ => None,
            }) == Some(true);
            match self.queue.front_mut() {
                None => return self.orphan(r, None, out),
                Some(Slot::Reported(k)) => {
                    *k -= 1;
                    if *k == 0 {
                        self.queue.pop_front();
                    }
                    self.late_replies += 1;
                    return;
                }
                Some(Slot::Lost(bytes)) => {
                    let note = Note::Gap {
                        direction: C2S,
                        bytes: *bytes,
                    };
                    if after_marker {
                        self.queue.pop_front();
                        self.marker_note = Some(note);
                        continue;
                    }
                    return self.orphan(r, Some(note), out);
                }
                Some(Slot::Req(_)) => {
                    let Some(Slot::Req(p)) = self.queue.pop_front() else {
                        unreachable!("front is a request")
                    };
                    self.state = self.state.saturating_sub(p.cost);
                    return self.complete(p, r, out);
                }
            }
        }
    }

    fn status_of(resp: &McResponse) -> (Status, Option<String>) {
        match resp.status.as_str() {
            "ERROR" => (Status::Error, Some("ERROR".into())),
            "CLIENT_ERROR" | "SERVER_ERROR" => (
                Status::Error,
                Some(format!(
                    "{} {}",
                    resp.status,
                    resp.text.as_deref().unwrap_or_default()
                )),
            ),
            "UNKNOWN" => (Status::Partial, None),
            _ => (Status::Ok, None),
        }
    }

    fn complete(&mut self, mut p: Pending, r: Reply, out: &mut dyn EventSink) {
        let (status, error) = Self::status_of(&r.resp);
        let tx = &mut p.tx;
        tx.status = if status == Status::Ok && (p.partial || r.gap) {
            Status::Partial
        } else {
            status
        };
        tx.error = error;
        tx.response_bytes = r.bytes;
        tx.complete_at(self.ts);
        for n in r.notes {
            tx.add_note(n);
        }
        if let Some(n) = self.marker_note.take() {
            tx.add_note(n);
        }
        self.reply_gap_note = None;
        if self.full {
            tx.detail.response = Some(r.resp);
        }
        out.transaction(tx);
    }

    /// A reply without its request (server-only capture, or after a gap).
    fn orphan(&mut self, r: Reply, note: Option<Note>, out: &mut dyn EventSink) {
        let mut tx = Transaction::new(PROTOCOL, &self.conn, r.start, McDetail::default());
        let (status, error) = Self::status_of(&r.resp);
        tx.status = Status::NoRequest;
        if status == Status::Error {
            tx.error = error;
        }
        tx.response_bytes = r.bytes;
        tx.end_ts = self.ts.max(r.start);
        for n in r.notes {
            tx.add_note(n);
        }
        if let Some(n) = note.or_else(|| self.reply_gap_note.clone()) {
            tx.add_note(n);
        }
        if self.full {
            tx.detail.response = Some(r.resp);
        }
        out.transaction(&mut tx);
    }

    /// Queue a complete request (or report it now, when no reply will come).
    fn enqueue(&mut self, mut p: Pending, out: &mut dyn EventSink) {
        if let Some(v) = p.tx.detail.request.as_mut().and_then(|r| r.value.as_mut()) {
            v.render();
        }
        if let Some(n) = self.marker_note.take() {
            p.tx.add_note(n);
        }
        while self.queue.len() >= self.cfg.max_pending.max(1) {
            match self.pop_oldest_request() {
                Some(mut old) => {
                    old.tx.add_note(Note::Text {
                        text: format!(
                            "more than {} requests pending: reported before its reply",
                            self.cfg.max_pending
                        ),
                    });
                    out.transaction(&mut old.tx);
                }
                None => {
                    self.queue.pop_front();
                }
            }
        }
        p.cost = cost(&p);
        self.state += p.cost;
        self.queue.push_back(Slot::Req(p));
        self.drain_no_reply(out);
    }

    /// Report requests at the front of the queue that get no reply (`noreply`, `quit`).
    fn drain_no_reply(&mut self, out: &mut dyn EventSink) {
        while let Some(Slot::Req(p)) = self.queue.front() {
            if !p.no_reply {
                return;
            }
            let Some(Slot::Req(mut p)) = self.queue.pop_front() else {
                return;
            };
            self.state = self.state.saturating_sub(p.cost);
            p.tx.add_note(Note::Text {
                text: "no reply expected (noreply or quit)".into(),
            });
            if p.partial {
                p.tx.status = Status::Partial;
            }
            out.transaction(&mut p.tx);
        }
    }

    /// Take the oldest request out of the queue, leaving a marker that swallows its reply.
    fn pop_oldest_request(&mut self) -> Option<Pending> {
        let i = self.queue.iter().position(|s| matches!(s, Slot::Req(_)))?;
        let Some(Slot::Req(p)) = self.queue.remove(i) else {
            return None;
        };
        self.state = self.state.saturating_sub(p.cost);
        if !p.no_reply {
            // Merge with a marker right before it (markers cost a few bytes, not one each).
            match i.checked_sub(1).and_then(|j| self.queue.get_mut(j)) {
                Some(Slot::Reported(k)) => *k += 1,
                _ => self.queue.insert(i, Slot::Reported(1)),
            }
        }
        Some(p)
    }

    /// `dir` lost its message boundary (gap, overlong line).
    fn lose_sync(&mut self, dir: Direction, len: Option<u64>, gap: bool, out: &mut dyn EventSink) {
        let note = if gap {
            Note::Gap {
                direction: dir,
                bytes: len,
            }
        } else {
            Note::ParseError {
                direction: dir,
                skipped_bytes: 0,
            }
        };
        if dir == C2S {
            if let Some(mut p) = self.reading.take() {
                p.partial = true;
                p.tx.add_note(note.clone());
                self.enqueue(p, out);
            }
            match self.queue.back_mut() {
                Some(Slot::Lost(b)) => *b = b.zip(len).map(|(x, y)| x + y),
                _ => self.queue.push_back(Slot::Lost(len)),
            }
        } else {
            if let Some(mut r) = self.reply.take() {
                r.gap = true;
                r.notes.push(note.clone());
                self.on_reply(r, out);
            }
            // Which replies were lost cannot be known: report everything pending now.
            self.flush(Some(note.clone()), out);
            self.reply_gap_note = Some(note);
        }
    }

    /// Report every pending request as unanswered (with `note`).
    fn flush(&mut self, note: Option<Note>, out: &mut dyn EventSink) {
        while let Some(s) = self.queue.pop_front() {
            if let Slot::Req(mut p) = s {
                if p.no_reply {
                    p.tx.add_note(Note::Text {
                        text: "no reply expected (noreply or quit)".into(),
                    });
                } else if let Some(n) = &note {
                    p.tx.add_note(n.clone());
                }
                if p.partial {
                    p.tx.status = Status::Partial;
                }
                out.transaction(&mut p.tx);
            }
        }
        self.state = 0;
        self.marker_note = None;
    }
}

/// Can a reply of this status answer this command?
fn fits(command: &str, status: &str) -> bool {
    match status {
        "ERROR" | "CLIENT_ERROR" | "SERVER_ERROR" | "UNKNOWN" => true,
        _ => match command {
            "get" | "gets" | "gat" | "gats" => matches!(status, "VALUE" | "END"),
            "set" | "add" | "replace" | "append" | "prepend" | "cas" => {
                matches!(status, "STORED" | "NOT_STORED" | "EXISTS" | "NOT_FOUND")
            }
            "delete" => matches!(status, "DELETED" | "NOT_FOUND"),
            "incr" | "decr" => matches!(status, "NUMBER" | "NOT_FOUND"),
            "touch" => matches!(status, "TOUCHED" | "NOT_FOUND"),
            "stats" => matches!(status, "STAT" | "END"),
            "version" => status == "VERSION",
            "flush_all" | "verbosity" => status == "OK",
            _ => true,
        },
    }
}

/// Estimated bytes a queued request holds: the entry and the heap bytes of its strings.
fn cost(p: &Pending) -> usize {
    let tx = &p.tx;
    let mut n = std::mem::size_of::<Slot>() + tx.command.capacity() + tx.query.capacity();
    n += tx.notes.capacity() * std::mem::size_of::<Note>();
    if let Some(r) = &tx.detail.request {
        n += r.keys.iter().map(|k| k.capacity() + 24).sum::<usize>();
        n += r.value.as_ref().map_or(0, |v| v.prefix.capacity());
    }
    n
}
