//! BEP 5 peer announcements: one list per info-hash, oldest first, bounded per
//! info-hash and by the number of info-hashes.

use std::collections::hash_map::{Entry as MapEntry, VacantEntry};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::quota::{Charge, NewCharge};
use super::shard::{Entry, Key, Kind};
use super::{Store, StoreError};
use crate::id::Id;
use crate::time::Time;
use crate::wire::BloomFilter;
use rand::Rng;

/// One announcement: the announced address, when it expires, and whether the peer
/// announced itself as a seed (`seed: 1`, BEP 33).
#[derive(Clone, Copy, Debug)]
pub(super) struct PeerEntry {
    pub(super) addr: SocketAddr,
    pub(super) expires: Time,
    pub(super) seed: bool,
}

impl Store {
    /// Stores an announcement, charging a new one as `charged` says, and collects the
    /// sources of the announcements it drops. `Ok(true)` when it created an
    /// announcement, `Ok(false)` when it refreshed one (which keeps its charge).
    ///
    /// Locking: write-locks the info-hash's shard.
    pub(super) fn insert_peer(
        &self,
        info_hash: Id,
        peer: SocketAddr,
        seed: bool,
        now: Time,
        charged: NewCharge,
        dropped: &mut Vec<(IpAddr, Charge)>,
    ) -> Result<bool, StoreError> {
        let new = PeerEntry {
            addr: peer,
            expires: now + self.config.peer_ttl,
            seed,
        };
        let key = Key {
            id: info_hash,
            kind: Kind::Peers,
        };
        let mut shard = Store::shard_of(self.shards(), &info_hash).write();
        match shard.map.entry(key) {
            MapEntry::Occupied(mut occupied) => {
                let Entry::Peers(peers) = occupied.get_mut() else {
                    return Ok(false);
                };
                let refresh = peers.iter().any(|p| p.addr == peer);
                if !refresh && charged.over_cap() {
                    return Err(self.refuse_ip(&info_hash));
                }
                self.add_peer(peers, new, now, dropped);
                Ok(!refresh)
            }
            MapEntry::Vacant(_) if charged.over_cap() => Err(self.refuse_ip(&info_hash)),
            MapEntry::Vacant(vacant) => self.add_info_hash(vacant, new),
        }
    }

    /// Appends `new` to the announcements of an info-hash, dropping the announced
    /// address's previous one (its charge goes to the new one), the expired ones, and
    /// the oldest past [`super::StoreConfig::max_peers_per_info_hash`]; collects the
    /// sources of those dropped.
    fn add_peer(
        &self,
        peers: &mut Vec<PeerEntry>,
        new: PeerEntry,
        now: Time,
        dropped: &mut Vec<(IpAddr, Charge)>,
    ) {
        let cap = self.config.max_peers_per_info_hash;
        let before = peers.len();
        // Drop the expired announcements while the shard is locked anyway.
        peers.retain(|p| {
            if p.addr == new.addr {
                return false;
            }
            let live = p.expires > now;
            if !live {
                dropped.extend(self.announcer_of(p));
            }
            live
        });
        if peers.len() >= cap {
            let excess = peers.len() + 1 - cap;
            dropped.extend(peers.drain(..excess).filter_map(|p| self.announcer_of(&p)));
        }
        peers.push(new);
        adjust(&self.counters.peers, before, peers.len());
    }

    /// Starts the announcements of a new info-hash with `new`, if the table of
    /// info-hashes has room.
    fn add_info_hash(
        &self,
        vacant: VacantEntry<'_, Key, Entry>,
        new: PeerEntry,
    ) -> Result<bool, StoreError> {
        let max = self.config.max_info_hashes;
        // Reserve the slot before inserting so concurrent announces cannot overshoot the
        // quota.
        let reserved =
            self.counters
                .info_hashes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < max).then_some(n + 1)
                });
        if reserved.is_err() {
            self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::QuotaExceeded);
        }
        vacant.insert(Entry::Peers(vec![new]));
        self.counters.peers.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The BEP 33 bloom filters of the unexpired announcements of `info_hash`:
    /// seeds (`BFsd`) and the other peers (`BFpe`), by IP; `None` when none is stored.
    ///
    /// Locking: read-locks the info-hash's shard.
    pub(super) fn peer_filters(
        &self,
        info_hash: &Id,
        now: Time,
    ) -> Option<(BloomFilter, BloomFilter)> {
        let key = Key {
            id: *info_hash,
            kind: Kind::Peers,
        };
        let shard = self.shard(info_hash)?.read();
        let Some(Entry::Peers(peers)) = shard.map.get(&key) else {
            return None;
        };
        let (mut seeds, mut others) = (BloomFilter::new(), BloomFilter::new());
        let mut any = false;
        for p in peers.iter().filter(|p| p.expires > now) {
            any = true;
            let filter = if p.seed { &mut seeds } else { &mut others };
            filter.insert_ip(p.addr.ip());
        }
        any.then_some((seeds, others))
    }

    /// Up to `max` info-hashes with peers, chosen at random by `rng` from all the
    /// shards (a reservoir sample), into `out`; returns how many info-hashes are
    /// stored (BEP 51's `num`).
    ///
    /// Locking: read-locks one shard at a time, in ascending order.
    pub(super) fn sample_info_hashes_in<R: Rng + ?Sized>(
        &self,
        max: usize,
        rng: &mut R,
        out: &mut Vec<Id>,
    ) -> usize {
        let start = out.len();
        let mut seen = 0usize;
        let Some(shards) = self.shards.get() else {
            return 0;
        };
        for padded in &shards.list {
            let shard = padded.0.read();
            for key in shard.map.keys().filter(|k| k.kind == Kind::Peers) {
                seen += 1;
                if out.len() - start < max {
                    out.push(key.id);
                } else {
                    let slot = rng.gen_range(0..seen);
                    if slot < max {
                        out[start + slot] = key.id;
                    }
                }
            }
        }
        self.counters.info_hashes.load(Ordering::Relaxed).max(seen)
    }

    /// The charge of an announcement: its source (the announced IP), if charged.
    pub(super) fn announcer_of(&self, peer: &PeerEntry) -> Option<(IpAddr, Charge)> {
        self.source_of(peer.addr.ip())
            .map(|o| (o, Charge::Announce))
    }
}

/// Moves `counter` by `after - before`.
pub(super) fn adjust(counter: &AtomicUsize, before: usize, after: usize) {
    if after > before {
        counter.fetch_add(after - before, Ordering::Relaxed);
    } else if before > after {
        counter.fetch_sub(before - after, Ordering::Relaxed);
    }
}
