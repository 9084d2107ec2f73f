//! Per server and per command: count, errors, p50/p90/p99/max latency, a bucketed histogram, and
//! how much latency came from TCP retransmission delay. Text table, or JSON with `--json`.
//!
//! `cargo run --release --example latency -- [--json] [--port PROTO=PORT[,PORT…]]… [--threads N]
//! <FILE|DIR|->…`

mod common;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::latency::LatencyReport;
use wiresift::{Engine, EngineConfig};

#[derive(Parser)]
#[command(about = "Latency report per server and command")]
struct Args {
    /// JSON output (one array of rows) instead of a text table.
    #[arg(long)]
    json: bool,
    /// Route ports to a protocol, e.g. `--port resp=7101` (repeatable).
    #[arg(long = "port", value_name = "PROTO=PORT[,PORT…]")]
    ports: Vec<String>,
    /// Worker threads (default: the number of available cores; 1 for `-`). The report is the same for
    /// every value.
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
    for spec in &args.ports {
        if let Err(e) = wiresift::parse_port_spec(&mut registry, spec) {
            eprintln!("wiresift: --port {spec}: {e}");
            return ExitCode::from(2);
        }
    }
    let mut input = common::open_or_exit(&args.inputs);
    let mut engine = Engine::new(EngineConfig::default(), registry, LatencyReport::default());
    let threads = args
        .threads
        .unwrap_or_else(|| common::default_threads(&args.inputs));
    let code = common::run(&mut engine, &mut input, &args.inputs, threads);
    let report = engine.into_output();
    let text = if args.json {
        match serde_json::to_string_pretty(&report.rows()) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("wiresift: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        report.render_text()
    };
    common::print_or_exit(&text, code)
}
