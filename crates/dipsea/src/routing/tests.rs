//! Unit tests of every state transition, property tests of the table's invariants,
//! a multi-threaded stress test and the memory bounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::contact::Contact;
use super::*;
use crate::id::bep42;

fn addr(n: u32) -> SocketAddr {
    SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 6881))
}

fn mins(m: u64) -> Time {
    Time::from_millis(m * 60_000)
}

fn table(seed: u64) -> (RoutingTable, SmallRng) {
    let mut rng = SmallRng::seed_from_u64(seed);
    (
        RoutingTable::new(Id::random_with(&mut rng), RoutingConfig::default()),
        rng,
    )
}

/// `count` fresh nodes that fall in bucket `index` of `t`.
fn nodes_in(t: &RoutingTable, index: usize, count: usize, rng: &mut SmallRng) -> Vec<NodeInfo> {
    (0..count)
        .map(|_| NodeInfo::new(t.own_id().random_in_bucket(index, rng), addr(rng.gen())))
        .collect()
}

/// Fills bucket `index` with k nodes that answered at `now`.
fn fill(t: &RoutingTable, index: usize, now: Time, rng: &mut SmallRng) -> Vec<NodeInfo> {
    let nodes = nodes_in(t, index, K, rng);
    for n in &nodes {
        assert_eq!(t.on_response(*n, now), InsertOutcome::Added);
    }
    nodes
}

/// The brute-force answer: all non-bad contacts sorted by distance, first `n`.
fn brute_closest(t: &RoutingTable, target: &Id, n: usize) -> Vec<NodeInfo> {
    let mut all: Vec<NodeInfo> = t
        .contacts()
        .into_iter()
        .filter(|e| e.failures < t.config().max_failures)
        .map(|e| e.node)
        .collect();
    all.sort_by_key(|node| node.id.distance(target));
    all.truncate(n);
    all
}

/// The table a node of an `n`-node network ends up with: every node of the network
/// answered it once, in random order.
fn network_table(nodes: usize, seed: u64, config: RoutingConfig) -> RoutingTable {
    let mut rng = SmallRng::seed_from_u64(seed);
    let t = RoutingTable::new(Id::random_with(&mut rng), config);
    for i in 0..nodes {
        let _ = t.on_response(
            NodeInfo::new(Id::random_with(&mut rng), addr(i as u32)),
            Time::ZERO,
        );
    }
    t
}

#[test]
fn sizes_stay_small() {
    let contact = std::mem::size_of::<Contact>();
    let bucket = std::mem::size_of::<shard::Shard>();
    let empty = std::mem::size_of::<RoutingTable>();
    println!("contact {contact} B, bucket header {bucket} B, empty table {empty} B");
    assert_eq!(contact, 32, "a contact is 32 bytes");
    assert!(bucket <= 80, "a bucket header is at most 80 bytes");
    assert!(empty <= 640, "an empty table is at most 640 bytes");
    // The empty table's only allocation is its slots of buckets of their own.
    assert_eq!(
        RoutingTable::new(Id::ZERO, RoutingConfig::default()).heap_bytes(),
        DEEP_BUCKETS * std::mem::size_of::<OnceLock<Box<shard::Shard>>>()
    );
    let compact = RoutingConfig {
        sharded_buckets: 0,
        ..RoutingConfig::default()
    };
    assert_eq!(RoutingTable::new(Id::ZERO, compact).heap_bytes(), 0);

    // 200,000 random nodes fill the same buckets 0..=14 that a million would, and
    // leave the deeper ones about as sparse.
    let no_cache = RoutingConfig {
        replacement_cache: 0,
        ..RoutingConfig::default()
    };
    for (config, bound) in [(no_cache, 7 * 1024), (RoutingConfig::default(), 11 * 1024)] {
        let cache = config.replacement_cache;
        let t = network_table(200_000, 7, config);
        let heap = t.heap_bytes();
        println!(
            "200k-node network, cache {cache}: {} contacts in {} buckets, {empty} B inline + {heap} B heap",
            t.len(),
            t.bucket_count(),
        );
        assert!(t.len() >= 15 * K);
        assert!(empty + heap <= bound, "table over {bound} B");
    }
}

#[test]
fn sort8_sorts_every_input() {
    // The 0-1 principle: a network that sorts every 0/1 input sorts every input.
    for bits in 0u32..256 {
        let mut keys: [u64; 8] = std::array::from_fn(|i| u64::from(bits >> i & 1));
        sort8(&mut keys);
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{bits:08b}");
    }
}

#[test]
fn own_id_is_never_inserted() {
    let (t, _) = table(1);
    let me = NodeInfo::new(*t.own_id(), addr(1));
    assert_eq!(t.on_response(me, Time::ZERO), InsertOutcome::Ignored);
    assert_eq!(t.on_query(me, Time::ZERO, false), InsertOutcome::Ignored);
    assert_eq!(t.on_timeout(&me.id, Time::ZERO), TimeoutOutcome::Ignored);
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert_eq!(t.bucket_index(t.own_id()), None);
}

