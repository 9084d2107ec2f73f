//! The decoded TCP segment handed to the reassembler.

use wiresift_core::{Endpoint, Timestamp};

/// TCP flags byte (the low 8 flag bits of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// FIN set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// PSH set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// One TCP segment, decoded from a captured packet. `payload` borrows from the packet buffer
/// (or from the IP defragmenter for reassembled datagrams): no copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack()`).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window (unscaled).
    pub window: u16,
    /// Payload bytes actually captured (may be shorter than `payload_len` under a snaplen).
    pub payload: &'a [u8],
    /// Payload length according to the IP header. Greater than `payload.len()` when the capture
    /// truncated the packet (snaplen): the missing tail is a gap, never zero-filled.
    pub payload_len: u32,
}
