//! Rate limits on the queries a node answers: a token bucket per source IP and one
//! for the whole node.
//!
//! Entry point: [`RateLimiter::admit`], called once per incoming query (and per
//! malformed datagram that would get an error reply) before any work is done for it.
//! Every answer costs one token, so the same limits bound the queries answered and
//! the replies sent. A refusal costs a hash lookup and a few arithmetic operations
//! under one shard lock: no allocation, no decoding beyond what was done already.
//!
//! # Rules
//!
//! - Each source IP has a bucket of [`RateLimitConfig::per_ip_burst`] tokens refilled
//!   at [`RateLimitConfig::per_ip_rate`] per second. A query from an IP with an empty
//!   bucket is dropped.
//! - The node has one bucket of [`RateLimitConfig::global_burst`] tokens refilled at
//!   [`RateLimitConfig::global_rate`] per second. When it is empty, only **light**
//!   sources are still answered: those whose own bucket is at least half full, i.e.
//!   who have used less than half of their burst lately. A flood from busy sources
//!   then cannot starve the well-behaved peers of an overloaded node, and what light
//!   sources add is bounded by their own buckets.
//! - The per-IP table holds at most [`RateLimitConfig::max_tracked_ips`] sources. An
//!   entry whose bucket has refilled completely carries no information and is dropped
//!   when room is needed; when every entry is still busy, new sources share one
//!   overflow bucket (so spraying addresses buys an attacker one bucket, not many).
//! - Loopback sources are exempt unless [`RateLimitConfig::limit_loopback`] is set: a
//!   test network or a swarm started from one script runs all its nodes on 127.0.0.1,
//!   which a per-IP limit would throttle as if it were one abusive peer.
//!
//! # Locking
//!
//! The per-IP table is split into [`SHARDS`] `parking_lot` mutexes chosen by a keyed
//! hash of the IP (so sources cannot be picked to collide); the global bucket is one
//! atomic word updated by compare-and-swap. No lock is shared by all packets.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::time::Time;

/// Shards of the per-IP table.
pub const SHARDS: usize = 64;

/// Token buckets are kept in thousandths of a token, so that rates of a few queries
/// per second refill smoothly at millisecond resolution.
const MILLI: u64 = 1_000;

/// Limits on the queries a node answers. [`RateLimitConfig::default`] suits a node on
/// the public network; [`RateLimitConfig::unlimited`] turns limiting off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Whether limits apply at all. Default true.
    pub enabled: bool,
    /// Queries per second one source IP may have answered, on average. Default 20.
    pub per_ip_rate: u32,
    /// Queries one source IP may send in a burst. Default 100.
    pub per_ip_burst: u32,
    /// Queries per second the node answers in all, on average (light sources are
    /// answered beyond it; see the module docs). Default 10,000.
    pub global_rate: u32,
    /// Queries the node answers in a burst. Default 20,000.
    pub global_burst: u32,
    /// Most source IPs tracked at once (about 48 bytes each). Default 65,536.
    pub max_tracked_ips: usize,
    /// Whether loopback sources (127.0.0.0/8, ::1) are limited too. Default false.
    pub limit_loopback: bool,
}

impl Default for RateLimitConfig {
    /// 20 queries per second per IP with bursts of 100, 10,000 per second in all.
    ///
    /// A well-behaved peer sends a node a handful of queries per lookup and a few
    /// lookups a minute; libtorrent blocks a source after 5 queries per second on
    /// average. 20 leaves room for busy clients behind one address (a NAT).
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            per_ip_rate: 20,
            per_ip_burst: 100,
            global_rate: 10_000,
            global_burst: 20_000,
            max_tracked_ips: 65_536,
            limit_loopback: false,
        }
    }
}

impl RateLimitConfig {
    /// No limits: every query is answered.
    pub fn unlimited() -> Self {
        RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        }
    }
}

/// Why [`RateLimiter::admit`] refused a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// The source IP used up its own bucket.
    PerIp,
    /// The node is over its global rate and the source is not a light one.
    Global,
}

/// One token bucket: its level in thousandths of a token and when it was last
/// refilled.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: u64,
    at: u64,
}

impl Bucket {
    fn full(burst: u64, now: u64) -> Bucket {
        Bucket {
            level: burst * MILLI,
            at: now,
        }
    }

    /// Refills for the time since the last call: `rate` tokens per second is `rate`
    /// thousandths per millisecond.
    fn refill(&mut self, rate: u64, burst: u64, now: u64) {
        let elapsed = now.saturating_sub(self.at);
        self.level = (self.level + elapsed.saturating_mul(rate)).min(burst * MILLI);
        self.at = self.at.max(now);
    }

