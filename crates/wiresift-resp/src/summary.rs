//! Bounded value trees built token by token, and their JSON rendering.
//!
//! The session never holds a whole message: the [`Assembler`] receives tokens one at a time and
//! keeps a bounded copy of what will be reported (strings cut to a display limit, aggregates cut
//! to a number of elements, a node budget per message). Counts and full lengths are always kept.

use crate::parser::{escape_into, AggKind, BlobKind, Token};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
#[cfg(test)]
use serde_json::Value as Json;

/// Kind of a string-like [`Item`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrKind {
    /// `+` simple string.
    Simple,
    /// `-` simple error.
    Error,
    /// `$` bulk string.
    Bulk,
    /// `!` blob error (RESP3).
    BlobError,
    /// `=` verbatim string (RESP3); the data keeps its `txt:` format prefix.
    Verbatim,
    /// `,` double (RESP3), as its text.
    Double,
    /// `(` big number (RESP3), as its text.
    BigNumber,
    /// A line whose type byte is not RESP: the byte, and the whole line (that byte included) as
    /// data.
    Unknown(u8),
}

/// A bounded copy of a RESP value (re-exported as [`crate::RespValue`]): what a transaction's
/// `response.value` holds.
///
/// Serialised as: strings as JSON strings (valid UTF-8 as is, a backslash as `\\`, other
/// bytes as `\xNN`: the rule of [`wiresift_core::text`]; a verbatim
/// string without its `txt:` prefix; a cut string as `{"len": N, "prefix": "…"}`; a double as a
/// JSON number when it is finite), integers, booleans and null as themselves, arrays, sets and
/// pushes as arrays (one cut short ends with `{"more": K}`), maps and attributes as objects with
/// string keys (one cut short gets a `"(more)": K` entry; a key that is not a string is its JSON
/// text).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A string-like value.
    Str {
        /// Which kind of string.
        kind: StrKind,
        /// At most the display limit.
        data: Vec<u8>,
        /// Full length.
        len: u64,
        /// Bytes of the body lost in a capture gap.
        gap: bool,
    },
    /// `:` integer.
    Int(i64),
    /// `_` null (RESP3), or a RESP2 null bulk string / null array.
    Null,
    /// `#` boolean (RESP3).
    Bool(bool),
    /// An aggregate (array, map, set, attribute, push).
    Agg {
        /// Which kind of aggregate.
        kind: AggKind,
        /// At most the element limit.
        items: Vec<Item>,
        /// Elements seen.
        count: u64,
    },
}

impl Item {
    pub(crate) fn str_bytes(&self) -> Option<&[u8]> {
        match self {
            Item::Str { data, .. } => Some(data),
            _ => None,
        }
    }
    pub(crate) fn is_error(&self) -> bool {
        matches!(
            self,
            Item::Str {
                kind: StrKind::Error | StrKind::BlobError,
                ..
            }
        )
    }
    /// The type byte of the first value of unknown type in this item (kept part only).
    pub(crate) fn unknown_type(&self) -> Option<u8> {
        match self {
            Item::Str {
                kind: StrKind::Unknown(t),
                ..
            } => Some(*t),
            Item::Agg { items, .. } => items.iter().find_map(Item::unknown_type),
            _ => None,
        }
    }
    /// Name of the type in output.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Item::Str { kind, .. } => match kind {
                StrKind::Simple => "simple_string",
                StrKind::Error => "error",
                StrKind::Bulk => "bulk_string",
                StrKind::BlobError => "blob_error",
                StrKind::Verbatim => "verbatim_string",
                StrKind::Double => "double",
                StrKind::BigNumber => "big_number",
                StrKind::Unknown(_) => "unknown",
            },
            Item::Int(_) => "integer",
            Item::Null => "null",
            Item::Bool(_) => "boolean",
            Item::Agg { kind, .. } => kind.name(),
        }
    }
}

/// Render bytes as a JSON string with wiresift's escaping rule ([`wiresift_core::text`]):
/// valid UTF-8 as is, a backslash as `\\`, other bytes as `\xNN`.
pub(crate) fn bytes_json(b: &[u8]) -> String {
    wiresift_core::text::escaped(b).into_owned()
}

/// `{"len": N, "prefix": "…"}` of a cut string.
struct Cut<'a> {
    len: u64,
    prefix: &'a [u8],
}

