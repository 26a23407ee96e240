//! BEP 51 `sample_infohashes` on the answering side: who may ask for a sample
//! again, and when.
//!
//! A sample costs a visit of every stored entry, and a crawler that asks one node
//! over and over learns nothing new, so each source IP may ask once per
//! [`SAMPLE_INTERVAL`] (the `interval` every answer carries); a query before that
//! is refused with a 202 error and counted (`NodeStats::sample_refused`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use parking_lot::Mutex;

use crate::time::Time;

/// How long a source waits between two samples of one node: BEP 51's largest
/// `interval`, and libtorrent's default.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// Most info-hashes in one answer: 20 of them (400 bytes) and 8 IPv4 nodes
/// (208 bytes) fit a datagram with room to spare, as libtorrent sends.
pub const MAX_SAMPLES: usize = 20;

/// Most sources remembered at once; past it, new sources are refused until the
/// oldest are forgotten (after [`SAMPLE_INTERVAL`]).
const MAX_SOURCES: usize = 4096;

/// The sources that asked for a sample lately, and when.
#[derive(Debug)]
pub struct SampleLimiter {
    /// Whether the limit applies at all (off in simulations, like the rate limits).
    enabled: bool,
    /// Whether loopback sources are limited too (off by default: test networks
    /// share 127.0.0.1).
    limit_loopback: bool,
    last: Mutex<HashMap<IpAddr, Time>>,
}

impl SampleLimiter {
    /// A limiter; `enabled` and `limit_loopback` as in
    /// [`RateLimitConfig`](crate::node::RateLimitConfig).
    pub fn new(enabled: bool, limit_loopback: bool) -> SampleLimiter {
        SampleLimiter {
            enabled,
            limit_loopback,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may have a sample at `now`; if so, remembers that it had one.
    ///
    /// Locking: the limiter's mutex, alone.
    pub fn admit(&self, ip: IpAddr, now: Time) -> bool {
        if !self.enabled || (ip.is_loopback() && !self.limit_loopback) {
            return true;
        }
        let ip = source_of(ip);
        let mut last = self.last.lock();
        if let Some(at) = last.get(&ip) {
            if now.since(*at) < SAMPLE_INTERVAL {
                return false;
            }
        }
        if last.len() >= MAX_SOURCES && !last.contains_key(&ip) {
            last.retain(|_, at| now.since(*at) < SAMPLE_INTERVAL);
            if last.len() >= MAX_SOURCES {
                return false;
            }
        }
        last.insert(ip, now);
        true
    }

    /// Sources remembered now.
    pub fn len(&self) -> usize {
        self.last.lock().len()
    }

    /// Whether no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The unit a limit applies to: an IPv4 address, or the /64 of an IPv6 one.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6([s[0], s[1], s[2], s[3], 0, 0, 0, 0].into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_interval_per_source() {
        let limiter = SampleLimiter::new(true, true);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = "2001:db8::1".parse().expect("ip");
        let b_same_64: IpAddr = "2001:db8::2".parse().expect("ip");
        let t0 = Time::from_millis(1000);
        assert!(limiter.admit(a, t0));
        assert!(!limiter.admit(a, t0 + Duration::from_secs(60)));
        assert!(limiter.admit(b, t0));
        assert!(!limiter.admit(b_same_64, t0), "an IPv6 /64 is one source");
        assert!(limiter.admit(a, t0 + SAMPLE_INTERVAL));
        // Loopback is exempt unless asked; a disabled limiter admits all.
        let lenient = SampleLimiter::new(true, false);
        assert!(lenient.admit(a, t0) && lenient.admit(a, t0));
        let off = SampleLimiter::new(false, true);
        assert!(off.admit(b, t0) && off.admit(b, t0));
        assert!(off.is_empty());
    }

    #[test]
    fn the_table_of_sources_is_bounded() {
        let limiter = SampleLimiter::new(true, true);
        let t0 = Time::from_millis(1000);
        for i in 0..MAX_SOURCES as u32 {
            assert!(limiter.admit(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), t0));
        }
        let newcomer: IpAddr = [192, 0, 2, 1].into();
        assert!(!limiter.admit(newcomer, t0), "full: refused");
        assert!(
            limiter.admit(newcomer, t0 + SAMPLE_INTERVAL),
            "the old ones go"
        );
        assert_eq!(limiter.len(), 1);
    }
}
