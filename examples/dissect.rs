//! One JSON object per transaction (NDJSON on stdout), then a summary on stderr.
//!
//! `cargo run --release --example dissect -- [--port PROTO=PORT[,PORT…]]… [--threshold-ms N]
//! [--events] [--no-probe] <FILE|->`

mod common;

use clap::Parser;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::core::{Message, ParseAnomaly, Transaction};
use wiresift::{Engine, EngineConfig, NdjsonWriter, Output};

#[derive(Parser)]
#[command(about = "Print one JSON object per request/response transaction in a capture")]
struct Args {
    /// Route ports to a protocol, e.g. `--port resp=7101,7102` (repeatable).
    #[arg(long = "port", value_name = "PROTO=PORT[,PORT…]")]
    ports: Vec<String>,
    /// Print only transactions slower than this many milliseconds (and those with no response).
    #[arg(long, value_name = "MS")]
    threshold_ms: Option<f64>,
    /// Also print unpaired messages (pushes, replication, …) and parse anomalies, tagged with
    /// `"type"`.
    #[arg(long)]
    events: bool,
    /// Do not probe connections on unknown ports.
    #[arg(long)]
    no_probe: bool,
    /// Capture file (pcap or pcapng), or - for stdin.
    input: PathBuf,
}

struct Sink {
    out: NdjsonWriter<BufWriter<std::io::Stdout>>,
    threshold_us: Option<u64>,
    events: bool,
}

impl Output for Sink {
    fn transaction(&mut self, tx: &Transaction) {
        if let Some(t) = self.threshold_us {
            if tx.latency_us.is_some_and(|l| l < t) {
                return;
            }
        }
        self.out.write(tx);
    }
    fn message(&mut self, m: &Message) {
        if self.events {
            self.out.write(&Tagged("message", m));
        }
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        if self.events {
            self.out.write(&Tagged("anomaly", a));
        }
    }
}

/// `{"type": "...", ...fields}`.
struct Tagged<'a, T: ?Sized>(&'static str, &'a T);
impl<T: serde::Serialize + ?Sized> serde::Serialize for Tagged<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(self.1).map_err(serde::ser::Error::custom)?;
        if let Some(m) = v.as_object_mut() {
            m.insert("type".into(), self.0.into());
        }
        v.serialize(s)
    }
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
    let mut reader = common::open_or_exit(&args.input);
    let sink = Sink {
        out: NdjsonWriter::new(BufWriter::new(std::io::stdout())),
        threshold_us: args.threshold_ms.map(|ms| (ms * 1000.0) as u64),
        events: args.events,
    };
    let mut engine = Engine::new(EngineConfig::default(), registry, sink);
    let code = common::run(&mut engine, &mut reader, &args.input);
    if let Err(e) = engine.into_output().out.finish() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("wiresift: writing output: {e}");
            return ExitCode::from(1);
        }
    }
    code
}
