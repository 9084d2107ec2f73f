//! Reassembled stream bytes must equal tshark's `follow,tcp,raw` output, byte for byte, for every
//! connection of every capture that has golden files under `testdata/golden/<group>/<stem>/`
//! (made by `testdata/gen/golden.sh`; see testdata/README.md for the exact tshark command).
//! Captures include real loss (receiver- and sender-side), mid-stream pickup, port reuse, RST,
//! IPv6 and Redis traffic.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wiresift::core::{ConnectionId, Direction, GapInfo, Registry, StreamChunk};
use wiresift::net::CaptureReader;
use wiresift::{ConnectionSummary, Engine, EngineConfig, Output};

#[derive(Default)]
struct Collect {
    data: HashMap<ConnectionId, [Vec<u8>; 2]>,
    /// (direction, offset in the delivered stream, length)
    gaps: HashMap<ConnectionId, Vec<(Direction, u64, Option<u64>)>>,
    closed: Vec<(ConnectionId, String, String, u64)>, // id, client, server, gap_bytes
}

impl Output for Collect {
    fn data(&mut self, conn: ConnectionId, chunk: &StreamChunk<'_>) {
        self.data.entry(conn).or_default()[chunk.dir.index()].extend_from_slice(chunk.data);
    }
    fn gap(&mut self, conn: ConnectionId, gap: &GapInfo) {
        let off = self
            .data
            .get(&conn)
            .map_or(0, |d| d[gap.dir.index()].len() as u64);
        self.gaps
            .entry(conn)
            .or_default()
            .push((gap.dir, off, gap.len));
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        self.closed.push((
            c.info.id,
            c.info.client.to_string(),
            c.info.server.to_string(),
            c.stats.gap_bytes,
        ));
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn capture_for(group: &str, stem: &str) -> Option<PathBuf> {
    ["pcap", "pcapng"]
        .iter()
        .map(|e| root().join(format!("testdata/{group}/{stem}.{e}")))
        .find(|p| p.exists())
}

struct Stream {
    client: String,
    server: String,
    /// The bytes, or (for streams over 512 KiB) only their SHA-256.
    c2s: Golden,
    s2c: Golden,
    gaps: Vec<(Direction, u64, Option<u64>)>,
}

enum Golden {
    Bytes(Vec<u8>),
    Sha256(String),
}

impl Golden {
    fn load(dir: &Path, n: &str, d: &str) -> Golden {
        let p = dir.join(format!("{n}.{d}"));
        if let Ok(b) = std::fs::read(&p) {
            return Golden::Bytes(b);
        }
        let h = std::fs::read_to_string(dir.join(format!("{n}.{d}.sha256")))
            .unwrap_or_else(|_| panic!("{} has neither bytes nor .sha256", p.display()));
        Golden::Sha256(h.split_whitespace().next().unwrap_or("").to_lowercase())
    }

    fn check(&self, ours: &[u8], what: &str) {
        match self {
            Golden::Bytes(want) => assert!(
                ours == want.as_slice(),
                "{what}: ours {} bytes, tshark {} bytes, first difference at {:?}",
                ours.len(),
                want.len(),
                ours.iter().zip(want).position(|(a, b)| a != b)
            ),
            Golden::Sha256(want) => {
                let got: String = Sha256::digest(ours)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(
                    &got,
                    want,
                    "{what}: sha256 of our {} bytes differs",
                    ours.len()
                );
            }
        }
    }
}

fn read_gaps(meta: &str) -> Vec<(Direction, u64, Option<u64>)> {
    meta.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 4 || f[0] != "gap" {
                return None;
            }
            let dir = if f[1] == "c2s" {
                Direction::ClientToServer
            } else {
                Direction::ServerToClient
            };
            Some((dir, f[2].parse().ok()?, f[3].parse().ok()))
        })
        .collect()
}

