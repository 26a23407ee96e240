//! BEP 32 dual stack on loopback (127.0.0.1 and ::1): a network of IPv4-only,
//! IPv6-only and dual-stack nodes, in which an item put by a dual-stack node is found
//! by nodes of either family. Bounded in time; stops by itself.

use std::time::Duration;

use dipsea::{NodeBuilder, NodeHandle};
use dipsea_tests::{loopback_builder, settle, shutdown};

/// Fails a test that runs longer than this instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(120);

const V4_ONLY: usize = 6;
const V6_ONLY: usize = 6;
const DUAL: usize = 4;

fn v6_builder() -> NodeBuilder {
    loopback_builder().bind("[::1]:0")
}

fn dual_builder() -> NodeBuilder {
    loopback_builder().bind6("[::1]:0")
}

/// Starts the network: the first dual node is the seed; v4-only nodes join through
/// its IPv4 address, v6-only ones through its IPv6 address, the other dual nodes
/// through both. Joins twice, as `network_of` does, then settles.
async fn mixed_network() -> (Vec<NodeHandle>, Vec<NodeHandle>, Vec<NodeHandle>) {
    let seed = dual_builder().spawn().await.expect("dual seed starts");
    let seed4 = seed.local_addr().to_string();
    let seed6 = seed
        .local_addr6()
        .expect("the seed has an IPv6 socket")
        .to_string();
    let mut dual = vec![seed];
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for i in 0..V4_ONLY.max(V6_ONLY).max(DUAL) {
        if i < V4_ONLY {
            let node = loopback_builder().bootstrap([seed4.clone()]);
            v4.push(node.spawn().await.expect("v4 node starts"));
        }
        if i < V6_ONLY {
            let node = v6_builder().bootstrap([seed6.clone()]);
            v6.push(node.spawn().await.expect("v6 node starts"));
        }
        if 0 < i && i < DUAL {
            let node = dual_builder().bootstrap([seed4.clone(), seed6.clone()]);
            dual.push(node.spawn().await.expect("dual node starts"));
        }
    }
    for _pass in 0..2 {
        for node in v4.iter().chain(&v6).chain(&dual[1..]) {
            node.bootstrap().await.expect("node joins");
        }
    }
    let all: Vec<NodeHandle> = v4.iter().chain(&v6).chain(&dual).cloned().collect();
    settle(&all).await;
    (v4, v6, dual)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_only_and_v6_only_nodes_get_an_item_a_dual_stack_node_put() {
    tokio::time::timeout(LIMIT, async {
        let (v4, v6, dual) = mixed_network().await;
        for node in &dual {
            assert!(node.local_addr().is_ipv4());
            let addr6 = node.local_addr6().expect("dual node has an IPv6 socket");
            assert_eq!(addr6.port(), node.local_addr().port(), "one port for both");
            let table4 = node.node().routing();
            let table6 = node.node().routing6().expect("dual node has an IPv6 table");
            assert!(table4.contacts().iter().all(|c| c.node.addr.is_ipv4()));
            assert!(table6.contacts().iter().all(|c| c.node.addr.is_ipv6()));
            assert!(table4.len() >= V4_ONLY, "dual node knows the IPv4 nodes");
            assert!(table6.len() >= V6_ONLY, "dual node knows the IPv6 nodes");
        }
        for node in &v4 {
            assert_eq!(node.local_addr6(), None);
            assert!(node.routing_table().iter().all(|c| c.addr.is_ipv4()));
        }
        for node in &v6 {
            assert!(node.local_addr().is_ipv6());
            assert!(node.routing_table().iter().all(|c| c.addr.is_ipv6()));
        }

        let value = b"reachable from both families";
        let put = dual[1].put(value).await.expect("dual node puts");
        // Stored on the closest nodes of each family.
        let held_by = |nodes: &[NodeHandle]| {
            nodes
                .iter()
                .filter(|n| n.node().store().stats().items > 0)
                .count()
        };
        assert!(held_by(&v4) >= 1, "no IPv4-only node holds the item");
        assert!(held_by(&v6) >= 1, "no IPv6-only node holds the item");
        assert!(put.stored > 8, "stored on k of each family: {}", put.stored);

        for getter in [&v4[0], &v4[V4_ONLY - 1], &v6[0], &v6[V6_ONLY - 1]] {
            let got = getter.get(put.key).await.expect("get runs");
            assert_eq!(
                got.as_deref(),
                Some(&value[..]),
                "{} did not find the item",
                getter.local_addr()
            );
        }
        let all: Vec<NodeHandle> = v4.into_iter().chain(v6).chain(dual).collect();
        shutdown(&all).await;
    })
    .await
    .expect("test ran past its time limit");
}
