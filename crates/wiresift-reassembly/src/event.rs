//! What the reassembler reports: stream events, the sink that receives them, and counters.

use serde::{Serialize, Serializer};
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, GapInfo, StreamChunk, Timestamp,
};
use wiresift_net::TcpSegment;

/// The reassembler's answer to one question about a connection picked up mid-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleHint {
    /// The segment's sender is the server.
    SrcIsServer,
    /// The segment's sender is the client.
    SrcIsClient,
    /// Cannot tell: the reassembler falls back to its port rule.
    Unknown,
}

/// How the client and server of a connection were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleSource {
    /// From the handshake: the SYN sender is the client, the SYN-ACK sender the server.
    Handshake,
    /// From [`crate::ReassemblyConfig::server_ports`].
    ServerPort,
    /// From [`StreamSink::classify`] (the engine probes the payload with protocol plugins).
    Probe,
    /// The fallback rule: the endpoint with the lower port is the server; with equal ports the
    /// destination of the first captured segment is. The default (of a default-built
    /// [`ConnStats`]).
    #[default]
    PortRule,
}

/// Why bytes of a stream were declared missing. Every [`StreamEvent::Gap`] carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The other side acknowledged bytes the capture never saw.
    AckedUnseen,
    /// The connection's out-of-order budget (bytes or segments) was exceeded: the oldest hole
    /// was skipped.
    ReorderBudget,
    /// This side's FIN arrived with bytes missing before it and nothing filled them within
    /// the hole timeout.
    FinWithHole,
    /// A hole waited longer than [`crate::ReassemblyConfig::hole_timeout`].
    HoleTimeout,
    /// The capture ended with the hole still open.
    EndOfCapture,
    /// The global buffer budget was exceeded: the oldest hole of all connections was skipped.
    MemoryBudget,
    /// The capture truncated the segment (snaplen): its tail was never captured.
    SnaplenTruncated,
    /// The connection was evicted to respect the connection budget.
    Eviction,
    /// The connection closed another way (RST, idle timeout, port reuse) with a hole open.
    Closed,
}

impl RoleSource {
    /// Stable snake_case name (as serialised).
    pub const fn as_str(self) -> &'static str {
        match self {
            RoleSource::Handshake => "handshake",
            RoleSource::ServerPort => "server_port",
            RoleSource::Probe => "probe",
            RoleSource::PortRule => "port_rule",
        }
    }
}

impl GapReason {
    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            GapReason::AckedUnseen => "acked_unseen",
            GapReason::ReorderBudget => "reorder_budget",
            GapReason::FinWithHole => "fin_with_hole",
            GapReason::HoleTimeout => "hole_timeout",
            GapReason::EndOfCapture => "end_of_capture",
            GapReason::MemoryBudget => "memory_budget",
            GapReason::SnaplenTruncated => "snaplen_truncated",
            GapReason::Eviction => "eviction",
            GapReason::Closed => "closed",
        }
    }
}

