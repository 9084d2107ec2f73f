//! Where the engine's results go.

use crate::engine::TunnelNote;
use serde::Serialize;
use std::io::Write;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Detail, GapInfo, Message, Note, ParseAnomaly,
    Status, StreamChunk, Timestamp, Transaction,
};
use wiresift_reassembly::{ConnStats, RoleSource};

/// A closed connection, as handed to [`Output::connection_closed`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSummary<'a> {
    /// Endpoints, id, start time.
    pub info: &'a ConnectionInfo,
    /// How client and server were decided.
    pub role: RoleSource,
    /// The plugin that dissected it, if any.
    pub protocol: Option<&'static str>,
    /// Why it closed.
    pub close_reason: CloseReason,
    /// When it closed (capture time).
    pub close_ts: Timestamp,
    /// Reassembly counters.
    pub stats: &'a ConnStats,
    /// Set when the connection carried a tunnel through a proxy (HTTP CONNECT, SOCKS); then
    /// `protocol` is the protocol inside the tunnel.
    pub tunnel: Option<&'a TunnelNote>,
}

/// Receives the engine's results. Every method has an empty default.
pub trait Output {
    /// How much transaction detail this output uses; with [`Detail::Summary`] sessions skip
    /// building `query`, `request` and `response` (default: [`Detail::Full`]).
    fn detail(&self) -> Detail {
        Detail::Full
    }
    /// A transaction (request/response pair or one side alone).
    fn transaction(&mut self, _tx: &Transaction) {}
    /// An unpaired protocol message.
    fn message(&mut self, _m: &Message) {}
    /// A parse anomaly.
    fn anomaly(&mut self, _a: &ParseAnomaly) {}
    /// In-order stream bytes of a connection (for dumping streams).
    fn data(&mut self, _conn: ConnectionId, _chunk: &StreamChunk<'_>) {}
    /// Bytes of a connection that will never be delivered (after the data before them).
    fn gap(&mut self, _conn: ConnectionId, _gap: &GapInfo) {}
    /// A connection ended.
    fn connection_closed(&mut self, _c: &ConnectionSummary<'_>) {}
    /// True once this output can take nothing more (its reader went away: a closed pipe). The
    /// engine then stops reading the capture. Default: never.
    fn is_closed(&self) -> bool {
        false
    }
}

/// An [`Output`] the multi-threaded engine ([`crate::engine::Engine::run_threads`]) can split
/// by flow: each worker thread gets its own [`ParallelOutput::Shard`].
///
/// A shard writes whatever must come out in capture order (NDJSON lines, text lines) into its
/// [`ShardOutput::ordered`] buffer; the engine merges those bytes from all shards in the order a
/// single-threaded run would produce them and hands them to [`ParallelOutput::write_ordered`].
/// Everything else a shard keeps (counters, histograms) is folded in at the end with
/// [`ParallelOutput::merge_shard`].
pub trait ParallelOutput: Output {
    /// One worker's part.
    type Shard: ShardOutput + 'static;
    /// A new, empty shard.
    fn new_shard(&self) -> Self::Shard;
    /// Ordered bytes from the shards, already merged in capture order.
    fn write_ordered(&mut self, bytes: &[u8]) {
        let _ = bytes;
    }
    /// A finished shard: fold its aggregate state in. Shards arrive in worker order.
    fn merge_shard(&mut self, shard: Self::Shard) {
        let _ = shard;
    }
}

/// A worker's part of a [`ParallelOutput`].
pub trait ShardOutput: Output + Send {
    /// Output that must appear in capture order, written since the engine last took it (the
    /// engine takes it with `std::mem::take`; keep appending to whatever is there).
    fn ordered(&mut self) -> &mut Vec<u8>;
}

impl ParallelOutput for Discard {
    type Shard = DiscardShard;
    fn new_shard(&self) -> DiscardShard {
        DiscardShard::default()
    }
}

/// The shard of [`Discard`]: discards everything.
#[derive(Debug, Default, Clone)]
pub struct DiscardShard(Vec<u8>);
impl Output for DiscardShard {}
impl ShardOutput for DiscardShard {
    fn ordered(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// Discards everything (for benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;
impl Output for Discard {}

/// The flow record printed by the `flows` example: one JSON object per connection.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRecord {
    /// Connection id.
    pub id: ConnectionId,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// First packet's capture time.
    pub start: Timestamp,
    /// Close time.
    pub end: Timestamp,
    /// How client/server were decided.
    pub role: RoleSource,
    /// Whether the handshake was missing.
    pub midstream: bool,
    /// Plugin that dissected the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    /// Bytes delivered client → server.
    pub client_bytes: u64,
    /// Bytes delivered server → client.
    pub server_bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// Retransmitted bytes.
    pub retransmitted_bytes: u64,
    /// Retransmitted bytes that differed from the first copy.
    pub overlap_conflicts: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Gaps declared.
    pub gaps: u64,
    /// Bytes missing in those gaps.
    pub gap_bytes: u64,
    /// Longest wait for a retransmission (µs).
    pub max_retransmission_delay_us: u64,
    /// Timestamps that went backwards on this connection.
    pub ts_backwards: u64,
    /// Why the connection ended.
    pub close_reason: CloseReason,
    /// The tunnel this connection carried, if any (its `protocol` is the one inside).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelNote>,
}

impl FlowRecord {
    /// Build from a summary.
    pub fn from_summary(c: &ConnectionSummary<'_>) -> Self {
        let s = c.stats;
        FlowRecord {
            id: c.info.id,
            client: c.info.client.to_string(),
            server: c.info.server.to_string(),
            start: c.info.start,
            end: c.close_ts,
            role: c.role,
            midstream: c.info.midstream,
            protocol: c.protocol,
            client_bytes: s.bytes[0],
            server_bytes: s.bytes[1],
            packets: s.packets,
            retransmissions: s.retransmitted_segments,
            retransmitted_bytes: s.retransmitted_bytes,
            overlap_conflicts: s.overlap_conflicts,
            out_of_order: s.out_of_order_segments,
            gaps: s.gaps,
            gap_bytes: s.gap_bytes,
            max_retransmission_delay_us: s.max_retransmission_delay.as_micros(),
            ts_backwards: s.ts_backwards,
            close_reason: c.close_reason,
            tunnel: c.tunnel.cloned(),
        }
    }
}

impl FlowRecord {
    /// Append the flow record of `c` as one JSON object (no newline) to `out`: the same bytes
    /// as `serde_json` writes for [`FlowRecord::from_summary`], without building the record
    /// (no `String`s for the endpoints, no escaping of keys that never need it). This is the
    /// `flows` hot path: one call per connection.
    pub fn write_summary_json(c: &ConnectionSummary<'_>, out: &mut Vec<u8>) {
        fn num(out: &mut Vec<u8>, key: &[u8], v: u64) {
            out.extend_from_slice(key);
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        let s = c.stats;
        num(out, b"{\"id\":", c.info.id.0);
        out.extend_from_slice(b",\"client\":\"");
        c.info.client.push_text(out);
        out.extend_from_slice(b"\",\"server\":\"");
        c.info.server.push_text(out);
        out.extend_from_slice(b"\",\"start\":\"");
        c.info.start.push_decimal(out);
        out.extend_from_slice(b"\",\"end\":\"");
        c.close_ts.push_decimal(out);
        out.extend_from_slice(b"\",\"role\":\"");
        out.extend_from_slice(c.role.as_str().as_bytes());
        out.extend_from_slice(if c.info.midstream {
            b"\",\"midstream\":true"
        } else {
            b"\",\"midstream\":false"
        });
        if let Some(p) = c.protocol {
            out.extend_from_slice(b",\"protocol\":");
            // A plugin's name may be any text (run-time names): serde_json escapes it.
            let _ = serde_json::to_writer(&mut *out, p);
        }
        num(out, b",\"client_bytes\":", s.bytes[0]);
        num(out, b",\"server_bytes\":", s.bytes[1]);
        num(out, b",\"packets\":", s.packets);
        num(out, b",\"retransmissions\":", s.retransmitted_segments);
        num(out, b",\"retransmitted_bytes\":", s.retransmitted_bytes);
        num(out, b",\"overlap_conflicts\":", s.overlap_conflicts);
        num(out, b",\"out_of_order\":", s.out_of_order_segments);
        num(out, b",\"gaps\":", s.gaps);
        num(out, b",\"gap_bytes\":", s.gap_bytes);
        num(
            out,
            b",\"max_retransmission_delay_us\":",
            s.max_retransmission_delay.as_micros(),
        );
        num(out, b",\"ts_backwards\":", s.ts_backwards);
        out.extend_from_slice(b",\"close_reason\":\"");
        out.extend_from_slice(c.close_reason.as_str().as_bytes());
        out.push(b'"');
        if let Some(t) = c.tunnel {
            out.extend_from_slice(b",\"tunnel\":");
            // Rare, and its target is the client's text: through serde_json.
            let _ = serde_json::to_writer(&mut *out, t);
        }
        out.push(b'}');
    }
}

/// Writes one JSON object per line. Write errors (e.g. a closed pipe) are remembered and stop
/// further output; check [`NdjsonWriter::error`].
#[derive(Debug)]
pub struct NdjsonWriter<W: Write> {
    w: W,
    error: Option<std::io::Error>,
}

impl<W: Write> NdjsonWriter<W> {
    /// Wrap a writer (buffer it yourself).
    pub fn new(w: W) -> Self {
        NdjsonWriter { w, error: None }
    }
    /// Serialise `v` as one line.
    pub fn write<T: Serialize + ?Sized>(&mut self, v: &T) {
        if self.error.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.w, v)
            .map_err(std::io::Error::from)
            .and_then(|_| self.w.write_all(b"\n"));
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
    /// Flush, returning the first error seen.
    pub fn finish(mut self) -> std::io::Result<W> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()?;
        Ok(self.w)
    }
    /// The first write error, if any.
    pub fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }
}

/// Options of [`NdjsonOutput`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NdjsonOptions {
    /// Print only transactions at least this slow (µs), and those without a latency.
    pub threshold_us: Option<u64>,
    /// Also print messages and parse anomalies, tagged with `"type"`.
    pub events: bool,
    /// Write every line as soon as it is complete (live input, or a terminal), instead of in
    /// blocks of about 64 KiB.
    pub flush_lines: bool,
}

/// The `dissect` output: one JSON object per transaction (and, with
/// [`NdjsonOptions::events`], per message and anomaly) per line.
///
/// Lines are built in an internal buffer and written to `W` in blocks of about 64 KiB (and on
/// [`NdjsonOutput::finish`]). A write error (such as a closed pipe) is remembered, stops
/// further output, and is returned by `finish`. For the multi-threaded engine each worker gets
/// a shard that only fills its buffer; the engine writes the merged bytes to `W`.
#[derive(Debug)]
pub struct NdjsonOutput<W: Write> {
    w: Option<W>,
    buf: Vec<u8>,
    opts: NdjsonOptions,
    error: Option<std::io::Error>,
}

const NDJSON_BLOCK: usize = 64 << 10;

impl<W: Write> NdjsonOutput<W> {
    /// Write to `w` (it need not be buffered).
    pub fn new(w: W, opts: NdjsonOptions) -> Self {
        NdjsonOutput {
            w: Some(w),
            buf: Vec::with_capacity(NDJSON_BLOCK * 2),
            opts,
            error: None,
        }
    }

