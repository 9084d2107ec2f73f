//! What a request is: command name, one-line query, JSON arguments, secrets redacted.

use crate::event::RequestDetail;
use crate::event::REDACTED;
use crate::summary::{bytes_json, Item};

/// Commands whose first argument is a subcommand reported as part of the name.
const CONTAINERS: &[&str] = &[
    "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY",
    "MODULE", "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
];

/// Commands the session treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    None,
    Multi,
    Exec,
    Discard,
    Monitor,
    Psync,
    Sync,
    ReplconfAck,
    Reset,
    /// `CLIENT REPLY ON|OFF|SKIP`.
    ClientReply(ReplyArg),
    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE / their UNSUBSCRIBEs, by the confirmation kind.
    Sub(&'static str),
}

/// Argument of `CLIENT REPLY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyArg {
    On,
    Off,
    Skip,
    Other,
}

/// A request, analysed.
#[derive(Debug)]
pub(crate) struct Command {
    pub name: String,
    pub query: String,
    pub request: Option<RequestDetail>,
    pub special: Special,
    /// Arguments after the name (for subscription counting).
    pub argc: u64,
    /// Full lengths of arguments cut to the display limit.
    pub truncated: Vec<u64>,
    /// An argument lost bytes in a gap.
    pub gap: bool,
}

/// Limits on the rendering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Render {
    pub max_query: usize,
    /// Build `query` and the JSON arguments (false: name and flags only, see
    /// `wiresift_core::Detail::Summary`).
    pub full: bool,
}

fn upper(b: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(b).into_owned();
    s.make_ascii_uppercase();
    s
}

fn is_word(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 32
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'|'))
}

/// Indices of arguments holding secrets.
fn secret_positions<A: AsRef<[u8]>>(name: &str, args: &[A]) -> Vec<usize> {
    let eq = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(w.as_bytes()))
    };
    let mut v = Vec::new();
    match name {
        "AUTH" => {
            // AUTH pass | AUTH user pass (anything longer: everything but the user).
            match args.len() {
                0 | 1 => {}
                2 => v.push(1),
                n => v.extend(2..n),
            }
        }
        "HELLO" => {
            for i in 1..args.len() {
                if eq(i, "AUTH") {
                    v.push(i + 2);
                }
            }
        }
        "MIGRATE" => {
            for i in 1..args.len() {
                if eq(i, "AUTH") {
                    v.push(i + 1);
                } else if eq(i, "AUTH2") {
                    v.push(i + 2);
                }
            }
        }
        "CONFIG SET" => {
            let mut i = 2;
            while i + 1 < args.len() {
                if eq(i, "requirepass") || eq(i, "masterauth") {
                    v.push(i + 1);
                }
                i += 2;
            }
        }
        "ACL SETUSER" => {
            for (i, a) in args.iter().enumerate().skip(3) {
                if matches!(a.as_ref().first(), Some(b'>' | b'<' | b'#' | b'!')) {
                    v.push(i);
                }
            }
        }
        _ => {}
    }
    v
}

fn sub_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "SUBSCRIBE" => "subscribe",
        "PSUBSCRIBE" => "psubscribe",
        "SSUBSCRIBE" => "ssubscribe",
        "UNSUBSCRIBE" => "unsubscribe",
        "PUNSUBSCRIBE" => "punsubscribe",
        "SUNSUBSCRIBE" => "sunsubscribe",
        _ => return None,
    })
}

/// Append one argument to a query line in redis-cli style: bare when it is plain printable
/// text, otherwise double-quoted with escapes.
fn quote_arg(q: &mut String, a: &[u8], cut: bool) {
    match std::str::from_utf8(a) {
        // Text stays text (non-ASCII included); only what breaks the line or the quoting is
        // escaped.
        Ok(s) if !s.is_empty() => {
            let bare = s
                .chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\'));
            if bare {
                q.push_str(s);
            } else {
                q.push('"');
                for c in s.chars() {
                    match c {
                        '"' => q.push_str("\\\""),
                        '\\' => q.push_str("\\\\"),
                        '\n' => q.push_str("\\n"),
                        '\r' => q.push_str("\\r"),
                        '\t' => q.push_str("\\t"),
                        c if c.is_control() => q.push_str(&format!("\\x{:02x}", c as u32)),
                        c => q.push(c),
                    }
                }
                q.push('"');
            }
        }
        _ => {
            q.push('"');
            crate::parser::escape_into(q, a);
            q.push('"');
        }
    }
    if cut {
        q.push('…');
    }
}

