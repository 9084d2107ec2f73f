//! Per-connection SMTP state: framing both directions, pairing replies with commands in FIFO
//! order, following DATA/BDAT bodies, AUTH exchanges and STARTTLS, and building the
//! per-message transactions.
//!
//! Design decisions (see also the crate documentation):
//! - Replies pair with pending commands strictly in order (RFC 2920 requires servers to answer
//!   in order), whether or not PIPELINING was advertised.
//! - Commands that make the client wait for the server (DATA before its `354`, AUTH before its
//!   `334`/final reply, STARTTLS before its `220`) pause client parsing: client bytes that arrive
//!   early are held (bounded) and parsed once the server has answered. This is how the session
//!   knows whether the next client bytes are a body, a SASL response or commands.
//! - The DATA transaction spans DATA → `354` → body → final reply: its response is the final
//!   reply with the `354` under `intermediate`, its latency runs to the final reply.
//! - A mail message transaction (`MESSAGE`) starts at the reply to MAIL and ends with the final
//!   reply to its DATA or its `BDAT … LAST` (or a failed BDAT), or is abandoned by RSET, QUIT,
//!   HELO/EHLO, a new MAIL, STARTTLS, a reply lost in a gap, or the end of the connection.

use crate::auth::{self, LoginPrompt, Mechanism};
use crate::body::{DataScanner, HeaderCollector};
use crate::event::{
    AuthDetail, BodyDetail, BodyKind, MessageDetail, ReplyDetail, RequestDetail, SmtpDetail,
};
use crate::parser::{self, Verb};
use crate::PROTOCOL;
use std::collections::VecDeque;
use wiresift_core::resync::{find_line_boundary, Start};
use wiresift_core::{
    push_note, ByteAccounting, CloseReason, ConnectionInfo, Direction, Duration, EventSink, Flow,
    GapInfo, Note, ParseAnomaly, ProtocolSession, SessionEvent, StreamBuf, StreamChunk, Timestamp,
    Transaction,
};

mod budget;
mod replies;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Memory and output budgets of one session. All finite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Longest line kept (command or reply line); longer lines keep this prefix, are skipped to
    /// their end and carry a `truncated` note. RFC 5321 allows 512 (commands) and 1000 (text).
    pub max_line: usize,
    /// Reply lines kept per reply (an EHLO reply rarely has more than 20).
    pub max_reply_lines: usize,
    /// Characters kept per reply line and in `query`.
    pub max_text: usize,
    /// Commands awaiting a reply; beyond this the oldest is reported as `no_response`.
    pub max_pending: usize,
    /// Bytes of the start of a message copied to look for headers.
    pub header_area: usize,
    /// Characters kept per header value.
    pub max_header_value: usize,
    /// Recipients kept per mail message (the rest are counted in `recipients_dropped`, and the
    /// message gets a `truncated` note with the full count): a peer sending 300 000 RCPT does
    /// not make the message grow.
    pub max_recipients: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            max_line: 4096,
            max_reply_lines: 64,
            max_text: 512,
            max_pending: 256,
            header_area: 16 * 1024,
            max_header_value: 998,
            max_recipients: 100,
        }
    }
}

/// What the client's next bytes are.
#[derive(Debug)]
enum ClientMode {
    /// Command lines.
    Commands,
    /// The next line is a SASL response to a `334` challenge.
    AuthLine,
    /// A DATA body, until the `.` line.
    Body(Box<DataScanner>),
    /// A BDAT chunk: this many bytes remain.
    Chunk { remaining: u64 },
    /// Looking for the next line that starts with a known verb.
    Resync { line_start: bool },
}

/// What the server's next bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerMode {
    /// Reply lines.
    Replies,
    /// Looking for the next line that starts with a reply code.
    Resync { line_start: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat { last: bool },
    Auth(Mechanism),
    Starttls,
    Rset,
    Quit,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the server.
    AwaitReply,
    /// AUTH: a `334` came, waiting for the client's response line.
    AwaitClient,
    /// DATA: the `354` came, the body is flowing (or its final reply is awaited).
    InBody,
    /// The client went on without waiting for this command's reply (more than a line's worth
    /// of client bytes arrived first): the reply is still paired in order, but it no longer
    /// decides how client bytes are read.
    GaveUp,
}

/// A command waiting for its reply.
#[derive(Debug)]
struct Pending {
    tx: Transaction<SmtpDetail>,
    kind: Kind,
    stage: Stage,
    req: RequestDetail,
    intermediate: Option<ReplyDetail>,
    challenges: u64,
    login_next: LoginPrompt,
    body: Option<BodyDetail>,
    /// Kept across a server-side gap that may have held its reply (see `on_gap`): it takes a
    /// reply only when it is the final reply to a body the client finished after the gap.
    reply_lost: bool,
    /// Since when it waits for the server (`None`: the client is sending: a body, a chunk, a
    /// SASL response): the request timeout runs from here.
    waiting_since: Option<Timestamp>,
}

impl Pending {
    /// Does this command make the client wait for the server before sending more?
    fn blocks_client(&self) -> bool {
        self.stage == Stage::AwaitReply
            && matches!(self.kind, Kind::Data | Kind::Auth(_) | Kind::Starttls)
    }
}

