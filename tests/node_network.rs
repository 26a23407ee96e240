//! Network identity on loopback: nodes of two private networks and a public node on
//! the same host never mix. Each test is bounded and stops by itself.

use std::collections::HashSet;
use std::time::Duration;

use dipsea::node::NetworkId;
use dipsea::{Id, NodeHandle};
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

async fn private(n: usize, name: &str) -> Vec<NodeHandle> {
    let id = net(name);
    network_of(n, move || loopback_builder().network(id)).await
}

fn ids(nodes: &[NodeHandle]) -> HashSet<Id> {
    nodes.iter().map(NodeHandle::id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_networks_on_one_host_never_mix() {
    bounded(async {
        let blue = private(8, "blue").await;
        let green = private(8, "green").await;
        // A green node told of blue nodes (as a confused operator might) and a
        // public node both try their luck with the blue network.
        let stray = loopback_builder()
            .network(net("green"))
            .bootstrap(blue.iter().map(|n| n.local_addr().to_string()))
            .spawn()
            .await
            .expect("stray starts");
        let joined = stray.bootstrap().await.unwrap_or(0);
        assert_eq!(joined, 0, "no blue node answers a green one");
        let public = loopback_builder().spawn().await.expect("public starts");
        assert!(public.ping(blue[0].local_addr()).await.is_err());
        assert!(blue[0].ping(green[0].local_addr()).await.is_err());

        let (blue_ids, green_ids) = (ids(&blue), ids(&green));
        for node in &blue {
            let table = node.routing_table();
            assert!(!table.is_empty());
            assert!(
                table.iter().all(|c| blue_ids.contains(&c.id)),
                "blue holds only blue"
            );
        }
        for node in &green {
            let table = node.routing_table();
            assert!(
                table.iter().all(|c| green_ids.contains(&c.id)),
                "green holds only green"
            );
        }
        assert!(stray.routing_table().is_empty());
        assert!(public.routing_table().is_empty());

        // An item put in blue is found in blue, not from green.
        let key = blue[1].put(b"blue only").await.expect("put in blue").key;
        assert_eq!(
            blue[5].get(key).await.expect("get in blue"),
            Some(b"blue only".to_vec())
        );
        let from_green = green[3].get(key).await.unwrap_or(None);
        assert_eq!(from_green, None, "green never sees a blue item");
        for node in &green {
            assert_eq!(node.stats().items, 0, "nothing of blue is stored in green");
        }

        let refused: u64 = blue.iter().map(|n| n.stats().foreign_network).sum();
        assert!(
            refused >= 2,
            "the stray's and the public node's queries are counted"
        );
        assert!(
            green[0].stats().foreign_network >= 1,
            "blue's ping is counted in green"
        );
        shutdown(&blue).await;
        shutdown(&green).await;
        stray.shutdown().await;
        public.shutdown().await;
    })
    .await;
}