/// One thing that happened on a connection, in capture order.
///
/// For one connection the order is: `Open`, then per direction `Data`/`Gap`/`Stall` in stream
/// order and at most one `Fin`, possibly `Rst`, and finally `Close` (after which the id is never
/// used again). The byte offsets are exact: for each direction, the lengths of its `Data` and
/// `Gap` events add up to the stream position, and no byte is delivered twice.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// A new connection.
    Open {
        /// Ids, endpoints, start time, and whether the handshake was missed.
        info: ConnectionInfo,
        /// How client and server were decided.
        role: RoleSource,
    },
    /// In-order bytes of one direction, exactly once. The slice borrows from the segment being
    /// processed (in-order fast path, no copy) or from the reassembly buffer.
    Data {
        /// Connection.
        conn: ConnectionId,
        /// The bytes, their direction, time and how long they were held back.
        chunk: StreamChunk<'a>,
    },
    /// Bytes that will never be delivered; the stream continues after them.
    Gap {
        /// Connection.
        conn: ConnectionId,
        /// Direction, time and length.
        gap: GapInfo,
        /// Why the bytes were given up on.
        reason: GapReason,
    },
    /// A retransmission delay: data was held back behind a missing segment for `delay` (emitted
    /// just before that data's `Data` event), or a segment already delivered was sent again
    /// `delay` after its first copy.
    Stall {
        /// Connection.
        conn: ConnectionId,
        /// Direction of the delayed bytes.
        dir: Direction,
        /// When the delay ended (capture time).
        ts: Timestamp,
        /// How long.
        delay: Duration,
    },
    /// The side sending `dir` closed: every byte before its FIN has been delivered or declared
    /// a gap.
    Fin {
        /// Connection.
        conn: ConnectionId,
        /// The direction that ended.
        dir: Direction,
        /// Capture time.
        ts: Timestamp,
    },
    /// A RST was sent in `dir`. Buffered bytes were delivered (holes before them declared
    /// [`GapReason::Closed`]) before this event; `Close` follows.
    Rst {
        /// Connection.
        conn: ConnectionId,
        /// Direction of the RST.
        dir: Direction,
        /// Capture time.
        ts: Timestamp,
    },
    /// The connection is over; its id will not appear again.
    Close {
        /// Connection.
        conn: ConnectionId,
        /// The same ids, endpoints and start time as in `Open`, so that a sink that kept
        /// nothing for the connection can still describe it (the role is in `stats`).
        info: &'a ConnectionInfo,
        /// Capture time.
        ts: Timestamp,
        /// Why.
        reason: CloseReason,
        /// Final per-connection counters.
        stats: &'a ConnStats,
    },
}

/// Why the reassembler acts without a segment ([`StreamSink::on_timed`]). Within one capture
/// time step, a reassembler acts in this order: idle timeouts (least recently active first),
/// then hole timeouts (oldest hole first; ties by connection id, then direction); at the end of
/// the capture, connections close by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimedCause {
    /// A connection idle for longer than the timeout closes; `last_frame` is the frame index of
    /// its last packet (unique per connection, and its LRU order).
    Idle {
        /// Frame index of the connection's last packet.
        last_frame: u64,
    },
    /// A hole older than the timeout becomes a gap.
    Hole {
        /// When the hole appeared.
        since: Timestamp,
        /// Its connection.
        conn: ConnectionId,
        /// Its direction (index).
        dir: u8,
    },
    /// End of capture: a connection closes.
    Finish {
        /// The connection.
        conn: ConnectionId,
    },
}

/// Receives the reassembler's events.
pub trait StreamSink {
    /// One event.
    fn on_event(&mut self, ev: StreamEvent<'_>);

    /// Called at the end of every [`crate::Reassembler::advance_time`] (so before each
    /// segment, after the idle and hole timeouts it caused): capture time is now `now`. The
    /// engine runs its request timers here. Default: nothing.
    fn on_clock(&mut self, _now: Timestamp) {}

    /// Called just before the reassembler acts on its own rather than on the segment at hand:
    /// an idle timeout, a hole timeout, or the end of the capture. The events that follow (up
    /// to the next call, or to the next segment) are caused by it. The sharded engine uses this
    /// to merge several reassemblers' events in the order a single one would produce them.
    fn on_timed(&mut self, cause: TimedCause) {
        let _ = cause;
    }

    /// Called once when a connection is first seen without its SYN/SYN-ACK and no
    /// [`crate::ReassemblyConfig::server_ports`] rule decides: is `seg.src` the server? (The
    /// engine probes the payload with protocol plugins.) `seg` always carries payload.
    fn classify(&mut self, seg: &TcpSegment<'_>) -> RoleHint {
        let _ = seg;
        RoleHint::Unknown
    }
}

fn ser_duration_us<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros())
}

