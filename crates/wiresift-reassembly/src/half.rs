//! One direction of a connection: its state machine, its out-of-order buffer and in-order
//! delivery.
//!
//! Positions are unwrapped 64-bit sequence numbers (see [`crate::seq`]); `next` is the position
//! of the first byte not yet delivered nor declared a gap. Invariants:
//! - `next` never decreases; every byte below it was delivered exactly once or declared a gap;
//! - buffered entries do not overlap each other (the first copy of a byte wins) and all start
//!   after `next` once a call returns;
//! - `hole_since` is the earliest arrival among buffered entries (`None` when empty).

use std::collections::BTreeMap;

use wiresift_core::{ConnectionId, Direction, Duration, GapInfo, StreamChunk, Timestamp};

use crate::event::{ConnStats, GapReason, ReassemblyStats, StreamEvent, StreamSink};
use crate::seq::{first_position, unwrap_near, SeqNum};

/// Segments starting further than this beyond `next` are not part of the stream (2^30 is the
/// largest window TCP window scaling allows).
pub(crate) const MAX_WINDOW: u64 = 1 << 30;

/// Largest `Data` chunk assembled from buffered bytes; longer runs are split.
const MAX_CHUNK: usize = 64 * 1024;

/// How many delivered segments are remembered to time retransmissions of delivered bytes.
const RING_LEN: usize = 8;

/// How many of the last delivered bytes of a direction are kept to compare retransmissions
/// with (`overlap_conflicts`).
pub(crate) const WINDOW: usize = 64;

/// Phase of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HalfState {
    /// Nothing seen from this side: its sequence space is unknown.
    AwaitingFirst,
    /// The stream's first position is known (SYN, SYN-ACK's ack, or first captured segment).
    Established,
    /// FIN seen at position `fin`; bytes before it may still be missing.
    FinReceived {
        /// Position of the FIN (one past the last data byte).
        fin: u64,
    },
    /// Every byte before the FIN was delivered or declared a gap, and `Fin` was emitted.
    Closed {
        /// Position of the FIN.
        fin: u64,
    },
}

/// What can happen to a direction's state.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HalfInput {
    /// This side's SYN (or SYN-ACK) with its initial sequence number.
    Syn(SeqNum),
    /// The first sequence number of this side learnt without its SYN.
    FirstSeq(SeqNum),
    /// A FIN at this position.
    Fin(u64),
    /// `next` reached the FIN.
    FinReached,
}

/// A buffered out-of-order piece.
#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Arrival (connection capture time).
    ts: Timestamp,
    /// Bytes right after `data` that the capture truncated (snaplen): known missing.
    missing_after: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Delivered {
    start: u64,
    end: u64,
    ts: Timestamp,
}

/// The last few delivered segments, to time retransmissions of already delivered bytes, and
/// the last [`WINDOW`] delivered bytes, to compare them with.
#[derive(Debug)]
struct Ring {
    items: [Delivered; RING_LEN],
    pos: usize,
    /// The last delivered bytes, circular: the byte at position `p` is at `win[p % WINDOW]`.
    win: [u8; WINDOW],
    /// First position `win` may hold: the bytes from `max(win_from, next - WINDOW)` to `next`
    /// are there (a gap moves it to its end).
    win_from: u64,
}

impl Ring {
    fn new(start: u64) -> Self {
        Ring {
            items: [Delivered::default(); RING_LEN],
            pos: 0,
            win: [0; WINDOW],
            win_from: start,
        }
    }

    /// Keep the tail of `data`, delivered from position `start`.
    #[inline]
    fn keep(&mut self, start: u64, data: &[u8]) {
        let tail = &data[data.len().saturating_sub(WINDOW)..];
        let p0 = start + (data.len() - tail.len()) as u64;
        let idx = (p0 % WINDOW as u64) as usize;
        let first = (WINDOW - idx).min(tail.len());
        self.win[idx..idx + first].copy_from_slice(&tail[..first]);
        self.win[..tail.len() - first].copy_from_slice(&tail[first..]);
    }

    /// How many bytes of `data` (a copy of the stream from position `start`) differ from the
    /// delivered bytes still in the window; `next` is the direction's next position.
    fn differing(&self, start: u64, data: &[u8], next: u64) -> u64 {
        let from = self
            .win_from
            .max(next.saturating_sub(WINDOW as u64))
            .max(start);
        let to = next.min(start + data.len() as u64);
        (from..to)
            .filter(|&p| self.win[(p % WINDOW as u64) as usize] != data[(p - start) as usize])
            .count() as u64
    }

