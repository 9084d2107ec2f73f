//! Per server and per command: count, errors, p50/p90/p99/max latency, a bucketed histogram, and
//! how much latency came from TCP retransmission delay. Text table, or JSON with `--json`.
//!
//! `cargo run --release --example latency -- [--json] [--port PROTO=PORT[,PORT…]]… <FILE|->`

mod common;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::core::{Detail, Transaction};
use wiresift::latency::LatencyReport;
use wiresift::{Engine, EngineConfig, Output};

#[derive(Parser)]
#[command(about = "Latency report per server and command")]
struct Args {
    /// JSON output (one array of rows) instead of a text table.
    #[arg(long)]
    json: bool,
    /// Route ports to a protocol, e.g. `--port resp=7101` (repeatable).
    #[arg(long = "port", value_name = "PROTO=PORT[,PORT…]")]
    ports: Vec<String>,
    /// Capture file (pcap or pcapng), or - for stdin.
    input: PathBuf,
}

struct Sink(LatencyReport);
impl Output for Sink {
    fn detail(&self) -> Detail {
        Detail::Summary
    }
    fn transaction(&mut self, tx: &Transaction) {
        self.0.add(tx);
    }
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
    let mut reader = common::open_or_exit(&args.input);
    let mut engine = Engine::new(
        EngineConfig::default(),
        registry,
        Sink(LatencyReport::default()),
    );
    let code = common::run(&mut engine, &mut reader, &args.input);
    let report = engine.into_output().0;
    if args.json {
        match serde_json::to_string_pretty(&report.rows()) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("wiresift: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.render_text());
    }
    code
}
