//! The pipeline: capture → decode → reassembly → protocol sessions → an [`Output`].
//!
//! The engine owns one [`Decoder`], one [`Reassembler`] and a [`Dispatcher`] that implements
//! [`StreamSink`]: for each connection it picks a plugin (user port override, default port, or
//! probing the first bytes), feeds the session in capture order, and attributes TCP
//! retransmission delay to the transactions it overlaps.
//!
//! Everything is driven by capture timestamps; nothing here reads a clock, a socket or a file
//! other than through the packet source ([`wiresift_net::PacketSource`]) handed to [`Engine::run`].

use crate::output::{ConnectionSummary, Output, ParallelOutput};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wiresift_core::registry::{ProbeOutcome, Registry};
use wiresift_core::{
    ConnectionId, ConnectionInfo, Detail, Direction, Duration, Endpoint, EventSink, Flow, GapInfo,
    Message, Note, ParseAnomaly, ProtocolSession, StreamChunk, Timestamp, Transaction,
};
use wiresift_net::TcpSegment;
use wiresift_net::{CaptureError, DecodeStats, Decoder, DecoderConfig, PacketSource, RawPacket};
use wiresift_reassembly::{
    Reassembler, ReassemblyConfig, ReassemblyStats, RoleHint, RoleSource, StreamEvent, StreamSink,
};

/// Engine configuration. Every budget is finite by default.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Link/IP decoding and IP defragmentation.
    pub decoder: DecoderConfig,
    /// TCP reassembly budgets and timeouts.
    pub reassembly: ReassemblyConfig,
    /// Bytes per connection kept while probing for the protocol (default 2 KiB). Connections
    /// still unidentified after that are counted as `unidentified` and not dissected.
    pub probe_budget: usize,
    /// Retransmission stalls remembered per connection for attribution to transactions
    /// (default 32; older stalls are forgotten, never attributed late).
    pub stall_memory: usize,
    /// Session-state budgets (bytes of pending requests, kept values, maps and notes that
    /// protocol sessions hold; see [`ProtocolSession::state_bytes`]).
    pub session_budget: SessionBudget,
    /// Request timeout in capture time: a request still waiting for its reply after this long
    /// is reported as `no_response` with a `request_timeout` note (see
    /// [`ProtocolSession::on_timer`]). Default 30 s; `None`: only at close.
    pub request_timeout: Option<Duration>,
    /// Request timeouts for some plugins (by name), overriding
    /// [`EngineConfig::request_timeout`] for their connections (`None`: off for that plugin).
    pub plugin_request_timeouts: Vec<(String, Option<Duration>)>,
}

/// Bytes of protocol-session state the engine allows (see [`EngineConfig::session_budget`]).
/// When a session goes over either cap, the engine asks it to shed
/// ([`ProtocolSession::shed`]): its oldest pending requests are reported early as
/// `no_response` with a `shed` note, kept detail is dropped, and both are counted in the
/// summary. With several threads the global cap is divided between the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionBudget {
    /// Cap per connection (default 1 MiB).
    pub per_connection: usize,
    /// Cap for the whole run (default 16 MiB: with a full connection table of idle sessions,
    /// ~29 MB, the process stays within 64 MB on any input).
    pub global: usize,
}

impl Default for SessionBudget {
    fn default() -> Self {
        SessionBudget {
            per_connection: 1 << 20,
            global: 16 << 20,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            decoder: DecoderConfig::default(),
            reassembly: ReassemblyConfig::default(),
            probe_budget: 2048,
            stall_memory: 32,
            session_budget: SessionBudget::default(),
            request_timeout: Some(Duration::from_secs(30)),
            plugin_request_timeouts: Vec::new(),
        }
    }
}

/// Dissection counters (per run).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DissectStats {
    /// Connections handed to a plugin, by plugin name.
    pub dissected_connections: HashMap<&'static str, u64>,
    /// Connections whose protocol was not recognised.
    pub unidentified_connections: u64,
    /// Bytes not dissected: unidentified connections, detached sessions (TLS), probe overflow.
    pub undissected_bytes: u64,
    /// Transactions emitted.
    pub transactions: u64,
    /// Messages emitted.
    pub messages: u64,
    /// Parse anomalies emitted.
    pub anomalies: u64,
    /// Transactions annotated with a retransmission delay.
    pub transactions_with_retransmission_delay: u64,
    /// Highest session-state bytes held at once, all sessions together
    /// ([`ProtocolSession::state_bytes`]; with several threads: the sum of the workers' peaks).
    pub peak_session_bytes: u64,
    /// Times a session went over the per-connection budget and was asked to shed.
    pub budget_hits_connection: u64,
    /// Times the sessions together went over the global budget (the session that grew was
    /// asked to shed).
    pub budget_hits_global: u64,
    /// Sessions that could not shed enough to stay within a budget: their connections were
    /// no longer dissected (the rest of their bytes count as undissected).
    pub sessions_dropped_over_budget: u64,
    /// Items shed to stay within the budgets: pending requests reported early (`shed` note) or
    /// kept detail and map entries dropped.
    pub items_shed: u64,
    /// Requests reported as `no_response` by the request timeout (`request_timeout` note).
    pub requests_timed_out: u64,
    /// Replies that came after their request had been reported (timed out or shed), summed
    /// over closed sessions ([`ProtocolSession::late_replies`]): never paired with another
    /// request.
    pub late_replies: u64,
    /// Bytes the sessions skipped while out of sync or dropped from a carry-over, summed over
    /// closed and detached sessions ([`ByteAccounting::skipped`]).
    pub skipped_bytes: u64,
}

