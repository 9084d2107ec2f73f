//! Per-connection CQL state: framing of each direction (frames, or v5 segments carrying
//! frames), and pairing of requests with replies by stream id.
//!
//! # Framing
//! Each direction starts in frames mode (v3/v4, and v5 before STARTUP is answered). A v5
//! STARTUP switches the client direction to segments right after it; a v5 READY or
//! AUTHENTICATE switches the server direction right after it. The segment format (3-byte header,
//! or 5-byte lz4 header) follows the STARTUP `COMPRESSION` option; when STARTUP was not seen,
//! both are tried and the CRC24 decides.
//!
//! # Finding a boundary (mid-stream pickup, after a gap, after a bad header)
//! Candidate offsets are tried in order, starting at the first byte (a gap always ends where a
//! captured segment begins, and a capture usually starts at one). A candidate is accepted when:
//! - **frame**: its 9-byte header passes [`Header::plausible`] (version 3–5 with the right
//!   direction bit, known flags, an opcode that side sends, a bounded length) *and* the frame is
//!   followed by another plausible header or ends exactly where the data ends (a frame longer
//!   than the carry-over limit instead needs its first 4 KiB to decode as its opcode says; a
//!   compressed one is not accepted);
//! - **segment** (v5): its header's CRC24 matches *and* the payload's CRC32 matches. After a
//!   resynchronisation in segments, non-self-contained segments are dropped until one starts
//!   with a plausible frame header (the first segment of a large frame) or a self-contained
//!   segment arrives.
//!
//! Bytes before the accepted boundary are counted as skipped and reported once (an anomaly and
//! a `resync` note on the next transaction).
//!
//! # Pairing
//! Requests wait in a map keyed by stream id; a reply takes the request of its stream,
//! whatever order replies arrive in. A new request on a stream still outstanding is an anomaly
//! (when the server side is being seen) and the older request is reported `no_response`. A reply
//! with no request is a `no_request` transaction. EVENT frames (stream -1) are messages.
//! Prepared statement ids live in the plugin's shared [`crate::PreparedCache`], so an EXECUTE on
//! one connection shows the text PREPAREd on another.

use crate::compress::{self, Compression};
use crate::event::{CqlRequest, CqlResponse};
use crate::frame::{self, flags, Header, Opcode, HEADER_LEN};
use crate::parser::{self, hex};
use crate::segment::{self, HeaderResult, Kind};
use crate::{Config, SharedCache};
use std::collections::{HashMap, VecDeque};

/// Stream-keyed maps with a fixed hasher, so that the session is deterministic (which entry a
/// capacity-based budget or a tie picks never depends on a random seed).
type StreamMap<V> = HashMap<i16, V, rustc_hash::FxBuildHasher>;
use wiresift_core::{
    push_note, ByteAccounting, CloseReason, ConnectionInfo, Detail, Direction, Duration, EventSink,
    Flow, GapInfo, Message, Note, ParseAnomaly, ProtocolSession, ReqResp, Status, StreamBuf,
    StreamChunk, Timestamp, Transaction,
};

/// The detail of a CQL transaction.
pub type CqlDetail = ReqResp<CqlRequest, CqlResponse>;

/// Plugin name used in events.
pub const PROTOCOL: &str = "cql";

/// How a direction's bytes are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Not known yet (mid-stream pickup): frames or segments of either kind.
    Unknown,
    /// Bare frames.
    Frames,
    /// v5 segments; `None` while the kind is not known.
    Segments(Option<Kind>),
}

/// Whether a direction knows where the next boundary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// The next byte starts a frame (or segment).
    InSync,
    /// Looking for a boundary; bytes skipped so far.
    Hunting { skipped: u64 },
}

/// A frame too large to buffer, being skipped by length.
#[derive(Debug)]
struct Skipping {
    header: Header,
    ts: Timestamp,
    left: u64,
    /// What its first bytes said (a RESULT's metadata and row count come before the rows; a
    /// QUERY's text before its values).
    decoded: Option<Decoded>,
    /// Not oversize: its first bytes were held when the session shed them (see
    /// [`Half::release_held`]).
    shed: bool,
}

/// v5: what is left of a segment whose first bytes were shed: its payload bytes go to the
/// frames as they come (its CRC32 cannot be checked any more), then its CRC32 is skipped.
#[derive(Debug, Clone, Copy)]
struct SegRest {
    payload_left: usize,
    crc_left: usize,
    self_contained: bool,
}

/// A body decoded from the prefix of an oversize frame.
#[derive(Debug)]
enum Decoded {
    Request(Box<parser::Request>),
    Response(Box<parser::Response>),
}

/// One direction's framing state.
#[derive(Debug)]
struct Half {
    dir: Direction,
    framing: Framing,
    sync: Sync,
    /// Stream offset of the next byte given to `parse`.
    offset: u64,
    /// An oversize bare frame being skipped.
    skip: Option<Skipping>,
    /// Start time of carried-over bytes.
    carry_ts: Option<Timestamp>,
    /// True until `parse` consumes something in the current feed.
    feed_first: bool,
    /// v5: bytes of a frame spanning segments.
    inner: Vec<u8>,
    inner_ts: Timestamp,
    /// v5: an oversize frame spanning segments, skipped by length.
    inner_skip: Option<Skipping>,
    /// v5: after a resync, the next segment may start inside a frame.
    inner_lost: bool,
    /// Bytes that could not be dissected (skipped while hunting, dropped at a gap, …).
    skipped: u64,
    /// v5: bytes of segment payloads (after lz4 decompression) that could not be dissected.
    inner_skipped: u64,
    /// What the last search for a boundary learnt about the bytes still held.
    memo: HuntMemo,
    /// The few carried-over bytes `shed(0)` could not turn into a skip (a frame or segment
    /// header cut short), kept inline so that the next chunk still starts where they left off;
    /// held for the accounting, fixed-size for the budget.
    stash: [u8; STASH],
    stash_len: usize,
    /// v5: the first bytes of a frame spanning segments, too few for its header, kept inline
    /// by `shed(0)` (put back in `inner` by the next segment).
    inner_stash: [u8; HEADER_LEN],
    inner_stash_len: usize,
    /// v5: the rest of a segment whose first bytes were shed (see [`Half::release_held`]).
    seg_rest: Option<SegRest>,
    /// Byte accounting (see [`Accounting`]).
    delivered: u64,
    consumed: u64,
    discarded: u64,
}

/// Where the bytes delivered to one direction of a session went. At any time
/// `delivered == consumed + discarded + held`; after `on_close`, `held == 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accounting {
    /// Bytes handed to `on_data`.
    pub delivered: u64,
    /// Bytes the parser consumed: decoded, or skipped while looking for a boundary (those are
    /// also in `skipped`).
    pub consumed: u64,
    /// Bytes dropped from the carry-over (at a gap, on overflow, at close).
    pub discarded: u64,
    /// Bytes carried over, waiting for more.
    pub held: u64,
    /// Wire bytes not dissected: skipped while out of sync, dropped, or in bad segments (a part
    /// of `consumed + discarded`, so never more than `delivered`).
    pub skipped: u64,
    /// v5: bytes inside segment payloads, counted after lz4 decompression, that could not be
    /// dissected (a frame header that is not plausible, a frame cut by a self-contained
    /// segment's end). Not wire bytes: the segments carrying them are in `consumed`.
    pub inner_skipped: u64,
}

/// Offsets the boundary search has already judged, so that bytes held while a candidate waits
/// for more data are not scanned again on every chunk (which would be quadratic on hostile
/// input). Valid only while the held bytes start at stream offset `base`.
#[derive(Debug, Default, Clone)]
struct HuntMemo {
    base: u64,
    /// Every offset below this was judged: only those in `recheck` may still be boundaries.
    scanned: usize,
    /// Offsets that needed more bytes to tell (ascending, bounded).
    recheck: Vec<usize>,
}

/// Candidate offsets remembered for a recheck; beyond this, scanning resumes from the first one
/// not remembered.
const MAX_RECHECK: usize = 64;

/// Carried-over bytes `shed(0)` keeps inline (more than any frame or segment header).
const STASH: usize = 16;

/// What the core asks a direction to do after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Nothing,
    /// Switch to v5 segments (of this kind, if known) after this frame.
    Segments(Option<Kind>),
}

