//! The server side of a session: assembling replies, pairing them with pending commands in
//! order, the greeting, STARTTLS, and the per-message transactions that replies complete.

use super::{lossy, BodyProgress, ClientMode, Kind, Stage};
use super::{LoginPrompt, MailTx, Pending, ReplyBuilder, State, C2S, S2C};
use crate::auth::{self, Mechanism};
use crate::body::HeaderCollector;
use crate::event::{
    InterimDetail, MessageDetail, Recipient, ReplyDetail, RequestDetail, SmtpDetail, SmtpRequest,
    SmtpResponse, GREETING_COMMAND, MESSAGE_COMMAND,
};
use crate::parser::{self, ReplyCode};
use crate::PROTOCOL;
use wiresift_core::{
    push_note, Direction, EventSink, Note, SessionEvent, Status, Timestamp, Transaction,
};

impl State {
    pub(super) fn server_line(
        &mut self,
        raw: &[u8],
        wire_len: u64,
        truncated: Option<u64>,
        (start_ts, end_ts): (Timestamp, Timestamp),
        offset: u64,
        out: &mut dyn EventSink,
    ) {
        let line = parser::strip_cr(raw.strip_suffix(b"\n").unwrap_or(raw));
        let rl = match parser::reply_line(line) {
            Ok(r) => r,
            Err(e) => {
                self.anomaly(S2C, end_ts, Some(offset), e.to_string(), out);
                if let Some(r) = self.reply.as_mut() {
                    r.bytes += wire_len;
                }
                return;
            }
        };
        if self.reply.as_ref().is_some_and(|b| b.code != rl.code.0) {
            // RFC 5321 §4.2.1: every line of a multi-line reply has the same code. A new code
            // means the previous reply never got its final line; close it as it stands.
            if let Some(prev) = self.reply.take() {
                self.anomaly(
                    S2C,
                    end_ts,
                    Some(offset),
                    format!(
                        "smtp reply {} ended without a final line: a {} line followed",
                        prev.code, rl.code.0
                    ),
                    out,
                );
                self.on_reply(prev, start_ts, out);
            }
        }
        let max_lines = self.cfg.max_reply_lines;
        let max_text = self.cfg.max_text;
        let b = self.reply.get_or_insert_with(|| ReplyBuilder {
            ts: start_ts,
            code: rl.code.0,
            lines: Vec::new(),
            dropped: 0,
            bytes: 0,
            truncated: None,
        });
        b.bytes += wire_len;
        b.code = rl.code.0;
        if truncated.is_some() {
            b.truncated = truncated;
        }
        if b.lines.len() < max_lines {
            // Only `max_text` bytes of a line are ever shown: keep no more.
            b.lines
                .push(rl.text[..rl.text.len().min(max_text + 4)].to_vec());
        } else {
            b.dropped += 1;
        }
        if rl.last {
            if let Some(b) = self.reply.take() {
                self.on_reply(b, end_ts, out);
            }
        }
    }

    pub(super) fn reply_detail(&self, b: &ReplyBuilder) -> ReplyDetail {
        ReplyDetail {
            code: b.code,
            enhanced: b
                .lines
                .first()
                .and_then(|l| parser::enhanced_code(l))
                .map(|(e, _)| e.to_string()),
            lines: b
                .lines
                .iter()
                .map(|l| lossy(l, self.cfg.max_text))
                .collect(),
            lines_dropped: b.dropped,
            ..Default::default()
        }
    }

