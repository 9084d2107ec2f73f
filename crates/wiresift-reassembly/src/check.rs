//! A [`StreamSink`] that asserts the reassembler's output invariants, for property tests and
//! fuzzing (the crate's chaos proptest and `fuzz/fuzz_targets/reassembly.rs` both use it).
//!
//! It expects the test convention that every payload byte is the low byte of its own sequence
//! number, so order can be checked from the bytes alone. It panics on the first violation:
//! - within a direction each delivered byte follows the previous one, and a gap of `n` bytes
//!   skips exactly `n` (bytes in order, exactly once, never zero-filled);
//! - events arrive only between `Open` and `Close`, `Close` comes once, ids are never reused;
//! - `ConnStats.bytes` at `Close` equals what was delivered.

use crate::{StreamEvent, StreamSink};
use std::collections::{HashMap, HashSet};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct InvariantCheck {
    /// Open connections: next expected byte and bytes delivered, per direction.
    pub open: HashMap<u64, ([Option<u8>; 2], [u64; 2])>,
    /// Ids of closed connections.
    pub closed: HashSet<u64>,
    /// Bytes delivered over all connections.
    pub delivered: u64,
}

impl StreamSink for InvariantCheck {
    fn on_event(&mut self, ev: StreamEvent<'_>) {
        match ev {
            StreamEvent::Open { info, .. } => {
                assert!(!self.closed.contains(&info.id.0), "id reused");
                assert!(self.open.insert(info.id.0, Default::default()).is_none());
            }
            StreamEvent::Data { conn, chunk } => {
                let (next, bytes) = self.open.get_mut(&conn.0).expect("data on an open conn");
                let d = chunk.dir.index();
                assert!(!chunk.data.is_empty());
                if let Some(x) = next[d] {
                    assert_eq!(chunk.data[0], x, "byte out of order or repeated");
                }
                for w in chunk.data.windows(2) {
                    assert_eq!(w[1], w[0].wrapping_add(1), "chunk not contiguous");
                }
                next[d] = chunk.data.last().map(|b| b.wrapping_add(1));
                bytes[d] += chunk.data.len() as u64;
                self.delivered += chunk.data.len() as u64;
            }
            StreamEvent::Gap { conn, gap, .. } => {
                let (next, _) = self.open.get_mut(&conn.0).expect("gap on an open conn");
                let len = gap.len.expect("gap length");
                assert!(len > 0);
                let d = gap.dir.index();
                next[d] = next[d].map(|x| x.wrapping_add(len as u8));
            }
            StreamEvent::Stall { conn, .. }
            | StreamEvent::Fin { conn, .. }
            | StreamEvent::Rst { conn, .. } => {
                assert!(self.open.contains_key(&conn.0));
            }
            StreamEvent::Close { conn, stats, .. } => {
                let (_, bytes) = self.open.remove(&conn.0).expect("close of an open conn");
                assert_eq!(stats.bytes, bytes);
                self.closed.insert(conn.0);
            }
        }
    }
}
