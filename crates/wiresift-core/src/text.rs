//! Captured bytes as text: the one escaping rule of wiresift's output.
//!
//! Keys, arguments, values and error texts are bytes on the wire; the JSON output carries them as
//! strings with this rule:
//!
//! - valid UTF-8 stays as it is (JSON itself escapes quotes and control characters);
//! - a backslash is written `\\`;
//! - every byte that is not part of valid UTF-8 is written `\xNN` (two lowercase hex digits).
//!
//! A backslash therefore always starts an escape, and the bytes can be recovered exactly: the
//! byte 0xbc renders as `\xbc` and the four characters `\xbc` as `\\xbc`.
//!
//! ```
//! use wiresift_core::text::escaped;
//! assert_eq!(escaped(b"plain"), "plain");
//! assert_eq!(escaped(b"\xbc"), r"\xbc");
//! assert_eq!(escaped(br"\xbc"), r"\\xbc");
//! assert_eq!(escaped("é\n".as_bytes()), "é\n");
//! assert_eq!(wiresift_core::text::unescape(&escaped(b"a\\b\xff\xbc")), b"a\\b\xff\xbc");
//! ```
//!
//! One-line renderings meant for people (`query`, message summaries) may quote and escape more
//! (RESP writes arguments the way `redis-cli` does), but they too always escape the backslash.

use std::borrow::Cow;

/// `b` with the escaping rule of the module documentation; borrowed (no copy) when `b` is valid
/// UTF-8 without a backslash, the common case.
pub fn escaped(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.contains('\\') => Cow::Borrowed(s),
        _ => {
            let mut out = String::with_capacity(b.len() + 8);
            push_escaped(&mut out, b);
            Cow::Owned(out)
        }
    }
}

/// Append `b` to `out` with the escaping rule of the module documentation.
pub fn push_escaped(out: &mut String, b: &[u8]) {
    for chunk in b.utf8_chunks() {
        let mut rest = chunk.valid();
        while let Some(i) = rest.find('\\') {
            out.push_str(&rest[..i]);
            out.push_str("\\\\");
            rest = &rest[i + 1..];
        }
        out.push_str(rest);
        for x in chunk.invalid() {
            push_hex(out, *x);
        }
    }
}

fn push_hex(out: &mut String, x: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push('x');
    out.push(HEX[usize::from(x >> 4)] as char);
    out.push(HEX[usize::from(x & 15)] as char);
}

/// The bytes `s` (a rendering by [`escaped`]) stands for. An escape that is not one of the
/// rule's is kept as it is.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'x') {
                let hex = b
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn byte_and_text_never_collide() {
        assert_ne!(escaped(b"\xbc"), escaped(br"\xbc"));
        assert_eq!(escaped(b"a\\"), "a\\\\");
        assert_eq!(
            escaped(b"\xe2\x82"),
            r"\xe2\x82",
            "a cut UTF-8 sequence is bytes"
        );
        assert!(matches!(escaped(b"ok"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn round_trip(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(unescape(&escaped(&b)), b);
        }
        #[test]
        fn round_trip_text(s in "[\\\\xa-f0-9é]{0,24}") {
            prop_assert_eq!(unescape(&escaped(s.as_bytes())), s.as_bytes());
        }
    }
}
