//! Proxy tunnels: HTTP `CONNECT` and SOCKS4 / SOCKS4a / SOCKS5 (no authentication, or
//! user/password, RFC 1928 and RFC 1929).
//!
//! The [`TunnelPlugin`] (name `tunnel`, ports 1080 and 3128, and probing: a client that starts
//! with `CONNECT host:port HTTP/1.x`, a SOCKS4 request or a SOCKS5 greeting) follows the set-up
//! of the tunnel and reports it as one transaction, `command` = `TUNNEL`:
//!
//! - `request`: [`TunnelRequest`] — `kind` (`http_connect`, `socks4`, `socks4a`, `socks5`), the
//!   target `host` and `port`, the SOCKS5 `methods` offered and the `auth` method used, the
//!   `user` (SOCKS4 user id, SOCKS5 user name, HTTP `Proxy-Authorization: Basic` user).
//!   Passwords are never copied.
//! - `response`: [`TunnelResponse`] — the proxy's reply `code` (HTTP status, SOCKS4 `CD`,
//!   SOCKS5 `REP`, or the failed authentication's status) and `text`, and the `bound` address
//!   the proxy reports.
//! - `status` is `ok` when the tunnel was established, `error` when the proxy refused it;
//!   `latency_us` runs from the client's first byte to the proxy's final reply.
//!
//! Once the tunnel is up the session returns [`Flow::Handover`]: the engine dissects what
//! follows as a new stream (the target's port, then probing), and reports its transactions with
//! the proxy as `proxy` and the tunnel's target as `server` when the client gave the target as
//! an address. A target given as a host name cannot be an endpoint: the transactions inside then
//! keep the proxy as `server` too (the TUNNEL transaction and the flow record's `tunnel.target`
//! name the host).
//!
//! An HTTP proxy that refuses a CONNECT (`407` …) may be asked again on the same connection: the
//! session skips the refusal's body (`Content-Length`) and waits for the next CONNECT. SOCKS
//! refusals end the dissection (the proxy closes). SOCKS5 GSSAPI, BIND and UDP ASSOCIATE are
//! reported and not followed.

use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use wiresift_core::{
    CloseReason, ConnectionInfo, Direction, Endpoint, EventSink, Flow, GapInfo, Handover, Note,
    ParseAnomaly, ProbeResult, ProtocolSession, ReqResp, Status, StreamChunk, TcpProtocolPlugin,
    Timestamp, Transaction,
};

/// Plugin name, the TUNNEL transactions' `protocol`.
pub const PROTOCOL: &str = "tunnel";
/// The set-up transaction's `command`.
pub const TUNNEL_COMMAND: &str = "TUNNEL";

/// Longest HTTP head (request or reply) of a CONNECT exchange kept; a SOCKS set-up is far
/// shorter.
const MAX_TUNNEL_HEAD: usize = 8 * 1024;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// What the client asked the proxy for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TunnelRequest {
    /// `http_connect`, `socks4`, `socks4a` or `socks5`.
    pub kind: &'static str,
    /// SOCKS command when it is not CONNECT (`bind`, `udp_associate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socks_command: Option<&'static str>,
    /// Target host: an address, or a name.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// SOCKS5: the authentication methods the client offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<&'static str>,
    /// The authentication used (`none`, `user_password`, `basic`, …), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<&'static str>,
    /// User name (SOCKS4 user id, SOCKS5 user, HTTP Basic user). Never the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// The proxy's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TunnelResponse {
    /// HTTP status, SOCKS4 `CD` (90 = granted), SOCKS5 `REP` (0 = succeeded), or the status
    /// of a failed SOCKS5 authentication.
    pub code: u16,
    /// HTTP reason phrase, or what the SOCKS code means.
    pub text: String,
    /// The address the proxy reports it bound (SOCKS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
}

/// The TUNNEL transaction's detail.
pub type TunnelDetail = ReqResp<TunnelRequest, TunnelResponse>;

/// The proxy tunnel plugin. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct TunnelPlugin;

impl TcpProtocolPlugin for TunnelPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }
    /// 1080 (SOCKS) and 3128 (squid). Other ports are found by probing.
    fn default_ports(&self) -> &'static [u16] {
        &[1080, 3128]
    }
    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        if dir == S2C {
            return ProbeResult::NoMatch;
        }
        probe_client(data)
    }
    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(TunnelSession::new(conn))
    }
}

