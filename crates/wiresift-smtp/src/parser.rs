//! Pure SMTP wire parsing over byte slices: no flow state, no allocation on the line paths.
//!
//! Framing (finding a line) uses nom's streaming combinators, so every strict prefix of a valid
//! command or reply is `Incomplete`, never an error. Once a line is framed, its content is parsed
//! with complete combinators over exactly that line (RFC 5321 §4.1 commands, §4.2 replies,
//! RFC 3463 enhanced status codes, RFC 5321 §4.1.1.1 / RFC 1869 EHLO keywords).

use crate::error::ParseError;
use nom::bytes::complete as bc;
use nom::bytes::streaming as bs;
use nom::IResult;

/// An SMTP reply code (`250`, `354`, …). Open newtype: any three digits parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u16);

impl ReplyCode {
    /// `220` service ready (greeting; STARTTLS go-ahead).
    pub const READY: ReplyCode = ReplyCode(220);
    /// `235` authentication succeeded.
    pub const AUTH_OK: ReplyCode = ReplyCode(235);
    /// `250` requested action okay.
    pub const OK: ReplyCode = ReplyCode(250);
    /// `334` AUTH challenge / continue.
    pub const AUTH_CONTINUE: ReplyCode = ReplyCode(334);
    /// `354` start mail input.
    pub const START_MAIL_INPUT: ReplyCode = ReplyCode(354);

    /// 2xx.
    pub fn is_positive(self) -> bool {
        (200..300).contains(&self.0)
    }
    /// 3xx.
    pub fn is_intermediate(self) -> bool {
        (300..400).contains(&self.0)
    }
    /// 4xx or 5xx.
    pub fn is_error(self) -> bool {
        self.0 >= 400
    }
}

/// Well-known client verbs. Anything else still parses as a command with its own verb text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `HELO`
    Helo,
    /// `EHLO`
    Ehlo,
    /// `MAIL`
    Mail,
    /// `RCPT`
    Rcpt,
    /// `DATA`
    Data,
    /// `BDAT` (RFC 3030)
    Bdat,
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `VRFY`
    Vrfy,
    /// `EXPN`
    Expn,
    /// `HELP`
    Help,
    /// `QUIT`
    Quit,
    /// `AUTH` (RFC 4954)
    Auth,
    /// `STARTTLS` (RFC 3207)
    Starttls,
    /// `TURN`, `ETRN`, `ATRN`, `BURL`, `XCLIENT`, `XFORWARD`, `SEND`, `SOML`, `SAML`: known to
    /// exist on the wire (used for resynchronisation and probing), no special handling.
    OtherKnown,
}

const KNOWN_VERBS: &[(&[u8], Verb)] = &[
    (b"HELO", Verb::Helo),
    (b"EHLO", Verb::Ehlo),
    (b"MAIL", Verb::Mail),
    (b"RCPT", Verb::Rcpt),
    (b"DATA", Verb::Data),
    (b"BDAT", Verb::Bdat),
    (b"RSET", Verb::Rset),
    (b"NOOP", Verb::Noop),
    (b"VRFY", Verb::Vrfy),
    (b"EXPN", Verb::Expn),
    (b"HELP", Verb::Help),
    (b"QUIT", Verb::Quit),
    (b"AUTH", Verb::Auth),
    (b"STARTTLS", Verb::Starttls),
    (b"TURN", Verb::OtherKnown),
    (b"ETRN", Verb::OtherKnown),
    (b"ATRN", Verb::OtherKnown),
    (b"BURL", Verb::OtherKnown),
    (b"XCLIENT", Verb::OtherKnown),
    (b"XFORWARD", Verb::OtherKnown),
    (b"SEND", Verb::OtherKnown),
    (b"SOML", Verb::OtherKnown),
    (b"SAML", Verb::OtherKnown),
];

/// The known verb spelled by `word` (ASCII case-insensitive), if any.
pub fn known_verb(word: &[u8]) -> Option<Verb> {
    KNOWN_VERBS
        .iter()
        .find(|(v, _)| v.eq_ignore_ascii_case(word))
        .map(|&(_, k)| k)
}

/// Longest verb a command line may start with before it is not considered a command.
pub const MAX_VERB_LEN: usize = 16;

/// Frame one line (streaming). Returns the line without its terminator (`\r\n`, or a bare `\n`,
/// which real clients do send). `Incomplete` until the `\n` arrives.
pub fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, l) = bs::take_until("\n")(input)?;
    let rest = &rest[1..];
    Ok((rest, strip_cr(l)))
}

