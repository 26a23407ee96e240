//! BEP 33 scrapes, BEP 51 samples and the network size estimate on simulated
//! networks where the truth is known: how many seeds and peers announced, which
//! info-hashes were announced, how many nodes there are.

use std::collections::HashSet;

use dipsea::{Id, Swarm, SwarmConfig};

fn build(nodes: usize, seed: u64) -> Swarm {
    Swarm::new(SwarmConfig {
        nodes,
        seed,
        ..SwarmConfig::default()
    })
    .expect("a valid swarm config")
}

/// Three standard errors of BEP 33's estimate of `n` distinct IPs in a 2048-bit
/// filter with two bits each: with t = k·n/m, Var(n̂) ≈ m·(e^t − t − 1)/k²
/// (the linear-counting variance, Whang et al. 1990, with k bits per entry).
fn three_sigma(n: f64) -> f64 {
    let (m, k) = (2048.0f64, 2.0f64);
    let t = k * n / m;
    3.0 * (m * (t.exp() - t - 1.0) / (k * k)).sqrt()
}

#[test]
fn a_scrape_counts_the_seeds_and_peers_that_announced() {
    let mut swarm = build(300, 11);
    let info_hash = Id::sha1(b"scraped torrent");
    // 30 peers announce, the first 10 as seeds; each from its own IP.
    let (true_seeds, true_peers) = (10usize, 20usize);
    for node in 0..true_seeds + true_peers {
        let stored = swarm
            .announce_as_from(node, info_hash, Some(6881), node < true_seeds)
            .expect("announced");
        assert!(stored > 0);
    }
    let estimate = swarm.scrape_from(200, info_hash).expect("scraped");
    let (seed_bound, peer_bound) = (
        three_sigma(true_seeds as f64),
        three_sigma(true_peers as f64),
    );
    println!(
        "scrape: {:.2} seeds (true {true_seeds}, bound ±{seed_bound:.2}), {:.2} peers \
         (true {true_peers}, bound ±{peer_bound:.2}), from {} nodes",
        estimate.seeds, estimate.peers, estimate.responders
    );
    // For these counts: 3σ = 0.47 seeds and 0.94 peers.
    assert!((seed_bound - 0.47).abs() < 0.01 && (peer_bound - 0.94).abs() < 0.01);
    assert!(estimate.responders >= 1 && estimate.responders <= 8);
    assert!(
        (estimate.seeds - true_seeds as f64).abs() <= seed_bound,
        "{estimate:?}"
    );
    assert!(
        (estimate.peers - true_peers as f64).abs() <= peer_bound,
        "{estimate:?}"
    );
    // An info-hash nobody announced scrapes as empty.
    let none = swarm
        .scrape_from(200, Id::sha1(b"nobody"))
        .expect("scraped");
    assert_eq!((none.seeds, none.peers, none.responders), (0.0, 0.0, 0));
}

#[test]
fn walking_the_keyspace_with_samples_finds_what_was_announced() {
    let mut swarm = build(300, 12);
    let announced: HashSet<Id> = (0..40u32)
        .map(|i| Id::sha1(format!("torrent {i}").as_bytes()))
        .collect();
    for (i, info_hash) in announced.iter().enumerate() {
        swarm
            .announce_from(i % 300, *info_hash, Some(6881))
            .expect("announced");
    }
    // A walk: one sample lookup per 1/32 of the keyspace.
    let mut found = HashSet::new();
    let mut responders = 0;
    for step in 0..32u8 {
        let mut target = [0u8; 20];
        target[0] = step * 8;
        let samples = swarm
            .sample_from(250, Id::from_bytes(target))
            .expect("sampled");
        responders += samples.responders;
        assert!(samples.interval > 0);
        found.extend(samples.info_hashes);
    }
    println!(
        "sample walk: {} of {} info-hashes from {responders} answers",
        found.len(),
        announced.len()
    );
    assert_eq!(
        found, announced,
        "every announced info-hash and nothing else"
    );
}

#[test]
fn the_size_estimate_of_a_two_thousand_node_network_is_within_a_factor_of_one_and_a_half() {
    let n = 2000;
    let mut swarm = build(n, 13);
    let askers = [5usize, 500, 1500];
    for round in 0..32u32 {
        for &node in &askers {
            let target = Id::sha1(format!("{node}/{round}").as_bytes());
            swarm.find_node_from(node, target).expect("lookup");
        }
    }
    for &node in &askers {
        let size = swarm
            .node(node)
            .and_then(|node| node.stats().network_size)
            .expect("an estimate");
        println!("node {node}: network size estimate {size} (true {n})");
        let ratio = size as f64 / n as f64;
        assert!((1.0 / 1.5..=1.5).contains(&ratio), "{size}");
    }
}

#[test]
fn a_second_sample_within_the_interval_is_refused_and_counted() {
    use dipsea::node::{Node, NodeConfig, Output, RateLimitConfig};
    use dipsea::wire::{Message, QueryMethod};
    use dipsea::Time;

    let config = NodeConfig {
        rate_limit: RateLimitConfig {
            limit_loopback: true,
            ..RateLimitConfig::default()
        },
        ..NodeConfig::default()
    };
    let node = Node::new(Id::sha1(b"sampled"), config, Time::ZERO);
    let from: std::net::SocketAddr = "127.0.0.5:7000".parse().expect("addr");
    let ask = |at: Time| {
        let msg = Message::query(
            b"sa",
            Id::sha1(b"crawler"),
            QueryMethod::SampleInfohashes {
                target: Id::sha1(b"anywhere"),
            },
        );
        let mut bytes = Vec::new();
        msg.encode(&mut bytes);
        let mut out = Output::new();
        node.handle_datagram(from, &bytes, at, &mut out);
    };
    ask(Time::from_millis(1_000));
    assert_eq!(node.stats().sample_refused, 0);
    ask(Time::from_millis(2_000));
    assert_eq!(
        node.stats().sample_refused,
        1,
        "refused within the interval"
    );
    let queries: u64 = node.stats().queries_in.sample_infohashes;
    assert_eq!(queries, 2);
    // After the interval, answered again.
    ask(Time::from_millis(2_000) + dipsea::rpc::SAMPLE_INTERVAL);
    assert_eq!(node.stats().sample_refused, 1);
}
