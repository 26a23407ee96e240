//! Subscriptions to a mutable item over loopback networks of real UDP nodes: every
//! subscriber sees every new version soon after its put, also after a storing node
//! is killed; subscribers to an info-hash's peers see the peers announced before and
//! after they subscribed, each once; and refusals over the wire (subscriptions over the per-node and per-IP
//! limits; notifications badly signed, for the wrong target, older, or unsolicited),
//! each with its KRPC error and counter. Every test is bounded by a timeout.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dipsea::wire::subscribe::{NotifyQuery, PeersQuery, SubscribeQuery};
use dipsea::wire::CompactPeers;
use dipsea::{Id, Keypair, MutablePut, NodeConfig, NodeHandle, Subscription};
use dipsea_tests::krpc_client::{KrpcClient, Reply};
use dipsea_tests::{loopback_builder, network_of, shutdown};

const LIMIT: Duration = Duration::from_secs(240);

/// Subscriptions with short leases, so that renewals and replacements happen
/// within a test.
fn short_leases() -> NodeConfig {
    let mut config = NodeConfig::default();
    config.subscribe.lease = Duration::from_secs(4);
    config.subscribe.retry = Duration::from_millis(500);
    config
}

async fn put(publisher: &NodeHandle, key: &Keypair, seq: i64) {
    let value = format!("version {seq}");
    publisher
        .put_mutable(
            key,
            value.as_bytes(),
            MutablePut {
                seq: Some(seq),
                ..MutablePut::default()
            },
        )
        .await
        .expect("put");
}