fn probe_client(d: &[u8]) -> ProbeResult {
    const CONNECT: &[u8] = b"CONNECT ";
    match d.first() {
        None => ProbeResult::NeedMore,
        Some(b'C') => {
            if d.len() < CONNECT.len() {
                return if CONNECT.starts_with(d) {
                    ProbeResult::NeedMore
                } else {
                    ProbeResult::NoMatch
                };
            }
            if !d.starts_with(CONNECT) {
                return ProbeResult::NoMatch;
            }
            match memchr::memchr(b'\n', d) {
                Some(e) => {
                    let line = d[..e].strip_suffix(b"\r").unwrap_or(&d[..e]);
                    match parse_connect_line(line) {
                        Some(_) => ProbeResult::Match,
                        None => ProbeResult::NoMatch,
                    }
                }
                None if d.len() < 512 => ProbeResult::NeedMore,
                None => ProbeResult::NoMatch,
            }
        }
        Some(4) => match socks4_request(d) {
            Parse::Done(_) => ProbeResult::Match,
            Parse::More => ProbeResult::NeedMore,
            Parse::Bad(_) => ProbeResult::NoMatch,
        },
        Some(5) => {
            let Some(&n) = d.get(1) else {
                return ProbeResult::NeedMore;
            };
            // A real client offers a handful of methods and then waits for the choice (or
            // goes on with the user/password sub-negotiation or the request).
            if n == 0 || n > 16 {
                return ProbeResult::NoMatch;
            }
            let end = 2 + n as usize;
            match d.len().cmp(&end) {
                std::cmp::Ordering::Less => ProbeResult::NeedMore,
                std::cmp::Ordering::Equal => ProbeResult::Match,
                std::cmp::Ordering::Greater if matches!(d[end], 1 | 5) => ProbeResult::Match,
                std::cmp::Ordering::Greater => ProbeResult::NoMatch,
            }
        }
        Some(_) => ProbeResult::NoMatch,
    }
}

/// `CONNECT host:port HTTP/1.x` → (target, version).
fn parse_connect_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = line.strip_prefix(b"CONNECT ")?;
    let sp = memchr::memchr(b' ', rest)?;
    let (target, ver) = (&rest[..sp], &rest[sp + 1..]);
    if target.is_empty() || !ver.starts_with(b"HTTP/1.") {
        return None;
    }
    split_host_port(target)?;
    Some((target, ver))
}

/// `host:port` or `[v6]:port`.
fn split_host_port(t: &[u8]) -> Option<(String, u16)> {
    let colon = memchr::memrchr(b':', t)?;
    let port: u16 = std::str::from_utf8(&t[colon + 1..]).ok()?.parse().ok()?;
    let host = &t[..colon];
    let host = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    if host.is_empty() || host.len() > 255 || !host.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    Some((String::from_utf8_lossy(host).into_owned(), port))
}

enum Parse<T> {
    Done(T),
    More,
    Bad(&'static str),
}

/// A parsed SOCKS4/4a request: (length, command, port, host, is 4a, user id).
type Socks4Req = (usize, u8, u16, String, bool, String);

fn socks4_request(d: &[u8]) -> Parse<Socks4Req> {
    if d.len() < 9 {
        return Parse::More;
    }
    if d[0] != 4 || !matches!(d[1], 1 | 2) {
        return Parse::Bad("not a SOCKS4 request");
    }
    let port = u16::from_be_bytes([d[2], d[3]]);
    let ip = Ipv4Addr::new(d[4], d[5], d[6], d[7]);
    let Some(nul) = memchr::memchr(0, &d[8..]) else {
        return if d.len() < 8 + 256 {
            Parse::More
        } else {
            Parse::Bad("SOCKS4 user id longer than 255 bytes")
        };
    };
    let user = String::from_utf8_lossy(&d[8..8 + nul]).into_owned();
    let mut end = 8 + nul + 1;
    // SOCKS4a: 0.0.0.x (x != 0) means "the host name follows".
    let o = ip.octets();
    if o[..3] == [0, 0, 0] && o[3] != 0 {
        let Some(n2) = memchr::memchr(0, &d[end..]) else {
            return if d.len() < end + 256 {
                Parse::More
            } else {
                Parse::Bad("SOCKS4a host name longer than 255 bytes")
            };
        };
        let host = String::from_utf8_lossy(&d[end..end + n2]).into_owned();
        end += n2 + 1;
        return Parse::Done((end, d[1], port, host, true, user));
    }
    Parse::Done((end, d[1], port, ip.to_string(), false, user))
}

/// A SOCKS5 address (`ATYP` …) at the start of `d`: (host, port, address if any, length).
fn socks5_addr(d: &[u8]) -> Parse<(String, u16, Option<IpAddr>, usize)> {
    let Some(&atyp) = d.first() else {
        return Parse::More;
    };
    let (host, ip, n) = match atyp {
        1 => {
            if d.len() < 7 {
                return Parse::More;
            }
            let ip = IpAddr::V4(Ipv4Addr::new(d[1], d[2], d[3], d[4]));
            (ip.to_string(), Some(ip), 5)
        }
        3 => {
            let Some(&len) = d.get(1) else {
                return Parse::More;
            };
            let n = 2 + len as usize;
            if d.len() < n + 2 {
                return Parse::More;
            }
            (String::from_utf8_lossy(&d[2..n]).into_owned(), None, n)
        }
        4 => {
            if d.len() < 19 {
                return Parse::More;
            }
            let mut o = [0u8; 16];
            o.copy_from_slice(&d[1..17]);
            let ip = IpAddr::V6(Ipv6Addr::from(o));
            (ip.to_string(), Some(ip), 17)
        }
        _ => return Parse::Bad("unknown SOCKS5 address type"),
    };
    let port = u16::from_be_bytes([d[n], d[n + 1]]);
    Parse::Done((host, port, ip, n + 2))
}

fn socks5_method(m: u8) -> &'static str {
    match m {
        0 => "none",
        1 => "gssapi",
        2 => "user_password",
        3 => "challenge_handshake",
        5 => "challenge_response",
        6 => "ssl",
        7 => "nds",
        8 => "multi_authentication",
        9 => "json_parameter_block",
        0x80..=0xfe => "private",
        0xff => "no_acceptable_methods",
        _ => "unassigned",
    }
}