    fn line<T: Serialize + ?Sized>(&mut self, v: &T) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = serde_json::to_writer(&mut self.buf, v) {
            self.error = Some(e.into());
            return;
        }
        self.buf.push(b'\n');
        self.line_done();
    }

    fn line_done(&mut self) {
        if self.buf.len() >= NDJSON_BLOCK || (self.opts.flush_lines && self.w.is_some()) {
            self.flush_block();
        }
    }

    fn flush_block(&mut self) {
        if let Some(w) = &mut self.w {
            if self.error.is_none() {
                let r = w.write_all(&self.buf).and_then(|_| {
                    if self.opts.flush_lines {
                        w.flush()
                    } else {
                        Ok(())
                    }
                });
                if let Err(e) = r {
                    self.error = Some(e);
                }
            }
            self.buf.clear();
        }
    }

    /// Write what is buffered and flush `W`; the first write error, if any.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.flush_block();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut w = self.w.take().expect("finish is called on the main output");
        w.flush()?;
        Ok(w)
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }
}

/// `{"type": "...", ...fields}` (keys in sorted order, as `serde_json::Value` keeps them).
struct Tagged<'a, T: ?Sized>(&'static str, &'a T);
impl<T: Serialize + ?Sized> Serialize for Tagged<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(self.1).map_err(serde::ser::Error::custom)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("type".into(), self.0.into());
        }
        v.serialize(s)
    }
}

