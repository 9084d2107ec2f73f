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
    /// Sum of the latencies (µs).
    sum_us: u64,
    samples: u64,
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
            sum_us: 0,
            samples: 0,
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
    /// Command (with [`LatencyReport::by_fingerprint`]: the fingerprint, when there is one);
    /// [`TOTAL`] on a server's total row.
    pub command: String,
    /// The server's total row (all its commands together): the first row of each server.
    pub total: bool,
    /// Transactions.
    pub count: u64,
    /// Transactions with status `error`.
    pub errors: u64,
    /// Requests that never got a reply.
    pub no_response: u64,
    /// Transactions with a latency (the samples of the percentiles and the histogram).
    pub samples: u64,
    /// Latency percentiles (µs) over transactions with a latency; `null` without samples.
    pub p50_us: Option<u64>,
    /// 90th percentile.
    pub p90_us: Option<u64>,
    /// 99th percentile.
    pub p99_us: Option<u64>,
    /// Maximum.
    pub max_us: Option<u64>,
    /// Sum of the latencies (µs): the time the clients spent waiting on this command.
    pub total_us: u64,
    /// Transactions that waited for a TCP retransmission.
    pub retransmission_delayed: u64,
    /// Total µs of those waits (a part of the latencies above).
    pub retransmission_delay_us: u64,
    /// All the fixed buckets ([`BUCKET_BOUNDS_US`] and the overflow), empty ones included, so
    /// that two reports line up.
    pub histogram: Vec<Bucket>,
}

/// One histogram bucket: latencies up to `le_us` (inclusive) and above the previous bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Upper bound in µs; `null` for the last bucket (everything above the last bound).
    pub le_us: Option<u64>,
    /// Transactions in it.
    pub count: u64,
}

/// The `command` of a server's total row.
pub const TOTAL: &str = "(total)";

/// Row order within a server (and of the servers, by their total rows), `latency --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Slowest 99th percentile first (rows without samples last). The default.
    #[default]
    P99,
    /// Most total latency (sum) first.
    Total,
    /// Most transactions first.
    Count,
    /// By server, protocol, command.
    Name,
}

impl std::str::FromStr for SortBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "p99" => Ok(SortBy::P99),
            "total" => Ok(SortBy::Total),
            "count" => Ok(SortBy::Count),
            "name" => Ok(SortBy::Name),
            _ => Err(format!("{s}: expected p99, total, count or name")),
        }
    }
}

/// The report: add transactions, then render.
#[derive(Debug, Clone, Default)]
pub struct LatencyReport {
    // Keyed without formatting or allocating per transaction: endpoint and protocol, then the
    // command looked up by `&str` (a new String only for a command not seen before).
    keys: HashMap<(Endpoint, &'static str), HashMap<String, CommandStats>>,
    /// Always empty: the report has no ordered output ([`ShardOutput`]).
    ordered: Vec<u8>,
    /// Key on the transaction's `fingerprint` (SQL protocols) instead of its command; a
    /// transaction without one (LOGIN, PING, other protocols) keeps its command.
    by_fingerprint: bool,
    /// Row order.
    sort: SortBy,
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
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
        self.samples += o.samples;
    }

    fn row(&self, server: &Endpoint, protocol: &'static str, command: &str, total: bool) -> Row {
        let has = !self.hist.is_empty();
        let q = |p: f64| has.then(|| self.hist.value_at_quantile(p));
        Row {
            server: server.to_string(),
            protocol,
            command: command.to_string(),
            total,
            count: self.count,
            errors: self.errors,
            no_response: self.no_response,
            samples: self.samples,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            max_us: has.then(|| self.hist.max()),
            total_us: self.sum_us,
            retransmission_delayed: self.retransmission_delayed,
            retransmission_delay_us: self.retransmission_delay_us,
            histogram: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, &count)| Bucket {
                    le_us: BUCKET_BOUNDS_US.get(i).copied(),
                    count,
                })
                .collect(),
        }
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
        LatencyReport {
            by_fingerprint: self.by_fingerprint,
            ..LatencyReport::default()
        }
    }
    fn merge_shard(&mut self, shard: LatencyReport) {
        self.merge(&shard);
    }
}

