use super::eviction::{len_u32, IndexKey};
use super::hasher::KeyState;
use super::quota::OriginCount;
use super::*;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MIN: Duration = Duration::from_secs(60);

/// `payload` bencoded as a byte string.
fn bstr(payload: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", payload.len()).into_bytes();
    v.extend_from_slice(payload);
    v
}

/// A bencoded value of exactly `len` bytes (len >= 2), distinct per `tag` where there
/// is room for it.
fn value(len: usize, tag: u64) -> Vec<u8> {
    // A byte string "<n>:<payload>" if some n gives exactly `len` bytes; otherwise a
    // list holding one two bytes shorter ("l...e"), which always exists.
    let fits = (0..len).find(|n| n + n.to_string().len() + 1 == len);
    let Some(n) = fits else {
        let mut v = b"l".to_vec();
        v.extend(value(len - 2, tag));
        v.push(b'e');
        return v;
    };
    let mut payload = vec![b'x'; n];
    for (p, b) in payload.iter_mut().zip(tag.to_be_bytes()) {
        *p = b;
    }
    let v = bstr(&payload);
    assert_eq!(v.len(), len, "value({len})");
    v
}

fn small_config() -> StoreConfig {
    StoreConfig {
        shards: 2,
        ..StoreConfig::default()
    }
}

fn mutable(k: u8, salt: &[u8], seq: i64, v: &[u8]) -> MutableItem {
    MutableItem {
        k: [k; 32],
        salt: salt.into(),
        seq,
        sig: [k; 64],
        v: Arc::from(v),
    }
}

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port)
}

/// Recounts everything from the shards and checks each shard's index (exactly its
/// items while it is kept, empty otherwise); the counters of `stats()` must equal this
/// once writers are done.
///
/// Also recounts what each source is charged with from the entries, and checks that
/// the per-IP tables hold exactly that, each source in its shard, within the caps.
fn audit(store: &Store) -> StoreStats {
    let mut out = StoreStats {
        evictions: store.counters.evictions.load(Ordering::Relaxed),
        refused_quota: store.counters.refused_quota.load(Ordering::Relaxed),
        refused_ip_quota: store.counters.refused_ip_quota.load(Ordering::Relaxed),
        ..StoreStats::default()
    };
    let Some(shards) = store.shards.get() else {
        return out;
    };
    let mut charged: HashMap<IpAddr, OriginCount> = HashMap::new();
    let mut tables: HashMap<IpAddr, OriginCount> = HashMap::new();
    for (i, padded) in shards.list.iter().enumerate() {
        let shard = padded.0.read();
        for (origin, count) in &shard.origins {
            assert_eq!(Store::ip_index(shards, origin), i, "{origin} in shard {i}");
            assert_ne!(
                *count,
                OriginCount::default(),
                "{origin} charged with nothing"
            );
            assert_eq!(origin_key(*origin), *origin, "{origin} is a source key");
            tables.insert(*origin, *count);
        }
        for (key, entry) in &shard.map {
            match entry {
                Entry::Peers(peers) => {
                    for p in peers {
                        if let Some(source) = store.source_of(p.addr.ip()) {
                            charged.entry(source).or_default().announces += 1;
                        }
                    }
                }
                item => {
                    if let Some(origin) = item.origin() {
                        charged.entry(origin).or_default().items += 1;
                    }
                    let _ = key;
                }
            }
        }
    }
    assert_eq!(charged, tables, "per-IP tables match the entries");
    for (origin, count) in &tables {
        assert!(
            count.items <= store.cap(Charge::Item)
                && count.announces <= store.cap(Charge::Announce),
            "{origin} over its caps: {count:?}"
        );
        assert_eq!(store.usage_of(*origin).items, count.items as usize);
        assert_eq!(store.usage_of(*origin).announces, count.announces as usize);
    }
    out.origins = tables.len();
    for (i, padded) in shards.list.iter().enumerate() {
        let shard = padded.0.read();
        let mut indexed = 0;
        for (key, entry) in &shard.map {
            assert!(
                std::ptr::eq(Store::shard_of(shards, &key.id), &padded.0),
                "{key:?} in shard {i}"
            );
            let ikey = (store.own_id.distance(&key.id), key.kind);
            let len = match entry {
                Entry::Immutable { v, .. } => {
                    assert_eq!(key.kind, Kind::Immutable);
                    v.len()
                }
                Entry::Mutable { item, .. } => {
                    assert_eq!(key.kind, Kind::Mutable);
                    out.mutable_items += 1;
                    item.v.len()
                }
                Entry::Peers(peers) => {
                    assert_eq!(key.kind, Kind::Peers);
                    assert!(!peers.is_empty(), "empty peer lists are removed");
                    assert!(peers.len() <= store.config.max_peers_per_info_hash);
                    let distinct: HashSet<_> = peers.iter().map(|p| p.addr).collect();
                    assert_eq!(distinct.len(), peers.len(), "no duplicate peer");
                    out.info_hashes += 1;
                    out.peers += peers.len();
                    continue;
                }
            };
            out.items += 1;
            out.bytes += len;
            if shard.indexed {
                assert_eq!(shard.index.get(&ikey).copied(), Some(len_u32(len)));
                indexed += 1;
            }
        }
        assert_eq!(
            shard.index.len(),
            indexed,
            "shard {i}: index and table agree"
        );
    }
    out
}

/// Whether every shard keeps its eviction index (none exists before the first write).
fn indexed(store: &Store) -> Option<bool> {
    let shards = store.shards.get()?;
    let kept: Vec<bool> = shards.list.iter().map(|p| p.0.read().indexed).collect();
    assert!(kept.iter().all(|&k| k == kept[0]), "all or none: {kept:?}");
    Some(kept[0])
}

fn assert_consistent(store: &Store) {
    let stats = store.stats();
    assert_eq!(stats, audit(store));
    let c = &store.config;
    assert!(stats.items <= c.max_items, "{stats:?}");
    assert!(stats.bytes <= c.max_value_bytes, "{stats:?}");
    assert!(stats.info_hashes <= c.max_info_hashes, "{stats:?}");
}

// ---------------------------------------------------------------- immutable items

#[test]
fn immutable_round_trip_bep44_example() {
    let store = Store::new(Id::random(), small_config());
    let v = b"11:hello world";
    let target: Id = "6d33adc2b6b2c14c3036feefb7fedbca1a880527"
        .parse()
        .expect("hex");
    store.put_immutable(target, v, Time::ZERO).expect("put");
    assert_eq!(
        store.get_immutable(&target, Time::ZERO).as_deref(),
        Some(&v[..])
    );
    assert_eq!(store.get_mutable(&target, Time::ZERO), None, "other kind");
    let stats = store.stats();
    assert_eq!(
        (stats.items, stats.mutable_items, stats.bytes),
        (1, 0, v.len())
    );
    assert_consistent(&store);
}

