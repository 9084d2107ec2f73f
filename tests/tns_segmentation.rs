//! TNS session robustness on a synthetic conversation built from the documented layouts
//! (CONNECT/ACCEPT at versions 308, 310, 313, 314 with 16-bit lengths, and 315/319 with 32-bit
//! lengths after ACCEPT; OALL8 calls in the fixed representation; replies ending in an ERROR
//! message):
//!
//! - segmentation: any split of the two streams into chunks gives the same transactions;
//! - prefixes: every prefix of the conversation (then close) is handled without panic, within
//!   the buffer budget, and reports no more transactions than the whole;
//! - the decoded figures for each version (SQL, ORA code, rows, cursor, width).

use proptest::prelude::*;
use wiresift::core::{
    CloseReason, ConnectionId, ConnectionInfo, Direction, Endpoint, EventSink, GapInfo,
    ProtocolSession, SessionEvent, Status, StreamChunk, Timestamp,
};
use wiresift_tns::{TnsConfig, TnsSession};

fn conn() -> ConnectionInfo {
    ConnectionInfo {
        id: ConnectionId(1),
        client: Endpoint::new([10, 0, 0, 1].into(), 40000),
        server: Endpoint::new([10, 0, 0, 2].into(), 1521),
        start: Timestamp(0),
        midstream: false,
    }
}

fn pkt(w32: bool, t: u8, body: &[u8]) -> Vec<u8> {
    let n = 8 + body.len();
    let mut v = if w32 {
        (n as u32).to_be_bytes().to_vec()
    } else {
        let mut v = (n as u16).to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v
    };
    v.extend_from_slice(&[t, 0, 0, 0]);
    v.extend_from_slice(body);
    v
}

fn connect(version: u16, cd: &[u8]) -> Vec<u8> {
    let off = if version >= 315 { 70 } else { 58 };
    let mut b = vec![0u8; off - 8];
    b[0..2].copy_from_slice(&version.to_be_bytes());
    b[2..4].copy_from_slice(&300u16.to_be_bytes());
    b[6..8].copy_from_slice(&8192u16.to_be_bytes());
    b[16..18].copy_from_slice(&(cd.len() as u16).to_be_bytes());
    b[18..20].copy_from_slice(&(off as u16).to_be_bytes());
    if version >= 315 {
        b[50..54].copy_from_slice(&8192u32.to_be_bytes());
        b[54..58].copy_from_slice(&65535u32.to_be_bytes());
    }
    b.extend_from_slice(cd);
    pkt(false, 1, &b)
}

fn accept(version: u16) -> Vec<u8> {
    let mut b = vec![0u8; 32];
    b[0..2].copy_from_slice(&version.to_be_bytes());
    b[4..6].copy_from_slice(&8192u16.to_be_bytes());
    b[24..28].copy_from_slice(&8192u32.to_be_bytes());
    pkt(false, 2, &b)
}

/// OALL8 in the fixed (little-endian) representation, SQL as a length-prefixed string.
fn oall8(seq: u8, sql: &str) -> Vec<u8> {
    let mut b = vec![0, 0, 3, 0x5e, seq];
    b.extend_from_slice(&0x8061u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.push(1);
    b.extend_from_slice(&(sql.len() as u32 * 3).to_le_bytes());
    b.extend_from_slice(&[1, 13, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&[0; 40]);
    if sql.len() <= 252 {
        b.push(sql.len() as u8);
        b.extend_from_slice(sql.as_bytes());
    } else {
        b.push(0xFE);
        for c in sql.as_bytes().chunks(64) {
            b.push(c.len() as u8);
            b.extend_from_slice(c);
        }
        b.push(0);
    }
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&[0; 30]);
    b
}

fn fetch(seq: u8, cursor: u32, rows: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 3, 5, seq];
    b.extend_from_slice(&cursor.to_le_bytes());
    b.extend_from_slice(&rows.to_le_bytes());
    b
}

/// A reply ending with an ERROR message: row number, error number, cursor, text.
fn reply(row: u32, err: u16, cursor: u16, text: &str) -> Vec<u8> {
    let mut b = vec![0, 0, 6, 1, 0, 0, 0, 0, 0, 0];
    b.push(4);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&7u16.to_le_bytes());
    b.extend_from_slice(&row.to_le_bytes());
    b.extend_from_slice(&err.to_le_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&cursor.to_le_bytes());
    b.extend_from_slice(&[0; 50]);
    if !text.is_empty() {
        b.push(text.len() as u8);
        b.extend_from_slice(text.as_bytes());
    }
    b
}