impl LatencyReport {
    /// Order rows by `sort` ([`SortBy::P99`] by default).
    pub fn with_sort(mut self, sort: SortBy) -> Self {
        self.sort = sort;
        self
    }

    /// A report per server × fingerprint (`latency --by fingerprint`).
    pub fn by_fingerprint() -> Self {
        LatencyReport {
            by_fingerprint: true,
            ..LatencyReport::default()
        }
    }

    /// Account one transaction. Transactions with no request (greetings, pushes) are skipped.
    pub fn add(&mut self, tx: &Transaction) {
        if tx.status == Status::NoRequest {
            return;
        }
        let key = match &tx.fingerprint {
            Some(f) if self.by_fingerprint => f.as_str(),
            _ => tx.command.as_str(),
        };
        let cmds = self.keys.entry((tx.server, tx.protocol)).or_default();
        if !cmds.contains_key(key) {
            cmds.insert(key.to_string(), CommandStats::default());
        }
        let Some(s) = cmds.get_mut(key) else {
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
            s.sum_us = s.sum_us.saturating_add(l);
            s.samples += 1;
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

    /// Rows: for each server (and protocol), its total row, then one row per command, in the
    /// order of [`LatencyReport::with_sort`]; servers in the same order by their total rows.
    pub fn rows(&self) -> Vec<Row> {
        let sort = self.sort;
        // Larger is earlier; ties by name.
        let rank = |r: &Row| -> (u64, u64) {
            match sort {
                SortBy::P99 => (u64::from(r.p99_us.is_some()), r.p99_us.unwrap_or(0)),
                SortBy::Total => (r.total_us, 0),
                SortBy::Count => (r.count, 0),
                SortBy::Name => (0, 0),
            }
        };
        /// A server's key, its total row and its command rows.
        type Group = ((Endpoint, &'static str), Row, Vec<(String, Row)>);
        let mut groups: Vec<Group> = self
            .keys
            .iter()
            .map(|(&(server, protocol), cmds)| {
                let mut all = CommandStats::default();
                let mut rows: Vec<(String, Row)> = cmds
                    .iter()
                    .map(|(c, s)| {
                        all.merge(s);
                        (c.clone(), s.row(&server, protocol, c, false))
                    })
                    .collect();
                rows.sort_by(|a, b| rank(&b.1).cmp(&rank(&a.1)).then_with(|| a.0.cmp(&b.0)));
                let total = all.row(&server, protocol, TOTAL, true);
                ((server, protocol), total, rows)
            })
            .collect();
        groups.sort_by(|a, b| rank(&b.1).cmp(&rank(&a.1)).then_with(|| a.0.cmp(&b.0)));
        let mut out = Vec::new();
        for (_, total, rows) in groups {
            out.push(total);
            out.extend(rows.into_iter().map(|(_, r)| r));
        }
        out
    }

    /// A text table: one line per row (a server's total row first, then its commands), each
    /// followed by its histogram with every bucket (empty ones too), aligned across rows. `-`
    /// where there is no sample.
    pub fn render_text(&self) -> String {
        let rows = self.rows();
        let mut out = String::new();
        let line = |out: &mut String, c: [&str; 12]| {
            let _ = writeln!(
                out,
                "{:<22} {:<5} {:<20} {:>8} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>14}",
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]
            );
        };
        line(
            &mut out,
            [
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
                "total",
                "retrans(n/ms)",
            ],
        );
        // Histogram cells `<=50us:3`, each column as wide as its widest cell.
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                r.histogram
                    .iter()
                    .enumerate()
                    .map(|(i, b)| format!("{}:{}", bucket_name(i), b.count))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..=BUCKET_BOUNDS_US.len())
            .map(|i| cells.iter().map(|c| c[i].len()).max().unwrap_or(0))
            .collect();
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), fmt_us);
        for (r, cells) in rows.iter().zip(&cells) {
            if r.total && !out.ends_with("retrans(n/ms)\n") {
                out.push('\n');
            }
            let retrans = format!(
                "{}/{:.1}",
                r.retransmission_delayed,
                r.retransmission_delay_us as f64 / 1e3
            );
            let total = if r.samples == 0 {
                "-".to_string()
            } else {
                fmt_us(r.total_us)
            };
            line(
                &mut out,
                [
                    &r.server,
                    r.protocol,
                    truncate(&r.command, 20),
                    &r.count.to_string(),
                    &r.errors.to_string(),
                    &r.no_response.to_string(),
                    &opt(r.p50_us),
                    &opt(r.p90_us),
                    &opt(r.p99_us),
                    &opt(r.max_us),
                    &total,
                    &retrans,
                ],
            );
            if self.by_fingerprint && r.command.chars().nth(20).is_some() {
                let _ = writeln!(out, "    {}", truncate(&r.command, 400));
            }
            let hist: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, &w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "    {}", hist.join(" ").trim_end());
        }
        out
    }
}

