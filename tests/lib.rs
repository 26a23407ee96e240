//! Helpers shared by the integration tests: loopback networks of real nodes.

use std::time::Duration;

use dipsea::{NodeBuilder, NodeHandle};

pub mod keyspace_measure;
pub mod krpc_client;
pub mod lone_node;
pub mod onehop_nodes;

/// Query timeouts for loopback: answers take well under a millisecond, but a test
/// machine busy compiling can stall a task for a while; a query counts as lost
/// only after this floor.
pub const LOOPBACK_TIMEOUT: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(2));

/// A builder for a loopback node with short timeouts, which never looks for the
/// public DHT (a bootstrap address added to it is used as given).
pub fn loopback_builder() -> NodeBuilder {
    NodeBuilder::new()
        .bind("127.0.0.1:0")
        .no_default_routers(true)
        .query_timeout(LOOPBACK_TIMEOUT.0, LOOPBACK_TIMEOUT.1)
}

/// Starts `n` nodes on loopback, each bootstrapped from the first, and waits until
/// each has joined. Must run inside a multi-threaded tokio runtime.
pub async fn network(n: usize) -> Vec<NodeHandle> {
    network_of(n, loopback_builder).await
}

/// The one loopback network of the Rust tests and benchmarks: starts `n` nodes from
/// `builder` (which sets the address and anything else), each bootstrapped from the
/// first, joins them in two passes and waits until they settle. Must run inside a
/// multi-threaded tokio runtime.
pub async fn network_of(n: usize, builder: impl Fn() -> NodeBuilder) -> Vec<NodeHandle> {
    // The first node joins nothing: without this it would look for the public DHT.
    let seed = builder()
        .no_default_routers(true)
        .spawn()
        .await
        .expect("seed node starts");
    let seed_addr = seed.local_addr().to_string();
    let mut nodes = vec![seed];
    for _ in 1..n {
        let node = builder()
            .bootstrap([seed_addr.clone()])
            .spawn()
            .await
            .expect("node starts");
        nodes.push(node);
    }
    // Join in two passes: the second lets early joiners learn of later ones.
    for _ in 0..2 {
        for node in nodes.iter().skip(1) {
            node.bootstrap().await.expect("bootstrap succeeds");
        }
    }
    settle(&nodes).await;
    nodes
}

/// Waits until no node has an operation running: a bootstrap reports before the
/// bucket refreshes it starts are done, and a test or benchmark should start from a
/// settled network.
///
/// # Panics
///
/// If operations are still running after 10 s: the network never settled, and what
/// follows would measure or check a network still joining.
pub async fn settle(nodes: &[NodeHandle]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let running: usize = nodes.iter().map(|n| n.node().operations_running()).sum();
        if running == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "network not settled after 10 s: {running} operations still running"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Shuts every node down.
pub async fn shutdown(nodes: &[NodeHandle]) {
    for node in nodes {
        node.shutdown().await;
    }
}
