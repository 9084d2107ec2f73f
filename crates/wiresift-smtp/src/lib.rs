//! SMTP for wiresift: commands and replies paired into transactions, plus one transaction per
//! mail message.
//!
//! # Output
//! - One transaction per command and its reply. `command` is the upper-cased verb, `query` the
//!   command line with AUTH credentials replaced by `(redacted)`, `status` is `error` for 4xx/5xx,
//!   `response` is `{"code":250,"enhanced":"2.1.0","lines":[…]}` ([`event::ReplyDetail`]).
//!   An EHLO reply carries the parsed `extensions`. A DATA transaction runs from the DATA command
//!   to the final reply after the body; its `354` is `response.intermediate`. AUTH reports the
//!   mechanism, the user where the mechanism shows it, and the outcome; credentials never
//!   appear anywhere in the output.
//! - The greeting is a transaction with `command` = `GREETING`, no request, and status `ok`
//!   (or `error` for a `4xx`/`5xx` greeting). A reply with nothing pending after the greeting is
//!   a `no_request` transaction with an empty `command`.
//! - One transaction per mail message, `command` = `MESSAGE`: envelope sender, recipients with
//!   their reply codes, body size and kind, the Subject/From/To/Message-ID/Date headers, the
//!   final reply, and the latency from MAIL to that reply ([`event::MessageDetail`]). A message
//!   abandoned before its data was accepted (RSET, QUIT, a new MAIL, …) is reported with status
//!   `no_response` (`error` if MAIL itself was refused) and `abandoned_by`.
//! - STARTTLS answered with `220`: the STARTTLS transaction carries an `encrypted` note and the
//!   session detaches (returns [`wiresift_core::Flow::Detach`]) as soon as the next bytes of
//!   either side arrive and are not SMTP (a TLS handshake); the rest of the connection is not
//!   parsed. If plaintext SMTP follows instead (decrypted captures), parsing goes on and the
//!   STARTTLS transaction says so in a text note.
//! - Client bytes that the session must not interpret before the server answers (after DATA,
//!   AUTH, STARTTLS) are held, bounded by [`SmtpConfig::max_line`]; if the answer is overdue
//!   the session stops waiting and resynchronises on the held bytes.
//! - One-sided captures: when no server byte was captured at all (or the server direction is
//!   lost in a gap and nothing of it came since), there is no answer to wait for, and the
//!   client side is read as the client behaves: DATA is followed by its body up to the `.` line
//!   (the MESSAGE carries its size and headers), AUTH by its SASL response lines (until a line
//!   that is a command), STARTTLS by a TLS handshake (the session detaches) unless a command
//!   follows. Every command is reported with its request detail and status `no_response`. A
//!   server-only capture gives the greeting and one `no_request` transaction per reply.
//! - Secrets: AUTH initial responses and SASL response lines are never copied to output. A
//!   client line that looks like base64 where a command was expected (a SASL response whose
//!   challenge was lost) is reported as command `UNKNOWN` with a withheld query, and anomaly
//!   text never quotes a client line holding a base64-like token.
//! - Gaps: resynchronisation at the next line starting with a known verb (client) or a reply
//!   code (server). A gap inside a body only shortens it (`body.gap_bytes`, a `gap` note).
//!   Server-side gaps report every pending command as `no_response` rather than risk pairing
//!   replies with the wrong commands, except the command the client waits on (DATA, AUTH,
//!   STARTTLS): it stays, so that the client's next bytes are read as the client behaves (a
//!   body, SASL lines), and takes a reply only as the final reply to a body sent after the gap.
//! - Budgets and timers ([`wiresift_core::ProtocolSession`]): `state_bytes` adds up the pending
//!   commands, the message in progress (at most [`SmtpConfig::max_recipients`] recipients kept;
//!   the rest counted, a `truncated` note with the full count), the header area, the reply being
//!   assembled, overlong-line prefixes and notes. `shed` reports the oldest commands early
//!   (`no_response`, `shed` note), then the message in progress, then drops the header area.
//!   The request timer runs from when the client stopped sending and waits for the server: not
//!   while a DATA body or BDAT chunk is flowing, nor while AUTH waits for the client's SASL
//!   line. A command reported early (shed, timed out) leaves a reply owed: it is counted, not
//!   paired with a later command. Notes are capped per transaction
//!   ([`wiresift_core::MAX_NOTES`]).
//! - Accounting ([`wiresift_core::ByteAccounting`]): consumed bytes are `parsed`, except what
//!   resynchronisation passes over (`skipped`) and what follows STARTTLS (`undissected`);
//!   carry-over dropped by a gap or an overflow is `skipped`, what is left at close
//!   `undissected`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod body;
pub mod error;
pub mod event;
pub mod parser;
pub mod session;