/// `l` without one trailing `\r`.
pub fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// A client command line, split into verb and arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// The verb as sent (any case).
    pub verb: &'a [u8],
    /// Recognised verb, `None` for an unknown (but well-formed) one.
    pub known: Option<Verb>,
    /// Everything after the verb and its separating space(s); may be empty.
    pub args: &'a [u8],
}

fn is_verb_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Parse one framed command line (complete). The verb is 1..=16 characters starting with a
/// letter (RFC 5321 verbs are 4 letters; extensions such as `STARTTLS`, `XFORWARD` are longer),
/// followed by end of line or a space.
pub fn command_line(line: &[u8]) -> Result<CommandLine<'_>, ParseError> {
    let res: IResult<&[u8], &[u8]> = bc::take_while1(is_verb_char)(line);
    let (rest, verb) = res.map_err(|_| ParseError::NotACommand {
        offset: 0,
        found: preview(line),
    })?;
    if !verb[0].is_ascii_alphabetic() || verb.len() > MAX_VERB_LEN {
        return Err(ParseError::NotACommand {
            offset: 0,
            found: preview(line),
        });
    }
    let args = match rest.first() {
        None => rest,
        Some(b' ') | Some(b'\t') => trim_start(rest),
        Some(_) => {
            return Err(ParseError::NotACommand {
                offset: verb.len(),
                found: preview(line),
            })
        }
    };
    Ok(CommandLine {
        verb,
        known: known_verb(verb),
        args,
    })
}

/// Streaming: one command line from `input`. Every strict prefix of a valid line is
/// `Incomplete`.
pub fn command(input: &[u8]) -> IResult<&[u8], CommandLine<'_>> {
    let (rest, l) = line(input)?;
    match command_line(l) {
        Ok(c) => Ok((rest, c)),
        Err(_) => Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        ))),
    }
}

/// Could `data` (the start of a line) be a client command line? Needs the verb and its
/// delimiter to say yes; says no when it cannot tell yet (the resync contract).
pub fn looks_like_command(data: &[u8]) -> bool {
    let n = data
        .iter()
        .take(MAX_VERB_LEN + 1)
        .position(|&b| !b.is_ascii_alphabetic());
    match n {
        Some(n) if n >= 4 => {
            matches!(data[n], b' ' | b'\r' | b'\n') && known_verb(&data[..n]).is_some()
        }
        _ => false,
    }
}

/// Is `data` a strict prefix of some known verb (case-insensitive)? Used by probing.
pub fn is_verb_prefix(data: &[u8]) -> bool {
    !data.is_empty()
        && KNOWN_VERBS
            .iter()
            .any(|(v, _)| v.len() > data.len() && v[..data.len()].eq_ignore_ascii_case(data))
}

/// One reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit code.
    pub code: ReplyCode,
    /// True for the last line of a reply (`250 ` or a bare `250`); false for `250-`.
    pub last: bool,
    /// Text after the separator (may be empty).
    pub text: &'a [u8],
}

/// Parse one framed reply line (complete): three digits, then `-`, a space, or end of line.
pub fn reply_line(line: &[u8]) -> Result<ReplyLine<'_>, ParseError> {
    let res: IResult<&[u8], &[u8]> = bc::take_while_m_n(3, 3, |b: u8| b.is_ascii_digit())(line);
    let (rest, digits) = res.map_err(|_| ParseError::NotAReply {
        offset: 0,
        found: preview(line),
    })?;
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let (last, text) = match rest.first() {
        None => (true, rest),
        Some(b' ') => (true, &rest[1..]),
        Some(b'-') => (false, &rest[1..]),
        Some(_) => {
            return Err(ParseError::NotAReply {
                offset: 3,
                found: preview(line),
            })
        }
    };
    Ok(ReplyLine {
        code: ReplyCode(code),
        last,
        text,
    })
}

/// Could `data` (the start of a line) be a reply line? Says no when it cannot tell yet.
pub fn looks_like_reply(data: &[u8]) -> bool {
    data.len() >= 4
        && (b'2'..=b'5').contains(&data[0])
        && data[1..3].iter().all(u8::is_ascii_digit)
        && matches!(data[3], b' ' | b'-' | b'\r' | b'\n')
}

/// A complete (possibly multi-line) reply, borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Code of the last line.
    pub code: ReplyCode,
    /// Text of each line.
    pub lines: Vec<&'a [u8]>,
}