impl DissectStats {
    /// Add another engine's counters (the sharded engine's workers).
    pub fn merge(&mut self, o: &DissectStats) {
        for (k, v) in &o.dissected_connections {
            *self.dissected_connections.entry(k).or_default() += v;
        }
        self.unidentified_connections += o.unidentified_connections;
        self.undissected_bytes += o.undissected_bytes;
        self.transactions += o.transactions;
        self.messages += o.messages;
        self.anomalies += o.anomalies;
        self.transactions_with_retransmission_delay += o.transactions_with_retransmission_delay;
        self.peak_session_bytes += o.peak_session_bytes;
        self.budget_hits_connection += o.budget_hits_connection;
        self.budget_hits_global += o.budget_hits_global;
        self.sessions_dropped_over_budget += o.sessions_dropped_over_budget;
        self.items_shed += o.items_shed;
        self.requests_timed_out += o.requests_timed_out;
        self.late_replies += o.late_replies;
        self.skipped_bytes += o.skipped_bytes;
    }
}

/// Everything counted during a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Capture bytes read.
    pub capture_bytes: u64,
    /// Link/IP/TCP decoding.
    pub decode: DecodeStats,
    /// TCP reassembly.
    pub reassembly: ReassemblyStats,
    /// Protocol dissection.
    pub dissect: DissectStats,
    /// The error that stopped reading, if any (the packets before it were processed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_error: Option<String>,
}

pub(crate) enum Slot {
    /// No plugin yet; chunks kept (bounded) until a probe decides.
    Probing {
        chunks: Vec<(Direction, Timestamp, Duration, Vec<u8>)>,
        bytes: usize,
        no_match: [bool; 2],
    },
    /// A live session.
    Session(Box<dyn ProtocolSession>, &'static str),
    /// A session that returned [`Flow::Detach`]: fed nothing more (bytes are counted as
    /// undissected), but still closed with [`ProtocolSession::on_close`] at the end.
    Detached(Box<dyn ProtocolSession>, &'static str),
    /// Detached or unidentified: bytes are only counted.
    Idle,
}

struct Conn {
    info: ConnectionInfo,
    role: RoleSource,
    slot: Slot,
    stalls: VecDeque<(Timestamp, Direction, Duration)>,
    /// Set once the connection carries a proxy tunnel ([`Flow::Handover`]). Boxed: rare, and
    /// 104 bytes inline in every connection otherwise.
    tunnel: Option<Box<TunnelNote>>,
    /// Hand-overs so far (bounded: a hand-over loop stops dissection).
    handovers: u8,
    /// Session-state bytes last charged for this connection.
    state: usize,
    /// The request-timer entry in [`Ctx::timers`], if any.
    scheduled: Option<Timestamp>,
    /// The request timeout of this connection's plugin.
    timeout: Option<Duration>,
}

/// A connection that carries a tunnel through a proxy (HTTP CONNECT, SOCKS): the connection
/// note in [`ConnectionSummary::tunnel`] and the flow record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelNote {
    /// How the tunnel was set up (`http_connect`, `socks4`, `socks4a`, `socks5`).
    pub kind: &'static str,
    /// The proxy: the connection's server.
    pub proxy: Endpoint,
    /// The tunnel's target as the client asked for it (`host:port`).
    pub target: String,
    /// The target's address when the client gave one: the `server` of the transactions
    /// dissected inside the tunnel (all of which carry the proxy as `proxy`).
    #[serde(skip)]
    pub target_addr: Option<Endpoint>,
}

/// Hand-overs per connection before the engine stops dissecting it (a tunnel in a tunnel is
/// fine; a loop is not).
const MAX_HANDOVERS: u8 = 4;

/// Routes reassembly events to sessions and sessions' events to the output.
pub struct Dispatcher<O: Output> {
    /// Boxed: the map moves 8-byte values, not the whole state, and its doubling (a table at
    /// `max_connections` with churn grows to twice the buckets) costs 9 bytes a bucket.
    conns: FxHashMap<ConnectionId, Box<Conn>>,
    pub(crate) ctx: Ctx<O>,
}

/// Everything but the connection map, so a connection and the context can be borrowed at once.
pub(crate) struct Ctx<O: Output> {
    pub(crate) registry: Registry,
    pub(crate) out: O,
    pub(crate) stats: DissectStats,
    probe_budget: usize,
    stall_memory: usize,
    budget: SessionBudget,
    request_timeout: Option<Duration>,
    /// Per-plugin overrides of `request_timeout`, by plugin index.
    plugin_timeouts: Vec<(usize, Option<Duration>)>,
    /// Session-state bytes charged, all connections together.
    session_bytes: usize,
    /// Request timers: (deadline, connection), at most one per live connection.
    timers: BTreeSet<(Timestamp, ConnectionId)>,
    /// Set when the run was interrupted ([`Engine::set_stop`]) before the end-of-capture
    /// flush: requests flushed then get [`Note::Interrupted`].
    pub(crate) interrupted: bool,
}

/// Wraps the output to count events and annotate transactions with retransmission delay.
struct Emitter<'a, O: Output> {
    out: &'a mut O,
    stats: &'a mut DissectStats,
    stalls: &'a VecDeque<(Timestamp, Direction, Duration)>,
    /// The proxy, for transactions inside a tunnel.
    proxy: Option<Endpoint>,
    /// [`Ctx::interrupted`], set for the end-of-capture close of an interrupted run.
    interrupted: bool,
    /// While a session sheds: the budget that was hit, written into its `shed` notes.
    shed_budget: Option<&'static str>,
}

