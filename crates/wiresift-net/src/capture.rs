//! Streaming capture-file reader: classic pcap and pcapng.
//!
//! The reader holds one read buffer (grown on demand to [`READ_BUFFER_SIZE`], 1 MiB) and never loads the whole
//! input: packets are returned as slices into that buffer, valid until the next call. It reads
//! from any [`Read`], so a pipe (`-` for stdin) works as well as a file: the format is chosen by
//! peeking at the magic number in the buffer, no seeking.
//!
//! ## Formats
//! - pcap, microsecond (`a1b2c3d4`) and nanosecond (`a1b23c4d`) magic, either byte order. The
//!   file header is parsed with `pcap-file` 2. Records are framed here so that a truncated or
//!   inconsistent record is reported with its offset and sizes; sub-second fields out of range
//!   (≥ 10⁶ µs / ≥ 10⁹ ns, seen in the wild) are clamped to the last nanosecond of their second
//!   instead of failing the file.
//! - The Kuznetzov "modified pcap" (`a1b2cd34`) is rejected with [`CaptureError::Unsupported`].
//! - pcapng: several sections (each may change byte order), several interfaces per section each
//!   with its own link type, `if_tsresol` (powers of 10 and of 2) and `if_tsoffset`. Enhanced,
//!   simple and (obsolete) packet blocks yield packets; every other block type (statistics,
//!   name resolution, decryption secrets, custom, ...) is skipped. Only section version 1.x is
//!   accepted. A simple packet block has no timestamp: it gets the previous packet's. Blocks are framed here rather than with `pcap-file` 2.0's pcapng parser, because
//!   that parser reads EPB timestamps as nanoseconds whatever `if_tsresol` says, rejects valid
//!   interface blocks (an `if_tzone` option, options without `opt_endofopt`, non-UTF-8 strings),
//!   does not check the section version, and reports errors without offsets.
//!
//! ## Limits
//! A record or block larger than [`MAX_RECORD_LEN`] (16 MiB) is reported as corrupt rather than
//! buffered: a length field is a claim, not a budget.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use pcap_file::pcap::PcapHeader;
use pcap_file::{Endianness, TsResolution};
use wiresift_core::Timestamp;

use crate::error::CaptureError;

/// Size of the read buffer (1 MiB; it starts at 8 KiB and doubles as the input needs). It only
/// grows beyond this for a single record larger than this, up to
/// [`MAX_RECORD_LEN`].
pub const READ_BUFFER_SIZE: usize = 1 << 20;

/// Largest pcap record or pcapng block accepted (16 MiB, as Wireshark's pcapng reader).
pub const MAX_RECORD_LEN: usize = 16 << 20;

/// A link-layer header type (the pcap `LINKTYPE_*` registry). Open: any value is carried,
/// the decoder counts those it does not handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback, 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II (with optional 802.1Q/802.1ad tags).
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (some platforms' `DLT_RAW`).
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP (some platforms' `DLT_RAW`).
    pub const RAW_14: LinkType = LinkType(14);
    /// Raw IP; the version nibble says v4 or v6.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback, 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture v1 (16-byte header).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux netfilter NFLOG.
    pub const NFLOG: LinkType = LinkType(239);
    /// Linux "cooked" capture v2 (20-byte header).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// A short name for known values (`None` for others).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "null",
            Self::ETHERNET => "ethernet",
            Self::RAW_12 | Self::RAW_14 | Self::RAW => "raw",
            Self::LOOP => "loop",
            Self::LINUX_SLL => "linux-sll",
            Self::IPV4 => "ipv4",
            Self::IPV6 => "ipv6",
            Self::NFLOG => "nflog",
            Self::LINUX_SLL2 => "linux-sll2",
            _ => return None,
        })
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The container format of the input, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureFormat {
    /// Classic pcap.
    Pcap {
        /// Nanosecond timestamps (magic `a1b23c4d`) rather than microseconds.
        nanosecond: bool,
        /// Header fields are big-endian.
        big_endian: bool,
    },
    /// pcapng.
    PcapNg,
}

impl fmt::Display for CaptureFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureFormat::Pcap {
                nanosecond,
                big_endian,
            } => write!(
                f,
                "pcap ({}, {})",
                if *nanosecond { "ns" } else { "us" },
                if *big_endian {
                    "big-endian"
                } else {
                    "little-endian"
                }
            ),
            CaptureFormat::PcapNg => f.write_str("pcapng"),
        }
    }
}

