//! The per-connection TNS session: framing of both directions, the connect phase, and one
//! transaction per TTC call. See the crate documentation for the output contract.

use crate::descriptor;
use crate::event::{TnsRequest, TnsResponse};
use crate::packet::{
    self, decide_width, parse_header, plausible, ptype, Header, Width, WidthGuess,
};
use crate::ttc::{self, IntRep};
use crate::PROTOCOL;
use std::collections::VecDeque;
use wiresift_core::{
    push_note, ByteAccounting, CloseReason, ConnectionInfo, Detail, Direction, Duration, EventSink,
    Flow, GapInfo, Message, MsgPayload, Note, ParseAnomaly, ProtocolSession, ReqResp, Status,
    StreamBuf, StreamChunk, Timestamp, Transaction,
};

/// The transaction detail of this plugin.
pub type TnsDetail = ReqResp<TnsRequest, TnsResponse>;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;
/// Gap notes kept on one transaction (the rest are counted in a text note).
const MAX_GAP_NOTES: usize = 8;

/// Budgets of a session. Every one is finite.
#[derive(Debug, Clone)]
pub struct TnsConfig {
    /// Bytes of a request's TTC payload kept for decoding (the rest is counted).
    pub max_request: usize,
    /// Bytes kept from the end of a response (the end-of-call message is there).
    pub max_response_tail: usize,
    /// Bytes of one packet kept for decoding (connect-phase packets, call heads).
    pub max_packet_keep: usize,
    /// Carry-over of the framing (partial headers, resynchronisation).
    pub max_carry: usize,
    /// Longest SQL text reported (bytes); longer texts are cut with a `truncated` note.
    pub max_sql: usize,
    /// Entries of the cursor → SQL map (oldest evicted first, counted).
    pub max_cursors: usize,
}

