//! The example programs (`dissect`, `latency`, `flows`, `synth`) as a user runs them: exit codes,
//! closed pipes, Ctrl-C and SIGTERM, the text format, the latency report and its SVG.
//!
//! These run the example binaries that `cargo test` builds into `target/<profile>/examples/`
//! (beside this test's own `deps/` directory). `cargo test --test cli` alone does not build
//! examples: run `cargo build --examples` first; a missing binary makes each test say so and
//! pass without checking anything.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/examples/<name>`, or `None` (with a note) when it was not built.
fn example(name: &str) -> Option<Command> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/cli-<hash>
    let dir = exe.parent()?.parent()?.join("examples");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        eprintln!(
            "skipping: {} not built (run `cargo build --examples` or plain `cargo test`)",
            bin.display()
        );
        return None;
    }
    let mut c = Command::new(bin);
    c.current_dir(root()).stdin(Stdio::null());
    Some(c)
}

fn run(mut c: Command) -> Output {
    c.output().expect("run example")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"))
}

/// A synthetic capture of about `mb` MiB (written once per name).
fn big_capture(mb: u64) -> PathBuf {
    let p = tmp(&format!("synth-{mb}mb.pcap"));
    if !p.exists() {
        let cfg = wiresift::synth::SynthConfig {
            target_bytes: mb << 20,
            ..wiresift::synth::SynthConfig::default()
        };
        // Unique per test thread: two tests may make the same capture at once.
        let part = p.with_extension(format!("part-{:?}", std::thread::current().id()));
        let mut w = std::io::BufWriter::new(std::fs::File::create(&part).unwrap());
        wiresift::synth::write_pcap(&mut w, &cfg).unwrap();
        w.flush().unwrap();
        drop(w);
        std::fs::rename(&part, &p).unwrap();
    }
    p
}

/// `wiresift summary: N capture bytes` from stderr.
fn capture_bytes(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("wiresift summary: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {stderr}"))
}

/// A little-endian pcap: header and records.
struct Pcap {
    header: Vec<u8>,
    records: Vec<Vec<u8>>,
}

fn read_pcap(p: &Path) -> Pcap {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian µs pcap");
    let mut records = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        records.push(b[at..at + 16 + incl].to_vec());
        at += 16 + incl;
    }
    Pcap {
        header: b[..24].to_vec(),
        records,
    }
}

/// TCP destination port and payload length of an Ethernet/IPv4 record.
fn tcp_dport_payload(rec: &[u8]) -> (u16, usize) {
    let f = &rec[16..];
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let tcp = 14 + ihl;
    let dport = u16::from_be_bytes([f[tcp + 2], f[tcp + 3]]);
    let doff = usize::from(f[tcp + 12] >> 4) * 4;
    (dport, total - ihl - doff)
}

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// Read `r` on a thread; the bytes come back when it ends.
fn drain<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("the example did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exit_codes_follow_one_rule() {
    let Some(_) = example("dissect") else { return };
    // 2: not a capture (a 4-byte pcapng, a 10-byte pcap, garbage, a missing file).
    let plain = std::fs::read(root().join("testdata/resp/plain.pcap")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("four.pcapng", vec![0x0a, 0x0d, 0x0d, 0x0a]),
        ("ten.pcap", plain[..10].to_vec()),
        ("garbage.pcap", b"this is not a capture at all".to_vec()),
    ];
    for (name, bytes) in cases {
        let p = tmp(name);
        std::fs::write(&p, bytes).unwrap();
        let mut c = example("dissect").unwrap();
        c.arg(&p);
        let o = run(c);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("not a"), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        assert!(o.stdout.is_empty());
    }
    let mut c = example("dissect").unwrap();
    c.arg(tmp("does-not-exist.pcap"));
    assert_eq!(run(c).status.code(), Some(2));
    // 1: damaged after a valid start; what came before is printed.
    let p = tmp("truncated.pcap");
    std::fs::write(&p, &plain[..5000]).unwrap();
    let mut c = example("dissect").unwrap();
    c.arg(&p);
    let o = run(c);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("capture damaged").count(), 1, "{err}");
    assert!(text(&o.stdout).lines().count() > 5);
    // 0: fine.
    let mut c = example("dissect").unwrap();
    c.arg("testdata/resp/plain.pcap");
    assert_eq!(run(c).status.code(), Some(0));
}

#[test]
fn unsupported_link_type_is_named_and_fails() {
    let Some(mut c) = example("dissect") else {
        return;
    };
    let plain = read_pcap(&root().join("testdata/resp/plain.pcap"));
    let mut b = plain.header.clone();
    b[20..24].copy_from_slice(&4242u32.to_le_bytes());
    for r in plain.records.iter().take(5) {
        b.extend_from_slice(r);
    }
    let p = tmp("linktype-4242.pcap");
    std::fs::write(&p, b).unwrap();
    c.arg(&p);
    let o = run(c);
    let err = text(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("4242")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("link type 4242"), "{err}");
}