/// A mail message in progress (MAIL accepted or rejected, not yet finished).
#[derive(Debug)]
struct MailTx {
    tx: Transaction<SmtpDetail>,
    detail: MessageDetail,
}

/// A reply being assembled from its lines.
#[derive(Debug)]
struct ReplyBuilder {
    ts: Timestamp,
    code: u16,
    lines: Vec<Vec<u8>>,
    dropped: u64,
    bytes: u64,
    truncated: Option<u64>,
}

/// A line longer than the limit: its prefix and its length so far.
#[derive(Debug)]
struct Overlong {
    prefix: Vec<u8>,
    total: u64,
    ts: Timestamp,
    offset: u64,
}

/// Per-direction framing state.
#[derive(Debug, Default)]
struct Half {
    /// Capture time of the first byte still carried over in the [`StreamBuf`].
    carry_ts: Timestamp,
    /// Bytes of this direction consumed so far (stream offset of the next unit).
    offset: u64,
    /// An overlong line being skipped.
    overlong: Option<Overlong>,
    /// Notes for the next transaction started from this direction (gaps, resyncs).
    notes: Vec<Note>,
    /// Bytes skipped so far by the resynchronisation in progress.
    skipped: u64,
}

/// Body counters of the DATA body or BDAT chunk in flight.
#[derive(Debug, Default)]
struct BodyProgress {
    wire: u64,
    gap: u64,
    incomplete: bool,
}

/// Timestamps of the unit being parsed.
struct Clock {
    first_ts: Timestamp,
    ts: Timestamp,
    first: bool,
}

impl Clock {
    fn unit_start(&mut self) -> Timestamp {
        if std::mem::replace(&mut self.first, false) {
            self.first_ts
        } else {
            self.ts
        }
    }
}

/// Everything but the carry-over buffers (split so the parse closure can borrow both).
#[derive(Debug)]
struct State {
    conn: ConnectionInfo,
    cfg: SmtpConfig,
    half: [Half; 2],
    client: ClientMode,
    server: ServerMode,
    reply: Option<ReplyBuilder>,
    queue: VecDeque<Pending>,
    greeted: bool,
    current: Option<MailTx>,
    collector: Option<HeaderCollector>,
    bdat_headers_sent: bool,
    progress: BodyProgress,
    /// Events of a STARTTLS answered with `220`, until the next bytes show TLS (or not).
    tls_held: Option<Vec<SessionEvent>>,
    /// Client bytes are held until the server answers (see [`Pending::blocks_client`]).
    client_waiting: bool,
    detached: bool,
    /// Server bytes were delivered at least once.
    server_seen: bool,
    /// The server direction went into a gap and nothing of it came since.
    server_lost: bool,
    /// Byte counters (see [`budget::Acct`]).
    acct: budget::Acct,
    /// Replies still owed to commands reported before their reply (shed, timed out): the next
    /// replies are theirs, counted in `late_replies`, not paired with a later command.
    late_owed: u64,
    /// Replies that came for commands already reported.
    late_replies: u64,
    /// Capture time of the callback being handled.
    now: Timestamp,
}

/// One SMTP connection. Create through [`crate::SmtpPlugin`] or [`SmtpSession::new`].
#[derive(Debug)]
pub struct SmtpSession {
    bufs: [StreamBuf; 2],
    st: State,
}

impl SmtpSession {
    /// A session for `conn`.
    pub fn new(conn: &ConnectionInfo, cfg: SmtpConfig) -> Self {
        let limit = cfg.max_line * 2;
        let midstream = conn.midstream;
        let mut st = State {
            conn: *conn,
            cfg,
            half: Default::default(),
            client: ClientMode::Commands,
            server: ServerMode::Replies,
            reply: None,
            queue: VecDeque::new(),
            greeted: false,
            current: None,
            collector: None,
            bdat_headers_sent: false,
            progress: BodyProgress::default(),
            tls_held: None,
            client_waiting: false,
            detached: false,
            server_seen: false,
            server_lost: false,
            acct: Default::default(),
            late_owed: 0,
            late_replies: 0,
            now: conn.start,
        };
        if midstream {
            // Picked up mid-connection: no greeting to expect, and either side may be in the
            // middle of a line or a body.
            st.greeted = true;
            st.client = ClientMode::Resync { line_start: true };
            st.server = ServerMode::Resync { line_start: true };
        }
        SmtpSession {
            bufs: [StreamBuf::new(limit), StreamBuf::new(limit)],
            st,
        }
    }

    /// Bytes this session holds right now (carry-over, overlong prefixes, header area, the
    /// reply being assembled). Bounded by the configuration whatever the input.
    pub fn buffered_bytes(&self) -> usize {
        let st = &self.st;
        self.bufs[0].len()
            + self.bufs[1].len()
            + st.half
                .iter()
                .filter_map(|h| h.overlong.as_ref())
                .map(|o| o.prefix.capacity())
                .sum::<usize>()
            + st.collector.as_ref().map_or(0, |c| c.buffered())
            + st.reply
                .as_ref()
                .map_or(0, |r| r.lines.iter().map(Vec::capacity).sum())
    }

    /// Commands awaiting a reply.
    pub fn pending_commands(&self) -> usize {
        self.st.queue.len()
    }

