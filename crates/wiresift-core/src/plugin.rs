//! The sans-IO protocol plugin trait.
//!
//! The engine (in the `wiresift` facade crate) owns capture reading and TCP reassembly. For each
//! connection it picks a plugin (configured port, default port, then [`TcpProtocolPlugin::probe`])
//! and creates one [`ProtocolSession`]. The session is then fed, strictly in capture order:
//!
//! - [`ProtocolSession::on_data`]: in-order stream bytes of one direction, exactly once, as a
//!   borrowed slice (no copy), with the capture timestamp at which they became deliverable and
//!   how long they were held back behind a missing segment;
//! - [`ProtocolSession::on_gap`]: bytes that were never captured (never zero-filled);
//! - [`ProtocolSession::on_fin`] / [`ProtocolSession::on_rst`]: a side closed;
//! - [`ProtocolSession::on_close`]: the connection is over (last call; flush pending requests
//!   as `no_response`).
//!
//! Sessions emit [`crate::SessionEvent`]s into an [`EventSink`]. They must not panic on any
//! input, must bound what they buffer, and must report (not hide) what they could not parse.
//!
//! The model covers the five planned protocols:
//! - FIFO request/response (RESP, SMTP, MySQL): the session keeps a queue of pending requests.
//! - Server-speaks-first (MySQL, SMTP): a reply with no request is a transaction with
//!   [`crate::Status::NoRequest`] or a greeting transaction.
//! - Multiplexed streams (CQL): the session keys pending requests by stream id; replies may come
//!   in any order.
//! - Unsolicited pushes (RESP pub/sub, CQL EVENT): [`crate::Message`] events, never paired.
//! - Multi-packet rounds (TNS): the session buffers until its own framing says a round is done.
//! - Switch to TLS (SMTP STARTTLS, MySQL SSLRequest): the session returns [`Flow::Detach`] (the
//!   engine stops feeding it and counts the remaining bytes as undissected) after emitting a
//!   note.
//! - Hand-over (a proxy tunnel established, later STARTTLS-style upgrades): the session returns
//!   [`Flow::Handover`]; the engine then takes a [`Handover`] from
//!   [`ProtocolSession::handover`] and dissects what follows with another plugin (named, or
//!   chosen by the target's port and probing as for a new connection), feeding it the bytes the
//!   session had already received but that belong to what follows.
//! - Large bodies: sessions skip by length across calls instead of buffering; a [`GapInfo`] in
//!   the middle of a body only shortens it.
//!
//! # Writing a plugin
//!
//! A plugin is two types: the [`TcpProtocolPlugin`] (stateless: a name, ports, a probe, a
//! factory) and its [`ProtocolSession`] (one per connection). This one dissects a toy
//! protocol where the client sends `PING <text>\n` and the server answers `PONG <text>\n`:
//! lines are framed across calls by a bounded [`crate::StreamBuf`], each request waits in a
//! FIFO queue for its reply, and what is still pending at close is reported as it is — a
//! [`Transaction`](crate::Transaction) starts as [`Status::NoResponse`](crate::Status::NoResponse), so a request
//! never answered needs no extra step. The full template, with gap resynchronisation,
//! one-sided captures, budgets, timers and byte accounting, is the memcached example
//! (`examples/memcached/plugin.rs` in the repository).
//!
//! ```
//! use std::collections::VecDeque;
//! use wiresift_core::*;
//!
//! struct PingPlugin;
//!
//! impl TcpProtocolPlugin for PingPlugin {
//!     fn name(&self) -> &'static str { "ping" }
//!     fn default_ports(&self) -> &'static [u16] { &[7777] }
//!     fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
//!         let word: &[u8] = if dir == Direction::ClientToServer { b"PING " } else { b"PONG " };
//!         if data.len() < word.len() {
//!             return if word.starts_with(data) { ProbeResult::NeedMore } else { ProbeResult::NoMatch };
//!         }
//!         if data.starts_with(word) { ProbeResult::Match } else { ProbeResult::NoMatch }
//!     }
//!     fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
//!         Box::new(PingSession {
//!             conn: *conn,
//!             bufs: [StreamBuf::new(1024), StreamBuf::new(1024)],
//!             pending: VecDeque::new(),
//!         })
//!     }
//! }
//!
//! struct PingSession {
//!     conn: ConnectionInfo,
//!     bufs: [StreamBuf; 2],
//!     pending: VecDeque<Transaction<()>>,
//! }
//!
//! impl ProtocolSession for PingSession {
//!     fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
//!         let (conn, pending) = (&self.conn, &mut self.pending);
//!         let fed = self.bufs[chunk.dir.index()].feed(chunk.data, |b| {
//!             let Some(eol) = b.iter().position(|&c| c == b'\n') else { return 0 };
//!             let line = String::from_utf8_lossy(&b[..eol]).into_owned();
//!             if chunk.dir == Direction::ClientToServer {
//!                 // Starts as `no_response`: what it stays if no reply comes.
//!                 let mut tx = Transaction::new("ping", conn, chunk.arrival(), ());
//!                 tx.command = "PING".into();
//!                 tx.query = line;
//!                 tx.request_bytes = eol as u64 + 1;
//!                 pending.push_back(tx);
//!             } else if let Some(mut tx) = pending.pop_front() {
//!                 tx.status = Status::Ok;
//!                 tx.response_bytes = eol as u64 + 1;
//!                 tx.complete_at(chunk.ts);
//!                 out.transaction(&mut tx);
//!             }
//!             eol + 1
//!         });
//!         if fed.is_err() {
//!             return Flow::Detach; // a line longer than 1 KiB: not this protocol
//!         }
//!         Flow::Continue
//!     }
//!     fn on_gap(&mut self, gap: &GapInfo, _out: &mut dyn EventSink) -> Flow {
//!         self.bufs[gap.dir.index()].clear();
//!         Flow::Continue
//!     }
//!     fn on_close(&mut self, _ts: Timestamp, _why: CloseReason, out: &mut dyn EventSink) {
//!         for mut tx in self.pending.drain(..) {
//!             out.transaction(&mut tx);
//!         }
//!     }
//! }
//!
//! // Feed it by hand, as the engine would (tests do the same).
//! let conn = ConnectionInfo::default();
//! let mut s = PingPlugin.new_session(&conn);
//! let mut events: Vec<SessionEvent> = Vec::new();
//! let mut feed = |s: &mut Box<dyn ProtocolSession>, dir, ms: u64, data: &[u8]| {
//!     let ts = Timestamp(ms * 1_000_000);
//!     s.on_data(&StreamChunk { dir, ts, data, held: Duration(0) }, &mut events);
//! };
//! feed(&mut s, Direction::ClientToServer, 1, b"PING a\nPI");
//! feed(&mut s, Direction::ClientToServer, 2, b"NG b\n");
//! feed(&mut s, Direction::ServerToClient, 5, b"PONG a\n");
//! s.on_close(Timestamp(9_000_000), CloseReason::Fin, &mut events);
//! let txs: Vec<_> = events
//!     .iter()
//!     .filter_map(|e| match e { SessionEvent::Transaction(t) => Some(t), _ => None })
//!     .collect();
//! assert_eq!(txs.len(), 2);
//! assert_eq!((txs[0].query.as_str(), txs[0].status, txs[0].latency_us), ("PING a", Status::Ok, Some(4_000)));
//! assert_eq!((txs[1].query.as_str(), txs[1].status), ("PING b", Status::NoResponse));
//! assert_eq!(PingPlugin.probe(Direction::ServerToClient, b"PONG x\n"), ProbeResult::Match);
//! ```

