//! What the session's state costs, and how long a request may wait.
//!
//! - [`Queue`]: the pending queue with its cost in bytes kept up to date on every push and pop
//!   (`size_of` of the slots the deque has room for, plus the heap bytes each request keeps:
//!   command, query, argument list, notes, confirmations), so that
//!   [`wiresift_core::ProtocolSession::state_bytes`] is O(1).
//! - [`Wait`]: a blocking command (`BLPOP … 5`, `XREAD BLOCK 0 …`, `WAIT 1 100`) legitimately
//!   waits for its reply: its own timeout is added to the request timeout, and one that blocks
//!   forever (timeout 0) has no deadline.

use super::{Pending, Slot};
use crate::event::RequestDetail;
use crate::summary::Item;
use std::collections::VecDeque;
use std::mem::size_of;
use wiresift_core::{Duration, Note, Timestamp};

/// How long a request may legitimately wait for its reply, beyond the request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// An ordinary request: the request timeout.
    Normal,
    /// A blocking command with its own timeout: the request timeout plus this.
    Extra(Duration),
    /// Blocks until something happens (timeout 0, or a timeout that cannot be read).
    Forever,
}

impl Wait {
    /// The capture time after which the request counts as unanswered.
    pub(super) fn deadline(self, start: Timestamp, timeout: Duration) -> Option<Timestamp> {
        match self {
            Wait::Normal => Some(start.saturating_add(timeout)),
            Wait::Extra(d) => Some(start.saturating_add(timeout).saturating_add(d)),
            Wait::Forever => None,
        }
    }
}

/// A timeout argument in seconds (`BLPOP`: may be fractional) or milliseconds.
fn timeout_arg(a: &[u8], millis: bool) -> Wait {
    let Some(s) = std::str::from_utf8(a).ok().map(str::trim) else {
        return Wait::Forever;
    };
    let ns = if millis {
        s.parse::<u64>().ok().map(|ms| ms.saturating_mul(1_000_000))
    } else {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| (v * 1e9).min(u64::MAX as f64) as u64)
    };
    match ns {
        Some(0) | None => Wait::Forever,
        Some(ns) => Wait::Extra(Duration(ns)),
    }
}

/// The wait of a request with these arguments (`args[0]` the command name; `count` the full
/// number of elements, of which only the first `args.len()` were kept).
pub(super) fn wait_of<'a, I>(args: I, count: u64) -> Wait
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut it = args.into_iter();
    let Some(name) = it.next() else {
        return Wait::Normal;
    };
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    let last_secs = [
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BLMOVE",
        "BZPOPMIN",
        "BZPOPMAX",
    ];
    let first_secs = ["BLMPOP", "BZMPOP"];
    if last_secs.iter().any(|n| is(n)) {
        let rest: Vec<&[u8]> = it.collect();
        // The timeout is the last element; it may not have been kept.
        return match rest.last() {
            Some(a) if rest.len() as u64 + 1 == count => timeout_arg(a, false),
            _ => Wait::Forever,
        };
    }
    if first_secs.iter().any(|n| is(n)) {
        return it.next().map_or(Wait::Forever, |a| timeout_arg(a, false));
    }
    if is("WAIT") {
        return it.nth(1).map_or(Wait::Forever, |a| timeout_arg(a, true));
    }
    if is("WAITAOF") {
        return it.nth(2).map_or(Wait::Forever, |a| timeout_arg(a, true));
    }
    if is("XREAD") || is("XREADGROUP") {
        while let Some(a) = it.next() {
            if a.eq_ignore_ascii_case(b"STREAMS") {
                break;
            }
            if a.eq_ignore_ascii_case(b"BLOCK") {
                return it.next().map_or(Wait::Forever, |a| timeout_arg(a, true));
            }
        }
        return Wait::Normal;
    }
    Wait::Normal
}

/// The wait of a request given as its assembled value.
pub(super) fn wait_of_item(item: &Item) -> Wait {
    match item {
        Item::Agg { items, count, .. } => wait_of(
            items.iter().map(|i| i.str_bytes().unwrap_or_default()),
            *count,
        ),
        _ => Wait::Normal,
    }
}

fn note_heap(n: &Note) -> usize {
    size_of::<Note>()
        + match n {
            Note::Text { text } => text.capacity(),
            _ => 0,
        }
}

fn notes_heap(notes: &Vec<Note>) -> usize {
    (notes.capacity() - notes.len()) * size_of::<Note>()
        + notes.iter().map(note_heap).sum::<usize>()
}

fn request_heap(r: &RequestDetail) -> usize {
    r.args.capacity() * size_of::<String>()
        + r.args.iter().map(String::capacity).sum::<usize>()
        + r.arg_lengths
            .as_ref()
            .map_or(0, |v| v.capacity() * size_of::<Option<u64>>())
}

/// Heap bytes an item keeps (the item itself not counted).
pub(super) fn item_heap(i: &Item) -> usize {
    match i {
        Item::Str { data, .. } => data.capacity(),
        Item::Agg { items, .. } => {
            items.capacity() * size_of::<Item>() + items.iter().map(item_heap).sum::<usize>()
        }
        _ => 0,
    }
}

/// Heap bytes a pending request keeps.
pub(super) fn pending_heap(p: &Pending) -> usize {
    let tx = &p.tx;
    tx.command.capacity()
        + tx.query.capacity()
        + tx.error.as_ref().map_or(0, String::capacity)
        + tx.fingerprint.as_ref().map_or(0, String::capacity)
        + notes_heap(&tx.notes)
        + tx.detail.request.as_ref().map_or(0, request_heap)
        + p.confirms.capacity() * size_of::<Item>()
        + p.confirms.iter().map(item_heap).sum::<usize>()
}

