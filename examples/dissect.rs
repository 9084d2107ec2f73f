//! One line per transaction on stdout: a JSON object (NDJSON, the default when stdout is not a
//! terminal) or a tcpkit-style text line (`--format text`, the default on a terminal); then a
//! summary on stderr.
//!
//! `cargo run --release --example dissect -- [--format text|ndjson] [--local-time]
//! [--port PROTO=PORT[,PORT…]]… [--threshold-ms N] [--events] [--redact] [--no-probe]
//! [--threads N] <FILE|DIR|->…`

mod common;

use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::core::Registry;
use wiresift::output::{NdjsonOptions, NdjsonOutput, TextOptions, TextOutput};
use wiresift::redact::Redact;
use wiresift::{Engine, EngineConfig, ParallelOutput};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per transaction: time, client => server, latency, request, status, notes.
    Text,
    /// One JSON object per line.
    Ndjson,
}

#[derive(Parser)]
#[command(about = "Print one line (JSON or text) per request/response transaction in a capture")]
struct Args {
    /// Output format (default: text when stdout is a terminal, else ndjson).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Text format: times in the local time zone (with its UTC offset) instead of UTC.
    #[arg(long)]
    local_time: bool,
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
    /// Print fingerprints instead of literal SQL and drop parameter values (MySQL), so that
    /// the output of a capture full of customer data can be shared.
    #[arg(long)]
    redact: bool,
    /// Report a request still waiting for its reply after SECS of capture time as
    /// `no_response` (note `request_timeout`), without waiting for the connection to close:
    /// `SECS` for every protocol, `PROTO=SECS` for one (repeatable; 0: off). Default 30.
    #[arg(long = "request-timeout", value_name = "[PROTO=]SECS", value_parser = common::parse_timeout)]
    request_timeouts: Vec<common::TimeoutSpec>,
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
    let signals = common::Signals::install();
    let mut registry = wiresift::default_registry();
    registry.set_probing(!args.no_probe);
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
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Ndjson
    });
    let mut input = common::open_or_exit(&args.inputs, &signals);
    let threshold_us = args.threshold_ms.map(|ms| (ms * 1000.0) as u64);
    let flush_lines = common::flush_lines(&args.inputs);
    let (code, finished) = match format {
        Format::Ndjson => {
            let opts = NdjsonOptions {
                threshold_us,
                events: args.events,
                flush_lines,
            };
            let out = NdjsonOutput::new(std::io::stdout(), opts);
            let (code, out) = go(out, cfg, registry, &args, &mut input, &signals);
            (code, out.finish().map(drop))
        }
        Format::Text => {
            let opts = TextOptions {
                threshold_us,
                events: args.events,
                flush_lines,
                local_time: args.local_time,
            };
            let out = TextOutput::new(std::io::stdout(), opts);
            let (code, out) = go(out, cfg, registry, &args, &mut input, &signals);
            (code, out.finish().map(drop))
        }
    };
    if let Err(e) = finished {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("wiresift: writing output: {e}");
            return ExitCode::from(1);
        }
    }
    code
}

/// Run the engine into `out` (through [`Redact`] with `--redact`) and give `out` back.
fn go<O: ParallelOutput>(
    out: O,
    cfg: EngineConfig,
    registry: Registry,
    args: &Args,
    input: &mut common::Input,
    signals: &common::Signals,
) -> (ExitCode, O) {
    let threads = args
        .threads
        .unwrap_or_else(|| common::default_threads(&args.inputs));
    if args.redact {
        let mut engine = Engine::new(cfg, registry, Redact(out));
        let code = common::run(&mut engine, input, &args.inputs, threads, signals);
        (code, engine.into_output().0)
    } else {
        let mut engine = Engine::new(cfg, registry, out);
        let code = common::run(&mut engine, input, &args.inputs, threads, signals);
        (code, engine.into_output())
    }
}
