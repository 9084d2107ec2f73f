//! Session tests on synthetic byte streams: prefixes, random segmentation (v4 frames and v5
//! segments, frames spanning segments), pairing by stream id, budgets, gaps and bad input.

use crate::frame::Opcode;
use crate::segment::{self, Kind};
use crate::{Config, CqlPlugin};
use proptest::prelude::*;
use wiresift_core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Duration, Endpoint, GapInfo,
    ProtocolSession, SessionEvent, Status, StreamChunk, TcpProtocolPlugin, Timestamp,
};

use Direction::{ClientToServer as C, ServerToClient as S};

fn conn(id: u64, midstream: bool) -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(id),
        client: Endpoint::new("10.0.0.2".parse().unwrap(), 40000 + id as u16),
        server: Endpoint::new("10.0.0.1".parse().unwrap(), 9042),
        start: Timestamp(0),
        midstream,
    }
}

/// Build one frame.
pub(crate) fn frame(
    version: u8,
    dir: Direction,
    flags: u8,
    stream: i16,
    op: Opcode,
    body: &[u8],
) -> Vec<u8> {
    let mut f = vec![if dir == S { 0x80 | version } else { version }, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(op.0);
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn long_string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

/// QUERY body: text, consistency ONE, flags page_size (v4: 1 byte, v5: 4 bytes), page 100.
pub(crate) fn query(version: u8, q: &str) -> Vec<u8> {
    let mut b = long_string(q);
    b.extend_from_slice(&1u16.to_be_bytes());
    if version >= 5 {
        b.extend_from_slice(&4u32.to_be_bytes());
    } else {
        b.push(4);
    }
    b.extend_from_slice(&100i32.to_be_bytes());
    b
}

/// RESULT Rows body: one int column `k` of ks.t, `n` rows.
pub(crate) fn rows(n: i32) -> Vec<u8> {
    let mut b = 2i32.to_be_bytes().to_vec();
    b.extend_from_slice(&1i32.to_be_bytes()); // global table spec
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend(string("ks"));
    b.extend(string("t"));
    b.extend(string("k"));
    b.extend_from_slice(&9u16.to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    for i in 0..n {
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&i.to_be_bytes());
    }
    b
}

fn void() -> Vec<u8> {
    1i32.to_be_bytes().to_vec()
}

fn error(code: i32, msg: &str) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend(string(msg));
    b
}

pub(crate) fn startup(compression: Option<&str>) -> Vec<u8> {
    let mut opts = vec![("CQL_VERSION", "3.0.0")];
    if let Some(c) = compression {
        opts.push(("COMPRESSION", c));
    }
    let mut b = (opts.len() as u16).to_be_bytes().to_vec();
    for (k, v) in opts {
        b.extend(string(k));
        b.extend(string(v));
    }
    b
}

/// Feed `chunks` in order; return the events.
fn run(chunks: &[(Direction, u64, Vec<u8>)], midstream: bool) -> Vec<SessionEvent> {
    run_with(&CqlPlugin::default(), 1, chunks, midstream)
}

fn run_with(
    p: &CqlPlugin,
    id: u64,
    chunks: &[(Direction, u64, Vec<u8>)],
    midstream: bool,
) -> Vec<SessionEvent> {
    let mut s = crate::CqlSession::new(
        &conn(id, midstream),
        p.config,
        std::sync::Arc::clone(p.prepared_cache()),
    );
    let mut out = Vec::new();
    for (d, ms, data) in chunks {
        s.on_data(
            &StreamChunk {
                dir: *d,
                ts: Timestamp(ms * 1_000_000),
                data,
                held: Duration(0),
            },
            &mut out,
        );
    }
    s.on_close(Timestamp(1 << 40), CloseReason::Fin, &mut out);
    // every byte delivered is consumed or discarded (counted), none left held
    for (d, a) in s.accounting().iter().enumerate() {
        let fed: u64 = chunks
            .iter()
            .filter(|c| c.0.index() == d)
            .map(|c| c.2.len() as u64)
            .sum();
        assert_eq!(a.delivered, fed);
        assert_eq!(a.delivered, a.consumed + a.discarded + a.held, "{a:?}");
        assert_eq!(a.held, 0);
        assert!(a.skipped <= a.delivered, "{a:?}");
    }
    out
}

fn txs(ev: &[SessionEvent]) -> Vec<&wiresift_core::OwnedTransaction> {
    ev.iter()
        .filter_map(|e| match e {
            SessionEvent::Transaction(t) => Some(&**t),
            _ => None,
        })
        .collect()
}

fn anomalies(ev: &[SessionEvent]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, SessionEvent::Anomaly(_)))
        .count()
}