/// Counters of one connection, final in [`StreamEvent::Close`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnStats {
    /// Segments processed on this connection (both directions).
    pub packets: u64,
    /// Bytes delivered as `Data`, indexed by [`Direction::index`].
    pub bytes: [u64; 2],
    /// Segments carrying bytes already delivered or buffered (plus retransmitted SYNs and
    /// SYN-ACKs with the same ISN).
    pub retransmitted_segments: u64,
    /// Bytes received again: already delivered or already buffered.
    pub retransmitted_bytes: u64,
    /// Bytes of retransmitted copies that differ from the first copy (which wins). Compared
    /// with bytes still buffered (out of order) and with the last 64 delivered bytes of the
    /// direction; older delivered bytes are not kept.
    pub overlap_conflicts: u64,
    /// Segments that arrived ahead of a hole and were buffered.
    pub out_of_order_segments: u64,
    /// Gap events.
    pub gaps: u64,
    /// Bytes declared missing.
    pub gap_bytes: u64,
    /// The largest retransmission delay: how long data waited behind a hole, or how long after
    /// its first copy a delivered segment was sent again. Serialised in microseconds.
    #[serde(
        rename = "max_retransmission_delay_us",
        serialize_with = "ser_duration_us"
    )]
    pub max_retransmission_delay: Duration,
    /// Segments whose timestamp was earlier than one already seen on this connection.
    pub ts_backwards: u64,
    /// Capture time of the last segment (monotonic: never earlier than a previous one).
    pub last_ts: Timestamp,
    /// Why the connection closed; set just before `Close`.
    pub close_reason: Option<CloseReason>,
    /// How client and server were decided (as in `Open`).
    pub role: RoleSource,
}

/// Closed connections by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // one field per `CloseReason`
pub struct CloseCounts {
    pub fin: u64,
    pub rst: u64,
    pub idle_timeout: u64,
    pub evicted: u64,
    pub end_of_capture: u64,
    pub port_reuse: u64,
}

impl CloseCounts {
    /// Add another set of counts (several reassemblers' totals).
    pub fn merge(&mut self, o: &CloseCounts) {
        self.fin += o.fin;
        self.rst += o.rst;
        self.idle_timeout += o.idle_timeout;
        self.evicted += o.evicted;
        self.end_of_capture += o.end_of_capture;
        self.port_reuse += o.port_reuse;
    }

    pub(crate) fn add(&mut self, r: CloseReason) {
        let c = match r {
            CloseReason::Fin => &mut self.fin,
            CloseReason::Rst => &mut self.rst,
            CloseReason::IdleTimeout => &mut self.idle_timeout,
            CloseReason::Evicted => &mut self.evicted,
            CloseReason::EndOfCapture => &mut self.end_of_capture,
            CloseReason::PortReuse => &mut self.port_reuse,
        };
        *c += 1;
    }
}

/// Gaps by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // one field per `GapReason`
pub struct GapCounts {
    pub acked_unseen: u64,
    pub reorder_budget: u64,
    pub fin_with_hole: u64,
    pub hole_timeout: u64,
    pub end_of_capture: u64,
    pub memory_budget: u64,
    pub snaplen_truncated: u64,
    pub eviction: u64,
    pub closed: u64,
}

impl GapCounts {
    /// Add another set of counts (several reassemblers' totals).
    pub fn merge(&mut self, o: &GapCounts) {
        self.acked_unseen += o.acked_unseen;
        self.reorder_budget += o.reorder_budget;
        self.fin_with_hole += o.fin_with_hole;
        self.hole_timeout += o.hole_timeout;
        self.end_of_capture += o.end_of_capture;
        self.memory_budget += o.memory_budget;
        self.snaplen_truncated += o.snaplen_truncated;
        self.eviction += o.eviction;
        self.closed += o.closed;
    }

