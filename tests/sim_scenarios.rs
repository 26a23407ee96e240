//! Simulator scenarios: networks of thousands of the very same sans-I/O nodes the
//! UDP driver runs, on a seeded virtual network. Each test builds its network by real
//! joins, runs operations, injects a fault and checks what users would see: gets
//! that succeed, lookups that stay short, items that survive crashes, partitions
//! that heal, and runs that repeat exactly. Each prints its metrics (`--nocapture`).

use std::collections::HashSet;
use std::time::Duration;

use dipsea::sim::{Action, Churn};
use dipsea::wire::bencode::encode_bytes;
use dipsea::{Error, Id, Latency, OpError, Request, Swarm, SwarmConfig};

/// An item put in a scenario: its key, its value and the node that put it.
struct Item {
    key: Id,
    value: Vec<u8>,
    origin: usize,
}

fn build(nodes: usize, seed: u64) -> Swarm {
    Swarm::new(SwarmConfig {
        nodes,
        seed,
        ..SwarmConfig::default()
    })
    .expect("a valid configuration")
}

/// Puts `count` distinct items at once, each from a random live node; every put
/// must be stored somewhere.
fn put_items(swarm: &mut Swarm, count: usize, tag: &str) -> Vec<Item> {
    let items = try_put_items(swarm, count, tag);
    assert_eq!(items.len(), count, "every put is stored");
    items
}

/// Puts `count` distinct items at once, each from a random live node; returns those
/// stored somewhere.
fn try_put_items(swarm: &mut Swarm, count: usize, tag: &str) -> Vec<Item> {
    let mut origins = Vec::with_capacity(count);
    let mut requests = Vec::with_capacity(count);
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        let origin = swarm.random_live().expect("a live node");
        let value = format!("{tag} item {i}").into_bytes();
        requests.push((origin, Request::Put(encode_bytes(&value))));
        origins.push(origin);
        values.push(value);
    }
    let results = swarm.run_batch(requests);
    let mut items = Vec::with_capacity(count);
    for ((result, origin), value) in results.into_iter().zip(origins).zip(values) {
        match result.outcome {
            Ok(dipsea::Outcome::Stored { key, stored }) => {
                assert!(stored >= 1, "a put was acknowledged by nobody");
                items.push(Item { key, value, origin });
            }
            other => println!("put from node {origin} failed: {other:?}"),
        }
    }
    items
}

/// Gets every item at once, each from a node `pick` chooses; returns how many came
/// back with the right value.
fn found(swarm: &mut Swarm, items: &[&Item], mut pick: impl FnMut(&mut Swarm) -> usize) -> usize {
    let requests: Vec<(usize, Request)> = items
        .iter()
        .map(|item| (pick(swarm), Request::Get(item.key)))
        .collect();
    swarm
        .run_batch(requests)
        .into_iter()
        .zip(items)
        .filter(|(result, item)| {
            matches!(&result.outcome,
                Ok(dipsea::Outcome::Value(Some(v))) if *v == encode_bytes(&item.value))
        })
        .count()
}

fn random_live(swarm: &mut Swarm) -> usize {
    swarm.random_live().expect("a live node")
}

fn report(name: &str, swarm: &Swarm) {
    let s = swarm.stats();
    println!(
        "{name}: nodes {} live {} ops {} ok {} ({:.4}) rounds p50 {} p99 {} msgs p50 {} p99 {} \
         latency p50 {} ms p99 {} ms packets {} lost {} bytes {} mem/node {} B \
         virtual {} s wall {} ms (build {} ms)",
        s.nodes,
        s.live,
        s.ops,
        s.ops_ok,
        s.success_rate,
        s.rounds_p50,
        s.rounds_p99,
        s.messages_per_lookup_p50,
        s.messages_per_lookup_p99,
        s.latency_p50_ms,
        s.latency_p99_ms,
        s.packets_sent,
        s.packets_lost,
        s.bytes_sent,
        s.memory_per_node,
        s.virtual_ms / 1000,
        s.wall_ms,
        s.build_wall_ms,
    );
}

#[test]
fn ten_thousand_gets_of_put_items_all_succeed() {
    const N: usize = 10_000;
    let mut swarm = build(N, 1);
    assert_eq!(swarm.live(), N);
    report("build", &swarm);
    let items = put_items(&mut swarm, 10_000, "ten");
    report("puts", &swarm);
    swarm.reset_ops();
    let all: Vec<&Item> = items.iter().collect();
    let ok = found(&mut swarm, &all, random_live);
    report("gets", &swarm);
    assert_eq!(ok, items.len(), "every get finds its item");
    let stats = swarm.stats();
    assert_eq!(stats.success_rate, 1.0);
    // Each round gains about log2(k) = 3 bits: log2(N)/3 rounds, plus the
    // round of seeds and one for the value's holders.
    let bound = (N as f64).log2() / 3.0;
    assert!(
        stats.rounds_p50 <= bound + 2.0,
        "median rounds {} vs log2(N)/3 = {bound:.2}",
        stats.rounds_p50
    );
    println!(
        "log2(N)/3 = {bound:.2}: rounds p50 {} p99 {}",
        stats.rounds_p50, stats.rounds_p99
    );
    assert!(
        stats.rounds_p99 <= bound + 6.0,
        "p99 rounds {}",
        stats.rounds_p99
    );
}