fn socks5_reply_text(rep: u8) -> &'static str {
    match rep {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned",
    }
}

fn socks4_reply_text(cd: u8) -> &'static str {
    match cd {
        90 => "request granted",
        91 => "request rejected or failed",
        92 => "rejected: cannot connect to identd on the client",
        93 => "rejected: identd reports a different user id",
        _ => "unassigned",
    }
}

/// Where the set-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The client's first message (a CONNECT head, a SOCKS4 request, a SOCKS5 greeting).
    Start,
    HttpReply,
    /// Skipping the body of a refused CONNECT's reply.
    HttpBody {
        left: u64,
    },
    Socks4Reply,
    Socks5Method,
    Socks5Auth,
    Socks5AuthReply,
    Socks5Request,
    Socks5Reply,
    /// Tunnel up (hand-over pending) or dissection over.
    Done,
}

/// Bytes of one direction not yet consumed.
#[derive(Debug, Default)]
struct Half {
    buf: Vec<u8>,
    /// Capture time of the latest chunk (of the bytes the hand-over replays).
    ts: Timestamp,
    /// Capture time of the oldest byte in `buf`.
    first_ts: Timestamp,
}

/// One proxy connection's set-up. See the module documentation.
#[derive(Debug)]
pub struct TunnelSession {
    conn: ConnectionInfo,
    phase: Phase,
    half: [Half; 2],
    tx: Option<Transaction<TunnelDetail>>,
    target: Option<Endpoint>,
    /// The request of the last finished set-up (what the hand-over names).
    last: Option<TunnelRequest>,
    /// Proxy bytes were delivered at least once.
    server_seen: bool,
    handover: Option<Handover>,
}

impl TunnelSession {
    /// A session for `conn`.
    pub fn new(conn: &ConnectionInfo) -> Self {
        TunnelSession {
            conn: *conn,
            phase: Phase::Start,
            half: Default::default(),
            tx: None,
            target: None,
            last: None,
            server_seen: false,
            handover: None,
        }
    }

    fn anomaly(&self, dir: Direction, ts: Timestamp, reason: String, out: &mut dyn EventSink) {
        out.anomaly(&ParseAnomaly {
            ts,
            protocol: PROTOCOL,
            connection: self.conn.id,
            direction: dir,
            offset: None,
            reason,
        });
    }

    fn consume(&mut self, dir: Direction, n: usize) {
        let h = &mut self.half[dir.index()];
        h.buf.drain(..n);
        h.first_ts = h.ts;
        if let Some(tx) = self.tx.as_mut() {
            if dir == C2S {
                tx.request_bytes += n as u64;
            } else {
                tx.response_bytes += n as u64;
            }
        }
    }

    fn start_tx(&mut self, req: TunnelRequest, query: String) {
        let ts = self.half[0].first_ts;
        let mut tx = Transaction::new(PROTOCOL, &self.conn, ts, TunnelDetail::default());
        tx.command = TUNNEL_COMMAND.into();
        tx.query = query;
        tx.detail.request = Some(req);
        self.tx = Some(tx);
    }

    fn req_mut(&mut self) -> Option<&mut TunnelRequest> {
        self.tx.as_mut().and_then(|t| t.detail.request.as_mut())
    }

    /// The proxy answered: report the set-up; `ok` hands the connection over.
    fn finish(&mut self, resp: TunnelResponse, ok: bool, out: &mut dyn EventSink) {
        let end = self.half[1].ts;
        if let Some(mut tx) = self.tx.take() {
            self.last = tx.detail.request.clone();
            tx.complete_at(end);
            tx.status = if ok { Status::Ok } else { Status::Error };
            if !ok {
                tx.error = Some(resp.text.clone());
            }
            tx.detail.response = Some(resp);
            out.transaction(&mut tx);
        }
    }

    fn fail(&mut self, dir: Direction, why: &str, out: &mut dyn EventSink) {
        let ts = self.half[dir.index()].ts;
        self.anomaly(dir, ts, format!("proxy set-up not understood: {why}"), out);
        self.flush(None, out);
        self.phase = Phase::Done;
    }

