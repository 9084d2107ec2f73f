//! CQL (Cassandra / ScyllaDB native protocol) plugin for wiresift: protocol v3, v4 and v5.
//!
//! - [`frame`]: the 9-byte frame header and the boundary rule;
//! - [`segment`]: v5 segment framing (CRC24 header check, CRC32 payload check, lz4 segments);
//! - [`compress`]: bounded lz4 / snappy decompression (pure Rust: lz4_flex, snap);
//! - [`parser`]: every opcode's body (requests, results, errors with their code-specific
//!   fields, events), bounded;
//! - [`session`]: per-connection framing, resynchronisation and stream-id pairing;
//! - [`event`]: the CQL-specific shapes in transactions and messages;
//! - [`CqlPlugin`]: the [`TcpProtocolPlugin`] (name `cql`, port 9042, a probe for other ports),
//!   holding the [`PreparedCache`] shared by all connections of a run.
//!
//! Transactions: `command` is the request opcode (`QUERY`, `EXECUTE`, `BATCH`, `PREPARE`,
//! `STARTUP`, `OPTIONS`, `REGISTER`, `AUTH_RESPONSE`), `query` the CQL text (for EXECUTE the
//! text PREPAREd earlier in the capture, on any connection; for BATCH the members' texts joined
//! by `; `), `fingerprint` from [`wiresift_core::fingerprint()`] for QUERY, PREPARE, EXECUTE and
//! BATCH, status `error` for an ERROR reply with `error` = `<code name>: <message>`. EVENT
//! pushes are messages of kind `event`. With [`wiresift_core::Detail::Summary`] no column specs,
//! value sizes or option maps are kept ([`Limits::summary`]).
//!
//! Budgets: [`Config`] (all finite); every byte delivered to a session is accounted for
//! ([`session::Accounting`]: consumed, discarded or held; skipped bytes counted; as the core's
//! `ByteAccounting`: parsed = consumed + discarded - skipped).
//!
//! Session state and the request timer: `state_bytes` charges each pending request when it is
//! queued (its text, value names and sizes, batch members, options, notes), the maps and the
//! carry-over. `shed(limit)` reports the oldest pending requests first (an arrival-order queue,
//! not a scan) as `no_response` with a `shed` note; the stream keeps a marker (`Lost`, 32
//! bytes), so that a reply that still comes on that stream is counted and reported as a
//! `late_reply` message, not as a `no_request`; markers are dropped only by `shed(0)`, the
//! engine's last resort before it stops dissecting a connection. The carry-over of a frame
//! cut short is not dropped with the frame: when the partial frames alone are over the limit
//! (always at `shed(0)`), a frame whose header is in is skipped to its end by length and
//! reported then from what its held bytes decode to (a `frame` truncated note and a text note
//! saying its bytes were shed), and a v5 segment cut short (not lz4-compressed) gives its
//! payload to the frames now and the rest as it comes; a header cut short (at most 16 bytes)
//! is kept inline, outside `state_bytes`. So a request in transit is still reported exactly
//! once. Only what cannot be carried that way (a compressed v5 segment cut short, bytes held
//! while looking for a boundary) is dropped by `shed(0)` (counted as skipped; the session looks
//! for the next boundary), which so leaves 0. A request reported early because
//! [`Config::max_pending`] is reached keeps a marker too.
//! The timer does the same for every request older than `request_timeout` (capture time), with
//! a `request_timeout` note; a new request on a marked stream drops the marker (counted). The
//! [`PreparedCache`] is shared by all connections of a run, so it is not charged to any one
//! connection: it has its own bounds ([`Config::max_prepared`], [`Config::max_prepared_bytes`],
//! 10 000 entries / 4 MiB) and counts its evictions; an EXECUTE of an evicted id gets the
//! `not PREPAREd earlier in this capture` note.
//!
//! Known limits (see also the README section):
//! - versions 1 and 2 (8-byte headers) are not decoded (an anomaly, then the session looks for
//!   the next boundary); frames of v6 beta and DSE v1/v2 (which drivers try first when
//!   negotiating) are decoded with the v5 (DSE v1: v4 plus int flags) body rules, untested
//!   against real servers;
//! - connections found by probing (not on port 9042 or a `--port cql=` port) are not pinned
//!   to one worker by the multi-threaded engine, so prepared ids shared between such
//!   connections are resolved only with one thread (or with `--port cql=PORT`);
//! - row contents are not decoded (the row count and column specs are);
//! - frames larger than [`Config::max_frame`] are decoded from their first bytes only (and not
//!   at all when compressed with lz4/snappy in v3/v4), then skipped by length.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod compress;
pub mod event;
pub mod frame;
pub mod parser;
pub mod segment;
pub mod session;

