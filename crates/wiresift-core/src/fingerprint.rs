//! SQL (and CQL) statement fingerprints for aggregation.
//!
//! [`fingerprint`] turns a statement into the shape that `latency --by fingerprint` groups on:
//! literals become `?`, `IN (...)` and `VALUES (...), (...)` lists collapse to `(?+)`, comments
//! go, whitespace collapses to one space, and everything is lower case. The reference is
//! Percona Toolkit's fingerprint (`pt-fingerprint --match-embedded-numbers`, the same function
//! `pt-query-digest` groups by), and on ordinary statements the output is byte-for-byte the same;
//! the unit tests compare against pt-fingerprint 3.2.1's recorded output.
//!
//! It is one left-to-right scan (a small lexer), not a chain of regular expressions, so it costs
//! O(n) and never backtracks. Where it differs from pt-fingerprint, on purpose:
//! - Numbers inside identifiers are kept (`t1`, `db1.t2`): that is pt's `--match-embedded-numbers`
//!   mode; pt's default turns `db1.t2` into `d?t?`.
//! - Operators survive: `a-b` stays `a-b` and `k=k+1` becomes `k=k+?` (pt: `a?`, `k=k?`,
//!   because its number pattern may start with `+` or `-`). A sign is folded into the literal
//!   only where it is unary (after an operator, `(`, `,`, the start, or a keyword such as
//!   `select`/`where`).
//! - Upper-case hex digits belong to the literal: `0x1F` is `?` (pt: `?f`).
//! - `'it''s'` (a doubled quote) is one literal, `?` (pt: `??`).
//! - `true` and `false` become `?` (as in pt 3.3 and later; pt 3.2.1 keeps them).
//! - `-- ` starts a comment only when followed by whitespace, as in MySQL (pt also strips `--x`,
//!   but not when the rest of the line holds a quote).
//! - A multi-row `INSERT ... VALUES (...), (...) ON DUPLICATE KEY UPDATE ...` keeps its tail (pt
//!   cuts everything after the first row as a speed-up).
//! - Every `LIMIT ?, ?` / `LIMIT ? OFFSET ?` collapses, not just the first.
//! - Trailing whitespace left by a removed comment is trimmed.
//! - Unquoted CQL UUIDs (`123e4567-e89b-...`) are one literal whether they start with a digit or
//!   a letter.
//!
//! Version comments (`/*!40001 ... */`) are kept, as in pt, with their contents fingerprinted;
//! other `/* ... */` comments (including optimizer hints) are removed. `CALL name(...)` becomes
//! `call name` and `USE db` becomes `use ?`, as in pt.

/// Words after which a `+` or `-` before a number is a sign, not an operator.
const UNARY_AFTER: &[&str] = &[
    "select", "where", "and", "or", "not", "by", "then", "else", "when", "return", "values",
    "value", "in", "like", "between", "limit", "offset", "interval", "is", "set", "on", "having",
    "case", "div", "mod", "xor",
];

