//! Dissect memcached (text protocol) traffic with a plugin written outside the workspace's
//! crates: `plugin.rs` next to this file uses only the public API, as another crate would.
//!
//! `cargo run --example memcached -- FILE…` prints one JSON object per transaction (every
//! protocol of the default registry, plus memcached on port 11211 and wherever the probe
//! recognises it), then the summary on stderr.
//!
//! How the plugin is added: `register_first`, so that it is probed before the built-in
//! plugins (see `wiresift::core::registry` for how probing picks).

mod plugin;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use wiresift::core::Transaction;
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, NdjsonWriter, Output};

/// The smallest useful output: every transaction as one JSON line.
struct Lines<W: Write>(NdjsonWriter<W>);

impl<W: Write> Output for Lines<W> {
    fn transaction(&mut self, tx: &Transaction) {
        self.0.write(tx);
    }
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "-h" || p == "--help") {
        eprintln!("usage: memcached FILE…  (pcap or pcapng)");
        return ExitCode::from(2);
    }
    let mut registry = wiresift::default_registry();
    registry.register_first(Arc::new(plugin::MemcachedPlugin::default()));
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut engine = Engine::new(
        EngineConfig::default(),
        registry,
        Lines(NdjsonWriter::new(stdout)),
    );
    let mut code = ExitCode::SUCCESS;
    for p in &paths {
        let mut reader = match CaptureReader::open(p.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("memcached: {p}: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = engine.run(&mut reader, |_| {}) {
            eprintln!("memcached: {p}: {e}");
            code = ExitCode::from(1);
        }
    }
    eprint!("{}", wiresift::summary::render(&engine.summary()));
    let Lines(w) = engine.into_output();
    if let Err(e) = w.finish().and_then(|mut w| w.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("memcached: {e}");
            return ExitCode::from(1);
        }
    }
    code
}
