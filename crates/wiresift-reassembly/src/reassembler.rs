//! The reassembler: routes segments to connections, opens and closes them, and enforces
//! timeouts and global budgets.

use std::collections::BTreeSet;

use wiresift_core::{CloseReason, ConnectionId, ConnectionInfo, Endpoint, Timestamp};
use wiresift_net::TcpSegment;

use crate::config::ReassemblyConfig;
use crate::conn::Conn;
use crate::event::{
    GapReason, ReassemblyStats, RoleHint, RoleSource, StreamEvent, StreamSink, TimedCause,
};
use crate::table::{Key, Table};

/// TCP stream reassembler over capture-ordered segments. Sans-IO: time is the segments'
/// capture timestamps.
///
/// Feed every decoded TCP segment to [`Reassembler::process`], then call
/// [`Reassembler::finish`] at the end of the capture. Events go to a [`StreamSink`].
#[derive(Debug)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    table: Table,
    /// Directions with buffered bytes, by the age of their oldest hole: (since, connection id,
    /// slot, dir). The id before the slot makes the order independent of slot reuse, so that
    /// several reassemblers (the sharded engine) expire holes in the order one would.
    holes: BTreeSet<(Timestamp, u64, u32, u8)>,
    /// Reused buffer for chunks assembled from buffered pieces.
    scratch: Vec<u8>,
    stats: ReassemblyStats,
    /// Latest capture time seen (monotonic).
    now: Timestamp,
    /// Frame index of the segment being processed (its connection id when it opens one).
    frame: u64,
    buffered: usize,
}

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(cfg: ReassemblyConfig) -> Self {
        Reassembler {
            cfg,
            table: Table::new(),
            holes: BTreeSet::new(),
            scratch: Vec::new(),
            stats: ReassemblyStats::default(),
            now: Timestamp(0),
            frame: 0,
            buffered: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReassemblyConfig {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Connections currently open.
    pub fn connection_count(&self) -> usize {
        self.table.len()
    }

    /// Out-of-order payload bytes currently buffered over all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Process one segment (in capture order). Timeouts due by its timestamp fire first.
    ///
    /// Its frame index is taken to be the number of segments processed so far (1-based): right
    /// when every packet of the capture is a TCP segment. Use [`Reassembler::process_frame`] to
    /// give the capture's own packet index instead (the engine does).
    pub fn process<S: StreamSink>(&mut self, seg: &TcpSegment<'_>, sink: &mut S) {
        let frame = self.frame + 1;
        self.process_frame(seg, frame, sink);
    }

    /// Process one segment that came from packet number `frame` of the capture (1-based, as
    /// Wireshark numbers frames; strictly increasing). A connection this segment opens gets
    /// `ConnectionId(frame)`: ids are unique, increase in opening order, and point at the
    /// connection's first packet in the capture.
    pub fn process_frame<S: StreamSink>(&mut self, seg: &TcpSegment<'_>, frame: u64, sink: &mut S) {
        self.frame = self.frame.max(frame);
        self.stats.segments += 1;
        if seg.ts < self.now {
            self.stats.ts_backwards += 1;
        }
        self.advance_time(seg.ts, sink);
        let key = Key::new(seg.src, seg.dst);
        let syn_only = seg.flags.syn() && !seg.flags.ack();
        if let Some(slot) = self.table.get(&key) {
            if !(syn_only && self.table.conn(slot).is_new_syn(seg)) {
                self.on_conn_segment(slot, seg, sink);
                return;
            }
            // A SYN with a new ISN while the old connection is still open: port reuse.
            self.close(slot, CloseReason::PortReuse, GapReason::Closed, sink);
        } else if self.table.is_closed(&key) {
            if !syn_only {
                // Trailing ACK/FIN/RST of a connection closed by FIN or RST.
                self.stats.segments_after_close += 1;
                return;
            }
            self.table.forget_closed(&key);
        }
        self.open(key, seg, sink);
    }

    /// Let capture time reach `now`: idle connections close, old holes become gaps. Called by
    /// `process` for every segment (each check is O(1) unless something expires); call it
    /// directly to expire things when no packets arrive.
    pub fn advance_time<S: StreamSink>(&mut self, now: Timestamp, sink: &mut S) {
        self.now = self.now.max(now);
        let now = self.now;
        while let Some(slot) = self.table.lru() {
            if self
                .table
                .last_seen(slot)
                .saturating_add(self.cfg.idle_timeout)
                >= now
            {
                break;
            }
            sink.on_timed(TimedCause::Idle {
                last_frame: self.table.last_frame(slot),
            });
            self.close(slot, CloseReason::IdleTimeout, GapReason::Closed, sink);
        }
        while let Some(&(since, id, slot, d)) = self.holes.first() {
            if since.saturating_add(self.cfg.hole_timeout) >= now {
                break;
            }
            sink.on_timed(TimedCause::Hole {
                since,
                conn: ConnectionId(id),
                dir: d,
            });
            self.skip_hole(slot, d, GapReason::HoleTimeout, sink);
        }
        let cutoff = Timestamp(now.0.saturating_sub(self.cfg.time_wait.0));
        self.table.expire_closed(cutoff);
        sink.on_clock(now);
    }

    /// End of capture: every hole becomes a gap ([`GapReason::EndOfCapture`]), buffered bytes
    /// are delivered, and every open connection closes with
    /// [`CloseReason::EndOfCapture`], oldest first.
    pub fn finish<S: StreamSink>(&mut self, sink: &mut S) {
        for slot in self.table.slots_by_id() {
            sink.on_timed(TimedCause::Finish {
                conn: self.table.conn(slot).info.id,
            });
            self.close(
                slot,
                CloseReason::EndOfCapture,
                GapReason::EndOfCapture,
                sink,
            );
        }
        self.table.clear_closed();
        debug_assert!(self.holes.is_empty());
        debug_assert_eq!(self.buffered, 0);
    }

    fn open<S: StreamSink>(&mut self, key: Key, seg: &TcpSegment<'_>, sink: &mut S) {
        let flags = seg.flags;
        if flags.rst() || (!flags.syn() && seg.payload_len == 0) {
            // Nothing to start a connection with: a stray RST, or a bare ACK/FIN of a
            // connection whose handshake we missed (its first payload will open it).
            self.stats.segments_ignored += 1;
            return;
        }
        while self.table.len() >= self.cfg.max_connections.max(1) {
            let Some(lru) = self.table.lru() else { break };
            self.stats.evictions += 1;
            self.close(lru, CloseReason::Evicted, GapReason::Eviction, sink);
        }
        let (client, server, role) = self.roles(seg, sink);
        let id = ConnectionId(self.frame);
        let info = ConnectionInfo {
            id,
            client,
            server,
            start: seg.ts,
            midstream: !flags.syn(),
        };
        self.stats.connections_opened += 1;
        if info.midstream {
            self.stats.midstream_connections += 1;
        }
        tracing::debug!(conn = id.0, %client, %server, ?role, "open");
        let slot = self
            .table
            .insert(key, Conn::new(info, role), self.now, self.frame);
        self.stats.peak_connections = self.stats.peak_connections.max(self.table.len());
        sink.on_event(StreamEvent::Open { info, role });
        self.on_conn_segment(slot, seg, sink);
    }

    /// Who is the client: handshake, then configured server ports, then the sink's probe, then
    /// the port rule.
    fn roles<S: StreamSink>(
        &self,
        seg: &TcpSegment<'_>,
        sink: &mut S,
    ) -> (Endpoint, Endpoint, RoleSource) {
        let (src, dst) = (seg.src, seg.dst);
        if seg.flags.syn() {
            return if seg.flags.ack() {
                (dst, src, RoleSource::Handshake)
            } else {
                (src, dst, RoleSource::Handshake)
            };
        }
        let ports = &self.cfg.server_ports;
        match (ports.contains(&src.port()), ports.contains(&dst.port())) {
            (true, false) => return (dst, src, RoleSource::ServerPort),
            (false, true) => return (src, dst, RoleSource::ServerPort),
            _ => {}
        }
        match sink.classify(seg) {
            RoleHint::SrcIsServer => return (dst, src, RoleSource::Probe),
            RoleHint::SrcIsClient => return (src, dst, RoleSource::Probe),
            RoleHint::Unknown => {}
        }
        if src.port() < dst.port() {
            (dst, src, RoleSource::PortRule)
        } else {
            (src, dst, RoleSource::PortRule)
        }
    }

    fn on_conn_segment<S: StreamSink>(&mut self, slot: u32, seg: &TcpSegment<'_>, sink: &mut S) {
        self.table.touch(slot, self.now, self.frame);
        let conn = self.table.conn_mut(slot);
        let before = conn.buffered();
        let end = conn.on_segment(seg, &self.cfg, &mut self.scratch, &mut self.stats, sink);
        self.after_change(slot, before);
        if let Some(reason) = end {
            self.close(slot, reason, GapReason::Closed, sink);
        }
        self.enforce_memory_budget(sink);
    }

    /// Skip the oldest hole of one direction (timeout or memory budget).
    fn skip_hole<S: StreamSink>(&mut self, slot: u32, d: u8, reason: GapReason, sink: &mut S) {
        let now = self.now;
        let conn = self.table.conn_mut(slot);
        conn.advance(now);
        let before = conn.buffered();
        let end = conn.skip_hole(d as usize, reason, &mut self.scratch, &mut self.stats, sink);
        self.after_change(slot, before);
        if let Some(reason) = end {
            self.close(slot, reason, GapReason::Closed, sink);
        }
    }

    fn enforce_memory_budget<S: StreamSink>(&mut self, sink: &mut S) {
        while self.buffered > self.cfg.max_total_buffer_bytes {
            // The oldest hole with bytes waiting behind it (a FIN alone frees nothing).
            let table = &self.table;
            let victim =
                self.holes.iter().copied().find(|&(_, _, slot, d)| {
                    table.conn(slot).halves[d as usize].buffered_bytes() > 0
                });
            let Some((_, _, slot, d)) = victim else {
                break;
            };
            self.skip_hole(slot, d, GapReason::MemoryBudget, sink);
        }
    }

    /// Account for a connection's buffer change and keep the hole index in step.
    fn after_change(&mut self, slot: u32, before: usize) {
        let conn = self.table.conn_mut(slot);
        let after = conn.buffered();
        let id = conn.info.id.0;
        for (d, h) in conn.halves.iter_mut().enumerate() {
            let since = h.hole_since();
            if since != h.hole_registered() {
                if let Some(t) = h.hole_registered() {
                    self.holes.remove(&(t, id, slot, d as u8));
                }
                if let Some(t) = since {
                    self.holes.insert((t, id, slot, d as u8));
                }
                h.set_hole_registered(since);
            } else {
                h.release_idle();
            }
        }
        self.buffered = self.buffered + after - before;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(self.buffered);
    }

    /// Close a connection: resolve its holes (`gap_reason`), emit `Close`, remove it.
    fn close<S: StreamSink>(
        &mut self,
        slot: u32,
        reason: CloseReason,
        gap_reason: GapReason,
        sink: &mut S,
    ) {
        let now = self.now;
        let conn = self.table.conn_mut(slot);
        if !matches!(reason, CloseReason::Fin | CloseReason::Rst) {
            // Closed by the reassembler, not by a packet: it happens now.
            conn.advance(now);
        }
        let before = conn.buffered();
        conn.flush(gap_reason, &mut self.scratch, &mut self.stats, sink);
        conn.stats.close_reason = Some(reason);
        self.after_change(slot, before);
        self.stats.closed.add(reason);
        // The event borrows the connection where it lies; it is dropped in place after.
        let conn = self.table.conn(slot);
        let id = conn.info.id;
        tracing::debug!(conn = id.0, reason = reason.as_str(), "close");
        sink.on_event(StreamEvent::Close {
            conn: id,
            info: &conn.info,
            ts: conn.now(),
            reason,
            stats: &conn.stats,
        });
        let key = self.table.remove(slot);
        if matches!(reason, CloseReason::Fin | CloseReason::Rst) {
            self.table
                .remember_closed(key, id, now, self.cfg.max_connections);
        }
    }
}
