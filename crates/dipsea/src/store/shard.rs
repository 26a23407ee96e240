//! The shard tables: what a key and an entry are, one shard's data under its lock, and
//! which shard holds an id.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use super::eviction::IndexKey;
use super::hasher::{le_u64, KeyState};
use super::peers::PeerEntry;
use super::quota::OriginCount;
use super::{MutableItem, Store};
use crate::id::Id;
use crate::time::Time;

/// Which table a map key belongs to: items and info-hashes share the map (one set of
/// shards keeps an empty store small) but not their key spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub(super) enum Kind {
    Immutable,
    Mutable,
    Peers,
}

/// Key of the shard tables.
///
/// Keep the id first in memory (`repr(C)`): with the kind byte in front, lookups in a
/// 100,000-item map measured about 60% slower, which made `get_immutable` slower than a
/// plain mutex-guarded map. `Hash` is written out to feed [`KeyState`] three words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(super) struct Key {
    pub(super) id: Id,
    pub(super) kind: Kind,
}

impl Hash for Key {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let b = self.id.as_bytes();
        state.write_u64(le_u64(&b[..8]));
        state.write_u64(le_u64(&b[8..16]));
        state.write_u64(le_u64(&b[16..]) | (self.kind as u64) << 32);
    }
}

/// Value of the shard tables. `origin` is the source charged with an item (see
/// [`super::quota::origin_key`]), `None` for items stored through the uncharged entry
/// points.
#[derive(Debug)]
pub(super) enum Entry {
    Immutable {
        v: Arc<[u8]>,
        expires: Time,
        origin: Option<IpAddr>,
    },
    Mutable {
        item: Arc<MutableItem>,
        expires: Time,
        origin: Option<IpAddr>,
    },
    /// Announcements of one info-hash in announce order, oldest first.
    Peers(Vec<PeerEntry>),
}

impl Entry {
    /// Expiry of an item entry; `None` for peers.
    #[cfg(test)]
    pub(super) fn item_expiry(&self) -> Option<Time> {
        match self {
            Entry::Immutable { expires, .. } | Entry::Mutable { expires, .. } => Some(*expires),
            Entry::Peers(_) => None,
        }
    }

    /// Value length of an item entry; `None` for peers.
    pub(super) fn item_len(&self) -> Option<usize> {
        match self {
            Entry::Immutable { v, .. } => Some(v.len()),
            Entry::Mutable { item, .. } => Some(item.v.len()),
            Entry::Peers(_) => None,
        }
    }

    /// The source charged with an item entry; `None` for peers and uncharged items.
    pub(super) fn origin(&self) -> Option<IpAddr> {
        match self {
            Entry::Immutable { origin, .. } | Entry::Mutable { origin, .. } => *origin,
            Entry::Peers(_) => None,
        }
    }
}

/// One shard: its part of the entries and of the eviction index, and its part of the
/// per-IP table, under one lock.
#[derive(Debug)]
pub(super) struct Shard {
    pub(super) map: HashMap<Key, Entry, KeyState>,
    /// While `indexed`: every item of `map` by distance of its target from our id, with
    /// its value length. Empty otherwise.
    pub(super) index: BTreeMap<IndexKey, u32>,
    pub(super) indexed: bool,
    /// What each source whose [`super::quota::origin_key`] falls in this shard
    /// ([`Store::ip_index`]) is charged with, wherever its entries are stored. Only
    /// sources charged with something have an entry. A B-tree: no allocation while
    /// empty, and no hash a flood of sources could aim at.
    pub(super) origins: BTreeMap<IpAddr, OriginCount>,
}

/// A shard on its own cache lines (two, as dashmap and crossbeam pad), so that threads
/// locking neighbouring shards do not contend on one line.
#[derive(Debug)]
#[repr(align(128))]
pub(super) struct PaddedShard(pub(super) RwLock<Shard>);

/// The shards of a store, created by its first write.
#[derive(Debug)]
pub(super) struct Shards {
    pub(super) list: Box<[PaddedShard]>,
    /// Shard count minus one (the count is a power of two).
    pub(super) mask: usize,
    /// The keyed hash of the tables, also used to pick the shard of a source's count.
    pub(super) hasher: KeyState,
}

impl Store {
    /// The shards, created on first use.
    pub(super) fn shards(&self) -> &Shards {
        self.shards.get_or_init(|| {
            let hasher = KeyState::random();
            let count = self.config.effective_shards();
            let list = (0..count)
                .map(|_| {
                    PaddedShard(RwLock::new(Shard {
                        map: HashMap::with_hasher(hasher),
                        index: BTreeMap::new(),
                        indexed: false,
                        origins: BTreeMap::new(),
                    }))
                })
                .collect();
            Shards {
                list,
                mask: count - 1,
                hasher,
            }
        })
    }

    /// The shard of `id` among `shards`. Taken from id bytes the hash mixes in last,
    /// so the shard's table still sees well spread hashes.
    #[inline]
    pub(super) fn shard_of<'a>(shards: &'a Shards, id: &Id) -> &'a RwLock<Shard> {
        let b = id.as_bytes();
        let i = u16::from_le_bytes([b[18], b[19]]) as usize & shards.mask;
        &shards.list[i].0
    }

    /// The shard of `id`, if anything was ever written.
    #[inline]
    pub(super) fn shard(&self, id: &Id) -> Option<&RwLock<Shard>> {
        self.shards.get().map(|s| Store::shard_of(s, id))
    }
}
