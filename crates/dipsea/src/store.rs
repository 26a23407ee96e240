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
//! What a caller can rely on (the reasons, the shard layout and the concurrency details
//! are in the store section of `docs/design.md`):
//!
//! - **Expiry.** An item expires [`StoreConfig::item_ttl`] after its last put, an
//!   announcement [`StoreConfig::peer_ttl`] after its last announce. Expired entries are
//!   never returned, but they count against the quotas until [`Store::sweep`] removes
//!   them; call it periodically (every minute or so is plenty).
//! - **Item quotas and eviction.** Items (immutable and mutable together) are bounded by
//!   [`StoreConfig::max_items`] and [`StoreConfig::max_value_bytes`]. A new item (or a
//!   mutable item growing) that would exceed either evicts the stored items **farthest
//!   (XOR) from our id**, farthest first, but only items strictly farther than its own
//!   target; if that is not enough, nothing is evicted and the put fails with
//!   [`StoreError::QuotaExceeded`]. The quotas hold at every instant, under any
//!   concurrency; the farthest-first choice is exact when puts do not overlap.
//! - **Peer quotas.** [`StoreConfig::max_peers_per_info_hash`] per info-hash (a new
//!   announcement evicts the oldest) and [`StoreConfig::max_info_hashes`] info-hashes
//!   (an announce for a new one is refused while the table is full).
//! - **Per-IP shares.** A put from the network ([`Store::put_immutable_from`],
//!   [`Store::put_mutable_from`]) charges a new item to its source IP, an announce
//!   charges the announced IP; a source is an IPv4 address or an IPv6 /64, and loopback
//!   is exempt unless [`StoreConfig::limit_loopback`]. A source at
//!   [`StoreConfig::max_items_per_ip`] items or [`StoreConfig::max_announces_per_ip`]
//!   announcements is refused with [`StoreError::IpQuotaExceeded`] before anything is
//!   evicted. An entry stays charged to the source that created it until it is removed;
//!   re-puts, new versions and refreshes move no charge and are accepted from anyone.
//!   [`Store::put_immutable`] and [`Store::put_mutable`] charge nobody.
//!   [`Store::usage_of`] reads a source's counts.
//! - **Locking.** Entries live in [`StoreConfig::shards`] shards, each a
//!   `parking_lot::RwLock`; there is no store-wide lock and no method ever holds two
//!   locks at once. Each method's docs say which locks it takes.
//! - **Signatures.** The store does **not** check ed25519 signatures of mutable items:
//!   the caller verifies `sig` before [`Store::put_mutable`] (BEP 44 error 206).
//!
//! The parts live beside this file: `shard` (keys, entries, one shard's data under its
//! lock), `hasher` (the keyed hash of the tables), `items` (the BEP 44 checks and the
//! one retry path of every put), `eviction` (the distance index and making room),
//! `peers` (announcements), `quota` (the total counters and the per-IP table), `sweep`
//! (expiry).

mod eviction;
mod hasher;
mod items;
mod peers;
mod quota;
mod shard;
mod sweep;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::id::Id;
use crate::time::Time;
use crate::wire::BloomFilter;
use quota::{origin_key, Charge, Usage};
use shard::{Entry, Key, Kind, Shards};

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

/// Fewest shards a [`Store`] can have.
pub const MIN_SHARDS: usize = 2;