#[test]
fn closed_stdout_stops_reading_quietly() {
    let Some(_) = example("dissect") else { return };
    let big = big_capture(24);
    let size = std::fs::metadata(&big).unwrap().len();
    for threads in ["1", "2"] {
        for format in ["ndjson", "text"] {
            // `dissect big | head -1`
            let mut c = example("dissect").unwrap();
            c.args(["--threads", threads, "--format", format])
                .arg(&big)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().unwrap();
            let err = drain(child.stderr.take().unwrap());
            let mut first = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut first)
                .unwrap();
            // The reader is dropped here: stdout is closed.
            let status = wait_timeout(&mut child, Duration::from_secs(120));
            let err = text(&err.join().unwrap());
            assert!(!first.is_empty());
            assert_eq!(status.code(), Some(0), "--threads {threads}: {err}");
            assert!(
                !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("error"),
                "{err}"
            );
            let read = capture_bytes(&err);
            assert!(
                read < size / 2,
                "--threads {threads} --format {format}: read {read} of {size} bytes after stdout closed"
            );
        }
    }
    // `latency FILE | true`: the report has nowhere to go; exit 0, no panic.
    let mut c = example("latency").unwrap();
    c.arg("testdata/resp/plain.pcap")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let err = text(&err.join().unwrap());
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn arguments_are_checked() {
    let Some(_) = example("dissect") else { return };
    for args in [
        &["--threshold-ms", "-1"][..],
        &["--threshold-ms=-1"],
        &["--threshold-ms", "nan"],
        &["--request-timeout=-1"],
        &["--request-timeout", "soon"],
        &["--request-timeout", "nosuch=5"],
    ] {
        let mut c = example("dissect").unwrap();
        c.args(args).arg("testdata/resp/plain.pcap");
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
    }
    let mut c = example("dissect").unwrap();
    c.args(["--port", "redis=6380", "testdata/resp/plain.pcap"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for t in ["0", "2.5", "redis=1", "smtp=0"] {
        let mut c = example("dissect").unwrap();
        c.args(["--request-timeout", t, "testdata/resp/plain.pcap"]);
        assert_eq!(run(c).status.code(), Some(0), "--request-timeout {t}");
    }
    let mut c = example("dissect").unwrap();
    c.args(["--port", "nosuch=1", "testdata/resp/plain.pcap"]);
    assert_eq!(run(c).status.code(), Some(2));
    let mut c = example("synth").unwrap();
    c.arg("--help");
    let o = run(c);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("usage"));
    let mut c = example("latency").unwrap();
    c.args(["--sort", "nope", "testdata/resp/plain.pcap"]);
    assert_eq!(run(c).status.code(), Some(2));
}

#[test]
fn text_format_and_time_field() {
    let Some(mut c) = example("dissect") else {
        return;
    };
    c.args(["--format", "text", "testdata/resp/auth.pcap"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        "2026-11-22 06:25:20.412191 10.77.0.2:36086 => 10.77.0.1:6390 | 0.084 ms | GET k | error NOAUTH Authentication required."
    );
    // NDJSON is the default when stdout is not a terminal; `time` beside `ts`.
    let mut c = example("dissect").unwrap();
    c.arg("testdata/resp/auth.pcap");
    let o = run(c);
    let line = text(&o.stdout).lines().next().unwrap().to_string();
    assert!(
        line.starts_with(
            r#"{"ts":"1795328720.412191","time":"2026-11-22T06:25:20.412191Z","protocol":"resp""#
        ),
        "{line}"
    );
    // Threads do not change the text output.
    let mut one = example("dissect").unwrap();
    one.args(["--format", "text", "--threads", "1", "testdata/resp"]);
    let mut two = example("dissect").unwrap();
    two.args(["--format", "text", "--threads", "2", "testdata/resp"]);
    let (a, b) = (run(one), run(two));
    assert!(!a.stdout.is_empty());
    assert_eq!(text(&a.stdout), text(&b.stdout));
    // Local time with TZ set: the offset is printed.
    let mut c = example("dissect").unwrap();
    c.env("TZ", "Asia/Kolkata").args([
        "--format",
        "text",
        "--local-time",
        "testdata/resp/auth.pcap",
    ]);
    let o = run(c);
    let first = text(&o.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        assert!(
            first.starts_with("2026-11-22 11:55:20.412191+05:30 10.77.0.2:36086"),
            "{first}"
        );
    }
}

#[test]
fn latency_report_and_svg() {
    let Some(mut c) = example("latency") else {
        return;
    };
    c.args([
        "--json",
        "testdata/smtp/plain.pcap",
        "testdata/smtp/greeting-reject.pcap",
    ]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows[0]["total"].as_bool().unwrap());
    assert_eq!(rows[0]["histogram"].as_array().unwrap().len(), 20);
    assert!(rows[0]["histogram"][0]["le_us"].is_u64());
    assert!(rows[0]["histogram"][19]["le_us"].is_null());
    // Greetings have no latency: null, and `-` in the text table.
    let greeting = rows.iter().find(|r| r["command"] == "GREETING");
    if let Some(g) = greeting {
        assert!(g["p99_us"].is_null(), "{g}");
    }
    let svg = tmp("latency.svg");
    let _ = std::fs::remove_file(&svg);
    let mut c = example("latency").unwrap();
    c.args(["--sort", "count", "--svg"])
        .arg(&svg)
        .arg("testdata/resp/plain.pcap");
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    assert!(table.contains("(total)"), "{table}");
    assert!(
        table.contains("<=50us:") && table.contains(">20s:0"),
        "{table}"
    );
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("10.77.0.1:6379 (resp)"));
}

#[test]
fn flows_prints_no_dissection_counters_and_one_error() {
    let Some(mut c) = example("flows") else {
        return;
    };
    let plain = std::fs::read(root().join("testdata/resp/plain.pcap")).unwrap();
    let p = tmp("flows-truncated.pcap");
    std::fs::write(&p, &plain[..5000]).unwrap();
    c.arg(&p);
    let o = run(c);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("dissect:"), "{err}");
    assert_eq!(err.matches("truncated packet record").count(), 1, "{err}");
    let mut c = example("flows").unwrap();
    c.arg("testdata/resp/midstream.pcap");
    let o = run(c);
    let out = text(&o.stdout);
    // The role rule has the same name as in the transactions' summary counters.
    assert!(out.contains(r#""role":"server_port""#), "{out}");
    assert!(!out.contains("port_rule"));
}

/// Feed `dissect -` (or `latency -`) the capture's header and first packets through a pipe that
/// stays open, as `tcpdump -w -` would, then send `sig`.
fn interrupt(name: &str, args: &[&str], sig: &str) -> (Option<i32>, String, String) {
    let plain = read_pcap(&root().join("testdata/resp/plain.pcap"));
    // Up to the first request (payload towards 6379) after a few transactions: its reply is
    // never sent, so it is pending when the signal comes.
    let mut requests = 0;
    let cut = plain
        .records
        .iter()
        .position(|r| {
            let (port, len) = tcp_dport_payload(r);
            if port == 6379 && len > 0 {
                requests += 1;
            }
            requests == 4
        })
        .unwrap();
    let mut c = example(name).unwrap();
    c.args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&plain.header).unwrap();
    for r in &plain.records[..=cut] {
        stdin.write_all(r).unwrap();
    }
    stdin.flush().unwrap();
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    std::thread::sleep(Duration::from_millis(700));
    kill(&child, sig);
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    drop(stdin);
    (
        status.code(),
        text(&out.join().unwrap()),
        text(&err.join().unwrap()),
    )
}

#[test]
fn ctrl_c_flushes_pending_requests_and_exits_130() {
    let Some(_) = example("dissect") else { return };
    let (code, out, err) = interrupt("dissect", &["--format", "ndjson"], "-INT");
    assert_eq!(code, Some(130), "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3, "{out}");
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "no_response", "{out}");
    assert_eq!(last["notes"][0]["kind"], "interrupted", "{out}");
    assert!(err.contains("wiresift summary:"), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let (code, out, _) = interrupt("dissect", &["--format", "text"], "-TERM");
    assert_eq!(code, Some(143));
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with("| no_response | interrupted"),
        "{out}"
    );
}

#[test]
fn latency_from_a_pipe_prints_its_report_after_a_signal() {
    let Some(_) = example("latency") else { return };
    for (sig, want) in [("-INT", 130), ("-TERM", 143)] {
        let (code, out, err) = interrupt("latency", &[], sig);
        assert_eq!(code, Some(want), "{err}");
        assert!(out.contains("(total)"), "{out}");
        assert!(out.contains("10.77.0.1:6379"), "{out}");
    }
}

#[test]
fn ctrl_c_on_a_file_stops_early() {
    let Some(mut c) = example("latency") else {
        return;
    };
    // 64 MiB: the signal comes well before the end (else the test says so and checks nothing).
    let big = big_capture(64);
    let size = std::fs::metadata(&big).unwrap().len();
    c.args(["--threads", "2"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    std::thread::sleep(Duration::from_millis(150));
    kill(&child, "-INT");
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let (out, err) = (text(&out.join().unwrap()), text(&err.join().unwrap()));
    if status.code() == Some(0) {
        eprintln!("the run finished before the signal; nothing to check");
        return;
    }
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(capture_bytes(&err) < size, "{err}");
    assert!(out.contains("(total)"), "{out}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let Some(mut c) = example("dissect") else {
        return;
    };
    // Nobody reads stdout: the pipe fills and the program blocks writing. The first signal
    // stops the reading, but the output cannot be written; the second one ends it.
    let big = big_capture(24);
    c.args(["--threads", "1"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let err = drain(child.stderr.take().unwrap());
    std::thread::sleep(Duration::from_millis(500));
    kill(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    if let Some(s) = child.try_wait().unwrap() {
        panic!("exited after one signal while its output was blocked: {s:?}");
    }
    kill(&child, "-INT");
    let status = wait_timeout(&mut child, Duration::from_secs(5));
    drop(stdout);
    let _ = err.join();
    assert_eq!(status.code(), Some(130));
}