    pub(crate) fn add(&mut self, r: GapReason) {
        let c = match r {
            GapReason::AckedUnseen => &mut self.acked_unseen,
            GapReason::ReorderBudget => &mut self.reorder_budget,
            GapReason::FinWithHole => &mut self.fin_with_hole,
            GapReason::HoleTimeout => &mut self.hole_timeout,
            GapReason::EndOfCapture => &mut self.end_of_capture,
            GapReason::MemoryBudget => &mut self.memory_budget,
            GapReason::SnaplenTruncated => &mut self.snaplen_truncated,
            GapReason::Eviction => &mut self.eviction,
            GapReason::Closed => &mut self.closed,
        };
        *c += 1;
    }
}

/// Counters over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReassemblyStats {
    /// Segments given to [`crate::Reassembler::process`].
    pub segments: u64,
    /// Segments that changed nothing: no connection and nothing to start one (a stray ACK, FIN
    /// or RST without payload, such as the bare ACKs of a connection picked up mid-stream
    /// before its first payload).
    pub segments_ignored: u64,
    /// Trailing packets of a connection already closed by FIN or RST (the last ACK of a clean
    /// close, a late retransmitted FIN): expected, and not a loss.
    pub segments_after_close: u64,
    /// Segments starting more than 2^30 bytes (the largest scaled TCP window) ahead of the
    /// stream: ignored as not belonging to it.
    pub out_of_window_segments: u64,
    /// RSTs a receiver would not accept (a reply to a SYN that does not acknowledge it, or a
    /// sequence number far from the sender's stream): ignored, the connection goes on.
    pub rst_ignored: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Of which picked up mid-stream (no handshake captured).
    pub midstream_connections: u64,
    /// Connections closed, by reason.
    pub closed: CloseCounts,
    /// Connections evicted by the connection budget (same as `closed.evicted`).
    pub evictions: u64,
    /// Bytes delivered as `Data`.
    pub delivered_bytes: u64,
    /// Gap events.
    pub gaps: u64,
    /// Bytes declared missing.
    pub gap_bytes: u64,
    /// Gap events by reason.
    pub gaps_by_reason: GapCounts,
    /// Segments carrying bytes already delivered or buffered.
    pub retransmitted_segments: u64,
    /// Bytes received again.
    pub retransmitted_bytes: u64,
    /// Segments buffered ahead of a hole.
    pub out_of_order_segments: u64,
    /// Bytes of retransmitted copies that differed from the first copy (see
    /// [`ConnStats::overlap_conflicts`]).
    pub overlap_conflicts: u64,
    /// Segments whose timestamp was earlier than the latest seen in the capture.
    pub ts_backwards: u64,
    /// Most out-of-order payload bytes buffered at once.
    pub peak_buffered_bytes: usize,
    /// Most connections open at once.
    pub peak_connections: usize,
}

impl ReassemblyStats {
    /// Add the counters of another reassembler (the sharded engine's workers). Counters add up
    /// exactly; the two peak gauges add up too, which bounds the true peak from above (the
    /// shards' peaks need not coincide in time).
    pub fn merge(&mut self, o: &ReassemblyStats) {
        self.segments += o.segments;
        self.segments_ignored += o.segments_ignored;
        self.segments_after_close += o.segments_after_close;
        self.out_of_window_segments += o.out_of_window_segments;
        self.rst_ignored += o.rst_ignored;
        self.connections_opened += o.connections_opened;
        self.midstream_connections += o.midstream_connections;
        self.closed.merge(&o.closed);
        self.evictions += o.evictions;
        self.delivered_bytes += o.delivered_bytes;
        self.gaps += o.gaps;
        self.gap_bytes += o.gap_bytes;
        self.gaps_by_reason.merge(&o.gaps_by_reason);
        self.retransmitted_segments += o.retransmitted_segments;
        self.retransmitted_bytes += o.retransmitted_bytes;
        self.out_of_order_segments += o.out_of_order_segments;
        self.overlap_conflicts += o.overlap_conflicts;
        self.ts_backwards += o.ts_backwards;
        self.peak_buffered_bytes += o.peak_buffered_bytes;
        self.peak_connections += o.peak_connections;
    }
}