use crate::transaction::EventSink;
use crate::types::{CloseReason, ConnectionId, Direction, Duration, Endpoint, Timestamp};

/// What a connection becomes after [`Flow::Handover`]: who the peer really is now, which
/// plugin goes on, and the bytes already received that belong to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handover {
    /// What happened, for the connection's notes (`"http_connect"`, `"socks5"`, …).
    pub kind: &'static str,
    /// The server the following bytes are exchanged with, when it is not the connection's
    /// server (a proxy's target given as an address). The engine then reports the following
    /// transactions with this `server` and the connection's server as their `proxy`.
    pub target: Option<Endpoint>,
    /// The target as the client named it when it is not an address (`host:port`).
    pub target_name: Option<String>,
    /// Plugin to go on with (by name); `None`: the target's port, then probing.
    pub next: Option<&'static str>,
    /// Bytes received after the hand-over point, in capture order: (direction, capture time,
    /// bytes). Fed to the next session before anything else.
    pub replay: Vec<(Direction, Timestamp, Vec<u8>)>,
}

/// What a plugin thinks of a connection's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// These bytes look like this protocol in the given direction.
    Match,
    /// These bytes are not this protocol (in that direction).
    NoMatch,
    /// Too few bytes to tell.
    NeedMore,
}

/// Facts about a connection given to a new session.
///
/// `Default` (connection 0, both endpoints `0.0.0.0:0`, time 0, not midstream) is for tests:
/// `ConnectionInfo { server: Endpoint::new(ip, 11211), ..Default::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionInfo {
    /// Connection id (unique within a run).
    pub id: ConnectionId,
    /// The client (initiator, or the side the role rules picked).
    pub client: Endpoint,
    /// The server.
    pub server: Endpoint,
    /// Capture time of the first packet.
    pub start: Timestamp,
    /// True when the handshake was not captured (the capture started mid-connection, or the SYN
    /// was lost): the session should expect to start in the middle of a message.
    pub midstream: bool,
}