/// (client stream, server stream, interleaving: which side sends each packet).
fn conversation(version: u16, long_sql: bool) -> Vec<(Direction, Vec<u8>)> {
    let w = version >= 315;
    let sql = if long_sql {
        format!("select {} from dual", "x, ".repeat(3000))
    } else {
        "select owner from all_objects".to_string()
    };
    let mut v = vec![
        (
            Direction::ClientToServer,
            connect(
                version,
                b"(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=svc)(CID=(PROGRAM=p)(HOST=h)(USER=u)))(ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521)))",
            ),
        ),
        (Direction::ServerToClient, accept(version)),
    ];
    // Long calls are split into SDU-sized DATA packets.
    let call = oall8(2, &sql);
    let chunks: Vec<&[u8]> = call[2..].chunks(8000).collect();
    for c in chunks {
        let mut b = vec![0, 0];
        b.extend_from_slice(c);
        v.push((Direction::ClientToServer, pkt(w, 6, &b)));
    }
    v.push((Direction::ServerToClient, pkt(w, 6, &reply(1, 0, 3, ""))));
    v.push((Direction::ClientToServer, pkt(w, 6, &fetch(3, 3, 15))));
    v.push((Direction::ServerToClient, pkt(w, 6, &reply(16, 0, 3, ""))));
    v.push((Direction::ClientToServer, pkt(w, 6, &fetch(4, 3, 15))));
    v.push((
        Direction::ServerToClient,
        pkt(w, 6, &reply(20, 1403, 3, "ORA-01403: no data found\n")),
    ));
    v.push((
        Direction::ClientToServer,
        pkt(w, 6, &oall8(5, "select * from nope")),
    ));
    v.push((Direction::ServerToClient, pkt(w, 12, &[1, 0, 1])));
    v.push((Direction::ClientToServer, pkt(w, 12, &[1, 0, 2])));
    v.push((Direction::ServerToClient, pkt(w, 12, &[1, 0, 2])));
    v.push((
        Direction::ServerToClient,
        pkt(
            w,
            6,
            &reply(0, 942, 4, "ORA-00942: table or view does not exist\n"),
        ),
    ));
    v
}

type Summary = Vec<(String, String, Status, serde_json::Value, serde_json::Value)>;