    #[inline]
    fn push(&mut self, start: u64, end: u64, ts: Timestamp) {
        if end > start {
            self.items[self.pos] = Delivered { start, end, ts };
            self.pos = (self.pos + 1) % RING_LEN;
        }
    }

    /// Arrival of the most recently delivered segment.
    fn last_ts(&self) -> Option<Timestamp> {
        let d = self.items[(self.pos + RING_LEN - 1) % RING_LEN];
        (d.end > d.start).then_some(d.ts)
    }

    fn original_ts(&self, pos: u64) -> Option<Timestamp> {
        self.items
            .iter()
            .find(|d| d.start <= pos && pos < d.end)
            .map(|d| d.ts)
    }
}

/// Where events go and the context they need; shared by both directions of a connection.
pub(crate) struct Cx<'a, S> {
    pub sink: &'a mut S,
    pub g: &'a mut ReassemblyStats,
    pub stats: &'a mut ConnStats,
    pub id: ConnectionId,
    /// Connection capture time (monotonic).
    pub now: Timestamp,
}

impl<S: StreamSink> Cx<'_, S> {
    fn data(&mut self, dir: Direction, data: &[u8], held: Duration) {
        if data.is_empty() {
            return;
        }
        let n = data.len() as u64;
        self.stats.bytes[dir.index()] += n;
        self.g.delivered_bytes += n;
        let chunk = StreamChunk {
            dir,
            ts: self.now,
            data,
            held,
        };
        self.sink.on_event(StreamEvent::Data {
            conn: self.id,
            chunk,
        });
    }

    fn stall(&mut self, dir: Direction, delay: Duration) {
        if delay.0 == 0 {
            return;
        }
        if delay > self.stats.max_retransmission_delay {
            self.stats.max_retransmission_delay = delay;
        }
        self.sink.on_event(StreamEvent::Stall {
            conn: self.id,
            dir,
            ts: self.now,
            delay,
        });
    }

    /// Bytes of a retransmitted copy that differ from the first copy.
    fn conflicts(&mut self, bytes: u64) {
        if bytes > 0 {
            self.stats.overlap_conflicts += bytes;
            self.g.overlap_conflicts += bytes;
        }
    }

    pub(crate) fn retransmitted(&mut self, bytes: u64) {
        self.stats.retransmitted_segments += 1;
        self.stats.retransmitted_bytes += bytes;
        self.g.retransmitted_segments += 1;
        self.g.retransmitted_bytes += bytes;
    }
}

/// The rarely used part of a direction: what it needs only while something is missing. Boxed
/// and allocated on demand, so that an in-order (or idle) direction costs a pointer for it;
/// freed again once nothing is missing ([`Half::release_idle`]).
#[derive(Debug, Default)]
struct Reorder {
    /// Out-of-order pieces by start position.
    ooo: BTreeMap<u64, Pending>,
    ooo_bytes: usize,
    /// Earliest arrival among buffered pieces (and a FIN waiting for earlier bytes): the age
    /// of the oldest hole.
    hole_since: Option<Timestamp>,
    /// What the reassembler's hole index holds for this direction.
    hole_registered: Option<Timestamp>,
    /// Evidence of bytes sent but not captured with nothing buffered after them: a segment of
    /// this direction (typically a pure ACK) whose sequence number is past `next`. Holds that
    /// position and the arrival of the last segment delivered before it (about when the lost
    /// bytes were sent). When the retransmission fills the hole, the wait is a stall.
    ahead: Option<(u64, Timestamp)>,
    /// A second SYN(-ACK) of this direction announced another ISN before any byte was
    /// delivered: the stream's first sequence number if the peer acknowledges it.
    alt_first: Option<SeqNum>,
}

impl Reorder {
    fn is_idle(&self) -> bool {
        self.ooo.is_empty()
            && self.hole_since.is_none()
            && self.hole_registered.is_none()
            && self.ahead.is_none()
            && self.alt_first.is_none()
    }
}

/// Read-only stand-in for a direction with nothing buffered.
static NO_PIECES: BTreeMap<u64, Pending> = BTreeMap::new();

