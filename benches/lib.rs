//! Benchmarks live in the [[bench]] targets of this package; this library holds what
//! they and the examples share.

use std::time::Duration;

/// The `p` quantile (0 to 1) of latencies sorted in ascending order, nearest rank;
/// zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = (sorted.len().saturating_sub(1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}
