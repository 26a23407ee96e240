//! Loopback networks of real UDP nodes in one process: convergence, puts and gets,
//! announces, persistence, dead bootstrap addresses, hostile datagrams.
//! Every test is bounded by a timeout and stops by itself.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::Duration;

use dipsea::{Error, Id, OpError};
use dipsea_tests::{loopback_builder, network, network_of, shutdown};
use rand::{Rng, SeedableRng};

/// Fails a test that runs longer than this instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(120);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test ran past its time limit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_nodes_converge() {
    bounded(async {
        let nodes = network(64).await;
        let all: Vec<Id> = nodes.iter().map(|n| n.id()).collect();
        // Every node's lookup of a random target finds the true 8 closest.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for node in nodes.iter().step_by(4) {
            let target = Id::random_with(&mut rng);
            let found: Vec<Id> = node
                .find_node(target)
                .await
                .expect("find_node")
                .iter()
                .map(|n| n.id)
                .collect();
            let mut truth: Vec<Id> = all.iter().copied().filter(|id| *id != node.id()).collect();
            truth.sort_by_key(|id| id.distance(&target));
            assert_eq!(
                found,
                truth[..8].to_vec(),
                "lookup from {} missed the closest nodes",
                node.id()
            );
        }
        for node in &nodes {
            assert!(
                node.routing_table().len() >= 8,
                "table of {} too small",
                node.id()
            );
        }
        shutdown(&nodes).await;
    })
    .await;
}

