//! Per-connection state: framing of both directions and request/reply pairing.
//!
//! Each direction has a `Reader` whose `Mode` says how its bytes are framed now; tokens go
//! into an `Assembler` that keeps a bounded copy of the message. Complete requests are queued
//! (FIFO, bounded); complete replies are paired with the oldest request that expects one, unless
//! they are pushes, MONITOR lines or pub/sub deliveries (reported as messages).
//!
//! Gaps: a gap inside a large blob only shortens it (the framing stays in sync). Otherwise the
//! direction resynchronises through [`wiresift_core::resync::find_line_boundary`], and:
//! - request side: the request cut by the gap is still queued (its reply will come) as
//!   `partial`, followed by a gap marker standing for requests lost entirely. A reply that meets
//!   the marker with no later request queued is a reply to a lost request (reported as
//!   `no_request` with a gap note); once a later request is queued the marker is dropped and
//!   that request takes the reply (with a gap note). A capture that starts mid-connection starts
//!   with such a marker.
//! - reply side: which replies were lost cannot be known, so every request pending at the gap
//!   is reported (the one whose reply was cut as `partial`, the others `no_response`, all with a
//!   gap note) and pairing restarts with the requests sent after the gap; replies that arrive
//!   with nothing queued are `no_request`. No reply is ever paired across a gap by guesswork,
//!   so a gap cannot start a cascade of mispaired transactions.
//!
//! Framing errors (bytes that are not RESP) are not gaps: the message they cut is reported with
//! a `parse_error` note (not `gap`), the next one with `parse_error { skipped_bytes }`, and no
//! lost-request marker is queued for them (one per error grew the queue without bound). An
//! inline request longer than the line limit is still queued (its prefix, a `truncated` note),
//! so that the server's error reply pairs with it and not with the next request.
//!
//! Budgets and timers (see [`wiresift_core::ProtocolSession`]): `state_bytes` is the pending
//! queue's cost, kept up to date on every push and pop (`budget::Queue`: the deque's slots,
//! ~640 bytes each, plus what each request keeps), and the readers' notes. `shed` reports the
//! oldest requests early (`no_response`, `shed` note) and drops markers; `on_timer` reports a
//! request whose reply is overdue (`request_timeout` note). Blocking commands (BLPOP, BRPOP,
//! BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, XREAD/XREADGROUP BLOCK, WAIT,
//! WAITAOF) wait their own timeout longer, or forever for 0; a subscription being confirmed has
//! no deadline. A request reported early leaves a count of replies still owed: the next reply is
//! counted ([`RespSession::late_replies`]), not paired with a later request. Not charged: the
//! carry-over buffers (bounded by [`crate::Limits`]) and the fixed part of a session (~1.2 KB).
//!
//! Accounting ([`ByteAccounting`]): bytes the parser consumes are `parsed`, except those the
//! desync scan passes over (`skipped`, counted even when it never resynchronises before close);
//! carry-over bytes dropped by a gap or an overflow are `skipped`; a TLS handshake and what is
//! left in the carry-over at close are `undissected`.

use crate::command::{analyse, analyse_args, Arg, Command, Render, ReplyArg, Special};
#[allow(unused_imports)] // `ResponseDetail` is named in the docs.
use crate::event::{ErrorDetail, MonitorLine, KIND_MONITOR, KIND_PUSH, KIND_REPLICATION};
use crate::event::{RdbTransfer, ReplicationCommand, RespDetail, ResponseDetail};
use crate::parser::{
    fast_bulk, parse_inline, parse_token, split_inline, AggKind, BlobKind, Parsed, RespError, Token,
};
use crate::shapes::{
    blob_header, confirmation, find_sub, is_delivery, plausible_reply, plausible_request, Plaus,
};
use crate::summary::{item_line, AsmError, Item, Keep, Step, StrKind};
use crate::Config;
use nom::Needed;
use wiresift_core::resync::{find_line_boundary, Start};
use wiresift_core::{
    push_note, BufferOverflow, ByteAccounting, CloseReason, ConnectionInfo, Detail, Direction,
    Duration, EventSink, Flow, GapInfo, Message, Note, ParseAnomaly, ProtocolSession, Status,
    StreamBuf, StreamChunk, Timestamp, Transaction,
};

mod budget;
mod lazy;
use budget::{Queue, Wait};
use lazy::LazyAsm;

/// A TLS ClientHello record header (`rediss://`).
fn is_tls_hello(d: &[u8]) -> bool {
    d.len() >= 3 && d[0] == 0x16 && d[1] == 0x03 && d[2] <= 0x04
}

/// Plugin name used in events.
pub const PROTOCOL: &str = "resp";

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// How a direction's bytes are framed right now.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// Reading messages token by token.
    Normal,
    /// Skipping the body and CRLF of a large blob.
    Skip { left: u64 },
    /// After FULLRESYNC / SYNC: waiting for the RDB header (bare `\n` are keepalives).
    RdbWait,
    /// Skipping a `$<len>` RDB payload (no CRLF follows it).
    RdbLen { left: u64, len: u64 },
    /// Skipping a diskless `$EOF:<mark>` payload up to and including the 40-byte mark.
    RdbEof {
        mark: Box<[u8; 40]>,
        tail: Vec<u8>,
        len: u64,
    },
    /// Lost the message boundary; looking for the next plausible one. `framing`: lost on a
    /// framing error (the resumption is noted as `parse_error`), not in a gap (`resync`).
    Desync {
        include_start: bool,
        skipped: u64,
        framing: bool,
    },
}

#[derive(Debug)]
struct Reader {
    dir: Direction,
    mode: Mode,
    asm: LazyAsm,
    /// Capture time of the current message's first byte.
    start: Option<Timestamp>,
    /// Wire bytes of the current message so far.
    bytes: u64,
    /// Notes for the current message.
    notes: Vec<Note>,
    /// The carried-over bytes are one blob token: (type byte, body length, bytes still needed).
    carry_blob: Option<(u8, u64, u64)>,
    /// Stream offset of the next unconsumed byte.
    offset: u64,
    /// A gap touched the current message.
    gap: bool,
}

impl Reader {
    fn new(dir: Direction, keep: Keep, midstream: bool) -> Self {
        Reader {
            dir,
            mode: if midstream {
                Mode::Desync {
                    include_start: true,
                    skipped: 0,
                    framing: false,
                }
            } else {
                Mode::Normal
            },
            asm: LazyAsm::new(keep),
            start: None,
            bytes: 0,
            notes: Vec::new(),
            carry_blob: None,
            offset: 0,
            gap: false,
        }
    }

    /// The one place modes change.
    fn set_mode(&mut self, m: Mode, why: &'static str) {
        tracing::trace!(dir = self.dir.short(), old = ?self.mode, new = ?m, why, "resp mode");
        self.mode = m;
    }

    fn in_message(&self) -> bool {
        !self.asm.is_idle() || matches!(self.mode, Mode::Skip { .. })
    }
}

/// Why a direction lost its message boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// Bytes missing from the capture (how many, when known).
    Gap(Option<u64>),
    /// The bytes did not parse.
    Framing,
    /// A message needed more than the carry-over limit: these bytes were dropped.
    Overflow(u64),
}

/// A finished message of one direction.
struct Msg {
    item: Item,
    attrs: Option<Item>,
    start: Timestamp,
    end: Timestamp,
    bytes: u64,
    notes: Vec<Note>,
    truncated: Vec<u64>,
    gap: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    One,
    /// No reply will come (`CLIENT REPLY OFF/SKIP`).
    NoReply(&'static str),
    /// One confirmation per channel (`None`: until the confirmations stop, for UNSUBSCRIBE
    /// without arguments).
    Confirm {
        kind: &'static str,
        left: Option<u64>,
    },
}

#[derive(Debug)]
struct Pending {
    tx: Transaction<RespDetail>,
    special: Special,
    expect: Expect,
    /// Confirmations received so far (subscribe family).
    confirms: Vec<Item>,
    partial: bool,
    /// How long it may wait for its reply (blocking commands wait longer).
    wait: Wait,
    /// Heap bytes it keeps, as last charged to the queue (see [`budget::Queue`]).
    cost: usize,
}

#[derive(Debug)]
// Requests are stored inline: one queue slot per request and no allocation for it (a boxed
// `Pending` cost a malloc/free per transaction); the small `Gap` variant is rare.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Req(Pending),
    /// Requests lost in a request-side gap (unknown number).
    Gap(Option<u64>),
}

