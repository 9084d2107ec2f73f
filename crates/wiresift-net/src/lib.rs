//! Capture reading and link/IP/TCP decoding for wiresift.
//!
//! - [`CaptureReader`] streams packets out of pcap and pcapng files (or stdin) without loading
//!   them whole, and reports damage with the byte offset where it was found.
//! - [`Decoder`] turns each [`RawPacket`] into a [`TcpSegment`] (zero-copy), reassembling IP
//!   fragments, and counts every packet it cannot turn into one under a named reason in
//!   [`DecodeStats`].
//!
//! ```no_run
//! use wiresift_net::{CaptureReader, Decoder};
//! # fn main() -> Result<(), wiresift_net::CaptureError> {
//! let mut reader = CaptureReader::open(std::path::Path::new("capture.pcap"))?;
//! let mut decoder = Decoder::default();
//! while let Some(pkt) = reader.next_packet()? {
//!     if let Some(seg) = decoder.decode(&pkt) {
//!         println!("{} -> {} {} bytes", seg.src.0, seg.dst.0, seg.payload.len());
//!     }
//! }
//! decoder.finish();
//! assert!(decoder.stats().accounted());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capture;
pub mod decode;
mod defrag;
mod error;
pub mod merge;
pub mod tcp;

pub use capture::{CaptureFormat, CaptureReader, LinkType, PacketSource, RawPacket};
pub use decode::{DecodeStats, Decoder, DecoderConfig};
pub use error::CaptureError;
pub use merge::MergedReader;
pub use tcp::{TcpFlags, TcpSegment};