#[test]
fn events_about_strangers_allocate_nothing() {
    let (t, mut rng) = table(20);
    for index in [0, 5, 40] {
        let id = t.own_id().random_in_bucket(index, &mut rng);
        assert_eq!(t.on_timeout(&id, mins(1)), TimeoutOutcome::Ignored);
        assert_eq!(t.remove(&id, mins(1)), None);
        assert_eq!(
            t.on_query(NodeInfo::new(id, addr(1)), mins(1), true),
            InsertOutcome::Ignored
        );
    }
    let fresh = RoutingTable::new(*t.own_id(), t.config().clone());
    assert_eq!(t.heap_bytes(), fresh.heap_bytes());
}

#[test]
fn answer_adds_then_updates() {
    let (t, mut rng) = table(2);
    let n = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(n, mins(0)), InsertOutcome::Added);
    assert_eq!(t.on_response(n, mins(5)), InsertOutcome::Updated);
    let e = t.get(&n.id).expect("contact");
    assert_eq!(e.node, n);
    assert_eq!(e.last_seen, mins(5));
    assert_eq!(t.len(), 1);
    assert_eq!(t.bucket_lens(), vec![1]);
    assert_eq!(t.bucket_count(), 1);
    t.check_invariants();
}

#[test]
fn states_follow_bep5() {
    let (t, mut rng) = table(3);
    let n = nodes_in(&t, 2, 1, &mut rng)[0];
    let _ = t.on_response(n, mins(0));
    assert_eq!(t.state(&n.id, mins(14)), Some(NodeState::Good));
    assert_eq!(t.state(&n.id, mins(15)), Some(NodeState::Questionable));
    assert_eq!(t.questionable(mins(15)), vec![n]);
    assert!(t.questionable(mins(14)).is_empty());

    // Answered once and queried us since: good again.
    assert_eq!(t.on_query(n, mins(20), false), InsertOutcome::Updated);
    assert_eq!(t.state(&n.id, mins(34)), Some(NodeState::Good));

    // Failures in a row make it bad; a query does not clear them, an answer does.
    assert_eq!(t.on_timeout(&n.id, mins(21)), TimeoutOutcome::Failed);
    assert_eq!(t.on_timeout(&n.id, mins(21)), TimeoutOutcome::Failed);
    assert_eq!(t.on_query(n, mins(21), false), InsertOutcome::Updated);
    assert_eq!(t.on_timeout(&n.id, mins(22)), TimeoutOutcome::Bad);
    assert_eq!(t.state(&n.id, mins(22)), Some(NodeState::Bad));
    assert_eq!(t.get(&n.id).map(|e| e.failures), Some(3));
    assert!(
        t.closest_vec(&n.id, 8).is_empty(),
        "bad contacts are never returned"
    );
    assert_eq!(t.len(), 1, "a bad contact stays until replaced");

    assert_eq!(t.on_response(n, mins(23)), InsertOutcome::Updated);
    assert_eq!(t.state(&n.id, mins(23)), Some(NodeState::Good));
    assert_eq!(t.closest_vec(&n.id, 8), vec![n]);
    t.check_invariants();
}

#[test]
fn read_only_nodes_are_never_added() {
    let (t, mut rng) = table(4);
    let n = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_query(n, mins(0), true), InsertOutcome::Ignored);
    assert!(t.is_empty());
    let _ = t.on_response(n, mins(0));
    assert_eq!(t.on_query(n, mins(30), true), InsertOutcome::Ignored);
    assert_eq!(t.state(&n.id, mins(30)), Some(NodeState::Questionable));
}

#[test]
fn a_querier_must_answer_before_it_enters() {
    let (t, mut rng) = table(5);
    let n = nodes_in(&t, 1, 1, &mut rng)[0];
    assert_eq!(t.on_query(n, mins(0), false), InsertOutcome::Ping(n));
    assert!(t.is_empty(), "a node that only queried us is not a contact");
    // Asked once: a second query waits for that ping.
    assert_eq!(t.on_query(n, mins(0), false), InsertOutcome::Cached);
    assert_eq!(t.on_response(n, mins(1)), InsertOutcome::Added);
    assert_eq!(t.len(), 1);
    t.check_invariants();

    // A candidate that does not answer is dropped.
    let m = nodes_in(&t, 1, 1, &mut rng)[0];
    assert_eq!(t.on_query(m, mins(2), false), InsertOutcome::Ping(m));
    assert_eq!(t.on_timeout(&m.id, mins(3)), TimeoutOutcome::Dropped);
    assert_eq!(t.on_timeout(&m.id, mins(3)), TimeoutOutcome::Ignored);
    t.check_invariants();
}

#[test]
fn good_contacts_are_never_evicted() {
    let (t, mut rng) = table(6);
    let full = fill(&t, 0, mins(0), &mut rng);
    let newcomer = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(newcomer, mins(1)), InsertOutcome::Cached);
    assert_eq!(
        t.on_query(nodes_in(&t, 0, 1, &mut rng)[0], mins(1), false),
        InsertOutcome::Cached
    );
    let mut ids: Vec<Id> = t.contacts().iter().map(|e| e.node.id).collect();
    let mut want: Vec<Id> = full.iter().map(|n| n.id).collect();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    t.check_invariants();
}

#[test]
fn bad_contacts_are_replaced_first() {
    let (t, mut rng) = table(7);
    let full = fill(&t, 3, mins(0), &mut rng);
    for _ in 0..MAX_FAILURES {
        let _ = t.on_timeout(&full[4].id, mins(1));
    }
    let newcomer = nodes_in(&t, 3, 1, &mut rng)[0];
    assert_eq!(t.on_response(newcomer, mins(2)), InsertOutcome::Added);
    assert!(t.get(&full[4].id).is_none());
    assert!(t.get(&newcomer.id).is_some());
    assert_eq!(t.bucket_lens()[3], K);
    t.check_invariants();
}

