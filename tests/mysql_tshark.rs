//! wiresift-mysql against tshark 4.0's MySQL dissector on the uncompressed captures
//! (`testdata/golden/mysql-tshark/*.tsv`, made by `testdata/gen/mysql-tshark.sh`; its header
//! says what each column is): per client connection, the same commands in the same order, the
//! same SQL text, the same error codes, affected rows and text-protocol row counts.
//!
//! Where tshark is wrong, the disagreement is listed in [`TSHARK_WRONG`] with the reason, and
//! the test checks that exactly those disagreements occur (so a fix on either side shows up).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use wiresift::core::Transaction;
use wiresift::net::CaptureReader;
use wiresift::{Engine, EngineConfig, Output};

#[derive(Default)]
struct Collect(Vec<Value>);
impl Output for Collect {
    fn transaction(&mut self, tx: &Transaction) {
        if tx.protocol == "mysql" && tx.command != "LOGIN" {
            self.0.push(serde_json::to_value(tx).unwrap());
        }
    }
}

/// (capture, frame of the client command, field, why tshark is wrong). Field `phantom`: tshark
/// reports a command that is not one (the row is dropped before comparing).
const TSHARK_WRONG: &[(&str, u32, &str, &str)] = &[
    (
    "infile",
    21,
    "phantom",
    "the LOCAL INFILE content (a CSV line starting with '0') is read as command 0x30; the final \
     OK's affected rows (200) go to that phantom command instead of LOAD DATA",
    ),
    (
        "raw-types",
        116,
        "affected_rows",
        "STMT_FETCH replies are binary rows (header 0x00) and an EOF; tshark reads the rows as OK \
         packets (affected rows 0)",
    ),
    (
        "raw-types",
        119,
        "affected_rows",
        "the same, second STMT_FETCH",
    ),
];

fn name_of(code: u8) -> &'static str {
    wiresift::mysql::wire::Command(code).name()
}

#[test]
fn agrees_with_tshark() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let golden = root.join("testdata/golden/mysql-tshark");
    let Ok(rd) = std::fs::read_dir(&golden) else {
        eprintln!("no goldens: skipped");
        return;
    };
    let mut disagreements = Vec::new();
    let (mut commands, mut checked_rows, mut checked_errors) = (0, 0, 0);
    let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    files.sort();
    for g in files {
        let stem = g.file_stem().unwrap().to_string_lossy().to_string();
        let cap = root.join("testdata/mysql").join(format!("{stem}.pcap"));
        let mut engine = Engine::new(
            EngineConfig::default(),
            wiresift::default_registry(),
            Collect::default(),
        );
        engine
            .run(&mut CaptureReader::open(&cap).unwrap(), |_| {})
            .unwrap();
        let txs = engine.into_output().0;
        // Our transactions per client port, in order.
        let mut ours: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for t in &txs {
            let port = t["client"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_string();
            ours.entry(port).or_default().push(t);
        }
        let mut theirs: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
        for line in std::fs::read_to_string(&g)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
        {
            let mut f: Vec<String> = line.split('\t').map(str::to_string).collect();
            f.resize(7, String::new());
            let frame: u32 = f[1].parse().unwrap();
            if TSHARK_WRONG
                .iter()
                .any(|w| w.0 == stem && w.1 == frame && w.2 == "phantom")
            {
                disagreements.push((stem.clone(), frame, "phantom", f[2].clone(), String::new()));
                continue;
            }
            theirs.entry(f[0].clone()).or_default().push(f);
        }
        for (port, rows) in &theirs {
            let ours = ours.get(port).map(Vec::as_slice).unwrap_or(&[]);
            assert_eq!(ours.len(), rows.len(), "{stem} port {port}: command count");
            for (t, r) in ours.iter().zip(rows) {
                commands += 1;
                let frame: u32 = r[1].parse().unwrap();
                let code: u8 = r[2].parse().unwrap();
                let mut check = |field: &'static str, a: String, b: String| {
                    if a != b {
                        disagreements.push((stem.clone(), frame, field, a, b));
                    }
                };
                check(
                    "command",
                    t["command"].as_str().unwrap().to_string(),
                    name_of(code).to_string(),
                );
                if code == 3 || code == 0x16 {
                    check(
                        "query",
                        t["query"].as_str().unwrap().to_string(),
                        r[3].clone(),
                    );
                }
                let ours_err = t["response"]["error_code"]
                    .as_u64()
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                // tshark lists every ERR of the reply (a multi-statement stops at the first).
                let theirs_err = r[4].split(',').next().unwrap_or("").to_string();
                if !theirs_err.is_empty() || !ours_err.is_empty() {
                    checked_errors += 1;
                }
                check("error_code", ours_err, theirs_err);
                if !r[5].is_empty() && t["response"]["result_sets"].is_null() {
                    check(
                        "affected_rows",
                        t["response"]["affected_rows"].to_string(),
                        r[5].clone(),
                    );
                }
                if !r[6].is_empty() && code == 3 && t["response"]["result_sets"].is_null() {
                    checked_rows += 1;
                    check("rows", t["response"]["rows"].to_string(), r[6].clone());
                }
            }
        }
    }
    eprintln!("{commands} commands, {checked_errors} error replies, {checked_rows} row counts compared with tshark");
    for d in &disagreements {
        eprintln!("disagreement: {d:?}");
    }
    let got: Vec<(String, u32, &str)> = disagreements
        .iter()
        .map(|d| (d.0.clone(), d.1, d.2))
        .collect();
    let want: Vec<(String, u32, &str)> = TSHARK_WRONG
        .iter()
        .map(|w| (w.0.to_string(), w.1, w.2))
        .collect();
    assert_eq!(got, want);
    assert!(
        commands > 150 && checked_rows >= 20 && checked_errors >= 20,
        "{commands} {checked_rows} {checked_errors}"
    );
}