impl Serialize for Cut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("len", &self.len)?;
        m.serialize_entry("prefix", &Text(self.prefix))?;
        m.end()
    }
}

/// Bytes as a JSON string with wiresift's escaping rule ([`wiresift_core::text`]); no copy
/// for valid UTF-8 without a backslash.
struct Text<'a>(&'a [u8]);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&wiresift_core::text::escaped(self.0))
    }
}

/// `{"more": K}` closing an aggregate cut short.
struct More(u64);

impl Serialize for More {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("more", &self.0)?;
        m.end()
    }
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Str {
                kind, data, len, ..
            } => {
                let body = match kind {
                    // `=txt:...`: drop the three-letter format.
                    StrKind::Verbatim if data.len() >= 4 && data[3] == b':' => &data[4..],
                    _ => &data[..],
                };
                if (data.len() as u64) < *len {
                    return Cut {
                        len: *len,
                        prefix: body,
                    }
                    .serialize(s);
                }
                if *kind == StrKind::Double {
                    if let Some(f) = std::str::from_utf8(body)
                        .ok()
                        .and_then(|t| t.parse::<f64>().ok())
                        .filter(|f| f.is_finite())
                    {
                        return s.serialize_f64(f);
                    }
                }
                Text(body).serialize(s)
            }
            Item::Int(i) => s.serialize_i64(*i),
            Item::Null => s.serialize_unit(),
            Item::Bool(b) => s.serialize_bool(*b),
            Item::Agg { kind, items, count } => {
                if matches!(kind, AggKind::Map | AggKind::Attribute) {
                    // A key whose value was not kept is not shown (it is counted in "(more)").
                    let shown = items.len() / 2;
                    let more = (shown as u64) < count / 2;
                    let mut m = s.serialize_map(Some(shown + usize::from(more)))?;
                    for pair in items[..shown * 2].chunks(2) {
                        match &pair[0] {
                            Item::Str { data, .. } => m.serialize_key(&Text(data))?,
                            other => {
                                m.serialize_key(&serde_json::to_string(other).unwrap_or_default())?
                            }
                        }
                        m.serialize_value(&pair[1])?;
                    }
                    if more {
                        m.serialize_entry("(more)", &(count / 2 - shown as u64))?;
                    }
                    m.end()
                } else {
                    let more = (items.len() as u64) < *count;
                    let mut q = s.serialize_seq(Some(items.len() + usize::from(more)))?;
                    for it in items {
                        q.serialize_element(it)?;
                    }
                    if more {
                        q.serialize_element(&More(count - items.len() as u64))?;
                    }
                    q.end()
                }
            }
        }
    }
}

/// JSON tree of an item (tests).
#[cfg(test)]
pub(crate) fn item_json(it: &Item) -> Json {
    serde_json::to_value(it).unwrap_or(Json::Null)
}

/// One-line rendering of a reply item for summaries, bounded to about `max` chars.
pub(crate) fn item_line(it: &Item, out: &mut String, max: usize) {
    if out.len() >= max {
        return;
    }
    match it {
        Item::Str { data, len, .. } => {
            escape_into(out, data);
            if (data.len() as u64) < *len {
                out.push('…');
            }
        }
        Item::Int(i) => out.push_str(&i.to_string()),
        Item::Null => out.push_str("(nil)"),
        Item::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Item::Agg { items, count, .. } => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                item_line(x, out, max);
                if out.len() >= max {
                    break;
                }
            }
            if (items.len() as u64) < *count {
                out.push_str(" …");
            }
            out.push(']');
        }
    }
    if out.len() > max {
        let mut cut = max;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
}

/// Limits on what the assembler keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keep {
    /// Bytes kept per string.
    pub str_bytes: usize,
    /// Elements kept in the top-level aggregate (request arguments).
    pub top_items: usize,
    /// Elements kept in nested aggregates.
    pub nested_items: usize,
    /// Nodes kept per message.
    pub nodes: usize,
    /// Deepest nesting.
    pub max_depth: usize,
}

#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    /// Values still expected; `None` for streamed aggregates.
    left: Option<u64>,
    items: Vec<Item>,
    count: u64,
}

#[derive(Debug)]
enum FrameKind {
    Agg(AggKind),
    /// A streamed string being assembled from chunks.
    Stream(BlobKind),
}

