//! The one-hop overlay on UDP loopback: 20 members converge on the full member list,
//! every get finds what a put stored in one round trip, a dead member is removed
//! everywhere while its keys are still found, items move to their new owners as
//! members join and leave, and a node of another network never joins. Each test is bounded and stops by itself.

use std::time::Duration;

use dipsea::keyspace::Scheme;
use dipsea::node::NetworkId;
use dipsea::onehop::{OneHopConfig, Overlay};
use dipsea::push::Rate;
use dipsea::{Id, NodeBuilder, NodeHandle, Outcome, Request};
use dipsea_tests::{loopback_builder, network_of, shutdown};

const LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test ran past its time limit")
}

fn net(name: &str) -> NetworkId {
    NetworkId::from_name(name).expect("a network name")
}

fn one_hop(name: &str) -> NodeBuilder {
    one_hop_every(name, Duration::from_millis(100), Duration::from_millis(500))
}

/// [`one_hop`] with probes and anti-entropy exchanges at these intervals.
fn one_hop_every(
    name: &str,
    probe_interval: Duration,
    anti_entropy_interval: Duration,
) -> NodeBuilder {
    loopback_builder()
        .network(net(name))
        .overlay(Overlay::OneHop(OneHopConfig {
            partitioner: Scheme::Rendezvous,
            replicas: 3,
            probe_interval,
            anti_entropy_interval,
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

/// Waits until every node knows `n` members (or panics after 30 s).
async fn converged(nodes: &[NodeHandle], n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<usize> = nodes.iter().map(|x| x.node().members().len()).collect();
        if counts.iter().all(|&c| c == n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "membership did not converge to {n}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_members_converge_and_every_get_takes_one_round_trip() {
    bounded(async {
        let nodes = network_of(20, || one_hop("cluster")).await;
        converged(&nodes, 20).await;
        let digest = nodes[0].node().member_digest();
        assert!(nodes.iter().all(|n| n.node().member_digest() == digest));
        let mut keys = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let value = format!("value {i}");
            let put = node.put(value.as_bytes()).await.expect("put");
            assert_eq!(put.stored, 3, "stored on the three owners");
            keys.push((put.key, value));
        }
        let mut one_round = 0;
        for (i, (key, value)) in keys.iter().enumerate() {
            let asker = &nodes[(i + 7) % 20];
            let result = asker.request(Request::Get(*key)).await.expect("get");
            let mut expected = format!("{}:", value.len()).into_bytes();
            expected.extend_from_slice(value.as_bytes());
            assert_eq!(result.outcome, Ok(Outcome::Value(Some(expected))));
            // Zero rounds: the asker owns the key and had it in its own store.
            assert!(result.lookup.rounds <= 1, "{:?}", result.lookup);
            one_round += usize::from(result.lookup.rounds == 1);
        }
        assert!(
            one_round >= 10,
            "most gets went to the network: {one_round}"
        );
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_shuts_down_is_dropped_at_once_from_its_announcement() {
    bounded(async {
        // Probes and anti-entropy every 20 s: a missed answer takes that long to
        // see, so the members can only learn of the departure from the
        // announcement (with them every 0.1 and 0.5 s, and no announcement, the
        // departure is detected within seconds).
        let slow = Duration::from_secs(20);
        let mut nodes = network_of(6, || one_hop_every("leaving", slow, slow)).await;
        converged(&nodes, 6).await;
        let leaving = nodes.remove(3);
        let gone = leaving.id();
        leaving.shutdown().await;
        converged(&nodes, 5).await;
        assert!(nodes.iter().all(|n| !n.node().members().contains(&gone)));
        let detected: u64 = nodes.iter().map(|n| n.stats().members_detected).sum();
        assert_eq!(detected, 0, "learned from the announcement, not detected");
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_is_removed_everywhere_and_its_keys_are_still_found() {
    bounded(async {
        let mut nodes = network_of(10, || one_hop("churn")).await;
        converged(&nodes, 10).await;
        // A key whose primary owner is not the seed (the seed stays up).
        let mut i = 0;
        let (key, value, owner) = loop {
            let value = format!("survives {i}");
            let key = nodes[1].put(value.as_bytes()).await.expect("put").key;
            let owner: Id = nodes[0].node().owners(&key).expect("owners")[0].id;
            if owner != nodes[0].id() {
                break (key, value, owner);
            }
            i += 1;
        };
        let at = nodes
            .iter()
            .position(|n| n.id() == owner)
            .expect("a member");
        // Dropped, not shut down: a crash, with no departure announced.
        drop(nodes.remove(at));
        converged(&nodes, 9).await;
        assert!(nodes.iter().all(|n| !n.node().members().contains(&owner)));
        let detected: u64 = nodes.iter().map(|n| n.stats().members_detected).sum();
        assert!(detected >= 1);
        for node in &nodes {
            assert_eq!(
                node.get(key).await.expect("get"),
                Some(value.clone().into_bytes()),
                "found on a surviving owner"
            );
        }
        shutdown(&nodes).await;
    })
    .await;
}

/// Whether every owner of every key (`all`), or at least one, as `view` sees them,
/// holds the key.
fn owners_hold(view: &NodeHandle, nodes: &[NodeHandle], keys: &[Id], all: bool) -> bool {
    let now = dipsea::Time::from_millis(0);
    keys.iter().all(|key| {
        view.node().owners(key).is_ok_and(|owners| {
            let holds = |o: &dipsea::NodeInfo| {
                nodes.iter().find(|n| n.id() == o.id).is_some_and(|n| {
                    // Expiry is far off: any time since the start reads the item.
                    n.node().store().get_immutable(key, now).is_some()
                })
            };
            if all {
                owners.iter().all(holds)
            } else {
                owners.iter().any(holds)
            }
        })
    })
}

/// Waits (at most 30 s) until every owner of every key (`all`), or at least one, as
/// the first node sees them, holds the key.
async fn handed_off(nodes: &[NodeHandle], keys: &[Id], all: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !owners_hold(&nodes[0], nodes, keys, all) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "items not handed off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_move_to_new_owners_and_outlive_every_member_that_stored_them() {
    bounded(async {
        let mut nodes = network_of(4, || one_hop("growing")).await;
        converged(&nodes, 4).await;
        let mut keys = Vec::new();
        for i in 0..60 {
            let value = format!("moves {i}");
            let put = nodes[i % 4].put(value.as_bytes()).await.expect("put");
            assert_eq!(put.stored, 3);
            keys.push(put.key);
        }
        // Twelve join: most keys now belong to some of them, who were never sent a put.
        let seed = nodes[0].local_addr().to_string();
        for _ in 0..12 {
            let node = one_hop("growing")
                .bootstrap([seed.clone()])
                .spawn()
                .await
                .expect("starts");
            nodes.push(node);
        }
        converged(&nodes, 16).await;
        // Joins only: each item's first owner sends it to each new owner.
        handed_off(&nodes, &keys, true).await;
        let moved: u64 = nodes.iter().map(|n| n.stats().items_handed_off).sum();
        assert!(moved > 0);
        // Every node that was sent a put leaves: only hand-offs hold the items now.
        for node in nodes.drain(..4) {
            node.shutdown().await;
        }
        converged(&nodes, 12).await;
        // Departures in quick succession: an owner whose sender left before it saw
        // the change may miss a copy (re-publishing restores it), but each key is
        // held by an owner, and found.
        handed_off(&nodes, &keys, false).await;
        for (i, key) in keys.iter().enumerate() {
            let value = format!("moves {i}");
            assert_eq!(
                nodes[i % 12].get(*key).await.expect("get"),
                Some(value.into_bytes()),
                "key {i}"
            );
        }
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_network_never_joins() {
    bounded(async {
        let nodes = network_of(5, || one_hop("ours")).await;
        converged(&nodes, 5).await;
        let stranger = one_hop("theirs")
            .bootstrap([nodes[0].local_addr().to_string()])
            .spawn()
            .await
            .expect("starts");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(stranger.node().members(), vec![stranger.id()]);
        converged(&nodes, 5).await;
        assert!(
            nodes[0].stats().foreign_network > 0,
            "its queries were dropped"
        );
        stranger.shutdown().await;
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hop_builders_refuse_bad_settings() {
    let e = loopback_builder()
        .overlay(Overlay::OneHop(OneHopConfig::default()))
        .validate()
        .expect_err("no network");
    assert!(e.to_string().contains("network"), "{e}");
    let e = one_hop("x")
        .id(Id::sha1(b"chosen"))
        .validate()
        .expect_err("an id");
    assert!(e.to_string().contains("member key"), "{e}");
}