/// A request waiting for its reply.
#[derive(Debug)]
struct Pending {
    seq: u64,
    ts: Timestamp,
    opcode: Opcode,
    detail: CqlRequest,
    query: String,
    /// PREPARE: the text to remember under the returned id.
    prepare_text: Option<String>,
    bytes: u64,
    notes: Vec<Note>,
    /// Server-side bytes lost (sum of gaps) while this request waited, if any gap happened.
    reply_gap: Option<u64>,
    /// Server-side bytes skipped (out of sync) while this request waited.
    reply_skipped: u64,
    /// Bytes charged for it in `Core::pending_bytes`.
    cost: usize,
}

fn strs(v: &[String]) -> usize {
    std::mem::size_of_val(v) + v.iter().map(String::capacity).sum::<usize>()
}

fn ostr(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::capacity)
}

impl Pending {
    /// Bytes it keeps (an estimate: inline sizes plus heap).
    fn compute_cost(&self) -> usize {
        let d = &self.detail;
        std::mem::size_of::<Pending>()
            + 16
            + self.query.capacity()
            + ostr(&self.prepare_text)
            + self.notes.capacity() * std::mem::size_of::<Note>()
            + ostr(&d.consistency)
            + ostr(&d.serial_consistency)
            + d.flags.capacity() * 16
            + d.value_sizes.capacity() * 4
            + strs(&d.value_names)
            + ostr(&d.keyspace)
            + ostr(&d.prepared_id)
            + ostr(&d.result_metadata_id)
            + d.batch.as_ref().map_or(0, |b| {
                b.kind.capacity()
                    + b.members.capacity() * std::mem::size_of::<crate::event::BatchMember>()
                    + b.members
                        .iter()
                        .map(|m| ostr(&m.query) + ostr(&m.prepared_id))
                        .sum::<usize>()
            })
            + d.options.as_ref().map_or(0, |o| {
                o.iter()
                    .map(|(k, v)| 48 + k.capacity() + v.capacity())
                    .sum()
            })
            + d.events.as_ref().map_or(0, |e| strs(e))
            + ostr(&d.user)
    }
}

/// A request already reported (timed out or shed) whose reply may still come on its stream:
/// the reply is then counted as late, not reported as `no_request`.
#[derive(Debug, Clone, Copy)]
struct Lost {
    ts: Timestamp,
    reported: Timestamp,
    why: &'static str,
}

/// Pairing and connection-wide state.
struct Core {
    conn: ConnectionInfo,
    cfg: Config,
    cache: SharedCache,
    /// Boxed: a request's detail is ~0.5 KB and the map keeps spare buckets.
    pending: StreamMap<Box<Pending>>,
    seq: u64,
    compression: Compression,
    /// Compression not negotiated in the capture but found by trying (v3/v4).
    guessed: Option<Compression>,
    server_seen: bool,
    /// A server-side gap happened: pending requests may have lost their reply.
    server_gap: bool,
    /// The last client-side gap (its length when known): requests were lost.
    client_gap: Option<Option<u64>>,
    resync: [Option<u64>; 2],
    ts: Timestamp,
    /// The connection's keyspace (USE / set_keyspace), for predicting prepared ids.
    keyspace: Option<String>,
    /// Highest protocol version seen in a frame header.
    version: Option<u8>,
    /// A STARTUP was decoded: the segment format is negotiated, not guessed.
    startup: bool,
    /// Sum of `Pending::cost` over `pending`.
    pending_bytes: usize,
    /// Requests in arrival order (seq, stream): the oldest first, with stale entries (already
    /// answered) skipped lazily and compacted when it grows.
    order: VecDeque<(u64, i16)>,
    /// Streams whose request was reported early (timeout, budget); bounded by `max_pending`.
    lost: StreamMap<Lost>,
    lost_dropped: u64,
    late_replies: u64,
    late_max_us: u64,
    shed_requests: u64,
    timed_out: u64,
}

/// A CQL session (one connection).
pub struct CqlSession {
    bufs: [StreamBuf; 2],
    halves: [Half; 2],
    core: Core,
}

impl std::fmt::Debug for CqlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CqlSession")
            .field("conn", &self.core.conn.id)
            .field("pending", &self.core.pending.len())
            .finish()
    }
}

impl CqlSession {
    /// A session for `conn` with budgets `cfg`, sharing the prepared-statement cache `cache`.
    pub fn new(conn: &ConnectionInfo, cfg: Config, cache: SharedCache) -> Self {
        let half = |dir| Half {
            dir,
            framing: if conn.midstream {
                Framing::Unknown
            } else {
                Framing::Frames
            },
            sync: if conn.midstream {
                Sync::Hunting { skipped: 0 }
            } else {
                Sync::InSync
            },
            offset: 0,
            skip: None,
            carry_ts: None,
            feed_first: true,
            inner: Vec::new(),
            inner_ts: conn.start,
            inner_skip: None,
            inner_lost: false,
            skipped: 0,
            inner_skipped: 0,
            memo: HuntMemo::default(),
            stash: [0; STASH],
            stash_len: 0,
            inner_stash: [0; HEADER_LEN],
            inner_stash_len: 0,
            seg_rest: None,
            delivered: 0,
            consumed: 0,
            discarded: 0,
        };
        let limit = cfg.max_frame.max(segment::MAX_PAYLOAD + 16);
        CqlSession {
            bufs: [StreamBuf::new(limit), StreamBuf::new(limit)],
            halves: [
                half(Direction::ClientToServer),
                half(Direction::ServerToClient),
            ],
            core: Core {
                conn: *conn,
                cfg,
                cache,
                pending: StreamMap::default(),
                seq: 0,
                compression: Compression::None,
                guessed: None,
                server_seen: false,
                server_gap: false,
                client_gap: None,
                resync: [None, None],
                ts: conn.start,
                keyspace: None,
                version: None,
                startup: false,
                pending_bytes: 0,
                order: VecDeque::new(),
                lost: StreamMap::default(),
                lost_dropped: 0,
                late_replies: 0,
                late_max_us: 0,
                shed_requests: 0,
                timed_out: 0,
            },
        }
    }

    /// Bytes of each direction (client first) that could not be dissected so far.
    pub fn skipped_bytes(&self) -> [u64; 2] {
        [self.halves[0].skipped, self.halves[1].skipped]
    }

    /// Byte accounting of each direction (client first).
    pub fn accounting(&self) -> [Accounting; 2] {
        [0, 1].map(|d| {
            let h = &self.halves[d];
            Accounting {
                delivered: h.delivered,
                consumed: h.consumed,
                discarded: h.discarded,
                held: (self.bufs[d].len() + h.stash_len) as u64,
                skipped: h.skipped,
                inner_skipped: h.inner_skipped,
            }
        })
    }

    /// Requests waiting for a reply.
    pub fn pending(&self) -> usize {
        self.core.pending.len()
    }
}