impl<'a, O: Output> Emitter<'a, O> {
    fn new(
        out: &'a mut O,
        stats: &'a mut DissectStats,
        stalls: &'a VecDeque<(Timestamp, Direction, Duration)>,
        tunnel: &Option<Box<TunnelNote>>,
    ) -> Self {
        Emitter {
            out,
            stats,
            stalls,
            proxy: tunnel.as_deref().and_then(TunnelNote::proxy_field),
            shed_budget: None,
            interrupted: false,
        }
    }
}

impl<O: Output> EventSink for Emitter<'_, O> {
    fn detail(&self) -> Detail {
        self.out.detail()
    }
    fn transaction(&mut self, tx: &mut Transaction) {
        self.stats.transactions += 1;
        if attribute_stalls(&mut tx.notes, tx.ts, tx.end_ts, self.stalls) {
            self.stats.transactions_with_retransmission_delay += 1;
        }
        if self.proxy.is_some() {
            tx.proxy = self.proxy;
        }
        if self.interrupted && tx.status == wiresift_core::Status::NoResponse {
            tx.add_note(Note::Interrupted);
        }
        if let Some(b) = self.shed_budget {
            for n in &mut tx.notes {
                if let Note::Shed { budget } = n {
                    *budget = b;
                }
            }
        }
        self.out.transaction(tx);
    }
    fn message(&mut self, m: &Message) {
        self.stats.messages += 1;
        self.out.message(m);
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        self.stats.anomalies += 1;
        self.out.anomaly(a);
    }
}

/// Add one `RetransmissionDelay` note per direction (the largest stall) for stalls that
/// happened between `start` and `end` inclusive. Returns whether a note was added.
fn attribute_stalls(
    notes: &mut Vec<Note>,
    start: Timestamp,
    end: Timestamp,
    stalls: &VecDeque<(Timestamp, Direction, Duration)>,
) -> bool {
    let mut worst = [0u64; 2];
    for &(ts, dir, delay) in stalls {
        if ts >= start && ts <= end {
            worst[dir.index()] = worst[dir.index()].max(delay.as_micros());
        }
    }
    let mut added = false;
    for dir in Direction::BOTH {
        let us = worst[dir.index()];
        if us > 0 {
            notes.push(Note::RetransmissionDelay {
                direction: dir,
                delay_us: us,
            });
            added = true;
        }
    }
    added
}

impl<O: Output> Dispatcher<O> {
    pub(crate) fn new(registry: Registry, out: O, cfg: &EngineConfig) -> Self {
        let plugin_timeouts = cfg
            .plugin_request_timeouts
            .iter()
            .filter_map(|(n, t)| Some((registry.index_of(n)?, t.filter(|t| t.0 > 0))))
            .collect();
        Dispatcher {
            conns: FxHashMap::default(),
            ctx: Ctx {
                registry,
                out,
                stats: DissectStats::default(),
                probe_budget: cfg.probe_budget,
                stall_memory: cfg.stall_memory,
                budget: cfg.session_budget,
                request_timeout: cfg.request_timeout.filter(|t| t.0 > 0),
                plugin_timeouts,
                session_bytes: 0,
                timers: BTreeSet::new(),
                interrupted: false,
            },
        }
    }
}

