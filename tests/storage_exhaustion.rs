//! Storage exhaustion over real UDP: many source IPs (127.3.0.x, all routed to `lo` on
//! Linux) flood one node with `put`s of distinct immutable items, after a well-behaved
//! peer stored a few. The node must keep its total and per-IP quotas at every sampled
//! moment, evict only items farther from its id than what replaces them, keep the
//! well-behaved peer's closest items, and count every refusal.
//!
//! Loopback only, bounded in time. The store's per-IP shares are told to count
//! loopback sources (`StoreConfig::limit_loopback`); the node's rate limits still
//! exempt them, so only the store's quotas stand in the flood's way.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dipsea::store::StoreConfig;
use dipsea::wire::bencode::encode_bytes;
use dipsea::wire::error_code;
use dipsea::{Distance, Id, NodeBuilder, NodeConfig, NodeHandle, Time};
use dipsea_tests::krpc_client::KrpcClient;

/// Fails the test instead of hanging past this.
const LIMIT: Duration = Duration::from_secs(50);

/// The node's quotas: small, so that the flood fills the store many times over.
const MAX_ITEMS: usize = 48;
const MAX_BYTES: usize = 48 * 160;
const PER_IP: usize = 4;

/// The flood: this many sources, each putting this many distinct items.
const FLOODERS: u8 = 24;
const PUTS_EACH: usize = 60;

/// What one flooding source did.
struct Flood {
    ip: IpAddr,
    /// Values the node accepted, in order.
    accepted: Vec<Vec<u8>>,
    /// Puts answered 202 (store or per-IP quota).
    refused: usize,
    /// Queries sent again after a timeout (each may count twice at the node).
    resent: u32,
}

/// Peaks seen by the sampler while the flood ran.
#[derive(Debug, Default)]
struct Peaks {
    samples: u64,
    items: usize,
    bytes: usize,
    per_ip: usize,
}

/// `count` values whose SHA-1 shares its first 16 bits with `own`: closer to the node
/// than anything a flood of random items is likely to bring (about one in 65,536).
fn close_values(own: Id, count: usize) -> Vec<Vec<u8>> {
    (0u64..)
        .map(|tag| encode_bytes(format!("good close {tag}").as_bytes()))
        .filter(|v| Id::sha1(v).distance(&own).as_bytes()[..2] == [0, 0])
        .take(count)
        .collect()
}

