//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading a capture file.
///
/// Decoding never fails with an error: a packet that cannot be decoded is counted in
/// [`DecodeStats`](crate::DecodeStats) under a named reason. Every variant that concerns the
/// file's content carries the byte offset (from the start of the input) of the record or block
/// where the problem was found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The capture file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Reading from the input failed (not an end of file: that is [`CaptureError::Truncated`]).
    #[error("read error at offset {offset}: {source}")]
    Io {
        /// Offset of the record being read.
        offset: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is empty or too short to hold a file header.
    #[error("not a capture file: input ends after {len} bytes, before the file header")]
    TooShort {
        /// Bytes available.
        len: u64,
    },
    /// The first four bytes are not a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file: unknown magic number {magic:02x?}")]
    UnknownFormat {
        /// The first four bytes of the input.
        magic: [u8; 4],
    },
    /// A recognised but unsupported format or format version.
    #[error("unsupported capture format at offset {offset}: {what}")]
    Unsupported {
        /// Offset of the header that declares the format.
        offset: u64,
        /// What is unsupported.
        what: String,
    },
    /// The input ends inside a record or block.
    #[error("truncated {what} at offset {offset}: header says {needed} bytes, {remain} remain")]
    Truncated {
        /// Offset of the record or block.
        offset: u64,
        /// What was being read ("packet record", "pcapng block", ...).
        what: &'static str,
        /// Bytes the header announces: a pcap record's captured length (its 16-byte header
        /// excluded), a pcapng block's total length, or the size of the header itself when
        /// the input ends inside it.
        needed: u64,
        /// Bytes left in the input for it (counted the same way).
        remain: u64,
    },
    /// A record or block whose header is inconsistent.
    #[error("corrupt {what} at offset {offset}: {detail}")]
    Corrupt {
        /// Offset of the record or block.
        offset: u64,
        /// What was being read.
        what: &'static str,
        /// What was expected and what was found.
        detail: String,
    },
}
