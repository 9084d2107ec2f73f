//! Where the engine's results go.

use serde::Serialize;
use std::io::Write;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Detail, GapInfo, Message, ParseAnomaly, StreamChunk,
    Timestamp, Transaction,
};
use wiresift_reassembly::{ConnStats, RoleSource};

/// A closed connection, as handed to [`Output::connection_closed`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSummary<'a> {
    /// Endpoints, id, start time.
    pub info: &'a ConnectionInfo,
    /// How client and server were decided.
    pub role: RoleSource,
    /// The plugin that dissected it, if any.
    pub protocol: Option<&'static str>,
    /// Why it closed.
    pub close_reason: CloseReason,
    /// When it closed (capture time).
    pub close_ts: Timestamp,
    /// Reassembly counters.
    pub stats: &'a ConnStats,
}

/// Receives the engine's results. Every method has an empty default.
pub trait Output {
    /// How much transaction detail this output uses; with [`Detail::Summary`] sessions skip
    /// building `query`, `request` and `response` (default: [`Detail::Full`]).
    fn detail(&self) -> Detail {
        Detail::Full
    }
    /// A transaction (request/response pair or one side alone).
    fn transaction(&mut self, _tx: &Transaction) {}
    /// An unpaired protocol message.
    fn message(&mut self, _m: &Message) {}
    /// A parse anomaly.
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
    /// In-order stream bytes of a connection (for dumping streams).
    fn data(&mut self, _conn: ConnectionId, _chunk: &StreamChunk<'_>) {}
    /// Bytes of a connection that will never be delivered (after the data before them).
    fn gap(&mut self, _conn: ConnectionId, _gap: &GapInfo) {}
    /// A connection ended.
    fn connection_closed(&mut self, _c: &ConnectionSummary<'_>) {}
}

/// Discards everything (for benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;
impl Output for Discard {}

/// The flow record printed by the `flows` example: one JSON object per connection.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRecord {
    /// Connection id.
    pub id: ConnectionId,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// First packet's capture time.
    pub start: Timestamp,
    /// Close time.
    pub end: Timestamp,
    /// How client/server were decided.
    pub role: RoleSource,
    /// Whether the handshake was missing.
    pub midstream: bool,
    /// Plugin that dissected the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    /// Bytes delivered client → server.
    pub client_bytes: u64,
    /// Bytes delivered server → client.
    pub server_bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// Retransmitted bytes.
    pub retransmitted_bytes: u64,
    /// Retransmitted bytes that differed from the first copy.
    pub overlap_conflicts: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Gaps declared.
    pub gaps: u64,
    /// Bytes missing in those gaps.
    pub gap_bytes: u64,
    /// Longest wait for a retransmission (µs).
    pub max_retransmission_delay_us: u64,
    /// Timestamps that went backwards on this connection.
    pub ts_backwards: u64,
    /// Why the connection ended.
    pub close_reason: CloseReason,
}

impl FlowRecord {
    /// Build from a summary.
    pub fn from_summary(c: &ConnectionSummary<'_>) -> Self {
        let s = c.stats;
        FlowRecord {
            id: c.info.id,
            client: c.info.client.to_string(),
            server: c.info.server.to_string(),
            start: c.info.start,
            end: c.close_ts,
            role: c.role,
            midstream: c.info.midstream,
            protocol: c.protocol,
            client_bytes: s.bytes[0],
            server_bytes: s.bytes[1],
            packets: s.packets,
            retransmissions: s.retransmitted_segments,
            retransmitted_bytes: s.retransmitted_bytes,
            overlap_conflicts: s.overlap_conflicts,
            out_of_order: s.out_of_order_segments,
            gaps: s.gaps,
            gap_bytes: s.gap_bytes,
            max_retransmission_delay_us: s.max_retransmission_delay.as_micros(),
            ts_backwards: s.ts_backwards,
            close_reason: c.close_reason,
        }
    }
}

/// Writes one JSON object per line. Write errors (e.g. a closed pipe) are remembered and stop
/// further output; check [`NdjsonWriter::error`].
#[derive(Debug)]
pub struct NdjsonWriter<W: Write> {
    w: W,
    error: Option<std::io::Error>,
}

impl<W: Write> NdjsonWriter<W> {
    /// Wrap a writer (buffer it yourself).
    pub fn new(w: W) -> Self {
        NdjsonWriter { w, error: None }
    }
    /// Serialise `v` as one line.
    pub fn write<T: Serialize + ?Sized>(&mut self, v: &T) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.w, v)
            .map_err(std::io::Error::from)
            .and_then(|_| self.w.write_all(b"\n"));
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
    /// Flush, returning the first error seen.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()?;
        Ok(self.w)
    }
    /// The first write error, if any.
    pub fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }
}