/// One captured packet, borrowed from the reader's buffer (valid until the next read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link-layer type of `data`.
    pub link_type: LinkType,
    /// Captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Length of the packet on the wire (≥ `data.len()` for a well-formed file).
    pub orig_len: u32,
    /// pcapng interface index within its section (0 for pcap).
    pub interface: u32,
}

/// Something that yields captured packets in capture order: one [`CaptureReader`], or several
/// files read as one capture ([`crate::MergedReader`]).
pub trait PacketSource {
    /// The next packet, `Ok(None)` at the end. An `Err` ends the input: the packets before it
    /// were returned, the error says where and what is wrong.
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;
    /// Capture bytes read so far (for progress).
    fn bytes_read(&self) -> u64;
    /// Damage that did not end the input (one file of several), each as one line naming the
    /// file and the offset. Default: none.
    fn errors(&self) -> Vec<String> {
        Vec::new()
    }
}

impl PacketSource for CaptureReader {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        CaptureReader::next_packet(self)
    }
    fn bytes_read(&self) -> u64 {
        CaptureReader::bytes_read(self)
    }
    fn errors(&self) -> Vec<String> {
        match self.bad_packet_blocks() {
            (0, _) => Vec::new(),
            (n, first) => vec![format!(
                "{n} malformed pcapng packet block(s) skipped, the first: {}",
                first.unwrap_or("?")
            )],
        }
    }
}

/// Timestamp scale of one pcapng interface.
#[derive(Debug, Clone, Copy)]
enum TsScale {
    /// Units are 10^-k s with k ≤ 9: nanoseconds = units × factor.
    Mul(u64),
    /// Any other resolution: units per second.
    PerSec(u128),
}

impl TsScale {
    fn from_tsresol(r: u8) -> TsScale {
        if r & 0x80 == 0 {
            let k = u32::from(r);
            if k <= 9 {
                return TsScale::Mul(10u64.pow(9 - k));
            }
            // 10^k overflows u128 above k = 38: such an interface's units are so fine that
            // every timestamp is within the first second of the epoch.
            TsScale::PerSec(10u128.checked_pow(k).unwrap_or(u128::MAX))
        } else {
            TsScale::PerSec(1u128 << u32::from(r & 0x7f))
        }
    }

    fn to_nanos(self, units: u64, offset_secs: i64) -> u64 {
        let ns = match self {
            TsScale::Mul(f) => u128::from(units) * u128::from(f),
            TsScale::PerSec(per) => {
                let units = u128::from(units);
                let secs = units / per;
                let frac = units % per;
                secs * 1_000_000_000 + frac * 1_000_000_000 / per
            }
        };
        let ns = ns as i128 + i128::from(offset_secs) * 1_000_000_000;
        ns.clamp(0, i128::from(u64::MAX)) as u64
    }
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    scale: TsScale,
    offset_secs: i64,
}

#[derive(Debug)]
enum Format {
    Pcap {
        big_endian: bool,
        nanosecond: bool,
        link_type: LinkType,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
        /// Timestamp of the last packet, used for simple packet blocks (which have none).
        last_ts: u64,
    },
}

/// Streaming reader for pcap and pcapng. See the module documentation.
pub struct CaptureReader {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// Input offset of `buf[start]`.
    offset: u64,
    eof: bool,
    /// Set after an error: later calls return `Ok(None)`.
    failed: bool,
    format: Format,
    skipped_blocks: u64,
    /// Packet blocks skipped because their content was malformed (unknown interface, body
    /// too short for its captured length); the first one's error.
    bad_packet_blocks: u64,
    first_bad_block: Option<String>,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format())
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

