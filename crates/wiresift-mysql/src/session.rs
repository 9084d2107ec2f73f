//! Per-connection state: the connection phase, command/response pairing, prepared statements.
//!
//! Each direction is a `Half`: bytes → (compressed layer) → packets. Packets go to the
//! `Logic`, which knows the phase (greeting, login, auth, commands) and, for the request at the
//! front of the pending queue, where in its response the server is.
//!
//! Resynchronisation (after a gap, or on a connection picked up mid-stream): the direction
//! drops what it held and looks, at the first byte delivered after the gap and then at every
//! later offset, for a plausible start of a message:
//! - client side: a packet header with sequence id 0 whose first payload byte is a known command;
//! - server side: a header with sequence id 1 whose payload starts like a response (OK, ERR, EOF,
//!   LOCAL INFILE or a column count);
//! - the packet must end exactly at the end of the data seen so far or be followed by another
//!   plausible header (the chain rule), which rules out almost all false starts;
//! - when the compression is not known (mid-stream), a compressed header (7 bytes: its
//!   uncompressed length 0 with a plausible packet inside, or a zlib / zstd stream header) is
//!   tried first and a plain header second; whichever matches first decides the compression
//!   of both directions. The EOF style needs no handshake: an EOF is the 5-byte 0xFE packet,
//!   every other 0xFE packet shorter than 0xFFFFFF ends a result set.
//!
//! What the gap did to pairing: a reply that arrives while nothing is pending is reported
//! `no_request` (with a gap note when the client side had a gap); a request whose reply was cut
//! by a server-side gap is reported `partial`; requests never answered are `no_response`.
//! On a connection whose server side has sent nothing at all, a new command means the previous
//! one will never be answered: it is reported `no_response` at once, with its full detail.

use crate::event::{MysqlDetail, Request, Response, ResultSet};
use crate::framing::{is_zlib_header, is_zstd_magic, Compression, Ev, Framer, Inflater, Packet};
use crate::params::{decode_block, Block, LongData, ParamError};
use crate::wire::{self, cap, parse_err, parse_ok, status, text, Command, Cur};
use crate::Config;
use std::collections::{BTreeMap, HashMap, VecDeque};
mod reply;
mod request;
pub(crate) mod resync;
#[cfg(test)]
mod tests;

use resync::find_start;
use wiresift_core::{
    push_note, ByteAccounting, CloseReason, ConnectionInfo, Detail, Direction, Duration, EventSink,
    Flow, GapInfo, Message, Note, ParseAnomaly, ProtocolSession, Status, StreamChunk, Timestamp,
    Transaction,
};

/// Plugin name used in events.
pub const PROTOCOL: &str = "mysql";

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

fn idx(d: Direction) -> usize {
    match d {
        C2S => 0,
        S2C => 1,
    }
}

/// One direction's framing.
struct Half {
    framer: Framer,
    inflater: Option<Inflater>,
    /// Looking for a message start; holds the bytes scanned so far.
    desync: Option<Vec<u8>>,
    /// Bytes delivered / skipped while out of sync (or dropped from a partial packet).
    delivered: u64,
    skipped: u64,
    /// Bytes handed to (and consumed by) the framing layer.
    fed: u64,
    /// Bytes of `fed` later dropped from a partial packet (counted in `skipped` or
    /// `undissected`).
    dropped: u64,
    /// Bytes not looked at: after a detach, or unparsed at close.
    undissected: u64,
}

impl Half {
    /// Bytes of a partial message held in the framing layer (wire bytes).
    fn framing_held(&self) -> u64 {
        match &self.inflater {
            Some(inf) => inf.partial(),
            None => self.framer.partial(),
        }
    }
    fn held(&self) -> u64 {
        self.framing_held() + self.desync.as_ref().map_or(0, |b| b.len() as u64)
    }
    /// Drop the partial message in the framing layer (a gap, a resync): counted as skipped.
    fn reset_framing(&mut self) {
        let n = self.drop_partial();
        self.skipped += n;
    }
    /// Forget the partial packet; returns its wire bytes (the caller counts them).
    fn drop_partial(&mut self) -> u64 {
        let inner = self.framer.reset();
        let n = match self.inflater.as_mut() {
            Some(inf) => inf.reset(),
            None => inner,
        };
        self.dropped += n;
        n
    }
    /// Install an inflater: a partial plain packet is dropped (counted as skipped).
    fn set_inflater(&mut self, inf: Option<Inflater>) {
        self.reset_framing();
        self.inflater = inf;
    }
    /// Give back buffers not needed between packets.
    fn shrink(&mut self) {
        self.framer.shrink();
        if let Some(inf) = self.inflater.as_mut() {
            inf.shrink();
        }
    }
    fn state_bytes(&self) -> usize {
        self.framer.buffered()
            + self.desync.as_ref().map_or(0, Vec::capacity)
            + self.inflater.as_ref().map_or(0, Inflater::buffered)
    }
}

/// Connection phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Login,
    Auth,
    Command,
    Replication,
    Tls,
}

/// Where the server is in the response to the front request.
#[derive(Debug, Clone, PartialEq)]
enum RState {
    /// The first packet of a (next) result.
    Start,
    /// Column definitions left.
    Columns { left: u64 },
    /// After the column definitions: EOF, rows or the terminator.
    AfterColumns,
    /// Rows until EOF / OK(0xFE) / ERR.
    Rows,
    /// FIELD_LIST: column definitions until EOF.
    FieldList,
    /// STMT_PREPARE: parameter and column definitions left, then an optional EOF each.
    Prepare {
        params: u32,
        cols: u32,
        eof_after_params: bool,
    },
    /// LOCAL INFILE content from the client until an empty packet.
    Infile,
    /// CHANGE_USER / login auth exchange.
    Auth,
    /// Done; emitted.
    Done,
}

/// How a command's reply is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    NoReply,
    Simple,
    Results,
    Rows,
    FieldList,
    Prepare,
    Statistics,
    Auth,
    Binlog,
}

fn shape(c: Command) -> Shape {
    match c {
        Command::QUIT | Command::STMT_CLOSE | Command::STMT_SEND_LONG_DATA => Shape::NoReply,
        Command::QUERY
        | Command::STMT_EXECUTE
        | Command::PROCESS_INFO
        | Command::STMT_BULK_EXECUTE => Shape::Results,
        Command::STMT_FETCH => Shape::Rows,
        Command::FIELD_LIST => Shape::FieldList,
        Command::STMT_PREPARE => Shape::Prepare,
        Command::STATISTICS => Shape::Statistics,
        Command::CHANGE_USER => Shape::Auth,
        Command::BINLOG_DUMP | Command::BINLOG_DUMP_GTID => Shape::Binlog,
        _ => Shape::Simple,
    }
}