#[test]
fn immutable_hash_mismatch_is_refused() {
    let store = Store::new(Id::random(), small_config());
    let err = store.put_immutable(Id::sha1(b"3:abc"), b"3:abd", Time::ZERO);
    assert_eq!(err, Err(StoreError::HashMismatch));
    assert_eq!(StoreError::HashMismatch.krpc_code(), 203);
    assert_eq!(store.stats(), StoreStats::default());
}

#[test]
fn immutable_size_limit_is_1000_bytes() {
    let store = Store::new(Id::random(), small_config());
    let ok = value(MAX_VALUE_LEN, 1);
    store
        .put_immutable(Id::sha1(&ok), &ok, Time::ZERO)
        .expect("1000 bytes fit");
    let big = value(MAX_VALUE_LEN + 1, 1);
    let err = store
        .put_immutable(Id::sha1(&big), &big, Time::ZERO)
        .expect_err("1001 bytes");
    assert_eq!(err, StoreError::TooBig { len: 1001 });
    assert_eq!(err.krpc_code(), 205);
    assert_eq!(
        err.to_string(),
        "value of 1001 bytes exceeds the 1000-byte limit"
    );
    assert_eq!(store.stats().items, 1);
}

#[test]
fn immutable_expires_before_sweep_and_sweep_removes_it() {
    let store = Store::new(Id::random(), small_config());
    let v = value(100, 1);
    let target = Id::sha1(&v);
    let t0 = Time::from_millis(5_000);
    store.put_immutable(target, &v, t0).expect("put");
    let end = t0 + DEFAULT_ITEM_TTL;
    assert!(store
        .get_immutable(&target, end.saturating_sub(Duration::from_millis(1)))
        .is_some());
    assert!(
        store.get_immutable(&target, end).is_none(),
        "expired at ttl"
    );
    assert_eq!(store.stats().items, 1, "still held until swept");

    let early = store.sweep(end.saturating_sub(Duration::from_millis(1)));
    assert_eq!(early, SweepStats::default());
    let swept = store.sweep(end);
    assert_eq!(
        swept,
        SweepStats {
            items: 1,
            bytes: 100,
            ..SweepStats::default()
        }
    );
    assert_eq!(store.stats(), StoreStats::default());
    assert_consistent(&store);
}

#[test]
fn immutable_reput_refreshes_expiry() {
    let store = Store::new(Id::random(), small_config());
    let v = value(50, 2);
    let target = Id::sha1(&v);
    store.put_immutable(target, &v, Time::ZERO).expect("put");
    let later = Time::ZERO + 60 * MIN;
    store.put_immutable(target, &v, later).expect("re-put");
    assert_eq!(store.stats().items, 1, "a re-put is not a second item");
    assert_eq!(store.stats().bytes, 50);
    let old_end = Time::ZERO + DEFAULT_ITEM_TTL;
    assert!(store.get_immutable(&target, old_end).is_some());
    assert_eq!(store.sweep(old_end).items, 0);
    assert!(store
        .get_immutable(&target, later + DEFAULT_ITEM_TTL)
        .is_none());
    assert_eq!(store.sweep(later + DEFAULT_ITEM_TTL).items, 1);
    assert_consistent(&store);
}

#[test]
fn reput_of_expired_item_revives_it() {
    let store = Store::new(Id::random(), small_config());
    let v = value(20, 3);
    let target = Id::sha1(&v);
    store.put_immutable(target, &v, Time::ZERO).expect("put");
    let later = Time::ZERO + DEFAULT_ITEM_TTL + MIN;
    assert!(store.get_immutable(&target, later).is_none());
    store.put_immutable(target, &v, later).expect("re-put");
    assert!(store.get_immutable(&target, later).is_some());
    assert_eq!(store.sweep(later).items, 0);
    assert_consistent(&store);
}

// ---------------------------------------------------------------- mutable items

#[test]
fn mutable_round_trip_keeps_fields() {
    let store = Store::new(Id::random(), small_config());
    let item = mutable(1, b"salt", 4, b"5:hello");
    let target = Id::sha1_concat(&[&[1u8; 32], b"salt"]);
    assert_eq!(item.target(), target);
    store
        .put_mutable(target, item.clone(), None, Time::ZERO)
        .expect("put");
    assert_eq!(
        store.get_mutable(&target, Time::ZERO).as_deref(),
        Some(&item)
    );
    assert_eq!(store.get_immutable(&target, Time::ZERO), None, "other kind");
    let stats = store.stats();
    assert_eq!((stats.items, stats.mutable_items, stats.bytes), (1, 1, 7));
    let end = Time::ZERO + DEFAULT_ITEM_TTL;
    assert_eq!(store.get_mutable(&target, end), None, "expired");
    let swept = store.sweep(end);
    assert_eq!((swept.items, swept.mutable_items, swept.bytes), (1, 1, 7));
    assert_consistent(&store);
}

#[test]
fn mutable_input_checks() {
    let store = Store::new(Id::random(), small_config());
    let salty = mutable(1, &[0; MAX_SALT_LEN + 1], 1, b"1:x");
    let err = store
        .put_mutable(salty.target(), salty, None, Time::ZERO)
        .expect_err("salt");
    assert_eq!(err, StoreError::SaltTooBig { len: 65 });
    assert_eq!(err.krpc_code(), 207);

    let ok_salt = mutable(1, &[0; MAX_SALT_LEN], 1, b"1:x");
    store
        .put_mutable(ok_salt.target(), ok_salt, None, Time::ZERO)
        .expect("64-byte salt");

    let big = mutable(2, b"", 1, &value(MAX_VALUE_LEN + 1, 0));
    let err = store
        .put_mutable(big.target(), big, None, Time::ZERO)
        .expect_err("big");
    assert_eq!(err, StoreError::TooBig { len: 1001 });

    let item = mutable(3, b"", 1, b"1:x");
    let err = store
        .put_mutable(Id::ZERO, item, None, Time::ZERO)
        .expect_err("wrong target");
    assert_eq!(err, StoreError::HashMismatch);
    assert_eq!(store.stats().items, 1);
}