/// Reads each subscription until it has delivered `seq`; returns when each one
/// saw it, after `since`. Panics if one delivers a version twice or out of order.
async fn wait_for(subs: &mut [(Subscription, i64)], seq: i64, since: Instant) -> Vec<Duration> {
    let mut seen = Vec::new();
    for (sub, last) in subs.iter_mut() {
        while *last < seq {
            let value = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .unwrap_or_else(|_| panic!("version {seq} not delivered in 10 s"))
                .expect("subscription open");
            assert!(value.seq > *last, "seq {} after {}", value.seq, *last);
            assert_eq!(value.value, format!("version {}", value.seq).as_bytes());
            *last = value.seq;
        }
        seen.push(since.elapsed());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_subscribers_see_twenty_updates_within_a_second() {
    tokio::time::timeout(LIMIT, async {
        let config = short_leases();
        let mut nodes = network_of(60, || loopback_builder().config(config.clone())).await;
        let key = Keypair::from_seed(&[42; 32]);
        let target = key.target(b"");
        // The 8 closest nodes store the item; the farthest publishes; 50 of the
        // others subscribe.
        nodes.sort_by_key(|n| n.id().distance(&target));
        let publisher = nodes.pop().expect("a publisher");
        let mut subs = Vec::new();
        for node in &nodes[8..58] {
            let sub = node
                .subscribe(key.public_key(), None)
                .await
                .expect("subscribe");
            assert_eq!(sub.target(), target);
            subs.push((sub, 0i64));
        }
        let held = |nodes: &[NodeHandle]| -> usize {
            nodes.iter().map(|n| n.stats().subscriptions_held).sum()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while held(&nodes) < 50 * 4 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            held(&nodes) >= 50 * 3,
            "only {} subscriptions held",
            held(&nodes)
        );
        let mut latencies = Vec::new();
        let mut put_times = Vec::new();
        for seq in 1..=20 {
            if seq == 11 {
                // Kill the storing node that holds the most subscriptions.
                let busiest = (0..8)
                    .max_by_key(|&i| nodes[i].stats().subscriptions_held)
                    .expect("storing nodes");
                let victim = nodes.remove(busiest);
                assert!(victim.stats().subscriptions_held > 0);
                victim.shutdown().await;
                drop(victim);
            }
            let start = Instant::now();
            put(&publisher, &key, seq).await;
            put_times.push(start.elapsed());
            let seen = wait_for(&mut subs, seq, start).await;
            latencies.extend(seen.into_iter().map(|d| (seq > 10, d)));
        }
        for (half, name) in [(false, "before"), (true, "after")] {
            let mut part: Vec<Duration> = latencies
                .iter()
                .filter(|(h, _)| *h == half)
                .map(|(_, d)| *d)
                .collect();
            part.sort_unstable();
            eprintln!(
                "{name} the kill: median {:?}, max {:?}",
                part[part.len() / 2],
                part[part.len() - 1]
            );
        }
        let mut latencies: Vec<Duration> = latencies.into_iter().map(|(_, d)| d).collect();
        latencies.sort_unstable();
        let median = latencies[latencies.len() / 2];
        let max = latencies[latencies.len() - 1];
        put_times.sort_unstable();
        eprintln!(
            "{} deliveries: median {median:?}, max {max:?} from the put's start; \
             puts took {:?} to {:?}",
            latencies.len(),
            put_times[0],
            put_times[put_times.len() - 1],
        );
        assert_eq!(latencies.len(), 50 * 20);
        assert!(
            max < Duration::from_secs(1),
            "slowest delivery took {max:?}"
        );
        // The killed node's subscribers found it gone at their next renewal (within
        // a lease) and subscribed elsewhere.
        let deadline = Instant::now() + Duration::from_secs(10);
        let resubscribed =
            |nodes: &[NodeHandle]| -> u64 { nodes.iter().map(|n| n.stats().resubscribes).sum() };
        while resubscribed(&nodes) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            resubscribed(&nodes) > 0,
            "nobody replaced the killed storing node"
        );
        let received: u64 = nodes.iter().map(|n| n.stats().notifications_received).sum();
        assert!(received >= 50 * 20, "{received} notifications delivered");
        // Dropping the subscriptions unsubscribes: the storing nodes let go.
        drop(subs);
        let deadline = Instant::now() + Duration::from_secs(10);
        while held(&nodes) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(held(&nodes), 0);
        nodes.push(publisher);
        shutdown(&nodes).await;
    })
    .await
    .expect("test ran past its time limit");
}

fn subscribe_datagram(tid: &[u8], target: Id, lease: u32) -> Vec<u8> {
    let mut out = Vec::new();
    SubscribeQuery {
        tid,
        version: Some(b"DS\x00\x03"),
        id: Id::sha1(tid),
        target,
        lease,
        peers: false,
    }
    .encode(&mut out);
    out
}

async fn subscribe_raw(client: &mut KrpcClient, to: SocketAddr, n: u32, lease: u32) -> Reply {
    let tid = n.to_be_bytes();
    let datagram = subscribe_datagram(&tid, Id::sha1(b"some item"), lease);
    client.ask_raw(to, &tid, &datagram).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_over_the_limits_are_refused() {
    tokio::time::timeout(LIMIT, async {
        let mut config = NodeConfig::default();
        config.subscribe.max_per_ip = 3;
        config.subscribe.max_held = 5;
        let node = loopback_builder()
            .config(config)
            .spawn()
            .await
            .expect("node");
        let to = node.local_addr();
        // One address: 3 subscriptions, then refused (202), whatever the port.
        let mut from_one = Vec::new();
        for _ in 0..4 {
            from_one.push(
                KrpcClient::bind(Ipv4Addr::new(127, 0, 0, 2))
                    .await
                    .expect("bind"),
            );
        }
        for (i, client) in from_one.iter_mut().enumerate() {
            let reply = subscribe_raw(client, to, i as u32, 60).await;
            let expected = if i < 3 { None } else { Some(202) };
            assert_eq!(reply.code(), expected, "subscription {i}: {reply:?}");
        }
        // A renewal is no new subscription.
        assert_eq!(
            subscribe_raw(&mut from_one[0], to, 10, 60).await.code(),
            None
        );
        assert_eq!(node.stats().subscribe_refused_ip, 1);
        // Other addresses: 2 more fit the node's bound of 5, then refused.
        for (i, last) in [(3u8, 4u8), (4, 5), (5, 6)] {
            let mut client = KrpcClient::bind(Ipv4Addr::new(127, 0, 0, last))
                .await
                .expect("bind");
            let reply = subscribe_raw(&mut client, to, u32::from(i), 60).await;
            let expected = if i < 5 { None } else { Some(202) };
            assert_eq!(reply.code(), expected, "address {last}: {reply:?}");
        }
        let stats = node.stats();
        assert_eq!(
            (stats.subscriptions_held, stats.subscribe_refused_node),
            (5, 1)
        );
        // Unsubscribing (lease 0) frees a slot.
        assert_eq!(
            subscribe_raw(&mut from_one[1], to, 20, 0).await.code(),
            None
        );
        assert_eq!(node.stats().subscriptions_held, 4);
        assert_eq!(
            subscribe_raw(&mut from_one[3], to, 21, 60).await.code(),
            None
        );
        node.shutdown().await;
    })
    .await
    .expect("test ran past its time limit");
}

fn notify_datagram(tid: &[u8], key: &Keypair, target: Id, seq: i64, sign_seq: i64) -> Vec<u8> {
    let v = dipsea::wire::bencode::encode_bytes(format!("version {seq}").as_bytes());
    let sig = key.sign(b"", sign_seq, &v);
    let mut out = Vec::new();
    NotifyQuery {
        tid,
        version: Some(b"DS\x00\x03"),
        id: Id::sha1(b"notifier"),
        target,
        k: &key.public_key(),
        salt: b"",
        seq,
        sig: &sig,
        v: &v,
    }
    .encode(&mut out);
    out
}

/// Sends a notification whose tid is `n{n}` and returns the error code (`None`: an
/// acknowledgement).
async fn ask(client: &mut KrpcClient, to: SocketAddr, n: u8, datagram: Vec<u8>) -> Option<i64> {
    let tid = [b'n', b'0' + n];
    client.ask_raw(to, &tid, &datagram).await.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_notifications_are_refused_and_counted() {
    tokio::time::timeout(LIMIT, async {
        let nodes = network_of(4, loopback_builder).await;
        let key = Keypair::from_seed(&[7; 32]);
        let target = key.target(b"");
        let listener = &nodes[1];
        let mut sub = listener
            .subscribe(key.public_key(), None)
            .await
            .expect("subscribe");
        let to = listener.local_addr();
        let mut client = KrpcClient::bind(Ipv4Addr::LOCALHOST).await.expect("bind");
        // A valid version is acknowledged and delivered.
        assert_eq!(
            ask(
                &mut client,
                to,
                1,
                notify_datagram(b"n1", &key, target, 5, 5)
            )
            .await,
            None
        );
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("delivered")
            .expect("open");
        assert_eq!((got.seq, got.value.as_slice()), (5, &b"version 5"[..]));
        // Badly signed (the signature of another seq): 206.
        assert_eq!(
            ask(
                &mut client,
                to,
                2,
                notify_datagram(b"n2", &key, target, 6, 9)
            )
            .await,
            Some(206)
        );
        // The target is not SHA-1(k ‖ salt): 203.
        let elsewhere = Keypair::from_seed(&[8; 32]).target(b"");
        let wrong = notify_datagram(b"n3", &key, target, 6, 6);
        let mut wrong_target = wrong.clone();
        let pos = wrong.windows(6).position(|w| w == b"1:c20:").expect("c") + 6;
        wrong_target[pos..pos + 20].copy_from_slice(elsewhere.as_bytes());
        // Nobody here subscribed to `elsewhere`: unsolicited (203).
        assert_eq!(
            ask(&mut client, to, 3, wrong_target.clone()).await,
            Some(203)
        );
        // Older than the version held: acknowledged, not delivered.
        assert_eq!(
            ask(
                &mut client,
                to,
                4,
                notify_datagram(b"n4", &key, target, 4, 4)
            )
            .await,
            None
        );
        assert_eq!(
            ask(
                &mut client,
                to,
                5,
                notify_datagram(b"n5", &key, target, 5, 5)
            )
            .await,
            None
        );
        // For an item nobody here subscribed to: 203.
        let other = Keypair::from_seed(&[9; 32]);
        let unsolicited = notify_datagram(b"n6", &other, other.target(b""), 1, 1);
        assert_eq!(ask(&mut client, to, 6, unsolicited).await, Some(203));
        // Subscribed to `elsewhere` too, the wrong target is refused as such.
        let _sub2 = listener
            .subscribe(Keypair::from_seed(&[8; 32]).public_key(), None)
            .await
            .expect("subscribe");
        let pos7 = wrong_target
            .windows(5)
            .position(|w| w == b"1:t2:")
            .expect("tid")
            + 5;
        wrong_target[pos7 + 1] = b'7';
        assert_eq!(ask(&mut client, to, 7, wrong_target).await, Some(203));
        assert!(sub.try_next().is_none(), "a refused version was delivered");
        let stats = listener.stats();
        assert_eq!(stats.notifications_received, 1);
        assert_eq!(stats.notify_stale, 2);
        assert_eq!(stats.notify_unsolicited, 2);
        assert_eq!(stats.notify_invalid, 2);
        shutdown(&nodes).await;
    })
    .await
    .expect("test ran past its time limit");
}

/// Reads `sub` until it has yielded every peer of `want` (in any order); panics on
/// a peer yielded twice or one not announced.
async fn wait_for_peers(sub: &mut dipsea::PeerSubscription, want: &[SocketAddr]) {
    let mut got: Vec<SocketAddr> = Vec::new();
    while got.len() < want.len() {
        let peer = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap_or_else(|_| panic!("peers {want:?} not all delivered in 10 s: {got:?}"))
            .expect("subscription open");
        assert!(want.contains(&peer), "{peer} was not announced");
        assert!(!got.contains(&peer), "{peer} delivered twice");
        got.push(peer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_subscribers_see_the_peers_announced() {
    tokio::time::timeout(LIMIT, async {
        let nodes = network_of(24, || loopback_builder().config(short_leases())).await;
        let info_hash = Id::sha1(b"a torrent");
        let peer = |node: &NodeHandle, port: u16| {
            SocketAddr::new(node.local_addr().ip(), port)
        };
        // One peer before anyone subscribes: subscribers get it from the answers.
        nodes[20]
            .announce(info_hash, Some(7_000))
            .await
            .expect("announce");
        let mut subs = Vec::new();
        for node in &nodes[10..15] {
            let sub = node.subscribe_peers(info_hash).await.expect("subscribe");
            assert_eq!(sub.info_hash(), info_hash);
            subs.push(sub);
        }
        let mut want = vec![peer(&nodes[20], 7_000)];
        for sub in &mut subs {
            wait_for_peers(sub, &want).await;
        }
        // Three more peers, announced after: pushed; an announce repeated is not
        // delivered again.
        for (i, node) in nodes[21..24].iter().enumerate() {
            let port = 7_001 + i as u16;
            node.announce(info_hash, Some(port)).await.expect("announce");
            want.push(peer(node, port));
        }
        nodes[20]
            .announce(info_hash, Some(7_000))
            .await
            .expect("announce again");
        for sub in &mut subs {
            wait_for_peers(sub, &want[1..]).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for sub in &mut subs {
            assert_eq!(sub.try_next(), None, "a peer delivered twice");
        }
        let sent: u64 = nodes.iter().map(|n| n.stats().notifications_sent).sum();
        assert!(sent >= 5 * 3, "{sent} peer notifications sent");
        // A peers notification nobody asked for is refused (203) and counted, as is
        // a malformed one.
        let listener = &nodes[10];
        let to = listener.local_addr();
        let mut client = KrpcClient::bind(Ipv4Addr::LOCALHOST).await.expect("bind");
        let stray = [peer(&nodes[0], 9)];
        let mut datagram = Vec::new();
        PeersQuery {
            tid: b"p1",
            version: Some(b"DS\x00\x03"),
            id: Id::sha1(b"notifier"),
            info_hash: Id::sha1(b"another torrent"),
            peers: CompactPeers::from_addrs(&stray),
        }
        .encode(&mut datagram);
        assert_eq!(client.ask_raw(to, b"p1", &datagram).await.code(), Some(203));
        // No `values`.
        let malformed = b"d1:ad1:c20:aaaaaaaaaaaaaaaaaaaa2:id20:bbbbbbbbbbbbbbbbbbbbe1:q12:dipsea_peers1:t2:p21:y1:qe";
        assert_eq!(client.ask_raw(to, b"p2", malformed).await.code(), Some(203));
        let stats = listener.stats();
        assert_eq!((stats.notify_unsolicited, stats.notify_invalid), (1, 1));
        // Dropped, the subscriptions end at their storing nodes.
        drop(subs);
        let deadline = Instant::now() + Duration::from_secs(10);
        while nodes.iter().map(|n| n.stats().subscriptions_held).sum::<usize>() > 0 {
            assert!(Instant::now() < deadline, "subscriptions still held");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown(&nodes).await;
    })
    .await
    .expect("test ran past its time limit");
}

#[test]
fn a_blocking_subscription_waits_with_a_timeout() {
    let seed = loopback_builder().start_blocking().expect("seed");
    let seed_addr = seed.local_addr().to_string();
    let nodes: Vec<_> = (0..3)
        .map(|_| {
            loopback_builder()
                .bootstrap([seed_addr.clone()])
                .start_blocking()
                .expect("node")
        })
        .collect();
    for node in &nodes {
        node.bootstrap().expect("bootstrap");
    }
    let key = Keypair::from_seed(&[11; 32]);
    let sub = nodes[0]
        .subscribe(key.public_key(), Some(b"topic"))
        .expect("subscribe");
    assert_eq!(sub.target(), key.target(b"topic"));
    assert!(sub.next_timeout(Duration::from_millis(50)).is_none());
    nodes[1]
        .put_mutable(
            &key,
            b"hello",
            MutablePut {
                salt: b"topic".to_vec(),
                ..MutablePut::default()
            },
        )
        .expect("put");
    let got = sub.next_timeout(Duration::from_secs(5)).expect("delivered");
    assert_eq!(
        (got.value.as_slice(), got.salt.as_slice()),
        (&b"hello"[..], &b"topic"[..])
    );
    drop(sub);
    for node in nodes.iter().chain([&seed]) {
        node.shutdown();
    }
}
