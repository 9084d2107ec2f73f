//! Shared by `tests/tns_captures.rs` and `tests/tns_own.rs`: what a run keeps of TNS, the secret
//! values a capture holds (none may reach the output), and the pieces of the comparisons with
//! tshark (its CONNECT/ACCEPT golden lines, agree-or-explained, one-sided copies).

use std::path::{Path, PathBuf};
use wiresift::core::{Message, OwnedTransaction, ParseAnomaly, Transaction};
use wiresift::Output;

/// TNS transactions (also as NDJSON text, to search for secrets), `tns_summary` details with
/// their connection id, and parse anomalies.
#[derive(Default)]
pub struct Collect {
    pub txs: Vec<OwnedTransaction>,
    pub summaries: Vec<(u64, serde_json::Value)>,
    pub anomalies: Vec<ParseAnomaly>,
    pub json: String,
}

impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        if tx.protocol == "tns" {
            self.json.push_str(&serde_json::to_string(tx).unwrap());
            self.json.push('\n');
            self.txs.push(tx.to_owned());
        }
    }
    fn message(&mut self, m: &Message) {
        if m.protocol == "tns" && m.kind == "tns_summary" {
            self.summaries.push((m.connection.0, m.detail_value()));
        }
    }
    fn anomaly(&mut self, a: &ParseAnomaly) {
        if a.protocol == "tns" {
            self.anomalies.push(a.clone());
        }
    }
}

/// The values that follow each occurrence of each of `keys` in `bytes`: for each occurrence,
/// the run of hex digits (at most 32 of them) that starts within `within` bytes after the key,
/// kept when it has 16 digits or more.
pub fn hex_values_after(bytes: &[u8], keys: &[&[u8]], within: usize) -> Vec<String> {
    let mut found = Vec::new();
    for key in keys {
        let mut i = 0;
        while let Some(p) = bytes[i..].windows(key.len()).position(|w| w == *key) {
            let at = i + p + key.len();
            i = at;
            let tail = &bytes[at..(at + within).min(bytes.len())];
            let start = tail
                .iter()
                .position(u8::is_ascii_hexdigit)
                .unwrap_or(tail.len());
            let hex: Vec<u8> = bytes[at + start..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .take(32)
                .copied()
                .collect();
            if hex.len() >= 16 {
                found.push(String::from_utf8(hex).unwrap());
            }
        }
    }
    found
}

/// Whether capture `name` agrees with tshark (`ours == theirs`). A capture that disagrees must
/// be listed in `explained` (name, reason), and one that agrees must not (a stale entry).
#[track_caller]
pub fn agrees_or_is_explained<T: PartialEq + std::fmt::Debug>(
    name: &str,
    ours: &T,
    theirs: &T,
    explained: &[(&str, &str)],
) -> bool {
    let listed = explained.iter().any(|(n, _)| *n == name);
    if ours == theirs {
        assert!(
            !listed,
            "{name} agrees with tshark: its EXPLAINED entry is stale"
        );
        true
    } else {
        assert!(listed, "{name}: wiresift {ours:?} vs tshark {theirs:?}");
        false
    }
}

/// tshark's CONNECT and ACCEPT lines for capture `name` in a `testdata/tns/tshark*.tsv` golden:
/// (version, compatible version, connect data) of each CONNECT, and the version of each ACCEPT.
pub fn tshark_connects(tsv: &str, name: &str) -> (Vec<(u64, u64, String)>, Vec<u64>) {
    let mut connects = Vec::new();
    let mut accepts = Vec::new();
    for l in tsv.lines().filter(|l| l.starts_with(name)) {
        let v: Vec<&str> = l.split('\t').collect();
        match v[3] {
            "1" => connects.push((
                v[4].parse().unwrap(),
                v[5].parse().unwrap(),
                v.get(6).unwrap_or(&"").to_string(),
            )),
            "2" => accepts.push(v[4].parse().unwrap()),
            _ => {}
        }
    }
    (connects, accepts)
}

/// `out`, written by tshark with the packets of `src` that match display filter `filter` (as a
/// pcap); `None` when tshark is not installed or fails.
pub fn tshark_filtered(src: &Path, filter: &str, out: PathBuf) -> Option<PathBuf> {
    let ok = std::process::Command::new("tshark")
        .args([
            "-r",
            src.to_str()?,
            "-w",
            out.to_str()?,
            "-F",
            "pcap",
            "-Y",
            filter,
        ])
        .output()
        .ok()?
        .status
        .success();
    ok.then_some(out)
}
