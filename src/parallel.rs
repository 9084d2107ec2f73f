//! The flow-sharded multi-threaded engine: [`Engine::run_threads`](crate::engine::Engine).
//!
//! ```text
//!              ┌──────────── reader thread (the caller's) ────────────┐
//! capture ─▶ read ─▶ decode + IP defragment ─▶ shard by 4-tuple ─▶ batches ──▶ worker 0..N
//!                                                                               │ reassembly
//!   write_ordered ◀── k-way merge by (frame, phase, key) ◀── ordered bytes + marks ◀┘ sessions
//! ```
//!
//! - The reader decodes every packet (IP fragments are reassembled before sharding) and sends
//!   each TCP segment to the worker its connection hashes to (both directions hash alike), in
//!   batches. Every worker also receives the timestamps of all segments of the batch, so that
//!   its capture clock, and with it every idle and hole timeout, advances exactly as a single
//!   reassembler's would.
//! - Each worker owns a [`Reassembler`], a [`Dispatcher`] (plugin sessions) and a shard of the
//!   output. What the shard writes in order is cut into spans tagged with the cause that
//!   produced them: the frame index of the segment, or a timed cause (idle timeout of the
//!   connection last active at frame F, hole timeout, end of capture). A single reassembler
//!   acts in exactly that order (see [`TimedCause`]), so merging the spans of all workers by
//!   tag reproduces the single-threaded output byte for byte.
//! - Backpressure: the channels are bounded (two batches in flight per worker); a slow worker
//!   stops the reader, memory does not grow.
//! - Plugins that keep state across connections ([`Registry::pinned_ports`]) have all their
//!   connections on worker 0, so that state sees every connection in capture order.
//!
//! Budgets are per worker: the connection table, reassembly buffers and probe budgets of
//! [`EngineConfig`] are divided by the number of workers (rounded up), so the process stays
//! within the configured totals. Output is identical to one thread whenever no worker reaches
//! its share; when one does, the eviction or skipped hole happens in that worker only (and is
//! counted in the summary as usual), so the results can differ from one thread's.

use crate::engine::{Dispatcher, DissectStats, EngineConfig, RunSummary};
use crate::output::{ParallelOutput, ShardOutput};
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use wiresift_core::{Endpoint, Registry, Timestamp};
use wiresift_net::{CaptureError, Decoder, PacketSource, TcpFlags, TcpSegment};
use wiresift_reassembly::{
    Reassembler, ReassemblyStats, RoleHint, StreamEvent, StreamSink, TimedCause,
};

/// Segments per batch sent to the workers (at most).
const BATCH_SEGMENTS: usize = 2048;
/// Payload bytes per batch (at most, give or take one segment): with [`IN_FLIGHT`], this bounds
/// what the reader can be ahead of the slowest worker.
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per worker (each direction).
const IN_FLIGHT: usize = 2;

/// Where a span of ordered output comes in the single-threaded order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Tag {
    /// Frame index of the segment whose arrival caused it (`u64::MAX`: end of capture).
    frame: u64,
    /// 0: idle timeout, 1: hole timeout, 2: request timer, 3: the segment itself, 4: end of
    /// capture.
    phase: u8,
    a: u64,
    b: u64,
    c: u8,
}

impl Tag {
    fn segment(frame: u64) -> Tag {
        Tag {
            frame,
            phase: 3,
            a: 0,
            b: 0,
            c: 0,
        }
    }
    fn timed(frame: u64, cause: TimedCause) -> Tag {
        match cause {
            TimedCause::Idle { last_frame } => Tag {
                frame,
                phase: 0,
                a: last_frame,
                b: 0,
                c: 0,
            },
            TimedCause::Hole { since, conn, dir } => Tag {
                frame,
                phase: 1,
                a: since.0,
                b: conn.0,
                c: dir,
            },
            TimedCause::Finish { conn } => Tag {
                frame: u64::MAX,
                phase: 4,
                a: conn.0,
                b: 0,
                c: 0,
            },
        }
    }
}

impl Tag {
    /// A request timer of connection `conn` due at `deadline`, run when the segment `frame`
    /// moved the clock (timers run in (deadline, connection) order, after idle and hole
    /// timeouts).
    fn timer(frame: u64, deadline: Timestamp, conn: wiresift_core::ConnectionId) -> Tag {
        Tag {
            frame,
            phase: 2,
            a: deadline.0,
            b: conn.0,
            c: 0,
        }
    }
}

/// A segment copied out of the reader's buffers; its payload is a range of the batch's bytes.
#[derive(Debug, Clone, Copy)]
struct SegRec {
    frame: u64,
    ts: Timestamp,
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    start: usize,
    len: usize,
    payload_len: u32,
}