    /// True once STARTTLS succeeded: the rest of the connection is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.st.detached
    }

    fn feed(&mut self, dir: Direction, ts: Timestamp, data: &[u8], out: &mut dyn EventSink) {
        self.st.now = ts;
        let d = dir.index();
        let was_empty = self.bufs[d].is_empty();
        let mut clock = Clock {
            first_ts: if was_empty {
                ts
            } else {
                self.st.half[d].carry_ts
            },
            ts,
            first: true,
        };
        let st = &mut self.st;
        let mut progressed = false;
        let [client_buf, server_buf] = &mut self.bufs;
        let res = if dir == C2S {
            client_buf.feed(data, |b| {
                let n = st.step(dir, b, &mut clock, out).min(b.len());
                st.acct.consumed += n as u64;
                st.half[d].offset += n as u64;
                progressed |= n > 0;
                n
            })
        } else {
            server_buf.feed(data, |b| {
                let n = st.step(dir, b, &mut clock, out).min(b.len());
                st.acct.consumed += n as u64;
                st.half[d].offset += n as u64;
                progressed |= n > 0;
                if st.client_waiting && !st.client_paused() {
                    // This reply released client bytes held back behind DATA / AUTH / STARTTLS:
                    // parse them now, before the next reply, so pairing stays in order.
                    st.client_waiting = false;
                    let ts = st.half[0].carry_ts;
                    let mut cc = Clock {
                        first_ts: ts,
                        ts,
                        first: true,
                    };
                    // Feeding no new bytes cannot overflow.
                    let _ = client_buf.feed(&[], |cb| {
                        let n = st.step(C2S, cb, &mut cc, out).min(cb.len());
                        st.acct.consumed += n as u64;
                        st.half[0].offset += n as u64;
                        n
                    });
                }
                n
            })
        };
        if let Err(e) = res {
            st.acct.dropped += e.have as u64;
            let off = st.half[d].offset;
            st.half[d].offset += e.have as u64;
            st.anomaly(
                dir,
                ts,
                Some(off),
                format!(
                    "{} bytes dropped: {} (the {} was waiting for the other side)",
                    e.have,
                    e,
                    if dir == C2S { "client" } else { "server" }
                ),
                out,
            );
            st.lose_sync(dir, Some(e.have as u64));
        }
        if !self.bufs[d].is_empty() && (was_empty || progressed) {
            self.st.half[d].carry_ts = ts;
        }
    }
}

impl ProtocolSession for SmtpSession {
    fn late_replies(&self) -> u64 {
        self.st.late_replies
    }

    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        self.st.acct.delivered += chunk.data.len() as u64;
        if self.st.detached {
            self.st.acct.undissected += chunk.data.len() as u64;
            return Flow::Detach;
        }
        if self.st.tls_held.is_some() {
            if chunk.data.is_empty() {
                return Flow::Continue;
            }
            self.st
                .tls_check(chunk.dir, Some(chunk.data), chunk.ts, out);
            if self.st.detached {
                self.st.acct.undissected += chunk.data.len() as u64;
                return Flow::Detach;
            }
        }
        if chunk.dir == S2C && !chunk.data.is_empty() {
            self.st.server_seen = true;
            self.st.server_lost = false;
        }
        self.feed(chunk.dir, chunk.ts, chunk.data, out);
        if self.st.detached {
            Flow::Detach
        } else {
            Flow::Continue
        }
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        if self.st.detached {
            return Flow::Detach;
        }
        if self.st.tls_held.is_some() {
            self.st.tls_check(gap.dir, None, gap.ts, out);
            return Flow::Detach;
        }
        self.st.now = gap.ts;
        let dropped = self.bufs[gap.dir.index()].clear() as u64;
        self.st.acct.dropped += dropped;
        self.st.half[gap.dir.index()].offset += dropped + gap.len.unwrap_or(0);
        if gap.dir == S2C {
            self.st.server_lost = true;
        }
        self.st.on_gap(gap, out);
        if self.st.detached {
            return Flow::Detach;
        }
        Flow::Continue
    }

    fn on_close(&mut self, ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        self.st.tls_check(Direction::ClientToServer, None, ts, out);
        self.st.close(ts, out);
        for b in &mut self.bufs {
            self.st.acct.undissected += b.clear() as u64;
        }
    }

    fn accounting(&self) -> Option<ByteAccounting> {
        let mut a = self.st.acct.accounting();
        a.held = (self.bufs[0].len() + self.bufs[1].len()) as u64;
        Some(a)
    }

    fn state_bytes(&self) -> usize {
        self.st.state_bytes()
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        self.st.shed(limit, ts, out)
    }

    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        let since = self.st.queue.front()?.waiting_since?;
        Some(since.saturating_add(request_timeout))
    }

    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        self.st.on_timer(now, request_timeout, out)
    }
}