    /// Report a set-up that got no (complete) reply.
    fn flush(&mut self, note: Option<Note>, out: &mut dyn EventSink) {
        if let Some(mut tx) = self.tx.take() {
            tx.notes.extend(note);
            out.transaction(&mut tx);
        }
    }

    /// The tunnel is up: what is left in the buffers belongs to the protocol inside.
    fn up(&mut self) -> Flow {
        let kind = self.last.as_ref().map_or("tunnel", |r| r.kind);
        self.phase = Phase::Done;
        let mut replay: Vec<(Direction, Timestamp, Vec<u8>)> = Vec::new();
        let mut order = [C2S, S2C];
        if self.half[1].ts < self.half[0].ts {
            order.swap(0, 1);
        }
        for d in order {
            let h = &mut self.half[d.index()];
            if !h.buf.is_empty() {
                replay.push((d, h.ts, std::mem::take(&mut h.buf)));
            }
        }
        let name = self.last.as_ref().map(|r| fmt_target(&r.host, r.port));
        self.handover = Some(Handover {
            kind,
            target: self.target,
            target_name: name,
            next: None,
            replay,
        });
        Flow::Handover
    }

    /// Make as much progress as the buffered bytes allow.
    fn advance(&mut self, out: &mut dyn EventSink) -> Flow {
        loop {
            let before = self.phase;
            let flow = self.step(out);
            if flow != Flow::Continue {
                return flow;
            }
            if self.phase == Phase::Done {
                return Flow::Detach;
            }
            if self.phase == before {
                return Flow::Continue;
            }
        }
    }

    /// One-sided capture (no proxy byte seen): the client went on, so the proxy granted what
    /// it waited for. Returns the flow when it decided something.
    fn assume_reply(&mut self, out: &mut dyn EventSink) -> Option<Flow> {
        if self.server_seen {
            return None;
        }
        let &next = self.half[0].buf.first()?;
        match self.phase {
            Phase::HttpReply | Phase::Socks4Reply | Phase::Socks5Reply => {
                // The client is speaking the protocol inside: the tunnel is up.
                if let Some(mut tx) = self.tx.take() {
                    self.last = tx.detail.request.clone();
                    tx.notes.push(Note::Text {
                        text: "no proxy reply captured: the client went on as if granted".into(),
                    });
                    out.transaction(&mut tx);
                }
                Some(self.up())
            }
            Phase::Socks5Method => {
                // The next client message shows the method: a user/password request (version
                // 1) or the CONNECT request (version 5).
                let (m, phase) = match next {
                    1 => (2, Phase::Socks5Auth),
                    _ => (0, Phase::Socks5Request),
                };
                if let Some(r) = self.req_mut() {
                    r.auth = Some(socks5_method(m));
                }
                self.phase = phase;
                Some(Flow::Continue)
            }
            Phase::Socks5AuthReply => {
                self.phase = Phase::Socks5Request;
                Some(Flow::Continue)
            }
            _ => None,
        }
    }

