//! The one-hop overlay against Kademlia on UDP loopback, in the same run: 100
//! one-hop nodes (rendezvous, 3 replicas) and 100 Kademlia nodes (a private network
//! too, so both carry the same `zn` tag), each preloaded with the same number of
//! 100-byte values, then the same gets with 64 in flight, spread over the nodes and
//! all through one node. Prints gets/s, p50 and p99 latency, round trips and packets
//! per get for each overlay and shape, rounds alternating between the overlays;
//! then the medians over the rounds. Target (issue 17): one-hop at least 1.5 times
//! Kademlia's gets/s, with p50 at most half.
//!
//! Run: `cargo bench -p dipsea-benches --bench onehop_loopback` (about a minute);
//! `ONEHOP_GETS` sets the gets per measurement (default 4,000), `ONEHOP_ROUNDS` the
//! rounds (default 3).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dipsea::keyspace::Scheme;
use dipsea::node::NetworkId;
use dipsea::onehop::{OneHopConfig, Overlay};
use dipsea::push::Rate;
use dipsea::{Id, NodeBuilder, NodeHandle, Outcome, Request};
use dipsea_benches::percentile;
use dipsea_tests::{loopback_builder, network_of};
use rand::{Rng, SeedableRng};

const NODES: usize = 100;
const ITEMS: usize = 500;
const IN_FLIGHT: usize = 64;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn kademlia() -> NodeBuilder {
    loopback_builder().network(NetworkId::from_name("bench-kad").expect("name"))
}

fn one_hop() -> NodeBuilder {
    loopback_builder()
        .network(NetworkId::from_name("bench-onehop").expect("name"))
        .overlay(Overlay::OneHop(OneHopConfig {
            partitioner: Scheme::Rendezvous,
            replicas: 3,
            ..OneHopConfig::default()
        }))
        // Every member shares the loopback address: lift the per-IP broadcast rate
        // (20 a second by default), or most join announcements are refused.
        .configure(|c| {
            c.broadcast.per_ip = Rate {
                per_sec: 10_000,
                burst: 10_000,
            }
        })
}

struct Net {
    name: &'static str,
    nodes: Arc<Vec<NodeHandle>>,
    keys: Arc<Vec<Id>>,
}