impl ProtocolSession for CqlSession {
    fn late_replies(&self) -> u64 {
        self.core.late_replies
    }

    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        let d = chunk.dir.index();
        let arrival = chunk.arrival();
        self.core.ts = chunk.ts;
        if chunk.dir == Direction::ServerToClient {
            self.core.server_seen = true;
        }
        let CqlSession { bufs, halves, core } = self;
        let half = &mut halves[d];
        half.feed_first = true;
        half.delivered += chunk.data.len() as u64;
        let joined;
        let data = if half.stash_len > 0 {
            // Bytes kept by `shed(0)`: they come first, as if they had stayed carried over.
            let mut v = half.stash[..half.stash_len].to_vec();
            v.extend_from_slice(chunk.data);
            half.stash_len = 0;
            joined = v;
            &joined[..]
        } else {
            chunk.data
        };
        let res = bufs[d].feed(data, |b| half.parse(b, arrival, chunk.ts, core, out));
        if let Err(e) = res {
            half.count_skipped(e.have as u64, core);
            half.offset += e.have as u64;
            half.discarded += e.have as u64;
            core.anomaly(
                half.dir,
                half.offset,
                format!("{e}; skipped, looking for the next frame boundary"),
                out,
            );
            half.lose_sync(core);
        }
        if !bufs[d].is_empty() {
            if half.carry_ts.is_none() {
                half.carry_ts = Some(arrival);
            }
        } else {
            half.carry_ts = None;
        }
        Flow::Continue
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        let d = gap.dir.index();
        self.core.ts = gap.ts;
        let half = &mut self.halves[d];
        let dropped = (self.bufs[d].clear() + std::mem::take(&mut half.stash_len)) as u64;
        half.count_skipped(dropped, &mut self.core);
        half.offset += dropped + gap.len.unwrap_or(0);
        half.discarded += dropped;
        half.carry_ts = None;
        // A gap inside an oversize frame being skipped only shortens it.
        if let (Some(s), Some(len), 0) = (half.skip.as_mut(), gap.len, dropped) {
            if len < s.left {
                s.left -= len;
                return Flow::Continue;
            }
        }
        half.skip = None;
        half.seg_rest = None;
        half.inner.clear();
        half.inner_skip = None;
        half.inner_lost = true;
        half.lose_sync(&self.core);
        // Replies lost in a server-side gap: the requests then pending may never be answered; the
        // note goes on those that end without a reply (a request answered later keeps none).
        // Requests lost in a client-side gap: their replies come as `no_request`, with the note.
        let bytes = gap.len;
        match gap.dir {
            Direction::ServerToClient => {
                self.core.server_gap = true;
                for p in self.core.pending.values_mut() {
                    let lost = p.reply_gap.get_or_insert(0);
                    *lost = lost.saturating_add(bytes.unwrap_or(0));
                }
            }
            Direction::ClientToServer => self.core.client_gap = Some(bytes),
        }
        let _ = out;
        Flow::Continue
    }

    fn on_close(&mut self, ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        self.core.ts = ts;
        for d in 0..2 {
            let left =
                (self.bufs[d].clear() + std::mem::take(&mut self.halves[d].stash_len)) as u64;
            self.halves[d].skipped += left;
            self.halves[d].discarded += left;
        }
        self.core.order.clear();
        self.core.pending_bytes = 0;
        self.core.lost.clear();
        let mut all: Vec<Box<Pending>> = self.core.pending.drain().map(|(_, p)| p).collect();
        all.sort_by_key(|p| p.seq);
        for p in all {
            self.core.finish(*p, None, out);
        }
        let c = &self.core;
        if c.late_replies > 0 || (c.lost_dropped > 0 && c.server_seen) {
            c.anomaly(
                Direction::ServerToClient,
                self.halves[1].offset,
                format!(
                    "{} replies came after their request was reported (timeout or budget; longest wait {} us); {} markers dropped",
                    c.late_replies, c.late_max_us, c.lost_dropped
                ),
                out,
            );
        }
    }

    fn accounting(&self) -> Option<ByteAccounting> {
        let mut a = ByteAccounting::default();
        for d in 0..2 {
            let h = &self.halves[d];
            // `skipped` is a part of `consumed + discarded` (see [`Accounting`]).
            a.delivered += h.delivered;
            a.skipped += h.skipped;
            a.parsed += (h.consumed + h.discarded).saturating_sub(h.skipped);
            a.held += (self.bufs[d].len() + h.stash_len) as u64;
        }
        Some(a)
    }

    fn state_bytes(&self) -> usize {
        let framing: usize = (0..2)
            .map(|d| self.bufs[d].len() + self.halves[d].inner.capacity())
            .sum();
        framing + self.core.state_bytes()
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        // An eighth below the limit: a session at its cap sheds a batch now and then, not one
        // item after every callback.
        let zero = limit == 0;
        let limit = limit - limit / 8;
        for h in self.halves.iter_mut() {
            if h.inner.is_empty() {
                h.inner = Vec::new();
            }
        }
        let framing = |s: &Self| -> usize {
            (0..2)
                .map(|d| s.bufs[d].len() + s.halves[d].inner.capacity())
                .sum()
        };
        if framing(self) > limit {
            // Partial frames alone are over the limit: their bytes go, the frames are still
            // reported (skipped to their end by length, decoded from what was held).
            for d in 0..2 {
                self.halves[d].release_held(&mut self.bufs[d], &mut self.core, zero, out);
            }
        }
        let n = self
            .core
            .shed(limit.saturating_sub(framing(self)), zero, ts, out);
        if zero {
            // `shed(0)`: the engine stops dissecting a session that cannot get to nothing.
            // What `release_held` could not turn into a skip or keep inline (a v5 segment cut
            // short, bytes held while looking for a boundary) is dropped, counted as skipped,
            // and the next boundary looked for.
            for d in 0..2 {
                let dropped = self.bufs[d].clear() as u64;
                let half = &mut self.halves[d];
                if dropped > 0 || !half.inner.is_empty() {
                    half.count_skipped(dropped, &mut self.core);
                    half.offset += dropped;
                    half.discarded += dropped;
                    half.carry_ts = None;
                    let inner = std::mem::take(&mut half.inner).len() as u64;
                    half.count_inner_skipped(inner, &mut self.core);
                    half.inner_skip = None;
                    half.seg_rest = None;
                    half.inner_lost = true;
                    half.lose_sync(&self.core);
                }
            }
        }
        n
    }

    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        self.core
            .oldest()
            .map(|(_, p)| p.ts.saturating_add(request_timeout))
    }

    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let mut n = 0;
        while let Some((stream, p)) = self.core.oldest() {
            let waited = now.saturating_since(p.ts);
            if waited < request_timeout {
                break;
            }
            self.core.timed_out += 1;
            n += 1;
            self.core.report_early(
                stream,
                Note::RequestTimeout {
                    waited_us: waited.as_micros(),
                },
                "timeout",
                now,
                out,
            );
        }
        n
    }
}

/// Result of looking for a boundary at one offset.
enum Candidate {
    Yes(Framing),
    No,
    NeedMore,
}

impl Half {
    /// Give up the bytes held of a frame cut short, without losing the frame: a frame whose
    /// header is in (a bare frame carried over, or a v5 frame spanning segments) becomes a
    /// frame skipped by length to its end, reported then from what its held bytes decode to;
    /// a v5 segment carried over (not lz4-compressed) gives its payload bytes to the frames
    /// now and the rest as it comes. So a request is still paired with its reply, or reported
    /// `no_response`, exactly once. With `zero`, bytes too few for that (a header cut short)
    /// are kept inline.
    fn release_held(
        &mut self,
        buf: &mut StreamBuf,
        core: &mut Core,
        zero: bool,
        out: &mut dyn EventSink,
    ) {
        let held = buf.len();
        if held > 0 && self.skip.is_none() && self.seg_rest.is_none() {
            let mut b = vec![0; held];
            buf.feed(&[], |d| {
                b.copy_from_slice(&d[..held]);
                0
            })
            .ok();
            if self.release_bytes(&b, core, out) {
                buf.clear();
                self.offset += held as u64;
                self.consumed += held as u64;
                self.carry_ts = None;
            } else if zero && held <= STASH {
                self.stash[..held].copy_from_slice(&b);
                self.stash_len = held;
                buf.clear();
            }
        }
        if !self.inner.is_empty() && self.inner_skip.is_none() {
            let h = Header::parse(&self.inner)
                .filter(|h| h.plausible(self.dir, core.cfg.max_frame_claim))
                .filter(|h| h.frame_len() > self.inner.len() as u64);
            if let Some(h) = h {
                let decoded = core.decode_prefix(self.dir, &h, &self.inner[HEADER_LEN..]);
                self.inner_skip = Some(Skipping {
                    header: h,
                    ts: self.inner_ts,
                    left: h.frame_len() - self.inner.len() as u64,
                    decoded,
                    shed: true,
                });
                self.inner = Vec::new();
            } else if zero && self.inner.len() < HEADER_LEN {
                let n = self.inner.len();
                self.inner_stash[..n].copy_from_slice(&self.inner);
                self.inner_stash_len = n;
                self.inner = Vec::new();
            }
        }
    }

    /// [`Half::release_held`] for the carried-over bytes `b`: whether they were taken.
    fn release_bytes(&mut self, b: &[u8], core: &mut Core, out: &mut dyn EventSink) -> bool {
        if self.sync != Sync::InSync {
            return false;
        }
        let held = b.len();
        let ts = self.carry_ts.unwrap_or(core.ts);
        if let Framing::Segments(kind) = self.framing {
            let kinds: &[Kind] = match kind {
                Some(Kind::Plain) => &[Kind::Plain],
                Some(Kind::Lz4) => &[Kind::Lz4],
                None => &[Kind::Lz4, Kind::Plain],
            };
            let Some(sh) = kinds
                .iter()
                .find_map(|&k| match segment::parse_header(b, k) {
                    HeaderResult::Ok(h) => Some(h),
                    _ => None,
                })
            else {
                return false;
            };
            let hl = sh.kind.header_len() + 3;
            if sh.total_len() <= held || (sh.kind == Kind::Lz4 && sh.uncompressed_len > 0) {
                return false;
            }
            self.framing = Framing::Segments(Some(sh.kind));
            if sh.self_contained {
                if !self.inner.is_empty() {
                    core.anomaly(
                        self.dir,
                        self.offset,
                        format!(
                            "self-contained segment while {} bytes of a frame were pending; dropped",
                            self.inner.len()
                        ),
                        out,
                    );
                    self.count_inner_skipped(self.inner.len() as u64, core);
                    self.inner.clear();
                }
                self.inner_lost = false;
            }
            let first = (held - hl).min(sh.payload_len);
            let now = core.ts;
            self.payload(&b[hl..hl + first], false, ts, now, core, out);
            let payload_left = sh.payload_len - first;
            self.seg_rest = Some(SegRest {
                payload_left,
                crc_left: sh.total_len() - held - payload_left,
                self_contained: sh.self_contained,
            });
            return true;
        }
        let Some(h) = Header::parse(b)
            .filter(|h| h.plausible(self.dir, core.cfg.max_frame_claim))
            .filter(|h| h.frame_len() > held as u64)
        else {
            return false;
        };
        let decoded = core.decode_prefix(self.dir, &h, &b[HEADER_LEN..]);
        self.skip = Some(Skipping {
            header: h,
            ts,
            left: h.frame_len() - held as u64,
            decoded,
            shed: true,
        });
        true
    }

