//! What a node stores for others: BEP 44 immutable and mutable items, and BEP 5 peer
//! announcements, with expiry and quotas.
//!
//! Entry point: [`Store`], built from a [`StoreConfig`]. It is shared by every thread
//! that answers queries (`&self` methods only); time is handed in by the caller as a
//! [`Time`], so the store is sans-I/O like the rest of the engine.
//!
//! ```
//! use dipsea::store::{Store, StoreConfig};
//! use dipsea::{Id, Time};
//!
//! let store = Store::new(Id::random(), StoreConfig::default());
//! let v = b"11:hello world"; // the exact bencoded value
//! let target = Id::sha1(v);
//! store.put_immutable(target, v, Time::ZERO)?;
//! assert_eq!(store.get_immutable(&target, Time::ZERO).as_deref(), Some(&v[..]));
//! # Ok::<(), dipsea::store::StoreError>(())
//! ```
//!
//! # Expiry
//!
//! Every entry carries an expiry time: [`StoreConfig::item_ttl`] after its last put and
//! [`StoreConfig::peer_ttl`] after its last announce. Expired entries are never returned,
//! but they keep their memory, and count against the quotas, until [`Store::sweep`]
//! removes them; the node calls it periodically (every minute or so is plenty).
//!
//! # Quotas and eviction
//!
//! Items (immutable and mutable together) are bounded by a count,
//! [`StoreConfig::max_items`], and by the total length of their values,
//! [`StoreConfig::max_value_bytes`]. When a new item (or a mutable item growing) would
//! exceed either, the store evicts the stored items whose targets are **farthest (XOR)
//! from its own id**, farthest first, but only items strictly farther from our id than
//! the new item's target; if that is not enough, nothing is evicted and the put fails
//! with [`StoreError::QuotaExceeded`].
//!
//! Why: a Kademlia node is responsible for the keys close to its own id, since those are
//! the keys a lookup will ask it for. Keeping the closest keys serves the network best,
//! and it makes flushing the store expensive: to push out what we hold, an attacker must
//! find content whose SHA-1 lies closer to our id than everything stored, which costs
//! about twice as much work for every bit closer.
//!
//! Peers are bounded per info-hash ([`StoreConfig::max_peers_per_info_hash`]: a new
//! announcement evicts the oldest one) and by the number of info-hashes
//! ([`StoreConfig::max_info_hashes`]: an announce for a new info-hash is refused while
//! the table is full). The distance rule would not help there, since an info-hash is
//! chosen freely by whoever announces it, not the hash of content; expiry (30 minutes by
//! default) frees the table instead.
//!
//! # Locking
//!
//! Entries live in one [`DashMap`] (a fixed number of shards, each behind its own
//! reader-writer lock). Item inserts and removals also take one small mutex, the
//! eviction index: an ordered map from distance to stored item, which finds the farthest
//! item without scanning. The lock order is:
//!
//! 1. the eviction index mutex, then
//! 2. at most one map shard at a time.
//!
//! No code holds a shard guard while taking the index mutex or another shard. Gets and
//! announces take only the one shard of their key; a re-put of a stored immutable item
//! takes only its shard; puts that add, replace or evict items are serialised by the
//! index mutex (puts are rare next to gets, and the mutex is held for a few map
//! operations). [`Store::sweep`] write-locks one shard at a time, so readers of the
//! other shards never wait for it.
//!
//! # Signatures
//!
//! The store does **not** check ed25519 signatures of mutable items: it keeps `k`,
//! `seq`, `sig` and `v` exactly as given. The caller must verify the signature before
//! [`Store::put_mutable`] (BEP 44 error 206 when it is wrong).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;
use parking_lot::Mutex;

use crate::id::{Distance, Id};
use crate::time::Time;

#[cfg(test)]
mod tests;