/// A request waiting for (or receiving) its response.
#[derive(Debug)]
struct Pending {
    command: &'static str,
    cmd: Option<Command>,
    ts: Timestamp,
    end: Timestamp,
    req_bytes: u64,
    resp_bytes: u64,
    query: String,
    request: Request,
    response: Response,
    has_response: bool,
    notes: Vec<Note>,
    state: RState,
    expect_seq: u8,
    error: Option<String>,
    status: Status,
    /// A STMT_PREPARE's SQL, kept to register the statement.
    prepare_sql: Option<String>,
    prepare_params: Option<u32>,
    /// The fingerprint when already known (a prepared statement's).
    fingerprint: Option<String>,
    /// Result sets seen.
    sets: u32,
    cur_set: ResultSet,
    binary: bool,
    /// This entry only absorbs the reply of a request already reported (timed out or shed):
    /// when it was reported, and why.
    late: Option<(Timestamp, &'static str)>,
    /// Bytes charged for it in `Logic::pending_bytes` (set when queued).
    cost: usize,
}

/// A request already reported `no_response` (timed out or shed) whose reply may still come: it
/// keeps the FIFO pairing right. See `Logic::lost`.
#[derive(Debug)]
struct Lost {
    cmd: Command,
    ts: Timestamp,
    reported: Timestamp,
    why: &'static str,
    /// A STMT_PREPARE's SQL (kept on timeout so that a late reply still registers the
    /// statement; dropped when shed).
    prepare: Option<(String, u32)>,
}

impl Lost {
    fn cost(&self) -> usize {
        self.prepare.as_ref().map_or(0, |p| p.0.capacity())
    }
}

fn params_cost(p: &Option<Vec<crate::params::Param>>) -> usize {
    p.as_ref().map_or(0, |v| {
        v.capacity() * std::mem::size_of::<crate::params::Param>()
            + v.iter()
                .map(|p| {
                    p.name.as_ref().map_or(0, String::capacity)
                        + match &p.value {
                            crate::params::Value::Text(t) => t.capacity(),
                            _ => 0,
                        }
                })
                .sum::<usize>()
    })
}

impl Pending {
    /// Heap and inline bytes it keeps (an estimate, computed when it is queued).
    fn compute_cost(&self) -> usize {
        self.query.capacity()
            + self.prepare_sql.as_ref().map_or(0, String::capacity)
            + self.fingerprint.as_ref().map_or(0, String::capacity)
            + self.notes.capacity() * std::mem::size_of::<Note>()
            + params_cost(&self.request.params)
            + params_cost(&self.request.attributes)
            + self.request.arg.as_ref().map_or(0, String::capacity)
            + self.request.infile.as_ref().map_or(0, String::capacity)
            + self.request.connect_attributes.as_ref().map_or(0, |m| {
                m.iter()
                    .map(|(k, v)| 48 + k.capacity() + v.capacity())
                    .sum()
            })
    }

    /// Still waiting for the first byte of its reply.
    fn waiting(&self) -> bool {
        !self.has_response && self.resp_bytes == 0 && self.state != RState::Done
    }

    fn new(command: &'static str, cmd: Option<Command>, ts: Timestamp) -> Self {
        Pending {
            command,
            cmd,
            ts,
            end: ts,
            req_bytes: 0,
            resp_bytes: 0,
            query: String::new(),
            request: Request::default(),
            response: Response::default(),
            has_response: false,
            notes: Vec::new(),
            state: RState::Start,
            expect_seq: 1,
            error: None,
            status: Status::NoResponse,
            prepare_sql: None,
            prepare_params: None,
            fingerprint: None,
            sets: 0,
            cur_set: ResultSet::default(),
            binary: false,
            late: None,
            cost: 0,
        }
    }
}

/// A prepared statement.
#[derive(Debug)]
struct Stmt {
    sql: String,
    /// `fingerprint(sql)`, computed once.
    fingerprint: String,
    params: u32,
    types: Option<Vec<(u8, bool)>>,
    long_data: Vec<Option<LongData>>,
    /// Bound by first use after an unanswered PREPARE (server replies not captured).
    predicted: bool,
    order: u64,
}

impl Stmt {
    fn cost(&self) -> usize {
        64 + self.sql.len()
            + self.fingerprint.len()
            + self.types.as_ref().map_or(0, |t| t.len() * 2)
            + self
                .long_data
                .iter()
                .flatten()
                .map(|l| l.prefix.len() + 16)
                .sum::<usize>()
    }
}

/// The pairing logic (everything but framing).
struct Logic {
    conn: ConnectionInfo,
    cfg: Config,
    full: bool,
    phase: Phase,
    greeting: Option<wire::Greeting>,
    caps: u64,
    /// Compression negotiated (switched on after the auth OK).
    compression: Compression,
    compression_on: bool,
    pending: VecDeque<Pending>,
    stmts: HashMap<u32, Stmt>,
    stmt_bytes: usize,
    stmt_order: u64,
    last_prepared: Option<u32>,
    /// A PREPARE that will never be answered (client-only capture): bound to the statement id
    /// of the first STMT_* command that names an unknown one.
    unbound_prepare: Option<(String, u32)>,
    server_seen: bool,
    /// Whether the connection is compressed is known (handshake seen, or found by resync).
    comp_decided: bool,
    client_gap: bool,
    /// Set by packet handlers: stop feeding this direction's framer after this packet.
    stop: bool,
    detach: bool,
    /// Resynchronise this direction now.
    resync: [bool; 2],
    evicted: u64,
    /// The login transaction (from HandshakeResponse to OK/ERR).
    login: Option<Pending>,
    /// Sum of `Pending::cost` over `pending`.
    pending_bytes: usize,
    /// Requests already reported (timed out or shed) whose replies have not started, oldest
    /// first. They are older than every entry of `pending` except an entry at its front whose
    /// reply is being received; the next reply to start goes to `lost.front()` first.
    lost: VecDeque<Lost>,
    lost_bytes: usize,
    /// Markers dropped because `lost` was full (pairing may then be off).
    lost_dropped: u64,
    /// Markers compacted to a count by a shed that had nothing else left: this many replies
    /// (older than every entry of `lost`) are absorbed unparsed-for-pairing, as `UNKNOWN`; the
    /// newest of their request times.
    lost_anon: u64,
    lost_anon_ts: Timestamp,
    /// Replies that came after their request was reported (late), and the longest wait.
    late_replies: u64,
    late_max_us: u64,
    /// Requests reported early by `shed` / by the request timeout.
    shed_requests: u64,
    timed_out: u64,
}

/// A MySQL session. See the module documentation.
pub struct MysqlSession {
    halves: [Half; 2],
    logic: Logic,
}

impl MysqlSession {
    /// A session for `conn`.
    pub fn new(conn: &ConnectionInfo, cfg: Config) -> Self {
        let half = |_dir: Direction| Half {
            framer: Framer::new(cfg.max_packet_keep),
            inflater: None,
            desync: conn.midstream.then(Vec::new),
            delivered: 0,
            skipped: 0,
            fed: 0,
            dropped: 0,
            undissected: 0,
        };
        MysqlSession {
            halves: [half(C2S), half(S2C)],
            logic: Logic {
                conn: *conn,
                cfg,
                full: true,
                phase: if conn.midstream {
                    Phase::Command
                } else {
                    Phase::Greeting
                },
                greeting: None,
                caps: 0,
                compression: Compression::None,
                compression_on: false,
                pending: VecDeque::new(),
                stmts: HashMap::new(),
                stmt_bytes: 0,
                stmt_order: 0,
                last_prepared: None,
                unbound_prepare: None,
                server_seen: false,
                comp_decided: !conn.midstream,
                client_gap: false,
                stop: false,
                detach: false,
                resync: [false; 2],
                evicted: 0,
                login: None,
                pending_bytes: 0,
                lost: VecDeque::new(),
                lost_bytes: 0,
                lost_dropped: 0,
                lost_anon: 0,
                lost_anon_ts: Timestamp(0),
                late_replies: 0,
                late_max_us: 0,
                shed_requests: 0,
                timed_out: 0,
            },
        }
    }