#[test]
fn mutable_seq_rules() {
    let store = Store::new(Id::random(), small_config());
    let put = |seq: i64, v: &[u8], cas: Option<i64>, now: Time| {
        let item = mutable(9, b"", seq, v);
        store.put_mutable(item.target(), item, cas, now)
    };
    let target = mutable(9, b"", 0, b"").target();
    let t = Time::ZERO;
    put(5, b"3:aaa", None, t).expect("first");
    put(6, b"4:bbbb", None, t).expect("newer seq replaces");
    assert_eq!(store.get_mutable(&target, t).map(|i| i.seq), Some(6));
    assert_eq!(store.stats().bytes, 6, "bytes follow the replacement");

    let err = put(5, b"3:ccc", None, t).expect_err("older");
    assert_eq!(err, StoreError::SeqTooOld { seq: 5, stored: 6 });
    assert_eq!(err.krpc_code(), 302);

    let err = put(6, b"3:ccc", None, t).expect_err("same seq, other value");
    assert_eq!(err, StoreError::SeqTooOld { seq: 6, stored: 6 });

    // Same seq and value: refresh only.
    let later = t + 90 * MIN;
    put(6, b"4:bbbb", None, later).expect("same version refreshes");
    assert!(store.get_mutable(&target, t + DEFAULT_ITEM_TTL).is_some());

    let err = put(7, b"1:d", Some(5), t).expect_err("cas");
    assert_eq!(err, StoreError::CasMismatch { cas: 5, stored: 6 });
    assert_eq!(err.krpc_code(), 301);
    put(7, b"1:d", Some(6), t).expect("cas matches");
    assert_eq!(store.get_mutable(&target, t).map(|i| i.seq), Some(7));
    assert_eq!(store.stats().bytes, 3);

    // Once expired, the old version no longer constrains the sequence number.
    let gone = later + DEFAULT_ITEM_TTL;
    put(1, b"1:e", Some(99), gone).expect("expired item is as if absent");
    assert_eq!(store.get_mutable(&target, gone).map(|i| i.seq), Some(1));
    let stats = store.stats();
    assert_eq!((stats.items, stats.mutable_items, stats.bytes), (1, 1, 3));
    assert_consistent(&store);
}

#[test]
fn cas_is_ignored_when_nothing_is_stored() {
    let store = Store::new(Id::random(), small_config());
    let item = mutable(4, b"", 1, b"1:x");
    store
        .put_mutable(item.target(), item, Some(42), Time::ZERO)
        .expect("libtorrent behaviour: cas only checks a stored item");
}

// ---------------------------------------------------------------- peers

#[test]
fn peers_announce_get_refresh_and_both_families() {
    let store = Store::new(Id::random(), small_config());
    let hash = Id::random();
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 6881);
    let t = Time::ZERO;
    store.announce_peer(hash, addr(1, 1), t).expect("announce");
    store.announce_peer(hash, v6, t + MIN).expect("announce v6");
    store
        .announce_peer(hash, addr(2, 2), t + 2 * MIN)
        .expect("announce");
    let mut out = Vec::new();
    assert_eq!(store.get_peers(&hash, 10, t + 2 * MIN, &mut out), 3);
    assert_eq!(out, vec![addr(2, 2), v6, addr(1, 1)], "most recent first");

    // Re-announce: no duplicate, becomes the most recent, expiry pushed back.
    store
        .announce_peer(hash, addr(1, 1), t + 3 * MIN)
        .expect("again");
    out.clear();
    store.get_peers(&hash, 2, t + 3 * MIN, &mut out);
    assert_eq!(out, vec![addr(1, 1), addr(2, 2)], "bounded sample, newest");
    let stats = store.stats();
    assert_eq!((stats.info_hashes, stats.peers), (1, 3));

    // Expiries: v6 at 31 min, addr 2 at 32, addr 1 (re-announced) at 33.
    let at = t + DEFAULT_PEER_TTL + MIN + Duration::from_secs(30);
    out.clear();
    store.get_peers(&hash, 10, at, &mut out);
    assert_eq!(out, vec![addr(1, 1), addr(2, 2)]);
    let swept = store.sweep(at);
    assert_eq!((swept.peers, swept.info_hashes), (1, 0));
    let swept = store.sweep(t + 3 * MIN + DEFAULT_PEER_TTL);
    assert_eq!((swept.peers, swept.info_hashes), (2, 1));
    assert_eq!(store.stats(), StoreStats::default());
    out.clear();
    assert_eq!(store.get_peers(&hash, 10, at, &mut out), 0);
    assert_consistent(&store);
}

