//! The shared fuzz driver: feeds a [`ProtocolSession`] the way the engine does and checks the
//! session's documented contract after **every** call, so that a growth or accounting bug fails
//! the fuzzer even when nothing panics.
//!
//! After each callback ([`Checked::data`], [`Checked::gap`], [`Checked::fin`], [`Checked::rst`],
//! [`Checked::advance`], [`Checked::close`]):
//! - accounting: when [`ProtocolSession::accounting`] is `Some`, it is
//!   [`ByteAccounting::balanced`] and its `delivered` equals the bytes this driver handed to
//!   `on_data`; after close `held` is 0;
//! - state bound (the engine's rule): if [`ProtocolSession::state_bytes`] is over the cap,
//!   [`ProtocolSession::shed`]`(cap)` is called (then `shed(0)` if still over, as the engine
//!   does before it gives up on a session), and then `state_bytes() <= cap` must hold (and the
//!   accounting must still balance);
//! - timer (the engine's rule): when capture time reaches [`ProtocolSession::timer_deadline`],
//!   [`ProtocolSession::on_timer`] is called, and the next deadline is not in the past;
//! - every transaction keeps at most [`MAX_NOTES`] notes plus one [`Note::NotesDropped`].
//!
//! Sessions that do not implement the budget/accounting hooks yet return the defaults (`None`,
//! 0, no timer): the checks then pass trivially and start to bite once they are implemented.
//!
//! [`Script`] turns fuzz bytes into a sequence of such calls (see its docs for the format).

use wiresift_core::{
    ByteAccounting, CloseReason, ConnectionId, ConnectionInfo, Detail, Direction, Duration,
    Endpoint, EventSink, Flow, GapInfo, Message, Note, ParseAnomaly, ProtocolSession, StreamChunk,
    Timestamp, Transaction, MAX_NOTES,
};

pub mod packet;
pub mod wrap;

/// Counts what a session emits and checks each transaction's note bound. Keeps nothing unless
/// `keep_queries` is set (then every transaction's `(query, status)` is kept, for pairing checks).
#[derive(Debug, Default)]
pub struct CheckSink {
    /// Transactions emitted.
    pub transactions: u64,
    /// Messages emitted.
    pub messages: u64,
    /// Anomalies emitted.
    pub anomalies: u64,
    /// Sum of the transactions' `request_bytes + response_bytes`.
    pub tx_bytes: u64,
    /// `Detail::Summary` instead of `Detail::Full`.
    pub summary: bool,
    /// Keep each transaction's query and status.
    pub keep_queries: bool,
    /// Kept queries (with `keep_queries`).
    pub queries: Vec<(String, wiresift_core::Status, u64, u64)>,
}

/// The note bound every transaction keeps (see [`wiresift_core::push_note`]). Set
/// `WIRESIFT_FUZZ_NOTE_BOUND=0` to skip it (for fuzzing a tree whose sessions do not bound
/// their notes yet, to reach the other checks).
pub fn check_notes(notes: &[Note]) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var("WIRESIFT_FUZZ_NOTE_BOUND").map_or(true, |v| v != "0")) {
        return;
    }
    assert!(
        notes.len() <= MAX_NOTES + 1,
        "{} notes on one transaction (max {} + NotesDropped)",
        notes.len(),
        MAX_NOTES
    );
}

impl EventSink for CheckSink {
    fn transaction(&mut self, tx: &mut Transaction) {
        self.transactions += 1;
        self.tx_bytes = self
            .tx_bytes
            .saturating_add(tx.request_bytes.saturating_add(tx.response_bytes));
        check_notes(&tx.notes);
        if self.keep_queries {
            self.queries.push((
                tx.query.clone(),
                tx.status,
                tx.request_bytes,
                tx.response_bytes,
            ));
        }
    }
    fn message(&mut self, _m: &Message) {
        self.messages += 1;
    }
    fn anomaly(&mut self, _a: &ParseAnomaly) {
        self.anomalies += 1;
    }
    fn detail(&self) -> Detail {
        if self.summary {
            Detail::Summary
        } else {
            Detail::Full
        }
    }
}

