//! BEP 32 dual stack on the sans-I/O node: a table per family, `want` in what it
//! sends and in what it answers, per-family lookups.

use std::net::{Ipv6Addr, SocketAddr};

use rand::SeedableRng;

use super::{Node, NodeConfig, Output, Request};
use crate::id::{Id, NodeInfo};
use crate::lookup::{Lookup, LookupConfig};
use crate::routing::K;
use crate::time::Time;
use crate::wire::{self, Message, MessageKind, QueryMethod, Response, Want};

fn v4(i: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 2, (i % 250) as u8], 7000 + i))
}

fn v6(i: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, 7000 + i))
}

fn node(dual_stack: bool) -> Node {
    let config = NodeConfig {
        dual_stack,
        ..NodeConfig::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    Node::with_rng(Id::random_with(&mut rng), config, Time::ZERO, &mut rng)
}

/// A dual-stack node with 32 IPv4 and 32 IPv6 contacts, each in its family's table.
fn dual_node() -> Node {
    let n = node(true);
    let table6 = n.routing6().expect("a dual-stack node has an IPv6 table");
    for i in 0..32u16 {
        let id4 = Id::sha1(&i.to_be_bytes());
        let id6 = Id::sha1(&(i + 1000).to_be_bytes());
        let _ = n
            .routing()
            .on_response(NodeInfo::new(id4, v4(i)), Time::ZERO);
        let _ = table6.on_response(NodeInfo::new(id6, v6(i)), Time::ZERO);
    }
    n
}

/// A `find_node` from `from` with `want`, encoded.
fn find_node(want: Want) -> Vec<u8> {
    let mut msg = Message::query(
        b"ff",
        Id::sha1(b"asker"),
        QueryMethod::FindNode {
            target: Id::sha1(b"target"),
        },
    );
    if let MessageKind::Query(q) = &mut msg.kind {
        q.want = want;
    }
    let mut buf = Vec::new();
    msg.encode(&mut buf);
    buf
}

/// How many IPv4 and IPv6 nodes `n` returns to a `find_node` from `from`.
fn answer_counts(n: &Node, from: SocketAddr, want: Want) -> (usize, usize) {
    let mut out = Output::new();
    n.handle_datagram(from, &find_node(want), Time::ZERO, &mut out);
    let reply =
        out.datagrams()
            .filter(|(to, _)| *to == from)
            .find_map(|(_, d)| match wire::decode(d).ok()?.kind {
                MessageKind::Response(r) => Some((
                    r.nodes.map_or(0, |l| l.iter().count()),
                    r.nodes6.map_or(0, |l| l.iter().count()),
                )),
                _ => None,
            });
    reply.expect("the node answered")
}

#[test]
fn want_picks_the_families_of_the_answer() {
    let n = dual_node();
    let asker4 = SocketAddr::from(([10, 0, 0, 1], 6881));
    let asker6 = SocketAddr::from((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1), 6881));
    let none = Want::default();
    let n4 = Want {
        n4: true,
        n6: false,
    };
    let n6 = Want {
        n4: false,
        n6: true,
    };
    let both = Want { n4: true, n6: true };
    // No `want`: the asker's own family.
    assert_eq!(answer_counts(&n, asker4, none), (K, 0));
    assert_eq!(answer_counts(&n, asker6, none), (0, K));
    // `want` overrides it: k of each family asked for, from that family's table.
    assert_eq!(answer_counts(&n, asker4, n6), (0, K));
    assert_eq!(answer_counts(&n, asker6, n4), (K, 0));
    assert_eq!(answer_counts(&n, asker4, both), (K, K));
    assert_eq!(answer_counts(&n, asker6, both), (K, K));
}

#[test]
fn a_single_family_node_answers_want_from_its_one_table() {
    let n = node(false);
    for i in 0..16u16 {
        let id = Id::sha1(&i.to_be_bytes());
        let addr = if i % 2 == 0 { v4(i) } else { v6(i) };
        let _ = n.routing().on_response(NodeInfo::new(id, addr), Time::ZERO);
    }
    assert!(n.routing6().is_none());
    let asker = SocketAddr::from(([10, 0, 0, 1], 6881));
    let (four, six) = answer_counts(&n, asker, Want { n4: true, n6: true });
    assert_eq!(four + six, K, "k closest of the one table, split by family");
    assert_eq!(answer_counts(&n, asker, Want::default()).1, 0);
}