#[test]
fn gets_succeed_through_twenty_percent_packet_loss() {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 5_000,
        seed: 2,
        loss: 0.2,
        ..SwarmConfig::default()
    })
    .expect("a valid configuration");
    report("build (20% loss)", &swarm);
    let items = put_items(&mut swarm, 2_000, "lossy");
    swarm.reset_ops();
    let all: Vec<&Item> = items.iter().collect();
    let ok = found(&mut swarm, &all, random_live);
    report("gets (20% loss)", &swarm);
    let stats = swarm.stats();
    assert!(
        stats.packets_lost > stats.packets_sent / 6,
        "the loss is real"
    );
    assert!(
        ok * 100 >= items.len() * 99,
        "only {ok} of {} gets succeeded with 20% loss",
        items.len()
    );
}

#[test]
fn items_survive_a_thirty_percent_crash_and_republishing_restores_the_rest() {
    let mut swarm = build(4_000, 3);
    let items = put_items(&mut swarm, 2_000, "crash");
    let crashed = swarm.crash(0.3).expect("a fraction");
    assert_eq!(crashed, 1_200);
    assert_eq!(swarm.live(), 2_800);
    swarm.reset_ops();
    let all: Vec<&Item> = items.iter().collect();
    let ok = found(&mut swarm, &all, random_live);
    report("gets after 30% crash", &swarm);
    assert!(
        ok * 100 >= items.len() * 99,
        "only {ok} of {} items found right after the crash",
        items.len()
    );

    // One re-publish period: surviving origins store their items again on the k
    // closest live nodes; holders that died are replaced.
    let period = SwarmConfig::default_node_config().republish_interval;
    swarm.advance(period + Duration::from_secs(60));
    swarm.reset_ops();
    let alive: Vec<&Item> = items
        .iter()
        .filter(|item| swarm.is_live(item.origin))
        .collect();
    let ok_alive = found(&mut swarm, &alive, random_live);
    report("gets after one re-publish period", &swarm);
    assert_eq!(
        ok_alive,
        alive.len(),
        "every item whose origin lives is found after re-publishing"
    );
    // Items whose origin crashed are not re-published, but live on (until their
    // time to live) on the holders that survived.
    let orphans: Vec<&Item> = items
        .iter()
        .filter(|item| !swarm.is_live(item.origin))
        .collect();
    let ok_orphans = found(&mut swarm, &orphans, random_live);
    println!(
        "after one period: {ok_alive}/{} re-published items, {ok_orphans}/{} orphans",
        alive.len(),
        orphans.len()
    );
    assert!(ok_orphans * 100 >= orphans.len() * 99);
}

#[test]
fn a_partition_into_halves_heals_once_lifted() {
    let mut swarm = build(2_000, 4);
    let before = put_items(&mut swarm, 500, "before");
    swarm.partition(0.5).expect("a fraction");
    let in_group = |swarm: &mut Swarm, group: u8| loop {
        let node = random_live(swarm);
        if swarm.group(node) == group {
            return node;
        }
    };
    // Let the halves notice: contacts across the cut time out and are replaced.
    swarm.advance(Duration::from_secs(5 * 60));
    // A put fails when every contact its lookup starts from is across the cut (one
    // in 2^8 for a table of fresh contacts).
    let during = try_put_items(&mut swarm, 500, "during");
    assert!(during.len() >= 490, "{} of 500 puts stored", during.len());
    let (a, b): (Vec<&Item>, Vec<&Item>) = during
        .iter()
        .partition(|item| swarm.group(item.origin) == 0);

    swarm.reset_ops();
    let same_side =
        found(&mut swarm, &a, |s| in_group(s, 0)) + found(&mut swarm, &b, |s| in_group(s, 1));
    let across =
        found(&mut swarm, &a, |s| in_group(s, 1)) + found(&mut swarm, &b, |s| in_group(s, 0));
    println!(
        "during the partition: {same_side}/{} found on the same side, {across}/{} across",
        during.len(),
        during.len()
    );
    assert!(
        same_side * 100 >= during.len() * 99,
        "each half works on its own"
    );
    assert!(
        across * 2 < during.len(),
        "items put during the cut stay on their side"
    );

    let groups: Vec<u8> = (0..swarm.len()).map(|i| swarm.group(i)).collect();
    swarm.heal();
    // A refresh period: idle buckets are refreshed, and traffic across the old cut
    // refills the tables.
    swarm.advance(Duration::from_secs(20 * 60));
    swarm.reset_ops();
    let all: Vec<&Item> = before.iter().chain(&during).collect();
    let ok = found(&mut swarm, &all, random_live);
    report("gets after healing", &swarm);
    assert!(
        ok * 100 >= all.len() * 99,
        "only {ok} of {} items found after healing",
        all.len()
    );
    // Tables span the old cut again.
    let sample: Vec<u32> = swarm.live_nodes().iter().step_by(20).copied().collect();
    let mixed = sample
        .iter()
        .filter(|&&n| {
            let node = swarm.node(n as usize).expect("live");
            let mut seen = HashSet::new();
            for c in node.contacts() {
                if let Some(i) = dipsea::sim::node_index(c.addr) {
                    seen.insert(groups.get(i).copied().unwrap_or(0));
                }
            }
            seen.len() == 2
        })
        .count();
    assert!(
        mixed * 10 >= sample.len() * 9,
        "{mixed}/{} tables span both halves",
        sample.len()
    );
}