impl Slot {
    fn expects_reply(&self) -> bool {
        matches!(self, Slot::Req(p) if !matches!(p.expect, Expect::NoReply(_)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyMode {
    On,
    Off,
    SkipNext,
}

/// Everything but the carry-over buffers (kept apart so the parse closure can borrow both).
#[derive(Debug)]
struct Core {
    conn: ConnectionInfo,
    cfg: Config,
    keep: Keep,
    render: Render,
    rd: [Reader; 2],
    pending: Queue,
    ts: Timestamp,
    /// Arrival time of the oldest byte of the chunk being parsed (`ts` minus the time it was
    /// held behind a lost segment): the start of a message that begins in it.
    arrival: Timestamp,
    /// The consumer wants `query` / `request` / `response` and messages ([`Detail::Full`]).
    full: bool,
    // Request-time (client side) state.
    reply_mode: ReplyMode,
    in_multi: bool,
    // Server side state.
    subs: i64,
    ssubs: i64,
    monitoring: bool,
    /// Past the PSYNC/SYNC handshake (or saw REPLCONF ACK): both directions carry replication
    /// traffic, nothing is paired.
    replicating: bool,
    /// Replies still owed to requests reported before their reply (evicted from a full queue,
    /// shed over a budget, timed out): the next replies are theirs, counted, not paired.
    evicted_awaiting: u64,
    /// Replies that arrived for requests already reported (see `evicted_awaiting`).
    late_replies: u64,
    /// Byte accounting (see [`ByteAccounting`]); `held` is read from the carry-over buffers.
    acct: ByteAccounting,
    /// Bytes consumed by the desync scan (counted in `acct.parsed` by the feed wrapper, moved
    /// to `skipped` by [`ProtocolSession::accounting`]).
    desync_skipped: u64,
    /// Gap note for the next transaction paired after a request-side gap marker.
    marker_note: Option<Note>,
    /// Gap note for replies left without a request after a reply-side gap, until pairing
    /// succeeds again.
    reply_gap_note: Option<Note>,
    /// Client bytes were delivered at least once.
    client_seen: bool,
    /// The client direction went into a gap and nothing of it came since.
    client_lost: bool,
    /// Replies seen so far (a top-level reply of a known type).
    replies: u64,
    /// The server is not speaking RESP (why): the session detaches after this call.
    not_resp: Option<String>,
    /// Bytes consumed on finding that the server is not speaking RESP (moved from `parsed` to
    /// `undissected` by [`ProtocolSession::accounting`]).
    not_resp_bytes: u64,
}

/// A RESP session. See the module documentation.
#[derive(Debug)]
pub struct RespSession {
    bufs: [StreamBuf; 2],
    core: Core,
}

impl RespSession {
    /// A session for `conn`.
    pub fn new(conn: &ConnectionInfo, cfg: Config) -> Self {
        let keep = Keep {
            str_bytes: cfg.max_arg_bytes,
            top_items: cfg.max_args,
            nested_items: cfg.max_nested_items,
            nodes: cfg.max_nodes,
            max_depth: cfg.limits.max_depth,
        };
        let reply_keep = Keep {
            top_items: cfg.max_reply_items,
            ..keep
        };
        let carry = cfg.limits.max_bulk.max(cfg.limits.max_line) + 64;
        let mut core = Core {
            conn: *conn,
            render: Render {
                max_query: cfg.max_query,
                full: true,
            },
            cfg,
            keep,
            rd: [
                Reader::new(C2S, keep, conn.midstream),
                Reader::new(S2C, reply_keep, conn.midstream),
            ],
            pending: Queue::default(),
            ts: conn.start,
            arrival: conn.start,
            full: true,
            reply_mode: ReplyMode::On,
            in_multi: false,
            subs: 0,
            ssubs: 0,
            monitoring: false,
            replicating: false,
            evicted_awaiting: 0,
            late_replies: 0,
            desync_skipped: 0,
            acct: ByteAccounting::default(),
            marker_note: None,
            reply_gap_note: None,
            client_seen: false,
            client_lost: false,
            replies: 0,
            not_resp: None,
            not_resp_bytes: 0,
        };
        if conn.midstream {
            // Requests sent before the capture started may still be answered.
            core.pending.push_back(Slot::Gap(None));
        }
        RespSession {
            bufs: [StreamBuf::new(carry), StreamBuf::new(carry)],
            core,
        }
    }

    /// Entries waiting for a reply: requests, and markers standing for requests lost in gaps.
    pub fn pending_entries(&self) -> usize {
        self.core.pending.len()
    }
}

impl ProtocolSession for RespSession {
    fn late_replies(&self) -> u64 {
        self.core.late_replies
    }

    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        let d = chunk.dir;
        let core = &mut self.core;
        core.acct.delivered += chunk.data.len() as u64;
        core.ts = chunk.ts;
        core.arrival = chunk.arrival();
        core.full = out.detail() == Detail::Full;
        core.render.full = core.full;
        let keep = match d {
            C2S => core.keep,
            _ => Keep {
                top_items: core.cfg.max_reply_items,
                ..core.keep
            },
        };
        core.rd[d.index()].asm.set_light(!core.full, keep);
        if d == C2S && !chunk.data.is_empty() {
            core.client_seen = true;
            core.client_lost = false;
        }
        if core.rd[d.index()].offset == 0 && d == C2S && is_tls_hello(chunk.data) {
            core.anomaly(d, 0, "TLS handshake (rediss): not dissected".into(), out);
            core.acct.undissected += chunk.data.len() as u64;
            return Flow::Detach;
        }
        let r = self.bufs[d.index()].feed(chunk.data, |b| {
            // `StreamBuf` never takes more than it offered.
            let n = core.step(d, b, out).min(b.len());
            core.acct.parsed += n as u64;
            n
        });
        if let Err(BufferOverflow { limit, have }) = r {
            core.acct.skipped += have as u64;
            let rd = &core.rd[d.index()];
            core.anomaly(
                d,
                rd.offset,
                format!("message needs more than {limit} buffered bytes ({have} lost)"),
                out,
            );
            core.lose_sync(d, Loss::Overflow(have as u64), false, true, out);
        }
        if let Some(why) = core.not_resp.take() {
            return core.detach_not_resp(why, out);
        }
        Flow::Continue
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        let d = gap.dir;
        let core = &mut self.core;
        core.ts = gap.ts;
        core.arrival = gap.ts;
        core.full = out.detail() == Detail::Full;
        core.render.full = core.full;
        let i = d.index();
        let note = Note::Gap {
            direction: d,
            bytes: gap.len,
        };
        if d == C2S {
            core.client_lost = true;
        }
        let r = &mut core.rd[i];
        r.offset += gap.len.unwrap_or(0);
        // Inside a large body: the framing survives, the body is only shorter.
        if let Some(g) = gap.len {
            match &mut r.mode {
                Mode::Skip { left } if g < *left => {
                    *left -= g;
                    r.bytes += g;
                    r.gap = true;
                    r.asm.skip_gap();
                    push_note(&mut r.notes, note);
                    return Flow::Continue;
                }
                Mode::RdbLen { left, .. } if g < *left => {
                    *left -= g;
                    return Flow::Continue;
                }
                // Keep looking for the end mark after the hole.
                Mode::RdbEof { tail, len, .. } => {
                    tail.clear();
                    *len += g;
                    return Flow::Continue;
                }
                Mode::Normal => {
                    if let Some((ty, len, need)) = r.carry_blob {
                        if g < need {
                            // The carried blob header and body prefix are part of the message:
                            // parsed, as the rest of the body up to the gap.
                            let dropped = self.bufs[i].clear() as u64;
                            core.acct.parsed += dropped;
                            let kind = match ty {
                                b'!' => BlobKind::Error,
                                b'=' => BlobKind::Verbatim,
                                _ => BlobKind::Bulk,
                            };
                            let tok = if ty == b';' {
                                Token::ChunkHeader(len)
                            } else {
                                Token::BlobHeader { kind, len }
                            };
                            if r.start.is_none() {
                                r.start = Some(gap.ts);
                            }
                            if let Ok(Step::Skip(_)) = r.asm.token(&tok) {
                                r.carry_blob = None;
                                r.bytes += dropped + g;
                                r.gap = true;
                                r.asm.skip_gap();
                                push_note(&mut r.notes, note);
                                r.set_mode(Mode::Skip { left: need - g }, "gap inside a blob");
                                return Flow::Continue;
                            }
                            r.asm.reset();
                        }
                    }
                }
                _ => {}
            }
        }
        let dropped = self.bufs[i].clear();
        core.acct.skipped += dropped as u64;
        core.lose_sync(d, Loss::Gap(gap.len), true, dropped > 0, out);
        Flow::Continue
    }

    fn on_close(&mut self, ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        let core = &mut self.core;
        core.ts = ts;
        core.arrival = ts;
        core.full = out.detail() == Detail::Full;
        core.render.full = core.full;
        for d in Direction::BOTH {
            if core.rd[d.index()].in_message() && !core.replicating {
                let r = &mut core.rd[d.index()];
                let item = r.asm.take_partial();
                let msg = core.take_msg(d, item);
                if let Some(mut m) = msg {
                    m.gap = true;
                    push_note(
                        &mut m.notes,
                        Note::Text {
                            text: "connection closed inside the message".into(),
                        },
                    );
                    if d == C2S {
                        core.on_request(m, true, out);
                    } else {
                        core.partial_reply(m, out);
                    }
                }
            }
        }
        core.flush_pending(None, out);
        for b in &mut self.bufs {
            core.acct.undissected += b.clear() as u64;
        }
    }

    fn accounting(&self) -> Option<ByteAccounting> {
        let mut a = self.core.acct;
        // Bytes the desync scan consumed were skipped, not parsed.
        let desync = self.core.desync_skipped;
        a.parsed -= desync;
        a.skipped += desync;
        a.parsed -= self.core.not_resp_bytes;
        a.undissected += self.core.not_resp_bytes;
        a.held = (self.bufs[0].len() + self.bufs[1].len()) as u64;
        Some(a)
    }

    fn state_bytes(&self) -> usize {
        let c = &self.core;
        c.pending.bytes()
            + c.rd
                .iter()
                .map(|r| budget::notes_bytes(&r.notes))
                .sum::<usize>()
            + c.marker_note
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<Note>())
            + c.reply_gap_note
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<Note>())
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let core = &mut self.core;
        core.ts = core.ts.max(ts);
        let mut n = 0;
        while self.state_bytes_core() > limit {
            let core = &mut self.core;
            match core.pending.pop_front() {
                Some(Slot::Req(p)) => {
                    core.report_early(
                        p,
                        Note::Shed {
                            budget: "connection",
                        },
                        out,
                    );
                    n += 1;
                }
                Some(Slot::Gap(_)) => n += 1,
                None => break,
            }
        }
        let core = &mut self.core;
        core.pending.shrink();
        if self.state_bytes_core() > limit {
            for r in &mut self.core.rd {
                n += r.notes.len() as u64;
                r.notes = Vec::new();
            }
        }
        n
    }

    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        let p = self.core.first_waiting()?;
        p.wait.deadline(p.tx.ts, request_timeout)
    }

    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let core = &mut self.core;
        let mut n = 0;
        loop {
            let due = core
                .first_waiting()
                .and_then(|p| p.wait.deadline(p.tx.ts, request_timeout))
                .is_some_and(|d| d <= now);
            if !due {
                return n;
            }
            // Everything before it is a marker or a request that gets no reply.
            while let Some(s) = core.pending.pop_front() {
                match s {
                    Slot::Gap(_) => {}
                    Slot::Req(p) if !s_expects(&p) => core.report_noreply(p, out),
                    Slot::Req(p) => {
                        let waited = now.saturating_since(p.tx.ts).as_micros();
                        core.report_early(p, Note::RequestTimeout { waited_us: waited }, out);
                        n += 1;
                        break;
                    }
                }
            }
        }
    }
}

