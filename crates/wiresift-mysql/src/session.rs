//! Per-connection state: the connection phase, command/response pairing, prepared statements.
//!
//! Each direction is a [`Half`]: bytes → (compressed layer) → packets. Packets go to the
//! [`Logic`], which knows the phase (greeting, login, auth, commands) and, for the request at the
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
use wiresift_core::{
    fingerprint, CloseReason, ConnectionInfo, Detail, Direction, EventSink, Flow, GapInfo, Message,
    Note, ParseAnomaly, ProtocolSession, Status, StreamChunk, Timestamp, Transaction,
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
    /// Bytes delivered / skipped while out of sync.
    delivered: u64,
    skipped: u64,
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
    /// Result sets seen.
    sets: u32,
    cur_set: ResultSet,
    binary: bool,
}

impl Pending {
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
            sets: 0,
            cur_set: ResultSet::default(),
            binary: false,
        }
    }
}

/// A prepared statement.
#[derive(Debug)]
struct Stmt {
    sql: String,
    params: u32,
    types: Option<Vec<(u8, bool)>>,
    long_data: Vec<Option<LongData>>,
    /// The id was predicted (server replies not captured).
    predicted: bool,
    order: u64,
}

impl Stmt {
    fn cost(&self) -> usize {
        64 + self.sql.len()
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
    next_stmt_id: Option<u32>,
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
                next_stmt_id: (!conn.midstream).then_some(1),
                server_seen: false,
                comp_decided: !conn.midstream,
                client_gap: false,
                stop: false,
                detach: false,
                resync: [false; 2],
                evicted: 0,
                login: None,
            },
        }
    }

    /// Bytes delivered and bytes skipped while out of sync, per direction (client, server).
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
                            h.inflater = (c != Compression::None).then(|| {
                                Inflater::new(
                                    c,
                                    self.logic.cfg.max_inflate,
                                    self.logic.cfg.max_zstd_body,
                                )
                            });
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
                    inf.feed(rest, ts, &mut half.framer, &mut |ev| {
                        logic.on_ev(dir, ev, out)
                    });
                    rest.len()
                }
                None => half
                    .framer
                    .feed(rest, ts, &mut |ev| logic.on_ev(dir, ev, out)),
            };
            rest = &rest[used..];
            if logic.detach {
                return;
            }
            // A compression switch: the rest of this direction is compressed.
            if logic.compression_on && half.inflater.is_none() {
                for h in self.halves.iter_mut() {
                    h.inflater = Some(Inflater::new(
                        self.logic.compression,
                        self.logic.cfg.max_inflate,
                        self.logic.cfg.max_zstd_body,
                    ));
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

    fn start_desync(&mut self, dir: Direction) {
        let h = &mut self.halves[idx(dir)];
        h.framer.reset();
        if let Some(inf) = h.inflater.as_mut() {
            inf.reset();
        }
    }
}

impl ProtocolSession for MysqlSession {
    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        self.logic.full = out.detail() == Detail::Full;
        let i = idx(chunk.dir);
        self.halves[i].delivered += chunk.data.len() as u64;
        if self.logic.detach {
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
        }
        self.logic.close(ts, out);
    }
}

/// Where a message may start in `b` (see the module documentation), and the compression that
/// start implies when it was not known.
fn find_start(
    b: &[u8],
    dir: Direction,
    known: Option<Compression>,
) -> Option<(usize, Option<Compression>)> {
    for at in 0..b.len() {
        let d = &b[at..];
        match known {
            Some(Compression::None) => {
                if plain_start(d, dir, true) {
                    return Some((at, None));
                }
            }
            Some(c) => {
                if comp_start(d, dir) {
                    return Some((at, Some(c)));
                }
            }
            None => {
                if comp_start(d, dir) {
                    let kind = if d.len() > 8 && is_zstd_magic(&d[7..]) {
                        Compression::Zstd
                    } else {
                        Compression::Zlib
                    };
                    return Some((at, Some(kind)));
                }
                if plain_start(d, dir, true) {
                    return Some((at, Some(Compression::None)));
                }
            }
        }
        if d.len() < 12 {
            // Too little left to judge: wait for more bytes.
            return None;
        }
    }
    None
}

