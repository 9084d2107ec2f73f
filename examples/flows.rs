//! One JSON object per TCP connection (NDJSON on stdout), optionally dumping each direction's
//! delivered bytes to `DIR/<id>.c2s` and `DIR/<id>.s2c`.
//!
//! `cargo run --release --example flows -- [--dump DIR] <FILE|->`

mod common;

use clap::Parser;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use wiresift::core::{ConnectionId, Direction, StreamChunk};
use wiresift::{ConnectionSummary, Engine, EngineConfig, FlowRecord, NdjsonWriter, Output};

#[derive(Parser)]
#[command(about = "Print one JSON object per TCP connection in a capture")]
struct Args {
    /// Also write each direction's reassembled bytes to DIR/<id>.c2s and DIR/<id>.s2c.
    #[arg(long, value_name = "DIR")]
    dump: Option<PathBuf>,
    /// Capture file (pcap or pcapng), or - for stdin.
    input: PathBuf,
}

struct Flows {
    out: NdjsonWriter<BufWriter<std::io::Stdout>>,
    dump: Option<PathBuf>,
    open: HashMap<(ConnectionId, Direction), BufWriter<File>>,
    dump_error: Option<String>,
}

impl Flows {
    fn file(&mut self, conn: ConnectionId, dir: Direction) -> Option<&mut BufWriter<File>> {
        let base = self.dump.as_ref()?;
        match self.open.entry((conn, dir)) {
            Entry::Occupied(e) => Some(e.into_mut()),
            Entry::Vacant(v) => {
                let p = base.join(format!("{conn}.{}", dir.short()));
                match File::create(&p) {
                    Ok(f) => Some(v.insert(BufWriter::new(f))),
                    Err(e) => {
                        self.dump_error
                            .get_or_insert(format!("{}: {e}", p.display()));
                        None
                    }
                }
            }
        }
    }
}

impl Output for Flows {
    fn data(&mut self, conn: ConnectionId, chunk: &StreamChunk<'_>) {
        if let Some(f) = self.file(conn, chunk.dir) {
            if let Err(e) = f.write_all(chunk.data) {
                self.dump_error.get_or_insert(e.to_string());
            }
        }
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        if self.dump.is_some() {
            for dir in Direction::BOTH {
                // Both files exist for every connection, empty when nothing was delivered.
                let _ = self.file(c.info.id, dir);
                if let Some(mut f) = self.open.remove(&(c.info.id, dir)) {
                    if let Err(e) = f.flush() {
                        self.dump_error.get_or_insert(e.to_string());
                    }
                }
            }
        }
        self.out.write(&FlowRecord::from_summary(c));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(d) = &args.dump {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("wiresift: cannot create {}: {e}", d.display());
            return ExitCode::from(2);
        }
    }
    let mut reader = common::open_or_exit(&args.input);
    let out = Flows {
        out: NdjsonWriter::new(BufWriter::new(std::io::stdout())),
        dump: args.dump.clone(),
        open: HashMap::new(),
        dump_error: None,
    };
    // Flows are about TCP, not protocols: no plugins, so nothing is dissected.
    let mut engine = Engine::new(
        EngineConfig::default(),
        wiresift::core::Registry::new(),
        out,
    );
    let code = common::run(&mut engine, &mut reader, &args.input);
    let flows = engine.into_output();
    if let Some(e) = flows.dump_error {
        eprintln!("wiresift: --dump: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = flows.out.finish() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("wiresift: writing output: {e}");
            return ExitCode::from(1);
        }
    }
    code
}