/// Streaming: one complete reply (all its `250-` lines and the final `250 ` line). Every strict
/// prefix of a valid reply is `Incomplete`. Used by tests and benches; the session frames line
/// by line so that it can bound what it keeps.
pub fn reply(input: &[u8]) -> IResult<&[u8], Reply<'_>> {
    let mut rest = input;
    let mut lines = Vec::new();
    loop {
        let (r, l) = line(rest)?;
        let rl = reply_line(l).map_err(|_| {
            nom::Err::Error(nom::error::Error::new(rest, nom::error::ErrorKind::Verify))
        })?;
        lines.push(rl.text);
        rest = r;
        if rl.last {
            return Ok((
                rest,
                Reply {
                    code: rl.code,
                    lines,
                },
            ));
        }
    }
}

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedCode {
    /// 2, 4 or 5.
    pub class: u8,
    /// 0..=999.
    pub subject: u16,
    /// 0..=999.
    pub detail: u16,
}

impl std::fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

fn number_1_3(input: &[u8]) -> IResult<&[u8], u16> {
    let (rest, d) = bc::take_while_m_n(1, 3, |b: u8| b.is_ascii_digit())(input)?;
    Ok((
        rest,
        d.iter().fold(0u16, |acc, x| acc * 10 + u16::from(x - b'0')),
    ))
}

/// The enhanced status code at the start of a reply line's text, and the text after it.
pub fn enhanced_code(text: &[u8]) -> Option<(EnhancedCode, &[u8])> {
    let class = *text.first()?;
    if !matches!(class, b'2' | b'4' | b'5') {
        return None;
    }
    let p = |i| -> IResult<&[u8], (u16, u16)> {
        let (i, _) = bc::tag(&b"."[..])(i)?;
        let (i, s) = number_1_3(i)?;
        let (i, _) = bc::tag(&b"."[..])(i)?;
        let (i, d) = number_1_3(i)?;
        Ok((i, (s, d)))
    };
    let (rest, (subject, detail)) = p(&text[1..]).ok()?;
    match rest.first() {
        None | Some(b' ') | Some(b'\t') => Some((
            EnhancedCode {
                class: class - b'0',
                subject,
                detail,
            },
            trim_start(rest),
        )),
        _ => None,
    }
}

/// Extensions a server advertised in its EHLO reply (RFC 5321 §4.1.1.1 and the extension RFCs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Extensions {
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `CHUNKING` (RFC 3030, enables BDAT).
    pub chunking: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `8BITMIME` (RFC 6152).
    #[serde(rename = "8bitmime")]
    pub eightbitmime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `SIZE n` (RFC 1870): the declared maximum, if a number was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `AUTH` mechanisms (RFC 4954), upper-cased; also from the obsolete `AUTH=` form.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<String>,
    /// Every other keyword, upper-cased, in order (bounded by the caller's line limit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

/// Parse the extension lines of an EHLO reply. `lines` are the reply's line texts; the first is
/// the server's domain greeting and is skipped.
pub fn ehlo_extensions<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Extensions {
    let mut ext = Extensions::default();
    for l in lines.into_iter().skip(1) {
        let mut words = l
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        let Some(kw) = words.next() else { continue };
        // The obsolete `AUTH=LOGIN PLAIN` form some servers still send next to `AUTH`.
        let (kw, inline) = match kw.iter().position(|&b| b == b'=') {
            Some(i) => (&kw[..i], Some(&kw[i + 1..])),
            None => (kw, None),
        };
        let upper = String::from_utf8_lossy(kw).to_ascii_uppercase();
        match upper.as_str() {
            "PIPELINING" => ext.pipelining = true,
            "CHUNKING" => ext.chunking = true,
            "STARTTLS" => ext.starttls = true,
            "8BITMIME" => ext.eightbitmime = true,
            "SMTPUTF8" => ext.smtputf8 = true,
            "SIZE" => {
                ext.size = words
                    .next()
                    .and_then(|w| std::str::from_utf8(w).ok())
                    .and_then(|s| s.parse().ok());
            }
            "AUTH" => {
                for m in inline.into_iter().filter(|m| !m.is_empty()).chain(words) {
                    let m = String::from_utf8_lossy(m).to_ascii_uppercase();
                    if !ext.auth.contains(&m) {
                        ext.auth.push(m);
                    }
                }
            }
            _ => ext.other.push(upper),
        }
    }
    ext
}

