//! Public shapes of the RESP-specific parts of events.
//!
//! Transactions carry a typed [`RespDetail`]: a [`RequestDetail`] and a [`ResponseDetail`]
//! (`tx.detail_as::<RespDetail>()`), serialised as:
//! - `request`: `{"args": ["SET", "k", "v"]}`: every element including the command name, as
//!   JSON strings (valid UTF-8 as is, a backslash as `\\`, other bytes as `\xNN`: the
//!   escaping rule of [`wiresift_core::text`], so byte 0xbc and the text `\xbc` differ), each cut to
//!   [`crate::Config::max_arg_bytes`]. When an argument was cut, or there were more than
//!   [`crate::Config::max_args`] arguments, `"arg_lengths"` gives each shown argument's full
//!   length (null for redacted ones) and `"argc"` the full count; each cut argument also gets a
//!   `Truncated { field: "arg", len }` note. Secrets (`AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH /
//!   AUTH2`, `CONFIG SET requirepass|masterauth`, `ACL SETUSER >pass`) are replaced by
//!   [`REDACTED`] in `args` and `query`.
//! - `response`: [`ResponseDetail`]: `{"type": "bulk_string", "value": …}` plus, when relevant,
//!   `"len"` (full length of a string / element count of an aggregate), `"attributes"` (a RESP3
//!   `|` attribute that preceded the reply) and `"error"` ([`ErrorDetail`]).
//!
//! Messages (never paired) have kind [`KIND_PUSH`] (pub/sub deliveries, RESP3 `>` pushes such
//! as client-tracking `invalidate`), [`KIND_REPLICATION`] (the master's command stream, the
//! replica's `REPLCONF ACK`, the RDB transfer) or [`KIND_MONITOR`] (MONITOR output lines; detail
//! is a [`MonitorLine`]).

use serde::Serialize;

/// Replacement text for secrets.
pub const REDACTED: &str = "(redacted)";
/// Message kind of pub/sub deliveries and RESP3 pushes.
pub const KIND_PUSH: &str = "push";
/// Message kind of the replication stream.
pub const KIND_REPLICATION: &str = "replication";
/// Message kind of MONITOR output.
pub const KIND_MONITOR: &str = "monitor";

/// The detail of every RESP transaction (`tx.detail_as::<RespDetail>()`).
pub type RespDetail = wiresift_core::ReqResp<RequestDetail, ResponseDetail>;

/// The `request` detail of a transaction (and of a replication-stream command).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestDetail {
    /// Every element including the command name: valid UTF-8 as is, a backslash as `\\`, other
    /// bytes as `\xNN` ([`wiresift_core::text`]),
    /// each cut to [`crate::Config::max_arg_bytes`]; secrets replaced by [`REDACTED`].
    pub args: Vec<String>,
    /// When an argument was cut or arguments were dropped: each shown argument's full length
    /// (`None` for redacted ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arg_lengths: Option<Vec<Option<u64>>>,
    /// With `arg_lengths`: the full number of elements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argc: Option<u64>,
}

/// The `response` detail of a transaction, and the detail of a [`KIND_PUSH`] message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseDetail {
    /// `simple_string`, `error`, `integer`, `bulk_string`, `null`, `array`, `map`, `set`,
    /// `push`, `boolean`, `double`, `big_number`, `verbatim_string`, `blob_error`, `unknown`;
    /// `rdb` for the RDB payload that answers a SYNC/PSYNC (value null), and `confirmations`
    /// for the subscription confirmations that answer one (P|S)SUBSCRIBE (value: their array).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Bounded copy of the value; see [`crate::RespValue`] for its JSON rendering.
    pub value: crate::RespValue,
    /// Full length of a string or element count of an aggregate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// RESP3 attributes sent before the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<crate::RespValue>,
    /// Decoded error, when the reply is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl wiresift_core::MsgPayload for ResponseDetail {}

/// Detail of a [`KIND_REPLICATION`] message carrying a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicationCommand {
    /// Command name.
    pub command: String,
    /// Its arguments.
    pub request: Option<RequestDetail>,
}

impl wiresift_core::MsgPayload for ReplicationCommand {}