/// Most shards a [`Store`] can have; larger configured values are clamped to it.
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
    /// Values above `u32::MAX` act as `u32::MAX`.
    pub max_items: usize,
    /// Most bytes of item values (the bencoded `v` of each item, summed) kept at once.
    /// Default 2 MiB: room for 4096 items of 512 bytes. Values above `u32::MAX` (4 GiB)
    /// act as `u32::MAX`.
    pub max_value_bytes: usize,
    /// Most info-hashes with announced peers kept at once. Default 2048.
    pub max_info_hashes: usize,
    /// Most peers kept per info-hash; a new announcement past it evicts the oldest.
    /// Default 100. Replies carry at most what the caller asks of [`Store::get_peers`].
    pub max_peers_per_info_hash: usize,
    /// Most items (immutable and mutable together) charged to one source IP at once
    /// (an IPv6 source counts by its /64 prefix; see the module docs for who is
    /// charged). Default 256, 1/16 of the default [`StoreConfig::max_items`]: at
    /// least 16 distinct sources, each able to receive our replies (the write token),
    /// are needed to fill the store, and one source holds at most 256 values of at most
    /// [`MAX_VALUE_LEN`] bytes, 1/8 of the default byte quota. An honest peer puts a
    /// few items on each node close to their keys, far below it. Values above
    /// `u32::MAX` act as `u32::MAX`; 0 refuses every charged put.
    pub max_items_per_ip: usize,
    /// Most peer announcements (one per info-hash and announced address) charged to
    /// one source IP at once (IPv6: per /64), across all info-hashes. Default 128, 1/16
    /// of the default [`StoreConfig::max_info_hashes`], so a single source cannot fill
    /// the info-hash table; a client seeding thousands of torrents still announces only
    /// a handful of them to any one node, the one close to each info-hash. Values above
    /// `u32::MAX` act as `u32::MAX`; 0 refuses every announce.
    pub max_announces_per_ip: usize,
    /// Whether loopback sources (127.0.0.0/8, ::1) are held to the per-IP shares too.
    /// Default false, as for the rate limits (`RateLimitConfig::limit_loopback`): a test
    /// network or a swarm started from one script runs all its nodes on 127.0.0.1,
    /// which the shares would treat as one source. What they store counts against the
    /// totals only.
    pub limit_loopback: bool,
    /// Number of shards, each a lock over a hash table and its part of the eviction
    /// index: more shards let more threads write at once, fewer make a store smaller
    /// (each shard costs 128 bytes even when empty, allocated on the first write) and
    /// make a put over quota cheaper (it reads every shard's farthest item). Rounded up
    /// to a power of two within [`MIN_SHARDS`]..=[`MAX_SHARDS`]. Default 16 for a real
    /// node; the simulator, which runs a million stores in one process, uses 2.
    ///
    /// Sizes on 64-bit Linux: a store never written to takes 224 bytes (inline, no
    /// heap); once written, with 2 shards, about 670 bytes when swept empty again.
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
            max_items_per_ip: 256,
            max_announces_per_ip: 128,
            limit_loopback: false,
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
    /// The source IP of the put or announce already holds its share of the store
    /// ([`StoreConfig::max_items_per_ip`] items or
    /// [`StoreConfig::max_announces_per_ip`] announcements). Answer 202; room comes back
    /// as that source's entries expire or are evicted. Re-puts of what is stored still
    /// succeed.
    #[error("store quota of this source IP exceeded")]
    IpQuotaExceeded,
}