/// A v4 conversation with replies out of order, plus its expected (query, latency ms).
fn v4_conversation() -> Vec<(Direction, u64, Vec<u8>)> {
    vec![
        (C, 0, frame(4, C, 0, 0, Opcode::STARTUP, &startup(None))),
        (S, 1, frame(4, S, 0, 0, Opcode::READY, &[])),
        (
            C,
            10,
            frame(4, C, 0, 1, Opcode::QUERY, &query(4, "SELECT slow")),
        ),
        (
            C,
            11,
            frame(4, C, 0, 2, Opcode::QUERY, &query(4, "SELECT fast")),
        ),
        (S, 12, frame(4, S, 0, 2, Opcode::RESULT, &rows(3))),
        (S, 40, frame(4, S, 0, 1, Opcode::RESULT, &rows(1))),
        (
            C,
            50,
            frame(4, C, 0, 3, Opcode::QUERY, &query(4, "SELECT bad")),
        ),
        (
            S,
            55,
            frame(4, S, 0, 3, Opcode::ERROR, &error(0x1001, "overloaded")),
        ),
    ]
}

#[test]
fn pairs_by_stream_not_order() {
    let ev = run(&v4_conversation(), false);
    assert_eq!(anomalies(&ev), 0);
    let t = txs(&ev);
    let got: Vec<_> = t
        .iter()
        .map(|t| (t.query.as_str(), t.latency_us.unwrap() / 1000, t.status))
        .collect();
    assert_eq!(
        got,
        [
            ("", 1, Status::Ok),
            ("SELECT fast", 1, Status::Ok),
            ("SELECT slow", 30, Status::Ok),
            ("SELECT bad", 5, Status::Error)
        ]
    );
    // FIFO would have given "slow" the fast reply (2 ms) and "fast" the slow one (29 ms).
    assert_eq!(t[2].response_value()["rows"], 1);
    assert_eq!(t[3].error.as_deref(), Some("overloaded: overloaded"));
}

#[test]
fn stream_reuse_is_an_anomaly_and_reports_the_older() {
    let ev = run(
        &[
            (
                C,
                0,
                frame(4, C, 0, 7, Opcode::QUERY, &query(4, "SELECT a")),
            ),
            (S, 1, frame(4, S, 0, 9, Opcode::RESULT, &void())),
            (
                C,
                2,
                frame(4, C, 0, 7, Opcode::QUERY, &query(4, "SELECT b")),
            ),
            (S, 3, frame(4, S, 0, 7, Opcode::RESULT, &void())),
        ],
        false,
    );
    assert_eq!(anomalies(&ev), 1);
    let t = txs(&ev);
    let got: Vec<_> = t
        .iter()
        .map(|t| (t.command.as_str(), t.query.as_str(), t.status))
        .collect();
    assert_eq!(
        got,
        [
            ("RESULT", "", Status::NoRequest),
            ("QUERY", "SELECT a", Status::NoResponse),
            ("QUERY", "SELECT b", Status::Ok)
        ]
    );
}

