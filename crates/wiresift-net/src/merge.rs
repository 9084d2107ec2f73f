//! Several capture files read as one capture: [`MergedReader`].
//!
//! tcpdump's rotation (`-C`, `-G`, `-W`) cuts one capture into many files; captures taken on
//! two hosts overlap in time. Either way the files together are one capture, and a connection
//! that crosses a file boundary must continue without a gap. [`MergedReader`] is a streaming
//! k-way merge: it holds one packet per file (never a whole file) and always returns the
//! earliest. Packets with equal timestamps come in the order the files were given, and within
//! one file in file order, so rotated files given in order read exactly as the unsplit file.
//!
//! A file that cannot be opened, is not a capture, or is damaged part-way is recorded in
//! [`MergedReader::errors`] (with its path, and the offset for damage) and the other files are
//! still read to their end.

use crate::capture::{CaptureReader, LinkType, PacketSource, RawPacket};
use crate::error::CaptureError;
use std::path::{Path, PathBuf};
use wiresift_core::Timestamp;

/// One packet held from one file.
#[derive(Debug)]
struct Held {
    ts: Timestamp,
    link_type: LinkType,
    orig_len: u32,
    interface: u32,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Input {
    path: PathBuf,
    reader: CaptureReader,
    held: Option<Held>,
    /// Needs its next packet read before the next pick.
    refill: bool,
    done: bool,
}

/// Several capture files as one capture, in timestamp order. See the module documentation.
#[derive(Debug)]
pub struct MergedReader {
    inputs: Vec<Input>,
    errors: Vec<String>,
    /// The packet handed out last.
    out: Vec<u8>,
}

impl MergedReader {
    /// Open `paths` (a directory stands for the files in it, sorted by name). Files that cannot
    /// be opened are recorded in [`MergedReader::errors`]; it is an error only when none can.
    pub fn open(paths: &[PathBuf]) -> Result<MergedReader, CaptureError> {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| CaptureError::Open {
                        path: p.clone(),
                        source: e,
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                v.sort();
                files.extend(v);
            } else {
                files.push(p.clone());
            }
        }
        let mut errors = Vec::new();
        let mut inputs = Vec::new();
        let mut first_err = None;
        for path in files {
            match CaptureReader::open(&path) {
                Ok(reader) => inputs.push(Input {
                    path,
                    reader,
                    held: None,
                    refill: true,
                    done: false,
                }),
                Err(e) => {
                    errors.push(format!("{}: {e}", path.display()));
                    first_err.get_or_insert(e);
                }
            }
        }
        if inputs.is_empty() {
            return Err(first_err.unwrap_or(CaptureError::TooShort { len: 0 }));
        }
        Ok(MergedReader {
            inputs,
            errors,
            out: Vec::new(),
        })
    }

    /// Readers already open, each named by a path (for messages).
    pub fn from_readers(readers: Vec<(PathBuf, CaptureReader)>) -> MergedReader {
        MergedReader {
            inputs: readers
                .into_iter()
                .map(|(path, reader)| Input {
                    path,
                    reader,
                    held: None,
                    refill: true,
                    done: false,
                })
                .collect(),
            errors: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Files that could not be read, or were damaged, each as `path: what and where`.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The files being read, in the order given.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.inputs.iter().map(|i| i.path.as_path())
    }

    fn fill(&mut self, i: usize) {
        let inp = &mut self.inputs[i];
        inp.refill = false;
        let mut buf = inp.held.take().map(|h| h.data).unwrap_or_default();
        match inp.reader.next_packet() {
            Ok(Some(p)) => {
                buf.clear();
                buf.extend_from_slice(p.data);
                inp.held = Some(Held {
                    ts: p.ts,
                    link_type: p.link_type,
                    orig_len: p.orig_len,
                    interface: p.interface,
                    data: buf,
                });
            }
            Ok(None) => inp.done = true,
            Err(e) => {
                self.errors.push(format!("{}: {e}", inp.path.display()));
                inp.done = true;
            }
        }
    }
}

impl PacketSource for MergedReader {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        for i in 0..self.inputs.len() {
            if self.inputs[i].refill && !self.inputs[i].done {
                self.fill(i);
            }
        }
        let mut best: Option<(Timestamp, usize)> = None;
        for (i, inp) in self.inputs.iter().enumerate() {
            if let Some(h) = &inp.held {
                if best.is_none_or(|(t, _)| h.ts < t) {
                    best = Some((h.ts, i));
                }
            }
        }
        let Some((_, i)) = best else {
            return Ok(None);
        };
        let inp = &mut self.inputs[i];
        let Some(mut h) = inp.held.take() else {
            return Ok(None);
        };
        // Hand out the held bytes; the old output buffer becomes the input's next buffer.
        std::mem::swap(&mut self.out, &mut h.data);
        let (ts, link_type, orig_len, interface) = (h.ts, h.link_type, h.orig_len, h.interface);
        // The held entry now only carries a spare buffer for the next packet: `refill`
        // replaces it before the next pick.
        inp.held = Some(h);
        inp.refill = true;
        Ok(Some(RawPacket {
            ts,
            link_type,
            data: &self.out,
            orig_len,
            interface,
        }))
    }

    fn bytes_read(&self) -> u64 {
        self.inputs.iter().map(|i| i.reader.bytes_read()).sum()
    }

    fn errors(&self) -> Vec<String> {
        let mut v = self.errors.clone();
        for i in &self.inputs {
            for e in PacketSource::errors(&i.reader) {
                v.push(format!("{}: {e}", i.path.display()));
            }
        }
        v
    }
}
