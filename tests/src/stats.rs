//! Summaries of repeated benchmark runs: the benches report medians with min and max.

use std::cmp::Ordering;

/// The median, the minimum and the maximum of `values` (for an even count, the upper of the
/// two middle values).
///
/// ```
/// use informer_tests::stats::median_min_max;
/// assert_eq!(median_min_max(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
/// assert_eq!(median_min_max(&[4_u64, 1, 3, 2]), (3, 1, 4));
/// ```
///
/// # Panics
/// If `values` is empty: a bench that measured nothing has nothing to report.
pub fn median_min_max<T: PartialOrd + Copy>(values: &[T]) -> (T, T, T) {
    assert!(!values.is_empty(), "median_min_max of no values");
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    (sorted[sorted.len() / 2], sorted[0], sorted[sorted.len() - 1])
}