    fn step(&mut self, out: &mut dyn EventSink) -> Flow {
        if let Some(f) = self.assume_reply(out) {
            return f;
        }
        match self.phase {
            Phase::Start => self.client_start(out),
            Phase::HttpReply => self.http_reply(out),
            Phase::HttpBody { left } => {
                let n = (left as usize).min(self.half[1].buf.len());
                self.half[1].buf.drain(..n);
                let left = left - n as u64;
                self.phase = if left == 0 {
                    Phase::Start
                } else {
                    Phase::HttpBody { left }
                };
                Flow::Continue
            }
            Phase::Socks4Reply => {
                let s = &self.half[1].buf;
                if s.len() < 8 {
                    return Flow::Continue;
                }
                let (cd, port) = (s[1], u16::from_be_bytes([s[2], s[3]]));
                let ip = Ipv4Addr::new(s[4], s[5], s[6], s[7]);
                self.consume(S2C, 8);
                let resp = TunnelResponse {
                    code: u16::from(cd),
                    text: socks4_reply_text(cd).into(),
                    bound: Some(format!("{ip}:{port}")),
                };
                let ok = cd == 90;
                self.finish(resp, ok, out);
                if ok {
                    return self.up();
                }
                self.phase = Phase::Done;
                Flow::Detach
            }
            Phase::Socks5Method => {
                let s = &self.half[1].buf;
                if s.len() < 2 {
                    return Flow::Continue;
                }
                let m = s[1];
                if s[0] != 5 {
                    self.fail(S2C, "SOCKS5 method choice with a wrong version", out);
                    return Flow::Detach;
                }
                self.consume(S2C, 2);
                if let Some(r) = self.req_mut() {
                    r.auth = Some(socks5_method(m));
                }
                match m {
                    0 => self.phase = Phase::Socks5Request,
                    2 => self.phase = Phase::Socks5Auth,
                    0xff => {
                        let resp = TunnelResponse {
                            code: 255,
                            text: "no acceptable authentication method".into(),
                            bound: None,
                        };
                        self.finish(resp, false, out);
                        self.phase = Phase::Done;
                    }
                    _ => {
                        if let Some(tx) = self.tx.as_mut() {
                            tx.notes.push(Note::Text {
                                text: format!(
                                    "SOCKS5 method {} chosen: what follows is not followed",
                                    socks5_method(m)
                                ),
                            });
                        }
                        self.flush(None, out);
                        self.phase = Phase::Done;
                    }
                }
                Flow::Continue
            }
            Phase::Socks5Auth => {
                let c = &self.half[0].buf;
                if c.len() < 2 {
                    return Flow::Continue;
                }
                let ulen = c[1] as usize;
                if c.len() < 2 + ulen + 1 {
                    return Flow::Continue;
                }
                let plen = c[2 + ulen] as usize;
                let n = 3 + ulen + plen;
                if c.len() < n {
                    return Flow::Continue;
                }
                if c[0] != 1 {
                    self.fail(
                        C2S,
                        "SOCKS5 user/password request with a wrong version",
                        out,
                    );
                    return Flow::Detach;
                }
                let user = String::from_utf8_lossy(&c[2..2 + ulen]).into_owned();
                self.consume(C2S, n);
                if let Some(r) = self.req_mut() {
                    r.user = Some(user);
                }
                self.phase = Phase::Socks5AuthReply;
                Flow::Continue
            }
            Phase::Socks5AuthReply => {
                let s = &self.half[1].buf;
                if s.len() < 2 {
                    return Flow::Continue;
                }
                let st = s[1];
                self.consume(S2C, 2);
                if st == 0 {
                    self.phase = Phase::Socks5Request;
                } else {
                    let resp = TunnelResponse {
                        code: u16::from(st),
                        text: "authentication failed".into(),
                        bound: None,
                    };
                    self.finish(resp, false, out);
                    self.phase = Phase::Done;
                }
                Flow::Continue
            }
            Phase::Socks5Request => {
                let c = &self.half[0].buf;
                if c.len() < 4 {
                    return Flow::Continue;
                }
                if c[0] != 5 || c[2] != 0 {
                    self.fail(C2S, "SOCKS5 request with a wrong version", out);
                    return Flow::Detach;
                }
                let cmd = c[1];
                match socks5_addr(&c[3..]) {
                    Parse::More => Flow::Continue,
                    Parse::Bad(why) => {
                        self.fail(C2S, why, out);
                        Flow::Detach
                    }
                    Parse::Done((host, port, ip, n)) => {
                        self.consume(C2S, 3 + n);
                        self.target = ip.map(|ip| Endpoint::new(ip, port));
                        let sc = match cmd {
                            1 => None,
                            2 => Some("bind"),
                            3 => Some("udp_associate"),
                            _ => Some("unknown"),
                        };
                        if let Some(tx) = self.tx.as_mut() {
                            tx.query = match sc {
                                None => format!("SOCKS5 CONNECT {}", fmt_target(&host, port)),
                                Some(s) => format!("SOCKS5 {s} {}", fmt_target(&host, port)),
                            };
                        }
                        if let Some(r) = self.req_mut() {
                            r.host = host;
                            r.port = port;
                            r.socks_command = sc;
                        }
                        self.phase = Phase::Socks5Reply;
                        Flow::Continue
                    }
                }
            }
            Phase::Socks5Reply => {
                let s = &self.half[1].buf;
                if s.len() < 4 {
                    return Flow::Continue;
                }
                let rep = s[1];
                match socks5_addr(&s[3..]) {
                    Parse::More => Flow::Continue,
                    Parse::Bad(why) => {
                        self.fail(S2C, why, out);
                        Flow::Detach
                    }
                    Parse::Done((host, port, _, n)) => {
                        self.consume(S2C, 3 + n);
                        let resp = TunnelResponse {
                            code: u16::from(rep),
                            text: socks5_reply_text(rep).into(),
                            bound: Some(fmt_target(&host, port)),
                        };
                        self.finish(resp, rep == 0, out);
                        let connect = self
                            .last
                            .as_ref()
                            .is_some_and(|r| r.socks_command.is_none());
                        if rep == 0 && connect {
                            return self.up();
                        }
                        self.phase = Phase::Done;
                        Flow::Detach
                    }
                }
            }
            Phase::Done => Flow::Detach,
        }
    }

