//! The receiving side: whether a broadcast that arrived is delivered and forwarded,
//! a duplicate, or refused.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

use super::dedup::{Seen, SeenWindow};
use super::message::{verify_parts, Broadcast};
use super::policy::{AcceptPolicy, BroadcastConfig, RateTable, TokenBucket};
use crate::id::Id;
use crate::time::Time;
use crate::wire::error_code;
use crate::wire::push::{BroadcastArgs, MAX_PAYLOAD};

/// Why a received broadcast was refused: it is neither delivered nor forwarded, and
/// the sender gets a KRPC error ([`Refusal::code`]) instead of an acknowledgement.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Refusal {
    /// The payload is over [`MAX_PAYLOAD`] bytes (error 205).
    #[error("broadcast payload too big")]
    TooBig,
    /// The range is not canonical, the height reaches outside the range, or this node
    /// is not in the range (error 203): no honest sender sends that.
    #[error("broadcast range does not hold this node")]
    OutOfRange,
    /// The policy does not accept this origin (error 201).
    #[error("broadcast origin not accepted")]
    NotAccepted,
    /// Over the per-IP or per-origin rate (error 201).
    #[error("broadcast rate exceeded")]
    RateLimited,
    /// The signature is not the origin's (error 206).
    #[error("invalid broadcast signature")]
    BadSignature,
    /// The sequence number is too far below the origin's latest to be told from a
    /// replay (error 201).
    #[error("broadcast replayed or too old")]
    Replay,
}

impl Refusal {
    /// The KRPC error code sent back for it.
    pub fn code(&self) -> i64 {
        match self {
            Refusal::TooBig => error_code::MESSAGE_TOO_BIG,
            Refusal::OutOfRange => error_code::PROTOCOL,
            Refusal::BadSignature => error_code::INVALID_SIGNATURE,
            Refusal::NotAccepted | Refusal::RateLimited | Refusal::Replay => error_code::GENERIC,
        }
    }
}

/// What [`Receiver::admit`] decided for a broadcast it did not refuse. Either way the
/// sender gets an acknowledgement.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Admitted {
    /// First copy: deliver it, and forward it with the height it came with.
    New(Broadcast),
    /// Seen already (another parent of the tree when beta > 1): drop it.
    Duplicate,
}

/// What the receiver remembers of one origin.
#[derive(Clone, Copy, Debug)]
struct Origin {
    seen: SeenWindow,
    rate: TokenBucket,
    last_ms: u64,
}

#[derive(Debug)]
struct State {
    origins: HashMap<[u8; 32], Origin>,
    ips: RateTable<IpAddr>,
}

/// The receiving side of broadcasts: policy, rate limits and duplicate windows.
///
/// Locking: one `parking_lot` mutex, taken by [`admit`](Self::admit) around the rate
/// and window bookkeeping (not around the signature check). Broadcasts are rare next
/// to queries, so one lock costs nothing on the packet path of other messages.
#[derive(Debug)]
pub struct Receiver {
    config: BroadcastConfig,
    state: Mutex<State>,
}

