//! wiresift: passive TCP protocol dissection from packet captures.
//!
//! ```text
//! pcap/pcapng ─▶ wiresift_net (decode, defragment) ─▶ wiresift_reassembly (in-order streams,
//! gaps, FIN/RST/timeouts) ─▶ protocol sessions (wiresift_resp, wiresift_smtp, …) ─▶ Output
//! ```
//!
//! The facade re-exports the layer crates and provides the [`engine::Engine`] that wires them.
//! Protocol crates sit behind one cargo feature each (`resp`, `smtp`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod engine;
pub mod latency;
pub mod output;
pub mod parallel;
pub mod summary;
pub mod synth;

pub use engine::{DissectStats, Engine, EngineConfig, RunSummary};
pub use output::{
    ConnectionSummary, Discard, FlowRecord, NdjsonWriter, Output, ParallelOutput, ShardOutput,
};
pub use wiresift_core as core;
pub use wiresift_net as net;
pub use wiresift_reassembly as reassembly;
#[cfg(feature = "resp")]
pub use wiresift_resp as resp;
#[cfg(feature = "smtp")]
pub use wiresift_smtp as smtp;
#[cfg(feature = "tns")]
pub use wiresift_tns as tns;

#[cfg(any(feature = "resp", feature = "smtp", feature = "tns"))]
use std::sync::Arc;
use wiresift_core::Registry;

/// A registry with every protocol plugin compiled in (per cargo features), on default ports,
/// probing enabled.
pub fn default_registry() -> Registry {
    #[allow(unused_mut)]
    let mut r = Registry::new();
    #[cfg(feature = "resp")]
    r.register(Arc::new(wiresift_resp::RespPlugin::default()));
    #[cfg(feature = "smtp")]
    r.register(Arc::new(wiresift_smtp::SmtpPlugin::default()));
    #[cfg(feature = "tns")]
    r.register(Arc::new(wiresift_tns::TnsPlugin::default()));
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
