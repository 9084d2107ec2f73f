//! One connection: roles, its two directions and its counters.

use wiresift_core::{CloseReason, ConnectionInfo, Direction, Timestamp};
use wiresift_net::TcpSegment;

use crate::config::ReassemblyConfig;
use crate::event::{ConnStats, GapReason, ReassemblyStats, RoleSource, StreamEvent, StreamSink};
use crate::half::{Cx, Half, HalfInput, HalfState};
use crate::seq::{unwrap_near, SeqNum};

#[derive(Debug)]
pub(crate) struct Conn {
    pub info: ConnectionInfo,
    /// Indexed by [`Direction::index`].
    pub halves: [Half; 2],
    pub stats: ConnStats,
}

impl Conn {
    pub(crate) fn new(info: ConnectionInfo, role: RoleSource) -> Self {
        let stats = ConnStats {
            last_ts: info.start,
            role,
            ..ConnStats::default()
        };
        Conn {
            info,
            halves: [
                Half::new(Direction::ClientToServer),
                Half::new(Direction::ServerToClient),
            ],
            stats,
        }
    }

    pub(crate) fn dir_of(&self, seg: &TcpSegment<'_>) -> Direction {
        if seg.src == self.info.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.halves[0].buffered_bytes() + self.halves[1].buffered_bytes()
    }

    /// Connection capture time.
    pub(crate) fn now(&self) -> Timestamp {
        self.stats.last_ts
    }

    /// Move the connection's clock forward (never backward) to `t`.
    pub(crate) fn advance(&mut self, t: Timestamp) {
        self.stats.last_ts = self.stats.last_ts.max(t);
    }

    /// Is this SYN (no ACK) the start of a new connection on the same tuple, rather than a
    /// retransmission of the one this connection started with?
    pub(crate) fn is_new_syn(&self, seg: &TcpSegment<'_>) -> bool {
        let half = &self.halves[self.dir_of(seg).index()];
        match half.first_seq() {
            Some(first) => SeqNum(seg.seq).add(1) != first,
            None => false,
        }
    }

    fn cx<'a, S>(
        stats: &'a mut ConnStats,
        info: &ConnectionInfo,
        sink: &'a mut S,
        g: &'a mut ReassemblyStats,
    ) -> Cx<'a, S> {
        let now = stats.last_ts;
        Cx {
            sink,
            g,
            stats,
            id: info.id,
            now,
        }
    }

    /// One segment of this connection. Returns how the connection ends, if it does.
    pub(crate) fn on_segment<S: StreamSink>(
        &mut self,
        seg: &TcpSegment<'_>,
        cfg: &ReassemblyConfig,
        scratch: &mut Vec<u8>,
        g: &mut ReassemblyStats,
        sink: &mut S,
    ) -> Option<CloseReason> {
        let dir = self.dir_of(seg);
        if seg.ts < self.stats.last_ts {
            self.stats.ts_backwards += 1;
        }
        self.advance(seg.ts);
        self.stats.packets += 1;
        let Conn {
            info,
            halves,
            stats,
            ..
        } = self;
        let mut cx = Self::cx(stats, info, sink, g);
        let [c2s, s2c] = halves;
        let (me, peer) = match dir {
            Direction::ClientToServer => (c2s, s2c),
            Direction::ServerToClient => (s2c, c2s),
        };
        let flags = seg.flags;

        if flags.rst() {
            if !rst_acceptable(me, peer, seg) {
                // Injected, stale or garbled: the receiver would have dropped it too.
                cx.g.rst_ignored += 1;
                tracing::debug!(
                    conn = cx.id.0,
                    dir = dir.short(),
                    "unacceptable RST ignored"
                );
                return None;
            }
            // Whatever is buffered will never be completed: deliver it around its holes.
            for h in [&mut *me, &mut *peer] {
                h.flush_all(GapReason::Closed, scratch, &mut cx);
            }
            cx.sink.on_event(StreamEvent::Rst {
                conn: cx.id,
                dir,
                ts: cx.now,
            });
            return Some(CloseReason::Rst);
        }

        if flags.syn() {
            let isn = SeqNum(seg.seq);
            match me.first_seq() {
                // Same ISN as before: a retransmitted SYN or SYN-ACK.
                Some(first) if first == isn.add(1) => cx.retransmitted(0),
                // A SYN-ACK with another ISN (a SYN with one is port reuse, the table's call).
                Some(_) => me.other_isn(isn),
                None => {}
            }
            me.transition(HalfInput::Syn(isn));
            if flags.ack() {
                // A SYN-ACK acknowledges the client's ISN + 1: that is where its data starts.
                peer.transition(HalfInput::FirstSeq(SeqNum(seg.ack)));
            }
        } else {
            me.transition(HalfInput::FirstSeq(SeqNum(seg.seq)));
            if flags.ack() {
                peer.peer_acked(SeqNum(seg.ack));
                peer.on_ack(SeqNum(seg.ack), scratch, &mut cx);
            }
        }

        // A SYN occupies one sequence number before the data (TCP Fast Open carries data).
        let data_seq = SeqNum(seg.seq).add(u32::from(flags.syn()));
        if seg.payload_len > 0 {
            me.on_data(data_seq, seg.payload, seg.payload_len, scratch, &mut cx);
        } else if !flags.syn() && !flags.fin() {
            // A pure ACK's sequence number says how far the sender has sent.
            me.on_empty_seq(data_seq);
        }
        if flags.fin() && me.state() != HalfState::AwaitingFirst {
            let fin = unwrap_near(data_seq, me.next_position()) + u64::from(seg.payload_len);
            me.on_fin(fin, &mut cx);
        }

        enforce_conn_budget(me, peer, cfg, scratch, &mut cx);

        if matches!(me.state(), HalfState::Closed { .. })
            && matches!(peer.state(), HalfState::Closed { .. })
        {
            return Some(CloseReason::Fin);
        }
        None
    }

    /// Skip the oldest hole of direction `d` (hole timeout or memory budget). Returns `Fin` when
    /// this completed both FINs.
    pub(crate) fn skip_hole<S: StreamSink>(
        &mut self,
        d: usize,
        reason: GapReason,
        scratch: &mut Vec<u8>,
        g: &mut ReassemblyStats,
        sink: &mut S,
    ) -> Option<CloseReason> {
        let Conn {
            info,
            halves,
            stats,
            ..
        } = self;
        let mut cx = Self::cx(stats, info, sink, g);
        let half = &mut halves[d];
        let reason = match (reason, half.state()) {
            // Timing out behind a FIN: the FIN arrived with a hole that nothing filled.
            (GapReason::HoleTimeout, HalfState::FinReceived { .. }) => GapReason::FinWithHole,
            (r, _) => r,
        };
        half.skip_oldest_hole(reason, scratch, &mut cx);
        let closed = |h: &Half| matches!(h.state(), HalfState::Closed { .. });
        (closed(&halves[0]) && closed(&halves[1])).then_some(CloseReason::Fin)
    }

    /// Resolve every hole of both directions before the connection goes away.
    pub(crate) fn flush<S: StreamSink>(
        &mut self,
        reason: GapReason,
        scratch: &mut Vec<u8>,
        g: &mut ReassemblyStats,
        sink: &mut S,
    ) {
        let Conn {
            info,
            halves,
            stats,
            ..
        } = self;
        let mut cx = Self::cx(stats, info, sink, g);
        for h in halves.iter_mut() {
            h.flush_all(reason, scratch, &mut cx);
            h.clear();
        }
    }
}

