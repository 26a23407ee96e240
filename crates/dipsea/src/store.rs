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
//! # Per-IP shares
//!
//! The total quotas alone let one source fill the store: the distance rule makes it
//! costly to push out what is stored, but an empty or young store takes anything. So
//! the store also bounds what one source IP holds: [`StoreConfig::max_items_per_ip`]
//! items and [`StoreConfig::max_announces_per_ip`] peer announcements (1/16 of the
//! default totals). A source is an IPv4 address, or the /64 prefix of an IPv6 one.
//! Loopback sources are exempt unless [`StoreConfig::limit_loopback`] is set, as they
//! are from the node's rate limits: test networks put every node on 127.0.0.1.
//!
//! - **Who is charged.** An item is charged to the source of the put that created its
//!   entry ([`Store::put_immutable_from`], [`Store::put_mutable_from`]; the query
//!   answerer passes the datagram's source IP, which the write token has tied to an
//!   address that receives our replies). It stays charged to that source until the
//!   entry is removed (evicted or swept), whoever puts it again: a re-put of the same
//!   item, or a new version of a mutable item, refreshes or replaces it, moves no charge
//!   and is accepted even from a source at its cap. So a popular item re-published by
//!   many peers counts once, for its first publisher. An announcement is charged to the
//!   IP of the announced address, which BEP 5 makes the announcer's source IP.
//! - **What is refused.** A put that would create an item, or an announce that would
//!   create an announcement, for a source already at its cap fails with
//!   [`StoreError::IpQuotaExceeded`] (KRPC 202, like a full store), before anything is
//!   evicted: a source at its cap cannot push out what others stored.
//! - **Uncharged puts.** [`Store::put_immutable`] and [`Store::put_mutable`] charge no
//!   source (the node's own items, tests, benchmarks); such items count against the
//!   total quotas only.
//! - **Exact counts, bounded table.** Every removal uncharges its source: eviction,
//!   expiry ([`Store::sweep`]), an announcement dropped for being the oldest of its
//!   info-hash or expired, and the previous announcement of the same address. A
//!   source's entry in the per-IP table is dropped when it is charged with nothing, so
//!   the table never holds more sources than there are stored entries.
//!   [`Store::usage_of`] reads one source's counts, [`StoreStats::origins`] the table's
//!   size.
//!
//! # Locking
//!
//! Entries live in a fixed number of shards ([`StoreConfig::shards`]), each one
//! `parking_lot::RwLock` over a hash table, that shard's part of the eviction index
//! (an ordered map from distance to stored item, which finds the farthest items without
//! scanning) and its part of the per-IP table. The shard of an entry is chosen from its
//! target, so the index entry of an item lives under the same lock as the item; the
//! shard of a source's counts is chosen by a keyed hash of the source, and is usually
//! not the shard of the entries charged to it. The item counters are atomics. There is
//! no store-wide lock, and **no method ever holds two locks at once**: when it visits
//! several shards ([`Store::sweep`], and a put that must evict) it takes them one at a
//! time, releasing each before taking the next.
//!
//! - Gets read-lock the shard of their key.
//! - A charged put or an announce first write-locks the shard of its source's counts to
//!   reserve its charge (one more item or announcement, within the cap), releases it,
//!   then goes on as below. If it ends up creating nothing (a re-put, a refresh, a
//!   refusal), it locks the counts' shard again, after releasing the entry's, to take
//!   the reservation back. Entries removed under a shard lock (evicted, expired,
//!   dropped announcements) are uncharged after that lock is released, one counts'
//!   shard at a time. So a source's count may briefly exceed what it holds, never the
//!   reverse, and never its cap; the counts are exact once writers are done.
//! - An announce write-locks the shard of its info-hash.
//! - A put that fits the quotas write-locks the shard of its target and nothing else
//!   (besides its source's counts, above): it reserves its item and bytes with one
//!   compare-and-swap on the packed item and byte counter, then inserts (a re-put only
//!   pushes the expiry back).
//! - A put over quota releases its shard, then read-locks every shard in turn, in
//!   ascending order, to find the items farthest from our id, write-locks the shard of
//!   each victim in turn to remove it (then the shard of its source's counts), and
//!   retries.
//!
//! The eviction index costs nothing while the store has room: it is built, shard by
//! shard under each shard's write lock, by the first put that has to make room, and from
//! then on every put into a shard keeps that shard's index. [`Store::sweep`] drops the
//! indexes again when the store is below half of both quotas.
//!
//! The quotas hold under any concurrency: items and bytes are reserved before they are
//! stored, so the stored items and bytes never exceed [`StoreConfig::max_items`] and
//! [`StoreConfig::max_value_bytes`], not even for an instant, and the counters are exact
//! once writers are done. The eviction rule is exact when puts do not overlap. When they
//! do, two things can happen, both only near the quota:
//!
//! - The search for victims reads the shards one after the other, so it does not see an
//!   item inserted into a shard it has already read. The victims are then the farthest
//!   items except for items being inserted by concurrent puts at that moment; every
//!   victim is still strictly farther from our id than the item that evicts it.
//! - Room made by an eviction can be taken by a concurrent put before the evicting put
//!   retries. A put tries at most 8 times, making room before each retry, then fails
//!   with [`StoreError::QuotaExceeded`]; so, under contention only, a put can fail after
//!   it evicted items (all strictly farther than its own).
//!
//! # Signatures
//!
//! The store does **not** check ed25519 signatures of mutable items: it keeps `k`,
//! `seq`, `sig` and `v` exactly as given. The caller must verify the signature before
//! [`Store::put_mutable`] (BEP 44 error 206 when it is wrong).