    /// Bytes that could not be dissected. Server bytes skipped may have held replies: the
    /// requests then pending say so if they end without one.
    fn count_skipped(&mut self, n: u64, core: &mut Core) {
        self.skipped += n;
        if self.dir == Direction::ServerToClient && n > 0 {
            core.reply_skipped(n);
        }
    }

    /// Bytes inside a segment payload (decompressed) that could not be dissected; see
    /// [`Accounting::inner_skipped`].
    fn count_inner_skipped(&mut self, n: u64, core: &mut Core) {
        self.inner_skipped += n;
        if self.dir == Direction::ServerToClient && n > 0 {
            core.reply_skipped(n);
        }
    }

    /// Look for the next boundary. On a v5 connection still in bare frames (the READY that
    /// switches to segments may be what was lost), segments are looked for too.
    fn lose_sync(&mut self, core: &Core) {
        self.sync = Sync::Hunting { skipped: 0 };
        if self.framing == Framing::Frames && core.version.is_some_and(frame::segmented) {
            self.framing = Framing::Unknown;
        }
        // A segment format found by trying (STARTUP not seen) may have been a lucky CRC24.
        if matches!(self.framing, Framing::Segments(Some(_))) && !core.startup {
            self.framing = Framing::Segments(None);
        }
    }

    /// Parse as much of `b` as possible; returns the bytes consumed (0: need more).
    fn parse(
        &mut self,
        b: &[u8],
        arrival: Timestamp,
        now: Timestamp,
        core: &mut Core,
        out: &mut dyn EventSink,
    ) -> usize {
        let start_ts = if self.feed_first {
            self.carry_ts.unwrap_or(arrival)
        } else {
            arrival
        };
        let n = self.parse_inner(b, start_ts, now, core, out);
        if n > 0 {
            self.feed_first = false;
            self.carry_ts = None;
            self.offset += n as u64;
            self.consumed += n as u64;
        }
        n
    }

    /// One parsing step, repeated while it changes state without consuming (found a boundary,
    /// lost sync, switched framing): returning 0 means "need more bytes" to the caller.
    fn parse_inner(
        &mut self,
        b: &[u8],
        start: Timestamp,
        now: Timestamp,
        core: &mut Core,
        out: &mut dyn EventSink,
    ) -> usize {
        for _ in 0..4 {
            let before = (self.sync, self.framing);
            let n = self.step(b, start, now, core, out);
            if n > 0 || (self.sync, self.framing) == before {
                return n;
            }
        }
        0
    }

    fn step(
        &mut self,
        b: &[u8],
        start: Timestamp,
        now: Timestamp,
        core: &mut Core,
        out: &mut dyn EventSink,
    ) -> usize {
        if let Some(mut r) = self.seg_rest.take() {
            let k = r.payload_left.min(b.len());
            if k > 0 {
                self.payload(&b[..k], false, start, now, core, out);
                r.payload_left -= k;
            }
            let c = r.crc_left.min(b.len() - k);
            r.crc_left -= c;
            if r.payload_left > 0 || r.crc_left > 0 {
                self.seg_rest = Some(r);
            } else if r.self_contained && !self.inner.is_empty() {
                core.anomaly(
                    self.dir,
                    self.offset,
                    format!(
                        "self-contained segment ends inside a frame ({} bytes left)",
                        self.inner.len()
                    ),
                    out,
                );
                self.count_inner_skipped(self.inner.len() as u64, core);
                self.inner.clear();
            }
            return k + c;
        }
        if let Some(mut s) = self.skip.take() {
            let n = (s.left.min(b.len() as u64)) as usize;
            s.left -= n as u64;
            if s.left == 0 {
                let (h, shed) = (s.header, s.shed);
                core.oversize(self.dir, s, now, out);
                // A v5 STARTUP (READY, AUTHENTICATE) whose bytes were shed: the direction
                // switches to segments after it as usual, their kind left to the CRCs.
                let switches = match self.dir {
                    Direction::ClientToServer => h.opcode == Opcode::STARTUP,
                    Direction::ServerToClient => {
                        matches!(h.opcode, Opcode::READY | Opcode::AUTHENTICATE)
                    }
                };
                if shed && switches && frame::segmented(h.version) {
                    self.framing = Framing::Segments(None);
                }
            } else {
                self.skip = Some(s);
            }
            return n;
        }
        if let Sync::Hunting { skipped } = self.sync {
            return self.hunt(b, skipped, core, out);
        }
        match self.framing {
            Framing::Frames | Framing::Unknown => self.frame(b, start, now, core, out),
            Framing::Segments(kind) => self.segment(b, kind, start, now, core, out),
        }
    }

    fn hunt(&mut self, b: &[u8], skipped: u64, core: &mut Core, out: &mut dyn EventSink) -> usize {
        let limit = core.cfg.max_frame as u64;
        let claim = core.cfg.max_frame_claim;
        // Offsets that may be a boundary but need more bytes to tell. A confirmed boundary
        // later in the data wins over them, so that a false candidate claiming a long body
        // cannot stall the search; without one, the bytes from the first of them on are kept.
        let memo = std::mem::take(&mut self.memo);
        let (recheck, from) = if memo.base == self.offset && memo.scanned <= b.len() {
            (memo.recheck, memo.scanned)
        } else {
            (Vec::new(), 0)
        };
        let mut needs: Vec<usize> = Vec::new();
        let mut found = None;
        for i in recheck.into_iter().chain(from..b.len()) {
            match candidate(
                &b[i..],
                self.dir,
                self.framing,
                limit,
                claim,
                &core.cfg.limits,
            ) {
                Candidate::Yes(f) => {
                    found = Some((i, f));
                    break;
                }
                Candidate::NeedMore if needs.len() <= MAX_RECHECK => needs.push(i),
                Candidate::NeedMore => {}
                Candidate::No => {}
            }
        }
        if found.is_none() {
            if let Some(&m) = needs.first() {
                let scanned = needs.get(MAX_RECHECK).copied().unwrap_or(b.len());
                needs.truncate(MAX_RECHECK);
                self.memo = HuntMemo {
                    base: self.offset + m as u64,
                    scanned: scanned - m,
                    recheck: needs.iter().map(|&i| i - m).collect(),
                };
            }
        }
        let maybe = needs.first().copied();
        let n = match found {
            Some((0, f)) => {
                self.framing = f;
                self.sync = Sync::InSync;
                if skipped > 0 {
                    core.resync[self.dir.index()] = Some(skipped);
                    core.anomaly(
                        self.dir,
                        self.offset,
                        format!("resynchronised after skipping {skipped} bytes"),
                        out,
                    );
                }
                if matches!(f, Framing::Segments(_)) {
                    self.inner.clear();
                    self.inner_lost = true;
                }
                return 0;
            }
            Some((i, _)) => i,
            None => maybe.unwrap_or(b.len()),
        };
        self.count_skipped(n as u64, core);
        self.sync = Sync::Hunting {
            skipped: skipped + n as u64,
        };
        n
    }

