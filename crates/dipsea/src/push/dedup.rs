//! Duplicate suppression: which sequence numbers of one origin were seen, in a
//! sliding window (the anti-replay window of IPsec, RFC 4303 section 3.4.3).

/// How many sequence numbers below an origin's highest one are remembered: 64.
///
/// A broadcast whose number is [`WINDOW`] or more below the highest seen from its
/// origin is refused as a replay ([`Seen::TooOld`]). An origin that sends faster than
/// its broadcasts spread can lose some; 64 in flight at once is far beyond what the
/// per-origin rate limit allows.
pub const WINDOW: u64 = 64;

/// Whether a sequence number was seen already.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// Never seen: deliver and forward it.
    New,
    /// Seen: a second copy (another parent of the tree, beta > 1) or a replay.
    Duplicate,
    /// Too far below the highest number seen to tell: refused as a replay.
    TooOld,
}

/// The sequence numbers seen from one origin: the highest, and a bit for each of the
/// [`WINDOW`] below it. 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SeenWindow {
    highest: i64,
    /// Bit `i` set: `highest - i` was seen (bit 0 is `highest` itself).
    bits: u64,
}

impl SeenWindow {
    /// A window that has seen `seq` only.
    pub fn new(seq: i64) -> SeenWindow {
        SeenWindow {
            highest: seq,
            bits: 1,
        }
    }

    /// The highest sequence number seen.
    pub fn highest(&self) -> i64 {
        self.highest
    }

    /// Whether `seq` was seen, without recording it.
    pub fn check(&self, seq: i64) -> Seen {
        if seq > self.highest {
            return Seen::New;
        }
        let behind = self.highest.abs_diff(seq);
        if behind >= WINDOW {
            Seen::TooOld
        } else if self.bits & (1 << behind) != 0 {
            Seen::Duplicate
        } else {
            Seen::New
        }
    }

    /// Records `seq` as seen; what [`check`](Self::check) said before.
    pub fn record(&mut self, seq: i64) -> Seen {
        let seen = self.check(seq);
        if seen != Seen::New {
            return seen;
        }
        if seq > self.highest {
            let ahead = seq.abs_diff(self.highest);
            self.bits = if ahead >= WINDOW {
                0
            } else {
                self.bits << ahead
            };
            self.bits |= 1;
            self.highest = seq;
        } else {
            self.bits |= 1 << self.highest.abs_diff(seq);
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window() {
        let mut w = SeenWindow::new(100);
        assert_eq!(w.record(100), Seen::Duplicate);
        assert_eq!(w.record(99), Seen::New);
        assert_eq!(w.record(99), Seen::Duplicate);
        assert_eq!(w.record(37), Seen::New);
        assert_eq!(w.record(36), Seen::TooOld);
        assert_eq!(w.record(101), Seen::New);
        assert_eq!(w.record(37), Seen::TooOld);
        assert_eq!(w.record(500), Seen::New);
        assert_eq!(w.check(101), Seen::TooOld);
        assert_eq!(w.check(499), Seen::New);
        assert_eq!(w.highest(), 500);
        let mut extreme = SeenWindow::new(i64::MIN);
        assert_eq!(extreme.record(i64::MAX), Seen::New);
        assert_eq!(extreme.record(i64::MIN), Seen::TooOld);
    }

    proptest! {
        /// Against a set of every number seen: a number in the window is new exactly
        /// when it was never recorded; one below it is never new.
        #[test]
        fn matches_a_set(seqs in proptest::collection::vec(0i64..300, 1..200)) {
            let mut w = SeenWindow::new(seqs[0]);
            let mut seen = std::collections::HashSet::from([seqs[0]]);
            for &s in &seqs[1..] {
                let highest = *seen.iter().max().expect("non-empty");
                let expected = if s > highest || (highest - s < WINDOW as i64 && !seen.contains(&s)) {
                    Seen::New
                } else if highest - s >= WINDOW as i64 {
                    Seen::TooOld
                } else {
                    Seen::Duplicate
                };
                prop_assert_eq!(w.record(s), expected);
                if expected == Seen::New {
                    seen.insert(s);
                }
            }
        }
    }
}
