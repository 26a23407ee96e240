//! Broadcast and key-range multicast in the simulator: 10,000 of the very same
//! sans-I/O nodes the UDP driver runs, built by real joins, every node accepting
//! broadcasts of one origin key. Checks coverage and message counts on a static
//! network, under 10% packet loss, right after 30% of the nodes crashed, and for a
//! multicast to 1/256 of the key space. Prints each report (`--nocapture`).
//!
//! Message counts are broadcast datagrams (hand-offs and their retries);
//! acknowledgements and the lookup into a range are reported apart. Depth is the
//! hops from the origin to a delivering node (the most, and the mean).
//!
//! About 25 s in a debug build on a loaded 2-core machine. The same scenarios at
//! 1,000,000 nodes (or any size: `SIM_NODES`) with beta 1 to 3 are in
//! `benches/broadcast.rs` (`cargo bench -p dipsea-benches --bench broadcast`).

use std::collections::HashSet;
use std::time::Duration;

use dipsea::push::{AcceptPolicy, Broadcast, KeyRange, SigningKey};
use dipsea::{BroadcastReport, Swarm, SwarmConfig};

const NODES: usize = 10_000;
/// Virtual time a broadcast is given to spread: far beyond its depth times the
/// largest query timeout.
const SETTLE: Duration = Duration::from_secs(60);

fn origin_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn build(seed: u64) -> Swarm {
    let mut config = SwarmConfig {
        nodes: NODES,
        seed,
        ..SwarmConfig::default()
    };
    let origin = origin_key().verifying_key().to_bytes();
    config.node.broadcast.accept = AcceptPolicy::Allowed(HashSet::from([origin]));
    let mut swarm = Swarm::new(config).expect("a valid configuration");
    // The tree covers every node when each table knows a node in every non-empty
    // sibling subtree (Kademlia's invariant). Joins alone leave gaps in the middle
    // buckets of late joiners; the bucket refresh (BEP 5: every 15 minutes) fills
    // them, as it does in a network that has run for a while.
    swarm.advance(Duration::from_secs(20 * 60));
    swarm
}

fn broadcast(swarm: &mut Swarm, seq: i64, range: KeyRange, beta: usize) -> BroadcastReport {
    let b = Broadcast::sign(&origin_key(), seq, range, b"hello, everyone").expect("signed");
    let from = swarm.random_live().expect("a live node");
    let report = swarm.broadcast_from(from, b, beta, SETTLE);
    println!("seq {seq}, range {range}, beta {beta}: {report:?}");
    report
}

#[test]
fn broadcast_scenarios() {
    let mut swarm = build(16);

    // Static network, beta = 1: every node once, at most N messages, in about
    // log2 N hops (13.3 for 10,000 nodes; the mean about half that).
    let r = broadcast(&mut swarm, 1, KeyRange::ALL, 1);
    assert_eq!(r.delivered, r.in_range, "{r:?}");
    assert!(r.messages <= NODES as u64, "{r:?}");
    assert!((10..=20).contains(&r.max_depth), "{r:?}");
    assert!(r.mean_depth > 4.0 && r.mean_depth < 10.0, "{r:?}");

    // Multicast to 1/256 of the key space (about 40 of 10,000 nodes): every node in
    // the range, at most 2% of the broadcast messages elsewhere.
    let prefix = swarm.node(0).expect("node 0").id().as_bytes()[0];
    let range = KeyRange::from_hex(&format!("{prefix:02x}")).expect("range");
    let r = broadcast(&mut swarm, 2, range, 1);
    assert!(r.in_range > 10, "{r:?}");
    assert_eq!(r.delivered, r.in_range, "{r:?}");
    // Hop 1 is the hand-off into the range; about log2 40 more inside it.
    assert!((2..=12).contains(&r.max_depth), "{r:?}");
    assert!(r.messages_elsewhere * 50 <= r.messages, "{r:?}");

    // 10% packet loss, beta = 2: at least 99.9% coverage.
    swarm.set_loss(0.1).expect("a valid loss");
    let r = broadcast(&mut swarm, 3, KeyRange::ALL, 2);
    assert!(r.coverage >= 0.999, "{r:?}");
    swarm.set_loss(0.0).expect("a valid loss");

    // Right after 30% of the nodes crashed (before tables repair), beta = 2: at
    // least 99.5% of the live nodes, at most 2.5 N messages.
    swarm.crash(0.3).expect("a valid fraction");
    let r = broadcast(&mut swarm, 4, KeyRange::ALL, 2);
    assert!(r.coverage >= 0.995, "{r:?}");
    assert!(r.messages * 10 <= 25 * NODES as u64, "{r:?}");
}

/// A subtree whose every contact known to the node responsible for it crashed, with
/// no deeper contact to hand it to instead: the node looks the subtree's live nodes
/// up and hands it to them. (Nodes look up only subtrees expected to hold at least
/// k nodes by their size estimate: bucket 6 of 2,000 nodes, about 16.)
#[test]
fn an_uncovered_subtree_is_found_by_a_lookup() {
    const BUCKET: usize = 6;
    let mut config = SwarmConfig {
        nodes: 2_000,
        seed: 5,
        ..SwarmConfig::default()
    };
    let origin = origin_key().verifying_key().to_bytes();
    config.node.broadcast.accept = AcceptPolicy::Allowed(HashSet::from([origin]));
    let mut swarm = Swarm::new(config).expect("a valid configuration");
    swarm.advance(Duration::from_secs(20 * 60));

    // A node that knows some, not all, of the live nodes of its bucket 6.
    let live: Vec<usize> = swarm.live_nodes().iter().map(|&i| i as usize).collect();
    let found = live.iter().find_map(|&o| {
        let own = swarm.node(o)?.id();
        let contacts = swarm.node(o)?.routing().contacts();
        let known = |x: usize| {
            let id = swarm.node(x).map(|n| n.id());
            contacts.iter().any(|e| Some(e.node.id) == id)
        };
        let (inside, deeper): (Vec<usize>, Vec<usize>) = live
            .iter()
            .copied()
            .filter(|&x| {
                swarm
                    .node(x)
                    .is_some_and(|n| x != o && own.common_prefix_len(&n.id()) >= BUCKET)
            })
            .partition(|&x| {
                swarm
                    .node(x)
                    .is_some_and(|n| own.common_prefix_len(&n.id()) == BUCKET)
            });
        let (known_inside, unknown): (Vec<usize>, Vec<usize>) =
            inside.into_iter().partition(|&x| known(x));
        let known_deeper = deeper.into_iter().filter(|&x| known(x));
        let crash: Vec<usize> = known_inside.iter().copied().chain(known_deeper).collect();
        (!known_inside.is_empty() && !unknown.is_empty()).then_some((o, crash, unknown))
    });
    let (from, crash, unknown) = found.expect("such a node among 2,000");
    // Every contact it has in bucket 6 and deeper: none is left to rescue through.
    for &k in &crash {
        swarm.crash_node(k);
    }

    let b = Broadcast::sign(&origin_key(), 1, KeyRange::ALL, b"found").expect("signed");
    let r = swarm.broadcast_from(from, b, 1, SETTLE);
    println!("{} crashed, {} unknown: {r:?}", crash.len(), unknown.len());
    for &u in &unknown {
        let delivered = swarm.node(u).expect("live").broadcast_stats().delivered;
        assert_eq!(delivered, 1, "node {u} of the uncovered subtree");
    }
    let stats = swarm.node(from).expect("the origin").broadcast_stats();
    assert!(stats.looked_up >= 1, "{stats:?}");
    assert!(stats.lookup_queries >= 1, "{stats:?}");
}
