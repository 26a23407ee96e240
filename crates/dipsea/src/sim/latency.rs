//! One-way link latency models.
//!
//! Every link (unordered pair of nodes) has its own latency, drawn once from the
//! model: it is a pure function of the swarm's seed and the pair, so nothing is
//! stored per link (a million nodes have half a trillion links) and the latency of a
//! link does not depend on the order in which packets happen to use it.

use std::time::Duration;

/// The z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874_040_840_8;

/// Longest latency any model gives: a far tail beyond it would only stall a run.
const MAX_MS: u64 = 60_000;

/// How long a datagram takes from one node to another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Every link has this latency.
    Constant(Duration),
    /// Each link's latency is uniform in `min..=max`.
    Uniform {
        /// Shortest link latency.
        min: Duration,
        /// Longest link latency.
        max: Duration,
    },
    /// Log-normal link latencies with this median and 99th percentile: most links are
    /// close to the median, a few are much slower (the shape measured on the
    /// Internet, e.g. in the King data set). Capped at 60 s.
    LongTail {
        /// Median link latency.
        median: Duration,
        /// 99th-percentile link latency (at least the median).
        p99: Duration,
    },
}

impl Default for Latency {
    /// Uniform between 10 and 100 ms, a continent-sized network.
    fn default() -> Self {
        Latency::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(100),
        }
    }
}

impl Latency {
    /// The latency of the link between nodes `a` and `b`, in milliseconds: the same
    /// for both directions and for every packet, given the `seed`.
    pub fn link_ms(&self, seed: u64, a: u32, b: u32) -> u64 {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let h = mix(seed ^ (u64::from(lo) << 32 | u64::from(hi)));
        match *self {
            Latency::Constant(d) => millis(d),
            Latency::Uniform { min, max } => {
                let (min, max) = (millis(min), millis(max).max(millis(min)));
                min + h % (max - min + 1)
            }
            Latency::LongTail { median, p99 } => {
                let median = median.as_secs_f64() * 1000.0;
                let p99 = (p99.as_secs_f64() * 1000.0).max(median);
                if median <= 0.0 {
                    return 0;
                }
                let sigma = (p99 / median).ln() / Z99;
                // Box-Muller from two independent uniforms of the link's hash.
                let u1 = unit(h);
                let u2 = unit(mix(h));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let ms = median * (sigma * z).exp();
                // `as` saturates; the cap keeps a freak draw from stalling a run.
                (ms.round() as u64).min(MAX_MS)
            }
        }
    }

    /// The shortest latency a link can have under this model, in milliseconds (0
    /// for the long tail, whose draws come as close to zero as they like).
    pub fn min_ms(&self) -> u64 {
        match *self {
            Latency::Constant(d) => millis(d),
            Latency::Uniform { min, .. } => millis(min),
            Latency::LongTail { .. } => 0,
        }
    }

    /// The longest latency a link can have under this model (the cap for the long
    /// tail): query timeouts should be at least twice this to avoid spurious ones.
    pub fn max(&self) -> Duration {
        match *self {
            Latency::Constant(d) => d,
            Latency::Uniform { min, max } => max.max(min),
            Latency::LongTail { .. } => Duration::from_millis(MAX_MS),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(MAX_MS).min(MAX_MS)
}

/// SplitMix64's finaliser: a fast, well-mixed hash of a 64-bit value.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in (0, 1) from 52 bits of `h`: never 0, so its log is finite,
/// and never 1. (With 53 bits, the largest, 2^53 - 1 + 0.5, rounds to 2^53 and
/// gives exactly 1; with 52, each value + 0.5 is exact in an `f64`.)
fn unit(h: u64) -> f64 {
    ((h >> 12) as f64 + 0.5) / (1u64 << 52) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_strictly_between_0_and_1() {
        for h in [0, 1, 1 << 11, u64::MAX >> 1, u64::MAX - (1 << 11), u64::MAX] {
            let u = unit(h);
            assert!(u > 0.0 && u < 1.0, "unit({h:#x}) = {u}");
        }
        assert!(unit(u64::MAX).ln() < 0.0);
    }

    #[test]
    fn links_are_symmetric_and_within_bounds() {
        let model = Latency::default();
        for a in 0..50 {
            for b in 0..50 {
                let ms = model.link_ms(7, a, b);
                assert_eq!(ms, model.link_ms(7, b, a));
                assert!((10..=100).contains(&ms), "{ms}");
            }
        }
        assert_eq!(
            Latency::Constant(Duration::from_millis(25)).link_ms(1, 2, 3),
            25
        );
    }

    #[test]
    fn long_tail_has_its_median_and_p99() {
        let model = Latency::LongTail {
            median: Duration::from_millis(50),
            p99: Duration::from_millis(500),
        };
        let mut all: Vec<u64> = (0..20_000).map(|i| model.link_ms(3, i, i + 1)).collect();
        all.sort_unstable();
        let median = all[all.len() / 2];
        let p99 = all[all.len() * 99 / 100];
        assert!((45..=55).contains(&median), "median {median}");
        assert!((400..=600).contains(&p99), "p99 {p99}");
    }
}