/// Budget and timer settings the driver applies as the engine would.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Per-connection session-state cap (`EngineConfig::session_budget.per_connection`).
    pub state_cap: usize,
    /// Request timeout (`EngineConfig::request_timeout`); `None`: no timer.
    pub timeout: Option<Duration>,
}

impl Rules {
    /// Rules picked by two bits of a selector: caps 2 KiB, 4 KiB, 64 KiB and 1 MiB (the
    /// engine's default); the timeout is 30 s (the default) unless `no_timer`. (Not below
    /// 2 KiB: the MySQL, CQL and TNS sessions count a fixed base of 0.6–1 KB that no `shed`
    /// removes.)
    pub fn pick(bits: u8, no_timer: bool) -> Self {
        Rules {
            state_cap: [2048, 4096, 64 << 10, 1 << 20][usize::from(bits & 3)],
            timeout: (!no_timer).then(|| Duration::from_secs(30)),
        }
    }
}

/// A session driven under the engine's rules, checked after every call.
pub struct Checked<S: ProtocolSession + ?Sized> {
    /// Where events go.
    pub sink: CheckSink,
    /// Capture time now.
    pub now: Timestamp,
    /// Bytes handed to `on_data`, per direction.
    pub fed: [u64; 2],
    /// Bytes declared lost by `on_gap` (known lengths), per direction.
    pub gapped: [u64; 2],
    /// Calls made (callbacks, not counting shed/timer).
    pub calls: u64,
    /// Items shed and requests timed out, as returned by the session.
    pub shed: u64,
    /// Requests reported by `on_timer`.
    pub timed_out: u64,
    /// The session returned `Flow::Detach`: no more data is fed (as in the engine).
    pub detached: bool,
    /// The session returned `Flow::Handover` and was dropped.
    pub handed_over: bool,
    /// `close` ran.
    pub closed: bool,
    rules: Rules,
    /// The session (last: a boxed session is unsized).
    pub s: S,
}

impl<S: ProtocolSession> Checked<S> {
    /// Wrap `s`; capture time starts at `start`.
    pub fn new(s: S, rules: Rules, start: Timestamp) -> Self {
        Checked {
            sink: CheckSink::default(),
            now: start,
            fed: [0; 2],
            gapped: [0; 2],
            calls: 0,
            shed: 0,
            timed_out: 0,
            detached: false,
            handed_over: false,
            closed: false,
            rules,
            s,
        }
    }
}

impl<S: ProtocolSession + ?Sized> Checked<S> {
    /// Whether the session still takes data (not detached, not handed over, not closed).
    pub fn live(&self) -> bool {
        !(self.detached || self.handed_over || self.closed)
    }

    /// Let capture time pass (then the timer rule runs).
    pub fn advance(&mut self, dt: Duration) {
        self.now = Timestamp(self.now.0.saturating_add(dt.0).min(u64::MAX / 2));
        if self.live() {
            self.after("advance");
        }
    }

    /// `on_data` (skipped when the session is no longer live, as the engine does).
    pub fn data(&mut self, dir: Direction, data: &[u8], held: Duration) -> Flow {
        if !self.live() || data.is_empty() {
            return Flow::Continue;
        }
        self.fed[dir.index()] += data.len() as u64;
        self.calls += 1;
        let chunk = StreamChunk {
            dir,
            ts: self.now,
            data,
            held: Duration(held.0.min(self.now.0)),
        };
        let flow = self.s.on_data(&chunk, &mut self.sink);
        self.flow(flow, "on_data")
    }

