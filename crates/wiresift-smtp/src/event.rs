//! Typed SMTP details: every SMTP transaction's `detail` is an [`SmtpDetail`]
//! (`tx.detail_as::<SmtpDetail>()`), serialised as the transaction's `request` and `response`.
//!
//! Command transactions (`command` = the upper-cased verb):
//! - `response` is a [`ReplyDetail`]: `{"code":250,"enhanced":"2.1.0","lines":[…]}`; an EHLO
//!   reply adds `extensions` ([`crate::parser::Extensions`]); DATA adds the `354` as
//!   `intermediate`; AUTH adds each `334` challenge count.
//! - `request` is a [`RequestDetail`]: envelope address for MAIL/RCPT, chunk size for BDAT, the
//!   mechanism and user for AUTH, body counters for DATA/BDAT.
//!
//! Mail message transactions (`command` = [`MESSAGE_COMMAND`]): `request` is a
//! [`MessageDetail`], `response` the final reply.

use crate::body::Headers;
use crate::parser::Extensions;
use serde::Serialize;

/// `command` of the per-message transaction.
pub const MESSAGE_COMMAND: &str = "MESSAGE";
/// `command` of the server greeting transaction (it has no request).
pub const GREETING_COMMAND: &str = "GREETING";

/// The detail of every SMTP transaction.
pub type SmtpDetail = wiresift_core::ReqResp<SmtpRequest, SmtpResponse>;

/// The `request` of an SMTP transaction (serialised without a tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SmtpRequest {
    /// A command transaction.
    Command(RequestDetail),
    /// A [`MESSAGE_COMMAND`] transaction.
    Message(Box<MessageDetail>),
}

/// The `response` of an SMTP transaction (serialised without a tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SmtpResponse {
    /// The final reply.
    Reply(ReplyDetail),
    /// Only interim replies were seen (a `354`, `334` challenges), not the final one.
    Interim(InterimDetail),
}

/// Interim replies of a command whose final reply never came.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InterimDetail {
    /// The `354` of a DATA command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<ReplyDetail>,
    /// Number of `334` challenges.
    #[serde(skip_serializing_if = "is_zero")]
    pub challenges: u64,
}

/// One server reply, bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplyDetail {
    /// Reply code (of the last line).
    pub code: u16,
    /// RFC 3463 enhanced status code of the first line, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced: Option<String>,
    /// Line texts after the code and separator (at most the configured number, each bounded).
    pub lines: Vec<String>,
    /// Lines the reply had beyond those kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub lines_dropped: u64,
    /// EHLO extensions, for an EHLO reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Extensions>,
    /// The `354` that preceded the final reply of a DATA command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intermediate: Option<Box<ReplyDetail>>,
    /// Number of `334` challenges in an AUTH exchange (their text is not reported: it can carry
    /// server error detail encoded in base64 but never secrets of the client).
    #[serde(skip_serializing_if = "is_zero")]
    pub challenges: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Request-side detail of a command transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestDetail {
    /// MAIL reverse-path / RCPT forward-path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// MAIL/RCPT ESMTP parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
    /// HELO/EHLO domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// AUTH detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthDetail>,
    /// BDAT chunk size as declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    /// BDAT `LAST`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub last: bool,
    /// Body bytes that followed this DATA / BDAT (after unstuffing for DATA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
}

/// What an AUTH exchange shows, without secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuthDetail {
    /// Mechanism name, upper-cased.
    pub mechanism: String,
    /// User name, where the mechanism shows it (PLAIN authcid, LOGIN user, CRAM-MD5 user,
    /// XOAUTH2 user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Client response lines sent after `334` challenges (contents never reported).
    pub responses: u64,
    /// An initial response was sent on the AUTH line.
    pub initial_response: bool,
    /// The client cancelled the exchange with `*`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// One recipient of a mail message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// Forward-path.
    pub address: String,
    /// The server's reply code to this RCPT, `None` if never seen.
    pub code: Option<u16>,
}

/// How the body travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// DATA, dot-stuffed, ended by a `.` line.
    Data,
    /// BDAT chunks.
    Bdat,
}

/// Body of a mail message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BodyDetail {
    /// DATA or BDAT.
    pub kind: BodyKind,
    /// Message size in bytes as the server receives it (DATA: unstuffed, without the final
    /// `.` line). Bytes lost in capture gaps are not counted (see `gap_bytes`).
    pub bytes: u64,
    /// BDAT chunks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<u64>,
    /// Bytes of the body lost in capture gaps (known lengths only).
    #[serde(skip_serializing_if = "is_zero")]
    pub gap_bytes: u64,
    /// The end of the body was not seen (gap, or the connection ended).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// Extracted headers.
    pub headers: Headers,
}

/// Request-side detail of a mail message transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageDetail {
    /// Envelope sender (MAIL FROM reverse-path; empty for the null sender `<>`).
    pub mail_from: String,
    /// Reply code to MAIL.
    pub mail_code: Option<u16>,
    /// Envelope recipients in order, each with its reply code (at most
    /// [`crate::SmtpConfig::max_recipients`]).
    pub recipients: Vec<Recipient>,
    /// Recipients beyond those kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub recipients_dropped: u64,
    /// The body, if one was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyDetail>,
    /// Why the message ended without a final reply to its data (`RSET`, `QUIT`, `MAIL`,
    /// `close`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abandoned_by: Option<String>,
}
