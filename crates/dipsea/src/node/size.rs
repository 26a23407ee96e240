//! The network size estimate: each lookup that runs to its end judges how many
//! nodes the network holds from how far its k-th closest answer lies
//! ([`Lookup::size_estimate`]); the node keeps a running mean of those, the plain
//! mean over its first [`WINDOW`] lookups, then an exponential moving average with
//! weight 1/[`WINDOW`], so that it follows a network that grows or shrinks.

use parking_lot::Mutex;

use crate::lookup::Lookup;

/// How many lookups the estimate averages, about: the weight of a new one is
/// 1/`WINDOW` once that many were seen.
pub(super) const WINDOW: u32 = 16;

/// The running estimate: its value and how many lookups went into it (capped).
#[derive(Debug, Default)]
pub(super) struct SizeEstimate {
    state: Mutex<(f64, u32)>,
}

impl SizeEstimate {
    /// Takes the estimate of a finished lookup, if it gives one.
    ///
    /// Locking: the estimate's mutex, alone.
    pub(super) fn observe(&self, lookup: &Lookup) {
        let Some(n) = lookup.size_estimate() else {
            return;
        };
        self.add(n);
    }

    /// Takes one lookup's estimate `n`.
    pub(super) fn add(&self, n: f64) {
        if !n.is_finite() {
            return;
        }
        let mut state = self.state.lock();
        let (mean, seen) = *state;
        let seen = (seen + 1).min(WINDOW);
        *state = (mean + (n - mean) / f64::from(seen), seen);
    }

    /// The estimate, rounded; `None` before any lookup gave one.
    pub(super) fn get(&self) -> Option<u64> {
        let (mean, seen) = *self.state.lock();
        (seen > 0).then(|| mean.round().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_first_then_moving_average() {
        let e = SizeEstimate::default();
        assert_eq!(e.get(), None);
        e.add(100.0);
        e.add(300.0);
        assert_eq!(e.get(), Some(200));
        e.add(f64::INFINITY);
        assert_eq!(e.get(), Some(200), "a non-finite estimate is ignored");
        for _ in 0..200 {
            e.add(1000.0);
        }
        assert_eq!(e.get(), Some(1000), "it follows a change");
    }
}