impl Default for TnsConfig {
    fn default() -> Self {
        TnsConfig {
            max_request: 64 * 1024,
            max_response_tail: 4096,
            max_packet_keep: 64 * 1024,
            max_carry: 128 * 1024,
            max_sql: 16 * 1024,
            max_cursors: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Connect,
    Call,
    Orphan,
}

#[derive(Debug)]
struct Pending {
    kind: Kind,
    ts: Timestamp,
    req_bytes: u64,
    resp_bytes: u64,
    req: TnsRequest,
    resp: TnsResponse,
    req_buf: Vec<u8>,
    req_dropped: u64,
    resp_tail: Vec<u8>,
    last_req_len: u32,
    last_resp_len: u32,
    got_response: bool,
    complete_at: Option<Timestamp>,
    last_resp_ts: Option<Timestamp>,
    status: Option<Status>,
    error: Option<String>,
    notes: Vec<Note>,
    partial: bool,
    connect_data_follows: bool,
    redirect_follows: bool,
    gaps_not_noted: u64,
    /// Only absorbs the reply of a call already reported (timed out or shed): when it was
    /// reported, and why.
    late: Option<(Timestamp, &'static str)>,
}

impl Pending {
    /// Bytes it keeps (an estimate).
    fn cost(&self) -> usize {
        std::mem::size_of::<Pending>()
            + self.req_buf.capacity()
            + self.resp_tail.capacity()
            + self.notes.capacity() * std::mem::size_of::<Note>()
            + self.error.as_ref().map_or(0, String::capacity)
    }
}

impl Pending {
    fn new(kind: Kind, ts: Timestamp) -> Self {
        Pending {
            kind,
            ts,
            req_bytes: 0,
            resp_bytes: 0,
            req: TnsRequest::default(),
            resp: TnsResponse::default(),
            req_buf: Vec::new(),
            req_dropped: 0,
            resp_tail: Vec::new(),
            last_req_len: 0,
            last_resp_len: 0,
            got_response: false,
            complete_at: None,
            last_resp_ts: None,
            status: None,
            error: None,
            notes: Vec::new(),
            partial: false,
            connect_data_follows: false,
            redirect_follows: false,
            gaps_not_noted: 0,
            late: None,
        }
    }
}

#[derive(Debug)]
enum Mode {
    Header,
    Body { h: Header, remaining: u64 },
}

#[derive(Debug)]
struct Half {
    mode: Mode,
    synced: bool,
    offset: u64,
    skipped: u64,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    ts: Timestamp,
    resync_note: Option<u64>,
    gap_note: Option<Option<u64>>,
}

impl Half {
    fn new(synced: bool) -> Self {
        Half {
            mode: Mode::Header,
            synced,
            offset: 0,
            skipped: 0,
            head: Vec::new(),
            tail: VecDeque::new(),
            ts: Timestamp(0),
            resync_note: None,
            gap_note: None,
        }
    }
}

/// Connection-level counters, reported in the closing `tns_summary` message.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counters {
    /// Packets by type name, per direction (client, server).
    pub packets: std::collections::BTreeMap<&'static str, [u64; 2]>,
    /// The negotiated version (ACCEPT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u16>,
    /// Length width in use and how it was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<Width>,
    /// `"accept"` (from the negotiated version), `"connect"` (16 bits during the connect phase)
    /// or `"headers"` (decided from consecutive headers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width_from: Option<&'static str>,
    /// The TTC integer representation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int_rep: Option<IntRep>,
    /// The TTC field version (client's DATA_TYPES, bounded by the server's PROTOCOL reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_version: Option<u8>,
    /// Bytes skipped while out of sync, per direction.
    pub skipped_bytes: [u64; 2],
    /// Out-of-band urgent bytes skipped (version ≥ 318 OOB check).
    pub oob_bytes: u64,
    /// Cursor map entries evicted.
    pub cursors_evicted: u64,
    /// Native network encryption / checksumming negotiation seen.
    pub ano: bool,
    /// Bytes after encryption started (not decoded).
    pub encrypted_bytes: u64,
    /// Empty DATA packets with the EOF flag (session close).
    pub eof_packets: u64,
    /// Bytes of whole packets that belong to no transaction (the OOB check's marker, EOF
    /// packets, ACK/NULL/… between exchanges). With `skipped_bytes`, `oob_bytes` and the
    /// transactions' `request_bytes` + `response_bytes` they add up to the delivered bytes.
    pub unattributed_bytes: u64,
    /// Calls reported early because the session budget was hit.
    pub shed_calls: u64,
    /// Calls reported `no_response` by the request timeout.
    pub timed_out: u64,
    /// Replies that came after their call was reported (timed out or shed): counted, not
    /// paired; and the longest such wait (µs).
    pub late_replies: u64,
    /// The longest wait of a late reply, µs.
    pub late_max_us: u64,
}

impl MsgPayload for Counters {}

/// A TNS session. See the crate documentation.
pub struct TnsSession {
    bufs: [StreamBuf; 2],
    st: State,
}

struct State {
    conn: ConnectionInfo,
    cfg: TnsConfig,
    half: [Half; 2],
    width: Option<Width>,
    version: Option<u16>,
    connect_version: Option<u16>,
    oob_checked: bool,
    client_packets_after_connect: u32,
    sdu: Option<u32>,
    rep: Option<IntRep>,
    field_version: Option<u8>,
    server_field_version: Option<u8>,
    token: Option<bool>,
    pending: Option<Pending>,
    server_seen: bool,
    client_seen: bool,
    cursors: VecDeque<(u32, String)>,
    cursor_rows: VecDeque<(u32, u64)>,
    counters: Counters,
    encrypted: bool,
    encrypted_after: bool,
    /// Capture time of the oldest carried-over bytes, and how many remain, per direction.
    carry_ts: [Timestamp; 2],
    carried_left: [usize; 2],
    /// The last (SQL, fingerprint) pair.
    last_fingerprint: Option<(String, String)>,
    /// Bytes delivered, and bytes of whole packets framed (parsed), per direction.
    delivered: u64,
    framed: u64,
    /// Sum of the cursor map's SQL capacities (kept with the map).
    cursor_bytes: usize,
}

impl TnsSession {
    /// A session for `conn`.
    pub fn new(conn: &ConnectionInfo, cfg: TnsConfig) -> Self {
        let carry = cfg.max_carry;
        TnsSession {
            bufs: [StreamBuf::new(carry), StreamBuf::new(carry)],
            st: State {
                conn: *conn,
                half: [Half::new(!conn.midstream), Half::new(!conn.midstream)],
                cfg,
                width: None,
                version: None,
                connect_version: None,
                oob_checked: false,
                client_packets_after_connect: 0,
                sdu: None,
                rep: None,
                field_version: None,
                server_field_version: None,
                token: None,
                pending: None,
                server_seen: false,
                client_seen: false,
                cursors: VecDeque::new(),
                cursor_rows: VecDeque::new(),
                counters: Counters::default(),
                encrypted: false,
                encrypted_after: false,
                carry_ts: [conn.start, conn.start],
                carried_left: [0, 0],
                last_fingerprint: None,
                delivered: 0,
                framed: 0,
                cursor_bytes: 0,
            },
        }
    }

    /// Bytes held by the session (carry-over, kept packet bytes, pending buffers, cursor map):
    /// for budget checks.
    pub fn buffered_bytes(&self) -> usize {
        let st = &self.st;
        let p = st
            .pending
            .as_ref()
            .map_or(0, |p| p.req_buf.len() + p.resp_tail.len());
        let h: usize = st.half.iter().map(|h| h.head.len() + h.tail.len()).sum();
        let c: usize = st.cursors.iter().map(|(_, s)| s.len() + 8).sum();
        let f = st
            .last_fingerprint
            .as_ref()
            .map_or(0, |(q, f)| q.len() + f.len());
        self.bufs[0].len() + self.bufs[1].len() + p + h + c + f
    }

    /// Connection counters so far.
    pub fn counters(&self) -> &Counters {
        &self.st.counters
    }
}

fn hex(b: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(max.min(b.len()) * 2);
    for x in b.iter().take(max) {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

impl State {
    fn anomaly(&self, dir: Direction, ts: Timestamp, reason: String, out: &mut dyn EventSink) {
        out.anomaly(&ParseAnomaly {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            offset: Some(self.half[dir.index()].offset),
            reason,
        });
    }

    fn width_for(&self, _dir: Direction) -> Option<Width> {
        self.width
    }

    /// Consume bytes of `dir` from `d`; returns how many were used (0: need more).
    /// Consume bytes of `dir`, attributing carried-over bytes to the time they arrived.
    fn consume(
        &mut self,
        dir: Direction,
        d: &[u8],
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) -> usize {
        let i = dir.index();
        let ts = if self.carried_left[i] > 0 {
            self.carry_ts[i]
        } else {
            ts
        };
        let n = self.consume_at(dir, d, ts, out);
        self.carried_left[i] = self.carried_left[i].saturating_sub(n);
        n
    }

    fn consume_at(
        &mut self,
        dir: Direction,
        d: &[u8],
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) -> usize {
        let i = dir.index();
        if self.encrypted {
            self.counters.encrypted_bytes += d.len() as u64;
            self.half[i].offset += d.len() as u64;
            return d.len();
        }
        if let Mode::Body { h, remaining } = &mut self.half[i].mode {
            let h = *h;
            let take = (*remaining).min(d.len() as u64) as usize;
            *remaining -= take as u64;
            let done = *remaining == 0;
            self.keep(i, &d[..take]);
            self.half[i].offset += take as u64;
            if done {
                self.half[i].mode = Mode::Header;
                self.packet(dir, h, ts, out);
            }
            return take;
        }
        if !self.half[i].synced || self.width_for(dir).is_none() {
            return self.resync(dir, d, ts, out);
        }
        if d.len() < packet::HEADER_LEN {
            return 0;
        }
        let w = self.width_for(dir).unwrap_or(Width::W16);
        let Some(h) = parse_header(d, w) else {
            return 0;
        };
        // The client's first bytes after its CONNECT at version ≥ 318 may be the OOB check's
        // urgent byte followed by a RESET marker (32-bit length): checked before the header is
        // read, because under the 16-bit reading `21 00 00 00 0b …` looks like a RESEND.
        if dir == C2S
            && !self.oob_checked
            && self.client_packets_after_connect <= 1
            && self.connect_version.is_some_and(|v| v >= 318)
            && d.len() > packet::HEADER_LEN
            && !(plausible(&h, w)
                && matches!(h.ptype, ptype::DATA | ptype::MARKER | ptype::CONNECT))
            && parse_header(&d[1..], Width::W32)
                .is_some_and(|h2| plausible(&h2, Width::W32) && h2.ptype == ptype::MARKER)
        {
            self.oob_checked = true;
            self.counters.oob_bytes += 1;
            self.half[i].offset += 1;
            return 1;
        }
        if !plausible(&h, w) {
            // The OOB check of version ≥ 318: one urgent byte, then a MARKER (in the width of
            // the version the CONNECT asked for, when the ACCEPT was not seen).
            let v = self.version.or(self.connect_version).unwrap_or(0);
            let marker_after = |w2: Width| {
                parse_header(&d[1..], w2)
                    .is_some_and(|h2| plausible(&h2, w2) && h2.ptype == ptype::MARKER)
            };
            if dir == C2S
                && v >= 318
                && d.len() > packet::HEADER_LEN
                && (marker_after(w) || (self.version.is_none() && marker_after(Width::W32)))
            {
                self.counters.oob_bytes += 1;
                self.half[i].offset += 1;
                if let Some(p) = self.pending.as_mut() {
                    push_note(
                        &mut p.notes,
                        Note::Text {
                            text:
                                "out-of-band check: 1 urgent byte skipped before the RESET marker"
                                    .into(),
                        },
                    );
                }
                return 1;
            }
            if self.counters.width_from != Some("accept") {
                // No ACCEPT seen (client-only capture, or the ACCEPT was lost): the width the
                // CONNECT phase implied no longer fits; decide it from the headers that follow.
                self.width = None;
                self.counters.width = None;
                self.counters.width_from = None;
                self.half[i].synced = false;
                return self.resync(dir, d, ts, out);
            }
            self.anomaly(
                dir,
                ts,
                format!(
                    "implausible TNS header {:02x?} ({w:?} length): resynchronising",
                    &d[..8]
                ),
                out,
            );
            self.half[i].synced = false;
            return self.resync(dir, d, ts, out);
        }
        let mut h = h;
        if h.ptype == ptype::DATA_DESCRIPTOR {
            // The LOB/file data a DATA DESCRIPTOR announces follows it directly and is not
            // counted in its length: the 32-bit length at offset 12 is added (tshark does the
            // same).
            if d.len() < 16 {
                return 0;
            }
            let extra = packet::be32(d, 12);
            match h
                .len
                .checked_add(extra)
                .filter(|&n| n <= packet::MAX_LEN32 * 8)
            {
                Some(n) => h.len = n,
                None => {
                    self.half[i].synced = false;
                    return self.skip(dir, 1, ts);
                }
            }
        }
        self.start_packet(i, h, ts);
        if h.len as usize == packet::HEADER_LEN {
            // Header-only packet (RESEND, some ACK/NULL): dispatch now.
            self.half[i].mode = Mode::Header;
            self.packet(dir, h, ts, out);
        }
        8
    }

    fn start_packet(&mut self, i: usize, h: Header, ts: Timestamp) {
        let hf = &mut self.half[i];
        hf.head.clear();
        hf.tail.clear();
        hf.ts = ts;
        hf.offset += 8;
        hf.mode = Mode::Body {
            h,
            remaining: u64::from(h.len) - 8,
        };
    }

    /// Keep packet bytes: a bounded head, then a bounded tail.
    fn keep(&mut self, i: usize, b: &[u8]) {
        let head_max = self.cfg.max_packet_keep;
        let tail_max = self.cfg.max_response_tail;
        let hf = &mut self.half[i];
        let room = head_max.saturating_sub(hf.head.len());
        let n = room.min(b.len());
        hf.head.extend_from_slice(&b[..n]);
        for &x in &b[n..] {
            if hf.tail.len() == tail_max {
                hf.tail.pop_front();
            }
            hf.tail.push_back(x);
        }
    }

    /// Out of sync (or width not known yet): find a packet boundary in `d`.
    fn resync(
        &mut self,
        dir: Direction,
        d: &[u8],
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) -> usize {
        let i = dir.index();
        let limit = d.len().min(self.cfg.max_carry);
        for at in 0..limit {
            let rest = &d[at..];
            let found = match self.width {
                // The width is known (negotiated, or decided on the other direction): a
                // boundary is a plausible header under it that ends exactly at the end of the
                // bytes, or is followed by another plausible header; at offset 0 (a gap ends
                // where a captured segment starts) a plausible header whose packet runs past
                // the bytes is waited for.
                Some(w) => match parse_header(rest, w) {
                    None => return self.skip(dir, at, ts),
                    Some(h) if plausible(&h, w) => {
                        let end = h.len as usize;
                        if end == rest.len() {
                            Some(w)
                        } else if end < rest.len() {
                            let next = &rest[end..];
                            let ok = match parse_header(next, w) {
                                None => true,
                                Some(h2) => plausible(&h2, w),
                            };
                            ok.then_some(w)
                        } else if at == 0 {
                            Some(w)
                        } else if rest.len() < 16 * 1024 {
                            return self.skip(dir, at, ts);
                        } else {
                            None
                        }
                    }
                    Some(_) => None,
                },
                None => match decide_width(rest, false) {
                    WidthGuess::Decided(w, _) => Some(w),
                    WidthGuess::NeedMore if rest.len() < 16 * 1024 => {
                        return self.skip(dir, at, ts);
                    }
                    _ => None,
                },
            };
            if let Some(w) = found {
                if self.width.is_none() {
                    self.width = Some(w);
                    self.counters.width = Some(w);
                    self.counters.width_from = Some("headers");
                }
                self.half[i].synced = true;
                if at == 0 {
                    return self.consume(dir, d, ts, out);
                }
                return self.skip(dir, at, ts);
            }
        }
        if limit == 0 {
            return 0;
        }
        let _ = out;
        self.skip(dir, limit, ts)
    }

    fn skip(&mut self, dir: Direction, n: usize, _ts: Timestamp) -> usize {
        if n > 0 {
            let hf = &mut self.half[dir.index()];
            hf.skipped += n as u64;
            hf.offset += n as u64;
            self.counters.skipped_bytes[dir.index()] += n as u64;
            *hf.resync_note.get_or_insert(0) += n as u64;
        }
        n
    }

    fn count(&mut self, dir: Direction, t: u8) {
        let name = packet::type_name(t).unwrap_or("UNKNOWN");
        self.counters.packets.entry(name).or_insert([0, 0])[dir.index()] += 1;
    }

    /// A whole packet of `dir` arrived.
    fn packet(&mut self, dir: Direction, h: Header, ts: Timestamp, out: &mut dyn EventSink) {
        let i = dir.index();
        self.framed += u64::from(h.len);
        self.count(dir, h.ptype);
        if dir == C2S {
            self.client_packets_after_connect = if h.ptype == ptype::CONNECT {
                0
            } else {
                self.client_packets_after_connect.saturating_add(1)
            };
        }
        let mut body = std::mem::take(&mut self.half[i].head);
        let tail: Vec<u8> = self.half[i].tail.drain(..).collect();
        let start = self.half[i].ts;
        match dir {
            C2S => self.client_seen = true,
            S2C => self.server_seen = true,
        }
        // Rebuild "the packet" view for the connect-phase parsers (header + kept body).
        let mut p = Vec::with_capacity(8 + body.len());
        p.extend_from_slice(&[0u8; 8]);
        p[4] = h.ptype;
        p.append(&mut body);
        match (dir, h.ptype) {
            (C2S, ptype::CONNECT) => self.on_connect(&p, h, start, out),
            (S2C, ptype::ACCEPT) => self.on_accept(&p, h, ts, out),
            (S2C, ptype::REFUSE) => self.on_refuse(&p, h, ts, out),
            (S2C, ptype::REDIRECT) => self.on_redirect(&p, h, ts, out),
            (S2C, ptype::RESEND) => self.on_connect_reply(h, ts, "RESEND", out),
            (_, ptype::MARKER) => {
                let m = packet::parse_marker(&p).map_or("OTHER", |(_, d)| packet::marker_name(d));
                if let Some(pd) = self.pending.as_mut() {
                    if pd.resp.markers.len() < 16 {
                        pd.resp.markers.push(m);
                    }
                    if dir == C2S {
                        pd.req_bytes += u64::from(h.len);
                    } else {
                        pd.resp_bytes += u64::from(h.len);
                        pd.last_resp_ts = Some(ts);
                    }
                } else {
                    // E.g. the OOB check's RESET marker, sent between two exchanges.
                    self.counters.unattributed_bytes += u64::from(h.len);
                }
            }
            (_, ptype::DATA) => {
                let payload_head = p.get(10..).unwrap_or(&[]);
                let flags = packet::be16(&p, 8);
                self.on_data_packet(dir, h, payload_head, &tail, flags, start, ts, out);
            }
            _ => {
                // ACK, NULL, ABORT, ATTENTION, CONTROL, DATA DESCRIPTOR, or a connect-phase
                // packet in the unexpected direction: counted, and added to the exchange's bytes.
                if let Some(pd) = self.pending.as_mut() {
                    if dir == C2S {
                        pd.req_bytes += u64::from(h.len);
                    } else {
                        pd.resp_bytes += u64::from(h.len);
                    }
                } else {
                    self.counters.unattributed_bytes += u64::from(h.len);
                }
            }
        }
    }

    fn on_connect(&mut self, p: &[u8], h: Header, ts: Timestamp, out: &mut dyn EventSink) {
        self.finish(ts, out);
        if self.width.is_none() {
            self.width = Some(Width::W16);
            self.counters.width = Some(Width::W16);
            self.counters.width_from = Some("connect");
        }
        let mut pd = Pending::new(Kind::Connect, ts);
        pd.req_bytes = u64::from(h.len);
        pd.req.packets = 1;
        if let Some((c, data)) = packet::parse_connect(p) {
            self.connect_version = Some(c.version);
            pd.connect_data_follows = c.data_follows;
            if let Some(s) = c.sdu_large.or(Some(u32::from(c.sdu))) {
                self.sdu = Some(s);
            }
            if !data.is_empty() {
                set_descriptor(&mut pd.req, data);
            }
            pd.req.connect = Some(c);
        } else {
            push_note(
                &mut pd.notes,
                Note::Text {
                    text: "CONNECT packet too short to decode".into(),
                },
            );
        }
        self.pending = Some(pd);
    }

    fn connect_pending(&mut self, ts: Timestamp) -> &mut Pending {
        let orphan =
            !matches!(self.pending.as_ref(), Some(p) if p.kind == Kind::Connect && !p.got_response);
        if orphan {
            let mut pd = Pending::new(Kind::Connect, ts);
            pd.kind = Kind::Connect;
            pd.status = Some(Status::NoRequest);
            // Keep whatever was pending: emitted by the caller before.
            self.pending = Some(pd);
        }
        self.pending.as_mut().expect("set above")
    }

    fn on_connect_reply(
        &mut self,
        h: Header,
        ts: Timestamp,
        kind: &'static str,
        out: &mut dyn EventSink,
    ) {
        if !matches!(self.pending.as_ref(), Some(p) if p.kind == Kind::Connect && !p.got_response) {
            self.finish(ts, out);
        }
        let pd = self.connect_pending(ts);
        pd.resp.kind = Some(kind);
        pd.resp.packets += 1;
        pd.resp_bytes += u64::from(h.len);
        pd.got_response = true;
        pd.complete_at = Some(ts);
        pd.last_resp_ts = Some(ts);
        if kind != "REDIRECT" || !pd.redirect_follows {
            self.finish(ts, out);
        }
    }

    fn on_accept(&mut self, p: &[u8], h: Header, ts: Timestamp, out: &mut dyn EventSink) {
        let acc = packet::parse_accept(p);
        if let Some(a) = &acc {
            self.version = Some(a.version);
            self.counters.version = Some(a.version);
            self.sdu = a
                .sdu_large
                .filter(|_| a.version >= 315)
                .or(Some(u32::from(a.sdu)));
            let w = if a.version >= 315 {
                Width::W32
            } else {
                Width::W16
            };
            self.width = Some(w);
            self.counters.width = Some(w);
            self.counters.width_from = Some("accept");
        }
        if self.late_connect_reply(h, ts, out) {
            return;
        }
        if !matches!(self.pending.as_ref(), Some(p) if p.kind == Kind::Connect && !p.got_response) {
            self.finish(ts, out);
        }
        let pd = self.connect_pending(ts);
        pd.resp.accept = acc;
        self.on_connect_reply(h, ts, "ACCEPT", out);
    }

    fn on_refuse(&mut self, p: &[u8], h: Header, ts: Timestamp, out: &mut dyn EventSink) {
        if self.late_connect_reply(h, ts, out) {
            return;
        }
        if !matches!(self.pending.as_ref(), Some(p) if p.kind == Kind::Connect && !p.got_response) {
            self.finish(ts, out);
        }
        let pd = self.connect_pending(ts);
        if let Some((u, s, data)) = packet::parse_refuse(p) {
            let text = String::from_utf8_lossy(data).into_owned();
            pd.resp.refuse_user_reason = Some(u);
            pd.resp.refuse_system_reason = Some(s);
            if pd.status != Some(Status::NoRequest) {
                pd.status = Some(Status::Error);
            }
            if let Some(code) = descriptor::err_code(&text) {
                pd.resp.ora_code = Some(code);
                pd.error = Some(format!("ORA-{code:05}: connection refused by the listener"));
            } else {
                pd.error = Some("connection refused by the listener".into());
            }
            pd.resp.data = Some(text.chars().take(512).collect());
        }
        self.on_connect_reply(h, ts, "REFUSE", out);
    }

    fn on_redirect(&mut self, p: &[u8], h: Header, ts: Timestamp, out: &mut dyn EventSink) {
        if self.late_connect_reply(h, ts, out) {
            return;
        }
        if !matches!(self.pending.as_ref(), Some(p) if p.kind == Kind::Connect && !p.got_response) {
            self.finish(ts, out);
        }
        let pd = self.connect_pending(ts);
        if let Some((n, data)) = packet::parse_redirect(p) {
            if data.is_empty() && n > 0 {
                pd.redirect_follows = true;
            } else {
                set_redirect(&mut pd.resp, data);
            }
        }
        self.on_connect_reply(h, ts, "REDIRECT", out);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_data_packet(
        &mut self,
        dir: Direction,
        h: Header,
        head: &[u8],
        tail: &[u8],
        flags: u16,
        start: Timestamp,
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let plen = u64::from(h.len);
        // Connect data / redirect data that did not fit in the connect-phase packet.
        if let Some(pd) = self.pending.as_mut() {
            if dir == C2S && pd.kind == Kind::Connect && pd.connect_data_follows && !pd.got_response
            {
                pd.connect_data_follows = false;
                set_descriptor(&mut pd.req, head);
                pd.req_bytes += plen;
                pd.req.packets += 1;
                return;
            }
            if dir == S2C && pd.kind == Kind::Connect && pd.redirect_follows {
                pd.redirect_follows = false;
                set_redirect(&mut pd.resp, head);
                pd.resp_bytes += plen;
                pd.resp.packets += 1;
                self.finish(ts, out);
                return;
            }
        }
        if head.is_empty() && flags & packet::data_flags::EOF != 0 {
            // The sender closes the session (after LOGOFF): no call.
            self.counters.eof_packets += 1;
            self.counters.unattributed_bytes += plen;
            return;
        }
        if head.len() >= 4 && head[..4] == [0xde, 0xad, 0xbe, 0xef] {
            self.counters.ano = true;
            if dir == S2C && ano_encryption_on(head) {
                if let Some(pd) = self.pending.as_mut() {
                    push_note(&mut pd.notes, Note::Encrypted);
                    push_note(&mut pd.notes, Note::Text {
                        text: "native network encryption negotiated: the rest of the connection is not decoded".into(),
                    });
                }
                self.encrypted_after = true;
            }
        }
        match dir {
            C2S => {
                let new_call = match self.pending.as_ref() {
                    None => true,
                    // The marker of a call already reported: a packet continuing that call
                    // is absorbed.
                    Some(pd) if pd.late.is_some() && !pd.got_response => starts_call(head),
                    Some(pd) if pd.kind == Kind::Orphan => true,
                    Some(pd) if pd.kind == Kind::Connect => true,
                    Some(pd) if pd.got_response => true,
                    Some(pd) => starts_call(head) && self.sdu.is_none_or(|s| pd.last_req_len < s),
                };
                if new_call {
                    self.finish(start, out);
                    self.pending = Some(Pending::new(Kind::Call, start));
                    self.take_notes(C2S);
                }
                let max = self.cfg.max_request;
                let pd = self.pending.as_mut().expect("set above");
                pd.req_bytes += plen;
                pd.req.packets += 1;
                pd.last_req_len = h.len;
                if flags & packet::data_flags::END_OF_REQUEST != 0 {
                    pd.req.end_of_request = true;
                }
                for part in [head, tail] {
                    let room = max.saturating_sub(pd.req_buf.len());
                    let n = room.min(part.len());
                    pd.req_buf.extend_from_slice(&part[..n]);
                    pd.req_dropped += (part.len() - n) as u64;
                }
            }
            S2C => {
                // Server-only capture: a reply ends at its end-of-call message, or when the
                // previous reply packet was shorter than the SDU (not continued) and this one
                // starts like a reply.
                let sdu = self.sdu;
                let server_only = !self.client_seen;
                let orphan_done = matches!(self.pending.as_ref(), Some(pd) if pd.kind == Kind::Orphan
                    && (pd.complete_at.is_some()
                        || (server_only && starts_reply(head) && sdu.is_none_or(|s| pd.last_resp_len < s))));
                if self.pending.is_none()
                    || orphan_done
                    || matches!(self.pending.as_ref(), Some(pd) if pd.kind == Kind::Connect && pd.got_response)
                {
                    self.finish(start, out);
                    let mut pd = Pending::new(Kind::Orphan, start);
                    pd.status = Some(Status::NoRequest);
                    self.pending = Some(pd);
                    self.take_notes(S2C);
                }
                let tail_max = self.cfg.max_response_tail;
                if self.rep.is_none() {
                    // Decide the representation from the call being answered, before its
                    // reply is read (the call itself is decoded when it is emitted).
                    if let Some(pd) = self.pending.as_ref().filter(|p| p.kind == Kind::Call) {
                        let d = &pd.req_buf;
                        let at = d.iter().position(|&b| b == ttc::msg::FUNCTION);
                        if let Some(m) = at.map(|a| &d[a..]) {
                            if m.get(1).is_some_and(|&f| ttc::two_ub4_call(f)) {
                                if let Some(r) = ttc::detect_rep(m) {
                                    self.rep = Some(r);
                                    self.counters.int_rep = Some(r);
                                }
                            }
                        }
                    }
                }
                let rep = self.rep;
                let fv = self.field_version;
                let pd = self.pending.as_mut().expect("set above");
                pd.resp_bytes += plen;
                pd.resp.packets += 1;
                pd.last_resp_len = h.len;
                pd.got_response = true;
                pd.last_resp_ts = Some(ts);
                // This packet's payload (bounded head + tail) after the previous tail.
                let mut cur = Vec::with_capacity(head.len() + tail.len());
                cur.extend_from_slice(head);
                cur.extend_from_slice(tail);
                let mut win = std::mem::take(&mut pd.resp_tail);
                win.extend_from_slice(&cur);
                if win.len() > tail_max {
                    win.drain(..win.len() - tail_max);
                }
                if flags & packet::data_flags::END_OF_RESPONSE != 0 {
                    pd.resp.end_of_response = true;
                }
                if pd.complete_at.is_none() {
                    let r = ttc::parse_reply_fv(&cur, rep, fv);
                    let r = if r.complete {
                        r
                    } else {
                        ttc::parse_reply_fv(&win, rep, fv)
                    };
                    if r.banner.is_some() {
                        pd.resp.banner = r.banner.clone();
                    }
                    if r.complete {
                        pd.complete_at = Some(ts);
                        apply_reply(pd, &r);
                    } else if pd.resp.end_of_response {
                        pd.complete_at = Some(ts);
                    }
                }
                pd.resp_tail = win;
            }
        }
    }

    fn take_notes(&mut self, dir: Direction) {
        let hf = &mut self.half[dir.index()];
        let (g, r) = (hf.gap_note.take(), hf.resync_note.take());
        if let Some(pd) = self.pending.as_mut() {
            if let Some(bytes) = g {
                push_note(
                    &mut pd.notes,
                    Note::Gap {
                        direction: dir,
                        bytes,
                    },
                );
                pd.partial = true;
            }
            if let Some(n) = r {
                push_note(
                    &mut pd.notes,
                    Note::Resync {
                        direction: dir,
                        skipped_bytes: n,
                    },
                );
            }
        }
    }

    /// Emit the pending exchange, if any.
    fn finish(&mut self, now: Timestamp, out: &mut dyn EventSink) {
        let Some(mut pd) = self.pending.take() else {
            return;
        };
        if let Some((reported, why)) = pd.late {
            // The marker of a call already reported: its reply (if it came) is counted, never
            // paired with another call; its bytes are in no transaction.
            self.counters.unattributed_bytes += pd.req_bytes + pd.resp_bytes;
            if pd.got_response {
                let end = pd.complete_at.or(pd.last_resp_ts).unwrap_or(now);
                let waited = end.saturating_since(pd.ts).as_micros();
                self.counters.late_replies += 1;
                self.counters.late_max_us = self.counters.late_max_us.max(waited);
                if out.detail() == Detail::Full {
                    out.message(&Message {
                        ts: end,
                        protocol: PROTOCOL,
                        connection: self.conn.id,
                        direction: S2C,
                        kind: "late_reply",
                        summary: format!(
                            "reply after {waited} us; the call was reported no_response ({why}) at {reported}"
                        ),
                        detail: (),
                    });
                }
            }
            return;
        }
        let detail = out.detail();
        let mut tx = Transaction::new(PROTOCOL, &self.conn, pd.ts, TnsDetail::default());
        tx.request_bytes = pd.req_bytes;
        tx.response_bytes = pd.resp_bytes;
        match pd.kind {
            Kind::Connect => {
                tx.command = "CONNECT".into();
                if let Some(d) = pd.req.connect_data.as_ref() {
                    tx.query = d
                        .service_name
                        .as_deref()
                        .map(|s| format!("SERVICE_NAME={s}"))
                        .or_else(|| d.sid.as_deref().map(|s| format!("SID={s}")))
                        .unwrap_or_default();
                }
            }
            Kind::Call | Kind::Orphan => self.decode_call(&mut pd, &mut tx),
        }
        if pd.gaps_not_noted > 0 {
            push_note(
                &mut pd.notes,
                Note::Text {
                    text: format!("{} more gaps inside this call", pd.gaps_not_noted),
                },
            );
        }
        if pd.req_dropped > 0 {
            push_note(
                &mut pd.notes,
                Note::Truncated {
                    field: "request",
                    len: pd.req_bytes,
                },
            );
        }
        let status = if let Some(s) = pd.status {
            s
        } else if pd.got_response {
            if pd.error.is_some() {
                Status::Error
            } else {
                Status::Ok
            }
        } else {
            Status::NoResponse
        };
        tx.status = if status == Status::Ok && pd.partial {
            Status::Partial
        } else {
            status
        };
        tx.error = pd.error.take();
        if pd.got_response && pd.kind != Kind::Orphan && tx.status != Status::NoRequest {
            let end = pd.complete_at.or(pd.last_resp_ts).unwrap_or(now);
            tx.complete_at(end);
        } else if let Some(e) = pd.last_resp_ts {
            tx.end_ts = e.max(tx.ts);
        }
        tx.notes = pd.notes;
        // The fingerprint is kept in summary mode too (`latency --by fingerprint`); the last
        // one is reused while the SQL repeats (fetches and re-executes of one cursor).
        if !tx.query.is_empty()
            && pd.kind != Kind::Connect
            && !tx.command.is_empty()
            && tx.command != "AUTH"
        {
            let fp = match &self.last_fingerprint {
                Some((q, f)) if *q == tx.query => f.clone(),
                _ => {
                    let f = wiresift_core::fingerprint(&tx.query);
                    self.last_fingerprint = Some((tx.query.clone(), f.clone()));
                    f
                }
            };
            tx.fingerprint = Some(fp);
        }
        if detail == Detail::Full {
            if pd.kind != Kind::Orphan {
                tx.detail.request = Some(std::mem::take(&mut pd.req));
            }
            if pd.got_response {
                tx.detail.response = Some(std::mem::take(&mut pd.resp));
            }
        }
        out.transaction(&mut tx);
    }

    fn decode_call(&mut self, pd: &mut Pending, tx: &mut Transaction<TnsDetail>) {
        if pd.kind == Kind::Call {
            let d = &pd.req_buf;
            if d.is_empty() {
                tx.command = "DATA".into();
                return;
            }
            if d.len() >= 4 && d[..4] == [0xde, 0xad, 0xbe, 0xef] {
                tx.command = "ANO".into();
                pd.req.message = Some("ANO");
                return;
            }
            let rep_seen = ttc::detect_rep(d);
            if self.rep.is_none()
                && d.first() == Some(&ttc::msg::FUNCTION)
                && d.get(1).is_some_and(|&f| ttc::two_ub4_call(f))
            {
                if let Some(r) = rep_seen {
                    self.rep = Some(r);
                    self.counters.int_rep = Some(r);
                }
            }
            if let Some(v) = ttc::data_types_field_version(d) {
                let v = self.server_field_version.map_or(v, |s| s.min(v));
                self.field_version = Some(v);
                self.counters.field_version = Some(v);
            }
            if d.first() == Some(&ttc::msg::PROTOCOL) {
                self.server_field_version = ttc::protocol_field_version(&pd.resp_tail);
            }
            if self.rep.is_none() && self.field_version.is_some_and(|v| v >= 18) {
                // Tokens exist only in the thin drivers' (compressed) representation.
                self.rep = Some(IntRep::Compressed);
                self.counters.int_rep = self.rep;
            }
            if let Some(v) = self.field_version {
                self.token = Some(self.rep == Some(IntRep::Compressed) && v >= 18);
            }
            let c = ttc::parse_call_fv(d, self.rep, self.token, self.cfg.max_sql.max(64) * 4);
            if self.token.is_none() {
                self.token = c.token;
            }
            pd.req.message = ttc::msg_name(c.msg_type);
            pd.req.piggybacks = c.piggybacks.clone();
            if self.rep.is_none() && c.msg_type == ttc::msg::FUNCTION {
                // From the call after the piggybacks.
            }
            if !c.piggybacks.is_empty() {
                let names: Vec<String> = c
                    .piggybacks
                    .iter()
                    .map(|p| {
                        p.function
                            .map_or(format!("function {}", p.function_code), str::to_string)
                    })
                    .collect();
                push_note(
                    &mut pd.notes,
                    Note::Text {
                        text: format!("piggybacked: {}", names.join(", ")),
                    },
                );
            }
            match c.msg_type {
                ttc::msg::FUNCTION => {
                    pd.req.function_code = Some(c.function_code);
                    pd.req.function = ttc::exec_variant(c.function_code);
                    pd.req.seq = Some(c.seq);
                    tx.command = ttc::func_name(c.function_code)
                        .map_or_else(|| format!("FUNCTION_{}", c.function_code), str::to_string);
                    pd.req.cursor = c.cursor;
                    pd.req.rows_requested = c.rows_requested;
                    pd.req.options = c.options;
                    pd.req.binds = c.binds;
                    pd.req.user = c.user.clone();
                    pd.req.auth_phase = c.auth_phase;
                    pd.req.alter_session = c.alter_session.clone();
                    if let Some(s) = &c.sql {
                        pd.req.sql_bytes = Some(c.sql_len);
                        tx.query = bound(s, self.cfg.max_sql, &mut pd.notes);
                    } else if let Some(cur) = c.cursor {
                        if let Some((_, s)) = self.cursors.iter().find(|(k, _)| *k == cur) {
                            tx.query = s.clone();
                            pd.req.sql_from_cursor = true;
                        }
                    }
                    if ttc::func_name(c.function_code).is_none()
                        || (ttc::exec_variant(c.function_code).is_some()
                            && c.sql.is_none()
                            && c.cursor.is_none())
                    {
                        pd.req.bytes_hex = Some(hex(d, 64));
                    }
                    if let Some(u) = &c.user {
                        if tx.query.is_empty() {
                            tx.query = format!("user={u}");
                        }
                    }
                }
                ttc::msg::PIGGYBACK => {
                    pd.req.function_code = Some(c.function_code);
                    tx.command = ttc::func_name(c.function_code)
                        .map_or_else(|| format!("FUNCTION_{}", c.function_code), str::to_string);
                    pd.req.bytes_hex = Some(hex(d, 64));
                }
                t => {
                    tx.command =
                        ttc::msg_name(t).map_or_else(|| format!("MESSAGE_{t}"), str::to_string);
                    if ttc::msg_name(t).is_none() {
                        pd.req.bytes_hex = Some(hex(d, 64));
                    }
                }
            }
            for n in c.notes {
                push_note(&mut pd.notes, Note::Text { text: n });
            }
        } else {
            tx.command = String::new();
        }
        // Response side: cursor map and row counts.
        let cursor = pd.resp.cursor.or(pd.req.cursor);
        if let (Some(cur), Some(rows)) = (cursor, pd.resp.rows) {
            let f = pd.req.function_code;
            let prev = self
                .cursor_rows
                .iter()
                .find(|(k, _)| *k == cur)
                .map(|(_, r)| *r);
            if f == Some(ttc::func::FETCH) {
                pd.resp.rows = Some(rows.saturating_sub(prev.unwrap_or(0)));
            }
            self.cursor_rows.retain(|(k, _)| *k != cur);
            if self.cursor_rows.len() >= self.cfg.max_cursors {
                self.cursor_rows.pop_front();
                self.counters.cursors_evicted += 1;
            }
            self.cursor_rows.push_back((cur, rows));
        }
        if let (Some(cur), false) = (pd.resp.cursor, tx.query.is_empty()) {
            if pd.req.sql_bytes.is_some() {
                if let Some(i) = self.cursors.iter().position(|(k, _)| *k == cur) {
                    if let Some((_, q)) = self.cursors.remove(i) {
                        self.cursor_bytes = self.cursor_bytes.saturating_sub(q.capacity());
                    }
                }
                if self.cursors.len() >= self.cfg.max_cursors {
                    if let Some((_, q)) = self.cursors.pop_front() {
                        self.cursor_bytes = self.cursor_bytes.saturating_sub(q.capacity());
                    }
                    self.counters.cursors_evicted += 1;
                }
                let q = tx.query.clone();
                self.cursor_bytes += q.capacity();
                self.cursors.push_back((cur, q));
            }
        }
        if pd.kind == Kind::Orphan {
            tx.command = String::new();
            if let Some(cur) = pd.resp.cursor {
                if let Some((_, s)) = self.cursors.iter().find(|(k, _)| *k == cur) {
                    tx.query = s.clone();
                }
            }
        }
    }

    /// Bytes of protocol state kept (see `ProtocolSession::state_bytes`).
    fn state_bytes(&self) -> usize {
        let h: usize = self
            .half
            .iter()
            .map(|h| h.head.capacity() + h.tail.capacity())
            .sum();
        let c = self.cursor_bytes
            + self.cursors.capacity() * std::mem::size_of::<(u32, String)>()
            + self.cursor_rows.capacity() * std::mem::size_of::<(u32, u64)>();
        let f = self
            .last_fingerprint
            .as_ref()
            .map_or(0, |(q, f)| q.capacity() + f.capacity());
        self.pending.as_ref().map_or(0, Pending::cost) + h + c + f
    }

    /// Report the waiting call now as `no_response` with `note`; a marker takes its place so
    /// that its reply, if it comes, is counted and not paired with the next call.
    fn report_early(
        &mut self,
        note: Note,
        why: &'static str,
        now: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let Some(pd) = self.pending.as_mut() else {
            return;
        };
        let ts = pd.ts;
        push_note(&mut pd.notes, note);
        self.finish(now, out);
        let mut m = Pending::new(Kind::Orphan, ts);
        m.late = Some((now, why));
        self.pending = Some(m);
    }

    fn waiting_call(&self) -> Option<&Pending> {
        self.pending.as_ref().filter(|p| {
            p.late.is_none() && !p.got_response && matches!(p.kind, Kind::Call | Kind::Connect)
        })
    }

    /// A listener's reply (ACCEPT, REFUSE, REDIRECT) to a CONNECT already reported (timed out
    /// or shed): counted as a late reply on the marker, not a `no_request` connect. What it
    /// says of the session (version, width) was applied before. Returns whether it was.
    fn late_connect_reply(&mut self, h: Header, ts: Timestamp, out: &mut dyn EventSink) -> bool {
        let Some(pd) = self
            .pending
            .as_mut()
            .filter(|p| p.late.is_some() && !p.got_response)
        else {
            return false;
        };
        pd.resp_bytes += u64::from(h.len);
        pd.got_response = true;
        pd.complete_at = Some(ts);
        pd.last_resp_ts = Some(ts);
        self.finish(ts, out);
        true
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let mut n = 0;
        for h in self.half.iter_mut() {
            if matches!(h.mode, Mode::Header) {
                h.head = Vec::new();
                h.tail = VecDeque::new();
            }
        }
        // Cursor maps first, oldest first (counted as evicted: later calls on those cursors
        // are reported without their SQL, as for a cursor opened before the capture).
        while self.state_bytes() > limit
            && !(self.cursors.is_empty() && self.cursor_rows.is_empty())
        {
            if let Some((_, q)) = self.cursors.pop_front() {
                self.cursor_bytes = self.cursor_bytes.saturating_sub(q.capacity());
                self.counters.cursors_evicted += 1;
                n += 1;
            }
            if self.cursors.len() < self.cursor_rows.len() {
                self.cursor_rows.pop_front();
            }
        }
        if self.state_bytes() > limit && self.last_fingerprint.take().is_some() {
            n += 1;
        }
        if self.state_bytes() > limit && self.waiting_call().is_some() {
            self.counters.shed_calls += 1;
            self.report_early(
                Note::Shed {
                    budget: "connection",
                },
                "shed",
                ts,
                out,
            );
            n += 1;
        }
        if limit == 0
            && self.state_bytes() > limit
            && self
                .pending
                .as_ref()
                .is_some_and(|p| p.late.is_some() && !p.got_response)
        {
            // Last resort (the engine's `shed(0)` before it stops dissecting the connection):
            // the marker of a reported call (its reply, if it comes, is a `no_request`); the
            // bytes it absorbed are in no transaction.
            if let Some(m) = self.pending.take() {
                self.counters.unattributed_bytes += m.req_bytes + m.resp_bytes;
            }
            n += 1;
        }
        if self.state_bytes() > limit {
            self.cursors.shrink_to_fit();
            self.cursor_rows.shrink_to_fit();
        }
        n
    }

    fn close(&mut self, ts: Timestamp, out: &mut dyn EventSink) {
        self.finish(ts, out);
        if out.detail() == Detail::Full {
            out.message(&Message {
                ts,
                protocol: PROTOCOL,
                connection: self.conn.id,
                direction: C2S,
                kind: "tns_summary",
                summary: format!(
                    "version={} width={:?} packets={}",
                    self.version.map_or("?".into(), |v| v.to_string()),
                    self.width,
                    self.counters
                        .packets
                        .values()
                        .map(|v| v[0] + v[1])
                        .sum::<u64>()
                ),
                detail: self.counters.clone(),
            });
        }
    }
}

fn bound(s: &str, max: usize, notes: &mut Vec<Note>) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    push_note(
        notes,
        Note::Truncated {
            field: "query",
            len: s.len() as u64,
        },
    );
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn apply_reply(pd: &mut Pending, r: &ttc::Reply) {
    pd.resp.ora_code = r.ora_code;
    pd.resp.cursor = r.cursor;
    pd.resp.rows = r.row_number;
    if let Some(code) = r.ora_code {
        if code != 0 && code != 1403 {
            pd.error = Some(
                r.message
                    .clone()
                    .unwrap_or_else(|| format!("ORA-{code:05}")),
            );
        }
    }
}

/// Does a DATA payload start a new call (a function or piggyback with a known function code,
/// a negotiation message, or the ANO header)?
fn starts_call(d: &[u8]) -> bool {
    match d {
        [0xde, 0xad, 0xbe, 0xef, ..] => true,
        [t, f, ..] if (*t == ttc::msg::FUNCTION || *t == ttc::msg::PIGGYBACK) => {
            ttc::func_name(*f).is_some() || *f == ttc::func::SESSION_OP || *f == ttc::func::OALL
        }
        [1, 6, ..] | [2, ..] => true,
        _ => false,
    }
}

/// Does a DATA payload start like a reply (negotiation replies, describe, row header,
/// parameters, error, status, ANO)?
fn starts_reply(d: &[u8]) -> bool {
    matches!(
        d,
        [0xde, 0xad, 0xbe, 0xef, ..] | [1 | 2 | 4 | 6 | 8 | 9 | 11 | 16 | 23, ..]
    )
}

fn set_descriptor(req: &mut TnsRequest, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    req.connect_data = Some(descriptor::parse(&text));
    req.connect_descriptor = Some(text.chars().take(2048).collect());
}

fn set_redirect(resp: &mut TnsResponse, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    resp.redirect = descriptor::parse(&text).address;
    resp.data = Some(text.chars().take(512).collect());
}

/// In a server ANO reply, is the encryption service's chosen algorithm non-zero?
///
/// ANO packet: `DEADBEEF`, length u16, version u32, service count u16, flags u8; then per
/// service: type u16, sub-packet count u16, error u32, and sub-packets (length u16, type u16,
/// value). The encryption service is type 2; in the server's reply its second sub-packet is
/// the chosen algorithm (one byte).
pub fn ano_encryption_on(d: &[u8]) -> bool {
    if d.len() < 13 {
        return false;
    }
    let n = usize::from(packet::be16(d, 10));
    let mut at = 13usize;
    for _ in 0..n.min(8) {
        let stype = packet::be16(d, at);
        let subs = usize::from(packet::be16(d, at + 2));
        at += 8;
        for k in 0..subs.min(16) {
            let len = usize::from(packet::be16(d, at));
            let val = d.get(at + 4..at + 4 + len);
            if stype == 2 && k == 1 && len == 1 {
                return val.is_some_and(|v| v[0] != 0);
            }
            at += 4 + len;
            if at > d.len() {
                return false;
            }
        }
    }
    false
}

impl TnsSession {
    fn feed(&mut self, dir: Direction, data: &[u8], ts: Timestamp, out: &mut dyn EventSink) {
        let st = &mut self.st;
        let buf = &mut self.bufs[dir.index()];
        st.carried_left[dir.index()] = buf.len();
        let res = buf.feed(data, |d| st.consume(dir, d, ts, out));
        st.carried_left[dir.index()] = 0;
        if !buf.is_empty() && buf.len() > data.len() {
            // Still holding bytes from before this chunk: keep their (older) time.
        } else if !buf.is_empty() {
            st.carry_ts[dir.index()] = ts;
        }
        if let Err(e) = res {
            st.anomaly(dir, ts, format!("{e}: bytes skipped, resynchronising"), out);
            st.skip(dir, e.have, ts);
            st.half[dir.index()].synced = false;
            st.half[dir.index()].mode = Mode::Header;
        }
        if st.encrypted_after {
            st.encrypted_after = false;
            st.encrypted = true;
        }
    }
}

impl ProtocolSession for TnsSession {
    fn late_replies(&self) -> u64 {
        self.st.counters.late_replies
    }

    fn accounting(&self) -> Option<ByteAccounting> {
        let st = &self.st;
        let mut held = (self.bufs[0].len() + self.bufs[1].len()) as u64;
        for h in &st.half {
            if let Mode::Body { h, remaining } = h.mode {
                held += u64::from(h.len).saturating_sub(remaining);
            }
        }
        Some(ByteAccounting {
            delivered: st.delivered,
            parsed: st.framed + st.counters.oob_bytes,
            skipped: st.counters.skipped_bytes[0] + st.counters.skipped_bytes[1],
            undissected: st.counters.encrypted_bytes,
            held,
        })
    }

    fn state_bytes(&self) -> usize {
        self.bufs[0].len() + self.bufs[1].len() + self.st.state_bytes()
    }

    fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        // An eighth below the limit: a session at its cap sheds a batch now and then, not one
        // item after every callback.
        let limit = limit - limit / 8;
        let framing = self.bufs[0].len() + self.bufs[1].len();
        let mut n = self.st.shed(limit.saturating_sub(framing), ts, out);
        if limit == 0 && self.state_bytes() > 0 {
            // `shed(0)`: the engine stops dissecting a session that cannot get to nothing, so
            // report the call in progress now (`partial`, `shed` note) and drop the partial
            // packets (counted as skipped); both directions resynchronise.
            if let Some(pd) = self.st.pending.as_mut() {
                if pd.late.is_none() {
                    pd.partial = true;
                    push_note(
                        &mut pd.notes,
                        Note::Shed {
                            budget: "connection",
                        },
                    );
                    self.st.counters.shed_calls += 1;
                    self.st.finish(ts, out);
                } else if let Some(m) = self.st.pending.take() {
                    // A marker: the bytes it absorbed are in no transaction.
                    self.st.counters.unattributed_bytes += m.req_bytes + m.resp_bytes;
                }
                n += 1;
            }
            for d in [C2S, S2C] {
                let i = d.index();
                let dropped = self.bufs[i].clear();
                let st = &mut self.st;
                st.skip(d, dropped, ts);
                if let Mode::Body { h, remaining } = st.half[i].mode {
                    st.counters.skipped_bytes[i] += u64::from(h.len).saturating_sub(remaining);
                    st.half[i].synced = false;
                }
                let hf = &mut st.half[i];
                hf.mode = Mode::Header;
                hf.head = Vec::new();
                hf.tail = VecDeque::new();
                if dropped > 0 {
                    hf.synced = false;
                }
            }
            // Reporting the call may have filled the maps again.
            let st = &mut self.st;
            st.counters.cursors_evicted += st.cursors.len() as u64;
            st.cursors = VecDeque::new();
            st.cursor_rows = VecDeque::new();
            st.cursor_bytes = 0;
            st.last_fingerprint = None;
        }
        n
    }

    fn timer_deadline(&self, request_timeout: Duration) -> Option<Timestamp> {
        self.st
            .waiting_call()
            .map(|p| p.ts.saturating_add(request_timeout))
    }

    fn on_timer(
        &mut self,
        now: Timestamp,
        request_timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let Some(p) = self.st.waiting_call() else {
            return 0;
        };
        let waited = now.saturating_since(p.ts);
        if waited < request_timeout {
            return 0;
        }
        self.st.counters.timed_out += 1;
        self.st.report_early(
            Note::RequestTimeout {
                waited_us: waited.as_micros(),
            },
            "timeout",
            now,
            out,
        );
        1
    }

    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        self.st.delivered += chunk.data.len() as u64;
        let width_before = self.st.width;
        self.feed(chunk.dir, chunk.data, chunk.ts, out);
        if width_before.is_none() && self.st.width.is_some() {
            // This direction decided the width: bytes the other direction held while it was
            // unknown can be framed now.
            let other = chunk.dir.reverse();
            if !self.bufs[other.index()].is_empty() {
                // At the time those bytes arrived, not now.
                let held_ts = self.st.carry_ts[other.index()];
                self.feed(other, &[], held_ts, out);
            }
        }
        Flow::Continue
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        let i = gap.dir.index();
        let dropped = self.bufs[i].clear() as u64;
        let st = &mut self.st;
        st.skip(gap.dir, dropped as usize, gap.ts);
        if let Mode::Body { h, remaining } = st.half[i].mode {
            // The packet the gap cut: the bytes of it already consumed are counted as skipped.
            st.counters.skipped_bytes[i] += u64::from(h.len).saturating_sub(remaining);
        }
        let hf = &mut st.half[i];
        hf.offset += gap.len.unwrap_or(0);
        hf.mode = Mode::Header;
        hf.head.clear();
        hf.tail.clear();
        hf.synced = false;
        hf.gap_note = Some(gap.len);
        if let Some(pd) = st.pending.as_mut() {
            // Bounded: one call spanning many holes keeps the first MAX_GAP_NOTES gap notes
            // and counts the rest in the last one.
            let gaps = pd
                .notes
                .iter()
                .filter(|n| matches!(n, Note::Gap { .. }))
                .count();
            if gaps < MAX_GAP_NOTES {
                push_note(
                    &mut pd.notes,
                    Note::Gap {
                        direction: gap.dir,
                        bytes: gap.len,
                    },
                );
            } else {
                pd.gaps_not_noted += 1;
            }
            pd.partial = true;
            hf.gap_note = None;
        }
        let _ = out;
        Flow::Continue
    }

    fn on_close(&mut self, ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        for d in [C2S, S2C] {
            let i = d.index();
            let left = self.bufs[i].clear();
            if left > 0 {
                self.st.skip(d, left, ts);
            }
            if let Mode::Body { h, remaining } = self.st.half[i].mode {
                // A packet cut by the end of the capture: its bytes are counted as skipped.
                self.st.half[i].mode = Mode::Header;
                let seen = u64::from(h.len).saturating_sub(remaining);
                self.st.counters.skipped_bytes[i] += seen;
                if h.ptype == ptype::DATA {
                    if let Some(pd) = self.st.pending.as_mut() {
                        pd.partial = true;
                        push_note(
                            &mut pd.notes,
                            Note::Text {
                                text: "last packet cut by the end of the capture".into(),
                            },
                        );
                    }
                }
            }
        }
        self.st.close(ts, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ANO reply as laid out by the clients' parsers: header (magic, length, version,
    /// service count, flags), then supervisor, authentication, encryption and data integrity
    /// services; `alg` is the encryption algorithm the server chose (0: none).
    fn ano_reply(alg: u8) -> Vec<u8> {
        let mut v = vec![0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 4, 0];
        let version = [0u8, 4, 0, 5, 0x0b, 0x20, 1, 0];
        // supervisor: version, status, raw array
        v.extend_from_slice(&[0, 4, 0, 3, 0, 0, 0, 0]);
        v.extend_from_slice(&version);
        v.extend_from_slice(&[0, 2, 0, 6, 0, 0x1f]);
        v.extend_from_slice(&[0, 2, 0, 1, 0, 0]);
        // authentication: version, status
        v.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 0]);
        v.extend_from_slice(&version);
        v.extend_from_slice(&[0, 2, 0, 6, 0xfb, 0xff]);
        // encryption: version, chosen algorithm (UB1)
        v.extend_from_slice(&[0, 2, 0, 2, 0, 0, 0, 0]);
        v.extend_from_slice(&version);
        v.extend_from_slice(&[0, 1, 0, 2, alg]);
        // data integrity: version, chosen algorithm
        v.extend_from_slice(&[0, 3, 0, 2, 0, 0, 0, 0]);
        v.extend_from_slice(&version);
        v.extend_from_slice(&[0, 1, 0, 2, 0]);
        let n = v.len() as u16;
        v[4..6].copy_from_slice(&n.to_be_bytes());
        v
    }

    #[test]
    fn data_descriptor_data_is_skipped_by_its_length() {
        let conn = ConnectionInfo {
            id: wiresift_core::ConnectionId(1),
            client: wiresift_core::Endpoint::new([10, 0, 0, 1].into(), 40000),
            server: wiresift_core::Endpoint::new([10, 0, 0, 2].into(), 1521),
            start: Timestamp(0),
            midstream: false,
        };
        let mut s = TnsSession::new(&conn, TnsConfig::default());
        let mut out: Vec<wiresift_core::SessionEvent> = Vec::new();
        // CONNECT/ACCEPT at 314, then a DATA DESCRIPTOR (16-byte packet announcing 100 bytes
        // that follow uncounted), then a COMMIT call and its STATUS reply.
        let mut c = vec![0u8; 58];
        c[4] = ptype::CONNECT;
        c[8..10].copy_from_slice(&314u16.to_be_bytes());
        c[0..2].copy_from_slice(&58u16.to_be_bytes());
        let mut a = vec![0u8; 32];
        a[4] = ptype::ACCEPT;
        a[8..10].copy_from_slice(&314u16.to_be_bytes());
        a[0..2].copy_from_slice(&32u16.to_be_bytes());
        let mut dd = pkt(ptype::DATA_DESCRIPTOR, &[0, 0, 0, 0, 0, 0, 0, 100]);
        dd.extend_from_slice(&[0xab; 100]);
        let commit = pkt(ptype::DATA, &[0, 0, 3, 14, 1]);
        let status = pkt(ptype::DATA, &[0, 0, 9, 0, 0, 0, 0, 1, 0]);
        for (dir, d) in [
            (C2S, &c),
            (S2C, &a),
            (C2S, &dd),
            (C2S, &commit),
            (S2C, &status),
        ] {
            s.on_data(
                &StreamChunk {
                    dir,
                    ts: Timestamp(1),
                    data: d,
                    held: Default::default(),
                },
                &mut out as &mut dyn EventSink,
            );
        }
        s.on_close(
            Timestamp(2),
            CloseReason::Fin,
            &mut out as &mut dyn EventSink,
        );
        assert_eq!(s.counters().skipped_bytes, [0, 0]);
        assert_eq!(s.counters().packets["DATA_DESCRIPTOR"], [1, 0]);
        let cmds: Vec<String> = out
            .iter()
            .filter_map(|e| match e {
                wiresift_core::SessionEvent::Transaction(t) => Some(t.command.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(cmds, vec!["CONNECT", "COMMIT"]);
    }

    #[test]
    fn ano_encryption_detected() {
        assert!(!ano_encryption_on(&ano_reply(0)));
        assert!(ano_encryption_on(&ano_reply(17)));
        assert!(!ano_encryption_on(&ano_reply(17)[..40]));
        assert!(!ano_encryption_on(b"\xde\xad\xbe\xef"));
    }

    fn pkt(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = ((8 + body.len()) as u16).to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0, t, 0, 0, 0]);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn encrypted_connection_is_counted_not_decoded() {
        let conn = ConnectionInfo {
            id: wiresift_core::ConnectionId(1),
            client: wiresift_core::Endpoint::new([10, 0, 0, 1].into(), 40000),
            server: wiresift_core::Endpoint::new([10, 0, 0, 2].into(), 1521),
            start: Timestamp(0),
            midstream: true,
        };
        let mut s = TnsSession::new(&conn, TnsConfig::default());
        let mut out: Vec<wiresift_core::SessionEvent> = Vec::new();
        let mut feed = |s: &mut TnsSession, dir, d: &[u8], t| {
            s.on_data(
                &StreamChunk {
                    dir,
                    ts: Timestamp(t),
                    data: d,
                    held: Default::default(),
                },
                &mut out as &mut dyn EventSink,
            );
        };
        let mut q = vec![0, 0];
        q.extend_from_slice(&ano_reply(0));
        let mut r = vec![0, 0];
        r.extend_from_slice(&ano_reply(17));
        feed(&mut s, C2S, &pkt(6, &q), 1);
        feed(&mut s, S2C, &pkt(6, &r), 2);
        let secret = [0x5au8; 300];
        feed(&mut s, C2S, &secret, 3);
        feed(&mut s, S2C, &secret, 4);
        s.on_close(
            Timestamp(5),
            CloseReason::Fin,
            &mut out as &mut dyn EventSink,
        );
        assert_eq!(s.counters().encrypted_bytes, 600);
        assert!(s.counters().ano);
        let txs: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                wiresift_core::SessionEvent::Transaction(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(txs.len(), 1);
        assert_eq!(txs[0].command, "ANO");
        assert!(txs[0].notes.contains(&Note::Encrypted));
    }
}
