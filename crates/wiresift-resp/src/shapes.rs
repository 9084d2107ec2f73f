//! Recognising message shapes without framing state: plausible message starts (for
//! resynchronisation after a gap), pub/sub confirmations and deliveries, RDB end marks.

use crate::parser::AggKind;
use crate::summary::Item;

/// Plausibility of a boundary candidate.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plaus {
    Yes,
    No,
    Undecided,
}

/// Digits (optionally `-`) then CRLF at `d[i..]`: (value, index after CRLF).
pub(crate) fn num_crlf(d: &[u8], mut i: usize, max_digits: usize) -> Result<(i64, usize), Plaus> {
    let s = i;
    if d.get(i) == Some(&b'-') {
        i += 1;
    }
    while i < d.len() && d[i].is_ascii_digit() {
        i += 1;
        if i - s > max_digits {
            return Err(Plaus::No);
        }
    }
    if i + 2 > d.len() {
        return Err(Plaus::Undecided);
    }
    if &d[i..i + 2] != b"\r\n" || i == s {
        return Err(Plaus::No);
    }
    let v = crate::parser::parse_i64(&d[s..i]).ok_or(Plaus::No)?;
    Ok((v, i + 2))
}

/// `*<n>\r\n$<m>\r\n<letter>`: the start of a command.
pub(crate) fn plausible_request(d: &[u8]) -> Plaus {
    if d.first() != Some(&b'*') {
        return Plaus::No;
    }
    let (n, i) = match num_crlf(d, 1, 7) {
        Ok(v) => v,
        Err(p) => return p,
    };
    if n < 1 {
        return Plaus::No;
    }
    match d.get(i) {
        None => return Plaus::Undecided,
        Some(b'$') => {}
        Some(_) => return Plaus::No,
    }
    let (m, j) = match num_crlf(d, i + 1, 9) {
        Ok(v) => v,
        Err(p) => return p,
    };
    if !(1..=64).contains(&m) {
        return Plaus::No;
    }
    match d.get(j) {
        None => Plaus::Undecided,
        Some(c) if c.is_ascii_alphabetic() => Plaus::Yes,
        Some(_) => Plaus::No,
    }
}