impl<W: Write> Output for NdjsonOutput<W> {
    fn transaction(&mut self, tx: &Transaction) {
        if let Some(t) = self.opts.threshold_us {
            if tx.latency_us.is_some_and(|l| l < t) {
                return;
            }
        }
        if self.error.is_some() {
            return;
        }
        if let Err(e) = tx.write_json(&mut self.buf) {
            self.error = Some(e.into());
            return;
        }
        self.buf.push(b'\n');
        self.line_done();
    }
    fn is_closed(&self) -> bool {
        self.error.is_some()
    }
    fn message(&mut self, m: &Message) {
        if self.opts.events {
            self.line(&Tagged("message", m));
        }
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        if self.opts.events {
            self.line(&Tagged("anomaly", a));
        }
    }
}

impl<W: Write + Send> ShardOutput for NdjsonOutput<W> {
    fn ordered(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl<W: Write> ParallelOutput for NdjsonOutput<W> {
    type Shard = NdjsonOutput<std::io::Sink>;
    fn new_shard(&self) -> Self::Shard {
        NdjsonOutput {
            w: None,
            buf: Vec::new(),
            opts: self.opts,
            error: None,
        }
    }
    fn write_ordered(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            self.buf.extend_from_slice(bytes);
            self.line_done();
        }
    }
    fn merge_shard(&mut self, shard: Self::Shard) {
        if self.error.is_none() {
            self.error = shard.error;
        }
    }
}

/// The `flows` output: one [`FlowRecord`] per line, per closed connection; optionally each
/// direction's delivered bytes dumped to `DIR/<id>.c2s` and `DIR/<id>.s2c` (both files exist
/// for every connection, empty when nothing was delivered).
#[derive(Debug)]
pub struct FlowsOutput<W: Write> {
    out: NdjsonOutput<W>,
    dump: Option<std::path::PathBuf>,
    open: rustc_hash::FxHashMap<
        (ConnectionId, wiresift_core::Direction),
        std::io::BufWriter<std::fs::File>,
    >,
    dump_error: Option<String>,
}

impl<W: Write> FlowsOutput<W> {
    /// Write to `w`; dump stream bytes into `dump` when given (the directory must exist).
    /// `flush_lines` as in [`NdjsonOptions`].
    pub fn new(w: W, dump: Option<std::path::PathBuf>, flush_lines: bool) -> Self {
        FlowsOutput {
            out: NdjsonOutput::new(
                w,
                NdjsonOptions {
                    flush_lines,
                    ..NdjsonOptions::default()
                },
            ),
            dump,
            open: Default::default(),
            dump_error: None,
        }
    }