/// What the assembler needs next after a token.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Feed more tokens.
    More,
    /// Skip this many bytes (body + CRLF of a large blob), feeding them to [`Assembler::skipped`].
    Skip(u64),
    /// The message is complete.
    Done,
}

/// Why a token cannot continue the current message.
#[derive(Debug, PartialEq)]
pub(crate) enum AsmError {
    TooDeep,
    Unexpected(&'static str),
}

/// Builds one message at a time from tokens. See the module documentation.
#[derive(Debug)]
pub(crate) struct Assembler {
    keep: Keep,
    stack: Vec<Frame>,
    nodes: usize,
    /// A large blob whose body is being skipped.
    skipping: Option<Item>,
    /// Completed top-level value.
    done: Option<Item>,
    /// Top-level attribute seen before the value.
    attrs: Option<Item>,
    /// Set when a string was cut to the display limit: (full length).
    pub truncated: Vec<u64>,
}

impl Assembler {
    /// Keep only what pairing needs (the first elements of the top level, nothing nested),
    /// or everything the limits allow.
    pub(crate) fn set_light(&mut self, light: bool, full: Keep) {
        self.keep = if light {
            Keep {
                top_items: full.top_items.min(4),
                nested_items: 0,
                ..full
            }
        } else {
            full
        };
    }

    pub(crate) fn new(keep: Keep) -> Self {
        Assembler {
            keep,
            stack: Vec::new(),
            nodes: 0,
            skipping: None,
            done: None,
            attrs: None,
            truncated: Vec::new(),
        }
    }

    /// What is kept now (see [`Assembler::set_light`]).
    pub(crate) fn keep(&self) -> Keep {
        self.keep
    }

    /// Nothing of a message has been seen.
    pub(crate) fn is_idle(&self) -> bool {
        self.stack.is_empty() && self.skipping.is_none() && self.attrs.is_none()
    }

    /// Current aggregate depth.
    pub(crate) fn depth(&self) -> usize {
        self.stack.len()
    }

    /// True when inside a top-level array (a request being read).
    pub(crate) fn in_top_array(&self) -> bool {
        matches!(
            self.stack.first(),
            Some(Frame {
                kind: FrameKind::Agg(AggKind::Array),
                ..
            })
        )
    }

    pub(crate) fn reset(&mut self) {
        self.stack.clear();
        self.nodes = 0;
        self.skipping = None;
        self.done = None;
        self.attrs = None;
        self.truncated.clear();
    }

    /// Take the completed message: (value, top-level attributes).
    pub(crate) fn take(&mut self) -> Option<(Item, Option<Item>)> {
        let v = self.done.take()?;
        let a = self.attrs.take();
        self.stack.clear();
        self.nodes = 0;
        Some((v, a))
    }

    /// Collapse a message cut short (gap, close) into what was seen, for reporting.
    pub(crate) fn take_partial(&mut self) -> Option<Item> {
        if let Some(mut s) = self.skipping.take() {
            if let Item::Str { gap, .. } = &mut s {
                *gap = true;
            }
            self.push_item(s);
        }
        while let Some(f) = self.stack.pop() {
            let item = frame_item(f);
            if self.stack.is_empty() {
                self.done = Some(item);
                break;
            }
            let top = self.stack.last_mut().expect("non-empty");
            top.items.push(item);
            top.count += 1;
        }
        let v = self.done.take();
        self.reset();
        v
    }

    fn str_item(&mut self, kind: StrKind, s: &[u8]) -> Item {
        let n = s.len().min(self.keep.str_bytes);
        if n < s.len() {
            self.truncated.push(s.len() as u64);
        }
        Item::Str {
            kind,
            data: s[..n].to_vec(),
            len: s.len() as u64,
            gap: false,
        }
    }

