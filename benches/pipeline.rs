//! Decode + reassembly throughput (criterion, `Throughput::Bytes` of capture file).
//!
//! - `synthetic_64MiB`: a 64 MiB in-order Ethernet/IPv4/TCP capture from `wiresift::synth`
//!   (64 interleaved connections, 1448-byte segments), read from memory: decode + reassembly
//!   only (no plugins), and the same with the RESP plugin dissecting (`+dissect`).
//! - every capture under `testdata/resp/` and `testdata/tcp/` (small, real traffic).
//!
//! `cargo bench --bench pipeline` (add `-- --warm-up-time 1 --measurement-time 5` to shorten).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::Cursor;
use std::sync::Arc;
use wiresift::core::Registry;
use wiresift::net::CaptureReader;
use wiresift::synth::{write_pcap, SynthConfig};
use wiresift::{Discard, Engine, EngineConfig};

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

criterion_group!(benches, pipeline);
criterion_main!(benches);