#[test]
fn ping_before_evict() {
    let (t, mut rng) = table(8);
    let nodes = nodes_in(&t, 0, K, &mut rng);
    for (i, n) in nodes.iter().enumerate() {
        let _ = t.on_response(*n, mins(i as u64)); // nodes[0] is the stalest
    }
    let now = mins(30); // all questionable now
    let a = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(a, now), InsertOutcome::Ping(nodes[0]));
    assert!(t.get(&a.id).is_none(), "the newcomer waits in the cache");
    // The stalest is already being pinged: the next newcomer pings the next one.
    let b = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(b, now), InsertOutcome::Ping(nodes[1]));
    assert!(
        t.questionable(now).contains(&nodes[0]),
        "maintenance pings it too"
    );

    // nodes[0] fails its ping: the freshest verified candidate takes its place.
    assert_eq!(t.on_timeout(&nodes[0].id, now), TimeoutOutcome::Replaced(b));
    assert!(t.get(&nodes[0].id).is_none());
    assert!(t.get(&b.id).is_some());
    // nodes[1] answers: it stays, and a remains a candidate.
    assert_eq!(t.on_response(nodes[1], now), InsertOutcome::Updated);
    assert_eq!(t.state(&nodes[1].id, now), Some(NodeState::Good));
    assert!(t.get(&a.id).is_none());
    assert_eq!(t.len(), K);
    t.check_invariants();

    // All questionable ones are pinged in turn; then newcomers are just cached.
    for (i, n) in nodes[2..].iter().enumerate() {
        let c = nodes_in(&t, 0, 1, &mut rng)[0];
        assert_eq!(t.on_response(c, now), InsertOutcome::Ping(*n), "ping {i}");
    }
    let late = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(late, now), InsertOutcome::Cached);
    t.check_invariants();
}

#[test]
fn bad_contact_with_only_unverified_candidates_asks_for_a_ping() {
    let (t, mut rng) = table(9);
    let full = fill(&t, 1, mins(0), &mut rng);
    let querier = nodes_in(&t, 1, 1, &mut rng)[0];
    // Full of good contacts: the querier is cached, no ping.
    assert_eq!(t.on_query(querier, mins(1), false), InsertOutcome::Cached);
    let _ = t.on_timeout(&full[0].id, mins(2));
    let _ = t.on_timeout(&full[0].id, mins(2));
    assert_eq!(
        t.on_timeout(&full[0].id, mins(2)),
        TimeoutOutcome::Ping(querier)
    );
    // Its answer replaces the bad contact.
    assert_eq!(t.on_response(querier, mins(3)), InsertOutcome::Added);
    assert!(t.get(&full[0].id).is_none());
    // Another bad one, no candidates left: it just stays bad.
    let _ = t.on_timeout(&full[1].id, mins(4));
    let _ = t.on_timeout(&full[1].id, mins(4));
    assert_eq!(t.on_timeout(&full[1].id, mins(4)), TimeoutOutcome::Bad);
    t.check_invariants();
}

#[test]
fn a_querier_triggers_ping_before_evict_in_a_full_bucket() {
    let (t, mut rng) = table(10);
    let full = fill(&t, 0, mins(0), &mut rng);
    let querier = nodes_in(&t, 0, 1, &mut rng)[0];
    let Some(InsertOutcome::Ping(pinged)) = Some(t.on_query(querier, mins(20), false)) else {
        panic!("expected a ping");
    };
    assert!(full.contains(&pinged));
    // The unverified querier is no replacement: the failed contact stays, bad, and
    // the querier is to be verified.
    assert_eq!(
        t.on_timeout(&pinged.id, mins(20)),
        TimeoutOutcome::Ping(querier)
    );
    assert_eq!(t.state(&pinged.id, mins(20)), Some(NodeState::Bad));
    assert_eq!(t.on_response(querier, mins(21)), InsertOutcome::Added);
    assert!(t.get(&pinged.id).is_none());
    t.check_invariants();
}

#[test]
fn an_unverified_endpoint_never_replaces_a_good_one() {
    let (t, mut rng) = table(11);
    let n = nodes_in(&t, 0, 1, &mut rng)[0];
    let moved = NodeInfo::new(n.id, addr(99));
    let _ = t.on_response(n, mins(0));
    assert_eq!(t.on_query(moved, mins(1), false), InsertOutcome::Ignored);
    assert_eq!(t.on_response(moved, mins(1)), InsertOutcome::Ignored);
    assert_eq!(t.get(&n.id).map(|e| e.node), Some(n));
    // Questionable: a query from elsewhere asks for that endpoint to be verified,
    // and its answer moves the contact.
    assert_eq!(
        t.on_query(moved, mins(20), false),
        InsertOutcome::Ping(moved)
    );
    assert_eq!(t.get(&n.id).map(|e| e.node), Some(n));
    assert_eq!(t.on_response(moved, mins(20)), InsertOutcome::Updated);
    assert_eq!(t.get(&n.id).map(|e| e.node), Some(moved));
    t.check_invariants();
}

