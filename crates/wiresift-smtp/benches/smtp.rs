//! SMTP throughput (criterion, `Throughput::Bytes` of SMTP stream bytes).
//!
//! - `parse/commands`, `parse/replies`: the pure parsers over a buffer of typical command lines
//!   and multi-line EHLO replies.
//! - `session/transcript`: a full pipelined session (both directions) through `SmtpSession`.
//! - `session/body_64KiB_chunks`: a 32 MiB DATA body (78-byte lines, one in 500 dot-stuffed)
//!   streamed through the session in 64 KiB chunks.
//!
//! `cargo bench -p wiresift-smtp --bench smtp -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, ProtocolSession,
    SessionEvent, StreamChunk, Timestamp,
};
use wiresift_smtp::{parser, SmtpConfig, SmtpSession};

const COMMANDS: &[u8] = b"EHLO client.example.org\r\nMAIL FROM:<alice@example.org> SIZE=12345 BODY=8BITMIME\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net> NOTIFY=SUCCESS,FAILURE\r\nDATA\r\nRSET\r\nNOOP\r\nQUIT\r\n";
const REPLIES: &[u8] = b"250-mx.example.net Hello client.example.org [192.0.2.1]\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown\r\n250 2.1.5 Ok\r\n";

fn conn() -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([192, 0, 2, 1].into(), 40000),
        server: Endpoint::new([192, 0, 2, 2].into(), 25),
        start: Timestamp(0),
        midstream: false,
    }
}

fn feed(s: &mut SmtpSession, out: &mut Vec<SessionEvent>, dir: Direction, data: &[u8]) {
    let chunk = StreamChunk {
        dir,
        ts: Timestamp(1),
        data,
        held: Default::default(),
    };
    s.on_data(&chunk, out as &mut dyn EventSink);
}

fn parsing(c: &mut Criterion) {
    let cmds = COMMANDS.repeat(256);
    let replies = REPLIES.repeat(256);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(cmds.len() as u64));
    g.bench_function("commands", |b| {
        b.iter(|| {
            let mut rest = &cmds[..];
            let mut n = 0;
            while let Ok((r, c)) = parser::command(rest) {
                n += c.args.len();
                rest = r;
            }
            black_box(n)
        })
    });
    g.throughput(Throughput::Bytes(replies.len() as u64));
    g.bench_function("replies", |b| {
        b.iter(|| {
            let mut rest = &replies[..];
            let mut n = 0;
            while let Ok((r, reply)) = parser::reply(rest) {
                n += reply.lines.len();
                if let Some(l) = reply.lines.first() {
                    n += parser::enhanced_code(l).is_some() as usize;
                }
                rest = r;
            }
            black_box(n)
        })
    });
    g.finish();
}

fn session(c: &mut Criterion) {
    use Direction::{ClientToServer as C, ServerToClient as S};
    let mut script: Vec<(Direction, Vec<u8>)> = vec![
        (S, b"220 mx.example.net ESMTP\r\n".to_vec()),
        (C, b"EHLO client.example.org\r\n".to_vec()),
        (S, REPLIES[..REPLIES.len() - 88].to_vec()),
    ];
    for _ in 0..200 {
        script.push((C, b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n".to_vec()));
        script.push((
            S,
            b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n354 go\r\n".to_vec(),
        ));
        script.push((
            C,
            b"Subject: hi\r\nFrom: a@example.org\r\n\r\nshort body\r\n.\r\n".to_vec(),
        ));
        script.push((S, b"250 2.0.0 Ok: queued\r\n".to_vec()));
    }
    let total: usize = script.iter().map(|(_, b)| b.len()).sum();
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("transcript", |b| {
        b.iter(|| {
            let mut s = SmtpSession::new(&conn(), SmtpConfig::default());
            let mut out = Vec::with_capacity(2048);
            for (d, bytes) in &script {
                feed(&mut s, &mut out, *d, bytes);
            }
            s.on_close(
                Timestamp(2),
                CloseReason::Fin,
                &mut out as &mut dyn EventSink,
            );
            black_box(out.len())
        })
    });

    // 32 MiB body of 78-byte lines.
    let mut body = Vec::with_capacity(32 << 20);
    body.extend_from_slice(b"Subject: big\r\nFrom: a@example.org\r\n\r\n");
    let mut n = 0u64;
    while body.len() < 32 << 20 {
        let lead = if n % 500 == 0 { b'.' } else { b'Q' };
        n += 1;
        body.push(lead);
        body.extend_from_slice(&[b'x'; 75]);
        body.extend_from_slice(b"\r\n");
    }
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(20);
    g.bench_function("body_64KiB_chunks", |b| {
        b.iter(|| {
            let mut s = SmtpSession::new(&conn(), SmtpConfig::default());
            let mut out = Vec::new();
            feed(&mut s, &mut out, S, b"220 mx\r\n");
            feed(
                &mut s,
                &mut out,
                C,
                b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n",
            );
            feed(&mut s, &mut out, S, b"250 ok\r\n250 ok\r\n354 go\r\n");
            for chunk in body.chunks(64 * 1024) {
                feed(&mut s, &mut out, C, chunk);
            }
            feed(&mut s, &mut out, C, b".\r\n");
            feed(&mut s, &mut out, S, b"250 queued\r\n");
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, parsing, session);
criterion_main!(benches);