    pub(super) fn on_reply(&mut self, b: ReplyBuilder, end_ts: Timestamp, out: &mut dyn EventSink) {
        let code = ReplyCode(b.code);
        let mut detail = self.reply_detail(&b);
        if !self.greeted {
            // The server speaks first: the first reply is the greeting even when the client
            // sent commands before it arrived (or before it was captured).
            self.unsolicited(b, detail, end_ts, out);
            return;
        }
        // A command kept across a server-side gap lost its reply in it, unless this is the
        // final reply to the body the client sent after the gap.
        while let Some(p) = self.queue.front() {
            let body_reply = p.kind == Kind::Data && p.body.is_some();
            if !p.reply_lost || body_reply {
                break;
            }
            if let Some(p) = self.queue.pop_front() {
                self.finish(p, None, end_ts, out);
            }
        }
        if self.late_owed > 0 {
            // The reply to a command reported before it came (shed, timed out).
            self.late_owed -= 1;
            self.late_replies += 1;
            return;
        }
        let Some(front) = self.queue.front_mut() else {
            self.unsolicited(b, detail, end_ts, out);
            return;
        };
        front.tx.response_bytes += b.bytes;
        if let Some(len) = b.truncated {
            push_note(
                &mut front.tx.notes,
                Note::Truncated {
                    field: "reply_line",
                    len,
                },
            );
        }
        match (front.kind, front.stage) {
            (Kind::Data, Stage::GaveUp | Stage::InBody) if code == ReplyCode::START_MAIL_INPUT => {
                front.intermediate = Some(detail);
                return;
            }
            (Kind::Auth(_), Stage::GaveUp) if code == ReplyCode::AUTH_CONTINUE => {
                front.challenges += 1;
                return;
            }
            (Kind::Data, Stage::AwaitReply) if code == ReplyCode::START_MAIL_INPUT => {
                front.intermediate = Some(detail);
                front.stage = Stage::InBody;
                front.waiting_since = None;
                self.progress = BodyProgress::default();
                self.collector = Some(HeaderCollector::new(self.cfg.header_area, true));
                self.set_client(ClientMode::Body(Box::default()), "354: body follows");
                return;
            }
            (Kind::Auth(_), Stage::AwaitReply) if code == ReplyCode::AUTH_CONTINUE => {
                front.challenges += 1;
                if front.kind == Kind::Auth(Mechanism::Login) {
                    let prompt = auth::login_prompt(b.lines.first().map_or(&[][..], |l| l));
                    front.login_next =
                        match prompt {
                            LoginPrompt::Unknown => match front.login_next {
                                // Without a readable prompt: user name first, then password.
                                LoginPrompt::Unknown
                                    if front.req.auth.as_ref().is_some_and(|a| {
                                        a.responses == 0 && !a.initial_response
                                    }) =>
                                {
                                    LoginPrompt::User
                                }
                                _ => LoginPrompt::Password,
                            },
                            p => p,
                        };
                }
                front.stage = Stage::AwaitClient;
                front.waiting_since = None;
                self.set_client(ClientMode::AuthLine, "334: SASL response follows");
                return;
            }
            _ => {}
        }
        let Some(mut p) = self.queue.pop_front() else {
            return;
        };
        if p.kind == Kind::Data && matches!(self.client, ClientMode::Body(_)) {
            // The server answered a body whose end we did not see: bytes were lost. The
            // client's next bytes most likely start a new command.
            if let ClientMode::Body(scanner) =
                std::mem::replace(&mut self.client, ClientMode::Resync { line_start: true })
            {
                self.queue.push_front(p);
                self.end_data_body(&scanner, true);
                p = self.queue.pop_front().unwrap_or_else(|| unreachable!());
            }
        }
        if p.kind == Kind::Ehlo && code.is_positive() {
            detail.extensions = Some(parser::ehlo_extensions(b.lines.iter().map(Vec::as_slice)));
        }
        let starttls_ok = p.kind == Kind::Starttls && code == ReplyCode::READY;
        if starttls_ok {
            // Held until the next bytes show whether TLS really started (see `tls_check`).
            let mut held = Vec::new();
            self.finish(p, Some((detail, b.bytes)), end_ts, &mut held);
            self.abandon("STARTTLS", end_ts, &mut held);
            self.tls_held = Some(held);
            return;
        }
        self.finish(p, Some((detail, b.bytes)), end_ts, out);
    }

    /// After a `220` to STARTTLS: do the next bytes start a TLS handshake? Normally yes: the
    /// held events get an `encrypted` note and the session detaches. Decrypted captures (TLS
    /// stripped, plaintext SMTP continues) are parsed on, with a note saying so. Called with
    /// the first bytes of either direction; `None` (close, gap) counts as encrypted.
    pub(super) fn tls_check(
        &mut self,
        dir: Direction,
        first: Option<&[u8]>,
        ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let Some(held) = self.tls_held.take() else {
            return;
        };
        let plaintext = match (dir, first) {
            (C2S, Some(d)) => parser::looks_like_command(d),
            (S2C, Some(d)) => parser::looks_like_reply(d),
            _ => false,
        };
        for mut ev in held {
            if let SessionEvent::Transaction(tx) = &mut ev {
                if tx.command == "STARTTLS" {
                    push_note(
                        &mut tx.notes,
                        if plaintext {
                            Note::Text {
                                text:
                                    "plaintext SMTP continued after STARTTLS (decrypted capture?)"
                                        .into(),
                            }
                        } else {
                            Note::Encrypted
                        },
                    );
                }
            }
            ev.replay(out);
        }
        if !plaintext {
            // Everything from here is TLS: report what is still pending and stop.
            while let Some(p) = self.queue.pop_front() {
                self.finish(p, None, ts, out);
            }
            self.abandon("STARTTLS", ts, out);
            self.detached = true;
        }
    }

