//! What broadcasts a node accepts, and the token buckets that rate-limit them.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use crate::time::Time;

/// Which broadcasts a node delivers and forwards.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum AcceptPolicy {
    /// None: every broadcast is refused (the default; a node takes part in broadcasts
    /// only when told to).
    #[default]
    Off,
    /// Those signed by one of these origin public keys; within
    /// [`BroadcastConfig::per_ip`] (the origins are trusted, not their rate).
    Allowed(HashSet<[u8; 32]>),
    /// Any correctly signed broadcast, within [`BroadcastConfig::per_origin`] and
    /// [`BroadcastConfig::per_ip`].
    Open,
}

/// Why a file of origin keys could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysFileError {
    /// A line is neither blank, a `#` comment, nor 64 hex digits: fix that line.
    #[error("line {line}: expected an ed25519 public key as 64 hex digits")]
    BadKey {
        /// The line number, from 1.
        line: usize,
    },
}

impl AcceptPolicy {
    /// [`AcceptPolicy::Allowed`] with the keys of a text file: one public key per line
    /// as 64 hex digits; blank lines and lines starting with `#` are skipped.
    pub fn from_keys_text(text: &str) -> Result<AcceptPolicy, KeysFileError> {
        let mut keys = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.insert(parse_key(line).ok_or(KeysFileError::BadKey { line: i + 1 })?);
        }
        Ok(AcceptPolicy::Allowed(keys))
    }

    /// Whether broadcasts of `origin` may be accepted at all (before rate limits).
    pub fn allows(&self, origin: &[u8; 32]) -> bool {
        match self {
            AcceptPolicy::Off => false,
            AcceptPolicy::Allowed(keys) => keys.contains(origin),
            AcceptPolicy::Open => true,
        }
    }
}

/// A public key from 64 hex digits.
fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut key = [0u8; 32];
    for (out, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *out = u8::from_str_radix(text, 16).ok()?;
    }
    Some(key)
}

/// A token-bucket rate: `per_sec` on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_sec: u32,
    /// Most tokens held.
    pub burst: u32,
}

/// A node's broadcast settings. Every bound has a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// Which broadcasts are delivered and forwarded.
    pub accept: AcceptPolicy,
    /// Contacts of each bucket the origin hands its subtrees to (redundancy at the
    /// top of the tree, where a lost hand-off costs most). Default 2.
    pub beta: u8,
    /// Contacts of each bucket a forwarding node hands its subtrees to. Default 1:
    /// with the same beta at every hop the copies compound (beta = 2 costs about
    /// 4 N messages, not 2 N); a failed hand-off goes to the next contact of the
    /// bucket instead ([`crate::push::Fanout::on_failure`]).
    pub forward_beta: u8,
    /// Broadcasts one origin may have accepted under [`AcceptPolicy::Open`]:
    /// default 1 per second, bursts of 10.
    pub per_origin: Rate,
    /// Broadcast datagrams one source IP may have accepted (the neighbour that
    /// forwards them, whatever their origin): default 20 per second, bursts of 100.
    /// Loopback sources are limited too.
    pub per_ip: Rate,
    /// Origins tracked at once (their duplicate windows and rate buckets, about 100
    /// bytes each): default 4,096. When full, the origin quiet for longest is
    /// forgotten, so one of its broadcasts older than the last could be replayed to
    /// this node once; [`AcceptPolicy::Allowed`] with fewer keys never forgets.
    pub max_origins: usize,
    /// Source IPs tracked at once for [`per_ip`](Self::per_ip): default 4,096; when
    /// all are busy, new sources are refused until one is idle.
    pub max_ips: usize,
    /// Broadcasts being forwarded at once (awaiting acknowledgements); more are
    /// delivered but not forwarded. Default 64.
    pub max_forwarding: usize,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            accept: AcceptPolicy::Off,
            beta: 2,
            forward_beta: 1,
            per_origin: Rate {
                per_sec: 1,
                burst: 10,
            },
            per_ip: Rate {
                per_sec: 20,
                burst: 100,
            },
            max_origins: 4_096,
            max_ips: 4_096,
            max_forwarding: 64,
        }
    }
}

/// Thousandths of a token, so that low rates refill at millisecond resolution.
const MILLI: u64 = 1_000;