/// In-order bytes of one direction.
#[derive(Debug, Clone, Copy)]
pub struct StreamChunk<'a> {
    /// Which way the bytes went.
    pub dir: Direction,
    /// Capture time at which these bytes became deliverable in order.
    pub ts: Timestamp,
    /// The bytes; borrowed from the packet or the reassembly buffer, valid for this call only.
    pub data: &'a [u8],
    /// How long (capture time) the oldest of these bytes waited for an earlier missing segment:
    /// zero for data that arrived in order.
    pub held: Duration,
}

impl StreamChunk<'_> {
    /// Capture time at which the oldest of these bytes arrived: `ts - held`. Sessions use it as
    /// the start of a request that begins in this chunk, so that time spent waiting for a TCP
    /// retransmission counts in the latency (and the engine adds a `retransmission_delay` note
    /// saying how much of it that was).
    pub fn arrival(&self) -> Timestamp {
        Timestamp(self.ts.0.saturating_sub(self.held.0))
    }
}

/// Bytes of one direction that will never be delivered.
///
/// A gap always ends where a captured segment begins (or at the end of the connection): the next
/// byte delivered in that direction is the first byte of a segment the sender sent, so a parser
/// may try to resume exactly there before scanning for a later boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapInfo {
    /// Which direction lost bytes.
    pub dir: Direction,
    /// Capture time at which the gap was declared.
    pub ts: Timestamp,
    /// Number of missing bytes, when the sequence numbers tell it.
    pub len: Option<u64>,
}

/// What a session wants after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flow {
    /// Keep feeding this session.
    #[default]
    Continue,
    /// Stop feeding this session (TLS started, protocol not recognised, …). It will still get
    /// [`ProtocolSession::on_close`].
    Detach,
    /// This session is done and another protocol follows on the same connection (a proxy
    /// tunnel was established): the engine takes [`ProtocolSession::handover`], drops this
    /// session (without `on_close`) and goes on with the next one.
    Handover,
}

/// Where the bytes delivered to a session went: the accounting invariant every session keeps is
/// `delivered == parsed + skipped + undissected + held` (see [`ByteAccounting::balanced`]), so
/// that no byte is lost silently. All counts are wire bytes of this session, both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ByteAccounting {
    /// Bytes handed to [`ProtocolSession::on_data`].
    pub delivered: u64,
    /// Bytes that were part of a message the session decoded (including bodies skipped by
    /// length on purpose, such as a large value not kept).
    pub parsed: u64,
    /// Bytes skipped while out of sync (after a gap, a framing error) or dropped from the
    /// carry-over (a partial message cut by a gap or an overflow), counted, never parsed.
    pub skipped: u64,
    /// Bytes received after the session detached or stopped parsing (TLS, not this protocol),
    /// or still unparsed at close.
    pub undissected: u64,
    /// Bytes held in the carry-over now, waiting for the rest of a message (0 after close).
    pub held: u64,
}

impl ByteAccounting {
    /// `delivered == parsed + skipped + undissected + held`.
    pub fn balanced(&self) -> bool {
        self.parsed
            .checked_add(self.skipped)
            .and_then(|v| v.checked_add(self.undissected))
            .and_then(|v| v.checked_add(self.held))
            == Some(self.delivered)
    }
}

/// A `&'static str` for a plugin name known only at run time (read from a configuration
/// file, say), for [`TcpProtocolPlugin::name`].
///
/// Why names are `&'static str`: the name is copied into every [`crate::Transaction`] and
/// [`crate::Message`] a session emits (`protocol`) and is the key of the engine's per-plugin
/// counters, so a borrowed, never-freed string costs nothing per event. A name made at run time
/// is leaked once here, and interned: asking twice for the same name returns the same string
/// and leaks nothing more, so calling this in `name()` itself is fine.
///
/// ```
/// let a = wiresift_core::plugin::static_name("memcached-eu");
/// let b = wiresift_core::plugin::static_name(&String::from("memcached-eu"));
/// assert!(std::ptr::eq(a, b));
/// ```
pub fn static_name(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(n);
    n
}

/// A `&'static [u16]` for default ports known only at run time, for
/// [`TcpProtocolPlugin::default_ports`]; interned like [`static_name`]. (Ports can also be
/// routed at run time without this: [`crate::Registry::set_port`].)
pub fn static_ports(ports: &[u16]) -> &'static [u16] {
    static PORTS: std::sync::Mutex<Vec<&'static [u16]>> = std::sync::Mutex::new(Vec::new());
    let mut all = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = all.iter().find(|p| **p == ports) {
        return p;
    }
    let p: &'static [u16] = Box::leak(ports.to_vec().into_boxed_slice());
    all.push(p);
    p
}