use std::collections::btree_map::Entry as BTreeEntry;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{RwLock, RwLockWriteGuard};

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

/// Which table a map key belongs to: items and info-hashes share the map (one set of
/// shards keeps an empty store small) but not their key spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
enum Kind {
    Immutable,
    Mutable,
    Peers,
}

/// Key of the shard tables.
///
/// Keep the id first in memory (`repr(C)`): with the kind byte in front, lookups in a
/// 100,000-item map measured about 60% slower, which made `get_immutable` slower than a
/// plain mutex-guarded map. `Hash` is written out to feed [`KeyHasher`] three words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Key {
    id: Id,
    kind: Kind,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let b = self.id.as_bytes();
        state.write_u64(le_u64(&b[..8]));
        state.write_u64(le_u64(&b[8..16]));
        state.write_u64(le_u64(&b[16..]) | (self.kind as u64) << 32);
    }
}

/// Up to 8 bytes as a little-endian integer.
fn le_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word)
}

/// The hash of the shard tables: a keyed multiply-and-fold over the whole key, seeded
/// per store (foldhash and aHash mix the same way).
///
/// SipHash, the std default, over the 21-byte key cost about a fifth of a get. Item
/// targets are SHA-1 outputs, uniform already, but info-hashes are chosen freely by
/// whoever announces them; so every byte of the id is hashed, under a random seed, and
/// a flood of announces cannot pile up on one bucket by sharing a prefix.
#[derive(Clone, Copy, Debug)]
struct KeyState {
    seed: u64,
    multiplier: u64,
}

impl KeyState {
    fn random() -> KeyState {
        KeyState {
            seed: rand::random(),
            // Odd, with both halves dense in bits.
            multiplier: rand::random::<u64>() | 0x8000_0001_0000_0001,
        }
    }
}

impl BuildHasher for KeyState {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            state: self.seed,
            multiplier: self.multiplier,
        }
    }
}