    /// A reply with nothing pending: the greeting, or an unsolicited reply (e.g. a `421` when
    /// the server shuts down).
    pub(super) fn unsolicited(
        &mut self,
        b: ReplyBuilder,
        detail: ReplyDetail,
        end_ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let mut tx = Transaction::new(PROTOCOL, &self.conn, b.ts, SmtpDetail::default());
        tx.response_bytes = b.bytes;
        for n in std::mem::take(&mut self.half[1].notes) {
            push_note(&mut tx.notes, n);
        }
        if let Some(len) = b.truncated {
            push_note(
                &mut tx.notes,
                Note::Truncated {
                    field: "reply_line",
                    len,
                },
            );
        }
        let code = ReplyCode(b.code);
        if !self.greeted {
            // The greeting: a transaction without a request whose status is the server's
            // verdict (a `554` greeting refuses service).
            tx.command = GREETING_COMMAND.to_string();
            tx.status = if code.is_error() {
                Status::Error
            } else {
                Status::Ok
            };
        } else {
            tx.status = Status::NoRequest;
        }
        if code.is_error() {
            tx.error = detail.lines.first().cloned();
        }
        self.greeted = true;
        tx.detail.response = Some(SmtpResponse::Reply(detail));
        tx.end_ts = end_ts.max(tx.ts);
        out.transaction(&mut tx);
    }

    /// Report a command transaction (reply `None`: never answered) and advance the message.
    pub(super) fn finish(
        &mut self,
        mut p: Pending,
        reply: Option<(ReplyDetail, u64)>,
        end_ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let mut final_reply = None;
        match &reply {
            Some((d, _)) => {
                let code = ReplyCode(d.code);
                p.tx.status = if code.is_error() {
                    Status::Error
                } else {
                    Status::Ok
                };
                if code.is_error() {
                    p.tx.error = d.lines.first().cloned();
                }
                p.tx.complete_at(end_ts);
                let mut d = d.clone();
                d.intermediate = p.intermediate.take().map(Box::new);
                d.challenges = p.challenges;
                p.tx.detail.response = Some(SmtpResponse::Reply(d.clone()));
                final_reply = Some(d);
            }
            None => {
                p.tx.status = Status::NoResponse;
                let i = p.intermediate.take();
                if i.is_some() || p.challenges > 0 {
                    // Interim replies were seen, the final one was not.
                    p.tx.detail.response = Some(SmtpResponse::Interim(InterimDetail {
                        intermediate: i,
                        challenges: p.challenges,
                    }));
                }
            }
        }
        if p.body.as_ref().is_some_and(|b| b.incomplete) {
            push_note(
                &mut p.tx.notes,
                Note::Text {
                    text: "end of body not seen".into(),
                },
            );
        }
        if p.req != RequestDetail::default() {
            p.tx.detail.request = Some(SmtpRequest::Command(p.req.clone()));
        }
        let code = final_reply.as_ref().map(|d| ReplyCode(d.code));
        let reply_bytes = reply.as_ref().map_or(0, |r| r.1);
        let kind = p.kind;
        let verb = p.tx.command.clone();
        let req = std::mem::take(&mut p.req);
        let body = p.body.take();
        let ts = p.tx.ts;
        let data_notes: Vec<Note> =
            p.tx.notes
                .iter()
                .filter(|n| matches!(n, Note::Gap { .. }))
                .cloned()
                .collect();
        out.transaction(&mut p.tx);

        // The mail message this command belongs to.
        match kind {
            Kind::Mail => {
                self.abandon(&verb, ts, out);
                let mut tx = Transaction::new(PROTOCOL, &self.conn, ts, SmtpDetail::default());
                tx.command = MESSAGE_COMMAND.to_string();
                self.current = Some(MailTx {
                    tx,
                    detail: MessageDetail {
                        mail_from: req.address.unwrap_or_default(),
                        mail_code: code.map(|c| c.0),
                        recipients: Vec::new(),
                        recipients_dropped: 0,
                        body: None,
                        abandoned_by: None,
                    },
                });
            }
            Kind::Rcpt => {
                if let Some(m) = self.current.as_mut() {
                    if m.detail.recipients.len() < self.cfg.max_recipients {
                        m.detail.recipients.push(Recipient {
                            address: req.address.unwrap_or_default(),
                            code: code.map(|c| c.0),
                        });
                    } else {
                        m.detail.recipients_dropped += 1;
                    }
                }
            }
            Kind::Data => {
                if let Some(m) = self.current.as_mut() {
                    m.detail.body = body;
                    for n in data_notes {
                        push_note(&mut m.tx.notes, n);
                    }
                    m.tx.request_bytes += req.body_bytes.unwrap_or(0);
                }
                self.complete_message(final_reply, reply_bytes, end_ts, out);
            }
            Kind::Bdat { last } => {
                if let Some(m) = self.current.as_mut() {
                    for n in data_notes {
                        push_note(&mut m.tx.notes, n);
                    }
                    if let Some(chunk) = body {
                        m.tx.request_bytes += chunk.bytes;
                        match m.detail.body.as_mut() {
                            None => m.detail.body = Some(chunk),
                            Some(acc) => {
                                acc.bytes += chunk.bytes;
                                acc.chunks = Some(acc.chunks.unwrap_or(0) + 1);
                                acc.gap_bytes += chunk.gap_bytes;
                                acc.incomplete |= chunk.incomplete;
                                if acc.headers == Default::default() {
                                    acc.headers = chunk.headers;
                                }
                            }
                        }
                    }
                }
                if last || code.is_some_and(ReplyCode::is_error) {
                    self.complete_message(final_reply, reply_bytes, end_ts, out);
                }
            }
            Kind::Rset | Kind::Quit | Kind::Helo | Kind::Ehlo => {
                self.abandon(&verb, ts, out);
            }
            Kind::Auth(_) | Kind::Starttls | Kind::Other => {}
        }
    }

