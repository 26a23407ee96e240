//! The sweep: removing what expired, shard by shard, giving memory back, and dropping
//! the eviction index once the store is below half of its quotas.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use super::eviction::IndexKey;
use super::peers::{adjust, PeerEntry};
use super::quota::Charge;
use super::shard::{Entry, Key, Shard};
use super::{Store, SweepStats};
use crate::time::Time;

/// What sweeping one shard removed, with the sources to uncharge once it is released.
#[derive(Default)]
struct Swept {
    stats: SweepStats,
    removed: Vec<(IpAddr, Charge)>,
}

impl Store {
    /// Removes everything expired at `now` from every shard, then drops the eviction
    /// indexes if the store is below half of both item quotas.
    ///
    /// Locking: write-locks one shard at a time, in ascending order; after each, the
    /// shards holding the counts of the sources of what it removed, one at a time; a
    /// second pass drops the index, one shard at a time.
    pub(super) fn sweep_shards(&self, now: Time) -> SweepStats {
        let mut swept = Swept::default();
        let Some(shards) = self.shards.get() else {
            return swept.stats;
        };
        let mut any_indexed = false;
        for padded in shards.list.iter() {
            any_indexed |= self.sweep_shard(&mut padded.0.write(), now, &mut swept);
            // The shard is released: the counts of the sources may live in any shard.
            self.uncharge_all(&mut swept.removed);
        }
        if any_indexed && self.below_half() {
            for padded in shards.list.iter() {
                padded.0.write().drop_index();
            }
        }
        if swept.stats != SweepStats::default() {
            tracing::trace!(stats = ?swept.stats, "store swept");
        }
        swept.stats
    }

    /// Removes what expired at `now` from one (locked) shard, adds it to `swept`, and
    /// gives memory back if the shard's table is mostly empty. Returns whether the
    /// shard keeps its eviction index.
    fn sweep_shard(&self, shard: &mut Shard, now: Time, swept: &mut Swept) -> bool {
        let Shard {
            map,
            index,
            indexed,
            ..
        } = shard;
        let mut index = indexed.then_some(index);
        let (items_before, info_hashes_before) = (swept.stats.items, swept.stats.info_hashes);
        let bytes_before = swept.stats.bytes;
        map.retain(|key, entry| !self.sweep_entry(key, entry, now, index.as_deref_mut(), swept));
        let items = swept.stats.items - items_before;
        self.usage.release(items, swept.stats.bytes - bytes_before);
        // Tables do not shrink by themselves; give memory back once mostly empty, which
        // matters when a million mostly idle stores share one process (simulator).
        let shrink = items > 0 || swept.stats.info_hashes > info_hashes_before;
        if shrink && map.len() * 4 < map.capacity() {
            map.shrink_to_fit();
        }
        *indexed
    }

    /// Sweeps one entry: drops its expired announcements, or itself if it is an expired
    /// item (and its line of `index`, when kept) or an info-hash left with no peer.
    /// Returns whether the entry goes.
    fn sweep_entry(
        &self,
        key: &Key,
        entry: &mut Entry,
        now: Time,
        index: Option<&mut BTreeMap<IndexKey, u32>>,
        swept: &mut Swept,
    ) -> bool {
        let (len, origin) = match entry {
            Entry::Peers(peers) => return self.sweep_peers(peers, now, swept),
            Entry::Immutable { v, expires, origin } if *expires <= now => (v.len(), origin),
            Entry::Mutable {
                item,
                expires,
                origin,
            } if *expires <= now => {
                swept.stats.mutable_items += 1;
                self.counters.mutable_items.fetch_sub(1, Ordering::Relaxed);
                (item.v.len(), origin)
            }
            Entry::Immutable { .. } | Entry::Mutable { .. } => return false,
        };
        swept.stats.items += 1;
        swept.stats.bytes += len;
        swept.removed.extend(origin.map(|o| (o, Charge::Item)));
        if let Some(index) = index {
            index.remove(&(self.own_id.distance(&key.id), key.kind));
        }
        true
    }

    /// Drops the expired announcements of one info-hash; returns whether none is left
    /// (the info-hash goes).
    fn sweep_peers(&self, peers: &mut Vec<PeerEntry>, now: Time, swept: &mut Swept) -> bool {
        let before = peers.len();
        peers.retain(|p| {
            let live = p.expires > now;
            if !live {
                swept.removed.extend(self.announcer_of(p));
            }
            live
        });
        swept.stats.peers += before - peers.len();
        adjust(&self.counters.peers, before, peers.len());
        if !peers.is_empty() {
            return false;
        }
        swept.stats.info_hashes += 1;
        self.counters.info_hashes.fetch_sub(1, Ordering::Relaxed);
        true
    }
}
