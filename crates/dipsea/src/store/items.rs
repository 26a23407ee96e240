//! BEP 44 items: the checks of an immutable or mutable put, and the one retry path both
//! take to store under their shard's lock, making room between tries.

use std::collections::hash_map::{Entry as MapEntry, VacantEntry};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::eviction::len_u32;
use super::quota::{Charge, NewCharge};
use super::shard::{Entry, Key, Kind, Shard};
use super::{MutableItem, Store, StoreError, MAX_SALT_LEN, MAX_VALUE_LEN};
use crate::id::Id;
use crate::time::Time;

/// How many times a put tries to reserve room (making room between tries) before it
/// gives up; without concurrent puts the second try always succeeds.
const PUT_ATTEMPTS: usize = 8;

/// The slot of an item's key in its (locked) shard table.
type Slot<'a> = MapEntry<'a, Key, Entry>;

/// What one try of a put did under its shard's lock.
enum Try {
    /// Finished without storing a value: a refresh (`Ok(false)`) or a refusal.
    Done(Result<bool, StoreError>),
    /// Stored the new value, creating the item (`true`) or replacing a version
    /// (`false`): the index learns its length.
    Stored(bool),
    /// No room: `items` more items are needed, and the replaced version frees `freed`
    /// bytes.
    NoRoom { items: usize, freed: usize },
}

/// What a mutable put does once checked against the stored item.
enum MutableAction {
    /// Same sequence number and value: only push the expiry back.
    Refresh,
    /// Store the new item in place of the old one (or of nothing).
    Replace,
}

impl Store {
    /// See [`Store::item_keys`].
    pub(super) fn item_keys_in(&self, now: Time) -> Vec<(Id, bool)> {
        let mut keys = Vec::new();
        let Some(shards) = self.shards.get() else {
            return keys;
        };
        for padded in &shards.list {
            let shard = padded.0.read();
            for (key, entry) in &shard.map {
                match entry {
                    Entry::Immutable { expires, .. } if *expires > now => {
                        keys.push((key.id, false))
                    }
                    Entry::Mutable { expires, .. } if *expires > now => keys.push((key.id, true)),
                    _ => {}
                }
            }
        }
        keys
    }

    /// Checks an immutable put, charges it to `origin` (`None`: nobody) and stores it.
    pub(super) fn put_immutable_as(
        &self,
        origin: Option<IpAddr>,
        target: Id,
        v: &[u8],
        now: Time,
    ) -> Result<(), StoreError> {
        if v.len() > MAX_VALUE_LEN {
            return Err(StoreError::TooBig { len: v.len() });
        }
        if Id::sha1(v) != target {
            return Err(StoreError::HashMismatch);
        }
        let charged = self.charge(origin, Charge::Item);
        let outcome = self.insert_immutable(target, v, now, charged);
        self.settle(charged, Charge::Item, outcome)
    }

    /// Checks a mutable put (all but the signature), charges it to `origin` (`None`:
    /// nobody) and stores it.
    pub(super) fn put_mutable_as(
        &self,
        origin: Option<IpAddr>,
        target: Id,
        item: MutableItem,
        cas: Option<i64>,
        now: Time,
    ) -> Result<(), StoreError> {
        if item.salt.len() > MAX_SALT_LEN {
            return Err(StoreError::SaltTooBig {
                len: item.salt.len(),
            });
        }
        let len = item.v.len();
        if len > MAX_VALUE_LEN {
            return Err(StoreError::TooBig { len });
        }
        if item.target() != target {
            return Err(StoreError::HashMismatch);
        }
        let charged = self.charge(origin, Charge::Item);
        let outcome = self.insert_mutable(target, item, cas, now, charged);
        self.settle(charged, Charge::Item, outcome)
    }

    /// Stores an immutable item, charging a new one as `charged` says. `Ok(true)` when
    /// it created the item, `Ok(false)` when it refreshed a stored one.
    fn insert_immutable(
        &self,
        target: Id,
        v: &[u8],
        now: Time,
        charged: NewCharge,
    ) -> Result<bool, StoreError> {
        let expires = now + self.config.item_ttl;
        self.insert_item(target, Kind::Immutable, v.len(), |slot| match slot {
            MapEntry::Occupied(mut stored) => {
                // A re-put, or another thread stored it first: no counter moves.
                if let Entry::Immutable { expires: e, .. } = stored.get_mut() {
                    *e = (*e).max(expires);
                }
                Try::Done(Ok(false))
            }
            MapEntry::Vacant(vacant) => self.create(vacant, &target, charged, v.len(), |origin| {
                Entry::Immutable {
                    v: Arc::from(v),
                    expires,
                    origin,
                }
            }),
        })
    }

