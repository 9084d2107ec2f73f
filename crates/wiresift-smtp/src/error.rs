//! The crate's error type.

/// Why bytes could not be parsed as SMTP. Reported as [`wiresift_core::ParseAnomaly`] reasons,
/// never fatal to a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A client line that does not start with a verb.
    #[error("smtp command at line offset {offset}: expected a verb followed by a space or end of line, found {found:?}")]
    NotACommand {
        /// Offset inside the line.
        offset: usize,
        /// Printable preview of the line.
        found: String,
    },
    /// A server line that does not start with a three-digit code and a separator.
    #[error("smtp reply at line offset {offset}: expected three digits then '-', ' ' or end of line, found {found:?}")]
    NotAReply {
        /// Offset inside the line.
        offset: usize,
        /// Printable preview of the line.
        found: String,
    },
    /// A command whose arguments do not have the required shape.
    #[error("smtp {verb} arguments: unexpected {found:?}")]
    BadArgument {
        /// The verb.
        verb: &'static str,
        /// Printable preview of the arguments.
        found: String,
    },
}