#[test]
fn ipv6_endpoints_round_trip() {
    let (t, mut rng) = table(12);
    let id = t.own_id().random_in_bucket(4, &mut rng);
    let v6: SocketAddr = "[2001:db8::1]:6881".parse().expect("addr");
    let v6b: SocketAddr = "[2001:db8::2]:6882".parse().expect("addr");
    assert_eq!(
        t.on_response(NodeInfo::new(id, v6), mins(0)),
        InsertOutcome::Added
    );
    assert_eq!(t.get(&id).map(|e| e.node.addr), Some(v6));
    assert_eq!(t.closest_vec(&id, 1), vec![NodeInfo::new(id, v6)]);
    t.check_invariants();
    let _ = t.on_response(NodeInfo::new(id, v6b), mins(20));
    assert_eq!(t.get(&id).map(|e| e.node.addr), Some(v6b));
    let _ = t.on_response(NodeInfo::new(id, addr(5)), mins(40));
    assert_eq!(t.get(&id).map(|e| e.node.addr), Some(addr(5)));
    t.check_invariants();
    let _ = t.on_response(NodeInfo::new(id, v6), mins(60));
    assert_eq!(t.remove(&id, mins(60)), Some(NodeInfo::new(id, v6)));
    t.check_invariants();
    assert!(t.is_empty());
}

#[test]
fn remove_promotes_a_verified_candidate() {
    let (t, mut rng) = table(13);
    let full = fill(&t, 2, mins(0), &mut rng);
    let unverified = nodes_in(&t, 2, 1, &mut rng)[0];
    let verified = nodes_in(&t, 2, 1, &mut rng)[0];
    assert_eq!(
        t.on_query(unverified, mins(1), false),
        InsertOutcome::Cached
    );
    assert_eq!(t.on_response(verified, mins(1)), InsertOutcome::Cached);
    assert_eq!(t.remove(&full[0].id, mins(2)), Some(full[0]));
    assert!(t.get(&verified.id).is_some());
    assert_eq!(t.bucket_lens()[2], K);
    // The unverified one is never promoted.
    assert_eq!(t.remove(&full[1].id, mins(2)), Some(full[1]));
    assert!(t.get(&unverified.id).is_none());
    assert_eq!(t.bucket_lens()[2], K - 1);
    assert_eq!(t.remove(&unverified.id, mins(2)), Some(unverified));
    assert_eq!(t.remove(&unverified.id, mins(2)), None);
    t.check_invariants();
}

#[test]
fn replacement_cache_is_bounded_and_prefers_verified() {
    let config = RoutingConfig {
        k: 1,
        replacement_cache: 2,
        ..RoutingConfig::default()
    };
    let mut rng = SmallRng::seed_from_u64(14);
    let t = RoutingTable::new(Id::random_with(&mut rng), config);
    let _ = fill_k(&t, 0, 1, &mut rng);
    let v = nodes_in(&t, 0, 2, &mut rng);
    let u = nodes_in(&t, 0, 1, &mut rng)[0];
    let _ = t.on_response(v[0], mins(1));
    let _ = t.on_response(v[1], mins(2));
    // Full of verified candidates: an unverified one is not kept.
    assert_eq!(t.on_query(u, mins(3), false), InsertOutcome::Ignored);
    let newer = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(newer, mins(4)), InsertOutcome::Cached);
    // v[0], the stalest, made room: it is gone.
    assert_eq!(t.on_timeout(&v[0].id, mins(5)), TimeoutOutcome::Ignored);
    t.check_invariants();
}

fn fill_k(t: &RoutingTable, index: usize, k: usize, rng: &mut SmallRng) -> Vec<NodeInfo> {
    let nodes = nodes_in(t, index, k, rng);
    for n in &nodes {
        assert_eq!(t.on_response(*n, Time::ZERO), InsertOutcome::Added);
    }
    nodes
}

#[test]
fn deep_buckets_share_a_group_but_keep_their_own_bounds() {
    let (t, mut rng) = table(15);
    for index in [32, 33, 40, 140] {
        let _ = fill(&t, index, mins(0), &mut rng);
        let extra = nodes_in(&t, index, 1, &mut rng)[0];
        assert_eq!(t.on_response(extra, mins(0)), InsertOutcome::Cached);
    }
    let lens = t.bucket_lens();
    assert_eq!(lens.len(), 141);
    assert_eq!(
        (lens[32], lens[33], lens[40], lens[140], lens[34]),
        (K, K, K, K, 0)
    );
    let target = *t.own_id();
    assert_eq!(t.closest_vec(&target, 20), brute_closest(&t, &target, 20));
    t.check_invariants();
}

#[test]
fn closest_walks_buckets_in_distance_order() {
    let (t, mut rng) = table(16);
    for i in 0..12 {
        let _ = fill(&t, i, mins(0), &mut rng);
    }
    for n in nodes_in(&t, 20, 3, &mut rng) {
        let _ = t.on_response(n, mins(0));
    }
    let mut out = Vec::new();
    for n in [0, 1, 7, 8, 9, 30, 200] {
        for _ in 0..50 {
            let target = Id::random_with(&mut rng);
            t.closest(&target, n, &mut out);
            assert_eq!(out, brute_closest(&t, &target, n));
        }
        let own = *t.own_id();
        t.closest(&own, n, &mut out);
        assert_eq!(out, brute_closest(&t, &own, n));
    }
}