fn u32_at(d: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [d[at], d[at + 1], d[at + 2], d[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

fn u16_at(d: &[u8], at: usize, big_endian: bool) -> u16 {
    let b = [d[at], d[at + 1]];
    if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    }
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

impl CaptureReader {
    /// Open a capture file; `-` reads standard input.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        if path.as_os_str() == "-" {
            return Self::from_read(Box::new(io::stdin()));
        }
        let f = std::fs::File::open(path).map_err(|source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_read(Box::new(f))
    }

    /// Read a capture from any byte stream (no seeking). The format is sniffed from the magic
    /// number; for pcap the file header is read here, for pcapng the first block must be a
    /// section header and is checked on the first [`next_packet`](Self::next_packet).
    pub fn from_read(src: Box<dyn Read + Send>) -> Result<Self, CaptureError> {
        let mut r = CaptureReader {
            src,
            // Grown on demand up to READ_BUFFER_SIZE (see `fill`): a small input never pays
            // for zeroing the whole buffer.
            buf: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            failed: false,
            format: Format::PcapNg {
                big_endian: false,
                interfaces: Vec::new(),
                last_ts: 0,
            },
            skipped_blocks: 0,
            bad_packet_blocks: 0,
            first_bad_block: None,
        };
        if !r.fill(4)? {
            return Err(CaptureError::TooShort {
                len: r.avail() as u64,
            });
        }
        let m = [r.buf[0], r.buf[1], r.buf[2], r.buf[3]];
        match u32::from_be_bytes(m) {
            0xA1B2_C3D4 | 0xD4C3_B2A1 | 0xA1B2_3C4D | 0x4D3C_B2A1 => {
                if !r.fill(24)? {
                    return Err(CaptureError::TooShort {
                        len: r.avail() as u64,
                    });
                }
                let (_, h) =
                    PcapHeader::from_slice(&r.buf[..24]).map_err(|e| CaptureError::Corrupt {
                        offset: 0,
                        what: "pcap file header",
                        detail: e.to_string(),
                    })?;
                r.format = Format::Pcap {
                    big_endian: h.endianness == Endianness::Big,
                    nanosecond: h.ts_resolution == TsResolution::NanoSecond,
                    // The upper bits of the field may carry FCS information (LT_FCS_*).
                    link_type: LinkType(u32::from(h.datalink) & 0xFFFF),
                };
                r.consume(24);
            }
            0xA1B2_CD34 | 0x34CD_B2A1 => {
                return Err(CaptureError::Unsupported {
                    offset: 0,
                    what: "Kuznetzov modified pcap (magic a1b2cd34) is not supported; \
                           convert it with `editcap -F pcap`"
                        .into(),
                })
            }
            SHB => {}
            _ => return Err(CaptureError::UnknownFormat { magic: m }),
        }
        Ok(r)
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        match self.format {
            Format::Pcap {
                big_endian,
                nanosecond,
                ..
            } => CaptureFormat::Pcap {
                nanosecond,
                big_endian,
            },
            Format::PcapNg { .. } => CaptureFormat::PcapNg,
        }
    }

    /// Bytes of input consumed so far (the offset of the next record), for a progress bar.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// pcapng blocks skipped because they carry no packet (statistics, name resolution, ...).
    pub fn skipped_blocks(&self) -> u64 {
        self.skipped_blocks
    }

    /// pcapng packet blocks skipped because their content was malformed (an interface id with
    /// no interface description, a body too short for its captured length), with the first
    /// one's error. The blocks after them are read.
    pub fn bad_packet_blocks(&self) -> (u64, Option<&str>) {
        (self.bad_packet_blocks, self.first_bad_block.as_deref())
    }

    fn avail(&self) -> usize {
        self.end - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Make at least `need` bytes available from `start`. `Ok(false)` at end of input.
    fn fill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.avail() >= need {
            return Ok(true);
        }
        if self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            // Double the buffer (from 8 KiB) each time it runs short, up to READ_BUFFER_SIZE,
            // or to `need` for one larger record.
            let want = (self.buf.len() * 2)
                .clamp(8 << 10, READ_BUFFER_SIZE)
                .max(need);
            if want > self.buf.len() {
                self.buf.resize(want, 0);
            }
        }
        while self.avail() < need && !self.eof {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CaptureError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            }
        }
        Ok(self.avail() >= need)
    }

    /// The next packet, `Ok(None)` at a clean end of input. After an error every later call
    /// returns `Ok(None)`: packets before the damage have been returned, the error says where
    /// and what it is.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let r = match self.format {
            Format::Pcap { .. } => self.next_pcap(),
            Format::PcapNg { .. } => self.next_pcapng(),
        };
        match r {
            Ok(Some((start, len, ts, link_type, orig_len, interface))) => Ok(Some(RawPacket {
                ts: Timestamp(ts),
                link_type,
                data: &self.buf[start..start + len],
                orig_len,
                interface,
            })),
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn truncated(&self, what: &'static str, needed: usize) -> CaptureError {
        CaptureError::Truncated {
            offset: self.offset,
            what,
            needed: needed as u64,
            remain: self.avail() as u64,
        }
    }

    fn corrupt(&self, what: &'static str, detail: String) -> CaptureError {
        CaptureError::Corrupt {
            offset: self.offset,
            what,
            detail,
        }
    }

    #[allow(clippy::type_complexity)]
    fn next_pcap(
        &mut self,
    ) -> Result<Option<(usize, usize, u64, LinkType, u32, u32)>, CaptureError> {
        let Format::Pcap {
            big_endian,
            nanosecond,
            link_type,
        } = self.format
        else {
            return Ok(None);
        };
        if !self.fill(16)? {
            if self.avail() == 0 {
                return Ok(None);
            }
            return Err(self.truncated("packet record header", 16));
        }
        let h = &self.buf[self.start..self.start + 16];
        let sec = u32_at(h, 0, big_endian);
        let frac = u32_at(h, 4, big_endian);
        let incl = u32_at(h, 8, big_endian) as usize;
        let orig_len = u32_at(h, 12, big_endian);
        if incl > MAX_RECORD_LEN {
            return Err(self.corrupt(
                "packet record",
                format!("captured length {incl} exceeds the {MAX_RECORD_LEN}-byte limit"),
            ));
        }
        if !self.fill(16 + incl)? {
            // Sizes of the packet data: what the record header claims, what the input holds.
            return Err(CaptureError::Truncated {
                offset: self.offset,
                what: "packet record",
                needed: incl as u64,
                remain: self.avail() as u64 - 16,
            });
        }
        let frac_ns = if nanosecond {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        // An out-of-range sub-second field (seen in the wild, e.g. 1000000 µs) is clamped to
        // the last nanosecond of its second: carrying it could jump minutes ahead and fire
        // capture-time timeouts downstream.
        let ts = u64::from(sec) * 1_000_000_000 + frac_ns.min(999_999_999);
        let data_start = self.start + 16;
        self.consume(16 + incl);
        Ok(Some((data_start, incl, ts, link_type, orig_len, 0)))
    }

    #[allow(clippy::type_complexity)]
    fn next_pcapng(
        &mut self,
    ) -> Result<Option<(usize, usize, u64, LinkType, u32, u32)>, CaptureError> {
        loop {
            if !self.fill(12)? {
                if self.avail() == 0 {
                    return Ok(None);
                }
                return Err(self.truncated("pcapng block header", 12));
            }
            let Format::PcapNg {
                big_endian: cur_be, ..
            } = self.format
            else {
                return Ok(None);
            };
            let s = self.start;
            let first = self.offset == 0;
            let btype = u32_at(&self.buf, s, cur_be);
            // A section header carries its own byte order: its magic decides how to read the
            // length (and everything up to the next section header).
            let be = if btype == SHB {
                match u32_at(&self.buf, s + 8, true) {
                    0x1A2B_3C4D => true,
                    0x4D3C_2B1A => false,
                    m => {
                        return Err(self.corrupt(
                            "pcapng section header",
                            format!("byte-order magic is {m:08x}, expected 1a2b3c4d"),
                        ))
                    }
                }
            } else {
                if first {
                    return Err(self.corrupt(
                        "pcapng file",
                        format!("first block has type {btype:#x}, expected a section header"),
                    ));
                }
                cur_be
            };
            let len = u32_at(&self.buf, s + 4, be) as usize;
            if len % 4 != 0 || !(12..=MAX_RECORD_LEN).contains(&len) {
                return Err(self.corrupt(
                    "pcapng block",
                    format!(
                        "block type {btype:#x} has total length {len}: must be a multiple \
                         of 4 between 12 and {MAX_RECORD_LEN}"
                    ),
                ));
            }
            if !self.fill(len)? {
                return Err(self.truncated("pcapng block", len));
            }
            let s = self.start;
            let trailer = u32_at(&self.buf, s + len - 4, be) as usize;
            if trailer != len {
                return Err(self.corrupt(
                    "pcapng block",
                    format!(
                        "block type {btype:#x}: leading length {len}, trailing length {trailer}"
                    ),
                ));
            }
            let body = s + 8..s + len - 4;
            match btype {
                SHB => self.section_header(body, be)?,
                IDB => self.interface_description(body, be)?,
                EPB | PB | SPB => match self.packet_block(btype, body, be) {
                    Ok(pkt) => {
                        self.consume(len);
                        return Ok(Some(pkt));
                    }
                    // The block is framed (its length and trailer agree): skip it, count it,
                    // and read on, instead of giving up on the rest of the file.
                    Err(e) => {
                        self.bad_packet_blocks += 1;
                        if self.first_bad_block.is_none() {
                            self.first_bad_block = Some(e.to_string());
                        }
                    }
                },
                _ => {
                    tracing::trace!(offset = self.offset, btype, len, "skipping pcapng block");
                    self.skipped_blocks += 1;
                }
            }
            self.consume(len);
        }
    }

    fn section_header(
        &mut self,
        body: std::ops::Range<usize>,
        be: bool,
    ) -> Result<(), CaptureError> {
        let b = &self.buf[body];
        if b.len() < 16 {
            return Err(self.corrupt(
                "pcapng section header",
                format!("body is {} bytes, expected at least 16", b.len()),
            ));
        }
        let major = u16_at(b, 4, be);
        let minor = u16_at(b, 6, be);
        if major != 1 {
            return Err(CaptureError::Unsupported {
                offset: self.offset,
                what: format!("pcapng section version {major}.{minor} (only 1.x is supported)"),
            });
        }
        self.format = Format::PcapNg {
            big_endian: be,
            interfaces: Vec::new(),
            last_ts: match self.format {
                Format::PcapNg { last_ts, .. } => last_ts,
                Format::Pcap { .. } => 0,
            },
        };
        Ok(())
    }

    fn interface_description(
        &mut self,
        body: std::ops::Range<usize>,
        be: bool,
    ) -> Result<(), CaptureError> {
        let b = &self.buf[body];
        if b.len() < 8 {
            return Err(self.corrupt(
                "pcapng interface description",
                format!("body is {} bytes, expected at least 8", b.len()),
            ));
        }
        let mut iface = Interface {
            link_type: LinkType(u32::from(u16_at(b, 0, be))),
            snaplen: u32_at(b, 4, be),
            scale: TsScale::from_tsresol(6),
            offset_secs: 0,
        };
        // Options: only if_tsresol (9) and if_tsoffset (14) matter here. A malformed option
        // list ends the scan (what was read so far stands) instead of failing the file.
        let mut opts = &b[8..];
        while opts.len() >= 4 {
            let code = u16_at(opts, 0, be);
            let olen = usize::from(u16_at(opts, 2, be));
            let padded = (olen + 3) & !3;
            if code == 0 {
                break;
            }
            if opts.len() < 4 + padded {
                tracing::debug!(
                    offset = self.offset,
                    code,
                    "pcapng interface option runs past its block; ignoring the rest"
                );
                break;
            }
            let v = &opts[4..4 + olen];
            match (code, olen) {
                (9, 1) => iface.scale = TsScale::from_tsresol(v[0]),
                (14, 8) => {
                    let hi = u32_at(v, 0, be);
                    let lo = u32_at(v, 4, be);
                    let raw = if be {
                        (u64::from(hi) << 32) | u64::from(lo)
                    } else {
                        (u64::from(lo) << 32) | u64::from(hi)
                    };
                    iface.offset_secs = raw as i64;
                }
                _ => {}
            }
            opts = &opts[4 + padded..];
        }
        if let Format::PcapNg { interfaces, .. } = &mut self.format {
            interfaces.push(iface);
        }
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn packet_block(
        &mut self,
        btype: u32,
        body: std::ops::Range<usize>,
        be: bool,
    ) -> Result<(usize, usize, u64, LinkType, u32, u32), CaptureError> {
        let (what, hdr) = match btype {
            EPB => ("pcapng enhanced packet block", 20),
            PB => ("pcapng packet block", 20),
            _ => ("pcapng simple packet block", 4),
        };
        let b = &self.buf[body.clone()];
        if b.len() < hdr {
            return Err(self.corrupt(
                what,
                format!("body is {} bytes, expected at least {hdr}", b.len()),
            ));
        }
        let Format::PcapNg {
            interfaces,
            last_ts,
            ..
        } = &mut self.format
        else {
            return Err(CaptureError::Corrupt {
                offset: self.offset,
                what,
                detail: "not in a pcapng section".into(),
            });
        };
        let (iface_id, units, caplen, orig_len) = match btype {
            EPB => (
                u32_at(b, 0, be),
                Some((u64::from(u32_at(b, 4, be)) << 32) | u64::from(u32_at(b, 8, be))),
                u32_at(b, 12, be) as usize,
                u32_at(b, 16, be),
            ),
            PB => (
                u32::from(u16_at(b, 0, be)),
                Some((u64::from(u32_at(b, 4, be)) << 32) | u64::from(u32_at(b, 8, be))),
                u32_at(b, 12, be) as usize,
                u32_at(b, 16, be),
            ),
            _ => {
                // Simple packet block: captured length is min(original length, snaplen of
                // interface 0, what the block holds).
                let orig = u32_at(b, 0, be);
                let snap = interfaces.first().map_or(0, |i| i.snaplen);
                let mut cap = (orig as usize).min(b.len() - 4);
                if snap != 0 {
                    cap = cap.min(snap as usize);
                }
                (0, None, cap, orig)
            }
        };
        let Some(iface) = interfaces.get(iface_id as usize).copied() else {
            let n = interfaces.len();
            return Err(CaptureError::Corrupt {
                offset: self.offset,
                what,
                detail: format!(
                    "packet for interface {iface_id}, but the section declares {n} interface(s)"
                ),
            });
        };
        if caplen > b.len() - hdr {
            return Err(CaptureError::Corrupt {
                offset: self.offset,
                what,
                detail: format!(
                    "captured length {caplen} exceeds the {} bytes the block holds",
                    b.len() - hdr
                ),
            });
        }
        let ts = match units {
            Some(u) => iface.scale.to_nanos(u, iface.offset_secs),
            None => *last_ts,
        };
        *last_ts = ts;
        Ok((
            body.start + hdr,
            caplen,
            ts,
            iface.link_type,
            orig_len,
            iface_id,
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// Build a classic pcap file from `(sec, frac, data)` records.
    pub(crate) fn pcap_file(
        big_endian: bool,
        nanos: bool,
        link: u32,
        pkts: &[(u32, u32, &[u8])],
    ) -> Vec<u8> {
        let w32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let w16 = |v: &mut Vec<u8>, x: u16| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let mut v = Vec::new();
        w32(&mut v, if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 });
        w16(&mut v, 2);
        w16(&mut v, 4);
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, 65535);
        w32(&mut v, link);
        for (s, f, d) in pkts {
            w32(&mut v, *s);
            w32(&mut v, *f);
            w32(&mut v, d.len() as u32);
            w32(&mut v, d.len() as u32);
            v.extend_from_slice(d);
        }
        v
    }

    fn reader(bytes: Vec<u8>) -> CaptureReader {
        CaptureReader::from_read(Box::new(Cursor::new(bytes))).unwrap()
    }

    #[test]
    fn pcap_all_magics() {
        for be in [false, true] {
            for ns in [false, true] {
                let f = pcap_file(be, ns, 1, &[(10, 5, b"abc"), (11, 7, b"")]);
                let total = f.len() as u64;
                let mut r = reader(f);
                assert_eq!(
                    r.format(),
                    CaptureFormat::Pcap {
                        nanosecond: ns,
                        big_endian: be
                    }
                );
                let p = r.next_packet().unwrap().unwrap();
                let mult = if ns { 1 } else { 1000 };
                assert_eq!(p.ts, Timestamp(10_000_000_000 + 5 * mult));
                assert_eq!(p.data, b"abc");
                assert_eq!(p.link_type, LinkType::ETHERNET);
                let p = r.next_packet().unwrap().unwrap();
                assert_eq!(p.data, b"");
                assert!(r.next_packet().unwrap().is_none());
                assert_eq!(r.bytes_read(), total);
            }
        }
    }

    #[test]
    fn truncated_record_reports_offset_and_sizes() {
        let mut f = pcap_file(
            false,
            false,
            1,
            &[(1, 0, &[7u8; 100]), (2, 0, &[8u8; 1514])],
        );
        f.truncate(24 + 116 + 16 + 200);
        let mut r = reader(f);
        assert_eq!(r.next_packet().unwrap().unwrap().data.len(), 100);
        let e = r.next_packet().unwrap_err();
        assert_eq!(
            e.to_string(),
            "truncated packet record at offset 140: header says 1514 bytes, 200 remain"
        );
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn reader_and_decoder_are_send() {
        fn send<T: Send>() {}
        send::<CaptureReader>();
        send::<crate::Decoder>();
    }

    #[test]
    fn bad_inputs() {
        let e = CaptureReader::from_read(Box::new(Cursor::new(vec![]))).unwrap_err();
        assert!(matches!(e, CaptureError::TooShort { len: 0 }), "{e}");
        let e = CaptureReader::from_read(Box::new(Cursor::new(b"GET / HTTP/1.1".to_vec())))
            .unwrap_err();
        assert!(matches!(e, CaptureError::UnknownFormat { .. }), "{e}");
        let e = CaptureReader::from_read(Box::new(Cursor::new(vec![0xa1, 0xb2, 0xcd, 0x34, 0])))
            .unwrap_err();
        assert!(matches!(e, CaptureError::Unsupported { .. }), "{e}");
        let mut f = pcap_file(false, false, 1, &[]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let e = reader(f).next_packet().unwrap_err();
        assert!(matches!(e, CaptureError::Corrupt { offset: 24, .. }), "{e}");
    }

    /// A pcapng builder: blocks in one byte order.
    pub(crate) struct Ng {
        pub(crate) v: Vec<u8>,
        be: bool,
    }

    impl Ng {
        pub(crate) fn new(be: bool) -> Ng {
            let mut n = Ng { v: Vec::new(), be };
            n.shb(be, 1);
            n
        }
        fn w32(&self, v: &mut Vec<u8>, x: u32) {
            v.extend_from_slice(&if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        fn w16(&self, v: &mut Vec<u8>, x: u16) {
            v.extend_from_slice(&if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        pub(crate) fn block(&mut self, t: u32, body: &[u8]) {
            let mut body = body.to_vec();
            while body.len() % 4 != 0 {
                body.push(0);
            }
            let len = body.len() as u32 + 12;
            let mut v = Vec::new();
            self.w32(&mut v, t);
            self.w32(&mut v, len);
            v.extend_from_slice(&body);
            self.w32(&mut v, len);
            self.v.extend_from_slice(&v);
        }
        pub(crate) fn shb(&mut self, be: bool, major: u16) {
            self.be = be;
            let mut b = Vec::new();
            self.w32(&mut b, 0x1A2B_3C4D);
            self.w16(&mut b, major);
            self.w16(&mut b, 0);
            b.extend_from_slice(&[0xff; 8]);
            self.block(SHB, &b);
        }
        pub(crate) fn idb(&mut self, link: u16, tsresol: Option<u8>) {
            let mut b = Vec::new();
            self.w16(&mut b, link);
            self.w16(&mut b, 0);
            self.w32(&mut b, 0);
            // An if_tzone option (pcap-file 2.0 chokes on it) before if_tsresol.
            self.w16(&mut b, 10);
            self.w16(&mut b, 4);
            b.extend_from_slice(&[0; 4]);
            if let Some(r) = tsresol {
                self.w16(&mut b, 9);
                self.w16(&mut b, 1);
                b.extend_from_slice(&[r, 0, 0, 0]);
            }
            self.block(IDB, &b);
        }
        pub(crate) fn epb(&mut self, iface: u32, units: u64, data: &[u8]) {
            let mut b = Vec::new();
            self.w32(&mut b, iface);
            self.w32(&mut b, (units >> 32) as u32);
            self.w32(&mut b, units as u32);
            self.w32(&mut b, data.len() as u32);
            self.w32(&mut b, data.len() as u32);
            b.extend_from_slice(data);
            self.block(EPB, &b);
        }
    }

    #[test]
    fn pcapng_interfaces_resolutions_sections() {
        let mut ng = Ng::new(false);
        ng.idb(1, None); // microseconds
        ng.idb(101, Some(9)); // nanoseconds
        ng.idb(113, Some(0x80 | 10)); // 2^-10 s
        ng.block(5, &[0; 20]); // interface statistics: skipped
        ng.epb(0, 1_500_000, b"a");
        ng.epb(1, 1_500_000_123, b"bb");
        ng.epb(2, 3 * 1024 + 512, b"ccc");
        ng.block(0x0BAD, &[1, 2, 3]); // custom/unknown: skipped
        ng.shb(true, 1); // new section, big-endian, interfaces reset
        ng.idb(229, Some(3));
        ng.epb(0, 2500, b"dddd");
        let mut r = reader(ng.v);
        assert_eq!(r.format(), CaptureFormat::PcapNg);
        let want: [(u64, LinkType, &[u8], u32); 4] = [
            (1_500_000_000, LinkType::ETHERNET, b"a", 0),
            (1_500_000_123, LinkType::RAW, b"bb", 1),
            (3_500_000_000, LinkType::LINUX_SLL, b"ccc", 2),
            (2_500_000_000, LinkType::IPV6, b"dddd", 0),
        ];
        for (ts, lt, d, i) in want {
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(
                (p.ts, p.link_type, p.data, p.interface),
                (Timestamp(ts), lt, d, i)
            );
        }
        assert!(r.next_packet().unwrap().is_none());
        assert_eq!(r.skipped_blocks(), 2);
    }

    #[test]
    fn pcapng_errors() {
        // A packet block naming an interface that does not exist is skipped and counted; the
        // packets after it are read.
        let mut ng = Ng::new(false);
        ng.idb(1, None);
        ng.epb(3, 0, b"x");
        ng.epb(0, 7, b"after");
        let mut r = reader(ng.v);
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(p.data, b"after");
        assert!(r.next_packet().unwrap().is_none());
        let (n, first) = r.bad_packet_blocks();
        assert_eq!(n, 1);
        assert!(first.unwrap().contains("interface 3"), "{first:?}");
        let errs = PacketSource::errors(&r);
        assert!(
            errs[0].contains("1 malformed pcapng packet block"),
            "{errs:?}"
        );

        let mut ng = Ng::new(false);
        ng.v.clear();
        ng.shb(false, 2);
        let e = reader(ng.v).next_packet().unwrap_err();
        assert!(
            matches!(e, CaptureError::Unsupported { offset: 0, .. }),
            "{e}"
        );

        let mut ng = Ng::new(false);
        ng.idb(1, None);
        ng.epb(0, 0, &[1; 64]);
        let cut = ng.v.len() - 10;
        ng.v.truncate(cut);
        let mut r = reader(ng.v);
        let e = r.next_packet().unwrap_err();
        assert!(
            matches!(
                e,
                CaptureError::Truncated {
                    needed: 96,
                    remain: 86,
                    ..
                }
            ),
            "{e}"
        );
    }

    proptest::proptest! {
        /// Random bytes behind each magic number: never a panic, and reading always ends.
        #[test]
        fn random_bytes_after_magic_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            kind in 0usize..3,
        ) {
            let mut f = match kind {
                0 => pcap_file(false, false, 1, &[]),
                1 => pcap_file(true, true, 1, &[]),
                _ => Ng::new(false).v,
            };
            f.extend_from_slice(&body);
            let mut r = reader(f);
            for _ in 0..1000 {
                match r.next_packet() {
                    Ok(Some(p)) => proptest::prop_assert!(p.data.len() <= 600),
                    Ok(None) | Err(_) => break,
                }
            }
        }

        /// Every prefix of a valid pcapng file yields the packets whose blocks are complete,
        /// then either a clean end (at a block boundary) or a `Truncated` error.
        #[test]
        fn pcapng_prefixes(cut in 0usize..400) {
            let mut ng = Ng::new(true);
            ng.idb(1, Some(9));
            for i in 0..4u8 {
                ng.epb(0, u64::from(i), &vec![i; 20 + usize::from(i)]);
            }
            let cut = cut.min(ng.v.len());
            let mut v = ng.v;
            v.truncate(cut);
            let Ok(mut r) = CaptureReader::from_read(Box::new(Cursor::new(v))) else {
                proptest::prop_assert!(cut < 4);
                return Ok(());
            };
            let mut n = 0u8;
            loop {
                match r.next_packet() {
                    Ok(Some(p)) => {
                        proptest::prop_assert_eq!(p.data, &vec![n; 20 + usize::from(n)][..]);
                        n += 1;
                    }
                    Ok(None) => {
                        proptest::prop_assert_eq!(r.bytes_read(), cut as u64);
                        break;
                    }
                    Err(e) => {
                        proptest::prop_assert!(matches!(e, CaptureError::Truncated { .. }), "{}", e);
                        break;
                    }
                }
            }
        }
    }

    /// A reader that hands out one byte at a time, like a slow pipe.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || b.is_empty() {
                return Ok(0);
            }
            b[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn short_reads_and_large_records() {
        let big = vec![9u8; READ_BUFFER_SIZE + 100];
        let f = pcap_file(
            false,
            false,
            1,
            &[(1, 0, b"xy"), (2, 0, &big), (3, 0, b"z")],
        );
        let mut r = CaptureReader::from_read(Box::new(Trickle(f, 0))).unwrap();
        assert_eq!(r.next_packet().unwrap().unwrap().data, b"xy");
        assert_eq!(r.next_packet().unwrap().unwrap().data.len(), big.len());
        assert_eq!(r.next_packet().unwrap().unwrap().data, b"z");
        assert!(r.next_packet().unwrap().is_none());
    }
}
