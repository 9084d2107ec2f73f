//! One JSON object per transaction (NDJSON on stdout), then a summary on stderr.
//!
//! `cargo run --release --example dissect -- [--port PROTO=PORT[,PORT…]]… [--threshold-ms N]
//! [--events] [--no-probe] [--threads N] <FILE|DIR|->…`

mod common;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::output::{NdjsonOptions, NdjsonOutput};
use wiresift::{Engine, EngineConfig};

#[derive(Parser)]
#[command(about = "Print one JSON object per request/response transaction in a capture")]
struct Args {
    /// Route ports to a protocol, e.g. `--port resp=7101,7102` (repeatable).
    #[arg(long = "port", value_name = "PROTO=PORT[,PORT…]")]
    ports: Vec<String>,
    /// Print only transactions slower than this many milliseconds (and those with no response).
    #[arg(long, value_name = "MS", value_parser = common::parse_ms)]
    threshold_ms: Option<f64>,
    /// Also print unpaired messages (pushes, replication, …) and parse anomalies, tagged with
    /// `"type"`.
    #[arg(long)]
    events: bool,
    /// Do not probe connections on unknown ports.
    #[arg(long)]
    no_probe: bool,
    /// Worker threads (default: the number of available cores; 1 for `-`). The output is the
    /// same for every value.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Capture files (pcap or pcapng) or directories of them, read as one capture in timestamp
    /// order; or - for stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut registry = wiresift::default_registry();
    registry.set_probing(!args.no_probe);
    for spec in &args.ports {
        if let Err(e) = wiresift::parse_port_spec(&mut registry, spec) {
            eprintln!("wiresift: --port {spec}: {e}");
            return ExitCode::from(2);
        }
    }
    let mut input = common::open_or_exit(&args.inputs);
    let opts = NdjsonOptions {
        threshold_us: args.threshold_ms.map(|ms| (ms * 1000.0) as u64),
        events: args.events,
        flush_lines: common::flush_lines(&args.inputs),
    };
    let out = NdjsonOutput::new(std::io::stdout(), opts);
    let mut engine = Engine::new(EngineConfig::default(), registry, out);
    let threads = args
        .threads
        .unwrap_or_else(|| common::default_threads(&args.inputs));
    let code = common::run(&mut engine, &mut input, &args.inputs, threads);
    if let Err(e) = engine.into_output().finish() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("wiresift: writing output: {e}");
            return ExitCode::from(1);
        }
    }
    code
}
