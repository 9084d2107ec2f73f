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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A protocol: names itself, recognises its traffic, and creates per-connection sessions.
pub trait TcpProtocolPlugin: Send + Sync {
    /// Short lowercase name used in output and in `--port NAME=PORT` (`"resp"`, `"smtp"`).
    fn name(&self) -> &'static str;
    /// Well-known server ports.
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