/// Puts `count` distinct items from `ip`, numbered from `first`, one at a time; checks
/// the node's quotas after every answer.
fn flood(
    node: &NodeHandle,
    ip: IpAddr,
    first: usize,
    count: usize,
) -> impl std::future::Future<Output = Flood> + Send + 'static {
    let node = node.clone();
    async move {
        let IpAddr::V4(v4) = ip else {
            unreachable!("IPv4 sources")
        };
        let to = node.local_addr();
        let mut client = KrpcClient::bind(v4).await.expect("bind a 127.3.0.x");
        let token = client.token(to).await;
        let mut flood = Flood {
            ip,
            accepted: Vec::new(),
            refused: 0,
            resent: 0,
        };
        for i in first..first + count {
            // 60 to 300 bytes, so both the item and the byte quota bind.
            let mut payload = format!("flood {ip} {i} ").into_bytes();
            payload.resize(60 + (i * 97) % 240, b'x');
            let v = encode_bytes(&payload);
            match client.put(to, &token, &v).await.code() {
                None => flood.accepted.push(v),
                Some(error_code::SERVER) => flood.refused += 1,
                Some(code) => panic!("flood put from {ip} answered {code}"),
            }
            // A sample at every answer, whatever the sampler thread sees.
            let stats = node.stats();
            assert!(stats.items <= MAX_ITEMS && stats.stored_bytes <= MAX_BYTES);
            assert!(node.node().store().usage_of(ip).items <= PER_IP);
        }
        flood.resent = client.resent;
        flood
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_many_ips_keeps_quotas_and_evicts_only_for_closer_items() {
    tokio::time::timeout(LIMIT, flood_test())
        .await
        .expect("test ran past its time limit");
}

async fn flood_test() {
    let config = NodeConfig {
        store: StoreConfig {
            max_items: MAX_ITEMS,
            max_value_bytes: MAX_BYTES,
            max_items_per_ip: PER_IP,
            // The sources are loopback addresses, exempt from the shares by default.
            limit_loopback: true,
            ..StoreConfig::default()
        },
        ..NodeConfig::default()
    };
    let node = NodeBuilder::new()
        .bind("127.0.0.1:0")
        .no_default_routers(true)
        .config(config)
        .spawn()
        .await
        .expect("node starts");
    let to = node.local_addr();
    let own = node.id();
    let distance = |v: &[u8]| Id::sha1(v).distance(&own);

    // The well-behaved peer: two items very close to the node's id, two anywhere.
    let mut good = KrpcClient::bind(Ipv4Addr::new(127, 2, 0, 1))
        .await
        .expect("bind 127.2.0.1");
    let token = good.token(to).await;
    let mut good_items = close_values(own, 2);
    good_items.extend((0..2).map(|i| encode_bytes(format!("good far {i}").as_bytes())));
    for v in &good_items {
        assert_eq!(good.put(to, &token, v).await.code(), None, "good put");
    }

    // The sampler: totals and per-IP counts at every moment it looks.
    let flooder_ips: Vec<IpAddr> = (1..=FLOODERS)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 3, 0, i)))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (node, done, ips) = (node.clone(), Arc::clone(&done), flooder_ips.clone());
        // A thread of its own, looking as often as it can while the flood runs.
        std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            while !done.load(Ordering::Relaxed) {
                let stats = node.stats();
                peaks.items = peaks.items.max(stats.items);
                peaks.bytes = peaks.bytes.max(stats.stored_bytes);
                for ip in &ips {
                    let held = node.node().store().usage_of(*ip).items;
                    peaks.per_ip = peaks.per_ip.max(held);
                }
                peaks.samples += 1;
                std::thread::yield_now();
            }
            peaks
        })
    };

    // A greedy source alone first: the store has room, its own share stops it.
    let greedy = flood(&node, flooder_ips[0], 0, 4 * PER_IP).await;
    assert_eq!(greedy.accepted.len(), PER_IP);
    assert_eq!(greedy.refused, 3 * PER_IP);
    assert_eq!(node.node().store().usage_of(greedy.ip).items, PER_IP);
    assert_eq!(
        node.node().store().stats().refused_ip_quota,
        3 * PER_IP as u64
    );

    // The flood: every source at once (the greedy one again), each waiting for each
    // answer.
    let floods: Vec<_> = flooder_ips
        .iter()
        .map(|&ip| tokio::spawn(flood(&node, ip, 1_000, PUTS_EACH)))
        .collect();
    let started = std::time::Instant::now();
    let mut flooded = vec![greedy];
    for flood in floods {
        flooded.push(flood.await.expect("flooder"));
    }
    let flood_time = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let peaks = sampler.join().expect("sampler");

    // Totals and per-IP shares held at every sampled moment.
    println!("{peaks:?} in {flood_time:?}");
    assert!(peaks.samples > 0, "{peaks:?}");
    assert!(peaks.items <= MAX_ITEMS, "{peaks:?}");
    assert!(peaks.bytes <= MAX_BYTES, "{peaks:?}");
    assert!(peaks.per_ip <= PER_IP, "{peaks:?}");

    // What each source holds now, from the items themselves.
    let store = node.node().store();
    let now = Time::ZERO;
    let held = |v: &[u8]| store.get_immutable(&Id::sha1(v), now).is_some();
    let mut by_source: HashMap<IpAddr, Vec<&Vec<u8>>> = HashMap::new();
    for flood in &flooded {
        by_source
            .entry(flood.ip)
            .or_default()
            .extend(&flood.accepted);
    }
    for (ip, accepted) in &by_source {
        let still = accepted.iter().filter(|v| held(v)).count();
        assert!(still <= PER_IP, "{ip} holds {still} items");
        assert_eq!(store.usage_of(*ip).items, still, "{ip}");
    }
    let stats = node.stats();
    assert!(stats.items <= MAX_ITEMS && stats.stored_bytes <= MAX_BYTES);

    // Refusals: every 202 the flood got is counted (a resent put may count twice).
    let refused: usize = flooded.iter().map(|f| f.refused).sum();
    let resent: u32 = flooded.iter().map(|f| f.resent).sum();
    let over_quota = stats.over_quota as usize;
    assert!(refused > 0, "the flood was never refused");
    assert!(
        over_quota >= refused && over_quota <= refused + resent as usize,
        "over_quota {over_quota}, 202s received {refused}, resent {resent}"
    );
    let store_stats = store.stats();
    assert!(store_stats.refused_ip_quota > 0, "{store_stats:?}");
    assert!(store_stats.evictions > 0, "{store_stats:?}");

    // The eviction rule: each of the good peer's items that went is farther from the
    // node than some item accepted after it (all flood items came after); those closer
    // than everything the flood got stored are all still there.
    let accepted: Vec<Distance> = flooded
        .iter()
        .flat_map(|f| f.accepted.iter().map(|v| distance(v)))
        .collect();
    let closest_flood = accepted
        .iter()
        .min()
        .copied()
        .expect("some flood items stored");
    let mut protected = 0;
    for v in &good_items {
        let d = distance(v);
        if held(v) {
            continue;
        }
        assert!(
            accepted.iter().any(|f| *f < d),
            "a good item went though no closer item came"
        );
        assert!(d > closest_flood);
    }
    for v in good_items.iter().filter(|v| distance(v) < closest_flood) {
        assert!(
            held(v),
            "a good item closer than the whole flood was evicted"
        );
        assert_eq!(good.get(to, Id::sha1(v)).await.as_deref(), Some(&v[..]));
        protected += 1;
    }
    assert!(
        protected >= 1,
        "no good item closer than the flood: vacuous"
    );
    let lost = good_items.iter().filter(|v| !held(v)).count();
    println!(
        "sampler {peaks:?}; flood: {} puts (each answer sampled too), {} accepted, \
         {refused} refused (202), {} resent; over_quota {over_quota}, refused per IP {}, \
         evictions {}; good items kept {}/{}, protected {protected}",
        flooded
            .iter()
            .map(|f| f.accepted.len() + f.refused)
            .sum::<usize>(),
        accepted.len(),
        resent,
        store_stats.refused_ip_quota,
        store_stats.evictions,
        good_items.len() - lost,
        good_items.len(),
    );
    let distinct: HashSet<&Vec<u8>> = flooded.iter().flat_map(|f| &f.accepted).collect();
    assert_eq!(distinct.len(), accepted.len(), "flood items are distinct");
    node.shutdown().await;
}