    /// `on_gap`.
    pub fn gap(&mut self, dir: Direction, len: Option<u64>) -> Flow {
        if !self.live() {
            return Flow::Continue;
        }
        self.calls += 1;
        if let Some(n) = len {
            self.gapped[dir.index()] += n;
        }
        let gap = GapInfo {
            dir,
            ts: self.now,
            len,
        };
        let flow = self.s.on_gap(&gap, &mut self.sink);
        self.flow(flow, "on_gap")
    }

    /// `on_fin`.
    pub fn fin(&mut self, dir: Direction) {
        if self.live() {
            self.calls += 1;
            self.s.on_fin(dir, self.now, &mut self.sink);
            self.after("on_fin");
        }
    }

    /// `on_rst`.
    pub fn rst(&mut self, dir: Direction) {
        if self.live() {
            self.calls += 1;
            self.s.on_rst(dir, self.now, &mut self.sink);
            self.after("on_rst");
        }
    }

    /// `on_close` (once; not after a hand-over, whose session the engine drops). Afterwards
    /// nothing may be held.
    pub fn close(&mut self, reason: CloseReason) {
        if self.closed || self.handed_over {
            return;
        }
        self.calls += 1;
        self.s.on_close(self.now, reason, &mut self.sink);
        self.closed = true;
        let a = self.check_accounting("on_close");
        if let Some(a) = a {
            assert_eq!(a.held, 0, "bytes still held after close: {a:?}");
        }
    }

    fn flow(&mut self, flow: Flow, what: &str) -> Flow {
        match flow {
            Flow::Continue => self.after(what),
            Flow::Detach => {
                self.after(what);
                self.detached = true;
            }
            Flow::Handover => {
                self.check_accounting(what);
                let fed = self.fed[0] + self.fed[1];
                if let Some(h) = self.s.handover() {
                    let replayed: u64 = h.replay.iter().map(|(_, _, b)| b.len() as u64).sum();
                    assert!(replayed <= fed, "hand-over replays {replayed} > fed {fed}");
                    self.handed_over = true;
                } else {
                    // `None` is treated as Detach.
                    self.detached = true;
                }
            }
        }
        flow
    }

    /// The accounting invariant; returns the accounts when the session keeps them.
    pub fn check_accounting(&self, what: &str) -> Option<ByteAccounting> {
        let a = self.s.accounting()?;
        assert!(a.balanced(), "accounting unbalanced after {what}: {a:?}");
        assert_eq!(
            a.delivered,
            self.fed[0] + self.fed[1],
            "delivered != bytes fed, after {what}: {a:?}"
        );
        Some(a)
    }

    /// The checks and engine rules after a callback.
    fn after(&mut self, what: &str) {
        self.check_accounting(what);
        let cap = self.rules.state_cap;
        let b = self.s.state_bytes();
        if b > cap {
            // As the engine does: shed to the cap, and if that was not enough, to 0.
            self.shed += self.s.shed(cap, self.now, &mut self.sink);
            if self.s.state_bytes() > cap {
                self.shed += self.s.shed(0, self.now, &mut self.sink);
            }
            let b2 = self.s.state_bytes();
            assert!(
                b2 <= cap,
                "state_bytes {b2} > cap {cap} after shed (was {b}), after {what}"
            );
            self.check_accounting("shed");
        }
        if let Some(t) = self.rules.timeout {
            if let Some(d) = self.s.timer_deadline(t) {
                if self.now >= d {
                    self.timed_out += self.s.on_timer(self.now, t, &mut self.sink);
                    self.check_accounting("on_timer");
                    if let Some(d2) = self.s.timer_deadline(t) {
                        assert!(
                            d2 >= self.now,
                            "timer deadline {d2:?} still before now {:?} after on_timer",
                            self.now
                        );
                    }
                }
            }
        }
    }
}