    /// A bare frame at the start of `b`.
    fn frame(
        &mut self,
        b: &[u8],
        start: Timestamp,
        now: Timestamp,
        core: &mut Core,
        out: &mut dyn EventSink,
    ) -> usize {
        let Some(h) = Header::parse(b) else {
            return 0;
        };
        if !h.plausible(self.dir, core.cfg.max_frame_claim) {
            core.anomaly(
                self.dir,
                self.offset,
                format!(
                    "expected a frame header, found {} (version 0x{:02x}, opcode 0x{:02x}, length {})",
                    hex(&b[..HEADER_LEN]),
                    b[0],
                    h.opcode.0,
                    h.length
                ),
                out,
            );
            self.lose_sync(core);
            return 0;
        }
        let total = h.frame_len();
        if total > core.cfg.max_frame as u64 {
            let n = b.len().min(total as usize);
            let decoded = core.decode_prefix(self.dir, &h, &b[HEADER_LEN..n]);
            if total == n as u64 {
                let s = Skipping {
                    header: h,
                    ts: start,
                    left: 0,
                    decoded,
                    shed: false,
                };
                core.oversize(self.dir, s, now, out);
            } else {
                self.skip = Some(Skipping {
                    header: h,
                    ts: start,
                    left: total - n as u64,
                    decoded,
                    shed: false,
                });
            }
            return n;
        }
        if (b.len() as u64) < total {
            return 0;
        }
        let total = total as usize;
        let after = core.frame(self.dir, &h, &b[HEADER_LEN..total], start, now, out);
        self.framing = Framing::Frames;
        if let After::Segments(k) = after {
            self.framing = Framing::Segments(k);
        }
        total
    }

    /// A v5 segment at the start of `b`.
    fn segment(
        &mut self,
        b: &[u8],
        kind: Option<Kind>,
        start: Timestamp,
        now: Timestamp,
        core: &mut Core,
        out: &mut dyn EventSink,
    ) -> usize {
        let kinds: &[Kind] = match kind {
            Some(Kind::Plain) => &[Kind::Plain],
            Some(Kind::Lz4) => &[Kind::Lz4],
            None => &[Kind::Lz4, Kind::Plain],
        };
        let mut found = None;
        for &k in kinds {
            match segment::parse_header(b, k) {
                HeaderResult::Ok(h) => {
                    found = Some(h);
                    break;
                }
                HeaderResult::NeedMore => return 0,
                HeaderResult::BadCrc => {}
            }
        }
        let Some(sh) = found else {
            // A v5 STARTUP answered by ERROR leaves the client in bare frames.
            if let Some(h) = Header::parse(b) {
                if h.plausible(self.dir, core.cfg.max_frame_claim) && h.version >= 4 {
                    self.framing = Framing::Frames;
                    return self.frame(b, start, now, core, out);
                }
            }
            core.anomaly(
                self.dir,
                self.offset,
                format!(
                    "segment header CRC24 mismatch at {}",
                    hex(&b[..b.len().min(8)])
                ),
                out,
            );
            self.lose_sync(core);
            return 0;
        };
        let total = sh.total_len();
        if b.len() < total {
            return 0;
        }
        let hl = sh.kind.header_len() + 3;
        let wire = &b[hl..hl + sh.payload_len];
        let want = u32::from_le_bytes([b[total - 4], b[total - 3], b[total - 2], b[total - 1]]);
        self.framing = Framing::Segments(Some(sh.kind));
        if segment::crc32(wire) != want {
            core.anomaly(
                self.dir,
                self.offset,
                format!("segment payload CRC32 mismatch ({} bytes)", sh.payload_len),
                out,
            );
            self.count_skipped(total as u64, core);
            self.inner.clear();
            self.inner_skip = None;
            self.inner_lost = true;
            return total;
        }
        if sh.kind == Kind::Lz4 && sh.uncompressed_len > 0 {
            match compress::lz4_block(wire, sh.uncompressed_len, segment::MAX_PAYLOAD) {
                Ok(p) => self.payload(&p, sh.self_contained, start, now, core, out),
                Err(e) => {
                    core.anomaly(self.dir, self.offset, format!("segment: {e}"), out);
                    self.count_skipped(total as u64, core);
                    self.inner.clear();
                    self.inner_lost = true;
                }
            }
        } else {
            self.payload(wire, sh.self_contained, start, now, core, out);
        }
        total
    }

    /// Frames inside one segment payload.
    fn payload(
        &mut self,
        mut p: &[u8],
        self_contained: bool,
        start: Timestamp,
        now: Timestamp,
        core: &mut Core,
        out: &mut dyn EventSink,
    ) {
        if self.inner_stash_len > 0 {
            let n = std::mem::take(&mut self.inner_stash_len);
            if !self.inner_lost {
                self.inner = self.inner_stash[..n].to_vec();
            }
        }
        if let Some(mut s) = self.inner_skip.take() {
            let n = s.left.min(p.len() as u64);
            s.left -= n;
            p = &p[n as usize..];
            if s.left == 0 {
                core.oversize(self.dir, s, now, out);
            } else {
                self.inner_skip = Some(s);
            }
            if p.is_empty() {
                return;
            }
        }
        if self.inner_lost {
            let starts =
                Header::parse(p).is_some_and(|h| h.plausible(self.dir, core.cfg.max_frame_claim));
            if !self_contained && !starts {
                self.count_inner_skipped(p.len() as u64, core);
                return;
            }
            self.inner_lost = false;
        }
        if self_contained && !self.inner.is_empty() {
            core.anomaly(
                self.dir,
                self.offset,
                format!(
                    "self-contained segment while {} bytes of a frame were pending; dropped",
                    self.inner.len()
                ),
                out,
            );
            self.count_inner_skipped(self.inner.len() as u64, core);
            self.inner.clear();
        }
        let mut owned = std::mem::take(&mut self.inner);
        let data: &[u8] = if owned.is_empty() {
            p
        } else {
            owned.extend_from_slice(p);
            &owned
        };
        let mut at = 0;
        let mut first = true;
        while data.len() - at >= HEADER_LEN {
            let rest = &data[at..];
            let Some(h) = Header::parse(rest) else { break };
            if !h.plausible(self.dir, core.cfg.max_frame_claim) {
                core.anomaly(
                    self.dir,
                    self.offset,
                    format!(
                        "expected a frame header inside a segment, found {}",
                        hex(&rest[..HEADER_LEN])
                    ),
                    out,
                );
                self.count_inner_skipped(rest.len() as u64, core);
                at = data.len();
                self.inner_lost = true;
                break;
            }
            let ts = if first && !owned.is_empty() {
                self.inner_ts
            } else {
                start
            };
            let total = h.frame_len();
            if total > core.cfg.max_frame as u64 {
                let have = rest.len() as u64;
                let end = (total.min(have)) as usize;
                let decoded = core.decode_prefix(self.dir, &h, &rest[HEADER_LEN..end]);
                if total <= have {
                    let s = Skipping {
                        header: h,
                        ts,
                        left: 0,
                        decoded,
                        shed: false,
                    };
                    core.oversize(self.dir, s, now, out);
                    at += total as usize;
                    first = false;
                    continue;
                }
                self.inner_skip = Some(Skipping {
                    header: h,
                    ts,
                    left: total - have,
                    decoded,
                    shed: false,
                });
                at = data.len();
                break;
            }
            if (rest.len() as u64) < total {
                break;
            }
            let total = total as usize;
            core.frame(self.dir, &h, &rest[HEADER_LEN..total], ts, now, out);
            at += total;
            first = false;
        }
        let keep_ts = if first && !owned.is_empty() {
            self.inner_ts
        } else {
            start
        };
        let rest = &data[at..];
        if !rest.is_empty() {
            if self_contained {
                core.anomaly(
                    self.dir,
                    self.offset,
                    format!(
                        "self-contained segment ends inside a frame ({} bytes left)",
                        rest.len()
                    ),
                    out,
                );
                self.count_inner_skipped(rest.len() as u64, core);
                owned.clear();
            } else {
                let v = rest.to_vec();
                owned.clear();
                owned.extend_from_slice(&v);
                self.inner_ts = keep_ts;
            }
        } else {
            owned.clear();
        }
        self.inner = owned;
    }
}

/// Bytes of an oversize candidate frame that must decode for it to be accepted as a boundary.
const PREFIX_CHECK: usize = 4096;

/// Does the start of an oversize frame's body decode as its opcode says?
fn prefix_decodes(h: &Header, body: &[u8], dir: Direction, lim: &parser::Limits) -> bool {
    if h.flags & flags::COMPRESSION != 0 && !frame::segmented(h.version) {
        return false;
    }
    match dir {
        Direction::ClientToServer => parser::request_prefix(h, body, lim).is_ok(),
        Direction::ServerToClient if h.opcode == Opcode::EVENT => {
            parser::event(h, body, lim).is_ok()
        }
        Direction::ServerToClient => parser::response(h, body, lim).is_ok(),
    }
}

