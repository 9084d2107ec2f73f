//! One JSON object per TCP connection (NDJSON on stdout), optionally dumping each direction's
//! delivered bytes to `DIR/<id>.c2s` and `DIR/<id>.s2c`.
//!
//! `cargo run --release --example flows -- [--dump DIR] [--threads N] <FILE|DIR|->…`

mod common;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::output::FlowsOutput;
use wiresift::{Engine, EngineConfig};

#[derive(Parser)]
#[command(about = "Print one JSON object per TCP connection in a capture")]
struct Args {
    /// Also write each direction's reassembled bytes to DIR/<id>.c2s and DIR/<id>.s2c.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Worker threads (default: the number of available cores; 1 for `-`). The output is the same for
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
    if let Some(d) = &args.dump {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("wiresift: cannot create {}: {e}", d.display());
            return ExitCode::from(2);
        }
    }
    let mut input = common::open_or_exit(&args.inputs, &signals);
    let out = FlowsOutput::new(
        std::io::stdout(),
        args.dump.clone(),
        common::flush_lines(&args.inputs),
    );
    // Flows are about TCP, not protocols: no plugins, so nothing is dissected. The plugins'
    // server ports still decide the roles of connections picked up mid-stream, as in dissect.
    let mut cfg = EngineConfig::default();
    cfg.reassembly.server_ports = wiresift::default_registry().server_ports();
    let mut engine = Engine::new(cfg, wiresift::core::Registry::new(), out);
    let threads = args
        .threads
        .unwrap_or_else(|| common::default_threads(&args.inputs));
    let code = common::run(&mut engine, &mut input, &args.inputs, threads, &signals);
    match engine.into_output().finish() {
        Ok((_, Some(e))) => {
            eprintln!("wiresift: --dump: {e}");
            return ExitCode::from(1);
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("wiresift: writing output: {e}");
            return ExitCode::from(1);
        }
    }
    code
}