/// A reverse-path or forward-path argument of MAIL / RCPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArg<'a> {
    /// The address inside `<…>` (or the bare word when the client omitted the brackets).
    pub address: &'a [u8],
    /// ESMTP parameters after the path (`SIZE=123 BODY=8BITMIME`), may be empty.
    pub params: &'a [u8],
}

/// Parse `FROM:<addr> params` (with `prefix` = `FROM:`) or `TO:<addr> params`
/// (case-insensitive; tolerates spaces around the colon and missing brackets).
pub fn path_arg<'a>(args: &'a [u8], prefix: &[u8]) -> Option<PathArg<'a>> {
    let word = &prefix[..prefix.len() - 1];
    if args.len() < word.len() || !args[..word.len()].eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = trim_start(&args[word.len()..]);
    let rest = trim_start(rest.strip_prefix(b":")?);
    if let Some(inner) = rest.strip_prefix(b"<") {
        let end = inner.iter().position(|&b| b == b'>')?;
        Some(PathArg {
            address: &inner[..end],
            params: trim_start(&inner[end + 1..]),
        })
    } else {
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        Some(PathArg {
            address: &rest[..end],
            params: trim_start(&rest[end..]),
        })
    }
}

/// Parse BDAT arguments: `chunk-size [LAST]`.
pub fn bdat_args(args: &[u8]) -> Result<(u64, bool), ParseError> {
    let res: IResult<&[u8], &[u8]> = bc::take_while1(|b: u8| b.is_ascii_digit())(args);
    let bad = || ParseError::BadArgument {
        verb: "BDAT",
        found: preview(args),
    };
    let (rest, digits) = res.map_err(|_| bad())?;
    let size = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(bad)?;
    let rest = trim_start(rest);
    let rest = strip_trailing_ws(rest);
    if rest.is_empty() {
        Ok((size, false))
    } else if rest.eq_ignore_ascii_case(b"LAST") {
        Ok((size, true))
    } else {
        Err(bad())
    }
}

/// Leading spaces and tabs removed.
pub fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

/// Trailing spaces and tabs removed.
pub fn strip_trailing_ws(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[..s.len() - n]
}