/// One worker's part of a batch.
struct Batch {
    /// Every segment of the batch in capture order: (frame, timestamp, worker).
    all: Arc<Vec<(u64, Timestamp, u16)>>,
    /// This worker's segments, in capture order.
    segs: Vec<SegRec>,
    payload: Vec<u8>,
    /// An emptied output buffer of an earlier batch, to write into (no fresh allocation).
    spare: Vec<u8>,
}

/// A worker's ordered output for one batch: bytes, and the end offset of each tagged span.
#[derive(Default)]
struct Spans {
    bytes: Vec<u8>,
    marks: Vec<(Tag, usize)>,
}

enum ToWorker {
    Batch(Batch),
    Finish,
}

enum FromWorker<S> {
    /// The batch's output, and its emptied segment buffers for the reader to reuse.
    Batch(Spans, Vec<SegRec>, Vec<u8>),
    Done(Spans, Box<(ReassemblyStats, DissectStats)>, S),
}

/// Cuts a shard's ordered output into tagged spans.
struct Marks {
    cur: Tag,
    start: usize,
    marks: Vec<(Tag, usize)>,
}

impl Marks {
    /// The bytes written since the last cut belong to `cur`; what follows to `next`.
    fn cut(&mut self, len: usize, next: Tag) {
        if len > self.start {
            self.marks.push((self.cur, len));
            self.start = len;
        }
        self.cur = next;
    }
    fn take(&mut self, buf: &mut Vec<u8>) -> Spans {
        let cur = self.cur;
        self.cut(buf.len(), cur);
        self.start = 0;
        Spans {
            bytes: std::mem::take(buf),
            marks: std::mem::take(&mut self.marks),
        }
    }
}

/// The reassembler's sink inside a worker: the dispatcher, plus span cutting on timed causes.
struct WorkerSink<'a, S: ShardOutput> {
    disp: &'a mut Dispatcher<S>,
    marks: &'a mut Marks,
    frame: u64,
}

impl<S: ShardOutput> StreamSink for WorkerSink<'_, S> {
    fn on_event(&mut self, ev: StreamEvent<'_>) {
        self.disp.on_event(ev);
    }
    fn classify(&mut self, seg: &TcpSegment<'_>) -> RoleHint {
        self.disp.classify(seg)
    }
    fn on_timed(&mut self, cause: TimedCause) {
        let len = self.disp.ctx.out.ordered().len();
        self.marks.cut(len, Tag::timed(self.frame, cause));
    }
    fn on_clock(&mut self, now: Timestamp) {
        let (marks, frame) = (&mut *self.marks, self.frame);
        self.disp.fire_timers(now, |out, deadline, conn| {
            let len = out.ordered().len();
            marks.cut(len, Tag::timer(frame, deadline, conn));
        });
    }
}

fn worker<S: ShardOutput>(
    me: u16,
    rx: Receiver<ToWorker>,
    tx: SyncSender<FromWorker<S>>,
    mut reasm: Reassembler,
    mut disp: Dispatcher<S>,
) {
    let mut marks = Marks {
        cur: Tag::segment(0),
        start: 0,
        marks: Vec::new(),
    };
    for msg in rx {
        match msg {
            ToWorker::Batch(mut b) => {
                let mut own = b.segs.iter();
                for &(frame, ts, w) in b.all.iter() {
                    let mut sink = WorkerSink {
                        disp: &mut disp,
                        marks: &mut marks,
                        frame,
                    };
                    // Timeouts due at this segment's time fire first, in every worker.
                    reasm.advance_time(ts, &mut sink);
                    if w != me {
                        continue;
                    }
                    let Some(r) = own.next() else { break };
                    debug_assert_eq!(r.frame, frame);
                    let len = sink.disp.ctx.out.ordered().len();
                    sink.marks.cut(len, Tag::segment(frame));
                    let seg = TcpSegment {
                        ts: r.ts,
                        src: r.src,
                        dst: r.dst,
                        seq: r.seq,
                        ack: r.ack,
                        flags: r.flags,
                        window: r.window,
                        payload: &b.payload[r.start..r.start + r.len],
                        payload_len: r.payload_len,
                    };
                    reasm.process_frame(&seg, frame, &mut sink);
                }
                let spans = marks.take(disp.ctx.out.ordered());
                b.spare.clear();
                *disp.ctx.out.ordered() = b.spare;
                b.segs.clear();
                b.payload.clear();
                if tx
                    .send(FromWorker::Batch(spans, b.segs, b.payload))
                    .is_err()
                {
                    return;
                }
            }
            ToWorker::Finish => {
                let mut sink = WorkerSink {
                    disp: &mut disp,
                    marks: &mut marks,
                    frame: u64::MAX,
                };
                reasm.finish(&mut sink);
                let spans = marks.take(disp.ctx.out.ordered());
                let stats = Box::new((reasm.stats().clone(), disp.ctx.stats.clone()));
                let Dispatcher { ctx, .. } = disp;
                let _ = tx.send(FromWorker::Done(spans, stats, ctx.out));
                return;
            }
        }
    }
}