/// One direction. Kept small (64 bytes): the out-of-order state and the ring of delivered
/// segments are boxed and allocated only when used.
#[derive(Debug)]
pub(crate) struct Half {
    dir: Direction,
    state: HalfState,
    /// First position not yet delivered nor declared a gap.
    next: u64,
    /// Position of the first byte of the stream, once known.
    first: Option<SeqNum>,
    /// When the FIN arrived (meaningful in `FinReceived`): a FIN with bytes missing before it
    /// is a hole even when nothing is buffered.
    fin_ts: Timestamp,
    /// The last delivered segments; allocated with the first delivered byte.
    ring: Option<Box<Ring>>,
    /// Out-of-order state; allocated while something is missing.
    ro: Option<Box<Reorder>>,
}

impl Half {
    pub(crate) fn new(dir: Direction) -> Self {
        Half {
            dir,
            state: HalfState::AwaitingFirst,
            next: 0,
            first: None,
            fin_ts: Timestamp(0),
            ring: None,
            ro: None,
        }
    }

    /// Nothing delivered, buffered or declared missing yet: the stream has not started.
    fn untouched(&self) -> bool {
        self.state == HalfState::Established
            && self.ring.is_none()
            && self.buffered_segments() == 0
            && self.first.is_some_and(|f| first_position(f) == self.next)
    }

    /// A SYN(-ACK) of this direction with another ISN than the first one (a server answering a
    /// retransmitted SYN afresh): not a retransmission. While nothing of the stream has been
    /// seen, remember it; the peer's acknowledgement picks the one the stream follows
    /// ([`Half::peer_acked`]).
    pub(crate) fn other_isn(&mut self, isn: SeqNum) {
        if self.untouched() {
            self.ro_mut().alt_first = Some(isn.add(1));
        }
    }

    /// The peer acknowledged `ack`: if that is the other ISN announced by a second SYN-ACK,
    /// and nothing of the stream has been seen, the stream starts there. Either way the
    /// other ISN is forgotten: the peer has chosen.
    #[inline]
    pub(crate) fn peer_acked(&mut self, ack: SeqNum) {
        let Some(r) = self.ro.as_deref_mut() else {
            return;
        };
        // The first acknowledgement after the second SYN-ACK decides.
        let Some(alt) = r.alt_first.take() else {
            return;
        };
        if alt == ack && self.untouched() {
            tracing::debug!(dir = self.dir.short(), "stream follows the second ISN");
            self.first = Some(alt);
            self.next = first_position(alt);
        }
    }

    /// The buffered pieces (empty when nothing is missing).
    #[inline]
    fn ooo(&self) -> &BTreeMap<u64, Pending> {
        match &self.ro {
            Some(r) => &r.ooo,
            None => &NO_PIECES,
        }
    }

    /// The out-of-order state, allocated on first use.
    #[inline]
    fn ro_mut(&mut self) -> &mut Reorder {
        self.ro.get_or_insert_with(Box::default)
    }

    /// Start of the first buffered piece.
    #[inline]
    fn first_buffered(&self) -> Option<u64> {
        self.ro.as_ref().and_then(|r| r.ooo.keys().next().copied())
    }

    fn ahead(&self) -> Option<(u64, Timestamp)> {
        self.ro.as_ref().and_then(|r| r.ahead)
    }

    fn set_ahead(&mut self, a: Option<(u64, Timestamp)>) {
        if a.is_some() || self.ro.is_some() {
            self.ro_mut().ahead = a;
        }
    }

    /// The age of this direction's oldest hole (`None` when nothing is missing).
    pub(crate) fn hole_since(&self) -> Option<Timestamp> {
        self.ro.as_ref().and_then(|r| r.hole_since)
    }

    /// What the reassembler's hole index holds for this direction.
    pub(crate) fn hole_registered(&self) -> Option<Timestamp> {
        self.ro.as_ref().and_then(|r| r.hole_registered)
    }

    /// Record what the reassembler's hole index now holds, and free the out-of-order state
    /// when nothing is missing any more.
    pub(crate) fn set_hole_registered(&mut self, t: Option<Timestamp>) {
        if t.is_some() || self.ro.is_some() {
            self.ro_mut().hole_registered = t;
        }
        self.release_idle();
    }

    /// Free the out-of-order state if it holds nothing.
    pub(crate) fn release_idle(&mut self) {
        if self.ro.as_ref().is_some_and(|r| r.is_idle()) {
            self.ro = None;
        }
    }

