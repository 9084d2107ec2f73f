//! TCP stream reassembly for passive dissection.
//!
//! A [`Reassembler`] takes decoded TCP segments in capture order and reports, per connection
//! and per direction, the exact byte stream the endpoints exchanged as [`StreamEvent`]s: in-order
//! `Data` (each byte exactly once; straight from the segment when it arrives in order), explicit
//! `Gap`s with their length and [`GapReason`] where bytes were never captured (never
//! zero-filled), `Stall`s for retransmission delays, `Fin`/`Rst`, and `Close` with per-connection
//! [`ConnStats`].
//!
//! Design:
//! - Connections are found by canonical 4-tuple in a hash map over a slab, with an intrusive
//!   LRU list: idle timeout and eviction cost O(expired), never O(connections) per packet.
//! - Each direction is a small state machine (`HalfState`: awaiting its first
//!   sequence number, established, FIN received, closed) with one transition function.
//!   Sequence numbers are unwrapped to 64-bit positions near the current one ([`SeqNum`]), so
//!   32-bit wraparound needs no special case.
//! - Out-of-order segments are copied into a per-direction ordered buffer (first copy of a byte
//!   wins, conflicting bytes counted); everything is bounded by [`ReassemblyConfig`], and
//!   hitting a bound skips the oldest hole (a `Gap`), it never grows or drops silently.
//! - All time is capture time; timestamps that go backwards are counted and never produce
//!   negative durations (each connection keeps a monotonic clock).
//!
//! Where the reassembler decides (documented choices):
//! - A connection first seen without its handshake opens on its first segment with payload;
//!   bare ACK/FIN/RST before that are counted in `segments_ignored`. Each direction's stream
//!   starts at its first captured sequence number (bytes before it are never delivered).
//! - FIN with a hole before it: the FIN waits like any buffered segment, because the missing
//!   bytes are usually retransmitted shortly (even after the peer's FIN). The hole is declared
//!   [`GapReason::FinWithHole`] when it times out (`hole_timeout`, counted from the oldest
//!   waiting segment or the FIN); an ACK covering it declares it [`GapReason::AckedUnseen`] at
//!   once; RST, eviction or the end of the capture resolve it with their own reason. The
//!   connection closes with `Fin` once both directions have delivered their FIN.
//! - A snaplen-truncated segment: the captured prefix is data, the rest a
//!   [`GapReason::SnaplenTruncated`] gap declared when the segment is delivered (a later full
//!   copy of those bytes is then a retransmission).
//! - Retransmitted bytes are compared with the bytes still buffered and with the last 64
//!   delivered bytes of their direction (older delivered bytes are not kept): conflicts with
//!   either are counted, in bytes, in `overlap_conflicts`. A keep-alive probe (one byte just
//!   before the stream position, garbage by design) is not compared.
//! - A SYN-ACK with another ISN than the first one (a server answering a retransmitted SYN
//!   afresh) is not a retransmission: while nothing of that direction has been seen, the
//!   stream follows the ISN the client's next acknowledgement picks.
//! - An ACK is trusted at once: bytes it covers that were never captured become an
//!   [`GapReason::AckedUnseen`] gap immediately (a capture that reorders data after its ACK, e.g.
//!   a merge of two interfaces, loses those bytes).
//! - Retransmission delay, two kinds, both reported as [`StreamEvent::Stall`] and folded into
//!   [`ConnStats::max_retransmission_delay`]: (a) bytes held behind a hole carry
//!   `StreamChunk::held` (delivery time minus the arrival of the oldest held byte) and a `Stall`
//!   is emitted just before their `Data`; (b) a segment whose bytes were already delivered is
//!   timed against its first copy, looked up among the last 8 delivered segments of that
//!   direction (older originals are not timed).
//! - Chunks assembled from buffered bytes are at most 64 KiB; longer runs come as several
//!   `Data` events with the same `held`.
//! - Tuples closed by FIN/RST are remembered for `time_wait` so trailing packets do not open a
//!   phantom connection; a SYN always opens a new one.
//! - RSTs are checked like a receiver would (RFC 793 / 5961, loosely): a reply to a SYN must
//!   acknowledge it, any other RST must carry a sequence number near its sender's stream
//!   position; others are ignored and counted (`rst_ignored`). A RST's payload is not stream
//!   data.
//!
//! Compared with `tshark -z follow,tcp,raw` (checked on every capture in the project's
//! `testdata/` and `../shared/pcaps/tcp-edge`), the delivered bytes and the gap positions are
//! identical except where the choices above differ on purpose: conflicting overlaps (first copy
//! wins here; tshark keeps the copy that fills the hole), RST payload (tshark shows it), bytes
//! buffered behind a never-filled hole at RST time (delivered here after a gap; tshark drops
//! them), data sent after an acceptable RST (ignored here), and garbage far out of window.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
mod config;
mod conn;
mod event;
mod half;
mod reassembler;
pub mod seq;
mod table;

#[cfg(test)]
mod tests;

pub use config::ReassemblyConfig;
pub use event::{
    CloseCounts, ConnStats, GapCounts, GapReason, ReassemblyStats, RoleHint, RoleSource,
    StreamEvent, StreamSink, TimedCause,
};
pub use reassembler::Reassembler;
pub use seq::SeqNum;
