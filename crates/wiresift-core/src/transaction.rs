//! The protocol-independent transaction record and the events sessions emit.

use crate::plugin::ConnectionInfo;
use crate::types::{ConnectionId, Direction, Endpoint, Timestamp};
use serde::Serialize;

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
    /// Anything else, as text.
    Text {
        /// The note.
        text: String,
    },
}

/// One request paired with its response (or one side alone, see [`Status`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transaction {
    /// Capture time of the request's first byte (of the response, for `no_request`).
    pub ts: Timestamp,
    /// Plugin name.
    pub protocol: &'static str,
    /// Connection id.
    pub connection: ConnectionId,
    /// Client endpoint.
    pub client: Endpoint,
    /// Server endpoint.
    pub server: Endpoint,
    /// Command name (protocol-specific, e.g. `GET`, `CLIENT SETINFO`, `MAIL`).
    pub command: String,
    /// One-line, bounded rendering of the request, secrets redacted.
    pub query: String,
    /// Outcome.
    pub status: Status,
    /// Error text from the reply, when it is an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the request's first byte to the reply's last byte, when both were seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// Request size on the wire.
    pub request_bytes: u64,
    /// Response size on the wire.
    pub response_bytes: u64,
    /// Protocol-specific request detail.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub request: serde_json::Value,
    /// Protocol-specific response detail.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub response: serde_json::Value,
    /// Annotations (gaps, retransmission delay, truncation, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// Capture time of the reply's last byte (or of the last request byte if no reply); the
    /// engine uses it to attribute retransmission delay. Not serialised.
    #[serde(skip)]
    pub end_ts: Timestamp,
}

impl Transaction {
    /// A transaction on `conn` starting at `ts`, status `no_response` until a reply is set.
    pub fn new(protocol: &'static str, conn: &ConnectionInfo, ts: Timestamp) -> Self {
        Transaction {
            ts,
            protocol,
            connection: conn.id,
            client: conn.client,
            server: conn.server,
            command: String::new(),
            query: String::new(),
            status: Status::NoResponse,
            error: None,
            latency_us: None,
            request_bytes: 0,
            response_bytes: 0,
            request: serde_json::Value::Null,
            response: serde_json::Value::Null,
            notes: Vec::new(),
            end_ts: ts,
        }
    }

    /// Record the reply's completion time: sets `end_ts` and `latency_us` (never negative).
    pub fn complete_at(&mut self, end: Timestamp) {
        self.end_ts = end.max(self.ts);
        self.latency_us = Some(end.saturating_since(self.ts).as_micros());
    }
}

/// A protocol message that is not part of a request/response pair: pub/sub and RESP3 pushes,
/// replication stream commands, MONITOR lines, CQL EVENTs, …
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
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
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
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

/// What sessions emit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A request/response pair (or one side alone).
    Transaction(Box<Transaction>),
    /// An unpaired message.
    Message(Box<Message>),
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
pub trait EventSink {
    /// Take one event.
    fn emit(&mut self, ev: SessionEvent);
    /// How much detail the consumer wants (default: [`Detail::Full`]).
    fn detail(&self) -> Detail {
        Detail::Full
    }
}

impl EventSink for Vec<SessionEvent> {
    fn emit(&mut self, ev: SessionEvent) {
        self.push(ev);
    }
}

impl dyn EventSink + '_ {
    /// Emit a transaction.
    pub fn transaction(&mut self, tx: Transaction) {
        self.emit(SessionEvent::Transaction(Box::new(tx)));
    }
    /// Emit a message.
    pub fn message(&mut self, m: Message) {
        self.emit(SessionEvent::Message(Box::new(m)));
    }
    /// Emit a parse anomaly.
    pub fn anomaly(&mut self, a: ParseAnomaly) {
        self.emit(SessionEvent::Anomaly(Box::new(a)));
    }
}