#[test]
fn closest_is_exact_off_the_fast_path() {
    // Ids that agree on all but their last byte tie in the fast path's 60-bit keys.
    let (t, mut rng) = table(21);
    let base = *t.own_id().random_in_bucket(3, &mut rng).as_bytes();
    for last in [7u8, 200, 3, 90, 255, 0, 17, 64] {
        let mut id = base;
        id[19] = last;
        let _ = t.on_response(
            NodeInfo::new(Id::from_bytes(id), addr(last.into())),
            mins(0),
        );
    }
    // And a bucket larger than the fast path's stack arrays.
    let big = RoutingConfig {
        k: 20,
        ..RoutingConfig::default()
    };
    let u = RoutingTable::new(*t.own_id(), big);
    for n in nodes_in(&u, 0, 20, &mut rng) {
        assert_eq!(u.on_response(n, mins(0)), InsertOutcome::Added);
    }
    for _ in 0..50 {
        let mut target = base;
        target[19] = rng.gen();
        let target = Id::from_bytes(target);
        for n in [1, 5, 8] {
            assert_eq!(t.closest_vec(&target, n), brute_closest(&t, &target, n));
        }
        let target = Id::random_with(&mut rng);
        for n in [1, 8, 20, 25] {
            assert_eq!(u.closest_vec(&target, n), brute_closest(&u, &target, n));
        }
    }
}

#[test]
fn buckets_to_refresh_follow_last_changed() {
    let (t, mut rng) = table(17);
    assert!(t.buckets_to_refresh(mins(100), REFRESH_INTERVAL).is_empty());
    let _ = fill(&t, 0, mins(20), &mut rng);
    let _ = fill(&t, 3, mins(20), &mut rng);
    // Buckets 1, 2 and 4 (one past the deepest) never changed.
    assert_eq!(
        t.buckets_to_refresh(mins(30), REFRESH_INTERVAL),
        vec![1, 2, 4]
    );
    assert_eq!(
        t.buckets_to_refresh(mins(35), REFRESH_INTERVAL),
        vec![0, 1, 2, 3, 4]
    );
    // An answer freshens its bucket.
    let any = t.contacts()[0].node;
    let _ = t.on_response(any, mins(35));
    let fresh = t.bucket_index(&any.id).expect("not own");
    assert!(!t
        .buckets_to_refresh(mins(36), REFRESH_INTERVAL)
        .contains(&fresh));
    let target = t.refresh_target(2, &mut rng);
    assert_eq!(t.bucket_index(&target), Some(2));
}

#[test]
fn a_single_group_refreshes_each_bucket_on_its_own_time() {
    // The simulator's layout: every bucket in the one shared group.
    let mut rng = SmallRng::seed_from_u64(19);
    let config = RoutingConfig {
        sharded_buckets: 0,
        ..RoutingConfig::default()
    };
    let t = RoutingTable::new(Id::random_with(&mut rng), config);
    let _ = fill(&t, 0, mins(20), &mut rng);
    let _ = fill(&t, 3, mins(20), &mut rng);
    assert_eq!(
        t.buckets_to_refresh(mins(30), REFRESH_INTERVAL),
        vec![1, 2, 4]
    );
    // Both stale at 35; bucket 3 changes at 36, bucket 0 stays stale although the
    // group as a whole changed (one shared time would hide it).
    assert_eq!(
        t.buckets_to_refresh(mins(35), REFRESH_INTERVAL),
        vec![0, 1, 2, 3, 4]
    );
    let in_3 = t
        .contacts()
        .into_iter()
        .find(|e| t.bucket_index(&e.node.id) == Some(3))
        .expect("bucket 3 is full");
    let _ = t.on_response(in_3.node, mins(36));
    assert_eq!(
        t.buckets_to_refresh(mins(40), REFRESH_INTERVAL),
        vec![0, 1, 2, 4]
    );
    // A newcomer in a never-used bucket freshens that bucket alone.
    let _ = fill(&t, 7, mins(41), &mut rng);
    assert_eq!(
        t.buckets_to_refresh(mins(42), REFRESH_INTERVAL),
        vec![0, 1, 2, 4, 5, 6, 8]
    );
    assert!(t.heap_bytes() >= 8 * std::mem::size_of::<u32>());
    t.check_invariants();
}

#[test]
fn a_node_heard_of_is_pinged_once_when_its_bucket_is_empty() {
    for sharded_buckets in [0, DEEP_BUCKETS] {
        let mut rng = SmallRng::seed_from_u64(20);
        let config = RoutingConfig {
            sharded_buckets,
            ..RoutingConfig::default()
        };
        let t = RoutingTable::new(Id::random_with(&mut rng), config);
        let _ = fill(&t, 0, mins(0), &mut rng);
        // Bucket 0 has contacts: nothing to do.
        let full = nodes_in(&t, 0, 1, &mut rng)[0];
        assert_eq!(t.on_heard(full, mins(1)), InsertOutcome::Ignored);
        // Bucket 2 is empty: ping the first node heard of, and only it meanwhile.
        let empty = nodes_in(&t, 2, 2, &mut rng);
        assert_eq!(t.on_heard(empty[0], mins(1)), InsertOutcome::Ping(empty[0]));
        assert_eq!(t.on_heard(empty[0], mins(1)), InsertOutcome::Ignored);
        assert_eq!(t.on_heard(empty[1], mins(1)), InsertOutcome::Ignored);
        assert_eq!(t.get(&empty[0].id), None, "heard of is not heard from");
        // Its answer adds it; a timeout instead frees the bucket for the next one.
        assert_eq!(t.on_response(empty[0], mins(2)), InsertOutcome::Added);
        assert_eq!(t.on_heard(empty[1], mins(2)), InsertOutcome::Ignored);
        let other = nodes_in(&t, 5, 2, &mut rng);
        assert_eq!(t.on_heard(other[0], mins(3)), InsertOutcome::Ping(other[0]));
        assert_eq!(t.on_timeout(&other[0].id, mins(3)), TimeoutOutcome::Dropped);
        assert_eq!(t.on_heard(other[1], mins(3)), InsertOutcome::Ping(other[1]));
        let own = NodeInfo::new(*t.own_id(), addr(1));
        assert_eq!(t.on_heard(own, mins(3)), InsertOutcome::Ignored);
        t.check_invariants();
    }
}

