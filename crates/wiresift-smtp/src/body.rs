//! Message bodies, streamed: DATA end-of-data detection with dot-unstuffing accounting
//! (RFC 5321 §4.5.2), BDAT chunk accounting (RFC 3030), and bounded header extraction.
//!
//! Nothing here holds more than the configured header area: the scanner keeps a few bits of
//! state across chunk boundaries, and the header collector copies at most `limit` bytes of the
//! start of the message.

use memchr::memmem;
use serde::Serialize;

/// Where the DATA scanner is relative to line structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// Inside a line (or after a gap: the line position is unknown, so wait for a `\n`).
    MidLine,
    /// Right after `\n` (or at the start of the body).
    LineStart,
    /// A line started with `.`.
    Dot,
    /// A line started with `.\r`.
    DotCr,
}

/// End-of-data detector for DATA bodies. Finds the `.` line (`CRLF . CRLF`, a bare LF is also
/// accepted as line end) across any chunking and counts the stuffing dots it will remove.
#[derive(Debug, Clone)]
pub struct DataScanner {
    pos: Pos,
    finder: memmem::Finder<'static>,
    /// Bytes consumed so far, including stuffing dots and the terminator once found.
    pub wire_bytes: u64,
    /// Lines that began with a dot other than the terminator (each loses that dot).
    pub stuffed_dots: u64,
    /// Terminator length once found (3 for `.\r\n`, 2 for `.\n`).
    terminator: u64,
}

impl Default for DataScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl DataScanner {
    /// A scanner at the start of a body (which is a line start).
    pub fn new() -> Self {
        DataScanner {
            pos: Pos::LineStart,
            finder: memmem::Finder::new(b"\n.").into_owned(),
            wire_bytes: 0,
            stuffed_dots: 0,
            terminator: 0,
        }
    }

    /// Body size after unstuffing, without the terminating `.` line.
    pub fn message_bytes(&self) -> u64 {
        self.wire_bytes
            .saturating_sub(self.stuffed_dots)
            .saturating_sub(self.terminator)
    }

    /// Bytes were lost: the line position is unknown until the next `\n`.
    pub fn lost_sync(&mut self) {
        self.pos = Pos::MidLine;
    }

    /// Consume body bytes. Returns `Some(n)` when the terminator ends at `data[n - 1]` (the
    /// bytes after it are commands again), `None` when all of `data` is body.
    pub fn feed(&mut self, data: &[u8]) -> Option<usize> {
        let mut i = 0;
        loop {
            match self.pos {
                Pos::MidLine => match self.finder.find(&data[i..]) {
                    Some(p) => {
                        i += p + 2;
                        self.pos = Pos::Dot;
                    }
                    None => {
                        if data.last() == Some(&b'\n') && i < data.len() {
                            self.pos = Pos::LineStart;
                        }
                        self.wire_bytes += data.len() as u64;
                        return None;
                    }
                },
                Pos::LineStart => match data.get(i) {
                    None => break,
                    Some(b'.') => {
                        i += 1;
                        self.pos = Pos::Dot;
                    }
                    Some(_) => self.pos = Pos::MidLine,
                },
                Pos::Dot => match data.get(i) {
                    None => break,
                    Some(b'\r') => {
                        i += 1;
                        self.pos = Pos::DotCr;
                    }
                    Some(b'\n') => return Some(self.finish(data, i + 1, 2)),
                    Some(_) => {
                        self.stuffed_dots += 1;
                        self.pos = Pos::MidLine;
                    }
                },
                Pos::DotCr => match data.get(i) {
                    None => break,
                    Some(b'\n') => return Some(self.finish(data, i + 1, 3)),
                    Some(_) => {
                        // `.\r` then something else: a stuffed line with a stray CR.
                        self.stuffed_dots += 1;
                        self.pos = Pos::MidLine;
                    }
                },
            }
        }
        self.wire_bytes += data.len() as u64;
        None
    }

    fn finish(&mut self, _data: &[u8], end: usize, term: u64) -> usize {
        self.wire_bytes += end as u64;
        self.terminator = term;
        self.pos = Pos::LineStart;
        end
    }
}

/// Headers extracted from the start of a message. Values are raw (RFC 2047 encoded words are
/// not decoded), unfolded, lossily converted to UTF-8 and bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Headers {
    /// `Subject:`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `From:`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `To:`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `Message-ID:`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// `Date:`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The header area was larger than the limit: later headers were not looked at.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// Copies the start of a message until the blank line that ends its header section, at most
/// `limit` bytes. Everything after is ignored at no cost.
#[derive(Debug, Clone)]
pub struct HeaderCollector {
    buf: Vec<u8>,
    limit: usize,
    done: bool,
    truncated: bool,
    /// Strip one leading dot per line (DATA); BDAT content is not dot-stuffed.
    dot_stuffed: bool,
    at_line_start: bool,
}

impl HeaderCollector {
    /// A collector keeping at most `limit` bytes.
    pub fn new(limit: usize, dot_stuffed: bool) -> Self {
        HeaderCollector {
            buf: Vec::new(),
            limit,
            done: limit == 0,
            truncated: false,
            dot_stuffed,
            at_line_start: true,
        }
    }