async fn build(name: &'static str, builder: fn() -> NodeBuilder, one: bool) -> Net {
    let nodes = network_of(NODES, builder).await;
    if one {
        let deadline = Instant::now() + Duration::from_secs(60);
        while nodes.iter().any(|n| n.node().members().len() < NODES) {
            if Instant::now() >= deadline {
                let counts: Vec<usize> = nodes.iter().map(|n| n.node().members().len()).collect();
                let sum = |f: fn(&dipsea::NodeStats) -> u64| {
                    nodes.iter().map(|n| f(&n.stats())).sum::<u64>()
                };
                panic!(
                    "one-hop membership did not converge: members {counts:?}, detected {}, refuted {}, forged {}, broadcasts refused {}, delivered {}",
                    sum(|s| s.members_detected),
                    sum(|s| s.members_refuted),
                    sum(|s| s.members_forged),
                    sum(|s| s.broadcasts_refused),
                    sum(|s| s.broadcasts_delivered),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut keys = Vec::with_capacity(ITEMS);
    for chunk in 0..ITEMS / 50 {
        let mut tasks = Vec::new();
        for i in 0..50 {
            let node = nodes[(chunk * 50 + i) % NODES].clone();
            tasks.push(tokio::spawn(async move {
                // 100 bytes: a tag, then padding.
                let mut value = format!("{name} item {chunk}/{i} ").into_bytes();
                value.resize(100, b'.');
                node.put(&value).await.expect("prefill put").key
            }));
        }
        for task in tasks {
            keys.push(task.await.expect("task"));
        }
    }
    Net {
        name,
        nodes: Arc::new(nodes),
        keys: Arc::new(keys),
    }
}

struct Measured {
    gets_per_s: f64,
    p50: Duration,
    p99: Duration,
    rounds: f64,
    packets: f64,
    failed: u64,
}

async fn measure(net: &Net, spread: bool, count: u64, salt: u64) -> Measured {
    let packets = |nodes: &[NodeHandle]| nodes.iter().map(|n| n.stats().packets_out).sum::<u64>();
    let before = packets(&net.nodes);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut callers = Vec::new();
    for caller in 0..IN_FLIGHT {
        let (nodes, keys, next) = (net.nodes.clone(), net.keys.clone(), next.clone());
        callers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(salt ^ caller as u64);
            let mut results = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let node = if spread {
                    &nodes[rng.gen_range(0..nodes.len())]
                } else {
                    &nodes[0]
                };
                let key = keys[rng.gen_range(0..keys.len())];
                let t = Instant::now();
                let r = node.request(Request::Get(key)).await;
                let ok = matches!(&r, Ok(r) if matches!(r.outcome, Ok(Outcome::Value(Some(_)))));
                let rounds = r.map_or(0, |r| r.lookup.rounds);
                results.push((t.elapsed(), ok, rounds));
            }
            results
        }));
    }
    let mut all = Vec::new();
    for c in callers {
        all.extend(c.await.expect("caller"));
    }
    let wall = started.elapsed();
    let after = packets(&net.nodes);
    let mut latencies: Vec<Duration> = all.iter().map(|r| r.0).collect();
    latencies.sort();
    let n = all.len() as f64;
    Measured {
        gets_per_s: n / wall.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        rounds: all.iter().map(|r| f64::from(r.2)).sum::<f64>() / n,
        packets: (after - before) as f64 / n,
        failed: all.iter().filter(|r| !r.1).count() as u64,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no
    // flag: then only a smoke run of a few gets.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let gets = if smoke {
        200
    } else {
        env("ONEHOP_GETS", 4_000)
    };
    let rounds = if smoke { 1 } else { env("ONEHOP_ROUNDS", 3) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let kad = build("kademlia", kademlia, false).await;
        let one = build("one-hop", one_hop, true).await;
        for spread in [true, false] {
            let shape = if spread { "spread" } else { "one-node" };
            let mut by_net: Vec<Vec<Measured>> = vec![Vec::new(), Vec::new()];
            for round in 0..rounds {
                for (i, net) in [&kad, &one].into_iter().enumerate() {
                    let m = measure(net, spread, gets, round * 2 + i as u64).await;
                    println!(
                        "onehop_loopback/{}/{shape}/64: {:.0} gets/s, p50 {:.3} ms, p99 {:.3} ms, {:.2} rounds/get, {:.1} packets/get, {} failed",
                        net.name,
                        m.gets_per_s,
                        m.p50.as_secs_f64() * 1e3,
                        m.p99.as_secs_f64() * 1e3,
                        m.rounds,
                        m.packets,
                        m.failed
                    );
                    by_net[i].push(m);
                }
            }
            let med = |i: usize, f: fn(&Measured) -> f64| median(by_net[i].iter().map(f).collect());
            let (kg, og) = (med(0, |m| m.gets_per_s), med(1, |m| m.gets_per_s));
            let (kp, op) = (
                med(0, |m| m.p50.as_secs_f64() * 1e3),
                med(1, |m| m.p50.as_secs_f64() * 1e3),
            );
            let (k99, o99) = (
                med(0, |m| m.p99.as_secs_f64() * 1e3),
                med(1, |m| m.p99.as_secs_f64() * 1e3),
            );
            println!(
                "onehop_loopback/median/{shape}: kademlia {kg:.0} gets/s p50 {kp:.3} ms p99 {k99:.3} ms; \
                 one-hop {og:.0} gets/s p50 {op:.3} ms p99 {o99:.3} ms; one-hop/kademlia gets/s {:.2}x, p50 {:.2}x",
                og / kg,
                op / kp
            );
        }
    });
}