/// Largest bencoded value an item may hold, in bytes.
///
/// BEP 44: "the bencoded form of v must be less than 1000 bytes"; deployed nodes accept
/// exactly 1000 and answer anything longer with error 205.
pub const MAX_VALUE_LEN: usize = 1000;

/// Largest salt a mutable item may have, in bytes (BEP 44; error 207 past it).
pub const MAX_SALT_LEN: usize = 64;

/// Default lifetime of an item after its last put: 2 hours.
///
/// BEP 44 leaves it to the implementation; 2 hours is what libtorrent and most deployed
/// nodes use, and what publishers expect when they re-publish (about every hour).
pub const DEFAULT_ITEM_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// Default lifetime of a peer announcement: 30 minutes.
///
/// BEP 5 does not fix it; clients re-announce about every 15 to 30 minutes and deployed
/// nodes keep announcements for 30 minutes (libtorrent: `announce_interval` x 3 / 2).
pub const DEFAULT_PEER_TTL: Duration = Duration::from_secs(30 * 60);

/// Fewest shards a [`Store`] map can have (a `DashMap` needs at least two).
pub const MIN_SHARDS: usize = 2;

/// Most shards a [`Store`] map can have; larger configured values are clamped to it.
pub const MAX_SHARDS: usize = 4096;

/// Limits and lifetimes of a [`Store`]. Every bound on what the node keeps for others
/// is here; [`StoreConfig::default`] suits a node on the public network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// How long an item lives after its last put. Default [`DEFAULT_ITEM_TTL`] (2 h).
    pub item_ttl: Duration,
    /// How long a peer announcement lives. Default [`DEFAULT_PEER_TTL`] (30 min).
    pub peer_ttl: Duration,
    /// Most items (immutable and mutable together) kept at once. Default 4096.
    pub max_items: usize,
    /// Most bytes of item values (the bencoded `v` of each item, summed) kept at once.
    /// Default 2 MiB: room for 4096 items of 512 bytes.
    pub max_value_bytes: usize,
    /// Most info-hashes with announced peers kept at once. Default 2048.
    pub max_info_hashes: usize,
    /// Most peers kept per info-hash; a new announcement past it evicts the oldest.
    /// Default 100. Replies carry at most what the caller asks of [`Store::get_peers`].
    pub max_peers_per_info_hash: usize,
    /// Number of `DashMap` shards: more shards let more threads write at once, fewer
    /// make a store smaller (each shard costs 128 bytes even when empty, allocated on
    /// the first write). Rounded up to a power of two within
    /// [`MIN_SHARDS`]..=[`MAX_SHARDS`]. Default 16 for a real node; the simulator, which
    /// runs a million stores in one process, uses 2.
    ///
    /// Sizes on 64-bit Linux: a store never written to takes 232 bytes (inline, no
    /// heap); once written, with 2 shards, about 680 bytes when swept empty again.
    pub shards: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            item_ttl: DEFAULT_ITEM_TTL,
            peer_ttl: DEFAULT_PEER_TTL,
            max_items: 4096,
            max_value_bytes: 2 * 1024 * 1024,
            max_info_hashes: 2048,
            max_peers_per_info_hash: 100,
            shards: 16,
        }
    }
}

impl StoreConfig {
    /// The shard count actually used: [`StoreConfig::shards`] rounded up to a power of
    /// two and clamped to [`MIN_SHARDS`]..=[`MAX_SHARDS`].
    pub fn effective_shards(&self) -> usize {
        self.shards
            .clamp(MIN_SHARDS, MAX_SHARDS)
            .checked_next_power_of_two()
            .unwrap_or(MAX_SHARDS)
    }
}