/// Fuzz bytes read as a script of session calls: records `[ctl, len, bytes…]`.
///
/// - `ctl & 1`: direction (0 client→server, 1 server→client);
/// - `(ctl >> 1) & 7`: 0–3 data (`len` bytes, fewer at the end of the input), 4 a gap of
///   `len << (2 * (ctl >> 6))` bytes, 5 a gap of unknown length, 6 FIN, 7 RST;
/// - `(ctl >> 4) & 3`: capture time before the call: +10 µs, +1 ms, +1 s, +31 s (past the
///   default request timeout).
///
/// A trailing single byte is ignored.
pub struct Script<'a> {
    rest: &'a [u8],
}

/// One call of a [`Script`].
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Stream bytes.
    Data(Direction, &'a [u8]),
    /// Lost bytes (length when known).
    Gap(Direction, Option<u64>),
    /// A FIN.
    Fin(Direction),
    /// A RST.
    Rst(Direction),
}

impl<'a> Script<'a> {
    /// A script over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Script { rest: data }
    }

    /// The next call and the time step before it.
    pub fn next_step(&mut self) -> Option<(Duration, Step<'a>)> {
        let [ctl, len, ref rest @ ..] = *self.rest else {
            return None;
        };
        self.rest = rest;
        let dir = if ctl & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let dt = match (ctl >> 4) & 3 {
            0 => Duration::from_micros(10),
            1 => Duration::from_millis(1),
            2 => Duration::from_secs(1),
            _ => Duration::from_secs(31),
        };
        let len = usize::from(len);
        let step = match (ctl >> 1) & 7 {
            0..=3 => {
                let n = len.min(self.rest.len());
                let (d, r) = self.rest.split_at(n);
                self.rest = r;
                Step::Data(dir, d)
            }
            4 => Step::Gap(dir, Some((len as u64) << (2 * u32::from(ctl >> 6)))),
            5 => Step::Gap(dir, None),
            6 => Step::Fin(dir),
            _ => Step::Rst(dir),
        };
        Some((dt, step))
    }
}

/// Run a whole [`Script`] through `c`, then close it (FIN).
pub fn run_script<S: ProtocolSession + ?Sized>(c: &mut Checked<S>, data: &[u8]) {
    run_script_with(c, data, |_| {});
}

/// [`run_script`], calling `each` after every step and after close (for a target's own
/// per-step assertions, such as a session's pending-queue bound).
pub fn run_script_with<S: ProtocolSession + ?Sized>(
    c: &mut Checked<S>,
    data: &[u8],
    mut each: impl FnMut(&mut Checked<S>),
) {
    let mut script = Script::new(data);
    while let Some((dt, step)) = script.next_step() {
        if !c.live() {
            break;
        }
        c.advance(dt);
        match step {
            Step::Data(dir, d) => {
                c.data(dir, d, Duration(0));
            }
            Step::Gap(dir, len) => {
                c.gap(dir, len);
            }
            Step::Fin(dir) => c.fin(dir),
            Step::Rst(dir) => c.rst(dir),
        }
        each(c);
    }
    c.advance(Duration::from_micros(1));
    c.close(CloseReason::Fin);
    each(c);
}

/// A connection 10.0.0.1:40000 → 10.0.0.2:`port` starting at time 0.
pub fn conn(port: u16, midstream: bool) -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 0, 0, 1].into(), 40000),
        server: Endpoint::new([10, 0, 0, 2].into(), port),
        start: Timestamp(0),
        midstream,
    }
}

/// At most `max` bytes of `data`: the targets cut their input so that one execution stays
/// cheap whatever `-max_len` a run uses (a large seed costs as much as this prefix).
pub fn cap(data: &[u8], max: usize) -> &[u8] {
    &data[..data.len().min(max)]
}

/// Encode `(direction, bytes)` pieces as a [`Script`] of data records (pieces longer than 255
/// bytes are cut), for seeds and regression inputs.
pub fn encode_script(pieces: &[(Direction, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (dir, b) in pieces {
        for c in b.chunks(255) {
            v.push(u8::from(*dir == Direction::ServerToClient));
            v.push(c.len() as u8);
            v.extend_from_slice(c);
        }
    }
    v
}
