//! BEP 42 end to end on sans-I/O nodes driven by hand, no sockets: public-looking
//! fake addresses, answers whose `ip` key says where the answerer saw us. Covers the
//! external-address vote, enforcement, and the full-bucket preference for
//! conforming ids.

use std::net::SocketAddr;

use dipsea::id::bep42;
use dipsea::node::{Event, Output};
use dipsea::wire::{self, Message, MessageKind, QueryMethod};
use dipsea::{Id, Node, NodeConfig, NodeInfo, Request, Time};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Where honest nodes see the node under test (a documentation range: public as far
/// as BEP 42 goes, and never a real target).
fn me() -> SocketAddr {
    SocketAddr::from(([203, 0, 113, 7], 6881))
}

/// What lying nodes claim the node under test is at.
fn lie() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 9], 6881))
}

/// A public-looking address for responder `n` (nothing is ever sent anywhere).
fn public(n: u32) -> SocketAddr {
    SocketAddr::from(([44, (n >> 16) as u8, (n >> 8) as u8, n as u8], 6881))
}

fn secs(s: u64) -> Time {
    Time::from_millis(s * 1000)
}

/// `a` pings `b_addr`; `b` answers, seeing `a` at `a_seen` (so its `ip` key says
/// `a_seen`); `a` takes the answer. Returns the events `a` reported.
fn ping(a: &Node, b: &Node, b_addr: SocketAddr, a_seen: SocketAddr, now: Time) -> Vec<Event> {
    let mut out = Output::new();
    a.start(a.next_op_id(), Request::Ping(b_addr), now, &mut out);
    let (sent, _) = out.take();
    assert_eq!(sent.len(), 1, "one ping");
    assert_eq!(sent[0].0, b_addr);
    b.handle_datagram(a_seen, &sent[0].1, now, &mut out);
    let (replies, _) = out.take();
    // `b` may also ping `a` to verify it; the answer is the one response.
    let answer = replies
        .iter()
        .find(|(to, d)| {
            *to == a_seen
                && matches!(
                    wire::decode(d).map(|m| m.kind),
                    Ok(MessageKind::Response(_))
                )
        })
        .expect("b answered");
    let msg = wire::decode(&answer.1).expect("answer decodes");
    assert_eq!(msg.ip, Some(a_seen), "the answer carries the ip key");
    a.handle_datagram(b_addr, &answer.1, now, &mut out);
    out.take().1
}

/// The external-address events among `events`.
fn external_ips(events: &[Event]) -> Vec<(std::net::IpAddr, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ExternalIp { ip, id_conforms } => Some((*ip, *id_conforms)),
            Event::Done { .. }
            | Event::Broadcast(_)
            | Event::MutableUpdate(_)
            | Event::Peers { .. } => None,
        })
        .collect()
}

#[test]
fn the_vote_converges_on_the_majority_and_liars_lose() {
    let mut rng = StdRng::seed_from_u64(42);
    let a = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    let b = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    let mut learned = Vec::new();
    // Two liars in every five responders: a steady 40% minority, from the start.
    for n in 0..60u32 {
        let seen = if n % 5 < 2 { lie() } else { me() };
        let events = ping(&a, &b, public(n), seen, secs(u64::from(n)));
        learned.extend(external_ips(&events));
        if n < 9 {
            assert_eq!(a.external_ip(), None, "too few votes yet");
        }
    }
    assert_eq!(a.external_ip(), Some(me().ip()));
    // Reported once, and the random id does not conform to it.
    assert_eq!(learned, vec![(me().ip(), false)]);
    let stats = a.stats();
    assert_eq!(stats.external_ip, Some(me().ip()));
    assert_eq!(stats.id_conforms, Some(false));
    assert_eq!(a.id_conforms(), Some(false));

    // One responder answering again and again counts once per round.
    let c = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    for n in 0..100u64 {
        let events = ping(&c, &b, public(7), me(), secs(n));
        assert!(external_ips(&events).is_empty());
    }
    assert_eq!(c.external_ip(), None);
}

#[test]
fn a_conforming_id_is_reported_as_such() {
    let mut rng = StdRng::seed_from_u64(43);
    let a = Node::new(
        bep42::node_id_for(me().ip(), &mut rng),
        NodeConfig::default(),
        Time::ZERO,
    );
    let b = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    let mut learned = Vec::new();
    for n in 0..12u32 {
        learned.extend(external_ips(&ping(&a, &b, public(n), me(), secs(1))));
    }
    assert_eq!(learned, vec![(me().ip(), true)]);
    assert_eq!(a.stats().id_conforms, Some(true));
}

#[test]
fn local_reports_never_vote() {
    // A LAN or loopback view of us says nothing about the public address.
    let mut rng = StdRng::seed_from_u64(44);
    let a = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    let b = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    for n in 0..30u32 {
        let seen = SocketAddr::from(([192, 168, 1, 20], 6881));
        assert!(external_ips(&ping(&a, &b, public(n), seen, secs(1))).is_empty());
    }
    assert_eq!(a.external_ip(), None);
    assert_eq!(a.stats().id_conforms, None);
}