/// Commands drawn per server in [`LatencyReport::render_svg`] (the first ones in row order;
/// the panel's caption says how many more there were).
#[cfg(feature = "svg")]
pub const SVG_MAX_SERIES: usize = 10;

#[cfg(feature = "svg")]
impl LatencyReport {
    /// An SVG image (feature `svg`, drawn with the plotters crate): one panel per server, with
    /// one latency percentile curve per command (in row order, at most [`SVG_MAX_SERIES`]) and
    /// one for the server's total. The x axis is the percentile on a "nines" scale (50%, 90%,
    /// 99%, 99.9%, … up to what the samples support), the y axis the latency on a log scale.
    /// Commands without samples are left out.
    pub fn render_svg(&self) -> Result<String, String> {
        use plotters::prelude::*;
        // Panels: (server, protocol) in row order, each with its (label, histogram) series.
        let rows = self.rows();
        /// Title, curves (label, histogram), commands not drawn.
        type Panel = (String, Vec<(String, Histogram<u64>)>, usize);
        let mut panels: Vec<Panel> = Vec::new();
        for r in &rows {
            if r.total {
                panels.push((format!("{} ({})", r.server, r.protocol), Vec::new(), 0));
            }
        }
        let mut keys: Vec<_> = self.keys.iter().collect();
        keys.sort_by_key(|(k, _)| {
            rows.iter()
                .position(|r| r.total && r.server == k.0.to_string() && r.protocol == k.1)
        });
        for ((k, cmds), panel) in keys.into_iter().zip(panels.iter_mut()) {
            let _ = k;
            let mut total = CommandStats::default();
            for s in cmds.values() {
                total.merge(s);
            }
            if !total.hist.is_empty() {
                panel.1.push((TOTAL.to_string(), total.hist));
            }
            let server = k.0.to_string();
            for r in rows
                .iter()
                .filter(|r| !r.total && r.server == server && r.protocol == k.1)
            {
                let Some(s) = cmds.get(&r.command) else {
                    continue;
                };
                if s.hist.is_empty() {
                    continue;
                }
                if panel.1.len() > SVG_MAX_SERIES {
                    panel.2 += 1;
                    continue;
                }
                panel
                    .1
                    .push((truncate(&r.command, 40).to_string(), s.hist.clone()));
            }
        }
        panels.retain(|p| !p.1.is_empty());
        let (w, ph) = (960u32, 420u32);
        let h = ph * panels.len().max(1) as u32;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            let err = |e: DrawingAreaErrorKind<_>| e.to_string();
            root.fill(&WHITE).map_err(err)?;
            if panels.is_empty() {
                root.draw(&Text::new(
                    "no latency samples",
                    (20, 20),
                    ("sans-serif", 20).into_font(),
                ))
                .map_err(err)?;
            }
            let areas = root.split_evenly((panels.len().max(1), 1));
            for ((title, series, more), area) in panels.iter().zip(areas.iter()) {
                let samples = series.iter().map(|(_, h)| h.len()).max().unwrap_or(1);
                // Nines: x = -log10(1 - q); as far as the samples support (1 / samples), at
                // least 99% and at most 99.999%.
                let xmax = (samples as f64).log10().clamp(2.0, 5.0);
                let lo = series
                    .iter()
                    .map(|(_, h)| h.min())
                    .min()
                    .unwrap_or(1)
                    .max(1);
                let hi = series
                    .iter()
                    .map(|(_, h)| h.max())
                    .max()
                    .unwrap_or(1)
                    .max(lo + 1);
                let ymin = 10f64.powf((lo as f64).log10().floor());
                let ymax = 10f64.powf((hi as f64 * 1.05).log10().ceil());
                let caption = if *more > 0 {
                    format!("{title}: latency by percentile ({more} more commands not drawn)")
                } else {
                    format!("{title}: latency by percentile")
                };
                let mut chart = ChartBuilder::on(area)
                    .caption(caption, ("sans-serif", 18))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(70)
                    .build_cartesian_2d(0f64..xmax, (ymin..ymax).log_scale())
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .x_desc("percentile")
                    .y_desc("latency")
                    .x_labels(xmax.floor() as usize + 1)
                    .x_label_formatter(&|x| nines_label(*x))
                    .y_label_formatter(&|y| fmt_us(y.round() as u64))
                    .draw()
                    .map_err(err)?;
                for (i, (label, hist)) in series.iter().enumerate() {
                    let color = Palette99::pick(i).to_rgba();
                    let style = if label == TOTAL {
                        BLACK.stroke_width(3)
                    } else {
                        color.stroke_width(2)
                    };
                    let pts: Vec<(f64, f64)> = (0..=200)
                        .map(|k| {
                            let x = xmax * k as f64 / 200.0;
                            let q = 1.0 - 10f64.powf(-x);
                            (x, (hist.value_at_quantile(q).max(1)) as f64)
                        })
                        .collect();
                    chart
                        .draw_series(LineSeries::new(pts, style))
                        .map_err(err)?
                        .label(format!("{label} (n={})", hist.len()))
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(err)?;
            }
            root.present().map_err(err)?;
        }
        Ok(svg)
    }
}

