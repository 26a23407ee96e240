//! Quota accounting: the packed item and byte counter that bounds the store's totals,
//! and the per-IP table that bounds what one source holds (who is charged, reserving a
//! charge before a put, taking it back after a removal).

use std::collections::btree_map::Entry as BTreeEntry;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use super::shard::{Shard, Shards};
use super::{OriginUsage, Store, StoreError};
use crate::id::Id;

/// Items and value bytes stored (or reserved by a put about to store), packed in one
/// atomic so that a put reserves both with one compare-and-swap: items in the high 32
/// bits, bytes in the low 32.
#[derive(Debug, Default)]
pub(super) struct Usage(AtomicU64);

impl Usage {
    fn pack(items: usize, bytes: usize) -> u64 {
        ((items as u64) << 32) | bytes as u64
    }

    /// (items, bytes).
    pub(super) fn get(&self) -> (usize, usize) {
        let packed = self.0.load(Ordering::Relaxed);
        (
            (packed >> 32) as usize,
            (packed & u64::from(u32::MAX)) as usize,
        )
    }

    /// Adds `items` items and replaces `freed` bytes by `bytes` bytes if the result stays
    /// within `max_items` and `max_bytes` (both at most `u32::MAX`); false otherwise.
    /// `freed` must be counted already.
    fn try_reserve(
        &self,
        items: usize,
        bytes: usize,
        freed: usize,
        max_items: usize,
        max_bytes: usize,
    ) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
                let new_items = (packed >> 32) as usize + items;
                let new_bytes = (packed & u64::from(u32::MAX)) as usize - freed + bytes;
                (new_items <= max_items && new_bytes <= max_bytes)
                    .then(|| Usage::pack(new_items, new_bytes))
            })
            .is_ok()
    }

    /// Uncounts `items` items of `bytes` bytes in all, which must be counted.
    pub(super) fn release(&self, items: usize, bytes: usize) {
        self.0
            .fetch_sub(Usage::pack(items, bytes), Ordering::Relaxed);
    }
}

/// What one source is charged with; see [`OriginUsage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct OriginCount {
    pub(super) items: u32,
    pub(super) announces: u32,
}

impl OriginCount {
    fn get_mut(&mut self, what: Charge) -> &mut u32 {
        match what {
            Charge::Item => &mut self.items,
            Charge::Announce => &mut self.announces,
        }
    }
}

/// Which per-IP count an entry is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Charge {
    Item,
    Announce,
}

/// Whom a new entry is charged to, as settled by [`Store::charge`] before the entry's
/// shard is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NewCharge {
    /// Nobody: an uncharged entry point.
    Nobody,
    /// This source, whose count already includes the new entry; taken back if no
    /// entry is created.
    Reserved(IpAddr),
    /// This source, which holds its cap already: only entries stored already may be
    /// refreshed (or replaced, for mutable items).
    OverCap(IpAddr),
}

impl NewCharge {
    /// The source to record in a new entry.
    pub(super) fn origin(self) -> Option<IpAddr> {
        match self {
            NewCharge::Reserved(origin) => Some(origin),
            NewCharge::Nobody | NewCharge::OverCap(_) => None,
        }
    }

    pub(super) fn over_cap(self) -> bool {
        matches!(self, NewCharge::OverCap(_))
    }
}

/// The source a put or announce from `ip` is charged to: the IPv4 address (also when
/// written IPv4-mapped), or the /64 prefix of an IPv6 address, since one IPv6 host or
/// subscriber routinely holds a whole /64 and could otherwise pick a fresh address for
/// every put.
pub(super) fn origin_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

impl Store {
    /// Tries to count `items` more items and `bytes` bytes in place of `freed`, within
    /// the quotas.
    pub(super) fn try_reserve(&self, items: usize, bytes: usize, freed: usize) -> bool {
        self.usage
            .try_reserve(items, bytes, freed, self.max_items(), self.max_bytes())
    }

    /// [`super::StoreConfig::max_items`] as the counter holds it (at most `u32::MAX`).
    pub(super) fn max_items(&self) -> usize {
        self.config.max_items.min(u32::MAX as usize)
    }

    /// [`super::StoreConfig::max_value_bytes`] as the counter holds it (at most
    /// `u32::MAX`).
    pub(super) fn max_bytes(&self) -> usize {
        self.config.max_value_bytes.min(u32::MAX as usize)
    }

    /// Index of the shard holding the count of `origin` (an [`origin_key`]): a keyed
    /// hash, so sources cannot be picked to share one lock.
    pub(super) fn ip_index(shards: &Shards, origin: &IpAddr) -> usize {
        shards.hasher.hash_one(origin) as usize & shards.mask
    }

    /// The source a put or announce from `ip` is charged to ([`origin_key`]), or
    /// `None` for a loopback address unless [`super::StoreConfig::limit_loopback`] is
    /// set.
    pub(super) fn source_of(&self, ip: IpAddr) -> Option<IpAddr> {
        let ip = ip.to_canonical();
        (self.config.limit_loopback || !ip.is_loopback()).then(|| origin_key(ip))
    }