fn lossy(b: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() <= max {
        s.into_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

impl State {
    fn set_client(&mut self, new: ClientMode, why: &'static str) {
        tracing::trace!(conn = %self.conn.id, old = ?self.client, new = ?new, why, "smtp client");
        self.client = new;
    }

    fn set_server(&mut self, new: ServerMode, why: &'static str) {
        tracing::trace!(conn = %self.conn.id, old = ?self.server, new = ?new, why, "smtp server");
        self.server = new;
    }

    fn anomaly(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        offset: Option<u64>,
        reason: String,
        out: &mut dyn EventSink,
    ) {
        out.anomaly(&ParseAnomaly {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            offset,
            reason,
        });
    }

    fn client_paused(&self) -> bool {
        self.queue.back().is_some_and(Pending::blocks_client)
    }

    /// Parse one unit (a line, body bytes, a resync skip) from `data`; return bytes consumed
    /// (0 = need more data).
    fn step(
        &mut self,
        dir: Direction,
        data: &[u8],
        clock: &mut Clock,
        out: &mut dyn EventSink,
    ) -> usize {
        if self.tls_held.is_some() {
            self.tls_check(dir, Some(data), clock.ts, out);
        }
        if self.detached {
            // TLS from here on: not ours to parse.
            self.acct.tls_consumed += data.len() as u64;
            return data.len();
        }
        let d = dir.index();
        if let Some(ov) = self.half[d].overlong.as_mut() {
            return match memchr::memchr(b'\n', data) {
                None => {
                    ov.total += data.len() as u64;
                    data.len()
                }
                Some(p) => {
                    ov.total += p as u64 + 1;
                    let ov = self.half[d]
                        .overlong
                        .take()
                        .unwrap_or_else(|| unreachable!());
                    let line = ov.prefix;
                    if dir == C2S {
                        self.client_line(&line, ov.total, Some(ov.total), ov.ts, ov.offset, out);
                    } else {
                        self.server_line(
                            &line,
                            ov.total,
                            Some(ov.total),
                            (ov.ts, clock.ts),
                            ov.offset,
                            out,
                        );
                    }
                    p + 1
                }
            };
        }
        if dir == S2C {
            self.server_step(data, clock, out)
        } else {
            self.client_step(data, clock, out)
        }
    }

    /// A complete line longer than the limit keeps only its prefix (the same prefix an overlong
    /// line split across chunks keeps, so the output does not depend on segmentation).
    fn bound_line<'d>(&self, line: &'d [u8]) -> (&'d [u8], Option<u64>) {
        if line.len() > self.cfg.max_line {
            (&line[..self.cfg.max_line], Some(line.len() as u64))
        } else {
            (line, None)
        }
    }

    /// Frame one line; handles overlong lines. Returns (line incl. terminator length) or 0.
    fn frame_line(&mut self, dir: Direction, data: &[u8], clock: &mut Clock) -> Option<usize> {
        match memchr::memchr(b'\n', data) {
            Some(p) => Some(p + 1),
            None if data.len() >= self.cfg.max_line => {
                let d = dir.index();
                let ts = clock.unit_start();
                self.half[d].overlong = Some(Overlong {
                    prefix: data[..self.cfg.max_line].to_vec(),
                    total: data.len() as u64,
                    ts,
                    offset: self.half[d].offset,
                });
                None
            }
            None => None,
        }
    }

    fn server_step(&mut self, data: &[u8], clock: &mut Clock, out: &mut dyn EventSink) -> usize {
        if let ServerMode::Resync { line_start } = self.server {
            return self.resync(S2C, data, line_start, clock, out);
        }
        match self.frame_line(S2C, data, clock) {
            Some(n) => {
                let ts = clock.unit_start();
                let off = self.half[1].offset;
                let (line, trunc) = self.bound_line(&data[..n]);
                self.server_line(line, n as u64, trunc, (ts, clock.ts), off, out);
                n
            }
            None if self.half[1].overlong.is_some() => data.len(),
            None => 0,
        }
    }

    fn client_step(&mut self, data: &[u8], clock: &mut Clock, out: &mut dyn EventSink) -> usize {
        match &mut self.client {
            ClientMode::Resync { line_start } => {
                let ls = *line_start;
                self.resync(C2S, data, ls, clock, out)
            }
            ClientMode::Body(scanner) => {
                let end = scanner.feed(data);
                let n = end.unwrap_or(data.len());
                let _ = clock.unit_start();
                if let Some(c) = self.collector.as_mut() {
                    c.feed(&data[..n]);
                }
                self.progress.wire += n as u64;
                if end.is_some() {
                    let ClientMode::Body(scanner) =
                        std::mem::replace(&mut self.client, ClientMode::Commands)
                    else {
                        unreachable!()
                    };
                    self.end_data_body(&scanner, false);
                    self.set_client(ClientMode::Commands, "end of data");
                }
                n
            }
            ClientMode::Chunk { remaining } => {
                let take = (*remaining).min(data.len() as u64);
                *remaining -= take;
                let done = *remaining == 0;
                let _ = clock.unit_start();
                let take = take as usize;
                if let Some(c) = self.collector.as_mut() {
                    c.feed(&data[..take]);
                }
                self.progress.wire += take as u64;
                if done {
                    self.end_chunk(false);
                    self.set_client(ClientMode::Commands, "end of chunk");
                }
                take
            }
            ClientMode::Commands | ClientMode::AuthLine => {
                if self.client_paused() && self.server_absent() {
                    // Nothing of the server to wait for: read on as the client behaves.
                    return match self.assume_client_went_on(data, clock, out) {
                        Some(n) => n,
                        None => self.client_step(data, clock, out),
                    };
                }
                if self.client_paused() {
                    if data.len() < self.cfg.max_line {
                        self.client_waiting = true;
                        return 0;
                    }
                    // The server's answer is overdue (lost, or never captured): stop holding
                    // client bytes and find the next command line in what was held.
                    if let Some(p) = self.queue.back_mut() {
                        p.stage = Stage::GaveUp;
                        push_note(
                            &mut p.tx.notes,
                            Note::Text {
                                text: "the client went on before the reply was seen".into(),
                            },
                        );
                    }
                    self.set_client(ClientMode::Resync { line_start: true }, "reply overdue");
                    return self.resync(C2S, data, true, clock, out);
                }
                match self.frame_line(C2S, data, clock) {
                    Some(n) => {
                        let ts = clock.unit_start();
                        let off = self.half[0].offset;
                        let (line, trunc) = self.bound_line(&data[..n]);
                        self.client_line(line, n as u64, trunc, ts, off, out);
                        n
                    }
                    None if self.half[0].overlong.is_some() => data.len(),
                    None => 0,
                }
            }
        }
    }

    /// No server bytes were captured (or the server direction is lost in a gap): a reply the
    /// client waits for will not be seen.
    fn server_absent(&self) -> bool {
        !self.server_seen || self.server_lost
    }

    /// The client sent more after a command that makes it wait (DATA, AUTH, STARTTLS), and the
    /// server side is absent: the client got the reply it waited for. Sets the client mode the
    /// client's bytes show; returns `Some(consumed)` when it consumed `data` itself (TLS), `None`
    /// to parse `data` in the new mode (0 consumed: need more data to tell).
    fn assume_client_went_on(
        &mut self,
        data: &[u8],
        clock: &mut Clock,
        out: &mut dyn EventSink,
    ) -> Option<usize> {
        let p = self.queue.back_mut()?;
        let line_known = memchr::memchr(b'\n', data).is_some();
        match p.kind {
            Kind::Data => {
                if !line_known && data.len() < self.cfg.max_line {
                    // The first line tells a body from a command (DATA refused).
                    self.client_waiting = true;
                    return Some(0);
                }
                if parser::looks_like_command(data) && !data.starts_with(b"From ") {
                    // A message starts with header fields, not with a command: the client
                    // went on with commands, so DATA was refused (`503`, `554`).
                    p.stage = Stage::GaveUp;
                    return None;
                }
                // DATA is followed by its body, up to the `.` line (RFC 5321 §4.1.1.4).
                p.stage = Stage::InBody;
                p.waiting_since = None;
                self.progress = BodyProgress::default();
                self.collector = Some(HeaderCollector::new(self.cfg.header_area, true));
                self.set_client(ClientMode::Body(Box::default()), "no server: body follows");
                None
            }
            Kind::Auth(_) | Kind::Starttls => {
                // A whole line (or enough bytes) is needed to tell a command from the rest.
                if !line_known && data.len() < self.cfg.max_line && !data.is_empty() {
                    let looks_tls = data[0] == 0x16 || data[0] == 0x80;
                    if !(p.kind == Kind::Starttls && looks_tls) {
                        self.client_waiting = true;
                        return Some(0);
                    }
                }
                if parser::looks_like_command(data) {
                    // The exchange is over (refused, or an initial response sufficed).
                    p.stage = Stage::GaveUp;
                    return None;
                }
                if let Kind::Auth(_) = p.kind {
                    // A SASL response line.
                    p.stage = Stage::AwaitClient;
                    p.waiting_since = None;
                    self.set_client(ClientMode::AuthLine, "no server: SASL response follows");
                    return None;
                }
                // STARTTLS followed by something that is not a command: the TLS handshake.
                push_note(&mut p.tx.notes, Note::Encrypted);
                let ts = clock.ts;
                while let Some(p) = self.queue.pop_front() {
                    self.finish(p, None, ts, out);
                }
                self.abandon("STARTTLS", ts, out);
                self.detached = true;
                self.acct.tls_consumed += data.len() as u64;
                Some(data.len())
            }
            _ => None,
        }
    }

    /// Skip to the next plausible line start (shared helper), keeping a possibly plausible tail.
    fn resync(
        &mut self,
        dir: Direction,
        data: &[u8],
        line_start: bool,
        clock: &mut Clock,
        out: &mut dyn EventSink,
    ) -> usize {
        let start = if line_start {
            Start::IncludeStart
        } else {
            Start::AfterNewline
        };
        let pred: fn(&[u8]) -> bool = if dir == C2S {
            parser::looks_like_command
        } else {
            parser::looks_like_reply
        };
        let d = dir.index();
        let _ = clock.unit_start();
        let skipped = match find_line_boundary(data, start, pred) {
            Some(k) => {
                self.note_resync(dir, k as u64);
                if dir == C2S {
                    self.set_client(ClientMode::Commands, "resynchronised");
                } else {
                    self.set_server(ServerMode::Replies, "resynchronised");
                }
                if k == 0 {
                    // Parse the line right away (a zero return would stop the driver).
                    return if dir == C2S {
                        self.client_step(data, clock, out)
                    } else {
                        self.server_step(data, clock, out)
                    };
                }
                self.acct.resync_skipped += k as u64;
                return k;
            }
            None => match memchr::memrchr(b'\n', data) {
                Some(i) => i + 1,
                None if line_start && data.len() < self.cfg.max_line => 0,
                None => data.len(),
            },
        };
        if skipped > 0 {
            let ls = data[skipped - 1] == b'\n';
            self.acct.resync_skipped += skipped as u64;
            self.half[d].skipped += skipped as u64;
            if dir == C2S {
                self.client = ClientMode::Resync { line_start: ls };
            } else {
                self.server = ServerMode::Resync { line_start: ls };
            }
        }
        skipped
    }

    fn note_resync(&mut self, dir: Direction, k: u64) {
        let h = &mut self.half[dir.index()];
        let skipped = std::mem::take(&mut h.skipped) + k;
        if skipped > 0 {
            push_note(
                &mut h.notes,
                Note::Resync {
                    direction: dir,
                    skipped_bytes: skipped,
                },
            );
        }
    }

    // ---- client lines ----

    fn client_line(
        &mut self,
        raw: &[u8],
        wire_len: u64,
        truncated: Option<u64>,
        ts: Timestamp,
        offset: u64,
        out: &mut dyn EventSink,
    ) {
        let line = parser::strip_cr(raw.strip_suffix(b"\n").unwrap_or(raw));
        if matches!(self.client, ClientMode::AuthLine) {
            if let (Some(len), Some(p)) = (truncated, self.queue.back_mut()) {
                // Only the prefix was looked at (for a user name).
                push_note(&mut p.tx.notes, Note::Truncated { field: "line", len });
            }
            self.auth_response(line, wire_len);
            self.set_client(ClientMode::Commands, "SASL response sent");
            return;
        }
        let mut withheld = false;
        let cmd = match parser::command_line(line) {
            Ok(c) => c,
            Err(e) => {
                withheld = auth::contains_credential_like(line);
                let reason = if withheld {
                    // A SASL response whose challenge we did not see: never echo it.
                    format!(
                        "smtp client line of {} bytes is not a command (content withheld: it could be a credential)",
                        line.len()
                    )
                } else {
                    e.to_string()
                };
                self.anomaly(C2S, ts, Some(offset), reason, out);
                if truncated.is_some() {
                    // Longer than any command: not one (nor worth a place in the queue).
                    return;
                }
                // The server answers it all the same (`500`, e.g. the lines a client sends
                // after its DATA was refused): a command with an unknown verb, its first word.
                let end = line
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .unwrap_or(line.len());
                parser::CommandLine {
                    verb: &line[..end.min(parser::MAX_VERB_LEN)],
                    known: None,
                    args: &[],
                }
            }
        };
        let mut verb_upper = String::from_utf8_lossy(cmd.verb).to_ascii_uppercase();
        if verb_upper.is_empty() {
            verb_upper = "UNKNOWN".into();
        }
        let mut tx = Transaction::new(PROTOCOL, &self.conn, ts, SmtpDetail::default());
        tx.request_bytes = wire_len;
        for n in std::mem::take(&mut self.half[0].notes) {
            push_note(&mut tx.notes, n);
        }
        if let Some(len) = truncated {
            push_note(&mut tx.notes, Note::Truncated { field: "line", len });
        }
        let mut req = RequestDetail::default();
        let mut query = lossy(line, self.cfg.max_text);
        let mut login_next = LoginPrompt::Unknown;
        let kind = match cmd.known {
            Some(Verb::Helo) | Some(Verb::Ehlo) => {
                if !cmd.args.is_empty() {
                    req.domain = Some(lossy(cmd.args, self.cfg.max_text));
                }
                if cmd.known == Some(Verb::Helo) {
                    Kind::Helo
                } else {
                    Kind::Ehlo
                }
            }
            Some(Verb::Mail) => {
                self.collector = None;
                self.bdat_headers_sent = false;
                if let Some(p) = parser::path_arg(cmd.args, b"FROM:") {
                    req.address = Some(lossy(p.address, self.cfg.max_text));
                    if !p.params.is_empty() {
                        req.params = Some(lossy(p.params, self.cfg.max_text));
                    }
                }
                Kind::Mail
            }
            Some(Verb::Rcpt) => {
                if let Some(p) = parser::path_arg(cmd.args, b"TO:") {
                    req.address = Some(lossy(p.address, self.cfg.max_text));
                    if !p.params.is_empty() {
                        req.params = Some(lossy(p.params, self.cfg.max_text));
                    }
                }
                Kind::Rcpt
            }
            Some(Verb::Data) => Kind::Data,
            Some(Verb::Bdat) => match parser::bdat_args(cmd.args) {
                Ok((size, last)) => {
                    req.chunk_size = Some(size);
                    req.last = last;
                    Kind::Bdat { last }
                }
                Err(e) => {
                    // The chunk length is unknown: its bytes cannot be skipped exactly.
                    self.anomaly(C2S, ts, Some(offset), e.to_string(), out);
                    self.set_client(ClientMode::Resync { line_start: true }, "bad BDAT");
                    Kind::Other
                }
            },
            Some(Verb::Rset) => Kind::Rset,
            Some(Verb::Quit) => Kind::Quit,
            Some(Verb::Starttls) => Kind::Starttls,
            Some(Verb::Auth) => {
                let mut words = cmd
                    .args
                    .split(|&b| b == b' ' || b == b'\t')
                    .filter(|w| !w.is_empty());
                let mech_name =
                    String::from_utf8_lossy(words.next().unwrap_or_default()).to_ascii_uppercase();
                let mech_name: String = mech_name.chars().take(64).collect();
                let initial = words.next();
                let mech = Mechanism::from_name(&mech_name);
                let mut a = AuthDetail {
                    mechanism: mech_name.clone(),
                    initial_response: initial.is_some(),
                    ..Default::default()
                };
                if let Some(ir) = initial {
                    a.user = match mech {
                        Mechanism::Plain => auth::plain_user(ir),
                        Mechanism::Login => auth::login_user(ir),
                        Mechanism::XOauth2 => auth::xoauth2_user(ir),
                        _ => None,
                    };
                    if mech == Mechanism::Login {
                        // `AUTH LOGIN <user>`: the next challenge asks for the password.
                        login_next = LoginPrompt::Password;
                    }
                    query = format!("AUTH {mech_name} (redacted)");
                } else if !mech_name.is_empty() {
                    query = format!("AUTH {mech_name}");
                } else {
                    query = "AUTH".into();
                }
                req.auth = Some(a);
                Kind::Auth(mech)
            }
            Some(Verb::Noop)
            | Some(Verb::Vrfy)
            | Some(Verb::Expn)
            | Some(Verb::Help)
            | Some(Verb::OtherKnown)
            | None => Kind::Other,
        };
        if withheld
            || (cmd.known.is_none() && cmd.args.is_empty() && auth::could_be_credential(line))
        {
            // Looks like a base64 SASL response (its challenge was lost), not a command.
            verb_upper = "UNKNOWN".into();
            query = "(withheld: could be a credential)".into();
        }
        tx.command = verb_upper;
        tx.query = query;
        let entry = Pending {
            tx,
            kind,
            stage: Stage::AwaitReply,
            req,
            intermediate: None,
            challenges: 0,
            login_next,
            body: None,
            reply_lost: false,
            waiting_since: Some(ts),
        };
        if self.queue.len() >= self.cfg.max_pending {
            if let Some(mut old) = self.queue.pop_front() {
                push_note(
                    &mut old.tx.notes,
                    Note::Text {
                        text: format!(
                        "more than {} commands awaiting replies: reply pairing gave up on this one",
                        self.cfg.max_pending
                    ),
                    },
                );
                self.finish(old, None, ts, out);
            }
        }
        self.queue.push_back(entry);
        if let Kind::Bdat { last } = kind {
            if self.collector.is_none() && !self.bdat_headers_sent {
                self.collector = Some(HeaderCollector::new(self.cfg.header_area, false));
            }
            self.progress = BodyProgress::default();
            let size = self
                .queue
                .back()
                .and_then(|p| p.req.chunk_size)
                .unwrap_or(0);
            if size == 0 {
                self.end_chunk(false);
                let _ = last;
            } else {
                if let Some(p) = self.queue.back_mut() {
                    // The client is sending the chunk: no reply is awaited yet.
                    p.waiting_since = None;
                }
                self.set_client(ClientMode::Chunk { remaining: size }, "BDAT chunk follows");
            }
        }
    }

    fn auth_response(&mut self, line: &[u8], wire_len: u64) {
        let Some(p) = self.queue.back_mut() else {
            return;
        };
        let Kind::Auth(mech) = p.kind else { return };
        p.tx.request_bytes += wire_len;
        p.stage = Stage::AwaitReply;
        p.waiting_since = Some(self.now);
        let Some(a) = p.req.auth.as_mut() else { return };
        a.responses += 1;
        if line == b"*" {
            a.cancelled = true;
            return;
        }
        if a.user.is_some() {
            return;
        }
        a.user = match mech {
            Mechanism::Plain => auth::plain_user(line),
            Mechanism::CramMd5 => auth::cram_user(line),
            Mechanism::XOauth2 => auth::xoauth2_user(line),
            Mechanism::Login => match p.login_next {
                LoginPrompt::User => auth::login_user(line),
                LoginPrompt::Unknown if a.responses == 1 && !a.initial_response => {
                    auth::login_user(line)
                }
                _ => None,
            },
            Mechanism::Other => None,
        };
    }

    /// The DATA body ended (or was cut off): counters and headers go to the DATA command.
    fn end_data_body(&mut self, scanner: &DataScanner, incomplete: bool) {
        let headers = self
            .collector
            .take()
            .map(|mut c| c.finish(self.cfg.max_header_value))
            .unwrap_or_default();
        let progress = std::mem::take(&mut self.progress);
        let bytes = if incomplete {
            scanner.wire_bytes.saturating_sub(scanner.stuffed_dots)
        } else {
            scanner.message_bytes()
        };
        let body = BodyDetail {
            kind: BodyKind::Data,
            bytes,
            chunks: None,
            gap_bytes: progress.gap,
            incomplete: incomplete || progress.incomplete,
            headers,
        };
        if let Some(p) = self.queue.back_mut() {
            if p.kind == Kind::Data && p.stage == Stage::InBody && p.body.is_none() {
                p.waiting_since = Some(self.now);
                p.tx.request_bytes += progress.wire;
                p.req.body_bytes = Some(body.bytes);
                p.body = Some(body);
            }
        }
    }

    /// A BDAT chunk ended (or was cut off).
    fn end_chunk(&mut self, incomplete: bool) {
        let progress = std::mem::take(&mut self.progress);
        let Some(p) = self.queue.back_mut() else {
            return;
        };
        let Kind::Bdat { last } = p.kind else { return };
        p.waiting_since = Some(self.now);
        let headers = match self.collector.as_mut() {
            Some(c) if c.is_done() || last || incomplete => {
                self.bdat_headers_sent = true;
                let h = c.finish(self.cfg.max_header_value);
                self.collector = None;
                h
            }
            _ => Default::default(),
        };
        p.tx.request_bytes += progress.wire;
        p.req.body_bytes = Some(progress.wire);
        p.body = Some(BodyDetail {
            kind: BodyKind::Bdat,
            bytes: progress.wire,
            chunks: Some(1),
            gap_bytes: progress.gap,
            incomplete: incomplete || progress.incomplete,
            headers,
        });
    }

    // ---- gaps and close ----

    /// Bytes were lost in `dir` (a gap, or a carry-over overflow). Resynchronisation treats the
    /// first byte after the loss as a line-start candidate: a gap ends at a segment boundary,
    /// and SMTP peers almost always send whole lines per segment; the verb / reply-code
    /// predicate is strict enough that a mid-line start is rejected.
    fn lose_sync(&mut self, dir: Direction, len: Option<u64>) {
        let d = dir.index();
        self.half[d].overlong = None;
        if dir == S2C {
            self.reply = None;
            self.set_server(ServerMode::Resync { line_start: true }, "bytes lost");
            return;
        }
        match &mut self.client {
            ClientMode::Body(scanner) => {
                // Only shortens the body: keep looking for its end.
                scanner.lost_sync();
                self.progress.gap += len.unwrap_or(0);
                self.progress.incomplete = true;
            }
            ClientMode::Chunk { remaining } => match len {
                Some(n) if n < *remaining => {
                    *remaining -= n;
                    self.progress.gap += n;
                    self.progress.incomplete = true;
                }
                Some(n) if n == *remaining => {
                    self.progress.gap += n;
                    self.progress.incomplete = true;
                    self.end_chunk(true);
                    self.set_client(ClientMode::Commands, "gap ended exactly with the chunk");
                }
                _ => {
                    self.progress.gap += len.map_or(0, |n| n.min(*remaining));
                    self.end_chunk(true);
                    self.set_client(
                        ClientMode::Resync { line_start: true },
                        "gap past chunk end",
                    );
                }
            },
            ClientMode::AuthLine => {
                if let Some(p) = self.queue.back_mut() {
                    if matches!(p.kind, Kind::Auth(_)) {
                        p.stage = Stage::AwaitReply;
                        p.waiting_since = Some(self.now);
                    }
                }
                self.set_client(ClientMode::Resync { line_start: true }, "bytes lost");
            }
            ClientMode::Commands | ClientMode::Resync { .. } => {
                self.set_client(ClientMode::Resync { line_start: true }, "bytes lost");
            }
        }
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) {
        let note = Note::Gap {
            direction: gap.dir,
            bytes: gap.len,
        };
        if gap.dir == C2S {
            match self.client {
                ClientMode::Body(_) | ClientMode::Chunk { .. } => {
                    if let Some(p) = self.queue.back_mut() {
                        push_note(&mut p.tx.notes, note);
                    }
                }
                _ => push_note(&mut self.half[0].notes, note),
            }
            self.lose_sync(C2S, gap.len);
            return;
        }
        // Server bytes lost: replies in the hole cannot be told apart from replies after it, so
        // every pending command is reported without a reply rather than risk mispairing.
        if self.reply.take().is_some() {
            self.anomaly(
                S2C,
                gap.ts,
                None,
                "reply cut short by a gap in the capture".into(),
                out,
            );
        }
        self.lose_sync(S2C, gap.len);
        // Which replies the gap held is unknown: those owed to commands reported early too.
        self.late_owed = 0;
        // A command the client waits on (DATA, AUTH, STARTTLS) stays: with the server's side
        // gone, the client's next bytes say how it went on (see `assume_client_went_on`).
        let waiting_on = if self.client_paused() {
            self.queue.pop_back()
        } else {
            None
        };
        while let Some(mut p) = self.queue.pop_front() {
            push_note(&mut p.tx.notes, note.clone());
            self.finish(p, None, gap.ts, out);
        }
        if let Some(mut p) = waiting_on {
            push_note(&mut p.tx.notes, note.clone());
            p.reply_lost = true;
            self.queue.push_back(p);
        }
        push_note(&mut self.half[1].notes, note);
    }

    fn close(&mut self, ts: Timestamp, out: &mut dyn EventSink) {
        if self.detached {
            return;
        }
        match std::mem::replace(&mut self.client, ClientMode::Commands) {
            ClientMode::Body(scanner) => self.end_data_body(&scanner, true),
            ClientMode::Chunk { .. } => self.end_chunk(true),
            _ => {}
        }
        if self.reply.take().is_some() {
            self.anomaly(
                S2C,
                ts,
                Some(self.half[1].offset),
                "connection ended inside a multi-line reply".into(),
                out,
            );
        }
        while let Some(p) = self.queue.pop_front() {
            self.finish(p, None, ts, out);
        }
        self.abandon("close", ts, out);
        self.detached = true;
    }
}
