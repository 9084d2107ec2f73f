//! IPv4 and IPv6 fragment reassembly, bounded in memory and driven by capture time.
//!
//! Datagrams are keyed by (source, destination, protocol, identification). Fragment data is
//! copied into a per-datagram buffer; where fragments overlap the first copy of a byte wins.
//! When the last hole is filled the datagram's IP payload is handed out as a slice of the
//! defragmenter's own buffer, valid until the next call.
//!
//! Bounds (see `DecoderConfig` for the defaults): at most
//! `defrag_max_datagrams` datagrams in flight and `defrag_max_total_bytes` bytes buffered over
//! all of them (the oldest datagram is evicted to make room), at most
//! `defrag_max_datagram_bytes` bytes of payload per datagram (a fragment reaching past it is
//! rejected), and a datagram whose first fragment is older than `defrag_timeout_ns` of capture
//! time is dropped. Evicted and timed-out fragments are counted, per packet, in
//! `DecodeStats`.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::decode::DecodeStats;

/// Identifies one datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    /// IPv4 protocol, or the IPv6 fragment header's next header.
    pub(crate) proto: u8,
    pub(crate) id: u32,
}

#[derive(Debug)]
struct Datagram {
    /// Payload bytes, indexed by fragment offset. Only bytes inside `have` are meaningful.
    data: Vec<u8>,
    /// Received byte ranges, sorted, disjoint and not adjacent.
    have: Vec<(usize, usize)>,
    /// Total payload length, known once the last fragment (MF = 0) arrived.
    total: Option<usize>,
    first_ts: u64,
    /// Packets held for this datagram.
    packets: u64,
    /// Arrival order, for eviction of the oldest.
    seq: u64,
}

/// Outcome of offering one fragment.
#[derive(Debug)]
pub(crate) enum Offer<'a> {
    /// Held, datagram incomplete.
    Held,
    /// The fragment is unusable (past the size limit, or inconsistent with the datagram's
    /// known length); not held.
    Invalid,
    /// This fragment completed the datagram: its IP payload.
    Complete(&'a [u8]),
}

#[derive(Debug)]
pub(crate) struct Defragmenter {
    max_datagrams: usize,
    max_datagram_bytes: usize,
    max_total_bytes: usize,
    timeout_ns: u64,
    table: HashMap<FragKey, Datagram>,
    bytes: usize,
    next_seq: u64,
    /// Earliest first_ts in the table (a lower bound), to skip expiry scans.
    oldest_ts: u64,
    /// The last completed datagram's payload.
    done: Vec<u8>,
}

impl Defragmenter {
    pub(crate) fn new(
        max_datagrams: usize,
        max_datagram_bytes: usize,
        max_total_bytes: usize,
        timeout_ns: u64,
    ) -> Self {
        let max_datagram_bytes = max_datagram_bytes.min(max_total_bytes);
        Defragmenter {
            max_datagrams: max_datagrams.max(1),
            max_datagram_bytes,
            max_total_bytes,
            timeout_ns,
            table: HashMap::new(),
            bytes: 0,
            next_seq: 0,
            oldest_ts: u64::MAX,
            done: Vec::new(),
        }
    }

    /// Bytes currently buffered.
    #[cfg(test)]
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Drop datagrams whose first fragment is older than the timeout at capture time `now`.
    pub(crate) fn expire(&mut self, now: u64, stats: &mut DecodeStats) {
        if self.table.is_empty() || now.saturating_sub(self.oldest_ts) <= self.timeout_ns {
            return;
        }
        let timeout = self.timeout_ns;
        let mut oldest = u64::MAX;
        let mut freed = 0;
        self.table.retain(|_, d| {
            if now.saturating_sub(d.first_ts) > timeout {
                stats.fragments_buffered -= d.packets;
                stats.fragments_timed_out += d.packets;
                stats.datagrams_timed_out += 1;
                freed += d.data.len();
                false
            } else {
                oldest = oldest.min(d.first_ts);
                true
            }
        });
        self.bytes -= freed;
        self.oldest_ts = oldest;
    }

    /// Drop everything still held (end of capture); counted as timed out.
    pub(crate) fn flush(&mut self, stats: &mut DecodeStats) {
        for (_, d) in self.table.drain() {
            stats.fragments_buffered -= d.packets;
            stats.fragments_timed_out += d.packets;
            stats.datagrams_timed_out += 1;
        }
        self.bytes = 0;
        self.oldest_ts = u64::MAX;
    }

    fn evict_oldest(&mut self, stats: &mut DecodeStats) {
        let Some(key) = self
            .table
            .iter()
            .min_by_key(|(_, d)| d.seq)
            .map(|(k, _)| *k)
        else {
            return;
        };
        if let Some(d) = self.table.remove(&key) {
            stats.fragments_buffered -= d.packets;
            stats.fragments_evicted += d.packets;
            stats.datagrams_evicted += 1;
            self.bytes -= d.data.len();
        }
    }

