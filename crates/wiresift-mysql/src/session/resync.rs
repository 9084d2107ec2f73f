//! Finding a message start after a gap or on a connection picked up mid-stream (the rule is
//! in the parent module's documentation).

use super::*;

/// Where a message may start in `b` (see the module documentation), and the compression that
/// start implies when it was not known.
pub(super) fn find_start(
    b: &[u8],
    dir: Direction,
    known: Option<Compression>,
) -> Option<(usize, Option<Compression>)> {
    for at in 0..b.len() {
        let d = &b[at..];
        match known {
            Some(Compression::None) => {
                if plain_start(d, dir, true) {
                    return Some((at, None));
                }
            }
            Some(c) => {
                if comp_start(d, dir) {
                    return Some((at, Some(c)));
                }
            }
            None => {
                if comp_start(d, dir) {
                    let kind = if d.len() > 8 && is_zstd_magic(&d[7..]) {
                        Compression::Zstd
                    } else {
                        Compression::Zlib
                    };
                    return Some((at, Some(kind)));
                }
                if plain_start(d, dir, true) {
                    return Some((at, Some(Compression::None)));
                }
            }
        }
        if d.len() < 12 {
            // Too little left to judge: wait for more bytes.
            return None;
        }
    }
    None
}

fn plen(d: &[u8]) -> usize {
    usize::from(d[0]) | usize::from(d[1]) << 8 | usize::from(d[2]) << 16
}

/// A plausible plain packet start (see the module documentation). With `chain`, the packet must
/// end at the end of `d` or be followed by a plausible header.
pub(crate) fn plain_start(d: &[u8], dir: Direction, chain: bool) -> bool {
    if d.len() < 5 {
        return false;
    }
    let len = plen(d);
    let seq = d[3];
    let first = d[4];
    let ok = match dir {
        C2S => seq == 0 && (1..0xFF_FFFF).contains(&len) && Command(first).is_known() && first != 0,
        S2C => {
            seq == 1
                && len >= 1
                && match first {
                    0x00 => len >= 7,
                    0xff => len >= 3,
                    0xfe => len < 0xFF_FFFF,
                    0xfb => true,
                    1..=0xfa => len <= 2,
                    0xfc => len == 3 || len == 4,
                    _ => false,
                }
        }
    };
    if !ok || !chain {
        return ok;
    }
    let end = 4 + len;
    if end == d.len() {
        return true;
    }
    if end > d.len() {
        return len < 1 << 20;
    }
    let n = &d[end..];
    if n.len() < 4 {
        return false;
    }
    let nseq = n[3];
    nseq == seq.wrapping_add(1) || (dir == C2S && nseq == 0) || (dir == S2C && nseq == 1)
}

/// A plausible compressed packet start.
pub(crate) fn comp_start(d: &[u8], dir: Direction) -> bool {
    if d.len() < 9 {
        return false;
    }
    let clen = plen(d);
    let ulen = plen(&d[4..]);
    if clen == 0 {
        return false;
    }
    let body = &d[7..];
    let ok = if ulen == 0 {
        body.len() >= 5
            && plain_start(&body[..body.len().min(clen)], dir, false)
            && plen(body) + 4 <= clen
    } else {
        ulen >= clen.saturating_sub(64) / 2 && (is_zlib_header(body) || is_zstd_magic(body))
    };
    if !ok {
        return false;
    }
    let end = 7 + clen;
    if end >= d.len() {
        return true;
    }
    let n = &d[end..];
    n.len() >= 7 && plen(n) > 0
}
