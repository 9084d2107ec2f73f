//! Per server and per command: count, errors, p50/p90/p99/max latency, total time, a bucketed
//! histogram, and how much latency came from TCP retransmission delay; a total row per server.
//! Text table, or JSON with `--json`; `--svg FILE` also draws the distributions.
//!
//! `cargo run --release --example latency -- [--json] [--by command|fingerprint]
//! [--sort p99|total|count|name] [--svg FILE] [--port PROTO=PORT[,PORT…]]… [--threads N]
//! <FILE|DIR|->…`

mod common;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::latency::{LatencyReport, SortBy};
use wiresift::Engine;

#[derive(Parser)]
#[command(about = "Latency report per server and command")]
struct Args {
    /// JSON output (one array of rows) instead of a text table.
    #[arg(long)]
    json: bool,
    /// Group by `command` (default) or by `fingerprint` (SQL normalised: per server ×
    /// fingerprint; transactions without one keep their command).
    #[arg(long, value_name = "command|fingerprint", default_value = "command")]
    by: String,
    /// Row order within each server, and of the servers: slowest p99 first (`p99`), most total
    /// time (`total`), most transactions (`count`), or by name (`name`).
    #[arg(long, value_name = "p99|total|count|name", default_value = "p99")]
    sort: SortBy,
    /// Also write an SVG plot of the latency distribution of every server and command
    /// (percentile curves on log scales) to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Route ports to a protocol, e.g. `--port resp=7101` (repeatable).
    #[arg(long = "port", value_name = "PROTO=PORT[,PORT…]")]
    ports: Vec<String>,
    /// Report a request still waiting for its reply after SECS of capture time as
    /// `no_response` (note `request_timeout`), without waiting for the connection to close:
    /// `SECS` for every protocol, `PROTO=SECS` for one (repeatable; 0: off). Default 30.
    #[arg(long = "request-timeout", value_name = "[PROTO=]SECS", value_parser = common::parse_timeout)]
    request_timeouts: Vec<common::TimeoutSpec>,
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
    let signals = common::Signals::install();
    let mut registry = wiresift::default_registry();
    for spec in &args.ports {
        if let Err(e) = wiresift::parse_port_spec(&mut registry, spec) {
            eprintln!("wiresift: --port {spec}: {e}");
            return ExitCode::from(2);
        }
    }
    let cfg = match common::engine_config(&args.request_timeouts, &registry) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wiresift: {e}");
            return ExitCode::from(2);
        }
    };
    let mut input = common::open_or_exit(&args.inputs, &signals);
    let report = match args.by.as_str() {
        "command" => LatencyReport::default(),
        "fingerprint" => LatencyReport::by_fingerprint(),
        other => {
            eprintln!("wiresift: --by {other}: expected command or fingerprint");
            return ExitCode::from(2);
        }
    };
    let report = report.with_sort(args.sort);
    let mut engine = Engine::new(cfg, registry, report);
    let threads = args
        .threads
        .unwrap_or_else(|| common::default_threads(&args.inputs));
    let code = common::run(&mut engine, &mut input, &args.inputs, threads, &signals);
    let report = engine.into_output();
    if let Some(path) = &args.svg {
        if let Err(e) = write_svg(&report, path) {
            eprintln!("wiresift: --svg {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
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

#[cfg(feature = "svg")]
fn write_svg(report: &LatencyReport, path: &std::path::Path) -> Result<(), String> {
    let svg = report.render_svg().map_err(|e| e.to_string())?;
    std::fs::write(path, svg).map_err(|e| e.to_string())
}

#[cfg(not(feature = "svg"))]
fn write_svg(_: &LatencyReport, _: &std::path::Path) -> Result<(), String> {
    Err("built without the `svg` feature".into())
}
