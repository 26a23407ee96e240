//! Automatic sequence numbers for broadcasts whose caller gives none.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last number [`next_seq`] gave, in this process.
static LAST: AtomicI64 = AtomicI64::new(0);

/// A sequence number for a new broadcast: the milliseconds since 1970, or one more
/// than the last number this function gave in this process if that is higher.
///
/// So numbers increase for every origin key of the process (even for broadcasts
/// in the same millisecond, or when the clock steps back), and a later run of the
/// program, with the clock right, starts above the earlier run's numbers: what the
/// receivers' duplicate windows want ([`crate::push::SeenWindow`]). The bindings
/// use it when their callers pass no sequence number.
pub fn next_seq() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_increase_and_follow_the_clock() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .expect("clock after 1970");
        let a = next_seq();
        let b = next_seq();
        assert!(a >= before, "{a} < {before}");
        assert!(b > a);
    }
}
