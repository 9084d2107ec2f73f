//! The MySQL-specific detail inside transactions and messages (the field contract).
//!
//! A transaction's `command` is the COM name without `COM_` (`QUERY`, `STMT_EXECUTE`, …) or
//! `LOGIN` for the connection phase; `query` is the SQL (for `STMT_EXECUTE`, the prepared
//! statement's SQL); `fingerprint` the normalised SQL ([`wiresift_core::fingerprint()`]).
//! `request` is a [`Request`], `response` a [`Response`]; fields that do not apply are omitted.

use crate::params::Param;
use crate::wire::ColumnDef;
use serde::Serialize;
use std::collections::BTreeMap;

/// Request detail.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Request {
    /// Statement id (STMT_* commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_id: Option<u32>,
    /// Decoded parameter values (STMT_EXECUTE; the first row of STMT_BULK_EXECUTE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<Param>>,
    /// Number of parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_count: Option<u32>,
    /// The types were sent with this execute (new-params-bound flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_params_bound: Option<bool>,
    /// STMT_EXECUTE flags (1 = read-only cursor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u16>,
    /// Rows asked for (STMT_FETCH); rows sent (STMT_BULK_EXECUTE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Query attributes (CLIENT_QUERY_ATTRIBUTES).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<Param>>,
    /// The command's argument (INIT_DB database, FIELD_LIST table, PROCESS_KILL id, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
    /// User (LOGIN, CHANGE_USER).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Database (LOGIN, CHANGE_USER).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Auth plugin the client named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_plugin: Option<String>,
    /// Connect attributes (bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_attributes: Option<BTreeMap<String, String>>,
    /// Client capability flags (MariaDB's extended ones in the high 32 bits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<u64>,
    /// Compression negotiated (`zlib`, `zstd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    /// LOCAL INFILE: the file the server asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infile: Option<String>,
    /// LOCAL INFILE: bytes of file content the client sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infile_bytes: Option<u64>,
    /// Bytes of SEND_LONG_DATA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_data_bytes: Option<u64>,
    /// SEND_LONG_DATA parameter index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_index: Option<u16>,
}

/// One result set after the first (multi-statements, stored procedures).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResultSet {
    /// Column count (0 for an OK).
    pub columns: u64,
    /// Rows.
    pub rows: u64,
    /// Affected rows (OK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
}

/// Response detail.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Response {
    /// Server error code (ERR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u16>,
    /// SQL state (ERR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_state: Option<String>,
    /// Affected rows (OK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected_rows: Option<u64>,
    /// Last insert id (OK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_insert_id: Option<u64>,
    /// Warnings (OK / EOF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<u16>,
    /// Status flags of the final OK / EOF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_flags: Option<u16>,
    /// OK info text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Column definitions of the first result set (bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ColumnDef>>,
    /// Column count of the first result set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_count: Option<u64>,
    /// Rows of the first result set (a count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The result sets after the first (bounded), when there were several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_results: Option<Vec<ResultSet>>,
    /// Result sets in all (when more than one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_sets: Option<u32>,
    /// STMT_PREPARE: the statement id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_id: Option<u32>,
    /// STMT_PREPARE: parameter count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param_count: Option<u16>,
    /// STMT_EXECUTE with a cursor: the cursor is open (rows come with STMT_FETCH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<bool>,
    /// STATISTICS: the server's string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics: Option<String>,
    /// LOGIN: server version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// LOGIN: connection id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<u32>,
    /// LOGIN: server capabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_capabilities: Option<u64>,
    /// LOGIN: character set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charset: Option<u8>,
    /// LOGIN / CHANGE_USER: the auth plugin in force at the end (after switches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_plugin: Option<String>,
    /// LOGIN / CHANGE_USER: what happened (`auth_switch`, `fast_auth_success`,
    /// `full_authentication`, `more_data`), in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_steps: Option<Vec<&'static str>>,
}

/// Transaction detail type of this plugin (`Transaction::detail_as::<MysqlDetail>()`).
pub type MysqlDetail = wiresift_core::ReqResp<Request, Response>;

/// The detail with every parameter and query-attribute value replaced by `null` (types and
/// names kept), for sharing captures of customer data (`dissect --redact`).
pub fn redacted(d: &MysqlDetail) -> MysqlDetail {
    let mut d = d.clone();
    if let Some(r) = d.request.as_mut() {
        for p in r.params.iter_mut().chain(r.attributes.iter_mut()).flatten() {
            p.value = crate::params::Value::Null;
            p.len = None;
        }
    }
    d
}
