//! Engine behaviour across layers: plugin choice (user port, default port, probe, nothing),
//! `--port` parsing, and the counters that make undissected bytes visible.

use std::path::PathBuf;
use wiresift::core::{OwnedTransaction, Registry, Transaction};
use wiresift::net::CaptureReader;
use wiresift::{parse_port_spec, ConnectionSummary, Engine, EngineConfig, Output, RunSummary};

#[derive(Default)]
struct Rec {
    txs: Vec<OwnedTransaction>,
    roles: Vec<String>,
}
impl Output for Rec {
    fn transaction(&mut self, tx: &Transaction) {
        self.txs.push(tx.to_owned());
    }
    fn connection_closed(&mut self, c: &ConnectionSummary<'_>) {
        self.roles.push(format!("{:?}", c.role));
    }
}

fn run(file: &str, registry: Registry) -> (Rec, RunSummary) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    let mut reader = CaptureReader::open(&p).unwrap();
    let mut engine = Engine::new(EngineConfig::default(), registry, Rec::default());
    engine.run(&mut reader, |_| {}).unwrap();
    let s = engine.summary();
    (engine.into_output(), s)
}

#[test]
fn probe_finds_resp_on_a_non_standard_port() {
    // Redis on port 7101: no --port, the probe recognises the first client bytes.
    let (probed, s) = run(
        "testdata/resp/nonstd-port.pcap",
        wiresift::default_registry(),
    );
    let mut reg = wiresift::default_registry();
    parse_port_spec(&mut reg, "resp=7101").unwrap();
    let (routed, _) = run("testdata/resp/nonstd-port.pcap", reg);
    assert_eq!(probed.txs.len(), 8);
    let cmds = |r: &Rec| r.txs.iter().map(|t| t.command.clone()).collect::<Vec<_>>();
    assert_eq!(cmds(&probed), cmds(&routed));
    assert_eq!(s.dissect.dissected_connections.get("resp"), Some(&1));
    assert_eq!(s.dissect.unidentified_connections, 0);
    assert!(probed.txs.iter().all(|t| t.server.port() == 7101));
}

#[test]
fn without_probing_unknown_ports_are_counted_not_dissected() {
    let mut reg = wiresift::default_registry();
    reg.set_probing(false);
    let (r, s) = run("testdata/resp/nonstd-port.pcap", reg);
    assert!(r.txs.is_empty());
    assert_eq!(s.dissect.unidentified_connections, 1);
    assert!(s.dissect.undissected_bytes > 0);
    assert_eq!(s.dissect.undissected_bytes, s.reassembly.delivered_bytes);
}

#[test]
fn midstream_connection_roles_come_from_the_server_port() {
    let (r, s) = run("testdata/resp/midstream.pcap", wiresift::default_registry());
    assert_eq!(s.reassembly.midstream_connections, 1);
    assert_eq!(r.roles, vec!["ServerPort".to_string()]);
    assert!(r.txs.len() > 100);
    assert!(r.txs.iter().all(|t| t.server.port() == 6379));
}

#[test]
fn port_specs() {
    let mut reg = wiresift::default_registry();
    parse_port_spec(&mut reg, "smtp=2526,2527").unwrap();
    assert_eq!(reg.by_port(2527), reg.index_of("smtp"));
    for bad in [
        "resp",
        "resp=",
        "=6379",
        "resp=0",
        "resp=70000",
        "resp=1,x",
        "nope=1",
    ] {
        assert!(parse_port_spec(&mut reg, bad).is_err(), "{bad} accepted");
    }
}