/// Why the store refused a put or an announce. Each variant maps to the KRPC error the
/// answering node sends back ([`StoreError::krpc_code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The target is not the SHA-1 of the value (immutable item) or of `k` then `salt`
    /// (mutable item). The sender is broken or lying: answer 203 and store nothing.
    #[error("target does not match the hash of the item")]
    HashMismatch,
    /// The bencoded value is longer than [`MAX_VALUE_LEN`] bytes. Answer 205; the sender
    /// must split its data.
    #[error("value of {len} bytes exceeds the {MAX_VALUE_LEN}-byte limit")]
    TooBig {
        /// Length of the refused value.
        len: usize,
    },
    /// The salt is longer than [`MAX_SALT_LEN`] bytes. Answer 207.
    #[error("salt of {len} bytes exceeds the {MAX_SALT_LEN}-byte limit")]
    SaltTooBig {
        /// Length of the refused salt.
        len: usize,
    },
    /// The put carried `cas` and the stored item has another sequence number: someone
    /// else wrote first. Answer 301; the writer should read the item again and retry.
    #[error("cas {cas} does not match stored sequence number {stored}")]
    CasMismatch {
        /// The sequence number the writer expected.
        cas: i64,
        /// The sequence number stored.
        stored: i64,
    },
    /// The sequence number is lower than the stored one, or equal with a different
    /// value. Answer 302; the writer must publish with a higher sequence number.
    #[error("sequence number {seq} is not newer than stored {stored}")]
    SeqTooOld {
        /// The sequence number of the refused put.
        seq: i64,
        /// The sequence number stored.
        stored: i64,
    },
    /// Storing this would exceed a quota and nothing stored is farther from our id than
    /// the new entry (items), or the info-hash table is full (peers). Answer 202; the
    /// sender stores on the other nodes close to the key, and room comes back as
    /// entries expire.
    #[error("store quota exceeded")]
    QuotaExceeded,
}

impl StoreError {
    /// The KRPC error code to answer with: 203 (protocol error) for a hash mismatch,
    /// 205 too big, 207 salt too big, 301 CAS mismatch, 302 sequence number too old
    /// (BEP 44), and 202 (server error, BEP 5) for a full store. Code 206 (invalid
    /// signature) is left to the signature check, which happens before the store.
    pub fn krpc_code(&self) -> i64 {
        match self {
            StoreError::HashMismatch => 203,
            StoreError::TooBig { .. } => 205,
            StoreError::SaltTooBig { .. } => 207,
            StoreError::CasMismatch { .. } => 301,
            StoreError::SeqTooOld { .. } => 302,
            StoreError::QuotaExceeded => 202,
        }
    }
}

/// A BEP 44 mutable item as stored: the signing key, salt, sequence number, signature
/// and bencoded value, kept exactly as received. Its target is `SHA-1(k ‖ salt)`
/// ([`MutableItem::target`]).
///
/// The store does not verify `sig`; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutableItem {
    /// The ed25519 public key of the writer.
    pub k: [u8; 32],
    /// The salt (at most [`MAX_SALT_LEN`] bytes, usually empty).
    pub salt: Box<[u8]>,
    /// The sequence number; a newer version has a higher one.
    pub seq: i64,
    /// The ed25519 signature over salt, seq and v (BEP 44).
    pub sig: [u8; 64],
    /// The exact bencoded value.
    pub v: Arc<[u8]>,
}

impl MutableItem {
    /// The key this item is stored under: `SHA-1(k ‖ salt)` (BEP 44).
    pub fn target(&self) -> Id {
        Id::sha1_concat(&[&self.k, &self.salt])
    }
}

/// What [`Store::sweep`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Expired items (immutable and mutable) removed.
    pub items: usize,
    /// Of those, how many were mutable.
    pub mutable_items: usize,
    /// Bytes of item values freed.
    pub bytes: usize,
    /// Expired peer announcements removed.
    pub peers: usize,
    /// Info-hashes dropped because none of their peers was left.
    pub info_hashes: usize,
}