fn s_expects(p: &Pending) -> bool {
    !matches!(p.expect, Expect::NoReply(_))
}

impl RespSession {
    fn state_bytes_core(&self) -> usize {
        ProtocolSession::state_bytes(self)
    }

    /// Replies that arrived for requests already reported before their reply (shed, timed out
    /// or evicted): counted, never paired with a later request.
    pub fn late_replies(&self) -> u64 {
        self.core.late_replies
    }
}

/// The note on a transaction whose reply holds a line with an unknown RESP type byte.
fn unknown_reply_note(ty: u8) -> Note {
    Note::Text {
        text: format!("reply is not RESP (unknown type byte 0x{ty:02x}): status unknown"),
    }
}

/// The `response` detail of a reply, copying its value (for messages that keep the reply).
fn response_detail(m: &Msg) -> ResponseDetail {
    response_parts(m.item.clone(), m.attrs.clone())
}

/// The `response` detail of a reply, taking its value apart (no copy).
fn response_parts(item: Item, attrs: Option<Item>) -> ResponseDetail {
    let len = match &item {
        Item::Str {
            len,
            kind: StrKind::Bulk | StrKind::BlobError | StrKind::Verbatim,
            ..
        } => Some(*len),
        Item::Agg { count, .. } => Some(*count),
        _ => None,
    };
    let error = item.is_error().then(|| {
        ErrorDetail::parse(&crate::summary::bytes_json(
            item.str_bytes().unwrap_or_default(),
        ))
    });
    ResponseDetail {
        kind: item.type_name(),
        value: item,
        len,
        attributes: attrs,
        error,
    }
}

/// A token the reply fast path takes as a whole element (no anomaly, no skipping, no nesting).
fn is_scalar(t: &Token<'_>) -> bool {
    matches!(
        t,
        Token::SimpleString(_)
            | Token::SimpleError(_)
            | Token::Integer(_)
            | Token::Null
            | Token::NullBlob
            | Token::NullAggregate(_)
            | Token::Boolean(_)
            | Token::Double(_)
            | Token::BigNumber(_)
            | Token::Blob { .. }
    )
}

/// The item the assembler keeps for a scalar token (strings cut to `keep` bytes, their full
/// length pushed on `truncated`); `None` for any other token.
fn scalar_item(t: &Token<'_>, keep: usize, truncated: &mut Vec<u64>) -> Option<Item> {
    let mut s = |kind: StrKind, b: &[u8]| {
        let n = b.len().min(keep);
        if n < b.len() {
            truncated.push(b.len() as u64);
        }
        Item::Str {
            kind,
            data: b[..n].to_vec(),
            len: b.len() as u64,
            gap: false,
        }
    };
    Some(match *t {
        Token::SimpleString(b) => s(StrKind::Simple, b),
        Token::SimpleError(b) => s(StrKind::Error, b),
        Token::Integer(i) => Item::Int(i),
        Token::Null | Token::NullBlob | Token::NullAggregate(_) => Item::Null,
        Token::Boolean(b) => Item::Bool(b),
        Token::Double(b) => s(StrKind::Double, b),
        Token::BigNumber(b) => s(StrKind::BigNumber, b),
        Token::Blob { kind, body } => s(
            match kind {
                BlobKind::Bulk => StrKind::Bulk,
                BlobKind::Error => StrKind::BlobError,
                BlobKind::Verbatim => StrKind::Verbatim,
            },
            body,
        ),
        _ => return None,
    })
}

impl Core {
    fn anomaly(&self, d: Direction, offset: u64, reason: String, out: &mut dyn EventSink) {
        out.anomaly(&ParseAnomaly {
            ts: self.ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: d,
            offset: Some(offset),
            reason,
        });
    }

    fn message(
        &self,
        d: Direction,
        kind: &'static str,
        summary: String,
        detail: impl wiresift_core::MsgPayload,
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        if !self.full {
            return;
        }
        out.message(&Message {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: d,
            kind,
            summary,
            detail,
        });
    }

    fn front_expecting(&self) -> Option<&Pending> {
        self.pending.iter().find_map(|s| match s {
            Slot::Req(p) if !matches!(p.expect, Expect::NoReply(_)) => Some(p),
            Slot::Gap(_) => None,
            Slot::Req(_) => None,
        })
    }

    /// The request the next reply belongs to, if one waits for it: the first queued request
    /// that expects a reply, looked for past markers and requests that get none. `None` when
    /// none waits, or the one waiting legitimately waits on (subscriptions being confirmed).
    fn first_waiting(&self) -> Option<&Pending> {
        let p = self.pending.iter().find_map(|s| match s {
            Slot::Req(p) if !matches!(p.expect, Expect::NoReply(_)) => Some(p),
            _ => None,
        })?;
        // A subscription being confirmed (UNSUBSCRIBE until the count drops to 0) waits on.
        (p.confirms.is_empty()).then_some(p)
    }

    /// Report a request before its reply (shed over a budget, timed out), with `note`; its
    /// reply, if it comes, is counted (see `evicted_awaiting`), not paired with a later request.
    fn report_early(&mut self, mut p: Pending, note: Note, out: &mut dyn EventSink) {
        if !p.confirms.is_empty() {
            p.tx.add_note(note);
            self.complete_confirms(p, out);
            return;
        }
        if let Expect::NoReply(why) = p.expect {
            p.tx.add_note(Note::Text { text: why.into() });
        } else {
            self.evicted_awaiting += 1;
        }
        p.tx.add_note(note);
        if p.partial {
            p.tx.status = Status::Partial;
        }
        out.transaction(&mut p.tx);
    }

    /// Report a request that gets no reply (`CLIENT REPLY OFF`).
    fn report_noreply(&mut self, mut p: Pending, out: &mut dyn EventSink) {
        if let Expect::NoReply(why) = p.expect {
            p.tx.add_note(Note::Text { text: why.into() });
        }
        if p.partial {
            p.tx.status = Status::Partial;
        }
        out.transaction(&mut p.tx);
    }