#[test]
fn client_only_reuse_is_not_an_anomaly() {
    let ev = run(
        &[
            (
                C,
                0,
                frame(4, C, 0, 7, Opcode::QUERY, &query(4, "SELECT a")),
            ),
            (
                C,
                2,
                frame(4, C, 0, 7, Opcode::QUERY, &query(4, "SELECT b")),
            ),
        ],
        false,
    );
    assert_eq!(anomalies(&ev), 0);
    assert!(txs(&ev).iter().all(|t| t.status == Status::NoResponse));
    assert_eq!(txs(&ev).len(), 2);
}

#[test]
fn events_are_messages() {
    let mut body = string("STATUS_CHANGE");
    body.extend(string("DOWN"));
    body.extend_from_slice(&[4, 10, 0, 0, 9]);
    body.extend_from_slice(&9042i32.to_be_bytes());
    let ev = run(&[(S, 0, frame(4, S, 0, -1, Opcode::EVENT, &body))], false);
    let m: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Message(m) => Some(m.summary.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(m, ["STATUS_CHANGE DOWN 10.0.0.9:9042"]);
    assert!(txs(&ev).is_empty());
}

/// Every strict prefix of a conversation yields no anomaly and only what the prefix holds.
#[test]
fn every_prefix_needs_more_never_errors() {
    let c2s: Vec<u8> = v4_conversation()
        .into_iter()
        .filter(|c| c.0 == C)
        .flat_map(|c| c.2)
        .collect();
    for n in 0..c2s.len() {
        let ev = run(&[(C, 0, c2s[..n].to_vec())], false);
        assert_eq!(anomalies(&ev), 0, "prefix {n}");
    }
    let seg = v5_stream(Kind::Lz4, 40_000);
    for n in (0..seg.len()).step_by(97) {
        let ev = run(&[(C, 0, seg[..n].to_vec())], false);
        assert_eq!(anomalies(&ev), 0, "v5 prefix {n}");
    }
}

/// A v5 client stream: STARTUP (bare frame), then segments: two small queries in one
/// self-contained segment, then a query of `big` bytes spanning several segments.
fn v5_stream(kind: Kind, big: usize) -> Vec<u8> {
    let comp = if kind == Kind::Lz4 { Some("lz4") } else { None };
    let mut out = frame(5, C, 0, 0, Opcode::STARTUP, &startup(comp));
    let mut two = frame(5, C, 0, 1, Opcode::QUERY, &query(5, "SELECT 1"));
    two.extend(frame(5, C, 0, 2, Opcode::QUERY, &query(5, "SELECT 2")));
    out.extend(seg(kind, &two, true));
    let text = format!("INSERT {}", "x".repeat(big));
    let bigf = frame(5, C, 0, 3, Opcode::QUERY, &query(5, &text));
    for part in bigf.chunks(segment::MAX_PAYLOAD) {
        out.extend(seg(kind, part, bigf.len() <= segment::MAX_PAYLOAD));
    }
    out
}

fn seg(kind: Kind, payload: &[u8], self_contained: bool) -> Vec<u8> {
    match kind {
        Kind::Plain => segment::encode(kind, payload, self_contained),
        Kind::Lz4 => {
            let c = lz4_flex::block::compress(payload);
            if c.len() < payload.len() {
                segment::encode_raw(kind, &c, payload.len(), self_contained)
            } else {
                segment::encode(kind, payload, self_contained)
            }
        }
    }
}

fn summary(ev: &[SessionEvent]) -> Vec<(String, String, Status, usize)> {
    txs(ev)
        .iter()
        .map(|t| {
            (
                t.command.clone(),
                t.query.chars().take(20).collect(),
                t.status,
                t.request_bytes as usize,
            )
        })
        .collect()
}

#[test]
fn v5_segments_and_frames_spanning_them() {
    for kind in [Kind::Plain, Kind::Lz4] {
        let s = v5_stream(kind, 300_000);
        let ev = run(&[(C, 0, s)], false);
        assert_eq!(anomalies(&ev), 0, "{kind:?}");
        let got = summary(&ev);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[1].1, "SELECT 1");
        assert_eq!(got[3].1, "INSERT xxxxxxxxxxxxx");
        assert!(got[3].3 > 300_000);
    }
}

