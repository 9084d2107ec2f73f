//! Shared vocabulary of wiresift.
//!
//! This crate has no dependency on the other wiresift crates. It defines:
//! - [`types`]: capture timestamps, directions, endpoints and connection ids used by every layer;
//! - [`plugin`]: the sans-IO [`TcpProtocolPlugin`] trait that protocol crates implement, and the
//!   [`ProtocolSession`] a plugin creates per connection;
//! - [`transaction`]: the protocol-independent [`Transaction`] record and session events;
//! - [`registry`]: port → plugin mapping with user overrides and probing;
//! - [`buffer`]: a bounded carry-over buffer for incremental parsers;
//! - [`mod@fingerprint`]: SQL/CQL statement normalisation for aggregation;
//! - [`resync`]: the one helper parsers use to find a message boundary after a gap;
//! - [`text`]: the one escaping rule for captured bytes in the output (`\\`, `\xNN`).
//!
//! How to write a plugin, with a doctest that builds one and feeds it bytes: [`plugin`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod buffer;
pub mod fingerprint;
pub mod plugin;
pub mod registry;
pub mod resync;
pub mod text;
pub mod transaction;
pub mod types;

pub use buffer::{BufferOverflow, StreamBuf};
pub use erased_serde;
pub use fingerprint::fingerprint;
pub use plugin::{
    ByteAccounting, ConnectionInfo, Flow, GapInfo, Handover, ProbeResult, ProtocolSession,
    StreamChunk, TcpProtocolPlugin,
};
pub use registry::Registry;
pub use transaction::{push_note, IsoTime};
pub use transaction::{
    Detail, EventSink, Message, MsgDetail, MsgPayload, Note, OwnedMessage, OwnedTransaction,
    ParseAnomaly, ReqResp, SessionEvent, Status, Transaction, TxDetail, MAX_NOTES,
};
pub use types::{CloseReason, ConnectionId, Direction, Duration, Endpoint, Timestamp};
