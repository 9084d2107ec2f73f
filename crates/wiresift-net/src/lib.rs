//! Capture reading and link/IP/TCP decoding. (Being filled in: see tcp.rs for the segment type
//! the reassembler consumes.)
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod tcp;
pub use tcp::{TcpFlags, TcpSegment};
