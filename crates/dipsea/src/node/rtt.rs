//! Round-trip-time estimation for query timeouts (the TCP estimator of RFC 6298,
//! shared by every query a node sends, lock-free).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Smoothed round-trip time and its variation, in microseconds, updated from
/// many threads without a lock. Races between two updates lose one sample, which
/// an estimator tolerates.
#[derive(Debug)]
pub struct RttEstimator {
    srtt_us: AtomicU32,
    rttvar_us: AtomicU32,
    floor: Duration,
    ceiling: Duration,
}

impl RttEstimator {
    /// An estimator whose timeouts stay within `[floor, ceiling]`, starting at
    /// `initial` until the first sample.
    pub fn new(initial: Duration, floor: Duration, ceiling: Duration) -> RttEstimator {
        let initial_us = micros(initial);
        RttEstimator {
            srtt_us: AtomicU32::new(0),
            // Before any sample, the timeout is `initial`: srtt 0 + 4 * initial / 4.
            rttvar_us: AtomicU32::new(initial_us / 4),
            floor,
            ceiling: ceiling.max(floor),
        }
    }

    /// Records one measured round trip.
    pub fn sample(&self, rtt: Duration) {
        let r = micros(rtt);
        let srtt = self.srtt_us.load(Ordering::Relaxed);
        if srtt == 0 {
            self.srtt_us.store(r.max(1), Ordering::Relaxed);
            self.rttvar_us.store(r / 2, Ordering::Relaxed);
            return;
        }
        let var = self.rttvar_us.load(Ordering::Relaxed);
        // RFC 6298: rttvar = 3/4 rttvar + 1/4 |srtt - r|; srtt = 7/8 srtt + 1/8 r.
        let new_var = (u64::from(var) * 3 + u64::from(srtt.abs_diff(r))) / 4;
        let new_srtt = (u64::from(srtt) * 7 + u64::from(r)) / 8;
        self.rttvar_us.store(saturate(new_var), Ordering::Relaxed);
        self.srtt_us
            .store(saturate(new_srtt).max(1), Ordering::Relaxed);
    }

    /// The smoothed round-trip time (zero before the first sample).
    pub fn srtt(&self) -> Duration {
        Duration::from_micros(u64::from(self.srtt_us.load(Ordering::Relaxed)))
    }

    /// How long to wait for an answer before giving up on a query: srtt + 4 rttvar,
    /// clamped to the configured floor and ceiling.
    pub fn timeout(&self) -> Duration {
        let srtt = u64::from(self.srtt_us.load(Ordering::Relaxed));
        let var = u64::from(self.rttvar_us.load(Ordering::Relaxed));
        Duration::from_micros(srtt + 4 * var).clamp(self.floor, self.ceiling)
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn saturate(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_follows_samples_within_bounds() {
        let floor = Duration::from_millis(50);
        let ceiling = Duration::from_secs(2);
        let est = RttEstimator::new(Duration::from_secs(1), floor, ceiling);
        assert_eq!(est.timeout(), Duration::from_secs(1));
        for _ in 0..50 {
            est.sample(Duration::from_millis(100));
        }
        let t = est.timeout();
        assert!(
            t >= Duration::from_millis(100) && t < Duration::from_millis(200),
            "{t:?}"
        );
        for _ in 0..50 {
            est.sample(Duration::from_micros(100));
        }
        assert_eq!(est.timeout(), floor);
        for _ in 0..50 {
            est.sample(Duration::from_secs(30));
        }
        assert_eq!(est.timeout(), ceiling);
    }
}
