//! The CQL-specific shapes inside transactions (`request`, `response`) and messages (`detail`).
//!
//! Every field is optional and omitted when absent, so a transaction carries only what its
//! opcode has. Field contract (issue 10): `request` holds `stream`, `consistency`, `page_size`,
//! `values` (a count) and `keyspace`; `response` holds `kind`, `rows`, `has_more_pages`,
//! `error_code` and the code-specific error fields. Secrets never appear: an AUTH_RESPONSE shows
//! the SASL token's length and, for PLAIN, the user name only.

use serde::Serialize;
use std::collections::BTreeMap;

/// Request detail (QUERY, EXECUTE, BATCH, PREPARE, STARTUP, OPTIONS, REGISTER, AUTH_RESPONSE).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CqlRequest {
    /// Stream id.
    pub stream: i16,
    /// Protocol version of the frame.
    pub version: u8,
    /// Consistency level name (`LOCAL_QUORUM`, or `0xNNNN` when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Serial consistency level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_consistency: Option<String>,
    /// Query-parameter flag names (`values`, `page_size`, `with_paging_state`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<&'static str>,
    /// Page size asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i32>,
    /// Length of the paging state sent (a continuation page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging_state_bytes: Option<u32>,
    /// Number of bound values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<u32>,
    /// Sizes of the first bound values (-1 null, -2 unset); bounded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub value_sizes: Vec<i32>,
    /// Names of the first named values; bounded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub value_names: Vec<String>,
    /// Default timestamp (microseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Keyspace: the v5 per-query (or PREPARE) keyspace, else the connection's keyspace from
    /// its last `USE` (absent when none was seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyspace: Option<String>,
    /// v5 `now_in_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now_in_seconds: Option<i32>,
    /// EXECUTE / prepared batch member: the statement id, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepared_id: Option<String>,
    /// v5 EXECUTE: the result metadata id, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_metadata_id: Option<String>,
    /// BATCH: its type and members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
    /// STARTUP options (CQL_VERSION, COMPRESSION, DRIVER_NAME, DRIVER_VERSION, …); bounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    /// REGISTER: event types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// AUTH_RESPONSE with a PLAIN token: the user name (never the password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// AUTH_RESPONSE: the SASL token's length (the token is never printed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_bytes: Option<i32>,
    /// Tracing was asked for.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tracing: bool,
    /// The frame has the USE_BETA flag (a beta protocol version).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub beta: bool,
    /// Keys of the custom payload.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_payload: Vec<String>,
}

/// A BATCH request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Batch {
    /// `logged`, `unlogged`, `counter` (or `type_N`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Number of statements.
    pub count: u32,
    /// The first statements (bounded).
    pub members: Vec<BatchMember>,
}

/// One statement of a BATCH.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BatchMember {
    /// The CQL text (for a prepared member: the text PREPAREd earlier in the capture, if seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Prepared statement id, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepared_id: Option<String>,
    /// Number of bound values.
    pub values: u32,
}

/// A column of a result or of a prepared statement's bind markers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Column {
    /// `keyspace.table` when it differs per column or no global spec was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Column name.
    pub name: String,
    /// CQL type (`int`, `map<text, int>`, `frozen<shop.address>`, `tuple<int, text>` …).
    #[serde(rename = "type")]
    pub cql_type: String,
}

/// Response detail.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CqlResponse {
    /// Stream id.
    pub stream: i16,
    /// Opcode of the reply when it is not RESULT or ERROR (`READY`, `SUPPORTED`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opcode: Option<&'static str>,
    /// RESULT kind: `void`, `rows`, `set_keyspace`, `prepared`, `schema_change`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Rows: the row count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    /// Rows: more pages follow (a paging state was returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more_pages: Option<bool>,
    /// Rows / prepared metadata flag names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata_flags: Vec<&'static str>,
    /// Number of result columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_count: Option<u32>,
    /// Result columns (bounded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    /// Keyspace (set_keyspace, schema_change, already_exists, function_failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyspace: Option<String>,
    /// Prepared: the statement id (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepared_id: Option<String>,
    /// Prepared (v5) / rows with metadata_changed: the result metadata id (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_metadata_id: Option<String>,
    /// Prepared: bind markers (bounded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bind_markers: Vec<Column>,
    /// Prepared: partition-key indices of the bind markers (v4+).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pk_indices: Vec<u16>,
    /// Schema change (RESULT kind schema_change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_change: Option<SchemaChange>,
    /// ERROR: the code (e.g. 4352 = 0x1100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// ERROR: the code's name (`write_timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_name: Option<&'static str>,
    /// ERROR: consistency (unavailable, timeouts, failures, CAS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Unavailable: replicas required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<i32>,
    /// Unavailable: replicas alive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alive: Option<i32>,
    /// Timeouts / failures: replicas that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<i32>,
    /// Timeouts / failures: replicas needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blockfor: Option<i32>,
    /// Read timeout / failure: whether the data replica answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_present: Option<bool>,
    /// Write timeout / failure: the write type (`SIMPLE`, `BATCH`, `CAS`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_type: Option<String>,
    /// Failures: number of failed replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<i32>,
    /// v5 failures: endpoint → failure code (bounded).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<(String, u16)>,
    /// v5 write timeout of a CAS write: contentions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contentions: Option<u16>,
    /// AlreadyExists: the table (empty for a keyspace); FunctionFailure: the function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// FunctionFailure: the function name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// FunctionFailure: argument types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arg_types: Option<Vec<String>>,
    /// Unprepared: the unknown statement id (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprepared_id: Option<String>,
    /// Tracing id (uuid) when the reply carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<String>,
    /// Server warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Keys of the custom payload.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_payload: Vec<String>,
    /// AUTHENTICATE: the authenticator class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<String>,
    /// AUTH_CHALLENGE / AUTH_SUCCESS: the token's length (never the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_bytes: Option<i32>,
    /// SUPPORTED: the options (bounded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supported: Option<BTreeMap<String, Vec<String>>>,
}

/// A schema change (RESULT or EVENT).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchemaChange {
    /// `CREATED`, `UPDATED`, `DROPPED`.
    pub change: String,
    /// `KEYSPACE`, `TABLE`, `TYPE`, `FUNCTION`, `AGGREGATE`.
    pub target: String,
    /// Keyspace.
    pub keyspace: String,
    /// Object name (absent for a keyspace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Function / aggregate argument types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
}

/// Detail of an EVENT message (kind `event`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CqlEvent {
    /// `TOPOLOGY_CHANGE`, `STATUS_CHANGE`, `SCHEMA_CHANGE`.
    pub event: String,
    /// `NEW_NODE`, `REMOVED_NODE`, `UP`, `DOWN` (topology / status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Node address (topology / status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Schema change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_change: Option<SchemaChange>,
}

impl wiresift_core::MsgPayload for CqlEvent {}
