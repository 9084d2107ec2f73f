//! Helpers shared by the integration tests that compare with reference decoders.

/// Length of the longest common subsequence of `a` and `b`: how many items two decoders agree
/// on, in order, allowing for items one of them missed or added.
pub fn lcs<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    for x in a {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        prev = cur;
    }
    prev[b.len()]
}

#[test]
fn lcs_counts_in_order_agreement() {
    assert_eq!(lcs(&[1, 2, 3, 4], &[1, 3, 4, 5]), 3);
    assert_eq!(lcs::<u8>(&[], &[1]), 0);
}
