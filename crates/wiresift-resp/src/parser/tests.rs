use super::*;

fn lim() -> Limits {
    Limits::default()
}

fn tok(b: &[u8]) -> (Token<'_>, usize) {
    match parse_token(b, &lim()).expect("parses") {
        Parsed::Done(t, n) => (t, n),
        Parsed::Incomplete(n) => panic!("incomplete {n:?} on {}", escape_bytes(b)),
    }
}

fn val(b: &[u8]) -> Value<'_> {
    match parse_value(b, &lim()).expect("parses") {
        Parsed::Done(v, n) => {
            assert_eq!(n, b.len(), "whole input used");
            v
        }
        Parsed::Incomplete(n) => panic!("incomplete {n:?}"),
    }
}

fn blob(s: &[u8]) -> Value<'_> {
    Value::Blob {
        kind: BlobKind::Bulk,
        data: Cow::Borrowed(s),
        len: s.len() as u64,
    }
}

#[test]
fn resp2_scalars() {
    assert_eq!(tok(b"+OK\r\n"), (Token::SimpleString(b"OK"), 5));
    assert_eq!(tok(b"-ERR bad\r\n"), (Token::SimpleError(b"ERR bad"), 10));
    assert_eq!(tok(b":-42\r\n"), (Token::Integer(-42), 6));
    assert_eq!(tok(b":9223372036854775807\r\n").0, Token::Integer(i64::MAX));
    assert_eq!(
        tok(b":-9223372036854775808\r\n").0,
        Token::Integer(i64::MIN)
    );
    assert_eq!(
        tok(b"$5\r\nhello\r\n"),
        (
            Token::Blob {
                kind: BlobKind::Bulk,
                body: b"hello"
            },
            11
        )
    );
    assert_eq!(
        tok(b"$0\r\n\r\n").0,
        Token::Blob {
            kind: BlobKind::Bulk,
            body: b""
        }
    );
    assert_eq!(tok(b"$-1\r\n"), (Token::NullBlob, 5));
    assert_eq!(tok(b"*-1\r\n"), (Token::NullAggregate(AggKind::Array), 5));
    assert_eq!(
        tok(b"*2\r\n").0,
        Token::Aggregate {
            kind: AggKind::Array,
            len: Some(2)
        }
    );
    // A bulk string may contain CR LF.
    assert_eq!(val(b"$4\r\na\r\nb\r\n"), blob(b"a\r\nb"));
}

