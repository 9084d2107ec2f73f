//! SASL details of SMTP AUTH (RFC 4954): just enough decoding to name the user, never to keep a
//! secret. Nothing in this module returns a password, a hash or a token.

/// Decode standard base64 (RFC 4648 §4), ignoring surrounding whitespace and tolerating missing
/// padding. `None` for anything else. Output is bounded by the input, which is bounded by the
/// session's line limit.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = crate::parser::strip_trailing_ws(crate::parser::trim_start(input));
    let body = match s.iter().position(|&b| b == b'=') {
        Some(i) if s[i..].iter().all(|&b| b == b'=') && s.len() - i <= 2 => &s[..i],
        Some(_) => return None,
        None => s,
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for quad in body.chunks(4) {
        let mut acc = 0u32;
        for &c in quad {
            acc = (acc << 6) | val(c)?;
        }
        match quad.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => {
                acc <<= 6;
                out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8]);
            }
            2 => {
                acc <<= 12;
                out.push((acc >> 16) as u8);
            }
            _ => {}
        }
    }
    Some(out)
}

/// Could this client line be a base64 SASL response (rather than a command)? True for lines of
/// base64 characters only that are not plain words: they carry a digit, `+`, `/` or `=`
/// padding, or mix upper and lower case. Used to withhold such lines from output when the
/// exchange they belong to was not seen.
pub fn could_be_credential(line: &[u8]) -> bool {
    let b64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if line.len() < 4 || !line.iter().all(b64) {
        return false;
    }
    let marked = line
        .iter()
        .any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/' | b'='));
    let mixed = line.iter().any(u8::is_ascii_lowercase) && line.iter().any(u8::is_ascii_uppercase);
    marked || mixed
}

/// Does `line` hold a token that [`could_be_credential`] (8 or more base64 characters)? Client
/// lines with such a token are never echoed in anomaly text.
pub fn contains_credential_like(line: &[u8]) -> bool {
    line.split(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
        .any(|tok| tok.len() >= 8 && could_be_credential(tok))
}

/// SASL mechanism names with specific handling; others are reported by name only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: one blob `authzid NUL authcid NUL passwd`.
    Plain,
    /// The de-facto LOGIN mechanism: base64 user name, then base64 password.
    Login,
    /// RFC 2195: base64 `user SP hexdigest`.
    CramMd5,
    /// Google/Microsoft XOAUTH2: base64 `user=… ^A auth=Bearer … ^A ^A`.
    XOauth2,
    /// Any other mechanism (SCRAM, GSSAPI, NTLM, …): no user extraction.
    Other,
}

impl Mechanism {
    /// From the (upper-cased) mechanism name.
    pub fn from_name(name: &str) -> Mechanism {
        match name {
            "PLAIN" => Mechanism::Plain,
            "LOGIN" => Mechanism::Login,
            "CRAM-MD5" => Mechanism::CramMd5,
            "XOAUTH2" => Mechanism::XOauth2,
            _ => Mechanism::Other,
        }
    }
}

fn text(b: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        Some(s.chars().take(256).collect())
    }
}

/// The authentication identity (authcid) from a PLAIN response; never the password.
pub fn plain_user(b64: &[u8]) -> Option<String> {
    let raw = base64_decode(b64)?;
    let mut parts = raw.split(|&b| b == 0);
    let _authzid = parts.next()?;
    let authcid = parts.next()?;
    parts.next()?; // a password field must follow, or this is not a PLAIN blob
    text(authcid)
}

/// The user name from a base64 LOGIN user-name line.
pub fn login_user(b64: &[u8]) -> Option<String> {
    text(&base64_decode(b64)?)
}

/// The user name from a CRAM-MD5 response (`user SP digest`); the digest is dropped.
pub fn cram_user(b64: &[u8]) -> Option<String> {
    let raw = base64_decode(b64)?;
    let sp = raw.iter().rposition(|&b| b == b' ')?;
    text(&raw[..sp])
}

/// The user from an XOAUTH2 initial response; the bearer token is dropped.
pub fn xoauth2_user(b64: &[u8]) -> Option<String> {
    let raw = base64_decode(b64)?;
    raw.split(|&b| b == 0x01)
        .find_map(|kv| kv.strip_prefix(b"user="))
        .and_then(text)
}

/// What a LOGIN `334` challenge asks for, from its decoded text (`Username:` / `Password:`,
/// some servers localise or lowercase them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPrompt {
    /// The next client line is the user name.
    User,
    /// The next client line is the password.
    Password,
    /// Cannot tell from the text.
    Unknown,
}

/// Classify a LOGIN challenge (base64 text of the `334` line).
pub fn login_prompt(challenge_b64: &[u8]) -> LoginPrompt {
    let Some(raw) = base64_decode(challenge_b64) else {
        return LoginPrompt::Unknown;
    };
    let t = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    if t.contains("user") {
        LoginPrompt::User
    } else if t.contains("pass") {
        LoginPrompt::Password
    } else {
        LoginPrompt::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_vectors() {
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert_eq!(base64_decode(b"Zg==").unwrap(), b"f");
        assert_eq!(base64_decode(b"Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode(b"Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode(b"Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode(b"VXNlcm5hbWU6").unwrap(), b"Username:");
        assert!(base64_decode(b"Zm9v!").is_none());
        assert!(base64_decode(b"Z").is_none());
        assert!(base64_decode(b"Zg=x").is_none());
    }

    #[test]
    fn users_without_secrets() {
        // "\0alice\0secret"
        assert_eq!(
            plain_user(b"AGFsaWNlAHNlY3JldA==").as_deref(),
            Some("alice")
        );
        assert_eq!(plain_user(b"YWxpY2U=").as_deref(), None);
        assert_eq!(login_user(b"Ym9i").as_deref(), Some("bob"));
        // "tim b913a602c7eda7a495b4e6e7334d3890"
        assert_eq!(
            cram_user(b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw").as_deref(),
            Some("tim")
        );
        // "user=u@x\x01auth=Bearer tok\x01\x01"
        assert_eq!(
            xoauth2_user(b"dXNlcj11QHgBYXV0aD1CZWFyZXIgdG9rAQE=").as_deref(),
            Some("u@x")
        );
        assert_eq!(login_prompt(b"VXNlcm5hbWU6"), LoginPrompt::User);
        assert_eq!(login_prompt(b"UGFzc3dvcmQ6"), LoginPrompt::Password);
        assert_eq!(login_prompt(b"???"), LoginPrompt::Unknown);
        assert!(could_be_credential(b"cGFzcw=="));
        assert!(could_be_credential(b"dXNlcg"));
        assert!(could_be_credential(b"Z2FsdW50"));
        assert!(!could_be_credential(b"QUIT"));
        assert!(!could_be_credential(b"XYZZY"));
        assert!(!could_be_credential(b"MAIL FROM:<a>"));
        assert!(contains_credential_like(b"\x16\x03hellodXNlcg=="));
        assert!(!contains_credential_like(b"Subject: hello world"));
    }
}