#[test]
fn corrupt_segment_crc_is_an_anomaly_then_resyncs() {
    let mut s = v5_stream(Kind::Plain, 10);
    // corrupt the CRC32 of the first segment (the one with two queries)
    let start = frame(5, C, 0, 0, Opcode::STARTUP, &startup(None)).len();
    let plen = 2 * frame(5, C, 0, 1, Opcode::QUERY, &query(5, "SELECT 1")).len();
    s[start + 6 + plen] ^= 0xff;
    let ev = run(&[(C, 0, s)], false);
    assert_eq!(anomalies(&ev), 1);
    let got = summary(&ev);
    let q: Vec<_> = got.iter().map(|g| g.1.as_str()).collect();
    assert_eq!(q, ["", "INSERT xxxxxxxxxx"]);
}

#[test]
fn midstream_pickup_in_v4_and_v5() {
    let conv: Vec<u8> = v4_conversation()
        .into_iter()
        .filter(|c| c.0 == C)
        .flat_map(|c| c.2)
        .collect();
    // start 5 bytes into the first frame
    let ev = run(&[(C, 0, conv[5..].to_vec())], true);
    let q: Vec<_> = txs(&ev).iter().map(|t| t.query.clone()).collect();
    assert_eq!(q, ["SELECT slow", "SELECT fast", "SELECT bad"]);
    let v5 = v5_stream(Kind::Lz4, 200_000);
    let skip = frame(5, C, 0, 0, Opcode::STARTUP, &startup(Some("lz4"))).len() + 3;
    let ev = run(&[(C, 0, v5[skip..].to_vec())], true);
    let q: Vec<_> = txs(&ev)
        .iter()
        .map(|t| t.query.chars().take(8).collect::<String>())
        .collect();
    // the first segment is lost (we started inside it); the big frame is found by CRC24+CRC32
    assert_eq!(q, ["INSERT x"]);
}

#[test]
fn gap_then_resync_keeps_pairing() {
    let p = CqlPlugin::default();
    let mut s = p.new_session(&conn(1, false));
    let mut out = Vec::new();
    let feed = |s: &mut Box<dyn ProtocolSession>,
                d,
                ms: u64,
                data: Vec<u8>,
                out: &mut Vec<SessionEvent>| {
        s.on_data(
            &StreamChunk {
                dir: d,
                ts: Timestamp(ms * 1_000_000),
                data: &data,
                held: Duration(0),
            },
            out,
        );
    };
    feed(
        &mut s,
        C,
        0,
        frame(4, C, 0, 1, Opcode::QUERY, &query(4, "SELECT a")),
        &mut out,
    );
    let lost = frame(4, C, 0, 2, Opcode::QUERY, &query(4, "SELECT lost"));
    feed(&mut s, C, 1, lost[..5].to_vec(), &mut out);
    s.on_gap(
        &GapInfo {
            dir: C,
            ts: Timestamp(2_000_000),
            len: Some(lost.len() as u64 - 5),
        },
        &mut out,
    );
    feed(
        &mut s,
        C,
        3,
        frame(4, C, 0, 3, Opcode::QUERY, &query(4, "SELECT c")),
        &mut out,
    );
    feed(
        &mut s,
        S,
        4,
        frame(4, S, 0, 3, Opcode::RESULT, &void()),
        &mut out,
    );
    feed(
        &mut s,
        S,
        5,
        frame(4, S, 0, 2, Opcode::RESULT, &void()),
        &mut out,
    );
    feed(
        &mut s,
        S,
        6,
        frame(4, S, 0, 1, Opcode::RESULT, &void()),
        &mut out,
    );
    s.on_close(Timestamp(10_000_000), CloseReason::Fin, &mut out);
    let got = summary(&out);
    let q: Vec<_> = got.iter().map(|g| (g.1.as_str(), g.2)).collect();
    assert_eq!(
        q,
        [
            ("SELECT c", Status::Ok),
            ("", Status::NoRequest),
            ("SELECT a", Status::Ok)
        ]
    );
}

