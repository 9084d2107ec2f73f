//! Per-server, per-command latency statistics (the `latency` example's report).
//!
//! Each (server, protocol, command) key keeps an HDR histogram (1 µs to 1 hour, 3 significant
//! digits: every percentile is within 0.1% of the true value) plus fixed buckets that are a
//! superset of tcpkit's (so its reports can be compared bucket by bucket), and how much of the
//! latency was spent waiting for TCP retransmissions (the engine's `retransmission_delay` notes).

use crate::output::{Output, ParallelOutput, ShardOutput};
use hdrhistogram::Histogram;
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;
use std::fmt::Write;
use wiresift_core::{Detail, Endpoint, Note, Status, Transaction};

/// Upper bounds (µs, inclusive) of the fixed buckets; a last bucket holds everything above.
/// tcpkit's bounds (0.1 ms … 20 s) are all present, with 50 µs and 2 ms added.
pub const BUCKET_BOUNDS_US: [u64; 19] = [
    50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000, 20_000_000,
];

fn bucket_name(i: usize) -> String {
    fn fmt(us: u64) -> String {
        if us >= 1_000_000 {
            format!("{}s", us / 1_000_000)
        } else if us >= 1_000 {
            format!("{}ms", us / 1_000)
        } else {
            format!("{}us", us)
        }
    }
    match BUCKET_BOUNDS_US.get(i) {
        Some(&b) => format!("<={}", fmt(b)),
        None => format!(">{}", fmt(BUCKET_BOUNDS_US[BUCKET_BOUNDS_US.len() - 1])),
    }
}

/// Statistics of one key.
#[derive(Debug, Clone)]
pub struct CommandStats {
    hist: Histogram<u64>,
    buckets: [u64; BUCKET_BOUNDS_US.len() + 1],
    count: u64,
    errors: u64,
    no_response: u64,
    retransmission_delayed: u64,
    retransmission_delay_us: u64,
}