/// Merge the workers' spans of one batch in tag order and write them out.
fn merge<O: ParallelOutput>(parts: &[Spans], out: &mut O) {
    let mut pos = vec![0usize; parts.len()];
    let mut off = vec![0usize; parts.len()];
    loop {
        let mut best: Option<(Tag, usize)> = None;
        for (w, p) in parts.iter().enumerate() {
            if let Some(&(tag, _)) = p.marks.get(pos[w]) {
                if best.is_none_or(|(t, _)| tag < t) {
                    best = Some((tag, w));
                }
            }
        }
        let Some((_, w)) = best else { return };
        let end = parts[w].marks[pos[w]].1;
        out.write_ordered(&parts[w].bytes[off[w]..end]);
        off[w] = end;
        pos[w] += 1;
    }
}

/// Which worker a segment's connection belongs to: the same for both directions.
fn shard_of(src: &Endpoint, dst: &Endpoint, pinned: &[u16], n: usize) -> u16 {
    if pinned.contains(&src.port()) || pinned.contains(&dst.port()) {
        return 0;
    }
    let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
    let mut h = FxHasher::default();
    a.hash(&mut h);
    b.hash(&mut h);
    // FxHash's low bits are weak: fold the high half in.
    let v = h.finish();
    ((v ^ (v >> 32)) % n as u64) as u16
}

/// Divide the budgets of `cfg` between `n` workers (rounding up).
fn per_worker(cfg: &EngineConfig, n: usize) -> EngineConfig {
    let mut c = cfg.clone();
    let div = |x: usize| x.div_ceil(n).max(1);
    c.reassembly.max_connections = div(c.reassembly.max_connections);
    c.reassembly.max_total_buffer_bytes = div(c.reassembly.max_total_buffer_bytes);
    c.session_budget.global = div(c.session_budget.global);
    c
}