#[test]
fn enforcement_keeps_a_non_conforming_public_contact_out() {
    let mut rng = StdRng::seed_from_u64(45);
    let mut config = NodeConfig::default();
    config.routing.enforce_bep42 = true;
    let a = Node::new(Id::random_with(&mut rng), config, Time::ZERO);
    let (bad_addr, good_addr) = (public(1), public(2));
    let bad = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    let good = Node::new(
        bep42::node_id_for(good_addr.ip(), &mut rng),
        NodeConfig::default(),
        Time::ZERO,
    );
    assert!(!bep42::id_conforms(&bad.id(), bad_addr.ip()));
    ping(&a, &bad, bad_addr, me(), secs(1));
    ping(&a, &good, good_addr, me(), secs(1));
    assert!(a.routing().get(&bad.id()).is_none(), "kept out");
    assert!(a.routing().get(&good.id()).is_some(), "let in");

    // A query from the non-conforming node is answered, but it is not asked to
    // prove itself with a ping: it could never enter anyway.
    let mut out = Output::new();
    let query = |from: Id, target: Id| {
        let mut datagram = Vec::new();
        Message::query(b"bep4", from, QueryMethod::FindNode { target }).encode(&mut datagram);
        datagram
    };
    a.handle_datagram(bad_addr, &query(bad.id(), bad.id()), secs(2), &mut out);
    let (sent, _) = out.take();
    assert_eq!(sent.len(), 1, "only the answer: {sent:?}");

    // Nor is it returned in answers: ask for the nodes closest to its own id.
    let asker = public(3);
    let asker_id = bep42::node_id_for(asker.ip(), &mut rng);
    a.handle_datagram(asker, &query(asker_id, bad.id()), secs(3), &mut out);
    let (sent, _) = out.take();
    let answer = sent
        .iter()
        .find_map(|(to, d)| match wire::decode(d).ok()?.kind {
            MessageKind::Response(r) if *to == asker => {
                Some(r.nodes.map(|n| n.iter().collect::<Vec<NodeInfo>>()))
            }
            _ => None,
        })
        .expect("an answer to the asker")
        .unwrap_or_default();
    assert_eq!(answer, vec![NodeInfo::new(good.id(), good_addr)]);
}

#[test]
fn without_enforcement_a_non_conforming_contact_gets_in() {
    let mut rng = StdRng::seed_from_u64(46);
    let a = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    let bad = Node::new(Id::random_with(&mut rng), NodeConfig::default(), Time::ZERO);
    ping(&a, &bad, public(1), me(), secs(1));
    assert!(a.routing().get(&bad.id()).is_some());
}

#[test]
fn a_full_bucket_prefers_a_conforming_newcomer() {
    let mut rng = StdRng::seed_from_u64(47);
    let mut config = NodeConfig::default();
    config.routing.k = 2;
    let a = Node::new(Id::random_with(&mut rng), config, Time::ZERO);
    // Fill bucket 0 of `a` with two non-conforming contacts at public addresses.
    let old: Vec<(Node, SocketAddr)> = (0..2u32)
        .map(|n| {
            let id = a.id().random_in_bucket(0, &mut rng);
            (Node::new(id, NodeConfig::default(), Time::ZERO), public(n))
        })
        .collect();
    for (t, (node, addr)) in old.iter().enumerate() {
        ping(&a, node, *addr, me(), secs(t as u64));
    }
    assert_eq!(a.routing().bucket_lens(), vec![2]);
    // Another non-conforming node does not get in: both contacts are good.
    let other_id = a.id().random_in_bucket(0, &mut rng);
    let other = Node::new(other_id, NodeConfig::default(), Time::ZERO);
    ping(&a, &other, public(10), me(), secs(5));
    assert!(a.routing().get(&other_id).is_none());
    // A conforming one does, in the stalest non-conforming contact's place.
    let (new_id, new_addr) = loop {
        let addr = public(rng.gen_range(100..1_000_000));
        let id = bep42::node_id_for(addr.ip(), &mut rng);
        if a.routing().bucket_index(&id) == Some(0) {
            break (id, addr);
        }
    };
    let newcomer = Node::new(new_id, NodeConfig::default(), Time::ZERO);
    ping(&a, &newcomer, new_addr, me(), secs(6));
    assert!(
        a.routing().get(&new_id).is_some(),
        "the conforming id got in"
    );
    assert!(
        a.routing().get(&old[0].0.id()).is_none(),
        "the stalest went"
    );
    assert!(a.routing().get(&old[1].0.id()).is_some());
    assert_eq!(a.routing().bucket_lens(), vec![2]);
}