    fn set_hole_since(&mut self, t: Option<Timestamp>) {
        if t.is_some() || self.ro.is_some() {
            self.ro_mut().hole_since = t;
        }
    }

    /// Bytes `data` (captured, from position `start` == `next`) are being delivered; they
    /// arrived at `ts`. The caller moves `next` past them.
    #[inline]
    fn delivered(&mut self, start: u64, data: &[u8], ts: Timestamp) {
        if data.is_empty() {
            return;
        }
        let ring = self.ring.get_or_insert_with(|| Box::new(Ring::new(start)));
        ring.push(start, start + data.len() as u64, ts);
        ring.keep(start, data);
    }

    pub(crate) fn state(&self) -> HalfState {
        self.state
    }

    /// Sequence number of the stream's first byte, once known.
    pub(crate) fn first_seq(&self) -> Option<SeqNum> {
        self.first
    }

    /// First position not yet delivered nor declared a gap (a reference to unwrap sequence
    /// numbers of this direction).
    pub(crate) fn next_position(&self) -> u64 {
        self.next
    }

    pub(crate) fn buffered_bytes(&self) -> usize {
        self.ro.as_ref().map_or(0, |r| r.ooo_bytes)
    }

    pub(crate) fn buffered_segments(&self) -> usize {
        self.ro.as_ref().map_or(0, |r| r.ooo.len())
    }

    fn fin(&self) -> Option<u64> {
        match self.state {
            HalfState::FinReceived { fin } | HalfState::Closed { fin } => Some(fin),
            HalfState::AwaitingFirst | HalfState::Established => None,
        }
    }

    fn set_state(&mut self, new: HalfState) {
        tracing::trace!(dir = self.dir.short(), "{:?} => {:?}", self.state, new);
        self.state = new;
    }

    /// The one transition function of a direction.
    pub(crate) fn transition(&mut self, input: HalfInput) {
        use HalfState::*;
        let new = match (self.state, input) {
            // The SYN fixes the sequence space: data starts right after the ISN.
            (AwaitingFirst, HalfInput::Syn(isn)) => {
                self.first = Some(isn.add(1));
                self.next = first_position(isn.add(1));
                Established
            }
            // Handshake missed: the first sequence number learnt is the stream's start.
            (AwaitingFirst, HalfInput::FirstSeq(seq)) => {
                self.first = Some(seq);
                self.next = first_position(seq);
                Established
            }
            // Callers always establish a base before a FIN; nothing to do without one.
            (AwaitingFirst, HalfInput::Fin(_) | HalfInput::FinReached) => return,
            // Base already known: a retransmitted SYN changes nothing (reuse is the table's call).
            (_, HalfInput::Syn(_) | HalfInput::FirstSeq(_)) => return,
            // A FIN before bytes already delivered contradicts the stream: ignore it.
            (Established, HalfInput::Fin(fin)) if fin < self.next => return,
            // FIN seen: the stream ends there, earlier bytes may still arrive.
            (Established, HalfInput::Fin(fin)) => FinReceived { fin },
            // Retransmitted (or contradicting) FIN: the first one wins.
            (FinReceived { .. } | Closed { .. }, HalfInput::Fin(_)) => return,
            // Every byte before the FIN is accounted for: the FIN itself is consumed.
            (FinReceived { fin }, HalfInput::FinReached) => {
                self.next = fin + 1;
                Closed { fin }
            }
            // No FIN pending: nothing to reach.
            (Established | Closed { .. }, HalfInput::FinReached) => return,
        };
        self.set_state(new);
    }

    /// A FIN at `fin`: drop buffered bytes beyond it, and deliver it if nothing is missing.
    pub(crate) fn on_fin<S: StreamSink>(&mut self, fin: u64, cx: &mut Cx<'_, S>) {
        let was = self.state;
        self.transition(HalfInput::Fin(fin));
        if self.state == was {
            return;
        }
        self.fin_ts = cx.now;
        if let HalfState::FinReceived { fin } = self.state {
            if let Some(r) = self.ro.as_deref_mut() {
                for (_, p) in r.ooo.split_off(&fin) {
                    r.ooo_bytes -= p.data.len();
                }
                if let Some((&k, p)) = r.ooo.iter_mut().next_back() {
                    let end = k + p.data.len() as u64;
                    if end > fin {
                        let keep = (fin - k) as usize;
                        r.ooo_bytes -= p.data.len() - keep;
                        p.data.truncate(keep);
                        p.missing_after = 0;
                    }
                }
            }
            self.recompute_hole_since();
        }
        self.check_fin(cx);
    }