/// One token bucket, in thousandths of a token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    level: u64,
    at_ms: u64,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub(crate) fn full(rate: Rate, now: Time) -> TokenBucket {
        TokenBucket {
            level: u64::from(rate.burst) * MILLI,
            at_ms: now.as_millis(),
        }
    }

    /// Refills for the time since the last call, then takes a token if there is one.
    pub(crate) fn take(&mut self, rate: Rate, now: Time) -> bool {
        self.refill(rate, now);
        match self.level.checked_sub(MILLI) {
            Some(level) => {
                self.level = level;
                true
            }
            None => false,
        }
    }

    /// Whether the bucket would be full at `now` (it carries no information then).
    pub(crate) fn is_idle(&self, rate: Rate, now: Time) -> bool {
        let mut b = *self;
        b.refill(rate, now);
        b.level >= u64::from(rate.burst) * MILLI
    }

    fn refill(&mut self, rate: Rate, now: Time) {
        let now = now.as_millis();
        let elapsed = now.saturating_sub(self.at_ms);
        let cap = u64::from(rate.burst) * MILLI;
        self.level = (self.level + elapsed.saturating_mul(u64::from(rate.per_sec))).min(cap);
        self.at_ms = self.at_ms.max(now);
    }
}

/// Token buckets by key (source IP), at most `max` of them.
#[derive(Debug)]
pub(crate) struct RateTable<K> {
    buckets: HashMap<K, TokenBucket>,
    rate: Rate,
    max: usize,
}

impl<K: Hash + Eq + Copy> RateTable<K> {
    pub(crate) fn new(rate: Rate, max: usize) -> RateTable<K> {
        RateTable {
            buckets: HashMap::new(),
            rate,
            max,
        }
    }

    /// Takes a token from `key`'s bucket. A new key gets a full bucket if there is
    /// room, after dropping idle ones when the table is full; if every bucket is
    /// busy, it is refused.
    pub(crate) fn take(&mut self, key: K, now: Time) -> bool {
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max {
            let rate = self.rate;
            self.buckets.retain(|_, b| !b.is_idle(rate, now));
            if self.buckets.len() >= self.max {
                return false;
            }
        }
        let rate = self.rate;
        self.buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::full(rate, now))
            .take(rate, now)
    }

    /// Keys tracked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_file() {
        let a = "ab".repeat(32);
        let text = format!("# allowed\n\n{a}\n  {}  \n", "CD".repeat(32));
        let AcceptPolicy::Allowed(keys) = AcceptPolicy::from_keys_text(&text).expect("parses")
        else {
            panic!("not an allow list")
        };
        assert_eq!(keys, HashSet::from([[0xab; 32], [0xcd; 32]]));
        assert_eq!(
            AcceptPolicy::from_keys_text(&format!("{a}\nxyz\n")),
            Err(KeysFileError::BadKey { line: 2 })
        );
        assert!(AcceptPolicy::from_keys_text(&"a".repeat(63)).is_err());
        assert!(AcceptPolicy::from_keys_text(&"+1".repeat(32)).is_err());
    }

    #[test]
    fn policies() {
        assert!(!AcceptPolicy::Off.allows(&[1; 32]));
        assert!(AcceptPolicy::Open.allows(&[1; 32]));
        let allowed = AcceptPolicy::Allowed(HashSet::from([[1; 32]]));
        assert!(allowed.allows(&[1; 32]));
        assert!(!allowed.allows(&[2; 32]));
    }

    #[test]
    fn token_bucket_refills_at_its_rate() {
        let rate = Rate {
            per_sec: 2,
            burst: 3,
        };
        let mut t = Time::ZERO;
        let mut b = TokenBucket::full(rate, t);
        assert!(b.take(rate, t) && b.take(rate, t) && b.take(rate, t));
        assert!(!b.take(rate, t));
        t += Duration::from_millis(499);
        assert!(!b.take(rate, t));
        t += Duration::from_millis(1);
        assert!(b.take(rate, t));
        assert!(!b.is_idle(rate, t));
        t += Duration::from_secs(10);
        assert!(b.is_idle(rate, t));
    }

    #[test]
    fn rate_table_is_bounded() {
        let rate = Rate {
            per_sec: 1,
            burst: 1,
        };
        let mut table = RateTable::new(rate, 2);
        let t = Time::ZERO;
        assert!(table.take(1u32, t));
        assert!(!table.take(1, t));
        assert!(table.take(2, t));
        // Full of busy buckets: a third source waits.
        assert!(!table.take(3, t));
        assert_eq!(table.len(), 2);
        // Once they are idle again they make room.
        let later = t + Duration::from_secs(5);
        assert!(table.take(3, later));
        assert!(table.len() <= 2);
    }
}
