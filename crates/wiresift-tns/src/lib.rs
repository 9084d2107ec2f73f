//! Oracle TNS for wiresift: the TNS packet layer (versions 308–319, with the length width each
//! connection negotiated), the connect phase, and TTC calls with their SQL text, ORA errors and
//! row counts.
//!
//! # Output
//! - `CONNECT`: one transaction per CONNECT packet, `response.type` = `ACCEPT`, `REFUSE`,
//!   `REDIRECT` or `RESEND`; `request` holds the versions, SDU/TDU (the 32-bit fields from 315
//!   on) and the parsed connect data (SERVICE_NAME, SID, INSTANCE_NAME, SERVER, CID PROGRAM /
//!   HOST / USER, ADDRESS). A REFUSE's `(ERR=nnnnn)` is `ora_code` and makes the status
//!   `error`. A CONNECT answered by RESEND is one transaction and the CONNECT sent again is
//!   another.
//! - One transaction per TTC client call and its reply: `command` is `AUTH` (both phases;
//!   `request.user`, never a password, session key or verifier), `EXECUTE` (OALL8, and the
//!   older OALL7/OALL, wire name in `request.function`), `FETCH`, `COMMIT`, `ROLLBACK`,
//!   `LOGOFF`, `PING`, `VERSION`, … or `FUNCTION_<n>` for an unknown function code; the
//!   negotiation messages are `PROTOCOL`, `DATA_TYPES` and `ANO`.
//! - `query` is the SQL text (re-executes and fetches take it from the per-connection,
//!   bounded cursor map), `fingerprint` the shared [`wiresift_core::fingerprint()`] of it;
//!   `request` has the bind count, cursor id and piggybacked calls; `response` holds
//!   `ora_code`, `rows`, `cursor` and the BREAK/RESET `markers`. `status` is
//!   `error` for ORA errors other than ORA-01403 (end of fetch), with `error` =
//!   `ORA-nnnnn: message`.
//! - A call whose layout is not understood is still reported: its function code, its first
//!   bytes (`request.bytes_hex`) and a note. No SQL text is ever reported unless its length
//!   prefix matched exactly and it reads as SQL.
//! - One-sided captures: with only the client side, every call is reported with its detail
//!   and `no_response` (calls are told apart by their call headers); with only the server
//!   side, every reply is reported with its detail and `no_request` (replies end at their
//!   end-of-call message).
//! - At close, a `tns_summary` message per connection: packets by type and direction,
//!   the version, the length width and how it was decided, the TTC integer representation,
//!   skipped and out-of-band bytes.
//!
//! # Length width
//! See [`packet`]: from the negotiated version, never guessed per packet; for connections
//! picked up mid-stream, from which width makes consecutive headers chain.
//!
//! # TTC shapes
//! The TTC field version is taken from the negotiation (the server's PROTOCOL reply and the
//! client's DATA_TYPES, [`ttc::protocol_field_version`], [`ttc::data_types_field_version`]):
//! from 18 (23.1 EXT1) calls carry a token, from 14 (20.1) the ERROR message has two more
//! fields. The integer representation (fixed little-endian for OCI clients, compressed for the
//! thin drivers) is fixed from the first call whose fields read consistently one way only. On a
//! connection picked up mid-stream the token's presence is decided by an EXECUTE (its SQL
//! length field must equal the SQL found) or a FETCH (only one reading ends at the call's end);
//! until then a FETCH's cursor id is not read.
//!
//! # Session state, request timer and accounting
//! `state_bytes` is the pending call (its kept request bytes and response tail), the cursor →
//! SQL and cursor → rows maps, the kept packet head/tail and the carry-over. `shed(limit)`
//! drops cursor map entries oldest first (counted in `cursors_evicted`: a later FETCH on such a
//! cursor is reported without SQL, as for one opened before the capture), then the cached
//! fingerprint, then reports the waiting call early (`no_response`, `shed` note). The timer
//! reports a call with no reply after `request_timeout` (capture time) as `no_response` with a
//! `request_timeout` note. Either way a marker takes the call's place: its reply, when it comes
//! (a long-running statement), is counted (`late_replies`, `late_max_us` in `tns_summary`) and
//! reported as a `late_reply` message with its latency, never paired with the next call; a
//! packet continuing the reported call is absorbed by the marker (`shed(0)`, the engine's last
//! resort, drops the marker too, reports a call whose reply is being received as `partial`
//! and drops the partial packets, counted as skipped: it leaves 0). `accounting()`: whole
//! packets framed (and the OOB byte) are `parsed`, a packet being read is `held`, bytes skipped
//! while out of sync or cut by a gap / the close are `skipped`, bytes after native encryption
//! started are `undissected`.
//!
//! # Not done (yet)
//! - Native network encryption: detected from the server's ANO reply and counted
//!   (`encrypted_bytes`), not decoded; no capture with encryption on was available to test it.
//! - LOB operations, AQ and DRCP session calls are reported by function code only.
//! - OCI (fixed representation) replies: the row count comes from the ERROR message located by
//!   checked fields near the end of the reply; 9i-era replies are not decoded (no rows).
//! - A SQL text larger than [`TnsConfig::max_request`] is not reported (notes say why).
//! - A call whose reply has started is never shed (its kept request, ≤ 64 KiB, stays until the
//!   reply ends).
//! - A CONNECT the listener does not answer within `request_timeout` is reported like a call
//!   (`no_response`, `request_timeout` note); an ACCEPT, REFUSE or REDIRECT that still comes is
//!   a late reply, and what an ACCEPT negotiates (version, length width, SDU) still applies.
//!   A REDIRECT whose data follows in a separate packet is not read in that case.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod descriptor;
pub mod event;
pub mod packet;
pub mod session;
pub mod ttc;