#[test]
fn resp3_types() {
    assert_eq!(tok(b"_\r\n").0, Token::Null);
    assert_eq!(tok(b"#t\r\n").0, Token::Boolean(true));
    assert_eq!(tok(b"#f\r\n").0, Token::Boolean(false));
    assert_eq!(tok(b",1.23\r\n").0, Token::Double(b"1.23"));
    assert_eq!(tok(b",-inf\r\n").0, Token::Double(b"-inf"));
    assert_eq!(tok(b",1e10\r\n").0, Token::Double(b"1e10"));
    assert_eq!(
        tok(b"(3492890328409238509324850943850943825024385\r\n").0,
        Token::BigNumber(b"3492890328409238509324850943850943825024385")
    );
    assert_eq!(
        tok(b"!21\r\nSYNTAX invalid syntax\r\n").0,
        Token::Blob {
            kind: BlobKind::Error,
            body: b"SYNTAX invalid syntax"
        }
    );
    assert_eq!(
        tok(b"=15\r\ntxt:Some string\r\n").0,
        Token::Blob {
            kind: BlobKind::Verbatim,
            body: b"txt:Some string"
        }
    );
    assert_eq!(
        val(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
        Value::Aggregate {
            kind: AggKind::Map,
            items: vec![
                Value::SimpleString(b"first"),
                Value::Integer(1),
                Value::SimpleString(b"second"),
                Value::Integer(2)
            ]
        }
    );
    assert_eq!(
        val(b"~2\r\n+a\r\n:1\r\n"),
        Value::Aggregate {
            kind: AggKind::Set,
            items: vec![Value::SimpleString(b"a"), Value::Integer(1)]
        }
    );
    assert_eq!(
        val(b">3\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nfoo\r\n$0\r\n\r\n"),
        Value::Aggregate {
            kind: AggKind::Push,
            items: vec![
                blob(b"invalidate"),
                Value::Aggregate {
                    kind: AggKind::Array,
                    items: vec![blob(b"foo")]
                },
                blob(b"")
            ]
        }
    );
    // Attribute then the real reply.
    let v = val(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n");
    match v {
        Value::Attributed { attributes, value } => {
            assert_eq!(attributes.len(), 2);
            assert_eq!(
                *value,
                Value::Aggregate {
                    kind: AggKind::Array,
                    items: vec![Value::Integer(2)]
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn streamed_strings_and_aggregates() {
    assert_eq!(
        val(b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n"),
        Value::Blob {
            kind: BlobKind::Bulk,
            data: Cow::Owned(b"Hello word".to_vec()),
            len: 10
        }
    );
    assert_eq!(
        val(b"*?\r\n:1\r\n:2\r\n.\r\n"),
        Value::Aggregate {
            kind: AggKind::Array,
            items: vec![Value::Integer(1), Value::Integer(2)]
        }
    );
    assert_eq!(
        val(b"%?\r\n+a\r\n:1\r\n.\r\n"),
        Value::Aggregate {
            kind: AggKind::Map,
            items: vec![Value::SimpleString(b"a"), Value::Integer(1)]
        }
    );
    assert_eq!(
        val(b"~?\r\n.\r\n"),
        Value::Aggregate {
            kind: AggKind::Set,
            items: vec![]
        }
    );
}

#[test]
fn unknown_type_byte_is_reported_not_rejected() {
    assert_eq!(
        tok(b"@hello\r\n").0,
        Token::Unknown {
            ty: TypeByte(b'@'),
            line: b"hello"
        }
    );
    assert!(!TypeByte(b'@').is_known());
    assert!(TypeByte::PUSH.is_known());
}

#[test]
fn errors_carry_offset_and_expectation() {
    let e = parse_token(b":12x\r\n", &lim()).unwrap_err();
    assert_eq!(e.offset(), 1);
    assert!(e.to_string().contains("expected integer"), "{e}");
    let e = parse_token(b"$3\r\nabcX\r\n", &lim()).unwrap_err();
    assert_eq!(e.offset(), 7);
    assert!(matches!(
        parse_token(b"$-2\r\n", &lim()),
        Err(RespError::Syntax { .. })
    ));
    assert!(matches!(
        parse_token(b"+a\rb\r\n", &lim()),
        Err(RespError::Syntax { .. })
    ));
    let small = Limits {
        max_line: 8,
        ..lim()
    };
    assert!(matches!(
        parse_token(b"+0123456789abcdef", &small),
        Err(RespError::LineTooLong { .. })
    ));
    let shallow = Limits {
        max_depth: 2,
        ..lim()
    };
    assert!(matches!(
        parse_value(b"*1\r\n*1\r\n*1\r\n:1\r\n", &shallow),
        Err(RespError::TooDeep { .. })
    ));
    // Nested error offsets are absolute.
    let e = parse_value(b"*2\r\n:1\r\n:x\r\n", &lim()).unwrap_err();
    assert_eq!(e.offset(), 9);
}

#[test]
fn large_blob_is_a_header_to_skip() {
    let l = Limits {
        max_bulk: 4,
        ..lim()
    };
    let r = parse_token(b"$10\r\n0123", &l).unwrap();
    assert_eq!(
        r,
        Parsed::Done(
            Token::BlobHeader {
                kind: BlobKind::Bulk,
                len: 10
            },
            5
        )
    );
    assert_eq!(
        parse_token(b";9\r\n", &l).unwrap(),
        Parsed::Done(Token::ChunkHeader(9), 4)
    );
    // The value parser skips it when present and keeps a bounded prefix.
    let v = parse_value(b"$10\r\n0123456789\r\n", &l).unwrap();
    assert_eq!(
        v,
        Parsed::Done(
            Value::Blob {
                kind: BlobKind::Bulk,
                data: Cow::Borrowed(b"0123"),
                len: 10
            },
            17
        )
    );
}

#[test]
fn exact_need_for_blob_bodies() {
    assert_eq!(
        parse_token(b"$5\r\nhe", &lim()).unwrap(),
        Parsed::Incomplete(Needed::new(5))
    );
    assert_eq!(
        parse_token(b"$5\r\nhello\r", &lim()).unwrap(),
        Parsed::Incomplete(Needed::new(1))
    );
    assert_eq!(
        parse_token(b"$5\r\nhello", &lim()).unwrap(),
        Parsed::Incomplete(Needed::new(2))
    );
    let l = Limits {
        max_bulk: 4,
        ..lim()
    };
    assert_eq!(
        parse_value(b"$10\r\n012", &l).unwrap(),
        Parsed::Incomplete(Needed::new(9))
    );
}

#[test]
fn requests_multibulk_and_inline() {
    let wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nPING\r\n";
    let Parsed::Done(r, n) = parse_request(wire, &lim()).unwrap() else {
        panic!()
    };
    assert_eq!((r.argc, r.inline, n), (3, false, 31));
    assert_eq!(r.args(), vec![&b"SET"[..], b"k", b"value"]);
    let Parsed::Done(r, n2) = parse_request(&wire[n..], &lim()).unwrap() else {
        panic!()
    };
    assert_eq!((r.argc, r.inline, n2), (1, true, 6));
    assert_eq!(r.args(), vec![&b"PING"[..]]);
    assert!(parse_request(b"*1\r\n:1\r\n", &lim()).is_err());
    // Bare LF ends an inline command too.
    let Parsed::Done(r, _) = parse_request(b"get  k\n", &lim()).unwrap() else {
        panic!()
    };
    assert_eq!(r.args(), vec![&b"get"[..], b"k"]);
}

#[test]
fn inline_quoting_rules() {
    let s = |l: &[u8]| {
        split_inline(l).map(|v| v.into_iter().map(|a| escape_bytes(&a)).collect::<Vec<_>>())
    };
    assert_eq!(s(b"SET k v").unwrap(), vec!["SET", "k", "v"]);
    assert_eq!(s(b"SET \"a b\" 'c d'").unwrap(), vec!["SET", "a b", "c d"]);
    assert_eq!(
        s(br#"SET k "\x41\n\"q\"""#).unwrap(),
        vec!["SET", "k", "A\\n\\\"q\\\""]
    );
    assert_eq!(s(br"SET k 'it\'s'").unwrap(), vec!["SET", "k", "it's"]);
    assert_eq!(s(br#"SET k 'a\nb'"#).unwrap(), vec!["SET", "k", "a\\\\nb"]);
    assert_eq!(s(b"  ").unwrap(), Vec::<String>::new());
    assert_eq!(s(b"SET \"unterminated"), None);
    assert_eq!(s(b"SET \"a\"b"), None);
    assert_eq!(s(b"SET 'a'b"), None);
}

/// Valid messages covering every type; used by the prefix test.
pub(crate) const SAMPLES: &[&[u8]] = &[
    b"+OK\r\n",
    b"-ERR unknown command 'FOO'\r\n",
    b":1000\r\n",
    b":-1\r\n",
    b"$5\r\nhello\r\n",
    b"$0\r\n\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
    b"*0\r\n",
    b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
    b"*2\r\n*1\r\n:1\r\n*2\r\n+a\r\n-b\r\n",
    b"_\r\n",
    b"#t\r\n",
    b",3.14\r\n",
    b",inf\r\n",
    b"(12345678901234567890123\r\n",
    b"!10\r\nERR failed\r\n",
    b"=8\r\ntxt:abcd\r\n",
    b"%1\r\n+k\r\n*2\r\n:1\r\n:2\r\n",
    b"~2\r\n+a\r\n+b\r\n",
    b"|1\r\n+ttl\r\n:3600\r\n$2\r\nok\r\n",
    b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
    b"$?\r\n;3\r\nabc\r\n;2\r\nde\r\n;0\r\n",
    b"*?\r\n:1\r\n$1\r\nx\r\n.\r\n",
    b"%?\r\n+a\r\n:1\r\n.\r\n",
    b"~?\r\n+a\r\n.\r\n",
    b"$70000\r\n", // header only: the body follows (checked separately below)
];

#[test]
fn every_strict_prefix_needs_more() {
    let mut big = b"$70000\r\n".to_vec();
    big.extend(vec![b'x'; 70000]);
    big.extend_from_slice(b"\r\n");
    let mut all: Vec<Vec<u8>> = SAMPLES[..SAMPLES.len() - 1]
        .iter()
        .map(|s| s.to_vec())
        .collect();
    all.push(big);
    for msg in &all {
        assert!(matches!(parse_value(msg, &lim()), Ok(Parsed::Done(_, n)) if n == msg.len()));
        for cut in 0..msg.len() {
            let p = &msg[..cut];
            match parse_value(p, &lim()) {
                Ok(Parsed::Incomplete(_)) => {}
                other => panic!(
                    "prefix {cut} of {}: {other:?}",
                    escape_bytes(&msg[..msg.len().min(40)])
                ),
            }
            // Tokens too: a prefix is either incomplete or a whole first token.
            if let Ok(Parsed::Done(_, n)) = parse_token(p, &lim()) {
                assert!(n <= cut);
            } else {
                assert!(matches!(parse_token(p, &lim()), Ok(Parsed::Incomplete(_))));
            }
        }
    }
    for req in [
        &b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"[..],
        b"PING\r\n",
        b"SET \"a b\" c\r\n",
    ] {
        for cut in 0..req.len() {
            assert!(
                matches!(
                    parse_request(&req[..cut], &lim()),
                    Ok(Parsed::Incomplete(_))
                ),
                "request prefix {cut}"
            );
        }
    }
}