    /// Bytes delivered and bytes skipped while out of sync, per direction (client, server).
    /// (The full [`ByteAccounting`] is the trait's `ProtocolSession::accounting`.)
    pub fn accounting(&self) -> [(u64, u64); 2] {
        [
            (self.halves[0].delivered, self.halves[0].skipped),
            (self.halves[1].delivered, self.halves[1].skipped),
        ]
    }

    /// The compression in force.
    pub fn compression(&self) -> Compression {
        if self.logic.compression_on {
            self.logic.compression
        } else {
            Compression::None
        }
    }

    fn feed(&mut self, dir: Direction, data: &[u8], ts: Timestamp, out: &mut dyn EventSink) {
        let i = idx(dir);
        let mut owned;
        let mut data = data;
        if let Some(mut buf) = self.halves[i].desync.take() {
            buf.extend_from_slice(data);
            match find_start(&buf, dir, self.logic.compression_known()) {
                Some((at, comp)) => {
                    self.halves[i].skipped += at as u64;
                    if at > 0 {
                        self.logic.note_resync(dir, at as u64, ts, out);
                    }
                    if let Some(c) = comp {
                        self.logic.set_compression(c);
                        for h in self.halves.iter_mut() {
                            h.set_inflater((c != Compression::None).then(|| {
                                Inflater::new(
                                    c,
                                    self.logic.cfg.max_inflate,
                                    self.logic.cfg.max_zstd_body,
                                )
                            }));
                        }
                    }
                    owned = buf;
                    owned.drain(..at);
                    data = &owned;
                }
                None => {
                    // Keep the tail that may still start a message; count the rest.
                    let keep = buf.len().min(64);
                    let limit = self.logic.cfg.max_resync_buffer;
                    if buf.len() > limit {
                        let drop = buf.len() - keep;
                        self.halves[i].skipped += drop as u64;
                        buf.drain(..drop);
                    }
                    self.halves[i].desync = Some(buf);
                    return;
                }
            }
        }
        let mut rest = data;
        while !rest.is_empty() {
            let (half, logic) = (&mut self.halves[i], &mut self.logic);
            logic.stop = false;
            let used = match half.inflater.as_mut() {
                Some(inf) => {
                    let used = inf.feed(rest, ts, &mut half.framer, &mut |ev| {
                        logic.on_ev(dir, ev, out)
                    });
                    // The inflater drops the rest of its input when the consumer stops it.
                    half.fed += used as u64;
                    half.skipped += (rest.len() - used) as u64;
                    rest.len()
                }
                None => {
                    let used = half
                        .framer
                        .feed(rest, ts, &mut |ev| logic.on_ev(dir, ev, out));
                    half.fed += used as u64;
                    used
                }
            };
            rest = &rest[used..];
            if logic.detach {
                half.undissected += rest.len() as u64;
                return;
            }
            // A compression switch: the rest of this direction is compressed.
            if logic.compression_on && half.inflater.is_none() {
                for h in self.halves.iter_mut() {
                    h.set_inflater(Some(Inflater::new(
                        self.logic.compression,
                        self.logic.cfg.max_inflate,
                        self.logic.cfg.max_zstd_body,
                    )));
                }
            }
            if self.logic.resync[i] {
                self.logic.resync[i] = false;
                self.start_desync(dir);
                self.halves[i].desync = Some(Vec::new());
                let r = rest.to_vec();
                self.feed(dir, &r, ts, out);
                return;
            }
        }
    }

    /// `shed(0)`: the engine stops dissecting a session that cannot get to nothing, so give up
    /// what is in flight instead: the request whose reply is being received and the login are
    /// reported now (`partial`, `shed` note), and both directions drop their partial message
    /// (counted as skipped) and resynchronise, which skips the rest of that reply.
    fn last_resort(&mut self, _ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        let shed = Note::Shed {
            budget: "connection",
        };
        if let Some(mut l) = self.logic.login.take() {
            push_note(&mut l.notes, shed.clone());
            self.logic.emit(l, out);
            n += 1;
        }
        while let Some(mut f) = self.logic.pop_pending() {
            if f.state != RState::Done {
                push_note(&mut f.notes, shed.clone());
                self.logic.shed_requests += 1;
                if f.late.is_none() {
                    self.logic.finish_unanswered(f, out);
                }
            } else {
                self.logic.emit(f, out);
            }
            n += 1;
        }
        self.logic.pending = VecDeque::new();
        for (i, h) in self.halves.iter_mut().enumerate() {
            let partial = h.framing_held() > 0 || h.desync.as_ref().is_some_and(|b| !b.is_empty());
            if partial || i == 1 {
                // The server side always: the rest of the reply just reported is skipped.
                h.reset_framing();
                if let Some(b) = h.desync.take() {
                    h.skipped += b.len() as u64;
                }
                h.desync = Some(Vec::new());
            }
            h.shrink();
        }
        n
    }