    fn check_fin<S: StreamSink>(&mut self, cx: &mut Cx<'_, S>) {
        if let HalfState::FinReceived { fin } = self.state {
            if self.next >= fin {
                self.transition(HalfInput::FinReached);
                self.recompute_hole_since();
                cx.sink.on_event(StreamEvent::Fin {
                    conn: cx.id,
                    dir: self.dir,
                    ts: cx.now,
                });
            }
        }
    }

    fn gap<S: StreamSink>(&mut self, len: u64, reason: GapReason, cx: &mut Cx<'_, S>) {
        if len == 0 {
            return;
        }
        self.next += len;
        if let Some(r) = self.ring.as_deref_mut() {
            r.win_from = self.next;
        }
        if self.ahead().is_some_and(|(p, _)| self.next >= p) {
            self.set_ahead(None); // the hole it revealed is declared lost, not waited for
        }
        cx.stats.gaps += 1;
        cx.stats.gap_bytes += len;
        cx.g.gaps += 1;
        cx.g.gap_bytes += len;
        cx.g.gaps_by_reason.add(reason);
        tracing::debug!(
            conn = cx.id.0,
            dir = self.dir.short(),
            len,
            reason = reason.as_str(),
            "gap"
        );
        cx.sink.on_event(StreamEvent::Gap {
            conn: cx.id,
            gap: GapInfo {
                dir: self.dir,
                ts: cx.now,
                len: Some(len),
            },
            reason,
        });
    }

    /// A segment of this direction without payload whose sequence number is `seq`: if it is past
    /// the delivered stream with nothing buffered in between, bytes were sent that the capture
    /// has not seen (yet). Remember it to time their retransmission.
    pub(crate) fn on_empty_seq(&mut self, seq: SeqNum) {
        if self.state == HalfState::AwaitingFirst
            || self.ahead().is_some()
            || !self.ooo().is_empty()
        {
            return;
        }
        let pos = unwrap_near(seq, self.next);
        if pos > self.next && pos - self.next <= MAX_WINDOW && self.fin().is_none_or(|f| pos <= f) {
            if let Some(sent) = self.ring.as_ref().and_then(|r| r.last_ts()) {
                self.set_ahead(Some((pos, sent)));
            }
        }
    }

    /// In-order bytes up to `end` arrived: if they fill a hole that a later sequence number had
    /// revealed, report how long it stayed open.
    fn ahead_filled<S: StreamSink>(&mut self, end: u64, cx: &mut Cx<'_, S>) {
        if let Some((pos, since)) = self.ahead() {
            cx.stall(self.dir, cx.now.saturating_since(since));
            if end >= pos {
                self.set_ahead(None);
            } else {
                // Partly filled: the rest of the hole is timed from now on.
                self.set_ahead(Some((pos, cx.now)));
            }
        }
    }

