//! `dissect --redact`: output that can be shared when the capture holds customer data.
//!
//! [`Redact`] wraps an [`Output`] and hands it a redacted copy of each transaction:
//! - `query` becomes the `fingerprint` when there is one (SQL: literals are `?`), so no literal
//!   SQL is printed;
//! - MySQL: every parameter and query-attribute value becomes `null` (types kept), and quoted
//!   literals in the server's error message become `'?'` (`Duplicate entry '?' for key '?'`);
//! - other fields and other protocols' details are passed on unchanged.

use crate::output::{Output, ParallelOutput, ShardOutput};
use wiresift_core::{
    ConnectionId, Detail, GapInfo, Message, OwnedTransaction, ParseAnomaly, StreamChunk,
    Transaction,
};

/// Replace the contents of '…' quoted strings with `?` (a quote opens after a non-alphanumeric
/// character and closes before one, so `doesn't` is left alone).
pub fn redact_quoted(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut inside = false;
    for (i, &c) in chars.iter().enumerate() {
        let prev_alnum = i > 0 && chars[i - 1].is_alphanumeric();
        let next_alnum = chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if c == '\'' && !inside && !prev_alnum {
            out.push('\'');
            inside = true;
        } else if c == '\'' && inside && !next_alnum {
            out.push_str("?'");
            inside = false;
        } else if !inside {
            out.push(c);
        }
    }
    if inside {
        out.push('?');
    }
    out
}

/// A redacted copy of `tx` (see the module documentation).
pub fn redact(tx: &Transaction) -> OwnedTransaction {
    let mut t = tx.to_owned();
    if let Some(f) = &t.fingerprint {
        t.query = f.clone();
    }
    #[cfg(feature = "mysql")]
    if let Some(d) = tx.detail_as::<wiresift_mysql::event::MysqlDetail>() {
        t.detail = Box::new(wiresift_mysql::event::redacted(d));
        if let Some(e) = &t.error {
            t.error = Some(redact_quoted(e));
        }
    }
    t
}

/// An output that receives redacted transactions.
#[derive(Debug)]
pub struct Redact<O>(pub O);

impl<O: Output> Output for Redact<O> {
    fn detail(&self) -> Detail {
        self.0.detail()
    }
    fn transaction(&mut self, tx: &Transaction) {
        let t = redact(tx);
        self.0.transaction(&t);
    }
    fn message(&mut self, m: &Message) {
        self.0.message(m);
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        self.0.anomaly(a);
    }
    fn data(&mut self, conn: ConnectionId, chunk: &StreamChunk<'_>) {
        self.0.data(conn, chunk);
    }
    fn gap(&mut self, conn: ConnectionId, gap: &GapInfo) {
        self.0.gap(conn, gap);
    }
    fn connection_closed(&mut self, c: &crate::ConnectionSummary<'_>) {
        self.0.connection_closed(c);
    }
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl<O: ShardOutput> ShardOutput for Redact<O> {
    fn ordered(&mut self) -> &mut Vec<u8> {
        self.0.ordered()
    }
}

impl<O: ParallelOutput> ParallelOutput for Redact<O> {
    type Shard = Redact<O::Shard>;
    fn new_shard(&self) -> Self::Shard {
        Redact(self.0.new_shard())
    }
    fn write_ordered(&mut self, bytes: &[u8]) {
        self.0.write_ordered(bytes);
    }
    fn merge_shard(&mut self, shard: Self::Shard) {
        self.0.merge_shard(shard.0);
    }
}

#[cfg(test)]
mod tests {
    use super::redact_quoted;

    #[test]
    fn quoted_literals() {
        assert_eq!(
            redact_quoted("Duplicate entry 'a@b.c' for key 'PRIMARY'"),
            "Duplicate entry '?' for key '?'"
        );
        assert_eq!(redact_quoted("no quotes"), "no quotes");
        assert_eq!(redact_quoted("open 'abc"), "open '?");
        assert_eq!(
            redact_quoted("Table 'wst.t' doesn't exist"),
            "Table '?' doesn't exist"
        );
    }
}