/// One request argument as kept: its bytes (at most the display limit), full length, and
/// whether a gap took part of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arg<'a> {
    pub data: &'a [u8],
    pub len: u64,
    pub gap: bool,
}

impl Arg<'_> {
    pub(crate) const EMPTY: Arg<'static> = Arg {
        data: b"",
        len: 0,
        gap: false,
    };
}

impl AsRef<[u8]> for Arg<'_> {
    fn as_ref(&self) -> &[u8] {
        self.data
    }
}

/// Analyse a request given as a top-level item (an array of strings), consuming it.
pub(crate) fn analyse(item: Item, r: &Render) -> Command {
    let (items, count) = match item {
        Item::Agg { items, count, .. } => (items, count),
        other => (vec![other], 1),
    };
    let args: Vec<Arg<'_>> = items
        .iter()
        .map(|i| match i {
            Item::Str { data, len, gap, .. } => Arg {
                data,
                len: *len,
                gap: *gap,
            },
            _ => Arg::EMPTY,
        })
        .collect();
    analyse_args(&args, count, r)
}

/// Analyse a request from its kept arguments (`args`, the first ones of `count`).
pub(crate) fn analyse_args(args: &[Arg<'_>], count: u64, r: &Render) -> Command {
    let base = args.first().map(|a| upper(a.data)).unwrap_or_default();
    let name = if CONTAINERS.contains(&base.as_str()) && args.len() > 1 && is_word(args[1].data) {
        format!("{base} {}", upper(args[1].data))
    } else {
        base
    };
    let secrets = secret_positions(&name, args);
    let special = match name.as_str() {
        "MULTI" => Special::Multi,
        "EXEC" => Special::Exec,
        "DISCARD" => Special::Discard,
        "MONITOR" => Special::Monitor,
        "PSYNC" => Special::Psync,
        "SYNC" => Special::Sync,
        "RESET" => Special::Reset,
        "REPLCONF"
            if args
                .get(1)
                .is_some_and(|a| a.data.eq_ignore_ascii_case(b"ACK")) =>
        {
            Special::ReplconfAck
        }
        "CLIENT REPLY" => {
            Special::ClientReply(match args.get(2).map(|a| a.data.to_ascii_uppercase()) {
                Some(a) if a == b"ON" => ReplyArg::On,
                Some(a) if a == b"OFF" => ReplyArg::Off,
                Some(a) if a == b"SKIP" => ReplyArg::Skip,
                _ => ReplyArg::Other,
            })
        }
        n => sub_kind(n).map_or(Special::None, Special::Sub),
    };

    if !r.full {
        let mut truncated = Vec::new();
        let mut gap = false;
        for a in args {
            gap |= a.gap;
            if (a.data.len() as u64) < a.len {
                truncated.push(a.len);
            }
        }
        return Command {
            name,
            query: String::new(),
            request: None,
            special,
            argc: count.saturating_sub(1),
            truncated,
            gap,
        };
    }
    let mut query = String::with_capacity(64);
    let mut truncated = Vec::new();
    let mut gap = false;
    let shown = args.len();
    for (i, a) in args.iter().enumerate() {
        let (data, len) = (a.data, a.len);
        gap |= a.gap;
        let secret = secrets.contains(&i);
        let cut = !secret && (data.len() as u64) < len;
        if cut {
            truncated.push(len);
        }
        if query.len() < r.max_query {
            if i > 0 {
                query.push(' ');
            }
            if secret {
                query.push_str(REDACTED);
            } else {
                quote_arg(&mut query, data, cut);
            }
        }
    }
    let json_args: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if secrets.contains(&i) {
                REDACTED.to_string()
            } else {
                bytes_json(a.data)
            }
        })
        .collect();
    if (shown as u64) < count && query.len() < r.max_query {
        query.push_str(&format!(" …(+{} args)", count - shown as u64));
    }
    if query.len() > r.max_query {
        let mut cut = r.max_query;
        while !query.is_char_boundary(cut) {
            cut -= 1;
        }
        query.truncate(cut);
        query.push('…');
    }
    let mut request = RequestDetail {
        args: json_args,
        arg_lengths: None,
        argc: None,
    };
    if !truncated.is_empty() || (shown as u64) < count {
        let lengths = args
            .iter()
            .enumerate()
            .map(|(i, a)| (!secrets.contains(&i)).then_some(a.len))
            .collect();
        request.arg_lengths = Some(lengths);
        request.argc = Some(count);
    }
    Command {
        name,
        query,
        request: Some(request),
        special,
        argc: count.saturating_sub(1),
        truncated,
        gap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::AggKind;
    use crate::summary::StrKind;

    fn req(args: &[&[u8]]) -> Item {
        Item::Agg {
            kind: AggKind::Array,
            items: args
                .iter()
                .map(|a| Item::Str {
                    kind: StrKind::Bulk,
                    data: a.to_vec(),
                    len: a.len() as u64,
                    gap: false,
                })
                .collect(),
            count: args.len() as u64,
        }
    }

    const R: Render = Render {
        max_query: 40,
        full: true,
    };

    #[test]
    fn names_and_specials() {
        let c = analyse(req(&[b"xinfo", b"stream", b"s"]), &R);
        assert_eq!(c.name, "XINFO STREAM");
        let c = analyse(req(&[b"client", b"\xff"]), &R);
        assert_eq!(c.name, "CLIENT");
        assert_eq!(analyse(req(&[b"get", b"k"]), &R).name, "GET");
        assert_eq!(
            analyse(req(&[b"CLIENT", b"reply", b"skip"]), &R).special,
            Special::ClientReply(ReplyArg::Skip)
        );
        assert_eq!(
            analyse(req(&[b"replconf", b"ack", b"1"]), &R).special,
            Special::ReplconfAck
        );
        let c = analyse(req(&[b"SUBSCRIBE", b"a", b"b"]), &R);
        assert_eq!((c.special, c.argc), (Special::Sub("subscribe"), 2));
    }

    #[test]
    fn query_json_and_bounds() {
        let c = analyse(req(&[b"SET", b"a b", b"\x00\xffz", "é".as_bytes()]), &R);
        assert_eq!(c.query, r#"SET "a b" "\x00\xffz" é"#);
        assert_eq!(
            serde_json::to_value(&c.request).unwrap(),
            serde_json::json!({"args": ["SET", "a b", "\u{0}\\xffz", "é"]})
        );
        // One unambiguous rule: the byte 0xbc and the text `\xbc` never render the same, in
        // `args` (`\xbc` / `\\xbc`) as in `query` (`"\xbc"` / `"\\xbc"`).
        let c = analyse(req(&[b"SET", b"\xbc", br"\xbc", br"a\b"]), &R);
        assert_eq!(
            serde_json::to_value(&c.request).unwrap(),
            serde_json::json!({"args": ["SET", r"\xbc", r"\\xbc", r"a\\b"]})
        );
        assert_eq!(c.query, r#"SET "\xbc" "\\xbc" "a\\b""#);
        let long = vec![b'x'; 100];
        let c = analyse(req(&[b"SET", b"k", &long]), &R);
        assert!(
            c.query.ends_with('…') && c.query.chars().count() <= 41,
            "{}",
            c.query
        );
        // A truncated argument: kept prefix, full length given.
        let mut it = req(&[b"SET", b"k", b"abc"]);
        if let Item::Agg { items, .. } = &mut it {
            if let Item::Str { len, .. } = &mut items[2] {
                *len = 1000;
            }
        }
        let c = analyse(it, &R);
        assert_eq!(
            serde_json::to_value(&c.request).unwrap()["arg_lengths"],
            serde_json::json!([3, 1, 1000])
        );
        assert_eq!(c.truncated, vec![1000]);
        let summary = Render {
            max_query: 40,
            full: false,
        };
        let c = analyse(req(&[b"AUTH", b"pw"]), &summary);
        assert_eq!((c.name.as_str(), c.query.as_str()), ("AUTH", ""));
        assert!(c.request.is_none());
    }

    #[test]
    fn secrets() {
        let p = |a: &[&[u8]]| {
            let c = analyse(req(a), &R);
            secret_positions(&c.name, a)
        };
        assert_eq!(p(&[b"AUTH", b"pw"]), vec![1]);
        assert_eq!(p(&[b"auth", b"user", b"pw"]), vec![2]);
        assert_eq!(
            p(&[b"HELLO", b"3", b"auth", b"u", b"pw", b"SETNAME", b"n"]),
            vec![4]
        );
        assert_eq!(
            p(&[b"MIGRATE", b"h", b"1", b"k", b"0", b"5", b"AUTH", b"pw"]),
            vec![7]
        );
        assert_eq!(
            p(&[b"MIGRATE", b"h", b"1", b"", b"0", b"5", b"AUTH2", b"u", b"pw"]),
            vec![8]
        );
        assert_eq!(p(&[b"CONFIG", b"SET", b"masterauth", b"pw"]), vec![3]);
        assert_eq!(
            p(&[b"ACL", b"SETUSER", b"u", b"on", b">pw", b"~*"]),
            vec![4]
        );
        assert!(p(&[b"GET", b"AUTH"]).is_empty());
    }
}