    /// Payload of a segment of this direction whose first byte has sequence number `seq`.
    /// `payload` is what was captured, `payload_len` what the IP header says.
    pub(crate) fn on_data<S: StreamSink>(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        payload_len: u32,
        scratch: &mut Vec<u8>,
        cx: &mut Cx<'_, S>,
    ) {
        if self.state == HalfState::AwaitingFirst {
            return;
        }
        let mut start = unwrap_near(seq, self.next);
        let mut end = start + u64::from(payload_len);
        let mut payload = &payload[..payload.len().min(payload_len as usize)];
        if let Some(fin) = self.fin() {
            // Nothing is sent after a FIN; bytes claiming to be are not part of the stream.
            end = end.min(fin);
            let keep = fin.saturating_sub(start).min(payload.len() as u64) as usize;
            payload = &payload[..keep];
        }
        if end <= start {
            return;
        }
        let mut dup = 0u64;
        if start < self.next {
            // Some (or all) of it was delivered already: a retransmission; time it if we can,
            // and compare it with the delivered bytes still in the window. A one-byte segment
            // just before `next` is a keep-alive probe, whose byte is garbage by design.
            dup = self.next.min(end) - start;
            if let Some(ring) = self.ring.as_deref() {
                if let Some(orig) = ring.original_ts(start) {
                    cx.stall(self.dir, cx.now.saturating_since(orig));
                }
                let keepalive = payload_len == 1 && start + 1 == self.next;
                if !keepalive {
                    let differ = ring.differing(start, payload, self.next);
                    cx.conflicts(differ);
                }
            }
            if end <= self.next {
                cx.retransmitted(dup);
                return;
            }
            let skip = (self.next - start).min(payload.len() as u64) as usize;
            payload = &payload[skip..];
            start = self.next;
        }
        let cap_end = start + payload.len() as u64;
        let missing = end - cap_end;
        if start == self.next {
            if self.first_buffered().is_none_or(|k| end < k) {
                // Fast path: in order, not touching buffered bytes: straight from the segment.
                if dup > 0 {
                    cx.retransmitted(dup);
                }
                if self.ahead().is_some() {
                    self.ahead_filled(cap_end, cx);
                }
                cx.data(self.dir, payload, Duration(0));
                self.delivered(start, payload, cx.now);
                self.next = cap_end;
                self.gap(missing, GapReason::SnaplenTruncated, cx);
                self.check_fin(cx);
                return;
            }
        } else {
            if start - self.next > MAX_WINDOW {
                cx.g.out_of_window_segments += 1;
                return;
            }
            cx.stats.out_of_order_segments += 1;
            cx.g.out_of_order_segments += 1;
        }
        let (overlap, conflict) = self.insert(start, payload, missing as u32, cx.now);
        if dup + overlap > 0 {
            cx.retransmitted(dup + overlap);
        }
        cx.conflicts(conflict);
        if start == self.next {
            self.drain(scratch, cx);
        }
    }

    /// Buffer `data` at `start`, keeping bytes already buffered (the first copy wins). Returns
    /// how many bytes were already buffered and how many of them differed.
    fn insert(&mut self, start: u64, data: &[u8], missing_after: u32, ts: Timestamp) -> (u64, u64) {
        let differ = |a: &[u8], b: &[u8]| a.iter().zip(b).filter(|(x, y)| x != y).count() as u64;
        let end = start + data.len() as u64;
        let mut pos = start;
        let mut overlap = 0;
        let mut conflict = 0;
        if let Some((&k, p)) = self.ooo().range(..start).next_back() {
            let pend = k + p.data.len() as u64;
            if pend > start {
                let o_end = pend.min(end);
                let old = &p.data[(start - k) as usize..(o_end - k) as usize];
                conflict += differ(old, &data[..(o_end - start) as usize]);
                overlap += o_end - start;
                pos = o_end;
            }
        }
        while pos < end {
            let next = self.ooo().range(pos..).next().map(|(&k, p)| (k, p));
            match next {
                Some((k, p)) if k < end => {
                    let o_end = (k + p.data.len() as u64).min(end);
                    let old = &p.data[..(o_end - k) as usize];
                    conflict += differ(old, &data[(k - start) as usize..(o_end - start) as usize]);
                    overlap += o_end - k;
                    if k > pos {
                        let piece = &data[(pos - start) as usize..(k - start) as usize];
                        self.put(pos, piece, 0, ts);
                    }
                    pos = o_end;
                }
                _ => {
                    self.put(pos, &data[(pos - start) as usize..], missing_after, ts);
                    pos = end;
                }
            }
        }
        (overlap, conflict)
    }

    fn put(&mut self, at: u64, data: &[u8], missing_after: u32, ts: Timestamp) {
        if data.is_empty() {
            return;
        }
        let r = self.ro_mut();
        r.ooo_bytes += data.len();
        r.ooo.insert(
            at,
            Pending {
                data: data.to_vec(),
                ts,
                missing_after,
            },
        );
        r.hole_since = Some(r.hole_since.map_or(ts, |h| h.min(ts)));
    }

    /// The FIN position when bytes before it are still missing.
    fn pending_fin(&self) -> Option<u64> {
        match self.state {
            HalfState::FinReceived { fin } if self.next < fin => Some(fin),
            _ => None,
        }
    }

    /// The age of the oldest hole: the earliest arrival among buffered pieces and a FIN still
    /// waiting for earlier bytes.
    fn recompute_hole_since(&mut self) {
        let fin = self.pending_fin().map(|_| self.fin_ts);
        let since = self.ooo().values().map(|p| p.ts).chain(fin).min();
        self.set_hole_since(since);
    }

