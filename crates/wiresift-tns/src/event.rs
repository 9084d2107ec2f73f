//! The typed request and response detail of TNS transactions.

use crate::descriptor::ConnectData;
use crate::packet::{Accept, Connect};
use crate::ttc::Piggyback;
use serde::Serialize;

/// Request detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TnsRequest {
    /// CONNECT packet fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<Connect>,
    /// Parsed connect data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_data: Option<ConnectData>,
    /// Raw connect descriptor (bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_descriptor: Option<String>,
    /// TTC message type name of the request (`FUNCTION`, `PROTOCOL`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// TTC function code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_code: Option<u8>,
    /// Wire name of an execute call (`OALL8`, `OALL7`, `OALL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<&'static str>,
    /// TTC sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u8>,
    /// Cursor id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u32>,
    /// Rows asked for (FETCH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_requested: Option<u32>,
    /// Number of bind variables (EXECUTE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binds: Option<u32>,
    /// Execute options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<u32>,
    /// SQL length in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_bytes: Option<usize>,
    /// The SQL came from the cursor map (re-execute, fetch).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sql_from_cursor: bool,
    /// Database user (AUTH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// AUTH phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_phase: Option<u8>,
    /// Session set-up SQL sent inside the AUTH call (`AUTH_ALTER_SESSION`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alter_session: Option<String>,
    /// Piggybacked calls (close cursors, end-to-end attributes, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub piggybacks: Vec<Piggyback>,
    /// First bytes (hex) of a call whose layout was not understood.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_hex: Option<String>,
    /// The request carried the end-of-request data flag (pipelined calls, version 319).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub end_of_request: bool,
    /// TNS packets of the request.
    pub packets: u32,
}

/// Response detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TnsResponse {
    /// CONNECT: `ACCEPT`, `REFUSE`, `REDIRECT` or `RESEND`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// ACCEPT fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    /// REFUSE user reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuse_user_reason: Option<u8>,
    /// REFUSE system reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuse_system_reason: Option<u8>,
    /// REFUSE / REDIRECT data (bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// REDIRECT: the new address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<crate::descriptor::Address>,
    /// ORA error number (0: success).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ora_code: Option<u32>,
    /// Rows returned (fetch / query execute) or processed (DML) by this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Cursor id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u32>,
    /// BREAK/RESET markers exchanged during the call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<&'static str>,
    /// The reply carried the end-of-response flag (version 319 with end of response).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub end_of_response: bool,
    /// Server version banner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    /// TNS packets of the response.
    pub packets: u32,
}
