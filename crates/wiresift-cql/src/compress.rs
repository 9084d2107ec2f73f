//! Bounded decompression of v3/v4 frame bodies and v5 lz4 segments (pure Rust: lz4_flex, snap).
//!
//! The uncompressed length a peer declares is a claim: nothing is allocated before it has been
//! checked against the caller's limit.

/// Frame compression negotiated by STARTUP (`COMPRESSION` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// None, or not seen (the capture started after STARTUP).
    #[default]
    None,
    /// lz4 (v3/v4: a 4-byte big-endian uncompressed length, then the block; v5: segments).
    Lz4,
    /// snappy (v3/v4 only), raw format.
    Snappy,
}

impl Compression {
    /// From the STARTUP option value.
    pub fn from_option(v: &str) -> Compression {
        if v.eq_ignore_ascii_case("lz4") {
            Compression::Lz4
        } else if v.eq_ignore_ascii_case("snappy") {
            Compression::Snappy
        } else {
            Compression::None
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// The declared uncompressed size exceeds the limit.
    #[error("declared uncompressed size {declared} exceeds the limit {limit}")]
    TooLarge {
        /// Declared size.
        declared: u64,
        /// Limit.
        limit: usize,
    },
    /// The compressed data is malformed.
    #[error("{codec} data is malformed: {reason}")]
    Malformed {
        /// `lz4` or `snappy`.
        codec: &'static str,
        /// The codec's message.
        reason: String,
    },
}

/// Decompress an lz4 block whose uncompressed size is `size`.
pub fn lz4_block(input: &[u8], size: usize, limit: usize) -> Result<Vec<u8>, DecompressError> {
    if size > limit {
        return Err(DecompressError::TooLarge {
            declared: size as u64,
            limit,
        });
    }
    let mut out = vec![0u8; size];
    match lz4_flex::block::decompress_into(input, &mut out) {
        Ok(n) if n == size => Ok(out),
        Ok(n) => Err(DecompressError::Malformed {
            codec: "lz4",
            reason: format!("decompressed {n} bytes, header says {size}"),
        }),
        Err(e) => Err(DecompressError::Malformed {
            codec: "lz4",
            reason: e.to_string(),
        }),
    }
}

/// Decompress a v3/v4 frame body compressed with `c`.
pub fn frame_body(c: Compression, body: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    match c {
        Compression::Lz4 => {
            let Some(n) = body.get(..4) else {
                return Err(DecompressError::Malformed {
                    codec: "lz4",
                    reason: "body shorter than its 4-byte length".into(),
                });
            };
            let n = u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize;
            lz4_block(&body[4..], n, limit)
        }
        Compression::Snappy => {
            let n = snap::raw::decompress_len(body).map_err(|e| DecompressError::Malformed {
                codec: "snappy",
                reason: e.to_string(),
            })?;
            if n > limit {
                return Err(DecompressError::TooLarge {
                    declared: n as u64,
                    limit,
                });
            }
            snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|e| DecompressError::Malformed {
                    codec: "snappy",
                    reason: e.to_string(),
                })
        }
        Compression::None => Ok(body.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        let data = b"SELECT * FROM ks.t WHERE id = 1; SELECT * FROM ks.t WHERE id = 2".repeat(4);
        let block = lz4_flex::block::compress(&data);
        let mut lz = (data.len() as u32).to_be_bytes().to_vec();
        lz.extend_from_slice(&block);
        assert_eq!(frame_body(Compression::Lz4, &lz, 1 << 20).unwrap(), data);
        assert!(matches!(
            frame_body(Compression::Lz4, &lz, 10),
            Err(DecompressError::TooLarge { .. })
        ));
        let sn = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(frame_body(Compression::Snappy, &sn, 1 << 20).unwrap(), data);
        assert!(frame_body(Compression::Snappy, &sn, 10).is_err());
        // a claim of 4 GiB allocates nothing
        assert!(frame_body(Compression::Lz4, &[0xff, 0xff, 0xff, 0xff, 0], 1 << 20).is_err());
        assert!(frame_body(
            Compression::Snappy,
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
            1 << 20
        )
        .is_err());
        assert!(frame_body(Compression::Lz4, &[1, 2], 1 << 20).is_err());
    }
}