    /// Write what is buffered and flush. Returns the writer and the first dump error, or the
    /// first output write error.
    pub fn finish(self) -> std::io::Result<(W, Option<String>)> {
        let FlowsOutput {
            out, dump_error, ..
        } = self;
        Ok((out.finish()?, dump_error))
    }

    fn file(
        &mut self,
        conn: ConnectionId,
        dir: wiresift_core::Direction,
    ) -> Option<&mut std::io::BufWriter<std::fs::File>> {
        use std::collections::hash_map::Entry;
        let base = self.dump.as_ref()?;
        match self.open.entry((conn, dir)) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(v) => {
                let p = base.join(format!("{conn}.{}", dir.short()));
                match std::fs::File::create(&p) {
                    Ok(f) => Some(v.insert(std::io::BufWriter::new(f))),
                    Err(e) => {
                        self.dump_error
                            .get_or_insert(format!("{}: {e}", p.display()));
                        None
                    }
                }
            }
        }
    }
}

impl<W: Write> Output for FlowsOutput<W> {
    fn detail(&self) -> Detail {
        Detail::Summary
    }
    fn data(&mut self, conn: ConnectionId, chunk: &StreamChunk<'_>) {
        if let Some(f) = self.file(conn, chunk.dir) {
            if let Err(e) = f.write_all(chunk.data) {
                self.dump_error.get_or_insert(e.to_string());
            }
        }
    }
    fn is_closed(&self) -> bool {
        self.out.is_closed()
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        if self.dump.is_some() {
            for dir in wiresift_core::Direction::BOTH {
                let _ = self.file(c.info.id, dir);
                if let Some(mut f) = self.open.remove(&(c.info.id, dir)) {
                    if let Err(e) = f.flush() {
                        self.dump_error.get_or_insert(e.to_string());
                    }
                }
            }
        }
        if self.out.error.is_none() {
            FlowRecord::write_summary_json(c, &mut self.out.buf);
            self.out.buf.push(b'\n');
            self.out.line_done();
        }
    }
}