/// A protocol: names itself, recognises its traffic, and creates per-connection sessions.
pub trait TcpProtocolPlugin: Send + Sync {
    /// Short lowercase name used in output and in `--port NAME=PORT` (`"resp"`, `"smtp"`).
    /// A name known only at run time: [`static_name`].
    fn name(&self) -> &'static str;
    /// Well-known server ports (run time: [`static_ports`], or [`crate::Registry::set_port`]).
    fn default_ports(&self) -> &'static [u16];
    /// Does `data` (the first bytes seen in direction `dir`) look like this protocol?
    /// Must be cheap and must not panic on any input.
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult;
    /// A new session for one connection.
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession>;
    /// Whether sessions of this plugin share state across connections (for example CQL
    /// statements prepared on one connection and executed on another). The multi-threaded
    /// engine then keeps every connection on this plugin's ports in one worker, so that the
    /// shared state sees them all in capture order. Default: `false`.
    fn shares_state_across_connections(&self) -> bool {
        false
    }
}

/// Per-connection protocol state. See the module documentation for the calling contract.
pub trait ProtocolSession: Send {
    /// In-order bytes of one direction.
    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow;
    /// Bytes that will never arrive, in one direction. Drop any partial message of that
    /// direction, mark affected transactions, and resynchronise on the following data.
    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow;
    /// The side sending in `dir` closed its half (FIN).
    fn on_fin(&mut self, _dir: Direction, _ts: Timestamp, _out: &mut dyn EventSink) {}
    /// A RST was seen (sent in `dir`).
    fn on_rst(&mut self, _dir: Direction, _ts: Timestamp, _out: &mut dyn EventSink) {}
    /// The connection is over; emit what is still pending.
    fn on_close(&mut self, ts: Timestamp, reason: CloseReason, out: &mut dyn EventSink);
    /// After returning [`Flow::Handover`]: what follows. `None` is treated as
    /// [`Flow::Detach`]. Default: `None`.
    fn handover(&mut self) -> Option<Handover> {
        None
    }

    /// Where the delivered bytes went (see [`ByteAccounting`]); `None` when the session does not
    /// keep accounts. Tests and fuzz targets assert [`ByteAccounting::balanced`] after every
    /// call and after close. Default: `None`.
    fn accounting(&self) -> Option<ByteAccounting> {
        None
    }

    /// Replies that came after their request had already been reported (`no_response` by the
    /// request timeout or shed for the budget): counted, never paired with a later request.
    /// The engine adds it to its run summary (`late_replies`) when the connection closes.
    /// Default: 0.
    fn late_replies(&self) -> u64 {
        0
    }

    /// Bytes of protocol state this session holds now: pending requests and what they keep,
    /// kept values, recipient lists, prepared-statement and cursor maps, notes. An estimate
    /// (`size_of` of the items plus their heap bytes), but it must grow with every item kept and
    /// shrink when items go, and it must be cheap: the engine asks after every callback and
    /// charges it against the per-connection and global session budgets
    /// (`EngineConfig::session_budget`). Default: 0 (a session that keeps nothing).
    fn state_bytes(&self) -> usize {
        0
    }

    /// The session is over its budget: bring [`ProtocolSession::state_bytes`] down to at most
    /// `limit` (may be 0). Emit the oldest pending requests early as
    /// [`crate::Status::NoResponse`] with a [`crate::Note::Shed`] note, drop kept detail or map
    /// entries and count them; keep only what is needed to pair later replies correctly (a
    /// lost-request marker costs a few bytes). Returns the number of items shed (emitted early or
    /// dropped). `ts` is the current capture time. Default: nothing to shed.
    fn shed(&mut self, _limit: usize, _ts: Timestamp, _out: &mut dyn EventSink) -> u64 {
        0
    }

    /// The capture time at which [`ProtocolSession::on_timer`] should next run, given the
    /// request timeout: usually the start of the oldest request still waiting for its reply
    /// plus `request_timeout`. A request that legitimately waits (a blocking command with its
    /// own timeout, a subscription) may push its deadline later or have none. `None`: no timer.
    /// The engine asks after every callback; it must be cheap. Default: `None`.
    fn timer_deadline(&self, _request_timeout: Duration) -> Option<Timestamp> {
        None
    }

    /// Capture time reached `now` (at or after [`ProtocolSession::timer_deadline`]): report
    /// every request that has waited longer than `request_timeout` as
    /// [`crate::Status::NoResponse`] with a [`crate::Note::RequestTimeout`] note, now, instead
    /// of at close. Keep a marker for each, so that a reply arriving later is not paired with
    /// the next request (count it, or report it as a late reply). Returns the number of
    /// requests reported. Driven by capture time only, never the wall clock. Default: nothing.
    fn on_timer(
        &mut self,
        _now: Timestamp,
        _request_timeout: Duration,
        _out: &mut dyn EventSink,
    ) -> u64 {
        0
    }
}