impl Receiver {
    /// A receiver with these settings.
    pub fn new(config: BroadcastConfig) -> Receiver {
        let ips = RateTable::new(config.per_ip, config.max_ips);
        Receiver {
            config,
            state: Mutex::new(State {
                origins: HashMap::new(),
                ips,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &BroadcastConfig {
        &self.config
    }

    /// Origins remembered now.
    pub fn origins(&self) -> usize {
        self.state.lock().origins.len()
    }

    /// Decides on a broadcast that node `own` received from `from` at `now`.
    ///
    /// The checks run cheapest first, so that what is refused costs least: payload
    /// bound, range, policy, the sender's per-IP rate, the signature (before the
    /// duplicate window, so that forged copies cannot mark a sequence number seen),
    /// the duplicate window, the origin's rate. Only a new, accepted broadcast is
    /// recorded as seen.
    ///
    /// Locks: the receiver's mutex, twice, never across the signature check.
    pub fn admit(
        &self,
        own: &Id,
        args: &BroadcastArgs<'_>,
        from: IpAddr,
        now: Time,
    ) -> Result<Admitted, Refusal> {
        if args.payload.len() > MAX_PAYLOAD {
            return Err(Refusal::TooBig);
        }
        let broadcast = Broadcast::from_args(args).ok_or(Refusal::OutOfRange)?;
        if !broadcast.range.contains(own) || args.height > broadcast.range.height() {
            return Err(Refusal::OutOfRange);
        }
        if !self.config.accept.allows(args.origin) {
            return Err(Refusal::NotAccepted);
        }
        if !self.state.lock().ips.take(from, now) {
            return Err(Refusal::RateLimited);
        }
        let b = &broadcast;
        if !verify_parts(&b.origin, b.seq, &b.range, &b.payload, &b.sig) {
            return Err(Refusal::BadSignature);
        }
        match self.record(b, now)? {
            Seen::New => Ok(Admitted::New(broadcast)),
            _ => Ok(Admitted::Duplicate),
        }
    }

    /// Marks the broadcast `b` seen without checking it: a node's own broadcast,
    /// so that copies coming back are duplicates.
    pub fn mark_seen(&self, b: &Broadcast, now: Time) {
        let mut state = self.state.lock();
        match state.origins.get_mut(&b.origin) {
            Some(origin) => {
                origin.seen.record(b.seq);
                origin.last_ms = now.as_millis();
            }
            None => {
                let rate = TokenBucket::full(self.config.per_origin, now);
                state.origins.insert(
                    b.origin,
                    Origin {
                        seen: SeenWindow::new(b.seq),
                        rate,
                        last_ms: now.as_millis(),
                    },
                );
            }
        }
    }

    /// The duplicate window and the origin's rate: records the broadcast when it is
    /// new and within the rate, and says whether it was ([`Seen::New`]) or a
    /// duplicate ([`Seen::Duplicate`]).
    fn record(&self, b: &Broadcast, now: Time) -> Result<Seen, Refusal> {
        let open = self.config.accept == AcceptPolicy::Open;
        let rate = self.config.per_origin;
        let mut state = self.state.lock();
        if let Some(origin) = state.origins.get_mut(&b.origin) {
            match origin.seen.check(b.seq) {
                Seen::Duplicate => return Ok(Seen::Duplicate),
                Seen::TooOld => return Err(Refusal::Replay),
                Seen::New => {}
            }
            if open && !origin.rate.take(rate, now) {
                return Err(Refusal::RateLimited);
            }
            origin.seen.record(b.seq);
            origin.last_ms = now.as_millis();
            return Ok(Seen::New);
        }
        let mut bucket = TokenBucket::full(rate, now);
        if open && !bucket.take(rate, now) {
            return Err(Refusal::RateLimited);
        }
        if state.origins.len() >= self.config.max_origins.max(1) {
            let quietest = state
                .origins
                .iter()
                .min_by_key(|(_, o)| o.last_ms)
                .map(|(k, _)| *k);
            if let Some(key) = quietest {
                state.origins.remove(&key);
            }
        }
        state.origins.insert(
            b.origin,
            Origin {
                seen: SeenWindow::new(b.seq),
                rate: bucket,
                last_ms: now.as_millis(),
            },
        );
        Ok(Seen::New)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::push::policy::Rate;
    use crate::push::range::KeyRange;
    use crate::push::sign::SigningKey;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn open() -> Receiver {
        Receiver::new(BroadcastConfig {
            accept: AcceptPolicy::Open,
            ..BroadcastConfig::default()
        })
    }

    fn admit(r: &Receiver, b: &Broadcast, at: Time) -> Result<Admitted, Refusal> {
        r.admit(&Id::MAX, &b.args(b.range.height()), IP, at)
    }

    #[test]
    fn delivers_once_then_acknowledges_duplicates() {
        let r = open();
        let b = Broadcast::sign(&key(1), 5, KeyRange::ALL, b"hi").expect("signed");
        assert_eq!(admit(&r, &b, Time::ZERO), Ok(Admitted::New(b.clone())));
        assert_eq!(admit(&r, &b, Time::ZERO), Ok(Admitted::Duplicate));
        assert_eq!(r.origins(), 1);
    }

    #[test]
    fn refuses_unsigned_and_badly_signed() {
        let r = open();
        let mut b = Broadcast::sign(&key(1), 5, KeyRange::ALL, b"hi").expect("signed");
        b.sig = [0; 64];
        assert_eq!(admit(&r, &b, Time::ZERO), Err(Refusal::BadSignature));
        let mut forged = Broadcast::sign(&key(1), 6, KeyRange::ALL, b"hi").expect("signed");
        forged.payload = b"ho".to_vec();
        assert_eq!(admit(&r, &forged, Time::ZERO), Err(Refusal::BadSignature));
        // A forged copy does not mark its sequence number seen.
        let real = Broadcast::sign(&key(1), 6, KeyRange::ALL, b"ho").expect("signed");
        assert!(matches!(admit(&r, &real, Time::ZERO), Ok(Admitted::New(_))));
    }

    #[test]
    fn refuses_replays_below_the_window() {
        let r = open();
        let old = Broadcast::sign(&key(1), 1, KeyRange::ALL, b"old").expect("signed");
        let new = Broadcast::sign(&key(1), 1 + 64, KeyRange::ALL, b"new").expect("signed");
        let mut t = Time::ZERO;
        assert!(matches!(admit(&r, &old, t), Ok(Admitted::New(_))));
        t += Duration::from_secs(60);
        assert!(matches!(admit(&r, &new, t), Ok(Admitted::New(_))));
        assert_eq!(admit(&r, &old, t), Err(Refusal::Replay));
    }

    #[test]
    fn refuses_origins_not_allowed_and_everything_when_off() {
        let b = Broadcast::sign(&key(1), 1, KeyRange::ALL, b"x").expect("signed");
        let off = Receiver::new(BroadcastConfig::default());
        assert_eq!(admit(&off, &b, Time::ZERO), Err(Refusal::NotAccepted));
        let other = SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes();
        let allowed = Receiver::new(BroadcastConfig {
            accept: AcceptPolicy::Allowed(HashSet::from([other])),
            ..BroadcastConfig::default()
        });
        assert_eq!(admit(&allowed, &b, Time::ZERO), Err(Refusal::NotAccepted));
        let b2 = Broadcast::sign(&key(2), 1, KeyRange::ALL, b"x").expect("signed");
        assert!(matches!(
            admit(&allowed, &b2, Time::ZERO),
            Ok(Admitted::New(_))
        ));
    }

    #[test]
    fn refuses_over_the_origin_rate() {
        let r = Receiver::new(BroadcastConfig {
            accept: AcceptPolicy::Open,
            per_origin: Rate {
                per_sec: 1,
                burst: 2,
            },
            ..BroadcastConfig::default()
        });
        let b = |seq| Broadcast::sign(&key(1), seq, KeyRange::ALL, b"x").expect("signed");
        let t = Time::ZERO;
        assert!(matches!(admit(&r, &b(1), t), Ok(Admitted::New(_))));
        assert!(matches!(admit(&r, &b(2), t), Ok(Admitted::New(_))));
        assert_eq!(admit(&r, &b(3), t), Err(Refusal::RateLimited));
        // Duplicates cost the origin nothing, and the refused one is not seen.
        assert_eq!(admit(&r, &b(2), t), Ok(Admitted::Duplicate));
        let later = t + Duration::from_secs(1);
        assert!(matches!(admit(&r, &b(3), later), Ok(Admitted::New(_))));
        // Another origin has its own bucket.
        let other = Broadcast::sign(&key(2), 1, KeyRange::ALL, b"x").expect("signed");
        assert!(matches!(admit(&r, &other, t), Ok(Admitted::New(_))));
    }

    #[test]
    fn refuses_over_the_ip_rate() {
        let r = Receiver::new(BroadcastConfig {
            accept: AcceptPolicy::Open,
            per_ip: Rate {
                per_sec: 1,
                burst: 3,
            },
            ..BroadcastConfig::default()
        });
        let t = Time::ZERO;
        for n in 1..=3 {
            let b = Broadcast::sign(&key(n), 1, KeyRange::ALL, b"x").expect("signed");
            assert!(matches!(admit(&r, &b, t), Ok(Admitted::New(_))));
        }
        let b = Broadcast::sign(&key(4), 1, KeyRange::ALL, b"x").expect("signed");
        assert_eq!(admit(&r, &b, t), Err(Refusal::RateLimited));
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));
        assert!(matches!(
            r.admit(&Id::MAX, &b.args(160), elsewhere, t),
            Ok(Admitted::New(_))
        ));
    }

    #[test]
    fn refuses_payloads_over_the_bound() {
        let r = open();
        let b = Broadcast::sign(&key(1), 1, KeyRange::ALL, b"x").expect("signed");
        let big = vec![0u8; MAX_PAYLOAD + 1];
        let mut args = b.args(160);
        args.payload = &big;
        assert_eq!(
            r.admit(&Id::MAX, &args, IP, Time::ZERO),
            Err(Refusal::TooBig)
        );
        assert_eq!(Refusal::TooBig.code(), 205);
    }

    #[test]
    fn refuses_what_is_out_of_range() {
        let r = open();
        let range = KeyRange::from_hex("3a").expect("range");
        let b = Broadcast::sign(&key(1), 1, range, b"x").expect("signed");
        let inside = Id::from_bytes([0x3a; 20]);
        let outside = Id::from_bytes([0x3b; 20]);
        assert_eq!(
            r.admit(&outside, &b.args(152), IP, Time::ZERO),
            Err(Refusal::OutOfRange)
        );
        assert_eq!(
            r.admit(&inside, &b.args(153), IP, Time::ZERO),
            Err(Refusal::OutOfRange)
        );
        assert!(matches!(
            r.admit(&inside, &b.args(152), IP, Time::ZERO),
            Ok(Admitted::New(_))
        ));
    }

    #[test]
    fn forgets_the_quietest_origin_when_full() {
        let r = Receiver::new(BroadcastConfig {
            accept: AcceptPolicy::Open,
            max_origins: 2,
            ..BroadcastConfig::default()
        });
        let mut t = Time::ZERO;
        for n in 1..=3 {
            let b = Broadcast::sign(&key(n), 1, KeyRange::ALL, b"x").expect("signed");
            assert!(matches!(admit(&r, &b, t), Ok(Admitted::New(_))));
            t += Duration::from_secs(1);
        }
        assert_eq!(r.origins(), 2);
    }
}
