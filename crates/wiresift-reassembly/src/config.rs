//! Limits and timeouts of the reassembler.

use wiresift_core::Duration;

/// Limits and timeouts. Every bound is finite by default: memory depends only on what is in
/// flight, never on capture length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Most connections tracked at once (default 16 000). Opening one more evicts the least
    /// recently active connection: its holes become [`crate::GapReason::Eviction`] gaps, it is
    /// closed with [`wiresift_core::CloseReason::Evicted`] and counted. Each tracked
    /// connection costs about 0.4 KB in the table (measured: 401 bytes idle, 673 with data
    /// delivered in one direction; `tests/alloc.rs`) plus its out-of-order bytes; with the
    /// engine's state and an idle protocol session (RESP) about 1.8 KB in all (peak RSS of
    /// `dissect` over SYN-only flows to port 6379: 54 MB at 28 000, 182 MB at 100 000). The
    /// default keeps a full table with sessions (~29 MB), the engine's 16 MiB session-state
    /// budget and the threaded pipeline's buffers within 64 MB.
    pub max_connections: usize,
    /// Out-of-order bytes one connection may buffer, both directions together (default 4 MiB).
    /// Beyond it the oldest hole is skipped ([`crate::GapReason::ReorderBudget`]).
    pub max_conn_buffer_bytes: usize,
    /// Out-of-order bytes buffered over all connections (default 32 MiB). Beyond it the oldest
    /// hole of any connection is skipped ([`crate::GapReason::MemoryBudget`]).
    pub max_total_buffer_bytes: usize,
    /// Out-of-order segments one direction may buffer (default 4096); bounds the per-segment
    /// overhead that byte budgets do not see. Beyond it the oldest hole is skipped
    /// ([`crate::GapReason::ReorderBudget`]).
    pub max_segments_per_direction: usize,
    /// A hole older than this (capture time, counted from the arrival of the oldest segment
    /// waiting behind it) is declared a gap ([`crate::GapReason::HoleTimeout`]; default 10 s).
    /// Real losses are filled by a retransmission, which after a few RTO back-offs can take
    /// seconds (a capture in `../shared/pcaps` waits 2.1 s for one), and bytes the capture
    /// dropped but the receiver got are resolved at once by its ACK
    /// ([`crate::GapReason::AckedUnseen`]); so this mostly bounds how long data waits in
    /// one-directional captures. Memory is bounded by the byte budgets either way.
    pub hole_timeout: Duration,
    /// A connection with no packet for this long (capture time) is closed with
    /// [`wiresift_core::CloseReason::IdleTimeout`] (default 300 s).
    pub idle_timeout: Duration,
    /// How long a 4-tuple closed by FIN or RST is remembered so that its trailing packets (last
    /// ACK, retransmitted FIN, extra RSTs) are ignored instead of opening a mid-stream
    /// connection (default 30 s). A SYN on such a tuple always opens a new connection.
    pub time_wait: Duration,
    /// Ports that identify the server when the handshake was not captured (empty by default).
    pub server_ports: Vec<u16>,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_connections: 16_000,
            max_conn_buffer_bytes: 4 << 20,
            max_total_buffer_bytes: 32 << 20,
            max_segments_per_direction: 4096,
            hole_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            time_wait: Duration::from_secs(30),
            server_ports: Vec::new(),
        }
    }
}