fn plen(d: &[u8]) -> usize {
    usize::from(d[0]) | usize::from(d[1]) << 8 | usize::from(d[2]) << 16
}

/// A plausible plain packet start (see the module documentation). With `chain`, the packet must
/// end at the end of `d` or be followed by a plausible header.
fn plain_start(d: &[u8], dir: Direction, chain: bool) -> bool {
    if d.len() < 5 {
        return false;
    }
    let len = plen(d);
    let seq = d[3];
    let first = d[4];
    let ok = match dir {
        C2S => seq == 0 && len >= 1 && len < 0xFF_FFFF && Command(first).is_known() && first != 0,
        S2C => {
            seq == 1
                && len >= 1
                && match first {
                    0x00 => len >= 7,
                    0xff => len >= 3,
                    0xfe => len < 0xFF_FFFF,
                    0xfb => true,
                    1..=0xfa => len <= 2,
                    0xfc => len == 3 || len == 4,
                    _ => false,
                }
        }
    };
    if !ok || !chain {
        return ok;
    }
    let end = 4 + len;
    if end == d.len() {
        return true;
    }
    if end > d.len() {
        return len < 1 << 20;
    }
    let n = &d[end..];
    if n.len() < 4 {
        return false;
    }
    let nseq = n[3];
    nseq == seq.wrapping_add(1) || (dir == C2S && nseq == 0) || (dir == S2C && nseq == 1)
}