pub use error::ParseError;
pub use session::{SmtpConfig, SmtpSession};

use wiresift_core::{ConnectionInfo, Direction, ProbeResult, ProtocolSession, TcpProtocolPlugin};

/// Plugin name, used as the transactions' `protocol`.
pub const PROTOCOL: &str = "smtp";

/// The SMTP plugin.
#[derive(Debug, Clone, Default)]
pub struct SmtpPlugin {
    cfg: SmtpConfig,
}

impl SmtpPlugin {
    /// With default budgets.
    pub fn new() -> Self {
        Self::default()
    }
    /// With explicit budgets.
    pub fn with_config(cfg: SmtpConfig) -> Self {
        SmtpPlugin { cfg }
    }
}

impl TcpProtocolPlugin for SmtpPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }

    /// 25 (relay), 587 (submission), 2525 (common alternative). Not 465: that is implicit TLS.
    fn default_ports(&self) -> &'static [u16] {
        &[25, 587, 2525]
    }

    fn probe(&self, dir: Direction, data: &[u8]) -> ProbeResult {
        match dir {
            Direction::ServerToClient => probe_server(data),
            Direction::ClientToServer => probe_client(data),
        }
    }

    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(SmtpSession::new(conn, self.cfg.clone()))
    }
}

/// Server side: a reply line (`220 ` greeting, or any `[2-5]xx` followed by ` `/`-`).
fn probe_server(data: &[u8]) -> ProbeResult {
    let n = data.len().min(4);
    let head = &data[..n];
    let digits_ok = head.iter().take(3).enumerate().all(|(i, b)| {
        if i == 0 {
            (b'2'..=b'5').contains(b)
        } else {
            b.is_ascii_digit()
        }
    });
    if !digits_ok {
        return ProbeResult::NoMatch;
    }
    if n < 4 {
        return ProbeResult::NeedMore;
    }
    if matches!(head[3], b' ' | b'-') {
        ProbeResult::Match
    } else {
        ProbeResult::NoMatch
    }
}

/// Client side: a known verb followed by a space or end of line.
fn probe_client(data: &[u8]) -> ProbeResult {
    if parser::looks_like_command(data) {
        return ProbeResult::Match;
    }
    let word_len = data
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(data.len());
    if word_len == data.len()
        && (parser::is_verb_prefix(data) || parser::known_verb(data).is_some())
    {
        ProbeResult::NeedMore
    } else {
        ProbeResult::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes() {
        let p = SmtpPlugin::new();
        let s = Direction::ServerToClient;
        let c = Direction::ClientToServer;
        assert_eq!(p.probe(s, b"220 mx ESMTP\r\n"), ProbeResult::Match);
        assert_eq!(p.probe(s, b"220-mx\r\n"), ProbeResult::Match);
        assert_eq!(p.probe(s, b"22"), ProbeResult::NeedMore);
        assert_eq!(p.probe(s, b""), ProbeResult::NeedMore);
        assert_eq!(p.probe(s, b"+OK"), ProbeResult::NoMatch);
        assert_eq!(p.probe(s, b"HTTP/1.1 200"), ProbeResult::NoMatch);
        assert_eq!(p.probe(c, b"EHLO x\r\n"), ProbeResult::Match);
        assert_eq!(p.probe(c, b"ehlo"), ProbeResult::NeedMore);
        assert_eq!(p.probe(c, b"EH"), ProbeResult::NeedMore);
        assert_eq!(p.probe(c, b"GET / HTTP/1.1"), ProbeResult::NoMatch);
        assert_eq!(p.probe(c, b"*1\r\n$4\r\nPING"), ProbeResult::NoMatch);
        assert_eq!(p.default_ports(), &[25, 587, 2525]);
    }
}