/// Feed the conversation, each packet cut at the given points (modulo its length).
fn feed(conv: &[(Direction, Vec<u8>)], cuts: &[usize], limit: Option<usize>) -> Summary {
    let mut s = TnsSession::new(&conn(), TnsConfig::default());
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0u64;
    let mut fed = 0usize;
    let mut k = 0usize;
    'outer: for (dir, p) in conv {
        let mut at = 0;
        while at < p.len() {
            let cut = cuts.get(k).map_or(p.len(), |c| 1 + c % p.len());
            k += 1;
            let mut end = (at + cut).min(p.len());
            if let Some(l) = limit {
                if fed + (end - at) >= l {
                    end = at + (l - fed);
                }
            }
            t += 10;
            s.on_data(
                &StreamChunk {
                    dir: *dir,
                    ts: Timestamp(t),
                    data: &p[at..end],
                    held: Default::default(),
                },
                &mut out as &mut dyn EventSink,
            );
            fed += end - at;
            at = end;
            assert!(s.buffered_bytes() <= 400 * 1024, "{}", s.buffered_bytes());
            if limit.is_some_and(|l| fed >= l) {
                break 'outer;
            }
        }
    }
    s.on_close(
        Timestamp(t + 1),
        CloseReason::Fin,
        &mut out as &mut dyn EventSink,
    );
    out.iter()
        .filter_map(|e| match e {
            SessionEvent::Transaction(t) => Some((
                t.command.clone(),
                t.query.clone(),
                t.status,
                t.request_value(),
                t.response_value(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn every_version_decodes() {
    for version in [308u16, 310, 313, 314, 315, 319] {
        for long in [false, true] {
            let r = feed(&conversation(version, long), &[], None);
            let cmds: Vec<(&str, Status)> = r.iter().map(|x| (x.0.as_str(), x.2)).collect();
            assert_eq!(
                cmds,
                vec![
                    ("CONNECT", Status::Ok),
                    ("EXECUTE", Status::Ok),
                    ("FETCH", Status::Ok),
                    ("FETCH", Status::Ok),
                    ("EXECUTE", Status::Error),
                ],
                "version {version}"
            );
            assert_eq!(r[0].3["connect"]["version"], version);
            assert_eq!(r[0].3["connect_data"]["service_name"], "svc");
            assert_eq!(r[0].4["accept"]["version"], version);
            assert!(r[1].1.starts_with("select "), "{version}");
            assert_eq!(r[1].1.len(), if long { 9017 } else { 29 });
            assert_eq!(r[1].4["rows"], 1);
            assert_eq!(r[1].4["cursor"], 3);
            assert_eq!(r[2].1, r[1].1, "FETCH takes its SQL from the cursor map");
            assert_eq!(r[2].4["rows"], 15);
            assert_eq!(r[3].4["rows"], 4);
            assert_eq!(r[3].4["ora_code"], 1403);
            assert_eq!(r[4].4["ora_code"], 942);
            assert_eq!(
                r[4].4["markers"],
                serde_json::json!(["BREAK", "RESET", "RESET"])
            );
        }
    }
}

#[test]
fn every_prefix_is_handled() {
    let conv = conversation(315, true);
    let total: usize = conv.iter().map(|(_, p)| p.len()).sum();
    let full = feed(&conv, &[], None).len();
    for l in (0..total).step_by(97) {
        let r = feed(&conv, &[], Some(l));
        assert!(r.len() <= full, "prefix {l}: {} > {full}", r.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_segmentation_gives_the_same_transactions(
        cuts in proptest::collection::vec(0usize..5000, 0..200),
        version in prop_oneof![Just(310u16), Just(314), Just(315), Just(319)],
    ) {
        let conv = conversation(version, true);
        let whole = feed(&conv, &[], None);
        let split = feed(&conv, &cuts, None);
        prop_assert_eq!(whole, split);
    }
}

#[test]
fn a_gap_loses_one_call_and_the_framing_recovers() {
    let conv = conversation(315, true);
    let mut s = TnsSession::new(&conn(), TnsConfig::default());
    let mut out: Vec<SessionEvent> = Vec::new();
    let mut t = 0u64;
    for (k, (dir, p)) in conv.iter().enumerate() {
        t += 10;
        if k == 3 {
            // Lose the middle of the second DATA packet of the long call: its first 100 bytes
            // arrive, then a hole, then the segment that starts the next packet.
            let chunk = StreamChunk {
                dir: *dir,
                ts: Timestamp(t),
                data: &p[..100],
                held: Default::default(),
            };
            s.on_data(&chunk, &mut out as &mut dyn EventSink);
            let gap = GapInfo {
                dir: *dir,
                ts: Timestamp(t),
                len: Some((p.len() - 100) as u64),
            };
            s.on_gap(&gap, &mut out as &mut dyn EventSink);
            continue;
        }
        s.on_data(
            &StreamChunk {
                dir: *dir,
                ts: Timestamp(t),
                data: p,
                held: Default::default(),
            },
            &mut out as &mut dyn EventSink,
        );
    }
    s.on_close(
        Timestamp(t + 1),
        CloseReason::Fin,
        &mut out as &mut dyn EventSink,
    );
    let txs: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Transaction(t) => Some(t),
            _ => None,
        })
        .collect();
    let cmds: Vec<(&str, Status)> = txs.iter().map(|t| (t.command.as_str(), t.status)).collect();
    // The long EXECUTE lost bytes: partial (its reply still says rows 1), no SQL guessed from
    // the cut string; the fetches and the failing EXECUTE after it decode as usual.
    assert_eq!(cmds[0], ("CONNECT", Status::Ok));
    assert_eq!(cmds[1].0, "EXECUTE");
    assert_eq!(cmds[1].1, Status::Partial);
    assert!(txs[1].query.is_empty() || txs[1].query.starts_with("select "));
    assert!(txs[1]
        .notes
        .iter()
        .any(|n| matches!(n, wiresift::core::Note::Gap { .. })));
    assert_eq!(
        &cmds[2..],
        &[
            ("FETCH", Status::Ok),
            ("FETCH", Status::Ok),
            ("EXECUTE", Status::Error)
        ]
    );
    assert_eq!(txs[4].response_value()["ora_code"], 942);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Accounting under loss: with random chunking and random chunks lost (declared as gaps),
    /// every delivered byte is in a transaction or counted (skipped, OOB, unattributed).
    #[test]
    fn every_delivered_byte_is_accounted_for_under_loss(
        cuts in proptest::collection::vec(1usize..3000, 1..120),
        lost in proptest::collection::vec(any::<bool>(), 1..120),
        version in prop_oneof![Just(310u16), Just(314), Just(315), Just(319)],
    ) {
        let conv = conversation(version, true);
        let mut s = TnsSession::new(&conn(), TnsConfig::default());
        let mut out: Vec<SessionEvent> = Vec::new();
        let (mut fed, mut t, mut k) = (0u64, 0u64, 0usize);
        for (dir, p) in &conv {
            let mut at = 0;
            while at < p.len() {
                let end = (at + cuts[k % cuts.len()]).min(p.len());
                // Lose about one chunk in eight, never the first one (the CONNECT).
                let lose = k > 0 && lost[k % lost.len()] && k % 8 == 3;
                k += 1;
                t += 10;
                if lose {
                    let gap = GapInfo { dir: *dir, ts: Timestamp(t), len: Some((end - at) as u64) };
                    s.on_gap(&gap, &mut out as &mut dyn EventSink);
                } else {
                    let chunk = StreamChunk {
                        dir: *dir,
                        ts: Timestamp(t),
                        data: &p[at..end],
                        held: Default::default(),
                    };
                    s.on_data(&chunk, &mut out as &mut dyn EventSink);
                    fed += (end - at) as u64;
                }
                at = end;
            }
        }
        s.on_close(Timestamp(t + 1), CloseReason::Fin, &mut out as &mut dyn EventSink);
        let tx: u64 = out
            .iter()
            .map(|e| match e {
                SessionEvent::Transaction(t) => t.request_bytes + t.response_bytes,
                _ => 0,
            })
            .sum();
        let c = s.counters();
        let counted = c.skipped_bytes[0] + c.skipped_bytes[1] + c.oob_bytes
            + c.unattributed_bytes + c.encrypted_bytes;
        prop_assert_eq!(tx + counted, fed);
    }
}