/// `50%`, `90%`, `99%`, `99.9%` for x = -log10(1 - q).
#[cfg(feature = "svg")]
fn nines_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let s = format!("{q:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
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
        assert_eq!(rows.len(), 2);
        assert!(rows[0].total && rows[0].command == TOTAL && rows[0].count == 101);
        let g = &rows[1];
        assert_eq!((g.count, g.errors), (101, 1));
        // 101 samples: the 51st smallest is 510 µs.
        let p50 = g.p50_us.unwrap();
        assert!((505..=515).contains(&p50), "p50 {p50}");
        assert!((199_000..=201_000).contains(&g.max_us.unwrap()));
        assert_eq!(
            (g.retransmission_delayed, g.retransmission_delay_us),
            (1, 199_000)
        );
        // 10..=50 µs → "<=50us" (5), 200 ms → "<=200ms"; every bucket is there.
        assert_eq!(g.histogram.len(), BUCKET_BOUNDS_US.len() + 1);
        assert_eq!(
            g.histogram[0],
            Bucket {
                le_us: Some(50),
                count: 5
            }
        );
        assert!(g.histogram.contains(&Bucket {
            le_us: Some(200_000),
            count: 1
        }));
        assert_eq!(g.histogram[19].le_us, None);
        let j = serde_json::to_value(&rows[1]).unwrap();
        assert_eq!(
            j["histogram"][0],
            serde_json::json!({"le_us": 50, "count": 5})
        );
        let text = r.render_text();
        assert!(text.contains("GET") && text.contains(">20s:0"), "{text}");
    }

    #[test]
    fn by_fingerprint_groups_statements_and_keeps_commands() {
        let mut r = LatencyReport::by_fingerprint();
        for (fp, lat) in [(Some("select ?"), 10), (Some("select ?"), 30), (None, 5)] {
            let mut t = tx("QUERY", lat, Status::Ok, None);
            t.fingerprint = fp.map(str::to_string);
            r.add(&t);
        }
        let r = r.with_sort(SortBy::Name);
        let rows = r.rows();
        let keys: Vec<(&str, u64)> = rows.iter().map(|r| (r.command.as_str(), r.count)).collect();
        assert_eq!(keys, [(TOTAL, 3), ("QUERY", 1), ("select ?", 2)]);
        let mut plain = LatencyReport::default();
        let mut t = tx("QUERY", 10, Status::Ok, None);
        t.fingerprint = Some("select ?".into());
        plain.add(&t);
        assert_eq!(plain.rows()[1].command, "QUERY");
        assert!(r.new_shard().by_fingerprint);
    }

    #[test]
    fn sorting_totals_and_no_samples() {
        let mut r = LatencyReport::default();
        for (cmd, lat, n) in [("GET", 100, 50), ("SET", 5_000, 2), ("SCAN", 1_000, 10)] {
            for _ in 0..n {
                r.add(&tx(cmd, lat, Status::Ok, None));
            }
        }
        let mut greeting = tx("QUIT", 0, Status::NoResponse, None);
        greeting.latency_us = None;
        r.add(&greeting);
        let order = |r: &LatencyReport| -> Vec<String> {
            r.rows().into_iter().map(|r| r.command).collect()
        };
        assert_eq!(order(&r), [TOTAL, "SET", "SCAN", "GET", "QUIT"]);
        let r = r.with_sort(SortBy::Count);
        assert_eq!(order(&r), [TOTAL, "GET", "SCAN", "SET", "QUIT"]);
        let r = r.with_sort(SortBy::Total);
        // SCAN 10 ms, SET 10 ms (tie: by name), GET 5 ms.
        assert_eq!(order(&r), [TOTAL, "SCAN", "SET", "GET", "QUIT"]);
        let rows = r.rows();
        let quit = rows.iter().find(|r| r.command == "QUIT").unwrap();
        assert_eq!((quit.p99_us, quit.max_us, quit.samples), (None, None, 0));
        assert_eq!(rows[0].count, 63);
        assert_eq!(rows[0].total_us, 50 * 100 + 2 * 5_000 + 10 * 1_000);
        let text = r.render_text();
        let quit_line = text.lines().find(|l| l.contains("QUIT")).unwrap();
        assert!(
            !quit_line.contains("0us") && quit_line.contains(" - "),
            "{quit_line}"
        );
    }

    #[cfg(feature = "svg")]
    #[test]
    fn svg_has_a_panel_per_server_and_a_curve_per_command() {
        let mut r = LatencyReport::default();
        for i in 1..=500u64 {
            r.add(&tx("GET", i * 7, Status::Ok, None));
            r.add(&tx("SET", 300 + i * 50, Status::Ok, None));
        }
        let svg = r.render_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("10.0.0.1:6379 (resp)"));
        assert!(svg.contains("GET (n=500)") && svg.contains("SET (n=500)"));
        assert!(svg.contains("(total) (n=1000)"));
        assert!(svg.matches("<polyline").count() >= 3);
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(0.0), "0%");
        let empty = LatencyReport::default().render_svg().unwrap();
        assert!(empty.contains("no latency samples"));
    }

    #[test]
    fn bucket_edges_inclusive() {
        assert_eq!(BUCKET_BOUNDS_US.partition_point(|&b| b < 100), 1);
        assert_eq!(BUCKET_BOUNDS_US.partition_point(|&b| b < 101), 2);
        assert_eq!(BUCKET_BOUNDS_US.partition_point(|&b| b < 30_000_000), 19);
        assert_eq!(bucket_name(19), ">20s");
    }
}