#[test]
fn per_info_hash_cap_evicts_oldest() {
    let config = StoreConfig {
        max_peers_per_info_hash: 3,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let hash = Id::random();
    for i in 0..5u8 {
        store
            .announce_peer(hash, addr(i, 1000), Time::from_millis(u64::from(i)))
            .expect("announce");
    }
    let mut out = Vec::new();
    store.get_peers(&hash, 100, Time::from_millis(10), &mut out);
    assert_eq!(out, vec![addr(4, 1000), addr(3, 1000), addr(2, 1000)]);
    assert_eq!(store.stats().peers, 3);
    assert_consistent(&store);
}

#[test]
fn info_hash_quota_refuses_new_hashes() {
    let config = StoreConfig {
        max_info_hashes: 2,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let (a, b, c) = (Id::random(), Id::random(), Id::random());
    store.announce_peer(a, addr(1, 1), Time::ZERO).expect("a");
    store.announce_peer(b, addr(1, 1), Time::ZERO).expect("b");
    let err = store
        .announce_peer(c, addr(1, 1), Time::ZERO)
        .expect_err("c");
    assert_eq!(err, StoreError::QuotaExceeded);
    assert_eq!(err.krpc_code(), 202);
    store
        .announce_peer(a, addr(2, 1), Time::ZERO)
        .expect("known hashes still take peers");
    assert_eq!(store.stats().refused_quota, 1);
    store.sweep(Time::ZERO + DEFAULT_PEER_TTL);
    store
        .announce_peer(c, addr(1, 1), Time::ZERO + DEFAULT_PEER_TTL)
        .expect("room again after expiry");
    assert_consistent(&store);
}

// ---------------------------------------------------------------- quotas

/// Immutable values of `len` bytes sorted by the distance of their target from
/// `Id::ZERO` (which is the target itself), closest first.
fn by_distance(count: u64, len: usize) -> Vec<(Id, Vec<u8>)> {
    let mut items: Vec<_> = (0..count)
        .map(|tag| {
            let v = value(len, tag);
            (Id::sha1(&v), v)
        })
        .collect();
    items.sort_by_key(|(target, _)| *target);
    items
}

#[test]
fn item_count_quota_evicts_farthest_only_for_closer_items() {
    let config = StoreConfig {
        max_items: 3,
        ..small_config()
    };
    let store = Store::new(Id::ZERO, config);
    let items = by_distance(10, 40);
    let t = Time::ZERO;
    // Store the 2nd, 4th and 6th closest.
    for i in [1, 3, 5] {
        store
            .put_immutable(items[i].0, &items[i].1, t)
            .expect("fill");
    }
    // Farther than all stored: refused, nothing evicted.
    let err = store
        .put_immutable(items[9].0, &items[9].1, t)
        .expect_err("far");
    assert_eq!(err, StoreError::QuotaExceeded);
    assert!(store.get_immutable(&items[5].0, t).is_some());
    // Between: evicts the farthest (6th).
    store
        .put_immutable(items[4].0, &items[4].1, t)
        .expect("closer");
    assert!(
        store.get_immutable(&items[5].0, t).is_none(),
        "farthest evicted"
    );
    assert!(store.get_immutable(&items[4].0, t).is_some());
    // Closest of all: evicts the now-farthest (5th).
    store
        .put_immutable(items[0].0, &items[0].1, t)
        .expect("closest");
    assert!(store.get_immutable(&items[4].0, t).is_none());
    // A re-put of a stored item needs no room.
    store
        .put_immutable(items[3].0, &items[3].1, t)
        .expect("re-put");

    let stats = store.stats();
    assert_eq!((stats.items, stats.bytes), (3, 120));
    assert_eq!((stats.evictions, stats.refused_quota), (2, 1));
    let held: Vec<_> = [0, 1, 3]
        .iter()
        .map(|&i| store.get_immutable(&items[i].0, t).is_some())
        .collect();
    assert_eq!(held, vec![true, true, true]);
    assert_consistent(&store);
}

#[test]
fn byte_quota_evicts_several_or_none() {
    let config = StoreConfig {
        max_value_bytes: 300,
        ..small_config()
    };
    let store = Store::new(Id::ZERO, config);
    let small = by_distance(40, 100);
    let t = Time::ZERO;
    // Hold the 3 farthest of the small values: 300 bytes, full.
    for item in &small[37..] {
        store.put_immutable(item.0, &item.1, t).expect("fill");
    }
    // A 250-byte value that lands closer than all three needs three evictions.
    let big = by_distance(200, 250)
        .into_iter()
        .find(|(target, _)| *target < small[37].0)
        .expect("some 250-byte value is closer");
    store.put_immutable(big.0, &big.1, t).expect("evicts three");
    let stats = store.stats();
    assert_eq!((stats.items, stats.bytes, stats.evictions), (1, 250, 3));

    // A 100-byte value farther than `big` needs `big` evicted: refused, and
    // nothing is evicted.
    let far = small
        .iter()
        .find(|(target, _)| *target > big.0)
        .expect("some small value is farther");
    let err = store.put_immutable(far.0, &far.1, t).expect_err("no room");
    assert_eq!(err, StoreError::QuotaExceeded);
    assert!(store.get_immutable(&big.0, t).is_some());

    // A value larger than the whole quota is refused outright.
    let config = StoreConfig {
        max_value_bytes: 99,
        ..small_config()
    };
    let tiny = Store::new(Id::ZERO, config);
    let err = tiny
        .put_immutable(small[0].0, &small[0].1, t)
        .expect_err("huge");
    assert_eq!(err, StoreError::QuotaExceeded);
    assert_consistent(&store);
    assert_consistent(&tiny);
}

#[test]
fn mutable_growth_respects_byte_quota() {
    let config = StoreConfig {
        max_value_bytes: 200,
        ..small_config()
    };
    let store = Store::new(Id::ZERO, config);
    let t = Time::ZERO;
    let mut items: Vec<_> = (0..8u8)
        .map(|k| mutable(k, b"", 1, &value(100, 0)))
        .collect();
    items.sort_by_key(MutableItem::target);
    let (near, far) = (&items[0], &items[7]);
    store
        .put_mutable(near.target(), near.clone(), None, t)
        .expect("near");
    store
        .put_mutable(far.target(), far.clone(), None, t)
        .expect("far");

    // The far item growing to 150 bytes has nothing farther to evict.
    let mut grown = far.clone();
    grown.seq = 2;
    grown.v = Arc::from(value(150, 0));
    let err = store
        .put_mutable(far.target(), grown, None, t)
        .expect_err("no room to grow");
    assert_eq!(err, StoreError::QuotaExceeded);
    assert_eq!(store.get_mutable(&far.target(), t).map(|i| i.seq), Some(1));

    // The near one growing evicts the far one.
    let mut grown = near.clone();
    grown.seq = 2;
    grown.v = Arc::from(value(150, 0));
    store
        .put_mutable(near.target(), grown, None, t)
        .expect("evicts the far item");
    assert_eq!(store.get_mutable(&far.target(), t), None);
    let stats = store.stats();
    assert_eq!((stats.items, stats.bytes, stats.evictions), (1, 150, 1));
    assert_consistent(&store);
}

#[test]
fn zero_quotas_refuse_everything() {
    let config = StoreConfig {
        max_items: 0,
        max_info_hashes: 0,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let v = value(10, 0);
    assert_eq!(
        store.put_immutable(Id::sha1(&v), &v, Time::ZERO),
        Err(StoreError::QuotaExceeded)
    );
    assert_eq!(
        store.announce_peer(Id::random(), addr(1, 1), Time::ZERO),
        Err(StoreError::QuotaExceeded)
    );
    assert_eq!(store.stats().refused_quota, 2);
}

// ---------------------------------------------------------------- per-IP shares

#[test]
fn per_ip_cap_refuses_new_items_but_not_reputs_and_charges_the_first_storer() {
    let config = StoreConfig {
        max_items_per_ip: 2,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let (a, b) = (source(0), source(1));
    let t = Time::ZERO;
    let items: Vec<_> = (0..4u64).map(|tag| value(30, tag)).collect();
    let put = |from, v: &[u8]| store.put_immutable_from(from, Id::sha1(v), v, t);
    put(a, &items[0]).expect("first");
    put(a, &items[1]).expect("second");
    assert_eq!(put(a, &items[2]), Err(StoreError::IpQuotaExceeded));
    assert_eq!(StoreError::IpQuotaExceeded.krpc_code(), 202);
    // A re-put by the owner at its cap, or by another source, refreshes: no charge.
    put(a, &items[0]).expect("re-put at the cap");
    put(b, &items[1]).expect("re-put by another source");
    assert_eq!(store.usage_of(a).items, 2);
    assert_eq!(store.usage_of(b).items, 0);
    // Another source has its own share; uncharged puts count against the totals only.
    put(b, &items[2]).expect("b's own share");
    store
        .put_immutable(Id::sha1(&items[3]), &items[3], t)
        .expect("uncharged");
    assert_eq!(
        store.usage_of(b),
        OriginUsage {
            items: 1,
            announces: 0
        }
    );
    let stats = store.stats();
    assert_eq!(
        (stats.items, stats.origins, stats.refused_ip_quota),
        (4, 2, 1)
    );
    assert_consistent(&store);
    // Expiry uncharges, and sources charged with nothing leave the table.
    store.sweep(t + DEFAULT_ITEM_TTL);
    assert_eq!(store.usage_of(a), OriginUsage::default());
    assert_eq!(store.stats().origins, 0);
    assert_consistent(&store);
}

#[test]
fn mutable_versions_from_anyone_keep_the_first_storers_charge() {
    let config = StoreConfig {
        max_items_per_ip: 1,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let (a, b) = (source(0), source(1));
    let t = Time::ZERO;
    let put = |from, k: u8, seq: i64| {
        let item = mutable(k, b"", seq, &value(20, seq as u64));
        store.put_mutable_from(from, item.target(), item, None, t)
    };
    put(a, 1, 1).expect("created by a");
    assert_eq!(put(a, 2, 1), Err(StoreError::IpQuotaExceeded));
    put(a, 1, 2).expect("a new version from the creator at its cap");
    put(b, 1, 3).expect("a new version from another source");
    assert_eq!((store.usage_of(a).items, store.usage_of(b).items), (1, 0));
    // Rejected by BEP 44 rules: nothing charged either way.
    assert!(matches!(put(b, 1, 1), Err(StoreError::SeqTooOld { .. })));
    assert_eq!(store.usage_of(b).items, 0);
    assert_consistent(&store);
}

#[test]
fn eviction_uncharges_the_victims_source() {
    let config = StoreConfig {
        max_items: 2,
        max_items_per_ip: 2,
        ..small_config()
    };
    let store = Store::new(Id::ZERO, config);
    let items = by_distance(4, 40);
    let t = Time::ZERO;
    let (far, near) = (source(0), source(1));
    store
        .put_immutable_from(far, items[3].0, &items[3].1, t)
        .expect("farthest");
    store
        .put_immutable_from(far, items[2].0, &items[2].1, t)
        .expect("far");
    // A source at its cap cannot evict anything...
    assert_eq!(
        store.put_immutable_from(far, items[0].0, &items[0].1, t),
        Err(StoreError::IpQuotaExceeded)
    );
    assert_eq!(store.stats().evictions, 0);
    // ...while a closer put from another source evicts the farthest and uncharges it.
    store
        .put_immutable_from(near, items[0].0, &items[0].1, t)
        .expect("closer evicts");
    assert_eq!(store.stats().evictions, 1);
    assert_eq!(store.usage_of(far).items, 1);
    assert_eq!(store.usage_of(near).items, 1);
    assert!(store.get_immutable(&items[3].0, t).is_none());
    assert_consistent(&store);
}

#[test]
fn announces_are_charged_to_the_peer_ip_and_uncharged_when_dropped() {
    let config = StoreConfig {
        max_announces_per_ip: 3,
        max_peers_per_info_hash: 2,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let t = Time::ZERO;
    let a = |port| SocketAddr::new(source(0), port);
    let (h1, h2, h3) = (Id::random(), Id::random(), Id::random());
    store.announce_peer(h1, a(1), t).expect("h1");
    store.announce_peer(h2, a(1), t).expect("h2");
    store.announce_peer(h2, a(2), t).expect("h2, a second port");
    assert_eq!(
        store.announce_peer(h3, a(1), t),
        Err(StoreError::IpQuotaExceeded)
    );
    assert_eq!(
        store.announce_peer(h1, a(2), t),
        Err(StoreError::IpQuotaExceeded),
        "a new announcement on a known info-hash is charged too"
    );
    store
        .announce_peer(h1, a(1), t + MIN)
        .expect("a refresh at the cap");
    assert_eq!(store.usage_of(source(0)).announces, 3);
    // Two other peers push the oldest two out of h2: they are uncharged.
    let other = |last| SocketAddr::new(source(1), last);
    store.announce_peer(h2, other(1), t).expect("other 1");
    store.announce_peer(h2, other(2), t).expect("other 2");
    assert_eq!(store.usage_of(source(0)).announces, 1);
    assert_eq!(store.usage_of(source(1)).announces, 2);
    assert_consistent(&store);
    store.sweep(t + DEFAULT_PEER_TTL + MIN);
    assert_eq!(store.stats().origins, 0);
    assert_consistent(&store);
}

#[test]
fn loopback_sources_are_exempt_unless_limited() {
    for limit_loopback in [false, true] {
        let config = StoreConfig {
            max_items_per_ip: 1,
            max_announces_per_ip: 1,
            limit_loopback,
            ..small_config()
        };
        let store = Store::new(Id::random(), config);
        let ip = IpAddr::V4(Ipv4Addr::new(127, 3, 4, 5));
        let results: Vec<bool> = (0..2u64)
            .map(|tag| {
                let v = value(30, tag);
                store
                    .put_immutable_from(ip, Id::sha1(&v), &v, Time::ZERO)
                    .is_ok()
            })
            .chain((0..2u8).map(|i| {
                let peer = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), u16::from(i) + 1);
                store
                    .announce_peer(Id::from_bytes([i; 20]), peer, Time::ZERO)
                    .is_ok()
            }))
            .collect();
        if limit_loopback {
            assert_eq!(results, [true, false, true, false]);
            assert_eq!(store.stats().origins, 2);
        } else {
            assert_eq!(results, [true; 4]);
            assert_eq!(store.stats().origins, 0);
        }
        assert_consistent(&store);
        store.sweep(Time::NEVER);
        assert_eq!(store.stats().origins, 0);
        assert_consistent(&store);
    }
}

#[test]
fn an_ipv6_source_is_charged_by_its_64_prefix() {
    let config = StoreConfig {
        max_items_per_ip: 2,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, last));
    for tag in 0..2u64 {
        let v = value(30, tag);
        store
            .put_immutable_from(host(tag as u16 + 1), Id::sha1(&v), &v, Time::ZERO)
            .expect("room");
    }
    let v = value(30, 9);
    assert_eq!(
        store.put_immutable_from(host(99), Id::sha1(&v), &v, Time::ZERO),
        Err(StoreError::IpQuotaExceeded)
    );
    assert_eq!(store.usage_of(host(12345)).items, 2);
    // An IPv4-mapped address is its IPv4 source.
    let v4 = Ipv4Addr::new(192, 0, 2, 1);
    store
        .put_immutable_from(
            IpAddr::V6(v4.to_ipv6_mapped()),
            Id::sha1(&v),
            &v,
            Time::ZERO,
        )
        .expect("room for another source");
    assert_eq!(store.usage_of(IpAddr::V4(v4)).items, 1);
    assert_consistent(&store);
}

// ---------------------------------------------------------------- config and size

#[test]
fn shard_count_is_normalised() {
    let shards = |n| {
        StoreConfig {
            shards: n,
            ..StoreConfig::default()
        }
        .effective_shards()
    };
    assert_eq!(shards(0), 2);
    assert_eq!(shards(1), 2);
    assert_eq!(shards(3), 4);
    assert_eq!(shards(16), 16);
    assert_eq!(shards(usize::MAX), MAX_SHARDS);
    // Building a store with any of them must not panic.
    for n in [0, 1, 3, 5000] {
        let _ = Store::new(
            Id::ZERO,
            StoreConfig {
                shards: n,
                ..StoreConfig::default()
            },
        );
    }
}

/// Most bytes a never-written store may take: it is only its inline part.
const EMPTY_STORE_BYTES: usize = 256;

/// Most bytes a store with 2 shards may take once its map exists, even when empty:
/// inline part plus 2 cache-padded shards of 128 bytes, plus allocator overhead.
const EMPTY_MAP_STORE_BYTES_2_SHARDS: usize = 768;

#[test]
fn empty_store_is_small() {
    let inline = std::mem::size_of::<Store>();
    assert!(inline <= EMPTY_STORE_BYTES, "inline {inline}");
    assert!(inline + 2 * 128 <= EMPTY_MAP_STORE_BYTES_2_SHARDS);
}

/// Measures the real cost of empty stores (allocator overhead and alignment included)
/// from the resident set of a child process that builds 100,000 of them, first never
/// written, then written once and swept empty again.
#[cfg(target_os = "linux")]
#[test]
fn empty_store_resident_size() {
    const CHILD: &str = "DIPSEA_STORE_FOOTPRINT_CHILD";
    const N: usize = 100_000;
    fn resident() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: usize = statm
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("resident pages");
        pages * 4096
    }
    if std::env::var_os(CHILD).is_some() {
        let config = small_config();
        // Reserved but not yet touched: the pages of the inline parts count as the
        // stores are pushed, so the measurement covers inline and heap bytes.
        let mut stores = Vec::with_capacity(N);
        let before = resident();
        for i in 0..N {
            stores.push(Store::new(Id::from_bytes([i as u8; 20]), config.clone()));
        }
        let empty = resident().saturating_sub(before) / N;
        let before = resident();
        for store in &stores {
            store
                .announce_peer(Id::ZERO, addr(1, 1), Time::ZERO)
                .expect("announce");
            store.sweep(Time::NEVER);
        }
        let map = empty + resident().saturating_sub(before) / N;
        println!("EMPTY_STORE_BYTES={empty},{map}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "store::tests::empty_store_resident_size",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (empty, map): (usize, usize) = stdout
        .lines()
        .find_map(|l| {
            let (a, b) = l.split_once("EMPTY_STORE_BYTES=")?.1.split_once(',')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .unwrap_or_else(|| panic!("child output: {stdout}"));
    println!(
        "empty store: {empty} bytes resident ({} inline); with its 2-shard map: {map}",
        std::mem::size_of::<Store>()
    );
    assert!(empty <= EMPTY_STORE_BYTES, "{empty} bytes per empty store");
    assert!(
        map <= EMPTY_MAP_STORE_BYTES_2_SHARDS,
        "{map} bytes per empty store with a map"
    );
}

// ---------------------------------------------------------------- properties

#[derive(Clone, Debug)]
enum Op {
    PutImmutable {
        len: usize,
        tag: u64,
        /// The source IP (see [`source`]); `None`: an uncharged put.
        from: Option<u8>,
    },
    PutMutable {
        k: u8,
        seq: i64,
        len: usize,
        cas: Option<i64>,
        from: Option<u8>,
    },
    Announce {
        hash: u8,
        peer: u8,
    },
    Advance {
        minutes: u32,
    },
    Sweep,
}

/// The source IP number `i`; the IPv6 ones share a /64 two by two; 6 is loopback.
fn source(i: u8) -> IpAddr {
    if i < 3 {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, i))
    } else if i == 6 {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            u16::from(i / 2),
            0,
            0,
            0,
            u16::from(i),
        ))
    }
}

/// A put's source: mostly one of a few IPs (several sharing a /64, one loopback),
/// sometimes none.
fn from() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![4 => (0u8..7).prop_map(Some), 1 => Just(None)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (2usize..=MAX_VALUE_LEN, 0u64..40, from())
            .prop_map(|(len, tag, from)| Op::PutImmutable { len, tag, from }),
        3 => (0u8..8, 0i64..6, 2usize..=MAX_VALUE_LEN, proptest::option::of(0i64..6), from())
            .prop_map(|(k, seq, len, cas, from)| Op::PutMutable { k, seq, len, cas, from }),
        2 => (0u8..6, 0u8..6).prop_map(|(hash, peer)| Op::Announce { hash, peer }),
        1 => (0u32..50).prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Sweep),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn quotas_hold_and_counters_are_exact(
        own in any::<[u8; 20]>(),
        max_items in 0usize..8,
        max_value_bytes in 0usize..4000,
        max_items_per_ip in 0usize..4,
        max_announces_per_ip in 0usize..4,
        limit_loopback in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let config = StoreConfig {
            item_ttl: 60 * MIN,
            peer_ttl: 20 * MIN,
            max_items,
            max_value_bytes,
            max_info_hashes: 3,
            max_peers_per_info_hash: 2,
            max_items_per_ip,
            max_announces_per_ip,
            limit_loopback,
            shards: 2,
        };
        let store = Store::new(Id::from_bytes(own), config);
        let mut now = Time::ZERO;
        for op in ops {
            match op {
                Op::PutImmutable { len, tag, from } => {
                    let v = value(len, tag);
                    let _ = match from {
                        Some(i) => store.put_immutable_from(source(i), Id::sha1(&v), &v, now),
                        None => store.put_immutable(Id::sha1(&v), &v, now),
                    };
                }
                Op::PutMutable { k, seq, len, cas, from } => {
                    let item = mutable(k, b"", seq, &value(len, seq as u64));
                    let target = item.target();
                    let _ = match from {
                        Some(i) => store.put_mutable_from(source(i), target, item, cas, now),
                        None => store.put_mutable(target, item, cas, now),
                    };
                }
                Op::Announce { hash, peer } => {
                    // Two ports per IP: announcements of one IP on several info-hashes
                    // and ports.
                    let peer = SocketAddr::new(source(6 - peer / 2), 1 + u16::from(peer % 2));
                    let _ = store.announce_peer(Id::from_bytes([hash; 20]), peer, now);
                }
                Op::Advance { minutes } => now += MIN * minutes,
                Op::Sweep => {
                    store.sweep(now);
                }
            }
            let stats = store.stats();
            prop_assert!(stats.bytes <= max_value_bytes, "{:?}", stats);
            prop_assert!(stats.items <= max_items, "{:?}", stats);
            prop_assert_eq!(stats, audit(&store));
        }
        // After a final sweep nothing expired is left.
        store.sweep(now);
        for padded in store.shards.get().into_iter().flat_map(|s| s.list.iter()) {
            for entry in padded.0.read().map.values() {
                match entry {
                    Entry::Peers(peers) => prop_assert!(peers.iter().all(|p| p.expires > now)),
                    item => prop_assert!(item.item_expiry().is_some_and(|e| e > now)),
                }
            }
        }
        // Once everything expired and is swept, nobody is charged with anything.
        store.sweep(Time::NEVER);
        prop_assert_eq!(store.stats().origins, 0);
        prop_assert_eq!(store.stats(), audit(&store));
    }
}

// ---------------------------------------------------------------- concurrency

#[test]
fn concurrent_puts_gets_and_sweeps_keep_counters_exact() {
    let config = StoreConfig {
        item_ttl: 10 * MIN,
        peer_ttl: 5 * MIN,
        max_items: 200,
        max_value_bytes: 20_000,
        max_info_hashes: 16,
        max_peers_per_info_hash: 4,
        // Small enough for the sources below to reach.
        max_items_per_ip: 30,
        max_announces_per_ip: 6,
        limit_loopback: true,
        shards: 4,
    };
    let store = Store::new(Id::random(), config);
    // A shared pool so threads put the same items and race on them.
    let pool: Vec<(Id, Vec<u8>)> = (0..500u64)
        .map(|tag| {
            let v = value(20 + (tag as usize * 37) % 300, tag);
            (Id::sha1(&v), v)
        })
        .collect();
    std::thread::scope(|s| {
        for thread in 0..4u64 {
            let (store, pool) = (&store, &pool);
            s.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(thread);
                let mut out = Vec::new();
                for step in 0..20_000u64 {
                    // Each thread's clock runs on its own; they overlap in range.
                    let now = Time::from_millis(step * 100);
                    match rng.gen_range(0..100) {
                        0..=39 => {
                            let (target, _) = &pool[rng.gen_range(0..pool.len())];
                            let _ = store.get_immutable(target, now);
                        }
                        40..=69 => {
                            // Sources shared by the threads, and uncharged puts.
                            let (target, v) = &pool[rng.gen_range(0..pool.len())];
                            let _ = match rng.gen_range(0..7u8) {
                                6 => store.put_immutable(*target, v, now),
                                i => store.put_immutable_from(source(i), *target, v, now),
                            };
                        }
                        70..=84 => {
                            let k = rng.gen_range(0..20u8);
                            let seq = rng.gen_range(0..10);
                            let item = mutable(k, b"", seq, &value(rng.gen_range(2..400), 0));
                            let from = source(rng.gen_range(0..6));
                            let _ = store.put_mutable_from(from, item.target(), item, None, now);
                            let _ = store.get_mutable(&mutable(k, b"", 0, b"").target(), now);
                        }
                        85..=97 => {
                            let hash = Id::from_bytes([rng.gen_range(0..24u8); 20]);
                            let _ = store.announce_peer(hash, addr(rng.gen_range(0..8), 1), now);
                            out.clear();
                            store.get_peers(&hash, 8, now, &mut out);
                        }
                        _ => {
                            store.sweep(now);
                        }
                    }
                }
            });
        }
    });
    let stats = store.stats();
    assert!(
        stats.evictions > 0 && stats.refused_quota > 0 && stats.refused_ip_quota > 0,
        "{stats:?}"
    );
    assert_consistent(&store);
    // And a final sweep far in the future empties everything.
    store.sweep(Time::NEVER);
    let left = store.stats();
    assert_eq!(
        (
            left.items,
            left.mutable_items,
            left.bytes,
            left.info_hashes,
            left.peers,
            left.origins
        ),
        (0, 0, 0, 0, 0, 0)
    );
    assert_consistent(&store);
}