    /// Deliver every buffered byte now contiguous with `next`, as few chunks as possible.
    fn drain<S: StreamSink>(&mut self, scratch: &mut Vec<u8>, cx: &mut Cx<'_, S>) {
        // Buffered data after the hole is the stronger evidence: its stall is timed below.
        self.set_ahead(None);
        // How long the bytes about to be delivered waited: from the oldest arrival among them.
        let mut reach = self.next;
        let mut oldest: Option<Timestamp> = None;
        for (&k, p) in self.ooo() {
            if k > reach {
                break;
            }
            oldest = Some(oldest.map_or(p.ts, |o| o.min(p.ts)));
            reach = reach.max(k + p.data.len() as u64 + u64::from(p.missing_after));
        }
        let Some(oldest) = oldest else {
            self.check_fin(cx);
            return;
        };
        let held = cx.now.saturating_since(oldest);
        cx.stall(self.dir, held);
        scratch.clear();
        while let Some(entry) = self.ro.as_deref_mut().and_then(|r| r.ooo.first_entry()) {
            let k = *entry.key();
            if k > self.next {
                break;
            }
            let p = entry.remove();
            if let Some(r) = self.ro.as_deref_mut() {
                r.ooo_bytes -= p.data.len();
            }
            let end = k + p.data.len() as u64;
            if end > self.next {
                let piece = &p.data[(self.next - k) as usize..];
                if !scratch.is_empty() && scratch.len() + piece.len() > MAX_CHUNK {
                    cx.data(self.dir, &scratch[..], held);
                    scratch.clear();
                }
                scratch.extend_from_slice(piece);
                self.delivered(self.next, piece, p.ts);
                self.next = end;
            }
            let tail_end = end + u64::from(p.missing_after);
            if tail_end > self.next {
                // The capture truncated this piece: its tail is missing unless other bytes
                // already cover part of it.
                cx.data(self.dir, &scratch[..], held);
                scratch.clear();
                let covered_from = self.first_buffered().unwrap_or(u64::MAX);
                let gap_end = tail_end.min(covered_from).max(self.next);
                self.gap(gap_end - self.next, GapReason::SnaplenTruncated, cx);
            }
        }
        cx.data(self.dir, &scratch[..], held);
        scratch.clear();
        self.recompute_hole_since();
        self.check_fin(cx);
    }

    /// Resolve everything before `limit`: deliver what is buffered, declare the rest gaps
    /// (`reason`), then deliver whatever became contiguous.
    pub(crate) fn skip_to<S: StreamSink>(
        &mut self,
        limit: u64,
        reason: GapReason,
        scratch: &mut Vec<u8>,
        cx: &mut Cx<'_, S>,
    ) {
        if self.state == HalfState::AwaitingFirst {
            return;
        }
        self.drain(scratch, cx);
        while self.next < limit {
            let gap_end = match self.first_buffered() {
                Some(k) if k < limit => k,
                _ => limit,
            };
            self.gap(gap_end - self.next, reason, cx);
            self.drain(scratch, cx);
        }
    }

    /// Skip the oldest hole: the missing bytes before the first buffered piece, or before a
    /// pending FIN when nothing is buffered.
    pub(crate) fn skip_oldest_hole<S: StreamSink>(
        &mut self,
        reason: GapReason,
        scratch: &mut Vec<u8>,
        cx: &mut Cx<'_, S>,
    ) {
        if let Some(end) = self.first_buffered().or(self.pending_fin()) {
            self.skip_to(end, reason, scratch, cx);
        }
    }

    /// Resolve every hole (the connection is going away, or the capture ended): up to the FIN
    /// when one was seen, else up to the last buffered byte.
    pub(crate) fn flush_all<S: StreamSink>(
        &mut self,
        reason: GapReason,
        scratch: &mut Vec<u8>,
        cx: &mut Cx<'_, S>,
    ) {
        let limit = match self.state {
            HalfState::FinReceived { fin } => fin,
            _ => self.ooo().iter().next_back().map_or(0, |(&k, p)| {
                k + p.data.len() as u64 + u64::from(p.missing_after)
            }),
        };
        self.skip_to(limit, reason, scratch, cx);
    }