pub use parser::Limits;
pub use session::{Accounting, CqlSession, PROTOCOL};

use frame::{Header, Opcode};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use wiresift_core::{ConnectionInfo, Direction, ProbeResult, ProtocolSession, TcpProtocolPlugin};

/// Budgets of the CQL plugin. All finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bounds on decoded output.
    pub limits: Limits,
    /// Largest frame buffered whole and decoded (default 256 KiB); larger frames are paired,
    /// reported with their size and what their first bytes say (a RESULT's kind, metadata and
    /// row count, a QUERY's text; not for compressed v3/v4 bodies), and skipped by length.
    pub max_frame: usize,
    /// Largest body length a header may claim and still be a plausible header (default 256 MiB,
    /// the spec's limit).
    pub max_frame_claim: u32,
    /// Largest decompressed body (default 2 MiB).
    pub max_decompressed: usize,
    /// Requests waiting for a reply, per connection (default 1,024); when full, the oldest is
    /// reported early as `no_response` with a note (its stream keeps a marker, so its reply is
    /// counted as late, not reported as `no_request`).
    pub max_pending: usize,
    /// Notes kept per transaction (default 16).
    pub max_notes: usize,
    /// Prepared statements remembered for the whole run (default 10,000).
    pub max_prepared: usize,
    /// Bytes of prepared-statement text remembered for the whole run (default 4 MiB).
    pub max_prepared_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            max_frame: 256 << 10,
            max_frame_claim: 256 << 20,
            max_decompressed: 2 << 20,
            max_pending: 1024,
            max_notes: 16,
            max_prepared: 10_000,
            max_prepared_bytes: 4 << 20,
        }
    }
}

/// Prepared statement id (hex) → CQL text, for all connections of a run. Bounded by entries
/// and by bytes; the oldest entries are evicted first (and counted).
#[derive(Debug, Default)]
pub struct PreparedCache {
    map: HashMap<String, String>,
    order: VecDeque<String>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    evicted: u64,
}

/// The cache as the sessions hold it.
pub type SharedCache = Arc<Mutex<PreparedCache>>;

impl PreparedCache {
    /// An empty cache with these bounds.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        PreparedCache {
            max_entries,
            max_bytes,
            ..Default::default()
        }
    }
    /// Remember `text` under `id` (replacing an older text; an id keeps its age, so that
    /// re-PREPAREs, which drivers send on every connection, cost O(1)).
    pub fn insert(&mut self, id: String, text: String) {
        if let Some(old) = self.map.get_mut(&id) {
            if *old != text {
                self.bytes = self.bytes - old.len() + text.len();
                *old = text;
                self.evict_to_fit(0);
            }
            return;
        }
        let cost = id.len() + text.len();
        if cost > self.max_bytes || self.max_entries == 0 {
            self.evicted += 1;
            return;
        }
        self.evict_to_fit(cost);
        self.bytes += cost;
        self.order.push_back(id.clone());
        self.map.insert(id, text);
    }

    /// Evict the oldest entries until one more entry of `cost` bytes fits.
    fn evict_to_fit(&mut self, cost: usize) {
        while !self.map.is_empty()
            && (self.map.len() + usize::from(cost > 0) > self.max_entries
                || self.bytes + cost > self.max_bytes)
        {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(t) = self.map.remove(&k) {
                self.bytes -= t.len() + k.len();
                self.evicted += 1;
            }
        }
    }

    /// The text PREPAREd under `id`.
    pub fn get(&self, id: &str) -> Option<String> {
        self.map.get(id).cloned()
    }
    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Bytes held (ids and texts).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// Entries evicted (or refused) to stay within the bounds.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// The CQL plugin.
#[derive(Debug, Clone)]
pub struct CqlPlugin {
    /// Budgets for new sessions.
    pub config: Config,
    cache: SharedCache,
}

impl Default for CqlPlugin {
    fn default() -> Self {
        CqlPlugin::new(Config::default())
    }
}

impl CqlPlugin {
    /// A plugin with the given budgets and an empty prepared-statement cache.
    pub fn new(config: Config) -> Self {
        let cache = PreparedCache::new(config.max_prepared, config.max_prepared_bytes);
        CqlPlugin {
            config,
            cache: Arc::new(Mutex::new(cache)),
        }
    }

    /// The prepared-statement cache shared by this plugin's sessions.
    pub fn prepared_cache(&self) -> &SharedCache {
        &self.cache
    }
}