/// Is there a frame or segment boundary at the start of `b`? See the module documentation.
fn candidate(
    b: &[u8],
    dir: Direction,
    framing: Framing,
    limit: u64,
    claim: u32,
    lim: &parser::Limits,
) -> Candidate {
    let frames = matches!(framing, Framing::Frames | Framing::Unknown);
    let kinds: &[Kind] = match framing {
        Framing::Segments(Some(Kind::Plain)) => &[Kind::Plain],
        Framing::Segments(Some(Kind::Lz4)) => &[Kind::Lz4],
        Framing::Segments(None) | Framing::Unknown => &[Kind::Plain, Kind::Lz4],
        Framing::Frames => &[],
    };
    let mut need_more = false;
    if frames {
        match Header::parse(b) {
            None => need_more = true,
            Some(h) if h.plausible(dir, claim) => {
                let total = h.frame_len();
                if total > limit {
                    // Too large to wait for the next header: its first bytes must decode.
                    let body = (total - HEADER_LEN as u64).min(PREFIX_CHECK as u64) as usize;
                    if b.len() < HEADER_LEN + body {
                        need_more = true;
                    } else if prefix_decodes(&h, &b[HEADER_LEN..HEADER_LEN + body], dir, lim) {
                        return Candidate::Yes(Framing::Frames);
                    }
                    return if need_more {
                        Candidate::NeedMore
                    } else {
                        Candidate::No
                    };
                }
                let total = total as usize;
                if b.len() == total {
                    return Candidate::Yes(Framing::Frames);
                }
                if b.len() < total + HEADER_LEN {
                    need_more = true;
                } else if Header::parse(&b[total..]).is_some_and(|n| n.plausible(dir, claim)) {
                    return Candidate::Yes(Framing::Frames);
                }
            }
            Some(_) => {}
        }
    }
    for &k in kinds {
        if !segment::padding_clear(b, k) {
            continue;
        }
        match segment::parse_header(b, k) {
            HeaderResult::Ok(h) => {
                let total = h.total_len();
                if b.len() < total {
                    need_more = true;
                    continue;
                }
                let hl = k.header_len() + 3;
                let want =
                    u32::from_le_bytes([b[total - 4], b[total - 3], b[total - 2], b[total - 1]]);
                if segment::crc32(&b[hl..hl + h.payload_len]) == want {
                    return Candidate::Yes(Framing::Segments(Some(k)));
                }
            }
            HeaderResult::NeedMore => need_more = true,
            HeaderResult::BadCrc => {}
        }
    }
    if need_more {
        Candidate::NeedMore
    } else {
        Candidate::No
    }
}

impl Core {
    fn put_pending(&mut self, stream: i16, mut p: Pending) {
        p.cost = p.compute_cost();
        self.pending_bytes += p.cost;
        self.order.push_back((p.seq, stream));
        if let Some(old) = self.pending.insert(stream, Box::new(p)) {
            self.pending_bytes = self.pending_bytes.saturating_sub(old.cost);
        }
        if self.order.len() > 2 * self.pending.len() + 64 {
            let pending = &self.pending;
            self.order
                .retain(|(seq, s)| pending.get(s).is_some_and(|p| p.seq == *seq));
        }
    }

    fn take_pending(&mut self, stream: i16) -> Option<Box<Pending>> {
        let p = self.pending.remove(&stream)?;
        self.pending_bytes = self.pending_bytes.saturating_sub(p.cost);
        self.trim_order();
        Some(p)
    }

    /// Drop answered entries from the front of `order`.
    fn trim_order(&mut self) {
        while let Some(&(seq, s)) = self.order.front() {
            if self.pending.get(&s).is_some_and(|p| p.seq == seq) {
                break;
            }
            self.order.pop_front();
        }
    }

    /// The oldest request still waiting.
    fn oldest(&self) -> Option<(i16, &Pending)> {
        let &(seq, s) = self.order.front()?;
        self.pending
            .get(&s)
            .filter(|p| p.seq == seq)
            .map(|b| (s, &**b))
    }

    fn state_bytes(&self) -> usize {
        self.pending_bytes
            + self.pending.capacity() * (std::mem::size_of::<(i16, Box<Pending>)>() + 1)
            + self.order.capacity() * std::mem::size_of::<(u64, i16)>()
            + self.lost.capacity() * (std::mem::size_of::<(i16, Lost)>() + 1)
    }

    /// Report the request on `stream` now as `no_response` with `note`; a marker stays so
    /// that a late reply on that stream is counted, not reported as `no_request`.
    fn report_early(
        &mut self,
        stream: i16,
        note: Note,
        why: &'static str,
        now: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let Some(mut p) = self.take_pending(stream) else {
            return;
        };
        push_note(&mut p.notes, note);
        let ts = p.ts;
        self.finish(*p, None, out);
        if self.lost.len() >= self.cfg.max_pending {
            if let Some(&k) = self
                .lost
                .iter()
                .min_by_key(|(k, l)| (l.ts, **k))
                .map(|(k, _)| k)
            {
                self.lost.remove(&k);
                self.lost_dropped += 1;
            }
        }
        self.lost.insert(
            stream,
            Lost {
                ts,
                reported: now,
                why,
            },
        );
    }

    fn late_reply(&mut self, l: Lost, h: &Header, now: Timestamp, out: &mut dyn EventSink) {
        let waited = now.saturating_since(l.ts).as_micros();
        self.late_replies += 1;
        self.late_max_us = self.late_max_us.max(waited);
        if out.detail() == Detail::Full {
            out.message(&Message {
                ts: now,
                protocol: PROTOCOL,
                connection: self.conn.id,
                direction: Direction::ServerToClient,
                kind: "late_reply",
                summary: format!(
                    "{} on stream {} after {waited} us; the request was reported no_response ({}) at {}",
                    h.opcode.name(),
                    h.stream,
                    l.why,
                    l.reported
                ),
                detail: (),
            });
        }
    }

    /// Report the oldest requests early until the state is within `limit`; with `zero` (the
    /// engine's `shed(0)`), the markers too. `limit` is what the partial frames leave, so it
    /// may be 0 when the engine's limit is not: markers then stay (the engine asks again).
    fn shed(&mut self, limit: usize, zero: bool, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        while self.state_bytes() > limit {
            let Some(stream) = self.oldest().map(|(s, _)| s) else {
                break;
            };
            self.shed_requests += 1;
            n += 1;
            self.report_early(
                stream,
                Note::Shed {
                    budget: "connection",
                },
                "shed",
                ts,
                out,
            );
        }
        if self.state_bytes() > limit {
            // Spare capacity.
            self.pending.shrink_to_fit();
            self.trim_order();
            self.order.shrink_to_fit();
            self.lost.shrink_to_fit();
        }
        if zero && self.state_bytes() > limit && !self.lost.is_empty() {
            // Markers only as the last resort (the engine's `shed(0)` before it stops
            // dissecting the connection): later replies on those streams become `no_request`.
            n += self.lost.len() as u64;
            self.lost_dropped += self.lost.len() as u64;
            self.lost = StreamMap::default();
        }
        n
    }

    fn anomaly(&self, dir: Direction, offset: u64, reason: String, out: &mut dyn EventSink) {
        out.anomaly(&ParseAnomaly {
            ts: self.ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            offset: Some(offset),
            reason,
        });
    }

    fn reply_skipped(&mut self, n: u64) {
        for p in self.pending.values_mut() {
            p.reply_skipped = p.reply_skipped.saturating_add(n);
        }
    }

    fn take_resync(&mut self, dir: Direction, notes: &mut Vec<Note>) {
        if let Some(n) = self.resync[dir.index()].take() {
            push_note(
                notes,
                Note::Resync {
                    direction: dir,
                    skipped_bytes: n,
                },
            );
        }
    }

