//! The multi-threaded engine gives the same output as one thread, and several files read as one
//! capture give the same output as the single file they were cut from.
//!
//! - Every committed capture (RESP, SMTP, MySQL, CQL, TNS, plain TCP) and
//!   every public capture in `../shared/pcaps`, with 1, 2, 3 and 8 threads: the `dissect` NDJSON
//!   (with messages and anomalies), the `flows` NDJSON and the latency report are byte-identical,
//!   and so is the summary except its two peak gauges.
//! - The same with timeouts shortened so that idle and hole timeouts fire all through the
//!   captures (the merge of timed events across workers is what this exercises).
//! - `editcap -c` rotation (`testdata/merge/rotated/`) read as one capture equals the original
//!   file, byte for byte, at every thread count; two overlapping captures
//!   (`testdata/merge/hosts/`) equal mergecap's chronological merge of them.
//! - A damaged or unreadable file among several is reported by name and the others are read.

use std::path::{Path, PathBuf};
use wiresift::core::Duration;
use wiresift::latency::LatencyReport;
use wiresift::net::{CaptureReader, MergedReader, PacketSource};
use wiresift::output::{FlowsOutput, NdjsonOptions, NdjsonOutput};
use wiresift::{Engine, EngineConfig, RunSummary};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            captures(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        ) {
            out.push(p);
        }
    }
}

fn source(paths: &[PathBuf]) -> Option<Box<dyn PacketSource>> {
    if paths.len() == 1 && !paths[0].is_dir() {
        CaptureReader::open(&paths[0])
            .ok()
            .map(|r| Box::new(r) as Box<dyn PacketSource>)
    } else {
        MergedReader::open(paths)
            .ok()
            .map(|r| Box::new(r) as Box<dyn PacketSource>)
    }
}

struct Run {
    dissect: Vec<u8>,
    flows: Vec<u8>,
    latency: String,
    summary: serde_json::Value,
}

/// The summary without the gauges that differ between thread counts.
fn comparable(s: &RunSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    let r = v["reassembly"].as_object_mut().unwrap();
    r.remove("peak_connections");
    r.remove("peak_buffered_bytes");
    v["dissect"]
        .as_object_mut()
        .unwrap()
        .remove("peak_session_bytes");
    v
}

fn run(paths: &[PathBuf], threads: usize, cfg: &EngineConfig) -> Option<Run> {
    let opts = NdjsonOptions {
        events: true,
        ..NdjsonOptions::default()
    };
    let mut src = source(paths)?;
    let mut e = Engine::new(
        cfg.clone(),
        wiresift::default_registry(),
        NdjsonOutput::new(Vec::new(), opts),
    );
    let _ = e.run_threads(threads, &mut *src, |_| {});
    let summary = comparable(&e.summary());
    let dissect = e.into_output().finish().unwrap();

    let mut src = source(paths)?;
    let mut e = Engine::new(
        cfg.clone(),
        wiresift::core::Registry::new(),
        FlowsOutput::new(Vec::new(), None, false),
    );
    let _ = e.run_threads(threads, &mut *src, |_| {});
    let flows = e.into_output().finish().unwrap().0;

    let mut src = source(paths)?;
    let mut e = Engine::new(
        cfg.clone(),
        wiresift::default_registry(),
        LatencyReport::default(),
    );
    let _ = e.run_threads(threads, &mut *src, |_| {});
    let latency = e.into_output().render_text();
    Some(Run {
        dissect,
        flows,
        latency,
        summary,
    })
}

fn assert_same(name: &str, a: &Run, b: &Run, what: &str) {
    assert!(
        a.dissect == b.dissect,
        "{name}: dissect output differs ({what})"
    );
    assert!(a.flows == b.flows, "{name}: flows output differs ({what})");
    assert_eq!(
        a.latency, b.latency,
        "{name}: latency report differs ({what})"
    );
    assert_eq!(a.summary, b.summary, "{name}: summary differs ({what})");
}

fn committed() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in [
        "testdata/resp",
        "testdata/smtp",
        "testdata/tcp",
        "testdata/mysql",
        "testdata/cql",
        "testdata/tns",
        "testdata/tunnel",
    ] {
        captures(&root().join(d), &mut v);
    }
    v
}