    fn take(&mut self) -> bool {
        if self.level >= MILLI {
            self.level -= MILLI;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Shard {
    buckets: HashMap<IpAddr, Bucket, RandomState>,
    /// When a full shard was last found to have no idle entry; it is not scanned
    /// again for a second, so a flood of new sources costs no repeated scans.
    full_since: Option<u64>,
}

/// Per-IP and global token buckets; see the module docs.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    shards: Box<[Mutex<Shard>]>,
    /// Keys the choice of shard, as the maps' own hashers key the slots.
    shard_hasher: RandomState,
    per_shard: usize,
    /// The global bucket: level (thousandths of a token) in the high 32 bits,
    /// milliseconds of the last refill modulo 2^32 (49 days) in the low 32.
    global: AtomicU64,
    overflow: Mutex<Bucket>,
}

const TIME_BITS: u32 = 32;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

impl RateLimiter {
    /// A limiter with every bucket full.
    pub fn new(config: RateLimitConfig, now: Time) -> RateLimiter {
        let now = now.as_millis();
        let shards = if config.enabled { SHARDS } else { 0 };
        let per_shard = config.max_tracked_ips.div_ceil(SHARDS).max(1);
        let global_level = global_capacity(&config);
        RateLimiter {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::default(),
                        full_since: None,
                    })
                })
                .collect(),
            shard_hasher: RandomState::new(),
            per_shard,
            global: AtomicU64::new(pack(global_level, now)),
            overflow: Mutex::new(Bucket::full(u64::from(config.per_ip_burst), now)),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Whether a query from `ip` may be answered now; takes its tokens if so.
    pub fn admit(&self, ip: IpAddr, now: Time) -> Result<(), Limited> {
        if !self.config.enabled || (ip.is_loopback() && !self.config.limit_loopback) {
            return Ok(());
        }
        let now = now.as_millis();
        let rate = u64::from(self.config.per_ip_rate);
        let burst = u64::from(self.config.per_ip_burst);
        let light_level = {
            let shard = (self.shard_hasher.hash_one(ip) as usize) % self.shards.len();
            let mut shard = self.shards[shard].lock();
            match self.bucket(&mut shard, ip, now) {
                Some(bucket) => take_from(bucket, rate, burst, now)?,
                None => {
                    drop(shard);
                    take_from(&mut self.overflow.lock(), rate, burst, now)?
                }
            }
        };
        if self.take_global(now) || light_level * 2 >= burst * MILLI {
            Ok(())
        } else {
            Err(Limited::Global)
        }
    }