/// See [`KeyState`].
struct KeyHasher {
    state: u64,
    multiplier: u64,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` is hashed, through `write_u64`; this keeps the hasher general.
        for chunk in bytes.chunks(8) {
            self.write_u64(le_u64(chunk));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.state = fold_multiply(self.state ^ word, self.multiplier);
    }

    fn finish(&self) -> u64 {
        // One more round: a difference in the high bits of the last word reaches the
        // low bits, which pick the bucket, only through it.
        fold_multiply(self.state, self.multiplier)
    }
}

/// The 128-bit product of `a` and `b`, its halves xor-ed.
fn fold_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Key of the eviction index: distance of the target from our id, then the kind (an
/// immutable and a mutable item may, in theory, share a target).
type IndexKey = (Distance, Kind);

/// Value of the shard tables. `origin` is the source charged with an item (see
/// [`origin_key`]), `None` for items stored through the uncharged entry points.
#[derive(Debug)]
enum Entry {
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
    fn item_expiry(&self) -> Option<Time> {
        match self {
            Entry::Immutable { expires, .. } | Entry::Mutable { expires, .. } => Some(*expires),
            Entry::Peers(_) => None,
        }
    }

    /// Value length of an item entry; `None` for peers.
    fn item_len(&self) -> Option<usize> {
        match self {
            Entry::Immutable { v, .. } => Some(v.len()),
            Entry::Mutable { item, .. } => Some(item.v.len()),
            Entry::Peers(_) => None,
        }
    }

    /// The source charged with an item entry; `None` for peers and uncharged items.
    fn origin(&self) -> Option<IpAddr> {
        match self {
            Entry::Immutable { origin, .. } | Entry::Mutable { origin, .. } => *origin,
            Entry::Peers(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct PeerEntry {
    addr: SocketAddr,
    expires: Time,
}

/// One shard: its part of the entries and of the eviction index, and its part of the
/// per-IP table, under one lock.
#[derive(Debug)]
struct Shard {
    map: HashMap<Key, Entry, KeyState>,
    /// While `indexed`: every item of `map` by distance of its target from our id, with
    /// its value length. Empty otherwise.
    index: BTreeMap<IndexKey, u32>,
    indexed: bool,
    /// What each source whose [`origin_key`] falls in this shard ([`Store::ip_shard`])
    /// is charged with, wherever its entries are stored. Only sources charged with
    /// something have an entry. A B-tree: no allocation while empty, and no hash a
    /// flood of sources could aim at.
    origins: BTreeMap<IpAddr, OriginCount>,
}

/// What one source is charged with; see [`OriginUsage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OriginCount {
    items: u32,
    announces: u32,
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
enum Charge {
    Item,
    Announce,
}

/// The source a put or announce from `ip` is charged to: the IPv4 address (also when
/// written IPv4-mapped), or the /64 prefix of an IPv6 address, since one IPv6 host or
/// subscriber routinely holds a whole /64 and could otherwise pick a fresh address for
/// every put.
fn origin_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

impl Shard {
    /// Builds the index from the items in the table, if it is not kept already.
    fn build_index(&mut self, own_id: &Id) {
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
    fn drop_index(&mut self) {
        self.index = BTreeMap::new();
        self.indexed = false;
    }
}

/// A shard on its own cache lines (two, as dashmap and crossbeam pad), so that threads
/// locking neighbouring shards do not contend on one line.
#[derive(Debug)]
#[repr(align(128))]
struct PaddedShard(RwLock<Shard>);

/// The shards of a store, created by its first write.
#[derive(Debug)]
struct Shards {
    list: Box<[PaddedShard]>,
    /// Shard count minus one (the count is a power of two).
    mask: usize,
    /// The keyed hash of the tables, also used to pick the shard of a source's count.
    hasher: KeyState,
}

/// Items and value bytes stored (or reserved by a put about to store), packed in one
/// atomic so that a put reserves both with one compare-and-swap: items in the high 32
/// bits, bytes in the low 32.
#[derive(Debug, Default)]
struct Usage(AtomicU64);

impl Usage {
    fn pack(items: usize, bytes: usize) -> u64 {
        ((items as u64) << 32) | bytes as u64
    }

    /// (items, bytes).
    fn get(&self) -> (usize, usize) {
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
    fn release(&self, items: usize, bytes: usize) {
        self.0
            .fetch_sub(Usage::pack(items, bytes), Ordering::Relaxed);
    }
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

/// How many times a put tries to reserve room (making room between tries) before it
/// gives up; without concurrent puts the second try always succeeds.
const PUT_ATTEMPTS: usize = 8;

/// What a node holds for others: BEP 44 items and BEP 5 peer announcements, with
/// expiry and quotas (see the module docs for the eviction rule and the lock order).
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

/// Whom a new entry is charged to, as settled by [`Store::charge`] before the entry's
/// shard is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NewCharge {
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
    fn origin(self) -> Option<IpAddr> {
        match self {
            NewCharge::Reserved(origin) => Some(origin),
            NewCharge::Nobody | NewCharge::OverCap(_) => None,
        }
    }

    fn over_cap(self) -> bool {
        matches!(self, NewCharge::OverCap(_))
    }
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

    /// The shards, created on first use.
    fn shards(&self) -> &Shards {
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
    fn shard_of<'a>(shards: &'a Shards, id: &Id) -> &'a RwLock<Shard> {
        let b = id.as_bytes();
        let i = u16::from_le_bytes([b[18], b[19]]) as usize & shards.mask;
        &shards.list[i].0
    }

    /// The shard of `id`, if anything was ever written.
    fn shard(&self, id: &Id) -> Option<&RwLock<Shard>> {
        self.shards.get().map(|s| Store::shard_of(s, id))
    }

    /// Index of the shard holding the count of `origin` (an [`origin_key`]): a keyed
    /// hash, so sources cannot be picked to share one lock.
    fn ip_index(shards: &Shards, origin: &IpAddr) -> usize {
        shards.hasher.hash_one(origin) as usize & shards.mask
    }

    /// The source a put or announce from `ip` is charged to ([`origin_key`]), or
    /// `None` for a loopback address unless [`StoreConfig::limit_loopback`] is set.
    fn source_of(&self, ip: IpAddr) -> Option<IpAddr> {
        let ip = ip.to_canonical();
        (self.config.limit_loopback || !ip.is_loopback()).then(|| origin_key(ip))
    }

    /// The cap of `what` per source, as a count.
    fn cap(&self, what: Charge) -> u32 {
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
    fn charge(&self, origin: Option<IpAddr>, what: Charge) -> NewCharge {
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
    fn uncharge(&self, origin: IpAddr, what: Charge) {
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
    fn uncharge_all(&self, removed: &mut Vec<(IpAddr, Charge)>) {
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
    fn settle(
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

    /// What each source is charged with: a source IP's share of the store. An IPv6
    /// address reads the count of its /64 prefix; a source charged with nothing reads
    /// zeros.
    ///
    /// Locking: read-locks the shard of the source's count.
    pub fn usage_of(&self, ip: IpAddr) -> OriginUsage {
        let origin = origin_key(ip);
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

    /// The id items are kept close to.
    pub fn own_id(&self) -> Id {
        self.own_id
    }

    /// The configuration this store was built with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Tries to count `items` more items and `bytes` bytes in place of `freed`, within
    /// the quotas.
    fn try_reserve(&self, items: usize, bytes: usize, freed: usize) -> bool {
        self.usage.try_reserve(
            items,
            bytes,
            freed,
            self.config.max_items.min(u32::MAX as usize),
            self.config.max_value_bytes.min(u32::MAX as usize),
        )
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
    /// each evicted item in turn, never two at once (see the module docs).
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

    fn put_immutable_as(
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
        let key = Key {
            id: target,
            kind: Kind::Immutable,
        };
        let ikey = (self.own_id.distance(&target), Kind::Immutable);
        let shard = Store::shard_of(self.shards(), &target);
        for attempt in 1..=PUT_ATTEMPTS {
            {
                let mut guard = shard.write();
                let Shard {
                    map,
                    index,
                    indexed,
                    ..
                } = &mut *guard;
                match map.entry(key) {
                    MapEntry::Occupied(mut stored) => {
                        // A re-put, or another thread stored it first: no counter moves.
                        if let Entry::Immutable { expires: e, .. } = stored.get_mut() {
                            *e = (*e).max(expires);
                        }
                        return Ok(false);
                    }
                    MapEntry::Vacant(_) if charged.over_cap() => {
                        return Err(self.refuse_ip(&target));
                    }
                    MapEntry::Vacant(vacant) => {
                        if self.try_reserve(1, v.len(), 0) {
                            vacant.insert(Entry::Immutable {
                                v: Arc::from(v),
                                expires,
                                origin: charged.origin(),
                            });
                            if *indexed {
                                index.insert(ikey, len_u32(v.len()));
                            }
                            return Ok(true);
                        }
                    }
                }
            }
            if attempt < PUT_ATTEMPTS {
                self.make_room(ikey, 1, v.len(), 0)?;
            }
        }
        Err(self.refuse(&ikey))
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

    fn put_mutable_as(
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
        let key = Key {
            id: target,
            kind: Kind::Mutable,
        };
        let ikey = (self.own_id.distance(&target), Kind::Mutable);
        let shard = Store::shard_of(self.shards(), &target);
        for attempt in 1..=PUT_ATTEMPTS {
            // What is missing: (items to add, bytes freed by the replaced version).
            let (add_items, freed) = {
                let mut guard = shard.write();
                let Shard {
                    map,
                    index,
                    indexed,
                    ..
                } = &mut *guard;
                match map.entry(key) {
                    MapEntry::Vacant(_) if charged.over_cap() => {
                        return Err(self.refuse_ip(&target));
                    }
                    MapEntry::Vacant(vacant) => {
                        if self.try_reserve(1, len, 0) {
                            vacant.insert(Entry::Mutable {
                                item: Arc::new(item),
                                expires,
                                origin: charged.origin(),
                            });
                            self.counters.mutable_items.fetch_add(1, Ordering::Relaxed);
                            if *indexed {
                                index.insert(ikey, len_u32(len));
                            }
                            return Ok(true);
                        }
                        (1, 0)
                    }
                    MapEntry::Occupied(mut occupied) => {
                        // The entry keeps its charge, even when it had expired.
                        let Entry::Mutable {
                            item: stored,
                            expires: stored_expires,
                            ..
                        } = occupied.get_mut()
                        else {
                            // Mutable keys hold mutable entries only.
                            return Ok(false);
                        };
                        let action = if *stored_expires > now {
                            check_mutable(stored, &item, cas)?
                        } else {
                            // Expired: as if nothing were stored.
                            MutableAction::Replace
                        };
                        let old_len = stored.v.len();
                        match action {
                            MutableAction::Refresh => {
                                *stored_expires = (*stored_expires).max(expires);
                                return Ok(false);
                            }
                            MutableAction::Replace if self.try_reserve(0, len, old_len) => {
                                *stored = Arc::new(item);
                                *stored_expires = expires;
                                if *indexed {
                                    index.insert(ikey, len_u32(len));
                                }
                                return Ok(false);
                            }
                            MutableAction::Replace => (0, old_len),
                        }
                    }
                }
            };
            if attempt < PUT_ATTEMPTS {
                self.make_room(ikey, add_items, len, freed)?;
            }
        }
        Err(self.refuse(&ikey))
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

    /// Counts a put or announce refused for its source's cap and says so.
    fn refuse_ip(&self, target: &Id) -> StoreError {
        self.counters
            .refused_ip_quota
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%target, "source over its store quota, refused");
        StoreError::IpQuotaExceeded
    }

    /// Counts a refused put and says so.
    fn refuse(&self, ikey: &IndexKey) -> StoreError {
        self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(item = %self.target_at(&ikey.0), "store full, item refused");
        StoreError::QuotaExceeded
    }

    /// Makes room for `add_items` more items and a value of `add_bytes` replacing
    /// `freed` bytes, stored at `ikey`, by evicting items strictly farther from our id
    /// than `ikey`, farthest first. Evicts nothing and fails if that cannot make enough
    /// room. Does not reserve the room: the caller tries its put again.
    ///
    /// Locking: read-locks each shard in ascending order, one at a time (write-locks it
    /// instead if its index must be built first); then write-locks the shard of each
    /// victim in turn. Called with no lock held.
    fn make_room(
        &self,
        ikey: IndexKey,
        add_items: usize,
        add_bytes: usize,
        freed: usize,
    ) -> Result<(), StoreError> {
        let (items, bytes) = self.usage.get();
        let max_items = self.config.max_items.min(u32::MAX as usize);
        let max_bytes = self.config.max_value_bytes.min(u32::MAX as usize);
        let mut excess_items = (items + add_items).saturating_sub(max_items);
        let mut excess_bytes = (bytes.saturating_sub(freed) + add_bytes).saturating_sub(max_bytes);
        if excess_items == 0 && excess_bytes == 0 {
            // Room came back since the caller looked.
            return Ok(());
        }
        // Each shard's farthest items, enough to cover the excess on their own: the
        // globally farthest ones are among them.
        let mut candidates: Vec<(IndexKey, u32)> = Vec::new();
        for padded in self.shards().list.iter() {
            let mut guard = padded.0.read();
            if !guard.indexed {
                drop(guard);
                let mut write = padded.0.write();
                write.build_index(&self.own_id);
                guard = RwLockWriteGuard::downgrade(write);
            }
            let (mut found_items, mut found_bytes) = (0, 0);
            for (&key, &len) in guard.index.iter().rev() {
                if key == ikey {
                    // The item being replaced: its bytes are already counted as freed.
                    continue;
                }
                if key.0 <= ikey.0 {
                    // Everything left is at least as close as the new item.
                    break;
                }
                candidates.push((key, len));
                found_items += 1;
                found_bytes += len as usize;
                if found_items >= excess_items && found_bytes >= excess_bytes {
                    break;
                }
            }
        }
        candidates.sort_unstable_by_key(|&(key, _)| std::cmp::Reverse(key));
        let mut victims = 0;
        for &(_, len) in &candidates {
            if excess_items == 0 && excess_bytes == 0 {
                break;
            }
            victims += 1;
            excess_items = excess_items.saturating_sub(1);
            excess_bytes = excess_bytes.saturating_sub(len as usize);
        }
        if excess_items > 0 || excess_bytes > 0 {
            return Err(self.refuse(&ikey));
        }
        for &(victim, _) in &candidates[..victims] {
            let id = self.target_at(&victim.0);
            if let Some(shard) = self.shard(&id) {
                let key = Key { id, kind: victim.1 };
                // Another put or the sweep may have removed it since: then it frees
                // nothing, and the caller's next try finds out.
                let removed = self.remove_item(&mut shard.write(), &key, &victim);
                if let Some(origin) = removed {
                    self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                    // The victim's shard is released: its source's count may live in
                    // another one.
                    if let Some(origin) = origin {
                        self.uncharge(origin, Charge::Item);
                    }
                }
            }
        }
        Ok(())
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
        let cap = self.config.max_peers_per_info_hash;
        if cap == 0 {
            self.counters.refused_quota.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::QuotaExceeded);
        }
        let charged = self.charge(self.source_of(peer.ip()), Charge::Announce);
        // Announcements dropped (expired, or the oldest past the cap): uncharged once
        // the info-hash's shard is released.
        let mut dropped = Vec::new();
        let outcome = self.insert_peer(info_hash, peer, now, charged, &mut dropped);
        self.uncharge_all(&mut dropped);
        self.settle(charged, Charge::Announce, outcome)
    }

    /// Stores an announcement, charging a new one as `charged` says, and collects the
    /// sources of the announcements it drops. `Ok(true)` when it created an
    /// announcement, `Ok(false)` when it refreshed one (which keeps its charge).
    fn insert_peer(
        &self,
        info_hash: Id,
        peer: SocketAddr,
        now: Time,
        charged: NewCharge,
        dropped: &mut Vec<(IpAddr, Charge)>,
    ) -> Result<bool, StoreError> {
        let cap = self.config.max_peers_per_info_hash;
        let new = PeerEntry {
            addr: peer,
            expires: now + self.config.peer_ttl,
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
                let before = peers.len();
                // Drop this peer's old announcement (its charge goes to the new one)
                // and any expired ones while the shard is locked anyway.
                peers.retain(|p| {
                    if p.addr == peer {
                        return false;
                    }
                    let live = p.expires > now;
                    if !live {
                        dropped.extend(self.source_of(p.addr.ip()).map(|o| (o, Charge::Announce)));
                    }
                    live
                });
                if peers.len() >= cap {
                    let excess = peers.len() + 1 - cap;
                    dropped.extend(
                        peers
                            .drain(..excess)
                            .filter_map(|p| self.source_of(p.addr.ip()))
                            .map(|o| (o, Charge::Announce)),
                    );
                }
                peers.push(new);
                adjust(&self.counters.peers, before, peers.len());
                Ok(!refresh)
            }
            MapEntry::Vacant(_) if charged.over_cap() => Err(self.refuse_ip(&info_hash)),
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
                Ok(true)
            }
        }
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

    /// Removes everything expired at `now` and says what went. Once the store is below
    /// half of both item quotas, also drops the eviction index (see the module docs).
    ///
    /// Locking: write-locks one shard at a time, in ascending order (readers of the
    /// other shards go on); after each, the shards holding the counts of the sources
    /// of what it removed, one at a time; a second pass drops the index, one shard at a
    /// time.
    pub fn sweep(&self, now: Time) -> SweepStats {
        let mut stats = SweepStats::default();
        let Some(shards) = self.shards.get() else {
            return stats;
        };
        let mut any_indexed = false;
        // Sources of the entries removed from one shard, uncharged once it is released.
        let mut removed = Vec::new();
        for padded in shards.list.iter() {
            let mut guard = padded.0.write();
            let Shard {
                map,
                index,
                indexed,
                ..
            } = &mut *guard;
            let info_hashes_before = stats.info_hashes;
            let (mut items, mut bytes) = (0, 0);
            map.retain(|key, entry| match entry {
                Entry::Peers(peers) => {
                    let before = peers.len();
                    peers.retain(|p| {
                        let live = p.expires > now;
                        if !live {
                            removed
                                .extend(self.source_of(p.addr.ip()).map(|o| (o, Charge::Announce)));
                        }
                        live
                    });
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
                Entry::Immutable { v, expires, origin } if *expires <= now => {
                    items += 1;
                    bytes += v.len();
                    removed.extend(origin.map(|o| (o, Charge::Item)));
                    if *indexed {
                        index.remove(&(self.own_id.distance(&key.id), key.kind));
                    }
                    false
                }
                Entry::Mutable {
                    item,
                    expires,
                    origin,
                } if *expires <= now => {
                    items += 1;
                    bytes += item.v.len();
                    removed.extend(origin.map(|o| (o, Charge::Item)));
                    stats.mutable_items += 1;
                    self.counters.mutable_items.fetch_sub(1, Ordering::Relaxed);
                    if *indexed {
                        index.remove(&(self.own_id.distance(&key.id), key.kind));
                    }
                    false
                }
                Entry::Immutable { .. } | Entry::Mutable { .. } => true,
            });
            self.usage.release(items, bytes);
            stats.items += items;
            stats.bytes += bytes;
            any_indexed |= *indexed;
            // Tables do not shrink by themselves; give memory back once mostly empty,
            // which matters when a million mostly idle stores share one process
            // (simulator).
            let shrink = items > 0 || stats.info_hashes > info_hashes_before;
            if shrink && guard.map.len() * 4 < guard.map.capacity() {
                guard.map.shrink_to_fit();
            }
            drop(guard);
            self.uncharge_all(&mut removed);
        }
        if any_indexed && self.below_half() {
            for padded in shards.list.iter() {
                padded.0.write().drop_index();
            }
        }
        if stats != SweepStats::default() {
            tracing::trace!(?stats, "store swept");
        }
        stats
    }

    /// Whether the items stored are below half of both item quotas.
    fn below_half(&self) -> bool {
        let (items, bytes) = self.usage.get();
        items * 2 < self.config.max_items.min(u32::MAX as usize)
            && bytes * 2 < self.config.max_value_bytes.min(u32::MAX as usize)
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