/// Counters of a [`Store`], read with [`Store::stats`].
///
/// Each counter is exact once concurrent writers are done; read while writers run, the
/// fields come from slightly different instants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Items stored, immutable and mutable together (what [`StoreConfig::max_items`]
    /// bounds), including expired ones not yet swept.
    pub items: usize,
    /// How many of `items` are mutable.
    pub mutable_items: usize,
    /// Info-hashes with at least one stored announcement.
    pub info_hashes: usize,
    /// Peer announcements stored, over all info-hashes.
    pub peers: usize,
    /// Total length of stored item values (what [`StoreConfig::max_value_bytes`] bounds).
    pub bytes: usize,
    /// Items evicted to make room for closer ones, since the store was created.
    pub evictions: u64,
    /// Puts and announces refused with [`StoreError::QuotaExceeded`], since creation.
    pub refused_quota: u64,
}

/// Which table a map key belongs to: items and info-hashes share the map (one set of
/// shards keeps an empty store small) but not their key spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
enum Kind {
    Immutable,
    Mutable,
    Peers,
}

/// Key of the shared map.
///
/// Keep the id first, in memory (`repr(C)`) and in hashing order: with the kind byte in
/// front, lookups in a 100,000-item map measured about 60% slower (the same with a std
/// `HashMap`), which made `get_immutable` slower than a plain mutex-guarded map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
struct Key {
    id: Id,
    kind: Kind,
}

/// Key of the eviction index: distance of the target from our id, then the kind (an
/// immutable and a mutable item may, in theory, share a target).
type IndexKey = (Distance, Kind);

/// Value of the shared map.
#[derive(Debug)]
enum Entry {
    Immutable {
        v: Arc<[u8]>,
        expires: Time,
    },
    Mutable {
        item: Arc<MutableItem>,
        expires: Time,
    },
    /// Announcements of one info-hash in announce order, oldest first.
    Peers(Vec<PeerEntry>),
}

