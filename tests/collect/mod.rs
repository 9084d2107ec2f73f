//! Shared by `tests/cql_captures.rs` and `tests/resp_captures.rs`: a capture through the whole
//! engine, keeping one protocol's transactions, messages and parse anomalies.

use std::path::Path;
use wiresift::core::{
    Message, OwnedMessage, OwnedTransaction, ParseAnomaly, Registry, Transaction,
};
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

/// What one protocol reported during a run.
pub struct Collect {
    protocol: &'static str,
    pub txs: Vec<OwnedTransaction>,
    pub msgs: Vec<OwnedMessage>,
    pub anomalies: Vec<ParseAnomaly>,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        if tx.protocol == self.protocol {
            self.txs.push(tx.to_owned());
        }
    }
    fn message(&mut self, m: &Message) {
        if m.protocol == self.protocol {
            self.msgs.push(m.to_owned());
        }
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        if a.protocol == self.protocol {
            self.anomalies.push(a.clone());
        }
    }
}

/// Runs the capture at `path` through the engine (default config, one thread) with `reg`,
/// keeping what `protocol` reports.
pub fn run_path(protocol: &'static str, path: &Path, reg: Registry) -> Collect {
    let out = Collect {
        protocol,
        txs: Vec::new(),
        msgs: Vec::new(),
        anomalies: Vec::new(),
    };
    let mut engine = Engine::new(EngineConfig::default(), reg, out);
    let mut reader = CaptureReader::open(path).unwrap();
    engine.run(&mut reader, |_| {}).unwrap();
    engine.into_output()
}

/// [`run_path`] on `testdata/<protocol>/<name>`; `None`, with a message, when it is not there.
pub fn run_testdata(protocol: &'static str, name: &str, reg: Registry) -> Option<Collect> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(protocol)
        .join(name);
    if !path.exists() {
        eprintln!("skipping: {} not present", path.display());
        return None;
    }
    Some(run_path(protocol, &path, reg))
}