impl<O: Output> Ctx<O> {
    /// After a session callback at capture time `now`: charge the session's state against the
    /// budgets (asking it to shed when over; dropping it if it cannot), and schedule its request
    /// timer. `from_timer`: called right after [`ProtocolSession::on_timer`], when a deadline
    /// still due is not scheduled again (a session that did not act would fire forever; its next
    /// callback schedules it).
    fn settle(&mut self, conn: &mut Conn, now: Timestamp, from_timer: bool) {
        let id = conn.info.id;
        let others = self.session_bytes - conn.state;
        if let Slot::Probing { bytes, .. } = conn.slot {
            // Bytes kept while probing count against the global budget too.
            if others.saturating_add(bytes) > self.budget.global {
                self.stats.budget_hits_global += 1;
                self.stats.undissected_bytes += bytes as u64;
                self.stats.unidentified_connections += 1;
                conn.slot = Slot::Idle;
                conn.state = 0;
                self.session_bytes = others;
            } else {
                conn.state = bytes;
                self.session_bytes = others + bytes;
                self.stats.peak_session_bytes =
                    self.stats.peak_session_bytes.max(self.session_bytes as u64);
            }
            return;
        }
        let Slot::Session(s, _) = &mut conn.slot else {
            self.session_bytes = others;
            conn.state = 0;
            if let Some(t) = conn.scheduled.take() {
                self.timers.remove(&(t, id));
            }
            return;
        };
        let proxy = conn.tunnel.as_deref().and_then(TunnelNote::proxy_field);
        let mut bytes = s.state_bytes();
        let mut over = false;
        if bytes > self.budget.per_connection {
            self.stats.budget_hits_connection += 1;
            let limit = self.budget.per_connection;
            bytes = self.shed(s.as_mut(), &conn.stalls, proxy, limit, now, "connection");
            over = bytes > limit;
        }
        if !over && others.saturating_add(bytes) > self.budget.global {
            self.stats.budget_hits_global += 1;
            let limit = self.budget.global.saturating_sub(others);
            bytes = self.shed(s.as_mut(), &conn.stalls, proxy, limit, now, "global");
            over = bytes > limit;
        }
        if over {
            // The session cannot get within its budget: stop dissecting this connection.
            self.stats.sessions_dropped_over_budget += 1;
            self.retire(s.as_ref(), true);
            conn.slot = Slot::Idle;
            self.session_bytes = others;
            conn.state = 0;
            if let Some(t) = conn.scheduled.take() {
                self.timers.remove(&(t, id));
            }
            return;
        }
        conn.state = bytes;
        self.session_bytes = others + bytes;
        self.stats.peak_session_bytes =
            self.stats.peak_session_bytes.max(self.session_bytes as u64);
        if let Some(tmo) = conn.timeout {
            match s.timer_deadline(tmo) {
                Some(d) if from_timer && d <= now => {}
                Some(d) if conn.scheduled.is_none_or(|t| d < t) => {
                    if let Some(t) = conn.scheduled.replace(d) {
                        self.timers.remove(&(t, id));
                    }
                    self.timers.insert((d, id));
                }
                _ => {}
            }
        }
    }

    /// Ask `s` to get down to `limit` bytes; returns its state bytes after.
    fn shed(
        &mut self,
        s: &mut dyn ProtocolSession,
        stalls: &VecDeque<(Timestamp, Direction, Duration)>,
        proxy: Option<Endpoint>,
        limit: usize,
        now: Timestamp,
        budget: &'static str,
    ) -> usize {
        let mut em = Emitter {
            out: &mut self.out,
            stats: &mut self.stats,
            stalls,
            proxy,
            shed_budget: Some(budget),
            interrupted: false,
        };
        let mut n = s.shed(limit, now, &mut em);
        if s.state_bytes() > limit {
            n += s.shed(0, now, &mut em);
        }
        self.stats.items_shed += n;
        s.state_bytes()
    }

    /// The session returned [`Flow::Detach`]: feed it nothing more. What it received and did
    /// not dissect (the rest of the chunk it detached in) counts as undissected.
    fn detach(&mut self, conn: &mut Conn) {
        let slot = std::mem::replace(&mut conn.slot, Slot::Idle);
        if let Slot::Session(s, name) = slot {
            if let Some(a) = s.accounting() {
                self.stats.undissected_bytes += a.undissected + a.held;
                // Counted now: a detached session's accounts are not read again at close.
                self.stats.skipped_bytes += a.skipped;
            }
            conn.slot = Slot::Detached(s, name);
        }
    }

    /// Add a session's own counters to the run summary as it goes: `skipped` for a live
    /// session (a detached one's were counted when it detached), late replies always.
    fn retire(&mut self, s: &dyn ProtocolSession, skipped: bool) {
        self.stats.late_replies += s.late_replies();
        if skipped {
            if let Some(a) = s.accounting() {
                self.stats.skipped_bytes += a.skipped;
            }
        }
    }

    /// Forget a closed connection's budget charge and timer.
    fn release(&mut self, conn: &mut Conn) {
        self.session_bytes -= conn.state;
        conn.state = 0;
        if let Some(t) = conn.scheduled.take() {
            self.timers.remove(&(t, conn.info.id));
        }
    }