    /// A parse failure: report it and look for the next boundary.
    fn framing_error(&mut self, d: Direction, e: String, out: &mut dyn EventSink) {
        let off = self.rd[d.index()].offset;
        self.anomaly(d, off, e, out);
        self.lose_sync(d, Loss::Framing, false, false, out);
    }

    /// Parse what `data` allows; returns the bytes consumed (0: need more).
    fn step(&mut self, d: Direction, data: &[u8], out: &mut dyn EventSink) -> usize {
        let i = d.index();
        loop {
            let r = &mut self.rd[i];
            match &mut r.mode {
                Mode::Skip { left } => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    let left = *left;
                    r.bytes += n as u64;
                    r.offset += n as u64;
                    if left == 0 {
                        let bad_crlf = n >= 2 && &data[n - 2..n] != b"\r\n" && !r.gap;
                        r.set_mode(Mode::Normal, "blob skipped");
                        if bad_crlf {
                            r.asm.reset();
                            self.framing_error(d, "expected CRLF after a skipped blob".into(), out);
                            return n;
                        }
                    }
                    if r.asm.skipped(&data[..n], left) == Step::Done {
                        self.message_done(d, out);
                    }
                    return n;
                }
                Mode::RdbWait => {
                    let nl = data.iter().take_while(|&&b| b == b'\n').count();
                    if nl > 0 {
                        r.offset += nl as u64;
                        return nl;
                    }
                    if data[0] != b'$' {
                        let off = r.offset;
                        r.set_mode(Mode::Normal, "no RDB payload");
                        self.anomaly(d, off, "expected an RDB payload header".into(), out);
                        self.replicating = true;
                        continue;
                    }
                    let Some(eol) = data.iter().take(64).position(|&b| b == b'\n') else {
                        if data.len() >= 64 {
                            r.set_mode(Mode::Normal, "bad RDB header");
                            self.replicating = true;
                            self.framing_error(d, "RDB header line too long".into(), out);
                            continue;
                        }
                        return 0;
                    };
                    let line = data[1..eol].strip_suffix(b"\r").unwrap_or(&data[1..eol]);
                    r.offset += eol as u64 + 1;
                    if let Some(m) = line.strip_prefix(b"EOF:").filter(|m| m.len() == 40) {
                        let mut mark = Box::new([0u8; 40]);
                        mark.copy_from_slice(m);
                        r.set_mode(
                            Mode::RdbEof {
                                mark,
                                tail: Vec::new(),
                                len: 0,
                            },
                            "diskless RDB",
                        );
                    } else if let Some(n) = crate::parser::parse_i64(line).filter(|&n| n >= 0) {
                        let n = n as u64;
                        r.set_mode(Mode::RdbLen { left: n, len: n }, "RDB payload");
                        if n == 0 {
                            self.rdb_done(0, out);
                        }
                    } else {
                        r.set_mode(Mode::Normal, "bad RDB header");
                        self.replicating = true;
                        self.framing_error(d, "bad RDB payload header".into(), out);
                    }
                    return eol + 1;
                }
                Mode::RdbLen { left, len } => {
                    let n = (*left).min(data.len() as u64);
                    *left -= n;
                    r.offset += n;
                    if *left == 0 {
                        let len = *len;
                        self.rdb_done(len, out);
                    }
                    return n as usize;
                }
                Mode::RdbEof { mark, tail, len } => {
                    // Search the mark across the chunk boundary: the last 39 bytes seen + data.
                    let mut hay = std::mem::take(tail);
                    let from_tail = hay.len();
                    hay.extend_from_slice(&data[..data.len().min(40)]);
                    let found = find_sub(&hay, &mark[..])
                        .map(|p| p + 40 - from_tail)
                        .or_else(|| find_sub(data, &mark[..]).map(|p| p + 40));
                    match found {
                        Some(end) => {
                            let total = *len + end as u64;
                            r.offset += end as u64;
                            self.rdb_done(total.saturating_sub(40), out);
                            return end;
                        }
                        None => {
                            // Keep the last 39 bytes of (old tail + data).
                            let t = if data.len() >= 39 {
                                data[data.len() - 39..].to_vec()
                            } else {
                                hay[hay.len().saturating_sub(39)..].to_vec()
                            };
                            *tail = t;
                            *len += data.len() as u64;
                            r.offset += data.len() as u64;
                            return data.len();
                        }
                    }
                }
                Mode::Desync {
                    include_start,
                    skipped,
                    framing,
                } => {
                    let start = if *include_start {
                        Start::IncludeStart
                    } else {
                        Start::AfterNewline
                    };
                    let req = d == C2S || self.replicating;
                    let mut undecided: Option<usize> = None;
                    let found = find_line_boundary(data, start, |c| {
                        let p = if req {
                            plausible_request(c)
                        } else {
                            plausible_reply(c)
                        };
                        if p == Plaus::Undecided && undecided.is_none() {
                            undecided = Some(data.len() - c.len());
                        }
                        p == Plaus::Yes
                    });
                    match found {
                        Some(k) if undecided.is_none_or(|u| k < u) => {
                            let total = *skipped + k as u64;
                            r.offset += k as u64;
                            self.desync_skipped += k as u64;
                            if *framing {
                                // A framing error, not capture loss: say so, with what it cost.
                                push_note(
                                    &mut r.notes,
                                    Note::ParseError {
                                        direction: d,
                                        skipped_bytes: total,
                                    },
                                );
                            } else if total > 0 {
                                push_note(
                                    &mut r.notes,
                                    Note::Resync {
                                        direction: d,
                                        skipped_bytes: total,
                                    },
                                );
                            }
                            r.set_mode(Mode::Normal, "resynchronised");
                            if k > 0 {
                                return k;
                            }
                            continue;
                        }
                        _ => {
                            let (keep_from, at_line) = match undecided {
                                Some(u) => (u, true),
                                None => match data.iter().rposition(|&b| b == b'\n') {
                                    Some(p) => (p + 1, true),
                                    None => (data.len(), false),
                                },
                            };
                            *skipped += keep_from as u64;
                            r.offset += keep_from as u64;
                            *include_start = at_line;
                            if keep_from == 0 && data.len() > 4096 {
                                // Cannot decide within a sane window: give up on this line.
                                *include_start = false;
                                *skipped += data.len() as u64;
                                r.offset += data.len() as u64;
                                self.desync_skipped += data.len() as u64;
                                return data.len();
                            }
                            self.desync_skipped += keep_from as u64;
                            return keep_from;
                        }
                    }
                }
                Mode::Normal => {
                    let req = d == C2S || self.replicating;
                    if r.asm.is_idle() {
                        if d == S2C
                            && !self.replicating
                            && matches!(data[0], b'$' | b'\n')
                            && self
                                .front_expecting()
                                .is_some_and(|p| p.special == Special::Sync)
                        {
                            let r = &mut self.rd[i];
                            r.set_mode(Mode::RdbWait, "SYNC pending");
                            continue;
                        }
                        let r = &mut self.rd[i];
                        if req && data[0] != b'*' {
                            return self.inline(d, data, out);
                        }
                        if r.start.is_none() {
                            r.start = Some(self.arrival);
                        }
                        if !self.replicating {
                            let fast = if d == C2S {
                                self.whole_request(data, out)
                            } else {
                                self.whole_reply(data, out)
                            };
                            if let Some(n) = fast {
                                return n;
                            }
                        }
                    }
                    let r = &mut self.rd[i];
                    match parse_token(data, &self.cfg.limits) {
                        Ok(Parsed::Done(tok, n)) => {
                            r.carry_blob = None;
                            if req {
                                let ok = if r.asm.depth() == 0 {
                                    matches!(
                                        tok,
                                        Token::Aggregate {
                                            kind: AggKind::Array,
                                            len: Some(_)
                                        } | Token::NullAggregate(AggKind::Array)
                                    )
                                } else {
                                    r.asm.in_top_array()
                                        && r.asm.depth() == 1
                                        && matches!(
                                            tok,
                                            Token::Blob {
                                                kind: BlobKind::Bulk,
                                                ..
                                            } | Token::BlobHeader {
                                                kind: BlobKind::Bulk,
                                                ..
                                            }
                                        )
                                };
                                if !ok {
                                    self.framing_error(
                                        d,
                                        "expected a command (array of bulk strings)".into(),
                                        out,
                                    );
                                    continue;
                                }
                                if matches!(
                                    tok,
                                    Token::NullAggregate(_) | Token::Aggregate { len: Some(0), .. }
                                ) {
                                    // redis ignores empty multibulks.
                                    r.offset += n as u64;
                                    r.start = None;
                                    return n;
                                }
                            }
                            if let Token::Unknown { ty, line } = tok {
                                let off = r.offset;
                                if d == S2C && self.replies == 0 && r.asm.depth() == 0 {
                                    // The first reply is not RESP: the server speaks something
                                    // else (memcached's `STORED`, `VALUE k 0 5`, …). Stop here.
                                    let mut first = vec![ty.0];
                                    first.extend_from_slice(&line[..line.len().min(40)]);
                                    self.not_resp = Some(format!(
                                        "the server's first reply is not RESP (found \"{}\"): \
                                         not dissected as RESP",
                                        crate::parser::escape_bytes(&first)
                                    ));
                                    // Not RESP: counted as undissected, not parsed.
                                    self.not_resp_bytes += data.len() as u64;
                                    return data.len();
                                }
                                let why = format!("unknown RESP type byte 0x{:02x}", ty.0);
                                self.anomaly(d, off, why, out);
                            }
                            let r = &mut self.rd[i];
                            r.bytes += n as u64;
                            r.offset += n as u64;
                            match r.asm.token(&tok) {
                                Ok(Step::More) => return self.more_scalars(d, data, n, out),
                                Ok(Step::Skip(len)) => {
                                    r.set_mode(Mode::Skip { left: len }, "large blob")
                                }
                                Ok(Step::Done) => self.message_done(d, out),
                                Err(AsmError::TooDeep) => {
                                    r.asm.reset();
                                    let lim = self.cfg.limits.max_depth;
                                    self.framing_error(
                                        d,
                                        format!("aggregates nested deeper than {lim}"),
                                        out,
                                    );
                                }
                                Err(AsmError::Unexpected(what)) => {
                                    r.asm.reset();
                                    self.framing_error(d, format!("expected {what}"), out);
                                }
                            }
                            return n;
                        }
                        Ok(Parsed::Incomplete(need)) => {
                            r.carry_blob = match need {
                                Needed::Size(s) => {
                                    blob_header(data).map(|(t, l)| (t, l, s.get() as u64))
                                }
                                Needed::Unknown => None,
                            };
                            return 0;
                        }
                        Err(e) => {
                            let e: RespError = e;
                            self.framing_error(d, e.to_string(), out);
                            continue;
                        }
                    }
                }
            }
        }
    }

    /// Fast path: a request whose every argument is a bulk string within the blob limit, all
    /// present in `data`, is framed and analysed straight from the slice (no token-by-token
    /// assembly, no value tree). Anything else (`None`) takes the general path, which sees
    /// exactly the same bytes and produces the same events.
    fn whole_request(&mut self, data: &[u8], out: &mut dyn EventSink) -> Option<usize> {
        /// Arguments kept on the stack; more go to the heap.
        const STACK: usize = 8;
        /// Longer arrays take the general path rather than being scanned twice.
        const MAX_ARGS: u64 = 4096;
        let Ok(Parsed::Done(
            Token::Aggregate {
                kind: AggKind::Array,
                len: Some(count),
            },
            mut at,
        )) = parse_token(data, &self.cfg.limits)
        else {
            return None;
        };
        if count == 0 || count > MAX_ARGS {
            return None;
        }
        let keep = self.rd[C2S.index()].asm.keep();
        // As the assembler: the first `cap` elements are kept, each cut to `str_bytes`.
        let cap = keep.top_items.min(keep.nodes);
        let mut small = [Arg::EMPTY; STACK];
        let mut big: Vec<Arg<'_>> = Vec::new();
        let mut kept = 0usize;
        let max_bulk = self.cfg.limits.max_bulk;
        for _ in 0..count {
            let (body, n) = match fast_bulk(&data[at..], max_bulk) {
                Some(b) => b,
                None => match parse_token(&data[at..], &self.cfg.limits) {
                    Ok(Parsed::Done(
                        Token::Blob {
                            kind: BlobKind::Bulk,
                            body,
                        },
                        n,
                    )) => (body, n),
                    _ => return None,
                },
            };
            at += n;
            if kept < cap {
                let a = Arg {
                    data: &body[..body.len().min(keep.str_bytes)],
                    len: body.len() as u64,
                    gap: false,
                };
                if kept < STACK {
                    small[kept] = a;
                } else {
                    if kept == STACK {
                        big.extend_from_slice(&small);
                    }
                    big.push(a);
                }
                kept += 1;
            }
        }
        let args = if kept <= STACK {
            &small[..kept]
        } else {
            &big[..]
        };
        let wait = budget::wait_of(args.iter().map(|a| a.data), count);
        let cmd = analyse_args(args, count, &self.render);
        let r = &mut self.rd[C2S.index()];
        r.carry_blob = None;
        r.offset += at as u64;
        let bytes = std::mem::take(&mut r.bytes) + at as u64;
        let msg = Msg {
            item: Item::Null,
            attrs: None,
            start: r.start.take().unwrap_or(self.arrival),
            end: self.ts,
            bytes,
            notes: std::mem::take(&mut r.notes),
            truncated: r.asm.take_truncated(),
            gap: std::mem::take(&mut r.gap),
        };
        self.on_command(cmd, msg, wait, false, out);
        Some(at)
    }

    /// After a token that left a message open (`data[..used]` consumed): feed the complete
    /// scalar tokens that follow in this call, exactly as the general path would one call at a
    /// time. Stops (returning the bytes consumed) at anything else, which the general path
    /// then sees: an incomplete or non-scalar token, one the assembler rejects, a request
    /// element that is not a bulk string.
    fn more_scalars(
        &mut self,
        d: Direction,
        data: &[u8],
        mut used: usize,
        out: &mut dyn EventSink,
    ) -> usize {
        let req = d == C2S || self.replicating;
        let lim = self.cfg.limits;
        let r = &mut self.rd[d.index()];
        while used < data.len() {
            // Elements that will only be counted: scan them in a tight loop.
            if let Some(left) = r.asm.counting_left() {
                let in_request = req && r.asm.depth() == 1 && r.asm.in_top_array();
                let (mut k, mut at) = (0u64, used);
                while k < left && at < data.len() {
                    let n = match fast_bulk(&data[at..], lim.max_bulk) {
                        Some((_, n)) => n,
                        None => match parse_token(&data[at..], &lim) {
                            Ok(Parsed::Done(t, n))
                                if is_scalar(&t)
                                    && (!req
                                        || matches!(
                                            t,
                                            Token::Blob {
                                                kind: BlobKind::Bulk,
                                                ..
                                            }
                                        )) =>
                            {
                                n
                            }
                            _ => break,
                        },
                    };
                    k += 1;
                    at += n;
                }
                if req && !in_request {
                    k = 0;
                }
                if k > 0 {
                    let b = (at - used) as u64;
                    r.bytes += b;
                    r.offset += b;
                    used = at;
                    if r.asm.count_scalars(k) == Step::Done {
                        self.message_done(d, out);
                        break;
                    }
                    continue;
                }
            }
            let (t, k) = match fast_bulk(&data[used..], lim.max_bulk) {
                Some((body, k)) => (
                    Token::Blob {
                        kind: BlobKind::Bulk,
                        body,
                    },
                    k,
                ),
                None => match parse_token(&data[used..], &lim) {
                    Ok(Parsed::Done(t, k)) => (t, k),
                    _ => break,
                },
            };
            if !is_scalar(&t)
                || (req
                    && !(matches!(
                        t,
                        Token::Blob {
                            kind: BlobKind::Bulk,
                            ..
                        }
                    ) && r.asm.depth() == 1
                        && r.asm.in_top_array()))
            {
                break;
            }
            // A scalar is either taken whole or rejected without side effects.
            let step = r.asm.token(&t);
            if !matches!(step, Ok(Step::More | Step::Done)) {
                debug_assert!(step.is_err(), "scalars are never skipped");
                break;
            }
            r.bytes += k as u64;
            r.offset += k as u64;
            used += k;
            if step == Ok(Step::Done) {
                self.message_done(d, out);
                break;
            }
        }
        used
    }

    /// Fast path: a reply that is one scalar, or a flat aggregate of scalars, all present in
    /// `data`, is framed and kept straight from the slice, producing the same value the
    /// token-by-token assembler would. Anything else (`None`) takes the general path.
    fn whole_reply(&mut self, data: &[u8], out: &mut dyn EventSink) -> Option<usize> {
        /// Longer aggregates take the general path rather than being scanned twice.
        const MAX_ELEMENTS: u64 = 1 << 16;
        let lim = self.cfg.limits;
        let keep = self.rd[S2C.index()].asm.keep();
        let mut truncated = Vec::new();
        let (item, at) = match parse_token(data, &lim) {
            Ok(Parsed::Done(tok, n)) => match tok {
                Token::Aggregate {
                    kind: kind @ (AggKind::Array | AggKind::Set | AggKind::Push | AggKind::Map),
                    len: Some(len),
                } if len > 0 => {
                    let count = kind.elements(len);
                    if count > MAX_ELEMENTS {
                        return None;
                    }
                    // As the assembler: the first `cap` elements are kept.
                    let cap = keep.top_items.min(keep.nodes);
                    let mut items = Vec::with_capacity(cap.min(count as usize));
                    let mut at = n;
                    for _ in 0..count {
                        let (t, n) = match fast_bulk(&data[at..], lim.max_bulk) {
                            Some((body, n)) => (
                                Token::Blob {
                                    kind: BlobKind::Bulk,
                                    body,
                                },
                                n,
                            ),
                            None => match parse_token(&data[at..], &lim) {
                                Ok(Parsed::Done(t, n)) => (t, n),
                                _ => return None,
                            },
                        };
                        at += n;
                        if items.len() < cap {
                            items.push(scalar_item(&t, keep.str_bytes, &mut truncated)?);
                        } else if !is_scalar(&t) {
                            return None;
                        }
                    }
                    (Item::Agg { kind, items, count }, at)
                }
                t => (scalar_item(&t, keep.str_bytes, &mut truncated)?, n),
            },
            _ => return None,
        };
        let r = &mut self.rd[S2C.index()];
        r.carry_blob = None;
        r.offset += at as u64;
        r.asm.add_truncated(&truncated);
        let msg = Msg {
            item,
            attrs: None,
            start: r.start.take().unwrap_or(self.ts),
            end: self.ts,
            bytes: std::mem::take(&mut r.bytes) + at as u64,
            notes: std::mem::take(&mut r.notes),
            truncated: r.asm.take_truncated(),
            gap: std::mem::take(&mut r.gap),
        };
        self.on_reply(msg, out);
        Some(at)
    }

    /// An inline command (or a keepalive newline).
    fn inline(&mut self, d: Direction, data: &[u8], out: &mut dyn EventSink) -> usize {
        let ts = self.ts;
        let r = &mut self.rd[d.index()];
        match parse_inline(data, &self.cfg.limits) {
            Ok(Parsed::Done(line, n)) => {
                r.offset += n as u64;
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    r.start = None;
                    return n;
                }
                let (args, bad_quotes) = match split_inline(line) {
                    Some(a) => (a, false),
                    // redis answers with a protocol error: still a request, split on blanks.
                    None => (
                        line.split(|b| b.is_ascii_whitespace())
                            .filter(|w| !w.is_empty())
                            .map(<[u8]>::to_vec)
                            .collect(),
                        true,
                    ),
                };
                if bad_quotes {
                    push_note(
                        &mut r.notes,
                        Note::Text {
                            text: "inline command with unbalanced quotes".into(),
                        },
                    );
                }
                let keep = self.cfg.max_arg_bytes;
                let count = args.len() as u64;
                let items = args
                    .into_iter()
                    .take(self.cfg.max_args)
                    .map(|a| Item::Str {
                        kind: StrKind::Bulk,
                        len: a.len() as u64,
                        data: a[..a.len().min(keep)].to_vec(),
                        gap: false,
                    })
                    .collect::<Vec<_>>();
                let truncated = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Str { data, len, .. } if (data.len() as u64) < *len => Some(*len),
                        _ => None,
                    })
                    .collect();
                let msg = Msg {
                    item: Item::Agg {
                        kind: AggKind::Array,
                        items,
                        count,
                    },
                    attrs: None,
                    start: r.start.take().unwrap_or(self.arrival),
                    end: ts,
                    bytes: n as u64,
                    notes: std::mem::take(&mut r.notes),
                    truncated,
                    gap: std::mem::take(&mut r.gap),
                };
                self.dispatch(d, msg, out);
                n
            }
            Ok(Parsed::Incomplete(_)) => {
                if r.start.is_none() {
                    r.start = Some(self.arrival);
                }
                0
            }
            Err(e) => {
                if let (RespError::LineTooLong { limit, .. }, true) =
                    (&e, d == C2S && !self.replicating)
                {
                    // An oversize inline request is still a request: the server answers it
                    // (with an error), so it takes a place in the queue, keeping its prefix;
                    // the rest of its line is then skipped as a framing error.
                    let limit = *limit;
                    let prefix = &data[..data.len().min(limit)];
                    let keep = self.cfg.max_arg_bytes;
                    let words: Vec<&[u8]> = prefix
                        .split(|b| b.is_ascii_whitespace())
                        .filter(|w| !w.is_empty())
                        .collect();
                    let items: Vec<Item> = words
                        .iter()
                        .take(self.cfg.max_args)
                        .map(|a| Item::Str {
                            kind: StrKind::Bulk,
                            len: a.len() as u64,
                            data: a[..a.len().min(keep)].to_vec(),
                            gap: false,
                        })
                        .collect();
                    let mut notes = std::mem::take(&mut r.notes);
                    push_note(
                        &mut notes,
                        Note::Truncated {
                            field: "inline",
                            len: prefix.len() as u64,
                        },
                    );
                    let msg = Msg {
                        item: Item::Agg {
                            kind: AggKind::Array,
                            count: words.len() as u64,
                            items,
                        },
                        attrs: None,
                        start: r.start.take().unwrap_or(self.arrival),
                        end: ts,
                        bytes: prefix.len() as u64,
                        notes,
                        truncated: Vec::new(),
                        gap: true,
                    };
                    self.dispatch(d, msg, out);
                } else {
                    r.start = None;
                }
                self.framing_error(d, e.to_string(), out);
                // Consumed nothing; the desync scan takes it from here.
                self.step(d, data, out)
            }
        }
    }

    fn take_msg(&mut self, d: Direction, item: Option<Item>) -> Option<Msg> {
        let ts = self.ts;
        let r = &mut self.rd[d.index()];
        let attrs = None;
        let item = item?;
        Some(Msg {
            item,
            attrs,
            start: r.start.take().unwrap_or(ts),
            end: ts,
            bytes: std::mem::take(&mut r.bytes),
            notes: std::mem::take(&mut r.notes),
            truncated: r.asm.take_truncated(),
            gap: std::mem::take(&mut r.gap),
        })
    }

    fn message_done(&mut self, d: Direction, out: &mut dyn EventSink) {
        let r = &mut self.rd[d.index()];
        let Some((item, attrs)) = r.asm.take() else {
            return;
        };
        let truncated = r.asm.take_truncated();
        let msg = Msg {
            item,
            attrs,
            start: r.start.take().unwrap_or(self.ts),
            end: self.ts,
            bytes: std::mem::take(&mut r.bytes),
            notes: std::mem::take(&mut r.notes),
            truncated,
            gap: std::mem::take(&mut r.gap),
        };
        self.dispatch(d, msg, out);
    }

    fn dispatch(&mut self, d: Direction, msg: Msg, out: &mut dyn EventSink) {
        if d == C2S {
            self.on_request(msg, false, out);
        } else {
            self.on_reply(msg, out);
        }
    }

    /// The session lost the boundary in `d` (gap, framing error, overflow).
    /// `carried`: bytes of an unfinished message were dropped from the carry-over buffer.
    fn lose_sync(
        &mut self,
        d: Direction,
        loss: Loss,
        include_start: bool,
        carried: bool,
        out: &mut dyn EventSink,
    ) {
        let i = d.index();
        let partial = {
            let r = &mut self.rd[i];
            r.carry_blob = None;
            let had = r.in_message();
            let mut p = r.asm.take_partial();
            let inline_or_first_token = carried && r.start.is_some();
            if p.is_none() && inline_or_first_token {
                // Only the first token had started: the message exists, its content is lost.
                p = Some(if d == C2S {
                    Item::Agg {
                        kind: AggKind::Array,
                        items: Vec::new(),
                        count: 0,
                    }
                } else {
                    Item::Null
                });
            }
            if !had && !inline_or_first_token {
                r.start = None;
                r.bytes = 0;
            }
            p
        };
        let was_desync = matches!(self.rd[i].mode, Mode::Desync { .. });
        let rdb = matches!(
            self.rd[i].mode,
            Mode::RdbLen { .. } | Mode::RdbEof { .. } | Mode::RdbWait
        );
        self.rd[i].set_mode(
            Mode::Desync {
                include_start,
                skipped: 0,
                framing: !matches!(loss, Loss::Gap(_)),
            },
            "lost the message boundary",
        );
        if rdb {
            // The rest of the payload and the command stream follow.
            self.replicating = true;
        }
        let note = match loss {
            Loss::Gap(bytes) => Note::Gap {
                direction: d,
                bytes,
            },
            Loss::Framing => Note::ParseError {
                direction: d,
                skipped_bytes: 0,
            },
            Loss::Overflow(n) => Note::ParseError {
                direction: d,
                skipped_bytes: n,
            },
        };
        let gap = match loss {
            Loss::Gap(g) => g,
            Loss::Overflow(n) => Some(n),
            // A framing error loses no request: the bytes that did not parse are either the
            // request just reported (partial) or skipped and noted; no marker is queued for it
            // (a marker per error grew the queue with every error).
            Loss::Framing => None,
        };
        let mut msg = self.take_msg(d, partial);
        if let Some(m) = &mut msg {
            m.gap = true;
            push_note(&mut m.notes, note.clone());
        }
        if self.replicating {
            return;
        }
        if d == C2S {
            if let Some(m) = msg {
                self.on_request(m, false, out);
            }
            if loss != Loss::Framing && (gap.is_some() || !was_desync) {
                match self.pending.back_mut() {
                    Some(Slot::Gap(b)) => *b = b.zip(gap).map(|(x, y)| x + y),
                    _ => {
                        self.make_room(out);
                        self.pending.push_back(Slot::Gap(gap));
                    }
                }
            }
        } else {
            if let Some(m) = msg {
                self.partial_reply(m, out);
            }
            self.flush_pending(Some(note.clone()), out);
            // Which replies were lost is unknown: those owed to requests reported early too.
            self.evicted_awaiting = 0;
            self.reply_gap_note = Some(note);
        }
    }

    /// A reply cut short: it belongs to the oldest request expecting one.
    fn partial_reply(&mut self, m: Msg, out: &mut dyn EventSink) {
        self.drain_noreply(out);
        if let Some(Slot::Req(_)) = self.pending.front() {
            if let Some(Slot::Req(p)) = self.pending.pop_front() {
                self.complete(p, m, out);
            }
        }
    }

    /// Report every pending request as unanswered (with `note`).
    fn flush_pending(&mut self, note: Option<Note>, out: &mut dyn EventSink) {
        while let Some(s) = self.pending.pop_front() {
            if let Slot::Req(mut p) = s {
                if !p.confirms.is_empty() {
                    self.complete_confirms(p, out);
                    continue;
                }
                if let Expect::NoReply(why) = p.expect {
                    push_note(&mut p.tx.notes, Note::Text { text: why.into() });
                } else if let Some(n) = &note {
                    push_note(&mut p.tx.notes, n.clone());
                }
                if p.partial {
                    p.tx.status = Status::Partial;
                }
                out.transaction(&mut p.tx);
            }
        }
        self.marker_note = None;
    }

    fn rdb_done(&mut self, len: u64, out: &mut dyn EventSink) {
        self.rd[S2C.index()].set_mode(Mode::Normal, "RDB payload done");
        self.replicating = true;
        let sync_front = self
            .front_expecting()
            .is_some_and(|p| p.special == Special::Sync);
        if sync_front {
            self.drain_noreply(out);
            if let Some(Slot::Req(mut p)) = self.pending.pop_front() {
                p.tx.detail.response = Some(ResponseDetail {
                    kind: "rdb",
                    value: Item::Null,
                    len: Some(len),
                    attributes: None,
                    error: None,
                });
                p.tx.response_bytes = len;
                p.tx.status = Status::Ok;
                p.tx.complete_at(self.ts);
                out.transaction(&mut p.tx);
            }
        } else {
            self.message(
                S2C,
                KIND_REPLICATION,
                format!("RDB payload ({len} bytes)"),
                RdbTransfer { kind: "rdb", len },
                self.ts,
                out,
            );
        }
        // Whatever else was queued on a replication link gets no reply now.
        self.flush_pending(None, out);
    }

    fn on_request(&mut self, mut m: Msg, closing: bool, out: &mut dyn EventSink) {
        let item = std::mem::replace(&mut m.item, Item::Null);
        let wait = budget::wait_of_item(&item);
        let cmd: Command = analyse(item, &self.render);
        self.on_command(cmd, m, wait, closing, out);
    }

    /// A request, analysed (`m.item` is not used).
    fn on_command(
        &mut self,
        cmd: Command,
        m: Msg,
        wait: Wait,
        closing: bool,
        out: &mut dyn EventSink,
    ) {
        if self.replicating || cmd.special == Special::ReplconfAck {
            self.replicating = true;
            let detail = ReplicationCommand {
                command: cmd.name,
                request: cmd.request,
            };
            self.message(C2S, KIND_REPLICATION, cmd.query, detail, m.start, out);
            return;
        }
        let partial = m.gap || cmd.gap;
        // What the server will send back, decided by the state before this request.
        let expect = match (self.reply_mode, cmd.special) {
            (_, Special::ClientReply(ReplyArg::On)) => {
                self.reply_mode = ReplyMode::On;
                Expect::One
            }
            (ReplyMode::Off, Special::ClientReply(_)) | (ReplyMode::Off, _) => {
                Expect::NoReply("no reply expected: CLIENT REPLY OFF")
            }
            (_, Special::ClientReply(ReplyArg::Off)) => {
                self.reply_mode = ReplyMode::Off;
                Expect::NoReply("no reply expected: CLIENT REPLY OFF")
            }
            (_, Special::ClientReply(ReplyArg::Skip)) => {
                self.reply_mode = ReplyMode::SkipNext;
                Expect::NoReply("no reply expected: CLIENT REPLY SKIP")
            }
            (ReplyMode::SkipNext, _) => {
                self.reply_mode = ReplyMode::On;
                Expect::NoReply("no reply expected: CLIENT REPLY SKIP")
            }
            (ReplyMode::On, Special::Sub(kind)) if !self.in_multi => {
                if cmd.argc > 0 {
                    Expect::Confirm {
                        kind,
                        left: Some(cmd.argc),
                    }
                } else if kind.ends_with("unsubscribe") {
                    Expect::Confirm { kind, left: None }
                } else {
                    Expect::One
                }
            }
            _ => Expect::One,
        };
        match cmd.special {
            Special::Multi => self.in_multi = true,
            Special::Exec | Special::Discard => self.in_multi = false,
            Special::Reset => {
                self.in_multi = false;
                self.reply_mode = ReplyMode::On;
            }
            _ => {}
        }
        let queued = self.in_multi && cmd.special != Special::Multi;
        let _ = closing;
        self.make_room(out);
        // Built in its queue slot: a transaction is large, moving it around costs memcpys.
        self.pending.push_back(Slot::Req(Pending {
            tx: Transaction::new(PROTOCOL, &self.conn, m.start, RespDetail::default()),
            special: cmd.special,
            expect,
            confirms: Vec::new(),
            partial,
            wait,
            cost: 0,
        }));
        if let Some(Slot::Req(p)) = self.pending.back_mut() {
            let tx = &mut p.tx;
            tx.command = cmd.name;
            tx.query = cmd.query;
            tx.detail.request = cmd.request;
            tx.request_bytes = m.bytes;
            tx.end_ts = m.end.max(m.start);
            tx.notes = m.notes;
            for &len in &cmd.truncated {
                push_note(&mut tx.notes, Note::Truncated { field: "arg", len });
            }
            if queued {
                push_note(
                    &mut tx.notes,
                    Note::Text {
                        text: "queued in MULTI".into(),
                    },
                );
            }
        }
        self.pending.recost_back();
        self.drain_noreply(out);
    }

    /// Keep the queue below `max_pending` entries (requests and lost-request markers alike):
    /// the oldest request is reported before its reply, with a note; the oldest marker is
    /// dropped (a reply it would have explained is then reported without that note).
    fn make_room(&mut self, out: &mut dyn EventSink) {
        while self.pending.len() >= self.cfg.max_pending.max(1) {
            match self.pending.pop_front() {
                Some(Slot::Req(mut old)) => {
                    if !matches!(old.expect, Expect::NoReply(_)) {
                        self.evicted_awaiting += 1;
                    }
                    push_note(
                        &mut old.tx.notes,
                        Note::Text {
                            text: format!(
                                "more than {} requests pending: reported before its reply",
                                self.cfg.max_pending
                            ),
                        },
                    );
                    out.transaction(&mut old.tx);
                }
                Some(Slot::Gap(_)) => {}
                None => break,
            }
        }
    }

    /// Emit requests at the front of the queue that will get no reply.
    fn drain_noreply(&mut self, out: &mut dyn EventSink) {
        while let Some(Slot::Req(p)) = self.pending.front() {
            let Expect::NoReply(why) = p.expect else {
                return;
            };
            if let Some(Slot::Req(mut p)) = self.pending.pop_front() {
                push_note(&mut p.tx.notes, Note::Text { text: why.into() });
                if p.partial {
                    p.tx.status = Status::Partial;
                }
                out.transaction(&mut p.tx);
            }
        }
    }

    fn on_reply(&mut self, m: Msg, out: &mut dyn EventSink) {
        self.replies += 1;
        if self.replicating {
            let cmd = analyse(m.item, &self.render);
            let detail = ReplicationCommand {
                command: cmd.name,
                request: cmd.request,
            };
            self.message(S2C, KIND_REPLICATION, cmd.query, detail, m.start, out);
            return;
        }
        let conf = confirmation(&m.item);
        if let Some((kind, n)) = conf {
            if kind == "ssubscribe" || kind == "sunsubscribe" {
                self.ssubs = n;
            } else {
                self.subs = n;
            }
        }
        let front_confirm = matches!(
            (self.front_expecting().map(|p| p.expect), conf),
            (Some(Expect::Confirm { kind, .. }), Some((k, _))) if kind == k
        );
        let nothing_expected = self.front_expecting().is_none();
        if nothing_expected && (!self.client_seen || self.client_lost) {
            // No request to pair with (the client side is not captured): the reply alone still
            // says what was asked. Confirmations are replies (RESP3 sends them as pushes), and a
            // PSYNC answer starts replication as it would with its request.
            let psync = match &m.item {
                Item::Str {
                    kind: StrKind::Simple,
                    data,
                    ..
                } if data.starts_with(b"FULLRESYNC") => Some(true),
                Item::Str {
                    kind: StrKind::Simple,
                    data,
                    ..
                } if data.starts_with(b"CONTINUE") => Some(false),
                _ => None,
            };
            if conf.is_some() || psync.is_some() {
                self.orphan(m, None, out);
                match psync {
                    Some(true) => self.rd[S2C.index()].set_mode(Mode::RdbWait, "FULLRESYNC"),
                    Some(false) => self.replicating = true,
                    None => {}
                }
                return;
            }
        }
        if matches!(
            m.item,
            Item::Agg {
                kind: AggKind::Push,
                ..
            }
        ) && !front_confirm
        {
            self.push_message(&m, out);
            return;
        }
        if let Item::Str {
            kind: StrKind::Simple,
            data,
            ..
        } = &m.item
        {
            if self.monitoring || nothing_expected {
                if let Some(line) = MonitorLine::parse(data) {
                    let mut s = String::new();
                    item_line(&m.item, &mut s, self.cfg.max_query);
                    self.message(S2C, KIND_MONITOR, s, line, m.start, out);
                    return;
                }
            }
        }
        if is_delivery(&m.item) && (self.subs > 0 || self.ssubs > 0 || nothing_expected) {
            self.push_message(&m, out);
            return;
        }
        if self.evicted_awaiting > 0 {
            // The reply to a request reported before it came.
            self.evicted_awaiting -= 1;
            self.late_replies += 1;
            return;
        }
        self.pair(m, out);
    }

    fn push_message(&self, m: &Msg, out: &mut dyn EventSink) {
        let mut s = String::new();
        item_line(&m.item, &mut s, self.cfg.max_query);
        if !self.full {
            return;
        }
        let detail = response_detail(m);
        self.message(S2C, KIND_PUSH, s, detail, m.start, out);
    }

    fn pair(&mut self, m: Msg, out: &mut dyn EventSink) {
        loop {
            self.drain_noreply(out);
            let after_marker = self.pending.iter().skip(1).any(|s| s.expects_reply());
            match self.pending.front_mut() {
                None => {
                    self.orphan(m, None, out);
                    return;
                }
                Some(Slot::Gap(bytes)) => {
                    let note = Note::Gap {
                        direction: C2S,
                        bytes: *bytes,
                    };
                    if after_marker {
                        // The request queued after the lost ones takes the reply.
                        self.pending.pop_front();
                        self.marker_note = Some(note);
                        continue;
                    }
                    self.orphan(m, Some(note), out);
                    return;
                }
                Some(Slot::Req(p)) => {
                    if let Expect::Confirm { kind, left } = p.expect {
                        match confirmation(&m.item) {
                            Some((k, n)) if k == kind => {
                                p.confirms.push(if self.full {
                                    m.item.clone()
                                } else {
                                    Item::Null
                                });
                                p.tx.response_bytes += m.bytes;
                                p.tx.complete_at(m.end);
                                let left = left.map(|l| l.saturating_sub(1));
                                p.expect = Expect::Confirm { kind, left };
                                let done = left == Some(0) || (left.is_none() && n == 0);
                                self.pending.recost_front();
                                if done {
                                    if let Some(Slot::Req(p)) = self.pending.pop_front() {
                                        self.complete_confirms(p, out);
                                    }
                                }
                                return;
                            }
                            _ if !p.confirms.is_empty() => {
                                if let Some(Slot::Req(p)) = self.pending.pop_front() {
                                    self.complete_confirms(p, out);
                                }
                                continue;
                            }
                            _ => {}
                        }
                    }
                    if let Some(Slot::Req(p)) = self.pending.pop_front() {
                        self.complete(p, m, out);
                    }
                    return;
                }
            }
        }
    }

    /// The server is not speaking RESP: report why, drop the requests read so far (they were
    /// not RESP either) and detach; the engine counts what follows as undissected.
    fn detach_not_resp(&mut self, why: String, out: &mut dyn EventSink) -> Flow {
        let dropped = self
            .pending
            .iter()
            .filter(|s| matches!(s, Slot::Req(_)))
            .count();
        self.pending.clear();
        let off = self.rd[S2C.index()].offset;
        self.anomaly(
            S2C,
            off,
            format!("{why}; {dropped} request(s) read as RESP dropped"),
            out,
        );
        Flow::Detach
    }

    fn orphan(&mut self, m: Msg, note: Option<Note>, out: &mut dyn EventSink) {
        let mut tx = Transaction::new(PROTOCOL, &self.conn, m.start, RespDetail::default());
        tx.status = Status::NoRequest;
        tx.response_bytes = m.bytes;
        if self.full {
            tx.detail.response = Some(response_detail(&m));
        }
        if m.item.is_error() {
            tx.error = Some(crate::summary::bytes_json(
                m.item.str_bytes().unwrap_or_default(),
            ));
        }
        tx.end_ts = m.end.max(m.start);
        tx.notes = m.notes;
        if let Some(n) = note.or_else(|| self.reply_gap_note.clone()) {
            push_note(&mut tx.notes, n);
        }
        if let Some(ty) = m.item.unknown_type() {
            push_note(&mut tx.notes, unknown_reply_note(ty));
        }
        out.transaction(&mut tx);
    }

    fn complete_confirms(&mut self, mut p: Pending, out: &mut dyn EventSink) {
        let n = p.confirms.len();
        p.tx.detail.response = Some(ResponseDetail {
            kind: "confirmations",
            value: Item::Agg {
                kind: AggKind::Array,
                items: std::mem::take(&mut p.confirms),
                count: n as u64,
            },
            len: Some(n as u64),
            attributes: None,
            error: None,
        });
        p.tx.status = if p.partial {
            Status::Partial
        } else {
            Status::Ok
        };
        out.transaction(&mut p.tx);
    }

    fn complete(&mut self, mut p: Pending, mut m: Msg, out: &mut dyn EventSink) {
        let tx = &mut p.tx;
        let is_error = m.item.is_error();
        let unknown = m.item.unknown_type();
        // What pairing needs from the reply, before its value moves into the JSON.
        let psync = match m.item.str_bytes() {
            Some(s) if s.starts_with(b"FULLRESYNC") => Some(true),
            Some(s) if s.starts_with(b"CONTINUE") => Some(false),
            _ => None,
        };
        let error =
            is_error.then(|| crate::summary::bytes_json(m.item.str_bytes().unwrap_or_default()));
        if self.full {
            tx.detail.response = Some(response_parts(
                std::mem::replace(&mut m.item, Item::Null),
                m.attrs.take(),
            ));
        }
        tx.response_bytes += m.bytes;
        tx.complete_at(m.end);
        for n in m.notes.drain(..) {
            push_note(&mut tx.notes, n);
        }
        for &len in &m.truncated {
            push_note(
                &mut tx.notes,
                Note::Truncated {
                    field: "value",
                    len,
                },
            );
        }
        if let Some(n) = self.marker_note.take() {
            push_note(&mut tx.notes, n);
        }
        self.reply_gap_note = None;
        if is_error {
            tx.status = Status::Error;
            tx.error = error;
        } else if let Some(ty) = unknown {
            // Not a RESP value: its outcome is unknown, never `ok`.
            tx.status = Status::Partial;
            push_note(
                &mut tx.notes,
                Note::ParseError {
                    direction: S2C,
                    skipped_bytes: 0,
                },
            );
            push_note(&mut tx.notes, unknown_reply_note(ty));
        } else if p.partial || m.gap {
            tx.status = Status::Partial;
        } else {
            tx.status = Status::Ok;
        }
        let ok = tx.status != Status::Error;
        match p.special {
            Special::Monitor if ok => self.monitoring = true,
            Special::Reset if ok => {
                self.monitoring = false;
                self.subs = 0;
                self.ssubs = 0;
            }
            Special::Psync if ok => match psync {
                Some(true) => {
                    self.rd[S2C.index()].set_mode(Mode::RdbWait, "FULLRESYNC");
                }
                Some(false) => self.replicating = true,
                None => {}
            },
            _ => {}
        }
        out.transaction(&mut p.tx);
    }
}

#[cfg(test)]
mod tests;