/// Long-tailed latency: links as short as 0 ms, so events run one at a time.
const LONG_TAIL: Latency = Latency::LongTail {
    median: Duration::from_millis(40),
    p99: Duration::from_millis(300),
};

/// One scenario with every source of randomness: latency, loss, puts, gets, a
/// crash, churn and time passing.
fn scenario(seed: u64) -> (dipsea::SwarmStats, Vec<String>) {
    scenario_on(seed, LONG_TAIL, 1)
}

fn scenario_on(seed: u64, latency: Latency, threads: usize) -> (dipsea::SwarmStats, Vec<String>) {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: 1_000,
        seed,
        loss: 0.05,
        latency,
        threads,
        ..SwarmConfig::default()
    })
    .expect("a valid configuration");
    let items = put_items(&mut swarm, 200, "det");
    swarm.crash(0.1).expect("a fraction");
    swarm.set_churn(Some(Churn {
        median_session: Duration::from_secs(30 * 60),
        replace: true,
    }));
    swarm
        .schedule(Duration::from_secs(60), Action::Partition(0.3))
        .expect("a fraction");
    swarm
        .schedule(Duration::from_secs(120), Action::Heal)
        .expect("no fraction");
    swarm.advance(Duration::from_secs(10 * 60));
    let all: Vec<&Item> = items.iter().collect();
    found(&mut swarm, &all, random_live);
    let node = random_live(&mut swarm);
    let results = swarm
        .find_node_from(node, Id::from([7; 20]))
        .map(|nodes| nodes.iter().map(|n| format!("{:?}", n.id)).collect())
        .unwrap_or_else(|e| vec![e.to_string()]);
    (swarm.stats(), results)
}

#[test]
fn the_same_seed_gives_the_same_metrics() {
    let (first, found_first) = scenario(5);
    let (second, found_second) = scenario(5);
    println!("{first:?}");
    assert_eq!(first.deterministic(), second.deterministic());
    assert_eq!(
        format!("{:?}", first.deterministic()),
        format!("{:?}", second.deterministic())
    );
    assert_eq!(found_first, found_second);
    let (other, _) = scenario(6);
    assert_ne!(first.deterministic(), other.deterministic());
}

/// With the default latency (10 to 100 ms), events run in windows of 10 ms, split
/// over the threads by node: one thread and three give the same run.
#[test]
fn the_number_of_threads_does_not_change_the_result() {
    let latency = Latency::default();
    let (one, found_one) = scenario_on(5, latency, 1);
    let (three, found_three) = scenario_on(5, latency, 3);
    println!("{one:?}");
    assert_eq!(one.deterministic(), three.deterministic());
    assert_eq!(found_one, found_three);
    assert!(one.packets_sent > 100_000, "{one:?}");
}

#[test]
fn lookups_find_the_true_closest_and_announces_find_peers() {
    let mut swarm = build(1_000, 7);
    let ids: Vec<(usize, Id)> = (0..swarm.len())
        .filter_map(|i| swarm.node(i).map(|n| (i, n.id())))
        .collect();
    for t in 0..20u8 {
        let target = Id::from([t.wrapping_mul(37); 20]);
        let from = random_live(&mut swarm);
        let got: Vec<Id> = swarm
            .find_node_from(from, target)
            .expect("find_node")
            .iter()
            .map(|n| n.id)
            .collect();
        let own = swarm.node(from).expect("live").id();
        let mut truth: Vec<Id> = ids
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| *id != own)
            .collect();
        truth.sort_by_key(|id| id.distance(&target));
        assert_eq!(
            got,
            truth[..8].to_vec(),
            "lookup {t} missed the closest nodes"
        );
    }
    let info_hash = Id::from([0xab; 20]);
    let announcer = random_live(&mut swarm);
    let stored = swarm
        .announce_from(announcer, info_hash, Some(51413))
        .expect("announce");
    assert!(stored >= 1);
    let asker = random_live(&mut swarm);
    let peers = swarm.get_peers_from(asker, info_hash).expect("get_peers");
    let want = std::net::SocketAddr::new(swarm.addr(announcer).ip(), 51413);
    assert_eq!(peers, vec![want]);
    // A down node answers nothing.
    swarm.crash_node(asker);
    assert!(matches!(
        swarm.get_peers_from(asker, info_hash),
        Err(Error::Op(OpError::Shutdown))
    ));
}