    fn start_desync(&mut self, dir: Direction) {
        self.halves[idx(dir)].reset_framing();
    }
}

impl ProtocolSession for MysqlSession {
    fn late_replies(&self) -> u64 {
        self.logic.late_replies
    }

    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        self.logic.full = out.detail() == Detail::Full;
        let i = idx(chunk.dir);
        self.halves[i].delivered += chunk.data.len() as u64;
        if self.logic.detach {
            self.halves[i].undissected += chunk.data.len() as u64;
            return Flow::Detach;
        }
        if chunk.dir == S2C && !chunk.data.is_empty() {
            self.logic.server_seen = true;
        }
        self.feed(chunk.dir, chunk.data, chunk.arrival(), out);
        if self.logic.detach {
            Flow::Detach
        } else {
            Flow::Continue
        }
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        self.logic.full = out.detail() == Detail::Full;
        let i = idx(gap.dir);
        let mid = self.halves[i].framer.mid_packet()
            || self.halves[i]
                .inflater
                .as_ref()
                .is_some_and(Inflater::mid_packet);
        self.start_desync(gap.dir);
        if let Some(b) = self.halves[i].desync.take() {
            self.halves[i].skipped += b.len() as u64;
        }
        self.halves[i].desync = Some(Vec::new());
        self.logic.on_gap(gap, mid, out);
        Flow::Continue
    }

    fn on_close(&mut self, ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        self.logic.full = out.detail() == Detail::Full;
        for h in self.halves.iter_mut() {
            if let Some(b) = h.desync.take() {
                h.skipped += b.len() as u64;
            }
            // A partial packet at close: never parsed.
            let n = h.drop_partial();
            h.undissected += n;
        }
        self.logic.close(ts, out);
    }

    fn accounting(&self) -> Option<ByteAccounting> {
        let mut a = ByteAccounting::default();
        for h in &self.halves {
            let framing_held = h.framing_held();
            a.delivered += h.delivered;
            a.skipped += h.skipped;
            a.undissected += h.undissected;
            a.held += h.held();
            // Consumed by the framing layer and not held: parsed (bytes later dropped from a
            // partial packet were counted in `fed` and in `skipped`).
            a.parsed += h.fed.saturating_sub(h.dropped + framing_held);
        }
        Some(a)
    }

    fn state_bytes(&self) -> usize {
        self.halves[0].state_bytes() + self.halves[1].state_bytes() + self.logic.state_bytes()
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        // An eighth below the limit: a session at its cap sheds a batch now and then, not one
        // item after every callback.
        let limit = limit - limit / 8;
        self.logic.full = out.detail() == Detail::Full;
        for h in self.halves.iter_mut() {
            h.shrink();
        }
        let framing = self.halves[0].state_bytes() + self.halves[1].state_bytes();
        let mut n = self.logic.shed(limit.saturating_sub(framing), ts, out);
        if limit == 0 && self.state_bytes() > 0 {
            n += self.last_resort(ts, out);
        }
        n
    }

    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        self.logic.timer_deadline(request_timeout)
    }

    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        self.logic.full = out.detail() == Detail::Full;
        self.logic.on_timer(now, request_timeout, out)
    }
}

impl Logic {
    fn compression_known(&self) -> Option<Compression> {
        self.comp_decided.then_some(if self.compression_on {
            self.compression
        } else {
            Compression::None
        })
    }

    fn set_compression(&mut self, c: Compression) {
        self.compression = c;
        self.compression_on = c != Compression::None;
        // Decided once: later resyncs use it.
        self.comp_decided = true;
        if self.phase != Phase::Command {
            self.phase = Phase::Command;
        }
    }

    fn anomaly(&self, dir: Direction, ts: Timestamp, reason: String, out: &mut dyn EventSink) {
        out.anomaly(&ParseAnomaly {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            offset: None,
            reason,
        });
    }

    fn note_resync(
        &mut self,
        dir: Direction,
        skipped: u64,
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        self.anomaly(
            dir,
            ts,
            format!("resynchronised after skipping {skipped} bytes"),
            out,
        );
        let n = Note::Resync {
            direction: dir,
            skipped_bytes: skipped,
        };
        if let Some(p) = self.pending.front_mut() {
            push_note(&mut p.notes, n);
        }
    }

    fn on_ev(&mut self, dir: Direction, ev: Ev<'_>, out: &mut dyn EventSink) -> bool {
        match ev {
            Ev::Anomaly { reason, .. } => {
                self.anomaly(dir, Timestamp(0).max(self.conn.start), reason, out);
                self.resync[idx(dir)] = true;
                true
            }
            Ev::Packet(p) => {
                match dir {
                    C2S => self.client_packet(&p, out),
                    S2C => self.server_packet(&p, out),
                }
                self.stop || self.detach || self.resync[idx(dir)]
            }
        }
    }

    fn max_q(&self) -> usize {
        self.cfg.max_query
    }

    // ---------------------------------------------------------------- client side

    fn client_packet(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        match self.phase {
            Phase::Login => {
                self.login_request(p, out);
                return;
            }
            Phase::Greeting if p.seq != 0 => {
                self.login_request(p, out);
                return;
            }
            Phase::Auth if p.seq != 0 => {
                if let Some(l) = self.login.as_mut() {
                    l.req_bytes += p.wire_len();
                }
                return;
            }
            Phase::Auth | Phase::Greeting => {
                // A command before the login finished: the server's side is missing.
                self.flush_login(None, out);
                self.phase = Phase::Command;
            }
            Phase::Replication => {
                return;
            }
            Phase::Tls => return,
            Phase::Command => {
                if self.login.is_some() {
                    // Client-only capture: the login's outcome was never seen.
                    self.flush_login(None, out);
                }
            }
        }
        // Packets continuing the front request (LOCAL INFILE content, CHANGE_USER auth).
        if p.seq != 0 {
            if let Some(f) = self.pending.back_mut() {
                match f.state {
                    RState::Infile => {
                        f.req_bytes += p.wire_len();
                        *f.request.infile_bytes.get_or_insert(0) += p.len;
                        f.end = p.end;
                        if p.len == 0 {
                            f.state = RState::Start;
                            f.expect_seq = p.last_seq.wrapping_add(1);
                        }
                        return;
                    }
                    RState::Auth => {
                        f.req_bytes += p.wire_len();
                        f.expect_seq = p.last_seq.wrapping_add(1);
                        return;
                    }
                    _ => {}
                }
            }
            self.anomaly(
                C2S,
                p.ts,
                format!(
                    "client packet with sequence id {} outside a command (length {})",
                    p.seq, p.len
                ),
                out,
            );
            self.resync[0] = true;
            return;
        }
        if !self.server_seen {
            // One-sided capture: nothing will answer what is pending.
            while let Some(f) = self.pop_pending() {
                self.finish_unanswered(f, out);
            }
        }
        let Some(&code) = p.data.first() else {
            self.anomaly(C2S, p.ts, "empty command packet".into(), out);
            return;
        };
        let cmd = Command(code);
        let mut r = Pending::new(cmd.name(), Some(cmd), p.ts);
        r.req_bytes = p.wire_len();
        r.end = p.end;
        r.expect_seq = p.last_seq.wrapping_add(1);
        let body = &p.data[1..];
        if p.truncated() {
            push_note(
                &mut r.notes,
                Note::Truncated {
                    field: "packet",
                    len: p.len,
                },
            );
        }
        self.decode_command(cmd, body, p, &mut r, out);
        if self.phase == Phase::Replication {
            return;
        }
        // A new command: a LOCAL INFILE upload still open was cut (a gap).
        for f in self
            .pending
            .iter_mut()
            .filter(|f| f.state == RState::Infile)
        {
            f.state = RState::Start;
            push_note(
                &mut f.notes,
                Note::Text {
                    text: "LOCAL INFILE content cut short".into(),
                },
            );
        }
        if shape(cmd) == Shape::NoReply {
            r.status = Status::Ok;
            r.state = RState::Done;
            if self.pending.is_empty() {
                self.emit(r, out);
            } else {
                // Reported in order, after the replies before it.
                self.push_pending(r);
            }
            return;
        }
        if shape(cmd) == Shape::Auth {
            r.state = RState::Auth;
        }
        if self.pending.len() >= self.cfg.max_pending {
            if let Some(mut old) = self.pop_pending() {
                push_note(
                    &mut old.notes,
                    Note::Text {
                        text: format!(
                            "pending-request limit ({}) reached: reported without its reply",
                            self.cfg.max_pending
                        ),
                    },
                );
                self.finish_unanswered(old, out);
            }
        }
        self.push_pending(r);
    }