#[test]
fn pending_budget_reports_the_oldest_early() {
    let p = CqlPlugin::new(Config {
        max_pending: 4,
        ..Config::default()
    });
    let chunks: Vec<_> = (0..10)
        .map(|i| {
            (
                C,
                i,
                frame(
                    4,
                    C,
                    0,
                    i as i16,
                    Opcode::QUERY,
                    &query(4, &format!("SELECT {i}")),
                ),
            )
        })
        .collect();
    let ev = run_with(&p, 1, &chunks, false);
    let t = txs(&ev);
    assert_eq!(t.len(), 10);
    assert_eq!(t[0].query, "SELECT 0");
    assert!(t[0]
        .notes
        .iter()
        .any(|n| matches!(n, wiresift_core::Note::Text { text } if text.contains("budget"))));
}

#[test]
fn oversize_frames_are_skipped_by_length_and_paired() {
    let p = CqlPlugin::new(Config {
        max_frame: 1000,
        ..Config::default()
    });
    let big = frame(4, C, 0, 5, Opcode::QUERY, &query(4, &"y".repeat(5000)));
    let mut chunks: Vec<_> = big.chunks(700).map(|c| (C, 0, c.to_vec())).collect();
    chunks.push((
        C,
        1,
        frame(4, C, 0, 6, Opcode::QUERY, &query(4, "SELECT after")),
    ));
    chunks.push((S, 2, frame(4, S, 0, 5, Opcode::RESULT, &void())));
    chunks.push((S, 3, frame(4, S, 0, 6, Opcode::RESULT, &void())));
    let ev = run_with(&p, 1, &chunks, false);
    assert_eq!(anomalies(&ev), 0);
    let t = txs(&ev);
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].status, t[0].request_bytes),
        (Status::Ok, big.len() as u64)
    );
    assert!(t[0]
        .notes
        .iter()
        .any(|n| matches!(n, wiresift_core::Note::Truncated { field: "frame", .. })));
    assert_eq!(t[1].query, "SELECT after");
}

#[test]
fn compressed_v4_frames_and_bounded_decompression() {
    let body = query(4, "SELECT compressed");
    let mut lz = (body.len() as u32).to_be_bytes().to_vec();
    lz.extend(lz4_flex::block::compress(&body));
    let sn = snap::raw::Encoder::new().compress_vec(&body).unwrap();
    for (c, b) in [("lz4", lz), ("snappy", sn)] {
        let ev = run(
            &[
                (C, 0, frame(4, C, 0, 0, Opcode::STARTUP, &startup(Some(c)))),
                (C, 1, frame(4, C, 1, 1, Opcode::QUERY, &b)),
            ],
            false,
        );
        assert_eq!(anomalies(&ev), 0);
        assert_eq!(txs(&ev)[1].query, "SELECT compressed", "{c}");
    }
    // a 4 GiB claim: an anomaly, the frame still reported, nothing allocated
    let ev = run(
        &[
            (
                C,
                0,
                frame(4, C, 0, 0, Opcode::STARTUP, &startup(Some("lz4"))),
            ),
            (
                C,
                1,
                frame(
                    4,
                    C,
                    1,
                    1,
                    Opcode::QUERY,
                    &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
                ),
            ),
        ],
        false,
    );
    assert_eq!(anomalies(&ev), 1);
    assert_eq!(txs(&ev).len(), 2);
}

