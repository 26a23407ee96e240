//! Eviction: the per-shard index of items by distance from our id, and making room for
//! a closer item by removing the farthest ones (see the store section of
//! `docs/design.md`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use parking_lot::RwLockWriteGuard;

use super::quota::Charge;
use super::shard::{Key, Kind, Shard};
use super::{Store, StoreError};
use crate::id::{Distance, Id};

/// Key of the eviction index: distance of the target from our id, then the kind (an
/// immutable and a mutable item may, in theory, share a target).
pub(super) type IndexKey = (Distance, Kind);

/// Items and bytes a put still needs room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Excess {
    items: usize,
    bytes: usize,
}

impl Excess {
    fn is_none(self) -> bool {
        self.items == 0 && self.bytes == 0
    }

    /// What is left after removing an item of `len` bytes.
    fn less(self, len: u32) -> Excess {
        Excess {
            items: self.items.saturating_sub(1),
            bytes: self.bytes.saturating_sub(len as usize),
        }
    }
}

impl Shard {
    /// Builds the index from the items in the table, if it is not kept already.
    pub(super) fn build_index(&mut self, own_id: &Id) {
        if self.indexed {
            return;
        }
        for (key, entry) in &self.map {
            if let Some(len) = entry.item_len() {
                self.index
                    .insert((own_id.distance(&key.id), key.kind), len_u32(len));
            }
        }
        self.indexed = true;
    }

    /// Drops the index; the next put that has to make room builds it again.
    pub(super) fn drop_index(&mut self) {
        self.index = BTreeMap::new();
        self.indexed = false;
    }

    /// Appends to `out` this shard's items farther from our id than `ikey`, farthest
    /// first, until they cover `excess` on their own (or none is left).
    fn farthest(&self, ikey: IndexKey, excess: Excess, out: &mut Vec<(IndexKey, u32)>) {
        let mut left = excess;
        for (&key, &len) in self.index.iter().rev() {
            if key == ikey {
                // The item being replaced: its bytes are already counted as freed.
                continue;
            }
            if key.0 <= ikey.0 {
                // Everything left is at least as close as the new item.
                break;
            }
            out.push((key, len));
            left = left.less(len);
            if left.is_none() {
                break;
            }
        }
    }
}

impl Store {
    /// Makes room for `add_items` more items and a value of `add_bytes` replacing
    /// `freed` bytes, stored at `ikey`, by evicting items strictly farther from our id
    /// than `ikey`, farthest first. Evicts nothing and fails if that cannot make enough
    /// room. Does not reserve the room: the caller tries its put again.
    ///
    /// Locking: read-locks each shard in ascending order, one at a time (write-locks it
    /// instead if its index must be built first); then write-locks the shard of each
    /// victim in turn. Called with no lock held.
    pub(super) fn make_room(
        &self,
        ikey: IndexKey,
        add_items: usize,
        add_bytes: usize,
        freed: usize,
    ) -> Result<(), StoreError> {
        let (items, bytes) = self.usage.get();
        let excess = Excess {
            items: (items + add_items).saturating_sub(self.max_items()),
            bytes: (bytes.saturating_sub(freed) + add_bytes).saturating_sub(self.max_bytes()),
        };
        if excess.is_none() {
            // Room came back since the caller looked.
            return Ok(());
        }
        let mut candidates = self.candidates(ikey, excess);
        let Some(victims) = victims(&mut candidates, excess) else {
            return Err(self.refuse(&ikey));
        };
        for &(victim, _) in victims {
            self.evict(victim);
        }
        Ok(())
    }

    /// Each shard's farthest items beyond `ikey`, enough to cover `excess` on their
    /// own: the globally farthest ones are among them.
    ///
    /// Locking: read-locks each shard in ascending order, one at a time (write-locks it
    /// instead if its index must be built first).
    fn candidates(&self, ikey: IndexKey, excess: Excess) -> Vec<(IndexKey, u32)> {
        let mut candidates = Vec::new();
        for padded in self.shards().list.iter() {
            let mut guard = padded.0.read();
            if !guard.indexed {
                drop(guard);
                let mut write = padded.0.write();
                write.build_index(&self.own_id);
                guard = RwLockWriteGuard::downgrade(write);
            }
            guard.farthest(ikey, excess, &mut candidates);
        }
        candidates
    }

    /// Removes the item at `victim` if it is still stored, and uncharges its source.
    ///
    /// Locking: write-locks the victim's shard, then (released) its source's count.
    fn evict(&self, victim: IndexKey) {
        let id = self.target_at(&victim.0);
        let Some(shard) = self.shard(&id) else {
            return;
        };
        let key = Key { id, kind: victim.1 };
        // Another put or the sweep may have removed it since: then it frees nothing, and
        // the caller's next try finds out.
        let removed = self.remove_item(&mut shard.write(), &key, &victim);
        if let Some(origin) = removed {
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            // The victim's shard is released: its source's count may live in another
            // one.
            if let Some(origin) = origin {
                self.uncharge(origin, Charge::Item);
            }
        }
    }

    /// Removes an item from its (locked) shard and uncounts it; returns the source it
    /// is charged to (still charged: the caller uncharges it once the shard is
    /// released) if it was there.
    fn remove_item(&self, shard: &mut Shard, key: &Key, ikey: &IndexKey) -> Option<Option<IpAddr>> {
        let entry = shard.map.remove(key)?;
        let len = entry.item_len()?;
        if shard.indexed {
            shard.index.remove(ikey);
        }
        self.usage.release(1, len);
        if key.kind == Kind::Mutable {
            self.counters.mutable_items.fetch_sub(1, Ordering::Relaxed);
        }
        Some(entry.origin())
    }

    /// The target at distance `d` from our id (XOR is its own inverse).
    pub(super) fn target_at(&self, d: &Distance) -> Id {
        Id::from_bytes(
            *Id::from_bytes(*d.as_bytes())
                .distance(&self.own_id)
                .as_bytes(),
        )
    }

    /// Counts a refused put and says so.
    pub(super) fn refuse(&self, ikey: &IndexKey) -> StoreError {
        self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(item = %self.target_at(&ikey.0), "store full, item refused");
        StoreError::QuotaExceeded
    }

    /// Whether the items stored are below half of both item quotas.
    pub(super) fn below_half(&self) -> bool {
        let (items, bytes) = self.usage.get();
        items * 2 < self.max_items() && bytes * 2 < self.max_bytes()
    }
}

/// The farthest of `candidates` that together cover `excess`, farthest first; `None`
/// if all of them do not.
fn victims(candidates: &mut [(IndexKey, u32)], excess: Excess) -> Option<&[(IndexKey, u32)]> {
    candidates.sort_unstable_by_key(|&(key, _)| std::cmp::Reverse(key));
    let mut left = excess;
    let mut count = 0;
    for &(_, len) in candidates.iter() {
        if left.is_none() {
            break;
        }
        count += 1;
        left = left.less(len);
    }
    left.is_none().then_some(&candidates[..count])
}

/// A value length as stored in the index; lengths are at most
/// [`super::MAX_VALUE_LEN`].
pub(super) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