    /// Offer one fragment: payload `data` at byte `offset`, `more` = MF flag. The packet is
    /// counted by the caller only for `Complete` and `Invalid`; `Held` is counted here (as
    /// `fragments_buffered`, moved to the reassembled/timed-out/evicted counters later).
    pub(crate) fn offer(
        &mut self,
        key: FragKey,
        offset: usize,
        more: bool,
        data: &[u8],
        ts: u64,
        stats: &mut DecodeStats,
    ) -> Offer<'_> {
        let end = offset + data.len();
        if end > self.max_datagram_bytes || (more && data.is_empty()) {
            return Offer::Invalid;
        }
        if !self.table.contains_key(&key) {
            while self.table.len() >= self.max_datagrams {
                self.evict_oldest(stats);
            }
            self.table.insert(
                key,
                Datagram {
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    first_ts: ts,
                    packets: 0,
                    seq: self.next_seq,
                },
            );
            self.next_seq += 1;
            self.oldest_ts = self.oldest_ts.min(ts);
        }
        // Make room for growth of this datagram's buffer within the global budget.
        let cur = self.table.get(&key).map_or(0, |d| d.data.len());
        let grow = end.saturating_sub(cur);
        while self.bytes + grow > self.max_total_bytes && self.table.len() > 1 {
            // Evict the oldest other datagram; never the one being added to.
            let victim = self
                .table
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, d)| d.seq)
                .map(|(k, _)| *k);
            let Some(v) = victim else { break };
            if let Some(d) = self.table.remove(&v) {
                stats.fragments_buffered -= d.packets;
                stats.fragments_evicted += d.packets;
                stats.datagrams_evicted += 1;
                self.bytes -= d.data.len();
            }
        }
        if self.bytes + grow > self.max_total_bytes {
            return Offer::Invalid;
        }
        let Some(d) = self.table.get_mut(&key) else {
            return Offer::Invalid;
        };
        // Consistency with a known total length.
        if let Some(t) = d.total {
            if end > t || (!more && end != t) {
                return Offer::Invalid;
            }
        } else if !more {
            if d.have.last().is_some_and(|&(_, e)| e > end) {
                return Offer::Invalid;
            }
            d.total = Some(end);
        }
        if d.data.len() < end {
            self.bytes += end - d.data.len();
            d.data.resize(end, 0);
        }
        insert_range(&mut d.data, &mut d.have, offset, data);
        d.packets += 1;
        let complete = d.total.is_some_and(|t| d.have.as_slice() == [(0, t)]);
        if !complete {
            stats.fragments_buffered += 1;
            return Offer::Held;
        }
        let Some(d) = self.table.remove(&key) else {
            return Offer::Invalid;
        };
        self.bytes -= d.data.len();
        // The other fragments of this datagram were held; they are now reassembled.
        let held = d.packets - 1;
        stats.fragments_buffered -= held;
        stats.fragments_reassembled += held;
        stats.datagrams_reassembled += 1;
        self.done = d.data;
        Offer::Complete(&self.done)
    }
}