/// Heap bytes of a list of notes (for the readers' notes).
pub(super) fn notes_bytes(notes: &Vec<Note>) -> usize {
    notes_heap(notes)
}

/// The pending queue and the heap bytes its entries keep.
#[derive(Debug, Default)]
pub(super) struct Queue {
    q: VecDeque<Slot>,
    /// Sum of [`pending_heap`] over the queued requests, as of their last (re)costing.
    heap: usize,
}

fn slot_heap(s: &Slot) -> usize {
    match s {
        Slot::Req(p) => p.cost,
        Slot::Gap(_) => 0,
    }
}

impl Queue {
    /// Bytes the queue holds: the deque's slots (allocated, used or not) and what requests keep.
    pub(super) fn bytes(&self) -> usize {
        self.q.capacity() * size_of::<Slot>() + self.heap
    }

    pub(super) fn len(&self) -> usize {
        self.q.len()
    }

    /// Drop every entry (and the room they took).
    pub(super) fn clear(&mut self) {
        self.q = VecDeque::new();
        self.heap = 0;
    }

    pub(super) fn iter(&self) -> std::collections::vec_deque::Iter<'_, Slot> {
        self.q.iter()
    }

    pub(super) fn front(&self) -> Option<&Slot> {
        self.q.front()
    }

    /// The front slot; call [`Queue::recost_front`] after changing what it keeps.
    pub(super) fn front_mut(&mut self) -> Option<&mut Slot> {
        self.q.front_mut()
    }

    /// The back slot; call [`Queue::recost_back`] after changing what it keeps.
    pub(super) fn back_mut(&mut self) -> Option<&mut Slot> {
        self.q.back_mut()
    }

    pub(super) fn push_back(&mut self, mut s: Slot) {
        if let Slot::Req(p) = &mut s {
            p.cost = pending_heap(p);
        }
        self.heap += slot_heap(&s);
        if self.q.capacity() == 0 {
            // One slot for the usual one request in flight (the default first allocation is four
            // slots, ~2.5 KB, per connection).
            self.q.reserve_exact(1);
        }
        self.q.push_back(s);
    }

    pub(super) fn pop_front(&mut self) -> Option<Slot> {
        let s = self.q.pop_front()?;
        self.heap -= slot_heap(&s);
        if self.q.is_empty() && self.q.capacity() > 64 {
            // A drained pipeline gives back its slots (a large queue costs ~0.5 KB a slot).
            self.q = VecDeque::new();
        }
        Some(s)
    }

    /// After a burst was shed: give back most of the room it left. Only when the queue uses a
    /// quarter of its room or less: a queue shed to a budget over and over would otherwise be
    /// shrunk and grown (a memmove of every slot) each time.
    pub(super) fn shrink(&mut self) {
        if self.q.is_empty() {
            self.q = VecDeque::new();
        } else if self.q.capacity() > 4 * self.q.len() + 64 {
            self.q.shrink_to(2 * self.q.len());
        }
    }

    fn recost(heap: &mut usize, s: Option<&mut Slot>) {
        if let Some(Slot::Req(p)) = s {
            let c = pending_heap(p);
            *heap = *heap - p.cost + c;
            p.cost = c;
        }
    }

    pub(super) fn recost_front(&mut self) {
        Self::recost(&mut self.heap, self.q.front_mut());
    }

    pub(super) fn recost_back(&mut self) {
        Self::recost(&mut self.heap, self.q.back_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(args: &[&str]) -> Wait {
        wait_of(args.iter().map(|a| a.as_bytes()), args.len() as u64)
    }

    #[test]
    fn blocking_commands() {
        assert_eq!(w(&["GET", "k"]), Wait::Normal);
        assert_eq!(w(&["blpop", "a", "b", "0"]), Wait::Forever);
        assert_eq!(
            w(&["BLPOP", "a", "1.5"]),
            Wait::Extra(Duration(1_500_000_000))
        );
        assert_eq!(
            w(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "2"]),
            Wait::Extra(Duration::from_secs(2))
        );
        assert_eq!(
            w(&["BZMPOP", "3", "1", "z", "MIN"]),
            Wait::Extra(Duration::from_secs(3))
        );
        assert_eq!(
            w(&["XREAD", "COUNT", "1", "STREAMS", "s", "$"]),
            Wait::Normal
        );
        assert_eq!(
            w(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]),
            Wait::Forever
        );
        assert_eq!(
            w(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "250",
                "STREAMS",
                "s",
                ">"
            ]),
            Wait::Extra(Duration::from_millis(250))
        );
        assert_eq!(
            w(&["WAIT", "1", "100"]),
            Wait::Extra(Duration::from_millis(100))
        );
        assert_eq!(w(&["WAIT", "1", "0"]), Wait::Forever);
        assert_eq!(w(&["WAITAOF", "1", "0", "0"]), Wait::Forever);
        // The timeout was not kept (more elements than kept): no deadline rather than a wrong one.
        assert_eq!(
            wait_of(["BLPOP", "a"].iter().map(|a| a.as_bytes()), 300),
            Wait::Forever
        );
        let d = Wait::Extra(Duration::from_secs(1)).deadline(Timestamp(10), Duration(5));
        assert_eq!(d, Some(Timestamp(10 + 5 + 1_000_000_000)));
    }
}