/// Run `source` through `threads` workers into `out`; see the module documentation.
pub(crate) fn run<O: ParallelOutput, R: PacketSource + ?Sized>(
    cfg: &EngineConfig,
    registry: &Registry,
    out: &mut O,
    threads: usize,
    source: &mut R,
    progress: &mut dyn FnMut(u64),
) -> (RunSummary, Result<(), CaptureError>) {
    let n = threads.clamp(1, u16::MAX as usize);
    let wcfg = per_worker(cfg, n);
    let pinned = registry.pinned_ports();
    let mut decoder = Decoder::new(cfg.decoder.clone());
    let mut reassembly = ReassemblyStats::default();
    let mut dissect = DissectStats::default();
    let mut result = Ok(());
    std::thread::scope(|scope| {
        let mut to = Vec::with_capacity(n);
        let mut from = Vec::with_capacity(n);
        for me in 0..n {
            let (tx_b, rx_b) = sync_channel::<ToWorker>(IN_FLIGHT);
            let (tx_r, rx_r) = sync_channel::<FromWorker<O::Shard>>(IN_FLIGHT);
            let mut rcfg = wcfg.reassembly.clone();
            rcfg.server_ports.extend(registry.server_ports());
            rcfg.server_ports.sort_unstable();
            rcfg.server_ports.dedup();
            let reasm = Reassembler::new(rcfg);
            let disp = Dispatcher::new(registry.clone(), out.new_shard(), &wcfg);
            scope.spawn(move || worker(me as u16, rx_b, tx_r, reasm, disp));
            to.push(tx_b);
            from.push(rx_r);
        }
        let mut frame: u64 = 0;
        let mut in_flight = 0usize;
        let mut done = false;
        // Buffers coming back from the workers, reused for later batches.
        let mut free: Vec<Vec<(Vec<SegRec>, Vec<u8>)>> = (0..n).map(|_| Vec::new()).collect();
        let mut spare: Vec<Vec<Vec<u8>>> = (0..n).map(|_| Vec::new()).collect();
        while !done {
            // Read one batch.
            let mut all = Vec::with_capacity(BATCH_SEGMENTS);
            let mut parts: Vec<(Vec<SegRec>, Vec<u8>)> = free
                .iter_mut()
                .map(|f| f.pop().unwrap_or_default())
                .collect();
            let mut bytes = 0usize;
            while all.len() < BATCH_SEGMENTS && bytes < BATCH_BYTES {
                match source.next_packet() {
                    Ok(Some(pkt)) => {
                        frame += 1;
                        if let Some(seg) = decoder.decode(&pkt) {
                            let w = shard_of(&seg.src, &seg.dst, &pinned, n);
                            let (segs, payload) = &mut parts[w as usize];
                            let start = payload.len();
                            payload.extend_from_slice(seg.payload);
                            bytes += seg.payload.len();
                            segs.push(SegRec {
                                frame,
                                ts: seg.ts,
                                src: seg.src,
                                dst: seg.dst,
                                seq: seg.seq,
                                ack: seg.ack,
                                flags: seg.flags,
                                window: seg.window,
                                start,
                                len: seg.payload.len(),
                                payload_len: seg.payload_len,
                            });
                            all.push((frame, seg.ts, w));
                        }
                    }
                    Ok(None) => {
                        done = true;
                        break;
                    }
                    Err(e) => {
                        result = Err(e);
                        done = true;
                        break;
                    }
                }
            }
            progress(source.bytes_read());
            if out.is_closed() {
                // Nobody reads the output any more (`| head`): stop reading.
                done = true;
            }
            if !all.is_empty() {
                let all = Arc::new(all);
                for (w, (segs, payload)) in parts.into_iter().enumerate() {
                    let b = Batch {
                        all: Arc::clone(&all),
                        segs,
                        payload,
                        spare: spare[w].pop().unwrap_or_default(),
                    };
                    // A worker that is gone (it panicked) shows up when its results are read.
                    let _ = to[w].send(ToWorker::Batch(b));
                }
                in_flight += 1;
            }
            // Keep at most IN_FLIGHT batches unmerged: merge the oldest.
            while in_flight >= IN_FLIGHT || (done && in_flight > 0) {
                let mut spans: Vec<Spans> = Vec::with_capacity(n);
                for (w, rx) in from.iter().enumerate() {
                    match rx.recv() {
                        Ok(FromWorker::Batch(s, segs, payload)) => {
                            spans.push(s);
                            free[w].push((segs, payload));
                        }
                        _ => panic!("wiresift: a worker thread stopped unexpectedly"),
                    }
                }
                merge(&spans, out);
                for (w, s) in spans.into_iter().enumerate() {
                    spare[w].push(s.bytes);
                }
                in_flight -= 1;
            }
        }
        decoder.finish();
        for tx in &to {
            let _ = tx.send(ToWorker::Finish);
        }
        let mut finals = Vec::with_capacity(n);
        let mut shards = Vec::with_capacity(n);
        for rx in &from {
            match rx.recv() {
                Ok(FromWorker::Done(spans, stats, shard)) => {
                    reassembly.merge(&stats.0);
                    dissect.merge(&stats.1);
                    finals.push(spans);
                    shards.push(shard);
                }
                _ => panic!("wiresift: a worker thread stopped unexpectedly"),
            }
        }
        merge(&finals, out);
        for s in shards {
            out.merge_shard(s);
        }
    });
    let summary = RunSummary {
        capture_bytes: source.bytes_read(),
        decode: decoder.stats().clone(),
        reassembly,
        dissect,
        capture_error: crate::engine::damage_report(
            result.as_ref().err().map(|e| e.to_string()),
            source.errors(),
        ),
    };
    (summary, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_hash_to_the_same_worker_and_pinned_ports_to_worker_0() {
        let a = Endpoint::new("10.0.0.1".parse().unwrap(), 40000);
        let b = Endpoint::new("10.0.0.2".parse().unwrap(), 6379);
        let mut seen = [0u32; 4];
        for p in 40000..40400u16 {
            let c = Endpoint::new(a.ip(), p);
            let w = shard_of(&c, &b, &[], 4);
            assert_eq!(w, shard_of(&b, &c, &[], 4));
            seen[w as usize] += 1;
            assert_eq!(shard_of(&c, &b, &[6379], 4), 0);
        }
        // Spread over all workers.
        assert!(seen.iter().all(|&k| k > 50), "{seen:?}");
    }

    #[test]
    fn spans_merge_in_tag_order() {
        struct Out(Vec<u8>);
        impl crate::Output for Out {}
        impl ParallelOutput for Out {
            type Shard = crate::output::DiscardShard;
            fn new_shard(&self) -> Self::Shard {
                Default::default()
            }
            fn write_ordered(&mut self, b: &[u8]) {
                self.0.extend_from_slice(b);
            }
        }
        let w0 = Spans {
            bytes: b"a1b3z".to_vec(),
            marks: vec![
                (Tag::segment(1), 2),
                (Tag::segment(3), 4),
                (
                    Tag::timed(
                        0,
                        TimedCause::Finish {
                            conn: wiresift_core::ConnectionId(1),
                        },
                    ),
                    5,
                ),
            ],
        };
        let w1 = Spans {
            bytes: b"i2c3".to_vec(),
            marks: vec![
                (Tag::timed(3, TimedCause::Idle { last_frame: 2 }), 2),
                (Tag::segment(4), 4),
            ],
        };
        let mut out = Out(Vec::new());
        merge(&[w0, w1], &mut out);
        assert_eq!(out.0, b"a1i2b3c3z");
    }
}