    /// Feed one token.
    pub(crate) fn token(&mut self, t: &Token<'_>) -> Result<Step, AsmError> {
        // Inside a streamed string only chunks are legal.
        if let Some(Frame {
            kind: FrameKind::Stream(_),
            ..
        }) = self.stack.last()
        {
            return match *t {
                Token::Chunk(c) => {
                    self.append_stream(c, c.len() as u64);
                    Ok(Step::More)
                }
                Token::ChunkHeader(len) => {
                    self.skipping = Some(Item::Str {
                        kind: StrKind::Bulk,
                        data: Vec::new(),
                        len,
                        gap: false,
                    });
                    Ok(Step::Skip(len + 2))
                }
                Token::ChunkEnd => {
                    let f = self.stack.pop().expect("stream frame");
                    Ok(self.push_item(frame_item(f)))
                }
                _ => Err(AsmError::Unexpected("a ';' chunk")),
            };
        }
        // A scalar that will only be counted (its aggregate already shows all it may): no
        // copy. This is most elements of long replies (LRANGE 0 99, KEYS, …).
        if self.full_here()
            && !matches!(
                t,
                Token::BlobHeader { .. }
                    | Token::StreamedBlob(_)
                    | Token::Aggregate { .. }
                    | Token::End
                    | Token::Chunk(_)
                    | Token::ChunkHeader(_)
                    | Token::ChunkEnd
            )
        {
            return Ok(self.push_item(Item::Null));
        }
        let item = match *t {
            Token::SimpleString(s) => self.str_item(StrKind::Simple, s),
            Token::SimpleError(s) => self.str_item(StrKind::Error, s),
            Token::Integer(i) => Item::Int(i),
            Token::Null | Token::NullBlob | Token::NullAggregate(_) => Item::Null,
            Token::Boolean(b) => Item::Bool(b),
            Token::Double(s) => self.str_item(StrKind::Double, s),
            Token::BigNumber(s) => self.str_item(StrKind::BigNumber, s),
            Token::Blob { kind, body } => self.str_item(blob_str_kind(kind), body),
            Token::BlobHeader { kind, len } => {
                self.skipping = Some(Item::Str {
                    kind: blob_str_kind(kind),
                    data: Vec::new(),
                    len,
                    gap: false,
                });
                return Ok(Step::Skip(len + 2));
            }
            Token::Unknown { ty, line } => {
                // The whole line as sent: its first byte is data too, not a type.
                let full = line.len() + 1;
                let n = full.min(self.keep.str_bytes);
                if n < full {
                    self.truncated.push(full as u64);
                }
                let mut data = Vec::with_capacity(n);
                data.extend(std::iter::once(ty.0).chain(line.iter().copied()).take(n));
                Item::Str {
                    kind: StrKind::Unknown(ty.0),
                    data,
                    len: full as u64,
                    gap: false,
                }
            }
            Token::StreamedBlob(kind) => {
                self.push_frame(FrameKind::Stream(kind), None)?;
                return Ok(Step::More);
            }
            Token::Aggregate { kind, len } => {
                if len == Some(0) {
                    Item::Agg {
                        kind,
                        items: Vec::new(),
                        count: 0,
                    }
                } else {
                    self.push_frame(FrameKind::Agg(kind), len.map(|n| kind.elements(n)))?;
                    return Ok(Step::More);
                }
            }
            Token::End => match self.stack.last() {
                Some(Frame { left: None, .. }) => {
                    let f = self.stack.pop().expect("frame");
                    return Ok(self.finish_frame(f));
                }
                _ => return Err(AsmError::Unexpected("a value, not '.'")),
            },
            Token::Chunk(_) | Token::ChunkHeader(_) | Token::ChunkEnd => {
                return Err(AsmError::Unexpected("a value, not a ';' chunk"))
            }
        };
        Ok(self.push_item(item))
    }

    /// Bytes of a skipped blob (body then CRLF, as counted by [`Step::Skip`]); `left` is how
    /// many remain after these. Returns [`Step::Done`] if this completed the message.
    pub(crate) fn skipped(&mut self, bytes: &[u8], left: u64) -> Step {
        let keep = self.keep.str_bytes;
        if let Some(Item::Str { data, len, .. }) = &mut self.skipping {
            // Only body bytes (not the trailing CRLF) go into the prefix.
            let body_seen = (*len + 2).saturating_sub(left + bytes.len() as u64);
            let body_here = (*len).saturating_sub(body_seen).min(bytes.len() as u64) as usize;
            let room = keep.saturating_sub(data.len()).min(body_here);
            data.extend_from_slice(&bytes[..room]);
        }
        if left > 0 {
            return Step::More;
        }
        self.finish_skip()
    }

    /// Bytes of a skipped blob lost in a gap.
    pub(crate) fn skip_gap(&mut self) {
        if let Some(Item::Str { gap, .. }) = &mut self.skipping {
            *gap = true;
        }
    }