#[test]
fn config_knobs_apply() {
    let config = RoutingConfig {
        k: 2,
        max_failures: 1,
        replacement_cache: 0,
        good_window: Duration::from_secs(60),
        enforce_bep42: false,
        sharded_buckets: DEEP_BUCKETS,
    };
    let mut rng = SmallRng::seed_from_u64(18);
    let t = RoutingTable::new(Id::random_with(&mut rng), config.clone());
    let nodes = nodes_in(&t, 0, 3, &mut rng);
    assert_eq!(t.on_response(nodes[0], mins(0)), InsertOutcome::Added);
    assert_eq!(t.on_response(nodes[1], mins(0)), InsertOutcome::Added);
    assert_eq!(
        t.on_response(nodes[2], mins(0)),
        InsertOutcome::Ignored,
        "no cache"
    );
    assert_eq!(
        t.state(&nodes[0].id, mins(1)),
        Some(NodeState::Questionable)
    );
    assert_eq!(t.on_timeout(&nodes[0].id, mins(1)), TimeoutOutcome::Bad);
    let e = t.get(&nodes[0].id).expect("still there");
    assert_eq!(e.state(mins(1), &config), NodeState::Bad);
    assert_eq!(t.on_response(nodes[2], mins(1)), InsertOutcome::Added);
    t.check_invariants();
}

// ---------------------------------------------------------------------------------
// BEP 42

/// A public address for node `n` (44.0.0.0/8 is routed, not exempt).
fn public_addr(n: u32) -> SocketAddr {
    SocketAddr::from(([44, (n >> 16) as u8, (n >> 8) as u8, n as u8], 6881))
}

/// `count` nodes in bucket `index` of `t` at public addresses, with random ids:
/// they do not conform to BEP 42 (but with probability 2^-21 each).
fn public_nodes_in(
    t: &RoutingTable,
    index: usize,
    count: usize,
    rng: &mut SmallRng,
) -> Vec<NodeInfo> {
    (0..count)
        .map(|_| {
            let id = t.own_id().random_in_bucket(index, rng);
            let node = NodeInfo::new(id, public_addr(rng.gen()));
            assert!(!bep42::id_conforms(&node.id, node.addr.ip()));
            node
        })
        .collect()
}

/// A node at a public address whose id conforms to BEP 42 and falls in bucket
/// `index` of `t` (`index` small: about one try in 2^(index+1) lands there).
fn conforming_in(t: &RoutingTable, index: usize, rng: &mut SmallRng) -> NodeInfo {
    loop {
        let a = public_addr(rng.gen());
        let node = NodeInfo::new(bep42::node_id_for(a.ip(), rng), a);
        if t.bucket_index(&node.id) == Some(index) {
            return node;
        }
    }
}

fn small_table(seed: u64, k: usize, enforce_bep42: bool) -> (RoutingTable, SmallRng) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let config = RoutingConfig {
        k,
        enforce_bep42,
        ..RoutingConfig::default()
    };
    (RoutingTable::new(Id::random_with(&mut rng), config), rng)
}

#[test]
fn a_conforming_newcomer_displaces_the_worst_non_conforming_contact() {
    let (t, mut rng) = small_table(30, 2, false);
    let old = public_nodes_in(&t, 0, 2, &mut rng);
    assert_eq!(t.on_response(old[0], mins(0)), InsertOutcome::Added);
    assert_eq!(t.on_response(old[1], mins(1)), InsertOutcome::Added);
    // Both are good: a non-conforming newcomer only waits in the cache.
    let other = public_nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(other, mins(2)), InsertOutcome::Cached);
    // A conforming one takes the stalest non-conforming contact's place.
    let good = conforming_in(&t, 0, &mut rng);
    assert_eq!(t.on_response(good, mins(2)), InsertOutcome::Added);
    assert!(t.get(&old[0].id).is_none(), "the stalest one went");
    assert!(t.get(&old[1].id).is_some());
    assert!(t.get(&good.id).is_some());
    // A second conforming newcomer displaces the last non-conforming contact...
    let good2 = conforming_in(&t, 0, &mut rng);
    assert_eq!(t.on_response(good2, mins(3)), InsertOutcome::Added);
    assert!(t.get(&old[1].id).is_none());
    // ...and a third finds only conforming good contacts: BEP 5 rules again.
    let good3 = conforming_in(&t, 0, &mut rng);
    assert_eq!(t.on_response(good3, mins(3)), InsertOutcome::Cached);
    assert_eq!(t.bucket_lens()[0], 2);
    t.check_invariants();
}