pub use event::{TnsRequest, TnsResponse};
pub use session::{TnsConfig, TnsSession};

use wiresift_core::{ConnectionInfo, Direction, ProbeResult, ProtocolSession, TcpProtocolPlugin};

/// Plugin name, used as the transactions' `protocol`.
pub const PROTOCOL: &str = "tns";

/// The TNS plugin.
#[derive(Debug, Clone, Default)]
pub struct TnsPlugin {
    cfg: TnsConfig,
}

impl TnsPlugin {
    /// With default budgets.
    pub fn new() -> Self {
        Self::default()
    }
    /// With explicit budgets.
    pub fn with_config(cfg: TnsConfig) -> Self {
        TnsPlugin { cfg }
    }
}

impl TcpProtocolPlugin for TnsPlugin {
    fn name(&self) -> &'static str {
        PROTOCOL
    }

    /// 1521 (listener) and 1522 (common second listener).
    fn default_ports(&self) -> &'static [u16] {
        &[1521, 1522]
    }

    /// A client's first packet is a CONNECT with a version in 300..=330 and a connect data
    /// offset inside the packet; a server's first packet an ACCEPT/REFUSE/REDIRECT/RESEND.
    fn probe(&self, dir: Direction, d: &[u8]) -> ProbeResult {
        if d.len() < 10 {
            return ProbeResult::NeedMore;
        }
        let len = packet::be16(d, 0);
        let t = d[4];
        if len < 8 || d[6] != 0 || d[7] != 0 {
            return ProbeResult::NoMatch;
        }
        let v = packet::be16(d, 8);
        match (dir, t) {
            (Direction::ClientToServer, packet::ptype::CONNECT) => {
                if (300..=330).contains(&v) && len >= 34 {
                    ProbeResult::Match
                } else {
                    ProbeResult::NoMatch
                }
            }
            (Direction::ServerToClient, packet::ptype::ACCEPT) if (300..=330).contains(&v) => {
                ProbeResult::Match
            }
            (
                Direction::ServerToClient,
                packet::ptype::REFUSE | packet::ptype::REDIRECT | packet::ptype::RESEND,
            ) if usize::from(len) <= 4096 => ProbeResult::Match,
            // Mid-stream: a DATA packet carrying a TTC call (client) or reply (server).
            (Direction::ClientToServer, packet::ptype::DATA)
                if d.len() >= 12
                    && matches!(d[10], ttc::msg::FUNCTION | ttc::msg::PIGGYBACK)
                    && ttc::func_name(d[11]).is_some() =>
            {
                ProbeResult::Match
            }
            _ => ProbeResult::NoMatch,
        }
    }

    fn new_session(&self, conn: &ConnectionInfo) -> Box<dyn ProtocolSession> {
        Box::new(TnsSession::new(conn, self.cfg.clone()))
    }
}