/// How far (in sequence space) a RST may be from its sender's stream position and still be
/// believed. Generous: the sender may have bytes in flight the capture has not shown yet.
const RST_WINDOW: u64 = 64 << 20;

/// Would the receiver accept this RST? A passive approximation of RFC 793 / RFC 5961: a side we
/// have seen nothing from (typically refusing a SYN) must acknowledge at least the peer's SYN;
/// otherwise its sequence number must be near the sender's stream position.
fn rst_acceptable(me: &Half, peer: &Half, seg: &TcpSegment<'_>) -> bool {
    if me.state() == HalfState::AwaitingFirst {
        return seg.flags.ack()
            && peer
                .first_seq()
                .is_some_and(|first| SeqNum(seg.ack).diff(first) >= 0);
    }
    let next = me.next_position();
    unwrap_near(SeqNum(seg.seq), next).abs_diff(next) <= RST_WINDOW
}

/// Keep the connection within its reorder budgets by skipping its oldest holes.
fn enforce_conn_budget<S: StreamSink>(
    a: &mut Half,
    b: &mut Half,
    cfg: &ReassemblyConfig,
    scratch: &mut Vec<u8>,
    cx: &mut Cx<'_, S>,
) {
    for h in [&mut *a, &mut *b] {
        while h.buffered_segments() > cfg.max_segments_per_direction {
            h.skip_oldest_hole(GapReason::ReorderBudget, scratch, cx);
        }
    }
    while a.buffered_bytes() + b.buffered_bytes() > cfg.max_conn_buffer_bytes {
        // The oldest hole with bytes waiting behind it.
        let since = |h: &Half| h.hole_since().filter(|_| h.buffered_bytes() > 0);
        let older_a = match (since(a), since(b)) {
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => true,
            _ => false,
        };
        let h = if older_a { &mut *a } else { &mut *b };
        h.skip_oldest_hole(GapReason::ReorderBudget, scratch, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-connection memory (before any out-of-order bytes) stays small: 320 bytes for `Conn`
    /// (64 per direction: the out-of-order state and the ring of delivered segments are boxed
    /// and allocated on demand), 384 with the table's node. The whole cost with the slab and
    /// the hash map is measured in `tests/alloc.rs` (`bytes_per_idle_connection`).
    #[test]
    fn connection_state_is_small() {
        use std::mem::size_of;
        assert!(
            size_of::<Half>() <= 64,
            "Half is {} bytes",
            size_of::<Half>()
        );
        assert!(
            size_of::<Conn>() <= 320,
            "Conn is {} bytes",
            size_of::<Conn>()
        );
    }
}