#[test]
fn concurrent_announces_respect_info_hash_quota_exactly() {
    let config = StoreConfig {
        max_info_hashes: 37,
        ..small_config()
    };
    let store = Store::new(Id::random(), config);
    std::thread::scope(|s| {
        for thread in 0..4u8 {
            let store = &store;
            s.spawn(move || {
                for i in 0..200u8 {
                    let _ =
                        store.announce_peer(Id::from_bytes([i; 20]), addr(thread, 1), Time::ZERO);
                }
            });
        }
    });
    let stats = store.stats();
    assert_eq!(stats.info_hashes, 37);
    assert_consistent(&store);
}

#[test]
fn concurrent_evicting_puts_never_exceed_quotas() {
    const MAX_ITEMS: usize = 60;
    const MAX_BYTES: usize = 9_000;
    let config = StoreConfig {
        max_items: MAX_ITEMS,
        max_value_bytes: MAX_BYTES,
        shards: 16,
        ..StoreConfig::default()
    };
    let store = Store::new(Id::random(), config);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // A watcher samples the counters all along: the reservation comes before the
        // insert, so they bound what is stored at every instant.
        let watcher = s.spawn(|| {
            let mut samples = 0u64;
            while !done.load(Ordering::Relaxed) {
                let stats = store.stats();
                assert!(stats.items <= MAX_ITEMS, "{stats:?}");
                assert!(stats.bytes <= MAX_BYTES, "{stats:?}");
                samples += 1;
            }
            samples
        });
        let writers: Vec<_> = (0..4u64)
            .map(|thread| {
                let store = &store;
                s.spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(thread);
                    for step in 0..3_000u64 {
                        if rng.gen_range(0..4) == 0 {
                            // Mutable items that grow and shrink: replacements that
                            // need room too.
                            let k = rng.gen_range(0..40u8);
                            let len = rng.gen_range(2..=MAX_VALUE_LEN);
                            let item = mutable(k, b"", (step * 4 + thread) as i64, &value(len, 0));
                            let _ = store.put_mutable(item.target(), item, None, Time::ZERO);
                        } else {
                            // Mostly fresh immutable items, so nearly every put evicts.
                            let tag = thread << 32 | step;
                            let v = value(rng.gen_range(2..400), tag);
                            let _ = store.put_immutable(Id::sha1(&v), &v, Time::ZERO);
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        done.store(true, Ordering::Relaxed);
        assert!(watcher.join().expect("watcher") > 0);
    });
    let stats = store.stats();
    assert!(
        stats.evictions > 100 && stats.refused_quota > 100,
        "{stats:?}"
    );
    assert_consistent(&store);
    assert_eq!(indexed(&store), Some(true), "kept while full");
    store.sweep(Time::NEVER);
    assert_eq!(indexed(&store), Some(false), "dropped once emptied");
    assert_consistent(&store);
}

/// The documented rules, on one global ordered map: what the sharded store must do
/// exactly when puts do not overlap.
#[derive(Default)]
struct Model {
    /// (distance, kind) -> (value length, expiry, source charged).
    items: BTreeMap<IndexKey, (usize, Time, Option<IpAddr>)>,
    evictions: u64,
    refused: u64,
    refused_ip: u64,
}

impl Model {
    /// Items charged to `origin`.
    fn charged(&self, origin: IpAddr) -> usize {
        self.items
            .values()
            .filter(|&&(_, _, o)| o == Some(origin))
            .count()
    }

    /// Applies a put of `len` bytes at `ikey` from `origin` (already a source key)
    /// that passed the BEP 44 checks; `refresh`: a put of the stored item only pushes
    /// its expiry back (immutable), otherwise it replaces it (mutable).
    fn put(
        &mut self,
        config: &StoreConfig,
        ikey: IndexKey,
        len: usize,
        expires: Time,
        refresh: bool,
        origin: Option<IpAddr>,
    ) -> Result<(), StoreError> {
        if let Some((_, e, _)) = self.items.get_mut(&ikey).filter(|_| refresh) {
            *e = (*e).max(expires);
            return Ok(());
        }
        // A new item is charged to its source, which must be under its cap; a
        // replaced one keeps its charge.
        let charge = match self.items.get(&ikey) {
            Some(&(_, _, stored)) => stored,
            None => {
                if let Some(o) = origin {
                    if self.charged(o) >= config.max_items_per_ip {
                        self.refused_ip += 1;
                        return Err(StoreError::IpQuotaExceeded);
                    }
                }
                origin
            }
        };
        let freed = self.items.get(&ikey).map_or(0, |&(l, _, _)| l);
        let add_items = usize::from(!self.items.contains_key(&ikey));
        let bytes: usize = self.items.values().map(|&(l, _, _)| l).sum();
        let mut excess_items = (self.items.len() + add_items).saturating_sub(config.max_items);
        let mut excess_bytes = (bytes - freed + len).saturating_sub(config.max_value_bytes);
        let mut victims = Vec::new();
        for (&key, &(l, _, _)) in self.items.iter().rev() {
            if excess_items == 0 && excess_bytes == 0 {
                break;
            }
            if key == ikey {
                continue;
            }
            if key.0 <= ikey.0 {
                break;
            }
            victims.push(key);
            excess_items = excess_items.saturating_sub(1);
            excess_bytes = excess_bytes.saturating_sub(l);
        }
        if excess_items > 0 || excess_bytes > 0 {
            self.refused += 1;
            return Err(StoreError::QuotaExceeded);
        }
        for victim in victims {
            self.items.remove(&victim);
            self.evictions += 1;
        }
        self.items.insert(ikey, (len, expires, charge));
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Puts from several sources, time and sweeps on a sharded store give exactly the
    /// items, counters, per-IP charges and results of the one-map model, whatever the
    /// shard count, with the eviction index built, kept and dropped along the way.
    #[test]
    fn eviction_is_exact_without_concurrency(
        own in any::<[u8; 20]>(),
        shards in prop_oneof![Just(2usize), Just(16)],
        max_items in 1usize..12,
        max_value_bytes in 1usize..5000,
        max_items_per_ip in 0usize..6,
        limit_loopback in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let config = StoreConfig {
            item_ttl: 60 * MIN,
            max_items,
            max_value_bytes,
            max_items_per_ip,
            limit_loopback,
            shards,
            ..StoreConfig::default()
        };
        let own = Id::from_bytes(own);
        let store = Store::new(own, config.clone());
        let mut model = Model::default();
        let mut now = Time::ZERO;
        let mut seqs = [0i64; 8];
        for op in ops {
            match op {
                Op::PutImmutable { len, tag, from } => {
                    let v = value(len, tag);
                    let target = Id::sha1(&v);
                    let ikey = (own.distance(&target), Kind::Immutable);
                    let origin = from.and_then(|i| store.source_of(source(i)));
                    let expires = now + config.item_ttl;
                    let expected = model.put(&config, ikey, len, expires, true, origin);
                    let got = match from {
                        Some(i) => store.put_immutable_from(source(i), target, &v, now),
                        None => store.put_immutable(target, &v, now),
                    };
                    prop_assert_eq!(got, expected);
                }
                Op::PutMutable { k, len, from, .. } => {
                    // Always a newer version: the model need not know BEP 44.
                    seqs[usize::from(k)] += 1;
                    let item = mutable(k, b"", seqs[usize::from(k)], &value(len, 0));
                    let target = item.target();
                    let ikey = (own.distance(&target), Kind::Mutable);
                    let origin = from.and_then(|i| store.source_of(source(i)));
                    let expires = now + config.item_ttl;
                    let expected = model.put(&config, ikey, len, expires, false, origin);
                    let got = match from {
                        Some(i) => store.put_mutable_from(source(i), target, item, None, now),
                        None => store.put_mutable(target, item, None, now),
                    };
                    prop_assert_eq!(got, expected);
                }
                Op::Announce { .. } => {}
                Op::Advance { minutes } => now += MIN * minutes,
                Op::Sweep => {
                    store.sweep(now);
                    model.items.retain(|_, &mut (_, e, _)| e > now);
                }
            }
            let stats = store.stats();
            prop_assert_eq!(stats, audit(&store));
            prop_assert_eq!(stats.items, model.items.len());
            prop_assert_eq!(stats.evictions, model.evictions);
            prop_assert_eq!(stats.refused_quota, model.refused);
            prop_assert_eq!(stats.refused_ip_quota, model.refused_ip);
            for i in 0..7 {
                let origin = origin_key(source(i));
                let charged = store.usage_of(source(i)).items;
                prop_assert_eq!(charged, model.charged(origin), "source {}", i);
                prop_assert!(charged <= max_items_per_ip);
            }
            for (&(d, kind), &(len, expires, _)) in &model.items {
                let target = store.target_at(&d);
                let held = match kind {
                    Kind::Immutable => store.get_immutable(&target, Time::ZERO).map(|v| v.len()),
                    _ => store.get_mutable(&target, Time::ZERO).map(|i| i.v.len()),
                };
                prop_assert_eq!(held, (expires > Time::ZERO).then_some(len));
            }
        }
    }
}

#[test]
fn eviction_index_is_built_on_demand_and_dropped_below_half() {
    let config = StoreConfig {
        max_items: 4,
        shards: 8,
        ..StoreConfig::default()
    };
    let store = Store::new(Id::ZERO, config);
    assert_eq!(indexed(&store), None, "no shards before the first write");
    let items = by_distance(10, 30);
    let t = Time::ZERO;
    for item in &items[4..8] {
        store.put_immutable(item.0, &item.1, t).expect("room");
    }
    assert_eq!(indexed(&store), Some(false), "no index while there is room");
    store
        .put_immutable(items[0].0, &items[0].1, t)
        .expect("evicts");
    assert_eq!(
        indexed(&store),
        Some(true),
        "built by the first put over quota"
    );
    assert!(
        store.get_immutable(&items[7].0, t).is_none(),
        "farthest evicted"
    );
    assert_consistent(&store);

    // Half full is not below half: kept.
    let later = t + 10 * MIN;
    for item in &items[1..3] {
        store.put_immutable(item.0, &item.1, later).expect("evicts");
    }
    store.sweep(t + DEFAULT_ITEM_TTL);
    assert_eq!(store.stats().items, 2);
    assert_eq!(indexed(&store), Some(true));
    store.sweep(later + DEFAULT_ITEM_TTL);
    assert_eq!(indexed(&store), Some(false), "dropped below half");
    assert_consistent(&store);

    // And built again, exact as before.
    for item in &items[5..9] {
        store.put_immutable(item.0, &item.1, later).expect("room");
    }
    let err = store.put_immutable(items[9].0, &items[9].1, later);
    assert_eq!(err, Err(StoreError::QuotaExceeded), "farther than all");
    store
        .put_immutable(items[3].0, &items[3].1, later)
        .expect("evicts");
    assert!(store.get_immutable(&items[8].0, later).is_none());
    assert_eq!(indexed(&store), Some(true));
    assert_consistent(&store);
}

#[test]
fn key_hash_spreads_ids_that_share_a_prefix() {
    // Info-hashes are chosen by whoever announces them: ids equal but for their last
    // bytes must still spread over the table.
    let state = KeyState::random();
    let low_bits: HashSet<u64> = (0..1024u16)
        .map(|i| {
            let mut id = [7u8; 20];
            id[18..].copy_from_slice(&i.to_le_bytes());
            state.hash_one(Key {
                id: Id::from_bytes(id),
                kind: Kind::Peers,
            }) & 1023
        })
        .collect();
    // 1024 uniform draws from 1024 slots hit about 647 distinct ones.
    assert!(low_bits.len() > 550, "{}", low_bits.len());
    let k = |kind| state.hash_one(Key { id: Id::ZERO, kind });
    assert_ne!(k(Kind::Immutable), k(Kind::Mutable));
}