    fn client_start(&mut self, out: &mut dyn EventSink) -> Flow {
        let c = &self.half[0].buf;
        let Some(&first) = c.first() else {
            return Flow::Continue;
        };
        match first {
            b'C' => {
                let Some(end) = head_end(c) else {
                    if c.len() > MAX_TUNNEL_HEAD {
                        self.fail(C2S, "CONNECT request head too long", out);
                        return Flow::Detach;
                    }
                    return Flow::Continue;
                };
                let head = &c[..end];
                let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
                let line = head[..line_end]
                    .strip_suffix(b"\r")
                    .unwrap_or(&head[..line_end]);
                let Some((target, _)) = parse_connect_line(line) else {
                    self.fail(C2S, "not a CONNECT request", out);
                    return Flow::Detach;
                };
                let Some((host, port)) = split_host_port(target) else {
                    self.fail(C2S, "CONNECT target is not host:port", out);
                    return Flow::Detach;
                };
                let user = header(head, b"proxy-authorization").and_then(basic_user);
                let auth = header(head, b"proxy-authorization").map(|v| {
                    if v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"basic ") {
                        "basic"
                    } else {
                        "other"
                    }
                });
                let query = String::from_utf8_lossy(line).into_owned();
                self.target = host
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| Endpoint::new(ip, port));
                let req = TunnelRequest {
                    kind: "http_connect",
                    socks_command: None,
                    host,
                    port,
                    methods: Vec::new(),
                    auth,
                    user,
                };
                self.start_tx(req, query);
                self.consume(C2S, end);
                self.phase = Phase::HttpReply;
                Flow::Continue
            }
            4 => match socks4_request(c) {
                Parse::More => Flow::Continue,
                Parse::Bad(why) => {
                    self.fail(C2S, why, out);
                    Flow::Detach
                }
                Parse::Done((n, cmd, port, host, is_4a, user)) => {
                    if !is_4a {
                        if let Ok(ip) = host.parse::<IpAddr>() {
                            self.target = Some(Endpoint::new(ip, port));
                        }
                    }
                    let kind = if is_4a { "socks4a" } else { "socks4" };
                    let sc = (cmd == 2).then_some("bind");
                    let query = format!(
                        "{} {} {}",
                        kind.to_ascii_uppercase(),
                        sc.unwrap_or("CONNECT"),
                        fmt_target(&host, port)
                    );
                    let req = TunnelRequest {
                        kind,
                        socks_command: sc,
                        host,
                        port,
                        methods: Vec::new(),
                        auth: None,
                        user: (!user.is_empty()).then_some(user),
                    };
                    self.start_tx(req, query);
                    self.consume(C2S, n);
                    if sc.is_some() {
                        self.flush(None, out);
                        self.phase = Phase::Done;
                    } else {
                        self.phase = Phase::Socks4Reply;
                    }
                    Flow::Continue
                }
            },
            5 => {
                let Some(&n) = c.get(1) else {
                    return Flow::Continue;
                };
                let end = 2 + n as usize;
                if n == 0 {
                    self.fail(C2S, "SOCKS5 greeting without methods", out);
                    return Flow::Detach;
                }
                if c.len() < end {
                    return Flow::Continue;
                }
                let methods = c[2..end].iter().map(|&m| socks5_method(m)).collect();
                let req = TunnelRequest {
                    kind: "socks5",
                    methods,
                    ..Default::default()
                };
                self.start_tx(req, "SOCKS5".into());
                self.consume(C2S, end);
                self.phase = Phase::Socks5Method;
                Flow::Continue
            }
            _ => {
                self.fail(C2S, "neither CONNECT nor SOCKS", out);
                Flow::Detach
            }
        }
    }

    fn http_reply(&mut self, out: &mut dyn EventSink) -> Flow {
        let s = &self.half[1].buf;
        let Some(end) = head_end(s) else {
            if s.len() > MAX_TUNNEL_HEAD {
                self.fail(S2C, "CONNECT reply head too long", out);
                return Flow::Detach;
            }
            return Flow::Continue;
        };
        let head = &s[..end];
        let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
        let line = head[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&head[..line_end]);
        let mut parts = line.splitn(3, |&b| b == b' ');
        let ver = parts.next().unwrap_or_default();
        let code = parts
            .next()
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok());
        let (true, Some(code)) = (ver.starts_with(b"HTTP/"), code) else {
            self.fail(S2C, "not an HTTP reply to CONNECT", out);
            return Flow::Detach;
        };
        let text = String::from_utf8_lossy(parts.next().unwrap_or_default())
            .chars()
            .take(256)
            .collect();
        let body = header(head, b"content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        self.consume(S2C, end);
        let ok = (200..300).contains(&code);
        self.finish(
            TunnelResponse {
                code,
                text,
                bound: None,
            },
            ok,
            out,
        );
        if ok {
            return self.up();
        }
        // Refused: the client may ask again (with credentials) on this connection.
        self.target = None;
        self.phase = if body > 0 {
            Phase::HttpBody { left: body }
        } else {
            Phase::Start
        };
        Flow::Continue
    }
}

fn fmt_target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// End of an HTTP head (after the blank line).
fn head_end(b: &[u8]) -> Option<usize> {
    memchr::memmem::find(b, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| memchr::memmem::find(b, b"\n\n").map(|i| i + 2))
}

/// The value of header `name` (lowercase) in an HTTP head.
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|l| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let colon = memchr::memchr(b':', l)?;
        l[..colon].eq_ignore_ascii_case(name).then(|| {
            let v = &l[colon + 1..];
            let start = v
                .iter()
                .position(|b| *b != b' ' && *b != b'\t')
                .unwrap_or(v.len());
            &v[start..]
        })
    })
}