    /// The peer acknowledged up to `ack`: bytes before it were received by the peer, so any we
    /// have not seen never will be.
    pub(crate) fn on_ack<S: StreamSink>(
        &mut self,
        ack: SeqNum,
        scratch: &mut Vec<u8>,
        cx: &mut Cx<'_, S>,
    ) {
        let limit = match self.state {
            HalfState::Established => unwrap_near(ack, self.next),
            // The ACK of the FIN covers one more sequence number than the data.
            HalfState::FinReceived { fin } => unwrap_near(ack, self.next).min(fin),
            HalfState::AwaitingFirst | HalfState::Closed { .. } => return,
        };
        if limit <= self.next || limit - self.next > MAX_WINDOW {
            return;
        }
        self.skip_to(limit, GapReason::AckedUnseen, scratch, cx);
    }

    /// Forget buffered bytes (the connection is being dropped after `flush_all`).
    pub(crate) fn clear(&mut self) {
        if let Some(r) = self.ro.as_deref_mut() {
            r.ooo.clear();
            r.ooo_bytes = 0;
            r.hole_since = None;
            r.ahead = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::ABS_BASE;

    fn half() -> Half {
        Half::new(Direction::ClientToServer)
    }

    #[test]
    fn awaiting_first_to_established_by_syn() {
        let mut h = half();
        h.transition(HalfInput::Syn(SeqNum(99)));
        assert_eq!(h.state(), HalfState::Established);
        assert_eq!(h.first_seq(), Some(SeqNum(100)));
        assert_eq!(h.next_position(), ABS_BASE + 100);
    }

    #[test]
    fn awaiting_first_to_established_by_first_seq() {
        let mut h = half();
        h.transition(HalfInput::FirstSeq(SeqNum(7)));
        assert_eq!(h.state(), HalfState::Established);
        assert_eq!(h.next_position(), ABS_BASE + 7);
    }

    #[test]
    fn awaiting_first_ignores_fin() {
        let mut h = half();
        h.transition(HalfInput::Fin(5));
        h.transition(HalfInput::FinReached);
        assert_eq!(h.state(), HalfState::AwaitingFirst);
    }

    #[test]
    fn established_keeps_its_base() {
        let mut h = half();
        h.transition(HalfInput::Syn(SeqNum(99)));
        h.transition(HalfInput::Syn(SeqNum(5000)));
        h.transition(HalfInput::FirstSeq(SeqNum(6000)));
        assert_eq!(h.first_seq(), Some(SeqNum(100)));
        assert_eq!(h.next_position(), ABS_BASE + 100);
        h.transition(HalfInput::FinReached);
        assert_eq!(h.state(), HalfState::Established);
    }

    #[test]
    fn established_to_fin_received_and_stale_fin_ignored() {
        let mut h = half();
        h.transition(HalfInput::FirstSeq(SeqNum(100)));
        h.transition(HalfInput::Fin(ABS_BASE + 50));
        assert_eq!(
            h.state(),
            HalfState::Established,
            "FIN before delivered bytes"
        );
        h.transition(HalfInput::Fin(ABS_BASE + 150));
        assert_eq!(
            h.state(),
            HalfState::FinReceived {
                fin: ABS_BASE + 150
            }
        );
        // The first FIN wins.
        h.transition(HalfInput::Fin(ABS_BASE + 160));
        assert_eq!(
            h.state(),
            HalfState::FinReceived {
                fin: ABS_BASE + 150
            }
        );
    }

    #[test]
    fn fin_received_to_closed_consumes_the_fin() {
        let mut h = half();
        h.transition(HalfInput::FirstSeq(SeqNum(100)));
        h.transition(HalfInput::Fin(ABS_BASE + 100));
        h.transition(HalfInput::FinReached);
        assert_eq!(
            h.state(),
            HalfState::Closed {
                fin: ABS_BASE + 100
            }
        );
        assert_eq!(h.next_position(), ABS_BASE + 101);
        h.transition(HalfInput::Fin(ABS_BASE + 300));
        h.transition(HalfInput::FinReached);
        assert_eq!(
            h.state(),
            HalfState::Closed {
                fin: ABS_BASE + 100
            }
        );
    }

    #[test]
    fn ring_finds_original_copy() {
        let mut r = Ring::new(0);
        assert_eq!(r.original_ts(0), None);
        for i in 0..20u64 {
            r.push(i * 10, i * 10 + 10, Timestamp(i));
        }
        assert_eq!(r.original_ts(195), Some(Timestamp(19)));
        assert_eq!(r.original_ts(120), Some(Timestamp(12)));
        assert_eq!(r.original_ts(119), None, "only the last 8 are kept");
    }
}
