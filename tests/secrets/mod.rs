//! Shared by `tests/tns_captures.rs` and `tests/tns_own.rs`: the secret values a capture holds,
//! for asserting that none of them reaches the output.

/// The values that follow each occurrence of each of `keys` in `bytes`: for each occurrence,
/// the run of hex digits (at most 32 of them) that starts within `within` bytes after the key,
/// kept when it has 16 digits or more.
pub fn hex_values_after(bytes: &[u8], keys: &[&[u8]], within: usize) -> Vec<String> {
    let mut found = Vec::new();
    for key in keys {
        let mut i = 0;
        while let Some(p) = bytes[i..].windows(key.len()).position(|w| w == *key) {
            let at = i + p + key.len();
            i = at;
            let tail = &bytes[at..(at + within).min(bytes.len())];
            let start = tail
                .iter()
                .position(u8::is_ascii_hexdigit)
                .unwrap_or(tail.len());
            let hex: Vec<u8> = bytes[at + start..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .take(32)
                .copied()
                .collect();
            if hex.len() >= 16 {
                found.push(String::from_utf8(hex).unwrap());
            }
        }
    }
    found
}
