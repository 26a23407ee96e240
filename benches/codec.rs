//! The KRPC codec (`dipsea::wire`): nanoseconds to decode and to encode one message of
//! each kind, one datagram at a time on one thread.
//!
//! Decode reads a datagram into a borrowed `Message` (no allocation); encode appends a
//! message to a reused `Vec` (no allocation once it has grown). The messages are the
//! shapes a node handles most: every BEP 5 and BEP 44 query, the replies to them (a
//! `get_peers` reply with a token and 8 nodes, and one with 20 peers), and an error.
//! Baseline: a `get_peers` reply should decode in well under 500 ns.
//!
//! Run: `cargo bench -p dipsea-benches --bench codec -- --warm-up-time 1 --measurement-time 3`.

// `criterion_group!` defines a public function it gives no doc comment.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dipsea::wire::{
    decode, write_compact_nodes, CompactNodes, CompactPeers, KrpcError, Message, MessageKind,
    PutArgs, Query, QueryMethod, Response, Want,
};
use dipsea::{Id, NodeInfo};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Owned data the borrowed messages point into.
struct Fixtures {
    nodes: Vec<u8>,
    peers: Vec<SocketAddr>,
    k: [u8; 32],
    sig: [u8; 64],
}

fn fixtures() -> Fixtures {
    let mut rng = SmallRng::seed_from_u64(44);
    let nodes: Vec<NodeInfo> = (0..8)
        .map(|_| {
            let ip = Ipv4Addr::from(rng.gen::<[u8; 4]>());
            NodeInfo::new(
                Id::random_with(&mut rng),
                SocketAddr::new(ip.into(), rng.gen()),
            )
        })
        .collect();
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    write_compact_nodes(&nodes, &mut v4, &mut v6);
    let peers = (0..20)
        .map(|_| SocketAddr::new(IpAddr::V4(rng.gen::<[u8; 4]>().into()), rng.gen()))
        .collect();
    let mut sig = [0u8; 64];
    rng.fill(&mut sig[..]);
    Fixtures {
        nodes: v4,
        peers,
        k: rng.gen(),
        sig,
    }
}

/// One message of each kind, named for the report.
fn messages(f: &Fixtures) -> Vec<(&'static str, Message<'_>)> {
    let mut rng = SmallRng::seed_from_u64(5);
    let mut id = || Id::random_with(&mut rng);
    let query = |id: Id, method| {
        MessageKind::Query(Query {
            id,
            want: Want::default(),
            method,
        })
    };
    let nodes = CompactNodes::v4(&f.nodes).ok();
    let kinds = vec![
        ("q_ping", query(id(), QueryMethod::Ping)),
        (
            "q_find_node",
            query(id(), QueryMethod::FindNode { target: id() }),
        ),
        (
            "q_get_peers",
            query(
                id(),
                QueryMethod::GetPeers {
                    info_hash: id(),
                    scrape: false,
                },
            ),
        ),
        (
            "q_announce_peer",
            query(
                id(),
                QueryMethod::AnnouncePeer {
                    info_hash: id(),
                    port: 6881,
                    implied_port: true,
                    token: b"\x01\x02\x03\x04",
                    seed: false,
                },
            ),
        ),
        (
            "q_get",
            query(
                id(),
                QueryMethod::Get {
                    target: id(),
                    seq: Some(3),
                },
            ),
        ),
        (
            "q_put_mutable",
            query(
                id(),
                QueryMethod::Put(PutArgs {
                    token: b"\x01\x02\x03\x04",
                    v: b"35:a value of some size, as BEP 44 has",
                    k: Some(&f.k),
                    salt: Some(b"salt"),
                    seq: Some(7),
                    cas: None,
                    sig: Some(&f.sig),
                    target: Some(id()),
                }),
            ),
        ),
        ("r_ping", MessageKind::Response(Response::new(id()))),
        (
            "r_find_node_8",
            MessageKind::Response(Response {
                nodes,
                ..Response::new(id())
            }),
        ),
        (
            "r_get_peers_token_8_nodes",
            MessageKind::Response(Response {
                nodes,
                token: Some(b"\x01\x02\x03\x04"),
                ..Response::new(id())
            }),
        ),
        (
            "r_get_peers_20_values",
            MessageKind::Response(Response {
                values: Some(CompactPeers::from_addrs(&f.peers)),
                token: Some(b"\x01\x02\x03\x04"),
                ..Response::new(id())
            }),
        ),
        (
            "r_get_mutable",
            MessageKind::Response(Response {
                nodes,
                token: Some(b"\x01\x02\x03\x04"),
                v: Some(b"35:a value of some size, as BEP 44 has"),
                k: Some(&f.k),
                seq: Some(7),
                sig: Some(&f.sig),
                ..Response::new(id())
            }),
        ),
        (
            "e_protocol",
            MessageKind::Error(KrpcError {
                code: 203,
                message: b"invalid token",
            }),
        ),
    ];
    kinds
        .into_iter()
        .map(|(name, kind)| {
            let msg = Message {
                tid: b"\x00\x00\x00\x01",
                version: Some(b"DS\x00\x01"),
                ip: Some(SocketAddr::new(Ipv4Addr::new(203, 0, 113, 7).into(), 6881)),
                read_only: false,
                network: None,
                kind,
            };
            (name, msg)
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let f = fixtures();
    let msgs = messages(&f);

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for (name, msg) in &msgs {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        assert_eq!(decode(&buf).as_ref(), Ok(msg), "{name} round-trips");
        group.bench_with_input(BenchmarkId::from_parameter(name), &buf, |b, buf| {
            b.iter(|| decode(black_box(buf)).map(|m| black_box(m).tid.len()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    for (name, msg) in &msgs {
        let mut out = Vec::with_capacity(1500);
        group.bench_with_input(BenchmarkId::from_parameter(name), msg, |b, msg| {
            b.iter(|| {
                out.clear();
                black_box(msg).encode(&mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