    fn start_session(&mut self, idx: usize, conn: &mut Conn) {
        let plugin = self.registry.plugin(idx);
        let name = plugin.name();
        *self.stats.dissected_connections.entry(name).or_default() += 1;
        // Inside a tunnel to a known address, the session sees the real server.
        let mut info = conn.info;
        if let Some(t) = conn.tunnel.as_ref().and_then(|t| t.target_addr) {
            info.server = t;
        }
        conn.timeout = self
            .plugin_timeouts
            .iter()
            .find(|(i, _)| *i == idx)
            .map_or(self.request_timeout, |(_, t)| *t);
        conn.slot = Slot::Session(plugin.new_session(&info), name);
    }

    /// The session returned [`Flow::Handover`]: go on with the plugin for what follows.
    fn handover(&mut self, conn: &mut Conn) {
        let Slot::Session(session, _) = &mut conn.slot else {
            return;
        };
        let h = session.handover();
        let old = std::mem::replace(&mut conn.slot, Slot::Idle);
        if let Slot::Session(s, _) = &old {
            self.retire(s.as_ref(), true);
        }
        let Some(h) = h else { return };
        conn.handovers = conn.handovers.saturating_add(1);
        if conn.handovers > MAX_HANDOVERS {
            for (_, _, b) in &h.replay {
                self.stats.undissected_bytes += b.len() as u64;
            }
            return;
        }
        if h.target.is_some() || h.target_name.is_some() {
            let target = match (&h.target_name, h.target) {
                (Some(n), _) => n.clone(),
                (None, Some(t)) => t.to_string(),
                (None, None) => String::new(),
            };
            // A tunnel inside a tunnel: the outer proxy stays the one on the wire.
            let proxy = conn.tunnel.as_ref().map_or(conn.info.server, |t| t.proxy);
            conn.tunnel = Some(Box::new(TunnelNote {
                kind: h.kind,
                proxy,
                target,
                target_addr: h.target,
            }));
        }
        let next = h.next.and_then(|n| self.registry.index_of(n)).or_else(|| {
            conn.tunnel
                .as_ref()
                .and_then(|t| t.target_addr)
                .and_then(|t| self.registry.by_port(t.port()))
        });
        match next {
            Some(idx) => self.start_session(idx, conn),
            None if self.registry.probing() => {
                conn.slot = Slot::Probing {
                    chunks: Vec::new(),
                    bytes: 0,
                    no_match: [false; 2],
                }
            }
            None => self.stats.unidentified_connections += 1,
        }
        for (dir, ts, data) in h.replay {
            let c = StreamChunk {
                dir,
                ts,
                data: &data,
                held: Duration(0),
            };
            self.data_for(conn, &c);
        }
    }

    fn data_for(&mut self, conn: &mut Conn, chunk: &StreamChunk<'_>) {
        match &mut conn.slot {
            Slot::Session(session, _) => {
                let mut em =
                    Emitter::new(&mut self.out, &mut self.stats, &conn.stalls, &conn.tunnel);
                match session.on_data(chunk, &mut em) {
                    Flow::Continue => {}
                    Flow::Detach => self.detach(conn),
                    Flow::Handover => self.handover(conn),
                }
            }
            Slot::Idle | Slot::Detached(..) => {
                self.stats.undissected_bytes += chunk.data.len() as u64
            }
            Slot::Probing {
                chunks,
                bytes,
                no_match,
            } => {
                if *bytes + chunk.data.len() > self.probe_budget {
                    // Give up: the bytes kept so far and these are not dissected.
                    self.stats.undissected_bytes += (*bytes + chunk.data.len()) as u64;
                    self.stats.unidentified_connections += 1;
                    conn.slot = Slot::Idle;
                    return;
                }
                *bytes += chunk.data.len();
                chunks.push((chunk.dir, chunk.ts, chunk.held, chunk.data.to_vec()));
                // Probe with everything seen so far in this direction.
                let mut seen = Vec::new();
                for (d, _, _, b) in chunks.iter() {
                    if *d == chunk.dir {
                        seen.extend_from_slice(b);
                    }
                }
                match self.registry.probe(chunk.dir, &seen) {
                    ProbeOutcome::Match(idx) => {
                        let Slot::Probing { chunks, .. } =
                            std::mem::replace(&mut conn.slot, Slot::Idle)
                        else {
                            unreachable!("matched on Probing above")
                        };
                        self.start_session(idx, conn);
                        for (dir, ts, held, data) in chunks {
                            let c = StreamChunk {
                                dir,
                                ts,
                                data: &data,
                                held,
                            };
                            self.data_for(conn, &c);
                        }
                    }
                    ProbeOutcome::NeedMore => {}
                    ProbeOutcome::NoMatch => {
                        no_match[chunk.dir.index()] = true;
                        if no_match[0] && no_match[1] {
                            self.stats.undissected_bytes += *bytes as u64;
                            self.stats.unidentified_connections += 1;
                            conn.slot = Slot::Idle;
                        }
                    }
                }
            }
        }
    }
}