#[test]
fn local_contacts_count_as_conforming() {
    // Private addresses are exempt: a conforming public newcomer does not displace
    // a contact at 10.x with a random id.
    let (t, mut rng) = small_table(31, 2, false);
    let local = nodes_in(&t, 0, 2, &mut rng);
    for n in &local {
        assert_eq!(t.on_response(*n, mins(0)), InsertOutcome::Added);
    }
    let good = conforming_in(&t, 0, &mut rng);
    assert_eq!(t.on_response(good, mins(1)), InsertOutcome::Cached);
    assert!(local.iter().all(|n| t.get(&n.id).is_some()));
    t.check_invariants();
}

#[test]
fn a_conforming_querier_is_pinged_to_take_a_non_conforming_place() {
    let (t, mut rng) = small_table(32, 2, false);
    let old = public_nodes_in(&t, 0, 2, &mut rng);
    for n in &old {
        assert_eq!(t.on_response(*n, mins(0)), InsertOutcome::Added);
    }
    let stranger = public_nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(
        t.on_query(stranger, mins(1), false),
        InsertOutcome::Cached,
        "no room for a non-conforming querier"
    );
    let good = conforming_in(&t, 0, &mut rng);
    assert_eq!(
        t.on_query(good, mins(1), false),
        InsertOutcome::Ping(good),
        "a conforming querier is verified"
    );
    assert_eq!(t.on_response(good, mins(1)), InsertOutcome::Added);
    assert!(t.get(&good.id).is_some());
    assert_eq!(t.bucket_lens()[0], 2);
    t.check_invariants();
}

#[test]
fn replacement_prefers_a_conforming_candidate() {
    let (t, mut rng) = small_table(33, 1, false);
    let local = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(local, mins(0)), InsertOutcome::Added);
    // Both candidates answered; the non-conforming one more recently.
    let good = conforming_in(&t, 0, &mut rng);
    let other = public_nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(good, mins(1)), InsertOutcome::Cached);
    assert_eq!(t.on_response(other, mins(2)), InsertOutcome::Cached);
    let mut last = TimeoutOutcome::Ignored;
    for _ in 0..MAX_FAILURES {
        last = t.on_timeout(&local.id, mins(3));
    }
    assert_eq!(last, TimeoutOutcome::Replaced(good));
    t.check_invariants();
}

#[test]
fn enforcement_keeps_non_conforming_public_nodes_out() {
    let (t, mut rng) = small_table(34, K, true);
    let bad = public_nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(bad, mins(0)), InsertOutcome::Ignored);
    assert_eq!(t.on_query(bad, mins(0), false), InsertOutcome::Ignored);
    assert!(t.is_empty());
    let good = conforming_in(&t, 0, &mut rng);
    assert_eq!(t.on_response(good, mins(0)), InsertOutcome::Added);
    // Local addresses are exempt, even under enforcement.
    let local = nodes_in(&t, 0, 1, &mut rng)[0];
    assert_eq!(t.on_response(local, mins(0)), InsertOutcome::Added);
    // A contact does not move to an endpoint its id does not conform to.
    let moved = NodeInfo::new(good.id, public_addr(7));
    assert!(!bep42::id_conforms(&moved.id, moved.addr.ip()));
    assert_eq!(t.on_response(moved, mins(30)), InsertOutcome::Ignored);
    assert_eq!(t.get(&good.id).map(|e| e.node), Some(good));
    let mut answer = t.closest_vec(&bad.id, K);
    answer.sort_by_key(|n| n.id);
    let mut want = vec![good, local];
    want.sort_by_key(|n| n.id);
    assert_eq!(answer, want);
    t.check_invariants();
}

// ---------------------------------------------------------------------------------
// Property tests

#[derive(Clone, Debug)]
enum Op {
    Response(usize),
    Query(usize, bool),
    Timeout(usize),
    Remove(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..1000).prop_map(Op::Response),
        2 => (0usize..1000, any::<bool>()).prop_map(|(i, ro)| Op::Query(i, ro)),
        3 => (0usize..1000).prop_map(Op::Timeout),
        1 => (0usize..1000).prop_map(Op::Remove),
        1 => (1u64..20).prop_map(Op::Advance),
    ]
}

fn config() -> impl Strategy<Value = RoutingConfig> {
    prop_oneof![
        Just(RoutingConfig::default()),
        (
            1usize..=4,
            0usize..=3,
            1u8..=3,
            any::<bool>(),
            prop_oneof![Just(0usize), Just(3), Just(DEEP_BUCKETS)]
        )
            .prop_map(
                |(k, cache, fails, enforce_bep42, sharded_buckets)| RoutingConfig {
                    k,
                    replacement_cache: cache,
                    max_failures: fails,
                    good_window: GOOD_WINDOW,
                    enforce_bep42,
                    sharded_buckets,
                }
            ),
    ]
}