fn read_golden(dir: &Path) -> Vec<Stream> {
    let index = std::fs::read_to_string(dir.join("index.tsv")).expect("index.tsv");
    let mut lines = index.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (ci, si, ni) = (col("client"), col("server"), col("stream"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = f[ni];
            let meta = std::fs::read_to_string(dir.join(format!("{n}.meta"))).unwrap_or_default();
            Stream {
                client: f[ci].to_string(),
                server: f[si].to_string(),
                c2s: Golden::load(dir, n, "c2s"),
                s2c: Golden::load(dir, n, "s2c"),
                gaps: read_gaps(&meta),
            }
        })
        .collect()
}

fn run(path: &Path) -> Collect {
    let mut reader = CaptureReader::open(path).expect("capture opens");
    let mut engine = Engine::new(EngineConfig::default(), Registry::new(), Collect::default());
    engine
        .run(&mut reader, |_| {})
        .expect("capture reads to the end");
    let s = engine.summary();
    assert!(
        s.decode.accounted(),
        "{}: every packet accounted",
        path.display()
    );
    engine.into_output()
}

#[test]
fn reassembled_bytes_equal_tshark_follow() {
    let golden = root().join("testdata/golden");
    let mut checked_streams = 0;
    let mut checked_captures = 0;
    let mut checked_gaps = 0;
    let mut groups: Vec<_> = std::fs::read_dir(&golden)
        .expect("testdata/golden")
        .flatten()
        .collect();
    groups.sort_by_key(|e| e.path());
    for g in groups {
        let group = g.file_name().to_string_lossy().to_string();
        let mut stems: Vec<_> = std::fs::read_dir(g.path()).unwrap().flatten().collect();
        stems.sort_by_key(|e| e.path());
        for s in stems {
            let stem = s.file_name().to_string_lossy().to_string();
            if !s.path().join("index.tsv").exists() {
                continue;
            }
            let cap = capture_for(&group, &stem)
                .unwrap_or_else(|| panic!("golden {group}/{stem} has no capture"));
            let want = read_golden(&s.path());
            let got = run(&cap);
            // Connections in order of first packet, as tshark numbers its streams; match by
            // endpoints and ordinal among connections with the same endpoints (port reuse).
            let mut ours: Vec<_> = got.closed.clone();
            ours.sort_by_key(|c| c.0);
            let mut used = vec![false; ours.len()];
            for (i, w) in want.iter().enumerate() {
                let j = ours
                    .iter()
                    .enumerate()
                    .position(|(j, c)| !used[j] && c.1 == w.client && c.2 == w.server)
                    .unwrap_or_else(|| {
                        panic!(
                            "{group}/{stem} stream {i}: no connection {} -> {} (ours: {:?})",
                            w.client, w.server, ours
                        )
                    });
                used[j] = true;
                let empty = [Vec::new(), Vec::new()];
                let d = got.data.get(&ours[j].0).unwrap_or(&empty);
                w.c2s
                    .check(&d[0], &format!("{group}/{stem} stream {i} c2s"));
                w.s2c
                    .check(&d[1], &format!("{group}/{stem} stream {i} s2c"));
                let gaps = got.gaps.get(&ours[j].0).cloned().unwrap_or_default();
                assert_eq!(
                    gaps, w.gaps,
                    "{group}/{stem} stream {i}: gaps (dir, offset, len)"
                );
                checked_gaps += gaps.len();
                checked_streams += 1;
            }
            // Any extra connection of ours must carry no data (e.g. a stray ACK after close).
            for (j, c) in ours.iter().enumerate() {
                if !used[j] {
                    let d = got.data.get(&c.0);
                    assert!(
                        d.is_none_or(|d| d[0].is_empty() && d[1].is_empty()),
                        "{group}/{stem}: extra connection with data {:?}",
                        c
                    );
                }
            }
            checked_captures += 1;
        }
    }
    assert!(
        checked_captures >= 30,
        "only {checked_captures} golden captures found"
    );
    assert!(checked_gaps >= 1, "no gap was checked against tshark");
    eprintln!(
        "checked {checked_streams} streams and {checked_gaps} gaps in {checked_captures} captures"
    );
}