impl<O: Output> StreamSink for Dispatcher<O> {
    fn on_event(&mut self, ev: StreamEvent<'_>) {
        match ev {
            StreamEvent::Open { info, role } => {
                let by_port = self.ctx.registry.by_port(info.server.port());
                if by_port.is_none() && !self.ctx.registry.probing() {
                    // No plugin can ever take it: keep nothing (its bytes are counted as
                    // undissected as they come, and `Close` describes it).
                    self.ctx.stats.unidentified_connections += 1;
                    return;
                }
                let mut conn = Conn {
                    info,
                    role,
                    slot: Slot::Idle,
                    stalls: VecDeque::new(),
                    tunnel: None,
                    handovers: 0,
                    state: 0,
                    scheduled: None,
                    timeout: None,
                };
                match by_port {
                    Some(idx) => self.ctx.start_session(idx, &mut conn),
                    None => {
                        conn.slot = Slot::Probing {
                            chunks: Vec::new(),
                            bytes: 0,
                            no_match: [false; 2],
                        }
                    }
                }
                self.conns.insert(info.id, Box::new(conn));
            }
            StreamEvent::Data { conn, chunk } => {
                self.ctx.out.data(conn, &chunk);
                match self.conns.get_mut(&conn) {
                    Some(c) => {
                        self.ctx.data_for(c, &chunk);
                        self.ctx.settle(c, chunk.ts, false);
                    }
                    // Not kept: no plugin serves it.
                    None => self.ctx.stats.undissected_bytes += chunk.data.len() as u64,
                }
            }
            StreamEvent::Gap { conn, gap, .. } => {
                self.ctx.out.gap(conn, &gap);
                self.on_gap(conn, &gap);
            }
            StreamEvent::Stall {
                conn,
                dir,
                ts,
                delay,
            } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    if c.stalls.len() >= self.ctx.stall_memory {
                        c.stalls.pop_front();
                    }
                    c.stalls.push_back((ts, dir, delay));
                }
            }
            StreamEvent::Fin { conn, dir, ts } => self.with_session(conn, ts, |s, em| {
                s.on_fin(dir, ts, em);
            }),
            StreamEvent::Rst { conn, dir, ts } => self.with_session(conn, ts, |s, em| {
                s.on_rst(dir, ts, em);
            }),
            StreamEvent::Close {
                conn,
                info,
                ts,
                reason,
                stats,
            } => {
                let Some(mut c) = self.conns.remove(&conn) else {
                    // Not kept: no plugin serves it.
                    self.ctx.out.connection_closed(&ConnectionSummary {
                        info,
                        role: stats.role,
                        protocol: None,
                        close_reason: reason,
                        close_ts: ts,
                        stats,
                        tunnel: None,
                    });
                    return;
                };
                self.ctx.release(&mut c);
                let protocol = match &mut c.slot {
                    Slot::Session(s, name) | Slot::Detached(s, name) => {
                        let mut em = Emitter::new(
                            &mut self.ctx.out,
                            &mut self.ctx.stats,
                            &c.stalls,
                            &c.tunnel,
                        );
                        // Requests still pending at an interrupted run's flush.
                        em.interrupted = self.ctx.interrupted;
                        s.on_close(ts, reason, &mut em);
                        Some(*name)
                    }
                    Slot::Probing { bytes, .. } => {
                        self.ctx.stats.unidentified_connections += 1;
                        self.ctx.stats.undissected_bytes += *bytes as u64;
                        None
                    }
                    Slot::Idle => None,
                };
                match &c.slot {
                    Slot::Session(s, _) => self.ctx.retire(s.as_ref(), true),
                    Slot::Detached(s, _) => self.ctx.retire(s.as_ref(), false),
                    _ => {}
                }
                self.ctx.out.connection_closed(&ConnectionSummary {
                    info: &c.info,
                    role: c.role,
                    protocol,
                    close_reason: reason,
                    close_ts: ts,
                    stats,
                    tunnel: c.tunnel.as_deref(),
                });
            }
        }
    }

    fn on_clock(&mut self, now: Timestamp) {
        self.fire_timers(now, |_, _, _| {});
    }

    /// Server ports were already tried by the reassembler (`server_ports`); probe the payload.
    fn classify(&mut self, seg: &TcpSegment<'_>) -> RoleHint {
        if seg.payload.is_empty() || !self.ctx.registry.probing() {
            return RoleHint::Unknown;
        }
        if let ProbeOutcome::Match(_) = self
            .ctx
            .registry
            .probe(Direction::ClientToServer, seg.payload)
        {
            return RoleHint::SrcIsClient;
        }
        if let ProbeOutcome::Match(_) = self
            .ctx
            .registry
            .probe(Direction::ServerToClient, seg.payload)
        {
            return RoleHint::SrcIsServer;
        }
        RoleHint::Unknown
    }
}

