//! Subscriptions in the simulator under churn: 1,000 of the very same sans-I/O nodes
//! the UDP driver runs, nodes crashing and being replaced all along (median session
//! 20 minutes), and on top of that the storing nodes that hold the most
//! subscriptions crashed halfway. 40 subscribers follow one mutable item through 12
//! versions; every subscriber still up must see every version, in order, soon after
//! its put, and the subscribers of the crashed storing nodes must have subscribed
//! elsewhere. The same for 40 subscribers of an info-hash's peers through 12
//! announcements: each live subscriber sees each peer once. Prints the delivery
//! latencies (`--nocapture`).
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

/// SUBSCRIBERS live nodes spread by distance from `target`, none of the closest 20
/// (the storing nodes).
fn subscribers_far_from(swarm: &Swarm, target: &dipsea::Id) -> Vec<usize> {
    let mut by_distance: Vec<usize> = (0..swarm.len()).filter(|&i| swarm.is_live(i)).collect();
    by_distance.sort_by_key(|&i| swarm.node(i).map(|n| n.id().distance(target)));
    let subscribers: Vec<usize> = by_distance[20..]
        .iter()
        .step_by(20)
        .take(SUBSCRIBERS)
        .copied()
        .collect();
    assert_eq!(subscribers.len(), SUBSCRIBERS);
    subscribers
}

/// Crashes the two storing nodes that hold the most subscriptions.
fn crash_the_busiest_holders(swarm: &mut Swarm) {
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

/// Storing nodes the subscribers replaced (renewal refused or unanswered).
fn resubscribes(swarm: &Swarm, subscribers: &[usize]) -> u64 {
    subscribers
        .iter()
        .filter_map(|&s| swarm.node(s))
        .map(|n| n.stats().resubscribes)
        .sum()
}

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

    let subscribers = subscribers_far_from(&swarm, &target);
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
            crash_the_busiest_holders(&mut swarm);
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
    let resubscribes = resubscribes(&swarm, &subscribers);
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

/// Peers of an info-hash announced over time reach every subscriber still up, each
/// peer once, through the same churn and the same crash of the busiest storing nodes.
#[test]
fn subscribers_follow_an_info_hashs_peers_through_churn() {
    const ANNOUNCES: usize = 12;
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: NODES,
        seed: 51,
        ..SwarmConfig::default()
    })
    .expect("a valid configuration");
    let info_hash = dipsea::Id::sha1(b"a torrent");
    let subscribers = subscribers_far_from(&swarm, &info_hash);
    for &s in &subscribers {
        let asked = swarm.subscribe_peers_from(s, info_hash).expect("subscribe");
        assert!(!asked.is_empty(), "node {s} found no storing node to ask");
    }
    swarm.set_churn(Some(Churn {
        median_session: Duration::from_secs(20 * 60),
        replace: true,
    }));
    let mut announced = Vec::new();
    let mut seen: HashMap<usize, Vec<std::net::SocketAddr>> = HashMap::new();
    let mut latencies = Vec::new();
    for round in 0..ANNOUNCES {
        if round == ANNOUNCES / 2 {
            crash_the_busiest_holders(&mut swarm);
        }
        let announcer = swarm.random_live().expect("a live node");
        let peer = swarm.addr(announcer);
        let at = swarm.now();
        let stored = swarm
            .announce_from(announcer, info_hash, None)
            .expect("announce");
        assert!(stored > 0);
        announced.push(peer);
        swarm.advance(BETWEEN);
        for d in swarm.take_peer_updates() {
            assert_eq!(d.info_hash, info_hash);
            let got = seen.entry(d.node).or_default();
            assert!(
                !got.contains(&d.peer),
                "node {} got {} twice",
                d.node,
                d.peer
            );
            got.push(d.peer);
            if d.peer == peer {
                latencies.push(d.at.since(at));
            }
        }
        let behind: Vec<usize> = subscribers
            .iter()
            .copied()
            .filter(|&s| swarm.is_live(s))
            .filter(|s| !seen.get(s).is_some_and(|got| got.contains(&peer)))
            .collect();
        assert!(
            behind.is_empty(),
            "peer {round}: {} live subscribers missed it: {behind:?}",
            behind.len()
        );
    }
    latencies.sort_unstable();
    let max = latencies[latencies.len() - 1];
    let live = subscribers.iter().filter(|&&s| swarm.is_live(s)).count();
    println!(
        "{} peer deliveries to {live} live subscribers of {SUBSCRIBERS}; from the announce's \
         start: median {:?}, max {max:?} (virtual)",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    assert!(
        live >= SUBSCRIBERS / 2,
        "churn took {} subscribers",
        SUBSCRIBERS - live
    );
    assert!(max < Duration::from_secs(5), "a delivery took {max:?}");
    assert!(
        resubscribes(&swarm, &subscribers) > 0,
        "no subscriber replaced a crashed storing node"
    );
}