    /// True once the header section ended or the limit was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Offer message bytes (in order).
    pub fn feed(&mut self, data: &[u8]) {
        if self.done {
            return;
        }
        for &b in data {
            if self.dot_stuffed && self.at_line_start && b == b'.' {
                self.at_line_start = false;
                continue;
            }
            self.at_line_start = b == b'\n';
            self.buf.push(b);
            if b == b'\n' && (self.buf.ends_with(b"\n\r\n") || self.buf.ends_with(b"\n\n")) {
                self.done = true;
                return;
            }
            if self.buf.len() >= self.limit {
                self.done = true;
                self.truncated = true;
                return;
            }
        }
    }

    /// Parse what was collected and free the buffer.
    pub fn finish(&mut self, max_value: usize) -> Headers {
        let mut h = parse_headers(&self.buf, max_value);
        h.truncated = self.truncated;
        self.buf = Vec::new();
        self.done = true;
        h
    }
}

/// Extract Subject/From/To/Message-ID/Date from a header section (first occurrence of each).
pub fn parse_headers(area: &[u8], max_value: usize) -> Headers {
    let mut h = Headers::default();
    let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for raw in area.split(|&b| b == b'\n') {
        let line = crate::parser::strip_cr(raw);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, v)) = fields.last_mut() {
                if v.len() < max_value {
                    v.push(b' ');
                    v.extend_from_slice(crate::parser::trim_start(line));
                }
            }
            continue;
        }
        if let Some(c) = line.iter().position(|&b| b == b':') {
            fields.push((
                &line[..c],
                crate::parser::trim_start(&line[c + 1..]).to_vec(),
            ));
        }
    }
    for (name, value) in fields {
        let slot = if name.eq_ignore_ascii_case(b"subject") {
            &mut h.subject
        } else if name.eq_ignore_ascii_case(b"from") {
            &mut h.from
        } else if name.eq_ignore_ascii_case(b"to") {
            &mut h.to
        } else if name.eq_ignore_ascii_case(b"message-id") {
            &mut h.message_id
        } else if name.eq_ignore_ascii_case(b"date") {
            &mut h.date
        } else {
            continue;
        };
        if slot.is_none() {
            let v = crate::parser::strip_trailing_ws(&value);
            let s = String::from_utf8_lossy(&v[..v.len().min(max_value)]);
            *slot = Some(s.into_owned());
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scan_all(chunks: &[&[u8]]) -> (Option<usize>, DataScanner) {
        let mut s = DataScanner::new();
        let mut total = 0;
        for c in chunks {
            if let Some(n) = s.feed(c) {
                return (Some(total + n), s);
            }
            total += c.len();
        }
        (None, s)
    }

    #[test]
    fn finds_end_and_counts_stuffing() {
        let body = b"Subject: x\r\n\r\n..leading dot\r\nplain\r\n.\r\nQUIT\r\n";
        let (end, s) = scan_all(&[body]);
        assert_eq!(end, Some(body.len() - 6));
        assert_eq!(s.stuffed_dots, 1);
        // "Subject: x\r\n\r\n.leading dot\r\nplain\r\n"
        assert_eq!(s.message_bytes(), 35);
    }

    #[test]
    fn empty_body_and_bare_lf() {
        assert_eq!(scan_all(&[b".\r\n"]).0, Some(3));
        assert_eq!(scan_all(&[b"a\n.\nx"]).0, Some(4));
        assert_eq!(scan_all(&[b"a\r\n.x\r\n"]).0, None);
        assert_eq!(scan_all(&[b"a.\r\n"]).0, None);
    }

    proptest! {
        #[test]
        fn end_found_at_any_split(cuts in proptest::collection::vec(0usize..60, 0..6)) {
            let body: &[u8] = b"l1\r\n..dot\r\n.\rx\r\nend\r\n.\r\nMAIL FROM:<a>\r\n";
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort();
            cuts.push(body.len());
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts { chunks.push(&body[prev..c]); prev = c; }
            let (end, s) = scan_all(&chunks);
            prop_assert_eq!(end, Some(body.len() - 15));
            prop_assert_eq!(s.stuffed_dots, 2);
        }
    }

    #[test]
    fn headers_bounded_and_unfolded() {
        let mut c = HeaderCollector::new(1024, true);
        c.feed(b"From: a@b\r\nSubject: hello\r\n  world\r\nTO: c@d\r\n");
        c.feed(b"Message-ID: <1@x>\r\nDate: Mon, 1 Jan 2024\r\n\r\nbody: not a header\r\n");
        assert!(c.is_done());
        let h = c.finish(998);
        assert_eq!(h.subject.as_deref(), Some("hello world"));
        assert_eq!(h.to.as_deref(), Some("c@d"));
        assert_eq!(h.message_id.as_deref(), Some("<1@x>"));
        assert_eq!(h.date.as_deref(), Some("Mon, 1 Jan 2024"));
        assert!(!h.truncated);

        let mut c = HeaderCollector::new(16, false);
        c.feed(b"Subject: a very long subject line\r\n");
        assert!(c.is_done());
        assert!(c.finish(998).truncated);
    }
}