impl<O: Output> Dispatcher<O> {
    fn with_session(
        &mut self,
        id: ConnectionId,
        now: Timestamp,
        f: impl FnOnce(&mut dyn ProtocolSession, &mut dyn EventSink),
    ) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if let Slot::Session(s, _) = &mut c.slot {
            let mut em = Emitter::new(&mut self.ctx.out, &mut self.ctx.stats, &c.stalls, &c.tunnel);
            f(s.as_mut(), &mut em);
            self.ctx.settle(c, now, false);
        }
    }

    /// Capture time reached `now`: run the request timers that are due, in (deadline,
    /// connection) order. `mark` is called before each session's `on_timer` (the sharded engine
    /// tags the output that follows).
    pub(crate) fn fire_timers(
        &mut self,
        now: Timestamp,
        mut mark: impl FnMut(&mut O, Timestamp, ConnectionId),
    ) {
        while let Some(&(d, id)) = self.ctx.timers.first() {
            if d > now {
                break;
            }
            self.ctx.timers.pop_first();
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            c.scheduled = None;
            let (Slot::Session(s, _), Some(tmo)) = (&mut c.slot, c.timeout) else {
                continue;
            };
            match s.timer_deadline(tmo) {
                Some(d2) if d2 <= now => {}
                Some(d2) => {
                    c.scheduled = Some(d2);
                    self.ctx.timers.insert((d2, id));
                    continue;
                }
                None => continue,
            }
            mark(&mut self.ctx.out, d, id);
            let mut em = Emitter::new(&mut self.ctx.out, &mut self.ctx.stats, &c.stalls, &c.tunnel);
            let n = s.on_timer(now, tmo, &mut em);
            self.ctx.stats.requests_timed_out += n;
            self.ctx.settle(c, now, true);
        }
    }

    fn on_gap(&mut self, id: ConnectionId, gap: &GapInfo) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match &mut c.slot {
            Slot::Session(s, _) => {
                let mut em =
                    Emitter::new(&mut self.ctx.out, &mut self.ctx.stats, &c.stalls, &c.tunnel);
                match s.on_gap(gap, &mut em) {
                    Flow::Continue => {}
                    Flow::Detach => self.ctx.detach(c),
                    Flow::Handover => self.ctx.handover(c),
                }
                self.ctx.settle(c, gap.ts, false);
            }
            // A gap while probing: what was kept can no longer be replayed as one stream.
            Slot::Probing { bytes, .. } => {
                self.ctx.stats.undissected_bytes += *bytes as u64;
                self.ctx.stats.unidentified_connections += 1;
                c.slot = Slot::Idle;
            }
            Slot::Idle | Slot::Detached(..) => {}
        }
    }
}

impl TunnelNote {
    /// The `proxy` field of the transactions inside (their `server` is the target when it is
    /// an address, else still the proxy).
    fn proxy_field(&self) -> Option<Endpoint> {
        Some(self.proxy)
    }
}

/// The whole pipeline. Generic over the output so the per-event calls are static.
pub struct Engine<O: Output> {
    cfg: EngineConfig,
    /// The summary of a multi-threaded run ([`Engine::run_threads`]), whose counters live in
    /// the workers.
    threaded: Option<RunSummary>,
    decoder: Decoder,
    reassembler: Reassembler,
    dispatcher: Dispatcher<O>,
    capture_bytes: u64,
    capture_error: Option<String>,
    /// Packets read so far: the 1-based index of the current packet (Wireshark's frame
    /// number), which becomes the id of a connection it opens.
    frame: u64,
    /// [`Engine::set_stop`].
    stop: Option<Arc<AtomicBool>>,
}

impl<O: Output> Engine<O> {
    /// A new engine routing connections through `registry` into `out`.
    pub fn new(mut cfg: EngineConfig, registry: Registry, out: O) -> Self {
        // Ports the plugins serve decide roles of connections picked up mid-stream.
        cfg.reassembly.server_ports.extend(registry.server_ports());
        cfg.reassembly.server_ports.sort_unstable();
        cfg.reassembly.server_ports.dedup();
        let dispatcher = Dispatcher::new(registry, out, &cfg);
        Engine {
            threaded: None,
            decoder: Decoder::new(cfg.decoder.clone()),
            reassembler: Reassembler::new(cfg.reassembly.clone()),
            dispatcher,
            capture_bytes: 0,
            capture_error: None,
            frame: 0,
            stop: None,
            cfg,
        }
    }