/// A short printable rendering of bytes for error messages: printable ASCII as is, a
/// backslash as `\\`, every other byte as `\xNN` (so a backslash always starts an escape, as
/// in [`wiresift_core::text`]), at most 32 bytes and `…` when cut.
pub fn preview(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(32) {
        if c == b'\\' {
            s.push_str("\\\\");
        } else if c.is_ascii_graphic() || c == b' ' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    if b.len() > 32 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_escapes_the_backslash() {
        assert_eq!(preview(b"a\\xffb\xff\r\n"), r"a\\xffb\xff\x0d\x0a");
        assert_eq!(preview(&[b'x'; 40]).chars().count(), 33);
    }

    const COMMANDS: &[&[u8]] = &[
        b"EHLO client.example\r\n",
        b"mail FROM:<a@b.example> SIZE=100\r\n",
        b"RCPT TO:<c@d.example>\r\n",
        b"DATA\r\n",
        b"BDAT 1000 LAST\r\n",
        b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        b"QUIT\n",
        b"XUNKNOWN something\r\n",
    ];
    const REPLIES: &[&[u8]] = &[
        b"220 mx.example ESMTP ready\r\n",
        b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 CHUNKING\r\n",
        b"550 5.1.1 <c@d.example>: user unknown\r\n",
        b"354\r\n",
        b"334 VXNlcm5hbWU6\r\n",
    ];

    #[test]
    fn prefix_of_command_is_incomplete() {
        for c in COMMANDS {
            assert!(command(c).is_ok(), "{:?}", preview(c));
            for n in 0..c.len() {
                assert!(
                    matches!(command(&c[..n]), Err(nom::Err::Incomplete(_))),
                    "prefix {n} of {:?}",
                    preview(c)
                );
            }
        }
    }

    #[test]
    fn prefix_of_reply_is_incomplete() {
        for r in REPLIES {
            let (rest, _) = reply(r).unwrap();
            assert!(rest.is_empty());
            for n in 0..r.len() {
                assert!(
                    matches!(reply(&r[..n]), Err(nom::Err::Incomplete(_))),
                    "prefix {n} of {:?}",
                    preview(r)
                );
            }
        }
    }

    #[test]
    fn commands_case_insensitive_and_args() {
        let c = command_line(b"mail FROM:<a@b>").unwrap();
        assert_eq!(c.known, Some(Verb::Mail));
        assert_eq!(c.args, b"FROM:<a@b>");
        assert_eq!(
            command_line(b"StartTls").unwrap().known,
            Some(Verb::Starttls)
        );
        assert_eq!(command_line(b"XFOO  bar").unwrap().args, b"bar");
        assert!(command_line(b"XFOO").unwrap().known.is_none());
        assert!(command_line(b"").is_err());
        assert!(command_line(b"123 x").is_err());
        assert!(command_line(b"MAIL:").is_err());
    }

    #[test]
    fn reply_lines() {
        let r = reply_line(b"250-PIPELINING").unwrap();
        assert_eq!(
            (r.code, r.last, r.text),
            (ReplyCode(250), false, &b"PIPELINING"[..])
        );
        let r = reply_line(b"354").unwrap();
        assert!(r.last && r.text.is_empty());
        assert!(reply_line(b"25").is_err());
        assert!(reply_line(b"250x").is_err());
        let (_, r) = reply(REPLIES[1]).unwrap();
        assert_eq!(r.lines.len(), 4);
        assert_eq!(r.code, ReplyCode::OK);
    }

    #[test]
    fn enhanced_codes() {
        let (e, rest) = enhanced_code(b"5.1.1 <c@d>: user unknown").unwrap();
        assert_eq!(e.to_string(), "5.1.1");
        assert_eq!(rest, b"<c@d>: user unknown");
        assert_eq!(enhanced_code(b"2.0.0").unwrap().0.to_string(), "2.0.0");
        assert_eq!(enhanced_code(b"4.7.123 x").unwrap().0.detail, 123);
        assert!(enhanced_code(b"3.1.1 x").is_none());
        assert!(enhanced_code(b"5.1 x").is_none());
        assert!(enhanced_code(b"5.1.1x").is_none());
        assert!(enhanced_code(b"mx.example").is_none());
    }

    #[test]
    fn ehlo_keywords() {
        let lines: Vec<&[u8]> = vec![
            b"mx.example greets you",
            b"PIPELINING",
            b"SIZE 10240000",
            b"AUTH PLAIN LOGIN CRAM-MD5",
            b"AUTH=LOGIN",
            b"8bitmime",
            b"SMTPUTF8",
            b"CHUNKING",
            b"STARTTLS",
            b"DSN",
        ];
        let e = ehlo_extensions(lines);
        assert!(e.pipelining && e.chunking && e.starttls && e.eightbitmime && e.smtputf8);
        assert_eq!(e.size, Some(10_240_000));
        assert_eq!(e.auth, vec!["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert_eq!(e.other, vec!["DSN"]);
    }

    #[test]
    fn paths_and_bdat() {
        let p = path_arg(b"FROM:<a@b.example> SIZE=5", b"FROM:").unwrap();
        assert_eq!((p.address, p.params), (&b"a@b.example"[..], &b"SIZE=5"[..]));
        let p = path_arg(b"to: <c@d>", b"TO:").unwrap();
        assert_eq!(p.address, b"c@d");
        assert_eq!(path_arg(b"FROM:<>", b"FROM:").unwrap().address, b"");
        assert_eq!(path_arg(b"TO:bare@x", b"TO:").unwrap().address, b"bare@x");
        assert!(path_arg(b"FRO", b"FROM:").is_none());
        assert_eq!(bdat_args(b"0 LAST").unwrap(), (0, true));
        assert_eq!(bdat_args(b"512").unwrap(), (512, false));
        assert_eq!(bdat_args(b"512 last ").unwrap(), (512, true));
        assert!(bdat_args(b"x").is_err());
        assert!(bdat_args(b"99999999999999999999999").is_err());
    }

    #[test]
    fn resync_predicates() {
        assert!(looks_like_command(b"MAIL FROM:<a>"));
        assert!(looks_like_command(b"quit\r\n"));
        assert!(!looks_like_command(b"MAIL"));
        assert!(!looks_like_command(b"Mailbox full"));
        assert!(!looks_like_command(b"Subject: x"));
        assert!(looks_like_reply(b"250 ok"));
        assert!(looks_like_reply(b"354\r\n"));
        assert!(!looks_like_reply(b"25"));
        assert!(!looks_like_reply(b"2500"));
        assert!(is_verb_prefix(b"eh"));
        assert!(!is_verb_prefix(b"EHLO"));
        assert!(!is_verb_prefix(b"GET"));
    }
}