/// Does `data`, the first bytes sent in `dir`, look like CQL? A full 9-byte header is needed:
/// requests must be OPTIONS or STARTUP (what a client sends first), or any request when the
/// header passes the boundary rule and the length fits what was given; replies any reply opcode.
pub fn probe(dir: Direction, data: &[u8]) -> ProbeResult {
    if data.is_empty() {
        return ProbeResult::NeedMore;
    }
    let v = data[0];
    let want_resp = dir == Direction::ServerToClient;
    if (v & 0x80 != 0) != want_resp || !matches!(v & 0x7F, 3..=6 | 0x41 | 0x42) {
        return ProbeResult::NoMatch;
    }
    let Some(h) = Header::parse(data) else {
        // check what the prefix already says
        if let Some(&f) = data.get(1) {
            if f & 0xE0 != 0 {
                return ProbeResult::NoMatch;
            }
        }
        if let Some(&o) = data.get(4) {
            let op = Opcode(o);
            if !(if want_resp {
                op.is_response()
            } else {
                op.is_request()
            }) {
                return ProbeResult::NoMatch;
            }
        }
        return ProbeResult::NeedMore;
    };
    if !h.plausible(dir, 256 << 20) {
        return ProbeResult::NoMatch;
    }
    let first = matches!(h.opcode, Opcode::OPTIONS | Opcode::STARTUP);
    if want_resp || first || h.length < (16 << 20) {
        ProbeResult::Match
    } else {
        ProbeResult::NoMatch
    }
}

impl TcpProtocolPlugin for CqlPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }
    fn default_ports(&self) -> &'static [u16] {
        &[9042]
    }
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        probe(dir, data)
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(CqlSession::new(conn, self.config, Arc::clone(&self.cache)))
    }
    /// True: sessions share the prepared-statement cache, so a multi-threaded engine must run
    /// all CQL connections on one worker, in capture order (an EXECUTE on connection B must be
    /// decoded after the PREPARE reply on connection A that it refers to).
    fn shares_state_across_connections(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{ClientToServer as C, ServerToClient as S};

    #[test]
    fn probe_directions() {
        let options = [0x04, 0, 0, 0, 0x05, 0, 0, 0, 0];
        assert_eq!(probe(C, &options), ProbeResult::Match);
        assert_eq!(probe(C, &options[..3]), ProbeResult::NeedMore);
        assert_eq!(probe(S, &options), ProbeResult::NoMatch);
        assert_eq!(probe(C, b"*3\r\n$3\r\nSET\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(C, b"GET / HTTP/1.1\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(C, &[0x04, 0, 0, 0, 0x06]), ProbeResult::NoMatch);
        let supported = [0x85, 0, 0, 0, 0x06, 0, 0, 0, 2, 0, 0];
        assert_eq!(probe(S, &supported), ProbeResult::Match);
        assert_eq!(probe(S, b"+OK\r\n"), ProbeResult::NoMatch);
        assert_eq!(probe(C, b""), ProbeResult::NeedMore);
        let p = CqlPlugin::default();
        assert_eq!((p.name(), p.default_ports()), ("cql", &[9042u16][..]));
        assert!(p.shares_state_across_connections());
    }

    #[test]
    fn prepared_cache_is_bounded() {
        let mut c = PreparedCache::new(3, 1 << 20);
        for i in 0..5 {
            c.insert(format!("id{i}"), format!("SELECT {i}"));
        }
        assert_eq!((c.len(), c.evicted()), (3, 2));
        assert_eq!(c.get("id0"), None);
        assert_eq!(c.get("id4").as_deref(), Some("SELECT 4"));
        let mut b = PreparedCache::new(100, 20);
        b.insert("a".into(), "x".repeat(10));
        b.insert("b".into(), "y".repeat(10));
        assert!(b.bytes() <= 20);
        assert_eq!(b.get("a"), None);
        b.insert("c".into(), "z".repeat(100));
        assert_eq!(b.get("c"), None);
        assert_eq!(b.evicted(), 2);
        // re-inserting keeps one entry; a longer text under the same id stays within bytes
        b.insert("b".into(), "y".repeat(10));
        assert_eq!((b.len(), b.bytes()), (1, 11));
        b.insert("d".into(), "w".repeat(5));
        b.insert("d".into(), "w".repeat(15));
        assert!(b.bytes() <= 20, "{}", b.bytes());
        assert_eq!(b.get("d").map(|t| t.len()), Some(15));
    }
}

#[cfg(test)]
mod tests_session;
#[cfg(test)]
mod tests_shed;