fn check_thread_counts(files: &[PathBuf], cfg: &EngineConfig, label: &str) -> (usize, u64) {
    let (mut n, mut txs) = (0, 0);
    for f in files {
        let one = [f.clone()];
        let Some(base) = run(&one, 1, cfg) else {
            continue;
        };
        txs += base.summary["dissect"]["transactions"]
            .as_u64()
            .unwrap_or(0);
        for t in [2, 3, 8] {
            let r = run(&one, t, cfg).unwrap();
            assert_same(
                &f.display().to_string(),
                &base,
                &r,
                &format!("{label}, {t} threads"),
            );
        }
        n += 1;
    }
    (n, txs)
}

#[test]
fn thread_counts_give_identical_output_on_committed_captures() {
    let (n, txs) = check_thread_counts(&committed(), &EngineConfig::default(), "defaults");
    assert!(n >= 30, "only {n} captures");
    assert!(txs > 10_000, "only {txs} transactions compared");
}

#[test]
fn thread_counts_give_identical_output_with_timeouts_firing_everywhere() {
    // 2 ms idle and 20 µs hole timeouts: connections close and holes become gaps all through
    // the captures, in every worker, between other workers' packets.
    let mut cfg = EngineConfig::default();
    cfg.reassembly.idle_timeout = Duration(2_000_000);
    cfg.reassembly.hole_timeout = Duration(20_000);
    // Request timers too: 300 µs of capture time without a reply.
    cfg.request_timeout = Some(Duration(300_000));
    let files = committed();
    let (n, _) = check_thread_counts(&files, &cfg, "short timeouts");
    assert!(n >= 30);
    // The timeouts really fired, in captures with several connections.
    let (mut idle, mut holes, mut timed_out) = (0, 0, 0);
    for f in &files {
        if let Some(r) = run(std::slice::from_ref(f), 1, &cfg) {
            idle += r.summary["reassembly"]["closed"]["idle_timeout"]
                .as_u64()
                .unwrap();
            holes += r.summary["reassembly"]["gaps_by_reason"]["hole_timeout"]
                .as_u64()
                .unwrap();
            timed_out += r.summary["dissect"]["requests_timed_out"].as_u64().unwrap();
        }
    }
    assert!(idle > 100, "{idle} idle timeouts");
    assert!(holes > 0, "{holes} hole timeouts");
    assert!(timed_out > 100, "{timed_out} request timeouts");
}

#[test]
fn thread_counts_give_identical_output_on_public_captures() {
    let shared = root().join("../shared/pcaps");
    if !shared.is_dir() {
        eprintln!("../shared/pcaps not present: skipped");
        return;
    }
    let mut files = Vec::new();
    captures(&shared, &mut files);
    let (n, _) = check_thread_counts(&files, &EngineConfig::default(), "public");
    assert!(n > 200, "only {n} public captures");
}

#[test]
fn rotated_files_read_as_one_capture_equal_the_original() {
    let mut parts = Vec::new();
    captures(&root().join("testdata/merge/rotated"), &mut parts);
    assert!(parts.len() >= 4, "{parts:?}");
    let original = [root().join("testdata/resp/lossy.pcap")];
    let cfg = EngineConfig::default();
    let base = run(&original, 1, &cfg).unwrap();
    for t in [1, 2, 3] {
        let merged = run(&parts, t, &cfg).unwrap();
        // Capture bytes differ (four file headers), nothing else.
        let mut a = base.summary.clone();
        let mut b = merged.summary.clone();
        a["capture_bytes"] = 0.into();
        b["capture_bytes"] = 0.into();
        let (a, b) = (
            Run {
                summary: a,
                ..run(&original, 1, &cfg).unwrap()
            },
            Run {
                summary: b,
                ..merged
            },
        );
        assert_same("rotated", &a, &b, &format!("{t} threads"));
    }
    // The directory stands for its files.
    let dir = [root().join("testdata/merge/rotated")];
    let d = run(&dir, 2, &cfg).unwrap();
    assert!(d.dissect == base.dissect);
    assert!(base.summary["dissect"]["transactions"].as_u64().unwrap() > 1000);
}