    /// Decompress a v3/v4 body if flagged.
    fn body<'a>(
        &mut self,
        dir: Direction,
        h: &Header,
        body: &'a [u8],
        out: &mut dyn EventSink,
    ) -> Option<std::borrow::Cow<'a, [u8]>> {
        if h.flags & flags::COMPRESSION == 0 || frame::segmented(h.version) {
            return Some(std::borrow::Cow::Borrowed(body));
        }
        let limit = self.cfg.max_decompressed;
        let known = match self.compression {
            Compression::None => self.guessed,
            c => Some(c),
        };
        let tries: &[Compression] = match known {
            Some(Compression::Lz4) => &[Compression::Lz4],
            Some(Compression::Snappy) => &[Compression::Snappy],
            _ => &[Compression::Lz4, Compression::Snappy],
        };
        let mut last = None;
        for &c in tries {
            match compress::frame_body(c, body, limit) {
                Ok(v) => {
                    if known.is_none() {
                        self.guessed = Some(c);
                    }
                    return Some(std::borrow::Cow::Owned(v));
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            self.anomaly(
                dir,
                0,
                format!(
                    "{} stream {}: body not decompressed: {e}",
                    h.opcode.name(),
                    h.stream
                ),
                out,
            );
        }
        None
    }

    /// One complete frame.
    fn frame(
        &mut self,
        dir: Direction,
        h: &Header,
        raw: &[u8],
        start: Timestamp,
        now: Timestamp,
        out: &mut dyn EventSink,
    ) -> After {
        let wire = h.frame_len();
        self.version = self.version.max(Some(h.version));
        let lim = if out.detail() == Detail::Summary {
            self.cfg.limits.summary()
        } else {
            self.cfg.limits
        };
        let body = self.body(dir, h, raw, out);
        match dir {
            Direction::ClientToServer => {
                let req = match body.as_deref().map(|b| parser::request(h, b, &lim)) {
                    Some(Ok(r)) => Some(r),
                    Some(Err(e)) => {
                        self.anomaly(
                            dir,
                            0,
                            format!("{} stream {}: {e}", h.opcode.name(), h.stream),
                            out,
                        );
                        None
                    }
                    None => None,
                };
                let after = match &req {
                    Some(r) if h.opcode == Opcode::STARTUP => {
                        self.startup = true;
                        if let Some(c) = &r.compression {
                            self.compression = Compression::from_option(c);
                        }
                        if frame::segmented(h.version) {
                            After::Segments(Some(self.segment_kind()))
                        } else {
                            After::Nothing
                        }
                    }
                    _ => After::Nothing,
                };
                self.request(h, req, start, wire, out);
                after
            }
            Direction::ServerToClient => {
                if h.opcode == Opcode::EVENT {
                    self.event(h, body.as_deref(), start, out);
                    return After::Nothing;
                }
                let resp = match body.as_deref().map(|b| parser::response(h, b, &lim)) {
                    Some(Ok(r)) => Some(r),
                    Some(Err(e)) => {
                        self.anomaly(
                            dir,
                            0,
                            format!("{} stream {}: {e}", h.opcode.name(), h.stream),
                            out,
                        );
                        None
                    }
                    None => None,
                };
                self.response(h, resp, start, now, wire, out);
                if frame::segmented(h.version)
                    && matches!(h.opcode, Opcode::READY | Opcode::AUTHENTICATE)
                {
                    let k = if self.startup_seen() {
                        Some(self.segment_kind())
                    } else {
                        None
                    };
                    return After::Segments(k);
                }
                After::Nothing
            }
        }
    }

    fn startup_seen(&self) -> bool {
        self.compression != Compression::None
            || self.pending.values().any(|p| p.opcode == Opcode::STARTUP)
            || self.seq > 0
    }

    fn segment_kind(&self) -> Kind {
        if self.compression == Compression::Lz4 {
            Kind::Lz4
        } else {
            Kind::Plain
        }
    }

    fn request(
        &mut self,
        h: &Header,
        req: Option<parser::Request>,
        ts: Timestamp,
        wire: u64,
        out: &mut dyn EventSink,
    ) {
        let mut notes = Vec::new();
        self.take_resync(Direction::ClientToServer, &mut notes);
        let (mut detail, query, query_len) = match req {
            Some(r) => (r.detail, r.query, r.query_len),
            None => {
                push_note(
                    &mut notes,
                    Note::Text {
                        text: "request body not decoded".into(),
                    },
                );
                (
                    CqlRequest {
                        stream: h.stream,
                        version: h.version,
                        ..Default::default()
                    },
                    None,
                    0,
                )
            }
        };
        if query_len > self.cfg.limits.max_query {
            push_note(
                &mut notes,
                Note::Truncated {
                    field: "query",
                    len: query_len as u64,
                },
            );
        }
        let mut prepare_text = None;
        let query = match h.opcode {
            Opcode::QUERY => {
                let q = query.unwrap_or_default();
                if let Some(ks) = use_keyspace(&q) {
                    self.keyspace = Some(ks);
                }
                q
            }
            Opcode::PREPARE => {
                prepare_text = query.clone();
                let q = query.unwrap_or_default();
                if query_len <= self.cfg.limits.max_query {
                    let ks = detail.keyspace.clone().or_else(|| self.keyspace.clone());
                    self.predict_ids(&q, ks.as_deref());
                }
                q
            }
            Opcode::EXECUTE => {
                let id = detail.prepared_id.clone().unwrap_or_default();
                match self.lookup(&id) {
                    Some(q) => q,
                    None => {
                        push_note(
                            &mut notes,
                            Note::Text {
                                text: format!(
                                    "prepared id {id} was not PREPAREd earlier in this capture"
                                ),
                            },
                        );
                        String::new()
                    }
                }
            }
            Opcode::BATCH => {
                let mut texts = Vec::new();
                let mut unknown = 0;
                if let Some(b) = detail.batch.as_mut() {
                    for m in &mut b.members {
                        if let Some(id) = &m.prepared_id {
                            m.query = self.lookup(id);
                            if m.query.is_none() {
                                unknown += 1;
                            }
                        }
                        if let Some(q) = &m.query {
                            texts.push(q.clone());
                        }
                    }
                }
                if unknown > 0 {
                    push_note(&mut notes, Note::Text {
                        text: format!("{unknown} prepared batch member(s) not PREPAREd earlier in this capture"),
                    });
                }
                let mut q = texts.join("; ");
                if q.len() > self.cfg.limits.max_query {
                    q = parser::text(q.as_bytes(), self.cfg.limits.max_query);
                }
                q
            }
            _ => query.unwrap_or_default(),
        };
        if detail.keyspace.is_none()
            && matches!(
                h.opcode,
                Opcode::QUERY | Opcode::PREPARE | Opcode::EXECUTE | Opcode::BATCH
            )
        {
            detail.keyspace = self.keyspace.clone();
        }
        let p = Pending {
            seq: self.seq,
            ts,
            opcode: h.opcode,
            detail,
            query,
            prepare_text,
            bytes: wire,
            notes,
            reply_gap: None,
            reply_skipped: 0,
            cost: 0,
        };
        self.seq += 1;
        if let Some(mut old) = self.take_pending(h.stream) {
            if self.server_seen && !self.server_gap && old.reply_gap.is_none() {
                self.anomaly(
                    Direction::ClientToServer,
                    0,
                    format!(
                        "new {} on stream {} while {} (sent {} µs earlier) is still outstanding",
                        h.opcode.name(),
                        h.stream,
                        old.opcode.name(),
                        ts.saturating_since(old.ts).as_micros()
                    ),
                    out,
                );
            }
            push_note(
                &mut old.notes,
                Note::Text {
                    text: format!(
                        "stream {} reused by a later request before a reply",
                        h.stream
                    ),
                },
            );
            self.finish(*old, None, out);
        }
        if self.pending.len() >= self.cfg.max_pending {
            // The oldest by arrival (O(1): the arrival-order queue).
            // A marker stays, as for a shed request: its reply is counted, not `no_request`.
            if let Some(k) = self.oldest().map(|(k, _)| k) {
                let note = Note::Text {
                    text: format!(
                        "pending-request budget ({}) reached: reported before its reply",
                        self.cfg.max_pending
                    ),
                };
                self.report_early(k, note, "budget", ts, out);
            }
        }
        if self.lost.remove(&h.stream).is_some() {
            // The stream is reused: the reported request's reply will not be told apart.
            self.lost_dropped += 1;
        }
        self.put_pending(h.stream, p);
    }

    /// Remember the ids Cassandra gives a statement (MD5 of the client's keyspace followed by
    /// the text, and of the text alone), so that an EXECUTE finds its text even when the
    /// PREPARE's reply was not captured (client-only capture, server-side loss). ScyllaDB
    /// computes ids differently: there only the reply's id is known.
    fn predict_ids(&mut self, q: &str, ks: Option<&str>) {
        use md5::{Digest, Md5};
        let Ok(mut c) = self.cache.lock() else {
            return;
        };
        if let Some(ks) = ks {
            let mut h = Md5::new();
            h.update(ks.as_bytes());
            h.update(q.as_bytes());
            c.insert(hex(&h.finalize()), q.to_string());
        }
        c.insert(hex(&Md5::digest(q.as_bytes())), q.to_string());
    }

    fn lookup(&self, id: &str) -> Option<String> {
        self.cache.lock().ok()?.get(id)
    }

    fn response(
        &mut self,
        h: &Header,
        resp: Option<parser::Response>,
        start: Timestamp,
        now: Timestamp,
        wire: u64,
        out: &mut dyn EventSink,
    ) {
        let mut notes = Vec::new();
        self.take_resync(Direction::ServerToClient, &mut notes);
        let resp = resp.unwrap_or_else(|| {
            push_note(
                &mut notes,
                Note::Text {
                    text: "response body not decoded".into(),
                },
            );
            parser::Response {
                detail: CqlResponse {
                    stream: h.stream,
                    opcode: Some(h.opcode.name()),
                    ..Default::default()
                },
                error_message: None,
            }
        });
        if let Some("set_keyspace") = resp.detail.kind {
            self.keyspace = resp.detail.keyspace.clone();
        }
        match self.take_pending(h.stream) {
            Some(mut p) => {
                for n in notes {
                    push_note(&mut p.notes, n);
                }
                if let (Some(text), Some(id)) = (&p.prepare_text, &resp.detail.prepared_id) {
                    if let Ok(mut c) = self.cache.lock() {
                        c.insert(id.clone(), text.clone());
                    }
                }
                self.finish(*p, Some((h, resp, now, wire)), out);
            }
            None if self.lost.contains_key(&h.stream) => {
                let l = self.lost.remove(&h.stream).expect("present");
                self.late_reply(l, h, now, out);
            }
            None => {
                let mut tx = Transaction::new(PROTOCOL, &self.conn, start, CqlDetail::default());
                tx.command = match (h.opcode, resp.detail.kind) {
                    (Opcode::RESULT, Some("prepared")) => "PREPARE".into(),
                    (o, _) => o.name().into(),
                };
                tx.status = Status::NoRequest;
                if h.opcode == Opcode::ERROR {
                    tx.error = Some(error_text(&resp));
                }
                tx.response_bytes = wire;
                tx.end_ts = now.max(start);
                tx.notes = notes;
                if let Some(bytes) = self.client_gap {
                    tx.add_note(Note::Gap {
                        direction: Direction::ClientToServer,
                        bytes,
                    });
                }
                tx.add_note(Note::Text {
                    text: format!("no request on stream {} was seen", h.stream),
                });
                if out.detail() == Detail::Full {
                    tx.detail.response = Some(resp.detail);
                }
                out.transaction(&mut tx);
            }
        }
    }

    fn event(&mut self, h: &Header, body: Option<&[u8]>, ts: Timestamp, out: &mut dyn EventSink) {
        let ev = match body.map(|b| parser::event(h, b, &self.cfg.limits)) {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                self.anomaly(Direction::ServerToClient, 0, format!("EVENT: {e}"), out);
                return;
            }
            None => return,
        };
        if out.detail() == Detail::Summary {
            return;
        }
        let mut summary = ev.event.clone();
        if let Some(c) = &ev.change {
            summary.push(' ');
            summary.push_str(c);
        }
        if let Some(a) = &ev.address {
            summary.push(' ');
            summary.push_str(a);
        }
        if let Some(sc) = &ev.schema_change {
            summary.push_str(&format!(" {} {} {}", sc.change, sc.target, sc.keyspace));
            if let Some(n) = &sc.name {
                summary.push('.');
                summary.push_str(n);
            }
        }
        out.message(&Message {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: Direction::ServerToClient,
            kind: "event",
            summary,
            detail: ev,
        });
    }

    /// What the first bytes of an oversize frame say (not for compressed v3/v4 bodies).
    fn decode_prefix(&self, dir: Direction, h: &Header, prefix: &[u8]) -> Option<Decoded> {
        if h.flags & flags::COMPRESSION != 0 && !frame::segmented(h.version) {
            return None;
        }
        let lim = &self.cfg.limits;
        match dir {
            Direction::ClientToServer => parser::request_prefix(h, prefix, lim)
                .ok()
                .map(|r| Decoded::Request(Box::new(r))),
            Direction::ServerToClient if h.opcode == Opcode::EVENT => None,
            Direction::ServerToClient => parser::response(h, prefix, lim)
                .ok()
                .map(|r| Decoded::Response(Box::new(r))),
        }
    }

    /// A frame too large to buffer (or whose held bytes were shed), skipped to its end:
    /// paired by stream, reported with its size and what its first bytes said.
    fn oversize(&mut self, dir: Direction, s: Skipping, now: Timestamp, out: &mut dyn EventSink) {
        let Skipping {
            header,
            ts: start,
            decoded,
            shed,
            ..
        } = s;
        let h = &header;
        let note = Note::Truncated {
            field: "frame",
            len: h.frame_len(),
        };
        let shed_note = shed.then(|| Note::Text {
            text: "its bytes were shed (session budget) before it was complete: decoded from the first ones only".into(),
        });
        match (dir, decoded) {
            (Direction::ClientToServer, d) => {
                let req = match d {
                    Some(Decoded::Request(r)) => Some(*r),
                    _ => None,
                };
                let undecoded = req.is_none();
                self.request(h, req, start, h.frame_len(), out);
                if let Some(p) = self.pending.get_mut(&h.stream) {
                    if undecoded {
                        p.notes.retain(|n| !matches!(n, Note::Text { .. }));
                    }
                    push_note(&mut p.notes, note);
                    if let Some(n) = shed_note {
                        push_note(&mut p.notes, n);
                    }
                }
            }
            (Direction::ServerToClient, _) if h.opcode == Opcode::EVENT => {}
            (Direction::ServerToClient, d) => {
                if let Some(p) = self.pending.get_mut(&h.stream) {
                    push_note(&mut p.notes, note);
                }
                let resp = match d {
                    Some(Decoded::Response(r)) => *r,
                    _ => parser::Response {
                        detail: CqlResponse {
                            stream: h.stream,
                            opcode: Some(h.opcode.name()),
                            ..Default::default()
                        },
                        error_message: None,
                    },
                };
                self.response(h, Some(resp), start, now, h.frame_len(), out);
            }
        }
    }

    /// Emit a request with its reply (or none).
    fn finish(
        &mut self,
        p: Pending,
        reply: Option<(&Header, parser::Response, Timestamp, u64)>,
        out: &mut dyn EventSink,
    ) {
        let mut tx = Transaction::new(PROTOCOL, &self.conn, p.ts, CqlDetail::default());
        tx.command = p.opcode.name().into();
        tx.request_bytes = p.bytes;
        tx.notes = p.notes;
        let full = out.detail() == Detail::Full;
        if !p.query.is_empty()
            && matches!(
                p.opcode,
                Opcode::QUERY | Opcode::PREPARE | Opcode::EXECUTE | Opcode::BATCH
            )
        {
            tx.fingerprint = Some(wiresift_core::fingerprint(&p.query));
        }
        tx.query = p.query;
        if full {
            tx.detail.request = Some(p.detail);
        }
        match reply {
            Some((h, resp, end, wire)) => {
                tx.complete_at(end);
                tx.response_bytes = wire;
                tx.status = if h.opcode == Opcode::ERROR {
                    tx.error = Some(error_text(&resp));
                    Status::Error
                } else {
                    Status::Ok
                };
                if full {
                    tx.detail.response = Some(resp.detail);
                }
            }
            None => {
                tx.status = Status::NoResponse;
                if let Some(bytes) = p.reply_gap {
                    tx.add_note(Note::Gap {
                        direction: Direction::ServerToClient,
                        bytes: (bytes > 0).then_some(bytes),
                    });
                }
                if p.reply_skipped > 0 {
                    tx.add_note(Note::Resync {
                        direction: Direction::ServerToClient,
                        skipped_bytes: p.reply_skipped,
                    });
                }
            }
        }
        if tx.notes.len() > self.cfg.max_notes {
            // A tighter bound than the core's: the rest are counted, not dropped silently.
            let dropped: u64 = tx.notes[self.cfg.max_notes..]
                .iter()
                .map(|n| match n {
                    Note::NotesDropped { count } => *count,
                    _ => 1,
                })
                .sum();
            tx.notes.truncate(self.cfg.max_notes);
            tx.notes.push(Note::NotesDropped { count: dropped });
        }
        out.transaction(&mut tx);
    }
}

/// The keyspace of a `USE ks` / `USE "Ks"` statement.
pub(crate) fn use_keyspace(q: &str) -> Option<String> {
    let t = q.trim_start();
    if !t.as_bytes().get(..4)?.eq_ignore_ascii_case(b"use ") {
        return None;
    }
    let ks = t.get(4..)?.trim().trim_end_matches(';').trim();
    if let Some(quoted) = ks.strip_prefix('"') {
        return Some(quoted.strip_suffix('"')?.replace("\"\"", "\""));
    }
    let ks = ks.split_whitespace().next()?;
    Some(ks.to_ascii_lowercase())
}

fn error_text(r: &parser::Response) -> String {
    let name = r.detail.error_name.unwrap_or("error");
    match &r.error_message {
        Some(m) => format!("{name}: {m}"),
        None => name.to_string(),
    }
}
