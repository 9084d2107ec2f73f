//! Decode + reassembly throughput (criterion, `Throughput::Bytes` of capture file).
//!
//! - `synthetic_64MiB`: a 64 MiB in-order Ethernet/IPv4/TCP capture from `wiresift::synth`
//!   (64 interleaved connections, 1448-byte segments), read from memory: decode + reassembly
//!   only (no plugins), and the same with the RESP plugin dissecting (`+dissect`); and reading
//!   plus link/IP/TCP decoding alone (`read+decode`: the multi-threaded engine's reader thread
//!   does this, so it bounds how far workers can scale).
//! - every capture under `testdata/resp/` and `testdata/tcp/` (small, real traffic).
//! - `output`: the NDJSON output path alone, over the transactions of an 8 MiB synthetic RESP
//!   capture (`Throughput::Elements`: transactions): typed detail written in place
//!   (`Transaction::write_json`, what `dissect` does) against building a `serde_json::Value`
//!   tree per transaction and writing that (what the engine did before typed detail).
//! - `threads`: `+dissect` with the NDJSON output to a sink, with 1 and 2 worker threads.
//!
//! `cargo bench --bench pipeline` (add `-- --warm-up-time 1 --measurement-time 5` to shorten).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::Cursor;
use std::sync::Arc;
use wiresift::core::Registry;
use wiresift::core::{OwnedTransaction, Transaction};
use wiresift::net::CaptureReader;
use wiresift::output::{NdjsonOptions, NdjsonOutput};
use wiresift::synth::{write_pcap, SynthConfig};
use wiresift::{Discard, Engine, EngineConfig, Output};

fn run(bytes: &Arc<[u8]>, registry: &Registry) -> u64 {
    let mut reader =
        CaptureReader::from_read(Box::new(Cursor::new(bytes.clone()))).expect("valid capture");
    let mut engine = Engine::new(EngineConfig::default(), registry.clone(), Discard);
    engine
        .run(&mut reader, |_| {})
        .expect("capture reads to its end");
    engine.summary().decode.packets
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    let mut buf = Vec::new();
    write_pcap(
        &mut buf,
        &SynthConfig {
            target_bytes: 64 << 20,
            ..Default::default()
        },
    )
    .expect("in-memory write");
    let synth: Arc<[u8]> = buf.into();
    g.throughput(Throughput::Bytes(synth.len() as u64));
    // The multi-threaded engine's reader does this alone: its ceiling.
    g.bench_function("synthetic_64MiB/read+decode", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::from_read(Box::new(Cursor::new(synth.clone())))
                .expect("valid capture");
            let mut d = wiresift::net::Decoder::new(Default::default());
            let mut n = 0u64;
            while let Ok(Some(p)) = reader.next_packet() {
                if let Some(seg) = d.decode(&p) {
                    n += seg.payload.len() as u64;
                }
            }
            n
        })
    });
    g.bench_function("synthetic_64MiB/decode+reassembly", |b| {
        b.iter(|| run(&synth, &Registry::new()))
    });
    g.bench_function("synthetic_64MiB/+dissect", |b| {
        b.iter(|| run(&synth, &wiresift::default_registry()))
    });
    let root = env!("CARGO_MANIFEST_DIR");
    for dir in ["testdata/resp", "testdata/tcp"] {
        let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for p in files {
            if !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            ) {
                continue;
            }
            let Ok(data) = std::fs::read(&p) else {
                continue;
            };
            let data: Arc<[u8]> = data.into();
            g.throughput(Throughput::Bytes(data.len() as u64));
            let name = format!(
                "{dir}/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            );
            g.bench_function(name, |b| {
                b.iter(|| run(&data, &wiresift::default_registry()))
            });
        }
    }
    g.finish();
}

struct Keep(Vec<OwnedTransaction>);
impl Output for Keep {
    fn transaction(&mut self, tx: &Transaction) {
        self.0.push(tx.to_owned());
    }
}

fn output(c: &mut Criterion) {
    let mut buf = Vec::new();
    write_pcap(
        &mut buf,
        &SynthConfig {
            target_bytes: 8 << 20,
            value_size: 64,
            ..Default::default()
        },
    )
    .expect("in-memory write");
    let synth: Arc<[u8]> = buf.into();
    let mut reader =
        CaptureReader::from_read(Box::new(Cursor::new(synth.clone()))).expect("valid capture");
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::default_registry(),
        Keep(Vec::new()),
    );
    engine.run(&mut reader, |_| {}).expect("reads to its end");
    let txs = engine.into_output().0;
    let mut g = c.benchmark_group("output");
    g.sample_size(10);
    g.throughput(Throughput::Elements(txs.len() as u64));
    let mut out = Vec::with_capacity(64 << 20);
    g.bench_function("typed_write_json", |b| {
        b.iter(|| {
            out.clear();
            for t in &txs {
                t.write_json(&mut out).expect("serialises");
                out.push(b'\n');
            }
            out.len()
        })
    });
    g.bench_function("value_tree_then_write", |b| {
        b.iter(|| {
            out.clear();
            for t in &txs {
                let v = serde_json::to_value(t).expect("serialises");
                serde_json::to_writer(&mut out, &v).expect("serialises");
                out.push(b'\n');
            }
            out.len()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("threads");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(synth.len() as u64));
    for threads in [1usize, 2] {
        g.bench_function(format!("synthetic_8MiB/dissect_ndjson/{threads}"), |b| {
            b.iter(|| {
                let mut reader = CaptureReader::from_read(Box::new(Cursor::new(synth.clone())))
                    .expect("valid capture");
                let mut engine = Engine::new(
                    EngineConfig::default(),
                    wiresift::default_registry(),
                    NdjsonOutput::new(std::io::sink(), NdjsonOptions::default()),
                );
                engine
                    .run_threads(threads, &mut reader, |_| {})
                    .expect("reads to its end");
                engine.summary().dissect.transactions
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline, output);
criterion_main!(benches);
