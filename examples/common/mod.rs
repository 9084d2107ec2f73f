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

/// `--threads`' default: the number of cores this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
    eprint!("{}", wiresift::summary::render(&summary));
    match &summary.capture_error {
        None => ExitCode::SUCCESS,
        Some(e) => {
            let name = match paths {
                [one] => one.display().to_string(),
                _ => format!("{} inputs", paths.len()),
            };
            eprintln!("wiresift: {name}: capture damaged: {e}");
            ExitCode::from(1)
        }
    }
}
