//! Primitive types shared by every layer.

use serde::{Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A capture timestamp: nanoseconds since the Unix epoch, as written in the capture file.
///
/// Time in wiresift is always capture time; nothing reads the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

/// A span of capture time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Timestamp {
    /// Build from seconds and nanoseconds (saturating).
    pub fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(u64::from(nanos)),
        )
    }
    /// Seconds part.
    pub fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    /// Sub-second nanoseconds part.
    pub fn subsec_nanos(self) -> u32 {
        (self.0 % 1_000_000_000) as u32
    }
    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later (time never runs
    /// backwards in wiresift's output, even when the capture's timestamps do).
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }
}

impl Duration {
    /// From microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Duration(us.saturating_mul(1_000))
    }
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1_000_000))
    }
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000_000_000))
    }
    /// Whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0 / 1_000
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.secs(), self.subsec_nanos() / 1_000)
    }
}

impl Timestamp {
    /// The serialised form, fractional seconds with microsecond precision
    /// (`1700000000.123456`), in `buf`: returns the slice written (ASCII digits and `.`).
    fn decimal(self, buf: &mut [u8; 32]) -> &[u8] {
        let mut end = buf.len();
        let mut frac = self.subsec_nanos() / 1_000;
        for _ in 0..6 {
            end -= 1;
            buf[end] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        end -= 1;
        buf[end] = b'.';
        let mut secs = self.secs();
        loop {
            end -= 1;
            buf[end] = b'0' + (secs % 10) as u8;
            secs /= 10;
            if secs == 0 {
                break;
            }
        }
        &buf[end..]
    }

    /// Append the serialised form (`1700000000.123456`, without quotes) to `out`: for
    /// hand-written JSON writers.
    pub fn push_decimal(self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 32];
        out.extend_from_slice(self.decimal(&mut buf));
    }
}

/// Serialised as fractional seconds with microsecond precision (`1700000000.123456`).
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Formatted by hand into a stack buffer: this runs for every output record.
        let mut buf = [0u8; 32];
        // Only ASCII digits and '.' were written.
        s.serialize_str(std::str::from_utf8(self.decimal(&mut buf)).unwrap_or_default())
    }
}

/// Append the decimal digits of `n` to `buf` at `at`; returns the new end.
fn put_dec(buf: &mut [u8], mut at: usize, n: u32) -> usize {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &tmp[i..] {
        buf[at] = d;
        at += 1;
    }
    at
}

/// Which way bytes travel on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client (connection initiator) to the server.
    ClientToServer = 0,
    /// From the server to the client.
    ServerToClient = 1,
}

impl Direction {
    /// Index for `[T; 2]` per-direction arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
    /// The opposite direction.
    #[inline]
    pub const fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
    /// Both directions, client first.
    pub const BOTH: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];
    /// Short name: `c2s` / `s2c`.
    pub const fn short(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }
}

/// An IP address and TCP port. Displays as `ip:port` or `[v6]:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint(pub SocketAddr);

/// `0.0.0.0:0` (for tests and [`crate::ConnectionInfo::default`]).
impl Default for Endpoint {
    fn default() -> Self {
        Endpoint(SocketAddr::from(([0, 0, 0, 0], 0)))
    }
}

impl Endpoint {
    /// Build from an address and a port.
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint(SocketAddr::new(ip, port))
    }
    /// The port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }
    /// The address.
    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SocketAddr's Display is exactly `ip:port` / `[v6]:port`.
        fmt::Display::fmt(&self.0, f)
    }
}

impl Endpoint {
    /// IPv4 `ip:port` by hand into a stack buffer (every record has two endpoints; `Display`
    /// through the formatter machinery measured ~8% of `dissect`). Returns the length written.
    fn v4_text(a: &std::net::SocketAddrV4, buf: &mut [u8; 21]) -> usize {
        let mut at = 0;
        for (i, o) in a.ip().octets().iter().enumerate() {
            if i > 0 {
                buf[at] = b'.';
                at += 1;
            }
            at = put_dec(buf, at, u32::from(*o));
        }
        buf[at] = b':';
        put_dec(buf, at + 1, u32::from(a.port()))
    }

    /// Append `ip:port` / `[v6]:port` (as `Display` and `Serialize` write it, without quotes)
    /// to `out`: for hand-written JSON writers (the text never needs JSON escaping).
    pub fn push_text(&self, out: &mut Vec<u8>) {
        match &self.0 {
            SocketAddr::V4(a) => {
                let mut buf = [0u8; 21]; // 255.255.255.255:65535
                let n = Self::v4_text(a, &mut buf);
                out.extend_from_slice(&buf[..n]);
            }
            SocketAddr::V6(a) => {
                use std::io::Write;
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{a}");
            }
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            SocketAddr::V4(a) => {
                let mut buf = [0u8; 21]; // 255.255.255.255:65535
                let n = Self::v4_text(a, &mut buf);
                s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default())
            }
            SocketAddr::V6(_) => s.collect_str(self),
        }
    }
}

/// Identifier of one TCP connection within a run. A reused 4-tuple gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Both sides sent FIN (and the data before them was delivered or declared a gap).
    Fin,
    /// A RST was seen.
    Rst,
    /// No packet for longer than the idle timeout (capture time).
    IdleTimeout,
    /// Evicted to respect the connection-count or memory budget.
    Evicted,
    /// The capture ended with the connection still open.
    EndOfCapture,
    /// A new SYN reused the 4-tuple of a connection that had not finished closing.
    PortReuse,
}

impl CloseReason {
    /// Stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::Fin => "fin",
            CloseReason::Rst => "rst",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Evicted => "evicted",
            CloseReason::EndOfCapture => "end_of_capture",
            CloseReason::PortReuse => "port_reuse",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_display_v4_v6() {
        let v4 = Endpoint::new("10.0.0.1".parse().unwrap(), 6379);
        assert_eq!(v4.to_string(), "10.0.0.1:6379");
        let v6 = Endpoint::new("::1".parse().unwrap(), 25);
        assert_eq!(v6.to_string(), "[::1]:25");
    }

    #[test]
    fn serialised_forms_match_display() {
        for e in [
            "10.0.0.1:6379",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:25",
        ] {
            let ep = Endpoint(e.parse().unwrap());
            assert_eq!(serde_json::to_string(&ep).unwrap(), format!("\"{e}\""));
        }
        for t in [0u64, 999, 1_500_123_456, 1_795_328_536_632_860_123] {
            let ts = Timestamp(t);
            assert_eq!(serde_json::to_string(&ts).unwrap(), format!("\"{ts}\""));
        }
    }

    #[test]
    fn timestamp_never_negative() {
        let a = Timestamp(5_000);
        let b = Timestamp(9_000);
        assert_eq!(b.saturating_since(a), Duration(4_000));
        assert_eq!(a.saturating_since(b), Duration(0));
        assert_eq!(Timestamp::from_secs_nanos(2, 5).to_string(), "2.000000");
        assert_eq!(Timestamp(1_500_123_456).to_string(), "1.500123");
    }
}