    /// Stop reading when `stop` becomes true (set it from a signal handler: Ctrl-C). The
    /// engine checks it where it checks [`Output::is_closed`] (every 4096 packets, and per
    /// batch with threads), then runs the normal end-of-capture flush; requests still waiting
    /// for a reply are then reported as `no_response` with [`Note::Interrupted`]. A reader that
    /// blocks (a pipe) must itself return end-of-input once `stop` is set.
    pub fn set_stop(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Whether the stop flag of [`Engine::set_stop`] is set.
    pub fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Process one captured packet.
    #[inline]
    pub fn process_packet(&mut self, pkt: &RawPacket<'_>) {
        self.frame += 1;
        if let Some(seg) = self.decoder.decode(pkt) {
            self.reassembler
                .process_frame(&seg, self.frame, &mut self.dispatcher);
        }
    }

    /// Read `reader` to its end (or to the first unrecoverable error, which is recorded in the
    /// summary), calling `progress(bytes_read)` every 64 Ki packets, then [`Engine::finish`].
    pub fn run<R: PacketSource + ?Sized>(
        &mut self,
        reader: &mut R,
        mut progress: impl FnMut(u64),
    ) -> Result<(), CaptureError> {
        let mut n: u32 = 0;
        let result = loop {
            match reader.next_packet() {
                Ok(Some(pkt)) => {
                    self.frame += 1;
                    if let Some(seg) = self.decoder.decode(&pkt) {
                        self.reassembler
                            .process_frame(&seg, self.frame, &mut self.dispatcher);
                    }
                    n = n.wrapping_add(1);
                    if n % 4096 == 0 {
                        if self.dispatcher.ctx.out.is_closed() || self.stopped() {
                            // Nobody reads the output any more (`| head`), or Ctrl-C: stop
                            // reading.
                            break Ok(());
                        }
                        if n % 65_536 == 0 {
                            progress(reader.bytes_read());
                        }
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => {
                    self.capture_error = Some(e.to_string());
                    break Err(e);
                }
            }
        };
        self.capture_bytes = reader.bytes_read();
        progress(self.capture_bytes);
        self.dispatcher.ctx.interrupted = self.stopped();
        self.finish();
        self.capture_error = damage_report(self.capture_error.take(), reader.errors());
        result
    }

    /// End of capture: declare pending holes as gaps and close every connection.
    pub fn finish(&mut self) {
        self.decoder.finish();
        self.reassembler.finish(&mut self.dispatcher);
    }

    /// Whether any protocol plugin is registered (false for a decode + reassembly run).
    pub fn dissects(&self) -> bool {
        !self.dispatcher.ctx.registry.is_empty()
    }

    /// The output sink.
    pub fn output(&mut self) -> &mut O {
        &mut self.dispatcher.ctx.out
    }

    /// Consume the engine, returning the output.
    pub fn into_output(self) -> O {
        self.dispatcher.ctx.out
    }

    /// Counters so far.
    pub fn summary(&self) -> RunSummary {
        if let Some(s) = &self.threaded {
            return s.clone();
        }
        RunSummary {
            capture_bytes: self.capture_bytes,
            decode: self.decoder.stats().clone(),
            reassembly: self.reassembler.stats().clone(),
            dissect: self.dispatcher.ctx.stats.clone(),
            capture_error: self.capture_error.clone(),
        }
    }
}

/// The capture error, with the damage of other files (several files read as one) after it.
pub(crate) fn damage_report(first: Option<String>, more: Vec<String>) -> Option<String> {
    let mut all: Vec<String> = first.into_iter().collect();
    all.extend(more);
    (!all.is_empty()).then(|| all.join("; "))
}

impl<O: ParallelOutput> Engine<O> {
    /// Like [`Engine::run`], with the connections spread over `threads` worker threads (the
    /// calling thread reads and decodes); see [`crate::parallel`]. The output is byte-identical
    /// to `threads = 1` whenever no per-worker budget is reached, and so are the summary's
    /// counters, except the peak gauges (`peak_connections`, `peak_buffered_bytes`), which are
    /// the sum of the workers' peaks. With `threads <= 1` this is [`Engine::run`].
    ///
    /// Use a fresh engine: the run's state lives in the workers and ends with the run.
    pub fn run_threads<R: PacketSource + ?Sized>(
        &mut self,
        threads: usize,
        reader: &mut R,
        mut progress: impl FnMut(u64),
    ) -> Result<(), CaptureError> {
        if threads <= 1 {
            return self.run(reader, progress);
        }
        let (summary, result) = crate::parallel::run(
            &self.cfg,
            &self.dispatcher.ctx.registry,
            &mut self.dispatcher.ctx.out,
            threads,
            reader,
            &mut progress,
            self.stop.as_deref(),
        );
        self.threaded = Some(summary);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_attribution_window_and_max_per_direction() {
        let mut stalls = VecDeque::new();
        stalls.push_back((Timestamp(100), Direction::ClientToServer, Duration(5_000)));
        stalls.push_back((Timestamp(150), Direction::ClientToServer, Duration(9_000)));
        stalls.push_back((Timestamp(400), Direction::ServerToClient, Duration(7_000)));
        let mut notes = Vec::new();
        assert!(attribute_stalls(
            &mut notes,
            Timestamp(90),
            Timestamp(200),
            &stalls
        ));
        assert_eq!(
            notes,
            vec![Note::RetransmissionDelay {
                direction: Direction::ClientToServer,
                delay_us: 9
            }]
        );
        let mut none = Vec::new();
        assert!(!attribute_stalls(
            &mut none,
            Timestamp(201),
            Timestamp(399),
            &stalls
        ));
        assert!(none.is_empty());
    }
}