    /// Stores a checked mutable item, charging a new one as `charged` says. `Ok(true)`
    /// when it created the item, `Ok(false)` when it refreshed or replaced a stored one.
    fn insert_mutable(
        &self,
        target: Id,
        item: MutableItem,
        cas: Option<i64>,
        now: Time,
        charged: NewCharge,
    ) -> Result<bool, StoreError> {
        let len = item.v.len();
        let expires = now + self.config.item_ttl;
        let item = Arc::new(item);
        self.insert_item(target, Kind::Mutable, len, |slot| match slot {
            MapEntry::Occupied(mut occupied) => {
                self.update_mutable(occupied.get_mut(), &item, cas, now, expires)
            }
            MapEntry::Vacant(vacant) => {
                let outcome = self.create(vacant, &target, charged, len, |origin| Entry::Mutable {
                    item: Arc::clone(&item),
                    expires,
                    origin,
                });
                if matches!(outcome, Try::Stored(_)) {
                    self.counters.mutable_items.fetch_add(1, Ordering::Relaxed);
                }
                outcome
            }
        })
    }

    /// A mutable put over the stored entry `entry`: refreshes it, replaces it with
    /// `item` if the quotas have room, or refuses (BEP 44 rules, unless it expired).
    /// The entry keeps its charge, even when it had expired.
    fn update_mutable(
        &self,
        entry: &mut Entry,
        item: &Arc<MutableItem>,
        cas: Option<i64>,
        now: Time,
        expires: Time,
    ) -> Try {
        let Entry::Mutable {
            item: stored,
            expires: stored_expires,
            ..
        } = entry
        else {
            // Mutable keys hold mutable entries only.
            return Try::Done(Ok(false));
        };
        let action = if *stored_expires > now {
            match check_mutable(stored, item, cas) {
                Ok(action) => action,
                Err(e) => return Try::Done(Err(e)),
            }
        } else {
            // Expired: as if nothing were stored.
            MutableAction::Replace
        };
        let old_len = stored.v.len();
        match action {
            MutableAction::Refresh => {
                *stored_expires = (*stored_expires).max(expires);
                Try::Done(Ok(false))
            }
            MutableAction::Replace if self.try_reserve(0, item.v.len(), old_len) => {
                *stored = Arc::clone(item);
                *stored_expires = expires;
                Try::Stored(false)
            }
            MutableAction::Replace => Try::NoRoom {
                items: 0,
                freed: old_len,
            },
        }
    }

    /// The retry path of every put: write-locks the shard of `target`, lets `try_once`
    /// store into the slot of its key, keeps the shard's eviction index, and, while
    /// `try_once` finds no room, makes room and tries again, up to [`PUT_ATTEMPTS`]
    /// times. `len` is the length of the value being stored.
    ///
    /// Locking: the target's shard, released before each [`Store::make_room`].
    fn insert_item(
        &self,
        target: Id,
        kind: Kind,
        len: usize,
        mut try_once: impl FnMut(Slot<'_>) -> Try,
    ) -> Result<bool, StoreError> {
        let key = Key { id: target, kind };
        let ikey = (self.own_id.distance(&target), kind);
        let shard = Store::shard_of(self.shards(), &target);
        for attempt in 1..=PUT_ATTEMPTS {
            let (add_items, freed) = {
                let mut guard = shard.write();
                let Shard {
                    map,
                    index,
                    indexed,
                    ..
                } = &mut *guard;
                match try_once(map.entry(key)) {
                    Try::Done(outcome) => return outcome,
                    Try::Stored(created) => {
                        if *indexed {
                            index.insert(ikey, len_u32(len));
                        }
                        return Ok(created);
                    }
                    Try::NoRoom { items, freed } => (items, freed),
                }
            };
            if attempt < PUT_ATTEMPTS {
                self.make_room(ikey, add_items, len, freed)?;
            }
        }
        Err(self.refuse(&ikey))
    }

    /// Creates a new item of `len` bytes in `vacant`, built by `entry` from the source
    /// to charge, if its source is within its cap and the quotas have room.
    fn create(
        &self,
        vacant: VacantEntry<'_, Key, Entry>,
        target: &Id,
        charged: NewCharge,
        len: usize,
        entry: impl FnOnce(Option<IpAddr>) -> Entry,
    ) -> Try {
        if charged.over_cap() {
            return Try::Done(Err(self.refuse_ip(target)));
        }
        if !self.try_reserve(1, len, 0) {
            return Try::NoRoom { items: 1, freed: 0 };
        }
        vacant.insert(entry(charged.origin()));
        Try::Stored(true)
    }
}

/// Applies the BEP 44 rules for a put over a stored, unexpired mutable item.
fn check_mutable(
    stored: &MutableItem,
    new: &MutableItem,
    cas: Option<i64>,
) -> Result<MutableAction, StoreError> {
    if let Some(cas) = cas {
        if cas != stored.seq {
            return Err(StoreError::CasMismatch {
                cas,
                stored: stored.seq,
            });
        }
    }
    if new.seq > stored.seq {
        Ok(MutableAction::Replace)
    } else if new.seq == stored.seq && new.v == stored.v {
        // BEP 44: "if the sequence number is equal, and the value is also the same,
        // the node SHOULD reset its timeout counter".
        Ok(MutableAction::Refresh)
    } else {
        Err(StoreError::SeqTooOld {
            seq: new.seq,
            stored: stored.seq,
        })
    }
}
