//! What an SMTP session's state costs, shedding it over a budget, the request timer, and the
//! byte accounting.
//!
//! State is small and bounded by [`crate::SmtpConfig`] (at most `max_pending` commands,
//! `max_recipients` recipients, `header_area` bytes of headers, `max_reply_lines` lines), so
//! [`State::state_bytes`] adds it up on each call: O(pending commands), and there are rarely
//! more than a few.

use super::{Pending, State};
use crate::event::{ReplyDetail, RequestDetail};
use std::mem::size_of;
use wiresift_core::{push_note, ByteAccounting, Duration, EventSink, Note, Timestamp};

/// Byte counters; see [`Acct::accounting`].
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Acct {
    /// Bytes handed to `on_data`.
    pub delivered: u64,
    /// Bytes the parser consumed (including what the resync skipped and TLS bytes passed over).
    pub consumed: u64,
    /// Consumed while looking for the next line after losing sync.
    pub resync_skipped: u64,
    /// Consumed after the session detached (TLS).
    pub tls_consumed: u64,
    /// Dropped from the carry-over (a gap, an overflow).
    pub dropped: u64,
    /// Never offered to the parser (after detaching, at close).
    pub undissected: u64,
}

impl Acct {
    /// The accounting without `held` (the caller knows the carry-over).
    pub fn accounting(&self) -> ByteAccounting {
        ByteAccounting {
            delivered: self.delivered,
            parsed: self.consumed - self.resync_skipped - self.tls_consumed,
            skipped: self.resync_skipped + self.dropped,
            undissected: self.undissected + self.tls_consumed,
            held: 0,
        }
    }
}

fn notes_heap(n: &Vec<Note>) -> usize {
    n.capacity() * size_of::<Note>()
        + n.iter()
            .map(|n| match n {
                Note::Text { text } => text.capacity(),
                _ => 0,
            })
            .sum::<usize>()
}

fn opt_str(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::capacity)
}

fn request_heap(r: &RequestDetail) -> usize {
    opt_str(&r.domain)
        + opt_str(&r.address)
        + opt_str(&r.params)
        + r.auth
            .as_ref()
            .map_or(0, |a| a.mechanism.capacity() + opt_str(&a.user))
}

fn reply_heap(r: &ReplyDetail) -> usize {
    r.lines.capacity() * size_of::<String>() + r.lines.iter().map(String::capacity).sum::<usize>()
}

fn pending_heap(p: &Pending) -> usize {
    p.tx.command.capacity()
        + p.tx.query.capacity()
        + opt_str(&p.tx.error)
        + notes_heap(&p.tx.notes)
        + request_heap(&p.req)
        + p.intermediate.as_ref().map_or(0, reply_heap)
        + p.body.as_ref().map_or(0, |b| {
            b.headers.subject.as_ref().map_or(0, String::capacity)
                + b.headers.message_id.as_ref().map_or(0, String::capacity)
        })
}

impl State {
    /// Bytes of state held now: pending commands, the mail message in progress (recipients),
    /// the header area, the reply being assembled, overlong-line prefixes, notes, held events.
    pub(super) fn state_bytes(&self) -> usize {
        let queue = self.queue.capacity() * size_of::<Pending>()
            + self.queue.iter().map(pending_heap).sum::<usize>();
        let mail = self.current.as_ref().map_or(0, |m| {
            size_of::<super::MailTx>()
                + m.detail.mail_from.capacity()
                + notes_heap(&m.tx.notes)
                + m.detail.recipients.capacity() * size_of::<crate::event::Recipient>()
                + m.detail
                    .recipients
                    .iter()
                    .map(|r| r.address.capacity())
                    .sum::<usize>()
        });
        let halves = self
            .half
            .iter()
            .map(|h| notes_heap(&h.notes) + h.overlong.as_ref().map_or(0, |o| o.prefix.capacity()))
            .sum::<usize>();
        let reply = self.reply.as_ref().map_or(0, |r| {
            r.lines.capacity() * size_of::<Vec<u8>>()
                + r.lines.iter().map(Vec::capacity).sum::<usize>()
        });
        let held = self.tls_held.as_ref().map_or(0, |v| v.len() * 512);
        queue + mail + halves + reply + held + self.collector.as_ref().map_or(0, |c| c.buffered())
    }

    /// Over budget: report the oldest commands now (`no_response`, `shed` note), then the mail
    /// message in progress, then drop the header area; see
    /// [`wiresift_core::ProtocolSession::shed`].
    pub(super) fn shed(&mut self, limit: usize, ts: Timestamp, out: &mut dyn EventSink) -> u64 {
        let ts = ts.max(self.now);
        let mut n = 0;
        let note = Note::Shed {
            budget: "connection",
        };
        while self.state_bytes() > limit {
            let Some(mut p) = self.queue.pop_front() else {
                break;
            };
            if p.waiting_since.is_some() || p.stage == super::Stage::InBody {
                // Its reply may still come: it is counted then, not paired.
                self.late_owed += 1;
            }
            push_note(&mut p.tx.notes, note.clone());
            self.finish(p, None, ts, out);
            n += 1;
        }
        if self.queue.is_empty() {
            self.queue = Default::default();
        }
        if self.state_bytes() > limit {
            if let Some(m) = self.current.as_mut() {
                push_note(&mut m.tx.notes, note.clone());
                self.abandon("shed", ts, out);
                n += 1;
            }
        }
        if self.state_bytes() > limit && self.collector.take().is_some() {
            // The headers of the message in flight are not collected.
            n += 1;
        }
        if self.state_bytes() > limit {
            for h in &mut self.half {
                n += h.notes.len() as u64;
                h.notes = Vec::new();
            }
        }
        n
    }

    /// Report commands whose reply is overdue (`no_response`, `request_timeout` note).
    pub(super) fn on_timer(
        &mut self,
        now: Timestamp,
        timeout: Duration,
        out: &mut dyn EventSink,
    ) -> u64 {
        let mut n = 0;
        while let Some(since) = self.queue.front().and_then(|p| p.waiting_since) {
            if since.saturating_add(timeout) > now {
                break;
            }
            let Some(mut p) = self.queue.pop_front() else {
                break;
            };
            let waited_us = now.saturating_since(since).as_micros();
            push_note(&mut p.tx.notes, Note::RequestTimeout { waited_us });
            self.late_owed += 1;
            self.finish(p, None, now, out);
            n += 1;
        }
        n
    }
}
