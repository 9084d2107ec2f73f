//! `MysqlSession` fed directly with the reassembled streams of real captures (plain,
//! compressed, prepared, every parameter type): a segmentation proptest (random chunking of both
//! directions gives the same events as the capture's own segmentation) and a prefix test (a
//! session cut at any byte reports no anomaly, and what it emitted before the cut is a prefix of
//! the full run's transactions). Also the accounting: every delivered byte is parsed or counted.

use proptest::prelude::*;
use std::path::Path;
use wiresift::core::{
    CloseReason, ConnectionInfo, Direction, Duration, ProtocolSession, SessionEvent, StreamChunk,
    Timestamp,
};
use wiresift::mysql::{Config, MysqlSession};
use wiresift::net::CaptureReader;
use wiresift::{ConnectionSummary, Engine, EngineConfig, Output};

type Chunks = Vec<(Direction, Timestamp, Vec<u8>)>;

#[derive(Default)]
struct Streams {
    data: std::collections::BTreeMap<u64, Chunks>,
    infos: Vec<ConnectionInfo>,
}

impl Output for Streams {
    fn data(&mut self, conn: wiresift::core::ConnectionId, chunk: &StreamChunk<'_>) {
        self.data
            .entry(conn.0)
            .or_default()
            .push((chunk.dir, chunk.ts, chunk.data.to_vec()));
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        self.infos.push(*c.info);
    }
}

/// The first connection of a capture: its info and its in-order chunks.
fn stream(name: &str) -> Option<(ConnectionInfo, Chunks)> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/mysql")
        .join(name);
    if !p.exists() {
        return None;
    }
    let mut e = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Streams::default(),
    );
    e.run(&mut CaptureReader::open(&p).unwrap(), |_| {})
        .unwrap();
    let s = e.into_output();
    let info = s.infos[0];
    let chunks = s.data.get(&info.id.0).cloned().unwrap_or_default();
    Some((info, chunks))
}

fn replay(
    info: &ConnectionInfo,
    chunks: &[(Direction, Timestamp, &[u8])],
    close: bool,
) -> Vec<String> {
    let mut s = MysqlSession::new(info, Config::default());
    let mut out: Vec<SessionEvent> = Vec::new();
    for (dir, ts, data) in chunks {
        let c = StreamChunk {
            dir: *dir,
            ts: *ts,
            data,
            held: Duration(0),
        };
        s.on_data(&c, &mut out);
    }
    if close {
        let end = chunks.last().map_or(Timestamp(0), |c| c.1);
        s.on_close(end, CloseReason::Fin, &mut out);
        let acc = s.accounting();
        let delivered: usize = chunks.iter().map(|c| c.2.len()).sum();
        assert_eq!(
            acc[0].0 + acc[1].0,
            delivered as u64,
            "every delivered byte counted"
        );
    }
    out.iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect()
}

fn as_refs(c: &Chunks) -> Vec<(Direction, Timestamp, &[u8])> {
    c.iter().map(|(d, t, b)| (*d, *t, b.as_slice())).collect()
}

/// Re-chunk: the same bytes and direction order, each chunk cut at the given fractions.
fn rechunk<'a>(c: &'a Chunks, cuts: &[u16]) -> Vec<(Direction, Timestamp, &'a [u8])> {
    let mut out = Vec::new();
    for (i, (d, t, b)) in c.iter().enumerate() {
        let k = cuts.get(i % cuts.len().max(1)).copied().unwrap_or(0) as usize;
        let mut at = 0;
        let step = if k == 0 { b.len().max(1) } else { 1 + k % 97 };
        while at < b.len() {
            let end = (at + step).min(b.len());
            out.push((*d, *t, &b[at..end]));
            at = end;
        }
    }
    out
}

const CAPTURES: [&str; 5] = [
    "text.pcap",
    "text-compress.pcap",
    "prepared.pcap",
    "raw-types.pcap",
    "infile.pcap",
];

#[test]
fn every_strict_prefix_is_quiet() {
    for name in CAPTURES {
        let Some((info, chunks)) = stream(name) else {
            return;
        };
        let full = replay(&info, &as_refs(&chunks), true);
        assert!(full.iter().all(|e| !e.contains("\"anomaly\"")), "{name}");
        let total: usize = chunks.iter().map(|c| c.2.len()).sum();
        // Every byte of the small captures, every 13th of the larger ones.
        let stride = if total > 5_000 { 13 } else { 1 };
        let mut cut = 0;
        while cut < total {
            let mut left = cut;
            let mut part = Vec::new();
            for (d, t, b) in &chunks {
                if left == 0 {
                    break;
                }
                let n = left.min(b.len());
                part.push((*d, *t, &b[..n]));
                left -= n;
            }
            let got = replay(&info, &part, false);
            assert!(
                got.iter().all(|e| !e.contains("\"anomaly\"")),
                "{name} cut {cut}: {got:?}"
            );
            assert!(
                got.len() <= full.len() && got[..] == full[..got.len()],
                "{name} cut {cut}"
            );
            cut += stride;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn any_segmentation_gives_the_same_events(cuts in proptest::collection::vec(0u16..400, 1..16), which in 0usize..CAPTURES.len()) {
        let Some((info, chunks)) = stream(CAPTURES[which]) else { return Ok(()) };
        let want = replay(&info, &as_refs(&chunks), true);
        let got = replay(&info, &rechunk(&chunks, &cuts), true);
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    /// A chunk lost in either direction: no panic, every byte accounted for, and the session is
    /// back in step for the last transactions of the connection.
    #[test]
    fn a_gap_anywhere_recovers(lost in 0usize..1000, which in 0usize..CAPTURES.len()) {
        use wiresift::core::GapInfo;
        let Some((info, chunks)) = stream(CAPTURES[which]) else { return Ok(()) };
        let want = replay(&info, &as_refs(&chunks), true);
        let lost = 4 + lost % chunks.len().saturating_sub(8).max(1);
        let mut s = MysqlSession::new(&info, Config::default());
        let mut out: Vec<SessionEvent> = Vec::new();
        for (i, (dir, ts, data)) in chunks.iter().enumerate() {
            if i == lost {
                s.on_gap(&GapInfo { dir: *dir, ts: *ts, len: Some(data.len() as u64) }, &mut out);
                continue;
            }
            s.on_data(&StreamChunk { dir: *dir, ts: *ts, data, held: Duration(0) }, &mut out);
        }
        s.on_close(chunks.last().unwrap().1, CloseReason::Fin, &mut out);
        let got: Vec<String> = out.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let txs = |v: &[String]| v.iter().filter(|e| e.contains("\"transaction\"")).cloned().collect::<Vec<_>>();
        let (w, g) = (txs(&want), txs(&got));
        prop_assert!(g.len() + 3 >= w.len() && g.len() <= w.len() + 3, "{} vs {}", g.len(), w.len());
        if lost + 4 < chunks.len() {
            prop_assert_eq!(&g[g.len() - 1..], &w[w.len() - 1..]);
        }
    }
}