/// The user of a `Basic` credential (never the password).
fn basic_user(v: &[u8]) -> Option<String> {
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let dec = base64_decode(v[6..].trim_ascii())?;
    let colon = memchr::memchr(b':', &dec)?;
    Some(String::from_utf8_lossy(&dec[..colon]).into_owned())
}

fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    if s.len() > 4096 {
        return None;
    }
    let s = s
        .strip_suffix(b"==")
        .or_else(|| s.strip_suffix(b"="))
        .unwrap_or(s);
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl ProtocolSession for TunnelSession {
    fn on_data(&mut self, chunk: &StreamChunk<'_>, out: &mut dyn EventSink) -> Flow {
        if self.phase == Phase::Done {
            return Flow::Detach;
        }
        let h = &mut self.half[chunk.dir.index()];
        if h.buf.is_empty() {
            h.first_ts = chunk.arrival();
        }
        h.ts = chunk.ts;
        if chunk.dir == S2C && !chunk.data.is_empty() {
            self.server_seen = true;
        }
        if h.buf.len() + chunk.data.len() > 2 * MAX_TUNNEL_HEAD {
            let dir = chunk.dir;
            self.fail(dir, "more bytes than a proxy set-up holds", out);
            return Flow::Detach;
        }
        h.buf.extend_from_slice(chunk.data);
        self.advance(out)
    }

    fn on_gap(&mut self, gap: &GapInfo, out: &mut dyn EventSink) -> Flow {
        if self.phase == Phase::Done {
            return Flow::Detach;
        }
        // The set-up lost bytes: its messages cannot be placed any more.
        self.flush(
            Some(Note::Gap {
                direction: gap.dir,
                bytes: gap.len,
            }),
            out,
        );
        self.phase = Phase::Done;
        Flow::Detach
    }

    fn on_close(&mut self, _ts: Timestamp, _reason: CloseReason, out: &mut dyn EventSink) {
        self.flush(None, out);
    }

    fn handover(&mut self) -> Option<Handover> {
        self.handover.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiresift_core::{ConnectionId, SessionEvent};

    fn conn() -> ConnectionInfo {
        ConnectionInfo {
            id: ConnectionId(1),
            client: Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
            server: Endpoint::new("10.0.0.9".parse().unwrap(), 1080),
            start: Timestamp(1),
            midstream: false,
        }
    }

    fn feed(
        s: &mut TunnelSession,
        out: &mut Vec<SessionEvent>,
        dir: Direction,
        t: u64,
        d: &[u8],
    ) -> Flow {
        let c = StreamChunk {
            dir,
            ts: Timestamp(t),
            data: d,
            held: Default::default(),
        };
        s.on_data(&c, out)
    }

    fn tx(out: &[SessionEvent]) -> &wiresift_core::OwnedTransaction {
        out.iter()
            .find_map(|e| match e {
                SessionEvent::Transaction(t) => Some(&**t),
                _ => None,
            })
            .expect("a transaction")
    }

    #[test]
    fn probes() {
        let p = TunnelPlugin;
        assert_eq!(
            p.probe(C2S, b"CONNECT 10.0.0.1:25 HTTP/1.1\r\n"),
            ProbeResult::Match
        );
        assert_eq!(p.probe(C2S, b"CONN"), ProbeResult::NeedMore);
        assert_eq!(
            p.probe(C2S, b"CONNECT x HTTP/1.1\r\n"),
            ProbeResult::NoMatch
        );
        assert_eq!(p.probe(C2S, b"GET / HTTP/1.1\r\n"), ProbeResult::NoMatch);
        assert_eq!(p.probe(C2S, &[5, 1, 0]), ProbeResult::Match);
        assert_eq!(p.probe(C2S, &[5, 2, 0]), ProbeResult::NeedMore);
        assert_eq!(p.probe(C2S, &[5, 1, 0, 9]), ProbeResult::NoMatch);
        assert_eq!(
            p.probe(C2S, &[4, 1, 0, 25, 10, 0, 0, 1, b'u', 0]),
            ProbeResult::Match
        );
        assert_eq!(
            p.probe(C2S, &[4, 1, 0, 25, 0, 0, 0, 1, 0, b'h', 0]),
            ProbeResult::Match
        );
        assert_eq!(
            p.probe(C2S, &[4, 1, 0, 25, 0, 0, 0, 1, 0, b'h']),
            ProbeResult::NeedMore
        );
        assert_eq!(
            p.probe(S2C, b"HTTP/1.1 200 OK\r\n\r\n"),
            ProbeResult::NoMatch
        );
        assert_eq!(p.probe(C2S, b"*1\r\n$4\r\nPING\r\n"), ProbeResult::NoMatch);
    }

    #[test]
    fn socks5_user_password_then_handover_with_the_bytes_that_follow() {
        let mut s = TunnelSession::new(&conn());
        let mut out = Vec::new();
        assert_eq!(
            feed(&mut s, &mut out, C2S, 10, &[5, 2, 0, 2]),
            Flow::Continue
        );
        assert_eq!(feed(&mut s, &mut out, S2C, 20, &[5, 2]), Flow::Continue);
        let mut auth = vec![1, 5];
        auth.extend_from_slice(b"alice");
        auth.push(6);
        auth.extend_from_slice(b"s3cr3t");
        feed(&mut s, &mut out, C2S, 30, &auth);
        feed(&mut s, &mut out, S2C, 40, &[1, 0]);
        feed(
            &mut s,
            &mut out,
            C2S,
            50,
            &[5, 1, 0, 1, 10, 0, 0, 2, 0x18, 0xeb],
        );
        let f = feed(
            &mut s,
            &mut out,
            S2C,
            60,
            &[
                5, 0, 0, 1, 10, 0, 0, 9, 0x04, 0x38, b'+', b'O', b'K', b'\r', b'\n',
            ],
        );
        assert_eq!(f, Flow::Handover);
        let t = tx(&out);
        assert_eq!(t.status, Status::Ok);
        assert_eq!(t.query, "SOCKS5 CONNECT 10.0.0.2:6379");
        assert_eq!(t.latency_us, Some(0));
        assert_eq!(t.request_bytes, 4 + 14 + 10);
        assert_eq!(t.response_bytes, 2 + 2 + 10);
        let r = t.request_value();
        assert_eq!(r["user"], "alice");
        assert_eq!(r["auth"], "user_password");
        assert_eq!(r["methods"], serde_json::json!(["none", "user_password"]));
        assert_eq!(t.response_value()["bound"], "10.0.0.9:1080");
        assert!(!serde_json::to_string(&out).unwrap().contains("s3cr3t"));
        let h = s.handover().unwrap();
        assert_eq!(h.kind, "socks5");
        assert_eq!(
            h.target,
            Some(Endpoint::new("10.0.0.2".parse().unwrap(), 6379))
        );
        assert_eq!(h.replay, vec![(S2C, Timestamp(60), b"+OK\r\n".to_vec())]);
    }

    #[test]
    fn http_connect_refused_then_granted_with_basic_credentials() {
        let mut s = TunnelSession::new(&conn());
        let mut out = Vec::new();
        feed(
            &mut s,
            &mut out,
            C2S,
            10,
            b"CONNECT 10.0.0.2:25 HTTP/1.1\r\nHost: 10.0.0.2:25\r\n\r\n",
        );
        feed(
            &mut s,
            &mut out,
            S2C,
            20,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 5\r\n\r\nnope!",
        );
        // "alice:pw" in base64.
        feed(
            &mut s,
            &mut out,
            C2S,
            30,
            b"CONNECT 10.0.0.2:25 HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6cHc=\r\n\r\n",
        );
        let f = feed(
            &mut s,
            &mut out,
            S2C,
            40,
            b"HTTP/1.1 200 Connection established\r\n\r\n220 mx\r\n",
        );
        assert_eq!(f, Flow::Handover);
        let txs: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Transaction(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].status, Status::Error);
        assert_eq!(txs[0].response_value()["code"], 407);
        assert_eq!(txs[1].status, Status::Ok);
        assert_eq!(txs[1].request_value()["user"], "alice");
        assert_eq!(txs[1].request_value()["auth"], "basic");
        assert_eq!(
            s.handover().unwrap().replay,
            vec![(S2C, Timestamp(40), b"220 mx\r\n".to_vec())]
        );
    }

    #[test]
    fn socks4a_refused_and_garbage_never_panics() {
        let mut s = TunnelSession::new(&conn());
        let mut out = Vec::new();
        feed(
            &mut s,
            &mut out,
            C2S,
            10,
            &[4, 1, 0, 25, 0, 0, 0, 1, b'u', 0, b'm', b'x', 0],
        );
        let f = feed(&mut s, &mut out, S2C, 20, &[0, 91, 0, 0, 0, 0, 0, 0]);
        assert_eq!(f, Flow::Detach);
        let t = tx(&out);
        assert_eq!(t.status, Status::Error);
        assert_eq!(t.query, "SOCKS4A CONNECT mx:25");
        assert_eq!(t.request_value()["user"], "u");
        for seed in 0u32..2000 {
            let mut s = TunnelSession::new(&conn());
            let mut out = Vec::new();
            let mut x = seed.wrapping_mul(2_654_435_761);
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            };
            let first = [b'C', 4, 5][(next() % 3) as usize];
            for i in 0u64..8 {
                let len = (next() % 40) as usize;
                let mut d: Vec<u8> = (0..len).map(|_| (next() % 8) as u8).collect();
                if i == 0 {
                    d.insert(0, first);
                }
                let dir = if next() % 2 == 0 { C2S } else { S2C };
                if feed(&mut s, &mut out, dir, i, &d) != Flow::Continue {
                    break;
                }
            }
            s.on_close(Timestamp(99), CloseReason::Fin, &mut out);
        }
    }
}