impl StoreError {
    /// The KRPC error code to answer with: 203 (protocol error) for a hash mismatch,
    /// 205 too big, 207 salt too big, 301 CAS mismatch, 302 sequence number too old
    /// (BEP 44), and 202 (server error, BEP 5) for a full store or a source IP over its
    /// share. Code 206 (invalid
    /// signature) is left to the signature check, which happens before the store.
    pub fn krpc_code(&self) -> i64 {
        match self {
            StoreError::HashMismatch => 203,
            StoreError::TooBig { .. } => 205,
            StoreError::SaltTooBig { .. } => 207,
            StoreError::CasMismatch { .. } => 301,
            StoreError::SeqTooOld { .. } => 302,
            StoreError::QuotaExceeded | StoreError::IpQuotaExceeded => 202,
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
        crate::keypair::mutable_target(&self.k, &self.salt)
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
    /// Puts and announces refused with [`StoreError::IpQuotaExceeded`], since creation.
    pub refused_ip_quota: u64,
    /// Source IPs (IPv6: /64 prefixes) charged with at least one stored entry; the
    /// per-IP table holds exactly these.
    pub origins: usize,
}

/// What one source IP is charged with in a [`Store`], read with [`Store::usage_of`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OriginUsage {
    /// Items charged to it (bounded by [`StoreConfig::max_items_per_ip`]).
    pub items: usize,
    /// Peer announcements charged to it (bounded by
    /// [`StoreConfig::max_announces_per_ip`]).
    pub announces: usize,
}

/// What a node holds for others: BEP 44 items and BEP 5 peer announcements, with
/// expiry and quotas (see the module docs for the eviction rule, the shares and the locking).
///
/// All methods take `&self`; share it between threads behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    own_id: Id,
    config: StoreConfig,
    /// Created by the first write, so that a store never written to costs no heap.
    shards: OnceLock<Shards>,
    usage: Usage,
    counters: Counters,
}

/// Counters behind [`StoreStats`] besides [`Usage`]. `mutable_items`, `info_hashes`
/// and `peers` change only under the shard lock of the entry concerned. Atomics make
/// them readable without any lock.
#[derive(Debug, Default)]
struct Counters {
    mutable_items: AtomicUsize,
    info_hashes: AtomicUsize,
    peers: AtomicUsize,
    evictions: AtomicU64,
    refused_quota: AtomicU64,
    refused_ip_quota: AtomicU64,
    /// Entries of the per-IP tables, all shards together.
    origins: AtomicUsize,
}

impl Store {
    /// An empty store for the node `own_id` (items are evicted by distance from it).
    ///
    /// Allocates nothing: the shards ([`StoreConfig::effective_shards`] x 128 bytes)
    /// are allocated by the first put or announce.
    pub fn new(own_id: Id, config: StoreConfig) -> Store {
        Store {
            own_id,
            config,
            shards: OnceLock::new(),
            usage: Usage::default(),
            counters: Counters::default(),
        }
    }

