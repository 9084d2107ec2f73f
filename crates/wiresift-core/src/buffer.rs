//! A bounded carry-over buffer for incremental parsers.
//!
//! Parsers see the stream as a sequence of slices. Complete messages are parsed straight from the
//! slice handed in (no copy); only an incomplete tail is copied, and only up to a limit. A parser
//! that needs more than the limit to make progress must switch to a skipping mode (report the
//! message as truncated and count bytes until its end) instead of buffering.

/// The carry-over would exceed the configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("incomplete message needs more than {limit} buffered bytes (have {have})")]
pub struct BufferOverflow {
    /// The limit.
    pub limit: usize,
    /// Bytes that would have had to be held.
    pub have: usize,
}

/// Carry-over buffer. See the module documentation.
#[derive(Debug, Clone)]
pub struct StreamBuf {
    buf: Vec<u8>,
    limit: usize,
}

impl StreamBuf {
    /// A buffer that holds at most `limit` bytes of incomplete data.
    pub fn new(limit: usize) -> Self {
        StreamBuf {
            buf: Vec::new(),
            limit,
        }
    }

    /// Bytes currently carried over.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is carried over.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Drop the carried-over bytes (after a gap); returns how many were dropped.
    pub fn clear(&mut self) -> usize {
        let n = self.buf.len();
        self.buf.clear();
        n
    }

    /// Feed `data`. `parse` is called with the carried-over bytes followed by `data` (a borrowed
    /// slice of `data` itself when nothing was carried over) and returns how many bytes it fully
    /// consumed; it is called again while it makes progress and input remains. What is left is
    /// kept for the next call.
    ///
    /// Feeding an empty slice is supported: it re-runs `parse` over the carried-over bytes (for
    /// a session that held input until the peer answered and can now make progress).
    ///
    /// On overflow nothing is kept, the buffer is empty, and the error says how many bytes the
    /// caller lost: the caller must report them (and resynchronise).
    pub fn feed<F>(&mut self, mut data: &[u8], mut parse: F) -> Result<(), BufferOverflow>
    where
        F: FnMut(&[u8]) -> usize,
    {
        // While bytes are carried over, append `data` in doubling steps (1 KiB, 2 KiB, …) and
        // re-parse: the carried message usually completes within the first step, the buffer
        // empties, and the rest of `data` is parsed in place without being copied.
        let mut step = 1024usize;
        loop {
            if self.buf.is_empty() {
                let used = drive(data, &mut parse);
                return self.keep(&data[used..]);
            }
            let room = self.limit.saturating_sub(self.buf.len());
            let take = room.min(data.len()).min(step);
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            step = step.saturating_mul(2);
            let used = drive(&self.buf, &mut parse);
            self.buf.drain(..used);
            if data.is_empty() {
                return Ok(());
            }
            if used == 0 && take == 0 {
                // Full, and the parser cannot progress: the caller loses these bytes.
                let have = self.buf.len() + data.len();
                self.buf.clear();
                return Err(BufferOverflow {
                    limit: self.limit,
                    have,
                });
            }
        }
    }

    fn keep(&mut self, rest: &[u8]) -> Result<(), BufferOverflow> {
        if rest.len() > self.limit {
            self.buf.clear();
            return Err(BufferOverflow {
                limit: self.limit,
                have: rest.len(),
            });
        }
        self.buf.extend_from_slice(rest);
        Ok(())
    }
}

fn drive<F: FnMut(&[u8]) -> usize>(data: &[u8], parse: &mut F) -> usize {
    let mut used = 0;
    while used < data.len() {
        let n = parse(&data[used..]).min(data.len() - used);
        if n == 0 {
            break;
        }
        used += n;
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Line parser used by the tests: consumes one `\n`-terminated line.
    fn lines(out: &mut Vec<Vec<u8>>) -> impl FnMut(&[u8]) -> usize + '_ {
        move |d: &[u8]| match d.iter().position(|&b| b == b'\n') {
            Some(i) => {
                out.push(d[..i].to_vec());
                i + 1
            }
            None => 0,
        }
    }

    #[test]
    fn no_copy_path_and_carry() {
        let mut b = StreamBuf::new(16);
        let mut out = Vec::new();
        b.feed(b"ab\ncd", lines(&mut out)).unwrap();
        assert_eq!(out, vec![b"ab".to_vec()]);
        assert_eq!(b.len(), 2);
        b.feed(b"e\nf", lines(&mut out)).unwrap();
        assert_eq!(out, vec![b"ab".to_vec(), b"cde".to_vec()]);
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn overflow_reports_loss_and_empties() {
        let mut b = StreamBuf::new(4);
        let mut out = Vec::new();
        let e = b.feed(b"abcdefgh", lines(&mut out)).unwrap_err();
        assert_eq!(e.have, 8);
        assert!(b.is_empty());
        // Carried 3 bytes, then a line completes within the limit plus a long tail.
        b.feed(b"abc", lines(&mut out)).unwrap();
        b.feed(b"\nxyz\n123456789", lines(&mut out)).unwrap_err();
        assert_eq!(out, vec![b"abc".to_vec(), b"xyz".to_vec()]);
    }

    #[test]
    fn progress_inside_carried_bytes_loses_nothing() {
        // Carried "abc" completes with the first byte of the next feed; the following line is
        // longer than the limit. "abc" must still be parsed before the overflow is reported.
        let mut b = StreamBuf::new(8);
        let mut out = Vec::new();
        b.feed(b"abc", lines(&mut out)).unwrap();
        let e = b.feed(b"\nxyzw12345\n", lines(&mut out)).unwrap_err();
        assert_eq!(out, vec![b"abc".to_vec()]);
        assert_eq!(e.have, 10);
        assert!(b.is_empty());
    }

    #[test]
    fn empty_feed_reruns_parser() {
        let mut b = StreamBuf::new(16);
        let mut out = Vec::new();
        let mut ready = false;
        b.feed(
            b"ab\n",
            |d: &[u8]| if ready { lines(&mut out)(d) } else { 0 },
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        ready = true;
        b.feed(b"", |d: &[u8]| if ready { lines(&mut out)(d) } else { 0 })
            .unwrap();
        assert_eq!(out, vec![b"ab".to_vec()]);
        assert!(b.is_empty());
    }

    proptest! {
        #[test]
        fn any_split_gives_same_lines(
            lines_in in proptest::collection::vec("[a-z]{0,6}", 0..20),
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let mut stream = Vec::new();
            for l in &lines_in { stream.extend_from_slice(l.as_bytes()); stream.push(b'\n'); }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort();
            let mut b = StreamBuf::new(64);
            let mut out = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain(std::iter::once(stream.len())) {
                b.feed(&stream[prev..c], lines(&mut out)).unwrap();
                prev = c;
            }
            let want: Vec<Vec<u8>> = lines_in.iter().map(|l| l.as_bytes().to_vec()).collect();
            prop_assert_eq!(out, want);
            prop_assert!(b.is_empty());
        }
    }
}
