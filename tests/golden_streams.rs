//! Reassembled stream bytes must equal tshark's `follow,tcp,raw` output, byte for byte, for every
//! connection of every capture that has golden files under `testdata/golden/<group>/<stem>/`
//! (made by `testdata/gen/golden.sh`; see testdata/README.md for the exact tshark command).
//! Captures include real loss (receiver- and sender-side), mid-stream pickup, port reuse, RST,
//! IPv6 and Redis traffic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wiresift::core::{ConnectionId, Registry, StreamChunk};
use wiresift::net::CaptureReader;
use wiresift::{ConnectionSummary, Engine, EngineConfig, Output};

#[derive(Default)]
struct Collect {
    data: HashMap<ConnectionId, [Vec<u8>; 2]>,
    closed: Vec<(ConnectionId, String, String, u64)>, // id, client, server, gap_bytes
}

impl Output for Collect {
    fn data(&mut self, conn: ConnectionId, chunk: &StreamChunk<'_>) {
        self.data.entry(conn).or_default()[chunk.dir.index()].extend_from_slice(chunk.data);
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
    c2s: Vec<u8>,
    s2c: Vec<u8>,
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
            Stream {
                client: f[ci].to_string(),
                server: f[si].to_string(),
                c2s: std::fs::read(dir.join(format!("{n}.c2s"))).unwrap_or_default(),
                s2c: std::fs::read(dir.join(format!("{n}.s2c"))).unwrap_or_default(),
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
                assert!(
                    d[0] == w.c2s,
                    "{group}/{stem} stream {i} c2s: ours {} bytes, tshark {} bytes, first difference at {:?}",
                    d[0].len(),
                    w.c2s.len(),
                    d[0].iter().zip(&w.c2s).position(|(a, b)| a != b)
                );
                assert!(
                    d[1] == w.s2c,
                    "{group}/{stem} stream {i} s2c: ours {} bytes, tshark {} bytes, first difference at {:?}",
                    d[1].len(),
                    w.s2c.len(),
                    d[1].iter().zip(&w.s2c).position(|(a, b)| a != b)
                );
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
        checked_captures >= 5,
        "only {checked_captures} golden captures found"
    );
    eprintln!("checked {checked_streams} streams in {checked_captures} captures");
}