    /// The message got its final reply (`None`: lost).
    pub(super) fn complete_message(
        &mut self,
        reply: Option<ReplyDetail>,
        reply_bytes: u64,
        end_ts: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let Some(mut m) = self.current.take() else {
            return;
        };
        match reply {
            Some(d) => {
                let code = ReplyCode(d.code);
                m.tx.status = if code.is_error() {
                    Status::Error
                } else {
                    Status::Ok
                };
                if code.is_error() {
                    m.tx.error = d.lines.first().cloned();
                }
                m.tx.response_bytes = reply_bytes;
                m.tx.complete_at(end_ts);
                let mut d = d;
                d.intermediate = None;
                d.challenges = 0;
                m.tx.detail.response = Some(SmtpResponse::Reply(d));
            }
            None => m.tx.status = Status::NoResponse,
        }
        self.emit_message(m, out);
    }

    /// The message ended without a final reply to its data.
    pub(super) fn abandon(&mut self, by: &str, _ts: Timestamp, out: &mut dyn EventSink) {
        let Some(mut m) = self.current.take() else {
            return;
        };
        m.detail.abandoned_by = Some(by.to_string());
        m.tx.status = if m.detail.mail_code.is_some_and(|c| ReplyCode(c).is_error()) {
            Status::Error
        } else {
            Status::NoResponse
        };
        self.emit_message(m, out);
    }

    pub(super) fn emit_message(&mut self, mut m: MailTx, out: &mut dyn EventSink) {
        let mut q = format!("FROM:<{}>", m.detail.mail_from);
        for r in &m.detail.recipients {
            if q.len() > self.cfg.max_text {
                q.push_str(" …");
                break;
            }
            q.push_str(&format!(" TO:<{}>", r.address));
        }
        m.tx.query = q;
        if m.detail.recipients_dropped > 0 {
            push_note(
                &mut m.tx.notes,
                Note::Truncated {
                    field: "recipients",
                    len: m.detail.recipients.len() as u64 + m.detail.recipients_dropped,
                },
            );
        }
        m.tx.detail.request = Some(SmtpRequest::Message(Box::new(m.detail)));
        out.transaction(&mut m.tx);
    }
}