/// Detail of the [`KIND_REPLICATION`] message of an RDB transfer not paired with a SYNC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RdbTransfer {
    /// Always `"rdb"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Payload length.
    pub len: u64,
}

impl wiresift_core::MsgPayload for RdbTransfer {}
impl wiresift_core::MsgPayload for MonitorLine {}

/// A decoded error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// The first word when it is upper-case (`ERR`, `WRONGTYPE`, `MOVED`, `NOAUTH`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Hash slot of a `MOVED` / `ASK` redirection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u16>,
    /// Target `host:port` of a `MOVED` / `ASK` redirection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl ErrorDetail {
    /// Decode an error text such as `MOVED 3999 127.0.0.1:6381`.
    pub fn parse(text: &str) -> ErrorDetail {
        let mut words = text.split(' ');
        let first = words.next().unwrap_or("");
        let prefix = (!first.is_empty()
            && first
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'))
        .then(|| first.to_string());
        let (mut slot, mut address) = (None, None);
        if matches!(first, "MOVED" | "ASK") {
            slot = words.next().and_then(|s| s.parse().ok());
            address = words.next().map(str::to_string);
        }
        ErrorDetail {
            prefix,
            slot,
            address,
        }
    }
}

/// One line of MONITOR output: `1700000000.123456 [0 127.0.0.1:5555] "SET" "k" "v"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorLine {
    /// The server's timestamp text.
    pub time: String,
    /// Database number.
    pub db: Option<u32>,
    /// Client address (`ip:port`, `unix:/path`, `lua`).
    pub client: String,
    /// The command's arguments, unquoted.
    pub args: Vec<String>,
}

impl MonitorLine {
    /// Parse a MONITOR line; `None` when it does not have the MONITOR shape.
    pub fn parse(line: &[u8]) -> Option<MonitorLine> {
        let sp = line.iter().position(|&b| b == b' ')?;
        let time = &line[..sp];
        if time.is_empty() || !time.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return None;
        }
        let rest = line[sp + 1..].strip_prefix(b"[")?;
        let close = rest.iter().position(|&b| b == b']')?;
        let inside = std::str::from_utf8(&rest[..close]).ok()?;
        let (db, client) = match inside.split_once(' ') {
            Some((d, c)) => (d.parse().ok(), c.to_string()),
            None => (None, inside.to_string()),
        };
        let args = crate::parser::split_inline(&rest[close + 1..])
            .unwrap_or_default()
            .iter()
            .map(|a| crate::summary::bytes_json(a))
            .collect();
        Some(MonitorLine {
            time: String::from_utf8_lossy(time).into_owned(),
            db,
            client,
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_prefixes_and_redirections() {
        let e = ErrorDetail::parse("MOVED 3999 127.0.0.1:6381");
        assert_eq!(e.prefix.as_deref(), Some("MOVED"));
        assert_eq!(e.slot, Some(3999));
        assert_eq!(e.address.as_deref(), Some("127.0.0.1:6381"));
        let e = ErrorDetail::parse("ASK 12 [::1]:7000");
        assert_eq!(
            (e.slot, e.address.as_deref()),
            (Some(12), Some("[::1]:7000"))
        );
        let e = ErrorDetail::parse("WRONGTYPE Operation against a key");
        assert_eq!(e.prefix.as_deref(), Some("WRONGTYPE"));
        assert_eq!(e.slot, None);
        assert_eq!(ErrorDetail::parse("oops lower").prefix, None);
    }

    #[test]
    fn monitor_lines() {
        let m = MonitorLine::parse(br#"1700000000.123456 [0 127.0.0.1:5555] "SET" "k" "a b\"""#)
            .unwrap();
        assert_eq!(m.time, "1700000000.123456");
        assert_eq!(m.db, Some(0));
        assert_eq!(m.client, "127.0.0.1:5555");
        assert_eq!(m.args, vec!["SET", "k", "a b\""]);
        let m = MonitorLine::parse(br#"1.5 [lua] "GET" "x""#).unwrap();
        assert_eq!((m.db, m.client.as_str()), (None, "lua"));
        assert!(MonitorLine::parse(b"OK").is_none());
        assert!(MonitorLine::parse(b"123 nope").is_none());
    }
}