/// A reply header that parses, with a consistent body where it can be checked.
pub(crate) fn plausible_reply(d: &[u8]) -> Plaus {
    let Some(&t) = d.first() else {
        return Plaus::Undecided;
    };
    let line_ok = |pred: fn(u8) -> bool| -> Plaus {
        for (i, &c) in d.iter().enumerate().skip(1).take(512) {
            if c == b'\r' {
                return match d.get(i + 1) {
                    None => Plaus::Undecided,
                    Some(b'\n') => Plaus::Yes,
                    Some(_) => Plaus::No,
                };
            }
            if !pred(c) {
                return Plaus::No;
            }
        }
        if d.len() < 513 {
            Plaus::Undecided
        } else {
            Plaus::No
        }
    };
    match t {
        b'+' | b'-' => line_ok(|c| c >= 0x20 && c != 0x7f),
        b':' => match num_crlf(d, 1, 20) {
            Ok(_) => Plaus::Yes,
            Err(p) => p,
        },
        b'$' | b'!' | b'=' => match num_crlf(d, 1, 10) {
            Ok((-1, _)) if t == b'$' => Plaus::Yes,
            Ok((n, _)) if n < 0 => Plaus::No,
            Ok((n, i)) if n <= 4096 => {
                let end = i + n as usize;
                match d.get(end..end + 2) {
                    None => Plaus::Undecided,
                    Some(b"\r\n") => Plaus::Yes,
                    Some(_) => Plaus::No,
                }
            }
            Ok(_) => Plaus::Yes,
            Err(p) => p,
        },
        b'*' | b'%' | b'~' | b'>' | b'|' => match num_crlf(d, 1, 10) {
            Ok((n, _)) if n <= 0 => {
                if n == 0 || n == -1 {
                    Plaus::Yes
                } else {
                    Plaus::No
                }
            }
            Ok((_, i)) => match d.get(i) {
                None => Plaus::Undecided,
                Some(&c) if crate::parser::TypeByte(c).is_known() && c != b';' && c != b'.' => {
                    Plaus::Yes
                }
                Some(_) => Plaus::No,
            },
            Err(p) => p,
        },
        b'_' => match d.get(1..3) {
            None => Plaus::Undecided,
            Some(b"\r\n") => Plaus::Yes,
            Some(_) => Plaus::No,
        },
        b'#' => match d.get(1..4) {
            None => Plaus::Undecided,
            Some(b"t\r\n" | b"f\r\n") => Plaus::Yes,
            Some(_) => Plaus::No,
        },
        b',' | b'(' => line_ok(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')),
        _ => Plaus::No,
    }
}

/// `(kind, count)` of a subscription confirmation (`["subscribe", "ch", 1]`).
pub(crate) fn confirmation(it: &Item) -> Option<(&'static str, i64)> {
    let Item::Agg {
        kind: AggKind::Array | AggKind::Push,
        items,
        count: 3,
    } = it
    else {
        return None;
    };
    let kind = match items.first()?.str_bytes()? {
        b"subscribe" => "subscribe",
        b"psubscribe" => "psubscribe",
        b"ssubscribe" => "ssubscribe",
        b"unsubscribe" => "unsubscribe",
        b"punsubscribe" => "punsubscribe",
        b"sunsubscribe" => "sunsubscribe",
        _ => return None,
    };
    match items.get(2)? {
        Item::Int(n) => Some((kind, *n)),
        _ => None,
    }
}

/// A pub/sub delivery: `message`, `pmessage`, `smessage` arrays.
pub(crate) fn is_delivery(it: &Item) -> bool {
    let Item::Agg {
        kind: AggKind::Array,
        items,
        count,
    } = it
    else {
        return false;
    };
    matches!(
        (items.first().and_then(Item::str_bytes), count),
        (Some(b"message" | b"smessage"), 3) | (Some(b"pmessage"), 4)
    )
}

pub(crate) fn find_sub(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `(type byte, body length)` of a blob header at the start of `data`.
pub(crate) fn blob_header(data: &[u8]) -> Option<(u8, u64)> {
    let t = *data.first()?;
    if !matches!(t, b'$' | b'!' | b'=' | b';') {
        return None;
    }
    let eol = data.iter().take(24).position(|&b| b == b'\r')?;
    let n = crate::parser::parse_i64(&data[1..eol])?;
    u64::try_from(n).ok().map(|n| (t, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_starts() {
        assert_eq!(plausible_request(b"*2\r\n$3\r\nGET\r\n"), Plaus::Yes);
        assert_eq!(plausible_request(b"*2\r\n$3\r\n"), Plaus::Undecided);
        assert_eq!(plausible_request(b"*2\r"), Plaus::Undecided);
        assert_eq!(plausible_request(b"*0\r\n"), Plaus::No);
        assert_eq!(plausible_request(b"*2\r\n:3\r\n"), Plaus::No);
        assert_eq!(plausible_request(b"*2\r\n$3\r\n123\r\n"), Plaus::No);
        assert_eq!(plausible_request(b"$3\r\nGET\r\n"), Plaus::No);
    }

    #[test]
    fn reply_starts() {
        assert_eq!(plausible_reply(b"+OK\r\n"), Plaus::Yes);
        assert_eq!(plausible_reply(b"+OK"), Plaus::Undecided);
        assert_eq!(plausible_reply(b"+O\x01K\r\n"), Plaus::No);
        assert_eq!(plausible_reply(b":12\r\n"), Plaus::Yes);
        assert_eq!(plausible_reply(b":1x\r\n"), Plaus::No);
        assert_eq!(plausible_reply(b"$3\r\nabc\r\n"), Plaus::Yes);
        assert_eq!(plausible_reply(b"$3\r\nabcd\r\n"), Plaus::No);
        assert_eq!(plausible_reply(b"$3\r\nab"), Plaus::Undecided);
        assert_eq!(plausible_reply(b"$-1\r\n"), Plaus::Yes);
        assert_eq!(plausible_reply(b"*2\r\n$1\r\n"), Plaus::Yes);
        assert_eq!(plausible_reply(b"*2\r\nx"), Plaus::No);
        assert_eq!(plausible_reply(b"%1\r\n"), Plaus::Undecided);
        assert_eq!(plausible_reply(b"_\r\n"), Plaus::Yes);
        assert_eq!(plausible_reply(b"#x\r\n"), Plaus::No);
        assert_eq!(plausible_reply(b"hello"), Plaus::No);
    }

    #[test]
    fn blob_headers_and_marks() {
        assert_eq!(blob_header(b"$123\r\nab"), Some((b'$', 123)));
        assert_eq!(blob_header(b"$-1\r\n"), None);
        assert_eq!(blob_header(b"+OK\r\n"), None);
        assert_eq!(find_sub(b"abcdef", b"cd"), Some(2));
        assert_eq!(find_sub(b"ab", b"abc"), None);
    }
}
