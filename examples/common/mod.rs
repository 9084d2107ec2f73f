//! Shared plumbing for the example binaries: open the input, drive the engine with a progress
//! bar, print the summary, pick the exit code. Logic lives in the crates; this is glue.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use wiresift::net::CaptureReader;
use wiresift::{Engine, Output};

/// Open `path` (`-` for stdin) or exit 2 with a one-line explanation.
pub fn open_or_exit(path: &Path) -> CaptureReader {
    match CaptureReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wiresift: cannot read {}: {e}", path.display());
            std::process::exit(2);
        }
    }
}

/// Run the engine over `reader`, with a progress bar on stderr when it is a terminal and the
/// input is large (or a stream of unknown size). Prints the end-of-run summary on stderr.
/// Returns the exit code: 0, or 1 when the capture was damaged (what came before the damage
/// was processed and printed).
pub fn run<O: Output>(engine: &mut Engine<O>, reader: &mut CaptureReader, path: &Path) -> ExitCode {
    let size = std::fs::metadata(path)
        .map(|m| m.len())
        .ok()
        .filter(|_| path != Path::new("-"));
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
    let result = engine.run(reader, |n| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprint!("{}", wiresift::summary::render(&engine.summary()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wiresift: {}: capture damaged: {e}", path.display());
            ExitCode::from(1)
        }
    }
}