    fn login_request(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        let Some(l) = wire::parse_login(p.data, self.cfg.max_attributes) else {
            self.anomaly(
                C2S,
                p.ts,
                format!("not a HandshakeResponse41 (length {})", p.len),
                out,
            );
            self.phase = Phase::Command;
            return;
        };
        let mut r = Pending::new("LOGIN", None, p.ts);
        r.req_bytes = p.wire_len();
        r.end = p.end;
        r.state = RState::Auth;
        // The client only sets what the server offered: its flags are the negotiated ones.
        self.caps = l.capabilities;
        r.request.capabilities = Some(l.capabilities);
        if l.ssl_request {
            r.command = "LOGIN";
            push_note(&mut r.notes, Note::Encrypted);
            r.status = Status::Ok;
            r.request.compression = None;
            self.fill_greeting(&mut r);
            push_note(
                &mut r.notes,
                Note::Text {
                    text: "SSLRequest: the rest of the connection is TLS".into(),
                },
            );
            self.emit(r, out);
            self.phase = Phase::Tls;
            self.detach = true;
            return;
        }
        r.request.user = Some(l.user.clone());
        r.request.database = l.database.clone();
        r.request.auth_plugin = l.auth_plugin.clone();
        if !l.attributes.is_empty() && self.full {
            r.request.connect_attributes =
                Some(l.attributes.iter().cloned().collect::<BTreeMap<_, _>>());
        }
        self.compression = if l.capabilities & cap::ZSTD != 0 && l.capabilities & cap::COMPRESS == 0
        {
            Compression::Zstd
        } else if l.capabilities & cap::COMPRESS != 0 {
            Compression::Zlib
        } else {
            Compression::None
        };
        r.request.compression = match self.compression {
            Compression::Zlib => Some("zlib"),
            Compression::Zstd => Some("zstd"),
            Compression::None => None,
        };
        self.comp_decided = true;
        r.query = format!("user {}", l.user);
        if let Some(db) = &l.database {
            r.query.push_str(&format!(" database {db}"));
        }
        self.fill_greeting(&mut r);
        r.expect_seq = p.last_seq.wrapping_add(1);
        self.login = Some(r);
        self.phase = Phase::Auth;
        if self.compression != Compression::None && !self.server_seen {
            // Client-only capture: no OK will say where compression starts; find it in the
            // bytes (auth continuation packets are skipped and counted).
            self.comp_decided = false;
            self.resync[0] = true;
        }
    }

    fn fill_greeting(&self, r: &mut Pending) {
        if let Some(g) = &self.greeting {
            r.has_response = true;
            r.response.server_version = Some(g.server_version.clone());
            r.response.connection_id = Some(g.connection_id);
            r.response.server_capabilities = Some(g.capabilities);
            r.response.charset = Some(g.charset);
            if !g.auth_plugin.is_empty() {
                r.response.auth_plugin = Some(g.auth_plugin.clone());
            }
        }
    }

    fn flush_login(&mut self, end: Option<Timestamp>, out: &mut dyn EventSink) {
        if let Some(mut l) = self.login.take() {
            if let Some(e) = end {
                l.end = e;
            }
            self.emit(l, out);
        }
    }

    // ---------------------------------------------------------------- server side