impl Entry {
    /// Expiry of an item entry; `None` for peers.
    fn item_expiry(&self) -> Option<Time> {
        match self {
            Entry::Immutable { expires, .. } | Entry::Mutable { expires, .. } => Some(*expires),
            Entry::Peers(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct PeerEntry {
    addr: SocketAddr,
    expires: Time,
}

/// Counters behind [`StoreStats`]. `items`, `mutable_items` and `bytes` change only
/// under the index mutex; `info_hashes` and `peers` only under the shard lock of the
/// info-hash concerned. Atomics make them readable without any lock.
#[derive(Debug, Default)]
struct Counters {
    items: AtomicUsize,
    mutable_items: AtomicUsize,
    bytes: AtomicUsize,
    info_hashes: AtomicUsize,
    peers: AtomicUsize,
    evictions: AtomicU64,
    refused_quota: AtomicU64,
}

/// What a node holds for others: BEP 44 items and BEP 5 peer announcements, with
/// expiry and quotas (see the module docs for the eviction rule and the lock order).
///
/// All methods take `&self`; share it between threads behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    own_id: Id,
    config: StoreConfig,
    /// Created by the first write, so that a store never written to costs no heap.
    map: OnceLock<DashMap<Key, Entry>>,
    /// Every stored item by distance of its target from `own_id`, with its value length.
    index: Mutex<BTreeMap<IndexKey, u32>>,
    counters: Counters,
}

/// What a mutable put does once checked against the stored item.
enum MutableAction {
    /// Same sequence number and value: only push the expiry back.
    Refresh,
    /// Store the new item in place of the old one (or of nothing).
    Replace,
}

impl Store {
    /// An empty store for the node `own_id` (items are evicted by distance from it).
    ///
    /// Allocates nothing: the shard array ([`StoreConfig::effective_shards`] x 128
    /// bytes) is allocated by the first put or announce.
    pub fn new(own_id: Id, config: StoreConfig) -> Store {
        Store {
            own_id,
            config,
            map: OnceLock::new(),
            index: Mutex::new(BTreeMap::new()),
            counters: Counters::default(),
        }
    }

    /// The map, if anything was ever written.
    fn map(&self) -> Option<&DashMap<Key, Entry>> {
        self.map.get()
    }

    /// The map, created on first use.
    fn map_or_init(&self) -> &DashMap<Key, Entry> {
        self.map
            .get_or_init(|| DashMap::with_shard_amount(self.config.effective_shards()))
    }

    /// The id items are kept close to.
    pub fn own_id(&self) -> Id {
        self.own_id
    }

    /// The configuration this store was built with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Stores the immutable item `v` (its exact bencoded bytes) under `target`, or
    /// pushes back its expiry if it is already stored.
    ///
    /// Fails with [`StoreError::TooBig`] past [`MAX_VALUE_LEN`] bytes,
    /// [`StoreError::HashMismatch`] unless `target == SHA-1(v)`, and
    /// [`StoreError::QuotaExceeded`] when the store is full of items at least as close
    /// to our id.
    ///
    /// Locking: a re-put write-locks the target's shard; a new item takes the index
    /// mutex, then one shard at a time (its own, and those of evicted items).
    pub fn put_immutable(&self, target: Id, v: &[u8], now: Time) -> Result<(), StoreError> {
        if v.len() > MAX_VALUE_LEN {
            return Err(StoreError::TooBig { len: v.len() });
        }
        if Id::sha1(v) != target {
            return Err(StoreError::HashMismatch);
        }
        let expires = now + self.config.item_ttl;
        let key = Key {
            kind: Kind::Immutable,
            id: target,
        };
        // Fast path: a re-put of a stored item changes no counter, so it needs only
        // the shard lock, not the index mutex.
        if self.refresh_immutable(&key, expires) {
            return Ok(());
        }
        let mut index = self.index.lock();
        // Another thread may have stored the same item since the fast path.
        if self.refresh_immutable(&key, expires) {
            return Ok(());
        }
        let ikey = (self.own_id.distance(&target), Kind::Immutable);
        self.make_room(&mut index, ikey, 1, v.len(), 0)?;
        let entry = Entry::Immutable {
            v: Arc::from(v),
            expires,
        };
        self.insert_item(&mut index, key, ikey, entry, v.len());
        Ok(())
    }

    /// Pushes the expiry of a stored immutable item to `expires`; false if absent.
    fn refresh_immutable(&self, key: &Key, expires: Time) -> bool {
        match self.map().and_then(|m| m.get_mut(key)).as_deref_mut() {
            Some(Entry::Immutable { expires: e, .. }) => {
                *e = (*e).max(expires);
                true
            }
            _ => false,
        }
    }

    /// The value of the immutable item `target`, unless absent or expired at `now`.
    ///
    /// Locking: read-locks the target's shard; the clone is a reference count increment.
    pub fn get_immutable(&self, target: &Id, now: Time) -> Option<Arc<[u8]>> {
        let key = Key {
            kind: Kind::Immutable,
            id: *target,
        };
        match self.map().and_then(|m| m.get(&key)).as_deref() {
            Some(Entry::Immutable { v, expires }) if *expires > now => Some(Arc::clone(v)),
            _ => None,
        }
    }

    /// Stores the mutable item `item` under `target` following BEP 44, or pushes back
    /// its expiry when the same version is put again.
    ///
    /// Checks, in order: salt length ([`StoreError::SaltTooBig`]), value length
    /// ([`StoreError::TooBig`]), `target == SHA-1(k ‖ salt)`
    /// ([`StoreError::HashMismatch`]); then against the stored, unexpired version if any:
    /// `cas` must equal its sequence number ([`StoreError::CasMismatch`]; `cas` is
    /// ignored when nothing is stored), and `item.seq` must be higher, or equal with the
    /// same value, which only refreshes ([`StoreError::SeqTooOld`]); finally the quotas
    /// ([`StoreError::QuotaExceeded`]).
    ///
    /// **The signature is not checked**: verify `item.sig` before calling.
    ///
    /// Locking: takes the index mutex, then one shard at a time.
    pub fn put_mutable(
        &self,
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
        let expires = now + self.config.item_ttl;
        let key = Key {
            kind: Kind::Mutable,
            id: target,
        };
        let ikey = (self.own_id.distance(&target), Kind::Mutable);
        // Every mutable put takes the index mutex: the stored version cannot change
        // between the checks below and the write.
        let mut index = self.index.lock();
        let Some(old_len) = index.get(&ikey).map(|&l| l as usize) else {
            self.make_room(&mut index, ikey, 1, len, 0)?;
            let entry = Entry::Mutable {
                item: Arc::new(item),
                expires,
            };
            self.insert_item(&mut index, key, ikey, entry, len);
            return Ok(());
        };
        let action = match self.map().and_then(|m| m.get(&key)).as_deref() {
            Some(Entry::Mutable {
                item: stored,
                expires: stored_expires,
            }) if *stored_expires > now => check_mutable(stored, &item, cas)?,
            // Expired: as if nothing were stored.
            _ => MutableAction::Replace,
        };
        match action {
            MutableAction::Refresh => {
                if let Some(Entry::Mutable { expires: e, .. }) =
                    self.map_or_init().get_mut(&key).as_deref_mut()
                {
                    *e = (*e).max(expires);
                }
            }
            MutableAction::Replace => {
                self.make_room(&mut index, ikey, 0, len, old_len)?;
                if let Some(entry) = self.map_or_init().get_mut(&key).as_deref_mut() {
                    *entry = Entry::Mutable {
                        item: Arc::new(item),
                        expires,
                    };
                }
                index.insert(ikey, len_u32(len));
                // Both under the index mutex, so the sum is exact.
                self.counters.bytes.fetch_add(len, Ordering::Relaxed);
                self.counters.bytes.fetch_sub(old_len, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The mutable item stored under `target`, unless absent or expired at `now`.
    ///
    /// Locking: read-locks the target's shard; the clone is a reference count increment.
    pub fn get_mutable(&self, target: &Id, now: Time) -> Option<Arc<MutableItem>> {
        let key = Key {
            kind: Kind::Mutable,
            id: *target,
        };
        match self.map().and_then(|m| m.get(&key)).as_deref() {
            Some(Entry::Mutable { item, expires }) if *expires > now => Some(Arc::clone(item)),
            _ => None,
        }
    }

    /// Makes room for `add_items` more items and a value of `add_bytes` replacing
    /// `freed_bytes`, stored at `ikey`, by evicting items farther from our id than
    /// `ikey`, farthest first. Evicts nothing and fails if that cannot make enough room.
    ///
    /// Called with the index mutex held; locks one shard per evicted item.
    fn make_room(
        &self,
        index: &mut BTreeMap<IndexKey, u32>,
        ikey: IndexKey,
        add_items: usize,
        add_bytes: usize,
        freed_bytes: usize,
    ) -> Result<(), StoreError> {
        let items = self.counters.items.load(Ordering::Relaxed);
        let bytes = self.counters.bytes.load(Ordering::Relaxed);
        let mut excess_items = (items + add_items).saturating_sub(self.config.max_items);
        let mut excess_bytes = (bytes.saturating_sub(freed_bytes) + add_bytes)
            .saturating_sub(self.config.max_value_bytes);
        if excess_items == 0 && excess_bytes == 0 {
            return Ok(());
        }
        let mut victims = Vec::new();
        for (&key, &len) in index.iter().rev() {
            if key == ikey {
                // The item being replaced: its bytes are already counted as freed.
                continue;
            }
            if key.0 <= ikey.0 {
                // Everything left is at least as close as the new item.
                break;
            }
            victims.push(key);
            excess_items = excess_items.saturating_sub(1);
            excess_bytes = excess_bytes.saturating_sub(len as usize);
            if excess_items == 0 && excess_bytes == 0 {
                break;
            }
        }
        if excess_items > 0 || excess_bytes > 0 {
            self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(item = %self.target_at(&ikey.0), "store full, item refused");
            return Err(StoreError::QuotaExceeded);
        }
        for victim in victims {
            self.remove_item(index, victim, None);
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Inserts a new item and counts it. Called with the index mutex held.
    fn insert_item(
        &self,
        index: &mut BTreeMap<IndexKey, u32>,
        key: Key,
        ikey: IndexKey,
        entry: Entry,
        len: usize,
    ) {
        self.map_or_init().insert(key, entry);
        index.insert(ikey, len_u32(len));
        self.counters.items.fetch_add(1, Ordering::Relaxed);
        if key.kind == Kind::Mutable {
            self.counters.mutable_items.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.bytes.fetch_add(len, Ordering::Relaxed);
    }

    /// Removes an item and uncounts it; returns its value length if it was removed.
    /// With `expired_at`, removes it only if it is expired at that time (a put may have
    /// refreshed it since the caller looked). Called with the index mutex held.
    fn remove_item(
        &self,
        index: &mut BTreeMap<IndexKey, u32>,
        ikey: IndexKey,
        expired_at: Option<Time>,
    ) -> Option<usize> {
        let len = *index.get(&ikey)? as usize;
        let key = Key {
            kind: ikey.1,
            id: self.target_at(&ikey.0),
        };
        // `remove_if` checks and removes under one shard lock.
        let removed = self
            .map_or_init()
            .remove_if(&key, |_, entry| match expired_at {
                Some(now) => entry.item_expiry().is_some_and(|e| e <= now),
                None => true,
            });
        if removed.is_none() && expired_at.is_some() {
            return None;
        }
        index.remove(&ikey);
        self.counters.items.fetch_sub(1, Ordering::Relaxed);
        if ikey.1 == Kind::Mutable {
            self.counters.mutable_items.fetch_sub(1, Ordering::Relaxed);
        }
        self.counters.bytes.fetch_sub(len, Ordering::Relaxed);
        Some(len)
    }

    /// The target at distance `d` from our id (XOR is its own inverse).
    fn target_at(&self, d: &Distance) -> Id {
        Id::from_bytes(
            *Id::from_bytes(*d.as_bytes())
                .distance(&self.own_id)
                .as_bytes(),
        )
    }

    /// Records that `peer` announced itself for `info_hash` at `now`.
    ///
    /// A repeated announcement refreshes the peer and makes it the most recent. When the
    /// info-hash already has [`StoreConfig::max_peers_per_info_hash`] peers, the oldest
    /// announcement is dropped. A new info-hash past [`StoreConfig::max_info_hashes`]
    /// fails with [`StoreError::QuotaExceeded`].
    ///
    /// Locking: write-locks the info-hash's shard only.
    pub fn announce_peer(
        &self,
        info_hash: Id,
        peer: SocketAddr,
        now: Time,
    ) -> Result<(), StoreError> {
        let cap = self.config.max_peers_per_info_hash;
        if cap == 0 {
            self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::QuotaExceeded);
        }
        let new = PeerEntry {
            addr: peer,
            expires: now + self.config.peer_ttl,
        };
        let key = Key {
            kind: Kind::Peers,
            id: info_hash,
        };
        match self.map_or_init().entry(key) {
            MapEntry::Occupied(mut occupied) => {
                let Entry::Peers(peers) = occupied.get_mut() else {
                    return Ok(());
                };
                let before = peers.len();
                // Drop this peer's old announcement and any expired ones while the
                // shard is locked anyway.
                peers.retain(|p| p.addr != peer && p.expires > now);
                if peers.len() >= cap {
                    let excess = peers.len() + 1 - cap;
                    peers.drain(..excess);
                }
                peers.push(new);
                adjust(&self.counters.peers, before, peers.len());
            }
            MapEntry::Vacant(vacant) => {
                let max = self.config.max_info_hashes;
                // Reserve the slot before inserting so concurrent announces cannot
                // overshoot the quota.
                let reserved = self.counters.info_hashes.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |n| (n < max).then_some(n + 1),
                );
                if reserved.is_err() {
                    self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
                    return Err(StoreError::QuotaExceeded);
                }
                vacant.insert(Entry::Peers(vec![new]));
                self.counters.peers.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Appends to `out` up to `max` peers announced for `info_hash` and unexpired at
    /// `now`, most recent first, IPv4 and IPv6 alike; returns how many it appended.
    ///
    /// Locking: read-locks the info-hash's shard.
    pub fn get_peers(
        &self,
        info_hash: &Id,
        max: usize,
        now: Time,
        out: &mut Vec<SocketAddr>,
    ) -> usize {
        let key = Key {
            kind: Kind::Peers,
            id: *info_hash,
        };
        let Some(guard) = self.map().and_then(|m| m.get(&key)) else {
            return 0;
        };
        let Entry::Peers(peers) = &*guard else {
            return 0;
        };
        let before = out.len();
        out.extend(
            peers
                .iter()
                .rev()
                .filter(|p| p.expires > now)
                .take(max)
                .map(|p| p.addr),
        );
        out.len() - before
    }

    /// Removes everything expired at `now` and says what went.
    ///
    /// Locking: write-locks one shard at a time (readers of the other shards go on);
    /// then, for each expired item, the index mutex and that item's shard; then, if the
    /// map is less than a quarter full, each shard in turn again to shrink its table.
    pub fn sweep(&self, now: Time) -> SweepStats {
        let mut stats = SweepStats::default();
        let Some(map) = self.map() else {
            return stats;
        };
        let mut expired = Vec::new();
        map.retain(|key, entry| match entry {
            Entry::Peers(peers) => {
                let before = peers.len();
                peers.retain(|p| p.expires > now);
                stats.peers += before - peers.len();
                adjust(&self.counters.peers, before, peers.len());
                if peers.is_empty() {
                    stats.info_hashes += 1;
                    self.counters.info_hashes.fetch_sub(1, Ordering::Relaxed);
                    false
                } else {
                    true
                }
            }
            // Items leave under the index mutex, which cannot be taken while this shard
            // is locked (lock order): note them and remove them below.
            Entry::Immutable { expires, .. } | Entry::Mutable { expires, .. } => {
                if *expires <= now {
                    expired.push(*key);
                }
                true
            }
        });
        for key in expired {
            let mut index = self.index.lock();
            let ikey = (self.own_id.distance(&key.id), key.kind);
            if let Some(len) = self.remove_item(&mut index, ikey, Some(now)) {
                stats.items += 1;
                stats.bytes += len;
                if key.kind == Kind::Mutable {
                    stats.mutable_items += 1;
                }
            }
        }
        // Tables do not shrink by themselves; give memory back once mostly empty, which
        // matters when a million mostly idle stores share one process (simulator).
        if (stats.items > 0 || stats.info_hashes > 0) && map.len() * 4 < map.capacity() {
            map.shrink_to_fit();
        }
        if stats != SweepStats::default() {
            tracing::trace!(?stats, "store swept");
        }
        stats
    }

    /// The store's counters. Lock-free.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            items: c.items.load(Ordering::Relaxed),
            mutable_items: c.mutable_items.load(Ordering::Relaxed),
            info_hashes: c.info_hashes.load(Ordering::Relaxed),
            peers: c.peers.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            refused_quota: c.refused_quota.load(Ordering::Relaxed),
        }
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

/// Moves `counter` by `after - before`.
fn adjust(counter: &AtomicUsize, before: usize, after: usize) {
    if after > before {
        counter.fetch_add(after - before, Ordering::Relaxed);
    } else if before > after {
        counter.fetch_sub(before - after, Ordering::Relaxed);
    }
}

/// A value length as stored in the index; lengths are at most [`MAX_VALUE_LEN`].
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