/// A plausible compressed packet start.
fn comp_start(d: &[u8], dir: Direction) -> bool {
    if d.len() < 9 {
        return false;
    }
    let clen = plen(d);
    let ulen = plen(&d[4..]);
    if clen == 0 {
        return false;
    }
    let body = &d[7..];
    let ok = if ulen == 0 {
        body.len() >= 5
            && plain_start(&body[..body.len().min(clen)], dir, false)
            && plen(body) + 4 <= clen
    } else {
        ulen >= clen.saturating_sub(64) / 2 && (is_zlib_header(body) || is_zstd_magic(body))
    };
    if !ok {
        return false;
    }
    let end = 7 + clen;
    if end >= d.len() {
        return true;
    }
    let n = &d[end..];
    n.len() >= 7 && plen(n) > 0
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
            p.notes.push(n);
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
            Phase::Command => {}
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
            while let Some(f) = self.pending.pop_front() {
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
            r.notes.push(Note::Truncated {
                field: "packet",
                len: p.len,
            });
        }
        self.decode_command(cmd, body, p, &mut r, out);
        if self.phase == Phase::Replication {
            return;
        }
        if shape(cmd) == Shape::NoReply {
            r.status = Status::Ok;
            r.state = RState::Done;
            self.emit(r, out);
            return;
        }
        if shape(cmd) == Shape::Auth {
            r.state = RState::Auth;
        }
        if self.pending.len() >= self.cfg.max_pending {
            if let Some(mut old) = self.pending.pop_front() {
                old.notes.push(Note::Text {
                    text: format!(
                        "pending-request limit ({}) reached: reported without its reply",
                        self.cfg.max_pending
                    ),
                });
                self.finish_unanswered(old, out);
            }
        }
        self.pending.push_back(r);
    }

    fn decode_command(
        &mut self,
        cmd: Command,
        body: &[u8],
        p: &Packet<'_>,
        r: &mut Pending,
        out: &mut dyn EventSink,
    ) {
        let maxq = self.max_q();
        let set_query = |r: &mut Pending, sql: &[u8], full: bool| {
            let q = text(sql, maxq);
            if sql.len() > maxq {
                r.notes.push(Note::Truncated {
                    field: "query",
                    len: sql.len() as u64,
                });
            }
            if full || true {
                r.query = q;
            }
        };
        match cmd {
            Command::QUERY => {
                let mut sql = body;
                if self.caps & cap::QUERY_ATTRIBUTES != 0 {
                    let mut c = Cur::new(body);
                    if let (Some(n), Some(_sets)) = (c.lenenc(), c.lenenc()) {
                        let n = n as usize;
                        if n > 0 && n <= self.cfg.max_params {
                            let b = Block {
                                count: n,
                                known_types: None,
                                names: true,
                                long_data: &[],
                                max_value: self.cfg.max_value,
                                max_params: self.cfg.max_params,
                            };
                            if let Ok(d) = decode_block(&mut c, &b) {
                                if self.full {
                                    r.request.attributes = Some(d.params);
                                }
                            }
                        }
                        sql = c.rest;
                    }
                }
                set_query(r, sql, self.full);
                if p.truncated() {
                    r.notes.push(Note::Truncated {
                        field: "query",
                        len: p.len - 1,
                    });
                }
            }
            Command::INIT_DB | Command::CREATE_DB | Command::DROP_DB => {
                r.request.arg = Some(text(body, 128));
                r.query = text(body, 128);
            }
            Command::FIELD_LIST => {
                let mut c = Cur::new(body);
                let t = c.nul_str();
                r.request.arg = Some(text(t, 128));
                r.query = text(t, 128);
            }
            Command::PROCESS_KILL => {
                let id = Cur::new(body).u32();
                r.request.arg = id.map(|i| i.to_string());
            }
            Command::REFRESH | Command::SHUTDOWN => {
                r.request.arg = body.first().map(|b| format!("{b:#04x}"));
            }
            Command::SET_OPTION => {
                r.request.arg = Cur::new(body).u16().map(|o| match o {
                    0 => "MULTI_STATEMENTS_ON".to_string(),
                    1 => "MULTI_STATEMENTS_OFF".to_string(),
                    n => n.to_string(),
                });
            }
            Command::CHANGE_USER => {
                let mut c = Cur::new(body);
                r.request.user = Some(text(c.nul_str(), 128));
                if self.caps & cap::SECURE_CONNECTION != 0 {
                    let n = c.u8().unwrap_or(0) as usize;
                    c.take(n.min(c.rest.len()));
                } else {
                    c.nul_str();
                }
                let db = c.nul_str();
                if !db.is_empty() {
                    r.request.database = Some(text(db, 128));
                }
                c.u16();
                if self.caps & cap::PLUGIN_AUTH != 0 && !c.rest.is_empty() {
                    r.request.auth_plugin = Some(text(c.nul_str(), 64));
                }
            }
            Command::STMT_PREPARE => {
                set_query(r, body, true);
                r.prepare_sql = Some(r.query.clone());
                if !p.truncated() {
                    r.prepare_params = Some(wire::count_placeholders(body) as u32);
                }
            }
            Command::STMT_EXECUTE => self.decode_execute(body, r),
            Command::STMT_BULK_EXECUTE => self.decode_bulk(body, r),
            Command::STMT_SEND_LONG_DATA => {
                let mut c = Cur::new(body);
                if let (Some(id), Some(pi)) = (c.u32(), c.u16()) {
                    r.request.statement_id = Some(id);
                    r.request.param_index = Some(pi);
                    let len = p.len.saturating_sub(7);
                    r.request.long_data_bytes = Some(len);
                    let id = self.resolve(id);
                    let maxv = self.cfg.max_value;
                    if let Some(s) = self.stmts.get_mut(&id) {
                        r.query = s.sql.clone();
                        let i = usize::from(pi);
                        if i < s.long_data.len() {
                            let ld = s.long_data[i].get_or_insert_with(LongData::default);
                            ld.len += len;
                            let room = maxv.saturating_sub(ld.prefix.len()).min(c.rest.len());
                            ld.prefix.extend_from_slice(&c.rest[..room]);
                            self.stmt_bytes += room;
                        }
                    }
                }
            }
            Command::STMT_CLOSE | Command::STMT_RESET | Command::STMT_FETCH => {
                let mut c = Cur::new(body);
                if let Some(id) = c.u32() {
                    r.request.statement_id = Some(id);
                    let id = self.resolve(id);
                    if let Some(s) = self.stmts.get_mut(&id) {
                        r.query = s.sql.clone();
                        if cmd == Command::STMT_RESET {
                            s.long_data.iter_mut().for_each(|l| *l = None);
                        }
                    }
                    if cmd == Command::STMT_CLOSE {
                        if let Some(s) = self.stmts.remove(&id) {
                            self.stmt_bytes = self.stmt_bytes.saturating_sub(s.cost());
                        }
                    }
                }
                if cmd == Command::STMT_FETCH {
                    r.request.rows = c.u32().map(u64::from);
                    r.binary = true;
                }
            }
            Command::BINLOG_DUMP | Command::BINLOG_DUMP_GTID => {
                let mut c = Cur::new(body);
                let summary = if cmd == Command::BINLOG_DUMP {
                    let pos = c.u32().unwrap_or(0);
                    c.u16();
                    let sid = c.u32().unwrap_or(0);
                    format!(
                        "BINLOG_DUMP {} pos {pos} server_id {sid}",
                        text(c.rest, 128)
                    )
                } else {
                    c.u16();
                    let sid = c.u32().unwrap_or(0);
                    format!("BINLOG_DUMP_GTID server_id {sid}")
                };
                self.message(C2S, p.ts, "binlog_dump", summary, out);
                self.phase = Phase::Replication;
            }
            _ => {
                if !body.is_empty() && self.full {
                    r.request.arg = Some(text(body, 64));
                }
            }
        }
        if !r.query.is_empty() && cmd != Command::INIT_DB && cmd != Command::FIELD_LIST {
            r.request.statement_id.get_or_insert(0);
            if r.request.statement_id == Some(0)
                && !matches!(
                    cmd,
                    Command::STMT_EXECUTE
                        | Command::STMT_CLOSE
                        | Command::STMT_RESET
                        | Command::STMT_FETCH
                        | Command::STMT_SEND_LONG_DATA
                        | Command::STMT_BULK_EXECUTE
                )
            {
                r.request.statement_id = None;
            }
        }
    }

    /// Statement id 0xFFFFFFFF means "the last prepared" (MariaDB pipelining).
    fn resolve(&self, id: u32) -> u32 {
        if id == u32::MAX {
            self.last_prepared.unwrap_or(id)
        } else {
            id
        }
    }

    fn decode_execute(&mut self, body: &[u8], r: &mut Pending) {
        let mut c = Cur::new(body);
        let (Some(id), Some(flags), Some(_iter)) = (c.u32(), c.u8(), c.u32()) else {
            return;
        };
        r.binary = true;
        r.request.statement_id = Some(id);
        r.request.flags = Some(u16::from(flags));
        let id = self.resolve(id);
        let full = self.full;
        let qa = self.caps & cap::QUERY_ATTRIBUTES != 0;
        let Some(s) = self.stmts.get_mut(&id) else {
            r.notes.push(Note::Text { text: format!("statement {id} was prepared before the capture (or evicted): parameters not decoded") });
            return;
        };
        r.query = s.sql.clone();
        if s.predicted {
            r.notes.push(Note::Text {
                text: "statement id predicted from the PREPARE order (server replies not captured)"
                    .into(),
            });
        }
        let mut count = s.params as usize;
        if qa && flags & 0x08 != 0 {
            match c.lenenc() {
                Some(n) => count = n as usize,
                None => return,
            }
        }
        r.request.param_count = Some(count as u32);
        if count == 0 {
            s.long_data.iter_mut().for_each(|l| *l = None);
            return;
        }
        if count > self.cfg.max_params {
            r.notes.push(Note::Text {
                text: format!("{count} parameters: above the decoding limit"),
            });
            return;
        }
        let b = Block {
            count,
            known_types: s.types.as_deref(),
            names: qa,
            long_data: &s.long_data,
            max_value: self.cfg.max_value,
            max_params: self.cfg.max_params,
        };
        match decode_block(&mut c, &b) {
            Ok(d) => {
                r.request.new_params_bound = Some(d.bound);
                if d.bound {
                    self.stmt_bytes += d.types.len() * 2;
                    s.types = Some(d.types);
                }
                for p in &d.params {
                    if let Some(len) = p.len {
                        r.notes.push(Note::Truncated { field: "param", len });
                    }
                }
                if full {
                    r.request.params = Some(d.params);
                }
            }
            Err(ParamError::NoTypes) => r.notes.push(Note::Text { text: "parameter types were bound by an execute before the capture: values not decoded".into() }),
            Err(ParamError::Short) => r.notes.push(Note::Text { text: "parameter block cut short (packet truncated to the kept prefix)".into() }),
        }
        s.long_data.iter_mut().for_each(|l| *l = None);
    }

    fn decode_bulk(&mut self, body: &[u8], r: &mut Pending) {
        let mut c = Cur::new(body);
        let (Some(id), Some(flags)) = (c.u32(), c.u16()) else {
            return;
        };
        r.request.statement_id = Some(id);
        r.request.flags = Some(flags);
        let id = self.resolve(id);
        let Some(s) = self.stmts.get_mut(&id) else {
            r.notes.push(Note::Text {
                text: format!(
                    "statement {id} was prepared before the capture: parameters not decoded"
                ),
            });
            return;
        };
        r.query = s.sql.clone();
        let n = s.params as usize;
        r.request.param_count = Some(n as u32);
        if n == 0 || n > self.cfg.max_params {
            return;
        }
        let mut types = Vec::new();
        if flags & 128 != 0 {
            for _ in 0..n {
                let (Some(t), Some(f)) = (c.u8(), c.u8()) else {
                    return;
                };
                types.push((t, f & 0x80 != 0));
            }
            s.types = Some(types.clone());
        } else if let Some(t) = &s.types {
            types = t.clone();
        } else {
            return;
        }
        let mut rows = 0u64;
        let mut first = Vec::new();
        'rows: while !c.rest.is_empty() {
            for &(t, u) in &types {
                let Some(ind) = c.u8() else { break 'rows };
                let v = if ind == 0 {
                    match crate::params::decode_value(&mut c, t, u, self.cfg.max_value) {
                        Some((v, _)) => v,
                        None => break 'rows,
                    }
                } else {
                    crate::params::Value::Null
                };
                if rows == 0 {
                    first.push(crate::params::Param {
                        ty: wire::type_name(t),
                        unsigned: u,
                        name: None,
                        value: v,
                        len: None,
                        long_data: false,
                    });
                }
            }
            rows += 1;
        }
        r.request.rows = Some(rows);
        if self.full {
            r.request.params = Some(first);
        }
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
            r.notes.push(Note::Encrypted);
            r.status = Status::Ok;
            r.request.compression = None;
            self.fill_greeting(&mut r);
            r.notes.push(Note::Text {
                text: "SSLRequest: the rest of the connection is TLS".into(),
            });
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
        let Some(f) = self.pending.front() else {
            if p.seq == 1 || self.conn.midstream {
                // A reply with no request (request lost or before the capture).
                let mut r = Pending::new("UNKNOWN", None, p.ts);
                r.status = Status::NoRequest;
                if self.client_gap {
                    r.notes.push(Note::Gap {
                        direction: C2S,
                        bytes: None,
                    });
                }
                self.pending.push_back(r);
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
            let mut f = self.pending.pop_front().expect("front exists");
            if !matches!(f.state, RState::Prepare { .. }) {
                f.notes.push(Note::Text {
                    text: "reply ended before its terminator".into(),
                });
            }
            self.finish(f, out);
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

    /// One packet of the front request's response.
    fn response_packet(&mut self, p: &Packet<'_>, out: &mut dyn EventSink) {
        let caps = self.caps;
        let max_cols = self.cfg.max_columns;
        let full = self.full;
        let progress = caps & cap::MARIADB_PROGRESS != 0;
        let Some(f) = self.pending.front_mut() else {
            return;
        };
        if f.state == RState::Infile {
            // The server does not speak while the client streams the file.
            self.anomaly(
                S2C,
                p.ts,
                "server packet during LOCAL INFILE upload".into(),
                out,
            );
            return;
        }
        f.resp_bytes += p.wire_len();
        f.end = p.end;
        f.has_response = true;
        if p.seq != f.expect_seq && f.command != "UNKNOWN" {
            f.notes.push(Note::Text {
                text: format!(
                    "reply packet sequence id {} (expected {})",
                    p.seq, f.expect_seq
                ),
            });
        }
        f.expect_seq = p.last_seq.wrapping_add(1);
        let first = p.data.first().copied();
        let shape = f.cmd.map_or(Shape::Results, shape);
        let mut done = false;
        if first == Some(0xff)
            && matches!(
                f.state,
                RState::Start
                    | RState::Rows
                    | RState::FieldList
                    | RState::Auth
                    | RState::AfterColumns
            )
        {
            if progress && p.data.get(1..3) == Some(&[0xff, 0xff]) {
                return;
            }
            let mut tmp = std::mem::replace(f, Pending::new("", None, p.ts));
            self.apply_err(&mut tmp, p);
            let f = self.pending.front_mut().expect("front");
            *f = tmp;
            self.end_front(out);
            return;
        }
        match f.state.clone() {
            RState::Start => match shape {
                Shape::Statistics => {
                    f.status = Status::Ok;
                    f.response.statistics = Some(text(p.data, 512));
                    done = true;
                }
                Shape::Prepare => {
                    if let Some((id, cols, params, warnings)) =
                        wire::parse_prepare_ok(p.data).filter(|_| p.len >= 12)
                    {
                        f.status = Status::Ok;
                        f.response.statement_id = Some(id);
                        f.response.param_count = Some(params);
                        f.response.column_count = Some(u64::from(cols));
                        f.response.warnings = Some(warnings);
                        f.prepare_params = Some(u32::from(params));
                        f.state = RState::Prepare {
                            params: u32::from(params),
                            cols: u32::from(cols),
                            eof_after_params: false,
                        };
                        if params == 0 && cols == 0 {
                            done = true;
                        }
                    } else {
                        f.status = Status::Ok;
                        done = true;
                    }
                }
                Shape::Auth => {}
                Shape::FieldList => {
                    if first == Some(0xfe) && p.len < 9 {
                        f.status = Status::Ok;
                        done = true;
                    } else {
                        f.state = RState::FieldList;
                        f.response.column_count = Some(1);
                        push_col(f, p.data, caps, max_cols, full);
                    }
                }
                Shape::Simple | Shape::NoReply | Shape::Binlog => {
                    f.status = Status::Ok;
                    apply_ok_or_eof(f, p.data, caps);
                    done = true;
                }
                Shape::Results
                    if f.cmd.is_none()
                        && first == Some(0)
                        && p.len == 12
                        && wire::parse_prepare_ok(p.data)
                            .is_some_and(|(_, c, n, _)| c > 0 || n > 0) =>
                {
                    // An orphan PREPARE_OK (server-only capture).
                    let (id, cols, params, _) = wire::parse_prepare_ok(p.data).unwrap_or_default();
                    f.command = "STMT_PREPARE";
                    f.response.statement_id = Some(id);
                    f.response.param_count = Some(params);
                    f.response.column_count = Some(u64::from(cols));
                    f.state = RState::Prepare {
                        params: u32::from(params),
                        cols: u32::from(cols),
                        eof_after_params: false,
                    };
                }
                Shape::Results | Shape::Rows => match first {
                    Some(0x00) if shape == Shape::Rows => {
                        f.cur_set.rows += 1;
                        f.state = RState::Rows;
                    }
                    Some(0x00) | Some(0xfe) => {
                        f.status = Status::Ok;
                        let more = apply_ok_or_eof(f, p.data, caps);
                        f.sets += 1;
                        f.cur_set.affected_rows = f.response.affected_rows;
                        done = !more;
                        close_set(f);
                    }
                    Some(0xfb) if shape == Shape::Results && p.len > 1 => {
                        f.request.infile = Some(text(&p.data[1..], 256));
                        f.state = RState::Infile;
                    }
                    _ if shape == Shape::Rows => {
                        f.cur_set.rows += 1;
                        f.state = RState::Rows;
                    }
                    _ => {
                        let mut c = Cur::new(p.data);
                        let n = c.lenenc().unwrap_or(0);
                        f.cur_set.columns = n;
                        if f.sets == 0 {
                            f.response.column_count = Some(n);
                        }
                        // A trailing metadata-follows byte (optional metadata / MariaDB cache).
                        let no_meta = c.rest.first() == Some(&0);
                        f.state = if n == 0 || no_meta {
                            RState::AfterColumns
                        } else {
                            RState::Columns { left: n }
                        };
                    }
                },
            },
            RState::Columns { left } => {
                if f.sets == 0 {
                    push_col(f, p.data, caps, max_cols, full);
                }
                f.state = if left <= 1 {
                    RState::AfterColumns
                } else {
                    RState::Columns { left: left - 1 }
                };
            }
            RState::AfterColumns => {
                if first == Some(0xfe) && p.len == 5 {
                    let (_, st) = wire::parse_eof(p.data).unwrap_or((0, 0));
                    if st & status::CURSOR_EXISTS != 0
                        && f.binary
                        && f.cmd == Some(Command::STMT_EXECUTE)
                    {
                        f.status = Status::Ok;
                        f.response.cursor = Some(true);
                        f.response.status_flags = Some(st);
                        f.sets += 1;
                        close_set(f);
                        done = true;
                    } else {
                        f.state = RState::Rows;
                    }
                } else if first == Some(0xfe) && p.len < 0xFF_FFFF {
                    let more = apply_ok_or_eof(f, p.data, caps);
                    f.status = Status::Ok;
                    f.sets += 1;
                    close_set(f);
                    done = !more;
                } else {
                    f.cur_set.rows += 1;
                    f.state = RState::Rows;
                }
            }
            RState::Rows => {
                if first == Some(0xfe)
                    && p.len < 0xFF_FFFF
                    && (p.len < 9 || caps & cap::DEPRECATE_EOF != 0 || p.len < 0xFF_FFFF)
                    && !(f.binary && first == Some(0x00))
                {
                    let more = apply_ok_or_eof(f, p.data, caps);
                    f.status = Status::Ok;
                    f.sets += 1;
                    close_set(f);
                    done = !more;
                } else {
                    f.cur_set.rows += 1;
                }
            }
            RState::FieldList => {
                if first == Some(0xfe) && p.len < 9 {
                    f.status = Status::Ok;
                    done = true;
                } else {
                    *f.response.column_count.get_or_insert(0) += 1;
                    push_col(f, p.data, caps, max_cols, full);
                }
            }
            RState::Prepare {
                params,
                cols,
                eof_after_params,
            } => {
                if first == Some(0xfe) && p.len < 9 {
                    // An EOF after the parameter or column definitions.
                    if params == 0 && cols == 0 {
                        done = true;
                    } else if params == 0 && !eof_after_params {
                        f.state = RState::Prepare {
                            params,
                            cols,
                            eof_after_params: true,
                        };
                    }
                } else if params > 0 {
                    f.state = RState::Prepare {
                        params: params - 1,
                        cols,
                        eof_after_params,
                    };
                    if params == 1 && cols == 0 && caps & cap::DEPRECATE_EOF != 0 {
                        done = true;
                    }
                } else if cols > 0 {
                    push_col(f, p.data, caps, max_cols, full);
                    f.state = RState::Prepare {
                        params,
                        cols: cols - 1,
                        eof_after_params: true,
                    };
                    if cols == 1 && caps & cap::DEPRECATE_EOF != 0 {
                        done = true;
                    }
                }
                if let RState::Prepare {
                    params: 0, cols: 0, ..
                } = f.state
                {
                    if caps & cap::DEPRECATE_EOF != 0 {
                        done = true;
                    }
                }
            }
            RState::Auth => match first {
                Some(0x00) => {
                    f.status = Status::Ok;
                    apply_ok_or_eof(f, p.data, caps);
                    done = true;
                }
                Some(0xfe) => {
                    let mut c = Cur::new(&p.data[1..]);
                    f.response.auth_plugin = Some(text(c.nul_str(), 64));
                    f.response
                        .auth_steps
                        .get_or_insert_with(Vec::new)
                        .push("auth_switch");
                }
                _ => {
                    let steps = f.response.auth_steps.get_or_insert_with(Vec::new);
                    if steps.len() < 8 {
                        steps.push("more_data");
                    }
                }
            },
            RState::Infile | RState::Done => {}
        }
        if done {
            self.end_front(out);
        }
    }

    fn end_front(&mut self, out: &mut dyn EventSink) {
        if let Some(f) = self.pending.pop_front() {
            self.finish(f, out);
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
                self.next_stmt_id = Some(id.wrapping_add(1));
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
            if let Some(id) = self.next_stmt_id {
                let params = f.prepare_params.unwrap_or(0);
                self.add_stmt(id, f.prepare_sql.clone().unwrap_or_default(), params, true);
                self.last_prepared = Some(id);
                self.next_stmt_id = Some(id.wrapping_add(1));
            }
        }
        if f.has_response && f.status == Status::NoResponse {
            f.status = Status::Partial;
        }
        self.emit(f, out);
    }

    fn add_stmt(&mut self, id: u32, sql: String, params: u32, predicted: bool) {
        self.stmt_order += 1;
        let s = Stmt {
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
        let status = if f.cmd.is_none() && f.command != "LOGIN" { Status::NoRequest } else { f.status };
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
            matches!(c, Command::QUERY | Command::STMT_PREPARE | Command::STMT_EXECUTE | Command::STMT_BULK_EXECUTE)
        });
        if sql_cmd && !f.query.is_empty() {
            tx.fingerprint = Some(fingerprint(&f.query));
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
                        b.notes.push(note);
                        if b.state == RState::Infile {
                            b.state = RState::Start;
                        }
                    }
                }
                if let Some(l) = self.login.as_mut() {
                    l.notes.push(Note::Gap {
                        direction: gap.dir,
                        bytes: gap.len,
                    });
                }
            }
            S2C => {
                if let Some(mut l) = self.login.take() {
                    l.notes.push(note.clone());
                    l.status = Status::Partial;
                    self.emit(l, out);
                    self.phase = Phase::Command;
                }
                if self.phase == Phase::Greeting || self.phase == Phase::Login {
                    self.phase = Phase::Command;
                }
                // The reply being received is cut; the others may have been lost entirely.
                let mut first = true;
                while let Some(mut f) = self.pending.pop_front() {
                    let started = f.has_response || first && mid;
                    f.notes.push(note.clone());
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
        if self.login.is_some() {
            let l = self.login.take().expect("login");
            self.emit(l, out);
        }
        while let Some(f) = self.pending.pop_front() {
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

fn push_col(f: &mut Pending, data: &[u8], caps: u64, max: usize, full: bool) {
    if !full {
        return;
    }
    let cols = f.response.columns.get_or_insert_with(Vec::new);
    if cols.len() < max {
        if let Some(c) = wire::parse_column(data, caps) {
            cols.push(c);
        }
    }
}

/// Apply a terminating OK / EOF; returns whether more results follow.
fn apply_ok_or_eof(f: &mut Pending, data: &[u8], caps: u64) -> bool {
    let st = if data.first() == Some(&0xfe) && data.len() < 9 {
        let (w, st) = wire::parse_eof(data).unwrap_or((0, 0));
        if f.sets == 0 {
            f.response.warnings = Some(w);
        }
        st
    } else if let Some(ok) = parse_ok(data, caps) {
        f.cur_set.affected_rows = Some(ok.affected_rows);
        if f.sets == 0 || f.cur_set.columns == 0 {
            f.response.affected_rows = Some(ok.affected_rows);
            f.response.last_insert_id = Some(ok.last_insert_id);
            f.response.warnings = Some(ok.warnings);
            if !ok.info.is_empty() {
                f.response.info = Some(ok.info);
            }
        }
        ok.status
    } else {
        0
    };
    f.response.status_flags = Some(st);
    let more = st & status::MORE_RESULTS != 0;
    if more {
        f.state = RState::Start;
    }
    more
}

/// Record the result set just finished.
fn close_set(f: &mut Pending) {
    let set = std::mem::take(&mut f.cur_set);
    if f.sets == 1 {
        if set.columns > 0 || f.response.column_count.is_some() {
            f.response.rows = Some(set.rows);
        }
    } else {
        let more = f.response.more_results.get_or_insert_with(Vec::new);
        if more.len() < 16 {
            more.push(set);
        }
    }
}
