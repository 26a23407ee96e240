//! Time as the sans-I/O engine sees it: a monotonic millisecond count handed in by
//! the driver. The engine never reads a clock, so the same code runs on real time
//! (the UDP driver) and on virtual time (the simulator).

use std::ops::{Add, AddAssign};
use std::time::Duration;

/// A point in time: milliseconds since the driver's epoch (its start).
///
/// Only differences between two `Time`s from the same driver mean anything.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Time(u64);

impl Time {
    /// The driver's epoch.
    pub const ZERO: Time = Time(0);
    /// Later than any real instant; a deadline that never comes.
    pub const NEVER: Time = Time(u64::MAX);

    /// The time `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self` moved back by `d`, stopping at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(duration_ms(d)))
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(duration_ms(d)))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_millis(1_000);
        assert_eq!(t + Duration::from_secs(1), Time::from_millis(2_000));
        assert_eq!(t.saturating_sub(Duration::from_secs(5)), Time::ZERO);
        assert_eq!(Time::ZERO.since(t), Duration::ZERO);
        assert_eq!(Time::NEVER + Duration::from_secs(1), Time::NEVER);
    }
}
