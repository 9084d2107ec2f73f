//! Finding the next message boundary after a gap.
//!
//! Every line-oriented or self-delimiting parser in wiresift resynchronises through
//! [`find_line_boundary`]: candidate boundaries are the start of the data (when the gap is known
//! to end exactly at a boundary) and every position right after a `\n`; the first candidate the
//! protocol's predicate accepts is where parsing restarts. Bytes before it are reported as
//! skipped.

/// Where to look for a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Offset 0 is a candidate too.
    IncludeStart,
    /// Only positions right after a `\n` are candidates (the data starts mid-line).
    AfterNewline,
}

/// First offset in `data` that is a candidate boundary (see [`Start`]) and where `plausible`
/// returns true. `plausible` receives the data from that offset on and must itself cope with
/// short input (return false when it cannot tell; the caller keeps the tail for later).
pub fn find_line_boundary(
    data: &[u8],
    start: Start,
    mut plausible: impl FnMut(&[u8]) -> bool,
) -> Option<usize> {
    if start == Start::IncludeStart && plausible(data) {
        return Some(0);
    }
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == b'\n') {
        let at = from + i + 1;
        if at >= data.len() {
            return None;
        }
        if plausible(&data[at..]) {
            return Some(at);
        }
        from = at;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn star(d: &[u8]) -> bool {
        d.first() == Some(&b'*')
    }

    #[test]
    fn finds_first_plausible_line() {
        assert_eq!(
            find_line_boundary(b"*1", Start::IncludeStart, star),
            Some(0)
        );
        assert_eq!(find_line_boundary(b"*1", Start::AfterNewline, star), None);
        assert_eq!(
            find_line_boundary(b"xx\r\nyy\n*2\r\n", Start::AfterNewline, star),
            Some(7)
        );
        assert_eq!(find_line_boundary(b"xx\n", Start::IncludeStart, star), None);
        assert_eq!(find_line_boundary(b"", Start::IncludeStart, star), None);
    }
}
