//! Broadcasts over loopback networks of real UDP nodes: delivered to every node
//! (or every node of a key range) exactly once, and refused over the wire when
//! unsigned, badly signed, replayed, from an origin not allowed, over the rate or
//! over the payload bound. Every test is bounded by a timeout and stops by itself.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::Duration;

use dipsea::push::{AcceptPolicy, Broadcast, BroadcastConfig, KeyRange, Rate, SigningKey};
use dipsea::wire::push::{BroadcastQuery, MAX_PAYLOAD};
use dipsea::wire::{decode, MessageKind};
use dipsea::{Id, NodeConfig, NodeHandle};
use dipsea_tests::{loopback_builder, settle, shutdown};

const LIMIT: Duration = Duration::from_secs(120);

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn accepting(origin: &SigningKey) -> NodeConfig {
    let mut config = NodeConfig::default();
    config.broadcast.accept =
        AcceptPolicy::Allowed(HashSet::from([origin.verifying_key().to_bytes()]));
    config
}

/// `n` loopback nodes with `config`, each bootstrapped from the first, joined twice.
async fn network(n: usize, config: NodeConfig) -> Vec<NodeHandle> {
    let builder = || {
        loopback_builder()
            .config(config.clone())
            .query_timeout(Duration::from_millis(250), Duration::from_secs(2))
    };
    let seed = builder().spawn().await.expect("seed starts");
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
    for _ in 0..2 {
        for node in nodes.iter().skip(1) {
            node.bootstrap().await.expect("bootstrap");
        }
    }
    settle(&nodes).await;
    nodes
}