/// A pool of ids for a table owned by `own`: random ones (mostly in the shallow
/// buckets), ones in chosen buckets near and far (deep group included), and the own
/// id itself; endpoints are IPv4 with a few IPv6, and a few ids get two endpoints.
/// Most endpoints are private (every id conforms to BEP 42 there); the IPv6 ones
/// and a few public IPv4 ones are not, and half of the latter get conforming ids.
fn pool(own: &Id, rng: &mut SmallRng) -> Vec<NodeInfo> {
    let mut pool = Vec::new();
    for i in 0..60u32 {
        let id = match i % 4 {
            0 | 1 => Id::random_with(rng),
            2 => own.random_in_bucket(rng.gen_range(0..12), rng),
            _ => own.random_in_bucket(rng.gen_range(28..48), rng),
        };
        let (id, a) = match i % 10 {
            9 => (
                id,
                SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16], 6881)),
            ),
            4 => {
                let a = SocketAddr::from(([44, 1, 2, i as u8], 6881));
                let id = if i % 20 == 4 {
                    bep42::node_id_for(a.ip(), rng)
                } else {
                    id
                };
                (id, a)
            }
            _ => (id, addr(i)),
        };
        pool.push(NodeInfo::new(id, a));
        if i % 15 == 14 {
            pool.push(NodeInfo::new(id, addr(1000 + i)));
        }
    }
    pool.push(NodeInfo::new(*own, addr(7777)));
    pool
}

fn apply(t: &RoutingTable, pool: &[NodeInfo], ops: &[Op]) {
    let mut now = Time::ZERO;
    for op in ops {
        match *op {
            Op::Response(i) => {
                let _ = t.on_response(pool[i % pool.len()], now);
            }
            Op::Query(i, ro) => {
                let _ = t.on_query(pool[i % pool.len()], now, ro);
            }
            Op::Timeout(i) => {
                let _ = t.on_timeout(&pool[i % pool.len()].id, now);
            }
            Op::Remove(i) => {
                let _ = t.remove(&pool[i % pool.len()].id, now);
            }
            Op::Advance(m) => now += Duration::from_secs(m * 60),
        }
        t.check_invariants();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// closest() equals a brute-force sort of every non-bad contact.
    #[test]
    fn closest_matches_brute_force(
        own in any::<[u8; 20]>(),
        seed: u64,
        config in config(),
        ops in proptest::collection::vec(op(), 0..300),
        targets in proptest::collection::vec((any::<[u8; 20]>(), 0usize..=20, 0u8..4), 1..20),
    ) {
        let own = Id::from_bytes(own);
        let mut rng = SmallRng::seed_from_u64(seed);
        let pool = pool(&own, &mut rng);
        let t = RoutingTable::new(own, config);
        apply(&t, &pool, &ops);
        let mut out = Vec::new();
        for (bytes, n, kind) in targets {
            let target = match kind {
                0 => Id::from_bytes(bytes),
                1 => own,
                2 => pool[usize::from(bytes[0]) % pool.len()].id,
                _ => own.random_in_bucket(usize::from(bytes[0]) % 50, &mut rng),
            };
            t.closest(&target, n, &mut out);
            prop_assert_eq!(&out, &brute_closest(&t, &target, n));
        }
    }

    /// No bucket ever holds more than k contacts, and the own id is never in it,
    /// whatever the events (checked after every event by `check_invariants`).
    #[test]
    fn buckets_never_exceed_k_and_own_id_stays_out(
        own in any::<[u8; 20]>(),
        seed: u64,
        config in config(),
        ops in proptest::collection::vec(op(), 0..400),
    ) {
        let own = Id::from_bytes(own);
        let mut rng = SmallRng::seed_from_u64(seed);
        let pool = pool(&own, &mut rng);
        let k = config.k;
        let t = RoutingTable::new(own, config);
        apply(&t, &pool, &ops);
        prop_assert!(t.bucket_lens().iter().all(|&l| l <= k));
        prop_assert!(t.contacts().iter().all(|e| e.node.id != own));
        prop_assert!(t.get(&own).is_none());
        prop_assert_eq!(t.len(), t.contacts().len());
        prop_assert_eq!(t.is_empty(), t.contacts().is_empty());
    }
}

#[test]
fn concurrent_inserts_and_queries_keep_the_invariants() {
    let (t, _) = table(19);
    let t = Arc::new(t);
    let threads: Vec<_> = (0..4u64)
        .map(|seed| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut out = Vec::new();
                for i in 0..20_000u32 {
                    let now = Time::from_millis(u64::from(i) * 100);
                    let id = if i % 3 == 0 {
                        t.own_id().random_in_bucket(rng.gen_range(0..40), &mut rng)
                    } else {
                        Id::random_with(&mut rng)
                    };
                    let node = NodeInfo::new(id, addr(rng.gen()));
                    match i % 5 {
                        0 | 1 => {
                            let _ = t.on_response(node, now);
                        }
                        2 => {
                            let _ = t.on_query(node, now, false);
                        }
                        3 => {
                            if let Some(e) = t.contacts().get(rng.gen_range(0..t.len().max(1))) {
                                let _ = t.on_timeout(&e.node.id, now);
                            }
                        }
                        _ => {
                            t.closest(&id, 8, &mut out);
                            assert!(out.len() <= 8);
                            assert!(out
                                .windows(2)
                                .all(|w| w[0].id.distance(&id) < w[1].id.distance(&id)));
                        }
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().expect("thread panicked");
    }
    t.check_invariants();
    assert!(t.bucket_lens().iter().all(|&l| l <= K));
    let mut rng = SmallRng::seed_from_u64(99);
    for _ in 0..100 {
        let target = Id::random_with(&mut rng);
        assert_eq!(t.closest_vec(&target, 8), brute_closest(&t, &target, 8));
    }
}

#[test]
fn table_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RoutingTable>();
}