impl<W: Write + Send> ShardOutput for FlowsOutput<W> {
    fn ordered(&mut self) -> &mut Vec<u8> {
        &mut self.out.buf
    }
}

impl<W: Write> ParallelOutput for FlowsOutput<W> {
    type Shard = FlowsOutput<std::io::Sink>;
    fn new_shard(&self) -> Self::Shard {
        FlowsOutput {
            out: self.out.new_shard(),
            dump: self.dump.clone(),
            open: Default::default(),
            dump_error: None,
        }
    }
    fn write_ordered(&mut self, bytes: &[u8]) {
        self.out.write_ordered(bytes);
    }
    fn merge_shard(&mut self, shard: Self::Shard) {
        if self.dump_error.is_none() {
            self.dump_error = shard.dump_error;
        }
        self.out.merge_shard(shard.out);
    }
}

/// Options of [`TextOutput`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Print only transactions at least this slow (µs), and those without a latency.
    pub threshold_us: Option<u64>,
    /// Also print messages and parse anomalies.
    pub events: bool,
    /// Write every line as soon as it is complete (see [`NdjsonOptions::flush_lines`]).
    pub flush_lines: bool,
    /// Times in the local time zone (with its UTC offset) instead of UTC.
    pub local_time: bool,
}

/// The `dissect --format text` output: one line per transaction in the spirit of tcpkit,
///
/// ```text
/// 2026-03-08 19:23:06.258761 192.168.0.1:51137 => 192.168.0.2:6379 | 1.102 ms | SET foo bared
/// ```
///
/// then ` | <status>` (and ` <error>`) when the status is not `ok`, and ` | <notes>` in short
/// form (`retrans 205ms`, `gap s2c 1448B`, `timeout 30s`, `shed connection`, `interrupted`, …)
/// when there are any. The latency is `-` when there is none. Times are UTC unless
/// [`TextOptions::local_time`]. Buffering, closed pipes and the multi-threaded engine work as in
/// [`NdjsonOutput`].
#[derive(Debug)]
pub struct TextOutput<W: Write> {
    out: NdjsonOutput<W>,
    opts: TextOptions,
}

impl<W: Write> TextOutput<W> {
    /// Write to `w` (it need not be buffered).
    pub fn new(w: W, opts: TextOptions) -> Self {
        TextOutput {
            out: NdjsonOutput::new(
                w,
                NdjsonOptions {
                    flush_lines: opts.flush_lines,
                    ..NdjsonOptions::default()
                },
            ),
            opts,
        }
    }

    /// Write what is buffered and flush `W`; the first write error, if any.
    pub fn finish(self) -> std::io::Result<W> {
        self.out.finish()
    }