/// Lookups of their own id only ever take joiners through the seed to their own
/// side of the keyspace, so without the bucket refresh after joining about half of
/// the nodes on the seed's side knew no node on the other side, and a lookup from
/// there for a target over there could end at the wrong nodes (a put stored where
/// no get looks). With it, every node knows the other half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_knows_the_other_half_of_the_keyspace_after_joining() {
    bounded(async {
        let nodes = network(64).await;
        let half = |id: &Id| id.as_bytes()[0] >> 7;
        for node in &nodes {
            let other = node
                .routing_table()
                .iter()
                .filter(|c| half(&c.id) != half(&node.id()))
                .count();
            assert!(
                other >= 1,
                "{} knows no node in the other half of the keyspace",
                node.id()
            );
        }
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_puts_then_thousand_gets_from_random_nodes() {
    bounded(async {
        let nodes = network(32).await;
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut keys = Vec::new();
        // 1,000 puts, 32 at a time, from random nodes.
        for chunk in 0..(1000 / 50) {
            let mut tasks = Vec::new();
            for i in 0..50 {
                let node = nodes[rng.gen_range(0..nodes.len())].clone();
                let value = format!("value {chunk}-{i}").into_bytes();
                tasks.push(tokio::spawn(async move { (node.put(&value).await, value) }));
            }
            for task in tasks {
                let (result, value) = task.await.expect("task");
                let put = result.expect("put succeeds");
                assert!(put.stored >= 1);
                keys.push((put.key, value));
            }
        }
        let mut tasks = Vec::new();
        for (key, value) in keys {
            let node = nodes[rng.gen_range(0..nodes.len())].clone();
            tasks.push(tokio::spawn(async move { (node.get(key).await, value) }));
        }
        for task in tasks {
            let (got, value) = task.await.expect("task");
            assert_eq!(got.expect("get succeeds"), Some(value));
        }
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_then_get_peers_across_nodes() {
    bounded(async {
        let nodes = network(16).await;
        let info_hash = Id::sha1(b"some torrent");
        let stored = nodes[3]
            .announce(info_hash, Some(51413))
            .await
            .expect("announce");
        assert!(stored >= 1);
        let stored = nodes[5]
            .announce(info_hash, None)
            .await
            .expect("implied-port announce");
        assert!(stored >= 1);
        let peers = nodes[11].get_peers(info_hash).await.expect("get_peers");
        let ports: HashSet<u16> = peers.iter().map(|p| p.port()).collect();
        assert!(ports.contains(&51413), "explicit port announced: {peers:?}");
        assert!(
            ports.contains(&nodes[5].local_addr().port()),
            "implied port announced: {peers:?}"
        );
        assert!(nodes[11]
            .get_peers(Id::sha1(b"nobody"))
            .await
            .expect("get_peers")
            .is_empty());
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_rejoins_from_saved_table() {
    bounded(async {
        let nodes = network(12).await;
        let dir = std::env::temp_dir().join(format!("dipsea-rejoin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("table.bin");
        let seed = nodes[0].local_addr().to_string();
        let first = loopback_builder()
            .bootstrap([seed])
            .state_path(&path)
            .spawn()
            .await
            .expect("start");
        first.bootstrap().await.expect("bootstrap");
        let id = first.id();
        first.shutdown().await;
        drop(first);
        // No bootstrap address this time: only the saved table.
        let again = loopback_builder()
            .state_path(&path)
            .spawn()
            .await
            .expect("restart");
        assert_eq!(again.id(), id, "the saved id is kept");
        let size = again
            .bootstrap()
            .await
            .expect("rejoins from the saved table");
        assert!(size >= 8, "table after rejoin: {size}");
        let key = nodes[4].put(b"after restart").await.expect("put").key;
        assert_eq!(
            again.get(key).await.expect("get"),
            Some(b"after restart".to_vec())
        );
        again.shutdown().await;
        shutdown(&nodes).await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_bootstrap_address_times_out_clearly() {
    bounded(async {
        // A bound socket that never answers stands for a dead router.
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let node = loopback_builder()
            .bootstrap([silent.local_addr().expect("addr").to_string()])
            .spawn()
            .await
            .expect("start");
        let err = node.bootstrap().await.expect_err("nobody answers");
        assert!(matches!(err, Error::Op(OpError::Timeout)), "{err:?}");
        assert!(err.to_string().contains("timed out"), "{err}");
        // With an empty table, other operations say there is no route.
        let err = node.get(Id::random()).await.expect_err("no route");
        assert!(
            matches!(err, Error::Op(OpError::NoRoute | OpError::Timeout)),
            "{err:?}"
        );
        node.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_datagrams_get_errors_or_nothing_and_node_keeps_serving() {
    bounded(async {
        let nodes = network(4).await;
        let target = nodes[1].local_addr();
        let attacker = UdpSocket::bind("127.0.0.1:0").expect("bind");
        attacker
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"d".to_vec(),
            b"d1:t2:aa1:y1:q1:q4:ping1:ad2:id3:abcee".to_vec(), // short id
            b"d1:t2:aa1:y1:q1:q4:pinge".to_vec(),               // no args
            b"d1:t2:aa1:y1:q1:q10:frobnicate1:ad2:id20:aaaaaaaaaaaaaaaaaaaaee".to_vec(),
            b"i99999999999999999999999e".to_vec(),
            vec![b'l'; 5000],
            vec![0xff; 1400],
        ];
        for sample in &samples {
            attacker.send_to(sample, target).expect("send");
        }
        for _ in 0..2000 {
            let len = rng.gen_range(0..300);
            let junk: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            attacker.send_to(&junk, target).expect("send");
        }
        // Whatever came back is a KRPC error (`y` = `e`, code 203 or 204), or the
        // ping a node sends to verify a querier before it may enter the table (the
        // unknown-method query above carried a well-formed id).
        let mut buf = [0u8; 2048];
        let mut errors = 0;
        while let Ok((len, _)) = attacker.recv_from(&mut buf) {
            let reply = &buf[..len];
            let has = |needle: &[u8]| reply.windows(needle.len()).any(|w| w == needle);
            if has(b"1:y1:e") {
                assert!(
                    has(b"i203e") || has(b"i204e"),
                    "unexpected error code: {:?}",
                    String::from_utf8_lossy(reply)
                );
                errors += 1;
            } else {
                assert!(
                    has(b"1:q4:ping") && has(b"1:y1:q"),
                    "neither an error nor a ping: {:?}",
                    String::from_utf8_lossy(reply)
                );
            }
        }
        assert!(
            errors >= 3,
            "malformed queries are answered with KRPC errors ({errors})"
        );
        // The node still serves.
        let key = nodes[2].put(b"still alive").await.expect("put").key;
        assert_eq!(
            nodes[1].get(key).await.expect("get"),
            Some(b"still alive".to_vec())
        );
        assert!(nodes[1].stats().malformed >= 2000);
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_node_reads_but_stays_out_of_tables() {
    bounded(async {
        let nodes = network(10).await;
        let key = nodes[2]
            .put(b"for a read-only reader")
            .await
            .expect("put")
            .key;
        let reader = loopback_builder()
            .read_only(true)
            .bootstrap([nodes[0].local_addr().to_string()])
            .spawn()
            .await
            .expect("start");
        reader.bootstrap().await.expect("bootstrap");
        assert_eq!(
            reader.get(key).await.expect("get"),
            Some(b"for a read-only reader".to_vec())
        );
        // BEP 43: nobody adds it to a table, and it answers no queries.
        for node in &nodes {
            assert!(
                node.routing_table().iter().all(|c| c.id != reader.id()),
                "a read-only node entered a routing table"
            );
        }
        let err = nodes[1]
            .ping(reader.local_addr())
            .await
            .expect_err("no answer");
        assert!(err.is_timeout(), "{err:?}");
        reader.shutdown().await;
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_node_and_frees_its_port() {
    bounded(async {
        let node = loopback_builder().spawn().await.expect("start");
        let addr = node.local_addr();
        let clone = node.clone();
        drop(node);
        // One clone left: still running.
        assert!(UdpSocket::bind(addr).is_err(), "port freed too early");
        drop(clone);
        // The tasks see the stop signal and drop the socket.
        let mut freed = false;
        for _ in 0..100 {
            if UdpSocket::bind(addr).is_ok() {
                freed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            freed,
            "the port is still bound after every handle was dropped"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_in_flight_table_paces_lookups_instead_of_failing_them() {
    bounded(async {
        let nodes = network(16).await;
        let key = nodes[3].put(b"paced").await.expect("put").key;
        let config = dipsea::NodeConfig {
            max_in_flight: 2,
            ..dipsea::NodeConfig::default()
        };
        let node = loopback_builder()
            .config(config)
            .query_timeout(
                dipsea_tests::LOOPBACK_TIMEOUT.0,
                dipsea_tests::LOOPBACK_TIMEOUT.1,
            )
            .bootstrap([nodes[0].local_addr().to_string()])
            .spawn()
            .await
            .expect("start");
        node.bootstrap().await.expect("bootstrap");
        // 50 gets at once through a node that may have 2 queries in flight.
        let gets: Vec<_> = (0..50)
            .map(|_| {
                let node = node.clone();
                tokio::spawn(async move { node.get(key).await })
            })
            .collect();
        for get in gets {
            assert_eq!(
                get.await.expect("task").expect("get"),
                Some(b"paced".to_vec())
            );
        }
        assert!(
            node.stats().in_flight_full > 0,
            "the bound was actually hit"
        );
        node.shutdown().await;
        shutdown(&nodes).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_network_stores_finds_and_announces() {
    bounded(async {
        let nodes = network_of(16, || loopback_builder().bind("[::1]:0")).await;
        assert!(nodes[0].local_addr().is_ipv6());
        // Every table holds IPv6 contacts only, learned from `nodes6`; no datagram
        // went unsent (a fresh socket's first ones once did, costing a retry).
        for node in &nodes {
            let table = node.routing_table();
            assert!(!table.is_empty());
            assert!(table.iter().all(|c| c.addr.is_ipv6()));
            assert_eq!(node.stats().send_drops, 0);
        }
        let stored = nodes[3].put(b"over ipv6").await.expect("put");
        assert!(stored.stored >= 1);
        assert_eq!(
            nodes[11].get(stored.key).await.expect("get"),
            Some(b"over ipv6".to_vec())
        );
        let info_hash = Id::sha1(b"ipv6 torrent");
        assert!(
            nodes[5]
                .announce(info_hash, Some(6881))
                .await
                .expect("announce")
                >= 1
        );
        let peers = nodes[9].get_peers(info_hash).await.expect("get_peers");
        assert!(
            peers.contains(&"[::1]:6881".parse().expect("addr")),
            "{peers:?}"
        );
        shutdown(&nodes).await;
    })
    .await;
}

/// Dropping the caller's future cancels the operation in the UDP driver. This needs the
/// real driver (its handle turns the drop into `Node::cancel`), so it runs on real
/// sockets and real time, about 100 ms. That a cancelled operation then sends nothing
/// more, not even the retry of its timed-out query, is checked in virtual time by
/// `node_cancel.rs`, so this test does not wait out the query timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_whose_caller_stops_waiting_is_cancelled() {
    bounded(async {
        // The node's only contact never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        silent.set_nonblocking(true).expect("nonblocking");
        let node = loopback_builder().spawn().await.expect("node starts");
        node.node().add_seeds([dipsea::NodeInfo::new(
            Id::sha1(b"silent"),
            silent.local_addr().expect("addr"),
        )]);
        let waited =
            tokio::time::timeout(Duration::from_millis(100), node.get(Id::sha1(b"key"))).await;
        assert!(waited.is_err(), "the get cannot finish: {waited:?}");
        assert_eq!(node.node().operations_running(), 0);
        // The get did start: its one query is queued at the silent socket (loopback
        // delivers at send time). (The node also re-bootstraps from its contact, its
        // table being empty: those are find_node queries.)
        let mut buf = [0u8; 1500];
        let mut gets = 0;
        while let Ok((len, _)) = silent.recv_from(&mut buf) {
            let msg = dipsea::wire::decode(&buf[..len]).expect("the node sends KRPC");
            if let dipsea::wire::MessageKind::Query(q) = msg.kind {
                if matches!(q.method, dipsea::wire::QueryMethod::Get { .. }) {
                    gets += 1;
                }
            }
        }
        assert_eq!(gets, 1, "one get query");
        node.shutdown().await;
    })
    .await;
}