#[test]
fn prepared_ids_are_shared_across_connections() {
    let p = CqlPlugin::default();
    let q = "SELECT * FROM t WHERE k = ?";
    let mut prep_result = 4i32.to_be_bytes().to_vec();
    prep_result.extend_from_slice(&2u16.to_be_bytes());
    prep_result.extend_from_slice(&[0xab, 0xcd]);
    prep_result.extend_from_slice(&[0; 12]); // flags, columns, pk count = 0
    prep_result.extend_from_slice(&4i32.to_be_bytes()); // result: no_metadata
    prep_result.extend_from_slice(&0i32.to_be_bytes());
    run_with(
        &p,
        1,
        &[
            (C, 0, frame(4, C, 0, 1, Opcode::PREPARE, &long_string(q))),
            (S, 1, frame(4, S, 0, 1, Opcode::RESULT, &prep_result)),
        ],
        false,
    );
    let mut exec = vec![0, 2, 0xab, 0xcd, 0, 1, 0];
    let mut unknown = vec![0, 2, 0xee, 0xee, 0, 1, 0];
    let ev = run_with(
        &p,
        2,
        &[
            (
                C,
                2,
                frame(4, C, 0, 1, Opcode::EXECUTE, &std::mem::take(&mut exec)),
            ),
            (
                C,
                3,
                frame(4, C, 0, 2, Opcode::EXECUTE, &std::mem::take(&mut unknown)),
            ),
        ],
        false,
    );
    let t = txs(&ev);
    assert_eq!(t[0].query, q);
    assert_eq!(
        t[0].fingerprint.as_deref(),
        Some("select * from t where k = ?")
    );
    assert_eq!(t[1].query, "");
    assert_eq!(t[1].request_value()["prepared_id"], "eeee");
    assert!(!t[1].notes.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random split points give the same transactions as one feed: v4 frames (both
    /// directions, interleaved at fixed points) and a v5 client stream whose last frame spans
    /// several segments.
    #[test]
    fn any_segmentation_gives_the_same_events(
        cuts in proptest::collection::vec(0usize..400_000, 0..24),
        lz4 in any::<bool>(),
    ) {
        let kind = if lz4 { Kind::Lz4 } else { Kind::Plain };
        let whole = v5_stream(kind, 140_000);
        let want = summary(&run(&[(C, 0, whole.clone())], false));
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (whole.len() + 1)).collect();
        cuts.sort();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain(std::iter::once(whole.len())) {
            chunks.push((C, 0, whole[prev..c].to_vec()));
            prev = c;
        }
        let ev = run(&chunks, false);
        prop_assert_eq!(anomalies(&ev), 0);
        prop_assert_eq!(summary(&ev), want);

        let conv = v4_conversation();
        let want = summary(&run(&conv, false));
        let mut split = Vec::new();
        for (i, (d, ms, data)) in conv.iter().enumerate() {
            let at = if data.is_empty() { 0 } else { (i * 7919) % data.len() };
            split.push((*d, *ms, data[..at].to_vec()));
            split.push((*d, *ms, data[at..].to_vec()));
        }
        prop_assert_eq!(summary(&run(&split, false)), want);
    }

    /// Arbitrary bytes in either direction never panic, and every byte is accounted for.
    #[test]
    fn garbage_never_panics(
        a in proptest::collection::vec(any::<u8>(), 0..2000),
        b in proptest::collection::vec(any::<u8>(), 0..2000),
        mid in any::<bool>(),
    ) {
        let mut a2 = frame(5, C, 0, 0, Opcode::STARTUP, &startup(Some("lz4")));
        a2.extend(&a);
        run(&[(C, 0, a2), (S, 1, b.clone()), (C, 2, a), (S, 3, b)], mid);
    }
}

#[test]
fn use_keyspace_on_any_text() {
    use crate::session::use_keyspace;
    assert_eq!(use_keyspace("USE shop").as_deref(), Some("shop"));
    assert_eq!(use_keyspace("  use \"MyKs\";").as_deref(), Some("MyKs"));
    assert_eq!(use_keyspace("SELECT 1"), None);
    assert_eq!(use_keyspace("us\u{fffd}x"), None); // found by the fuzzer: not a char boundary
    assert_eq!(use_keyspace("use"), None);
}

/// A false boundary claiming a long body, then garbage, mid-stream, in small chunks: the
/// search must stay linear (it used to rescan all held bytes on every chunk).
#[test]
fn hostile_candidate_does_not_make_the_search_quadratic() {
    let mut data = frame(4, C, 0, 1, Opcode::QUERY, &[]);
    data[5..9].copy_from_slice(&(900_000u32).to_be_bytes());
    data.extend((0..600_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80));
    data.extend(frame(4, C, 0, 2, Opcode::QUERY, &query(4, "SELECT after")));
    data.extend(frame(
        4,
        C,
        0,
        3,
        Opcode::QUERY,
        &query(4, "SELECT after 2"),
    ));
    let chunks: Vec<_> = data.chunks(1460).map(|c| (C, 0, c.to_vec())).collect();
    let t0 = std::time::Instant::now();
    let ev = run(&chunks, true);
    let q: Vec<_> = txs(&ev).iter().map(|t| t.query.clone()).collect();
    assert_eq!(q, ["SELECT after", "SELECT after 2"]);
    assert!(t0.elapsed().as_secs() < 20, "{:?}", t0.elapsed());
}

/// A RESULT larger than the buffering limit still reports its kind and row count (they come
/// before the rows), and a QUERY its text, while the rest is skipped by length.
#[test]
fn oversize_frames_are_decoded_from_their_first_bytes() {
    let p = CqlPlugin::new(Config {
        max_frame: 2000,
        ..Config::default()
    });
    let text = format!("INSERT INTO t (k, v) VALUES (1, '{}')", "v".repeat(9000));
    let big_q = frame(4, C, 0, 1, Opcode::QUERY, &query(4, &text));
    let big_r = frame(4, S, 0, 1, Opcode::RESULT, &rows(3000));
    let mut chunks: Vec<_> = big_q.chunks(1460).map(|c| (C, 0, c.to_vec())).collect();
    chunks.extend(big_r.chunks(1460).map(|c| (S, 1, c.to_vec())));
    let ev = run_with(&p, 1, &chunks, false);
    assert_eq!(anomalies(&ev), 0);
    let t = txs(&ev);
    assert_eq!(t.len(), 1);
    assert!(t[0]
        .query
        .starts_with("INSERT INTO t (k, v) VALUES (1, 'vvv"));
    assert_eq!(t[0].response_value()["rows"], 3000);
    assert_eq!(t[0].response_bytes, big_r.len() as u64);
    assert!(t[0]
        .notes
        .iter()
        .any(|n| matches!(n, wiresift_core::Note::Truncated { field: "frame", .. })));
}

/// Flag prefixes in their spec order: a request's custom payload; a response's tracing id,
/// then warnings, then custom payload, then the body.
#[test]
fn flag_prefixes_are_skipped_in_order() {
    let mut payload = 1u16.to_be_bytes().to_vec();
    payload.extend(string("key"));
    payload.extend_from_slice(&3i32.to_be_bytes());
    payload.extend_from_slice(b"val");
    let mut q = payload.clone();
    q.extend(query(4, "SELECT with payload"));
    let mut r = vec![7u8; 16]; // tracing id
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend(string("a warning"));
    r.extend(payload);
    r.extend(rows(2));
    let ev = run(
        &[
            (C, 0, frame(4, C, 0x04 | 0x02 | 0x10, 1, Opcode::QUERY, &q)),
            (S, 1, frame(4, S, 0x02 | 0x08 | 0x04, 1, Opcode::RESULT, &r)),
        ],
        false,
    );
    assert_eq!(anomalies(&ev), 0);
    let t = txs(&ev);
    assert_eq!(t[0].query, "SELECT with payload");
    let (q, r) = (t[0].request_value(), t[0].response_value());
    assert_eq!(
        (
            q["custom_payload"][0].as_str(),
            q["tracing"].as_bool(),
            q["beta"].as_bool()
        ),
        (Some("key"), Some(true), Some(true))
    );
    assert_eq!(r["tracing_id"], "07070707-0707-0707-0707-070707070707");
    assert_eq!(r["warnings"][0], "a warning");
    assert_eq!(r["custom_payload"][0], "key");
    assert_eq!(r["rows"], 2);
}
