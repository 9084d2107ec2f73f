//! The connection table: a slab of connections found by canonical 4-tuple, an intrusive LRU
//! list for idle timeout and eviction, and the remembered tuples of recently closed
//! connections. Every operation is O(1) (hash map) or O(expired); nothing allocates per packet
//! once the slab has grown to the peak connection count.
//!
//! The index from tuple to slot is a `hashbrown::HashTable` of bare 4-byte slot numbers (the
//! keys are in the slab's nodes): 5 bytes per bucket instead of 49 for a `HashMap<Key, u32>`,
//! so at 10^5 connections it stays in cache, and removing the least recently used connection
//! compares slot numbers without touching another node.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use hashbrown::HashTable;
use std::net::IpAddr;

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
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
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

/// A 4-tuple in canonical order, packed into integers so that hashing and comparing it is a
/// few word operations: both directions of a connection give the same key. IPv4 addresses
/// are stored in their IPv4-mapped IPv6 form, with the family kept apart so the two never mix.
///
/// The addresses are kept as pairs of words (high, low) rather than `u128`, so the key is
/// 8-aligned and 40 bytes, not 48.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    lo_ip: [u64; 2],
    hi_ip: [u64; 2],
    lo_port: u16,
    hi_port: u16,
    v6: bool,
}

fn pack(e: Endpoint) -> (u128, u16, bool) {
    match e.ip() {
        IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), e.port(), false),
        IpAddr::V6(a) => (u128::from(a), e.port(), true),
    }
}

/// `a * b` folded to 64 bits: the high half of the product mixed into the low one.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hash for Key {
    /// The 37 bytes folded into two words and mixed with two multiplications: cheaper than
    /// feeding every field through the hasher, which is a serial chain of multiplications.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ports =
            (u64::from(self.lo_port) << 17) | (u64::from(self.hi_port) << 1) | u64::from(self.v6);
        let a = self.lo_ip[1] ^ self.hi_ip[1].rotate_left(32);
        let b = self.lo_ip[0] ^ self.hi_ip[0].rotate_left(32) ^ ports;
        let x = fold_mul(a ^ 0x2d35_8dcc_aa6c_78a5, 0x8bb8_4b93_962e_acc9);
        state.write_u64(fold_mul(x ^ b, 0x4b33_a62e_d433_d4a3));
    }
}

