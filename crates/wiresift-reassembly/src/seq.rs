//! TCP sequence numbers: 32-bit, compared with wrapping (serial number) arithmetic.
//!
//! Inside a connection the reassembler works on *unwrapped* 64-bit positions whose low 32 bits
//! are the sequence number; `unwrap_near` turns a wire sequence number into the position
//! closest to a known one, which is what makes 32-bit wraparound invisible to the rest of the
//! code.

use std::cmp::Ordering;

/// A TCP sequence (or acknowledgment) number.
///
/// Ordering is the wrapping one of RFC 1982: `a < b` when `b` is less than 2^31 ahead of `a`.
/// It is not transitive over the whole ring, which is why only `PartialOrd` is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `other` to `self`: positive when `self` comes after `other`.
    #[inline]
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self + n`, wrapping.
    #[inline]
    pub const fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl PartialOrd for SeqNum {
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

/// Offset added to the first sequence number of a direction so that unwrapped positions of
/// segments that start before it (up to 2^31 earlier) never go below zero.
pub(crate) const ABS_BASE: u64 = 1 << 32;

/// The unwrapped position of `seq` closest to `reference` (an unwrapped position).
#[inline]
pub(crate) fn unwrap_near(seq: SeqNum, reference: u64) -> u64 {
    let rel = seq.diff(SeqNum(reference as u32));
    reference.checked_add_signed(i64::from(rel)).unwrap_or(0)
}

/// The unwrapped position of the first byte of a direction whose first sequence number is `seq`.
#[inline]
pub(crate) fn first_position(seq: SeqNum) -> u64 {
    ABS_BASE + u64::from(seq.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_wraps() {
        let a = SeqNum(u32::MAX - 10);
        let b = a.add(20);
        assert_eq!(b, SeqNum(9));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert!(SeqNum(5) < SeqNum(6));
        assert!(SeqNum(0x8000_0000) > SeqNum(1));
        assert!(SeqNum(1) > SeqNum(0x8000_0002));
    }

    #[test]
    fn unwrap_across_the_wrap() {
        let base = first_position(SeqNum(u32::MAX - 3));
        // Four bytes later the wire number wrapped to 0; the position keeps counting.
        assert_eq!(unwrap_near(SeqNum(0), base), base + 4);
        assert_eq!(unwrap_near(SeqNum(100), base + 4), base + 104);
        // A retransmission from before the wrap, seen after it.
        assert_eq!(unwrap_near(SeqNum(u32::MAX), base + 104), base + 3);
        // Before the very first byte: still non-negative.
        assert_eq!(unwrap_near(SeqNum(u32::MAX - 13), base), base - 10);
    }
}