impl Default for CommandStats {
    fn default() -> Self {
        CommandStats {
            // 1 µs .. 1 h, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            buckets: [0; BUCKET_BOUNDS_US.len() + 1],
            count: 0,
            errors: 0,
            no_response: 0,
            retransmission_delayed: 0,
            retransmission_delay_us: 0,
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Server `ip:port`.
    pub server: String,
    /// Protocol.
    pub protocol: &'static str,
    /// Command.
    pub command: String,
    /// Transactions.
    pub count: u64,
    /// Transactions with status `error`.
    pub errors: u64,
    /// Requests that never got a reply.
    pub no_response: u64,
    /// Latency percentiles (µs) over transactions with a latency.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Maximum.
    pub max_us: u64,
    /// Transactions that waited for a TCP retransmission.
    pub retransmission_delayed: u64,
    /// Total µs of those waits (a part of the latencies above).
    pub retransmission_delay_us: u64,
    /// Fixed buckets: (label, count), empty ones omitted.
    pub histogram: Vec<(String, u64)>,
}

/// The report: add transactions, then render.
#[derive(Debug, Clone, Default)]
pub struct LatencyReport {
    // Keyed without formatting or allocating per transaction: endpoint and protocol, then the
    // command looked up by `&str` (a new String only for a command not seen before).
    keys: HashMap<(Endpoint, &'static str), HashMap<String, CommandStats>>,
    /// Always empty: the report has no ordered output ([`ShardOutput`]).
    ordered: Vec<u8>,
}

impl CommandStats {
    fn merge(&mut self, o: &CommandStats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.hist.add(&o.hist);
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
        self.count += o.count;
        self.errors += o.errors;
        self.no_response += o.no_response;
        self.retransmission_delayed += o.retransmission_delayed;
        self.retransmission_delay_us += o.retransmission_delay_us;
    }
}

impl LatencyReport {
    /// Fold in another report (of other connections): the result is the report of both.
    pub fn merge(&mut self, other: &LatencyReport) {
        for (k, cmds) in &other.keys {
            let mine = self.keys.entry(*k).or_default();
            for (c, s) in cmds {
                mine.entry(c.clone()).or_default().merge(s);
            }
        }
    }
}

/// The report as an engine output: it asks for summary detail only.
impl Output for LatencyReport {
    fn detail(&self) -> Detail {
        Detail::Summary
    }
    fn transaction(&mut self, tx: &Transaction) {
        self.add(tx);
    }
}

impl ShardOutput for LatencyReport {
    fn ordered(&mut self) -> &mut Vec<u8> {
        &mut self.ordered
    }
}

impl ParallelOutput for LatencyReport {
    type Shard = LatencyReport;
    fn new_shard(&self) -> LatencyReport {
        LatencyReport::default()
    }
    fn merge_shard(&mut self, shard: LatencyReport) {
        self.merge(&shard);
    }
}

impl LatencyReport {
    /// Account one transaction. Transactions with no request (greetings, pushes) are skipped.
    pub fn add(&mut self, tx: &Transaction) {
        if tx.status == Status::NoRequest {
            return;
        }
        let cmds = self.keys.entry((tx.server, tx.protocol)).or_default();
        if !cmds.contains_key(tx.command.as_str()) {
            cmds.insert(tx.command.clone(), CommandStats::default());
        }
        let Some(s) = cmds.get_mut(tx.command.as_str()) else {
            return;
        };
        s.count += 1;
        match tx.status {
            Status::Error => s.errors += 1,
            Status::NoResponse => s.no_response += 1,
            _ => {}
        }
        if let Some(l) = tx.latency_us {
            s.hist.saturating_record(l.max(1));
            let i = BUCKET_BOUNDS_US.partition_point(|&b| b < l);
            s.buckets[i] += 1;
        }
        let delay: u64 = tx
            .notes
            .iter()
            .map(|n| match n {
                Note::RetransmissionDelay { delay_us, .. } => *delay_us,
                _ => 0,
            })
            .sum();
        if delay > 0 {
            s.retransmission_delayed += 1;
            s.retransmission_delay_us += delay;
        }
    }

    /// Rows, sorted by server, protocol, command.
    pub fn rows(&self) -> Vec<Row> {
        let mut keys: Vec<_> = self
            .keys
            .iter()
            .flat_map(|((server, protocol), cmds)| {
                cmds.iter()
                    .map(move |(command, s)| (server, *protocol, command, s))
            })
            .collect();
        keys.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        keys.into_iter()
            .map(|(server, protocol, command, s)| {
                let q = |p: f64| {
                    if s.hist.is_empty() {
                        0
                    } else {
                        s.hist.value_at_quantile(p)
                    }
                };
                Row {
                    server: server.to_string(),
                    protocol,
                    command: command.clone(),
                    count: s.count,
                    errors: s.errors,
                    no_response: s.no_response,
                    p50_us: q(0.50),
                    p90_us: q(0.90),
                    p99_us: q(0.99),
                    max_us: if s.hist.is_empty() { 0 } else { s.hist.max() },
                    retransmission_delayed: s.retransmission_delayed,
                    retransmission_delay_us: s.retransmission_delay_us,
                    histogram: s
                        .buckets
                        .iter()
                        .enumerate()
                        .filter(|(_, &n)| n > 0)
                        .map(|(i, &n)| (bucket_name(i), n))
                        .collect(),
                }
            })
            .collect()
    }

    /// A text table: one line per key, then its non-empty buckets.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<22} {:<5} {:<20} {:>8} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>14}",
            "server",
            "proto",
            "command",
            "count",
            "errors",
            "noresp",
            "p50",
            "p90",
            "p99",
            "max",
            "retrans(n/ms)"
        );
        for r in self.rows() {
            let _ = writeln!(
                out,
                "{:<22} {:<5} {:<20} {:>8} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>14}",
                r.server,
                r.protocol,
                truncate(&r.command, 20),
                r.count,
                r.errors,
                r.no_response,
                fmt_us(r.p50_us),
                fmt_us(r.p90_us),
                fmt_us(r.p99_us),
                fmt_us(r.max_us),
                format!(
                    "{}/{:.1}",
                    r.retransmission_delayed,
                    r.retransmission_delay_us as f64 / 1e3
                ),
            );
            let hist: Vec<String> = r
                .histogram
                .iter()
                .map(|(k, n)| format!("{k}:{n}"))
                .collect();
            if !hist.is_empty() {
                let _ = writeln!(out, "    {}", hist.join(" "));
            }
        }
        out
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn fmt_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{us}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiresift_core::{ConnectionId, ConnectionInfo, Direction, Timestamp};

    fn tx(cmd: &str, lat: u64, status: Status, delay: Option<u64>) -> Transaction<()> {
        let info = ConnectionInfo {
            id: ConnectionId(1),
            client: Endpoint::new("10.0.0.2".parse().unwrap(), 5000),
            server: Endpoint::new("10.0.0.1".parse().unwrap(), 6379),
            start: Timestamp(0),
            midstream: false,
        };
        let mut t = Transaction::new("resp", &info, Timestamp(1_000_000), ());
        t.command = cmd.into();
        t.status = status;
        t.complete_at(Timestamp(1_000_000 + lat * 1_000));
        if let Some(d) = delay {
            t.notes.push(Note::RetransmissionDelay {
                direction: Direction::ClientToServer,
                delay_us: d,
            });
        }
        t
    }

    #[test]
    fn percentiles_buckets_and_retransmission_share() {
        let mut r = LatencyReport::default();
        for i in 1..=100 {
            r.add(&tx("GET", i * 10, Status::Ok, None));
        }
        r.add(&tx("GET", 200_000, Status::Error, Some(199_000)));
        let rows = r.rows();
        assert_eq!(rows.len(), 1);
        let g = &rows[0];
        assert_eq!((g.count, g.errors), (101, 1));
        // 101 samples: the 51st smallest is 510 µs.
        assert!((505..=515).contains(&g.p50_us), "p50 {}", g.p50_us);
        assert!((199_000..=201_000).contains(&g.max_us));
        assert_eq!(
            (g.retransmission_delayed, g.retransmission_delay_us),
            (1, 199_000)
        );
        // 10..=50 µs → "<=50us" (5), 200 ms → "<=200ms".
        assert_eq!(g.histogram[0], ("<=50us".to_string(), 5));
        assert!(g.histogram.contains(&("<=200ms".to_string(), 1)));
        assert!(r.render_text().contains("GET"));
    }

    #[test]
    fn bucket_edges_inclusive() {
        assert_eq!(BUCKET_BOUNDS_US.partition_point(|&b| b < 100), 1);
        assert_eq!(BUCKET_BOUNDS_US.partition_point(|&b| b < 101), 2);
        assert_eq!(BUCKET_BOUNDS_US.partition_point(|&b| b < 30_000_000), 19);
        assert_eq!(bucket_name(19), ">20s");
    }
}