    /// The cap of `what` per source, as a count.
    pub(super) fn cap(&self, what: Charge) -> u32 {
        let cap = match what {
            Charge::Item => self.config.max_items_per_ip,
            Charge::Announce => self.config.max_announces_per_ip,
        };
        u32::try_from(cap).unwrap_or(u32::MAX)
    }

    /// Raises the count of `what` charged to `origin` (an [`origin_key`]) by one if
    /// it stays within its cap. Returns whom a new entry is charged to.
    ///
    /// Locking: write-locks the shard of `origin`'s count, and nothing else.
    pub(super) fn charge(&self, origin: Option<IpAddr>, what: Charge) -> NewCharge {
        let Some(origin) = origin else {
            return NewCharge::Nobody;
        };
        let cap = self.cap(what);
        if cap == 0 {
            return NewCharge::OverCap(origin);
        }
        let shards = self.shards();
        let mut shard = shards.list[Store::ip_index(shards, &origin)].0.write();
        let count = match shard.origins.entry(origin) {
            BTreeEntry::Occupied(occupied) => occupied.into_mut(),
            BTreeEntry::Vacant(vacant) => {
                self.counters.origins.fetch_add(1, Ordering::Relaxed);
                vacant.insert(OriginCount::default())
            }
        };
        let n = count.get_mut(what);
        if *n >= cap {
            // Not a new entry: it holds at least one charge already.
            return NewCharge::OverCap(origin);
        }
        *n += 1;
        NewCharge::Reserved(origin)
    }

    /// Lowers by one the count of `what` charged to `origin`, in its (locked) shard;
    /// drops the source once it is charged with nothing.
    fn uncharge_in(&self, shard: &mut Shard, origin: IpAddr, what: Charge) {
        let BTreeEntry::Occupied(mut occupied) = shard.origins.entry(origin) else {
            debug_assert!(false, "{origin} uncharged but not charged");
            return;
        };
        let n = occupied.get_mut().get_mut(what);
        debug_assert!(*n > 0, "{origin} uncharged below zero");
        *n = n.saturating_sub(1);
        if *occupied.get() == OriginCount::default() {
            occupied.remove();
            self.counters.origins.fetch_sub(1, Ordering::Relaxed);
            if shard.origins.is_empty() {
                // An emptied B-tree keeps its root node; a million idle stores in the
                // simulator would keep theirs.
                shard.origins = BTreeMap::new();
            }
        }
    }

    /// Lowers by one the count of `what` charged to `origin`.
    ///
    /// Locking: write-locks the shard of `origin`'s count. Called with no lock held.
    pub(super) fn uncharge(&self, origin: IpAddr, what: Charge) {
        if let Some(shards) = self.shards.get() {
            let mut shard = shards.list[Store::ip_index(shards, &origin)].0.write();
            self.uncharge_in(&mut shard, origin, what);
        }
    }

    /// Uncharges every `(source, what)` of `removed` (entries just removed) and
    /// empties it.
    ///
    /// Locking: write-locks the shard of each source's count in turn, each once, in
    /// ascending order. Called with no lock held.
    pub(super) fn uncharge_all(&self, removed: &mut Vec<(IpAddr, Charge)>) {
        let Some(shards) = self.shards.get() else {
            return;
        };
        removed.sort_unstable_by_key(|(origin, _)| Store::ip_index(shards, origin));
        let mut rest = &removed[..];
        while let Some(&(first, _)) = rest.first() {
            let index = Store::ip_index(shards, &first);
            let same = rest
                .iter()
                .take_while(|(origin, _)| Store::ip_index(shards, origin) == index)
                .count();
            let mut shard = shards.list[index].0.write();
            for &(origin, what) in &rest[..same] {
                self.uncharge_in(&mut shard, origin, what);
            }
            rest = &rest[same..];
        }
        removed.clear();
    }

    /// Takes back the charge reserved for a new entry (`charged`) unless the entry was
    /// created (`Ok(true)`), and turns the outcome into the caller's.
    pub(super) fn settle(
        &self,
        charged: NewCharge,
        what: Charge,
        outcome: Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        if let NewCharge::Reserved(origin) = charged {
            if outcome != Ok(true) {
                self.uncharge(origin, what);
            }
        }
        outcome.map(drop)
    }

    /// What the source `origin` (an [`origin_key`]) is charged with.
    ///
    /// Locking: read-locks the shard of the source's count.
    pub(super) fn charged_to(&self, origin: IpAddr) -> OriginUsage {
        let Some(shards) = self.shards.get() else {
            return OriginUsage::default();
        };
        let shard = shards.list[Store::ip_index(shards, &origin)].0.read();
        shard
            .origins
            .get(&origin)
            .map_or_else(OriginUsage::default, |c| OriginUsage {
                items: c.items as usize,
                announces: c.announces as usize,
            })
    }

    /// Counts a put or announce refused for its source's cap and says so.
    pub(super) fn refuse_ip(&self, target: &Id) -> StoreError {
        self.counters
            .refused_ip_quota
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%target, "source over its store quota, refused");
        StoreError::IpQuotaExceeded
    }
}
