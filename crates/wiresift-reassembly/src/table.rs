//! The connection table: a slab of connections found by canonical 4-tuple, an intrusive LRU
//! list for idle timeout and eviction, and the remembered tuples of recently closed
//! connections. Every operation is O(1) (hash map) or O(expired); nothing allocates per packet
//! once the slab has grown to the peak connection count.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use wiresift_core::{ConnectionId, Endpoint, Timestamp};

use crate::conn::Conn;

/// A small multiplicative hasher (the FxHash recipe) for 4-tuples: much faster than SipHash on
/// short keys. It is not collision resistant: a capture crafted to collide degrades lookups,
/// bounded by `max_connections`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the best bits high; hashbrown also uses the top bits.
        self.hash.rotate_left(26)
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// A 4-tuple in canonical order: both directions of a connection give the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(Endpoint, Endpoint);

impl Key {
    pub(crate) fn new(a: Endpoint, b: Endpoint) -> Self {
        if a <= b {
            Key(a, b)
        } else {
            Key(b, a)
        }
    }
}

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Node {
    key: Key,
    conn: Option<Conn>,
    /// Global capture time of the last packet (LRU order).
    last_seen: Timestamp,
    prev: u32,
    next: u32,
}

#[derive(Debug)]
pub(crate) struct Table {
    map: HashMap<Key, u32, FxBuild>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Most recently active.
    head: u32,
    /// Least recently active.
    tail: u32,
    /// Tuples closed by FIN/RST, with when they closed, oldest first.
    closed: HashMap<Key, ConnectionId, FxBuild>,
    closed_order: VecDeque<(Timestamp, Key, ConnectionId)>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Table {
            map: HashMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            closed: HashMap::default(),
            closed_order: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&self, key: &Key) -> Option<u32> {
        self.map.get(key).copied()
    }

    pub(crate) fn conn(&self, slot: u32) -> &Conn {
        self.nodes[slot as usize]
            .conn
            .as_ref()
            .expect("slot in the map holds a connection")
    }

    pub(crate) fn conn_mut(&mut self, slot: u32) -> &mut Conn {
        self.nodes[slot as usize]
            .conn
            .as_mut()
            .expect("slot in the map holds a connection")
    }

    pub(crate) fn last_seen(&self, slot: u32) -> Timestamp {
        self.nodes[slot as usize].last_seen
    }

    /// Least recently active connection.
    pub(crate) fn lru(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Slots of all connections, oldest id first.
    pub(crate) fn slots_by_id(&self) -> Vec<u32> {
        let mut v: Vec<(u64, u32)> = self
            .map
            .values()
            .map(|&s| (self.conn(s).info.id.0, s))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, s)| s).collect()
    }

    pub(crate) fn insert(&mut self, key: Key, conn: Conn, now: Timestamp) -> u32 {
        let node = Node {
            key,
            conn: Some(conn),
            last_seen: now,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.nodes[s as usize] = node;
                s
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.map.insert(key, slot);
        self.link_front(slot);
        slot
    }

    pub(crate) fn remove(&mut self, slot: u32) -> (Key, Conn) {
        self.unlink(slot);
        let node = &mut self.nodes[slot as usize];
        let conn = node
            .conn
            .take()
            .expect("slot in the map holds a connection");
        let key = node.key;
        self.map.remove(&key);
        self.free.push(slot);
        (key, conn)
    }

    /// Mark a packet on `slot` at (global) time `now`.
    pub(crate) fn touch(&mut self, slot: u32, now: Timestamp) {
        self.nodes[slot as usize].last_seen = now;
        if self.head != slot {
            self.unlink(slot);
            self.link_front(slot);
        }
    }

    fn link_front(&mut self, slot: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[slot as usize];
            n.prev = NIL;
            n.next = old;
        }
        if old != NIL {
            self.nodes[old as usize].prev = slot;
        } else {
            self.tail = slot;
        }
        self.head = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let n = &self.nodes[slot as usize];
            (n.prev, n.next)
        };
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else if self.head == slot {
            self.head = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        } else if self.tail == slot {
            self.tail = prev;
        }
        let n = &mut self.nodes[slot as usize];
        n.prev = NIL;
        n.next = NIL;
    }

    /// Remember that `key` was closed by FIN/RST at `now`; at most `max` are remembered.
    pub(crate) fn remember_closed(
        &mut self,
        key: Key,
        id: ConnectionId,
        now: Timestamp,
        max: usize,
    ) {
        let max = max.max(1);
        // Stale order entries (tuples reopened by a SYN) are bounded too.
        while self.closed.len() >= max || self.closed_order.len() >= 2 * max {
            if !self.pop_closed() {
                break;
            }
        }
        self.closed.insert(key, id);
        self.closed_order.push_back((now, key, id));
    }

    pub(crate) fn is_closed(&self, key: &Key) -> bool {
        self.closed.contains_key(key)
    }

    pub(crate) fn forget_closed(&mut self, key: &Key) {
        self.closed.remove(key);
    }

    /// Forget tuples closed before `cutoff`.
    pub(crate) fn expire_closed(&mut self, cutoff: Timestamp) {
        while let Some(&(t, _, _)) = self.closed_order.front() {
            if t >= cutoff {
                break;
            }
            self.pop_closed();
        }
    }

    pub(crate) fn clear_closed(&mut self) {
        self.closed.clear();
        self.closed_order.clear();
    }

    fn pop_closed(&mut self) -> bool {
        let Some((_, key, id)) = self.closed_order.pop_front() else {
            return false;
        };
        // The entry may be stale: forgotten by a new SYN, or remembered again since.
        if self.closed.get(&key) == Some(&id) {
            self.closed.remove(&key);
        }
        true
    }
}