    /// The bucket of `ip`, created full if there is room for it.
    fn bucket<'a>(&self, shard: &'a mut Shard, ip: IpAddr, now: u64) -> Option<&'a mut Bucket> {
        if !shard.buckets.contains_key(&ip) && shard.buckets.len() >= self.per_shard {
            if shard.full_since.is_some_and(|t| now < t + 1_000) {
                return None;
            }
            self.drop_idle(shard, now);
            if shard.buckets.len() >= self.per_shard {
                shard.full_since = Some(now);
                return None;
            }
            shard.full_since = None;
        }
        let burst = u64::from(self.config.per_ip_burst);
        Some(
            shard
                .buckets
                .entry(ip)
                .or_insert_with(|| Bucket::full(burst, now)),
        )
    }

    /// Drops the entries whose buckets have refilled completely: a new bucket for
    /// such a source would be the same.
    fn drop_idle(&self, shard: &mut Shard, now: u64) {
        let rate = u64::from(self.config.per_ip_rate);
        let burst = u64::from(self.config.per_ip_burst);
        shard.buckets.retain(|_, b| {
            let mut b = *b;
            b.refill(rate, burst, now);
            b.level < burst * MILLI
        });
    }

    fn take_global(&self, now: u64) -> bool {
        let rate = u64::from(self.config.global_rate);
        let burst = global_capacity(&self.config);
        let mut current = self.global.load(Ordering::Relaxed);
        loop {
            let (level, at) = unpack(current);
            let elapsed = now.wrapping_sub(at) & TIME_MASK;
            let level = level
                .saturating_add(elapsed.saturating_mul(rate))
                .min(burst);
            let Some(level) = level.checked_sub(MILLI) else {
                return false;
            };
            match self.global.compare_exchange_weak(
                current,
                pack(level, now),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Heap bytes the per-IP table holds (slots by capacity, shards included).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.shards.len() * size_of::<Mutex<Shard>>()
            + self
                .shards
                .iter()
                .map(|s| s.lock().buckets.capacity() * (size_of::<(IpAddr, Bucket)>() + 1))
                .sum::<usize>()
    }

    /// Source IPs tracked now.
    pub fn tracked_ips(&self) -> usize {
        self.shards.iter().map(|s| s.lock().buckets.len()).sum()
    }
}

/// Takes one token from `bucket`; the level left, or `Limited::PerIp`.
fn take_from(bucket: &mut Bucket, rate: u64, burst: u64, now: u64) -> Result<u64, Limited> {
    bucket.refill(rate, burst, now);
    if bucket.take() {
        Ok(bucket.level)
    } else {
        Err(Limited::PerIp)
    }
}

/// The global bucket's size in thousandths of a token, clamped to what its 32 bits
/// hold (over 4 million tokens).
fn global_capacity(config: &RateLimitConfig) -> u64 {
    (u64::from(config.global_burst) * MILLI).min(u64::from(u32::MAX))
}

fn pack(level: u64, now: u64) -> u64 {
    (level << TIME_BITS) | (now & TIME_MASK)
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> TIME_BITS, word & TIME_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::from([a, b, c, d])
    }

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            per_ip_rate: 10,
            per_ip_burst: 20,
            global_rate: 1_000,
            global_burst: 1_000,
            ..RateLimitConfig::default()
        }
    }

    fn admitted(limiter: &RateLimiter, ip: IpAddr, n: usize, now: Time) -> usize {
        (0..n).filter(|_| limiter.admit(ip, now).is_ok()).count()
    }

    #[test]
    fn a_source_gets_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(config(), Time::ZERO);
        let a = ip(1, 2, 3, 4);
        assert_eq!(admitted(&limiter, a, 100, Time::ZERO), 20);
        assert_eq!(limiter.admit(a, Time::ZERO), Err(Limited::PerIp));
        // 10 per second: 500 ms later, 5 more.
        assert_eq!(admitted(&limiter, a, 100, Time::from_millis(500)), 5);
        // Another source is not affected.
        assert_eq!(
            admitted(&limiter, ip(1, 2, 3, 5), 100, Time::from_millis(500)),
            20
        );
    }

    #[test]
    fn loopback_is_exempt_unless_asked() {
        let limiter = RateLimiter::new(config(), Time::ZERO);
        assert_eq!(
            admitted(&limiter, ip(127, 0, 0, 1), 1_000, Time::ZERO),
            1_000
        );
        assert_eq!(limiter.tracked_ips(), 0);
        let strict = RateLimiter::new(
            RateLimitConfig {
                limit_loopback: true,
                ..config()
            },
            Time::ZERO,
        );
        assert_eq!(admitted(&strict, ip(127, 0, 0, 1), 1_000, Time::ZERO), 20);
        assert_eq!(
            admitted(&strict, "::1".parse().expect("ip"), 1_000, Time::ZERO),
            20
        );
    }

    #[test]
    fn unlimited_admits_everything_and_tracks_nothing() {
        let limiter = RateLimiter::new(RateLimitConfig::unlimited(), Time::ZERO);
        assert_eq!(
            admitted(&limiter, ip(1, 2, 3, 4), 10_000, Time::ZERO),
            10_000
        );
        assert_eq!(limiter.tracked_ips(), 0);
    }

    #[test]
    fn over_the_global_rate_only_light_sources_are_answered() {
        let limiter = RateLimiter::new(
            RateLimitConfig {
                global_burst: 100,
                ..config()
            },
            Time::ZERO,
        );
        // 5 sources using their whole burst drain the global bucket of 100 tokens.
        let answered: usize = (0..5u8)
            .map(|i| admitted(&limiter, ip(10, 0, 0, i), 20, Time::ZERO))
            .sum();
        assert_eq!(answered, 100);
        // A source is answered while it has used at most half of its burst...
        let busy = ip(10, 1, 0, 0);
        assert_eq!(admitted(&limiter, busy, 20, Time::ZERO), 10);
        assert_eq!(limiter.admit(busy, Time::ZERO), Err(Limited::PerIp));
        // ...so a light one still gets through.
        assert_eq!(limiter.admit(ip(10, 2, 0, 0), Time::ZERO), Ok(()));
        // 100 ms later the global bucket has refilled by its rate (1,000/s): 100 more
        // answers (5 whole bursts), then 10 for each further source, as above.
        let later = Time::from_millis(100);
        let answered: usize = (0..10u8)
            .map(|i| admitted(&limiter, ip(10, 3, 0, i), 20, later))
            .sum();
        assert_eq!(answered, 100 + 5 * 10);
    }

    #[test]
    fn the_table_is_bounded_and_idle_sources_make_room() {
        let limiter = RateLimiter::new(
            RateLimitConfig {
                max_tracked_ips: SHARDS * 4,
                global_rate: 1_000_000,
                global_burst: 1_000_000,
                ..config()
            },
            Time::ZERO,
        );
        // Many busy sources: the table stops growing and the rest share one bucket.
        for i in 0..4_000u32 {
            let [_, b, c, d] = i.to_be_bytes();
            let _ = admitted(&limiter, ip(10, b, c, d), 20, Time::ZERO);
        }
        assert!(limiter.tracked_ips() <= SHARDS * 4);
        assert_eq!(
            admitted(&limiter, ip(11, 0, 0, 1), 5, Time::ZERO),
            0,
            "new sources share the drained overflow bucket"
        );
        // Two seconds later every bucket is full again: idle entries make room.
        let later = Time::from_millis(2_001);
        assert_eq!(admitted(&limiter, ip(11, 0, 0, 2), 30, later), 20);
        assert!(limiter.tracked_ips() <= SHARDS * 4);
    }

    #[test]
    fn the_global_clock_survives_the_32_bit_wrap() {
        let limiter = RateLimiter::new(config(), Time::ZERO);
        for i in 0..50u8 {
            let _ = admitted(&limiter, ip(10, 0, 0, i), 20, Time::ZERO);
        }
        // Past 2^32 ms (49 days), refills still count the elapsed time right.
        let later = Time::from_millis(TIME_MASK + 10_000);
        assert_eq!(admitted(&limiter, ip(10, 9, 0, 0), 20, later), 20);
    }
}
