#![allow(dead_code)] // each example uses part of this glue
//! Shared plumbing for the example binaries: open the inputs, drive the engine with a progress
//! bar, print the summary, pick the exit code. Logic lives in the crates; this is glue.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wiresift::net::{CaptureError, CaptureReader, MergedReader, PacketSource, RawPacket};
use wiresift::{Engine, ParallelOutput};

/// The capture given on the command line: one file (or `-` for stdin), or several files and
/// directories read as one capture in timestamp order.
pub enum Input {
    One(CaptureReader),
    Many(MergedReader),
}

impl PacketSource for Input {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        match self {
            Input::One(r) => r.next_packet(),
            Input::Many(m) => m.next_packet(),
        }
    }
    fn bytes_read(&self) -> u64 {
        match self {
            Input::One(r) => r.bytes_read(),
            Input::Many(m) => m.bytes_read(),
        }
    }
    fn errors(&self) -> Vec<String> {
        match self {
            Input::One(r) => PacketSource::errors(r),
            Input::Many(m) => PacketSource::errors(m),
        }
    }
}

/// Open the inputs or exit 2 with a one-line explanation. Several paths (or a directory) are
/// one capture; unreadable ones among several are reported at the end (exit 1), and only when
/// none can be read is it fatal.
pub fn open_or_exit(paths: &[PathBuf]) -> Input {
    let single = paths.len() == 1 && !paths[0].is_dir();
    if single {
        return match CaptureReader::open(&paths[0]) {
            Ok(r) => Input::One(r),
            Err(e) => {
                eprintln!("wiresift: cannot read {}: {e}", paths[0].display());
                std::process::exit(2);
            }
        };
    }
    match MergedReader::open(paths) {
        Ok(m) => Input::Many(m),
        Err(e) => {
            eprintln!("wiresift: cannot read any of the inputs: {e}");
            std::process::exit(2);
        }
    }
}

/// Reading a live stream (`-`): process packet by packet, and write every line at once.
pub fn is_live(paths: &[PathBuf]) -> bool {
    paths.iter().any(|p| p == Path::new("-"))
}

/// Write each output line at once: live input, or a terminal watching.
pub fn flush_lines(paths: &[PathBuf]) -> bool {
    is_live(paths) || std::io::stdout().is_terminal()
}

/// `--threads`' default: the number of cores this process may use; 1 for live input, where
/// batching packets for workers would hold output back until a batch fills.
pub fn default_threads(paths: &[PathBuf]) -> usize {
    if is_live(paths) {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Print `s` on stdout; a closed stdout (`| head`, `| true`) ends the program quietly with
/// `code`, any other write error with exit 1.
pub fn print_or_exit(s: &str, code: ExitCode) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            eprintln!("wiresift: writing output: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--threshold-ms`: a finite number of milliseconds, zero or more.
pub fn parse_ms(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err(format!("{s}: must be a number of milliseconds, 0 or more")),
        Err(e) => Err(format!("{s}: {e}")),
    }
}

/// Run the engine over `input` with `threads` workers, with a progress bar on stderr when it
/// is a terminal and the input is large (or a stream of unknown size). Prints the end-of-run
/// summary on stderr. Returns the exit code: 0, or 1 when the capture (or one of its files) was
/// damaged (what came before the damage was processed and printed).
pub fn run<O: ParallelOutput>(
    engine: &mut Engine<O>,
    input: &mut Input,
    paths: &[PathBuf],
    threads: usize,
) -> ExitCode {
    let size: Option<u64> = if paths.iter().any(|p| p == Path::new("-")) {
        None
    } else {
        Some(
            paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum(),
        )
    };
    let bar = if std::io::stderr().is_terminal() && size.is_none_or(|s| s > 64 << 20) {
        let b = match size {
            Some(s) => ProgressBar::new(s).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        Some(b)
    } else {
        None
    };
    let _ = engine.run_threads(threads, input, |n| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let summary = engine.summary();
    if engine.dissects() {
        eprint!("{}", wiresift::summary::render(&summary));
    } else {
        eprint!(
            "{}",
            wiresift::summary::render_sections(&summary, &["decode", "reassembly"])
        );
    }
    let name = match paths {
        [one] => one.display().to_string(),
        _ => format!("{} inputs", paths.len()),
    };
    let d = &summary.decode;
    match &summary.capture_error {
        // Exit codes: 2 = nothing usable (not a capture at all, or no packet of a link type we
        // decode); 1 = a capture that is damaged after a valid start (everything before the
        // damage was processed and printed); 0 otherwise.
        Some(e) if summary.capture_bytes == 0 && d.packets == 0 => {
            eprintln!("wiresift: cannot read {name}: not a capture: {e}");
            ExitCode::from(2)
        }
        Some(e) => {
            eprintln!("wiresift: {name}: capture damaged: {e}");
            ExitCode::from(1)
        }
        None if d.packets > 0 && d.unsupported_link_type == d.packets => {
            let types: Vec<String> = d
                .unsupported_link_types
                .iter()
                .map(|t| t.to_string())
                .collect();
            eprintln!(
                "wiresift: {name}: nothing could be decoded: link type {} is not supported \
                 ({} packets)",
                types.join(", "),
                d.packets
            );
            ExitCode::from(2)
        }
        None => ExitCode::SUCCESS,
    }
}