    fn server_packet(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        let first = p.data.first().copied();
        match self.phase {
            Phase::Greeting => {
                if let Some(g) = wire::parse_greeting(p.data) {
                    self.greeting = Some(g);
                    self.phase = Phase::Login;
                    return;
                }
                if first == Some(0xff) {
                    // The server refused the connection before the handshake (e.g. 1130).
                    let mut r = Pending::new("LOGIN", None, p.ts);
                    r.status = Status::NoRequest;
                    self.apply_err(&mut r, p);
                    r.resp_bytes = p.wire_len();
                    r.end = p.end;
                    self.emit(r, out);
                    return;
                }
                self.phase = Phase::Command;
            }
            Phase::Login => {
                // The client's handshake response was not captured (server-only capture): the
                // login outcome alone, and whether compression is on must be found from the bytes.
                let mut r = Pending::new("LOGIN", None, p.ts);
                self.fill_greeting(&mut r);
                r.status = Status::NoRequest;
                r.resp_bytes = p.wire_len();
                r.end = p.end;
                r.has_response = true;
                if p.data.first() == Some(&0xff) {
                    self.apply_err(&mut r, p);
                    r.status = Status::NoRequest;
                }
                let auth_done = matches!(p.data.first(), Some(0x00) | Some(0xff));
                if auth_done {
                    self.emit(r, out);
                    self.phase = Phase::Command;
                    self.comp_decided = false;
                    self.resync[1] = true;
                }
                return;
            }
            Phase::Auth => {
                self.login_reply(p, out);
                return;
            }
            Phase::Replication => {
                self.binlog_packet(p, out);
                return;
            }
            Phase::Tls => return,
            Phase::Command => {}
        }
        self.drain_done(out);
        self.revive_lost();
        let Some(f) = self.pending.front() else {
            if p.seq == 1 || self.conn.midstream {
                // A reply with no request (request lost or before the capture).
                let mut r = Pending::new("UNKNOWN", None, p.ts);
                r.status = Status::NoRequest;
                if self.client_gap {
                    push_note(
                        &mut r.notes,
                        Note::Gap {
                            direction: C2S,
                            bytes: None,
                        },
                    );
                }
                self.push_pending(r);
                self.response_packet(p, out);
                if let Some(f) = self.pending.front() {
                    if f.command == "UNKNOWN" && f.state != RState::Done {
                        // Kept until the reply ends.
                    }
                }
                return;
            }
            self.anomaly(
                S2C,
                p.ts,
                format!(
                    "server packet (sequence id {}, length {}) with no request",
                    p.seq, p.len
                ),
                out,
            );
            return;
        };
        if p.seq == 1
            && f.expect_seq != 1
            && f.state != RState::Start
            && !matches!(f.state, RState::Infile | RState::Auth)
        {
            // A new reply started: the front one ended early.
            let mut f = self.pop_pending().expect("front exists");
            if !matches!(f.state, RState::Prepare { .. }) {
                push_note(
                    &mut f.notes,
                    Note::Text {
                        text: "reply ended before its terminator".into(),
                    },
                );
            }
            self.finish(f, out);
            self.drain_done(out);
            if self.pending.is_empty() {
                return self.server_packet(p, out);
            }
        }
        self.response_packet(p, out);
    }

    fn login_reply(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        let Some(l) = self.login.as_mut() else {
            self.phase = Phase::Command;
            return;
        };
        l.resp_bytes += p.wire_len();
        l.end = p.end;
        match p.data.first() {
            Some(0x00) => {
                l.status = Status::Ok;
                if let Some(ok) = parse_ok(p.data, self.caps) {
                    l.response.status_flags = Some(ok.status);
                }
                l.has_response = true;
                let done = self.login.take().expect("login");
                self.emit(done, out);
                self.phase = Phase::Command;
                if self.compression != Compression::None {
                    self.compression_on = true;
                    self.stop = true;
                }
            }
            Some(0xff) => {
                let mut done = self.login.take().expect("login");
                self.apply_err(&mut done, p);
                self.emit(done, out);
                self.phase = Phase::Command;
            }
            Some(0xfe) => {
                let mut c = Cur::new(&p.data[1..]);
                let plugin = text(c.nul_str(), 64);
                l.response.auth_plugin = Some(plugin);
                l.response
                    .auth_steps
                    .get_or_insert_with(Vec::new)
                    .push("auth_switch");
                l.has_response = true;
            }
            Some(0x01) => {
                let step = match p.data.get(1) {
                    Some(3) if p.len == 2 => "fast_auth_success",
                    Some(4) if p.len == 2 => "full_authentication",
                    _ => "more_data",
                };
                let steps = l.response.auth_steps.get_or_insert_with(Vec::new);
                if steps.len() < 8 {
                    steps.push(step);
                }
                l.has_response = true;
            }
            _ => {}
        }
    }

    fn binlog_packet(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        match p.data.first() {
            Some(0x00) => {
                let summary = match wire::parse_binlog_event(p.data) {
                    Some(e) => format!(
                        "event type {} size {} log_pos {}",
                        e.event_type, e.event_size, e.log_pos
                    ),
                    None => format!("binlog packet of {} bytes", p.len),
                };
                self.message(S2C, p.ts, "binlog_event", summary, out);
            }
            Some(0xff) => {
                let e = parse_err(p.data).unwrap_or_default();
                self.message(
                    S2C,
                    p.ts,
                    "binlog_error",
                    format!("ERR {} {}", e.code, e.message),
                    out,
                );
                self.phase = Phase::Command;
            }
            Some(0xfe) if p.len < 9 => {
                self.message(S2C, p.ts, "binlog_eof", "end of binlog stream".into(), out);
                self.phase = Phase::Command;
            }
            _ => self.message(
                S2C,
                p.ts,
                "binlog_event",
                format!("packet of {} bytes", p.len),
                out,
            ),
        }
    }

    fn message(
        &self,
        dir: Direction,
        ts: Timestamp,
        kind: &'static str,
        summary: String,
        out: &mut dyn EventSink,
    ) {
        if !self.full {
            return;
        }
        out.message(&Message {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            kind,
            summary,
            detail: (),
        });
    }

    fn apply_err(&self, r: &mut Pending, p: &Packet<'_>) {
        r.status = Status::Error;
        r.has_response = true;
        if let Some(e) = parse_err(p.data) {
            r.response.error_code = Some(e.code);
            if !e.sql_state.is_empty() {
                r.response.sql_state = Some(e.sql_state);
            }
            r.error = Some(e.message);
        }
    }

    fn end_front(&mut self, out: &mut dyn EventSink) {
        if let Some(f) = self.pop_pending() {
            self.finish(f, out);
        }
        self.drain_done(out);
    }

    /// Report the no-reply commands queued behind answered ones.
    fn drain_done(&mut self, out: &mut dyn EventSink) {
        while self
            .pending
            .front()
            .is_some_and(|f| f.state == RState::Done)
        {
            let f = self.pop_pending().expect("front");
            self.emit(f, out);
        }
    }

    /// A reply is complete: register statements, emit.
    fn finish(&mut self, mut f: Pending, out: &mut dyn EventSink) {
        f.state = RState::Done;
        if f.cmd == Some(Command::STMT_PREPARE) && f.status == Status::Ok {
            if let Some(id) = f.response.statement_id {
                let params = f.prepare_params.unwrap_or(0);
                self.add_stmt(id, f.prepare_sql.clone().unwrap_or_default(), params, false);
                self.last_prepared = Some(id);
            }
        }
        if f.sets > 1 {
            f.response.result_sets = Some(f.sets);
        }
        if f.cmd == Some(Command::CHANGE_USER) && f.status == Status::Ok {
            self.stmts.clear();
            self.stmt_bytes = 0;
        }
        if f.cmd == Some(Command::RESET_CONNECTION) && f.status == Status::Ok {
            self.stmts.clear();
            self.stmt_bytes = 0;
        }
        self.emit(f, out);
    }