    /// What each source is charged with: a source IP's share of the store. An IPv6
    /// address reads the count of its /64 prefix; a source charged with nothing reads
    /// zeros.
    ///
    /// Locking: read-locks the shard of the source's count.
    pub fn usage_of(&self, ip: IpAddr) -> OriginUsage {
        self.charged_to(origin_key(ip))
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
    /// pushes back its expiry if it is already stored, charging it to no source: for
    /// what the node stores on its own behalf, tests and benchmarks. Items that come
    /// from the network go through [`Store::put_immutable_from`].
    ///
    /// Fails with [`StoreError::TooBig`] past [`MAX_VALUE_LEN`] bytes,
    /// [`StoreError::HashMismatch`] unless `target == SHA-1(v)`, and
    /// [`StoreError::QuotaExceeded`] when the store is full of items at least as close
    /// to our id.
    ///
    /// Locking: write-locks the target's shard, and only it while the store has room.
    /// A put over quota then read-locks each shard in turn and write-locks the shard of
    /// each evicted item in turn, never two at once, and tries again (at most 8 times
    /// in all; only under contention can a put fail after it evicted items, all farther
    /// than its own).
    pub fn put_immutable(&self, target: Id, v: &[u8], now: Time) -> Result<(), StoreError> {
        self.put_immutable_as(None, target, v, now)
    }

    /// As [`Store::put_immutable`], for a put received from the source IP `from`: a
    /// new item is charged to `from` (see the module docs; a loopback `from` is not
    /// charged unless [`StoreConfig::limit_loopback`] is set), and refused with
    /// [`StoreError::IpQuotaExceeded`] when `from` holds
    /// [`StoreConfig::max_items_per_ip`] items already. A re-put of a stored item
    /// refreshes it whoever sends it, and moves no charge.
    ///
    /// Locking: as [`Store::put_immutable`], plus a write lock of the shard holding
    /// `from`'s count, before the target's shard is locked and, if the put does not
    /// create the item or an evicted item was charged, after it is released.
    pub fn put_immutable_from(
        &self,
        from: IpAddr,
        target: Id,
        v: &[u8],
        now: Time,
    ) -> Result<(), StoreError> {
        self.put_immutable_as(self.source_of(from), target, v, now)
    }

    /// The value of the immutable item `target`, unless absent or expired at `now`.
    ///
    /// Locking: read-locks the target's shard; the clone is a reference count increment.
    pub fn get_immutable(&self, target: &Id, now: Time) -> Option<Arc<[u8]>> {
        let key = Key {
            id: *target,
            kind: Kind::Immutable,
        };
        let shard = self.shard(target)?.read();
        match shard.map.get(&key) {
            Some(Entry::Immutable { v, expires, .. }) if *expires > now => Some(Arc::clone(v)),
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
    /// Charges the item to no source: items that come from the network go through
    /// [`Store::put_mutable_from`].
    ///
    /// Locking: as [`Store::put_immutable`]; the checks against the stored version and
    /// the write happen under one write lock of the target's shard.
    pub fn put_mutable(
        &self,
        target: Id,
        item: MutableItem,
        cas: Option<i64>,
        now: Time,
    ) -> Result<(), StoreError> {
        self.put_mutable_as(None, target, item, cas, now)
    }

    /// As [`Store::put_mutable`], for a put received from the source IP `from`: a new
    /// item is charged to `from` (see the module docs), and refused with
    /// [`StoreError::IpQuotaExceeded`] when `from` holds
    /// [`StoreConfig::max_items_per_ip`] items already. A new version of a stored item,
    /// or the same one again, is accepted from anyone (BEP 44 rules permitting) and
    /// stays charged to whoever created the item.
    ///
    /// Locking: as [`Store::put_immutable_from`].
    pub fn put_mutable_from(
        &self,
        from: IpAddr,
        target: Id,
        item: MutableItem,
        cas: Option<i64>,
        now: Time,
    ) -> Result<(), StoreError> {
        self.put_mutable_as(self.source_of(from), target, item, cas, now)
    }

    /// The mutable item stored under `target`, unless absent or expired at `now`.
    ///
    /// Locking: read-locks the target's shard; the clone is a reference count increment.
    pub fn get_mutable(&self, target: &Id, now: Time) -> Option<Arc<MutableItem>> {
        let key = Key {
            id: *target,
            kind: Kind::Mutable,
        };
        let shard = self.shard(target)?.read();
        match shard.map.get(&key) {
            Some(Entry::Mutable { item, expires, .. }) if *expires > now => Some(Arc::clone(item)),
            _ => None,
        }
    }

    /// Records that `peer` announced itself for `info_hash` at `now`.
    ///
    /// A repeated announcement refreshes the peer and makes it the most recent. When the
    /// info-hash already has [`StoreConfig::max_peers_per_info_hash`] peers, the oldest
    /// announcement is dropped. A new info-hash past [`StoreConfig::max_info_hashes`]
    /// fails with [`StoreError::QuotaExceeded`].
    ///
    /// The announcement is charged to the IP of `peer`, which BEP 5 makes the source IP
    /// of the `announce_peer` query (the answerer builds `peer` from it; loopback IPs
    /// as for [`Store::put_immutable_from`]): a new one past
    /// [`StoreConfig::max_announces_per_ip`] fails with [`StoreError::IpQuotaExceeded`],
    /// while a refresh of a stored one always succeeds.
    ///
    /// Locking: write-locks the shard of the peer IP's count, then (released) the
    /// info-hash's shard; then, if announcements were dropped or this one refreshed a
    /// stored one, the shards of the counts concerned, one at a time.
    pub fn announce_peer(
        &self,
        info_hash: Id,
        peer: SocketAddr,
        now: Time,
    ) -> Result<(), StoreError> {
        self.announce(info_hash, peer, false, now)
    }

    /// [`Store::announce_peer`] for a peer that says whether it is a seed (BEP 33
    /// `seed: 1`); a re-announce replaces the flag. Seeds and the other peers go to
    /// different filters in [`Store::scrape`].
    pub fn announce(
        &self,
        info_hash: Id,
        peer: SocketAddr,
        seed: bool,
        now: Time,
    ) -> Result<(), StoreError> {
        if self.config.max_peers_per_info_hash == 0 {
            self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::QuotaExceeded);
        }
        let charged = self.charge(self.source_of(peer.ip()), Charge::Announce);
        // Announcements dropped (expired, or the oldest past the cap): uncharged once
        // the info-hash's shard is released.
        let mut dropped = Vec::new();
        let outcome = self.insert_peer(info_hash, peer, seed, now, charged, &mut dropped);
        self.uncharge_all(&mut dropped);
        self.settle(charged, Charge::Announce, outcome)
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
            id: *info_hash,
            kind: Kind::Peers,
        };
        let Some(shard) = self.shard(info_hash) else {
            return 0;
        };
        let shard = shard.read();
        let Some(Entry::Peers(peers)) = shard.map.get(&key) else {
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

    /// The keys of the BEP 44 items held and unexpired at `now`, each with whether
    /// it is a mutable item's: what a one-hop node hands over to a new owner.
    ///
    /// Cost: visits every entry of every shard.
    ///
    /// Locking: read-locks one shard at a time, in ascending order.
    pub fn item_keys(&self, now: Time) -> Vec<(Id, bool)> {
        self.item_keys_in(now)
    }

    /// The BEP 33 scrape of `info_hash`: bloom filters of the IPs of its seeds and of
    /// its other peers, from the unexpired announcements; `None` if none is stored.
    ///
    /// Locking: read-locks the info-hash's shard.
    pub fn scrape(&self, info_hash: &Id, now: Time) -> Option<(BloomFilter, BloomFilter)> {
        self.peer_filters(info_hash, now)
    }

    /// A random sample of at most `max` stored info-hashes (BEP 51), appended to
    /// `out`; returns how many info-hashes are stored in all. Expired announcements
    /// may be sampled until the next [`Store::sweep`].
    ///
    /// Cost: visits every entry of every shard; the answerer rate-limits who may ask.
    ///
    /// Locking: read-locks one shard at a time, in ascending order.
    pub fn sample_info_hashes<R: rand::Rng + ?Sized>(
        &self,
        max: usize,
        rng: &mut R,
        out: &mut Vec<Id>,
    ) -> usize {
        self.sample_info_hashes_in(max, rng, out)
    }

    /// Removes everything expired at `now` and says what went. Once the store is below
    /// half of both item quotas, also drops the eviction index (see the store section
    /// of `docs/design.md`).
    ///
    /// Locking: write-locks one shard at a time, in ascending order (readers of the
    /// other shards go on); after each, the shards holding the counts of the sources
    /// of what it removed, one at a time; a second pass drops the index, one shard at a
    /// time.
    pub fn sweep(&self, now: Time) -> SweepStats {
        self.sweep_shards(now)
    }

    /// The store's counters. Lock-free.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        let (items, bytes) = self.usage.get();
        StoreStats {
            items,
            mutable_items: c.mutable_items.load(Ordering::Relaxed),
            info_hashes: c.info_hashes.load(Ordering::Relaxed),
            peers: c.peers.load(Ordering::Relaxed),
            bytes,
            evictions: c.evictions.load(Ordering::Relaxed),
            refused_quota: c.refused_quota.load(Ordering::Relaxed),
            refused_ip_quota: c.refused_ip_quota.load(Ordering::Relaxed),
            origins: c.origins.load(Ordering::Relaxed),
        }
    }
}