    fn time(&mut self, ts: Timestamp) {
        let buf = &mut self.out.buf;
        if self.opts.local_time {
            use chrono::TimeZone;
            let t = chrono::Local.timestamp_nanos(ts.0.min(i64::MAX as u64) as i64);
            let _ = write!(buf, "{}", t.format("%Y-%m-%d %H:%M:%S%.6f%:z"));
        } else {
            let b = wiresift_core::IsoTime(ts).bytes();
            buf.extend_from_slice(&b[..10]);
            buf.push(b' ');
            buf.extend_from_slice(&b[11..26]);
        }
    }

    fn done(&mut self) {
        self.out.buf.push(b'\n');
        self.out.line_done();
    }
}

/// `1.102 ms`, `-` for none.
fn write_latency(buf: &mut Vec<u8>, us: Option<u64>) {
    match us {
        Some(us) => {
            let _ = write!(buf, "{}.{:03} ms", us / 1_000, us % 1_000);
        }
        None => buf.push(b'-'),
    }
}

/// A short duration: `850us`, `205ms`, `1.5s`, `30s`.
fn short_duration(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        format!("{}ms", (us + 500) / 1_000)
    } else if us < 10_000_000 && us % 1_000_000 != 0 {
        format!("{:.1}s", us as f64 / 1e6)
    } else {
        format!("{}s", (us + 500_000) / 1_000_000)
    }
}

/// A note in the short form of the text output.
pub fn short_note(n: &Note) -> String {
    let bytes = |b: u64| {
        if b == 0 {
            String::new()
        } else {
            format!(" {b}B")
        }
    };
    #[allow(unreachable_patterns)] // keeps compiling when core adds a note kind
    match n {
        Note::Gap {
            direction,
            bytes: b,
        } => match b {
            Some(b) => format!("gap {} {b}B", direction.short()),
            None => format!("gap {}", direction.short()),
        },
        Note::RetransmissionDelay { delay_us, .. } => {
            format!("retrans {}", short_duration(*delay_us))
        }
        Note::Truncated { field, len } => format!("truncated {field} {len}B"),
        Note::Resync {
            direction,
            skipped_bytes,
        } => format!("resync {}{}", direction.short(), bytes(*skipped_bytes)),
        Note::Encrypted => "encrypted".into(),
        Note::ParseError {
            direction,
            skipped_bytes,
        } => format!("parse error {}{}", direction.short(), bytes(*skipped_bytes)),
        Note::Shed { budget } => format!("shed {budget}"),
        Note::RequestTimeout { waited_us } => format!("timeout {}", short_duration(*waited_us)),
        Note::NotesDropped { count } => format!("+{count} notes"),
        Note::Interrupted => "interrupted".into(),
        Note::Text { text } => one_line(text),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_string))
            .unwrap_or_else(|| "note".into()),
    }
}