    /// A request that will never be answered (one-sided capture, limit, close).
    fn finish_unanswered(&mut self, mut f: Pending, out: &mut dyn EventSink) {
        if f.cmd == Some(Command::STMT_PREPARE) && !self.server_seen {
            let params = f.prepare_params.unwrap_or(0);
            self.unbound_prepare = Some((f.prepare_sql.clone().unwrap_or_default(), params));
        }
        if f.has_response && f.status == Status::NoResponse {
            f.status = Status::Partial;
        }
        self.emit(f, out);
    }

    fn add_stmt(&mut self, id: u32, sql: String, params: u32, predicted: bool) {
        self.stmt_order += 1;
        let s = Stmt {
            fingerprint: wire::sql_fingerprint(&sql),
            sql,
            params,
            types: None,
            long_data: vec![None; (params as usize).min(self.cfg.max_params)],
            predicted,
            order: self.stmt_order,
        };
        self.stmt_bytes += s.cost();
        if let Some(old) = self.stmts.insert(id, s) {
            self.stmt_bytes = self.stmt_bytes.saturating_sub(old.cost());
        }
        while self.stmts.len() > self.cfg.max_statements
            || self.stmt_bytes > self.cfg.max_statement_bytes
        {
            let Some((&oldest, _)) = self.stmts.iter().min_by_key(|(_, s)| s.order) else {
                break;
            };
            if oldest == id && self.stmts.len() == 1 {
                break;
            }
            if let Some(s) = self.stmts.remove(&oldest) {
                self.stmt_bytes = self.stmt_bytes.saturating_sub(s.cost());
            }
            self.evicted += 1;
        }
    }

    fn emit(&mut self, f: Pending, out: &mut dyn EventSink) {
        if let Some((reported, why)) = f.late {
            // The reply of a request already reported: counted, never paired with another.
            let waited = f.end.saturating_since(f.ts).as_micros();
            self.late_replies += 1;
            self.late_max_us = self.late_max_us.max(waited);
            if self.full {
                out.message(&Message {
                    ts: f.end,
                    protocol: PROTOCOL,
                    connection: self.conn.id,
                    direction: S2C,
                    kind: "late_reply",
                    summary: format!(
                        "{} reply after {} us; the request was reported no_response ({why}) at {}",
                        f.command, waited, reported
                    ),
                    detail: (),
                });
            }
            return;
        }
        let status = if f.cmd.is_none() && f.command != "LOGIN" {
            Status::NoRequest
        } else {
            f.status
        };
        let mut detail = MysqlDetail::default();
        if self.full {
            detail.request = Some(f.request);
            if f.has_response {
                detail.response = Some(f.response);
            }
        }
        let mut tx = Transaction::new(PROTOCOL, &self.conn, f.ts, detail);
        tx.command = f.command.to_string();
        tx.status = status;
        tx.error = f.error;
        tx.request_bytes = f.req_bytes;
        tx.response_bytes = f.resp_bytes;
        if f.resp_bytes > 0 && status != Status::NoRequest {
            tx.complete_at(f.end);
        }
        tx.end_ts = f.end.max(f.ts);
        let sql_cmd = f.cmd.is_some_and(|c| {
            matches!(
                c,
                Command::QUERY
                    | Command::STMT_PREPARE
                    | Command::STMT_EXECUTE
                    | Command::STMT_BULK_EXECUTE
            )
        });
        if sql_cmd && !f.query.is_empty() {
            tx.fingerprint = Some(
                f.fingerprint
                    .unwrap_or_else(|| wire::sql_fingerprint(&f.query)),
            );
        }
        if self.full {
            tx.query = f.query;
        }
        tx.notes = f.notes;
        out.transaction(&mut tx);
    }

    fn on_gap(&mut self, gap: &GapInfo, mid: bool, out: &mut dyn EventSink) {
        let note = Note::Gap {
            direction: gap.dir,
            bytes: gap.len,
        };
        match gap.dir {
            C2S => {
                self.client_gap = true;
                if let Some(b) = self.pending.back_mut() {
                    if mid || b.state == RState::Infile {
                        push_note(&mut b.notes, note);
                        if b.state == RState::Infile {
                            b.state = RState::Start;
                        }
                    }
                }
                if let Some(l) = self.login.as_mut() {
                    push_note(
                        &mut l.notes,
                        Note::Gap {
                            direction: gap.dir,
                            bytes: gap.len,
                        },
                    );
                }
            }
            S2C => {
                if let Some(mut l) = self.login.take() {
                    push_note(&mut l.notes, note.clone());
                    l.status = Status::Partial;
                    self.emit(l, out);
                    self.phase = Phase::Command;
                }
                if self.phase == Phase::Greeting || self.phase == Phase::Login {
                    self.phase = Phase::Command;
                }
                // The reply being received is cut; the others may have been lost entirely.
                // Requests already reported lose their markers: pairing starts afresh.
                self.lost.clear();
                self.lost_bytes = 0;
                self.lost_anon = 0;
                let mut first = true;
                while let Some(mut f) = self.pop_pending() {
                    let started = f.has_response || first && mid;
                    push_note(&mut f.notes, note.clone());
                    if started {
                        f.status = Status::Partial;
                    }
                    first = false;
                    self.emit(f, out);
                }
            }
        }
    }

    fn close(&mut self, ts: Timestamp, out: &mut dyn EventSink) {
        self.lost.clear();
        self.lost_bytes = 0;
        self.lost_anon = 0;
        if self.late_replies > 0 || self.lost_dropped > 0 {
            self.anomaly(
                S2C,
                ts,
                format!(
                    "{} replies came after their request was reported (timeout or budget; longest wait {} us); {} markers dropped",
                    self.late_replies, self.late_max_us, self.lost_dropped
                ),
                out,
            );
        }
        if self.login.is_some() {
            let l = self.login.take().expect("login");
            self.emit(l, out);
        }
        while let Some(f) = self.pop_pending() {
            if f.has_response && f.cmd.is_none() {
                // An orphan reply that ran to the close.
                let mut f = f;
                f.end = f.end.max(ts).min(f.end);
                self.emit(f, out);
                continue;
            }
            self.finish_unanswered(f, out);
        }
        if self.evicted > 0 {
            self.anomaly(
                C2S,
                ts,
                format!(
                    "{} prepared statements evicted by the statement limit",
                    self.evicted
                ),
                out,
            );
        }
    }
}

impl Logic {
    fn push_pending(&mut self, mut p: Pending) {
        p.cost = p.compute_cost();
        self.pending_bytes += p.cost;
        self.pending.push_back(p);
    }

    fn pop_pending(&mut self) -> Option<Pending> {
        let p = self.pending.pop_front()?;
        self.pending_bytes = self.pending_bytes.saturating_sub(p.cost);
        Some(p)
    }