    fn finish_skip(&mut self) -> Step {
        let Some(s) = self.skipping.take() else {
            return Step::More;
        };
        if let Item::Str { len, .. } = &s {
            self.truncated.push(*len);
        }
        // A large chunk of a streamed string.
        if let Some(Frame {
            kind: FrameKind::Stream(_),
            ..
        }) = self.stack.last()
        {
            if let Item::Str { data, len, .. } = s {
                self.append_stream(&data, len);
            }
            return Step::More;
        }
        self.push_item(s)
    }

    fn append_stream(&mut self, c: &[u8], full: u64) {
        let keep = self.keep.str_bytes;
        if let Some(f) = self.stack.last_mut() {
            if f.items.is_empty() {
                f.items.push(Item::Str {
                    kind: StrKind::Bulk,
                    data: Vec::new(),
                    len: 0,
                    gap: false,
                });
            }
            if let Some(Item::Str { data, len, .. }) = f.items.first_mut() {
                let room = keep.saturating_sub(data.len()).min(c.len());
                data.extend_from_slice(&c[..room]);
                *len += full;
            }
        }
    }

    /// Elements the innermost aggregate still expects when it keeps no more of them (each
    /// scalar among them would only be counted, see [`Assembler::count_scalars`]).
    pub(crate) fn counting_left(&self) -> Option<u64> {
        let top = self.stack.last()?;
        if !matches!(top.kind, FrameKind::Agg(_)) || !self.full_here() {
            return None;
        }
        top.left
    }

    /// `k` scalar tokens (at most [`Assembler::counting_left`]): the same as feeding each to
    /// [`Assembler::token`], which would only count them.
    pub(crate) fn count_scalars(&mut self, k: u64) -> Step {
        let Some(top) = self.stack.last_mut() else {
            return Step::More;
        };
        top.count += k;
        if let Some(l) = &mut top.left {
            *l -= k;
            if *l == 0 {
                let f = self.stack.pop().expect("frame");
                return self.finish_frame(f);
            }
        }
        Step::More
    }

    /// The innermost aggregate keeps no more elements.
    #[inline]
    fn full_here(&self) -> bool {
        let Some(top) = self.stack.last() else {
            return false;
        };
        let cap = if self.stack.len() == 1 {
            self.keep.top_items
        } else {
            self.keep.nested_items
        };
        top.items.len() >= cap || self.nodes >= self.keep.nodes
    }

    fn push_frame(&mut self, kind: FrameKind, left: Option<u64>) -> Result<(), AsmError> {
        if self.stack.len() >= self.keep.max_depth {
            return Err(AsmError::TooDeep);
        }
        self.stack.push(Frame {
            kind,
            left,
            items: Vec::new(),
            count: 0,
        });
        Ok(())
    }

    fn finish_frame(&mut self, f: Frame) -> Step {
        if matches!(f.kind, FrameKind::Agg(AggKind::Attribute)) {
            // An attribute decorates the next value; it is not an element itself.
            if self.stack.is_empty() {
                self.attrs = Some(frame_item(f));
            }
            return Step::More;
        }
        self.push_item(frame_item(f))
    }

