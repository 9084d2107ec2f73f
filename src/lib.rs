//! wiresift: passive TCP protocol dissection from packet captures.
//!
//! ```text
//! pcap/pcapng ─▶ wiresift_net (decode, defragment) ─▶ wiresift_reassembly (in-order streams,
//! gaps, FIN/RST/timeouts) ─▶ protocol sessions (wiresift_resp, wiresift_smtp, …) ─▶ Output
//! ```
//!
//! The facade re-exports the layer crates and provides the [`engine::Engine`] that wires them.
//! Protocol crates sit behind one cargo feature each (`resp`, `smtp`, `mysql`, `cql`, `tns`).
//! The proxy tunnel plugin ([`tunnel`]: HTTP CONNECT, SOCKS4/4a/5) is part of the facade: it
//! hands a connection over to the protocol inside the tunnel ([`wiresift_core::Flow::Handover`]).
//!
//! An embedder writes an [`Output`] and hands it to an [`Engine`]. This one computes the p99
//! latency per command of a capture, and reads the typed RESP detail of one transaction:
//!
//! ```
//! use std::collections::BTreeMap;
//! use wiresift::core::{Detail, Transaction};
//! use wiresift::net::CaptureReader;
//! use wiresift::{Engine, EngineConfig, Output};
//!
//! #[derive(Default)]
//! struct P99 {
//!     latencies: BTreeMap<String, Vec<u64>>,
//!     first_get_reply: Option<String>,
//! }
//!
//! impl Output for P99 {
//!     // Full detail, for the typed reply below (an output that needs only latencies returns
//!     // `Detail::Summary`, and sessions then skip building query text and detail).
//!     fn detail(&self) -> Detail {
//!         Detail::Full
//!     }
//!     fn transaction(&mut self, tx: &Transaction) {
//!         if let Some(us) = tx.latency_us {
//!             self.latencies.entry(tx.command.clone()).or_default().push(us);
//!         }
//!         // Typed detail, no JSON: the RESP reply of the first GET.
//!         if tx.command == "GET" && self.first_get_reply.is_none() {
//!             if let Some(d) = tx.detail_as::<wiresift::resp::RespDetail>() {
//!                 self.first_get_reply = d.response.as_ref().map(|r| r.kind.to_string());
//!             }
//!         }
//!     }
//! }
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/resp/plain.pcap");
//! let mut reader = CaptureReader::open(path.as_ref()).expect("a capture");
//! let mut engine = Engine::new(
//!     EngineConfig::default(),
//!     wiresift::default_registry(),
//!     P99::default(),
//! );
//! engine.run(&mut reader, |_bytes_read| {}).expect("read to the end");
//! let out = engine.into_output();
//! for (command, mut l) in out.latencies {
//!     l.sort_unstable();
//!     let p99 = l[(l.len() * 99).div_ceil(100) - 1];
//!     println!("{command}: {} requests, p99 {p99} µs", l.len());
//! }
//! assert_eq!(out.first_get_reply.as_deref(), Some("bulk_string"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod engine;
pub mod latency;
pub mod output;
pub mod parallel;
pub mod redact;
pub mod summary;
pub mod synth;
pub mod tunnel;

pub use engine::{DissectStats, Engine, EngineConfig, RunSummary, SessionBudget, TunnelNote};
pub use output::{
    ConnectionSummary, Discard, FlowRecord, NdjsonWriter, Output, ParallelOutput, ShardOutput,
    TextOptions, TextOutput,
};
pub use wiresift_core as core;
#[cfg(feature = "cql")]
pub use wiresift_cql as cql;
#[cfg(feature = "mysql")]
pub use wiresift_mysql as mysql;
pub use wiresift_net as net;
pub use wiresift_reassembly as reassembly;
#[cfg(feature = "resp")]
pub use wiresift_resp as resp;
#[cfg(feature = "smtp")]
pub use wiresift_smtp as smtp;
#[cfg(feature = "tns")]
pub use wiresift_tns as tns;

#[cfg(any(
    feature = "resp",
    feature = "smtp",
    feature = "mysql",
    feature = "cql",
    feature = "tns"
))]
use std::sync::Arc;
use wiresift_core::Registry;

/// A registry with every protocol plugin compiled in (per cargo features) and the proxy
/// tunnel plugin ([`tunnel`]), on default ports, probing enabled.
pub fn default_registry() -> Registry {
    #[allow(unused_mut)]
    let mut r = Registry::new();
    #[cfg(feature = "resp")]
    r.register(Arc::new(wiresift_resp::RespPlugin::default()));
    #[cfg(feature = "smtp")]
    r.register(Arc::new(wiresift_smtp::SmtpPlugin::default()));
    #[cfg(feature = "mysql")]
    r.register(Arc::new(wiresift_mysql::MysqlPlugin::default()));
    #[cfg(feature = "cql")]
    r.register(Arc::new(wiresift_cql::CqlPlugin::default()));
    #[cfg(feature = "tns")]
    r.register(Arc::new(wiresift_tns::TnsPlugin::default()));
    // Last: what a tunnel carries is probed with the others first.
    r.register(std::sync::Arc::new(tunnel::TunnelPlugin));
    r
}

/// Error from [`parse_port_spec`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortSpecError {
    /// Not of the form `PROTO=PORT[,PORT…]`.
    #[error("expected PROTO=PORT[,PORT…], found {0:?}")]
    Syntax(String),
    /// A port that is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    Port(String),
    /// Unknown protocol name.
    #[error(transparent)]
    Registry(#[from] wiresift_core::registry::RegistryError),
}

/// Apply a `--port PROTO=PORT[,PORT…]` specification to `registry`.
pub fn parse_port_spec(registry: &mut Registry, spec: &str) -> Result<(), PortSpecError> {
    let (name, ports) = spec
        .split_once('=')
        .ok_or_else(|| PortSpecError::Syntax(spec.to_string()))?;
    if name.is_empty() || ports.is_empty() {
        return Err(PortSpecError::Syntax(spec.to_string()));
    }
    let mut parsed = Vec::new();
    for p in ports.split(',') {
        match p.trim().parse::<u16>() {
            Ok(n) if n != 0 => parsed.push(n),
            _ => return Err(PortSpecError::Port(p.to_string())),
        }
    }
    for p in parsed {
        registry.set_port(name.trim(), p)?;
    }
    Ok(())
}