/// The decoded queries in `out`, with their destinations.
fn sent_wants(out: &Output) -> Vec<(SocketAddr, Want)> {
    out.datagrams()
        .filter_map(|(to, d)| match wire::decode(d).ok()?.kind {
            MessageKind::Query(q) => Some((to, q.want)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dual_stack_node_asks_for_both_families_and_a_single_one_for_none() {
    let dual = dual_node();
    let mut out = Output::new();
    dual.start(
        dual.next_op_id(),
        Request::FindNode(Id::sha1(b"x")),
        Time::ZERO,
        &mut out,
    );
    let sent = sent_wants(&out);
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|(_, w)| *w == Want { n4: true, n6: true }));
    // Its lookup starts from both tables.
    assert!(sent.iter().any(|(to, _)| to.is_ipv4()));
    assert!(sent.iter().any(|(to, _)| to.is_ipv6()));

    let single = node(false);
    let _ = single
        .routing()
        .on_response(NodeInfo::new(Id::sha1(b"c"), v4(1)), Time::ZERO);
    let mut out = Output::new();
    single.start(
        single.next_op_id(),
        Request::FindNode(Id::sha1(b"x")),
        Time::ZERO,
        &mut out,
    );
    let sent = sent_wants(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].1,
        Want::default(),
        "a single-family node sends no want"
    );
}

#[test]
fn answers_enter_the_table_of_their_family() {
    let n = node(true);
    let table6 = n.routing6().expect("IPv6 table");
    let id = Id::sha1(b"both families");
    for addr in [v4(1), v6(1)] {
        let mut out = Output::new();
        n.start(n.next_op_id(), Request::Ping(addr), Time::ZERO, &mut out);
        let (to, query) = out.datagrams().next().expect("a ping is sent");
        assert_eq!(to, addr);
        let tid = wire::decode(query).expect("decodes").tid.to_vec();
        let reply = Message {
            tid: &tid,
            version: None,
            ip: None,
            read_only: false,
            network: None,
            kind: MessageKind::Response(Response::new(id)),
        };
        let mut buf = Vec::new();
        reply.encode(&mut buf);
        let mut out = Output::new();
        n.handle_datagram(addr, &buf, Time::from_millis(5), &mut out);
    }
    // The same node id, once in each table, at its family's address.
    let four: Vec<_> = n.routing().contacts().into_iter().map(|e| e.node).collect();
    let six: Vec<_> = table6.contacts().into_iter().map(|e| e.node).collect();
    assert_eq!(four, vec![NodeInfo::new(id, v4(1))]);
    assert_eq!(six, vec![NodeInfo::new(id, v6(1))]);
    assert_eq!(n.stats().routing_table_size, 2);
    assert_eq!(n.contacts().len(), 2);
}

#[test]
fn a_dual_stack_lookup_keeps_k_of_each_family() {
    let target = Id::sha1(b"target");
    let me = Id::sha1(b"me");
    // 12 nodes, each reachable over IPv4 and IPv6.
    let mut seeds = Vec::new();
    for i in 0..12u16 {
        let id = Id::sha1(&i.to_be_bytes());
        seeds.push(NodeInfo::new(id, v4(i)));
        seeds.push(NodeInfo::new(id, v6(i)));
    }
    let config = LookupConfig::default();
    let mut single = Lookup::new(target, me, seeds.clone(), config.clone());
    let mut dual = Lookup::with_families(target, me, seeds, config, true);
    for lookup in [&mut single, &mut dual] {
        while let Some(n) = lookup.next_query(Time::ZERO) {
            lookup.on_response(&n, std::iter::empty(), Some(b"tok"));
        }
        assert!(lookup.is_finished());
    }
    // A plain lookup sees each id once (the first endpoint it heard of).
    let plain: Vec<NodeInfo> = single.closest_answered().map(|(n, _)| n).collect();
    assert_eq!(plain.len(), K);
    assert!(plain.iter().all(|n| n.addr.is_ipv4()));
    // The dual-stack one keeps both endpoints and the k closest of each family.
    let both: Vec<NodeInfo> = dual.closest_answered().map(|(n, _)| n).collect();
    assert_eq!(both.iter().filter(|n| n.addr.is_ipv4()).count(), K);
    assert_eq!(both.iter().filter(|n| n.addr.is_ipv6()).count(), K);
    let ids4: Vec<Id> = both
        .iter()
        .filter(|n| n.addr.is_ipv4())
        .map(|n| n.id)
        .collect();
    let ids6: Vec<Id> = both
        .iter()
        .filter(|n| n.addr.is_ipv6())
        .map(|n| n.id)
        .collect();
    assert_eq!(ids4, ids6, "the same k closest ids in each family");
    assert_eq!(ids4, plain.iter().map(|n| n.id).collect::<Vec<_>>());
    assert_eq!(dual.take_tokens().len(), 2 * K);
}