/// Normalise one SQL or CQL statement for aggregation (see the module documentation).
///
/// The output is never longer than the input plus a few bytes (`(?+)`); callers that bound the
/// query text they keep should fingerprint that bounded text.
pub fn fingerprint(sql: &str) -> String {
    let trimmed = sql.trim_start();
    if let Some(call) = call_name(trimmed) {
        return call;
    }
    if is_use(trimmed) {
        return "use ?".to_string();
    }
    let mut out = lex(trimmed.as_bytes());
    out = collapse_lists(&out);
    out = collapse_limit(&out);
    out = drop_order_by_asc(&out);
    out = collapse_union(&out);
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `CALL name(` → `call name` (pt's stored-procedure rule).
fn call_name(q: &str) -> Option<String> {
    let b = q.as_bytes();
    if b.len() < 5 || !b[..4].eq_ignore_ascii_case(b"call") || !is_space(b[4]) {
        return None;
    }
    let rest = q[4..].trim_start();
    let end = rest
        .bytes()
        .position(|c| is_space(c) || c == b'(')
        .unwrap_or(rest.len());
    if end == 0 || rest.as_bytes().get(end) != Some(&b'(') {
        return None;
    }
    Some(format!("call {}", rest[..end].to_ascii_lowercase()))
}

/// `USE db` alone (pt: `use ?`).
fn is_use(q: &str) -> bool {
    let b = q.trim_end().as_bytes();
    b.len() > 4
        && b[..3].eq_ignore_ascii_case(b"use")
        && is_space(b[3])
        && !b[4..].iter().any(|&c| is_space(c))
}

/// Is `b[i..]` an unquoted UUID (8-4-4-4-12 hex digits) not followed by a word character?
fn uuid_at(b: &[u8], i: usize) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut p = i;
    for (g, n) in GROUPS.iter().enumerate() {
        if g > 0 {
            if b.get(p) != Some(&b'-') {
                return false;
            }
            p += 1;
        }
        for _ in 0..*n {
            match b.get(p) {
                Some(c) if c.is_ascii_hexdigit() => p += 1,
                _ => return false,
            }
        }
    }
    !b.get(p).is_some_and(|&c| is_word(c))
}

/// The output being built: lower-cased tokens separated by at most one space.
struct Out {
    s: Vec<u8>,
    space: bool,
}

impl Out {
    fn push(&mut self, bytes: &[u8]) {
        if self.space && !self.s.is_empty() {
            self.s.push(b' ');
        }
        self.space = false;
        self.s.extend(bytes.iter().map(|c| c.to_ascii_lowercase()));
    }
    /// Would a `+`/`-` here be a sign (unary)?
    fn unary_context(&self) -> bool {
        let Some(&last) = self.s.last() else {
            return true;
        };
        if !is_word(last) {
            return matches!(
                last,
                b'(' | b','
                    | b'='
                    | b'<'
                    | b'>'
                    | b'!'
                    | b'+'
                    | b'-'
                    | b'*'
                    | b'/'
                    | b'%'
                    | b'|'
                    | b'&'
                    | b'^'
                    | b'~'
            );
        }
        let start = self
            .s
            .iter()
            .rposition(|&c| !is_word(c))
            .map_or(0, |p| p + 1);
        let word = &self.s[start..];
        UNARY_AFTER.iter().any(|k| k.as_bytes() == word)
    }
}

/// Comments, literals and whitespace.
fn lex(b: &[u8]) -> String {
    let mut o = Out {
        s: Vec::with_capacity(b.len()),
        space: false,
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let prev_word = i > 0 && is_word(b[i - 1]);
        match c {
            _ if is_space(c) => {
                o.space = true;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                if b.get(i + 2) == Some(&b'!') {
                    o.push(b"/*!");
                    i += 3;
                } else {
                    i = find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2);
                }
            }
            b'#' => i = line_end(b, i),
            b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_none_or(|&n| n <= b' ') => {
                i = line_end(b, i)
            }
            b'\'' | b'"' => {
                i = string_end(b, i);
                // x'..', b'..', n'..' prefixes belong to the literal.
                if o.s.last().is_some_and(|l| matches!(l, b'x' | b'b' | b'n'))
                    && !o.space
                    && (o.s.len() < 2 || !is_word(o.s[o.s.len() - 2]))
                {
                    o.s.pop();
                }
                o.push(b"?");
            }
            b'`' => {
                let end = find(b, i + 1, b"`").map_or(b.len(), |p| p + 1);
                o.push(&b[i..end]);
                i = end;
            }
            _ if !prev_word && uuid_at(b, i) => {
                o.push(b"?");
                i += 36;
            }
            b'0'..=b'9' if !prev_word => {
                i = number_end(b, i);
                o.push(b"?");
            }
            b'.' if !prev_word && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = number_end(b, i);
                o.push(b"?");
            }
            b'+' | b'-'
                if o.unary_context()
                    && (b.get(i + 1).is_some_and(u8::is_ascii_digit)
                        || (b.get(i + 1) == Some(&b'.')
                            && b.get(i + 2).is_some_and(u8::is_ascii_digit))) =>
            {
                i = number_end(b, i + 1);
                o.push(b"?");
            }
            _ if is_word(c) => {
                let end = (i..b.len()).find(|&p| !is_word(b[p])).unwrap_or(b.len());
                let w = &b[i..end];
                if w.eq_ignore_ascii_case(b"null")
                    || w.eq_ignore_ascii_case(b"true")
                    || w.eq_ignore_ascii_case(b"false")
                {
                    o.push(b"?");
                } else {
                    o.push(w);
                }
                i = end;
            }
            _ => {
                o.push(&b[i..i + 1]);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were changed, and only whole UTF-8 sequences were dropped.
    String::from_utf8(o.s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

fn line_end(b: &[u8], from: usize) -> usize {
    (from..b.len())
        .find(|&p| b[p] == b'\n' || b[p] == b'\r')
        .unwrap_or(b.len())
}

/// End of a quoted string starting at `b[start]` (the quote): backslash escapes and doubled
/// quotes; an unterminated string runs to the end.
fn string_end(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
        } else if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// End of a numeric literal starting at `b[start]` (a digit or `.`): hex/binary, decimals,
/// exponents, and any word characters glued to it.
fn number_end(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        let exponent_sign = (c == b'+' || c == b'-')
            && matches!(b[i - 1], b'e' | b'E')
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && b[start..i - 1]
                .iter()
                .all(|d| d.is_ascii_digit() || *d == b'.');
        if is_word(c) || c == b'.' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn word_at(s: &[u8], i: usize, w: &[u8]) -> bool {
    s.len() >= i + w.len()
        && &s[i..i + w.len()] == w
        && (i == 0 || !is_word(s[i - 1]))
        && s.get(i + w.len()).is_none_or(|&c| !is_word(c))
}

/// `in (?, ?)`, `values (?,?),(?,?)` → `in(?+)`, `values(?+)` (pt's rule).
fn collapse_lists(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let kw = [&b"values"[..], b"value", b"in"]
            .into_iter()
            .find(|w| word_at(b, i, w));
        if let Some(w) = kw {
            let mut p = i + w.len();
            let mut end = None;
            loop {
                let mut q = p;
                while q < b.len() && (b[q] == b' ' || b[q] == b',') {
                    q += 1;
                }
                if b.get(q) != Some(&b'(') {
                    break;
                }
                q += 1;
                if b[q..].starts_with(b"?+)") {
                    // An already collapsed list (fingerprinting a fingerprint).
                    q += 2;
                }
                while q < b.len() && matches!(b[q], b' ' | b'?' | b',') {
                    q += 1;
                }
                if b.get(q) != Some(&b')') {
                    break;
                }
                p = q + 1;
                end = Some(p);
            }
            if let Some(e) = end {
                out.extend_from_slice(w);
                out.extend_from_slice(b"(?+)");
                i = e;
                continue;
            }
            out.extend_from_slice(w);
            i += w.len();
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `limit ?, ?` and `limit ? offset ?` → `limit ?`.
fn collapse_limit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find("limit ?") {
        let b = rest.as_bytes();
        if !word_at(b, p, b"limit") {
            out.push_str(&rest[..p + 7]);
            rest = &rest[p + 7..];
            continue;
        }
        out.push_str(&rest[..p + 7]);
        let tail = &rest[p + 7..];
        let skip = [", ?", ",?", " offset ?"]
            .iter()
            .find(|t| tail.starts_with(*t))
            .map_or(0, |t| t.len());
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

/// Remove ` asc` (a whole word) after the first `order by `.
fn drop_order_by_asc(s: &str) -> String {
    let Some(p) = s.find("order by ") else {
        return s.to_string();
    };
    let (head, tail) = s.split_at(p);
    let tb = tail.as_bytes();
    let mut out = String::with_capacity(s.len());
    out.push_str(head);
    let mut last = 0;
    let mut i = 0;
    while let Some(q) = tail[i..].find(" asc") {
        let at = i + q;
        if word_at(tb, at + 1, b"asc") {
            out.push_str(&tail[last..at]);
            last = at + 4;
        }
        i = at + 4;
    }
    out.push_str(&tail[last..]);
    out
}

/// `select X union select X union all select X` → `select X /*repeat union all*/` (pt's rule:
/// the shortest `select ...` that repeats; the last separator is named).
fn collapse_union(s: &str) -> String {
    if !s.contains(" union ") || s.len() > 1 << 16 {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < b.len() {
        if word_at(b, i, b"select") && b.get(i + 6) == Some(&b' ') {
            let mut from = i + 7;
            while let Some(u) = s[from..].find(" union") {
                let u = from + u;
                let sel = &s[i..u];
                let mut p = u;
                let mut sep = "";
                let mut reps = 0;
                loop {
                    let t = &s[p..];
                    let this = if t.starts_with(" union all ") {
                        " union all"
                    } else if t.starts_with(" union ") {
                        " union"
                    } else {
                        break;
                    };
                    let after = p + this.len() + 1;
                    if s[after..].starts_with(sel)
                        && s.as_bytes()
                            .get(after + sel.len())
                            .is_none_or(|&c| !is_word(c))
                    {
                        p = after + sel.len();
                        sep = this;
                        reps += 1;
                    } else {
                        break;
                    }
                }
                if reps > 0 {
                    out.push_str(sel);
                    out.push_str(" /*repeat");
                    out.push_str(sep);
                    out.push_str("*/");
                    i = p;
                    continue 'outer;
                }
                from = u + 6;
            }
        }
        let ch = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch]);
        i += ch;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    /// (statement, pt-fingerprint 3.2.1 `--match-embedded-numbers --query` output, trimmed).
    /// Regenerate the right column with `testdata/gen/fingerprint-pt.sh`.
    const SAME_AS_PT: &[(&str, &str)] = &[
        (
            "SELECT * FROM t1 WHERE id = 5 AND name='x'",
            "select * from t1 where id = ? and name=?",
        ),
        (
            "select * from db1.t2 where x in (1, 2,3) limit 5, 10",
            "select * from db1.t2 where x in(?+) limit ?",
        ),
        (
            "INSERT INTO t VALUES (1,'a'),(2,'b')",
            "insert into t values(?+)",
        ),
        (
            "insert into t (a,b) values(1, 2)",
            "insert into t (a,b) values(?+)",
        ),
        (
            "select /* hi */ 1 /*!40001 x */ from dual order by a asc, b ASC",
            "select ? /*!? x */ from dual order by a, b",
        ),
        ("call myproc(1,2)", "call myproc"),
        ("CALL Shop.GetItems( 'x' )", "call shop.getitems"),
        ("use foo", "use ?"),
        (
            "select 0x1f, x'ab', b'01', 1.5e-3, .5, NULL from t where col1=\"dq\"",
            "select ?, ?, ?, ?, ?, ? from t where col1=?",
        ),
        (
            "SELECT * FROM t WHERE b='x\\'y'",
            "select * from t where b=?",
        ),
        (
            "select 1 union select 2 union select 3",
            "select ? /*repeat union*/",
        ),
        (
            "select a from t union all select a from t",
            "select a from t /*repeat union all*/",
        ),
        (
            "SELECT uuid FROM ks.t WHERE id = 123e4567-e89b-12d3-a456-426614174000",
            "select uuid from ks.t where id = ?",
        ),
        (
            "SELECT c FROM sbtest1 WHERE id=4983",
            "select c from sbtest1 where id=?",
        ),
        (
            "SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c",
            "select c from sbtest1 where id between ? and ? order by c",
        ),
        ("select c - 1 from t", "select c - ? from t"),
        (
            "select * from t order by ascii asc",
            "select * from t order by ascii",
        ),
        (
            "DELETE FROM sbtest1 WHERE id = -7",
            "delete from sbtest1 where id = ?",
        ),
        ("select   a,\n\tb\r\nfrom  t", "select a, b from t"),
        (
            "SELECT * FROM `Weird Table` WHERE `c1`=1",
            "select * from `weird table` where `c1`=?",
        ),
        (
            "select * from t where a in ( ? , ? )",
            "select * from t where a in(?+)",
        ),
        (
            "select * from t limit 10 offset 20",
            "select * from t limit ?",
        ),
        ("SHOW VARIABLES LIKE 'version%'", "show variables like ?"),
        ("SET NAMES utf8mb4", "set names utf8mb4"),
        (
            "select @@version_comment limit 1",
            "select @@version_comment limit ?",
        ),
        (
            "select * from t where a = 1 # trailing\nand b = 2",
            "select * from t where a = ? and b = ?",
        ),
        (
            "select * from t where a = 1 -- trailing\nand b = 2",
            "select * from t where a = ? and b = ?",
        ),
        (
            "select x from t where a is null",
            "select x from t where a is ?",
        ),
        ("  select 1  ", "select ?"),
        ("", ""),
    ];

    #[test]
    fn agrees_with_pt_fingerprint() {
        for (q, want) in SAME_AS_PT {
            assert_eq!(fingerprint(q), *want, "input {q:?}");
        }
    }

    /// (statement, pt-fingerprint 3.2.1's output, ours): the documented differences.
    const DIFFERS_FROM_PT: &[(&str, &str, &str)] = &[
        ("select a-b from t", "select a? from t", "select a-b from t"),
        (
            "UPDATE sbtest1 SET k=k+1 WHERE id=5030",
            "update sbtest1 set k=k? where id=?",
            "update sbtest1 set k=k+? where id=?",
        ),
        ("select 0x1F", "select ?f", "select ?"),
        ("select 'it''s'", "select ??", "select ?"),
        ("select true, false", "select true, false", "select ?, ?"),
        (
            "insert into t values (1),(2) on duplicate key update a=1",
            "insert into t values(?+)",
            "insert into t values(?+) on duplicate key update a=?",
        ),
        (
            "SELECT * FROM t WHERE a = 1 -- comment",
            "select * from t where a = ? ",
            "select * from t where a = ?",
        ),
    ];

    #[test]
    fn documented_differences() {
        for (q, pt, ours) in DIFFERS_FROM_PT {
            let got = fingerprint(q);
            assert_eq!(got, *ours, "input {q:?}");
            assert_ne!(
                got, *pt,
                "input {q:?} now agrees with pt: move it to SAME_AS_PT"
            );
        }
    }

    #[test]
    fn numbers_in_identifiers_kept() {
        assert_eq!(
            fingerprint("select t2.c3 from db1.t2 where x1 = 10"),
            "select t2.c3 from db1.t2 where x1 = ?"
        );
    }

    #[test]
    fn unterminated_and_odd_input() {
        assert_eq!(fingerprint("select 'abc"), "select ?");
        assert_eq!(fingerprint("select /* open"), "select");
        assert_eq!(fingerprint("select `open"), "select `open");
        assert_eq!(fingerprint("select é, 'ü' from tä"), "select é, ? from tä");
        assert_eq!(fingerprint("call"), "call");
        assert_eq!(fingerprint("--"), "");
        assert_eq!(fingerprint("1e"), "?");
        assert_eq!(fingerprint("-"), "-");
    }

    #[test]
    fn cql_shapes() {
        assert_eq!(
            fingerprint("SELECT * FROM ks.users WHERE id = e89b1234-e89b-12d3-a456-426614174000"),
            "select * from ks.users where id = ?"
        );
        assert_eq!(
            fingerprint("INSERT INTO ks.t (k, v) VALUES (?, ?) USING TTL 86400"),
            "insert into ks.t (k, v) values(?+) using ttl ?"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_bounded(s in "(\\PC|select |in \\(1, 2\\)|'x'|-1|/\\* c \\*/| union | order by a asc){0,24}") {
            let f = fingerprint(&s);
            proptest::prop_assert!(f.len() <= s.len() + 8);
            // Fingerprinting a fingerprint must not panic either (it is not always a fixed
            // point: `select  union  union select` collapses once more).
            let _ = fingerprint(&f);
        }
    }
}