#[test]
fn overlapping_captures_merge_in_time_order() {
    let hosts = [
        root().join("testdata/merge/hosts/a.pcap"),
        root().join("testdata/merge/hosts/b.pcap"),
    ];
    let reference = [root().join("testdata/merge/hosts-merged.pcap")];
    let cfg = EngineConfig::default();
    let want = run(&reference, 1, &cfg).unwrap();
    for t in [1, 2] {
        let got = run(&hosts, t, &cfg).unwrap();
        assert!(got.dissect == want.dissect, "{t} threads");
        assert!(got.flows == want.flows);
        assert_eq!(got.latency, want.latency);
    }
    // Both protocols are there, interleaved.
    let text = String::from_utf8(want.dissect).unwrap();
    let protos: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.contains("\"protocol\":\"smtp\"") {
                "smtp"
            } else {
                "resp"
            }
        })
        .collect();
    let switches = protos.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 2, "not interleaved: {switches}");
}

#[test]
fn a_damaged_file_among_several_is_reported_and_the_others_are_read() {
    let dir = std::env::temp_dir().join(format!("wiresift-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = root().join("testdata/resp/pipeline.pcap");
    let bytes = std::fs::read(root().join("testdata/smtp/pipelining.pcap")).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture").unwrap();
    let paths = vec![good.clone(), cut.clone(), junk.clone()];
    let mut m = MergedReader::open(&paths).unwrap();
    let mut e = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        NdjsonOutput::new(Vec::new(), NdjsonOptions::default()),
    );
    e.run_threads(2, &mut m, |_| {}).unwrap();
    let s = e.summary();
    let err = s.capture_error.clone().expect("damage is reported");
    assert!(err.contains("junk.pcap"), "{err}");
    assert!(err.contains("cut.pcap"), "{err}");
    assert!(err.contains("offset"), "{err}");
    assert!(!err.contains("pipeline.pcap"), "{err}");
    // The whole good file and the cut file up to the damage were dissected.
    let alone = run(&[good], 1, &EngineConfig::default()).unwrap();
    let alone_tx = alone.summary["dissect"]["transactions"].as_u64().unwrap();
    assert!(
        s.dissect.transactions > alone_tx,
        "{} vs {alone_tx}",
        s.dissect.transactions
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn thread_counts_give_identical_output_on_a_generated_capture() {
    // 500 interleaved RESP connections, 1.5 MB: many connections per worker, every batch mixes
    // them.
    let dir = std::env::temp_dir().join(format!("wiresift-synth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("synth.pcap");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let cfg = wiresift::synth::SynthConfig {
        connections: 500,
        target_bytes: 3 << 19,
        value_size: 200,
        mss: 1448,
    };
    wiresift::synth::write_pcap(&mut f, &cfg).unwrap();
    drop(f);
    let one = [path];
    let base = run(&one, 1, &EngineConfig::default()).unwrap();
    assert!(base.summary["dissect"]["transactions"].as_u64().unwrap() > 2_000);
    assert_eq!(
        base.summary["reassembly"]["connections_opened"].as_u64(),
        Some(500)
    );
    for t in [2, 3, 8] {
        let r = run(&one, t, &EngineConfig::default()).unwrap();
        assert_same("synth", &base, &r, &format!("{t} threads"));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn connection_ids_are_the_frame_number_of_the_first_packet() {
    // Wireshark numbers frames from 1: `frame.number == id` finds the connection's first packet.
    let mut checked = 0;
    for f in committed() {
        let mut ts = Vec::new();
        let mut r = CaptureReader::open(&f).unwrap();
        while let Ok(Some(p)) = r.next_packet() {
            ts.push(p.ts);
        }
        let run = run(std::slice::from_ref(&f), 2, &EngineConfig::default()).unwrap();
        for line in String::from_utf8(run.flows).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = v["id"].as_u64().unwrap() as usize;
            let start: serde_json::Value = serde_json::to_value(ts[id - 1]).unwrap();
            assert_eq!(v["start"], start, "{}: connection {id}", f.display());
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}