    fn push_item(&mut self, item: Item) -> Step {
        let cap = if self.stack.len() == 1 {
            self.keep.top_items
        } else {
            self.keep.nested_items
        };
        let Some(top) = self.stack.last_mut() else {
            self.done = Some(item);
            return Step::Done;
        };
        if top.items.len() < cap && self.nodes < self.keep.nodes {
            top.items.push(item);
            self.nodes += 1;
        }
        top.count += 1;
        if let Some(l) = &mut top.left {
            *l -= 1;
            if *l == 0 {
                let f = self.stack.pop().expect("frame");
                return self.finish_frame(f);
            }
        }
        Step::More
    }
}

fn blob_str_kind(k: BlobKind) -> StrKind {
    match k {
        BlobKind::Bulk => StrKind::Bulk,
        BlobKind::Error => StrKind::BlobError,
        BlobKind::Verbatim => StrKind::Verbatim,
    }
}

fn frame_item(f: Frame) -> Item {
    match f.kind {
        FrameKind::Agg(kind) => Item::Agg {
            kind,
            items: f.items,
            count: f.count,
        },
        FrameKind::Stream(kind) => {
            let mut it = f.items.into_iter().next().unwrap_or(Item::Str {
                kind: StrKind::Bulk,
                data: Vec::new(),
                len: 0,
                gap: false,
            });
            if let Item::Str { kind: k, .. } = &mut it {
                *k = blob_str_kind(kind);
            }
            it
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keep() -> Keep {
        Keep {
            str_bytes: 4,
            top_items: 3,
            nested_items: 2,
            nodes: 100,
            max_depth: 4,
        }
    }

    #[test]
    fn bounded_tree_and_json() {
        let mut a = Assembler::new(keep());
        let toks = [
            Token::Aggregate {
                kind: AggKind::Array,
                len: Some(5),
            },
            Token::Blob {
                kind: BlobKind::Bulk,
                body: b"abcdefgh",
            },
            Token::Aggregate {
                kind: AggKind::Set,
                len: Some(3),
            },
            Token::Integer(1),
            Token::Integer(2),
            Token::Integer(3),
            Token::Null,
            Token::Boolean(true),
        ];
        for t in &toks {
            assert_eq!(a.token(t), Ok(Step::More));
        }
        assert_eq!(a.token(&Token::Double(b"1.5")), Ok(Step::Done));
        let (v, attrs) = a.take().unwrap();
        assert!(attrs.is_none());
        assert_eq!(
            item_json(&v),
            json!([{"len": 8, "prefix": "abcd"}, [1, 2, {"more": 1}], null, {"more": 2}])
        );
        assert_eq!(a.truncated, vec![8]);
        let mut line = String::new();
        item_line(&v, &mut line, 100);
        assert_eq!(line, "[abcd… [1 2 …] (nil) …]");
    }

    #[test]
    fn skips_streams_attributes_and_depth() {
        let mut a = Assembler::new(keep());
        let hdr = Token::BlobHeader {
            kind: BlobKind::Bulk,
            len: 10,
        };
        assert_eq!(a.token(&hdr), Ok(Step::Skip(12)));
        assert_eq!(a.skipped(b"0123456", 5), Step::More);
        assert_eq!(a.skipped(b"789\r\n", 0), Step::Done);
        let (v, _) = a.take().unwrap();
        assert_eq!(item_json(&v), json!({"len": 10, "prefix": "0123"}));
        // Attribute before a value.
        for t in [
            Token::Aggregate {
                kind: AggKind::Attribute,
                len: Some(1),
            },
            Token::SimpleString(b"ttl"),
            Token::Integer(5),
        ] {
            assert_eq!(a.token(&t), Ok(Step::More));
        }
        assert!(!a.is_idle());
        assert_eq!(a.token(&Token::SimpleString(b"OK")), Ok(Step::Done));
        let (v, attrs) = a.take().unwrap();
        assert_eq!(item_json(&v), json!("OK"));
        assert_eq!(item_json(&attrs.unwrap()), json!({"ttl": 5}));
        // Streamed string.
        assert_eq!(
            a.token(&Token::StreamedBlob(BlobKind::Bulk)),
            Ok(Step::More)
        );
        assert_eq!(a.token(&Token::Chunk(b"ab")), Ok(Step::More));
        assert_eq!(a.token(&Token::Chunk(b"cd")), Ok(Step::More));
        assert_eq!(a.token(&Token::ChunkEnd), Ok(Step::Done));
        assert_eq!(item_json(&a.take().unwrap().0), json!("abcd"));
        // Depth.
        let agg = Token::Aggregate {
            kind: AggKind::Array,
            len: Some(1),
        };
        for _ in 0..4 {
            assert_eq!(a.token(&agg), Ok(Step::More));
        }
        assert_eq!(a.token(&agg), Err(AsmError::TooDeep));
        a.reset();
        assert!(a.is_idle());
        assert_eq!(
            a.token(&Token::End),
            Err(AsmError::Unexpected("a value, not '.'"))
        );
        assert_eq!(bytes_json(b"a\xffb"), "a\\xffb");
        // A map cut between a key and its value shows whole pairs only.
        let m = Item::Agg {
            kind: AggKind::Map,
            items: vec![Item::Int(1), Item::Int(2), Item::Int(3)],
            count: 6,
        };
        assert_eq!(item_json(&m), json!({"1": 2, "(more)": 2}));
    }
}