/// Copy the parts of `src` (at `offset`) not already covered by `have` into `data`, and merge
/// the range into `have`. First copy wins.
fn insert_range(data: &mut [u8], have: &mut Vec<(usize, usize)>, offset: usize, src: &[u8]) {
    let end = offset + src.len();
    if offset == end {
        return;
    }
    let mut pos = offset;
    for &(s, e) in have.iter() {
        if e <= pos {
            continue;
        }
        if s >= end {
            break;
        }
        if s > pos {
            data[pos..s].copy_from_slice(&src[pos - offset..s - offset]);
        }
        pos = pos.max(e);
        if pos >= end {
            break;
        }
    }
    if pos < end {
        data[pos..end].copy_from_slice(&src[pos - offset..]);
    }
    // Merge [offset, end) into the sorted list.
    let mut ns = offset;
    let mut ne = end;
    have.retain(|&(s, e)| {
        if e < ns || s > ne {
            true
        } else {
            ns = ns.min(s);
            ne = ne.max(e);
            false
        }
    });
    let at = have.partition_point(|&(s, _)| s < ns);
    have.insert(at, (ns, ne));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 6,
            id,
        }
    }

    fn complete(o: Offer<'_>) -> Option<Vec<u8>> {
        match o {
            Offer::Complete(d) => Some(d.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn out_of_order_with_overlap_first_copy_wins() {
        let mut d = Defragmenter::new(8, 65535, 1 << 20, 30_000_000_000);
        let mut st = DecodeStats::default();
        assert!(matches!(
            d.offer(key(1), 24, false, b"CCCCCCCC", 0, &mut st),
            Offer::Held
        ));
        assert!(matches!(
            d.offer(key(1), 0, true, b"AAAAAAAAAAAAAAAA", 1, &mut st),
            Offer::Held
        ));
        // Overlapping retransmission with different bytes: ignored where already present.
        assert!(matches!(
            d.offer(key(1), 8, true, b"XXXXXXXX", 2, &mut st),
            Offer::Held
        ));
        let got = complete(d.offer(key(1), 8, true, b"BBBBBBBBBBBBBBBB", 3, &mut st)).unwrap();
        assert_eq!(&got, b"AAAAAAAAAAAAAAAABBBBBBBBCCCCCCCC");
        assert_eq!(st.fragments_buffered, 0);
        assert_eq!(st.fragments_reassembled, 3);
        assert_eq!(d.buffered_bytes(), 0);
    }

    proptest::proptest! {
        /// Any split into 8-byte-aligned pieces, delivered in any order with duplicates and
        /// overlapping re-sends, reassembles to exactly the original once, and the fragment
        /// packets are all accounted for.
        #[test]
        fn any_order_reassembles_exactly(
            len in 1usize..600,
            cuts in proptest::collection::vec(1usize..75, 0..12),
            order in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..30),
            extra in proptest::collection::vec((0usize..75, 1usize..10), 0..4),
        ) {
            let orig: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            // Piece boundaries at multiples of 8.
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c * 8).filter(|&b| b < len).collect();
            bounds.push(0);
            bounds.push(len);
            bounds.sort_unstable();
            bounds.dedup();
            let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            // Overlapping re-sends of existing bytes (same content).
            for (start, n) in extra {
                let s = (start * 8).min(len - 1);
                pieces.push((s, (s + n * 8).min(len)));
            }
            // Shuffle by the random keys.
            let mut keyed: Vec<(u16, (usize, usize))> = pieces
                .iter()
                .enumerate()
                .map(|(i, p)| (order.get(i).copied().unwrap_or(i as u16), *p))
                .collect();
            keyed.sort_by_key(|k| k.0);
            let mut d = Defragmenter::new(8, 65535, 1 << 20, u64::MAX);
            let mut st = DecodeStats::default();
            let mut done = None;
            let mut offered = 0;
            for (_, (a, b)) in keyed {
                if done.is_some() {
                    break;
                }
                offered += 1;
                match d.offer(key(9), a, b < len, &orig[a..b], 0, &mut st) {
                    Offer::Complete(x) => done = Some(x.to_vec()),
                    Offer::Held => {}
                    Offer::Invalid => proptest::prop_assert!(false, "invalid piece {}..{}", a, b),
                }
            }
            proptest::prop_assert_eq!(done, Some(orig));
            proptest::prop_assert_eq!(st.fragments_reassembled, offered - 1);
            proptest::prop_assert_eq!(st.fragments_buffered, 0);
            proptest::prop_assert_eq!(d.buffered_bytes(), 0);
        }
    }

    #[test]
    fn timeout_and_eviction_are_counted() {
        let mut d = Defragmenter::new(2, 65535, 1 << 20, 1000);
        let mut st = DecodeStats::default();
        d.offer(key(1), 0, true, &[0; 8], 0, &mut st);
        d.offer(key(2), 0, true, &[0; 8], 500, &mut st);
        d.offer(key(3), 0, true, &[0; 8], 600, &mut st); // evicts key 1
        assert_eq!((st.fragments_evicted, st.fragments_buffered), (1, 2));
        d.expire(1501, &mut st); // key 2 is 1001 old
        assert_eq!((st.fragments_timed_out, st.fragments_buffered), (1, 1));
        d.flush(&mut st);
        assert_eq!((st.fragments_timed_out, st.fragments_buffered), (2, 0));
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn limits() {
        let mut d = Defragmenter::new(8, 100, 150, 1000);
        let mut st = DecodeStats::default();
        assert!(matches!(
            d.offer(key(1), 96, true, &[0; 8], 0, &mut st),
            Offer::Invalid
        ));
        d.offer(key(1), 0, true, &[0; 96], 0, &mut st);
        // Global budget: the second datagram evicts the first.
        d.offer(key(2), 0, true, &[0; 96], 0, &mut st);
        assert_eq!(st.fragments_evicted, 1);
        assert!(d.buffered_bytes() <= 150);
        // A last fragment inconsistent with the known total length.
        d.offer(key(3), 0, true, &[0; 8], 0, &mut st);
        d.offer(key(3), 16, false, &[0; 8], 0, &mut st);
        assert!(matches!(
            d.offer(key(3), 8, false, &[0; 4], 0, &mut st),
            Offer::Invalid
        ));
    }
}
