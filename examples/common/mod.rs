#![allow(dead_code)] // each example uses part of this glue
//! Shared plumbing for the example binaries: open the inputs, drive the engine with a progress
//! bar, print the summary, pick the exit code. Logic lives in the crates; this is glue.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
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

/// Ctrl-C and SIGTERM. The first one sets [`Signals::stop`] (the engine stops reading, flushes
/// and the program prints what it has, then exits 130 / 143); a second one exits at once with
/// the same code.
#[derive(Clone)]
pub struct Signals {
    /// Set by the first signal; give it to [`wiresift::Engine::set_stop`].
    pub stop: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl Signals {
    /// Install the handlers (signal-hook: the handlers only set flags).
    pub fn install() -> Signals {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        let which = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM] {
            // Registered first, so it sees `stop` as the previous signal left it: the second
            // signal exits at once.
            let _ =
                signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop));
            let _ = signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize);
            let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
        }
        Signals { stop, which }
    }

    /// Whether a signal came.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The exit code for the signal that came (128 + its number: 130 for SIGINT, 143 for
    /// SIGTERM), or `code` when none did.
    pub fn exit_code(&self, code: ExitCode) -> ExitCode {
        match self.which.load(Ordering::Relaxed) {
            0 => code,
            sig => ExitCode::from((128 + sig).min(255) as u8),
        }
    }
}

/// A pipe (stdin, a fifo) read on its own thread, so that a signal can end the input: reading
/// returns end-of-input as soon as `stop` is set, even while the writer (tcpdump) is silent.
/// (The handlers restart interrupted reads, so the read itself cannot be relied on to return.)
struct StoppableRead {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
    stop: Arc<AtomicBool>,
    eof: bool,
}

impl StoppableRead {
    fn spawn<R: Read + Send + 'static>(mut r: R, stop: Arc<AtomicBool>) -> StoppableRead {
        let (tx, rx) = sync_channel(16);
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; 64 << 10];
            match r.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.send(Ok(Vec::new()));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        StoppableRead {
            rx,
            chunk: Vec::new(),
            at: 0,
            stop,
            eof: false,
        }
    }
}

impl Read for StoppableRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.eof || self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            match self.rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(Ok(c)) if c.is_empty() => self.eof = true,
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.eof = true;
                    return Err(e);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Open one capture: a regular file directly (the engine checks the stop flag as it reads), a
/// pipe (`-`, a fifo) through [`StoppableRead`].
fn open_one(path: &Path, stop: &Arc<AtomicBool>) -> Result<CaptureReader, CaptureError> {
    let piped = path == Path::new("-")
        || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if !piped {
        return CaptureReader::open(path);
    }
    let src: Box<dyn Read + Send> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).map_err(|source| CaptureError::Open {
                path: path.to_path_buf(),
                source,
            })?,
        )
    };
    CaptureReader::from_read(Box::new(StoppableRead::spawn(src, Arc::clone(stop))))
}

/// Open the inputs or exit 2 with a one-line explanation. Several paths (or a directory) are
/// one capture; unreadable ones among several are reported at the end (exit 1), and only when
/// none can be read is it fatal. A signal before the capture's header came exits 130 / 143.
pub fn open_or_exit(paths: &[PathBuf], signals: &Signals) -> Input {
    let single = paths.len() == 1 && !paths[0].is_dir();
    if single {
        return match open_one(&paths[0], &signals.stop) {
            Ok(r) => Input::One(r),
            Err(_) if signals.stopped() => {
                let code = signals.which.load(Ordering::Relaxed);
                std::process::exit((128 + code) as i32);
            }
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

/// One `--request-timeout` value: `SECS` (every plugin) or `PROTO=SECS` (one plugin); 0 turns
/// the timeout off.
#[derive(Debug, Clone)]
pub struct TimeoutSpec {
    plugin: Option<String>,
    timeout: Option<wiresift::core::Duration>,
}

/// Parse a `--request-timeout` value (seconds, fractions allowed).
pub fn parse_timeout(s: &str) -> Result<TimeoutSpec, String> {
    let (plugin, secs) = match s.split_once('=') {
        Some((p, v)) => (Some(p.trim().to_string()), v),
        None => (None, s),
    };
    let v: f64 = secs.trim().parse().map_err(|e| format!("{s}: {e}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s}: must be a number of seconds, 0 or more"));
    }
    let us = (v * 1e6).round() as u64;
    let timeout = (us > 0).then(|| wiresift::core::Duration::from_micros(us));
    Ok(TimeoutSpec { plugin, timeout })
}

/// The engine configuration of the examples: defaults, with the `--request-timeout` values
/// applied (plugin names checked against `registry`, aliases resolved).
pub fn engine_config(
    timeouts: &[TimeoutSpec],
    registry: &wiresift::core::Registry,
) -> Result<wiresift::EngineConfig, String> {
    let mut cfg = wiresift::EngineConfig::default();
    for t in timeouts {
        match &t.plugin {
            None => cfg.request_timeout = t.timeout,
            Some(name) => {
                let idx = registry
                    .index_of(name)
                    .ok_or_else(|| format!("--request-timeout {name}=…: no such protocol"))?;
                let name = registry.plugin(idx).name().to_string();
                cfg.plugin_request_timeouts.push((name, t.timeout));
            }
        }
    }
    Ok(cfg)
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
    signals: &Signals,
) -> ExitCode {
    engine.set_stop(Arc::clone(&signals.stop));
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
    let d = &summary.decode;
    // Nothing usable at all (not a capture; no packet of a link type we decode): the one line
    // below says it, a summary of zeros would not help.
    let nothing = (summary.capture_error.is_some() && summary.capture_bytes == 0 && d.packets == 0)
        || (summary.capture_error.is_none()
            && d.packets > 0
            && d.unsupported_link_type == d.packets);
    if !nothing || signals.stopped() {
        if engine.dissects() {
            eprint!("{}", wiresift::summary::render(&summary));
        } else {
            // `flows` runs no plugin: nothing to say about dissection.
            eprint!(
                "{}",
                wiresift::summary::render_sections(&summary, &["decode", "reassembly"])
            );
        }
    }
    let name = match paths {
        [one] => one.display().to_string(),
        _ => format!("{} inputs", paths.len()),
    };
    if signals.stopped() {
        // The input was cut short on purpose: whatever the reader says about its end is moot.
        eprintln!("wiresift: interrupted: stopped reading {name}; the report covers what was read");
        return signals.exit_code(ExitCode::SUCCESS);
    }
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