/// Control characters escaped (`\n`, `\x07`), so that one record stays one line.
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\x{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

impl<W: Write> Output for TextOutput<W> {
    fn transaction(&mut self, tx: &Transaction) {
        if let Some(t) = self.opts.threshold_us {
            if tx.latency_us.is_some_and(|l| l < t) {
                return;
            }
        }
        if self.out.error.is_some() {
            return;
        }
        self.time(tx.ts);
        let buf = &mut self.out.buf;
        let _ = write!(buf, " {} => {}", tx.client, tx.server);
        if let Some(p) = &tx.proxy {
            let _ = write!(buf, " via {p}");
        }
        buf.extend_from_slice(b" | ");
        write_latency(buf, tx.latency_us);
        buf.extend_from_slice(b" | ");
        let what = if tx.query.is_empty() {
            &tx.command
        } else {
            &tx.query
        };
        buf.extend_from_slice(one_line(what).as_bytes());
        if tx.status != Status::Ok {
            let status = match tx.status {
                Status::Ok => "ok",
                Status::Error => "error",
                Status::NoResponse => "no_response",
                Status::NoRequest => "no_request",
                Status::Partial => "partial",
            };
            let _ = write!(buf, " | {status}");
            if let Some(e) = &tx.error {
                let _ = write!(buf, " {}", one_line(e));
            }
        }
        if !tx.notes.is_empty() {
            let notes: Vec<String> = tx.notes.iter().map(short_note).collect();
            let _ = write!(buf, " | {}", notes.join(", "));
        }
        self.done();
    }
    fn message(&mut self, m: &Message) {
        if !self.opts.events || self.out.error.is_some() {
            return;
        }
        self.time(m.ts);
        let buf = &mut self.out.buf;
        let _ = write!(
            buf,
            " #{} {} | {} {} | {}",
            m.connection,
            m.direction.short(),
            m.protocol,
            m.kind,
            one_line(&m.summary)
        );
        self.done();
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        if !self.opts.events || self.out.error.is_some() {
            return;
        }
        self.time(a.ts);
        let buf = &mut self.out.buf;
        let _ = write!(
            buf,
            " #{} {} | {} anomaly | {}",
            a.connection,
            a.direction.short(),
            a.protocol,
            one_line(&a.reason)
        );
        self.done();
    }
    fn is_closed(&self) -> bool {
        self.out.is_closed()
    }
}

impl<W: Write + Send> ShardOutput for TextOutput<W> {
    fn ordered(&mut self) -> &mut Vec<u8> {
        &mut self.out.buf
    }
}

impl<W: Write> ParallelOutput for TextOutput<W> {
    type Shard = TextOutput<std::io::Sink>;
    fn new_shard(&self) -> Self::Shard {
        TextOutput {
            out: self.out.new_shard(),
            opts: self.opts,
        }
    }
    fn write_ordered(&mut self, bytes: &[u8]) {
        self.out.write_ordered(bytes);
    }
    fn merge_shard(&mut self, shard: Self::Shard) {
        self.out.merge_shard(shard.out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiresift_core::{ConnectionId, Direction, Endpoint};

    fn tx() -> Transaction<()> {
        let info = ConnectionInfo {
            id: ConnectionId(1),
            client: Endpoint::new("192.168.0.1".parse().unwrap(), 51137),
            server: Endpoint::new("192.168.0.2".parse().unwrap(), 6379),
            start: Timestamp(0),
            midstream: false,
        };
        let ts = Timestamp::from_secs_nanos(1_772_997_786, 258_761_000);
        let mut t = Transaction::new("resp", &info, ts, ());
        t.command = "SET".into();
        t.query = "SET foo bared".into();
        t.status = Status::Ok;
        t.complete_at(ts.saturating_add(wiresift_core::Duration::from_micros(1_102)));
        t
    }

    fn text(t: &Transaction<()>, opts: TextOptions) -> String {
        let mut o = TextOutput::new(Vec::new(), opts);
        o.transaction(t);
        String::from_utf8(o.finish().unwrap()).unwrap()
    }

    #[test]
    fn text_line_like_tcpkit() {
        let mut t = tx();
        assert_eq!(
            text(&t, TextOptions::default()),
            "2026-03-08 19:23:06.258761 192.168.0.1:51137 => 192.168.0.2:6379 | 1.102 ms | SET foo bared\n"
        );
        t.status = Status::Error;
        t.error = Some("ERR wrong\nkind".into());
        t.add_note(Note::RetransmissionDelay {
            direction: Direction::ServerToClient,
            delay_us: 205_123,
        });
        t.add_note(Note::Gap {
            direction: Direction::ClientToServer,
            bytes: Some(1448),
        });
        assert!(text(&t, TextOptions::default()).ends_with(
            "| 1.102 ms | SET foo bared | error ERR wrong\\nkind | retrans 205ms, gap c2s 1448B\n"
        ));
        t.status = Status::NoResponse;
        t.error = None;
        t.latency_us = None;
        t.notes = vec![
            Note::RequestTimeout {
                waited_us: 30_000_000,
            },
            Note::Interrupted,
        ];
        assert!(text(&t, TextOptions::default())
            .ends_with("| - | SET foo bared | no_response | timeout 30s, interrupted\n"));
        let opts = TextOptions {
            threshold_us: Some(2_000),
            ..TextOptions::default()
        };
        let mut fast = tx();
        fast.latency_us = Some(1_999);
        assert_eq!(text(&fast, opts), "");
    }

    #[test]
    fn local_time_uses_the_zone_and_says_its_offset() {
        let line = text(
            &tx(),
            TextOptions {
                local_time: true,
                ..TextOptions::default()
            },
        );
        use chrono::TimeZone;
        let want = chrono::Local
            .timestamp_opt(1_772_997_786, 258_761_000)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S%.6f%:z")
            .to_string();
        assert!(line.starts_with(&want), "{line} vs {want}");
    }

    #[test]
    fn utc_text_and_json_time_agree_with_chrono() {
        for secs in [
            0u64,
            951_782_400,
            1_234_567_890,
            1_772_997_786,
            4_107_542_400,
        ] {
            let ts = Timestamp::from_secs_nanos(secs, 123_456_789);
            let want = chrono::DateTime::from_timestamp(secs as i64, 123_456_789)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(wiresift_core::IsoTime(ts).to_string(), want);
        }
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(850), "850us");
        assert_eq!(short_duration(205_400), "205ms");
        assert_eq!(short_duration(1_500_000), "1.5s");
        assert_eq!(short_duration(30_000_000), "30s");
    }

    /// The hand-written flow record is byte for byte what serde writes, for every role, close
    /// reason, IPv4 and IPv6 (with a scope id), an escaped protocol name and a tunnel.
    #[test]
    fn flow_record_fast_path_matches_serde() {
        use wiresift_core::Duration;
        let roles = [
            RoleSource::Handshake,
            RoleSource::ServerPort,
            RoleSource::Probe,
            RoleSource::PortRule,
        ];
        let reasons = [
            CloseReason::Fin,
            CloseReason::Rst,
            CloseReason::IdleTimeout,
            CloseReason::Evicted,
            CloseReason::EndOfCapture,
            CloseReason::PortReuse,
        ];
        let eps = [
            ("0.0.0.0:0", "255.255.255.255:65535"),
            ("10.1.2.3:40000", "10.0.0.1:6379"),
            ("[::1]:5", "[fe80::1%7]:9042"),
        ];
        let tunnel = TunnelNote {
            kind: "socks5",
            proxy: Endpoint::new("10.0.0.9".parse().unwrap(), 1080),
            target: "db.example:3306 \"q\"\\".into(),
            target_addr: None,
        };
        let mut n = 0u64;
        for (i, role) in roles.iter().enumerate() {
            for (j, reason) in reasons.iter().enumerate() {
                for (k, (c, sv)) in eps.iter().enumerate() {
                    n += 1;
                    let info = ConnectionInfo {
                        id: ConnectionId(n * 1_000_003),
                        client: Endpoint(c.parse().unwrap()),
                        server: Endpoint(sv.parse().unwrap()),
                        start: Timestamp(n * 999_999_937),
                        midstream: (i + j) % 2 == 0,
                    };
                    let stats = ConnStats {
                        packets: n,
                        bytes: [n * 7, u64::MAX - n],
                        retransmitted_segments: 1,
                        retransmitted_bytes: 2,
                        overlap_conflicts: 3,
                        out_of_order_segments: 4,
                        gaps: 5,
                        gap_bytes: 6,
                        max_retransmission_delay: Duration(n * 12_345),
                        ts_backwards: 8,
                        ..ConnStats::default()
                    };
                    let protocol = [None, Some("resp"), Some("my \"proto\"\n")][k];
                    let summary = ConnectionSummary {
                        info: &info,
                        role: *role,
                        protocol,
                        close_reason: *reason,
                        close_ts: Timestamp(u64::MAX - n),
                        stats: &stats,
                        tunnel: (j % 2 == 1).then_some(&tunnel),
                    };
                    let mut fast = Vec::new();
                    FlowRecord::write_summary_json(&summary, &mut fast);
                    let slow = serde_json::to_vec(&FlowRecord::from_summary(&summary)).unwrap();
                    assert_eq!(
                        String::from_utf8(fast).unwrap(),
                        String::from_utf8(slow).unwrap()
                    );
                }
            }
        }
    }
}