/// Waits for one delivery on each stream; returns the broadcasts received.
async fn receive_all(
    streams: &mut [tokio::sync::broadcast::Receiver<Broadcast>],
) -> Vec<Broadcast> {
    let mut got = Vec::new();
    for stream in streams.iter_mut() {
        let b = tokio::time::timeout(Duration::from_secs(20), stream.recv())
            .await
            .expect("delivered in time")
            .expect("stream open");
        got.push(b);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_every_node_once() {
    tokio::time::timeout(LIMIT, async {
        let origin = key(1);
        let nodes = network(16, accepting(&origin)).await;
        let mut streams: Vec<_> = nodes[1..].iter().map(|n| n.broadcasts()).collect();
        let sent = nodes[0]
            .broadcast(&origin, 1, KeyRange::ALL, b"hello, everyone")
            .await
            .expect("broadcast");
        assert!(sent >= 1);
        let got = receive_all(&mut streams).await;
        for b in &got {
            assert_eq!(b.payload, b"hello, everyone");
            assert_eq!(b.origin, origin.verifying_key().to_bytes());
            assert!(b.verify());
        }
        settle(&nodes).await;
        for node in &nodes[1..] {
            assert_eq!(node.node().broadcast_stats().delivered, 1, "{}", node.id());
        }
        assert_eq!(nodes[0].node().broadcast_stats().delivered, 0);
        shutdown(&nodes).await;
    })
    .await
    .expect("test ran past its time limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multicast_reaches_its_range_only() {
    tokio::time::timeout(LIMIT, async {
        let origin = key(2);
        let nodes = network(24, accepting(&origin)).await;
        // The range of one bit around node 5: about half of the nodes.
        let range = KeyRange::new(nodes[5].id(), 1).expect("range");
        let inside: Vec<&NodeHandle> = nodes[1..]
            .iter()
            .filter(|n| range.contains(&n.id()))
            .collect();
        let mut streams: Vec<_> = inside.iter().map(|n| n.broadcasts()).collect();
        nodes[0]
            .broadcast(&origin, 1, range, b"half of you")
            .await
            .expect("multicast");
        receive_all(&mut streams).await;
        settle(&nodes).await;
        for node in &nodes[1..] {
            let expected = u64::from(range.contains(&node.id()));
            assert_eq!(
                node.node().broadcast_stats().delivered,
                expected,
                "{}",
                node.id()
            );
        }
        shutdown(&nodes).await;
    })
    .await
    .expect("test ran past its time limit");
}

/// Sends a broadcast query straight to `to` and returns the KRPC error code of the
/// answer, or 0 for an acknowledgement. Queries the node sends us meanwhile (a ping
/// before it adds us to its table) are skipped.
fn ask(socket: &UdpSocket, to: std::net::SocketAddr, b: &Broadcast, payload: &[u8]) -> i64 {
    let mut args = b.args(160);
    args.payload = payload;
    let mut datagram = Vec::new();
    BroadcastQuery {
        tid: b"bc01",
        version: Some(b"DS\x00\x02"),
        id: Id::sha1(b"raw sender"),
        args,
    }
    .encode(&mut datagram);
    socket.send_to(&datagram, to).expect("send");
    let mut buf = [0u8; 2048];
    loop {
        let (len, _) = socket.recv_from(&mut buf).expect("an answer");
        let msg = decode(&buf[..len]).expect("a KRPC message");
        match msg.kind {
            MessageKind::Response(_) if msg.tid == b"bc01" => return 0,
            MessageKind::Error(e) if msg.tid == b"bc01" => return e.code,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_over_the_wire() {
    tokio::time::timeout(LIMIT, async {
        let allowed = key(3);
        let mut config = accepting(&allowed);
        config.broadcast.per_ip = Rate {
            per_sec: 1,
            burst: 8,
        };
        let open = NodeConfig {
            broadcast: BroadcastConfig {
                accept: AcceptPolicy::Open,
                per_origin: Rate {
                    per_sec: 1,
                    burst: 2,
                },
                ..BroadcastConfig::default()
            },
            ..NodeConfig::default()
        };
        let node = loopback_builder()
            .config(config)
            .spawn()
            .await
            .expect("node");
        let open_node = loopback_builder().config(open).spawn().await.expect("node");
        let off = loopback_builder().spawn().await.expect("node");
        let (to, open_to, off_to) = (node.local_addr(), open_node.local_addr(), off.local_addr());
        tokio::task::spawn_blocking(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let good = |seq| Broadcast::sign(&allowed, seq, KeyRange::ALL, b"hi").expect("signed");
            // Accepted, then the same again: a duplicate, acknowledged.
            assert_eq!(ask(&socket, to, &good(100), b"hi"), 0);
            assert_eq!(ask(&socket, to, &good(100), b"hi"), 0);
            // Unsigned (a zero signature) and badly signed (another payload).
            let mut unsigned = good(101);
            unsigned.sig = [0; 64];
            assert_eq!(ask(&socket, to, &unsigned, b"hi"), 206);
            assert_eq!(ask(&socket, to, &good(102), b"ho"), 206);
            // A replay far below the window.
            assert_eq!(ask(&socket, to, &good(200), b"hi"), 0);
            assert_eq!(ask(&socket, to, &good(1), b"hi"), 201);
            // Over the payload bound.
            let big = vec![b'x'; MAX_PAYLOAD + 1];
            assert_eq!(ask(&socket, to, &good(300), &big), 205);
            // An origin not allowed.
            let stranger = Broadcast::sign(&key(4), 1, KeyRange::ALL, b"hi").expect("signed");
            assert_eq!(ask(&socket, to, &stranger, b"hi"), 201);
            // Over the per-IP rate (8 in a burst; 6 were taken above: the size, policy
            // and range checks come before it).
            let mut codes = Vec::new();
            for seq in 400..410 {
                codes.push(ask(&socket, to, &good(seq), b"hi"));
            }
            assert!(codes.contains(&201), "{codes:?}");
            // Over the per-origin rate of an open node (2 in a burst).
            let codes: Vec<i64> = (1..=6)
                .map(|seq| {
                    let b = Broadcast::sign(&key(5), seq, KeyRange::ALL, b"x").expect("signed");
                    ask(&socket, open_to, &b, b"x")
                })
                .collect();
            assert_eq!(codes[..2], [0, 0]);
            assert!(codes[2..].contains(&201), "{codes:?}");
            // A node that accepts no broadcasts.
            assert_eq!(ask(&socket, off_to, &good(500), b"hi"), 201);
        })
        .await
        .expect("refusal checks");
        assert!(node.node().broadcast_stats().refused >= 6);
        assert_eq!(node.node().broadcast_stats().duplicates, 1);
        for n in [&node, &open_node, &off] {
            n.shutdown().await;
        }
    })
    .await
    .expect("test ran past its time limit");
}