impl Key {
    pub(crate) fn new(a: Endpoint, b: Endpoint) -> Self {
        let (a_ip, a_port, a6) = pack(a);
        let (b_ip, b_port, b6) = pack(b);
        let ((lo_ip, lo_port), (hi_ip, hi_port)) = if (a_ip, a_port) <= (b_ip, b_port) {
            ((a_ip, a_port), (b_ip, b_port))
        } else {
            ((b_ip, b_port), (a_ip, a_port))
        };
        let words = |ip: u128| [(ip >> 64) as u64, ip as u64];
        Key {
            lo_ip: words(lo_ip),
            hi_ip: words(hi_ip),
            lo_port,
            hi_port,
            v6: a6 || b6,
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
    /// Frame index of the last packet.
    last_frame: u64,
    prev: u32,
    next: u32,
}

/// Nodes per slab chunk (512: about 192 KiB).
const CHUNK: usize = 512;

/// The nodes, in fixed-size chunks: growing never copies a node, and the slack is at most one
/// chunk (a `Vec` of 10^5 nodes may hold capacity for twice as many).
#[derive(Debug, Default)]
struct Slab {
    chunks: Vec<Vec<Node>>,
    len: usize,
}

impl Slab {
    fn push(&mut self, node: Node) {
        if self.len % CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(node);
        }
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }
}

impl std::ops::Index<usize> for Slab {
    type Output = Node;
    #[inline]
    fn index(&self, i: usize) -> &Node {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl std::ops::IndexMut<usize> for Slab {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Node {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

#[inline]
fn hash_key(k: &Key) -> u64 {
    FxBuild::default().hash_one(k)
}

#[derive(Debug)]
pub(crate) struct Table {
    /// Slots of the live connections, hashed by their node's key.
    map: HashTable<u32>,
    nodes: Slab,
    free: Vec<u32>,
    /// Most recently active.
    head: u32,
    /// Least recently active.
    tail: u32,
    /// Tuples closed by FIN/RST, with when they closed, oldest first.
    closed: HashMap<Key, ConnectionId, FxBuild>,
    closed_order: VecDeque<(Timestamp, Key, ConnectionId)>,
    /// The last connection found: bulk transfers hit it without hashing.
    last: Option<(Key, u32)>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Table {
            map: HashTable::new(),
            nodes: Slab::default(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            closed: HashMap::default(),
            closed_order: VecDeque::new(),
            last: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn get(&mut self, key: &Key) -> Option<u32> {
        if let Some((k, slot)) = self.last {
            if k == *key {
                return Some(slot);
            }
        }
        let nodes = &self.nodes;
        let slot = *self
            .map
            .find(hash_key(key), |&s| nodes[s as usize].key == *key)?;
        self.last = Some((*key, slot));
        Some(slot)
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

    pub(crate) fn last_frame(&self, slot: u32) -> u64 {
        self.nodes[slot as usize].last_frame
    }

    /// Least recently active connection.
    pub(crate) fn lru(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Slots of all connections, oldest id first.
    pub(crate) fn slots_by_id(&self) -> Vec<u32> {
        let mut v: Vec<(u64, u32)> = self
            .map
            .iter()
            .map(|&s| (self.conn(s).info.id.0, s))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, s)| s).collect()
    }

    pub(crate) fn insert(&mut self, key: Key, conn: Conn, now: Timestamp, frame: u64) -> u32 {
        let node = Node {
            key,
            conn: Some(conn),
            last_seen: now,
            last_frame: frame,
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
        let nodes = &self.nodes;
        self.map
            .insert_unique(hash_key(&key), slot, |&s| hash_key(&nodes[s as usize].key));
        self.link_front(slot);
        slot
    }

    /// Remove (and drop, in place) the connection in `slot`; returns its key.
    pub(crate) fn remove(&mut self, slot: u32) -> Key {
        self.unlink(slot);
        let node = &mut self.nodes[slot as usize];
        debug_assert!(node.conn.is_some(), "slot in the map holds a connection");
        node.conn = None;
        let key = node.key;
        if let Ok(e) = self.map.find_entry(hash_key(&key), |&s| s == slot) {
            e.remove();
        }
        if self.last.is_some_and(|(_, s)| s == slot) {
            self.last = None;
        }
        self.free.push(slot);
        key
    }

    /// Mark a packet (frame index `frame`) on `slot` at (global) time `now`.
    pub(crate) fn touch(&mut self, slot: u32, now: Timestamp, frame: u64) {
        self.nodes[slot as usize].last_seen = now;
        self.nodes[slot as usize].last_frame = frame;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        Endpoint(s.parse().expect("endpoint"))
    }

    #[test]
    fn node_and_key_are_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<Key>(), 40);
        assert!(
            size_of::<Node>() <= 384,
            "Node is {} bytes",
            size_of::<Node>()
        );
    }

    #[test]
    fn key_is_the_same_both_ways_and_distinguishes_tuples() {
        let a = ep("10.0.0.1:40000");
        let b = ep("10.0.0.2:6379");
        assert_eq!(Key::new(a, b), Key::new(b, a));
        assert_ne!(Key::new(a, b), Key::new(a, ep("10.0.0.2:6380")));
        assert_ne!(Key::new(a, b), Key::new(ep("10.0.0.1:40001"), b));
        let v6a = ep("[::ffff:10.0.0.1]:40000");
        let v6b = ep("[::ffff:10.0.0.2]:6379");
        assert_ne!(Key::new(a, b), Key::new(v6a, v6b));
        assert_eq!(Key::new(v6a, v6b), Key::new(v6b, v6a));
    }

    #[test]
    fn lru_order_and_slot_reuse() {
        use crate::conn::Conn;
        use wiresift_core::{ConnectionId, ConnectionInfo};
        let conn = |id: u64| {
            Conn::new(
                ConnectionInfo {
                    id: ConnectionId(id),
                    client: ep("10.0.0.1:1"),
                    server: ep("10.0.0.2:2"),
                    start: Timestamp(0),
                    midstream: false,
                },
                crate::event::RoleSource::Handshake,
            )
        };
        let mut t = Table::new();
        let k = |p: u16| Key::new(ep("10.0.0.1:1"), Endpoint::new([10, 0, 0, 9].into(), p));
        let s1 = t.insert(k(1), conn(1), Timestamp(1), 1);
        let s2 = t.insert(k(2), conn(2), Timestamp(2), 2);
        let s3 = t.insert(k(3), conn(3), Timestamp(3), 3);
        assert_eq!(t.lru(), Some(s1));
        t.touch(s1, Timestamp(4), 4);
        assert_eq!(t.lru(), Some(s2));
        assert_eq!(t.conn(s2).info.id.0, 2);
        assert_eq!(t.remove(s2), k(2));
        assert_eq!(t.lru(), Some(s3));
        assert_eq!(t.get(&k(2)), None);
        let s4 = t.insert(k(4), conn(4), Timestamp(5), 5);
        assert_eq!(s4, s2, "free slot reused");
        assert_eq!(t.slots_by_id(), vec![s1, s3, s4]);
        t.remove(s3);
        t.remove(s1);
        assert_eq!(t.lru(), Some(s4));
        t.remove(s4);
        assert_eq!(t.lru(), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn remembered_closed_tuples_are_bounded_and_expire() {
        let mut t = Table::new();
        let k = |p: u16| Key::new(ep("10.0.0.1:1"), Endpoint::new([10, 0, 0, 9].into(), p));
        for p in 0..10 {
            t.remember_closed(k(p), ConnectionId(u64::from(p)), Timestamp(u64::from(p)), 4);
        }
        assert_eq!(t.closed.len(), 4);
        assert!(t.is_closed(&k(9)) && !t.is_closed(&k(5)));
        t.forget_closed(&k(9));
        t.expire_closed(Timestamp(8));
        assert!(!t.is_closed(&k(7)) && t.is_closed(&k(8)));
        assert!(t.closed_order.len() <= 8);
    }
}