    fn remove_pending(&mut self, i: usize) -> Option<Pending> {
        let p = self.pending.remove(i)?;
        self.pending_bytes = self.pending_bytes.saturating_sub(p.cost);
        Some(p)
    }

    /// See `ProtocolSession::state_bytes` (the framing buffers are added by the session).
    fn state_bytes(&self) -> usize {
        self.pending_bytes
            + self.lost_bytes
            + self.stmt_bytes
            + self.stmts.capacity() * (std::mem::size_of::<(u32, Stmt)>() + 8)
            + self.pending.capacity() * std::mem::size_of::<Pending>()
            + self.lost.capacity() * std::mem::size_of::<Lost>()
            + self
                .login
                .as_ref()
                .map_or(0, |l| std::mem::size_of::<Pending>() + l.compute_cost())
            + self.unbound_prepare.as_ref().map_or(0, |u| u.0.capacity())
    }

    /// The front entry's reply is being received (it cannot be reported early without
    /// breaking the pairing of what follows).
    fn front_in_progress(&self) -> bool {
        self.pending
            .front()
            .is_some_and(|f| !f.waiting() && f.state != RState::Done)
    }

    /// A reply starts: when requests already reported are still owed a reply, it is theirs.
    fn revive_lost(&mut self) {
        if (self.lost.is_empty() && self.lost_anon == 0) || self.front_in_progress() {
            return;
        }
        if self.lost_anon > 0 {
            self.lost_anon -= 1;
            let mut r = Pending::new("UNKNOWN", None, self.lost_anon_ts);
            r.late = Some((self.lost_anon_ts, "shed"));
            r.cost = r.compute_cost();
            self.pending_bytes += r.cost;
            self.pending.push_front(r);
            return;
        }
        let Some(l) = self.lost.pop_front() else {
            return;
        };
        self.lost_bytes = self.lost_bytes.saturating_sub(l.cost());
        let mut r = Pending::new(l.cmd.name(), Some(l.cmd), l.ts);
        r.late = Some((l.reported, l.why));
        if shape(l.cmd) == Shape::Auth {
            r.state = RState::Auth;
        }
        if let Some((sql, params)) = l.prepare {
            r.prepare_sql = Some(sql);
            r.prepare_params = Some(params);
        }
        r.cost = r.compute_cost();
        self.pending_bytes += r.cost;
        self.pending.push_front(r);
    }

    /// Report `f` now as `no_response` (with `note`) and keep a marker for its reply.
    fn report_early(
        &mut self,
        mut f: Pending,
        note: Note,
        why: &'static str,
        keep_sql: bool,
        now: Timestamp,
        out: &mut dyn EventSink,
    ) {
        push_note(&mut f.notes, note);
        // No marker when the server was never seen (a client-only capture): no reply will come.
        let lost = f
            .cmd
            .filter(|_| f.late.is_none() && self.server_seen)
            .map(|cmd| Lost {
                cmd,
                ts: f.ts,
                reported: now,
                why,
                prepare: if keep_sql && cmd == Command::STMT_PREPARE {
                    f.prepare_sql
                        .clone()
                        .map(|s| (s, f.prepare_params.unwrap_or(0)))
                } else {
                    None
                },
            });
        if f.late.is_none() {
            self.finish_unanswered(f, out);
        }
        if let Some(l) = lost {
            if self.lost.len() >= self.cfg.max_pending {
                if let Some(old) = self.lost.pop_front() {
                    self.lost_bytes = self.lost_bytes.saturating_sub(old.cost());
                    self.lost_dropped += 1;
                }
            }
            self.lost_bytes += l.cost();
            self.lost.push_back(l);
        }
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        // Oldest requests first (not the one whose reply is being received).
        let at = usize::from(self.front_in_progress());
        while self.state_bytes() > limit && self.pending.len() > at {
            let Some(f) = self.remove_pending(at) else {
                break;
            };
            n += 1;
            if f.state == RState::Done {
                // Complete (a command with no reply), only queued for order.
                self.emit(f, out);
                continue;
            }
            self.shed_requests += 1;
            self.report_early(
                f,
                Note::Shed {
                    budget: "connection",
                },
                "shed",
                false,
                ts,
                out,
            );
        }
        // Prepared statements, oldest first; later EXECUTEs of them say `unknown statement`.
        while self.state_bytes() > limit && !self.stmts.is_empty() {
            let Some((&oldest, _)) = self.stmts.iter().min_by_key(|(_, s)| s.order) else {
                break;
            };
            if let Some(s) = self.stmts.remove(&oldest) {
                self.stmt_bytes = self.stmt_bytes.saturating_sub(s.cost());
            }
            self.evicted += 1;
            n += 1;
        }
        if self.stmts.is_empty() && self.stmts.capacity() > 0 && self.state_bytes() > limit {
            self.stmts = HashMap::new();
        }
        // The SQL kept by markers of timed-out PREPAREs.
        if self.state_bytes() > limit {
            for l in self.lost.iter_mut().filter(|l| l.prepare.is_some()) {
                l.prepare = None;
                n += 1;
            }
            self.lost_bytes = self.lost.iter().map(Lost::cost).sum();
        }
        if self.state_bytes() > limit && self.unbound_prepare.take().is_some() {
            n += 1;
        }
        // Last: the markers become a count (their replies are still absorbed in order, parsed
        // without knowing the command).
        if self.state_bytes() > limit && !self.lost.is_empty() {
            n += self.lost.len() as u64;
            self.lost_anon += self.lost.len() as u64;
            if let Some(l) = self.lost.back() {
                self.lost_anon_ts = l.ts;
            }
            self.lost = VecDeque::new();
            self.lost_bytes = 0;
        }
        if self.state_bytes() > limit {
            self.pending.shrink_to_fit();
            self.lost.shrink_to_fit();
        }
        n
    }

    fn timer_deadline(&self, timeout: Duration) -> Option<Timestamp> {
        // FIFO: only the oldest request can time out (one whose reply is being received
        // does not; the ones behind it wait for it to end).
        let f = self.pending.iter().find(|f| f.state != RState::Done)?;
        f.waiting().then(|| f.ts.saturating_add(timeout))
    }

    fn on_timer(&mut self, now: Timestamp, timeout: Duration, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        loop {
            self.drain_done(out);
            let Some(f) = self.pending.front() else {
                break;
            };
            if !f.waiting() || now.saturating_since(f.ts) < timeout {
                break;
            }
            let f = self.pop_pending().expect("front");
            let waited_us = now.saturating_since(f.ts).as_micros();
            self.timed_out += 1;
            n += 1;
            self.report_early(
                f,
                Note::RequestTimeout { waited_us },
                "timeout",
                true,
                now,
                out,
            );
        }
        n
    }
}
