//! Subscriptions in the simulator under churn: 1,000 of the very same sans-I/O nodes
//! the UDP driver runs, nodes crashing and being replaced all along (median session
//! 20 minutes), and on top of that the storing nodes that hold the most
//! subscriptions crashed halfway. 40 subscribers follow one mutable item through 12
//! versions; every subscriber still up must see every version, in order, soon after
//! its put, and the subscribers of the crashed storing nodes must have subscribed
//! elsewhere. Prints the delivery latencies (`--nocapture`).
//!
//! A few seconds in a debug build.

use std::collections::HashMap;
use std::time::Duration;

use dipsea::sim::Churn;
use dipsea::{Keypair, Swarm, SwarmConfig};

const NODES: usize = 1_000;
const SUBSCRIBERS: usize = 40;
const VERSIONS: i64 = 12;
/// Virtual time between two versions.
const BETWEEN: Duration = Duration::from_secs(30);

#[test]
fn subscribers_follow_an_item_through_churn() {
    let mut config = SwarmConfig {
        nodes: NODES,
        seed: 50,
        ..SwarmConfig::default()
    };
    config.node.subscribe.lease = Duration::from_secs(60);
    let mut swarm = Swarm::new(config).expect("a valid configuration");
    let key = Keypair::from_seed(&[50; 32]);
    let target = key.target(b"news");

    // Subscribers: live nodes, none of the closest to the target.
    let mut by_distance: Vec<usize> = (0..swarm.len()).filter(|&i| swarm.is_live(i)).collect();
    by_distance.sort_by_key(|&i| swarm.node(i).map(|n| n.id().distance(&target)));
    let subscribers: Vec<usize> = by_distance[20..]
        .iter()
        .step_by(20)
        .take(SUBSCRIBERS)
        .copied()
        .collect();
    assert_eq!(subscribers.len(), SUBSCRIBERS);
    for &s in &subscribers {
        let asked = swarm
            .subscribe_from(s, &key.public_key(), b"news")
            .expect("subscribe");
        assert!(!asked.is_empty(), "node {s} found no storing node to ask");
    }
    swarm.set_churn(Some(Churn {
        median_session: Duration::from_secs(20 * 60),
        replace: true,
    }));

    let mut put_at = HashMap::new();
    let mut latencies = Vec::new();
    let mut last_seen: HashMap<usize, i64> = HashMap::new();
    for seq in 1..=VERSIONS {
        if seq == VERSIONS / 2 + 1 {
            // Crash the two storing nodes that hold the most subscriptions.
            let mut holders: Vec<(usize, usize)> = (0..swarm.len())
                .filter(|&i| swarm.is_live(i))
                .filter_map(|i| Some((swarm.node(i)?.stats().subscriptions_held, i)))
                .filter(|&(held, _)| held > 0)
                .collect();
            holders.sort_unstable_by(|a, b| b.cmp(a));
            assert!(holders.len() >= 2, "{holders:?}");
            for &(_, i) in &holders[..2] {
                swarm.crash_node(i);
            }
        }
        let publisher = swarm.random_live().expect("a live node");
        put_at.insert(seq, swarm.now());
        swarm
            .put_mutable_from(publisher, &key, b"news", format!("v{seq}").as_bytes(), seq)
            .expect("put");
        swarm.advance(BETWEEN);
        for d in swarm.take_updates() {
            let last = last_seen.entry(d.node).or_insert(0);
            assert!(
                d.seq > *last,
                "node {} got {} after {}",
                d.node,
                d.seq,
                *last
            );
            *last = d.seq;
            if let Some(&at) = put_at.get(&d.seq) {
                latencies.push(d.at.since(at));
            }
        }
        let live: Vec<usize> = subscribers
            .iter()
            .copied()
            .filter(|&s| swarm.is_live(s))
            .collect();
        let behind: Vec<usize> = live
            .iter()
            .copied()
            .filter(|s| last_seen.get(s).copied().unwrap_or(0) < seq)
            .collect();
        assert!(
            behind.is_empty(),
            "version {seq}: {} of {} live subscribers missed it: {behind:?}",
            behind.len(),
            live.len()
        );
    }
    latencies.sort_unstable();
    let median = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    let live = subscribers.iter().filter(|&&s| swarm.is_live(s)).count();
    let resubscribes: u64 = subscribers
        .iter()
        .filter_map(|&s| swarm.node(s))
        .map(|n| n.stats().resubscribes)
        .sum();
    println!(
        "{} deliveries to {live} live subscribers of {SUBSCRIBERS}; from the put's start: \
         median {median:?}, max {max:?} (virtual); {resubscribes} storing nodes replaced",
        latencies.len()
    );
    assert!(
        live >= SUBSCRIBERS / 2,
        "churn took {} subscribers",
        SUBSCRIBERS - live
    );
    assert!(
        resubscribes > 0,
        "no subscriber replaced a crashed storing node"
    );
    assert!(max < Duration::from_secs(5), "a delivery took {max:?}");
}
